-- metrics_refresh_graph(view DEFAULT NULL) (DESIGN.md, "Cascade"): the
-- dependency edges between materialized views, through plain views, of one
-- view's connected part or of all views; level 0 for views that read no
-- other materialized view, else one more than their highest source; one row
-- with depends_on NULL for a view without sources; ordered by level, view,
-- source.  Monitoring access rule.  Objects start with gr_, roles with
-- regress_gr_.
CREATE EXTENSION metrics_refresh;

CREATE ROLE regress_gr_admins NOLOGIN;
CREATE ROLE regress_gr_admin LOGIN IN ROLE regress_gr_admins;
CREATE ROLE regress_gr_watcher LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_gr_stats LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE regress_gr_plain LOGIN;
SET metrics_refresh.admin_role = 'regress_gr_admins';

CREATE TABLE gr_t (id int PRIMARY KEY);
INSERT INTO gr_t VALUES (1);
CREATE SCHEMA "gr s";

-- gr_base <- gr_v1 <- gr_v2 (plain views) <- gr_mid <- gr_top, which also
-- reads gr_base directly; gr_two reads gr_base and gr_other through one
-- plain view; "gr s"."GR Odd" reads gr_top.
CREATE MATERIALIZED VIEW gr_base AS SELECT id FROM gr_t;
CREATE VIEW gr_v1 AS SELECT id FROM gr_base;
CREATE VIEW gr_v2 AS SELECT id FROM gr_v1;
CREATE MATERIALIZED VIEW gr_mid AS SELECT id FROM gr_v2;
CREATE MATERIALIZED VIEW gr_top AS
    SELECT m.id FROM gr_mid m WHERE EXISTS (SELECT FROM gr_base b WHERE b.id = m.id);
CREATE MATERIALIZED VIEW gr_other AS SELECT id FROM gr_t;
CREATE VIEW gr_pair AS SELECT b.id FROM gr_base b JOIN gr_other o USING (id);
CREATE MATERIALIZED VIEW gr_two AS SELECT id FROM gr_pair;
CREATE MATERIALIZED VIEW "gr s"."GR Odd" AS SELECT id FROM gr_top;
-- A view of its own: it reads a table through a plain view only.
CREATE VIEW gr_tv AS SELECT id FROM gr_t;
CREATE MATERIALIZED VIEW gr_alone AS SELECT id FROM gr_tv;
-- Another connected part.
CREATE MATERIALIZED VIEW gr_island1 AS SELECT id FROM gr_t;
CREATE MATERIALIZED VIEW gr_island2 AS SELECT id FROM gr_island1;
-- A plain view's INSERT rule that reads gr_base is not what the view reads:
-- gr_ruled reads no materialized view.
CREATE TABLE gr_sink (id int);
CREATE VIEW gr_rv AS SELECT 1 AS id;
CREATE RULE gr_rv_insert AS ON INSERT TO gr_rv DO INSTEAD INSERT INTO gr_sink SELECT id FROM gr_base;
CREATE MATERIALIZED VIEW gr_ruled AS SELECT id FROM gr_rv;

-- All views (this test's only: other tests' views may exist).
SELECT * FROM metrics_refresh_graph()
WHERE view_name LIKE 'public.gr\_%' OR view_name LIKE '"gr s".%';
-- NULL is all views too.
SELECT count(*) = (SELECT count(*) FROM metrics_refresh_graph()) AS null_is_all
FROM metrics_refresh_graph(NULL);
-- Every materialized view (outside pg_catalog) has at least one row; each
-- view_name and depends_on finds its view again.
SELECT count(*) AS matviews_without_rows FROM pg_matviews m
WHERE NOT EXISTS (SELECT FROM metrics_refresh_graph() g WHERE g.view_name::regclass = format('%I.%I', m.schemaname, m.matviewname)::regclass);
SELECT bool_and(depends_on::regclass IS NOT NULL) AS sources_found
FROM metrics_refresh_graph() WHERE depends_on IS NOT NULL;

-- One view's connected part: its sources, their other dependents, its
-- dependents, transitively; the same from any of its members.
SELECT * FROM metrics_refresh_graph('gr_mid');
SELECT array_agg(DISTINCT v ORDER BY v) AS members
FROM (SELECT view_name AS v FROM metrics_refresh_graph('"gr s"."GR Odd"')
      UNION SELECT depends_on FROM metrics_refresh_graph('"gr s"."GR Odd"') WHERE depends_on IS NOT NULL) m;
SELECT (SELECT array_agg(g ORDER BY g::text) FROM metrics_refresh_graph('gr_other') g)
     = (SELECT array_agg(g ORDER BY g::text) FROM metrics_refresh_graph('gr_mid') g) AS same_part;
SELECT * FROM metrics_refresh_graph('gr_island2');
-- No materialized view neighbours: one row.
SELECT * FROM metrics_refresh_graph('gr_alone');
SELECT * FROM metrics_refresh_graph('gr_ruled');

-- The graph follows DDL: the plain view under gr_mid now reads gr_other,
-- and gr_top is re-created to read gr_two.
CREATE OR REPLACE VIEW gr_v2 AS SELECT id FROM gr_other;
DROP MATERIALIZED VIEW gr_top CASCADE;
CREATE MATERIALIZED VIEW gr_top AS SELECT id FROM gr_two;
SELECT * FROM metrics_refresh_graph('gr_top');

-- Access: monitors (admins, pg_monitor, pg_read_all_stats) may read it;
-- anyone else gets 42501.  Bad input: not a materialized view (42809).
SET ROLE regress_gr_admin;
SELECT count(*) AS admin_rows FROM metrics_refresh_graph('gr_mid');
SET ROLE regress_gr_watcher;
SELECT count(*) AS watcher_rows FROM metrics_refresh_graph('gr_mid');
SET ROLE regress_gr_stats;
SELECT count(*) AS stats_rows FROM metrics_refresh_graph('gr_mid');
SET ROLE regress_gr_plain;
SELECT * FROM metrics_refresh_graph('gr_mid');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_graph();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT * FROM metrics_refresh_graph('gr_t');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_refresh_graph('gr_v1');
\echo :LAST_ERROR_SQLSTATE

DROP EXTENSION metrics_refresh;
SET client_min_messages = warning;
DROP MATERIALIZED VIEW gr_base, gr_other, gr_island1, gr_alone, gr_ruled CASCADE;
DROP VIEW gr_tv, gr_rv;
DROP TABLE gr_t, gr_sink;
DROP SCHEMA "gr s";
RESET client_min_messages;
RESET metrics_refresh.admin_role;
DROP ROLE regress_gr_admin, regress_gr_admins, regress_gr_watcher, regress_gr_stats, regress_gr_plain;
