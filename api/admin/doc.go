// Package admin is the operator's side of the API process: a JSON admin API
// under /admin/v1 (tenants, SCIM keys and OAuth clients (oauth.go,
// console_oauth.go), setup links for the customer's setup page
// (setuplinks.go; the page itself is package api/setup), each resource's
// sync state, replay, full import and drift jobs, mapping preview, recover
// and backup (recover.go; restore is the CLI's), the events feed (filtered by
// types= and resource_id=) and webhook endpoints (webhooks.go)) and a small
// server-rendered console under /console (webhook endpoints: added, edited,
// enabled, rotated and, once confirmed, deleted: console_webhooks.go), both
// behind the operator token.
//
// Operator (operator.go) is the one authentication of the operator for
// every operator surface of a process: the admin API, the console's login,
// and, through its net/http Guard, /metrics and the queue dashboard. It
// keeps the token only as a SHA-256 compared in constant time, and one
// limit on wrong tokens per client address (guesses.go) shared by all of
// them. Guard also refuses a state-changing request from another site
// (Origin, Referer, Sec-Fetch-Site against the request's and the public
// URL's origin; Basic without any of them), since a browser replays cached
// Basic credentials for any site's form, and every operator page gets the
// same security headers (SecurityHeaders: CSP, no framing, nosniff,
// Referrer-Policy). The console's login form exchanges the token for an HMAC-signed
// session cookie (HttpOnly, SameSite=Strict, Secure under https) that does
// not hold the token; every console form carries a CSRF token bound to the
// session. Without a token there is no Operator and the package mounts
// nothing: the routes are 404. Errors become statuses through api.ErrorFor,
// the mapping the SCIM front door uses.
package admin
