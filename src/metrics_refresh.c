/*-------------------------------------------------------------------------
 *
 * metrics_refresh.c
 *		Settings and SQL-callable functions of the metrics_refresh extension.
 *
 * Each function here checks its arguments (22004 for a NULL view, 42809 for
 * something that is not a materialized view), then the caller's rights
 * (42501), then the server state (25006 on a standby), before anything is
 * changed or logged; then pins search_path, connects to SPI, and calls the
 * machinery of refresh.c, monitor.c, schedule.c or worker.c.  None of these
 * functions is SECURITY DEFINER: the current user is the real caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "metrics_refresh.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(metrics_refresh_run);
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

/* GUC variables */
char	   *mr_platform_view = NULL;
char	   *mr_admin_role = NULL;
char	   *mr_admin_check = NULL;
int			mr_lock_timeout_ms = 60 * 1000;
int			mr_refresh_timeout_ms = 0;
int			mr_log_retention_min = 30 * 24 * 60;

void		_PG_init(void);

/*
 * metrics_refresh.admin_check must be empty or a schema-qualified function
 * name without parentheses: two identifiers separated by a dot, each either
 * double-quoted or made of letters, digits, '_' and '$' (not starting with a
 * digit or '$').
 */
static bool
check_admin_check(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	List	   *parts;
	bool		ok;
	const char *p;
	bool		quoted = false;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	copy = pstrdup(*newval);
	ok = SplitIdentifierString(copy, '.', &parts) && list_length(parts) == 2;
	for (p = *newval; ok && *p; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && !(isalnum((unsigned char) *p) || *p == '_' ||
							  *p == '$' || *p == '.' || IS_HIGHBIT_SET(*p)))
			ok = false;
	}
	if (!ok)
	{
		GUC_check_errdetail("metrics_refresh.admin_check must be a schema-qualified function name without parentheses, such as public.is_super_admin.");
		return false;
	}
	return true;
}

/*
 * Re-apply the database and role settings (ALTER DATABASE / ROLE ... SET) of
 * the two settings that decide who is an admin.  When the library is loaded
 * after login, those settings were only placeholders at login time, and a
 * client that passed its own value in the startup packet (PGOPTIONS) would
 * have hidden the database's value: the client value is rejected when the
 * library defines the setting (it is PGC_SUSET), and the setting would fall
 * back to its default instead of the database's value.  Only superusers can
 * store these settings, so they are applied with superuser context, at the
 * priority of the level they come from.  Needs a transaction; does nothing
 * outside one (e.g. in the postmaster with shared_preload_libraries, where
 * they apply anyway).
 */
static void
reapply_admin_settings(void)
{
	static const char *const names[] = {"metrics_refresh.admin_role", "metrics_refresh.admin_check"};
	int			i;

	if (!IsUnderPostmaster || !OidIsValid(MyDatabaseId) || !IsTransactionState())
		return;
	for (i = 0; i < (int) lengthof(names); i++)
	{
		GucSource	source;
		char	   *value = mr_stored_setting(names[i], MyDatabaseId, GetSessionUserId(), &source);

		if (value != NULL)
			(void) set_config_option(names[i], value, PGC_SUSET, source,
									 GUC_ACTION_SET, true, WARNING, false);
	}
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
							   check_admin_check, NULL, NULL);
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
	reapply_admin_settings();
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

/*
 * The common path of every refreshing function; platform: refresh the view
 * named by metrics_refresh.platform_view (viewoid is ignored), resolved under
 * the pinned search_path.  owner_ok: a view's owner
 * may refresh it without being an admin (metrics_refresh_run only).
 * wait = false hands the refresh to a background worker.
 */
static Jsonb *
refresh_entry(bool platform, Oid viewoid, MrSource source, bool owner_ok, bool wait)
{
	int			nestlevel = begin_call();
	Oid			owner;
	char	   *view_name;
	char	   *caller = GetUserNameFromId(GetUserId(), false);
	Jsonb	   *result;

	if (platform)
		viewoid = mr_platform_view_oid();
	owner = mr_check_matview(viewoid);
	view_name = mr_view_name(viewoid);
	if (owner_ok)
		mr_require_admin_or_owner(owner, view_name);
	else
		mr_require_admin(psprintf("refresh materialized view \"%s\"", mr_label(view_name)));
	mr_check_not_recovery("refresh a materialized view");

	if (wait)
	{
		MrRunRequest req = {viewoid, source, caller, 0};

		result = mr_run_logged(&req);
	}
	else if (mr_view_lock_busy(viewoid))
		result = mr_log_skipped(viewoid, source, caller, mr_busy_reason(view_name));
	else
		result = mr_start_worker(viewoid, source);

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
	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "source");
	PG_RETURN_JSONB_P(refresh_entry(false, PG_GETARG_OID(0),
									mr_parse_source(PG_GETARG_TEXT_PP(1)),
									true, true));
}

/*
 * metrics_refresh_trigger(view regclass, wait boolean DEFAULT true) -> jsonb
 * The admin's "Refresh Now" for any view; wait => false returns at once.
 */
Datum
metrics_refresh_trigger(PG_FUNCTION_ARGS)
{
	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "wait");
	PG_RETURN_JSONB_P(refresh_entry(false, PG_GETARG_OID(0), MR_SOURCE_MANUAL,
									false, PG_GETARG_BOOL(1)));
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

	mr_check_matview(viewoid);
	view_name = mr_view_name(viewoid);
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
	PG_RETURN_JSONB_P(refresh_entry(true, InvalidOid, MR_SOURCE_SCHEDULED, false, true));
}

/*
 * trigger_platform_metrics_refresh(wait boolean DEFAULT true) -> jsonb
 * The admin dashboard's "Refresh Now" for the platform view.
 */
Datum
trigger_platform_metrics_refresh(PG_FUNCTION_ARGS)
{
	require_arg(fcinfo, 0, "wait");
	PG_RETURN_JSONB_P(refresh_entry(true, InvalidOid, MR_SOURCE_MANUAL, false,
									PG_GETARG_BOOL(0)));
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
 * access.  Returns the view's log name in *view_name when argno >= 0 (the
 * view argument may not be NULL unless null_ok).
 */
static int
monitor_entry(FunctionCallInfo fcinfo, int argno, bool null_ok, char **view_name)
{
	int			nestlevel;

	if (argno >= 0 && !null_ok)
		require_arg(fcinfo, argno, "view");
	nestlevel = begin_call();
	mr_require_monitor();
	if (argno >= 0)
	{
		*view_name = NULL;
		if (!PG_ARGISNULL(argno))
		{
			mr_check_matview(PG_GETARG_OID(argno));
			*view_name = mr_view_name(PG_GETARG_OID(argno));
		}
	}
	return nestlevel;
}

/* metrics_refresh_status(view regclass, time_window interval) -> jsonb */
Datum
metrics_refresh_status(PG_FUNCTION_ARGS)
{
	char	   *view_name;
	int			nestlevel;
	Datum		result;

	require_arg(fcinfo, 1, "time_window");
	nestlevel = monitor_entry(fcinfo, 0, false, &view_name);
	result = mr_status_json(view_name, PG_GETARG_DATUM(1));
	end_call(nestlevel);
	PG_RETURN_DATUM(result);
}

/* metrics_refresh_status_all(time_window interval) -> setof record */
Datum
metrics_refresh_status_all(PG_FUNCTION_ARGS)
{
	int			nestlevel;

	require_arg(fcinfo, 0, "time_window");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, -1, false, NULL);
	mr_status_rows(fcinfo, PG_GETARG_DATUM(0));
	end_call(nestlevel);
	return (Datum) 0;
}

/* metrics_refresh_timeline(view, time_window, bucket) -> setof record */
Datum
metrics_refresh_timeline(PG_FUNCTION_ARGS)
{
	char	   *view_name;
	int			nestlevel;

	require_arg(fcinfo, 1, "time_window");
	require_arg(fcinfo, 2, "bucket");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, 0, false, &view_name);
	mr_timeline_rows(fcinfo, view_name, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2));
	end_call(nestlevel);
	return (Datum) 0;
}

/*
 * metrics_refresh_history(view DEFAULT NULL, max_rows DEFAULT 50) -> setof
 * metrics_refresh_log.  A NULL view means all views; NULL max_rows, no limit.
 */
Datum
metrics_refresh_history(PG_FUNCTION_ARGS)
{
	char	   *view_name;
	int			nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = monitor_entry(fcinfo, 0, true, &view_name);
	mr_history_rows(fcinfo, view_name,
					PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), PG_ARGISNULL(1));
	end_call(nestlevel);
	return (Datum) 0;
}

/* metrics_refresh_run_status(run_id bigint) -> jsonb, NULL if unknown */
Datum
metrics_refresh_run_status(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	bool		isnull = false;
	Datum		result;

	nestlevel = monitor_entry(fcinfo, -1, false, NULL);
	result = mr_run_status(PG_GETARG_INT64(0), &isnull);
	end_call(nestlevel);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* metrics_refresh_prune(older_than interval) -> bigint (admins only) */
Datum
metrics_refresh_prune(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	int64		n;

	require_arg(fcinfo, 0, "older_than");
	nestlevel = begin_call();
	mr_require_admin("prune the metrics_refresh log");
	mr_check_not_recovery("prune the metrics_refresh log");
	n = mr_prune(PG_GETARG_DATUM(0));
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
	int			nestlevel;
	Oid			viewoid;
	int64		jobid;

	require_arg(fcinfo, 0, "view");
	require_arg(fcinfo, 1, "schedule");
	require_arg(fcinfo, 2, "stale_after");
	viewoid = PG_GETARG_OID(0);
	nestlevel = begin_call();
	mr_check_matview(viewoid);
	mr_require_admin("schedule refreshes");
	mr_check_not_recovery("schedule a refresh");
	jobid = mr_schedule(viewoid, text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_DATUM(2));
	end_call(nestlevel);
	PG_RETURN_INT64(jobid);
}

/* metrics_refresh_unschedule(view) -> boolean (admins): false if no job */
Datum
metrics_refresh_unschedule(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	Oid			viewoid;
	bool		found;

	require_arg(fcinfo, 0, "view");
	viewoid = PG_GETARG_OID(0);
	nestlevel = begin_call();
	mr_check_matview(viewoid);
	mr_require_admin("unschedule refreshes");
	mr_check_not_recovery("unschedule a refresh");
	found = mr_unschedule(viewoid);
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
	end_call(nestlevel);
	PG_RETURN_VOID();
}
