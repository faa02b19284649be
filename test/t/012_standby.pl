
# 012_standby.pl
#	A hot standby (streaming replica) serves loginas' reports and read-only
#	sessions; everything that must write refuses cleanly there.
#
# The primary holds a shop with loginas (bound views, settings, grants,
# consent, a tracked table written in a session) and, at the time of the
# base backup and after: a live session (admin 1, customer 1), an ended one
# (admin 2), a live unredeemed ticket (admin 3), a live session whose admin
# was deactivated since (admin 5: expire() has work to do).  loginas is in
# shared_preload_libraries (as in production; the standby inherits the
# configuration with the base backup).  The standby is made from a base
# backup and streams from the primary.
#
# On the standby:
#	the reports: loginas.action_log, verify_log(), log_heads(), the settings,
#	bindings, permissions and tracked_tables views, check(), store_choices()
#	and assistance_allowed() answer as on the primary;
#	assume() of a live session works (a read-only transaction takes no lock):
#	the transaction sees the context (current_*, banner) and reads the shop,
#	and the context ends with it; an in-session write is refused by PostgreSQL
#	(25006) like every write there;
#	assume() of an ended or unknown session is refused as on the primary
#	(28000), and the refusal reaches the standby's server log (a standby
#	has no refusal queue: no warning, no worker);
#	every function that must write -- begin, begin_from, redeem, end,
#	end_admin, expire (with work to do), configure, grant, revoke,
#	set_assistance (customer and admin), bind, unbind, note, purge_log,
#	set_log_retention, a report through viewer_admin (its view is recorded),
#	track, untrack -- refuses up front with SQLSTATE 25006
#	(read_only_sql_transaction) "loginas.<function>() writes to the
#	database", its detail and hint, and no internal CONTEXT;
#	the postmaster was never restarted (pg_postmaster_start_time unchanged,
#	no backend crash in its log), and the standby keeps replaying: the
#	session ended on the primary afterwards is refused on the standby too,
#	and its log equals the primary's and verifies.
# Failover: the primary stops and the standby is promoted; the ticket issued
# on the old primary redeems there, begin works, a used ticket stays used,
# new sessions, chains and log rows take ids after the old primary's, and
# verify_log() passes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $primary = loginas_node('primary', init => [ allows_streaming => 1 ], preload => 1);

# (LoginasTest.pm) customers and admins 1..6 (role Support), all consenting; orders bound
$primary->safe_psql(
	'postgres', shop_setup_sql(
		orders => 1,
		customers => 6,
		admins => 6,
		data => q{
	INSERT INTO shop.sales_order VALUES (100, 4, 1, '000000100');
},
		settings => [ ticket_ttl => '1 hour', session_ttl => '1 day' ],
		grants => [ Support => 'login', Support => 'manage_assistance' ])
	  . q{

	CREATE TABLE shop.wishlist (wishlist_id int PRIMARY KEY, customer_id int NOT NULL, product text);
	SELECT loginas.track('shop.wishlist', 'customer_id');
	CREATE TABLE shop.untracked (id int PRIMARY KEY);

	CREATE ROLE shop_admin LOGIN IN ROLE loginas_admin;
	CREATE ROLE shop_web LOGIN IN ROLE loginas_storefront;
	CREATE ROLE shop_reports LOGIN IN ROLE loginas_reporting;
	CREATE ROLE shop_auditor LOGIN IN ROLE loginas_auditor;
	GRANT USAGE ON SCHEMA shop TO shop_web, shop_admin;
	GRANT SELECT, INSERT, UPDATE, DELETE ON shop.wishlist, shop.untracked TO shop_web;

	CREATE SCHEMA tap;
	CREATE TABLE tap.secret (name text PRIMARY KEY, secret text NOT NULL);
	GRANT USAGE ON SCHEMA tap TO shop_web, shop_admin;
	GRANT SELECT ON tap.secret TO shop_web, shop_admin;

	-- admin 1 / customer 1: live, with a write; admin 2: ended; admin 3: a live
	-- ticket; admin 5: live, but the admin is deactivated afterwards
	INSERT INTO tap.secret SELECT 'ticket_1', token FROM loginas.begin(1, 1);
	INSERT INTO tap.secret SELECT 'key_1', session_key FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_1'));
	INSERT INTO tap.secret SELECT 'ticket_2', token FROM loginas.begin(2, 2);
	INSERT INTO tap.secret SELECT 'key_2', session_key FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_2'));
	SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'key_2'));
	INSERT INTO tap.secret SELECT 'ticket_3', token FROM loginas.begin(3, 3);
	INSERT INTO tap.secret SELECT 'ticket_5', token FROM loginas.begin(5, 5);
	INSERT INTO tap.secret SELECT 'key_5', session_key FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_5'));
	UPDATE shop.admin SET is_active = false WHERE admin_id = 5;
});
$primary->safe_psql(
	'postgres', q{
	BEGIN;
	SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'key_1'));
	INSERT INTO shop.wishlist VALUES (1, 1, 'first');
	COMMIT;});

# --- the standby ---------------------------------------------------------------------------
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
# something after the backup, streamed
$primary->safe_psql(
	'postgres', q{
	BEGIN;
	SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'key_1'));
	INSERT INTO shop.wishlist VALUES (2, 1, 'second');
	SELECT loginas.note('Viewed the cart');
	COMMIT;});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

my $started = $standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery (hot standby)');
my $standby_log_start = -s $standby->logfile;

# --- the reports --------------------------------------------------------------------------
my @reports = (
	[ 'action log', q{SELECT count(*) || ' ' || md5(string_agg(l::text, '|' ORDER BY log_id)) FROM loginas.action_log l} ],
	[ 'verify_log()', q{SELECT intact || ' ' || problem FROM loginas.verify_log()} ],
	[ 'log_heads()', q{SELECT string_agg(chain_id || ':' || chain_seq, ',' ORDER BY chain_id) FROM loginas.log_heads()} ],
	[ 'settings', q{SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM loginas.settings} ],
	[ 'bindings', q{SELECT string_agg(kind || '=' || status, ',' ORDER BY kind) FROM loginas.bindings} ],
	[ 'permissions', q{SELECT string_agg(role || ':' || resource, ',' ORDER BY role, resource) FROM loginas.permissions} ],
	[ 'tracked_tables', q{SELECT string_agg(relation::text, ',') FROM loginas.tracked_tables} ],
	[ 'check()', q{SELECT string_agg(n || ':' || (loginas.check(1, n)).allowed, ',' ORDER BY n) FROM generate_series(1, 7) n} ],
	[ 'store_choices()', q{SELECT string_agg(store_id || ':' || selectable, ',') FROM loginas.store_choices(1, 1)} ],
	[ 'assistance_allowed()', q{SELECT loginas.assistance_allowed(1)} ],
	[ 'sessions', q{SELECT string_agg(admin_id || ':' || (ended_at IS NULL) || ':' || (redeemed_at IS NOT NULL), ',' ORDER BY session_id) FROM loginas.session} ],
);
for my $r (@reports)
{
	my ($name, $sql) = @$r;
	my $want = $primary->safe_psql('postgres', $sql);
	is($standby->safe_psql('postgres', $sql), $want, "standby report: $name as on the primary");
}
is($standby->safe_psql('postgres', q{SELECT intact FROM loginas.verify_log()}), 't',
	'verify_log() on the standby: intact');
is( $standby->psql(
		'postgres', q{SELECT count(*) FROM loginas.action_log; SELECT intact FROM loginas.verify_log();},
		extra_params => [ '-U', 'shop_reports' ]),
	0, 'the reporting role reads the log and verifies it on the standby');

# run SQL on the standby as a role; (stdout, stderr) with SQLSTATEs
sub on_standby
{
	my ($user, $sql) = @_;
	my ($rc, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $user ], on_error_stop => 1);
	return ($out, $err);
}
my $secret = sub { "(SELECT secret FROM tap.secret WHERE name = '$_[0]')" };

# --- a read-only session on the standby -----------------------------------------------------
my $s1 = $primary->safe_psql('postgres', 'SELECT session_id FROM loginas.session WHERE admin_id = 1');
my ($out, $err) = on_standby(
	'shop_web', qq{BEGIN;
SELECT loginas.assume(@{[ $secret->('key_1') ]});
SELECT concat_ws(',', loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
	loginas.current_store(), loginas.current_read_only(), loginas.banner());
SELECT string_agg(product, ',' ORDER BY wishlist_id) FROM shop.wishlist WHERE customer_id = loginas.current_customer();
COMMIT;
SELECT loginas.current_session() IS NULL;});
is($out,
	"$s1\n$s1,1,1,1,f,You are connected as Customer No1 on Main Website\nfirst,second\nt",
	'assume() on the standby: the transaction acts in the live session and reads the customer\'s rows; the context ends with it');
is($err, '', '... without any message');

($out, $err) = on_standby(
	'shop_web', qq{BEGIN;
SELECT loginas.assume(@{[ $secret->('key_1') ]});
INSERT INTO shop.wishlist VALUES (3, 1, 'third');});
like($err, qr/ERROR:  25006: cannot execute INSERT in a read-only transaction/,
	'an in-session write on the standby: 25006, like any write there');

($out, $err) = on_standby('shop_web', "BEGIN; SELECT loginas.assume(@{[ $secret->('key_2') ]});");
like($err, qr/ERROR:  28000: Login as Customer session has ended\.\nDETAIL:  Session \d+ ended at .* \(logout\)\./,
	'assume() of an ended session on the standby: refused 28000, as on the primary');
unlike($err, qr/WARNING/, '... with no warning (a standby has no refusal queue: the server log has it)');
($out, $err) = on_standby('shop_web', q{BEGIN; SELECT loginas.assume(repeat('0', 64));});
like($err, qr/ERROR:  28000: Login as Customer session is not valid\./,
	'assume() of an unknown key on the standby: refused 28000');
like(substr(slurp_file($standby->logfile), $standby_log_start),
	qr/LOG:  loginas: assume refused: Login as Customer session has ended\./,
	'the refusal is in the standby\'s server log (the standby cannot write the action log)');

# --- everything that must write: 25006 ---------------------------------------------------------
# [what, role, SQL, the function that says it writes]
my @writers = (
	[ 'begin', 'shop_admin', q{SELECT * FROM loginas.begin(4, 4)}, 'begin' ],
	[ 'begin_from', 'shop_admin', q{SELECT * FROM loginas.begin_from(4, 'order', 100)}, 'begin' ],
	[ 'redeem (live ticket)', 'shop_web', "SELECT session_id FROM loginas.redeem(@{[ $secret->('ticket_3') ]})", 'redeem' ],
	[ 'redeem (used ticket)', 'shop_web', "SELECT session_id FROM loginas.redeem(@{[ $secret->('ticket_1') ]})", 'redeem' ],
	[ 'end', 'shop_web', "SELECT loginas.\"end\"(@{[ $secret->('key_1') ]})", 'end' ],
	[ 'end_admin', 'shop_admin', q{SELECT loginas.end_admin(1)}, 'end_admin' ],
	[ 'expire (a session to end)', 'shop_admin', q{SELECT loginas.expire()}, 'expire' ],
	[ 'configure', 'shop_admin', q{SELECT loginas.configure('ticket_ttl', '2 minutes')}, 'configure' ],
	[ 'configure (same value)', 'shop_admin', q{SELECT loginas.configure('ticket_ttl', '1 hour')}, 'configure' ],
	[ 'grant', 'shop_admin', q{SELECT loginas.grant('Support', 'view_log')}, 'grant' ],
	[ 'revoke', 'shop_admin', q{SELECT loginas.revoke('Support', 'login')}, 'revoke' ],
	[ 'set_assistance (customer)', 'shop_web', q{SELECT loginas.set_assistance(6, false)}, 'set_assistance' ],
	[ 'set_assistance (admin)', 'shop_admin', q{SELECT loginas.set_assistance(6, false, NULL, 1)}, 'set_assistance' ],
	[ 'bind', 'shop_admin', q{SELECT loginas.bind('orders', 'shop.loginas_orders')}, 'bind' ],
	[ 'unbind', 'shop_admin', q{SELECT loginas.unbind('orders')}, 'unbind' ],
	[ 'purge_log', 'shop_auditor', q{SELECT loginas.purge_log(now() - interval '1 year')}, 'purge_log' ],
	[ 'set_log_retention', 'shop_auditor', q{SELECT loginas.set_log_retention('1 year')}, 'set_log_retention' ],
	[ 'note (in a session)', 'shop_web', "BEGIN; SELECT loginas.assume(@{[ $secret->('key_1') ]}); SELECT loginas.note('on the standby')", 'note' ],
	[ 'track', $standby->safe_psql('postgres', 'SELECT current_user'), q{SELECT loginas.track('shop.untracked', 'id')}, 'track' ],
	[ 'untrack', $standby->safe_psql('postgres', 'SELECT current_user'), q{SELECT loginas.untrack('shop.wishlist')}, 'untrack' ],
);
for my $w (@writers)
{
	my ($name, $user, $sql, $fn) = @$w;
	($out, $err) = on_standby($user, "$sql;");
	like(
		$err,
		qr/ERROR:  25006: loginas\.$fn\(\) writes to the database\nDETAIL:  The transaction is read-only \(a hot standby, or BEGIN READ ONLY\)\.\nHINT:  Call it on the primary, in a read-write transaction\./,
		"$name on the standby: 25006, saying that loginas.$fn() writes");
	unlike($err, qr/CONTEXT:/, "$name on the standby: no internal context");
}

# a report shown through viewer_admin is recorded before it is shown: not on a standby
$primary->safe_psql('postgres', q{SELECT loginas.grant('Support', 'view_log')});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
($out, $err) = on_standby('shop_admin', q{SELECT count(*) FROM loginas.customer_history(1, viewer_admin => 1);});
like(
	$err,
	qr/ERROR:  25006: loginas\.customer_history\(\) with viewer_admin writes to the database\n/,
	'a report through viewer_admin on the standby: 25006 (the view could not be recorded)');
unlike($err, qr/CONTEXT:/, '... no internal context');

# --- the standby was never restarted and keeps replaying -------------------------------------------
is($standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started,
	'the standby\'s postmaster was never restarted');
unlike(substr(slurp_file($standby->logfile), $standby_log_start),
	qr/terminated by signal|was terminated|PANIC|TRAP|server process .* exited with exit code/,
	'no backend of the standby crashed');

$primary->safe_psql('postgres', "SELECT loginas.\"end\"(@{[ $secret->('key_1') ]})");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
($out, $err) = on_standby('shop_web', "BEGIN; SELECT loginas.assume(@{[ $secret->('key_1') ]});");
like($err, qr/ERROR:  28000: Login as Customer session has ended\./,
	'a session ended on the primary is refused on the standby once replayed');
my $log_sql = q{SELECT count(*) || ' ' || md5(string_agg(l::text, '|' ORDER BY log_id)) FROM loginas.action_log l};
is($standby->safe_psql('postgres', $log_sql), $primary->safe_psql('postgres', $log_sql),
	'the standby\'s log equals the primary\'s');
is($standby->safe_psql('postgres', q{SELECT intact || ' ' || problem FROM loginas.verify_log()}), 'true intact',
	'and verifies on the standby');
is($standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started,
	'still the same standby postmaster at the end');

# --- failover: the standby promoted takes over --------------------------------------------------
my $max_before = $primary->safe_psql('postgres',
	q{SELECT (SELECT max(session_id) FROM loginas.session) || ',' || (SELECT max(chain_id) FROM loginas.log_chain)
	  || ',' || (SELECT max(log_id) FROM loginas.action_log)});
$primary->stop;
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the standby is promoted');
($out, $err) = on_standby('shop_web', "SELECT session_id FROM loginas.redeem(@{[ $secret->('ticket_3') ]});");
like($out, qr/^\d+$/, 'after promotion the ticket issued on the old primary redeems on the new one');
is($err, '', '... without any message');
($out, $err) = on_standby('shop_admin', q{SELECT token IS NOT NULL FROM loginas.begin(4, 4);});
is($out, 't', 'after promotion begin() works');
($out, $err) = on_standby('shop_web', "SELECT session_id FROM loginas.redeem(@{[ $secret->('ticket_1') ]});");
like($err, qr/ERROR:  28000: .*\nDETAIL:  The ticket has already been used\./,
	'a ticket used on the old primary stays used on the new one (28000)');
my ($max_session, $max_chain, $max_log) = split /,/, $max_before;
is( $standby->safe_psql(
		'postgres', qq{SELECT (SELECT count(*) FROM loginas.session WHERE session_id > $max_session)
		  || ',' || ((SELECT count(*) FROM loginas.log_chain WHERE chain_id > $max_chain) > 0)
		  || ',' || ((SELECT count(*) FROM loginas.action_log WHERE log_id > $max_log) > 0)}),
	'1,true,true', 'the new session, chains and log rows on the promoted server take ids after the old primary\'s');
is($standby->safe_psql('postgres', q{SELECT intact || ' ' || problem FROM loginas.verify_log()}), 'true intact',
	'verify_log() on the promoted server, after new rows');

$standby->stop;
done_testing();
