/*-------------------------------------------------------------------------
 *
 * tracking.c
 *		Change tracking for views with skip_unchanged: knowing, at the cost of
 *		an index probe, that no source of a view changed since the snapshot of
 *		its last real refresh.
 *
 * The pieces:
 * - Every table a tracked view reads (with its partitions and inheritance
 *   children) carries the statement-level trigger metrics_refresh_track,
 *   BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE, ENABLE ALWAYS (so that it
 *   fires for logical replication's apply and with session_replication_role
 *   = replica too).  It only notes the table in the transaction's memory.
 * - At pre-commit, such a transaction writes a change mark
 *   (metrics_refresh_changes) for each tracked view that reads a table it
 *   changed, as TimescaleDB's invalidation triggers do: once per transaction
 *   and view, committed or rolled back with the change itself.
 * - A REFRESH of a materialized view, by anyone, marks the tracked views
 *   that read it (event trigger metrics_refresh_track_ddl).
 * - DDL on anything in a view's chain (a source, a plain view in between, a
 *   function called, a partition attached or detached, our trigger disabled)
 *   changes the chain's catalog fingerprint.  A run never says "unchanged"
 *   while a table of the chain lacks our trigger exactly as we create it
 *   (dropped by the table's owner, or re-created by them with fewer
 *   events, a WHEN condition or a column list); the next refresh puts it
 *   back.  Nor while a table of the chain is the target of a logical
 *   replication subscription (added after the option was turned on): the
 *   apply worker fires no statement-level trigger.
 *
 * The rule that makes "unchanged" safe, with transactions racing:
 * - A refresh that consumes marks takes an exclusive lock on the view's
 *   tracking key (advisory, MR_LOCK_TRACK) first, then deletes the marks
 *   visible to it, then takes the snapshot of REFRESH: so every change whose
 *   mark it deleted is in that snapshot, and a mark it did not see (its
 *   writer had not committed) stays for the next run.
 * - A writer may skip writing its mark when one already exists, but only
 *   while it holds the tracking key in share mode (not waiting: if a refresh
 *   holds it, the writer writes its own mark) and knows of the mark as of
 *   then: it looks with a fresh snapshot, or its backend saw the mark
 *   committed and has processed every invalidation sent before it got the
 *   key (see "The writers' caches"); it holds the key until it has
 *   committed, so a refresh cannot delete the mark it relied on and miss
 *   its change.
 * - The catalog fingerprint is computed before the REFRESH's snapshot and
 *   stored with a successful refresh; a definition committed later changes
 *   it again.
 * - Under REPEATABLE READ or SERIALIZABLE the refresh's snapshot may be
 *   older than the key lock, so no decision is "unchanged" and nothing is
 *   consumed: the view is simply refreshed.  Such a refresh can write older
 *   contents than the last tracked one did, so it must not leave that
 *   one's fingerprint standing: see the next rule.
 * - Every REFRESH of the view writes a new version of its pg_class row
 *   (core marks it populated, or not, each time).  The fingerprint stored
 *   after a tracked refresh includes the writer of that row, so any other
 *   REFRESH of the view - ours under REPEATABLE READ or SERIALIZABLE, a
 *   plain one by its owner from an old snapshot, WITH NO DATA - makes the
 *   next run refresh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "metrics_refresh.h"

#define TRACK_TRIGGER	"metrics_refresh_track"

/*
 * The writers' side: the tables this transaction changed (in
 * TopTransactionContext), the trigger function that noted them (its schema
 * is the extension's), and the views whose committed mark this transaction
 * saw or wrote (known_marked once it commits).
 */
static List *changed_tables = NIL;
static Oid	changed_fn = InvalidOid;
static List *seen_marked = NIL;

/*
 * The writers' caches, per backend, so that the pre-commit of a transaction
 * that changed a tracked table costs a few hash look-ups and a lock instead
 * of index scans (bench/writers):
 * - the extension's relations (sources, changes and their indexes), by the
 *   schema they were looked up in;
 * - readers: per table, the tracked views that read it, as
 *   metrics_refresh_sources says;
 * - known_marked: views that have a committed change mark, as this backend
 *   saw or wrote it.
 * They are kept right by relcache invalidations, which PostgreSQL sends
 * when the transaction that causes them commits, before it releases its
 * locks:
 * - every statement that inserts, updates or deletes rows of
 *   metrics_refresh_sources, or updates or deletes rows of
 *   metrics_refresh_changes, whoever runs it, invalidates that table (the
 *   trigger metrics_refresh_track_bookkeeping, ENABLE ALWAYS); a TRUNCATE,
 *   a DROP, a rename or a schema change of any of the four relations
 *   invalidates it too; all of these, and a reset of the invalidation queue
 *   (relid InvalidOid), drop everything;
 * - a REFRESH of a view invalidates the view, which drops it from
 *   known_marked (its marks were deleted before, in the same transaction).
 * A pre-commit processes pending invalidations after it has taken what
 * it relies on: the lock of the table written (taken by the statement),
 * and each view's tracking key in share mode.  A refresh that deletes marks
 * holds the key exclusively until it has committed and sent its
 * invalidation: so a mark this backend knows of cannot have been deleted
 * unseen.  The callback only flags or forgets; the caches are rebuilt at a
 * pre-commit or by the REFRESH event trigger (mr_track_has_readers), never
 * while one is read.
 */
typedef struct TrackReaders
{
	Oid			relid;			/* hash key */
	List	   *views;			/* in track_cache_cxt */
} TrackReaders;

static MemoryContext track_cache_cxt = NULL;
static bool track_cache_stale = true;
static Oid	cache_nsp = InvalidOid;
static Oid	cache_sources = InvalidOid;
static Oid	cache_sources_pkey = InvalidOid;
static Oid	cache_changes = InvalidOid;
static Oid	cache_changes_idx = InvalidOid;
static HTAB *readers = NULL;
static HTAB *known_marked = NULL;
static uint64 track_cache_drops = 0;	/* times the callback dropped it all */

/* The OID of one of the extension's relations in schema nsp, or InvalidOid. */
static Oid
our_relation(Oid nsp, const char *name)
{
	return get_relname_relid(name, nsp);
}

/*
 * Relcache invalidation callback of the writers' caches (called by the
 * library's one callback, mr_relcache_callback).
 */
void
mr_track_relcache_changed(Oid relid)
{
	if (!OidIsValid(relid) || relid == cache_sources || relid == cache_sources_pkey ||
		relid == cache_changes || relid == cache_changes_idx)
	{
		track_cache_stale = true;
		track_cache_drops++;
	}
	else if (known_marked != NULL && !track_cache_stale)
		(void) hash_search(known_marked, &relid, HASH_REMOVE, NULL);
}

/*
 * The allocator of known_marked: NULL when memory runs out, rather than an
 * ERROR, because it grows at commit, after the commit record, where no
 * error may be raised (HASH_ENTER_NULL needs an allocator that returns
 * NULL; dynahash's own raises).
 */
static void *
known_marked_alloc(Size size)
{
	return MemoryContextAllocExtended(track_cache_cxt, size, MCXT_ALLOC_NO_OOM);
}

/*
 * Make the writers' caches those of the extension in schema nsp, emptied
 * if anything invalidated them.  Returns false when the extension's
 * relations are not there (it is being dropped).
 */
static bool
track_cache_ready(Oid nsp)
{
	HASHCTL		ctl;
	uint64		drops = track_cache_drops;

	if (!track_cache_stale && nsp == cache_nsp)
		return true;
	if (track_cache_cxt == NULL)
		track_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
												"metrics_refresh writers' caches",
												ALLOCSET_SMALL_SIZES);
	/* Not ready until the end: an error on the way leaves it stale. */
	track_cache_stale = true;
	cache_nsp = InvalidOid;
	MemoryContextReset(track_cache_cxt);
	readers = NULL;
	known_marked = NULL;
	cache_sources = our_relation(nsp, "metrics_refresh_sources");
	cache_sources_pkey = our_relation(nsp, "metrics_refresh_sources_pkey");
	cache_changes = our_relation(nsp, "metrics_refresh_changes");
	cache_changes_idx = our_relation(nsp, "metrics_refresh_changes_view_idx");
	if (!OidIsValid(cache_sources) || !OidIsValid(cache_sources_pkey) ||
		!OidIsValid(cache_changes) || !OidIsValid(cache_changes_idx))
		return false;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TrackReaders);
	ctl.hcxt = track_cache_cxt;
	readers = hash_create("metrics_refresh readers", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(Oid);
	ctl.alloc = known_marked_alloc;
	/*
	 * A directory that never grows: dynahash grows one with its own
	 * allocator only (an assertion says so); past its size, buckets hold
	 * more entries instead.
	 */
	ctl.dsize = ctl.max_dsize = 256;
	known_marked = hash_create("metrics_refresh known marks", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT | HASH_ALLOC | HASH_DIRSIZE);

	/*
	 * Ready, unless looking the relations up processed an invalidation of
	 * one of them (the callback compared it with what was then cached):
	 * then the next pre-commit builds the caches again.
	 */
	cache_nsp = nsp;
	track_cache_stale = track_cache_drops != drops;
	return true;
}

/*
 * The trigger metrics_refresh_track_bookkeeping: a statement changed
 * metrics_refresh_sources or removed change marks.  Every session's
 * writers' caches are dropped once this transaction commits (here too, at
 * the next command).
 */
void
mr_track_bookkeeping_changed(Oid relid)
{
	CacheInvalidateRelcacheByRelid(relid);
}

/*
 * A view's tracking key is TRACK_KEY_SLOTS advisory locks: a writer holds
 * one of them in share mode, chosen by its PGPROC slot (MyProcNumber; on
 * 15, which reuses the most recently freed slot first, the backends
 * connected at once tend to have consecutive ones, where process ids fall
 * by chance), and a refresh that consumes marks holds all of them
 * exclusively, so it still waits for every writer that relies on a mark.
 * Writers of one view, committing thousands of times a second, then do not
 * all queue on one lock of the lock manager.  The number of slots is a
 * protocol between all the backends of a server: a library that changes
 * it must not run beside one that does not (a restart after installing
 * it).
 */
#define TRACK_KEY_SLOTS 8

/* The advisory lock of one slot of a view's tracking key. */
static void
track_tag(LOCKTAG *tag, Oid viewoid, uint32 slot)
{
	mr_advisory_tag(tag, viewoid, slot, MR_LOCK_TRACK);
}

/* The owner of a relation. */
static Oid
rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Is there a change mark for the view, as of snapshot?  Writers at
 * pre-commit read with SnapshotSelf (committed rows, and this transaction's
 * own), whatever the transaction's isolation, not an MVCC snapshot: in a
 * SERIALIZABLE transaction an MVCC read would take predicate locks, and two
 * writers each reading and writing marks at commit would fail to
 * serialize, although neither read the other's data.  (A refresh deleting
 * marks holds the tracking key, so none is being deleted while they look.)
 */
static bool
marks_in(Relation rel, Oid changes_idx, AttrNumber view_col, Oid viewoid, Snapshot snapshot)
{
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, view_col, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(viewoid));
	scan = systable_beginscan(rel, changes_idx, true, snapshot, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	return found;
}

/* The tracked views that read a relation, from metrics_refresh_sources. */
static List *
views_reading(Oid sources, Oid sources_pkey, Oid relid)
{
	Relation	rel = table_open(sources, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *views = NIL;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, sources_pkey, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		view = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		if (!isnull)
			views = list_append_unique_oid(views, DatumGetObjectId(view));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return views;
}

/*
 * The tracked views that read relid, from the readers cache, filled on a
 * miss unless opening metrics_refresh_sources processed an invalidation of
 * it (what was read is then current, but may not be kept).
 */
static List *
readers_of(Oid relid)
{
	TrackReaders *entry;
	MemoryContext old;
	List	   *views;
	List	   *copy;

	entry = hash_search(readers, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->views;
	views = views_reading(cache_sources, cache_sources_pkey, relid);
	if (track_cache_stale)
		return views;
	old = MemoryContextSwitchTo(track_cache_cxt);
	copy = list_copy(views);
	MemoryContextSwitchTo(old);
	entry = hash_search(readers, &relid, HASH_ENTER, NULL);
	entry->views = copy;
	return views;
}

/* Note that the view has a mark this transaction saw or wrote. */
static void
note_marked(Oid viewoid)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	seen_marked = lappend_oid(seen_marked, viewoid);
	MemoryContextSwitchTo(old);
}

/*
 * Write a change mark for each view, as the owner of the changes table.
 * With dedupe, skip a view that already has a committed mark, provided the
 * view's tracking key can be held in share mode until this transaction ends
 * (see the file header): known from the writers' cache, or seen with a look
 * at the table.  The views whose mark is there at commit go to seen_marked.
 */
static void
write_marks(Oid nsp, List *views, bool dedupe)
{
	ListCell   *lc;
	char	   *volatile sql = NULL;
	Oid			save_userid;
	int			save_sec;
	volatile bool connected = false;
	volatile bool snapshot = false;
	volatile int nestlevel = 0;
	bool		save_read_only = XactReadOnly;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	PG_TRY();
	{
		foreach(lc, views)
		{
			Oid			viewoid = lfirst_oid(lc);
			Oid			type = REGCLASSOID;
			Datum		value = ObjectIdGetDatum(viewoid);
			int			ret;
			bool		keyed = false;

			if (dedupe)
			{
				LOCKTAG		tag;

				track_tag(&tag, viewoid, (uint32) MyProcNumber % TRACK_KEY_SLOTS);
				keyed = LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
				if (keyed)
				{
					/*
					 * Holding the key, take in what refreshes that deleted
					 * marks before we got it sent.
					 */
					AcceptInvalidationMessages();
					if (!track_cache_stale &&
						hash_search(known_marked, &viewoid, HASH_FIND, NULL) != NULL)
						continue;
					{
						/*
						 * Not once the cache went stale (its index may be
						 * gone, after a REINDEX CONCURRENTLY): a mark too
						 * many is always right.  The table is opened first:
						 * that may process more invalidations, and while it
						 * is locked the index cannot be dropped.
						 */
						Relation	crel = table_open(cache_changes, AccessShareLock);
						bool		marked = !track_cache_stale &&
							marks_in(crel, cache_changes_idx, 1, viewoid, SnapshotSelf);

						table_close(crel, AccessShareLock);
						if (marked)
						{
							note_marked(viewoid);
							continue;
						}
					}
				}
			}
			if (!connected)
			{
				/*
				 * Commit has released the statements' snapshots: SPI needs
				 * one.  A transaction that wrote and then SET
				 * transaction_read_only = on still commits its writes: so
				 * must it commit their marks (the bookkeeping of writes
				 * already made; on a standby nothing is written at all).
				 */
				PushActiveSnapshot(GetTransactionSnapshot());
				snapshot = true;
				XactReadOnly = false;
				/* The writer's search_path is the writer's: not ours. */
				nestlevel = mr_pin_search_path();
				if (SPI_connect() != SPI_OK_CONNECT)
					elog(ERROR, "SPI_connect failed");
				connected = true;
				sql = psprintf("INSERT INTO %s.metrics_refresh_changes (view) VALUES ($1)",
							   quote_identifier(get_namespace_name(nsp)));
				SetUserIdAndSecContext(rel_owner(cache_changes),
									   save_sec | SECURITY_LOCAL_USERID_CHANGE);
			}
			ret = SPI_execute_with_args(sql, 1, &type, &value, NULL, false, 0);
			if (ret != SPI_OK_INSERT)
				elog(ERROR, "SPI_execute_with_args failed to record a change: %s",
					 SPI_result_code_string(ret));
			/* Known from now on only if a refresh cannot be deleting it. */
			if (keyed)
				note_marked(viewoid);
		}
		if (connected)
		{
			SetUserIdAndSecContext(save_userid, save_sec);
			SPI_finish();
			mr_unpin_search_path(nestlevel);
		}
	}
	PG_FINALLY();
	{
		XactReadOnly = save_read_only;
	}
	PG_END_TRY();
	if (snapshot)
		PopActiveSnapshot();
}

/*
 * Pre-commit (or pre-prepare) of a transaction that changed tracked tables:
 * mark the views that read them.  A prepared transaction writes its marks
 * without the share lock, which it would hold until COMMIT PREPARED, and
 * without relying on the cache of known marks.
 */
static void
flush_changed_tables(bool prepare)
{
	List	   *tables = changed_tables;
	Oid			fn = changed_fn;
	Oid			nsp;
	List	   *views = NIL;
	ListCell   *lc;

	changed_tables = NIL;
	changed_fn = InvalidOid;
	seen_marked = NIL;
	if (tables == NIL || !OidIsValid(fn))
		return;
	nsp = get_func_namespace(fn);
	if (!OidIsValid(nsp))
		return;					/* the extension is gone */

	/*
	 * The statements that wrote the tables hold their locks, so the sources
	 * as of then are in: a change of the sources that added a reader of one
	 * of them locked it first (sync_sources, ATTACH PARTITION...).
	 */
	AcceptInvalidationMessages();
	if (!track_cache_ready(nsp))
		return;					/* the extension is gone */
	foreach(lc, tables)
	{
		ListCell   *vc;

		foreach(vc, readers_of(lfirst_oid(lc)))
			views = list_append_unique_oid(views, lfirst_oid(vc));
	}
	if (views == NIL)
		return;
	write_marks(nsp, views, !prepare);
}

/* Transaction callback of the writers' side. */
static void
track_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			flush_changed_tables(false);
			break;
		case XACT_EVENT_PRE_PREPARE:
			flush_changed_tables(true);
			break;
		case XACT_EVENT_COMMIT:
			/* The marks seen or written at pre-commit are committed now. */
			if (seen_marked != NIL && !track_cache_stale && known_marked != NULL)
			{
				ListCell   *lc;

				foreach(lc, seen_marked)
				{
					Oid			viewoid = lfirst_oid(lc);

					/* After the commit record: no error may be raised. */
					if (hash_search(known_marked, &viewoid, HASH_ENTER_NULL, NULL) == NULL)
					{
						track_cache_stale = true;
						break;
					}
				}
			}
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			changed_tables = NIL;
			changed_fn = InvalidOid;
			seen_marked = NIL;
			break;
		default:
			break;
	}
}

/*
 * Register the writers' side's transaction callback (from _PG_init, as the
 * relcache callback: registering one can fail, and must not fail inside a
 * user's INSERT).
 */
void
mr_track_init(void)
{
	RegisterXactCallback(track_xact_callback, NULL);
}

/*
 * The trigger metrics_refresh_track (statement level): note that this
 * transaction changed the table.  Cheap: the work is done once, at
 * pre-commit.
 */
void
mr_track_note_write(Oid relid, Oid trigger_fn)
{
	MemoryContext old;

	if (list_member_oid(changed_tables, relid))
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	changed_tables = lappend_oid(changed_tables, relid);
	MemoryContextSwitchTo(old);
	changed_fn = trigger_fn;
}

/*-------------------------------------------------------------------------
 * The refresh's side
 *-------------------------------------------------------------------------
 */

/* Run one statement of ours as the extension owner; raise on failure. */
static void
run_as_owner(const MrExtension *ext, const char *sql, int nargs, Oid *types,
			 Datum *values, int expected)
{
	MrSavedUser saved;
	int			ret;

	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	mr_restore_user(&saved);
	if (ret != expected)
		elog(ERROR, "SPI_execute_with_args failed for \"%s\": %s", sql,
			 SPI_result_code_string(ret));
}

/*
 * The events of our trigger: BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE,
 * FOR EACH STATEMENT.  BEFORE, because it only notes the table: a BEFORE
 * statement trigger is called directly, an AFTER one goes through the
 * after-trigger queue (twice the instructions, bench/callgrind).  Both fire
 * for the same statements (COPY, MERGE and INSERT ... ON CONFLICT
 * included); a statement that fails after ours fired only makes the view
 * refresh once more.
 */
#define TRACK_TRIGGER_TYPE \
	(TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | \
	 TRIGGER_TYPE_DELETE | TRIGGER_TYPE_TRUNCATE)

/*
 * Our trigger on a table (named so, calling our function): InvalidOid if
 * there is none, else its pg_trigger OID; *sound tells whether it is as we
 * create it - the events above, no WHEN condition, no column list, no
 * arguments, no transition tables, not a constraint trigger - and fires
 * always.  A table's owner may drop and re-create it with fewer events (our
 * function is theirs to call), which would let changes go unmarked.  *xmin
 * is its row's writer.
 */
static Oid
track_trigger_of(Oid relid, Oid track_fn, bool *sound, TransactionId *xmin)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(TRACK_TRIGGER));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 2, keys);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup) && ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == track_fn)
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tup);

		result = trig->oid;
		/* AFTER, as builds before 1.1.0's release made it, notes as well. */
		*sound = trig->tgenabled == TRIGGER_FIRES_ALWAYS &&
			(trig->tgtype | TRIGGER_TYPE_BEFORE) == TRACK_TRIGGER_TYPE &&
			trig->tgnargs == 0 && trig->tgattr.dim1 == 0 &&
			!OidIsValid(trig->tgconstraint) &&
			heap_attisnull(tup, Anum_pg_trigger_tgqual, NULL) &&
			heap_attisnull(tup, Anum_pg_trigger_tgoldtable, NULL) &&
			heap_attisnull(tup, Anum_pg_trigger_tgnewtable, NULL);
		*xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * Would tracking relid need our trigger created (or re-created) on it?  Not
 * for a materialized view (its refreshes are marked by the event trigger),
 * nor for a table that carries a sound one already.
 */
static bool
needs_trigger(Oid relid, Oid track_fn)
{
	bool		sound = false;
	TransactionId xmin;

	if (get_rel_relkind(relid) == RELKIND_MATVIEW)
		return false;
	return !OidIsValid(track_fn) ||
		!OidIsValid(track_trigger_of(relid, track_fn, &sound, &xmin)) || !sound;
}

/* The OID of the extension's trigger function (InvalidOid if it has none). */
static Oid
track_function(const MrExtension *ext)
{
	List	   *names = list_make2(makeString(get_namespace_name(ext->nspoid)),
								   makeString(TRACK_TRIGGER));

	return LookupFuncName(names, 0, NULL, true);
}

/*
 * The fingerprint of a view's chain (graph.c), with the state of our
 * trigger on each of its tables mixed in: disabling it, even for a moment,
 * writes a new pg_trigger row.
 */
static uint64
tracking_fingerprint(const MrExtension *ext, Oid viewoid, const MrChain *chain,
					 bool *complete)
{
	uint64		h = mr_chain_fingerprint(viewoid, chain);
	Oid			fn = track_function(ext);
	ListCell   *lc;

	*complete = true;
	foreach(lc, chain->tables)
	{
		bool		sound = false;
		TransactionId xmin = InvalidTransactionId;
		uint32		v[2];

		if (!OidIsValid(track_trigger_of(lfirst_oid(lc), fn, &sound, &xmin)) || !sound)
			*complete = false;
		/* Added to a subscription since: its apply fires no trigger of ours. */
		if (mr_relation_is_subscribed(lfirst_oid(lc)))
			*complete = false;
		v[0] = lfirst_oid(lc);
		v[1] = xmin;
		h = hash_bytes_extended((const unsigned char *) v, sizeof(v), h);
	}
	return h;
}

/*
 * Mix the writer of the view's own pg_class row into a fingerprint: every
 * REFRESH of the view, by anyone, writes a new version of that row.
 */
static uint64
with_view_row(uint64 h, Oid viewoid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(viewoid));
	TransactionId xmin = InvalidTransactionId;

	if (HeapTupleIsValid(tup))
	{
		xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
		ReleaseSysCache(tup);
	}
	return hash_bytes_extended((const unsigned char *) &xmin, sizeof(xmin), h);
}

/*
 * Put our trigger on a table (as the extension owner), firing always; one
 * that is not sound (see track_trigger_of) is dropped and created again.
 * Takes a SHARE ROW EXCLUSIVE lock on the table, as CREATE TRIGGER does.
 */
static void
install_trigger(const MrExtension *ext, Oid relid, Oid track_fn)
{
	bool		sound = false;
	TransactionId xmin;
	char	   *table = mr_view_name(relid);
	Oid			trigger = track_trigger_of(relid, track_fn, &sound, &xmin);

	if (OidIsValid(trigger) && sound)
		return;
	if (OidIsValid(trigger))
		run_as_owner(ext, psprintf("DROP TRIGGER " TRACK_TRIGGER " ON %s", table),
					 0, NULL, NULL, SPI_OK_UTILITY);
	run_as_owner(ext, psprintf("CREATE TRIGGER " TRACK_TRIGGER
							   " BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s"
							   " FOR EACH STATEMENT EXECUTE FUNCTION %s." TRACK_TRIGGER "()",
							   table, ext->nspname_q),
				 0, NULL, NULL, SPI_OK_UTILITY);
	run_as_owner(ext, psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER " TRACK_TRIGGER, table),
				 0, NULL, NULL, SPI_OK_UTILITY);
}

/* Remove our trigger from a table no tracked view reads any more. */
static void
remove_trigger_if_unused(const MrExtension *ext, Oid relid, Oid track_fn)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		sound;
	TransactionId xmin;
	MrSavedUser saved;
	int			ret;
	bool		used;

	if (get_rel_relkind(relid) == RELKIND_MATVIEW ||
		!OidIsValid(track_trigger_of(relid, track_fn, &sound, &xmin)))
		return;
	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_with_args(psprintf("SELECT FROM %s.metrics_refresh_sources WHERE source = $1",
										 ext->nspname_q),
								1, types, values, NULL, false, 1);
	used = ret == SPI_OK_SELECT && SPI_processed > 0;
	mr_restore_user(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (!used)
		run_as_owner(ext, psprintf("DROP TRIGGER " TRACK_TRIGGER " ON %s", mr_view_name(relid)),
					 0, NULL, NULL, SPI_OK_UTILITY);
}

/* The relations whose changes a view's marks stand for: tables and matviews. */
static List *
chain_sources(const MrChain *chain)
{
	return list_concat_unique_oid(list_copy(chain->tables), chain->matviews);
}

/*
 * Make metrics_refresh_sources hold exactly the view's current sources, put
 * our trigger on every table among them, and remove it from tables no
 * tracked view reads any more.  As the extension owner.
 */
static void
sync_sources(const MrExtension *ext, Oid viewoid, const MrChain *chain)
{
	Oid			fn = track_function(ext);
	List	   *wanted = chain_sources(chain);
	List	   *had = NIL;
	Oid			types[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];
	MrSavedUser saved;
	ListCell   *lc;
	uint64		i;
	int			ret;

	values[0] = ObjectIdGetDatum(viewoid);
	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_with_args(psprintf("SELECT source FROM %s.metrics_refresh_sources WHERE view = $1",
										 ext->nspname_q),
								1, types, values, NULL, false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		had = lappend_oid(had, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull)));
	}

	/* In OID order: two runs installing on the same tables cannot deadlock. */
	{
		List	   *tables = list_copy(chain->tables);

		list_sort(tables, list_oid_cmp);
		foreach(lc, tables)
			install_trigger(ext, lfirst_oid(lc), fn);
	}
	foreach(lc, wanted)
	{
		if (list_member_oid(had, lfirst_oid(lc)))
			continue;

		/*
		 * A new source.  A writer of it that committed before this
		 * transaction does could not see this view among the table's
		 * readers, so it marked nothing for it: wait for the table's
		 * writers to finish (their changes are then in the refresh's
		 * snapshot, taken later) and keep new ones out until this
		 * transaction ends, as creating the trigger does.  The wait is
		 * bounded by lock_timeout.
		 */
		if (get_rel_relkind(lfirst_oid(lc)) != RELKIND_MATVIEW)
			LockRelationOid(lfirst_oid(lc), ShareRowExclusiveLock);
		values[0] = ObjectIdGetDatum(lfirst_oid(lc));
		values[1] = ObjectIdGetDatum(viewoid);
		run_as_owner(ext, psprintf("INSERT INTO %s.metrics_refresh_sources (source, view) VALUES ($1, $2)",
								   ext->nspname_q),
					 2, types, values, SPI_OK_INSERT);
	}
	foreach(lc, had)
	{
		if (list_member_oid(wanted, lfirst_oid(lc)))
			continue;
		values[0] = ObjectIdGetDatum(lfirst_oid(lc));
		values[1] = ObjectIdGetDatum(viewoid);
		run_as_owner(ext, psprintf("DELETE FROM %s.metrics_refresh_sources WHERE source = $1 AND view = $2",
								   ext->nspname_q),
					 2, types, values, SPI_OK_DELETE);
		remove_trigger_if_unused(ext, lfirst_oid(lc), fn);
	}
	CommandCounterIncrement();
}

/* A comma-separated list of distinct strings, for a message. */
static char *
join_strings(List *items)
{
	StringInfoData buf;
	ListCell   *lc;
	List	   *seen = NIL;

	initStringInfo(&buf);
	foreach(lc, items)
	{
		char	   *item = (char *) lfirst(lc);
		ListCell   *sc;
		bool		dup = false;

		foreach(sc, seen)
			dup = dup || strcmp((char *) lfirst(sc), item) == 0;
		if (dup)
			continue;
		appendStringInfo(&buf, "%s%s", seen != NIL ? ", " : "", item);
		seen = lappend(seen, item);
	}
	return buf.data;
}

/*
 * Turn tracking on for a view (metrics_refresh_configure(skip_unchanged =>
 * true)), or bring it up to date when it is on.  Refuses (55000) a view
 * that reads something whose changes cannot be tracked, and (42501) a
 * caller without the TRIGGER privilege on a table it reads; a view that
 * calls clock functions gets a NOTICE.  Returns the names of the sources.
 * Preconditions: admin; SPI connected; search_path pinned.
 */
List *
mr_track_enable(const MrExtension *ext, Oid viewoid, const char *view_name)
{
	MrChain		chain;
	Oid			types[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];
	List	   *names = NIL;
	ListCell   *lc;
	Oid			track_fn;

	mr_chain_of(viewoid, &chain, true);
	if (chain.problems != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot track the sources of materialized view \"%s\"", mr_label(view_name)),
				 errdetail("Its query reads what no trigger sees change: %s.", join_strings(chain.problems)),
				 errhint("Leave skip_unchanged off for this view, or read those through a materialized view of their own (its refreshes are tracked).")));
	/*
	 * The TRIGGER privilege is needed where a trigger is to be created:
	 * re-reading the options of a tracked view, or changing another one,
	 * needs none on tables that already carry a sound one.
	 */
	track_fn = track_function(ext);
	foreach(lc, chain.tables)
	{
		if (!needs_trigger(lfirst_oid(lc), track_fn))
			continue;
		if (pg_class_aclcheck(lfirst_oid(lc), GetUserId(), ACL_TRIGGER) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to track changes of table \"%s\"",
							mr_label(mr_view_name(lfirst_oid(lc)))),
					 errdetail("skip_unchanged puts a trigger on every table the view reads, which needs the TRIGGER privilege."),
					 errhint("GRANT TRIGGER ON %s TO %s, or let its owner or a superuser turn the option on.",
							 mr_view_name(lfirst_oid(lc)),
							 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
	}
	if (chain.time_functions != NIL)
		ereport(NOTICE,
				(errmsg("materialized view \"%s\" calls clock functions: %s",
						mr_label(view_name), join_strings(chain.time_functions)),
				 errdetail("While no source changes, their values stay as of the last real refresh, for at most max_skip.")));

	sync_sources(ext, viewoid, &chain);
	values[0] = ObjectIdGetDatum(viewoid);
	values[1] = CStringGetTextDatum(view_name);
	run_as_owner(ext, psprintf("INSERT INTO %s.metrics_refresh_tracking (view, view_name) VALUES ($1, $2) "
							   "ON CONFLICT (view) DO UPDATE SET view_name = EXCLUDED.view_name",
							   ext->nspname_q),
				 2, types, values, SPI_OK_INSERT);

	foreach(lc, chain_sources(&chain))
		names = lappend(names, mr_view_name(lfirst_oid(lc)));
	return names;
}

/*
 * Turn tracking off for a view: forget its state, sources and marks, and
 * remove our trigger from tables no other tracked view reads.  As the
 * extension owner.  Preconditions: SPI connected; search_path pinned.
 */
void
mr_track_disable(const MrExtension *ext, Oid viewoid)
{
	Oid			fn = track_function(ext);
	Oid			type = REGCLASSOID;
	Datum		value = ObjectIdGetDatum(viewoid);
	List	   *had = NIL;
	MrSavedUser saved;
	ListCell   *lc;
	uint64		i;
	int			ret;

	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_with_args(psprintf("DELETE FROM %s.metrics_refresh_sources WHERE view = $1 RETURNING source",
										 ext->nspname_q),
								1, &type, &value, NULL, false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		had = lappend_oid(had, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull)));
	}
	run_as_owner(ext, psprintf("DELETE FROM %s.metrics_refresh_tracking WHERE view = $1", ext->nspname_q),
				 1, &type, &value, SPI_OK_DELETE);
	run_as_owner(ext, psprintf("DELETE FROM %s.metrics_refresh_changes WHERE view = $1", ext->nspname_q),
				 1, &type, &value, SPI_OK_DELETE);
	foreach(lc, had)
		remove_trigger_if_unused(ext, lfirst_oid(lc), fn);
}

/*
 * The view's tracking row: the stored fingerprint, the run and time of its
 * last real refresh; false when it has none, has not been refreshed since
 * tracking began, or a change mark is there (or the tables are not as the
 * install script made them: then the view is refreshed).  Read by index
 * scans in C: a query was parsed and planned on every run (0.2 M
 * instructions, 2.3 M in a new session, which is how pg_cron runs each
 * tick).  As the query did, the tables are locked first, then read with a
 * new snapshot (the latest committed state, and this transaction's own
 * writes), the locks kept to the end of the transaction: a snapshot taken
 * before waiting for a lock could miss the rows of a table rewritten
 * meanwhile, and so a mark.  Under READ COMMITTED only.
 */
static pg_noinline bool
read_tracking(const MrExtension *ext, Oid viewoid, int64 *fingerprint, int64 *run,
			  TimestampTz *refreshed_at)
{
	Oid			relid = our_relation(ext->nspoid, "metrics_refresh_tracking");
	Oid			changes = our_relation(ext->nspoid, "metrics_refresh_changes");
	Relation	rel;
	Relation	crel;
	TupleDesc	desc;
	AttrNumber	view_col;
	AttrNumber	fp_col;
	AttrNumber	run_col;
	AttrNumber	at_col;
	AttrNumber	changes_view_col;
	Oid			pkey;
	Oid			changes_idx;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;
	bool		found = false;

	if (!OidIsValid(relid) || !OidIsValid(changes))
		return false;
	rel = table_open(relid, AccessShareLock);
	crel = table_open(changes, AccessShareLock);
	desc = RelationGetDescr(rel);
	view_col = mr_our_column(desc, "view", REGCLASSOID);
	fp_col = mr_our_column(desc, "fingerprint", INT8OID);
	run_col = mr_our_column(desc, "refreshed_run", INT8OID);
	at_col = mr_our_column(desc, "refreshed_at", TIMESTAMPTZOID);
	pkey = mr_our_index(ext->nspoid, "metrics_refresh_tracking_pkey", relid, view_col, false);
	changes_view_col = mr_our_column(RelationGetDescr(crel), "view", REGCLASSOID);
	changes_idx = mr_our_index(ext->nspoid, "metrics_refresh_changes_view_idx", changes,
							   changes_view_col, false);
	if (fp_col != InvalidAttrNumber && run_col != InvalidAttrNumber && at_col != InvalidAttrNumber &&
		OidIsValid(pkey) && OidIsValid(changes_idx))
	{
		CommandCounterIncrement();
		snapshot = RegisterSnapshot(GetLatestSnapshot());
		ScanKeyInit(&key, view_col, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(viewoid));
		scan = systable_beginscan(rel, pkey, true, snapshot, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			bool		fp_null;
			bool		run_null;
			bool		at_null;

			*fingerprint = DatumGetInt64(heap_getattr(tup, fp_col, desc, &fp_null));
			*run = DatumGetInt64(heap_getattr(tup, run_col, desc, &run_null));
			*refreshed_at = DatumGetTimestampTz(heap_getattr(tup, at_col, desc, &at_null));
			if (run_null)
				*run = 0;
			found = !fp_null && !at_null;
		}
		systable_endscan(scan);
		if (found && marks_in(crel, changes_idx, changes_view_col, viewoid, snapshot))
			found = false;
		UnregisterSnapshot(snapshot);
	}
	table_close(crel, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * Decide whether a run of a tracked view may skip the refresh: true when
 * no source changed since the snapshot of its last real refresh, and that
 * refresh (run *since_run) is younger than max_skip.  Preconditions: the
 * view's single-flight lock held; SPI connected; search_path pinned.
 */
bool
mr_track_unchanged(const MrExtension *ext, Oid viewoid, Datum max_skip, int64 *since_run)
{
	MrChain		chain;
	bool		complete;
	int64		stored;
	TimestampTz refreshed_at;

	if (IsolationUsesXactSnapshot())
		return false;
	if (!read_tracking(ext, viewoid, &stored, since_run, &refreshed_at))
		return false;			/* not tracked, never refreshed since, or
								 * a source changed */
	if (DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												TimestampTzGetDatum(refreshed_at), max_skip)) <=
		GetCurrentTimestamp())
		return false;			/* older than max_skip */

	mr_chain_of(viewoid, &chain, false);
	if ((int64) with_view_row(tracking_fingerprint(ext, viewoid, &chain, &complete), viewoid) != stored ||
		!complete)
		return false;			/* a definition changed, the view was refreshed
								 * by someone else, or a trigger is missing */
	return true;
}

/*
 * Before a tracked view's REFRESH takes its snapshot (see the file header):
 * hold the tracking key exclusively, bring the sources and triggers up to
 * date, compute the fingerprint, and delete the marks this refresh will
 * see.  Returns the fingerprint to store once the refresh succeeded (0 when
 * the view now reads something that cannot be tracked: it is then refreshed
 * every time, with a WARNING).  Under REPEATABLE READ or SERIALIZABLE does
 * nothing and returns 0.  Runs inside the refresh's subtransaction, so a
 * failed refresh undoes it.  Preconditions: SPI connected; search_path
 * pinned; the lock timeout of the refresh applies.
 */
uint64
mr_track_consume(const MrExtension *ext, Oid viewoid, const char *view_name)
{
	LOCKTAG		tag;
	MrChain		chain;
	bool		complete;
	uint64		fp;
	Oid			type = REGCLASSOID;
	Datum		value = ObjectIdGetDatum(viewoid);

	if (IsolationUsesXactSnapshot())
		return 0;
	/* Every slot, in order: refreshes cannot deadlock on them. */
	for (uint32 slot = 0; slot < TRACK_KEY_SLOTS; slot++)
	{
		track_tag(&tag, viewoid, slot);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}

	mr_chain_of(viewoid, &chain, true);

	/*
	 * A table the view reads now that carries no trigger of ours yet (the
	 * owner redefined a plain view in the chain, say) gets one only if the
	 * view's owner may create it: the extension elevates no one.
	 */
	{
		Oid			fn = track_function(ext);
		Oid			owner = rel_owner(viewoid);
		ListCell   *lc;

		foreach(lc, chain.tables)
		{
			if (!needs_trigger(lfirst_oid(lc), fn))
				continue;
			if (pg_class_aclcheck(lfirst_oid(lc), owner, ACL_TRIGGER) != ACLCHECK_OK)
				chain.problems = lappend(chain.problems,
										 psprintf("table %s, on which the view's owner may not create the tracking trigger",
												  mr_label(mr_view_name(lfirst_oid(lc)))));
		}
	}
	if (chain.problems != NIL)
	{
		ereport(WARNING,
				(errmsg("cannot track the sources of materialized view \"%s\" any more", mr_label(view_name)),
				 errdetail("Its query now reads what no trigger sees change: %s; it is refreshed every time.",
						   join_strings(chain.problems)),
				 errhint("Turn skip_unchanged off for the view with metrics_refresh_configure().")));
		return 0;
	}
	sync_sources(ext, viewoid, &chain);
	fp = tracking_fingerprint(ext, viewoid, &chain, &complete);
	run_as_owner(ext, psprintf("DELETE FROM %s.metrics_refresh_changes WHERE view = $1", ext->nspname_q),
				 1, &type, &value, SPI_OK_DELETE);
	return complete ? fp : 0;
}

/*
 * After a successful refresh of a tracked view: store the fingerprint
 * computed before its snapshot (0: none, so the next run refreshes), with
 * the view's pg_class row as this refresh wrote it, and the run.  In the
 * run's transaction.  Under REPEATABLE READ or SERIALIZABLE does nothing:
 * the stored fingerprint no longer matches the view's row, so the next run
 * refreshes.
 */
void
mr_track_refreshed(const MrExtension *ext, Oid viewoid, uint64 fingerprint, int64 run_id)
{
	Oid			types[3] = {REGCLASSOID, INT8OID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	MrSavedUser saved;
	int			ret;

	if (IsolationUsesXactSnapshot())
		return;
	if (fingerprint != 0)
		fingerprint = with_view_row(fingerprint, viewoid);
	values[0] = ObjectIdGetDatum(viewoid);
	values[1] = Int64GetDatum((int64) fingerprint);
	nulls[1] = fingerprint == 0 ? 'n' : ' ';
	values[2] = Int64GetDatum(run_id);
	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute_with_args(psprintf("UPDATE %s.metrics_refresh_tracking SET fingerprint = $2, "
										 "refreshed_run = $3, refreshed_at = clock_timestamp() WHERE view = $1",
										 ext->nspname_q),
								3, types, values, nulls, false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/*
 * The tracked views that read relid, in the extension ext, as of now (a
 * copy, in the current memory context), from the writers' readers cache
 * brought up to date first.  For a DDL that makes relid a partition or
 * child (mr_track_new_child), relid is a table: sync_sources() locks a
 * table before making it a source, in a mode that conflicts with the one
 * the DDL holds, so its invalidation has been processed or it has not
 * committed.
 */
static List *
current_readers(const MrExtension *ext, Oid relid)
{
	AcceptInvalidationMessages();
	if (!track_cache_ready(ext->nspoid))
		return NIL;
	return list_copy(readers_of(relid));
}

/*
 * Does a tracked view read relid?  From the writers' readers cache (one hash
 * look-up once the table was looked up in this session), brought up to date
 * first (pending invalidations processed), as the index scan it replaced
 * read metrics_refresh_sources as of then.  Called after a REFRESH of
 * relid, a materialized view: sync_sources() takes no lock on such a
 * source, so a transaction that makes relid a source may commit just
 * before this look-up and its invalidation arrive just after.  That view
 * still sees the REFRESH: its fingerprint includes the pg_class row of each
 * source materialized view, which every REFRESH rewrites, so its first run
 * after the commit refreshes whatever the marks say.
 */
bool
mr_track_has_readers(const MrExtension *ext, Oid relid)
{
	return current_readers(ext, relid) != NIL;
}

/*
 * Mark every tracked view that reads relid as changed (a REFRESH of a
 * source materialized view, a partition attached).  As the extension owner.
 */
void
mr_track_mark_readers(const MrExtension *ext, Oid relid)
{
	Oid			type = REGCLASSOID;
	Datum		value = ObjectIdGetDatum(relid);

	if (!mr_track_has_readers(ext, relid))
		return;
	run_as_owner(ext, psprintf("INSERT INTO %s.metrics_refresh_changes (view) "
							   "SELECT view FROM %s.metrics_refresh_sources WHERE source = $1",
							   ext->nspname_q, ext->nspname_q),
				 1, &type, &value, SPI_OK_INSERT);
}

/*
 * A table just became a partition or an inheritance child of parent (CREATE
 * TABLE ... PARTITION OF / INHERITS, ALTER TABLE ... ATTACH PARTITION /
 * INHERIT): if tracked views read the parent, they read the child now too.
 * Put our trigger on it (and its own partitions) in the same transaction,
 * so that no write to it goes unseen, record it as their source, and mark
 * them changed.  Foreign tables are skipped (see below).
 */
void
mr_track_new_child(const MrExtension *ext, Oid parent, Oid child)
{
	Oid			fn;
	List	   *views;
	List	   *children;
	Oid			types[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];
	ListCell   *lc;
	ListCell   *vc;

	views = current_readers(ext, parent);
	if (views == NIL)
		return;
	fn = track_function(ext);
	children = find_all_inheritors(child, AccessShareLock, NULL);
	foreach(lc, children)
	{
		char		relkind = get_rel_relkind(lfirst_oid(lc));

		/*
		 * A foreign table cannot carry our trigger (nor be tracked): leave
		 * it, and the user's DDL, alone.  Its views' next refresh says they
		 * cannot be tracked any more, and they are refreshed every time.
		 */
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			continue;

		/*
		 * A new source, as in sync_sources(): wait for its writers in
		 * flight (they could not see these views among its readers) and
		 * keep new ones out until this transaction commits.  ALTER TABLE
		 * ... INHERIT locks only the child, not its own children; a table
		 * that already carries a sound trigger gets no lock from
		 * install_trigger().
		 */
		LockRelationOid(lfirst_oid(lc), ShareRowExclusiveLock);
		install_trigger(ext, lfirst_oid(lc), fn);
		foreach(vc, views)
		{
			values[0] = ObjectIdGetDatum(lfirst_oid(lc));
			values[1] = ObjectIdGetDatum(lfirst_oid(vc));
			run_as_owner(ext, psprintf("INSERT INTO %s.metrics_refresh_sources (source, view) VALUES ($1, $2) "
									   "ON CONFLICT DO NOTHING", ext->nspname_q),
						 2, types, values, SPI_OK_INSERT);
		}
	}
	mr_track_mark_readers(ext, parent);
}

/*
 * Remove our trigger from every table (before DROP EXTENSION, which then
 * needs no CASCADE).  As the extension owner.
 */
void
mr_track_remove_all(const MrExtension *ext)
{
	Oid			fn = track_function(ext);
	MrSavedUser saved;
	List	   *tables = NIL;
	ListCell   *lc;
	uint64		i;
	int			ret;

	if (!OidIsValid(fn))
		return;
	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute("SELECT tgrelid FROM pg_catalog.pg_trigger WHERE tgname = '" TRACK_TRIGGER "'",
					  true, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		tables = lappend_oid(tables, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																   SPI_tuptable->tupdesc, 1, &isnull)));
	}
	foreach(lc, tables)
	{
		bool		sound;
		TransactionId xmin;

		if (OidIsValid(track_trigger_of(lfirst_oid(lc), fn, &sound, &xmin)))
			run_as_owner(ext, psprintf("DROP TRIGGER " TRACK_TRIGGER " ON %s", mr_view_name(lfirst_oid(lc))),
						 0, NULL, NULL, SPI_OK_UTILITY);
	}
}

/*
 * After DDL dropped or renamed things: forget tracking of views that are
 * gone or no longer configured, sources that are gone, and marks of views
 * no longer tracked.  As the extension owner.
 */
void
mr_track_sweep(const MrExtension *ext)
{
	const char *q = ext->nspname_q;
	MrSavedUser saved;
	List	   *gone = NIL;
	ListCell   *lc;
	uint64		i;
	int			ret;

	mr_become_extension_owner(ext, &saved);
	ret = SPI_execute(psprintf("SELECT t.view::oid FROM %s.metrics_refresh_tracking t "
							   "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.view) "
							   "OR NOT EXISTS (SELECT FROM %s.metrics_refresh_config o "
							   "WHERE o.view_name = t.view_name AND o.skip_unchanged)", q, q),
					  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		gone = lappend_oid(gone, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 1, &isnull)));
	}
	ret = SPI_execute(psprintf("DELETE FROM %s.metrics_refresh_sources s "
							   "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.source)", q),
					  false, 0);
	mr_restore_user(&saved);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	foreach(lc, gone)
		mr_track_disable(ext, lfirst_oid(lc));
}
