package admin

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// A state-changing request to a Guard surface (/monitoring, /metrics) must
// come from the server's own origin: a browser replays cached Basic
// credentials for any site's form post (issue 17, point 2).
func TestGuardRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	op, _ := testOperator(t)
	op.WithPublicURL("https://scim.example.com/prefix")
	var served int
	guard := op.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { served++; _, _ = w.Write([]byte("ok")) }))
	bearer, basicAuth := "Bearer "+rightToken, "Basic "+basic("operator", rightToken)
	for i, tc := range []struct {
		name    string
		method  string
		auth    string
		tls     bool
		headers map[string]string
		want    int
	}{
		{"GET from anywhere", "GET", basicAuth, false, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 200},
		{"HEAD", "HEAD", basicAuth, false, map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"OPTIONS", "OPTIONS", basicAuth, false, map[string]string{"Origin": "http://evil.example"}, 200},
		{"form post from another site", "POST", basicAuth, false, map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"another site, bearer", "POST", bearer, false, map[string]string{"Origin": "http://evil.example"}, 403},
		{"another site, no token", "POST", "", false, map[string]string{"Origin": "http://evil.example"}, 403},
		{"Origin null", "POST", basicAuth, false, map[string]string{"Origin": "null"}, 403},
		{"Origin unparsable", "POST", basicAuth, false, map[string]string{"Origin": "http://%zz"}, 403},
		{"Origin of another port", "POST", basicAuth, false, map[string]string{"Origin": "http://scim.test:8443"}, 403},
		{"Origin a sibling subdomain", "POST", basicAuth, false, map[string]string{"Origin": "http://evil.scim.test"}, 403},
		{"Origin ftp", "POST", basicAuth, false, map[string]string{"Origin": "ftp://scim.test"}, 403},
		{"same origin", "POST", basicAuth, false, map[string]string{"Origin": "http://scim.test", "Sec-Fetch-Site": "same-origin"}, 200},
		{"same origin, any case, default port", "DELETE", basicAuth, false, map[string]string{"Origin": "HTTP://SCIM.TEST:80"}, 200},
		{"https at a proxy in front", "POST", basicAuth, false, map[string]string{"Origin": "https://scim.test"}, 200},
		{"http page posting to https", "POST", basicAuth, true, map[string]string{"Origin": "http://scim.test"}, 403},
		{"https same origin", "POST", basicAuth, true, map[string]string{"Origin": "https://scim.test:443"}, 200},
		{"the public URL's origin", "POST", basicAuth, false, map[string]string{"Origin": "https://scim.example.com"}, 200},
		{"the public URL's host over http", "POST", basicAuth, false, map[string]string{"Origin": "http://scim.example.com"}, 403},
		{"Referer of another site", "POST", basicAuth, false, map[string]string{"Referer": "http://evil.example/page"}, 403},
		{"Referer of this server", "POST", basicAuth, false, map[string]string{"Referer": "http://scim.test/monitoring/queues"}, 200},
		{"Origin wins over Referer", "POST", basicAuth, false, map[string]string{"Origin": "http://evil.example", "Referer": "http://scim.test/"}, 403},
		{"Sec-Fetch-Site cross-site", "POST", basicAuth, false, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://scim.test"}, 403},
		{"Sec-Fetch-Site same-site", "POST", basicAuth, false, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"Sec-Fetch-Site same-origin alone", "POST", basicAuth, false, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"Sec-Fetch-Site none (typed)", "POST", basicAuth, false, map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"no signal, Basic", "POST", basicAuth, false, nil, 403},
		{"no signal, Basic, PUT", "PUT", basicAuth, false, nil, 403},
		{"no signal, Bearer (curl, scripts)", "POST", bearer, false, nil, 200},
		{"no signal, no token", "POST", "", false, nil, 401},
	} {
		req := httptest.NewRequest(tc.method, "http://scim.test/monitoring/api/queues/default:pause", strings.NewReader("x=1"))
		if tc.tls {
			req.TLS = &tls.ConnectionState{}
		}
		req.RemoteAddr = "203.0.113." + strconv.Itoa(i+1) + ":40000"
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		before := served
		w := httptest.NewRecorder()
		guard.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, w.Code, strings.TrimSpace(w.Body.String()), tc.want)
		}
		if tc.want != 200 && served != before {
			t.Errorf("%s: refused, yet the dashboard ran", tc.name)
		}
		// Every answer, refusals included, has the security headers.
		h := w.Header()
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: security headers %v", tc.name, h)
		}
	}
	// A refused request counts as no guess: many of them do not block the
	// address.
	for range 3 * maxFailures {
		req := httptest.NewRequest("POST", "http://scim.test/x", nil)
		req.RemoteAddr = "203.0.113.250:1"
		req.Header.Set("Authorization", "Basic "+basic("x", "wrong"))
		req.Header.Set("Origin", "http://evil.example")
		guard.ServeHTTP(httptest.NewRecorder(), req)
	}
	req := httptest.NewRequest("GET", "http://scim.test/x", nil)
	req.RemoteAddr = "203.0.113.250:1"
	req.Header.Set("Authorization", bearer)
	w := httptest.NewRecorder()
	if guard.ServeHTTP(w, req); w.Code != 200 {
		t.Errorf("after refused cross-site requests the address is blocked: %d", w.Code)
	}
}

// The console and the dashboard send the same security headers (one
// function); the console keeps its nonce policy.
func TestConsoleAndGuardShareSecurityHeaders(t *testing.T) {
	t.Parallel()
	op, _ := testOperator(t)
	guarded := httptest.NewRecorder()
	op.GuardPage("default-src 'self'", http.NotFoundHandler()).ServeHTTP(guarded, httptest.NewRequest("GET", "/", nil))
	if got := guarded.Header().Get("Content-Security-Policy"); got != "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("GuardPage CSP %q", got)
	}
	for _, k := range []string{"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
		if guarded.Header().Get(k) == "" {
			t.Errorf("GuardPage: no %s", k)
		}
	}
}
