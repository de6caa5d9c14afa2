package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"

	"github.com/scimbridge/scimbridge/scim"
)

// The ledger's groups (scripts in groups_lua.go): the same layout as
// users (kind "g"), plus each group's members and pending membership
// changes.

func groupKeys(tenant string) keys      { return keys{tenant: tenant, kind: "g"} }
func (k keys) members(id string) string { return k.prefix() + "m:" + id }
func (k keys) pending(id string) string { return k.prefix() + "p:" + id }
func (k keys) memberSeq() string        { return k.prefix() + "mseq" }
func (k keys) idxDisplayName() string   { return k.prefix() + "idx:dn" }
func (k keys) groupPutKeys(id string) []string {
	return []string{k.rec(id), k.idxDisplayName(), k.idxExternalIDs(), k.all(), k.seq(), k.dirty(),
		k.members(id), k.pending(id), k.memberSeq(), k.idxAnchor(), userKeys(k.tenant).all(), k.failed(), k.idxExternalIDHash()}
}

// groupIndexValues extracts what the group indexes hold.
func groupIndexValues(a scim.Attrs) (displayName, externalID string) {
	if s, ok := a["displayName"].(string); ok {
		displayName = strings.ToLower(s)
	}
	if s, ok := a["externalId"].(string); ok {
		externalID = s
	}
	return
}

// maxDroppedIDs is how many of the member ids a group write left out (not
// users of the tenant) its record keeps for the operator.
const maxDroppedIDs = 10

// withoutMembers drops the members attribute: membership lives in its own set.
func withoutMembers(a scim.Attrs) scim.Attrs {
	if _, ok := a["members"]; !ok {
		return a
	}
	out := make(scim.Attrs, len(a))
	for k, v := range a {
		if k != "members" {
			out[k] = v
		}
	}
	return out
}

// putGroup runs the atomic group write.
func (l *Ledger) putGroup(ctx context.Context, tenant string, u Uniqueness, id string, mode putMode, expect int64, a scim.Attrs,
	replace bool, adds, removes []string, anchor string, prev scim.Attrs) (_ *Record, err error) {
	ctx, span := startSpan(ctx, "sync.ledger.put_group", tenant, attribute.String("scimbridge.mode", string(mode)))
	defer endSpan(span, &err)
	if err := requestLive(ctx, "put group"); err != nil {
		return nil, err
	}
	k := groupKeys(tenant)
	var doc []byte
	var dn, ext string
	if mode != modeDelete && mode != modeMembers {
		var err error
		if doc, err = json.Marshal(withoutMembers(a)); err != nil {
			return nil, fmt.Errorf("sync: encode group %s: %w", id, err)
		}
		dn, ext = groupIndexValues(a)
		if dn == "" {
			return nil, scim.BadRequest(scim.ScimTypeInvalidValue, "displayName is required")
		}
	}
	args := make([]any, 0, 15+len(adds)+len(removes))
	rep := "0"
	if replace {
		rep = "1"
	}
	at := l.now()
	mark := "" // see ledger_replicas.go
	if mode == modeCreate && l.minReplicas > 0 {
		mark = membersDigest(adds)
	}
	args = append(args, string(mode), id, expect, doc, dn, ext, at.UnixMilli(), rep, anchor, len(adds), maxDroppedIDs, u.arg(), newID(),
		l.groupJournalEntry(mode, prev, a, at), mark)
	for _, u := range adds {
		args = append(args, u)
	}
	for _, u := range removes {
		args = append(args, u)
	}
	var res []string
	l.touchSweep(ctx, k.tenant) // before the write: see ledger_sweep.go
	err = l.writeReplicated(ctx, k.rec(id), func(c redis.Scripter) (string, error) {
		var err error
		if res, err = putGroupScript.Run(ctx, c, append(k.groupPutKeys(id), k.journal(id)), args...).StringSlice(); err != nil {
			return "", redisErr("put group", err)
		}
		if mark != "" && res[0] == "ok" {
			return k.rec(id), nil
		}
		return "", nil
	})
	if err != nil {
		return nil, err
	}
	switch res[0] {
	case "ok":
		return decodeRecord(tenant, id, res[1:])
	case "notfound":
		return nil, fmt.Errorf("sync: group %s: %w", id, ErrNotFound)
	case "exists":
		return nil, fmt.Errorf("sync: group %s: id exists: %w", id, ErrUniqueness)
	case "version":
		return nil, fmt.Errorf("sync: group %s is at version %s: %w", id, res[1], ErrVersionMismatch)
	case "unique":
		return nil, &UniquenessError{Attribute: res[1], ExistingID: res[2]}
	case "adopted":
		return l.getGroupAny(ctx, tenant, res[1])
	}
	return nil, fmt.Errorf("sync: put group: unexpected reply %q", res[0])
}

func (l *Ledger) getGroupAny(ctx context.Context, tenant, id string) (*Record, error) {
	f, err := l.rdb.HGetAll(ctx, groupKeys(tenant).rec(id)).Result()
	if err != nil {
		return nil, redisErr("get group", err)
	}
	return recordFromFields(tenant, id, f)
}

// GetGroup returns a live group (without members).
func (l *Ledger) GetGroup(ctx context.Context, tenant, id string) (*Record, error) {
	r, err := l.getGroupAny(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("sync: group %s: %w", id, ErrNotFound)
	}
	return r, nil
}

// GroupMembers returns the desired member user ids of a group, sorted.
func (l *Ledger) GroupMembers(ctx context.Context, tenant, id string) ([]string, error) {
	m, err := l.rdb.SMembers(ctx, groupKeys(tenant).members(id)).Result()
	if err != nil {
		return nil, redisErr("group members", err)
	}
	sort.Strings(m)
	return m, nil
}

// groupsByIDs returns the groups among ids (one round trip).
func (l *Ledger) groupsByIDs(ctx context.Context, tenant string, ids []string, withDeleted bool) ([]*Record, error) {
	return l.records(ctx, groupKeys(tenant), ids, withDeleted)
}

// pendingMembers returns a group's membership changes not yet applied:
// user id → "+n" (add) or "-n" (remove).
func (l *Ledger) pendingMembers(ctx context.Context, tenant, id string) (map[string]string, error) {
	m, err := l.rdb.HGetAll(ctx, groupKeys(tenant).pending(id)).Result()
	if err != nil {
		return nil, redisErr("pending members", err)
	}
	return m, nil
}

// markGroupApplied clears the applied membership changes and, when none
// are left, records the version as applied.
func (l *Ledger) markGroupApplied(ctx context.Context, tenant, id string, version int64, anchor string, applied map[string]string) (err error) {
	ctx, span := startSpan(ctx, "sync.ledger.mark_applied", tenant, attribute.String("scimbridge.kind", "Group"))
	defer endSpan(span, &err)
	k := groupKeys(tenant)
	args := make([]any, 0, 3+2*len(applied))
	args = append(args, id, version, anchor)
	for u, v := range applied {
		args = append(args, u, v)
	}
	if err := groupAppliedScript.Run(ctx, l.rdb, []string{k.rec(id), k.dirty(), k.pending(id), k.idxAnchor(), k.failed()}, args...).Err(); err != nil {
		return redisErr("mark group applied", err)
	}
	return nil
}

// userAnchors returns the store anchors of users (deleted ones included:
// their anchor is still needed to remove them from groups); "" for a user
// never applied.
func (l *Ledger) userAnchors(ctx context.Context, tenant string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	k := userKeys(tenant)
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, k.rec(id), "anchor", "v")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("user anchors", err)
	}
	for i, c := range cmds {
		vals := c.Val()
		if len(vals) == 2 && vals[1] == nil {
			continue // no such user
		}
		a, _ := vals[0].(string)
		out[ids[i]] = a
	}
	return out, nil
}

// userIDsByAnchor maps store user anchors to ledger user ids (unknown ones omitted).
func (l *Ledger) userIDsByAnchor(ctx context.Context, tenant string, anchors []string) (map[string]string, error) {
	return l.idsByAnchor(ctx, userKeys(tenant), anchors, "users by anchor")
}

// CountGroups returns the number of live groups.
func (l *Ledger) CountGroups(ctx context.Context, tenant string) (int, error) {
	n, err := l.rdb.ZCard(ctx, groupKeys(tenant).all()).Result()
	if err != nil {
		return 0, redisErr("count groups", err)
	}
	return int(n), nil
}

// GroupIDs returns live group ids in creation order, from offset
// (0-based), at most count.
func (l *Ledger) GroupIDs(ctx context.Context, tenant string, offset, count int) ([]string, error) {
	if count <= 0 {
		return nil, nil
	}
	ids, err := l.rdb.ZRange(ctx, groupKeys(tenant).all(), int64(offset), int64(offset+count-1)).Result()
	if err != nil {
		return nil, redisErr("list groups", err)
	}
	return ids, nil
}

// findGroups returns the live groups whose displayName (case-insensitive:
// at most one) or externalId (attr; any number, in creation order) is value.
func (l *Ledger) findGroups(ctx context.Context, tenant, attr, value string) ([]*Record, error) {
	k := groupKeys(tenant)
	if attr == "externalId" {
		return l.findByExternalID(ctx, k, value)
	}
	id, err := l.rdb.HGet(ctx, k.idxDisplayName(), strings.ToLower(value)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, redisErr("lookup group", err)
	}
	return l.groupsByIDs(ctx, tenant, []string{id}, false)
}

// KnownGroupAnchors returns which of the store group anchors the ledger
// already knows.
func (l *Ledger) KnownGroupAnchors(ctx context.Context, tenant string, anchors []string) (map[string]bool, error) {
	return l.knownAnchors(ctx, groupKeys(tenant), anchors)
}
