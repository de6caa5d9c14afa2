package scim

import "strings"

// oneKeyPerAttribute refuses, as 400 invalidSyntax, a body (a resource, or
// a path-less PATCH value) in which two keys of different forms name one
// attribute, so that one of them would silently win: a top-level key and
// the same attribute inside the core schema's URN object
// ({"userName":..,"urn:...:core:2.0:User":{"userName":..}}) or as a
// URN-prefixed key, an extension object's attribute and the same attribute
// as a URN-prefixed key, a dotted PATCH key and the same sub-attribute in
// an object ({"name.givenName":..,"name":{"givenName":..}}). Two keys of
// one object are decodeObject's to refuse. Attributes are compared to the
// sub-attribute, case-insensitively; the cost is linear in the keys. core
// is the resource's schema, nil for a PATCH value (either core URN object
// is then the wrapper).
func (ss *SchemaSet) oneKeyPerAttribute(m map[string]any, core *Schema) error {
	// Only a URN key (or, in a PATCH value, a dotted one) can name what
	// another key names: most bodies have none and cost one scan.
	aliasing := false
	for k := range m {
		if strings.Contains(k, ":") || (core == nil && strings.Contains(k, ".")) {
			aliasing = true
			break
		}
	}
	if !aliasing {
		return nil
	}
	seen := map[string]string{} // folded attribute path → the key that named it
	note := func(attr, key string) error {
		f := foldKey(attr)
		if prev, dup := seen[f]; dup {
			return BadRequest(ScimTypeInvalidSyntax, "the keys %s and %s name one attribute (%s)", quoteShort(prev), quoteShort(key), quoteShort(attr))
		}
		seen[f] = key
		return nil
	}
	// leaves notes attr, or each sub-attribute of an object value of it.
	leaves := func(attr, key string, v any) error {
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			for sk := range sub {
				if err := note(attr+"."+sk, key); err != nil {
					return err
				}
			}
			return nil
		}
		return note(attr, key)
	}
	for k, v := range m {
		switch lk := strings.ToLower(k); {
		case lk == "schemas" || lk == "id" || lk == "meta":
		case (core != nil && strings.EqualFold(k, core.ID)) || (core == nil && isCoreURN(k)):
			sub, _ := v.(map[string]any)
			for sk, sv := range sub {
				if err := leaves(sk, k, sv); err != nil {
					return err
				}
			}
		case strings.Contains(k, ":"):
			if sub, ok := v.(map[string]any); ok && !isCoreURN(k) {
				urn := k
				if sch := ss.set().schemaByURN(k); sch != nil {
					urn = sch.ID
				}
				for sk, sv := range sub {
					if err := leaves(urn+":"+sk, k, sv); err != nil {
						return err
					}
				}
				continue
			}
			// A URN-prefixed attribute: the URN ends at the last colon
			// (attribute names hold none). Split here rather than parsed
			// as a path, which costs a hundred times more.
			i := strings.LastIndexByte(k, ':')
			urn, attr := k[:i], k[i+1:]
			if !isCoreURN(urn) {
				if sch := ss.set().schemaByURN(urn); sch != nil {
					urn = sch.ID
				}
				attr = urn + ":" + attr
			}
			if err := leaves(attr, k, v); err != nil {
				return err
			}
		default:
			if err := leaves(k, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}
