-- No search_path hijacking: an admin whose search_path puts a hostile schema
-- before pg_catalog calls every function of the extension.  The hostile
-- schema shadows the functions, aggregates, operators and tables that the
-- extension's SQL uses; each of them records its call (a row in
-- sp_trap.calls and a NOTICE) and gives a wrong answer.  None may run, and
-- every result must be right.  Objects of this file start with sp_, roles
-- with regress_sp_.
-- Needs pg_cron (scheduling with a hostile search_path); where the server
-- cannot run it in this database, the test is skipped
-- (expected/search_path_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
CREATE EXTENSION metrics_refresh;

CREATE SCHEMA sp_trap;
CREATE TABLE sp_trap.calls (n bigint GENERATED ALWAYS AS IDENTITY, what text, ran_as name);
GRANT USAGE ON SCHEMA sp_trap TO PUBLIC;
GRANT INSERT, SELECT ON sp_trap.calls TO PUBLIC;
CREATE FUNCTION sp_trap.hit(what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO sp_trap.calls (what, ran_as) VALUES (what, current_user);
    RAISE NOTICE 'hostile % ran', what;
END $$;

CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
-- Functions (bodies pinned to pg_catalog, so that they do not call each other).
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('now()'); RETURN '2000-01-01'; END$$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('clock_timestamp()'); RETURN '2000-01-01'; END$$;
CREATE FUNCTION evil.statement_timestamp() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('statement_timestamp()'); RETURN '2000-01-01'; END$$;
CREATE FUNCTION evil.jsonb_strip_nulls(jsonb) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('jsonb_strip_nulls(jsonb)'); RETURN '{"hijacked": true}'; END$$;
CREATE FUNCTION evil.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('jsonb_build_object(text[])'); RETURN '{"hijacked": true}'; END$$;
CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('to_jsonb(anyelement)'); RETURN '{"hijacked": true}'; END$$;
CREATE FUNCTION evil.round(numeric, integer) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('round(numeric, integer)'); RETURN -1; END$$;
CREATE FUNCTION evil.round(numeric) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('round(numeric)'); RETURN -1; END$$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('unnest(anyarray)'); RETURN; END$$;
CREATE FUNCTION evil.generate_series(timestamptz, timestamptz, interval) RETURNS SETOF timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('generate_series(timestamptz, timestamptz, interval)'); RETURN; END$$;
CREATE FUNCTION evil.date_bin(interval, timestamptz, timestamptz) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('date_bin(interval, timestamptz, timestamptz)'); RETURN '2000-01-01'; END$$;
CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('quote_ident(text)'); RETURN 'public.sp_victim; --'; END$$;
CREATE FUNCTION evil.quote_literal(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('quote_literal(text)'); RETURN '''x'''; END$$;
CREATE FUNCTION evil.format(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('format(text)'); RETURN 'x'; END$$;
CREATE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('current_setting(text)'); RETURN 'x'; END$$;
CREATE FUNCTION evil.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('current_setting(text, boolean)'); RETURN 'x'; END$$;
CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('to_regclass(text)'); RETURN NULL; END$$;
CREATE FUNCTION evil.trim_scale(numeric) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('trim_scale(numeric)'); RETURN -1; END$$;
CREATE FUNCTION evil.repeat(text, integer) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('repeat(text, integer)'); RETURN 'x'; END$$;
CREATE FUNCTION evil.rpad(text, integer) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('rpad(text, integer)'); RETURN 'x'; END$$;
CREATE FUNCTION evil.lpad(text, integer) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('lpad(text, integer)'); RETURN 'x'; END$$;
CREATE FUNCTION evil.length(text) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('length(text)'); RETURN -1; END$$;
CREATE FUNCTION evil.array_length(anyarray, integer) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('array_length(anyarray, integer)'); RETURN -1; END$$;
CREATE FUNCTION evil.pg_sleep(double precision) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('pg_sleep(double precision)'); END$$;
-- Aggregates.
CREATE FUNCTION evil.count_step(bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('count(*)'); RETURN -100; END$$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION evil.count_any_step(bigint, anyelement) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('count(anyelement)'); RETURN -100; END$$;
CREATE AGGREGATE evil.count(anyelement) (SFUNC = evil.count_any_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION evil.float8_step(double precision, double precision) RETURNS double precision
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('avg/min/max(double precision)'); RETURN -1; END$$;
CREATE AGGREGATE evil.avg(double precision) (SFUNC = evil.float8_step, STYPE = double precision);
CREATE AGGREGATE evil.min(double precision) (SFUNC = evil.float8_step, STYPE = double precision);
CREATE AGGREGATE evil.max(double precision) (SFUNC = evil.float8_step, STYPE = double precision);
CREATE FUNCTION evil.string_agg_step(text, text, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('string_agg(text, text)'); RETURN 'x'; END$$;
CREATE AGGREGATE evil.string_agg(text, text) (SFUNC = evil.string_agg_step, STYPE = text);
CREATE FUNCTION evil.array_agg_step(anyarray, anyelement) RETURNS anyarray LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('array_agg(anyelement)'); RETURN $1; END$$;
CREATE AGGREGATE evil.array_agg(anyelement) (SFUNC = evil.array_agg_step, STYPE = anyarray);
-- Operators.
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('text = text'); RETURN NOT ($1 = $2); END$$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.text_ne(text, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('text <> text'); RETURN $1 = $2; END$$;
CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_ne);
CREATE FUNCTION evil.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('bigint = bigint'); RETURN NOT ($1 = $2); END$$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_eq);
CREATE FUNCTION evil.name_text_eq(name, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('name = text'); RETURN NOT ($1 = $2); END$$;
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = text, FUNCTION = evil.name_text_eq);
CREATE FUNCTION evil.name_eq(name, name) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('name = name'); RETURN NOT ($1 = $2); END$$;
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.name_eq);
CREATE FUNCTION evil.text_cat(text, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('text || text'); RETURN 'x'; END$$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_cat);
CREATE FUNCTION evil.jsonb_cat(jsonb, jsonb) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('jsonb || jsonb'); RETURN '{"hijacked": true}'; END$$;
CREATE OPERATOR evil.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.jsonb_cat);
CREATE FUNCTION evil.jsonb_minus(jsonb, text) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('jsonb - text'); RETURN '{"hijacked": true}'; END$$;
CREATE OPERATOR evil.- (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.jsonb_minus);
CREATE FUNCTION evil.jsonb_get_text(jsonb, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('jsonb ->> text'); RETURN 'x'; END$$;
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.jsonb_get_text);
CREATE FUNCTION evil.ts_ge(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('timestamptz >= timestamptz'); RETURN NOT ($1 >= $2); END$$;
CREATE OPERATOR evil.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.ts_ge);
CREATE FUNCTION evil.ts_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('timestamptz < timestamptz'); RETURN NOT ($1 < $2); END$$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.ts_lt);
CREATE FUNCTION evil.ts_mi(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('timestamptz - interval'); RETURN '2000-01-01'; END$$;
CREATE OPERATOR evil.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.ts_mi);
CREATE FUNCTION evil.f8_lt(double precision, double precision) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('double precision < double precision'); RETURN NOT ($1 < $2); END$$;
CREATE OPERATOR evil.< (LEFTARG = double precision, RIGHTARG = double precision, FUNCTION = evil.f8_lt);
CREATE FUNCTION evil.num_mul(numeric, numeric) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('numeric * numeric'); RETURN -1; END$$;
CREATE OPERATOR evil.* (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = evil.num_mul);
CREATE FUNCTION evil.num_div(numeric, numeric) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('numeric / numeric'); RETURN -1; END$$;
CREATE OPERATOR evil./ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = evil.num_div);
CREATE FUNCTION evil.int8_pl(bigint, bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('bigint + bigint'); RETURN -1; END$$;
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_pl);
CREATE FUNCTION evil.oid_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$BEGIN PERFORM sp_trap.hit('oid = oid'); RETURN NOT ($1 = $2); END$$;
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.oid_eq);
-- Tables named like the extension's.
-- (Its status, method and source are text, not the extension's domains, so
-- that the decoy outlives the extension.)
CREATE TABLE evil.metrics_refresh_log (LIKE public.metrics_refresh_log);
ALTER TABLE evil.metrics_refresh_log ALTER status TYPE text, ALTER method TYPE text,
    ALTER source TYPE text;
CREATE TABLE evil.metrics_refresh_config (LIKE public.metrics_refresh_config);
GRANT ALL ON evil.metrics_refresh_log, evil.metrics_refresh_config TO PUBLIC;

-- The application, and a table that injected SQL would drop.
CREATE SCHEMA sp_app;
CREATE TABLE public.sp_victim (x int);
INSERT INTO public.sp_victim VALUES (1);
CREATE TABLE sp_app.accounts (id int PRIMARY KEY);
INSERT INTO sp_app.accounts SELECT generate_series(1, 3);
CREATE MATERIALIZED VIEW sp_app.metrics AS SELECT 1 AS id, count(*) AS accounts FROM sp_app.accounts;
CREATE UNIQUE INDEX ON sp_app.metrics (id);
CREATE MATERIALIZED VIEW sp_app.unpopulated AS SELECT 1 AS id WITH NO DATA;
CREATE UNIQUE INDEX ON sp_app.unpopulated (id);
CREATE MATERIALIZED VIEW sp_app.noindex AS SELECT 1 AS id;
CREATE MATERIALIZED VIEW sp_app.doomed AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON sp_app.doomed (id);
INSERT INTO sp_app.accounts VALUES (4);

-- A non-superuser admin (admin role) and one approved by admin_check.
CREATE ROLE regress_sp_admins NOLOGIN;
CREATE ROLE regress_sp_admin LOGIN IN ROLE regress_sp_admins;
CREATE ROLE regress_sp_checked LOGIN;
CREATE FUNCTION public.sp_is_admin() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT pg_catalog."current_user"() OPERATOR(pg_catalog.=) 'regress_sp_checked'::name $$;
SET metrics_refresh.admin_role = 'regress_sp_admins';
SET metrics_refresh.admin_check = 'public.sp_is_admin';
SET metrics_refresh.platform_view = 'sp_app.metrics';
GRANT USAGE ON SCHEMA sp_app TO PUBLIC;

-- Rows for retention and pruning (60 and 40 days old), and a 'running' row
-- whose worker does not exist (to be reported as interrupted).
INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms, status, method, source, triggered_by)
VALUES ('sp_app.metrics', now() - interval '60 days', now() - interval '60 days', 1, 'success', 'full', 'manual', 'sp_old'),
       ('sp_app.metrics', now() - interval '40 days', now() - interval '40 days', 1, 'success', 'full', 'manual', 'sp_old');
INSERT INTO metrics_refresh_log (view_name, started_at, status, source, triggered_by)
VALUES ('sp_app.metrics', now() - interval '1 minute', 'running', 'manual', 'sp_ghost');
SELECT id AS ghost_id, id + 1 AS next_id FROM metrics_refresh_log WHERE triggered_by = 'sp_ghost' \gset

-- Where the results go (filled without any operator or function of the caller's).
CREATE TABLE public.sp_results (n int GENERATED ALWAYS AS IDENTITY, label text, r jsonb);
CREATE TABLE public.sp_scalars (n int GENERATED ALWAYS AS IDENTITY, label text, i bigint, b boolean, t text);
CREATE TABLE public.sp_timeline AS SELECT * FROM metrics_refresh_timeline('sp_app.metrics') WITH NO DATA;
CREATE TABLE public.sp_history AS SELECT * FROM metrics_refresh_history() WITH NO DATA;
CREATE TABLE public.sp_overview AS SELECT * FROM metrics_refresh_overview WITH NO DATA;
GRANT INSERT, SELECT ON public.sp_results, public.sp_scalars TO PUBLIC;

SELECT count(*) AS hostile_calls_before FROM sp_trap.calls;

--
-- The superuser, with the hostile schema first, calls everything.
--
SET search_path = evil, pg_catalog, public;
SET metrics_refresh.log_retention = '50d';
INSERT INTO sp_results (label, r) VALUES ('run', metrics_refresh_run('sp_app.metrics'));
INSERT INTO sp_results (label, r) VALUES ('run scheduled', metrics_refresh_run('sp_app.metrics', 'scheduled'));
INSERT INTO sp_results (label, r) VALUES ('run unpopulated', metrics_refresh_run('sp_app.unpopulated'));
INSERT INTO sp_results (label, r) VALUES ('run noindex', metrics_refresh_run('sp_app.noindex'));
INSERT INTO sp_results (label, r) VALUES ('trigger', metrics_refresh_trigger('sp_app.metrics'));
INSERT INTO sp_results (label, r) VALUES ('trigger_platform', trigger_platform_metrics_refresh());
INSERT INTO sp_results (label, r) VALUES ('with_logging', refresh_platform_metrics_with_logging());
SELECT refresh_platform_metrics();
INSERT INTO sp_scalars (label, i) VALUES ('prune', metrics_refresh_prune('35 days'));
INSERT INTO sp_results (label, r) VALUES ('status', metrics_refresh_status('sp_app.metrics'));
INSERT INTO sp_results (label, r) VALUES ('status noindex', metrics_refresh_status('sp_app.noindex'));
INSERT INTO sp_results (label, r) VALUES ('ghost', metrics_refresh_run_status(:ghost_id));
INSERT INTO sp_results (label, r) VALUES ('run_status', metrics_refresh_run_status(:next_id));
INSERT INTO sp_timeline SELECT * FROM metrics_refresh_timeline('sp_app.metrics');
INSERT INTO sp_history SELECT * FROM metrics_refresh_history('sp_app.metrics', 100);
INSERT INTO sp_history SELECT * FROM metrics_refresh_history();
INSERT INTO sp_overview SELECT * FROM metrics_refresh_overview;
INSERT INTO sp_overview SELECT * FROM metrics_refresh_status_all();
INSERT INTO sp_scalars (label, b) VALUES ('is_admin', metrics_refresh_is_admin());
INSERT INTO sp_scalars (label, t) VALUES ('dashboard', metrics_refresh_dashboard('sp_app.metrics'));
INSERT INTO sp_scalars (label, i) VALUES ('schedule', metrics_refresh_schedule('sp_app.metrics', '0 0 31 2 *', '20 minutes'));
INSERT INTO sp_scalars (label, i) VALUES ('reschedule', metrics_refresh_schedule('sp_app.metrics', '0 0 30 2 *'));
INSERT INTO sp_scalars (label, i) VALUES ('schedule doomed', metrics_refresh_schedule('sp_app.doomed'));
INSERT INTO sp_scalars (label, b) VALUES ('unschedule', metrics_refresh_unschedule('sp_app.metrics'));
INSERT INTO sp_scalars (label, b) VALUES ('unschedule again', metrics_refresh_unschedule('sp_app.metrics'));
-- The event trigger that removes the schedule of a dropped view.
DROP MATERIALIZED VIEW sp_app.doomed;
INSERT INTO sp_results (label, r) VALUES ('background', metrics_refresh_trigger('sp_app.metrics', false));
RESET search_path;
RESET metrics_refresh.log_retention;

-- Wait for the background run.
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM public.metrics_refresh_log WHERE status = 'running');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;

-- No hostile object ran, and nothing was written to the hostile tables.
SELECT count(*) AS hostile_calls FROM sp_trap.calls;
SELECT (SELECT count(*) FROM evil.metrics_refresh_log) AS evil_log_rows,
       (SELECT count(*) FROM evil.metrics_refresh_config) AS evil_config_rows;
SELECT count(*) AS victim_rows FROM public.sp_victim;

-- The results are right.
SELECT n, label, r->>'success' AS success, r->>'status' AS status, r->>'view' AS view,
       r->>'method' AS method, r->>'source' AS source, r->>'triggered_by' = current_user AS by_me,
       r->>'sqlstate' AS sqlstate,
       (r->>'duration_ms')::float8 >= 0 AS has_duration,
       r->>'message' LIKE CASE r->>'status'
           WHEN 'success' THEN 'refreshed ' || (r->>'view') || ' ' || (r->>'method') || ' in % ms'
           WHEN 'running' THEN 'refresh of ' || (r->>'view') || ' started in the background'
           ELSE 'materialized view "sp_app.noindex" has no usable unique index' END AS message_ok
FROM sp_results WHERE label LIKE 'run%' OR label LIKE 'trigger%' OR label IN ('with_logging', 'background')
ORDER BY n;
SELECT accounts FROM sp_app.metrics;
SELECT r->>'status' AS status, r->>'message' AS message, r->>'success' AS success,
       r->>'sqlstate' AS sqlstate
FROM sp_results WHERE label = 'ghost';
SELECT status, error_message, sqlstate FROM metrics_refresh_log WHERE id = :ghost_id;
-- Retention (50 days) removed the 60-day-old row; prune('35 days') the other.
SELECT label, i, b FROM sp_scalars WHERE label IN ('prune', 'is_admin') ORDER BY n;
SELECT count(*) AS old_rows FROM metrics_refresh_log WHERE triggered_by = 'sp_old';
SELECT r->>'view' AS view, r->>'status' AS status, r->>'last_status' AS last_status,
       r->>'total' AS total, r->>'successful' AS successful, r->>'failed' AS failed,
       r->>'skipped' AS skipped, r->>'success_rate' AS success_rate,
       (r->>'avg_duration_ms')::float8 > 0 AS has_avg,
       (r->>'last_refresh_at')::timestamptz > now() - interval '1 hour' AS recent
FROM sp_results WHERE label = 'status';
SELECT r->>'status' AS status, r->>'last_error' AS last_error, r->>'failed' AS failed
FROM sp_results WHERE label = 'status noindex';
-- 25 hourly buckets, oldest first, ending with the one that holds now();
-- the runs of sp_app.metrics so far: five refreshes and the ghost.
SELECT count(*) AS buckets, count(DISTINCT bucket_start) AS distinct_buckets,
       min(bucket_start) = date_bin('1 hour', now() - interval '24 hours', '2001-01-01 00:00:00+00') AS first_ok,
       max(bucket_start) = date_bin('1 hour', now(), '2001-01-01 00:00:00+00') AS last_ok,
       sum(runs) AS runs, sum(successes) AS successes, sum(failures) AS failures
FROM sp_timeline;
-- (Each run twice: once from the view's history, once from all views'.)
SELECT view_name, status, source,
       CASE WHEN triggered_by = current_user THEN '(me)' ELSE triggered_by END AS triggered_by, count(*)
FROM sp_history GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
-- (Each view twice: from the overview and from metrics_refresh_status_all.)
SELECT view_name, status, total, successful, failed FROM sp_overview ORDER BY view_name, total;
SELECT t LIKE '%Metrics Refresh Monitor%' AND t LIKE '%sp_app.metrics%' AND t NOT LIKE '%hijacked%' AS dashboard_ok
FROM sp_scalars WHERE label = 'dashboard';
-- Scheduling: one job id kept on reschedule, the job's command, unscheduled,
-- and the dropped view's job removed by the event trigger.
SELECT (SELECT i FROM sp_scalars WHERE label = 'schedule') = (SELECT i FROM sp_scalars WHERE label = 'reschedule') AS same_job,
       (SELECT i FROM sp_scalars WHERE label = 'schedule') > 0 AS job_id_ok;
SELECT label, b FROM sp_scalars WHERE label LIKE 'unschedule%' ORDER BY n;
SELECT count(*) AS jobs_left FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
SELECT count(*) AS config_left FROM metrics_refresh_config;
-- The background run: the worker ignored nothing of the rules either.
SELECT status, triggered_by = current_user AS by_me, method FROM metrics_refresh_log
WHERE id = (SELECT (r->>'run_id')::bigint FROM sp_results WHERE label = 'background');

--
-- Non-superuser admins with the hostile schema first: one by admin_role (whose
-- role settings also put it first, for the background worker), one by
-- admin_check.
--
ALTER ROLE regress_sp_admin SET search_path = evil, pg_catalog, public;
SET ROLE regress_sp_admin;
SET search_path = evil, pg_catalog, public;
INSERT INTO sp_scalars (label, b) VALUES ('sp_admin is_admin', metrics_refresh_is_admin());
INSERT INTO sp_results (label, r) VALUES ('sp_admin trigger', metrics_refresh_trigger('sp_app.metrics'));
INSERT INTO sp_results (label, r) VALUES ('sp_admin status', metrics_refresh_status('sp_app.metrics'));
INSERT INTO sp_results (label, r) VALUES ('sp_admin background', metrics_refresh_trigger('sp_app.metrics', wait => false));
RESET search_path;
RESET ROLE;
ALTER ROLE regress_sp_admin RESET search_path;
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM public.metrics_refresh_log WHERE status = 'running');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SET ROLE regress_sp_checked;
SET search_path = evil, pg_catalog, public;
INSERT INTO sp_scalars (label, b) VALUES ('sp_checked is_admin', metrics_refresh_is_admin());
INSERT INTO sp_results (label, r) VALUES ('sp_checked trigger', trigger_platform_metrics_refresh());
INSERT INTO sp_scalars (label, i) VALUES ('sp_checked prune', metrics_refresh_prune('100 years'));
RESET search_path;
RESET ROLE;
SELECT count(*) AS hostile_calls FROM sp_trap.calls;
SELECT label, i, b FROM sp_scalars WHERE label LIKE 'sp\_%' ORDER BY n;
SELECT label, r->>'status' AS status, r->>'triggered_by' AS triggered_by, r->>'view' AS view
FROM sp_results WHERE label LIKE 'sp\_%' ORDER BY n;
SELECT status, triggered_by FROM metrics_refresh_log
WHERE id = (SELECT (r->>'run_id')::bigint FROM sp_results WHERE label = 'sp_admin background');

-- What a hostile object would have left, had it run: proves the trap works.
SET search_path = evil, pg_catalog, public;
SELECT now() IS NOT NULL AS trap_fires;
RESET search_path;
SELECT what FROM sp_trap.calls ORDER BY n;

DROP EXTENSION metrics_refresh CASCADE;
DROP SCHEMA evil CASCADE;
DROP SCHEMA sp_trap CASCADE;
DROP SCHEMA sp_app CASCADE;
DROP TABLE public.sp_victim, public.sp_results, public.sp_scalars, public.sp_timeline,
    public.sp_history, public.sp_overview;
DROP FUNCTION public.sp_is_admin();
DROP ROLE regress_sp_admin, regress_sp_admins, regress_sp_checked;
