#!/usr/bin/env bash
# scale.sh BIN USERS: BENCHMARKS.md "A 100,000-user tenant". One PostgreSQL tenant whose store table
# holds USERS rows (inserted by SQL), adopted by `scimbridge import`, checked by `drift`, listed page by
# page through the SCIM API (count=1000), with `serve` (API + worker) running; VmRSS/VmHWM of serve
# from /proc after each step, and Redis commands per sweeper pass (sweeper.interval 1s, no dirty user).
# $WORK: a scratch dir; REDIS_PORT (16404), REDIS_DB (2), LISTEN_PORT (18419), PG (the DSN).
set -e
bin=$1 n=$2
rp=${REDIS_PORT:-16404} db=${REDIS_DB:-2} lp=${LISTEN_PORT:-18419}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cd "${WORK:-.}"
schema=sbscale$n
redis-cli -p $rp -n $db flushdb >/dev/null
psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null
./scimbench setup --redis 127.0.0.1:$rp --redis-db $db --store-dsn "$PG" --schema $schema --tenant-prefix $schema \
  --public-url http://127.0.0.1:$lp --users 0 --out scale.json >/dev/null
tenant=$schema-0
psql -q "$PG" -c "INSERT INTO $schema.users (login, first_name, last_name, full_name, mail, okta_id, dept, enabled)
  SELECT 'u'||g||'@scale.example', 'First'||g, 'Last'||g, 'First'||g||' Last'||g, 'u'||g||'@scale.example',
         'okta'||g, 'dept'||(g%50), true FROM generate_series(1, $n) g"
cat > scale.yaml <<YAML
listen: "127.0.0.1:$lp"
public_url: "http://127.0.0.1:$lp"
redis: {addr: "127.0.0.1:$rp", db: $db}
log: {level: warn}
worker: {listen: "off"}
sweeper: {interval: 1s}
api: {rate_limit: {per_tenant_rps: -1}}
YAML
mem() { awk '/^VmRSS|^VmHWM/ {printf "%s %d MB  ", $1, $2/1024}' /proc/$S/status; }
$bin serve --config scale.yaml >serve.log 2>&1 & S=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$lp/healthz >/dev/null && break; sleep 0.1; done
sleep 2; echo "started:        $(mem)"
t0=$(date +%s.%N); $bin import --config scale.yaml --tenant $tenant >import.out 2>&1
echo "import:         $(mem) ($(echo "$(date +%s.%N)-$t0" | bc) s; $(tail -1 import.out))"
t0=$(date +%s.%N); $bin drift --config scale.yaml --tenant $tenant >drift.out 2>&1 || true
echo "drift:          $(mem) ($(echo "$(date +%s.%N)-$t0" | bc) s; $(tail -1 drift.out))"
key=$(python3 -c 'import json;print(json.load(open("scale.json"))["targets"][0]["api_key"])')
t0=$(date +%s.%N); seen=0
for i in $(seq 1 1000 $n); do
  c=$(curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$lp/scim/$tenant/v2/Users?startIndex=$i&count=1000" | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["Resources"]))')
  seen=$((seen+c))
done
echo "list (${seen} users): $(mem) ($(echo "$(date +%s.%N)-$t0" | bc) s)"
redis-cli -p $rp config resetstat >/dev/null; sleep 10
echo "idle 10 s (sweeper every 1 s): $(redis-cli -p $rp info commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat/ {sub("cmdstat_","",$1); if ($1!="config|resetstat") {t+=$3; printf "%s %d ", $1, $3}} END {printf "| total %d", t}')"
echo "ledger: $(redis-cli -p $rp -n $db zcard "sb:{$tenant}:u:all") users, $(redis-cli -p $rp -n $db zcard "sb:{$tenant}:u:dirty") dirty; redis used_memory $(redis-cli -p $rp info memory | tr -d '\r' | awk -F: '/^used_memory:/ {printf "%d MB", $2/1048576}')"
kill $S; wait $S 2>/dev/null || true
