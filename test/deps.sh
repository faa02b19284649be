#!/usr/bin/env bash
# test/deps.sh — owns the system packages the build and the test suites need
# (`make deps`).  Installs only what is missing: one `apt-get update`, then
# `apt-get install -y`.  Without root it names what to install and fails.
set -euo pipefail

PACKAGES=(
	postgresql-15            # server + initdb/pg_ctl/psql in /usr/lib/postgresql/15/bin
	postgresql-contrib       # pgcrypto (required by loginas.control)
	postgresql-server-dev-15 # PGXS, pg_regress, pg_isolation_regress, TAP perl modules
	libipc-run-perl          # IPC::Run, needed by PostgreSQL::Test::Cluster
	libkrb5-dev              # GSSAPI headers pulled in by the server headers
	php-cli                  # the PHP client example (docs/examples/php), run by make test
	php-pgsql                # its PDO pgsql driver
	pgbouncer                # transaction pooler in front of a node (test/t/020_pooler.pl)
	make
	gcc
)

is_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

main() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: dpkg-query not found; this script supports Debian/Ubuntu only." >&2
		echo "deps: install by hand: ${PACKAGES[*]}" >&2
		exit 1
	fi

	local pkg missing=()
	for pkg in "${PACKAGES[@]}"; do
		is_installed "$pkg" || missing+=("$pkg")
	done

	if ((${#missing[@]} == 0)); then
		echo "deps: all required packages are installed"
		return 0
	fi

	echo "deps: missing packages: ${missing[*]}"
	if [[ $EUID -ne 0 ]]; then
		echo "deps: not root; install them with:" >&2
		echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi

	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"

	for pkg in "${missing[@]}"; do
		if ! is_installed "$pkg"; then
			echo "deps: $pkg still not installed after apt-get install" >&2
			exit 1
		fi
	done
	echo "deps: installed ${missing[*]}"
}

main "$@"
