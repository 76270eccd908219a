-- Time limits: metrics_refresh.lock_timeout and metrics_refresh.refresh_timeout.
-- (Waiting for a lock held by another session is tested by the isolation spec lock_timeout.)
CREATE EXTENSION metrics_refresh;

--
-- Defaults and units.
--
SHOW metrics_refresh.lock_timeout;
SHOW metrics_refresh.refresh_timeout;
SELECT name, setting, unit, boot_val, min_val, context FROM pg_settings
WHERE name IN ('metrics_refresh.lock_timeout', 'metrics_refresh.refresh_timeout') ORDER BY name;
-- Plain numbers are milliseconds; other units are converted.
SET metrics_refresh.lock_timeout = 1500;
SHOW metrics_refresh.lock_timeout;
SET metrics_refresh.lock_timeout = '2s';
SHOW metrics_refresh.lock_timeout;
SET metrics_refresh.refresh_timeout = '5min';
SHOW metrics_refresh.refresh_timeout;
SELECT setting FROM pg_settings WHERE name = 'metrics_refresh.refresh_timeout';
SET metrics_refresh.refresh_timeout = 0;
SHOW metrics_refresh.refresh_timeout;
-- Invalid values are refused.
\set VERBOSITY sqlstate
SET metrics_refresh.lock_timeout = -1;
SET metrics_refresh.refresh_timeout = '-5s';
SET metrics_refresh.refresh_timeout = 'soon';
SET metrics_refresh.lock_timeout = '3 fortnights';
\set VERBOSITY default
SHOW metrics_refresh.lock_timeout;
RESET metrics_refresh.lock_timeout;
RESET metrics_refresh.refresh_timeout;
SHOW metrics_refresh.lock_timeout;
SHOW metrics_refresh.refresh_timeout;

--
-- A view whose refresh sleeps for tmo.delay seconds (0 unless set).
--
CREATE FUNCTION tmo_delay() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_sleep(coalesce(nullif(current_setting('tmo.delay', true), ''), '0')::float8);
    RETURN 1;
END $$;
CREATE TABLE tmo_src (id int PRIMARY KEY, val int);
INSERT INTO tmo_src VALUES (1, 10), (2, 20);
CREATE MATERIALIZED VIEW tmo_v AS SELECT id, val FROM tmo_src WHERE tmo_delay() = 1;
CREATE UNIQUE INDEX ON tmo_v (id);
CREATE TABLE tmo_note (note text);

-- The caller's own limits, which a refresh must leave as they are.
SET statement_timeout = '7min';
SET lock_timeout = '3min';

-- Without a delay, a refresh under both limits succeeds.
SET metrics_refresh.refresh_timeout = '1min';
UPDATE tmo_src SET val = val + 1;
SELECT r->>'success' AS success, r->>'status' AS status, r->>'method' AS method, r ? 'sqlstate' AS has_sqlstate
FROM (SELECT metrics_refresh_run('tmo_v') AS r) s;
SELECT * FROM tmo_v ORDER BY id;
SHOW statement_timeout;
SHOW lock_timeout;

--
-- refresh_timeout ends a slow refresh: returned (not raised) and logged as
-- 57014, old contents kept, session usable.
--
SET metrics_refresh.refresh_timeout = '200ms';
SET tmo.delay = '30';
UPDATE tmo_src SET val = val + 1;
SELECT r->>'success' AS success, r->>'status' AS status, r->>'method' AS method,
       r->>'sqlstate' AS sqlstate, r->>'message' AS message, r->>'detail' AS detail
FROM (SELECT metrics_refresh_run('tmo_v') AS r) s;
SELECT status, method, source, sqlstate, error_message, error_detail, error_hint,
       duration_ms > 0 AS has_duration, finished_at >= started_at AS ordered
FROM metrics_refresh_log ORDER BY id DESC LIMIT 1;
-- The view keeps its old contents.
SET tmo.delay = '0';
SELECT * FROM tmo_v ORDER BY id;
-- The limits of the caller are untouched by the refresh.
SHOW statement_timeout;
SHOW lock_timeout;
SHOW metrics_refresh.refresh_timeout;

-- Inside the caller's transaction: the transaction stays usable and commits.
BEGIN;
INSERT INTO tmo_note VALUES ('before');
SET LOCAL tmo.delay = '30';
SELECT r->>'status' AS status, r->>'sqlstate' AS sqlstate
FROM (SELECT metrics_refresh_run('tmo_v') AS r) s;
SET LOCAL tmo.delay = '0';
SELECT * FROM tmo_v ORDER BY id;
INSERT INTO tmo_note VALUES ('after');
SHOW statement_timeout;
SHOW lock_timeout;
COMMIT;
SELECT * FROM tmo_note ORDER BY note;
SELECT status, sqlstate, count(*) FROM metrics_refresh_log GROUP BY 1, 2 ORDER BY 1, 2;

-- Once quick again, the next refresh brings the view up to date.
SELECT r->>'status' AS status FROM (SELECT metrics_refresh_run('tmo_v') AS r) s;
SELECT * FROM tmo_v ORDER BY id;

--
-- The base refresh (refresh_platform_metrics) raises the timeout instead, logs
-- nothing, and the session goes on.
--
SET metrics_refresh.platform_view = 'public.tmo_v';
SET tmo.delay = '30';
UPDATE tmo_src SET val = val + 1;
\set VERBOSITY sqlstate
SELECT refresh_platform_metrics();
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT refresh_platform_metrics();
\set SHOW_CONTEXT errors
SET tmo.delay = '0';
SELECT * FROM tmo_v ORDER BY id;
SELECT count(*) AS logged_runs FROM metrics_refresh_log;
SHOW statement_timeout;
SHOW lock_timeout;
RESET metrics_refresh.platform_view;

--
-- The caller's statement_timeout still applies to the whole call; a cancel
-- during the refresh is returned and logged like any failure of the refresh.
--
RESET metrics_refresh.refresh_timeout;
SET statement_timeout = '300ms';
SET tmo.delay = '30';
SELECT r->>'status' AS status, r->>'sqlstate' AS sqlstate, r->>'message' AS message
FROM (SELECT metrics_refresh_run('tmo_v') AS r) s;
SET tmo.delay = '0';
SHOW statement_timeout;
SELECT * FROM tmo_v ORDER BY id;
SELECT status, sqlstate, error_message FROM metrics_refresh_log ORDER BY id DESC LIMIT 1;

--
-- The refresh_timeout timer is disabled whenever it was armed, even when the
-- view's code changed the setting before it failed: no stray cancel hits a
-- later statement.
--
RESET statement_timeout;
CREATE FUNCTION tmo_flip() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_catalog.set_config('metrics_refresh.refresh_timeout', '0', false);
    RAISE EXCEPTION 'failed after turning the limit off';
END $$;
CREATE MATERIALIZED VIEW tmo_flipper AS SELECT 1 AS id WHERE tmo_flip() = 1 WITH NO DATA;
CREATE UNIQUE INDEX ON tmo_flipper (id);
SET metrics_refresh.refresh_timeout = '400ms';
SELECT r->>'status' AS status, r->>'message' AS message
FROM (SELECT metrics_refresh_run('tmo_flipper') AS r) s;
SHOW metrics_refresh.refresh_timeout;
SELECT 'slept' AS undisturbed FROM pg_sleep(0.8);
RESET metrics_refresh.refresh_timeout;
DROP MATERIALIZED VIEW tmo_flipper;
DROP FUNCTION tmo_flip();

RESET statement_timeout;
RESET lock_timeout;
RESET tmo.delay;
DROP EXTENSION metrics_refresh CASCADE;
DROP MATERIALIZED VIEW tmo_v;
DROP TABLE tmo_src, tmo_note;
DROP FUNCTION tmo_delay();
