-- Per-view options (DESIGN.md, "Per-view options"): metrics_refresh_configure
-- sets skip_unchanged, max_skip, cascade and stale_after (NULL keeps one as
-- it is), scheduled or not, and returns the view's options; invalid values
-- (22023), callers (42501) and arguments (22004, 42809) are refused and
-- change nothing; options survive unschedule and go with a dropped view.
-- The cascade option: a scheduled view's pg_cron job runs the cascade (its
-- command run by hand here, as in schedule.sql), and so do
-- metrics_refresh_run and "Refresh Now".  Needs pg_cron; where the server
-- cannot run it in this database, the test is skipped
-- (expected/configure_1.out).  Objects start with cf_, roles with
-- regress_cf_.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;

CREATE ROLE regress_cf_admins NOLOGIN;
CREATE ROLE regress_cf_admin LOGIN IN ROLE regress_cf_admins;
CREATE ROLE regress_cf_owner LOGIN;
CREATE ROLE regress_cf_watcher LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_cf_plain LOGIN;
SET metrics_refresh.admin_role = 'regress_cf_admins';

CREATE TABLE cf_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO cf_src VALUES (1, 1), (2, 2);
CREATE TABLE cf_other (id int PRIMARY KEY);
INSERT INTO cf_other VALUES (1), (2);
CREATE MATERIALIZED VIEW cf_v AS SELECT s.id, s.v FROM cf_src s JOIN cf_other o USING (id);
CREATE UNIQUE INDEX ON cf_v (id);
ALTER MATERIALIZED VIEW cf_v OWNER TO regress_cf_owner;
GRANT SELECT ON cf_src, cf_other TO regress_cf_owner;

-- The view's settings row, as stored.
CREATE VIEW cf_row AS
SELECT view_name, schedule IS NOT NULL AS scheduled, jobid IS NOT NULL AS has_job, stale_after,
       skip_unchanged, max_skip, "cascade"
FROM metrics_refresh_config;
-- The tables that carry metrics_refresh's tracking trigger.
CREATE VIEW cf_triggers AS
SELECT tgrelid::regclass AS on_table FROM pg_trigger
WHERE tgname = 'metrics_refresh_track' AND tgrelid::regclass::text LIKE 'cf\_%';

--
-- A view without settings has the defaults; configure with no option
-- returns them.
--
SELECT * FROM cf_row;
SELECT metrics_refresh_configure('cf_v');
SELECT * FROM cf_row;

--
-- Every option, one at a time; NULL (or leaving one out) keeps the others.
--
SELECT metrics_refresh_configure('cf_v', max_skip => '2 hours');
SELECT metrics_refresh_configure('cf_v', stale_after => '1 hour');
SELECT metrics_refresh_configure('cf_v', "cascade" => true);
-- skip_unchanged: the sources it tracks (a trigger on each table).
SELECT metrics_refresh_configure('cf_v', skip_unchanged => true);
SELECT * FROM cf_triggers ORDER BY 1;
SELECT metrics_refresh_configure('cf_v', NULL, NULL, NULL, NULL);
SELECT * FROM cf_row;
-- stale_after is the status's.
SELECT metrics_refresh_status('cf_v')->>'stale_after' AS status_stale_after;
-- Off again: tracking goes (no trigger left), the other options stay.
SELECT metrics_refresh_configure('cf_v', skip_unchanged => false, "cascade" => false);
SELECT * FROM cf_triggers;
SELECT * FROM cf_row;

--
-- Invalid values (22023) and arguments (22004, 42809) change nothing.
--
SELECT metrics_refresh_configure('cf_v', max_skip => '0');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('cf_v', max_skip => '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('cf_v', stale_after => '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('cf_v', stale_after => '-5 minutes');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('cf_v', skip_unchanged => true, stale_after => '-1 day 1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure(NULL, skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('cf_src', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cf_row;
SELECT * FROM cf_triggers;

--
-- Only admins configure (42501): not the view's owner, not a monitor.
--
SET ROLE regress_cf_owner;
SELECT metrics_refresh_configure('cf_v', "cascade" => true);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cf_watcher;
SELECT metrics_refresh_configure('cf_v', "cascade" => true);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cf_plain;
SELECT metrics_refresh_configure('cf_v', "cascade" => true);
\echo :LAST_ERROR_SQLSTATE
-- An admin who is no superuser configures; to turn skip_unchanged on, it
-- needs the TRIGGER privilege on the tables the view reads (the extension
-- elevates no one).
SET ROLE regress_cf_admin;
SELECT (metrics_refresh_configure('cf_v', "cascade" => true))->'cascade' AS admin_configures;
SELECT metrics_refresh_configure('cf_v', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT TRIGGER ON cf_src, cf_other TO regress_cf_admin;
SET ROLE regress_cf_admin;
SELECT (metrics_refresh_configure('cf_v', skip_unchanged => true, "cascade" => false))->'sources' AS admin_tracks;
RESET ROLE;
REVOKE TRIGGER ON cf_src, cf_other FROM regress_cf_admin;
-- Once the tables carry the trigger, reading the options back and changing
-- the others needs no TRIGGER privilege (no trigger is created).
SET ROLE regress_cf_admin;
SELECT (metrics_refresh_configure('cf_v'))->'skip_unchanged' AS admin_reads_back;
SELECT (metrics_refresh_configure('cf_v', stale_after => '30 minutes'))->'stale_after' AS admin_changes_stale_after;
SELECT (metrics_refresh_configure('cf_v', skip_unchanged => false, stale_after => '1 hour'))->'skip_unchanged' AS admin_untracks;
RESET ROLE;
SELECT * FROM cf_row;

--
-- Scheduling keeps the options, and the schedule shows; unscheduling keeps
-- them too.  A view whose only option is max_skip keeps it as well.
--
SELECT metrics_refresh_schedule('cf_v', '0 0 31 2 *', '1 hour') > 0 AS scheduled;
SELECT * FROM cf_row;
SELECT metrics_refresh_configure('cf_v', max_skip => '3 hours') - 'sources' AS options;
SELECT metrics_refresh_unschedule('cf_v') AS unscheduled;
SELECT * FROM cf_row;
SELECT metrics_refresh_configure('cf_v') - 'sources' AS options;
CREATE MATERIALIZED VIEW cf_w AS SELECT id FROM cf_other;
CREATE UNIQUE INDEX ON cf_w (id);
SELECT metrics_refresh_configure('cf_w', max_skip => '2 days')->'max_skip' AS w_max_skip;
SELECT metrics_refresh_schedule('cf_w', '0 0 31 2 *') > 0 AS scheduled;
SELECT metrics_refresh_unschedule('cf_w') AS unscheduled;
SELECT metrics_refresh_configure('cf_w')->'max_skip' AS w_max_skip;

--
-- A dropped view's settings go, with a NOTICE, and so does its tracking;
-- a renamed view's too (configure it again under its new name).
--
SELECT (metrics_refresh_configure('cf_v', skip_unchanged => true))->'sources' AS sources;
SELECT * FROM cf_triggers ORDER BY 1;
SELECT count(*) AS tracking_rows FROM metrics_refresh_tracking;
DROP MATERIALIZED VIEW cf_v;
SELECT * FROM cf_row WHERE view_name = 'public.cf_v';
SELECT count(*) AS tracking_rows FROM metrics_refresh_tracking;
SELECT * FROM cf_triggers;
ALTER MATERIALIZED VIEW cf_w RENAME TO cf_w2;
SELECT * FROM cf_row;

--
-- The cascade option: cf_root <- cf_dep <- cf_leaf.  A scheduled cf_root's
-- pg_cron job runs the cascade: the first run has source 'scheduled', the
-- others 'cascade', all with the first run's id as cascade_id.  With
-- skip_unchanged on all three, a job run that finds nothing changed finds
-- every node unchanged.
--
CREATE MATERIALIZED VIEW cf_root AS SELECT id, v FROM cf_src;
CREATE UNIQUE INDEX ON cf_root (id);
CREATE MATERIALIZED VIEW cf_dep AS SELECT id, v * 2 AS v FROM cf_root;
CREATE UNIQUE INDEX ON cf_dep (id);
CREATE MATERIALIZED VIEW cf_leaf AS SELECT id, v + 1 AS v FROM cf_dep;
CREATE UNIQUE INDEX ON cf_leaf (id);
-- What the view's job runs, run here; its result.
CREATE FUNCTION cf_run_job(v text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE (SELECT command FROM cron.job WHERE jobname = 'metrics_refresh ' || v) INTO r;
    RETURN r;
END $$;
-- The runs of the latest cascade, in order.
CREATE VIEW cf_cascade AS
SELECT row_number() OVER (ORDER BY id) AS step, view_name, status, source,
       cascade_id = min(id) OVER () AS id_is_first
FROM metrics_refresh_log
WHERE cascade_id = (SELECT max(cascade_id) FROM metrics_refresh_log) ORDER BY id;

SELECT metrics_refresh_schedule('cf_root', '0 0 31 2 *') > 0 AS scheduled;
SELECT (metrics_refresh_configure('cf_root', "cascade" => true)) - 'sources' AS options;
SELECT command FROM cron.job WHERE jobname = 'metrics_refresh public.cf_root';
UPDATE cf_src SET v = v + 10;
SELECT r->>'status' AS status, r->'counts' AS counts, r->>'message' AS message
FROM cf_run_job('public.cf_root') AS r;
SELECT * FROM cf_cascade;
SELECT l.id, l.v AS leaf, s.v AS src FROM cf_leaf l JOIN cf_src s USING (id) ORDER BY id;
SELECT count(*) AS tracked FROM (
    SELECT metrics_refresh_configure(v, skip_unchanged => true)
    FROM unnest(ARRAY['cf_root', 'cf_dep', 'cf_leaf']::regclass[]) AS v) c;
SELECT (cf_run_job('public.cf_root'))->'counts' AS counts_first;
SELECT (cf_run_job('public.cf_root'))->'counts' AS counts_unchanged;
SELECT * FROM cf_cascade;
-- metrics_refresh_run of a view with the cascade option runs the cascade
-- (its first run may be unchanged too).
SELECT (metrics_refresh_run('cf_root'))->'counts' AS run_counts;
SELECT * FROM cf_cascade;
-- "Refresh Now" always refreshes its view, and runs the cascade; without
-- waiting, its answer is the first run's, running, with the cascade's id.
SELECT (metrics_refresh_trigger('cf_root'))->'counts' AS trigger_counts;
SELECT * FROM cf_cascade;
SELECT r->>'status' AS status, r->>'view' AS view, (r->'cascade_id') = (r->'run_id') AS own_cascade
FROM metrics_refresh_trigger('cf_root', wait => false) AS r;
-- Wait (at most ~30 s) for that background cascade to end.
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT count(*) AS still_running FROM metrics_refresh_log WHERE status = 'running';
SELECT * FROM cf_cascade;
-- Without the option, the job runs its view alone (unchanged: nothing
-- changed since the cascade refreshed it).
SELECT (metrics_refresh_configure('cf_root', "cascade" => false))->'cascade' AS cascade_off;
SELECT r->>'status' AS status, r->>'view' AS view, r->>'source' AS source, r ? 'counts' AS is_cascade,
       r ? 'cascade_id' AS has_cascade_id
FROM cf_run_job('public.cf_root') AS r;

-- A view that names a temporary object (a regclass constant) is dropped
-- with it by DROP ... CASCADE: its schedule and options go too.
CREATE TEMP SEQUENCE cf_tseq;
CREATE MATERIALIZED VIEW cf_temp_named AS SELECT 1 AS id, 'pg_temp.cf_tseq'::regclass AS seq;
CREATE UNIQUE INDEX ON cf_temp_named (id);
SELECT metrics_refresh_schedule('cf_temp_named', '*/5 * * * *') IS NOT NULL AS scheduled;
SELECT count(*) AS config_rows FROM metrics_refresh_config WHERE view_name = 'public.cf_temp_named';
DROP SEQUENCE pg_temp.cf_tseq CASCADE;
SELECT count(*) AS config_rows FROM metrics_refresh_config WHERE view_name = 'public.cf_temp_named';
SELECT count(*) AS jobs FROM cron.job WHERE command LIKE '%cf_temp_named%';

SELECT metrics_refresh_unschedule('cf_root') AS unscheduled;
DROP VIEW cf_row, cf_triggers, cf_cascade;
DROP FUNCTION cf_run_job(text);
DROP EXTENSION metrics_refresh;
DROP MATERIALIZED VIEW cf_w2, cf_leaf, cf_dep, cf_root;
DROP TABLE cf_src, cf_other;
RESET metrics_refresh.admin_role;
DROP ROLE regress_cf_admin, regress_cf_admins, regress_cf_owner, regress_cf_watcher, regress_cf_plain;
