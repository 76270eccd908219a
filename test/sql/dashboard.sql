-- metrics_refresh_dashboard: the monitor card and the performance panel of
-- one view, drawn as text for psql from metrics_refresh_status and
-- metrics_refresh_timeline.
-- The log rows are synthetic and placed so that the picture does not depend
-- on the time of day: each section runs in one transaction (now() is fixed),
-- and rows sit at whole hours before now(), or on a 5-minute grid ending at
-- now() whose durations depend only on the hourly bucket of the row.
-- Errors are shown without their CONTEXT lines: those name the extension's
-- internal statements and PL/pgSQL line numbers, which are no contract.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;

-- Logs a synthetic attempt of view v that started "ago" before now() and
-- lasted dur milliseconds.
CREATE PROCEDURE dash_log(v text, ago interval, st text, dur float8 DEFAULT NULL,
                          err text DEFAULT NULL)
LANGUAGE sql AS $$
    INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms,
                                     status, method, source, triggered_by,
                                     sqlstate, error_message, skip_reason)
    VALUES ('public.' || v, now() - ago, now() - ago + coalesce(dur, 0) * interval '1 ms',
            dur, st, CASE WHEN st NOT IN ('skipped', 'unchanged') THEN 'concurrently' END,
            'scheduled', current_user,
            CASE WHEN st = 'error' THEN '55P03' END, err,
            CASE WHEN st = 'skipped' THEN 'skipped: another refresh is in progress'
                 WHEN st = 'unchanged' THEN 'unchanged: no source changed since run 1' END)
$$;

CREATE TABLE dash_src (id int PRIMARY KEY);
INSERT INTO dash_src VALUES (1), (2);
CREATE MATERIALIZED VIEW dash_healthy AS SELECT id FROM dash_src;
CREATE MATERIALIZED VIEW dash_failing AS SELECT id FROM dash_src;
CREATE MATERIALIZED VIEW dash_degraded AS SELECT id FROM dash_src;
CREATE MATERIALIZED VIEW dash_stale AS SELECT id FROM dash_src;
CREATE MATERIALIZED VIEW dash_unknown AS SELECT id FROM dash_src;
CREATE MATERIALIZED VIEW dash_unchanged AS SELECT id FROM dash_src;

-- The function: plpgsql, not SECURITY DEFINER, search_path pinned, volatile,
-- called on NULL input, parallel unsafe, commented.
SELECT p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql') AS plpgsql,
       p.prosecdef, p.proconfig, p.provolatile, p.proisstrict, p.proparallel,
       pg_get_function_arguments(p.oid) AS arguments, p.prorettype::regtype AS returns,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p WHERE p.proname = 'metrics_refresh_dashboard';

\pset format unaligned
\pset tuples_only on

--
-- Healthy: a run every 5 minutes for 24 hours (289 runs, the latest at
-- now()).  Every hourly bucket holds runs; a bucket's runs all last the
-- same time, d[b] ms for the b-th bucket (oldest first), so the chart and
-- the statistics are the same whatever the time of day:
--   buckets 1 and 25 (partial: 13 runs between them) last 300 ms,
--   buckets 2..24 (12 runs each) the values below;
--   avg = (12 * 9370 + 13 * 300) / 289 = 402.6 ms -> 0.40s
--   max 890, min 210; p95 = the 274th-275th of 289 sorted values (rank
--   0.95 * 288 = 273.6): the 12 runs of 890 ms are ranks 278..289, the
--   12 of 760 ms ranks 266..277, so p95 = 760 -> 0.76s.
--
BEGIN;
INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms,
                                 status, method, source, triggered_by)
SELECT 'public.dash_healthy', t, t + d * interval '1 ms', d, 'success', 'concurrently',
       'scheduled', current_user
FROM generate_series(0, 288) AS k,
     LATERAL (SELECT now() - k * interval '5 minutes' AS t) AS a,
     LATERAL (SELECT (ARRAY[300, 210, 250, 420, 640, 890, 760, 520, 380, 300, 260, 240, 250,
                            270, 300, 330, 360, 390, 420, 450, 480, 450, 420, 380, 300])
                     [25 - (extract(epoch FROM date_bin('1 hour', now(), '2001-01-01 00:00+00')
                                             - date_bin('1 hour', t, '2001-01-01 00:00+00')) / 3600)::int]
                     AS d) AS b;
SELECT metrics_refresh_dashboard('dash_healthy');
COMMIT;

--
-- Failing: the latest run failed an hour ago; the last success was 3 hours
-- ago.  The error is word-wrapped.
--
BEGIN;
CALL dash_log('dash_failing', '3 hours', 'success', 500);
CALL dash_log('dash_failing', '1 hour', 'error', 1500,
              'new data for materialized view "dash_failing" contains duplicate rows without any null columns');
SELECT metrics_refresh_dashboard('dash_failing');
COMMIT;

--
-- Degraded: a failure two hours ago, a skip an hour ago (no duration: "·"
-- in the chart), a success at now().  An error longer than three lines is cut.
--
BEGIN;
CALL dash_log('dash_degraded', '2 hours', 'error', 2000,
              'canceling statement due to lock timeout: could not obtain the lock on materialized view "public.dash_degraded" within metrics_refresh.lock_timeout (1min) because another session held it while running a long report on the same view');
CALL dash_log('dash_degraded', '1 hour', 'skipped');
CALL dash_log('dash_degraded', '0', 'success', 8.25);
SELECT metrics_refresh_dashboard('dash_degraded');
COMMIT;

--
-- Stale: the only success was two hours ago (stale_after is 15 minutes).
--
BEGIN;
CALL dash_log('dash_stale', '2 hours', 'success', 40);
SELECT metrics_refresh_dashboard('dash_stale');
COMMIT;

--
-- Unchanged (skip_unchanged): refreshed 3 hours ago in 400 ms, then three
-- runs found no source changed, the latest 10 minutes ago (it took 1 ms:
-- "9 minutes ago").  Healthy; last refreshed 3 hours ago, fresh as of the
-- latest unchanged run; the unchanged runs count apart, with no duration in
-- the statistics and the chart (their decision is no refresh).
--
BEGIN;
CALL dash_log('dash_unchanged', '3 hours 1 second', 'success', 400);
CALL dash_log('dash_unchanged', '2 hours', 'unchanged', 1);
CALL dash_log('dash_unchanged', '1 hour', 'unchanged', 1);
CALL dash_log('dash_unchanged', '10 minutes', 'unchanged', 1);
SELECT metrics_refresh_dashboard('dash_unchanged');
COMMIT;

--
-- Unknown: never refreshed.  Other windows pick other bucket sizes
-- (about 24 buckets: 5 minutes for an hour, 12 hours for a week).
--
SELECT metrics_refresh_dashboard('dash_unknown');
SELECT metrics_refresh_dashboard('dash_unknown', '1 hour');
SELECT metrics_refresh_dashboard('dash_unknown', '7 days');

\pset format aligned
\pset tuples_only off

-- No line is wider than 64 characters.
SELECT v, max(length(l)) AS widest, count(*) AS lines
FROM unnest(ARRAY['dash_healthy', 'dash_failing', 'dash_degraded', 'dash_stale', 'dash_unknown',
                   'dash_unchanged']) AS v,
     regexp_split_to_table(metrics_refresh_dashboard(v::regclass), E'\n') AS l
GROUP BY v ORDER BY v;

-- Invalid calls raise what metrics_refresh_status raises.
SELECT metrics_refresh_dashboard(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard('dash_unknown', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard('dash_unknown', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard('dash_src');
\echo :LAST_ERROR_SQLSTATE

-- Access: refused (42501) to a role that is neither an admin nor a member of
-- pg_monitor / pg_read_all_stats; allowed to a member of pg_monitor.
CREATE ROLE regress_dash_nobody;
CREATE ROLE regress_dash_reader IN ROLE pg_monitor;
SET ROLE regress_dash_nobody;
SELECT metrics_refresh_dashboard('dash_healthy');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_dash_reader;
SELECT metrics_refresh_dashboard('dash_healthy') IS NOT NULL AS reader;
SELECT metrics_refresh_dashboard('dash_failing') LIKE '%● Failing%' AS reader_sees_failing;
RESET ROLE;

-- Installed in another schema, the function finds its own objects whatever
-- the caller's search_path.
DROP EXTENSION metrics_refresh;
CREATE SCHEMA dash_ext;
CREATE EXTENSION metrics_refresh SCHEMA dash_ext;
SET search_path = '';
SELECT dash_ext.metrics_refresh_dashboard('public.dash_unknown') LIKE '%○ Unknown (never refreshed)%'
       AS works_with_empty_search_path;
RESET search_path;

DROP EXTENSION metrics_refresh;
DROP SCHEMA dash_ext;
DROP TABLE dash_src CASCADE;
DROP PROCEDURE dash_log(text, interval, text, float8, text);
DROP ROLE regress_dash_nobody;
DROP ROLE regress_dash_reader;
