-- skip_unchanged refuses what it cannot track, clearly, and changes
-- nothing when it refuses: a view reading a foreign table, a catalog, a
-- sequence, or calling a function whose result can change while no table
-- does (55000, the detail naming each thing, a hint); a caller without the
-- TRIGGER privilege on a table the view reads (42501 naming the table).
-- Current-time functions are accepted, with a NOTICE.  A view that becomes
-- untrackable after the option was turned on is refreshed every time, with
-- a WARNING.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;
CREATE EXTENSION file_fdw;
CREATE SCHEMA tr;
CREATE SERVER tr_files FOREIGN DATA WRAPPER file_fdw;
CREATE TABLE tr.items (id int PRIMARY KEY, price numeric NOT NULL, added date NOT NULL DEFAULT '2024-01-01');
INSERT INTO tr.items VALUES (1, 10), (2, 20);
CREATE FOREIGN TABLE tr.feed (id int, price numeric) SERVER tr_files
    OPTIONS (filename '/dev/null', format 'csv');
CREATE SEQUENCE tr.seq;
CREATE FUNCTION tr.rate() RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT 1.2 $$;
CREATE FUNCTION tr.noise() RETURNS numeric LANGUAGE sql VOLATILE AS $$ SELECT 0 $$;
CREATE FUNCTION tr.twice(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT $1 * 2 $$;

-- What is tracked, what is not: nothing is left behind by a refusal.
CREATE VIEW tr.state AS
SELECT (SELECT string_agg(tgrelid::regclass::text, ', ' ORDER BY tgrelid::regclass::text)
        FROM pg_trigger WHERE tgname = 'metrics_refresh_track') AS triggers,
       (SELECT count(*) FROM metrics_refresh_tracking) AS tracked,
       (SELECT count(*) FROM metrics_refresh_sources) AS sources,
       (SELECT string_agg(view_name || ': ' || skip_unchanged, ', ' ORDER BY view_name)
        FROM metrics_refresh_config) AS options;

-- A foreign table, also through a plain view.
CREATE VIEW tr.all_prices AS SELECT id, price FROM tr.items UNION ALL SELECT id, price FROM tr.feed;
CREATE MATERIALIZED VIEW tr.with_feed AS SELECT id, sum(price) AS price FROM tr.all_prices GROUP BY id;
CREATE UNIQUE INDEX ON tr.with_feed (id);
SELECT metrics_refresh_configure('tr.with_feed', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
-- A catalog, and a catalog view.
CREATE MATERIALIZED VIEW tr.with_catalog AS
SELECT c.relname, (SELECT count(*) FROM information_schema.tables t WHERE t.table_name = c.relname) AS n
FROM pg_class c WHERE c.relname = 'items';
CREATE UNIQUE INDEX ON tr.with_catalog (relname);
SELECT metrics_refresh_configure('tr.with_catalog', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
-- User functions that are STABLE or VOLATILE (an IMMUTABLE one is fine),
-- built-in ones that are not IMMUTABLE, a sequence, the current user, a
-- sample: each is named.
CREATE MATERIALIZED VIEW tr.with_functions AS
SELECT id, tr.twice(price) * tr.rate() + tr.noise() AS price,
       current_setting('TimeZone') AS tz, random() < 2 AS r,
       (SELECT last_value FROM tr.seq) AS seq, current_user AS who
FROM tr.items TABLESAMPLE SYSTEM (100);
CREATE UNIQUE INDEX ON tr.with_functions (id);
SELECT metrics_refresh_configure('tr.with_functions', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
-- A foreign table as a partition.
CREATE TABLE tr.parts (id int, price numeric) PARTITION BY RANGE (id);
CREATE TABLE tr.parts_1 PARTITION OF tr.parts FOR VALUES FROM (0) TO (100);
CREATE FOREIGN TABLE tr.parts_2 PARTITION OF tr.parts FOR VALUES FROM (100) TO (200)
    SERVER tr_files OPTIONS (filename '/dev/null', format 'csv');
CREATE MATERIALIZED VIEW tr.part_total AS SELECT 1 AS id, sum(price) AS total FROM tr.parts;
CREATE UNIQUE INDEX ON tr.part_total (id);
SELECT metrics_refresh_configure('tr.part_total', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM tr.state;
-- The other options can still be set: the view's row says skip_unchanged false.
SELECT metrics_refresh_configure('tr.part_total', max_skip => '2 hours', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('tr.part_total', max_skip => '2 hours')->>'skip_unchanged' AS skip_unchanged;
SELECT * FROM tr.state;

-- The clock: accepted, with a NOTICE saying what it means.
CREATE MATERIALIZED VIEW tr.recent AS
SELECT id, price, added > current_date - 30 AS recent, now() - added::timestamptz AS age
FROM tr.items;
CREATE UNIQUE INDEX ON tr.recent (id);
SELECT metrics_refresh_configure('tr.recent', skip_unchanged => true)->'sources' AS sources;
SELECT metrics_refresh_run('tr.recent')->>'status' AS first_run;
SELECT metrics_refresh_run('tr.recent')->>'status' AS nothing_changed;
-- Built-in date/time functions that follow TimeZone only are accepted
-- silently.
CREATE MATERIALIZED VIEW tr.by_day AS
SELECT date_trunc('day', added::timestamptz) AS day, count(*) AS n FROM tr.items GROUP BY 1;
CREATE UNIQUE INDEX ON tr.by_day (day);
SELECT metrics_refresh_configure('tr.by_day', skip_unchanged => true)->'sources' AS sources;

-- A tracked view that starts to read what cannot be tracked: runs refresh
-- every time, with a WARNING, and turning the option on again is refused.
CREATE VIEW tr.item_prices AS SELECT id, price FROM tr.items;
CREATE MATERIALIZED VIEW tr.prices AS SELECT id, price FROM tr.item_prices;
CREATE UNIQUE INDEX ON tr.prices (id);
SELECT metrics_refresh_configure('tr.prices', skip_unchanged => true)->'sources' AS sources;
SELECT metrics_refresh_run('tr.prices')->>'status' AS first_run;
SELECT metrics_refresh_run('tr.prices')->>'status' AS nothing_changed;
CREATE OR REPLACE VIEW tr.item_prices AS SELECT id, price * tr.rate() AS price FROM tr.items;
SELECT metrics_refresh_run('tr.prices')->>'status' AS after_replace;
SELECT metrics_refresh_run('tr.prices')->>'status' AS nothing_changed;
SELECT metrics_refresh_configure('tr.prices', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_refresh_configure('tr.prices', skip_unchanged => false)->>'skip_unchanged' AS skip_unchanged;
-- A foreign table attached as a partition of a tracked table: the ATTACH
-- works; the view is refreshed every time, with a WARNING.
CREATE TABLE tr.parts2 (id int, price numeric) PARTITION BY RANGE (id);
CREATE TABLE tr.parts2_1 PARTITION OF tr.parts2 FOR VALUES FROM (0) TO (100);
CREATE MATERIALIZED VIEW tr.part2_total AS SELECT 1 AS id, sum(price) AS total FROM tr.parts2;
CREATE UNIQUE INDEX ON tr.part2_total (id);
SELECT metrics_refresh_configure('tr.part2_total', skip_unchanged => true)->'sources' AS sources;
SELECT metrics_refresh_run('tr.part2_total')->>'status' AS first_run;
CREATE FOREIGN TABLE tr.parts2_2 (id int, price numeric)
    SERVER tr_files OPTIONS (filename '/dev/null', format 'csv');
ALTER TABLE tr.parts2 ATTACH PARTITION tr.parts2_2 FOR VALUES FROM (100) TO (200);
SELECT metrics_refresh_run('tr.part2_total')->>'status' AS after_attach;
SELECT metrics_refresh_run('tr.part2_total')->>'status' AS nothing_changed;
ALTER TABLE tr.parts2 DETACH PARTITION tr.parts2_2;
SELECT metrics_refresh_run('tr.part2_total')->>'status' AS after_detach;
SELECT metrics_refresh_run('tr.part2_total')->>'status' AS nothing_changed;

-- Privileges.  An admin who is not a superuser needs the TRIGGER
-- privilege on every table the view reads (owning it gives it); a
-- materialized view it reads needs none.  Anyone else may not configure.
CREATE ROLE regress_trk_admins;
CREATE ROLE regress_trk_admin IN ROLE regress_trk_admins;
CREATE ROLE regress_trk_owner;
CREATE ROLE regress_trk_plain;
SET metrics_refresh.admin_role = 'regress_trk_admins';
GRANT USAGE ON SCHEMA tr TO regress_trk_admin, regress_trk_plain;
CREATE TABLE tr.orders (id int PRIMARY KEY, item int NOT NULL);
ALTER TABLE tr.orders OWNER TO regress_trk_owner;
CREATE MATERIALIZED VIEW tr.order_items AS
SELECT o.id, i.price FROM tr.orders o JOIN tr.items i ON i.id = o.item;
CREATE UNIQUE INDEX ON tr.order_items (id);
CREATE MATERIALIZED VIEW tr.order_count AS SELECT 1 AS id, count(*) AS n FROM tr.order_items;
CREATE UNIQUE INDEX ON tr.order_count (id);
SET ROLE regress_trk_plain;
SELECT metrics_refresh_configure('tr.order_items', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_trk_admin;
SELECT metrics_refresh_configure('tr.order_items', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT TRIGGER ON tr.items TO regress_trk_admin;
SET ROLE regress_trk_admin;
SELECT metrics_refresh_configure('tr.order_items', skip_unchanged => true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT * FROM tr.state;
GRANT TRIGGER ON tr.orders TO regress_trk_admin;
SET ROLE regress_trk_admin;
SELECT metrics_refresh_configure('tr.order_items', skip_unchanged => true)->'sources' AS sources;
SELECT metrics_refresh_configure('tr.order_count', skip_unchanged => true)->'sources' AS sources;
-- Turning it off needs nothing more.
RESET ROLE;
REVOKE TRIGGER ON tr.orders, tr.items FROM regress_trk_admin;
SET ROLE regress_trk_admin;
SELECT metrics_refresh_configure('tr.order_items', skip_unchanged => false)->>'skip_unchanged' AS skip_unchanged;
RESET ROLE;
SELECT * FROM tr.state;
RESET metrics_refresh.admin_role;

SET client_min_messages = warning;
DROP SCHEMA tr CASCADE;
RESET client_min_messages;
DROP EXTENSION metrics_refresh;
SET client_min_messages = warning;
DROP SERVER tr_files;
RESET client_min_messages;
DROP EXTENSION file_fdw;
DROP ROLE regress_trk_admin, regress_trk_admins, regress_trk_owner, regress_trk_plain;
