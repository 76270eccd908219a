-- Access control (DESIGN.md, "Access"): who is a super admin, what each kind
-- of role may call, the private log, refreshes with the view owner's rights,
-- triggered_by after SET ROLE, the superuser-only admin settings (also in a
-- fresh session before the library is loaded), and admin_check's edge cases.
-- Roles of this file start with regress_priv_, other objects with mr_priv_.
-- Needs pg_cron (who may schedule); where the server cannot run it in this
-- database, the test is skipped (expected/privileges_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
CREATE EXTENSION metrics_refresh;
SELECT current_user AS su, current_database() AS db \gset

-- The roles.  regress_priv_admins is the admin role of this test (set
-- below); regress_priv_checked is an admin only through admin_check;
-- regress_priv_web plays PostgREST's "authenticated", judged by a JWT-like
-- claim.
CREATE ROLE regress_priv_admins NOLOGIN;
CREATE ROLE regress_priv_admin LOGIN IN ROLE regress_priv_admins;
CREATE ROLE regress_priv_nested LOGIN IN ROLE regress_priv_admin;
CREATE ROLE regress_priv_plain LOGIN;
CREATE ROLE regress_priv_checked LOGIN;
CREATE ROLE regress_priv_watcher LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_priv_stats LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE regress_priv_owner LOGIN;
CREATE ROLE regress_priv_web LOGIN;
CREATE ROLE regress_priv_nullish LOGIN;
CREATE ROLE regress_priv_failing LOGIN;

-- The application's own admin rule, schema-qualified throughout: a table of
-- verdicts by role name, else a claim in request.jwt.claims.  Every call is
-- recorded with the role it ran as and the claim it saw.
CREATE TABLE public.mr_priv_rules (rolname name PRIMARY KEY, verdict text NOT NULL);
INSERT INTO public.mr_priv_rules VALUES
    ('regress_priv_checked', 'yes'), ('regress_priv_plain', 'no'),
    ('regress_priv_nullish', 'null'), ('regress_priv_failing', 'error');
CREATE TABLE public.mr_priv_check_calls (
    n bigint GENERATED ALWAYS AS IDENTITY, ran_as name, claim text);
GRANT SELECT ON public.mr_priv_rules TO PUBLIC;
GRANT INSERT ON public.mr_priv_check_calls TO PUBLIC;
CREATE FUNCTION public.mr_priv_is_super_admin() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v text;
    claim text := pg_catalog.current_setting('request.jwt.claims', true);
BEGIN
    INSERT INTO public.mr_priv_check_calls (ran_as, claim)
    VALUES (pg_catalog."current_user"(), claim);
    SELECT r.verdict INTO v FROM public.mr_priv_rules r
    WHERE r.rolname = pg_catalog."current_user"();
    IF v IS NULL AND claim IS NOT NULL AND claim <> '' THEN
        RETURN (claim::jsonb ->> 'app_role') IS NOT DISTINCT FROM 'super_admin';
    END IF;
    CASE v
        WHEN 'yes' THEN RETURN true;
        WHEN 'null' THEN RETURN NULL;
        WHEN 'error' THEN RAISE EXCEPTION 'admin rule crashed on purpose';
        ELSE RETURN false;
    END CASE;
END $$;
-- Functions a fresh session must not be able to plug in.
CREATE FUNCTION public.mr_priv_always_true() RETURNS boolean
LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION public.mr_priv_not_boolean() RETURNS integer
LANGUAGE sql IMMUTABLE AS 'SELECT 1';

SET metrics_refresh.admin_role = 'regress_priv_admins';
SET metrics_refresh.admin_check = 'public.mr_priv_is_super_admin';

-- The application: a table only the owner may read, a function that records
-- the role the view's query runs as, the owner's view over both, and a view
-- of the superuser's.
CREATE SCHEMA mr_priv_app;
GRANT USAGE, CREATE ON SCHEMA mr_priv_app TO regress_priv_owner;
GRANT USAGE ON SCHEMA mr_priv_app TO PUBLIC;
CREATE TABLE mr_priv_app.ran_as (n bigint GENERATED ALWAYS AS IDENTITY, rolname name);
GRANT INSERT ON mr_priv_app.ran_as TO regress_priv_owner;
SET ROLE regress_priv_owner;
CREATE TABLE mr_priv_app.secret (id int PRIMARY KEY, amount int NOT NULL);
INSERT INTO mr_priv_app.secret VALUES (1, 10), (2, 20);
CREATE FUNCTION mr_priv_app.note_role() RETURNS name
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO mr_priv_app.ran_as (rolname) VALUES (pg_catalog."current_user"());
    RETURN pg_catalog."current_user"();
END $$;
CREATE MATERIALIZED VIEW mr_priv_app.owned_view AS
SELECT 1 AS id, (SELECT sum(amount) FROM mr_priv_app.secret) AS total,
       mr_priv_app.note_role() AS refreshed_as;
CREATE UNIQUE INDEX ON mr_priv_app.owned_view (id);
RESET ROLE;
CREATE MATERIALIZED VIEW mr_priv_app.su_view AS SELECT 1 AS id, 'superuser''s' AS what;
CREATE UNIQUE INDEX ON mr_priv_app.su_view (id);
GRANT SELECT ON mr_priv_app.owned_view, mr_priv_app.su_view, mr_priv_app.ran_as TO PUBLIC;
-- Anyone may name the platform view (per session or role).
SET metrics_refresh.platform_view = 'mr_priv_app.owned_view';

-- The shared helper, for the access matrix (one query, many calls) and a
-- transaction that must go on after a refused call.
\i :abs_srcdir/include/regress_try.sql

-- A first run by the superuser, so that there is something to monitor.
SELECT metrics_refresh_run('mr_priv_app.su_view')->>'status' AS first_run;
SELECT id AS first_run_id FROM metrics_refresh_log \gset

-- Every call of the access matrix, in order; results are masked to stable text.
CREATE TABLE public.mr_priv_calls (ord int PRIMARY KEY, label text NOT NULL, stmt text NOT NULL);
INSERT INTO public.mr_priv_calls VALUES
 (1, 'is_admin', 'SELECT metrics_refresh_is_admin()::text'),
 (2, 'run owned_view', $$SELECT metrics_refresh_run('mr_priv_app.owned_view')->>'status'$$),
 (3, 'run su_view', $$SELECT metrics_refresh_run('mr_priv_app.su_view')->>'status'$$),
 (4, 'run su_view, scheduled', $$SELECT metrics_refresh_run('mr_priv_app.su_view', 'scheduled')->>'status'$$),
 (5, 'trigger owned_view', $$SELECT metrics_refresh_trigger('mr_priv_app.owned_view')->>'status'$$),
 (6, 'trigger su_view', $$SELECT metrics_refresh_trigger('mr_priv_app.su_view', true)->>'status'$$),
 (7, 'trigger_platform', $$SELECT trigger_platform_metrics_refresh()->>'status'$$),
 (8, 'refresh_platform', $$SELECT 'refreshed' FROM refresh_platform_metrics()$$),
 (9, 'platform_with_logging', $$SELECT refresh_platform_metrics_with_logging()->>'status'$$),
 (10, 'status', $$SELECT metrics_refresh_status('mr_priv_app.su_view')->>'view'$$),
 (11, 'timeline', $$SELECT count(*) FROM metrics_refresh_timeline('mr_priv_app.su_view')$$),
 (12, 'history', $$SELECT count(*) > 0 FROM metrics_refresh_history(NULL, 1000)$$),
 (13, 'history of a view', $$SELECT count(*) > 0 FROM metrics_refresh_history('mr_priv_app.su_view')$$),
 (14, 'run_status', format($$SELECT metrics_refresh_run_status(%s)->>'view'$$, :first_run_id)),
 (15, 'overview', $$SELECT count(*) FROM metrics_refresh_overview WHERE view_name = 'mr_priv_app.su_view'$$),
 (16, 'status_all', $$SELECT count(*) FROM metrics_refresh_status_all() WHERE view_name = 'mr_priv_app.su_view'$$),
 (17, 'dashboard', $$SELECT metrics_refresh_dashboard('mr_priv_app.su_view') LIKE '%mr_priv_app.su_view%'$$),
 (18, 'prune', $$SELECT metrics_refresh_prune('100 years')$$),
 (19, 'schedule', $$SELECT metrics_refresh_schedule('mr_priv_app.su_view', '*/5 * * * *') > 0$$),
 (20, 'unschedule', $$SELECT metrics_refresh_unschedule('mr_priv_app.su_view')$$),
 (21, 'unschedule again', $$SELECT metrics_refresh_unschedule('mr_priv_app.su_view')$$),
 (22, 'log: select', 'SELECT count(*) >= 0 FROM metrics_refresh_log'),
 (23, 'log: insert', $$WITH i AS (INSERT INTO metrics_refresh_log (view_name, started_at, status, source, triggered_by) VALUES ('mr_priv_app.su_view', now(), 'success', 'manual', 'forged') RETURNING 1) SELECT count(*) FROM i$$),
 (24, 'log: update', $$WITH u AS (UPDATE metrics_refresh_log SET triggered_by = 'forged' RETURNING 1) SELECT count(*) >= 0 FROM u$$),
 (25, 'log: delete', 'WITH d AS (DELETE FROM metrics_refresh_log RETURNING 1) SELECT count(*) >= 0 FROM d'),
 (26, 'log: truncate', 'TRUNCATE metrics_refresh_log'),
 (27, 'log: sequence', $$SELECT nextval('metrics_refresh_log_id_seq') > 0$$),
 (28, 'config: select', 'SELECT count(*) >= 0 FROM metrics_refresh_config'),
 (29, 'config: insert', $$WITH i AS (INSERT INTO metrics_refresh_config (view_name, schedule) VALUES ('mr_priv_app.forged', '* * * * *') RETURNING 1) SELECT count(*) FROM i$$),
 (30, 'config: update', $$WITH u AS (UPDATE metrics_refresh_config SET schedule = '* * * * *' RETURNING 1) SELECT count(*) >= 0 FROM u$$),
 (31, 'config: delete', 'WITH d AS (DELETE FROM metrics_refresh_config RETURNING 1) SELECT count(*) >= 0 FROM d'),
 (32, 'config: truncate', 'TRUNCATE metrics_refresh_config');
GRANT SELECT ON public.mr_priv_calls TO PUBLIC;

-- What each call left behind: log rows by status and caller, jobs, config.
CREATE VIEW public.mr_priv_effects AS
SELECT (SELECT count(*) FROM metrics_refresh_log) AS log_rows,
       (SELECT count(*) FROM metrics_refresh_config) AS config_rows,
       (SELECT count(*) FROM cron.job) AS cron_jobs;

--
-- The superuser: everything, including the tables themselves (in a
-- transaction that is rolled back, since it deletes the log).
--
SELECT metrics_refresh_is_admin() AS superuser_is_admin;
BEGIN;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls ORDER BY ord;
ROLLBACK;
SELECT * FROM public.mr_priv_effects;

--
-- A member of the admin role: every function; no direct access to the tables.
--
SELECT count(*) AS log_rows_before FROM metrics_refresh_log \gset
SET ROLE regress_priv_admin;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls ORDER BY ord;
RESET ROLE;
-- Seven refreshes logged (run x3, trigger x2, trigger_platform, with_logging),
-- all by regress_priv_admin; nothing forged; no job and no configuration left.
SELECT status, source, triggered_by, count(*)
FROM metrics_refresh_log WHERE id > :first_run_id
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT * FROM public.mr_priv_effects;
-- A member of a member of the admin role is an admin too.
SET ROLE regress_priv_nested;
SELECT metrics_refresh_is_admin() AS nested_member_is_admin;
RESET ROLE;

--
-- An admin by admin_check: every function; no direct access to the tables.
--
SELECT max(id) AS mark FROM metrics_refresh_log \gset
SET ROLE regress_priv_checked;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls ORDER BY ord;
RESET ROLE;
SELECT status, source, triggered_by, count(*)
FROM metrics_refresh_log WHERE id > :mark
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT * FROM public.mr_priv_effects;

--
-- Not admins: monitoring only for pg_monitor and pg_read_all_stats members,
-- nothing for the others; the owner may use metrics_refresh_run on its own
-- view only.  None of the refused calls logs anything.
--
SELECT max(id) AS mark FROM metrics_refresh_log \gset
SET ROLE regress_priv_watcher;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls ORDER BY ord;
SET ROLE regress_priv_stats;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls WHERE ord BETWEEN 10 AND 17 ORDER BY ord;
SET ROLE regress_priv_plain;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls ORDER BY ord;
SET ROLE regress_priv_owner;
SELECT label, regress_try(stmt) FROM public.mr_priv_calls ORDER BY ord;
RESET ROLE;
-- Only the owner's own run was logged.
SELECT view_name, status, source, triggered_by
FROM metrics_refresh_log WHERE id > :mark ORDER BY id;
SELECT * FROM public.mr_priv_effects;

-- The refusals say who may.
SET ROLE regress_priv_plain;
SELECT metrics_refresh_trigger('mr_priv_app.su_view');
SELECT metrics_refresh_run('mr_priv_app.owned_view');
SELECT metrics_refresh_prune('1 day');
SELECT metrics_refresh_status('mr_priv_app.su_view');
RESET ROLE;

--
-- An admin who does not own the view refreshes it with the owner's rights:
-- the query reads a table only the owner can read, and records that it ran as
-- the owner; triggered_by is the admin.
--
SELECT max(id) AS mark FROM metrics_refresh_log \gset
TRUNCATE mr_priv_app.ran_as;
SET ROLE regress_priv_admin;
SELECT count(*) FROM mr_priv_app.secret;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_priv_owner;
INSERT INTO mr_priv_app.secret VALUES (3, 30);
SET ROLE regress_priv_admin;
SELECT r->>'status' AS status, r->>'method' AS method, r->>'triggered_by' AS triggered_by
FROM metrics_refresh_run('mr_priv_app.owned_view') r;
SELECT r->>'status' AS status, r->>'triggered_by' AS triggered_by
FROM metrics_refresh_trigger('mr_priv_app.owned_view') r;
SELECT total, refreshed_as FROM mr_priv_app.owned_view;
RESET ROLE;
SELECT rolname, count(*) FROM mr_priv_app.ran_as GROUP BY 1 ORDER BY 1;
SELECT status, triggered_by FROM metrics_refresh_log WHERE id > :mark ORDER BY id;

-- The same in a background worker: the refresh runs as the owner, the log
-- names the admin.
TRUNCATE mr_priv_app.ran_as;
SET ROLE regress_priv_admin;
SELECT r->>'status' AS status, r->>'triggered_by' AS triggered_by
FROM metrics_refresh_trigger('mr_priv_app.owned_view', wait => false) r;
RESET ROLE;
SELECT max(id) AS bg_run_id FROM metrics_refresh_log \gset
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT status FROM public.metrics_refresh_log
                   WHERE id = (SELECT max(id) FROM public.metrics_refresh_log)) <> 'running';
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT status, triggered_by FROM metrics_refresh_log WHERE id = :bg_run_id;
SELECT rolname, count(*) FROM mr_priv_app.ran_as GROUP BY 1 ORDER BY 1;

-- "Nothing more": once the owner may no longer read the table, even the
-- superuser's refresh fails (logged, old contents kept).
REVOKE SELECT ON mr_priv_app.secret FROM regress_priv_owner;
SELECT r->>'success' AS success, r->>'sqlstate' AS sqlstate, r->>'message' AS message
FROM metrics_refresh_run('mr_priv_app.owned_view') r;
SELECT total FROM mr_priv_app.owned_view;
GRANT SELECT ON mr_priv_app.secret TO regress_priv_owner;

--
-- triggered_by is the role after SET ROLE, as PostgREST does it: a web role
-- judged by its JWT claim through admin_check.
--
SELECT max(id) AS mark FROM metrics_refresh_log \gset
TRUNCATE public.mr_priv_check_calls;
SET ROLE regress_priv_web;
SELECT metrics_refresh_is_admin() AS web_without_claim;
SELECT trigger_platform_metrics_refresh()->>'status';
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '{"sub": "42", "app_role": "member"}';
SELECT metrics_refresh_is_admin() AS web_as_member;
SELECT trigger_platform_metrics_refresh()->>'status';
\echo :LAST_ERROR_SQLSTATE
SET request.jwt.claims = '{"sub": "7", "app_role": "super_admin"}';
SELECT metrics_refresh_is_admin() AS web_as_super_admin;
SELECT r->>'status' AS status, r->>'triggered_by' AS triggered_by
FROM trigger_platform_metrics_refresh() r;
RESET request.jwt.claims;
RESET ROLE;
SELECT view_name, status, source, triggered_by FROM metrics_refresh_log WHERE id > :mark ORDER BY id;
-- admin_check ran as the caller, and saw its claim.
SELECT ran_as, claim FROM public.mr_priv_check_calls ORDER BY n;

-- The session's claim does not make the owner's code an admin: not in a
-- view's query that a claimed super admin refreshes (it runs as the view's
-- owner), nor in the owner's SECURITY DEFINER function.  Such code that
-- asked would otherwise act as an admin (prune the log, say).
SET ROLE regress_priv_owner;
CREATE MATERIALIZED VIEW mr_priv_app.trap AS
    SELECT 1 AS id, metrics_refresh_is_admin() AS judged_admin;
CREATE UNIQUE INDEX ON mr_priv_app.trap (id);
CREATE FUNCTION mr_priv_app.owner_asks() RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS 'SELECT metrics_refresh_is_admin()';
SET ROLE regress_priv_web;
SET request.jwt.claims = '{"sub": "7", "app_role": "super_admin"}';
SELECT metrics_refresh_is_admin() AS web_as_super_admin;
SELECT metrics_refresh_run('mr_priv_app.trap')->>'status' AS refreshed;
SELECT mr_priv_app.owner_asks() AS definer_judged_admin;
RESET request.jwt.claims;
RESET ROLE;
SELECT judged_admin AS view_query_judged_admin FROM mr_priv_app.trap;
DROP FUNCTION mr_priv_app.owner_asks();
DROP MATERIALIZED VIEW mr_priv_app.trap;

--
-- admin_check returning NULL or raising means "no"; a raising check leaves
-- the caller's transaction usable.
--
SET ROLE regress_priv_nullish;
SELECT metrics_refresh_is_admin() AS null_verdict;
SELECT metrics_refresh_trigger('mr_priv_app.su_view')->>'status';
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_priv_failing;
SELECT metrics_refresh_is_admin() AS failing_check;
RESET ROLE;
CREATE TABLE public.mr_priv_tx (step int);
GRANT INSERT, SELECT ON public.mr_priv_tx TO regress_priv_failing;
TRUNCATE public.mr_priv_check_calls;
BEGIN;
SET LOCAL ROLE regress_priv_failing;
INSERT INTO public.mr_priv_tx VALUES (1);
SELECT metrics_refresh_is_admin() AS failing_check;
SELECT regress_try('SELECT metrics_refresh_status(''mr_priv_app.su_view'')->>''status''') AS failing_check;
INSERT INTO public.mr_priv_tx VALUES (2);
COMMIT;
SELECT step FROM public.mr_priv_tx ORDER BY step;
-- The failing check's own work was rolled back with it.
SELECT count(*) AS calls_kept FROM public.mr_priv_check_calls;
-- A check that does not exist, or does not return boolean: "no", with a WARNING.
SET metrics_refresh.admin_check = 'public.mr_priv_no_such_function';
SET ROLE regress_priv_checked;
SELECT metrics_refresh_is_admin() AS missing_check;
RESET ROLE;
SET metrics_refresh.admin_check = 'public.mr_priv_not_boolean';
SET ROLE regress_priv_checked;
SELECT metrics_refresh_is_admin() AS non_boolean_check;
RESET ROLE;
-- Without EXECUTE on the check: "no".
SET metrics_refresh.admin_check = 'public.mr_priv_is_super_admin';
REVOKE EXECUTE ON FUNCTION public.mr_priv_is_super_admin() FROM PUBLIC;
SET ROLE regress_priv_checked;
SELECT metrics_refresh_is_admin() AS check_without_execute;
RESET ROLE;
GRANT EXECUTE ON FUNCTION public.mr_priv_is_super_admin() TO PUBLIC;
-- A value with parentheses is refused.
SET metrics_refresh.admin_check = 'public.mr_priv_is_super_admin()';
SHOW metrics_refresh.admin_check;
-- An admin_role that does not exist makes nobody an admin through it.
SET metrics_refresh.admin_role = 'regress_priv_no_such_role';
SET ROLE regress_priv_admin;
SELECT metrics_refresh_is_admin() AS admin_role_missing;
RESET ROLE;
SET metrics_refresh.admin_role = 'regress_priv_admins';
-- The default admin role is metrics_refresh_admin.
RESET metrics_refresh.admin_role;
SHOW metrics_refresh.admin_role;
CREATE ROLE metrics_refresh_admin NOLOGIN;
GRANT metrics_refresh_admin TO regress_priv_plain;
SET ROLE regress_priv_plain;
SELECT metrics_refresh_is_admin() AS default_admin_role_member;
RESET ROLE;
DROP ROLE metrics_refresh_admin;
SET metrics_refresh.admin_role = 'regress_priv_admins';

--
-- Only a superuser may set admin_role and admin_check: an ordinary user's SET
-- is refused (42501) and changes nothing.
--
SET ROLE regress_priv_plain;
SET metrics_refresh.admin_role = 'regress_priv_plain';
SET metrics_refresh.admin_check = 'public.mr_priv_always_true';
SELECT set_config('metrics_refresh.admin_role', 'regress_priv_plain', false);
BEGIN;
SET LOCAL metrics_refresh.admin_check = 'public.mr_priv_always_true';
ROLLBACK;
ALTER ROLE regress_priv_plain SET metrics_refresh.admin_role = 'regress_priv_plain';
SHOW metrics_refresh.admin_role;
SHOW metrics_refresh.admin_check;
SELECT metrics_refresh_is_admin() AS plain_after_set;
-- platform_view may be set by anyone, but grants nothing.
SET metrics_refresh.platform_view = 'mr_priv_app.su_view';
SELECT trigger_platform_metrics_refresh()->>'status';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET metrics_refresh.platform_view = 'mr_priv_app.owned_view';

--
-- The same in fresh sessions, where the library is not loaded yet when the
-- user sets the values: the settings of the database (made by a superuser)
-- apply, the user's do not.
--
ALTER DATABASE :"db" SET metrics_refresh.admin_role = 'regress_priv_admins';
ALTER DATABASE :"db" SET metrics_refresh.admin_check = 'public.mr_priv_is_super_admin';
\c - regress_priv_plain
SELECT count(*) AS library_loaded FROM pg_settings WHERE name = 'metrics_refresh.admin_role';
SET metrics_refresh.admin_role = 'regress_priv_plain';
SET metrics_refresh.admin_check = 'public.mr_priv_always_true';
SELECT metrics_refresh_is_admin() AS fresh_plain;
SHOW metrics_refresh.admin_role;
SHOW metrics_refresh.admin_check;
SELECT metrics_refresh_trigger('mr_priv_app.su_view')->>'status';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_refresh_log;
\echo :LAST_ERROR_SQLSTATE
\c - regress_priv_plain
ALTER ROLE regress_priv_plain SET metrics_refresh.admin_role = 'regress_priv_plain';
SELECT set_config('metrics_refresh.admin_check', 'public.mr_priv_always_true', false);
SELECT metrics_refresh_is_admin() AS fresh_plain_set_config;
SHOW metrics_refresh.admin_check;
-- Settings sent in the connection's startup packet count no more, and do not
-- hide the database's settings either.
\c -reuse-previous=on "user=regress_priv_plain options='-c metrics_refresh.admin_role=regress_priv_plain -c metrics_refresh.admin_check=public.mr_priv_always_true'"
SELECT metrics_refresh_is_admin() AS fresh_plain_startup_options;
SHOW metrics_refresh.admin_role;
SHOW metrics_refresh.admin_check;
-- A fresh session of an admin-role member and of an admin by admin_check,
-- configured by the database settings only.
\c -reuse-previous=on "user=regress_priv_admin options=''"
SELECT metrics_refresh_is_admin() AS fresh_admin;
SELECT metrics_refresh_trigger('mr_priv_app.su_view')->>'triggered_by' AS fresh_admin;
\c - regress_priv_checked
SELECT metrics_refresh_is_admin() AS fresh_checked;
SELECT metrics_refresh_trigger('mr_priv_app.su_view')->>'triggered_by' AS fresh_checked;
\c - :su
ALTER DATABASE :"db" RESET metrics_refresh.admin_role;
ALTER DATABASE :"db" RESET metrics_refresh.admin_check;
SELECT rolname, setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
WHERE rolname LIKE 'regress\_priv\_%';

-- An admin_check function that itself asks whether its caller is an admin
-- gets "no" for its own part (no endless recursion): a plain role stays a
-- non-admin, an admin-role member stays an admin.
CREATE FUNCTION public.mr_priv_asks_back() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT public.metrics_refresh_is_admin() $$;
SET metrics_refresh.admin_check = 'public.mr_priv_asks_back';
SET metrics_refresh.admin_role = 'regress_priv_admins';
SET ROLE regress_priv_plain;
SELECT metrics_refresh_is_admin() AS plain_with_recursive_check;
RESET ROLE;
SET ROLE regress_priv_admin;
SELECT metrics_refresh_is_admin() AS admin_with_recursive_check;
RESET ROLE;
RESET metrics_refresh.admin_check;
RESET metrics_refresh.admin_role;
DROP FUNCTION public.mr_priv_asks_back();

--
-- admin_check in parallel mode, and after a cancel inside it: the answer is
-- right and nothing is left behind.  The check here reads a claim and writes
-- nothing, as a parallel worker may not write.
--
CREATE FUNCTION public.mr_priv_claim_check() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
                    ->> 'app_role' = 'super_admin', false)
$$;
-- A function mislabelled PARALLEL SAFE that asks (plpgsql: not inlined).
CREATE FUNCTION public.mr_priv_wrapped() RETURNS boolean
LANGUAGE plpgsql PARALLEL SAFE AS $$ BEGIN RETURN public.metrics_refresh_is_admin(); END $$;
CREATE TABLE public.mr_priv_par AS SELECT g FROM generate_series(1, 2000) g;
ANALYZE public.mr_priv_par;
GRANT SELECT ON public.mr_priv_par TO PUBLIC;
SET metrics_refresh.admin_check = 'public.mr_priv_claim_check';
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET ROLE regress_priv_web;
SET request.jwt.claims = '{"app_role": "super_admin"}';
-- metrics_refresh_is_admin() is PARALLEL UNSAFE: a query that asks is not
-- run in parallel, and gets the right answer.
EXPLAIN (COSTS OFF) SELECT count(*) FROM public.mr_priv_par;
EXPLAIN (COSTS OFF) SELECT metrics_refresh_is_admin(), count(*) FROM public.mr_priv_par;
SELECT metrics_refresh_is_admin() AS parallel_capable_query, count(*) FROM public.mr_priv_par;
-- Asked from parallel workers, through the mislabelled function: still right.
EXPLAIN (COSTS OFF) SELECT count(*) FROM public.mr_priv_par WHERE public.mr_priv_wrapped();
SELECT count(*) AS rows_where_admin FROM public.mr_priv_par WHERE public.mr_priv_wrapped();
SET request.jwt.claims = '{"app_role": "user"}';
SELECT count(*) AS rows_where_admin FROM public.mr_priv_par WHERE public.mr_priv_wrapped();
SET request.jwt.claims = '{"app_role": "super_admin"}';
SELECT metrics_refresh_is_admin() AS after_parallel;
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- A cancel (statement_timeout) inside the check cancels the statement; it
-- is not an answer, and the next call answers right.
CREATE FUNCTION public.mr_priv_slow_check() RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_catalog.pg_sleep(5); RETURN true; END $$;
SET metrics_refresh.admin_check = 'public.mr_priv_slow_check';
SET ROLE regress_priv_web;
SET statement_timeout = '200ms';
SELECT metrics_refresh_is_admin() AS slow_check;
RESET statement_timeout;
RESET ROLE;
SET metrics_refresh.admin_check = 'public.mr_priv_claim_check';
SET ROLE regress_priv_web;
SELECT metrics_refresh_is_admin() AS after_cancel;
RESET ROLE;
RESET request.jwt.claims;
RESET metrics_refresh.admin_check;
DROP TABLE public.mr_priv_par;
DROP FUNCTION public.mr_priv_claim_check(), public.mr_priv_wrapped(), public.mr_priv_slow_check();

DROP VIEW public.mr_priv_effects;
DROP EXTENSION metrics_refresh CASCADE;
DROP SCHEMA mr_priv_app CASCADE;
DROP TABLE public.mr_priv_calls, public.mr_priv_rules, public.mr_priv_check_calls, public.mr_priv_tx;
DROP FUNCTION public.regress_try(text, boolean), public.mr_priv_is_super_admin(),
    public.mr_priv_always_true(), public.mr_priv_not_boolean();
DROP ROLE regress_priv_nested, regress_priv_admin, regress_priv_admins, regress_priv_plain, regress_priv_checked,
    regress_priv_watcher, regress_priv_stats, regress_priv_owner, regress_priv_web, regress_priv_nullish,
    regress_priv_failing;
