-- The benchmark database: a tiny view for per-call overhead, a realistic
-- platform view over accounts, users and assets, and a refresh log in steady
-- state.  psql variables: accounts, users, assets (row counts), history_views,
-- history_runs (earlier runs in the log, per view).  Autovacuum is off on these tables; bench/run
-- vacuums them itself between measurements, outside the timings.

CREATE EXTENSION metrics_refresh;

-- A tiny view: a few rows, a unique index.
CREATE TABLE tiny (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tiny SELECT g, g * 10 FROM generate_series(1, 5) g;
CREATE MATERIALIZED VIEW tiny_metrics AS SELECT id, v FROM tiny;
CREATE UNIQUE INDEX ON tiny_metrics (id);

-- The platform.
SELECT setseed(0.42);
CREATE TABLE accounts (
    id          int PRIMARY KEY,
    plan        text NOT NULL,
    created_at  timestamptz NOT NULL
) WITH (autovacuum_enabled = off);
CREATE TABLE users (
    id           int PRIMARY KEY,
    account_id   int NOT NULL,
    active       boolean NOT NULL,
    last_seen_at timestamptz NOT NULL
) WITH (autovacuum_enabled = off);
CREATE TABLE assets (
    id          int PRIMARY KEY,
    account_id  int NOT NULL,
    kind        text NOT NULL,
    size_bytes  bigint NOT NULL,
    updated_at  timestamptz NOT NULL
) WITH (autovacuum_enabled = off);

INSERT INTO accounts
SELECT g, (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + g % 4],
       now() - g * interval '7 minutes'
FROM generate_series(1, :accounts) g;

INSERT INTO users
SELECT g, 1 + floor(random() * :accounts)::int, random() < 0.7,
       now() - random() * interval '90 days'
FROM generate_series(1, :users) g;

INSERT INTO assets
SELECT g, 1 + floor(random() * :accounts)::int,
       (ARRAY['image', 'video', 'document', 'audio'])[1 + g % 4],
       (random() * 50000000)::bigint, now() - random() * interval '365 days'
FROM generate_series(1, :assets) g;

-- Per-account aggregates, plus one totals row (account_id 0).
CREATE MATERIALIZED VIEW platform_metrics AS
WITH u AS (
    SELECT account_id, count(*) AS users, count(*) FILTER (WHERE active) AS active_users
    FROM users GROUP BY account_id
), a AS (
    SELECT account_id, count(*) AS assets, sum(size_bytes) AS asset_bytes
    FROM assets GROUP BY account_id
), per_account AS (
    SELECT ac.id AS account_id, ac.plan, 1::bigint AS accounts,
           COALESCE(u.users, 0) AS users, COALESCE(u.active_users, 0) AS active_users,
           COALESCE(a.assets, 0) AS assets, COALESCE(a.asset_bytes, 0) AS asset_bytes
    FROM accounts ac
    LEFT JOIN u ON u.account_id = ac.id
    LEFT JOIN a ON a.account_id = ac.id
)
SELECT * FROM per_account
UNION ALL
SELECT 0, 'total', count(*), sum(users), sum(active_users), sum(assets), sum(asset_bytes)
FROM per_account;

CREATE UNIQUE INDEX platform_metrics_account_id_idx ON platform_metrics (account_id);
ALTER MATERIALIZED VIEW platform_metrics SET (autovacuum_enabled = off);

-- A log in steady state: history_runs 5-minute runs of each of history_views
-- views, all younger than the default retention (30 days), so that nothing is
-- pruned during the measurements.  The PL/pgSQL wrapper's log gets the same.
INSERT INTO metrics_refresh_log
    (view_name, started_at, finished_at, duration_ms, status, method, source, triggered_by)
SELECT format('public.app_view_%s', v), t, t + interval '120 ms', 120, 'success', 'concurrently',
       'scheduled', 'postgres'
FROM generate_series(1, :history_views) v, generate_series(1, :history_runs) g,
     LATERAL (SELECT now() - g * interval '5 minutes' - v * interval '1 second' AS t) s
ORDER BY t;
INSERT INTO bench_plpgsql_log
    (view_name, started_at, finished_at, duration_ms, status, triggered_by)
SELECT view_name, started_at, finished_at, duration_ms, status, triggered_by
FROM metrics_refresh_log ORDER BY id;

VACUUM (ANALYZE) accounts, users, assets, platform_metrics, tiny, tiny_metrics,
    metrics_refresh_log, bench_plpgsql_log;

-- Samples pg_stat_activity every 20 ms for `secs` seconds: how often a reader
-- session (application_name = reader_app) waited on a lock, and how often a
-- refresher session (application_name = refresher_app) was active.
CREATE FUNCTION bench_sample_waits(secs double precision, reader_app text, refresher_app text,
    OUT samples int, OUT reader_samples int, OUT lock_wait_samples int,
    OUT refresh_samples int)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + secs * interval '1 second';
    r int;
    w int;
    f int;
BEGIN
    samples := 0; reader_samples := 0; lock_wait_samples := 0; refresh_samples := 0;
    WHILE clock_timestamp() < deadline LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) FILTER (WHERE application_name = reader_app),
               count(*) FILTER (WHERE application_name = reader_app AND wait_event_type = 'Lock'),
               count(*) FILTER (WHERE application_name = refresher_app AND state = 'active')
          INTO r, w, f
          FROM pg_stat_activity;
        samples := samples + 1;
        IF r > 0 THEN reader_samples := reader_samples + 1; END IF;
        IF w > 0 THEN lock_wait_samples := lock_wait_samples + 1; END IF;
        IF f > 0 THEN refresh_samples := refresh_samples + 1; END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;
