#!/usr/bin/env bash
# test/fresh.sh — owns `make test-fresh`, the release check: the README's two
# commands on a machine that has nothing yet.
#
#   1. a fresh Debian 12 root: debootstrap --variant=minbase
#      --include=ca-certificates,git,make bookworm DIR, from the mirror apt
#      already uses (debootstrap itself is installed, without recommends,
#      when missing);
#   2. this repository cloned into it (the committed HEAD: what a user gets);
#   3. /proc, /dev (with /dev/shm and /dev/pts), /sys mounted into it;
#   4. inside, as root: `make test`, then `make demo` and `make demo-stop`;
#   5. the mounts are undone and the root removed on the way out, whatever
#      happened (LOGINAS_FRESH_KEEP=1 keeps the root, unmounted).
#
# Root only (debootstrap, chroot, mount).  Several minutes; not part of CI.
# The last line is "N passed, M failed": the counts of `make test` in the
# root plus one test for the demo (started, its story ran, stopped).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=bookworm

die() { echo "fresh: $*" >&2; exit 1; }
say() { printf -- '--- fresh: %s\n' "$*"; }

[[ ${EUID:-$(id -u)} -eq 0 ]] || die "root only (debootstrap, chroot and mount need it)"
git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null || die "$ROOT is not a git checkout"
git -C "$ROOT" diff --quiet HEAD -- || echo "fresh: warning: uncommitted changes are not in the check (it clones HEAD)" >&2

DIR=""
MOUNTS=()
PASSED=0
FAILED=0

on_exit() {
	local rc=$? m i
	trap - EXIT INT TERM
	set +e
	if [[ -n $DIR && -d $DIR ]]; then
		# a demo or test cluster still running in the root (an interrupted run):
		# stopped by the root's own scripts, which know their clusters
		if [[ -x $DIR/usr/bin/make && -d $DIR/src/loginas ]] && mountpoint -q "$DIR/proc"; then
			chroot "$DIR" /bin/bash -c 'cd /src/loginas && make demo-stop' >/dev/null 2>&1
		fi
		for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
			m=${MOUNTS[i]}
			mountpoint -q "$m" && { umount -R "$m" || umount -R -l "$m"; }
		done
		if grep -q " $DIR/" /proc/mounts; then
			echo "fresh: mounts are left under $DIR; not removing it" >&2
		elif [[ -n ${LOGINAS_FRESH_KEEP:-} ]]; then
			echo "fresh: LOGINAS_FRESH_KEEP set: the root is kept in $DIR" >&2
		else
			rm -rf --one-file-system -- "$DIR"
		fi
	fi
	echo "$PASSED passed, $FAILED failed"
	((rc == 0 && FAILED == 0)) || exit 1
	exit 0
}
trap on_exit EXIT
trap 'echo "fresh: interrupted" >&2; exit 130' INT
trap 'echo "fresh: terminated" >&2; exit 143' TERM

if ! command -v debootstrap >/dev/null 2>&1; then
	say "installing debootstrap"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi

DIR=$(mktemp -d "${LOGINAS_FRESH_DIR:-/var/tmp}/loginas-fresh.XXXXXX")
chmod 755 "$DIR"
mirror=$(bash "$ROOT/test/pg-versions.sh" mirror)
start=$SECONDS
say "debootstrap --variant=minbase $SUITE into $DIR"
if ! debootstrap --variant=minbase --include=ca-certificates,git,make "$SUITE" "$DIR" "$mirror" \
	>"$DIR.debootstrap.log" 2>&1; then
	tail -n 30 "$DIR.debootstrap.log" >&2
	rm -f "$DIR.debootstrap.log"
	FAILED=1
	die "debootstrap failed"
fi
rm -f "$DIR.debootstrap.log"
say "root built in $((SECONDS - start))s"

say "cloning $(git -C "$ROOT" rev-parse --short HEAD) into /src/loginas"
mkdir -p "$DIR/src"
git clone -q --no-hardlinks "$ROOT" "$DIR/src/loginas"
git -C "$DIR/src/loginas" checkout -q "$(git -C "$ROOT" rev-parse HEAD)"

for m in proc sys dev; do
	mkdir -p "$DIR/$m"
	MOUNTS+=("$DIR/$m")   # before mounting: undone on the way out if mounted
	case $m in
	proc) mount -t proc proc "$DIR/proc" ;;
	sys) mount -t sysfs sysfs "$DIR/sys" ;;
	# /dev with what is mounted below it (/dev/shm: the servers' shared
	# memory, /dev/pts), as a slave so that nothing done here reaches /dev
	dev) mount --rbind /dev "$DIR/dev" && mount --make-rslave "$DIR/dev" ;;
	esac
done
# the resolver, for apt inside
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true

in_root() {
	chroot "$DIR" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c "cd /src/loginas && $1"
}

say "make test (inside)"
start=$SECONDS
rc=0
in_root 'make test' 2>&1 | tee "$DIR.test.log" || rc=$?
last=$(tail -n 1 "$DIR.test.log")
rm -f "$DIR.test.log"
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
	PASSED=$((PASSED + BASH_REMATCH[1]))
	FAILED=$((FAILED + BASH_REMATCH[2]))
	((rc == 0 || BASH_REMATCH[2] > 0)) || FAILED=$((FAILED + 1))
else
	FAILED=$((FAILED + 1))
fi
say "make test took $((SECONDS - start))s (exit status $rc)"

say "make demo, then make demo-stop (inside)"
if in_root 'make demo' && in_root 'make demo-stop'; then
	PASSED=$((PASSED + 1))
	say "demo: ok"
else
	FAILED=$((FAILED + 1))
	say "demo: FAILED"
fi
