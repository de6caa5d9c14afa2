package main

import (
	"context"
	"fmt"
	"time"

	"github.com/scimbridge/scimbridge/api"
)

// tokenURL is the token endpoint's URL.
func tokenURL(publicURL string) string { return publicURL + api.TokenPath }

// runOAuthClient is `scimbridge oauth-client create|list|revoke`; cli.go
// has parsed and checked its flags.
func runOAuthClient(ctx context.Context, in *invocation) error {
	stdout, tenant := in.stdout, in.tenant
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := a.registry.Get(ctx, tenant); err != nil {
		return fmt.Errorf("oauth-client: tenant %q: %w", tenant, err)
	}
	out := cliOutput{w: stdout, json: in.json}
	switch in.name {
	case "oauth-client create":
		secret, c, err := a.oauth.Create(ctx, tenant, in.clientName)
		if err != nil {
			return err
		}
		base, token := baseURL(a.cfg.PublicURL, tenant), tokenURL(a.cfg.PublicURL)
		if out.json {
			return out.encode(map[string]any{
				"tenant": tenant, "client_id": c.ID, "client_secret": secret, "name": c.Name,
				"created": c.Created, "token_url": token, "base_url": base,
			})
		}
		fmt.Fprintf(stdout, "Tenant URL:     %s\nToken endpoint: %s\nClient ID:      %s\nClient secret:  %s\n\n"+
			"The secret is shown only now. In Microsoft Entra: Provisioning > Admin Credentials,\n"+
			"Authentication Method \"OAuth2 Client Credentials Grant\", the four values above.\n", base, token, c.ID, secret)
		if a.tokens == nil {
			fmt.Fprintln(in.stderr, "warning: secrets.key_file is not set in this configuration: API processes without it serve no token endpoint")
		}
		return nil
	case "oauth-client list":
		list, err := a.oauth.List(ctx, tenant)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(list)
		}
		tw := out.table("CLIENT ID\tNAME\tSECRET\tCREATED\tLAST TOKEN\tREVOKED")
		for _, c := range list {
			last := "never"
			if !c.LastToken.IsZero() {
				last = c.LastToken.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\tscbs_%s…\t%s\t%s\t%v\n", c.ID, c.Name, c.SecretPrefix, c.Created.Format(time.RFC3339), last, c.Revoked)
		}
		return tw.Flush()
	case "oauth-client revoke":
		if err := a.oauth.Revoke(ctx, tenant, in.clientRef); err != nil {
			return err
		}
		return out.done(map[string]any{"tenant": tenant, "client": in.clientRef, "result": "revoked"}, "revoked %s\n", in.clientRef)
	}
	return fmt.Errorf("unknown command %q", in.name)
}
