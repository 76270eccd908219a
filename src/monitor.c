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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
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
 * at $2 (timestamptz, see window_start): one row per name, in the array's order.  "Last run" ignores
 * skipped and running rows; health is decided in the documented order:
 * unknown, failing, stale, degraded, healthy.  The last run, last success
 * and last error are the latest of any age (each one index probe); the
 * counts and durations cover the window.
 */
#define STATUS_SQL \
	"SELECT v.view_name, " \
	"  CASE WHEN l.status IS NULL THEN 'unknown' " \
	"       WHEN l.status = 'error' THEN 'failing' " \
	"       WHEN s.finished_at IS NULL " \
	"         OR s.finished_at < now() - COALESCE(c.stale_after, interval '15 minutes') THEN 'stale' " \
	"       WHEN a.failed > 0 THEN 'degraded' " \
	"       ELSE 'healthy' END AS status, " \
	"  l.finished_at AS last_refresh_at, s.finished_at AS last_success_at, " \
	"  l.status AS last_status, e.error_message AS last_error, " \
	"  a.total, a.successful, a.failed, a.skipped, " \
	"  round(100.0 * a.successful / NULLIF(a.successful + a.failed, 0), 1) AS success_rate, " \
	"  round(a.avg_ms::numeric, 3)::float8 AS avg_duration_ms, " \
	"  a.min_ms AS min_duration_ms, a.max_ms AS max_duration_ms, " \
	"  round(a.p95_ms::numeric, 3)::float8 AS p95_duration_ms, " \
	"  COALESCE(c.stale_after, interval '15 minutes') AS stale_after " \
	"FROM unnest($1::text[]) WITH ORDINALITY AS v(view_name, ord) " \
	"LEFT JOIN %s.metrics_refresh_config c ON c.view_name = v.view_name " \
	"LEFT JOIN LATERAL (SELECT r.status, r.finished_at FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status IN ('success', 'error') " \
	"  ORDER BY r.started_at DESC LIMIT 1) l ON true " \
	"LEFT JOIN LATERAL (SELECT r.finished_at FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status = 'success' " \
	"  ORDER BY r.started_at DESC LIMIT 1) s ON true " \
	"LEFT JOIN LATERAL (SELECT r.error_message FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.status = 'error' " \
	"  ORDER BY r.started_at DESC LIMIT 1) e ON true " \
	"CROSS JOIN LATERAL (SELECT count(*) AS total, " \
	"  count(*) FILTER (WHERE r.status = 'success') AS successful, " \
	"  count(*) FILTER (WHERE r.status = 'error') AS failed, " \
	"  count(*) FILTER (WHERE r.status = 'skipped') AS skipped, " \
	"  avg(r.duration_ms) AS avg_ms, min(r.duration_ms) AS min_ms, max(r.duration_ms) AS max_ms, " \
	"  percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) AS p95_ms " \
	"  FROM %s.metrics_refresh_log r " \
	"  WHERE r.view_name = v.view_name AND r.started_at >= $2) a " \
	"ORDER BY v.ord"

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
				   "FROM (" STATUS_SQL ") x", q, q, q, q, q);
	values[0] = PointerGetDatum(construct_array(&name, 1, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = window_start(window);

	mr_become_extension_owner(ext, &saved);
	select_with_args(sql, 2, types, values, NULL);
	mr_restore_user(&saved);

	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return SPI_datumTransfer(JsonbPGetDatum(DatumGetJsonbP(d)), false, -1);
}

/*
 * The rows of metrics_refresh_overview: every scheduled view and every view
 * with a run in the window, by name.
 */
void
mr_status_rows(const MrExtension *ext, FunctionCallInfo fcinfo, Datum window)
{
	const char *q;
	Oid			types[2] = {TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		values[2];
	char	   *sql;
	MrSavedUser saved;
	bool		isnull;

	mr_check_interval_arg(window, "time_window", true);
	q = ext->nspname_q;
	mr_become_extension_owner(ext, &saved);

	/*
	 * The names first: configured views, and views run within the window.
	 * The distinct names of the log are found by skipping through the
	 * (view_name, started_at) index, one probe per name, not by reading
	 * every run of the window.
	 */
	sql = psprintf("WITH RECURSIVE logged(n) AS ("
				   "  (SELECT view_name FROM %s.metrics_refresh_log ORDER BY view_name LIMIT 1) "
				   "  UNION ALL "
				   "  SELECT (SELECT l.view_name FROM %s.metrics_refresh_log l "
				   "          WHERE l.view_name > logged.n ORDER BY l.view_name LIMIT 1) "
				   "  FROM logged WHERE logged.n IS NOT NULL) "
				   "SELECT COALESCE(array_agg(n ORDER BY n), '{}') FROM ("
				   "  SELECT view_name AS n FROM %s.metrics_refresh_config "
				   "  UNION "
				   "  SELECT logged.n FROM logged WHERE logged.n IS NOT NULL AND EXISTS ("
				   "    SELECT FROM %s.metrics_refresh_log l "
				   "    WHERE l.view_name = logged.n AND l.started_at >= $1)) names",
				   q, q, q, q);
	values[1] = window_start(window);
	select_with_args(sql, 1, &types[1], &values[1], NULL);
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

	sql = psprintf("SELECT view_name, status, last_refresh_at, last_success_at, last_status, "
				   "last_error, total, successful, failed, skipped, success_rate, "
				   "avg_duration_ms, min_duration_ms, max_duration_ms, p95_duration_ms "
				   "FROM (" STATUS_SQL ") x", q, q, q, q, q);
	select_with_args(sql, 2, types, values, NULL);
	mr_restore_user(&saved);
	spi_rows_to_srf(fcinfo);
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
	Oid			types[5] = {TEXTOID, INTERVALOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	Datum		origin;
	Datum		now;
	Datum		first;
	Datum		last;
	char	   *sql;
	MrSavedUser saved;

	mr_check_interval_arg(window, "time_window", true);
	bucket_us = (int64) b->day * USECS_PER_DAY + b->time;
	if (b->month != 0 || b->day < 0 || b->time < 0 || bucket_us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket must be a positive interval without months or years"),
				 errhint("Use e.g. '5 minutes', '1 hour' or '1 day'.")));
	window_us = (int64) w->month * DAYS_PER_MONTH * USECS_PER_DAY +
		(int64) w->day * USECS_PER_DAY + w->time;
	if (window_us / bucket_us + 2 > MAX_BUCKETS)
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
				   "avg(duration_ms) AS avg_ms, max(duration_ms) AS max_ms "
				   "FROM %s.metrics_refresh_log "
				   "WHERE view_name = $1 AND started_at >= $3 "
				   "GROUP BY 1) "
				   "SELECT g, COALESCE(r.runs, 0), COALESCE(r.successes, 0), COALESCE(r.failures, 0), "
				   "round(r.avg_ms::numeric, 3)::float8, r.max_ms "
				   "FROM generate_series($3, $4, $2) AS g "
				   "LEFT JOIN r ON r.b = g ORDER BY g", ext->nspname_q);
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

/*
 * metrics_refresh_history: newest first, one view or (view_name NULL) all,
 * at most max_rows rows unless no_limit.
 */
void
mr_history_rows(const MrExtension *ext, FunctionCallInfo fcinfo, const char *view_name,
				int32 max_rows, bool no_limit)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	char	   *sql;
	MrSavedUser saved;

	if (!no_limit && max_rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must not be negative")));

	/* Two statements, so that each has a plan that uses its index. */
	if (view_name)
		sql = psprintf("SELECT * FROM %s.metrics_refresh_log WHERE view_name = $2 "
					   "ORDER BY started_at DESC, id DESC LIMIT $1", ext->nspname_q);
	else
		sql = psprintf("SELECT * FROM %s.metrics_refresh_log "
					   "ORDER BY started_at DESC, id DESC LIMIT $1", ext->nspname_q);
	values[0] = Int64GetDatum(max_rows);
	nulls[0] = no_limit ? 'n' : ' ';
	values[1] = view_name ? CStringGetTextDatum(view_name) : (Datum) 0;

	mr_become_extension_owner(ext, &saved);
	select_with_args(sql, view_name ? 2 : 1, types, values, nulls);
	mr_restore_user(&saved);
	spi_rows_to_srf(fcinfo);
}
