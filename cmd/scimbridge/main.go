package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	gosync "sync"
	"syscall"
	"text/tabwriter"
	"time"

	syncsvc "github.com/scimbridge/scimbridge/sync"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var ue *usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		os.Exit(2) // run printed it, with the usage
	default:
		fmt.Fprintln(os.Stderr, "scimbridge:", printableLines(err.Error()))
		os.Exit(1)
	}
}

// run parses a command line (cli.go) and runs its command; separated from
// main for tests.
func run(args []string, stdout, stderr io.Writer) error {
	cmd, in, err := parseCommandLine(args, stdout, stderr)
	if err != nil || cmd == nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, in)
}

// commonFlags are the flags every command that connects takes (--config,
// --data).
type commonFlags struct {
	config string
	data   string
	sets   []string // --set key=value (serve, api, worker)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runServer is `scimbridge serve|api|worker`: it runs the API, the worker,
// or both until SIGTERM/SIGINT.
func runServer(ctx context.Context, in *invocation) error {
	role, cf, stdout := in.name, in.common, in.stdout
	var (
		cfg  *Config
		emb  *embedded
		err  error
		logr *slog.Logger
	)
	if cf.config == "" { // serve only: api and worker require --config
		emb, err = startEmbedded(cf.data, cf.sets...)
		if err != nil {
			return err
		}
		defer emb.Close()
		cfg = emb.cfg
	} else if cfg, err = loadConfig(cf.config, cf.sets...); err != nil {
		return err
	}
	logr = newLogger(cfg.Log.Level, cfg.Log.Format)
	slog.SetDefault(logr)
	startPprof(os.Getenv("SCIMBRIDGE_PPROF"), logr)
	stopTracing, err := setupTracing(ctx, role)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			logr.Warn("tracing: flushing spans at exit failed", "err", err)
		}
	}()
	a, err := newApp(ctx, cfg, logr)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.seedTenants(ctx); err != nil {
		return err
	}
	if emb != nil {
		if err := emb.announce(ctx, a, stdout); err != nil {
			return err
		}
	}

	var wg gosync.WaitGroup
	errs := make(chan error, 2)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	go a.stores.Run(runCtx) // closes idle store connections
	if role == "serve" || role == "api" {
		a.keys.EnableCache(cfg.API.KeyCacheTTL)
		go a.keys.Watch(runCtx, logr)
		a.oauth.EnableCache(cfg.API.KeyCacheTTL)
		go a.oauth.Watch(runCtx, logr)
		start(a.runAPI)
	}
	if role == "serve" || role == "worker" {
		start(a.runWorker)
	}
	if role == "worker" {
		start(a.runWorkerListener)
	}
	wg.Wait()
	close(errs)
	logr.Info("stopped")
	return <-errs
}

// runKey is `scimbridge key create|list|revoke`.
func runKey(ctx context.Context, in *invocation) error {
	stdout, tenant := in.stdout, in.tenant
	a, cleanup, err := adminApp(ctx, in.common)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := a.registry.Get(ctx, tenant); err != nil {
		return fmt.Errorf("key: tenant %q: %w", tenant, err)
	}
	switch in.name {
	case "key create":
		plain, k, err := a.keys.Create(ctx, tenant, in.keyName)
		if err != nil {
			return err
		}
		base := baseURL(a.cfg.PublicURL, tenant)
		if in.json {
			return json.NewEncoder(stdout).Encode(map[string]any{
				"tenant": tenant, "id": k.ID, "name": k.Name, "prefix": k.Prefix,
				"created": k.Created, "base_url": base, "api_key": plain,
			})
		}
		fmt.Fprintf(stdout, "Base URL: %s\nAPI key:  %s\n\nThe key is shown only now. In Okta: Provisioning > Integration > Configure API Integration,\nBase URL above, API Token = the key (Authorization: Bearer).\n", base, plain)
		return nil
	case "key list":
		keys, err := a.keys.List(ctx, tenant)
		if err != nil {
			return err
		}
		if in.json {
			return json.NewEncoder(stdout).Encode(keys)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
		for _, k := range keys {
			last := "never"
			if !k.LastUsed.IsZero() {
				last = k.LastUsed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\tscb_%s…\t%s\t%s\t%v\n", printable(k.ID), printable(k.Name), printable(k.Prefix), k.Created.Format(time.RFC3339), last, k.Revoked)
		}
		return tw.Flush()
	case "key revoke":
		if err := a.keys.Revoke(ctx, tenant, in.keyRef); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", printable(in.keyRef))
		return nil
	}
	return fmt.Errorf("unknown command %q", in.name)
}

// adminApp connects an admin subcommand: to the configured Redis, or in the
// embedded default to the running server's embedded Redis (or, when none
// runs, to its snapshot, saved again on cleanup).
func adminApp(ctx context.Context, cf commonFlags) (*app, func(), error) {
	logr := newLogger("warn", "text")
	if cf.config != "" {
		cfg, err := loadConfig(cf.config)
		if err != nil {
			return nil, nil, err
		}
		a, err := newApp(ctx, cfg, logr)
		if err != nil {
			return nil, nil, err
		}
		if err := a.seedTenants(ctx); err != nil {
			a.close()
			return nil, nil, err
		}
		return a, a.close, nil
	}
	cfg, closeRedis, err := embeddedAdminConfig(cf.data)
	if err != nil {
		return nil, nil, err
	}
	a, err := newApp(ctx, cfg, logr)
	if err != nil {
		closeRedis()
		return nil, nil, err
	}
	if err := a.seedTenants(ctx); err != nil {
		a.close()
		closeRedis()
		return nil, nil, err
	}
	return a, func() { a.close(); closeRedis() }, nil
}

// baseURL is a tenant's SCIM Base URL.
func baseURL(publicURL, tenant string) string {
	return syncsvc.TenantBaseURL(publicURL, tenant)
}
