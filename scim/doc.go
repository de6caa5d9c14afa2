// Package scim is the SCIM 2.0 protocol (RFC 7643, RFC 7644) without I/O:
// resource attributes, schemas, parsing and validation of request bodies,
// attribute paths, filters, PATCH, list responses, discovery documents and
// SCIM error bodies. Everything here is pure and safe for concurrent use.
package scim
