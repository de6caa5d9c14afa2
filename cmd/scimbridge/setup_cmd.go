package main

// The customer's setup page (api/setup) and its links: wiring, and
// `scimbridge tenant setup-link` / `tenant setup-link-revoke`.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scimbridge/scimbridge/api/admin"
	"github.com/scimbridge/scimbridge/api/setup"
	"github.com/scimbridge/scimbridge/tenants"
)

// setupState is the app's setup links, made once (setupLinks).
type setupState struct {
	once  sync.Once
	links *tenants.SetupLinks
}

// setupLinks returns the setup links, signed with keys derived from
// secrets.key_file; nil without a key file (there are then no setup
// links: the page is 404 and the commands and admin API say why).
func (a *app) setupLinks() *tenants.SetupLinks {
	a.setup.once.Do(func() {
		if a.cfg.Secrets.KeyFile == "" {
			return
		}
		key, err := readSecretKey(a.cfg.Secrets.KeyFile)
		if err == nil {
			a.setup.links, err = tenants.NewSetupLinks(a.rdb, a.registry, key)
		}
		if err != nil {
			a.log.Error("setup links are off", "err", err)
		}
	})
	return a.setup.links
}

// mountSetup serves the setup page when setup links are on. Wrong links
// count in the operator's guess limiter (with the operator token's
// guesses), or in one of the same numbers without an operator token.
func (a *app) mountSetup(r *gin.Engine) {
	links := a.setupLinks()
	if links == nil {
		a.log.Info("setup page off: setup links need secrets.key_file")
		return
	}
	guesses := admin.NewGuessLimiter()
	if op := a.operatorGuard(); op != nil {
		guesses = op.GuessLimiter()
	}
	h, err := setup.New(setup.Config{PublicURL: a.cfg.PublicURL, Logger: a.log},
		setup.Deps{Links: links, Tenants: a.registry, Keys: a.keys, Status: a.operator(), Guesses: guesses, OAuth: a.oauth})
	if err != nil {
		a.log.Error("setup page off", "err", err)
		return
	}
	h.Mount(r)
}

// runSetupLink is `scimbridge tenant setup-link` and `tenant
// setup-link-revoke`; cli.go has parsed and checked the flags.
func runSetupLink(ctx context.Context, in *invocation) error {
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	links := a.setupLinks()
	if links == nil {
		return fmt.Errorf("%s: setup links are signed with a key derived from secrets.key_file, which this configuration does not set", in.name)
	}
	out := cliOutput{w: in.stdout, json: in.json}
	switch in.name {
	case "tenant setup-link":
		var ttl time.Duration
		if in.linkTTL != "" {
			if ttl, err = time.ParseDuration(in.linkTTL); err != nil {
				return fmt.Errorf("--ttl %q: want a duration such as 24h or 30m", in.linkTTL)
			}
		}
		token, link, err := links.Create(ctx, in.tenant, ttl, in.linkIdP)
		if err != nil {
			return err
		}
		u := setup.LinkURL(a.cfg.PublicURL, link.Tenant, token)
		if out.json {
			return out.encode(admin.NewSetupLink{SetupLink: link, URL: u})
		}
		fmt.Fprintf(in.stdout, "%s\n\nSend this link to the customer's admin; it opens the setup page of tenant %s\n"+
			"until %s (link id %s; revoke: scimbridge tenant setup-link-revoke --tenant %s --link %s).\n",
			u, printable(link.Tenant), link.Expires.Format(time.RFC3339), link.ID, printable(link.Tenant), link.ID)
		return nil
	case "tenant setup-link-revoke":
		if err := links.Revoke(ctx, in.tenant, in.linkID); err != nil {
			return err
		}
		return out.done(map[string]any{"tenant": in.tenant, "link": in.linkID, "result": "revoked"}, "revoked %s\n", printable(in.linkID))
	}
	return fmt.Errorf("unknown command %q", in.name)
}
