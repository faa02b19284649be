#!/usr/bin/env bash
# test/platforms/medusa.sh — loginas inside a real Medusa 2.x, driven by Medusa's own code: the
# Medusa half of `make test-platforms` (test/platforms/run.sh calls it after Vendure's steps).
# Run it alone:
#
#   bash test/platforms/medusa.sh                                   # the PostgreSQL of /usr/lib/postgresql/15/bin
#   PG_BINDIR=/path/to/postgresql/bin bash test/platforms/medusa.sh  # another one (make test-platforms PG_CONFIG=...)
#
# Steps:
#   1. Medusa (@medusajs/medusa, framework, cli, pg — pinned in test/platforms/medusa/package.json
#      and package-lock.json) is installed with `npm ci` into $LOGINAS_PLATFORMS_CACHE/medusa
#      (default /var/cache/loginas-platforms/medusa), reused while the lock file is unchanged;
#   2. loginas is built and installed into the PostgreSQL of $PG_BINDIR (skipped when run.sh
#      did it: LOGINAS_PLATFORMS_BUILT=1);
#   3. a throwaway cluster (test/lib/cluster.sh, socket only, loginas preloaded for the durable
#      refusal log) gets a database owned by medusa_owner, the schema owner;
#   4. Medusa's own migrations (`medusa db:migrate`, as medusa_owner) create its schema, in a
#      project directory next to the cluster whose node_modules is the cache;
#   5. seed.js (`medusa exec`): Medusa's module services and workflows seed the shop;
#   6. docs/platforms/medusa.sql, the recipe, is applied as shipped (roles, bindings over
#      Medusa's text ids, tracking with stamps => 'table', grants, settings);
#   7. drive.js (`medusa exec` as medusa_storefront): Medusa's module calls and store workflows
#      inside a Login as Customer session, with the MikroORM hook of docs/examples/node/mikroorm/;
#      begin/begin_from as medusa_backend, the reports as medusa_reports;
#   8. `medusa db:migrate` again as the schema owner: loginas' stamps, log, tracking and
#      triggers are unchanged, and a new session (drive.js after-migrate) still writes, is
#      stamped and logged, and is contained.
#
# Output: "ok N - ..." / "not ok N - ..." lines, then exactly one "medusa: N passed, M failed"
# line; exit status non-zero when anything failed.  KEEP_TMP=1 keeps the cluster's directory
# (stopped) for inspection.
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

# --- 2. the extension ---------------------------------------------------------------
PG_CONFIG=$PG_BINDIR/pg_config
if [[ -z ${LOGINAS_PLATFORMS_BUILT:-} ]]; then
	if [[ ! -x $PG_CONFIG ]]; then
		not_ok "pg_config at $PG_CONFIG" "install the server headers (make deps) or give PG_BINDIR=..."
		stop
	fi
	build_log=$(mktemp)
	if make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" >"$build_log" 2>&1 &&
		make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" install >>"$build_log" 2>&1; then
		ok "loginas built and installed into $("$PG_CONFIG" --version) ($PG_CONFIG)"
		rm -f "$build_log"
	else
		not_ok "loginas builds and installs against $PG_CONFIG" "$(tail -n 15 "$build_log")"
		rm -f "$build_log"
		stop
	fi
fi

# --- 3. a throwaway cluster -----------------------------------------------------------
TMP=$(cluster_mktemp loginas-medusa) || { not_ok "a temporary directory"; stop; }
if CLUSTER_EXTRA_CONF="shared_preload_libraries = 'loginas'" cluster_init "$TMP/cluster" >/dev/null &&
	cluster_start "$TMP/cluster" && cluster_env "$TMP/cluster" &&
	cluster_psql "$TMP/cluster" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 -c 'CREATE ROLE medusa_owner LOGIN' >/dev/null &&
	cluster_psql "$TMP/cluster" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 -c 'CREATE DATABASE medusa OWNER medusa_owner' >/dev/null; then
	ok "throwaway cluster on $CLUSTER_SOCKDIR (port $CLUSTER_PORT, socket only, loginas preloaded), database medusa owned by medusa_owner"
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
export MEDUSA_STOREFRONT=medusa_storefront MEDUSA_BACKEND=medusa_backend MEDUSA_REPORTS=medusa_reports
# (timeout runs programs, not shell functions: a small wrapper script)
MEDUSA_BIN=$TMP/medusa
printf '#!/bin/sh\ncd "%s" && exec "%s/node_modules/.bin/medusa" "$@"\n' "$APP" "$APP" >"$MEDUSA_BIN" && chmod +x "$MEDUSA_BIN"
psql_medusa() { cluster_psql "$TMP/cluster" --dbname=medusa "$@"; }

# --- 4. Medusa's schema, by Medusa's migrations ----------------------------------------------
t0=$SECONDS
if timeout 300 "$MEDUSA_BIN" db:migrate >"$TMP/migrate.log" 2>&1; then
	tables=$(psql_medusa -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
	ok "medusa db:migrate created $tables tables ($((SECONDS - t0)) s)"
else
	not_ok "medusa db:migrate" "$(step_log "$TMP/migrate.log")"
	stop
fi

# --- 5. the shop, by Medusa's services ---------------------------------------------------------
t0=$SECONDS
if timeout 180 "$MEDUSA_BIN" exec "$SRC/seed.js" >"$TMP/seed.log" 2>&1 && [[ -s $MEDUSA_IDS ]]; then
	counts=$(psql_medusa -Atc "SELECT format('%s customers (%s guest), %s addresses, %s carts, %s cart lines, %s orders',
		(SELECT count(*) FROM customer), (SELECT count(*) FROM customer WHERE NOT has_account),
		(SELECT count(*) FROM customer_address), (SELECT count(*) FROM cart), (SELECT count(*) FROM cart_line_item),
		(SELECT count(*) FROM \"order\"))")
	ok "seed.js (medusa exec) seeded the shop through Medusa's modules: $counts ($((SECONDS - t0)) s)"
else
	not_ok "seed.js (medusa exec)" "$(step_log "$TMP/seed.log")"
	stop
fi

# --- 6. the recipe, as shipped -------------------------------------------------------------------
if psql_medusa --quiet --set=ON_ERROR_STOP=1 <"$ROOT/docs/platforms/medusa.sql" >"$TMP/recipe.log" 2>&1; then
	n=$(psql_medusa -Atc "SELECT format('%s tables tracked (%s with stamps => ''table''), %s kinds bound',
		(SELECT count(*) FROM loginas.tracked_tables), (SELECT count(*) FROM loginas.tracked_tables WHERE stamps = 'table'),
		(SELECT count(*) FROM loginas.bindings WHERE status = 'bound'))")
	ok "docs/platforms/medusa.sql applied (roles, bindings, tracking, grants): $n"
else
	not_ok "docs/platforms/medusa.sql applies" "$(tail -n 15 "$TMP/recipe.log")"
	stop
fi

# --- 7. Medusa's calls in a session, under the MikroORM hook, as the storefront's role -------------
drive() { # drive NAME TIMEOUT [MODE]
	local name=$1 limit=$2 rc
	t0=$SECONDS
	renumber < <(PGUSER=$MEDUSA_STOREFRONT MEDUSA_DRIVE_MODE=${3:-} timeout "$limit" "$MEDUSA_BIN" exec "$SRC/drive.js" \
		2>"$TMP/$name.err" | tee "$TMP/$name.log"; echo "drive-exit ${PIPESTATUS[0]}" >"$TMP/$name.rc")
	rc=$(sed -n 's/^drive-exit //p' "$TMP/$name.rc" 2>/dev/null)
	if [[ $rc == 124 ]]; then
		not_ok "drive.js${3:+ $3} finished within $limit s" "$(step_log "$TMP/$name.err" 10)"
	elif [[ $rc != 0 && $FAILED == 0 ]]; then
		not_ok "drive.js${3:+ $3} (medusa exec) exited with status ${rc:-?}" "$(step_log "$TMP/$name.log" 10)" "$(step_log "$TMP/$name.err" 10)"
	fi
	echo "# drive.js${3:+ $3} took $((SECONDS - t0)) s"
}
drive drive 240

# --- 8. medusa db:migrate again, then a new session ---------------------------------------------
sql() { psql_medusa --quiet --set=ON_ERROR_STOP=1 -At "$@"; }
snapshot() { # snapshot DIR: what loginas keeps about Medusa's tables, one file per kind
	mkdir -p "$1"
	sql -c "SELECT relation::text, key, created_session, changed_session, changed_at FROM loginas.row_stamps ORDER BY 1, 2" >"$1/stamps" &&
	sql -c "SELECT log_id, action, result, session_id, customer_key, details->>'table', details->'keys'
		FROM loginas.action_log WHERE action LIKE 'write%' ORDER BY log_id" >"$1/log" &&
	sql -c "SELECT t.relation::oid, t.* FROM loginas.tracked_tables t ORDER BY t.relation::text" \
		-c "SELECT p.relation::oid, p.* FROM loginas.tracked_paths p ORDER BY p.relation::text, p.position" \
		-c "SELECT kind, relation::oid, status FROM loginas.bindings ORDER BY kind" >"$1/tracking" &&
	sql -c "SELECT g.tgrelid::regclass::text, g.tgname, g.tgenabled, pg_get_triggerdef(g.oid)
		FROM pg_trigger g WHERE g.tgname LIKE 'zz_loginas%' OR g.tgname LIKE 'zz_medusa_loginas%' ORDER BY 1, 2" >"$1/triggers"
}
loginas_columns="SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	WHERE c.relnamespace = 'public'::regnamespace AND a.attname LIKE 'loginas%' AND a.attnum > 0 AND NOT a.attisdropped"
if snapshot "$TMP/before"; then
	n_stamps=$(wc -l <"$TMP/before/stamps") n_log=$(wc -l <"$TMP/before/log") n_trig=$(wc -l <"$TMP/before/triggers")
	cols=$(sql -c "$loginas_columns")
	if [[ $cols == 0 && $n_stamps -gt 0 && $n_log -gt 0 ]]; then
		ok "before db:migrate: no loginas column in Medusa's tables; $n_trig triggers, $n_stamps rows in loginas.row_stamps, $n_log write log rows"
	else
		not_ok "before db:migrate: stamps in loginas.row_stamps only" "loginas columns in public: $cols; row_stamps rows: $n_stamps; write log rows: $n_log"
	fi
	# a column no Medusa model declares, on a tracked table: what the migrations do to it
	sql -c 'ALTER TABLE public.customer ADD COLUMN migrate_canary integer' >/dev/null
	t0=$SECONDS
	if PGUSER=medusa_owner timeout 300 "$MEDUSA_BIN" db:migrate >"$TMP/migrate2.log" 2>&1; then
		canary=$(sql -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.customer'::regclass AND attname = 'migrate_canary' AND NOT attisdropped")
		if [[ $canary == 1 ]]; then
			ok "medusa db:migrate again as the schema owner ($((SECONDS - t0)) s): it kept a column no Medusa model declares (customer.migrate_canary)"
		else
			not_ok "medusa db:migrate keeps a column no Medusa model declares (customer.migrate_canary is gone: update docs/platforms/medusa.md)"
		fi
		snapshot "$TMP/after"
		for kind in stamps log tracking triggers; do
			case $kind in
			stamps) what="the $n_stamps rows of loginas.row_stamps" ;;
			log) what="the $n_log write_* rows of loginas.action_log" ;;
			tracking) what="loginas.tracked_tables, tracked_paths and bindings" ;;
			triggers) what="the $n_trig triggers of loginas and of the recipe on Medusa's tables" ;;
			esac
			if cmp -s "$TMP/before/$kind" "$TMP/after/$kind"; then
				ok "after db:migrate: $what unchanged"
			else
				not_ok "after db:migrate: $what unchanged (diff before/after)" "$(diff "$TMP/before/$kind" "$TMP/after/$kind" | head -n 20)"
			fi
		done
		drive after-migrate 120 after-migrate
	else
		not_ok "a second medusa db:migrate" "$(step_log "$TMP/migrate2.log")"
	fi
else
	not_ok "loginas' state before db:migrate"
fi
