-- Views and schemas with odd names (double and single quotes, spaces,
-- semicolons, upper case, a reserved word, a backslash, non-ASCII, the
-- longest name allowed) are refreshed, logged, scheduled and monitored; the
-- logged name casts back to the view (view_name::regclass), and nothing is
-- injected: the table odd_victim survives.  Objects start with odd_ or are
-- in the schemas created here.
-- Needs pg_cron (jobs for odd names); where the server cannot run it in this
-- database, the test is skipped (expected/odd_names_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
CREATE EXTENSION metrics_refresh;

CREATE TABLE public.odd_victim (x int);
INSERT INTO public.odd_victim VALUES (1);

CREATE SCHEMA "Odd ""Schema""";
CREATE SCHEMA "'; DROP TABLE public.odd_victim; --";
CREATE SCHEMA odd_plain;

-- The views, each with a unique index, in a table of (label, view).
CREATE TABLE public.odd_views (label text PRIMARY KEY, v regclass NOT NULL);
DO $$
DECLARE
    names text[][] := ARRAY[
        ['double quote', 'Odd "Schema"', 'a"b'],
        ['single quote', 'Odd "Schema"', 'it''s'],
        ['space', 'Odd "Schema"', 'with space'],
        ['semicolon', 'Odd "Schema"', 'x; DROP TABLE public.odd_victim; --'],
        ['upper case', 'odd_plain', 'MixedCase'],
        ['reserved word', 'odd_plain', 'select'],
        ['non-ASCII', 'odd_plain', 'Ünïcødé'],
        ['backslash', 'odd_plain', 'back\slash'],
        ['longest', 'odd_plain', repeat('l', 63)],
        ['schema injection', '''; DROP TABLE public.odd_victim; --', 'v'],
        ['plain', 'odd_plain', 'plain_view']];
    i int;
BEGIN
    FOR i IN 1..array_length(names, 1) LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %I.%I AS SELECT 1 AS id, %L::text AS label',
                       names[i][2], names[i][3], names[i][1]);
        EXECUTE format('CREATE UNIQUE INDEX ON %I.%I (id)', names[i][2], names[i][3]);
        INSERT INTO public.odd_views
        VALUES (names[i][1], format('%I.%I', names[i][2], names[i][3])::regclass);
    END LOOP;
END $$;
-- A view without a unique index, whose name must appear intact in the error.
CREATE MATERIALIZED VIEW "Odd ""Schema"""."no ""index"" here" AS SELECT 1 AS id;

SELECT label, v::oid = (SELECT c.oid FROM pg_class c WHERE c.oid = v) AS exists, v AS view
FROM odd_views ORDER BY label;

--
-- Refresh: the result's view is the name quoted as quote_ident would, and it
-- casts back to the view.
--
CREATE TEMP TABLE odd_runs AS
SELECT o.label, o.v, metrics_refresh_run(o.v) AS r FROM odd_views o;
SELECT label, r->>'status' AS status, r->>'method' AS method, r->>'view' AS view,
       (r->>'view')::regclass = v AS casts_back,
       r->>'view' = format('%I.%I', n.nspname, c.relname) AS quoted_as_quote_ident,
       r->>'message' = format('refreshed %s concurrently in %s ms', r->>'view',
           CASE WHEN (r->>'duration_ms')::float8 < 10 THEN round((r->>'duration_ms')::numeric, 1)::text
                ELSE round((r->>'duration_ms')::numeric)::text END) AS message_ok
FROM odd_runs JOIN pg_class c ON c.oid = v JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY label;
-- The log: every row's view_name casts back to its view.
SELECT o.label, l.view_name, l.view_name::regclass = o.v AS casts_back, l.status, l.source
FROM metrics_refresh_log l JOIN odd_views o ON l.view_name::regclass = o.v
ORDER BY o.label;
SELECT count(*) AS log_rows FROM metrics_refresh_log;

-- A failure names the view intact, in the message and in the hint.
SELECT r->>'status' AS status, r->>'sqlstate' AS sqlstate, r->>'view' AS view,
       r->>'message' AS message, r->>'hint' AS hint
FROM metrics_refresh_run('"Odd ""Schema"""."no ""index"" here"') r;

--
-- The platform view named by the setting, with quotes in both parts.
--
SET metrics_refresh.platform_view = '"Odd ""Schema"""."it''s"';
SELECT r->>'status' AS status, r->>'view' AS view, r->>'source' AS source
FROM trigger_platform_metrics_refresh() r;
SELECT r->>'status' AS status, r->>'view' AS view, r->>'source' AS source
FROM refresh_platform_metrics_with_logging() r;
SELECT refresh_platform_metrics();
-- An unquoted upper-case name folds to lower case, as in SQL.
SET metrics_refresh.platform_view = 'odd_plain.MixedCase';
SELECT trigger_platform_metrics_refresh();
SET metrics_refresh.platform_view = 'odd_plain."MixedCase"';
SELECT trigger_platform_metrics_refresh()->>'view' AS view;
RESET metrics_refresh.platform_view;

--
-- Monitoring under the odd names.
--
SELECT o.label, s->>'view' AS view, s->>'status' AS status, s->>'total' AS total,
       (SELECT count(*) FROM metrics_refresh_timeline(o.v)) AS buckets,
       (SELECT count(*) FROM metrics_refresh_history(o.v)) AS history_rows,
       (SELECT count(*) FROM metrics_refresh_overview w WHERE w.view_name::regclass = o.v) AS in_overview,
       -- (the card's lines are 60 characters wide: long names are cut there)
       strpos(metrics_refresh_dashboard(o.v), left('View:         ' || (s->>'view'), 60)) > 0 AS dashboard_names_it
FROM odd_views o, LATERAL metrics_refresh_status(o.v) s
ORDER BY o.label;
SELECT view_name, view_name::regclass::oid <> 0 AS casts_back, status
FROM metrics_refresh_overview ORDER BY view_name COLLATE "C";
SELECT (SELECT count(*) FROM metrics_refresh_history(NULL, NULL) h WHERE h.view_name::regclass IS NOT NULL)
     = (SELECT count(*) FROM metrics_refresh_history(NULL, NULL)) AS all_history_casts_back;

--
-- Scheduling: the job's name and command; running the command refreshes the
-- right view.  (A schedule that never fires: 31 February.)
--
SELECT o.label, metrics_refresh_schedule(o.v, '0 0 31 2 *') > 0 AS scheduled
FROM odd_views o ORDER BY o.label;
SELECT o.label, j.jobname, j.command, j.schedule
FROM odd_views o
JOIN metrics_refresh_config c ON c.view_name::regclass = o.v
JOIN cron.job j ON j.jobid = c.jobid
ORDER BY o.label;
-- Rescheduling keeps the job.
SELECT count(*) AS same_job
FROM odd_views o JOIN metrics_refresh_config c ON c.view_name::regclass = o.v
WHERE metrics_refresh_schedule(o.v, '0 0 30 2 *') = c.jobid;
SELECT count(*) AS jobs, count(DISTINCT jobname) AS job_names,
       count(*) FILTER (WHERE schedule = '0 0 30 2 *') AS rescheduled
FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
-- Run each job's command as pg_cron would.
SELECT max(id) AS mark FROM metrics_refresh_log \gset
DO $$
DECLARE
    cmd text;
BEGIN
    FOR cmd IN SELECT command FROM cron.job WHERE jobname LIKE 'metrics_refresh %' ORDER BY jobid LOOP
        EXECUTE cmd;
    END LOOP;
END $$;
SELECT o.label, l.status, l.source
FROM metrics_refresh_log l JOIN odd_views o ON l.view_name::regclass = o.v
WHERE l.id > :mark ORDER BY o.label;
SELECT count(*) AS scheduled_runs FROM metrics_refresh_log WHERE id > :mark;

--
-- A background refresh of an odd name.
--
SELECT r->>'status' AS status, r->>'view' AS view
FROM metrics_refresh_trigger('odd_plain."Ünïcødé"', wait => false) r;
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM public.metrics_refresh_log WHERE status = 'running');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT view_name, status, view_name::regclass = 'odd_plain."Ünïcødé"'::regclass AS casts_back
FROM metrics_refresh_log WHERE id = (SELECT max(id) FROM metrics_refresh_log);

--
-- Renaming a scheduled view removes its schedule (event trigger), by its odd name.
--
ALTER MATERIALIZED VIEW "Odd ""Schema"""."it's" RENAME TO "it's renamed";
SELECT count(*) AS jobs FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
-- Unschedule the others.
SELECT o.label, metrics_refresh_unschedule(o.v) AS unscheduled
FROM odd_views o ORDER BY o.label;
SELECT count(*) AS jobs FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
SELECT count(*) AS config_rows FROM metrics_refresh_config;

-- NOTIFY names each run with valid JSON (quotes, backslashes, non-ASCII in
-- the view's name escaped).
\set odd_nfile `mktemp /tmp/metrics_refresh_odd_names.XXXXXX`
LISTEN metrics_refresh;
\o :odd_nfile
SELECT string_agg(metrics_refresh_run(o.v)::text, E'\n' ORDER BY o.label) AS odd_results FROM odd_views o \gset
SELECT metrics_refresh_run('"Odd ""Schema"""."no ""index"" here"')::text AS odd_failed \gset
\o
\set odd_notes `cat :odd_nfile`
UNLISTEN metrics_refresh;
SELECT count(*) AS payloads,
       count(*) FILTER (WHERE n[1]::jsonb IN (
           SELECT jsonb_build_object('run_id', r::jsonb->'run_id', 'view', r::jsonb->'view', 'status', r::jsonb->'status')
           FROM unnest(string_to_array(:'odd_results' || E'\n' || :'odd_failed', E'\n')) AS r)) AS name_the_runs
FROM regexp_matches(:'odd_notes',
                    '^Asynchronous notification "metrics_refresh" with payload "(.*)" received from server process with PID \d+\.$',
                    'gn') AS m(n);
\set odd_rm `rm -f :odd_nfile`

-- Nothing was injected.
SELECT count(*) AS victim_rows FROM public.odd_victim;

DROP EXTENSION metrics_refresh CASCADE;
DROP TABLE public.odd_views, public.odd_victim;
DROP SCHEMA "Odd ""Schema""", "'; DROP TABLE public.odd_victim; --", odd_plain CASCADE;
