/*-------------------------------------------------------------------------
 *
 * log.c
 *		The one writer of metrics_refresh_log: the row of each attempt, the
 *		'running' row of a background run and its outcome, the NOTIFY that
 *		announces a logged run, retention and pruning, and the correction of
 *		runs whose background worker is gone ("reaping").  It also owns the
 *		definition of the result object that every refreshing function
 *		returns.
 *
 * Rules:
 * - Every write runs as the extension's owner (PUBLIC has no rights on the
 *   log): a new row straight into the heap and the indexes while the log is
 *   the plain table the install script made (insert_direct), else and for
 *   updates through saved plans that are schema-qualified throughout.  The
 *   callers have pinned search_path and connected to SPI.
 * - A row is written in the caller's transaction, and its NOTIFY is
 *   delivered when that transaction commits.
 * - Retention and reaping are bookkeeping: they never wait for another
 *   session (SKIP LOCKED), never do unbounded work on the refresh path, and
 *   never fail the caller's transaction.  Under REPEATABLE READ and
 *   SERIALIZABLE they write nothing: a log row changed after the caller's
 *   snapshot would raise a serialization failure, and under SERIALIZABLE
 *   even a successful write can make the caller's commit fail (predicate
 *   locks outlive a rolled-back subtransaction).  A later READ COMMITTED
 *   call does the work; meanwhile a lost run is reported as interrupted by
 *   mr_log_result_of() without being written (not on a standby, which
 *   cannot tell a lost run from one still running on the primary).
 * - Monitoring reads the log (monitor.c); it does not write it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/numeric.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "metrics_refresh.h"

/*
 * The result object of a run, computed from a log row's columns.  Every
 * statement that returns one uses this, so the object has one definition.
 * Unqualified functions and operators resolve in pg_catalog: search_path is
 * pinned to "pg_catalog, pg_temp".  Its %s is the cascade_id column (see
 * result_expr()).
 */
#define RESULT_EXPR \
	"jsonb_strip_nulls(jsonb_build_object(" \
	"'success', status IN ('success', 'running', 'unchanged'), " \
	"'status', status, 'run_id', id, 'view', view_name, 'method', method, " \
	"'cascade_id', %s, " \
	"'source', source, 'triggered_by', triggered_by, " \
	"'duration_ms', duration_ms, 'started_at', started_at, 'finished_at', finished_at, " \
	"'sqlstate', sqlstate, 'detail', error_detail, 'hint', error_hint, " \
	"'message', CASE status " \
	"  WHEN 'success' THEN 'refreshed ' || view_name || ' ' || method || ' in ' || " \
	"    CASE WHEN duration_ms < 10 THEN round(duration_ms::numeric, 1)::text " \
	"      ELSE round(duration_ms::numeric)::text END || ' ms' " \
	"  WHEN 'running' THEN 'refresh of ' || view_name || ' started in the background' " \
	"  WHEN 'skipped' THEN skip_reason " \
	"  WHEN 'unchanged' THEN skip_reason " \
	"  ELSE error_message END))"

/* What a run whose worker is gone is reported as. */
#define LOST_DETAIL \
	"'The background worker running this refresh ended before recording an outcome (terminated or crashed).'"

/*
 * A plan prepared on first use and kept: a session that logs one run (each
 * pg_cron job is a session of its own) prepares only what it uses.
 */
typedef struct LazyPlan
{
	SPIPlanPtr	plan;			/* NULL until first used */
	char	   *sql;			/* in TopMemoryContext; NULL: none here */
	int			nargs;
	Oid		   *types;
	int			cursor_options; /* CURSOR_OPT_GENERIC_PLAN, or 0 */
} LazyPlan;

/*
 * When the statistics are folded (apply_retention): the oldest run not
 * counted started FOLD_AGE_MIN minutes ago, or FOLD_RUNS runs have been
 * logged since.
 */
#define FOLD_AGE_MIN	60
#define FOLD_RUNS		1000

/* Saved plans, valid for one installation of the extension (extoid). */
typedef struct LogPlans
{
	MrPlanKey	key;			/* what they were made for */
	LazyPlan	insert;			/* a finished attempt (or a skip) */
	LazyPlan	insert_running; /* a background run's first row */
	LazyPlan	finish;			/* a background run's outcome */
	LazyPlan	oldest;			/* start of the oldest run: one index probe */
	LazyPlan	prune;			/* retention, bounded and non-blocking */
	LazyPlan	running_ids;	/* 'running' rows of one view */
	LazyPlan	result_of;		/* one run's result object, and its status */
	LazyPlan	mark_lost;		/* a lost run becomes error 'interrupted' */
	LazyPlan	result_lost;	/* ... and its result object, unwritten */
	LazyPlan	fold_due;		/* is a fold due (apply_retention)? */
	LazyPlan	set_cascade;	/* a run becomes a cascade's first */
	LazyPlan	cascade_result; /* a cascade's result object */
} LogPlans;

static LogPlans plans;

/* The plan, prepared now if this is its first use. */
static SPIPlanPtr
plan_of(LazyPlan *p)
{
	if (p->plan == NULL)
	{
		if (p->sql == NULL)
			elog(ERROR, "no such plan for this version of the extension");
		p->plan = mr_prepare_kept_opts(p->sql, p->nargs, p->types, p->cursor_options);
	}
	return p->plan;
}

/* Forget a plan (and its text); set the text of the next one, or none. */
static void
set_plan(LazyPlan *p, char *sql, int nargs, Oid *types)
{
	if (p->plan != NULL)
		SPI_freeplan(p->plan);
	if (p->sql != NULL)
		pfree(p->sql);
	p->plan = NULL;
	p->sql = sql ? MemoryContextStrdup(TopMemoryContext, sql) : NULL;
	p->nargs = nargs;
	p->types = types;
	p->cursor_options = 0;
}

/* set_plan(), for a plan that is generic from its first execution. */
static void
set_generic_plan(LazyPlan *p, char *sql, int nargs, Oid *types)
{
	set_plan(p, sql, nargs, types);
	p->cursor_options = CURSOR_OPT_GENERIC_PLAN;
}

/*
 * Make sure the saved plans belong to the installed extension (a session
 * may see the extension dropped and created again, in another schema).
 * Requires an SPI connection and the pinned search_path.
 */
static void
ensure_plans(const MrExtension *ext)
{
	static Oid	insert_types[14] = {
		TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID, TEXTOID, TEXTOID,
		TEXTOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID
	};
	static Oid	running_types[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, NAMEOID};
	static Oid	finish_types[10] = {
		INT8OID, TIMESTAMPTZOID, FLOAT8OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID
	};
	static Oid	timestamptz_type[1] = {TIMESTAMPTZOID};
	static Oid	text_type[1] = {TEXTOID};
	static Oid	int8_type[1] = {INT8OID};
	static Oid	cascade_result_types[3] = {INT8OID, BOOLOID, INT4OID};
	const char *s = ext->nspname_q;
	bool		v11 = ext->version >= 10100;	/* 1.0.0 has no cascade_id */
	char	   *rx;
	const char *cx = v11 ? "cascade_id" : "NULL::bigint";

	/*
	 * The plans name the schema: a plan whose schema was renamed would be
	 * parsed again, when next used, into whatever now has the old name, and
	 * run as the extension owner.  A new name means new plans.
	 */
	if (mr_plan_key_matches(&plans.key, ext))
		return;
	plans.key.extoid = InvalidOid;
	rx = psprintf(RESULT_EXPR, cx);

	set_plan(&plans.insert, psprintf("INSERT INTO %s.metrics_refresh_log (view_name, started_at, finished_at, "
										 "duration_ms, status, method, source, triggered_by, sqlstate, "
										 "error_message, error_detail, error_hint, skip_reason%s) "
										 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13%s) "
										 "RETURNING id::pg_catalog.int8, started_at::pg_catalog.timestamptz, "
										 "(%s)::pg_catalog.int8", s,
										 v11 ? ", cascade_id" : "", v11 ? ", $14" : "", cx),
								v11 ? 14 : 13, insert_types);
	set_plan(&plans.insert_running, psprintf("INSERT INTO %s.metrics_refresh_log (view_name, started_at, status, "
												 "source, triggered_by) VALUES ($1, $2, 'running', $3, $4) "
												 "RETURNING id::pg_catalog.int8, started_at::pg_catalog.timestamptz", s),
										4, running_types);
	set_plan(&plans.finish, psprintf("UPDATE %s.metrics_refresh_log SET finished_at = $2, duration_ms = $3, "
										 "status = $4, method = $5, sqlstate = $6, error_message = $7, "
										 "error_detail = $8, error_hint = $9, skip_reason = $10 "
										 "WHERE id = $1 "
										 "RETURNING id::pg_catalog.int8, started_at::pg_catalog.timestamptz, "
										 "(%s)::pg_catalog.int8", s, cx),
								10, finish_types);
	set_plan(&plans.oldest, psprintf("SELECT min(started_at) FROM %s.metrics_refresh_log", s),
								0, NULL);
	set_plan(&plans.prune, psprintf("DELETE FROM %s.metrics_refresh_log WHERE id = ANY (ARRAY("
										"SELECT id FROM %s.metrics_refresh_log "
										"WHERE started_at < $1 "
										"AND status <> 'running' AND %s "
										"ORDER BY started_at LIMIT 1000 FOR UPDATE SKIP LOCKED))", s, s,
										v11 ? "counted" : "true"),
							   1, timestamptz_type);
	/* Bounded: the rows a call may mark (normally none or a few run). */
	set_plan(&plans.running_ids, psprintf("SELECT id FROM %s.metrics_refresh_log "
											  "WHERE status = 'running' "
											  "AND ($1 IS NULL OR view_name = $1) LIMIT 1000", s),
									 1, text_type);
	set_plan(&plans.result_of, psprintf("SELECT %s, status FROM %s.metrics_refresh_log WHERE id = $1", rx, s),
								   1, int8_type);
	/* Only if still running, and never waiting for another reaper. */
	set_plan(&plans.mark_lost, psprintf("UPDATE %s.metrics_refresh_log SET status = 'error', "
											"finished_at = clock_timestamp(), sqlstate = '57P01', "
											"error_message = 'interrupted', error_detail = " LOST_DETAIL " "
											"WHERE id = ANY (ARRAY(SELECT id FROM %s.metrics_refresh_log "
											"WHERE id = $1 AND status = 'running' FOR UPDATE SKIP LOCKED)) "
											"RETURNING view_name, started_at, finished_at", s, s),
								   1, int8_type);
	set_plan(&plans.result_lost, psprintf("SELECT %s FROM (SELECT id, view_name, started_at, "
											  "clock_timestamp() AS finished_at, duration_ms, 'error' AS status, "
											  "method, source, triggered_by, '57P01' AS sqlstate, "
											  "'interrupted' AS error_message, " LOST_DETAIL " AS error_detail, "
											  "error_hint, skip_reason, %s AS cascade_id "
											  "FROM %s.metrics_refresh_log WHERE id = $1 AND status = 'running') l",
											  rx, v11 ? "cascade_id" : "NULL::bigint", s),
									 1, int8_type);
	if (!v11)
	{
		set_plan(&plans.fold_due, NULL, 0, NULL);
		set_plan(&plans.set_cascade, NULL, 0, NULL);
		set_plan(&plans.cascade_result, NULL, 0, NULL);
	}
	else
	{
		set_plan(&plans.set_cascade, psprintf("UPDATE %s.metrics_refresh_log SET cascade_id = id WHERE id = $1", s),
				 1, int8_type);
		/*
		 * See mr_log_cascade_result().  Generic: a custom plan of it costs
		 * more than running it.
		 */
		set_generic_plan(&plans.cascade_result, psprintf("WITH r AS (SELECT id, view_name, "
												 "  CASE WHEN id = $1 AND status = 'running' AND $2 THEN 'error' ELSE status END AS status, "
												 "  skip_reason FROM %s.metrics_refresh_log WHERE cascade_id = $1), "
												 "c AS (SELECT status, count(*) AS n FROM r GROUP BY status), "
												 "root AS (SELECT * FROM r WHERE id = $1) "
												 "SELECT jsonb_build_object("
												 "'success', $3 = 0 AND NOT EXISTS (SELECT FROM r WHERE status IN ('error', 'skipped')), "
												 "'status', CASE WHEN $3 <> 0 THEN 'error' "
												 "  WHEN (SELECT status FROM root) = 'skipped' THEN 'skipped' "
												 "  WHEN EXISTS (SELECT FROM r WHERE status = 'error') THEN 'error' "
												 "  WHEN EXISTS (SELECT FROM r WHERE status = 'running') THEN 'running' "
												 "  WHEN EXISTS (SELECT FROM r WHERE status = 'skipped') THEN 'skipped' "
												 "  ELSE 'success' END, "
												 "'cascade_id', $1, 'run_id', $1, 'view', (SELECT view_name FROM root), "
												 "'counts', (SELECT jsonb_object_agg(status, n) FROM c), "
												 "'run_ids', (SELECT jsonb_agg(id ORDER BY id) FROM r), "
												 "'runs', (SELECT jsonb_agg(jsonb_build_object('run_id', id, 'view', view_name, "
												 "  'status', status) || CASE WHEN status = 'skipped' "
												 "  THEN jsonb_build_object('reason', skip_reason) ELSE '{}' END ORDER BY id) FROM r), "
												 "'message', 'cascade from ' || (SELECT view_name FROM root) || ': ' || "
												 "  (SELECT string_agg(n || ' ' || status, ', ' ORDER BY status) FROM c) || "
												 "  CASE WHEN $3 > 0 THEN ', ' || $3 || ' not logged (its worker ended)' "
												 "    WHEN $3 < 0 THEN ' (its worker ended before the cascade did)' ELSE '' END) "
												 "|| CASE WHEN $3 > 0 THEN jsonb_build_object('not_logged', $3) ELSE '{}' END",
												 s),
				 3, cascade_result_types);
		set_plan(&plans.fold_due, psprintf("SELECT FROM (SELECT id, started_at FROM %s.metrics_refresh_log "
											   "WHERE NOT counted AND status <> 'running' AND started_at < $1 - interval '1 minute' "
											   "ORDER BY started_at LIMIT 1) o "
											   "WHERE o.started_at < $1 - interval '" CppAsString2(FOLD_AGE_MIN) " minutes' "
											   "OR (SELECT max(id) FROM %s.metrics_refresh_log) - o.id >= " CppAsString2(FOLD_RUNS),
											   s, s),
									  1, timestamptz_type);
	}
	mr_plan_key_set(&plans.key, ext);
}

/*
 * Send NOTIFY metrics_refresh for a run: its id, view and status only.
 * Anyone connected to the database may LISTEN, so the payload says which
 * run changed, and nothing that only monitors may read (an error's
 * message, detail and hint may quote rows of tables the listener cannot
 * read): a listener that may reads the rest with
 * metrics_refresh_run_status(run_id).
 */
static void
notify_run(int64 run_id, const char *view_name, MrStatus status)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"run_id\": " INT64_FORMAT ", \"view\": ", run_id);
	escape_json(&buf, view_name);
	appendStringInfoString(&buf, ", \"status\": ");
	escape_json(&buf, mr_status_name(status));
	appendStringInfoChar(&buf, '}');
	Async_Notify("metrics_refresh", buf.data);
	pfree(buf.data);
}

/*
 * Delete log rows older than metrics_refresh.log_retention: at most 1000 per
 * call, skipping rows another session has locked, so logging a run never
 * waits and never does unbounded work.  To stay cheap on the refresh path it
 * looks at most once a minute per session (or when the setting changed), and
 * deletes only when the oldest row is past the limit.  Runs as the log owner;
 * does nothing under REPEATABLE READ and SERIALIZABLE (see the file header).
 */
static bool log_probes(const MrExtension *ext, TimestampTz now, bool fold, bool *fold_due,
					   TimestampTz *oldest, bool *oldest_null, bool *lost);

/* mr_stats_fold() as mr_call_in_subxact() calls it. */
static void
fold_call(void *arg)
{
	mr_stats_fold((const MrExtension *) arg, MR_FOLD_BATCH);
}

/* The most lost runs one retention check marks. */
#define REAP_MAX	100

/* mr_log_reap() as mr_call_in_subxact() calls it. */
static void
reap_call(void *arg)
{
	mr_log_reap((const MrExtension *) arg, NULL, REAP_MAX);
}

/*
 * Bookkeeping that logging a run does (fn), in a subtransaction: an error
 * in it leaves the run, its refresh and its row as they are, with a
 * WARNING (what, and the hint, or cancel_hint); so does a cancel
 * (statement_timeout, say, or a worker's stop request): the refresh it
 * would otherwise undo is done, and what is left of the call is bounded
 * (the retention delete, the result), as a cancel during the refresh
 * itself is logged and returned, not raised.  Only an assertion failure is
 * raised again.
 */
static void
in_subxact(void (*fn) (void *arg), const MrExtension *ext, const char *what, const char *hint,
		   const char *cancel_hint)
{
	ErrorData  *e = mr_call_in_subxact(fn, (void *) ext);

	if (e == NULL)
		return;
	if (e->sqlerrcode == ERRCODE_ASSERT_FAILURE)
		ReThrowError(e);
	ereport(WARNING,
			(errcode(e->sqlerrcode),
			 errmsg("%s: %s", what, e->message),
			 e->detail ? errdetail_internal("%s", e->detail) : 0,
			 errhint("%s", e->sqlerrcode == ERRCODE_QUERY_CANCELED ? cancel_hint : hint)));
	FreeErrorData(e);
}

/*
 * A fold that came due while a run is logged (an error in it: a lock
 * timeout, a trigger a superuser put on the statistics' tables): the runs
 * stay uncounted for a later fold, and readers count them meanwhile.
 */
static void
fold_in_subxact(const MrExtension *ext)
{
	in_subxact(fold_call, ext, "could not fold the statistics",
			   "The runs not counted yet stay so, and are kept by retention, until a fold succeeds; "
			   "the statistics include them meanwhile. metrics_refresh_prune() folds and shows the error.",
			   "The runs not counted yet stay so until a later fold; the statistics include them meanwhile.");
}

/*
 * Marking lost runs (an error in it: a trigger a superuser put on the log,
 * say): the rows stay 'running' until a later run or a monitoring call.
 * Also what a cascade's caller does once its worker has ended.
 */
void
mr_log_reap_in_subxact(const MrExtension *ext)
{
	in_subxact(reap_call, ext, "could not mark lost runs interrupted",
			   "A later run, or a monitoring call, marks them.",
			   "A later run, or a monitoring call, marks them.");
}

static void
apply_retention(const MrExtension *ext)
{
	static TimestampTz next_check = 0;
	static int	checked_retention = -1;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz cutoff;
	TimestampTz oldest = 0;
	bool		fold_due;
	bool		lost;
	Datum		value;
	bool		isnull;
	int			ret;

	if (IsolationUsesXactSnapshot())
		return;
	if (now < next_check && checked_retention == mr_log_retention_min)
		return;
	next_check = now + 60 * USECS_PER_SEC;
	checked_retention = mr_log_retention_min;

	/*
	 * Fold the statistics when the oldest finished run not counted yet
	 * started more than FOLD_AGE_MIN minutes ago, or, once it is a minute
	 * old, when FOLD_RUNS runs or more have been logged since (told by the
	 * log's ids: two index probes, never a count).  A fold has a fixed cost
	 * (in a new session, as each pg_cron job is, preparing its plan is most
	 * of it) and a cost per run; folding seldom spreads the first over many
	 * runs.  The id distance only approximates the runs waiting (a run gets
	 * its id when it is logged, after its start; the statement, unlike the
	 * probes, does not see the row the current command logged), so readers,
	 * which add the runs not counted yet one by one, may find about twice
	 * FOLD_RUNS of them; and folds happen only when some READ COMMITTED
	 * session logs a run.
	 * Retention deletes counted runs only.
	 *
	 * First, a 'running' row whose worker is gone (crash, restart) is
	 * marked interrupted, so that the log mends itself without a
	 * monitoring call, and the run is counted like any other: the probes
	 * tell whether there is one (normally no row is running, and then the
	 * reaper's statements are not even prepared).
	 */
	if (log_probes(ext, now, plans.fold_due.sql != NULL, &fold_due, &oldest, &isnull, &lost))
	{
		if (lost)
			mr_log_reap_in_subxact(ext);
		if (fold_due)
			fold_in_subxact(ext);
	}
	else
	{
		mr_log_reap_in_subxact(ext);
		if (plans.fold_due.sql != NULL)
		{
			value = TimestampTzGetDatum(now);
			ret = SPI_execute_plan(plan_of(&plans.fold_due), &value, NULL, true, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute_plan failed for the statistics: %s",
					 SPI_result_code_string(ret));
			if (SPI_processed > 0)
				fold_in_subxact(ext);
		}
		if (mr_log_retention_min <= 0)
			return;
		ret = SPI_execute_plan(plan_of(&plans.oldest), NULL, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed for retention: %s",
				 SPI_result_code_string(ret));
		oldest = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (mr_log_retention_min <= 0)
		return;

	cutoff = now - (int64) mr_log_retention_min * USECS_PER_MINUTE;
	if (isnull || oldest >= cutoff)
		return;
	value = TimestampTzGetDatum(cutoff);
	ret = SPI_execute_plan(plan_of(&plans.prune), &value, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_plan failed for retention: %s",
			 SPI_result_code_string(ret));
}

/* Datum of a nullable C string, for SPI arguments. */
#define TEXT_ARG(s, i) \
	do { values[i] = (s) ? CStringGetTextDatum(s) : (Datum) 0; nulls[i] = (s) ? ' ' : 'n'; } while (0)

/*
 * The log's columns, in the order LogColumn numbers them, and where the
 * direct insert finds them (attribute numbers of one installation).
 */
typedef enum LogColumn
{
	COL_ID, COL_VIEW_NAME, COL_STARTED_AT, COL_FINISHED_AT, COL_DURATION_MS,
	COL_STATUS, COL_METHOD, COL_SOURCE, COL_TRIGGERED_BY, COL_SQLSTATE,
	COL_ERROR_MESSAGE, COL_ERROR_DETAIL, COL_ERROR_HINT, COL_SKIP_REASON,
	COL_CASCADE_ID, COL_COUNTED, N_LOG_COLUMNS
} LogColumn;

static const char *const log_column_names[N_LOG_COLUMNS] = {
	"id", "view_name", "started_at", "finished_at", "duration_ms",
	"status", "method", "source", "triggered_by", "sqlstate",
	"error_message", "error_detail", "error_hint", "skip_reason",
	"cascade_id", "counted"
};

/*
 * Their types as the install script made them; InvalidOid: the extension's
 * domain named in log_column_domains.
 */
static const Oid log_column_types[N_LOG_COLUMNS] = {
	INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID,
	InvalidOid, InvalidOid, InvalidOid, NAMEOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INT8OID, BOOLOID
};

static const char *const log_column_domains[N_LOG_COLUMNS] = {
	[COL_STATUS] = "metrics_refresh_log_status",
	[COL_METHOD] = "metrics_refresh_log_method",
	[COL_SOURCE] = "metrics_refresh_log_source"
};

typedef struct LogTable
{
	Oid			extoid;
	bool		usable;			/* the direct insert may be used */
	Oid			relid;
	Oid			seqid;			/* the identity sequence of id */
	int			natts;			/* of the tuple descriptor, dropped ones included */
	AttrNumber	attnum[N_LOG_COLUMNS];
	Oid			atttypid[N_LOG_COLUMNS];
} LogTable;

static LogTable log_table = {InvalidOid};

/* domain_check()'s state for each domain column, in TopMemoryContext. */
static void *log_domain_cache[N_LOG_COLUMNS];

static bool log_table_plain(Relation rel, LogTable *t);

/*
 * The log changed (ALTER TABLE, say), or every relation did: log_table is
 * looked at again, so that a session that found it not plain writes
 * directly again once it is (the per-row check only ever turns it off).
 * Called by the library's relcache callback.
 */
void
mr_log_relcache_changed(Oid relid)
{
	if (!OidIsValid(relid) || relid == log_table.relid)
		log_table.extoid = InvalidOid;
}

/*
 * Fill log_table for this installation, once per session (and after a
 * change); true when the log is the plain table the install script made.
 * Takes the lock that writing a row takes (RowExclusiveLock).
 */
static bool
ensure_log_table(const MrExtension *ext)
{
	if (ext->version < 10100)
		return false;			/* 1.0.0's log: CHECK constraints, no cascade_id */
	if (log_table.extoid != ext->extoid)
	{
		LogTable	t = {0};
		Relation	rel;

		t.extoid = ext->extoid;
		t.relid = get_relname_relid("metrics_refresh_log", ext->nspoid);
		if (!OidIsValid(t.relid))
			elog(ERROR, "metrics_refresh_log is missing");
		rel = table_open(t.relid, RowExclusiveLock);
		t.usable = log_table_plain(rel, &t);
		table_close(rel, NoLock);
		log_table = t;
	}
	return log_table.usable;
}

/*
 * The domain name in schema nspoid, if it is one over text (as the install
 * script made it); InvalidOid otherwise.  Its constraints, whatever they
 * are now, are checked on each row written directly (insert_direct()), as
 * the statement would.
 */
static Oid
our_log_domain(Oid nspoid, const char *name)
{
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum(name), ObjectIdGetDatum(nspoid));

	return OidIsValid(typid) && get_typtype(typid) == TYPTYPE_DOMAIN &&
		getBaseType(typid) == TEXTOID ? typid : InvalidOid;
}

/*
 * Can the log take a row without the executor?  Yes when it is exactly
 * what the install script made: a plain table with these columns of these
 * types and no others, no triggers, no CHECK constraints or generated
 * columns, no row-level security.  Anything else (say, a trigger a
 * superuser added, or a column's type changed) sends rows through the
 * INSERT statement, which honours it.
 */
static bool
log_table_plain(Relation rel, LogTable *t)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		rel->rd_rel->relrowsecurity ||
		(desc->constr != NULL && (desc->constr->num_check > 0 || desc->constr->has_generated_stored)))
		return false;
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	if (live != N_LOG_COLUMNS)
		return false;
	for (i = 0; i < N_LOG_COLUMNS; i++)
	{
		Oid			typid = log_column_domains[i] != NULL ?
			our_log_domain(RelationGetNamespace(rel), log_column_domains[i]) : log_column_types[i];

		if (!OidIsValid(typid) ||
			(t->attnum[i] = mr_our_column(desc, log_column_names[i], typid)) == InvalidAttrNumber)
			return false;
		t->atttypid[i] = TupleDescAttr(desc, t->attnum[i] - 1)->atttypid;
	}
	t->natts = desc->natts;
	/*
	 * The identity sequence of id: by its name, checked against pg_depend
	 * from the sequence's side (two rows), which costs a new session much
	 * less than getIdentitySequence()'s scan of everything that depends on
	 * the log; that scan if the name leads elsewhere.
	 */
	{
		Oid			seqid = get_relname_relid("metrics_refresh_log_id_seq",
											  RelationGetNamespace(rel));
		Oid			tableid;
		int32		colid;

		if (OidIsValid(seqid) && get_rel_relkind(seqid) == RELKIND_SEQUENCE &&
			sequenceIsOwned(seqid, DEPENDENCY_INTERNAL, &tableid, &colid) &&
			tableid == RelationGetRelid(rel) && colid == t->attnum[COL_ID])
			t->seqid = seqid;
		else
			t->seqid = getIdentitySequence(rel, t->attnum[COL_ID], true);
	}
	return OidIsValid(t->seqid);
}

/*
 * Is the log, open and locked, still what log_table_plain() found?  Cheap
 * enough for every row: no trigger, CHECK constraint, generated column or
 * row-level security since, and the same columns with the same types
 * (ALTER TABLE changes the tuple descriptor).
 */
static bool
log_table_unchanged(Relation rel, const LogTable *t)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (rel->trigdesc != NULL || rel->rd_rel->relrowsecurity || desc->natts != t->natts ||
		(desc->constr != NULL && (desc->constr->num_check > 0 || desc->constr->has_generated_stored)))
		return false;
	for (i = 0; i < N_LOG_COLUMNS; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, t->attnum[i] - 1);

		if (att->attisdropped || att->atttypid != t->atttypid[i])
			return false;
	}
	return true;
}

/*
 * The first tuple, in an index's order or backwards, that snapshot sees
 * and skip (if given) does not reject; copied into *tup.  false if none.
 */
static bool
first_in_index(Relation heap, Oid indexid, Snapshot snapshot, ScanDirection dir,
			   bool (*skip) (HeapTuple, TupleDesc), HeapTuple *tup)
{
	Relation	idx = index_open(indexid, AccessShareLock);
	SysScanDesc scan = systable_beginscan_ordered(heap, idx, snapshot, 0, NULL);
	HeapTuple	t;

	*tup = NULL;
	while (HeapTupleIsValid(t = systable_getnext_ordered(scan, dir)))
	{
		if (skip != NULL && skip(t, RelationGetDescr(heap)))
			continue;
		*tup = heap_copytuple(t);
		break;
	}
	systable_endscan_ordered(scan);
	index_close(idx, NoLock);
	return *tup != NULL;
}

/* Is the row's status 'running'?  (NULL: no, as status = 'running' says.) */
static bool
row_running(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, log_table.attnum[COL_STATUS], desc, &isnull);
	text	   *status;

	if (isnull)
		return false;
	status = DatumGetTextPP(d);
	return VARSIZE_ANY_EXHDR(status) == 7 && memcmp(VARDATA_ANY(status), "running", 7) == 0;
}

/* Not a candidate for the fold: counted already, or still running. */
static bool
skip_for_fold(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, log_table.attnum[COL_COUNTED], desc, &isnull);

	if (isnull || DatumGetBool(d))
		return true;
	d = heap_getattr(tup, log_table.attnum[COL_STATUS], desc, &isnull);
	if (isnull)
		return true;			/* as status <> 'running' would say */
	return row_running(tup, desc);
}

static bool run_is_lost(int64 run_id);

/* Not a lost run: not running, or its worker still holds its run lock. */
static bool
skip_unless_lost(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;

	if (!row_running(tup, desc))
		return true;
	return !run_is_lost(DatumGetInt64(heap_getattr(tup, log_table.attnum[COL_ID], desc, &isnull)));
}

/*
 * The retention check's reads (apply_retention) by index probes in C, when
 * the log and its indexes are those the install script made: whether a
 * 'running' row is lost (its worker gone), whether a statistics fold is due
 * (when fold is true), and the oldest start in the log.  The statements
 * did the same (for lost runs, mr_log_reap() looks on every check there),
 * but a new session, which is how pg_cron runs each tick, planned them
 * first (3.4 M instructions, half of such a tick's run).  The log and its indexes are locked first, then read
 * with a new snapshot, as the statements did.  Returns false, having read
 * nothing, when the statements must be used.
 */
static pg_noinline bool
log_probes(const MrExtension *ext, TimestampTz now, bool fold, bool *fold_due,
		   TimestampTz *oldest, bool *oldest_null, bool *lost)
{
	Relation	heap;
	Oid			pkey;
	Oid			started;
	Oid			uncounted;
	Oid			running;
	Snapshot	snapshot;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	/* A worker, which finishes its 'running' row, has not written one. */
	if (!ensure_log_table(ext))
		return false;
	heap = try_relation_open(log_table.relid, AccessShareLock);
	if (heap == NULL)
		return false;
	/*
	 * log_table may date from an earlier transaction: checked under the
	 * lock (the columns' types were checked when it was filled).
	 */
	if (!log_table_unchanged(heap, &log_table))
	{
		relation_close(heap, NoLock);
		/* Looked at again next time, as insert_direct() does. */
		log_table.extoid = InvalidOid;
		return false;
	}
	pkey = mr_our_index(ext->nspoid, "metrics_refresh_log_pkey", log_table.relid,
						log_table.attnum[COL_ID], false);
	started = mr_our_index(ext->nspoid, "metrics_refresh_log_started_idx", log_table.relid,
						   log_table.attnum[COL_STARTED_AT], false);
	uncounted = mr_our_index(ext->nspoid, "metrics_refresh_log_uncounted_idx", log_table.relid,
							 log_table.attnum[COL_STARTED_AT], true);
	running = mr_our_index(ext->nspoid, "metrics_refresh_log_running_idx", log_table.relid,
						   log_table.attnum[COL_VIEW_NAME], true);
	if (!OidIsValid(pkey) || !OidIsValid(started) || !OidIsValid(uncounted) || !OidIsValid(running))
	{
		relation_close(heap, NoLock);
		return false;
	}

	desc = RelationGetDescr(heap);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	*lost = first_in_index(heap, running, snapshot, ForwardScanDirection, skip_unless_lost, &tup);
	*fold_due = false;
	if (fold && first_in_index(heap, uncounted, snapshot, ForwardScanDirection, skip_for_fold, &tup))
	{
		TimestampTz first = DatumGetTimestampTz(heap_getattr(tup, log_table.attnum[COL_STARTED_AT],
															 desc, &isnull));
		int64		id = DatumGetInt64(heap_getattr(tup, log_table.attnum[COL_ID], desc, &isnull));
		HeapTuple	last;

		if (first < now - USECS_PER_MINUTE)
		{
			*fold_due = first < now - (int64) FOLD_AGE_MIN * USECS_PER_MINUTE;
			if (!*fold_due &&
				first_in_index(heap, pkey, snapshot, BackwardScanDirection, NULL, &last))
				*fold_due = DatumGetInt64(heap_getattr(last, log_table.attnum[COL_ID], desc, &isnull)) -
					id >= FOLD_RUNS;
		}
	}
	*oldest_null = !first_in_index(heap, started, snapshot, ForwardScanDirection, NULL, &tup);
	if (!*oldest_null)
		*oldest = DatumGetTimestampTz(heap_getattr(tup, log_table.attnum[COL_STARTED_AT], desc, &isnull));
	UnregisterSnapshot(snapshot);
	relation_close(heap, NoLock);
	return true;
}

/*
 * Write a new row (a finished attempt, or a background run's 'running' row)
 * straight into the heap and the indexes, as the INSERT statement would,
 * without planning and starting an executor for one row: that is most of
 * what logging a run costs, and most of a new background worker's first
 * statement.  The values of status, method and source come from the name
 * tables in util.c, which hold only what the log's domains allow.  A
 * 'running' row has no finished_at; a cascade's first row (cascade_root) is
 * its cascade's id.  Returns false, having written nothing, when the table
 * is not the plain one the install script made; the caller then runs the
 * statement.  Runs as the log's owner.
 */
static pg_noinline bool
insert_direct(const MrExtension *ext, const MrLogRow *row, const MrOutcome *o, bool cascade_root,
			  int64 *id)
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	Datum	   *values;
	bool	   *isnull;
	ErrorData  *e = o->error;
	NameData	callername;
	const char *text_values[N_LOG_COLUMNS] = {0};
	int			i;

	if (!ensure_log_table(ext))
		return false;

	rel = table_open(log_table.relid, RowExclusiveLock);

	/*
	 * Checked again under the lock, every time: the table may have changed
	 * since (a column added, a trigger, a constraint).  Anything other than
	 * the plain table sends this row, and the next look, to the statement.
	 */
	if (!log_table_unchanged(rel, &log_table))
	{
		table_close(rel, NoLock);
		log_table.extoid = InvalidOid;
		return false;
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), table_slot_callbacks(rel));
	ExecClearTuple(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		values[i] = (Datum) 0;
		isnull[i] = true;
	}

	*id = nextval_internal(log_table.seqid, true);
#define SET(col, datum) \
	do { values[log_table.attnum[col] - 1] = (datum); isnull[log_table.attnum[col] - 1] = false; } while (0)
	SET(COL_ID, Int64GetDatum(*id));
	SET(COL_STARTED_AT, TimestampTzGetDatum(o->started_at));
	if (o->status != MR_STATUS_RUNNING)
		SET(COL_FINISHED_AT, TimestampTzGetDatum(o->finished_at));
	if (o->has_duration)
		SET(COL_DURATION_MS, Float8GetDatum(o->duration_ms));
	namestrcpy(&callername, row->caller);
	SET(COL_TRIGGERED_BY, NameGetDatum(&callername));
	if (cascade_root)
		SET(COL_CASCADE_ID, Int64GetDatum(*id));
	else if (row->cascade_id > 0)
		SET(COL_CASCADE_ID, Int64GetDatum(row->cascade_id));
	SET(COL_COUNTED, BoolGetDatum(false));
	text_values[COL_VIEW_NAME] = row->view_name;
	text_values[COL_STATUS] = mr_status_name(o->status);
	text_values[COL_METHOD] = mr_method_name(o->method);
	text_values[COL_SOURCE] = mr_source_name(row->source);
	text_values[COL_SQLSTATE] = e ? unpack_sql_state(e->sqlerrcode) : NULL;
	text_values[COL_ERROR_MESSAGE] = e ? e->message : NULL;
	text_values[COL_ERROR_DETAIL] = e ? e->detail : NULL;
	text_values[COL_ERROR_HINT] = e ? e->hint : NULL;
	text_values[COL_SKIP_REASON] = o->skip_reason;
	for (i = 0; i < N_LOG_COLUMNS; i++)
	{
		if (text_values[i] != NULL)
			SET(i, CStringGetTextDatum(text_values[i]));
		/*
		 * The domains' constraints, whatever they are now (a superuser may
		 * have added one), as the statement checks them; prepared once per
		 * session and domain, and again when a domain changes (typcache).
		 */
		if (log_column_domains[i] != NULL)
			domain_check(values[log_table.attnum[i] - 1], isnull[log_table.attnum[i] - 1],
						 log_table.atttypid[i], &log_domain_cache[i], TopMemoryContext);
	}
#undef SET
	/* NOT NULL, as the executor would check it (a column may have gained one). */
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		if (isnull[i] && TupleDescAttr(slot->tts_tupleDescriptor, i)->attnotnull)
		{
			ExecDropSingleTupleTableSlot(slot);
			ExecCloseIndices(rri);
			FreeExecutorState(estate);
			table_close(rel, NoLock);
			return false;
		}
	}
	ExecStoreVirtualTuple(slot);

	simple_table_tuple_insert(rel, slot);
	(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL, false);

	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	/* Later statements of this transaction (retention, say) see the row. */
	CommandCounterIncrement();
	return true;
}

/* Insert a new row for an attempt; the statement RETURNs id and result. */
static void
insert_outcome(const MrLogRow *row, const MrOutcome *o)
{
	Datum		values[14];
	char		nulls[14];
	ErrorData  *e = o->error;
	NameData	callername;
	int			ret;

	namestrcpy(&callername, row->caller);
	TEXT_ARG(row->view_name, 0);
	values[1] = TimestampTzGetDatum(o->started_at);
	nulls[1] = ' ';
	values[2] = TimestampTzGetDatum(o->finished_at);
	nulls[2] = ' ';
	values[3] = Float8GetDatum(o->duration_ms);
	nulls[3] = o->has_duration ? ' ' : 'n';
	TEXT_ARG(mr_status_name(o->status), 4);
	TEXT_ARG(mr_method_name(o->method), 5);
	TEXT_ARG(mr_source_name(row->source), 6);
	values[7] = NameGetDatum(&callername);
	nulls[7] = ' ';
	TEXT_ARG(e ? unpack_sql_state(e->sqlerrcode) : NULL, 8);
	TEXT_ARG(e ? e->message : NULL, 9);
	TEXT_ARG(e ? e->detail : NULL, 10);
	TEXT_ARG(e ? e->hint : NULL, 11);
	TEXT_ARG(o->skip_reason, 12);
	values[13] = Int64GetDatum(row->cascade_id);
	nulls[13] = row->cascade_id > 0 ? ' ' : 'n';
	ret = SPI_execute_plan(plan_of(&plans.insert), values, nulls, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed to log run: %s",
			 SPI_result_code_string(ret));
}

/* Finish a background run's 'running' row; RETURNs id and result. */
static void
finish_running(const MrLogRow *row, const MrOutcome *o)
{
	Datum		values[10];
	char		nulls[10];
	ErrorData  *e = o->error;
	int			ret;

	values[0] = Int64GetDatum(row->run_id);
	nulls[0] = ' ';
	values[1] = TimestampTzGetDatum(o->finished_at);
	nulls[1] = ' ';
	values[2] = Float8GetDatum(o->duration_ms);
	nulls[2] = o->has_duration ? ' ' : 'n';
	TEXT_ARG(mr_status_name(o->status), 3);
	TEXT_ARG(mr_method_name(o->method), 4);
	TEXT_ARG(e ? unpack_sql_state(e->sqlerrcode) : NULL, 5);
	TEXT_ARG(e ? e->message : NULL, 6);
	TEXT_ARG(e ? e->detail : NULL, 7);
	TEXT_ARG(e ? e->hint : NULL, 8);
	TEXT_ARG(o->skip_reason, 9);
	ret = SPI_execute_plan(plan_of(&plans.finish), values, nulls, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "SPI_execute_plan failed to finish run: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("run " INT64_FORMAT " is no longer in metrics_refresh_log", row->run_id)));
}

/*
 * A result object as a list of keys, in jsonb's order (shorter first, then
 * bytewise), so that the sort that ends a jsonb object finds them sorted.
 */
#define RESULT_MAX_KEYS 15

typedef struct ResultKeys
{
	int			n;
	const char *key[RESULT_MAX_KEYS];
	JsonbValue	value[RESULT_MAX_KEYS];
} ResultKeys;

/* Add "key": a string, or null; with omit_null, a NULL adds nothing. */
static void
add_text(ResultKeys *r, const char *key, const char *value, bool omit_null)
{
	JsonbValue *v = &r->value[r->n];

	if (value == NULL && omit_null)
		return;
	if (r->n >= RESULT_MAX_KEYS)
		elog(ERROR, "too many keys in a result object");
	r->key[r->n++] = key;
	if (value == NULL)
		v->type = jbvNull;
	else
	{
		v->type = jbvString;
		v->val.string.val = (char *) value;
		v->val.string.len = strlen(value);
	}
}

/* Add "key": a number. */
static void
add_numeric(ResultKeys *r, const char *key, Datum numeric)
{
	if (r->n >= RESULT_MAX_KEYS)
		elog(ERROR, "too many keys in a result object");
	r->key[r->n] = key;
	r->value[r->n].type = jbvNumeric;
	r->value[r->n++].val.numeric = DatumGetNumeric(numeric);
}

/* Add "key": a timestamptz, as to_jsonb() writes it. */
static void
add_timestamptz(ResultKeys *r, const char *key, TimestampTz t)
{
	char		buf[MAXDATELEN + 1];

	add_text(r, key, pstrdup(JsonEncodeDateTime(buf, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL)), false);
}

/* The keys as a jsonb object. */
static pg_noinline Jsonb *
keys_jsonb(const ResultKeys *r)
{
	JsonbParseState *state = NULL;
	JsonbValue	k;
	int			i;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < r->n; i++)
	{
		k.type = jbvString;
		k.val.string.val = (char *) r->key[i];
		k.val.string.len = strlen(r->key[i]);
		(void) pushJsonbValue(&state, WJB_KEY, &k);
		(void) pushJsonbValue(&state, WJB_VALUE, (JsonbValue *) &r->value[i]);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * The keys of the result object of an outcome just written, built here
 * rather than by the statement (RESULT_EXPR), which costs more than the rest
 * of logging: it must equal what RESULT_EXPR makes of the row (the tests
 * compare the two).
 */
static pg_noinline void
result_keys(ResultKeys *r, int64 id, const MrLogRow *row, const MrOutcome *o,
			TimestampTz started_at, int64 cascade_id)
{
	ErrorData  *e = o->error;
	const char *method = mr_method_name(o->method);
	Datum		duration = o->has_duration ? DirectFunctionCall1(float8_numeric,
																  Float8GetDatum(o->duration_ms)) : (Datum) 0;
	char	   *message;

	switch (o->status)
	{
		case MR_STATUS_SUCCESS:
			message = psprintf("refreshed %s %s in %s ms", row->view_name, method ? method : "",
							   DatumGetCString(DirectFunctionCall1(numeric_out,
																   DirectFunctionCall2(numeric_round, duration,
																					   Int32GetDatum(o->duration_ms < 10 ? 1 : 0)))));
			break;
		case MR_STATUS_SKIPPED:
		case MR_STATUS_UNCHANGED:
			message = (char *) o->skip_reason;
			break;
		case MR_STATUS_RUNNING:
			message = psprintf("refresh of %s started in the background", row->view_name);
			break;
		default:
			message = e ? e->message : NULL;
			break;
	}

	r->n = 0;
	add_text(r, "hint", e ? e->hint : NULL, true);
	add_text(r, "view", row->view_name, false);
	add_text(r, "detail", e ? e->detail : NULL, true);
	add_text(r, "method", method, true);
	add_numeric(r, "run_id", DirectFunctionCall1(int8_numeric, Int64GetDatum(id)));
	add_text(r, "source", mr_source_name(row->source), false);
	add_text(r, "status", mr_status_name(o->status), false);
	add_text(r, "message", message, true);
	if (r->n >= RESULT_MAX_KEYS)
		elog(ERROR, "too many keys in a result object");
	r->key[r->n] = "success";
	r->value[r->n].type = jbvBool;
	r->value[r->n++].val.boolean = o->status == MR_STATUS_SUCCESS ||
		o->status == MR_STATUS_UNCHANGED || o->status == MR_STATUS_RUNNING;
	add_text(r, "sqlstate", e ? unpack_sql_state(e->sqlerrcode) : NULL, true);
	if (cascade_id > 0)
		add_numeric(r, "cascade_id", DirectFunctionCall1(int8_numeric, Int64GetDatum(cascade_id)));
	add_timestamptz(r, "started_at", started_at);
	if (o->has_duration)
		add_numeric(r, "duration_ms",
					DirectFunctionCall3(numeric_in,
										CStringGetDatum(DatumGetCString(DirectFunctionCall1(float8out,
																							Float8GetDatum(o->duration_ms)))),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	if (o->status != MR_STATUS_RUNNING)
		add_timestamptz(r, "finished_at", o->finished_at);
	add_text(r, "triggered_by", row->caller, false);
}

/*
 * Write an outcome to the log (insert it, or finish row->run_id's 'running'
 * row), send NOTIFY, apply retention.  Returns the result object, allocated
 * in the memory context that was current at SPI_connect(), and the run's id
 * in *run_id unless that is NULL.  Preconditions: SPI connected,
 * search_path pinned.
 */
Jsonb *
mr_log_outcome(const MrExtension *ext, const MrLogRow *row, const MrOutcome *outcome,
			   int64 *run_id)
{
	MrSavedUser saved;
	bool		isnull;
	int64		id;
	TimestampTz started_at;
	int64		cascade_id;
	ResultKeys	keys;
	Jsonb	   *result;

	ensure_plans(ext);
	mr_become_extension_owner(ext, &saved);
	if (row->run_id <= 0 && insert_direct(ext, row, outcome, false, &id))
	{
		started_at = outcome->started_at;
		cascade_id = row->cascade_id;
	}
	else
	{
		if (row->run_id > 0)
			finish_running(row, outcome);
		else
			insert_outcome(row, outcome);
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		started_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		cascade_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		if (isnull)
			cascade_id = 0;
	}
	if (run_id != NULL)
		*run_id = id;

	result_keys(&keys, id, row, outcome, started_at, cascade_id);
	result = keys_jsonb(&keys);
	notify_run(id, row->view_name, outcome->status);
	apply_retention(ext);
	mr_restore_user(&saved);
	/* In the caller's memory, not SPI's, which ends with the call. */
	return (Jsonb *) DatumGetPointer(SPI_datumTransfer(JsonbPGetDatum(result), false, -1));
}

/*
 * Make a run the root of a cascade (its cascade_id is its own id), when its
 * row went through the statement.  Runs as the log's owner.
 */
static void
set_cascade(int64 run_id)
{
	Datum		value = Int64GetDatum(run_id);
	int			ret;

	ret = SPI_execute_plan(plan_of(&plans.set_cascade), &value, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed to make a run a cascade's first: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("run " INT64_FORMAT " could not be made the first of its cascade", run_id),
				 errdetail("Updating its row in metrics_refresh_log changed no row."),
				 errhint("Check the triggers on metrics_refresh_log.")));
}

/*
 * Insert a background run's 'running' row and send its NOTIFY; returns its
 * id and, in *result_text (allocated in the current memory context), its
 * result object.  A cascade's first row (cascade_root) is its cascade's
 * id.  The caller commits it.  This is the first statement of a new
 * background worker, whose caches are cold: the row goes in directly where
 * it can, and the object is built here (result_keys()), not by a statement
 * that the worker would have to parse and plan first.  Preconditions: SPI
 * connected, search_path pinned.
 */
int64
mr_log_running(const MrExtension *ext, const MrLogRow *row, bool cascade_root, char **result_text)
{
	MrOutcome	o = {0};
	MrSavedUser saved;
	ResultKeys	keys;
	Jsonb	   *result;
	int64		id;
	Datum		started_at;

	/* A 'running' row is a cascade's first or of no cascade. */
	Assert(row->cascade_id == 0);
	o.status = MR_STATUS_RUNNING;
	o.started_at = GetCurrentTimestamp();
	ensure_plans(ext);
	mr_become_extension_owner(ext, &saved);
	if (!insert_direct(ext, row, &o, cascade_root, &id))
	{
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};
		NameData	callername;
		bool		isnull;
		int			ret;

		namestrcpy(&callername, row->caller);
		values[0] = CStringGetTextDatum(row->view_name);
		values[1] = TimestampTzGetDatum(o.started_at);
		values[2] = CStringGetTextDatum(mr_source_name(row->source));
		values[3] = NameGetDatum(&callername);
		ret = SPI_execute_plan(plan_of(&plans.insert_running), values, nulls, false, 0);
		if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed to log running row: %s",
				 SPI_result_code_string(ret));
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		/* As stored: a trigger may have changed it. */
		started_at = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
			o.started_at = DatumGetTimestampTz(started_at);
		if (cascade_root)
			set_cascade(id);
	}
	result_keys(&keys, id, row, &o, o.started_at, cascade_root ? id : row->cascade_id);
	result = keys_jsonb(&keys);
	*result_text = JsonbToCString(NULL, &result->root, VARSIZE(result));
	notify_run(id, row->view_name, MR_STATUS_RUNNING);
	mr_restore_user(&saved);
	return id;
}

/*
 * Is run_id's background worker gone?  A worker holds a session lock on its
 * run (MR_LOCK_RUN) from before its 'running' row is committed until it
 * exits, so a row whose lock is free has no worker: this is known, not
 * guessed from the row's age.  The worker itself holds it (its own lock
 * would not stop it), and a lock table with no room left tells nothing:
 * not lost, for both.
 */
static bool
run_is_lost(int64 run_id)
{
	LOCKTAG		tag;
	LockAcquireResult r;

	mr_advisory_tag(&tag, (uint32) (run_id >> 32), (uint32) run_id, MR_LOCK_RUN);
	if (LockHeldByMe(&tag, ExclusiveLock, false))
		return false;
	r = LockAcquireExtended(&tag, ShareLock, false, true, false, NULL
#if PG_VERSION_NUM >= 180000
							,false
#endif
		);
	if (r == LOCKACQUIRE_NOT_AVAIL)
		return false;
	LockRelease(&tag, ShareLock, false);
	return true;
}

/*
 * Mark 'running' rows whose worker is gone (run_is_lost) as error
 * 'interrupted', at most max_marks of them (0: all).  view_name NULL means
 * all views.  Does nothing on a standby, in a read-only transaction, and
 * under REPEATABLE READ or SERIALIZABLE (see the file header).
 * Preconditions: SPI connected, search_path pinned.
 */
void
mr_log_reap(const MrExtension *ext, const char *view_name, int max_marks)
{
	int			marked = 0;
	Datum		value;
	char		null;
	int			ret;
	uint64		i,
				n;
	int64	   *ids;
	MrSavedUser saved;

	if (RecoveryInProgress() || XactReadOnly || IsolationUsesXactSnapshot())
		return;
	ensure_plans(ext);
	mr_become_extension_owner(ext, &saved);

	value = view_name ? CStringGetTextDatum(view_name) : (Datum) 0;
	null = view_name ? ' ' : 'n';
	ret = SPI_execute_plan(plan_of(&plans.running_ids), &value, &null, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed for running rows: %s",
			 SPI_result_code_string(ret));
	n = SPI_processed;
	ids = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull));
	}

	for (i = 0; i < n && (max_marks <= 0 || marked < max_marks); i++)
	{
		if (!run_is_lost(ids[i]))
			continue;
		marked++;
		value = Int64GetDatum(ids[i]);
		ret = SPI_execute_plan(plan_of(&plans.mark_lost), &value, NULL, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "SPI_execute_plan failed to mark run interrupted: %s",
				 SPI_result_code_string(ret));
	}
	mr_restore_user(&saved);
}

/*
 * metrics_refresh_prune: delete finished runs that started before
 * now() - older_than; returns how many.  'running' rows are kept, and the
 * statistics keep counting the deleted runs: they are folded first, and a
 * run not counted yet (under REPEATABLE READ or SERIALIZABLE, or while
 * another session holds the fold) is kept for a later prune.
 * Preconditions: access checked, SPI connected, search_path pinned.
 */
int64
mr_log_prune(const MrExtension *ext, Datum older_than)
{
	Oid			types[1] = {INTERVALOID};
	char	   *sql;
	MrSavedUser saved;
	int			ret;

	mr_check_interval_arg(older_than, "older_than", true);
	sql = psprintf("DELETE FROM %s.metrics_refresh_log "
				   "WHERE started_at < now() - $1 AND status <> 'running'%s", ext->nspname_q,
				   ext->version >= 10100 ? " AND counted" : "");
	mr_become_extension_owner(ext, &saved);
	/* Pruned runs stay in the statistics: count them first. */
	if (!IsolationUsesXactSnapshot())
		mr_stats_fold(ext, 0);
	ret = SPI_execute_with_args(sql, 1, types, &older_than, NULL, false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return (int64) SPI_processed;
}

/*
 * The current result object of one run, or *isnull for an unknown id,
 * allocated in the memory context that was current at SPI_connect().  A new
 * snapshot, so it sees what mr_log_reap() just corrected.  A 'running' row
 * whose worker is gone, which mr_log_reap() may not write (see the file
 * header), is reported as the interrupted run it is (not on a standby,
 * which cannot tell: there it is 'running').  "Gone" includes a
 * worker that finished after the row was read: it commits its outcome
 * before it lets go of the run lock, so the row is read again, with a new
 * snapshot, and only a row still 'running' is reported interrupted.
 */
Datum
mr_log_result_of(const MrExtension *ext, int64 run_id, bool *isnull)
{
	Datum		value = Int64GetDatum(run_id);
	MrSavedUser saved;
	int			ret;
	Datum		d;
	bool		status_null;
	char	   *status;

	ensure_plans(ext);
	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_plan(plan_of(&plans.result_of), &value, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed for a run's result: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		mr_restore_user(&saved);
		*isnull = true;
		return (Datum) 0;
	}
	status = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
											   &status_null));
	/*
	 * A standby cannot see the primary's locks: there a 'running' row is
	 * reported as it is, until its outcome is replayed.
	 */
	if (strcmp(status, "running") == 0 && !RecoveryInProgress() && run_is_lost(run_id))
	{
		ret = SPI_execute_plan(plan_of(&plans.result_lost), &value, NULL, false, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 0)
			ret = SPI_execute_plan(plan_of(&plans.result_of), &value, NULL, false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed for a lost run's result: %s",
				 SPI_result_code_string(ret));
	}
	mr_restore_user(&saved);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	return SPI_datumTransfer(JsonbPGetDatum(DatumGetJsonbP(d)), false, -1);
}

/*
 * The result object of a cascade, from its log rows and unlogged, what its
 * worker said it left without a row (-1: it never said): success (no run
 * failed or was skipped, and nothing was left: every view is refreshed or
 * unchanged), status ("error" when something was left, else "skipped" when
 * the first run was, else "error" when a run failed, "running" while one
 * runs, "skipped" when a view was skipped (busy, or below a busy one),
 * else "success"), cascade_id, run_id and view of the first run, counts by
 * status, the run ids in order, each run's view and status, a message, and
 * not_logged when views were left.  Allocated in the memory context that was
 * current at SPI_connect().  Preconditions: SPI connected, search_path
 * pinned.
 */
Jsonb *
mr_log_cascade_result(const MrExtension *ext, int64 cascade_id, int unlogged)
{
	Datum		values[3];
	MrSavedUser saved;
	bool		isnull;
	int			ret;
	Datum		d;

	ensure_plans(ext);

	/*
	 * A first run still 'running' whose worker is gone (it died outside a
	 * refresh, and its row could not be marked: under REPEATABLE READ, say)
	 * is reported as the error it is, as monitoring reports such a row.
	 */
	values[0] = Int64GetDatum(cascade_id);
	values[1] = BoolGetDatum(run_is_lost(cascade_id));
	/*
	 * Views the worker left without a row (stopped again while it logged
	 * them: cascade.c), or a worker that ended without saying (-1: it
	 * died), make the cascade a failure, whatever the rows say.
	 */
	values[2] = Int32GetDatum(unlogged);
	mr_become_extension_owner(ext, &saved);
	/*
	 * The runs are committed by other transactions (the worker's, one per
	 * view): read them with a new snapshot, which a REPEATABLE READ or
	 * SERIALIZABLE caller's would not be.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	ret = SPI_execute_plan(plan_of(&plans.cascade_result), values, NULL, true, 1);
	PopActiveSnapshot();
	mr_restore_user(&saved);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed for a cascade's result: %s",
			 SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return (Jsonb *) DatumGetPointer(SPI_datumTransfer(JsonbPGetDatum(DatumGetJsonbP(d)), false, -1));
}
