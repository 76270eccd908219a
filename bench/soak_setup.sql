-- The soak test's database (bench/soak): sources, seven materialized views
-- in a small graph with a diamond, the pgbench scripts' helpers, and the
-- tables that record what every call returned and what the killer did.
--
--   accounts ─> mv_groups ─┬─> mv_big ─────────────┐
--                          └─> (v_groups) ─> mv_rank ┼─> mv_summary
--   events ──> mv_kinds ───> mv_fragile ────────────┘
--   knobs ─────────────────↗
--   accounts ─> mv_slow (a VOLATILE function that sleeps: never tracked)
--
-- skip_unchanged: mv_groups, mv_big, mv_kinds, mv_summary; cascade on
-- mv_kinds (so that every run of it is a cascade); mv_kinds is also
-- scheduled every minute (pg_cron).  mv_fragile fails (division by zero)
-- while knobs.fail is true, which the writers flip, so that cascades see
-- failed nodes and skipped dependents.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION metrics_refresh;
RESET client_min_messages;

CREATE SCHEMA soak;
CREATE TABLE soak.accounts (id int PRIMARY KEY, grp int NOT NULL, amount int NOT NULL);
INSERT INTO soak.accounts SELECT g, g % 10, g % 97 FROM generate_series(1, 1000) g;
CREATE TABLE soak.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id int NOT NULL,
    kind text NOT NULL,
    amount int NOT NULL);
INSERT INTO soak.events (account_id, kind, amount)
SELECT g % 1000 + 1, 'k' || g % 5, g % 13 FROM generate_series(1, 5000) g;
CREATE INDEX ON soak.events (account_id);
CREATE TABLE soak.knobs (id int PRIMARY KEY, fail boolean NOT NULL);
INSERT INTO soak.knobs VALUES (1, false);

CREATE MATERIALIZED VIEW soak.mv_groups AS
SELECT grp, count(*) AS n, sum(amount) AS total FROM soak.accounts GROUP BY grp;
CREATE UNIQUE INDEX ON soak.mv_groups (grp);
CREATE VIEW soak.v_groups AS SELECT grp, n, total FROM soak.mv_groups;
CREATE MATERIALIZED VIEW soak.mv_big AS
SELECT grp, total FROM soak.mv_groups WHERE total > 0;
CREATE UNIQUE INDEX ON soak.mv_big (grp);
CREATE MATERIALIZED VIEW soak.mv_rank AS
SELECT grp, rank() OVER (ORDER BY total DESC, grp) AS rnk FROM soak.v_groups;
CREATE UNIQUE INDEX ON soak.mv_rank (grp);
CREATE MATERIALIZED VIEW soak.mv_kinds AS
SELECT kind, count(*) AS n, sum(amount) AS total FROM soak.events GROUP BY kind;
CREATE UNIQUE INDEX ON soak.mv_kinds (kind);
CREATE MATERIALIZED VIEW soak.mv_fragile AS
SELECT 1 AS id, (SELECT sum(n) FROM soak.mv_kinds) / (CASE WHEN k.fail THEN 0 ELSE 1 END) AS events
FROM soak.knobs k WHERE k.id = 1;
CREATE UNIQUE INDEX ON soak.mv_fragile (id);
CREATE MATERIALIZED VIEW soak.mv_summary AS
SELECT b.grp, b.total, r.rnk, f.events
FROM soak.mv_big b JOIN soak.mv_rank r USING (grp) CROSS JOIN soak.mv_fragile f;
CREATE UNIQUE INDEX ON soak.mv_summary (grp);
CREATE FUNCTION soak.slow_total(g int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep(0.02);
    RETURN (SELECT sum(amount) FROM soak.accounts WHERE grp = g);
END $$;
CREATE MATERIALIZED VIEW soak.mv_slow AS
SELECT grp, soak.slow_total(grp) AS total FROM generate_series(0, 9) AS grp;
CREATE UNIQUE INDEX ON soak.mv_slow (grp);

SELECT metrics_refresh_configure('soak.mv_groups', skip_unchanged => true) IS NOT NULL AS configured;
SELECT metrics_refresh_configure('soak.mv_big', skip_unchanged => true) IS NOT NULL AS configured;
SELECT metrics_refresh_configure('soak.mv_kinds', skip_unchanged => true, "cascade" => true) IS NOT NULL AS configured;
SELECT metrics_refresh_configure('soak.mv_summary', skip_unchanged => true) IS NOT NULL AS configured;
SELECT metrics_refresh_schedule('soak.mv_kinds', '* * * * *') IS NOT NULL AS scheduled;

-- The views the clients pick from (random(1, 7)), and the cascades' roots.
CREATE TABLE soak.views (n int PRIMARY KEY, v regclass NOT NULL);
INSERT INTO soak.views VALUES
    (1, 'soak.mv_groups'), (2, 'soak.mv_big'), (3, 'soak.mv_rank'), (4, 'soak.mv_kinds'),
    (5, 'soak.mv_fragile'), (6, 'soak.mv_summary'), (7, 'soak.mv_slow');
CREATE FUNCTION soak.view_at(int) RETURNS regclass LANGUAGE sql STABLE
AS 'SELECT v FROM soak.views WHERE n = $1';

-- Every completed call (one row), and every run id a call returned (one row
-- per id, with the status it was returned with).  Written in the caller's
-- transaction: a call that was cancelled or terminated records nothing,
-- and neither does its log row survive, unless a worker wrote it.
CREATE TABLE soak.calls (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    status text,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE soak.runs (
    run_id bigint NOT NULL,
    kind text NOT NULL,
    returned_status text NOT NULL,
    call_id bigint NOT NULL);
CREATE FUNCTION soak.record(p_kind text, r jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
BEGIN
    INSERT INTO soak.calls (kind, status) VALUES (p_kind, r->>'status') RETURNING id INTO cid;
    -- A cascade's summary lists its runs; any other result has one run_id.
    INSERT INTO soak.runs (run_id, kind, returned_status, call_id)
    SELECT x::bigint,
           p_kind,
           CASE WHEN r ? 'runs' THEN (SELECT e->>'status' FROM jsonb_array_elements(r->'runs') e
                                      WHERE (e->>'run_id')::bigint = x::bigint)
                ELSE r->>'status' END,
           cid
    FROM jsonb_array_elements_text(coalesce(r->'run_ids', jsonb_build_array(r->'run_id'))) AS x;
END $$;
CREATE FUNCTION soak.called(p_kind text) RETURNS void LANGUAGE sql
AS $$ INSERT INTO soak.calls (kind) VALUES (p_kind) $$;

-- The killer: one pg_cancel_backend or pg_terminate_backend of an active
-- pgbench client or metrics_refresh worker, chosen at random, recorded.
CREATE TABLE soak.kills (
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    action text NOT NULL,
    target text NOT NULL,
    pid int NOT NULL,
    delivered boolean NOT NULL,
    query text);
-- A victim may exit between the choice and the signal; the WARNING "PID n
-- is not a PostgreSQL backend process" that the signal then raises is the
-- killer's own, so the function does not log it.
CREATE FUNCTION soak.kill_one(terminate_share float8) RETURNS text LANGUAGE plpgsql
SET log_min_messages = 'error' AS $$
DECLARE
    v record;
    want_worker boolean := random() < 0.5;
    act text := CASE WHEN random() < terminate_share THEN 'terminate' ELSE 'cancel' END;
    ok boolean;
BEGIN
    SELECT pid, CASE WHEN backend_type = 'metrics_refresh worker' THEN 'worker' ELSE 'client' END AS target,
           left(query, 80) AS query
    INTO v
    FROM pg_stat_activity
    WHERE pid <> pg_backend_pid() AND state = 'active'
      AND (backend_type = 'metrics_refresh worker' OR application_name = 'pgbench')
    ORDER BY (backend_type = 'metrics_refresh worker') <> want_worker, random()
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN 'nobody';
    END IF;
    ok := CASE act WHEN 'terminate' THEN pg_terminate_backend(v.pid) ELSE pg_cancel_backend(v.pid) END;
    INSERT INTO soak.kills (action, target, pid, delivered, query) VALUES (act, v.target, v.pid, ok, v.query);
    RETURN act || ' ' || v.target || ' ' || v.pid;
END $$;
