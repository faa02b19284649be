#!/usr/bin/env bash
# test/demo.sh — owns `make demo` and `make demo-stop`.
#
#   test/demo.sh start   install what is missing (test/deps.sh), build and
#                        install the extension, (re)create the demo cluster,
#                        load a Magento-shaped shop (test/demo/shop.sql) and
#                        play the seed's story (test/demo/story.sql) as a
#                        transcript; the cluster is left running to explore
#   test/demo.sh stop    stop the demo cluster and remove its directory
#
# The demo cluster is a throwaway cluster made by test/lib/cluster.sh, owned
# by the `postgres` OS user, in a fixed directory ($DEMO_BASE, default
# /tmp/loginas-demo) with a private socket directory ($DEMO_BASE/socket) and
# a fixed port ($DEMO_PORT, default 54329); no TCP (listen_addresses = '').
# `start` and `stop` only ever stop or remove a cluster in $DEMO_BASE that
# carries test/lib/cluster.sh's marker file, i.e. one this script created.
# The transcript is also kept in $DEMO_BASE/transcript.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib/cluster.sh
source "$ROOT/test/lib/cluster.sh"

DEMO_BASE=${DEMO_BASE:-/tmp/loginas-demo}
DEMO_PORT=${DEMO_PORT:-54329}
DEMO_DB=shop
PG_CONFIG=$PG_BINDIR/pg_config

export LANG=C.UTF-8
unset LC_ALL LANGUAGE

say() { printf 'demo: %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

connect_line() {
	printf 'psql -h %s -p %s -U postgres %s' "$DEMO_BASE/socket" "$DEMO_PORT" "$DEMO_DB"
}

# The pid of the postmaster running on $DEMO_BASE/data, or nothing: the pid in
# postmaster.pid counts only if that process is alive and its working
# directory is our data directory (a postmaster runs in its data directory),
# so a stale pid file never leads us to signal some other process.
demo_postmaster_pid() {
	local pid cwd
	[[ -f $DEMO_BASE/data/postmaster.pid ]] || return 0
	pid=$(head -n 1 "$DEMO_BASE/data/postmaster.pid" 2>/dev/null) || return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 0
	if [[ $cwd == "$DEMO_BASE/data" ]]; then
		printf '%s\n' "$pid"
	fi
}

# Stop and remove the demo cluster; false when there is none.  Refuses (and
# exits) when $DEMO_BASE is not a directory this script created.
demo_remove() {
	local pid
	[[ -e $DEMO_BASE ]] || return 1
	if [[ ! -f $DEMO_BASE/$CLUSTER_MARKER ]]; then
		die "$DEMO_BASE exists but was not created by make demo (no $CLUSTER_MARKER marker); not touching it"
	fi
	if [[ -f $DEMO_BASE/cluster.env ]]; then
		(
			cluster_env "$DEMO_BASE" && [[ $CLUSTER_DATA == "$DEMO_BASE/data" ]]
		) || die "$DEMO_BASE/cluster.env does not describe a cluster in $DEMO_BASE/data; not touching it"
	fi
	pid=$(demo_postmaster_pid)
	if [[ -n $pid ]]; then
		say "stopping the demo cluster in $DEMO_BASE (postmaster pid $pid)"
	elif [[ -f $DEMO_BASE/data/postmaster.pid ]]; then
		# not our postmaster (crashed, or the machine rebooted): stale
		rm -f -- "$DEMO_BASE/data/postmaster.pid"
	fi
	cluster_destroy "$DEMO_BASE" || die "could not stop or remove $DEMO_BASE"
	# pg_ctl returns once postmaster.pid is gone, a moment before the process
	if [[ -n $pid ]]; then
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			die "the demo postmaster (pid $pid) is still running after its shutdown"
		fi
	fi
	return 0
}

demo_stop() {
	if demo_remove; then
		say "demo cluster stopped and $DEMO_BASE removed"
	else
		say "no demo cluster in $DEMO_BASE: nothing to stop"
	fi
}

# psql as the superuser on the demo cluster; SQL comes on stdin (psql runs as
# the postgres OS user, who may not be able to read the checkout)
demo_psql() {
	cluster_psql "$DEMO_BASE" --dbname="$DEMO_DB" --set=ON_ERROR_STOP=1 --pset=pager=off "$@"
}

demo_start() {
	local story_rc=0

	if [[ -f $ROOT/test/deps.sh ]]; then
		bash "$ROOT/test/deps.sh"
	fi

	say "building and installing the extension"
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" ||
		die "build failed (make)"
	make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" install >/dev/null ||
		die "install failed (make install)"

	if demo_remove; then
		say "removed the previous demo cluster"
	fi
	say "creating the demo cluster in $DEMO_BASE (port $DEMO_PORT, socket only)"
	if ! { cluster_init "$DEMO_BASE" "$DEMO_PORT" && cluster_start "$DEMO_BASE"; }; then
		cluster_destroy "$DEMO_BASE" || true
		die "could not create the demo cluster"
	fi

	cluster_psql "$DEMO_BASE" --dbname=postgres --quiet --set=ON_ERROR_STOP=1 \
		--command="CREATE DATABASE $DEMO_DB" ||
		die "could not create database $DEMO_DB (the cluster is still running: make demo-stop)"
	say "loading the Magento-shaped shop (test/demo/shop.sql) into database $DEMO_DB"
	demo_psql --quiet <"$ROOT/test/demo/shop.sql" >/dev/null ||
		die "test/demo/shop.sql failed (the cluster is still running: make demo-stop)"

	say "playing the story (test/demo/story.sql)"
	echo
	# on stdin rather than -f, psql prints errors without a "psql:file:line:" prefix
	demo_psql --set=server_log="$DEMO_BASE/server.log" <"$ROOT/test/demo/story.sql" 2>&1 |
		cluster_run_as tee "$DEMO_BASE/transcript.txt" || story_rc=$?
	echo
	if ((story_rc != 0)); then
		die "the story stopped on an unexpected error (the cluster is still running: make demo-stop)"
	fi

	cat <<-EOF
		The demo cluster is still running.  Explore the shop and loginas with:

		    $(connect_line)

		(the transcript above is in $DEMO_BASE/transcript.txt)
		Stop it and remove $DEMO_BASE with:

		    make demo-stop
	EOF
}

case ${1:-} in
start) demo_start ;;
stop) demo_stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
