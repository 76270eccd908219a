/*-------------------------------------------------------------------------
 *
 * refresh.c
 *		One refresh of one materialized view: the single-flight lock, the
 *		view's lock within metrics_refresh.lock_timeout, the owner's rights,
 *		the usable-index check, REFRESH within metrics_refresh.refresh_timeout;
 *		then the outcome goes to the log (log.c).
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
 * - Security rule: from the moment the view is locked, everything runs as
 *   the view's owner (see refresh_as_owner); nothing before it evaluates an
 *   expression the owner wrote.  The log is written as the extension's owner
 *   (log.c).  Nothing else is elevated.
 * - Every caller has pinned search_path (mr_pin_search_path) and connected
 *   to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "metrics_refresh.h"

/* Set by the refresh_timeout handler; tells a timeout from a user's cancel. */
static volatile sig_atomic_t refresh_timeout_fired = false;
static TimeoutId refresh_timeout_id = MAX_TIMEOUTS;

/*
 * The refresh_timeout handler, run from SIGALRM: request a query cancel the
 * way the server's own statement_timeout does, and remember that we did.
 */
static void
refresh_timeout_handler(void)
{
	refresh_timeout_fired = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

/*
 * Does the materialized view have a unique index that REFRESH ... CONCURRENTLY
 * can use (core's rules: btree, unique, immediate, valid, no predicate, at
 * least one key column and only plain columns as keys)?  Reads the pg_index rows only:
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
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup;
		Form_pg_index index;
		int			i;
		bool		usable;

		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
		if (!HeapTupleIsValid(tup))
			continue;
		usable = ((Form_pg_class) GETSTRUCT(tup))->relam == BTREE_AM_OID;
		ReleaseSysCache(tup);
		if (!usable)
			continue;
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
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
 * The view whose REFRESH refresh_as_owner() has running, by the names its
 * statement uses: the event trigger that follows the statement
 * (metrics_refresh_ddl_track) takes its OID from here instead of looking
 * the name up again in pg_class, whose row of the view the REFRESH has just
 * rewritten.  A REFRESH nested in the view's own code names another view,
 * or is one of ours with its own entry.
 */
typedef struct RefreshingView
{
	Oid			viewoid;
	const char *nspname;
	const char *relname;
} RefreshingView;

static RefreshingView *refreshing = NULL;

/*
 * The OID of the view a REFRESH statement names, if it is the REFRESH that
 * refresh_as_owner() runs now; InvalidOid otherwise.
 */
Oid
mr_refresh_target(const RangeVar *relation)
{
	if (refreshing == NULL || relation->schemaname == NULL ||
		strcmp(relation->schemaname, refreshing->nspname) != 0 ||
		strcmp(relation->relname, refreshing->relname) != 0)
		return InvalidOid;
	return refreshing->viewoid;
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
refresh_as_owner(Oid viewoid, const char *view_name, bool populated, Oid owner,
				 int save_sec, MrMethod *method)
{
	LOCKMODE	mode = populated ? ExclusiveLock : AccessExclusiveLock;
	Relation	rel;
	char	   *qualname;
	char	   *sql;
	volatile bool armed = false;
	int			ret;
	RefreshingView target;
	RefreshingView *volatile outer = refreshing;

	LockRelationOid(viewoid, mode);
	rel = try_relation_open(viewoid, NoLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("materialized view \"%s\" was dropped before it could be refreshed",
						mr_label(view_name))));
	target.viewoid = viewoid;
	target.nspname = get_namespace_name(RelationGetNamespace(rel));
	target.relname = pstrdup(RelationGetRelationName(rel));
	qualname = quote_qualified_identifier(target.nspname, target.relname);
	if (rel->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a materialized view", mr_label(qualname))));
	/* The owner may have changed while we waited for the lock. */
	if (rel->rd_rel->relowner != owner)
	{
		owner = rel->rd_rel->relowner;
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	}
	if (!RelationIsPopulated(rel) && mode != AccessExclusiveLock)
		LockRelationOid(viewoid, AccessExclusiveLock);
	populated = RelationIsPopulated(rel);
	*method = populated ? MR_METHOD_CONCURRENTLY : MR_METHOD_FULL;

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
		refreshing = &target;
		ret = SPI_execute(sql, false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "SPI_execute failed for \"%s\": %s", sql,
				 SPI_result_code_string(ret));
	}
	PG_FINALLY();
	{
		refreshing = outer;
		/* Whatever the setting says by now: the view's code may have changed it. */
		if (armed)
			disable_timeout(refresh_timeout_id, false);
	}
	PG_END_TRY();
}

/* What refresh_view() is asked to do, and what it found. */
typedef struct RefreshCall
{
	const MrExtension *ext;
	Oid			viewoid;
	const char *view_name;
	bool		track;			/* the view has skip_unchanged: consume marks */
	bool		may_skip;		/* ... and this run may end unchanged */
	Datum		max_skip;
	MrMethod	method;			/* out: set as soon as it is known */
	bool		unchanged;		/* out: no source changed, not refreshed */
	int64		since_run;		/* out: with unchanged, the last real refresh */
	uint64		fingerprint;	/* out: with track, to store on success */
} RefreshCall;

/*
 * Refresh one materialized view, raising on any failure; or, for a tracked
 * view that may skip, find that no source changed (call->unchanged) and do
 * nothing.  Preconditions: SPI connected; the single-flight lock held.  Waits for the view's lock for at
 * most metrics_refresh.lock_timeout, then runs REFRESH (CONCURRENTLY when
 * the view is populated) for at most metrics_refresh.refresh_timeout.  From
 * the lock on, everything runs as the view's owner in a security-restricted
 * operation (see refresh_as_owner).  Returns "concurrently" or "full" in
 * *method as soon as it is known.  The setting it changes (lock_timeout) is
 * saved at the caller's GUC nesting level, the subtransaction's in
 * mr_run_logged() (restored when it ends, committed or not; a nesting level
 * of its own would cost a pass over every setting on PostgreSQL 15), the
 * call's in mr_refresh_unlogged() (restored by end_call() or the abort).
 */
static void
refresh_view(RefreshCall *call)
{
	Oid			viewoid = call->viewoid;
	char		buf[32];
	bool		populated;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	HeapTuple	tup;

	/* Per-attempt state starts clean: an earlier attempt's timeout is past. */
	refresh_timeout_fired = false;
	snprintf(buf, sizeof(buf), "%d", mr_lock_timeout_ms);
	(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * Change tracking (tracking.c), before the refresh's snapshot exists:
	 * decide, or delete the change marks this refresh will see.
	 */
	if (call->may_skip &&
		mr_track_unchanged(call->ext, viewoid, call->max_skip, &call->since_run))
	{
		call->unchanged = true;
		return;
	}
	if (call->track)
		call->fingerprint = mr_track_consume(call->ext, viewoid, call->view_name);

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
		refresh_as_owner(viewoid, call->view_name, populated, owner, save_sec, &call->method);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();

	/* A timeout that fired just as the refresh ended cancels nothing else. */
	if (refresh_timeout_fired)
		QueryCancelPending = false;
}

/*
 * Make the errors caused by our own limits say so: a refresh_timeout cancel
 * and a stop request (a worker's SIGTERM: stopped) get their own message
 * (and SQLSTATE 57P01 for the latter); a lock timeout - every lock wait of
 * a refresh is bounded by metrics_refresh.lock_timeout - gets a detail and a
 * hint.  Other errors are left as raised.
 */
static void
describe_error(ErrorData *edata, const char *view_name, bool stopped)
{
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && edata->detail == NULL)
	{
		edata->detail = psprintf("The refresh of \"%s\" waited longer than metrics_refresh.lock_timeout (%d ms) for a lock.",
								 mr_label(view_name), mr_lock_timeout_ms);
		edata->hint = pstrdup("Another session holds a conflicting lock (see pg_locks); retry, or raise metrics_refresh.lock_timeout.");
	}
	if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
		return;
	if (stopped)
	{
		edata->sqlerrcode = ERRCODE_ADMIN_SHUTDOWN;
		edata->message = pstrdup("interrupted");
		edata->detail = psprintf("The background worker refreshing \"%s\" was asked to stop.",
								 mr_label(view_name));
		edata->hint = NULL;
	}
	else if (refresh_timeout_fired)
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

/* The log row a request's outcome goes to. */
static MrLogRow
log_row(const MrRunRequest *req)
{
	MrLogRow	row;

	row.view_name = req->view_name != NULL ? req->view_name : mr_view_name(req->viewoid);
	row.source = req->source;
	row.caller = req->caller;
	row.run_id = req->run_id;
	row.cascade_id = req->cascade_id;
	return row;
}

/* The outcome of an attempt that found the view's refresh in progress. */
static MrOutcome
busy_outcome(const char *view_name)
{
	MrOutcome	o = {0};

	o.status = MR_STATUS_SKIPPED;
	o.method = MR_METHOD_NONE;
	o.started_at = o.finished_at = GetCurrentTimestamp();
	o.skip_reason = psprintf("skipped: another refresh of %s is in progress", view_name);
	return o;
}

/*
 * Log a request as skipped because another refresh of its view is in
 * progress (found before a background worker was started for it).
 */
Jsonb *
mr_run_skipped_busy(const MrExtension *ext, const MrRunRequest *req)
{
	MrLogRow	row = log_row(req);
	MrOutcome	o = busy_outcome(row.view_name);

	return mr_log_outcome(ext, &row, &o, NULL);
}

/*
 * Log a request as skipped for a reason (a cascade whose upstream view
 * failed, a view dropped during a cascade), under the view's name as it was
 * known (it may be gone).
 */
Jsonb *
mr_run_skipped_named(const MrExtension *ext, const MrRunRequest *req, const char *view_name,
					 const char *reason)
{
	MrLogRow	row;
	MrOutcome	o = {0};

	row.view_name = view_name;
	row.source = req->source;
	row.caller = req->caller;
	row.run_id = req->run_id;
	row.cascade_id = req->cascade_id;

	o.status = MR_STATUS_SKIPPED;
	o.method = MR_METHOD_NONE;
	o.started_at = o.finished_at = GetCurrentTimestamp();
	o.skip_reason = reason;
	return mr_log_outcome(ext, &row, &o, NULL);
}

/* refresh_view() as mr_call_in_subxact() calls it. */
static void
refresh_call(void *arg)
{
	refresh_view((RefreshCall *) arg);
}

/*
 * Refresh one view and log the attempt: the heart of metrics_refresh_run().
 * A tracked view whose sources did not change (and that may skip) is logged
 * as unchanged instead.  Returns the result object (allocated in the memory
 * context that was current at SPI_connect()); a failure of the refresh is
 * returned, not raised.  Preconditions: arguments checked and access granted
 * by the caller; SPI connected; search_path pinned.  For a background run
 * (req->run_id > 0) the 'running' row exists and is finished here.  A
 * scheduled run that fails also raises a WARNING, for the server log.  The
 * outcome's status goes to *status unless that is NULL.
 */
Jsonb *
mr_run_logged(const MrExtension *ext, const MrRunRequest *req, MrStatus *status)
{
	MrLogRow	row = log_row(req);
	MrOutcome	o = {0};
	RefreshCall call = {0};
	Jsonb	   *result;
	int64		run_id;

	if (!try_view_lock(req->viewoid))
		o = busy_outcome(row.view_name);
	else
	{
		int64		t0;

		call.ext = ext;
		call.viewoid = req->viewoid;
		call.view_name = row.view_name;
		call.track = req->track;
		call.may_skip = req->track && req->may_skip;
		call.max_skip = req->max_skip;
		call.method = MR_METHOD_NONE;
		o.started_at = GetCurrentTimestamp();
		t0 = monotonic_us();
		o.error = mr_call_in_subxact(refresh_call, &call);
		o.method = call.method;
		if (o.error)
		{
			o.status = MR_STATUS_ERROR;
			describe_error(o.error, row.view_name, mr_subxact_error_stops > 0);
			/*
			 * A worker's stop is answered by logging this (worker.c): the
			 * stops counted when the error was caught.
			 */
			mr_worker_answer_stop(mr_subxact_error_stops);
		}
		else if (call.unchanged)
		{
			o.status = MR_STATUS_UNCHANGED;
			o.skip_reason = psprintf("unchanged: no source changed since run " INT64_FORMAT,
									 call.since_run);
		}
		else
			o.status = MR_STATUS_SUCCESS;
		o.duration_ms = (double) (monotonic_us() - t0) / 1000.0;
		o.has_duration = true;
		o.finished_at = GetCurrentTimestamp();
	}

	result = mr_log_outcome(ext, &row, &o, &run_id);
	if (status != NULL)
		*status = o.status;
	if (o.status == MR_STATUS_SUCCESS && call.track)
		mr_track_refreshed(ext, req->viewoid, call.fingerprint, run_id);

	if (o.error != NULL && req->source == MR_SOURCE_SCHEDULED)
		ereport(WARNING,
				(errmsg("scheduled refresh of materialized view \"%s\" failed: %s",
						mr_label(row.view_name), o.error->message),
				 errdetail("SQLSTATE %s; the attempt is logged in metrics_refresh_log.",
						   unpack_sql_state(o.error->sqlerrcode))));
	return result;
}

/*
 * Refresh one view without logging, raising on failure: the base refresh of
 * refresh_platform_metrics().  Same single-flight rule (a busy view raises
 * 55006) and the same time limits; no change tracking (a tracked view's
 * next run refreshes again).  Preconditions as for mr_run_logged().
 */
void
mr_refresh_unlogged(Oid viewoid)
{
	RefreshCall call = {0};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *view_name = mr_view_name(viewoid);

	if (!try_view_lock(viewoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("could not refresh materialized view \"%s\"", mr_label(view_name)),
				 errdetail("Another refresh of the view is in progress.")));
	call.viewoid = viewoid;
	call.view_name = view_name;
	PG_TRY();
	{
		refresh_view(&call);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		describe_error(edata, view_name, false);
		ReThrowError(edata);
	}
	PG_END_TRY();
}
