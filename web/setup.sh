# What the dashboard's local server (tools/web) and its browser tests
# (test/web.sh) need besides PostgreSQL: Node.js and npm, Debian's Chromium
# for the tests, and web/node_modules as web/package-lock.json pins it.
# Sourced after tools/common.sh, not run.  As root, missing Debian packages
# are installed with apt-get; otherwise they are only checked.

WEB=$REPO_ROOT/web

# web_install_packages [chromium]: nodejs and npm (and chromium when asked)
# where they are missing.  Node.js 18 (bookworm's) or later will do.
web_install_packages() {
	local need=()
	command -v node >/dev/null || need+=(nodejs)
	command -v npm >/dev/null || need+=(npm)
	[ "${1:-}" = chromium ] && [ ! -x /usr/bin/chromium ] && need+=(chromium)
	if [ ${#need[@]} -gt 0 ]; then
		if [ "$(id -u)" -ne 0 ]; then
			say "missing: ${need[*]} (run as root to install them)"
			return 1
		fi
		say "installing ${need[*]} ..."
		export DEBIAN_FRONTEND=noninteractive
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
			apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
			{ say "could not install ${need[*]}"; return 1; }
	fi
	local major
	major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
	if [ -z "$major" ] || [ "$major" -lt 18 ]; then
		say "Node.js 18 or later is needed, found $(node --version 2>/dev/null || echo none)"
		return 1
	fi
}

# web_install_npm: web/node_modules from web/package-lock.json (npm ci), unless
# it is there already and not older than the lockfile.
web_install_npm() {
	if [ -f "$WEB/node_modules/.package-lock.json" ] &&
		[ ! "$WEB/package-lock.json" -nt "$WEB/node_modules/.package-lock.json" ]; then
		return 0
	fi
	say "installing web/'s npm dependencies (npm ci) ..."
	(cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
		{ say "npm ci failed in $WEB"; return 1; }
}
