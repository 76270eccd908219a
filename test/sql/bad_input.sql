-- Bad input to every function of the extension: NULLs, empty strings, huge
-- and negative intervals, out-of-range numbers, the OID of a dropped view,
-- relations that are not materialized views, names in another database's
-- form, names of 63 bytes and more (multi-byte ones too).  Each call either
-- raises a clear SQLSTATE, echoed after it, or answers sensibly; and the
-- log, the statistics, the options, the pg_cron jobs and the view are the
-- same afterwards (bad_state below).  Then the long names are used for real:
-- the parser truncates them with a NOTICE, and the truncated names work.
-- Needs pg_cron (scheduling functions with bad input must not create or
-- change jobs); where the server cannot run it in this database, the test is
-- skipped (expected/bad_input_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;
\i :abs_srcdir/include/regress_try.sql

CREATE SCHEMA bad_input;
CREATE TABLE bad_input.t (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO bad_input.t VALUES (1, 10), (2, 20);
CREATE VIEW bad_input.plain AS SELECT id, v FROM bad_input.t;
CREATE SEQUENCE bad_input.seq;
CREATE MATERIALIZED VIEW bad_input.v AS SELECT 1 AS id, sum(v) AS total FROM bad_input.t;
CREATE UNIQUE INDEX bad_input_v_id ON bad_input.v (id);
CREATE MATERIALIZED VIEW bad_input.gone AS SELECT 1 AS id;
SELECT 'bad_input.gone'::regclass::oid AS gone_oid \gset
DROP MATERIALIZED VIEW bad_input.gone;

-- One run, one option, one schedule, folded into the statistics, then a
-- change of the source that no failed call may publish.
SELECT metrics_refresh_run('bad_input.v')->>'status' AS first_run;
SELECT metrics_refresh_configure('bad_input.v', max_skip => '2 hours')->>'max_skip' AS max_skip;
SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *') IS NOT NULL AS scheduled;
SELECT count(*) AS stats_rows FROM metrics_refresh_stats;
UPDATE bad_input.t SET v = v + 1;

-- Everything a bad call must leave as it was, as one row of text.
CREATE TEMP VIEW bad_state AS
SELECT (SELECT count(*) FROM metrics_refresh_log) AS log_rows,
       (SELECT max(id) FROM metrics_refresh_log) AS last_run,
       (SELECT md5(string_agg(l::text, '|' ORDER BY l.id)) FROM metrics_refresh_log l) AS log,
       (SELECT md5(string_agg(c::text, '|' ORDER BY c.view_name)) FROM metrics_refresh_config c) AS config,
       (SELECT md5(string_agg(k::text, '|' ORDER BY k.view_name)) FROM metrics_refresh_counters k) AS counters,
       (SELECT md5(string_agg(h::text, '|' ORDER BY h.view_name, h.hour)) FROM metrics_refresh_hourly h) AS hourly,
       (SELECT md5(string_agg(h::text, '|' ORDER BY h.view_name, h.hour)) FROM metrics_refresh_6hourly h) AS six_hourly,
       (SELECT md5(string_agg(j.jobid || j.schedule || j.command || j.jobname, '|' ORDER BY j.jobid))
        FROM cron.job j) AS jobs,
       (SELECT count(*) FROM metrics_refresh_tracking) AS tracked,
       (SELECT total FROM bad_input.v) AS published;
CREATE TEMP TABLE bad_before AS SELECT * FROM bad_state;
SELECT log_rows, published FROM bad_before;
\set unchanged 'SELECT (SELECT s::text FROM bad_state s) = (SELECT b::text FROM bad_before b) AS unchanged'

--
-- NULL for each argument: 22004, except where NULL means something (the
-- history's view and max_rows and before_id, run_status's id, the
-- configure options that NULL keeps, stats_reset's view: all views).
--
SELECT metrics_refresh_run(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_catalog.metrics_refresh_job(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger(NULL, false);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_status_all(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '1 day', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_prune(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure(NULL);
\echo :LAST_ERROR_SQLSTATE
-- (NULL options keep what is set.)
SELECT metrics_refresh_configure('bad_input.v', NULL, NULL, NULL, NULL) - 'view' AS kept;
SELECT * FROM metrics_refresh_graph(NULL) WHERE view_name LIKE 'bad_input.%';
SELECT count(*) AS all_views_history FROM metrics_refresh_history(NULL, NULL, NULL);
SELECT metrics_refresh_run_status(NULL) IS NULL AS unknown_run;
-- stats_reset(NULL) resets every view: valid, so it is tried and rolled back.
BEGIN;
SELECT metrics_refresh_stats_reset(NULL) IS NOT NULL AS reset_all;
ROLLBACK;
:unchanged;

--
-- Empty strings, and text that is not what it should be.
--
SELECT metrics_refresh_run('');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input.v', '');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input.v', 'Manual');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input.v', 'cascade');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input.v', repeat('x', 100)) IS NULL;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '   ');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '61 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', repeat('*', 100));
\echo :LAST_ERROR_SQLSTATE
-- pg_cron 1.4 reads the first five fields and ignores the rest: seven
-- fields, and trailing text, are refused before pg_cron sees them.
SELECT metrics_refresh_schedule('bad_input.v', '* * * * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *; DROP TABLE bad_input.t');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS jobs FROM cron.job;
SET metrics_refresh.platform_view = '';
SELECT refresh_platform_metrics();
\echo :LAST_ERROR_SQLSTATE
SELECT refresh_platform_metrics_with_logging();
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'v';
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'bad_input."v';
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'bad_input.t';
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
RESET metrics_refresh.platform_view;
:unchanged;

--
-- Intervals: negative, zero where a positive one is needed, huge, months in
-- a bucket, more buckets than allowed.
--
SELECT metrics_refresh_status('bad_input.v', '-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_status_all('-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '1 day', '0');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '1 day', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '1 year', '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '1 day', '1 day -1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('bad_input.v', '1 year', '1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_prune('-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('bad_input.v', max_skip => '0');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('bad_input.v', max_skip => '-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('bad_input.v', stale_after => '0');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('bad_input.v', stale_after => '-1 microsecond');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *', '0');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
-- Huge windows: the whole log, or a clear refusal.
SELECT metrics_refresh_status('bad_input.v', '1000000 years')->>'total' AS total;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_status_all('1000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('bad_input.v', '178000000 years')->>'total' AS total;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '1000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '1000000 years', '1000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '178000000 years', '1 microsecond');
\echo :LAST_ERROR_SQLSTATE
-- Too long for microseconds: refused, not wrapped around.
SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '178000000 years 2000000000 days', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '1 day', '2000000000 days');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '1 hour', '178000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard('bad_input.v', '1000000 years') IS NOT NULL AS drawn;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_prune('1000000 years') AS pruned;
\echo :LAST_ERROR_SQLSTATE
-- Options of more than 1000 years are refused: the status computes
-- now() - stale_after, a skip_unchanged run its last refresh + max_skip.
SELECT metrics_refresh_configure('bad_input.v', max_skip => '1000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('bad_input.v', stale_after => '1000 years 1 second');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT metrics_refresh_configure('bad_input.v', skip_unchanged => true, max_skip => '1000 years',
                                 stale_after => '1000 years') - 'view' - 'schedule' AS options;
SELECT metrics_refresh_run('bad_input.v')->>'status' AS refreshed,
       metrics_refresh_run('bad_input.v')->>'status' AS then;
SELECT metrics_refresh_status('bad_input.v')->>'status' AS status;
SELECT count(*) FROM metrics_refresh_overview;
ROLLBACK;
-- A huge stale_after is refused by metrics_refresh_schedule as by
-- metrics_refresh_configure (at most 1000 years), so no status can overflow.
SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *', '178000000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_overview;
-- 'infinity' is an interval from PostgreSQL 17 on; before, the cast refuses
-- it (22007).  The outcome of each call, in a transaction rolled back
-- (expected/bad_input_2.out holds what 17 and later answer).
BEGIN;
SELECT c.what, public.regress_try(c.call) AS outcome
FROM (VALUES
    ('status', $$SELECT metrics_refresh_status('bad_input.v', 'infinity')->>'total'$$),
    ('status_all', $$SELECT count(*) FROM metrics_refresh_status_all('infinity')$$),
    ('timeline window', $$SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', 'infinity')$$),
    ('timeline bucket', $$SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '1 day', 'infinity')$$),
    ('timeline -infinity', $$SELECT count(*) FROM metrics_refresh_timeline('bad_input.v', '-infinity')$$),
    ('dashboard', $$SELECT metrics_refresh_dashboard('bad_input.v', 'infinity') IS NOT NULL$$),
    ('prune', $$SELECT metrics_refresh_prune('infinity')$$),
    ('prune -infinity', $$SELECT metrics_refresh_prune('-infinity')$$),
    ('configure max_skip', $$SELECT metrics_refresh_configure('bad_input.v', max_skip => 'infinity') IS NOT NULL$$),
    ('configure stale_after', $$SELECT metrics_refresh_configure('bad_input.v', stale_after => 'infinity') IS NOT NULL$$),
    ('schedule stale_after', $$SELECT metrics_refresh_schedule('bad_input.v', '*/5 * * * *', 'infinity') IS NOT NULL$$),
    ('status, then', $$SELECT metrics_refresh_status('bad_input.v')->>'status'$$),
    ('overview, then', $$SELECT count(*) FROM metrics_refresh_overview$$))
    AS c(what, call);
ROLLBACK;
:unchanged;

--
-- Numbers out of range.
--
SELECT count(*) FROM metrics_refresh_history('bad_input.v', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_history('bad_input.v', -2147483648);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_history('bad_input.v', 0);
SELECT count(*) FROM metrics_refresh_history('bad_input.v', 2147483647);
SELECT count(*) FROM metrics_refresh_history('bad_input.v', 2147483648);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_history(NULL, 10, -1);
SELECT count(*) FROM metrics_refresh_history(NULL, 10, 0);
SELECT count(*) FROM metrics_refresh_history(NULL, 10, 9223372036854775807);
SELECT metrics_refresh_run_status(-1) IS NULL AS unknown, metrics_refresh_run_status(0) IS NULL AS unknown,
       metrics_refresh_run_status(9223372036854775807) IS NULL AS unknown;
SELECT metrics_refresh_histogram_quantile('{1,2,3}', -0.5, 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{1,2,3}', 1.5, 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{1,2,3}', 'NaN', 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{-5,2,3}', 0.5, 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{}', 0.5, 1, 10) AS empty;
SELECT metrics_refresh_histogram_quantile('{{1,2},{3,4}}', 0.5, 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{1,NULL,3}', 0.5, 1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{2147483647,2147483647}', 0.5, 1, 10) IS NOT NULL AS answered;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_quantile('{1,2,3}', 0.5, 10, 1) IS NOT NULL AS answered;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_add('{1,2}', '{1,2,3}');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_add('{2147483647}', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_count(array_fill(2147483647, ARRAY[70]), 0.5);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_add('{{1}}', '{{1}}');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_add(NULL, '{1}') AS one, metrics_refresh_histogram_add('{1}', NULL) AS other;
SELECT metrics_refresh_histogram_count(NULL, -1) IS NOT NULL AS negative_counted;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_count(NULL, 'NaN') IS NOT NULL AS nan_counted;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_count(NULL, 'Infinity') IS NOT NULL AS infinity_counted;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram_count('{1,2}', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_histogram(d) IS NOT NULL AS aggregated
FROM (VALUES (1e300::float8), ('-Infinity'), (NULL), (0)) AS x(d);
\echo :LAST_ERROR_SQLSTATE
-- The overview's aggregates: a histogram of another length (2202E); NULLs
-- add nothing; infinite, NaN and negative durations are answered as min(),
-- max() and round(x::numeric, 3) answer them; the latest value by
-- (started_at, id), NULL keys first as in ORDER BY ... DESC.
SELECT (metrics_refresh_window_sum(1, 1, 0, 0, 0, 1, 5, 5, 5, '{1,2}', NULL)).total;
\echo :LAST_ERROR_SQLSTATE
SELECT (metrics_refresh_window_sum(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)).*;
SELECT (s).* FROM (SELECT metrics_refresh_window_sum(1, (d > 0)::int, (d <= 0)::int, 0, 0, 1, d, d, d, NULL, d) AS s
                   FROM (VALUES ('NaN'::float8), ('Infinity'), ('-Infinity'), (-1), (1e300), (0)) AS x(d)) w;
SELECT metrics_refresh_latest(v, t, i) AS null_start_first
FROM (VALUES ('a', now(), 1), ('b', NULL, 2), ('c', NULL, 3)) AS x(v, t, i);
SELECT metrics_refresh_latest(v, t, i) IS NULL AS latest_is_null
FROM (VALUES (NULL::text, now(), 5), ('b', now(), 2), ('c', now() - interval '1 hour', 9)) AS x(v, t, i);
-- Values stored out of line (TOAST) are kept whole (a check of the path:
-- within one query a TOAST pointer would still be valid too).
CREATE TEMP TABLE bi_latest (v text, t timestamptz, i int);
ALTER TABLE bi_latest ALTER COLUMN v SET STORAGE EXTERNAL;
INSERT INTO bi_latest
SELECT string_agg(md5(g::text || ':' || k), '') || k, now() - k * interval '1 minute', k
FROM generate_series(1, 3) k, generate_series(1, 200) g GROUP BY k;
INSERT INTO bi_latest VALUES (repeat('z', 100000), now() + interval '1 minute', 0);
SELECT length(metrics_refresh_latest(v, t, i)) AS latest_length,
       metrics_refresh_latest(v, t, i) = (SELECT v FROM bi_latest WHERE i = 0) AS latest_whole,
       metrics_refresh_latest(v, t, i) FILTER (WHERE i > 0) = (SELECT v FROM bi_latest WHERE i = 1) AS external_whole
FROM bi_latest;
:unchanged;

--
-- The dashboard's helpers with values out of range.
--
SELECT metrics_refresh_dashboard_bar(50, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT length(metrics_refresh_dashboard_bar(1000, 10)) AS characters;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_bar(-50, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT length(metrics_refresh_dashboard_bar(50, 2147483647));
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_wrap('some words', 0, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_wrap('', 10, 3) AS empty, metrics_refresh_dashboard_wrap('x', 2147483647, 1) AS wide;
SELECT metrics_refresh_dashboard_frame('{a}', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT length(metrics_refresh_dashboard_frame('{a}', 2147483647));
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_span(-1) AS minus_one, metrics_refresh_dashboard_span(9223372036854775807) AS longest;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_duration(-1) AS minus_one, metrics_refresh_dashboard_duration('NaN') AS nan,
       metrics_refresh_dashboard_duration('Infinity') AS infinity;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_bucket('1000000 years') AS huge, metrics_refresh_dashboard_bucket('-1 hour') AS negative;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_sparkline('{NaN,Infinity,-Infinity,1}') AS odd_values;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_axis(-1, '24h', '12h') AS negative, length(metrics_refresh_dashboard_axis(2147483647, '24h', '12h'));
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_status_label(NULL, NULL, NULL) AS nulls, metrics_refresh_dashboard_percent(-1e100) AS tiny;
SELECT metrics_refresh_dashboard_statistics('{}') IS NOT NULL AS empty_object;
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard_statistics('{"successful": "many"}');
\echo :LAST_ERROR_SQLSTATE

--
-- The OID of a dropped view, OID 0, and the largest OID: 42P01 (the message
-- names the OID, which varies, so only the SQLSTATE is shown).
--
\set VERBOSITY sqlstate
SELECT metrics_refresh_run(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_catalog.metrics_refresh_job(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger(:gone_oid::oid::regclass, false);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_history(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_dashboard(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure(:gone_oid::oid::regclass, skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_graph(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_stats_reset(:gone_oid::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run(0::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status(4294967295::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
:unchanged;

--
-- Relations that are not materialized views: 42809.
--
SELECT metrics_refresh_run('bad_input.t');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger('bad_input.plain', false);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('bad_input.seq');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('bad_input.bad_input_v_id');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('pg_catalog.pg_class');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('metrics_refresh_log', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_graph('metrics_refresh_overview');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_stats_reset('pg_class');
\echo :LAST_ERROR_SQLSTATE
:unchanged;

--
-- Names in another database's form, and names that do not parse: the
-- regclass input refuses them (0A000, 42602, 42P01) before any call; the
-- platform view's setting is parsed by the extension itself.
--
SELECT metrics_refresh_run('otherdb.bad_input.v');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('otherdb.public.v');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('a.b.c.d');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input."v');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('bad_input.');
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'otherdb.bad_input.v';
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'a.b.c.d';
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'bad_input.v.';
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
RESET metrics_refresh.platform_view;
:unchanged;

--
-- Trigger functions called as functions: refused by PostgreSQL.
--
SELECT metrics_refresh_track();
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_ddl_sweep();
\echo :LAST_ERROR_SQLSTATE

-- After all of it: nothing logged, nothing changed, nothing published.
:unchanged;
SELECT log_rows, published FROM bad_state;

--
-- Names of 63 bytes and more.  The parser truncates a longer identifier to
-- 63 bytes with a NOTICE (at a character boundary: a two-byte character
-- that would straddle it goes whole), and silently in a regclass literal;
-- the truncated name is the view's, and works everywhere.
--
CREATE MATERIALIZED VIEW bad_input.a_name_of_seventy_bytes_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
    AS SELECT 1 AS id;
CREATE UNIQUE INDEX bad_input_long_id
    ON bad_input.a_name_of_seventy_bytes_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx (id);
-- 32 two-byte characters (64 bytes), and 31 of them and an 'x' (63 bytes).
CREATE MATERIALIZED VIEW bad_input."éééééééééééééééééééééééééééééééé" AS SELECT 1 AS id;
CREATE UNIQUE INDEX bad_input_e64_id ON bad_input."éééééééééééééééééééééééééééééééé" (id);
CREATE MATERIALIZED VIEW bad_input."éééééééééééééééééééééééééééééééx" AS SELECT 1 AS id;
CREATE UNIQUE INDEX bad_input_e63_id ON bad_input."éééééééééééééééééééééééééééééééx" (id);
SELECT c.relname, octet_length(c.relname) AS bytes, length(c.relname) AS characters
FROM pg_class c WHERE c.relnamespace = 'bad_input'::regnamespace AND c.relkind = 'm' AND c.relname <> 'v'
ORDER BY bytes, c.relname;
SELECT 'bad_input.a_name_of_seventy_bytes_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'::regclass AS from_literal;
SELECT r->>'status' AS status, r->>'view' AS view, (r->>'view')::regclass::oid = v::oid AS casts_back
FROM unnest(ARRAY['bad_input.a_name_of_seventy_bytes_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
                  'bad_input."éééééééééééééééééééééééééééééééé"',
                  'bad_input."éééééééééééééééééééééééééééééééx"']::regclass[]) WITH ORDINALITY AS u(v, o),
     metrics_refresh_run(v) AS r
ORDER BY o;
SELECT metrics_refresh_schedule(v) IS NOT NULL AS scheduled
FROM unnest(ARRAY['bad_input."éééééééééééééééééééééééééééééééé"',
                  'bad_input."éééééééééééééééééééééééééééééééx"']::regclass[]) AS v;
-- The job's name holds the view's name, or its MD5 where that would pass
-- 63 bytes.
SELECT jobname, octet_length(jobname) AS bytes FROM cron.job ORDER BY jobname;
SELECT view_name, octet_length(view_name) AS bytes, view_name::regclass IS NOT NULL AS casts_back
FROM metrics_refresh_config WHERE view_name LIKE 'bad_input.%' ORDER BY view_name;
SELECT metrics_refresh_status('bad_input."éééééééééééééééééééééééééééééééx"')->>'status' AS status;
SELECT metrics_refresh_unschedule(v) AS unscheduled
FROM unnest(ARRAY['bad_input."éééééééééééééééééééééééééééééééé"',
                  'bad_input."éééééééééééééééééééééééééééééééx"', 'bad_input.v']::regclass[]) AS v;
SELECT count(*) AS jobs_left FROM cron.job;

DROP SCHEMA bad_input CASCADE;
DROP EXTENSION metrics_refresh;
DROP FUNCTION public.regress_try(text, boolean);
