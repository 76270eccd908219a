-- The security rule (DESIGN.md): code a view's owner wrote (its query, its
-- indexes' predicates and expressions, the functions they call) runs only as
-- that owner, never as the caller, the background worker's superuser, the
-- pg_cron job's user, an event trigger's or a monitoring function's caller.
-- A planted function records current_user each time it runs and tries to
-- make its owner a superuser; every path that touches the views below is
-- taken, and then the record must show the owners only, and no escalation.
-- Needs pg_cron (what a pg_cron job runs); where the server cannot run it in
-- this database, the test is skipped (expected/owner_rights_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
CREATE EXTENSION metrics_refresh;
SELECT current_user AS su \gset

-- regress_own_admin is a non-superuser admin (member of the admin role)
-- that owns a view; regress_own_owner owns views and is nobody.
CREATE ROLE regress_own_admins NOLOGIN;
CREATE ROLE regress_own_admin LOGIN IN ROLE regress_own_admins;
CREATE ROLE regress_own_owner LOGIN;
SET metrics_refresh.admin_role = 'regress_own_admins';

CREATE TABLE public.own_seen (n bigint GENERATED ALWAYS AS IDENTITY, ran_as name,
                              escalated boolean NOT NULL DEFAULT false,
                              restricted boolean);
-- What each path ran, as recorded (see own_app.took below).
CREATE TABLE public.own_paths (n bigint GENERATED ALWAYS AS IDENTITY, path text,
                               ran_as name, escalated boolean, restricted boolean);
GRANT INSERT, UPDATE, SELECT ON public.own_seen TO PUBLIC;
CREATE SCHEMA own_app;
GRANT USAGE, CREATE ON SCHEMA own_app TO regress_own_admin, regress_own_owner;

-- The planted code, as each owner writes it: record the role it runs as,
-- whether it runs in a security-restricted operation (which refuses to
-- create a temporary table), then try to become a superuser.
CREATE FUNCTION own_app.plant() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    me name := pg_catalog."current_user"();
    row_n bigint;
BEGIN
    INSERT INTO public.own_seen (ran_as) VALUES (me) RETURNING n INTO row_n;
    BEGIN
        CREATE TEMP TABLE own_probe (x int);
        DROP TABLE own_probe;
        UPDATE public.own_seen SET restricted = false WHERE n = row_n;
    EXCEPTION WHEN insufficient_privilege THEN
        UPDATE public.own_seen SET restricted = true WHERE n = row_n;
    END;
    BEGIN
        EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', me);
        UPDATE public.own_seen SET escalated = true WHERE n = row_n;
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    RETURN true;
END $$;
-- IMMUTABLE wrappers: the planner (and the relcache, for index predicates
-- and expressions) evaluates them ahead of time when their arguments are
-- constants.
CREATE FUNCTION own_app.pred(int) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN own_app.plant(); END $$;
CREATE FUNCTION own_app.shift(int) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM own_app.plant(); RETURN 0; END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA own_app TO PUBLIC;

-- Each owner's views: one whose first unique index is partial, with a
-- predicate that runs the planted code; one whose first unique index is on
-- an expression that does; one never populated.  Each also has the plain
-- unique index that a concurrent refresh needs, created last.
CREATE PROCEDURE own_app.make_views(prefix text)
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    EXECUTE format('CREATE MATERIALIZED VIEW own_app.%I AS SELECT 1 AS id, own_app.plant() AS p', prefix || '_pred');
    EXECUTE format('CREATE UNIQUE INDEX ON own_app.%I (id) WHERE own_app.pred(1)', prefix || '_pred');
    EXECUTE format('CREATE MATERIALIZED VIEW own_app.%I AS SELECT 1 AS id', prefix || '_expr');
    EXECUTE format('CREATE UNIQUE INDEX ON own_app.%I ((id + own_app.shift(1)))', prefix || '_expr');
    EXECUTE format('CREATE MATERIALIZED VIEW own_app.%I AS SELECT 1 AS id, own_app.plant() AS p WITH NO DATA', prefix || '_empty');
    EXECUTE format('CREATE UNIQUE INDEX ON own_app.%I (id) WHERE own_app.pred(1)', prefix || '_empty');
    FOREACH v IN ARRAY ARRAY['_pred', '_expr', '_empty'] LOOP
        EXECUTE format('CREATE UNIQUE INDEX ON own_app.%I (id)', prefix || v);
    END LOOP;
END $$;
GRANT EXECUTE ON PROCEDURE own_app.make_views(text) TO PUBLIC;
SET ROLE regress_own_owner;
CALL own_app.make_views('owner');
SET ROLE regress_own_admin;
CALL own_app.make_views('admin');
RESET ROLE;
SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class
WHERE relnamespace = 'own_app'::regnamespace AND relkind = 'm' ORDER BY relname;
DROP PROCEDURE own_app.make_views(text);

-- The record so far (creating the views ran the code as their owners).
SELECT ran_as, escalated, count(*) > 0 AS ran FROM public.own_seen GROUP BY 1, 2 ORDER BY 1;
TRUNCATE public.own_seen;

-- File what the planted code did since the last call under a path's name.
CREATE PROCEDURE own_app.took(path text)
LANGUAGE sql AS $$
    INSERT INTO public.own_paths (path, ran_as, escalated, restricted)
    SELECT path, ran_as, bool_or(escalated), bool_and(restricted)
    FROM public.own_seen GROUP BY ran_as;
    INSERT INTO public.own_paths (path) SELECT path WHERE NOT EXISTS (SELECT FROM public.own_seen);
    DELETE FROM public.own_seen;
$$;
GRANT EXECUTE ON PROCEDURE own_app.took(text) TO PUBLIC;
GRANT INSERT, SELECT ON public.own_paths TO PUBLIC;
GRANT DELETE ON public.own_seen TO PUBLIC;

-- A background run's outcome, polled (at most ~30 s), committing between looks.
CREATE PROCEDURE own_app.wait_run(run_id bigint, INOUT status text DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        status := metrics_refresh_run_status(run_id)->>'status';
        EXIT WHEN status IS DISTINCT FROM 'running';
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
GRANT EXECUTE ON PROCEDURE own_app.wait_run(bigint, text) TO PUBLIC;

--
-- The superuser refreshes the owners' views: synchronously, as Refresh Now,
-- and through the platform functions.
--
SELECT v, r->>'status' AS status, r->>'method' AS method
FROM unnest(ARRAY['own_app.owner_pred', 'own_app.owner_expr', 'own_app.owner_empty']) AS v,
     LATERAL (SELECT metrics_refresh_run(v::regclass) AS r) s
ORDER BY v;
CALL own_app.took('1 metrics_refresh_run by the superuser');
SELECT metrics_refresh_trigger('own_app.admin_pred')->>'status' AS refresh_now;
CALL own_app.took('2 refresh now by the superuser');
SET metrics_refresh.platform_view = 'own_app.owner_pred';
SELECT 'done' AS base_refresh FROM (SELECT refresh_platform_metrics()) s;
SELECT refresh_platform_metrics_with_logging()->>'status' AS with_logging;
SELECT trigger_platform_metrics_refresh()->>'status' AS platform_refresh_now;
RESET metrics_refresh.platform_view;
CALL own_app.took('3 platform functions by the superuser');

--
-- The non-superuser admin starts a background refresh of its own views: the
-- worker connects as the bootstrap superuser.
--
SET ROLE regress_own_admin;
SELECT (metrics_refresh_trigger('own_app.admin_pred', wait => false)->>'run_id')::bigint AS run1 \gset
CALL own_app.wait_run(:run1);
SELECT (metrics_refresh_trigger('own_app.admin_expr', wait => false)->>'run_id')::bigint AS run2 \gset
CALL own_app.wait_run(:run2);
SELECT (metrics_refresh_trigger('own_app.admin_empty', wait => false)->>'run_id')::bigint AS run3 \gset
CALL own_app.wait_run(:run3);
CALL own_app.took('4 background refresh by the non-superuser admin');
-- The owner exception: metrics_refresh_run of one's own view.
SELECT metrics_refresh_run('own_app.admin_pred')->>'status' AS own_run;
RESET ROLE;
SET ROLE regress_own_owner;
SELECT metrics_refresh_run('own_app.owner_pred')->>'status' AS own_run;
RESET ROLE;
CALL own_app.took('5 metrics_refresh_run by the owners');

--
-- What a pg_cron job runs: its command, as the job's user (the extension
-- owner, a superuser).
--
SELECT metrics_refresh_schedule('own_app.owner_pred', '0 0 31 2 *') > 0 AS scheduled;
SELECT metrics_refresh_schedule('own_app.admin_pred', '0 0 31 2 *') > 0 AS scheduled;
SELECT username = :'su' AS job_user_is_su, command FROM cron.job
WHERE jobname LIKE 'metrics_refresh own_app.%' ORDER BY jobname;
DO $$
DECLARE
    cmd text;
BEGIN
    FOR cmd IN SELECT command FROM cron.job WHERE jobname LIKE 'metrics_refresh own_app.%' ORDER BY jobname LOOP
        EXECUTE cmd;
    END LOOP;
END $$;
CALL own_app.took('6 the pg_cron jobs'' commands as the job user');

--
-- Monitoring by the superuser.
--
SELECT metrics_refresh_status('own_app.owner_pred')->>'status' AS card;
SELECT count(*) AS buckets FROM metrics_refresh_timeline('own_app.owner_pred');
SELECT count(*) > 0 AS logged FROM metrics_refresh_history('own_app.owner_pred');
SELECT count(*) > 0 AS overview FROM metrics_refresh_overview;
SELECT metrics_refresh_dashboard('own_app.admin_expr') LIKE '%Metrics Refresh Monitor%' AS dashboard;
CALL own_app.took('7 monitoring by the superuser');

--
-- Event triggers after the superuser's DDL on the views.
--
ALTER MATERIALIZED VIEW own_app.owner_expr RENAME TO owner_expr2;
ALTER TABLE own_app.owner_expr2 RENAME TO owner_expr;
ALTER INDEX own_app.admin_empty RENAME TO admin_empty2;
DROP MATERIALIZED VIEW own_app.admin_empty2;
CALL own_app.took('8 DDL through the event triggers');

--
-- The record, path by path: the planted code ran as the view's owner only,
-- in a security-restricted operation, and never escalated; monitoring and
-- DDL ran none of it.
--
SELECT path, ran_as, escalated, restricted FROM public.own_paths ORDER BY path, ran_as;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname LIKE 'regress\_own\_%' ORDER BY 1;
-- Every refresh above succeeded, so the code did run.
SELECT status, count(*) FROM metrics_refresh_log GROUP BY 1 ORDER BY 1;

SELECT metrics_refresh_unschedule('own_app.owner_pred'), metrics_refresh_unschedule('own_app.admin_pred');
RESET metrics_refresh.admin_role;
DROP EXTENSION metrics_refresh;
DROP SCHEMA own_app CASCADE;
DROP TABLE public.own_seen, public.own_paths;
DROP ROLE regress_own_admin, regress_own_admins, regress_own_owner;
