# 003_refusal_databases.pl
#	The durable refusal log with more databases than it has workers.
#
# A role with CREATEDB that owns a database with loginas can clone it
# (CREATE DATABASE ... TEMPLATE), as often as it likes.  Every database with
# a refusal needs a worker of its own (it connects to one database), and
# there are at most 64 of them at once (MAX_DB_WORKERS), fewer when
# background worker slots are short (max_worker_processes).  Checked here,
# with 70 clones and a refused assume('x') in each (src/refusal_queue.c):
#   - with the default max_worker_processes (8: a handful of worker slots):
#     every refusal is a failure row of its database within bounded time --
#     the databases take turns, a worker that drained its database gives way;
#   - the launcher does not spin: its CPU time stays small, and the
#     "could not start the refusal log worker" LOG line is written a few
#     times, not once per try (before: 100% of a core and ~1.5 million
#     lines in 7 s);
#   - with max_worker_processes = 80 (slots to spare, the 64 worker states
#     are the limit): the same, in a second round.
#
# Needs what 001_context_boundary.pl needs (PATH, PERL5LIB, TESTDIR,
# PG_REGRESS); loginas installed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;
use Time::HiRes qw(time);

my $ndb = 70;
my $node = loginas_node('databases', preload => 1);

# the template: a shop database owned by a role that may create databases
$node->safe_psql('postgres', q{
	CREATE ROLE cloner LOGIN CREATEDB;
	CREATE DATABASE shop_template OWNER cloner;
});
$node->safe_psql('shop_template', shop_setup_sql());
my $t0 = time;
for my $i (1 .. $ndb)
{
	my ($rc, $o, $e) = $node->psql('postgres', "CREATE DATABASE clone_$i TEMPLATE shop_template",
		extra_params => [ '-U', 'cloner' ]);
	die "CREATE DATABASE clone_$i: $e" if $rc != 0;
}
note(sprintf '%d clones made by a non-superuser in %.1f s', $ndb, time - $t0);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
		WHERE d.datname LIKE 'clone\_%' AND r.rolname = 'cloner'}),
	$ndb, "$ndb databases with loginas, cloned by a role that is no superuser");

sub launcher_cpu_ticks
{
	my $pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'loginas refusal log launcher'});
	my $stat = slurp_file("/proc/$pid/stat");
	$stat =~ s/^.*\) //s;
	my @f = split / /, $stat;
	return $f[11] + $f[12];		# utime + stime (fields 14 and 15)
}

# one refused assume in each database, one after the other (one psql)
sub refuse_everywhere
{
	my ($round) = @_;
	my $script = join '', map { "\\c clone_$_\nSELECT loginas.assume('x$round');\n" } 1 .. $ndb;
	my ($rc, $o, $e) = $node->psql('postgres', $script, on_error_stop => 0);
	my $refused = () = $e =~ /ERROR:  Login as Customer session is not valid/g;
	is($refused, $ndb, "round $round: assume('x$round') refused in each of the $ndb databases");
}

sub round
{
	my ($round, $what) = @_;
	my $log_offset = -s $node->logfile;
	my $ticks = launcher_cpu_ticks();
	my $start = time;
	refuse_everywhere($round);
	my $missing = 0;
	for my $i (1 .. $ndb)
	{
		$node->poll_query_until("clone_$i",
			qq{SELECT count(*) >= $round FROM loginas.action_log
			   WHERE action = 'assume_refused' AND result = 'failure' AND details->>'sqlstate' = '28000'})
		  or $missing++;
	}
	my $took = time - $start;
	my $exact = 0;
	$exact += $node->safe_psql("clone_$_", q{SELECT count(*) FROM loginas.action_log WHERE action = 'assume_refused'}) == $round
	  for 1 .. $ndb;
	is($exact, $ndb, "round $round: each database has exactly $round such rows (none written twice)");
	is($missing, 0, "round $round ($what): every database has its refusal as a failure row");
	cmp_ok($took, '<', 120, "round $round: within bounded time");
	my $cpu = (launcher_cpu_ticks() - $ticks) / 100;
	cmp_ok($cpu, '<', 3, "round $round: the launcher used little CPU (it does not spin)");
	my $log = substr(slurp_file($node->logfile), $log_offset);
	my $could_not = () = $log =~ /could not start the refusal log worker/g;
	cmp_ok($could_not, '<=', 5, "round $round: \"could not start the refusal log worker\" is logged a few times at most");
	unlike($log, qr/could not write a refusal|not written to loginas\.action_log/, "round $round: nothing failed or was dropped");
	note(sprintf 'round %d (%s): %.1f s for %d databases; launcher CPU %.2f s; %d "could not start" lines',
		$round, $what, $took, $ndb, $cpu, $could_not);
}

round(1, 'max_worker_processes = ' . $node->safe_psql('postgres', 'SHOW max_worker_processes'));

$node->append_conf('postgresql.conf', "max_worker_processes = 80\n");
$node->restart;
round(2, 'max_worker_processes = 80');

$node->stop;
done_testing();
