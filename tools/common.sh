# Shared by tools/test, tools/demo and bench/run.  Sourced, not run.
#
# Everything runs on Debian with PostgreSQL from Debian: 15 on bookworm (this
# machine) by default, another major version when PG_MAJOR is set, e.g.
# PG_MAJOR=17 inside a trixie root made by tools/pgversions.  As root,
# missing packages are installed with apt-get and PostgreSQL runs as the
# "postgres" OS user (initdb and pg_ctl refuse to run as root).

PG_MAJOR=${PG_MAJOR:-15}
case "$PG_MAJOR" in
	[1-9][0-9]) ;;
	*) printf 'PG_MAJOR must be a PostgreSQL major version such as 15, not "%s"\n' "$PG_MAJOR" >&2; exit 2 ;;
esac
# PG_BIN may name the bin directory of another PostgreSQL $PG_MAJOR
# installation (a relocated copy, say): the build, the tests, the demo and the
# benchmarks then use it and its pg_config.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
# The build uses this version's pg_config, whichever others are installed.
PG_CONFIG=$PG_BIN/pg_config
# libipc-run-perl: IPC::Run, which the TAP tests (PostgreSQL::Test::Cluster) need.
# sqlsmith: random queries (bench/sqlsmith, test/sqlsmith.sh).
PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-cron build-essential libipc-run-perl sqlsmith"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*" >&2; }

# Install what is missing (root only; otherwise just check).
install_prereqs() {
	local missing=() p
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "missing packages: ${missing[*]} (run as root to install them)"
		return 1
	fi
	say "installing ${missing[*]} ..."
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Build and install the extension (PGXS).
build_and_install() {
	make -C "$REPO_ROOT" -s PG_CONFIG="$PG_CONFIG" clean >&2
	make -C "$REPO_ROOT" -s PG_CONFIG="$PG_CONFIG" >&2 &&
		make -C "$REPO_ROOT" -s PG_CONFIG="$PG_CONFIG" install >&2
}

# Run a command as the postgres OS user when we are root.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# A scratch directory the postgres user can write.
scratch_dir() {
	local d
	d=$(mktemp -d "/tmp/metrics_refresh.$1.XXXXXX")
	chmod 755 "$d"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$d"
	printf '%s\n' "$d"
}

# A free TCP port at or above $1.
free_port() {
	local p=$1
	while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	printf '%s\n' "$p"
}

# start_server DATADIR PORT [extra config lines...]: initdb (if needed) and start
# a throwaway server that preloads pg_cron, listening on localhost and a socket in DATADIR/..
start_server() {
	local data=$1 port=$2 sockdir
	shift 2
	sockdir=$(dirname "$data")
	if [ ! -f "$data/PG_VERSION" ]; then
		as_pg "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
		{
			echo "port = $port"
			echo "listen_addresses = 'localhost'"
			echo "unix_socket_directories = '$sockdir'"
			echo "shared_preload_libraries = 'pg_cron'"
			echo "cron.use_background_workers = on"
			echo "max_worker_processes = 20"
			echo "lc_messages = 'C'"
			for line in "$@"; do echo "$line"; done
		} | as_pg tee -a "$data/postgresql.conf" >/dev/null
	fi
	as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$data/../server.log" -w -t 60 start >/dev/null
}

# stop_server DATADIR: stop it; with MR_SERVER_LOGS set (tools/test does),
# keep a copy of its log there, for tools/test's scan of the server logs.
stop_server() {
	local log
	log=$(dirname "$1")/server.log
	as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
	if [ -n "${MR_SERVER_LOGS:-}" ] && [ -f "$log" ]; then
		mkdir -p "$MR_SERVER_LOGS" &&
			cp "$log" "$MR_SERVER_LOGS/$(basename "$(dirname "$1")").log"
	fi
}

# For shell tests: check WHAT EXPECTED ACTUAL prints "ok: WHAT" or a FAILED
# report, and counts the failures in $failures.
failures=0
check() {
	local what=$1 expected=$2 actual=$3
	if [ "$actual" = "$expected" ]; then
		echo "ok: $what"
	else
		echo "FAILED: $what"
		echo "  expected: $expected"
		echo "  actual:   $actual"
		failures=$((failures + 1))
	fi
}
