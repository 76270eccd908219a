#!/usr/bin/env bash
# The soak test in its short form (bench/soak --short: 4 clients for 15 s,
# with the killer): passes when every check of bench/soak passed (no crash,
# no run id lost or left running, statistics equal to the log, no deadlock,
# each view equal to its query, no unexpected error or WARNING).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(bash "$here/bench/soak" --short 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "bench/soak --short exited with $rc"; exit 1; }
grep -qx 'result: PASS' <<<"$out" || { echo "bench/soak --short did not report a pass"; exit 1; }
echo "soak short run passed"
