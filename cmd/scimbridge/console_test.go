package main

// The operator console in headless Chromium (Debian's chromium package,
// driven with chromedp): log in, generate a key, see it listed, revoke it.

import (
	"github.com/scimbridge/scimbridge/internal/testsupport"

	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser (SCIMBRIDGE_TEST_CHROMIUM, else chromium
// on the PATH); missing, the test skips on a developer machine and fails
// in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SCIMBRIDGE_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testsupport.Require(t, "chromium (apt-get install chromium)", exec.ErrNotFound)
	return ""
}

// newChromium is a context of a headless browser (not started yet: the
// first chromedp run starts it) with a profile of the test's own and no
// background traffic, stopped at cleanup; more adds options (a window
// size).
func newChromium(t *testing.T, browser string, more ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}, more...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	return browserCtx
}

// startChromium is newChromium with the browser started (the first run
// starts it, with no timeout: one would stop the browser) and a context
// for the later steps that ends after timeout.
func startChromium(t *testing.T, browser string, timeout time.Duration, more ...chromedp.ExecAllocatorOption) (browserCtx, ctx context.Context) {
	t.Helper()
	browserCtx = newChromium(t, browser, more...)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, timeout)
	t.Cleanup(cancel)
	return browserCtx, ctx
}

func TestConsoleInChromium(t *testing.T) {
	browser := chromiumPath(t)
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, _ := adminSQLiteTenant(t, "console-acme")
	ts := startTestServer(t, withAdminToken(t, testConfig(t, redisAddr, ten)), serverOptions{})

	browserCtx, ctx := startChromium(t, browser, 30*time.Second)
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}

	// Log in: the console sends a visitor to the login form first.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/console"),
		chromedp.WaitVisible(chromedp.ID("token")),
	); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/console/login") {
		t.Fatalf("the console did not ask for a login first: %s %v", loc, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), testAdminToken),
		chromedp.Click(chromedp.ID("login-button")),
	); err != nil {
		t.Fatalf("log in: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("tenants"))); err != nil {
		html, _ := chromedp.Run(browserCtx, chromedp.OuterHTML(chromedp.CSS("html")))
		loc, _ := chromedp.Run(browserCtx, chromedp.Location())
		t.Fatalf("log in: %v\nat %s:\n%s", err, loc, html)
	}
	if got := text("#tenants"); !strings.Contains(got, "console-acme") {
		t.Fatalf("tenants page: %q", got)
	}

	// Generate a key: the Base URL and the key are shown once.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/console/tenants/console-acme"]`)),
		chromedp.WaitVisible(chromedp.ID("key-name")),
		chromedp.SendKeys(chromedp.ID("key-name"), "okta-production"),
		chromedp.Click(chromedp.ID("generate-button")),
		chromedp.WaitVisible(chromedp.ID("api-key")),
	); err != nil {
		t.Fatalf("generate a key: %v", err)
	}
	apiKey, base := text("#api-key"), text("#base-url")
	if !strings.HasPrefix(apiKey, "scb_") || base != ts.url+"/scim/console-acme/v2" {
		t.Fatalf("shown: key %q, base URL %q", apiKey, base)
	}
	c := &scimClient{t: t, base: base, auth: "Bearer " + apiKey}
	if status, _ := c.do("GET", "/Users?count=1", nil); status != 200 {
		t.Fatalf("the generated key does not work: %d", status)
	}

	// It is listed (without its secret) and can be revoked.
	row := `tr.key[data-name="okta-production"]`
	if status, keys := text(row+` .key-status`), text("#keys"); status != "active" || strings.Contains(keys, apiKey) {
		t.Fatalf("listed: status %q, table %q", status, keys)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+` form.revoke button`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if status := text(row + ` .key-status`); status != "revoked" {
		t.Fatalf("after revoke the key is %q", status)
	}
	if code, _ := c.do("GET", "/Users?count=1", nil); code != 401 {
		t.Fatalf("the revoked key still works: %d", code)
	}
	// The key is not shown again on a reload.
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("keys"))); err != nil {
		t.Fatal(err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, apiKey) {
		t.Fatal("the key is shown again after a reload")
	}
}
