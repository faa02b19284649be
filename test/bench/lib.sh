# test/bench/lib.sh — what the two benchmarks (bench.sh: write attribution,
# log_bench.sh: the action log) share: argument checks, the rotating order of
# variants, and their throwaway cluster (built, started, stopped or kept).
# Sourced after test/lib/cluster.sh; the caller sets BENCH_NAME (for
# messages), KEEP and TMP.

die() { echo "$BENCH_NAME: $*" >&2; exit 2; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, not '$2'"; }

# rotate N A B C ...: the list rotated by N (the variants' order in round N)
rotate() {
	local n=$1
	shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do
		printf '%s\n' "${a[(i + n) % ${#a[@]}]}"
	done
}

# bench_start_cluster PREFIX ON_SHM EXTRA_CONF...: deps, build and install,
# then a throwaway cluster in TMP (on /dev/shm when ON_SHM=1 and usable),
# exporting PGHOST/PGPORT/PGUSER for it
bench_start_cluster() {
	local prefix=$1 on_shm=$2
	shift 2
	echo "$BENCH_NAME: dependencies, build and install"
	bash "$ROOT/test/deps.sh" >/dev/null
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_BINDIR/pg_config" >/dev/null
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_BINDIR/pg_config" install >/dev/null
	if ((on_shm)) && [[ -d /dev/shm && -w /dev/shm ]] && cluster_run_as test -w /dev/shm; then
		TMP=$(TMPDIR=/dev/shm cluster_mktemp "$prefix")
	else
		TMP=$(cluster_mktemp "$prefix")
	fi
	# throwaway settings (fsync off, ...) from cluster.sh, plus the caller's
	CLUSTER_EXTRA_CONF=$(printf '%s\n' "$@")
	export CLUSTER_EXTRA_CONF
	cluster_init "$TMP/cluster" >/dev/null
	cluster_start "$TMP/cluster"
	cluster_env "$TMP/cluster"
	export PGHOST=$CLUSTER_SOCKDIR PGPORT=$CLUSTER_PORT PGUSER=$CLUSTER_SUPERUSER
}

# bench_stop_cluster: stop and remove the throwaway cluster (--keep: stop it
# and keep its directory)
bench_stop_cluster() {
	[[ -n $TMP && -d $TMP ]] || return 0
	if ((KEEP)); then
		cluster_stop "$TMP/cluster"
		echo "$BENCH_NAME: --keep: cluster directory kept in $TMP (server stopped)" >&2
	elif cluster_destroy "$TMP/cluster"; then
		rm -rf -- "$TMP"
	else
		echo "$BENCH_NAME: could not stop the cluster in $TMP/cluster; left it in place" >&2
	fi
}
