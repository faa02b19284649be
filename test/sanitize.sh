#!/usr/bin/env bash
# test/sanitize.sh — owns `make sanitize`: the C code under
# UndefinedBehaviorSanitizer, on a throwaway cluster.
#
#   1. builds loginas out of tree (a copy of Makefile, control, src/, sql/ in a
#      temp dir; the checkout's own objects are left alone) with
#        -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
#      (LOGINAS_SANITIZE_FLAGS overrides them); the library then needs the
#      UBSan runtime (libubsan.so.1), which the dynamic loader brings in when
#      PostgreSQL loads loginas -- the server itself is not instrumented;
#   2. installs it into a private, relocated copy of the PostgreSQL 15
#      installation (bin/ copied, lib/ and share/ symlinked file by file), so
#      the system-wide installation other clusters use is never touched;
#   3. runs, on a throwaway cluster (test/lib/cluster.sh) started with
#      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:
#        pass 1  the pg_regress suites of the Makefile's REGRESS and every
#                isolation spec -- they must pass;
#        pass 2  the server restarted with shared_preload_libraries = loginas
#                (the durable refusal log: launcher, workers, shared queue) and
#                the pg_regress suites again -- their diffs are expected (the
#                suites assume no preload) and only reported;
#        TAP     with LOGINAS_SANITIZE_TAP=1, every test/t/*.pl against the
#                sanitized installation too;
#   4. fails on any sanitizer report or crashed server process in any server
#      log ("runtime error", "Sanitizer", "terminated by signal");
#   5. proves the check can see a report: a canary C function with undefined
#      behaviour (a shift by 40), built with the same flags, must be reported.
#
# AddressSanitizer is not used: it must be the first library of the process
# (LD_PRELOAD of libasan into every postgres process, which then runs all of
# PostgreSQL's own uninstrumented allocations through ASan's allocator) and it
# cannot see overruns inside palloc'd memory contexts anyway.  See the notes in
# docs/guarantees.md.
#
# The last line is "sanitize: ok" or "sanitize: FAILED (...)"; the exit status
# is non-zero on failure.  KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"

SYS_BINDIR=$PG_BINDIR
SYS_PG_CONFIG=$SYS_BINDIR/pg_config
SAN_FLAGS=${LOGINAS_SANITIZE_FLAGS:--fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LANG=C.UTF-8
unset LC_ALL LANGUAGE

TMP=""
FAILURES=()
LOGS=()

say() { printf -- '--- %s\n' "$*"; }
fail() { FAILURES+=("$*"); printf -- '--- FAILED: %s\n' "$*"; }

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $TMP && -d $TMP ]]; then
		# TAP nodes left behind by an interrupted prove
		find "$TMP/tap" -name postmaster.pid -type f 2>/dev/null | while IFS= read -r pidfile; do
			cluster_run_as "$PG_BINDIR/pg_ctl" stop --wait --mode=immediate \
				--pgdata="$(dirname "$pidfile")" >/dev/null 2>&1
		done
		if [[ -n ${KEEP_TMP:-} ]]; then
			cluster_stop "$TMP/cluster"
			echo "sanitize: KEEP_TMP set: everything kept in $TMP" >&2
		elif cluster_destroy "$TMP/cluster"; then
			rm -rf -- "$TMP"
		fi
	fi
	if ((rc != 0)) && ((${#FAILURES[@]} == 0)); then
		FAILURES+=("aborted with status $rc")
	fi
	if ((${#FAILURES[@]})); then
		echo "sanitize: FAILED (${FAILURES[*]})"
		exit 1
	fi
	echo "sanitize: ok"
	exit 0
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x $SYS_PG_CONFIG ]] || { echo "sanitize: $SYS_PG_CONFIG not found (run make deps)" >&2; exit 1; }
PGXS_SRC=$(dirname "$(dirname "$("$SYS_PG_CONFIG" --pgxs)")")
TMP=$(cluster_mktemp loginas-sanitize)

# --- 1. the sanitized build -------------------------------------------------
say "building with $SAN_FLAGS"
BUILD=$TMP/build
mkdir -p "$BUILD"
cp -R "$ROOT/Makefile" "$ROOT/loginas.control" "$ROOT/src" "$ROOT/sql" "$BUILD/"
rm -f "$BUILD"/src/*.o "$BUILD"/src/*.bc "$BUILD"/*.so
MAKE_ARGS=(-s --no-print-directory -C "$BUILD" PG_CONFIG="$SYS_PG_CONFIG" with_llvm=no "COPT=$SAN_FLAGS")
make "${MAKE_ARGS[@]}" all
if ! readelf -d "$BUILD/loginas.so" | grep -q 'NEEDED.*libubsan'; then
	echo "sanitize: loginas.so does not need libubsan: the flags did not reach the link" >&2
	exit 1
fi

# --- 2. a private installation ----------------------------------------------
# PostgreSQL finds share/ and lib/ relative to its binaries, so a copy of bin/
# next to symlinked lib/ and share/ trees is a complete installation.
SYS_LIBDIR=$("$SYS_PG_CONFIG" --pkglibdir)
SYS_SHAREDIR=$("$SYS_PG_CONFIG" --sharedir)
PREFIX=$TMP/pg
mkdir -p "$PREFIX$(dirname "$SYS_BINDIR")" "$PREFIX$(dirname "$SYS_SHAREDIR")"
cp -R "$SYS_BINDIR" "$PREFIX$SYS_BINDIR"
[[ -e $PREFIX$SYS_LIBDIR ]] || cp -Rs "$SYS_LIBDIR" "$PREFIX$SYS_LIBDIR"
cp -Rs "$SYS_SHAREDIR" "$PREFIX$SYS_SHAREDIR"
rm -f "$PREFIX$SYS_LIBDIR/loginas.so" "$PREFIX$SYS_SHAREDIR"/extension/loginas[.-]*
make "${MAKE_ARGS[@]}" install DESTDIR="$PREFIX"
PG_BINDIR=$PREFIX$SYS_BINDIR
if [[ $("$PG_BINDIR/pg_config" --pkglibdir) != "$PREFIX$SYS_LIBDIR" ]]; then
	echo "sanitize: the private installation does not relocate ($("$PG_BINDIR/pg_config" --pkglibdir))" >&2
	exit 1
fi
say "private installation: $PREFIX (pkglibdir $PREFIX$SYS_LIBDIR)"

# --- 3. the suites -----------------------------------------------------------
mkdir -p "$TMP/work" "$TMP/out" "$TMP/tap" "$TMP/tmp"
for d in sql expected test; do
	cp -R "$ROOT/$d" "$TMP/work/"
done
# (the build and the private installation stay root's, readable by all)
cluster__give "$TMP/work" "$TMP/out" "$TMP/tap" "$TMP/tmp"

cluster_init "$TMP/cluster"
cluster_start "$TMP/cluster"
cluster_env "$TMP/cluster"
LOGS+=("$CLUSTER_LOG")
say "cluster: socket $CLUSTER_SOCKDIR, port $CLUSTER_PORT, UBSAN_OPTIONS=$UBSAN_OPTIONS"

read -r -a SUITES <<<"$(make -s --no-print-directory -C "$ROOT" PG_CONFIG="$SYS_PG_CONFIG" print-REGRESS)"
SPECS=()
if [[ -d $TMP/work/test/isolation/specs ]]; then
	while IFS= read -r f; do
		SPECS+=("$(basename "$f" .spec)")
	done < <(find "$TMP/work/test/isolation/specs" -maxdepth 1 -name '*.spec' -type f | sort)
fi

# run_regress LABEL OUTDIR PROGRAM ARGS...: 0 when every test passed
run_regress() {
	local label=$1 outdir=$2 prog=$3
	shift 3
	mkdir -p "$outdir"
	cluster__give "$outdir"
	cluster_run_as "$prog" --bindir="$PG_BINDIR" --outputdir="$outdir" \
		--host="$CLUSTER_SOCKDIR" --port="$CLUSTER_PORT" --user="$CLUSTER_SUPERUSER" "$@" \
		>"$TMP/$label.log" 2>&1
}

say "pass 1: pg_regress ${SUITES[*]}"
if run_regress regress "$TMP/out/regress" "$PGXS_SRC/test/regress/pg_regress" \
	--inputdir="$TMP/work" --load-extension=pgcrypto --dbname=contrib_regression "${SUITES[@]}"; then
	say "pass 1: pg_regress passed"
else
	fail "pass 1: pg_regress (see $TMP/out/regress/regression.diffs)"
	grep -E '^(test| )' "$TMP/regress.log" || true
fi
if ((${#SPECS[@]})); then
	say "pass 1: isolation ${SPECS[*]}"
	if run_regress isolation "$TMP/out/isolation" "$PGXS_SRC/test/isolation/pg_isolation_regress" \
		--inputdir="$TMP/work/test/isolation" --load-extension=pgcrypto --load-extension=loginas \
		--dbname=isolation_regression "${SPECS[@]}"; then
		say "pass 1: isolation passed"
	else
		fail "pass 1: isolation (see $TMP/out/isolation/regression.diffs)"
	fi
fi

say "pass 2: shared_preload_libraries = loginas, pg_regress again (diffs expected, not counted)"
cluster_stop "$TMP/cluster"
cluster_run_as tee -a "$CLUSTER_DATA/postgresql.conf" >/dev/null <<<"shared_preload_libraries = 'loginas'"
cluster_start "$TMP/cluster"
run_regress regress-preload "$TMP/out/preload" "$PGXS_SRC/test/regress/pg_regress" \
	--inputdir="$TMP/work" --load-extension=pgcrypto --dbname=contrib_regression_preload "${SUITES[@]}" || true
grep -E '^(test| )' "$TMP/regress-preload.log" | sed 's/^/    /' || true
# one more refusal, and its 'failure' row written by a refusal log worker
# (the suites' own ones were purged by the log suite)
cluster_psql "$TMP/cluster" --dbname=contrib_regression_preload --quiet \
	--command="SELECT * FROM loginas.begin(1, 1)" >/dev/null 2>&1 || true
written=0
for _ in $(seq 1 40); do
	written=$(cluster_psql "$TMP/cluster" --dbname=contrib_regression_preload --no-align --tuples-only \
		--command="SELECT count(*) FROM loginas.action_log WHERE action = 'begin_refused'" 2>/dev/null || echo 0)
	((written > 0)) && break
	sleep 0.5
done
if ((written > 0)); then
	say "pass 2: the refusal log's worker wrote the refused begin"
else
	fail "pass 2: no refusal log worker wrote the refused begin within 20 s"
fi

if [[ -n ${LOGINAS_SANITIZE_TAP:-} && -d $TMP/work/test/t ]]; then
	say "TAP: test/t/*.pl against the sanitized installation"
	TAP_ENV=("PATH=$PG_BINDIR:$PATH" "TMPDIR=$TMP/tmp" "PERL5LIB=$PGXS_SRC/test/perl:$TMP/work/test"
		"TESTDIR=$TMP/tap" "PG_REGRESS=$PGXS_SRC/test/regress/pg_regress" "PG_CONFIG=$PG_BINDIR/pg_config"
		"LOGINAS_SRCDIR=$TMP/work" "UBSAN_OPTIONS=$UBSAN_OPTIONS")
	for f in "$TMP"/work/test/t/*.pl; do
		if cluster_run_in "$TMP/work/test" env "${TAP_ENV[@]}" prove --norc "t/$(basename "$f")" \
			>"$TMP/tap-$(basename "$f" .pl).log" 2>&1; then
			say "TAP $(basename "$f"): ok"
		else
			fail "TAP $(basename "$f") (see $TMP/tap-$(basename "$f" .pl).log)"
		fi
	done
	while IFS= read -r f; do
		LOGS+=("$f")
	done < <(find "$TMP/tap" -name '*.log' -path '*/log/*' -type f 2>/dev/null)
fi

# --- 4. any report? ----------------------------------------------------------
# In our cluster's log a crashed server process counts too (with
# halt_on_error a report ends the process: exit code 1, then a crash
# restart); the TAP tests crash their nodes on purpose, so in their logs only
# sanitizer reports count.
SAN_RE='runtime error|Sanitizer'
CRASH_RE='terminated by signal|was terminated by exception|terminating any other active server processes'
reports=0
for log in "${LOGS[@]}"; do
	re=$SAN_RE
	[[ $log == "$CLUSTER_LOG" ]] && re="$SAN_RE|$CRASH_RE"
	if grep -E -q "$re" "$log"; then
		reports=$((reports + 1))
		fail "sanitizer report or crash in $log"
		grep -E -B2 -A25 "$re" "$log" | head -n 80
	fi
done
((reports == 0)) && say "no sanitizer report, no crashed server process (${#LOGS[@]} server log(s))"

# --- 5. the canary: the check does see a report -------------------------------
CANARY=$TMP/canary
mkdir -p "$CANARY"
cat >"$CANARY/loginas_ubsan_canary.c" <<'EOF'
#include "postgres.h"
#include "fmgr.h"

PG_MODULE_MAGIC;
PG_FUNCTION_INFO_V1(loginas_ubsan_canary);

Datum
loginas_ubsan_canary(PG_FUNCTION_ARGS)
{
	int32		bits = PG_GETARG_INT32(0);

	PG_RETURN_INT32(1 << bits);		/* undefined for bits >= 32 */
}
EOF
cat >"$CANARY/Makefile" <<'EOF'
MODULES = loginas_ubsan_canary
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
EOF
make -s --no-print-directory -C "$CANARY" PG_CONFIG="$SYS_PG_CONFIG" with_llvm=no "COPT=$SAN_FLAGS" all
before=$(wc -l <"$CLUSTER_LOG")
cluster_psql "$TMP/cluster" --dbname=postgres --quiet \
	--command="CREATE FUNCTION pg_temp.canary(int) RETURNS int LANGUAGE c STRICT AS '$CANARY/loginas_ubsan_canary', 'loginas_ubsan_canary'" \
	--command="SELECT pg_temp.canary(40)" >/dev/null 2>&1 || true
sleep 1
if tail -n +"$((before + 1))" "$CLUSTER_LOG" | grep -q 'runtime error: shift exponent 40'; then
	say "canary: a deliberate shift by 40 was reported (the check works)"
else
	fail "canary: the deliberate undefined behaviour was not reported -- the sanitizer is not active"
fi
