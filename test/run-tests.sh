#!/usr/bin/env bash
# test/run-tests.sh — owns `make test`: installs missing packages, builds and
# installs the extension, starts a throwaway cluster (test/lib/cluster.sh) and
# runs every suite against the installed extension:
#   pg_regress            suites named in the Makefile's REGRESS
#                         (sql/<name>.sql, expected/<name>.out)
#   pg_isolation_regress  every test/isolation/specs/<name>.spec
#                         (expected: test/isolation/expected/<name>.out)
#   TAP (prove)           every test/t/*.pl (PostgreSQL::Test::Cluster)
#   PHP client            docs/examples/php/client.php on a database holding
#                         the demo shop (test/demo/shop.sql) and the example's
#                         setup.sql; one test, passed when it ends "php client: ok"
#   packaging             test/meta-check.sh: META.json agrees with loginas.control
# LOGINAS_ONLY_TAP=<name> (make fuzz, make memory) runs only test/t/<name>.pl;
# LOGINAS_ONLY_REGRESS=1 runs only pg_regress and isolation (a quick loop).
# The last line of output is always "N passed, M failed"; the exit status is
# non-zero when M > 0 or anything could not run.  KEEP_TMP=1 keeps the temp
# dir (results/, regression.diffs, TAP logs) after stopping the cluster.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"

PG_CONFIG=$PG_BINDIR/pg_config
EXTENSION=""    # read from the Makefile once make exists
PG_MAJOR=""     # the major of $PG_CONFIG, once it exists
REGRESS_DB=contrib_regression
ISOLATION_DB=isolation_regression

# Deterministic messages and collation for every tool we start.
export LANG=C.UTF-8
unset LC_ALL LANGUAGE

PASSED=0
FAILED=0
SUMMARY=()      # one line per suite, printed before the final count
STAGE=startup   # what we were doing, for the abort message
COMPLETED=0     # set once every suite has had its turn
TMP=""          # everything temporary: cluster, input copy, outputs

# make_print VAR: the value of a Makefile variable (via its print-% rule).
make_print() {
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" "print-$1"
}

header() { printf '\n======== %s ========\n' "$*"; }
note() { printf -- '--- %s\n' "$*"; }

# record SUITE PASSED FAILED [REMARK]
record() {
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	SUMMARY+=("$(printf '%-14s %3d passed, %3d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
	note "$1: $2 passed, $3 failed${4:+ ($4)}"
}

# Nodes started by an interrupted TAP test (PostgreSQL::Test::Cluster only
# stops them from an END block, which a signal skips).  They all live under
# our own $TMP/tap, so stopping them touches nothing we did not start.
stop_tap_nodes() {
	local pidfile
	[[ -n $TMP && -d $TMP/tap ]] || return 0
	while IFS= read -r pidfile; do
		note "stopping leftover TAP node $(dirname "$pidfile")"
		cluster_run_as "$PG_BINDIR/pg_ctl" stop --wait --mode=immediate \
			--pgdata="$(dirname "$pidfile")" >/dev/null 2>&1 || true
	done < <(find "$TMP/tap" -name postmaster.pid -type f 2>/dev/null)
}

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	stop_tap_nodes
	if [[ -n $TMP && -d $TMP && -n ${KEEP_TMP:-} ]]; then
		cluster_stop "$TMP/cluster"
		echo "run-tests: KEEP_TMP set: outputs kept in $TMP (out/, tap/tmp_check/)" >&2
	elif [[ -n $TMP && -d $TMP ]]; then
		if cluster_destroy "$TMP/cluster"; then
			rm -rf -- "$TMP"
		else
			echo "run-tests: could not stop the cluster in $TMP/cluster; left it in place" >&2
		fi
	fi
	if ((COMPLETED == 0)); then
		echo "run-tests: aborted during $STAGE (exit status $rc); counted as 1 failure" >&2
		SUMMARY+=("$(printf '%-14s aborted' "$STAGE")")
		FAILED=$((FAILED + 1))
	fi
	header "summary"
	if ((${#SUMMARY[@]})); then
		printf '%s\n' "${SUMMARY[@]}"
	fi
	echo "$PASSED passed, $FAILED failed"
	if ((rc != 0)); then
		exit "$rc"
	fi
	((FAILED == 0)) || exit 1
	exit 0
}

# Count the per-test status lines pg_regress and pg_isolation_regress print.
# Prints "passed failed".  Two formats:
#   15:  "test <name> ... ok", "... FAILED", "... failed (ignored)" (parallel
#        groups: "     <name> ... ok")
#   16+: TAP, "ok 1         - <name>   12 ms", "not ok 3     - <name> ..."
#        ("+" instead of "-" in parallel groups)
count_pg_regress_log() {
	awk '
		/^(test +| +)?[^ ]+ +\.\.\. +ok( |$)/                 { p++ }
		/^(test +| +)?[^ ]+ +\.\.\. +(FAILED|failed)( |$)/  { f++ }
		/^ok +[0-9]+ +[-+] /                                  { p++ }
		/^not ok +[0-9]+ +[-+] /                              { f++ }
		END { printf "%d %d\n", p, f }
	' "$1"
}

# run_pg_regress_suite LABEL PROGRAM OUTPUTDIR EXPECTED_COUNT ARGS... TESTS...
# Runs the program as the cluster user, tees its output, counts results.
# Tests that never reported a status (the run aborted) count as failures.
run_pg_regress_suite() {
	local label=$1 prog=$2 outdir=$3 want=$4
	shift 4
	local log="$TMP/$label.log" rc=0 counts p f missing remark=""

	mkdir -p "$outdir" && cluster__give "$outdir"
	cluster_run_as "$prog" --bindir="$PG_BINDIR" --outputdir="$outdir" \
		--host="$CLUSTER_SOCKDIR" --port="$CLUSTER_PORT" \
		--user="$CLUSTER_SUPERUSER" "$@" 2>&1 | tee "$log" || rc=$?

	counts=$(count_pg_regress_log "$log")
	p=${counts% *}
	f=${counts#* }
	missing=$((want - p - f))
	if ((missing > 0)); then
		remark="$missing test(s) did not run"
		f=$((f + missing))
	elif ((rc != 0 && f == 0)); then
		remark="$(basename "$prog") exited with status $rc"
		f=$((f + 1))
	fi
	if ((rc != 0)) && [[ -s $outdir/regression.diffs ]]; then
		note "$outdir/regression.diffs:"
		cat "$outdir/regression.diffs"
	fi
	record "$label" "$p" "$f" "$remark"
}

step_deps() {
	STAGE=deps
	header "dependencies (test/deps.sh)"
	bash "$ROOT/test/deps.sh"
}

step_build() {
	STAGE=build
	header "build and install"
	local mk=(make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG")
	if ! "${mk[@]}"; then
		echo "run-tests: BUILD FAILED (make)" >&2
		return 1
	fi
	# scripts an earlier build installed (a version's complete script that is
	# no longer built) would change what CREATE EXTENSION ... VERSION runs
	rm -f -- "$("$PG_CONFIG" --sharedir)"/extension/"$EXTENSION"--*.sql
	if ! "${mk[@]}" install; then
		echo "run-tests: INSTALL FAILED (make install)" >&2
		return 1
	fi
	note "built and installed $EXTENSION into $("$PG_CONFIG" --sharedir)/extension"
}

step_cluster() {
	STAGE=cluster
	header "throwaway cluster"
	TMP=$(cluster_mktemp loginas-test)
	cluster_init "$TMP/cluster"
	cluster_start "$TMP/cluster"
	cluster_env "$TMP/cluster"
	note "running as OS user $CLUSTER_OS_USER, socket $CLUSTER_SOCKDIR, port $CLUSTER_PORT"

	# A private copy of the test inputs the cluster user can read and write,
	# whatever the permissions of the checkout.
	local d
	mkdir -p "$TMP/work"
	for d in sql expected input output test; do
		if [[ -d $ROOT/$d ]]; then
			cp -R "$ROOT/$d" "$TMP/work/"
		fi
	done
	mkdir -p "$TMP/out" "$TMP/tap" "$TMP/tmp"
	cluster__give "$TMP/work" "$TMP/out" "$TMP/tap" "$TMP/tmp"
}

step_regress() {
	[[ -z ${LOGINAS_ONLY_TAP:-} ]] || { note "LOGINAS_ONLY_TAP set: skipped"; return 0; }
	STAGE=pg_regress
	header "pg_regress"
	local list suites=()
	list=$(make_print REGRESS)
	read -r -a suites <<<"$list"
	if ((${#suites[@]} == 0)); then
		note "REGRESS in the Makefile is empty: skipped"
		return 0
	fi
	note "suites (Makefile REGRESS): ${suites[*]}"
	run_pg_regress_suite pg_regress "$PGXS_SRC/test/regress/pg_regress" \
		"$TMP/out/regress" "${#suites[@]}" \
		--inputdir="$TMP/work" --load-extension=pgcrypto \
		--dbname="$REGRESS_DB" "${suites[@]}"
}

step_isolation() {
	[[ -z ${LOGINAS_ONLY_TAP:-} ]] || { note "LOGINAS_ONLY_TAP set: skipped"; return 0; }
	STAGE=isolation
	header "pg_isolation_regress"
	local dir="$TMP/work/test/isolation" specs=() f
	if [[ -d $dir/specs ]]; then
		while IFS= read -r f; do
			specs+=("$(basename "$f" .spec)")
		done < <(find "$dir/specs" -maxdepth 1 -name '*.spec' -type f | sort)
	fi
	if ((${#specs[@]} == 0)); then
		note "no specs in test/isolation/specs: skipped"
		return 0
	fi
	note "specs: ${specs[*]}"
	run_pg_regress_suite isolation "$PGXS_SRC/test/isolation/pg_isolation_regress" \
		"$TMP/out/isolation" "${#specs[@]}" \
		--inputdir="$dir" --load-extension=pgcrypto --load-extension="$EXTENSION" \
		--dbname="$ISOLATION_DB" "${specs[@]}"
}

# Environment the PG15 TAP modules need outside the PostgreSQL build tree
# (PostgreSQL::Test::Utils/Cluster): PATH to find initdb/pg_ctl/psql/pg_config,
# PERL5LIB for the modules, TESTDIR (tmp_check/ with logs, node data and the
# port lock dir goes there), PG_REGRESS (Cluster->init runs --config-auth).
# TMPDIR keeps the nodes' socket dirs inside our temp dir as well.
tap_env() {
	printf '%s\n' \
		"PATH=$PG_BINDIR:$PATH" \
		"TMPDIR=$TMP/tmp" \
		"PERL5LIB=$PGXS_SRC/test/perl:$TMP/work/test${PERL5LIB:+:$PERL5LIB}" \
		"TESTDIR=$TMP/tap" \
		"PG_REGRESS=$PGXS_SRC/test/regress/pg_regress" \
		"PG_CONFIG=$PG_CONFIG" \
		"LOGINAS_SRCDIR=$TMP/work"
}

step_tap() {
	[[ -z ${LOGINAS_ONLY_REGRESS:-} ]] || return 0
	STAGE=tap
	header "TAP (prove)"
	local files=() f name log rc counts p f_ total_p=0 total_f=0 remark=""
	if [[ -d $TMP/work/test/t ]]; then
		while IFS= read -r f; do
			files+=("$f")
		done < <(find "$TMP/work/test/t" -maxdepth 1 -name "${LOGINAS_ONLY_TAP:-*}.pl" -type f | sort)
	fi
	if ((${#files[@]} == 0)); then
		note "no test/t/*.pl: skipped"
		return 0
	fi

	local env_args=()
	mapfile -t env_args < <(tap_env)
	for f in "${files[@]}"; do
		name=$(basename "$f" .pl)
		log="$TMP/tap-$name.log"
		note "t/$name.pl"
		rc=0
		cluster_run_in "$TMP/work/test" env "${env_args[@]}" \
			prove -v --norc "t/$name.pl" 2>&1 | tee "$log" || rc=$?
		# Numbered top-level TAP lines only: subtests are indented, and prove's
		# own per-file verdict is a bare "ok"/"Failed".  A "not ok" marked TODO
		# is an expected failure and counts as passed, as in TAP itself.
		counts=$(awk '
			/^not ok [0-9]+/ && /# *TODO/ { p++; next }
			/^not ok [0-9]+/              { f++; next }
			/^ok [0-9]+/                  { p++ }
			END { printf "%d %d\n", p, f }
		' "$log")
		p=${counts% *}
		f_=${counts#* }
		if ((rc != 0 && f_ == 0)); then
			echo "t/$name.pl failed without a failing assertion (died, bad plan or non-zero exit)"
			f_=1
			remark="a test file failed outside its assertions"
		fi
		if ((rc != 0)) && [[ -f $TMP/tap/tmp_check/log/regress_log_$name ]]; then
			note "last lines of tmp_check/log/regress_log_$name:"
			tail -n 40 "$TMP/tap/tmp_check/log/regress_log_$name"
		fi
		total_p=$((total_p + p))
		total_f=$((total_f + f_))
	done
	record tap "$total_p" "$total_f" "$remark"
}

# The PHP client example (docs/examples/php, PDO pgsql): a database of its own
# on our cluster, loaded as the superuser with the demo shop and the example's
# setup.sql, then client.php plays the admin backend, the storefront and
# reporting over the socket, as their login roles.  One test.
step_php() {
	[[ -z ${LOGINAS_ONLY_REGRESS:-} ]] || return 0
	[[ -z ${LOGINAS_ONLY_TAP:-} ]] || { note "LOGINAS_ONLY_TAP set: skipped"; return 0; }
	STAGE=php
	header "PHP client (docs/examples/php)"
	local dir="$TMP/work/php" db=php_client log="$TMP/php-client.log" rc=0
	if ! command -v php >/dev/null 2>&1; then
		record php 0 1 "php not found (test/deps.sh installs php-cli, php-pgsql)"
		return 0
	fi
	# a copy the cluster user can read, whatever the permissions of the checkout
	mkdir -p "$dir"
	cp "$ROOT"/docs/examples/php/*.php "$ROOT/docs/examples/php/setup.sql" "$ROOT/test/demo/shop.sql" "$dir/"
	cluster__give "$dir"
	if ! cluster_psql "$TMP/cluster" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 \
		--command="CREATE DATABASE $db" ||
		! cluster_psql "$TMP/cluster" --dbname="$db" --quiet --set=ON_ERROR_STOP=1 \
			--file="$dir/shop.sql" >/dev/null ||
		! cluster_psql "$TMP/cluster" --dbname="$db" --quiet --set=ON_ERROR_STOP=1 \
			--file="$dir/setup.sql" >/dev/null; then
		record php 0 1 "could not load test/demo/shop.sql and docs/examples/php/setup.sql"
		return 0
	fi
	note "database $db: demo shop and setup.sql loaded"
	cluster_run_in "$dir" php client.php --host="$CLUSTER_SOCKDIR" --port="$CLUSTER_PORT" \
		--dbname="$db" 2>&1 | tee "$log" || rc=$?
	if ((rc == 0)) && [[ $(tail -n 1 "$log") == "php client: ok" ]]; then
		record php 1 0
	else
		record php 0 1 "client.php exited with status $rc"
	fi
}

# The benchmark at smoke size (test/bench/bench.sh --smoke --existing): its own
# database on our cluster; it also checks what each step did (stamps, rows,
# log rows), so the bench cannot rot.  One test.
step_bench_smoke() {
	[[ -z ${LOGINAS_ONLY_REGRESS:-} ]] || return 0
	[[ -z ${LOGINAS_ONLY_TAP:-} ]] || { note "LOGINAS_ONLY_TAP set: skipped"; return 0; }
	STAGE=bench
	header "bench (smoke: test/bench/bench.sh --smoke --existing)"
	local rc=0
	PGHOST=$CLUSTER_SOCKDIR PGPORT=$CLUSTER_PORT PGUSER=$CLUSTER_SUPERUSER \
		bash "$ROOT/test/bench/bench.sh" --smoke --existing 2>&1 | tee "$TMP/bench.log" || rc=$?
	if ((rc == 0)) && grep -q 'bench: smoke run ok' "$TMP/bench.log" &&
		grep -q "^## .* — PostgreSQL $PG_MAJOR\$" "$TMP/bench.log"; then
		record bench 1 0
	elif ((rc == 0)); then
		record bench 0 1 "bench.sh --smoke: no 'smoke run ok', or its report does not name PostgreSQL $PG_MAJOR"
	else
		record bench 0 1 "bench.sh --smoke exited with status $rc"
	fi
}

# The action-log benchmark at smoke size (test/bench/log_bench.sh --smoke --existing):
# its own databases on our cluster; generated hash chains must pass verify_log(),
# every pgbench append is counted, the reports' plans are captured.  One test.
step_log_bench_smoke() {
	[[ -z ${LOGINAS_ONLY_REGRESS:-} ]] || return 0
	[[ -z ${LOGINAS_ONLY_TAP:-} ]] || { note "LOGINAS_ONLY_TAP set: skipped"; return 0; }
	STAGE=log-bench
	header "log bench (smoke: test/bench/log_bench.sh --smoke --existing)"
	local rc=0
	PGHOST=$CLUSTER_SOCKDIR PGPORT=$CLUSTER_PORT PGUSER=$CLUSTER_SUPERUSER \
		bash "$ROOT/test/bench/log_bench.sh" --smoke --existing 2>&1 | tee "$TMP/log_bench.log" || rc=$?
	if ((rc == 0)) && grep -q 'log bench: smoke run ok' "$TMP/log_bench.log" &&
		grep -q "^### .* — PostgreSQL $PG_MAJOR\$" "$TMP/log_bench.log"; then
		record log-bench 1 0
	elif ((rc == 0)); then
		record log-bench 0 1 "log_bench.sh --smoke: no 'smoke run ok', or its report does not name PostgreSQL $PG_MAJOR"
	else
		record log-bench 0 1 "log_bench.sh --smoke exited with status $rc"
	fi
}

# META.json (PGXN) repeats the version of loginas.control: they must agree.
step_meta() {
	STAGE=meta
	header "packaging (test/meta-check.sh)"
	if bash "$ROOT/test/meta-check.sh"; then
		record meta 1 0
	else
		record meta 0 1 "META.json disagrees with loginas.control"
	fi
}

main() {
	trap on_exit EXIT
	trap 'echo; echo "run-tests: interrupted" >&2; exit 130' INT
	trap 'echo "run-tests: terminated" >&2; exit 143' TERM

	step_deps
	# pg_config exists only once the packages are there.
	PGXS_SRC=$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")
	PG_MAJOR=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
	note "PostgreSQL $PG_MAJOR: $PG_BINDIR"
	EXTENSION=$(make_print EXTENSION)
	step_build
	step_cluster
	step_regress
	step_isolation
	step_tap
	step_php
	step_bench_smoke
	step_log_bench_smoke
	step_meta
	COMPLETED=1
}

main "$@"
