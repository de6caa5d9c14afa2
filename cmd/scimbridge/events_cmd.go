package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

// runEvents is `scimbridge events list|replay`; cli.go has parsed and
// checked its flags.
func runEvents(ctx context.Context, in *invocation) error {
	if in.name == "events list" && (in.count < 1 || in.count > 1000) {
		return &usageError{cmd: in.name, err: fmt.Errorf("--count must be 1 to 1000")}
	}
	var sel syncsvc.ReplaySelection
	if in.name == "events replay" {
		var err error
		if sel, err = replaySelection(in); err != nil {
			return &usageError{cmd: in.name, err: err}
		}
	}
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := a.registry.Get(ctx, in.tenant); err != nil {
		return fmt.Errorf("events: tenant %q: %w", in.tenant, err)
	}
	out := cliOutput{w: in.stdout, json: in.json}
	switch in.name {
	case "events list":
		f := syncsvc.EventFilter{Types: splitTypes(in.types), ResourceID: in.resource}
		evs, next, err := a.webhooks.EventPage(ctx, in.tenant, in.after, in.count, f)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(map[string]any{"events": evs, "next_cursor": next})
		}
		tw := out.table("CURSOR\tTIME\tTYPE\tRESOURCE\tSEQ\tID")
		for _, e := range evs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%d\t%s\n", e.Cursor, e.Time.Format(time.RFC3339), printable(e.Type),
				printable(e.Data.ResourceType), printable(e.Data.ID), e.Data.Sequence, e.ID)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(in.stdout, "next cursor: %s\n", printable(next))
		}
		return nil
	case "events replay":
		evs, n, err := a.webhooks.ReplaySelected(ctx, in.tenant, sel)
		if err != nil {
			return err
		}
		return out.done(map[string]int{"events": len(evs), "deliveries_queued": n},
			"%d event(s), %d delivery(ies) queued; a worker sends them\n", len(evs), n)
	}
	return fmt.Errorf("events: unknown command %q", in.name)
}

// splitTypes splits a comma-separated --types, dropping empty items.
func splitTypes(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// replaySelection reads --event or --from/--to.
func replaySelection(in *invocation) (syncsvc.ReplaySelection, error) {
	sel := syncsvc.ReplaySelection{EventID: in.eventID, Endpoint: in.endpoint}
	if (in.eventID == "") == (in.from == "") {
		return sel, fmt.Errorf("give --event, or --from (and --to)")
	}
	if in.to != "" && in.from == "" {
		return sel, fmt.Errorf("--to needs --from")
	}
	for _, p := range []struct {
		s string
		t *time.Time
	}{{in.from, &sel.From}, {in.to, &sel.To}} {
		if p.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.s)
		if err != nil {
			return sel, fmt.Errorf("%q is not an RFC 3339 time (2026-12-01T10:00:00Z)", p.s)
		}
		*p.t = t
	}
	return sel, nil
}

// runWebhook is `scimbridge webhook ...`; cli.go has parsed and checked
// its flags.
func runWebhook(ctx context.Context, in *invocation) error {
	var input syncsvc.EndpointInput
	if in.url != "" {
		input.URL = &in.url
	}
	if in.types != "" {
		ts := []string{} // "all": every type
		if strings.TrimSpace(in.types) != "all" {
			if ts = splitTypes(in.types); len(ts) == 0 {
				return &usageError{cmd: in.name, err: fmt.Errorf("--types must name event types, or be all")}
			}
		}
		input.Types = &ts
	}
	if in.enabled != "" {
		b, err := strconv.ParseBool(in.enabled)
		if err != nil {
			return &usageError{cmd: in.name, err: fmt.Errorf("--enabled must be true or false")}
		}
		input.Enabled = &b
	}
	var overlap time.Duration
	if in.name == "webhook rotate" {
		d, err := time.ParseDuration(in.overlap)
		if err != nil || d < 0 {
			return &usageError{cmd: in.name, err: fmt.Errorf("--overlap must be a duration (0s, 24h)")}
		}
		overlap = d
	}
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := a.registry.Get(ctx, in.tenant); err != nil {
		return fmt.Errorf("webhook: tenant %q: %w", in.tenant, err)
	}
	w, out := a.webhooks, cliOutput{w: in.stdout, json: in.json}
	shown := func(secret string, e *syncsvc.Endpoint) error {
		if out.json {
			return out.encode(map[string]any{"endpoint": e, "secret": secret})
		}
		fmt.Fprintf(in.stdout, "Endpoint:       %s\nURL:            %s\nSigning secret: %s\n\n"+
			"The secret is shown only now. Verify each delivery with a Standard Webhooks library\n"+
			"(webhook-id, webhook-timestamp, webhook-signature headers).\n", e.ID, printable(e.URL), secret)
		return nil
	}
	switch in.name {
	case "webhook create":
		secret, e, err := w.CreateEndpoint(ctx, in.tenant, input)
		if err != nil {
			return err
		}
		return shown(secret, e)
	case "webhook list":
		list, err := w.Endpoints(ctx, in.tenant)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(list)
		}
		tw := out.table("ID\tURL\tTYPES\tSTATUS\tFAILING SINCE")
		for _, e := range list {
			types, status, failing := "all", "enabled", "-"
			if len(e.Types) > 0 {
				types = strings.Join(e.Types, ",")
			}
			if !e.Enabled {
				status = "disabled"
				if e.DisabledReason != "" {
					status += " (" + e.DisabledReason + ")"
				}
			}
			if e.FailingSince != nil {
				failing = e.FailingSince.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, printable(e.URL), printable(types), printable(status), failing)
		}
		return tw.Flush()
	case "webhook update":
		e, err := w.UpdateEndpoint(ctx, in.tenant, in.endpoint, input)
		if err != nil {
			return err
		}
		return out.done(e, "endpoint %s updated (%s)\n", e.ID, enabledWord(!e.Enabled))
	case "webhook delete":
		if err := w.DeleteEndpoint(ctx, in.tenant, in.endpoint); err != nil {
			return err
		}
		fmt.Fprintf(in.stdout, "endpoint %s deleted\n", printable(in.endpoint))
		return nil
	case "webhook rotate":
		secret, e, err := w.RotateSecret(ctx, in.tenant, in.endpoint, overlap)
		if err != nil {
			return err
		}
		return shown(secret, e)
	case "webhook deliveries":
		list, err := w.Deliveries(ctx, in.tenant, in.endpoint, 100)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(list)
		}
		tw := out.table("AT\tEVENT\tTYPE\tATTEMPT\tSTATUS\tLATENCY\tRESPONSE")
		for _, d := range list {
			resp := d.Response
			if d.Error != "" {
				resp = d.Error
			}
			if len(resp) > 60 {
				resp = resp[:60] + "..."
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%dms\t%s\n", d.At.Format(time.RFC3339), d.Event, printable(d.Type),
				d.Attempt, d.Status, d.LatencyMS, printable(resp))
		}
		return tw.Flush()
	}
	return fmt.Errorf("webhook: unknown command %q", in.name)
}
