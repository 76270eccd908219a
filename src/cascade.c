/*-------------------------------------------------------------------------
 *
 * cascade.c
 *		Refreshing a view, then the materialized views that depend on it, in
 *		dependency order (graph.c), each once, each as its own logged run that
 *		commits on its own.
 *
 * Rules:
 * - A cascade always runs in one background worker (worker.c), which owns
 *   its transactions: the first run (the root) finishes the 'running' row
 *   committed during the handshake; every dependent runs in a transaction of
 *   its own, so that a failure never rolls back another node and progress
 *   is visible as it happens.  wait => true waits for the worker.
 * - Every node follows every rule of a refresh (single flight, time limits,
 *   the owner's rights, the security rule), through mr_run_logged(); a
 *   dependent is logged with source 'cascade' and cascade_id = the root's
 *   run id.
 * - A dependent of a node that failed, or was skipped because it was busy,
 *   is not refreshed: it is logged as skipped with reason "upstream <view>
 *   failed" (or "busy"), naming the node where the branch stopped; other
 *   branches go on.  A dependent dropped during the cascade is logged as
 *   skipped too.  So is every node left when the worker is asked to stop
 *   (SIGTERM, or a waiting caller cancelled): each node of the plan has
 *   exactly one row per cascade, unless the worker is asked to stop again
 *   while another session holds the log locked: it then ends without
 *   logging the nodes left (and says so in a WARNING) rather than wait
 *   where nothing could interrupt it.
 * - A dependent with skip_unchanged whose sources did not change ends
 *   unchanged (tracking.c): a refresh of its source view marks it changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "metrics_refresh.h"

/* Why a node's dependents do not run: NULL when they may. */
static const char *
stop_reason(MrStatus status)
{
	switch (status)
	{
		case MR_STATUS_ERROR:
			return "failed";
		case MR_STATUS_SKIPPED:
			return "busy";
		default:
			return NULL;
	}
}

/* One node of a cascade being run. */
typedef struct NodeRun
{
	MrCascadeNode *node;
	const char *stopped;		/* "upstream <view> failed": dependents skip */
} NodeRun;

/*
 * Run one dependent, in the current transaction: skipped when an upstream
 * node stopped its branch or the view is gone, or (interrupted) when the
 * worker was asked to stop, else refreshed (or found unchanged).  Returns
 * why its own dependents must skip, or NULL.
 */
static const char *
run_dependent(const MrExtension *ext, const MrRunRequest *root, NodeRun *runs, int index,
			  bool interrupted)
{
	NodeRun    *nr = &runs[index];
	MrRunRequest req = *root;
	ListCell   *lc;
	int			i;
	MrStatus	status;

	req.viewoid = nr->node->relid;
	req.view_name = nr->node->view_name;
	req.source = MR_SOURCE_CASCADE;
	req.run_id = 0;
	req.track = false;
	req.may_skip = true;

	/* The first upstream node (in the cascade's order) that stopped. */
	for (i = 0; i < index; i++)
		foreach(lc, nr->node->upstream)
			if (runs[i].node->relid == lfirst_oid(lc) && runs[i].stopped != NULL)
			{
				(void) mr_run_skipped_named(ext, &req, nr->node->view_name, runs[i].stopped);
				return runs[i].stopped;
			}

	if (interrupted)
	{
		(void) mr_run_skipped_named(ext, &req, nr->node->view_name,
									"skipped: the cascade was interrupted");
		return NULL;
	}

	{
		MrOptions	opts;

		mr_options_of(ext, nr->node->view_name, &opts);
		req.track = opts.skip_unchanged;
		req.max_skip = opts.max_skip;
	}

	/*
	 * Gone since the plan was made?  Checked after the options' look-up
	 * (which processes pending invalidations, even when its cache answers,
	 * and so sees DROPs committed until then) and right before
	 * mr_run_logged(), which looks the name up again and would raise.
	 */
	if (get_rel_relkind(req.viewoid) != RELKIND_MATVIEW)
	{
		char	   *reason = psprintf("skipped: %s was dropped during the cascade",
									  nr->node->view_name);

		(void) mr_run_skipped_named(ext, &req, nr->node->view_name, reason);
		return psprintf("upstream %s was dropped", nr->node->view_name);
	}
	(void) mr_run_logged(ext, &req, &status);
	return stop_reason(status) ?
		psprintf("upstream %s %s", nr->node->view_name, stop_reason(status)) : NULL;
}

/* Begin one transaction of the cascade, with its SPI connection. */
static int
begin_node(void)
{
	int			nestlevel;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	nestlevel = mr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return nestlevel;
}

/* Commit one transaction of the cascade. */
static void
end_node(int nestlevel)
{
	SPI_finish();
	mr_unpin_search_path(nestlevel);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Lock the log for the bookkeeping of a stopped cascade, in the node's
 * transaction.  That bookkeeping runs with interrupts held, so that the
 * stop's own cancel does not abort it; a wait for a lock there could be
 * ended by nothing, not even pg_terminate_backend.  So the lock is tried
 * every 10 ms instead, until it is granted (true) or a stop request comes
 * after the one the bookkeeping began with: *root->stop_requested no longer
 * equals stops (false; the cascade then ends, and the worker with it).
 * With the table's lock held, the logging that follows does not wait for it.
 */
static bool
lock_log_while_stopped(const MrExtension *ext, const MrRunRequest *root, sig_atomic_t stops)
{
	Oid			relid = get_relname_relid("metrics_refresh_log", ext->nspoid);

	if (!OidIsValid(relid))
		return true;			/* the logging raises its own error */
	while (!ConditionalLockRelationOid(relid, RowExclusiveLock))
	{
		if (root->stop_requested != NULL && *root->stop_requested != stops)
		{
			/* Answered by ending the cascade, not by an error on the way. */
			QueryCancelPending = false;
			return false;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	return true;
}

/*
 * Run a cascade in a background worker: root->run_id is the root's
 * 'running' row, already committed, and root->cascade_id the same id.  The
 * root runs in the first transaction (with the plan of the cascade made in
 * it), each dependent in its own.  When the worker is asked to stop, the
 * node being refreshed is logged as interrupted, and every node left as
 * skipped (without refreshing it).
 */
void
mr_cascade_execute(const MrRunRequest *root)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "metrics_refresh cascade",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	MrExtension ext;
	List	   *plan;
	NodeRun    *runs;
	MrStatus	status;
	int			nestlevel;
	int			n;
	int			i;
	volatile bool broken = false;	/* a node's transaction failed outside its refresh */
	volatile bool gave_up = false;	/* stopped again while the log was locked */
	volatile sig_atomic_t held_stops = -1;	/* stop requests when the bookkeeping began */

	nestlevel = begin_node();
	mr_get_extension(&ext);
	if (get_rel_relkind(root->viewoid) != RELKIND_MATVIEW)
	{
		/*
		 * Dropped after its run was recorded: nothing to plan.  The run
		 * fails (and is logged) as any run of a dropped view does.
		 */
		(void) mr_run_logged(&ext, root, NULL);
		end_node(nestlevel);
		MemoryContextDelete(cxt);
		return;
	}
	old = MemoryContextSwitchTo(cxt);
	plan = mr_cascade_plan(root->viewoid);
	n = list_length(plan);
	runs = palloc0(sizeof(NodeRun) * n);
	for (i = 0; i < n; i++)
		runs[i].node = (MrCascadeNode *) list_nth(plan, i);
	MemoryContextSwitchTo(old);

	pgstat_report_activity(STATE_RUNNING, psprintf("metrics_refresh: cascade from %s (run " INT64_FORMAT ")",
												   runs[0].node->view_name, root->run_id));
	{
		MrRunRequest first = *root;
		MrOptions	opts;

		mr_options_of(&ext, runs[0].node->view_name, &opts);
		first.track = opts.skip_unchanged;
		first.max_skip = opts.max_skip;
		(void) mr_run_logged(&ext, &first, &status);
	}
	if (stop_reason(status) != NULL)
	{
		old = MemoryContextSwitchTo(cxt);
		runs[0].stopped = psprintf("upstream %s %s", runs[0].node->view_name, stop_reason(status));
		MemoryContextSwitchTo(old);
	}
	end_node(nestlevel);

	for (i = 1; i < n && !gave_up; i++)
	{
		const char *stopped;
		volatile bool interrupted = broken || (root->stop_requested && *root->stop_requested);
		uint32		holdoff = InterruptHoldoffCount;

		/*
		 * Asked to stop: the nodes left are only logged as skipped, each
		 * still once, so that the cascade's history is whole; the cancel
		 * that the stop request raised must not abort that.  Only a stop
		 * request that comes while the log is locked ends it
		 * (lock_log_while_stopped).
		 */
		if (interrupted)
		{
			HOLD_INTERRUPTS();
			if (held_stops < 0)
				held_stops = root->stop_requested ? *root->stop_requested : 0;
		}
		PG_TRY();
		{
			nestlevel = begin_node();
			mr_get_extension(&ext);
			pgstat_report_activity(STATE_RUNNING, psprintf("metrics_refresh: cascade from %s (run " INT64_FORMAT "): %s",
														   runs[0].node->view_name, root->run_id,
														   runs[i].node->view_name));
			if (interrupted && !lock_log_while_stopped(&ext, root, held_stops))
				gave_up = true;
			else
			{
				stopped = run_dependent(&ext, root, runs, i, interrupted);
				if (stopped != NULL)
					runs[i].stopped = MemoryContextStrdup(cxt, stopped);
			}
			end_node(nestlevel);
			if (interrupted)
				RESUME_INTERRUPTS();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/*
			 * An error outside the refresh itself (a stop request that
			 * cancelled the logging of the node, say): the node's
			 * transaction is lost.  Log the node again, as skipped with the
			 * error, in a transaction of its own that nothing interrupts,
			 * and skip the rest: the cascade's history stays whole.  The
			 * interrupt holdoff count is set back to what it was before the
			 * node: an ERROR zeroed it, an error raised again kept ours.
			 */
			InterruptHoldoffCount = holdoff;
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
			HOLD_INTERRUPTS();
			if (held_stops < 0)
				held_stops = root->stop_requested ? *root->stop_requested : 0;
			nestlevel = begin_node();
			mr_get_extension(&ext);
			if (!lock_log_while_stopped(&ext, root, held_stops))
				gave_up = true;
			else
			{
				MrRunRequest req = *root;

				req.viewoid = runs[i].node->relid;
				req.view_name = runs[i].node->view_name;
				req.source = MR_SOURCE_CASCADE;
				req.run_id = 0;
				(void) mr_run_skipped_named(&ext, &req, runs[i].node->view_name,
											psprintf("skipped: the cascade was interrupted (%s)",
													 edata->message));
			}
			end_node(nestlevel);
			old = MemoryContextSwitchTo(cxt);
			runs[i].stopped = psprintf("upstream %s failed", runs[i].node->view_name);
			MemoryContextSwitchTo(old);
			broken = true;
			RESUME_INTERRUPTS();
		}
		PG_END_TRY();
	}
	if (gave_up)
		ereport(WARNING,
				(errmsg("cascade " INT64_FORMAT " from %s stopped without logging %d of its views",
						root->run_id, runs[0].node->view_name, n - i + 1),
				 errdetail("The log was locked by another session when the worker was asked to stop again."),
				 errhint("Those views have no row in the cascade's history.")));
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextDelete(cxt);
}
