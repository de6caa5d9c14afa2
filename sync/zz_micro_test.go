package sync

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func microEvent() *Event {
	res := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2f0c9a1e-0b5b-4f5e-9b9e-3c3a1d2e4f50","externalId":"00u12345","userName":"push00001@example.com","name":{"givenName":"Given","familyName":"Family"},"emails":[{"value":"push00001@example.com","type":"work","primary":true}],"active":true,"meta":{"resourceType":"User","created":"2026-12-07T17:00:00Z","lastModified":"2026-12-07T17:00:00Z","version":"W/\"1\"","location":"https://scim.example.com/t/tenant01234567/scim/v2/Users/2f0c9a1e-0b5b-4f5e-9b9e-3c3a1d2e4f50"}}`
	at := time.Now().UTC()
	return &Event{ID: "evt_abcdefghijklmnopqrstuvwx", Cursor: "1733590000000-0", Tenant: "tenant01234567", Type: "user.created", Time: time.Now().UTC(), AcknowledgedAt: &at,
		Data: EventData{ResourceType: "User", ID: "2f0c9a1e-0b5b-4f5e-9b9e-3c3a1d2e4f50", Sequence: 1, Version: 1, Resource: json.RawMessage(res)}}
}

func BenchmarkMicroMarshal(b *testing.B) {
	ev := microEvent()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = json.Marshal(ev)
	}
}

func BenchmarkMicroSign(b *testing.B) {
	ev := microEvent()
	body, _ := json.Marshal(ev)
	keys := [][]byte{bytes.Repeat([]byte{1}, 32)}
	b.ReportAllocs()
	for b.Loop() {
		_ = signatureHeader(keys, ev.ID, time.Now(), body)
	}
}

func BenchmarkMicroRequest(b *testing.B) {
	body := []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "https://receiver.example.com/hooks/scim?token=abc", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "scimbridge-webhooks/1")
		req.Header.Set("webhook-id", "x")
		req.Header.Set("webhook-timestamp", "1234")
		req.Header.Set("webhook-signature", "v1,abc")
	}
}

func BenchmarkMicroAppend(b *testing.B) {
	ev := microEvent()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ev.appendJSON(buf[:0])
	}
}

func BenchmarkMicroSigner(b *testing.B) {
	ev := microEvent()
	body, _ := json.Marshal(ev)
	s := newSigner([][]byte{bytes.Repeat([]byte{1}, 32)})
	b.ReportAllocs()
	for b.Loop() {
		_ = s.header(ev.ID, time.Now().Unix(), body)
	}
}
