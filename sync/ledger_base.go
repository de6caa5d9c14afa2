package sync

import (
	"context"
	"fmt"
	gosync "sync"
	"time"
)

// Write bases. A PATCH, and a PUT with events on, is a read-modify-write:
// the next state is computed from the current one and written only if
// nobody wrote in between (Service.updateUser). The read is a round trip
// of its own, and an IdP often reads the user just before (Okta's GET
// before a PUT) or writes it again soon after. So this process remembers,
// per user it last read (Service.GetUser) or wrote, the stored document
// and the request id of the write that stored it (field req, unique per
// write: see Replays in ledger_lua.go), for baseFresh. A write computed on
// a remembered base passes that request id to putScript (ARGV[17]), which
// refuses it ({"stale"}, errStaleBase) when the record's req is another,
// that is when anything wrote the user since; the caller then reads the
// record and computes again. So a base is never trusted, only tried: a
// write still lands only on the exact state it was computed from, and
// nothing is served from here (GETs read Redis: read-your-writes holds
// across processes).

// baseFresh is how long a remembered base is tried: past it a write reads
// first (a base that old has likely been written over by another process,
// and trying it would cost a refused write and a read).
const baseFresh = 10 * time.Second

// baseEntries bounds the remembered bases (about a kilobyte each).
const baseEntries = 4096

// errStaleBase: the record was written since the base the write was
// computed on (the caller reads it and computes again).
var errStaleBase = fmt.Errorf("the record changed since it was read")

type baseCache struct {
	mu gosync.Mutex
	m  map[string]baseEntry
}

type baseEntry struct {
	version int64
	req     string
	doc     []byte
	at      time.Time
}

func baseKey(tenant, id string) string { return tenant + "\x00" + id }

// remember records that the user's stored state is doc at version,
// written by request req ("" unknown: nothing is remembered).
func (c *baseCache) remember(tenant, id string, version int64, req string, doc []byte) {
	if req == "" || len(doc) == 0 {
		c.forget(tenant, id)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]baseEntry)
	}
	k := baseKey(tenant, id)
	if _, ok := c.m[k]; !ok && len(c.m) >= baseEntries {
		for old := range c.m { // one entry out, whichever the map yields first
			delete(c.m, old)
			break
		}
	}
	c.m[k] = baseEntry{version: version, req: req, doc: doc, at: time.Now()}
}

func (c *baseCache) forget(tenant, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, baseKey(tenant, id))
}

func (c *baseCache) get(tenant, id string) (baseEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[baseKey(tenant, id)]
	if ok && time.Since(e.at) >= baseFresh {
		delete(c.m, baseKey(tenant, id))
		return baseEntry{}, false
	}
	return e, ok
}

// userBase returns the state a read-modify-write of the user starts from
// (Version and Attrs set) and the request id to pass as putUserOn's base:
// a remembered one ("" when read now). wantVersion > 0 (If-Match) takes a
// remembered base only at that version. A read here is remembered.
func (l *Ledger) userBase(ctx context.Context, tenant, id string, wantVersion int64) (*Record, string, error) {
	if e, ok := l.bases.get(tenant, id); ok && (wantVersion == 0 || e.version == wantVersion) {
		if a, err := decodeDoc(e.doc); err == nil {
			return &Record{Tenant: tenant, ID: id, Version: e.version, Attrs: a}, e.req, nil
		}
		l.bases.forget(tenant, id)
	}
	r, err := l.getUserRemembered(ctx, tenant, id)
	return r, "", err
}

// getUserRemembered is GetUser, remembering what it read as the user's
// next write base.
func (l *Ledger) getUserRemembered(ctx context.Context, tenant, id string) (*Record, error) {
	f, err := l.rdb.HGetAll(ctx, userKeys(tenant).rec(id)).Result()
	if err != nil {
		return nil, redisErr("get user", err)
	}
	r, err := recordFromFields(tenant, id, f)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		l.bases.forget(tenant, id)
		return nil, fmt.Errorf("sync: user %s: %w", id, ErrNotFound)
	}
	l.bases.remember(tenant, id, r.Version, f["req"], []byte(f["doc"]))
	return r, nil
}
