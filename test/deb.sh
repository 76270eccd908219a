#!/usr/bin/env bash
# The Debian package (debian/): in a copy of the tree, dpkg-buildpackage
# -us -uc -b builds postgresql-$PG_MAJOR-metrics-refresh; the package holds
# every file of the extension, installs with apt, passes "pg_buildext
# installcheck" (debian/tests/installcheck, the autopkgtest: the regression
# tests and isolation specs, none skipped), updates a 1.0.0 database to 1.1.0
# with its own scripts, and removes cleanly.  Prints each check ("ok: ...")
# and exits non-zero if one failed.
#
# Installing the package replaces the extension's files in the system's
# PostgreSQL, which the other tests, and anyone's "make install", use on this
# machine.  So the package is only ever installed in a throwaway Debian root:
# run anywhere else (as root), this script runs itself in one with
# tools/pgversions (a cached mmdebstrap root of PG_MAJOR's suite, an overlay
# of it, a copy of the tree) and passes or fails with it.  In such a root
# (it has /.metrics_refresh_root) it does the work, installing with apt-get
# what the build needs (the Build-Depends: debhelper,
# postgresql-server-dev-all, ...).  Every build output stays in a temporary
# directory, removed on exit.  About two minutes with a cached root.
set -uo pipefail
source "$(dirname "$0")/../tools/common.sh"

if [ ! -f /.metrics_refresh_root ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAILED: test/deb.sh must run as root (it installs the package in a throwaway root)"
		exit 1
	fi
	echo "installing the package in a throwaway root: bash tools/pgversions $PG_MAJOR -- deb"
	out=$(mktemp /tmp/metrics_refresh.deb.XXXXXX)
	bash "$REPO_ROOT/tools/pgversions" "$PG_MAJOR" -- deb 2>&1 | tee "$out"
	last=$(tail -n 1 "$out")
	rm -f "$out"
	[ "$last" = "1 passed, 0 failed" ]
	exit
fi

[ "$(id -u)" -eq 0 ] || { echo "FAILED: test/deb.sh must run as root"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
pkg=postgresql-$PG_MAJOR-metrics-refresh
tmp=$(mktemp -d /tmp/metrics_refresh.deb.XXXXXX)
chmod 755 "$tmp"
src=$tmp/metrics-refresh
server=$tmp/server
cleanup() {
	stop_server "$server/data"
	rm -rf "$tmp"
}
trap cleanup EXIT

# Stop here, showing the end of LOG, when a step cannot go on.
give_up() {
	echo "FAILED: $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 60 "$2"
	exit 1
}

# The build's tools: dpkg-buildpackage, and pg_buildext to generate
# debian/control (postgresql-server-dev-all brings it: from postgresql-common
# up to trixie, from postgresql-common-dev in sid).  The rest of the
# Build-Depends comes with apt-get build-dep below, from debian/control: if
# they miss something, the build fails.
apt-get update -qq >"$tmp/apt.log" 2>&1 &&
	apt-get install -y -qq --no-install-recommends dpkg-dev postgresql-server-dev-all >>"$tmp/apt.log" 2>&1 ||
	give_up "apt-get could not install dpkg-dev and postgresql-server-dev-all" "$tmp/apt.log"

mkdir -p "$src"
(cd "$REPO_ROOT" && tar --exclude=.git -cf - .) | tar -C "$src" -xf -
make -s -C "$src" clean PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1

# debian/control is generated from debian/control.in for the PostgreSQL
# versions of the distribution; the one in git is bookworm's (15).
if grep -qx "Package: $pkg" "$src/debian/control"; then
	(cd "$src" && pg_buildext checkcontrol) >"$tmp/control.log" 2>&1
	check "debian/control is what pg_buildext generates from debian/control.in" 0 "$?"
else
	(cd "$src" && pg_buildext updatecontrol) >"$tmp/control.log" 2>&1 ||
		give_up "pg_buildext updatecontrol" "$tmp/control.log"
	echo "note: debian/control regenerated for this distribution's PostgreSQL versions"
fi
grep -qx "Package: $pkg" "$src/debian/control" ||
	give_up "debian/control has no package $pkg" "$src/debian/control"

apt-get build-dep -y -qq "$src" >>"$tmp/apt.log" 2>&1 || give_up "apt-get build-dep" "$tmp/apt.log"
echo "ok: apt-get build-dep installs the Build-Depends"

# The build (its own run of the tests is left to the installed package below).
(cd "$src" && DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck dpkg-buildpackage -us -uc -b) \
	>"$tmp/build.log" 2>&1 || give_up "dpkg-buildpackage -us -uc -b" "$tmp/build.log"
version=$(cd "$src" && dpkg-parsechangelog -S Version)
deb=$tmp/${pkg}_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || give_up "no $(basename "$deb") after the build" "$tmp/build.log"
echo "ok: dpkg-buildpackage -us -uc -b built $(basename "$deb")"

# The version is the same everywhere.
extversion=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$src/metrics_refresh.control")
check "debian/changelog's upstream version is the control file's" "$extversion" "${version%-*}"
check "META.json's version is the control file's" "$extversion" \
	"$(sed -n 's/^   "version": "\(.*\)",$/\1/p' "$src/META.json")"

# What the package holds: the library and every script of the source tree.
sharedir=$("$PG_CONFIG" --sharedir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
files=("$pkglibdir/metrics_refresh.so" "$sharedir/extension/metrics_refresh.control"
	"$sharedir/extension/metrics_refresh--$extversion.sql")
for f in "$src"/sql/metrics_refresh--*.sql; do
	[ "$(basename "$f")" = "metrics_refresh--$extversion.sql" ] || files+=("$sharedir/extension/$(basename "$f")")
done
contents=$(dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }')
for f in "${files[@]}"; do
	check "the package holds $f" "$f" "$(grep -xF -- "$f" <<<"$contents")"
done
check "the package depends on postgresql-$PG_MAJOR" 1 \
	"$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | grep -cE "^ *postgresql-$PG_MAJOR( |$)")"

# Install it where tools/test's "make install" has put the same files:
# remove those first, so that what is tested below is the package's.
rm -rf "$sharedir"/extension/metrics_refresh[.-]* "$pkglibdir/metrics_refresh.so" \
	"$pkglibdir"/bitcode/metrics_refresh*
apt-get install -y -qq "$deb" >"$tmp/install.log" 2>&1 || give_up "apt-get install $deb" "$tmp/install.log"
echo "ok: apt-get install ./$(basename "$deb")"
for f in "${files[@]}"; do
	check "$f belongs to the installed $pkg" "$pkg" "$(dpkg -S "$f" 2>/dev/null | cut -d: -f1)"
done

# pg_buildext installcheck, as the autopkgtest runs it; pg_regress's outputs
# are kept in $tmp/installcheck to see that no test skipped itself.
expected_regress=0
for f in "$src"/test/sql/*.sql; do
	needs=$(sed -n '1s/^-- Needs PostgreSQL \([0-9][0-9]*\) or later\..*/\1/p' "$f")
	[ -z "$needs" ] || [ "$needs" -le "$PG_MAJOR" ] && expected_regress=$((expected_regress + 1))
done
expected_iso=$(find "$src/test/specs" -name '*.spec' | wc -l)
(cd "$src" && EXTRA_REGRESS_OPTS="--outputdir=$tmp/installcheck" debian/tests/installcheck) \
	>"$tmp/installcheck.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && tail -n 80 "$tmp/installcheck.log" && cat "$tmp/installcheck/regression.diffs" 2>/dev/null
check "pg_buildext installcheck (debian/tests/installcheck) succeeds" 0 "$rc"
grep -E '^(test +)?[a-z_]+ +\.\.\. ok|^ok [0-9]+ +[-+] ' "$tmp/installcheck.log" | sed 's/^/    /'
check "all $((expected_regress + expected_iso)) regression tests and isolation specs passed" \
	"$((expected_regress + expected_iso))" \
	"$(grep -cE '^(test +)?[a-z_]+ +\.\.\. ok|^ok [0-9]+ +[-+] ' "$tmp/installcheck.log")"
check "tests that skipped themselves (pg_cron is set up)" "" \
	"$(grep -l '^skipped: ' "$tmp"/installcheck/results/*.out 2>/dev/null | xargs -r -n1 basename)"

# A 1.0.0 database updates to 1.1.0 with the installed scripts, in a server
# of our own (its log is kept for tools/test's scan).
mkdir -p "$server" && chown postgres: "$server"
port=$(free_port 54400)
start_server "$server/data" "$port" || give_up "the server did not start" "$server/server.log"
check "1.0.0 updated to $extversion with the package's scripts" "$extversion|$extversion" \
	"$(as_pg "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$server" -p "$port" -U postgres -d postgres \
		-c "CREATE EXTENSION metrics_refresh VERSION '1.0.0'" \
		-c "ALTER EXTENSION metrics_refresh UPDATE" \
		-c "SELECT extversion || '|' || metrics_refresh_version() FROM pg_extension WHERE extname = 'metrics_refresh'" \
		-c "DROP EXTENSION metrics_refresh" 2>&1)"
stop_server "$server/data"

apt-get remove -y -qq "$pkg" >"$tmp/remove.log" 2>&1
check "apt-get remove $pkg" 0 "$?"
left=()
for f in "${files[@]}"; do [ -e "$f" ] && left+=("$f"); done
check "no file of the package is left" "" "${left[*]}"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
