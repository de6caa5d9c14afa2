package scim

import "strings"

// Member is one element of a Group's members.
type Member struct {
	Value   string // the member's SCIM id
	Display string
	Type    string // "User" or "Group"; "" when not given
	Ref     string // $ref URI; "" when not given
}

// attrs is the canonical form of m as an element of members.
func (m Member) attrs() map[string]any {
	out := map[string]any{"value": m.Value}
	if m.Display != "" {
		out["display"] = m.Display
	}
	if m.Type != "" {
		out["type"] = m.Type
	}
	if m.Ref != "" {
		out["$ref"] = m.Ref
	}
	return out
}

// memberFrom reads a normalised members element.
func memberFrom(v any) (Member, bool) {
	m, ok := asMap(v)
	if !ok {
		return Member{}, false
	}
	var out Member
	out.Value, _ = m["value"].(string)
	out.Display, _ = m["display"].(string)
	out.Type, _ = m["type"].(string)
	out.Ref, _ = m["$ref"].(string)
	return out, out.Value != ""
}

// MembersOf returns the members held in a group's attributes.
func MembersOf(a Attrs) []Member {
	var out []Member
	for _, el := range flatten(a["members"]) {
		if m, ok := memberFrom(el); ok {
			out = append(out, m)
		}
	}
	return out
}

// MembersAttr is the canonical members value of list ([]any of objects), nil
// for an empty list.
func MembersAttr(list []Member) any {
	if len(list) == 0 {
		return nil
	}
	out := make([]any, 0, len(list))
	for _, m := range list {
		out = append(out, m.attrs())
	}
	return out
}

// ParseGroup decodes and validates a Group body for POST or PUT: displayName
// is required; members are [{value, display, type, $ref}] with a non-empty
// string value each ("$ref": null is accepted), duplicates by value dropped.
// id, meta, schemas and unknown attributes are dropped. Errors are *Error.
func ParseGroup(body []byte) (Attrs, error) { return defaultSchemaSet.ParseGroup(body) }

// ParseGroup is ParseGroup against the set ("schemas" checked against it).
func (ss *SchemaSet) ParseGroup(body []byte) (Attrs, error) {
	m, err := decodeRequest(body, "group")
	if err != nil {
		return nil, err
	}
	return ss.groupFromObject(m)
}

// GroupFromObject is ParseGroup for a body already decoded (a bulk
// operation's data).
func (ss *SchemaSet) GroupFromObject(m map[string]any) (Attrs, error) {
	return ss.groupFromObject(m)
}

func (ss *SchemaSet) groupFromObject(m map[string]any) (Attrs, error) {
	a, _, err := ss.resourceFromObject(m, GroupSchema, false)
	if err != nil {
		return nil, err
	}
	if err := checkRequired(a, GroupSchema); err != nil {
		return nil, err
	}
	members, err := normalizeMembers(a["members"])
	if err != nil {
		return nil, err
	}
	setKey(a, "members", nil, MembersAttr(members))
	return a, nil
}

// normalizeMembers checks a normalised members value: every element needs a
// value; duplicates (by value) are dropped, the first kept.
func normalizeMembers(v any) ([]Member, error) {
	var out []Member
	seen := map[string]bool{}
	for _, el := range flatten(v) {
		m, ok := memberFrom(el)
		if !ok {
			return nil, BadRequest(ScimTypeInvalidValue, "each member needs a non-empty string \"value\"")
		}
		if seen[m.Value] {
			continue
		}
		seen[m.Value] = true
		out = append(out, m)
	}
	return out, nil
}

// RenderGroup builds the JSON object of a Group from its attributes, id and
// meta. Members are rendered as held in a (a caller that excludes members
// simply leaves them out of a).
func RenderGroup(id string, a Attrs, m Meta) map[string]any {
	return renderResource(SchemaGroup, "Group", id, a, m)
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
