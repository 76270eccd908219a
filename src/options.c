/*-------------------------------------------------------------------------
 *
 * options.c
 *		Per-view options, in metrics_refresh_config: skip_unchanged, max_skip,
 *		cascade and stale_after (metrics_refresh_configure), read by every run.
 *
 * A view's row also holds its pg_cron schedule (schedule.c).  Writes run as
 * the extension owner; callers have checked access, pinned search_path and
 * connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "metrics_refresh.h"

/*
 * Where one installation keeps the options: metrics_refresh_config, its
 * primary key index, and the attribute numbers of the columns read (by
 * name, so that a table that gained its columns by ALTER TABLE reads the
 * same).  Looked up once per installation and backend.
 */
typedef struct OptionsTable
{
	Oid			extoid;
	Oid			relid;
	Oid			indexid;
	AttrNumber	skip_unchanged;
	AttrNumber	max_skip;
	AttrNumber	cascade;
	AttrNumber	stale_after;
	AttrNumber	schedule;
} OptionsTable;

static OptionsTable options_table;
static HTAB *options_cache;		/* below */

/* View names up to this length (quoted, qualified) have cached options. */
#define OPTIONS_KEY_SIZE (4 * NAMEDATALEN + 8)

static AttrNumber
options_attnum(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "metrics_refresh_config has no column \"%s\"", name);
	return attnum;
}

static void
find_options_table(const MrExtension *ext)
{
	OptionsTable t;

	if (options_table.extoid == ext->extoid)
		return;
	t.extoid = ext->extoid;
	t.relid = get_relname_relid("metrics_refresh_config", ext->nspoid);
	t.indexid = get_relname_relid("metrics_refresh_config_pkey", ext->nspoid);
	if (!OidIsValid(t.relid) || !OidIsValid(t.indexid))
		elog(ERROR, "metrics_refresh_config or its primary key is missing");
	t.skip_unchanged = options_attnum(t.relid, "skip_unchanged");
	t.max_skip = options_attnum(t.relid, "max_skip");
	t.cascade = options_attnum(t.relid, "cascade");
	t.stale_after = options_attnum(t.relid, "stale_after");
	t.schedule = options_attnum(t.relid, "schedule");
	options_table = t;
	/* Invalidations of the old table would no longer be recognised. */
	options_cache = NULL;
}

/* Defaults of a view that has no row. */
static void
default_options(MrOptions *opts)
{
	static Interval one_day = {0, 1, 0};
	static Interval quarter_hour = {15 * USECS_PER_MINUTE, 0, 0};

	memset(opts, 0, sizeof(MrOptions));
	opts->max_skip = IntervalPGetDatum(&one_day);
	opts->stale_after = IntervalPGetDatum(&quarter_hour);
}

/*
 * The options of the views this session has run, by view name, so that a
 * run costs a hash look-up instead of an index scan.  Kept right by
 * relcache invalidations of metrics_refresh_config, which every statement
 * that writes it sends when its transaction commits (the trigger
 * metrics_refresh_config_changed, ENABLE ALWAYS; TRUNCATE, DROP and a
 * reset of the invalidation queue send one too): the callback drops them
 * all.  What a look-up fills is read with a new snapshot (the latest
 * committed state, and this transaction's own writes), so an invalidation
 * processed before the read cannot leave an older row cached; one
 * processed during it (opening the table takes a lock) keeps the row out.
 * Under REPEATABLE READ and SERIALIZABLE the options are read with the
 * transaction's snapshot, as before, and not cached.
 */
typedef struct OptionsEntry
{
	char		view_name[OPTIONS_KEY_SIZE];	/* hash key */
	MrOptions	opts;			/* its Datums point below; schedule in options_cxt */
	Interval	max_skip;
	Interval	stale_after;
} OptionsEntry;

static MemoryContext options_cxt = NULL;
static HTAB *options_cache = NULL;
static uint64 options_drops = 0;	/* times the callback dropped it */

/*
 * Relcache invalidation callback of the options cache (called by the
 * library's one callback, mr_relcache_callback).
 */
void
mr_options_relcache_changed(Oid relid)
{
	if (options_cache != NULL && (!OidIsValid(relid) || relid == options_table.relid))
	{
		options_cache = NULL;	/* its memory is reset at the next use */
		options_drops++;
	}
}

/* Read a view's row into opts (left as they are when it has none). */
static void
read_options(const char *view_name, Snapshot snapshot, MrOptions *opts)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	rel = table_open(options_table.relid, AccessShareLock);
	snapshot = RegisterSnapshot(snapshot != NULL ? snapshot : GetLatestSnapshot());
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(view_name));
	/* Compared as the index is ordered: in the column's collation. */
	key.sk_collation = TupleDescAttr(desc, 0)->attcollation;
	scan = systable_beginscan(rel, options_table.indexid, true, snapshot, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		opts->configured = true;
		d = heap_getattr(tup, options_table.skip_unchanged, desc, &isnull);
		opts->skip_unchanged = !isnull && DatumGetBool(d);
		d = heap_getattr(tup, options_table.max_skip, desc, &isnull);
		if (!isnull)
			opts->max_skip = datumCopy(d, false, sizeof(Interval));
		d = heap_getattr(tup, options_table.cascade, desc, &isnull);
		opts->cascade = !isnull && DatumGetBool(d);
		d = heap_getattr(tup, options_table.stale_after, desc, &isnull);
		if (!isnull)
			opts->stale_after = datumCopy(d, false, sizeof(Interval));
		d = heap_getattr(tup, options_table.schedule, desc, &isnull);
		opts->schedule = isnull ? NULL : TextDatumGetCString(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/* The session's options cache, made (again) if the callback dropped it. */
static HTAB *
options_hash(void)
{
	HASHCTL		ctl;

	if (options_cache != NULL)
		return options_cache;
	if (options_cxt == NULL)
		options_cxt = AllocSetContextCreate(CacheMemoryContext,
											"metrics_refresh options",
											ALLOCSET_SMALL_SIZES);
	MemoryContextReset(options_cxt);
	ctl.keysize = OPTIONS_KEY_SIZE;
	ctl.entrysize = sizeof(OptionsEntry);
	ctl.hcxt = options_cxt;
	options_cache = hash_create("metrics_refresh options", 64, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	return options_cache;
}

/*
 * Read a view's options (defaults when it has no row), from the session's
 * cache or straight from the table's primary key: a run reads them every
 * time, and an SPI query costs several times as much.  No permission check
 * (the extension's code reads its own table; callers have checked access).
 * Datums are palloc'd in the current memory context, defaults included.
 */
void
mr_options_of(const MrExtension *ext, const char *view_name, MrOptions *opts)
{
	OptionsEntry *entry;
	bool		cacheable;
	uint64		drops;
	HTAB	   *hash;
	char	   *schedule;

	default_options(opts);
	opts->max_skip = datumCopy(opts->max_skip, false, sizeof(Interval));
	opts->stale_after = datumCopy(opts->stale_after, false, sizeof(Interval));
	if (ext->version < 10100)
		return;					/* until ALTER EXTENSION ... UPDATE */
	find_options_table(ext);
	if (IsolationUsesXactSnapshot())
	{
		read_options(view_name, GetTransactionSnapshot(), opts);
		return;
	}

	/* A longer name (quoted, qualified) than a key holds is not cached. */
	cacheable = strlen(view_name) < OPTIONS_KEY_SIZE;
	AcceptInvalidationMessages();
	if (cacheable &&
		(entry = hash_search(options_hash(), view_name, HASH_FIND, NULL)) != NULL)
	{
		*opts = entry->opts;
		opts->max_skip = datumCopy(IntervalPGetDatum(&entry->max_skip), false, sizeof(Interval));
		opts->stale_after = datumCopy(IntervalPGetDatum(&entry->stale_after), false, sizeof(Interval));
		opts->schedule = entry->opts.schedule ? pstrdup(entry->opts.schedule) : NULL;
		return;
	}

	drops = options_drops;
	read_options(view_name, NULL, opts);
	if (!cacheable || options_drops != drops)
		return;
	hash = options_hash();
	schedule = opts->schedule ? MemoryContextStrdup(options_cxt, opts->schedule) : NULL;
	entry = hash_search(hash, view_name, HASH_ENTER, NULL);
	entry->opts = *opts;
	entry->max_skip = *DatumGetIntervalP(opts->max_skip);
	entry->stale_after = *DatumGetIntervalP(opts->stale_after);
	entry->opts.max_skip = IntervalPGetDatum(&entry->max_skip);
	entry->opts.stale_after = IntervalPGetDatum(&entry->stale_after);
	entry->opts.schedule = schedule;
}

/*
 * Raise 22023 unless an interval option (max_skip, stale_after) is positive
 * and at most MR_OPTION_INTERVAL_MAX.  The bound keeps the arithmetic that
 * uses the option within the range of timestamps: the status compares the
 * last success with now() - stale_after, a skip_unchanged run its last real
 * refresh plus max_skip; with '1000000 years' both raised "timestamp out of
 * range", and one such view made the overview fail for every view.
 */
void
mr_check_option_interval(Datum interval, const char *name)
{
	Datum		max = DirectFunctionCall3(interval_in, CStringGetDatum(MR_OPTION_INTERVAL_MAX),
										  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

	if (mr_interval_sign(interval) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", name)));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, interval, max)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most %s", name, MR_OPTION_INTERVAL_MAX)));
}

/*
 * Serialize the changes of one view's options (metrics_refresh_configure,
 * metrics_refresh_schedule) until this transaction ends: each reads the
 * stored options after the lock, with a new snapshot, so two concurrent
 * changes of different options both take effect.
 */
void
mr_lock_options(Oid viewoid)
{
	LOCKTAG		tag;

	mr_advisory_tag(&tag, viewoid, 0, MR_LOCK_OPTIONS);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * metrics_refresh_configure: set the options given (a NULL pointer keeps
 * an option), then return the view's options, and its tracked sources when
 * skip_unchanged is on.  Turning skip_unchanged on may raise 55000 (a source
 * cannot be tracked) or 42501 (no TRIGGER privilege on a table); nothing is
 * changed then.  Preconditions: admin; SPI connected; search_path pinned.
 */
Jsonb *
mr_configure(const MrExtension *ext, Oid viewoid, const bool *skip_unchanged,
			 const Datum *max_skip, const bool *cascade, const Datum *stale_after)
{
	char	   *view_name = mr_view_name(viewoid);
	MrOptions	opts;
	List	   *sources = NIL;
	Oid			types[5] = {TEXTOID, BOOLOID, INTERVALOID, BOOLOID, INTERVALOID};
	Datum		values[5];
	MrSavedUser saved;
	int			ret;
	JsonbParseState *state = NULL;
	JsonbValue *res;
	ListCell   *lc;

	mr_lock_options(viewoid);
	/*
	 * What the last holder committed: under READ COMMITTED the options are
	 * read as last committed anyway (the holder's invalidation was sent
	 * before it released the lock, and is processed before the read); this
	 * new snapshot is what REPEATABLE READ and SERIALIZABLE read them with.
	 */
	PushActiveSnapshot(GetTransactionSnapshot());
	mr_options_of(ext, view_name, &opts);
	PopActiveSnapshot();
	if (max_skip != NULL)
		mr_check_option_interval(*max_skip, "max_skip");
	if (stale_after != NULL)
		mr_check_option_interval(*stale_after, "stale_after");

	if (skip_unchanged != NULL && *skip_unchanged)
		sources = mr_track_enable(ext, viewoid, view_name);
	else if (skip_unchanged != NULL && opts.skip_unchanged)
		mr_track_disable(ext, viewoid);
	else if (opts.skip_unchanged)
		sources = mr_track_enable(ext, viewoid, view_name);

	if (skip_unchanged != NULL)
		opts.skip_unchanged = *skip_unchanged;
	if (max_skip != NULL)
		opts.max_skip = *max_skip;
	if (cascade != NULL)
		opts.cascade = *cascade;
	if (stale_after != NULL)
		opts.stale_after = *stale_after;

	values[0] = CStringGetTextDatum(view_name);
	values[1] = BoolGetDatum(opts.skip_unchanged);
	values[2] = opts.max_skip;
	values[3] = BoolGetDatum(opts.cascade);
	values[4] = opts.stale_after;
	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_with_args(psprintf("INSERT INTO %s.metrics_refresh_config "
										 "(view_name, skip_unchanged, max_skip, \"cascade\", stale_after) "
										 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (view_name) DO UPDATE SET "
										 "skip_unchanged = EXCLUDED.skip_unchanged, max_skip = EXCLUDED.max_skip, "
										 "\"cascade\" = EXCLUDED.\"cascade\", stale_after = EXCLUDED.stale_after",
										 ext->nspname_q),
								5, types, values, NULL, false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed to store options: %s", SPI_result_code_string(ret));

	/* {"view", "skip_unchanged", "max_skip", "cascade", "stale_after", "schedule", "sources"} */
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	mr_jsonb_put_text(&state, "view", view_name);
	mr_jsonb_put_bool(&state, "skip_unchanged", opts.skip_unchanged);
	mr_jsonb_put_text(&state, "max_skip", DatumGetCString(DirectFunctionCall1(interval_out, opts.max_skip)));
	mr_jsonb_put_bool(&state, "cascade", opts.cascade);
	mr_jsonb_put_text(&state, "stale_after", DatumGetCString(DirectFunctionCall1(interval_out, opts.stale_after)));
	mr_jsonb_put_text(&state, "schedule", opts.schedule);
	if (opts.skip_unchanged)
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = "sources";
		key.val.string.len = strlen("sources");
		(void) pushJsonbValue(&state, WJB_KEY, &key);
		(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		foreach(lc, sources)
		{
			JsonbValue	v;

			v.type = jbvString;
			v.val.string.val = (char *) lfirst(lc);
			v.val.string.len = strlen(v.val.string.val);
			(void) pushJsonbValue(&state, WJB_ELEM, &v);
		}
		(void) pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	/* In the caller's memory, not SPI's, which ends with the call. */
	return (Jsonb *) DatumGetPointer(SPI_datumTransfer(JsonbPGetDatum(JsonbValueToJsonb(res)), false, -1));
}
