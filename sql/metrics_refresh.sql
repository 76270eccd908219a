-- metrics_refresh: keep materialized views fresh, log every refresh, serve
-- the admin dashboard.  Hand-edited install script; the Makefile copies it to
-- metrics_refresh--<version>.sql.

\echo Use "CREATE EXTENSION metrics_refresh" to load this file. \quit

-------------------------------------------------------------------------------
-- The log: one row per refresh attempt
-------------------------------------------------------------------------------

CREATE TABLE @extschema@.metrics_refresh_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view_name     text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    duration_ms   double precision,
    status        text NOT NULL
                  CHECK (status IN ('success', 'error', 'skipped', 'running')),
    method        text CHECK (method IN ('concurrently', 'full')),
    source        text NOT NULL CHECK (source IN ('scheduled', 'manual')),
    triggered_by  name NOT NULL,
    sqlstate      text,
    error_message text,
    error_detail  text,
    error_hint    text,
    skip_reason   text
);

COMMENT ON TABLE @extschema@.metrics_refresh_log IS
    'One row per materialized view refresh attempt made through metrics_refresh';

-- Per-view windows (status, timeline, history) read only their window.
CREATE INDEX metrics_refresh_log_view_started_idx
    ON @extschema@.metrics_refresh_log (view_name, started_at);
-- "Last success" of a view that has failed for a long time stays one probe.
CREATE INDEX metrics_refresh_log_view_success_idx
    ON @extschema@.metrics_refresh_log (view_name, started_at)
    WHERE status = 'success';
-- Retention and the all-views history.
CREATE INDEX metrics_refresh_log_started_idx
    ON @extschema@.metrics_refresh_log (started_at);
-- Background runs still marked running (normally none or a few).
CREATE INDEX metrics_refresh_log_running_idx
    ON @extschema@.metrics_refresh_log (view_name)
    WHERE status = 'running';

REVOKE ALL ON TABLE @extschema@.metrics_refresh_log FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_log_id_seq', '');

-------------------------------------------------------------------------------
-- Per-view settings of scheduled views
-------------------------------------------------------------------------------

CREATE TABLE @extschema@.metrics_refresh_config (
    view_name   text PRIMARY KEY,
    schedule    text NOT NULL,
    stale_after interval NOT NULL DEFAULT '15 minutes' CHECK (stale_after > '0'),
    jobid       bigint
);

COMMENT ON TABLE @extschema@.metrics_refresh_config IS
    'Views scheduled by metrics_refresh_schedule(): pg_cron job and staleness limit';

REVOKE ALL ON TABLE @extschema@.metrics_refresh_config FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_config', '');

-------------------------------------------------------------------------------
-- Refreshing
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.metrics_refresh_run(view regclass, source text DEFAULT 'manual')
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_run';

COMMENT ON FUNCTION @extschema@.metrics_refresh_run(regclass, text) IS
    'Refresh a materialized view (concurrently when populated), log the attempt, return the result; failures are returned, not raised';

CREATE FUNCTION @extschema@.metrics_refresh_trigger(view regclass, wait boolean DEFAULT true)
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_trigger';

COMMENT ON FUNCTION @extschema@.metrics_refresh_trigger(regclass, boolean) IS
    'Admin "Refresh Now" of any materialized view; wait => false refreshes in a background worker and returns at once';

CREATE FUNCTION @extschema@.refresh_platform_metrics()
RETURNS void
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'refresh_platform_metrics';

COMMENT ON FUNCTION @extschema@.refresh_platform_metrics() IS
    'Refresh the platform view (metrics_refresh.platform_view) without logging; raises on failure';

CREATE FUNCTION @extschema@.refresh_platform_metrics_with_logging()
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'refresh_platform_metrics_with_logging';

COMMENT ON FUNCTION @extschema@.refresh_platform_metrics_with_logging() IS
    'Scheduled refresh of the platform view: logged, source scheduled, a WARNING on failure';

CREATE FUNCTION @extschema@.trigger_platform_metrics_refresh(wait boolean DEFAULT true)
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'trigger_platform_metrics_refresh';

COMMENT ON FUNCTION @extschema@.trigger_platform_metrics_refresh(boolean) IS
    'Admin "Refresh Now" of the platform view; super admins only';

CREATE FUNCTION @extschema@.metrics_refresh_is_admin()
RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'metrics_refresh_is_admin';

COMMENT ON FUNCTION @extschema@.metrics_refresh_is_admin() IS
    'Whether the caller is a metrics_refresh super admin';

-------------------------------------------------------------------------------
-- Monitoring
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.metrics_refresh_status(
    view regclass, time_window interval DEFAULT '24 hours')
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_status';

COMMENT ON FUNCTION @extschema@.metrics_refresh_status(regclass, interval) IS
    'Health and statistics of one view''s refreshes over a window: the monitor card';

CREATE FUNCTION @extschema@.metrics_refresh_status_all(
    time_window interval DEFAULT '24 hours',
    OUT view_name text, OUT status text,
    OUT last_refresh_at timestamptz, OUT last_success_at timestamptz,
    OUT last_status text, OUT last_error text,
    OUT total bigint, OUT successful bigint, OUT failed bigint, OUT skipped bigint,
    OUT success_rate numeric,
    OUT avg_duration_ms double precision, OUT min_duration_ms double precision,
    OUT max_duration_ms double precision, OUT p95_duration_ms double precision)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_status_all';

COMMENT ON FUNCTION @extschema@.metrics_refresh_status_all(interval) IS
    'metrics_refresh_status for every scheduled view and every view run within the window';

CREATE VIEW @extschema@.metrics_refresh_overview AS
    SELECT * FROM @extschema@.metrics_refresh_status_all('24 hours');

COMMENT ON VIEW @extschema@.metrics_refresh_overview IS
    'One row per scheduled or recently (24 h) refreshed view, with its status';

CREATE FUNCTION @extschema@.metrics_refresh_timeline(
    view regclass,
    time_window interval DEFAULT '24 hours',
    bucket interval DEFAULT '1 hour',
    OUT bucket_start timestamptz, OUT runs bigint, OUT successes bigint,
    OUT failures bigint, OUT avg_duration_ms double precision,
    OUT max_duration_ms double precision)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_timeline';

COMMENT ON FUNCTION @extschema@.metrics_refresh_timeline(regclass, interval, interval) IS
    'Runs, failures and durations per time bucket, empty buckets included, oldest first: the 24 h chart';

CREATE FUNCTION @extschema@.metrics_refresh_history(
    view regclass DEFAULT NULL, max_rows integer DEFAULT 50)
RETURNS SETOF @extschema@.metrics_refresh_log
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_history';

COMMENT ON FUNCTION @extschema@.metrics_refresh_history(regclass, integer) IS
    'Latest log rows, newest first; all views when view is NULL: "View Logs"';

CREATE FUNCTION @extschema@.metrics_refresh_run_status(run_id bigint)
RETURNS jsonb
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_run_status';

COMMENT ON FUNCTION @extschema@.metrics_refresh_run_status(bigint) IS
    'Current result object of one run (e.g. a background run); NULL for an unknown id';

CREATE FUNCTION @extschema@.metrics_refresh_prune(older_than interval)
RETURNS bigint
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_prune';

COMMENT ON FUNCTION @extschema@.metrics_refresh_prune(interval) IS
    'Delete log rows of runs that started more than older_than ago; returns the count (admins only)';

-------------------------------------------------------------------------------
-- Scheduling (pg_cron, looked up at call time)
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.metrics_refresh_schedule(
    view regclass,
    schedule text DEFAULT '*/5 * * * *',
    stale_after interval DEFAULT '15 minutes')
RETURNS bigint
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_schedule';

COMMENT ON FUNCTION @extschema@.metrics_refresh_schedule(regclass, text, interval) IS
    'Create or update the pg_cron job that refreshes a view; returns the job id (admins only)';

CREATE FUNCTION @extschema@.metrics_refresh_unschedule(view regclass)
RETURNS boolean
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_unschedule';

COMMENT ON FUNCTION @extschema@.metrics_refresh_unschedule(regclass) IS
    'Remove the pg_cron job of a view; false when it had none (admins only)';

CREATE FUNCTION @extschema@.metrics_refresh_version()
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_version';

COMMENT ON FUNCTION @extschema@.metrics_refresh_version() IS
    'Version of the loaded metrics_refresh library';

-- The functions above decide access themselves (see README, Security): the
-- overview view is readable by anyone whom metrics_refresh_status_all lets in.
GRANT SELECT ON @extschema@.metrics_refresh_overview TO PUBLIC;
