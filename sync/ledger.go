package sync

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/scim"
)

// Errors returned by the Ledger and the Service (wrapped; use errors.Is).
var (
	// ErrNotFound: no such resource in this tenant (or it is deleted).
	ErrNotFound = errors.New("resource not found")
	// ErrUniqueness: userName (case-insensitive), a group's displayName
	// (case-insensitive) or, where the tenant asks, externalId taken.
	ErrUniqueness = errors.New("uniqueness violation")
	// ErrVersionMismatch: If-Match did not match the current version.
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrUnavailable: Redis could not be reached; nothing was written. It
	// wraps adapters.ErrUnavailable, so adapters.Classify sees a ledger
	// outage as ClassUnavailable (retried) like a store outage.
	ErrUnavailable = fmt.Errorf("ledger unavailable: %w", adapters.ErrUnavailable)
)

// Sync states of a resource.
const (
	StateApplied = "applied"
	StatePending = "pending"
	StateFailed  = "failed"
)

// Record is one resource in the ledger.
type Record struct {
	Tenant   string
	ID       string
	Attrs    scim.Attrs // desired attributes (no password)
	Version  int64      // desired version; meta.version is W/"<Version>"
	Applied  int64      // last version applied to the store
	Anchor   string     // store key, once known
	Created  time.Time
	Modified time.Time
	Seq      int64 // creation order: the stable list order
	Deleted  bool
	// Failure is the store's reason for the last permanent failure of
	// FailedVersion (empty when none).
	Failure       string
	FailedVersion int64
	// Retrying: an operator replayed the failure; the next apply retries it.
	Retrying bool
	// WaitsFor is the user whose store entry this user's last apply found
	// (by userName) while that user's own change was pending: the apply
	// was not marked and is retried (errAnchorHeld). Empty: none.
	WaitsFor string
	// Dropped is, for a group, what its latest write that named members
	// left out because they are not users of the tenant (zero: nothing).
	Dropped DroppedMembers

	sealedPassword  string
	passwordVersion int64
	// priorActive is, for a PUT not read first (ReplaceUserUnread), the
	// active stored before the write ("true", "false", "" when none).
	priorActive string
	// drainGen is the tenant's drain generation read with the write that
	// returned this record ("" when not read).
	drainGen string
}

// DroppedMembers are the member ids a group write named that are not
// users of the tenant: left out of the group, the rest of the write
// applied.
type DroppedMembers struct {
	// Count is how many ids were left out.
	Count int `json:"count"`
	// IDs are the first of them (at most 10).
	IDs []string `json:"ids"`
	// Version is the group version written without them.
	Version int64 `json:"version"`
}

// State is applied, pending or failed.
func (r *Record) State() string {
	switch {
	case r.Applied >= r.Version:
		return StateApplied
	case r.Failure != "" && r.FailedVersion >= r.Version && !r.Retrying:
		return StateFailed
	}
	return StatePending
}

// Meta is the record's SCIM meta (without location: UserResource and
// GroupResource add it).
func (r *Record) Meta(resourceType string) scim.Meta {
	return scim.Meta{
		ResourceType: resourceType,
		Created:      r.Created,
		LastModified: r.Modified,
		Version:      fmt.Sprintf("W/%q", strconv.FormatInt(r.Version, 10)),
	}
}

// HasPendingPassword reports whether a password waits to be applied.
func (r *Record) HasPendingPassword() bool { return r.sealedPassword != "" }

// keys names the Redis keys of one tenant's resources of one kind.
type keys struct {
	tenant, kind string
}

func (k keys) prefix() string         { return "sb:{" + k.tenant + "}:" + k.kind + ":" }
func (k keys) rec(id string) string   { return k.prefix() + "r:" + id }
func (k keys) idxUserName() string    { return k.prefix() + "idx:un" }
func (k keys) idxEmails() string      { return k.prefix() + "idx:em" }
func (k keys) idxAnchor() string      { return k.prefix() + "idx:anchor" }
func (k keys) all() string            { return k.prefix() + "all" }
func (k keys) seq() string            { return k.prefix() + "seq" }
func (k keys) dirty() string          { return k.prefix() + "dirty" }
func (k keys) lease(id string) string { return k.prefix() + "lease:" + id }
func (k keys) failed() string         { return k.prefix() + "failed" }
func userKeys(tenant string) keys     { return keys{tenant: tenant, kind: "u"} }
func (k keys) putKeys(id string) []string {
	return []string{k.rec(id), k.idxUserName(), k.idxExternalIDs(), k.idxEmails(), k.all(), k.seq(), k.dirty(), k.idxAnchor(), k.failed(), k.drainGen(), k.idxExternalIDHash()}
}

// Ledger keeps desired and applied state in Redis.
type Ledger struct {
	rdb    redis.UniversalClient
	sealer *Sealer
	now    func() time.Time
	// minReplicas and replicaTimeout: RequireReplicas (ledger_replicas.go).
	minReplicas    int
	replicaTimeout time.Duration
	// eventRetention is how long events stay in a tenant's stream; 0:
	// no events are recorded (ledger_events.go).
	eventRetention time.Duration
	// publicURL is the server's public URL, for the meta.location of the
	// resources events show ("" none: SetPublicURL, render.go).
	publicURL string
	// onEvents, when set, is told of a tenant's new events (OnEvents).
	onEvents func(ctx context.Context, tenant string)
	// acks caches, per tenant, whether an endpoint takes *.acknowledged
	// events (ledger_ack.go).
	acks ackCache
	// bases are the users this process last read or wrote, the base of
	// its next read-modify-write (ledger_base.go).
	bases baseCache
	// touches are this process's records in the sweep index
	// (ledger_sweep.go).
	touches sweepTouches
}

// NewLedger returns a Ledger. sealer may be nil: then passwords are
// ignored (never stored): Okta sends one with every create even when
// Sync Password is off, so refusing them would refuse every create.
func NewLedger(rdb redis.UniversalClient, sealer *Sealer) *Ledger {
	return &Ledger{rdb: rdb, sealer: sealer, now: time.Now}
}

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// userIndexValues extracts what the indexes hold from a user's attributes.
func userIndexValues(a scim.Attrs) (userName, externalID, emails string) {
	if s, ok := a["userName"].(string); ok {
		userName = strings.ToLower(s)
	}
	if s, ok := a["externalId"].(string); ok {
		externalID = s
	}
	var ems []string
	if list, ok := a["emails"].([]any); ok {
		seen := map[string]bool{}
		for _, e := range list {
			m, _ := e.(map[string]any)
			if v, ok := m["value"].(string); ok && v != "" && !strings.ContainsAny(v, "\n\x00") {
				lv := strings.ToLower(v)
				if !seen[lv] {
					seen[lv] = true
					ems = append(ems, lv)
				}
			}
		}
	}
	return userName, externalID, strings.Join(ems, "\n")
}

// putMode is how putUser writes.
type putMode string

const (
	modeCreate putMode = "create"
	modeUpdate putMode = "update"
	modeDelete putMode = "delete"
	modeAdopt  putMode = "adopt"
	// modeMembers changes a group's membership and nothing else.
	modeMembers putMode = "members"
)

// putUser runs the atomic write. password nil keeps any pending password.
//
// prev is the state written over, for the event journal (nil: not
// read). keep is putScript's ARGV[14]: "" or, for a PUT not read first, keepReport
// or keepActive (a has no active: the stored one is kept, and set in the
// returned record's Attrs); the returned record's priorActive is then the
// stored active before the write.
func (l *Ledger) putUser(ctx context.Context, tenant string, u Uniqueness, id string, mode putMode, expect int64, a scim.Attrs, password *string, anchor, keep string, prev scim.Attrs) (*Record, error) {
	return l.putUserOn(ctx, tenant, u, id, mode, expect, a, password, anchor, keep, prev, "")
}

// putUserOn is putUser on top of the write whose request id is base (""
// any: see ledger_base.go); a record written since answers errStaleBase.
// A write that went through is remembered as the next write's base.
func (l *Ledger) putUserOn(ctx context.Context, tenant string, u Uniqueness, id string, mode putMode, expect int64, a scim.Attrs, password *string, anchor, keep string, prev scim.Attrs, base string) (_ *Record, err error) {
	ctx, span := startSpan(ctx, "sync.ledger.put_user", tenant, attribute.String("scimbridge.mode", string(mode)))
	defer endSpan(span, &err)
	if err := requestLive(ctx, "put user"); err != nil {
		return nil, err
	}
	k := userKeys(tenant)
	var doc []byte
	var un, ext, ems string
	if mode != modeDelete {
		var err error
		// The document as encoding/json writes it, without escaping <, >
		// and & (either form decodes to the same values).
		if doc, err = scim.AppendJSON(make([]byte, 0, 512), a); err != nil {
			return nil, fmt.Errorf("sync: encode user %s: %w", id, err)
		}
		un, ext, ems = userIndexValues(a)
		if un == "" {
			return nil, scim.BadRequest(scim.ScimTypeInvalidValue, "userName is required")
		}
	}
	sealed, pwFlag := "", "0"
	if password != nil && mode != modeDelete && l.sealer != nil {
		s, err := l.sealer.Seal(*password, tenant+"/"+id)
		if err != nil {
			return nil, err
		}
		sealed, pwFlag = s, "1"
	}
	at := l.now()
	now := strconv.FormatInt(at.UnixMilli(), 10)
	var res []string
	reqID := newID() // the same in every resend of this write (Replays, ledger_lua.go)
	entry := l.userJournalEntry(mode, prev, a, at)
	mark := "" // see ledger_replicas.go
	if mode == modeCreate && l.minReplicas > 0 {
		mark = "1"
	}
	l.touchSweep(ctx, tenant) // before the write: see ledger_sweep.go
	err = l.writeReplicated(ctx, k.rec(id), func(c redis.Scripter) (string, error) {
		var err error
		res, err = putScript.Run(ctx, c, append(k.putKeys(id), k.journal(id)),
			string(mode), id, expect, doc, un, ext, ems, now, sealed, pwFlag, anchor, u.arg(), reqID, keep, entry, mark, base).StringSlice()
		if err != nil {
			return "", redisErr("put user", err)
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
		r, err := putReplyRecord(tenant, id, res[2:], mode, a)
		if err != nil {
			return nil, err
		}
		r.drainGen = res[1]
		if mode == modeUpdate && keep == "" {
			l.bases.remember(tenant, id, r.Version, reqID, doc) // the stored doc is doc
		} else {
			l.bases.forget(tenant, id)
		}
		if keep != "" && len(res) > 2+len(putReplyFields) {
			r.priorActive = res[2+len(putReplyFields)]
			if keep == keepActive {
				r.Attrs["active"] = r.priorActive == "true"
			}
		}
		return r, nil
	case "notfound":
		l.bases.forget(tenant, id)
		return nil, fmt.Errorf("sync: user %s: %w", id, ErrNotFound)
	case "exists":
		return nil, fmt.Errorf("sync: user %s: id exists: %w", id, ErrUniqueness)
	case "version":
		l.bases.forget(tenant, id)
		return nil, fmt.Errorf("sync: user %s is at version %s: %w", id, res[1], ErrVersionMismatch)
	case "stale":
		l.bases.forget(tenant, id)
		return nil, fmt.Errorf("sync: user %s: %w", id, errStaleBase)
	case "unique":
		return nil, &UniquenessError{Attribute: res[1], ExistingID: res[2]}
	case "adopted":
		return l.getUserAny(ctx, tenant, res[1])
	}
	return nil, fmt.Errorf("sync: put user: unexpected reply %q", res[0])
}

// requestLive is checked right before a write: a request whose client
// went away (context.Canceled) or whose deadline passed writes nothing, so
// a change nobody waits for any more is not recorded behind the client's
// back. The deadline is ErrUnavailable (503, retry), like a slow Redis.
func requestLive(ctx context.Context, op string) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sync: %s: the request's deadline passed before the write: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("sync: %s: the request ended before the write: %w", op, err)
}

// UniquenessError says which attribute collided. It matches ErrUniqueness.
type UniquenessError struct {
	Attribute  string
	ExistingID string
}

func (e *UniquenessError) Error() string {
	return fmt.Sprintf("sync: %s is already taken: %v", e.Attribute, ErrUniqueness)
}

// Is makes errors.Is(err, ErrUniqueness) true.
func (e *UniquenessError) Is(target error) bool { return target == ErrUniqueness }

// redisErr wraps a Redis error; one that means Redis cannot answer now
// (isRedisUnavailable) is ErrUnavailable.
func redisErr(op string, err error) error {
	if isRedisUnavailable(err) {
		return fmt.Errorf("sync: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("sync: %s: %w", op, err)
}

// isRedisUnavailable reports, by the error's type, whether Redis could not
// be reached or answer in time: a network error (refused, reset, i/o
// timeout), a connection closed mid-reply, a closed client or exhausted
// pool, a deadline, or a server that is not serving yet (LOADING, a
// cluster or replica without its master: CLUSTERDOWN, TRYAGAIN,
// MASTERDOWN). Anything else (a script error, a wrong type) is not.
func isRedisUnavailable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, context.DeadlineExceeded) ||
		redis.IsLoadingError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err)
}

// replyStrings is a script's list reply of strings (HGETALL inside Lua).
func replyStrings(reply []any) []string {
	out := make([]string, len(reply))
	for i, v := range reply {
		out[i], _ = v.(string)
	}
	return out
}

func decodeRecord(tenant, id string, kv []string) (*Record, error) {
	if len(kv) == 0 {
		return nil, fmt.Errorf("sync: user %s: %w", id, ErrNotFound)
	}
	f := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	return recordFromFields(tenant, id, f)
}

// putReplyRecord is the record a put returned: values of putReplyFields,
// then the doc in delete mode. In the other modes the stored document is
// the JSON of a, which the record takes instead of decoding it again: a
// holds only what encoding/json decodes to (ParseUser's output, or a
// patched decoded record), so the two are the same values
// (TestWriteReturnsWhatAGetReads).
func putReplyRecord(tenant, id string, vals []string, mode putMode, a scim.Attrs) (*Record, error) {
	if len(vals) < len(putReplyFields) {
		return nil, fmt.Errorf("sync: put user %s: short reply (%d values)", id, len(vals))
	}
	f := make(map[string]string, len(putReplyFields)+1)
	for i, name := range putReplyFields {
		if vals[i] != "" {
			f[name] = vals[i]
		}
	}
	if mode == modeDelete {
		if len(vals) > len(putReplyFields) && vals[len(putReplyFields)] != "" {
			f["doc"] = vals[len(putReplyFields)]
		}
		return recordFromFields(tenant, id, f)
	}
	r, err := recordFromFields(tenant, id, f)
	if r != nil {
		r.Attrs = a
	}
	return r, err
}

func recordFromFields(tenant, id string, f map[string]string) (*Record, error) {
	if len(f) == 0 {
		return nil, fmt.Errorf("sync: user %s: %w", id, ErrNotFound)
	}
	num := func(k string) int64 {
		v := f[k]
		if v == "" { // absent: no ParseInt error to allocate
			return 0
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	r := &Record{
		Tenant:          tenant,
		ID:              id,
		Version:         num("v"),
		Applied:         num("av"),
		Anchor:          f["anchor"],
		Created:         time.UnixMilli(num("created")).UTC(),
		Modified:        time.UnixMilli(num("mod")).UTC(),
		Seq:             num("seq"),
		Deleted:         f["del"] == "1",
		Failure:         f["fail"],
		FailedVersion:   num("failv"),
		Retrying:        f["rtry"] == "1",
		WaitsFor:        f["wait"],
		sealedPassword:  f["pw"],
		passwordVersion: num("pwv"),
	}
	if n := num("dropn"); n > 0 {
		r.Dropped = DroppedMembers{Count: int(n), IDs: strings.Split(f["dropids"], "\n"), Version: num("dropv")}
	}
	if d := f["doc"]; d != "" {
		a, err := decodeDoc([]byte(d))
		if err != nil {
			return nil, fmt.Errorf("sync: decode user %s: %w", id, err)
		}
		r.Attrs = a
	}
	return r, nil
}

// decodeDoc decodes a stored document into the values encoding/json gives
// (scim.DecodeStored, or encoding/json itself for a document that one
// refuses).
func decodeDoc(doc []byte) (scim.Attrs, error) {
	if m, ok := scim.DecodeStored(doc); ok {
		return scim.Attrs(m), nil
	}
	var a scim.Attrs
	err := json.Unmarshal(doc, &a)
	return a, err
}

// CreateUser records a new user and marks it dirty. userName is unique
// (case-insensitively); externalId too when u says so.
func (l *Ledger) CreateUser(ctx context.Context, tenant string, u Uniqueness, a scim.Attrs, password *string) (*Record, error) {
	return l.putUser(ctx, tenant, u, newID(), modeCreate, 0, a, password, "", "", nil)
}

// UpdateUser replaces the desired attributes of a live user; expect > 0
// makes it conditional on the current version.
func (l *Ledger) UpdateUser(ctx context.Context, tenant string, u Uniqueness, id string, expect int64, a scim.Attrs, password *string) (*Record, error) {
	return l.putUser(ctx, tenant, u, id, modeUpdate, expect, a, password, "", "", nil)
}

// putScript's ARGV[14] for a PUT not read first (putUser's keep).
const (
	keepReport = "r"
	keepActive = "k"
)

// ReplaceUserUnread replaces the desired attributes of a live user
// unconditionally, without reading it first: a without active keeps the
// stored active (in the script). The record's priorActive is the active
// stored before ("true", "false", "" when none).
func (l *Ledger) ReplaceUserUnread(ctx context.Context, tenant string, u Uniqueness, id string, a scim.Attrs, password *string) (*Record, error) {
	keep := keepReport
	if _, ok := a["active"]; !ok {
		keep = keepActive
	}
	return l.putUser(ctx, tenant, u, id, modeUpdate, 0, a, password, "", keep, nil)
}

// DeleteUser marks a live user deleted (a tombstone the worker applies).
func (l *Ledger) DeleteUser(ctx context.Context, tenant, id string, expect int64) (*Record, error) {
	return l.putUser(ctx, tenant, Uniqueness{}, id, modeDelete, expect, nil, nil, "", "", nil)
}

// AdoptUser records an entry that exists in the store but not in the
// ledger, as already applied, under the same uniqueness as a create. If
// the anchor is known already, the existing record is returned.
func (l *Ledger) AdoptUser(ctx context.Context, tenant string, u Uniqueness, anchor string, a scim.Attrs) (*Record, error) {
	k := userKeys(tenant)
	if id, err := l.rdb.HGet(ctx, k.idxAnchor(), anchor).Result(); err == nil {
		return l.getUserAny(ctx, tenant, id)
	} else if !errors.Is(err, redis.Nil) {
		return nil, redisErr("adopt user", err)
	}
	return l.putUser(ctx, tenant, u, newID(), modeAdopt, 0, a, nil, anchor, "", nil)
}

// KnownAnchors returns which of the anchors the ledger already knows.
func (l *Ledger) KnownAnchors(ctx context.Context, tenant string, anchors []string) (map[string]bool, error) {
	return l.knownAnchors(ctx, userKeys(tenant), anchors)
}

// knownAnchors returns which store anchors of one kind the ledger knows.
func (l *Ledger) knownAnchors(ctx context.Context, k keys, anchors []string) (map[string]bool, error) {
	out := make(map[string]bool, len(anchors))
	if len(anchors) == 0 {
		return out, nil
	}
	vals, err := l.rdb.HMGet(ctx, k.idxAnchor(), anchors...).Result()
	if err != nil {
		return nil, redisErr("known anchors", err)
	}
	for i, v := range vals {
		if v != nil {
			out[anchors[i]] = true
		}
	}
	return out, nil
}

// idsByAnchor maps store anchors of one kind to the ledger ids holding
// them (unknown ones omitted); op names the read in an error.
func (l *Ledger) idsByAnchor(ctx context.Context, k keys, anchors []string, op string) (map[string]string, error) {
	out := map[string]string{}
	if len(anchors) == 0 {
		return out, nil
	}
	vals, err := l.rdb.HMGet(ctx, k.idxAnchor(), anchors...).Result()
	if err != nil {
		return nil, redisErr(op, err)
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[anchors[i]] = s
		}
	}
	return out, nil
}

// GetUser returns a live user.
func (l *Ledger) GetUser(ctx context.Context, tenant, id string) (*Record, error) {
	r, err := l.getUserAny(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("sync: user %s: %w", id, ErrNotFound)
	}
	return r, nil
}

// getUserAny returns the user's record, deleted or not.
func (l *Ledger) getUserAny(ctx context.Context, tenant, id string) (*Record, error) {
	f, err := l.rdb.HGetAll(ctx, userKeys(tenant).rec(id)).Result()
	if err != nil {
		return nil, redisErr("get user", err)
	}
	return recordFromFields(tenant, id, f)
}

// GetUsers returns the live users among ids, in the order given, skipping
// missing ones. One round trip.
func (l *Ledger) GetUsers(ctx context.Context, tenant string, ids []string) ([]*Record, error) {
	return l.records(ctx, userKeys(tenant), ids, false)
}

// FindUsers returns the live users whose indexed attribute equals value
// (userName and emails.value case-insensitive, externalId, id), in one round trip.
func (l *Ledger) FindUsers(ctx context.Context, tenant string, attr, value string) ([]*Record, error) {
	k := userKeys(tenant)
	var idx []string
	var mode, v string
	switch attr {
	case "userName":
		idx, mode, v = []string{k.idxUserName()}, "hash", strings.ToLower(value)
	case "externalId":
		return l.findByExternalID(ctx, k, value)
	case "emails.value":
		idx, mode, v = []string{k.idxEmails()}, "lex", strings.ToLower(value)
	case "id":
		return l.GetUsers(ctx, tenant, []string{value})
	default:
		return nil, fmt.Errorf("sync: no index on %q", attr)
	}
	return l.find(ctx, k, idx, mode, v)
}

// findByExternalID returns the live resources of a kind whose externalId
// is value, in creation order.
func (l *Ledger) findByExternalID(ctx context.Context, k keys, value string) ([]*Record, error) {
	recs, err := l.find(ctx, k, []string{k.idxExternalIDs(), k.idxExternalIDHash()}, "ext", value)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		// An entry an older release left behind may name a record whose
		// externalId has changed since (see ledger_extid.go).
		if ext, _ := r.Attrs["externalId"].(string); ext == value {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// find runs findScript and decodes the live records it returns.
func (l *Ledger) find(ctx context.Context, k keys, idx []string, mode, v string) ([]*Record, error) {
	tenant := k.tenant
	raw, err := findScript.Run(ctx, l.rdb, idx, mode, v, k.prefix()).Slice()
	if err != nil {
		return nil, redisErr("find "+strings.ToLower(kindName(k))+"s", err)
	}
	out := make([]*Record, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		id, _ := raw[i].(string)
		fields, _ := raw[i+1].([]any)
		if len(fields) == 0 {
			continue // the index names a record that is gone
		}
		r, err := decodeRecord(tenant, id, replyStrings(fields))
		if err != nil {
			return nil, err
		}
		if !r.Deleted {
			out = append(out, r)
		}
	}
	return out, nil
}

// CountUsers returns the number of live users.
func (l *Ledger) CountUsers(ctx context.Context, tenant string) (int, error) {
	n, err := l.rdb.ZCard(ctx, userKeys(tenant).all()).Result()
	if err != nil {
		return 0, redisErr("count users", err)
	}
	return int(n), nil
}

// UserIDs returns live user ids in creation order, from offset (0-based),
// at most count.
func (l *Ledger) UserIDs(ctx context.Context, tenant string, offset, count int) ([]string, error) {
	if count <= 0 {
		return nil, nil
	}
	ids, err := l.rdb.ZRange(ctx, userKeys(tenant).all(), int64(offset), int64(offset+count-1)).Result()
	if err != nil {
		return nil, redisErr("list users", err)
	}
	return ids, nil
}

// MarkApplied records that version was applied with the given anchor, and
// that the password of passwordVersion (0: none) is no longer needed.
func (l *Ledger) MarkApplied(ctx context.Context, tenant, id string, version int64, anchor string, passwordVersion int64) error {
	return l.markApplied(ctx, tenant, id, version, anchor, passwordVersion, nil)
}

// markApplied records the apply and, with a held lease, gives the lease
// back in the same round trip.
func (l *Ledger) markApplied(ctx context.Context, tenant, id string, version int64, anchor string, passwordVersion int64, h *heldLease) (err error) {
	return l.markAppliedEmit(ctx, tenant, id, version, anchor, passwordVersion, h, nil)
}

// markAppliedEmit is markApplied that also emits ev's events (nil: none)
// in the same script, only when the mark is not refused.
func (l *Ledger) markAppliedEmit(ctx context.Context, tenant, id string, version int64, anchor string, passwordVersion int64, h *heldLease, ev *emitted) (err error) {
	ctx, span := startSpan(ctx, "sync.ledger.mark_applied", tenant, attribute.String("scimbridge.kind", "User"))
	defer endSpan(span, &err)
	k := userKeys(tenant)
	keys := []string{k.rec(id), k.dirty(), k.idxAnchor(), k.failed()}
	args := []any{id, version, anchor, passwordVersion}
	script := appliedScript
	if ev != nil && l.EventsEnabled() {
		script = appliedEmitScript
		keys = append(keys, eventStream(tenant), k.journal(id), k.pending(id))
		args = append(args, l.minID(), newID(), ev.resource)
	}
	if h != nil {
		keys = append(keys, h.key)
		args = append(args, h.token)
	}
	res, err := script.Run(ctx, l.rdb, keys, args...).Result()
	if err != nil {
		return redisErr("mark applied", err)
	}
	if h != nil {
		h.released = true
	}
	if script == appliedEmitScript {
		r, _ := res.([]any)
		if len(r) == 2 {
			res = r[0]
			if n, ok := r[1].(int64); ok && n > 0 && l.onEvents != nil {
				l.onEvents(ctx, tenant)
			}
		}
	}
	if other, ok := res.(string); ok {
		return fmt.Errorf("%w: user %s holds anchor %s (user %s stays pending)", errAnchorHeld, other, anchor, id)
	}
	return nil
}

// MarkFailed records a permanent failure of version with the store's reason.
func (l *Ledger) MarkFailed(ctx context.Context, tenant, id string, version int64, reason string) error {
	return l.markFailed(ctx, userKeys(tenant), id, version, reason)
}

func (l *Ledger) markFailed(ctx context.Context, k keys, id string, version int64, reason string) (err error) {
	ctx, span := startSpan(ctx, "sync.ledger.mark_failed", k.tenant, attribute.String("scimbridge.kind", kindName(k)))
	defer endSpan(span, &err)
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	if err := failedScript.Run(ctx, l.rdb, []string{k.rec(id), k.dirty(), k.failed()}, id, version, reason, l.now().UnixMilli()).Err(); err != nil {
		return redisErr("mark failed", err)
	}
	return nil
}

// Password returns the clear pending password of r (nil when none).
func (l *Ledger) Password(r *Record) (*string, error) {
	if r.sealedPassword == "" {
		return nil, nil
	}
	pw, err := l.sealer.Open(r.sealedPassword, r.Tenant+"/"+r.ID)
	if err != nil {
		return nil, err
	}
	return &pw, nil
}

// Dirty returns up to limit ids dirty since before the given time, oldest first.
func (l *Ledger) Dirty(ctx context.Context, tenant string, before time.Time, limit int) ([]string, error) {
	return l.dirty(ctx, userKeys(tenant), before, limit)
}

func (l *Ledger) dirty(ctx context.Context, k keys, before time.Time, limit int) ([]string, error) {
	ids, err := l.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: k.dirty(), Start: "-inf", Stop: strconv.FormatInt(before.UnixMilli(), 10),
		ByScore: true, Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, redisErr("dirty users", err)
	}
	return ids, nil
}

// OldestDirty returns how many users are dirty and since when the oldest.
func (l *Ledger) OldestDirty(ctx context.Context, tenant string) (int, time.Time, error) {
	k := userKeys(tenant).dirty()
	pipe := l.rdb.Pipeline()
	n := pipe.ZCard(ctx, k)
	first := pipe.ZRangeWithScores(ctx, k, 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, time.Time{}, redisErr("oldest dirty", err)
	}
	if len(first.Val()) == 0 {
		return 0, time.Time{}, nil
	}
	return int(n.Val()), time.UnixMilli(int64(first.Val()[0].Score)), nil
}

// Lease takes the per-resource apply lease for ttl. It returns a release
// function, or ok=false when another apply holds it.
func (l *Ledger) Lease(ctx context.Context, tenant, id string, ttl time.Duration) (release func(), ok bool, err error) {
	return l.lease(ctx, userKeys(tenant), id, ttl)
}

func (l *Ledger) lease(ctx context.Context, k keys, id string, ttl time.Duration) (release func(), ok bool, err error) {
	key := k.lease(id)
	token := newID()
	ok, err = l.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, false, redisErr("lease", err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		_ = releaseScript.Run(ctx, l.rdb, []string{key}, token).Err()
	}, true, nil
}

// getUsersAny is GetUsers including deleted records.
func (l *Ledger) getUsersAny(ctx context.Context, tenant string, ids []string) ([]*Record, error) {
	return l.records(ctx, userKeys(tenant), ids, true)
}

// records loads the records of ids of one kind in one round trip, in the
// order given, skipping missing ones and, unless withDeleted, deleted ones.
func (l *Ledger) records(ctx context.Context, k keys, ids []string, withDeleted bool) ([]*Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, k.rec(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("get records", err)
	}
	out := make([]*Record, 0, len(ids))
	for i, c := range cmds {
		f := c.Val()
		if len(f) == 0 || (!withDeleted && f["del"] == "1") {
			continue
		}
		r, err := recordFromFields(k.tenant, ids[i], f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Failed returns up to limit ids of users whose latest version the store
// rejected, oldest failure first.
func (l *Ledger) Failed(ctx context.Context, tenant, kind string, limit int) ([]string, error) {
	k := keys{tenant: tenant, kind: kindKey(kind)}
	ids, err := l.rdb.ZRange(ctx, k.failed(), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, redisErr("failed resources", err)
	}
	return ids, nil
}

// kindKey maps a resource kind ("User", "Group") to its key segment.
func kindKey(kind string) string {
	if kind == "Group" || kind == "g" {
		return "g"
	}
	return "u"
}

// heldLease is a resource lease taken together with the record's load.
type heldLease struct {
	l        *Ledger
	key      string
	token    string
	released bool
}

// release gives the lease back unless MarkApplied already did.
func (h *heldLease) release(ctx context.Context) {
	if h.released {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_ = releaseScript.Run(ctx, h.l.rdb, []string{h.key}, h.token).Err()
}

// leaseAndLoadUser takes a user's lease and loads its record in one round
// trip. ok is false when another apply holds the lease; the record is nil
// when the user does not exist.
func (l *Ledger) leaseAndLoadUser(ctx context.Context, tenant, id string, ttl time.Duration) (*heldLease, *Record, bool, error) {
	k := userKeys(tenant)
	h := &heldLease{l: l, key: k.lease(id), token: newID()}
	res, err := leaseLoadScript.Run(ctx, l.rdb, []string{h.key, k.rec(id)}, h.token, ttl.Milliseconds()).StringSlice()
	if err != nil {
		return nil, nil, false, redisErr("lease", err)
	}
	if res[0] == "busy" {
		return nil, nil, false, nil
	}
	if len(res) == 1 {
		return h, nil, true, nil
	}
	r, err := decodeRecord(tenant, id, res[1:])
	if err != nil {
		h.release(ctx)
		return nil, nil, false, err
	}
	return h, r, true, nil
}
