package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// The Redis topologies (redis.mode).
const (
	RedisStandalone = "standalone"
	RedisSentinel   = "sentinel"
	RedisCluster    = "cluster"
)

// Client tuning shared by the three topologies.
const (
	redisDialTimeout  = 2 * time.Second
	redisReadTimeout  = 3 * time.Second
	redisWriteTimeout = 3 * time.Second
	redisPoolSize     = 64
	// RESP2: scimbridge uses no RESP3 feature (no client-side caching,
	// no push messages), and go-redis checks every RESP3 reply for
	// pending push notifications (~5 % of the front door's CPU).
	redisProtocol = 2
)

// redisConnection builds the client of cfg's topology with go-redis's own
// client for it (NewClient, NewFailoverClient, NewClusterClient: routing,
// discovery and failover are theirs), the matching asynq connection
// options, and a label for messages (addresses only, never a password).
// It does not connect.
func redisConnection(cfg RedisConfig) (redis.UniversalClient, asynq.RedisConnOpt, string, error) {
	password := ""
	if cfg.PasswordEnv != "" {
		password = os.Getenv(cfg.PasswordEnv)
	}
	switch cfg.Mode {
	case RedisSentinel:
		sentinelPassword, err := sentinelPassword(cfg)
		if err != nil {
			return nil, nil, "", err
		}
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.Sentinel.Master, SentinelAddrs: cfg.Sentinel.Addrs, SentinelPassword: sentinelPassword,
			Password: password, DB: cfg.DB,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			PoolSize: redisPoolSize, Protocol: redisProtocol,
		})
		opt := asynq.RedisFailoverClientOpt{
			MasterName: cfg.Sentinel.Master, SentinelAddrs: cfg.Sentinel.Addrs, SentinelPassword: sentinelPassword,
			Password: password, DB: cfg.DB,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
		}
		return rdb, opt, fmt.Sprintf("redis master %q via sentinels %s", cfg.Sentinel.Master, strings.Join(cfg.Sentinel.Addrs, ",")), nil
	case RedisCluster:
		rdb := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Cluster.Addrs, Password: password,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			PoolSize: redisPoolSize, Protocol: redisProtocol,
		})
		opt := asynq.RedisClusterClientOpt{
			Addrs: cfg.Cluster.Addrs, Password: password,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
		}
		return rdb, opt, "redis cluster " + strings.Join(cfg.Cluster.Addrs, ","), nil
	default:
		rdb := redis.NewClient(&redis.Options{
			Addr: cfg.Addr, Password: password, DB: cfg.DB,
			DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
			PoolSize: redisPoolSize, Protocol: redisProtocol,
		})
		opt := asynq.RedisClientOpt{Addr: cfg.Addr, Password: password, DB: cfg.DB}
		return rdb, opt, "redis at " + cfg.Addr, nil
	}
}

// sentinelPassword reads the sentinels' password from its variable or file.
func sentinelPassword(cfg RedisConfig) (string, error) {
	switch {
	case cfg.Sentinel.PasswordEnv != "":
		return os.Getenv(cfg.Sentinel.PasswordEnv), nil
	case cfg.Sentinel.PasswordFile != "":
		b, err := os.ReadFile(cfg.Sentinel.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("redis.sentinel.password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// forEachPrimary runs fn on every primary: each master of a cluster, or
// the one client of the other topologies (a failover client talks to the
// current master).
func forEachPrimary(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}
