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
 * - Two rollups of the same shape.  metrics_refresh_6hourly: per view and
 *   6-hour block of start (00, 06, 12, 18 UTC).  metrics_refresh_hourly:
 *   per view and hour h that does not start a block, the runs that started
 *   from h to the end of h's block (a suffix of the block).  The overview's
 *   window of whole hours from H reads the suffix at H, then the blocks:
 *   5 rows per view for 24 hours, instead of 25 hourly rows.  A run counts
 *   in its block and in the suffixes that hold it: a fold writes 1 to 6
 *   rows per view and hour of the runs it folds (3.5 on average), where
 *   an hourly rollup alone would write 1.
 * - Durations are those of refreshes (success and error); an unchanged
 *   run's decision time and a skip are not durations of a refresh.
 * - The fine histogram of the rollups has HIST_BUCKETS buckets,
 *   ten per decade from 1 ms (bucket 0: up to 1 ms; bucket k: up to
 *   10^(k/10) ms; the last: everything above), so that a quantile estimated
 *   from it lies in the bucket of the nearest-rank value (within a ratio
 *   of 1.26 of it above 1 ms).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/guc.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
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
 * the hour HOUR (an expression) FROM gives, which is d or d joined to the
 * hours a run counts in.  Its two %s are the extension's schema.
 */
#define ROLLUP_UPSERT(hour, from) \
	"  (view_name, hour, successful, failed, skipped, unchanged, " \
	"   timed_runs, total_ms, min_ms, max_ms, buckets) " \
	"  SELECT d.view_name, " hour ", " \
	"   count(*) FILTER (WHERE d.status = 'success'), count(*) FILTER (WHERE d.status = 'error'), " \
	"   count(*) FILTER (WHERE d.status = 'skipped'), count(*) FILTER (WHERE d.status = 'unchanged'), " \
	"   count(d.duration_ms), coalesce(sum(d.duration_ms), 0), min(d.duration_ms), max(d.duration_ms), " \
	"   %s.metrics_refresh_histogram(d.duration_ms) " \
	"  FROM " from " GROUP BY 1, 2 " \
	"  ON CONFLICT (view_name, hour) DO UPDATE SET " \
	"   successful = h.successful + EXCLUDED.successful, " \
	"   failed = h.failed + EXCLUDED.failed, skipped = h.skipped + EXCLUDED.skipped, " \
	"   unchanged = h.unchanged + EXCLUDED.unchanged, timed_runs = h.timed_runs + EXCLUDED.timed_runs, " \
	"   total_ms = h.total_ms + EXCLUDED.total_ms, min_ms = least(h.min_ms, EXCLUDED.min_ms), " \
	"   max_ms = greatest(h.max_ms, EXCLUDED.max_ms), " \
	"   buckets = %s.metrics_refresh_histogram_add(h.buckets, EXCLUDED.buckets)"

/*
 * A run counts in its 6-hour block's row of metrics_refresh_6hourly and,
 * unless it started in the block's first hour, in the suffix rows of
 * metrics_refresh_hourly from the block's second hour to its own.
 */
#define BLOCK_OF(hour) "date_bin('6 hours', " hour ", '2001-01-01 00:00:00+00')"
/*
 * By whole hours counted from the block's start, never past the run's own
 * hour: a series of timestamps would step past the last representable one
 * (22008, and every fold, so every logged run, would fail), or never end
 * for an infinite start (such a run counts in its block's row only).
 */
#define SUFFIX_HOURS \
	"d CROSS JOIN LATERAL (SELECT " BLOCK_OF("d.hour") " + k * interval '1 hour' " \
	"  FROM generate_series(1, CASE WHEN isfinite(d.hour) THEN " \
	"    (extract(epoch FROM d.hour - " BLOCK_OF("d.hour") ") / 3600)::integer ELSE 0 END) AS k) AS s(hour)"

/*
 * The fold's two statements, prepared on a session's first fold and kept:
 * a session's first fold costs 14 to 15 M instructions, most of it making
 * these plans (bench/callgrind, "folded"); a later one with nothing to fold
 * under 1 M.  Like the plans of src/log.c they name the extension's schema,
 * so they belong to one installation and one schema name, and are made
 * again for another.
 */
static struct
{
	MrPlanKey	key;			/* set once both are made */
	SPIPlanPtr	fold;			/* count the runs, mark them counted */
	SPIPlanPtr	forget;			/* rollup rows past retention ($1 minutes) */
}			fold_plans;

/*
 * Make sure fold_plans belong to this installation; requires SPI and the
 * pinned search_path (the statements' functions and operators are resolved
 * under it).
 */
static void
ensure_fold_plans(const MrExtension *ext)
{
	static Oid	int4_type[1] = {INT4OID};
	static Oid	int8_type[1] = {INT8OID};
	const char *q = ext->nspname_q;

	if (mr_plan_key_matches(&fold_plans.key, ext))
		return;
	fold_plans.key.extoid = InvalidOid;
	if (fold_plans.fold != NULL)
		SPI_freeplan(fold_plans.fold);
	if (fold_plans.forget != NULL)
		SPI_freeplan(fold_plans.forget);
	fold_plans.fold = NULL;
	fold_plans.forget = NULL;
	fold_plans.forget = mr_prepare_kept(psprintf("WITH b AS (DELETE FROM %s.metrics_refresh_6hourly WHERE hour < now() - "
											  "make_interval(mins => greatest($1, 2880)) - interval '5 hours') "
											  "DELETE FROM %s.metrics_refresh_hourly WHERE hour < now() - "
											  "make_interval(mins => greatest($1, 2880)) - interval '5 hours'",
											  q, q),
									 1, int4_type);
	/*
	 * A generic plan from the first execution: a parameter (the limit)
	 * would otherwise have plancache make a custom plan for each of the
	 * first five folds of a session, at the price of a first fold each.
	 */
	fold_plans.fold = mr_prepare_kept_opts(psprintf("WITH d AS (UPDATE %s.metrics_refresh_log SET counted = true "
							   "  WHERE id = ANY (ARRAY(SELECT id FROM %s.metrics_refresh_log "
							   "    WHERE NOT counted AND status <> 'running' ORDER BY started_at LIMIT $1 "
							   "    FOR UPDATE SKIP LOCKED)) "
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
							   "   max(started_at), %s.metrics_refresh_latest(finished_at, started_at, id), "
							   "   %s.metrics_refresh_latest(status, started_at, id), "
							   "   max(started_at) FILTER (WHERE status <> 'skipped'), "
							   "   %s.metrics_refresh_latest(finished_at, started_at, id) FILTER (WHERE status <> 'skipped'), "
							   "   %s.metrics_refresh_latest(status, started_at, id) FILTER (WHERE status <> 'skipped'), "
							   "   max(finished_at) FILTER (WHERE status = 'success'), "
							   "   max(finished_at) FILTER (WHERE status IN ('success', 'unchanged')), "
							   "   max(started_at) FILTER (WHERE status = 'error'), "
							   "   %s.metrics_refresh_latest(finished_at, started_at, id) FILTER (WHERE status = 'error'), "
							   "   %s.metrics_refresh_latest(error_message, started_at, id) FILTER (WHERE status = 'error'), "
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
							   "h AS (INSERT INTO %s.metrics_refresh_hourly AS h " ROLLUP_UPSERT("s.hour", SUFFIX_HOURS) "), "
							   "b AS (INSERT INTO %s.metrics_refresh_6hourly AS h " ROLLUP_UPSERT(BLOCK_OF("d.hour"), "d") ") "
							   "SELECT count(*) FROM d", q, q, q, q, q, q, q, q, q, q, q, q, q, q, q),
										 1, int8_type, CURSOR_OPT_GENERIC_PLAN);
	mr_plan_key_set(&fold_plans.key, ext);
}

/*
 * The fold itself (see mr_stats_fold): at most limit runs, the oldest
 * first, or every run for 0; the caller holds the fold lock.
 */
static void
fold(const MrExtension *ext, int64 limit)
{
	Datum		minutes;
	Datum		max_runs = Int64GetDatum(limit);
	int			ret;

	ensure_fold_plans(ext);
	/* LIMIT NULL: no limit. */
	ret = SPI_execute_plan(fold_plans.fold, &max_runs, limit > 0 ? " " : "n", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed to fold statistics: %s", SPI_result_code_string(ret));
	/*
	 * The rollups serve windows as long as the log's (status_all may be
	 * asked for a week): kept as long as the log keeps runs, at least two
	 * days, for ever when retention is off; a block (and its hours) as long
	 * as one of its hours is.
	 */
	if (mr_log_retention_min > 0)
	{
		minutes = Int32GetDatum(mr_log_retention_min);
		ret = SPI_execute_plan(fold_plans.forget, &minutes, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_plan failed for the rollups: %s", SPI_result_code_string(ret));
	}
}

/*
 * Fold the log's finished runs that are not counted yet into
 * metrics_refresh_counters and the rollups, marking them counted, and
 * forget rollup rows older than the log's retention (at least two days);
 * at retention's pace (log.c), at most limit runs (the oldest first; 0:
 * all), and before a prune, all, in the caller's transaction.  The limit
 * bounds what logging a run may add to it (a backlog, such as the runs a
 * 1.0.0 log held at the update, is counted over several folds; readers add
 * the runs not counted yet meanwhile).  One session folds at a
 * time (an advisory lock taken without waiting: if another session holds
 * it, this one does nothing), so no fold waits for another; a row locked by
 * another transaction (a background run being finished) is left for the
 * next fold.  So after this call, runs may still be uncounted: whoever
 * deletes runs must delete counted ones only.  Preconditions: READ
 * COMMITTED; SPI connected; current user the extension owner.
 */
void
mr_stats_fold(const MrExtension *ext, int64 limit)
{
	LOCKTAG		tag;

	Assert(limit >= 0);
	if (ext->version < 10100)
		return;
	mr_advisory_tag(&tag, 0, 0, MR_LOCK_FOLD);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;
	fold(ext, limit);
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
	fold(ext, 0);
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
		if (pg_add_s32_overflow(x[i], y[i], &x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("integer out of range")));
	PG_RETURN_ARRAYTYPE_P(a);
}

/* Raise 2202E unless a is a fine duration histogram (HIST_BUCKETS integers). */
static void
check_fine_histogram(ArrayType *a)
{
	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT4OID ||
		ARR_DIMS(a)[0] != HIST_BUCKETS)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a duration histogram must be an integer array of %d elements without nulls",
						HIST_BUCKETS)));
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
	check_fine_histogram(a);
	if (!PG_ARGISNULL(1))
	{
		int32	   *count = &INT4_ELEMENTS(a)[hist_bucket(PG_GETARG_FLOAT8(1))];

		if (pg_add_s32_overflow(*count, 1, count))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("integer out of range")));
	}
	PG_RETURN_ARRAYTYPE_P(a);
}

/*
 * The q-quantile of the durations counted in a fine histogram of n buckets
 * holding total counts (total > 0), interpolated within its bucket and kept
 * within the observed minimum and maximum.
 */
static double
hist_quantile(const int64 *x, int n, int64 total, double q, double min_ms, double max_ms)
{
	double		rank = q * total;
	int64		seen = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (x[i] > 0 && seen + x[i] >= rank)
		{
			double		lo = i == 0 ? 0 : hist_upper(i - 1);
			double		hi = i == n - 1 ? max_ms : hist_upper(i);
			double		v = lo + (hi - lo) * (rank - seen) / x[i];

			return Max(min_ms, Min(max_ms, v));
		}
		seen += x[i];
	}
	return max_ms;
}

/*
 * metrics_refresh_histogram_quantile(buckets integer[], q float8, min_ms
 * float8, max_ms float8) -> float8: the q-quantile of the durations counted
 * in a fine histogram (hist_quantile); NULL for an empty histogram.
 */
Datum
mr_histogram_quantile(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	double		q = PG_GETARG_FLOAT8(1);
	int32	   *x;
	int64	   *counts;
	int			n;
	int			i;
	int64		total = 0;

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
	counts = palloc(sizeof(int64) * Max(n, 1));
	for (i = 0; i < n; i++)
		total += counts[i] = x[i];
	if (total == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(hist_quantile(counts, n, total, q, PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3)));
}

/*
 * round(x::numeric, 3)::float8, as SQL computes it (float8 to numeric at 15
 * significant digits, rounded half away from zero, back to float8), without
 * numeric arithmetic where that gives the same value: below 1e9 the 15
 * digits keep at least 6 decimals, so 1000 x and its 15-digit decimal round
 * to the same integer unless 1000 x is within 0.001 of a half.
 */
static double
round3(double x)
{
	double		y = x * 1000.0;
	double		r = round(y);

	if (fabs(x) < 1e9 && fabs(fabs(y - trunc(y)) - 0.5) > 0.001)
		return r == 0 ? 0.0 : r / 1000.0;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  DirectFunctionCall2(numeric_round,
																  DirectFunctionCall1(float8_numeric, Float8GetDatum(x)),
																  Int32GetDatum(3))));
}

/*
 * round(100.0 * s / n, 1) in numeric, for 0 <= s <= n: exact in integers,
 * 1000 s / n rounded half up, while the numeric division (16 significant
 * digits at least) cannot move it across a half (n < 1e13).
 */
static Datum
success_rate(int64 s, int64 n)
{
	if (s >= 0 && s <= n && n < INT64CONST(10000000000000))
		return NumericGetDatum(int64_div_fast_to_numeric((2000 * s + n) / (2 * n), 1));
	return DirectFunctionCall2(numeric_round,
							   DirectFunctionCall2(numeric_div,
												   DirectFunctionCall2(numeric_mul,
																	   DirectFunctionCall3(numeric_in, CStringGetDatum("100.0"),
																						   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
																	   NumericGetDatum(int64_to_numeric(s))),
												   NumericGetDatum(int64_to_numeric(n))),
							   Int32GetDatum(1));
}

/*
 * The state of the aggregate metrics_refresh_window_sum: the sums of rollup
 * rows (and of runs not counted yet, summed per view like them).  Its size
 * (640 bytes on 64-bit platforms, a 1 kB chunk) is the aggregate's SSPACE in
 * the scripts.
 */
typedef struct WindowState
{
	int64		total;
	int64		successful;
	int64		failed;
	int64		skipped;
	int64		unchanged;
	int64		timed;
	double		total_ms;
	double		min_ms;
	double		max_ms;
	bool		has_min;
	bool		has_max;
	int64		hist[HIST_BUCKETS];
} WindowState;

PG_FUNCTION_INFO_V1(mr_window_add);
PG_FUNCTION_INFO_V1(mr_window_final);

/*
 * metrics_refresh_window_add(state internal, total, successful, failed,
 * skipped, unchanged, timed_runs integer, total_ms, min_ms, max_ms float8,
 * buckets integer[], duration_ms float8) -> internal: add one row of a
 * rollup's shape, or one run (its counts, and its duration as total_ms,
 * min_ms, max_ms and duration_ms, which counts in the histogram); NULLs add
 * nothing.  The transition function of metrics_refresh_window_sum: one
 * call per row, the sums in place, what ten SQL aggregates did.
 */
Datum
mr_window_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	WindowState *st;
	int			i;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "metrics_refresh_window_add called in non-aggregate context");
	if (PG_ARGISNULL(0))
		st = MemoryContextAllocZero(aggcontext, sizeof(WindowState));
	else
		st = (WindowState *) PG_GETARG_POINTER(0);

#define ADD_INT(field, argno) \
	if (!PG_ARGISNULL(argno)) \
		st->field += PG_GETARG_INT32(argno)
	ADD_INT(total, 1);
	ADD_INT(successful, 2);
	ADD_INT(failed, 3);
	ADD_INT(skipped, 4);
	ADD_INT(unchanged, 5);
	ADD_INT(timed, 6);
#undef ADD_INT
	/* float8_pl: an overflow raises 22003, as sum(float8) does. */
	if (!PG_ARGISNULL(7))
		st->total_ms = float8_pl(st->total_ms, PG_GETARG_FLOAT8(7));
	/* As min() and max() compare float8 (NaN above everything). */
	if (!PG_ARGISNULL(8) && (!st->has_min || float8_lt(PG_GETARG_FLOAT8(8), st->min_ms)))
	{
		st->min_ms = PG_GETARG_FLOAT8(8);
		st->has_min = true;
	}
	if (!PG_ARGISNULL(9) && (!st->has_max || float8_gt(PG_GETARG_FLOAT8(9), st->max_ms)))
	{
		st->max_ms = PG_GETARG_FLOAT8(9);
		st->has_max = true;
	}
	if (!PG_ARGISNULL(10))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(10);
		int32	   *x;

		check_fine_histogram(a);
		x = INT4_ELEMENTS(a);
		for (i = 0; i < HIST_BUCKETS; i++)
			st->hist[i] += x[i];
	}
	if (!PG_ARGISNULL(11))
		st->hist[hist_bucket(PG_GETARG_FLOAT8(11))]++;
	PG_RETURN_POINTER(st);
}

/*
 * metrics_refresh_window_final(state internal) -> metrics_refresh_window:
 * the overview's figures of one view, as its SQL computed them: counts,
 * success_rate (percent of success over success and failure, one decimal;
 * NULL without either), average, min and max of the timed runs (ms; the
 * average rounded to 3 decimals), and p95 estimated from the histogram
 * (the bucket of the nearest-rank value, rounded to 3 decimals; NULL when nothing was timed).
 */
Datum
mr_window_final(PG_FUNCTION_ARGS)
{
	WindowState *st;
	TupleDesc	desc;
	Datum		values[10];
	bool		nulls[10] = {false};
	int64		hist_total = 0;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (WindowState *) PG_GETARG_POINTER(0);
	/* The result's descriptor, looked up once per query. */
	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 10)
			elog(ERROR, "metrics_refresh_window_final must return a composite of 10 columns");
		desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	values[0] = Int64GetDatum(st->total);
	values[1] = Int64GetDatum(st->successful);
	values[2] = Int64GetDatum(st->failed);
	values[3] = Int64GetDatum(st->skipped);
	values[4] = Int64GetDatum(st->unchanged);
	if (st->successful + st->failed != 0)
		values[5] = success_rate(st->successful, st->successful + st->failed);
	else
		nulls[5] = true;
	if (st->timed != 0)
		values[6] = Float8GetDatum(round3(st->total_ms / st->timed));
	else
		nulls[6] = true;
	values[7] = Float8GetDatum(st->min_ms);
	nulls[7] = !st->has_min;
	values[8] = Float8GetDatum(st->max_ms);
	nulls[8] = !st->has_max;
	for (i = 0; i < HIST_BUCKETS; i++)
		hist_total += st->hist[i];
	if (hist_total > 0 && st->has_min && st->has_max)
		values[9] = Float8GetDatum(round3(hist_quantile(st->hist, HIST_BUCKETS, hist_total, 0.95,
														st->min_ms, st->max_ms)));
	else
		nulls[9] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * The state of the aggregate metrics_refresh_latest: the value of the row
 * with the greatest (started_at, id) so far, copied into the aggregate's
 * memory.  Its size (48 bytes on 64-bit platforms) and a short value's are
 * the aggregate's SSPACE in the scripts.
 */
typedef struct LatestState
{
	bool		has;			/* a row was seen */
	bool		started_null;	/* its keys; NULL sorts first, as in DESC */
	bool		id_null;
	TimestampTz started_at;
	int64		id;
	bool		isnull;			/* its value is NULL */
	Datum		value;
	int16		typlen;
	bool		typbyval;
} LatestState;

PG_FUNCTION_INFO_V1(mr_latest_add);
PG_FUNCTION_INFO_V1(mr_latest_final);

/* -1, 0, 1 as key a sorts after, with, before key b in DESC NULLS FIRST. */
#define DESC_CMP(a_null, a, b_null, b) \
	((a_null) ? ((b_null) ? 0 : 1) : (b_null) ? -1 : (a) > (b) ? 1 : (a) < (b) ? -1 : 0)

/*
 * metrics_refresh_latest_add(state internal, value anyelement, started_at
 * timestamptz, id bigint) -> internal: keep the value of the row latest by
 * (started_at, id), the one (array_agg(value ORDER BY started_at DESC, id
 * DESC))[1] picks (NULL keys first), in one pass and without a sort per
 * group.  The transition function of metrics_refresh_latest.
 */
Datum
mr_latest_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	LatestState *st;
	bool		started_null = PG_ARGISNULL(2);
	bool		id_null = PG_ARGISNULL(3);
	TimestampTz started_at = started_null ? 0 : PG_GETARG_TIMESTAMPTZ(2);
	int64		id = id_null ? 0 : PG_GETARG_INT64(3);
	int			cmp;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "metrics_refresh_latest_add called in non-aggregate context");
	if (PG_ARGISNULL(0))
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 1);

		if (!OidIsValid(type))
			elog(ERROR, "could not determine the type of metrics_refresh_latest's value");
		st = MemoryContextAllocZero(aggcontext, sizeof(LatestState));
		get_typlenbyval(type, &st->typlen, &st->typbyval);
	}
	else
		st = (LatestState *) PG_GETARG_POINTER(0);

	cmp = DESC_CMP(started_null, started_at, st->started_null, st->started_at);
	if (cmp == 0)
		cmp = DESC_CMP(id_null, id, st->id_null, st->id);
	if (!st->has || cmp > 0)
	{
		if (st->has && !st->isnull && !st->typbyval)
			pfree(DatumGetPointer(st->value));
		st->has = true;
		st->started_null = started_null;
		st->id_null = id_null;
		st->started_at = started_at;
		st->id = id;
		st->isnull = PG_ARGISNULL(1);
		if (!st->isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(aggcontext);

			/*
			 * A varlena is kept detoasted: a TOAST pointer, which datumCopy
			 * would copy as it is, points into a table whose row may be
			 * gone by the time the value is used.  So each row that
			 * replaces the value is fetched (and decompressed) whole: fine
			 * for the short values of its uses (statuses, times, errors).
			 */
			if (st->typlen == -1)
				st->value = PointerGetDatum(PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(1)));
			else
				st->value = datumCopy(PG_GETARG_DATUM(1), st->typbyval, st->typlen);
			MemoryContextSwitchTo(old);
		}
	}
	PG_RETURN_POINTER(st);
}

/*
 * metrics_refresh_latest_final(state internal, anyelement, timestamptz,
 * bigint) -> anyelement: the kept value (NULL without rows).
 */
Datum
mr_latest_final(PG_FUNCTION_ARGS)
{
	LatestState *st;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (LatestState *) PG_GETARG_POINTER(0);
	if (!st->has || st->isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(st->value, st->typbyval, st->typlen));
}
