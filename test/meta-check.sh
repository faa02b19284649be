#!/usr/bin/env bash
# test/meta-check.sh — checks that META.json (the PGXN metadata) agrees with
# loginas.control, where the version lives.  Run by `make dist` (which
# refuses to pack a disagreeing tree) and by `make test`.
#
# PGXN wants semantic versions (MAJOR.MINOR.PATCH); the extension version of
# loginas.control ("default_version") is padded with ".0" to three parts:
# control 1.0 <-> META.json 1.0.0.  Checked:
#   - META.json is valid JSON with the keys the PGXN Meta Spec 1.0.0 requires
#     (name, version, abstract, maintainer, license, provides, meta-spec);
#   - name and the provided extension are the control file's extension;
#   - "version" and provides.<extension>.version are the control version;
#   - provides.<extension>.file is the base script sql/<extension>--<base>.sql,
#     it exists, and the upgrade scripts lead from <base> to the version,
#     and its docfile exists.
# Prints "meta: ok (...)" or the disagreements, and exits non-zero on any.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

control=$(ls -- *.control)
extension=${control%.control}
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$control")
if [[ -z $version ]]; then
	echo "meta: no default_version in $control" >&2
	exit 1
fi

perl -MJSON::PP -e '
	use strict;
	use warnings;
	my ($extension, $version) = @ARGV;
	my $semver = $version;
	$semver .= ".0" while ($semver =~ tr/.//) < 2;
	my $text = do { local $/; open my $fh, "<", "META.json" or die "meta: META.json: $!\n"; <$fh> };
	my $meta = eval { JSON::PP->new->decode($text) } or die "meta: META.json is not valid JSON: $@";
	my @bad;
	for my $key (qw(name version abstract maintainer license provides meta-spec)) {
		push @bad, "missing required key \"$key\"" unless exists $meta->{$key};
	}
	my $spec = $meta->{"meta-spec"} // {};
	push @bad, "meta-spec.version is not 1.0.0" unless ($spec->{version} // "") eq "1.0.0";
	push @bad, "name is \"" . ($meta->{name} // "") . "\", the control file is $extension.control"
		unless ($meta->{name} // "") eq $extension;
	push @bad, "version is \"" . ($meta->{version} // "") . "\", loginas.control says $version (PGXN: $semver)"
		unless ($meta->{version} // "") eq $semver;
	my $p = ($meta->{provides} // {})->{$extension};
	if (!$p) {
		push @bad, "provides has no \"$extension\"";
	} else {
		push @bad, "provides.$extension.version is \"" . ($p->{version} // "") . "\", expected $semver"
			unless ($p->{version} // "") eq $semver;
		# the file is the base install script, sql/<extension>--<base>.sql;
		# CREATE EXTENSION reaches the control version from it through the
		# upgrade scripts sql/<extension>--<from>--<to>.sql
		my $file = $p->{file} // "";
		if ($file !~ m{^sql/\Q$extension\E--([^-]+)\.sql$}) {
			push @bad, "provides.$extension.file is \"$file\", expected sql/$extension--<version>.sql";
		} elsif (!-f $file) {
			push @bad, "$file does not exist";
		} else {
			my ($at, %seen) = ($1);
			my %step = map { m{--([^-]+)--([^-]+)\.sql$} ? ($1 => $2) : () } glob("sql/$extension--*--*.sql");
			while ($at ne $version && exists $step{$at} && !$seen{$at}++) {
				$at = $step{$at};
			}
			push @bad, "no upgrade path from $file to $version (sql/$extension--<from>--<to>.sql)"
				unless $at eq $version;
		}
		push @bad, "provides.$extension.docfile " . ($p->{docfile} // "(none)") . " does not exist"
			unless defined $p->{docfile} && -f $p->{docfile};
	}
	if (@bad) {
		print STDERR "meta: META.json disagrees with $extension.control:\n";
		print STDERR "  - $_\n" for @bad;
		exit 1;
	}
	print "meta: ok (META.json $semver = $extension.control $version)\n";
' "$extension" "$version"
