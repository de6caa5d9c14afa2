#!/usr/bin/env bash
# ldap-modify-drain.sh BIN NAME N CONC: as ldap-drain.sh (same $WORK), for PUTs and deactivations of N existing users.
set -euo pipefail
bin=$1 name=$2 n=$3 conc=$4
cd "${WORK:-.}"; . ./env.sh
R="--redis 127.0.0.1:6404 --redis-db 3"
$bin serve --config config.yaml >/dev/null 2>&1 & S=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done
./scimbench setup $R $L --ldap-base dc=example,dc=com --schema $name --tenant-prefix $name --public-url http://127.0.0.1:18414 --users $n --store-max-concurrency $conc --out $name.json >/dev/null
kill $S; wait $S 2>/dev/null || true
for sc in put deactivate; do
  req=$n; [ $sc = put ] && req=$((2*n))
  $bin api --config config.yaml >/dev/null 2>&1 & API=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done
  ./scimbench run --targets $name.json --scenario $sc --requests $req --concurrency 64 --pool $n $R --converge-timeout 1s --settle 0 >/dev/null 2>&1 || true
  kill $API; wait $API 2>/dev/null || true
  k=$(redis-cli -p 6404 -n 3 zcard "sb:{$name-0}:u:dirty")
  c1=$(./scimbench ceiling $L --store-table ou=people,ou=$name,dc=example,dc=com --rows 3000 --store-concurrency $conc | grep -o 'modify [0-9]*/s')
  t0=$(date +%s.%N); $bin worker --config config.yaml >/dev/null 2>&1 & W=$!
  while [ "$(redis-cli -p 6404 -n 3 exists "sb:{$name-0}:u:dirty")" = "1" ]; do sleep 0.02; done
  t1=$(date +%s.%N); kill $W; wait $W 2>/dev/null || true
  c2=$(./scimbench ceiling $L --store-table ou=people,ou=$name,dc=example,dc=com --rows 3000 --store-concurrency $conc | grep -o 'modify [0-9]*/s')
  echo "$(basename $bin) $name $sc conc=$conc: $k users drained in $(printf %.2f $(echo "$t1 - $t0" | bc)) s = $(echo "$k / ($t1 - $t0)" | bc)/s | ceiling before: $c1 | after: $c2"
done
