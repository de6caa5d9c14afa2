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
//	sb:{<tenant>}:keys:used     hash: key id -> last use (unix seconds),
//	                            and key id + "/client" -> its User-Agent
//	                            (both written at most once a minute per
//	                            key per process)
//	sb:key:<sha256hex>          string: key record JSON of a live key; the
//	                            lookup Verify does. Deleting it revokes.
//	sb:{<tenant>}:oauth:clients hash: client id -> OAuth client record JSON
//	                            (id, name, secret display prefix, created,
//	                            revoked, SHA-256 of the secret)
//	sb:{<tenant>}:oauth:clientnames       hash: live client name -> id
//	sb:{<tenant>}:oauth:clients:used      hash: client id -> last token (unix)
//
// A key is "scb_" + 40 base62 characters from crypto/rand + 6 base62
// characters of their CRC32, so scanners recognise leaked keys and Verify
// rejects typos without a Redis round trip. The plaintext is returned once
// by KeyStore.Create and never stored, logged or put in an error.
//
// OAuth 2.0 clients (oauth.go) sit beside the keys: a client id
// "<tenant>.c<16 hex>" names its tenant, so the one token endpoint finds
// the record in the tenant's slot; its secret ("scbs_", drawn like a key) is
// shown once by OAuthClients.Create and stored only as SHA-256. The access
// tokens they obtain (oauthtoken.go) are HMAC-SHA256 signed with a key
// derived from secrets.key_file and verified in process; a client's
// liveness is cached like a key and dropped by the same announcements on
// the pub/sub channel sb:keys:changed (a revocation, a tenant's deletion).
//
// Setup links (setuplinks.go) open a tenant's self-service setup page for
// its customer's admin: signed with another key derived from
// secrets.key_file, expiring, revocable (sb:{<tenant>}:setup:links and the
// revocation list sb:{<tenant>}:setup:revoked, which every setup session
// checks), good for one tenant only. Access tokens, setup links and setup
// sessions share one signed-value format (signed.go), each with its own
// prefix and key.
package tenants
