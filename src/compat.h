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

#endif							/* PG_VERSION_NUM < 170000 */

#endif							/* METRICS_REFRESH_COMPAT_H */
