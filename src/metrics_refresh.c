/*-------------------------------------------------------------------------
 *
 * metrics_refresh.c
 *		Settings and SQL-callable functions of the metrics_refresh extension.
 *
 * Each function here checks its arguments (22004 for a NULL view, 42809 for
 * something that is not a materialized view), then the caller's rights
 * (42501), then the server state (25006 on a standby), before anything is
 * changed or logged; then pins search_path, connects to SPI, and calls the
 * machinery of refresh.c, monitor.c, log.c, schedule.c or worker.c.  None of
 * these functions is SECURITY DEFINER: the current user is the real caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "metrics_refresh.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(metrics_refresh_run);
PG_FUNCTION_INFO_V1(metrics_refresh_job);
PG_FUNCTION_INFO_V1(metrics_refresh_trigger);
PG_FUNCTION_INFO_V1(refresh_platform_metrics);
PG_FUNCTION_INFO_V1(refresh_platform_metrics_with_logging);
PG_FUNCTION_INFO_V1(trigger_platform_metrics_refresh);
PG_FUNCTION_INFO_V1(metrics_refresh_is_admin);
PG_FUNCTION_INFO_V1(metrics_refresh_status);
PG_FUNCTION_INFO_V1(metrics_refresh_status_all);
PG_FUNCTION_INFO_V1(metrics_refresh_timeline);
PG_FUNCTION_INFO_V1(metrics_refresh_history);
PG_FUNCTION_INFO_V1(metrics_refresh_run_status);
PG_FUNCTION_INFO_V1(metrics_refresh_prune);
PG_FUNCTION_INFO_V1(metrics_refresh_schedule);
PG_FUNCTION_INFO_V1(metrics_refresh_unschedule);
PG_FUNCTION_INFO_V1(metrics_refresh_version);
PG_FUNCTION_INFO_V1(metrics_refresh_ddl_sweep);
PG_FUNCTION_INFO_V1(metrics_refresh_ddl_before_drop);
PG_FUNCTION_INFO_V1(metrics_refresh_configure);
PG_FUNCTION_INFO_V1(metrics_refresh_cascade);
PG_FUNCTION_INFO_V1(metrics_refresh_graph);
PG_FUNCTION_INFO_V1(metrics_refresh_stats);
PG_FUNCTION_INFO_V1(metrics_refresh_stats_reset);
PG_FUNCTION_INFO_V1(metrics_refresh_track);
PG_FUNCTION_INFO_V1(metrics_refresh_track_bookkeeping);
PG_FUNCTION_INFO_V1(metrics_refresh_ddl_track);

/* GUC variables */
char	   *mr_platform_view = NULL;
char	   *mr_admin_role = NULL;
char	   *mr_admin_check = NULL;
int			mr_lock_timeout_ms = 60 * 1000;
int			mr_refresh_timeout_ms = 0;
int			mr_log_retention_min = 30 * 24 * 60;

PGDLLEXPORT void _PG_init(void);

/*
 * The library's one relcache invalidation callback (a backend has room for
 * ten, shared by every library it loads): the writers' caches, the
 * options cache and the log's description.
 */
static void
mr_relcache_callback(Datum arg, Oid relid)
{
	mr_track_relcache_changed(relid);
	mr_options_relcache_changed(relid);
	mr_log_relcache_changed(relid);
}

/* Define the settings. */
void
_PG_init(void)
{
	DefineCustomStringVariable("metrics_refresh.platform_view",
							   "Schema-qualified name of the materialized view refreshed by the platform functions.",
							   "Used by refresh_platform_metrics(), refresh_platform_metrics_with_logging() and trigger_platform_metrics_refresh().",
							   &mr_platform_view,
							   "public.platform_metrics",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_refresh.admin_role",
							   "Role whose members are metrics_refresh admins.",
							   "Members may refresh any materialized view, schedule refreshes and read the log. The role need not exist.",
							   &mr_admin_role,
							   "metrics_refresh_admin",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_refresh.admin_check",
							   "Schema-qualified boolean function without arguments that approves further metrics_refresh admins.",
							   "Called as the real caller with search_path pinned to pg_catalog, pg_temp; NULL or an error means no. Empty disables it.",
							   &mr_admin_check,
							   "",
							   PGC_SUSET, 0,
							   mr_check_admin_check_setting, NULL, NULL);
	DefineCustomIntVariable("metrics_refresh.lock_timeout",
							"Longest wait for a materialized view's lock before a refresh fails.",
							"Applies to the refresh's lock waits only; 0 waits without limit.",
							&mr_lock_timeout_ms,
							60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("metrics_refresh.refresh_timeout",
							"Longest run time of one refresh, after its lock is obtained.",
							"A refresh running longer is cancelled and logged as an error; 0 means no limit.",
							&mr_refresh_timeout_ms,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("metrics_refresh.log_retention",
							"Age after which refresh log rows are deleted as new runs are logged.",
							"0 keeps rows forever; metrics_refresh_prune() deletes on demand.",
							&mr_log_retention_min,
							30 * 24 * 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("metrics_refresh");
	mr_track_init();
	CacheRegisterRelcacheCallback(mr_relcache_callback, (Datum) 0);
	mr_reapply_admin_settings();
}

/* Raise 22004 if argument argno is NULL. */
static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
}

/* Pin search_path and connect to SPI; returns the GUC nesting level. */
static int
begin_call(void)
{
	int			nestlevel = mr_pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return nestlevel;
}

/* Undo begin_call(). */
static void
end_call(int nestlevel)
{
	SPI_finish();
	mr_unpin_search_path(nestlevel);
}

/* Which view a refreshing function refreshes. */
typedef enum RefreshTarget
{
	TARGET_VIEW,				/* the view argument */
	TARGET_PLATFORM				/* metrics_refresh.platform_view */
} RefreshTarget;

/* Who may call a refreshing function. */
typedef enum RefreshAccess
{
	ACCESS_ADMINS,
	ACCESS_ADMINS_AND_OWNER		/* metrics_refresh_run's owner exception */
} RefreshAccess;

/* Whether a refresh of a view with the cascade option refreshes its dependents. */
typedef enum RefreshCascade
{
	CASCADE_AS_CONFIGURED,		/* when the view's cascade option is on */
	CASCADE_ALWAYS				/* metrics_refresh_cascade() */
} RefreshCascade;

/* What a refreshing function was asked to do. */
typedef struct RefreshEntry
{
	RefreshTarget target;
	Oid			viewoid;		/* with TARGET_VIEW */
	MrSource	source;
	RefreshAccess access;
	bool		wait;			/* false: hand it to a background worker */
	bool		may_skip;		/* may end unchanged (not "Refresh Now") */
	RefreshCascade cascade;
} RefreshEntry;

/*
 * A first run that could not even start (no worker slot for a scheduled
 * cascade): logged as an error, so that the failure is never silent, and
 * returned.
 */
static Jsonb *
log_not_started(const MrExtension *ext, const MrRunRequest *req, int sqlerrcode,
				const char *message, const char *hint)
{
	MrLogRow	row;
	MrOutcome	o = {0};
	ErrorData  *e = palloc0(sizeof(ErrorData));

	e->sqlerrcode = sqlerrcode;
	e->message = pstrdup(message);
	e->hint = hint ? pstrdup(hint) : NULL;
	row.view_name = mr_view_name(req->viewoid);
	row.source = req->source;
	row.caller = req->caller;
	row.run_id = 0;
	row.cascade_id = 0;
	o.status = MR_STATUS_ERROR;
	o.started_at = o.finished_at = GetCurrentTimestamp();
	o.error = e;
	return mr_log_outcome(ext, &row, &o, NULL);
}

/*
 * A cascade from req->viewoid (cascade.c), in a background worker: with
 * wait, wait for it and return its result object; without, return the
 * first run's 'running' object at once.
 */
static Jsonb *
cascade_entry(const MrExtension *ext, const MrRunRequest *req, bool wait, const char *view_name)
{
	MrBackgroundRun run = {req->viewoid, req->source, true, req->may_skip, false};
	struct BackgroundWorkerHandle *handle = NULL;
	struct dsm_segment *seg = NULL;
	int64		cascade_id = 0;
	int			unlogged;
	Jsonb	   *running;

	/* A scheduled cascade that finds no worker slot is logged, not raised. */
	run.no_slot_ok = wait && req->source == MR_SOURCE_SCHEDULED;
	running = mr_start_worker(&run, &handle, &cascade_id, wait ? &seg : NULL);
	if (running == NULL)
		return log_not_started(ext, req, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
							   "could not start a background worker for the cascade",
							   "Raise max_worker_processes: a cascade runs in a background worker.");
	if (!wait)
		return running;
	unlogged = mr_wait_worker(handle, seg, view_name);

	/*
	 * A worker that died outside a node's refresh (terminated while its
	 * first transaction waited for a lock, say) left its first run
	 * 'running': it is lost now, and is marked so (interrupted), in a
	 * subtransaction whose errors become a WARNING: the cascade is over.
	 * That row was committed after this statement began: the look-up needs
	 * a snapshot taken now.  The answer reports such a row as the error it
	 * is even where it cannot be marked (REPEATABLE READ).
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	mr_log_reap_in_subxact(ext);
	PopActiveSnapshot();
	return mr_log_cascade_result(ext, cascade_id, unlogged);
}

/*
 * The common path of every logged refreshing function.  The platform view
 * is resolved under the pinned search_path.
 */
static Jsonb *
refresh_entry(const RefreshEntry *entry)
{
	int			nestlevel = begin_call();
	MrExtension ext;
	MrRunRequest req = {0};
	MrOptions	opts;
	Oid			owner;
	char	   *view_name;
	Jsonb	   *result;

	req.viewoid = entry->target == TARGET_PLATFORM ? mr_platform_view_oid() : entry->viewoid;
	req.source = entry->source;
	req.caller = GetUserNameFromId(GetUserId(), false);
	owner = mr_check_matview(req.viewoid, &view_name);
	req.view_name = view_name;
	if (entry->access == ACCESS_ADMINS_AND_OWNER)
		mr_require_admin_or_owner(req.viewoid, owner, view_name);
	else
		mr_require_admin(psprintf("refresh materialized view \"%s\"", mr_label(view_name)));
	mr_check_not_recovery("refresh a materialized view");
	mr_get_extension(&ext);
	mr_options_of(&ext, view_name, &opts);
	req.track = opts.skip_unchanged;
	req.may_skip = entry->may_skip;
	req.max_skip = opts.max_skip;

	/*
	 * A cascade refreshes other views, maybe other roles' (each as its
	 * owner): only admins start one.  The view's owner who is not an admin
	 * refreshes the view alone, even with the option on.
	 */
	if (entry->cascade == CASCADE_ALWAYS ||
		(opts.cascade && (entry->access == ACCESS_ADMINS || mr_is_admin())))
		result = cascade_entry(&ext, &req, entry->wait, view_name);
	else if (entry->wait)
		result = mr_run_logged(&ext, &req, NULL);
	else if (mr_view_lock_busy(req.viewoid))
		result = mr_run_skipped_busy(&ext, &req);
	else
	{
		MrBackgroundRun run = {req.viewoid, req.source, false, req.may_skip, false};

		result = mr_start_worker(&run, NULL, NULL, NULL);
	}

	end_call(nestlevel);
	return result;
}

/*
 * metrics_refresh_run(view regclass, source text DEFAULT 'manual') -> jsonb
 * Refresh one view, log the attempt, return the result object; a failed
 * refresh is returned, not raised.
 */
Datum
metrics_refresh_run(PG_FUNCTION_ARGS)
{
	RefreshEntry entry = {.target = TARGET_VIEW, .access = ACCESS_ADMINS_AND_OWNER, .wait = true,
	.may_skip = true};

	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "source");
	entry.viewoid = PG_GETARG_OID(0);
	entry.source = mr_parse_source(PG_GETARG_TEXT_PP(1));
	PG_RETURN_JSONB_P(refresh_entry(&entry));
}

/*
 * pg_catalog.metrics_refresh_job(view regclass) -> jsonb
 * What the pg_cron jobs call: metrics_refresh_run(view, 'scheduled').  It
 * lives in pg_catalog, where only superusers can create functions, so that
 * a job left behind by a dropped extension fails instead of calling a
 * function someone else defined under the old name in the extension's
 * schema.
 */
Datum
metrics_refresh_job(PG_FUNCTION_ARGS)
{
	RefreshEntry entry = {.target = TARGET_VIEW, .source = MR_SOURCE_SCHEDULED,
	.access = ACCESS_ADMINS_AND_OWNER, .wait = true, .may_skip = true};

	require_arg(fcinfo, 0, "view");
	entry.viewoid = PG_GETARG_OID(0);
	PG_RETURN_JSONB_P(refresh_entry(&entry));
}

/*
 * metrics_refresh_trigger(view regclass, wait boolean DEFAULT true) -> jsonb
 * The admin's "Refresh Now" for any view; wait => false returns at once.
 */
Datum
metrics_refresh_trigger(PG_FUNCTION_ARGS)
{
	RefreshEntry entry = {.target = TARGET_VIEW, .source = MR_SOURCE_MANUAL, .access = ACCESS_ADMINS};

	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "wait");
	entry.viewoid = PG_GETARG_OID(0);
	entry.wait = PG_GETARG_BOOL(1);
	PG_RETURN_JSONB_P(refresh_entry(&entry));
}

/*
 * refresh_platform_metrics() -> void
 * The base refresh of the platform view: raises on failure, logs nothing.
 */
Datum
refresh_platform_metrics(PG_FUNCTION_ARGS)
{
	int			nestlevel = begin_call();
	Oid			viewoid = mr_platform_view_oid();
	char	   *view_name;

	mr_check_matview(viewoid, &view_name);
	mr_require_admin(psprintf("refresh materialized view \"%s\"", mr_label(view_name)));
	mr_check_not_recovery("refresh a materialized view");
	mr_refresh_unlogged(viewoid);
	end_call(nestlevel);
	PG_RETURN_VOID();
}

/*
 * refresh_platform_metrics_with_logging() -> jsonb
 * The scheduled entry point: metrics_refresh_run(platform view, 'scheduled');
 * a failure also raises a WARNING (see mr_run_logged).
 */
Datum
refresh_platform_metrics_with_logging(PG_FUNCTION_ARGS)
{
	RefreshEntry entry = {.target = TARGET_PLATFORM, .source = MR_SOURCE_SCHEDULED,
	.access = ACCESS_ADMINS, .wait = true, .may_skip = true};

	PG_RETURN_JSONB_P(refresh_entry(&entry));
}

/*
 * trigger_platform_metrics_refresh(wait boolean DEFAULT true) -> jsonb
 * The admin dashboard's "Refresh Now" for the platform view.
 */
Datum
trigger_platform_metrics_refresh(PG_FUNCTION_ARGS)
{
	RefreshEntry entry = {.target = TARGET_PLATFORM, .source = MR_SOURCE_MANUAL,
	.access = ACCESS_ADMINS};

	require_arg(fcinfo, 0, "wait");
	entry.wait = PG_GETARG_BOOL(0);
	PG_RETURN_JSONB_P(refresh_entry(&entry));
}

/* metrics_refresh_is_admin() -> boolean: is the caller a super admin? */
Datum
metrics_refresh_is_admin(PG_FUNCTION_ARGS)
{
	int			nestlevel = mr_pin_search_path();
	bool		result = mr_is_admin();

	mr_unpin_search_path(nestlevel);
	PG_RETURN_BOOL(result);
}

/*
 * Common prologue of the read-only monitoring functions: pin, connect, check
 * access, look up the extension, and have log.c correct lost background runs
 * (of the view, or of all views when reap_all) before anything is read.
 * Returns the view's log name in *view_name when argno >= 0 (the view
 * argument may not be NULL unless null_ok; NULL then means all views).
 */
static int
monitor_entry(FunctionCallInfo fcinfo, int argno, bool null_ok, char **view_name,
			  MrExtension *ext)
{
	int			nestlevel;
	char	   *name = NULL;

	if (argno >= 0 && !null_ok)
		require_arg(fcinfo, argno, "view");
	nestlevel = begin_call();
	mr_require_monitor();
	if (argno >= 0 && !PG_ARGISNULL(argno))
	{
		mr_check_matview(PG_GETARG_OID(argno), &name);
	}
	if (view_name != NULL)
		*view_name = name;
	mr_get_extension(ext);
	mr_log_reap(ext, name, 0);
	return nestlevel;
}

/* metrics_refresh_status(view regclass, time_window interval) -> jsonb */
Datum
metrics_refresh_status(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	char	   *view_name;
	int			nestlevel;
	Datum		result;

	require_arg(fcinfo, 1, "time_window");
	nestlevel = monitor_entry(fcinfo, 0, false, &view_name, &ext);
	result = mr_status_json(&ext, view_name, PG_GETARG_DATUM(1));
	end_call(nestlevel);
	PG_RETURN_DATUM(result);
}

/* metrics_refresh_status_all(time_window interval) -> setof record */
Datum
metrics_refresh_status_all(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;

	require_arg(fcinfo, 0, "time_window");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, -1, false, NULL, &ext);
	mr_status_rows(&ext, fcinfo, PG_GETARG_DATUM(0));
	end_call(nestlevel);
	return (Datum) 0;
}

/* metrics_refresh_timeline(view, time_window, bucket) -> setof record */
Datum
metrics_refresh_timeline(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	char	   *view_name;
	int			nestlevel;

	require_arg(fcinfo, 1, "time_window");
	require_arg(fcinfo, 2, "bucket");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, 0, false, &view_name, &ext);
	mr_timeline_rows(&ext, fcinfo, view_name, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2));
	end_call(nestlevel);
	return (Datum) 0;
}

/*
 * metrics_refresh_history(view DEFAULT NULL, max_rows DEFAULT 50, before_id
 * DEFAULT NULL) -> setof metrics_refresh_log.  A NULL view means all views;
 * NULL max_rows, no limit; before_id, the page after that run.
 */
Datum
metrics_refresh_history(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	char	   *view_name;
	int			nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, 0, true, &view_name, &ext);
	mr_history_rows(&ext, fcinfo, view_name,
					PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), PG_ARGISNULL(1),
					PG_NARGS() > 2 && !PG_ARGISNULL(2) ? PG_GETARG_INT64(2) : 0);
	end_call(nestlevel);
	return (Datum) 0;
}

/* metrics_refresh_run_status(run_id bigint) -> jsonb, NULL if unknown */
Datum
metrics_refresh_run_status(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;
	bool		isnull = false;
	Datum		result;

	nestlevel = monitor_entry(fcinfo, -1, false, NULL, &ext);
	result = mr_log_result_of(&ext, PG_GETARG_INT64(0), &isnull);
	end_call(nestlevel);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* metrics_refresh_prune(older_than interval) -> bigint (admins only) */
Datum
metrics_refresh_prune(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;
	int64		n;

	require_arg(fcinfo, 0, "older_than");
	nestlevel = begin_call();
	mr_require_admin("prune the metrics_refresh log");
	mr_check_not_recovery("prune the metrics_refresh log");
	mr_get_extension(&ext);
	n = mr_log_prune(&ext, PG_GETARG_DATUM(0));
	end_call(nestlevel);
	PG_RETURN_INT64(n);
}

/*
 * metrics_refresh_schedule(view, schedule, stale_after) -> bigint (admins)
 * Create or update the view's pg_cron job; returns its id.
 */
Datum
metrics_refresh_schedule(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;
	Oid			viewoid;
	int64		jobid;

	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "schedule");
	require_arg(fcinfo, 2, "stale_after");
	viewoid = PG_GETARG_OID(0);
	nestlevel = begin_call();
	mr_check_matview(viewoid, NULL);
	mr_require_admin("schedule refreshes");
	mr_check_not_recovery("schedule a refresh");
	mr_get_extension(&ext);
	jobid = mr_schedule(&ext, viewoid, text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_DATUM(2));
	end_call(nestlevel);
	PG_RETURN_INT64(jobid);
}

/* metrics_refresh_unschedule(view) -> boolean (admins): false if no job */
Datum
metrics_refresh_unschedule(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;
	Oid			viewoid;
	bool		found;

	require_arg(fcinfo, 0, "view");
	viewoid = PG_GETARG_OID(0);
	nestlevel = begin_call();
	mr_check_matview(viewoid, NULL);
	mr_require_admin("unschedule refreshes");
	mr_check_not_recovery("unschedule a refresh");
	mr_get_extension(&ext);
	found = mr_unschedule(&ext, viewoid);
	end_call(nestlevel);
	PG_RETURN_BOOL(found);
}

/* metrics_refresh_version() -> text: the version of the loaded library. */
Datum
metrics_refresh_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(EXTVERSION));
}

/*
 * Does this statement drop, without CASCADE, only relations named in a
 * temporary schema ("pg_temp", "pg_temp_3")?  A materialized view cannot
 * read a temporary table (PostgreSQL refuses it); it may only name a
 * temporary object (a regclass constant), which then takes CASCADE to drop.
 * So such a DROP drops no view.
 */
static bool
drops_temporary_only(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	/* CASCADE may drop a view whose query names a temporary object. */
	if (stmt->behavior == DROP_CASCADE)
		return false;
	if (stmt->removeType != OBJECT_TABLE && stmt->removeType != OBJECT_INDEX &&
		stmt->removeType != OBJECT_SEQUENCE)
		return false;
	foreach(lc, stmt->objects)
	{
		List	   *names = (List *) lfirst(lc);
		const char *schema;

		if (list_length(names) < 2)
			return false;		/* unqualified: could be any schema */
		schema = strVal(list_nth(names, list_length(names) - 2));
		if (strncmp(schema, "pg_temp", 7) != 0)
			return false;
	}
	return stmt->objects != NIL;
}

/*
 * metrics_refresh_ddl_sweep() -> event_trigger
 * After a DROP, and after an ALTER that renames or moves a relation or a
 * schema (or updates an extension): remove schedules whose view name no
 * longer finds a materialized view.
 */
Datum
metrics_refresh_ddl_sweep(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;
	int			nestlevel;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("metrics_refresh_ddl_sweep() must be called as an event trigger")));
	/* Of the ALTER commands, only these can rename or move a view. */
	if (strcmp(trigdata->event, "ddl_command_end") == 0 &&
		!IsA(trigdata->parsetree, RenameStmt) &&
		!IsA(trigdata->parsetree, AlterObjectSchemaStmt) &&
		!IsA(trigdata->parsetree, AlterExtensionStmt))
		PG_RETURN_VOID();
	/*
	 * A DROP of temporary objects only (REFRESH ... CONCURRENTLY drops its
	 * two temporary tables, so every concurrent refresh comes here) cannot
	 * drop a materialized view: nothing to sweep.
	 */
	if (strcmp(trigdata->event, "sql_drop") == 0 && drops_temporary_only(trigdata->parsetree))
		PG_RETURN_VOID();
	nestlevel = begin_call();
	mr_sweep_schedules();
	end_call(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Will this DROP statement drop the metrics_refresh extension, or fail?
 * DROP EXTENSION naming it, DROP SCHEMA naming its schema (with CASCADE
 * the extension goes too, without it the statement fails), DROP OWNED BY
 * its owner.
 */
static bool
drops_this_extension(Node *parsetree)
{
	MrExtension ext;
	ListCell   *lc;

	if (!mr_find_extension("metrics_refresh", &ext))
		return false;
	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;
		const char *name;

		if (stmt->removeType == OBJECT_EXTENSION)
			name = "metrics_refresh";
		else if (stmt->removeType == OBJECT_SCHEMA)
			name = get_namespace_name(ext.nspoid);
		else
			return false;
		foreach(lc, stmt->objects)
			if (strcmp(strVal(lfirst(lc)), name) == 0)
				return true;
	}
	else if (IsA(parsetree, DropOwnedStmt))
	{
		foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
			if (get_rolespec_oid((RoleSpec *) lfirst(lc), true) == ext.owner)
				return true;
	}
	return false;
}

/*
 * metrics_refresh_ddl_before_drop() -> event_trigger
 * Before DROP EXTENSION metrics_refresh (or a DROP SCHEMA / DROP OWNED that
 * drops it): remove the pg_cron jobs of the scheduled views, in the same
 * transaction, so that none is left to call a function by a name that no
 * longer belongs to the extension.  A failure fails the DROP.
 */
Datum
metrics_refresh_ddl_before_drop(PG_FUNCTION_ARGS)
{
	int			nestlevel;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("metrics_refresh_ddl_before_drop() must be called as an event trigger")));
	if (!drops_this_extension(((EventTriggerData *) fcinfo->context)->parsetree))
		PG_RETURN_VOID();
	nestlevel = begin_call();
	mr_remove_all_jobs();
	{
		MrExtension ext;

		/* Our triggers on tables, so that the DROP needs no CASCADE. */
		if (mr_find_extension("metrics_refresh", &ext) && ext.version >= 10100)
			mr_track_remove_all(&ext);
	}
	end_call(nestlevel);
	PG_RETURN_VOID();
}

/*
 * metrics_refresh_configure(view, skip_unchanged, max_skip, cascade,
 * stale_after) -> jsonb (admins): set the options given, return them all.
 */
Datum
metrics_refresh_configure(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;
	bool		skip_unchanged;
	Datum		max_skip;
	bool		cascade;
	Datum		stale_after;
	Jsonb	   *result;

	require_arg(fcinfo, 0, "view");
	nestlevel = begin_call();
	mr_check_matview(PG_GETARG_OID(0), NULL);
	mr_require_admin("configure refreshes");
	mr_check_not_recovery("configure a refresh");
	mr_get_extension(&ext);
	skip_unchanged = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	max_skip = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	cascade = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	stale_after = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	result = mr_configure(&ext, PG_GETARG_OID(0),
						  PG_ARGISNULL(1) ? NULL : &skip_unchanged,
						  PG_ARGISNULL(2) ? NULL : &max_skip,
						  PG_ARGISNULL(3) ? NULL : &cascade,
						  PG_ARGISNULL(4) ? NULL : &stale_after);
	end_call(nestlevel);
	PG_RETURN_JSONB_P(result);
}

/*
 * metrics_refresh_cascade(view regclass, wait boolean DEFAULT true) -> jsonb
 * (admins): refresh the view, then its dependents in order, in a background
 * worker; wait => false returns the first run's 'running' object at once.
 */
Datum
metrics_refresh_cascade(PG_FUNCTION_ARGS)
{
	/*
	 * Like metrics_refresh_run, and unlike "Refresh Now", a cascade's first
	 * view may come back unchanged (DESIGN: only metrics_refresh_trigger
	 * and trigger_platform_metrics_refresh always refresh).
	 */
	RefreshEntry entry = {.target = TARGET_VIEW, .source = MR_SOURCE_MANUAL,
	.access = ACCESS_ADMINS, .cascade = CASCADE_ALWAYS, .may_skip = true};

	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "wait");
	entry.viewoid = PG_GETARG_OID(0);
	entry.wait = PG_GETARG_BOOL(1);
	PG_RETURN_JSONB_P(refresh_entry(&entry));
}

/*
 * metrics_refresh_graph(view regclass DEFAULT NULL) -> table (view_name,
 * depends_on, level) (monitors): the dependencies between materialized
 * views of the view's connected part, or of all of them.
 */
Datum
metrics_refresh_graph(PG_FUNCTION_ARGS)
{
	int			nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = begin_call();
	mr_require_monitor();
	if (!PG_ARGISNULL(0))
		mr_check_matview(PG_GETARG_OID(0), NULL);
	mr_graph_rows(fcinfo, PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));
	end_call(nestlevel);
	return (Datum) 0;
}

/* metrics_refresh_stats() -> setof record (monitors): the statistics' rows. */
Datum
metrics_refresh_stats(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, -1, false, NULL, &ext);
	mr_stats_rows(&ext, fcinfo);
	end_call(nestlevel);
	return (Datum) 0;
}

/*
 * metrics_refresh_stats_reset(view regclass DEFAULT NULL) -> timestamptz
 * (admins): zero one view's statistics, or every view's.
 */
Datum
metrics_refresh_stats_reset(PG_FUNCTION_ARGS)
{
	MrExtension ext;
	int			nestlevel;
	TimestampTz at;

	nestlevel = begin_call();
	if (!PG_ARGISNULL(0))
		mr_check_matview(PG_GETARG_OID(0), NULL);
	mr_require_admin("reset metrics_refresh statistics");
	mr_check_not_recovery("reset metrics_refresh statistics");
	mr_get_extension(&ext);
	at = mr_stats_reset(&ext, PG_ARGISNULL(0) ? NULL : mr_view_name(PG_GETARG_OID(0)));
	end_call(nestlevel);
	PG_RETURN_TIMESTAMPTZ(at);
}

/* The table a trigger function was fired for; 39P01 unless fired as one. */
static Oid
trigger_relid(FunctionCallInfo fcinfo, const char *fname)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as a trigger", fname)));
	return RelationGetRelid(((TriggerData *) fcinfo->context)->tg_relation);
}

/*
 * metrics_refresh_track() -> trigger: the statement-level trigger on the
 * tables that tracked views read (tracking.c).
 */
Datum
metrics_refresh_track(PG_FUNCTION_ARGS)
{
	mr_track_note_write(trigger_relid(fcinfo, "metrics_refresh_track"), fcinfo->flinfo->fn_oid);
	return PointerGetDatum(NULL);
}

/*
 * metrics_refresh_track_bookkeeping() -> trigger: the statement-level
 * trigger on metrics_refresh_sources and metrics_refresh_changes; every
 * session's writers' caches are read again once this transaction commits
 * (tracking.c).
 */
Datum
metrics_refresh_track_bookkeeping(PG_FUNCTION_ARGS)
{
	mr_track_bookkeeping_changed(trigger_relid(fcinfo, "metrics_refresh_track_bookkeeping"));
	return PointerGetDatum(NULL);
}

/*
 * metrics_refresh_ddl_track() -> event_trigger, after REFRESH MATERIALIZED
 * VIEW, CREATE TABLE and ALTER TABLE: a refreshed materialized view marks
 * the tracked views that read it changed; a new partition or inheritance
 * child of a tracked table is tracked too (tracking.c).
 */
Datum
metrics_refresh_ddl_track(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;
	Node	   *parsetree;
	List	   *pairs = NIL;	/* parent, child, parent, child ... */
	Oid			refreshed = InvalidOid;
	MrExtension ext;
	int			nestlevel;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("metrics_refresh_ddl_track() must be called as an event trigger")));
	parsetree = trigdata->parsetree;
	if (IsA(parsetree, RefreshMatViewStmt))
	{
		RangeVar   *relation = ((RefreshMatViewStmt *) parsetree)->relation;

		refreshed = mr_refresh_target(relation);
		if (!OidIsValid(refreshed))
			refreshed = RangeVarGetRelid(relation, NoLock, true);
	}
	else if (IsA(parsetree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) parsetree;
		Oid			child = InvalidOid;

		/*
		 * Names are looked up only for the commands that make a child: a
		 * REFRESH ... CONCURRENTLY runs a CREATE TABLE and an ALTER TABLE
		 * of its own, and each look-up would cost every refresh.
		 */
		foreach(lc, stmt->inhRelations)
		{
			if (!OidIsValid(child))
				child = RangeVarGetRelid(stmt->relation, NoLock, true);
			pairs = lappend_oid(lappend_oid(pairs, RangeVarGetRelid((RangeVar *) lfirst(lc), NoLock, true)),
								child);
		}
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

			if (cmd->subtype == AT_AttachPartition)
				pairs = lappend_oid(lappend_oid(pairs, RangeVarGetRelid(stmt->relation, NoLock, true)),
									RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true));
			else if (cmd->subtype == AT_AddInherit)
				pairs = lappend_oid(lappend_oid(pairs, RangeVarGetRelid((RangeVar *) cmd->def, NoLock, true)),
									RangeVarGetRelid(stmt->relation, NoLock, true));
		}
	}
	if (!OidIsValid(refreshed) && pairs == NIL)
		PG_RETURN_VOID();
	if (!mr_find_extension("metrics_refresh", &ext) || ext.version < 10100 ||
		(creating_extension && CurrentExtensionObject == ext.extoid))
		PG_RETURN_VOID();
	/* Most refreshed views are read by no tracked view. */
	if (pairs == NIL && !mr_track_has_readers(&ext, refreshed))
		PG_RETURN_VOID();

	nestlevel = begin_call();
	if (OidIsValid(refreshed))
		mr_track_mark_readers(&ext, refreshed);
	for (lc = list_head(pairs); lc != NULL; lc = lnext(pairs, lnext(pairs, lc)))
	{
		Oid			parent = lfirst_oid(lc);
		Oid			child = lfirst_oid(lnext(pairs, lc));

		if (OidIsValid(parent) && OidIsValid(child))
			mr_track_new_child(&ext, parent, child);
	}
	end_call(nestlevel);
	PG_RETURN_VOID();
}
