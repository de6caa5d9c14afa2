package main

// The customer's whole journey on the setup page, in headless Chromium:
// open the link, pick Okta, generate a key (keyboard only), run Okta's own
// spec test with that key, see the requests and the provisioned users, see
// a store rejection explained, revoke the key, and the next SCIM call is
// 401. With SCIMBRIDGE_SCREENSHOTS=DIR each step's screenshot is written
// there (the README shows api/setup/screenshots/setup-credentials.png and setup-status.png from it).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/scimbridge/scimbridge/internal/testsupport"
	syncsvc "github.com/scimbridge/scimbridge/sync"
)

func TestSetupPageJourneyInChromium(t *testing.T) {
	browser := chromiumPath(t)
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	dsn, table, db := e2ePostgres(t)
	// The application allows a few departments only: a CHECK constraint.
	if _, err := db.Exec(`ALTER TABLE ` + table + ` ADD CONSTRAINT accounts_dept_check CHECK (dept IS NULL OR dept IN ('Engineering', 'Sales', 'Legal'))`); err != nil {
		t.Fatal(err)
	}
	ten := postgresTenant("journey", dsn, table)
	ten.Name = "Acme Corp"
	ts := startTestServer(t, withAdminToken(t, testConfig(t, redisAddr, ten)), serverOptions{})
	link, linkID := createSetupLink(t, ts, "journey", map[string]any{"ttl": "2h"})

	shots := os.Getenv("SCIMBRIDGE_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	browserCtx, ctx := startChromium(t, browser, 90*time.Second, chromedp.WindowSize(1000, 900))
	step := 0
	shot := func(name string) {
		t.Helper()
		step++
		if shots == "" {
			return
		}
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(75)) // JPEG: small enough for the README
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("setup-%d-%s.jpg", step, name)), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// part writes one section of the page, scaled down (the README's).
	part := func(name, sel string) {
		t.Helper()
		if shots == "" {
			return
		}
		img, err := chromedp.Run(ctx, chromedp.ScreenshotScale(chromedp.CSS(sel), 0.7))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, "setup-"+name+".png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(what string, err error) {
		t.Helper()
		page, _ := chromedp.Run(browserCtx, chromedp.OuterHTML(chromedp.CSS("html")))
		loc, _ := chromedp.Run(browserCtx, chromedp.Location())
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, page)
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail("text of "+sel, err)
		}
		return strings.TrimSpace(v)
	}
	value := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
		if err != nil {
			fail("value of "+sel, err)
		}
		return v
	}
	location := func() string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			fail("location", err)
		}
		return v
	}

	// 1. Open the link: the token is exchanged for a session and leaves
	// the address bar.
	run("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#step-idp")))
	if loc := location(); loc != ts.url+"/setup/journey/" {
		t.Fatalf("after opening the link the address is %q", loc)
	}
	if got := text("h1"); !strings.Contains(got, "Acme Corp") {
		t.Fatalf("heading %q", got)
	}
	shot("open")

	// 2. Pick Okta: Okta's steps, and the attributes this store uses.
	run("pick Okta", chromedp.Click(chromedp.CSS("#idp-okta")), chromedp.WaitVisible(chromedp.CSS("#okta-steps")))
	steps := text("#okta-steps")
	for _, want := range []string{"Configure API Integration", "Base URL", "API Token", "Test API Credentials", "To App", "Push Groups", "Import"} {
		if !strings.Contains(steps, want) {
			t.Errorf("Okta's steps lack %q", want)
		}
	}
	attrs := text("#attributes")
	for _, want := range []string{"Department", "department", "First name (firstName)", "userName"} {
		if !strings.Contains(attrs, want) {
			t.Errorf("the attribute list lacks %q: %s", want, attrs)
		}
	}
	if strings.Contains(attrs, "Job title") {
		t.Errorf("the attribute list names an attribute the store does not map: %s", attrs)
	}
	// This store keeps no groups: the page says so instead of a list.
	if got := text("#no-groups"); !strings.Contains(got, "does not keep groups") || !strings.Contains(got, "do not push any") {
		t.Errorf("the group attributes of a store without groups: %q", got)
	}
	// Every field has a label.
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("input:not([type=hidden])")].filter(i => i.labels.length === 0 && !i.getAttribute("aria-label")).length`))
	if err != nil || unlabelled != 0 {
		t.Errorf("%d inputs without a label (%v)", unlabelled, err)
	}
	if !strings.Contains(text("#status"), "Waiting for the first request") {
		t.Fatalf("status before any request: %q", text("#status"))
	}
	shot("okta")
	part("okta-steps", "#step-instructions")

	// 3. Generate a key, with the keyboard only: Tab to the name (every
	// stop showing a focus outline), type, Enter.
	tabTo(t, ctx, "key-name")
	run("generate a key",
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(" production"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#api-key")))
	apiKey, base := value("#api-key"), value("#base-url")
	if !strings.HasPrefix(apiKey, "scb_") || base != ts.url+"/scim/journey/v2" {
		t.Fatalf("shown: key %q, base URL %q", apiKey, base)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('button[data-copy="api-key"]').hidden`)); err != nil || hidden {
		t.Error("the copy button stayed hidden with JavaScript on")
	}
	// The key is in no URL and no cookie.
	if loc := location(); strings.Contains(loc, apiKey) {
		t.Fatalf("the key is in the URL %q", loc)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil || len(cookies.Cookies) == 0 {
		t.Fatalf("cookies: %+v %v", cookies, err)
	}
	for _, c := range cookies.Cookies {
		if strings.Contains(c.Value, apiKey[4:20]) {
			t.Fatalf("cookie %s holds the key", c.Name)
		}
	}
	if got := text(`tr.key[data-name="Okta production"] .key-status`); got != "active" {
		t.Fatalf("the new key is listed as %q", got)
	}
	// The credentials screenshot (the README's) shows this key only, live:
	// no other key, no key revoked before the shot (it is revoked in step 6).
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#keys tr.key").length`)); err != nil || n != 1 {
		t.Fatalf("the credentials step lists %d keys, want the new one only (%v)", n, err)
	}
	shot("key")
	part("credentials", "#step-credentials")

	// 4. Okta's own spec test with that key; the page (refreshing its
	// status by itself) shows the requests and the provisioned users.
	vars := runOktaSpecAs(t, oktaSpecPath(oktaSpecCurrent), base, "Bearer "+apiKey, "Okta SCIM Client 1.0.0")
	waitApplied(t, ts.app, "journey", vars["idUserOne"])
	run("the first request shows", chromedp.WaitVisible(chromedp.CSS("#last-request")))
	if got := text("#last-client"); got != "Okta" {
		t.Errorf("last client %q, want Okta", got)
	}
	waitPageCount(t, ctx, "#users-applied", 1)
	shot("status")

	// 5. A store rejection: a department the CHECK constraint refuses.
	c := &scimClient{t: t, base: base, auth: "Bearer " + apiKey}
	status, body := c.do("POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName": "dana.marketing@example.com", "name": map[string]any{"givenName": "Dana", "familyName": "M"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Marketing"},
	})
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	waitFailed(t, ts, "journey", body["id"].(string))
	run("the refusal shows", chromedp.WaitVisible(chromedp.CSS("#failures")))
	failures := text("#failures")
	for _, want := range []string{"dana.marketing@example.com", "Department", "not one it allows", "What to change", "In Okta, change the Department"} {
		if !strings.Contains(failures, want) {
			t.Errorf("the failure lacks %q: %s", want, failures)
		}
	}
	run("the store's words", chromedp.Click(chromedp.CSS("#failures summary")))
	if reason := text("#failures .reason"); !strings.Contains(reason, "accounts_dept_check") {
		t.Errorf("the store's reason %q", reason)
	}
	if waiting := text("#users-failed"); waiting != "1" {
		t.Errorf("refused users: %s", waiting)
	}
	shot("failure")
	part("status", "#status")
	run("phone width", chromedp.EmulateViewport(390, 844))
	shot("phone")
	if shots != "" {
		run("top of the page", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.getElementById("status").offsetTop)`))
		img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil || os.WriteFile(filepath.Join(shots, "setup-phone.png"), img, 0o644) != nil {
			t.Fatalf("phone screenshot: %v", err)
		}
	}
	// Readable on a phone: nothing wider than the screen.
	if wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); err != nil || wide {
		t.Errorf("at phone width the page scrolls sideways (%v)", err)
	}
	run("desktop width", chromedp.EmulateViewport(1000, 900))

	// 6. Revoke the key: the next SCIM call is 401.
	run("revoke", chromedp.Click(chromedp.CSS(`tr.key[data-name="Okta production"] form.revoke button`)),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	if got := text(`tr.key[data-name="Okta production"] .key-status`); got != "revoked" {
		t.Fatalf("after revoking the key is %q", got)
	}
	if status, _ := c.do("GET", "/Users?count=1", nil); status != 401 {
		t.Fatalf("the revoked key got %d, want 401", status)
	}
	shot("revoked")
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil || strings.Contains(html, apiKey) {
		t.Fatalf("the key is shown again (%v)", err)
	}

	// 7. The operator revokes the link: the open page ends by itself (its
	// status refresh finds the session gone and reloads).
	ac := &adminClient{t: t, base: ts.url, token: testAdminToken}
	ac.ok(204, "DELETE", "/admin/v1/tenants/journey/setup-links/"+linkID, nil)
	run("the page closes", chromedp.WaitVisible(chromedp.CSS("#refused-title")))
	if got := text("#refused-title"); got != "This setup link was withdrawn" {
		t.Fatalf("after revoking the link the page says %q", got)
	}
	shot("link-revoked")
}

// waitPageCount waits until the page's sel shows at least n (the status
// refreshes itself).
func waitPageCount(t *testing.T, ctx context.Context, sel string, n int) {
	t.Helper()
	var last string
	for {
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v (last %q)", sel, err, last)
		}
		last = strings.TrimSpace(v)
		if k, err := strconv.Atoi(last); err == nil && k >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s stayed %q, want at least %d", sel, last, n)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitFailed waits until the store has refused the user.
func waitFailed(t *testing.T, ts *testServer, tenant, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := ts.app.ledger.GetUser(context.Background(), tenant, id)
		if err == nil && r.State() == syncsvc.StateFailed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s not refused: %+v %v", id, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
