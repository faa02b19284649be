#!/usr/bin/env bash
# test/all-versions.sh — owns `make test-all-versions`: the whole `make test`
# (test/run-tests.sh: build, install, every suite on a throwaway cluster) once
# per PostgreSQL major, one after the other.
#
#   15      Debian 12's own (test/deps.sh installs it), or $PG_BINDIR when set
#   17 18   private prefixes made by test/pg-versions.sh (Debian trixie, sid)
#   19      the same from Debian experimental (a release candidate): counted
#           when it can be prepared and runs here, otherwise reported as
#           skipped with the reason, never a failure
#
# PG_MAJORS (environment or make variable) picks the majors, in order
# (default "15 17 18 19").  Each major's output goes to the terminal as it
# runs (each stopped after $LOGINAS_MAJOR_TIMEOUT seconds, default 1800);
# then a table: major, server version, its counts, time.  The last line
# is "N passed, M failed, K skipped" over all majors (K: majors skipped); the
# exit status is non-zero when anything failed or a major other than 19 could
# not be prepared.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAJORS=${PG_MAJORS:-15 17 18 19}
# majors that may be missing here without failing the run
OPTIONAL_MAJORS=" 19 "
# one major's make test (about a minute here; a hung suite must not eat CI's time)
TIMEOUT=${LOGINAS_MAJOR_TIMEOUT:-1800}

PASSED=0
FAILED=0
SKIPPED=0
ROWS=()
LOG=""

on_exit() {
	local rc=$?
	trap - EXIT
	[[ -z $LOG ]] || rm -f -- "$LOG"
	printf '\n======== all majors ========\n'
	printf '%-6s %-42s %s\n' major server result
	((${#ROWS[@]} == 0)) || printf '%s\n' "${ROWS[@]}"
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	((rc == 0 && FAILED == 0)) || exit 1
	exit 0
}
trap on_exit EXIT
trap 'echo "all-versions: interrupted" >&2; exit 130' INT
trap 'echo "all-versions: terminated" >&2; exit 143' TERM

row() { ROWS+=("$(printf '%-6s %-42s %s' "$1" "$2" "$3")"); }

# the system's compiler and PostgreSQL 15 first: pg-versions.sh checks the
# prefixes' compiler options against the compiler
bash "$ROOT/test/deps.sh"

LOG=$(mktemp)
for major in $MAJORS; do
	printf '\n################ PostgreSQL %s ################\n' "$major"
	if [[ $major == 15 ]]; then
		bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
	elif ! bindir=$(bash "$ROOT/test/pg-versions.sh" prepare "$major" 2>"$LOG"); then
		cat "$LOG" >&2
		reason=$(grep -v '^pg-versions: apt-get update' "$LOG" | tail -n 1 | sed 's/^pg-versions: //')
		if [[ $OPTIONAL_MAJORS == *" $major "* ]]; then
			echo "all-versions: PostgreSQL $major skipped: it cannot be prepared or run here ($reason)"
			SKIPPED=$((SKIPPED + 1))
			row "$major" "-" "skipped: cannot be prepared or run here ($reason)"
		else
			echo "all-versions: PostgreSQL $major could not be prepared ($reason)" >&2
			FAILED=$((FAILED + 1))
			row "$major" "-" "FAILED: could not be prepared ($reason)"
		fi
		continue
	else
		cat "$LOG" >&2
	fi
	server=$("$bindir/postgres" --version 2>/dev/null || echo "? ($bindir)")
	start=$SECONDS
	rc=0
	PG_BINDIR=$bindir timeout --kill-after=60 "$TIMEOUT" bash "$ROOT/test/run-tests.sh" 2>&1 | tee "$LOG" || rc=$?
	((rc != 124)) || echo "all-versions: PostgreSQL $major: make test did not end within ${TIMEOUT}s" >&2
	secs=$((SECONDS - start))
	last=$(tail -n 1 "$LOG")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		((rc == 0 || f > 0)) || f=1
	else
		p=0 f=1
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	row "$major" "${server#postgres (PostgreSQL) }" "$p passed, $f failed in $((secs / 60))m$((secs % 60))s"
done
