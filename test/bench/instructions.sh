#!/usr/bin/env bash
# test/bench/instructions.sh — owns `make bench-instructions`: what loginas'
# write attribution costs, counted in instructions (valgrind's callgrind)
# instead of timed.  On a small shared machine a few per cent of time are
# noise; an instruction count is the same on every run, so it tells where
# a change moved the cost.  It does not count what time also pays for (page
# faults, cache misses, waits): `make bench` measures that.
#
# Usage: bash test/bench/instructions.sh [--rows N] [--loop-rows N] [--keep]
#   --rows N       bulk INSERT/UPDATE size (default 20000)
#   --loop-rows N  single-row INSERTs of the loop (default 5000)
#   --keep         keep the throwaway cluster's directory and the callgrind files
#
# Method: the bench's database (test/bench/schema.sql) in a throwaway
# cluster; the server stopped, one backend in single-user mode runs a script
# of statements under callgrind, which dumps its counts after every
# statement's transaction command (each dump is one statement, with its
# commit's work for a COMMIT).  Each step is warmed up first (the library,
# the trigger's cache, the plans), so that the counts are the steady state.
# Printed: the instructions of each step and its ratio to the same step on
# the untracked table.  Needs valgrind (Debian: valgrind).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"
BENCH_NAME="bench-instructions"
# shellcheck source=test/bench/lib.sh
source "$BENCH/lib.sh"

export LANG=C.UTF-8
unset LC_ALL LANGUAGE

ROWS=20000 LOOP_ROWS=5000 KEEP=0 TMP=""
while (($#)); do
	case $1 in
	--rows) posint "$1" "${2:-}"; ROWS=$2; shift ;;
	--loop-rows) posint "$1" "${2:-}"; LOOP_ROWS=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
command -v valgrind >/dev/null || die "valgrind is not installed (Debian: apt-get install --no-install-recommends valgrind)"
: "${PG_BINDIR:=$(pg_config --bindir)}"

trap bench_stop_cluster EXIT
bench_start_cluster loginas-instr 1 "shared_buffers = 256MB" "max_wal_size = 8GB" "autovacuum = off" "jit = off"
q() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
q -d postgres -c "CREATE DATABASE instr"
q -d instr -c "SET client_min_messages = warning" -c "CREATE EXTENSION loginas CASCADE" >/dev/null
q -d instr -f "$BENCH/reference.sql" -f "$BENCH/common.sql" -f "$BENCH/schema.sql" >/dev/null
KEY=$(q -d instr -At -c "SELECT session_key FROM bench.session_info")
cluster_stop "$TMP/cluster"

# the steps: a label for each statement whose count is reported (the others
# are set-up and warm-up); one statement per line, as single-user mode reads
OUT=$TMP/callgrind
mkdir -p "$OUT"
cluster_run_as chmod 777 "$OUT" 2>/dev/null || chmod 777 "$OUT"
ins() { echo "INSERT INTO bench.$1 SELECT g, 1, 1, (g % 1000) / 10.0, g % 7, now() FROM generate_series($2, $3) g"; }
upd() { echo "UPDATE bench.$1 SET grand_total = grand_total + 1, items_count = items_count + 1, updated_at = now()"; }
STEPS=() LABELS=()
step() { STEPS+=("$2"); LABELS+=("$1"); }
step - "BEGIN"
step - "SELECT loginas.assume('$KEY') IS NOT NULL"
step - "$(ins quote_tracked -10 -1)"
step - "$(ins quote_plain -10 -1)"
step - "SELECT bench.loop_quote_tracked(3, 1, 1)"
step - "SELECT bench.loop_quote_plain(3, 1, 1)"
step - "ROLLBACK"
step insert:untracked "$(ins quote_plain 1 "$ROWS")"
step insert:tracked "$(ins quote_tracked 1 "$ROWS")"
step - "TRUNCATE bench.quote_tracked"
step - "BEGIN"
step - "SELECT loginas.assume('$KEY') IS NOT NULL"
step insert:session "$(ins quote_tracked 1 "$ROWS")"
step insert:session_commit "COMMIT"
step update:untracked "$(upd quote_plain)"
step update:tracked "$(upd quote_tracked)"
step - "BEGIN"
step - "SELECT loginas.assume('$KEY') IS NOT NULL"
step update:session "$(upd quote_tracked)"
step update:session_commit "COMMIT"
step - "TRUNCATE bench.quote_plain, bench.quote_tracked"
step loop:untracked "SELECT bench.loop_quote_plain($LOOP_ROWS, 1, 1)"
step loop:tracked "SELECT bench.loop_quote_tracked($LOOP_ROWS, 1, 1)"
step - "TRUNCATE bench.quote_tracked"
step - "BEGIN"
step - "SELECT loginas.assume('$KEY') IS NOT NULL"
step loop:session "SELECT bench.loop_quote_tracked($LOOP_ROWS, 1, 1)"
step loop:session_commit "COMMIT"
for r in 1 2; do # single-row transactions: the second round is reported
	lab() { ((r == 2)) && echo "$1" || echo -; }
	step - "BEGIN"
	step "$(lab txn:untracked)" "INSERT INTO bench.quote_plain VALUES (-$r, 1, 1, 0, 0, now())"
	step "$(lab txn:untracked_commit)" "COMMIT"
	step - "BEGIN"
	step "$(lab txn:tracked)" "INSERT INTO bench.quote_tracked VALUES (-$r, 1, 1, 0, 0, now())"
	step "$(lab txn:tracked_commit)" "COMMIT"
	step - "BEGIN"
	step "$(lab txn:assume)" "SELECT loginas.assume('$KEY') IS NOT NULL"
	step "$(lab txn:session)" "INSERT INTO bench.quote_tracked VALUES (-1$r, 1, 1, 0, 0, now())"
	step "$(lab txn:session_commit)" "COMMIT"
done
printf '%s\n' "${STEPS[@]}" >"$OUT/script.sql"
chmod 644 "$OUT/script.sql"

echo "$BENCH_NAME: ${#STEPS[@]} statements under callgrind (bulk $ROWS rows, loop $LOOP_ROWS; a few minutes)"
# shellcheck disable=SC2016
cluster_run_as sh -c 'cd "$1" && valgrind --tool=callgrind --callgrind-out-file="$1/cg.out" --dump-instr=no \
	--dump-after=CommitTransactionCommand "$2/postgres" --single -D "$3" -c fsync=off -c jit=off instr \
	<"$1/script.sql" >"$1/backend.log" 2>&1' sh "$OUT" "$PG_BINDIR" "$CLUSTER_DATA"
grep -qi "error" "$OUT/backend.log" && { grep -i "error" "$OUT/backend.log" | head -5 >&2; die "a statement failed"; }

# dump 1 is the backend's start; statement i is dump i + 1
declare -A COUNT=()
for i in "${!STEPS[@]}"; do
	[[ ${LABELS[$i]} == - ]] && continue
	f=$OUT/cg.out.$((i + 2))
	[[ -f $f ]] || die "no count for '${LABELS[$i]}' ($f)"
	COUNT[${LABELS[$i]}]=$(sed -n 's/^summary: //p' "$f")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mi() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e6 }'; }
echo
echo "| step | untracked | tracked, no session | ratio | in a session (statement + COMMIT) | ratio |"
echo "|---|---|---|---|---|---|"
for m in insert update loop; do
	u=${COUNT[$m:untracked]} t=${COUNT[$m:tracked]} s=$((COUNT[$m:session] + COUNT[$m:session_commit]))
	echo "| $m | $(mi "$u") M | $(mi "$t") M | $(ratio "$t" "$u")× | $(mi "${COUNT[$m:session]}") + $(mi "${COUNT[$m:session_commit]}") M | $(ratio "$s" "$u")× |"
done
u=$((COUNT[txn:untracked] + COUNT[txn:untracked_commit])) t=$((COUNT[txn:tracked] + COUNT[txn:tracked_commit]))
s=$((COUNT[txn:assume] + COUNT[txn:session] + COUNT[txn:session_commit]))
echo "| single-row transaction (INSERT + COMMIT; in a session with \`assume()\`) | $((u / 1000)) k | $((t / 1000)) k | $(ratio "$t" "$u")× | $((COUNT[txn:assume] / 1000)) + $((COUNT[txn:session] / 1000)) + $((COUNT[txn:session_commit] / 1000)) k | $(ratio "$s" "$t")× of tracked |"
echo
echo "(bulk $ROWS rows, loop $LOOP_ROWS single-row INSERTs in one transaction; loginas $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}'))"
((KEEP)) && echo "$BENCH_NAME: callgrind files in $OUT (callgrind_annotate $OUT/cg.out.N)" >&2
exit 0
