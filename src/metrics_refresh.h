/*-------------------------------------------------------------------------
 *
 * metrics_refresh.h
 *		Declarations shared by the C files of the metrics_refresh extension.
 *
 * One file per concept (see ARCHITECTURE.md):
 *	 metrics_refresh.c	settings and every SQL-callable entry point
 *	 access.c			who is an admin, who may do what
 *	 refresh.c			one refresh of one view: locks, owner, time limits
 *	 log.c				every write to metrics_refresh_log, NOTIFY, retention,
 *						reaping of lost background runs
 *	 monitor.c			reading the log for the dashboard (reads only)
 *	 schedule.c			pg_cron jobs and the event triggers' sweeps
 *	 options.c			per-view options (metrics_refresh_configure)
 *	 graph.c			dependencies between views, through plain views
 *	 tracking.c			change tracking for skip_unchanged
 *	 cascade.c			refreshing a view's dependents in order
 *	 stats.c			cumulative statistics
 *	 worker.c			refreshes in a background worker
 *	 util.c				the installed extension, names, the fixed
 *						search_path, identity switches, subtransactions
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_REFRESH_H
#define METRICS_REFRESH_H

#include <signal.h>

#include "fmgr.h"
#include "nodes/primnodes.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "compat.h"

/* Advisory-lock field 4 values: never used by pg_advisory_lock() (1 and 2). */
#define MR_LOCK_VIEW		0x4D52	/* single-flight lock of one view */
#define MR_LOCK_RUN			0x4D53	/* held by the worker running one run */
#define MR_LOCK_TRACK		0x4D54	/* a view's change-tracking key */
#define MR_LOCK_FOLD		0x4D55	/* folding pending statistics */
#define MR_LOCK_OPTIONS		0x4D56	/* changing one view's options */

/* The "status" column of the log (pg_cron's CronStatus). */
typedef enum MrStatus
{
	MR_STATUS_RUNNING,			/* a background run that has not ended */
	MR_STATUS_SUCCESS,
	MR_STATUS_ERROR,
	MR_STATUS_SKIPPED,			/* not refreshed: busy, or an upstream view failed */
	MR_STATUS_UNCHANGED			/* not refreshed: no source changed */
} MrStatus;

/* The "source" column of the log. */
typedef enum MrSource
{
	MR_SOURCE_MANUAL,
	MR_SOURCE_SCHEDULED,
	MR_SOURCE_CASCADE			/* a dependent refreshed by a cascade */
} MrSource;

/* The "method" column of the log. */
typedef enum MrMethod
{
	MR_METHOD_NONE,				/* not refreshed (yet) */
	MR_METHOD_CONCURRENTLY,
	MR_METHOD_FULL				/* the view was never populated */
} MrMethod;

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
	int			version;		/* its SQL objects' version: 10100 is 1.1.0 */
} MrExtension;

/*
 * What a kept SPI plan was made for: plans name the extension's schema, so
 * they belong to one installation, one version of its SQL objects and one
 * schema name (mr_plan_key_matches / mr_plan_key_set).
 */
typedef struct MrPlanKey
{
	Oid			extoid;			/* InvalidOid: nothing made yet */
	int			version;
	char		nspname_q[2 * NAMEDATALEN + 3];
} MrPlanKey;

/* An identity to go back to (mr_become_extension_owner / mr_restore_user). */
typedef struct MrSavedUser
{
	Oid			userid;
	int			sec_context;
} MrSavedUser;

extern void mr_get_extension(MrExtension *ext);
extern bool mr_find_extension(const char *extname, MrExtension *ext);
extern void mr_become_extension_owner(const MrExtension *ext, MrSavedUser *saved);
extern void mr_restore_user(const MrSavedUser *saved);
extern int	mr_pin_search_path(void);
extern void mr_unpin_search_path(int nestlevel);
extern char *mr_view_name(Oid viewoid);
extern char *mr_label(const char *view_name);
extern Oid	mr_check_matview(Oid viewoid, char **view_name);
extern void mr_check_not_recovery(const char *what);
extern Oid	mr_platform_view_oid(void);
extern const char *mr_status_name(MrStatus status);
extern const char *mr_source_name(MrSource source);
extern const char *mr_method_name(MrMethod method);
extern MrSource mr_parse_source(text *source);
extern int	mr_interval_sign(Datum iv);
extern int	mr_subxact_error_stops;
extern ErrorData *mr_call_in_subxact(void (*fn) (void *arg), void *arg);
extern char *mr_stored_setting(const char *name, Oid dbid, Oid roleid, GucSource *source);
extern void mr_advisory_tag(void *locktag, uint32 key_hi, uint32 key_lo, uint16 kind);
extern bool mr_plan_key_matches(const MrPlanKey *key, const MrExtension *ext);
extern void mr_plan_key_set(MrPlanKey *key, const MrExtension *ext);
extern struct _SPI_plan *mr_prepare_kept(const char *sql, int nargs, Oid *argtypes);
extern struct _SPI_plan *mr_prepare_kept_opts(const char *sql, int nargs, Oid *argtypes,
											 int cursor_options);
extern AttrNumber mr_our_column(struct TupleDescData *desc, const char *name, Oid typid);
extern Oid	mr_our_index(Oid nspoid, const char *name, Oid heapid, AttrNumber attnum, bool partial);

/* access.c */
extern bool mr_check_admin_check_setting(char **newval, void **extra, GucSource source);
extern void mr_reapply_admin_settings(void);
extern bool mr_is_admin(void);
extern void mr_require_admin(const char *action);
extern void mr_require_admin_or_owner(Oid viewoid, Oid viewowner, const char *view_name);
extern void mr_require_monitor(void);

/* log.c: the one writer of metrics_refresh_log */
typedef struct MrOutcome
{
	MrStatus	status;
	MrMethod	method;
	TimestampTz started_at;
	TimestampTz finished_at;
	double		duration_ms;
	bool		has_duration;
	ErrorData  *error;			/* status error */
	const char *skip_reason;	/* status skipped (or unchanged: the message) */
} MrOutcome;

/* Which row an outcome belongs to. */
typedef struct MrLogRow
{
	const char *view_name;		/* as mr_view_name() spells it */
	MrSource	source;
	const char *caller;			/* triggered_by: the real caller's name */
	int64		run_id;			/* > 0: finish this 'running' row instead of
								 * inserting a new one */
	int64		cascade_id;		/* > 0: the cascade this run belongs to */
} MrLogRow;

extern Jsonb *mr_log_outcome(const MrExtension *ext, const MrLogRow *row,
							 const MrOutcome *outcome, int64 *run_id);
extern int64 mr_log_running(const MrExtension *ext, const MrLogRow *row,
							bool cascade_root, char **result_text);
extern void mr_log_reap(const MrExtension *ext, const char *view_name, int max_marks);
extern int64 mr_log_prune(const MrExtension *ext, Datum older_than);
extern Datum mr_log_result_of(const MrExtension *ext, int64 run_id, bool *isnull);
extern void mr_log_reap_in_subxact(const MrExtension *ext);
extern Jsonb *mr_log_cascade_result(const MrExtension *ext, int64 cascade_id, int unlogged);
extern void mr_log_relcache_changed(Oid relid);

/* refresh.c */
typedef struct MrRunRequest
{
	Oid			viewoid;
	const char *view_name;		/* its name as logged, or NULL: look it up */
	MrSource	source;
	const char *caller;			/* triggered_by: the real caller's name */
	int64		run_id;			/* > 0: finish this 'running' row (worker) */
	int64		cascade_id;		/* > 0: the cascade this run belongs to */
	bool		track;			/* the view has skip_unchanged */
	bool		may_skip;		/* ... and this run may end unchanged (not
								 * "Refresh Now") */
	Datum		max_skip;		/* interval, with track */
} MrRunRequest;

extern Jsonb *mr_run_logged(const MrExtension *ext, const MrRunRequest *req, MrStatus *status);
extern Jsonb *mr_run_skipped_busy(const MrExtension *ext, const MrRunRequest *req);
extern Jsonb *mr_run_skipped_named(const MrExtension *ext, const MrRunRequest *req,
								   const char *view_name, const char *reason);
extern void mr_refresh_unlogged(Oid viewoid);
extern Oid	mr_refresh_target(const RangeVar *relation);
extern bool mr_view_lock_busy(Oid viewoid);

/* monitor.c: reads only */
extern Datum mr_status_json(const MrExtension *ext, const char *view_name, Datum window);
extern void mr_status_rows(const MrExtension *ext, FunctionCallInfo fcinfo, Datum window);
extern void mr_timeline_rows(const MrExtension *ext, FunctionCallInfo fcinfo,
							 const char *view_name, Datum window, Datum bucket);
extern void mr_history_rows(const MrExtension *ext, FunctionCallInfo fcinfo,
							const char *view_name, int32 max_rows, bool no_limit,
							int64 before_id);
extern void mr_stats_rows(const MrExtension *ext, FunctionCallInfo fcinfo);
extern void mr_check_interval_arg(Datum d, const char *argname, bool zero_ok);

/* schedule.c */
extern int64 mr_schedule(const MrExtension *ext, Oid viewoid, const char *schedule,
						 Datum stale_after);
extern bool mr_unschedule(const MrExtension *ext, Oid viewoid);
extern void mr_sweep_schedules(void);
extern void mr_remove_all_jobs(void);

/* graph.c */
typedef struct MrChain
{
	List	   *tables;			/* tables read, with partitions and children */
	List	   *views;			/* plain views passed through */
	List	   *matviews;		/* materialized views read (as units) */
	List	   *functions;		/* functions called along the way */
	List	   *problems;		/* char *: what cannot be tracked (analyze) */
	List	   *time_functions; /* char *: clock functions called (analyze) */
} MrChain;

typedef struct MrCascadeNode
{
	Oid			relid;
	char	   *view_name;
	List	   *upstream;		/* OIDs of its sources among the cascade's nodes */
} MrCascadeNode;

extern void mr_chain_of(Oid viewoid, MrChain *chain, bool analyze);
extern uint64 mr_chain_fingerprint(Oid viewoid, const MrChain *chain);
extern bool mr_relation_is_subscribed(Oid relid);
extern List *mr_dependent_matviews(Oid relid);
extern List *mr_upstream_matviews(Oid relid);
/* Exported for bench/cascade_plan.c, which times it alone. */
extern PGDLLEXPORT List *mr_cascade_plan(Oid root);
extern void mr_graph_rows(FunctionCallInfo fcinfo, Oid viewoid);

/* tracking.c */
extern void mr_track_note_write(Oid relid, Oid trigger_fn);
extern void mr_track_bookkeeping_changed(Oid relid);
extern void mr_track_init(void);
extern void mr_track_relcache_changed(Oid relid);
extern List *mr_track_enable(const MrExtension *ext, Oid viewoid, const char *view_name);
extern void mr_track_disable(const MrExtension *ext, Oid viewoid);
extern bool mr_track_unchanged(const MrExtension *ext, Oid viewoid, Datum max_skip,
							   int64 *since_run);
extern uint64 mr_track_consume(const MrExtension *ext, Oid viewoid, const char *view_name);
extern void mr_track_refreshed(const MrExtension *ext, Oid viewoid, uint64 fingerprint,
							   int64 run_id);
extern bool mr_track_has_readers(const MrExtension *ext, Oid relid);
extern void mr_track_mark_readers(const MrExtension *ext, Oid relid);
extern void mr_track_new_child(const MrExtension *ext, Oid parent, Oid child);
extern void mr_track_remove_all(const MrExtension *ext);
extern void mr_track_sweep(const MrExtension *ext);

/* options.c */
typedef struct MrOptions
{
	bool		configured;		/* the view has a row in metrics_refresh_config */
	bool		skip_unchanged;
	Datum		max_skip;		/* interval */
	bool		cascade;
	Datum		stale_after;	/* interval */
	char	   *schedule;		/* NULL when not scheduled */
} MrOptions;

extern void mr_options_relcache_changed(Oid relid);
extern void mr_options_of(const MrExtension *ext, const char *view_name, MrOptions *opts);
/* The largest max_skip and stale_after (options.c). */
#define MR_OPTION_INTERVAL_MAX "1000 years"
extern void mr_check_option_interval(Datum interval, const char *name);
extern void mr_lock_options(Oid viewoid);
extern Jsonb *mr_configure(const MrExtension *ext, Oid viewoid, const bool *skip_unchanged,
						   const Datum *max_skip, const bool *cascade, const Datum *stale_after);

/* stats.c */
/* The most runs one fold counts when logging a run comes to fold. */
#define MR_FOLD_BATCH	5000
extern void mr_stats_fold(const MrExtension *ext, int64 limit);
extern TimestampTz mr_stats_reset(const MrExtension *ext, const char *view_name);

/* util.c: building jsonb objects */
struct JsonbParseState;
extern void mr_jsonb_put_text(struct JsonbParseState **state, const char *key, const char *value);
extern void mr_jsonb_put_bool(struct JsonbParseState **state, const char *key, bool value);

/* cascade.c */
extern int	mr_cascade_execute(const MrRunRequest *root);

/* worker.c */
extern void mr_worker_answer_stop(int seen);
extern bool mr_worker_stopped_again(void);
extern int	mr_worker_stops(void);

typedef struct MrBackgroundRun
{
	Oid			viewoid;
	MrSource	source;
	bool		cascade;		/* and its dependents, in order */
	bool		may_skip;		/* the first run may end unchanged */
	bool		no_slot_ok;		/* no free worker slot: return NULL, not 53400 */
} MrBackgroundRun;

struct BackgroundWorkerHandle;
struct dsm_segment;
extern Jsonb *mr_start_worker(const MrBackgroundRun *run, struct BackgroundWorkerHandle **handle,
							  int64 *run_id, struct dsm_segment **seg);
extern int	mr_wait_worker(struct BackgroundWorkerHandle *handle, struct dsm_segment *seg,
						   const char *view_name);
extern PGDLLEXPORT void metrics_refresh_worker_main(Datum main_arg);

#endif							/* METRICS_REFRESH_H */
