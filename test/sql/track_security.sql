-- skip_unchanged and the security rule.  A source table's owner (not a
-- superuser, not an admin) must not be able to forge an "unchanged": not by
-- disabling, dropping or re-creating the metrics_refresh_track trigger on
-- the table, nor by writing to the extension's tracking tables, nor with
-- session_replication_role.  And tracking never runs code the owner wrote
-- as anyone but the role that would run it anyway: ts.recorder() notes who
-- runs the table's CHECK constraint, column default and row trigger, and
-- ts.planted() (in the view's query, folded when it is planned) says who
-- runs it; neither may ever run as a superuser.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;
CREATE ROLE regress_trs_owner;
CREATE ROLE regress_trs_writer;
CREATE SCHEMA ts;
GRANT USAGE, CREATE ON SCHEMA ts TO regress_trs_owner;
GRANT USAGE ON SCHEMA ts TO regress_trs_writer;

-- Who ran the owner's code: a superuser is recorded as such.
CREATE TABLE ts.seen (n bigint GENERATED ALWAYS AS IDENTITY, what text, ran_as text);
GRANT INSERT, SELECT ON ts.seen TO PUBLIC;
CREATE FUNCTION ts.who() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN r.rolsuper THEN 'a superuser' ELSE r.rolname::text END
    FROM pg_catalog.pg_roles r WHERE r.rolname = current_user $$;

SET ROLE regress_trs_owner;
CREATE FUNCTION ts.recorder(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO ts.seen (what, ran_as) VALUES (what, ts.who());
    RETURN true;
END $$;
CREATE FUNCTION ts.record_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ts.recorder('row trigger');
    RETURN NEW;
END $$;
CREATE FUNCTION ts.planted(n int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RAISE NOTICE 'planted code runs as %', ts.who();
    RETURN n;
END $$;
CREATE TABLE ts.src (id int PRIMARY KEY, v int NOT NULL,
                     checked boolean DEFAULT ts.recorder('default') CHECK (ts.recorder('check')))
    PARTITION BY RANGE (id);
CREATE TABLE ts.src_1 PARTITION OF ts.src FOR VALUES FROM (0) TO (100);
CREATE TRIGGER record_row BEFORE INSERT OR UPDATE ON ts.src
    FOR EACH ROW EXECUTE FUNCTION ts.record_row();
INSERT INTO ts.src (id, v) VALUES (1, 10);
GRANT SELECT, INSERT, UPDATE ON ts.src TO regress_trs_writer;
CREATE MATERIALIZED VIEW ts.mv AS SELECT id, v FROM ts.src WHERE id >= ts.planted(0);
CREATE UNIQUE INDEX ON ts.mv (id);
RESET ROLE;

-- One run: its status and whether the view equals its query (as its owner).
CREATE FUNCTION ts.run() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := public.metrics_refresh_run('ts.mv');
    differing bigint;
BEGIN
    SELECT count(*) INTO differing FROM
        ((SELECT id, v FROM ts.src EXCEPT ALL SELECT id, v FROM ts.mv)
         UNION ALL (SELECT id, v FROM ts.mv EXCEPT ALL SELECT id, v FROM ts.src)) d;
    RETURN (r->>'status') || CASE WHEN differing = 0 THEN ', fresh' ELSE ', STALE' END
        || CASE WHEN r->>'status' = 'error' THEN ': ' || (r->>'message') ELSE '' END;
END $$;
CREATE VIEW ts.track_trigger AS
SELECT tgrelid::regclass::text AS tbl, tgenabled, tgtype, tgqual IS NOT NULL AS has_when,
       tgattr::text AS columns, tgfoid::regproc::text AS function
FROM pg_trigger WHERE tgname = 'metrics_refresh_track' ORDER BY 1;

SELECT metrics_refresh_configure('ts.mv', skip_unchanged => true)->'sources' AS sources;
SELECT ts.run() AS first_run;
SELECT ts.run() AS again;
SELECT * FROM ts.track_trigger;

-- The tracking tables: nobody but the extension writes them.
SELECT t AS tracking_table, has_table_privilege('public', t, 'SELECT') AS public_select,
       has_table_privilege('public', t, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') AS public_write,
       has_table_privilege('regress_trs_owner', t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') AS owner_any
FROM unnest(ARRAY['metrics_refresh_tracking', 'metrics_refresh_sources', 'metrics_refresh_changes']) AS t;
SET ROLE regress_trs_owner;
UPDATE ts.src SET v = 11;
DELETE FROM metrics_refresh_changes;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE metrics_refresh_changes;
\echo :LAST_ERROR_SQLSTATE
UPDATE metrics_refresh_tracking SET refreshed_at = now();
\echo :LAST_ERROR_SQLSTATE
DELETE FROM metrics_refresh_sources;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO metrics_refresh_tracking (view, view_name) VALUES ('ts.mv', 'ts.mv');
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT ts.run() AS after_update;
SELECT ts.run() AS again;

-- A writer with no privilege on the tracking tables: its change is marked.
SET ROLE regress_trs_writer;
INSERT INTO ts.src (id, v) VALUES (2, 20);
RESET ROLE;
SELECT ts.run() AS after_insert_by_writer;

-- The owner disables the trigger, writes, and enables it again (ALWAYS):
-- in one transaction, or in three.
SET ROLE regress_trs_owner;
BEGIN;
ALTER TABLE ts.src DISABLE TRIGGER metrics_refresh_track;
UPDATE ts.src SET v = v + 1;
ALTER TABLE ts.src ENABLE ALWAYS TRIGGER metrics_refresh_track;
COMMIT;
RESET ROLE;
SELECT ts.run() AS after_write_with_trigger_disabled;
SELECT ts.run() AS again;
SET ROLE regress_trs_owner;
ALTER TABLE ts.src DISABLE TRIGGER metrics_refresh_track;
UPDATE ts.src SET v = v + 1;
RESET ROLE;
SELECT ts.run() AS while_disabled;
SELECT * FROM ts.track_trigger;
-- ENABLE REPLICA, or plain ENABLE (not ALWAYS): refreshed until the trigger
-- fires always again, which the next refresh sees to.
SET ROLE regress_trs_owner;
ALTER TABLE ts.src ENABLE REPLICA TRIGGER metrics_refresh_track;
RESET ROLE;
SELECT ts.run() AS while_enabled_replica;
SELECT ts.run() AS again;
SET ROLE regress_trs_owner;
ALTER TABLE ts.src ENABLE TRIGGER metrics_refresh_track;
RESET ROLE;
SELECT ts.run() AS while_enabled_origin;
SELECT ts.run() AS again;
SELECT * FROM ts.track_trigger;

-- The owner drops the trigger and writes: refreshed, and the trigger is back.
SET ROLE regress_trs_owner;
DROP TRIGGER metrics_refresh_track ON ts.src;
UPDATE ts.src SET v = v + 1;
RESET ROLE;
SELECT ts.run() AS after_drop_trigger;
SELECT ts.run() AS again;
SELECT * FROM ts.track_trigger;

-- The owner may not even create a trigger with the extension's function:
-- PUBLIC has no EXECUTE on it (firing a trigger needs none).
SET ROLE regress_trs_owner;
CREATE TRIGGER regress_trs_own AFTER INSERT ON ts.src
    FOR EACH STATEMENT EXECUTE FUNCTION public.metrics_refresh_track();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Were EXECUTE granted, the owner could re-create it with the extension's
-- function but fewer events, a WHEN condition, or a column list, so that an
-- UPDATE would go unseen: each is replaced by the real one at the next
-- refresh, and the UPDATE is seen.
GRANT EXECUTE ON FUNCTION public.metrics_refresh_track() TO regress_trs_owner;
SET ROLE regress_trs_owner;
DROP TRIGGER metrics_refresh_track ON ts.src;
CREATE TRIGGER metrics_refresh_track AFTER INSERT ON ts.src
    FOR EACH STATEMENT EXECUTE FUNCTION public.metrics_refresh_track();
ALTER TABLE ts.src ENABLE ALWAYS TRIGGER metrics_refresh_track;
RESET ROLE;
SELECT * FROM ts.track_trigger;
SELECT ts.run() AS after_recreate_insert_only;
SELECT * FROM ts.track_trigger;
SET ROLE regress_trs_owner;
UPDATE ts.src SET v = v + 1;
RESET ROLE;
SELECT ts.run() AS after_update;
SET ROLE regress_trs_owner;
DROP TRIGGER metrics_refresh_track ON ts.src;
CREATE TRIGGER metrics_refresh_track BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ts.src
    FOR EACH STATEMENT WHEN (pg_trigger_depth() > 5) EXECUTE FUNCTION public.metrics_refresh_track();
ALTER TABLE ts.src ENABLE ALWAYS TRIGGER metrics_refresh_track;
RESET ROLE;
SELECT ts.run() AS after_recreate_with_when;
SET ROLE regress_trs_owner;
UPDATE ts.src SET v = v + 1;
RESET ROLE;
SELECT ts.run() AS after_update;
SET ROLE regress_trs_owner;
DROP TRIGGER metrics_refresh_track ON ts.src;
CREATE TRIGGER metrics_refresh_track BEFORE INSERT OR UPDATE OF checked OR DELETE OR TRUNCATE ON ts.src
    FOR EACH STATEMENT EXECUTE FUNCTION public.metrics_refresh_track();
ALTER TABLE ts.src ENABLE ALWAYS TRIGGER metrics_refresh_track;
RESET ROLE;
SELECT ts.run() AS after_recreate_with_columns;
SET ROLE regress_trs_owner;
UPDATE ts.src SET v = v + 1;
RESET ROLE;
SELECT ts.run() AS after_update;
SELECT ts.run() AS again;
SELECT * FROM ts.track_trigger;
REVOKE EXECUTE ON FUNCTION public.metrics_refresh_track() FROM regress_trs_owner;
-- A trigger of the owner's own under that name: runs fail, never "unchanged".
SET ROLE regress_trs_owner;
DROP TRIGGER metrics_refresh_track ON ts.src;
CREATE TRIGGER metrics_refresh_track AFTER INSERT ON ts.src
    FOR EACH STATEMENT EXECUTE FUNCTION ts.record_row();
RESET ROLE;
SELECT ts.run() AS with_a_foreign_trigger;
SELECT ts.run() AS again;
SET ROLE regress_trs_owner;
DROP TRIGGER metrics_refresh_track ON ts.src;
RESET ROLE;
SELECT ts.run() AS after_drop_trigger;
SELECT ts.run() AS again;

-- A partition the owner attaches: the trigger goes on it at once.
SET ROLE regress_trs_owner;
CREATE TABLE ts.src_2 (LIKE ts.src INCLUDING ALL);
INSERT INTO ts.src_2 (id, v) VALUES (101, 1);
ALTER TABLE ts.src ATTACH PARTITION ts.src_2 FOR VALUES FROM (100) TO (200);
RESET ROLE;
SELECT * FROM ts.track_trigger;
SELECT ts.run() AS after_attach;
SET ROLE regress_trs_writer;
INSERT INTO ts.src (id, v) VALUES (102, 1);
RESET ROLE;
SELECT ts.run() AS after_insert_into_attached;
SELECT ts.run() AS again;

-- The view's owner points it, through a plain view, at a table it may read
-- but not put a trigger on: the extension, running the refresh, adds no
-- trigger there on the owner's behalf; the view is refreshed every time,
-- with a WARNING, until that changes.
CREATE TABLE ts.foreign_ledger (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO ts.foreign_ledger VALUES (500, 5);
GRANT SELECT ON ts.foreign_ledger TO regress_trs_owner;
SET ROLE regress_trs_owner;
CREATE VIEW ts.indirect AS SELECT id, v FROM ts.src UNION ALL SELECT id, v FROM ts.foreign_ledger;
CREATE MATERIALIZED VIEW ts.mv2 AS SELECT id, v FROM ts.src;
CREATE UNIQUE INDEX ON ts.mv2 (id);
RESET ROLE;
SELECT metrics_refresh_configure('ts.mv2', skip_unchanged => true)->'sources' AS sources;
SELECT metrics_refresh_run('ts.mv2')->>'status' AS first_run;
SET ROLE regress_trs_owner;
CREATE OR REPLACE VIEW ts.indirect AS SELECT id, v FROM ts.src;
DROP MATERIALIZED VIEW ts.mv2;
CREATE MATERIALIZED VIEW ts.mv2 AS SELECT id, v FROM ts.indirect;
CREATE UNIQUE INDEX ON ts.mv2 (id);
RESET ROLE;
SELECT metrics_refresh_configure('ts.mv2', skip_unchanged => true)->'sources' AS sources;
SELECT metrics_refresh_run('ts.mv2')->>'status' AS baseline;
SET ROLE regress_trs_owner;
CREATE OR REPLACE VIEW ts.indirect AS SELECT id, v FROM ts.src UNION ALL SELECT id, v FROM ts.foreign_ledger;
RESET ROLE;
SELECT metrics_refresh_run('ts.mv2')->>'status' AS after_redefine;
SELECT metrics_refresh_run('ts.mv2')->>'status' AS again;
SELECT count(*) AS triggers_on_the_ledger FROM pg_trigger
WHERE tgrelid = 'ts.foreign_ledger'::regclass AND tgname = 'metrics_refresh_track';
SELECT metrics_refresh_configure('ts.mv2', skip_unchanged => false)->'skip_unchanged' AS skip_unchanged;
DROP MATERIALIZED VIEW ts.mv2;

-- Turning the option off, then dropping the extension, as a superuser.
SELECT metrics_refresh_configure('ts.mv', skip_unchanged => false)->'skip_unchanged' AS skip_unchanged;
SELECT metrics_refresh_configure('ts.mv', skip_unchanged => true)->'sources' AS sources;
DROP EXTENSION metrics_refresh;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname = 'metrics_refresh_track';

-- Who ran the owner's code: the owner's own statements and the writer's.
SELECT DISTINCT what, ran_as FROM ts.seen ORDER BY 1, 2;

SET client_min_messages = warning;
DROP SCHEMA ts CASCADE;
RESET client_min_messages;
DROP ROLE regress_trs_owner, regress_trs_writer;
