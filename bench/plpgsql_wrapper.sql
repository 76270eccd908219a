-- The classic way to get a logged refresh, for comparison with
-- metrics_refresh_run(): a PL/pgSQL function with an EXCEPTION block that
-- refreshes concurrently, times the refresh with clock_timestamp(), writes
-- one row to its own log table and returns a small result object.  A failed
-- refresh is rolled back by the EXCEPTION block, logged and returned.
--
-- Loaded by bench/run into the benchmark database (psql, as superuser).

CREATE TABLE bench_plpgsql_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view_name     text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    duration_ms   double precision NOT NULL,
    status        text NOT NULL,
    triggered_by  name NOT NULL,
    sqlstate      text,
    error_message text
);
CREATE INDEX ON bench_plpgsql_log (view_name, started_at);

CREATE FUNCTION bench_plpgsql_refresh(view regclass)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t0      timestamptz := clock_timestamp();
    t1      timestamptz;
    st      text := 'success';
    state   text;
    msg     text;
    run_id  bigint;
BEGIN
    BEGIN
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', view);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        st := 'error';
    END;
    t1 := clock_timestamp();
    INSERT INTO public.bench_plpgsql_log
        (view_name, started_at, finished_at, duration_ms, status, triggered_by, sqlstate, error_message)
    VALUES (view::text, t0, t1, extract(epoch FROM t1 - t0) * 1000, st, current_user, state, msg)
    RETURNING id INTO run_id;
    RETURN jsonb_build_object('success', st = 'success', 'status', st, 'run_id', run_id,
                              'duration_ms', extract(epoch FROM t1 - t0) * 1000,
                              'sqlstate', state, 'message', msg);
END
$$;
