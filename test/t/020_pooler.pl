
# 020_pooler.pl
#	Behind a transaction-pooling pgbouncer, no transaction ever sees another
#	client's Login as Customer context.
#
# pgbouncer (pool_mode = transaction, default_pool_size = 2) sits in front of
# a node; many clients share its two server connections, so one backend runs
# the transactions of many clients one after the other -- exactly where a
# context that outlived its transaction would leak to the next client.
# pgbouncer's server_reset_query is not run in transaction mode: loginas must
# clean up by itself.
#
# Clients (all through pgbouncer, as the storefront role shop_web; client n
# acts for customer n in session n, begun by admin n):
#	8 pgbench clients, each transaction drawn at random from
#	  session    BEGIN; assume(own key); tracked INSERT; record what it sees; COMMIT
#	  rollback   BEGIN; assume; tracked INSERT; ROLLBACK
#	  plain      BEGIN; tracked INSERT; record what it sees; COMMIT
#	  savepoint  BEGIN; SAVEPOINT; assume; ROLLBACK TO SAVEPOINT; record; COMMIT
#	  autocommit assume(own key) alone (warns), then a separate autocommit record
#	  compound   the session transaction as ONE Query message (pgbench's \;)
#	  implicit   assume + record as one Query message without BEGIN (an
#	             implicit transaction block): sees its own session or none
#	2 psql clients whose in-session transactions fail (division by zero) and
#	  are rolled back, alternating with plain records.
# Afterwards, from the recorded rows:
#	every in-session record saw exactly its own session, admin, customer;
#	every plain record saw no context (current_* and banner NULL, in_session false);
#	the backends were really shared (<= pool size, several clients per backend);
#	every tracked row written in a session carries the writing client's session
#	in its stamps and was logged under it, plain rows carry none, rolled-back
#	rows do not exist; verify_log() passes.
#
# Full load: LOGINAS_POOLER_TXNS (transactions per pgbench client, default 250).
use strict;
use warnings;

use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $clients = 8;       # pgbench clients (sessions 1..8)
my $err_clients = 2;   # psql clients with failing transactions (sessions 9..10)
my $nsessions = $clients + $err_clients;
my $pool_size = 2;
my $txns = $ENV{LOGINAS_POOLER_TXNS} // 250;
my $err_loops = 100;

# pgbouncer: the Debian package installs it in /usr/sbin
my ($pgbouncer) = grep { -x $_ }
  (map { File::Spec->catfile($_, 'pgbouncer') } File::Spec->path(), '/usr/sbin', '/usr/bin');
ok(defined $pgbouncer, 'pgbouncer is installed (test/deps.sh installs the Debian package)')
  or BAIL_OUT('pgbouncer not found');

my $node = loginas_node('pooler', conf => "max_connections = 40\nrestart_after_crash = off\n");

# --- the shop: bound views, tracked table, settings, grants, consent ------------
my $ids = join(',', 1 .. $nsessions);
# (LoginasTest.pm) customers and admins 1..$nsessions (role Support), all consenting
$node->safe_psql(
	'postgres', shop_setup_sql(
		customers => $nsessions,
		admins => $nsessions,
		settings => [ session_ttl => '7 days' ])
	  . qq{

	-- the table every client writes to, tracked: line_id is the key, the
	-- client column says who wrote it, kind how
	CREATE TABLE shop.cart_line (line_id bigserial PRIMARY KEY, customer_id int NOT NULL,
		client int NOT NULL, kind text NOT NULL);
	SELECT loginas.track('shop.cart_line', 'customer_id');

	-- session n: admin n as customer n; keys stay in the database, never printed
	CREATE SCHEMA tap;
	CREATE TABLE tap.secret (client int PRIMARY KEY, session_id bigint NOT NULL, session_key text NOT NULL);
	CREATE TABLE tap.ticket (client int PRIMARY KEY, token text NOT NULL);
	INSERT INTO tap.ticket SELECT n, (loginas.begin(n, n)).token FROM unnest('{$ids}'::int[]) n;
	INSERT INTO tap.secret SELECT t.client, r.session_id, r.session_key
		FROM tap.ticket t, LATERAL loginas.redeem(t.token) r;
	DROP TABLE tap.ticket;

	-- what each transaction saw
	CREATE TABLE tap.seen (seen_id bigserial PRIMARY KEY, client int NOT NULL, kind text NOT NULL,
		expected_session bigint, seen_session bigint, seen_admin bigint, seen_customer bigint,
		seen_store bigint, seen_read_only boolean, banner text, in_session boolean NOT NULL,
		backend_pid int NOT NULL);

	CREATE ROLE shop_web LOGIN IN ROLE loginas_storefront;
	GRANT USAGE ON SCHEMA shop, tap TO shop_web;
	GRANT INSERT ON shop.cart_line TO shop_web;
	GRANT USAGE ON SEQUENCE shop.cart_line_line_id_seq, tap.seen_seen_id_seq TO shop_web;
	GRANT SELECT ON tap.secret TO shop_web;
	GRANT INSERT ON tap.seen TO shop_web;
});
is($node->safe_psql('postgres', 'SELECT count(DISTINCT session_id) FROM tap.secret'),
	$nsessions, "$nsessions live sessions, one per client");

# --- pgbouncer in transaction pooling mode ------------------------------------------
my $bdir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $blog = "$bdir/pgbouncer.log";
PostgreSQL::Test::Utils::append_to_file("$bdir/userlist.txt", qq{"postgres" ""\n"shop_web" ""\n});
my $nhost = $node->host;
my $nport = $node->port;
PostgreSQL::Test::Utils::append_to_file(
	"$bdir/pgbouncer.ini", qq{[databases]
postgres = host=$nhost port=$nport dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $bdir/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 100
max_db_connections = $pool_size
server_reset_query =
server_reset_query_always = 0
ignore_startup_parameters = extra_float_digits
logfile = $blog
pidfile = $bdir/pgbouncer.pid
admin_users = postgres
});

my $bouncer = IPC::Run::start([ $pgbouncer, "$bdir/pgbouncer.ini" ],
	'<', \undef, '>', "$bdir/stdout", '2>', "$bdir/stderr");
END { $bouncer->kill_kill if $bouncer; }

# psql through pgbouncer; returns (rc, stdout, stderr)
sub via_bouncer
{
	my ($sql, $user) = @_;
	my ($out, $err) = ('', '');
	my $rc = IPC::Run::run(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', $bport,
			'-U', $user // 'shop_web', '-d', 'postgres', '-c', $sql
		],
		'>', \$out, '2>', \$err);
	chomp $out;
	return ($rc, $out, $err);
}

my $up = 0;
for (1 .. 100)
{
	my ($rc) = via_bouncer('SELECT 1');
	if ($rc) { $up = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($up, 'pgbouncer accepts connections') or BAIL_OUT('pgbouncer did not start: '
	  . slurp_file("$bdir/stderr") . (-e $blog ? slurp_file($blog) : ''));
my ($rc, $out, $err) = via_bouncer('SELECT loginas.current_session() IS NULL, loginas.in_session()');
is($out, 't|f', 'a plain statement through pgbouncer: no context');

# --- the clients -----------------------------------------------------------------------
my $me = '\set me :client_id + 1';
my $record_plain = q{INSERT INTO tap.seen (client, kind, seen_session, seen_admin, seen_customer, seen_store,
	seen_read_only, banner, in_session, backend_pid)
	VALUES (:me, 'plain', loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
	loginas.current_store(), loginas.current_read_only(), loginas.banner(), loginas.in_session(), pg_backend_pid());};
$record_plain =~ s/\n\t/ /g;
my $assume = 'SELECT loginas.assume(session_key) FROM tap.secret WHERE client = :me;';
# the same pieces without their ";", for compound queries (pgbench's \;)
my $assume_c = 'SELECT loginas.assume(session_key) FROM tap.secret WHERE client = :me';
my $insert_c = q{INSERT INTO shop.cart_line (customer_id, client, kind) VALUES (:me, :me,};
my $record_session_c = q{INSERT INTO tap.seen (client, kind, expected_session, seen_session, seen_admin, seen_customer, seen_store, seen_read_only, banner, in_session, backend_pid) SELECT :me,};
my $from_secret = q{, s.session_id, loginas.current_session(), loginas.current_admin(), loginas.current_customer(), loginas.current_store(), loginas.current_read_only(), loginas.banner(), loginas.in_session(), pg_backend_pid() FROM tap.secret s WHERE s.client = :me};
my %scripts = (
	session => qq{$me
BEGIN;
$assume
INSERT INTO shop.cart_line (customer_id, client, kind) VALUES (:me, :me, 'session');
INSERT INTO tap.seen (client, kind, expected_session, seen_session, seen_admin, seen_customer, seen_store, seen_read_only, banner, in_session, backend_pid) SELECT :me, 'session', s.session_id, loginas.current_session(), loginas.current_admin(), loginas.current_customer(), loginas.current_store(), loginas.current_read_only(), loginas.banner(), loginas.in_session(), pg_backend_pid() FROM tap.secret s WHERE s.client = :me;
COMMIT;
},
	rollback => qq{$me
BEGIN;
$assume
INSERT INTO shop.cart_line (customer_id, client, kind) VALUES (:me, :me, 'rolled back');
ROLLBACK;
},
	plain => qq{$me
BEGIN;
INSERT INTO shop.cart_line (customer_id, client, kind) VALUES (:me, :me, 'plain');
$record_plain
COMMIT;
},
	savepoint => qq{$me
BEGIN;
SAVEPOINT a;
$assume
ROLLBACK TO SAVEPOINT a;
$record_plain
COMMIT;
},
	autocommit => qq{$me
$assume
$record_plain
},
	# one Query message holding a whole explicit transaction
	compound => qq{$me
BEGIN \\; $assume_c \\; $insert_c 'compound') \\; $record_session_c 'compound' $from_secret \\; COMMIT;
},
	# one Query message without BEGIN: PostgreSQL runs it as an implicit
	# transaction block; what its second statement sees is recorded as
	# 'implicit' (its own session or none -- never another client's)
	implicit => qq{$me
$assume_c \\; $record_session_c 'implicit' $from_secret;
},);
my %weight = (session => 8, rollback => 3, plain => 6, savepoint => 2, autocommit => 1, compound => 2, implicit => 1);
my @fargs;
for my $name (sort keys %scripts)
{
	my $f = "$bdir/$name.sql";
	PostgreSQL::Test::Utils::append_to_file($f, $scripts{$name});
	push @fargs, '-f', "$f\@$weight{$name}";
}

# the psql clients with failing in-session transactions (sessions 9 and 10)
my @err_runs;
for my $n ($clients + 1 .. $nsessions)
{
	my $plain = $record_plain;
	$plain =~ s/:me/$n/g;
	my $script = '';
	for (1 .. $err_loops)
	{
		$script .= "BEGIN;\nSELECT loginas.assume(session_key) FROM tap.secret WHERE client = $n;\n"
		  . "SELECT 1/0;\nROLLBACK;\n$plain\n";
	}
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-h', '127.0.0.1', '-p', $bport,
			'-U', 'shop_web', '-d', 'postgres', '-f', '-'
		],
		'<', \$script, '>', \$o, '2>', \$e);
	push @err_runs, [ $h, \$o, \$e ];
}

my ($pb_out, $pb_err) = ('', '');
my $pb_ok = IPC::Run::run(
	[
		'pgbench', '-n', '-h', '127.0.0.1', '-p', $bport, '-U', 'shop_web',
		'-c', $clients, '-j', 2, '-t', $txns, '-M', 'simple', @fargs, 'postgres'
	],
	'>', \$pb_out, '2>', \$pb_err);
ok($pb_ok, "pgbench: $clients clients x $txns transactions through pgbouncer");
like($pb_out, qr/number of transactions actually processed: \Q@{[ $clients * $txns ]}\E\//,
	'pgbench: every transaction was processed')
  or diag("pgbench stdout:\n$pb_out\nstderr (first 2000 chars):\n" . substr($pb_err, 0, 2000));
my @unexpected = grep { !/^(WARNING:  loginas\.assume\(\) called outside a transaction block|DETAIL:  |HINT:  |$)/ }
  split /\n/, $pb_err;
is_deeply(\@unexpected, [], 'pgbench: no messages but the autocommit-assume warnings')
  or diag(join("\n", @unexpected[ 0 .. ($#unexpected < 20 ? $#unexpected : 20) ]));

for my $r (@err_runs)
{
	my ($h, $o, $e) = @$r;
	$h->finish;
	my @errs = grep { /ERROR/ } split /\n/, $$e;
	my @div = grep { /division by zero/ } @errs;
	is(scalar(@div), $err_loops, 'psql client: every in-session transaction failed with division by zero');
	is(scalar(@errs), $err_loops, 'psql client: and nothing else failed') or diag($$e);
}

# --- what the transactions saw --------------------------------------------------------
my $q = sub { $node->safe_psql('postgres', shift) };
my $session_n = $q->(q{SELECT count(*) FROM tap.seen WHERE kind IN ('session', 'compound')});
my $plain_n = $q->(q{SELECT count(*) FROM tap.seen WHERE kind = 'plain'});
cmp_ok($session_n, '>', 0, "in-session transactions recorded: $session_n");
cmp_ok($plain_n, '>', 0, "plain transactions recorded: $plain_n");
note("recorded $session_n in-session and $plain_n plain transactions");

is( $q->(
		q{SELECT count(*) FROM tap.seen v JOIN tap.secret s USING (client)
		   WHERE v.kind IN ('session', 'compound')
			 AND (v.seen_session IS DISTINCT FROM v.expected_session
				  OR v.seen_session IS DISTINCT FROM s.session_id
				  OR v.seen_admin IS DISTINCT FROM v.client
				  OR v.seen_customer IS DISTINCT FROM v.client
				  OR v.seen_store IS DISTINCT FROM 1
				  OR v.seen_read_only IS DISTINCT FROM false
				  OR v.banner IS DISTINCT FROM 'You are connected as Customer No' || v.client || ' on Main Website'
				  OR NOT v.in_session)}),
	'0',
	'every in-session transaction (also one sent as a single compound query) saw exactly its own session, admin, customer, store, banner');
cmp_ok($q->(q{SELECT count(*) FROM tap.seen WHERE kind = 'compound'}), '>', 0, 'compound-query transactions were recorded');
# an implicit transaction block (one Query message, no BEGIN) sees its own
# session or none, never another client's
is( $q->(
		q{SELECT count(*) FROM tap.seen v
		   WHERE v.kind = 'implicit' AND v.seen_session IS NOT NULL
			 AND (v.seen_session <> v.expected_session OR v.seen_admin <> v.client OR v.seen_customer <> v.client)}),
	'0',
	'no implicit-block transaction saw another client\'s context');
note('implicit blocks (assume and a record in one Query message): '
	  . $q->(q{SELECT count(*) || ' recorded, ' || count(seen_session) || ' saw their own session' FROM tap.seen WHERE kind = 'implicit'}));
is( $q->(
		q{SELECT count(*) FROM tap.seen
		   WHERE kind = 'plain'
			 AND (seen_session IS NOT NULL OR seen_admin IS NOT NULL OR seen_customer IS NOT NULL
				  OR seen_store IS NOT NULL OR seen_read_only IS NOT NULL OR banner IS NOT NULL
				  OR in_session)}),
	'0',
	'every plain transaction saw no context at all');
is($q->(q{SELECT count(DISTINCT client) FROM tap.seen WHERE kind = 'plain'}),
	$nsessions, 'plain records came from every client');

# the pool was really shared: few backends, each serving many clients
my $pids = $q->(q{SELECT count(DISTINCT backend_pid) FROM tap.seen});
cmp_ok($pids, '<=', $pool_size, "all transactions ran on at most $pool_size backends ($pids)");
is( $q->(
		qq{SELECT bool_and(n > 1) FROM (SELECT count(DISTINCT client) n FROM tap.seen GROUP BY backend_pid) x}),
	't',
	'every backend served several clients');
cmp_ok(
	$q->(
		q{SELECT count(*) FROM (SELECT backend_pid, seen_id, client,
			   lag(client) OVER (PARTITION BY backend_pid ORDER BY seen_id) AS prev FROM tap.seen) x
		   WHERE prev IS DISTINCT FROM client AND prev IS NOT NULL}),
	'>', 100, 'clients alternated on the shared backends many times');

# --- the tracked writes --------------------------------------------------------------
is( $q->(
		q{SELECT count(*) FROM shop.cart_line l JOIN tap.secret s USING (client)
		   WHERE l.kind IN ('session', 'compound')
			 AND (l.loginas_created_session IS DISTINCT FROM s.session_id
				  OR l.loginas_changed_session IS DISTINCT FROM s.session_id)}),
	'0',
	'every row written in a session carries the writing client\'s session in its stamps');
is( $q->(
		q{SELECT count(*) FROM shop.cart_line
		   WHERE kind = 'plain' AND (loginas_created_session IS NOT NULL OR loginas_changed_session IS NOT NULL)}),
	'0',
	'rows written outside a session carry no stamps');
is($q->(q{SELECT count(*) FROM shop.cart_line WHERE kind = 'rolled back'}),
	'0', 'rows of rolled-back transactions do not exist');
is( $q->(q{SELECT count(*) FROM shop.cart_line WHERE kind IN ('session', 'compound')}),
	$session_n, 'one row per committed in-session transaction');
# each in-session row was logged once, as write_insert of the writer's session
is( $q->(
		q{WITH logged AS (
			SELECT l.session_id, (k ->> 0)::bigint AS line_id
			  FROM loginas.action_log l, jsonb_array_elements(l.details -> 'keys') k
			 WHERE l.action = 'write_insert' AND l.details ->> 'table' = 'shop.cart_line')
		  SELECT (SELECT count(*) FROM logged)
			  || ',' || (SELECT count(*) FROM shop.cart_line c JOIN logged g USING (line_id)
						  WHERE c.kind IN ('session', 'compound') AND g.session_id = c.loginas_created_session)
			  || ',' || (SELECT count(*) FROM shop.cart_line WHERE kind IN ('session', 'compound'))}),
	"$session_n,$session_n,$session_n",
	'every in-session row has exactly one write_insert log row, under its writer\'s session');
is( $q->(
		q{SELECT count(*) FROM loginas.action_log l JOIN tap.secret s USING (session_id)
		   WHERE l.action = 'write_insert' AND (l.admin_id <> s.client OR l.customer_id <> s.client)}),
	'0',
	'write log rows name the writing client\'s admin and customer');
is($q->(q{SELECT intact FROM loginas.verify_log()}), 't', 'verify_log(): the log is intact');
is($q->(q{SELECT count(*) FROM loginas.session WHERE ended_at IS NULL}),
	$nsessions, 'every session is still live');

# --- clean up -----------------------------------------------------------------------------
$bouncer->signal('INT');    # SIGINT: safe shutdown
$bouncer->finish;
undef $bouncer;
$node->stop;

done_testing();
