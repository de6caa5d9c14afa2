#!/usr/bin/env bash
# pg-group-e2e.sh BIN N: BENCHMARKS.md "Group member changes end to end". serve on a fresh PostgreSQL tenant;
# N group-add PATCHes (one member each, N distinct users created first, unmeasured) at 64 clients, timed from
# the first request until the ledger has applied every change, against the store's INSERT ceiling (a member addition is an INSERT) at 8
# connections measured by scimbench right after. $WORK: scratch; REDIS_PORT (16404), REDIS_DB (3), LISTEN_PORT (18420).
set -e
bin=$1 n=$2
rp=${REDIS_PORT:-16404} db=${REDIS_DB:-3} lp=${LISTEN_PORT:-18420}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cd "${WORK:-.}"
schema=sbgrp
redis-cli -p $rp -n $db flushdb >/dev/null
psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null
R="--redis 127.0.0.1:$rp --redis-db $db"
./scimbench setup $R --store-dsn "$PG" --schema $schema --tenant-prefix $schema --public-url http://127.0.0.1:$lp --users 0 --out grp.json >/dev/null
cat > grp.yaml <<YAML
listen: "127.0.0.1:$lp"
public_url: "http://127.0.0.1:$lp"
redis: {addr: "127.0.0.1:$rp", db: $db}
log: {level: warn}
worker: {listen: "off"}
api: {rate_limit: {per_tenant_rps: -1}}
YAML
$bin serve --config grp.yaml >grp-serve.log 2>&1 & S=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$lp/healthz >/dev/null && break; sleep 0.1; done
./scimbench run --targets grp.json --scenario group-add --requests $n --concurrency 64 --pool $n $R \
  --store-dsn "$PG" --store-table $schema.users --store-concurrency 8 --settle 0 2>&1 | grep -iE "converge|ceiling|ops/s|ratio|within|member" | head -9
kill $S; wait $S 2>/dev/null || true
