package scim

import (
	"net/http"
	"strings"
)

// Bulk message URNs (RFC 7644 §3.7).
const (
	SchemaBulkRequest  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	SchemaBulkResponse = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

// BulkOperation is one operation of a BulkRequest.
type BulkOperation struct {
	Method  string         // POST, PUT, PATCH or DELETE (upper case)
	BulkID  string         // required for POST
	Version string         // the resource's ETag to match ("" for none)
	Path    string         // "/Users", "/Groups/<id>", "/Users/bulkId:x", ...
	Data    map[string]any // the body; nil for DELETE
}

// BulkRequest is a parsed BulkRequest.
type BulkRequest struct {
	// FailOnErrors is the number of errors after which the remaining
	// operations are skipped; 0 means never stop.
	FailOnErrors int
	Operations   []BulkOperation
}

// ParseBulkRequest decodes a BulkRequest. More than maxOperations
// operations (when > 0) is 413 (RFC 7644 §3.7.4). Errors are *Error:
// invalidSyntax for the body shape, invalidValue for an operation that
// lacks its method, path, bulkId (POST) or data (POST/PUT/PATCH), naming
// the operation's index.
func ParseBulkRequest(body []byte, maxOperations int) (*BulkRequest, error) {
	m, err := decodeRequest(body, "bulk request")
	if err != nil {
		return nil, err
	}
	var r BulkRequest
	var ops any
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch strings.ToLower(k) {
		case "schemas":
			if !listHolds(v, SchemaBulkRequest) {
				return nil, BadRequest(ScimTypeInvalidSyntax, "bulk request: schemas must be [%q]", SchemaBulkRequest)
			}
		case "failonerrors":
			n, err := intMember(v, "failOnErrors")
			if err != nil {
				return nil, err
			}
			if n != nil && *n > 0 {
				r.FailOnErrors = *n
			}
		case "operations":
			ops = v
		}
	}
	list, ok := ops.([]any)
	if !ok {
		return nil, BadRequest(ScimTypeInvalidSyntax, "bulk request: Operations must be an array")
	}
	if maxOperations > 0 && len(list) > maxOperations {
		return nil, Errorf(http.StatusRequestEntityTooLarge, ScimTypeTooMany,
			"bulk request: %d operations, at most %d in one request", len(list), maxOperations)
	}
	seen := map[string]bool{}
	for i, raw := range list {
		op, err := parseBulkOperation(raw)
		if err != nil {
			return nil, bulkOpError(i, err)
		}
		if op.BulkID != "" {
			if seen[op.BulkID] {
				return nil, bulkOpError(i, BadRequest(ScimTypeInvalidValue, "bulkId %q used twice", truncate(op.BulkID, 100)))
			}
			seen[op.BulkID] = true
		}
		r.Operations = append(r.Operations, op)
	}
	return &r, nil
}

func bulkOpError(i int, err error) error {
	se := err.(*Error)
	return &Error{Status: se.Status, ScimType: se.ScimType, Detail: "bulk operation " + itoa(i) + ": " + se.Detail}
}

func parseBulkOperation(raw any) (BulkOperation, error) {
	var op BulkOperation
	m, ok := asMap(raw)
	if !ok {
		return op, BadRequest(ScimTypeInvalidSyntax, "not an object")
	}
	var haveData bool
	for _, k := range sortedKeys(m) {
		v := m[k]
		var err error
		switch strings.ToLower(k) {
		case "method":
			var s string
			s, err = stringMember(v, "method")
			op.Method = strings.ToUpper(strings.TrimSpace(s))
		case "bulkid":
			op.BulkID, err = stringMember(v, "bulkId")
		case "version":
			op.Version, err = stringMember(v, "version")
		case "path":
			op.Path, err = stringMember(v, "path")
		case "data":
			if v == nil {
				continue
			}
			d, isMap := asMap(v)
			if !isMap {
				return op, BadRequest(ScimTypeInvalidSyntax, "data must be an object")
			}
			op.Data, haveData = d, true
		}
		if err != nil {
			return op, err
		}
	}
	switch op.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return op, BadRequest(ScimTypeInvalidValue, "method must be POST, PUT, PATCH or DELETE")
	}
	if op.Path == "" || len(op.Path) > maxPathLength {
		return op, BadRequest(ScimTypeInvalidValue, "path is required (at most %d characters)", maxPathLength)
	}
	if op.Method == http.MethodPost && op.BulkID == "" {
		return op, BadRequest(ScimTypeInvalidValue, "POST needs a bulkId")
	}
	if op.Method != http.MethodDelete && !haveData {
		return op, BadRequest(ScimTypeInvalidValue, "%s needs data", op.Method)
	}
	return op, nil
}

// BulkIDPrefix starts a reference to the resource created by another
// operation of the same request: "bulkId:<id>".
const BulkIDPrefix = "bulkId:"

// ResolveBulkIDs returns v with every string "bulkId:<id>" (anywhere: a
// member value, a manager value, any attribute) replaced by created[<id>],
// a path ending in "/bulkId:<id>" by the path to that id, and a quoted
// "bulkId:<id>" inside a string (a PATCH value filter) by the quoted id.
// It returns the first bulkId that is not in created ("" when all
// resolved); v is not modified.
func ResolveBulkIDs(v any, created map[string]string) (any, string) {
	var missing string
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			head, id, ok := "", "", false
			if id, ok = strings.CutPrefix(t, BulkIDPrefix); !ok {
				// A path: "/Users/bulkId:x".
				if i := strings.LastIndex(t, "/"+BulkIDPrefix); i >= 0 {
					head, id, ok = t[:i+1], t[i+1+len(BulkIDPrefix):], true
				}
			}
			if ok {
				if real, found := created[id]; found {
					return head + real
				}
				if missing == "" {
					missing = id
				}
				return t
			}
			return resolveQuoted(t, created, &missing)
		case map[string]any:
			out := make(map[string]any, len(t))
			for k, x := range t {
				out[k] = walk(x)
			}
			return out
		case []any:
			out := make([]any, len(t))
			for i, x := range t {
				out[i] = walk(x)
			}
			return out
		}
		return v
	}
	out := walk(v)
	return out, missing
}

// resolveQuoted replaces each quoted "bulkId:<id>" inside s (a PATCH path
// such as `members[value eq "bulkId:u1"]`).
func resolveQuoted(s string, created map[string]string, missing *string) string {
	const open = `"` + BulkIDPrefix
	if !strings.Contains(s, open) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, open)
		if i < 0 {
			break
		}
		end := strings.IndexByte(s[i+len(open):], '"')
		if end < 0 {
			break
		}
		id := s[i+len(open) : i+len(open)+end]
		real, found := created[id]
		if !found {
			if *missing == "" {
				*missing = id
			}
			real = BulkIDPrefix + id
		}
		b.WriteString(s[:i+1])
		b.WriteString(real)
		b.WriteByte('"')
		s = s[i+len(open)+end+1:]
	}
	b.WriteString(s)
	return b.String()
}

// BulkResult is the outcome of one bulk operation.
type BulkResult struct {
	Method   string
	BulkID   string
	Version  string
	Location string
	Status   int
	Response any // the error body, or the resource when the server returns it
}

// BulkResponse is the BulkResponse body of the results.
func BulkResponse(results []BulkResult) map[string]any {
	ops := make([]any, 0, len(results))
	for _, r := range results {
		op := map[string]any{"method": r.Method, "status": itoa(r.Status)}
		if r.BulkID != "" {
			op["bulkId"] = r.BulkID
		}
		if r.Version != "" {
			op["version"] = r.Version
		}
		if r.Location != "" {
			op["location"] = r.Location
		}
		if r.Response != nil {
			op["response"] = r.Response
		}
		ops = append(ops, op)
	}
	return map[string]any{"schemas": []any{SchemaBulkResponse}, "Operations": ops}
}
