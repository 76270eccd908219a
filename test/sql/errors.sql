-- Invalid calls raise at once, change nothing and log nothing; a view without
-- a usable unique index is a refresh failure (logged 55000, returned).
-- Needs pg_cron (invalid calls must not create pg_cron jobs either); where the
-- server cannot run it in this database, the test is skipped
-- (expected/errors_1.out).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/include/require_pg_cron.sql
\if :skip_test
\quit
\endif
CREATE EXTENSION metrics_refresh;

CREATE SCHEMA errors_app;
CREATE TABLE errors_app.accounts (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO errors_app.accounts SELECT g, 'account ' || g FROM generate_series(1, 3) g;
CREATE VIEW errors_app.accounts_v AS SELECT id, name FROM errors_app.accounts;
CREATE SEQUENCE errors_app.account_seq;
CREATE TYPE errors_app.pair AS (a int, b int);
CREATE MATERIALIZED VIEW errors_app.account_count AS
SELECT 1 AS id, count(*) AS accounts FROM errors_app.accounts;
CREATE UNIQUE INDEX ON errors_app.account_count (id);
-- Base data changes that no failed call may publish.
INSERT INTO errors_app.accounts VALUES (4, 'account 4');

-- The shared helper, for the read-only transaction below, which goes on
-- after each refused call.
\i :abs_srcdir/include/regress_try.sql

-- What the invalid calls must not change.
CREATE TEMP VIEW errors_state AS
SELECT (SELECT count(*) FROM metrics_refresh_log) AS log_rows,
       (SELECT count(*) FROM metrics_refresh_config) AS config_rows,
       (SELECT count(*) FROM cron.job) AS cron_jobs,
       (SELECT accounts FROM errors_app.account_count) AS published_accounts;
SELECT * FROM errors_state;

-- The error reaches the client as an ERROR.
SELECT metrics_refresh_run(NULL);

--
-- NULL view: 22004, for every function that takes a view.
--
SELECT metrics_refresh_run(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run(NULL, 'scheduled');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger(NULL, false);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule(NULL);
\echo :LAST_ERROR_SQLSTATE
-- ... except metrics_refresh_history, where NULL means all views.
SELECT count(*) AS history_rows FROM metrics_refresh_history(NULL);

-- Other NULL arguments.
SELECT metrics_refresh_run('errors_app.account_count', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger('errors_app.account_count', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('errors_app.account_count', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('errors_app.account_count', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('errors_app.account_count', '1 day', NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- A bad source: 22023.
--
SELECT metrics_refresh_run('errors_app.account_count', 'cron');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('errors_app.account_count', '');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('errors_app.account_count', 'Manual');
\echo :LAST_ERROR_SQLSTATE

--
-- Not a materialized view: 42809.
--
SELECT metrics_refresh_run('errors_app.accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('errors_app.accounts_v');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('errors_app.account_seq');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('errors_app.accounts_pkey');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('errors_app.pair');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run('pg_catalog.pg_class');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger('errors_app.accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status('errors_app.accounts_v');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_timeline('errors_app.account_seq');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_history('errors_app.accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule('errors_app.accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_unschedule('errors_app.accounts_v');
\echo :LAST_ERROR_SQLSTATE
SET metrics_refresh.platform_view = 'errors_app.accounts';
SELECT refresh_platform_metrics();
\echo :LAST_ERROR_SQLSTATE
SELECT refresh_platform_metrics_with_logging();
\echo :LAST_ERROR_SQLSTATE
SELECT trigger_platform_metrics_refresh();
\echo :LAST_ERROR_SQLSTATE
RESET metrics_refresh.platform_view;

--
-- A relation that does not exist (an OID naming nothing): 42P01.
--
SELECT metrics_refresh_run(0::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_run(999999::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_trigger(999999::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_status(999999::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_schedule(999999::oid::regclass);
\echo :LAST_ERROR_SQLSTATE

-- None of the calls above changed or logged anything.
SELECT * FROM errors_state;

--
-- A read-only transaction: 25006, nothing logged, nothing refreshed.
--
BEGIN;
SET TRANSACTION READ ONLY;
SELECT regress_try('SELECT metrics_refresh_run(''errors_app.account_count'')');
SELECT regress_try('SELECT metrics_refresh_trigger(''errors_app.account_count'')');
SELECT regress_try('SELECT metrics_refresh_schedule(''errors_app.account_count'')');
SELECT regress_try('SELECT metrics_refresh_unschedule(''errors_app.account_count'')');
SET LOCAL metrics_refresh.platform_view = 'errors_app.account_count';
SELECT regress_try('SELECT refresh_platform_metrics()');
SELECT regress_try('SELECT refresh_platform_metrics_with_logging()');
SELECT regress_try('SELECT trigger_platform_metrics_refresh()');
-- Monitoring still answers.
SELECT metrics_refresh_status('errors_app.account_count')->>'status' AS status;
SELECT * FROM errors_state;
-- The raw call raises (and aborts the transaction, as any error does).
SELECT metrics_refresh_run('errors_app.account_count');
ROLLBACK;
SELECT * FROM errors_state;

--
-- No usable unique index: not an invalid call but a failed refresh, so it is
-- logged (55000, with a hint naming CREATE UNIQUE INDEX) and returned.
--
CREATE MATERIALIZED VIEW errors_app.no_index AS SELECT id, name FROM errors_app.accounts;
CREATE MATERIALIZED VIEW errors_app.plain_index AS SELECT id, name FROM errors_app.accounts;
CREATE INDEX ON errors_app.plain_index (id);
CREATE MATERIALIZED VIEW errors_app.partial_index AS SELECT id, name FROM errors_app.accounts;
CREATE UNIQUE INDEX ON errors_app.partial_index (id) WHERE id > 0;
CREATE MATERIALIZED VIEW errors_app.expression_index AS SELECT id, name FROM errors_app.accounts;
CREATE UNIQUE INDEX ON errors_app.expression_index (lower(name));
CREATE MATERIALIZED VIEW errors_app.mixed_index AS SELECT id, name FROM errors_app.accounts;
CREATE UNIQUE INDEX ON errors_app.mixed_index (id, lower(name));
CREATE MATERIALIZED VIEW errors_app.unpopulated_no_index AS SELECT id, name FROM errors_app.accounts
WITH NO DATA;
INSERT INTO errors_app.accounts VALUES (5, 'account 5');

SELECT count(*) AS log_rows_before FROM metrics_refresh_log \gset
CREATE TEMP TABLE errors_results AS
SELECT v.view, metrics_refresh_run(v.view::regclass) AS r
FROM (VALUES ('errors_app.no_index'), ('errors_app.plain_index'), ('errors_app.partial_index'),
             ('errors_app.expression_index'), ('errors_app.mixed_index'),
             ('errors_app.unpopulated_no_index')) AS v(view);
SELECT view, r->'success' AS success, r->>'status' AS status, r->>'sqlstate' AS sqlstate,
       r->>'method' AS method, r->>'message' AS message,
       r->>'hint' LIKE '%CREATE UNIQUE INDEX ON ' || view || ' (%' AS hint_names_create_unique_index
FROM errors_results ORDER BY view;
-- One hint in full.
SELECT r->>'detail' AS detail, r->>'hint' AS hint
FROM errors_results WHERE view = 'errors_app.no_index';
-- One log row each, matching the results.
SELECT count(*) - :log_rows_before AS new_log_rows FROM metrics_refresh_log;
SELECT l.view_name, l.status, l.sqlstate, l.method,
       l.error_message = e.r->>'message' AS same_message,
       l.error_hint = e.r->>'hint' AS same_hint,
       l.error_detail IS NOT NULL AS has_detail
FROM metrics_refresh_log l JOIN errors_results e ON l.id = (e.r->>'run_id')::bigint
ORDER BY l.view_name;
-- Nothing was refreshed: old contents (4 of the 5 accounts), the unpopulated view still unpopulated.
SELECT (SELECT count(*) FROM errors_app.no_index) AS no_index,
       (SELECT count(*) FROM errors_app.partial_index) AS partial_index,
       (SELECT count(*) FROM errors_app.expression_index) AS expression_index,
       (SELECT relispopulated FROM pg_class
        WHERE oid = 'errors_app.unpopulated_no_index'::regclass) AS unpopulated_populated;
-- Inside a transaction too: returned, and the transaction goes on.
BEGIN;
SELECT r->>'status' AS status, r->>'sqlstate' AS sqlstate
FROM metrics_refresh_run('errors_app.partial_index') t(r);
SELECT 'transaction still usable' AS check;
COMMIT;
-- Following the hint fixes it.
CREATE UNIQUE INDEX ON errors_app.partial_index (id);
SELECT r->>'status' AS status, r->>'method' AS method
FROM metrics_refresh_run('errors_app.partial_index') t(r);
SELECT count(*) AS partial_index FROM errors_app.partial_index;

DROP TABLE errors_results;
DROP VIEW errors_state;
DROP FUNCTION public.regress_try(text, boolean);
SET client_min_messages = warning;
DROP SCHEMA errors_app CASCADE;
RESET client_min_messages;
DROP EXTENSION metrics_refresh CASCADE;
