package sqlstore

import (
	"context"
	"path/filepath"
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
