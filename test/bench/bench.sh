#!/usr/bin/env bash
# test/bench/bench.sh — owns `make bench`: what
# loginas' write attribution costs on the shop's own tables, against the
# untracked table and against a PL/pgSQL reference implementation of the same
# behaviour (test/bench/reference.sql).
#
# Usage:
#   bash test/bench/bench.sh             full run on a throwaway cluster; prints
#                                        the table and appends it to
#                                        docs/benchmarks.md
#   bash test/bench/bench.sh --smoke     tiny sizes (1000 rows, 2 rounds): a few
#                                        seconds, checks that every step runs
#                                        and does what it should; appends
#                                        nothing (also: LOGINAS_BENCH_SMOKE=1)
#   ... --existing                       use the running cluster named by
#                                        PGHOST/PGPORT (PGUSER, default
#                                        postgres, must be a superuser) instead
#                                        of a throwaway one: the bench creates
#                                        its own databases loginas_bench_<pid>
#                                        (and _text, _uuid for the key types)
#                                        there and drops them at the end.  The
#                                        extension must be installed already.
#   ... --only pgbench                   the pgbench phase alone (no bulk or key
#                                        type steps; appends nothing): a few
#                                        minutes; the report shows the
#                                        throughput lines only
#   ... --only bulk                      the integer-keyed bulk phase alone (no
#                                        key types, no pgbench; appends nothing)
#   ... --measures insert,update         the bulk measures to run (default: all
#                                        of insert, update, loop, copy); with
#                                        it nothing is appended either
#   other options: --rounds N, --rows N (bulk), --loop-rows N,
#                  --pgbench-seconds N, --clients N, --no-append, --keep
#                  (keep the throwaway cluster's directory; stops the server)
#
# Method (docs/benchmarks.md says the same for the reader):
#   bulk phase, every round, for each measure (insert, update, loop, copy) each
#   variant once, in a rotating order (ABCD, BCDA, ...):
#     untracked  bench.quote_plain
#     tracked    bench.quote_tracked (loginas.track), no session
#     session    bench.quote_tracked after loginas.assume()
#     reference  bench.quote_ref (PL/pgSQL reference) after its assume()
#   Every step starts from the same state: all quote tables and both logs
#   truncated, the table filled (update only), VACUUM ANALYZE, CHECKPOINT;
#   then bench.measure() warms the backend up (one row, rolled back) and times
#   the step with clock_timestamp() and the backend's CPU time (Linux
#   /proc/self/schedstat) in the server, including the COMMIT (so loginas'
#   log, written at pre-commit, is counted).  The throwaway cluster lives on
#   /dev/shm when it can (LOGINAS_BENCH_DISK=1: in $TMPDIR or /tmp).
#   key types, in the same rounds after the integer steps: a database per
#   key type (text, uuid; test/bench/keys_schema.sql: customers and the
#   quote table's primary key and customer column of that type), bulk INSERT
#   and bulk UPDATE, each variant once in a rotating order: untracked,
#   tracked (no session), session; the same reset, fill, VACUUM ANALYZE and
#   CHECKPOINT before each step.  Its results are copied into the main
#   database's bench.result (phase bulk_text, bulk_uuid) after each round.
#   pgbench phase: single-row INSERT transactions (pgbench -n -f), each
#   variant for --pgbench-seconds per round, rotating: tracked table without
#   assume() (plain), with assume() sent with BEGIN (assume), untracked table,
#   with a trivial function call sent with BEGIN (floor), with assume() as a
#   round trip of its own (assume_rt), with a trivial extra round trip
#   (roundtrip), and the untracked table with assume() sent with BEGIN
#   (assume_untracked: what assume() itself costs, without a session's
#   tracked write).
#   Ratios are taken within a round (variant / untracked of the same round, or
#   session / reference), and the median over the rounds is reported.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"
BENCH_NAME="bench"
# shellcheck source=test/bench/lib.sh
source "$BENCH/lib.sh"

export LANG=C.UTF-8
unset LC_ALL LANGUAGE

SMOKE=0
[[ ${LOGINAS_BENCH_SMOKE:-} =~ ^(1|yes|true|on)$ ]] && SMOKE=1
EXISTING=0
APPEND=1
KEEP=0
ROUNDS="" ROWS="" LOOP_ROWS="" PGB_SECONDS="" CLIENTS=1
ONLY=""
MEASURES=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
	case $1 in
	--smoke) SMOKE=1 ;;
	--existing) EXISTING=1 ;;
	--no-append) APPEND=0 ;;
	--keep) KEEP=1 ;;
	--only)
		[[ ${2:-} =~ ^(pgbench|bulk)$ ]] || die "--only takes 'pgbench' or 'bulk' (see --help)"
		ONLY=$2 APPEND=0
		shift
		;;
	--measures)
		[[ ${2:-} =~ ^(insert|update|loop|copy)(,(insert|update|loop|copy))*$ ]] ||
			die "--measures takes a comma-separated list of insert, update, loop, copy"
		MEASURES=$2 APPEND=0
		shift
		;;
	--rounds) posint "$1" "${2:-}"; ROUNDS=$2; shift ;;
	--rows) posint "$1" "${2:-}"; ROWS=$2; shift ;;
	--loop-rows) posint "$1" "${2:-}"; LOOP_ROWS=$2; shift ;;
	--pgbench-seconds) posint "$1" "${2:-}"; PGB_SECONDS=$2; shift ;;
	--clients) posint "$1" "${2:-}"; CLIENTS=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done

if ((SMOKE)); then
	APPEND=0
	: "${ROUNDS:=2}" "${ROWS:=1000}" "${LOOP_ROWS:=1000}"
	PGB_TXNS=100 # smoke: a fixed number of transactions, not a duration
else
	: "${ROUNDS:=7}" "${ROWS:=100000}" "${LOOP_ROWS:=50000}" "${PGB_SECONDS:=3}"
	((ROUNDS >= 5)) || echo "bench: warning: fewer than 5 rounds; medians are fragile" >&2
	PGB_TXNS=""
fi

PSQL=$PG_BINDIR/psql
PGBENCH=$PG_BINDIR/pgbench
TMP=""     # throwaway cluster (not with --existing)
WORK=""    # the COPY data file, readable by the server's OS user
DB=""
KEY_TYPES=(text uuid)
[[ $ONLY == pgbench || $ONLY == bulk ]] && KEY_TYPES=()
declare -A KEY_DB=() # key type -> its database
CREATED=() # the databases this run created (dropped at the end with --existing)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $WORK && -d $WORK ]]; then
		rm -rf -- "$WORK"
	fi
	if ((EXISTING)); then
		local d
		for d in "${CREATED[@]}"; do
			"$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 ||
				echo "bench: could not drop database $d" >&2
		done
	else
		bench_stop_cluster
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

# psql against a database / the bench database, stopping at the first error
qdb() {
	local db=$1
	shift
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
q() { qdb "$DB" "$@"; }

setup_cluster() {
	if ((EXISTING)); then
		[[ -n ${PGHOST:-} ]] || die "--existing needs PGHOST (and PGPORT) of a running cluster"
		export PGHOST PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
		DB=loginas_bench_$$
		return 0
	fi
	# on a tmpfs when there is one: the steps then measure CPU work, not how
	# the kernel writes dirty pages back on a shared disk; nothing that
	# starts by itself in the middle of a step
	bench_start_cluster loginas-bench "$([[ -z ${LOGINAS_BENCH_DISK:-} ]] && echo 1 || echo 0)" \
		"shared_buffers = 256MB" "max_wal_size = 8GB" "checkpoint_timeout = 1h" "autovacuum = off" "jit = off"
	DB=loginas_bench
}

# create_database NAME: an empty database with loginas, jit off
create_database() {
	qdb postgres -c "CREATE DATABASE $1" >/dev/null
	CREATED+=("$1")
	qdb "$1" -c "ALTER DATABASE $1 SET jit = off" \
		-c "SET client_min_messages = warning" -c "CREATE EXTENSION loginas CASCADE" >/dev/null
}

setup_database() {
	local kt
	create_database "$DB"
	q -f "$BENCH/reference.sql" -f "$BENCH/common.sql" -f "$BENCH/schema.sql" >/dev/null
	# one database per key type: one customers binding per database.  An
	# installed loginas older than keys of any type (--existing) cannot bind
	# them: skipped with a note, except in a smoke run (make test), which
	# must cover them.
	if [[ $(q -At -c "SELECT to_regprocedure('loginas.current_customer_key()') IS NOT NULL") != t ]]; then
		((SMOKE)) && die "the installed loginas has no keys of other types (loginas.current_customer_key())"
		echo "bench: the installed loginas has no keys of other types: key-type variants skipped" >&2
		KEY_TYPES=()
	fi
	for kt in "${KEY_TYPES[@]}"; do
		KEY_DB[$kt]=${DB}_$kt
		create_database "${KEY_DB[$kt]}"
		qdb "${KEY_DB[$kt]}" -v keytype="$kt" -f "$BENCH/common.sql" -f "$BENCH/keys_schema.sql" >/dev/null
	done
	# the file the COPY steps read: ROWS rows of the session's customer
	WORK=$(cluster_mktemp loginas-bench-copy)
	q -v file="$WORK/quote.copy" -v rows="$ROWS" <<-'EOF'
		INSERT INTO bench.config VALUES (:'file');
		COPY (SELECT g, s.customer_id, s.store_id, (g % 1000) / 10.0, g % 7, now()
				FROM bench.session_info s, generate_series(1, :rows) g) TO :'file';
	EOF
}

# prep SQL shared by every step: the same starting state.
# reset_sql [FILL [TABLES]]: FILL fills the table (update steps); TABLES the
# tables to vacuum besides loginas.action_log and loginas.session (default:
# the main database's)
reset_sql() {
	echo "SET client_min_messages = error;"
	echo "CALL bench.reset();"
	if [[ -n ${1:-} ]]; then echo "$1"; fi
	echo "VACUUM (ANALYZE) ${2:-bench.quote_plain, bench.quote_tracked, bench.quote_ref, loginas_ref.action_log},"
	echo "  loginas.action_log, loginas.session;"
	# a checkpoint writes everything out before the step; not on a shared cluster
	((EXISTING)) || echo "CHECKPOINT;"
}

bulk_step() {
	local round=$1 measure=$2 variant=$3 rows=$ROWS fill=""
	[[ $measure == loop ]] && rows=$LOOP_ROWS
	[[ $measure == update ]] && fill="CALL bench.fill('$variant', $rows);"
	{
		reset_sql "$fill"
		echo "CALL bench.measure($round, '$measure', '$variant', $rows);"
	} | q
}

# a step of a key-type variant, in that key type's database
keys_step() {
	local round=$1 kt=$2 measure=$3 variant=$4 fill=""
	[[ $measure == update ]] && fill="CALL bench.fill('$variant', $ROWS);"
	{
		reset_sql "$fill" "bench.quote_plain, bench.quote_tracked"
		echo "CALL bench.measure($round, '$measure', '$variant', $ROWS);"
	} | qdb "${KEY_DB[$kt]}"
}

pgbench_step() {
	local round=$1 variant=$2 key=$3 out tps processed args=()
	reset_sql | q
	if [[ -n $PGB_TXNS ]]; then args=(-t "$PGB_TXNS"); else args=(-T "$PGB_SECONDS"); fi
	if ! out=$("$PGBENCH" -n -f "$BENCH/pgbench_$variant.sql" -D "key=$key" \
		-c "$CLIENTS" -j "$CLIENTS" "${args[@]}" "$DB" 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbench failed ($variant, round $round)"
	fi
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	[[ -n $tps && -n $processed ]] || { printf '%s\n' "$out" >&2; die "could not read pgbench's output"; }
	# what the transactions must have done
	q -v variant="$variant" -v n="$processed" <<-'EOF'
		SELECT CASE
				 WHEN :'variant' IN ('untracked', 'assume_untracked') THEN (SELECT count(*) FROM bench.quote_plain) = :n
				 WHEN :'variant' IN ('plain', 'floor', 'roundtrip') THEN
					(SELECT count(*) FROM bench.quote_tracked WHERE loginas_created_session IS NULL) = :n
					AND NOT EXISTS (SELECT FROM loginas.action_log WHERE action LIKE 'write%')
				 ELSE (SELECT count(*) FROM bench.quote_tracked t JOIN bench.session_info s
						 ON t.loginas_created_session = s.session_id AND t.loginas_changed_session = s.session_id) = :n
					AND (SELECT count(*) FROM loginas.action_log WHERE action = 'write_insert'
						   AND (details->>'rows')::int = 1) = :n
			   END AS ok \gset
		\if :ok
		\else
			\echo bench check failed: pgbench variant :variant did not write what it should
			SELECT 1/0;
		\endif
	EOF
	q -c "INSERT INTO bench.result (phase, round, measure, variant, rows, tps)
	      VALUES ('pgbench', $round, 'txn', '$variant', $processed, $tps)"
}

median_line() {
	# one progress line per round and phase
	q -At -v phase="$1" -v round="$2" <<-'EOF'
		SELECT string_agg(format('%s/%s %s', measure, variant,
								 CASE WHEN ms IS NOT NULL THEN round(ms::numeric, 1) || ' ms'
									  ELSE round(tps::numeric) || ' tps' END), ', '
						  ORDER BY measure, variant)
		  FROM bench.result WHERE phase = :'phase' AND round = :round
	EOF
}

main() {
	local r m v mi kt key variants=(untracked tracked session reference) measures=(insert update loop copy)
	local kvariants=(untracked tracked session) kmeasures=(insert update)
	local pvariants=(plain assume untracked floor assume_rt roundtrip assume_untracked) load_before load_after started_at

	[[ -n $MEASURES ]] && IFS=, read -r -a measures <<<"$MEASURES"
	setup_cluster
	setup_database
	started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "bench: $( ((SMOKE)) && echo smoke || echo full) run: $ROUNDS rounds, bulk $ROWS rows," \
		"loop $LOOP_ROWS rows, pgbench ${PGB_TXNS:+$PGB_TXNS transactions}${PGB_SECONDS:+${PGB_SECONDS}s}" \
		"x $CLIENTS client(s); database $DB on ${PGHOST}:${PGPORT}"

	[[ $ONLY == pgbench ]] && variants=()
	[[ $ONLY == bulk ]] && pvariants=()
	for ((r = 1; r <= ROUNDS; r++)); do
		[[ $ONLY == pgbench ]] && break
		for mi in "${!measures[@]}"; do
			m=${measures[$mi]}
			while IFS= read -r v; do
				bulk_step "$r" "$m" "$v"
			done < <(rotate $(((r - 1 + mi) % ${#variants[@]})) "${variants[@]}")
		done
		echo "  bulk round $r: $(median_line bulk "$r")"
		# the key types, the same way; their rows then join the main database's
		while IFS= read -r kt; do
			[[ -n $kt ]] || continue
			for mi in "${!kmeasures[@]}"; do
				m=${kmeasures[$mi]}
				while IFS= read -r v; do
					keys_step "$r" "$kt" "$m" "$v"
				done < <(rotate $(((r - 1 + mi) % ${#kvariants[@]})) "${kvariants[@]}")
			done
			qdb "${KEY_DB[$kt]}" -c "COPY (SELECT * FROM bench.result WHERE round = $r) TO STDOUT" |
				q -c "COPY bench.result FROM STDIN"
			echo "  $kt keys round $r: $(median_line "bulk_$kt" "$r")"
		done < <(((${#KEY_TYPES[@]})) && rotate $(((r - 1) % ${#KEY_TYPES[@]})) "${KEY_TYPES[@]}")
	done

	key=$(q -At -c "SELECT session_key FROM bench.session_info")
	for ((r = 1; r <= ROUNDS; r++)); do
		((${#pvariants[@]})) || break
		while IFS= read -r v; do
			pgbench_step "$r" "$v" "$key"
		done < <(rotate $(((r - 1) % ${#pvariants[@]})) "${pvariants[@]}")
		echo "  pgbench round $r: $(median_line pgbench "$r")"
	done
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)

	# every step of every phase recorded (a step that did not run, or ran
	# twice, would make a ratio of the report wrong)
	local expected=""
	((${#pvariants[@]})) && expected="pgbench:$((ROUNDS * ${#pvariants[@]}))"
	((${#variants[@]})) && expected="bulk:$((ROUNDS * ${#variants[@]} * ${#measures[@]}))${expected:+ $expected}"
	for kt in "${KEY_TYPES[@]}"; do
		expected+=" bulk_$kt:$((ROUNDS * ${#kvariants[@]} * ${#kmeasures[@]}))"
	done
	q -v expected="$expected" <<-'EOF'
		SELECT string_agg(format('%s:%s', phase, n), ' ' ORDER BY phase) AS got,
			   (SELECT string_agg(e, ' ' ORDER BY split_part(e, ':', 1)) FROM regexp_split_to_table(:'expected', ' ') e) AS expected
		  FROM (SELECT phase, count(*) AS n FROM bench.result GROUP BY phase) t \gset
		SELECT :'got' = :'expected' AS ok \gset
		\if :ok
		\else
			\echo bench check failed: steps recorded :got, expected :expected
			SELECT 1/0;
		\endif
	EOF

	local table server major cpu
	table=$(q -At -f "$BENCH/report.sql")
	server=$(q -At -c "SHOW server_version")
	major=$(q -At -c "SELECT current_setting('server_version_num')::int / 10000")
	cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
	local report
	report=$(
		echo "## $started_at — $( ((SMOKE)) && echo 'smoke run' || echo 'make bench') — PostgreSQL $major"
		echo
		echo "- machine: $(uname -m), ${cpu:-unknown CPU}, $(nproc) CPUs; load average (1/5/15 min)" \
			"$load_before at the start, $load_after at the end"
		echo "- PostgreSQL $server; $( ((EXISTING)) && echo "existing cluster ($PGHOST)" ||
			echo "throwaway cluster in $(dirname "$TMP") (test/lib/cluster.sh: fsync, synchronous_commit and full_page_writes off; autovacuum off, jit off, shared_buffers 256MB)")"
		echo "- sizes: bulk INSERT/UPDATE/COPY $ROWS rows, loop $LOOP_ROWS single-row INSERTs in one transaction," \
			"$ROUNDS rounds interleaved; pgbench ${PGB_TXNS:+$PGB_TXNS transactions}${PGB_SECONDS:+-T $PGB_SECONDS} -c $CLIENTS per variant and round"
		echo "- loginas $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
		echo
		printf '%s\n' "$table"
	)
	echo
	printf '%s\n' "$report"
	if ((APPEND)); then
		# into the write-attribution part: before the action log's section, if any
		f="$ROOT/docs/benchmarks.md"
		if grep -qxF '# Action log' "$f"; then
			printf '%s\n\n' "$report" >"$f.run"
			awk -v r="$f.run" '$0 == "# Action log" && !d { while ((getline l < r) > 0) print l; d = 1 } { print }' "$f" >"$f.new" &&
				mv "$f.new" "$f"
			rm -f "$f.run"
		else
			printf '\n%s\n' "$report" >>"$f"
		fi
		echo
		echo "bench: appended to docs/benchmarks.md"
	fi
	if ((SMOKE)); then
		echo "bench: smoke run ok"
	fi
}

main
