package scim

import (
	"math"
	"strings"
)

// SearchRequest is the body of POST /.search (RFC 7644 §3.4.3). Absent
// members are zero: StartIndex and Count are nil when not given.
type SearchRequest struct {
	Attributes         []string
	ExcludedAttributes []string
	Filter             string
	SortBy             string
	SortOrder          string
	StartIndex         *int
	Count              *int
}

// ParseSearchRequest decodes a SearchRequest body. Member names match
// case-insensitively; "schemas", when present, must hold the SearchRequest
// URN; attributes / excludedAttributes are arrays of strings (a single
// comma-separated string is accepted too); startIndex and count are
// integers. Errors are *Error (invalidSyntax for the body, invalidValue for
// a member of the wrong type). The filter is returned as text, to be parsed
// against the tenant's schema set.
func ParseSearchRequest(body []byte) (*SearchRequest, error) {
	m, err := decodeRequest(body, "search request")
	if err != nil {
		return nil, err
	}
	var r SearchRequest
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch strings.ToLower(k) {
		case "schemas":
			if !listHolds(v, SchemaSearchRequest) {
				return nil, BadRequest(ScimTypeInvalidValue, "search request: schemas must be [%q]", SchemaSearchRequest)
			}
		case "attributes":
			if r.Attributes, err = stringList(v, "attributes"); err != nil {
				return nil, err
			}
		case "excludedattributes":
			if r.ExcludedAttributes, err = stringList(v, "excludedAttributes"); err != nil {
				return nil, err
			}
		case "filter":
			if r.Filter, err = stringMember(v, "filter"); err != nil {
				return nil, err
			}
		case "sortby":
			if r.SortBy, err = stringMember(v, "sortBy"); err != nil {
				return nil, err
			}
		case "sortorder":
			if r.SortOrder, err = stringMember(v, "sortOrder"); err != nil {
				return nil, err
			}
		case "startindex":
			if r.StartIndex, err = intMember(v, "startIndex"); err != nil {
				return nil, err
			}
		case "count":
			if r.Count, err = intMember(v, "count"); err != nil {
				return nil, err
			}
		}
	}
	return &r, nil
}

func stringMember(v any, name string) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	}
	return "", BadRequest(ScimTypeInvalidValue, "%q must be a string", name)
}

func stringList(v any, name string) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, el := range t {
			s, ok := el.(string)
			if !ok {
				return nil, BadRequest(ScimTypeInvalidValue, "%q must be an array of strings", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, BadRequest(ScimTypeInvalidValue, "%q must be an array of strings", name)
}

func intMember(v any, name string) (*int, error) {
	if v == nil {
		return nil, nil
	}
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) {
		return nil, BadRequest(ScimTypeInvalidValue, "%q must be an integer", name)
	}
	n := int(math.Max(math.Min(f, math.MaxInt32), math.MinInt32))
	return &n, nil
}
