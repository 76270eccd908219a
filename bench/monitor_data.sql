-- The monitoring database: years of 5-minute runs of one view, plus recent
-- runs of many other views, written straight into the log as a superuser,
-- in time order (as they would have been logged).  psql variables:
-- main_rows (runs of public.platform_metrics), other_views (how many other
-- views), other_hours (how far back their 5-minute runs go).
--
-- About 1% of runs failed and 0.5% were skipped; the newest run succeeded.

CREATE EXTENSION metrics_refresh;

-- The monitored view must exist: the monitoring functions take a regclass.
CREATE TABLE platform_source (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO platform_source VALUES (1, 1);
CREATE MATERIALIZED VIEW platform_metrics AS SELECT id, v FROM platform_source;
CREATE UNIQUE INDEX ON platform_metrics (id);

INSERT INTO metrics_refresh_log
    (view_name, started_at, finished_at, duration_ms, status, method, source,
     triggered_by, sqlstate, error_message, skip_reason)
SELECT view_name, t, t + d * interval '1 millisecond', CASE WHEN st = 'skipped' THEN NULL ELSE d END,
       st, CASE WHEN st = 'skipped' THEN NULL ELSE 'concurrently' END, 'scheduled', 'postgres',
       CASE WHEN st = 'error' THEN '57014' END,
       CASE WHEN st = 'error' THEN 'canceling refresh due to metrics_refresh.refresh_timeout' END,
       CASE WHEN st = 'skipped' THEN 'skipped: another refresh of ' || view_name || ' is in progress' END
FROM (
    SELECT 'public.platform_metrics' AS view_name,
           date_trunc('minute', now()) - g * interval '5 minutes' AS t,
           300 + (g * 37) % 400 + (g % 7) * 0.125 AS d,
           CASE WHEN g % 97 = 0 THEN 'error' WHEN g % 199 = 0 THEN 'skipped' ELSE 'success' END AS st
    FROM generate_series(1, :main_rows) g
    UNION ALL
    SELECT format('public.dashboard_view_%s', lpad(v::text, 3, '0')),
           date_trunc('minute', now()) - g * interval '5 minutes' - v * interval '1 second',
           20 + (g * 13 + v) % 200 + 0.5,
           CASE WHEN (g + v) % 101 = 0 THEN 'error' WHEN (g + v) % 211 = 0 THEN 'skipped' ELSE 'success' END
    FROM generate_series(1, :other_views) v,
         generate_series(1, :other_hours * 12) g
) runs
ORDER BY t;

VACUUM (ANALYZE) metrics_refresh_log;
