#!/usr/bin/env bash
# Hot standby: the refresh functions refuse with SQLSTATE 25006 and a clear
# message, and change nothing; the monitoring functions still answer, with
# the rows replicated from the primary.
#
# Starts a primary (wal_level = replica) in a scratch directory, creates the
# extension, a view with a unique index and a few log rows there, makes a
# standby with pg_basebackup -R, starts it beside the primary on another
# port, waits until it has replayed everything, and checks.  Stops both
# servers and removes the scratch directory on exit.  Exits non-zero if any
# check fails.
set -uo pipefail
source "$(dirname "$0")/../tools/common.sh"

dir=$(scratch_dir standby)
primary=$dir/primary
standby=$dir/standby
pport=$(free_port $((50000 + RANDOM % 5000)))
cleanup() {
	stop_server "$standby"
	stop_server "$primary"
	rm -rf "$dir"
}
trap cleanup EXIT

die() {
	echo "FAILED: $*"
	for log in "$dir"/server.log; do [ -f "$log" ] && tail -n 20 "$log"; done
	exit 1
}

# psql on the primary (p) or the standby (s): one value per line, stop on error.
p() { as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$pport" -U postgres -d postgres -c "$1"; }
s() { as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$sport" -U postgres -d postgres -c "$1"; }
# The first error line of a statement on the standby, with its SQLSTATE
# ("ERROR:  25006: ..."), or "no error".
s_error() {
	local out
	if out=$(as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		-h "$dir" -p "$sport" -U postgres -d postgres -c "$1" 2>&1 >/dev/null); then
		echo "no error"
	else
		printf '%s\n' "$out" | grep -m1 '^ERROR:'
	fi
}
s_hint() {
	as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
		-h "$dir" -p "$sport" -U postgres -d postgres -c "$1" 2>&1 >/dev/null | grep -m1 '^HINT:'
}

#
# The primary.
#
start_server "$primary" "$pport" "wal_level = replica" "max_wal_senders = 4" "hot_standby = on" ||
	die "the primary did not start"
p "
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;
CREATE SCHEMA sb_app;
CREATE TABLE sb_app.accounts (id int PRIMARY KEY);
INSERT INTO sb_app.accounts SELECT generate_series(1, 3);
CREATE MATERIALIZED VIEW sb_app.metrics AS SELECT 1 AS id, count(*) AS accounts FROM sb_app.accounts;
CREATE UNIQUE INDEX ON sb_app.metrics (id);
CREATE MATERIALIZED VIEW sb_app.noindex AS SELECT 1 AS id;
ALTER DATABASE postgres SET metrics_refresh.platform_view = 'sb_app.metrics';
" >/dev/null || die "setup on the primary"
p "SELECT metrics_refresh_run('sb_app.metrics');
   SELECT metrics_refresh_run('sb_app.metrics', 'scheduled');
   SELECT metrics_refresh_run('sb_app.noindex');
   INSERT INTO sb_app.accounts VALUES (4);
   SELECT metrics_refresh_trigger('sb_app.metrics');
   SELECT metrics_refresh_schedule('sb_app.metrics', '0 0 31 2 *');" >/dev/null ||
	die "log rows on the primary"
check "log rows on the primary" 4 "$(p 'SELECT count(*) FROM metrics_refresh_log')"

#
# The standby.
#
sport=$(free_port $((pport + 1)))
as_pg "$PG_BIN/pg_basebackup" -h "$dir" -p "$pport" -U postgres -D "$standby" -R -X stream -c fast ||
	die "pg_basebackup"
echo "port = $sport" | as_pg tee -a "$standby/postgresql.conf" >/dev/null
start_server "$standby" "$sport" || die "the standby did not start"
check "the standby is in recovery" t "$(s 'SELECT pg_is_in_recovery()')"

# One more run on the primary after the base backup, so that replay matters.
p "SELECT metrics_refresh_run('sb_app.metrics')" >/dev/null || die "a run after the base backup"
lsn=$(p 'SELECT pg_current_wal_lsn()')
replayed=f
for _ in $(seq 1 300); do
	replayed=$(s "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)
	[ "$replayed" = t ] && break
	sleep 0.1
done
check "the standby replayed the primary's WAL" t "$replayed"
check "log rows on the standby" 5 "$(s 'SELECT count(*) FROM metrics_refresh_log')"

#
# Every function that changes something refuses with 25006.
#
refuse() {
	local sql=$1 what=$2
	check "$sql refuses" "ERROR:  25006: cannot $what during recovery" "$(s_error "$sql")"
}
before=$(s "SELECT count(*), max(id), (SELECT accounts FROM sb_app.metrics) FROM metrics_refresh_log")
refuse "SELECT metrics_refresh_run('sb_app.metrics')" "refresh a materialized view"
refuse "SELECT metrics_refresh_run('sb_app.metrics', 'scheduled')" "refresh a materialized view"
refuse "SELECT metrics_refresh_trigger('sb_app.metrics')" "refresh a materialized view"
refuse "SELECT metrics_refresh_trigger('sb_app.metrics', wait => true)" "refresh a materialized view"
refuse "SELECT metrics_refresh_trigger('sb_app.metrics', wait => false)" "refresh a materialized view"
refuse "SELECT trigger_platform_metrics_refresh()" "refresh a materialized view"
refuse "SELECT trigger_platform_metrics_refresh(false)" "refresh a materialized view"
refuse "SELECT refresh_platform_metrics()" "refresh a materialized view"
refuse "SELECT refresh_platform_metrics_with_logging()" "refresh a materialized view"
refuse "SELECT metrics_refresh_schedule('sb_app.metrics')" "schedule a refresh"
refuse "SELECT metrics_refresh_unschedule('sb_app.metrics')" "unschedule a refresh"
refuse "SELECT metrics_refresh_prune('1 day')" "prune the metrics_refresh log"
case $(s_hint "SELECT metrics_refresh_run('sb_app.metrics')") in
*primary*) echo "ok: the refusal's hint points to the primary" ;;
*) echo "FAILED: the refusal's hint does not point to the primary"; failures=$((failures + 1)) ;;
esac
check "nothing changed on the standby" "$before" \
	"$(s "SELECT count(*), max(id), (SELECT accounts FROM sb_app.metrics) FROM metrics_refresh_log")"
check "no background worker on the standby" 0 \
	"$(s "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%'")"
check "is_admin on the standby" t "$(s 'SELECT metrics_refresh_is_admin()')"

#
# Monitoring answers on the standby, with the primary's rows.
#
status_sql="SELECT concat_ws('|', r->>'view', r->>'status', r->>'last_status', r->>'total',
    r->>'successful', r->>'failed', r->>'skipped', r->>'success_rate', r->>'last_refresh_at',
    r->>'last_success_at', r->>'avg_duration_ms', r->>'max_duration_ms')
  FROM metrics_refresh_status('sb_app.metrics') r"
expected=$(p "$status_sql")
check "status on the standby = status on the primary" "$expected" "$(s "$status_sql")"
check "status counts on the standby" "sb_app.metrics|healthy|success|4|4|0|0|100.0" \
	"$(s "$status_sql" | cut -d'|' -f1-8)"
noindex_sql="SELECT concat_ws('|', r->>'status', r->>'failed', r->>'last_error') FROM metrics_refresh_status('sb_app.noindex') r"
check "status of the failing view on the standby" "$(p "$noindex_sql")" "$(s "$noindex_sql")"
check "status of the failing view" "failing|1|materialized view \"sb_app.noindex\" has no usable unique index" \
	"$(s "$noindex_sql")"

timeline_sql="SELECT count(*) || '|' || sum(runs) || '|' || sum(successes) || '|' || sum(failures)
  FROM metrics_refresh_timeline('sb_app.metrics')"
check "timeline on the standby" "25|4|4|0" "$(s "$timeline_sql")"
check "timeline on the standby = on the primary" "$(p "$timeline_sql")" "$(s "$timeline_sql")"

history_sql="SELECT string_agg(id || ':' || view_name || ':' || status || ':' || source, ',' ORDER BY id)
  FROM metrics_refresh_history(NULL, 100)"
check "history on the standby = on the primary" "$(p "$history_sql")" "$(s "$history_sql")"
check "history rows on the standby" 5 "$(s "SELECT count(*) FROM metrics_refresh_history()")"
check "history of one view on the standby" 4 "$(s "SELECT count(*) FROM metrics_refresh_history('sb_app.metrics')")"

last_id=$(p "SELECT max(id) FROM metrics_refresh_log")
run_sql="SELECT metrics_refresh_run_status($last_id)"
check "run_status on the standby = on the primary" "$(p "$run_sql")" "$(s "$run_sql")"
check "run_status on the standby" "success|sb_app.metrics" \
	"$(s "SELECT r->>'status' || '|' || (r->>'view') FROM metrics_refresh_run_status($last_id) r")"
check "run_status of an unknown run on the standby" t \
	"$(s "SELECT metrics_refresh_run_status($last_id + 1000) IS NULL")"

overview_sql="SELECT string_agg(view_name || ':' || status || ':' || total, ',' ORDER BY view_name) FROM metrics_refresh_overview"
check "overview on the standby" "sb_app.metrics:healthy:4,sb_app.noindex:failing:1" "$(s "$overview_sql")"
check "overview on the standby = on the primary" "$(p "$overview_sql")" "$(s "$overview_sql")"
check "schedule replicated to the standby" "sb_app.metrics|0 0 31 2 *" \
	"$(s "SELECT view_name || '|' || schedule FROM metrics_refresh_config")"

case $(s "SELECT metrics_refresh_dashboard('sb_app.metrics')") in
*"Metrics Refresh Monitor"*sb_app.metrics*) echo "ok: the dashboard answers on the standby" ;;
*) echo "FAILED: the dashboard on the standby"; failures=$((failures + 1)) ;;
esac

if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
