/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Cumulative statistics per view (metrics_refresh_counters, read through
 *		the view metrics_refresh_stats) and the rollups the overview reads
 *		(metrics_refresh_hourly and metrics_refresh_6hourly).
 *
 * Rules:
 * - The log is the source: a run is written uncounted (its "counted"
 *   column), in the logging transaction, which costs the hot path one index
 *   entry and never waits for another session; mr_stats_fold() adds the
 *   finished uncounted runs to the counters and the rollups and marks them
 *   counted, so each is counted exactly once, however it reached the log
 *   (logged, restored, present before an upgrade).  Readers add the runs
 *   not counted yet: the view metrics_refresh_counters_current, and the
 *   overview's query (monitor.c).
 * - Counters are independent of log retention; metrics_refresh_stats_reset
 *   zeroes a view's counts and durations (not its latest runs: they still
 *   describe the view).  Rollup rows are kept as long as the log keeps
 *   runs, at least two days (retention).
 * - Two rollups of the same shape, per view and hour of start, and per view
 *   and 6-hour block of start (00, 06, 12, 18 UTC), each run in both: the
 *   overview's window of whole hours reads the hours before its first whole
 *   block, then the blocks: for 24 hours, 5 to 9 rows per view instead of
 *   25.  A fold writes one more row per view and hour than one rollup
 *   would.
 * - Durations are those of refreshes (success and error); an unchanged
 *   run's decision time and a skip are not durations of a refresh.
 * - The fine histogram of the rollups has HIST_BUCKETS buckets,
 *   ten per decade from 1 ms (bucket 0: up to 1 ms; bucket k: up to
 *   10^(k/10) ms; the last: everything above), so that a quantile estimated
 *   from it is within about 13% of the true value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "access/xact.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "metrics_refresh.h"

#define HIST_BUCKETS	70		/* 1 ms .. 10^6.8 ms (about 1.75 h), and above */

/* The fine-histogram bucket of a duration in ms (0-based). */
static int
hist_bucket(double ms)
{
	double		k;

	if (!(ms > 1.0))
		return 0;
	k = ceil(10.0 * log10(ms));
	return k >= HIST_BUCKETS - 1 ? HIST_BUCKETS - 1 : (int) k;
}

/* The upper bound (ms) of a fine-histogram bucket; the last is unbounded. */
static double
hist_upper(int k)
{
	return pow(10.0, k / 10.0);
}

/*
 * The body of the fold's upsert of the runs of d (see fold()) into a rollup
 * (metrics_refresh_hourly or metrics_refresh_6hourly, as h): per view and
 * the hour that START gives (the hour of start or its block's first hour).
 * Its two %s are the extension's schema.
 */
#define ROLLUP_UPSERT(start) \
	"  (view_name, hour, successful, failed, skipped, unchanged, " \
	"   timed_runs, total_ms, min_ms, max_ms, buckets) " \
	"  SELECT view_name, " start ", " \
	"   count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'), " \
	"   count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status = 'unchanged'), " \
	"   count(duration_ms), coalesce(sum(duration_ms), 0), min(duration_ms), max(duration_ms), " \
	"   %s.metrics_refresh_histogram(duration_ms) " \
	"  FROM d GROUP BY 1, 2 " \
	"  ON CONFLICT (view_name, hour) DO UPDATE SET " \
	"   successful = h.successful + EXCLUDED.successful, " \
	"   failed = h.failed + EXCLUDED.failed, skipped = h.skipped + EXCLUDED.skipped, " \
	"   unchanged = h.unchanged + EXCLUDED.unchanged, timed_runs = h.timed_runs + EXCLUDED.timed_runs, " \
	"   total_ms = h.total_ms + EXCLUDED.total_ms, min_ms = least(h.min_ms, EXCLUDED.min_ms), " \
	"   max_ms = greatest(h.max_ms, EXCLUDED.max_ms), " \
	"   buckets = %s.metrics_refresh_histogram_add(h.buckets, EXCLUDED.buckets)"

/*
 * The fold itself (see mr_stats_fold); the caller holds the fold lock.
 */
static void
fold(const MrExtension *ext)
{
	const char *q = ext->nspname_q;
	int			ret;

	ret = SPI_execute(psprintf("WITH d AS (UPDATE %s.metrics_refresh_log SET counted = true "
							   "  WHERE id = ANY (ARRAY(SELECT id FROM %s.metrics_refresh_log "
							   "    WHERE NOT counted AND status <> 'running' FOR UPDATE SKIP LOCKED)) "
							   "  RETURNING id, view_name, status, started_at, coalesce(finished_at, started_at) AS finished_at, error_message, "
							   "    date_bin('1 hour', started_at, '2001-01-01 00:00:00+00') AS hour, "
							   "    CASE WHEN status IN ('success', 'error') THEN duration_ms END AS duration_ms), "
							   "k AS (INSERT INTO %s.metrics_refresh_counters AS c "
							   "  (view_name, successful, failed, skipped, unchanged, timed_runs, "
							   "   total_duration_ms, min_duration_ms, max_duration_ms, "
							   "   duration_le_10ms, duration_le_100ms, duration_le_1s, duration_le_10s, "
							   "   duration_le_60s, duration_le_300s, duration_le_1800s, "
							   "   last_run_started, last_run_at, last_status, "
							   "   last_outcome_started, last_outcome_at, last_outcome, "
							   "   last_success_at, fresh_as_of, last_error_started, last_error_at, last_error, stats_reset) "
							   "  SELECT view_name, "
							   "   count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'), "
							   "   count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status = 'unchanged'), "
							   "   count(duration_ms), coalesce(sum(duration_ms), 0), min(duration_ms), max(duration_ms), "
							   "   count(*) FILTER (WHERE duration_ms <= 10), count(*) FILTER (WHERE duration_ms <= 100), "
							   "   count(*) FILTER (WHERE duration_ms <= 1000), count(*) FILTER (WHERE duration_ms <= 10000), "
							   "   count(*) FILTER (WHERE duration_ms <= 60000), count(*) FILTER (WHERE duration_ms <= 300000), "
							   "   count(*) FILTER (WHERE duration_ms <= 1800000), "
							   "   max(started_at), (array_agg(finished_at ORDER BY started_at DESC, id DESC))[1], "
							   "   (array_agg(status ORDER BY started_at DESC, id DESC))[1], "
							   "   max(started_at) FILTER (WHERE status <> 'skipped'), "
							   "   (array_agg(finished_at ORDER BY started_at DESC, id DESC) FILTER (WHERE status <> 'skipped'))[1], "
							   "   (array_agg(status ORDER BY started_at DESC, id DESC) FILTER (WHERE status <> 'skipped'))[1], "
							   "   max(finished_at) FILTER (WHERE status = 'success'), "
							   "   max(finished_at) FILTER (WHERE status IN ('success', 'unchanged')), "
							   "   max(started_at) FILTER (WHERE status = 'error'), "
							   "   (array_agg(finished_at ORDER BY started_at DESC, id DESC) FILTER (WHERE status = 'error'))[1], "
							   "   (array_agg(error_message ORDER BY started_at DESC, id DESC) FILTER (WHERE status = 'error'))[1], "
							   "   min(finished_at) "
							   "  FROM d GROUP BY view_name "
							   "  ON CONFLICT (view_name) DO UPDATE SET "
							   "   successful = c.successful + EXCLUDED.successful, failed = c.failed + EXCLUDED.failed, "
							   "   skipped = c.skipped + EXCLUDED.skipped, unchanged = c.unchanged + EXCLUDED.unchanged, "
							   "   timed_runs = c.timed_runs + EXCLUDED.timed_runs, "
							   "   total_duration_ms = c.total_duration_ms + EXCLUDED.total_duration_ms, "
							   "   min_duration_ms = least(c.min_duration_ms, EXCLUDED.min_duration_ms), "
							   "   max_duration_ms = greatest(c.max_duration_ms, EXCLUDED.max_duration_ms), "
							   "   duration_le_10ms = c.duration_le_10ms + EXCLUDED.duration_le_10ms, "
							   "   duration_le_100ms = c.duration_le_100ms + EXCLUDED.duration_le_100ms, "
							   "   duration_le_1s = c.duration_le_1s + EXCLUDED.duration_le_1s, "
							   "   duration_le_10s = c.duration_le_10s + EXCLUDED.duration_le_10s, "
							   "   duration_le_60s = c.duration_le_60s + EXCLUDED.duration_le_60s, "
							   "   duration_le_300s = c.duration_le_300s + EXCLUDED.duration_le_300s, "
							   "   duration_le_1800s = c.duration_le_1800s + EXCLUDED.duration_le_1800s, "
							   "   last_run_at = CASE WHEN EXCLUDED.last_run_started >= c.last_run_started OR c.last_run_started IS NULL "
							   "     THEN EXCLUDED.last_run_at ELSE c.last_run_at END, "
							   "   last_status = CASE WHEN EXCLUDED.last_run_started >= c.last_run_started OR c.last_run_started IS NULL "
							   "     THEN EXCLUDED.last_status ELSE c.last_status END, "
							   "   last_run_started = greatest(c.last_run_started, EXCLUDED.last_run_started), "
							   "   last_outcome_at = CASE WHEN EXCLUDED.last_outcome_started >= c.last_outcome_started OR c.last_outcome_started IS NULL "
							   "     THEN EXCLUDED.last_outcome_at ELSE c.last_outcome_at END, "
							   "   last_outcome = CASE WHEN EXCLUDED.last_outcome_started >= c.last_outcome_started OR c.last_outcome_started IS NULL "
							   "     THEN EXCLUDED.last_outcome ELSE c.last_outcome END, "
							   "   last_outcome_started = greatest(c.last_outcome_started, EXCLUDED.last_outcome_started), "
							   "   last_success_at = greatest(c.last_success_at, EXCLUDED.last_success_at), "
							   "   fresh_as_of = greatest(c.fresh_as_of, EXCLUDED.fresh_as_of), "
							   "   last_error_at = CASE WHEN EXCLUDED.last_error_started >= c.last_error_started OR c.last_error_started IS NULL "
							   "     THEN EXCLUDED.last_error_at ELSE c.last_error_at END, "
							   "   last_error = CASE WHEN EXCLUDED.last_error_started >= c.last_error_started OR c.last_error_started IS NULL "
							   "     THEN EXCLUDED.last_error ELSE c.last_error END, "
							   "   last_error_started = greatest(c.last_error_started, EXCLUDED.last_error_started)), "
							   "h AS (INSERT INTO %s.metrics_refresh_hourly AS h " ROLLUP_UPSERT("hour") "), "
							   "b AS (INSERT INTO %s.metrics_refresh_6hourly AS h "
							   ROLLUP_UPSERT("date_bin('6 hours', hour, '2001-01-01 00:00:00+00')") ") "
							   "SELECT count(*) FROM d", q, q, q, q, q, q, q, q, q),
					  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed to fold statistics: %s", SPI_result_code_string(ret));
	/*
	 * The rollups serve windows as long as the log's (status_all may be
	 * asked for a week): kept as long as the log keeps runs, at least two
	 * days, for ever when retention is off; a block as long as one of its
	 * hours.
	 */
	if (mr_log_retention_min > 0)
	{
		ret = SPI_execute(psprintf("WITH b AS (DELETE FROM %s.metrics_refresh_6hourly WHERE hour < now() - "
								   "make_interval(mins => greatest(%d, 2880)) - interval '5 hours') "
								   "DELETE FROM %s.metrics_refresh_hourly WHERE hour < now() - "
								   "make_interval(mins => greatest(%d, 2880))",
								   q, mr_log_retention_min, q, mr_log_retention_min),
						  false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute failed for the rollups: %s", SPI_result_code_string(ret));
	}
}

/*
 * Fold the log's finished runs that are not counted yet into
 * metrics_refresh_counters and the rollups, marking them counted, and
 * forget rollup rows older than the log's retention (at least two days);
 * at retention's pace (log.c)
 * and before a prune, in the caller's transaction.  One session folds at a
 * time (an advisory lock taken without waiting: if another session holds
 * it, this one does nothing), so no fold waits for another; a row locked by
 * another transaction (a background run being finished) is left for the
 * next fold.  So after this call, runs may still be uncounted: whoever
 * deletes runs must delete counted ones only.  Preconditions: READ
 * COMMITTED; SPI connected; current user the extension owner.
 */
void
mr_stats_fold(const MrExtension *ext)
{
	LOCKTAG		tag;

	if (ext->version < 10100)
		return;
	mr_advisory_tag(&tag, 0, 0, MR_LOCK_FOLD);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;
	fold(ext);
}

/* Error context of the wait for the fold lock in mr_stats_reset(). */
static void
fold_lock_context(void *arg)
{
	errcontext("waiting for the statistics fold lock (an advisory lock, held by a transaction that folded runs) at most metrics_refresh.lock_timeout (%d ms)",
			   mr_lock_timeout_ms);
}

/*
 * metrics_refresh_stats_reset: zero the counts and durations of one view
 * (or all) and stamp stats_reset; returns the reset time.  Every run the
 * reset can see is folded first, so that none is counted after it: unlike
 * mr_stats_fold(), this waits for the fold lock (at most
 * metrics_refresh.lock_timeout, as a refresh waits for its locks), and
 * folds under REPEATABLE READ and SERIALIZABLE too, where a concurrent fold
 * committed after the snapshot makes it fail with a serialization error
 * rather than count a run twice or after the reset.  Preconditions: admin;
 * SPI connected; search_path pinned.
 */
TimestampTz
mr_stats_reset(const MrExtension *ext, const char *view_name)
{
	Oid			type = TEXTOID;
	Datum		value = view_name ? CStringGetTextDatum(view_name) : (Datum) 0;
	char		null = view_name ? ' ' : 'n';
	MrSavedUser saved;
	LOCKTAG		tag;
	int			ret;

	mr_become_extension_owner(ext, &saved);
	/* What was logged before the reset is counted now, then zeroed. */
	mr_advisory_tag(&tag, 0, 0, MR_LOCK_FOLD);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		ErrorContextCallback context = {.previous = error_context_stack,
		.callback = fold_lock_context};
		char		buf[32];

		/* Restored by the caller's GUC nest level (or the abort). */
		snprintf(buf, sizeof(buf), "%d", mr_lock_timeout_ms);
		(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		error_context_stack = &context;
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		error_context_stack = context.previous;
	}
	fold(ext);
	ret = SPI_execute_with_args(psprintf("UPDATE %s.metrics_refresh_counters SET successful = 0, failed = 0, "
										 "skipped = 0, unchanged = 0, timed_runs = 0, total_duration_ms = 0, "
										 "min_duration_ms = NULL, max_duration_ms = NULL, duration_le_10ms = 0, "
										 "duration_le_100ms = 0, duration_le_1s = 0, duration_le_10s = 0, "
										 "duration_le_60s = 0, duration_le_300s = 0, duration_le_1800s = 0, "
										 "stats_reset = now() WHERE $1 IS NULL OR view_name = $1",
										 ext->nspname_q),
								1, &type, &value, &null, false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return GetCurrentTransactionStartTimestamp();
}

PG_FUNCTION_INFO_V1(mr_histogram_add);
PG_FUNCTION_INFO_V1(mr_histogram_count);
PG_FUNCTION_INFO_V1(mr_histogram_quantile);

/* The elements of an int4 array known to have no nulls. */
#define INT4_ELEMENTS(a) ((int32 *) ((char *) (a) + ARR_OVERHEAD_NONULLS(ARR_NDIM(a))))

/*
 * metrics_refresh_histogram_add(a integer[], b integer[]) -> integer[]:
 * element-wise sum, the transition function of the aggregate
 * metrics_refresh_histogram_sum (a NULL state takes b).
 */
Datum
mr_histogram_add(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	ArrayType  *b;
	int32	   *x;
	int32	   *y;
	int			n;
	int			i;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_ARRAYTYPE_P(PG_GETARG_ARRAYTYPE_P(0));
	}
	b = PG_GETARG_ARRAYTYPE_P(1);
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(PG_GETARG_ARRAYTYPE_P_COPY(1));
	a = AggCheckCallContext(fcinfo, NULL) ? PG_GETARG_ARRAYTYPE_P(0) : PG_GETARG_ARRAYTYPE_P_COPY(0);
	if (ARR_NDIM(a) != 1 || ARR_NDIM(b) != 1 || ARR_HASNULL(a) || ARR_HASNULL(b) ||
		ARR_DIMS(a)[0] != ARR_DIMS(b)[0] || ARR_ELEMTYPE(a) != INT4OID || ARR_ELEMTYPE(b) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("histograms must be integer arrays of one dimension, of equal length, without nulls")));
	x = INT4_ELEMENTS(a);
	y = INT4_ELEMENTS(b);
	n = ARR_DIMS(a)[0];
	for (i = 0; i < n; i++)
		x[i] += y[i];
	PG_RETURN_ARRAYTYPE_P(a);
}

/*
 * metrics_refresh_histogram_count(state integer[], duration_ms float8) ->
 * integer[]: count one duration into a fine histogram (a NULL state starts
 * an empty one; a NULL duration counts nothing), the transition function of
 * the aggregate metrics_refresh_histogram.
 */
Datum
mr_histogram_count(PG_FUNCTION_ARGS)
{
	ArrayType  *a;

	if (PG_ARGISNULL(0))
	{
		Datum		zeros[HIST_BUCKETS];
		int			i;

		for (i = 0; i < HIST_BUCKETS; i++)
			zeros[i] = Int32GetDatum(0);
		a = construct_array(zeros, HIST_BUCKETS, INT4OID, 4, true, TYPALIGN_INT);
	}
	else
		a = AggCheckCallContext(fcinfo, NULL) ? PG_GETARG_ARRAYTYPE_P(0) : PG_GETARG_ARRAYTYPE_P_COPY(0);
	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT4OID ||
		ARR_DIMS(a)[0] != HIST_BUCKETS)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a duration histogram must be an integer array of %d elements without nulls",
						HIST_BUCKETS)));
	if (!PG_ARGISNULL(1))
		INT4_ELEMENTS(a)[hist_bucket(PG_GETARG_FLOAT8(1))]++;
	PG_RETURN_ARRAYTYPE_P(a);
}

/*
 * metrics_refresh_histogram_quantile(buckets integer[], q float8, min_ms
 * float8, max_ms float8) -> float8: the q-quantile of the durations counted
 * in a fine histogram, interpolated within its bucket and kept within the
 * observed minimum and maximum; NULL for an empty histogram.
 */
Datum
mr_histogram_quantile(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	double		q = PG_GETARG_FLOAT8(1);
	double		min_ms = PG_GETARG_FLOAT8(2);
	double		max_ms = PG_GETARG_FLOAT8(3);
	int32	   *x;
	int			n;
	int			i;
	int64		total = 0;
	double		rank;
	int64		seen = 0;

	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a histogram must be an integer array of one dimension without nulls")));
	if (!(q >= 0 && q <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantile must be between 0 and 1")));
	x = INT4_ELEMENTS(a);
	n = ARR_DIMS(a)[0];
	for (i = 0; i < n; i++)
		total += x[i];
	if (total == 0)
		PG_RETURN_NULL();
	rank = q * total;
	for (i = 0; i < n; i++)
	{
		if (x[i] > 0 && seen + x[i] >= rank)
		{
			double		lo = i == 0 ? 0 : hist_upper(i - 1);
			double		hi = i == n - 1 ? max_ms : hist_upper(i);
			double		v = lo + (hi - lo) * (rank - seen) / x[i];

			PG_RETURN_FLOAT8(Max(min_ms, Min(max_ms, v)));
		}
		seen += x[i];
	}
	PG_RETURN_FLOAT8(max_ms);
}
