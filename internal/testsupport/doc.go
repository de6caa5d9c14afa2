// Package testsupport is what the module's tests share: the one rule for a
// service a test needs (Require: skip on a developer machine, fail when
// the CI environment variable is set), the one way to reach the test
// Redis, PostgreSQL and MariaDB/MySQL servers (SCIMBRIDGE_TEST_REDIS,
// SCIMBRIDGE_TEST_POSTGRES, SCIMBRIDGE_TEST_MYSQL, each with a default on
// 127.0.0.1), a place of its own on each (a tenant id, a schema, a
// database, a Redis database) removed when the test ends, and the small
// helpers several packages' tests copied before: a free port, a wait with a
// deadline, the scimbridge binary built once, a child process whose log
// is shown when the test fails.
//
// Redis topologies (redis_topology.go): tests that need a replica, a
// Sentinel or a Redis Cluster start their own redis-server processes on
// free loopback ports (StartRedisServer, StartRedisSentinel,
// StartRedisCluster) and describe them as a RedisTopology, the one value
// end-to-end tests are parameterised over (StandaloneTopology is the test
// Redis's database). DelayProxy (delayproxy.go) holds a server's replies
// back, for tests of what a client does after a read timeout.
//
// Sharing the servers. Packages' tests run concurrently against the same
// servers, so every test keeps to a place of its own:
//
//   - Redis: tests that only need keys use Redis (the shared database) and
//     Tenant, a fresh tenant id whose keys ({id}-tagged) are deleted at
//     cleanup. Tests that run a worker need a whole database, because
//     asynq's queues are per database and a worker takes any task it sees:
//     RedisDB hands out one of the databases listed in the DB* constants,
//     the one table of which package owns which database, flushed first.
//   - PostgreSQL: PostgresSchema, a fresh schema dropped at cleanup.
//   - MariaDB/MySQL: MySQLDatabase, a fresh database dropped at cleanup.
//
// It lives under the module's top-level internal/ directory so that the Go
// toolchain lets only packages of this module import it; and only tests
// (and the test-only packages adapters/conformance and
// adapters/ldapstore/ldaptest) may: TestOnlyTestsImportIt checks that no
// other package does. River's riversharedtest is the model.
package testsupport
