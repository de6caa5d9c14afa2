// Package scim is the SCIM 2.0 protocol (RFC 7643, RFC 7644) without I/O:
// resource attributes, schemas, parsing and validation of request bodies,
// attribute paths, filters, PATCH, list responses, discovery documents and
// SCIM error bodies. Everything here is pure and safe for concurrent use.
//
// Where Okta or Entra ID depart from the RFC the package accepts both (see
// docs/idp-behaviour.md): attribute names in any case, "True"/"False"
// strings for booleans, a bare-string enterprise manager, capitalised PATCH
// ops, path-less PATCH values with dotted and URN-prefixed keys, read-only
// id/meta/groups sent back in bodies (ignored), filtered paths that create
// the element they name, and member removal by value list. Unknown core
// attributes are ignored rather than rejected; unknown extension objects
// are kept as given.
//
// Files: schema.go (the User, Enterprise User and Group schemas), path.go
// (attribute paths), user.go and group.go (bodies and rendering), patch.go
// and group_patch.go (PATCH; groups yield a MemberDelta), filter.go and
// expr.go (filters and their evaluation), discovery.go, list.go.
package scim
