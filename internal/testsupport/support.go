package testsupport

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RandomHex returns n random bytes in hex, for names no other test uses.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every 50 ms until it holds, and fails the test when
// it still does not after d.
func WaitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not ready after %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logger is the logger of a server under test: discarded, or with -v
// (testing.Verbose) its warnings and errors on stderr.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers (a child
// process's stdout and stderr, a server's log handler).
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The scimbridge binary, built once per test binary.
const scimbridgePackage = "github.com/scimbridge/scimbridge/cmd/scimbridge"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// ScimbridgeBinary builds cmd/scimbridge once per test binary (into a
// temporary directory left for the OS to clean) and returns its path. It
// is built with -tags faultinject, so the fault tests can use the
// fault-injection points (cmd/scimbridge/faults_on.go); a production build
// has none of them.
func ScimbridgeBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scimbridge-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "scimbridge")
		if out, err := exec.Command("go", "build", "-tags", "faultinject", "-o", binPath, scimbridgePackage).CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build %s: %v\n%s", scimbridgePackage, err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// Process is a child process of a test: its output is kept, and shown
// (its last 4000 bytes) when the test fails.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Logs *LockedBuffer
	done chan error
}

// StartProcess starts cmd (its own process group, stdout and stderr into
// Logs). At cleanup the process is stopped as stop says (Stop) and its log
// shown if the test failed.
func StartProcess(tb testing.TB, name string, cmd *exec.Cmd, stop func(*Process)) *Process {
	tb.Helper()
	p := &Process{Name: name, Cmd: cmd, Logs: &LockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- cmd.Wait() }()
	tb.Cleanup(func() {
		stop(p)
		if tb.Failed() {
			tb.Logf("%s log:\n%s", name, tail(p.Logs.String(), 4000))
		}
	})
	return p
}

// Kill is a stop for StartProcess: SIGKILL, then wait.
func Kill(p *Process) {
	p.Signal(syscall.SIGKILL)
	_ = p.Wait(10 * time.Second)
}

// Terminate is a stop for StartProcess: SIGTERM, up to 20 s for the
// process to exit, then SIGKILL.
func Terminate(p *Process) {
	p.Signal(syscall.SIGTERM)
	if !p.exited(20 * time.Second) {
		Kill(p)
	}
}

// Signal sends sig to the process (if it ever started).
func (p *Process) Signal(sig syscall.Signal) {
	if p.Cmd.Process != nil {
		_ = p.Cmd.Process.Signal(sig)
	}
}

// Wait waits up to d for the process to exit and returns its error (or
// one saying it is still running).
func (p *Process) Wait(d time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %s", p.Name, d)
	}
}

func (p *Process) exited(d time.Duration) bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	case <-time.After(d):
		return false
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
