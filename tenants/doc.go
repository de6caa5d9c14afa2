// Package tenants owns who the tenants are and how they authenticate: the
// tenant registry (id, name, disabled flag, store configuration), the SCIM
// credentials of each tenant (generated, stored only as SHA-256, verified,
// revoked) and the pool of each tenant's open store connections. The
// worker asks a *Registry directly what it needs per task or batch
// (worker.go: enabled, groups mapped, store concurrency, the tenant ids),
// answered from the registry's cache without copying the tenant.
//
// Redis keys (every one starts with "sb:"; per-tenant keys carry the
// Redis Cluster hash tag {<tenant>} so a tenant's keys share a slot):
//
//	sb:tenants                  set of tenant ids
//	sb:{<tenant>}:tenant        string: the Tenant as JSON (no secrets)
//	sb:{<tenant>}:keys          hash: key id -> key record JSON (id, name,
//	                            display prefix, created, revoked, SHA-256)
//	sb:{<tenant>}:keynames      hash: live key name -> key id
//	sb:{<tenant>}:keys:used     hash: key id -> last use (unix seconds)
//	sb:key:<sha256hex>          string: key record JSON of a live key; the
//	                            lookup Verify does. Deleting it revokes.
//
// A key is "scb_" + 40 base62 characters from crypto/rand + 6 base62
// characters of their CRC32, so scanners recognise leaked keys and Verify
// rejects typos without a Redis round trip. The plaintext is returned once
// by KeyStore.Create and never stored, logged or put in an error.
package tenants
