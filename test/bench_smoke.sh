#!/usr/bin/env bash
# The benchmarks in smoke mode (tiny sizes, few repetitions), so that bench/run
# cannot rot: passes when every measurement could be taken.  Speed targets are
# reported by bench/run, never asserted here.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(bash "$here/bench/run" --smoke 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "bench/run --smoke exited with $rc"; exit 1; }
# Every part must have printed its measurements and the summary.
for part in "1. Per-call overhead" "2. Realistic view" "3. Monitoring" "4. Readers during refresh" "Summary"; do
	grep -qF "$part" <<<"$out" || { echo "missing from the report: $part"; exit 1; }
done
echo "bench smoke run complete"
