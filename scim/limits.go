package scim

import "strings"

// What one request may carry, beyond which it is refused with 400 tooMany
// before anything is written. Each bound is a margin over what Okta and
// Entra ID send (docs/idp-behaviour.md):
//
//   - MaxAttributeValues: Okta and Entra send one to three emails, phone
//     numbers or addresses and a short roles list; 100 values of one
//     multi-valued attribute (members aside) is far beyond any of them.
//   - MaxMemberChanges: Okta's Group Push sends at most the app's configured
//     batch of membership changes per PATCH (100 by default, 1000 at most);
//     Entra sends one member per operation or a short value list. 2000
//     members named by the add/remove operations of one PATCH is twice
//     Okta's largest batch.
//   - MaxGroupMembers: a whole member list, as in POST or PUT /Groups (Okta
//     apps made with its wizard PUT the group) or a PATCH that replaces the
//     members (Okta's full push). Entra creates groups empty. 10000 members
//     is what a 1 MiB body holds with a display each.
//   - MaxRequestValues: array elements in one request body at any depth
//     (so a POST /Bulk cannot add up what each operation may carry).
//   - MaxExtensions: extension objects of one resource (the default set
//     keeps undeclared ones as given); Okta and Entra send the enterprise
//     extension and at most one custom one.
//
// MaxPatchOperations bounds the operations of one PATCH (patch.go).
const (
	MaxAttributeValues = 100
	MaxMemberChanges   = 2000
	MaxGroupMembers    = 10000
	MaxRequestValues   = 20000
	MaxExtensions      = 20
)

// checkExtensions refuses a resource holding more than MaxExtensions
// extension objects (tooMany).
func checkExtensions(a Attrs) error {
	n := 0
	for k, v := range a {
		if _, isMap := v.(map[string]any); isMap && strings.Contains(k, ":") {
			n++
		}
	}
	if n > MaxExtensions {
		return BadRequest(ScimTypeTooMany, "%d extension objects, at most %d in one resource", n, MaxExtensions)
	}
	return nil
}

// tooManyValues is the error for a multi-valued attribute over its bound.
func tooManyValues(name string, n, limit int) *Error {
	return BadRequest(ScimTypeTooMany, "attribute %q has %d values, at most %d are accepted", name, n, limit)
}

// valueLimit is the most values the multi-valued attribute def may hold.
func valueLimit(def *Attribute) int {
	if def != nil && def.Name == "members" {
		return MaxGroupMembers
	}
	return MaxAttributeValues
}

// checkRequestValues refuses a decoded body holding more than
// MaxRequestValues array elements in all (tooMany), counting without
// recursion so a deep body costs no stack.
func checkRequestValues(v any, what string) error {
	n := 0
	stack := []any{v}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch t := x.(type) {
		case map[string]any:
			for _, e := range t {
				switch e.(type) {
				case map[string]any, []any:
					stack = append(stack, e)
				}
			}
		case []any:
			n += len(t)
			if n > MaxRequestValues {
				return BadRequest(ScimTypeTooMany, "%s: more than %d values in one request", what, MaxRequestValues)
			}
			for _, e := range t {
				switch e.(type) {
				case map[string]any, []any:
					stack = append(stack, e)
				}
			}
		}
	}
	return nil
}

// valueKey is the canonical form of a normalised value for equality: its
// JSON with object keys sorted (two values are equal exactly when their
// keys are), computed once per value so duplicate checks are linear. ""
// (a value that is not JSON, which no decoded body holds) equals nothing.
func valueKey(v any) string {
	b, err := AppendJSON(nil, v)
	if err != nil {
		return ""
	}
	return string(b)
}

// valueSet is a set of values by valueKey.
type valueSet map[string]struct{}

// add puts v in the set and reports whether it was new (a value without a
// key is always new).
func (s valueSet) add(v any) bool {
	k := valueKey(v)
	if k == "" {
		return true
	}
	if _, dup := s[k]; dup {
		return false
	}
	s[k] = struct{}{}
	return true
}

// has reports whether the set holds a value equal to v.
func (s valueSet) has(v any) bool {
	k := valueKey(v)
	if k == "" {
		return false
	}
	_, ok := s[k]
	return ok
}

// decodeRequest is decodeObject for a request body, plus the bound on the
// values it holds in all (MaxRequestValues).
func decodeRequest(body []byte, what string) (map[string]any, error) {
	m, err := decodeObject(body, what)
	if err != nil {
		return nil, err
	}
	if err := checkRequestValues(m, what); err != nil {
		return nil, err
	}
	return m, nil
}
