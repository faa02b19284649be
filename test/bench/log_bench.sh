#!/usr/bin/env bash
# test/bench/log_bench.sh — the action-log benchmark (the log's performance targets):
# the reports on a log of 10M rows against the same reports on a log of 100k
# rows, and the throughput of log appends from 8 concurrent clients against
# the same inserts into a plain table.
#
# Usage:
#   bash test/bench/log_bench.sh          full run on a throwaway cluster;
#                                         prints the tables and appends them
#                                         to docs/benchmarks.md
#   bash test/bench/log_bench.sh --smoke  tiny sizes (20,000 and 2,000 rows,
#                                         2 rounds, 25 appends per client):
#                                         seconds; checks that every step runs
#                                         and does what it should (verify_log
#                                         intact, every append counted);
#                                         appends nothing (also:
#                                         LOGINAS_BENCH_SMOKE=1)
#   ... --existing                        use the running cluster named by
#                                         PGHOST/PGPORT (PGUSER, default
#                                         postgres, must be a superuser): the
#                                         bench creates its databases
#                                         loginas_logbench_<pid>_{big,small,
#                                         append} there and drops them at the
#                                         end.  The extension must be
#                                         installed already.
#   other options: --rounds N (7), --rows N (10000000), --small-rows N
#                  (100000), --chains N (rows / 10000, at most 1000), --parts N
#                  (backends generating at once; default: the CPUs),
#                  --pgbench-seconds N (5), --clients N (8), --threads N (2),
#                  --no-append, --keep (keep the throwaway cluster's directory;
#                  stops the server)
#
# Method (docs/benchmarks.md, "Action log", says the same for the
# reader):
#   databases: big (--rows) and small (--small-rows) hold the same shop at two
#   scales: one customer per 100 log rows and one admin per 50,000 (10M rows:
#   100,000 customers and 200 admins; 100k rows: 1,000 and 2), over one year,
#   so that a customer's history and an admin's week have the same length in
#   both and only the size of the log differs.  The log is generated in the
#   database (test/bench/log_schema.sql: logbench.generate), set-based, as
#   real hash-chained rows in many chains; then VACUUM (ANALYZE) and
#   loginas.verify_log(), which must say intact.
#   reports: each round, in each database (in an order that alternates), each
#   report (in a rotating order) with a fresh random customer (one with a
#   typical history: within 10 % of the median length) / admin, run twice
#   under EXPLAIN (ANALYZE, TIMING OFF): the first call and the repeat; the
#   server's Execution Time of the repeat is judged (median over the rounds;
#   ratio big/small taken within a round).  The same rows read without the
#   per-row text (the report's conditions and order on the table) are timed
#   too, for comparison.  The plans of the reports'
#   inner queries are captured with auto_explain and checked for index scans.
#   appends: pgbench -c 8 -j 2 -T N, in a third database (the same shop at the
#   big scale, empty log), each variant per round in a rotating order: plain
#   INSERT into logbench.plain_log, loginas._log() (look-ups + chain), and
#   loginas._append() (the chain alone, as the write log calls it); before
#   each: plain table truncated, log purged, VACUUM, CHECKPOINT; afterwards
#   the rows are counted and verify_log() must say intact.  Then one more
#   _log() run with track_functions = all says where its time goes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"
BENCH_NAME="log bench"
# shellcheck source=test/bench/lib.sh
source "$BENCH/lib.sh"

export LANG=C.UTF-8
unset LC_ALL LANGUAGE

SMOKE=0
[[ ${LOGINAS_BENCH_SMOKE:-} =~ ^(1|yes|true|on)$ ]] && SMOKE=1
EXISTING=0
APPEND=1
KEEP=0
ROUNDS="" ROWS="" SMALL_ROWS="" CHAINS="" PARTS="" PGB_SECONDS="" CLIENTS=8 THREADS=2

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
	case $1 in
	--smoke) SMOKE=1 ;;
	--existing) EXISTING=1 ;;
	--no-append) APPEND=0 ;;
	--keep) KEEP=1 ;;
	--rounds) posint "$1" "${2:-}"; ROUNDS=$2; shift ;;
	--rows) posint "$1" "${2:-}"; ROWS=$2; shift ;;
	--small-rows) posint "$1" "${2:-}"; SMALL_ROWS=$2; shift ;;
	--chains) posint "$1" "${2:-}"; CHAINS=$2; shift ;;
	--parts) posint "$1" "${2:-}"; PARTS=$2; shift ;;
	--pgbench-seconds) posint "$1" "${2:-}"; PGB_SECONDS=$2; shift ;;
	--clients) posint "$1" "${2:-}"; CLIENTS=$2; shift ;;
	--threads) posint "$1" "${2:-}"; THREADS=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done

if ((SMOKE)); then
	APPEND=0
	: "${ROUNDS:=2}" "${ROWS:=20000}" "${SMALL_ROWS:=2000}"
	PGB_TXNS=25 # smoke: a fixed number of transactions per client, not a duration
else
	: "${ROUNDS:=7}" "${ROWS:=10000000}" "${SMALL_ROWS:=100000}" "${PGB_SECONDS:=5}"
	((ROUNDS >= 7)) || echo "log bench: warning: fewer than 7 rounds; medians are fragile" >&2
	PGB_TXNS=""
fi
((SMALL_ROWS <= ROWS)) || die "--small-rows must not exceed --rows"
: "${PARTS:=$(nproc)}"
((THREADS <= CLIENTS)) || THREADS=$CLIENTS

# the shop at a size: one customer per 100 rows, one admin per 50,000 rows
customers_for() { local n=$(($1 / 100)); echo $((n < 1 ? 1 : n)); }
admins_for() { local n=$(($1 / 50000)); echo $((n < 1 ? 1 : n)); }
chains_for() {
	local n=$(($1 / 10000))
	((n > 1000)) && n=1000
	((n < 4)) && n=4
	((n > $1)) && n=$1
	echo "$n"
}

PSQL=$PG_BINDIR/psql
PGBENCH=$PG_BINDIR/pgbench
TMP=""     # throwaway cluster (not with --existing)
WORK=""    # our own scratch files
DB_BIG="" DB_SMALL="" DB_APPEND=""
CREATED=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	# generator backends still running (interrupted): ours, by pid
	if [[ -n $WORK && -d $WORK ]]; then
		local f
		for f in "$WORK"/gen.*.pid; do
			[[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null
		done
		rm -rf -- "$WORK"
	fi
	if ((EXISTING)); then
		local db
		for db in "${CREATED[@]}"; do
			"$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 ||
				echo "log bench: could not drop database $db" >&2
		done
	else
		bench_stop_cluster
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "log bench: interrupted" >&2; exit 130' INT
trap 'echo "log bench: terminated" >&2; exit 143' TERM

# psql against a database, stopping at the first error
q() { local db=$1; shift; "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

setup_cluster() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/loginas-logbench-work.XXXXXX")
	if ((EXISTING)); then
		[[ -n ${PGHOST:-} ]] || die "--existing needs PGHOST (and PGPORT) of a running cluster"
		export PGHOST PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
		DB_BIG=loginas_logbench_$$_big DB_SMALL=loginas_logbench_$$_small DB_APPEND=loginas_logbench_$$_append
		return 0
	fi
	# 10M log rows take ~7 GB: on disk by default ($TMPDIR or /tmp; fsync is
	# off anyway), on a tmpfs with LOGINAS_BENCH_SHM=1
	bench_start_cluster loginas-logbench "$([[ -n ${LOGINAS_BENCH_SHM:-} ]] && echo 1 || echo 0)" \
		"shared_buffers = 1GB" "max_wal_size = 4GB" "checkpoint_timeout = 1h" "autovacuum = off" \
		"jit = off" "maintenance_work_mem = 512MB"
	DB_BIG=logbench_big DB_SMALL=logbench_small DB_APPEND=logbench_append
}

# create_db NAME ROWS: the extension and the shop at the scale of ROWS log rows
create_db() {
	local db=$1 rows=$2
	q postgres -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" >/dev/null
	CREATED+=("$db")
	q "$db" -c "ALTER DATABASE $db SET jit = off" \
		-c "SET client_min_messages = error" -c "CREATE EXTENSION loginas CASCADE" >/dev/null
	q "$db" -v customers="$(customers_for "$rows")" -v admins="$(admins_for "$rows")" \
		-f "$BENCH/log_schema.sql" >/dev/null
}

# generate SIZE DB ROWS CHAINS: the log, its VACUUM and verify_log(); one
# row of logbench.gen_stat, printed as CSV on stdout (loaded into big later)
generate() {
	local size=$1 db=$2 rows=$3 chains=$4 parts=$PARTS per batch t0 t1 t2 t3 p verdict
	((parts > chains)) && parts=$chains
	per=$(((chains + parts - 1) / parts))
	batch=$((100000 / per))
	((batch < 1)) && batch=1
	echo "log bench: $size: generating $rows rows in $chains chains ($parts backends)" >&2
	t0=$(now_s)
	q "$db" -c "CALL logbench.prepare($rows, $chains, interval '365 days')"
	local pids=()
	for ((p = 0; p < parts; p++)); do
		q "$db" -c "SET client_min_messages = warning" -c "CALL logbench.generate($p, $parts, $batch)" \
			>"$WORK/gen.$size.$p.log" 2>&1 &
		pids+=($!)
		echo $! >"$WORK/gen.$size.$p.pid"
	done
	local failed=0
	for p in "${!pids[@]}"; do
		wait "${pids[$p]}" || failed=1
		rm -f "$WORK/gen.$size.$p.pid"
	done
	if ((failed)); then
		cat "$WORK"/gen."$size".*.log >&2
		die "$size: generating the log failed"
	fi
	q "$db" -c "CALL logbench.finish()"
	t1=$(now_s)
	q "$db" -c "VACUUM (ANALYZE) loginas.action_log, loginas.log_chain"
	t2=$(now_s)
	verdict=$(q "$db" -At -c "SELECT CASE WHEN intact THEN 'intact' ELSE format('BROKEN at log_id %s (chain %s, seq %s): %s', log_id, chain_id, chain_seq, problem) END FROM loginas.verify_log()")
	t3=$(now_s)
	[[ $verdict == intact ]] || die "$size: loginas.verify_log() says: $verdict"
	q "$db" -At -c "SELECT logbench.make_probe()" >/dev/null
	echo "log bench: $size: generated in $(elapsed "$t0" "$t1") s, VACUUM $(elapsed "$t1" "$t2") s," \
		"verify_log() intact in $(elapsed "$t2" "$t3") s" >&2
	q "$db" -At -F, -v size="$size" -v parts="$parts" -v gen="$(elapsed "$t0" "$t1")" \
		-v vac="$(elapsed "$t1" "$t2")" -v ver="$(elapsed "$t2" "$t3")" -v verdict="$verdict" <<-'EOF'
		SELECT :'size', (SELECT count(*) FROM loginas.action_log), g.rows, g.chains, :parts, g.customers, g.admins,
			   :gen, :vac, :ver, :'verdict', pg_relation_size('loginas.action_log'),
			   pg_total_relation_size('loginas.action_log')
		  FROM logbench.generated g
	EOF
}

# rotate N ITEMS...: the items rotated by N, one per line

# one round of the reports in one database: CSV rows of logbench.q_result
measure_round() {
	local size=$1 db=$2 round=$3 seed
	seed=$(awk -v r="$round" -v n="$ROUNDS" 'BEGIN { printf "%.6f", r / (n + 1) - 0.5 }')
	q "$db" -At -F, -c "SELECT '$size', round, query, pass, arg, ms, nrows FROM logbench.measure_round($round, $seed)"
}

# the plans of the reports' inner queries (auto_explain, nested statements,
# ANALYZE and BUFFERS), for one customer / admin; writes WORK/plans.SIZE and
# prints CSV rows of logbench.plan_check
capture_plans() {
	local size=$1 db=$2 cust adm
	cust=$(q "$db" -At -c "SELECT 1 + 12345 % customers FROM logbench.generated")
	adm=$(q "$db" -At -c "SELECT 1 + 123 % admins FROM logbench.generated")
	q "$db" >/dev/null 2>"$WORK/notices.$size" <<-EOF
		LOAD 'auto_explain';
		SET auto_explain.log_min_duration = 0;
		SET auto_explain.log_analyze = on;
		SET auto_explain.log_buffers = on;
		SET auto_explain.log_timing = on;
		SET auto_explain.log_nested_statements = on;
		SET auto_explain.log_level = notice;
		SET client_min_messages = notice;
		SELECT count(*) FROM loginas.customer_history($cust);
		SELECT count(*) FROM loginas.actions_report(action_group => 'Login As Customer', since => now() - interval '7 days');
		SELECT count(*) FROM loginas.actions_report(action_group => 'Login As Customer', since => now() - interval '7 days', admin_id => $adm);
	EOF
	# keep the plans whose query text names the inner row functions, in order
	# (the plan starts at the first line after the query text that is not
	# indented)
	awk -v out="$WORK/plans.$size" '
		function flush() { if (inner) { n++; printf "%s", plan > (out "." n) } blk = 0; inner = 0; plan = "" }
		/^NOTICE:  duration:/ { flush(); blk = 1; state = 0; next }
		/^(NOTICE|WARNING|ERROR):/ { flush(); next }
		!blk { next }
		state == 0 && /^Query Text: / { if ($0 ~ /SELECT \* FROM loginas\._(history|actions)_rows/) inner = 1; state = 1; next }
		state == 1 && /^[ \t]/ { next }
		{ state = 2; plan = plan $0 "\n" }
		END { flush() }' "$WORK/notices.$size"
	local i query f idx seq
	i=0
	: >"$WORK/plans.$size"
	for query in customer_history page page_admin; do
		i=$((i + 1))
		f="$WORK/plans.$size.$i"
		[[ -f $f ]] || die "$size: no plan captured for $query (see $WORK/notices.$size)"
		{
			case $query in
			customer_history) echo "-- loginas.customer_history($cust): loginas._history_rows($cust)" ;;
			page) echo "-- loginas.actions_report(action_group => 'Login As Customer', since => now() - interval '7 days'): loginas._actions_rows(...)" ;;
			page_admin) echo "-- the same with admin_id => $adm" ;;
			esac
			cat "$f"
			echo
		} >>"$WORK/plans.$size"
		idx=$(grep -oE '(Index|Index Only|Bitmap Index) Scan( Backward)? (using|on) [a-z_]+' "$f" |
			sed -E 's/.* (using|on) //' | sort -u | paste -sd' ' -)
		if grep -qE 'Seq Scan on action_log' "$f"; then seq=true; else seq=false; fi
		printf '%s,%s,%s,%s\n' "$size" "$query" "$idx" "$seq"
	done
}

# one pgbench step in the append database; prints a CSV row of logbench.a_result
append_step() {
	local round=$1 variant=$2 out tps processed args=() before
	{
		echo "SET client_min_messages = error;"
		echo "TRUNCATE logbench.plain_log;"
		# (1.2: no purge cuts into the log retention; the bench's DBA sets none)
		echo "SELECT loginas.set_log_retention('0');"
		echo "SELECT loginas.purge_log(now());"
		echo "VACUUM (ANALYZE) loginas.action_log, logbench.plain_log;"
		((EXISTING)) || echo "CHECKPOINT;"
	} | q "$DB_APPEND" >/dev/null
	before=$(q "$DB_APPEND" -At -c "SELECT COALESCE(max(log_id), 0) FROM loginas.action_log")
	if [[ -n $PGB_TXNS ]]; then args=(-t "$PGB_TXNS"); else args=(-T "$PGB_SECONDS"); fi
	if ! out=$(PGOPTIONS=${PGB_PGOPTIONS:-} "$PGBENCH" -n -f "$BENCH/log_pgbench_$variant.sql" \
		-D customers="$APPEND_CUSTOMERS" -D admins="$APPEND_ADMINS" \
		-c "$CLIENTS" -j "$THREADS" "${args[@]}" "$DB_APPEND" 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbench failed ($variant, round $round)"
	fi
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	[[ -n $tps && -n $processed ]] || { printf '%s\n' "$out" >&2; die "could not read pgbench's output"; }
	# what the transactions must have done: every append there, every chain intact
	q "$DB_APPEND" -v variant="$variant" -v n="$processed" -v before="$before" <<-'EOF'
		SELECT CASE WHEN :'variant' = 'plain' THEN (SELECT count(*) FROM logbench.plain_log) = :n
					ELSE (SELECT count(*) FROM loginas.action_log WHERE log_id > :before AND action = 'note') = :n
						 AND (SELECT intact FROM loginas.verify_log())
			   END AS ok \gset
		\if :ok
		\else
			\echo log bench check failed: pgbench variant :variant did not append what it should, or a chain broke
			SELECT 1/0;
		\endif
	EOF
	printf '%s,%s,%s,%s\n' "$round" "$variant" "$tps" "$processed"
}

# one more _log run with track_functions = all: CSV rows of logbench.fn_stat
profile_append() {
	local variant=log row n
	q "$DB_APPEND" -c "SELECT pg_stat_reset()" >/dev/null
	row=$(PGB_PGOPTIONS="-c track_functions=all" append_step 0 "$variant")
	n=$(cut -d, -f4 <<<"$row")
	sleep 1 # the backends report their counters as they exit
	q "$DB_APPEND" -At -F, -v variant="$variant" -v n="$n" <<-'EOF'
		SELECT :'variant', :n, schemaname || '.' || funcname, sum(calls), sum(total_time), sum(self_time)
		  FROM pg_stat_user_functions
		 WHERE schemaname = 'loginas'
		 GROUP BY 1, 2, 3
		 ORDER BY 3
	EOF
}

# append_report TEXT FILE: TEXT goes at the end of FILE's section SECTION
# (before the next top-level heading after it), or at the end of FILE under a
# new SECTION heading when there is none
SECTION="# Action log"
append_report() {
	local text=$1 file=$2 tmp
	if ! grep -qxF "$SECTION" "$file"; then
		printf '\n%s\n\n%s\n' "$SECTION" "$text" >>"$file"
		return 0
	fi
	tmp=$(mktemp "$WORK/doc.XXXXXX")
	printf '%s\n' "$text" >"$WORK/report.md"
	awk -v section="$SECTION" -v rfile="$WORK/report.md" '
		function put() { if (last != "") print ""; while ((getline l < rfile) > 0) print l; done = 1 }
		$0 == section { in_s = 1; print; last = $0; next }
		in_s && !done && /^# / { put(); print ""; in_s = 0 }
		{ print; last = $0 }
		END { if (in_s && !done) put() }' "$file" >"$tmp"
	cat "$tmp" >"$file"
}

load_csv() {
	local table=$1 file=$2
	[[ -s $file ]] || return 0
	q "$DB_BIG" -c "\\copy logbench.$table FROM '$file' WITH (FORMAT csv)"
}

main() {
	local r s v size started_at load_before load_after big_chains small_chains
	setup_cluster
	big_chains=${CHAINS:-$(chains_for "$ROWS")}
	small_chains=$(chains_for "$SMALL_ROWS")
	((big_chains <= ROWS)) || die "--chains must not exceed --rows"
	started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "log bench: $( ((SMOKE)) && echo smoke || echo full) run: $ROWS and $SMALL_ROWS log rows, $ROUNDS rounds," \
		"pgbench ${PGB_TXNS:+$PGB_TXNS transactions per client}${PGB_SECONDS:+${PGB_SECONDS}s} x $CLIENTS clients;" \
		"cluster ${PGHOST}:${PGPORT}"

	create_db "$DB_BIG" "$ROWS"
	create_db "$DB_SMALL" "$SMALL_ROWS"
	create_db "$DB_APPEND" "$ROWS"
	APPEND_CUSTOMERS=$(customers_for "$ROWS") APPEND_ADMINS=$(admins_for "$ROWS")

	generate small "$DB_SMALL" "$SMALL_ROWS" "$small_chains" >"$WORK/gen_stat.csv"
	generate big "$DB_BIG" "$ROWS" "$big_chains" >>"$WORK/gen_stat.csv"

	# the reports, interleaved: databases alternate, reports rotate within
	: >"$WORK/q_result.csv"
	for ((r = 1; r <= ROUNDS; r++)); do
		while IFS= read -r s; do
			if [[ $s == big ]]; then measure_round big "$DB_BIG" "$r"; else measure_round small "$DB_SMALL" "$r"; fi
		done < <(rotate $(((r - 1) % 2)) big small) >>"$WORK/q_result.csv"
		echo "  reports round $r: $(awk -F, -v r="$r" '$2 == r && $4 == "repeat" { printf "%s%s/%s %.2f ms", sep, $1, $3, $6; sep = ", " }' "$WORK/q_result.csv")"
	done
	{ capture_plans big "$DB_BIG"; capture_plans small "$DB_SMALL"; } >"$WORK/plan_check.csv"

	# the appends, 8 clients
	: >"$WORK/a_result.csv"
	for ((r = 1; r <= ROUNDS; r++)); do
		while IFS= read -r v; do
			append_step "$r" "$v" >>"$WORK/a_result.csv"
		done < <(rotate $(((r - 1) % 3)) plain log append)
		echo "  appends round $r: $(awk -F, -v r="$r" '$1 == r { printf "%s%s %.0f tps", sep, $2, $3; sep = ", " }' "$WORK/a_result.csv")"
	done
	profile_append >"$WORK/fn_stat.csv"
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)

	load_csv gen_stat "$WORK/gen_stat.csv"
	load_csv q_result "$WORK/q_result.csv"
	load_csv plan_check "$WORK/plan_check.csv"
	load_csv a_result "$WORK/a_result.csv"
	load_csv fn_stat "$WORK/fn_stat.csv"

	local table server major cpu report
	table=$(q "$DB_BIG" -At -v clients="$CLIENTS" -f "$BENCH/log_report.sql")
	server=$(q "$DB_BIG" -At -c "SHOW server_version")
	major=$(q "$DB_BIG" -At -c "SELECT current_setting('server_version_num')::int / 10000")
	cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
	report=$(
		echo "### $started_at — $( ((SMOKE)) && echo 'smoke run' || echo 'make bench (log)') — PostgreSQL $major"
		echo
		echo "- machine: $(uname -m), ${cpu:-unknown CPU}, $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo);" \
			"load average (1/5/15 min) $load_before at the start, $load_after at the end"
		echo "- PostgreSQL $server; $( ((EXISTING)) && echo "existing cluster ($PGHOST)" ||
			echo "throwaway cluster in $(dirname "$TMP") (test/lib/cluster.sh: fsync, synchronous_commit and full_page_writes off; autovacuum off, jit off, shared_buffers 1GB)")"
		echo "- sizes: $ROWS and $SMALL_ROWS generated log rows; $ROUNDS rounds interleaved; pgbench" \
			"${PGB_TXNS:+-t $PGB_TXNS}${PGB_SECONDS:+-T $PGB_SECONDS} -c $CLIENTS -j $THREADS per variant and round"
		echo "- loginas $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
		echo
		printf '%s\n' "$table"
		echo
		echo "<details><summary>Plans of the reports' inner queries at $ROWS rows (auto_explain: ANALYZE, BUFFERS; the first call)</summary>"
		echo
		echo '```'
		cat "$WORK/plans.big"
		echo '```'
		echo
		echo "</details>"
	)
	echo
	printf '%s\n' "$report"
	if ((APPEND)); then
		append_report "$report" "$ROOT/docs/benchmarks.md"
		echo
		echo "log bench: appended to docs/benchmarks.md (section \"$SECTION\")"
	fi
	if ((SMOKE)); then
		echo "log bench: smoke run ok"
	fi
}

main
