-- Scheduling with pg_cron: metrics_refresh_schedule / metrics_refresh_unschedule.
-- Needs pg_cron (everything here); where the server cannot run it in this
-- database, the test is skipped (expected/schedule_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
-- Errors are shown without their CONTEXT lines: those name the extension's
-- internal statements and PL/pgSQL line numbers, which are no contract.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;

-- The jobs of this test, with their ids masked.
CREATE VIEW sched_jobs AS
SELECT jobname, schedule, command, database = current_database() AS this_db,
       username = (SELECT extowner::regrole::text FROM pg_extension
                   WHERE extname = 'metrics_refresh') AS runs_as_ext_owner,
       active
FROM cron.job
WHERE jobname LIKE 'metrics_refresh %' OR jobname = 'refresh-platform-metrics';

CREATE TABLE sched_src (id int PRIMARY KEY, val int);
INSERT INTO sched_src VALUES (1, 10), (2, 20);
CREATE MATERIALIZED VIEW sched_v AS SELECT id, val FROM sched_src;
CREATE UNIQUE INDEX ON sched_v (id);
-- A name that needs quoting, with a quote in it: no injection into the job's command.
CREATE MATERIALIZED VIEW "Sched 'odd' V" AS SELECT id, val FROM sched_src;
CREATE UNIQUE INDEX ON "Sched 'odd' V" (id);
CREATE TABLE sched_table (id int);

-- Nothing is scheduled yet.
SELECT * FROM sched_jobs;
SELECT count(*) FROM metrics_refresh_config;

--
-- Creating a job: defaults are every 5 minutes and stale after 15 minutes.
--
SELECT metrics_refresh_schedule('sched_v') AS jobid \gset first_
SELECT :first_jobid > 0 AS jobid_positive;
SELECT * FROM sched_jobs;
SELECT view_name, schedule, stale_after, jobid = :first_jobid AS same_jobid
FROM metrics_refresh_config ORDER BY view_name;

--
-- Rescheduling updates the same job in place: same id, no second job.
--
SELECT metrics_refresh_schedule('sched_v', '17 3 * * *', '2 hours') = :first_jobid AS same_jobid;
SELECT * FROM sched_jobs;
SELECT view_name, schedule, stale_after, jobid = :first_jobid AS same_jobid
FROM metrics_refresh_config ORDER BY view_name;
-- Calling again with the same arguments changes nothing either.
SELECT metrics_refresh_schedule('sched_v', '17 3 * * *', '2 hours') = :first_jobid AS same_jobid;
SELECT count(*) AS jobs FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
SELECT jobid = :first_jobid AS same_jobid FROM cron.job WHERE jobname = 'metrics_refresh public.sched_v';

-- A second view gets its own job; its name and command are quoted, not pasted.
SELECT metrics_refresh_schedule('"Sched ''odd'' V"', '*/10 * * * *', '1 day') <> :first_jobid AS other_jobid;
SELECT * FROM sched_jobs ORDER BY jobname;
SELECT view_name, schedule, stale_after, view_name::regclass AS finds_view
FROM metrics_refresh_config ORDER BY view_name;
-- The job's command, run by hand, refreshes that view (scheduled source).
UPDATE sched_src SET val = val + 1;
DO $$
BEGIN
    EXECUTE (SELECT command FROM cron.job WHERE jobname = 'metrics_refresh public."Sched ''odd'' V"');
END $$;
SELECT * FROM "Sched 'odd' V" ORDER BY id;
SELECT DISTINCT view_name, status, method, source, triggered_by = current_user AS by_me
FROM metrics_refresh_log WHERE view_name = 'public."Sched ''odd'' V"';

-- A view whose job name would not fit in a name gets a hashed job name; still one job.
CREATE MATERIALIZED VIEW sched_view_with_a_name_long_enough_to_overflow_a_job_name AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON sched_view_with_a_name_long_enough_to_overflow_a_job_name (id);
SELECT metrics_refresh_schedule('sched_view_with_a_name_long_enough_to_overflow_a_job_name') AS jobid \gset long_
SELECT metrics_refresh_schedule('sched_view_with_a_name_long_enough_to_overflow_a_job_name', '0 * * * *') = :long_jobid AS same_jobid;
SELECT jobname ~ '^metrics_refresh [0-9a-f]{32}$' AS hashed_name, schedule, command
FROM cron.job WHERE jobid = :long_jobid;
SELECT metrics_refresh_unschedule('sched_view_with_a_name_long_enough_to_overflow_a_job_name') AS removed;
SELECT count(*) AS long_jobs FROM cron.job WHERE jobid = :long_jobid;
DROP MATERIALIZED VIEW sched_view_with_a_name_long_enough_to_overflow_a_job_name;

--
-- Invalid calls raise and change nothing.
--
SELECT metrics_refresh_schedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', '*/5 * * * *', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', 'every now and then');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', '61 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', '*/5 * * * *', '0');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', '*/5 * * * *', '-5 minutes');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_v', '*/5 * * * *', '-1 day 23 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('sched_table');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule('sched_table');
\echo :LAST_ERROR_SQLSTATE
-- A positive interval with mixed signs is accepted (23 hours).
SELECT metrics_refresh_schedule('sched_v', '17 3 * * *', '1 day -1 hour') = :first_jobid AS same_jobid;
SELECT stale_after FROM metrics_refresh_config WHERE view_name = 'public.sched_v';
SELECT metrics_refresh_schedule('sched_v', '17 3 * * *', '2 hours') = :first_jobid AS same_jobid;
-- Still the two jobs and rows from before, unchanged.
SELECT * FROM sched_jobs ORDER BY jobname;
SELECT view_name, schedule, stale_after FROM metrics_refresh_config ORDER BY view_name;

-- Only admins schedule (42501), even the view's owner.
CREATE ROLE regress_sched_owner;
ALTER MATERIALIZED VIEW sched_v OWNER TO regress_sched_owner;
SET ROLE regress_sched_owner;
SELECT metrics_refresh_schedule('sched_v', '* * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule('sched_v');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ALTER MATERIALIZED VIEW sched_v OWNER TO CURRENT_USER;
SELECT * FROM sched_jobs ORDER BY jobname;

--
-- Unscheduling removes the job and the configuration row: true, then false.
--
SELECT metrics_refresh_unschedule('sched_v') AS removed;
SELECT metrics_refresh_unschedule('sched_v') AS removed_again;
SELECT * FROM sched_jobs ORDER BY jobname;
SELECT view_name FROM metrics_refresh_config ORDER BY view_name;
SELECT metrics_refresh_unschedule('"Sched ''odd'' V"') AS removed;
SELECT * FROM sched_jobs;
SELECT count(*) FROM metrics_refresh_config;
-- A view that was never scheduled.
SELECT metrics_refresh_unschedule('sched_v') AS removed;

--
-- The plain pg_cron alternative to metrics_refresh_schedule() for the platform
-- view: a job that calls the scheduled entry point directly.
--
CREATE MATERIALIZED VIEW platform_metrics AS SELECT id, val FROM sched_src;
CREATE UNIQUE INDEX ON platform_metrics (id);
SELECT cron.schedule('refresh-platform-metrics', '*/5 * * * *',
                     'SELECT refresh_platform_metrics_with_logging()') > 0 AS scheduled;
SELECT * FROM sched_jobs;
-- What the job runs, run once by hand: a logged, scheduled refresh.
UPDATE sched_src SET val = val + 100;
SELECT r->>'success' AS success, r->>'status' AS status, r->>'view' AS view, r->>'source' AS source
FROM (SELECT refresh_platform_metrics_with_logging() AS r) s;
SELECT * FROM platform_metrics ORDER BY id;
SELECT cron.unschedule('refresh-platform-metrics');
SELECT * FROM sched_jobs;

--
-- A real run: every minute, pg_cron runs the job as its user; wait for its log row.
--
CREATE MATERIALIZED VIEW sched_live AS SELECT id, val FROM sched_src;
CREATE UNIQUE INDEX ON sched_live (id);
UPDATE sched_src SET val = val + 1000;
SELECT metrics_refresh_schedule('sched_live', '* * * * *') AS jobid \gset live_
SELECT * FROM sched_jobs;

-- Polls once a second, committing so that each look sees what pg_cron committed.
CREATE PROCEDURE sched_wait_for_run(jobid bigint, max_seconds int)
LANGUAGE plpgsql AS $$
DECLARE
    done boolean;
BEGIN
    FOR i IN 1 .. max_seconds LOOP
        SELECT EXISTS (SELECT FROM metrics_refresh_log
                       WHERE view_name = 'public.sched_live' AND source = 'scheduled')
           AND EXISTS (SELECT FROM cron.job_run_details d
                       WHERE d.jobid = sched_wait_for_run.jobid
                         AND d.status IN ('succeeded', 'failed'))
          INTO done;
        EXIT WHEN done;
        COMMIT;
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
CALL sched_wait_for_run(:live_jobid, 80);

SELECT view_name, status, method, source,
       triggered_by = (SELECT username FROM cron.job WHERE jobid = :live_jobid) AS by_job_user,
       sqlstate, error_message
FROM metrics_refresh_log
WHERE view_name = 'public.sched_live'
ORDER BY id LIMIT 1;
SELECT status, return_message FROM cron.job_run_details
WHERE jobid = :live_jobid ORDER BY runid LIMIT 1;
SELECT * FROM sched_live ORDER BY id;
SELECT metrics_refresh_unschedule('sched_live') AS removed;
SELECT * FROM sched_jobs;

--
-- Without pg_cron in the database, scheduling raises 55000 with a hint;
-- refreshing does not need pg_cron.
--
CREATE DATABASE sched_nocron;
\c sched_nocron
CREATE EXTENSION metrics_refresh;
CREATE MATERIALIZED VIEW nocron_v AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON nocron_v (id);
SELECT count(*) AS pg_cron_installed FROM pg_extension WHERE extname = 'pg_cron';
SELECT metrics_refresh_schedule('nocron_v');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('nocron_v', '* * * * *', '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule('nocron_v');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_config;
SELECT r->>'success' AS success, r->>'status' AS status, r->>'method' AS method
FROM (SELECT metrics_refresh_run('nocron_v') AS r) s;
SELECT view_name, status, source FROM metrics_refresh_log;
\c contrib_regression
DROP DATABASE sched_nocron;

--
-- A dropped or renamed view leaves no job failing on a name that is gone:
-- the extension's event triggers remove its schedule, with a NOTICE.
--
CREATE SCHEMA sched_gone;
CREATE MATERIALIZED VIEW sched_gone.renamed AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON sched_gone.renamed (id);
CREATE MATERIALIZED VIEW sched_gone.dropped AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON sched_gone.dropped (id);
CREATE MATERIALIZED VIEW sched_gone.in_schema AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON sched_gone.in_schema (id);
CREATE MATERIALIZED VIEW sched_gone.kept AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON sched_gone.kept (id);
SELECT metrics_refresh_schedule('sched_gone.renamed') > 0 AS renamed,
       metrics_refresh_schedule('sched_gone.dropped') > 0 AS dropped,
       metrics_refresh_schedule('sched_gone.kept') > 0 AS kept;
SELECT jobname FROM cron.job WHERE jobname LIKE 'metrics_refresh sched_gone.%' ORDER BY 1;
ALTER MATERIALIZED VIEW sched_gone.renamed RENAME TO renamed_now;
DROP MATERIALIZED VIEW sched_gone.dropped;
-- Unrelated DDL says nothing.
CREATE TABLE sched_gone.scratch (x int);
DROP TABLE sched_gone.scratch;
SELECT jobname FROM cron.job WHERE jobname LIKE 'metrics_refresh sched_gone.%' ORDER BY 1;
SELECT view_name FROM metrics_refresh_config WHERE view_name LIKE 'sched_gone.%' ORDER BY 1;
-- Renaming or dropping the schema has the same effect.
SELECT metrics_refresh_schedule('sched_gone.in_schema') > 0 AS in_schema;
ALTER SCHEMA sched_gone RENAME TO sched_gone2;
SELECT jobname FROM cron.job WHERE jobname LIKE 'metrics_refresh sched_gone%' ORDER BY 1;
SELECT metrics_refresh_schedule('sched_gone2.kept') > 0 AS kept_again;
DROP SCHEMA sched_gone2 CASCADE;
SELECT count(*) AS gone_jobs FROM cron.job WHERE jobname LIKE 'metrics_refresh sched_gone%';
SELECT count(*) AS gone_configs FROM metrics_refresh_config WHERE view_name LIKE 'sched_gone%';

-- Every other command that can rename or move a materialized view is swept
-- too: ALTER TABLE (RENAME, SET SCHEMA), ALTER INDEX (RENAME), ALTER
-- MATERIALIZED VIEW SET SCHEMA.  Other ALTER TABLE commands say nothing.
CREATE SCHEMA sched_moved;
CREATE SCHEMA sched_moved_to;
CREATE PROCEDURE sched_make(VARIADIC names text[])
LANGUAGE plpgsql AS $$
DECLARE
    n text;
BEGIN
    FOREACH n IN ARRAY names LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW sched_moved.%I AS SELECT 1 AS id', n);
        EXECUTE format('CREATE UNIQUE INDEX ON sched_moved.%I (id)', n);
        PERFORM metrics_refresh_schedule(format('sched_moved.%I', n)::regclass);
    END LOOP;
END $$;
CALL sched_make('by_table_rename', 'by_table_schema', 'by_index_rename', 'by_matview_schema', 'altered');
SELECT count(*) AS moved_jobs FROM cron.job WHERE jobname LIKE 'metrics_refresh sched_moved.%';
ALTER TABLE sched_moved.by_table_rename RENAME TO by_table_rename2;
ALTER TABLE sched_moved.by_table_schema SET SCHEMA sched_moved_to;
ALTER INDEX sched_moved.by_index_rename RENAME TO by_index_rename2;
ALTER MATERIALIZED VIEW sched_moved.by_matview_schema SET SCHEMA sched_moved_to;
ALTER TABLE sched_moved.altered ALTER COLUMN id SET STATISTICS 100;
SELECT jobname FROM cron.job WHERE jobname LIKE 'metrics_refresh sched_moved%' ORDER BY 1;
SELECT view_name FROM metrics_refresh_config WHERE view_name LIKE 'sched_moved%' ORDER BY 1;
SELECT metrics_refresh_unschedule('sched_moved.altered');
DROP PROCEDURE sched_make(text[]);
DROP SCHEMA sched_moved, sched_moved_to CASCADE;

--
-- DROP EXTENSION removes the pg_cron jobs it created, so that none is left
-- calling a function name that anyone with CREATE on the schema could then
-- define; a DROP that is rolled back keeps them, and DROP SCHEMA ... CASCADE
-- of the extension's schema removes them too.
--
SELECT metrics_refresh_schedule('sched_v') > 0 AS scheduled;
SELECT count(*) AS jobs FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
BEGIN;
DROP EXTENSION metrics_refresh;
SELECT count(*) AS jobs_in_dropping_transaction FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
ROLLBACK;
SELECT count(*) AS jobs_after_rollback FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
DROP EXTENSION metrics_refresh;
SELECT count(*) AS jobs_after_drop FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
-- The drop of another schema leaves them alone.
CREATE SCHEMA sched_ext;
CREATE EXTENSION metrics_refresh SCHEMA sched_ext;
SELECT sched_ext.metrics_refresh_schedule('sched_v') > 0 AS scheduled;
SELECT command FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
CREATE SCHEMA sched_other;
DROP SCHEMA sched_other;
SELECT count(*) AS jobs_after_other_drop FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
DROP SCHEMA sched_ext CASCADE;
SELECT count(*) AS jobs_after_schema_drop FROM cron.job WHERE jobname LIKE 'metrics_refresh %';

-- A job left behind anyway (here the event trigger is disabled, as it would
-- be with session_replication_role = replica) is inert: it calls
-- pg_catalog.metrics_refresh_job, which only a superuser could define
-- again, never a name in the extension's schema, where someone else could
-- have planted a function of the old name.  Renaming the extension's schema
-- does not break the jobs either.
CREATE SCHEMA sched_ext;
CREATE EXTENSION metrics_refresh SCHEMA sched_ext;
SELECT sched_ext.metrics_refresh_schedule('sched_v') > 0 AS scheduled;
ALTER SCHEMA sched_ext RENAME TO sched_ext_renamed;
DO $$ BEGIN EXECUTE (SELECT command FROM cron.job WHERE jobname = 'metrics_refresh public.sched_v'); END $$;
SELECT status, source FROM sched_ext_renamed.metrics_refresh_log;
ALTER EVENT TRIGGER metrics_refresh_before_drop DISABLE;
DROP EXTENSION metrics_refresh;
SELECT command FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
CREATE TABLE public.sched_planted_ran (who name);
CREATE FUNCTION sched_ext_renamed.metrics_refresh_run(regclass, text) RETURNS jsonb
LANGUAGE sql AS $$ INSERT INTO public.sched_planted_ran VALUES (current_user) RETURNING '{}'::jsonb $$;
CREATE FUNCTION public.metrics_refresh_run(regclass, text) RETURNS jsonb
LANGUAGE sql AS $$ INSERT INTO public.sched_planted_ran VALUES (current_user) RETURNING '{}'::jsonb $$;
DO $$ BEGIN EXECUTE (SELECT command FROM cron.job WHERE jobname = 'metrics_refresh public.sched_v'); END $$;
SELECT count(*) AS planted_ran FROM public.sched_planted_ran;
SELECT cron.unschedule('metrics_refresh public.sched_v');
DROP FUNCTION sched_ext_renamed.metrics_refresh_run(regclass, text), public.metrics_refresh_run(regclass, text);
DROP TABLE public.sched_planted_ran;
DROP SCHEMA sched_ext_renamed;
CREATE EXTENSION metrics_refresh;

-- Clean up.
SELECT count(*) AS jobs_left FROM cron.job WHERE jobname LIKE 'metrics_refresh %';
DELETE FROM cron.job_run_details WHERE jobid = :live_jobid;
DROP PROCEDURE sched_wait_for_run(bigint, int);
DROP VIEW sched_jobs;
DROP EXTENSION metrics_refresh CASCADE;
DROP MATERIALIZED VIEW sched_v, "Sched 'odd' V", platform_metrics, sched_live;
DROP TABLE sched_src, sched_table;
DROP ROLE regress_sched_owner;
