package ldapstore

import (
	"strings"
	"testing"
	"unicode"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
)

// ApplyUsers's contract (a batch equals one-by-one applies, refusals fail
// alone, repeated userNames, column sets, the same batch twice) is the
// conformance suite's (conformance.RunBatchTests), run here on every
// variant.
func TestBatchConformance(t *testing.T) {
	needServer(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if v.strategy == adapters.LDAPDeactivatePPolicy && !server.HasPPolicy {
				t.Skip("slapd has no ppolicy module")
			}
			conformance.RunBatchTests(t, v.harness())
		})
	}
}

func TestFoldKeyIsEqualFold(t *testing.T) {
	words := []string{"k", "K", "\u212a", "s", "S", "\u017f", "σ", "ς", "Σ", "ǅ", "ǆ", "Ǆ", "ß", "ẞ", "i", "I", "İ", "ı", "a\u0301", "á", "x"}
	for _, a := range words {
		for _, b := range words {
			if (foldKey(a) == foldKey(b)) != strings.EqualFold(a, b) {
				t.Errorf("%q %q: foldKey equal %v, EqualFold %v", a, b, foldKey(a) == foldKey(b), strings.EqualFold(a, b))
			}
		}
	}
	// Every rune of the BMP against its fold orbit.
	for r := rune(0); r < 0x10000; r++ {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldKey(string(r)) != foldKey(string(f)) {
				t.Fatalf("%U and %U fold together but have different keys", r, f)
			}
		}
	}
}
