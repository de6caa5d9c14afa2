package sync

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/scimbridge/scimbridge/scim"
)

// randomJSONValue makes values of the kinds decoded JSON holds, from a small
// alphabet so that equal pairs come up often, plus a few that are not JSON's.
func randomJSONValue(r *rand.Rand, depth int) any {
	n := 9
	if depth > 2 {
		n = 5
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return float64(r.IntN(3))
	case 3:
		return []string{"a", "b", ""}[r.IntN(3)]
	case 4:
		return r.IntN(2) // not JSON: reflect.DeepEqual decides
	case 5, 6:
		if r.IntN(8) == 0 {
			return map[string]any(nil)
		}
		m := map[string]any{}
		for range r.IntN(3) {
			m[[]string{"x", "y", "z"}[r.IntN(3)]] = randomJSONValue(r, depth+1)
		}
		if r.IntN(8) == 0 {
			return scim.Attrs(m)
		}
		return m
	default:
		if r.IntN(8) == 0 {
			return []any(nil)
		}
		l := make([]any, r.IntN(3))
		for i := range l {
			l[i] = randomJSONValue(r, depth+1)
		}
		return l
	}
}

// jsonEqual answers what reflect.DeepEqual answers, on 200,000 random pairs.
func TestJSONEqualMatchesDeepEqual(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(14, 3))
	equal := 0
	for i := range 200_000 {
		a, b := randomJSONValue(r, 0), randomJSONValue(r, 0)
		if i%3 == 0 {
			b = a
		}
		want := reflect.DeepEqual(a, b)
		if got := jsonEqual(a, b); got != want {
			t.Fatalf("jsonEqual(%#v, %#v) = %v, reflect.DeepEqual %v", a, b, got, want)
		}
		if want {
			equal++
		}
	}
	if equal < 10_000 {
		t.Fatalf("only %d equal pairs: the generator does not test equality", equal)
	}
}

// decodeDoc gives what encoding/json gives a stored document, also for those
// the request decoder refuses (it falls back to encoding/json).
func TestDecodeDocIsEncodingJSON(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{}`, `null`, `{"userName":"a@x.io","active":true,"emails":[{"value":"a@x.io","primary":true}],"n":1.5e3}`,
		`{"a":"x\u0000y"}`, `{"a":1,"A":2}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"x":{"y":[null,false,-0,1e-7,"\u00e9"]}}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	}
	for _, d := range docs {
		var want scim.Attrs
		wantErr := json.Unmarshal([]byte(d), &want)
		got, err := decodeDoc([]byte(d))
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeDoc %#v, %v; encoding/json %#v, %v", d, got, err, want, wantErr)
		}
	}
}
