package main

// An interpreter for Okta's OIN SCIM 2.0 spec test (a Runscope export, see
// testdata/okta/README.md), so the same checks Okta runs before listing an
// integration run against scimbridge in `go test`.
//
// Usage, from a test that has a server with at least one complete user:
//
//	vars := runOktaSpec(t, oktaSpecPath(oktaSpecCurrent), baseURL, "Bearer "+apiKey)
//
// baseURL is the tenant's SCIM base URL (the spec's SCIMBaseURL, paths are
// relative to it); authHeader is the Authorization header value. Every request
// step runs in order; pauses are skipped (scimbridge reads its own writes);
// each failed assertion fails the test naming the step and the assertion.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The spec files in testdata/okta.
const (
	oktaSpecCurrent = "Okta-SCIM-20-SPEC-Test.json"
	oktaSpecOld     = "Okta-SCIM-20-SPEC-Test-old.json"
)

// oktaSpecPath locates a spec file: $SCIMBRIDGE_OKTA_SPEC_DIR when set,
// otherwise this package's testdata/okta.
func oktaSpecPath(name string) string {
	if dir := os.Getenv("SCIMBRIDGE_OKTA_SPEC_DIR"); dir != "" {
		return filepath.Join(dir, name)
	}
	return filepath.Join("testdata", "okta", name)
}

// runOktaSpec runs the spec at specPath against baseURL and fails t for every
// assertion that does not hold. It returns the variables at the end (the
// generated ones and those the steps extracted, e.g. idUserOne) so the caller
// can check more (say, that the created user reached the store).
func runOktaSpec(t *testing.T, specPath, baseURL, authHeader string) map[string]string {
	t.Helper()
	return runOktaSpecAs(t, specPath, baseURL, authHeader, "")
}

// runOktaSpecAs is runOktaSpec sending userAgent ("": Go's default) as
// the User-Agent of every request, as Okta's provisioning does its own.
func runOktaSpecAs(t *testing.T, specPath, baseURL, authHeader, userAgent string) map[string]string {
	t.Helper()
	spec, err := loadOktaSpec(specPath)
	if err != nil {
		t.Fatalf("okta spec: %v", err)
	}
	vars := oktaSpecVariables(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	vars["SCIMBaseURL"] = strings.TrimSuffix(baseURL, "/")
	vars["auth"] = authHeader
	client := &http.Client{Timeout: 60 * time.Second}
	if userAgent != "" {
		client.Transport = userAgentTransport{ua: userAgent, next: http.DefaultTransport}
	}
	failures := interpretOktaSpec(spec, vars, client, t.Logf)
	for _, f := range failures {
		t.Errorf("okta spec %s: %s", filepath.Base(specPath), f)
	}
	return vars
}

// userAgentTransport sets the User-Agent of every request.
type userAgentTransport struct {
	ua   string
	next http.RoundTripper
}

func (u userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// oktaSpec is the part of a Runscope export the interpreter reads.
type oktaSpec struct {
	Name  string     `json:"name"`
	Steps []oktaStep `json:"steps"`
}

type oktaStep struct {
	StepType      string              `json:"step_type"`
	Skipped       bool                `json:"skipped"`
	Note          string              `json:"note"`
	Method        string              `json:"method"`
	URL           string              `json:"url"`
	Headers       map[string][]string `json:"headers"`
	Body          string              `json:"body"`
	Assertions    []oktaAssertion     `json:"assertions"`
	Variables     []oktaVariable      `json:"variables"`
	Scripts       []string            `json:"scripts"`
	BeforeScripts []string            `json:"before_scripts"`
	Duration      float64             `json:"duration"`
}

type oktaAssertion struct {
	Source     string `json:"source"`
	Property   string `json:"property"`
	Comparison string `json:"comparison"`
	// Value is a string, a number or null in the export.
	Value any `json:"value"`
}

func (a oktaAssertion) String() string {
	s := a.Source
	if a.Property != "" {
		s += " " + a.Property
	}
	s += " " + a.Comparison
	if a.Value != nil {
		s += fmt.Sprintf(" %q", fmt.Sprint(a.Value))
	}
	return s
}

type oktaVariable struct {
	Source   string `json:"source"`
	Name     string `json:"name"`
	Property string `json:"property"`
}

func loadOktaSpec(path string) (oktaSpec, error) {
	var spec oktaSpec
	data, err := os.ReadFile(path)
	if err != nil {
		return spec, err
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return spec, fmt.Errorf("%s: %w", path, err)
	}
	return spec, nil
}

// oktaSpecVariables generates the variables of Initial_Script_Spec.txt the
// way its JavaScript does.
func oktaSpecVariables(rng *rand.Rand) map[string]string {
	const (
		lower  = "abcdefghijklmnopqrstuvwxyz"
		upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		digits = "0123456789"
	)
	pick := func(alphabet string) byte { return alphabet[rng.IntN(len(alphabet))] }

	first := []byte("Runscope")
	for range 3 {
		first = append(first, pick(digits))
	}
	last := []byte{pick(upper)}
	for range 8 {
		last = append(last, pick(lower))
	}
	for range 3 {
		last = append(last, pick(digits))
	}
	email := string(first) + string(last) + "@atko.com"
	return map[string]string{
		"randomGivenName":        string(first),
		"randomFamilyName":       string(last),
		"randomEmail":            email,
		"randomUsername":         email,
		"InvalidUserEmail":       "abcdefgh@atko.com",
		"UserIdThatDoesNotExist": "010101001010101011001010101011",
		"randomUsernameCaps":     strings.ToUpper(email),
	}
}

// interpretOktaSpec runs every step of spec and returns one message per
// failed check. vars must hold SCIMBaseURL and auth; the steps' extracted
// variables are added to it. logf receives one line per step.
func interpretOktaSpec(spec oktaSpec, vars map[string]string, client *http.Client, logf func(string, ...any)) []string {
	var failures []string
	requests := 0
	for i, step := range spec.Steps {
		num := i + 1
		switch {
		case step.Skipped:
			logf("step %d: skipped in the spec", num)
			continue
		case step.StepType == "pause":
			continue // Okta waits for eventual consistency; scimbridge reads its own writes
		case step.StepType != "request":
			failures = append(failures, fmt.Sprintf("step %d: step type %q not supported by the interpreter", num, step.StepType))
			continue
		}
		requests++
		name := fmt.Sprintf("step %d %q", num, strings.TrimSpace(step.Note))
		stepFailures := runOktaStep(step, vars, client)
		for _, f := range stepFailures {
			failures = append(failures, name+": "+f)
		}
		status := "ok"
		if len(stepFailures) > 0 {
			status = fmt.Sprintf("%d failure(s)", len(stepFailures))
		}
		logf("%s %s %s: %s", name, step.Method, step.URL, status)
	}
	if requests == 0 {
		failures = append(failures, "the spec has no request steps")
	}
	return failures
}

// oktaResponse is what assertions look at.
type oktaResponse struct {
	status  int
	elapsed time.Duration
	body    []byte
	json    any
	jsonErr error
}

// runOktaStep sends one request and checks its assertions, scripts and
// variables.
func runOktaStep(step oktaStep, vars map[string]string, client *http.Client) []string {
	if len(step.BeforeScripts) > 0 && strings.Join(step.BeforeScripts, "") != "" {
		return []string{"before_scripts are not supported by the interpreter"}
	}
	rawURL, err := substituteOktaVars(step.URL, vars)
	if err != nil {
		return []string{"url: " + err.Error()}
	}
	target, err := encodeOktaURL(rawURL)
	if err != nil {
		return []string{"url: " + err.Error()}
	}
	body, err := substituteOktaVars(step.Body, vars)
	if err != nil {
		return []string{"body: " + err.Error()}
	}
	var bodyReader io.Reader
	if body != "" {
		bodyReader = strings.NewReader(body)
	}
	req, err := http.NewRequest(step.Method, target, bodyReader)
	if err != nil {
		return []string{"request: " + err.Error()}
	}
	for name, values := range step.Headers {
		for _, v := range values {
			v, err := substituteOktaVars(v, vars)
			if err != nil {
				return []string{"header " + name + ": " + err.Error()}
			}
			req.Header.Add(name, v)
		}
	}

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return []string{"request failed: " + err.Error()}
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return []string{"reading the response: " + err.Error()}
	}
	r := oktaResponse{status: resp.StatusCode, elapsed: time.Since(start), body: respBody}
	dec := json.NewDecoder(bytes.NewReader(respBody))
	dec.UseNumber()
	r.jsonErr = dec.Decode(&r.json)

	var failures []string
	for _, a := range step.Assertions {
		if err := checkOktaAssertion(a, r, vars); err != nil {
			failures = append(failures, fmt.Sprintf("assertion [%s]: %v", a, err))
		}
	}
	for _, script := range step.Scripts {
		if err := runOktaScript(script, r, vars); err != nil {
			failures = append(failures, "script: "+err.Error())
		}
	}
	for _, v := range step.Variables {
		if v.Source != "response_json" {
			failures = append(failures, fmt.Sprintf("variable %s: source %q not supported", v.Name, v.Source))
			continue
		}
		val, ok := lookupOktaJSON(r, v.Property)
		if !ok {
			failures = append(failures, fmt.Sprintf("variable %s: response has no %s", v.Name, v.Property))
			continue
		}
		vars[v.Name] = oktaString(val)
	}
	if len(failures) > 0 {
		failures = append(failures, fmt.Sprintf("(response %d: %s)", r.status, truncateOkta(respBody, 400)))
	}
	return failures
}

var oktaVarPattern = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// substituteOktaVars replaces {{name}} with the variable; an unset variable
// is an error (a step that would extract it failed earlier).
func substituteOktaVars(s string, vars map[string]string) (string, error) {
	var missing []string
	out := oktaVarPattern.ReplaceAllStringFunc(s, func(m string) string {
		name := oktaVarPattern.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("variable(s) not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// encodeOktaURL percent-encodes the query the way an HTTP client does with
// what a user typed: the spec writes filter=userName eq "x@y" with raw spaces
// and quotes; the server receives filter=userName%20eq%20%22x%40y%22.
// Already-encoded parts are not encoded twice.
func encodeOktaURL(raw string) (string, error) {
	base, query, hasQuery := strings.Cut(raw, "?")
	if _, err := url.Parse(base); err != nil {
		return "", err
	}
	if !hasQuery || query == "" {
		return base, nil
	}
	escape := func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		name, value, hasValue := strings.Cut(p, "=")
		params[i] = escape(name)
		if hasValue {
			params[i] += "=" + escape(value)
		}
	}
	return base + "?" + strings.Join(params, "&"), nil
}

// checkOktaAssertion checks one assertion the way Runscope does.
func checkOktaAssertion(a oktaAssertion, r oktaResponse, vars map[string]string) error {
	want := ""
	if a.Value != nil {
		var err error
		if want, err = substituteOktaVars(fmt.Sprint(a.Value), vars); err != nil {
			return err
		}
	}

	var actual any
	switch a.Source {
	case "response_status":
		actual = json.Number(strconv.Itoa(r.status))
	case "response_time":
		actual = json.Number(strconv.FormatInt(r.elapsed.Milliseconds(), 10))
	case "response_json":
		if r.jsonErr != nil {
			return fmt.Errorf("response is not JSON: %v", r.jsonErr)
		}
		v, ok := lookupOktaJSON(r, a.Property)
		if !ok {
			if a.Comparison == "not_empty" || a.Comparison == "equal" || a.Comparison == "equal_number" {
				return fmt.Errorf("response has no %s", a.Property)
			}
			v = nil
		}
		actual = v
	default:
		return fmt.Errorf("source %q not supported by the interpreter", a.Source)
	}

	switch a.Comparison {
	case "equal":
		if got := oktaString(actual); got != want {
			return fmt.Errorf("got %q", got)
		}
	case "equal_number":
		got, gotOK := oktaNumber(actual)
		w, wantOK := oktaNumber(want)
		if !wantOK {
			return fmt.Errorf("expected value %q is not a number", want)
		}
		if !gotOK || got != w {
			return fmt.Errorf("got %s", oktaString(actual))
		}
	case "is_less_than":
		got, gotOK := oktaNumber(actual)
		w, wantOK := oktaNumber(want)
		if !wantOK {
			return fmt.Errorf("expected value %q is not a number", want)
		}
		if !gotOK || got >= w {
			return fmt.Errorf("got %s", oktaString(actual))
		}
	case "is_a_number":
		// A JSON number: Okta's client reads totalResults, startIndex and
		// itemsPerPage as integers; "1" (a string) is not accepted here.
		if _, isNumber := actual.(json.Number); !isNumber {
			return fmt.Errorf("got %s (%s)", oktaString(actual), oktaKind(actual))
		}
	case "not_empty":
		if oktaEmpty(actual) {
			return fmt.Errorf("got %s", oktaString(actual))
		}
	case "has_value":
		list, isList := actual.([]any)
		if !isList {
			return fmt.Errorf("got %s (%s), want an array", oktaString(actual), oktaKind(actual))
		}
		for _, item := range list {
			if oktaString(item) == want {
				return nil
			}
		}
		return fmt.Errorf("got %s", oktaString(actual))
	case "contains":
		switch v := actual.(type) {
		case string:
			if !strings.Contains(v, want) {
				return fmt.Errorf("got %q", v)
			}
		case []any:
			for _, item := range v {
				if strings.Contains(oktaString(item), want) {
					return nil
				}
			}
			return fmt.Errorf("got %s", oktaString(actual))
		default:
			return fmt.Errorf("got %s (%s), want a string or an array", oktaString(actual), oktaKind(actual))
		}
	default:
		return fmt.Errorf("comparison %q not supported by the interpreter", a.Comparison)
	}
	return nil
}

// The scripts the spec files carry, recognised by their text (the
// interpreter does not run JavaScript). Any other script is a failure, so a
// new spec file cannot pass by having its checks ignored.
var (
	// "Verify Groups endpoint": JSON.parse(response.body) then
	// data.totalResults: throws unless the body is JSON other than null.
	oktaGroupsScript = regexp.MustCompile(`(?s)^var data = JSON\.parse\(response\.body\);\s*var max = data\.totalResults;.*assert\("nogroups"`)
	// old "Create Okta user": userName lower-cased must differ from
	// randomUsername (which has capitals).
	oktaUserNameLowerScript = regexp.MustCompile(`(?s)^var data = JSON\.parse\(response\.body\);\s*assert\.notEqual\(data\.userName\.toLowerCase\(\),\s*variables\.get\("randomUsername"\)`)
)

func runOktaScript(script string, r oktaResponse, vars map[string]string) error {
	script = strings.TrimSpace(script)
	switch {
	case script == "":
		return nil
	case oktaGroupsScript.MatchString(script):
		if r.jsonErr != nil || r.json == nil {
			return fmt.Errorf("groups script: JSON.parse(response.body).totalResults throws: body %s", truncateOkta(r.body, 100))
		}
		return nil
	case oktaUserNameLowerScript.MatchString(script):
		obj, _ := r.json.(map[string]any)
		userName, isString := obj["userName"].(string)
		if !isString {
			return fmt.Errorf("userName script: data.userName.toLowerCase() throws: no string userName")
		}
		if strings.ToLower(userName) == vars["randomUsername"] {
			return fmt.Errorf("userName script: ISVuserNameLower matches with InitialuserName (%q)", userName)
		}
		return nil
	}
	return fmt.Errorf("script not supported by the interpreter: %s", truncateOkta([]byte(script), 120))
}

// lookupOktaJSON resolves a Runscope property path (Resources[0].name.givenName).
func lookupOktaJSON(r oktaResponse, path string) (any, bool) {
	if r.jsonErr != nil {
		return nil, false
	}
	return lookupJSONPath(r.json, path)
}

var (
	oktaIndexPattern  = regexp.MustCompile(`^([^\[\]]*)((?:\[\d+\])*)$`)
	oktaDigitsPattern = regexp.MustCompile(`\d+`)
)

func lookupJSONPath(doc any, path string) (any, bool) {
	cur := doc
	if path == "" {
		return cur, true
	}
	for _, part := range strings.Split(path, ".") {
		m := oktaIndexPattern.FindStringSubmatch(part)
		if m == nil {
			return nil, false
		}
		if m[1] != "" {
			obj, isObj := cur.(map[string]any)
			if !isObj {
				return nil, false
			}
			var ok bool
			if cur, ok = obj[m[1]]; !ok {
				return nil, false
			}
		}
		for _, idx := range oktaDigitsPattern.FindAllString(m[2], -1) {
			n, _ := strconv.Atoi(idx)
			list, isList := cur.([]any)
			if !isList || n >= len(list) {
				return nil, false
			}
			cur = list[n]
		}
	}
	return cur, true
}

// oktaString is a JSON value as Runscope compares it: strings as they are,
// numbers and booleans as literals, null as "", objects and arrays as JSON.
func oktaString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func oktaNumber(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func oktaEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false // numbers and booleans (active: false is a value)
}

func oktaKind(v any) string {
	switch v.(type) {
	case nil:
		return "missing or null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	}
	return "object"
}

func truncateOkta(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// ---- tests of the interpreter itself ----
//
// fakeSCIMServer answers the spec like a correct SCIM server, unless told to
// misbehave in one way; the thing under test here is the interpreter.

type fakeSCIMServer struct {
	mu       sync.Mutex
	token    string
	misdo    string
	users    []map[string]any
	nextID   int
	rawQuery []string
}

func newFakeSCIMServer(t *testing.T, misdo string) (*fakeSCIMServer, string) {
	f := &fakeSCIMServer{token: "Bearer test-token", misdo: misdo}
	f.users = append(f.users, map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"id":       "existing-1",
		"userName": "existing@example.com",
		"name":     map[string]any{"givenName": "Ex", "familyName": "Isting"},
		"emails":   []any{map[string]any{"value": "existing@example.com", "primary": true}},
		"active":   true,
	})
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv.URL + "/scim/v2"
}

func (f *fakeSCIMServer) scimError(w http.ResponseWriter, status int, detail string) {
	f.write(w, status, map[string]any{
		"schemas": []any{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status),
		"detail":  detail,
	})
}

func (f *fakeSCIMServer) write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeSCIMServer) list(w http.ResponseWriter, resources []map[string]any) {
	total := any(len(resources))
	if f.misdo == "totalResults as string" {
		total = strconv.Itoa(len(resources))
	}
	items := make([]any, len(resources))
	for i, r := range resources {
		items[i] = r
	}
	f.write(w, http.StatusOK, map[string]any{
		"schemas":      []any{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": total,
		"startIndex":   1,
		"itemsPerPage": len(resources),
		"Resources":    items,
	})
}

var fakeFilterPattern = regexp.MustCompile(`^userName eq "([^"]*)"$`)

func (f *fakeSCIMServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rawQuery = append(f.rawQuery, r.URL.RawQuery)
	path, ok := strings.CutPrefix(r.URL.Path, "/scim/v2")
	if !ok {
		f.scimError(w, http.StatusNotFound, "not a SCIM path")
		return
	}
	if got := r.Header.Get("Authorization"); got != f.token {
		status := http.StatusUnauthorized
		if f.misdo == "403 instead of 401" {
			status = http.StatusForbidden
		}
		f.scimError(w, status, "bad credentials")
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/Users":
		filter := r.URL.Query().Get("filter")
		if filter == "" {
			f.list(w, f.users)
			return
		}
		m := fakeFilterPattern.FindStringSubmatch(filter)
		if m == nil {
			f.scimError(w, http.StatusBadRequest, "bad filter")
			return
		}
		var found []map[string]any
		for _, u := range f.users {
			name := u["userName"].(string)
			if name == m[1] || (f.misdo != "case-sensitive userName" && strings.EqualFold(name, m[1])) {
				found = append(found, u)
			}
		}
		f.list(w, found)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/Users/"):
		id := strings.TrimPrefix(path, "/Users/")
		for _, u := range f.users {
			if u["id"] == id {
				f.write(w, http.StatusOK, u)
				return
			}
		}
		f.scimError(w, http.StatusNotFound, "no such user")
	case r.Method == http.MethodPost && path == "/Users":
		var u map[string]any
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
			f.scimError(w, http.StatusBadRequest, "bad json")
			return
		}
		for _, existing := range f.users {
			if strings.EqualFold(existing["userName"].(string), u["userName"].(string)) && f.misdo != "duplicate accepted" {
				f.scimError(w, http.StatusConflict, "userName taken")
				return
			}
		}
		f.nextID++
		u["id"] = fmt.Sprintf("new-%d", f.nextID)
		if f.misdo == "familyName dropped" {
			delete(u["name"].(map[string]any), "familyName")
		}
		if f.misdo == "userName lower-cased" {
			u["userName"] = strings.ToLower(u["userName"].(string))
		}
		f.users = append(f.users, u)
		f.write(w, http.StatusCreated, u)
	case r.Method == http.MethodGet && path == "/Groups":
		switch f.misdo {
		case "slow groups":
			time.Sleep(700 * time.Millisecond) // the assertion is response_time < 600 ms
		case "null groups body":
			w.Header().Set("Content-Type", "application/scim+json")
			_, _ = io.WriteString(w, "null")
			return
		}
		f.list(w, nil)
	default:
		f.scimError(w, http.StatusNotFound, "no route")
	}
}

func TestOktaSpecInterpreterPassesConformingServer(t *testing.T) {
	t.Parallel()
	for _, file := range []string{oktaSpecCurrent, oktaSpecOld} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			fake, base := newFakeSCIMServer(t, "")
			vars := runOktaSpec(t, oktaSpecPath(file), base, fake.token)
			if vars["idUserOne"] != "new-1" {
				t.Errorf("idUserOne = %q, want the id the server gave (new-1)", vars["idUserOne"])
			}
			if vars["ISVUserid"] != "existing-1" {
				t.Errorf("ISVUserid = %q, want existing-1", vars["ISVUserid"])
			}
			// The filter went out encoded, as from a real client.
			var sawFilter bool
			fake.mu.Lock()
			defer fake.mu.Unlock()
			for _, q := range fake.rawQuery {
				if strings.HasPrefix(q, "filter=") {
					sawFilter = true
					if strings.ContainsAny(q, ` "@`) || !strings.Contains(q, "userName%20eq%20%22") {
						t.Errorf("raw query %q is not percent-encoded", q)
					}
				}
			}
			if !sawFilter {
				t.Error("no filter request reached the server")
			}
		})
	}
}

func TestOktaSpecInterpreterReportsFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		misdo string
		file  string
		want  []string // substrings of one failure message
	}{
		{"403 instead of 401", oktaSpecCurrent, []string{"Check status 401", "response_status equal_number \"401\"", "got 403"}},
		{"totalResults as string", oktaSpecCurrent, []string{"Test Users endpoint", "totalResults is_a_number", "string"}},
		{"familyName dropped", oktaSpecCurrent, []string{"Create Okta user", "name.familyName equal", "has no name.familyName"}},
		{"duplicate accepted", oktaSpecCurrent, []string{"recreating user", "equal_number \"409\"", "got 201"}},
		{"slow groups", oktaSpecCurrent, []string{"Verify Groups endpoint", "response_time is_less_than \"600\""}},
		{"null groups body", oktaSpecCurrent, []string{"Verify Groups endpoint", "groups script"}},
		{"case-sensitive userName", oktaSpecCurrent, nil}, // the spec only checks the status here
		{"userName lower-cased", oktaSpecOld, []string{"Create Okta user", "userName equal"}},
	}
	for _, tc := range cases {
		t.Run(tc.misdo, func(t *testing.T) {
			t.Parallel()
			fake, base := newFakeSCIMServer(t, tc.misdo)
			spec, err := loadOktaSpec(oktaSpecPath(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			vars := oktaSpecVariables(rand.New(rand.NewPCG(1, 2)))
			vars["SCIMBaseURL"] = base
			vars["auth"] = fake.token
			failures := interpretOktaSpec(spec, vars, http.DefaultClient, t.Logf)
			if tc.want == nil {
				if len(failures) != 0 {
					t.Errorf("failures %q, want none (Okta's spec does not check this)", failures)
				}
				return
			}
			for _, f := range failures {
				if containsAll(f, tc.want) {
					return
				}
			}
			t.Errorf("no failure mentions %q; got %q", tc.want, failures)
		})
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestOktaSpecVariablesMatchTheInitialScript(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		v := oktaSpecVariables(rand.New(rand.NewPCG(seed, seed)))
		if !regexp.MustCompile(`^Runscope[0-9]{3}$`).MatchString(v["randomGivenName"]) {
			t.Errorf("randomGivenName %q", v["randomGivenName"])
		}
		if !regexp.MustCompile(`^[A-Z][a-z]{8}[0-9]{3}$`).MatchString(v["randomFamilyName"]) {
			t.Errorf("randomFamilyName %q", v["randomFamilyName"])
		}
		email := v["randomGivenName"] + v["randomFamilyName"] + "@atko.com"
		if v["randomEmail"] != email || v["randomUsername"] != email || v["randomUsernameCaps"] != strings.ToUpper(email) {
			t.Errorf("emails %q %q %q, want %q", v["randomEmail"], v["randomUsername"], v["randomUsernameCaps"], email)
		}
		if v["InvalidUserEmail"] != "abcdefgh@atko.com" || v["UserIdThatDoesNotExist"] != "010101001010101011001010101011" {
			t.Errorf("fixed variables %v", v)
		}
	}
}

func TestEncodeOktaURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`http://h/scim/v2/Users?filter=userName eq "a.b@atko.com"`, `http://h/scim/v2/Users?filter=userName%20eq%20%22a.b%40atko.com%22`},
		{`http://h/Users?count=1&startIndex=1`, `http://h/Users?count=1&startIndex=1`},
		{`http://h/Users?filter=userName%20eq%20%22x%22`, `http://h/Users?filter=userName%20eq%20%22x%22`},
		{`http://h/Users/abc`, `http://h/Users/abc`},
	} {
		got, err := encodeOktaURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("encodeOktaURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestOktaAssertions(t *testing.T) {
	t.Parallel()
	doc := `{"schemas":["urn:a","urn:b"],"totalResults":0,"status":"404","active":false,"id":"x1",
		"name":{"givenName":"G"},"Resources":[{"emails":[{"value":"e@x"}]}],"empty":"","list":[],"obj":{}}`
	r := oktaResponse{status: 404, elapsed: 120 * time.Millisecond}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&r.json); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"id": "x1"}
	for _, tc := range []struct {
		source, property, comparison string
		value                        any
		ok                           bool
	}{
		{"response_status", "", "equal_number", "404", true},
		{"response_status", "", "equal_number", "200", false},
		{"response_time", "", "is_less_than", "600", true},
		{"response_time", "", "is_less_than", "100", false},
		{"response_json", "status", "equal", "404", true},
		{"response_json", "totalResults", "equal", "0", true},
		{"response_json", "totalResults", "equal_number", "0", true},
		{"response_json", "status", "equal_number", "404", true}, // Runscope compares the number in the string
		{"response_json", "active", "equal", "false", true},
		{"response_json", "active", "equal", "true", false},
		{"response_json", "id", "equal", "{{id}}", true},
		{"response_json", "id", "equal", "{{unset}}", false},
		{"response_json", "name.givenName", "equal", "G", true},
		{"response_json", "name.familyName", "equal", "", false},
		{"response_json", "Resources[0].emails[0].value", "not_empty", nil, true},
		{"response_json", "Resources[1].emails[0].value", "not_empty", nil, false},
		{"response_json", "active", "not_empty", nil, true},
		{"response_json", "empty", "not_empty", nil, false},
		{"response_json", "list", "not_empty", nil, false},
		{"response_json", "obj", "not_empty", nil, false},
		{"response_json", "totalResults", "is_a_number", nil, true},
		{"response_json", "status", "is_a_number", nil, false},
		{"response_json", "schemas", "has_value", "urn:b", true},
		{"response_json", "schemas", "has_value", "urn:c", false},
		{"response_json", "id", "has_value", "x1", false},
		{"response_json", "schemas", "contains", "urn:a", true},
		{"response_json", "id", "contains", "x", true},
		{"response_json", "id", "contains", "y", false},
		{"response_json", "id", "greater_than", "1", false}, // unknown comparisons fail
		{"response_headers", "Content-Type", "equal", "x", false},
	} {
		a := oktaAssertion{Source: tc.source, Property: tc.property, Comparison: tc.comparison, Value: tc.value}
		err := checkOktaAssertion(a, r, vars)
		if (err == nil) != tc.ok {
			t.Errorf("[%s] = %v, want ok=%v", a, err, tc.ok)
		}
	}
}

func TestOktaScriptsUnknownFails(t *testing.T) {
	t.Parallel()
	if err := runOktaScript(`assert.equal(1, 2)`, oktaResponse{}, nil); err == nil {
		t.Error("an unknown script passed; it must be reported")
	}
	// Every script in both files is one the interpreter knows.
	for _, file := range []string{oktaSpecCurrent, oktaSpecOld} {
		s, err := loadOktaSpec(oktaSpecPath(file))
		if err != nil {
			t.Fatal(err)
		}
		for i, step := range s.Steps {
			for _, script := range step.Scripts {
				if strings.TrimSpace(script) != "" && !oktaGroupsScript.MatchString(script) && !oktaUserNameLowerScript.MatchString(script) {
					t.Errorf("%s step %d: script not recognised: %q", file, i+1, script)
				}
			}
		}
	}
}
