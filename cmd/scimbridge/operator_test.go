package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// Every operator surface of a process shares one limit on wrong tokens
// (api/admin.Operator): guessing on /metrics or /monitoring, which had no
// limit before, is refused with 429 and Retry-After after 10 wrong tokens
// from one address, on the worker's operations listener too, and the
// block holds on every surface, the right token included.
func TestOperatorTokenGuessesAreLimitedOnMetricsAndMonitoring(t *testing.T) {
	const token = "op-token-for-guess-tests-0123456789"
	ts := startTestServer(t, telemetryConfig(t), serverOptions{full: true, opsToken: token})
	worker := httptest.NewServer(ts.app.workerHandler())
	defer worker.Close()

	// Right token first: every surface admits it.
	for _, u := range []string{ts.url + "/metrics", ts.url + "/monitoring/api/queues", worker.URL + "/metrics", ts.url + "/admin/v1/tenants"} {
		if status, _, body := get(t, u, "Bearer "+token); status != http.StatusOK {
			t.Fatalf("GET %s with the token: %d %.200s", u, status, body)
		}
	}
	// Ten wrong tokens, spread over /metrics (API and worker) and
	// /monitoring, as Bearer and as Basic passwords.
	wrong := []string{ts.url + "/metrics", ts.url + "/monitoring/api/queues", worker.URL + "/metrics"}
	for i := range 10 {
		auth := "Bearer guess-" + strconv.Itoa(i)
		if i%2 == 1 {
			auth = "Basic " + b64("operator:guess-"+strconv.Itoa(i))
		}
		u := wrong[i%len(wrong)]
		status, h, _ := get(t, u, auth)
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d at %s: %d, want 401", i, u, status)
		}
		if strings.Contains(u, "/monitoring") && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 at %s without a Basic challenge: %q", u, h.Get("WWW-Authenticate"))
		}
	}
	for _, u := range []string{ts.url + "/metrics", ts.url + "/monitoring/api/queues", ts.url + "/monitoring/", worker.URL + "/metrics", ts.url + "/admin/v1/tenants"} {
		status, h, body := get(t, u, "Bearer "+token)
		if status != http.StatusTooManyRequests {
			t.Errorf("GET %s after 10 wrong tokens: %d %.200s, want 429", u, status, body)
			continue
		}
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || s > 61 {
			t.Errorf("GET %s: 429 with Retry-After %q, want 1-61 seconds", u, h.Get("Retry-After"))
		}
		if strings.Contains(body, "# HELP") {
			t.Errorf("GET %s: 429 served the metrics", u)
		}
	}
	// Health and readiness are not operator surfaces.
	for _, u := range []string{ts.url + "/healthz", ts.url + "/readyz", worker.URL + "/healthz"} {
		if status, _, _ := get(t, u, ""); status != http.StatusOK {
			t.Errorf("GET %s while the address is blocked: %d, want 200", u, status)
		}
	}
}
