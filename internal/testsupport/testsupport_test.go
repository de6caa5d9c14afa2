package testsupport

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The packages besides tests that may import testsupport: themselves test
// support, imported only by tests.
var mayImport = map[string]bool{
	"adapters/conformance":        true,
	"adapters/ldapstore/ldaptest": true,
	"internal/testsupport":        true,
}

// TestOnlyTestsImportIt: no file that is not a _test.go file imports
// testsupport, outside the test-support packages.
func TestOnlyTestsImportIt(t *testing.T) {
	const self = "github.com/scimbridge/scimbridge/internal/testsupport"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		if mayImport[filepath.ToSlash(rel)] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports testsupport: only tests may", fset.Position(imp.Pos()))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequire(t *testing.T) {
	t.Run("nil error does nothing", func(t *testing.T) {
		Require(t, "nothing", nil)
	})
	t.Run("skips without CI, fails with it", func(t *testing.T) {
		t.Setenv(EnvCI, "")
		f := &recorder{TB: t}
		runHelper(f, func() { Require(f, "a service", os.ErrNotExist) })
		if !f.skipped || f.failed {
			t.Fatalf("without CI: skipped %v failed %v", f.skipped, f.failed)
		}
		t.Setenv(EnvCI, "true")
		f = &recorder{TB: t}
		runHelper(f, func() { Require(f, "a service", os.ErrNotExist) })
		if f.skipped || !f.failed || !strings.Contains(f.msg, "a service") {
			t.Fatalf("with CI: skipped %v failed %v (%q)", f.skipped, f.failed, f.msg)
		}
	})
}

func TestDefaults(t *testing.T) {
	t.Setenv(EnvRedis, "")
	t.Setenv(EnvPostgres, "")
	t.Setenv(EnvMySQL, "")
	if RedisAddr() != DefaultRedis || PostgresDSN() != DefaultPostgres || MySQLDSN() != DefaultMySQL {
		t.Fatalf("defaults: %q %q %q", RedisAddr(), PostgresDSN(), MySQLDSN())
	}
	t.Setenv(EnvRedis, "redis://:pw@10.0.0.1:6380/3")
	if o := RedisOptions(); o.Addr != "10.0.0.1:6380" || o.DB != 3 || o.Password != "pw" {
		t.Fatalf("URL: %+v", o)
	}
	t.Setenv(EnvRedis, "10.0.0.2:6379")
	if RedisAddr() != "10.0.0.2:6379" {
		t.Fatalf("address: %q", RedisAddr())
	}
}

func TestTenantKeysRemoved(t *testing.T) {
	rdb := Redis(t)
	var id string
	t.Run("test", func(t *testing.T) {
		id = Tenant(t, rdb, "ts")
		for _, k := range []string{"sb:{" + id + "}:a", "asynq:{" + id + "}:b"} {
			if err := rdb.Set(t.Context(), k, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	n, err := rdb.Exists(t.Context(), "sb:{"+id+"}:a", "asynq:{"+id+"}:b").Result()
	if err != nil || n != 0 {
		t.Fatalf("%d keys of %s left after the test: %v", n, id, err)
	}
}

// recorder is a testing.TB whose Skip and Fatal are recorded and end the
// helper's goroutine, so a helper's verdict can be checked.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runHelper runs f on a goroutine of its own (runtime.Goexit ends it
// there) and waits for it.
func runHelper(_ *recorder, f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}
