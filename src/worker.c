/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Refreshes in a dynamic background worker, for callers (HTTP APIs) that
 *		cannot wait for the refresh to finish.
 *
 * Protocol.  The caller creates a small DSM segment with the request and
 * registers a worker (no shared_preload_libraries needed).  The worker
 * connects to the same database and, in its first transaction (whose lock
 * waits are bounded by HANDSHAKE_LOCK_TIMEOUT), inserts the run's 'running'
 * row and takes a session-level advisory lock on the run id (MR_LOCK_RUN).
 * Before committing it moves the segment's state from STARTING to
 * COMMITTING, unless the caller has already moved it to ABANDONED; it then
 * commits, reports the run id and result object through the segment
 * (RUNNING) and sets the caller's latch.  The caller returns that object.
 * In a second transaction the worker performs the refresh through
 * mr_run_logged(), which finishes the row, and exits.
 *
 * The caller waits at most HANDSHAKE_TIMEOUT_MS, and gives up at once when
 * the worker waits for a lock the caller holds; giving up is the move from
 * STARTING to ABANDONED, after which the worker cannot commit its row, so a
 * caller that raised an error never leaves a run behind.  A worker that
 * already began to commit is waited for, except by a caller whose wait is
 * cancelled or terminated: its call raises, and the run goes on, logged.
 *
 * The run lock is what tells a live run from a dead one: a 'running' row
 * whose lock is free has no worker (crash or termination) and is reported
 * as 'interrupted' (log.c).  SIGTERM cancels the refresh, which is then
 * logged as an error with message 'interrupted'; one that comes during the
 * statistics fold after the refresh (log.c) leaves the run's outcome as it
 * is, with a WARNING.  The logging that answers a stop is not cancelled by
 * that stop, but by the next one (mr_worker_answer_stop), which ends the
 * worker wherever it waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "pgtime.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "metrics_refresh.h"

#define WORKER_STARTING	0
#define WORKER_COMMITTING 1		/* about to commit the 'running' row */
#define WORKER_RUNNING	2		/* 'running' row committed; result[] filled */
#define WORKER_FAILED	3		/* could not start; result[] holds the error */
#define WORKER_ABANDONED 4		/* the caller gave up: do not commit */

/*
 * Bounds of the handshake: the worker's first transaction waits at most
 * HANDSHAKE_LOCK_TIMEOUT for a lock, and the caller at most
 * HANDSHAKE_TIMEOUT_MS for the worker's answer.
 */
#define HANDSHAKE_LOCK_TIMEOUT	"10s"
#define HANDSHAKE_TIMEOUT_MS	30000

/* The request and the worker's answer, in a DSM segment. */
typedef struct MrWorkerShared
{
	Oid			dboid;
	Oid			viewoid;
	Oid			callerid;
	MrSource	source;
	bool		cascade;		/* refresh the view's dependents after it */
	bool		may_skip;		/* the first run may end unchanged */
	int			caller_pid;
	NameData	caller;
	char		timezone[TZ_STRLEN_MAX + 1];	/* the caller's TimeZone, for the
												 * answer */
	pg_atomic_uint32 state;
	int			sqlerrcode;		/* when WORKER_FAILED */
	int64		run_id;			/* when WORKER_RUNNING */
	char		result[4096];	/* result object, or error message */
	int			unlogged;		/* a cascade's views left without a row when
								 * it ended (cascade.c), -1 if it never
								 * said; read by a caller that waited, once
								 * the worker is gone */
} MrWorkerShared;

/*
 * Stop requests (SIGTERMs) received; others read it through
 * mr_worker_stops().  The first ones are answered by logging what
 * was stopped (the run interrupted, a cascade's views left skipped), which
 * their cancel must not cut short: once mr_worker_answer_stop() was called,
 * only the SIGTERMs after those it answered (sigterm_answered) cancel.
 */
static volatile sig_atomic_t sigterm_received = 0;
static volatile sig_atomic_t sigterm_answered = 0;
static bool answering_stop = false;

/*
 * SIGTERM: cancel whatever is running, and remember why, so the refresh is
 * logged as interrupted rather than cancelled.
 */
static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	sigterm_received++;
	if (sigterm_received > sigterm_answered)
	{
		InterruptPending = true;
		QueryCancelPending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * Begin answering the first seen stop requests (a count of
 * mr_worker_stops() read when their cancel was caught) by logging
 * what they stopped: their pending cancel is dropped, and from now on only
 * a further stop request cancels (and so ends the worker wherever it
 * waits).  Without a stop yet, or called again, it does nothing.  Only in
 * a worker.
 */
void
mr_worker_answer_stop(int seen)
{
	sigset_t	term,
				old;

	if (answering_stop || seen <= 0)
		return;
	answering_stop = true;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	sigterm_answered = seen;
	/* A cancel of a stop request that came after those is kept. */
	if (sigterm_received == seen)
		QueryCancelPending = false;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The stop requests (SIGTERMs) this worker received; 0 in other backends. */
int
mr_worker_stops(void)
{
	return sigterm_received;
}

/* Has a stop request come since mr_worker_answer_stop()? */
bool
mr_worker_stopped_again(void)
{
	return answering_stop && sigterm_received > sigterm_answered;
}

/* Wake the caller waiting in mr_start_worker(), if it is still there. */
static void
wake_caller(MrWorkerShared *sh)
{
	PGPROC	   *proc = BackendPidGetProc(sh->caller_pid);

	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/*
 * Give the worker the time limits a session of the caller would have: the
 * configuration file's values (file_lock_ms, file_refresh_ms, read before
 * connecting), overridden by ALTER ROLE ALL / ALTER DATABASE / ALTER ROLE
 * [IN DATABASE] ... SET for the caller, in PostgreSQL's order of precedence
 * (see mr_stored_setting), and by nothing else: the worker connected as the
 * bootstrap superuser, whose own role settings InitPostgres applied, and
 * those are overridden here at session level.  The caller's other role
 * settings (a statement_timeout meant for its HTTP requests, say) do not
 * apply.  Must run inside a transaction.
 */
static void
apply_caller_settings(Oid callerid, int file_lock_ms, int file_refresh_ms)
{
	const char *names[2] = {"metrics_refresh.lock_timeout", "metrics_refresh.refresh_timeout"};
	int			file_values[2] = {file_lock_ms, file_refresh_ms};
	int			i;

	for (i = 0; i < 2; i++)
	{
		GucSource	source;
		char	   *value = mr_stored_setting(names[i], MyDatabaseId, callerid, &source);

		if (value == NULL)
			value = psprintf("%d", file_values[i]);
		SetConfigOption(names[i], value, PGC_SUSET, PGC_S_SESSION);
	}
}

/*
 * First transaction: apply settings, insert and commit the 'running' row
 * while holding the run lock, and tell the caller.  The view's name as the
 * row records it goes to *view_name (in TopMemoryContext): the view may be
 * dropped before the refresh, which must still finish that row.
 */
static int64
start_run(MrWorkerShared *sh, int file_lock_ms, int file_refresh_ms, char **view_name)
{
	int			nestlevel;
	MrExtension ext;
	MrLogRow	row;
	char	   *result_text;
	int64		run_id;
	LOCKTAG		tag;
	uint32		expected = WORKER_STARTING;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	apply_caller_settings(sh->callerid, file_lock_ms, file_refresh_ms);
	if (sh->timezone[0] != '\0')
		SetConfigOption("TimeZone", sh->timezone, PGC_USERSET, PGC_S_SESSION);
	nestlevel = mr_pin_search_path();
	(void) set_config_option("lock_timeout", HANDSHAKE_LOCK_TIMEOUT, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	mr_get_extension(&ext);
	row.view_name = mr_view_name(sh->viewoid);
	*view_name = MemoryContextStrdup(TopMemoryContext, row.view_name);
	row.source = sh->source;
	row.caller = NameStr(sh->caller);
	row.run_id = 0;
	row.cascade_id = 0;
	/* The first run of a cascade is its id, and its answer says so. */
	run_id = mr_log_running(&ext, &row, sh->cascade, &result_text);
	mr_advisory_tag(&tag, (uint32) (run_id >> 32), (uint32) run_id, MR_LOCK_RUN);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
	strlcpy(sh->result, result_text, sizeof(sh->result));

	SPI_finish();
	mr_unpin_search_path(nestlevel);
	PopActiveSnapshot();
	/* Commit only if the caller still waits; from here on it waits for us. */
	if (!pg_atomic_compare_exchange_u32(&sh->state, &expected, WORKER_COMMITTING))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the caller stopped waiting for the background worker")));
	CommitTransactionCommand();
	return run_id;
}

/*
 * Entry point of the background worker.  main_arg is the DSM handle of the
 * request.  Exits when the refresh ends.
 */
void
metrics_refresh_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	MrWorkerShared *sh;
	MrRunRequest req = {0};
	MrExtension ext;
	int			nestlevel;
	char	   *view_name = NULL;

	/* The limits as the configuration file gives them, before any role's. */
	int			file_lock_ms = mr_lock_timeout_ms;
	int			file_refresh_ms = mr_refresh_timeout_ms;

	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("metrics_refresh worker could not attach to its request"),
				 errdetail("The caller went away before the worker started.")));
	sh = dsm_segment_address(seg);

	/* Connect as the bootstrap superuser; the caller's name goes to the log. */
	BackgroundWorkerInitializeConnectionByOid(sh->dboid, InvalidOid, 0);
	SetConfigOption("application_name", "metrics_refresh worker", PGC_USERSET, PGC_S_SESSION);

	PG_TRY();
	{
		req.run_id = start_run(sh, file_lock_ms, file_refresh_ms, &view_name);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		AbortCurrentTransaction();
		edata = CopyErrorData();
		sh->sqlerrcode = edata->sqlerrcode;
		strlcpy(sh->result, edata->message, sizeof(sh->result));
		pg_write_barrier();
		pg_atomic_write_u32(&sh->state, WORKER_FAILED);
		wake_caller(sh);
		PG_RE_THROW();
	}
	PG_END_TRY();

	sh->run_id = req.run_id;
	pg_write_barrier();
	pg_atomic_write_u32(&sh->state, WORKER_RUNNING);
	wake_caller(sh);

	/* Then the refresh, finishing the row, and for a cascade the others. */
	req.viewoid = sh->viewoid;
	req.view_name = view_name;
	req.source = sh->source;
	req.caller = pstrdup(NameStr(sh->caller));
	req.may_skip = sh->may_skip;
	req.cascade_id = sh->cascade ? req.run_id : 0;
	if (sh->cascade)
	{
		sh->unlogged = mr_cascade_execute(&req);
		pg_write_barrier();
		dsm_detach(seg);
		proc_exit(0);
	}
	dsm_detach(seg);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	nestlevel = mr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgstat_report_activity(STATE_RUNNING, psprintf("metrics_refresh: refresh of %s (run " INT64_FORMAT ")",
												   view_name, req.run_id));
	mr_get_extension(&ext);
	{
		MrOptions	opts;

		mr_options_of(&ext, view_name, &opts);
		req.track = opts.skip_unchanged;
		req.max_skip = opts.max_skip;
	}
	(void) mr_run_logged(&ext, &req, NULL);
	SPI_finish();
	mr_unpin_search_path(nestlevel);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	proc_exit(0);
}

/*
 * Is the process pid waiting for a lock that this backend holds?  Then it
 * would wait until our transaction ends, and we would wait for it.  This
 * looks at the whole lock table (every partition lock, briefly), which is
 * fine at the caller's 100 ms pace.
 */
static bool
blocked_by_me(pid_t pid)
{
	ArrayType  *blockers = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids,
																  Int32GetDatum(pid)));
	Datum	   *pids;
	int			n;
	int			i;

	deconstruct_array(blockers, INT4OID, sizeof(int32), true, TYPALIGN_INT, &pids, NULL, &n);
	for (i = 0; i < n; i++)
		if (DatumGetInt32(pids[i]) == MyProcPid)
			return true;
	return false;
}

/*
 * Give up waiting for a worker that has not begun to commit its 'running'
 * row: afterwards it will not commit it.  False when it already began (or
 * ended), so that the caller goes on waiting for its answer instead.
 */
static bool
abandon(MrWorkerShared *sh)
{
	uint32		expected = WORKER_STARTING;

	return pg_atomic_compare_exchange_u32(&sh->state, &expected, WORKER_ABANDONED);
}

/*
 * Ask a worker that has not recorded its run to stop, and wait (a little)
 * until it has: it cannot be waiting for us any more once we raise.
 */
static void
stop_worker(BackgroundWorkerHandle *handle)
{
	pid_t		pid;
	int			i;

	TerminateBackgroundWorker(handle);
	for (i = 0; i < 100 && GetBackgroundWorkerPid(handle, &pid) != BGWH_STOPPED; i++)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* What the caller's cleanup needs if its wait for the worker ends early. */
typedef struct HandshakeWait
{
	MrWorkerShared *sh;
	BackgroundWorkerHandle *handle;
} HandshakeWait;

/*
 * The caller's wait ended in an error or in the caller's exit (FATAL: a
 * terminated backend, a lost client): stop a worker that has not begun to
 * commit its 'running' row.
 */
static void
handshake_cleanup(int code, Datum arg)
{
	HandshakeWait *wait = (HandshakeWait *) DatumGetPointer(arg);

	if (abandon(wait->sh))
		stop_worker(wait->handle);
}

/*
 * Start a background refresh of viewoid and return the 'running' result
 * object (allocated in the memory context that was current at SPI_connect())
 * as soon as the worker has committed its row.  53400 when no worker
 * slot is free.  Preconditions: access checked; the single-flight lock was
 * free a moment ago (a worker that finds it taken logs a skip).
 */
Jsonb *
mr_start_worker(const MrBackgroundRun *run, BackgroundWorkerHandle **handle_out, int64 *run_id,
				dsm_segment **seg_out)
{
	Oid			viewoid = run->viewoid;
	dsm_segment *seg;
	MrWorkerShared *sh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	char	   *view_name = mr_view_name(viewoid);
	Jsonb	   *volatile result = NULL;
	TimestampTz start;
	HandshakeWait hw;

	seg = dsm_create(sizeof(MrWorkerShared), 0);
	sh = dsm_segment_address(seg);
	memset(sh, 0, sizeof(MrWorkerShared));
	sh->unlogged = -1;			/* until a cascade's worker reports */
	sh->dboid = MyDatabaseId;
	sh->viewoid = viewoid;
	sh->callerid = GetUserId();
	sh->source = run->source;
	sh->cascade = run->cascade;
	sh->may_skip = run->may_skip;
	sh->caller_pid = MyProcPid;
	namestrcpy(&sh->caller, GetUserNameFromId(GetUserId(), false));
	/* A TimeZone value is at most TZ_STRLEN_MAX bytes (pg_tzset refuses more). */
	strlcpy(sh->timezone, GetConfigOption("TimeZone", false, false), sizeof(sh->timezone));
	pg_atomic_init_u32(&sh->state, WORKER_STARTING);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_refresh");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "metrics_refresh_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_refresh worker for %s", view_name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_refresh worker");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		if (run->no_slot_ok)
		{
			dsm_detach(seg);
			return NULL;
		}
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background worker to refresh \"%s\"", mr_label(view_name)),
				 errdetail("All background worker slots are in use."),
				 run->cascade ?
				 errhint("Raise max_worker_processes (now %d): a cascade runs in a background worker.",
						 max_worker_processes) :
				 errhint("Raise max_worker_processes (now %d), or refresh with wait => true.",
						 max_worker_processes)));
	}

	/*
	 * Any error while we wait, a cancel or statement_timeout of the caller
	 * included, and the caller's exit stop a worker that has not begun to
	 * commit its 'running' row: the caller is told the refresh did not
	 * start (or is gone), so it must not.
	 */
	start = GetCurrentTimestamp();
	hw.sh = sh;
	hw.handle = handle;
	PG_ENSURE_ERROR_CLEANUP(handshake_cleanup, PointerGetDatum(&hw));
	{
		for (;;)
		{
			uint32		state = pg_atomic_read_u32(&sh->state);
			pid_t		pid;
			BgwHandleStatus status;

			if (state == WORKER_RUNNING)
			{
				pg_read_barrier();
				if (run_id != NULL)
					*run_id = sh->run_id;
				/* In the caller's memory, not SPI's, which ends with the call. */
				result = (Jsonb *) DatumGetPointer(SPI_datumTransfer(
																	 DirectFunctionCall1(jsonb_in, CStringGetDatum(sh->result)),
																	 false, -1));
				break;
			}
			if (state == WORKER_FAILED)
			{
				pg_read_barrier();
				ereport(ERROR,
						(errcode(sh->sqlerrcode),
						 errmsg("could not start the background refresh of \"%s\": %s",
								mr_label(view_name), sh->result)));
			}
			status = GetBackgroundWorkerPid(handle, &pid);
			if (status == BGWH_STOPPED &&
				pg_atomic_read_u32(&sh->state) == WORKER_STARTING)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("background worker for \"%s\" exited before starting the refresh", mr_label(view_name)),
						 errhint("See the server log for its error.")));
			if (status == BGWH_STARTED && blocked_by_me(pid) && abandon(sh))
			{
				stop_worker(handle);
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("could not start the background refresh of \"%s\"", mr_label(view_name)),
						 errdetail("The background worker needs a lock that this transaction holds."),
						 errhint("Start the background refresh outside the transaction that took that lock (on metrics_refresh_log, say), or refresh with wait => true.")));
			}
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), HANDSHAKE_TIMEOUT_MS) &&
				abandon(sh))
			{
				stop_worker(handle);
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("could not start the background refresh of \"%s\"", mr_label(view_name)),
						 errdetail("The background worker did not record the run within %d seconds.",
								   HANDSHAKE_TIMEOUT_MS / 1000),
						 errhint("See the server log, and pg_stat_activity for what the worker waits for.")));
			}

			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(handshake_cleanup, PointerGetDatum(&hw));

	if (seg_out != NULL)
		*seg_out = seg;
	else
		dsm_detach(seg);
	if (handle_out != NULL)
		*handle_out = handle;
	return result;
}

/*
 * Wait until a worker started by mr_start_worker() has exited (a cascade
 * run with wait => true), and return how many views it left without a row
 * (cascade.c), from its request's segment seg, which mr_start_worker() kept
 * and this detaches.  A cancel of the caller stops the worker (the node it
 * refreshes is logged as interrupted), and so does a worker that waits for
 * a lock the caller holds, with 55P03; the segment is then detached by the
 * abort.
 */
int
mr_wait_worker(BackgroundWorkerHandle *handle, dsm_segment *seg, const char *view_name)
{
	int			unlogged;

	PG_TRY();
	{
		for (;;)
		{
			pid_t		pid;
			BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

			if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
				break;
			if (status == BGWH_STARTED && blocked_by_me(pid))
			{
				/*
				 * Stopped before we raise: our abort releases the lock, and
				 * a worker not yet signalled would take it and go on.
				 */
				stop_worker(handle);
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("could not finish the cascade from \"%s\"", mr_label(view_name)),
						 errdetail("The background worker running it needs a lock that this transaction holds; it was stopped."),
						 errhint("Run the cascade outside the transaction that took that lock.")));
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pg_read_barrier();
	unlogged = ((MrWorkerShared *) dsm_segment_address(seg))->unlogged;
	dsm_detach(seg);
	return unlogged;
}
