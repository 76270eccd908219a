#!/usr/bin/env bash
# No free background worker slot: metrics_refresh_trigger(view, wait => false)
# raises 53400 with a hint about max_worker_processes and leaves nothing
# 'running'; once a slot is free again, background refreshes start again.
#
# Runs its own throwaway server with a small max_worker_processes (pg_cron's
# launcher and the logical replication launcher take slots too), fills the
# free slots with slow background refreshes, and expects the next call to
# fail.  Then a worker is killed (SIGKILL) to check that its run is reported
# as interrupted after the restart.  Exits non-zero if any check fails.
set -uo pipefail
source "$(dirname "$0")/../tools/common.sh"

dir=$(scratch_dir slots)
data=$dir/data
port=$(free_port $((50000 + RANDOM % 10000)))
cleanup() {
	stop_server "$data"
	rm -rf "$dir"
}
trap cleanup EXIT


sql() {
	as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d slots -c "$1"
}

start_server "$data" "$port" "max_worker_processes = 4" || { echo "FAILED: server did not start"; exit 1; }
as_pg "$PG_BIN/createdb" -h "$dir" -p "$port" -U postgres slots || { echo "FAILED: createdb"; exit 1; }

check "max_worker_processes" 4 "$(sql 'SHOW max_worker_processes')"

sql "
CREATE EXTENSION metrics_refresh;
CREATE TABLE slots_knobs (sleep_s float8 NOT NULL);
INSERT INTO slots_knobs VALUES (0);
CREATE FUNCTION slots_slow() RETURNS int LANGUAGE plpgsql AS \$\$
BEGIN
    PERFORM pg_catalog.pg_sleep((SELECT sleep_s FROM public.slots_knobs));
    RETURN 1;
END \$\$;
-- Start a background refresh: 'running' or the SQLSTATE, message and hint.
CREATE FUNCTION slots_try(stmt text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
    r jsonb;
    st text; msg text; hint text;
BEGIN
    EXECUTE stmt INTO r;
    RETURN r->>'status';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || '|' || msg || '|' || hint;
END \$\$;
" >/dev/null || { echo "FAILED: setup"; exit 1; }
for i in 1 2 3 4; do
	sql "CREATE MATERIALIZED VIEW slots_v$i AS SELECT $i AS id, slots_slow() AS x;
	     CREATE UNIQUE INDEX ON slots_v$i (id);" || { echo "FAILED: setup of slots_v$i"; exit 1; }
done
sql "UPDATE slots_knobs SET sleep_s = 6" >/dev/null

# Fill the free slots: one slow refresh per view until a call fails.
started=0
failure=
for i in 1 2 3 4; do
	out=$(sql "SELECT slots_try('SELECT metrics_refresh_trigger(''slots_v$i'', wait => false)')")
	if [ "$out" = running ]; then
		started=$((started + 1))
	else
		failure=$out
		break
	fi
done
echo "background refreshes started before the slots ran out: $started"
[ "$started" -ge 1 ] && echo "ok: at least one background refresh started" ||
	{ echo "FAILED: no background refresh could start"; failures=$((failures + 1)); }

IFS='|' read -r state message hint <<<"$failure"
check "SQLSTATE when no slot is free" 53400 "$state"
echo "message: $message"
echo "hint: $hint"
case $hint in
*max_worker_processes*) echo "ok: hint mentions max_worker_processes" ;;
*) echo "FAILED: hint does not mention max_worker_processes"; failures=$((failures + 1)) ;;
esac

# The failed call left nothing running: one 'running' row per started worker.
check "'running' rows after the failure" "$started" "$(sql "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'")"
check "log rows after the failure" "$started" "$(sql "SELECT count(*) FROM metrics_refresh_log")"
check "workers after the failure" "$started" \
	"$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%'")"

# trigger_platform_metrics_refresh(wait => false) fails the same way.
out=$(sql "SET metrics_refresh.platform_view = 'public.slots_v4';
           SELECT slots_try('SELECT trigger_platform_metrics_refresh(wait => false)')")
check "SQLSTATE of the platform trigger when no slot is free" 53400 "${out%%|*}"
check "'running' rows after the platform failure" "$started" \
	"$(sql "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'")"

# Waiting refreshes need no worker and still work.
check "a waiting refresh while the slots are full" success \
	"$(sql "UPDATE slots_knobs SET sleep_s = 0; SELECT metrics_refresh_trigger('slots_v4')->>'status'")"

# The slow runs end as successes; then a background refresh starts again.
for _ in $(seq 1 300); do
	n=$(sql "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'
	         AND metrics_refresh_run_status(id)->>'status' = 'running'")
	[ "$n" = 0 ] && break
	sleep 0.1
done
check "successes of the slow runs" "$started" \
	"$(sql "SELECT count(*) FROM metrics_refresh_log WHERE status = 'success' AND view_name <> 'public.slots_v4'")"
for _ in $(seq 1 300); do
	n=$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%'")
	[ "$n" = 0 ] && break
	sleep 0.1
done
check "workers once the runs ended" 0 "$n"
check "a background refresh once a slot is free" running \
	"$(sql "SELECT slots_try('SELECT metrics_refresh_trigger(''slots_v4'', wait => false)')")"
for _ in $(seq 1 300); do
	n=$(sql "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'
	         AND metrics_refresh_run_status(id)->>'status' = 'running'")
	[ "$n" = 0 ] && break
	sleep 0.1
done
check "final statuses" "success|$((started + 2))" \
	"$(sql "SELECT string_agg(DISTINCT status, ',') || '|' || count(*) FROM metrics_refresh_log")"

# A worker that crashes (SIGKILL; the server restarts): its committed
# 'running' row is reported, and corrected in the log, as error 'interrupted'.
sql "UPDATE slots_knobs SET sleep_s = 30" >/dev/null
run_id=$(sql "SELECT metrics_refresh_trigger('slots_v1', wait => false)->>'run_id'")
pid=
for _ in $(seq 1 300); do
	pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%' AND wait_event = 'PgSleep'")
	[ -n "$pid" ] && break
	sleep 0.1
done
if [ -n "$pid" ] && [ -n "$run_id" ]; then
	kill -9 "$pid"
	sleep 1
	for _ in $(seq 1 600); do
		as_pg "$PG_BIN/pg_isready" -q -h "$dir" -p "$port" && sql "SELECT 1" >/dev/null 2>&1 && break
		sleep 0.1
	done
	check "the crashed run's row after the restart" running \
		"$(sql "SELECT status FROM metrics_refresh_log WHERE id = $run_id")"
	check "run status of the crashed run" "error|interrupted|false" \
		"$(sql "SELECT r->>'status' || '|' || (r->>'message') || '|' || (r->>'success') FROM metrics_refresh_run_status($run_id) r")"
	check "log row of the crashed run" "error|interrupted|true" \
		"$(sql "SELECT status || '|' || error_message || '|' || (finished_at IS NOT NULL) FROM metrics_refresh_log WHERE id = $run_id")"
else
	echo "FAILED: the crash test's worker did not start (run $run_id, pid $pid)"
	failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
