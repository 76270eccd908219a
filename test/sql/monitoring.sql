-- The monitoring API: metrics_refresh_status (health states, statistics,
-- window), metrics_refresh_timeline, metrics_refresh_history,
-- metrics_refresh_overview, metrics_refresh_run_status, retention,
-- metrics_refresh_prune, NOTIFY, and who may read.
-- Most log rows are synthetic: inserted by the superuser, with started_at
-- relative to now(); sections whose outcome depends on the exact value of
-- now() run inside one transaction, where now() does not move.
-- Needs pg_cron (a scheduled view's stale_after); where the server cannot run
-- it in this database, the test is skipped (expected/monitoring_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
CREATE EXTENSION metrics_refresh;

-- The shared helper, for the access matrices below (one query, many calls).
\i :abs_srcdir/include/regress_try.sql

-- Logs a synthetic attempt of view v that started "ago" before now() and
-- lasted dur milliseconds (finished_at = started_at + dur).
CREATE FUNCTION mon_log(v text, ago interval, st text, dur float8 DEFAULT 100,
                        err text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms,
                                     status, method, source, triggered_by,
                                     sqlstate, error_message, skip_reason)
    VALUES ('public.' || v, now() - ago,
            CASE WHEN st <> 'running' THEN now() - ago + coalesce(dur, 0) * interval '1 ms' END,
            CASE WHEN st IN ('success', 'error') THEN dur END,
            st, CASE WHEN st IN ('success', 'error') THEN 'concurrently' END,
            'scheduled', current_user,
            CASE WHEN st = 'error' THEN 'XX000' END,
            CASE WHEN st = 'error' THEN coalesce(err, 'synthetic failure') END,
            CASE WHEN st = 'skipped' THEN 'skipped: another refresh is in progress' END)
    RETURNING id
$$;

-- The status object of a view, reduced to the keys that do not move with the clock.
CREATE FUNCTION mon_health(v regclass, w interval DEFAULT '24 hours') RETURNS text
LANGUAGE sql AS $$
    SELECT s->>'status' || ' (last ' || coalesce(s->>'last_status', '-') || ', total '
           || (s->>'total') || ', failed ' || (s->>'failed') || ')'
    FROM metrics_refresh_status(v, w) AS s
$$;

CREATE TABLE mon_src (id int PRIMARY KEY);
INSERT INTO mon_src VALUES (1), (2), (3);
DO $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['mon_never', 'mon_only_skipped', 'mon_failing', 'mon_failing_old',
                             'mon_stale', 'mon_stale_failed', 'mon_degraded', 'mon_degraded_skip',
                             'mon_healthy', 'mon_old_error', 'mon_conf', 'mon_sched',
                             'mon_edge', 'mon_stats', 'mon_win', 'mon_tl', 'mon_hist',
                             'mon_old_only', 'mon_real', 'mon_ret', 'mon_ret_other']
    LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %I AS SELECT id FROM mon_src', v);
        EXECUTE format('CREATE UNIQUE INDEX ON %I (id)', v);
    END LOOP;
END $$;
-- No unique index: a real refresh of it fails (55000).
CREATE MATERIALIZED VIEW mon_noidx AS SELECT id FROM mon_src;

--
-- Health states, in their order of precedence: unknown, failing, stale,
-- degraded, healthy.  "Last run" ignores skipped runs.
--
SELECT mon_log('mon_only_skipped', '1 minute', 'skipped');
SELECT mon_log('mon_failing', '2 minutes', 'success'),
       mon_log('mon_failing', '1 minute', 'error'),
       mon_log('mon_failing', '10 seconds', 'skipped');       -- a skip after the failure
SELECT mon_log('mon_failing_old', '2 hours', 'success'),      -- stale too, but failing wins
       mon_log('mon_failing_old', '1 minute', 'error');
SELECT mon_log('mon_stale', '20 minutes', 'success');
SELECT mon_log('mon_stale_failed', '30 minutes', 'error'),    -- degraded too, but stale wins
       mon_log('mon_stale_failed', '20 minutes', 'success');
SELECT mon_log('mon_degraded', '10 minutes', 'error'),
       mon_log('mon_degraded', '1 minute', 'success');
SELECT mon_log('mon_degraded_skip', '3 minutes', 'error'),
       mon_log('mon_degraded_skip', '2 minutes', 'success'),
       mon_log('mon_degraded_skip', '1 minute', 'skipped');   -- does not hide the success
SELECT mon_log('mon_healthy', '11 minutes', 'success'),
       mon_log('mon_healthy', '6 minutes', 'success'),
       mon_log('mon_healthy', '1 minute', 'success');
SELECT mon_log('mon_old_error', '25 hours', 'error'),         -- outside the window
       mon_log('mon_old_error', '1 minute', 'success');

SELECT v, mon_health(v::regclass)
FROM unnest(ARRAY['mon_never', 'mon_only_skipped', 'mon_failing', 'mon_failing_old',
                  'mon_stale', 'mon_stale_failed', 'mon_degraded', 'mon_degraded_skip',
                  'mon_healthy', 'mon_old_error']) AS v;

-- "stale" is decided on the last success at any time, not within the
-- window: a one-hour window still sees mon_stale as stale, not unknown.
SELECT mon_health('mon_stale', '1 hour') AS one_hour, mon_health('mon_stale', '10 minutes') AS ten_minutes;

-- A view's own stale_after (metrics_refresh_config) replaces the default of 15 minutes.
SELECT mon_log('mon_conf', '20 minutes', 'success');
SELECT mon_health('mon_conf') AS default_stale_after;
INSERT INTO metrics_refresh_config (view_name, schedule, stale_after)
VALUES ('public.mon_conf', '*/5 * * * *', '1 hour');
SELECT mon_health('mon_conf') AS stale_after_1_hour;
UPDATE metrics_refresh_config SET stale_after = '10 minutes' WHERE view_name = 'public.mon_conf';
SELECT mon_health('mon_conf') AS stale_after_10_minutes;
SELECT metrics_refresh_status('mon_conf')->>'stale_after' AS stale_after;

-- ... and so does the one given to metrics_refresh_schedule (a schedule
-- that never fires: 31 February).
SELECT mon_log('mon_sched', '20 minutes', 'success');
SELECT mon_health('mon_sched') AS before_schedule;
SELECT metrics_refresh_schedule('mon_sched', '0 0 31 2 *', '30 minutes') > 0 AS scheduled;
SELECT mon_health('mon_sched') AS stale_after_30_minutes;

-- The stale limit exactly: a success that finished stale_after ago is still
-- fresh; one microsecond earlier, it is stale.  (One transaction: now() is fixed.)
BEGIN;
INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms, status, method, source, triggered_by)
VALUES ('public.mon_edge', now() - interval '16 minutes', now() - interval '15 minutes', 60000,
        'success', 'full', 'manual', current_user);
SELECT mon_health('mon_edge') AS finished_15_minutes_ago;
UPDATE metrics_refresh_log SET finished_at = finished_at - interval '1 microsecond'
WHERE view_name = 'public.mon_edge';
SELECT mon_health('mon_edge') AS finished_a_microsecond_earlier;
ROLLBACK;

--
-- Every key of the status object, with hand-computed statistics.
-- mon_stats: successes of 100, 200, 300, 400 and 500 ms, one failure of
-- 1500 ms (the latest completed run), one skipped run (no duration).
--   total 7, successful 5, failed 1, skipped 1
--   success_rate = 100 * 5 / 6 = 83.3 (one decimal; skipped runs do not count)
--   avg = 3000 / 6 = 500, min 100, max 1500
--   p95 (interpolated, as percentile_cont): rank 0.95 * (6 - 1) = 4.75 between
--   the 5th (500) and 6th (1500) values: 500 + 0.75 * 1000 = 1250
--
SELECT mon_log('mon_stats', '7 minutes', 'success', 300),
       mon_log('mon_stats', '6 minutes', 'success', 100),
       mon_log('mon_stats', '5 minutes', 'success', 500),
       mon_log('mon_stats', '4 minutes', 'success', 200),
       mon_log('mon_stats', '3 minutes', 'success', 400),
       mon_log('mon_stats', '2 minutes', 'error', 1500, 'division by zero'),
       mon_log('mon_stats', '1 minute', 'skipped');
SELECT key FROM jsonb_object_keys(metrics_refresh_status('mon_stats')) AS key ORDER BY key;
SELECT s->>'view' AS view, s->>'status' AS status, s->>'last_status' AS last_status,
       s->>'last_error' AS last_error,
       s->'total' AS total, s->'successful' AS successful, s->'failed' AS failed,
       s->'skipped' AS skipped, s->'success_rate' AS success_rate,
       s->'avg_duration_ms' AS avg_ms, s->'min_duration_ms' AS min_ms,
       s->'max_duration_ms' AS max_ms, s->'p95_duration_ms' AS p95_ms
FROM metrics_refresh_status('mon_stats') AS s;
-- Types: numbers are JSON numbers.
SELECT key, jsonb_typeof(value) FROM jsonb_each(metrics_refresh_status('mon_stats'))
WHERE key NOT IN ('view', 'status', 'last_status', 'last_error', 'stale_after') ORDER BY key;
-- last_refresh_at is when the latest completed (non-skipped) run finished,
-- last_success_at when the latest success finished.
SELECT (s->>'last_refresh_at')::timestamptz =
         (SELECT finished_at FROM metrics_refresh_log
          WHERE view_name = 'public.mon_stats' AND status = 'error') AS last_refresh_is_the_failure,
       (s->>'last_success_at')::timestamptz =
         (SELECT max(finished_at) FROM metrics_refresh_log
          WHERE view_name = 'public.mon_stats' AND status = 'success') AS last_success_is_latest
FROM metrics_refresh_status('mon_stats') AS s;

-- Nothing to report: every key present, null (JSON null) where there is nothing.
SELECT key, value FROM jsonb_each(metrics_refresh_status('mon_never')) ORDER BY key;
SELECT s->'success_rate' AS success_rate, s->'total' AS total, s->'skipped' AS skipped,
       s->'avg_duration_ms' AS avg_ms
FROM metrics_refresh_status('mon_only_skipped') AS s;

--
-- The window: started_at >= now() - time_window.
--
BEGIN;
SELECT mon_log('mon_win', interval '24 hours' + interval '1 microsecond', 'success', 111),  -- just outside
       mon_log('mon_win', interval '24 hours', 'success', 222),         -- on the edge: inside
       mon_log('mon_win', interval '24 hours' - interval '1 microsecond', 'success', 333),  -- just inside
       mon_log('mon_win', '30 minutes', 'success', 444),
       mon_log('mon_win', '2 minutes', 'success', 555);
SELECT s->'total' AS total, s->'min_duration_ms' AS min_ms, s->'max_duration_ms' AS max_ms
FROM metrics_refresh_status('mon_win') AS s;
SELECT s->'total' AS total, s->'min_duration_ms' AS min_ms, s->'max_duration_ms' AS max_ms
FROM metrics_refresh_status('mon_win', '1 hour') AS s;
COMMIT;

-- Invalid calls.
SELECT metrics_refresh_status(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('mon_win', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('mon_win', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('mon_src');
\echo :LAST_ERROR_SQLSTATE

--
-- metrics_refresh_timeline.  One transaction, so that now() is the same
-- for the rows and for the buckets.
--
BEGIN;
SELECT mon_log('mon_tl', '0', 'success', 100),
       mon_log('mon_tl', '0', 'error', 300),
       mon_log('mon_tl', '5 hours', 'skipped'),
       mon_log('mon_tl', '23 hours', 'success', 50),
       mon_log('mon_tl', '23 hours', 'success', 150),
       mon_log('mon_tl', '30 hours', 'success', 999);    -- before the first bucket

-- 25 hourly buckets, from the one holding now() - 24 hours to the one
-- holding now(), aligned like date_bin, oldest first, one hour apart.
SELECT count(*) AS buckets,
       min(bucket_start) = date_bin('1 hour', now() - interval '24 hours', '2001-01-01 00:00+00') AS first_ok,
       max(bucket_start) = date_bin('1 hour', now(), '2001-01-01 00:00+00') AS last_ok,
       bool_and(bucket_start = date_bin('1 hour', now() - interval '24 hours', '2001-01-01 00:00+00')
                               + (ord - 1) * interval '1 hour') AS oldest_first_hourly,
       bool_and(date_trunc('hour', bucket_start) = bucket_start) AS on_the_hour
FROM metrics_refresh_timeline('mon_tl') WITH ORDINALITY AS t(bucket_start, runs, successes, failures,
                                                             avg_duration_ms, max_duration_ms, unchanged, ord);

-- The buckets with runs (numbered oldest first), and the empty ones.
SELECT ord, runs, successes, failures, avg_duration_ms, max_duration_ms
FROM metrics_refresh_timeline('mon_tl', '24 hours', '1 hour')
     WITH ORDINALITY AS t(bucket_start, runs, successes, failures, avg_duration_ms, max_duration_ms, unchanged, ord)
WHERE runs > 0 ORDER BY ord;
SELECT count(*) AS empty_buckets
FROM metrics_refresh_timeline('mon_tl')
WHERE runs = 0 AND successes = 0 AND failures = 0
  AND avg_duration_ms IS NULL AND max_duration_ms IS NULL;

-- Five-minute buckets over an hour: 13 of them, on multiples of 5 minutes.
SELECT count(*) AS buckets,
       bool_and(extract(minute FROM bucket_start)::int % 5 = 0
                AND extract(second FROM bucket_start) = 0) AS aligned,
       bool_and(bucket_start = date_bin('5 minutes', now() - interval '1 hour', '2001-01-01 00:00+00')
                               + (ord - 1) * interval '5 minutes') AS oldest_first,
       sum(runs) AS runs, (array_agg(runs ORDER BY ord DESC))[1] AS runs_in_last
FROM metrics_refresh_timeline('mon_tl', '1 hour', '5 minutes')
     WITH ORDINALITY AS t(bucket_start, runs, successes, failures, avg_duration_ms, max_duration_ms, unchanged, ord);

-- A window that is not a multiple of the bucket still runs from the bucket
-- holding its start to the bucket holding now().
SELECT count(*) = 1 + extract(epoch FROM date_bin('1 hour', now(), '2001-01-01 00:00+00')
                                     - date_bin('1 hour', now() - interval '90 minutes', '2001-01-01 00:00+00')) / 3600
       AS from_start_to_now
FROM metrics_refresh_timeline('mon_tl', '90 minutes', '1 hour');
COMMIT;

-- A view without runs: every bucket, all empty.
SELECT count(*) AS buckets, sum(runs) AS runs FROM metrics_refresh_timeline('mon_never');

-- Invalid buckets and windows.
SELECT * FROM metrics_refresh_timeline('mon_tl', '24 hours', '0');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('mon_tl', '24 hours', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('mon_tl', '1 year', '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('mon_tl', '1 year', '1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('mon_tl', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('mon_tl', '24 hours', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline(NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- metrics_refresh_history: newest first (ties: the later id first), the
-- log's own columns.
--
SELECT mon_log('mon_hist', '4 minutes', 'success', 40) AS h1 \gset
SELECT mon_log('mon_hist', '3 minutes', 'error', 30, 'boom') AS h2 \gset
SELECT mon_log('mon_hist', '2 minutes', 'skipped') AS h3 \gset
SELECT mon_log('mon_hist', '1 minute', 'success', 10) AS h4 \gset
SELECT h.ordinality AS ord, id - :h1 AS id_offset, view_name, status, method, duration_ms,
       error_message, skip_reason
FROM metrics_refresh_history('mon_hist') WITH ORDINALITY AS h
ORDER BY h.ordinality;
SELECT h.ordinality AS ord, id - :h1 AS id_offset, status
FROM metrics_refresh_history('mon_hist', 2) WITH ORDINALITY AS h ORDER BY h.ordinality;
-- Equal start times: the later id first.
SELECT mon_log('mon_hist', '1 minute', 'success', 20) - :h1 AS h5_offset;
SELECT h.ordinality AS ord, id - :h1 AS id_offset, duration_ms
FROM metrics_refresh_history('mon_hist', 2) WITH ORDINALITY AS h ORDER BY h.ordinality;
SELECT count(*) AS zero_rows FROM metrics_refresh_history('mon_hist', 0);
-- The result has the log's columns, in the log's order, except the
-- statistics' bookkeeping column "counted"; the rows are the log's rows.
SELECT array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname <> 'counted')
       = (SELECT array_agg(n ORDER BY o)
          FROM pg_proc p, unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS x(n, m, o)
          WHERE p.proname = 'metrics_refresh_history' AND m = 'o') AS log_columns
FROM pg_attribute a
WHERE a.attrelid = 'metrics_refresh_log'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
SELECT count(*) AS differing_rows FROM (
    SELECT * FROM metrics_refresh_history('mon_hist')
    EXCEPT SELECT id, view_name, started_at, finished_at, duration_ms, status, method, source,
                  triggered_by, sqlstate, error_message, error_detail, error_hint, skip_reason,
                  cascade_id
           FROM metrics_refresh_log WHERE view_name = 'public.mon_hist') d;
-- NULL view: all views, newest first, 50 by default; NULL max_rows: no limit.
SELECT count(mon_log('mon_bulk', k * interval '1 minute' + interval '2 days', 'success'))
FROM generate_series(1, 20) AS k;
SELECT count(*) AS log_rows FROM metrics_refresh_log \gset
SELECT :log_rows > 50 AS more_than_50_rows;
SELECT count(*) AS default_limit FROM metrics_refresh_history();
SELECT count(*) = :log_rows AS unlimited_is_all,
       count(DISTINCT view_name) = (SELECT count(DISTINCT view_name) FROM metrics_refresh_log) AS all_views
FROM metrics_refresh_history(NULL, NULL);
SELECT bool_and(started_at <= prev_started) AS newest_first FROM (
    SELECT started_at, lag(started_at) OVER (ORDER BY h.ordinality) AS prev_started
    FROM metrics_refresh_history(NULL, NULL) WITH ORDINALITY AS h) x
WHERE prev_started IS NOT NULL;
SELECT * FROM metrics_refresh_history('mon_hist', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_history('mon_src');
\echo :LAST_ERROR_SQLSTATE

--
-- metrics_refresh_overview: one row per scheduled or recently (24 h) run
-- view.  mon_never (never run, not scheduled) and mon_old_only (run only
-- 30 hours ago) are absent.  The overview reads the statistics, whose
-- window is whole hours (it starts at the top of the hour 24 hours ago), and
-- estimates p95 from the duration histogram.
--
SELECT mon_log('mon_old_only', '30 hours', 'success');
SELECT view_name, status, total, successful, failed, skipped, success_rate
FROM metrics_refresh_overview ORDER BY view_name;
-- Its columns are the keys of metrics_refresh_status; for a view whose runs
-- all fall in both windows, with the same values, except p95, which is
-- within the histogram's resolution (ten buckets per decade: 26%).
SELECT array_agg(k ORDER BY k) AS overview_columns_not_in_status
FROM jsonb_object_keys((SELECT to_jsonb(o) FROM metrics_refresh_overview o LIMIT 1)) AS k
WHERE NOT metrics_refresh_status('mon_stats') ? k AND k <> 'view_name';
SELECT to_jsonb(o) - 'view_name' - 'p95_duration_ms'
       = metrics_refresh_status('mon_stats') - 'view' - 'p95_duration_ms' AS same_as_status,
       (metrics_refresh_status('mon_stats')->>'p95_duration_ms')::float8 AS exact_p95,
       o.p95_duration_ms / (metrics_refresh_status('mon_stats')->>'p95_duration_ms')::float8
           BETWEEN 1 / 1.26 AND 1.26 AS p95_estimate_close
FROM metrics_refresh_overview o WHERE view_name = 'public.mon_stats';
-- A scheduled view that never ran is listed as unknown; once unscheduled, it is gone.
SELECT metrics_refresh_schedule('mon_never', '0 0 31 2 *') > 0 AS scheduled;
SELECT view_name, status, total FROM metrics_refresh_overview WHERE view_name = 'public.mon_never';
SELECT metrics_refresh_unschedule('mon_never') AS unscheduled;
SELECT count(*) AS listed FROM metrics_refresh_overview WHERE view_name = 'public.mon_never';

--
-- metrics_refresh_run_status, with a real run.
--
SELECT metrics_refresh_run('mon_real') AS run \gset
SELECT (:'run'::jsonb)->>'status' AS status, metrics_refresh_run_status(((:'run'::jsonb)->>'run_id')::bigint) = :'run'::jsonb AS same_object;
SELECT metrics_refresh_run_status(-1) AS unknown_id, metrics_refresh_run_status(NULL) AS null_id;

--
-- NOTIFY metrics_refresh names the run (id, view, status): anyone may
-- LISTEN, so no error text goes with it (it may quote rows of tables the
-- listener cannot read); the rest is metrics_refresh_run_status's, for those
-- who may read it.  psql prints each
-- notification ("Asynchronous notification ... with payload ... received
-- from server process with PID ...") to its query output once the statement
-- ends; those lines hold times and ids, so they are sent to a temporary file
-- (\o) and read back into a psql variable (on the client: the server may be
-- elsewhere), where the payload can be compared with the object the call
-- returned.
--
\set mon_nfile `mktemp /tmp/metrics_refresh_monitoring.XXXXXX`
LISTEN metrics_refresh;
\o :mon_nfile
SELECT metrics_refresh_run('mon_real') AS ok_run \gset
SELECT metrics_refresh_run('mon_noidx') AS failed_run \gset
\o
\set mon_notes `cat :mon_nfile`
UNLISTEN metrics_refresh;
SELECT ord, n[1] AS channel,
       n[2]::jsonb = (SELECT jsonb_build_object('run_id', r->'run_id', 'view', r->'view', 'status', r->'status')
                      FROM (SELECT (ARRAY[:'ok_run', :'failed_run'])[ord]::jsonb AS r) o) AS names_the_run,
       (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(n[2]::jsonb) k) AS payload_keys,
       n[2]::jsonb->>'status' AS status,
       n[3]::int = pg_backend_pid() AS from_this_backend
FROM regexp_matches(:'mon_notes',
                    '^Asynchronous notification "([^"]*)" with payload "(.*)" received from server process with PID (\d+)\.$',
                    'gn') WITH ORDINALITY AS m(n, ord)
ORDER BY ord;
SELECT count(*) AS notification_lines
FROM regexp_split_to_table(:'mon_notes', E'\n') AS l;
\set mon_rm `rm -f :mon_nfile`

--
-- Retention: as runs are logged, rows older than metrics_refresh.log_retention
-- are deleted.  A 'running' row whose worker is gone (here a synthetic one:
-- no worker holds its run lock) is first marked interrupted by the same
-- retention check, then counted in the statistics (a fold is due: mon_ret's
-- runs have waited more than an hour) and deleted like the others.  Only a
-- superuser may set it.
--
SELECT mon_log('mon_ret', '3 hours', 'success'),
       mon_log('mon_ret', '2 hours', 'error'),
       mon_log('mon_ret', '30 minutes', 'success'),
       mon_log('mon_ret_other', '2 hours', 'running');
SELECT count(*) > 0 AS old_rows_exist FROM metrics_refresh_log WHERE started_at < now() - interval '1 hour';
SET metrics_refresh.log_retention = '1h';
SHOW metrics_refresh.log_retention;
SELECT metrics_refresh_run('mon_ret')->>'status' AS status;
RESET metrics_refresh.log_retention;
SELECT view_name, status, started_at < now() - interval '1 hour' AS old
FROM metrics_refresh_log WHERE started_at < now() - interval '1 hour' OR view_name LIKE 'public.mon_ret%'
ORDER BY view_name, started_at;
SELECT successful, failed FROM metrics_refresh_stats WHERE view_name = 'public.mon_ret_other';
-- A 'running' row whose worker is gone is also reported, and corrected in
-- the log, as an error "interrupted", by the first monitoring call that
-- sees it.
SELECT mon_log('mon_ret_other', '1 minute', 'running') AS orphan_id \gset
SELECT status, error_message, sqlstate FROM metrics_refresh_history('mon_ret_other');
SELECT status, error_message, sqlstate FROM metrics_refresh_log WHERE view_name = 'public.mon_ret_other';
SELECT r->>'status' AS status, r->>'message' AS message, r->>'success' AS success,
       r->>'sqlstate' AS sqlstate
FROM metrics_refresh_run_status(:orphan_id) AS r;
DELETE FROM metrics_refresh_log WHERE view_name = 'public.mon_ret_other';
-- Marking a lost run that fails (here a trigger a superuser put on the
-- log) leaves the run whose retention check came to mark it as it is, with
-- a WARNING; a later call marks it.
CREATE FUNCTION mon_no_marking() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'running' AND NEW.status = 'error' THEN
        RAISE EXCEPTION 'no marking today';
    END IF;
    RETURN NEW;
END$$;
CREATE TRIGGER mon_no_marking BEFORE UPDATE ON metrics_refresh_log
    FOR EACH ROW EXECUTE FUNCTION mon_no_marking();
SELECT mon_log('mon_ret_other', '1 minute', 'running') AS orphan_id \gset
SET metrics_refresh.log_retention = '2d';
SELECT metrics_refresh_run('mon_ret')->>'status' AS status;
RESET metrics_refresh.log_retention;
SELECT status FROM metrics_refresh_log WHERE id = :orphan_id;
DROP TRIGGER mon_no_marking ON metrics_refresh_log;
DROP FUNCTION mon_no_marking();
SELECT r->>'status' AS status, r->>'message' AS message
FROM metrics_refresh_run_status(:orphan_id) AS r;
SELECT status FROM metrics_refresh_log WHERE id = :orphan_id;
DELETE FROM metrics_refresh_log WHERE view_name = 'public.mon_ret_other';

--
-- metrics_refresh_prune(older_than): deletes finished runs that started
-- before now() - older_than, keeps 'running' rows, returns the count.
--
SELECT mon_log('mon_ret', '3 hours', 'success'),
       mon_log('mon_ret', '2 hours', 'error'),
       mon_log('mon_ret', '90 minutes', 'skipped'),
       mon_log('mon_ret_other', '2 hours', 'running');
SELECT metrics_refresh_prune('1 hour') AS pruned;
SELECT metrics_refresh_prune('1 hour') AS pruned_again;
SELECT view_name, status FROM metrics_refresh_log WHERE started_at < now() - interval '1 hour';
DELETE FROM metrics_refresh_log WHERE status = 'running';
SELECT metrics_refresh_prune(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_prune('-1 day');
\echo :LAST_ERROR_SQLSTATE

--
-- Access: a role that is neither an admin nor a member of pg_monitor /
-- pg_read_all_stats gets 42501 from every monitoring function and cannot
-- read the log; a pg_monitor member reads everything but may not prune.
--
CREATE ROLE regress_mon_nobody;
CREATE ROLE regress_mon_reader IN ROLE pg_monitor;
SELECT id AS hist_id FROM metrics_refresh_log WHERE view_name = 'public.mon_hist' ORDER BY id LIMIT 1 \gset
SET ROLE regress_mon_nobody;
SELECT metrics_refresh_is_admin() AS is_admin;
SELECT replace(q, :'hist_id', '<id>') AS q, regress_try(q, show_result => false) AS outcome FROM unnest(ARRAY[
    $$SELECT metrics_refresh_status('mon_stats')$$,
    $$SELECT metrics_refresh_status('mon_stats', '1 hour')$$,
    $$SELECT * FROM metrics_refresh_timeline('mon_stats')$$,
    $$SELECT * FROM metrics_refresh_history('mon_stats')$$,
    $$SELECT * FROM metrics_refresh_history()$$,
    $$SELECT * FROM metrics_refresh_overview$$,
    $$SELECT * FROM metrics_refresh_status_all()$$,
    $$SELECT metrics_refresh_run_status($$ || :hist_id || $$)$$,
    $$SELECT metrics_refresh_run_status(-1)$$,
    $$SELECT metrics_refresh_prune('1 day')$$,
    $$SELECT * FROM metrics_refresh_log$$,
    $$SET metrics_refresh.log_retention = '1min'$$]) AS q;
RESET ROLE;
SET ROLE regress_mon_reader;
SELECT metrics_refresh_is_admin() AS is_admin;
SELECT replace(q, :'hist_id', '<id>') AS q, regress_try(q, show_result => false) AS outcome FROM unnest(ARRAY[
    $$SELECT metrics_refresh_status('mon_stats')$$,
    $$SELECT * FROM metrics_refresh_timeline('mon_stats')$$,
    $$SELECT * FROM metrics_refresh_history('mon_stats')$$,
    $$SELECT * FROM metrics_refresh_overview$$,
    $$SELECT metrics_refresh_run_status($$ || :hist_id || $$)$$,
    $$SELECT metrics_refresh_prune('1 day')$$,
    $$SELECT * FROM metrics_refresh_log$$]) AS q;
SELECT metrics_refresh_status('mon_stats')->>'status' AS status_as_reader;
RESET ROLE;

--
-- Clean up.
--
SELECT metrics_refresh_unschedule('mon_sched') AS unscheduled;
DROP EXTENSION metrics_refresh CASCADE;
DROP TABLE mon_src CASCADE;
DROP FUNCTION public.regress_try(text, boolean), mon_log(text, interval, text, float8, text), mon_health(regclass, interval);
DROP ROLE regress_mon_nobody;
DROP ROLE regress_mon_reader;
