-- The database SQLsmith runs against (bench/sqlsmith): pg_cron and
-- metrics_refresh installed, a few materialized views in a graph with a
-- diamond (one that fails, one never populated, one without a unique
-- index, one with an odd name, one owned by the SQLsmith role), options and
-- a schedule, log rows of every status, and tables whose columns give
-- SQLsmith values of the extension's argument types (regclass, interval,
-- text, boolean, bigint, integer), odd ones included: the OID of a dropped
-- view, of a table, of the log itself, huge and negative intervals.
--
-- SQLsmith connects as regress_smith: not a superuser (so no random query
-- can write files on the server or signal other roles' processes), a
-- member of metrics_refresh_admin (the extension's admins, so that the
-- refreshing functions get past their access check) and of pg_monitor.
-- Every function keeps EXECUTE for PUBLIC, as the extension installs it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION metrics_refresh;
RESET client_min_messages;

CREATE ROLE metrics_refresh_admin;
CREATE ROLE regress_smith LOGIN IN ROLE metrics_refresh_admin, pg_monitor;
-- Random calls must not hang the run: SQLsmith counts a timeout as an error.
ALTER ROLE regress_smith SET statement_timeout = '2s';
ALTER ROLE regress_smith SET lock_timeout = '1s';
ALTER ROLE regress_smith SET metrics_refresh.lock_timeout = '1s';
ALTER ROLE regress_smith SET metrics_refresh.refresh_timeout = '2s';
-- Its sessions log errors, not WARNINGs: SQLsmith ends every query with a
-- ROLLBACK, most outside a transaction (a WARNING each), and random SQL
-- warns in many ways.  Deaths by a signal, PANICs and the errors that
-- bench/sqlsmith classifies are logged all the same.
ALTER ROLE regress_smith SET log_min_messages = 'error';

CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO PUBLIC;
-- pg_cron's tables are in information_schema.tables (PUBLIC may read its own
-- jobs); without the schema, every query that picks one fails at once.
GRANT USAGE ON SCHEMA cron TO regress_smith;
CREATE TABLE app.accounts (id int PRIMARY KEY, grp int NOT NULL, amount int NOT NULL);
INSERT INTO app.accounts SELECT g, g % 5, g % 31 FROM generate_series(1, 200) g;
CREATE TABLE app.events (id int PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL);
INSERT INTO app.events SELECT g, g % 200 + 1, 'k' || g % 3 FROM generate_series(1, 500) g;
GRANT SELECT ON app.accounts, app.events TO PUBLIC;

CREATE MATERIALIZED VIEW app.groups AS
SELECT grp, count(*) AS n, sum(amount) AS total FROM app.accounts GROUP BY grp;
CREATE UNIQUE INDEX ON app.groups (grp);
CREATE MATERIALIZED VIEW app.big AS SELECT grp, total FROM app.groups WHERE total > 100;
CREATE UNIQUE INDEX ON app.big (grp);
CREATE VIEW app.groups_v AS SELECT grp, n FROM app.groups;
CREATE MATERIALIZED VIEW app.ranked AS SELECT grp, rank() OVER (ORDER BY n, grp) AS r FROM app.groups_v;
CREATE UNIQUE INDEX ON app.ranked (grp);
CREATE MATERIALIZED VIEW app.summary AS
SELECT b.grp, b.total, r.r FROM app.big b JOIN app.ranked r USING (grp);
CREATE UNIQUE INDEX ON app.summary (grp);
CREATE MATERIALIZED VIEW app.kinds AS SELECT kind, count(*) AS n FROM app.events GROUP BY kind;
CREATE UNIQUE INDEX ON app.kinds (kind);
-- Fails when refreshed (division by zero once no account has grp 7).
CREATE MATERIALIZED VIEW app.fragile AS
SELECT 1 AS id, 1 / (SELECT count(*) FROM app.accounts WHERE grp = 7)::int AS x WITH NO DATA;
CREATE UNIQUE INDEX ON app.fragile (id);
CREATE MATERIALIZED VIEW app.unpopulated AS SELECT 1 AS id WITH NO DATA;
CREATE UNIQUE INDEX ON app.unpopulated (id);
CREATE MATERIALIZED VIEW app.noindex AS SELECT 1 AS id;
CREATE MATERIALIZED VIEW app."Odd ""name"" é" AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON app."Odd ""name"" é" (id);
CREATE MATERIALIZED VIEW app.smiths AS SELECT 1 AS id, count(*) AS n FROM app.accounts;
CREATE UNIQUE INDEX ON app.smiths (id);
ALTER MATERIALIZED VIEW app.smiths OWNER TO regress_smith;
CREATE MATERIALIZED VIEW app.doomed AS SELECT 1 AS id;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO PUBLIC;

-- Values of the extension's argument types for SQLsmith to pick from.
CREATE TABLE app.targets (v regclass);
INSERT INTO app.targets
SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'app';
INSERT INTO app.targets VALUES ('metrics_refresh_log'), ('pg_class'), (NULL);
INSERT INTO app.targets SELECT 'app.doomed'::regclass::oid::regclass;
DROP MATERIALIZED VIEW app.doomed;             -- its OID stays in app.targets
INSERT INTO app.targets VALUES ((4294967295)::oid::regclass), (0::oid::regclass);
CREATE TABLE app.windows (w interval);
INSERT INTO app.windows VALUES ('24 hours'), ('1 hour'), ('5 minutes'), ('0'), ('-1 hour'),
    ('1 month'), ('1000000 years'), ('-1000000 years'), ('1 microsecond'), ('178000000 years'),
    ('1 day -1 hour'), (NULL);
CREATE TABLE app.words (t text, b boolean, n bigint, i int);
INSERT INTO app.words VALUES ('manual', true, 1, 1), ('scheduled', false, 0, 0), ('cascade', NULL, -1, -1),
    ('', true, 9223372036854775807, 2147483647), ('*/5 * * * *', false, NULL, NULL),
    ('* * * * *', true, 42, 50), ('not a schedule', NULL, -9223372036854775808, -2147483648),
    ('public.is_super_admin', true, 3, 10000), (repeat('x', 100), false, 7, 3), (NULL, NULL, NULL, NULL);
GRANT SELECT ON app.targets, app.windows, app.words TO PUBLIC;
-- Parameterless functions that hand out those values in turn: SQLsmith
-- fills an argument with a call of a function without parameters two
-- times in three, so these put the views (and the odd OIDs, intervals and
-- words) into the extension's arguments.  A sequence picks the row, so
-- that a run is repeatable.
CREATE SEQUENCE app.turn;
GRANT USAGE ON SEQUENCE app.turn TO PUBLIC;
CREATE FUNCTION app.any_view() RETURNS regclass LANGUAGE sql VOLATILE
AS $$ SELECT v FROM app.targets ORDER BY v NULLS FIRST
      OFFSET nextval('app.turn') % (SELECT count(*) FROM app.targets) LIMIT 1 $$;
CREATE FUNCTION app.any_window() RETURNS interval LANGUAGE sql VOLATILE
AS $$ SELECT w FROM app.windows ORDER BY w NULLS FIRST
      OFFSET nextval('app.turn') % (SELECT count(*) FROM app.windows) LIMIT 1 $$;
CREATE FUNCTION app.any_text() RETURNS text LANGUAGE sql VOLATILE
AS $$ SELECT t FROM app.words ORDER BY t NULLS FIRST
      OFFSET nextval('app.turn') % (SELECT count(*) FROM app.words) LIMIT 1 $$;
CREATE FUNCTION app.any_flag() RETURNS boolean LANGUAGE sql VOLATILE
AS $$ SELECT b FROM app.words ORDER BY t NULLS FIRST
      OFFSET nextval('app.turn') % (SELECT count(*) FROM app.words) LIMIT 1 $$;
CREATE FUNCTION app.any_int() RETURNS integer LANGUAGE sql VOLATILE
AS $$ SELECT i FROM app.words ORDER BY t NULLS FIRST
      OFFSET nextval('app.turn') % (SELECT count(*) FROM app.words) LIMIT 1 $$;
CREATE FUNCTION app.any_bigint() RETURNS bigint LANGUAGE sql VOLATILE
AS $$ SELECT n FROM app.words ORDER BY t NULLS FIRST
      OFFSET nextval('app.turn') % (SELECT count(*) FROM app.words) LIMIT 1 $$;
-- Random writes to the views' sources go through the change tracking.
GRANT INSERT, UPDATE, DELETE ON app.accounts, app.events, app.targets, app.windows, app.words
    TO regress_smith;

-- Options, a schedule, and log rows of every status.
SELECT metrics_refresh_configure('app.groups', skip_unchanged => true, "cascade" => true) IS NOT NULL;
SELECT metrics_refresh_configure('app.summary', skip_unchanged => true) IS NOT NULL;
SELECT metrics_refresh_configure('app.kinds', max_skip => '1 hour', stale_after => '30 minutes') IS NOT NULL;
SELECT metrics_refresh_schedule('app.kinds', '*/5 * * * *') IS NOT NULL;
SELECT metrics_refresh_schedule('app.groups', '0 3 * * *', '2 days') IS NOT NULL;
SELECT metrics_refresh_run('app.groups') IS NOT NULL;      -- a cascade (option), then unchanged
SELECT metrics_refresh_run('app.groups') IS NOT NULL;
SELECT metrics_refresh_run('app.kinds', 'scheduled') IS NOT NULL;
SELECT metrics_refresh_run('app.fragile') IS NOT NULL;     -- an error
SELECT metrics_refresh_run('app.noindex') IS NOT NULL;     -- an error (55000)
SELECT metrics_refresh_run('app.unpopulated') IS NOT NULL; -- full
SELECT metrics_refresh_trigger('app."Odd ""name"" é"', wait => false) IS NOT NULL;

-- Focus.  SQLsmith reads the routines it may call from "pg_proc", a name it
-- does not qualify: regress_smith's search_path puts smith_focus first, whose
-- pg_proc is the catalog's restricted to the extension's functions, the
-- app.any_* functions above, and the built-in functions that make values of
-- the extension's argument types (regclass and interval) out of simple
-- ones, instead of all 3,000
-- built-ins, of which the extension's would be 2%.  bench/sqlsmith
-- --unfocused drops this schema.
CREATE SCHEMA smith_focus;
GRANT USAGE ON SCHEMA smith_focus TO PUBLIC;
CREATE VIEW smith_focus.pg_proc AS
SELECT p.* FROM pg_catalog.pg_proc p
WHERE p.oid IN (SELECT d.objid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
                  AND e.extname = 'metrics_refresh')
   OR p.pronamespace = 'app'::regnamespace
   OR (p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND NOT p.proretset
       AND p.prorettype IN ('regclass'::regtype, 'interval'::regtype)
       AND p.proargtypes::oid[] <@ ARRAY['regclass', 'interval', 'text', 'boolean', 'integer',
                                         'bigint', 'timestamptz', 'oid', 'double precision']::regtype[]::oid[])
OFFSET 0;    -- not updatable, so that SQLsmith does not pick it for its writes
GRANT SELECT ON smith_focus.pg_proc TO PUBLIC;
ALTER ROLE regress_smith SET search_path = smith_focus, pg_catalog, public;
