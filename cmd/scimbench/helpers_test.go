package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// writeTargetsFile writes a one-target file like `scimbridge key create --json`.
func writeTargetsFile(t *testing.T, baseURL string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"base_url": baseURL, "api_key": "scb_test"})
	p := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTenantOfBaseURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/scim/acme/v2":        "acme",
		"http://127.0.0.1:8080/prefix/scim/a-1/v2/": "a-1",
		"http://127.0.0.1:8080/other":               "",
	} {
		if got := tenantOfBaseURL(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestLastWritesKeepsHighestVersionAndItsMarker(t *testing.T) {
	t.Parallel()
	got := lastWrites([]write{
		{target: 0, kind: "u", id: "a", version: 2, marker: "m2"},
		{target: 0, kind: "u", id: "a", version: 3, marker: "m3"},
		{target: 0, kind: "u", id: "a", version: 1, marker: "m1"},
		{target: 1, kind: "u", id: "a", version: 1, marker: "x"},
		{target: 0, kind: "g", id: "g", version: 0},
	})
	if len(got) != 3 || got[0].marker != "m3" || got[1].marker != "x" || got[2].kind != "g" {
		t.Fatalf("%+v", got)
	}
}
