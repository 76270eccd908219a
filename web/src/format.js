// How the dashboard writes numbers, durations and times: "2 minutes ago",
// "0.45s", "100% (288/288)", "1,234".

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const DASH = '–';

// A count with thousands separators; a dash for null.
export function count(n) {
	return n === null || n === undefined ? DASH : integer.format(Number(n));
}

// A duration in ms: "0.45s" from 100 ms on, "12.3 ms" below.
export function duration(ms) {
	if (ms === null || ms === undefined || !Number.isFinite(Number(ms)))
		return DASH;
	ms = Number(ms);
	return ms >= 100 ? `${(ms / 1000).toFixed(2)}s` : `${ms.toFixed(1)} ms`;
}

// An axis label for a duration in ms: "0.45s", "25 ms", "0.25 ms".
export function axisDuration(ms) {
	if (ms === null || ms === undefined)
		return '';
	if (ms === 0)
		return '0';
	return ms >= 100 ? `${+(ms / 1000).toPrecision(3)}s` : `${+ms.toPrecision(3)} ms`;
}

// "100% (288/288)": the success rate (percent, one decimal place, trailing
// ".0" dropped) of successes over successes and failures.
export function successRate(rate, successful, failed) {
	if (rate === null || rate === undefined)
		return `${DASH} (no finished runs)`;
	const pct = Number(rate).toFixed(1).replace(/\.0$/, '');
	return `${pct}% (${count(successful)}/${count(Number(successful) + Number(failed))})`;
}

// "just now", "45 seconds ago", "2 minutes ago", "3 hours ago", "2 days ago".
export function ago(iso, now = Date.now()) {
	if (!iso)
		return 'never';
	const s = Math.max(0, (now - Date.parse(iso)) / 1000);
	const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'} ago`;
	if (s < 2)
		return 'just now';
	if (s < 60)
		return unit(Math.floor(s), 'second');
	if (s < 3600)
		return unit(Math.floor(s / 60), 'minute');
	if (s < 48 * 3600)
		return unit(Math.floor(s / 3600), 'hour');
	return unit(Math.floor(s / 86400), 'day');
}

// A timestamp in the reader's locale and time zone.
export function dateTime(iso) {
	return iso ? new Date(iso).toLocaleString() : DASH;
}

// "total_accounts" -> "Total Accounts".
export function label(key) {
	return key.split('_').filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(' ');
}

// "healthy" -> "Healthy".
export function statusLabel(status) {
	return status ? status[0].toUpperCase() + status.slice(1) : 'Unknown';
}
