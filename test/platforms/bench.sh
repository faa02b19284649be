#!/usr/bin/env bash
# test/platforms/bench.sh — owns `make bench-platforms`: loginas end to end on real shop
# platforms, timed in the platforms' own code: Vendure's OrderService.addItemToOrder and
# Medusa's addToCartWorkflow and cartModule.addLineItems, each without loginas, with loginas
# installed but no session, and in a Login as Customer session.
#
# Usage:
#   bash test/platforms/bench.sh             the full run (7 rounds of 80 calls per variant and
#                                            measure); prints the tables and appends them to
#                                            docs/benchmarks.md
#   bash test/platforms/bench.sh --smoke     2 rounds of 4 calls: checks that every variant
#                                            does its job; appends nothing
#   options: --rounds N, --calls N (timed calls per variant, measure and round), --warmup N
#            (untimed calls before them), --platforms vendure,medusa (default both),
#            --no-append, --keep (keep the cluster's directory, stopped)
#
# Needs the platforms in the npm cache that `make test-platforms` fills
# ($LOGINAS_PLATFORMS_CACHE, default /var/cache/loginas-platforms, or
# ~/.cache/loginas-platforms): run that once first.  PG_BINDIR (make bench-platforms
# PG_CONFIG=...) picks the PostgreSQL; loginas is built and installed into it.
#
# Method (docs/benchmarks.md, "Real platforms, end to end", says the same for the reader):
#   - one throwaway cluster (test/lib/cluster.sh) on /dev/shm when it is a writable tmpfs,
#     loginas in shared_preload_libraries (as docs/operations.md recommends, for the durable
#     refusal log), autovacuum and jit off, shared_buffers 256MB;
#   - per platform, the shop is made once by the platform's own tools into <platform>_plain
#     (Vendure: seed.js, its bootstrap with synchronize: true; Medusa: medusa db:migrate and
#     seed.js), then copied (CREATE DATABASE ... TEMPLATE) into <platform>_installed and
#     <platform>_session, where docs/platforms/<platform>.sql is applied as shipped.  The
#     storefront's role (<platform>_storefront) runs every variant, with the same table
#     grants (in _plain: the recipe's GRANT lines only);
#   - one worker process per variant (test/platforms/<platform>/bench.js) boots the platform
#     once; the session variant redeems a ticket of ada as Veronica and runs every call inside
#     it with the hook of docs/examples/node/ (loginas.assume() per transaction);
#   - the coordinator (test/platforms/bench-coordinate.js) runs the rounds: per round and
#     measure each variant once (warm-up calls, then the timed calls, each timed with
#     process.hrtime.bigint()), in an order rotated from round to round; ratios within a
#     round, medians over rounds, min–max.  Every run checks what its calls did (lines,
#     quantities; in a session: stamps and log rows; without a session: none).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$ROOT/test/platforms
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"

export LANG=C.UTF-8
unset LC_ALL LANGUAGE

SMOKE=0 APPEND=1 KEEP=0
ROUNDS="" CALLS="" WARMUP=""
PLATFORMS=vendure,medusa

die() {
	echo "bench-platforms: $*" >&2
	exit 1
}
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive whole number"; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
	case $1 in
	--smoke) SMOKE=1 ;;
	--no-append) APPEND=0 ;;
	--keep) KEEP=1 ;;
	--rounds) posint "$1" "${2:-}"; ROUNDS=$2; shift ;;
	--calls) posint "$1" "${2:-}"; CALLS=$2; shift ;;
	--warmup) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--warmup needs a whole number"; WARMUP=$2; shift ;;
	--platforms) PLATFORMS=${2:-}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
for p in ${PLATFORMS//,/ }; do
	[[ $p == vendure || $p == medusa ]] || die "--platforms: vendure and/or medusa, not '$p'"
done
platform() { [[ ,$PLATFORMS, == *,$1,* ]]; }
if ((SMOKE)); then
	APPEND=0
	: "${ROUNDS:=2}" "${CALLS:=4}" "${WARMUP:=4}"
else
	: "${ROUNDS:=7}" "${CALLS:=80}" "${WARMUP:=8}"
	((ROUNDS >= 5)) || echo "bench-platforms: warning: fewer than 5 rounds; medians are fragile" >&2
fi

START=$SECONDS
TMP=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $TMP && -d $TMP ]]; then
		if ((KEEP)); then
			cluster_stop "$TMP/cluster"
			echo "bench-platforms: kept $TMP (cluster stopped)"
		else
			cluster_destroy "$TMP/cluster" >/dev/null 2>&1
			rm -rf -- "$TMP"
		fi
	fi
	echo "bench-platforms: $( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)") after $((SECONDS - START)) s"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '# %s\n' "$*"; }
fail() { # fail WHAT LOGFILE
	echo "bench-platforms: $1 failed; last lines of $2:" >&2
	grep -v -e '^    at ' "$2" | tail -n 20 >&2
	exit 1
}

# --- Node, the platforms in the cache, the extension ---------------------------------------
command -v node >/dev/null 2>&1 || die "node is not installed (Node.js 20 or later)"
(($(node -p 'process.versions.node.split(".")[0]') >= 20)) || die "Node.js 20 or later needed (found $(node --version))"
CACHE=${LOGINAS_PLATFORMS_CACHE:-/var/cache/loginas-platforms}
[[ -w $CACHE ]] || CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/loginas-platforms
installed_ok() { # installed_ok NAME PACKAGE: the cache entry matches the lock file
	local want have
	want=$(cat "$SRC/$1/package.json" "$SRC/$1/package-lock.json" | sha256sum | cut -c1-64)
	have=$(cat "$CACHE/$1/.loginas-installed" 2>/dev/null || true)
	[[ $want == "$have" && -d $CACHE/$1/node_modules/$2 ]]
}
platform vendure && { installed_ok vendure @vendure/core || die "Vendure is not in $CACHE (or its lock file changed): run 'make test-platforms' once"; }
platform medusa && { installed_ok medusa @medusajs/medusa || die "Medusa is not in $CACHE (or its lock file changed): run 'make test-platforms' once"; }

PG_CONFIG=$PG_BINDIR/pg_config
[[ -x $PG_CONFIG ]] || die "no pg_config at $PG_CONFIG (make deps, or PG_CONFIG=...)"
build_log=$(mktemp)
if ! { make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" &&
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" install; } >"$build_log" 2>&1; then
	fail "building and installing loginas against $PG_CONFIG" "$build_log"
fi
rm -f "$build_log"
step "loginas $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') built and installed into $("$PG_CONFIG" --version)"

# --- the cluster --------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
if [[ -d /dev/shm && -w /dev/shm ]] && [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
	TMP=$(TMPDIR=/dev/shm cluster_mktemp loginas-bench-platforms) || die "no temporary directory"
else
	TMP=$(cluster_mktemp loginas-bench-platforms) || die "no temporary directory"
fi
CLUSTER_EXTRA_CONF="shared_preload_libraries = 'loginas'
autovacuum = off
jit = off
shared_buffers = 256MB" cluster_init "$TMP/cluster" >/dev/null || die "cluster_init failed"
cluster_start "$TMP/cluster" || die "the cluster did not start"
cluster_env "$TMP/cluster"
export PGHOST=$CLUSTER_SOCKDIR PGPORT=$CLUSTER_PORT
psql_su() { cluster_psql "$TMP/cluster" --quiet --set=ON_ERROR_STOP=1 "$@"; }
step "throwaway cluster in $TMP (port $CLUSTER_PORT, socket only)"
OUT=$TMP/results
mkdir -p "$OUT"

# The three databases of a platform: the shop made in ${1}_plain by the platform's own tools,
# copied into _installed and _session, the recipe applied in those two; the storefront's role
# gets the recipe's table grants in _plain too (so that every variant runs as the same role).
three_databases() { # three_databases PLATFORM OWNER STOREFRONT
	local p=$1 owner=$2 storefront=$3 v
	for v in installed session; do
		psql_su --dbname=postgres -c "CREATE DATABASE ${p}_$v TEMPLATE ${p}_plain OWNER $owner" >/dev/null
	done
	psql_su --dbname="${p}_plain" >/dev/null <<-SQL
		GRANT USAGE ON SCHEMA public TO $storefront;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO $storefront;
		GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO $storefront;
	SQL
	for v in installed session; do
		psql_su --dbname="${p}_$v" <"$ROOT/docs/platforms/$p.sql" >"$OUT/$p-recipe-$v.log" 2>&1 ||
			fail "docs/platforms/$p.sql in ${p}_$v" "$OUT/$p-recipe-$v.log"
	done
	# the same planner statistics everywhere
	for v in plain installed session; do
		psql_su --dbname="${p}_$v" -c 'VACUUM ANALYZE' >/dev/null
	done
	psql_su --dbname=postgres -c CHECKPOINT >/dev/null
	step "$p: databases ${p}_plain (no loginas), ${p}_installed and ${p}_session (docs/platforms/$p.sql applied)"
}

coordinate() { # coordinate PLATFORM: the rounds, by test/platforms/bench-coordinate.js
	local f
	if ! BENCH_ROUNDS=$ROUNDS BENCH_CALLS=$CALLS BENCH_WARMUP=$WARMUP \
		node "$SRC/bench-coordinate.js" run "$1" "$OUT/$1.json" 2>&1 | tee "$OUT/$1-coordinate.log" ||
		[[ ! -s $OUT/$1.json ]]; then
		for f in "$OUT/$1"-plain.log "$OUT/$1"-installed.log "$OUT/$1"-session.log; do
			[[ -f $f ]] || continue
			echo "--- $f (last lines)" >&2
			grep -v -e '^    at ' "$f" | tail -n 8 >&2
		done
		die "$1: the bench did not complete"
	fi
}

# --- Vendure ------------------------------------------------------------------------------------
if platform vendure; then
	t0=$SECONDS
	export NODE_PATH=$CACHE/vendure/node_modules
	export VENDURE_OWNER=vendure_owner VENDURE_STOREFRONT=vendure_storefront VENDURE_BACKEND=vendure_backend \
		VENDURE_REPORTS=vendure_reports VENDURE_IDS=$OUT/vendure-ids.json
	psql_su --dbname=postgres >/dev/null <<-'SQL'
		CREATE ROLE vendure_owner LOGIN;
		CREATE ROLE vendure_storefront LOGIN;
		CREATE DATABASE vendure_plain OWNER vendure_owner;
	SQL
	(cd "$SRC/vendure" && PGDATABASE=vendure_plain timeout 300 node seed.js "$VENDURE_IDS") >"$OUT/vendure-seed.log" 2>&1 ||
		fail "Vendure's bootstrap and seed.js" "$OUT/vendure-seed.log"
	three_databases vendure vendure_owner vendure_storefront
	step "vendure: shop made by seed.js and copied ($((SECONDS - t0)) s)"
	coordinate vendure
	unset NODE_PATH
fi

# --- Medusa ---------------------------------------------------------------------------------------
if platform medusa; then
	t0=$SECONDS
	APP=$TMP/medusa-app
	mkdir -p "$APP"
	cp "$SRC/medusa/medusa-config.js" "$SRC/medusa/package.json" "$APP/"
	ln -s "$CACHE/medusa/node_modules" "$APP/node_modules"
	MEDUSA_BIN=$TMP/medusa
	printf '#!/bin/sh\ncd "%s" && exec "%s/node_modules/.bin/medusa" "$@"\n' "$APP" "$APP" >"$MEDUSA_BIN"
	chmod +x "$MEDUSA_BIN"
	export MEDUSA_BIN NODE_PATH=$CACHE/medusa/node_modules MEDUSA_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
	export MEDUSA_IDS=$OUT/medusa-ids.json MEDUSA_STOREFRONT=medusa_storefront MEDUSA_BACKEND=medusa_backend \
		MEDUSA_REPORTS=medusa_reports
	psql_su --dbname=postgres >/dev/null <<-'SQL'
		CREATE ROLE medusa_owner LOGIN;
		CREATE ROLE medusa_storefront LOGIN;
		CREATE DATABASE medusa_plain OWNER medusa_owner;
	SQL
	PGUSER=medusa_owner PGDATABASE=medusa_plain DATABASE_URL="postgres:///medusa_plain?sslmode=disable" \
		timeout 400 "$MEDUSA_BIN" db:migrate >"$OUT/medusa-migrate.log" 2>&1 ||
		fail "medusa db:migrate" "$OUT/medusa-migrate.log"
	PGUSER=medusa_owner PGDATABASE=medusa_plain DATABASE_URL="postgres:///medusa_plain?sslmode=disable" \
		timeout 300 "$MEDUSA_BIN" exec "$SRC/medusa/seed.js" >"$OUT/medusa-seed.log" 2>&1 && [[ -s $MEDUSA_IDS ]] ||
		fail "Medusa's seed.js" "$OUT/medusa-seed.log"
	three_databases medusa medusa_owner medusa_storefront
	step "medusa: schema by medusa db:migrate, shop by seed.js, copied ($((SECONDS - t0)) s)"
	export PGUSER=$MEDUSA_STOREFRONT   # Medusa's role: libpq's environment (medusa.sh does the same)
	coordinate medusa
	unset NODE_PATH PGUSER
fi

# --- the report -------------------------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
files=()
for p in ${PLATFORMS//,/ }; do files+=("$OUT/$p.json"); done
tables=$(node "$SRC/bench-coordinate.js" report "${files[@]}") || die "the report failed"
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
versions=()
platform vendure && versions+=("Vendure $(node -p "require('$CACHE/vendure/node_modules/@vendure/core/package.json').version")")
platform medusa && versions+=("Medusa $(node -p "require('$CACHE/medusa/node_modules/@medusajs/medusa/package.json').version")")
report=$(
	echo "### $started_at — $( ((SMOKE)) && echo 'smoke run' || echo 'make bench-platforms')"
	echo
	echo "- machine: $(uname -m), ${cpu:-unknown CPU}, $(nproc) CPUs; load average (1/5/15 min) $load_before at the start, $load_after at the end"
	echo "- $(psql_su --dbname=postgres -Atc 'SELECT version()' | sed 's/,.*//'); throwaway cluster in $(dirname "$TMP") (test/lib/cluster.sh: fsync, synchronous_commit and full_page_writes off; loginas preloaded; autovacuum off, jit off, shared_buffers 256MB); Node $(node --version)"
	echo "- $(IFS=,; echo "${versions[*]}" | sed 's/,/, /g'); $ROUNDS rounds interleaved, $CALLS timed calls per variant, measure and round after $WARMUP untimed ones"
	echo "- loginas $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	printf '%s\n' "$tables"
)
echo
printf '%s\n' "$report"
if ((APPEND)); then
	printf '\n%s\n' "$report" >>"$ROOT/docs/benchmarks.md"
	echo
	echo "bench-platforms: appended to docs/benchmarks.md"
fi
((SMOKE)) && echo "bench-platforms: smoke run ok"
exit 0
