#!/usr/bin/env bash
# ldap-drain.sh BIN NAME N CONC [create]: BENCHMARKS.md "LDAP applies with several connections".
# Run in $WORK (default .), which holds ./scimbench, config.yaml (listen 127.0.0.1:18414, Redis
# 127.0.0.1:6404 db 3, rate limit off, worker.listen off) and env.sh setting
# L="--store-dsn ldap://127.0.0.1:PORT --ldap-bind-dn DN --ldap-bind-password-file FILE" (from `scimbench slapd --info`).
set -euo pipefail
bin=$1 name=$2 n=$3 conc=$4 sc=${5:-create}
cd "${WORK:-.}"; . ./env.sh
R="--redis 127.0.0.1:6404 --redis-db 3"
users=0; [ "$sc" = create ] || users=$n
if [ $users -gt 0 ]; then $bin serve --config config.yaml >/dev/null 2>&1 & S=$!; for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done; fi
./scimbench setup $R $L --ldap-base dc=example,dc=com --schema $name --tenant-prefix $name --public-url http://127.0.0.1:18414 --users $users --store-max-concurrency $conc --out $name.json >/dev/null
if [ $users -gt 0 ]; then kill $S; wait $S 2>/dev/null || true; fi
$bin api --config config.yaml >/dev/null 2>&1 & API=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18414/healthz >/dev/null && break; sleep 0.1; done
./scimbench run --targets $name.json --scenario $sc --requests $n --concurrency 64 $R --converge-timeout 1s --settle 0 >/dev/null 2>&1 || true
kill $API; wait $API 2>/dev/null || true
k=$(redis-cli -p 6404 -n 3 zcard "sb:{$name-0}:u:dirty")
c1=$(./scimbench ceiling $L --store-table ou=people,ou=$name,dc=example,dc=com --rows 3000 --store-concurrency $conc | grep -o 'add [0-9]*/s.*modify [0-9]*/s' | sed 's/([^)]*)//')
t0=$(date +%s.%N); $bin worker --config config.yaml >/dev/null 2>&1 & W=$!
while [ "$(redis-cli -p 6404 -n 3 exists "sb:{$name-0}:u:dirty")" = "1" ]; do sleep 0.02; done
t1=$(date +%s.%N); kill $W; wait $W 2>/dev/null || true
c2=$(./scimbench ceiling $L --store-table ou=people,ou=$name,dc=example,dc=com --rows 3000 --store-concurrency $conc | grep -o 'add [0-9]*/s.*modify [0-9]*/s' | sed 's/([^)]*)//')
echo "$(basename $bin) $name $sc conc=$conc: $k users drained in $(printf %.2f $(echo "$t1 - $t0" | bc)) s = $(echo "$k / ($t1 - $t0)" | bc)/s | ceiling before: $c1 | after: $c2"
