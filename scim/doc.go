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
// Schemas are a value: a SchemaSet holds the core User and Group schemas,
// the Enterprise User extension and optionally one tenant's custom User
// extension (NewSchemaSet). Parsing, PATCH, paths, filters, projection and
// the /Schemas and /ResourceTypes documents are methods of the set; the
// package-level functions use DefaultSchemaSet, which keeps undeclared
// extension objects as given, while a tenant's set ignores them. A
// "schemas" list naming a schema the set does not accept is 400
// invalidValue (the Microsoft ADSCIM URIs Entra sends are accepted).
//
// Files: schema.go (the User, Enterprise User and Group schemas),
// schemaset.go (schema sets, custom extensions), path.go (attribute paths),
// user.go and group.go (bodies and rendering), patch.go and group_patch.go
// (PATCH, at most MaxPatchOperations operations; groups yield a
// MemberDelta), limits.go (what one request may carry: values per
// attribute, members, values in all; beyond them 400 tooMany), filter.go and expr.go (filters and their evaluation),
// sort.go (CompareForSort, sortBy/sortOrder), search.go (SearchRequest),
// bulk.go (BulkRequest, bulkId references, BulkResponse), discovery.go,
// list.go (paging and attribute projection), json.go (the one decoder of
// request bodies: one linear pass refusing keys that name one attribute
// twice, unpaired surrogates, NUL), aliases.go (one attribute named by keys
// of different forms), values.go (normalisation; the plain-text rules of
// userName, displayName and externalId).
package scim
