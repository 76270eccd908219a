\set ECHO none
-- regress_try(stmt, show_result): the one error-catching helper of the
-- regression tests, for the few places where an error must not abort the
-- enclosing transaction block or query (a matrix of calls made by one
-- query, a read-only transaction that goes on after refused calls).
-- Everywhere else a test lets the ERROR stand in its expected output and
-- echoes :LAST_ERROR_SQLSTATE after it.
--
-- Runs stmt in a subtransaction and returns its outcome as text:
--   'ok: <first column of the first row>' for a query (show_result, the
--   default), '(null)' standing for NULL;
--   'ok' for a query when show_result is false, and for a command that
--   returns no rows (SET, TRUNCATE, ...);
--   '<SQLSTATE>: <message>' when stmt raises.
--
-- A test creates it with
--   \getenv abs_srcdir PG_ABS_SRCDIR
--   \i :abs_srcdir/include/regress_try.sql
-- (pg_regress sets PG_ABS_SRCDIR to its --inputdir, here test/) and drops it
-- at the end with DROP FUNCTION public.regress_try(text, boolean).
-- Echo is off while this file is read (first line; pg_regress's psql runs
-- with -a, so it is turned back on at the end): a test's expected output
-- shows the \i line and the \set ECHO none line, not this file.
CREATE FUNCTION public.regress_try(stmt text, show_result boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
    st text;
    msg text;
BEGIN
    IF stmt ~* '^\s*(select|with|values|table)\M' THEN
        EXECUTE stmt INTO r;
        RETURN CASE WHEN show_result THEN 'ok: ' || coalesce(r, '(null)') ELSE 'ok' END;
    END IF;
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;
\set ECHO all
