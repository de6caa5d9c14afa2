#!/usr/bin/env bash
# pg-write-e2e.sh BIN NAME (in $WORK; NAME from pg-write-drain.sh): serve; creates (5000), PUTs (10000 requests), deactivations (5000) against tenant NAME (pg-write-drain.sh),
# each timed from the first request until the store rows reflect every acknowledged write (scimbench's store convergence),
# with the store's own INSERT/UPDATE ceiling at 8 measured by scimbench in the same run.
bin=$1 name=$2
cd "${WORK:-.}"
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
R="--redis 127.0.0.1:6404 --redis-db 3"
$bin serve --config config.yaml >/dev/null 2>&1 & S=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done
for sc in create put deactivate; do
  req=5000; [ $sc = put ] && req=10000
  echo "== $(basename $bin) $sc"
  ./scimbench run --targets $name.json --scenario $sc --requests $req --concurrency 64 --pool 5000 $R --store-dsn "$PG" --store-table $name.users --store-concurrency 8 --settle 0 2>&1 | grep -iE 'converge|ceiling|ops/s|store' | head -8
done
kill $S; wait $S 2>/dev/null
