package scim

import (
	"errors"
	"strings"
)

// PATCH operation names (RFC 7644 §3.5.2), lower case.
const (
	OpAdd     = "add"
	OpReplace = "replace"
	OpRemove  = "remove"
)

// PatchOperation is one operation of a PatchOp request.
type PatchOperation struct {
	Op       string // OpAdd, OpReplace or OpRemove (parsed case-insensitively)
	Path     *Path  // nil when the operation has no path
	Value    any    // nil when absent or null
	HasValue bool   // the operation carried a "value" member
}

// Patch is a parsed PatchOp request.
type Patch struct {
	Operations []PatchOperation
	set        *SchemaSet // the schemas the operations apply against; nil: default
}

// MaxPatchOperations bounds the operations of one PATCH request (400
// tooMany beyond it).
const MaxPatchOperations = 1000

// ParsePatch decodes and validates a PatchOp body. Errors are *Error:
// invalidSyntax for a malformed body, a foreign schemas list or missing
// Operations; invalidValue for an empty Operations, an unknown op or a
// missing/ill-typed value; invalidPath for a bad path; noTarget for a remove
// without path. Errors name the failing operation's index.
func ParsePatch(body []byte) (*Patch, error) { return defaultSchemaSet.ParsePatch(body) }

// ParsePatch is ParsePatch against the set: paths resolve against its
// extensions, and ApplyUser / ApplyGroup validate against it.
func (ss *SchemaSet) ParsePatch(body []byte) (*Patch, error) {
	m, err := decodeRequest(body, "patch")
	if err != nil {
		return nil, err
	}
	return ss.PatchFromObject(m)
}

// PatchFromObject is ParsePatch for a body already decoded (a bulk
// operation's data).
func (ss *SchemaSet) PatchFromObject(m map[string]any) (*Patch, error) {
	ss = ss.set()
	var ops any
	haveOps := false
	for _, k := range sortedKeys(m) {
		switch strings.ToLower(k) {
		case "schemas":
			if !listHolds(m[k], SchemaPatchOp) {
				return nil, BadRequest(ScimTypeInvalidSyntax, "patch: schemas must be [%q]", SchemaPatchOp)
			}
		case "operations":
			ops, haveOps = m[k], true
		}
	}
	list, ok := ops.([]any)
	if !haveOps || !ok {
		return nil, BadRequest(ScimTypeInvalidSyntax, "patch: Operations must be an array")
	}
	if len(list) == 0 {
		return nil, BadRequest(ScimTypeInvalidValue, "patch: Operations is empty")
	}
	if len(list) > MaxPatchOperations {
		return nil, BadRequest(ScimTypeTooMany, "patch: %d operations, at most %d in one request", len(list), MaxPatchOperations)
	}
	p := &Patch{Operations: make([]PatchOperation, 0, len(list)), set: ss}
	for i, raw := range list {
		op, err := ss.parseOperation(raw)
		if err != nil {
			return nil, opError(i, err)
		}
		p.Operations = append(p.Operations, op)
	}
	return p, nil
}

func listHolds(v any, want string) bool {
	for _, x := range flatten(v) {
		if s, ok := x.(string); ok && strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

func (ss *SchemaSet) parseOperation(raw any) (PatchOperation, error) {
	var op PatchOperation
	m, ok := asMap(raw)
	if !ok {
		return op, BadRequest(ScimTypeInvalidSyntax, "not an object")
	}
	var path any
	for _, k := range sortedKeys(m) {
		switch strings.ToLower(k) {
		case "op":
			s, _ := m[k].(string)
			op.Op = strings.ToLower(strings.TrimSpace(s))
		case "path":
			path = m[k]
		case "value":
			op.Value, op.HasValue = m[k], true
		}
	}
	switch op.Op {
	case OpAdd, OpReplace, OpRemove:
	default:
		return op, BadRequest(ScimTypeInvalidValue, "op must be add, replace or remove")
	}
	switch s := path.(type) {
	case nil:
	case string:
		if strings.TrimSpace(s) != "" {
			p, err := ss.ParsePath(s)
			if err != nil {
				return op, err
			}
			op.Path = p
		}
	default:
		return op, BadRequest(ScimTypeInvalidPath, "path must be a string")
	}
	switch {
	case op.Op == OpRemove && op.Path == nil:
		return op, BadRequest(ScimTypeNoTarget, "remove needs a path")
	case op.Op != OpRemove && !op.HasValue:
		return op, BadRequest(ScimTypeInvalidValue, "%s needs a value", op.Op)
	case op.Op != OpRemove && op.Path == nil:
		v, isMap := asMap(op.Value)
		if !isMap {
			return op, BadRequest(ScimTypeInvalidValue, "%s without path needs an object value", op.Op)
		}
		if err := ss.oneKeyPerAttribute(v, nil); err != nil {
			return op, err
		}
	}
	return op, nil
}

// opError prefixes a *Error's detail with the operation index.
func opError(i int, err error) error {
	var se *Error
	if errors.As(err, &se) {
		return &Error{Status: se.Status, ScimType: se.ScimType, Detail: "operation " + itoa(i) + ": " + se.Detail}
	}
	return BadRequest(ScimTypeInvalidValue, "operation %d: %v", i, err)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// patchTarget is what the operations apply to: the resource's core schema
// and where passwords and members go.
type patchTarget struct {
	core     *Schema
	password **string       // nil: passwords are not accepted (groups)
	members  *memberChanges // nil: members are attributes like any other (users)
	set      *SchemaSet
}

// ApplyUser applies the operations to a copy of a, all or nothing; it
// returns the new attributes and the password if an operation set one (path
// "password" or a path-less {"password": ...}). Unknown core attributes and
// unknown sub-attributes are ignored, as ParseUser ignores them; read-only
// keys (id, meta, schemas, groups) in a path-less value are ignored, an
// explicit path to a read-only attribute is 400 mutability. Errors are *Error
// naming the failing operation.
func (p *Patch) ApplyUser(a Attrs) (Attrs, *string, error) {
	out := a.Clone()
	if out == nil {
		out = Attrs{}
	}
	var password *string
	t := patchTarget{core: UserSchema, password: &password, set: p.set.set()}
	for i, op := range p.Operations {
		if err := t.apply(out, op); err != nil {
			return nil, nil, opError(i, err)
		}
	}
	if err := t.set.checkRequired(out, UserSchema); err != nil {
		return nil, nil, err
	}
	if err := checkExtensions(out); err != nil {
		return nil, nil, err
	}
	return out, password, nil
}

func (t patchTarget) apply(a Attrs, op PatchOperation) error {
	if op.Path != nil {
		return t.applyPath(a, op.Op, op.Path, op.Value, op.HasValue, false)
	}
	m, _ := asMap(op.Value)
	return t.applyObject(a, op.Op, m)
}

// applyObject applies a path-less add or replace: each key of the value is
// an attribute name, a dotted or URN-prefixed path, or an extension URN with
// an object value.
func (t patchTarget) applyObject(a Attrs, op string, m map[string]any) error {
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch strings.ToLower(k) {
		case "id", "meta", "schemas":
			continue
		}
		if strings.EqualFold(k, t.core.ID) {
			if sub, ok := asMap(v); ok {
				if err := t.applyObject(a, op, sub); err != nil {
					return err
				}
			}
			continue
		}
		path, err := t.set.ParsePath(k)
		if err != nil {
			if sub, isMap := asMap(v); isMap && strings.Contains(k, ":") {
				// An extension URN the path grammar cannot read: merge as
				// is (lenient set) or ignore.
				if t.set.keepsUnknownExtensions() {
					mergeUnknownExtension(a, k, sub)
				}
				continue
			}
			return err
		}
		if err := t.applyPath(a, op, path, v, true, true); err != nil {
			return err
		}
	}
	return nil
}

func mergeUnknownExtension(a Attrs, urn string, v map[string]any) {
	k, cur, ok := lookupKey(a, urn)
	if !ok {
		k = urn
	}
	m, isMap := asMap(cur)
	if !isMap {
		m = map[string]any{}
	}
	for vk, vv := range v {
		if vv == nil {
			delete(m, vk)
		} else {
			m[vk] = cloneValue(vv)
		}
	}
	if len(m) == 0 {
		delete(a, k)
	} else {
		a[k] = m
	}
}

// applyPath applies one operation at path. pathless marks a key of a
// path-less value: read-only attributes are then skipped instead of
// rejected.
func (t patchTarget) applyPath(a Attrs, op string, path *Path, v any, hasValue, pathless bool) error {
	if path.IsExtension() {
		return t.applyExtension(a, op, path, v)
	}
	if path.URN() == "" && strings.EqualFold(path.name, "password") && path.sub == "" && path.filter == nil && t.password != nil {
		switch pw := v.(type) {
		case string:
			if op != OpRemove {
				*t.password = &pw
			}
			return nil
		case nil:
			if op == OpRemove {
				return nil
			}
		}
		return BadRequest(ScimTypeInvalidValue, "password must be a string")
	}
	var def *Attribute
	if path.URN() == "" {
		def = coreAttribute(t.core, path.name)
		if def == nil {
			return nil // unknown core attribute: ignored
		}
	} else if sch := t.set.schemaByURN(path.URN()); sch != nil {
		def = sch.Attribute(path.name)
		if def == nil {
			return nil // not an attribute of a known extension: ignored
		}
	} else if !t.set.keepsUnknownExtensions() {
		return nil // an undeclared extension: ignored
	}
	if def != nil && path.sub != "" && def.Sub(path.sub) == nil {
		return nil
	}
	if def != nil && (def.Mutability == MutabilityReadOnly || def.Name == "id") {
		if pathless {
			return nil
		}
		return Errorf(400, ScimTypeMutability, "attribute %q is read-only", def.Name)
	}
	if t.members != nil && def != nil && def.Name == "members" {
		return t.applyMembers(op, path, v, hasValue)
	}
	switch op {
	case OpRemove:
		if hasValue && v != nil && path.filter == nil && path.sub == "" && def != nil && def.MultiValued {
			removeValues(a, path, v)
			return nil
		}
		path.Remove(a)
		return nil
	case OpAdd:
		if path.filter == nil && path.sub == "" && def != nil && def.MultiValued {
			return appendValues(a, path, def, v)
		}
	}
	if path.filter == nil && path.sub == "" && def != nil && def.Type == TypeComplex && !def.MultiValued {
		if m, ok := asMap(v); ok {
			return t.mergeComplex(a, path, def, m)
		}
	}
	return path.Set(a, v)
}

// applyExtension adds to or replaces an extension object key by key (RFC
// 7644 §3.5.2.3: sub-attributes not given are left as they are), or removes
// it.
func (t patchTarget) applyExtension(a Attrs, op string, path *Path, v any) error {
	if op == OpRemove {
		path.Remove(a)
		return nil
	}
	m, ok := asMap(v)
	if !ok {
		if v == nil {
			path.Remove(a)
			return nil
		}
		return BadRequest(ScimTypeInvalidValue, "extension %q must be an object", path.URN())
	}
	sch := t.set.schemaByURN(path.URN())
	if sch == nil {
		if t.set.keepsUnknownExtensions() {
			mergeUnknownExtension(a, path.URN(), m)
		}
		return nil
	}
	for _, k := range sortedKeys(m) {
		sub, err := t.set.ParsePath(sch.ID + ":" + k)
		if err != nil {
			continue
		}
		if err := t.applyPath(a, op, sub, m[k], true, true); err != nil {
			return err
		}
	}
	return nil
}

// mergeComplex sets the given sub-attributes of a single-valued complex
// attribute, leaving the others.
func (t patchTarget) mergeComplex(a Attrs, path *Path, def *Attribute, m map[string]any) error {
	for _, k := range sortedKeys(m) {
		sd := def.Sub(k)
		if sd == nil {
			continue
		}
		sub, err := t.set.ParsePath(path.raw + "." + sd.Name)
		if err != nil {
			return err
		}
		if err := sub.Set(a, m[k]); err != nil {
			return err
		}
	}
	return nil
}

// appendValues adds values to a multi-valued attribute, skipping those
// already present (one pass over each list: a set of the present values).
func appendValues(a Attrs, path *Path, def *Attribute, v any) error {
	n, err := normalizeValue(def, v, def.Name)
	if err != nil || n == nil {
		return err
	}
	cur, _ := path.Get(a)
	list := append([]any(nil), flatten(cur)...)
	added := n.([]any)
	present := make(valueSet, len(list)+len(added))
	for _, el := range list {
		present.add(el)
	}
	for _, el := range added {
		if present.add(el) {
			list = append(list, el)
		}
	}
	return path.Set(a, list) // over MaxAttributeValues: tooMany
}

// removeValues removes the given elements from a multi-valued attribute:
// elements with the same "value" when the given element has one, else
// equal elements. Elements not present are not an error.
func removeValues(a Attrs, path *Path, v any) {
	cur, ok := path.Get(a)
	if !ok {
		return
	}
	m := newValueMatcher(flatten(v))
	var kept []any
	for _, el := range flatten(cur) {
		if !m.matches(el) {
			kept = append(kept, el)
		}
	}
	if len(kept) == 0 {
		path.Remove(a)
		return
	}
	_ = path.Set(a, kept) // kept holds values already in canonical form
}

// valueMatcher answers, for each element of a list, whether one of the
// targets of a remove names it: a target object with a "value" names the
// objects with an equal "value"; any other target names equal elements
// (and a target object with a "value" also names an equal element that is
// not an object). Built once, each question is one lookup.
type valueMatcher struct {
	byValue valueSet // "value" of the target objects that have one
	whole   valueSet // targets without a "value" (objects or not)
	all     valueSet // every target, for elements that are not objects
}

func newValueMatcher(targets []any) valueMatcher {
	m := valueMatcher{byValue: valueSet{}, whole: valueSet{}, all: valueSet{}}
	for _, t := range targets {
		m.all.add(t)
		if tm, ok := asMap(t); ok {
			if _, tv, ok := lookupKey(tm, "value"); ok {
				m.byValue.add(tv)
				continue
			}
		}
		m.whole.add(t)
	}
	return m
}

func (m valueMatcher) matches(el any) bool {
	em, ok := asMap(el)
	if !ok {
		return m.all.has(el)
	}
	if _, ev, ok := lookupKey(em, "value"); ok && m.byValue.has(ev) {
		return true
	}
	return m.whole.has(el)
}
