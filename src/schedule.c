/*-------------------------------------------------------------------------
 *
 * schedule.c
 *		One pg_cron job per materialized view.
 *
 * pg_cron is a soft dependency: it is looked up at call time, and its
 * absence is a 55000 error with a hint.  Jobs are created through pg_cron's
 * own SQL API as the extension owner, so they belong to - and run as - the
 * role that owns the log, whoever the admin calling us is.  A job calls
 * pg_catalog.metrics_refresh_job(), never a name in the extension's schema
 * (see there).  The job's name
 * identifies the view, and cron.schedule(job_name, ...) updates a job of the
 * same name and owner in place, so rescheduling keeps the job id (pg_cron
 * 1.3 and later).  Preconditions for both entry points: access checked,
 * search_path pinned, SPI connected.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/md5.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "metrics_refresh.h"

/* pg_cron's job_name is of type name: longer names would be truncated. */
#define MAX_JOBNAME (NAMEDATALEN - 1)

/*
 * Check that pg_cron is installed in this database, or raise 55000 with a
 * hint.  pg_cron always keeps its objects in schema "cron" (its control file
 * names pg_catalog as the extension's schema).
 */
static void
require_pg_cron(void)
{
	MrExtension cron;

	if (!mr_find_extension("pg_cron", &cron))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_cron\" is not installed in this database"),
				 errdetail("Scheduling uses pg_cron; refreshing by hand does not need it."),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart the server, and run CREATE EXTENSION pg_cron.")));
}

/*
 * The pg_cron job name for a view: "metrics_refresh <view>", or, when that
 * does not fit in a name, "metrics_refresh " and the md5 of the view name.
 */
static char *
job_name(const char *view_name)
{
	char	   *name = psprintf("metrics_refresh %s", view_name);
	char		md5[33];
	const char *errstr = NULL;

	if (strlen(name) <= MAX_JOBNAME)
		return name;
	if (!pg_md5_hash(view_name, strlen(view_name), md5, &errstr))
		elog(ERROR, "could not compute MD5 hash: %s", errstr);
	return psprintf("metrics_refresh %s", md5);
}

/*
 * cron.schedule(job name, schedule, command) as the current user; returns the
 * job id.  pg_cron's refusal of the schedule becomes our own 22023, worded
 * the same whatever pg_cron's version (1.6 added a hint of its own); any
 * other error is raised as it was.
 */
static int64
cron_schedule(Datum *values, const char *schedule)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	MemoryContext cxt = CurrentMemoryContext;
	volatile int ret = 0;
	bool		isnull;

	PG_TRY();
	{
		ret = SPI_execute_with_args("SELECT cron.schedule($1, $2, $3)", 3, types, values,
									NULL, false, 0);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule \"%s\"", schedule),
				 errdetail("pg_cron refused it: %s", edata->message),
				 errhint("Use a cron expression of five fields, such as '*/5 * * * *' (every five minutes); pg_cron 1.5 and later also accept '[1-59] seconds'.")));
	}
	PG_END_TRY();
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not schedule job: %s", SPI_result_code_string(ret));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Refuse (22023) what pg_cron would store but not read as written: pg_cron
 * 1.4 reads the first five fields of a cron expression and ignores what
 * follows (a sixth field, a semicolon and more), so a schedule must be one macro
 * ('@hourly'), an interval in seconds ('30 seconds', pg_cron 1.5 and
 * later), or exactly five fields of the characters cron expressions use.
 * pg_cron then judges the fields themselves.
 */
static void
check_schedule_text(const char *schedule)
{
	int			fields = 0;
	bool		in_field = false;
	bool		bad_char = false;
	const char *p;

	for (p = schedule; *p; p++)
	{
		if (*p == ' ' || *p == '\t')
			in_field = false;
		else
		{
			if (!in_field)
				fields++;
			in_field = true;
			if (!(isalnum((unsigned char) *p) || strchr("*/,-@$#?", *p) != NULL))
				bad_char = true;
		}
	}
	if (bad_char ||
		!(fields == 5 || (fields == 1 && schedule[strspn(schedule, " \t")] == '@') ||
		  (fields == 2 && strstr(schedule, "second") != NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule \"%s\"", schedule),
				 errhint("Use a cron expression of five fields, such as '*/5 * * * *' (every five minutes); pg_cron 1.5 and later also accept '[1-59] seconds'.")));
}

/*
 * metrics_refresh_schedule: create or update the view's job and its row in
 * metrics_refresh_config; returns the job id.
 */
int64
mr_schedule(const MrExtension *ext, Oid viewoid, const char *schedule, Datum stale_after)
{
	char	   *view_name = mr_view_name(viewoid);
	char	   *command;
	char	   *sql;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, INTERVALOID};
	Datum		values[4];
	MrSavedUser saved;
	int64		jobid;
	int			ret;

	mr_check_option_interval(stale_after, "stale_after");
	check_schedule_text(schedule);
	require_pg_cron();
	mr_lock_options(viewoid);

	if (ext->version >= 10100)
		command = psprintf("SELECT pg_catalog.metrics_refresh_job(%s::pg_catalog.regclass)",
						   quote_literal_cstr(view_name));
	else						/* until ALTER EXTENSION ... UPDATE */
		command = psprintf("SELECT %s.metrics_refresh_run(%s::pg_catalog.regclass, 'scheduled')",
						   ext->nspname_q, quote_literal_cstr(view_name));
	values[0] = CStringGetTextDatum(job_name(view_name));
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(command);

	mr_become_extension_owner(ext, &saved);
	jobid = cron_schedule(values, schedule);

	sql = psprintf("INSERT INTO %s.metrics_refresh_config AS c "
				   "(view_name, schedule, stale_after, jobid) VALUES ($1, $2, $4, $3::bigint) "
				   "ON CONFLICT (view_name) DO UPDATE SET schedule = EXCLUDED.schedule, "
				   "stale_after = EXCLUDED.stale_after, jobid = EXCLUDED.jobid",
				   ext->nspname_q);
	values[0] = CStringGetTextDatum(view_name);
	values[2] = CStringGetTextDatum(psprintf(INT64_FORMAT, jobid));
	values[3] = stale_after;
	ret = SPI_execute_with_args(sql, 4, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not record schedule: %s", SPI_result_code_string(ret));
	mr_restore_user(&saved);
	return jobid;
}

/*
 * Remove the schedule of the view logged as view_name: its configuration
 * row and, when pg_cron is installed, its job.  Runs as the extension owner.
 * Returns false when there was neither.
 */
static bool
unschedule_name(const MrExtension *ext, const char *view_name, bool have_cron, bool keep_options)
{
	char	   *sql;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	MrSavedUser saved;
	bool		found = false;
	uint64		i,
				njobs;
	int64	   *jobs;
	int			ret;

	values[0] = CStringGetTextDatum(view_name);
	values[1] = CStringGetTextDatum(job_name(view_name));

	mr_become_extension_owner(ext, &saved);
	if (keep_options && ext->version >= 10100)
	{
		/*
		 * The schedule goes; a row that holds options stays.  stale_after is
		 * not one of them here: metrics_refresh_schedule() sets it too, and
		 * unscheduling has always removed it with the schedule.
		 */
		sql = psprintf("UPDATE %s.metrics_refresh_config SET schedule = NULL, jobid = NULL "
					   "WHERE view_name = $1 AND schedule IS NOT NULL", ext->nspname_q);
		ret = SPI_execute_with_args(sql, 1, types, values, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not remove schedule: %s", SPI_result_code_string(ret));
		found = SPI_processed > 0;
		sql = psprintf("DELETE FROM %s.metrics_refresh_config WHERE view_name = $1 "
					   "AND schedule IS NULL AND NOT skip_unchanged AND NOT \"cascade\" "
					   "AND max_skip = interval '1 day'", ext->nspname_q);
	}
	else
		sql = psprintf("DELETE FROM %s.metrics_refresh_config WHERE view_name = $1", ext->nspname_q);
	ret = SPI_execute_with_args(sql, 1, types, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not remove schedule: %s", SPI_result_code_string(ret));
	if (!keep_options || ext->version < 10100)
		found = SPI_processed > 0;

	if (have_cron)
	{
		/* By name, whoever owns it now (e.g. after REASSIGN OWNED). */
		sql = "SELECT jobid FROM cron.job WHERE jobname = $2";
		ret = SPI_execute_with_args(sql, 2, types, values, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not look up job: %s", SPI_result_code_string(ret));
		njobs = SPI_processed;
		jobs = palloc(sizeof(int64) * (njobs + 1));
		for (i = 0; i < njobs; i++)
		{
			bool		isnull;

			jobs[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		for (i = 0; i < njobs; i++)
		{
			Oid			t = INT8OID;
			Datum		v = Int64GetDatum(jobs[i]);

			ret = SPI_execute_with_args("SELECT cron.unschedule($1)", 1, &t, &v, NULL, false, 0);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "could not unschedule job: %s", SPI_result_code_string(ret));
			found = true;
		}
	}
	mr_restore_user(&saved);
	return found;
}

/*
 * metrics_refresh_unschedule: remove the view's job (found by its name) and
 * its configuration.  Returns false when there was neither.
 */
bool
mr_unschedule(const MrExtension *ext, Oid viewoid)
{
	require_pg_cron();
	mr_lock_options(viewoid);
	return unschedule_name(ext, mr_view_name(viewoid), true, true);
}

/* The work of mr_sweep_schedules(), run in a subtransaction. */
static void
sweep_schedules(void *arg)
{
	MrExtension ext;
	MrExtension cron;
	MrSavedUser saved;
	char	   *sql;
	int			ret;
	uint64		i,
				n;
	char	  **names;
	bool	   *scheduled;

	/*
	 * Not while our own install or update script runs: its objects may not
	 * all exist yet (pg_extension already holds the new version).
	 */
	if (mr_find_extension("metrics_refresh", &ext) &&
		!(creating_extension && CurrentExtensionObject == ext.extoid))
	{
		mr_become_extension_owner(&ext, &saved);
		sql = psprintf("SELECT c.view_name, c.schedule IS NOT NULL FROM %s.metrics_refresh_config c "
					   "WHERE NOT EXISTS (SELECT FROM pg_class r "
					   "WHERE r.oid = to_regclass(c.view_name) AND r.relkind = 'm') "
					   "ORDER BY c.view_name",
					   ext.nspname_q);
		ret = SPI_execute(sql, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read schedules: %s", SPI_result_code_string(ret));
		mr_restore_user(&saved);
		n = SPI_processed;
		names = palloc(sizeof(char *) * (n + 1));
		scheduled = palloc(sizeof(bool) * (n + 1));
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			scheduled[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		for (i = 0; i < n; i++)
		{
			(void) unschedule_name(&ext, names[i], mr_find_extension("pg_cron", &cron), false);
			if (scheduled[i])
				ereport(NOTICE,
						(errmsg("removed the scheduled refresh of \"%s\", which no longer names a materialized view",
								mr_label(names[i])),
						 errhint("If the view was renamed, schedule it again under its new name with metrics_refresh_schedule().")));
			else
				ereport(NOTICE,
						(errmsg("removed the settings of \"%s\", which no longer names a materialized view",
								mr_label(names[i])),
						 errhint("If the view was renamed, configure it again under its new name with metrics_refresh_configure().")));
		}
		if (ext.version >= 10100)
			mr_track_sweep(&ext);
	}
}

/*
 * After DDL that may drop or rename materialized views: remove the
 * schedules of configured views whose name no longer finds a materialized
 * view, so that no pg_cron job keeps failing on a name that is gone, and say
 * so with a NOTICE.  Called by the extension's event triggers; must never
 * make the user's DDL fail, so any error becomes a WARNING.
 */
void
mr_sweep_schedules(void)
{
	ErrorData  *edata;

	/*
	 * Some commands fire sql_drop with catalog invalidations still pending
	 * (ALTER DOMAIN ... DROP CONSTRAINT invalidates the domain's type after
	 * dropping the constraint, and writes nothing after that), and a
	 * subtransaction that registers one of its own would fail ("cannot
	 * start a subtransaction when there are unprocessed inval messages"):
	 * end the command first.  CommandCounterIncrement() alone does nothing
	 * when the command wrote nothing: mark its id used, as PostgreSQL's own
	 * RegisterRelcacheInvalidation() does for the same reason.
	 */
	(void) GetCurrentCommandId(true);
	CommandCounterIncrement();
	edata = mr_call_in_subxact(sweep_schedules, NULL);

	/* A cancel is the caller's, not a failure of the sweep: it goes on. */
	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);

	if (edata != NULL)
		ereport(WARNING,
				(errmsg("could not check scheduled refreshes after DDL: %s", edata->message)));
}

/*
 * Remove the schedule of every scheduled view, as the extension owner:
 * called just before the extension is dropped, so that no job is left
 * behind (it would only fail: see metrics_refresh_job).  Preconditions:
 * search_path pinned, SPI connected.
 */
void
mr_remove_all_jobs(void)
{
	MrExtension ext;
	MrExtension cron;
	MrSavedUser saved;
	char	   *sql;
	int			ret;
	uint64		i,
				n;
	char	  **names;

	if (!mr_find_extension("metrics_refresh", &ext) || !mr_find_extension("pg_cron", &cron))
		return;
	mr_become_extension_owner(&ext, &saved);
	sql = psprintf("SELECT view_name FROM %s.metrics_refresh_config ORDER BY view_name",
				   ext.nspname_q);
	ret = SPI_execute(sql, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schedules: %s", SPI_result_code_string(ret));
	mr_restore_user(&saved);
	n = SPI_processed;
	names = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	for (i = 0; i < n; i++)
		(void) unschedule_name(&ext, names[i], true, false);
}
