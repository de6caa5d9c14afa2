package scim

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// expr is a filter expression in this package's own form, converted from the
// filter parser's AST: names are kept as written and resolved against the
// schemas when evaluated.
type expr interface{ isExpr() }

type andExpr struct{ left, right expr }
type orExpr struct{ left, right expr }
type notExpr struct{ inner expr }

// compareExpr is `attr op value` (op "pr" has no value).
type compareExpr struct {
	attr  attrRef
	op    string // lower case: eq ne co sw ew gt ge lt le pr
	value any    // string, bool, float64, int or nil
}

// valuePathExpr is `attr[filter]`: some element of attr matches filter.
type valuePathExpr struct {
	attr   attrRef
	filter expr
}

func (andExpr) isExpr()       {}
func (orExpr) isExpr()        {}
func (notExpr) isExpr()       {}
func (compareExpr) isExpr()   {}
func (valuePathExpr) isExpr() {}

// attrRef is an attribute path inside a filter: optional schema URN, name
// and optional sub-attribute.
type attrRef struct{ urn, name, sub string }

func refFromParser(p filter.AttributePath) attrRef {
	r := attrRef{urn: p.URI(), name: p.AttributeName, sub: p.SubAttributeName()}
	if isCoreURN(r.urn) {
		r.urn = ""
	}
	return r
}

// convertExpr turns the filter parser's AST into expr. depth counts nesting
// so that a hostile filter cannot recurse without bound.
func convertExpr(e filter.Expression, depth int) (expr, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxFilterDepth)
	}
	switch t := e.(type) {
	case *filter.LogicalExpression:
		// and/or chains are flat in the text (their nesting is bounded by
		// the length limit); only not and value paths count as depth here.
		l, err := convertExpr(t.Left, depth)
		if err != nil {
			return nil, err
		}
		r, err := convertExpr(t.Right, depth)
		if err != nil {
			return nil, err
		}
		if t.Operator == filter.OR {
			return orExpr{l, r}, nil
		}
		return andExpr{l, r}, nil
	case *filter.NotExpression:
		// not always takes parentheses, already counted by ParseFilter.
		in, err := convertExpr(t.Expression, depth)
		if err != nil {
			return nil, err
		}
		return notExpr{in}, nil
	case *filter.AttributeExpression:
		c := compareExpr{attr: refFromParser(t.AttributePath), op: strings.ToLower(string(t.Operator))}
		switch v := t.CompareValue.(type) {
		case string:
			s, err := unescapeFilterString(v)
			if err != nil {
				return nil, err
			}
			c.value = s
		case int:
			c.value = float64(v)
		default:
			c.value = v
		}
		return c, nil
	case *filter.ValuePath:
		in, err := convertExpr(t.ValueFilter, depth+1)
		if err != nil {
			return nil, err
		}
		return valuePathExpr{attr: refFromParser(t.AttributePath), filter: in}, nil
	}
	return nil, fmt.Errorf("unsupported expression %T", e)
}

// unescapeFilterString decodes the JSON escapes the parser leaves in strings.
func unescapeFilterString(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return "", fmt.Errorf("bad string escape in %q", s)
	}
	return out, nil
}

// lookupKey finds key in m, exactly or else case-insensitively.
func lookupKey(m map[string]any, key string) (string, any, bool) {
	if v, ok := m[key]; ok {
		return key, v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return k, v, true
		}
	}
	return "", nil, false
}

func asMap(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case Attrs:
		return map[string]any(t), true
	}
	return nil, false
}

// evalContext says where names in an expression are resolved: at the top of
// a resource (parent nil) or inside the elements of a multi-valued complex
// attribute (parent is its definition).
type evalContext struct {
	parent *Attribute
	set    *SchemaSet
}

// defOf returns the definition of r's target in ctx, or nil when unknown.
func (ctx evalContext) defOf(r attrRef) *Attribute {
	var d *Attribute
	switch {
	case ctx.parent != nil:
		d = ctx.parent.Sub(r.name)
	case r.urn != "":
		d = ctx.set.schemaByURN(r.urn).Attribute(r.name)
	default:
		d = coreAttribute(nil, r.name)
	}
	if r.sub != "" {
		return d.Sub(r.sub)
	}
	return d
}

// values collects the values r designates in m, flattening multi-valued
// attributes.
func (ctx evalContext) values(m map[string]any, r attrRef) []any {
	container := m
	if r.urn != "" && ctx.parent == nil {
		_, ext, ok := lookupKey(m, r.urn)
		if !ok {
			return nil
		}
		if container, ok = asMap(ext); !ok {
			return nil
		}
	}
	_, v, ok := lookupKey(container, r.name)
	if !ok {
		return nil
	}
	top := flatten(v)
	if r.sub == "" {
		return top
	}
	var out []any
	for _, el := range top {
		if em, ok := asMap(el); ok {
			if _, sv, ok := lookupKey(em, r.sub); ok {
				out = append(out, flatten(sv)...)
			}
		}
	}
	return out
}

func flatten(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// eval reports whether m satisfies e.
func (ctx evalContext) eval(e expr, m map[string]any) bool {
	switch t := e.(type) {
	case andExpr:
		return ctx.eval(t.left, m) && ctx.eval(t.right, m)
	case orExpr:
		return ctx.eval(t.left, m) || ctx.eval(t.right, m)
	case notExpr:
		return !ctx.eval(t.inner, m)
	case valuePathExpr:
		def := ctx.defOf(t.attr)
		inner := evalContext{parent: def, set: ctx.set}
		if def == nil {
			inner.parent = &Attribute{Type: TypeComplex}
		}
		for _, el := range ctx.values(m, t.attr) {
			if em, ok := asMap(el); ok && inner.eval(t.filter, em) {
				return true
			}
		}
		return false
	case compareExpr:
		return ctx.compare(t, m)
	}
	return false
}

func (ctx evalContext) compare(c compareExpr, m map[string]any) bool {
	def := ctx.defOf(c.attr)
	vals := ctx.values(m, c.attr)
	// A multi-valued complex attribute compared as a whole compares its
	// "value" sub-attribute (RFC 7644 §3.4.2.2).
	if c.attr.sub == "" {
		var sub []any
		complexVals := false
		for _, v := range vals {
			if em, ok := asMap(v); ok {
				complexVals = true
				if _, sv, ok := lookupKey(em, "value"); ok {
					sub = append(sub, sv)
				}
			}
		}
		if complexVals {
			vals = sub
			if def != nil {
				def = def.Sub("value")
			}
		}
	}
	switch c.op {
	case "pr":
		for _, v := range vals {
			if present(v) {
				return true
			}
		}
		return false
	case "ne":
		return !ctx.compare(compareExpr{attr: c.attr, op: "eq", value: c.value}, m)
	}
	if c.value == nil {
		if c.op == "eq" {
			for _, v := range vals {
				if present(v) {
					return false
				}
			}
			return true
		}
		return false
	}
	for _, v := range vals {
		if compareOne(c.op, v, c.value, def) {
			return true
		}
	}
	return false
}

func present(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}

// compareOne applies op to one attribute value and the filter's value.
func compareOne(op string, actual, want any, def *Attribute) bool {
	switch a := actual.(type) {
	case string:
		w, ok := want.(string)
		if !ok {
			return false
		}
		if def != nil && def.Type == TypeDateTime {
			at, err1 := time.Parse(time.RFC3339Nano, a)
			wt, err2 := time.Parse(time.RFC3339Nano, w)
			if err1 == nil && err2 == nil {
				return orderOp(op, at.Compare(wt))
			}
		}
		if def == nil || !def.CaseExact {
			a, w = strings.ToLower(a), strings.ToLower(w)
		}
		switch op {
		case "eq":
			return a == w
		case "co":
			return strings.Contains(a, w)
		case "sw":
			return strings.HasPrefix(a, w)
		case "ew":
			return strings.HasSuffix(a, w)
		}
		return orderOp(op, strings.Compare(a, w))
	case bool:
		w, ok := want.(bool)
		return ok && op == "eq" && a == w
	}
	af, ok1 := toFloat(actual)
	wf, ok2 := toFloat(want)
	if !ok1 || !ok2 {
		return false
	}
	switch {
	case af < wf:
		return orderOp(op, -1)
	case af > wf:
		return orderOp(op, 1)
	}
	return orderOp(op, 0)
}

func orderOp(op string, cmp int) bool {
	switch op {
	case "eq":
		return cmp == 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, !math.IsNaN(t)
	case float32:
		return float64(t), true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}
