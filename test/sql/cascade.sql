-- Cascades (DESIGN.md, "Cascade"): metrics_refresh_cascade(view, wait)
-- refreshes a view, then the materialized views that read it (directly or
-- through plain views), each once, after all of its sources, each as its own
-- logged run (source 'cascade', cascade_id = the first run's id) that commits
-- on its own; a failed node stops its branch only; the background form; a
-- dependent owned by another role; skip_unchanged dependents; access and bad
-- input.  Concurrency (a busy node, single flight, a view dropped while the
-- cascade waits) is in test/specs/cascade_concurrency.spec; the pg_cron form
-- in test/sql/configure.sql.  Objects start with cs_, roles with regress_cs_.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;

CREATE ROLE regress_cs_admins NOLOGIN;
CREATE ROLE regress_cs_admin LOGIN IN ROLE regress_cs_admins;
CREATE ROLE regress_cs_owner LOGIN;
CREATE ROLE regress_cs_stranger LOGIN;
CREATE ROLE regress_cs_plain LOGIN;
CREATE ROLE regress_cs_watcher LOGIN IN ROLE pg_monitor;
SET metrics_refresh.admin_role = 'regress_cs_admins';

-- The runs of the latest cascade (or of cascade c), in the order they ran:
-- step 1 is the first run, whose id is the cascade's id.
CREATE FUNCTION cs_runs(c bigint DEFAULT NULL)
RETURNS TABLE (step bigint, view_name text, status text, source text, method text,
               skip_reason text, id_is_first boolean)
LANGUAGE sql AS $$
    SELECT row_number() OVER (ORDER BY l.id), l.view_name, l.status, l.source, l.method,
           l.skip_reason, l.cascade_id = min(l.id) OVER ()
    FROM public.metrics_refresh_log l
    WHERE l.cascade_id = coalesce(c, (SELECT max(cascade_id) FROM public.metrics_refresh_log))
    ORDER BY l.id
$$;

-- A cascade's result object, its ids checked against the log rather than shown.
CREATE FUNCTION cs_summary(r jsonb)
RETURNS TABLE (success jsonb, status text, view text, counts jsonb, message text,
               ids_match_log boolean, runs_match_log boolean)
LANGUAGE sql AS $$
    SELECT r->'success', r->>'status', r->>'view', r->'counts', r->>'message',
           (r->'cascade_id') = (r->'run_id')
             AND (r->'run_ids') = (SELECT jsonb_agg(id ORDER BY id) FROM public.metrics_refresh_log
                                   WHERE cascade_id = (r->>'cascade_id')::bigint)
             AND (r->'run_ids'->0) = (r->'cascade_id'),
           (r->'runs') = (SELECT jsonb_agg(jsonb_build_object('run_id', id, 'view', view_name, 'status', status)
                                           || CASE WHEN status = 'skipped'
                                                   THEN jsonb_build_object('reason', skip_reason)
                                                   ELSE '{}' END ORDER BY id)
                          FROM public.metrics_refresh_log WHERE cascade_id = (r->>'cascade_id')::bigint)
$$;

CREATE TABLE cs_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO cs_src VALUES (1, 10), (2, 20);

--
-- A chain through a plain view: cs_a <- cs_av (plain view) <- cs_b <- cs_c.
-- cs_sib also reads cs_a; cs_other reads only the table.
--
CREATE MATERIALIZED VIEW cs_a AS SELECT id, v FROM cs_src;
CREATE UNIQUE INDEX ON cs_a (id);
CREATE VIEW cs_av AS SELECT id, v * 10 AS v FROM cs_a;
CREATE MATERIALIZED VIEW cs_b AS SELECT id, v FROM cs_av;
CREATE UNIQUE INDEX ON cs_b (id);
CREATE MATERIALIZED VIEW cs_c AS SELECT id, v + 1 AS v FROM cs_b;
CREATE UNIQUE INDEX ON cs_c (id);
CREATE MATERIALIZED VIEW cs_sib AS SELECT id, v FROM cs_a;
CREATE UNIQUE INDEX ON cs_sib (id);
CREATE MATERIALIZED VIEW cs_other AS SELECT id, v FROM cs_src;
CREATE UNIQUE INDEX ON cs_other (id);

UPDATE cs_src SET v = v + 1;
SELECT metrics_refresh_cascade('cs_a') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT * FROM cs_runs();
-- Each one refreshed from its freshly refreshed source: cs_c is cs_b + 1 is
-- 10 * cs_a + 1 of the new source values.
SELECT a.id, a.v AS a, b.v AS b, c.v AS c, s.v AS sib
FROM cs_a a JOIN cs_b b USING (id) JOIN cs_c c USING (id) JOIN cs_sib s USING (id) ORDER BY id;
-- cs_other is no dependent: not refreshed, not logged.
SELECT * FROM cs_other ORDER BY id;
SELECT count(*) AS other_runs FROM metrics_refresh_log WHERE view_name = 'public.cs_other';

-- From the middle: only cs_b's own downstream part (cs_c), never its
-- sources (cs_a) nor their other dependents (cs_sib).
UPDATE cs_src SET v = v + 1;
SELECT metrics_refresh_cascade('cs_b') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT * FROM cs_runs();
-- cs_b and cs_c were refreshed from cs_a as it was: cs_a and cs_sib still
-- hold the old source values.
SELECT a.id, src.v AS src, a.v AS a, b.v AS b, c.v AS c, s.v AS sib
FROM cs_src src JOIN cs_a a USING (id) JOIN cs_b b USING (id) JOIN cs_c c USING (id)
JOIN cs_sib s USING (id) ORDER BY id;
SELECT view_name, count(*) AS runs FROM metrics_refresh_log GROUP BY view_name ORDER BY view_name;
-- Waited for from a REPEATABLE READ transaction, whose snapshot is older
-- than the worker's runs: the result object still describes them.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT metrics_refresh_cascade('cs_b') AS r \gset
COMMIT;
SELECT * FROM cs_summary(:'r');
-- A leaf alone is a cascade of one.
SELECT (metrics_refresh_cascade('cs_c'))->'counts' AS leaf_counts;
SELECT * FROM cs_runs();
-- Cascades of one, back to back: each answers (the caller waits until its
-- worker has exited, so the next one finds the worker slot free).
SELECT count(*) AS quick_cascades
FROM generate_series(1, 40) AS g,
     LATERAL (SELECT metrics_refresh_cascade('cs_c') AS r OFFSET 0) AS c
WHERE c.r->'counts' = '{"success": 1}';
-- A plain view's INSERT rule that reads cs_a is not something the view
-- reads: the materialized view over it is no dependent of cs_a.
CREATE TABLE cs_sink (id int);
CREATE VIEW cs_rv AS SELECT 1 AS id;
CREATE RULE cs_rv_insert AS ON INSERT TO cs_rv DO INSTEAD INSERT INTO cs_sink SELECT id FROM cs_a;
CREATE MATERIALIZED VIEW cs_ruled AS SELECT id FROM cs_rv;
CREATE UNIQUE INDEX ON cs_ruled (id);
SELECT metrics_refresh_cascade('cs_a') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT step, view_name, status FROM cs_runs();
DROP MATERIALIZED VIEW cs_ruled;
DROP VIEW cs_rv;
DROP TABLE cs_sink;
-- The run functions log no cascade_id.
SELECT metrics_refresh_run('cs_other') ? 'cascade_id' AS run_has_cascade_id;
SELECT cascade_id FROM metrics_refresh_log WHERE view_name = 'public.cs_other';

--
-- A diamond, with a longer branch and a shortcut: cs_dm_top <- cs_dm_b1 <-
-- cs_dm_b2; cs_dm_top <- cs_dm_cv (plain view) <- cs_dm_c; cs_dm_a_bottom
-- reads cs_dm_top, cs_dm_b2 and cs_dm_c.  Its name sorts first: it must
-- still come last, once, after all three.
--
CREATE MATERIALIZED VIEW cs_dm_top AS SELECT id, v FROM cs_src;
CREATE UNIQUE INDEX ON cs_dm_top (id);
CREATE MATERIALIZED VIEW cs_dm_b1 AS SELECT id, v + 1 AS v FROM cs_dm_top;
CREATE UNIQUE INDEX ON cs_dm_b1 (id);
CREATE MATERIALIZED VIEW cs_dm_b2 AS SELECT id, v + 1 AS v FROM cs_dm_b1;
CREATE UNIQUE INDEX ON cs_dm_b2 (id);
CREATE VIEW cs_dm_cv AS SELECT id, v * 2 AS v FROM cs_dm_top;
CREATE MATERIALIZED VIEW cs_dm_c AS SELECT id, v FROM cs_dm_cv;
CREATE UNIQUE INDEX ON cs_dm_c (id);
CREATE MATERIALIZED VIEW cs_dm_a_bottom AS
    SELECT t.id, t.v AS top, b2.v AS b2, c.v AS c
    FROM cs_dm_top t JOIN cs_dm_b2 b2 USING (id) JOIN cs_dm_c c USING (id);
CREATE UNIQUE INDEX ON cs_dm_a_bottom (id);

UPDATE cs_src SET v = v + 100;
SELECT metrics_refresh_cascade('cs_dm_top') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT * FROM cs_runs();
-- Each node exactly once.
SELECT view_name, count(*) FROM cs_runs() GROUP BY view_name HAVING count(*) <> 1;
-- The bottom saw the new top, b2 and c: b2 = top + 2, c = 2 * top.
SELECT id, top, b2, c, b2 = top + 2 AND c = 2 * top AS consistent FROM cs_dm_a_bottom ORDER BY id;
-- From the long branch: cs_dm_b1, cs_dm_b2, then cs_dm_a_bottom (not cs_dm_c).
SELECT (metrics_refresh_cascade('cs_dm_b1'))->'counts' AS b1_counts;
SELECT step, view_name, status, source FROM cs_runs();

--
-- A failing node in the middle: cs_fl_mid divides by cs_fl_knob.d.  Its
-- branch (cs_fl_leaf, cs_fl_leaf2, and cs_fl_join, which also reads the good
-- branch) is skipped, naming it; the independent branch (cs_fl_side) goes
-- on; the runs before it stay committed.
--
CREATE TABLE cs_fl_knob (d int NOT NULL);
INSERT INTO cs_fl_knob VALUES (1);
CREATE MATERIALIZED VIEW cs_fl_root AS SELECT id, v FROM cs_src;
CREATE UNIQUE INDEX ON cs_fl_root (id);
CREATE MATERIALIZED VIEW cs_fl_mid AS
    SELECT id, v / (SELECT d FROM public.cs_fl_knob) AS v FROM cs_fl_root;
CREATE UNIQUE INDEX ON cs_fl_mid (id);
CREATE MATERIALIZED VIEW cs_fl_leaf AS SELECT id, v FROM cs_fl_mid;
CREATE UNIQUE INDEX ON cs_fl_leaf (id);
CREATE MATERIALIZED VIEW cs_fl_leaf2 AS SELECT id, v FROM cs_fl_leaf;
CREATE UNIQUE INDEX ON cs_fl_leaf2 (id);
CREATE MATERIALIZED VIEW cs_fl_side AS SELECT id, v FROM cs_fl_root;
CREATE UNIQUE INDEX ON cs_fl_side (id);
CREATE MATERIALIZED VIEW cs_fl_join AS
    SELECT s.id, s.v AS side, m.v AS mid FROM cs_fl_side s JOIN cs_fl_mid m USING (id);
CREATE UNIQUE INDEX ON cs_fl_join (id);

UPDATE cs_src SET v = v + 1000;
UPDATE cs_fl_knob SET d = 0;
SELECT metrics_refresh_cascade('cs_fl_root') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT * FROM cs_runs();
SELECT sqlstate, error_message FROM metrics_refresh_log
WHERE view_name = 'public.cs_fl_mid' AND status = 'error';
-- Committed: the root and the side branch have the new values; the failed
-- node and its branch kept their old contents.
SELECT r.id, r.v AS root, s.v AS side, m.v AS mid, l.v AS leaf, j.mid AS join_mid
FROM cs_fl_root r JOIN cs_fl_side s USING (id) JOIN cs_fl_mid m USING (id)
JOIN cs_fl_leaf l USING (id) JOIN cs_fl_join j USING (id) ORDER BY id;
-- From cs_fl_mid: its own downstream part (cs_fl_join, whose other source
-- is not in it, right after it); then failing as the first run: every
-- dependent is skipped, and the cascade's status is error.
UPDATE cs_fl_knob SET d = 1;
SELECT (metrics_refresh_cascade('cs_fl_mid'))->'counts' AS mid_counts;
SELECT step, view_name, status, skip_reason FROM cs_runs();
UPDATE cs_fl_knob SET d = 0;
SELECT metrics_refresh_cascade('cs_fl_mid') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT step, view_name, status, skip_reason FROM cs_runs();
UPDATE cs_fl_knob SET d = 1;

--
-- Dependents owned by other roles are refreshed as their owners: current_user
-- inside cs_ow_dep's query is its owner, whoever calls; cs_ow_denied's owner
-- may not read its source, so its refresh fails (as that owner, not as the
-- worker's superuser) and its dependent is skipped.
--
CREATE MATERIALIZED VIEW cs_ow_base AS SELECT id, v FROM cs_src;
CREATE UNIQUE INDEX ON cs_ow_base (id);
CREATE MATERIALIZED VIEW cs_ow_dep AS
    SELECT id, v, current_user AS refreshed_as FROM cs_ow_base;
CREATE UNIQUE INDEX ON cs_ow_dep (id);
ALTER MATERIALIZED VIEW cs_ow_dep OWNER TO regress_cs_owner;
GRANT SELECT ON cs_ow_base TO regress_cs_owner;
CREATE MATERIALIZED VIEW cs_ow_denied AS SELECT id, v FROM cs_ow_base;
CREATE UNIQUE INDEX ON cs_ow_denied (id);
ALTER MATERIALIZED VIEW cs_ow_denied OWNER TO regress_cs_stranger;
CREATE MATERIALIZED VIEW cs_ow_after_denied AS SELECT id, v FROM cs_ow_denied;
CREATE UNIQUE INDEX ON cs_ow_after_denied (id);
-- Before: built by the superuser.
SELECT DISTINCT refreshed_as = current_user AS built_by_me FROM cs_ow_dep;
UPDATE cs_src SET v = v + 1;
SET ROLE regress_cs_admin;
SELECT metrics_refresh_cascade('cs_ow_base') AS r \gset
RESET ROLE;
SELECT * FROM cs_summary(:'r');
SELECT step, view_name, status, skip_reason FROM cs_runs();
SELECT DISTINCT refreshed_as FROM cs_ow_dep;
SELECT b.v = d.v AS dep_is_fresh FROM cs_ow_base b JOIN cs_ow_dep d USING (id) ORDER BY id;
SELECT sqlstate, error_message FROM metrics_refresh_log
WHERE view_name = 'public.cs_ow_denied' AND status = 'error';
-- Every run of the cascade records the real caller.
SELECT DISTINCT triggered_by FROM metrics_refresh_log
WHERE cascade_id = (:'r'::jsonb->>'cascade_id')::bigint;

--
-- The background form: wait => false returns at once the first run's
-- 'running' object (with its cascade_id); the whole cascade runs in one
-- worker, which is still there while a later node runs.  cs_bg_root and
-- cs_bg_dep sleep cs_bg_knob.s seconds in their queries.
--
CREATE TABLE cs_bg_knob (s float8 NOT NULL);
INSERT INTO cs_bg_knob VALUES (0);
CREATE FUNCTION cs_bg_nap() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep((SELECT s FROM public.cs_bg_knob));
    RETURN 0;
END $$;
CREATE MATERIALIZED VIEW cs_bg_root AS SELECT id, v + cs_bg_nap() AS v FROM cs_src;
CREATE UNIQUE INDEX ON cs_bg_root (id);
CREATE MATERIALIZED VIEW cs_bg_dep AS SELECT id, v + cs_bg_nap() AS v FROM cs_bg_root;
CREATE UNIQUE INDEX ON cs_bg_dep (id);
CREATE MATERIALIZED VIEW cs_bg_leaf AS SELECT id, v FROM cs_bg_dep;
CREATE UNIQUE INDEX ON cs_bg_leaf (id);
CREATE MATERIALIZED VIEW cs_bg_side AS SELECT id, v FROM cs_bg_root;
CREATE UNIQUE INDEX ON cs_bg_side (id);

-- The metrics_refresh workers sleeping in a view's query, waited for (at
-- most ~30 s) until one is; no commit, pg_stat_activity re-read each time.
CREATE FUNCTION cs_sleeping_worker(want text) RETURNS TABLE (pid int, query text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        PERFORM pg_stat_clear_snapshot();
        RETURN QUERY SELECT a.pid, a.query FROM pg_stat_activity a
            WHERE a.backend_type LIKE '%metrics_refresh%' AND a.wait_event = 'PgSleep'
              AND a.query LIKE '%' || want;
        IF FOUND THEN RETURN; END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
-- Wait (at most ~30 s) until no metrics_refresh worker is left.
CREATE FUNCTION cs_no_worker() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        PERFORM pg_stat_clear_snapshot();
        IF NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%') THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;

UPDATE cs_src SET v = v + 1;
UPDATE cs_bg_knob SET s = 0.3;
SELECT metrics_refresh_cascade('cs_bg_root', wait => false) AS r \gset
SELECT :'r'::jsonb - 'run_id' - 'cascade_id' - 'started_at' - 'triggered_by' AS running_object,
       (:'r'::jsonb->'cascade_id') = (:'r'::jsonb->'run_id') AS cascade_id_is_run_id,
       :'r'::jsonb->>'triggered_by' = current_user AS by_caller;
SELECT (:'r'::jsonb->>'run_id')::bigint AS bg_id \gset
-- Returned before the root was refreshed: it is still running, in a worker.
-- The worker built that object itself (log.c, result_keys()); it is the
-- one the log's row gives, to the microsecond.
SELECT metrics_refresh_run_status(:bg_id)->>'status' AS root_now,
       metrics_refresh_run_status(:bg_id) = :'r'::jsonb AS same_as_row;
SELECT pid AS root_pid,
       query = format('metrics_refresh: cascade from public.cs_bg_root (run %s)', :bg_id) AS root_activity
FROM cs_sleeping_worker('public.cs_bg_root (run ' || :bg_id || ')') \gset
SELECT :'root_activity' AS shows_root;
-- Later, the same single worker refreshes the dependent.
SELECT pid = :root_pid AS same_worker, query = format('metrics_refresh: cascade from public.cs_bg_root (run %s): public.cs_bg_dep', :bg_id) AS shows_node
FROM cs_sleeping_worker('public.cs_bg_dep');
SELECT count(*) AS workers FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%';
SELECT cs_no_worker() AS worker_gone;
UPDATE cs_bg_knob SET s = 0;
SELECT metrics_refresh_run_status(:bg_id) - 'run_id' - 'cascade_id' - 'started_at' - 'finished_at'
       - 'duration_ms' - 'triggered_by' - 'message' AS root_done;
SELECT * FROM cs_runs(:bg_id);
SELECT r.v = s.v AND d.v = s.v AND l.v = s.v AS all_fresh
FROM cs_bg_root r JOIN cs_bg_dep d USING (id) JOIN cs_bg_leaf l USING (id) JOIN cs_src s USING (id)
ORDER BY id;

-- wait => true from a transaction that holds a lock a node needs (a plain
-- REFRESH of cs_bg_dep): the worker would wait for us, so the call fails at
-- once (55P03) and stops the worker.  The runs before that node stay
-- committed, the node is logged as interrupted, and the nodes left are
-- logged as skipped, each once: its dependent as such, the other branch as
-- interrupted.
BEGIN;
REFRESH MATERIALIZED VIEW cs_bg_dep;
SELECT metrics_refresh_cascade('cs_bg_root');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT cs_no_worker() AS worker_gone;
SELECT step, view_name, status, source, skip_reason FROM cs_runs();
SELECT sqlstate, error_message FROM metrics_refresh_log
WHERE cascade_id = (SELECT max(cascade_id) FROM metrics_refresh_log) AND status = 'error';

--
-- skip_unchanged: with the cascade option, metrics_refresh_run(cs_su_root)
-- runs the cascade; tracked nodes whose sources did not change come back
-- unchanged, an untracked dependent (cs_su_plain) is refreshed, and a node
-- refreshed because its own other source changed makes its readers change.
--
CREATE TABLE cs_su_extra (id int PRIMARY KEY, w int NOT NULL);
INSERT INTO cs_su_extra VALUES (1, 0), (2, 0);
CREATE MATERIALIZED VIEW cs_su_root AS SELECT id, v FROM cs_src;
CREATE UNIQUE INDEX ON cs_su_root (id);
CREATE MATERIALIZED VIEW cs_su_mid AS
    SELECT r.id, r.v + e.w AS v FROM cs_su_root r JOIN cs_su_extra e USING (id);
CREATE UNIQUE INDEX ON cs_su_mid (id);
CREATE MATERIALIZED VIEW cs_su_leaf AS SELECT id, v FROM cs_su_mid;
CREATE UNIQUE INDEX ON cs_su_leaf (id);
CREATE MATERIALIZED VIEW cs_su_plain AS SELECT id, v FROM cs_su_root;
CREATE UNIQUE INDEX ON cs_su_plain (id);
SELECT (metrics_refresh_configure('cs_su_root', skip_unchanged => true, "cascade" => true))->'cascade' AS root_cascades;
SELECT (metrics_refresh_configure('cs_su_mid', skip_unchanged => true))->'sources' AS mid_sources;
SELECT (metrics_refresh_configure('cs_su_leaf', skip_unchanged => true))->'sources' AS leaf_sources;
-- First: nothing was refreshed since tracking began, so everything is.
SELECT (metrics_refresh_run('cs_su_root'))->'counts' AS first_counts;
SELECT step, view_name, status, source FROM cs_runs();
-- Nothing changed: the tracked nodes are unchanged, the plain one refreshed.
SELECT metrics_refresh_run('cs_su_root') AS r \gset
SELECT * FROM cs_summary(:'r');
SELECT step, view_name, status, source, skip_reason ~ '^unchanged: no source changed since run [0-9]+$' AS reason_ok
FROM cs_runs();
-- Only cs_su_mid's own table changed: the root stays unchanged, cs_su_mid
-- is refreshed, and so is cs_su_leaf, which reads it.
UPDATE cs_su_extra SET w = 5;
SELECT (metrics_refresh_run('cs_su_root'))->'counts' AS counts;
SELECT step, view_name, status FROM cs_runs();
SELECT l.id, l.v - r.v AS leaf_minus_root FROM cs_su_leaf l JOIN cs_su_root r USING (id) ORDER BY id;
-- The root's table changed: all of them are refreshed.
UPDATE cs_src SET v = v + 1;
SELECT (metrics_refresh_run('cs_su_root'))->'counts' AS counts;
SELECT step, view_name, status FROM cs_runs();
SELECT bool_and(l.v = s.v + 5) AS leaf_fresh FROM cs_su_leaf l JOIN cs_src s USING (id);

--
-- Access: only admins may run a cascade (42501), not the root's owner, not
-- a pg_monitor member; a refused call logs nothing.
--
ALTER MATERIALIZED VIEW cs_c OWNER TO regress_cs_owner;
GRANT SELECT ON cs_b TO regress_cs_owner;
SELECT count(*) AS log_rows FROM metrics_refresh_log \gset
SET ROLE regress_cs_plain;
SELECT metrics_refresh_cascade('cs_a');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('cs_a', wait => false);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cs_owner;
SELECT metrics_refresh_cascade('cs_c');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cs_watcher;
SELECT metrics_refresh_cascade('cs_a');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) - :log_rows AS new_rows FROM metrics_refresh_log;
SET ROLE regress_cs_admin;
SELECT metrics_refresh_is_admin() AS admin_is_admin,
       (metrics_refresh_cascade('cs_b'))->'counts' AS admin_counts;
RESET ROLE;
-- Nor does the cascade option: the owner of a view with it who is not an
-- admin gets a refresh of that view alone from metrics_refresh_run (cs_c,
-- which reads cs_b, is not refreshed); an admin's run of it cascades.
ALTER MATERIALIZED VIEW cs_b OWNER TO regress_cs_owner;
GRANT SELECT ON cs_av TO regress_cs_owner;
SELECT metrics_refresh_configure('cs_b', "cascade" => true)->'cascade' AS cascade_on;
SELECT max(id) AS last_id FROM metrics_refresh_log \gset
SET ROLE regress_cs_owner;
SELECT r->>'status' AS status, r ? 'cascade_id' AS in_a_cascade
FROM (SELECT metrics_refresh_run('cs_b') AS r) x;
RESET ROLE;
SELECT view_name, status, source FROM metrics_refresh_log WHERE id > :last_id ORDER BY id;
SELECT max(id) AS last_id FROM metrics_refresh_log \gset
SET ROLE regress_cs_admin;
SELECT (metrics_refresh_run('cs_b'))->'counts' AS admin_run_counts;
RESET ROLE;
SELECT view_name, status, source FROM metrics_refresh_log WHERE id > :last_id ORDER BY id;
SELECT metrics_refresh_configure('cs_b', "cascade" => false)->'cascade' AS cascade_on;
ALTER MATERIALIZED VIEW cs_b OWNER TO CURRENT_USER;
REVOKE SELECT ON cs_av FROM regress_cs_owner;

--
-- Bad input raises at once and logs nothing: a NULL view or wait (22004),
-- something that is not a materialized view (42809), a name that finds
-- nothing (42P01, from regclass).
--
SELECT count(*) AS log_rows FROM metrics_refresh_log \gset
SELECT metrics_refresh_cascade(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('cs_a', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('cs_src');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('cs_av');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_cascade('cs_nothing');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :log_rows AS new_rows FROM metrics_refresh_log;

-- Nothing is left running, no worker is left.
SELECT count(*) AS still_running FROM metrics_refresh_log WHERE status = 'running';
SELECT cs_no_worker() AS worker_gone;

DROP EXTENSION metrics_refresh;
SET client_min_messages = warning;
DROP MATERIALIZED VIEW cs_a, cs_other, cs_dm_top, cs_fl_root, cs_ow_base, cs_bg_root, cs_su_root CASCADE;
RESET client_min_messages;
DROP TABLE cs_src, cs_fl_knob, cs_bg_knob, cs_su_extra;
DROP FUNCTION cs_runs(bigint), cs_summary(jsonb), cs_bg_nap(), cs_sleeping_worker(text), cs_no_worker();
RESET metrics_refresh.admin_role;
DROP ROLE regress_cs_admin, regress_cs_admins, regress_cs_owner, regress_cs_stranger,
    regress_cs_plain, regress_cs_watcher;
