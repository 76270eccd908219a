-- metrics_refresh 1.0.0 -> 1.1.0.  Brings a 1.0.0 database to exactly what a
-- fresh 1.1.0 install (sql/metrics_refresh.sql) has, keeping the log, the
-- configuration and the pg_cron jobs (whose command is rewritten below).

\echo Use "ALTER EXTENSION metrics_refresh UPDATE TO '1.1.0'" to load this file. \quit

-- The extension's views name its functions and aggregates: a function of
-- the same name that another role made in this schema beforehand could be
-- chosen instead (a text argument over an interval literal, an exact type
-- over metrics_refresh_latest(anyelement, ...)) and run as whoever reads
-- the views.  Such a schema is refused.
DO $guard$
DECLARE
    found text;
BEGIN
    SELECT pg_catalog.string_agg(p.oid::pg_catalog.regprocedure::pg_catalog.text, ', ')
    INTO found
    FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_extension e ON e.extnamespace OPERATOR(pg_catalog.=) p.pronamespace
    WHERE e.extname OPERATOR(pg_catalog.=) 'metrics_refresh'::pg_catalog.name
      AND pg_catalog.starts_with(p.proname::pg_catalog.text, 'metrics_refresh'::pg_catalog.text)
      AND NOT EXISTS (
          SELECT FROM pg_catalog.pg_depend d
          WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
            AND d.objid OPERATOR(pg_catalog.=) p.oid
            AND d.refobjid OPERATOR(pg_catalog.=) e.oid
            AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char");
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'the extension''s schema already has functions named like its own: %', found
            USING ERRCODE = 'duplicate_function',
                  HINT = 'Drop them first, or install the extension into a schema in which only trusted roles may create objects.';
    END IF;
END
$guard$;

-- Subtransactions cannot start during a parallel operation, and the admin
-- check runs the admin_check function in one.
ALTER FUNCTION @extschema@.metrics_refresh_is_admin() PARALLEL UNSAFE;

-- Every command that can rename or move a materialized view.
DROP EVENT TRIGGER metrics_refresh_after_rename;
CREATE EVENT TRIGGER metrics_refresh_after_rename ON ddl_command_end
    WHEN TAG IN ('ALTER MATERIALIZED VIEW', 'ALTER TABLE', 'ALTER INDEX',
                 'ALTER SCHEMA', 'ALTER EXTENSION')
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_sweep();

-- What the pg_cron jobs call: metrics_refresh_run(view, 'scheduled').  It is
-- the extension's one object outside its schema, in pg_catalog, where only
-- superusers can create functions: a job left behind by a dropped extension
-- (its event triggers disabled, say) then fails on a missing function
-- instead of calling, as a superuser, whatever someone defined under the old
-- name in the extension's schema.
CREATE FUNCTION pg_catalog.metrics_refresh_job(view regclass)
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_job';

COMMENT ON FUNCTION pg_catalog.metrics_refresh_job(regclass) IS
    'Entry point of metrics_refresh''s pg_cron jobs: metrics_refresh_run(view, ''scheduled'')';

-- The jobs 1.0.0 created call <schema>.metrics_refresh_run(view, 'scheduled')
-- by name; they now call the entry point above.  Their ids, names, schedules
-- and users stay as they were.
DO $$
DECLARE
    j record;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        FOR j IN
            SELECT cj.jobid, c.view_name
            FROM @extschema@.metrics_refresh_config c
            JOIN cron.job cj ON cj.jobname = 'metrics_refresh ' || c.view_name
                             OR cj.jobid = c.jobid
            WHERE cj.command LIKE '%.metrics_refresh_run(%''scheduled'')'
              AND cj.database OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text
        LOOP
            PERFORM cron.alter_job(j.jobid, command => pg_catalog.format(
                'SELECT pg_catalog.metrics_refresh_job(%L::pg_catalog.regclass)', j.view_name));
        END LOOP;
    END IF;
END
$$;

-- Dropping the extension removes its pg_cron jobs first.
CREATE FUNCTION @extschema@.metrics_refresh_ddl_before_drop()
RETURNS event_trigger
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_ddl_before_drop';

COMMENT ON FUNCTION @extschema@.metrics_refresh_ddl_before_drop() IS
    'Event trigger: before the extension is dropped, remove the pg_cron jobs of its scheduled views';

CREATE EVENT TRIGGER metrics_refresh_before_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_before_drop();

-- The dashboard is drawn by small named helpers (metrics_refresh_dashboard_*)
-- instead of one long function; its output is unchanged.  They only format
-- the values they are given (metrics_refresh_dashboard_ago also reads the
-- clock): they read no table and hold no data, so PUBLIC keeps EXECUTE on
-- them as on any built-in formatting function.  The helpers and the function
-- below are copied from metrics_refresh.sql.

-- The chart's bucket size for a window: the smallest round size (1 s to
-- 1 day) that gives at most about 24 buckets, else whole days.  NULL for NULL.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_bucket(time_window interval)
RETURNS interval
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT coalesce(
               (SELECT make_interval(secs => s)
                FROM unnest(ARRAY[1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                                  7200, 10800, 21600, 43200, 86400]) AS s
                WHERE s >= win_s / 24
                ORDER BY s LIMIT 1),
               make_interval(days => ceil(win_s / 24 / 86400)::integer))
    FROM (SELECT extract(epoch FROM time_window)::double precision AS win_s) AS w
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_bucket(interval) IS
    'Dashboard helper: the chart''s bucket size for a window (about 24 buckets of a round size)';

-- A duration in milliseconds, compactly: 4.2ms, 42ms, 0.42s, 4.20s, 420s;
-- "n/a" for NULL.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_duration(ms double precision)
RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT CASE WHEN ms IS NULL THEN 'n/a'
                WHEN ms < 9.95 THEN round(ms::numeric, 1) || 'ms'
                WHEN ms < 99.5 THEN round(ms::numeric) || 'ms'
                WHEN ms < 99995 THEN round((ms / 1000)::numeric, 2) || 's'
                ELSE round((ms / 1000)::numeric) || 's' END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_duration(double precision) IS
    'Dashboard helper: a duration in ms as 4.2ms, 42ms, 0.42s, 4.20s or 420s; n/a for NULL';

-- A whole number of seconds as a compact label: 24h, 12h, 5m, 7d, 90s; days
-- from 2 days on when whole, rounded from 10 days on.  NULL for NULL.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_span(seconds bigint)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT CASE WHEN seconds >= 172800 AND (seconds % 86400 = 0 OR seconds >= 864000)
                     THEN round(seconds / 86400.0) || 'd'
                WHEN seconds >= 3600 AND seconds % 3600 = 0 THEN (seconds / 3600) || 'h'
                WHEN seconds >= 60 AND seconds % 60 = 0 THEN (seconds / 60) || 'm'
                ELSE seconds || 's' END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_span(bigint) IS
    'Dashboard helper: a number of seconds as a compact label such as 24h, 5m or 7d';

-- How long ago a moment was, in its largest whole unit: "1 minute ago",
-- "3 hours ago"; a moment in the future is "0 seconds ago"; "never" for NULL.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_ago(happened_at timestamptz)
RETURNS text
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT CASE WHEN happened_at IS NULL THEN 'never'
                ELSE n || ' ' || unit || CASE WHEN n = 1 THEN '' ELSE 's' END || ' ago' END
    FROM (SELECT greatest(extract(epoch FROM now() - happened_at), 0) AS a) AS x,
         LATERAL (SELECT CASE WHEN a < 60 THEN 'second' WHEN a < 3600 THEN 'minute'
                              WHEN a < 86400 THEN 'hour' ELSE 'day' END AS unit,
                         floor(a / CASE WHEN a < 60 THEN 1 WHEN a < 3600 THEN 60
                                        WHEN a < 86400 THEN 3600 ELSE 86400 END)::bigint AS n) AS y
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_ago(timestamptz) IS
    'Dashboard helper: how long before now() a moment was, e.g. "5 minutes ago"; never for NULL';

-- The card's status line for a metrics_refresh_status() status, e.g.
-- "● Degraded (failures within 24h)".  A NULL or unknown status reads
-- "○ Unknown (never refreshed)"; a NULL stale label leaves the reason out.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_status_label(
    status text, window_label text, stale_label text)
RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT CASE status
               WHEN 'healthy' THEN '● Healthy'
               WHEN 'degraded' THEN '● Degraded (failures within ' || window_label || ')'
               WHEN 'failing' THEN '● Failing (last refresh failed)'
               WHEN 'stale' THEN '● Stale' || coalesce(' (no success within ' || stale_label || ')', '')
               ELSE '○ Unknown (never refreshed)' END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_status_label(text, text, text) IS
    'Dashboard helper: the status line, e.g. "● Healthy", for a metrics_refresh_status() status';

-- A success rate in percent as "99.5%", without trailing zeros; "n/a" for
-- NULL (no completed run).
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_percent(rate numeric)
RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT CASE WHEN rate IS NULL THEN 'n/a' ELSE trim_scale(rate) || '%' END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_percent(numeric) IS
    'Dashboard helper: a success rate in percent as text, e.g. 99.5%; n/a for NULL';

-- A bar of width characters, filled ("█") in proportion to a rate in
-- percent, rounded down; the rest "░".  A NULL rate draws an empty bar.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_bar(rate numeric, width integer)
RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT repeat('█', filled) || repeat('░', width - filled)
    FROM (SELECT CASE WHEN rate IS NULL THEN 0
                      ELSE floor(rate * width / 100)::integer END AS filled) AS f
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_bar(numeric, integer) IS
    'Dashboard helper: a bar of width characters filled in proportion to a rate in percent';

-- One character per bucket average: eight block heights ("▁" to "█") up to
-- the largest average (all "▁" when that is 0 or less), "·" for a NULL
-- average (no timed run).  NULL for a NULL or empty array.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_sparkline(averages double precision[])
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT string_agg(CASE WHEN a IS NULL THEN '·'
                           WHEN largest <= 0 THEN '▁'
                           ELSE substr('▁▂▃▄▅▆▇█',
                                       greatest(1, least(8, ceil(a / largest * 8)::integer)), 1)
                      END, '' ORDER BY i)
    FROM (SELECT max(v) AS largest FROM unnest(averages) AS v) AS m,
         unnest(averages) WITH ORDINALITY AS u(a, i)
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_sparkline(double precision[]) IS
    'Dashboard helper: one block character per bucket average, scaled to the largest; · where NULL';

-- The time axis under a chart of n_buckets characters: "-24h", "-12h" in
-- the middle where it fits, and "now" at the right end; "-24h .. now" when
-- the chart is too narrow.  NULL when window_label is NULL; a NULL
-- half_label leaves the middle out.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_axis(
    n_buckets integer, window_label text, half_label text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    axis   text := '-' || window_label;
    mid    text;
    mid_at integer;
BEGIN
    IF n_buckets >= length(axis) + 4 THEN
        axis := rpad(axis, n_buckets - 3) || 'now';
        mid := '-' || half_label;
        mid_at := (n_buckets + 1) / 2 - length(mid) / 2;
        IF mid_at > length('-' || window_label) + 1
           AND mid_at + length(mid) < n_buckets - 3 THEN
            axis := overlay(axis PLACING mid FROM mid_at FOR length(mid));
        END IF;
    ELSE
        axis := axis || ' .. now';
    END IF;
    RETURN axis;
END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_axis(integer, text, text) IS
    'Dashboard helper: the time axis under the chart, e.g. "-24h   -12h   now"';

-- The duration chart's three lines: the sparkline with the largest average
-- as its scale, the baseline, and the time axis.  NULL averages (no bucket)
-- give no first line (a NULL element), an empty baseline and "-24h .. now".
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_chart(
    averages double precision[], window_label text, half_label text)
RETURNS text[]
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT ARRAY[
        lpad(CASE WHEN largest IS NULL THEN ''
                  ELSE @extschema@.metrics_refresh_dashboard_duration(largest) END, 8)
            || ' ┤' || @extschema@.metrics_refresh_dashboard_sparkline(averages),
        lpad('0s', 8) || ' └' || repeat('─', n_buckets),
        repeat(' ', 10) || @extschema@.metrics_refresh_dashboard_axis(n_buckets, window_label, half_label)]
    FROM (SELECT coalesce(array_length(averages, 1), 0) AS n_buckets,
                 (SELECT max(v) FROM unnest(averages) AS v) AS largest) AS c
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_chart(double precision[], text, text) IS
    'Dashboard helper: the duration chart (sparkline, baseline, time axis) of the bucket averages';

-- The performance panel's statistics block from a metrics_refresh_status()
-- object: counts on the left, durations on the right.  NULL for NULL.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_statistics(status jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT ARRAY[
        'Statistics',
        rpad('  Total Refreshes: ' || (status->>'total'), 30) || 'Avg Duration: '
            || @extschema@.metrics_refresh_dashboard_duration((status->>'avg_duration_ms')::double precision),
        rpad('  Successful:      ' || (status->>'successful')::bigint, 30) || 'Max Duration: '
            || @extschema@.metrics_refresh_dashboard_duration((status->>'max_duration_ms')::double precision),
        rpad('  Failed:          ' || (status->>'failed')::bigint, 30) || 'Min Duration: '
            || @extschema@.metrics_refresh_dashboard_duration((status->>'min_duration_ms')::double precision),
        rpad('  Skipped:         ' || (status->>'skipped'), 30) || 'P95 Duration: '
            || @extschema@.metrics_refresh_dashboard_duration((status->>'p95_duration_ms')::double precision),
        '  Unchanged:       ' || coalesce(status->>'unchanged', '0')]
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_statistics(jsonb) IS
    'Dashboard helper: the statistics block (counts and durations) of a metrics_refresh_status() object';

-- A message word-wrapped to lines of at most width characters: runs of
-- white space become one space, a word longer than a line is cut, and
-- beyond max_lines the text is cut with "…".  An empty or blank message
-- gives no line ('{}'); NULL for NULL.  width and max_lines must be >= 1.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_wrap(
    message text, width integer, max_lines integer)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    words   text := btrim(regexp_replace(message, E'\\s+', ' ', 'g'));
    word    text;
    cur     text := '';
    wrapped text[] := '{}';
BEGIN
    IF width < 1 OR max_lines < 1 THEN
        RAISE EXCEPTION 'line width and line count must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR word IN SELECT regexp_split_to_table(words, ' ') LOOP
        IF cur <> '' AND length(cur) + 1 + length(word) <= width THEN
            cur := cur || ' ' || word;
        ELSE
            IF cur <> '' THEN
                wrapped := wrapped || cur;
            END IF;
            cur := word;
            WHILE length(cur) > width LOOP
                wrapped := wrapped || left(cur, width);
                cur := substr(cur, width + 1);
            END LOOP;
        END IF;
    END LOOP;
    IF cur <> '' THEN
        wrapped := wrapped || cur;
    END IF;
    IF array_length(wrapped, 1) > max_lines THEN
        wrapped := wrapped[1:max_lines];
        wrapped[max_lines] := left(wrapped[max_lines], width - 1) || '…';
    END IF;
    RETURN wrapped;
END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_wrap(text, integer, integer) IS
    'Dashboard helper: a message word-wrapped to at most max_lines lines of width characters';

-- The box drawn around the lines: each line padded (or cut) to inner_width
-- between "│ " and " │"; an element '-' draws a separating rule; NULL
-- elements are left out; no line at all gives an empty box.  NULL for NULL.
CREATE FUNCTION @extschema@.metrics_refresh_dashboard_frame(lines text[], inner_width integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $body$
    SELECT '┌' || rule || '┐' || E'\n' ||
           coalesce((SELECT string_agg(CASE WHEN l = '-' THEN '├' || rule || '┤'
                                            ELSE '│ ' || rpad(l, inner_width) || ' │' END,
                                       E'\n' ORDER BY i)
                     FROM unnest(lines) WITH ORDINALITY AS u(l, i)) || E'\n', '') ||
           '└' || rule || '┘'
    FROM (SELECT repeat('─', inner_width + 2) AS rule) AS r
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard_frame(text[], integer) IS
    'Dashboard helper: the box around the card''s lines, with a rule for each ''-'' line';

-- The monitor card and the performance panel of one view, drawn as text for
-- psql.  Everything comes from metrics_refresh_status() and
-- metrics_refresh_timeline(), which check the arguments (22004, 22023, 42809)
-- and the caller's access (42501), so this function checks nothing itself.
-- Lines are at most 64 characters wide.
CREATE OR REPLACE FUNCTION @extschema@.metrics_refresh_dashboard(
    view regclass, time_window interval DEFAULT '24 hours')
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    inner_width  constant integer := 60;   -- between "│ " and " │"
    bar_width    constant integer := 40;   -- the success-rate bar
    err_width    constant integer := 46;   -- inner_width minus a label
    st           jsonb;
    bucket_size  interval;
    averages     double precision[];      -- per bucket, oldest first
    win_s        double precision;
    window_label text;                    -- 24h
    half_label   text;                    -- 12h, the middle of the time axis
    bucket_label text;                    -- 1h
    stale_label  text;                    -- 15m
    n_ok         bigint;
    n_failed     bigint;
    rate         numeric;
    err_lines    text[];
    lines        text[];
BEGIN
    st := @extschema@.metrics_refresh_status(view, time_window);

    bucket_size := @extschema@.metrics_refresh_dashboard_bucket(time_window);
    SELECT array_agg(t.avg_duration_ms ORDER BY t.bucket_start) INTO averages
    FROM @extschema@.metrics_refresh_timeline(view, time_window, bucket_size) AS t;

    -- Labels (24h, 12h, 1h, 15m).  The window is rounded to whole seconds as
    -- float8 (.5 to even), stale_after as numeric (.5 away from zero).
    win_s := extract(epoch FROM time_window);
    window_label := @extschema@.metrics_refresh_dashboard_span(round(win_s)::bigint);
    half_label := @extschema@.metrics_refresh_dashboard_span(round(win_s / 2)::bigint);
    bucket_label := @extschema@.metrics_refresh_dashboard_span(
        round(extract(epoch FROM bucket_size))::bigint);
    stale_label := @extschema@.metrics_refresh_dashboard_span(
        round(extract(epoch FROM (st->>'stale_after')::interval))::bigint);

    n_ok := (st->>'successful')::bigint;
    n_failed := (st->>'failed')::bigint;
    rate := (st->>'success_rate')::numeric;

    -- The monitor card
    lines := ARRAY[
        'Metrics Refresh Monitor',
        '',
        'View:         ' || (st->>'view'),
        'Status:       ' || @extschema@.metrics_refresh_dashboard_status_label(
                                st->>'status', window_label, stale_label),
        -- After runs that found nothing changed, the last real refresh.
        'Last Refresh: ' || @extschema@.metrics_refresh_dashboard_ago(
                                (CASE WHEN st->>'last_status' = 'unchanged' THEN st->>'last_success_at'
                                      ELSE st->>'last_refresh_at' END)::timestamptz)];
    IF st->>'last_status' = 'error' OR st->>'status' = 'stale' THEN
        lines := lines || ('Last Success: ' || @extschema@.metrics_refresh_dashboard_ago(
                                                   (st->>'last_success_at')::timestamptz));
    END IF;
    -- Runs that found no source changed (skip_unchanged): the view is as
    -- fresh as the latest of them, not as its last refresh.
    IF coalesce((st->>'unchanged')::bigint, 0) > 0 OR st->>'last_status' = 'unchanged' THEN
        lines := lines || ('Fresh As Of:  ' || @extschema@.metrics_refresh_dashboard_ago(
                                                   (st->>'fresh_as_of')::timestamptz)
                           || ' (' || (st->>'unchanged') || ' unchanged)');
    END IF;
    lines := lines || ('Success Rate: ' ||
                       CASE WHEN rate IS NULL THEN 'n/a (no completed runs)'
                            ELSE @extschema@.metrics_refresh_dashboard_percent(rate)
                                 || ' (' || n_ok || '/' || (n_ok + n_failed) || ')' END);
    lines := lines || ('Avg Duration: ' || @extschema@.metrics_refresh_dashboard_duration(
                                               (st->>'avg_duration_ms')::double precision));
    -- The last error, while the view is failing or has failed within the
    -- window, on at most three lines.
    IF st->>'status' = 'failing' OR n_failed > 0 THEN
        err_lines := @extschema@.metrics_refresh_dashboard_wrap(st->>'last_error', err_width, 3);
        FOR k IN 1..coalesce(array_length(err_lines, 1), 0) LOOP
            lines := lines || (CASE WHEN k = 1 THEN 'Last Error:   ' ELSE repeat(' ', 14) END
                               || err_lines[k]);
        END LOOP;
    END IF;

    -- The performance panel
    lines := lines || '-'::text || ARRAY[
        'Metrics Refresh Performance (' || window_label || ')',
        '',
        'Success Rate ' || @extschema@.metrics_refresh_dashboard_bar(rate, bar_width)
            || ' ' || @extschema@.metrics_refresh_dashboard_percent(rate),
        '',
        'Execution Duration (average per ' || bucket_label || ')'];
    lines := lines || @extschema@.metrics_refresh_dashboard_chart(averages, window_label, half_label);
    lines := lines || ''::text || @extschema@.metrics_refresh_dashboard_statistics(st);

    RETURN @extschema@.metrics_refresh_dashboard_frame(lines, inner_width);
END
$body$;

COMMENT ON FUNCTION @extschema@.metrics_refresh_dashboard(regclass, interval) IS
    'The monitor card and performance panel of a view as text for psql; \pset format unaligned and \t show it without psql''s table frame';

-------------------------------------------------------------------------------
-- The log: cascades, the unchanged status, statistics' bookkeeping
-------------------------------------------------------------------------------

-- The values of status, method and source: domains instead of 1.0.0's CHECK
-- constraints, which PostgreSQL prepared anew for every INSERT (see the
-- install script).  The type change rewrites nothing (a domain over text);
-- the rows are checked against the domains.
CREATE DOMAIN @extschema@.metrics_refresh_log_status AS text
    CONSTRAINT metrics_refresh_log_status_check
    CHECK (VALUE IN ('success', 'error', 'skipped', 'running', 'unchanged'));
CREATE DOMAIN @extschema@.metrics_refresh_log_method AS text
    CONSTRAINT metrics_refresh_log_method_check
    CHECK (VALUE IN ('concurrently', 'full'));
CREATE DOMAIN @extschema@.metrics_refresh_log_source AS text
    CONSTRAINT metrics_refresh_log_source_check
    CHECK (VALUE IN ('scheduled', 'manual', 'cascade'));

COMMENT ON DOMAIN @extschema@.metrics_refresh_log_status IS
    'Status of a refresh attempt in metrics_refresh_log';
COMMENT ON DOMAIN @extschema@.metrics_refresh_log_method IS
    'How a view was refreshed (metrics_refresh_log.method)';
COMMENT ON DOMAIN @extschema@.metrics_refresh_log_source IS
    'What started a refresh attempt (metrics_refresh_log.source)';

ALTER TABLE @extschema@.metrics_refresh_log
    ADD COLUMN cascade_id bigint,
    ADD COLUMN counted boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT metrics_refresh_log_status_check,
    DROP CONSTRAINT metrics_refresh_log_method_check,
    DROP CONSTRAINT metrics_refresh_log_source_check,
    ALTER COLUMN status TYPE @extschema@.metrics_refresh_log_status,
    ALTER COLUMN method TYPE @extschema@.metrics_refresh_log_method,
    ALTER COLUMN source TYPE @extschema@.metrics_refresh_log_source;

-- The runs of one cascade.
CREATE INDEX metrics_refresh_log_cascade_idx
    ON @extschema@.metrics_refresh_log (cascade_id)
    WHERE cascade_id IS NOT NULL;
-- Runs not yet counted in the statistics (src/stats.c folds them): every
-- run 1.0.0 logged is counted by the folds after the update (those that
-- logging a run starts count at most 5,000 runs each, the oldest first).
CREATE INDEX metrics_refresh_log_uncounted_idx
    ON @extschema@.metrics_refresh_log (started_at)
    WHERE NOT counted;

-------------------------------------------------------------------------------
-- Per-view settings: schedules and options
-------------------------------------------------------------------------------

ALTER TABLE @extschema@.metrics_refresh_config
    ALTER COLUMN schedule DROP NOT NULL,
    ADD COLUMN skip_unchanged boolean NOT NULL DEFAULT false,
    ADD COLUMN max_skip interval NOT NULL DEFAULT '1 day' CHECK (max_skip > '0'),
    ADD COLUMN "cascade" boolean NOT NULL DEFAULT false;

COMMENT ON TABLE @extschema@.metrics_refresh_config IS
    'Per-view settings: the pg_cron schedule (metrics_refresh_schedule) and the options of metrics_refresh_configure';

-------------------------------------------------------------------------------
-- Change tracking of views with skip_unchanged (src/tracking.c)
-------------------------------------------------------------------------------

-- One row per tracked view: the catalog fingerprint of its chain and the
-- run that last refreshed it for real.
CREATE TABLE @extschema@.metrics_refresh_tracking (
    view          regclass PRIMARY KEY,
    view_name     text NOT NULL,
    fingerprint   bigint,
    refreshed_run bigint,
    refreshed_at  timestamptz
);

COMMENT ON TABLE @extschema@.metrics_refresh_tracking IS
    'Views refreshed only when a source changed (skip_unchanged): catalog fingerprint and last real refresh';

-- Which tracked view reads which relation (tables, their partitions and
-- children, and materialized views), looked up by writers' transactions.
CREATE TABLE @extschema@.metrics_refresh_sources (
    source regclass NOT NULL,
    view   regclass NOT NULL,
    PRIMARY KEY (source, view)
);

COMMENT ON TABLE @extschema@.metrics_refresh_sources IS
    'The relations each tracked view reads, through plain views';

-- A committed change that a view's last real refresh did not see: written
-- by the transaction that changed a source, deleted by the refresh.
CREATE TABLE @extschema@.metrics_refresh_changes (
    view regclass NOT NULL
);

CREATE INDEX metrics_refresh_changes_view_idx
    ON @extschema@.metrics_refresh_changes (view);

COMMENT ON TABLE @extschema@.metrics_refresh_changes IS
    'Changes to tracked views'' sources that no refresh has consumed yet';

REVOKE ALL ON TABLE @extschema@.metrics_refresh_tracking, @extschema@.metrics_refresh_sources,
    @extschema@.metrics_refresh_changes FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_tracking', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_sources', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_changes', '');

-------------------------------------------------------------------------------
-- Cumulative statistics (src/stats.c)
-------------------------------------------------------------------------------

-- The statistics count every run of the log exactly once: a run is written
-- uncounted (metrics_refresh_log.counted), and bookkeeping folds uncounted
-- finished runs into the two tables below, marking them counted; readers
-- add the runs not counted yet.  However a run reached the log (logged by
-- the extension, restored, or present before an upgrade), it is counted.

-- One row per view ever run: counts and durations since the last reset, and
-- the latest runs (which a reset keeps).
CREATE TABLE @extschema@.metrics_refresh_counters (
    view_name          text PRIMARY KEY,
    successful         bigint NOT NULL DEFAULT 0,
    failed             bigint NOT NULL DEFAULT 0,
    skipped            bigint NOT NULL DEFAULT 0,
    unchanged          bigint NOT NULL DEFAULT 0,
    timed_runs         bigint NOT NULL DEFAULT 0,
    total_duration_ms  double precision NOT NULL DEFAULT 0,
    min_duration_ms    double precision,
    max_duration_ms    double precision,
    duration_le_10ms   bigint NOT NULL DEFAULT 0,
    duration_le_100ms  bigint NOT NULL DEFAULT 0,
    duration_le_1s     bigint NOT NULL DEFAULT 0,
    duration_le_10s    bigint NOT NULL DEFAULT 0,
    duration_le_60s    bigint NOT NULL DEFAULT 0,
    duration_le_300s   bigint NOT NULL DEFAULT 0,
    duration_le_1800s  bigint NOT NULL DEFAULT 0,
    last_run_at        timestamptz,
    last_status        text,
    last_outcome_at    timestamptz,
    last_outcome       text,
    last_success_at    timestamptz,
    fresh_as_of        timestamptz,
    last_error_at      timestamptz,
    last_error         text,
    stats_reset        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- "Last" means latest started (a lost run is found, and finished, late):
    -- the start times of the last run, last outcome and last error.
    last_run_started     timestamptz,
    last_outcome_started timestamptz,
    last_error_started   timestamptz
)
-- Every fold updates a row per view it folds runs of: room for the new
-- version on the same page (a HOT update, no new index entry).
WITH (fillfactor = 50);

COMMENT ON TABLE @extschema@.metrics_refresh_counters IS
    'Cumulative refresh statistics per view, of the runs counted so far (read them through the view metrics_refresh_stats)';

-- The counts and durations the overview needs for its window, in two
-- rollups of the same shape (src/stats.c): per view and 6-hour block of
-- start (00, 06, 12 and 18 UTC; "hour" is the block's first hour), and per
-- view and hour h that does not start a block, the runs that started from
-- h to the end of h's block.  A window of whole hours from h reads h's row,
-- then the blocks: 5 rows per view for 24 hours.  Kept as long as the log
-- keeps runs (at least two days).  buckets: a fine duration histogram.
-- The primary keys, hour first, serve the window and retention.
CREATE TABLE @extschema@.metrics_refresh_hourly (
    view_name   text NOT NULL,
    hour        timestamptz NOT NULL,
    successful  integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    unchanged   integer NOT NULL DEFAULT 0,
    timed_runs  integer NOT NULL DEFAULT 0,
    total_ms    double precision NOT NULL DEFAULT 0,
    min_ms      double precision,
    max_ms      double precision,
    buckets     integer[] NOT NULL,
    PRIMARY KEY (hour, view_name)
)
-- A fold updates up to 5 of a view's rows of the current block, over 5
-- hours: room for HOT updates.
WITH (fillfactor = 50);

COMMENT ON TABLE @extschema@.metrics_refresh_hourly IS
    'Counted runs per view and hour h (UTC) that does not start a 6-hour block: the runs started from h to the end of its block, for the overview; kept as long as the log keeps runs';

-- Its rows (4 of the 5 a day's window reads per view) stay packed: the
-- default fillfactor.
CREATE TABLE @extschema@.metrics_refresh_6hourly (
    LIKE @extschema@.metrics_refresh_hourly INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (hour, view_name)
);

COMMENT ON TABLE @extschema@.metrics_refresh_6hourly IS
    'Counted runs per view and 6-hour block of start (00, 06, 12, 18 UTC), for the overview; kept as long as the log keeps runs';

REVOKE ALL ON TABLE @extschema@.metrics_refresh_counters, @extschema@.metrics_refresh_hourly,
    @extschema@.metrics_refresh_6hourly FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_counters', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metrics_refresh_6hourly', '');

-------------------------------------------------------------------------------
-- Monitoring: unchanged runs, freshness, cascades, history pages
-------------------------------------------------------------------------------

DROP VIEW @extschema@.metrics_refresh_overview;
DROP FUNCTION @extschema@.metrics_refresh_status_all(interval);
DROP FUNCTION @extschema@.metrics_refresh_timeline(regclass, interval, interval);
DROP FUNCTION @extschema@.metrics_refresh_history(regclass, integer);

CREATE FUNCTION @extschema@.metrics_refresh_status_all(
    time_window interval DEFAULT '24 hours',
    OUT view_name text, OUT status text,
    OUT last_refresh_at timestamptz, OUT last_success_at timestamptz,
    OUT fresh_as_of timestamptz,
    OUT last_status text, OUT last_error text,
    OUT total bigint, OUT successful bigint, OUT failed bigint, OUT skipped bigint,
    OUT unchanged bigint,
    OUT success_rate numeric,
    OUT avg_duration_ms double precision, OUT min_duration_ms double precision,
    OUT max_duration_ms double precision, OUT p95_duration_ms double precision,
    OUT stale_after interval)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_status_all';

COMMENT ON FUNCTION @extschema@.metrics_refresh_status_all(interval) IS
    'The status of every scheduled view and every view run within the window (whole hours), from the statistics and their hourly rollup';

CREATE VIEW @extschema@.metrics_refresh_overview AS
    SELECT * FROM @extschema@.metrics_refresh_status_all('24 hours'::pg_catalog.interval);

COMMENT ON VIEW @extschema@.metrics_refresh_overview IS
    'One row per scheduled or recently (24 h) refreshed view, with its status';

CREATE FUNCTION @extschema@.metrics_refresh_timeline(
    view regclass,
    time_window interval DEFAULT '24 hours',
    bucket interval DEFAULT '1 hour',
    OUT bucket_start timestamptz, OUT runs bigint, OUT successes bigint,
    OUT failures bigint, OUT avg_duration_ms double precision,
    OUT max_duration_ms double precision, OUT unchanged bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_timeline';

COMMENT ON FUNCTION @extschema@.metrics_refresh_timeline(regclass, interval, interval) IS
    'Runs, failures, unchanged runs and durations per time bucket, empty buckets included, oldest first: the 24 h chart';

CREATE FUNCTION @extschema@.metrics_refresh_history(
    view regclass DEFAULT NULL, max_rows integer DEFAULT 50, before_id bigint DEFAULT NULL,
    OUT id bigint, OUT view_name text, OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT duration_ms double precision, OUT status text, OUT method text, OUT source text,
    OUT triggered_by name, OUT sqlstate text, OUT error_message text, OUT error_detail text,
    OUT error_hint text, OUT skip_reason text, OUT cascade_id bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_history';

COMMENT ON FUNCTION @extschema@.metrics_refresh_history(regclass, integer, bigint) IS
    'Latest log rows, newest first; all views when view is NULL; with before_id, the runs before that one (the next page): "View Logs"';

-------------------------------------------------------------------------------
-- Per-view options, change tracking, cascades (version 1.1.0)
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.metrics_refresh_configure(
    view regclass,
    skip_unchanged boolean DEFAULT NULL,
    max_skip interval DEFAULT NULL,
    "cascade" boolean DEFAULT NULL,
    stale_after interval DEFAULT NULL)
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_configure';

COMMENT ON FUNCTION @extschema@.metrics_refresh_configure(regclass, boolean, interval, boolean, interval) IS
    'Set a view''s options (NULL keeps one as it is) and return them, with the sources skip_unchanged tracks (admins only)';

CREATE FUNCTION @extschema@.metrics_refresh_cascade(view regclass, wait boolean DEFAULT true)
RETURNS jsonb
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_cascade';

COMMENT ON FUNCTION @extschema@.metrics_refresh_cascade(regclass, boolean) IS
    'Refresh a view, then the materialized views that depend on it, in order, each once, in a background worker (admins only)';

CREATE FUNCTION @extschema@.metrics_refresh_graph(view regclass DEFAULT NULL)
RETURNS TABLE (view_name text, depends_on text, level integer)
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_graph';

COMMENT ON FUNCTION @extschema@.metrics_refresh_graph(regclass) IS
    'Dependencies between materialized views (through plain views) of a view''s connected part, or of all views; level 0 reads no other materialized view';

-- The statement-level trigger on every table a view with skip_unchanged
-- reads: it notes the change; the transaction records it at pre-commit.
CREATE FUNCTION @extschema@.metrics_refresh_track()
RETURNS trigger
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_track';

COMMENT ON FUNCTION @extschema@.metrics_refresh_track() IS
    'Trigger: note a change to a table that a view with skip_unchanged reads';
-- Firing a trigger needs no EXECUTE; creating one does, and only the
-- extension (as its owner) creates these.
REVOKE EXECUTE ON FUNCTION @extschema@.metrics_refresh_track() FROM PUBLIC;

-- Every change to the tracking's bookkeeping and to the views' options,
-- whoever makes it (the extension, its owner, a superuser by hand), tells
-- the caches of every session (the writers' caches, src/tracking.c; the
-- options, src/options.c) to read it again; ENABLE ALWAYS, so that
-- session_replication_role cannot silence it.  TRUNCATE needs no trigger:
-- it invalidates the table by itself.
CREATE FUNCTION @extschema@.metrics_refresh_track_bookkeeping()
RETURNS trigger
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_track_bookkeeping';

COMMENT ON FUNCTION @extschema@.metrics_refresh_track_bookkeeping() IS
    'Trigger: tell every session that the tracked views'' sources, their change marks or the views'' options changed';
REVOKE EXECUTE ON FUNCTION @extschema@.metrics_refresh_track_bookkeeping() FROM PUBLIC;

CREATE TRIGGER metrics_refresh_sources_changed
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.metrics_refresh_sources
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.metrics_refresh_track_bookkeeping();
ALTER TABLE @extschema@.metrics_refresh_sources ENABLE ALWAYS TRIGGER metrics_refresh_sources_changed;
CREATE TRIGGER metrics_refresh_changes_removed
    AFTER UPDATE OR DELETE ON @extschema@.metrics_refresh_changes
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.metrics_refresh_track_bookkeeping();
ALTER TABLE @extschema@.metrics_refresh_changes ENABLE ALWAYS TRIGGER metrics_refresh_changes_removed;
CREATE TRIGGER metrics_refresh_config_changed
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.metrics_refresh_config
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.metrics_refresh_track_bookkeeping();
ALTER TABLE @extschema@.metrics_refresh_config ENABLE ALWAYS TRIGGER metrics_refresh_config_changed;

-- A REFRESH of a materialized view (by anyone) marks the tracked views that
-- read it; a new partition or child of a tracked table is tracked at once.
CREATE FUNCTION @extschema@.metrics_refresh_ddl_track()
RETURNS event_trigger
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_ddl_track';

COMMENT ON FUNCTION @extschema@.metrics_refresh_ddl_track() IS
    'Event trigger: after a REFRESH, mark the tracked views that read the view; track new partitions and children of tracked tables';

CREATE EVENT TRIGGER metrics_refresh_track_ddl ON ddl_command_end
    WHEN TAG IN ('REFRESH MATERIALIZED VIEW', 'CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_track();
-- Also under session_replication_role = replica, as the tracking triggers.
ALTER EVENT TRIGGER metrics_refresh_track_ddl ENABLE ALWAYS;

-------------------------------------------------------------------------------
-- Cumulative statistics (version 1.1.0)
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.metrics_refresh_stats(
    OUT view_name text,
    OUT successful bigint, OUT failed bigint, OUT skipped bigint, OUT unchanged bigint,
    OUT total_duration_ms double precision, OUT min_duration_ms double precision,
    OUT max_duration_ms double precision, OUT mean_duration_ms double precision,
    OUT duration_le_10ms bigint, OUT duration_le_100ms bigint, OUT duration_le_1s bigint,
    OUT duration_le_10s bigint, OUT duration_le_60s bigint, OUT duration_le_300s bigint,
    OUT duration_le_1800s bigint, OUT duration_le_inf bigint,
    OUT last_run_at timestamptz, OUT last_status text, OUT last_success_at timestamptz,
    OUT fresh_as_of timestamptz, OUT last_error_at timestamptz, OUT last_error text,
    OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_stats';

COMMENT ON FUNCTION @extschema@.metrics_refresh_stats() IS
    'Cumulative refresh statistics per view, since its last reset (read them through the view metrics_refresh_stats)';

CREATE VIEW @extschema@.metrics_refresh_stats AS
    SELECT * FROM @extschema@.metrics_refresh_stats();

COMMENT ON VIEW @extschema@.metrics_refresh_stats IS
    'Cumulative refresh statistics per view, since its last reset and independent of log retention (like pg_stat_statements)';

CREATE FUNCTION @extschema@.metrics_refresh_stats_reset(view regclass DEFAULT NULL)
RETURNS timestamptz
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_stats_reset';

COMMENT ON FUNCTION @extschema@.metrics_refresh_stats_reset(regclass) IS
    'Zero the statistics of one view, or of all views when NULL; returns the reset time (admins only)';

-- The overview's fine duration histograms: element-wise sum, and a quantile
-- estimated from one.  Pure arithmetic on their arguments: PUBLIC may call
-- them.
CREATE FUNCTION @extschema@.metrics_refresh_histogram_add(integer[], integer[])
RETURNS integer[]
LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_histogram_add';

COMMENT ON FUNCTION @extschema@.metrics_refresh_histogram_add(integer[], integer[]) IS
    'Element-wise sum of two duration histograms (transition of metrics_refresh_histogram_sum)';

CREATE AGGREGATE @extschema@.metrics_refresh_histogram_sum(integer[]) (
    SFUNC = @extschema@.metrics_refresh_histogram_add,
    STYPE = integer[],
    COMBINEFUNC = @extschema@.metrics_refresh_histogram_add,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.metrics_refresh_histogram_sum(integer[]) IS
    'Element-wise sum of duration histograms';

CREATE FUNCTION @extschema@.metrics_refresh_histogram_quantile(
    buckets integer[], q double precision, min_ms double precision, max_ms double precision)
RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_histogram_quantile';

COMMENT ON FUNCTION @extschema@.metrics_refresh_histogram_quantile(integer[], double precision, double precision, double precision) IS
    'The q-quantile of the durations of a fine duration histogram (in the bucket of the nearest-rank value), kept within min and max';

CREATE FUNCTION @extschema@.metrics_refresh_histogram_count(integer[], double precision)
RETURNS integer[]
LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_histogram_count';

COMMENT ON FUNCTION @extschema@.metrics_refresh_histogram_count(integer[], double precision) IS
    'Count one duration (ms) into a fine duration histogram (transition of metrics_refresh_histogram)';

CREATE AGGREGATE @extschema@.metrics_refresh_histogram(double precision) (
    SFUNC = @extschema@.metrics_refresh_histogram_count,
    STYPE = integer[],
    COMBINEFUNC = @extschema@.metrics_refresh_histogram_add,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.metrics_refresh_histogram(double precision) IS
    'The fine duration histogram of durations in ms (ten buckets per decade from 1 ms)';

-- The overview's figures of one view over its window (src/stats.c): one
-- aggregate over rows of the rollups' shape, in place of ten SQL aggregates
-- and the rounding of numeric expressions.  Pure arithmetic on its
-- arguments: PUBLIC may call it.
CREATE TYPE @extschema@.metrics_refresh_window AS (
    total           bigint,
    successful      bigint,
    failed          bigint,
    skipped         bigint,
    unchanged       bigint,
    success_rate    numeric,
    avg_duration_ms double precision,
    min_duration_ms double precision,
    max_duration_ms double precision,
    p95_duration_ms double precision
);

COMMENT ON TYPE @extschema@.metrics_refresh_window IS
    'The overview''s figures of one view over a window (result of metrics_refresh_window_sum)';

CREATE FUNCTION @extschema@.metrics_refresh_window_add(
    internal, integer, integer, integer, integer, integer, integer,
    double precision, double precision, double precision, integer[], double precision)
RETURNS internal
LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_window_add';

COMMENT ON FUNCTION @extschema@.metrics_refresh_window_add(internal, integer, integer, integer, integer, integer, integer, double precision, double precision, double precision, integer[], double precision) IS
    'Add one row of the rollups'' shape, or one run (transition of metrics_refresh_window_sum)';

CREATE FUNCTION @extschema@.metrics_refresh_window_final(internal)
RETURNS @extschema@.metrics_refresh_window
LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_window_final';

COMMENT ON FUNCTION @extschema@.metrics_refresh_window_final(internal) IS
    'The overview''s figures from the sums (final function of metrics_refresh_window_sum)';

CREATE AGGREGATE @extschema@.metrics_refresh_window_sum(
    total integer, successful integer, failed integer, skipped integer, unchanged integer,
    timed_runs integer, total_ms double precision, min_ms double precision,
    max_ms double precision, buckets integer[], duration_ms double precision) (
    SFUNC = @extschema@.metrics_refresh_window_add,
    STYPE = internal,
    -- The memory of one state (src/stats.c, WindowState: 640 bytes in a
    -- 1 kB chunk), for the planner's estimate of a hash aggregate's memory,
    -- which without SSPACE counts 8 kB per group for an internal state.
    SSPACE = 1024,
    FINALFUNC = @extschema@.metrics_refresh_window_final,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.metrics_refresh_window_sum(integer, integer, integer, integer, integer, integer, double precision, double precision, double precision, integer[], double precision) IS
    'The overview''s figures of one view (counts, success rate, average, min, max, p95 in ms) from rows of the rollups'' shape and single runs (duration_ms counted in the histogram)';

-- The value of the latest run (by start, then id) in a group: what
-- (array_agg(value ORDER BY started_at DESC, id DESC))[1] gives, in one
-- pass without a sort per group (the statistics' "last" fields).  Pure
-- arithmetic on its arguments: PUBLIC may call it.
CREATE FUNCTION @extschema@.metrics_refresh_latest_add(internal, anyelement, timestamptz, bigint)
RETURNS internal
LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_latest_add';

COMMENT ON FUNCTION @extschema@.metrics_refresh_latest_add(internal, anyelement, timestamptz, bigint) IS
    'Keep the value of the latest row (transition of metrics_refresh_latest)';

CREATE FUNCTION @extschema@.metrics_refresh_latest_final(internal, anyelement, timestamptz, bigint)
RETURNS anyelement
LANGUAGE c IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'mr_latest_final';

COMMENT ON FUNCTION @extschema@.metrics_refresh_latest_final(internal, anyelement, timestamptz, bigint) IS
    'The value kept (final function of metrics_refresh_latest)';

CREATE AGGREGATE @extschema@.metrics_refresh_latest(value anyelement, started_at timestamptz, id bigint) (
    SFUNC = @extschema@.metrics_refresh_latest_add,
    STYPE = internal,
    -- LatestState (src/stats.c, 48 bytes) and a short value (a status,
    -- say): see SSPACE of metrics_refresh_window_sum above.
    SSPACE = 96,
    FINALFUNC = @extschema@.metrics_refresh_latest_final,
    FINALFUNC_EXTRA,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.metrics_refresh_latest(anyelement, timestamptz, bigint) IS
    'The value of the row with the greatest (started_at, id), as (array_agg(value ORDER BY started_at DESC, id DESC))[1]';

-- The statistics as of now: the counters plus the finished runs of the log
-- not counted yet (src/stats.c).  Read by metrics_refresh_stats() and the
-- overview, as the extension owner.  Durations are those of refreshes
-- (success and error).
CREATE VIEW @extschema@.metrics_refresh_counters_current AS
WITH u AS (
    SELECT id, view_name, status, error_message, started_at,
           coalesce(finished_at, started_at) AS finished_at,
           CASE WHEN status IN ('success', 'error') THEN duration_ms END AS duration_ms
    FROM @extschema@.metrics_refresh_log
    WHERE NOT counted AND status <> 'running'),
p AS (
    SELECT view_name,
        pg_catalog.count(*) FILTER (WHERE status = 'success') AS successful,
        pg_catalog.count(*) FILTER (WHERE status = 'error') AS failed,
        pg_catalog.count(*) FILTER (WHERE status = 'skipped') AS skipped,
        pg_catalog.count(*) FILTER (WHERE status = 'unchanged') AS unchanged,
        pg_catalog.count(duration_ms) AS timed_runs,
        coalesce(pg_catalog.sum(duration_ms), 0) AS total_duration_ms,
        pg_catalog.min(duration_ms) AS min_duration_ms, pg_catalog.max(duration_ms) AS max_duration_ms,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 10::pg_catalog.float8) AS duration_le_10ms,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 100::pg_catalog.float8) AS duration_le_100ms,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 1000::pg_catalog.float8) AS duration_le_1s,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 10000::pg_catalog.float8) AS duration_le_10s,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 60000::pg_catalog.float8) AS duration_le_60s,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 300000::pg_catalog.float8) AS duration_le_300s,
        pg_catalog.count(*) FILTER (WHERE duration_ms <= 1800000::pg_catalog.float8) AS duration_le_1800s,
        pg_catalog.max(started_at) AS last_run_started,
        @extschema@.metrics_refresh_latest(finished_at, started_at, id) AS last_run_at,
        @extschema@.metrics_refresh_latest(status, started_at, id) AS last_status,
        pg_catalog.max(started_at) FILTER (WHERE status <> 'skipped') AS last_outcome_started,
        @extschema@.metrics_refresh_latest(finished_at, started_at, id) FILTER (WHERE status <> 'skipped') AS last_outcome_at,
        @extschema@.metrics_refresh_latest(status, started_at, id) FILTER (WHERE status <> 'skipped') AS last_outcome,
        pg_catalog.max(finished_at) FILTER (WHERE status = 'success') AS last_success_at,
        pg_catalog.max(finished_at) FILTER (WHERE status IN ('success', 'unchanged')) AS fresh_as_of,
        pg_catalog.max(started_at) FILTER (WHERE status = 'error') AS last_error_started,
        @extschema@.metrics_refresh_latest(finished_at, started_at, id) FILTER (WHERE status = 'error') AS last_error_at,
        @extschema@.metrics_refresh_latest(error_message, started_at, id) FILTER (WHERE status = 'error') AS last_error,
        pg_catalog.min(finished_at) AS first_at
    FROM u
    GROUP BY view_name)
SELECT coalesce(c.view_name, p.view_name) AS view_name,
    coalesce(c.successful, 0) + coalesce(p.successful, 0) AS successful,
    coalesce(c.failed, 0) + coalesce(p.failed, 0) AS failed,
    coalesce(c.skipped, 0) + coalesce(p.skipped, 0) AS skipped,
    coalesce(c.unchanged, 0) + coalesce(p.unchanged, 0) AS unchanged,
    coalesce(c.timed_runs, 0) + coalesce(p.timed_runs, 0) AS timed_runs,
    coalesce(c.total_duration_ms, 0) + coalesce(p.total_duration_ms, 0) AS total_duration_ms,
    least(c.min_duration_ms, p.min_duration_ms) AS min_duration_ms,
    greatest(c.max_duration_ms, p.max_duration_ms) AS max_duration_ms,
    coalesce(c.duration_le_10ms, 0) + coalesce(p.duration_le_10ms, 0) AS duration_le_10ms,
    coalesce(c.duration_le_100ms, 0) + coalesce(p.duration_le_100ms, 0) AS duration_le_100ms,
    coalesce(c.duration_le_1s, 0) + coalesce(p.duration_le_1s, 0) AS duration_le_1s,
    coalesce(c.duration_le_10s, 0) + coalesce(p.duration_le_10s, 0) AS duration_le_10s,
    coalesce(c.duration_le_60s, 0) + coalesce(p.duration_le_60s, 0) AS duration_le_60s,
    coalesce(c.duration_le_300s, 0) + coalesce(p.duration_le_300s, 0) AS duration_le_300s,
    coalesce(c.duration_le_1800s, 0) + coalesce(p.duration_le_1800s, 0) AS duration_le_1800s,
    CASE WHEN p.last_run_started >= c.last_run_started OR c.last_run_started IS NULL
         THEN p.last_run_at ELSE c.last_run_at END AS last_run_at,
    CASE WHEN p.last_run_started >= c.last_run_started OR c.last_run_started IS NULL
         THEN p.last_status ELSE c.last_status END AS last_status,
    CASE WHEN p.last_outcome_started >= c.last_outcome_started OR c.last_outcome_started IS NULL
         THEN p.last_outcome_at ELSE c.last_outcome_at END AS last_outcome_at,
    CASE WHEN p.last_outcome_started >= c.last_outcome_started OR c.last_outcome_started IS NULL
         THEN p.last_outcome ELSE c.last_outcome END AS last_outcome,
    greatest(c.last_success_at, p.last_success_at) AS last_success_at,
    greatest(c.fresh_as_of, p.fresh_as_of) AS fresh_as_of,
    CASE WHEN p.last_error_started >= c.last_error_started OR c.last_error_started IS NULL
         THEN p.last_error_at ELSE c.last_error_at END AS last_error_at,
    CASE WHEN p.last_error_started >= c.last_error_started OR c.last_error_started IS NULL
         THEN p.last_error ELSE c.last_error END AS last_error,
    coalesce(c.stats_reset, p.first_at) AS stats_reset
FROM @extschema@.metrics_refresh_counters c
FULL JOIN p ON p.view_name = c.view_name;

COMMENT ON VIEW @extschema@.metrics_refresh_counters_current IS
    'The cumulative statistics as of now: counters plus the runs not counted yet';

REVOKE ALL ON @extschema@.metrics_refresh_counters_current FROM PUBLIC;

GRANT SELECT ON @extschema@.metrics_refresh_overview, @extschema@.metrics_refresh_stats TO PUBLIC;

-------------------------------------------------------------------------------
-- Privileges: exactly these, whatever ALTER DEFAULT PRIVILEGES gave the
-- objects as they were made (Supabase, say, gives anon and authenticated
-- every privilege on what is made in schema public).  Only the owner holds
-- privileges on the tables, views and sequences, except that PUBLIC may
-- read the two monitoring views (they check who reads); PUBLIC may run
-- every function but the two trigger functions (each checks its caller)
-- and use the types.  Every other grant on the extension's objects, and on
-- their columns, is revoked, with the grants made from it, by an update too
-- (grants made on them after installing included: README, "Upgrading").
-------------------------------------------------------------------------------
DO $privileges$
DECLARE
    r record;
    public_now boolean;
BEGIN
    FOR r IN
        WITH member AS (
            SELECT d.classid, d.objid
            FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
            WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid
              AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char"
              AND e.extname OPERATOR(pg_catalog.=) 'metrics_refresh'::pg_catalog.name),
        object AS (
            SELECT CASE c.relkind WHEN 'S'::pg_catalog."char" THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
                   c.oid::pg_catalog.regclass::text AS name, c.relowner AS owner, c.relacl AS acl,
                   ARRAY(SELECT g.grantee FROM pg_catalog.pg_attribute a
                         CROSS JOIN LATERAL pg_catalog.aclexplode(CASE WHEN pg_catalog.cardinality(a.attacl)
                                                                  OPERATOR(pg_catalog.>) 0 THEN a.attacl END) g
                         WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid) AS column_grantees,
                   CASE WHEN c.relname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ('{metrics_refresh_overview,metrics_refresh_stats}'::pg_catalog.text[])
                        THEN 'SELECT' END AS public_may,
                   c.oid
            FROM pg_catalog.pg_class c JOIN member m ON m.objid OPERATOR(pg_catalog.=) c.oid
            WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
            UNION ALL
            SELECT 'ROUTINE', p.oid::pg_catalog.regprocedure::text, p.proowner, p.proacl, '{}'::pg_catalog.oid[],
                   CASE WHEN p.proname::pg_catalog.text OPERATOR(pg_catalog.<>) ALL ('{metrics_refresh_track,metrics_refresh_track_bookkeeping}'::pg_catalog.text[])
                        THEN 'EXECUTE' END,
                   p.oid
            FROM pg_catalog.pg_proc p JOIN member m ON m.objid OPERATOR(pg_catalog.=) p.oid
            WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
            UNION ALL
            SELECT 'TYPE', t.oid::pg_catalog.regtype::text, t.typowner, t.typacl, '{}'::pg_catalog.oid[], 'USAGE',
                   t.oid
            FROM pg_catalog.pg_type t JOIN member m ON m.objid OPERATOR(pg_catalog.=) t.oid
            WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid
              -- an array type has its element's privileges (and is a member from 17 on)
              AND t.typcategory OPERATOR(pg_catalog.<>) 'A'::pg_catalog."char")
        SELECT ob.kind, ob.name, ob.public_may, ob.oid,
               ARRAY(SELECT a.grantee
                     FROM pg_catalog.aclexplode(CASE WHEN pg_catalog.cardinality(ob.acl)
                                                    OPERATOR(pg_catalog.>) 0 THEN ob.acl END) a
                     WHERE a.grantee OPERATOR(pg_catalog.<>) ob.owner
                       AND (a.grantee OPERATOR(pg_catalog.<>) 0::pg_catalog.oid OR ob.public_may IS NULL
                            OR a.privilege_type OPERATOR(pg_catalog.<>) ob.public_may)
                     UNION
                     SELECT g FROM pg_catalog.unnest(ob.column_grantees) g
                     WHERE g OPERATOR(pg_catalog.<>) ob.owner) AS revoke_from
        FROM object ob
    LOOP
        FOR i IN 1 .. coalesce(pg_catalog.array_length(r.revoke_from, 1), 0) LOOP
            EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s CASCADE', r.kind, r.name,
                CASE r.revoke_from[i] WHEN 0::pg_catalog.oid THEN 'PUBLIC'
                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.revoke_from[i])) END);
        END LOOP;
        -- After the revokes: a grant to PUBLIC made from a grant option went too.
        public_now := CASE r.kind
            WHEN 'ROUTINE' THEN pg_catalog.has_function_privilege('public', r.oid, 'EXECUTE')
            WHEN 'TYPE' THEN pg_catalog.has_type_privilege('public', r.oid, 'USAGE')
            ELSE pg_catalog.has_table_privilege('public', r.oid, 'SELECT') END;
        IF r.public_may IS NOT NULL AND NOT public_now THEN
            EXECUTE pg_catalog.format('GRANT %s ON %s %s TO PUBLIC', r.public_may, r.kind, r.name);
        END IF;
    END LOOP;
END
$privileges$;
