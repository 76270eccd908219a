// Browser tests of the admin dashboard, run by test/web.sh against a running
// tools/web: Debian's Chromium driven by playwright-core, the database read
// directly (as the superuser) to know what the page should show.
//
// Environment: MR_WEB_INFO (the JSON file tools/web writes: URL, tokens,
// database address), MR_WEB_ARTIFACTS (where screenshots go),
// MR_WEB_DOCS_SHOT=1 (also write web/docs/dashboard.png).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test as nodeTest } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium } from 'playwright-core';

const info = JSON.parse(readFileSync(process.env.MR_WEB_INFO, 'utf8'));
const artifacts = process.env.MR_WEB_ARTIFACTS ?? mkdtempSync('/tmp/metrics_refresh.webshots.');
const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VIEW = 'public.platform_metrics';
const BROKEN = 'public.broken_metrics';

// Every test has a time limit (node 18's runner has no --test-timeout).
const test = (name, options, fn) => (fn
	? nodeTest(name, { timeout: 60000, ...options }, fn)
	: nodeTest(name, { timeout: 60000 }, options));

let browser, db, profile;
const consoleProblems = [];   // console errors and page errors of every page opened

before(async () => {
	db = new pg.Client(info.pg);
	await db.connect();
	profile = mkdtempSync(path.join(artifacts, 'chromium-profile.'));
	browser = await chromium.launchPersistentContext(profile, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1200, height: 900 },
	});
});

after(async () => {
	await browser?.close();
	await db?.end();
	rmSync(profile, { recursive: true, force: true });
	console.log(`screenshots: ${artifacts}`);
});

async function sql(text, params = []) {
	return (await db.query(text, params)).rows;
}

// The dashboard of a view as the given token's holder sees it, loaded.
async function open(token, { view = null, width = 1200, height = 900, setup = null } = {}) {
	const page = await browser.newPage();
	await setup?.(page);
	await page.setViewportSize({ width, height });
	page.problems = [];
	page.on('console', (m) => { if (m.type() === 'error') page.problems.push(m.text()); });
	page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
	const hash = new URLSearchParams({ token, ...(view ? { view } : {}) });
	await page.goto(`${info.url}#${hash}`);
	await page.locator('[data-field=status]:not([data-status=loading])').waitFor();
	return page;
}

async function close(page, { allow = null } = {}) {
	for (const p of page.problems)
		if (!(allow && allow.test(p)))
			consoleProblems.push(`${page.url().replace(/token=[^&]+/, 'token=…')}: ${p}`);
	await page.close();
}

const field = (page, name) => page.locator(`[data-field="${name}"]`);
const text = async (page, name) => (await field(page, name).textContent()).trim();
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

// The formats the reference dashboard uses, stated again independently.
const pct = (rate) => `${Number(rate).toFixed(1).replace(/\.0$/, '')}%`;
const secs = (ms) => (ms >= 100 ? `${(ms / 1000).toFixed(2)}s` : `${ms.toFixed(1)} ms`);

// fn() until it passes (at most three times); between tries, again(): a
// comparison may straddle a run or the window's edge.
async function retry(fn, again = async () => {}) {
	for (let i = 1; ; i++) {
		try {
			return await fn();
		} catch (err) {
			if (i >= 3)
				throw err;
			await again();
		}
	}
}

// The chart's data by series label (x: the bucket starts).
function chartData(page) {
	return page.locator('metrics-refresh-dashboard').evaluate((el) => {
		const out = { x: el.chart.data[0], points: el.shadowRoot.querySelector('.chart').dataset.points };
		el.chart.series.forEach((s, i) => { if (i > 0) out[s.label] = el.chart.data[i]; });
		return out;
	});
}

async function reload(page) {
	await page.reload();
	await page.locator('[data-field=status]:not([data-status=loading])').waitFor();
}

async function rpc(fn, args, token, init = {}) {
	const res = await fetch(`${info.url}rpc/${fn}`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
		body: JSON.stringify(args),
		...init,
	});
	const body = await res.text();
	return { status: res.status, body: body ? JSON.parse(body) : null };
}

function resign(token, claims) {
	const [head] = token.split('.');
	const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
	return `${head}.${body}.${token.split('.')[2]}`;
}

test('the local server follows PostgREST\'s RPC contract', async () => {
	const admin = info.admin_token;
	const errorKeys = ['code', 'details', 'hint', 'message'];

	let r = await rpc('metrics_refresh_status', { view: 'platform_metrics' }, admin);
	assert.equal(r.status, 200);
	assert.equal(r.body.view, VIEW);
	r = await rpc('metrics_refresh_is_admin', {}, admin);
	assert.deepEqual(r, { status: 200, body: true }, 'the admin claim reaches admin_check (request.jwt.claims)');
	r = await rpc('metrics_refresh_is_admin', {}, info.user_token);
	assert.deepEqual(r, { status: 200, body: false });

	r = await rpc('metrics_refresh_status', { view: 'platform_metrics' }, info.user_token);
	assert.equal(r.status, 403);
	assert.deepEqual(Object.keys(r.body).sort(), errorKeys);
	assert.equal(r.body.code, '42501');

	r = await rpc('metrics_refresh_status', { view: null }, admin);
	assert.equal(r.status, 400);
	assert.equal(r.body.code, '22004');
	r = await rpc('metrics_refresh_status', { view: 'no_such_view' }, admin);
	assert.equal(r.status, 404);
	assert.equal(r.body.code, '42P01');
	r = await rpc('metrics_refresh_status', { view: 'platform_metrics', time_window: 'soon' }, admin);
	assert.equal(r.status, 400);
	assert.equal(r.body.code, '22007');

	for (const fn of ['no_such_function', 'pg_sleep', 'version']) {
		r = await rpc(fn, {}, admin);
		assert.equal(r.status, 404, fn);
		assert.equal(r.body.code, 'PGRST202', fn);
	}
	r = await rpc('metrics_refresh_status', { viewx: 'platform_metrics' }, admin);
	assert.equal(r.status, 404, 'unknown argument name');

	r = await rpc('metrics_refresh_is_admin', {}, null);
	assert.equal(r.status, 401);
	assert.equal(r.body.code, 'PGRST302');
	const claims = JSON.parse(Buffer.from(admin.split('.')[1], 'base64url'));
	for (const [what, token] of [
		['a changed claim', resign(admin, { ...claims, role: 'postgres' })],
		['an expired token', resign(admin, { ...claims, exp: 1000 })],
		['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${admin.split('.')[1]}.`],
		['garbage', 'not.a.token'],
	]) {
		r = await rpc('metrics_refresh_is_admin', {}, token);
		assert.equal(r.status, 401, what);
		assert.equal(r.body.code, 'PGRST301', what);
		assert.deepEqual(Object.keys(r.body).sort(), errorKeys, what);
	}

	r = await rpc('metrics_refresh_is_admin', {}, admin, { body: '{"x":' });
	assert.equal(r.status, 400);
	assert.equal(r.body.code, 'PGRST102');
	const get = await fetch(`${info.url}rpc/metrics_refresh_is_admin`, { headers: { Authorization: `Bearer ${admin}` } });
	assert.equal(get.status, 405);
});

test('the monitor card matches metrics_refresh_status', async () => {
	const page = await open(info.admin_token);
	await retry(async () => {
		const [{ s }] = await sql('SELECT metrics_refresh_status($1) AS s', [VIEW]);
		assert.equal(s.status, 'healthy');
		assert.equal(await text(page, 'status-label'), 'Healthy');
		assert.equal(await field(page, 'status').getAttribute('data-status'), s.status);
		assert.equal(Date.parse(await field(page, 'last-refresh').locator('time').getAttribute('datetime')),
			Date.parse(s.last_refresh_at));
		assert.match(await text(page, 'last-refresh'), /^(just now|\d+ (second|minute)s? ago)$/);
		assert.equal(await text(page, 'success-rate'), `${pct(s.success_rate)} (${s.successful}/${s.successful + s.failed})`);
		assert.equal(await text(page, 'avg-duration'), secs(s.avg_duration_ms));
		assert.equal(await text(page, 'total'), s.total.toLocaleString('en-US'));
		assert.equal(await text(page, 'successful'), s.successful.toLocaleString('en-US'));
		assert.equal(await text(page, 'failed'), String(s.failed));
		assert.equal(await text(page, 'skipped'), String(s.skipped));
		assert.equal(await text(page, 'max'), secs(s.max_duration_ms));
		assert.equal(await text(page, 'min'), secs(s.min_duration_ms));
		assert.equal(await text(page, 'rate-pct'), pct(s.success_rate));
		// 1.1.0: fresh_as_of, and the unchanged runs (simulated ones, from
		// tools/web's history) counted apart from the successful refreshes.
		assert.equal(Date.parse(await field(page, 'fresh-as-of').locator('time').first().getAttribute('datetime')),
			Date.parse(s.fresh_as_of));
		assert.ok(s.unchanged > 0, 'tools/web\'s history has unchanged runs');
		assert.equal(await text(page, 'unchanged'), String(s.unchanged));
		assert.equal(await text(page, 'unchanged-runs'), `${s.unchanged} of ${s.total} runs (no source changed)`);
		assert.equal(s.total, s.successful + s.failed + s.skipped + s.unchanged);
		assert.equal(await field(page, 'durations-note').isVisible(), true);
		assert.equal(s.last_status, 'success');
		assert.equal(await field(page, 'state-note').isVisible(), false, 'the last run refreshed');
		assert.equal(await page.locator('[data-field="last-error"]').isVisible(), false);
	}, () => reload(page));
	await shot(page, 'dashboard-admin');
	await close(page);
});

test('the overview shows platform_metrics', async () => {
	const page = await open(info.admin_token);
	const [m] = await sql('SELECT total_accounts, total_users, total_assets, last_updated FROM platform_metrics');
	const overview = field(page, 'overview');
	await overview.locator('dd[data-key=total_accounts]').waitFor();
	assert.equal(await overview.locator('dt').allTextContents().then((t) => t.join('|')),
		'Total Accounts|Total Users|Total Assets|Last Updated');
	for (const key of ['total_accounts', 'total_users', 'total_assets'])
		assert.equal(await overview.locator(`dd[data-key=${key}]`).textContent(), Number(m[key]).toLocaleString('en-US'));
	const shown = await overview.locator('dd[data-key=last_updated] time').getAttribute('datetime');
	assert.equal(Date.parse(shown), m.last_updated.getTime());
	await close(page);
});

test('the chart has one point per bucket of metrics_refresh_timeline', async () => {
	const page = await open(info.admin_token);
	await retry(async () => {
		const rows = await sql('SELECT * FROM metrics_refresh_timeline($1)', [VIEW]);
		assert.equal(rows.length, 25, '24 hours in 1-hour buckets');
		const chart = await chartData(page);
		assert.equal(chart.x.length, rows.length);
		assert.equal(Number(chart.points), rows.length);
		for (const label of ['Avg', 'Max', 'Refreshes', 'Unchanged'])
			assert.equal(chart[label].length, rows.length, label);
		assert.deepEqual(chart.x, rows.map((r) => r.bucket_start.getTime() / 1000));
		assert.deepEqual(chart.Avg, rows.map((r) => r.avg_duration_ms));
		assert.deepEqual(chart.Max, rows.map((r) => r.max_duration_ms));
		assert.deepEqual(chart.Refreshes, rows.map((r) => Number(r.successes) + Number(r.failures)));
		assert.deepEqual(chart.Unchanged, rows.map((r) => Number(r.unchanged)));
		assert.ok(rows.some((r) => r.unchanged > 0), 'some bucket has unchanged runs');
		assert.equal(await field(page, 'timeline').locator('tr').count(), rows.length);
		assert.equal(await page.locator('.uplot canvas').count(), 1);
	}, () => reload(page));
	await close(page);
});

// Installs observers that record, in the page, when the button was clicked
// and every state the status and progress line went through.
async function recordStates(page) {
	await page.locator('metrics-refresh-dashboard').evaluate((host) => {
		const root = host.shadowRoot;
		const rec = { clickAt: null, runningAt: null, progress: [] };
		window.__rec = rec;
		root.querySelector('[data-action=refresh]').addEventListener('click', () => { rec.clickAt = performance.now(); }, { capture: true });
		const status = root.querySelector('[data-field=status]');
		new MutationObserver(() => {
			if (status.dataset.status === 'running' && rec.runningAt === null)
				rec.runningAt = performance.now();
		}).observe(status, { attributes: true });
		const progress = root.querySelector('[data-field=progress]');
		new MutationObserver(() => rec.progress.push(progress.textContent))
			.observe(progress, { childList: true, characterData: true, subtree: true });
	});
}

test('Refresh Now shows running within 100 ms, then the new success', async () => {
	const page = await open(info.admin_token);
	const [{ before }] = await sql('SELECT max(id) AS before FROM metrics_refresh_log');
	await recordStates(page);
	const started = Date.now();
	await page.locator('[data-action=refresh]').click();
	const progress = field(page, 'progress');
	await progress.filter({ hasText: /Run \d+ succeeded/ }).waitFor({ timeout: 10000 });
	const tookMs = Date.now() - started;
	const rec = await page.evaluate(() => window.__rec);
	const delay = rec.runningAt - rec.clickAt;
	console.log(`running shown ${delay.toFixed(1)} ms after the click; success shown after ${tookMs} ms`);
	assert.ok(rec.clickAt !== null && rec.runningAt !== null, 'running state shown');
	assert.ok(delay >= 0 && delay < 100, `running shown ${delay} ms after the click`);
	assert.ok(tookMs < 5000, `success shown after ${tookMs} ms`);

	const runId = Number(/Run (\d+) succeeded/.exec(await progress.textContent())[1]);
	assert.ok(runId > Number(before));
	assert.ok(rec.progress.some((p) => p.includes(`Run ${runId} is running in the background`)),
		`the background run was followed: ${JSON.stringify(rec.progress)}`);
	const [row] = await sql('SELECT status, source, triggered_by::text FROM metrics_refresh_log WHERE id = $1', [runId]);
	assert.deepEqual(row, { status: 'success', source: 'manual', triggered_by: 'authenticated' },
		'the run is logged as the JWT\'s role');

	// The card shows the new numbers.
	await field(page, 'status').and(page.locator('[data-status=healthy]')).waitFor();
	const [{ s }] = await sql('SELECT metrics_refresh_status($1) AS s', [VIEW]);
	assert.equal(await field(page, 'last-refresh').locator('time').getAttribute('datetime'), s.last_refresh_at);
	assert.equal(await text(page, 'success-rate'), `${pct(s.success_rate)} (${s.successful}/${s.successful + s.failed})`);
	assert.equal(await page.locator('[data-action=refresh]').getAttribute('aria-disabled'), null);
	await shot(page, 'refresh-now-done');
	await close(page);
});

test('keyboard: Tab reaches Refresh Now and Enter triggers it', async () => {
	const page = await open(info.admin_token);
	const [{ before }] = await sql("SELECT count(*)::int AS before FROM metrics_refresh_log WHERE source = 'manual'");
	const focused = () => page.evaluate(() => {
		let a = document.activeElement;
		while (a?.shadowRoot?.activeElement)
			a = a.shadowRoot.activeElement;
		return a?.dataset?.action ?? a?.tagName;
	});
	let tabs = 0;
	while ((await focused()) !== 'refresh' && tabs < 10) {
		await page.keyboard.press('Tab');
		tabs++;
	}
	assert.equal(await focused(), 'refresh', `Refresh Now not reached in ${tabs} Tab presses`);
	const box = await page.locator('[data-action=refresh]').evaluate((b) => getComputedStyle(b).outlineStyle);
	assert.notEqual(box, 'none', 'focus is visible');
	await page.keyboard.press('Enter');
	await field(page, 'progress').filter({ hasText: /Run \d+ succeeded/ }).waitFor({ timeout: 10000 });
	const [{ now }] = await sql("SELECT count(*)::int AS now FROM metrics_refresh_log WHERE source = 'manual'");
	assert.equal(now, before + 1);
	assert.equal(await focused(), 'refresh', 'focus stays on the button');
	await close(page);
});

test('live updates: a refresh made elsewhere shows without reloading', async () => {
	const page = await open(info.admin_token);
	await field(page, 'updates').filter({ hasText: 'Live updates' }).waitFor();
	const [{ r }] = await sql('SELECT metrics_refresh_trigger($1) AS r', [VIEW]);
	assert.equal(r.status, 'success');
	const [{ s }] = await sql('SELECT metrics_refresh_status($1) AS s', [VIEW]);
	// The page polls every 30 s; the NOTIFY arrives through /events at once.
	await field(page, 'last-refresh').locator(`time[datetime="${s.last_refresh_at}"]`).waitFor({ timeout: 5000 });
	await close(page);
});

test('an ordinary user gets a clear "not allowed" (403), not a broken page', async () => {
	const page = await open(info.user_token);
	const [{ before }] = await sql('SELECT count(*)::int AS before FROM metrics_refresh_log');
	const problem = field(page, 'load-error');
	await problem.waitFor();
	const shown = await problem.textContent();
	for (const part of ['Not allowed', 'HTTP 403', '42501', 'permission denied'])
		assert.ok(shown.includes(part), `"${part}" in ${shown}`);
	assert.equal(await text(page, 'status-label'), 'Not allowed');
	assert.match(await text(page, 'admin-note'), /not a metrics_refresh admin/);
	assert.ok(await page.getByRole('heading', { name: 'Metrics Refresh Monitor' }).isVisible());
	assert.ok(await page.getByRole('heading', { name: /Metrics Refresh Performance/ }).isVisible());

	await page.locator('[data-action=refresh]').click();
	const actionError = field(page, 'action-error');
	await actionError.filter({ hasText: 'Not allowed' }).waitFor({ timeout: 5000 });
	const refused = await actionError.textContent();
	for (const part of ['HTTP 403 · code 42501', 'permission denied to refresh', 'Details: Only a superuser'])
		assert.ok(refused.includes(part), `"${part}" in ${refused}`);
	assert.ok(!refused.includes('null'), refused);
	await field(page, 'status').and(page.locator('[data-status=denied]')).waitFor({ timeout: 2000 });
	assert.equal(await text(page, 'status-label'), 'Not allowed', 'no running state is left behind');
	const [{ now }] = await sql('SELECT count(*)::int AS now FROM metrics_refresh_log');
	assert.equal(now, before, 'nothing was refreshed');

	await page.locator('[data-action=logs]').click();
	await field(page, 'logs-error').filter({ hasText: 'Not allowed' }).waitFor();
	await shot(page, 'dashboard-user-403');
	// The browser itself reports each refused request; nothing else may appear.
	const network403 = /^Failed to load resource: the server responded with a status of 403/;
	assert.ok(page.problems.length > 0 && page.problems.every((p) => network403.test(p)), page.problems.join('\n'));
	await close(page, { allow: network403 });
});

test('a failing view shows its last error', async () => {
	const page = await open(info.admin_token, { view: BROKEN });
	const [{ s }] = await sql('SELECT metrics_refresh_status($1) AS s', [BROKEN]);
	assert.equal(s.status, 'failing');
	assert.equal(await text(page, 'status-label'), 'Failing');
	assert.equal(await text(page, 'last-error'), s.last_error);
	assert.equal(s.last_error, 'division by zero');
	assert.equal(await field(page, 'last-refresh').locator('.badge[data-status=error]').textContent(), 'error');
	assert.equal(await text(page, 'fresh-as-of'), 'never', 'never refreshed');

	await page.locator('[data-action=logs]').click();
	const first = field(page, 'logs').locator('tr').first();
	await first.waitFor();
	assert.match(await first.textContent(), /error.*22012: division by zero/);

	// Refresh Now fails again, and says why.
	await page.locator('[data-action=refresh]').click();
	await field(page, 'action-error').filter({ hasText: 'The refresh failed' }).waitFor({ timeout: 10000 });
	assert.match(await field(page, 'action-error').textContent(), /division by zero.*code 22012/s);
	assert.match(await text(page, 'progress'), /^Run \d+ error: division by zero$/);
	await shot(page, 'dashboard-failing');
	await close(page);
});

test('View Logs pages through the history with before_id', async () => {
	const page = await open(info.admin_token);
	// What the page asks for: the history calls of the log (not the card's
	// max_rows 1 look-up of a running run).
	const asked = [];
	page.on('request', (r) => {
		if (r.url().endsWith('/rpc/metrics_refresh_history')) {
			const args = JSON.parse(r.postData());
			if (args.max_rows !== 1)
				asked.push(args);
		}
	});
	const logs = page.locator('[data-action=logs]');
	await logs.click();
	assert.equal(await logs.getAttribute('aria-expanded'), 'true');
	const ids = (rows) => rows.map((r) => String(r.id));
	const shownIds = async () => field(page, 'logs').locator('tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.run));
	const all = await sql('SELECT id, status FROM metrics_refresh_history($1, 30)', [VIEW]);

	await field(page, 'page').filter({ hasText: 'Runs 1–10' }).waitFor();
	assert.deepEqual(await shownIds(), ids(all.slice(0, 10)));
	assert.equal(await page.locator('[data-action=newer]').getAttribute('aria-disabled'), 'true');
	await shot(page, 'logs-page-1');

	await page.locator('[data-action=older]').click();
	await field(page, 'page').filter({ hasText: 'Runs 11–20' }).waitFor();
	assert.deepEqual(await shownIds(), ids(all.slice(10, 20)));
	await page.locator('[data-action=older]').click();
	await field(page, 'page').filter({ hasText: 'Runs 21–30' }).waitFor();
	assert.deepEqual(await shownIds(), ids(all.slice(20, 30)));
	// Each page after the first starts before the previous page's last run.
	const page3 = await sql('SELECT id FROM metrics_refresh_history($1, 10, $2)', [VIEW, all[19].id]);
	assert.deepEqual(ids(page3), ids(all.slice(20, 30)));
	const cursors = asked.map((a) => a.before_id ?? null).filter((c, i, list) => i === 0 || c !== list[i - 1]);
	assert.deepEqual(cursors, [null, Number(all[9].id), Number(all[19].id)]);
	assert.ok(asked.every((a) => a.max_rows === 11), JSON.stringify(asked));

	// A run logged meanwhile does not move the page shown; Newer goes back.
	await sql("SELECT metrics_refresh_run($1, 'scheduled')", [VIEW]);
	await page.locator('[data-action=newer]').click();
	await field(page, 'page').filter({ hasText: 'Runs 11–20' }).waitFor();
	assert.deepEqual(await shownIds(), ids(all.slice(10, 20)));
	await page.locator('[data-action=newer]').click();
	await field(page, 'page').filter({ hasText: 'Runs 1–10' }).waitFor();
	const latest = await sql('SELECT id FROM metrics_refresh_history($1, 10)', [VIEW]);
	await retry(async () => assert.deepEqual(await shownIds(), ids(latest)),
		() => new Promise((resolve) => setTimeout(resolve, 500)));

	// The last page: Older is disabled.
	const brokenPage = await open(info.admin_token, { view: BROKEN });
	await brokenPage.locator('[data-action=logs]').click();
	const n = (await sql('SELECT count(*)::int AS n FROM metrics_refresh_log WHERE view_name = $1', [BROKEN]))[0].n;
	await field(brokenPage, 'page').filter({ hasText: `Runs 1–${n}` }).waitFor();
	assert.equal(await brokenPage.locator('[data-action=older]').getAttribute('aria-disabled'), 'true');
	await close(brokenPage);
	await close(page);
});

test('usable at 375 px wide: no horizontal overflow', async () => {
	const page = await open(info.admin_token, { width: 375, height: 800 });
	const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
	assert.equal(await overflow(), 0);
	await page.locator('[data-action=logs]').click();
	await field(page, 'logs').locator('tr').first().waitFor();
	assert.equal(await overflow(), 0, 'the log scrolls inside its own box');
	for (const action of ['refresh', 'logs', 'older']) {
		const b = await page.locator(`[data-action=${action}]`).boundingBox();
		assert.ok(b.x >= 0 && b.x + b.width <= 375, `${action} button inside the screen`);
	}
	const chart = await page.locator('.uplot').boundingBox();
	assert.ok(chart.x >= 0 && chart.x + chart.width <= 375, 'chart inside the screen');
	await shot(page, 'dashboard-375px');
	await close(page);
});

test('unchanged runs (skip_unchanged) show apart from refreshes: card, chart, log', async () => {
	// The option, set as the tables' owner (tools/web's demo.sql sets it
	// too: setting it again changes nothing).  It puts triggers on the tables
	// the view reads, which takes their TRIGGER privilege: the API's admins
	// (role authenticated) have not got it.
	const [{ c }] = await sql('SELECT metrics_refresh_configure($1, skip_unchanged => true) AS c', [VIEW]);
	assert.equal(c.skip_unchanged, true);
	assert.deepEqual([...c.sources].sort(), ['public.accounts', 'public.assets', 'public.users']);

	const page = await open(info.admin_token);
	await field(page, 'updates').filter({ hasText: 'Live updates' }).waitFor();
	// Two runs as pg_cron makes them, with no change in between: the second
	// one finds no source changed.
	const [{ first }] = await sql("SELECT metrics_refresh_run($1, 'scheduled') AS first", [VIEW]);
	const [{ second }] = await sql("SELECT metrics_refresh_run($1, 'scheduled') AS second", [VIEW]);
	assert.ok(['success', 'unchanged'].includes(first.status), first.status);
	assert.equal(second.status, 'unchanged');
	assert.equal(second.success, true);
	assert.equal(second.method, undefined);
	assert.match(second.message, /^unchanged: no source changed since run \d+$/);

	// The card: still Healthy (an unchanged run counts as a success), the
	// Unchanged state, fresh_as_of = the unchanged run's finish, and the
	// last real refresh under it.
	await field(page, 'last-refresh').locator(`time[datetime="${second.finished_at}"]`).waitFor({ timeout: 5000 });
	const [{ s }] = await sql('SELECT metrics_refresh_status($1) AS s', [VIEW]);
	assert.equal(s.status, 'healthy');
	assert.equal(s.last_status, 'unchanged');
	assert.equal(s.fresh_as_of, second.finished_at);
	assert.equal(await text(page, 'status-label'), 'Healthy');
	assert.equal(await field(page, 'state-note').isVisible(), true);
	assert.equal(await text(page, 'state-note'), 'Unchanged');
	assert.equal(await field(page, 'last-refresh').locator('.badge').textContent(), 'unchanged');
	const freshTimes = await field(page, 'fresh-as-of').locator('time').evaluateAll((ts) => ts.map((t) => t.dateTime));
	assert.deepEqual(freshTimes, [s.fresh_as_of, s.last_success_at]);
	assert.match(await text(page, 'fresh-as-of'), /contents refreshed/);
	assert.equal(await text(page, 'unchanged-runs'), `${s.unchanged} of ${s.total} runs (no source changed)`);
	assert.equal(await text(page, 'success-rate'), `${pct(s.success_rate)} (${s.successful}/${s.successful + s.failed})`,
		'unchanged runs are not in the success rate');
	assert.equal(await text(page, 'unchanged'), String(s.unchanged));
	assert.equal(await text(page, 'successful'), s.successful.toLocaleString('en-US'));
	await shot(page, 'dashboard-unchanged');

	// The chart: the current bucket's Unchanged bar counts the new run.
	const rows = await sql('SELECT * FROM metrics_refresh_timeline($1)', [VIEW]);
	const chart = await chartData(page);
	assert.deepEqual(chart.Unchanged, rows.map((row) => Number(row.unchanged)));
	assert.deepEqual(chart.Refreshes, rows.map((row) => Number(row.successes) + Number(row.failures)));
	assert.ok(chart.Unchanged.at(-1) >= 1);

	// The log: the run, as unchanged, with its message and no method.
	await page.locator('[data-action=logs]').click();
	const row = field(page, 'logs').locator(`tr[data-run="${second.run_id}"]`);
	await row.waitFor();
	assert.equal(await row.getAttribute('data-status'), 'unchanged');
	assert.equal(await row.locator('.badge').textContent(), 'unchanged');
	const cells = await row.locator('td').allTextContents();
	assert.deepEqual([cells[2], cells[4], cells[7]], ['scheduled', '–', second.message]);

	// Refresh Now always refreshes, and the Unchanged state goes.
	await page.locator('[data-action=refresh]').click();
	await field(page, 'progress').filter({ hasText: /Run \d+ succeeded/ }).waitFor({ timeout: 10000 });
	await field(page, 'state-note').waitFor({ state: 'hidden', timeout: 5000 });
	await close(page);
});

test('no console errors on the admin pages', () => {
	assert.deepEqual(consoleProblems, []);
});

// web/docs/dashboard.png, the README's picture: only when asked
// (MR_WEB_DOCS_SHOT=1 bash test/web.sh), after the tests above, with one
// more unchanged run and the log open.
test('screenshot for the README (MR_WEB_DOCS_SHOT=1)', { skip: process.env.MR_WEB_DOCS_SHOT !== '1' }, async () => {
	await sql("SELECT metrics_refresh_run($1, 'scheduled')", [VIEW]);
	const page = await open(info.admin_token, { width: 1000, height: 800 });
	await page.locator('dl[data-field=overview] dd').first().waitFor();
	await page.locator('[data-action=logs]').click();
	await field(page, 'page').filter({ hasText: 'Runs 1–' }).waitFor();
	await page.screenshot({ path: path.join(WEB, 'docs/dashboard.png'), fullPage: true });
	await close(page);
});
