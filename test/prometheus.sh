#!/usr/bin/env bash
# contrib/prometheus with the real tools: postgres_exporter (Debian's
# prometheus-postgres-exporter) runs contrib/prometheus/queries.yaml against a
# throwaway server, and its /metrics must show the known runs exactly; promtool
# (Debian's prometheus) checks contrib/prometheus/alerts.yml and runs its unit
# tests, contrib/prometheus/alerts_test.yml.
#
#   1. Prerequisites: as root, installs the two packages when missing (their
#      services are not started: see install_prometheus_tools).
#   2. A server that preloads pg_cron, with pg_cron and metrics_refresh in the
#      database "postgres" (cron.database_name's default), an exporter role
#      that is only in pg_monitor, and one view per case:
#        prom_ok            2 successes (each sleeps 120 ms: bucket le=1, not le=0.1)
#        prom_err           1 success, then 2 errors (division by zero)
#        prom_same          skip_unchanged: 1 success, then 1 unchanged
#        prom_busy          1 success and 1 run skipped as busy meanwhile
#        "Prom Stale"       1 success with stale_after 1 s, then older than that
#        prom_never         scheduled (1 January, 00:00), never run
#   3. The exporter, as the postgres OS user, on a free port of 127.0.0.1 only,
#      with the exporter's own default metrics switched off.
#   4. One scrape, checked against what the runs must give and against
#      metrics_refresh_stats read in SQL (every series, exactly); then the
#      access rule (no pg_monitor: no series; pg_read_all_stats: all again)
#      and a later run showing in the next scrape.
# Every check prints "ok: ..." or "FAILED: ..."; exits non-zero if any failed.
# Cleans up the server, the exporter and the scratch directory on exit.
set -uo pipefail
source "$(dirname "$0")/../tools/common.sh"

CONTRIB=$REPO_ROOT/contrib/prometheus
EXPORTER=prometheus-postgres-exporter
DB=postgres

# Install prometheus-postgres-exporter and prometheus (for promtool) when
# missing, as root.  Debian's packages would start their daemons (listening
# on all addresses, 9187 and 9090): while they install, a policy-rc.d that
# denies service starts is put in place if the machine has none.
install_prometheus_tools() {
	local missing=() rc policy=/usr/sbin/policy-rc.d ours=
	command -v "$EXPORTER" >/dev/null || missing+=(prometheus-postgres-exporter)
	command -v promtool >/dev/null || missing+=(prometheus)
	command -v curl >/dev/null || missing+=(curl)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "missing packages: ${missing[*]} (run as root to install them)"
		return 1
	fi
	say "installing ${missing[*]} ..."
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# metrics_refresh test/prometheus.sh: no service starts while it installs\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		ours=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	rc=$?
	if [ -n "$ours" ]; then
		rm -f "$policy"
		trap - EXIT
	fi
	return $rc
}

install_prereqs || exit 2
install_prometheus_tools || { echo "FAILED: could not install the exporter and promtool"; exit 2; }

started=$SECONDS
dir=$(scratch_dir prometheus)
data=$dir/data
port=$(free_port $((50000 + RANDOM % 10000)))
exporter_pid= runner_pid= busy_pid=
# Stop the exporter by its own pid (from its pid file); should that be
# missing, runuser hands a SIGTERM on to it.
stop_exporter() {
	[ -z "$exporter_pid" ] && [ -s "$dir/exporter.pid" ] && exporter_pid=$(cat "$dir/exporter.pid")
	if [ -n "$exporter_pid" ]; then
		kill "$exporter_pid" 2>/dev/null
	elif [ -n "$runner_pid" ]; then
		kill "$runner_pid" 2>/dev/null
	fi
	[ -n "$runner_pid" ] && wait "$runner_pid" 2>/dev/null
	exporter_pid= runner_pid=
}
cleanup() {
	[ -n "$busy_pid" ] && kill "$busy_pid" 2>/dev/null
	stop_exporter
	stop_server "$data"
	rm -rf "$dir"
}
trap cleanup EXIT

sql() {
	as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$DB" -c "$1"
}

start_server "$data" "$port" || { echo "FAILED: server did not start"; exit 1; }

echo "== setup"
sql "
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;
CREATE ROLE prom_exporter LOGIN IN ROLE pg_monitor;
CREATE TABLE prom_knob (d int NOT NULL, busy_s float8 NOT NULL);
INSERT INTO prom_knob VALUES (1, 0);
CREATE TABLE prom_src (id int PRIMARY KEY);
INSERT INTO prom_src VALUES (1);
CREATE MATERIALIZED VIEW prom_ok AS SELECT count(*) AS n FROM pg_sleep(0.12);
CREATE UNIQUE INDEX ON prom_ok (n);
CREATE MATERIALIZED VIEW prom_err AS SELECT 1 / d AS x FROM prom_knob;
CREATE UNIQUE INDEX ON prom_err (x);
CREATE MATERIALIZED VIEW prom_same AS SELECT count(*) AS n FROM prom_src;
CREATE UNIQUE INDEX ON prom_same (n);
CREATE MATERIALIZED VIEW prom_busy AS SELECT count(*) AS n FROM pg_sleep((SELECT busy_s FROM prom_knob));
CREATE UNIQUE INDEX ON prom_busy (n);
CREATE MATERIALIZED VIEW \"Prom Stale\" AS SELECT 1 AS x;
CREATE UNIQUE INDEX ON \"Prom Stale\" (x);
CREATE MATERIALIZED VIEW prom_never AS SELECT 1 AS x;
CREATE UNIQUE INDEX ON prom_never (x);
" || { echo "FAILED: setup"; exit 1; }
# The installed build must have the cumulative statistics (1.1.0 on).
if [ "$(sql "SELECT to_regclass('metrics_refresh_stats') IS NOT NULL")" != t ]; then
	echo "FAILED: the installed metrics_refresh ($(sql "SELECT extversion FROM pg_extension WHERE extname = 'metrics_refresh'")) has no metrics_refresh_stats"
	exit 1
fi
echo "ok: metrics_refresh $(sql "SELECT extversion FROM pg_extension WHERE extname = 'metrics_refresh'") has metrics_refresh_stats"

# The known runs; each call prints the status it logged.
run() { sql "SELECT metrics_refresh_run('$1') ->> 'status'"; }
check "prom_ok run 1" success "$(run prom_ok)"
check "prom_ok run 2" success "$(run prom_ok)"
check "prom_err run 1" success "$(run prom_err)"
sql "UPDATE prom_knob SET d = 0"
check "prom_err run 2" error "$(run prom_err)"
check "prom_err run 3" error "$(run prom_err)"
sql "SELECT metrics_refresh_configure('prom_same', skip_unchanged => true)" >/dev/null
check "prom_same run 1" success "$(run prom_same)"
check "prom_same run 2" unchanged "$(run prom_same)"
sql "SELECT metrics_refresh_configure('\"Prom Stale\"', stale_after => '1 second')" >/dev/null
check "\"Prom Stale\" run" success "$(run '"Prom Stale"')"
sql "SELECT metrics_refresh_schedule('prom_never', '0 0 1 1 *')" >/dev/null

# prom_busy: a refresh that sleeps 1 s in the background; once it sleeps,
# a second run is skipped as busy.
sql "UPDATE prom_knob SET busy_s = 1"
run prom_busy >"$dir/busy.out" 2>&1 &
busy_pid=$!
for _ in $(seq 1 100); do
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%prom_busy%'")" = 1 ] && break
	sleep 0.05
done
check "prom_busy run while another refreshes it" skipped "$(run prom_busy)"
wait "$busy_pid"
busy_pid=
check "prom_busy run that slept" success "$(cat "$dir/busy.out")"

# "Prom Stale" is stale once its success is older than 1 s.
for _ in $(seq 1 50); do
	[ "$(sql "SELECT status FROM metrics_refresh_overview WHERE view_name = 'public.\"Prom Stale\"'")" = stale ] && break
	sleep 0.1
done
check "overview: \"Prom Stale\" is stale" stale \
	"$(sql "SELECT status FROM metrics_refresh_overview WHERE view_name = 'public.\"Prom Stale\"'")"

echo "== exporter"
help=$("$EXPORTER" --help 2>&1)
version=$("$EXPORTER" --version 2>&1 | head -n 1)
echo "$version"
# Only our queries: no built-in metrics, no settings, no collectors (the
# flags differ between versions, so take them from --help).
flags=(--disable-default-metrics)
grep -q -- '--disable-settings-metrics' <<<"$help" && flags+=(--disable-settings-metrics)
for c in $(grep -o 'collector\.[a-z_]*' <<<"$help" | sort -u); do
	flags+=("--no-$c")
done
eport=$(free_port $((port + 1)))
cp "$CONTRIB/queries.yaml" "$dir/queries.yaml"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir/queries.yaml"
# As the postgres OS user when root; the pid file gets the exporter's own pid.
exporter_cmd=(env DATA_SOURCE_NAME="host=$dir port=$port user=prom_exporter dbname=$DB sslmode=disable"
	bash -c 'echo $$ >"$1"; shift; exec "$@"' exporter "$dir/exporter.pid"
	"$EXPORTER" "${flags[@]}" --extend.query-path="$dir/queries.yaml"
	--web.listen-address="127.0.0.1:$eport")
if [ "$(id -u)" -eq 0 ]; then
	runuser -u postgres -- "${exporter_cmd[@]}" >"$dir/exporter.log" 2>&1 &
else
	"${exporter_cmd[@]}" >"$dir/exporter.log" 2>&1 &
fi
runner_pid=$!
scrape() {
	curl -fsS --max-time 20 "http://127.0.0.1:$eport/metrics" >"$1"
}
up=
for _ in $(seq 1 100); do
	if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$eport/metrics" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$runner_pid" 2>/dev/null || break
	sleep 0.1
done
[ -s "$dir/exporter.pid" ] && exporter_pid=$(cat "$dir/exporter.pid")
if [ -z "$up" ]; then
	echo "FAILED: the exporter did not answer on 127.0.0.1:$eport"
	cat "$dir/exporter.log"
	exit 1
fi
echo "ok: the exporter answers on 127.0.0.1:$eport"

# listeners PORT: the local addresses listening on TCP port PORT, from
# /proc/net/tcp and tcp6 (hex address:port; state 0A is LISTEN).
listeners() {
	local files=() f
	for f in /proc/net/tcp /proc/net/tcp6; do [ -r "$f" ] && files+=("$f"); done
	awk -v p="$(printf ':%04X' "$1")" \
		'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { print $2 }' "${files[@]}" | sort -u | tr '\n' ' '
}
check "the exporter listens on 127.0.0.1 only" "0100007F$(printf ':%04X' "$eport") " "$(listeners "$eport")"

echo "== scrape"
metrics=$dir/metrics.txt
now=$(date +%s)
scrape "$metrics" || { echo "FAILED: scrape"; cat "$dir/exporter.log"; exit 1; }

# value FILE NAME LABEL...: the value of the one series NAME{...} of FILE
# whose label text contains each LABEL (e.g. 'view="public.prom_ok"'), as
# written; "missing" if none, "N series" if several.
value() {
	local file=$1 name=$2
	shift 2
	WANT=$(printf '%s\n' "$@") awk -v name="$name" '
		BEGIN { n = split(ENVIRON["WANT"], w, "\n") }
		index($0, name "{") == 1 {
			ok = 1
			for (i = 1; i <= n; i++) if (w[i] != "" && index($0, w[i]) == 0) ok = 0
			if (ok) { v = $NF; c++ }
		}
		END { if (c == 1) print v; else if (c == 0) print "missing"; else print c " series" }' "$file"
}
# The label text of a view, as the exporter writes it (\ and " escaped).
vlabel() {
	local v=${1//\\/\\\\}
	printf 'view="%s"' "${v//\"/\\\"}"
}
# num_check WHAT EXPECTED ACTUAL TOLERANCE: numbers (exponent notation too).
num_check() {
	if awk -v e="$2" -v a="$3" -v t="$4" 'BEGIN { d = e - a; if (d < 0) d = -d; exit !(a ~ /^[-+0-9.eE]+$/ && d <= t) }'; then
		echo "ok: $1"
	else
		echo "FAILED: $1"
		echo "  expected: $2 (within $4)"
		echo "  actual:   $3"
		failures=$((failures + 1))
	fi
}

check "exporter: last scrape had no error" 0 "$(awk '$1 == "pg_exporter_last_scrape_error" { print $2 }' "$metrics")"
check "exporter: queries file loaded" 0 "$(value "$metrics" pg_exporter_user_queries_load_error)"
check "metric types" \
	"metrics_refresh_duration_seconds histogram
metrics_refresh_fresh_as_of_timestamp_seconds gauge
metrics_refresh_health_info gauge
metrics_refresh_last_error_timestamp_seconds gauge
metrics_refresh_last_run_timestamp_seconds gauge
metrics_refresh_last_status_info gauge
metrics_refresh_last_success_timestamp_seconds gauge
metrics_refresh_runs_total counter
metrics_refresh_stale gauge
metrics_refresh_stats_reset_timestamp_seconds gauge" \
	"$(awk '$1 == "#" && $2 == "TYPE" && $3 ~ /^metrics_refresh_/ { print $3, $4 }' "$metrics" | sort)"
# 5 views run: runs 4 each, histogram 10 each (7 buckets, +Inf, sum,
# count), 6 gauges, last status 1, health 1; prom_never: health only.
check "number of metrics_refresh series" 111 "$(grep -c '^metrics_refresh_' "$metrics")"
lint=$(grep '^\(# [A-Z]* \)\?metrics_refresh_' "$metrics" | promtool check metrics 2>&1)
check "promtool check metrics: no complaint about our series" "" "$lint"

# What the runs must give: view, success error skipped unchanged, health,
# last status ("" for none), stale.  "Last" is the latest started, as in
# metrics_refresh_status: prom_busy's skip started while its success ran.
expected="prom_ok|2 0 0 0|healthy|success|0
prom_err|1 2 0 0|failing|error|0
prom_same|1 0 0 1|healthy|unchanged|0
prom_busy|1 0 1 0|healthy|skipped|0
\"Prom Stale\"|1 0 0 0|stale|success|1"
while IFS='|' read -r name counts health last stale; do
	v=public.$name
	vl=$(vlabel "$v")
	read -r ns ne nk nu <<<"$counts"
	check "$v: runs_total success" "$ns" "$(value "$metrics" metrics_refresh_runs_total "$vl" 'status="success"')"
	check "$v: runs_total error" "$ne" "$(value "$metrics" metrics_refresh_runs_total "$vl" 'status="error"')"
	check "$v: runs_total skipped" "$nk" "$(value "$metrics" metrics_refresh_runs_total "$vl" 'status="skipped"')"
	check "$v: runs_total unchanged" "$nu" "$(value "$metrics" metrics_refresh_runs_total "$vl" 'status="unchanged"')"
	# Refreshes (success and error) have durations; skipped and unchanged runs not.
	check "$v: duration histogram count = successes + errors" "$((ns + ne))" \
		"$(value "$metrics" metrics_refresh_duration_seconds_count "$vl")"
	check "$v: bucket +Inf = count" "$((ns + ne))" \
		"$(value "$metrics" metrics_refresh_duration_seconds_bucket "$vl" 'le="+Inf"')"
	prev=0 mono=ok
	for le in 0.01 0.1 1 10 60 300 1800 +Inf; do
		b=$(value "$metrics" metrics_refresh_duration_seconds_bucket "$vl" "le=\"$le\"")
		{ [[ "$b" =~ ^[0-9]+$ ]] && [ "$b" -ge "$prev" ]; } || mono="not cumulative at le=$le: $b after $prev"
		prev=$b
	done
	check "$v: buckets cumulative" ok "$mono"
	check "$v: health_info" "status=\"$health\" 1" \
		"$(grep "^metrics_refresh_health_info{" "$metrics" | grep -F "$vl" | sed 's/.*\(status="[a-z]*"\).* \([0-9]*\)$/\1 \2/')"
	check "$v: last_status_info" "${last:+status=\"$last\" 1}" \
		"$(grep "^metrics_refresh_last_status_info{" "$metrics" | grep -F "$vl" | sed 's/.*\(status="[a-z]*"\).* \([0-9]*\)$/\1 \2/')"
	check "$v: stale" "$stale" "$(value "$metrics" metrics_refresh_stale "$vl")"
done <<<"$expected"

# Times: the last success of a view that succeeded is close to now (the
# runs above took seconds); a view that never failed gives 0.
for name in prom_ok prom_err prom_same prom_busy '"Prom Stale"'; do
	num_check "public.$name: last success time close to now" "$now" \
		"$(value "$metrics" metrics_refresh_last_success_timestamp_seconds "$(vlabel "public.$name")")" 60
done
# prom_never, scheduled and never run: unknown, and no other series.
check "public.prom_never: health_info" 'status="unknown" 1' \
	"$(grep "^metrics_refresh_health_info{" "$metrics" | grep -F 'view="public.prom_never"' | sed 's/.*\(status="[a-z]*"\).* \([0-9]*\)$/\1 \2/')"
check "public.prom_never: no other series" 1 "$(grep -c 'view="public.prom_never"' "$metrics")"
check "prom_ok: last error time 0 (never)" 0 \
	"$(value "$metrics" metrics_refresh_last_error_timestamp_seconds 'view="public.prom_ok"')"
# prom_ok's refreshes sleep 120 ms: none within 0.1 s.
check "prom_ok: bucket le=0.1 is 0 (120 ms refreshes)" 0 \
	"$(value "$metrics" metrics_refresh_duration_seconds_bucket 'view="public.prom_ok"' 'le="0.1"')"
check "prom_busy: bucket le=0.1 is 0 (a 1 s refresh)" 0 \
	"$(value "$metrics" metrics_refresh_duration_seconds_bucket 'view="public.prom_busy"' 'le="0.1"')"
# The unchanged run is newer than prom_same's success; prom_err failed last.
awk -v a="$(value "$metrics" metrics_refresh_fresh_as_of_timestamp_seconds 'view="public.prom_same"')" \
	-v b="$(value "$metrics" metrics_refresh_last_success_timestamp_seconds 'view="public.prom_same"')" 'BEGIN { exit !(a > b) }' &&
	echo "ok: prom_same: fresh as of its unchanged run, after its last success" ||
	{ echo "FAILED: prom_same: fresh_as_of not after last success"; failures=$((failures + 1)); }
awk -v a="$(value "$metrics" metrics_refresh_last_error_timestamp_seconds 'view="public.prom_err"')" \
	-v b="$(value "$metrics" metrics_refresh_last_success_timestamp_seconds 'view="public.prom_err"')" 'BEGIN { exit !(a > b) }' &&
	echo "ok: prom_err: last error after last success" ||
	{ echo "FAILED: prom_err: last error not after last success"; failures=$((failures + 1)); }

# Every series against metrics_refresh_stats in SQL: counts and buckets
# exactly, sums and times to the microsecond.
while IFS='|' read -r v cols; do
	vl=$(vlabel "$v")
	read -r s f k u b1 b2 b3 b4 b5 b6 b7 binf sum tr ts tf te tz <<<"$cols"
	actual="$(value "$metrics" metrics_refresh_runs_total "$vl" 'status="success"') $(value "$metrics" metrics_refresh_runs_total "$vl" 'status="error"') $(value "$metrics" metrics_refresh_runs_total "$vl" 'status="skipped"') $(value "$metrics" metrics_refresh_runs_total "$vl" 'status="unchanged"')"
	for le in 0.01 0.1 1 10 60 300 1800 +Inf; do
		actual+=" $(value "$metrics" metrics_refresh_duration_seconds_bucket "$vl" "le=\"$le\"")"
	done
	actual+=" $(value "$metrics" metrics_refresh_duration_seconds_count "$vl")"
	check "$v: counts and buckets as in metrics_refresh_stats" "$s $f $k $u $b1 $b2 $b3 $b4 $b5 $b6 $b7 $binf $binf" "$actual"
	num_check "$v: duration sum as in metrics_refresh_stats" "$sum" "$(value "$metrics" metrics_refresh_duration_seconds_sum "$vl")" 1e-9
	num_check "$v: last run time as in metrics_refresh_stats" "$tr" "$(value "$metrics" metrics_refresh_last_run_timestamp_seconds "$vl")" 1e-5
	num_check "$v: last success time as in metrics_refresh_stats" "$ts" "$(value "$metrics" metrics_refresh_last_success_timestamp_seconds "$vl")" 1e-5
	num_check "$v: fresh-as-of time as in metrics_refresh_stats" "$tf" "$(value "$metrics" metrics_refresh_fresh_as_of_timestamp_seconds "$vl")" 1e-5
	num_check "$v: last error time as in metrics_refresh_stats" "$te" "$(value "$metrics" metrics_refresh_last_error_timestamp_seconds "$vl")" 1e-5
	num_check "$v: stats reset time as in metrics_refresh_stats" "$tz" "$(value "$metrics" metrics_refresh_stats_reset_timestamp_seconds "$vl")" 1e-5
done < <(sql "SELECT view_name || '|' || concat_ws(' ', successful, failed, skipped, unchanged,
                 duration_le_10ms, duration_le_100ms, duration_le_1s, duration_le_10s,
                 duration_le_60s, duration_le_300s, duration_le_1800s, duration_le_inf,
                 total_duration_ms / 1000,
                 coalesce(extract(epoch FROM last_run_at), 0), coalesce(extract(epoch FROM last_success_at), 0),
                 coalesce(extract(epoch FROM fresh_as_of), 0), coalesce(extract(epoch FROM last_error_at), 0),
                 coalesce(extract(epoch FROM stats_reset), 0))
              FROM metrics_refresh_stats")

echo "== access and freshness"
# Without pg_monitor the views refuse (42501): no series, a scrape error.
sql "REVOKE pg_monitor FROM prom_exporter"
scrape "$dir/denied.txt" || { echo "FAILED: scrape"; exit 1; }
check "without pg_monitor: no metrics_refresh series" 0 "$(grep -c '^metrics_refresh_' "$dir/denied.txt")"
check "without pg_monitor: the exporter reports a scrape error" 1 \
	"$(awk '$1 == "pg_exporter_last_scrape_error" { print $2 }' "$dir/denied.txt")"
grep -q 'permission denied' "$dir/exporter.log" &&
	echo "ok: the exporter logs the permission error" ||
	{ echo "FAILED: no permission error in the exporter's log"; failures=$((failures + 1)); }
# pg_read_all_stats is enough; a run made meanwhile shows in the next scrape.
sql "GRANT pg_read_all_stats TO prom_exporter"
check "prom_ok run 3" success "$(run prom_ok)"
scrape "$dir/again.txt" || { echo "FAILED: scrape"; exit 1; }
check "with pg_read_all_stats: all series" 111 "$(grep -c '^metrics_refresh_' "$dir/again.txt")"
check "the next scrape counts the new run" 3 \
	"$(value "$dir/again.txt" metrics_refresh_runs_total 'view="public.prom_ok"' 'status="success"')"
check "and its duration" 3 "$(value "$dir/again.txt" metrics_refresh_duration_seconds_count 'view="public.prom_ok"')"

stop_exporter
check "the exporter stopped" "" "$(listeners "$eport")"

echo "== promtool"
promtool --version 2>&1 | head -n 1
if out=$(promtool check rules "$CONTRIB/alerts.yml" 2>&1); then
	echo "ok: promtool check rules alerts.yml"
else
	echo "FAILED: promtool check rules alerts.yml"
	printf '%s\n' "$out"
	failures=$((failures + 1))
fi
if out=$(cd "$CONTRIB" && promtool test rules alerts_test.yml 2>&1); then
	echo "ok: promtool test rules alerts_test.yml"
else
	echo "FAILED: promtool test rules alerts_test.yml"
	printf '%s\n' "$out"
	failures=$((failures + 1))
fi

echo "checks done in $((SECONDS - started)) s"
if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) FAILED; the exporter's log:"
	tail -n 20 "$dir/exporter.log"
	exit 1
fi
echo "all checks passed"
