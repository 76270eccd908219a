-- The install script: objects, comments, and what PUBLIC may touch.
CREATE EXTENSION metrics_refresh;

-- Every function states volatility, strictness and parallel safety, and has a comment.
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel, p.prosecdef,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'metrics_refresh'
ORDER BY p.proname;

-- No function is SECURITY DEFINER; C functions carry no SET clauses.
SELECT count(*) AS definer_functions
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'metrics_refresh'
WHERE p.prosecdef;

-- PUBLIC has no privilege on the tables.
SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS public_write
FROM pg_class c
WHERE c.relname IN ('metrics_refresh_log', 'metrics_refresh_config', 'metrics_refresh_overview')
ORDER BY c.relname;

-- pg_dump keeps the log and the configuration.
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'metrics_refresh' ORDER BY 1;

-- The loaded library reports the version of the control file.
SELECT metrics_refresh_version() = extversion AS version_matches
FROM pg_extension WHERE extname = 'metrics_refresh';

-- Settings exist with their documented defaults.
SELECT name, setting, unit, context FROM pg_settings
WHERE name LIKE 'metrics\_refresh.%' ORDER BY name;

-- The prefix is reserved: a misspelt setting is refused.
SET metrics_refresh.lock_timeot = '1s';

-- A session remembers where the extension's pg_extension row is: a row
-- moved (VACUUM FULL) or replaced (DROP and CREATE in another schema) is
-- found again, and a renamed schema is followed.  Each run below logs into
-- the schema the extension is in at that moment.
CREATE TABLE inst_src (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW inst_mv AS SELECT id FROM inst_src;
CREATE UNIQUE INDEX ON inst_mv (id);
SELECT metrics_refresh_run('inst_mv')->>'status' AS first_run;
VACUUM FULL pg_extension;
SELECT metrics_refresh_run('inst_mv')->>'status' AS after_vacuum_full;
SELECT count(*) AS logged_in_public FROM public.metrics_refresh_log;
DROP EXTENSION metrics_refresh;
CREATE SCHEMA inst_other;
CREATE EXTENSION metrics_refresh SCHEMA inst_other;
SELECT inst_other.metrics_refresh_run('inst_mv')->>'status' AS in_other_schema;
SELECT count(*) AS logged_in_other FROM inst_other.metrics_refresh_log;
ALTER SCHEMA inst_other RENAME TO inst_renamed;
SELECT inst_renamed.metrics_refresh_run('inst_mv')->>'status' AS after_schema_rename;
SELECT count(*) AS logged_after_rename FROM inst_renamed.metrics_refresh_log;
DROP EXTENSION metrics_refresh;
DROP SCHEMA inst_renamed;
CREATE EXTENSION metrics_refresh;
SELECT metrics_refresh_run('inst_mv')->>'status' AS back_in_public;
-- A changed row (here by hand, as ALTER EXTENSION ... UPDATE would) is
-- read again: with version 1.0.0's objects the statistics are refused.
BEGIN;
UPDATE pg_extension SET extversion = '1.0.0' WHERE extname = 'metrics_refresh';
SELECT count(*) FROM metrics_refresh_stats;
ROLLBACK;
SELECT count(*) AS stats_rows_again FROM metrics_refresh_stats;
DROP MATERIALIZED VIEW inst_mv;
DROP TABLE inst_src;

DROP EXTENSION metrics_refresh;

-- Default privileges (Supabase sets such on schema public) give the
-- extension's objects to nobody: a fresh install, and an update from 1.0.0
-- (whose install took them), leave the owner's privileges and PUBLIC's
-- intended ones only.
CREATE ROLE regress_inst_anon;
CREATE SCHEMA inst_dp;
GRANT USAGE ON SCHEMA inst_dp TO regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp GRANT ALL ON TABLES TO regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp GRANT ALL ON SEQUENCES TO regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp GRANT ALL ON FUNCTIONS TO regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp GRANT ALL ON TYPES TO regress_inst_anon;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE USAGE ON TYPES FROM PUBLIC;
CREATE FUNCTION inst_acl_summary() RETURNS TABLE (granted_to_anon bigint, public_cannot_run text)
LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE acl::text LIKE '%regress_inst_anon%'),
           string_agg(name, ', ' ORDER BY name) FILTER (WHERE kind = 'f'
               AND NOT has_function_privilege('public', oid, 'EXECUTE'))
    FROM (SELECT c.relacl AS acl, 'r' AS kind, c.oid, c.relname::text AS name
          FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
          WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'metrics_refresh')
          UNION ALL
          SELECT p.proacl, 'f', p.oid, p.proname::text
          FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
          WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'metrics_refresh')
          UNION ALL
          SELECT t.typacl, 't', t.oid, t.typname::text
          FROM pg_type t JOIN pg_depend d ON d.objid = t.oid AND d.classid = 'pg_type'::regclass
          WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'metrics_refresh')) o
$$;
CREATE EXTENSION metrics_refresh SCHEMA inst_dp;
SELECT * FROM inst_acl_summary();
SELECT count(*) FILTER (WHERE t.typname = 'metrics_refresh_log_status') AS status_type,
       count(*) FILTER (WHERE NOT has_type_privilege('public', t.oid, 'USAGE')) AS public_may_not_use
FROM pg_type t JOIN pg_depend d ON d.objid = t.oid AND d.classid = 'pg_type'::regclass
WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'metrics_refresh');
SET ROLE regress_inst_anon;
SELECT count(*) FROM inst_dp.metrics_refresh_log;
SELECT inst_dp.metrics_refresh_is_admin() AS anon_is_admin;
RESET ROLE;
DROP EXTENSION metrics_refresh;
CREATE EXTENSION metrics_refresh SCHEMA inst_dp VERSION '1.0.0';
SELECT granted_to_anon > 0 AS granted_by_1_0_0 FROM inst_acl_summary();
-- Grants made after installing go too, with those made from them, and
-- column grants: a grant option passed on, and a column of the log.
CREATE ROLE regress_inst_other;
GRANT SELECT ON inst_dp.metrics_refresh_log TO regress_inst_anon WITH GRANT OPTION;
SET ROLE regress_inst_anon;
GRANT SELECT ON inst_dp.metrics_refresh_log TO regress_inst_other;
RESET ROLE;
GRANT SELECT (error_message) ON inst_dp.metrics_refresh_log TO regress_inst_other;
GRANT UPDATE (schedule) ON inst_dp.metrics_refresh_config TO regress_inst_other;
-- PUBLIC's EXECUTE, granted only from a grant option, comes back as the
-- owner's once that option is revoked.
REVOKE EXECUTE ON FUNCTION inst_dp.metrics_refresh_run(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION inst_dp.metrics_refresh_run(regclass, text) TO regress_inst_anon WITH GRANT OPTION;
SET ROLE regress_inst_anon;
GRANT EXECUTE ON FUNCTION inst_dp.metrics_refresh_run(regclass, text) TO PUBLIC;
RESET ROLE;
-- A function named like the extension's, made in its schema before the
-- update, is refused there too.
CREATE FUNCTION inst_dp.metrics_refresh_stats(text) RETURNS int LANGUAGE sql AS 'SELECT 1';
\set SHOW_CONTEXT never
ALTER EXTENSION metrics_refresh UPDATE;
\set SHOW_CONTEXT errors
DROP FUNCTION inst_dp.metrics_refresh_stats(text);
-- A built-in aggregate's name made in the schema (count(float8) matches
-- the views' count(duration_ms) better than count("any")) is not chosen:
-- the views name pg_catalog's.
CREATE FUNCTION inst_dp.inst_count_sfunc(bigint, float8) RETURNS bigint
LANGUAGE sql AS 'SELECT $1 + 1000';
CREATE AGGREGATE inst_dp.count(float8) (SFUNC = inst_dp.inst_count_sfunc, STYPE = bigint, INITCOND = '0');
ALTER EXTENSION metrics_refresh UPDATE;
SELECT * FROM inst_acl_summary();
SELECT count(*) AS column_grants_left
FROM pg_attribute WHERE attrelid IN ('inst_dp.metrics_refresh_log'::regclass, 'inst_dp.metrics_refresh_config'::regclass)
  AND attacl IS NOT NULL;
SELECT count(*) AS views_on_planted_count
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
WHERE d.refobjid = 'inst_dp.count(float8)'::regprocedure;
DROP EXTENSION metrics_refresh;
DROP AGGREGATE inst_dp.count(float8);
DROP FUNCTION inst_dp.inst_count_sfunc(bigint, float8);
DROP ROLE regress_inst_other;
ALTER DEFAULT PRIVILEGES GRANT USAGE ON TYPES TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp REVOKE ALL ON TABLES FROM regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp REVOKE ALL ON SEQUENCES FROM regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp REVOKE ALL ON FUNCTIONS FROM regress_inst_anon;
ALTER DEFAULT PRIVILEGES IN SCHEMA inst_dp REVOKE ALL ON TYPES FROM regress_inst_anon;
DROP FUNCTION inst_acl_summary();
REVOKE USAGE ON SCHEMA inst_dp FROM regress_inst_anon;
DROP SCHEMA inst_dp;
DROP ROLE regress_inst_anon;

-- A schema that already holds a function named like the extension's is
-- refused: the views would call it (here, with a text argument, instead of
-- metrics_refresh_status_all(interval)) as whoever reads them.
CREATE FUNCTION public.metrics_refresh_status_all(text) RETURNS SETOF record
LANGUAGE sql AS 'SELECT NULL::record WHERE false';
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;
\set SHOW_CONTEXT errors
DROP FUNCTION public.metrics_refresh_status_all(text);
CREATE EXTENSION metrics_refresh;
SELECT count(*) AS overview_calls_ours
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
WHERE r.ev_class = 'metrics_refresh_overview'::regclass
  AND d.refobjid = 'metrics_refresh_status_all(interval)'::regprocedure;
DROP EXTENSION metrics_refresh;
