// The local server of tools/web: serves the dashboard page and exposes the
// metrics_refresh extension's functions (and the extra ones named in
// MR_WEB_EXPOSE) under PostgREST's RPC contract:
//
//   POST /rpc/<function>   JSON object of named arguments,
//                          Authorization: Bearer <HS256 JWT with a role claim>
//   GET  /events           server-sent events: every NOTIFY metrics_refresh
//                          that names a run ({"run_id", "view", "status"}), for
//                          callers who may read refresh statistics
//   GET  /, /src/*, /vendor/uplot/*   the page, the component, uPlot
//
// Each RPC request runs in its own transaction as the JWT's role (SET LOCAL
// ROLE) with request.jwt.claims set to the claims, as PostgREST does.  There
// is no anonymous role: a request without a token gets 401 (PGRST302).
//
// Environment: MR_WEB_DATABASE_URL (the login role, e.g. "authenticator"),
// MR_WEB_JWT_SECRET, MR_WEB_PORT (default 8431), MR_WEB_HOST (default
// 127.0.0.1), MR_WEB_EXPOSE (comma-separated function names).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { JwtError, verify } from './jwt.js';
import { ApiError, callFunction, fromDatabaseError, loadSchemaCache } from './rpc.js';

const EXTENSION = 'metrics_refresh';
const MAX_BODY = 64 * 1024;
const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const config = {
	databaseUrl: process.env.MR_WEB_DATABASE_URL,
	secret: process.env.MR_WEB_JWT_SECRET,
	port: Number(process.env.MR_WEB_PORT ?? 8431),
	host: process.env.MR_WEB_HOST ?? '127.0.0.1',
	expose: (process.env.MR_WEB_EXPOSE ?? '').split(',').map((s) => s.trim()).filter(Boolean),
};
if (!config.databaseUrl || !config.secret || config.secret.length < 32) {
	console.error('MR_WEB_DATABASE_URL and MR_WEB_JWT_SECRET (at least 32 characters) must be set');
	process.exit(2);
}

// URL prefix -> directory; nothing else is served.
const STATIC = [
	['/vendor/uplot/', path.join(WEB_ROOT, 'node_modules/uplot/dist/')],
	['/src/', path.join(WEB_ROOT, 'src/')],
];
const TYPES = {
	'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml',
};

const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 8 });
pool.on('error', (err) => console.error('idle database connection failed:', err.message));
const { rows: [{ schema }] } = await pool.query(
	'SELECT extnamespace::regnamespace::text AS schema FROM pg_catalog.pg_extension WHERE extname = $1', [EXTENSION]);
const cache = await loadSchemaCache(pool, EXTENSION, config.expose);

function send(res, status, body, headers = {}) {
	res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
	res.end(body);
}

function sendError(res, err) {
	if (!(err instanceof ApiError)) {
		console.error(err);
		err = new ApiError(500, 'PGRSTX00', 'Internal server error', String(err.message ?? err));
	}
	send(res, err.status, JSON.stringify(err.body), err.headers);
}

// The verified claims of the request's bearer token.
function authenticate(req) {
	const auth = req.headers.authorization ?? '';
	const m = /^Bearer\s+(\S+)$/i.exec(auth);
	if (!m)
		throw new ApiError(401, 'PGRST302', 'Anonymous access is disabled', null, null,
			{ 'WWW-Authenticate': 'Bearer' });
	let claims;
	try {
		claims = verify(m[1], config.secret);
	} catch (err) {
		if (!(err instanceof JwtError))
			throw err;
		throw new ApiError(401, 'PGRST301', err.message, null, null,
			{ 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${err.message}"` });
	}
	if (typeof claims.role !== 'string' || claims.role === '')
		throw new ApiError(401, 'PGRST302', 'Anonymous access is disabled: the JWT has no role claim', null, null,
			{ 'WWW-Authenticate': 'Bearer' });
	return claims;
}

async function readJson(req) {
	const chunks = [];
	let size = 0;
	for await (const chunk of req) {
		size += chunk.length;
		if (size > MAX_BODY)
			throw new ApiError(413, 'PGRST102', 'Request body is too large');
		chunks.push(chunk);
	}
	const text = Buffer.concat(chunks).toString('utf8');
	if (text.trim() === '')
		return {};
	let body;
	try {
		body = JSON.parse(text);
	} catch {
		throw new ApiError(400, 'PGRST102', 'Empty or invalid json');
	}
	if (body === null || typeof body !== 'object' || Array.isArray(body))
		throw new ApiError(400, 'PGRST102', 'The request body must be a JSON object of named arguments');
	return body;
}

async function handleRpc(req, res, name) {
	if (req.method !== 'POST')
		throw new ApiError(405, 'PGRST101', 'This server calls functions with POST only', null, null, { Allow: 'POST' });
	const claims = authenticate(req);
	const args = await readJson(req);
	send(res, 200, await callFunction(pool, cache, schema, name, args, claims));
}

// Server-sent events: one listening connection, fanned out to subscribers.
// A subscriber must be allowed to read refresh statistics (the monitoring
// access rule, checked by metrics_refresh_run_status as the caller); the
// stream ends when the token expires.
const subscribers = new Set();
let listener = null;
let shuttingDown = false;

// (Re)connect the LISTEN connection; a lost one is replaced after a second.
function startListener() {
	const client = new pg.Client({ connectionString: config.databaseUrl });
	let retried = false;
	const retry = (err) => {
		if (retried || shuttingDown)
			return;
		retried = true;
		console.error('LISTEN connection failed:', err?.message ?? 'closed');
		client.end().catch(() => {});
		setTimeout(startListener, 1000);
	};
	// Any role may NOTIFY metrics_refresh: only a payload that names a run
	// as the extension does is passed on, written again by JSON.stringify
	// (one line, nothing that could start another event field).
	client.on('notification', (msg) => {
		const event = runEvent(msg.payload);
		if (event === null)
			return;
		for (const res of subscribers)
			res.write(`event: metrics_refresh\ndata: ${event}\n\n`);
	});
	client.on('error', retry);
	client.on('end', () => retry(null));
	listener = client;
	return client.connect().then(() => client.query('LISTEN metrics_refresh')).catch(retry);
}

// The NOTIFY payload as the event's data: {"run_id", "view", "status"}, or
// null for anything else.
function runEvent(payload) {
	let run;
	try {
		run = JSON.parse(payload);
	} catch {
		return null;
	}
	if (run === null || typeof run !== 'object' || !Number.isSafeInteger(run.run_id) ||
		typeof run.view !== 'string' || typeof run.status !== 'string')
		return null;
	return JSON.stringify({ run_id: run.run_id, view: run.view, status: run.status });
}

async function handleEvents(req, res) {
	const claims = authenticate(req);
	await callFunction(pool, cache, schema, 'metrics_refresh_run_status', { run_id: -1 }, claims);
	res.writeHead(200, {
		'Content-Type': 'text/event-stream; charset=utf-8',
		'Cache-Control': 'no-store',
		Connection: 'keep-alive',
	});
	res.write('retry: 2000\n: connected\n\n');
	subscribers.add(res);
	const ping = setInterval(() => res.write(': ping\n\n'), 25000);
	const expiry = typeof claims.exp === 'number'
		? setTimeout(() => res.end(), Math.max(0, claims.exp * 1000 - Date.now()))
		: null;
	req.on('close', () => {
		subscribers.delete(res);
		clearInterval(ping);
		clearTimeout(expiry);
	});
}

async function handleStatic(req, res, pathname) {
	if (req.method !== 'GET' && req.method !== 'HEAD')
		throw new ApiError(405, 'PGRST117', `Unsupported HTTP method: ${req.method}`);
	let file = null;
	if (pathname === '/' || pathname === '/index.html')
		file = path.join(WEB_ROOT, 'index.html');
	for (const [prefix, dir] of STATIC) {
		if (pathname.startsWith(prefix)) {
			const candidate = path.resolve(dir, '.' + decodeURIComponent(pathname.slice(prefix.length - 1)));
			if (candidate.startsWith(dir))
				file = candidate;
		}
	}
	const info = file && await stat(file).catch(() => null);
	if (!info || !info.isFile())
		throw new ApiError(404, 'PGRST125', `Not found: ${pathname}`);
	res.writeHead(200, {
		'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
		'Content-Length': info.size,
		'Cache-Control': 'no-cache',
	});
	if (req.method === 'HEAD')
		return res.end();
	createReadStream(file).pipe(res);
}

const server = http.createServer(async (req, res) => {
	const { pathname } = new URL(req.url, 'http://localhost');
	try {
		const rpc = /^\/rpc\/([^/]+)$/.exec(pathname);
		if (rpc)
			await handleRpc(req, res, decodeURIComponent(rpc[1]));
		else if (pathname === '/events')
			await handleEvents(req, res);
		else
			await handleStatic(req, res, pathname);
	} catch (err) {
		if (res.headersSent)
			res.end();
		else
			sendError(res, err.code && !(err instanceof ApiError) ? fromDatabaseError(err, true) : err);
	}
});

await startListener();
server.listen(config.port, config.host, () => {
	console.log(`metrics_refresh web server on http://${config.host}:${config.port}/ ` +
		`(${[...cache.keys()].length} functions of schema ${schema} exposed)`);
});

function shutdown() {
	shuttingDown = true;
	for (const res of subscribers)
		res.end();
	server.close();
	Promise.allSettled([pool.end(), listener?.end()]).then(() => process.exit(0));
	setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
