-- The statistics database of bench/statistics: `views` scheduled views, each
-- run every 5 minutes (288 runs a day), logged the way the extension logs
-- them: written uncounted (metrics_refresh_log.counted), and folded into
-- metrics_refresh_counters and metrics_refresh_hourly (src/stats.c) by
-- metrics_refresh_prune(), which folds before it deletes (here it deletes
-- nothing).  psql variables: views, and step:
--
--   base  the extension; the views' configuration; the 24 hours before the
--         last 24 (ticks 288 to 575) logged, folded, then removed from the
--         log as retention would remove them (the counters and the hourly
--         rollup keep them); the last 24 hours but the latest tick (ticks 1
--         to 287) logged, not folded yet;
--   tick  the latest tick (tick 0): one run of each view, not folded;
--   fold  fold whatever is not counted yet.
--
-- Tick g of view v started g * 5 minutes (and v * 100 ms) ago.  About 1% of
-- runs fail, 0.5% are skipped and a third end unchanged; refreshes take 20
-- to 220 ms, an unchanged decision 0.1 ms.  The views need not exist: the
-- statistics name them, and the overview reads only the statistics.

SELECT :'step' = 'base' AS is_base, :'step' = 'tick' AS is_tick, :'step' = 'fold' AS is_fold \gset

\if :is_base
CREATE EXTENSION metrics_refresh;

CREATE FUNCTION bench_log_ticks(views int, first_tick int, last_tick int) RETURNS void
LANGUAGE sql
AS $$
INSERT INTO metrics_refresh_log
    (view_name, started_at, finished_at, duration_ms, status, method, source, triggered_by,
     sqlstate, error_message, skip_reason)
SELECT view_name, t, t + coalesce(d, 0) * interval '1 millisecond', d, st,
       CASE WHEN st IN ('success', 'error') THEN 'concurrently' END, 'scheduled', 'postgres',
       CASE WHEN st = 'error' THEN '57014' END,
       CASE WHEN st = 'error' THEN 'canceling refresh due to metrics_refresh.refresh_timeout' END,
       CASE WHEN st = 'skipped' THEN 'skipped: another refresh of ' || view_name || ' is in progress'
            WHEN st = 'unchanged' THEN 'unchanged: no source changed since run 1' END
FROM (SELECT format('public.app_view_%s', lpad(v::text, 4, '0')) AS view_name,
             date_trunc('minute', now()) - g * interval '5 minutes' - v * interval '100 milliseconds' AS t,
             CASE WHEN (g + v) % 97 = 0 THEN 'error' WHEN (g + v) % 199 = 0 THEN 'skipped'
                  WHEN (g * 7 + v) % 3 = 0 THEN 'unchanged' ELSE 'success' END AS st,
             g, v
      FROM generate_series(1, views) v, generate_series(first_tick, last_tick) g) r,
     LATERAL (SELECT CASE WHEN st = 'unchanged' THEN 0.1 WHEN st = 'skipped' THEN NULL
                          ELSE 20 + (g * 13 + v) % 200 + 0.5 END AS d) x
ORDER BY t
$$;

INSERT INTO metrics_refresh_config (view_name, schedule)
SELECT format('public.app_view_%s', lpad(v::text, 4, '0')), '*/5 * * * *'
FROM generate_series(1, :views) v;
SELECT bench_log_ticks(:views, 288, 575);
SELECT metrics_refresh_prune('100 years') AS pruned;
DELETE FROM metrics_refresh_log WHERE started_at < now() - interval '24 hours';
SELECT bench_log_ticks(:views, 1, 287);
VACUUM (ANALYZE) metrics_refresh_log, metrics_refresh_counters, metrics_refresh_hourly,
    metrics_refresh_config;
\elif :is_tick
SELECT bench_log_ticks(:views, 0, 0);
VACUUM (ANALYZE) metrics_refresh_log;
\elif :is_fold
SELECT metrics_refresh_prune('100 years') AS pruned;
VACUUM (ANALYZE) metrics_refresh_log, metrics_refresh_counters, metrics_refresh_hourly;
\else
\warn 'step must be base, tick or fold'
SELECT 1 / 0;
\endif
