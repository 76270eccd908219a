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

DROP EXTENSION metrics_refresh;
