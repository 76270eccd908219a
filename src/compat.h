/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The one place where metrics_refresh's C code meets differences
 *		between PostgreSQL major versions (15, 17 and 18 are tested).
 *
 * The rest of the code is written against the newest server API; for an
 * older server this header supplies what it lacks, under PG_VERSION_NUM
 * guards, so that supporting a version less means deleting its block here.
 * Included by metrics_refresh.h after the server headers that declare the
 * functions it wraps, so every C file sees it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_REFRESH_COMPAT_H
#define METRICS_REFRESH_COMPAT_H

#include "catalog/dependency.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/regproc.h"

#if PG_VERSION_NUM < 160000

/*
 * PostgreSQL 16 gave stringToQualifiedNameList() a soft-error context
 * (escontext); NULL means "throw", the only behaviour 15 has.  The macro
 * must follow the declaration in utils/regproc.h, included above.
 */
#define stringToQualifiedNameList(string, escontext) \
	stringToQualifiedNameList(string)

/*
 * PostgreSQL 16 replaced pg_proc_aclcheck(), pg_namespace_aclcheck() and
 * their kin by object_aclcheck(classid, ...).  Only the classes this
 * extension checks are mapped; any other is a coding error.
 */
static inline AclResult
object_aclcheck(Oid classid, Oid objectid, Oid roleid, AclMode mode)
{
	switch (classid)
	{
		case ProcedureRelationId:
			return pg_proc_aclcheck(objectid, roleid, mode);
		case NamespaceRelationId:
			return pg_namespace_aclcheck(objectid, roleid, mode);
		default:
			elog(ERROR, "object_aclcheck() compatibility: unsupported class %u", classid);
	}
	pg_unreachable();
}

/*
 * PostgreSQL 16 added onlySummarizing to ExecInsertIndexTuples() (true
 * inserts into summarizing indexes only, after a HOT update); an insert
 * passes false, which is what 15 always does.
 */
#define ExecInsertIndexTuples(resultRelInfo, slot, estate, update, noDupErr, \
							  specConflict, arbiterIndexes, onlySummarizing) \
	ExecInsertIndexTuples(resultRelInfo, slot, estate, update, noDupErr, \
						  specConflict, arbiterIndexes)

/*
 * What the library exports.  From PostgreSQL 16 on, PGXS builds modules with
 * -fvisibility=hidden and PGDLLEXPORT marks what the server looks up by
 * name; before 16 the Makefile adds that option, and these do the marking:
 * the SQL-callable functions and their info functions, the magic block,
 * _PG_init and the worker's entry point.  The library then binds fewer
 * symbols when a session or a background worker loads it, and the calls
 * between its own files are direct.
 */
#ifdef __GNUC__
#undef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))
#undef PG_FUNCTION_INFO_V1
#define PG_FUNCTION_INFO_V1(funcname) \
extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS); \
extern PGDLLEXPORT const Pg_finfo_record *CppConcat(pg_finfo_,funcname)(void); \
const Pg_finfo_record * \
CppConcat(pg_finfo_,funcname) (void) \
{ \
	static const Pg_finfo_record my_finfo = { 1 }; \
	return &my_finfo; \
} \
extern int no_such_variable
#endif

#endif							/* PG_VERSION_NUM < 160000 */

#if PG_VERSION_NUM < 170000

/*
 * PostgreSQL 17 asks whether a stronger lock counts too; the extension asks
 * for the mode itself only (orstronger false).
 */
#define LockHeldByMe(locktag, lockmode, orstronger) LockHeldByMe(locktag, lockmode)

/* PostgreSQL 17 takes the relation, not its OID. */
#define getIdentitySequence(rel, attnum, missing_ok) \
	getIdentitySequence(RelationGetRelid(rel), attnum, missing_ok)

/* PostgreSQL 17 names a backend's PGPROC slot MyProcNumber. */
#define MyProcNumber (MyProc->pgprocno)

#endif							/* PG_VERSION_NUM < 170000 */

#endif							/* METRICS_REFRESH_COMPAT_H */
