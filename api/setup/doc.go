// Package setup is the customer's own provisioning setup page: what the IT
// admin of a tenant's customer opens from a setup link the operator made
// (tenants.SetupLinks; the admin API, the console or `scimbridge tenant
// setup-link`). The page is server-rendered (html/template, no build
// step) and works without JavaScript; a small external script
// (assets/setup.js) adds copy buttons and refreshes the status in place.
//
// Routes (Mount):
//
//	GET  /setup/<tenant>               redirects to /setup/<tenant>/ (the
//	                                    cookie's path)
//	GET  /setup/<tenant>/open/<token>   the link: checked, exchanged for a
//	                                    session cookie, then a redirect to
//	                                    the page so the token leaves the URL
//	GET  /setup/<tenant>/               the page: choose the IdP, create
//	                                    and revoke keys, the tenant's OAuth
//	                                    clients (revoke), the IdP's steps,
//	                                    the user and group attributes the
//	                                    store uses, status
//	GET  /setup/<tenant>/status         the status section alone (the script)
//	POST /setup/<tenant>/keys           create a key (shown once)
//	POST /setup/<tenant>/keys/<id>/revoke
//	POST /setup/<tenant>/oauth-clients/<client id>/revoke
//	POST /setup/<tenant>/logout         ends the session on the server too
//	GET  /setup-assets/setup.js|css
//
// A session grants only this page for one tenant: its cookie (HttpOnly,
// Path=/setup/<tenant>/, SameSite=Lax; None and Partitioned when the
// tenant lets another origin frame the page over https) holds a signed
// session, never a key; it ends when the link expires or is revoked, or
// at its logout (recorded in Redis for the session's remaining life, so a
// copy of the cookie is refused too), checked at every request. Every form carries a CSRF token bound to the
// session, and a post whose Origin is another site's is refused. The
// content security policy allows only the page's own script and style
// sheet, and frame-ancestors only the tenant's setup.frame_ancestors
// ('none' by default). A wrong link or forged cookie counts against the
// client address in the operator's guess limiter (10 a minute); a blocked
// address is refused before anything is read from Redis. A waiting page
// reloads itself only without JavaScript (a meta refresh in <noscript>);
// with it the script refreshes the status in place. The page shows the
// tenant's keys (prefix, created, last use and client) and OAuth clients
// (id, created, last use and client; created by the operator, whose
// answer is the only time a secret is shown, so the page never shows
// one), the attributes of users and of groups the tenant's mapping
// keeps (or that it keeps no groups) with the chosen IdP's name for
// each, the last request
// and its credential (a key or an OAuth client), counts
// of users and groups, and of the refused ones only the userName (or the
// group's displayName) with the store's reason explained (explain.go).
package setup
