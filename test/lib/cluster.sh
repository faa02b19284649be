# test/lib/cluster.sh — shared shell functions for throwaway PostgreSQL 15
# clusters.  Sourced (not executed) by test/run-tests.sh and test/demo.sh.
#
# A cluster lives entirely inside one base directory BASE that these functions
# create and own:
#   BASE/.loginas-throwaway   marker: only directories carrying it are ever
#                             stopped or removed by cluster_stop/cluster_destroy
#   BASE/data                 data directory
#   BASE/socket               private unix socket directory (no TCP at all:
#                             listen_addresses = '')
#   BASE/server.log           server log
#   BASE/cluster.env          CLUSTER_* variables, read back by cluster_env
#
# The server runs as the `postgres` OS user when we are root (initdb refuses
# root), otherwise as the current user.  The database superuser is always
# `postgres` and authentication is trust (socket-only, private directory).
#
# Functions (all return non-zero on failure; none of them exit the caller):
#   cluster_run_as CMD...       run CMD as the cluster OS user (cwd /)
#   cluster_run_in DIR CMD...   the same, with DIR as working directory
#   cluster_mktemp [PREFIX]     print a new empty temp dir owned by that user
#   cluster_pick_port           print a free, non-default port number
#   cluster_init BASE [PORT]    initdb + configure (BASE absent or empty)
#   cluster_start BASE          pg_ctl start -w
#   cluster_is_running BASE     true when our postmaster in BASE is up
#   cluster_stop BASE           stop if running (idempotent)
#   cluster_destroy BASE        stop, then rm -rf BASE (marker required)
#   cluster_env BASE            set CLUSTER_{BASE,DATA,SOCKDIR,PORT,LOG,SUPERUSER}
#   cluster_psql BASE ARGS...   psql as the superuser against that cluster
#
# Knobs (environment): PG_BINDIR (default /usr/lib/postgresql/15/bin),
# CLUSTER_EXTRA_CONF (extra postgresql.conf lines appended by cluster_init).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
CLUSTER_MARKER=.loginas-throwaway
CLUSTER_SUPERUSER=postgres

if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
	CLUSTER_OS_USER=postgres
else
	CLUSTER_OS_USER=$(id -un)
fi

cluster__err() { printf 'cluster: %s\n' "$*" >&2; }

# Run a command as the cluster OS user, from a directory that user can enter
# (the caller's cwd may be unreadable to postgres, e.g. under /root).  The
# environment is kept, except HOME/USER/LOGNAME/SHELL which runuser sets.
cluster_run_in() {
	local dir=$1
	shift
	if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
		(cd "$dir" && runuser -u "$CLUSTER_OS_USER" -- "$@")
	else
		(cd "$dir" && "$@")
	fi
}

cluster_run_as() {
	cluster_run_in / "$@"
}

# Hand a path we created to the cluster OS user (no-op when not root).
cluster__give() {
	if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
		chown -R "$CLUSTER_OS_USER:" "$@"
	fi
}

cluster_mktemp() {
	local prefix=${1:-loginas} parent=${TMPDIR:-/tmp} dir
	# $TMPDIR may be private to us (e.g. under /root): then use /tmp.
	if ! cluster_run_as test -d "$parent" -a -w "$parent" -a -x "$parent"; then
		parent=/tmp
	fi
	dir=$(mktemp -d "$parent/${prefix}.XXXXXX") || return 1
	if ! { chmod 700 "$dir" && cluster__give "$dir"; }; then
		rm -rf -- "$dir"
		return 1
	fi
	printf '%s\n' "$dir"
}

# A port nobody uses: not 5432, nothing listening on it over TCP, and no
# socket file for it in the usual shared socket directories.  (Our sockets
# live in a private directory, so this is belt and braces.)
cluster_pick_port() {
	local i port
	for ((i = 0; i < 200; i++)); do
		port=$((55000 + RANDOM % 5000))
		[[ -e /var/run/postgresql/.s.PGSQL.$port || -e /tmp/.s.PGSQL.$port ]] && continue
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue
		fi
		printf '%s\n' "$port"
		return 0
	done
	cluster__err "no free port found"
	return 1
}

cluster__owned() {
	local base=$1
	[[ -n $base && -d $base && -f $base/$CLUSTER_MARKER ]]
}

cluster_env() {
	local base=$1
	if ! cluster__owned "$base" || [[ ! -f $base/cluster.env ]]; then
		cluster__err "$base is not a cluster created by test/lib/cluster.sh"
		return 1
	fi
	# shellcheck source=/dev/null
	source "$base/cluster.env"
}

cluster_init() {
	local base=$1 port=${2:-}
	if [[ -z $base ]]; then
		cluster__err "usage: cluster_init BASE [PORT]"
		return 1
	fi
	if [[ -e $base && -n $(ls -A "$base") ]]; then
		cluster__err "refusing to initialise non-empty $base"
		return 1
	fi
	if [[ -z $port ]]; then
		port=$(cluster_pick_port) || return 1
	fi
	mkdir -p "$base/socket" || return 1
	chmod 700 "$base" "$base/socket"
	base=$(cd "$base" && pwd) || return 1
	: >"$base/$CLUSTER_MARKER"
	{
		printf 'CLUSTER_BASE=%q\n' "$base"
		printf 'CLUSTER_DATA=%q\n' "$base/data"
		printf 'CLUSTER_SOCKDIR=%q\n' "$base/socket"
		printf 'CLUSTER_PORT=%q\n' "$port"
		printf 'CLUSTER_LOG=%q\n' "$base/server.log"
		printf 'CLUSTER_SUPERUSER=%q\n' "$CLUSTER_SUPERUSER"
	} >"$base/cluster.env"
	cluster__give "$base" || return 1

	if ! cluster_run_as "$PG_BINDIR/initdb" --pgdata="$base/data" \
		--auth=trust --username="$CLUSTER_SUPERUSER" \
		--encoding=UTF8 --no-locale --no-sync >"$base/initdb.log" 2>&1; then
		cluster__err "initdb failed:"
		cat "$base/initdb.log" >&2
		return 1
	fi

	cluster_run_as tee -a "$base/data/postgresql.conf" >/dev/null <<-EOF || return 1

		# --- throwaway cluster settings (test/lib/cluster.sh) ---
		listen_addresses = ''
		port = $port
		unix_socket_directories = '$base/socket'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_prepared_transactions = 10
		log_line_prefix = '%m [%p] %q%a '
		${CLUSTER_EXTRA_CONF:-}
	EOF
}

cluster_is_running() {
	local base=$1
	cluster__owned "$base" || return 1
	[[ -f $base/data/postmaster.pid ]] || return 1
	cluster_run_as "$PG_BINDIR/pg_ctl" status --pgdata="$base/data" >/dev/null 2>&1
}

cluster_start() {
	local base=$1
	cluster_env "$base" || return 1
	if cluster_is_running "$base"; then
		return 0
	fi
	if ! cluster_run_as "$PG_BINDIR/pg_ctl" start --wait --timeout=60 \
		--pgdata="$CLUSTER_DATA" --log="$CLUSTER_LOG" >/dev/null; then
		cluster__err "server failed to start; last lines of $CLUSTER_LOG:"
		tail -n 30 "$CLUSTER_LOG" >&2 || true
		return 1
	fi
}

cluster_stop() {
	local base=$1
	cluster__owned "$base" || return 0
	cluster_is_running "$base" || return 0
	cluster_run_as "$PG_BINDIR/pg_ctl" stop --wait --timeout=60 --mode=fast \
		--pgdata="$base/data" >/dev/null 2>&1 && return 0
	cluster__err "fast shutdown failed, using immediate"
	cluster_run_as "$PG_BINDIR/pg_ctl" stop --wait --timeout=30 --mode=immediate \
		--pgdata="$base/data" >/dev/null
}

cluster_destroy() {
	local base=$1
	[[ -n $base && -d $base ]] || return 0
	if ! cluster__owned "$base"; then
		cluster__err "not removing $base: no $CLUSTER_MARKER marker"
		return 1
	fi
	cluster_stop "$base" || return 1
	rm -rf -- "$base"
}

cluster_psql() {
	local base=$1
	shift
	cluster_env "$base" || return 1
	cluster_run_as "$PG_BINDIR/psql" --no-psqlrc --host="$CLUSTER_SOCKDIR" \
		--port="$CLUSTER_PORT" --username="$CLUSTER_SUPERUSER" "$@"
}
