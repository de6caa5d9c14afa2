package main

// The waiting setup page in headless Chromium: with JavaScript it never
// reloads (its status refreshes in place: a name being typed, the focus
// and the page's own state survive), and the key is created with the
// keyboard only, every stop on the way showing a focus outline; without
// JavaScript it reloads itself until the first request shows.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/scimbridge/scimbridge/internal/testsupport"
)

// tabTo presses Tab until the element with id has the focus (at most 40
// times), and checks that every element focused on the way shows a focus
// outline (the style sheet's :focus rule); it returns their ids or tags.
func tabTo(t *testing.T, ctx context.Context, id string) []string {
	t.Helper()
	var stops []string
	for range 40 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatalf("Tab: %v", err)
		}
		// "<id or tag>|<outline style>|<outline width>"
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const e = document.activeElement, s = getComputedStyle(e);
			return (e.id || e.tagName.toLowerCase()) + "|" + s.outlineStyle + "|" + s.outlineWidth; })()`))
		if err != nil {
			t.Fatalf("focused element: %v", err)
		}
		parts := strings.Split(got, "|")
		stops = append(stops, parts[0])
		if parts[0] != "body" && (parts[1] == "none" || parts[2] == "0px") {
			t.Errorf("%s has the focus but no visible focus indicator (outline %s %s)", parts[0], parts[1], parts[2])
		}
		if parts[0] == id {
			return stops
		}
	}
	t.Fatalf("40 Tabs did not reach #%s: %v", id, stops)
	return nil
}

func TestSetupPageRefreshInChromium(t *testing.T) {
	browser := chromiumPath(t)
	redisAddr := testsupport.RedisDB(t, e2eRedisDB)
	ten, _ := adminSQLiteTenant(t, "refresh")
	ts := startTestServer(t, withAdminToken(t, testConfig(t, redisAddr, ten)), serverOptions{})

	t.Run("with JavaScript", func(t *testing.T) {
		link, _ := createSetupLink(t, ts, "refresh", map[string]any{"idp": "okta"})
		_, ctx := startChromium(t, browser, 60*time.Second, chromedp.WindowSize(1000, 900))
		if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#okta-steps"))); err != nil {
			t.Fatal(err)
		}
		// A marker only this document has: a reload would lose it.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.h16bMarker = "kept"`)); err != nil {
			t.Fatal(err)
		}
		stops := tabTo(t, ctx, "key-name")
		if len(stops) < 3 {
			t.Errorf("the key name was reached after %v: not by the page's order", stops)
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.End), chromedp.KeyEvent(" production")); err != nil {
			t.Fatal(err)
		}
		// Two in-place status refreshes of this document (more than one
		// refresh period): the page is the same, with what was typed and
		// the focus.
		var state string
		for {
			var err error
			state, err = chromedp.Run(ctx, chromedp.Evaluate[string](`[window.h16bMarker,
				performance.getEntriesByType("resource").filter(e => e.name.includes("/status")).length,
				document.activeElement.id, document.getElementById("key-name").value].join("|")`))
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(state, "|")
			if parts[0] != "kept" {
				t.Fatalf("the page was reloaded while waiting (marker, refreshes, focus, name: %s)", state)
			}
			if n, _ := strconv.Atoi(parts[1]); n >= 2 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the status was not refreshed twice: %s", state)
			case <-time.After(200 * time.Millisecond):
			}
		}
		if state != "kept|"+strings.Split(state, "|")[1]+"|key-name|Okta production" {
			t.Fatalf("after two status refreshes (marker, refreshes, focus, name): %s", state)
		}
		// Enter creates the key.
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#api-key"))); err != nil {
			t.Fatal(err)
		}
		if key, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#api-key"))); err != nil || !strings.HasPrefix(key, "scb_") {
			t.Fatalf("key shown: %q %v", key, err)
		}
		if name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr.key[data-name="Okta production"] td`))); err != nil || name != "Okta production" {
			t.Fatalf("key listed as %q (%v)", name, err)
		}
	})

	t.Run("without JavaScript", func(t *testing.T) {
		link, _ := createSetupLink(t, ts, "refresh", map[string]any{"idp": "okta"})
		browserCtx, ctx := startChromium(t, browser, 60*time.Second, chromedp.WindowSize(1000, 900))
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS("#waiting"))); err != nil {
			t.Fatal(err)
		}
		// A first request: only a reload can show it on a page without
		// scripts.
		plain, _, err := ts.app.keys.Create(context.Background(), "refresh", "no-js")
		if err != nil {
			t.Fatal(err)
		}
		c := &scimClient{t: t, base: ts.url + "/scim/refresh/v2", auth: "Bearer " + plain}
		if status, _ := c.do("GET", "/Users?count=1", nil); status != http.StatusOK {
			t.Fatalf("SCIM request: %d", status)
		}
		if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("#last-request"))); err != nil {
			html, _ := chromedp.Run(browserCtx, chromedp.OuterHTML(chromedp.CSS("html")))
			t.Fatalf("the page without JavaScript did not reload itself to show the request: %v\n%s", err, html)
		}
		if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#last-client"))); err != nil || got != "Okta" {
			t.Errorf("last client %q (%v)", got, err)
		}
		// Scripts really were off: the copy buttons stayed hidden.
		if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`button[data-copy="base-url-static"]`))); err != nil || !strings.Contains(html, " hidden") {
			t.Errorf("the script ran: %v\n%s", err, html)
		}
	})
}
