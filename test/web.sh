#!/usr/bin/env bash
# The admin dashboard in a real browser, as one shell test of tools/test
# (exit status 0 = passed): starts tools/web on the build that tools/test has
# just installed and runs web/test/dashboard.test.js with node's test runner,
# which drives Debian's Chromium with playwright-core and compares the page
# with the database.
#
# As root on a fresh Debian machine it first installs what is missing:
# chromium, nodejs and npm (apt-get), and web/node_modules (npm ci from
# web/package-lock.json).  About 2 minutes there, 20 s once installed; the
# browser tests themselves are stopped after 4 minutes.
#
# Screenshots, tools/web's log and the test output are test artifacts, kept
# outside the git tree in $MR_WEB_ARTIFACTS (default: a new directory
# /tmp/metrics_refresh.webtest.XXXXXX), printed at the end.
#
#   bash test/web.sh
#   MR_WEB_DOCS_SHOT=1 bash test/web.sh   # also rewrite web/docs/dashboard.png
#                                         # (the README's screenshot)
set -uo pipefail
source "$(dirname "$0")/../tools/common.sh"
source "$REPO_ROOT/web/setup.sh"

started=$SECONDS
step() { printf '[%3d s] %s\n' "$((SECONDS - started))" "$*"; }

step "checking chromium, node and npm"
web_install_packages chromium 2>&1 || { echo "FAILED: chromium, node or npm missing"; exit 1; }
web_install_npm 2>&1 || { echo "FAILED: npm ci"; exit 1; }
step "node $(node --version), $(/usr/bin/chromium --version 2>/dev/null)"

artifacts=${MR_WEB_ARTIFACTS:-$(scratch_dir webtest)}
mkdir -p "$artifacts"
info=$artifacts/tools-web.json
rm -f "$info"
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
step "starting tools/web"
MR_SKIP_BUILD=1 MR_WEB_SCHEDULE=off MR_WEB_INFO=$info \
	bash "$REPO_ROOT/tools/web" >"$artifacts/tools-web.log" 2>&1 &
web_pid=$!
for _ in $(seq 1 300); do
	[ -f "$info" ] && break
	kill -0 "$web_pid" 2>/dev/null || break
	sleep 0.2
done
if [ ! -f "$info" ]; then
	echo "FAILED: tools/web did not start"
	tail -n 30 "$artifacts/tools-web.log"
	exit 1
fi

step "running web/test/dashboard.test.js"
# Each test has its own time limit (in the file); this one bounds the whole.
MR_WEB_INFO=$info MR_WEB_ARTIFACTS=$artifacts \
	timeout --kill-after=10 240 node --test --test-reporter=spec "$REPO_ROOT/web/test/dashboard.test.js" 2>&1 |
	tee "$artifacts/dashboard.test.out"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 124 ] && echo "FAILED: the browser tests took more than 240 s"
stop_web
step "done (exit status $rc); screenshots and logs kept in $artifacts"
exit "$rc"
