#!/usr/bin/env bash
# idle.sh BIN [SECS]: BENCHMARKS.md "Idle". $WORK holds idle.yaml (listen 127.0.0.1:18415, Redis 127.0.0.1:16404 db 0,
# worker.listen off) whose Redis holds the 100 tenants; settings may come from SCIMBRIDGE_* variables.
bin=$1 secs=${2:-60}
cd "${WORK:-.}"
hz=$(getconf CLK_TCK); cpu() { awk '{print $14+$15}' /proc/$1/stat; }
$bin serve --config idle.yaml >idle-serve.log 2>&1 & S=$!
sleep 15
redis-cli -p 16404 config resetstat >/dev/null
r=$(pgrep -f 'redis-server 127.0.0.1:16404' | head -1)
c0=$(cpu $S); r0=$(cpu $r)
sleep $secs
c1=$(cpu $S); r1=$(cpu $r)
redis-cli -p 16404 info commandstats | tr -d '\r' | awk -F'[:=,]' -v s=$secs '/^cmdstat/ {sub("cmdstat_","",$1); t+=$3; printf "%s %.2f/s  ", $1, $3/s} END {printf "\nTOTAL %.2f commands/s\n", t/s}'
echo "serve cpu $(echo "($c1-$c0)/$hz/$secs*100" | bc -l | cut -c1-5)% of a core; redis cpu $(echo "($r1-$r0)/$hz/$secs*100" | bc -l | cut -c1-5)%"
kill $S; wait $S 2>/dev/null
