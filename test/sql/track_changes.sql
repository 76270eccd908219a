-- skip_unchanged: every kind of change to a source makes the next run
-- refresh, and a run with nothing changed is "unchanged" - never wrongly.
-- tc.run() runs a view once and says how the run ended and whether the
-- view then holds what its query returns ("fresh") or not ("STALE"): an
-- "unchanged, STALE" would be a false "unchanged".  A false "changed" (an
-- extra refresh) is allowed, after a statement that changed no row say.
-- Concurrency is in the isolation specs track_in_flight,
-- track_decision_gap and track_repeatable_read.
\set SHOW_CONTEXT never
CREATE EXTENSION metrics_refresh;
CREATE SCHEMA tc;

-- One run of v: its status, and whether v now equals its own query, read
-- as v's owner (as a refresh reads it).
CREATE FUNCTION tc.run(v regclass, refresh_now boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    q text := rtrim(pg_catalog.pg_get_viewdef(v), ';');
    differing bigint;
BEGIN
    IF refresh_now THEN
        r := public.metrics_refresh_trigger(v);
    ELSE
        r := public.metrics_refresh_run(v);
    END IF;
    EXECUTE format('SET ROLE %I', (SELECT relowner::regrole::text FROM pg_catalog.pg_class WHERE oid = v));
    EXECUTE format('SELECT count(*) FROM ((SELECT * FROM (%s) q EXCEPT ALL SELECT * FROM %s) '
                   'UNION ALL (SELECT * FROM %s EXCEPT ALL SELECT * FROM (%s) q)) d', q, v, v, q)
        INTO differing;
    RESET ROLE;
    RETURN (r->>'status') || CASE WHEN differing = 0 THEN ', fresh' ELSE ', STALE' END
        || CASE WHEN r->>'status' = 'error' THEN ': ' || (r->>'message') ELSE '' END;
END $$;

-- A materialized view on a plain view on two tables.
CREATE TABLE tc.accounts (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE tc.users (id int PRIMARY KEY, account_id int NOT NULL REFERENCES tc.accounts ON DELETE CASCADE,
                       active boolean NOT NULL DEFAULT true);
INSERT INTO tc.accounts VALUES (1, 'one'), (2, 'two');
INSERT INTO tc.users VALUES (1, 1), (2, 1), (3, 2);
CREATE FUNCTION tc.label(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT initcap(name) $$;
CREATE VIEW tc.account_users AS
SELECT a.id, tc.label(a.name) AS name, count(u.id) AS users
FROM tc.accounts a LEFT JOIN tc.users u ON u.account_id = a.id AND u.active
GROUP BY a.id, a.name;
CREATE MATERIALIZED VIEW tc.summary AS SELECT id, name, users FROM tc.account_users;
CREATE UNIQUE INDEX ON tc.summary (id);

-- Turning the option on returns the view's options and the sources it tracks.
SELECT metrics_refresh_configure('tc.summary', skip_unchanged => true);
SELECT tgrelid::regclass::text AS tracked_table, tgenabled, tgtype
FROM pg_trigger WHERE tgname = 'metrics_refresh_track' ORDER BY 1;

-- The first run refreshes (nothing is known yet), the next one does not.
SELECT tc.run('tc.summary') AS first_run;
SELECT tc.run('tc.summary') AS nothing_changed;

-- The unchanged run: success, no method, the decision's duration, the
-- message naming the last real refresh, the log row, and its NOTIFY.
\set tc_nfile `mktemp /tmp/metrics_refresh_track_changes.XXXXXX`
LISTEN metrics_refresh;
\o :tc_nfile
SELECT metrics_refresh_run('tc.summary') AS unchanged_run \gset
\o
\set tc_notes `cat :tc_nfile`
UNLISTEN metrics_refresh;
\set tc_rm `rm -f :tc_nfile`
SELECT r->>'status' AS status, r->>'success' AS success, r ? 'method' AS has_method,
       r ? 'sqlstate' AS has_sqlstate, (r->>'duration_ms')::float8 >= 0 AS has_duration,
       r->>'message' = 'unchanged: no source changed since run '
           || (SELECT max(id) FROM metrics_refresh_log WHERE view_name = 'tc.summary' AND status = 'success')
           AS message_names_last_refresh
FROM (SELECT :'unchanged_run'::jsonb AS r) s;
SELECT status, method, skip_reason = (:'unchanged_run'::jsonb)->>'message' AS reason_is_message,
       duration_ms IS NOT NULL AS has_duration, sqlstate
FROM metrics_refresh_log WHERE id = ((:'unchanged_run'::jsonb)->>'run_id')::bigint;
SELECT n[1] AS channel,
       n[2]::jsonb = (SELECT jsonb_build_object('run_id', r->'run_id', 'view', r->'view', 'status', r->'status')
                      FROM (SELECT :'unchanged_run'::jsonb AS r) o) AS names_the_run
FROM regexp_matches(:'tc_notes',
                    '^Asynchronous notification "([^"]*)" with payload "(.*)" received from server process with PID \d+\.$',
                    'gn') AS m(n);

-- Each kind of change, then a run with nothing changed.
INSERT INTO tc.users VALUES (4, 2);
SELECT tc.run('tc.summary') AS after_insert;
SELECT tc.run('tc.summary') AS again;
UPDATE tc.users SET active = false WHERE id = 1;
SELECT tc.run('tc.summary') AS after_update;
SELECT tc.run('tc.summary') AS again;
DELETE FROM tc.users WHERE id = 4;
SELECT tc.run('tc.summary') AS after_delete;
SELECT tc.run('tc.summary') AS again;
COPY tc.users (id, account_id) FROM STDIN;
5	1
6	1
\.
SELECT tc.run('tc.summary') AS after_copy;
SELECT tc.run('tc.summary') AS again;
MERGE INTO tc.users u USING (VALUES (5, false), (7, true)) AS m(id, active) ON u.id = m.id
WHEN MATCHED THEN UPDATE SET active = m.active
WHEN NOT MATCHED THEN INSERT (id, account_id) VALUES (m.id, 2);
SELECT tc.run('tc.summary') AS after_merge;
SELECT tc.run('tc.summary') AS again;
INSERT INTO tc.users VALUES (7, 2) ON CONFLICT (id) DO UPDATE SET active = false;
SELECT tc.run('tc.summary') AS after_on_conflict_do_update;
SELECT tc.run('tc.summary') AS again;
-- No row inserted: a refresh all the same (an allowed false "changed").
INSERT INTO tc.users VALUES (7, 2) ON CONFLICT (id) DO NOTHING;
SELECT tc.run('tc.summary') AS after_on_conflict_do_nothing;
SELECT tc.run('tc.summary') AS again;
-- A statement that changes no row: the same.
UPDATE tc.accounts SET name = name WHERE false;
SELECT tc.run('tc.summary') AS after_update_of_no_row;
SELECT tc.run('tc.summary') AS again;
-- A change rolled back, and a row locked: nothing to refresh.
BEGIN;
INSERT INTO tc.users VALUES (8, 1);
ROLLBACK;
SELECT id FROM tc.users WHERE id = 1 FOR UPDATE;
SELECT tc.run('tc.summary') AS after_rollback_and_lock;
-- A change made by a foreign key's ON DELETE CASCADE, from another table's DELETE.
INSERT INTO tc.accounts VALUES (3, 'three');
SELECT tc.run('tc.summary') AS after_insert_account;
INSERT INTO tc.users VALUES (9, 3);
SELECT tc.run('tc.summary') AS after_insert_user;
DELETE FROM tc.accounts WHERE id = 3;
SELECT tc.run('tc.summary') AS after_cascaded_delete;
SELECT tc.run('tc.summary') AS again;
TRUNCATE tc.users;
SELECT tc.run('tc.summary') AS after_truncate;
SELECT tc.run('tc.summary') AS again;
INSERT INTO tc.users VALUES (1, 1), (2, 2);
SELECT tc.run('tc.summary') AS after_insert;
-- session_replication_role = replica (a superuser's, or logical
-- replication's apply): the trigger fires always.
SET session_replication_role = replica;
UPDATE tc.users SET active = false WHERE id = 2;
RESET session_replication_role;
SELECT tc.run('tc.summary') AS after_update_as_replica;
SELECT tc.run('tc.summary') AS again;
-- A transaction that wrote, then turned read-only: it commits (its writes
-- and their marks), and the change is seen.
BEGIN;
UPDATE tc.users SET active = true WHERE id = 2;
SET transaction_read_only = on;
COMMIT;
SELECT tc.run('tc.summary') AS after_commit_read_only;
SELECT tc.run('tc.summary') AS again;

-- DDL on a source.  A column added (no row changes, an extra refresh):
ALTER TABLE tc.accounts ADD COLUMN region text;
SELECT tc.run('tc.summary') AS after_add_column;
SELECT tc.run('tc.summary') AS again;
-- An IMMUTABLE function the view calls, replaced: new values, and no
-- trigger fires.
CREATE OR REPLACE FUNCTION tc.label(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT upper(name) $$;
SELECT tc.run('tc.summary') AS after_replace_function;
SELECT tc.run('tc.summary') AS again;

-- CREATE OR REPLACE VIEW of the plain view in the chain: a new definition,
-- then one that reads a new table (now a source, with the trigger) and no
-- longer tc.users (no longer a source: the trigger goes).
CREATE OR REPLACE VIEW tc.account_users AS
SELECT a.id, tc.label(a.name) AS name, count(u.id) AS users
FROM tc.accounts a LEFT JOIN tc.users u ON u.account_id = a.id
GROUP BY a.id, a.name;
SELECT tc.run('tc.summary') AS after_replace_view;
SELECT tc.run('tc.summary') AS again;
CREATE TABLE tc.members (id int PRIMARY KEY, account_id int NOT NULL);
INSERT INTO tc.members VALUES (1, 1);
CREATE OR REPLACE VIEW tc.account_users AS
SELECT a.id, tc.label(a.name) AS name, count(m.id) AS users
FROM tc.accounts a LEFT JOIN tc.members m ON m.account_id = a.id
GROUP BY a.id, a.name;
SELECT tc.run('tc.summary') AS after_replace_view_new_table;
SELECT tc.run('tc.summary') AS again;
SELECT tgrelid::regclass::text AS tracked_table FROM pg_trigger WHERE tgname = 'metrics_refresh_track' ORDER BY 1;
SELECT source::text, view::text FROM metrics_refresh_sources ORDER BY 1, 2;
INSERT INTO tc.members VALUES (2, 2);
SELECT tc.run('tc.summary') AS after_insert_new_table;
INSERT INTO tc.users VALUES (3, 2);
SELECT tc.run('tc.summary') AS after_insert_old_table;

-- A refresh of the view itself outside the tracked path: WITH NO DATA,
-- then a plain REFRESH.
REFRESH MATERIALIZED VIEW tc.summary WITH NO DATA;
SELECT tc.run('tc.summary') AS after_refresh_with_no_data;
REFRESH MATERIALIZED VIEW tc.summary;
SELECT tc.run('tc.summary') AS after_plain_refresh;
SELECT tc.run('tc.summary') AS again;

-- max_skip: a last real refresh older than max_skip means a refresh.
SELECT metrics_refresh_configure('tc.summary', max_skip => '1 hour')->>'max_skip' AS max_skip;
SELECT tc.run('tc.summary') AS within_max_skip;
UPDATE metrics_refresh_tracking SET refreshed_at = refreshed_at - interval '61 minutes'
WHERE view = 'tc.summary'::regclass;
SELECT tc.run('tc.summary') AS beyond_max_skip;
SELECT tc.run('tc.summary') AS again;
SELECT metrics_refresh_configure('tc.summary', max_skip => '0')->>'max_skip' AS max_skip;
\echo :LAST_ERROR_SQLSTATE

-- "Refresh Now" always refreshes.
SELECT tc.run('tc.summary', refresh_now => true) AS refresh_now;
SELECT tc.run('tc.summary') AS again;
-- The platform functions: the scheduled entry point may skip, "Refresh
-- Now" never does, and the unlogged base refresh is a refresh of the view
-- outside the tracked path (the next run refreshes once more).
SET metrics_refresh.platform_view = 'tc.summary';
SELECT refresh_platform_metrics_with_logging()->>'status' AS scheduled_entry;
SELECT trigger_platform_metrics_refresh()->>'status' AS platform_refresh_now;
SELECT refresh_platform_metrics_with_logging()->>'status' AS scheduled_entry;
SELECT refresh_platform_metrics();
SELECT tc.run('tc.summary') AS after_unlogged_base_refresh;
SELECT tc.run('tc.summary') AS again;
RESET metrics_refresh.platform_view;

-- Partitions: one attached after the option was turned on (and a row
-- inserted into it), one created as a partition, one detached, one
-- dropped and created again; and an inheritance child, added and removed.
CREATE TABLE tc.events (id int, kind text NOT NULL) PARTITION BY RANGE (id);
CREATE TABLE tc.events_1 PARTITION OF tc.events FOR VALUES FROM (0) TO (100);
INSERT INTO tc.events VALUES (1, 'a'), (2, 'b');
CREATE TABLE tc.old_events (id int, kind text NOT NULL);
CREATE MATERIALIZED VIEW tc.event_kinds AS
SELECT kind, count(*) AS n
FROM (SELECT kind FROM tc.events UNION ALL SELECT kind FROM tc.old_events) e
GROUP BY kind;
CREATE UNIQUE INDEX ON tc.event_kinds (kind);
SELECT metrics_refresh_configure('tc.event_kinds', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.event_kinds') AS first_run;
CREATE TABLE tc.events_2 (id int, kind text NOT NULL);
INSERT INTO tc.events_2 VALUES (101, 'a');
ALTER TABLE tc.events ATTACH PARTITION tc.events_2 FOR VALUES FROM (100) TO (200);
SELECT tc.run('tc.event_kinds') AS after_attach;
SELECT tc.run('tc.event_kinds') AS again;
INSERT INTO tc.events_2 VALUES (102, 'c');
SELECT tc.run('tc.event_kinds') AS after_insert_into_attached;
SELECT tc.run('tc.event_kinds') AS again;
CREATE TABLE tc.events_3 PARTITION OF tc.events FOR VALUES FROM (200) TO (300);
SELECT tc.run('tc.event_kinds') AS after_create_partition;
INSERT INTO tc.events_3 VALUES (201, 'd');
SELECT tc.run('tc.event_kinds') AS after_insert_into_created;
SELECT source::text FROM metrics_refresh_sources WHERE view = 'tc.event_kinds'::regclass ORDER BY 1;
ALTER TABLE tc.events DETACH PARTITION tc.events_2;
SELECT tc.run('tc.event_kinds') AS after_detach;
SELECT tc.run('tc.event_kinds') AS again;
INSERT INTO tc.events_2 VALUES (103, 'e');
SELECT tc.run('tc.event_kinds') AS after_insert_into_detached;
SELECT tgrelid::regclass::text AS tracked_table FROM pg_trigger
WHERE tgname = 'metrics_refresh_track' AND tgrelid::regclass::text LIKE 'tc.events%' ORDER BY 1;
DROP TABLE tc.events_3;
SELECT tc.run('tc.event_kinds') AS after_drop_partition;
CREATE TABLE tc.events_3 PARTITION OF tc.events FOR VALUES FROM (200) TO (300);
INSERT INTO tc.events_3 VALUES (202, 'f');
SELECT tc.run('tc.event_kinds') AS after_create_again_and_insert;
SELECT tc.run('tc.event_kinds') AS again;
-- A view that reads one partition directly sees the changes made to it
-- through its parent (a statement fires the statement triggers of the
-- table it names only): the parent is tracked too.
CREATE MATERIALIZED VIEW tc.first_events AS SELECT kind, count(*) AS n FROM tc.events_1 GROUP BY kind;
CREATE UNIQUE INDEX ON tc.first_events (kind);
SELECT metrics_refresh_configure('tc.first_events', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.first_events') AS first_run;
SELECT tc.run('tc.first_events') AS again;
INSERT INTO tc.events VALUES (3, 'g');
SELECT tc.run('tc.first_events') AS after_insert_through_parent;
UPDATE tc.events SET kind = 'h' WHERE id = 3;
SELECT tc.run('tc.first_events') AS after_update_through_parent;
DELETE FROM tc.events WHERE id = 3;
SELECT tc.run('tc.first_events') AS after_delete_through_parent;
SELECT tc.run('tc.first_events') AS again;
-- Likewise an inheritance child, changed through its parent.
CREATE TABLE tc.base (id int, kind text NOT NULL);
CREATE TABLE tc.derived () INHERITS (tc.base);
INSERT INTO tc.derived VALUES (1, 'a');
CREATE MATERIALIZED VIEW tc.derived_kinds AS SELECT kind, count(*) AS n FROM tc.derived GROUP BY kind;
CREATE UNIQUE INDEX ON tc.derived_kinds (kind);
SELECT metrics_refresh_configure('tc.derived_kinds', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.derived_kinds') AS first_run;
UPDATE tc.base SET kind = 'b';
SELECT tc.run('tc.derived_kinds') AS after_update_through_parent;
SELECT tc.run('tc.derived_kinds') AS again;
DROP MATERIALIZED VIEW tc.first_events, tc.derived_kinds;
DROP TABLE tc.base CASCADE;
TRUNCATE tc.events;
SELECT tc.run('tc.event_kinds') AS after_truncate_parent;
SELECT tc.run('tc.event_kinds') AS again;
CREATE TABLE tc.archive (id int, kind text NOT NULL);
INSERT INTO tc.archive VALUES (1, 'g');
ALTER TABLE tc.archive INHERIT tc.old_events;
SELECT tc.run('tc.event_kinds') AS after_inherit;
INSERT INTO tc.archive VALUES (2, 'h');
SELECT tc.run('tc.event_kinds') AS after_insert_into_child;
ALTER TABLE tc.archive NO INHERIT tc.old_events;
SELECT tc.run('tc.event_kinds') AS after_no_inherit;
SELECT tc.run('tc.event_kinds') AS again;

-- Sources that are materialized views: tc.totals reads tc.base, which
-- reads tc.members.  A change to tc.members is not a change of tc.totals
-- until tc.base is refreshed - with a plain REFRESH (outside the
-- extension), CONCURRENTLY or not, or through the extension.
CREATE MATERIALIZED VIEW tc.base AS SELECT account_id, count(*) AS n FROM tc.members GROUP BY account_id;
CREATE UNIQUE INDEX ON tc.base (account_id);
CREATE VIEW tc.base_view AS SELECT account_id, n FROM tc.base;
CREATE MATERIALIZED VIEW tc.totals AS SELECT sum(n) AS members, 1 AS id FROM tc.base_view;
CREATE UNIQUE INDEX ON tc.totals (id);
SELECT metrics_refresh_configure('tc.totals', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.totals') AS first_run;
SELECT tc.run('tc.totals') AS again;
INSERT INTO tc.members VALUES (3, 1);
SELECT tc.run('tc.totals') AS base_not_refreshed;
REFRESH MATERIALIZED VIEW tc.base;
-- Each REFRESH of a source marks its tracked readers again (a mark already
-- there is not looked for), and the reader's next refresh consumes them all.
REFRESH MATERIALIZED VIEW tc.base;
SELECT count(*) AS totals_marks FROM metrics_refresh_changes WHERE view = 'tc.totals'::regclass;
SELECT tc.run('tc.totals') AS after_plain_refresh;
SELECT count(*) AS totals_marks FROM metrics_refresh_changes WHERE view = 'tc.totals'::regclass;
INSERT INTO tc.members VALUES (4, 1);
REFRESH MATERIALIZED VIEW CONCURRENTLY tc.base;
SELECT tc.run('tc.totals') AS after_plain_refresh_concurrently;
SELECT tc.run('tc.totals') AS again;
INSERT INTO tc.members VALUES (5, 1);
SELECT tc.run('tc.base') AS base_run;
SELECT tc.run('tc.totals') AS after_base_run;
SELECT tc.run('tc.totals') AS again;
-- A superuser's REFRESH with session_replication_role = replica (where
-- event triggers do not fire).
INSERT INTO tc.members VALUES (8, 2);
SET session_replication_role = replica;
REFRESH MATERIALIZED VIEW CONCURRENTLY tc.base;
RESET session_replication_role;
SELECT tc.run('tc.totals') AS after_refresh_as_replica;
SELECT tc.run('tc.totals') AS again;
-- tc.base tracked too: when its own run is unchanged, so is tc.totals'.
SELECT metrics_refresh_configure('tc.base', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.base') AS base_first_run;
SELECT tc.run('tc.totals') AS after_base_first_run;
SELECT tc.run('tc.base') AS base_unchanged;
SELECT tc.run('tc.totals') AS after_base_unchanged;
INSERT INTO tc.members VALUES (6, 2);
SELECT tc.run('tc.totals') AS base_not_refreshed;
SELECT tc.run('tc.base') AS base_run;
SELECT tc.run('tc.totals') AS after_base_run;

-- Row-level security: a view whose owner is subject to a table's policies
-- reads what they let it read, so they are part of its query: what they
-- read is a source, and a change of a policy or of the owner's attributes
-- is a change.
CREATE ROLE regress_track_rls;
GRANT USAGE, CREATE ON SCHEMA tc TO regress_track_rls;
CREATE TABLE tc.tenants (tenant int PRIMARY KEY, visible boolean NOT NULL);
INSERT INTO tc.tenants VALUES (1, true), (2, false);
CREATE TABLE tc.docs (id int PRIMARY KEY, tenant int NOT NULL);
INSERT INTO tc.docs VALUES (1, 1), (2, 2), (3, 2);
GRANT SELECT ON tc.docs, tc.tenants TO regress_track_rls;
ALTER TABLE tc.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_visible ON tc.docs FOR SELECT
    USING (tenant IN (SELECT tenant FROM tc.tenants WHERE visible));
SET ROLE regress_track_rls;
CREATE MATERIALIZED VIEW tc.visible_docs AS SELECT id, tenant FROM tc.docs;
CREATE UNIQUE INDEX ON tc.visible_docs (id);
RESET ROLE;
SELECT metrics_refresh_configure('tc.visible_docs', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.visible_docs') AS first_run;
SELECT tc.run('tc.visible_docs') AS again;
UPDATE tc.tenants SET visible = true WHERE tenant = 2;
SELECT tc.run('tc.visible_docs') AS after_update_of_table_read_by_policy;
SELECT tc.run('tc.visible_docs') AS again;
ALTER POLICY docs_visible ON tc.docs USING (tenant = 1);
SELECT tc.run('tc.visible_docs') AS after_alter_policy;
SELECT tc.run('tc.visible_docs') AS again;
CREATE POLICY docs_two ON tc.docs FOR SELECT USING (id = 2);
SELECT tc.run('tc.visible_docs') AS after_create_policy;
DROP POLICY docs_visible ON tc.docs;
SELECT tc.run('tc.visible_docs') AS after_drop_policy;
SELECT tc.run('tc.visible_docs') AS again;
ALTER ROLE regress_track_rls BYPASSRLS;
SELECT tc.run('tc.visible_docs') AS after_alter_role_bypassrls;
SELECT tc.run('tc.visible_docs') AS again;
ALTER ROLE regress_track_rls NOBYPASSRLS;
SELECT tc.run('tc.visible_docs') AS after_alter_role_nobypassrls;
ALTER TABLE tc.docs DISABLE ROW LEVEL SECURITY;
SELECT tc.run('tc.visible_docs') AS after_disable_rls;
SELECT tc.run('tc.visible_docs') AS again;
SELECT metrics_refresh_configure('tc.visible_docs', skip_unchanged => false)->'skip_unchanged' AS skip_unchanged;

-- A source dropped and created again, with the views on it (DROP ...
-- CASCADE): the view's settings go with it, and its new namesake is not
-- tracked until the option is turned on again.
CREATE TABLE tc.scores (id int PRIMARY KEY, score int NOT NULL);
INSERT INTO tc.scores VALUES (1, 5);
CREATE MATERIALIZED VIEW tc.best AS SELECT 1 AS id, max(score) AS best FROM tc.scores;
CREATE UNIQUE INDEX ON tc.best (id);
SELECT metrics_refresh_configure('tc.best', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.best') AS first_run;
SELECT tc.run('tc.best') AS again;
DROP TABLE tc.scores CASCADE;
CREATE TABLE tc.scores (id int PRIMARY KEY, score int NOT NULL);
INSERT INTO tc.scores VALUES (1, 7);
CREATE MATERIALIZED VIEW tc.best AS SELECT 1 AS id, max(score) AS best FROM tc.scores;
CREATE UNIQUE INDEX ON tc.best (id);
SELECT tc.run('tc.best') AS created_again;
SELECT tc.run('tc.best') AS not_tracked;
SELECT count(*) AS triggers_on_scores FROM pg_trigger
WHERE tgname = 'metrics_refresh_track' AND tgrelid = 'tc.scores'::regclass;
SELECT metrics_refresh_configure('tc.best', skip_unchanged => true)->'sources' AS sources;
SELECT tc.run('tc.best') AS first_run;
SELECT tc.run('tc.best') AS again;
DROP MATERIALIZED VIEW tc.best;
DROP TABLE tc.scores;

-- Tracking goes away with the option and with the view: no trigger is
-- left on a table that no view with the option reads.  tc.members is read
-- by tc.summary (through tc.account_users) and tc.base.
SELECT source::text, string_agg(view::text, ', ' ORDER BY view::text) AS read_by
FROM metrics_refresh_sources GROUP BY source ORDER BY 1;
SELECT metrics_refresh_configure('tc.summary', skip_unchanged => false)->'skip_unchanged' AS skip_unchanged;
SELECT tgrelid::regclass::text AS tracked_table FROM pg_trigger WHERE tgname = 'metrics_refresh_track' ORDER BY 1;
SELECT view::text FROM metrics_refresh_tracking ORDER BY 1;
SELECT tc.run('tc.summary') AS untracked;
SELECT tc.run('tc.summary') AS untracked;
DROP MATERIALIZED VIEW tc.totals;
DROP MATERIALIZED VIEW tc.base CASCADE;
SELECT tgrelid::regclass::text AS tracked_table FROM pg_trigger WHERE tgname = 'metrics_refresh_track' ORDER BY 1;
SELECT source::text, view::text FROM metrics_refresh_sources ORDER BY 1, 2;
SELECT view::text FROM metrics_refresh_tracking ORDER BY 1;
SELECT count(*) AS marks FROM metrics_refresh_changes;
SELECT view_name, skip_unchanged FROM metrics_refresh_config ORDER BY 1;

-- DROP EXTENSION needs no CASCADE, and takes the triggers with it.
SELECT metrics_refresh_configure('tc.summary', skip_unchanged => true)->'sources' AS sources;
DROP EXTENSION metrics_refresh;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname = 'metrics_refresh_track';
INSERT INTO tc.members VALUES (7, 1);

SET client_min_messages = warning;
DROP SCHEMA tc CASCADE;
RESET client_min_messages;
DROP ROLE regress_track_rls;
