/*-------------------------------------------------------------------------
 *
 * refresh.c
 *		One refresh of one materialized view, and its row in the log.
 *
 * Transaction rules:
 * - The single-flight lock (an advisory lock keyed by the view's OID, field 4
 *   MR_LOCK_VIEW) is taken without waiting, at transaction level, before the
 *   refresh, and so is held as long as the view's own lock: until the
 *   caller's transaction ends.  A second refresh that cannot get it is logged
 *   as skipped.
 * - The refresh itself runs in an internal subtransaction (as PL/pgSQL's
 *   exec_stmt_block does).  Any error inside it - bad data, lock timeout,
 *   refresh timeout, query cancel, missing unique index - rolls back the
 *   subtransaction only, so readers keep the old contents and the caller's
 *   transaction stays usable; the error is captured and logged.
 * - The refresh runs as the view's owner (SECURITY_LOCAL_USERID_CHANGE);
 *   the log is written as the extension's owner.  Nothing else is elevated.
 * - Every caller has pinned search_path (mr_pin_search_path) and connected
 *   to SPI before calling mr_run_logged().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/genam.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "metrics_refresh.h"

/* Saved plans, valid for one installation of the extension (extoid). */
typedef struct MrPlans
{
	Oid			extoid;
	SPIPlanPtr	insert;			/* a finished attempt (or a skip) */
	SPIPlanPtr	insert_running; /* a background run's first row */
	SPIPlanPtr	finish;			/* a background run's outcome */
	SPIPlanPtr	oldest;			/* start of the oldest run: one index probe */
	SPIPlanPtr	prune;			/* retention, bounded and non-blocking */
	SPIPlanPtr	running_ids;	/* 'running' rows of one view */
} MrPlans;

static MrPlans plans = {InvalidOid};

/* Set by the refresh_timeout handler; tells a timeout from a user's cancel. */
volatile sig_atomic_t mr_refresh_timeout_fired = false;
static TimeoutId refresh_timeout_id = MAX_TIMEOUTS;

/*
 * The refresh_timeout handler, run from SIGALRM: request a query cancel the
 * way the server's own statement_timeout does, and remember that we did.
 */
static void
refresh_timeout_handler(void)
{
	mr_refresh_timeout_fired = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

/* Prepare and keep one plan; the text is schema-qualified throughout. */
static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Make sure the saved plans belong to the installed extension.  Requires an
 * SPI connection and the pinned search_path.
 */
static void
ensure_plans(const MrExtension *ext)
{
	static Oid	insert_types[13] = {
		TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID, TEXTOID, TEXTOID,
		TEXTOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID
	};
	static Oid	running_types[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, NAMEOID};
	static Oid	finish_types[10] = {
		INT8OID, TIMESTAMPTZOID, FLOAT8OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID
	};
	static Oid	prune_types[1] = {TIMESTAMPTZOID};
	static Oid	running_ids_types[1] = {TEXTOID};
	const char *s = ext->nspname_q;

	if (plans.extoid == ext->extoid)
		return;
	if (OidIsValid(plans.extoid))
	{
		SPI_freeplan(plans.insert);
		SPI_freeplan(plans.insert_running);
		SPI_freeplan(plans.finish);
		SPI_freeplan(plans.oldest);
		SPI_freeplan(plans.prune);
		SPI_freeplan(plans.running_ids);
		plans.extoid = InvalidOid;
	}

	plans.insert = prepare_kept(psprintf(
										 "INSERT INTO %s.metrics_refresh_log (view_name, started_at, finished_at, "
										 "duration_ms, status, method, source, triggered_by, sqlstate, "
										 "error_message, error_detail, error_hint, skip_reason) "
										 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
										 "RETURNING id, " MR_RESULT_EXPR, s),
								13, insert_types);
	plans.insert_running = prepare_kept(psprintf(
												 "INSERT INTO %s.metrics_refresh_log (view_name, started_at, status, "
												 "source, triggered_by) VALUES ($1, $2, 'running', $3, $4) "
												 "RETURNING id, " MR_RESULT_EXPR, s),
										4, running_types);
	plans.finish = prepare_kept(psprintf(
										 "UPDATE %s.metrics_refresh_log SET finished_at = $2, duration_ms = $3, "
										 "status = $4, method = $5, sqlstate = $6, error_message = $7, "
										 "error_detail = $8, error_hint = $9, skip_reason = $10 "
										 "WHERE id = $1 "
										 "RETURNING id, " MR_RESULT_EXPR, s),
								10, finish_types);
	plans.oldest = prepare_kept(psprintf("SELECT min(started_at) FROM %s.metrics_refresh_log", s),
								0, NULL);
	plans.prune = prepare_kept(psprintf(
										"DELETE FROM %s.metrics_refresh_log WHERE id = ANY (ARRAY("
										"SELECT id FROM %s.metrics_refresh_log "
										"WHERE started_at < $1 "
										"AND status <> 'running' "
										"ORDER BY started_at LIMIT 1000 FOR UPDATE SKIP LOCKED))", s, s),
							   1, prune_types);
	plans.running_ids = prepare_kept(psprintf(
											  "SELECT id FROM %s.metrics_refresh_log "
											  "WHERE status = 'running' "
											  "AND ($1 IS NULL OR view_name = $1)", s),
									 1, running_ids_types);
	plans.extoid = ext->extoid;
}

/* Switch to the extension owner for log access; returns what to restore. */
static void
become_log_owner(const MrExtension *ext, Oid *save_userid, int *save_sec)
{
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(ext->owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/*
 * Does the materialized view have a unique index that REFRESH ... CONCURRENTLY
 * can use (core's rules: unique, immediate, valid, no predicate, at least one
 * key column and only plain columns as keys)?  Reads the pg_index rows only:
 * it never asks the relcache for index predicates or expressions, which would
 * evaluate them (eval_const_expressions runs IMMUTABLE functions), so no code
 * of the view's owner runs here.  The caller runs as that owner anyway.
 */
static bool
has_usable_unique_index(Relation matview)
{
	List	   *indexes = RelationGetIndexList(matview);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;
		int			i;
		bool		usable;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		usable = index->indisunique && index->indimmediate && index->indisvalid &&
			index->indnkeyatts > 0 &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL);
		for (i = 0; usable && i < index->indnkeyatts; i++)
			usable = index->indkey.values[i] > 0;
		ReleaseSysCache(tup);
		if ((found = usable))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * The part of refresh_view() that runs as the view's owner: lock, check and
 * refresh.  Every step that could evaluate an expression the owner wrote (an
 * index predicate, the view's query, a function it calls) happens here, never
 * as the caller.  The checks run in a security-restricted operation; the
 * REFRESH statement is entered as the owner without that restriction, as core
 * enters it (a concurrent refresh first creates a temporary table), and core
 * restricts itself before it runs the view's query.
 */
static void
refresh_as_owner(Oid viewoid, bool populated, Oid owner, int save_sec,
				 const char **method)
{
	LOCKMODE	mode = populated ? ExclusiveLock : AccessExclusiveLock;
	Relation	rel;
	char	   *qualname;
	char	   *sql;
	volatile bool armed = false;
	int			ret;

	LockRelationOid(viewoid, mode);
	rel = try_relation_open(viewoid, NoLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewoid)));
	qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										  RelationGetRelationName(rel));
	if (rel->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a materialized view", mr_label(qualname))));
	if (!RelationIsPopulated(rel) && mode != AccessExclusiveLock)
		LockRelationOid(viewoid, AccessExclusiveLock);
	populated = RelationIsPopulated(rel);
	*method = populated ? "concurrently" : "full";

	if (!has_usable_unique_index(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("materialized view \"%s\" has no usable unique index", mr_label(qualname)),
				 errdetail("metrics_refresh refreshes concurrently, so that readers are never blocked, and that needs a unique index covering all rows."),
				 errhint("Create a unique index on one or more plain columns of the view, with no WHERE clause and no expressions: CREATE UNIQUE INDEX ON %s (<columns that identify a row>).",
						 qualname)));
	relation_close(rel, NoLock);

	sql = psprintf("REFRESH MATERIALIZED VIEW %s%s",
				   populated ? "CONCURRENTLY " : "", qualname);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);

	/* The run-time limit starts now that the lock is ours. */
	if (refresh_timeout_id == MAX_TIMEOUTS)
		refresh_timeout_id = RegisterTimeout(USER_TIMEOUT, refresh_timeout_handler);
	PG_TRY();
	{
		if (mr_refresh_timeout_ms > 0)
		{
			enable_timeout_after(refresh_timeout_id, mr_refresh_timeout_ms);
			armed = true;
		}
		ret = SPI_execute(sql, false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "SPI_execute failed for \"%s\": %s", sql,
				 SPI_result_code_string(ret));
	}
	PG_FINALLY();
	{
		/* Whatever the setting says by now: the view's code may have changed it. */
		if (armed)
			disable_timeout(refresh_timeout_id, false);
	}
	PG_END_TRY();
}

/*
 * Refresh one materialized view, raising on any failure.  Preconditions: SPI
 * connected; the single-flight lock held.  Waits for the view's lock for at
 * most metrics_refresh.lock_timeout, then runs REFRESH (CONCURRENTLY when
 * the view is populated) for at most metrics_refresh.refresh_timeout.  From
 * the lock on, everything runs as the view's owner in a security-restricted
 * operation (see refresh_as_owner).  Returns "concurrently" or "full" in
 * *method as soon as it is known.  The settings it changes are restored when
 * it returns, or by the abort of the enclosing (sub)transaction.
 */
static void
refresh_view(Oid viewoid, const char **method)
{
	int			nestlevel = NewGUCNestLevel();
	char		buf[32];
	bool		populated;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	HeapTuple	tup;

	/* Per-attempt state starts clean: an earlier attempt's timeout is past. */
	mr_refresh_timeout_fired = false;
	snprintf(buf, sizeof(buf), "%d", mr_lock_timeout_ms);
	(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/* Owner and lock mode from an unlocked look; re-checked under the lock. */
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(viewoid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewoid)));
	populated = ((Form_pg_class) GETSTRUCT(tup))->relispopulated;
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		refresh_as_owner(viewoid, populated, owner, save_sec, method);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	/* A timeout that fired just as the refresh ended cancels nothing else. */
	if (mr_refresh_timeout_fired)
		QueryCancelPending = false;

	AtEOXact_GUC(true, nestlevel);
}

/*
 * Make the errors caused by our own limits say so: a refresh_timeout cancel
 * and a worker's SIGTERM get their own message (and SQLSTATE 57P01 for the
 * latter); a lock timeout - every lock wait of a refresh is bounded by
 * metrics_refresh.lock_timeout - gets a detail and a hint.  Other errors are
 * left as raised.
 */
static void
describe_error(ErrorData *edata, const char *view_name)
{
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && edata->detail == NULL)
	{
		edata->detail = psprintf("The refresh of \"%s\" waited longer than metrics_refresh.lock_timeout (%d ms) for a lock.",
								 mr_label(view_name), mr_lock_timeout_ms);
		edata->hint = pstrdup("Another session holds a conflicting lock (see pg_locks); retry, or raise metrics_refresh.lock_timeout.");
	}
	if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return;
	if (mr_worker_sigterm)
	{
		edata->sqlerrcode = ERRCODE_ADMIN_SHUTDOWN;
		edata->message = pstrdup("interrupted");
		edata->detail = psprintf("The background worker refreshing \"%s\" was asked to stop.",
								 mr_label(view_name));
		edata->hint = NULL;
	}
	else if (mr_refresh_timeout_fired)
	{
		edata->message = pstrdup("canceling refresh due to metrics_refresh.refresh_timeout");
		edata->detail = psprintf("The refresh of \"%s\" ran longer than %d ms.",
								 mr_label(view_name), mr_refresh_timeout_ms);
		edata->hint = NULL;
	}
}

/* Single-flight: take the view's advisory lock without waiting. */
static bool
try_view_lock(Oid viewoid)
{
	LOCKTAG		tag;

	mr_advisory_tag(&tag, viewoid, 0, MR_LOCK_VIEW);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Is a refresh of this view in progress in another session?  Takes the
 * single-flight lock for an instant and gives it back.
 */
bool
mr_view_lock_busy(Oid viewoid)
{
	LOCKTAG		tag;

	if (!try_view_lock(viewoid))
		return true;
	mr_advisory_tag(&tag, viewoid, 0, MR_LOCK_VIEW);
	LockRelease(&tag, ExclusiveLock, false);
	return false;
}

/* Microseconds from a monotonic clock. */
static int64
monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* What one attempt produced, ready to be written to the log. */
typedef struct MrOutcome
{
	const char *status;
	const char *method;
	TimestampTz started_at;
	TimestampTz finished_at;
	double		duration_ms;
	bool		has_duration;
	ErrorData  *error;
	const char *skip_reason;
} MrOutcome;

/* Datum of a nullable C string, for SPI arguments. */
#define TEXT_ARG(s, i) \
	do { values[i] = (s) ? CStringGetTextDatum(s) : (Datum) 0; nulls[i] = (s) ? ' ' : 'n'; } while (0)

/*
 * Send NOTIFY metrics_refresh with the result object.  A payload too long
 * for NOTIFY (a long error message) is replaced by the object's identifying
 * keys.
 */
static void
notify_result(const char *json, int64 run_id, const char *view_name, const char *status)
{
	if (strlen(json) < 7900)
		Async_Notify("metrics_refresh", json);
	else
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "{\"run_id\": " INT64_FORMAT ", \"status\": ", run_id);
		escape_json(&buf, status);
		appendStringInfoString(&buf, ", \"view\": ");
		escape_json(&buf, view_name);
		appendStringInfoString(&buf, ", \"truncated\": true}");
		Async_Notify("metrics_refresh", buf.data);
	}
}

/* Retention's delete of rows that started before *(TimestampTz *) arg. */
static void
prune_older_than(void *arg)
{
	Datum		value = TimestampTzGetDatum(*(TimestampTz *) arg);
	int			ret = SPI_execute_plan(plans.prune, &value, NULL, false, 0);

	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_plan failed for retention: %s",
			 SPI_result_code_string(ret));
}

/*
 * Delete log rows older than metrics_refresh.log_retention: at most 1000 per
 * call, skipping rows another session has locked, so logging a run never
 * waits and never does unbounded work.  To stay cheap on the refresh path it
 * looks at most once a minute per session (or when the setting changed), and
 * deletes only when the oldest row is past the limit.  Runs as the log owner.
 */
static void
prune_by_retention(void)
{
	static TimestampTz next_check = 0;
	static int	checked_retention = -1;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz cutoff;
	Datum		oldest;
	bool		isnull;
	int			ret;

	if (mr_log_retention_min <= 0)
		return;
	if (now < next_check && checked_retention == mr_log_retention_min)
		return;
	next_check = now + 60 * USECS_PER_SEC;
	checked_retention = mr_log_retention_min;

	cutoff = now - (int64) mr_log_retention_min * USECS_PER_MINUTE;
	ret = SPI_execute_plan(plans.oldest, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed for retention: %s",
			 SPI_result_code_string(ret));
	oldest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || DatumGetTimestampTz(oldest) >= cutoff)
		return;

	(void) mr_call_bookkeeping(prune_older_than, &cutoff);
}

/*
 * Write an outcome to the log (insert, or finish run_id's 'running' row),
 * send NOTIFY, apply retention.  Returns the result object, allocated in
 * the memory context that was current at SPI_connect().  Precondition: SPI
 * connected, plans ready, current user is the log owner.
 */
static Jsonb *
write_outcome(const char *view_name, MrSource source, const char *caller,
			  int64 run_id, const MrOutcome *o)
{
	Datum		values[13];
	char		nulls[13];
	ErrorData  *e = o->error;
	const char *sqlstate = e ? unpack_sql_state(e->sqlerrcode) : NULL;
	int			ret;
	bool		isnull;
	Jsonb	   *result;
	int64		id;

	if (run_id > 0)
	{
		values[0] = Int64GetDatum(run_id);
		nulls[0] = ' ';
		values[1] = TimestampTzGetDatum(o->finished_at);
		nulls[1] = ' ';
		values[2] = Float8GetDatum(o->duration_ms);
		nulls[2] = o->has_duration ? ' ' : 'n';
		TEXT_ARG(o->status, 3);
		TEXT_ARG(o->method, 4);
		TEXT_ARG(sqlstate, 5);
		TEXT_ARG(e ? e->message : NULL, 6);
		TEXT_ARG(e ? e->detail : NULL, 7);
		TEXT_ARG(e ? e->hint : NULL, 8);
		TEXT_ARG(o->skip_reason, 9);
		ret = SPI_execute_plan(plans.finish, values, nulls, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "SPI_execute_plan failed to finish run: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("run " INT64_FORMAT " is no longer in metrics_refresh_log", run_id)));
	}
	else
	{
		NameData	callername;

		namestrcpy(&callername, caller);
		TEXT_ARG(view_name, 0);
		values[1] = TimestampTzGetDatum(o->started_at);
		nulls[1] = ' ';
		values[2] = TimestampTzGetDatum(o->finished_at);
		nulls[2] = ' ';
		values[3] = Float8GetDatum(o->duration_ms);
		nulls[3] = o->has_duration ? ' ' : 'n';
		TEXT_ARG(o->status, 4);
		TEXT_ARG(o->method, 5);
		TEXT_ARG(mr_source_name(source), 6);
		values[7] = NameGetDatum(&callername);
		nulls[7] = ' ';
		TEXT_ARG(sqlstate, 8);
		TEXT_ARG(e ? e->message : NULL, 9);
		TEXT_ARG(e ? e->detail : NULL, 10);
		TEXT_ARG(e ? e->hint : NULL, 11);
		TEXT_ARG(o->skip_reason, 12);
		ret = SPI_execute_plan(plans.insert, values, nulls, false, 0);
		if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed to log run: %s",
				 SPI_result_code_string(ret));
	}

	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	result = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	notify_result(JsonbToCString(NULL, &result->root, VARSIZE(result)), id,
				  view_name, o->status);
	prune_by_retention();
	return (Jsonb *) DatumGetPointer(SPI_datumTransfer(JsonbPGetDatum(result), false, -1));
}

/* The statement that marks one lost run interrupted, for mark_interrupted(). */
typedef struct ReapCall
{
	char	   *sql;
} ReapCall;

static void
mark_interrupted(void *arg)
{
	int			ret = SPI_execute(((ReapCall *) arg)->sql, false, 0);

	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute failed to mark run interrupted: %s",
			 SPI_result_code_string(ret));
}

/*
 * Mark 'running' rows whose worker is gone as error 'interrupted'.  A worker
 * holds a session lock on its run (MR_LOCK_RUN) from before its row is
 * committed until it exits, so a row whose lock is free has no worker: this
 * is known, not guessed from the row's age.  view_name NULL means all views.
 * Does nothing on a standby or in a read-only transaction (monitoring still
 * answers there); a row that changed after the caller's snapshot
 * (REPEATABLE READ, SERIALIZABLE) is left for a later call (see
 * mr_call_bookkeeping).  Preconditions: SPI connected, search_path pinned.
 */
void
mr_reap_orphans(const MrExtension *ext, const char *view_name)
{
	Datum		values[1];
	char		nulls[1];
	int			ret;
	uint64		i,
				n;
	int64	   *ids;
	Oid			save_userid;
	int			save_sec;
	ReapCall	reap;

	if (RecoveryInProgress() || XactReadOnly)
		return;
	ensure_plans(ext);
	become_log_owner(ext, &save_userid, &save_sec);

	values[0] = view_name ? CStringGetTextDatum(view_name) : (Datum) 0;
	nulls[0] = view_name ? ' ' : 'n';
	ret = SPI_execute_plan(plans.running_ids, values, nulls, true, 0);
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

	for (i = 0; i < n; i++)
	{
		LOCKTAG		tag;

		mr_advisory_tag(&tag, (uint32) (ids[i] >> 32), (uint32) ids[i], MR_LOCK_RUN);
		if (LockAcquire(&tag, ShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
			continue;			/* its worker is alive */
		LockRelease(&tag, ShareLock, false);

		/* Only if still running, and never waiting for another reaper. */
		reap.sql = psprintf("UPDATE %s.metrics_refresh_log SET status = 'error', "
							"finished_at = pg_catalog.clock_timestamp(), sqlstate = '57P01', "
							"error_message = 'interrupted', "
							"error_detail = 'The background worker running this refresh ended before recording an outcome (terminated or crashed).' "
							"WHERE id = ANY (ARRAY(SELECT id FROM %s.metrics_refresh_log "
							"WHERE id = " INT64_FORMAT " AND status = 'running' "
							"FOR UPDATE SKIP LOCKED))",
							ext->nspname_q, ext->nspname_q, ids[i]);
		(void) mr_call_bookkeeping(mark_interrupted, &reap);
	}
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * Log a skipped attempt and return its result object.  Precondition: SPI
 * connected, search_path pinned.
 */
Jsonb *
mr_log_skipped(Oid viewoid, MrSource source, const char *caller, const char *reason)
{
	MrExtension ext;
	MrOutcome	o = {0};
	Oid			save_userid;
	int			save_sec;
	Jsonb	   *result;

	mr_get_extension(&ext);
	ensure_plans(&ext);
	o.status = "skipped";
	o.started_at = o.finished_at = GetCurrentTimestamp();
	o.skip_reason = reason;
	become_log_owner(&ext, &save_userid, &save_sec);
	result = write_outcome(mr_view_name(viewoid), source, caller, 0, &o);
	SetUserIdAndSecContext(save_userid, save_sec);
	return result;
}

/* The reason logged when the single-flight lock is taken. */
char *
mr_busy_reason(const char *view_name)
{
	return psprintf("skipped: another refresh of %s is in progress", view_name);
}

/*
 * Insert a background run's 'running' row, returning its id and (in
 * *result_text, allocated in SPI's memory) its result object.  The caller
 * commits it.  Precondition:
 * SPI connected, search_path pinned.
 */
int64
mr_insert_running(Oid viewoid, MrSource source, const char *caller, char **result_text)
{
	MrExtension ext;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	NameData	callername;
	Oid			save_userid;
	int			save_sec;
	int			ret;
	bool		isnull;
	int64		id;
	Jsonb	   *result;

	mr_get_extension(&ext);
	ensure_plans(&ext);
	namestrcpy(&callername, caller);
	values[0] = CStringGetTextDatum(mr_view_name(viewoid));
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[2] = CStringGetTextDatum(mr_source_name(source));
	values[3] = NameGetDatum(&callername);

	become_log_owner(&ext, &save_userid, &save_sec);
	ret = SPI_execute_plan(plans.insert_running, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed to log running row: %s",
			 SPI_result_code_string(ret));
	SetUserIdAndSecContext(save_userid, save_sec);

	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	result = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*result_text = JsonbToCString(NULL, &result->root, VARSIZE(result));
	Async_Notify("metrics_refresh", *result_text);
	return id;
}

/* refresh_view() with its arguments, for mr_call_in_subxact(). */
typedef struct RefreshCall
{
	Oid			viewoid;
	const char *method;			/* set as soon as it is known */
} RefreshCall;

static void
refresh_call(void *arg)
{
	RefreshCall *call = (RefreshCall *) arg;

	refresh_view(call->viewoid, &call->method);
}

/*
 * Refresh one view and log the attempt: the heart of metrics_refresh_run().
 * Returns the result object (allocated in the memory context that was
 * current at SPI_connect()); a
 * failure of the refresh is returned, not raised.  Preconditions: arguments
 * checked and access granted by the caller; SPI connected; search_path
 * pinned.  For a background run (req->run_id > 0) the 'running' row exists
 * and is finished here.
 */
Jsonb *
mr_run_logged(MrRunRequest *req)
{
	MrExtension ext;
	MrOutcome	o = {0};
	RefreshCall call;
	char	   *view_name;
	int64		t0;
	Oid			save_userid;
	int			save_sec;
	Jsonb	   *result;

	mr_get_extension(&ext);
	ensure_plans(&ext);
	view_name = mr_view_name(req->viewoid);

	if (!try_view_lock(req->viewoid))
	{
		o.status = "skipped";
		o.started_at = o.finished_at = GetCurrentTimestamp();
		o.skip_reason = mr_busy_reason(view_name);
	}
	else
	{
		o.started_at = GetCurrentTimestamp();
		t0 = monotonic_us();

		call.viewoid = req->viewoid;
		call.method = NULL;
		o.error = mr_call_in_subxact(refresh_call, &call);
		o.method = call.method;
		o.status = o.error ? "error" : "success";
		if (o.error)
			describe_error(o.error, view_name);

		o.duration_ms = (double) (monotonic_us() - t0) / 1000.0;
		o.has_duration = true;
		o.finished_at = GetCurrentTimestamp();
	}

	become_log_owner(&ext, &save_userid, &save_sec);
	result = write_outcome(view_name, req->source, req->caller, req->run_id, &o);
	SetUserIdAndSecContext(save_userid, save_sec);

	if (o.error != NULL && req->source == MR_SOURCE_SCHEDULED)
		ereport(WARNING,
				(errmsg("scheduled refresh of materialized view \"%s\" failed: %s",
						mr_label(view_name), o.error->message),
				 errdetail("SQLSTATE %s; the attempt is logged in metrics_refresh_log.",
						   unpack_sql_state(o.error->sqlerrcode))));
	return result;
}

/*
 * Refresh one view without logging, raising on failure: the base refresh of
 * refresh_platform_metrics().  Same single-flight rule (a busy view raises
 * 55006) and the same time limits.  Preconditions as for mr_run_logged().
 */
void
mr_refresh_unlogged(Oid viewoid)
{
	const char *method;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *view_name = mr_view_name(viewoid);

	if (!try_view_lock(viewoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("could not refresh materialized view \"%s\"", mr_label(view_name)),
				 errdetail("Another refresh of the view is in progress.")));
	PG_TRY();
	{
		refresh_view(viewoid, &method);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		describe_error(edata, view_name);
		ReThrowError(edata);
	}
	PG_END_TRY();
}
