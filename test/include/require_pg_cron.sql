\set ECHO none
-- For the tests that need pg_cron: creates it in this database (if it is not
-- there yet) when the server can run it here, that is when pg_cron is in
-- shared_preload_libraries and cron.database_name names this database.
-- Otherwise it prints "skipped: pg_cron is not available in this database"
-- and sets :skip_test, and the test ends itself (its expected/NAME_1.out):
--   \getenv abs_srcdir PG_ABS_SRCDIR
--   \i :abs_srcdir/include/require_pg_cron.sql
--   \if :skip_test
--   \quit
--   \endif
-- (\quit in this file would end this file only.)  Echo is off while this
-- file is read, as in regress_try.sql.
SELECT NOT (
    EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'pg_cron')
    AND 'pg_cron' = ANY (SELECT pg_catalog.btrim(lib, ' "')
                         FROM pg_catalog.unnest(pg_catalog.string_to_array(
                                  pg_catalog.current_setting('shared_preload_libraries'), ',')) AS lib)
    AND pg_catalog.current_setting('cron.database_name', true) = pg_catalog.current_database()
) AS skip_test \gset
\if :skip_test
\echo skipped: pg_cron is not available in this database
\else
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
\endif
\set ECHO all
