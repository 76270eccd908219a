#!/usr/bin/env bash
# The admin dashboard in a real browser: starts tools/web (on the build
# tools/test just installed) and runs web/test/dashboard.test.js, which
# drives Debian's Chromium with playwright-core and compares the page with
# the database.  As root on a fresh Debian bookworm machine it installs
# chromium, nodejs and npm where they are missing.  Screenshots are kept in
# a scratch directory, printed at the end.  Exits non-zero if a test fails.
#
#   bash test/web.sh
#   MR_WEB_DOCS_SHOT=1 bash test/web.sh   # also rewrite web/docs/dashboard.png
set -uo pipefail
source "$(dirname "$0")/../tools/common.sh"

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAILED: missing ${need[*]} (run as root to install them)"
		exit 1
	fi
	echo "installing ${need[*]} ..."
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq &&
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		{ echo "FAILED: could not install ${need[*]}"; exit 1; }
fi

artifacts=$(scratch_dir webtest)
info=$artifacts/tools-web.json
web_pid=
stop_web() {
	if [ -n "$web_pid" ]; then
		kill -TERM "$web_pid" 2>/dev/null
		wait "$web_pid" 2>/dev/null
		web_pid=
	fi
}
trap stop_web EXIT

# No pg_cron schedule: only the tests' own refreshes happen meanwhile.
MR_SKIP_BUILD=1 MR_WEB_SCHEDULE=off MR_WEB_INFO=$info \
	bash "$REPO_ROOT/tools/web" >"$artifacts/tools-web.log" 2>&1 &
web_pid=$!
for _ in $(seq 1 600); do
	[ -f "$info" ] && break
	kill -0 "$web_pid" 2>/dev/null || break
	sleep 0.2
done
if [ ! -f "$info" ]; then
	echo "FAILED: tools/web did not start"
	tail -n 30 "$artifacts/tools-web.log"
	exit 1
fi

MR_WEB_INFO=$info MR_WEB_ARTIFACTS=$artifacts \
	node --test --test-reporter=spec --test-timeout=120000 "$REPO_ROOT/web/test/dashboard.test.js"
rc=$?
stop_web
echo "screenshots and logs kept in $artifacts"
exit "$rc"
