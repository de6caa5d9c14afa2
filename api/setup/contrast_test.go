package setup

// Contrast of the rendered pages, not only of the style sheet's rules one
// by one: the templates are rendered in every state they have (no IdP
// chosen, each IdP; a new key shown; keys and OAuth clients active and
// revoked; an error, a notice, the paused warning; waiting, a last
// request, refusals with their details, no refusals; groups kept or not;
// the refusal page), and every element that shows text (text nodes, an
// input's value, a button's label) gets its colour and the background
// behind it from the style sheet's cascade: the rules whose selectors
// match it (descendant combinators, types, classes, ids, attributes,
// :root, :nth-child; :focus and :focus-visible in a second, focused
// pass), the most specific and then the last winning; color inherited,
// the background the nearest painted one among the element and its
// ancestors (the page's otherwise). Form controls start from the
// browser's own colours (black on white) unless a rule sets theirs.
// Each pair must reach 4.5:1 (WCAG 1.4.3), and every rule of the style
// sheet that sets a colour or a background (decorative ones aside) must
// have coloured some rendered text: a state the fixtures miss, or a rule
// the matcher cannot read, fails the test rather than go unchecked. The
// page has no coloured badges or boxes beyond these rules: a key's or
// client's status is plain table text, a refusal is a list item on the
// section's white.

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/scimbridge/scimbridge/adapters"
	syncsvc "github.com/scimbridge/scimbridge/sync"
	"github.com/scimbridge/scimbridge/tenants"
)

// selRule is one selector of a style sheet rule (a rule "a,b{...}" is two).
type selRule struct {
	selector string
	compound [][]simple // descendant chain, outermost first
	spec     [3]int
	order    int
	decls    map[string]string
}

// simple is one simple selector of a compound: type, class, id,
// attribute or pseudo-class.
type simple struct {
	kind, name, value string // kind: type, class, id, attr, pseudo
}

var simpleRE = regexp.MustCompile(`^(\*|[a-zA-Z][a-zA-Z0-9]*)|^\.[A-Za-z0-9_-]+|^#[A-Za-z0-9_-]+|^\[[^\]]+\]|^::?[a-z-]+(\([^)]*\))?`)

// parseSelector parses a selector of descendant combinators; ok is false
// for anything else (child or sibling combinators, unknown syntax).
func parseSelector(sel string) (chain [][]simple, spec [3]int, ok bool) {
	if strings.ContainsAny(sel, ">+~") {
		return nil, spec, false
	}
	for _, part := range strings.Fields(sel) {
		var comp []simple
		for part != "" {
			m := simpleRE.FindString(part)
			if m == "" {
				return nil, spec, false
			}
			part = part[len(m):]
			switch {
			case m == "*":
			case m[0] == '.':
				comp = append(comp, simple{kind: "class", name: m[1:]})
				spec[1]++
			case m[0] == '#':
				comp = append(comp, simple{kind: "id", name: m[1:]})
				spec[0]++
			case m[0] == '[':
				k, v, _ := strings.Cut(strings.Trim(m, "[]"), "=")
				comp = append(comp, simple{kind: "attr", name: k, value: strings.Trim(v, `"'`)})
				spec[1]++
			case m[0] == ':':
				if strings.HasPrefix(m, "::") {
					return nil, spec, false // pseudo-elements: not modelled
				}
				comp = append(comp, simple{kind: "pseudo", name: m[1:]})
				spec[1]++
			default:
				comp = append(comp, simple{kind: "type", name: strings.ToLower(m)})
				spec[2]++
			}
		}
		chain = append(chain, comp)
	}
	return chain, spec, len(chain) > 0
}

// styleSheet is the style sheet's rules, one per selector, and its
// custom properties.
type styleSheet struct {
	rules []selRule
	vars  map[string]string
}

func loadStyleSheet(t *testing.T) *styleSheet {
	t.Helper()
	ss := &styleSheet{vars: map[string]string{}}
	for i, r := range parseCSS(t) {
		if r.selector == ":root" {
			for k, v := range r.decls {
				ss.vars[k] = v
			}
		}
		for _, sel := range strings.Split(r.selector, ",") {
			sel = strings.TrimSpace(sel)
			chain, spec, ok := parseSelector(sel)
			if !ok {
				if r.decls["color"] != "" || r.decls["background"] != "" || r.decls["background-color"] != "" {
					t.Errorf("selector %q sets colours but the test cannot match it", sel)
				}
				continue
			}
			ss.rules = append(ss.rules, selRule{selector: sel, compound: chain, spec: spec, order: i, decls: r.decls})
		}
	}
	return ss
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// elementIndex is n's 1-based position among its parent's elements.
func elementIndex(n *html.Node) int {
	i := 1
	for s := n.PrevSibling; s != nil; s = s.PrevSibling {
		if s.Type == html.ElementNode {
			i++
		}
	}
	return i
}

// matchCompound: does element n match every simple selector of comp?
// focused says n is the focused element (:focus, :focus-visible match).
func matchCompound(n *html.Node, comp []simple, focused bool) bool {
	for _, s := range comp {
		switch s.kind {
		case "type":
			if n.Data != s.name {
				return false
			}
		case "class":
			v, _ := attr(n, "class")
			if !strings.Contains(" "+v+" ", " "+s.name+" ") {
				return false
			}
		case "id":
			if v, _ := attr(n, "id"); v != s.name {
				return false
			}
		case "attr":
			v, ok := attr(n, s.name)
			if !ok || (s.value != "" && v != s.value) {
				return false
			}
		case "pseudo":
			switch {
			case s.name == "root":
				if n.Data != "html" {
					return false
				}
			case s.name == "focus" || s.name == "focus-visible":
				if !focused {
					return false
				}
			case strings.HasPrefix(s.name, "nth-child("):
				k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s.name, "nth-child("), ")"))
				if err != nil || elementIndex(n) != k {
					return false
				}
			default:
				return false // :hover and others: a state not modelled
			}
		}
	}
	return true
}

// matches: does n match the rule (its last compound, and the others on
// ancestors in order)?
func (r selRule) matches(n *html.Node, focused bool) bool {
	last := len(r.compound) - 1
	if !matchCompound(n, r.compound[last], focused) {
		return false
	}
	i := last - 1
	for a := n.Parent; a != nil && i >= 0; a = a.Parent {
		if a.Type == html.ElementNode && matchCompound(a, r.compound[i], false) {
			i--
		}
	}
	return i < 0
}

// declared is the cascaded value of prop on n ("" when no rule sets it)
// and the rule that set it.
func (ss *styleSheet) declared(n *html.Node, prop string, focused bool) (string, *selRule) {
	var best *selRule
	for i := range ss.rules {
		r := &ss.rules[i]
		if _, ok := r.decls[prop]; !ok || !r.matches(n, focused) {
			continue
		}
		if best == nil || r.spec[0] > best.spec[0] ||
			(r.spec[0] == best.spec[0] && (r.spec[1] > best.spec[1] ||
				(r.spec[1] == best.spec[1] && (r.spec[2] > best.spec[2] || (r.spec[2] == best.spec[2] && r.order >= best.order))))) {
			best = r
		}
	}
	if best == nil {
		return "", nil
	}
	return best.decls[prop], best
}

// formControl elements take the browser's field colours, not inherited
// ones, unless a rule sets theirs.
var formControl = map[string]bool{"input": true, "button": true, "select": true, "textarea": true}

// textColour is n's colour (inherited from its ancestors) and the rule
// that decided it.
func (ss *styleSheet) textColour(n *html.Node, focused bool) (string, *selRule) {
	for e, self := n, true; e != nil; e, self = e.Parent, false {
		if e.Type != html.ElementNode {
			continue
		}
		if v, r := ss.declared(e, "color", focused && self); v != "" {
			return norm(colourOf(v, ss.vars)), r
		}
		if formControl[e.Data] {
			return "#000000", nil // fieldtext / buttontext
		}
	}
	return "#000000", nil
}

// backgroundBehind is the colour painted behind n's text: its own
// background or its nearest ancestor's, and the rule that decided it.
func (ss *styleSheet) backgroundBehind(n *html.Node, focused bool) (string, *selRule) {
	for e, self := n, true; e != nil; e, self = e.Parent, false {
		if e.Type != html.ElementNode {
			continue
		}
		for _, prop := range []string{"background", "background-color"} {
			if v, r := ss.declared(e, prop, focused && self); v != "" {
				if c := colourOf(v, ss.vars); c != "" {
					return norm(c), r
				}
			}
		}
		if formControl[e.Data] {
			return "#ffffff", nil // field / buttonface in the light scheme
		}
	}
	return "#ffffff", nil // the canvas
}

// textElements are the body's elements that show text: with a text child,
// an input's value, or a button's label.
func textElements(doc *html.Node) []*html.Node {
	var out []*html.Node
	var walk func(n *html.Node, inBody bool)
	walk = func(n *html.Node, inBody bool) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "body":
				inBody = true
			case "script", "style", "noscript", "head":
				return
			}
			typ, _ := attr(n, "type")
			shows := n.Data == "input" && typ != "hidden" // its value, or what is typed

			for c := n.FirstChild; c != nil && !shows; c = c.NextSibling {
				shows = c.Type == html.TextNode && strings.TrimSpace(c.Data) != ""
			}
			if shows && inBody {
				out = append(out, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inBody)
		}
	}
	walk(doc, false)
	return out
}

// describe names an element for a failure message: its path of tags,
// ids and classes.
func describe(n *html.Node) string {
	var parts []string
	for e := n; e != nil && e.Type == html.ElementNode; e = e.Parent {
		p := e.Data
		if v, ok := attr(e, "id"); ok {
			p += "#" + v
		}
		if v, ok := attr(e, "class"); ok {
			p += "." + strings.ReplaceAll(v, " ", ".")
		}
		parts = append([]string{p}, parts...)
	}
	return strings.Join(parts, " ")
}

// pageFixtures render the templates in all their states.
func pageFixtures(t *testing.T) map[string]string {
	t.Helper()
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	tn := explainTenant()
	withGroups := *tn
	withGroups.Store.Groups = groupsForFixture()
	base := func(idp string) *pageView {
		return &pageView{Tenant: "acme", Name: "Acme", IdP: idp, CSRF: "csrf", Path: "/setup/acme/",
			BaseURL: "https://scim.example.com/scim/acme/v2", Expires: now.Add(time.Hour),
			Summary: &syncsvc.Summary{Users: 3, Groups: 1, PendingUsers: 1, FailedUsers: 1}, UsersInStore: 1,
			Attributes: attributesOf(tn, idp), Deactivation: true, OAuth: true,
			TokenURL: "https://scim.example.com/oauth/token"}
	}
	keys := []tenants.Key{
		{ID: "k1", Name: "Okta production", Prefix: "AbCdEf12", Created: now, LastUsed: now, LastClient: "Okta SCIM Client 1.0.0"},
		{ID: "k2", Name: "Old", Prefix: "ZyXw9876", Created: now, Revoked: true},
	}
	clients := []tenants.OAuthClient{
		{ID: "acme.c0123456789abcdef", Name: "Entra", Created: now, LastUsed: now, LastClient: "Microsoft.Azure.ActiveDirectory.Provisioning/1.0"},
		{ID: "acme.cfedcba9876543210", Name: "Old Entra", Created: now, Revoked: true},
	}
	failed := []failure{explain(tn, tenants.IdPOkta, syncsvc.ResourceStatus{Kind: "User", Name: "dana@example.com",
		Failure: `new row for relation "accounts" violates check constraint "accounts_dept_check"`})}

	// Okta, everything at once: a new key, keys and clients, an error
	// and a notice, paused, a last request, refusals, groups kept.
	full := base(tenants.IdPOkta)
	full.Error, full.Notice, full.Disabled, full.Groups = "A key named “Okta” already exists.", "Key revoked.", true, true
	full.NewKey = &newKey{Name: "Okta production", BaseURL: full.BaseURL, APIKey: "scb_" + strings.Repeat("x", 46)}
	full.Keys, full.OAuthClients = keys, clients
	full.LastRequest, full.LastAgo, full.LastClientName, full.LastCredential = now, "40 s ago", "Okta", "key “Okta production”"
	full.Failures = failed
	full.GroupAttributes = groupAttributesOf(&withGroups, tenants.IdPOkta)
	// Entra, waiting: no keys, no clients, no groups.
	waiting := base(tenants.IdPEntra)
	waiting.Refresh = refreshSeconds
	// Another client, a request and no refusals.
	other := base(tenants.IdPOther)
	other.Keys, other.LastRequest, other.LastAgo, other.LastClientName, other.LastCredential = keys, now, "just now", "curl/8", "key “Okta production”"
	// No IdP chosen yet.
	none := base("")

	out := map[string]string{}
	for name, v := range map[string]*pageView{"okta-full": full, "entra-waiting": waiting, "other": other, "no-idp": none} {
		var buf bytes.Buffer
		if err := pages.ExecuteTemplate(&buf, "page.html", v); err != nil {
			t.Fatal(err)
		}
		out[name] = buf.String()
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "refused.html", refusal{Title: "This setup link has expired", Why: "Its time is over.", What: "Ask for a new link."}); err != nil {
		t.Fatal(err)
	}
	out["refused"] = buf.String()
	return out
}

func TestRenderedPageTextContrast(t *testing.T) {
	ss := loadStyleSheet(t)
	used := map[string]bool{} // rules that coloured some text
	pairs := map[string]bool{}
	for name, page := range pageFixtures(t) {
		doc, err := html.Parse(strings.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		elems := textElements(doc)
		if len(elems) < 4 {
			t.Fatalf("%s: only %d text elements found", name, len(elems))
		}
		for _, n := range elems {
			for _, focused := range []bool{false, true} {
				fg, fgRule := ss.textColour(n, focused)
				bg, bgRule := ss.backgroundBehind(n, focused)
				for _, r := range []*selRule{fgRule, bgRule} {
					if r != nil {
						used[r.selector] = true
					}
				}
				if fg == "" || bg == "" {
					t.Errorf("%s: %s: no colour (%q) or background (%q) resolved", name, describe(n), fg, bg)
					continue
				}
				pairs[fg+" on "+bg] = true
				if got := contrast(t, fg, bg); got < 4.5 {
					t.Errorf("%s: %s (focused %v): text %s on %s has a contrast of %.2f:1, want at least 4.5:1",
						name, describe(n), focused, fg, bg, got)
				}
			}
		}
	}
	// Every colour rule of the style sheet coloured some rendered text.
	var unused []string
	for _, r := range ss.rules {
		if decorative[r.selector] || r.selector == ":root" {
			continue
		}
		if (r.decls["color"] != "" || r.decls["background"] != "" || r.decls["background-color"] != "") && !used[r.selector] {
			unused = append(unused, r.selector)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		t.Errorf("colour rules that coloured no rendered text (a state the fixtures miss?): %v", unused)
	}
	if len(pairs) < 8 {
		t.Errorf("only %d distinct colour pairs: %v", len(pairs), pairs)
	}
	t.Logf("%d distinct text/background pairs checked: %v", len(pairs), fmt.Sprint(keysOf(pairs)))
}

// norm spells a colour #rrggbb, lower case.
func norm(c string) string {
	c = strings.ToLower(c)
	if len(c) == 4 {
		c = string([]byte{'#', c[1], c[1], c[2], c[2], c[3], c[3]})
	}
	return c
}

// groupsForFixture is a SQL group mapping with displayName and externalId.
func groupsForFixture() *adapters.GroupMapping {
	return &adapters.GroupMapping{Table: "app.teams", Key: "id",
		Attributes: map[string]string{"displayName": "title", "externalId": "ext"},
		Members:    &adapters.MembersMapping{Table: "app.team_members", GroupColumn: "team_id", UserColumn: "account_id"}}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The cascade the contrast test relies on picks what a browser would.
func TestCascadeOfTheTestMatchesTheBrowsers(t *testing.T) {
	ss := loadStyleSheet(t)
	doc, err := html.Parse(strings.NewReader(`<html><body><main><section><div class="secret"><p><a id="x" href="#">go</a></p></div>` +
		`<form class="revoke"><button id="b">Revoke</button></form><button id="c">Go</button><input id="i" readonly value="v">` +
		`<nav class="idps"><a id="cur" aria-current="true">Okta</a></nav><a class="skip" id="s">skip</a></section></main></body></html>`))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*html.Node{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if v, ok := attr(n, "id"); ok {
			byID[v] = n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	accent, fg := norm(colourOf("var(--accent)", ss.vars)), norm(colourOf("var(--fg)", ss.vars))
	for _, tc := range []struct {
		id      string
		focused bool
		fg, bg  string
	}{
		{"x", false, accent, "#fffaeb"},    // a link in the new key's box
		{"b", false, accent, "#ffffff"},    // .revoke button beats button
		{"c", false, "#ffffff", accent},    // a plain button
		{"i", false, "#000000", "#f3f5f7"}, // a read-only field: the browser's text colour
		{"cur", false, fg, "#e8f1fb"},      // .idps a beats a; [aria-current] paints
		{"s", true, accent, "#ffffff"},     // .skip:focus
		{"s", false, accent, "#ffffff"},    // in a section
	} {
		n := byID[tc.id]
		gotFG, _ := ss.textColour(n, tc.focused)
		gotBG, _ := ss.backgroundBehind(n, tc.focused)
		if gotFG != tc.fg || gotBG != tc.bg {
			t.Errorf("#%s (focused %v): %s on %s, want %s on %s", tc.id, tc.focused, gotFG, gotBG, tc.fg, tc.bg)
		}
	}
}
