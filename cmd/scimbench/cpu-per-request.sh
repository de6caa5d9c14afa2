#!/usr/bin/env bash
# cpu-per-request.sh BIN SCENARIO N [PROFILE]: BENCHMARKS.md "CPU per PATCH and PUT". $WORK holds prof.yaml
# (listen 127.0.0.1:18416, Redis 127.0.0.1:16404 db 1, rate limit off) and prof.json (scimbench setup --via ledger).
# LISTEN_PORT and REDIS_PORT override the two ports (prof.yaml must name the same); PPROF_PORT the profile's (6061).
bin=$1 sc=$2 n=$3 prof=${4:-}
lp=${LISTEN_PORT:-18416} rp=${REDIS_PORT:-16404} pp=${PPROF_PORT:-6061}
cd "${WORK:-.}"
hz=$(getconf CLK_TCK); cpu() { awk '{print $14+$15}' /proc/$1/stat; }
while ss -ltn | grep -q 127.0.0.1:$lp; do sleep 0.2; done; SCIMBRIDGE_PPROF=127.0.0.1:$pp $bin api --config prof.yaml >/dev/null 2>&1 & A=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$lp/healthz >/dev/null && break; sleep 0.1; done
r=$(pgrep -f "redis-server .*:$rp" | head -1)
./scimbench run --targets prof.json --scenario $sc --requests 500 --concurrency 16 --settle 0 --converge-timeout 1ms >/dev/null 2>&1
redis-cli -p $rp config resetstat >/dev/null
a0=$(cpu $A); r0=$(cpu $r)
[ -n "$prof" ] && (curl -s "http://127.0.0.1:$pp/debug/pprof/profile?seconds=4" -o $prof &)
out=$(./scimbench run --targets prof.json --scenario $sc --requests $n --concurrency 64 --settle 0 --converge-timeout 1ms 2>&1 | grep -iE 'req/s|requests' | head -2)
a1=$(cpu $A); r1=$(cpu $r)
sleep 1
cmds=$(redis-cli -p $rp info commandstats | tr -d '\r' | awk -F'[:=,]' -v n=$n '/^cmdstat/ {sub("cmdstat_","",$1); if ($1!="config|resetstat") {t+=$3; printf "%s %.2f ", $1, $3/n}} END {printf "| total %.2f/request", t/n}')
echo "$(basename $bin) $sc $n: api $(echo "($a1-$a0)*1000000/$hz/$n" | bc) µs/req, redis $(echo "($r1-$r0)*1000000/$hz/$n" | bc) µs/req | $cmds"
echo "  $out" | tr '\n' ' '; echo
kill $A; wait $A 2>/dev/null
while ss -ltn | grep -q 127.0.0.1:$lp; do sleep 0.2; done
