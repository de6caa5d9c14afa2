package scim

import (
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// maxPathLength bounds the length of an attribute path.
const maxPathLength = 1024

// Path is a parsed SCIM attribute path (RFC 7644 §3.10 / §3.5.2 PATCH path):
// "userName", "name.givenName", `emails[type eq "work"].value`,
// `emails[type eq "work"]`, `members[value eq "x"]`,
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
// "urn:...:User:manager.value", or a whole extension schema URN (the
// extension object). Attribute names match case-insensitively; Set writes the
// names as the schema spells them (as written when the schema does not know
// them). Extension attributes live nested under their schema URN in Attrs.
//
// Names are resolved against the User, Enterprise User and Group schemas
// together, so one Path works on users and groups alike.
type Path struct {
	raw    string
	urn    string // extension schema URN; "" for core attributes
	whole  bool   // the path is the extension object itself
	name   string // attribute name as written
	sub    string // sub-attribute name as written, "" if none
	filter expr   // value filter, nil if none
	set    *SchemaSet
}

// ParsePath parses s against the default schema set; errors are *Error
// with scimType invalidPath.
func ParsePath(s string) (*Path, error) { return defaultSchemaSet.ParsePath(s) }

// ParsePath parses s, resolving extension URNs against the set; errors are
// *Error with scimType invalidPath.
func (ss *SchemaSet) ParsePath(s string) (*Path, error) {
	ss = ss.set()
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return nil, BadRequest(ScimTypeInvalidPath, "empty attribute path")
	}
	if len(trimmed) > maxPathLength {
		return nil, BadRequest(ScimTypeInvalidPath, "attribute path longer than %d characters", maxPathLength)
	}
	if sch := ss.schemaByURN(trimmed); sch != nil {
		if isCoreURN(sch.ID) {
			return nil, BadRequest(ScimTypeInvalidPath, "path %q names a core schema, not an attribute", s)
		}
		return &Path{raw: s, urn: sch.ID, whole: true, set: ss}, nil
	}
	if name, sub, ok := simplePath(trimmed); ok {
		// The common case (every key of a path-less PATCH value, most
		// paths): what the grammar below would return, without it (it
		// was a fifth of a PATCH's CPU).
		return &Path{raw: s, name: name, sub: sub, set: ss}, nil
	}
	fp, err := filter.ParsePath([]byte(trimmed))
	if err != nil {
		return nil, BadRequest(ScimTypeInvalidPath, "invalid attribute path %q", s)
	}
	p := &Path{
		raw:  s,
		urn:  fp.AttributePath.URI(),
		name: fp.AttributePath.AttributeName,
		sub:  fp.AttributePath.SubAttributeName(),
		set:  ss,
	}
	if fp.ValueExpression != nil {
		if p.sub != "" {
			return nil, BadRequest(ScimTypeInvalidPath, "invalid attribute path %q: filter after a sub-attribute", s)
		}
		p.sub = fp.SubAttributeName()
		p.filter, err = convertExpr(fp.ValueExpression, 1)
		if err != nil {
			return nil, BadRequest(ScimTypeInvalidPath, "invalid value filter in path %q: %v", s, err)
		}
	}
	switch {
	case p.urn == "":
	case isCoreURN(p.urn):
		p.urn = ""
	case p.filter == nil && p.sub == "" && ss.schemaByURN(p.urn) == nil &&
		(strings.EqualFold(p.name, "User") || strings.EqualFold(p.name, "Group")):
		// An unknown extension's URN by itself, such as
		// "urn:okta:custom:1.0:User": the extension object.
		p.urn, p.name, p.whole = p.urn+":"+p.name, "", true
	}
	if sch := ss.schemaByURN(p.urn); sch != nil {
		p.urn = sch.ID
	}
	return p, nil
}

// String returns the path as written.
func (p *Path) String() string { return p.raw }

// URN returns the extension schema URN of the path, "" for core attributes.
func (p *Path) URN() string { return p.urn }

// Attribute returns the top-level attribute name as the schema spells it
// (as written when unknown); "" for a whole extension object.
func (p *Path) Attribute() string {
	if d := p.def(); d != nil {
		return d.Name
	}
	return p.name
}

// SubAttribute returns the sub-attribute name, "" if none.
func (p *Path) SubAttribute() string {
	if s := p.def().Sub(p.sub); s != nil {
		return s.Name
	}
	return p.sub
}

// HasFilter reports whether the path carries a value filter.
func (p *Path) HasFilter() bool { return p.filter != nil }

// IsExtension reports whether the path is a whole extension object.
func (p *Path) IsExtension() bool { return p.whole }

// def is the definition of the path's top-level attribute, nil if unknown.
func (p *Path) def() *Attribute {
	if p.whole {
		return nil
	}
	if p.urn != "" {
		return p.set.schemaByURN(p.urn).Attribute(p.name)
	}
	return coreAttribute(nil, p.name)
}

// container returns the map holding the path's attribute: a itself or the
// extension object; create makes a missing extension object.
func (p *Path) container(a Attrs, create bool) map[string]any {
	if p.urn == "" {
		return a
	}
	k, v, ok := lookupKey(a, p.urn)
	if ok {
		if m, isMap := asMap(v); isMap {
			return m
		}
	}
	if !create {
		return nil
	}
	if !ok {
		k = p.urn
	}
	m := map[string]any{}
	a[k] = m
	return m
}

// matches reports whether a multi-valued element satisfies the path's filter.
func (p *Path) matches(el any) bool {
	m, ok := asMap(el)
	if !ok {
		return false
	}
	parent := p.def()
	if parent == nil {
		parent = &Attribute{Type: TypeComplex}
	}
	return evalContext{parent: parent, set: p.set}.eval(p.filter, m)
}

// Get returns the value at p in a and whether it exists. For a filtered
// path it is the first matching element (or its sub-attribute); for a
// sub-attribute of an unfiltered multi-valued attribute ("emails.value") it
// is the list of the elements' values.
func (p *Path) Get(a Attrs) (any, bool) {
	c := p.container(a, false)
	if c == nil {
		return nil, false
	}
	if p.whole {
		return c, true
	}
	_, v, ok := lookupKey(c, p.name)
	if !ok || v == nil {
		return nil, false
	}
	if p.filter != nil {
		for _, el := range flatten(v) {
			if !p.matches(el) {
				continue
			}
			if p.sub == "" {
				return el, true
			}
			m, _ := asMap(el)
			_, sv, ok := lookupKey(m, p.sub)
			return sv, ok && sv != nil
		}
		return nil, false
	}
	if p.sub == "" {
		return v, true
	}
	if m, ok := asMap(v); ok {
		_, sv, ok := lookupKey(m, p.sub)
		return sv, ok && sv != nil
	}
	if list, ok := v.([]any); ok {
		var out []any
		for _, el := range list {
			if m, ok := asMap(el); ok {
				if _, sv, ok := lookupKey(m, p.sub); ok && sv != nil {
					out = append(out, sv)
				}
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// setKey stores v under the schema's spelling of name in m, removing other
// spellings; a nil v deletes.
func setKey(m map[string]any, name string, def *Attribute, v any) {
	canon := name
	if def != nil {
		canon = def.Name
	} else if k, _, ok := lookupKey(m, name); ok {
		canon = k
	}
	deleteKey(m, name)
	if v != nil {
		m[canon] = v
	}
}

func deleteKey(m map[string]any, name string) {
	for k := range m {
		if strings.EqualFold(k, name) {
			delete(m, k)
		}
	}
}

// Set stores v at p in a (replace semantics), creating intermediate complex
// attributes and, for a value-filtered path whose element is missing, a new
// element that satisfies the filter's eq conditions. v is checked against
// the schema and stored in canonical form; a nil v removes. Errors are *Error
// with scimType invalidValue (or invalidPath for a nil a).
func (p *Path) Set(a Attrs, v any) error { return p.setValue(a, v, false) }

// SetStored is Set for a value read from a tenant's store rather than sent
// in a request: the store holds what it holds, so the plain-text rules of
// the attributes that name a resource (checkPlainText: no control
// characters, bounded length) are not applied; whatever prints it escapes
// it. Everything else is checked as Set checks it.
func (p *Path) SetStored(a Attrs, v any) error { return p.setValue(a, v, true) }

func (p *Path) setValue(a Attrs, v any, stored bool) error {
	if a == nil {
		return BadRequest(ScimTypeInvalidPath, "cannot set %q in nil attributes", p.raw)
	}
	if p.whole {
		return p.setExtension(a, v)
	}
	if v == nil {
		p.Remove(a)
		return nil
	}
	def := p.def()
	c := p.container(a, true)
	_, cur, _ := lookupKey(c, p.name)
	switch {
	case p.filter == nil && p.sub == "":
		check := def
		if stored && def != nil && def.maxChars > 0 {
			unchecked := *def
			unchecked.maxChars = 0
			check = &unchecked
		}
		n, err := normalizeValue(check, v, p.Attribute())
		if err != nil {
			return err
		}
		setKey(c, p.name, def, n)
	case p.filter == nil:
		subDef := def.Sub(p.sub)
		n, err := normalizeValue(subDef, v, p.Attribute()+"."+p.SubAttribute())
		if err != nil {
			return err
		}
		switch t := cur.(type) {
		case []any:
			if len(t) == 0 {
				setKey(c, p.name, def, []any{map[string]any{p.SubAttribute(): n}})
			}
			for _, el := range t {
				if m, ok := asMap(el); ok {
					setKey(m, p.sub, subDef, n)
				}
			}
		default:
			m, ok := asMap(cur)
			if !ok {
				m = map[string]any{}
			}
			setKey(m, p.sub, subDef, n)
			var nv any = m
			if def != nil && def.MultiValued {
				nv = []any{m}
			}
			setKey(c, p.name, def, nv)
		}
	default:
		return p.setFiltered(c, cur, def, v)
	}
	p.cleanup(a, c)
	return nil
}

func (p *Path) setFiltered(c map[string]any, cur any, def *Attribute, v any) error {
	list := append([]any(nil), flatten(cur)...)
	var subDef *Attribute
	var n any
	var err error
	if p.sub != "" {
		subDef = def.Sub(p.sub)
		if n, err = normalizeValue(subDef, v, p.Attribute()+"."+p.SubAttribute()); err != nil {
			return err
		}
	} else {
		elemDef := def
		if def != nil {
			copied := *def
			copied.MultiValued = false
			elemDef = &copied
		}
		if n, err = normalizeValue(elemDef, v, p.Attribute()); err != nil {
			return err
		}
	}
	matched := false
	for i, el := range list {
		if !p.matches(el) {
			continue
		}
		matched = true
		if p.sub == "" {
			list[i] = n
			continue
		}
		m, _ := asMap(el)
		setKey(m, p.sub, subDef, n)
	}
	if !matched {
		el := p.filterEqualities(def)
		if p.sub == "" {
			if m, ok := asMap(n); ok {
				for k, x := range m {
					el[k] = x
				}
			} else if n != nil {
				el["value"] = n
			}
		} else if n != nil {
			setKey(el, p.sub, subDef, n)
		}
		list = append(list, el)
	}
	kept := list[:0]
	for _, el := range list {
		if el != nil {
			kept = append(kept, el)
		}
	}
	if len(kept) == 0 {
		setKey(c, p.name, def, nil)
	} else {
		setKey(c, p.name, def, kept)
	}
	return nil
}

// filterEqualities returns an element satisfying the eq conditions ANDed at
// the top of the path's filter: `type eq "work"` gives {"type": "work"}.
func (p *Path) filterEqualities(def *Attribute) map[string]any {
	el := map[string]any{}
	var walk func(e expr)
	walk = func(e expr) {
		switch t := e.(type) {
		case andExpr:
			walk(t.left)
			walk(t.right)
		case compareExpr:
			if t.op != "eq" || t.attr.sub != "" || t.attr.urn != "" || t.value == nil {
				return
			}
			sd := def.Sub(t.attr.name)
			n, err := normalizeValue(sd, t.value, t.attr.name)
			if err == nil && n != nil {
				setKey(el, t.attr.name, sd, n)
			}
		}
	}
	walk(p.filter)
	return el
}

func (p *Path) setExtension(a Attrs, v any) error {
	k, _, ok := lookupKey(a, p.urn)
	if !ok {
		k = p.urn
	}
	if v == nil {
		delete(a, k)
		return nil
	}
	m, isMap := asMap(v)
	if !isMap {
		return BadRequest(ScimTypeInvalidValue, "extension %q must be an object", p.urn)
	}
	n, err := p.set.normalizeExtension(p.urn, m)
	if err != nil {
		return err
	}
	deleteKey(a, p.urn)
	if len(n) > 0 {
		a[k] = n
	}
	return nil
}

// normalizeExtension checks and canonicalises an extension object: against
// its schema when known; otherwise kept as is by a lenient set and dropped
// (nil) by an exact one.
func (ss *SchemaSet) normalizeExtension(urn string, m map[string]any) (map[string]any, error) {
	sch := ss.schemaByURN(urn)
	if sch == nil {
		if !ss.keepsUnknownExtensions() {
			return nil, nil
		}
		return cloneValue(m).(map[string]any), nil
	}
	out := map[string]any{}
	for _, k := range sortedKeys(m) {
		d := sch.Attribute(k)
		if d == nil {
			continue
		}
		n, err := normalizeValue(d, m[k], d.Name)
		if err != nil {
			return nil, err
		}
		if n != nil {
			out[d.Name] = n
		}
	}
	return out, nil
}

// Remove deletes the value at p from a; a missing value is not an error.
// Emptied multi-valued attributes, complex attributes and extension objects
// are removed too.
func (p *Path) Remove(a Attrs) {
	if a == nil {
		return
	}
	if p.whole {
		deleteKey(a, p.urn)
		return
	}
	c := p.container(a, false)
	if c == nil {
		return
	}
	_, cur, ok := lookupKey(c, p.name)
	if !ok {
		return
	}
	switch {
	case p.filter == nil && p.sub == "":
		deleteKey(c, p.name)
	case p.filter == nil:
		for _, el := range flatten(cur) {
			if m, ok := asMap(el); ok {
				deleteKey(m, p.sub)
			}
		}
		p.pruneList(c, cur)
	default:
		var kept []any
		for _, el := range flatten(cur) {
			if !p.matches(el) {
				kept = append(kept, el)
				continue
			}
			if p.sub != "" {
				m, _ := asMap(el)
				deleteKey(m, p.sub)
				kept = append(kept, el)
			}
		}
		p.pruneList(c, kept)
	}
	p.cleanup(a, c)
}

// pruneList stores v back under the path's attribute without emptied
// elements, removing the attribute when nothing is left.
func (p *Path) pruneList(c map[string]any, v any) {
	def := p.def()
	if list, isList := v.([]any); isList || v == nil {
		var kept []any
		for _, el := range list {
			if m, ok := asMap(el); ok && len(m) == 0 {
				continue
			}
			kept = append(kept, el)
		}
		if len(kept) == 0 {
			setKey(c, p.name, def, nil)
		} else {
			setKey(c, p.name, def, kept)
		}
		return
	}
	if m, ok := asMap(v); ok && len(m) == 0 {
		setKey(c, p.name, def, nil)
	}
}

// cleanup removes an emptied extension object.
func (p *Path) cleanup(a Attrs, c map[string]any) {
	if p.urn != "" && len(c) == 0 {
		deleteKey(a, p.urn)
	}
}

// simplePath splits a path that is ATTRNAME or ATTRNAME "." ATTRNAME
// (RFC 7644 §3.10: ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_")): no URN,
// no value filter. ok is false for anything else.
func simplePath(s string) (name, sub string, ok bool) {
	name, sub, dotted := strings.Cut(s, ".")
	if !isAttrName(name) || (dotted && !isAttrName(sub)) {
		return "", "", false
	}
	return name, sub, true
}

func isAttrName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
