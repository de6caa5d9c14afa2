package sync

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/scimbridge/scimbridge/adapters"
	"github.com/scimbridge/scimbridge/queue"
	"github.com/scimbridge/scimbridge/scim"
)

// Webhooks: a tenant's endpoints and the delivery of its events to them.
//
// One delivery run (a TypeWebhook task) per endpoint at a time, under the
// endpoint's lease, walks the tenant's stream from the endpoint's cursor:
// events queued for replay first, then each event after the cursor that
// the endpoint subscribes to is POSTed, signed (webhook_sign.go); a 2xx
// moves the cursor past it, so an event is never delivered before an
// earlier one and a crash mid-delivery re-sends from the cursor
// (at-least-once; receivers dedupe by webhook-id, which is the event id).
// Any other answer stops the run with an error: asynq retries it with the
// webhook backoff (queue.WebhookRetryDelay, more than 24 hours). A 410
// disables the endpoint at once; an endpoint failing for longer than
// DisableAfter is disabled and the operator told (log, metric, console).
//
// Connections go through the operator's host policy (the one stores use:
// checked on the resolved address at connect time), no proxy from the
// environment, no redirect followed (a 3xx is a failed delivery); a run
// sends on one kept-alive HTTP/1.1 connection (webhook_conn.go).

// errNoWebhookKey: without secrets.key_file a signing secret could only be
// kept in clear text, so no endpoint is made (a 400 that says why).
var errNoWebhookKey = fmt.Errorf("%w: %w: webhook signing secrets are sealed with the key of secrets.key_file; set it to use webhooks (the events feed works without it)",
	ErrInvalidRequest, ErrNoSealer)

// ErrWebhookURL: an endpoint URL that is not acceptable.
var ErrWebhookURL = errors.New("webhook URL not acceptable")

// Endpoint is a tenant's webhook endpoint (without its secrets).
type Endpoint struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Types are the event types sent (empty: all).
	Types   []string  `json:"event_types,omitempty"`
	Enabled bool      `json:"enabled"`
	Created time.Time `json:"created"`
	// DisabledReason says why the endpoint was disabled by scimbridge
	// (410 Gone, failing too long); empty when an operator disabled it.
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	// FailingSince is the first failed delivery since the last success.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// SecretsActive is how many secrets sign (2 during a rotation).
	SecretsActive int `json:"secrets_active"`
}

// wants reports whether the endpoint takes events of type typ.
func (e *Endpoint) wants(typ string) bool {
	if slices.Contains(AckEventTypes, typ) {
		return slices.Contains(e.Types, typ) // only when asked for
	}
	return len(e.Types) == 0 || slices.Contains(e.Types, typ)
}

// wantsAcks reports whether the endpoint takes a *.acknowledged type.
func (e *Endpoint) wantsAcks() bool {
	return e.Enabled && slices.ContainsFunc(e.Types, func(t string) bool { return slices.Contains(AckEventTypes, t) })
}

// Delivery is one attempt, as the delivery log keeps it.
type Delivery struct {
	Event   string    `json:"event_id"`
	Type    string    `json:"type"`
	Attempt int64     `json:"attempt"`
	At      time.Time `json:"at"`
	// Status is the HTTP status (0: no answer).
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
	// Response is the first bytes of the answer's body.
	Response string `json:"response,omitempty"`
	Replay   bool   `json:"replay,omitempty"`
}

// WebhookEnqueuer queues delivery runs (queue.Enqueuer).
type WebhookEnqueuer interface {
	EnqueueWebhook(ctx context.Context, p queue.Webhook, salt string, timeout time.Duration) error
}

// Webhooks manages endpoints and delivers events. Every field but Logger
// and Metrics is required for deliveries; management needs Ledger and
// Sealer.
type Webhooks struct {
	Ledger *Ledger
	// Sealer seals signing secrets (secrets.key_file); nil: no endpoint
	// can be created (ErrNoSealer), existing ones cannot sign.
	Sealer   *Sealer
	Enqueuer WebhookEnqueuer
	// Policy is the operator's host policy (stores.allowed_networks).
	Policy *adapters.HostPolicy
	// Timeout bounds one delivery request (webhooks.timeout).
	Timeout time.Duration
	// DisableAfter: an endpoint failing this long is disabled
	// (webhooks.disable_after).
	DisableAfter time.Duration
	// RunBudget bounds one delivery run; the rest continues in the next
	// run (unset: 3 × Timeout, at least 5 s). The endpoint's lease is
	// RunBudget + 3 × Timeout: a killed worker's endpoint waits that long.
	RunBudget time.Duration
	// TenantConcurrency bounds the delivery runs of one tenant going at
	// once, across every worker (webhooks.tenant_concurrency; <= 0: no
	// bound): a tenant whose receivers all hang holds that many delivery
	// workers, never all of them. A run over the cap is not started: it
	// goes back to the queue (queue.ErrWebhookTenantBusy: no failure
	// counted, the endpoint's one pending run kept, so its order too). A
	// slot is a lease in Redis as long as the endpoint's: a killed
	// worker's slot expires.
	TenantConcurrency int
	Logger            *slog.Logger
	Metrics           *WebhookMetrics
	// Stopping, when set, is closed when the worker begins to shut down:
	// a run sends no further event, and a request in flight is cut; the
	// event stays undelivered (not a failed attempt) for the next worker.
	Stopping <-chan struct{}

	once  gosync.Once
	conns *webhookConns // webhook_conn.go
	// swept is what Sweep knows of which tenants have endpoints.
	swept sweptTenants
	// resolver, when set, resolves the names of endpoint URLs (tests:
	// a name that resolves to a denied address).
	resolver *net.Resolver
	// tlsConfig, when set, is the base HTTPS configuration (tests: their
	// own roots).
	tlsConfig *tls.Config
}

func (w *Webhooks) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

func (w *Webhooks) runBudget() time.Duration {
	if w.RunBudget > 0 {
		return w.RunBudget
	}
	return max(3*w.Timeout, 5*time.Second)
}

// CheckURL validates an endpoint URL: http or https, a host, no
// credentials, and, for an address literal, one the host policy permits
// (a name is checked on its resolved address at each connection).
func (w *Webhooks) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return scim.BadRequest(scim.ScimTypeInvalidValue, "%s: %q must be an http or https URL", ErrWebhookURL, raw)
	}
	if u.User != nil {
		return scim.BadRequest(scim.ScimTypeInvalidValue, "%s: no credentials in the URL", ErrWebhookURL)
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !w.Policy.Permits(a) {
		return scim.BadRequest(scim.ScimTypeInvalidValue, "%s: %s: %s", ErrWebhookURL, adapters.ErrHostDenied, a)
	}
	return nil
}

func checkTypes(types []string) error {
	for _, t := range types {
		if !slices.Contains(EventTypes, t) && !slices.Contains(AckEventTypes, t) {
			return scim.BadRequest(scim.ScimTypeInvalidValue, "unknown event type %q (known: %s; only when listed: %s)", t,
				strings.Join(EventTypes, ", "), strings.Join(AckEventTypes, ", "))
		}
	}
	return nil
}

// view is the endpoint without its secrets.
func (s *storedEndpoint) view(now time.Time) *Endpoint {
	e := s.Endpoint
	e.SecretsActive = 0
	for _, sec := range s.Secrets {
		if sec.Expires == nil || sec.Expires.After(now) {
			e.SecretsActive++
		}
	}
	return &e
}

// EndpointInput is what an operator sets on an endpoint (nil: unchanged).
type EndpointInput struct {
	URL     *string   `json:"url"`
	Types   *[]string `json:"event_types"`
	Enabled *bool     `json:"enabled"`
}

// CreateEndpoint adds an endpoint; the signing secret is returned once.
func (w *Webhooks) CreateEndpoint(ctx context.Context, tenant string, in EndpointInput) (string, *Endpoint, error) {
	if w.Sealer == nil {
		return "", nil, errNoWebhookKey
	}
	if in.URL == nil {
		return "", nil, scim.BadRequest(scim.ScimTypeInvalidValue, "url is required")
	}
	if err := w.CheckURL(*in.URL); err != nil {
		return "", nil, err
	}
	e := &storedEndpoint{Endpoint: Endpoint{ID: "ep_" + strings.ReplaceAll(newID(), "-", "")[:20], URL: *in.URL,
		Enabled: true, Created: w.Ledger.now().UTC()}}
	if in.Types != nil {
		if err := checkTypes(*in.Types); err != nil {
			return "", nil, err
		}
		e.Types = *in.Types
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	}
	secret := newWebhookSecret()
	sealed, err := w.Sealer.Seal(secret, tenant+"/webhook/"+e.ID)
	if err != nil {
		return "", nil, err
	}
	e.Secrets = []sealedSecret{{Sealed: sealed, Created: e.Created}}
	if err := w.Ledger.createEndpoint(ctx, tenant, e); err != nil {
		return "", nil, err
	}
	return secret, e.view(w.Ledger.now()), nil
}

// RotationOverlap is how long the secrets a rotation replaces keep
// signing when the operator names no overlap: a rotation from the console
// or from a changed secret_file of the configuration file.
const RotationOverlap = 24 * time.Hour

// EnsureEndpoint makes the tenant's endpoint for in.URL match in and
// secret, an entry of the configuration file's webhooks.endpoints (secret:
// an operator-made whsec_ secret, from the entry's file), and returns it.
//
// An entry is applied once: the endpoint keeps a digest of it (URL, event
// types, enabled, secret; keyed by the Sealer, so no secret is guessable
// from it), and a restart with the same entry changes nothing, so an
// endpoint scimbridge disabled (410 Gone, failing too long) or an operator
// changed through the API stays as it is. A changed entry is applied: its
// event types, its enabled flag (unset: true; enabled re-enables a
// disabled endpoint, whoever disabled it), and a new secret as a
// rotation: the new one signs first, the ones it replaces keep signing
// for RotationOverlap, as RotateSecret(RotationOverlap) does. With no
// endpoint for the URL, one is made. An endpoint stored without a digest
// (made before digests were kept, or through the API at the entry's URL)
// takes the entry but is not enabled by it: whether its entry changed
// cannot be told.
func (w *Webhooks) EnsureEndpoint(ctx context.Context, tenant string, in EndpointInput, secret string) (*Endpoint, error) {
	if w.Sealer == nil {
		return nil, errNoWebhookKey
	}
	if in.URL == nil {
		return nil, scim.BadRequest(scim.ScimTypeInvalidValue, "url is required")
	}
	if _, err := secretKey(secret); err != nil || !strings.HasPrefix(secret, secretPrefix) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, ErrBadSecret)
	}
	if err := w.CheckURL(*in.URL); err != nil {
		return nil, err
	}
	if in.Types != nil {
		if err := checkTypes(*in.Types); err != nil {
			return nil, err
		}
	}
	digest, err := w.Sealer.Digest(configEntry(tenant, in, secret))
	if err != nil {
		return nil, err
	}
	list, err := w.Ledger.listEndpoints(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var e *storedEndpoint
	for _, x := range list {
		if x.URL == *in.URL {
			e = x
			break
		}
	}
	now := w.Ledger.now().UTC()
	if e != nil && e.ConfigDigest == digest {
		return e.view(now), nil // the entry as applied before
	}
	id := "ep_" + strings.ReplaceAll(newID(), "-", "")[:20]
	if e != nil {
		id = e.ID
	}
	sealed, err := w.Sealer.Seal(secret, tenant+"/webhook/"+id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &storedEndpoint{Endpoint: Endpoint{ID: id, URL: *in.URL, Enabled: true, Created: now},
			Secrets: []sealedSecret{{Sealed: sealed, Created: now}}, ConfigDigest: digest}
		if in.Types != nil {
			e.Types = *in.Types
		}
		if in.Enabled != nil {
			e.Enabled = *in.Enabled
		}
		if err := w.Ledger.createEndpoint(ctx, tenant, e); err != nil {
			return nil, err
		}
		return e.view(now), nil
	}
	e, err = w.Ledger.updateEndpoint(ctx, tenant, id, func(e *storedEndpoint) bool {
		if e.ConfigDigest == digest {
			return false // applied meanwhile (another process starting)
		}
		known := e.ConfigDigest != ""
		if in.Types != nil {
			e.Types = *in.Types
		} else {
			e.Types = nil
		}
		enabled := in.Enabled == nil || *in.Enabled // unset: true
		switch {
		case enabled == e.Enabled:
		case !enabled:
			e.Enabled = false
		case known: // not for an endpoint without a digest: see above
			e.Enabled = true
			e.DisabledReason, e.DisabledAt, e.FailingSince = "", nil, nil
		}
		if !w.signsFirst(tenant, e, secret) {
			e.Secrets = w.rotated(tenant, e, sealedSecret{Sealed: sealed, Created: now}, secret, now, RotationOverlap)
		}
		e.ConfigDigest = digest
		return true
	})
	if err != nil {
		return nil, err
	}
	if e.Enabled {
		w.kickEndpoint(ctx, tenant, e.ID)
	}
	return e.view(now), nil
}

// configEntry is what EnsureEndpoint's digest covers, in one string.
func configEntry(tenant string, in EndpointInput, secret string) string {
	types := "*" // all
	if in.Types != nil {
		ts := slices.Clone(*in.Types)
		slices.Sort(ts)
		types = strings.Join(ts, ",")
	}
	enabled := strconv.FormatBool(in.Enabled == nil || *in.Enabled)
	return strings.Join([]string{"webhooks.endpoints[] v1", tenant, *in.URL, types, enabled, secret}, "\x00")
}

// signsFirst reports whether secret is the endpoint's current secret.
func (w *Webhooks) signsFirst(tenant string, e *storedEndpoint, secret string) bool {
	if len(e.Secrets) == 0 {
		return false
	}
	s, err := w.Sealer.Open(e.Secrets[0].Sealed, tenant+"/webhook/"+e.ID)
	return err == nil && s == secret
}

// rotated is e's secrets after a rotation to first (sealed; secret in
// clear, "" when new): first signs first, and each secret it replaces
// keeps signing until now+overlap (or its own earlier end), none with an
// overlap <= 0. A secret that has expired, that is secret itself (a file
// put back to an earlier secret), or that this process cannot open (it
// could not sign) is dropped.
func (w *Webhooks) rotated(tenant string, e *storedEndpoint, first sealedSecret, secret string, now time.Time, overlap time.Duration) []sealedSecret {
	end := now.Add(overlap)
	out := []sealedSecret{first}
	if overlap <= 0 {
		return out
	}
	for _, s := range e.Secrets {
		if s.Expires != nil && !s.Expires.After(now) {
			continue
		}
		if clear, err := w.Sealer.Open(s.Sealed, tenant+"/webhook/"+e.ID); err != nil || (secret != "" && clear == secret) {
			continue
		}
		if s.Expires == nil || s.Expires.After(end) {
			s.Expires = &end
		}
		out = append(out, s)
	}
	return out
}

// Endpoints lists a tenant's endpoints.
func (w *Webhooks) Endpoints(ctx context.Context, tenant string) ([]*Endpoint, error) {
	list, err := w.Ledger.listEndpoints(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*Endpoint, len(list))
	for i, e := range list {
		out[i] = e.view(w.Ledger.now())
	}
	return out, nil
}

// GetEndpoint returns one endpoint.
func (w *Webhooks) GetEndpoint(ctx context.Context, tenant, id string) (*Endpoint, error) {
	e, err := w.Ledger.getEndpoint(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return e.view(w.Ledger.now()), nil
}

// UpdateEndpoint changes an endpoint's URL, types or enabled flag; an
// enable clears the reason scimbridge disabled it for, and its failing
// period.
func (w *Webhooks) UpdateEndpoint(ctx context.Context, tenant, id string, in EndpointInput) (*Endpoint, error) {
	if in.URL != nil {
		if err := w.CheckURL(*in.URL); err != nil {
			return nil, err
		}
	}
	if in.Types != nil {
		if err := checkTypes(*in.Types); err != nil {
			return nil, err
		}
	}
	e, err := w.Ledger.updateEndpoint(ctx, tenant, id, func(e *storedEndpoint) bool {
		if in.URL != nil {
			e.URL = *in.URL
		}
		if in.Types != nil {
			e.Types = *in.Types
		}
		if in.Enabled != nil {
			e.Enabled = *in.Enabled
			if e.Enabled {
				e.DisabledReason, e.DisabledAt, e.FailingSince = "", nil, nil
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if e.Enabled {
		w.kickEndpoint(ctx, tenant, e.ID)
	}
	return e.view(w.Ledger.now()), nil
}

// DeleteEndpoint removes an endpoint and its delivery state.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, tenant, id string) error {
	return w.Ledger.deleteEndpoint(ctx, tenant, id)
}

// RotateSecret makes a new signing secret (returned once); the old ones
// keep signing for overlap (0: they stop at once).
func (w *Webhooks) RotateSecret(ctx context.Context, tenant, id string, overlap time.Duration) (string, *Endpoint, error) {
	if w.Sealer == nil {
		return "", nil, errNoWebhookKey
	}
	if _, err := w.Ledger.getEndpoint(ctx, tenant, id); err != nil {
		return "", nil, err
	}
	now := w.Ledger.now().UTC()
	secret := newWebhookSecret()
	sealed, err := w.Sealer.Seal(secret, tenant+"/webhook/"+id)
	if err != nil {
		return "", nil, err
	}
	e, err := w.Ledger.updateEndpoint(ctx, tenant, id, func(e *storedEndpoint) bool {
		if len(e.Secrets) > 0 && e.Secrets[0].Sealed == sealed {
			return false // made already (a re-sent write)
		}
		e.Secrets = w.rotated(tenant, e, sealedSecret{Sealed: sealed, Created: now}, "", now, overlap)
		return true
	})
	if err != nil {
		return "", nil, err
	}
	return secret, e.view(now), nil
}

// Events is the tenant's events feed (Ledger.Events).
func (w *Webhooks) Events(ctx context.Context, tenant, after string, limit int) ([]Event, error) {
	return w.Ledger.Events(ctx, tenant, after, limit)
}

// EventPage is the events feed filtered by f, with the cursor to continue
// from (Ledger.EventPage).
func (w *Webhooks) EventPage(ctx context.Context, tenant, after string, limit int, f EventFilter) ([]Event, string, error) {
	return w.Ledger.EventPage(ctx, tenant, after, limit, f)
}

// Deliveries is an endpoint's delivery log, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, tenant, id string, limit int) ([]Delivery, error) {
	if _, err := w.Ledger.getEndpoint(ctx, tenant, id); err != nil {
		return nil, err
	}
	return w.Ledger.deliveries(ctx, tenant, id, limit)
}

// Replay queues events to be sent again to an endpoint ("" : every enabled
// endpoint that subscribes to them), before the endpoint's newer events.
// It returns how many deliveries were queued.
func (w *Webhooks) Replay(ctx context.Context, tenant, endpoint string, evs []Event) (int, error) {
	var eps []*storedEndpoint
	if endpoint != "" {
		e, err := w.Ledger.getEndpoint(ctx, tenant, endpoint)
		if err != nil {
			return 0, err
		}
		eps = []*storedEndpoint{e}
	} else {
		var err error
		if eps, err = w.Ledger.listEndpoints(ctx, tenant); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, e := range eps {
		if !e.Enabled {
			continue
		}
		var cs []string
		for _, ev := range evs {
			if e.wants(ev.Type) {
				cs = append(cs, ev.Cursor)
			}
		}
		if err := w.Ledger.queueReplay(ctx, tenant, e.ID, cs); err != nil {
			return n, err
		}
		n += len(cs)
		w.kickEndpoint(ctx, tenant, e.ID)
	}
	return n, nil
}

// maxEventReplay bounds the events one replay request re-sends.
const maxEventReplay = 10000

// ReplaySelection picks the events of a replay: one event by id, or every
// event whose time is in [From, To].
type ReplaySelection struct {
	EventID  string    `json:"event_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Endpoint string    `json:"endpoint"` // "" : every enabled endpoint
}

// ReplaySelected replays the selected events; it returns the events and
// how many deliveries were queued.
func (w *Webhooks) ReplaySelected(ctx context.Context, tenant string, sel ReplaySelection) ([]Event, int, error) {
	var evs []Event
	switch {
	case sel.EventID != "" && sel.From.IsZero() && sel.To.IsZero():
		e, err := w.Ledger.EventByID(ctx, tenant, sel.EventID)
		if err != nil {
			return nil, 0, err
		}
		evs = []Event{*e}
	case sel.EventID == "" && !sel.From.IsZero():
		to := sel.To
		if to.IsZero() {
			to = w.Ledger.now()
		}
		if to.Before(sel.From) {
			return nil, 0, fmt.Errorf("%w: the range ends before it starts", ErrInvalidRequest)
		}
		var err error
		if evs, err = w.Ledger.EventsBetween(ctx, tenant, sel.From, to, maxEventReplay); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("%w: replay one event (event_id) or a time range (from, and to or now)", ErrInvalidRequest)
	}
	n, err := w.Replay(ctx, tenant, sel.Endpoint, evs)
	return evs, n, err
}

// Kick queues a delivery run for each enabled endpoint of the tenant (the
// Ledger's OnEvents hook), with the endpoint's generation as task id: one
// pending run per endpoint. While a run is queued, running, or waiting
// for its retry after a failure (the endpoint backing off), a kick is the
// same task (asynq refuses the duplicate id), so a down receiver is tried
// on the run's backoff only, and the events added meanwhile go with that
// run, in order. A run bumps the generation when it ends for good (caught
// up, the endpoint disabled or gone, its retries used up), then looks at
// the stream once more: an event added before the bump is that run's,
// one added after is kicked with the new id.
func (w *Webhooks) Kick(ctx context.Context, tenant string) {
	if w.Enqueuer == nil {
		return
	}
	eps, err := w.Ledger.listEndpoints(ctx, tenant)
	if err != nil {
		w.logger().WarnContext(ctx, "webhook endpoints not read; deliveries wait for the next event", "tenant", tenant, "err", err)
		return
	}
	for _, e := range eps {
		if e.Enabled {
			w.kickEndpoint(ctx, tenant, e.ID)
		}
	}
}

func (w *Webhooks) kickEndpoint(ctx context.Context, tenant, id string) {
	if w.Enqueuer == nil {
		return
	}
	gen, err := w.Ledger.endpointGeneration(ctx, tenant, id)
	if err == nil {
		err = w.Enqueuer.EnqueueWebhook(ctx, queue.Webhook{Tenant: tenant, Endpoint: id}, gen, w.runBudget()+2*w.Timeout)
	}
	if err != nil {
		w.logger().WarnContext(ctx, "webhook delivery not queued; it waits for the next event", "tenant", tenant, "endpoint", id, "err", err)
	}
}

// Sweep kicks every enabled endpoint of the tenants that has events it
// has not acknowledged (a run lost with a killed worker, a task archived
// after its retries): the worker calls it every sweeper.interval; a pass
// reads every tenant's endpoints every webhookSweepFullEvery, and in
// between only the tenants that had endpoints then. It sets
// each enabled endpoint's oldest-undelivered gauge too, so an endpoint
// whose runs stopped shows its backlog growing; a disabled endpoint's
// series is removed (scimbridge_webhook_endpoints_disabled_total tells of
// the disables scimbridge made).
func (w *Webhooks) Sweep(ctx context.Context, tenantIDs []string) {
	tenantIDs, full := w.swept.pick(tenantIDs, time.Now())
	var withEndpoints []string
	for _, t := range tenantIDs {
		eps, err := w.Ledger.listEndpoints(ctx, t)
		if err != nil {
			withEndpoints = append(withEndpoints, t) // unknown: look again
			continue
		}
		live := make(map[string]bool, len(eps))
		for _, e := range eps {
			if e.Enabled {
				live[e.ID] = true
			}
		}
		w.Metrics.retain(t, live) // a deleted or disabled endpoint's gauge goes
		if len(eps) > 0 {
			withEndpoints = append(withEndpoints, t)
		}
		if len(live) == 0 {
			continue
		}
		st, err := w.Ledger.EventStreamStats(ctx, t)
		if err != nil {
			continue
		}
		for _, e := range eps {
			if !e.Enabled {
				continue
			}
			cur, err := w.Ledger.endpointCursor(ctx, t, e.ID)
			if err != nil {
				continue
			}
			if st.Last == "" || cur == st.Last {
				w.Metrics.oldest(t, e.ID, 0) // caught up
				continue
			}
			w.observeBacklogFrom(ctx, t, e.ID, cur)
			w.kickEndpoint(ctx, t, e.ID)
		}
	}
	if full {
		w.swept.record(withEndpoints)
	}
}

// webhookSweepFullEvery is how often Sweep reads every tenant's endpoints;
// in between it visits only the tenants that had endpoints at the last
// full pass. An endpoint added meanwhile has its deliveries kicked by its
// events as always; only a run of it lost with a killed worker waits for
// the next full pass. (Reading every tenant's endpoints every
// sweeper.interval, in every worker, was a third of an idle deployment's
// Redis commands.)
const webhookSweepFullEvery = 5 * time.Minute

// sweptTenants is what Sweep knows of which tenants have endpoints.
type sweptTenants struct {
	mu    gosync.Mutex
	at    time.Time // the last full pass; zero: none yet
	known map[string]bool
}

// pick returns the tenants this pass visits, and whether it is a full one.
func (s *sweptTenants) pick(all []string, now time.Time) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || now.Sub(s.at) >= webhookSweepFullEvery {
		s.at = now
		return all, true
	}
	var some []string
	for _, t := range all {
		if s.known[t] {
			some = append(some, t)
		}
	}
	return some, false
}

// record keeps, after a full pass, the tenants that had endpoints.
func (s *sweptTenants) record(tenants []string) {
	known := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		known[t] = true
	}
	s.mu.Lock()
	s.known = known
	s.mu.Unlock()
}

// Register adds the delivery handler to mux.
func (w *Webhooks) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(queue.TypeWebhook, w.ProcessWebhook)
}

// errDelivery: the receiver did not acknowledge (retried with backoff).
var errDelivery = errors.New("webhook delivery failed")

// ProcessWebhook handles a TypeWebhook task: one delivery run.
func (w *Webhooks) ProcessWebhook(ctx context.Context, t *asynq.Task) error {
	p, err := queue.ParseWebhook(t)
	if err != nil {
		return err
	}
	return w.Deliver(ctx, p.Tenant, p.Endpoint)
}

// deliverBatch is how many events a run reads from the stream at once.
const deliverBatch = 100

// Deliver runs the endpoint's deliveries: replays, then the stream from
// the cursor, until caught up, a failure or the run's budget. Per event
// it costs the POST; the cursor and the log entries are written once per
// batch of events read (acks).
func (w *Webhooks) Deliver(ctx context.Context, tenant, id string) error {
	l := w.Ledger
	release, ok, err := l.leaseEndpoint(ctx, tenant, id, w.runBudget()+3*w.Timeout)
	if err != nil {
		return err
	}
	if !ok {
		return queue.ErrBusy
	}
	defer release()
	if w.TenantConcurrency > 0 {
		releaseSlot, ok, err := l.takeWebhookSlot(ctx, tenant, w.TenantConcurrency, w.runBudget()+3*w.Timeout)
		if err != nil {
			return err
		}
		if !ok {
			w.Metrics.throttle(tenant)
			return queue.ErrWebhookTenantBusy
		}
		defer releaseSlot()
	}
	err = w.deliverRun(ctx, tenant, id)
	if err != nil && !errors.Is(err, asynq.SkipRetry) && !lastRetry(ctx, err) {
		return err // retried as this task: the endpoint's one pending run
	}
	// The run ends for good: the next kick is a new task.
	if gerr := l.nextEndpointGeneration(ctx, tenant, id); gerr != nil {
		return gerr
	}
	if err != nil {
		return err
	}
	// An event added before the bump was kicked with this task's id
	// (refused as a duplicate): a run with the new id takes it.
	more, err := w.pending(ctx, tenant, id)
	if err != nil { // not retried (this task is no longer the pending run): the sweeper kicks it
		w.logger().WarnContext(ctx, "webhook endpoint not checked for new events; the sweeper will", "tenant", tenant, "endpoint", id, "err", err)
		return nil
	}
	if more {
		w.kickEndpoint(ctx, tenant, id)
	}
	return nil
}

// lastRetry reports whether err ends the task for good: the task's last
// retry failed (asynq archives it).
func lastRetry(ctx context.Context, err error) bool {
	if errors.Is(err, queue.ErrBusy) {
		return false // not a failure: retried without counting
	}
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}

// pending reports whether the endpoint, enabled, has events after its
// cursor or replays queued.
func (w *Webhooks) pending(ctx context.Context, tenant, id string) (bool, error) {
	e, err := w.Ledger.getEndpoint(ctx, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil || !e.Enabled {
		return false, err
	}
	if ev, err := w.Ledger.nextReplay(ctx, tenant, id); err != nil || ev != nil {
		return ev != nil, err
	}
	cur, err := w.Ledger.endpointCursor(ctx, tenant, id)
	if err != nil {
		return false, err
	}
	evs, err := w.Ledger.Events(ctx, tenant, cur, 1)
	return len(evs) > 0, err
}

// deliverRun is one run of Deliver, under the endpoint's lease.
func (w *Webhooks) deliverRun(ctx context.Context, tenant, id string) error {
	l := w.Ledger
	e, err := l.getEndpoint(ctx, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !e.Enabled {
		return nil
	}
	keys, err := w.signingKeys(tenant, e)
	if err != nil {
		return queue.Permanent(err)
	}
	run := &deliveryRun{sign: newSigner(keys)}
	var cancel context.CancelFunc
	run.reqCtx, cancel = w.requestContext(ctx) // one per run, not per event
	defer cancel()
	defer run.release(w.connections()) // before the cancel: kept for the next run
	start := time.Now()
	defer w.observeBacklog(ctx, tenant, e)
	attempts, err := l.attempts(ctx, tenant, id)
	if err != nil {
		return err
	}
	// Replays first, one at a time (they are rare).
	for {
		ev, err := l.nextReplay(ctx, tenant, id)
		if err != nil {
			return err
		}
		if ev == nil {
			break
		}
		if done, err := w.send(ctx, run, tenant, e, ev, true, attempts, nil); err != nil || !done {
			return err
		}
	}
	cur, err := l.endpointCursor(ctx, tenant, id)
	if err != nil {
		return err
	}
	a := &acks{}
	for {
		evs, err := l.Events(ctx, tenant, cur, deliverBatch)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return l.recordAcks(ctx, tenant, id, a) // caught up
		}
		for i := range evs {
			if time.Since(start) > w.runBudget() {
				if err := l.recordAcks(ctx, tenant, id, a); err != nil {
					return err
				}
				return queue.ErrBusy // more to do: back to the queue at once
			}
			ev := &evs[i]
			if !e.wants(ev.Type) {
				a.cursor = ev.Cursor // skipped: passed with the next record
				continue
			}
			done, err := w.send(ctx, run, tenant, e, ev, false, attempts, a)
			if err != nil || !done {
				return err
			}
		}
		cur = evs[len(evs)-1].Cursor // every event of the batch was acknowledged or skipped
		if err := l.recordAcks(ctx, tenant, id, a); err != nil {
			return err
		}
	}
}

// acks are a run's acknowledged deliveries not yet recorded, and the
// cursor past them: written in one round trip per batch of events read
// (and before a failure is recorded, and when the run stops), instead of
// one per event. A crash loses at most one batch's records, whose events
// are then sent again: at-least-once, as everywhere.
type acks struct {
	log    []Delivery
	cursor string
	forget []string // event ids whose failed attempts are forgotten
}

// deliveryRun is what a run's sends reuse from one event to the next.
type deliveryRun struct {
	// reqCtx is the run's context for its requests, cancelled too when
	// the worker begins to shut down (a request in flight is cut).
	reqCtx context.Context
	sign   *signer
	body   []byte
	prefix [responsePrefix]byte
	conn   *webhookConn // the run's connection (webhook_conn.go)
}

// signingKeys opens the endpoint's active secrets.
func (w *Webhooks) signingKeys(tenant string, e *storedEndpoint) ([][]byte, error) {
	now := w.Ledger.now()
	var keys [][]byte
	for _, s := range e.Secrets {
		if s.Expires != nil && !s.Expires.After(now) {
			continue
		}
		secret, err := w.Sealer.Open(s.Sealed, tenant+"/webhook/"+e.ID)
		if err != nil {
			return nil, fmt.Errorf("sync: webhook endpoint %s: its signing secret cannot be opened with this worker's secret key: %w", e.ID, err)
		}
		k, err := secretKey(secret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("sync: webhook endpoint %s has no active signing secret", e.ID)
	}
	return keys, nil
}

// responsePrefix is how much of a receiver's answer the log keeps.
const responsePrefix = 256

// send POSTs one event. done is true when the receiver acknowledged it
// (added to a, or, for a replay (a nil), the replay popped with its log
// entry); false with a nil error when the endpoint was disabled (410, or
// failing too long); an error is retried. attempts are the endpoint's
// failed attempts by event id (kept in Redis only for events that failed).
func (w *Webhooks) send(ctx context.Context, run *deliveryRun, tenant string, e *storedEndpoint, ev *Event, replay bool,
	attempts map[string]int64, a *acks) (done bool, err error) {
	l := w.Ledger
	body, err := ev.appendJSON(run.body[:0])
	if err != nil {
		return false, queue.Permanent(fmt.Errorf("sync: encode event: %w", err))
	}
	run.body = body
	if w.stopping() {
		return false, w.stopRun(ctx, tenant, e, a)
	}
	now := time.Now()
	req, err := http.NewRequestWithContext(run.reqCtx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return false, w.disable(ctx, tenant, e, "the URL does not make a request: "+deliveryError(err))
	}
	ts := now.Unix()
	req.Header = http.Header{ // canonical keys, as Header.Set makes them
		"Content-Type":      {"application/json"},
		"User-Agent":        {"scimbridge-webhooks/1"},
		"Webhook-Id":        {ev.ID},
		"Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
		"Webhook-Signature": {run.sign.header(ev.ID, ts, body)},
	}
	var deadline time.Time
	if w.Timeout > 0 {
		deadline = now.Add(w.Timeout)
	}
	resp, err := w.post(run, req, deadline)
	if err != nil && w.stopping() {
		return false, w.stopRun(ctx, tenant, e, a)
	}
	d := Delivery{Event: ev.ID, Type: ev.Type, Attempt: attempts[ev.ID] + 1, At: now.UTC(), Replay: replay}
	outcome := "failed"
	if err != nil {
		d.Error = deliveryError(err)
		if errors.Is(err, adapters.ErrHostDenied) {
			outcome = "refused"
		}
	} else {
		d.Status = resp.StatusCode
		n, rerr := 0, error(nil)
		for n < len(run.prefix) && rerr == nil {
			var k int
			k, rerr = resp.Body.Read(run.prefix[n:])
			n += k
		}
		ended := rerr == io.EOF // the body's end; another error: cut short
		if rerr == nil {
			m, cerr := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10+1))
			ended = cerr == nil && m <= 64<<10
		}
		run.answered(resp, ended)
		d.Response = printableText(run.prefix[:n])
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			outcome = "success"
		case resp.StatusCode == http.StatusGone:
			outcome = "gone"
		}
	}
	d.LatencyMS = time.Since(now).Milliseconds()
	w.Metrics.delivered(tenant, e.ID, outcome)
	if outcome == "success" {
		if !replay { // a replay re-sends on request: its age is not lag
			w.Metrics.lag(tenant, ev.Time)
		}
		_, failedBefore := attempts[ev.ID]
		delete(attempts, ev.ID)
		if a != nil {
			a.log, a.cursor = append(a.log, d), ev.Cursor
			if failedBefore {
				a.forget = append(a.forget, ev.ID)
			}
		} else if err := l.delivered(ctx, tenant, e.ID, d, replay, failedBefore); err != nil {
			return false, err
		}
		if e.FailingSince != nil {
			if err := w.runUpdate(ctx, tenant, e, func(f *storedEndpoint) bool {
				if f.FailingSince == nil {
					return false
				}
				f.FailingSince = nil
				return true
			}); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if a != nil { // what was acknowledged before this event is recorded first
		if err := l.recordAcks(ctx, tenant, e.ID, a); err != nil {
			return false, err
		}
	}
	n, lerr := l.failedAttempt(ctx, tenant, e.ID, d)
	if lerr != nil {
		w.logger().WarnContext(ctx, "webhook delivery log not written", "tenant", tenant, "endpoint", e.ID, "err", lerr)
	}
	attempts[ev.ID] = n
	if outcome == "gone" {
		return false, w.disable(ctx, tenant, e, "the receiver answered 410 Gone")
	}
	if err := w.runUpdate(ctx, tenant, e, func(f *storedEndpoint) bool {
		if f.FailingSince != nil {
			return false
		}
		t := now.UTC()
		f.FailingSince = &t
		return true
	}); err != nil {
		return false, err
	}
	if !e.Enabled {
		return false, nil // disabled by the operator meanwhile
	}
	if w.DisableAfter > 0 && now.Sub(*e.FailingSince) > w.DisableAfter {
		return false, w.disable(ctx, tenant, e, fmt.Sprintf("failing since %s (more than %s)", e.FailingSince.Format(time.RFC3339), w.DisableAfter))
	}
	if d.Error != "" {
		return false, fmt.Errorf("%w: %s: %s", errDelivery, e.ID, d.Error)
	}
	return false, fmt.Errorf("%w: %s: status %d", errDelivery, e.ID, d.Status)
}

// disable turns the endpoint off and tells the operator (log, metric; the
// console shows the reason).
func (w *Webhooks) disable(ctx context.Context, tenant string, e *storedEndpoint, reason string) error {
	now := time.Now().UTC()
	url, done := e.URL, false
	if err := w.runUpdate(ctx, tenant, e, func(f *storedEndpoint) bool {
		// Only the endpoint this run sent to: not one the operator
		// disabled, or pointed elsewhere, meanwhile.
		if !f.Enabled || f.URL != url {
			return false
		}
		f.Enabled, f.DisabledReason, f.DisabledAt = false, reason, &now
		done = true
		return true
	}); err != nil {
		return err
	}
	if !done {
		return nil
	}
	w.logger().ErrorContext(ctx, "webhook endpoint disabled", "tenant", tenant, "endpoint", e.ID, "reason", reason)
	w.Metrics.disabled(tenant, e.ID)
	return nil
}

// runUpdate changes the fields a delivery run owns (its failing period, a
// disable) on the endpoint as stored now, never writing back the run's
// older copy e (whose secrets, URL or enabled flag an operator may have
// changed meanwhile); e's run-visible fields are refreshed from the
// result: Enabled (a run stops when the operator disabled the endpoint),
// FailingSince, the disable fields. A deleted endpoint is disabled in e.
func (w *Webhooks) runUpdate(ctx context.Context, tenant string, e *storedEndpoint, change func(*storedEndpoint) bool) error {
	f, err := w.Ledger.updateEndpoint(ctx, tenant, e.ID, change)
	if errors.Is(err, ErrNotFound) {
		e.Enabled = false
		return nil
	}
	if err != nil {
		return err
	}
	e.Enabled, e.FailingSince, e.DisabledReason, e.DisabledAt = f.Enabled, f.FailingSince, f.DisabledReason, f.DisabledAt
	return nil
}

// observeBacklog sets the endpoint's oldest-undelivered gauge (a run's
// end).
func (w *Webhooks) observeBacklog(ctx context.Context, tenant string, e *storedEndpoint) {
	if w.Metrics == nil {
		return
	}
	cur, err := w.Ledger.endpointCursor(ctx, tenant, e.ID)
	if err != nil {
		return
	}
	w.observeBacklogFrom(ctx, tenant, e.ID, cur)
}

// observeBacklogFrom sets the gauge of the endpoint whose cursor is cur:
// the age of the first event after it (0: none).
func (w *Webhooks) observeBacklogFrom(ctx context.Context, tenant, id, cur string) {
	if w.Metrics == nil {
		return
	}
	evs, err := w.Ledger.Events(ctx, tenant, cur, 1)
	if err != nil {
		return
	}
	age := 0.0
	if len(evs) == 1 {
		age = max(time.Since(evs[0].Time).Seconds(), 0)
	}
	w.Metrics.oldest(tenant, id, age)
}

// deliveryError is a transport or request error as the log and the
// console show it: without the URL (its query may carry a token).
func deliveryError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// printableText keeps the valid, printable part of a response's bytes.
func printableText(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r == utf8.RuneError:
			sb.WriteRune('?')
		case r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f):
			sb.WriteRune(r)
		default:
			sb.WriteRune('?')
		}
	}
	return sb.String()
}

// stopping reports whether the worker has begun to shut down.
func (w *Webhooks) stopping() bool { return closed(w.Stopping) }

// requestContext is ctx, cancelled too when the worker begins to shut
// down, so a hanging receiver does not hold the shutdown up.
func (w *Webhooks) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithCancel(ctx)
	cancelOnStop(rctx, cancel, w.Stopping)
	return rctx, cancel
}

// stopRun ends a delivery run for a shutdown: what was acknowledged is
// recorded, and the run goes back to the queue (queue.ErrBusy: not a
// failure), its event not counted as a failed attempt.
func (w *Webhooks) stopRun(ctx context.Context, tenant string, e *storedEndpoint, a *acks) error {
	if a != nil {
		if err := w.Ledger.recordAcks(ctx, tenant, e.ID, a); err != nil {
			return err
		}
	}
	return queue.ErrBusy
}
