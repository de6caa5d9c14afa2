package scim

import (
	"sort"
	"strings"
	"time"
)

// ParseUser decodes and validates a User body for POST or PUT. It returns
// the canonical attributes and the password if one was sent. Errors are
// *Error.
//
// Keys match the schema in any case. Read-only id, meta, groups and schemas
// are dropped, not rejected (Okta sends them back on PUT). "True"/"False"
// strings are accepted for booleans. The enterprise extension is validated
// and kept nested under its URN (a bare-string manager becomes
// {"value": ...}); other extension URN keys are kept as given when they are
// objects. Unknown core attributes are ignored. userName is required.
// "schemas", when present, must list only schemas of the default set
// (unknown extension URNs are tolerated by the default set) or 400
// invalidValue.
func ParseUser(body []byte) (Attrs, *string, error) { return defaultSchemaSet.ParseUser(body) }

// ParseUser is ParseUser against the set: the custom extension's attributes
// are validated by type and kept, undeclared extensions of an exact set are
// ignored, "schemas" may only list the set's User schemas (or the Microsoft
// group URI Entra sends).
func (ss *SchemaSet) ParseUser(body []byte) (Attrs, *string, error) {
	m, err := decodeRequest(body, "user")
	if err != nil {
		return nil, nil, err
	}
	return ss.userFromObject(m)
}

// UserFromObject is ParseUser for a body already decoded (a bulk
// operation's data).
func (ss *SchemaSet) UserFromObject(m map[string]any) (Attrs, *string, error) {
	return ss.userFromObject(m)
}

func (ss *SchemaSet) userFromObject(m map[string]any) (Attrs, *string, error) {
	a, password, err := ss.resourceFromObject(m, UserSchema, true)
	if err != nil {
		return nil, nil, err
	}
	if err := ss.checkRequired(a, UserSchema); err != nil {
		return nil, nil, err
	}
	return a, password, nil
}

// resourceFromObject is the body parsing shared by users and groups.
func (ss *SchemaSet) resourceFromObject(m map[string]any, core *Schema, acceptPassword bool) (Attrs, *string, error) {
	ss = ss.set()
	if err := ss.oneKeyPerAttribute(m, core); err != nil {
		return nil, nil, err
	}
	a := Attrs{}
	var password *string
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch strings.ToLower(k) {
		case "schemas":
			if err := ss.checkSchemas(m, v, core); err != nil {
				return nil, nil, err
			}
			continue
		case "id", "meta":
			continue
		case "password":
			if !acceptPassword {
				continue
			}
			switch pw := v.(type) {
			case nil:
			case string:
				password = &pw
			default:
				return nil, nil, BadRequest(ScimTypeInvalidValue, "attribute \"password\" must be a string")
			}
			continue
		}
		if strings.Contains(k, ":") {
			if err := ss.setURNKey(a, core, k, v); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err := setCoreKey(a, core, k, v); err != nil {
			return nil, nil, err
		}
	}
	if err := checkExtensions(a); err != nil {
		return nil, nil, err
	}
	return a, password, nil
}

// setCoreKey stores a core attribute given under key k, ignoring unknown
// and read-only attributes.
func setCoreKey(a Attrs, core *Schema, k string, v any) error {
	def := coreAttribute(core, k)
	if def == nil || def.Mutability == MutabilityReadOnly || def.Mutability == MutabilityWriteOnly {
		return nil
	}
	n, err := normalizeValue(def, v, def.Name)
	if err != nil {
		return err
	}
	setKey(a, k, def, n)
	return nil
}

// setURNKey stores a key that carries a schema URN: the core schema's own
// URN wrapping core attributes, an extension object, or a URN-prefixed
// attribute ("urn:...:User:department").
func (ss *SchemaSet) setURNKey(a Attrs, core *Schema, k string, v any) error {
	if strings.EqualFold(k, core.ID) {
		if m, ok := asMap(v); ok {
			for _, sk := range sortedKeys(m) {
				if err := setCoreKey(a, core, sk, m[sk]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if isCoreURN(k) {
		return nil
	}
	if v == nil {
		return nil
	}
	if m, ok := asMap(v); ok {
		urn := k
		if sch := ss.schemaByURN(k); sch != nil {
			urn = sch.ID
		}
		n, err := ss.normalizeExtension(urn, m)
		if err != nil {
			return err
		}
		if len(n) > 0 {
			existing, _ := asMap(a[urn])
			for ek, ev := range existing {
				if _, dup := n[ek]; !dup {
					n[ek] = ev
				}
			}
			a[urn] = n
		}
		return nil
	}
	p, err := ss.ParsePath(k)
	if err != nil || p.URN() == "" || p.IsExtension() {
		return nil // an unknown key that is not an attribute path: ignored
	}
	if !ss.keepsUnknownExtensions() && p.def() == nil {
		return nil // not an attribute of a declared extension: ignored
	}
	return p.Set(a, v)
}

// checkRequired is checkRequired plus the required attributes of the set's
// custom extension (users only).
func (ss *SchemaSet) checkRequired(a Attrs, core *Schema) error {
	if err := checkRequired(a, core); err != nil {
		return err
	}
	custom := ss.Custom()
	if custom == nil || core != UserSchema {
		return nil
	}
	for _, def := range custom.Attributes {
		if !def.Required {
			continue
		}
		ext, _ := asMap(a[custom.ID])
		if v, ok := ext[def.Name]; !ok || v == nil {
			return BadRequest(ScimTypeInvalidValue, "attribute %q of %s is required", def.Name, custom.ID)
		}
	}
	return nil
}

// checkRequired reports a missing required core attribute as invalidValue.
func checkRequired(a Attrs, core *Schema) error {
	for _, def := range core.Attributes {
		if !def.Required {
			continue
		}
		v, ok := a[def.Name]
		if s, isStr := v.(string); !ok || (isStr && strings.TrimSpace(s) == "") {
			return BadRequest(ScimTypeInvalidValue, "attribute %q is required", def.Name)
		}
	}
	return nil
}

// RenderUser builds the JSON object of a User from its attributes, id and
// meta: schemas (the core URN, then every extension URN present), id, the
// attributes and meta. A password never appears, even if a holds one.
func RenderUser(id string, a Attrs, m Meta) map[string]any {
	return renderResource(SchemaUser, "User", id, a, m)
}

func renderResource(coreURN, resourceType, id string, a Attrs, m Meta) map[string]any {
	r := make(map[string]any, len(a)+3)
	schemas := []any{coreURN}
	var extensions []string
	for k, v := range a {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "id") ||
			strings.EqualFold(k, "meta") || strings.EqualFold(k, "schemas") {
			continue
		}
		r[k] = cloneValue(v)
		if strings.Contains(k, ":") {
			if _, isMap := asMap(v); isMap {
				extensions = append(extensions, k)
			}
		}
	}
	sortExtensions(extensions)
	for _, e := range extensions {
		schemas = append(schemas, e)
	}
	r["schemas"] = schemas
	r["id"] = id
	r["meta"] = renderMeta(m, resourceType)
	return r
}

// sortExtensions orders the enterprise URN first, then the rest by name.
func sortExtensions(list []string) {
	sort.Slice(list, func(i, j int) bool { return extensionLess(list[i], list[j]) })
}

func extensionLess(a, b string) bool {
	if a == SchemaEnterpriseUser || b == SchemaEnterpriseUser {
		return a == SchemaEnterpriseUser && b != SchemaEnterpriseUser
	}
	return a < b
}

func renderMeta(m Meta, defaultType string) map[string]any {
	rt := m.ResourceType
	if rt == "" {
		rt = defaultType
	}
	meta := map[string]any{"resourceType": rt}
	if !m.Created.IsZero() {
		meta["created"] = m.Created.UTC().Format(time.RFC3339)
	}
	if !m.LastModified.IsZero() {
		meta["lastModified"] = m.LastModified.UTC().Format(time.RFC3339)
	}
	if m.Version != "" {
		meta["version"] = m.Version
	}
	if m.Location != "" {
		meta["location"] = m.Location
	}
	return meta
}
