#!/usr/bin/env bash
# test/platforms/medusa.sh — Medusa 2.x groundwork for `make test-platforms`; OPT-IN: run.sh does
# not call it yet (see test/platforms/medusa/NOTES.md for where things stand).  Run it alone:
#
#   bash test/platforms/medusa.sh                 # or: LOGINAS_PLATFORMS=medusa bash test/platforms/medusa.sh
#
# loginas binds integer ids only and Medusa's ids are text, so loginas itself is NOT installed
# here: standin.sql stands in for loginas.assume() and records, per row written, the transaction
# that wrote it.  Steps:
#   1. Medusa (@medusajs/medusa, framework, cli, pg — pinned in test/platforms/medusa/package.json
#      and package-lock.json) is installed with `npm ci` into $LOGINAS_PLATFORMS_CACHE/medusa
#      (default /var/cache/loginas-platforms/medusa), reused while the lock file is unchanged;
#   2. a throwaway cluster (test/lib/cluster.sh, socket only) gets a database owned by medusa_owner;
#   3. Medusa's own migrations (`medusa db:migrate`) create its schema, in a project directory
#      next to the cluster whose node_modules is the cache;
#   4. seed.js (`medusa exec`): Medusa's module services and workflows seed the shop;
#   5. standin.sql: the stand-in loginas schema and a recording trigger on every table;
#   6. drive.js (`medusa exec`): Medusa's module calls and store workflows inside a session, with
#      the MikroORM hook of docs/examples/node/mikroorm/: every write covered by assume().
#
# Output: "ok N - ..." / "not ok N - ..." lines, then exactly one "N passed, M failed" line
# (prefixed "medusa:"); exit status non-zero when anything failed.  KEEP_TMP=1 keeps the
# cluster's directory (stopped) for inspection.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"
SRC=$ROOT/test/platforms/medusa

export LANG=C.UTF-8
unset LC_ALL LANGUAGE

N=0
PASSED=0
FAILED=0
TMP=""
START=$SECONDS

ok() {
	N=$((N + 1)) PASSED=$((PASSED + 1))
	printf 'ok %d - %s\n' "$N" "$*"
}
not_ok() {
	N=$((N + 1)) FAILED=$((FAILED + 1))
	printf 'not ok %d - %s\n' "$N" "$1"
	shift
	local arg
	for arg in "$@"; do printf '%s\n' "$arg" | sed 's/^/#   /'; done
}
renumber() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		"#"*) printf '%s\n' "$line" ;;
		*) ;; # Medusa's own logging: in the step's log file
		esac
	done
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ -n ${KEEP_TMP:-} ]]; then
			cluster_stop "$TMP/cluster"
			echo "# KEEP_TMP set: $TMP kept (cluster stopped)"
		else
			cluster_destroy "$TMP/cluster" >/dev/null 2>&1 || true
			rm -rf -- "$TMP"
		fi
	fi
	if ((FAILED == 0 && rc != 0 && N == 0)); then
		not_ok "medusa platform test stopped (exit $rc)"
	fi
	echo "# medusa took $((SECONDS - START)) s"
	echo "medusa: $PASSED passed, $FAILED failed"
	if ((FAILED > 0 || rc != 0)); then exit 1; fi
	exit 0
}
trap finish EXIT
trap 'not_ok "interrupted"; exit 130' INT TERM

stop() {
	echo "# stopping: the remaining steps depend on this one"
	exit 1
}
step_log() { grep -v -e "ts-node" -e '^    at ' -e "MODULE_NOT_FOUND" -e "requireStack" -e "cli/cli.js" "$1" | tail -n "${2:-15}"; }

# --- 1. Node and Medusa --------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	not_ok "node and npm are installed" "install Node.js 20 or later (with npm)"
	stop
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
	not_ok "Node.js 20 or later (found $(node --version))"
	stop
fi
ok "node $(node --version), npm $(npm --version)"

CACHE=${LOGINAS_PLATFORMS_CACHE:-/var/cache/loginas-platforms}
if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w $CACHE ]]; then
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/loginas-platforms
	mkdir -p "$CACHE" || { not_ok "a cache directory for the platforms ($CACHE)"; stop; }
fi
MEDUSA_DIR=$CACHE/medusa
medusa_version() { node -p "require('$MEDUSA_DIR/node_modules/@medusajs/medusa/package.json').version"; }
want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-64)
have=$(cat "$MEDUSA_DIR/.loginas-installed" 2>/dev/null || true)
if [[ $want == "$have" && -d $MEDUSA_DIR/node_modules/@medusajs/medusa ]]; then
	ok "Medusa $(medusa_version) reused from $MEDUSA_DIR"
else
	# install next to the cache entry, then swap it in: a failed install leaves the old one
	exec 9>"$CACHE/.medusa.lock"
	flock 9
	stage=$(mktemp -d "$CACHE/medusa.new.XXXXXX")
	cp "$SRC/package.json" "$SRC/package-lock.json" "$stage/"
	registry=$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)
	if ! timeout 40 npm ping --fetch-timeout=15000 --fetch-retries=0 >"$stage/ping.log" 2>&1; then
		not_ok "the npm registry ($registry) is reachable" "$(tail -n 3 "$stage/ping.log")"
		rm -rf -- "$stage"
		stop
	fi
	t0=$SECONDS
	if (cd "$stage" && timeout 600 npm ci --no-audit --no-fund --fetch-retries=1 --fetch-timeout=60000 \
		>"$stage/npm.log" 2>&1); then
		echo "$want" >"$stage/.loginas-installed"
		rm -f "$stage/npm.log" "$stage/ping.log"
		old=""
		if [[ -e $MEDUSA_DIR ]]; then
			old=$(mktemp -d "$CACHE/medusa.old.XXXXXX") && mv "$MEDUSA_DIR" "$old/"
		fi
		mv "$stage" "$MEDUSA_DIR"
		[[ -n $old ]] && rm -rf -- "$old"
		ok "Medusa $(medusa_version) installed with npm ci into $MEDUSA_DIR ($((SECONDS - t0)) s, $(du -sh "$MEDUSA_DIR/node_modules" | cut -f1))"
	else
		not_ok "npm ci of test/platforms/medusa (log below)" "$(tail -n 15 "$stage/npm.log")"
		rm -rf -- "$stage"
		stop
	fi
	flock -u 9
fi

# --- 2. a throwaway cluster -----------------------------------------------------------
TMP=$(cluster_mktemp loginas-medusa) || { not_ok "a temporary directory"; stop; }
if cluster_init "$TMP/cluster" >/dev/null && cluster_start "$TMP/cluster" && cluster_env "$TMP/cluster" &&
	cluster_psql "$TMP/cluster" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 -c 'CREATE ROLE medusa_owner LOGIN' >/dev/null &&
	cluster_psql "$TMP/cluster" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 -c 'CREATE DATABASE medusa OWNER medusa_owner' >/dev/null; then
	ok "throwaway cluster on $CLUSTER_SOCKDIR (port $CLUSTER_PORT, socket only), database medusa owned by medusa_owner"
else
	not_ok "throwaway cluster" "$(tail -n 10 "$TMP/cluster/server.log" 2>/dev/null)"
	stop
fi

# The Medusa project directory: medusa-config.js and package.json from the work tree, the
# cache's node_modules.  Medusa reaches the socket through libpq's environment: a
# DATABASE_URL without a host (Medusa's own URL handling drops a ?host= socket and, for a URL
# without "localhost" or sslmode=disable, asks for SSL).
APP=$TMP/app
mkdir -p "$APP" && cp "$SRC/medusa-config.js" "$SRC/package.json" "$APP/" && ln -s "$MEDUSA_DIR/node_modules" "$APP/node_modules"
export PGHOST=$CLUSTER_SOCKDIR PGPORT=$CLUSTER_PORT PGUSER=medusa_owner PGDATABASE=medusa
export DATABASE_URL="postgres:///medusa?sslmode=disable" MEDUSA_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
export NODE_PATH=$MEDUSA_DIR/node_modules MEDUSA_IDS=$TMP/ids.json
# (timeout runs programs, not shell functions: a small wrapper script)
MEDUSA_BIN=$TMP/medusa
printf '#!/bin/sh\ncd "%s" && exec "%s/node_modules/.bin/medusa" "$@"\n' "$APP" "$APP" >"$MEDUSA_BIN" && chmod +x "$MEDUSA_BIN"
psql_medusa() { cluster_psql "$TMP/cluster" --dbname=medusa "$@"; }

# --- 3. Medusa's schema, by Medusa's migrations ----------------------------------------------
t0=$SECONDS
if timeout 300 "$MEDUSA_BIN" db:migrate >"$TMP/migrate.log" 2>&1; then
	tables=$(psql_medusa -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
	ok "medusa db:migrate created $tables tables ($((SECONDS - t0)) s)"
else
	not_ok "medusa db:migrate" "$(step_log "$TMP/migrate.log")"
	stop
fi

# --- 4. the shop, by Medusa's services ---------------------------------------------------------
t0=$SECONDS
if timeout 180 "$MEDUSA_BIN" exec "$SRC/seed.js" >"$TMP/seed.log" 2>&1 && [[ -s $MEDUSA_IDS ]]; then
	counts=$(psql_medusa -Atc "SELECT format('%s customers (%s guest), %s addresses, %s carts, %s cart lines, %s order',
		(SELECT count(*) FROM customer), (SELECT count(*) FROM customer WHERE NOT has_account),
		(SELECT count(*) FROM customer_address), (SELECT count(*) FROM cart), (SELECT count(*) FROM cart_line_item),
		(SELECT count(*) FROM \"order\"))")
	ok "seed.js (medusa exec) seeded the shop through Medusa's modules: $counts ($((SECONDS - t0)) s)"
else
	not_ok "seed.js (medusa exec)" "$(step_log "$TMP/seed.log")"
	stop
fi

# --- 5. the stand-in ------------------------------------------------------------------------------
if psql_medusa --quiet --set=ON_ERROR_STOP=1 -f "$SRC/standin.sql" >"$TMP/standin.log" 2>&1; then
	ok "standin.sql: stand-in loginas.assume() and a recording trigger on each of Medusa's tables"
else
	not_ok "standin.sql applies" "$(tail -n 10 "$TMP/standin.log")"
	stop
fi

# --- 6. Medusa's calls in a session, under the MikroORM hook ------------------------------------
t0=$SECONDS
renumber < <(timeout 240 "$MEDUSA_BIN" exec "$SRC/drive.js" 2>"$TMP/drive.err" | tee "$TMP/drive.log"; echo "drive-exit ${PIPESTATUS[0]}" >"$TMP/drive.rc")
rc=$(sed -n 's/^drive-exit //p' "$TMP/drive.rc" 2>/dev/null)
if [[ $rc == 124 ]]; then
	not_ok "drive.js finished within 240 s" "$(step_log "$TMP/drive.err" 10)"
elif [[ $rc != 0 ]]; then
	not_ok "drive.js (medusa exec) exited with status ${rc:-?}" "$(step_log "$TMP/drive.log" 10)" "$(step_log "$TMP/drive.err" 10)"
fi
echo "# drive.js took $((SECONDS - t0)) s"
