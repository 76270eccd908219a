/*-------------------------------------------------------------------------
 *
 * util.c
 *		Facts about the installed extension, view names, argument checks and
 *		the fixed search_path that every entry point runs under.
 *
 * Nothing here changes data.  The catalog look-ups take no locks beyond the
 * catalog's own; callers that need a stable view lock it themselves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "metrics_refresh.h"

/*
 * "1.1.0" as 10100: major * 10000 + minor * 100 + patch; 0 when it does not
 * parse.  Lets the library, which may be newer than a database's SQL objects
 * until ALTER EXTENSION ... UPDATE, use only the objects that exist.
 */
static int
parse_version(const char *text)
{
	int			part[3] = {0, 0, 0};
	int			n = 0;
	const char *p = text;

	/* Digits, a dot, digits, and optionally a dot and digits (sscanf's %d.%d.%d). */
	while (n < 3 && *p >= '0' && *p <= '9')
	{
		while (*p >= '0' && *p <= '9' && part[n] < 100000)
			part[n] = part[n] * 10 + (*p++ - '0');
		n++;
		if (*p != '.')
			break;
		p++;
	}
	if (n < 2)
		return 0;
	return part[0] * 10000 + part[1] * 100 + part[2];
}

/* Fill ext from a visible pg_extension tuple. */
static void
read_extension_row(Relation rel, HeapTuple tup, MrExtension *ext)
{
	Form_pg_extension form = (Form_pg_extension) GETSTRUCT(tup);
	bool		isnull;
	Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
								 RelationGetDescr(rel), &isnull);

	ext->extoid = form->oid;
	ext->owner = form->extowner;
	ext->nspoid = form->extnamespace;
	ext->version = isnull ? 0 : parse_version(TextDatumGetCString(d));
}

/*
 * Where this library's own pg_extension row was last found, per backend:
 * every call of an entry point looks the extension up, and fetching that
 * one tuple again costs a fraction of a scan of the name index.  The row
 * fetched counts only if it is visible to a new catalog snapshot and is
 * still metrics_refresh's (there is one such row at a time): ALTER
 * EXTENSION and DROP EXTENSION leave the old version invisible, and a
 * vacuumed slot holds another row or none; then the index is scanned again.
 */
static ItemPointerData own_row = {{0, 0}, InvalidOffsetNumber};

/* The visible tuple at own_row, if it is extname's, into ext. */
static bool
fetch_own_row(Relation rel, const char *extname, MrExtension *ext)
{
	HeapTupleData tuple;
	Buffer		buf;
	Snapshot	snapshot;
	bool		found = false;

	/* VACUUM may have truncated the catalog below the block. */
	if (!ItemPointerIsValid(&own_row) ||
		ItemPointerGetBlockNumber(&own_row) >= RelationGetNumberOfBlocks(rel))
		return false;
	snapshot = RegisterSnapshot(GetCatalogSnapshot(ExtensionRelationId));
	tuple.t_self = own_row;
	if (heap_fetch(rel, snapshot, &tuple, &buf, false))
	{
		found = strcmp(NameStr(((Form_pg_extension) GETSTRUCT(&tuple))->extname), extname) == 0;
		if (found)
			read_extension_row(rel, &tuple, ext);
		ReleaseBuffer(buf);
	}
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * Look up an installed extension of this database: its OID, owner, schema
 * and version.  Returns false if it is not installed.
 */
bool
mr_find_extension(const char *extname, MrExtension *ext)
{
	bool		own = strcmp(extname, "metrics_refresh") == 0;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	found = own && fetch_own_row(rel, extname, ext);
	if (!found)
	{
		ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
					F_NAMEEQ, CStringGetDatum(extname));
		scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		found = HeapTupleIsValid(tup);
		if (found)
			read_extension_row(rel, tup, ext);
		if (own)
		{
			if (found)
				own_row = tup->t_self;
			else
				ItemPointerSetInvalid(&own_row);
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);

	if (found)
		ext->nspname_q = pstrdup(quote_identifier(get_namespace_name(ext->nspoid)));
	return found;
}

/*
 * Look up metrics_refresh itself.  Raises 55000 if it is not installed in
 * this database (possible only when the library was loaded by LOAD).
 */
void
mr_get_extension(MrExtension *ext)
{
	if (!mr_find_extension("metrics_refresh", ext))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"metrics_refresh\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION metrics_refresh.")));
}

/*
 * Open a GUC nesting level and pin search_path to "pg_catalog, pg_temp", as
 * a SECURITY DEFINER function's SET clause would.  Every SQL text this
 * extension runs is schema-qualified, so nothing a caller puts on its
 * search_path can shadow a function or operator we use.  Returns the nesting
 * level for mr_unpin_search_path(); an error unwinds it with the transaction.
 */
int
mr_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Restore the settings changed since mr_pin_search_path() returned nestlevel. */
void
mr_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * The schema-qualified name of a relation, each part quoted only where
 * needed, so that the text casts back to regclass.  The relation must exist.
 */
char *
mr_view_name(Oid viewoid)
{
	char	   *relname = get_rel_name(viewoid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewoid)));
	nspname = get_namespace_name(get_rel_namespace(viewoid));
	return quote_qualified_identifier(nspname, relname);
}

/*
 * Check that viewoid names an existing materialized view (42P01, 42809
 * otherwise) and return its owner; with view_name, also its name as
 * mr_view_name() gives it, from the same catalog look-up.  Takes no lock:
 * the refresh re-checks under its lock.
 */
Oid
mr_check_matview(Oid viewoid, char **view_name)
{
	HeapTuple	tup;
	Form_pg_class form;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(viewoid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewoid)));
	form = (Form_pg_class) GETSTRUCT(tup);
	if (form->relkind != RELKIND_MATVIEW)
	{
		char	   *name = psprintf("%s.%s", get_namespace_name(form->relnamespace),
										NameStr(form->relname));

		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a materialized view", name),
				 errhint("metrics_refresh refreshes materialized views only.")));
	}
	owner = form->relowner;
	if (view_name != NULL)
		*view_name = quote_qualified_identifier(get_namespace_name(form->relnamespace),
												NameStr(form->relname));
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Refuse, with 25006, to change anything on a hot standby or in a read-only
 * transaction.  "what" completes "cannot ...".
 */
void
mr_check_not_recovery(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s during recovery", what),
				 errdetail("This server is a hot standby; materialized views can be refreshed only on the primary."),
				 errhint("Run the refresh on the primary server; the standby receives its result through replication.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s in a read-only transaction", what)));
}

/*
 * Resolve GUC metrics_refresh.platform_view to a relation's OID.  Called with
 * search_path pinned, so the name must be schema-qualified (an unqualified
 * name could be redirected by the caller's search_path).
 */
Oid
mr_platform_view_oid(void)
{
	List	   *names;
	Oid			relid;

	if (mr_platform_view == NULL || mr_platform_view[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metrics_refresh.platform_view is not set"),
				 errhint("Set it to the schema-qualified name of the platform's materialized view.")));
	names = stringToQualifiedNameList(mr_platform_view, NULL);
	relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("materialized view \"%s\" does not exist", mr_platform_view),
				 errdetail("It is named by the setting metrics_refresh.platform_view."),
				 errhint("Create the view, or set metrics_refresh.platform_view to the schema-qualified name of an existing materialized view.")));
	return relid;
}

/*
 * The name of a view as messages show it, inside double quotes: the raw
 * schema and relation names joined by a dot (as PostgreSQL's own messages
 * do), from the quoted form the log uses.  Does no catalog access, so it is
 * safe in an error path.
 */
char *
mr_label(const char *view_name)
{
	return NameListToString(stringToQualifiedNameList(view_name, NULL));
}

/*
 * Act as the extension's owner (who owns the log and the configuration, and
 * whose pg_cron jobs they are), keeping the security context's other flags;
 * *saved receives what mr_restore_user() goes back to.  An error unwinds
 * the switch with the (sub)transaction.
 */
void
mr_become_extension_owner(const MrExtension *ext, MrSavedUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(ext->owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Go back to the identity saved by mr_become_extension_owner(). */
void
mr_restore_user(const MrSavedUser *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/* The log's spelling of a status. */
const char *
mr_status_name(MrStatus status)
{
	switch (status)
	{
		case MR_STATUS_RUNNING:
			return "running";
		case MR_STATUS_SUCCESS:
			return "success";
		case MR_STATUS_ERROR:
			return "error";
		case MR_STATUS_SKIPPED:
			return "skipped";
		case MR_STATUS_UNCHANGED:
			return "unchanged";
	}
	pg_unreachable();
}

/* The log's spelling of a source. */
const char *
mr_source_name(MrSource source)
{
	switch (source)
	{
		case MR_SOURCE_MANUAL:
			return "manual";
		case MR_SOURCE_SCHEDULED:
			return "scheduled";
		case MR_SOURCE_CASCADE:
			return "cascade";
	}
	pg_unreachable();
}

/* The log's spelling of a method: NULL when there is none. */
const char *
mr_method_name(MrMethod method)
{
	switch (method)
	{
		case MR_METHOD_NONE:
			return NULL;
		case MR_METHOD_CONCURRENTLY:
			return "concurrently";
		case MR_METHOD_FULL:
			return "full";
	}
	pg_unreachable();
}

/* Parse the "source" argument: 'manual' or 'scheduled', else 22023. */
MrSource
mr_parse_source(text *source)
{
	char	   *s = text_to_cstring(source);

	if (strcmp(s, "manual") == 0)
		return MR_SOURCE_MANUAL;
	if (strcmp(s, "scheduled") == 0)
		return MR_SOURCE_SCHEDULED;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid refresh source \"%s\"", s),
			 errhint("The source is \"manual\" or \"scheduled\".")));
	pg_unreachable();
}

/*
 * Fill an advisory LOCKTAG of this database with a kind (field 4) that
 * pg_advisory_lock() never uses, so user advisory locks cannot collide.
 */
void
mr_advisory_tag(void *locktag, uint32 key_hi, uint32 key_lo, uint16 kind)
{
	LOCKTAG    *tag = (LOCKTAG *) locktag;

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, key_hi, key_lo, kind);
}

/*
 * Compare an interval with zero, as interval comparison does (a month is 30
 * days): -1, 0 or 1.  So '1 day -1 hour' is positive.
 */
int
mr_interval_sign(Datum iv)
{
	Interval	zero = {0};

	return DatumGetInt32(DirectFunctionCall2(interval_cmp, iv, IntervalPGetDatum(&zero)));
}

/*
 * A worker's count of stop requests (mr_worker_stops()) when the last error
 * that mr_call_in_subxact() caught was caught, before its rollback: the
 * stops that error answers (refresh.c).
 */
int			mr_subxact_error_stops = 0;

/*
 * Run fn(arg) in an internal subtransaction, as PL/pgSQL's exec_stmt_block
 * runs a block with an EXCEPTION clause.  Returns NULL when fn returned;
 * otherwise the subtransaction is rolled back (undoing everything fn did,
 * its locks and settings included) and the error is returned, copied into
 * the memory context current at the call.  The caller's transaction, memory
 * context and resource owner are as before either way.
 */
ErrorData *
mr_call_in_subxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	/*
	 * An ERROR zeroes the interrupt holdoff counts (errfinish, which leaves
	 * a handler to restore them); a caller inside HOLD_INTERRUPTS() gets
	 * them back before the rollback, so that nothing interrupts that
	 * either, and its RESUME_INTERRUPTS() does not underflow.  An error the
	 * caller raises again (ReThrowError) keeps them: its handler sets its
	 * own.
	 */
	uint32		holdoff = InterruptHoldoffCount;
	uint32		cancel_holdoff = QueryCancelHoldoffCount;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		/* First, before the rollback: the stop requests the error answers. */
		mr_subxact_error_stops = mr_worker_stops();
		InterruptHoldoffCount = holdoff;
		QueryCancelHoldoffCount = cancel_holdoff;
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	return edata;
}

/*
 * The value that ALTER ROLE / ALTER DATABASE ... SET store for setting
 * "name" in a session of role roleid in database dbid, taken in PostgreSQL's
 * order of precedence (role in database, role, database, all roles), or
 * NULL when none sets it.  *source receives the GucSource of the level it
 * came from.  Needs a transaction.
 */
char *
mr_stored_setting(const char *name, Oid dbid, Oid roleid, GucSource *source)
{
	struct
	{
		Oid			db;
		Oid			role;
		GucSource	source;
	}			levels[] = {
		{dbid, roleid, PGC_S_DATABASE_USER},
		{InvalidOid, roleid, PGC_S_USER},
		{dbid, InvalidOid, PGC_S_DATABASE},
		{InvalidOid, InvalidOid, PGC_S_GLOBAL},
	};
	Relation	rel;
	Snapshot	snapshot;
	char	   *result = NULL;
	size_t		namelen = strlen(name);
	int			i;

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	snapshot = RegisterSnapshot(GetCatalogSnapshot(DbRoleSettingRelationId));
	for (i = 0; i < (int) lengthof(levels) && result == NULL; i++)
	{
		ScanKeyData keys[2];
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(levels[i].db));
		ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(levels[i].role));
		scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, snapshot, 2, keys);
		while (result == NULL && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
										 RelationGetDescr(rel), &isnull);
			Datum	   *items;
			int			nitems;
			int			j;

			if (isnull)
				continue;
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
							  &items, NULL, &nitems);
			for (j = 0; j < nitems && result == NULL; j++)
			{
				char	   *item = TextDatumGetCString(items[j]);

				if (strncmp(item, name, namelen) == 0 && item[namelen] == '=')
				{
					result = pstrdup(item + namelen + 1);
					*source = levels[i].source;
				}
			}
		}
		systable_endscan(scan);
	}
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return result;
}

/* Push "key": value (a string, or null when value is NULL) into a jsonb object. */
void
mr_jsonb_put_text(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &k);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push "key": true/false into a jsonb object. */
void
mr_jsonb_put_bool(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &k);
	v.type = jbvBool;
	v.val.boolean = value;
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * The attribute number of the live column name, of type typid (any type
 * for InvalidOid), in one of the extension's tables (its tuple
 * descriptor: no catalog look-up), or InvalidAttrNumber: a table altered
 * since it was installed is not read directly.
 */
AttrNumber
mr_our_column(TupleDesc desc, const char *name, Oid typid)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return !OidIsValid(typid) || att->atttypid == typid ? att->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/*
 * The index name in the extension's schema (nspoid), if it is what the
 * install script made: a valid b-tree on heapid, led by column attnum in
 * ascending order, partial or not as asked; InvalidOid otherwise (renamed,
 * dropped, rebuilt differently).  Its lock (AccessShareLock) is kept until
 * the end of the transaction, so that it stays what was checked.  Looked
 * up by name at each use: a REINDEX CONCURRENTLY, say, gives it a new OID.
 */
Oid
mr_our_index(Oid nspoid, const char *name, Oid heapid, AttrNumber attnum, bool partial)
{
	Oid			indexid = get_relname_relid(name, nspoid);
	Relation	idx;
	bool		ok;

	if (!OidIsValid(indexid) || attnum == InvalidAttrNumber)
		return InvalidOid;
	idx = try_relation_open(indexid, AccessShareLock);
	if (idx == NULL)
		return InvalidOid;
	ok = idx->rd_rel->relkind == RELKIND_INDEX && idx->rd_rel->relam == BTREE_AM_OID &&
		idx->rd_index->indrelid == heapid && idx->rd_index->indisvalid &&
		idx->rd_index->indkey.values[0] == attnum && idx->rd_indoption[0] == 0 &&
		heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) != partial;
	relation_close(idx, NoLock);
	return ok ? indexid : InvalidOid;
}

/* Were the plans keyed by key made for this installation, version and schema name? */
bool
mr_plan_key_matches(const MrPlanKey *key, const MrExtension *ext)
{
	return OidIsValid(key->extoid) && key->extoid == ext->extoid &&
		key->version == ext->version && strcmp(key->nspname_q, ext->nspname_q) == 0;
}

/* Record that the plans keyed by key were made for ext (once all are made). */
void
mr_plan_key_set(MrPlanKey *key, const MrExtension *ext)
{
	key->extoid = ext->extoid;
	key->version = ext->version;
	strlcpy(key->nspname_q, ext->nspname_q, sizeof(key->nspname_q));
}

/* Prepare a plan and keep it for the session (SPI connected). */
SPIPlanPtr
mr_prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	return mr_prepare_kept_opts(sql, nargs, argtypes, 0);
}

/*
 * The same with planner options (CURSOR_OPT_GENERIC_PLAN: one plan for
 * every parameter value, never a custom plan per execution).
 */
SPIPlanPtr
mr_prepare_kept_opts(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}
