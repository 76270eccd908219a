-- Core: metrics_refresh_run and the platform functions on a small demo
-- application (accounts, users, assets and their platform_metrics view).
-- Varying values (times, durations, run ids) are checked in the queries.
-- Errors are shown without their CONTEXT lines: those name the extension's
-- internal statements and PL/pgSQL line numbers, which are no contract.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;

CREATE SCHEMA core_app;
CREATE TABLE core_app.accounts (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE core_app.users (
    id int PRIMARY KEY,
    account_id int NOT NULL REFERENCES core_app.accounts,
    active boolean NOT NULL DEFAULT true);
CREATE TABLE core_app.assets (
    id int PRIMARY KEY,
    account_id int NOT NULL REFERENCES core_app.accounts);
INSERT INTO core_app.accounts SELECT g, 'account ' || g FROM generate_series(1, 3) g;
INSERT INTO core_app.users SELECT g, 1 + g % 3 FROM generate_series(1, 6) g;
INSERT INTO core_app.assets SELECT g, 1 + g % 3 FROM generate_series(1, 12) g;

CREATE MATERIALIZED VIEW core_app.platform_metrics AS
SELECT 1 AS id,
       (SELECT count(*) FROM core_app.accounts) AS total_accounts,
       (SELECT count(*) FROM core_app.users) AS total_users,
       (SELECT count(*) FROM core_app.assets) AS total_assets;
CREATE UNIQUE INDEX ON core_app.platform_metrics (id);

-- Assets per active user: division by zero once no user is active.
CREATE MATERIALIZED VIEW core_app.user_ratio AS
SELECT 1 AS id,
       (SELECT count(*) FROM core_app.assets)
       / (SELECT count(*) FROM core_app.users WHERE active) AS assets_per_user;
CREATE UNIQUE INDEX ON core_app.user_ratio (id);

-- A view whose query does what core_app.knobs says: nothing, sleep, or cancel
-- its own query; its "generation" column shows which refresh produced it.
CREATE TABLE core_app.knobs (mode text NOT NULL, sleep_s float8 NOT NULL, generation int NOT NULL);
INSERT INTO core_app.knobs VALUES ('none', 0, 1);
CREATE FUNCTION core_app.knob_generation() RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k core_app.knobs;
BEGIN
    SELECT * INTO k FROM core_app.knobs;
    IF k.mode = 'cancel' THEN
        PERFORM pg_catalog.pg_cancel_backend(pg_catalog.pg_backend_pid());
        PERFORM pg_catalog.pg_sleep(5);
    ELSIF k.mode = 'sleep' THEN
        PERFORM pg_catalog.pg_sleep(k.sleep_s);
    END IF;
    RETURN k.generation;
END $$;
CREATE MATERIALIZED VIEW core_app.slow_metrics AS
SELECT 1 AS id, core_app.knob_generation() AS generation;
CREATE UNIQUE INDEX ON core_app.slow_metrics (id);

CREATE TEMP TABLE core_results (label text PRIMARY KEY, r jsonb NOT NULL);

--
-- A successful refresh of a populated view: the result object and its log row.
--
INSERT INTO core_app.accounts VALUES (4, 'account 4');
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
INSERT INTO core_results SELECT 'first', metrics_refresh_run('core_app.platform_metrics');
SELECT r->'success' AS success, r->>'status' AS status, r->>'method' AS method,
       r->>'view' AS view, r->>'source' AS source,
       r->>'triggered_by' = current_user AS by_caller,
       jsonb_typeof(r->'run_id') AS run_id_type,
       jsonb_typeof(r->'duration_ms') AS duration_type,
       (r->>'duration_ms')::float8 > 0 AS positive_duration,
       r->>'message' ~ '^refreshed core_app\.platform_metrics concurrently in [0-9]+(\.[0-9])? ms$' AS message_shape
FROM core_results WHERE label = 'first';
SELECT string_agg(k, ', ' ORDER BY k) AS result_keys
FROM core_results, jsonb_object_keys(r) k WHERE label = 'first';
-- The number in the message is the duration, rounded.
SELECT (regexp_match(r->>'message', ' in ([0-9.]+) ms$'))[1]::numeric
       = CASE WHEN (r->>'duration_ms')::numeric < 10
              THEN round((r->>'duration_ms')::numeric, 1)
              ELSE round((r->>'duration_ms')::numeric) END AS message_duration_matches
FROM core_results WHERE label = 'first';
-- Exactly one log row, and it is the one the result describes.
SELECT count(*) AS new_log_rows FROM metrics_refresh_log WHERE id > :mark;
SELECT l.id = (c.r->>'run_id')::bigint AS run_id_matches,
       l.view_name, l.status, l.method, l.source,
       l.triggered_by = current_user AS by_caller,
       l.duration_ms > 0 AS positive_duration,
       l.started_at <= l.finished_at AS ordered_times,
       l.duration_ms = (c.r->>'duration_ms')::float8 AS same_duration,
       l.started_at = (c.r->>'started_at')::timestamptz AS same_start,
       l.finished_at = (c.r->>'finished_at')::timestamptz AS same_finish,
       num_nulls(l.sqlstate, l.error_message, l.error_detail, l.error_hint, l.skip_reason) = 5 AS no_error_columns
FROM metrics_refresh_log l, core_results c
WHERE l.id > :mark AND c.label = 'first';
-- The new account is visible.
SELECT * FROM core_app.platform_metrics;

--
-- duration_ms is measured, in milliseconds, inside [started_at, finished_at]:
-- a refresh that sleeps 0.2 s lasts at least 200 ms and no longer than the
-- span of its timestamps (small slack for clock adjustment), and the span
-- exceeds it by far less than a second.
--
UPDATE core_app.knobs SET mode = 'sleep', sleep_s = 0.2, generation = 2;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT r->>'status' AS status, r->>'method' AS method
FROM metrics_refresh_run('core_app.slow_metrics') t(r);
SELECT count(*) AS new_log_rows,
       bool_and(duration_ms >= 200) AS at_least_the_sleep,
       bool_and(duration_ms <= 1000 * extract(epoch FROM finished_at - started_at)::float8 + 5) AS within_span,
       bool_and(1000 * extract(epoch FROM finished_at - started_at)::float8 - duration_ms < 1000) AS span_close
FROM metrics_refresh_log WHERE id > :mark;
SELECT generation FROM core_app.slow_metrics;
UPDATE core_app.knobs SET mode = 'none', sleep_s = 0;

--
-- started_at and finished_at are clock times, not now(): two runs in one
-- transaction get different, ordered times, all later than the transaction start.
--
BEGIN;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT metrics_refresh_run('core_app.platform_metrics')->>'status' AS status;
SELECT metrics_refresh_run('core_app.platform_metrics')->>'status' AS status;
SELECT count(*) AS runs,
       count(DISTINCT started_at) AS distinct_starts,
       bool_and(started_at > now()) AS started_after_now,
       bool_and(finished_at > now()) AS finished_after_now
FROM metrics_refresh_log WHERE id > :mark;
SELECT (array_agg(finished_at ORDER BY id))[1] <= (array_agg(started_at ORDER BY id))[2] AS second_starts_after_first_ends
FROM metrics_refresh_log WHERE id > :mark;
COMMIT;

--
-- A never-populated view gets a plain REFRESH (method full), then CONCURRENTLY.
--
CREATE MATERIALIZED VIEW core_app.account_users AS
SELECT a.id, count(u.id) AS users
FROM core_app.accounts a LEFT JOIN core_app.users u ON u.account_id = a.id
GROUP BY a.id
WITH NO DATA;
CREATE UNIQUE INDEX ON core_app.account_users (id);
SELECT relispopulated FROM pg_class WHERE oid = 'core_app.account_users'::regclass;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT r->'success' AS success, r->>'status' AS status, r->>'method' AS method,
       r->>'message' ~ '^refreshed core_app\.account_users full in ' AS message_shape
FROM metrics_refresh_run('core_app.account_users') t(r);
SELECT relispopulated FROM pg_class WHERE oid = 'core_app.account_users'::regclass;
SELECT * FROM core_app.account_users ORDER BY id;
SELECT r->>'status' AS status, r->>'method' AS method
FROM metrics_refresh_run('core_app.account_users') t(r);
SELECT status, method, source FROM metrics_refresh_log WHERE id > :mark ORDER BY id;

--
-- A view name that needs quoting is logged so that it casts back to regclass.
--
CREATE MATERIALIZED VIEW core_app."Account Names" AS SELECT id, name FROM core_app.accounts;
CREATE UNIQUE INDEX ON core_app."Account Names" (id);
SELECT r->>'view' AS view, r->>'status' AS status,
       (r->>'view')::regclass = 'core_app."Account Names"'::regclass AS casts_back
FROM metrics_refresh_run('core_app."Account Names"') t(r);
SELECT view_name, view_name::regclass = 'core_app."Account Names"'::regclass AS casts_back
FROM metrics_refresh_log WHERE id = (SELECT max(id) FROM metrics_refresh_log);

--
-- Division by zero inside the view's query: logged and returned, not raised;
-- the view keeps its old contents; the session goes on.
--
SELECT * FROM core_app.user_ratio;
UPDATE core_app.users SET active = false;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
INSERT INTO core_results SELECT 'div0', metrics_refresh_run('core_app.user_ratio');
SELECT r->'success' AS success, r->>'status' AS status, r->>'sqlstate' AS sqlstate,
       r->>'message' AS message, r->>'method' AS method, r->>'view' AS view,
       r->>'source' AS source, (r->>'duration_ms')::float8 >= 0 AS has_duration
FROM core_results WHERE label = 'div0';
SELECT string_agg(k, ', ' ORDER BY k) AS result_keys
FROM core_results, jsonb_object_keys(r) k WHERE label = 'div0';
SELECT count(*) AS new_log_rows FROM metrics_refresh_log WHERE id > :mark;
SELECT l.id = (c.r->>'run_id')::bigint AS run_id_matches,
       l.view_name, l.status, l.method, l.source, l.sqlstate, l.error_message,
       l.error_detail, l.error_hint, l.skip_reason,
       l.triggered_by = current_user AS by_caller,
       l.duration_ms >= 0 AS has_duration,
       l.started_at <= l.finished_at AS ordered_times
FROM metrics_refresh_log l, core_results c
WHERE l.id > :mark AND c.label = 'div0';
-- Old contents kept, still populated; the session works.
SELECT * FROM core_app.user_ratio;
SELECT relispopulated FROM pg_class WHERE oid = 'core_app.user_ratio'::regclass;
SELECT 'session still usable' AS check;

-- A failing plain REFRESH of a never-populated view leaves it unpopulated.
CREATE MATERIALIZED VIEW core_app.user_ratio_new AS
SELECT 1 AS id,
       (SELECT count(*) FROM core_app.assets)
       / (SELECT count(*) FROM core_app.users WHERE active) AS assets_per_user
WITH NO DATA;
CREATE UNIQUE INDEX ON core_app.user_ratio_new (id);
SELECT r->'success' AS success, r->>'status' AS status, r->>'method' AS method,
       r->>'sqlstate' AS sqlstate, r->>'message' AS message
FROM metrics_refresh_run('core_app.user_ratio_new') t(r);
SELECT relispopulated FROM pg_class WHERE oid = 'core_app.user_ratio_new'::regclass;

--
-- A failure inside BEGIN ... COMMIT leaves the transaction usable: later
-- statements (and a later refresh) succeed and COMMIT commits everything,
-- the failed attempt's log row included.
--
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
BEGIN;
INSERT INTO core_app.assets VALUES (13, 1);
SELECT r->'success' AS success, r->>'status' AS status, r->>'sqlstate' AS sqlstate
FROM metrics_refresh_run('core_app.user_ratio') t(r);
SELECT count(*) AS assets FROM core_app.assets;
UPDATE core_app.users SET active = true WHERE id <= 3;
SELECT r->'success' AS success, r->>'status' AS status, r->>'method' AS method
FROM metrics_refresh_run('core_app.user_ratio') t(r);
SELECT * FROM core_app.user_ratio;
COMMIT;
SELECT status, sqlstate, method FROM metrics_refresh_log WHERE id > :mark ORDER BY id;
SELECT * FROM core_app.user_ratio;
SELECT count(*) AS assets FROM core_app.assets;

--
-- A query cancel during the refresh (the view's query cancels itself): logged
-- as 57014 and returned, not raised; the enclosing transaction goes on.
--
UPDATE core_app.knobs SET mode = 'cancel', generation = 3;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
BEGIN;
INSERT INTO core_results SELECT 'cancel', metrics_refresh_run('core_app.slow_metrics');
SELECT r->'success' AS success, r->>'status' AS status, r->>'sqlstate' AS sqlstate,
       r->>'message' AS message, r->>'method' AS method
FROM core_results WHERE label = 'cancel';
SELECT generation FROM core_app.slow_metrics;
UPDATE core_app.knobs SET mode = 'none', generation = 4;
SELECT r->>'status' AS status, r->>'method' AS method
FROM metrics_refresh_run('core_app.slow_metrics') t(r);
SELECT generation FROM core_app.slow_metrics;
-- No cancel is left pending: a later sleep is not interrupted.
SELECT pg_sleep(0.1) IS NOT NULL AS slept;
COMMIT;
SELECT status, sqlstate, error_message, method FROM metrics_refresh_log WHERE id > :mark ORDER BY id;
SELECT generation FROM core_app.slow_metrics;

-- The same for statement_timeout firing during the refresh (the refresh
-- starts at once; its query would sleep 5 s).
UPDATE core_app.knobs SET mode = 'sleep', sleep_s = 5, generation = 5;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SET statement_timeout = '1s';
SELECT r->'success' AS success, r->>'status' AS status, r->>'sqlstate' AS sqlstate,
       r->>'message' AS message
FROM metrics_refresh_run('core_app.slow_metrics') t(r);
RESET statement_timeout;
SELECT status, sqlstate, error_message FROM metrics_refresh_log WHERE id > :mark;
SELECT generation FROM core_app.slow_metrics;

--
-- metrics_refresh.refresh_timeout cancels a slow refresh: 57014 with the
-- extension's message, logged, old contents kept.
--
UPDATE core_app.knobs SET mode = 'sleep', sleep_s = 5, generation = 5;
SET metrics_refresh.refresh_timeout = '200ms';
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
INSERT INTO core_results SELECT 'timeout', metrics_refresh_run('core_app.slow_metrics');
SELECT r->'success' AS success, r->>'status' AS status, r->>'sqlstate' AS sqlstate,
       r->>'message' AS message, r->>'detail' AS detail, r->>'method' AS method
FROM core_results WHERE label = 'timeout';
SELECT count(*) AS new_log_rows FROM metrics_refresh_log WHERE id > :mark;
SELECT status, sqlstate, error_message, error_detail, method,
       duration_ms >= 200 AS ran_until_the_timeout
FROM metrics_refresh_log WHERE id > :mark;
SELECT generation FROM core_app.slow_metrics;
SELECT pg_sleep(0.3) IS NOT NULL AS slept;
-- A refresh that ends in time is not affected.
UPDATE core_app.knobs SET mode = 'none', sleep_s = 0;
SET metrics_refresh.refresh_timeout = '10s';
SELECT r->>'status' AS status FROM metrics_refresh_run('core_app.slow_metrics') t(r);
SELECT generation FROM core_app.slow_metrics;
RESET metrics_refresh.refresh_timeout;

--
-- The platform functions.  With the default platform_view, which names
-- nothing here, they raise 42P01 and log nothing.
--
SHOW metrics_refresh.platform_view;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT refresh_platform_metrics();
\echo :LAST_ERROR_SQLSTATE
SELECT refresh_platform_metrics_with_logging();
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'core_app.no_such_view';
SELECT refresh_platform_metrics();
\echo :LAST_ERROR_SQLSTATE
SELECT refresh_platform_metrics_with_logging();
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS new_log_rows FROM metrics_refresh_log WHERE id > :mark;

SET metrics_refresh.platform_view = 'core_app.platform_metrics';

-- refresh_platform_metrics(): returns void, refreshes, logs nothing.
SELECT prorettype::regtype FROM pg_proc WHERE proname = 'refresh_platform_metrics';
INSERT INTO core_app.assets VALUES (14, 2);
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT refresh_platform_metrics();
SELECT count(*) AS new_log_rows FROM metrics_refresh_log WHERE id > :mark;
SELECT * FROM core_app.platform_metrics;

-- refresh_platform_metrics_with_logging(): source scheduled.
INSERT INTO core_app.users VALUES (7, 4);
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT r->'success' AS success, r->>'status' AS status, r->>'method' AS method,
       r->>'view' AS view, r->>'source' AS source,
       r->>'message' ~ '^refreshed core_app\.platform_metrics concurrently in ' AS message_shape
FROM refresh_platform_metrics_with_logging() t(r);
SELECT view_name, status, method, source, triggered_by = current_user AS by_caller
FROM metrics_refresh_log WHERE id > :mark;
SELECT * FROM core_app.platform_metrics;

-- trigger_platform_metrics_refresh(): source manual.
INSERT INTO core_app.accounts VALUES (5, 'account 5');
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
SELECT r->'success' AS success, r->>'status' AS status, r->>'method' AS method,
       r->>'view' AS view, r->>'source' AS source
FROM trigger_platform_metrics_refresh() t(r);
SELECT view_name, status, method, source, triggered_by = current_user AS by_caller
FROM metrics_refresh_log WHERE id > :mark;
SELECT * FROM core_app.platform_metrics;

-- platform_view pointing at another view, whose refresh fails.
SET metrics_refresh.platform_view = 'core_app.user_ratio';
UPDATE core_app.users SET active = false;
SELECT coalesce(max(id), 0) AS mark FROM metrics_refresh_log \gset
-- refresh_platform_metrics() raises the error and logs nothing.
SELECT refresh_platform_metrics();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS new_log_rows FROM metrics_refresh_log WHERE id > :mark;
-- refresh_platform_metrics_with_logging() returns it, logs it, and warns.
SELECT r->'success' AS success, r->>'status' AS status, r->>'view' AS view,
       r->>'source' AS source, r->>'sqlstate' AS sqlstate, r->>'message' AS message
FROM refresh_platform_metrics_with_logging() t(r);
-- trigger_platform_metrics_refresh() returns it and logs it, without a warning.
SELECT r->'success' AS success, r->>'status' AS status, r->>'view' AS view,
       r->>'source' AS source, r->>'sqlstate' AS sqlstate, r->>'message' AS message
FROM trigger_platform_metrics_refresh() t(r);
SELECT view_name, status, source, sqlstate, error_message
FROM metrics_refresh_log WHERE id > :mark ORDER BY id;
SELECT * FROM core_app.user_ratio;
-- The GUC only chooses the view: platform_metrics was not touched.
SELECT * FROM core_app.platform_metrics;
RESET metrics_refresh.platform_view;

DROP TABLE core_results;
SET client_min_messages = warning;
DROP SCHEMA core_app CASCADE;
RESET client_min_messages;
DROP EXTENSION metrics_refresh CASCADE;
