package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/tenants"
)

// Operator jobs' progress records (jobs.go): a Redis hash per job, in its
// tenant's hash slot, kept for jobTTL after its last update.

// jobTTL is how long a job's progress record is kept.
const jobTTL = 7 * 24 * time.Hour

// newJobID returns a fresh job id of the tenant: "<tenant>.<random>".
func newJobID(tenant string) string { return tenant + "." + randomHex(8) }

// jobKey is the Redis hash of a job; the id is "<tenant>.<random>".
func jobKey(id string) (string, string, error) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || !tenants.ValidID(id[:i]) || len(id)-i-1 != 16 {
		return "", "", fmt.Errorf("sync: job %q: %w", id, ErrNotFound)
	}
	if _, err := hex.DecodeString(id[i+1:]); err != nil {
		return "", "", fmt.Errorf("sync: job %q: %w", id, ErrNotFound)
	}
	return id[:i], "sb:{" + id[:i] + "}:job:" + id[i+1:], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeJob sets fields of a job's record and renews its expiry (one
// transaction).
func (l *Ledger) writeJob(ctx context.Context, id string, fields ...any) error {
	_, key, err := jobKey(id)
	if err != nil {
		return err
	}
	pipe := l.rdb.TxPipeline()
	pipe.HSet(ctx, key, fields...)
	pipe.Expire(ctx, key, jobTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return redisErr("write job", err)
	}
	return nil
}

// jobFields returns a job's record (ErrNotFound for an unknown or expired id).
func (l *Ledger) jobFields(ctx context.Context, id string) (map[string]string, error) {
	_, key, err := jobKey(id)
	if err != nil {
		return nil, err
	}
	f, err := l.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, redisErr("job", err)
	}
	if len(f) == 0 {
		return nil, fmt.Errorf("sync: job %q: %w", id, ErrNotFound)
	}
	return f, nil
}
