#!/usr/bin/env bash
# test/pg-versions.sh — private PostgreSQL installs of the majors Debian 12
# does not ship (17 from trixie, 18 from sid, 19 from experimental), so that
# `make test` can run against each of them (`make test-all-versions`).
#
#   bash test/pg-versions.sh prepare MAJOR   prepare (or reuse) MAJOR's prefix;
#                                            prints its bindir on stdout
#   bash test/pg-versions.sh bindir MAJOR    the bindir of a prepared MAJOR
#                                            (fails when it is not prepared)
#   bash test/pg-versions.sh majors          the majors this script knows
#   bash test/pg-versions.sh mirror          the Debian mirror apt uses here
#                                            (test/fresh.sh debootstraps from it)
#
# How a prefix is made (4 to 9 s and about 120 MB per major here):
#   1. a private apt configuration (its own sources list, lists and cache
#      under the cache directory; never the system's sources or state) reusing
#      the Debian mirror of /etc/apt/sources.list*: `apt-get update`, then
#      `apt-get download` of postgresql-N, postgresql-client-N,
#      postgresql-server-dev-N and the libraries of that suite they need
#      beyond Debian 12's (glibc, libpq, OpenSSL, LDAP, libxml2, zstd, ICU, ...);
#   2. `dpkg-deb -x` of each into the prefix (nothing is installed);
#   3. Debian 12's patchelf (downloaded and unpacked the same way) points
#      every ELF under the prefix's bin, lib and lib/pgxs at the unpacked
#      loader (glibc 2.38+, Debian 12 has 2.36) and libraries (DT_RPATH, so
#      it holds for their own dependencies and for dlopen()ed modules too);
#   4. the JIT provider (llvmjit.so: libLLVM is not there) is removed and the
#      prefix's Makefile.global says with_llvm = no; warning options the
#      system's gcc does not know are dropped from it;
#   5. a check: postgres, initdb, psql, pg_config, pg_regress and
#      isolationtester run, and pg_config reports the prefix's paths.
# A prefix is built in place (the loader's path in each ELF is absolute) and
# marked complete (<prefix>/.loginas-pg-prefix) only once it passed the
# check; a complete prefix that still passes it is reused as it is (delete it
# to rebuild), anything else is built anew.  Concurrent runs take a lock.
#
# Cache directory: $LOGINAS_PG_CACHE, else /var/cache/loginas-pg for root,
# else ${XDG_CACHE_HOME:-~/.cache}/loginas-pg.  Prefix of major N: <cache>/pgN.
# Needs apt-get, dpkg-deb, a C compiler and Debian's mirror the first time.
set -euo pipefail

if [[ -n ${LOGINAS_PG_CACHE:-} ]]; then
	CACHE=$LOGINAS_PG_CACHE
elif [[ ${EUID:-$(id -u)} -eq 0 ]]; then
	CACHE=/var/cache/loginas-pg
else
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/loginas-pg
fi

die() { echo "pg-versions: $*" >&2; exit 1; }
say() { echo "pg-versions: $*" >&2; }

# Debian suites per major (the first one is where the libraries come from;
# the others are added to the sources list, lower in apt's preference).
suites_of() {
	case $1 in
	17) echo trixie ;;
	18) echo sid ;;
	19) echo "sid experimental" ;;
	*) return 1 ;;
	esac
}

# The libraries of that suite the server, client and PGXS tools need in a
# version newer than Debian 12's (the rest come from the system).
libs_of() {
	local common="libc6 libpq5 libssl3t64 libldap2 libzstd1 libstdc++6 libgcc-s1"
	case $1 in
	17) echo "$common libxml2 libicu76" ;;
	18 | 19) echo "$common libicu78 libxml2-16 liburing2 libnuma1" ;;
	*) return 1 ;;
	esac
}

MAJORS="17 18 19"

# The mirror apt already uses for Debian's main archive (first match in the
# one-line or deb822 sources of /etc/apt); never a hard-coded host.
mirror_url() {
	local url
	url=$(
		{
			cat /etc/apt/sources.list 2>/dev/null || true
			cat /etc/apt/sources.list.d/*.list 2>/dev/null || true
		} | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' |
			{ grep -v -- '-security' || true; } | head -n 1
	)
	if [[ -z $url ]]; then
		url=$({ cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
			awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' |
			{ grep -v -- '-security' || true; } | head -n 1)
	fi
	[[ -n $url ]] || die "no Debian mirror found in /etc/apt/sources.list*"
	printf '%s\n' "${url%/}"
}

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# apt_setup NAME SUITE...: a private apt state in $CACHE/apt/NAME for these
# suites, updated; sets APT_OPTS for apt-get against it.
apt_setup() {
	local name=$1 dir mirror suite
	shift
	dir=$CACHE/apt/$name
	mirror=$(mirror_url)
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	: >"$dir/sources.list"
	for suite in "$@"; do
		printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$mirror" "$suite" >>"$dir/sources.list"
	done
	APT_OPTS=(
		-o "Dir::Etc::SourceList=$dir/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$dir/lists"
		-o "Dir::Cache=$dir/cache"
		-o Dir::State::status=/dev/null
		-o "APT::Default-Release=$1"
		-o Debug::NoLocking=1
		-q
	)
	say "apt-get update ($*)"
	apt-get "${APT_OPTS[@]}" update >"$dir/update.log" 2>&1 ||
		{ cat "$dir/update.log" >&2; die "apt-get update failed for $*"; }
}

# download DIR PACKAGE...: the .deb files into DIR (apt-get download)
download() {
	local dir=$1
	shift
	mkdir -p "$dir"
	# apt's _apt user may not be able to write here: that is only a warning
	(cd "$dir" && apt-get "${APT_OPTS[@]}" download "$@") >"$dir.log" 2>&1 ||
		{ cat "$dir.log" >&2; die "apt-get download failed: $*"; }
}

# patchelf from Debian 12 itself, unpacked into the cache (not installed)
PATCHELF=""
get_patchelf() {
	local dir=$CACHE/patchelf
	if [[ ! -x $dir/usr/bin/patchelf ]]; then
		local suite
		suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
		apt_setup host "$suite"
		rm -rf "$dir" "$dir.debs"
		download "$dir.debs" patchelf
		dpkg-deb -x "$dir.debs"/patchelf_*.deb "$dir"
		rm -rf "$dir.debs" "$dir.debs.log"
	fi
	PATCHELF=$dir/usr/bin/patchelf
	"$PATCHELF" --version >/dev/null || die "$PATCHELF does not run"
}

# is_elf FILE: true for an ELF file
is_elf() {
	[[ -f $1 && ! -L $1 ]] && [[ $(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ') == '177ELF' ]]
}

# version_opt TOOL: how TOOL prints its version (isolationtester: -V only)
version_opt() {
	[[ $1 == */isolationtester ]] && echo -V || echo --version
}

# check_prefix MAJOR DIR: the tools of the prefix run, from the prefix
check_prefix() {
	local major=$1 dir=$2 bindir pgxs_src got want tool
	bindir=$dir/usr/lib/postgresql/$major/bin
	for tool in postgres initdb psql pg_ctl pg_config; do
		"$bindir/$tool" --version >/dev/null 2>&1 ||
			{ "$bindir/$tool" --version >&2 || true; say "$bindir/$tool does not run"; return 1; }
	done
	got=$("$bindir/pg_config" --pkglibdir)
	want=$dir/usr/lib/postgresql/$major/lib
	[[ $got == "$want" ]] || { say "pg_config --pkglibdir says $got, not $want"; return 1; }
	pgxs_src=$(dirname "$(dirname "$("$bindir/pg_config" --pgxs)")")
	for tool in test/regress/pg_regress test/isolation/pg_isolation_regress test/isolation/isolationtester; do
		"$pgxs_src/$tool" "$(version_opt "$tool")" >/dev/null 2>&1 ||
			{ "$pgxs_src/$tool" "$(version_opt "$tool")" >&2 || true; say "$pgxs_src/$tool does not run"; return 1; }
	done
	got=$("$bindir/postgres" --version)
	[[ $got == *" $major"* ]] || { say "postgres --version says '$got'"; return 1; }
}

# build MAJOR: make the prefix of MAJOR in a temporary directory, check it,
# rename it into place
build() {
	local major=$1 suites libs debs dir f loader libdirs mk
	suites=$(suites_of "$major") || die "unknown major $major (known: $MAJORS)"
	libs=$(libs_of "$major")
	get_patchelf
	# shellcheck disable=SC2086
	apt_setup "$major" $suites
	# built where it stays: the loader's path written into each ELF is absolute
	dir=$CACHE/pg$major
	debs=$CACHE/.debs$major
	rm -rf "$dir" "$debs"
	# shellcheck disable=SC2086
	download "$debs" "postgresql-$major" "postgresql-client-$major" "postgresql-server-dev-$major" $libs
	say "unpacking $(ls "$debs" | wc -l) packages"
	for f in "$debs"/*.deb; do
		dpkg-deb -x "$f" "$dir"
	done
	loader=$dir/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
	[[ -e $loader ]] || die "no loader in the unpacked libc6 ($loader)"
	libdirs=$dir/usr/lib/x86_64-linux-gnu:$dir/lib/x86_64-linux-gnu
	say "patchelf: loader and library path of every ELF under bin and lib"
	while IFS= read -r -d '' f; do
		is_elf "$f" || continue
		if "$PATCHELF" --print-interpreter "$f" >/dev/null 2>&1; then
			"$PATCHELF" --set-interpreter "$loader" "$f"
		fi
		"$PATCHELF" --force-rpath --set-rpath "$libdirs" "$f"
	done < <(find "$dir/usr/lib/postgresql/$major/bin" "$dir/usr/lib/postgresql/$major/lib" -type f -print0)
	# no libLLVM here: a JIT provider that cannot load breaks queries at run time
	rm -f "$dir/usr/lib/postgresql/$major/lib/llvmjit.so"
	rm -rf "$dir/usr/lib/postgresql/$major/lib/bitcode"
	mk=$dir/usr/lib/postgresql/$major/lib/pgxs/src/Makefile.global
	[[ -f $mk ]] || die "no $mk in postgresql-server-dev-$major"
	sed -i -e 's/^with_llvm[[:space:]]*=.*/with_llvm = no/' "$mk"
	drop_unknown_warnings "$mk"
	rm -rf "$debs" "$debs.log"
	if ! check_prefix "$major" "$dir"; then
		rm -rf "$dir"
		die "the prefix of PostgreSQL $major does not work (see above)"
	fi
	{
		echo "PostgreSQL $("$dir/usr/lib/postgresql/$major/bin/postgres" --version)"
		echo "suites: $suites; prepared $(date -u +%FT%TZ) by test/pg-versions.sh"
	} >"$dir/.loginas-pg-prefix"
	say "PostgreSQL $major ready in $CACHE/pg$major ($(du -sh "$CACHE/pg$major" | cut -f1))"
}

# drop_unknown_warnings MAKEFILE_GLOBAL: remove from CFLAGS the -W options the
# system's compiler rejects (18's -Wmissing-variable-declarations and gcc 12)
drop_unknown_warnings() {
	local mk=$1 cc opt tmpc
	cc=$(sed -n 's/^CC[[:space:]]*=[[:space:]]*//p' "$mk" | head -n 1)
	cc=${cc:-gcc}
	command -v "${cc%% *}" >/dev/null 2>&1 || cc=gcc
	command -v "${cc%% *}" >/dev/null 2>&1 ||
		die "no C compiler to check Makefile.global's options against (make deps installs gcc)"
	tmpc=$(mktemp --suffix=.c)
	echo 'int loginas_probe(void); int loginas_probe(void) { return 0; }' >"$tmpc"
	for opt in $(grep -E '^(CFLAGS|CFLAGS_SL|PERMIT_[A-Z_]+|CXXFLAGS)[[:space:]]*=' "$mk" | grep -oE -- '-W[a-z][a-z0-9=-]*' | sort -u); do
		if [[ $($cc "$opt" -c -o /dev/null "$tmpc" 2>&1) == *"unrecognized command"?"line option"* ]]; then
			say "dropping $opt from Makefile.global (${cc} does not know it)"
			sed -i -E "/^(CFLAGS|CFLAGS_SL|PERMIT_[A-Z_]+|CXXFLAGS)[[:space:]]*=/ s/(^|[[:space:]])$opt([[:space:]]|$)/\1\2/g" "$mk"
		fi
	done
	rm -f "$tmpc"
}

# prepare MAJOR: reuse or build, print the bindir
prepare() {
	local major=$1 bindir
	suites_of "$major" >/dev/null || die "unknown major $major (known: $MAJORS)"
	bindir=$CACHE/pg$major/usr/lib/postgresql/$major/bin
	mkdir -p "$CACHE"
	chmod 755 "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if [[ -f $CACHE/pg$major/.loginas-pg-prefix ]] && check_prefix "$major" "$CACHE/pg$major"; then
		say "PostgreSQL $major: reusing $CACHE/pg$major"
	else
		[[ ! -e $CACHE/pg$major ]] || say "PostgreSQL $major: $CACHE/pg$major is incomplete or broken: rebuilding it"
		command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
			die "apt-get and dpkg-deb are needed (Debian or Ubuntu)"
		[[ $(uname -m) == x86_64 ]] || die "only x86_64 is supported (this is $(uname -m))"
		build "$major"
	fi
	flock -u 9
	printf '%s\n' "$bindir"
}

main() {
	local cmd=${1:-} major
	case $cmd in
	prepare)
		[[ $# -eq 2 ]] || die "usage: $0 prepare MAJOR"
		prepare "$2"
		;;
	bindir)
		[[ $# -eq 2 ]] || die "usage: $0 bindir MAJOR"
		major=$2
		[[ -f $CACHE/pg$major/.loginas-pg-prefix ]] || die "PostgreSQL $major is not prepared (run: $0 prepare $major)"
		printf '%s\n' "$CACHE/pg$major/usr/lib/postgresql/$major/bin"
		;;
	majors) echo "$MAJORS" ;;
	mirror) mirror_url ;;
	*) die "usage: $0 prepare MAJOR | bindir MAJOR | majors | mirror" ;;
	esac
}

main "$@"
