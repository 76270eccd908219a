/*-------------------------------------------------------------------------
 *
 * graph.c
 *		Dependencies between materialized views, through plain views: what a
 *		view reads (its chain: tables, plain views, materialized views and
 *		functions, for change tracking) and which materialized views read it
 *		(its dependents, for cascades and metrics_refresh_graph).
 *
 * Everything is found by OID, from the views' rewrite rules (pg_rewrite)
 * and pg_depend, never by name.  Nothing here evaluates an expression: the
 * rules' query trees (and row-level security policies' expressions, which
 * the rewriter adds to a query for a role they apply to) are walked, not
 * planned, so no code of a view's owner runs.  The relations walked
 * through are locked AccessShareLock, as a query reading them would.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rewriteSupport.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "funcapi.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "metrics_refresh.h"

/* What the walk of one view's chain collects. */
typedef struct ChainWalk
{
	MrChain    *chain;
	Oid			root;			/* the view whose chain this is */
	bool		analyze;		/* classify functions and relations */
	Oid			reader;			/* the role the relations being walked are
								 * read as: the root's owner, or the owner of
								 * the plain view they are read through */
	List	   *policies_walked;	/* tables whose policies were walked */
} ChainWalk;

static void walk_rule_of(Oid relid, ChainWalk *w);
static bool chain_walker(Node *node, void *context);

/* Append an OID to a list unless it is there already. */
static List *
add_oid(List *list, Oid oid)
{
	return list_append_unique_oid(list, oid);
}

/* "schema.name" of a relation, for messages. */
static char *
rel_label(Oid relid)
{
	return mr_label(mr_view_name(relid));
}

/* Is the relation a system catalog or in a system schema? */
static bool
is_catalog_relation(Oid relid, Oid nspoid)
{
	return IsCatalogRelationOid(relid) || IsCatalogNamespace(nspoid) ||
		IsToastNamespace(nspoid) ||
		strcmp(get_namespace_name(nspoid), "information_schema") == 0;
}

/*
 * Is a table replicated into this database by a logical subscription?  (Its
 * apply worker fires no statement-level trigger.)  One index probe.
 */
bool
mr_relation_is_subscribed(Oid relid)
{
	Relation	rel = table_open(SubscriptionRelRelationId, AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	ScanKeyInit(&key, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, SubscriptionRelSrrelidSrsubidIndexId, true, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* The owner of a relation (InvalidOid if it is gone). */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

/*
 * May the row-level security policies of a table apply when reader reads
 * it?  Yes when they are enabled, unless the reader is a superuser or has
 * BYPASSRLS, or is the table's owner itself and they are not forced.  (An
 * owner by membership is taken as subject to them: memberships are not in
 * the fingerprint, role attributes and owners are.)
 */
static bool
policies_may_apply(Oid relid, Oid reader)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	bool		apply;

	if (!HeapTupleIsValid(tup))
		return false;
	form = (Form_pg_class) GETSTRUCT(tup);
	apply = form->relrowsecurity &&
		!(form->relowner == reader && !form->relforcerowsecurity);
	ReleaseSysCache(tup);
	return apply && !superuser_arg(reader) && !has_bypassrls_privilege(reader);
}

/*
 * Walk the USING expressions of a table's SELECT and ALL policies, as the
 * query rewriter would add them to the view's query: what they read and
 * call is part of the chain.  Every such policy, whatever roles it names
 * (more than apply, never fewer).  The expressions are read, not
 * evaluated.
 */
static void
walk_policies_of(Oid relid, ChainWalk *w)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (list_member_oid(w->policies_walked, relid))
		return;
	w->policies_walked = lappend_oid(w->policies_walked, relid);
	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_policy_polrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, PolicyPolrelidPolnameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_policy policy = (Form_pg_policy) GETSTRUCT(tup);
		bool		isnull;
		Datum		qual;

		if (policy->polcmd != '*' && policy->polcmd != ACL_SELECT_CHR)
			continue;
		qual = heap_getattr(tup, Anum_pg_policy_polqual, RelationGetDescr(rel), &isnull);
		if (!isnull)
			(void) chain_walker(stringToNode(TextDatumGetCString(qual)), w);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* A relation read by the chain. */
static void
add_relation(Oid relid, RangeTblEntry *rte, ChainWalk *w)
{
	MrChain    *c = w->chain;
	char		relkind;
	Oid			nspoid;

	/* A rule's own placeholder entries (OLD and NEW, before 16) name it. */
	if (relid == w->root)
		return;
	relkind = get_rel_relkind(relid);
	nspoid = get_rel_namespace(relid);

	if (w->analyze && rte != NULL && rte->tablesample != NULL)
		c->problems = lappend(c->problems,
							  psprintf("TABLESAMPLE of table %s", rel_label(relid)));
	switch (relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			if (w->analyze && is_catalog_relation(relid, nspoid))
			{
				c->problems = lappend(c->problems, psprintf("catalog %s", rel_label(relid)));
				return;
			}
			/* Its row-level security policies, for this reader. */
			if (policies_may_apply(relid, w->reader))
				walk_policies_of(relid, w);
			if (list_member_oid(c->tables, relid))
				return;
			/* The table, and every partition and inheritance child of it. */
			{
				List	   *all = find_all_inheritors(relid, AccessShareLock, NULL);
				ListCell   *lc;

				foreach(lc, all)
				{
					Oid			child = lfirst_oid(lc);

					c->tables = add_oid(c->tables, child);
					if (w->analyze && get_rel_relkind(child) == RELKIND_FOREIGN_TABLE)
						c->problems = lappend(c->problems,
											  psprintf("foreign table %s (a partition of %s)",
													   rel_label(child), rel_label(relid)));
					if (w->analyze && mr_relation_is_subscribed(child))
						c->problems = lappend(c->problems,
											  psprintf("table %s, replicated by a subscription",
													   rel_label(child)));
				}
			}
			break;
		case RELKIND_VIEW:
			if (w->analyze && is_catalog_relation(relid, nspoid))
			{
				c->problems = lappend(c->problems, psprintf("catalog view %s", rel_label(relid)));
				return;
			}
			if (list_member_oid(c->views, relid))
				return;
			c->views = add_oid(c->views, relid);
			{
				/*
				 * What a view reads is read as the view's owner, unless
				 * the view has security_invoker.
				 */
				Oid			reader = w->reader;
				Relation	view = relation_open(relid, AccessShareLock);

				if (!RelationHasSecurityInvoker(view))
					w->reader = view->rd_rel->relowner;
				relation_close(view, NoLock);
				walk_rule_of(relid, w);
				w->reader = reader;
			}
			break;
		case RELKIND_MATVIEW:
			c->matviews = add_oid(c->matviews, relid);
			break;
		case RELKIND_FOREIGN_TABLE:
			if (w->analyze)
				c->problems = lappend(c->problems, psprintf("foreign table %s", rel_label(relid)));
			break;
		case RELKIND_SEQUENCE:
			if (w->analyze)
				c->problems = lappend(c->problems, psprintf("sequence %s", rel_label(relid)));
			break;
		default:
			if (w->analyze)
				c->problems = lappend(c->problems, psprintf("relation %s", rel_label(relid)));
			break;
	}
}

/*
 * Is this built-in function a current-time function, whose value changes
 * with the clock alone?
 */
static bool
is_time_function(Oid funcid)
{
	static const char *const names[] = {
		"now", "transaction_timestamp", "statement_timestamp", "clock_timestamp",
		"timeofday", "age"
	};
	char	   *name = get_func_name(funcid);
	int			i;

	for (i = 0; i < (int) lengthof(names); i++)
		if (name != NULL && strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Does a built-in function take or return a date/time type? */
static bool
is_datetime_function(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	bool		found = false;
	int			i;

	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	for (i = -1; i < proc->pronargs && !found; i++)
	{
		Oid			type = i < 0 ? proc->prorettype : proc->proargtypes.values[i];

		found = type == DATEOID || type == TIMEOID || type == TIMETZOID ||
			type == TIMESTAMPOID || type == TIMESTAMPTZOID || type == INTERVALOID;
	}
	ReleaseSysCache(tup);
	return found;
}

/*
 * check_functions_in_node() callback: record a function the chain calls and,
 * when analyzing, whether its result can change without a source changing.
 * IMMUTABLE functions are fine.  Built-in functions of the clock (now() and
 * friends) are accepted and noted; other built-in date/time functions that
 * are only STABLE (their results follow the TimeZone setting) are accepted;
 * anything else that is not IMMUTABLE is a problem.
 */
static bool
note_function(Oid funcid, void *context)
{
	ChainWalk  *w = (ChainWalk *) context;
	MrChain    *c = w->chain;
	char		volatility;
	bool		builtin;

	if (list_member_oid(c->functions, funcid))
		return false;
	c->functions = add_oid(c->functions, funcid);
	if (!w->analyze)
		return false;
	volatility = func_volatile(funcid);
	if (volatility == PROVOLATILE_IMMUTABLE)
		return false;
	builtin = funcid < FirstNormalObjectId && get_func_namespace(funcid) == PG_CATALOG_NAMESPACE;
	if (builtin && is_time_function(funcid))
		c->time_functions = lappend(c->time_functions,
									psprintf("%s()", get_func_name(funcid)));
	else if (builtin && volatility == PROVOLATILE_STABLE && is_datetime_function(funcid))
		 /* follows TimeZone only */ ;
	else
		c->problems = lappend(c->problems,
							  psprintf("%s function %s",
									   volatility == PROVOLATILE_STABLE ? "STABLE" : "VOLATILE",
									   format_procedure(funcid)));
	return false;
}

/* The query tree walker of a chain. */
static bool
chain_walker(Node *node, void *context)
{
	ChainWalk  *w = (ChainWalk *) context;

	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			add_relation(rte->relid, rte, w);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, chain_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, SQLValueFunction))
	{
		SQLValueFunction *svf = (SQLValueFunction *) node;

		if (w->analyze)
		{
			const char *clock = NULL;
			const char *other = NULL;

			switch (svf->op)
			{
				case SVFOP_CURRENT_DATE:
					clock = "CURRENT_DATE";
					break;
				case SVFOP_CURRENT_TIME:
				case SVFOP_CURRENT_TIME_N:
					clock = "CURRENT_TIME";
					break;
				case SVFOP_CURRENT_TIMESTAMP:
				case SVFOP_CURRENT_TIMESTAMP_N:
					clock = "CURRENT_TIMESTAMP";
					break;
				case SVFOP_LOCALTIME:
				case SVFOP_LOCALTIME_N:
					clock = "LOCALTIME";
					break;
				case SVFOP_LOCALTIMESTAMP:
				case SVFOP_LOCALTIMESTAMP_N:
					clock = "LOCALTIMESTAMP";
					break;
				case SVFOP_CURRENT_ROLE:
					other = "CURRENT_ROLE";
					break;
				case SVFOP_CURRENT_USER:
					other = "CURRENT_USER";
					break;
				case SVFOP_USER:
					other = "USER";
					break;
				case SVFOP_SESSION_USER:
					other = "SESSION_USER";
					break;
				case SVFOP_CURRENT_CATALOG:
					other = "CURRENT_CATALOG";
					break;
				case SVFOP_CURRENT_SCHEMA:
					other = "CURRENT_SCHEMA";
					break;
				default:
					break;
			}
			if (clock != NULL)
				w->chain->time_functions = lappend(w->chain->time_functions, pstrdup(clock));
			else
				w->chain->problems = lappend(w->chain->problems,
											 pstrdup(other != NULL ? other : "a SQL value function"));
		}
		return false;
	}
	if (IsA(node, NextValueExpr))
	{
		if (w->analyze)
			w->chain->problems = lappend(w->chain->problems, pstrdup("a sequence's next value"));
		return false;
	}
	(void) check_functions_in_node(node, note_function, context);
	return expression_tree_walker(node, chain_walker, context);
}

/*
 * The SELECT rule's query of a view or materialized view (copied), or NULL
 * if it has none.  The relation is locked AccessShareLock until the end of
 * the transaction.
 */
static Query *
rule_query(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Query	   *query = NULL;
	int			i;

	for (i = 0; rel->rd_rules != NULL && i < rel->rd_rules->numLocks; i++)
	{
		RewriteRule *rule = rel->rd_rules->rules[i];

		if (rule->event == CMD_SELECT && list_length(rule->actions) == 1)
		{
			query = copyObject(linitial_node(Query, rule->actions));
			break;
		}
	}
	relation_close(rel, NoLock);
	return query;
}

/* Walk the rule of a view or materialized view. */
static void
walk_rule_of(Oid relid, ChainWalk *w)
{
	Query	   *query = rule_query(relid);

	if (query != NULL)
		(void) query_tree_walker(query, chain_walker, w, QTW_EXAMINE_RTES_BEFORE);
}

/*
 * What the materialized view viewoid reads: tables (with all their
 * partitions and inheritance children), plain views passed through,
 * materialized views (as units: their own sources are theirs), and the
 * functions called along the way.  With analyze, also what cannot be
 * tracked (chain->problems) and the clock functions (chain->time_functions).
 */
void
mr_chain_of(Oid viewoid, MrChain *chain, bool analyze)
{
	ChainWalk	w;

	memset(chain, 0, sizeof(MrChain));
	w.chain = chain;
	w.root = viewoid;
	w.analyze = analyze;
	w.reader = relation_owner(viewoid);
	w.policies_walked = NIL;
	walk_rule_of(viewoid, &w);
}

/* Mix one catalog row's identity into a fingerprint. */
static uint64
mix(uint64 h, Oid classid, Oid objid, TransactionId xmin)
{
	uint32		v[3] = {classid, objid, xmin};

	return hash_bytes_extended((const unsigned char *) v, sizeof(v), h);
}

/* The raw xmin of a syscache tuple (the transaction that wrote it). */
static TransactionId
tuple_xmin(HeapTuple tup)
{
	return HeapTupleHeaderGetRawXmin(tup->t_data);
}

/* Mix the pg_policy rows of a table; policies is pg_policy, open. */
static uint64
mix_policies(uint64 h, Relation policies, Oid relid)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, Anum_pg_policy_polrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(policies, PolicyPolrelidPolnameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		h = mix(h, PolicyRelationId, ((Form_pg_policy) GETSTRUCT(tup))->oid, tuple_xmin(tup));
	systable_endscan(scan);
	return h;
}

/* Mix a role's pg_authid row (superuser, BYPASSRLS). */
static uint64
mix_role(uint64 h, Oid roleid)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));

	if (!HeapTupleIsValid(tup))
		return mix(h, AuthIdRelationId, roleid, InvalidTransactionId);
	h = mix(h, AuthIdRelationId, roleid, tuple_xmin(tup));
	ReleaseSysCache(tup);
	return h;
}

/* Mix a relation's pg_class row, and its rule's row if it has one. */
static uint64
mix_relation(uint64 h, Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tup))
		return mix(h, RelationRelationId, relid, InvalidTransactionId);
	h = mix(h, RelationRelationId, relid, tuple_xmin(tup));
	ReleaseSysCache(tup);
	tup = SearchSysCache2(RULERELNAME, ObjectIdGetDatum(relid), CStringGetDatum("_RETURN"));
	if (HeapTupleIsValid(tup))
	{
		h = mix(h, RewriteRelationId, relid, tuple_xmin(tup));
		ReleaseSysCache(tup);
	}
	return h;
}

/*
 * A fingerprint of the definitions in a view's chain: the identity and the
 * writing transaction of the catalog rows of the view, every relation and
 * function in its chain (pg_class, pg_rewrite, pg_proc), the tables'
 * row-level security policies (pg_policy) and the roles the tables are read
 * as (pg_authid).  DDL that changes any of them (ALTER, CREATE OR REPLACE,
 * DROP and re-create, a partition attached or detached, a plain REFRESH of
 * a source materialized view, CREATE/ALTER/DROP POLICY, ALTER ROLE)
 * writes a new row version, so the fingerprint changes; so may unrelated
 * DDL such as a GRANT (a false "changed" is allowed, a false "unchanged"
 * never).
 */
uint64
mr_chain_fingerprint(Oid viewoid, const MrChain *chain)
{
	uint64		h = 0x4D52;
	List	   *rels = list_copy(chain->tables);
	List	   *funcs = list_copy(chain->functions);
	ListCell   *lc;

	rels = list_concat(rels, chain->views);
	rels = list_concat(rels, chain->matviews);
	list_sort(rels, list_oid_cmp);
	list_sort(funcs, list_oid_cmp);

	/*
	 * The view's own definition is its rule (re-created only with the view);
	 * its pg_class row changes with its own refreshes, which are no change
	 * of its sources.
	 */
	h = mix(h, RelationRelationId, viewoid, InvalidTransactionId);
	{
		HeapTuple	tup = SearchSysCache2(RULERELNAME, ObjectIdGetDatum(viewoid),
										  CStringGetDatum("_RETURN"));

		if (HeapTupleIsValid(tup))
		{
			h = mix(h, RewriteRelationId, viewoid, tuple_xmin(tup));
			ReleaseSysCache(tup);
		}
	}
	foreach(lc, rels)
		h = mix_relation(h, lfirst_oid(lc));

	/*
	 * Row-level security: the tables' policies, and the roles the tables
	 * are read as (the view's owner, the plain views' owners), whose
	 * attributes decide whether policies apply.  Owners themselves are in
	 * the pg_class rows above.
	 */
	{
		Relation	policies = table_open(PolicyRelationId, AccessShareLock);

		foreach(lc, rels)
			h = mix_policies(h, policies, lfirst_oid(lc));
		table_close(policies, AccessShareLock);
	}
	h = mix_role(h, relation_owner(viewoid));
	foreach(lc, rels)
		if (list_member_oid(chain->views, lfirst_oid(lc)))
			h = mix_role(h, relation_owner(lfirst_oid(lc)));
	foreach(lc, funcs)
	{
		Oid			funcid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));

		if (HeapTupleIsValid(tup))
		{
			h = mix(h, ProcedureRelationId, funcid, tuple_xmin(tup));
			ReleaseSysCache(tup);
		}
		else
			h = mix(h, ProcedureRelationId, funcid, InvalidTransactionId);
	}
	return h;
}

/*
 * The materialized views that read relid directly or through plain views
 * (not through another materialized view), by OID.  Follows pg_depend from
 * relid to the views' SELECT rules (_RETURN) that use it, and from a plain
 * view's rule on: the same edges as mr_upstream_matviews() walks the other
 * way.  A plain view's other rules (ON INSERT ... DO INSTEAD ...) are not
 * what it reads.
 */
List *
mr_dependent_matviews(Oid relid)
{
	List	   *result = NIL;
	List	   *todo = list_make1_oid(relid);
	List	   *seen = list_make1_oid(relid);
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	Relation	rewrite = table_open(RewriteRelationId, AccessShareLock);

	while (todo != NIL)
	{
		Oid			current = linitial_oid(todo);
		ScanKeyData keys[2];
		SysScanDesc scan;
		HeapTuple	tup;

		todo = list_delete_first(todo);
		ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(RelationRelationId));
		ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(current));
		scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
			ScanKeyData rkey;
			SysScanDesc rscan;
			HeapTuple	rtup;
			Oid			user = InvalidOid;

			if (dep->classid != RewriteRelationId || dep->deptype != DEPENDENCY_NORMAL)
				continue;
			ScanKeyInit(&rkey, Anum_pg_rewrite_oid, BTEqualStrategyNumber,
						F_OIDEQ, ObjectIdGetDatum(dep->objid));
			rscan = systable_beginscan(rewrite, RewriteOidIndexId, true, NULL, 1, &rkey);
			rtup = systable_getnext(rscan);
			/* A view's query only: not its INSERT/UPDATE/DELETE rules. */
			if (HeapTupleIsValid(rtup) &&
				strcmp(NameStr(((Form_pg_rewrite) GETSTRUCT(rtup))->rulename), ViewSelectRuleName) == 0)
				user = ((Form_pg_rewrite) GETSTRUCT(rtup))->ev_class;
			systable_endscan(rscan);
			if (!OidIsValid(user) || list_member_oid(seen, user))
				continue;
			seen = lappend_oid(seen, user);
			switch (get_rel_relkind(user))
			{
				case RELKIND_MATVIEW:
					result = lappend_oid(result, user);
					break;
				case RELKIND_VIEW:
					todo = lappend_oid(todo, user);
					break;
				default:
					break;
			}
		}
		systable_endscan(scan);
	}
	table_close(rewrite, AccessShareLock);
	table_close(depend, AccessShareLock);
	return result;
}

/* The OID of a view's or materialized view's _RETURN rule, or InvalidOid. */
static Oid
return_rule_oid(Oid relid)
{
	HeapTuple	tup = SearchSysCache2(RULERELNAME, ObjectIdGetDatum(relid),
									  CStringGetDatum("_RETURN"));
	Oid			ruleoid = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		ruleoid = ((Form_pg_rewrite) GETSTRUCT(tup))->oid;
		ReleaseSysCache(tup);
	}
	return ruleoid;
}

/*
 * The materialized views that relid (a materialized view) reads directly or
 * through plain views, by OID, from pg_depend: no relation is opened or
 * locked, so this is cheap enough for the whole database's graph.
 */
List *
mr_upstream_matviews(Oid relid)
{
	List	   *result = NIL;
	List	   *todo = list_make1_oid(relid);
	List	   *seen = list_make1_oid(relid);
	Relation	depend = table_open(DependRelationId, AccessShareLock);

	while (todo != NIL)
	{
		Oid			current = linitial_oid(todo);
		Oid			ruleoid = return_rule_oid(current);
		ScanKeyData keys[2];
		SysScanDesc scan;
		HeapTuple	tup;

		todo = list_delete_first(todo);
		if (!OidIsValid(ruleoid))
			continue;
		ScanKeyInit(&keys[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(RewriteRelationId));
		ScanKeyInit(&keys[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(ruleoid));
		scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, keys);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
			Oid			used = dep->refobjid;

			if (dep->refclassid != RelationRelationId || dep->deptype != DEPENDENCY_NORMAL ||
				list_member_oid(seen, used))
				continue;
			seen = lappend_oid(seen, used);
			switch (get_rel_relkind(used))
			{
				case RELKIND_MATVIEW:
					result = lappend_oid(result, used);
					break;
				case RELKIND_VIEW:
					todo = lappend_oid(todo, used);
					break;
				default:
					break;
			}
		}
		systable_endscan(scan);
	}
	table_close(depend, AccessShareLock);
	return result;
}

/* A node of a cascade being ordered. */
typedef struct PlanNode
{
	Oid			relid;			/* hash key */
	char	   *view_name;
	List	   *upstream;		/* its sources among the cascade's nodes */
	bool		placed;
} PlanNode;

/* Order PlanNodes by view name, for a deterministic order among equals. */
static int
node_name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((PlanNode *) lfirst(a))->view_name, ((PlanNode *) lfirst(b))->view_name);
}

/*
 * The cascade from root: root first, then every materialized view that
 * depends on it directly or transitively (through plain views and other
 * materialized views), each exactly once and after all of its sources that
 * are in the cascade (diamonds included); among nodes whose sources are all
 * placed, by name.  Returns a list of MrCascadeNode.  Only the root's
 * downstream part is visited, never the whole database.
 */
List *
mr_cascade_plan(Oid root)
{
	List	   *members = list_make1_oid(root);
	List	   *nodes = NIL;
	List	   *result = NIL;
	HASHCTL		ctl;
	HTAB	   *byoid;
	ListCell   *lc;
	int			i;

	/* The downstream part, breadth first. */
	for (i = 0; i < list_length(members); i++)
	{
		ListCell   *dc;

		foreach(dc, mr_dependent_matviews(list_nth_oid(members, i)))
			members = list_append_unique_oid(members, lfirst_oid(dc));
	}

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PlanNode);
	ctl.hcxt = CurrentMemoryContext;
	byoid = hash_create("metrics_refresh cascade", list_length(members), &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, members)
	{
		PlanNode   *n = hash_search(byoid, &lc->oid_value, HASH_ENTER, NULL);

		n->view_name = mr_view_name(n->relid);
		n->upstream = NIL;
		n->placed = false;
		nodes = lappend(nodes, n);
	}
	foreach(lc, nodes)
	{
		PlanNode   *n = (PlanNode *) lfirst(lc);
		ListCell   *uc;

		if (n->relid == root)
			continue;
		foreach(uc, mr_upstream_matviews(n->relid))
			if (hash_search(byoid, &uc->oid_value, HASH_FIND, NULL) != NULL)
				n->upstream = lappend_oid(n->upstream, lfirst_oid(uc));
	}
	list_sort(nodes, node_name_cmp);

	/*
	 * Kahn's algorithm: place the first node (by name) whose upstream nodes
	 * are all placed, and start again.  Only the root has no upstream node.
	 */
	while (list_length(result) < list_length(nodes))
	{
		PlanNode   *next = NULL;

		foreach(lc, nodes)
		{
			PlanNode   *n = (PlanNode *) lfirst(lc);
			ListCell   *uc;
			bool		ready = !n->placed;

			foreach(uc, n->upstream)
				ready = ready && ((PlanNode *) hash_search(byoid, &uc->oid_value,
														   HASH_FIND, NULL))->placed;
			if (ready && (n->relid == root || n->upstream != NIL))
			{
				next = n;
				break;
			}
		}
		if (next == NULL)
			elog(ERROR, "materialized views that depend on each other in a cycle");
		{
			MrCascadeNode *cn = palloc0(sizeof(MrCascadeNode));

			cn->relid = next->relid;
			cn->view_name = next->view_name;
			cn->upstream = next->upstream;
			result = lappend(result, cn);
			next->placed = true;
		}
	}
	hash_destroy(byoid);
	return result;
}

/* Level of a materialized view: 0 when it reads none, else 1 + its sources'. */
static int
level_of(Oid relid, HTAB *levels, int depth)
{
	bool		found;
	int		   *entry = hash_search(levels, &relid, HASH_ENTER, &found);
	int			level = 0;
	ListCell   *lc;

	if (found)
		return entry[1];
	entry[1] = 0;				/* a cycle (impossible for views) stops here */
	if (depth > 1000)
		return 0;
	foreach(lc, mr_upstream_matviews(relid))
		level = Max(level, level_of(lfirst_oid(lc), levels, depth + 1) + 1);
	entry = hash_search(levels, &relid, HASH_FIND, NULL);
	entry[1] = level;
	return level;
}

/* Order OIDs by view name. */
static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(mr_view_name(lfirst_oid(a)), mr_view_name(lfirst_oid(b)));
}

/*
 * The rows of metrics_refresh_graph(view): (view_name, depends_on, level)
 * for every dependency between materialized views (through plain views) of
 * the view's connected part, or of every materialized view when viewoid is
 * InvalidOid; a view that depends on no other has one row with depends_on
 * NULL and level 0.  Ordered by level, view, source.
 */
void
mr_graph_rows(FunctionCallInfo fcinfo, Oid viewoid)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *members = NIL;
	HASHCTL		ctl;
	HTAB	   *levels;
	ListCell   *lc;
	int			maxlevel = 0;
	int			level;

	if (OidIsValid(viewoid))
	{
		int			i;

		members = list_make1_oid(viewoid);
		for (i = 0; i < list_length(members); i++)
		{
			Oid			m = list_nth_oid(members, i);

			members = list_concat_unique_oid(members, mr_upstream_matviews(m));
			members = list_concat_unique_oid(members, mr_dependent_matviews(m));
		}
	}
	else
	{
		Relation	rel = table_open(RelationRelationId, AccessShareLock);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		HeapTuple	tup;

		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);

			if (form->relkind == RELKIND_MATVIEW && !IsCatalogNamespace(form->relnamespace))
				members = lappend_oid(members, form->oid);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	list_sort(members, name_cmp);

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = 2 * sizeof(int);
	ctl.hcxt = CurrentMemoryContext;
	levels = hash_create("metrics_refresh graph", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, members)
		maxlevel = Max(maxlevel, level_of(lfirst_oid(lc), levels, 0));

	for (level = 0; level <= maxlevel; level++)
		foreach(lc, members)
		{
			Oid			m = lfirst_oid(lc);
			List	   *up;
			ListCell   *uc;
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			if (((int *) hash_search(levels, &m, HASH_FIND, NULL))[1] != level)
				continue;
			values[0] = CStringGetTextDatum(mr_view_name(m));
			values[2] = Int32GetDatum(level);
			up = mr_upstream_matviews(m);
			list_sort(up, name_cmp);
			if (up == NIL)
			{
				nulls[1] = true;
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
			foreach(uc, up)
			{
				values[1] = CStringGetTextDatum(mr_view_name(lfirst_oid(uc)));
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	hash_destroy(levels);
}
