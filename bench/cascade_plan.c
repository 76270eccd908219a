/*-------------------------------------------------------------------------
 *
 * cascade_plan.c
 *		Bench-only: bench_cascade_plan(view regclass) returns the number of
 *		views in the plan metrics_refresh_cascade() would make for the view
 *		(src/graph.c, mr_cascade_plan), without refreshing anything, so that
 *		bench/cascade can time the plan's discovery on its own.
 *
 * Built by bench/cascade into its scratch directory and loaded by absolute
 * path; never installed.  It finds mr_cascade_plan in the installed
 * metrics_refresh library at run time (load_external_function): the
 * library exports it for this (PGDLLEXPORT in src/metrics_refresh.h), while
 * it hides its other internal functions.  Against a library that does not
 * export it the function returns NULL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"

PG_MODULE_MAGIC;

typedef List *(*CascadePlanFn) (Oid root);

PG_FUNCTION_INFO_V1(bench_cascade_plan);

/*
 * bench_cascade_plan(view regclass) -> integer: the number of views in the
 * view's cascade plan; NULL when the library does not export the planner.
 */
Datum
bench_cascade_plan(PG_FUNCTION_ARGS)
{
	CascadePlanFn plan_fn;

	plan_fn = (CascadePlanFn) load_external_function("$libdir/metrics_refresh", "mr_cascade_plan",
													 false, NULL);
	if (plan_fn == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT32(list_length(plan_fn(PG_GETARG_OID(0))));
}
