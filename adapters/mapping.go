package adapters

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/scim"
)

// The mapping engine: SCIM attributes to store fields (Fields) and back
// (Attrs). It is shared by every store kind; a "field" is a SQL column or an
// LDAP attribute.
//
// Values written to the store are strings, with two exceptions:
//   - nil means the SCIM attribute is absent from the desired state. The
//     desired state is the whole resource, so an absent attribute means "no
//     value": an update clears the field (SQL NULL, LDAP attribute removed).
//     A create may simply leave the field out so the store's default applies.
//   - the active field holds the configured Active/Inactive string when those
//     are set, and a Go bool otherwise (a boolean column); each store kind
//     turns the bool into its own spelling (PostgreSQL true/false, MySQL and
//     SQLite 1/0, LDAP TRUE/FALSE).
//
// The password never goes through Fields: stores hash it (HashPassword) and
// may skip the write when the stored hash already verifies.

// Well-known SCIM paths the engine treats specially.
const (
	pathUserName   = "userName"
	pathExternalID = "externalId"
	pathID         = "id"
	pathActive     = "active"
	pathPassword   = "password"
)

// UserMapper is a UserMapping compiled for a store: its attribute paths are
// parsed and sorted once, when the store is opened (NewUserMapper), rather
// than for every user Fields and Attrs map. It is read-only and safe for
// concurrent use.
type UserMapper struct {
	paths  []mappedPath // sorted by path
	active *ActiveMapping
}

// mappedPath is one attribute of a compiled user mapping.
type mappedPath struct {
	raw   string     // as configured: the key of UserMapping.Attributes
	field string     // the store field it maps to
	path  *scim.Path // parsed raw; nil for "id", which is not an attribute
}

// NewUserMapper compiles m. A path that does not parse is an error wrapping
// ErrConfig (Config.Validate reports it too, so a store that validated its
// configuration compiles it without error).
func NewUserMapper(m UserMapping) (*UserMapper, error) {
	sorted := m.sortedPaths()
	c := &UserMapper{paths: make([]mappedPath, 0, len(sorted))}
	for _, p := range sorted {
		mp := mappedPath{raw: p, field: m.Attributes[p]}
		if !strings.EqualFold(p, pathID) {
			path, err := scim.ParsePath(p)
			if err != nil {
				return nil, fmt.Errorf("adapters: mapping path %q: %w: %v", p, ErrConfig, err)
			}
			mp.path = path
		}
		c.paths = append(c.paths, mp)
	}
	if m.Active != nil {
		active := *m.Active
		c.active = &active
	}
	return c, nil
}

// Fields returns the store field values u maps to, keyed by field name: one
// per mapped attribute (nil when absent in u.Attrs) and the active field when
// activation is mapped. A value that cannot be stored in a single field (a
// complex attribute with no "value") is an error wrapping ErrRejected.
func (c *UserMapper) Fields(u User) (map[string]any, error) {
	fields := make(map[string]any, len(c.paths)+1)
	for _, mp := range c.paths {
		if mp.path == nil {
			fields[mp.field] = nilIfEmpty(u.ID)
			continue
		}
		raw, ok := mp.path.Get(u.Attrs)
		if !ok {
			fields[mp.field] = nil
			continue
		}
		v, err := fieldValue(raw)
		if err != nil {
			return nil, fmt.Errorf("adapters: attribute %s: %w: %v", mp.raw, ErrRejected, err)
		}
		fields[mp.field] = v
	}
	if c.active != nil {
		fields[c.active.Column] = c.active.value(u.Active)
	}
	return fields, nil
}

// Attrs builds SCIM attributes from a store entry's fields (as read from the
// store: string, []byte, integers, floats, bool, time.Time or nil). Fields
// that are missing or NULL are left out; the active field sets "active". The
// "id" mapping is not returned (Attrs never hold id).
func (c *UserMapper) Attrs(fields map[string]any) (scim.Attrs, error) {
	attrs := scim.Attrs{}
	for _, mp := range c.paths {
		if mp.path == nil {
			continue
		}
		s, ok := StoredString(fields[mp.field])
		if !ok {
			continue
		}
		if err := mp.path.SetStored(attrs, s); err != nil {
			return nil, fmt.Errorf("adapters: set %s from field %s: %w", mp.raw, mp.field, err)
		}
	}
	if c.active != nil {
		if active, ok := c.active.Parse(fields[c.active.Column]); ok {
			attrs[pathActive] = active
		}
	}
	return attrs, nil
}

// ID returns the SCIM id held in an entry's fields where "id" is mapped
// ("" when it is not, or the field is empty).
func (c *UserMapper) ID(fields map[string]any) string {
	for _, mp := range c.paths {
		if mp.path == nil {
			s, _ := StoredString(fields[mp.field])
			return s
		}
	}
	return ""
}

// MapsID reports whether the SCIM id is mapped to a field, so the store
// keeps each user's id (and `scimbridge recover` can give it back).
func (m UserMapping) MapsID() bool {
	_, ok := m.FieldFor(pathID)
	return ok
}

// Fields is NewUserMapper(m).Fields(u), for a one-off mapping (the mapping
// preview). It compiles m on every call, which costs far more than mapping
// a user: whatever maps many users compiles once with NewUserMapper.
func (m UserMapping) Fields(u User) (map[string]any, error) {
	c, err := NewUserMapper(m)
	if err != nil {
		return nil, err
	}
	return c.Fields(u)
}

// Columns returns every field the mapping reads or writes except the
// password: the attribute fields (sorted, without duplicates) and the active
// field.
func (m UserMapping) Columns() []string {
	cols := mappedFields(m.Attributes)
	if m.Active != nil && !slices.Contains(cols, m.Active.Column) {
		cols = append(cols, m.Active.Column)
	}
	return cols
}

// mappedFields is every field of an attributes mapping (path -> field),
// in path order, without duplicates.
func mappedFields(attributes map[string]string) []string {
	seen := map[string]bool{}
	var fields []string
	for _, p := range sortedPaths(attributes) {
		f := attributes[p]
		if !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	return fields
}

// FieldFor returns the field mapped to the SCIM path p (matched
// case-insensitively) and whether it is mapped.
func (m UserMapping) FieldFor(p string) (string, bool) {
	for _, path := range m.sortedPaths() {
		if strings.EqualFold(path, p) {
			return m.Attributes[path], true
		}
	}
	return "", false
}

// LookupFields returns the fields a lookup on attr compares against: the
// userName field, the externalId field, or every field holding an email
// value (`emails.value`, `emails[type eq "work"].value`, ...). Empty when the
// attribute is not mapped.
func (m UserMapping) LookupFields(attr Match) []string {
	switch attr {
	case MatchUserName:
		if c, ok := m.FieldFor(pathUserName); ok {
			return []string{c}
		}
	case MatchExternalID:
		if c, ok := m.FieldFor(pathExternalID); ok {
			return []string{c}
		}
	case MatchEmail:
		var cols []string
		seen := map[string]bool{}
		for _, p := range m.sortedPaths() {
			if isEmailValuePath(p) && !seen[m.Attributes[p]] {
				seen[m.Attributes[p]] = true
				cols = append(cols, m.Attributes[p])
			}
		}
		return cols
	}
	return nil
}

// KeyIsMapped reports whether the key field is also the field of a mapped
// attribute, so the key value comes from SCIM rather than the store.
func (m UserMapping) KeyIsMapped() bool {
	return isMappedField(m.Attributes, m.Key)
}

// isMappedField reports whether field is the field of some attribute.
func isMappedField(attributes map[string]string, field string) bool {
	for _, f := range attributes {
		if f == field {
			return true
		}
	}
	return false
}

// isEmailValuePath reports whether p addresses the value of an email:
// "emails.value", "emails[...].value" or "emails" (case-insensitive).
func isEmailValuePath(p string) bool {
	l := strings.ToLower(strings.TrimPrefix(strings.ToLower(p), strings.ToLower(scim.SchemaUser)+":"))
	if !strings.HasPrefix(l, "emails") {
		return false
	}
	rest := l[len("emails"):]
	if rest == "" || rest == ".value" {
		return true
	}
	return strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "].value")
}

func (m UserMapping) sortedPaths() []string { return sortedPaths(m.Attributes) }

// sortedPaths is the paths of an attributes mapping, sorted.
func sortedPaths(attributes map[string]string) []string {
	paths := make([]string, 0, len(attributes))
	for p := range attributes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// value returns the field value for the active flag.
func (a *ActiveMapping) value(active bool) any {
	if a.Active == "" && a.Inactive == "" {
		return active
	}
	if active {
		return a.Active
	}
	return a.Inactive
}

// Parse reads the active flag from a stored value. With configured values,
// the Active value means true and anything else false; without, the usual
// boolean spellings (true/t/yes/y/on/1 and non-zero numbers) mean true. A
// NULL gives ok=false: the flag is unknown and left out.
func (a *ActiveMapping) Parse(v any) (active, ok bool) {
	if v == nil {
		return false, false
	}
	if a.Active != "" || a.Inactive != "" {
		s, ok := StoredString(v)
		if !ok {
			return false, false
		}
		if a.Active != "" {
			return s == a.Active, true
		}
		return s != a.Inactive, true
	}
	return Truthy(v), true
}

// Truthy interprets a stored boolean-ish value: bool, a non-zero number, or
// one of true/t/yes/y/on/1 (case-insensitive).
func Truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case int64:
		return t != 0
	case int:
		return t != 0
	case int32:
		return t != 0
	case float64:
		return t != 0
	}
	s, ok := StoredString(v)
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "on", "1":
		return true
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return f != 0
	}
	return false
}

// StoredString renders a value read from a store as a string; ok is false
// for NULL.
func StoredString(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case []byte:
		return string(t), true
	case *string:
		if t == nil {
			return "", false
		}
		return *t, true
	case bool:
		return strconv.FormatBool(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case int:
		return strconv.Itoa(t), true
	case int32:
		return strconv.FormatInt(int64(t), 10), true
	case uint64:
		return strconv.FormatUint(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32), true
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano), true
	case fmt.Stringer:
		return t.String(), true
	}
	return fmt.Sprint(v), true
}

// fieldValue turns a SCIM value into a single store value: a string, or nil.
// A multi-valued attribute gives its primary (else first) element; a complex
// value gives its "value" sub-attribute.
func fieldValue(v any) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatInt(int64(t), 10), nil
		}
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case json.Number:
		return t.String(), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case []any:
		if len(t) == 0 {
			return nil, nil
		}
		chosen := t[0]
		for _, e := range t {
			if m, ok := e.(map[string]any); ok && m["primary"] == true {
				chosen = e
				break
			}
		}
		return fieldValue(chosen)
	case map[string]any:
		if inner, ok := t["value"]; ok {
			if _, nested := inner.(map[string]any); nested {
				return nil, fmt.Errorf("nested complex value")
			}
			return fieldValue(inner)
		}
		return nil, fmt.Errorf("complex value without a \"value\" sub-attribute")
	case scim.Attrs:
		return fieldValue(map[string]any(t))
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
