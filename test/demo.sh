#!/usr/bin/env bash
# The demo (tools/demo) on the build tools/test just installed: it must run to
# the end and show what the admin dashboard shows.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(MR_SKIP_BUILD=1 bash "$here/tools/demo" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "tools/demo exited with $rc"; exit 1; }
fail=0
expect() {
	grep -qF -- "$1" <<<"$out" || { echo "missing from the demo's output: $1"; fail=1; }
}
expect "Metrics Refresh Monitor"
expect "Metrics Refresh Performance (24h)"
expect "Success Rate:"
expect "Avg Duration:"
expect '"sqlstate": "22012"'
expect "division by zero"
expect "Total Accounts | 150"
expect "Total Users    | 1,234"
expect "Total Assets   | 5,678"
expect "metrics_refresh public.platform_metrics"
expect " public.plan_summary     | public.account_activity |     1"
expect " 11 | public.plan_summary     | success | cascade |         10"
expect "public.plan_summary     | unchanged | unchanged: no source changed since run"
expect "public.account_activity | unchanged | unchanged: no source changed since run"
expect "Done: the server is stopped"
exit $fail
