// Package api is the SCIM 2.0 front door: a gin router that serves each
// tenant's Base URL ({PublicURL}/scim/{tenant}/v2), checks the tenant's API
// key (Bearer or HTTP Basic) or OAuth access token (Bearer, from the one
// token endpoint POST {PublicURL}/oauth/token, oauth.go: RFC 6749 client
// credentials, the client id naming its tenant; wrong client secrets
// limited per address by guesses.go), accepts and answers SCIM JSON, and hands every
// request to the provisioning service (sync.Service) through the small
// interfaces Users, Tenants and Keys. Handlers are thin: they translate HTTP
// (content types, body limits, ETags, query parameters, error statuses) to
// service calls and back; parsing and validation live in package scim, state
// in package sync, and a resource's document (meta.location, a group's
// members with $ref) in sync.UserResource / sync.GroupResource, which
// events share, before this package's attribute projection.
//
// Every request runs against its tenant's scim.SchemaSet (core, enterprise
// and the tenant's custom extension), which also answers /Schemas and
// /ResourceTypes. Lists and POST .search take filter, sortBy, sortOrder,
// startIndex, count (capped at Config.MaxPageSize, announced as
// filter.maxResults) and attributes / excludedAttributes, which also shape
// the bodies of POST, PUT and PATCH answers. Group members are read only
// when the answer shows them; PATCH /Groups answers 204 unless the request
// names attributes or excludedAttributes (then 200 with the group so
// projected), so a one-member change never reads a large group. POST /Bulk
// runs each operation through the same service call as its endpoint.
//
// Every request under a Base URL has a deadline (Config.RequestTimeout),
// past which the ledger writes nothing, and holds a weight of its tenant's
// share of the process while it runs (tenantload.go), so one tenant's
// heavy requests wait behind each other, not in front of other tenants'.
//
// Every error answer is a SCIM Error body (RFC 7644 §3.12) and every answer
// carries Content-Type application/scim+json; which status and scimType an
// error of any layer gets is decided in errors.go (ErrorFor), for this
// front door and the admin API alike. Authentication failures are
// indistinguishable whatever the reason (unknown or disabled tenant, missing,
// wrong, revoked or another tenant's key). Keys, bodies and query strings are
// never logged.
//
// Endpoint names are matched in any case (/users, /serviceproviderconfig):
// New returns a Router that gives the resource segment its canonical
// spelling before gin routes the request (paths.go); every location the
// server writes uses the canonical names.
//
// The router does not change gin's global mode; callers that want quiet
// start-up call gin.SetMode(gin.ReleaseMode) before New.
package api
