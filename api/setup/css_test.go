package setup

// The style sheet's accessibility: text colours against the backgrounds
// they are shown on have a WCAG 2 contrast ratio of at least 4.5:1, and
// every focusable kind of element gets a visible focus outline (3:1
// against the page, WCAG 1.4.11). These check the style sheet's rules one
// by one; contrast_test.go checks every text colour and background of the
// rendered pages, nested ones included.

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

type cssRule struct {
	selector string
	decls    map[string]string
}

var ruleRE = regexp.MustCompile(`([^{}]+)\{([^{}]*)\}`)

// parseCSS reads the rules of the style sheet, @media blocks' included
// (flattened: their colours count too).
func parseCSS(t *testing.T) []cssRule {
	t.Helper()
	b, err := assetFiles.ReadFile("assets/setup.css")
	if err != nil {
		t.Fatal(err)
	}
	src := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(b), "")
	var rules []cssRule
	for _, m := range ruleRE.FindAllStringSubmatch(src, -1) {
		r := cssRule{selector: strings.TrimSpace(m[1]), decls: map[string]string{}}
		for _, d := range strings.Split(m[2], ";") {
			k, v, ok := strings.Cut(d, ":")
			if ok {
				r.decls[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		rules = append(rules, r)
	}
	if len(rules) < 20 {
		t.Fatalf("parsed %d rules: the parser does not read the style sheet", len(rules))
	}
	return rules
}

var hexRE = regexp.MustCompile(`#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b`)

// colourOf is the first colour of a declaration's value, custom
// properties resolved ("" when it names none).
func colourOf(v string, vars map[string]string) string {
	for strings.Contains(v, "var(") {
		i := strings.Index(v, "var(")
		j := strings.Index(v[i:], ")")
		name := strings.TrimSpace(v[i+4 : i+j])
		v = v[:i] + vars[name] + v[i+j+1:]
	}
	switch strings.TrimSpace(v) {
	case "white":
		return "#ffffff"
	case "black":
		return "#000000"
	}
	return hexRE.FindString(v)
}

// luminance is the WCAG 2 relative luminance of #rgb or #rrggbb.
func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var c [3]float64
	for i := range 3 {
		n, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatalf("colour %q: %v", hex, err)
		}
		s := float64(n) / 255
		if s <= 0.03928 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func TestContrastRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{{"#000", "#fff", 21}, {"#fff", "#fff", 1}, {"#777777", "#ffffff", 4.48}} {
		if got := contrast(t, tc.a, tc.b); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.2f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}

// decorative rules paint no text (a status dot, aria-hidden).
var decorative = map[string]bool{".dot": true}

func TestStyleSheetTextContrast(t *testing.T) {
	rules := parseCSS(t)
	vars := map[string]string{}
	for _, r := range rules {
		if r.selector == ":root" {
			for k, v := range r.decls {
				vars[k] = v
			}
		}
	}
	fg, pageBG := colourOf("var(--fg)", vars), colourOf("var(--bg)", vars)
	if fg == "" || pageBG == "" {
		t.Fatalf("no --fg or --bg in :root: %v", vars)
	}
	// Text without a background of its own is on the page (--bg: the
	// header) or on a section (white).
	surfaces := []string{pageBG, "#ffffff"}
	checked := 0
	for _, r := range rules {
		if r.selector == ":root" || decorative[r.selector] {
			continue
		}
		text := colourOf(r.decls["color"], vars)
		bg := colourOf(r.decls["background"], vars)
		if bg == "" {
			bg = colourOf(r.decls["background-color"], vars)
		}
		var pairs [][2]string
		switch {
		case text != "" && bg != "":
			pairs = [][2]string{{text, bg}}
		case text != "":
			for _, s := range surfaces {
				pairs = append(pairs, [2]string{text, s})
			}
		case bg != "":
			pairs = [][2]string{{fg, bg}} // inherited text on its background
		}
		for _, p := range pairs {
			checked++
			if got := contrast(t, p[0], p[1]); got < 4.5 {
				t.Errorf("%s: text %s on %s has a contrast of %.2f:1, want at least 4.5:1", r.selector, p[0], p[1], got)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d colour pairs checked", checked)
	}
}

// Links, buttons, fields and summaries show a focus outline of 2px or
// more, in a colour of 3:1 or more against the page and the sections.
func TestStyleSheetFocusIndicator(t *testing.T) {
	rules := parseCSS(t)
	vars := map[string]string{}
	covered := map[string]bool{}
	for _, r := range rules {
		if r.selector == ":root" {
			for k, v := range r.decls {
				vars[k] = v
			}
		}
	}
	for _, r := range rules {
		outline := r.decls["outline"]
		if outline == "" {
			continue
		}
		for _, sel := range strings.Split(r.selector, ",") {
			sel = strings.TrimSpace(sel)
			elem, ok := strings.CutSuffix(sel, ":focus")
			if !ok {
				elem, ok = strings.CutSuffix(sel, ":focus-visible")
			}
			if !ok {
				continue
			}
			fields := strings.Fields(outline)
			width, _ := strconv.ParseFloat(strings.TrimSuffix(fields[0], "px"), 64)
			colour := colourOf(outline, vars)
			if len(fields) < 3 || width < 2 || fields[1] == "none" || colour == "" {
				t.Errorf("%s: outline %q is not a visible indicator (2px or more, a style, a colour)", sel, outline)
				continue
			}
			for _, bg := range []string{colourOf("var(--bg)", vars), "#ffffff"} {
				if got := contrast(t, colour, bg); got < 3 {
					t.Errorf("%s: the focus outline %s on %s has a contrast of %.2f:1, want at least 3:1", sel, colour, bg, got)
				}
			}
			covered[elem] = true
		}
	}
	for _, elem := range []string{"a", "button", "input", "summary"} {
		if !covered[elem] {
			t.Errorf("no focus outline for %s (rules with an outline cover %v)", elem, covered)
		}
	}
}
