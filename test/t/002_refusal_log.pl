# 002_refusal_log.pl
#	Refusals are recorded even though they raise: the durable refusal log.
#
# begin, redeem, assume and tracked writes refuse by raising an error, which
# rolls back whatever the caller's transaction wrote.  With loginas in
# shared_preload_libraries each refusal is queued in shared memory and written
# as a 'failure' row of loginas.action_log by a background worker of its
# database, in a transaction of its own (src/refusal_queue.c).  Checked here:
#   - a refused begin inside a transaction that rolls back leaves its row,
#     with the admin, customer, role, client address and SQLSTATE/message;
#   - a reused or unknown ticket (redeem), a dead session key (assume) and a
#     refused tracked write (containment) leave theirs;
#   - in a shop whose customers have text keys, those rows name the customer
#     by customer_key (customer_id NULL), and so do the server-log lines; a
#     key of 512 bytes is kept whole, a longer text is no key;
#   - in a shop whose admins and store views have text keys too, the rows
#     name the admin by admin_key and the store view by store_key, the
#     server-log lines the admin by its key; an integer shop's rows have no
#     customer_key, admin_key or store_key;
#   - no row holds a ticket or session key, nor does the server log;
#   - an entry that cannot be written does not stop the others;
#   - one backend's flood takes its share of the queue and one summary row
#     with the count (per kind of refusal); another backend's refusal in that
#     window is still queued and written;
#   - a full queue says so (WARNING) instead of dropping the refusal silently;
#   - verify_log() stays intact;
#   - a restart loses no committed row and no queued refusal: fast restart,
#     immediate stop and a crash restart (the worker ends at once; the
#     postmaster keeps the queue in a file); the file keeps the customer's,
#     the admin's and the store view's keys, and a file of an older version
#     (1.1's, 1.2's, 1.3's before the admin's key) is still read;
#   - without shared_preload_libraries there is no queue: CREATE EXTENSION
#     warns, refusals leave no row and go to the server log.
#
# The worker is asynchronous: rows are waited for with poll_query_until.  To
# hold refusals in the queue on purpose, a session locks loginas.action_log
# (EXCLUSIVE: the worker cannot insert, readers still can).
#
# Needs what 001_context_boundary.pl needs (PATH, PERL5LIB, TESTDIR,
# PG_REGRESS); loginas installed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;
use Time::HiRes qw(usleep);

# The one-customer shop of LoginasTest.pm (as in 001_context_boundary.pl),
# plus customer 2 (who has not allowed assistance), a tracked orders table,
# and the application's roles.
my $shop_sql = shop_setup_sql(
	extension => 0,
	tables => q{
	CREATE TABLE shop.orders (order_id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL);
},
	data => q{
	INSERT INTO shop.customer VALUES (2, 'john@example.com', 'John', 'Smith', true, 1, 1);
	INSERT INTO shop.orders VALUES (1, 1, 'pending'), (2, 2, 'pending');
}) . q{
	SELECT loginas.track('shop.orders', 'customer_id');
	CREATE ROLE shop_backoffice LOGIN IN ROLE loginas_admin;
	CREATE ROLE shop_storefront LOGIN IN ROLE loginas_storefront;
	GRANT USAGE ON SCHEMA shop TO shop_storefront;
	GRANT SELECT, UPDATE ON shop.orders TO shop_storefront;
	-- secrets stay in these tables: never printed, never in an SQL text
	CREATE SCHEMA tap;
	CREATE TABLE tap.marker (note text);
	GRANT USAGE ON SCHEMA tap TO shop_backoffice, shop_storefront;
	GRANT SELECT, INSERT ON tap.marker TO shop_backoffice;
};

my $node = loginas_node('refusal_log', preload => 1,
	conf => "listen_addresses = '127.0.0.1'\nrestart_after_crash = on\n");

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'loginas refusal log launcher'}, '1'),
	'preloaded: the refusal log launcher runs');

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION loginas CASCADE');
is($rc, 0, 'CREATE EXTENSION loginas');
unlike($err, qr/durable refusal logging is off/, 'preloaded: CREATE EXTENSION does not warn');
$node->safe_psql('postgres', $shop_sql);

# SQL as one of the application's roles; ON_ERROR_STOP off, so a script goes
# on after a refusal (to its ROLLBACK).  Returns (stdout, stderr).
sub as_role
{
	my ($n, $role, $sql) = @_;
	my ($r, $o, $e) = $n->psql('postgres', $sql,
		on_error_stop => 0, extra_params => [ '-U', $role ]);
	return ($o, $e);
}

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# wait until $n failure rows with this action exist (beyond those counted in
# %seen), then check there are exactly that many
my %seen;
sub wait_failures { return wait_failures_in('postgres', \%seen, @_); }

# the same in database $db, counting in %$seen
sub wait_failures_in
{
	my ($db, $seen, $action, $n, $name) = @_;
	my $want = ($seen->{$action} // 0) + $n;
	my $count = qq{SELECT count(*) FROM loginas.action_log WHERE action = '$action' AND result = 'failure'};
	$node->poll_query_until($db, "SELECT ($count) >= $want")
	  or diag("$name: timed out waiting for $want $action rows");
	is($node->safe_psql($db, $count), $want, $name);
	$seen->{$action} = $want;
}

# the newest failure row of an action, selected columns joined by |
sub last_failure { return last_failure_in('postgres', @_); }

sub last_failure_in
{
	my ($db, $action, $cols) = @_;
	return $node->safe_psql($db,
		qq{SELECT concat_ws('|', $cols) FROM loginas.action_log
			WHERE action = '$action' AND result = 'failure' ORDER BY log_id DESC LIMIT 1});
}

# hold loginas.action_log (EXCLUSIVE: the worker cannot insert, readers
# still can) in a transaction of a session of its own; returns the session
sub lock_log
{
	my $h = $node->background_psql('postgres');
	$h->query_safe('BEGIN');
	$h->query_safe('LOCK TABLE loginas.action_log IN EXCLUSIVE MODE');
	return $h;
}

# $n rounds of refused calls in one DO block (one backend) as $role: each
# call is [statement, the condition it raises]; returns (stdout, stderr)
sub refuse_in_loop
{
	my ($role, $n, @calls) = @_;
	my $body = join '',
	  map { "\t\tBEGIN\n\t\t\t$_->[0];\n\t\tEXCEPTION WHEN $_->[1] THEN NULL;\n\t\tEND;\n" } @calls;
	return as_role($node, $role, "DO \$\$ BEGIN\n\tFOR i IN 1..$n LOOP\n$body\tEND LOOP;\nEND \$\$;\n");
}
my @refused_begin = ('PERFORM * FROM loginas.begin(1, 2)', 'insufficient_privilege');
my @refused_redeem = (q{PERFORM * FROM loginas.redeem('bogus' || i)}, 'invalid_authorization_specification');
my @refused_assume = (q{PERFORM loginas.assume('bogus' || i)}, 'invalid_authorization_specification');

# --- (1) a refused begin in a transaction that rolls back ----------------------
my $before = q1('SELECT clock_timestamp()');
($out, $err) = as_role($node, 'shop_backoffice', q{
BEGIN;
INSERT INTO tap.marker VALUES ('written before the refusal');
SELECT * FROM loginas.begin(1, 2, reason => 'call 4711');
ROLLBACK;
});
like($err, qr/ERROR:  Login as Customer assistance is disabled for this Customer\./,
	'begin for a customer without consent is refused');
my $after = q1('SELECT clock_timestamp()');
is(q1('SELECT count(*) FROM tap.marker'), '0', 'the refused transaction rolled back what it wrote');
wait_failures('begin_refused', 1, 'the refused begin still left one failure row');
is( last_failure('begin_refused',
		q{result, action_group, admin_id, admin_username, customer_id, customer_email, db_role,
		  coalesce(client_addr::text, 'no address'), coalesce(session_id::text, 'no session'),
		  details->>'sqlstate', details->>'message', details->>'detail'}),
	'failure|Login As Customer|1|ada|2|john@example.com|shop_backoffice|no address|no session|42501|'
	  . 'Login as Customer assistance is disabled for this Customer.|'
	  . 'The customer has not allowed remote shopping assistance.',
	'begin_refused row: admin, customer, the refused call\'s role, no address over a unix socket, '
	  . 'sqlstate/message/detail in details');
is( q1(qq{SELECT logged_at BETWEEN '$before' AND '$after' FROM loginas.action_log
		WHERE action = 'begin_refused' ORDER BY log_id DESC LIMIT 1}),
	't', 'logged_at is the time of the refusal, not of the write');
is( q1(q{SELECT string_agg(k, ',' ORDER BY k) FROM loginas.action_log,
		jsonb_object_keys(details) k WHERE log_id = (SELECT max(log_id) FROM loginas.action_log
		WHERE action = 'begin_refused')}),
	'detail,message,sqlstate', 'details hold sqlstate, message and detail only');
is( q1(q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'loginas refusal log' AND datname = 'postgres'}),
	'1', 'one refusal log worker runs for the database');
is( q1(q{SELECT count(*) FROM loginas.action_log l JOIN loginas.log_chain c USING (chain_id)
		JOIN pg_stat_activity a ON a.pid = c.backend_pid
		WHERE l.action = 'begin_refused' AND a.backend_type = 'loginas refusal log'}),
	'1', 'the row was written by the worker, in its own hash chain');

# over TCP the row carries the client's address
{
	my $connstr = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=shop_backoffice';
	my ($o, $e);
	IPC::Run::run([ 'psql', '-X', '-d', $connstr, '-c', 'SELECT * FROM loginas.begin(1, 2)' ],
		'>', \$o, '2>', \$e);
	like($e, qr/assistance is disabled/, 'a refused begin over TCP');
	wait_failures('begin_refused', 1, 'its failure row');
	is(last_failure('begin_refused', 'client_addr'), '127.0.0.1', 'with the client address of the connection');
}

# an address given to begin is the one logged (as for its success rows)
($out, $err) = as_role($node, 'shop_backoffice',
	q{SELECT * FROM loginas.begin(1, 2, client_addr => '203.0.113.7')});
like($err, qr/assistance is disabled/, 'a refused begin with client_addr');
wait_failures('begin_refused', 1, 'its failure row');
is(last_failure('begin_refused', 'client_addr'), '203.0.113.7', 'carries the client_addr given to begin');

# --- (2) redeem, assume, tracked writes -----------------------------------------
q1(q{CREATE TABLE tap.ticket AS SELECT token FROM loginas.begin(1, 1, reason => 'call 4712');
	 CREATE TABLE tap.session AS SELECT session_id, session_key
	   FROM loginas.redeem((SELECT token FROM tap.ticket));
	 GRANT SELECT ON tap.ticket, tap.session TO shop_storefront});
my $session_id = q1('SELECT session_id FROM tap.session');
like($session_id, qr/^\d+$/, 'a ticket, redeemed');

($out, $err) = as_role($node, 'shop_storefront', 'SELECT * FROM loginas.redeem((SELECT token FROM tap.ticket))');
like($err, qr/ERROR:  Login as Customer ticket is invalid or has expired\.\nDETAIL:  The ticket has already been used\./,
	'redeeming the ticket again is refused');
wait_failures('redeem_refused', 1, 'the reused ticket left a failure row');
is( last_failure('redeem_refused',
		q{admin_id, admin_username, customer_id, customer_email, session_id, db_role,
		  details->>'sqlstate', details->>'detail'}),
	"1|ada|1|veronica\@example.com|$session_id|shop_storefront|28000|The ticket has already been used.",
	'redeem_refused row: the ticket\'s admin, customer and session, the storefront role, 28000');

($out, $err) = as_role($node, 'shop_storefront', q{SELECT * FROM loginas.redeem(repeat('0', 64))});
like($err, qr/No ticket matches the given token/, 'an unknown ticket is refused');
wait_failures('redeem_refused', 1, 'the unknown ticket left a failure row');
is( last_failure('redeem_refused',
		q{coalesce(admin_id::text, '-'), coalesce(customer_id::text, '-'), coalesce(session_id::text, '-'),
		  details->>'detail'}),
	'-|-|-|No ticket matches the given token.', 'with no ids');

q1(q{SELECT loginas."end"((SELECT session_key FROM tap.session), 'logout')});
($out, $err) = as_role($node, 'shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT session_key FROM tap.session));
ROLLBACK;
});
like($err, qr/ERROR:  Login as Customer session has ended\./, 'assume with a dead session key is refused');
wait_failures('assume_refused', 1, 'the dead session key left a failure row');
is( last_failure('assume_refused',
		q{admin_id, customer_id, session_id, db_role, details->>'sqlstate', details->>'message'}),
	"1|1|$session_id|shop_storefront|28000|Login as Customer session has ended.",
	'assume_refused row: the session\'s ids, 28000');

q1(q{CREATE TABLE tap.live AS SELECT session_id, session_key
	   FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1, reason => 'call 4713')));
	 GRANT SELECT ON tap.live TO shop_storefront});
my $live_id = q1('SELECT session_id FROM tap.live');
($out, $err) = as_role($node, 'shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT session_key FROM tap.live));
UPDATE shop.orders SET status = 'canceled' WHERE order_id = 2;
ROLLBACK;
});
like($err, qr/ERROR:  .*shop\.orders/, "writing another customer's order in a session is refused");
is(q1('SELECT status FROM shop.orders WHERE order_id = 2'), 'pending', 'the order is unchanged');
wait_failures('write_refused', 1, 'the refused write left a failure row');
like( last_failure('write_refused',
		q{admin_id, customer_id, session_id, db_role, details->>'sqlstate', details->>'message'}),
	qr/^1\|1\|$live_id\|shop_storefront\|42501\|.*shop\.orders/,
	'write_refused row: the session, 42501, the table in the message');

# --- (2b) a shop whose customers have text keys ----------------------------------
# A database of its own (so its own refusal log worker): customers keyed by
# text (Medusa-shaped cus_...), integer admins, a tracked table whose
# customer column is text.  Its refusals name the customer by customer_key
# (customer_id cannot hold it), in the failure rows and the server-log lines.
my $tdb = 'textshop';
my %tseen;
$node->safe_psql('postgres', "CREATE DATABASE $tdb");
$node->safe_psql(
	$tdb,
	shop_setup_sql(
		tables => q{
	CREATE TABLE shop.tcustomer (customer_id text PRIMARY KEY, email text NOT NULL, name text NOT NULL);
	CREATE TABLE shop.torder (order_id int PRIMARY KEY, customer_id text NOT NULL, status text NOT NULL);
},
		data => q{
	INSERT INTO shop.tcustomer VALUES ('cus_01HTAP1', 'tess@example.com', 'Tess Text'),
		('cus_01HTAP2', 'otto@example.com', 'Otto Text');
	INSERT INTO shop.torder VALUES (1, 'cus_01HTAP1', 'pending'), (2, 'cus_01HTAP2', 'pending');
},
		views => q{
	CREATE VIEW shop.loginas_tcustomers AS SELECT customer_id, email, name AS display_name, true AS is_active,
		1 AS website_id, 1 AS store_id FROM shop.tcustomer;
},
		readable => ['shop.loginas_tcustomers'],
		bind => [ customers => 'shop.loginas_tcustomers' ],
		consent => [q{'cus_01HTAP1'}])
	  . q{
	SELECT loginas.track('shop.torder', 'customer_id');
	GRANT USAGE ON SCHEMA shop TO shop_storefront;
	GRANT SELECT, UPDATE ON shop.torder TO shop_storefront;
	CREATE SCHEMA tap;
	GRANT USAGE ON SCHEMA tap TO shop_storefront;
});

sub tq { return $node->safe_psql($tdb, $_[0]); }

# SQL as one of the application's roles in the text-keyed shop: (stdout, stderr)
sub t_as_role
{
	my ($role, $sql) = @_;
	my ($r, $o, $e) = $node->psql($tdb, $sql, on_error_stop => 0, extra_params => [ '-U', $role ]);
	return ($o, $e);
}

my $text_cols = q{coalesce(admin_id::text, '-'), coalesce(customer_id::text, '-'), customer_key,
	coalesce(customer_email, '-'), coalesce(session_id::text, '-'), db_role, details->>'sqlstate'};

my $log_offset = -s $node->logfile;
($out, $err) = t_as_role('shop_backoffice', q{SELECT * FROM loginas.begin(1, 'cus_01HTAP2', reason => 'call 5001')});
like($err, qr/assistance is disabled/, 'text keys: begin for a customer without consent is refused');
wait_failures_in($tdb, \%tseen, 'begin_refused', 1, 'text keys: the refused begin left a failure row');
is(last_failure_in($tdb, 'begin_refused', $text_cols),
	'1|-|cus_01HTAP2|otto@example.com|-|shop_backoffice|42501',
	'begin_refused row: no customer_id, the customer_key, the e-mail read by the key');
ok( $node->wait_for_log(
		qr/LOG:  loginas: begin refused: Login as Customer assistance is disabled for this Customer\. .*\(admin 1, customer cus_01HTAP2, session -, role shop_backoffice\)/,
		$log_offset),
	'its server-log line names the customer by the key');

# a text over 512 bytes is no key (no row is read for it): the refusal names
# no customer, in the row and in the server log (and the queue never cuts a
# key short: a prefix could be another customer's key)
$log_offset = -s $node->logfile;
($out, $err) = t_as_role('shop_backoffice', q{SELECT * FROM loginas.begin(1, 'cus_' || repeat('x', 600))});
like($err, qr/Customer with this ID no longer exists/, 'text keys: begin for a key of 604 bytes is refused');
wait_failures_in($tdb, \%tseen, 'begin_refused', 1, 'its failure row');
is(last_failure_in($tdb, 'begin_refused', q{coalesce(customer_id::text, '-'), coalesce(customer_key, 'no key'), admin_id}),
	'-|no key|1', 'the row has no customer_key: the key does not fit the entry');
ok($node->wait_for_log(qr/LOG:  loginas: begin refused: .*\(admin 1, customer -, session -/, $log_offset),
	'the server-log line names no customer either: a text over 512 bytes is no key');

# a key of 512 bytes (the longest key) is kept whole
$log_offset = -s $node->logfile;
($out, $err) = t_as_role('shop_backoffice', q{SELECT * FROM loginas.begin(1, 'cus_' || repeat('y', 508))});
like($err, qr/Customer with this ID no longer exists/, 'text keys: begin for a key of 512 bytes is refused');
wait_failures_in($tdb, \%tseen, 'begin_refused', 1, 'its failure row');
is( last_failure_in($tdb, 'begin_refused',
		q{coalesce(customer_id::text, '-'), octet_length(customer_key), customer_key = 'cus_' || repeat('y', 508)}),
	'-|512|t', 'the row has the whole key of 512 bytes');
ok($node->wait_for_log(qr/LOG:  loginas: begin refused: .*\(admin 1, customer cus_y{508}, session -/, $log_offset),
	'the server-log line names the customer by it');

tq(q{CREATE TABLE tap.ticket AS SELECT token FROM loginas.begin(1, 'cus_01HTAP1', reason => 'call 5002');
	 CREATE TABLE tap.session AS SELECT session_id, session_key FROM loginas.redeem((SELECT token FROM tap.ticket));
	 GRANT SELECT ON tap.ticket, tap.session TO shop_storefront});
my $text_session = tq('SELECT session_id FROM tap.session');
($out, $err) = t_as_role('shop_storefront', 'SELECT * FROM loginas.redeem((SELECT token FROM tap.ticket))');
like($err, qr/The ticket has already been used/, 'text keys: redeeming the ticket again is refused');
wait_failures_in($tdb, \%tseen, 'redeem_refused', 1, 'text keys: the reused ticket left a failure row');
is(last_failure_in($tdb, 'redeem_refused', $text_cols),
	"1|-|cus_01HTAP1|tess\@example.com|$text_session|shop_storefront|28000",
	'redeem_refused row: the session\'s customer_key');

$log_offset = -s $node->logfile;
($out, $err) = t_as_role('shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT session_key FROM tap.session));
UPDATE shop.torder SET status = 'canceled' WHERE order_id = 2;
ROLLBACK;
});
like($err, qr/ERROR:  .*shop\.torder/, "text keys: writing another customer's order is refused");
wait_failures_in($tdb, \%tseen, 'write_refused', 1, 'text keys: the refused write left a failure row');
is(last_failure_in($tdb, 'write_refused', $text_cols),
	"1|-|cus_01HTAP1|tess\@example.com|$text_session|shop_storefront|42501",
	'write_refused row: the session\'s customer by its key');
ok( $node->wait_for_log(
		qr/LOG:  loginas: write refused: row \(2\) of another customer on shop\.torder \(admin 1, customer cus_01HTAP1, session $text_session, role shop_storefront\)/,
		$log_offset),
	'its server-log line names the customer by the key');

tq(q{SELECT loginas."end"((SELECT session_key FROM tap.session), 'logout')});
($out, $err) = t_as_role('shop_storefront', 'SELECT loginas.assume((SELECT session_key FROM tap.session))');
like($err, qr/session has ended/, 'text keys: assume with a dead session key is refused');
wait_failures_in($tdb, \%tseen, 'assume_refused', 1, 'text keys: the dead session key left a failure row');
is(last_failure_in($tdb, 'assume_refused', $text_cols),
	"1|-|cus_01HTAP1|tess\@example.com|$text_session|shop_storefront|28000",
	'assume_refused row: the session\'s customer_key');

is( tq(q{SELECT string_agg("Action", ', ' ORDER BY "Action") FROM loginas.customer_history('cus_01HTAP1')
		WHERE "Result" = 'failure'}),
	'Refused: assume, Refused: redeem, Refused: write',
	"the customer's history lists the refusals of her sessions");
is(tq('SELECT intact FROM loginas.verify_log()'), 't', 'text keys: verify_log(): intact');

# --- (2c) a shop whose admins and store views have text keys ---------------------
# A database of its own: admins keyed by text (Medusa-shaped user_...), store
# views keyed by text (sales channels, sc_...), customers keyed by text.  Its
# refusals name the admin by admin_key (admin_id cannot hold it) and the
# store view by store_key (store_id cannot), in the failure rows; the
# server-log lines name the admin by its key.
my $adb = 'adminshop';
my %aseen;
$node->safe_psql('postgres', "CREATE DATABASE $adb");
$node->safe_psql(
	$adb,
	shop_setup_sql(
		tables => q{
	CREATE TABLE shop.tadmin (id text PRIMARY KEY, email text NOT NULL, active boolean NOT NULL, role text NOT NULL);
	CREATE TABLE shop.tchannel (id text PRIMARY KEY, name text NOT NULL);
	CREATE TABLE shop.tcustomer (customer_id text PRIMARY KEY, email text NOT NULL, name text NOT NULL);
	CREATE TABLE shop.torder (order_id int PRIMARY KEY, customer_id text NOT NULL, status text NOT NULL);
},
		data => q{
	INSERT INTO shop.tadmin VALUES ('user_01HTAPADA', 'ada@example.com', true, 'Administrators'),
		('user_01HTAPSAM', 'sam@example.com', true, 'Support');
	INSERT INTO shop.tchannel VALUES ('sc_01HTAPMAIN', 'Main channel');
	INSERT INTO shop.tcustomer VALUES ('cus_01HTAP1', 'tess@example.com', 'Tess Text'),
		('cus_01HTAP2', 'otto@example.com', 'Otto Text');
	INSERT INTO shop.torder VALUES (1, 'cus_01HTAP1', 'pending'), (2, 'cus_01HTAP2', 'pending');
},
		views => q{
	CREATE VIEW shop.loginas_tadmins AS SELECT id AS admin_id, email AS username, email AS display_name,
		active AS is_active, role FROM shop.tadmin;
	CREATE VIEW shop.loginas_tstore_views AS SELECT id AS store_id, 'ws_01HTAP' AS website_id, name,
		'Main site' AS website_name, true AS is_active, true AS is_default FROM shop.tchannel;
	CREATE VIEW shop.loginas_tcustomers AS SELECT customer_id, email, name AS display_name, true AS is_active,
		'ws_01HTAP' AS website_id, 'sc_01HTAPMAIN' AS store_id FROM shop.tcustomer;
},
		readable => [ 'shop.loginas_tadmins', 'shop.loginas_tstore_views', 'shop.loginas_tcustomers' ],
		bind => [
			admins => 'shop.loginas_tadmins',
			store_views => 'shop.loginas_tstore_views',
			customers => 'shop.loginas_tcustomers'
		],
		consent => [q{'cus_01HTAP1'}])
	  . q{
	SELECT loginas.track('shop.torder', 'customer_id');
	GRANT USAGE ON SCHEMA shop TO shop_storefront;
	GRANT SELECT, UPDATE ON shop.torder TO shop_storefront;
	CREATE SCHEMA tap;
	GRANT USAGE ON SCHEMA tap TO shop_storefront;
});

sub aq { return $node->safe_psql($adb, $_[0]); }

# SQL as one of the application's roles in that shop: (stdout, stderr)
sub a_as_role
{
	my ($role, $sql) = @_;
	my ($r, $o, $e) = $node->psql($adb, $sql, on_error_stop => 0, extra_params => [ '-U', $role ]);
	return ($o, $e);
}

my $admin_cols = q{coalesce(admin_id::text, '-'), coalesce(admin_key, '-'), coalesce(admin_username, '-'),
	coalesce(customer_key, '-'), coalesce(store_id::text, '-'), coalesce(store_key, '-'),
	coalesce(session_id::text, '-'), db_role, details->>'sqlstate'};

$log_offset = -s $node->logfile;
($out, $err) = a_as_role('shop_backoffice',
	q{SELECT * FROM loginas.begin('user_01HTAPSAM', 'cus_01HTAP1', reason => 'call 6001')});
like($err, qr/admin user "sam\@example\.com" is not allowed to login as a customer/,
	'text admins: begin by an admin whose role lacks the resource is refused');
wait_failures_in($adb, \%aseen, 'begin_refused', 1, 'text admins: the refused begin left a failure row');
is(last_failure_in($adb, 'begin_refused', $admin_cols),
	'-|user_01HTAPSAM|sam@example.com|cus_01HTAP1|-|-|-|shop_backoffice|42501',
	'begin_refused row: no admin_id, the admin_key, the username read by the key');
ok( $node->wait_for_log(
		qr/LOG:  loginas: begin refused: admin user "sam\@example\.com" is not allowed .*\(admin user_01HTAPSAM, customer cus_01HTAP1, session -, role shop_backoffice\)/,
		$log_offset),
	'its server-log line names the admin by the key');

# an admin key of 512 bytes is kept whole; a longer text is no key
($out, $err) = a_as_role('shop_backoffice', q{SELECT * FROM loginas.begin('user_' || repeat('z', 507), 'cus_01HTAP1')});
like($err, qr/admin user user_z{507} does not exist/, 'text admins: begin by a key of 512 bytes that names no admin');
wait_failures_in($adb, \%aseen, 'begin_refused', 1, 'its failure row');
is( last_failure_in($adb, 'begin_refused',
		q{coalesce(admin_id::text, '-'), octet_length(admin_key), admin_key = 'user_' || repeat('z', 507)}),
	'-|512|t', 'the row has the whole admin key of 512 bytes');
($out, $err) = a_as_role('shop_backoffice', q{SELECT * FROM loginas.begin('user_' || repeat('z', 508), 'cus_01HTAP1')});
like($err, qr/admin user user_z{508} does not exist/, 'text admins: begin by a text of 513 bytes');
wait_failures_in($adb, \%aseen, 'begin_refused', 1, 'its failure row');
is(last_failure_in($adb, 'begin_refused', q{coalesce(admin_id::text, '-'), coalesce(admin_key, 'no key')}),
	'-|no key', 'a text over 512 bytes is no key: the row names no admin');

aq(q{CREATE TABLE tap.ticket AS SELECT token FROM loginas.begin('user_01HTAPADA', 'cus_01HTAP1', reason => 'call 6002');
	 CREATE TABLE tap.session AS SELECT session_id, session_key, store_key
		FROM loginas.redeem((SELECT token FROM tap.ticket));
	 GRANT SELECT ON tap.ticket, tap.session TO shop_storefront});
my $admin_session = aq('SELECT session_id FROM tap.session');
is(aq('SELECT store_key FROM tap.session'), 'sc_01HTAPMAIN', 'text admins: a session in the text store view');

$log_offset = -s $node->logfile;
($out, $err) = a_as_role('shop_storefront', 'SELECT * FROM loginas.redeem((SELECT token FROM tap.ticket))');
like($err, qr/The ticket has already been used/, 'text admins: redeeming the ticket again is refused');
wait_failures_in($adb, \%aseen, 'redeem_refused', 1, 'text admins: the reused ticket left a failure row');
is(last_failure_in($adb, 'redeem_refused', $admin_cols),
	"-|user_01HTAPADA|ada\@example.com|cus_01HTAP1|-|sc_01HTAPMAIN|$admin_session|shop_storefront|28000",
	'redeem_refused row: the session\'s admin_key and store_key');
ok( $node->wait_for_log(
		qr/LOG:  loginas: redeem refused: .*\(admin user_01HTAPADA, customer cus_01HTAP1, session $admin_session, role shop_storefront\)/,
		$log_offset),
	'its server-log line names the admin by the key');

$log_offset = -s $node->logfile;
($out, $err) = a_as_role('shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT session_key FROM tap.session));
UPDATE shop.torder SET status = 'canceled' WHERE order_id = 2;
ROLLBACK;
});
like($err, qr/ERROR:  .*shop\.torder/, "text admins: writing another customer's order is refused");
wait_failures_in($adb, \%aseen, 'write_refused', 1, 'text admins: the refused write left a failure row');
is(last_failure_in($adb, 'write_refused', $admin_cols),
	"-|user_01HTAPADA|ada\@example.com|cus_01HTAP1|-|sc_01HTAPMAIN|$admin_session|shop_storefront|42501",
	'write_refused row: the session\'s admin and store view by their keys');
ok( $node->wait_for_log(
		qr/LOG:  loginas: write refused: row \(2\) of another customer on shop\.torder \(admin user_01HTAPADA, customer cus_01HTAP1, session $admin_session, role shop_storefront\)/,
		$log_offset),
	'its server-log line names the admin by the key (not -9223372036854775808)');

aq(q{SELECT loginas."end"((SELECT session_key FROM tap.session), 'logout')});
($out, $err) = a_as_role('shop_storefront', 'SELECT loginas.assume((SELECT session_key FROM tap.session))');
like($err, qr/session has ended/, 'text admins: assume with a dead session key is refused');
wait_failures_in($adb, \%aseen, 'assume_refused', 1, 'text admins: the dead session key left a failure row');
is(last_failure_in($adb, 'assume_refused', $admin_cols),
	"-|user_01HTAPADA|ada\@example.com|cus_01HTAP1|-|sc_01HTAPMAIN|$admin_session|shop_storefront|28000",
	'assume_refused row: the session\'s admin_key and store_key');

is( aq(q{SELECT string_agg("Action", ', ' ORDER BY "Action") FROM loginas.actions_report(admin_key => 'user_01HTAPADA')
		WHERE "Result" = 'failure' AND "Details" LIKE '%store view sc_01HTAPMAIN; session %'}),
	'Refused: assume, Refused: redeem, Refused: write',
	'actions_report(admin_key): the refusals of her session, the store view by its key');
is(aq('SELECT intact FROM loginas.verify_log()'), 't', 'text admins: verify_log(): intact');
is( q1(q{SELECT count(*) FROM loginas.action_log
		WHERE customer_key IS NOT NULL OR admin_key IS NOT NULL OR store_key IS NOT NULL}), '0',
	'the integer shop\'s rows have no customer_key, admin_key or store_key');

# --- (3) no ticket or session key anywhere ------------------------------------------
is( q1(q{SELECT count(*) FROM loginas.action_log l,
		(SELECT token AS s FROM tap.ticket UNION ALL SELECT session_key FROM tap.session
		 UNION ALL SELECT session_key FROM tap.live) x
		WHERE strpos(l::text, x.s) > 0}),
	'0', 'no log row holds a ticket or a session key, in any column or in details');
{
	my @secrets = split /\n/,
	  q1(q{SELECT token FROM tap.ticket UNION ALL SELECT session_key FROM tap.session
		  UNION ALL SELECT session_key FROM tap.live});
	is(scalar(@secrets), 3, 'three secrets to look for');
	my $log = slurp_file($node->logfile);
	is(scalar(grep { index($log, $_) >= 0 } @secrets), 0, 'nor does the server log');
}

# --- an entry that cannot be written does not stop the others --------------------------
q1(q{ALTER TABLE loginas.action_log ADD CONSTRAINT tap_no_customer_2
		CHECK (result <> 'failure' OR customer_id IS DISTINCT FROM 2) NOT VALID});
$log_offset = -s $node->logfile;
as_role($node, 'shop_backoffice', 'SELECT * FROM loginas.begin(1, 2)');
as_role($node, 'shop_storefront', q{SELECT * FROM loginas.redeem(repeat('1', 64))});
wait_failures('redeem_refused', 1, 'the refusal queued after a failing one is written');
ok( $node->wait_for_log(qr/could not write a refusal to loginas\.action_log: new row .* "tap_no_customer_2".*\n.*DETAIL:  begin refused at .*it was tried 3 times and is dropped from the queue/,
		$log_offset),
	'the failing one: LOG lines with the entry, tried 3 times, then dropped');
is(q1(q{SELECT count(*) FROM loginas.action_log WHERE action = 'begin_refused'}), $seen{begin_refused},
	'and it wrote no row');
q1('ALTER TABLE loginas.action_log DROP CONSTRAINT tap_no_customer_2');

# --- (4) the chains are intact ---------------------------------------------------
is(q1('SELECT intact FROM loginas.verify_log()'), 't', 'verify_log(): intact');

# --- one backend's flood: its share, a summary row, and the others still get in ------
# With the log locked nothing is written meanwhile: the storefront's 3000
# refused redeems from one backend take its share of the queue (64 entries)
# and one summary entry that counts the rest; a refusal of another backend in
# that window is queued as usual.  Before the share, the flood filled the
# whole queue (1024), gave ~2000 WARNINGs, and the other backend's refusal
# reached the server log only.
my $redeem_rows = q{SELECT count(*) FROM loginas.action_log WHERE action = 'redeem_refused'};
my $redeems_before = q1($redeem_rows);
my $max_before = q1('SELECT max(log_id) FROM loginas.action_log');
my $holder = lock_log();
($out, $err) = refuse_in_loop('shop_storefront', 3000, [@refused_redeem]);
is(scalar(() = $err =~ /WARNING/g), 0, 'a flood of 3000 refused redeems from one backend: no WARNING');
($out, $err) = as_role($node, 'shop_backoffice', 'SELECT * FROM loginas.begin(1, 2, reason => $$during the flood$$)');
like($err, qr/assistance is disabled/, 'another backend is refused during the flood');
unlike($err, qr/durable refusal log is full/, '... and its refusal is queued');
$holder->query_safe('ROLLBACK');
$holder->quit;
wait_failures('begin_refused', 1, 'the other backend\'s refusal is written');
is(last_failure('begin_refused', 'reason'), 'during the flood', '... it is the one made during the flood');
ok( $node->poll_query_until('postgres', "SELECT ($redeem_rows) >= $redeems_before + 65"),
	'the flood\'s rows are written');
is( q1(qq{SELECT count(*) FILTER (WHERE details ? 'coalesced') || '/' || count(*) || '/'
		|| sum(coalesce((details->>'coalesced')::bigint, 1))
		FROM loginas.action_log WHERE action = 'redeem_refused' AND log_id > $max_before}),
	'1/65/3000', 'the flood: 64 rows of its own and one summary row; all 3000 refusals accounted for');
like( q1(q{SELECT (details->>'coalesced') || '|' || (details->>'message') || '|' || ((details->>'last_refused_at')::timestamptz > logged_at)
		FROM loginas.action_log WHERE action = 'redeem_refused' AND details ? 'coalesced'}),
	qr/^2936\|Login as Customer ticket is invalid or has expired\.\|true$/,
	'the summary row: coalesced 2936, the first refusal\'s message, the last one\'s time after it');
$seen{redeem_refused} = q1(q{SELECT count(*) FROM loginas.action_log WHERE action = 'redeem_refused' AND result = 'failure'});
is(q1('SELECT intact FROM loginas.verify_log()'), 't', 'verify_log(): intact');

# a flood of two kinds of refusal: a summary for each
$redeems_before = q1($redeem_rows);
my $assume_rows = q{SELECT count(*) FROM loginas.action_log WHERE action = 'assume_refused'};
my $assumes_before = q1($assume_rows);
$max_before = q1('SELECT max(log_id) FROM loginas.action_log');
$holder = lock_log();
($out, $err) = refuse_in_loop('shop_storefront', 200, [@refused_redeem], [@refused_assume]);
$holder->query_safe('ROLLBACK');
$holder->quit;
ok( $node->poll_query_until('postgres',
		"SELECT ($redeem_rows) + ($assume_rows) >= $redeems_before + $assumes_before + 66"),
	'a flood of redeems and assumes: written');
is( q1(qq{SELECT string_agg(action || ':' || n || ':' || total, ',' ORDER BY action) FROM (
		SELECT action, count(*) FILTER (WHERE details ? 'coalesced') AS n, sum(coalesce((details->>'coalesced')::bigint, 1)) AS total
		  FROM loginas.action_log WHERE action IN ('redeem_refused', 'assume_refused') AND log_id > $max_before
		 GROUP BY action) x}),
	'assume_refused:1:200,redeem_refused:1:200', 'one summary per kind, the 400 refusals accounted for');
$seen{redeem_refused} = q1(q{SELECT count(*) FROM loginas.action_log WHERE action = 'redeem_refused' AND result = 'failure'});
$seen{assume_refused} = q1(q{SELECT count(*) FROM loginas.action_log WHERE action = 'assume_refused' AND result = 'failure'});

# --- a full queue is not dropped silently ------------------------------------------
# 16 backends with a full share each fill the 1024 slots; the next refusal
# gets a WARNING and reaches the server log only
$holder = lock_log();
for my $b (1 .. 16)
{
	($out, $err) = refuse_in_loop('shop_backoffice', 64, [@refused_begin]);
	die "backend $b: $err" if $err =~ /WARNING/;
}
($out, $err) = as_role($node, 'shop_backoffice', 'SELECT * FROM loginas.begin(1, 2)');
my @full = ($err =~ /WARNING:  loginas: the durable refusal log is full; this refused begin went to the server log only/g);
is(scalar(@full), 1, 'the 1025th refusal: WARNING that the durable refusal log is full');
$holder->query_safe('ROLLBACK');
$holder->quit;
wait_failures('begin_refused', 1024, 'the 1024 queued refusals are all written once the log is free');
is(q1('SELECT intact FROM loginas.verify_log()'), 't', 'verify_log(): intact');

# --- (5) restarts lose no committed row and no queued refusal ------------------------
my $committed = q{SELECT count(*) || '/' || max(log_id) || '/' || sum(hashtext(row_hash::text)) FROM loginas.action_log};

# queue $n refused begins while the worker cannot write; returns the lock holder
sub hold_and_queue
{
	my ($n) = @_;
	my $h = lock_log();
	refuse_in_loop('shop_backoffice', $n, [@refused_begin]);
	# the worker waits for the lock: nothing of these is written yet
	$node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'loginas refusal log' AND wait_event_type = 'Lock'},
		'1');
	return $h;
}

sub lost_holder
{
	my ($h) = @_;
	eval { $h->quit; };		# its server went away
}

# fast restart: the worker dies on SIGTERM like any backend (here: in its
# lock wait), its entries stay queued; the postmaster keeps them in the file,
# and they are written after the start
my $rows_before = q1($committed);
my $h = hold_and_queue(50);
is( q1(q{SELECT count(*) FROM loginas.action_log WHERE action = 'begin_refused'}),
	$seen{begin_refused}, '50 refusals queued, none written yet');
$log_offset = -s $node->logfile;
$node->restart;
lost_holder($h);
is(q1(qq{SELECT count(*) || '/' || max(log_id) || '/' || sum(hashtext(row_hash::text))
		 FROM loginas.action_log WHERE log_id <= } . (split m{/}, $rows_before)[1]),
	$rows_before, 'fast restart: every row committed before it is still there, unchanged');
wait_failures('begin_refused', 50, 'fast restart: all 50 queued refusals are written');
# (the shutdown also ends the lock holder, so the worker may write a few
# entries before its own SIGTERM arrives: the rest, never none, are kept)
like(substr(slurp_file($node->logfile), $log_offset), qr/loginas: (?:[1-9]|[1-4]\d|50) queued refusals kept/,
	'the worker ended at once; the postmaster kept the queue for the next start');

# immediate stop: the worker is killed, the postmaster keeps the queue in a file
$h = hold_and_queue(20);
$log_offset = -s $node->logfile;
$node->stop('immediate');
lost_holder($h);
ok(-f $node->data_dir . '/pg_stat/loginas_refusals.queue', 'immediate stop: the queue is kept in a file');
$node->start;
wait_failures('begin_refused', 20, 'immediate stop: all 20 queued refusals are written after the start');
like(substr(slurp_file($node->logfile), $log_offset),
	qr/loginas: 20 queued refusals kept in "pg_stat\/loginas_refusals\.queue".*\n(.*\n)*.*loginas: 20 refusals kept from before the restart are queued again/,
	'the server log says so, at the stop and at the start');
ok(!-f $node->data_dir . '/pg_stat/loginas_refusals.queue', 'the file is gone once read');

# crash restart: a backend dies, shared memory is re-created; the queue survives
$h = hold_and_queue(7);
my $holder_pid = $h->query_safe('SELECT pg_backend_pid()');
$log_offset = -s $node->logfile;
kill 'KILL', $holder_pid;
lost_holder($h);
# psql fails while the server restarts (even to write its input): retry
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	my $up = eval { ($node->psql('postgres', 'SELECT 1'))[0] == 0 };
	last if $up;
	usleep(100_000);
}
wait_failures('begin_refused', 7, 'crash restart: all 7 queued refusals are written');
like(substr(slurp_file($node->logfile), $log_offset),
	qr/all server processes terminated; reinitializing\n.*loginas: 7 queued refusals kept/,
	'the postmaster kept them before re-creating shared memory');
is(q1('SELECT intact FROM loginas.verify_log()'), 't', 'verify_log() after the restarts: intact');
is( q1(q{SELECT count(*) FROM (SELECT logged_at, details FROM loginas.action_log WHERE result = 'failure'
		GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'no refusal was written twice');

# --- (5b) the queue file: the keys, and the files of older versions -------------------
# The file (src/refusal_queue.c): a header of four uint32 (magic, version,
# entry size, count), the entries (RefusalData as it is in memory), the
# CRC-32C of the entries.  Version 5 entries end with the customer's, the
# admin's and the store view's keys (513 bytes each, and a flag); version 4
# (1.3 before the admin's key) entries end with a customer's key of 512
# bytes and its flag, padded; version 3 (1.2) entries end before it, version
# 2 (1.1) entries before the summary count.  The sizes and offsets are those
# of the LP64 layout (x86-64, arm64).
my $queue_file = $node->data_dir . '/pg_stat/loginas_refusals.queue';
my ($entry_v5, $entry_v4, $entry_v3, $entry_v2) = (3824, 2800, 2280, 2264);

# CRC-32C (Castagnoli), as PostgreSQL's pg_crc32c computes it
my @crc32c_table = map {
	my $c = $_;
	$c = ($c & 1) ? (0x82F63B78 ^ ($c >> 1)) : ($c >> 1) for 1 .. 8;
	$c;
} 0 .. 255;

sub crc32c
{
	my $crc = 0xFFFFFFFF;
	$crc = $crc32c_table[ ($crc ^ $_) & 0xFF ] ^ ($crc >> 8) for unpack('C*', $_[0]);
	return $crc ^ 0xFFFFFFFF;
}

sub read_binary
{
	my ($file) = @_;
	open(my $fh, '<:raw', $file) or die "could not read $file: $!";
	local $/;
	my $b = <$fh>;
	close $fh;
	return $b;
}

sub write_binary
{
	my ($file, $b) = @_;
	open(my $fh, '>:raw', $file) or die "could not write $file: $!";
	print $fh $b;
	close $fh or die "could not write $file: $!";
}

# queue $n refusals in database $db ($what, made by $sql as $role) while the
# worker of that database cannot write, then stop at once: the queue goes
# to the file, which is returned
sub queue_and_stop
{
	my ($db, $n, $what, $role, $sql) = @_;
	my $h = $node->background_psql($db);
	$h->query_safe('BEGIN');
	$h->query_safe('LOCK TABLE loginas.action_log IN EXCLUSIVE MODE');
	$node->psql($db, $sql, on_error_stop => 0, extra_params => [ '-U', $role ]);
	$node->poll_query_until($db,
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'loginas refusal log'
			AND datname = current_database() AND wait_event_type = 'Lock'}, '1');
	$node->stop('immediate');
	lost_holder($h);
	ok(-f $queue_file, "$n $what, queued: kept in the file at an immediate stop");
	my $b = read_binary($queue_file);
	my ($magic, $version, $size, $count) = unpack('L4', $b);
	is( sprintf('%08X %d %d %d', $magic, $version, $size, $count), "4C415251 5 $entry_v5 $n",
		'the file: its magic, version 5, entries of the size this test knows, all of them');
	is( crc32c(substr($b, 16, $size * $count)), unpack('L', substr($b, 16 + $size * $count, 4)),
		'its checksum is the CRC-32C of its entries, as this test computes it');
	return $b;
}

# refused begins for the text-keyed customer; refused redeems of the text
# admin's used ticket (its session in the text store view)
sub text_queue_and_stop
{
	my ($n) = @_;
	return queue_and_stop($tdb, $n, 'refused begins of the text-keyed shop', 'shop_backoffice',
		qq{DO \$\$ BEGIN FOR i IN 1..$n LOOP
		BEGIN PERFORM * FROM loginas.begin(1, 'cus_01HTAP2'); EXCEPTION WHEN insufficient_privilege THEN NULL; END;
	END LOOP; END \$\$});
}

sub admin_queue_and_stop
{
	my ($n) = @_;
	return queue_and_stop($adb, $n, 'refused redeems of the text admin\'s shop', 'shop_storefront',
		qq{DO \$\$ BEGIN FOR i IN 1..$n LOOP
		BEGIN PERFORM * FROM loginas.redeem((SELECT token FROM tap.ticket));
		EXCEPTION WHEN invalid_authorization_specification THEN NULL; END;
	END LOOP; END \$\$});
}

# a file of version $v made of the entries of file $b: each entry as that
# version had it
sub old_file
{
	my ($b, $v) = @_;
	my (undef, undef, $size, $count) = unpack('L4', $b);
	my $old_size = { 4 => $entry_v4, 3 => $entry_v3, 2 => $entry_v2 }->{$v};
	my $entries = join '', map {
		my $e = substr($b, 16 + $_ * $size, $size);
		# version 4: the customer's key in 512 bytes, its flag, the padding
		$v == 4
		  ? substr($e, 0, $entry_v3) . substr($e, $entry_v3, 511) . "\0" . substr($e, $entry_v3 + 513, 1) . ("\0" x 7)
		  : substr($e, 0, $old_size)
	} 0 .. $count - 1;
	return (pack('L4', 0x4C415251, $v, $old_size, $count) . $entries . pack('L', crc32c($entries)), $count);
}

my $t_before = tq('SELECT max(log_id) FROM loginas.action_log');
my $qbytes = text_queue_and_stop(3);
is(scalar(() = $qbytes =~ /cus_01HTAP2\0/g), 3, 'each entry holds the customer\'s key');
$node->start;
wait_failures_in($tdb, \%tseen, 'begin_refused', 3, 'after the start all 3 are written');
is( tq(qq{SELECT string_agg(DISTINCT coalesce(customer_id::text, '-') || '|' || customer_key || '|' || customer_email, ',')
		FROM loginas.action_log WHERE action = 'begin_refused' AND log_id > $t_before}),
	'-|cus_01HTAP2|otto@example.com', 'with the customer\'s key, read back from the file');

my $a_before = aq('SELECT max(log_id) FROM loginas.action_log');
$qbytes = admin_queue_and_stop(3);
is(scalar(() = $qbytes =~ /user_01HTAPADA\0/g) . ' ' . scalar(() = $qbytes =~ /sc_01HTAPMAIN\0/g), '3 3',
	'each entry holds the admin\'s and the store view\'s keys');
$node->start;
wait_failures_in($adb, \%aseen, 'redeem_refused', 3, 'after the start all 3 are written');
is( aq(qq{SELECT string_agg(DISTINCT concat_ws('|', coalesce(admin_id::text, '-'), admin_key, admin_username,
			customer_key, coalesce(store_id::text, '-'), store_key), ',')
		FROM loginas.action_log WHERE action = 'redeem_refused' AND log_id > $a_before}),
	'-|user_01HTAPADA|ada@example.com|cus_01HTAP1|-|sc_01HTAPMAIN',
	'with the admin\'s and the store view\'s keys, read back from the file');

# the same entries in a file of an older version: read and written, without
# what that version did not have
$t_before = tq('SELECT max(log_id) FROM loginas.action_log');
my ($old, $count) = old_file(text_queue_and_stop(2), 4);
write_binary($queue_file, $old);
$node->start;
wait_failures_in($tdb, \%tseen, 'begin_refused', $count, "a file of version 4: its $count entries are written");
is( tq(qq{SELECT string_agg(DISTINCT concat_ws('|', admin_id, coalesce(customer_key, 'no key'), details->>'sqlstate'), ',')
		FROM loginas.action_log WHERE action = 'begin_refused' AND log_id > $t_before}),
	'1|cus_01HTAP2|42501', 'version 4 entries: the admin, the customer\'s key, the refusal');

$a_before = aq('SELECT max(log_id) FROM loginas.action_log');
($old, $count) = old_file(admin_queue_and_stop(2), 4);
write_binary($queue_file, $old);
$node->start;
wait_failures_in($adb, \%aseen, 'redeem_refused', $count, "a file of version 4 of the text admin's shop: written");
is( aq(qq{SELECT string_agg(DISTINCT concat_ws('|', coalesce(admin_id::text, '-'), coalesce(admin_key, 'no key'),
			customer_key, coalesce(store_key, 'no key')), ',')
		FROM loginas.action_log WHERE action = 'redeem_refused' AND log_id > $a_before}),
	'-|no key|cus_01HTAP1|sc_01HTAPMAIN',
	'version 4 entries: no admin\'s key (the version has none), the store view\'s key read from the session');

for my $old ([ 3, '1.2' ], [ 2, '1.1' ])
{
	my ($v, $release) = @$old;
	$t_before = tq('SELECT max(log_id) FROM loginas.action_log');
	my ($b, $count) = old_file(text_queue_and_stop(2), $v);
	write_binary($queue_file, $b);
	$log_offset = -s $node->logfile;
	$node->start;
	wait_failures_in($tdb, \%tseen, 'begin_refused', $count, "a file of version $v ($release): its $count entries are written");
	like(substr(slurp_file($node->logfile), $log_offset), qr/loginas: $count refusals kept from before the restart are queued again/,
		'the server log says they were read');
	is( tq(qq{SELECT string_agg(DISTINCT concat_ws('|', admin_id, coalesce(customer_key, 'no key'), details->>'sqlstate',
				details->>'message', coalesce(details->>'coalesced', 'single')), ',')
			FROM loginas.action_log WHERE action = 'begin_refused' AND log_id > $t_before}),
		'1|no key|42501|Login as Customer assistance is disabled for this Customer.|single',
		"version $v entries: the admin, the refusal, no customer's key (the version has none)");
}
is(tq('SELECT intact FROM loginas.verify_log()'), 't', 'text keys, after the restarts: verify_log(): intact');
is(aq('SELECT intact FROM loginas.verify_log()'), 't', 'text admins, after the restarts: verify_log(): intact');
$node->stop;

# --- (6) without shared_preload_libraries --------------------------------------
my $plain = loginas_node('no_preload');
($rc, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION loginas CASCADE');
is($rc, 0, 'not preloaded: CREATE EXTENSION loginas');
like($err, qr/WARNING:  loginas: durable refusal logging is off; refused attempts go to the server log only/,
	'not preloaded: CREATE EXTENSION warns that durable refusal logging is off');
$plain->safe_psql('postgres', $shop_sql);
is($plain->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'loginas%'}),
	'0', 'no refusal log worker or launcher');
is( $plain->safe_psql('postgres',
		q{SELECT loginas._queue_refusal('begin', '42501', 'test', NULL, 1, 2, NULL)}),
	'f', 'there is no queue: _queue_refusal() returns false');
($out, $err) = as_role($plain, 'shop_backoffice', q{
BEGIN;
SELECT * FROM loginas.begin(1, 2);
ROLLBACK;
});
like($err, qr/assistance is disabled/, 'not preloaded: begin for a customer without consent is refused');
ok( $plain->wait_for_log(
		qr/LOG:  loginas: begin refused: Login as Customer assistance is disabled for this Customer\. .*\(admin 1, customer 2, session -, role shop_backoffice\)/),
	'the refusal is in the server log');
is($plain->safe_psql('postgres', q{SELECT count(*) FROM loginas.action_log WHERE result = 'failure'}),
	'0', 'and leaves no failure row');
$plain->stop;

done_testing();
