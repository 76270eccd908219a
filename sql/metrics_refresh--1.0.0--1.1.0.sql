-- metrics_refresh 1.0.0 -> 1.1.0.  Brings a 1.0.0 database to exactly what a
-- fresh 1.1.0 install (sql/metrics_refresh.sql) has; the test "upgrade"
-- compares the two catalogs object by object.

\echo Use "ALTER EXTENSION metrics_refresh UPDATE TO '1.1.0'" to load this file. \quit

-- Subtransactions cannot start during a parallel operation, and the admin
-- check runs the admin_check function in one.
ALTER FUNCTION @extschema@.metrics_refresh_is_admin() PARALLEL UNSAFE;

-- Every command that can rename or move a materialized view.
DROP EVENT TRIGGER metrics_refresh_after_rename;
CREATE EVENT TRIGGER metrics_refresh_after_rename ON ddl_command_end
    WHEN TAG IN ('ALTER MATERIALIZED VIEW', 'ALTER TABLE', 'ALTER INDEX',
                 'ALTER SCHEMA', 'ALTER EXTENSION')
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_sweep();

-- Dropping the extension removes its pg_cron jobs first.
CREATE FUNCTION @extschema@.metrics_refresh_ddl_before_drop()
RETURNS event_trigger
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_refresh_ddl_before_drop';

COMMENT ON FUNCTION @extschema@.metrics_refresh_ddl_before_drop() IS
    'Event trigger: before the extension is dropped, remove the pg_cron jobs of its scheduled views';

CREATE EVENT TRIGGER metrics_refresh_before_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION @extschema@.metrics_refresh_ddl_before_drop();
