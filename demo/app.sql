-- The demo application: accounts, their users and their assets, and the
-- platform_metrics materialized view that the admin dashboard reads.
-- Run by tools/demo in a throwaway server; not part of the extension.

CREATE TABLE accounts (
    id          int PRIMARY KEY,
    name        text NOT NULL,
    plan        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id          int PRIMARY KEY,
    account_id  int NOT NULL REFERENCES accounts,
    email       text NOT NULL UNIQUE,
    active      boolean NOT NULL DEFAULT true
);

CREATE TABLE assets (
    id          int PRIMARY KEY,
    account_id  int NOT NULL REFERENCES accounts,
    kind        text NOT NULL,
    size_bytes  bigint NOT NULL
);

-- Yesterday's platform: 148 accounts, 1,200 users, 5,600 assets.
SELECT setseed(0.2);
INSERT INTO accounts (id, name, plan)
SELECT g, 'account ' || g, (ARRAY['free', 'pro', 'team'])[1 + g % 3]
FROM generate_series(1, 148) g;
INSERT INTO users (id, account_id, email)
SELECT g, 1 + g % 148, 'user' || g || '@example.com'
FROM generate_series(1, 1200) g;
INSERT INTO assets (id, account_id, kind, size_bytes)
SELECT g, 1 + g % 148, (ARRAY['image', 'video', 'document'])[1 + g % 3],
       (random() * 10000000)::bigint
FROM generate_series(1, 5600) g;

-- One row of platform totals.  "id" exists for the unique index that
-- REFRESH ... CONCURRENTLY needs; assets_per_active_user divides by the
-- number of active users, so it fails if that number ever drops to zero.
-- WITH NO DATA: the view starts unpopulated, so its first refresh is a full one.
CREATE MATERIALIZED VIEW platform_metrics AS
SELECT 1 AS id,
       (SELECT count(*) FROM accounts) AS total_accounts,
       (SELECT count(*) FROM users) AS total_users,
       (SELECT count(*) FROM users WHERE active) AS active_users,
       (SELECT count(*) FROM assets) AS total_assets,
       round((SELECT count(*) FROM assets)::numeric
             / (SELECT count(*) FROM users WHERE active), 2) AS assets_per_active_user,
       now() AS last_updated
WITH NO DATA;

CREATE UNIQUE INDEX platform_metrics_id_idx ON platform_metrics (id);

-- Views built on views, for cascades: per-account activity, and per plan a
-- summary of it, read through a plain view (as applications often do).
-- plan_summary depends on account_activity: refresh it after.
CREATE MATERIALIZED VIEW account_activity AS
SELECT a.id AS account_id, a.plan,
       (SELECT count(*) FROM users u WHERE u.account_id = a.id AND u.active) AS active_users,
       (SELECT count(*) FROM assets s WHERE s.account_id = a.id) AS assets
FROM accounts a;
CREATE UNIQUE INDEX account_activity_id_idx ON account_activity (account_id);

CREATE VIEW busy_accounts AS
SELECT account_id, plan, active_users, assets FROM account_activity WHERE assets > 0;

CREATE MATERIALIZED VIEW plan_summary AS
SELECT plan, count(*) AS accounts, sum(active_users) AS active_users, sum(assets) AS assets
FROM busy_accounts GROUP BY plan;
CREATE UNIQUE INDEX plan_summary_plan_idx ON plan_summary (plan);

-- The role PostgREST / Supabase uses for signed-in users, and the
-- application's own notion of a super admin: a claim in the caller's JWT.
-- metrics_refresh calls it with search_path = pg_catalog, pg_temp, so every
-- name in it is schema-qualified.
CREATE ROLE authenticated NOLOGIN;

CREATE FUNCTION public.is_super_admin() RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        pg_catalog.current_setting('request.jwt.claims', true)::pg_catalog.jsonb
            -> 'app_metadata' ->> 'role' = 'super_admin',
        false)
$$;

-- SQLSTATE and message of a statement that raises, or its result.
CREATE SCHEMA demo;
CREATE FUNCTION demo.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
    state text;
    msg text;
BEGIN
    EXECUTE stmt INTO result;
    RETURN 'ok: ' || coalesce(result, 'null');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN 'ERROR ' || state || ': ' || msg;
END $$;
GRANT USAGE ON SCHEMA demo TO PUBLIC;

-- Poll a background run until it has finished (at most 30 s).
CREATE FUNCTION demo.wait_for_run(run_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    FOR i IN 1 .. 300 LOOP
        r := metrics_refresh_run_status(run_id);
        EXIT WHEN r->>'status' <> 'running';
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN r;
END $$;

-- "2 minutes ago", as the dashboard writes it.
CREATE FUNCTION demo.ago(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN t IS NULL THEN 'never'
        WHEN clock_timestamp() - t < interval '2 seconds' THEN 'just now'
        WHEN clock_timestamp() - t < interval '1 minute'
            THEN extract(epoch FROM clock_timestamp() - t)::int || ' seconds ago'
        WHEN clock_timestamp() - t < interval '1 hour'
            THEN floor(extract(epoch FROM clock_timestamp() - t) / 60)::int || ' minutes ago'
        ELSE floor(extract(epoch FROM clock_timestamp() - t) / 3600)::int || ' hours ago'
    END
$$;

-- A duration in ms as the dashboard writes it: 0.45s, or 12.3 ms.
CREATE FUNCTION demo.secs(ms double precision) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN ms IS NULL THEN '-'
        WHEN ms >= 1000 THEN round((ms / 1000)::numeric, 2) || 's'
        ELSE round(ms::numeric, 1) || ' ms'
    END
$$;
