// <metrics-refresh-dashboard>: the metrics_refresh admin dashboard as a web
// component.  It renders the monitor card (status, last refresh, success
// rate, average duration, Refresh Now, View Logs), the Platform Metrics
// Overview and the performance panel (duration chart per bucket, totals,
// durations) from the extension's functions, called over PostgREST's RPC
// contract (see postgrest.js).  The log opens below, a page at a time.
//
// Attributes (all optional):
//   base           PostgREST URL ("" = this origin, e.g. tools/web's server)
//   token          the caller's JWT (or set the token property)
//   apikey         sent as the apikey header (Supabase's anon key)
//   view           materialized view (default platform_metrics)
//   window         time window of the card and chart (default "24 hours")
//   bucket         chart bucket (default "1 hour")
//   overview-rpc   function returning the platform totals (no overview if absent)
//   events-url     server-sent events of NOTIFY metrics_refresh (tools/web: /events);
//                  without it the dashboard polls
//   poll-interval  seconds between reloads (default 30)
//   page-size      log rows per page (default 10)
//
// Refresh Now calls metrics_refresh_trigger(view, wait => false) and polls
// metrics_refresh_run_status(run_id) until the run has finished.  Runs that
// found no source changed (status "unchanged", version 1.1.0's
// skip_unchanged) are shown apart from refreshes: on the card, as bars of
// their own in the chart and as their own status in the log.
import uPlot from 'uplot';

import * as fmt from './format.js';
import { rpc, RpcError } from './postgrest.js';

const STATUS_LABELS = {
	healthy: 'Healthy', degraded: 'Degraded', failing: 'Failing', stale: 'Stale',
	unknown: 'Unknown', unchanged: 'Unchanged', running: 'Running', denied: 'Not allowed', signedout: 'Not signed in',
	error: 'Not available', loading: 'Loading…',
};

// uPlot's own stylesheet, found through the page's import map (or a bundler).
function uplotCssUrl() {
	try {
		return import.meta.resolve('uplot/dist/uPlot.min.css');
	} catch {
		return null;
	}
}

const STYLE = `
:host {
	display: block;
	--mr-font: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
	--mr-fg: #1f2937; --mr-muted: #4b5563; --mr-border: #d1d5db; --mr-bg: #fff;
	--mr-accent: #1d4ed8; --mr-healthy: #15803d; --mr-degraded: #b45309;
	--mr-failing: #b91c1c; --mr-stale: #a16207; --mr-unknown: #6b7280;
	--mr-unchanged: #0e7490; --mr-running: #1d4ed8;
	font: 15px/1.45 var(--mr-font); color: var(--mr-fg);
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 21rem), 1fr)); }
.card { background: var(--mr-bg); border: 1px solid var(--mr-border); border-radius: 8px; padding: 1rem; min-width: 0; }
.wide { grid-column: 1 / -1; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem .75rem; margin-bottom: .5rem; }
h2 { font-size: 1.05rem; margin: 0; }
h3 { font-size: .95rem; margin: .75rem 0 .25rem; }
.muted, .view { color: var(--mr-muted); font-size: .85rem; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .3rem 1rem; margin: 0; }
dl > div { display: contents; }
dt { color: var(--mr-muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.status { font-weight: 600; }
.status .dot { color: var(--mr-unknown); }
.status[data-status=healthy] .dot { color: var(--mr-healthy); }
.status[data-status=degraded] .dot { color: var(--mr-degraded); }
.status[data-status=failing] .dot, .status[data-status=denied] .dot, .status[data-status=signedout] .dot,
.status[data-status=error] .dot { color: var(--mr-failing); }
.status[data-status=stale] .dot { color: var(--mr-stale); }
.status[data-status=unchanged] .dot { color: var(--mr-unchanged); }
.status[data-status=running] .dot { color: var(--mr-running); animation: pulse 1s ease-in-out infinite alternate; }
@keyframes pulse { from { opacity: 1; } to { opacity: .3; } }
@media (prefers-reduced-motion: reduce) { .status .dot { animation: none !important; } }
.error-text { color: var(--mr-failing); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .9rem; }
button {
	font: inherit; padding: .4rem .9rem; border-radius: 6px; cursor: pointer;
	border: 1px solid var(--mr-accent); background: var(--mr-bg); color: var(--mr-accent);
}
button.primary { background: var(--mr-accent); color: #fff; }
button[aria-disabled=true] { opacity: .55; cursor: not-allowed; }
button:focus-visible, summary:focus-visible, .scroll:focus-visible, h2:focus-visible {
	outline: 3px solid #f59e0b; outline-offset: 2px;
}
.progress { margin: .6rem 0 0; min-height: 1.2em; font-size: .9rem; }
.note { margin: .6rem 0 0; font-size: .85rem; color: var(--mr-muted); }
.problem { border: 1px solid var(--mr-failing); border-left-width: 4px; border-radius: 6px; padding: .5rem .75rem; margin-top: .75rem; background: #fef2f2; }
.problem p { margin: .15rem 0; overflow-wrap: anywhere; }
.problem .code { font-size: .85rem; color: var(--mr-muted); }
.rate { display: grid; grid-template-columns: max-content minmax(0, 1fr) max-content; gap: .75rem; align-items: center; }
.bar { height: .8rem; border-radius: 4px; background: #fee2e2; overflow: hidden; }
.bar > div { height: 100%; width: 0; background: var(--mr-healthy); }
figure { margin: .75rem 0 0; }
figcaption { color: var(--mr-muted); font-size: .85rem; margin-bottom: .25rem; }
.chart { width: 100%; min-height: 200px; overflow: hidden; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--mr-border); vertical-align: top; }
th { color: var(--mr-muted); font-weight: 600; white-space: nowrap; }
td.msg { min-width: 12rem; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 999px; font-size: .8rem; border: 1px solid currentColor; white-space: nowrap; }
.badge[data-status=success] { color: var(--mr-healthy); }
.badge[data-status=error] { color: var(--mr-failing); }
.badge[data-status=skipped] { color: var(--mr-stale); }
.badge[data-status=unchanged] { color: var(--mr-unchanged); }
.badge[data-status=running] { color: var(--mr-running); }
.state-note { margin-left: .35rem; font-weight: 400; }
tr[data-status=unchanged] td { color: var(--mr-muted); }
.sub { display: block; color: var(--mr-muted); font-size: .8rem; }
dl.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); gap: .5rem 1rem; }
dl.stats > div { display: block; }
dl.stats dt { font-size: .85rem; }
dl.stats dd { font-weight: 600; }
[data-field=load-error] { margin: 0 0 1rem; }
.pager { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; margin-top: .75rem; }
details { margin-top: .5rem; }
summary { cursor: pointer; color: var(--mr-muted); font-size: .85rem; }
.uplot, .uplot * { font-family: var(--mr-font); }
`;

const HTML = `
<div class="problem" data-field="load-error" role="alert" hidden></div>
<div class="grid">
<section class="card" aria-labelledby="mr-monitor">
	<header><h2 id="mr-monitor">Metrics Refresh Monitor</h2><span class="view" data-field="view"></span></header>
	<dl>
		<div><dt>Status</dt><dd><span class="status" data-field="status" data-status="loading"><span class="dot" aria-hidden="true">●</span> <span data-field="status-label">Loading…</span></span><span class="badge state-note" data-field="state-note" data-status="unchanged" hidden>Unchanged</span></dd></div>
		<div><dt>Last Refresh</dt><dd data-field="last-refresh">${fmt.DASH}</dd></div>
		<div data-row="fresh-as-of" hidden><dt>Fresh as of</dt><dd data-field="fresh-as-of"></dd></div>
		<div><dt>Success Rate</dt><dd data-field="success-rate">${fmt.DASH}</dd></div>
		<div data-row="unchanged-runs" hidden><dt>Unchanged Runs</dt><dd data-field="unchanged-runs"></dd></div>
		<div><dt>Avg Duration</dt><dd data-field="avg-duration">${fmt.DASH}</dd></div>
		<div data-row="last-error" hidden><dt>Last Error</dt><dd class="error-text" data-field="last-error"></dd></div>
	</dl>
	<div class="actions">
		<button type="button" class="primary" data-action="refresh">Refresh Now</button>
		<button type="button" data-action="logs" aria-expanded="false" aria-controls="mr-logs-section">View Logs</button>
	</div>
	<p class="note" data-field="admin-note" hidden></p>
	<p class="note" data-field="updates"></p>
	<p class="progress" data-field="progress" role="status" aria-live="polite"></p>
	<div class="problem" data-field="action-error" role="alert" hidden></div>
</section>
<section class="card" data-section="overview" aria-labelledby="mr-overview" hidden>
	<header><h2 id="mr-overview">Platform Metrics Overview</h2><span class="muted" data-field="overview-source"></span></header>
	<dl data-field="overview"></dl>
	<p class="muted" data-field="overview-empty" hidden></p>
</section>
<section class="card wide" aria-labelledby="mr-perf">
	<header><h2 id="mr-perf">Metrics Refresh Performance (<span data-field="window-label"></span>)</h2></header>
	<div class="rate">
		<span>Success Rate</span>
		<div class="bar" role="img" data-field="rate-bar" aria-label="no finished runs"><div></div></div>
		<span data-field="rate-pct">${fmt.DASH}</span>
	</div>
	<p class="muted" data-field="perf-empty" hidden>No data to show.</p>
	<figure data-field="figure">
		<figcaption>Per <span data-field="bucket-label"></span>: average and maximum refresh duration (lines, left axis);
		refreshes and unchanged runs (bars, right axis)</figcaption>
		<div class="chart" data-field="chart"></div>
	</figure>
	<details data-field="details">
		<summary>Data per bucket</summary>
		<div class="scroll" tabindex="0" role="region" aria-label="Runs and durations per bucket">
			<table><thead><tr><th>Bucket start</th><th>Runs</th><th>Successes</th><th>Failures</th>
			<th data-col="unchanged" hidden>Unchanged</th><th>Avg</th><th>Max</th></tr></thead>
			<tbody data-field="timeline"></tbody></table>
		</div>
	</details>
	<h3>Statistics</h3>
	<dl class="stats" data-field="stats">
		<div><dt>Total Runs</dt><dd data-field="total">${fmt.DASH}</dd></div>
		<div><dt>Successful</dt><dd data-field="successful">${fmt.DASH}</dd></div>
		<div data-row="unchanged" hidden><dt>Unchanged</dt><dd data-field="unchanged"></dd></div>
		<div><dt>Failed</dt><dd data-field="failed">${fmt.DASH}</dd></div>
		<div><dt>Skipped</dt><dd data-field="skipped">${fmt.DASH}</dd></div>
		<div><dt>Avg Duration</dt><dd data-field="avg">${fmt.DASH}</dd></div>
		<div><dt>Max Duration</dt><dd data-field="max">${fmt.DASH}</dd></div>
		<div><dt>Min Duration</dt><dd data-field="min">${fmt.DASH}</dd></div>
		<div><dt>p95 Duration</dt><dd data-field="p95">${fmt.DASH}</dd></div>
	</dl>
	<p class="note" data-field="durations-note" hidden>Durations are those of the refreshes: unchanged runs refreshed nothing and are left out.</p>
</section>
<section class="card wide" id="mr-logs-section" aria-labelledby="mr-logs" hidden>
	<header><h2 id="mr-logs" tabindex="-1">Refresh Log</h2><span class="muted" data-field="logs-range"></span></header>
	<div class="scroll" tabindex="0" role="region" aria-label="Refresh log">
		<table><thead><tr><th>Run</th><th>Started</th><th>Source</th><th>Status</th><th>Method</th>
		<th>Duration</th><th>By</th><th>Message</th></tr></thead>
		<tbody data-field="logs"></tbody></table>
	</div>
	<div class="pager">
		<button type="button" data-action="newer">Newer</button>
		<span data-field="page" aria-live="polite"></span>
		<button type="button" data-action="older">Older</button>
	</div>
	<div class="problem" data-field="logs-error" role="alert" hidden></div>
</section>
</div>`;

const sleep = (ms, signal) => new Promise((resolve) => {
	const t = setTimeout(resolve, ms);
	signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

// What a failed call means to the reader.
function problemTitle(err) {
	if (!(err instanceof RpcError))
		return 'Something went wrong';
	switch (err.status) {
	case 0: return 'Cannot reach the API';
	case 401: return 'Not signed in, or the token was rejected';
	case 403: return 'Not allowed';
	case 404: return 'Not found';
	default: return err.status >= 500 ? 'Server error' : 'Request refused';
	}
}

// An element with properties (dataset: data-* attributes) and children.
function el(tag, { dataset, ...props } = {}, ...children) {
	const node = document.createElement(tag);
	Object.assign(node, props);
	Object.assign(node.dataset, dataset ?? {});
	node.append(...children.filter((c) => c !== null && c !== undefined));
	return node;
}

function badge(status) {
	return el('span', { className: 'badge', textContent: status, dataset: { status } });
}

function timeEl(iso) {
	return el('time', { dateTime: iso ?? '', title: fmt.dateTime(iso), textContent: fmt.ago(iso) });
}

export class MetricsRefreshDashboard extends HTMLElement {
	static observedAttributes = ['base', 'token', 'apikey', 'view', 'window', 'bucket', 'overview-rpc',
		'events-url', 'poll-interval', 'page-size'];

	#token = null;
	#abort = null;           // aborts everything of the current connection
	#listening = false;      // the events stream has been started
	#loadSeq = 0;
	#status = null;          // last metrics_refresh_status result
	#statusError = null;     // or why it could not be read
	#timeline = null;
	#overview = undefined;
	#chart = null;
	#run = null;             // the background run being followed: {id, wake}
	// The log's pages: cursors[i] is the before_id that reads page i (null:
	// the newest runs); index is the page shown.
	#logs = { open: false, cursors: [null], index: 0 };
	#restartQueued = false;
	#eventTimer = null;      // a reload soon after a burst of events

	constructor() {
		super();
		// A token set on the element before this class was defined.
		if (Object.hasOwn(this, 'token')) {
			this.#token = this.token;
			delete this.token;
		}
		const root = this.attachShadow({ mode: 'open' });
		const css = uplotCssUrl();
		if (css)
			root.append(el('link', { rel: 'stylesheet', href: css }));
		root.append(el('style', { textContent: STYLE }));
		root.append(document.createRange().createContextualFragment(HTML));
		this.#q('[data-action=refresh]').addEventListener('click', () => this.refreshNow());
		this.#q('[data-action=logs]').addEventListener('click', () => this.#toggleLogs());
		this.#q('[data-action=newer]').addEventListener('click', () => this.#page(-1));
		this.#q('[data-action=older]').addEventListener('click', () => this.#page(+1));
	}

	// The JWT used for every call; the token attribute when it is set.
	get token() { return this.getAttribute('token') ?? this.#token ?? ''; }
	set token(value) { this.#token = value; this.#queueRestart(); }

	// The chart (a uPlot instance) and the last status object, for pages that embed the dashboard.
	get chart() { return this.#chart; }
	get status() { return this.#status; }

	get #view() { return this.getAttribute('view') || 'platform_metrics'; }
	get #window() { return this.getAttribute('window') || '24 hours'; }
	get #bucket() { return this.getAttribute('bucket') || '1 hour'; }
	get #pageSize() { return Math.max(1, Number(this.getAttribute('page-size')) || 10); }
	get #pollMs() { return Math.max(2, Number(this.getAttribute('poll-interval')) || 30) * 1000; }

	connectedCallback() { this.#start(); }
	disconnectedCallback() { this.#stop(); }
	attributeChangedCallback() { this.#queueRestart(); }

	#q(selector) { return this.shadowRoot.querySelector(selector); }
	#field(name) { return this.shadowRoot.querySelector(`[data-field="${name}"]`); }

	#queueRestart() {
		if (!this.isConnected || this.#restartQueued)
			return;
		this.#restartQueued = true;
		queueMicrotask(() => {
			this.#restartQueued = false;
			this.#stop();
			this.#start();
		});
	}

	#start() {
		this.#status = null;
		this.#logs.cursors = [null];
		this.#logs.index = 0;
		this.#abort = new AbortController();
		const { signal } = this.#abort;
		this.#field('view').textContent = this.#view;
		this.#field('window-label').textContent = this.#window === '24 hours' ? '24h' : this.#window;
		this.#field('bucket-label').textContent = this.#bucket;
		this.#q('[data-section=overview]').hidden = !this.getAttribute('overview-rpc');
		this.#renderUpdates();
		this.reload();
		const poll = setInterval(() => { if (!document.hidden) this.reload(); }, this.#pollMs);
		const tick = setInterval(() => this.#renderTimes(), 10000);
		signal.addEventListener('abort', () => { clearInterval(poll); clearInterval(tick); });
		const resize = new ResizeObserver(() => this.#resizeChart());
		resize.observe(this.#field('chart'));
		signal.addEventListener('abort', () => resize.disconnect());
	}

	#stop() {
		this.#listening = false;
		this.#abort?.abort();
		this.#abort = null;
		this.#run = null;
	}

	#call(fn, args) {
		return rpc(fn, args, {
			base: this.getAttribute('base') ?? '', token: this.token,
			apikey: this.getAttribute('apikey') ?? '', signal: this.#abort?.signal,
		});
	}

	// Load everything the page shows.  Later loads win over earlier ones.
	async reload() {
		const seq = ++this.#loadSeq;
		const view = this.#view;
		const overviewFn = this.getAttribute('overview-rpc');
		const calls = [
			this.#call('metrics_refresh_status', { view, time_window: this.#window }),
			this.#call('metrics_refresh_timeline', { view, time_window: this.#window, bucket: this.#bucket }),
			this.#call('metrics_refresh_is_admin', {}),
			this.#call('metrics_refresh_history', { view, max_rows: 1 }),
			overviewFn ? this.#call(overviewFn, {}) : Promise.resolve(undefined),
		];
		const [status, timeline, isAdmin, latest, overview] = await Promise.allSettled(calls);
		if (seq !== this.#loadSeq || !this.isConnected)
			return;
		if ([status, timeline].some((r) => r.status === 'rejected' && r.reason?.name === 'AbortError'))
			return;

		const errors = [status, timeline, latest, overview].filter((r) => r.status === 'rejected').map((r) => r.reason);
		this.#renderLoadError(errors);
		this.#status = status.status === 'fulfilled' ? status.value : null;
		// Live updates once the caller is known to be allowed to see them.
		if (this.#status && this.getAttribute('events-url') && !this.#listening) {
			this.#listening = true;
			this.#listen(this.#abort.signal);
		}
		this.#statusError = status.status === 'rejected' ? status.reason : null;
		this.#renderCard();
		this.#timeline = timeline.status === 'fulfilled' ? timeline.value : null;
		this.#renderPerformance();
		this.#renderAdminNote(isAdmin.status === 'fulfilled' ? isAdmin.value : null);
		if (overviewFn) {
			this.#overview = overview.status === 'fulfilled' ? overview.value : undefined;
			this.#renderOverview(overview.status === 'rejected' ? overview.reason : null);
		}
		// A background run started elsewhere (or before this page loaded): follow it.
		const newest = latest.status === 'fulfilled' ? latest.value?.[0] : null;
		if (newest?.status === 'running' && !this.#run)
			this.#followRun(newest.id, 'A refresh is running in the background');
		if (this.#logs.open)
			this.#loadLogs();
	}

	// "Refresh Now": hand the refresh to a background worker and follow it.
	async refreshNow() {
		if (this.#run)
			return;
		const run = { id: null, wake: null };
		this.#run = run;
		this.#field('action-error').hidden = true;
		this.#renderRunning('Starting a refresh…');
		try {
			const result = await this.#call('metrics_refresh_trigger', { view: this.#view, wait: false });
			if (this.#run !== run)
				return;
			run.id = result?.run_id ?? null;
			const final = result?.status === 'running' ? await this.#waitForRun(run) : result;
			if (this.#run !== run)
				return;
			this.#renderRunResult(final, run.id);
		} catch (err) {
			if (err.name === 'AbortError')
				return;
			if (this.#run === run) {
				this.#run = null;
				this.#renderCard();
			}
			this.#field('progress').textContent = '';
			this.#showProblem(this.#field('action-error'), err);
		}
		if (this.#run === run) {
			this.#run = null;
			await this.reload();
		}
	}

	// Follow a run that this page did not start.
	async #followRun(id, text) {
		const run = { id, wake: null };
		this.#run = run;
		this.#renderRunning(`${text} (run ${id})…`);
		try {
			const final = await this.#waitForRun(run);
			if (this.#run === run)
				this.#renderRunResult(final, id);
		} catch (err) {
			if (err.name !== 'AbortError')
				this.#showProblem(this.#field('action-error'), err);
		}
		if (this.#run === run) {
			this.#run = null;
			await this.reload();
		}
	}

	// Poll metrics_refresh_run_status until the run is no longer running
	// (sooner when a NOTIFY about it arrives).
	async #waitForRun(run) {
		this.#renderRunning(`Run ${run.id} is running in the background…`);
		let delay = 150;
		for (;;) {
			const waker = new AbortController();
			run.wake = () => waker.abort();
			const signal = AbortSignal.any([waker.signal, this.#abort.signal]);
			await sleep(delay, signal);
			if (this.#abort === null || this.#abort.signal.aborted)
				throw new DOMException('stopped', 'AbortError');
			const r = await this.#call('metrics_refresh_run_status', { run_id: run.id });
			if (r === null || r.status !== 'running')
				return r;
			delay = Math.min(delay * 1.5, 2000);
		}
	}

	// Server-sent events (tools/web's /events): reload when a run of this view
	// is logged; wake the wait for a followed run.  Falls back to polling.
	async #listen(signal) {
		const url = new URL(this.getAttribute('events-url'), location.href);
		let backoff = 1000;
		while (!signal.aborted) {
			try {
				const headers = { Accept: 'text/event-stream' };
				if (this.token)
					headers.Authorization = `Bearer ${this.token}`;
				const res = await fetch(url, { headers, signal, cache: 'no-store' });
				if (!res.ok || !res.body)
					return;  // not offered or not allowed: polling goes on
				backoff = 1000;
				this.#field('updates').textContent = 'Live updates.';
				const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
				let buffer = '';
				for (;;) {
					const { value, done } = await reader.read();
					if (done)
						break;
					buffer += value;
					let end;
					while ((end = buffer.indexOf('\n\n')) >= 0) {
						const block = buffer.slice(0, end);
						buffer = buffer.slice(end + 2);
						const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
						if (data)
							this.#onEvent(data);
					}
				}
			} catch (err) {
				if (signal.aborted)
					return;
			}
			this.#renderUpdates();
			await sleep(backoff, signal);
			backoff = Math.min(backoff * 2, 30000);
		}
	}

	#onEvent(data) {
		let event;
		try {
			event = JSON.parse(data);
		} catch {
			return;
		}
		if (this.#run && event.run_id === this.#run.id)
			this.#run.wake?.();
		const mine = this.#status?.view ?? null;
		if (mine === null || event.view === mine) {
			clearTimeout(this.#eventTimer);
			this.#eventTimer = setTimeout(() => this.reload(), 200);
		}
	}

	// --- rendering -------------------------------------------------------

	#renderRunning(text) {
		const status = this.#field('status');
		status.dataset.status = 'running';
		this.#field('status-label').textContent = STATUS_LABELS.running;
		this.#q('[data-action=refresh]').setAttribute('aria-disabled', 'true');
		this.#field('progress').textContent = text;
	}

	#renderRunResult(r, runId) {
		const progress = this.#field('progress');
		if (r === null) {
			progress.textContent = `Run ${runId} is no longer in the log.`;
			return;
		}
		// "Run 7 succeeded: refreshed …", "Run 8 error: division by zero",
		// "Run 9: unchanged: no source changed since run 7" (its message says it).
		const what = { success: ' succeeded', unchanged: '' }[r.status] ?? ` ${r.status}`;
		progress.textContent = `Run ${r.run_id ?? runId}${what}: ${r.message ?? ''}`.trim();
		progress.dataset.status = r.status;
		if (r.status === 'error')
			this.#showProblem(this.#field('action-error'), new RpcError(null, {
				code: r.sqlstate, message: r.message, details: r.error_detail ?? null, hint: r.error_hint ?? null,
			}), 'The refresh failed');
	}

	#renderCard() {
		const s = this.#status;
		const err = this.#statusError;
		const status = this.#field('status');
		const button = this.#q('[data-action=refresh]');
		if (this.#run) {
			this.#renderRunning(this.#field('progress').textContent);
		} else {
			const key = s ? s.status : { 401: 'signedout', 403: 'denied' }[err?.status] ?? 'error';
			status.dataset.status = key;
			this.#field('status-label').textContent = STATUS_LABELS[key] ?? fmt.statusLabel(key);
			button.removeAttribute('aria-disabled');
		}
		if (s?.view)
			this.#field('view').textContent = s.view;
		// The "unchanged" state: the last run found no source changed, so the
		// contents are those of the last refresh, still current.
		const unchangedState = s?.last_status === 'unchanged' && !['unknown', 'failing'].includes(s.status);
		const note = this.#field('state-note');
		note.hidden = !unchangedState;
		note.title = unchangedState
			? 'The last run found that no source had changed, so it refreshed nothing: the contents are still current.'
			: '';
		const last = this.#field('last-refresh');
		last.replaceChildren();
		if (s) {
			last.append(timeEl(s.last_refresh_at));
			if (s.last_status && s.last_status !== 'success')
				last.append(' ', badge(s.last_status));
		} else {
			last.textContent = fmt.DASH;
		}
		// fresh_as_of (1.1.0): the latest finish of a refresh or of an
		// unchanged run; with the last refresh itself when that is older.
		const fresh = s && 'fresh_as_of' in s;
		this.shadowRoot.querySelector('[data-row=fresh-as-of]').hidden = !fresh;
		const freshField = this.#field('fresh-as-of');
		freshField.replaceChildren();
		if (fresh) {
			freshField.append(timeEl(s.fresh_as_of));
			if (s.fresh_as_of && s.last_success_at && Date.parse(s.last_success_at) < Date.parse(s.fresh_as_of))
				freshField.append(el('span', { className: 'sub' }, 'contents refreshed ', timeEl(s.last_success_at)));
		}
		this.#field('success-rate').textContent = s ? fmt.successRate(s.success_rate, s.successful, s.failed) : fmt.DASH;
		const unchangedRuns = Number(s?.unchanged ?? 0);
		this.shadowRoot.querySelector('[data-row=unchanged-runs]').hidden = !(unchangedRuns > 0);
		this.#field('unchanged-runs').textContent = unchangedRuns > 0
			? `${fmt.count(unchangedRuns)} of ${fmt.count(s.total)} runs (no source changed)`
			: '';
		this.#field('avg-duration').textContent = s ? fmt.duration(s.avg_duration_ms) : fmt.DASH;
		const showError = Boolean(s?.last_error) && s.status !== 'healthy';
		this.shadowRoot.querySelector('[data-row=last-error]').hidden = !showError;
		this.#field('last-error').textContent = showError ? s.last_error : '';
	}

	#renderPerformance() {
		const s = this.#status;
		const set = (name, text) => { this.#field(name).textContent = text; };
		set('total', s ? fmt.count(s.total) : fmt.DASH);
		set('successful', s ? fmt.count(s.successful) : fmt.DASH);
		set('failed', s ? fmt.count(s.failed) : fmt.DASH);
		set('skipped', s ? fmt.count(s.skipped) : fmt.DASH);
		this.shadowRoot.querySelector('[data-row=unchanged]').hidden = !(s && 'unchanged' in s);
		set('unchanged', s && 'unchanged' in s ? fmt.count(s.unchanged) : '');
		this.#field('durations-note').hidden = !(Number(s?.unchanged ?? 0) > 0);
		set('avg', fmt.duration(s?.avg_duration_ms));
		set('max', fmt.duration(s?.max_duration_ms));
		set('min', fmt.duration(s?.min_duration_ms));
		set('p95', fmt.duration(s?.p95_duration_ms));
		const rate = s?.success_rate ?? null;
		set('rate-pct', rate === null ? fmt.DASH : `${Number(rate).toFixed(1).replace(/\.0$/, '')}%`);
		this.#field('rate-bar').firstElementChild.style.width = `${rate ?? 0}%`;
		this.#field('rate-bar').setAttribute('aria-label', rate === null ? 'no finished runs' : `success rate ${rate}%`);
		this.#renderTimeline();
	}

	#renderTimeline() {
		const missing = this.#timeline === null;
		this.#field('perf-empty').hidden = !missing;
		this.#field('figure').hidden = missing;
		this.#field('details').hidden = missing;
		const rows = this.#timeline ?? [];
		const hasUnchanged = rows.some((r) => 'unchanged' in r);
		this.shadowRoot.querySelector('th[data-col=unchanged]').hidden = !hasUnchanged;
		this.#field('timeline').replaceChildren(...rows.map((r) => el('tr', {},
			el('td', {}, el('time', { dateTime: r.bucket_start, textContent: fmt.dateTime(r.bucket_start) })),
			el('td', { textContent: fmt.count(r.runs) }),
			el('td', { textContent: fmt.count(r.successes) }),
			el('td', { textContent: fmt.count(r.failures) }),
			hasUnchanged ? el('td', { textContent: fmt.count(r.unchanged) }) : null,
			el('td', { textContent: fmt.duration(r.avg_duration_ms) }),
			el('td', { textContent: fmt.duration(r.max_duration_ms) }))));

		// Bars first, so that the duration lines are drawn over them.
		const data = [
			rows.map((r) => Date.parse(r.bucket_start) / 1000),
			rows.map((r) => Number(r.successes ?? 0) + Number(r.failures ?? 0)),
			rows.map((r) => ('unchanged' in r ? Number(r.unchanged) : null)),
			rows.map((r) => r.avg_duration_ms ?? null),
			rows.map((r) => r.max_duration_ms ?? null),
		];
		const box = this.#field('chart');
		box.dataset.points = String(rows.length);
		if (this.#chart) {
			this.#chart.setData(data);
			return;
		}
		const dur = (u, v) => (v === null || v === undefined ? fmt.DASH : fmt.duration(v));
		const runs = (u, v) => (v === null || v === undefined ? fmt.DASH : fmt.count(v));
		const axis = { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' } };
		// Side by side around the bucket's start: refreshes left, unchanged right.
		const bars = (align) => uPlot.paths.bars({ size: [0.42, 14], align });
		this.#chart = new uPlot({
			width: Math.max(box.clientWidth, 240),
			height: 200,
			scales: {
				// Half a bucket of room at both ends, for the bars around the
				// first and the last bucket's start.
				x: { time: true, range: (u, min, max) => {
					const xs = u.data[0];
					const half = xs.length > 1 ? (xs[1] - xs[0]) / 2 : 1800;
					return [min - half, max + half];
				} },
				y: { range: (u, min, max) => [0, Math.max(max ?? 0, 1) * 1.1] },
				// The bars keep to the lower part, under the lines.
				runs: { range: (u, min, max) => [0, Math.max(max ?? 0, 1) * 2.5] },
			},
			axes: [
				axis,
				{ ...axis, size: 58, values: (u, splits) => splits.map(fmt.axisDuration) },
				{ ...axis, scale: 'runs', side: 1, size: 36, grid: { show: false },
					incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
					values: (u, splits) => splits.map((v) => (v <= u.scales.runs.max / 2.5 ? fmt.count(v) : '')) },
			],
			series: [
				{ label: 'Bucket', value: (u, v) => (v === null ? fmt.DASH : fmt.dateTime(new Date(v * 1000).toISOString())) },
				{ label: 'Refreshes', scale: 'runs', paths: bars(-1), points: { show: false },
					fill: 'rgba(21, 128, 61, 0.30)', stroke: 'rgba(21, 128, 61, 0.6)', width: 1, value: runs },
				{ label: 'Unchanged', scale: 'runs', paths: bars(1), points: { show: false },
					fill: 'rgba(14, 116, 144, 0.55)', stroke: '#0e7490', width: 1, value: runs },
				{ label: 'Avg', stroke: '#1d4ed8', width: 2, points: { show: true, size: 5 }, value: dur },
				{ label: 'Max', stroke: '#7e22ce', width: 1.5, dash: [5, 4], points: { show: true, size: 4 }, value: dur },
			],
			legend: { show: true, live: true },
		}, data, box);
	}

	#resizeChart() {
		const box = this.#field('chart');
		if (this.#chart && box.clientWidth > 0)
			this.#chart.setSize({ width: box.clientWidth, height: 200 });
	}

	#renderOverview(err) {
		const list = this.#field('overview');
		const empty = this.#field('overview-empty');
		this.#field('overview-source').textContent = `(data from ${this.getAttribute('overview-rpc')})`;
		let data = this.#overview;
		if (Array.isArray(data))
			data = data[0] ?? null;
		list.replaceChildren();
		empty.hidden = true;
		if (err) {
			empty.hidden = false;
			empty.textContent = `Not available: ${problemTitle(err).toLowerCase()} (HTTP ${err.status}).`;
			return;
		}
		if (data === null || data === undefined || typeof data !== 'object') {
			empty.hidden = false;
			empty.textContent = 'No data yet: the view has not been refreshed.';
			return;
		}
		for (const [key, value] of Object.entries(data)) {
			const isTime = key === 'last_updated' || key.endsWith('_at');
			const dd = el('dd', { dataset: { key } });
			if (isTime)
				dd.append(timeEl(value));
			else
				dd.textContent = typeof value === 'number' ? fmt.count(value) : String(value ?? fmt.DASH);
			list.append(el('div', {}, el('dt', { textContent: fmt.label(key) }), dd));
		}
	}

	#renderAdminNote(isAdmin) {
		const note = this.#field('admin-note');
		note.hidden = isAdmin !== false;
		note.textContent = isAdmin === false
			? 'You are not a metrics_refresh admin: Refresh Now will be refused (403).'
			: '';
	}

	#renderUpdates() {
		this.#field('updates').textContent = `Updates every ${this.#pollMs / 1000} s.`;
	}

	// Update "2 minutes ago" texts without calling the server.
	#renderTimes() {
		for (const t of this.shadowRoot.querySelectorAll('time[datetime]')) {
			if (t.closest('table'))
				continue;
			t.textContent = fmt.ago(t.dateTime || null);
		}
	}

	#renderLoadError(errors) {
		const box = this.#field('load-error');
		const unique = new Map();
		for (const e of errors)
			if (e && e.name !== 'AbortError')
				unique.set(`${e.status}|${e.code}|${e.message}`, e);
		if (unique.size === 0) {
			box.hidden = true;
			box.replaceChildren();
			return;
		}
		this.#showProblem(box, [...unique.values()][0]);
		for (const extra of [...unique.values()].slice(1))
			box.append(el('p', { className: 'code', textContent: `Also: HTTP ${extra.status} ${extra.code ?? ''} ${extra.message}` }));
	}

	// PostgREST's error body, readable: title, message, code, details, hint.
	#showProblem(box, err, title = problemTitle(err)) {
		box.hidden = false;
		const code = [err.status ? `HTTP ${err.status}` : null, err.code ? `code ${err.code}` : null]
			.filter(Boolean).join(' · ');
		box.replaceChildren(...[
			el('p', {}, el('strong', { textContent: title })),
			el('p', { textContent: err.message }),
			code ? el('p', { className: 'code', textContent: code }) : null,
			err.details ? el('p', { textContent: `Details: ${err.details}` }) : null,
			err.hint ? el('p', { textContent: `Hint: ${err.hint}` }) : null,
		].filter(Boolean));
		if (err instanceof RpcError && err.status === 403)
			box.append(el('p', { className: 'code', textContent: 'Ask an administrator to make your role a metrics_refresh admin (or a member of pg_monitor to see the statistics).' }));
	}

	// --- the log -----------------------------------------------------------

	#toggleLogs() {
		const button = this.#q('[data-action=logs]');
		const section = this.#q('#mr-logs-section');
		this.#logs.open = !this.#logs.open;
		button.setAttribute('aria-expanded', String(this.#logs.open));
		button.textContent = this.#logs.open ? 'Hide Logs' : 'View Logs';
		section.hidden = !this.#logs.open;
		if (this.#logs.open) {
			this.#logs.cursors = [null];
			this.#logs.index = 0;
			this.#loadLogs();
		}
	}

	#page(direction) {
		const button = this.#q(`[data-action=${direction < 0 ? 'newer' : 'older'}]`);
		if (button.getAttribute('aria-disabled') === 'true')
			return;
		const index = this.#logs.index + direction;
		if (index < 0 || index >= this.#logs.cursors.length)
			return;
		this.#logs.index = index;
		this.#loadLogs();
	}

	// One page of metrics_refresh_history, newest first: size + 1 rows before
	// the page's cursor (the id of the previous page's last run), the extra
	// one telling whether there is an older page.  A page stays the same
	// while new runs are logged; only the first page shows them.
	async #loadLogs() {
		const size = this.#pageSize;
		const index = this.#logs.index;
		const before = this.#logs.cursors[index];
		const errorBox = this.#field('logs-error');
		const args = { view: this.#view, max_rows: size + 1 };
		if (before !== null)
			args.before_id = before;
		let rows;
		try {
			rows = await this.#call('metrics_refresh_history', args);
		} catch (err) {
			if (err.name !== 'AbortError')
				this.#showProblem(errorBox, err);
			return;
		}
		if (index !== this.#logs.index || before !== this.#logs.cursors[index])
			return;
		errorBox.hidden = true;
		const page = rows.slice(0, size);
		const more = rows.length > size;
		this.#logs.cursors.length = index + 1;
		if (more)
			this.#logs.cursors.push(page[page.length - 1].id);
		this.#field('logs').replaceChildren(...page.map((r) => el('tr', { dataset: { run: String(r.id), status: r.status } },
			el('td', { textContent: String(r.id) }),
			el('td', {}, el('time', { dateTime: r.started_at, textContent: fmt.dateTime(r.started_at) })),
			el('td', {}, r.source ?? fmt.DASH,
				r.cascade_id !== null && r.cascade_id !== undefined
					? el('span', { className: 'sub', textContent: `cascade of run ${r.cascade_id}` }) : null),
			el('td', {}, badge(r.status)),
			el('td', { textContent: r.method ?? fmt.DASH }),
			el('td', { textContent: fmt.duration(r.duration_ms) }),
			el('td', { textContent: r.triggered_by ?? fmt.DASH }),
			el('td', { className: 'msg' }, ...this.#logMessage(r)))));
		const first = index * size + 1;
		this.#field('page').textContent = page.length ? `Runs ${first}–${first + page.length - 1}` : 'No runs logged';
		this.#field('logs-range').textContent = `newest first, ${size} per page`;
		this.#q('[data-action=newer]').setAttribute('aria-disabled', String(index === 0));
		this.#q('[data-action=older]').setAttribute('aria-disabled', String(!more));
	}

	#logMessage(r) {
		if (r.status === 'error') {
			return [
				el('span', { className: 'error-text', textContent: `${r.sqlstate ? r.sqlstate + ': ' : ''}${r.error_message ?? ''}` }),
				r.error_detail ? el('div', { className: 'muted', textContent: `Details: ${r.error_detail}` }) : null,
				r.error_hint ? el('div', { className: 'muted', textContent: `Hint: ${r.error_hint}` }) : null,
			].filter(Boolean);
		}
		// skipped and unchanged runs say why in skip_reason
		return [r.skip_reason ?? ''];
	}
}

customElements.define('metrics-refresh-dashboard', MetricsRefreshDashboard);
