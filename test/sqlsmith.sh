#!/usr/bin/env bash
# SQLsmith in its short form (bench/sqlsmith --short: 5,000 random queries,
# seed 1): passes when no backend died of a signal, the server did not
# restart, the extension raised no internal error, and it still refreshes.
# Installs the Debian package sqlsmith when missing (as root).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(bash "$here/bench/sqlsmith" --short 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "bench/sqlsmith --short exited with $rc"; exit 1; }
grep -qx 'result: PASS' <<<"$out" || { echo "bench/sqlsmith --short did not report a pass"; exit 1; }
echo "sqlsmith short run passed"
