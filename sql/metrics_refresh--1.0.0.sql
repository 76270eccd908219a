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

-- Per-view windows (status, timeline, history) read only their window, and
-- the dashboard's aggregates and "last run/success" come from this index
-- alone (index-only scans).
CREATE INDEX metrics_refresh_log_view_started_idx
    ON @extschema@.metrics_refresh_log (view_name, started_at)
    INCLUDE (status, finished_at, duration_ms);
-- "Last error" of a view that has not failed for a long time, likewise.
CREATE INDEX metrics_refresh_log_view_error_idx
    ON @extschema@.metrics_refresh_log (view_name, started_at)
    WHERE status = 'error';
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

-- A dropped or renamed view would leave a pg_cron job failing on a name that
-- is gone: these event triggers remove such schedules, with a NOTICE.
CREATE FUNCTION @extschema@.metrics_refresh_ddl_sweep()
RETURNS event_trigger
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_ddl_sweep';

COMMENT ON FUNCTION @extschema@.metrics_refresh_ddl_sweep() IS
    'Event trigger: remove schedules of views that were dropped or renamed';

CREATE EVENT TRIGGER metrics_refresh_after_drop ON sql_drop
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_sweep();
CREATE EVENT TRIGGER metrics_refresh_after_rename ON ddl_command_end
    WHEN TAG IN ('ALTER MATERIALIZED VIEW', 'ALTER SCHEMA')
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_sweep();

CREATE FUNCTION @extschema@.metrics_refresh_version()
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_version';

COMMENT ON FUNCTION @extschema@.metrics_refresh_version() IS
    'Version of the loaded metrics_refresh library';

-- The functions above decide access themselves (see README, Security): the
-- overview view is readable by anyone whom metrics_refresh_status_all lets in.
GRANT SELECT ON @extschema@.metrics_refresh_overview TO PUBLIC;

-------------------------------------------------------------------------------
-- Dashboard
-------------------------------------------------------------------------------

-- The monitor card and the performance panel of one view, drawn as text for
-- psql.  Everything comes from metrics_refresh_status() and
-- metrics_refresh_timeline(), which check the arguments (22004, 22023, 42809)
-- and the caller's access (42501), so this function checks nothing itself.
-- Lines are at most 64 characters wide.  The chart has one character per
-- bucket: the bucket's average duration on a scale of eight blocks up to the
-- largest bucket average, and "·" where the bucket has no timed run.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard(
    view regclass, time_window interval DEFAULT '24 hours')
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    inner_width constant integer := 60;   -- between "│ " and " │"
    bar_width   constant integer := 40;
    err_width   constant integer := 46;   -- inner_width minus a label
    rule        constant text := repeat('─', 62);
    st          jsonb;
    win_s       double precision;
    bucket_s    integer;
    bucket_iv   interval;
    avgs        double precision[];
    chart_max   double precision;
    n_buckets   integer;
    spark       text;
    axis        text;
    mid         text;
    mid_at      integer;
    durs        text[];   -- avg, max, min, p95, chart maximum
    labels      text[];   -- window, half window, bucket, stale_after
    agos        text[];   -- last refresh, last success
    n_ok        bigint;
    n_failed    bigint;
    rate        numeric;
    rate_text   text;
    filled      integer;
    status_text text;
    err         text;
    err_lines   text[] := '{}';
    word        text;
    cur         text := '';
    lines       text[];
BEGIN
    st := @extschema@.metrics_refresh_status(view, time_window);

    -- About 24 buckets, of a round size.
    win_s := extract(epoch FROM time_window);
    SELECT s INTO bucket_s
    FROM unnest(ARRAY[1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                      7200, 10800, 21600, 43200, 86400]) AS s
    WHERE s >= win_s / 24
    ORDER BY s LIMIT 1;
    IF bucket_s IS NULL THEN
        bucket_iv := make_interval(days => ceil(win_s / 24 / 86400)::integer);
    ELSE
        bucket_iv := make_interval(secs => bucket_s);
    END IF;

    SELECT array_agg(t.avg_duration_ms ORDER BY t.bucket_start), max(t.avg_duration_ms)
    INTO avgs, chart_max
    FROM @extschema@.metrics_refresh_timeline(view, time_window, bucket_iv) AS t;
    n_buckets := coalesce(array_length(avgs, 1), 0);

    SELECT string_agg(CASE WHEN a IS NULL THEN '·'
                           WHEN chart_max <= 0 THEN '▁'
                           ELSE substr('▁▂▃▄▅▆▇█',
                                       greatest(1, least(8, ceil(a / chart_max * 8)::integer)), 1)
                      END, '' ORDER BY i)
    INTO spark
    FROM unnest(avgs) WITH ORDINALITY AS u(a, i);

    -- Durations: 4.2ms, 42ms, 0.42s, 4.20s, 420s.
    SELECT array_agg(CASE WHEN ms IS NULL THEN 'n/a'
                          WHEN ms < 9.95 THEN round(ms::numeric, 1) || 'ms'
                          WHEN ms < 99.5 THEN round(ms::numeric) || 'ms'
                          WHEN ms < 99995 THEN round((ms / 1000)::numeric, 2) || 's'
                          ELSE round((ms / 1000)::numeric) || 's' END ORDER BY i)
    INTO durs
    FROM unnest(ARRAY[(st->>'avg_duration_ms')::double precision,
                      (st->>'max_duration_ms')::double precision,
                      (st->>'min_duration_ms')::double precision,
                      (st->>'p95_duration_ms')::double precision,
                      chart_max]) WITH ORDINALITY AS u(ms, i);

    -- Intervals, compactly: 24h, 12h, 5m, 7d, 365d.
    SELECT array_agg(CASE WHEN s IS NULL THEN NULL
                          WHEN s >= 172800 AND (s % 86400 = 0 OR s >= 864000)
                               THEN round(s / 86400.0) || 'd'
                          WHEN s >= 3600 AND s % 3600 = 0 THEN (s / 3600) || 'h'
                          WHEN s >= 60 AND s % 60 = 0 THEN (s / 60) || 'm'
                          ELSE s || 's' END ORDER BY i)
    INTO labels
    FROM unnest(ARRAY[round(win_s)::bigint,
                      round(win_s / 2)::bigint,
                      round(extract(epoch FROM bucket_iv))::bigint,
                      round(extract(epoch FROM (st->>'stale_after')::interval))::bigint])
         WITH ORDINALITY AS u(s, i);

    -- "N minutes ago"
    SELECT array_agg(CASE WHEN a IS NULL THEN 'never'
                          ELSE n || ' ' || unit || CASE WHEN n = 1 THEN '' ELSE 's' END || ' ago' END
                     ORDER BY i)
    INTO agos
    FROM unnest(ARRAY[(st->>'last_refresh_at')::timestamptz,
                      (st->>'last_success_at')::timestamptz]) WITH ORDINALITY AS u(t, i),
         LATERAL (SELECT CASE WHEN t IS NOT NULL
                              THEN greatest(extract(epoch FROM now() - t), 0) END AS a) AS x,
         LATERAL (SELECT CASE WHEN a < 60 THEN 'second' WHEN a < 3600 THEN 'minute'
                              WHEN a < 86400 THEN 'hour' ELSE 'day' END AS unit,
                         floor(a / CASE WHEN a < 60 THEN 1 WHEN a < 3600 THEN 60
                                        WHEN a < 86400 THEN 3600 ELSE 86400 END)::bigint AS n) AS y;

    n_ok := (st->>'successful')::bigint;
    n_failed := (st->>'failed')::bigint;
    rate := (st->>'success_rate')::numeric;
    IF rate IS NULL THEN
        rate_text := 'n/a';
        filled := 0;
    ELSE
        rate_text := trim_scale(rate) || '%';
        filled := floor(rate * bar_width / 100)::integer;
    END IF;

    status_text := CASE st->>'status'
        WHEN 'healthy' THEN '● Healthy'
        WHEN 'degraded' THEN '● Degraded (failures within ' || labels[1] || ')'
        WHEN 'failing' THEN '● Failing (last refresh failed)'
        WHEN 'stale' THEN '● Stale' || coalesce(' (no success within ' || labels[4] || ')', '')
        ELSE '○ Unknown (never refreshed)' END;

    -- The monitor card
    lines := ARRAY[
        'Metrics Refresh Monitor',
        '',
        'View:         ' || (st->>'view'),
        'Status:       ' || status_text,
        'Last Refresh: ' || agos[1]];
    IF st->>'last_status' = 'error' OR st->>'status' = 'stale' THEN
        lines := lines || ('Last Success: ' || agos[2]);
    END IF;
    lines := lines || ('Success Rate: ' ||
                       CASE WHEN rate IS NULL THEN 'n/a (no completed runs)'
                            ELSE rate_text || ' (' || n_ok || '/' || (n_ok + n_failed) || ')' END);
    lines := lines || ('Avg Duration: ' || durs[1]);
    -- The last error while the view is failing or has failed within the
    -- window, word-wrapped to at most three lines.
    err := btrim(regexp_replace(st->>'last_error', E'\\s+', ' ', 'g'));
    IF err <> '' AND (st->>'status' = 'failing' OR n_failed > 0) THEN
        FOR word IN SELECT regexp_split_to_table(err, ' ') LOOP
            IF cur <> '' AND length(cur) + 1 + length(word) <= err_width THEN
                cur := cur || ' ' || word;
            ELSE
                IF cur <> '' THEN
                    err_lines := err_lines || cur;
                END IF;
                cur := word;
                WHILE length(cur) > err_width LOOP
                    err_lines := err_lines || left(cur, err_width);
                    cur := substr(cur, err_width + 1);
                END LOOP;
            END IF;
        END LOOP;
        IF cur <> '' THEN
            err_lines := err_lines || cur;
        END IF;
        IF array_length(err_lines, 1) > 3 THEN
            err_lines := err_lines[1:3];
            err_lines[3] := left(err_lines[3], err_width - 1) || '…';
        END IF;
        FOR k IN 1..array_length(err_lines, 1) LOOP
            lines := lines || (CASE WHEN k = 1 THEN 'Last Error:   ' ELSE repeat(' ', 14) END
                               || err_lines[k]);
        END LOOP;
    END IF;

    -- The performance panel
    lines := lines || '-'::text || ARRAY[
        'Metrics Refresh Performance (' || labels[1] || ')',
        '',
        'Success Rate ' || repeat('█', filled) || repeat('░', bar_width - filled) || ' ' || rate_text,
        '',
        'Execution Duration (average per ' || labels[3] || ')'];

    axis := '-' || labels[1];
    IF n_buckets >= length(axis) + 4 THEN
        axis := rpad(axis, n_buckets - 3) || 'now';
        mid := '-' || labels[2];
        mid_at := (n_buckets + 1) / 2 - length(mid) / 2;
        IF mid_at > length('-' || labels[1]) + 1
           AND mid_at + length(mid) < n_buckets - 3 THEN
            axis := overlay(axis PLACING mid FROM mid_at FOR length(mid));
        END IF;
    ELSE
        axis := axis || ' .. now';
    END IF;
    lines := lines || ARRAY[
        lpad(CASE WHEN chart_max IS NULL THEN '' ELSE durs[5] END, 8) || ' ┤' || spark,
        lpad('0s', 8) || ' └' || repeat('─', n_buckets),
        repeat(' ', 10) || axis,
        '',
        'Statistics',
        rpad('  Total Refreshes: ' || (st->>'total'), 30) || 'Avg Duration: ' || durs[1],
        rpad('  Successful:      ' || n_ok, 30) || 'Max Duration: ' || durs[2],
        rpad('  Failed:          ' || n_failed, 30) || 'Min Duration: ' || durs[3],
        rpad('  Skipped:         ' || (st->>'skipped'), 30) || 'P95 Duration: ' || durs[4]];

    RETURN '┌' || rule || '┐' || E'\n' ||
           (SELECT string_agg(CASE WHEN l = '-' THEN '├' || rule || '┤'
                                   ELSE '│ ' || rpad(l, inner_width) || ' │' END,
                              E'\n' ORDER BY i)
            FROM unnest(lines) WITH ORDINALITY AS u(l, i)) || E'\n' ||
           '└' || rule || '┘';
END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard(regclass, interval) IS
    'The monitor card and performance panel of a view as text for psql; \pset format unaligned and \t show it without psql''s table frame';
