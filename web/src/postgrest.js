// A PostgREST RPC call: POST {base}/rpc/{fn} with the arguments as a JSON
// object and the caller's JWT as a bearer token.  Works the same against
// PostgREST, Supabase (base https://<project>.supabase.co/rest/v1, with the
// project's anon key as apikey) and tools/web's local server.

// A failed call: the HTTP status and PostgREST's error body
// {code, message, details, hint}; status 0 when the server was not reached.
export class RpcError extends Error {
	constructor(status, body) {
		super(body.message ?? `HTTP ${status}`);
		this.name = 'RpcError';
		this.status = status;
		this.code = body.code ?? null;
		this.details = body.details ?? null;
		this.hint = body.hint ?? null;
	}
}

// The function's JSON result.  options: {base, token, apikey, signal}.
export async function rpc(fn, args, { base = '', token = '', apikey = '', signal } = {}) {
	const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
	if (token)
		headers.Authorization = `Bearer ${token}`;
	if (apikey)
		headers.apikey = apikey;
	let res;
	try {
		res = await fetch(`${base.replace(/\/+$/, '')}/rpc/${encodeURIComponent(fn)}`, {
			method: 'POST', headers, body: JSON.stringify(args ?? {}), signal, cache: 'no-store',
		});
	} catch (err) {
		if (err.name === 'AbortError')
			throw err;
		throw new RpcError(0, { message: `could not reach ${base || location.origin}: ${err.message}` });
	}
	const text = await res.text();
	let body = null;
	try {
		body = text === '' ? null : JSON.parse(text);
	} catch {
		body = { message: text.slice(0, 300) };
	}
	if (!res.ok)
		throw new RpcError(res.status, body && typeof body === 'object' ? body : { message: String(body) });
	return body;
}
