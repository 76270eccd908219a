/*-------------------------------------------------------------------------
 *
 * metrics_refresh.h
 *		Declarations shared by the C files of the metrics_refresh extension.
 *
 * Every SQL-callable entry point lives in metrics_refresh.c; the machinery it
 * calls is split by concern: access.c (who may do what), refresh.c (one
 * logged refresh), monitor.c (reading the log), schedule.c (pg_cron jobs),
 * worker.c (refreshes in a background worker) and util.c (the extension's
 * catalog facts, SPI helpers and the fixed search_path).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_REFRESH_H
#define METRICS_REFRESH_H

#include <signal.h>

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "compat.h"

/* Advisory-lock field 4 values: never used by pg_advisory_lock() (1 and 2). */
#define MR_LOCK_VIEW		0x4D52	/* single-flight lock of one view */
#define MR_LOCK_RUN			0x4D53	/* held by the worker running one run */

/*
 * The result object of a run, computed from a log row's columns.  Every
 * statement that returns one uses this, so the object has one definition.
 * All SQL of this extension runs with search_path pinned to
 * "pg_catalog, pg_temp" (mr_pin_search_path), so unqualified functions and
 * operators resolve in pg_catalog; tables are always schema-qualified.
 */
#define MR_RESULT_EXPR \
	"jsonb_strip_nulls(jsonb_build_object(" \
	"'success', status IN ('success', 'running'), " \
	"'status', status, 'run_id', id, 'view', view_name, 'method', method, " \
	"'source', source, 'triggered_by', triggered_by, " \
	"'duration_ms', duration_ms, 'started_at', started_at, 'finished_at', finished_at, " \
	"'sqlstate', sqlstate, 'detail', error_detail, 'hint', error_hint, " \
	"'message', CASE status " \
	"  WHEN 'success' THEN 'refreshed ' || view_name || ' ' || method || ' in ' || " \
	"    CASE WHEN duration_ms < 10 THEN round(duration_ms::numeric, 1)::text " \
	"      ELSE round(duration_ms::numeric)::text END || ' ms' " \
	"  WHEN 'running' THEN 'refresh of ' || view_name || ' started in the background' " \
	"  WHEN 'skipped' THEN skip_reason " \
	"  ELSE error_message END))"

/* The "source" column of the log. */
typedef enum MrSource
{
	MR_SOURCE_MANUAL,
	MR_SOURCE_SCHEDULED
} MrSource;

/* GUC variables (metrics_refresh.c) */
extern char *mr_platform_view;
extern char *mr_admin_role;
extern char *mr_admin_check;
extern int	mr_lock_timeout_ms;
extern int	mr_refresh_timeout_ms;
extern int	mr_log_retention_min;

/* util.c: facts about the installed extension, looked up per call */
typedef struct MrExtension
{
	Oid			extoid;			/* pg_extension OID */
	Oid			owner;			/* extension (and log table) owner */
	Oid			nspoid;			/* the extension's schema */
	char	   *nspname_q;		/* that schema's name, quoted as needed */
} MrExtension;

extern void mr_get_extension(MrExtension *ext);
extern bool mr_find_extension(const char *extname, MrExtension *ext);
extern int	mr_pin_search_path(void);
extern void mr_unpin_search_path(int nestlevel);
extern char *mr_view_name(Oid viewoid);
extern char *mr_label(const char *view_name);
extern Oid	mr_check_matview(Oid viewoid);
extern void mr_check_not_recovery(const char *what);
extern Oid	mr_platform_view_oid(void);
extern const char *mr_source_name(MrSource source);
extern MrSource mr_parse_source(text *source);
extern int	mr_interval_sign(Datum iv);
extern ErrorData *mr_call_in_subxact(void (*fn) (void *arg), void *arg);
extern void mr_advisory_tag(void *locktag, uint32 key_hi, uint32 key_lo, uint16 kind);

/* access.c */
extern bool mr_is_admin(void);
extern void mr_require_admin(const char *action);
extern void mr_require_admin_or_owner(Oid viewowner, const char *view_name);
extern void mr_require_monitor(void);

/* refresh.c */
typedef struct MrRunRequest
{
	Oid			viewoid;
	MrSource	source;
	const char *caller;			/* triggered_by: the real caller's name */
	int64		run_id;			/* > 0: finish this 'running' row instead of
								 * inserting a new one (background worker) */
} MrRunRequest;

extern Jsonb *mr_run_logged(MrRunRequest *req);
extern void mr_refresh_unlogged(Oid viewoid);
extern bool mr_view_lock_busy(Oid viewoid);
extern char *mr_busy_reason(const char *view_name);
extern Jsonb *mr_log_skipped(Oid viewoid, MrSource source, const char *caller,
							 const char *reason);
extern int64 mr_insert_running(Oid viewoid, MrSource source, const char *caller,
							   char **result_text);
extern void mr_reap_orphans(const MrExtension *ext, const char *view_name);
extern volatile sig_atomic_t mr_refresh_timeout_fired;

/* monitor.c */
extern Datum mr_status_json(const char *view_name, Datum window);
extern void mr_status_rows(FunctionCallInfo fcinfo, Datum window);
extern void mr_timeline_rows(FunctionCallInfo fcinfo, const char *view_name,
							 Datum window, Datum bucket);
extern void mr_history_rows(FunctionCallInfo fcinfo, const char *view_name,
							int32 max_rows, bool no_limit);
extern Datum mr_run_status(int64 run_id, bool *isnull);
extern int64 mr_prune(Datum older_than);

/* schedule.c */
extern int64 mr_schedule(Oid viewoid, const char *schedule, Datum stale_after);
extern bool mr_unschedule(Oid viewoid);
extern void mr_sweep_schedules(void);

/* worker.c */
extern volatile sig_atomic_t mr_worker_sigterm;
extern Jsonb *mr_start_worker(Oid viewoid, MrSource source);
extern PGDLLEXPORT void metrics_refresh_worker_main(Datum main_arg);

#endif							/* METRICS_REFRESH_H */
