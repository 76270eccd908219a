-- The extension in a database whose default collation is not C (ICU,
-- en-US): the options are found by view name through their primary key,
-- which that collation orders, so the look-up must compare in it too.
-- Fifty views with names whose order differs between C and en-US (mixed
-- case, underscores) get max_skip => '2 hours'; read back, each must still
-- have it (a look-up in the wrong collation misses about half of them and
-- a read-back then writes the defaults over them).
CREATE DATABASE regress_collation_db TEMPLATE template0 ENCODING 'UTF8'
    LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C';
\c regress_collation_db
SET client_min_messages = warning;
CREATE EXTENSION metrics_refresh;
CREATE TABLE src (id int PRIMARY KEY);
INSERT INTO src VALUES (1);
DO $$
BEGIN
    FOR i IN 1 .. 50 LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %I AS SELECT id FROM src',
                       CASE WHEN i % 2 = 0 THEN 'V_' ELSE 'v' END || i);
        EXECUTE format('CREATE UNIQUE INDEX ON %I (id)', CASE WHEN i % 2 = 0 THEN 'V_' ELSE 'v' END || i);
    END LOOP;
END $$;
-- Enough other rows (names as long as names go) that the primary key has
-- many pages, where a look-up in the wrong order goes astray.
INSERT INTO metrics_refresh_config (view_name)
SELECT format('public.%I', CASE WHEN g % 2 = 0 THEN 'Filler_' ELSE 'filler-' END
                           || lpad(g::text, 50, CASE WHEN g % 3 = 0 THEN 'x' ELSE 'Y' END))
FROM generate_series(1, 3000) AS g;
SELECT count(*) AS configured
FROM pg_class c, LATERAL metrics_refresh_configure(c.oid::regclass, max_skip => '2 hours') AS r
WHERE c.relkind = 'm';
-- Read back: every view keeps its option.
SELECT count(*) FILTER (WHERE (r->>'max_skip')::interval = '2 hours') AS kept,
       count(*) FILTER (WHERE (r->>'max_skip')::interval <> '2 hours') AS lost
FROM pg_class c, LATERAL metrics_refresh_configure(c.oid::regclass) AS r
WHERE c.relkind = 'm';
SELECT count(*) AS rows_with_two_hours FROM metrics_refresh_config WHERE max_skip = '2 hours';
SELECT count(*) AS rows FROM metrics_refresh_config;
\c contrib_regression
DROP DATABASE regress_collation_db;
