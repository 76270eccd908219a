// PostgREST's RPC contract for a fixed set of functions: the schema cache
// (which functions exist, their named arguments and result shape), the call
// (one transaction per request, as the JWT's role, with request.jwt.claims
// set), and PostgREST's error body and HTTP status codes.
//
// Status codes follow PostgREST's documented mapping ("Errors", section
// "HTTP Status Codes" of the PostgREST documentation, references/errors.rst).

// An error answered as PostgREST answers it: {code, message, details, hint}.
export class ApiError extends Error {
	constructor(status, code, message, details = null, hint = null, headers = {}) {
		super(message);
		this.status = status;
		this.body = { code, details, hint, message };
		this.headers = headers;
	}
}

// PostgreSQL SQLSTATE -> HTTP status, in the documented order of precedence.
const STATUS_RULES = [
	[/^08/, 503], [/^09/, 500], [/^0L/, 403], [/^0P/, 403],
	[/^23503$/, 409], [/^23505$/, 409], [/^25006$/, 405], [/^25/, 500],
	[/^28/, 403], [/^2D/, 500], [/^38/, 500], [/^39/, 500], [/^3B/, 500],
	[/^40/, 500], [/^53400$/, 500], [/^53/, 503], [/^54/, 500], [/^55/, 500],
	[/^57/, 500], [/^58/, 500], [/^F0/, 500], [/^HV/, 500], [/^P0001$/, 400],
	[/^P0/, 500], [/^XX/, 500], [/^42883$/, 404], [/^42P01$/, 404],
	[/^42P17$/, 500],
];

// The HTTP status of a SQLSTATE; 42501 is 403 for a signed-in caller and 401
// for an anonymous one; a "PTxyz" SQLSTATE asks for status xyz.
export function httpStatus(sqlstate, authenticated) {
	if (sqlstate === '42501')
		return authenticated ? 403 : 401;
	const custom = /^PT([1-5]\d\d)$/.exec(sqlstate);
	if (custom)
		return Number(custom[1]);
	for (const [re, status] of STATUS_RULES)
		if (re.test(sqlstate))
			return status;
	return 400;
}

// A database error (from the pg package) as PostgREST's answer.
export function fromDatabaseError(err, authenticated) {
	if (!err.code)  // not from the server: the connection failed
		return new ApiError(503, 'PGRST000', 'Could not connect with the database', String(err.message));
	return new ApiError(httpStatus(err.code, authenticated), err.code, err.message,
		err.detail ?? null, err.hint ?? null);
}

const CACHE_SQL = `
SELECT p.proname AS name, n.nspname AS schema,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) AS qname,
       COALESCE(p.proargnames, '{}') AS arg_names,
       COALESCE(p.proargmodes::text[], '{}') AS arg_modes,
       ARRAY(SELECT pg_catalog.format_type(t, NULL)
             FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i) ORDER BY i) AS in_types,
       p.pronargdefaults AS n_defaults,
       p.proretset AS returns_set,
       t.typtype = 'c' OR t.oid = 'pg_catalog.record'::pg_catalog.regtype AS returns_rows
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
WHERE p.prokind = 'f'
  AND t.typname NOT IN ('trigger', 'event_trigger')
  AND (p.oid IN (SELECT d.objid FROM pg_catalog.pg_depend d
                 JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                   AND d.deptype = 'e' AND e.extname = $1)
       OR (n.oid = (SELECT extnamespace FROM pg_catalog.pg_extension WHERE extname = $1)
           AND p.proname = ANY ($2::text[])))
ORDER BY p.proname, p.oid`;

// The exposed functions, by name: the extension's own functions and the
// extra names (functions in the extension's schema).  Overloads are kept in
// a list; a call picks the one whose arguments match.
export async function loadSchemaCache(pool, extension, extraNames) {
	const { rows } = await pool.query(CACHE_SQL, [extension, extraNames]);
	const cache = new Map();
	for (const r of rows) {
		const inputs = r.arg_names.length === 0
			? r.in_types.map(() => '')
			: r.arg_names.filter((_, i) => r.arg_modes.length === 0 || 'ibv'.includes(r.arg_modes[i]));
		const fn = {
			name: r.name, schema: r.schema, qname: r.qname,
			args: inputs.map((name, i) => ({ name, type: r.in_types[i], required: i < inputs.length - r.n_defaults })),
			returnsSet: r.returns_set, returnsRows: r.returns_rows,
		};
		if (!cache.has(r.name))
			cache.set(r.name, []);
		cache.get(r.name).push(fn);
	}
	return cache;
}

const quoteIdent = (name) => `"${name.replace(/"/g, '""')}"`;

// The function that takes exactly these named arguments (the others having
// defaults), or a 404 as PostgREST answers for a function it does not know.
function resolve(cache, schema, name, argNames) {
	const match = (fn) =>
		argNames.every((a) => fn.args.some((arg) => arg.name === a)) &&
		fn.args.every((arg) => !arg.required || argNames.includes(arg.name));
	const fn = (cache.get(name) ?? []).find(match);
	if (fn)
		return fn;
	const list = [...argNames].sort().join(', ');
	throw new ApiError(404, 'PGRST202',
		`Could not find the function ${schema}.${name}(${list}) in the schema cache`,
		`Searched for the function ${schema}.${name} with parameters ${list || '(none)'}, but no matches were found in the schema cache.`,
		cache.has(name) ? 'Check the names of the arguments.' : null);
}

// A JSON argument as a query parameter; PostgreSQL casts it to the argument's type.
function paramValue(v) {
	if (v === null || v === undefined)
		return null;
	if (typeof v === 'object')
		return JSON.stringify(v);
	return String(v);
}

// Call one exposed function as PostgREST does and return the response body
// (JSON text).  claims: the verified JWT claims (with their role).
export async function callFunction(pool, cache, schema, name, args, claims) {
	const fn = resolve(cache, schema, name, Object.keys(args));
	const params = [];
	const argSql = Object.entries(args).map(([k, v]) => {
		const arg = fn.args.find((a) => a.name === k);
		params.push(paramValue(v));
		return `${quoteIdent(k)} => $${params.length}::${arg.type}`;
	});
	const call = `${fn.qname}(${argSql.join(', ')})`;
	const sql = fn.returnsSet || fn.returnsRows
		? `SELECT COALESCE(pg_catalog.json_agg(r), '[]')::text AS body FROM ${call} AS r`
		: `SELECT pg_catalog.to_json(${call})::text AS body`;

	const client = await pool.connect();
	let broken = false;
	try {
		await client.query('BEGIN');
		await client.query(
			`SELECT pg_catalog.set_config('role', $1, true),
			        pg_catalog.set_config('request.jwt.claims', $2, true),
			        pg_catalog.set_config('request.method', 'POST', true),
			        pg_catalog.set_config('request.path', $3, true)`,
			[claims.role, JSON.stringify(claims), `/rpc/${name}`]);
		const { rows } = await client.query(sql, params);
		await client.query('COMMIT');
		let body = rows[0].body ?? 'null';
		if (fn.returnsRows && !fn.returnsSet)  // one composite value: an object
			body = JSON.stringify(JSON.parse(body)[0] ?? null);
		return body;
	} catch (err) {
		await client.query('ROLLBACK').catch(() => { broken = true; });
		throw err instanceof ApiError ? err : fromDatabaseError(err, true);
	} finally {
		client.release(broken);
	}
}
