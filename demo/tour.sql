-- The guided tour of tools/demo.  Runs as the superuser "postgres" in the
-- demo database, after demo/app.sql.  Every step that fails stops the tour
-- (psql -v ON_ERROR_STOP=1); the refresh that fails on purpose returns its
-- failure as a result, it does not raise.
\pset footer off
\pset null '-'
SET client_min_messages = warning;

\echo
\echo '== 1. The application: accounts, users, assets, and the platform_metrics view'
SELECT (SELECT count(*) FROM accounts) AS accounts,
       (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM assets) AS assets;
\echo 'platform_metrics was created WITH NO DATA and has a unique index on (id):'
SELECT c.relname AS view, c.relispopulated AS populated,
       pg_get_indexdef(i.indexrelid) AS unique_index
FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid
WHERE c.oid = 'platform_metrics'::regclass;

\echo
\echo '== 2. Install: CREATE EXTENSION pg_cron; CREATE EXTENSION metrics_refresh;'
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;
SELECT metrics_refresh_version() AS version;
\echo 'Its settings (all defaults here):'
SELECT name, setting, unit, context FROM pg_settings
WHERE name LIKE 'metrics\_refresh.%' ORDER BY name;

\echo
\echo '== 3. Schedule a refresh every 5 minutes'
\echo 'SELECT metrics_refresh_schedule(''platform_metrics'', ''*/5 * * * *'');'
SELECT metrics_refresh_schedule('platform_metrics', '*/5 * * * *') AS jobid;
\echo 'The pg_cron job it created (it runs as the extension owner):'
\x on
SELECT jobid, jobname, schedule, command, database, username, active FROM cron.job;
\x off

\echo
\echo '== 4. "Refresh Now": the view was never populated, so this is a full refresh'
SELECT jsonb_pretty(trigger_platform_metrics_refresh()) AS "trigger_platform_metrics_refresh()";
SELECT id, total_accounts, total_users, active_users, total_assets, assets_per_active_user
FROM platform_metrics;

\echo
\echo '== 5. New sign-ups arrive; the scheduled refreshes pick them up (concurrently)'
INSERT INTO accounts (id, name, plan) VALUES (149, 'account 149', 'pro'), (150, 'account 150', 'team');
INSERT INTO users (id, account_id, email)
SELECT g, 149 + g % 2, 'user' || g || '@example.com' FROM generate_series(1201, 1234) g;
\echo 'Readers still see the old totals until the next refresh:'
SELECT total_accounts, total_users, total_assets FROM platform_metrics;
\echo 'Run the pg_cron job''s command now, as pg_cron will every 5 minutes:'
SELECT 'SELECT jsonb_pretty(r) AS "result of the job''s command" FROM (' || command || ') AS job(r)'
FROM cron.job WHERE jobname = 'metrics_refresh public.platform_metrics' \gexec
INSERT INTO assets (id, account_id, kind, size_bytes)
SELECT g, 149 + g % 2, 'image', 1000 * g FROM generate_series(5601, 5678) g;
\echo 'A hand-made pg_cron job would call refresh_platform_metrics_with_logging() (also source "scheduled"):'
SELECT r->>'status' AS status, r->>'method' AS method, r->>'source' AS source,
       r->>'message' AS message
FROM refresh_platform_metrics_with_logging() AS r;
SELECT total_accounts, total_users, total_assets FROM platform_metrics;

\echo
\echo '== 6. A bad import deactivates every user: assets_per_active_user now divides by zero'
UPDATE users SET active = false;
SELECT jsonb_pretty(trigger_platform_metrics_refresh()) AS "trigger_platform_metrics_refresh()";
\echo 'The failure did not raise; the view kept its last good contents:'
SELECT total_users, active_users, assets_per_active_user,
       to_char(last_updated, 'HH24:MI:SS.MS') AS last_updated
FROM platform_metrics;
\echo 'The attempt is in the log with its SQLSTATE and message:'
SELECT id AS run_id, status, sqlstate, error_message
FROM metrics_refresh_history('platform_metrics', 1);
\echo 'The import is fixed; the next refresh succeeds:'
UPDATE users SET active = (id % 10 <> 0);
SELECT r->>'status' AS status, r->>'method' AS method, r->>'message' AS message
FROM trigger_platform_metrics_refresh() AS r;
SELECT total_users, active_users, assets_per_active_user,
       to_char(last_updated, 'HH24:MI:SS.MS') AS last_updated
FROM platform_metrics;

\echo
\echo '== 7. Refresh without waiting (for HTTP APIs that time out): wait => false'
SELECT trigger_platform_metrics_refresh(wait => false) AS bg \gset
SELECT jsonb_pretty(:'bg') AS "trigger_platform_metrics_refresh(wait => false)";
SELECT (:'bg'::jsonb ->> 'run_id')::bigint AS bg_run \gset
\echo 'A background worker runs it; poll metrics_refresh_run_status(run_id) until it is no longer running:'
SELECT jsonb_pretty(demo.wait_for_run(:bg_run)) AS "metrics_refresh_run_status(run_id)";

\echo
\echo '== 8. One refresh at a time: a second attempt is skipped, not queued'
\echo 'BEGIN; a refresh holds the view until COMMIT; meanwhile "Refresh Now" hands one to a worker:'
BEGIN;
SELECT r->>'status' AS status FROM trigger_platform_metrics_refresh() AS r;
SELECT (trigger_platform_metrics_refresh(wait => false) ->> 'run_id')::bigint AS skip_run \gset
SELECT r->>'status' AS status, r->>'message' AS message FROM demo.wait_for_run(:skip_run) AS r;
COMMIT;

\echo
\echo '== 9. Who may press "Refresh Now": superusers, members of metrics_refresh.admin_role,'
\echo '   and callers approved by metrics_refresh.admin_check (here: a JWT claim, as with PostgREST/Supabase)'
ALTER DATABASE metrics_demo SET metrics_refresh.admin_check = 'public.is_super_admin';
\c
SET client_min_messages = warning;
SET ROLE authenticated;
\echo 'An ordinary signed-in user:'
SET request.jwt.claims = '{"sub": "u-42", "role": "authenticated"}';
SELECT metrics_refresh_is_admin() AS is_admin,
       demo.try('SELECT trigger_platform_metrics_refresh()') AS refresh_now;
\echo 'A user whose JWT says app_metadata.role = super_admin:'
SET request.jwt.claims = '{"sub": "u-1", "role": "authenticated", "app_metadata": {"role": "super_admin"}}';
SELECT metrics_refresh_is_admin() AS is_admin,
       r->>'status' AS status, r->>'triggered_by' AS triggered_by
FROM trigger_platform_metrics_refresh() AS r;
RESET ROLE;
RESET request.jwt.claims;

\echo
\echo '== 10. Views built on views: refresh a view and its dependents, in order (a cascade)'
\echo 'plan_summary reads account_activity (through the plain view busy_accounts):'
SELECT * FROM metrics_refresh_graph('account_activity');
\echo 'One cascade: account_activity first, then plan_summary, each its own logged run:'
SELECT c->'cascade_id' AS cascade_id, c->'counts' AS counts, c->'run_ids' AS run_ids
FROM metrics_refresh_cascade('account_activity') AS c;
SELECT id, view_name, status, source, cascade_id FROM metrics_refresh_history(NULL, 2) ORDER BY id;
\echo 'Scheduled with the cascade option, the job refreshes the dependents too:'
SELECT metrics_refresh_configure('account_activity', "cascade" => true)->'cascade' AS "cascade";

\echo
\echo '== 11. Skip refreshes when no source changed: skip_unchanged'
\echo 'Turning it on adds statement triggers to the tables the view reads:'
SELECT jsonb_pretty(metrics_refresh_configure('plan_summary', skip_unchanged => true)) AS options;
SELECT metrics_refresh_configure('account_activity', skip_unchanged => true)->'sources' AS account_activity_sources;
\echo 'The first run after turning it on refreshes: tracking starts from a refresh.'
SELECT metrics_refresh_cascade('account_activity')->'counts' AS counts;
\echo 'Nothing changed since: both runs are "unchanged", nothing is recomputed:'
SELECT r->>'view' AS view, r->>'status' AS status, r->>'message' AS message
FROM (SELECT metrics_refresh_cascade('account_activity') AS c) x,
     LATERAL (SELECT metrics_refresh_run_status(id::bigint) AS r
              FROM jsonb_array_elements_text(c->'run_ids') AS id) y;
\echo 'A new asset: account_activity is refreshed, and so is plan_summary, which reads it:'
INSERT INTO assets (id, account_id, kind, size_bytes) VALUES (9001, 1, 'image', 1000);
SELECT r->>'view' AS view, r->>'status' AS status, r->>'method' AS method
FROM (SELECT metrics_refresh_cascade('account_activity') AS c) x,
     LATERAL (SELECT metrics_refresh_run_status(id::bigint) AS r
              FROM jsonb_array_elements_text(c->'run_ids') AS id) y;
\echo '"Refresh Now" always refreshes:'
SELECT metrics_refresh_trigger('plan_summary')->>'status' AS status;

\echo
\echo '== 12. The admin dashboard'
\echo
SELECT to_regprocedure('metrics_refresh_dashboard(regclass, interval)') IS NOT NULL AS has_dashboard \gset
\if :has_dashboard
\echo '-- Monitor card and 24 h performance: SELECT metrics_refresh_dashboard(''platform_metrics'') --'
\pset tuples_only on
\pset format unaligned
SELECT metrics_refresh_dashboard('platform_metrics');
\pset format aligned
\pset tuples_only off
\else
\echo '-- Metrics Refresh Monitor, from metrics_refresh_status(''platform_metrics'') --'
WITH s AS (SELECT metrics_refresh_status('platform_metrics') AS j)
SELECT item AS " ", value AS "  "
FROM s, LATERAL (VALUES
    (1, 'Status', '● ' || initcap(j->>'status')),
    (2, 'Last Refresh', demo.ago((j->>'last_refresh_at')::timestamptz) || ' (' || (j->>'last_status') || ')'),
    (3, 'Last Success', demo.ago((j->>'last_success_at')::timestamptz)),
    (4, 'Success Rate', coalesce(regexp_replace(j->>'success_rate', '\.0$', '') || '% ('
                          || (j->>'successful') || '/'
                          || ((j->>'successful')::int + (j->>'failed')::int) || ')', '-')),
    (5, 'Runs (24 h)', (j->>'total') || ' total: ' || (j->>'successful') || ' successful, '
                          || (j->>'failed') || ' failed, ' || (j->>'skipped') || ' skipped'),
    (6, 'Avg Duration', demo.secs((j->>'avg_duration_ms')::float8)),
    (7, 'Min / Max', demo.secs((j->>'min_duration_ms')::float8) || ' / '
                          || demo.secs((j->>'max_duration_ms')::float8)),
    (8, 'p95 Duration', demo.secs((j->>'p95_duration_ms')::float8)),
    (9, 'Last Error', coalesce(j->>'last_error', '-'))) AS card(n, item, value)
ORDER BY n;
\endif
\echo
\echo '-- Platform Metrics Overview (data from the platform_metrics view) --'
SELECT item AS " ", value AS "  "
FROM platform_metrics, LATERAL (VALUES
    (1, 'Total Accounts', to_char(total_accounts, 'FM999,999,999')),
    (2, 'Total Users', to_char(total_users, 'FM999,999,999')),
    (3, 'Total Assets', to_char(total_assets, 'FM999,999,999')),
    (4, 'Last Updated', demo.ago(last_updated))) AS card(n, item, value)
ORDER BY n;
\echo
\echo '-- View Logs: SELECT * FROM metrics_refresh_history(''platform_metrics'', 50) --'
SELECT id AS run, to_char(started_at, 'HH24:MI:SS.MS') AS started, source, status,
       method, demo.secs(duration_ms) AS duration, triggered_by, sqlstate,
       coalesce(error_message, skip_reason) AS message
FROM metrics_refresh_history('platform_metrics', 50);
\echo
\echo '-- Last 24 hours: SELECT * FROM metrics_refresh_timeline(''platform_metrics'') --'
SELECT to_char(bucket_start, 'YYYY-MM-DD HH24:MI') AS hour, runs, successes, failures,
       demo.secs(avg_duration_ms) AS avg, demo.secs(max_duration_ms) AS max,
       repeat('█', runs::int) AS " "
FROM metrics_refresh_timeline('platform_metrics');
\echo
\echo '-- Every view, counted since the last reset: SELECT * FROM metrics_refresh_stats --'
SELECT view_name, successful, failed, skipped, unchanged, round(mean_duration_ms::numeric, 1) AS mean_ms,
       duration_le_100ms AS "<=100ms", duration_le_1s AS "<=1s", last_status
FROM metrics_refresh_stats ORDER BY view_name;
\echo
\echo '-- All views: SELECT * FROM metrics_refresh_overview --'
\x on
SELECT * FROM metrics_refresh_overview;
\x off
\echo
\echo '-- The raw status object: metrics_refresh_status(''platform_metrics'') --'
SELECT jsonb_pretty(metrics_refresh_status('platform_metrics')) AS metrics_refresh_status;
