package api

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzAuthorizationHeader: any header parses without panic, and a key is
// only ever returned non-empty.
func FuzzAuthorizationHeader(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "Basic dTpw", "non-token", "", "Basic !!", "bearer  x y"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		key, ok := presentedKey(header)
		if ok && key == "" {
			t.Fatalf("presentedKey(%q) accepted an empty key", header)
		}
	})
}

// FuzzEntityTags: a single version tag always round-trips through etag.
func FuzzEntityTags(f *testing.F) {
	for _, seed := range []string{`W/"3"`, `"3"`, `*`, `W/"1", W/"2"`, `W/`, `"`, `""`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tags := entityTags(header)
		v, single := singleVersion(tags)
		if single && v > 0 {
			if got := entityTags(etag(v)); len(got) != 1 || got[0] != strconv.FormatInt(v, 10) {
				t.Fatalf("etag(%d) parses as %q", v, got)
			}
			if !tagsMatch(tags, v) {
				t.Fatalf("tags %q name version %d but do not match it", tags, v)
			}
		}
	})
}

// FuzzBulkPath: a bulk operation path names Users or Groups and at most one
// id without a slash.
func FuzzBulkPath(f *testing.F) {
	for _, seed := range []string{"/Users", "/Groups/abc", "/Users/bulkId:x", "Users/1/2", "/Widgets", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		target, ok := parseBulkPath(p)
		if ok && (strings.Contains(target.id, "/") || len(target.id) > maxIDLen) {
			t.Fatalf("parseBulkPath(%q) = %+v", p, target)
		}
	})
}
