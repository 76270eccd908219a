-- A session that used the extension keeps no plan that follows the old
-- name of the extension's schema after a rename: whatever takes that name
-- afterwards (here a look-alike log, a view that calls a planted function)
-- is never used, let alone as the extension owner.
\set SHOW_CONTEXT never
CREATE SCHEMA regress_sr;
CREATE EXTENSION metrics_refresh SCHEMA regress_sr;
CREATE TABLE sr_src (id int PRIMARY KEY);
INSERT INTO sr_src VALUES (1);
CREATE MATERIALIZED VIEW sr_v AS SELECT id FROM sr_src;
CREATE UNIQUE INDEX ON sr_v (id);
CREATE TABLE sr_calls (who name, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON sr_calls TO PUBLIC;
CREATE FUNCTION sr_planted() RETURNS bigint LANGUAGE sql VOLATILE
AS $$ INSERT INTO public.sr_calls (who) VALUES (current_user) RETURNING 1::bigint $$;
-- The session logs runs and reads the log: its plans are made.
SELECT regress_sr.metrics_refresh_run('sr_v')->>'status' AS first_run;
SELECT regress_sr.metrics_refresh_run('sr_v')->>'status' AS second_run;
SELECT count(*) AS history_rows FROM regress_sr.metrics_refresh_history('sr_v');
SELECT regress_sr.metrics_refresh_run_status(min(id))->>'status' AS run_status
FROM regress_sr.metrics_refresh_log;
-- A prune folds the statistics first: the fold's plans are made too.
SELECT regress_sr.metrics_refresh_prune('100 years') AS pruned_before;
-- The schema is renamed; a new one takes its name, with a log look-alike.
ALTER SCHEMA regress_sr RENAME TO regress_sr_moved;
CREATE SCHEMA regress_sr;
CREATE VIEW regress_sr.metrics_refresh_log AS
SELECT l.*, public.sr_planted() AS planted FROM regress_sr_moved.metrics_refresh_log l;
-- Anything that invalidates the log's cached plans (here ANALYZE; also
-- autovacuum, any DDL on the log) would have them parsed again from their
-- text, which named the schema.
ANALYZE regress_sr_moved.metrics_refresh_log;
-- The same session goes on: runs are logged in the moved log, and the
-- look-alike is never read.
SELECT regress_sr_moved.metrics_refresh_run('sr_v')->>'status' AS after_rename;
SELECT count(*) AS history_rows FROM regress_sr_moved.metrics_refresh_history('sr_v');
SELECT regress_sr_moved.metrics_refresh_status('sr_v')->>'total' AS total;
SELECT regress_sr_moved.metrics_refresh_run_status(min(id))->>'status' AS run_status
FROM regress_sr_moved.metrics_refresh_log;
-- The fold follows the schema too (a plan parsed again from the old text
-- would update the look-alike, which is not updatable, and fail).
SELECT regress_sr_moved.metrics_refresh_prune('100 years') AS pruned_after;
SELECT successful FROM regress_sr_moved.metrics_refresh_stats WHERE view_name = 'public.sr_v';
SELECT count(*) AS planted_calls FROM sr_calls;
DROP SCHEMA regress_sr CASCADE;
DROP EXTENSION metrics_refresh;
DROP SCHEMA regress_sr_moved;
DROP MATERIALIZED VIEW sr_v;
DROP TABLE sr_src, sr_calls;
DROP FUNCTION sr_planted();
