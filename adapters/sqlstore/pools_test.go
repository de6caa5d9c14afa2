package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/adapters/conformance"
)

// Tenants in one database share one pool, which closes with its last store.
func TestTenantsInOneDatabaseSharePool(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "shared.db")
	cfg := adapters.Config{Kind: adapters.KindSQLite, DSN: dsn, Users: conformance.Mapping("users", conformance.Options{})}
	a, err := Open(context.Background(), "tenant-a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(context.Background(), "tenant-b", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.(*store).db != b.(*store).db {
		t.Fatal("two tenants of one database got two pools")
	}
	db := a.(*store).db
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a.Close() // a second Close must not release b's share
	if err := db.Ping(); err != nil {
		t.Fatalf("pool closed while tenant b still uses it: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err == nil {
		t.Fatal("pool still open after its last store closed")
	}
	other, err := Open(context.Background(), "tenant-c", adapters.Config{Kind: adapters.KindSQLite,
		DSN: filepath.Join(t.TempDir(), "other.db"), Users: conformance.Mapping("users", conformance.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.(*store).db == db {
		t.Fatal("another database reused a closed pool")
	}
}

// A factory's stores dial only where its host policy permits: with an
// allowlist that leaves out loopback, a PostgreSQL or MySQL store at
// 127.0.0.1 is refused before any packet is sent.
func TestFactoryEnforcesItsHostPolicy(t *testing.T) {
	policy, err := adapters.ParseHostPolicy([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	denied := NewFactory(policy)
	for kind, dsn := range map[string]string{
		adapters.KindPostgres: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5",
		adapters.KindMySQL:    "root@tcp(127.0.0.1:3306)/mysql?timeout=5s",
	} {
		cfg := adapters.Config{Kind: kind, DSN: dsn, Users: conformance.Mapping("users", conformance.Options{})}
		s, err := denied(context.Background(), "tenant-denied", cfg)
		if err != nil {
			t.Fatalf("%s: open: %v", kind, err)
		}
		err = s.Ping(context.Background())
		_ = s.Close()
		if err == nil || !strings.Contains(err.Error(), adapters.ErrHostDenied.Error()) {
			t.Errorf("%s: ping through a policy without loopback: %v, want %q", kind, err, adapters.ErrHostDenied)
		}
		if !errors.Is(err, adapters.ErrUnavailable) {
			t.Errorf("%s: a denied dial should read as unavailable (retried; the operator may fix the policy): %v", kind, err)
		}
	}
}
