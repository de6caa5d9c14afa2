package sync

import (
	"context"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/scimbridge/scimbridge/scim"
)

// A resource as the SCIM API shows it: the one rendering of a user and of
// a group, used by the front door (GET /Users/{id}, /Groups/{id}, and the
// answers to writes, before the request's attribute projection), by the
// filters (without a location), and by events (their data.resource), so
// an application reads the same document from an event as from the API.

// Resource type names (meta.resourceType) and their collections below a
// tenant's Base URL.
const (
	ResourceTypeUser  = "User"
	ResourceTypeGroup = "Group"
	usersPath         = "/Users/"
	groupsPath        = "/Groups/"
)

// TenantBaseURL is a tenant's SCIM Base URL below the server's public URL
// (scheme://host[:port][/prefix], no trailing slash).
func TenantBaseURL(publicURL, tenant string) string {
	return publicURL + "/scim/" + tenant + "/v2"
}

// ResourceLocation is the URL of a resource (meta.location, the Location
// header) below the tenant's Base URL base; "" when base is "".
func ResourceLocation(base, resourceType, id string) string {
	if base == "" {
		return ""
	}
	if resourceType == ResourceTypeGroup {
		return base + groupsPath + id
	}
	return base + usersPath + id
}

// UserResource is user r as the SCIM API shows it, meta.location below
// the tenant's Base URL base ("": none). No password, ever.
func UserResource(r *Record, base string) map[string]any {
	m := r.Meta(ResourceTypeUser)
	m.Location = ResourceLocation(base, ResourceTypeUser, r.ID)
	return scim.RenderUser(r.ID, r.Attrs, m)
}

// GroupResource is group r with its members (user ids; nil or empty: no
// members attribute) as the SCIM API shows it: each member {value, $ref
// (below base, when known), type "User"}; display is not kept by the
// ledger, so it is not shown. meta.location is below base ("": none).
func GroupResource(r *Record, members []string, base string) map[string]any {
	a := r.Attrs.Clone()
	if a == nil {
		a = scim.Attrs{}
	}
	list := make([]scim.Member, 0, len(members))
	for _, id := range members {
		list = append(list, scim.Member{Value: id, Ref: ResourceLocation(base, ResourceTypeUser, id), Type: ResourceTypeUser})
	}
	if v := scim.MembersAttr(list); v != nil {
		a["members"] = v
	} else {
		delete(a, "members")
	}
	m := r.Meta(ResourceTypeGroup)
	m.Location = ResourceLocation(base, ResourceTypeGroup, r.ID)
	return scim.RenderGroup(r.ID, a, m)
}

// SetPublicURL sets the server's public URL, under which events show a
// resource's meta.location and its members' $ref as the API does ("":
// events show none). Set it before use.
func (l *Ledger) SetPublicURL(publicURL string) { l.publicURL = publicURL }

// eventBase is the tenant's Base URL for events ("" without a public URL).
func (l *Ledger) eventBase(tenant string) string {
	if l.publicURL == "" {
		return ""
	}
	return TenantBaseURL(l.publicURL, tenant)
}

// EventMembersMax is the most members a group's event lists in its
// resource: the resource of a group with more lists none, and the event's
// data.members_omitted says how many it has (a group of 100,000 members
// would make every group.updated event megabytes, kept in Redis for the
// retention and sent to every endpoint; an application that needs them
// follows group.members_added / members_removed, or reads GET
// /Groups/{id}). A member listed is about 130 bytes, so the cap bounds
// a group's resource near 130 KB.
const EventMembersMax = 1000

// eventMembersScript returns a group's members (KEYS[1], the members set)
// when it has at most ARGV[1], else their number: one round trip, and
// a large set is never read.
var eventMembersScript = redis.NewScript(`
local n = redis.call('SCARD', KEYS[1])
if n > tonumber(ARGV[1]) then return n end
return redis.call('SMEMBERS', KEYS[1])
`)

// eventMembers returns the members a group's event lists (sorted), or
// none and how many the group has when that is more than EventMembersMax.
func (l *Ledger) eventMembers(ctx context.Context, tenant, id string) (members []string, omitted int64, err error) {
	res, err := eventMembersScript.Run(ctx, l.rdb, []string{groupKeys(tenant).members(id)}, EventMembersMax).Result()
	if err != nil {
		return nil, 0, redisErr("event members", err)
	}
	switch v := res.(type) {
	case int64:
		return nil, v, nil
	case []any:
		members = make([]string, 0, len(v))
		for _, m := range v {
			if s, ok := m.(string); ok {
				members = append(members, s)
			}
		}
	}
	sort.Strings(members)
	return members, 0, nil
}
