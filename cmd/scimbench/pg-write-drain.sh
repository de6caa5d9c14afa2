#!/usr/bin/env bash
# pg-write-drain.sh BIN NAME N (in $WORK, as ldap-drain.sh; BENCHMARKS.md sixth round): a PostgreSQL tenant (max_concurrency 8) with N users (serve); then creates (N), PUTs (2N requests) and
# deactivations (N), each taken by api alone and drained by worker alone; PostgreSQL's INSERT/UPDATE ceiling at 8 before and after.
set -euo pipefail
bin=$1 name=$2 n=$3
cd "${WORK:-.}"
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
R="--redis 127.0.0.1:6404 --redis-db 3"
$bin serve --config config.yaml >/dev/null 2>&1 & S=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done
./scimbench setup $R --store-dsn "$PG" --schema $name --tenant-prefix $name --public-url http://127.0.0.1:18414 --users $n --out $name.json >/dev/null
kill $S; wait $S 2>/dev/null || true
for sc in create put deactivate; do
  req=$n; [ $sc = put ] && req=$((2*n))
  $bin api --config config.yaml >/dev/null 2>&1 & API=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done
  ./scimbench run --targets $name.json --scenario $sc --requests $req --concurrency 64 --pool $n $R --converge-timeout 1s --settle 0 >/dev/null 2>&1 || true
  kill $API; wait $API 2>/dev/null || true
  k=$(redis-cli -p 6404 -n 3 zcard "sb:{$name-0}:u:dirty")
  c1=$(./scimbench ceiling --store-dsn "$PG" --store-table $name.users --rows 3000 --store-concurrency 8 | grep -o 'INSERT.*')
  t0=$(date +%s.%N); $bin worker --config config.yaml >/dev/null 2>&1 & W=$!
  while [ "$(redis-cli -p 6404 -n 3 exists "sb:{$name-0}:u:dirty")" = "1" ]; do sleep 0.02; done
  t1=$(date +%s.%N); kill $W; wait $W 2>/dev/null || true
  c2=$(./scimbench ceiling --store-dsn "$PG" --store-table $name.users --rows 3000 --store-concurrency 8 | grep -o 'INSERT.*')
  echo "$(basename $bin) $name $sc: $k users drained in $(printf %.2f $(echo "$t1 - $t0" | bc)) s = $(echo "$k / ($t1 - $t0)" | bc)/s | ceiling before: $c1 | after: $c2"
done
