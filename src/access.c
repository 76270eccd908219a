/*-------------------------------------------------------------------------
 *
 * access.c
 *		Who may refresh and who may read the log: the one place that decides.
 *
 * A "super admin" is a superuser, a member of the role named by
 * metrics_refresh.admin_role, or a role for which the function named by
 * metrics_refresh.admin_check returns true.  Both settings are PGC_SUSET;
 * their check hook and their re-application when the library is loaded
 * after login live here too.
 * The admin check function runs as the real caller (GetUserId()), inside an
 * internal subtransaction so that an error from it means "no" and leaves the
 * caller's transaction intact.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "metrics_refresh.h"

/*
 * The check hook of metrics_refresh.admin_check: empty, or a schema-qualified
 * function name without parentheses: two identifiers separated by a dot, each either
 * double-quoted or made of letters, digits, '_' and '$' (not starting with a
 * digit or '$').
 */
bool
mr_check_admin_check_setting(char **newval, void **extra, GucSource source)
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
 * Called by _PG_init(): re-apply the database and role settings (ALTER DATABASE / ROLE ... SET) of
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
void
mr_reapply_admin_settings(void)
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

/* Guards against an admin_check function that asks whether its caller is admin. */
static bool in_admin_check = false;

/* The admin_check function to call, and its answer. */
typedef struct AdminCheckCall
{
	Oid			fnoid;
	bool		result;
} AdminCheckCall;

/* Call the admin_check function (run by call_admin_check in a subtransaction). */
static void
invoke_admin_check(void *arg)
{
	AdminCheckCall *call = (AdminCheckCall *) arg;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 0);
	Datum		value;

	fmgr_info(call->fnoid, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL, NULL);
	value = FunctionCallInvoke(fcinfo);
	call->result = !fcinfo->isnull && DatumGetBool(value);
}

/*
 * Call the function named by metrics_refresh.admin_check as the current user.
 * Any problem (no such function, wrong signature, no EXECUTE right, an error,
 * NULL) means false.  A missing function, a wrong signature or an error
 * raise a WARNING, so that a broken configuration is visible; NULL and a
 * missing EXECUTE right do not (an application's check returns NULL for
 * every anonymous caller).
 */
static bool
call_admin_check(void)
{
	List	   *names;
	Oid			fnoid;
	HeapTuple	proctup;
	Form_pg_proc procform;
	AdminCheckCall call;
	ErrorData  *volatile edata = NULL;

	names = stringToQualifiedNameList(mr_admin_check, NULL);
	fnoid = LookupFuncName(names, 0, NULL, true);
	if (!OidIsValid(fnoid))
	{
		ereport(WARNING,
				(errmsg("function %s() named by metrics_refresh.admin_check does not exist",
						mr_admin_check)));
		return false;
	}
	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fnoid);
	procform = (Form_pg_proc) GETSTRUCT(proctup);
	if (procform->prorettype != BOOLOID || procform->proretset ||
		procform->prokind != PROKIND_FUNCTION)
	{
		ReleaseSysCache(proctup);
		ereport(WARNING,
				(errmsg("function %s() named by metrics_refresh.admin_check must return boolean",
						mr_admin_check)));
		return false;
	}
	ReleaseSysCache(proctup);

	if (object_aclcheck(ProcedureRelationId, fnoid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		return false;

	call.fnoid = fnoid;
	call.result = false;
	in_admin_check = true;
	PG_TRY();
	{
		if (IsInParallelMode())
		{
			/*
			 * No subtransaction can start during a parallel operation (the
			 * SQL functions that ask are PARALLEL UNSAFE, so only a function
			 * mislabelled PARALLEL SAFE or RESTRICTED that calls them gets
			 * here): call it directly, so the answer is right, and let an
			 * error be an error.
			 */
			invoke_admin_check(&call);
			edata = NULL;
		}
		else
			edata = mr_call_in_subxact(invoke_admin_check, &call);
	}
	PG_FINALLY();
	{
		in_admin_check = false;
	}
	PG_END_TRY();
	if (edata != NULL)
	{
		/* A cancel is not an answer: it goes on. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		ereport(WARNING,
				(errmsg("function %s() named by metrics_refresh.admin_check failed: %s",
						mr_admin_check, edata->message),
				 errdetail("The caller is treated as not being an admin.")));
		FreeErrorData(edata);
		return false;
	}
	return call.result;
}

/*
 * Is the current user (GetUserId(): the role after SET ROLE, never a definer
 * of ours, since no function of this extension is SECURITY DEFINER) a super
 * admin?  Cheap tests first; the admin_check function last.
 *
 * admin_check judges the session (a JWT claim the request set, say), not a
 * role: it is asked only when the current user is the session's own role
 * (after SET ROLE) outside a security-restricted operation.  Not inside a
 * view's query that a refresh runs as the view's owner, nor inside a
 * SECURITY DEFINER function: there the current user is the owner of that
 * code, and the session's claim must not make the owner's code an admin.
 */
bool
mr_is_admin(void)
{
	Oid			roleid = GetUserId();

	if (superuser_arg(roleid))
		return true;
	if (mr_admin_role != NULL && mr_admin_role[0] != '\0')
	{
		Oid			admin = get_role_oid(mr_admin_role, true);

		if (OidIsValid(admin) && is_member_of_role(roleid, admin))
			return true;
	}
	if (mr_admin_check != NULL && mr_admin_check[0] != '\0' && !in_admin_check &&
		roleid == GetOuterUserId() && !InSecurityRestrictedOperation())
		return call_admin_check();
	return false;
}

/* The errdetail shared by every refusal of a non-admin. */
static int
admin_detail(void)
{
	return errdetail("Only a superuser, a member of role \"%s\", or a role approved by metrics_refresh.admin_check may do this.",
					 mr_admin_role ? mr_admin_role : "");
}

/*
 * Raise 42501 unless the current user is a super admin.  "action" completes
 * "permission denied to ...".
 */
void
mr_require_admin(const char *action)
{
	if (!mr_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 admin_detail()));
}

/*
 * Raise 42501 unless the current user is a super admin or may maintain the
 * view itself: has the privileges of its owner or, on PostgreSQL 17 and
 * later, the MAINTAIN privilege on it (the owner exception of
 * metrics_refresh_run).
 */
void
mr_require_admin_or_owner(Oid viewoid, Oid viewowner, const char *view_name)
{
	if (has_privs_of_role(GetUserId(), viewowner))
		return;
#if PG_VERSION_NUM >= 170000
	if (pg_class_aclcheck(viewoid, GetUserId(), ACL_MAINTAIN) == ACLCHECK_OK)
		return;
#endif
	if (!mr_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to refresh materialized view \"%s\"", mr_label(view_name)),
				 errdetail("Only the view's owner, a superuser, a member of role \"%s\", or a role approved by metrics_refresh.admin_check may refresh it.",
						   mr_admin_role ? mr_admin_role : "")));
}

/*
 * Raise 42501 unless the current user may read refresh statistics: members
 * of pg_monitor or pg_read_all_stats, and super admins.
 */
void
mr_require_monitor(void)
{
	Oid			roleid = GetUserId();

	if (has_privs_of_role(roleid, ROLE_PG_MONITOR) ||
		has_privs_of_role(roleid, ROLE_PG_READ_ALL_STATS) ||
		mr_is_admin())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read materialized view refresh statistics"),
			 errdetail("Only members of pg_monitor or pg_read_all_stats and metrics_refresh admins may read them."),
			 errhint("GRANT pg_monitor TO the role, or make it a metrics_refresh admin.")));
}
