#!/usr/bin/env bash
# Makes sure the services the test suite needs are up: PostgreSQL (5432),
# MariaDB (3306), Redis (6379) on 127.0.0.1, and the slapd + ldap-utils
# binaries (the LDAP store tests start their own slapd in a temp dir).
#
# On CI (CI set) anything missing is an error. On a developer machine the
# script does what it can (it may not be root) and warns; the tests then skip
# what they cannot reach. Set SCIMBRIDGE_TEST_POSTGRES / SCIMBRIDGE_TEST_MYSQL
# / SCIMBRIDGE_TEST_REDIS to use services elsewhere: those are not started
# or probed here.
set -euo pipefail

WAIT_SECONDS="${SCIMBRIDGE_SERVICES_WAIT:-60}"
failures=0

log() { printf 'services: %s\n' "$*"; }

# problem records a service that is not usable: fatal on CI, a warning elsewhere.
problem() {
	if [[ -n "${CI:-}" ]]; then
		printf 'services: ERROR: %s\n' "$*" >&2
		failures=$((failures + 1))
	else
		printf 'services: WARNING: %s (tests that need it will skip)\n' "$*" >&2
	fi
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

postgres_up() {
	if command -v pg_isready >/dev/null; then
		pg_isready -q -h 127.0.0.1 -p 5432
	else
		tcp_open 5432
	fi
}
mysql_up() {
	if command -v mysqladmin >/dev/null; then
		mysqladmin --connect-timeout=2 -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1
	else
		tcp_open 3306
	fi
}
redis_up() {
	if command -v redis-cli >/dev/null; then
		[[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]
	else
		tcp_open 6379
	fi
}

start_postgres() {
	command -v pg_ctlcluster >/dev/null || return 1
	local version
	version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
	[[ -n "$version" ]] || return 1
	pg_ctlcluster --skip-systemctl-redirect "$version" main start
}
start_mysql() {
	[[ -x /usr/sbin/mariadbd ]] || return 1
	mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}
start_redis() {
	command -v redis-server >/dev/null || return 1
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
		--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

# ensure NAME OVERRIDE_VAR UP_FN START_FN
ensure() {
	local name="$1" override="$2" up="$3" start="$4"
	if [[ -n "${!override:-}" ]]; then
		log "$name: $override is set; using that server, not starting one"
		return 0
	fi
	if "$up"; then
		log "$name: up"
		return 0
	fi
	log "$name: not answering; starting it"
	if ! "$start"; then
		problem "$name: could not be started (not root, or not installed?)"
		return 0
	fi
	local waited=0
	until "$up"; do
		if ((waited >= WAIT_SECONDS)); then
			problem "$name: still not answering on 127.0.0.1 after ${WAIT_SECONDS}s"
			return 0
		fi
		sleep 1
		waited=$((waited + 1))
	done
	log "$name: up after ${waited}s"
}

# missing collects the Debian packages to install: slapd + ldap-utils for
# the LDAP store tests (they start their own slapd in a temp dir) and
# chromium for the console's browser test (cmd/scimbridge
# TestConsoleInChromium; SCIMBRIDGE_TEST_CHROMIUM may name another browser).
missing=()
if { command -v slapd >/dev/null || [[ -x /usr/sbin/slapd ]]; } && command -v ldapsearch >/dev/null; then
	log "slapd, ldap-utils: installed"
else
	missing+=(slapd ldap-utils)
fi
# redis-server (with redis-tools' redis-cli): the Redis topology tests
# start their own servers, a three-primary cluster (redis-cli --cluster
# create) and a primary, replica and sentinel (redis-server --sentinel).
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	log "redis-server, redis-tools: installed"
else
	missing+=(redis-server redis-tools)
fi
if [[ -n "${SCIMBRIDGE_TEST_CHROMIUM:-}" ]]; then
	log "chromium: SCIMBRIDGE_TEST_CHROMIUM is set; using $SCIMBRIDGE_TEST_CHROMIUM"
elif command -v chromium >/dev/null || [[ -x /usr/bin/chromium ]]; then
	log "chromium: installed"
else
	missing+=(chromium)
fi

# install_missing installs them with one apt-get update and one install.
install_missing() {
	((${#missing[@]} > 0)) || return 0
	log "${missing[*]} missing; installing with apt-get"
	local sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			problem "${missing[*]}: not installed and not root (install them with apt-get)"
			return 0
		fi
	fi
	if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
		log "${missing[*]}: installed"
	else
		problem "apt-get install ${missing[*]} failed"
	fi
}

# Packages first: the Redis started below is the redis-server installed here.
install_missing
ensure PostgreSQL SCIMBRIDGE_TEST_POSTGRES postgres_up start_postgres
ensure MariaDB SCIMBRIDGE_TEST_MYSQL mysql_up start_mysql
ensure Redis SCIMBRIDGE_TEST_REDIS redis_up start_redis

if ((failures > 0)); then
	printf 'services: %d service(s) unusable; CI is set, so this is fatal\n' "$failures" >&2
	exit 1
fi
