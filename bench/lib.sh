# Shared by the benchmark scripts of version 1.1.0 (bench/skip_unchanged,
# bench/writers, bench/cascade, bench/statistics, bench/callgrind).  Sourced,
# not run.
#
# Every script runs against a throwaway server of its own and takes:
#   --smoke     tiny sizes and few repetitions: seconds, for CI
#               (test/bench_smoke.sh), proving only that the script works;
#   --private   build this working tree and run against a private copy of
#               the PostgreSQL installation with it installed, instead of the
#               system's installation (which other builds may overwrite
#               while the benchmark runs).
#
# Comparisons are made within one run, in interleaved rounds (the order of
# the things compared rotates from round to round), as ratios or differences
# per round, then the median over the rounds: the machine is shared and its
# speed drifts, and what drifts cancels within a round.  Targets are
# reported (met / missed), never asserted: a script's exit status is
# non-zero only when a measurement could not be taken.

source "$(dirname "${BASH_SOURCE[0]}")/../tools/common.sh"
BENCH=$REPO_ROOT/bench
# sort and join must agree on the order of what they compare.
export LC_ALL=C

MODE=full
PRIVATE=
FAILED=()		# measurements that could not be taken
SUMMARY=()		# rows of the summary table
BG_PIDS=()		# background processes started by the script
EXTRA_SERVERS=()	# data directories of other servers to stop on exit
WORK=
DATA=
OUT=

# bench_args USAGE "$@": parse the common options; anything else is an
# error (scripts with options of their own parse them first).
bench_args() {
	local usage=$1 arg
	shift
	for arg in "$@"; do
		case "$arg" in
			--smoke) MODE=smoke ;;
			--private) PRIVATE=1 ;;
			*) say "usage: $usage"; exit 2 ;;
		esac
	done
}

# bench_prepare NAME: prerequisites, the scratch and output directories,
# and the PostgreSQL installation to use (see --private).
bench_prepare() {
	local name=$1
	install_prereqs || exit 2
	OUT=$BENCH/out/$name-$MODE-$(date +%Y%m%d-%H%M%S)
	mkdir -p "$OUT"
	WORK=$(scratch_dir "bench-$name")
	DATA=$WORK/data
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	if [ -n "$PRIVATE" ]; then
		private_install || { say "could not build and install the extension privately"; exit 2; }
	elif [ ! -f "$("$PG_BIN/pg_config" --sharedir)/extension/metrics_refresh.control" ]; then
		say "metrics_refresh is not installed: run make && make install first (or use --private)"
		exit 2
	fi
	PSQL=$PG_BIN/psql
	PGBENCH=$PG_BIN/pgbench
	: >"$WORK/lat.tsv"
}

# private_install: copy this version's PostgreSQL installation into
# $WORK/pg, build the working tree and install it there (DESTDIR); the
# copy's programs find their libraries and share directory relative to
# themselves.  Sets PG_BIN to the copy's.
private_install() {
	local tree=$WORK/pg sys_lib=/usr/lib/postgresql/$PG_MAJOR sys_share=/usr/share/postgresql/$PG_MAJOR
	say "== building $REPO_ROOT into a private installation ($tree)"
	mkdir -p "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql" &&
		cp -a "$sys_lib" "$tree/usr/lib/postgresql/" &&
		cp -a "$sys_share" "$tree/usr/share/postgresql/" || return 1
	make -C "$REPO_ROOT" -s PG_CONFIG="$PG_CONFIG" clean >&2 &&
		make -C "$REPO_ROOT" -s PG_CONFIG="$PG_CONFIG" >&2 &&
		make -C "$REPO_ROOT" -s PG_CONFIG="$PG_CONFIG" DESTDIR="$tree" install >&2 || return 1
	cmp -s "$REPO_ROOT/metrics_refresh.so" "$tree$sys_lib/lib/metrics_refresh.so" || return 1
	PG_BIN=$tree$sys_lib/bin
}

# bench_server [CONFIG LINE...]: start the throwaway server, with settings
# that keep the machine's disk out of the measurements.
bench_server() {
	local port
	port=$(free_port 55600)
	export PGHOST=localhost PGPORT=$port PGUSER=postgres
	unset PGDATABASE PGAPPNAME PGOPTIONS PGSERVICE
	say "== starting a throwaway server on port $port"
	start_server "$DATA" "$port" \
		"synchronous_commit = off" \
		"jit = off" \
		"max_parallel_workers_per_gather = 0" \
		"max_wal_size = 8GB" \
		"checkpoint_timeout = 30min" \
		"max_connections = 50" \
		"log_min_messages = warning" \
		"$@" || { say "could not start the server"; cat "$WORK/server.log" >&2; exit 1; }
	LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
	PGVERSION=$(q postgres -c "SELECT version()")
}

bench_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$DATA" ] && stop_server "$DATA"
	for p in "${EXTRA_SERVERS[@]}"; do stop_server "$p"; done
	[ -n "$WORK" ] && [ -f "$WORK/server.log" ] && cp "$WORK/server.log" "$OUT/server.log"
	[ -n "$WORK" ] && [ -f "$WORK/lat.tsv" ] && cp "$WORK/lat.tsv" "$OUT/latencies.tsv"
	[ -n "$WORK" ] && rm -rf "$WORK"
}

fail() { FAILED+=("$1"); say "FAILED: $1"; }

# q DB ARGS...: psql, quiet, unaligned, stopping at the first error.
q() {
	local db=$1
	shift
	"$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# timed_ms DB SETUP SQL: in a new session, run SETUP (untimed: e.g. a call
# that warms the session up), then SQL, and print SQL's elapsed time in ms as
# psql's \timing sees it.  SQL's output goes to $WORK/last_result.
timed_ms() {
	local db=$1 setup=$2 sql=$3 out
	out=$("$PSQL" -X -At -v ON_ERROR_STOP=1 -d "$db" 2>&1 <<-EOF
		$setup
		\\timing on
		$sql;
	EOF
	) || { say "$out"; return 1; }
	printf '%s\n' "$out" | sed -n '/^Timing is on\./,$p' | grep -v -e '^Time: ' -e '^Timing is on' >"$WORK/last_result"
	printf '%s\n' "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1 | grep . || { say "$out"; return 1; }
}

# record PART CMD ROUND MS: one measurement, for the statistics below.
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$WORK/lat.tsv"; }

# pgbench_calls PART CMD ROUND DB SCRIPT CALLS: one client runs SCRIPT CALLS
# times; each call's latency (ms) is recorded.  The connection's first call
# (which loads the library and fills the caches) is left out: the figures
# are those of a warm session.
pgbench_calls() {
	local part=$1 cmd=$2 round=$3 db=$4 script=$5 calls=$6 prefix
	prefix=$WORK/pgbench_log.$part.$cmd.$round
	if ! (cd "$WORK" && "$PGBENCH" -n -c 1 -t $((calls + 1)) -f "$script" -l --log-prefix="$prefix" "$db" \
		>"$WORK/pgbench.out" 2>&1); then
		cat "$WORK/pgbench.out" >&2
		return 1
	fi
	awk -v p="$part" -v c="$cmd" -v r="$round" '$2 > 1 { printf "%s\t%s\t%s\t%.3f\n", p, c, r, $3 / 1000 }' \
		"$prefix".* >>"$WORK/lat.tsv"
	rm -f "$prefix".*
}

# cpu_calls PART CMD ROUND DB SQL CALLS: in one session, after a first call
# that warms it up, run SQL CALLS times (output discarded) and record, per
# call, the server process's time on a CPU as "PART-cpu" and its time
# waiting for a CPU as "PART-wait" (ms; Linux /proc/self/schedstat, read by
# the backend itself: superuser).  On-CPU time is what a call costs; unlike
# elapsed time it does not grow when other jobs keep the CPUs busy.
cpu_calls() {
	local part=$1 cmd=$2 round=$3 db=$4 sql=$5 calls=$6 out i
	out=$({
		echo '\o /dev/null'
		echo "$sql;"
		echo '\o'
		echo "SELECT pg_read_file('/proc/self/schedstat') AS s0 \\gset"
		echo '\o /dev/null'
		for ((i = 0; i < calls; i++)); do echo "$sql;"; done
		echo '\o'
		echo "SELECT ((split_part(s1, ' ', 1)::numeric - split_part(:'s0', ' ', 1)::numeric) / 1e6 / $calls)::numeric(12, 3)
			|| ' ' || ((split_part(s1, ' ', 2)::numeric - split_part(:'s0', ' ', 2)::numeric) / 1e6 / $calls)::numeric(12, 3)
			FROM pg_read_file('/proc/self/schedstat') AS s1;"
	} | "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$db" 2>&1) || { say "$out"; return 1; }
	set -- $out
	[ $# -eq 2 ] || { say "$out"; return 1; }
	record "$part-cpu" "$cmd" "$round" "$1"
	record "$part-wait" "$cmd" "$round" "$2"
}

# children_cpu_ms: CPU time (ms, user + system) of the server's processes
# that have ended so far (the postmaster's reaped children: /proc/PID/stat
# cutime + cstime); around a piece of work done by sessions and background
# workers that end with it, the difference is their CPU time, at the
# kernel's clock tick's resolution.  Autovacuum, whose workers end too,
# should be off.
children_cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($16 + $17) * 1000 / hz }' \
		"/proc/$(head -n 1 "$DATA/postmaster.pid")/stat" 2>/dev/null
}

# rotate N ITEMS...: the items rotated by N, one per line (round N's order).
rotate() {
	local n=$1
	shift
	local a=("$@") k=$# i
	for ((i = 0; i < k; i++)); do printf '%s\n' "${a[$(((i + n) % k))]}"; done
}

# quantile Q: the Q-quantile (linear interpolation) of the numbers on stdin;
# nothing when there are none.
quantile() {
	sort -g | awk -v q="$1" '{ a[NR] = $1 }
		END { if (!NR) exit; p = 1 + (NR - 1) * q; i = int(p); f = p - i
			v = a[i] + (i < NR ? (a[i + 1] - a[i]) * f : 0); printf "%.3f\n", v }'
}

# values PART CMD: the recorded measurements of PART/CMD, one per line.
values() { awk -F'\t' -v p="$1" -v c="$2" '$1 == p && $2 == c { print $4 }' "$WORK/lat.tsv"; }

# lat_stat PART CMD -> "COUNT MEDIAN P95"
lat_stat() {
	local n
	n=$(values "$1" "$2" | grep -c .)
	echo "$n $(values "$1" "$2" | quantile 0.5) $(values "$1" "$2" | quantile 0.95)"
}

# per_round PART CMD: "ROUND MEDIAN" for each round.
per_round() {
	local r
	for r in $(awk -F'\t' -v p="$1" -v c="$2" '$1 == p && $2 == c { print $3 }' "$WORK/lat.tsv" | sort -n -u); do
		echo "$r $(awk -F'\t' -v p="$1" -v c="$2" -v r="$r" '$1 == p && $2 == c && $3 == r { print $4 }' \
			"$WORK/lat.tsv" | quantile 0.5)"
	done
}

# round_cmp OP PART A B -> "MEDIAN MIN MAX" over rounds of (median of A OP
# median of B) within the round; OP is "/" or "-".
round_cmp() {
	local op=$1 part=$2
	join <(per_round "$part" "$3" | sort -k1,1) <(per_round "$part" "$4" | sort -k1,1) |
		awk -v op="$op" '{ if (op == "/") { if ($3 > 0) print $2 / $3 } else print $2 - $3 }' >"$WORK/cmp"
	[ -s "$WORK/cmp" ] || return 0
	echo "$(quantile 0.5 <"$WORK/cmp") $(sort -g "$WORK/cmp" | head -n 1) $(sort -g "$WORK/cmp" | tail -n 1)"
}

# target TEXT MEASURED CONDITION: a row of the summary; CONDITION is an awk
# expression, "info" for a figure reported without a target.
target() {
	local verdict=n/a
	if [ "$3" = info ]; then
		verdict=info
	elif [ -n "$2" ]; then
		# A condition with a missing operand does not parse: n/a.
		verdict=$(awk "BEGIN { if ($3) print \"met\"; else print \"missed\" }" 2>/dev/null) || verdict=n/a
		[ -n "$verdict" ] || verdict=n/a
	fi
	SUMMARY+=("$(printf '%-72s %-30s %s' "$1" "${2:-n/a}" "$verdict")")
}

# report_header TITLE
report_header() {
	echo "$1 ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
		"$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo) GiB RAM, $(uname -sr)"
	echo "load:    ${LOAD_START:-?} at the start, $(cut -d" " -f1-3 /proc/loadavg) at the end (1, 5, 15 min; other jobs on the machine add noise)"
	[ -n "${PGVERSION:-}" ] && echo "server:  $PGVERSION"
	echo "build:   $([ -n "$PRIVATE" ] && echo "this working tree, installed privately" || echo "the installed extension")" \
		"($("$PG_BIN/pg_config" --pkglibdir)/metrics_refresh.so, $(md5sum <"$("$PG_BIN/pg_config" --pkglibdir)/metrics_refresh.so" | cut -c1-12))"
	echo
}

# report_summary: the summary table, and the measurements not taken.
report_summary() {
	local row
	echo "Summary"
	printf '   %-72s %-30s %s\n' "target" "measured" "result"
	for row in "${SUMMARY[@]}"; do echo "   $row"; done
	if [ ${#FAILED[@]} -gt 0 ]; then
		echo
		echo "MEASUREMENTS NOT TAKEN: ${FAILED[*]}"
	fi
}

# fmt NUMBER [DECIMALS]: a number rounded, or "n/a".
fmt() { [ -n "${1:-}" ] && awk -v x="$1" -v d="${2:-3}" 'BEGIN { printf("%." d "f", x) }' || echo n/a; }
