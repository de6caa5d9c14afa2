package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Router is the front door's gin engine with one step before gin's
// (case-sensitive) routing: the resource segment of a tenant's SCIM path
// is given its canonical spelling, so /scim/t/v2/users, /Groups,
// /serviceproviderconfig, /Users/.SEARCH and /bulk reach the routes
// /Users, /Groups, /ServiceProviderConfig, /Users/.search and /Bulk, as
// Microsoft's reference server and several IdP clients expect (RFC 7644
// does not say endpoint names are case-sensitive). It is a rewrite, not a
// redirect, so a POST keeps its body; every location the server writes is
// built from the canonical names. A path already canonical costs a scan of
// its first segments and no allocation.
//
// The embedded engine takes further routes (the admin API) as usual.
type Router struct {
	*gin.Engine
}

// ServeHTTP canonicalises the request's resource segment and routes it.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if p, ok := canonicalPath(req.URL.Path); ok {
		req.URL.Path = p
		if req.URL.RawPath != "" {
			if rp, ok := canonicalPath(req.URL.RawPath); ok {
				req.URL.RawPath = rp
			} else {
				req.URL.RawPath = ""
			}
		}
	}
	r.Engine.ServeHTTP(w, req)
}

// resourceSegments are the canonical names of the endpoints below a
// tenant's Base URL (RFC 7644 §3.2, §3.7, §4).
var resourceSegments = []string{"Users", "Groups", "Bulk", "ServiceProviderConfig", "ResourceTypes", "Schemas"}

// canonicalPath returns p with the segment after /scim/{tenant}/v2 (and a
// ".search" after /Users or /Groups) in canonical case, and whether that
// changed anything. Paths outside a tenant's Base URL are left alone.
func canonicalPath(p string) (string, bool) {
	const prefix = "/scim/"
	if !strings.HasPrefix(p, prefix) {
		return p, false
	}
	// /scim/{tenant}/v2/{resource}[/{id or .search}...]
	rest := p[len(prefix):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return p, false
	}
	at := len(prefix) + slash + 1 // start of "v2"
	if !strings.HasPrefix(p[at:], "v2/") {
		return p, false
	}
	at += len("v2/")
	for at < len(p) && p[at] == '/' { // gin's RemoveExtraSlash cleans the rest
		at++
	}
	seg, tail := p[at:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, tail = seg[:i], seg[i:]
	}
	var canon string
	for _, name := range resourceSegments {
		if strings.EqualFold(seg, name) {
			canon = name
			break
		}
	}
	if canon == "" {
		return p, false
	}
	changed := canon != seg
	if (canon == "Users" || canon == "Groups") && len(tail) == len("/.search") &&
		tail != "/.search" && strings.EqualFold(tail, "/.search") {
		tail, changed = "/.search", true
	}
	if !changed {
		return p, false
	}
	return p[:at] + canon + tail, true
}
