#!/usr/bin/env bash
# The benchmarks in smoke mode (tiny sizes, few repetitions), so that none of
# them can rot: bench/run (1.0.0's) and 1.1.0's bench/skip_unchanged,
# bench/writers, bench/cascade, bench/statistics and bench/callgrind.
# Passes when every measurement could be taken and every report is complete.
# Speed targets are reported by the benchmarks, never asserted here.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
failed=0

# smoke SCRIPT HEADING...: run SCRIPT --smoke; it must succeed and print
# every HEADING and its summary.
smoke() {
	local script=$1 out rc part started=$SECONDS
	shift
	out=$(bash "$here/bench/$script" --smoke 2>&1)
	rc=$?
	printf '%s\n' "$out"
	if [ "$rc" -ne 0 ]; then
		echo "bench/$script --smoke exited with $rc"
		failed=$((failed + 1))
		return
	fi
	for part in "$@" "Summary"; do
		if ! grep -qF "$part" <<<"$out"; then
			echo "bench/$script: missing from the report: $part"
			failed=$((failed + 1))
			return
		fi
	done
	echo "bench/$script --smoke: complete in $((SECONDS - started)) s"
}

smoke run "1. Per-call overhead" "2. Realistic view" "3. Monitoring" "4. Readers during refresh"
smoke skip_unchanged "unchanged run, warm session" "full refresh: metrics_refresh_trigger(view)"
smoke writers "insert    tracked" "update    untracked" "no trigger on a table"
smoke cascade "1. Per-node overhead" "2. Discovery"
smoke statistics "folded     none" "unfolded   the whole day" "on CPU"
smoke callgrind "1. Instructions per call" "2. Where metrics_refresh_run" "3. The first call" "4. Writers"

[ "$failed" -eq 0 ] || { echo "$failed benchmark smoke runs failed"; exit 1; }
echo "bench smoke run complete"
