package sync

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// The webhook body is Event.appendJSON: the same bytes as json.Marshal of
// the event, whatever its strings and resource hold (escaped characters,
// HTML-escaped ones, non-ASCII, a resource that is not compact) and its
// optional fields.
func TestEventAppendJSONIsMarshal(t *testing.T) {
	at := time.Date(2026, 12, 7, 17, 1, 2, 300400500, time.UTC)
	base := func() Event {
		return Event{ID: "evt_abc", Cursor: "1733590000000-0", Tenant: "t1", Type: EventUserCreated,
			Time: time.Date(2026, 12, 7, 17, 1, 3, 0, time.UTC), AcknowledgedAt: &at,
			Data: EventData{ResourceType: "User", ID: "2f0c9a1e", Sequence: 3, Version: 7,
				Resource: json.RawMessage(`{"userName":"a b@example.com","name":{"givenName":"Zoë \"Z\" \\o/"},"active":true}`)}}
	}
	local := time.FixedZone("x", 2*3600)
	cases := map[string]func(e *Event){
		"plain":          func(e *Event) {},
		"no ack, no res": func(e *Event) { e.AcknowledgedAt, e.Data.Resource = nil, nil },
		"lists and reason": func(e *Event) {
			e.Data.Changed, e.Data.Members, e.Data.Reason = []string{"name", "emails"}, []string{"u1", "u<2>"}, "store: \"down\"\n"
		},
		"anchor, omitted":   func(e *Event) { e.Data.Anchor, e.Data.MembersOmitted = "cn=a&b,dc=x", 1234 },
		"html in resource":  func(e *Event) { e.Data.Resource = json.RawMessage(`{"displayName":"R&D <team>"}`) },
		"spaces in res":     func(e *Event) { e.Data.Resource = json.RawMessage("{ \"a\" : [1, 2],\n\"b\":\"x\" }") },
		"line separator":    func(e *Event) { e.Data.Resource = json.RawMessage("{\"a\":\"x\u2028y\"}"); e.Data.ID = "id\u2029" },
		"control, invalid":  func(e *Event) { e.Tenant, e.Data.Reason = "t\x01", "bad \xff utf-8" },
		"escaped quote end": func(e *Event) { e.Data.Resource = json.RawMessage(`{"a":"x\\","b":"\" y"}`) },
		"not UTC":           func(e *Event) { e.Time = e.Time.In(local) },
		"nanoseconds":       func(e *Event) { e.Time = e.Time.Add(5) },
	}
	for name, change := range cases {
		e := base()
		change(&e)
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := e.appendJSON([]byte("prefix"))
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%s:\n got %s (%v)\nwant prefix%s", name, got, err, want)
		}
	}
	e := base()
	e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := e.appendJSON(nil); err == nil {
		t.Error("a time json.Marshal refuses was encoded")
	}
}
