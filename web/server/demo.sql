-- What tools/web adds to the demo application (demo/app.sql) before it starts
-- the local server.  Runs as the superuser "postgres" in the demo database.
-- psql variables: schedule (a cron schedule, or "off"), seed (1 or 0).

SET client_min_messages = warning;

CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;

-- Admins are decided by the JWT claim app_metadata.role = super_admin
-- (demo/app.sql's public.is_super_admin), as in a Supabase application.
SELECT format('ALTER DATABASE %I SET metrics_refresh.admin_check = %L',
              current_database(), 'public.is_super_admin') \gexec

-- The login role of the local server, as PostgREST's "authenticator": it can
-- do nothing itself and switches to the JWT's role for each request.
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT authenticated TO authenticator;

-- The overview: the platform totals through an RPC, readable by signed-in users.
\ir ../sql/overview.sql
GRANT SELECT ON public.platform_metrics TO authenticated;

-- A view that fails on purpose (division by zero while every user is
-- active), so that the dashboard has a failing view to show.
CREATE MATERIALIZED VIEW public.broken_metrics AS
SELECT 1 AS id,
       (SELECT count(*) FROM public.users)
       / (SELECT count(*) FROM public.users WHERE NOT active) AS users_per_inactive_user
WITH NO DATA;
CREATE UNIQUE INDEX broken_metrics_id_idx ON public.broken_metrics (id);

-- Simulated history: 287 scheduled runs of platform_metrics every 5 minutes
-- over the last 24 hours, written straight into the log (as the benchmarks
-- do), so that the chart has a shape: refreshes, and overnight (8 to 16
-- hours ago) mostly runs that found no source changed, as skip_unchanged
-- logs them (status unchanged, no method, the decision's time as duration).
-- Real runs follow.
\if :seed
INSERT INTO metrics_refresh_log
    (view_name, started_at, finished_at, duration_ms, status, method, source, triggered_by)
SELECT 'public.platform_metrics', t, t + d * interval '1 millisecond', d,
       CASE WHEN quiet THEN 'unchanged' ELSE 'success' END,
       CASE WHEN quiet THEN NULL ELSE 'concurrently' END,
       'scheduled', 'postgres'
FROM (SELECT date_trunc('minute', now()) - g * interval '5 minutes' AS t, quiet,
             CASE WHEN quiet THEN round((0.15 + (g % 7) * 0.04)::numeric, 3)::float8
                  ELSE round((210 + 380 * exp(-power((g - 215) / 18.0, 2)) + (g * 37) % 60)::numeric, 3)::float8
             END AS d
      FROM generate_series(1, 287) g,
           LATERAL (SELECT g BETWEEN 96 AND 192 AND g % 6 <> 0 AS quiet) AS q) AS runs
ORDER BY t;
-- An unchanged run names the refresh whose contents it kept.
UPDATE metrics_refresh_log AS u
SET skip_reason = format('unchanged: no source changed since run %s',
                         (SELECT max(r.id) FROM metrics_refresh_log AS r
                          WHERE r.status = 'success' AND r.id < u.id))
WHERE u.status = 'unchanged';
\endif

-- The first real runs: the platform view is populated (a full refresh) and
-- the broken view fails.
SELECT metrics_refresh_trigger('public.platform_metrics') ->> 'status' AS platform_metrics;
SELECT metrics_refresh_trigger('public.broken_metrics') ->> 'status' AS broken_metrics;

-- From now on a run of platform_metrics that finds none of its tables
-- changed is logged as unchanged and refreshes nothing (Refresh Now always
-- refreshes).  Its last_updated column (now()) then stays as of the last
-- real refresh, which a NOTICE says (hidden here).
SELECT metrics_refresh_configure('public.platform_metrics', skip_unchanged => true) ->> 'skip_unchanged'
    AS skip_unchanged;

\if :schedule_on
SELECT metrics_refresh_schedule('public.platform_metrics', :'schedule') AS jobid;
\endif
