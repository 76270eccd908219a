-- Cumulative statistics (DESIGN.md, "Cumulative statistics"): the view
-- metrics_refresh_stats after known runs (counts by status, durations, the
-- cumulative histogram, the last_* fields), the same before and after the
-- runs are folded into the counters, independent of log retention,
-- metrics_refresh_stats_reset (one view, all views, under REPEATABLE READ),
-- equal to the log's own counts after many runs, and the overview and
-- metrics_refresh_status_all agreeing with metrics_refresh_status; who may
-- read and reset.  Runs are real (metrics_refresh_run, cascades) or
-- synthetic (log rows inserted by the superuser: however a run reached the
-- log, it is counted).  The concurrency of folding is in
-- test/specs/stats_fold.spec.  Objects start with st_, roles with
-- regress_st_.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;

CREATE ROLE regress_st_admins NOLOGIN;
CREATE ROLE regress_st_admin LOGIN IN ROLE regress_st_admins;
CREATE ROLE regress_st_watcher LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_st_reader LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE regress_st_owner LOGIN;
CREATE ROLE regress_st_plain LOGIN;
SET metrics_refresh.admin_role = 'regress_st_admins';

-- A synthetic finished run of view v that started "ago" before now() and
-- took dur ms.
CREATE FUNCTION st_log(v text, ago interval, st text, dur float8 DEFAULT NULL,
                       err text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO public.metrics_refresh_log (view_name, started_at, finished_at, duration_ms,
                                            status, method, source, triggered_by,
                                            sqlstate, error_message, skip_reason)
    VALUES ('public.' || v, now() - ago, now() - ago + coalesce(dur, 0) * interval '1 ms', dur,
            st, CASE WHEN st IN ('success', 'error') THEN 'concurrently' END,
            'scheduled', current_user,
            CASE WHEN st = 'error' THEN 'XX000' END,
            CASE WHEN st = 'error' THEN coalesce(err, 'synthetic failure') END,
            CASE WHEN st = 'skipped' THEN 'skipped: synthetic'
                 WHEN st = 'unchanged' THEN 'unchanged: synthetic' END)
    RETURNING id
$$;

-- The statistics as the log itself gives them (every run of the view since
-- its last reset still in the log), in the columns of metrics_refresh_stats;
-- durations rounded, as sums in another order may differ in the last bits.
CREATE VIEW st_from_log AS
SELECT view_name,
       count(*) FILTER (WHERE status = 'success') AS successful,
       count(*) FILTER (WHERE status = 'error') AS failed,
       count(*) FILTER (WHERE status = 'skipped') AS skipped,
       count(*) FILTER (WHERE status = 'unchanged') AS unchanged,
       round(coalesce(sum(duration_ms) FILTER (WHERE status IN ('success', 'error')), 0)::numeric, 6) AS total_duration_ms,
       min(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS min_duration_ms,
       max(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS max_duration_ms,
       round((avg(duration_ms) FILTER (WHERE status IN ('success', 'error')))::numeric, 6) AS mean_duration_ms,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 10) AS le_10ms,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 100) AS le_100ms,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 1000) AS le_1s,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 10000) AS le_10s,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 60000) AS le_60s,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 300000) AS le_300s,
       count(*) FILTER (WHERE status IN ('success', 'error') AND duration_ms <= 1800000) AS le_1800s,
       count(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS le_inf,
       (array_agg(finished_at ORDER BY started_at DESC, id DESC))[1] AS last_run_at,
       (array_agg(status ORDER BY started_at DESC, id DESC))[1] AS last_status,
       max(finished_at) FILTER (WHERE status = 'success') AS last_success_at,
       max(finished_at) FILTER (WHERE status IN ('success', 'unchanged')) AS fresh_as_of,
       (array_agg(finished_at ORDER BY started_at DESC) FILTER (WHERE status = 'error'))[1] AS last_error_at,
       (array_agg(error_message ORDER BY started_at DESC) FILTER (WHERE status = 'error'))[1] AS last_error
FROM metrics_refresh_log WHERE status <> 'running'
GROUP BY view_name;
-- metrics_refresh_stats in the same shape.
CREATE VIEW st_stats AS
SELECT view_name, successful, failed, skipped, unchanged,
       round(total_duration_ms::numeric, 6) AS total_duration_ms, min_duration_ms, max_duration_ms,
       round(mean_duration_ms::numeric, 6) AS mean_duration_ms,
       duration_le_10ms AS le_10ms, duration_le_100ms AS le_100ms, duration_le_1s AS le_1s,
       duration_le_10s AS le_10s, duration_le_60s AS le_60s, duration_le_300s AS le_300s,
       duration_le_1800s AS le_1800s, duration_le_inf AS le_inf,
       last_run_at, last_status, last_success_at, fresh_as_of, last_error_at, last_error
FROM metrics_refresh_stats;
-- Rows where the two differ (none expected), for views named like p.
CREATE FUNCTION st_diff(p text) RETURNS TABLE (side text, view_name text)
LANGUAGE sql AS $$
    (SELECT 'stats only', view_name FROM (SELECT * FROM public.st_stats WHERE view_name LIKE p
                                          EXCEPT SELECT * FROM public.st_from_log WHERE view_name LIKE p) a)
    UNION ALL
    (SELECT 'log only', view_name FROM (SELECT * FROM public.st_from_log WHERE view_name LIKE p
                                        EXCEPT SELECT * FROM public.st_stats WHERE view_name LIKE p) b)
    ORDER BY 1, 2
$$;

CREATE TABLE st_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO st_src VALUES (1, 1), (2, 2);
CREATE MATERIALIZED VIEW st_ok AS SELECT id, v FROM st_src;
CREATE UNIQUE INDEX ON st_ok (id);
CREATE MATERIALIZED VIEW st_noindex AS SELECT id, v FROM st_src;
CREATE MATERIALIZED VIEW st_after AS SELECT id, v FROM st_noindex;
CREATE UNIQUE INDEX ON st_after (id);
CREATE MATERIALIZED VIEW st_hist AS SELECT id FROM st_src;
CREATE UNIQUE INDEX ON st_hist (id);
CREATE MATERIALIZED VIEW st_never AS SELECT id FROM st_src;
CREATE UNIQUE INDEX ON st_never (id);
ALTER MATERIALIZED VIEW st_ok OWNER TO regress_st_owner;
GRANT SELECT ON st_src TO regress_st_owner;

--
-- Known real runs: st_ok succeeds three times (the first run after
-- skip_unchanged is turned on refreshes), then is unchanged once;
-- st_noindex fails twice (no unique index), the second time as a cascade
-- whose dependent st_after is skipped.  (Separate statements: a run holds
-- its view's single flight until its transaction ends.)
--
SELECT metrics_refresh_stats_reset() IS NOT NULL AS reset_before;
SELECT count(*) AS rows_before FROM metrics_refresh_stats WHERE view_name LIKE 'public.st\_%';
SELECT metrics_refresh_run('st_ok')->>'status' AS ok1,
       metrics_refresh_run('st_ok')->>'status' AS ok2;
SELECT (metrics_refresh_configure('st_ok', skip_unchanged => true))->'skip_unchanged' AS tracked;
SELECT metrics_refresh_run('st_ok')->>'status' AS ok3,
       metrics_refresh_run('st_ok')->>'status' AS ok4;
SELECT metrics_refresh_run('st_noindex')->>'status' AS noindex1;
SELECT (metrics_refresh_cascade('st_noindex'))->'counts' AS noindex_cascade;
SELECT view_name, successful, failed, skipped, unchanged, duration_le_inf AS timed,
       last_status, last_error
FROM metrics_refresh_stats WHERE view_name LIKE 'public.st\_%' ORDER BY view_name;
-- Durations are the refreshes' (success and error), as logged: total, min,
-- max, mean, and cumulative buckets; the unchanged run's decision time is
-- no refresh duration.  The last_* fields are the log's: the last run of
-- any status, the last success, the last error, and fresh_as_of (the last
-- success or unchanged run).
SELECT * FROM st_diff('public.st\_%');
SELECT view_name, duration_le_10ms <= duration_le_100ms AND duration_le_100ms <= duration_le_1s
         AND duration_le_1s <= duration_le_10s AND duration_le_10s <= duration_le_60s
         AND duration_le_60s <= duration_le_300s AND duration_le_300s <= duration_le_1800s
         AND duration_le_1800s <= duration_le_inf AS cumulative,
       duration_le_inf = successful + failed AS inf_counts_refreshes,
       total_duration_ms > 0 AS has_total, min_duration_ms <= max_duration_ms AS min_le_max,
       last_success_at IS NOT NULL AS has_last_success, fresh_as_of >= last_success_at AS fresh_ge_success,
       last_error_at IS NOT NULL AS has_last_error
FROM metrics_refresh_stats WHERE view_name IN ('public.st_ok', 'public.st_noindex') ORDER BY view_name;
-- A view never run has no row.
SELECT count(*) AS never_rows FROM metrics_refresh_stats WHERE view_name = 'public.st_never';

--
-- Exact durations (synthetic runs of st_hist): the buckets count every
-- refresh at most 10 ms, 100 ms, 1 s, 10 s, 60 s, 300 s, 1800 s, and all
-- (le, Prometheus style: an upper bound counts in its own bucket); errors
-- count, unchanged and skipped runs do not.  Runs are inserted out of
-- order: "last" means the latest started.  (One transaction: now() stays.)
--
BEGIN;
SELECT count(st_log('st_hist', '3 hours' - n * interval '1 minute', 'success', d))
FROM unnest(ARRAY[5, 10, 10.001, 50, 100, 500, 1000, 5000, 10000, 30000, 60000,
                  120000, 300000, 600000, 1800000]::float8[]) WITH ORDINALITY AS x(d, n);
SELECT st_log('st_hist', '2 hours', 'error', 3600000, 'the longest failure') > 0 AS logged,
       st_log('st_hist', '10 minutes', 'unchanged', 2) > 0 AS logged_unchanged,
       st_log('st_hist', '5 minutes', 'skipped') > 0 AS logged_skipped,
       st_log('st_hist', '2 hours 30 minutes', 'error', 7, 'an older failure') > 0 AS logged_older_error;
SELECT successful, failed, skipped, unchanged, total_duration_ms, min_duration_ms, max_duration_ms,
       round(mean_duration_ms::numeric, 3) AS mean_duration_ms,
       duration_le_10ms, duration_le_100ms, duration_le_1s, duration_le_10s, duration_le_60s,
       duration_le_300s, duration_le_1800s, duration_le_inf,
       last_status, last_error,
       last_run_at = now() - interval '5 minutes' AS last_run_is_the_skip,
       fresh_as_of = now() - interval '10 minutes' + interval '2 ms' AS fresh_is_the_unchanged,
       last_success_at = now() - interval '3 hours' + interval '15 minutes' + interval '1800000 ms' AS last_success_is_latest_started,
       last_error_at = now() - interval '2 hours' + interval '3600000 ms' AS last_error_is_latest_started,
       stats_reset = now() - interval '3 hours' + interval '1 minute' + interval '5 ms' AS reset_is_first_finish
FROM metrics_refresh_stats WHERE view_name = 'public.st_hist';
COMMIT;
SELECT * FROM st_diff('public.st\_%');

--
-- Folding: the runs counted into the counters read the same as uncounted
-- ones (metrics_refresh_prune folds before it deletes; nothing is old
-- enough to go here).
--
CREATE TEMP TABLE st_before AS SELECT * FROM metrics_refresh_stats;
SELECT count(*) > 0 AS some_uncounted FROM metrics_refresh_log WHERE NOT counted;
SELECT metrics_refresh_prune('100 years') AS pruned;
SELECT count(*) AS uncounted FROM metrics_refresh_log WHERE NOT counted;
SELECT count(*) AS differing FROM (
    (TABLE st_before EXCEPT SELECT * FROM metrics_refresh_stats)
    UNION ALL (SELECT * FROM metrics_refresh_stats EXCEPT TABLE st_before)) d;

--
-- The overview and metrics_refresh_status_all agree with
-- metrics_refresh_status for these views, whose runs are all recent: every
-- key but p95 (estimated from the hourly histogram), for both windows.
--
SELECT o.view_name, o.status,
       to_jsonb(o) - 'view_name' - 'p95_duration_ms'
         = metrics_refresh_status(o.view_name::regclass) - 'view' - 'p95_duration_ms' AS overview_same,
       to_jsonb(a) - 'view_name' - 'p95_duration_ms'
         = metrics_refresh_status(a.view_name::regclass, '4 hours') - 'view' - 'p95_duration_ms' AS status_all_same
FROM metrics_refresh_overview o
JOIN metrics_refresh_status_all('4 hours') a USING (view_name)
WHERE o.view_name LIKE 'public.st\_%' ORDER BY o.view_name;

--
-- Independent of log retention: pruning every finished run (or retention
-- deleting them) changes no statistic.
--
SELECT metrics_refresh_prune('0') > 0 AS pruned_all;
SELECT count(*) AS log_rows FROM metrics_refresh_log;
SELECT count(*) AS differing FROM (
    (TABLE st_before EXCEPT SELECT * FROM metrics_refresh_stats)
    UNION ALL (SELECT * FROM metrics_refresh_stats EXCEPT TABLE st_before)) d;
-- New runs add to what was counted.
SELECT metrics_refresh_run('st_noindex')->>'status' AS noindex3;
SELECT s.failed - b.failed AS more_failed, s.successful = b.successful AS same_successes,
       s.last_status, s.last_error_at > b.last_error_at AS newer_error
FROM metrics_refresh_stats s JOIN st_before b USING (view_name) WHERE view_name = 'public.st_noindex';

--
-- metrics_refresh_stats_reset(view): zeroes the view's counts and durations
-- (its last_* fields stay: they still describe it) and stamps stats_reset
-- with the time it returns; other views keep theirs.  NULL resets all.
--
BEGIN;
SELECT metrics_refresh_stats_reset('st_hist') = now() AS reset_at_now;
SELECT view_name, successful, failed, skipped, unchanged, total_duration_ms, min_duration_ms,
       max_duration_ms, mean_duration_ms, duration_le_10ms, duration_le_1800s, duration_le_inf,
       last_status, last_error, stats_reset = now() AS stamped
FROM metrics_refresh_stats WHERE view_name = 'public.st_hist';
COMMIT;
SELECT s.last_run_at = b.last_run_at AND s.last_success_at = b.last_success_at
       AND s.fresh_as_of = b.fresh_as_of AND s.last_error_at = b.last_error_at AS last_kept
FROM metrics_refresh_stats s JOIN st_before b USING (view_name) WHERE view_name = 'public.st_hist';
SELECT view_name, successful, failed, unchanged FROM metrics_refresh_stats
WHERE view_name LIKE 'public.st\_%' ORDER BY view_name;
-- Counting starts again from the reset.
SELECT st_log('st_hist', '1 second', 'success', 20) > 0 AS logged;
SELECT successful, total_duration_ms, min_duration_ms, max_duration_ms, mean_duration_ms,
       duration_le_10ms, duration_le_100ms, duration_le_inf
FROM metrics_refresh_stats WHERE view_name = 'public.st_hist';
-- Runs not folded yet when the reset comes are zeroed too, also when the
-- reset's transaction is REPEATABLE READ.
SELECT metrics_refresh_run('st_ok')->>'status' AS ok5,
       st_log('st_hist', '1 second', 'success', 30) > 0 AS logged;
SELECT count(*) > 0 AS some_uncounted FROM metrics_refresh_log WHERE NOT counted;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT metrics_refresh_stats_reset() IS NOT NULL AS reset_all;
COMMIT;
SELECT view_name, successful, failed, skipped, unchanged, total_duration_ms, duration_le_inf,
       stats_reset = (SELECT max(stats_reset) FROM metrics_refresh_stats) AS same_reset
FROM metrics_refresh_stats WHERE view_name LIKE 'public.st\_%' ORDER BY view_name;

--
-- Many runs of new views, folds between them (prune, and retention's check
-- at a changed setting, in this session and in cascades' workers): the
-- statistics equal what the log itself says.
--
CREATE MATERIALIZED VIEW st_m_ok AS SELECT id, v FROM st_src;
CREATE UNIQUE INDEX ON st_m_ok (id);
CREATE MATERIALIZED VIEW st_m_bad AS SELECT id, v FROM st_src;
CREATE MATERIALIZED VIEW st_m_after AS SELECT id, v FROM st_m_bad;
CREATE UNIQUE INDEX ON st_m_after (id);
CREATE MATERIALIZED VIEW st_m_syn AS SELECT id FROM st_src;
SELECT (metrics_refresh_configure('st_m_ok', skip_unchanged => true))->'skip_unchanged' AS tracked;
SELECT count(metrics_refresh_run('st_m_ok')) AS ok_runs FROM generate_series(1, 10);
SELECT metrics_refresh_prune('100 years') AS pruned;
UPDATE st_src SET v = v + 1;
SELECT count(metrics_refresh_run('st_m_bad')) AS bad_runs FROM generate_series(1, 7);
SET metrics_refresh.log_retention = '29d';
SELECT count(metrics_refresh_cascade('st_m_bad')) AS cascades FROM generate_series(1, 3);
SELECT count(metrics_refresh_run('st_m_ok')) AS ok_runs FROM generate_series(1, 5);
RESET metrics_refresh.log_retention;
SELECT count(st_log('st_m_syn', n * interval '1 second', (ARRAY['success', 'error', 'skipped', 'unchanged'])[1 + n % 4], n * 7.5))
FROM generate_series(1, 40) AS n;
SELECT count(*) FILTER (WHERE counted) > 0 AS some_counted, count(*) FILTER (WHERE NOT counted) > 0 AS some_not
FROM metrics_refresh_log WHERE view_name LIKE 'public.st\_m\_%';
SELECT view_name, successful, failed, skipped, unchanged FROM metrics_refresh_stats
WHERE view_name LIKE 'public.st\_m\_%' ORDER BY view_name;
SELECT * FROM st_diff('public.st\_m\_%');
SELECT metrics_refresh_prune('100 years') AS pruned;
SELECT count(*) AS uncounted FROM metrics_refresh_log WHERE NOT counted;
SELECT * FROM st_diff('public.st\_m\_%');

--
-- Windows of any number of whole hours: status_all reads the hourly rollup
-- for the hours before the window's first whole 6-hour block (00, 06, 12,
-- 18 UTC), the 6-hourly rollup from there on, and the runs not counted yet.
-- stwin (synthetic runs, every 20 minutes for 40 hours, of every status,
-- durations varying by run) is folded but for its last 3 hours; for each
-- window of 0 to 41 hours, wherever its start falls in a block, counts, min,
-- max and average equal the log's own over the window's whole hours (the
-- durations are exact in binary: sums do not depend on their order), and
-- p95 is within the histogram's resolution.
--
SELECT count(st_log('stwin', n * interval '20 minutes' + interval '3 hours',
                    CASE WHEN n % 11 = 0 THEN 'error' WHEN n % 13 = 0 THEN 'skipped'
                         WHEN n % 5 = 0 THEN 'unchanged' ELSE 'success' END,
                    CASE WHEN n % 13 = 0 AND n % 11 <> 0 THEN NULL WHEN n % 5 = 0 AND n % 11 <> 0 THEN 0.5
                         ELSE 2 + (n * 37) % 400 + n * 4.5 END))
FROM generate_series(0, 110) AS n;
SELECT metrics_refresh_prune('100 years') AS pruned;
SELECT count(st_log('stwin', n * interval '20 minutes', CASE WHEN n = 4 THEN 'error' ELSE 'success' END,
                    1000 + n * 250.5))
FROM generate_series(0, 8) AS n;
SELECT (SELECT count(*) > 0 FROM metrics_refresh_hourly WHERE view_name = 'public.stwin') AS hourly_rows,
       (SELECT count(*) > 0 FROM metrics_refresh_6hourly WHERE view_name = 'public.stwin') AS six_hourly_rows,
       (SELECT count(*) FROM metrics_refresh_log WHERE view_name = 'public.stwin' AND NOT counted) AS not_counted;
SELECT count(*) AS windows,
       count(*) FILTER (WHERE (a.total, a.successful, a.failed, a.skipped, a.unchanged,
                               a.min_duration_ms, a.max_duration_ms, a.avg_duration_ms)
                              IS DISTINCT FROM
                              (l.total, l.successful, l.failed, l.skipped, l.unchanged,
                               l.min_ms, l.max_ms, l.avg_ms)) AS differing,
       count(*) FILTER (WHERE NOT a.p95_duration_ms / l.p95_ms BETWEEN 1 / 1.26 AND 1.26) AS p95_far,
       max(l.total) AS most_runs
FROM generate_series(0, 41) AS h
CROSS JOIN LATERAL (SELECT * FROM metrics_refresh_status_all(h * interval '1 hour')
                    WHERE view_name = 'public.stwin') a
CROSS JOIN LATERAL (
    SELECT count(*) AS total, count(*) FILTER (WHERE status = 'success') AS successful,
           count(*) FILTER (WHERE status = 'error') AS failed,
           count(*) FILTER (WHERE status = 'skipped') AS skipped,
           count(*) FILTER (WHERE status = 'unchanged') AS unchanged,
           min(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS min_ms,
           max(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS max_ms,
           round(avg(duration_ms) FILTER (WHERE status IN ('success', 'error'))::numeric, 3)::float8 AS avg_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
             FILTER (WHERE status IN ('success', 'error')) AS p95_ms
    FROM metrics_refresh_log
    WHERE view_name = 'public.stwin'
      AND started_at >= date_bin('1 hour', now() - h * interval '1 hour', '2001-01-01 00:00:00+00')) l;

--
-- Access: monitors read (admins, pg_monitor, pg_read_all_stats), anyone else
-- gets 42501, through the view or the function; only admins reset (not a
-- view's owner, not a monitor).  Bad input: not a materialized view (42809).
--
SET ROLE regress_st_admin;
SELECT count(*) > 0 AS admin_reads FROM metrics_refresh_stats;
SET ROLE regress_st_watcher;
SELECT count(*) > 0 AS watcher_reads FROM metrics_refresh_stats;
SELECT metrics_refresh_stats_reset('st_ok');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_st_reader;
SELECT count(*) > 0 AS reader_reads FROM metrics_refresh_stats();
SELECT metrics_refresh_stats_reset();
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_st_owner;
SELECT metrics_refresh_stats_reset('st_ok');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_stats;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_st_plain;
SELECT * FROM metrics_refresh_stats;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_stats();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_counters;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_st_admin;
SELECT metrics_refresh_stats_reset('st_ok') IS NOT NULL AS admin_resets;
RESET ROLE;
SELECT metrics_refresh_stats_reset('st_src');
\echo :LAST_ERROR_SQLSTATE
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_ok';

-- A run restored or written by hand with an infinite start, or one in the
-- last representable hour (the log has no constraint against them), is
-- counted, and does not make the fold generate hours without end or past
-- the end of time: either had made every fold, and so every logged run,
-- fail.
INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms, status,
                                 method, source, triggered_by)
VALUES ('public.st_ok', 'infinity', 'infinity', 1, 'success', 'concurrently', 'manual', current_user),
       -- in the last representable hour: its hours stop at its own
       ('public.st_ok', '294276-12-31 23:30+00', '294276-12-31 23:30+00', 1, 'success',
        'concurrently', 'manual', current_user);
SET temp_file_limit = '10MB';
SELECT count(*) >= 0 AS pruned FROM metrics_refresh_prune('100 years');
RESET temp_file_limit;
SELECT count(*) AS uncounted FROM metrics_refresh_log WHERE NOT counted AND status <> 'running';
SELECT count(*) AS hourly_rows_at_infinity FROM metrics_refresh_hourly WHERE NOT isfinite(hour);
SELECT count(*) AS last_block_hours FROM metrics_refresh_hourly WHERE hour >= '294276-12-31 18:00+00';

-- When a fold comes due (src/log.c, apply_retention): a session looks at
-- most once a minute, and whenever metrics_refresh.log_retention changed,
-- so each SET below makes the next logged run look.  Runs that waited a
-- minute are not folded while fewer than 1,000 runs were logged since the
-- oldest; they are once the oldest waited an hour, or 1,000 runs later.
SELECT count(*) >= 0 AS pruned FROM metrics_refresh_prune('100 years');
SELECT count(st_log('st_due', '2 minutes', 'success', 1)) AS logged FROM generate_series(1, 5);
SET metrics_refresh.log_retention = '29d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT count(*) AS not_due FROM metrics_refresh_log WHERE view_name = 'public.st_due' AND NOT counted;
SELECT st_log('st_due', '61 minutes', 'success', 1) > 0 AS logged_an_hour_ago;
SET metrics_refresh.log_retention = '28d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT count(*) AS due_by_age FROM metrics_refresh_log WHERE view_name = 'public.st_due' AND NOT counted;
-- 900 runs (the first of them is the oldest), then 200 more: a fold is due
-- between the two (the boundary, 1,000, counts the logged rows this run's
-- statement sees).
SELECT count(st_log('st_due', '3 minutes' - n * interval '1 ms', 'success', 1)) AS logged
FROM generate_series(1, 900) AS n;
SET metrics_refresh.log_retention = '27d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT count(*) AS not_due_at_900 FROM metrics_refresh_log WHERE view_name = 'public.st_due' AND NOT counted;
SELECT count(st_log('st_due', '2 minutes' - n * interval '1 ms', 'success', 1)) AS logged
FROM generate_series(1, 200) AS n;
SET metrics_refresh.log_retention = '26d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT count(*) AS due_by_count FROM metrics_refresh_log WHERE view_name = 'public.st_due' AND NOT counted;
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_due';
-- A log that is not the table the install script made (here a trigger a
-- superuser added): runs are written by the INSERT statement, and the
-- retention check reads the log through statements, with the same
-- results: a fold is due for a run an hour old, and retention then deletes
-- it.
CREATE FUNCTION st_log_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER st_log_noop BEFORE INSERT ON metrics_refresh_log FOR EACH ROW EXECUTE FUNCTION st_log_noop();
SELECT st_log('st_due2', '61 minutes', 'success', 1) > 0 AS logged_an_hour_ago;
SELECT st_log('st_due2', '2 minutes', 'success', 1) > 0 AS logged;
SET metrics_refresh.log_retention = '30min';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT count(*) FILTER (WHERE NOT counted) AS uncounted, count(*) AS kept
FROM metrics_refresh_log WHERE view_name = 'public.st_due2';
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_due2';
-- A cascade's worker writes its first row through the statement too, and
-- makes it the cascade's first in a second one.
CREATE MATERIALIZED VIEW st_casc AS SELECT 1 AS one;
CREATE UNIQUE INDEX ON st_casc (one);
SELECT metrics_refresh_cascade('st_casc') AS r \gset
SELECT :'r'::jsonb->>'status' AS cascade_status, (:'r'::jsonb->'run_ids'->0) = (:'r'::jsonb->'cascade_id') AS first_is_cascade,
       (SELECT cascade_id = id AND status = 'success' FROM metrics_refresh_log WHERE id = (:'r'::jsonb->>'cascade_id')::bigint) AS row_ok;
-- And its answer, while the worker waits for the view this transaction
-- holds (refreshed, so locked until the end), is the row's, started_at as
-- the statement stored it.
BEGIN;
REFRESH MATERIALIZED VIEW st_casc;
SELECT metrics_refresh_cascade('st_casc', wait => false) AS r \gset
SELECT :'r'::jsonb->>'status' AS answer, metrics_refresh_run_status((:'r'::jsonb->>'run_id')::bigint) = :'r'::jsonb AS same_as_row;
COMMIT;
SELECT set_config('st.run', :'r'::jsonb->>'run_id', false) IS NOT NULL AS noted;
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT status <> 'running' FROM metrics_refresh_log
                   WHERE id = current_setting('st.run')::bigint);
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT status, cascade_id = id AS first FROM metrics_refresh_log WHERE id = (:'r'::jsonb->>'run_id')::bigint;
RESET st.run;
-- A trigger that keeps the cascade's first row from being made its
-- cascade's: the worker says why, and the caller is told.
CREATE FUNCTION st_log_keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER st_log_keep BEFORE UPDATE ON metrics_refresh_log FOR EACH ROW EXECUTE FUNCTION st_log_keep();
DO $$
BEGIN
    PERFORM metrics_refresh_cascade('st_casc');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE '% %', SQLSTATE, regexp_replace(SQLERRM, 'run \d+', 'run N');
END $$;
DROP TRIGGER st_log_keep ON metrics_refresh_log;
DROP FUNCTION st_log_keep();
DROP MATERIALIZED VIEW st_casc;
DROP TRIGGER st_log_noop ON metrics_refresh_log;
-- Nor does a log with a column of another type.
CREATE MATERIALIZED VIEW st_types AS SELECT 1 AS one;
CREATE UNIQUE INDEX ON st_types (one);
ALTER TABLE metrics_refresh_log ALTER COLUMN cascade_id TYPE numeric;
SELECT metrics_refresh_run('st_types')->>'status' AS numeric_cascade_id;
SELECT metrics_refresh_cascade('st_types')->>'status' AS numeric_cascade_id_cascade;
ALTER TABLE metrics_refresh_log ALTER COLUMN cascade_id TYPE bigint;
SELECT count(*) AS st_types_rows FROM metrics_refresh_log WHERE view_name = 'public.st_types';
DROP FUNCTION st_log_noop();
-- The indexes this session has read rebuilt under new OIDs: the runs, the
-- decision and the retention check go on.
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
REINDEX TABLE CONCURRENTLY metrics_refresh_log;
REINDEX TABLE CONCURRENTLY metrics_refresh_tracking;
REINDEX TABLE CONCURRENTLY metrics_refresh_changes;
SET metrics_refresh.log_retention = '29d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run_after_reindex;
UPDATE st_src SET v = v + 1 WHERE id = 1;
SELECT metrics_refresh_run('st_ok')->>'status' AS run_after_a_change;
-- A fold that fails (here a trigger a superuser put on the counters)
-- leaves the run that came to fold, its refresh and its row, as they are,
-- with a WARNING; a later fold counts the runs, and the statistics include
-- them meanwhile.
-- (The trigger does what st.fold_trouble says: fail, cancel, sleep, or
-- nothing.)
CREATE FUNCTION st_fold_trouble() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE current_setting('st.fold_trouble')
        WHEN 'fail' THEN RAISE EXCEPTION 'no fold today';
        WHEN 'cancel' THEN
            RAISE EXCEPTION 'canceling statement due to user request' USING ERRCODE = 'query_canceled';
        WHEN 'sleep' THEN PERFORM pg_sleep(60);
        ELSE NULL;
    END CASE;
    RETURN NEW;
END$$;
CREATE TRIGGER st_fold_trouble BEFORE INSERT OR UPDATE ON metrics_refresh_counters
    FOR EACH ROW EXECUTE FUNCTION st_fold_trouble();
SET st.fold_trouble = 'fail';
SELECT st_log('st_due3', '61 minutes', 'success', 1) > 0 AS logged_an_hour_ago;
UPDATE st_src SET v = v + 1 WHERE id = 1;
SET metrics_refresh.log_retention = '28d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run_despite_the_fold;
SELECT count(*) FILTER (WHERE NOT counted) AS uncounted FROM metrics_refresh_log
WHERE view_name IN ('public.st_due3', 'public.st_ok') AND started_at > now() - interval '2 hours';
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_due3';
SET st.fold_trouble = 'none';
SELECT count(*) >= 0 AS pruned FROM metrics_refresh_prune('100 years');
SELECT count(*) FILTER (WHERE NOT counted) AS uncounted FROM metrics_refresh_log
WHERE view_name IN ('public.st_due3', 'public.st_ok') AND started_at > now() - interval '2 hours';
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_due3';
-- A backlog (here 10,200 runs two hours old, as a 1.0.0 log holds at the
-- update): logging a run folds at most 5,000 runs, the oldest first, so a
-- run never pays for counting a whole log; the statistics count them all
-- meanwhile; the next fold takes the next 5,000, and
-- metrics_refresh_prune() folds the rest.
SELECT count(st_log('st_backlog', '2 hours' - n * interval '1 ms', 'success', 1)) AS logged
FROM generate_series(1, 10200) AS n;
CREATE VIEW st_backlog AS
SELECT count(*) FILTER (WHERE NOT counted) AS uncounted,
       min(started_at) FILTER (WHERE NOT counted) > max(started_at) FILTER (WHERE counted) AS oldest_first,
       (SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_backlog') AS in_stats
FROM metrics_refresh_log WHERE view_name = 'public.st_backlog';
SET metrics_refresh.log_retention = '25d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT * FROM st_backlog;
SET metrics_refresh.log_retention = '24d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT * FROM st_backlog;
SELECT count(*) >= 0 AS pruned FROM metrics_refresh_prune('100 years');
SELECT * FROM st_backlog;
DROP VIEW st_backlog;
-- (Out of the way of retention below, which deletes the oldest first.)
DELETE FROM metrics_refresh_log WHERE view_name = 'public.st_backlog';
-- A fold cancelled (a trigger a superuser put on the counters raises
-- query_canceled, then sleeps until statement_timeout cancels it): the run
-- that came to fold keeps its refresh and its row, with a WARNING, as for
-- any other error of the fold; the runs stay uncounted, and the statistics
-- include them.
SET st.fold_trouble = 'cancel';
SELECT st_log('st_due5', '61 minutes', 'success', 1) > 0 AS logged_an_hour_ago;
UPDATE st_src SET v = v + 1 WHERE id = 1;
SET metrics_refresh.log_retention = '23d';
SELECT metrics_refresh_run('st_ok')->>'status' AS run_despite_the_cancel;
SET st.fold_trouble = 'sleep';
UPDATE st_src SET v = v + 1 WHERE id = 1;
SELECT count(*) AS st_ok_runs_before FROM metrics_refresh_log WHERE view_name = 'public.st_ok' \gset
SET metrics_refresh.log_retention = '22d';
SET statement_timeout = '2s';
SELECT metrics_refresh_run('st_ok')->>'status' AS run_despite_the_cancel;
RESET statement_timeout;
SELECT count(*) - :st_ok_runs_before AS st_ok_runs_logged,
       (array_agg(status ORDER BY id DESC))[1] AS latest,
       (array_agg(counted ORDER BY id DESC))[1] AS latest_counted
FROM metrics_refresh_log WHERE view_name = 'public.st_ok';
SELECT count(*) FILTER (WHERE NOT counted) AS uncounted FROM metrics_refresh_log
WHERE view_name = 'public.st_due5';
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_due5';
DROP TRIGGER st_fold_trouble ON metrics_refresh_counters;
DROP FUNCTION st_fold_trouble();
RESET st.fold_trouble;
-- An index of the log that is not as installed (here started_at
-- descending, which would turn "the oldest start" into the newest): the
-- retention check reads through its statements, and a run an hour old is
-- folded, then deleted by a retention of 30 minutes.
DROP INDEX metrics_refresh_log_started_idx;
CREATE INDEX metrics_refresh_log_started_idx ON metrics_refresh_log (started_at DESC);
SELECT st_log('st_due4', '61 minutes', 'success', 1) > 0 AS logged_an_hour_ago;
SET metrics_refresh.log_retention = '30min';
SELECT metrics_refresh_run('st_ok')->>'status' AS run;
SELECT count(*) AS kept FROM metrics_refresh_log WHERE view_name = 'public.st_due4';
SELECT successful FROM metrics_refresh_stats WHERE view_name = 'public.st_due4';
DROP INDEX metrics_refresh_log_started_idx;
CREATE INDEX metrics_refresh_log_started_idx ON metrics_refresh_log (started_at);
RESET metrics_refresh.log_retention;

-- A domain of the log that a superuser gives another constraint, in a
-- session that has written rows directly: its next row goes through the
-- statement, which checks it.  (Dropping the constraint fires the
-- extension's sql_drop trigger with the domain's invalidation pending: the
-- schedules are still checked, without a WARNING.)
\c
SELECT metrics_refresh_run('st_types')->>'status' AS direct;
ALTER DOMAIN metrics_refresh_log_method ADD CONSTRAINT st_not_concurrently CHECK (VALUE <> 'concurrently') NOT VALID;
SELECT metrics_refresh_run('st_types');
ALTER DOMAIN metrics_refresh_log_method DROP CONSTRAINT st_not_concurrently;
SELECT metrics_refresh_run('st_types')->>'status' AS after_drop;
-- A background worker, whose first row goes in directly too: it fails to
-- start the refresh, and the caller is told why.
ALTER DOMAIN metrics_refresh_log_status ADD CONSTRAINT st_not_running CHECK (VALUE <> 'running') NOT VALID;
SELECT metrics_refresh_trigger('st_types', wait => false);
ALTER DOMAIN metrics_refresh_log_status DROP CONSTRAINT st_not_running;
SELECT metrics_refresh_trigger('st_types', wait => false)->>'status' AS started;
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM metrics_refresh_log
                              WHERE view_name = 'public.st_types' AND status = 'running');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT status FROM metrics_refresh_log WHERE view_name = 'public.st_types' ORDER BY id DESC LIMIT 1;
DROP MATERIALIZED VIEW st_types;

DROP FUNCTION st_diff(text), st_log(text, interval, text, float8, text);
DROP VIEW st_stats, st_from_log;
DROP EXTENSION metrics_refresh;
DROP MATERIALIZED VIEW st_ok, st_after, st_noindex, st_hist, st_never, st_m_ok, st_m_after, st_m_bad, st_m_syn;
DROP TABLE st_src;
RESET metrics_refresh.admin_role;
DROP ROLE regress_st_admin, regress_st_admins, regress_st_watcher, regress_st_reader,
    regress_st_owner, regress_st_plain;
