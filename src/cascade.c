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
 *   while it logs them (waiting for another session's lock on the log,
 *   say): it then ends without logging the nodes left, and says so in a
 *   WARNING.
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
 * In an error handler of the cascade: the worker's stop requests counted
 * now go to *stops, the interrupt holdoff count is set back to holdoff (an
 * ERROR zeroed it), the error is copied into cxt (the cascade's memory
 * context, which lasts until its end) and returned, and the transaction is
 * aborted.
 */
static ErrorData *
catch_node_error(MemoryContext cxt, uint32 holdoff, int *stops)
{
	ErrorData  *edata;

	*stops = mr_worker_stops();
	InterruptHoldoffCount = holdoff;
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	return edata;
}

/*
 * Log a node whose transaction was lost to an error outside its refresh
 * (message) as skipped, in a transaction of its own.  Returns NULL, or the
 * message of the error that made this fail too, in cxt, with *stops the
 * worker's stop requests counted when it was caught (catch_node_error).  Called from the cascade's error handler,
 * with holdoff the interrupt holdoff count to restore after an error.
 */
static const char *
log_lost_node(const MrRunRequest *root, const MrCascadeNode *node, const char *message,
			  MemoryContext cxt, uint32 holdoff, int *stops)
{
	const char *volatile failed = NULL;

	PG_TRY();
	{
		MrRunRequest req = *root;
		MrExtension ext;
		int			nestlevel = begin_node();

		mr_get_extension(&ext);
		req.viewoid = node->relid;
		req.view_name = node->view_name;
		req.source = MR_SOURCE_CASCADE;
		req.run_id = 0;
		(void) mr_run_skipped_named(&ext, &req, node->view_name,
									psprintf("skipped: the cascade was interrupted (%s)", message));
		end_node(nestlevel);
	}
	PG_CATCH();
	{
		failed = catch_node_error(cxt, holdoff, stops)->message;
	}
	PG_END_TRY();
	return failed;
}

/*
 * Run a cascade in a background worker: root->run_id is the root's
 * 'running' row, already committed, and root->cascade_id the same id.  The
 * root runs in the first transaction (with the plan of the cascade made in
 * it), each dependent in its own.  When the worker is asked to stop, the
 * node being refreshed is logged as interrupted, and every node left as
 * skipped (without refreshing it).  Returns how many nodes were left without
 * a row: the worker was asked to stop again while it logged them, or that
 * logging failed (0 normally).
 */
int
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
	volatile int unlogged = 0;	/* nodes left without a row: the cascade ended */
	const char *volatile why = NULL;	/* ... for this reason */

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
		return 0;
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

	for (i = 1; i < n && unlogged == 0; i++)
	{
		const char *stopped;
		volatile bool interrupted = broken || mr_worker_stops() > 0;
		volatile uint32 holdoff = InterruptHoldoffCount;

		/*
		 * Asked to stop: the nodes left are only logged as skipped, each
		 * still once, so that the cascade's history is whole.  The stop is
		 * answered by that logging, which its cancel must not cut short;
		 * another stop request cancels it, wherever it waits, and ends the
		 * cascade (worker.c).
		 */
		if (interrupted)
		{
			mr_worker_answer_stop(mr_worker_stops());
			if (mr_worker_stopped_again())
			{
				unlogged = n - i;
				why = "a stop request";
				break;
			}
		}
		PG_TRY();
		{
			nestlevel = begin_node();
			mr_get_extension(&ext);
			pgstat_report_activity(STATE_RUNNING, psprintf("metrics_refresh: cascade from %s (run " INT64_FORMAT "): %s",
														   runs[0].node->view_name, root->run_id,
														   runs[i].node->view_name));
			stopped = run_dependent(&ext, root, runs, i, interrupted);
			if (stopped != NULL)
				runs[i].stopped = MemoryContextStrdup(cxt, stopped);
			end_node(nestlevel);
		}
		PG_CATCH();
		{
			int			seen;
			ErrorData  *edata = catch_node_error(cxt, holdoff, &seen);

			/*
			 * An error outside the refresh itself (a stop request that
			 * cancelled the logging of the node, say): the node's
			 * transaction is lost.  Unless the stop was already being
			 * answered, log the node again, as skipped with the error, in a
			 * transaction of its own, and skip the rest: the cascade's
			 * history stays whole.  If that fails too (another stop), the
			 * cascade ends there.  edata, and so why, are in cxt.
			 */
			if (mr_worker_stopped_again())
			{
				unlogged = n - i;
				why = edata->message;
			}
			else
			{
				int			stops = 0;

				mr_worker_answer_stop(seen);
				why = log_lost_node(root, runs[i].node, edata->message, cxt, holdoff, &stops);
				/*
				 * Cut short by the first stop request (the error was not
				 * one): that stop is answered by logging the node again.
				 */
				if (why != NULL && !mr_worker_stopped_again() && stops > 0)
				{
					mr_worker_answer_stop(stops);
					if (!mr_worker_stopped_again())
						why = log_lost_node(root, runs[i].node, edata->message, cxt, holdoff, &stops);
				}
				if (why != NULL)
					unlogged = n - i;
			}
			old = MemoryContextSwitchTo(cxt);
			runs[i].stopped = psprintf("upstream %s failed", runs[i].node->view_name);
			MemoryContextSwitchTo(old);
			broken = true;
		}
		PG_END_TRY();
	}
	if (unlogged > 0)
		ereport(WARNING,
				(errmsg("cascade " INT64_FORMAT " from \"%s\" ended without logging %d of its views",
						root->run_id, mr_label(runs[0].node->view_name), unlogged),
				 mr_worker_stopped_again() ?
				 errdetail("It was asked to stop again while it logged the views left (%s); those views have no row in its history.", why) :
				 errdetail("Logging the views left failed (%s); those views have no row in its history.", why)));
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextDelete(cxt);
	return unlogged;
}
