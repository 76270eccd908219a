-- Needs PostgreSQL 17 or later.  (tools/test reads that line: the test is
-- not run on older servers, which have no MAINTAIN privilege.)
--
-- PostgreSQL 17's MAINTAIN privilege: a role granted MAINTAIN on a view may
-- refresh it with metrics_refresh_run, as its owner may; the rights the
-- refresh runs with stay the owner's.
CREATE EXTENSION metrics_refresh;
CREATE ROLE regress_mnt_owner;
CREATE ROLE regress_mnt_maintainer;
CREATE ROLE regress_mnt_plain;
CREATE TABLE mnt_src (id int PRIMARY KEY);
INSERT INTO mnt_src VALUES (1), (2);
ALTER TABLE mnt_src OWNER TO regress_mnt_owner;
CREATE MATERIALIZED VIEW mnt_v AS SELECT id, current_user AS refreshed_as FROM mnt_src;
CREATE UNIQUE INDEX ON mnt_v (id);
ALTER MATERIALIZED VIEW mnt_v OWNER TO regress_mnt_owner;
GRANT MAINTAIN ON mnt_v TO regress_mnt_maintainer;
-- The maintainer may refresh; the refresh runs as the owner, the log
-- records the maintainer.
SET ROLE regress_mnt_maintainer;
SELECT r->>'status' AS status, r->>'triggered_by' AS triggered_by
FROM (SELECT metrics_refresh_run('mnt_v') AS r) s;
RESET ROLE;
SELECT DISTINCT refreshed_as FROM mnt_v;
-- MAINTAIN is not admin: Refresh Now and scheduling stay admins' only.
SET ROLE regress_mnt_maintainer;
SELECT metrics_refresh_trigger('mnt_v');
\echo :LAST_ERROR_SQLSTATE
-- A role without MAINTAIN may not refresh.
SET ROLE regress_mnt_plain;
SELECT metrics_refresh_run('mnt_v');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT status, triggered_by FROM metrics_refresh_log ORDER BY id;
DROP EXTENSION metrics_refresh;
DROP MATERIALIZED VIEW mnt_v;
DROP TABLE mnt_src;
DROP ROLE regress_mnt_owner, regress_mnt_maintainer, regress_mnt_plain;
