-- The Platform Metrics Overview of the admin dashboard reads the platform
-- view through this function, so that it works over PostgREST's RPC contract
-- (POST /rpc/platform_metrics_overview) like the rest of the page.  Create it
-- in a schema your PostgREST / Supabase API exposes, and name it in the
-- component's overview-rpc attribute.  Adapt the view's name and columns.
--
-- It returns json (not jsonb) so that the columns keep their order.
-- It runs with the caller's rights: who may see the totals is decided by
-- GRANT SELECT on the view.  It returns NULL while the view has never been
-- refreshed (reading it would raise 55000).

CREATE FUNCTION public.platform_metrics_overview()
RETURNS json
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT c.relispopulated FROM pg_catalog.pg_class c
            WHERE c.oid = 'public.platform_metrics'::pg_catalog.regclass) THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT pg_catalog.to_json(m)
            FROM (SELECT total_accounts, total_users, total_assets, last_updated
                  FROM public.platform_metrics LIMIT 1) AS m);
END
$$;

COMMENT ON FUNCTION public.platform_metrics_overview() IS
    'Platform totals for the admin dashboard: total_accounts, total_users, total_assets, last_updated';

REVOKE ALL ON FUNCTION public.platform_metrics_overview() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.platform_metrics_overview() TO authenticated;
