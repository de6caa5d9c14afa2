package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Target is one tenant's SCIM Base URL and API key, as printed by
// `scimbridge key create --json` or written by `scimbench setup`.
type Target struct {
	Tenant  string `json:"tenant,omitempty"`
	BaseURL string `json:"base_url"`
	APIKey  string `json:"api_key"`
}

// TargetsFile is what `scimbench setup --out` writes. A file holding a
// single Target (the output of `scimbridge key create --json`) is read too.
type TargetsFile struct {
	Targets []Target `json:"targets"`
	// GroupID is the big group made by setup --group-members (in the first
	// target's tenant), "" when none.
	GroupID string `json:"group_id,omitempty"`
}

// loadTargets reads a targets file.
func loadTargets(path string) (*TargetsFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scimbench: targets: %w", err)
	}
	var tf TargetsFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("scimbench: targets %s: %w", path, err)
	}
	if len(tf.Targets) == 0 {
		var one Target
		if err := json.Unmarshal(b, &one); err != nil || one.BaseURL == "" {
			return nil, fmt.Errorf("scimbench: targets %s: no targets and no base_url", path)
		}
		tf.Targets = []Target{one}
	}
	for i, t := range tf.Targets {
		if t.BaseURL == "" || t.APIKey == "" {
			return nil, fmt.Errorf("scimbench: targets %s: entry %d lacks base_url or api_key", path, i)
		}
		tf.Targets[i].BaseURL = strings.TrimRight(t.BaseURL, "/")
	}
	return &tf, nil
}

// newHTTPClient returns a client with a connection per worker kept alive;
// unless allowRemote, its dialer connects to loopback addresses only.
func newHTTPClient(conns int, allowRemote bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = loopbackOnlyControl
	}
	return &http.Client{
		Timeout: 60 * time.Second, // Okta gives up after 60 s
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
	}
}

// scimClient sends Okta-shaped requests to one target.
type scimClient struct {
	http   *http.Client
	target Target
}

// response is what a request returned: status 0 means a transport error.
type response struct {
	status int
	body   []byte
	err    error
}

// do sends one request; body is JSON-encoded unless it is []byte.
func (c *scimClient) do(ctx context.Context, method, path string, body any) response {
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return response{err: err}
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.target.BaseURL+path, rd)
	if err != nil {
		return response{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.target.APIKey)
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: b, err: err}
}

// ok reports a 2xx answer.
func (r response) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// statusKey names the outcome for the error table: the status code, or
// "net" for a transport error.
func (r response) statusKey() string {
	if r.status == 0 {
		return "net"
	}
	return strconv.Itoa(r.status)
}

// errStatus turns a non-2xx response into an error (for setup steps).
func (r response) errStatus(what string) error {
	if r.err != nil {
		return fmt.Errorf("scimbench: %s: %w", what, r.err)
	}
	if !r.ok() {
		return fmt.Errorf("scimbench: %s: status %d: %.300s", what, r.status, r.body)
	}
	return nil
}

// resourceRef is the part of a SCIM resource the tool keeps.
type resourceRef struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Meta     struct {
		Version string `json:"version"`
	} `json:"meta"`
}

// version parses meta.version W/"n" (0 when absent).
func (r resourceRef) version() int64 {
	v := strings.TrimPrefix(r.Meta.Version, "W/")
	v = strings.Trim(v, `"`)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// decodeRef reads id, userName and version from a resource body.
func decodeRef(b []byte) (resourceRef, error) {
	var r resourceRef
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("scimbench: decode resource: %w", err)
	}
	if r.ID == "" {
		return r, errors.New("scimbench: resource without id")
	}
	return r, nil
}

// jsonUnmarshal decodes with a prefixed error.
func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("scimbench: decode: %w", err)
	}
	return nil
}
