// Package admin is the operator's side of the API process: a JSON admin API
// under /admin/v1 (tenants, SCIM keys, each resource's sync state, replay,
// full import and drift jobs, mapping preview) and a small server-rendered
// console under /console, both behind the operator token.
//
// The token is compared as a SHA-256 in constant time and never kept in
// clear. The console's login form exchanges it for an HMAC-signed session
// cookie (HttpOnly, SameSite=Strict, Secure under https) that does not hold
// the token; every console form carries a CSRF token bound to the session.
// Without a token the package mounts nothing: the routes are 404.
package admin
