#!/usr/bin/env bash
# drain.sh: a worker binary draining a backlog, measured by the CPU seconds
# of the worker and of Redis and by Redis's command counts (BENCHMARKS.md,
# "Fifth round").
#
#   cmd/scimbench/drain.sh CONFIG API_BINARY WORKER_BINARY NAME [N]
#
# CONFIG is the scimbridge config of BENCHMARKS.md (listening on
# 127.0.0.1:18090, a private Redis on 127.0.0.1:16379 db 12, rate limit
# off, worker.listen off). It creates a fresh tenant (schema sbd_NAME in the
# PostgreSQL of $PG), has API_BINARY's `api` role alone take N creates
# (default 10,000), stops it, resets Redis's statistics, starts
# WORKER_BINARY's `worker` and times it until the tenant's dirty set is
# gone. Nothing else may hold a backlog in that Redis database: the worker
# drains every tenant's. SCIMBENCH (default ./scimbench) is the load tool.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,16p "$0"; exit 2; }
config=$1 api=$2 worker=$3 name=$4 n=${5:-10000}
scimbench=${SCIMBENCH:-./scimbench}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
base=http://127.0.0.1:18090
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

"$scimbench" setup --redis 127.0.0.1:16379 --redis-db 12 --store-dsn "$PG" --schema "sbd_$name" \
	--tenant-prefix "d$name" --public-url "$base" --out "drain-$name.json" --wait 0 >/dev/null
"$api" api --config "$config" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
"$scimbench" run --targets "drain-$name.json" --scenario create --requests "$n" --concurrency 64 \
	--settle 0 --converge-timeout 1s >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true

redis=$(pgrep -f "redis-server 127.0.0.1:16379" | head -1)
redis-cli -p 16379 config resetstat >/dev/null
r0=$(cpu "$redis"); start=$(date +%s.%N)
"$worker" worker --config "$config" >/dev/null 2>&1 &
pid=$!
w0=$(cpu "$pid")
while [ "$(redis-cli -p 16379 -n 12 exists "sb:{d$name-0}:u:dirty")" = "1" ]; do sleep 0.05; done
end=$(date +%s.%N); r1=$(cpu "$redis"); w1=$(cpu "$pid")
kill "$pid"; wait "$pid" 2>/dev/null || true
stats=$(redis-cli -p 16379 info commandstats | tr -d '\r' |
	awk -F'[:=,]' '/cmdstat_(evalsha|hgetall|set|zrange):/ {sub("cmdstat_", "", $1); printf "%s %s  ", $1, $3}')
printf '%s %s: %s users, drain %.2f s, worker cpu %.2f s, redis cpu %.2f s | %s\n' "$worker" "$name" "$n" \
	"$(echo "$end - $start" | bc)" "$(echo "($w1 - $w0) / $hz" | bc -l)" "$(echo "($r1 - $r0) / $hz" | bc -l)" "$stats"
