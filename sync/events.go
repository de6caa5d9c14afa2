package sync

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Events: what the application around a tenant's store learns about the
// changes the store now reflects (the events feed and the webhooks).
//
// How an event comes to be, in two steps that keep coalescing lossless:
//
//  1. At acknowledge time, the write's script records the write's
//     transition (Transition: the event types it implies and the names of
//     the attributes it changed) in the resource's journal, keyed by the
//     version the write made (ledger_events.go). The front door knows the
//     state it wrote over, so a deactivate followed by a reactivate is two
//     journal entries, whatever the drain later batches together.
//  2. Once the store holds a version (after the apply, before the applied
//     mark), one script turns the journal entries up to that version into
//     events, in version order, appends them to the tenant's stream and
//     removes them from the journal, atomically: each transition becomes
//     events exactly once, and an apply retried after a crash finds
//     nothing left to emit. Group membership events come from what the
//     group's apply sent to the store (the member changes it applied).
//
// An event's id is derived from the tenant, the resource and its
// per-resource sequence number, all stored in the stream entry, so a
// webhook delivery retried or replayed carries the same webhook-id.

// Event types.
const (
	EventUserCreated         = "user.created"
	EventUserUpdated         = "user.updated"
	EventUserDeactivated     = "user.deactivated"
	EventUserReactivated     = "user.reactivated"
	EventUserDeleted         = "user.deleted"
	EventGroupCreated        = "group.created"
	EventGroupUpdated        = "group.updated"
	EventGroupDeleted        = "group.deleted"
	EventGroupMembersAdded   = "group.members_added"
	EventGroupMembersRemoved = "group.members_removed"
	EventSyncFailed          = "sync.failed"

	// The *.acknowledged events come when the front door acknowledges a
	// write, before the store holds it, for an application that wants
	// the earliest signal: only to endpoints that list them (AckEventTypes;
	// an endpoint taking every type does not take these).
	EventUserAcknowledged  = "user.acknowledged"
	EventGroupAcknowledged = "group.acknowledged"
)

// AckEventTypes are the event types an endpoint takes only when it lists
// them.
var AckEventTypes = []string{EventUserAcknowledged, EventGroupAcknowledged}

// EventTypes are every event type, for validating an endpoint's filter.
var EventTypes = []string{
	EventUserCreated, EventUserUpdated, EventUserDeactivated, EventUserReactivated, EventUserDeleted,
	EventGroupCreated, EventGroupUpdated, EventGroupDeleted, EventGroupMembersAdded, EventGroupMembersRemoved,
	EventSyncFailed,
}

// Transition is what one acknowledged write changed, as the journal keeps
// it until the store holds the version.
type Transition struct {
	Types   []string `json:"t"`
	Changed []string `json:"c,omitempty"`
	// At is when the write was acknowledged (unix ms; a string, so the
	// script that reads it copies it without a float conversion).
	At int64 `json:"at,string"`
}

// encode returns the journal entry ("" for a transition with no event:
// a write that changed nothing).
func (t Transition) encode() string {
	if len(t.Types) == 0 {
		return ""
	}
	b, _ := json.Marshal(t)
	return string(b)
}

// userTransition is the transition of a user write over prev (nil: a
// create) to next (nil: a delete).
func userTransition(prev, next map[string]any, at time.Time) Transition {
	t := Transition{At: at.UnixMilli()}
	switch {
	case prev == nil:
		t.Types = []string{EventUserCreated}
	case next == nil:
		t.Types = []string{EventUserDeleted}
	default:
		changed := changedAttrs(prev, next)
		var others []string
		for _, c := range changed {
			if c != "active" {
				others = append(others, c)
			}
		}
		if len(others) > 0 {
			t.Types = append(t.Types, EventUserUpdated)
		}
		was, is := activeValue(prev), activeValue(next)
		switch {
		case was && !is:
			t.Types = append(t.Types, EventUserDeactivated)
		case !was && is:
			t.Types = append(t.Types, EventUserReactivated)
		}
		t.Changed = changed
	}
	return t
}

// groupTransition is userTransition for a group's attributes (members are
// events of their own, from the apply).
func groupTransition(prev, next map[string]any, at time.Time) Transition {
	t := Transition{At: at.UnixMilli()}
	switch {
	case prev == nil:
		t.Types = []string{EventGroupCreated}
	case next == nil:
		t.Types = []string{EventGroupDeleted}
	default:
		p, n := withoutMembers(prev), withoutMembers(next)
		if c := changedAttrs(p, n); len(c) > 0 {
			t.Types, t.Changed = []string{EventGroupUpdated}, c
		}
	}
	return t
}

// activeValue is a user's active flag as the store sees it (absent: true).
func activeValue(a map[string]any) bool {
	v, ok := a["active"].(bool)
	return !ok || v
}

// changedAttrs returns the sorted names of the top-level attributes that
// differ between a and b (an extension schema's URN counts as one).
func changedAttrs(a, b map[string]any) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !jsonEqual(v, w) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// jsonEqual is reflect.DeepEqual for the values decoded JSON holds
// (string, float64, bool, nil, map[string]any, []any), without reflection
// (it was most of a journal entry's cost); any other type is left to
// reflect.DeepEqual.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case nil:
		return b == nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// Event is one entry of a tenant's events feed.
type Event struct {
	// ID is stable: the same event always has the same id (webhook-id).
	ID string `json:"id"`
	// Cursor is the feed position (the stream entry id): ?after=Cursor
	// continues after this event.
	Cursor string `json:"cursor"`
	Tenant string `json:"tenant"`
	Type   string `json:"type"`
	// Time is when the store was seen to reflect the change.
	Time time.Time `json:"time"`
	// AcknowledgedAt is when the front door acknowledged the write.
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	Data           EventData  `json:"data"`
}

// EventData is an event's subject.
type EventData struct {
	ResourceType string `json:"resource_type"` // User or Group
	ID           string `json:"id"`            // the SCIM id
	// Sequence orders the events of one resource (1, 2, ...).
	Sequence int64 `json:"sequence"`
	// Version is the resource version the store holds.
	Version int64  `json:"version"`
	Anchor  string `json:"anchor,omitempty"`
	// Changed names the attributes a user.updated / group.updated changed.
	Changed []string `json:"changed_attributes,omitempty"`
	// Members are the user ids of a members_added / members_removed.
	Members []string `json:"members,omitempty"`
	// Reason is a sync.failed's store reason (as the admin API shows it).
	Reason string `json:"reason,omitempty"`
	// Resource is the resource as the SCIM API shows it (GET /Users/{id},
	// /Groups/{id}: UserResource, GroupResource; no password): the state
	// after the apply; absent for deletes. A group's lists its members, up
	// to EventMembersMax.
	Resource json.RawMessage `json:"resource,omitempty"`
	// MembersOmitted is, for a group with more than EventMembersMax
	// members, how many it has: its Resource then lists none.
	MembersOmitted int64 `json:"members_omitted,omitempty"`
}

// eventID derives an event's id from what identifies it.
func eventID(tenant, kind, id string, seq int64) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + kind + "\x00" + id + "\x00" + strconv.FormatInt(seq, 10)))
	return "evt_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// eventFromFields decodes a stream entry (field names: ledger_events.go).
func eventFromFields(tenant, cursor string, f map[string]any) Event {
	s := func(k string) string { v, _ := f[k].(string); return v }
	i := func(k string) int64 { n, _ := strconv.ParseInt(s(k), 10, 64); return n }
	e := Event{Cursor: cursor, Tenant: tenant, Type: s("type")}
	e.Data = EventData{ResourceType: s("kind"), ID: s("rid"), Sequence: i("n"), Version: i("v"),
		Anchor: s("anchor"), Reason: s("reason")}
	e.ID = eventID(tenant, e.Data.ResourceType, e.Data.ID, e.Data.Sequence)
	if ms, _, ok := strings.Cut(cursor, "-"); ok {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
			e.Time = time.UnixMilli(n).UTC()
		}
	}
	if at := i("at"); at > 0 {
		t := time.UnixMilli(at).UTC()
		e.AcknowledgedAt = &t
	}
	if c := s("changed"); c != "" {
		e.Data.Changed = strings.Split(c, ",")
	}
	if m := s("members"); m != "" {
		e.Data.Members = strings.Split(m, ",")
	}
	if r := s("res"); r != "" && json.Valid([]byte(r)) {
		e.Data.Resource = json.RawMessage(r)
	}
	e.Data.MembersOmitted = i("mo")
	return e
}

// appendJSON appends the event as json.Marshal encodes it, byte for byte
// (the webhook body; TestEventAppendJSONIsMarshal), without reflection:
// strings and the resource that need encoding/json's escaping or
// compaction go through it, and so does the whole event when a time is
// one MarshalJSON refuses. The Resource is valid JSON (eventFromFields
// keeps only such).
func (e *Event) appendJSON(dst []byte) ([]byte, error) {
	if !jsonTime(e.Time) || (e.AcknowledgedAt != nil && !jsonTime(*e.AcknowledgedAt)) ||
		(len(e.Data.Resource) > 0 && !compactJSON(e.Data.Resource)) {
		b, err := json.Marshal(e)
		return append(dst, b...), err
	}
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"cursor":`...)
	dst = appendJSONString(dst, e.Cursor)
	dst = append(dst, `,"tenant":`...)
	dst = appendJSONString(dst, e.Tenant)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, e.Type)
	dst = append(dst, `,"time":"`...)
	dst = append(e.Time.AppendFormat(dst, time.RFC3339Nano), '"')
	if e.AcknowledgedAt != nil {
		dst = append(dst, `,"acknowledged_at":"`...)
		dst = append(e.AcknowledgedAt.AppendFormat(dst, time.RFC3339Nano), '"')
	}
	d := &e.Data
	dst = append(dst, `,"data":{"resource_type":`...)
	dst = appendJSONString(dst, d.ResourceType)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, d.ID)
	dst = append(dst, `,"sequence":`...)
	dst = strconv.AppendInt(dst, d.Sequence, 10)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, d.Version, 10)
	if d.Anchor != "" {
		dst = append(dst, `,"anchor":`...)
		dst = appendJSONString(dst, d.Anchor)
	}
	dst = appendJSONStrings(dst, `,"changed_attributes":`, d.Changed)
	dst = appendJSONStrings(dst, `,"members":`, d.Members)
	if d.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, d.Reason)
	}
	if len(d.Resource) > 0 {
		dst = append(dst, `,"resource":`...)
		dst = append(dst, d.Resource...)
	}
	if d.MembersOmitted != 0 {
		dst = append(dst, `,"members_omitted":`...)
		dst = strconv.AppendInt(dst, d.MembersOmitted, 10)
	}
	return append(dst, "}}"...), nil
}

// jsonTime reports whether t is a time whose MarshalJSON is its RFC 3339
// layout with nanoseconds: UTC (an event's times are), a four-digit year.
func jsonTime(t time.Time) bool {
	y := t.Year()
	return t.Location() == time.UTC && y >= 0 && y <= 9999
}

// compactJSON reports whether encoding/json would copy the valid JSON raw
// as it is: no whitespace outside strings, nothing it escapes for HTML
// (<, >, &, U+2028, U+2029).
func compactJSON(raw []byte) bool {
	in, esc := false, false
	for i, c := range raw {
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xe2 && i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xa8 || raw[i+2] == 0xa9):
			return false
		case in:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				in = false
			}
		case c == '"':
			in = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}

// appendJSONString appends s quoted as encoding/json does: printable
// ASCII without ", \, <, >, & as it is, anything else through it.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendJSONStrings appends key and the list, unless it is empty
// (omitempty).
func appendJSONStrings(dst []byte, key string, xs []string) []byte {
	if len(xs) == 0 {
		return dst
	}
	dst = append(dst, key...)
	for i, x := range xs {
		if i == 0 {
			dst = append(dst, '[')
		} else {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, x)
	}
	return append(dst, ']')
}
