-- Refresh without waiting: metrics_refresh_trigger(view, wait => false),
-- trigger_platform_metrics_refresh(wait => false), the background worker and
-- metrics_refresh_run_status().  Varying values (run ids, times, durations,
-- pids) are checked in the queries.  A second session is needed for some
-- checks: see test/specs/background_overlap.spec and test/worker_slots.sh.
CREATE EXTENSION metrics_refresh;

-- Admins of this test: members of regress_bg_admins (admin_role is superuser-only,
-- so it is set here, as the superuser, for this session).
CREATE ROLE regress_bg_admins NOLOGIN;
CREATE ROLE regress_bg_admin LOGIN IN ROLE regress_bg_admins;
CREATE ROLE regress_bg_owner LOGIN;
CREATE ROLE regress_bg_plain LOGIN;
CREATE ROLE regress_bg_watcher LOGIN IN ROLE pg_monitor;
SET metrics_refresh.admin_role = 'regress_bg_admins';

-- A view whose query sleeps bg_knobs.sleep_s seconds; its "generation"
-- column shows which refresh produced its contents.
CREATE TABLE bg_knobs (sleep_s float8 NOT NULL, generation int NOT NULL);
INSERT INTO bg_knobs VALUES (0, 1);
CREATE FUNCTION bg_generation() RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k public.bg_knobs;
BEGIN
    -- Qualified: a refresh runs with search_path pinned to pg_catalog, pg_temp.
    SELECT * INTO k FROM public.bg_knobs;
    PERFORM pg_catalog.pg_sleep(k.sleep_s);
    RETURN k.generation;
END $$;
CREATE MATERIALIZED VIEW bg_slow AS SELECT 1 AS id, bg_generation() AS generation;
CREATE UNIQUE INDEX ON bg_slow (id);
CREATE MATERIALIZED VIEW bg_fast AS SELECT 1 AS id, now() AS at;
CREATE UNIQUE INDEX ON bg_fast (id);
CREATE MATERIALIZED VIEW bg_platform AS SELECT 1 AS id, 42 AS total_accounts;
CREATE UNIQUE INDEX ON bg_platform (id);
CREATE MATERIALIZED VIEW bg_unpopulated AS SELECT 1 AS id WITH NO DATA;
CREATE UNIQUE INDEX ON bg_unpopulated (id);
CREATE MATERIALIZED VIEW bg_noindex AS SELECT 1 AS id;
CREATE MATERIALIZED VIEW bg_owned AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON bg_owned (id);
ALTER MATERIALIZED VIEW bg_owned OWNER TO regress_bg_owner;

-- Result objects, by label.
CREATE TABLE bg_results (label text PRIMARY KEY, r jsonb NOT NULL);
GRANT ALL ON bg_results TO PUBLIC;

-- Poll metrics_refresh_run_status() of the run labelled "started" until it
-- is no longer running (at most ~30 s), committing between looks; store the
-- last answer as "done".
CREATE PROCEDURE bg_wait_run(started text, done text)
LANGUAGE plpgsql AS $$
DECLARE
    id bigint := (SELECT (r->>'run_id')::bigint FROM bg_results WHERE label = started);
    res jsonb;
BEGIN
    FOR i IN 1 .. 300 LOOP
        res := metrics_refresh_run_status(id);
        EXIT WHEN res IS NULL OR res->>'status' <> 'running';
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
    INSERT INTO bg_results VALUES (done, coalesce(res, '{"status": "unknown run"}'));
END $$;

-- Wait (at most ~30 s) until exactly "want" metrics_refresh workers exist,
-- sleeping in a view's query if "sleeping"; report whether that happened.
-- It does not commit (so it also works in a transaction block): it drops
-- the transaction's cached copy of pg_stat_activity between looks.
CREATE PROCEDURE bg_wait_workers(want int, sleeping boolean, INOUT reached boolean DEFAULT false)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        PERFORM pg_stat_clear_snapshot();
        reached := (SELECT count(*) FROM pg_stat_activity
                    WHERE backend_type LIKE '%metrics_refresh%'
                      AND (NOT sleeping OR wait_event = 'PgSleep')) = want;
        EXIT WHEN reached;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;

-- Show a finished run's result object with its varying values checked: the
-- duration in the message is masked, the superuser running this test is
-- shown as "(session user)".
CREATE VIEW bg_shown AS
SELECT label, r->>'status' AS status, r->'success' AS success, r->>'method' AS method,
       r->>'view' AS view, r->>'source' AS source,
       CASE r->>'triggered_by' WHEN session_user THEN '(session user)'
            ELSE r->>'triggered_by' END AS triggered_by,
       (r->>'duration_ms')::float8 > 0 AS has_duration,
       (r->>'finished_at')::timestamptz >= (r->>'started_at')::timestamptz AS finished_after_start,
       r->>'sqlstate' AS sqlstate,
       regexp_replace(r->>'message', ' in [0-9.]+ ms$', ' in N ms') AS message
FROM bg_results;

--
-- wait => false returns at once with the 'running' object; its row is
-- already committed; polling ends at 'success'.
--
UPDATE bg_knobs SET sleep_s = 2, generation = 2;
INSERT INTO bg_results SELECT 'slow', metrics_refresh_trigger('bg_slow', wait => false);
-- The whole object; run_id, started_at and triggered_by checked rather than shown.
SELECT r - 'run_id' - 'started_at' - 'triggered_by' AS running_object,
       jsonb_typeof(r->'run_id') AS run_id_type,
       (r->>'started_at')::timestamptz <= clock_timestamp() AS started_at_ok,
       r->>'triggered_by' = current_user AS by_caller
FROM bg_results WHERE label = 'slow';
-- A new statement sees the committed 'running' row, and its run status.
SELECT l.view_name, l.status, l.source, l.triggered_by = current_user AS by_caller,
       l.finished_at IS NULL AS unfinished, l.method
FROM metrics_refresh_log l JOIN bg_results b ON l.id = (b.r->>'run_id')::bigint
WHERE b.label = 'slow';
SELECT metrics_refresh_run_status((r->>'run_id')::bigint) = r AS same_object
FROM bg_results WHERE label = 'slow';
-- Once the worker is inside the view's query (sleeping in it), the view
-- still has its old contents.
CALL bg_wait_workers(1, true);
SELECT * FROM bg_slow;
-- The worker shows in pg_stat_activity while it refreshes: its own backend
-- type and application name, this database, and the refresh as its query.
SELECT backend_type, application_name, datname = current_database() AS same_db,
       state, wait_event,
       query = format('metrics_refresh: refresh of %s (run %s)', 'public.bg_slow',
                      (SELECT r->>'run_id' FROM bg_results WHERE label = 'slow')) AS query_names_the_run
FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%';
CALL bg_wait_run('slow', 'slow done');
SELECT * FROM bg_shown WHERE label = 'slow done';
SELECT (r->>'duration_ms')::float8 >= 2000 AS ran_the_slow_query,
       (r->>'run_id') = (SELECT r->>'run_id' FROM bg_results WHERE label = 'slow') AS same_run
FROM bg_results WHERE label = 'slow done';
SELECT * FROM bg_slow;
-- The log row is finished: one row for the run, no duplicate.
SELECT l.status, l.method, l.source, l.triggered_by = current_user AS by_caller,
       l.duration_ms > 0 AS has_duration, l.finished_at >= l.started_at AS finished,
       l.sqlstate, l.error_message
FROM metrics_refresh_log l WHERE l.view_name = 'public.bg_slow' ORDER BY l.id;
-- The worker exits when its refresh ends.
CALL bg_wait_workers(0, false);

--
-- A never-populated view gets a full refresh in the background too.
--
INSERT INTO bg_results SELECT 'unpopulated', metrics_refresh_trigger('bg_unpopulated', false);
CALL bg_wait_run('unpopulated', 'unpopulated done');
SELECT * FROM bg_shown WHERE label = 'unpopulated done';
SELECT * FROM bg_unpopulated;

--
-- A failing refresh in the background: logged as error with its SQLSTATE,
-- hint kept.
--
INSERT INTO bg_results SELECT 'noindex', metrics_refresh_trigger('bg_noindex', false);
SELECT r->>'status' AS status, r->'success' AS success FROM bg_results WHERE label = 'noindex';
CALL bg_wait_run('noindex', 'noindex done');
SELECT * FROM bg_shown WHERE label = 'noindex done';
SELECT r->>'hint' LIKE 'Create a unique index%' AS has_hint FROM bg_results WHERE label = 'noindex done';
SELECT status, method, sqlstate, error_hint IS NOT NULL AS has_hint
FROM metrics_refresh_log WHERE view_name = 'public.bg_noindex' ORDER BY id;

--
-- triggered_by is the caller, also after SET ROLE to an admin role; an admin
-- may poll the run.
--
SET ROLE regress_bg_admin;
SELECT metrics_refresh_is_admin() AS bg_admin_is_admin;
INSERT INTO bg_results SELECT 'as admin', metrics_refresh_trigger('bg_fast', wait => false);
SELECT r->>'status' AS status, r->>'triggered_by' AS triggered_by FROM bg_results WHERE label = 'as admin';
CALL bg_wait_run('as admin', 'as admin done');
RESET ROLE;
SELECT * FROM bg_shown WHERE label = 'as admin done';
SELECT status, triggered_by, source FROM metrics_refresh_log WHERE view_name = 'public.bg_fast' ORDER BY id;

--
-- trigger_platform_metrics_refresh(wait => false): the platform view in the
-- background; called with no argument it still waits.
--
SET metrics_refresh.platform_view = 'public.bg_platform';
INSERT INTO bg_results SELECT 'platform', trigger_platform_metrics_refresh(wait => false);
SELECT r - 'run_id' - 'started_at' - 'triggered_by' AS running_object,
       r->>'triggered_by' = current_user AS by_caller
FROM bg_results WHERE label = 'platform';
-- (Committed: the row is there, running or, this view being fast, done.)
SELECT status IN ('running', 'success') AS committed_row
FROM metrics_refresh_log
WHERE id = (SELECT (r->>'run_id')::bigint FROM bg_results WHERE label = 'platform');
CALL bg_wait_run('platform', 'platform done');
SELECT * FROM bg_shown WHERE label = 'platform done';
INSERT INTO bg_results SELECT 'platform sync', trigger_platform_metrics_refresh();
SELECT * FROM bg_shown WHERE label = 'platform sync';
SELECT status, source FROM metrics_refresh_log WHERE view_name = 'public.bg_platform' ORDER BY id;
RESET metrics_refresh.platform_view;
-- metrics_refresh_trigger with its default (wait => true) refreshes at once.
INSERT INTO bg_results SELECT 'trigger sync', metrics_refresh_trigger('bg_fast');
SELECT * FROM bg_shown WHERE label = 'trigger sync';

--
-- A caller whose statement_timeout is shorter than the refresh gets the
-- 'running' answer; the refresh goes on and is logged as a success.
--
UPDATE bg_knobs SET sleep_s = 2, generation = 3;
SET statement_timeout = '500ms';
INSERT INTO bg_results SELECT 'short timeout', metrics_refresh_trigger('bg_slow', wait => false);
RESET statement_timeout;
SELECT r->>'status' AS status, r->'success' AS success FROM bg_results WHERE label = 'short timeout';
CALL bg_wait_run('short timeout', 'short timeout done');
SELECT * FROM bg_shown WHERE label = 'short timeout done';
SELECT (r->>'duration_ms')::float8 >= 2000 AS ran_the_slow_query
FROM bg_results WHERE label = 'short timeout done';
SELECT * FROM bg_slow;
CALL bg_wait_workers(0, false);

--
-- Overlap: while a background refresh of a view runs, another attempt is
-- skipped at once (background or not), logged, and nothing queues.
--
UPDATE bg_knobs SET sleep_s = 3, generation = 4;
INSERT INTO bg_results SELECT 'first', metrics_refresh_trigger('bg_slow', wait => false);
CALL bg_wait_workers(1, true);
INSERT INTO bg_results SELECT 'second', metrics_refresh_trigger('bg_slow', wait => false);
INSERT INTO bg_results SELECT 'third', metrics_refresh_trigger('bg_slow');
INSERT INTO bg_results SELECT 'fourth', metrics_refresh_run('bg_slow');
SELECT label, r->>'status' AS status, r->'success' AS success, r->>'message' AS message,
       r ? 'sqlstate' AS has_sqlstate, r ? 'method' AS has_method,
       jsonb_typeof(r->'run_id') AS run_id_type
FROM bg_results WHERE label IN ('second', 'third', 'fourth') ORDER BY label;
-- Still exactly one worker: the skipped attempts started none.
SELECT count(*) AS workers FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%';
CALL bg_wait_run('first', 'first done');
SELECT * FROM bg_shown WHERE label = 'first done';
SELECT * FROM bg_slow;
SELECT status, skip_reason, method FROM metrics_refresh_log
WHERE view_name = 'public.bg_slow'
  AND id >= (SELECT (r->>'run_id')::bigint FROM bg_results WHERE label = 'first')
ORDER BY id;
CALL bg_wait_workers(0, false);

-- Two background refreshes started back to back: exactly one refreshes, the
-- other is skipped (whichever loses the race), and neither stays running.
UPDATE bg_knobs SET sleep_s = 2, generation = 5;
INSERT INTO bg_results SELECT 'pair 1', metrics_refresh_trigger('bg_slow', wait => false);
INSERT INTO bg_results SELECT 'pair 2', metrics_refresh_trigger('bg_slow', wait => false);
CALL bg_wait_run('pair 1', 'pair 1 done');
CALL bg_wait_run('pair 2', 'pair 2 done');
SELECT r->>'status' AS status, count(*) FROM bg_results
WHERE label IN ('pair 1 done', 'pair 2 done') GROUP BY 1 ORDER BY 1;
SELECT r->>'message' AS skip_message FROM bg_results
WHERE label IN ('pair 1 done', 'pair 2 done') AND r->>'status' = 'skipped';
SELECT * FROM bg_slow;
CALL bg_wait_workers(0, false);

--
-- The worker takes the time limits of the caller's role settings (not of
-- the caller's session): refresh_timeout ends the refresh as 57014.
--
ALTER ROLE regress_bg_admin SET metrics_refresh.refresh_timeout = '300ms';
UPDATE bg_knobs SET sleep_s = 2, generation = 6;
SET ROLE regress_bg_admin;
SHOW metrics_refresh.refresh_timeout;
INSERT INTO bg_results SELECT 'role timeout', metrics_refresh_trigger('bg_slow', wait => false);
RESET ROLE;
CALL bg_wait_run('role timeout', 'role timeout done');
SELECT * FROM bg_shown WHERE label = 'role timeout done';
SELECT status, sqlstate, error_message, triggered_by FROM metrics_refresh_log
WHERE id = (SELECT (r->>'run_id')::bigint FROM bg_results WHERE label = 'role timeout');
-- Old contents kept.
SELECT * FROM bg_slow;
ALTER ROLE regress_bg_admin RESET metrics_refresh.refresh_timeout;
CALL bg_wait_workers(0, false);

-- Only the caller's role counts: a setting of another role (here the
-- superuser running this test, as which the worker may connect) does not
-- limit regress_bg_admin's background refresh.
SELECT session_user AS su \gset
ALTER ROLE :"su" SET metrics_refresh.refresh_timeout = '300ms';
UPDATE bg_knobs SET sleep_s = 1, generation = 5;
SET ROLE regress_bg_admin;
INSERT INTO bg_results SELECT 'other role timeout', metrics_refresh_trigger('bg_slow', wait => false);
RESET ROLE;
CALL bg_wait_run('other role timeout', 'other role timeout done');
ALTER ROLE :"su" RESET metrics_refresh.refresh_timeout;
SELECT * FROM bg_shown WHERE label = 'other role timeout done';
CALL bg_wait_workers(0, false);

-- Nor does that role's setting in this database, which InitPostgres applies
-- to the worker's connection with a higher priority than a role-wide one.
SELECT current_database() AS db \gset
ALTER ROLE :"su" IN DATABASE :"db" SET metrics_refresh.refresh_timeout = '300ms';
UPDATE bg_knobs SET sleep_s = 1, generation = 5;
SET ROLE regress_bg_admin;
INSERT INTO bg_results SELECT 'other role db timeout', metrics_refresh_trigger('bg_slow', wait => false);
RESET ROLE;
CALL bg_wait_run('other role db timeout', 'other role db timeout done');
ALTER ROLE :"su" IN DATABASE :"db" RESET metrics_refresh.refresh_timeout;
SELECT * FROM bg_shown WHERE label = 'other role db timeout done';
CALL bg_wait_workers(0, false);

-- The caller's own settings apply in PostgreSQL's order of precedence: its
-- setting in this database over its role-wide one over the database's.
ALTER DATABASE :"db" SET metrics_refresh.refresh_timeout = '10min';
ALTER ROLE regress_bg_admin SET metrics_refresh.refresh_timeout = '10min';
ALTER ROLE regress_bg_admin IN DATABASE :"db" SET metrics_refresh.refresh_timeout = '300ms';
SET ROLE regress_bg_admin;
INSERT INTO bg_results SELECT 'precedence 1', metrics_refresh_trigger('bg_slow', wait => false);
RESET ROLE;
CALL bg_wait_run('precedence 1', 'precedence 1 done');
CALL bg_wait_workers(0, false);  -- its worker is gone: the next run is not busy
ALTER ROLE regress_bg_admin IN DATABASE :"db" RESET metrics_refresh.refresh_timeout;
ALTER DATABASE :"db" SET metrics_refresh.refresh_timeout = '300ms';
SET ROLE regress_bg_admin;
INSERT INTO bg_results SELECT 'precedence 2', metrics_refresh_trigger('bg_slow', wait => false);
RESET ROLE;
CALL bg_wait_run('precedence 2', 'precedence 2 done');
CALL bg_wait_workers(0, false);  -- its worker is gone: the next run is not busy
ALTER ROLE regress_bg_admin RESET metrics_refresh.refresh_timeout;
SET ROLE regress_bg_admin;
INSERT INTO bg_results SELECT 'precedence 3', metrics_refresh_trigger('bg_slow', wait => false);
RESET ROLE;
CALL bg_wait_run('precedence 3', 'precedence 3 done');
ALTER DATABASE :"db" RESET metrics_refresh.refresh_timeout;
SELECT label, status, sqlstate FROM bg_shown WHERE label LIKE 'precedence % done' ORDER BY label;
CALL bg_wait_workers(0, false);

-- The caller's wait for the worker is bounded: a worker that needs a lock
-- held by the caller's own transaction (here on the log) makes the call fail
-- at once with 55P03, and nothing is left running.
BEGIN;
LOCK TABLE metrics_refresh_log IN ACCESS EXCLUSIVE MODE;
SET LOCAL statement_timeout = '25s';
SELECT metrics_refresh_trigger('bg_fast', wait => false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
CALL bg_wait_workers(0, false);
SELECT count(*) AS still_running FROM metrics_refresh_log WHERE status = 'running';

-- ... and of the database settings: lock_timeout bounds the worker's wait
-- for the view's lock, held here by the caller's open transaction, whose
-- rollback does not undo the committed 'running' row.
ALTER DATABASE :"db" SET metrics_refresh.lock_timeout = '200ms';
BEGIN;
REFRESH MATERIALIZED VIEW bg_fast;
INSERT INTO bg_results SELECT 'db lock timeout', metrics_refresh_trigger('bg_fast', wait => false);
SELECT l.status FROM metrics_refresh_log l JOIN bg_results b ON l.id = (b.r->>'run_id')::bigint
WHERE b.label = 'db lock timeout';
CALL bg_wait_workers(0, false);
SELECT r->>'run_id' AS run_id FROM bg_results WHERE label = 'db lock timeout' \gset
ROLLBACK;
ALTER DATABASE :"db" RESET metrics_refresh.lock_timeout;
SELECT r->>'status' AS status, r->>'sqlstate' AS sqlstate, r->'success' AS success
FROM (SELECT metrics_refresh_run_status(:run_id) AS r) s;
SELECT status, sqlstate, source FROM metrics_refresh_log WHERE id = :run_id;

--
-- SIGTERM (pg_terminate_backend) on the worker of a slow refresh: the run
-- ends as error 'interrupted', old contents kept.
--
UPDATE bg_knobs SET sleep_s = 5, generation = 7;
INSERT INTO bg_results SELECT 'terminated', metrics_refresh_trigger('bg_slow', wait => false);
CALL bg_wait_workers(1, true);
SELECT count(pg_terminate_backend(pid)) AS terminated
FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%';
CALL bg_wait_run('terminated', 'terminated done');
SELECT * FROM bg_shown WHERE label = 'terminated done';
SELECT status, error_message, sqlstate, finished_at IS NOT NULL AS finished
FROM metrics_refresh_log
WHERE id = (SELECT (r->>'run_id')::bigint FROM bg_results WHERE label = 'terminated');
SELECT * FROM bg_slow;
CALL bg_wait_workers(0, false);

--
-- A 'running' row without a worker (a crashed or lost worker): reported, and
-- corrected in the log, as error 'interrupted', although it is brand new.
--
INSERT INTO metrics_refresh_log (view_name, started_at, status, source, triggered_by)
VALUES ('public.bg_fast', clock_timestamp(), 'running', 'manual', 'regress_bg_admin')
RETURNING id AS lost_id \gset
SELECT r->>'status' AS status, r->'success' AS success, r->>'message' AS message,
       r->>'sqlstate' AS sqlstate
FROM (SELECT metrics_refresh_run_status(:lost_id) AS r) s;
SELECT status, error_message, sqlstate, finished_at IS NOT NULL AS finished
FROM metrics_refresh_log WHERE id = :lost_id;
SELECT count(*) AS still_running FROM metrics_refresh_log WHERE status = 'running';

--
-- metrics_refresh_run_status: NULL for an unknown id; monitoring access.
--
SELECT metrics_refresh_run_status(-1) IS NULL AS unknown_negative,
       metrics_refresh_run_status((SELECT max(id) + 1000 FROM metrics_refresh_log)) IS NULL AS unknown_id,
       metrics_refresh_run_status(NULL) IS NULL AS null_id;
SET ROLE regress_bg_watcher;
SELECT metrics_refresh_run_status(:lost_id)->>'status' AS watcher_sees;
SELECT metrics_refresh_trigger('bg_fast', false);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_bg_plain;
SELECT metrics_refresh_run_status(:lost_id);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

--
-- Invalid calls raise at once and log nothing: NULL wait (22004); a
-- non-admin, even the view's owner (42501), with or without waiting.
--
SELECT count(*) AS log_rows_before FROM metrics_refresh_log \gset
SELECT metrics_refresh_trigger('bg_fast', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger(NULL, false);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_bg_owner;
SELECT metrics_refresh_trigger('bg_owned', wait => false);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger('bg_owned');
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'public.bg_platform';
SET ROLE regress_bg_plain;
SELECT metrics_refresh_trigger('bg_fast', wait => false);
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh(false);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET metrics_refresh.platform_view;
SELECT count(*) - :log_rows_before AS new_log_rows FROM metrics_refresh_log;
SELECT count(*) AS workers FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%';
-- The owner exception holds for metrics_refresh_run only.
SET ROLE regress_bg_owner;
SELECT metrics_refresh_run('bg_owned')->>'status' AS owner_run;
RESET ROLE;

-- Nothing is left running.
SELECT count(*) AS still_running FROM metrics_refresh_log WHERE status = 'running';

DROP EXTENSION metrics_refresh CASCADE;
DROP VIEW bg_shown;
DROP PROCEDURE bg_wait_run(text, text);
DROP PROCEDURE bg_wait_workers(int, boolean, boolean);
DROP TABLE bg_results;
DROP MATERIALIZED VIEW bg_slow, bg_fast, bg_platform, bg_unpopulated, bg_noindex, bg_owned;
DROP FUNCTION bg_generation();
DROP TABLE bg_knobs;
RESET metrics_refresh.admin_role;
DROP ROLE regress_bg_admin, regress_bg_admins, regress_bg_owner, regress_bg_plain, regress_bg_watcher;
