#!/usr/bin/env bash
# ab.sh: the front door of two (or more) scimbridge binaries, measured back
# to back in the same minutes, so a slow or busy machine does not decide
# the comparison (BENCHMARKS.md, "Fourth round").
#
#   cmd/scimbench/ab.sh CONFIG TARGETS BINARY...
#
# CONFIG is a scimbridge config listening on 127.0.0.1:18090 (the one in
# BENCHMARKS.md: private Redis, rate limit off, worker.listen off); TARGETS a
# `scimbench setup --out` file whose first tenant has users. For each binary
# it starts the `api` role alone, warms up, measures GET /Users/{id}, the eq
# filter and GET /healthz (no Redis: the machine's ceiling for a trivial
# handler) with wrk (apt-get install wrk), then 6 s of creates with
# scimbench, and stops it. No worker runs: a `serve` would spend the next
# round draining this round's creates while the reads are measured. SCIMBENCH (default ./scimbench) is the
# load tool binary; rounds (ROUNDS, default 2) alternate the binaries.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,17p "$0"; exit 2; }
config=$1 targets=$2; shift 2
scimbench=${SCIMBENCH:-./scimbench}
base=http://127.0.0.1:18090
command -v wrk >/dev/null || { echo "ab.sh: wrk is not installed (apt-get install wrk)" >&2; exit 2; }

read -r tenant key < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["targets"][0]; print(t["tenant"], t["api_key"])' "$targets")
scim=$base/scim/$tenant/v2
pid=

start() { # role binary
	"$2" "$1" --config "$config" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.1; done
	echo "ab.sh: $2 did not start" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT

start serve "$1"
user=$(curl -sf -H "Authorization: Bearer $key" "$scim/Users?count=1" |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["Resources"][0]; print(r["id"], r["userName"])')
stop
read -r id name <<<"$user"
filter="$scim/Users?filter=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote("userName eq \"%s\"" % sys.argv[1]))' "$name")"

for round in $(seq "${ROUNDS:-2}"); do
	for bin in "$@"; do
		start api "$bin"
		wrk -t2 -c64 -d3s -H "Authorization: Bearer $key" "$scim/Users/$id" >/dev/null
		for what in get filter healthz; do
			case $what in
			get) url=$scim/Users/$id ;;
			filter) url=$filter ;;
			healthz) url=$base/healthz ;;
			esac
			out=$(wrk -t2 -c64 -d8s --latency -H "Authorization: Bearer $key" "$url")
			printf '%s round %s %-8s %10s req/s  p50 %-8s p99 %s\n' "$bin" "$round" "$what" \
				"$(awk '/Requests\/sec/{print $2}' <<<"$out")" "$(awk '/ 50%/{print $2}' <<<"$out")" "$(awk '/ 99%/{print $2}' <<<"$out")"
		done
		printf '%s round %s %-8s %s\n' "$bin" "$round" create \
			"$("$scimbench" run --targets "$targets" --scenario create --concurrency 64 --duration 6s --settle 0 --converge-timeout 1s 2>&1 | grep -E '^ +create' || true)"
		stop
	done
done
