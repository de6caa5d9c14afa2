package tenants

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// timeType is treated as a leaf: its location pointer may be shared.
var timeType = reflect.TypeFor[time.Time]()

// filler sets every field reachable from a value to a non-zero value
// derived from seed and a counter, so two fillers with the same seed
// produce equal values. It fails the test on a kind it does not know
// (a new interface, func or chan field must be taught to cloneTenant and
// to this filler).
type filler struct {
	t    *testing.T
	seed string
	n    int
}

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", f.seed, f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(f.seed)*1000 + f.n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(f.seed)*1000 + f.n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(len(f.seed)*1000+f.n) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path+".*")
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k, path+"{key}")
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, fmt.Sprintf("%s{%d}", path, i))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Date(2020, 1, 2, 3, 4, 5, f.n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			field := v.Type().Field(i)
			if !field.IsExported() {
				f.t.Fatalf("%s.%s: unexported field; teach the filler and cloneTenant about it", path, field.Name)
			}
			f.fill(v.Field(i), path+"."+field.Name)
		}
	default:
		f.t.Fatalf("%s: kind %s: teach the filler and cloneTenant about it", path, v.Kind())
	}
}

// filledTenant is a Tenant with every field, at every depth, set.
func filledTenant(t *testing.T, seed string) *Tenant {
	var tn Tenant
	(&filler{t: t, seed: seed}).fill(reflect.ValueOf(&tn).Elem(), "Tenant")
	return &tn
}

// assertIndependent fails for every map, slice or pointer reachable from
// a (the original) that b (the clone) shares.
func assertIndependent(t *testing.T, a, b reflect.Value, path string) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			t.Errorf("%s: nil in the filled original", path)
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: pointer shared with the clone", path)
		}
		assertIndependent(t, a.Elem(), b.Elem(), path+".*")
	case reflect.Slice:
		if a.Len() == 0 {
			t.Errorf("%s: empty in the filled original", path)
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: slice backing array shared with the clone", path)
		}
		for i := range a.Len() {
			assertIndependent(t, a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if a.Len() == 0 {
			t.Errorf("%s: empty in the filled original", path)
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: map shared with the clone", path)
		}
		iter := a.MapRange()
		for iter.Next() {
			assertIndependent(t, iter.Value(), b.MapIndex(iter.Key()), fmt.Sprintf("%s{%v}", path, iter.Key()))
		}
	case reflect.Struct:
		if a.Type() == timeType {
			return
		}
		for i := range a.NumField() {
			assertIndependent(t, a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
		}
	default:
		if a.IsZero() {
			t.Errorf("%s: zero in the filled original", path)
		}
	}
}

func TestCloneTenantEveryField(t *testing.T) {
	t.Parallel()
	orig := filledTenant(t, "orig")
	clone := cloneTenant(orig)
	if !reflect.DeepEqual(orig, clone) {
		t.Fatalf("clone differs from the original:\n%+v\n%+v", orig, clone)
	}
	assertIndependent(t, reflect.ValueOf(orig), reflect.ValueOf(clone), "Tenant")

	// Overwrite every field of the clone in place (through its maps,
	// slices and pointers): the original must not move.
	mutateInPlace(t, reflect.ValueOf(clone).Elem(), "Tenant")
	if want := filledTenant(t, "orig"); !reflect.DeepEqual(orig, want) {
		t.Fatalf("mutating the clone changed the original:\n%+v\nwant\n%+v", orig, want)
	}
}

// mutateInPlace changes every leaf reachable from v without replacing any
// map, slice or pointer, so shared storage would show in the original.
func mutateInPlace(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			mutateInPlace(t, v.Elem(), path+".*")
		}
	case reflect.Slice:
		for i := range v.Len() {
			mutateInPlace(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			mutateInPlace(t, e, path)
			v.SetMapIndex(iter.Key(), e)
		}
		v.SetMapIndex(reflect.ValueOf("added-by-mutation").Convert(v.Type().Key()), reflect.New(v.Type().Elem()).Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Unix(1, 0)))
			return
		}
		for i := range v.NumField() {
			mutateInPlace(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.String:
		v.SetString(strings.ToUpper(v.String()) + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	default:
		t.Fatalf("%s: kind %s: teach mutateInPlace about it", path, v.Kind())
	}
}

func TestCloneTenantKeepsNilAndEmpty(t *testing.T) {
	t.Parallel()
	if cloneTenant(nil) != nil {
		t.Fatal("clone of nil is not nil")
	}
	cases := []*Tenant{
		{ID: "zero"},
		{ID: "empty", Schema: &CustomSchema{Attributes: []CustomAttribute{}}},
	}
	cases[1].Store.Users.Attributes = map[string]string{}
	for _, tn := range cases {
		if c := cloneTenant(tn); !reflect.DeepEqual(tn, c) {
			t.Errorf("%s: clone %+v, want %+v", tn.ID, c, tn)
		}
	}
}
