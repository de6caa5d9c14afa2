package sync

import (
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
