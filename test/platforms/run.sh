#!/usr/bin/env bash
# test/platforms/run.sh — owns `make test-platforms`: loginas on real shop platforms,
# driven by the platforms' own code: Vendure 3.x (test/platforms/vendure/) and Medusa 2.x
# (test/platforms/medusa.sh), both by default; LOGINAS_PLATFORMS=vendure or =medusa runs one.
#
#   1. Node.js 20 or later with npm; the cache directory OUTSIDE the work tree where each
#      platform is installed with `npm ci` ($LOGINAS_PLATFORMS_CACHE, default
#      /var/cache/loginas-platforms, or ~/.cache/loginas-platforms when that is not
#      writable), reused while its lock file is unchanged (an unreachable npm registry with
#      a cold cache is a `not ok` line within seconds);
#   2. the extension is built and installed into the PostgreSQL of $PG_BINDIR (default
#      /usr/lib/postgresql/15/bin; `make test-platforms PG_CONFIG=...` picks another);
#   3. Vendure:
#      1. Vendure (@vendure/core, pg — pinned in test/platforms/vendure/package.json and
#         package-lock.json) from npm, into the cache;
#      2. a throwaway cluster (test/lib/cluster.sh: socket only, loginas preloaded for the
#         durable refusal log) gets a database owned by the schema owner role;
#      3. seed.js: Vendure's own bootstrap creates the schema (synchronize: true) and its
#         services seed the shop;
#      4. docs/platforms/vendure.sql, the recipe, is applied as shipped (stamps => 'table':
#         no column added to Vendure's tables), then its optional one-role companion
#         docs/platforms/vendure-one-role.sql (the role vendure_app, used only by 7.);
#      5. drive.js: Vendure (synchronize: false, as the storefront role, with the TypeORM hook
#         of docs/examples/node/typeorm/) runs its services inside a Login as Customer session;
#      6. Vendure restarts with synchronize: true (as the schema owner, its own bootstrap): the
#         stamps, the log, the tracking and loginas' triggers are all still there, and a new
#         session (drive.js after-sync) still writes, is stamped and logged, and is contained;
#      7. one database role (drive.js one-role): Vendure runs as vendure_app, a member of both
#         loginas_admin and loginas_storefront, the admin backend's calls on Vendure's own
#         pool: consent, permissions and containment still hold;
#      (a failed step stops Vendure's remaining steps, not Medusa's)
#   4. Medusa: test/platforms/medusa.sh with the same build, in a cluster of its own: Medusa
#      2.21 from npm (~680 MB in the cache), its migrations and seed, docs/platforms/medusa.sql
#      as shipped, Medusa's module calls and store workflows in a session under the MikroORM
#      hook of docs/examples/node/mikroorm/, `medusa db:migrate` again (its lines: "medusa: ...").
#
# Output: "ok N - ..." / "not ok N - ..." lines, then exactly one "N passed, M failed"
# line; the exit status is non-zero when anything failed.  KEEP_TMP=1 keeps the clusters'
# directories (stopped) for inspection.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"
PG_CONFIG=$PG_BINDIR/pg_config
VENDURE_SRC=$ROOT/test/platforms/vendure

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

# Number and count the "ok - " / "not ok - " lines of a step's output; pass the rest.
renumber() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) printf '%s\n' "$line" ;;
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
		not_ok "test-platforms stopped (exit $rc)"
	fi
	echo "# test-platforms took $((SECONDS - START)) s"
	echo "$PASSED passed, $FAILED failed"
	if ((FAILED > 0 || rc != 0)); then exit 1; fi
	exit 0
}
trap finish EXIT
trap 'not_ok "interrupted"; exit 130' INT TERM

stop() { # stop after a failed step: the rest depends on it
	echo "# stopping: the remaining steps depend on this one"
	exit 1
}

# --- 1. Node, the cache, which platforms ------------------------------------------------
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
PLATFORMS=${LOGINAS_PLATFORMS:-vendure,medusa}
for p in ${PLATFORMS//,/ }; do
	case $p in
	vendure | medusa) ;;
	*)
		not_ok "LOGINAS_PLATFORMS names known platforms (vendure, medusa): not \"$p\""
		stop
		;;
	esac
done
platform() { [[ ,$PLATFORMS, == *,$1,* ]]; }

# --- 2. the extension (for every platform) ------------------------------------------------
if [[ ! -x $PG_CONFIG ]]; then
	not_ok "pg_config at $PG_CONFIG" "install the server headers (make deps) or give PG_CONFIG=..."
	stop
fi
if make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" >/tmp/loginas-platforms-build.$$ 2>&1 &&
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" install >>/tmp/loginas-platforms-build.$$ 2>&1; then
	ok "loginas built and installed into $("$PG_CONFIG" --version) ($PG_CONFIG)"
	rm -f /tmp/loginas-platforms-build.$$
else
	not_ok "loginas builds and installs against $PG_CONFIG" "$(tail -n 15 /tmp/loginas-platforms-build.$$)"
	rm -f /tmp/loginas-platforms-build.$$
	stop
fi

# --- 3. Vendure (test/platforms/vendure/) ----------------------------------------------------
vendure() {
	# --- Vendure 1. Vendure itself, from npm -----------------------------------------------------
	VENDURE_DIR=$CACHE/vendure
	want=$(cat "$VENDURE_SRC/package.json" "$VENDURE_SRC/package-lock.json" | sha256sum | cut -c1-64)
	have=$(cat "$VENDURE_DIR/.loginas-installed" 2>/dev/null || true)
	if [[ $want == "$have" && -d $VENDURE_DIR/node_modules/@vendure/core ]]; then
		ok "Vendure $(node -p "require('$VENDURE_DIR/node_modules/@vendure/core/package.json').version") reused from $VENDURE_DIR"
	else
		# install next to the cache entry, then swap it in: a failed install leaves the old one
		exec 9>"$CACHE/.vendure.lock"
		flock 9
		stage=$(mktemp -d "$CACHE/vendure.new.XXXXXX")
		cp "$VENDURE_SRC/package.json" "$VENDURE_SRC/package-lock.json" "$stage/"
		registry=$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)
		if ! timeout 40 npm ping --fetch-timeout=15000 --fetch-retries=0 >"$stage/ping.log" 2>&1; then
			not_ok "the npm registry ($registry) is reachable" "$(tail -n 3 "$stage/ping.log")"
			rm -rf -- "$stage"
			return 1
		fi
		t0=$SECONDS
		if (cd "$stage" && timeout 400 npm ci --no-audit --no-fund --fetch-retries=1 --fetch-timeout=60000 \
			>"$stage/npm.log" 2>&1); then
			echo "$want" >"$stage/.loginas-installed"
			rm -f "$stage/npm.log" "$stage/ping.log"
			old=""
			if [[ -e $VENDURE_DIR ]]; then
				old=$(mktemp -d "$CACHE/vendure.old.XXXXXX") && mv "$VENDURE_DIR" "$old/"
			fi
			mv "$stage" "$VENDURE_DIR"
			[[ -n $old ]] && rm -rf -- "$old"
			ok "Vendure $(node -p "require('$VENDURE_DIR/node_modules/@vendure/core/package.json').version") installed with npm ci into $VENDURE_DIR ($((SECONDS - t0)) s)"
		else
			not_ok "npm ci of test/platforms/vendure (log below)" "$(tail -n 15 "$stage/npm.log")"
			rm -rf -- "$stage"
			return 1
		fi
		flock -u 9
	fi
	export NODE_PATH=$VENDURE_DIR/node_modules

	# --- Vendure 2. a throwaway cluster ----------------------------------------------------
	TMP=$(cluster_mktemp loginas-platforms) || { not_ok "a temporary directory"; return 1; }
	if CLUSTER_EXTRA_CONF="shared_preload_libraries = 'loginas'" cluster_init "$TMP/cluster" >/dev/null &&
		cluster_start "$TMP/cluster" && cluster_env "$TMP/cluster" &&
		cluster_psql "$TMP/cluster" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 >/dev/null <<-'SQL'
			CREATE ROLE vendure_owner LOGIN;          -- runs synchronize / migrations, owns the tables
			CREATE DATABASE vendure OWNER vendure_owner;
		SQL
	then
		ok "throwaway cluster on $CLUSTER_SOCKDIR (port $CLUSTER_PORT, socket only), database vendure owned by vendure_owner"
	else
		not_ok "throwaway cluster" "$(tail -n 10 "$TMP/cluster/server.log" 2>/dev/null)"
		return 1
	fi
	export PGHOST=$CLUSTER_SOCKDIR PGPORT=$CLUSTER_PORT PGDATABASE=vendure
	export VENDURE_OWNER=vendure_owner VENDURE_STOREFRONT=vendure_storefront VENDURE_BACKEND=vendure_backend \
		VENDURE_REPORTS=vendure_reports VENDURE_APP=vendure_app

	# --- Vendure 3. Vendure's schema and data, by Vendure ------------------------------------
	IDS=$TMP/ids.json
	t0=$SECONDS
	if (cd "$VENDURE_SRC" && timeout 180 node seed.js "$IDS") >"$TMP/seed.log" 2>&1; then
		tables=$(cluster_psql "$TMP/cluster" --dbname=vendure -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
		ok "Vendure's bootstrap (synchronize: true) created $tables tables; its services seeded the shop ($((SECONDS - t0)) s)"
	else
		not_ok "Vendure's bootstrap and seeding (seed.js)" "$(tail -n 15 "$TMP/seed.log")"
		return 1
	fi

	# --- Vendure 4. the recipe, as shipped -----------------------------------------------------
	if cluster_psql "$TMP/cluster" --dbname=vendure --quiet --set=ON_ERROR_STOP=1 \
		<"$ROOT/docs/platforms/vendure.sql" >"$TMP/recipe.log" 2>&1; then
		ok "docs/platforms/vendure.sql applied (roles, bindings, tracking, grants)"
	else
		not_ok "docs/platforms/vendure.sql applies" "$(tail -n 15 "$TMP/recipe.log")"
		return 1
	fi
	ONE_ROLE=""
	if cluster_psql "$TMP/cluster" --dbname=vendure --quiet --set=ON_ERROR_STOP=1 \
		<"$ROOT/docs/platforms/vendure-one-role.sql" >"$TMP/one-role.log" 2>&1; then
		ONE_ROLE=1
		ok "docs/platforms/vendure-one-role.sql applied (the one-role variant: vendure_app in loginas_admin and loginas_storefront)"
	else
		not_ok "docs/platforms/vendure-one-role.sql applies" "$(tail -n 15 "$TMP/one-role.log")"
	fi

	# --- Vendure 5. Vendure's services in a Login as Customer session ----------------------------
	t0=$SECONDS
	# (renumber reads a process substitution, not a pipe: it must count in this shell)
	renumber < <(cd "$VENDURE_SRC" && timeout 240 node drive.js "$IDS" 2>"$TMP/drive.err"; echo "drive-exit $?" >"$TMP/drive.rc")
	rc=$(sed -n 's/^drive-exit //p' "$TMP/drive.rc" 2>/dev/null)
	if [[ $rc == 124 ]]; then
		not_ok "drive.js finished within 240 s" "$(tail -n 10 "$TMP/drive.err")"
	elif [[ $rc != 0 && $FAILED == 0 ]]; then
		not_ok "drive.js exited with status ${rc:-?}" "$(tail -n 10 "$TMP/drive.err")"
	fi
	echo "# drive.js took $((SECONDS - t0)) s"

	# --- Vendure 6. a restart with synchronize: true, then a new session --------------------------
	sql() { cluster_psql "$TMP/cluster" --dbname=vendure --quiet --set=ON_ERROR_STOP=1 -At "$@"; }
	# what loginas keeps about Vendure's tables, one file per kind, compared before and after
	snapshot() { # snapshot DIR
		mkdir -p "$1"
		sql -c "SELECT relation::text, key, created_session, changed_session, changed_at
			FROM loginas.row_stamps ORDER BY 1, 2" >"$1/stamps" &&
		sql -c "SELECT log_id, action, result, session_id, customer_id, details->>'table', details->'keys'
			FROM loginas.action_log WHERE action LIKE 'write%' ORDER BY log_id" >"$1/log" &&
		sql -c "SELECT t.relation::oid, t.* FROM loginas.tracked_tables t ORDER BY t.relation::text" \
			-c "SELECT p.relation::oid, p.* FROM loginas.tracked_paths p ORDER BY p.relation::text, p.position" >"$1/tracking" &&
		sql -c "SELECT g.tgrelid::regclass::text, g.tgname, g.tgenabled, pg_get_triggerdef(g.oid)
			FROM pg_trigger g WHERE g.tgname LIKE 'zz_loginas%' ORDER BY 1, 2" >"$1/triggers"
	}
	loginas_columns="SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = 'public'::regnamespace AND a.attname LIKE 'loginas%' AND a.attnum > 0 AND NOT a.attisdropped"
	# every tracked table with fewer than its five triggers (or one not firing ALWAYS)
	missing_triggers="SELECT t.relation::text || ': ' || coalesce(string_agg(g.tgname || '/' || g.tgenabled::text, ' ' ORDER BY g.tgname), 'none')
		FROM loginas.tracked_tables t LEFT JOIN pg_trigger g ON g.tgrelid = t.relation AND g.tgname LIKE 'zz_loginas%'
		GROUP BY t.relation HAVING count(*) FILTER (WHERE g.tgenabled = 'A') <> 5 ORDER BY 1"
	if ! snapshot "$TMP/before"; then
		not_ok "loginas' state before the restart with synchronize: true"
		return 1
	fi
	n_stamps=$(wc -l <"$TMP/before/stamps") n_log=$(wc -l <"$TMP/before/log") n_trig=$(wc -l <"$TMP/before/triggers")
	n_tracked=$(sql -c "SELECT count(*) FROM loginas.tracked_tables WHERE stamps = 'table'")
	cols=$(sql -c "$loginas_columns")
	missing=$(sql -c "$missing_triggers" 2>&1) || missing="(the query failed) $missing"
	if [[ $cols == 0 && -z $missing && $n_stamps -gt 0 && $n_log -gt 0 ]]; then
		ok "before the restart: $n_tracked tables tracked with stamps => 'table' (no loginas column in Vendure's tables, $n_trig zz_loginas_* triggers), $n_stamps rows in loginas.row_stamps, $n_log write log rows"
	else
		not_ok "before the restart: stamps in loginas.row_stamps only, every tracked table with its triggers" \
			"loginas columns in public: $cols; row_stamps rows: $n_stamps; write log rows: $n_log" "tables missing triggers: ${missing:-none}"
	fi
	# a column no Vendure entity declares, on a tracked table: what synchronize does to it shows it ran
	sql -c 'ALTER TABLE public.customer ADD COLUMN sync_canary integer' >/dev/null
	t0=$SECONDS
	if (cd "$VENDURE_SRC" && VENDURE_SYNC_ONLY=1 timeout 120 node seed.js /dev/null) >"$TMP/sync.log" 2>&1; then
		canary=$(sql -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.customer'::regclass AND attname = 'sync_canary' AND NOT attisdropped")
		if [[ $canary == 0 ]]; then
			ok "Vendure restarted with synchronize: true as the schema owner ($((SECONDS - t0)) s): it dropped a column no entity declares (customer.sync_canary)"
		else
			not_ok "Vendure's synchronize: true drops a column no entity declares (customer.sync_canary is still there: did it synchronize?)"
		fi
		snapshot "$TMP/after"
		for kind in stamps log tracking triggers; do
			case $kind in
			stamps) what="the $n_stamps rows of loginas.row_stamps" ;;
			log) what="the $n_log write_* rows of loginas.action_log" ;;
			tracking) what="loginas.tracked_tables and loginas.tracked_paths" ;;
			triggers) what="the $n_trig zz_loginas_* triggers on the tracked tables" ;;
			esac
			if cmp -s "$TMP/before/$kind" "$TMP/after/$kind"; then
				ok "after synchronize: $what unchanged"
			else
				not_ok "after synchronize: $what unchanged (diff before/after)" \
					"$(diff "$TMP/before/$kind" "$TMP/after/$kind" | head -n 20)"
			fi
		done
		missing=$(sql -c "$missing_triggers" 2>&1) || missing="(the query failed) $missing"
		[[ -z $missing ]] || not_ok "after synchronize: every tracked table has its five zz_loginas_* triggers, firing ALWAYS" "$missing"
		cols=$(sql -c "$loginas_columns")
		[[ $cols == 0 ]] || not_ok "after synchronize: no loginas column in Vendure's tables ($cols found)"
		renumber < <(cd "$VENDURE_SRC" && timeout 120 node drive.js "$IDS" after-sync 2>"$TMP/drive2.err"; echo "drive-exit $?" >"$TMP/drive2.rc")
		rc=$(sed -n 's/^drive-exit //p' "$TMP/drive2.rc" 2>/dev/null)
		if [[ $rc == 124 ]]; then
			not_ok "drive.js after-sync finished within 120 s" "$(tail -n 10 "$TMP/drive2.err")"
		elif [[ $rc != 0 && $FAILED == 0 ]]; then
			not_ok "drive.js after-sync exited with status ${rc:-?}" "$(tail -n 10 "$TMP/drive2.err")"
		fi
	else
		not_ok "a second Vendure start with synchronize: true" "$(tail -n 10 "$TMP/sync.log")"
	fi

	# --- Vendure 7. one database role: the same Vendure as vendure_app, in loginas_admin and loginas_storefront
	if [[ -n $ONE_ROLE ]]; then
		t0=$SECONDS
		renumber < <(cd "$VENDURE_SRC" && timeout 120 node drive.js "$IDS" one-role 2>"$TMP/drive3.err"; echo "drive-exit $?" >"$TMP/drive3.rc")
		rc=$(sed -n 's/^drive-exit //p' "$TMP/drive3.rc" 2>/dev/null)
		if [[ $rc == 124 ]]; then
			not_ok "drive.js one-role finished within 120 s" "$(tail -n 10 "$TMP/drive3.err")"
		elif [[ $rc != 0 && $FAILED == 0 ]]; then
			not_ok "drive.js one-role exited with status ${rc:-?}" "$(tail -n 10 "$TMP/drive3.err")"
		fi
		echo "# drive.js one-role took $((SECONDS - t0)) s"
	fi
}

# --- 4. Medusa (test/platforms/medusa.sh: its own cluster, the same build) ----------------------
medusa() {
	local before=$FAILED rc
	# (renumber reads a process substitution, not a pipe: it must count in this shell)
	renumber < <(PG_BINDIR=$PG_BINDIR LOGINAS_PLATFORMS_BUILT=1 LOGINAS_PLATFORMS_CACHE=$CACHE bash "$ROOT/test/platforms/medusa.sh" 2>&1 |
		sed -n -e 's/^ok [0-9]* - /ok - medusa: /p' -e 's/^not ok [0-9]* - /not ok - medusa: /p' -e '/^#/p'
		echo "medusa-exit ${PIPESTATUS[0]}" >"$MEDUSA_RC")
	rc=$(cat "$MEDUSA_RC" 2>/dev/null) rc=${rc#medusa-exit }
	if [[ $rc != 0 && $FAILED == "$before" ]]; then
		not_ok "medusa: test/platforms/medusa.sh exited with status ${rc:-?} without a failed step"
	fi
}

if platform vendure; then
	vendure || echo "# vendure: stopping: its remaining steps depend on this one"
	# its cluster is no longer needed (KEEP_TMP: kept, stopped, by finish)
	if [[ -n $TMP && -d $TMP && -z ${KEEP_TMP:-} ]]; then
		cluster_destroy "$TMP/cluster" >/dev/null 2>&1 || true
		rm -rf -- "$TMP"
		TMP=""
	fi
fi
if platform medusa; then
	MEDUSA_RC=$(mktemp)
	medusa
	rm -f -- "$MEDUSA_RC"
fi
