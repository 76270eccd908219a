/*-------------------------------------------------------------------------
 *
 * monitor.c
 *		Reading the refresh log for the admin dashboard: status card, overview,
 *		timeline and history.  Reads only: lost background runs are corrected
 *		by log.c before these functions are called (see monitor_entry in
 *		metrics_refresh.c).
 *
 * Callers have checked access, pinned search_path and connected to SPI.  The
 * queries run as the log's owner (PUBLIC cannot read the log) and each reads
 * only its window through the (view_name, started_at) indexes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "metrics_refresh.h"

/* At most this many buckets in one timeline. */
#define MAX_BUCKETS 10000

/*
 * The status of the views named in $1 (text[]) over the window that starts
 * at $2 (timestamptz, see window_start), from the log: one row per name, in
 * the array's order.  "Last run" is the latest success, error or unchanged
 * run (skipped and running rows are ignored); "fresh as of" the latest
 * success or unchanged run; health is decided in the documented order:
 * unknown, failing, stale (no success or unchanged run within stale_after),
 * degraded, healthy.  The last run, last success, freshness and last error
 * are the latest of any age (each one index probe); the counts and
 * durations cover the window; durations are those of refreshes (success
 * and error), not an unchanged run's decision time.
 */
#define STATUS_SQL \
	"SELECT v.view_name, " \
	"  CASE WHEN l.status IS NULL THEN 'unknown' " \
	"       WHEN l.status = 'error' THEN 'failing' " \
	"       WHEN f.finished_at IS NULL " \
	"         OR f.finished_at < now() - COALESCE(c.stale_after, interval '15 minutes') THEN 'stale' " \
	"       WHEN a.failed > 0 THEN 'degraded' " \
	"       ELSE 'healthy' END AS status, " \
	"  l.finished_at AS last_refresh_at, s.finished_at AS last_success_at, " \
	"  f.finished_at AS fresh_as_of, " \
	"  l.status AS last_status, e.error_message AS last_error, " \
	"  a.total, a.successful, a.failed, a.skipped, a.unchanged, " \
	"  round(100.0 * a.successful / NULLIF(a.successful + a.failed, 0), 1) AS success_rate, " \
	"  round(a.avg_ms::numeric, 3)::float8 AS avg_duration_ms, " \
	"  a.min_ms AS min_duration_ms, a.max_ms AS max_duration_ms, " \
	"  round(a.p95_ms::numeric, 3)::float8 AS p95_duration_ms, " \
	"  COALESCE(c.stale_after, interval '15 minutes') AS stale_after " \
	"FROM unnest($1::text[]) WITH ORDINALITY AS v(view_name, ord) " \
	"LEFT JOIN %s.metrics_refresh_config c ON c.view_name = v.view_name " \
	"LEFT JOIN LATERAL (SELECT r.status, r.finished_at FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status IN ('success', 'error', 'unchanged') " \
	"  ORDER BY r.started_at DESC, r.id DESC LIMIT 1) l ON true " \
	"LEFT JOIN LATERAL (SELECT r.finished_at FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status = 'success' " \
	"  ORDER BY r.started_at DESC, r.id DESC LIMIT 1) s ON true " \
	"LEFT JOIN LATERAL (SELECT r.finished_at FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status IN ('success', 'unchanged') " \
	"  ORDER BY r.started_at DESC, r.id DESC LIMIT 1) f ON true " \
	"LEFT JOIN LATERAL (SELECT r.error_message FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status = 'error' " \
	"  ORDER BY r.started_at DESC, r.id DESC LIMIT 1) e ON true " \
	"CROSS JOIN LATERAL (SELECT count(*) AS total, " \
	"  count(*) FILTER (WHERE r.status = 'success') AS successful, " \
	"  count(*) FILTER (WHERE r.status = 'error') AS failed, " \
	"  count(*) FILTER (WHERE r.status = 'skipped') AS skipped, " \
	"  count(*) FILTER (WHERE r.status = 'unchanged') AS unchanged, " \
	"  avg(r.duration_ms) FILTER (WHERE r.status IN ('success', 'error')) AS avg_ms, " \
	"  min(r.duration_ms) FILTER (WHERE r.status IN ('success', 'error')) AS min_ms, " \
	"  max(r.duration_ms) FILTER (WHERE r.status IN ('success', 'error')) AS max_ms, " \
	"  percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) " \
	"    FILTER (WHERE r.status IN ('success', 'error')) AS p95_ms " \
	"  FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.started_at >= $2) a " \
	"ORDER BY v.ord"

/*
 * The overview of every scheduled view and every view with a run in the
 * window, from the cumulative statistics (latest runs) and the rollups
 * (counts and durations of the window), never from the log's counted runs,
 * so that it answers in a few milliseconds for thousands of views.  $1 is
 * the start of the hour that holds the window's start: the window is whole
 * hours, as the timeline's first bucket is; $2 is the first 6-hour block
 * boundary at or after $1.  The window's rows, per view (stats.c): the
 * hourly row of $1 (the runs from $1 to $2; none when $1 starts a block),
 * the 6-hourly rows from $2 on, and the runs not counted yet, one by one:
 * 5 rows for 24 hours, and the runs of the last minutes.  One aggregate
 * (metrics_refresh_window_sum, stats.c) sums them and computes the figures:
 * success rate, average (rounded as round(x::numeric, 3)), p95 estimated
 * from the rollups' fine histogram (the bucket of the nearest-rank value: within a ratio of 1.26 above 1 ms).  w takes its result
 * apart before anything stores it (OFFSET 0 keeps w a subquery): a
 * composite stored in a tuple is read back through a copy, field by field.
 * The names are those of the scheduled views and of the views with runs in
 * the window (a view run but not configured has no configuration row).
 */
#define OVERVIEW_SQL \
	"WITH w AS (SELECT x.view_name, (x.s).total, (x.s).successful, (x.s).failed, (x.s).skipped, " \
	"    (x.s).unchanged, (x.s).success_rate, (x.s).avg_duration_ms, (x.s).min_duration_ms, " \
	"    (x.s).max_duration_ms, (x.s).p95_duration_ms " \
	"  FROM (SELECT r.view_name, " \
	"    %s.metrics_refresh_window_sum(r.total, r.successful, r.failed, r.skipped, r.unchanged, " \
	"      r.timed_runs, r.total_ms, r.min_ms, r.max_ms, r.buckets, r.duration_ms) AS s " \
	"  FROM (SELECT view_name, successful + failed + skipped + unchanged AS total, successful, failed, " \
	"          skipped, unchanged, timed_runs, total_ms, min_ms, max_ms, buckets, " \
	"          NULL::float8 AS duration_ms " \
	"        FROM %s.metrics_refresh_hourly WHERE hour = $1 " \
	"        UNION ALL " \
	"        SELECT view_name, successful + failed + skipped + unchanged, successful, failed, " \
	"          skipped, unchanged, timed_runs, total_ms, min_ms, max_ms, buckets, NULL " \
	"        FROM %s.metrics_refresh_6hourly WHERE hour >= $2 " \
	"        UNION ALL " \
	"        SELECT view_name, 1, (status = 'success')::integer, (status = 'error')::integer, " \
	"          (status = 'skipped')::integer, (status = 'unchanged')::integer, " \
	"          (d IS NOT NULL)::integer, d, d, d, NULL, d " \
	"        FROM (SELECT view_name, status, " \
	"                CASE WHEN status IN ('success', 'error') THEN duration_ms END AS d " \
	"              FROM %s.metrics_refresh_log WHERE NOT counted AND started_at >= $1) l) r " \
	"  GROUP BY r.view_name) x OFFSET 0) " \
	"SELECT coalesce(c.view_name, w.view_name) AS view_name, " \
	"  CASE WHEN k.last_outcome IS NULL THEN 'unknown' " \
	"       WHEN k.last_outcome = 'error' THEN 'failing' " \
	"       WHEN k.fresh_as_of IS NULL " \
	"         OR k.fresh_as_of < now() - COALESCE(c.stale_after, interval '15 minutes') THEN 'stale' " \
	"       WHEN COALESCE(w.failed, 0) > 0 THEN 'degraded' " \
	"       ELSE 'healthy' END AS status, " \
	"  k.last_outcome_at AS last_refresh_at, k.last_success_at, k.fresh_as_of, " \
	"  k.last_outcome AS last_status, k.last_error, " \
	"  COALESCE(w.total, 0), COALESCE(w.successful, 0), COALESCE(w.failed, 0), " \
	"  COALESCE(w.skipped, 0), COALESCE(w.unchanged, 0), w.success_rate, " \
	"  w.avg_duration_ms, w.min_duration_ms, w.max_duration_ms, w.p95_duration_ms, " \
	"  COALESCE(c.stale_after, interval '15 minutes') " \
	"FROM %s.metrics_refresh_config c FULL JOIN w ON w.view_name = c.view_name " \
	"LEFT JOIN %s.metrics_refresh_counters_current k ON k.view_name = coalesce(c.view_name, w.view_name) " \
	"WHERE c.schedule IS NOT NULL OR w.view_name IS NOT NULL " \
	"ORDER BY 1"

/*
 * The overview's plan, prepared on a session's first call and kept, for one
 * installation of the extension (see ensure_plans() in log.c: a plan names
 * the schema).
 */
static struct
{
	MrPlanKey	key;
	SPIPlanPtr	plan;
}			overview_plan;

/*
 * Run a query with arguments; raise on anything but SPI_OK_SELECT.  Not in
 * read-only mode, so that it takes a new snapshot and sees what
 * mr_log_reap() just corrected.
 */
static void
select_with_args(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/*
 * Copy the rows of the last SPI query into the function's materialized
 * result.  The query's columns match the function's declared result.
 */
static void
spi_rows_to_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc = rsinfo->setDesc;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	uint64		i;

	if (SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "query returned %d columns, function declares %d",
			 SPI_tuptable->tupdesc->natts, desc->natts);
	for (i = 0; i < SPI_processed; i++)
	{
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
	}
}

/*
 * Reject a negative interval argument (or, unless zero_ok, a zero one) with
 * 22023.
 */
void
mr_check_interval_arg(Datum d, const char *argname, bool zero_ok)
{
	int			sign = mr_interval_sign(d);

	if (sign < 0 || (sign == 0 && !zero_ok))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a %s interval", argname,
						zero_ok ? "non-negative" : "positive")));
}

/*
 * now() - window, computed here and passed to the queries as a value, so
 * that the planner knows how recent the window is and reads it through the
 * (view_name, started_at) index.
 */
static Datum
window_start(Datum window)
{
	return DirectFunctionCall2(timestamptz_mi_interval,
							   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
							   window);
}

/*
 * The status object of one view (metrics_refresh_status): every key always
 * present, null where there is nothing to report.
 */
Datum
mr_status_json(const MrExtension *ext, const char *view_name, Datum window)
{
	Oid			types[2] = {TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		values[2];
	Datum		name = CStringGetTextDatum(view_name);
	const char *q;
	char	   *sql;
	MrSavedUser saved;
	bool		isnull;
	Datum		d;

	mr_check_interval_arg(window, "time_window", true);
	q = ext->nspname_q;
	sql = psprintf("SELECT to_jsonb(x) - 'view_name' - 'stale_after' "
				   "|| jsonb_build_object('view', x.view_name, 'stale_after', x.stale_after::text) "
				   "FROM (" STATUS_SQL ") x", q, q, q, q, q, q);
	values[0] = PointerGetDatum(construct_array(&name, 1, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = window_start(window);

	mr_become_extension_owner(ext, &saved);
	select_with_args(sql, 2, types, values, NULL);
	mr_restore_user(&saved);

	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return SPI_datumTransfer(JsonbPGetDatum(DatumGetJsonbP(d)), false, -1);
}

/*
 * The rows of metrics_refresh_overview (metrics_refresh_status_all): every
 * scheduled view and every view with a run in the window, by name, from the
 * statistics and the rollups (OVERVIEW_SQL).
 */
void
mr_status_rows(const MrExtension *ext, FunctionCallInfo fcinfo, Datum window)
{
	const char *q = ext->nspname_q;
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	TimestampTz start;
	int64		r;
	MrSavedUser saved;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SPIExecuteOptions options = {0};
	ParamListInfo params;
	DestReceiver *dest;
	int			ret;
	int			i;

	mr_check_interval_arg(window, "time_window", true);
	if (ext->version < 10100)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the metrics_refresh overview needs the extension's version 1.1.0 objects"),
				 errhint("Run ALTER EXTENSION metrics_refresh UPDATE.")));
	/* The hour that holds the window's start, and the next block boundary. */
	start = DatumGetTimestampTz(window_start(window));
	/* An infinite window ('infinity') starts at the earliest timestamp. */
	if (TIMESTAMP_NOT_FINITE(start) || start < MIN_TIMESTAMP)
		start = MIN_TIMESTAMP;
	r = start % USECS_PER_HOUR;
	start -= r < 0 ? r + USECS_PER_HOUR : r;
	values[0] = TimestampTzGetDatum(start);
	r = start % (6 * USECS_PER_HOUR);
	if (r < 0)
		r += 6 * USECS_PER_HOUR;
	values[1] = TimestampTzGetDatum(r == 0 ? start : start - r + 6 * USECS_PER_HOUR);

	mr_become_extension_owner(ext, &saved);
	if (!mr_plan_key_matches(&overview_plan.key, ext))
	{
		overview_plan.key.extoid = InvalidOid;
		if (overview_plan.plan != NULL)
			SPI_freeplan(overview_plan.plan);
		overview_plan.plan = NULL;
		overview_plan.plan = mr_prepare_kept(psprintf(OVERVIEW_SQL, q, q, q, q, q, q), 2, types);
		mr_plan_key_set(&overview_plan.key, ext);
	}
	/*
	 * The rows go straight into the function's result (no copy in an SPI
	 * tuple table); the columns must be the result's.  Not read-only: a new
	 * snapshot sees what mr_log_reap() just corrected.
	 */
	params = makeParamList(2);
	for (i = 0; i < 2; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult, rsinfo->econtext->ecxt_per_query_memory,
									false, rsinfo->setDesc,
									"the overview's columns do not match metrics_refresh_status_all's result");
	options.params = params;
	options.read_only = false;
	options.dest = dest;
	ret = SPI_execute_plan_extended(overview_plan.plan, &options);
	mr_restore_user(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan_extended failed for the overview: %s", SPI_result_code_string(ret));
	dest->rDestroy(dest);
}

/*
 * metrics_refresh_timeline: one row per bucket from the bucket holding
 * now() - window to the one holding now(), empty buckets included.
 */
void
mr_timeline_rows(const MrExtension *ext, FunctionCallInfo fcinfo, const char *view_name,
				 Datum window, Datum bucket)
{
	Interval   *b = DatumGetIntervalP(bucket);
	Interval   *w = DatumGetIntervalP(window);
	int64		bucket_us;
	int64		window_us;
	int64		day_us;
	Oid			types[5] = {TEXTOID, INTERVALOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	Datum		origin;
	Datum		now;
	Datum		first;
	Datum		last;
	char	   *sql;
	MrSavedUser saved;

	mr_check_interval_arg(window, "time_window", true);
	if (b->month != 0 || b->day < 0 || b->time < 0 || (b->day == 0 && b->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket must be a positive interval without months or years"),
				 errhint("Use e.g. '5 minutes', '1 hour' or '1 day'.")));
	if (pg_mul_s64_overflow((int64) b->day, USECS_PER_DAY, &bucket_us) ||
		pg_add_s64_overflow(bucket_us, b->time, &bucket_us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket is too long"),
				 errhint("Use e.g. '5 minutes', '1 hour' or '1 day'.")));
	/* A window too long for microseconds (an infinite one, say) holds too many. */
	if (pg_mul_s64_overflow((int64) w->month, (int64) DAYS_PER_MONTH * USECS_PER_DAY, &window_us) ||
		pg_mul_s64_overflow((int64) w->day, USECS_PER_DAY, &day_us) ||
		pg_add_s64_overflow(window_us, day_us, &window_us) ||
		pg_add_s64_overflow(window_us, w->time, &window_us) ||
		window_us / bucket_us + 2 > MAX_BUCKETS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time_window holds more than %d buckets", MAX_BUCKETS),
				 errhint("Use a larger bucket or a shorter window.")));


	/*
	 * The first and last bucket starts are computed here and passed as
	 * values, so that the planner sees how recent the window is and reads it
	 * through the (view_name, started_at) index; with an expression of now()
	 * it may prefer the started_at index and filter out every other view's
	 * runs of the window.
	 */
	origin = DirectFunctionCall3(timestamptz_in, CStringGetDatum("2001-01-01 00:00:00+00"),
								 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	first = DirectFunctionCall3(timestamptz_bin, bucket,
								DirectFunctionCall2(timestamptz_mi_interval, now, window),
								origin);
	last = DirectFunctionCall3(timestamptz_bin, bucket, now, origin);

	sql = psprintf("WITH r AS ("
				   "SELECT date_bin($2, started_at, $5) AS b, "
				   "count(*) AS runs, "
				   "count(*) FILTER (WHERE status = 'success') AS successes, "
				   "count(*) FILTER (WHERE status = 'error') AS failures, "
				   "count(*) FILTER (WHERE status = 'unchanged') AS unchanged, "
				   "avg(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS avg_ms, "
				   "max(duration_ms) FILTER (WHERE status IN ('success', 'error')) AS max_ms "
				   "FROM %s.metrics_refresh_log "
				   "WHERE view_name = $1 AND started_at >= $3 "
				   "GROUP BY 1) "
				   "SELECT g, COALESCE(r.runs, 0), COALESCE(r.successes, 0), COALESCE(r.failures, 0), "
				   "round(r.avg_ms::numeric, 3)::float8, r.max_ms%s "
				   "FROM generate_series($3, $4, $2) AS g "
				   "LEFT JOIN r ON r.b = g ORDER BY g", ext->nspname_q,
				   /* 1.0.0's function (until ALTER EXTENSION ... UPDATE) has no "unchanged" */
				   ext->version >= 10100 ? ", COALESCE(r.unchanged, 0)" : "");
	values[0] = CStringGetTextDatum(view_name);
	values[1] = bucket;
	values[2] = first;
	values[3] = last;
	values[4] = origin;

	mr_become_extension_owner(ext, &saved);
	select_with_args(sql, 5, types, values, NULL);
	mr_restore_user(&saved);
	spi_rows_to_srf(fcinfo);
}

/* The log's columns that metrics_refresh_history returns. */
#define HISTORY_COLUMNS \
	"id, view_name, started_at, finished_at, duration_ms, status, method, source, " \
	"triggered_by, sqlstate, error_message, error_detail, error_hint, skip_reason, cascade_id"

/*
 * metrics_refresh_history: newest first, one view or (view_name NULL) all,
 * at most max_rows rows unless no_limit; with before_id > 0, only runs
 * older than that run (the next page).
 */
void
mr_history_rows(const MrExtension *ext, FunctionCallInfo fcinfo, const char *view_name,
				int32 max_rows, bool no_limit, int64 before_id)
{
	Oid			types[3] = {INT8OID, INT8OID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *sql;
	MrSavedUser saved;
	const char *page;
	const char *columns = ext->version >= 10100 ? HISTORY_COLUMNS : "*";	/* 1.0.0: the log's */

	if (!no_limit && max_rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must not be negative")));

	/*
	 * One statement per case, so that each has a plan that uses its index;
	 * a page continues from the (started_at, id) of the run before it.
	 */
	page = before_id > 0 ?
		psprintf("AND (started_at, id) < (SELECT b.started_at, b.id FROM %s.metrics_refresh_log b "
				 "WHERE b.id = $2) ", ext->nspname_q) : "AND $2 IS NULL ";
	if (view_name)
		sql = psprintf("SELECT %s FROM %s.metrics_refresh_log WHERE view_name = $3 %s"
					   "ORDER BY started_at DESC, id DESC LIMIT $1", columns, ext->nspname_q, page);
	else
		sql = psprintf("SELECT %s FROM %s.metrics_refresh_log WHERE true %s"
					   "ORDER BY started_at DESC, id DESC LIMIT $1", columns, ext->nspname_q, page);
	values[0] = Int64GetDatum(max_rows);
	nulls[0] = no_limit ? 'n' : ' ';
	values[1] = Int64GetDatum(before_id);
	nulls[1] = before_id > 0 ? ' ' : 'n';
	values[2] = view_name ? CStringGetTextDatum(view_name) : (Datum) 0;

	mr_become_extension_owner(ext, &saved);
	select_with_args(sql, view_name ? 3 : 2, types, values, nulls);
	mr_restore_user(&saved);
	spi_rows_to_srf(fcinfo);
}

/*
 * The rows of metrics_refresh_stats: one per view ever run, cumulative
 * since its last reset, by name.
 */
void
mr_stats_rows(const MrExtension *ext, FunctionCallInfo fcinfo)
{
	MrSavedUser saved;

	if (ext->version < 10100)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("metrics_refresh statistics need the extension's version 1.1.0 objects"),
				 errhint("Run ALTER EXTENSION metrics_refresh UPDATE.")));
	mr_become_extension_owner(ext, &saved);
	select_with_args(psprintf("SELECT view_name, successful, failed, skipped, unchanged, "
							  "total_duration_ms, min_duration_ms, max_duration_ms, "
							  "total_duration_ms / NULLIF(timed_runs, 0) AS mean_duration_ms, "
							  "duration_le_10ms, duration_le_100ms, duration_le_1s, duration_le_10s, "
							  "duration_le_60s, duration_le_300s, duration_le_1800s, "
							  "timed_runs AS duration_le_inf, "
							  "last_run_at, last_status, last_success_at, fresh_as_of, "
							  "last_error_at, last_error, stats_reset "
							  "FROM %s.metrics_refresh_counters_current ORDER BY view_name",
							  ext->nspname_q),
					 0, NULL, NULL, NULL);
	mr_restore_user(&saved);
	spi_rows_to_srf(fcinfo);
}
