-- A graph of materialized views for the cascade benchmark (bench/cascade).
-- Loaded by psql as a superuser into a database that has the extension.
--
-- bench_make_graph(prefix, views, components, roots, width) makes `views`
-- materialized views named <prefix>_0001, <prefix>_0002, ... (in dependency
-- order) over one 10-row table <prefix>_base: `components` independent parts,
-- each with `roots` root views that read the table, then layers of up to
-- `width` views, the j-th view of a layer reading views j and j+1 (mod the
-- layer's size) of the layer above, so that neighbours share a source and
-- every two layers form diamonds.  Every view has 10 rows and a unique index,
-- and commits on its own (a thousand views in one transaction would need a
-- large lock table).  The table bench_graph_node lists the views, their
-- component, layer and sources.

CREATE TABLE bench_graph_node (
    prefix    text NOT NULL,
    ord       int NOT NULL,
    name      text NOT NULL,
    component int NOT NULL,
    layer     int NOT NULL,
    sources   text[] NOT NULL,
    PRIMARY KEY (prefix, ord)
);

CREATE PROCEDURE bench_make_graph(prefix text, views int, components int, roots int, width int)
LANGUAGE plpgsql
AS $$
DECLARE
    per_part int := views / components;
    ord int := 0;
    c int;
    layer int;
    j int;
    made int;
    prev text[];
    cur text[];
    name text;
    srcs text[];
BEGIN
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v int NOT NULL)', prefix || '_base');
    EXECUTE format('INSERT INTO %I SELECT g, g FROM generate_series(1, 10) g', prefix || '_base');
    FOR c IN 0 .. components - 1 LOOP
        made := 0;
        layer := 0;
        prev := '{}';
        cur := '{}';
        WHILE made < per_part + CASE WHEN c < views % components THEN 1 ELSE 0 END LOOP
            IF layer = 0 AND cardinality(cur) = roots OR layer > 0 AND cardinality(cur) = width THEN
                prev := cur;
                cur := '{}';
                layer := layer + 1;
            END IF;
            ord := ord + 1;
            made := made + 1;
            name := format('%s_%s', prefix, lpad(ord::text, 4, '0'));
            j := cardinality(cur);
            IF layer = 0 THEN
                srcs := ARRAY[prefix || '_base'];
                EXECUTE format('CREATE MATERIALIZED VIEW %I AS SELECT id, v + %s AS v FROM %I',
                               name, ord, srcs[1]);
            ELSE
                srcs := ARRAY[prev[1 + j % cardinality(prev)]];
                IF cardinality(prev) > 1 THEN
                    srcs := srcs || prev[1 + (j + 1) % cardinality(prev)];
                END IF;
                EXECUTE format('CREATE MATERIALIZED VIEW %I AS SELECT a.id, a.v + b.v AS v FROM %I a JOIN %I b USING (id)',
                               name, srcs[1], srcs[cardinality(srcs)]);
            END IF;
            EXECUTE format('CREATE UNIQUE INDEX ON %I (id)', name);
            INSERT INTO bench_graph_node VALUES (prefix, ord, name, c, layer, srcs);
            cur := cur || name;
            COMMIT;
        END LOOP;
    END LOOP;
END
$$;

-- Refresh every view of a graph once, in dependency order, each in its own
-- transaction, the way a cascade does: mode 'bare' runs REFRESH MATERIALIZED
-- VIEW CONCURRENTLY, mode 'run' calls metrics_refresh_run().  Both statements
-- go through EXECUTE, so that the loop costs the two modes the same.
CREATE PROCEDURE bench_refresh_each(prefix text, mode text)
LANGUAGE plpgsql
AS $$
DECLARE
    v text;
    st text;
BEGIN
    FOR v IN SELECT name FROM bench_graph_node n WHERE n.prefix = bench_refresh_each.prefix ORDER BY ord LOOP
        IF mode = 'bare' THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I', v);
        ELSE
            EXECUTE format('SELECT metrics_refresh_run(%L)->>''status''', v) INTO st;
            IF st <> 'success' THEN
                RAISE EXCEPTION 'metrics_refresh_run(%) ended %', v, st;
            END IF;
        END IF;
        COMMIT;
    END LOOP;
END
$$;

-- A cascade from every root of a graph (layer 0), one after the other;
-- returns the number of runs and how many succeeded.
CREATE FUNCTION bench_cascade_roots(prefix text, OUT runs int, OUT successes int)
LANGUAGE plpgsql
AS $$
DECLARE
    r text;
    res jsonb;
BEGIN
    runs := 0;
    successes := 0;
    FOR r IN SELECT name FROM bench_graph_node n WHERE n.prefix = bench_cascade_roots.prefix AND layer = 0 ORDER BY ord LOOP
        res := metrics_refresh_cascade(r::regclass);
        runs := runs + jsonb_array_length(res->'run_ids');
        successes := successes + coalesce((res->'counts'->>'success')::int, 0);
    END LOOP;
END
$$;
