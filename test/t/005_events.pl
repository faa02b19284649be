
# 005_events.pl
#	Live events: NOTIFY on the channel of the setting notify_channel.
#
# A role that is nobody in the shop (no loginas role, only CONNECT) LISTENs
# on a persistent connection -- anyone who can connect can -- and every
# payload it receives is checked.  Checked here:
#   - off by default: nothing is sent until notify_channel is set;
#   - ticket_issued (begin), session_started (redeem), session_ended for
#     every end reason (logout, expired, customer_inactive, admin_logout,
#     admin_inactive, permission_revoked, consent_revoked, consent_expired,
#     superseded, feature_disabled; an unredeemed ticket's end too), each
#     with exactly its fields: ids, keys, states, the log row that records
#     it (which exists and is that event's row), the time in UTC;
#   - nothing for a tracked write, a note, and nothing at all for a begin,
#     a redeem or an end whose transaction rolls back (a marker NOTIFY sent
#     after it is the first thing delivered);
#   - refused attempts (begin, redeem, assume, a tracked write) are announced
#     although their transaction rolls back -- by the durable refusal log's
#     worker, only after their failure row committed: while the log is
#     locked there is neither row nor event; an announcement that fails
#     costs nothing but a LOG line (the row is written);
#   - session_reverted as loginas.revert sends it (_notify_session);
#   - _notify refuses an unknown event and a field outside its list (so a
#     reason, a name or a secret cannot be sent by mistake);
#   - no payload holds a ticket, a session key, a reason, a source, a
#     username, an e-mail, a display name, a role or a client address;
#   - keys of any type: text keys of 512 bytes, quotes and multibyte
#     characters are sent whole and decode to the canonical key; a key whose
#     JSON text is over 1024 bytes is left out (named in "omitted"), never
#     cut; every payload stays under NOTIFY's 8000 bytes;
#   - events are per database: a listener of another database hears none.
#
# Needs what 001_context_boundary.pl needs (PATH, PERL5LIB, TESTDIR,
# PG_REGRESS); loginas installed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;
use Encode;
use JSON::PP;
use Time::HiRes qw(usleep);

# The one-customer shop, plus customer 2 (who has not allowed assistance),
# admin 2, a tracked orders table, the application's roles and a role that is
# nobody.
my $shop_sql = shop_setup_sql(
	extension => 0,
	tables => q{
	CREATE TABLE shop.orders (order_id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL);
},
	data => q{
	INSERT INTO shop.customer VALUES (2, 'john@example.com', 'John', 'Smith', true, 1, 1);
	INSERT INTO shop.admin VALUES (2, 'sam', 'Sam', 'Support', true, 'Administrators');
	INSERT INTO shop.orders VALUES (1, 1, 'pending'), (2, 2, 'pending');
	INSERT INTO shop.sales_order VALUES (100, 1, 1, '000000100');
},
	orders => 1) . q{
	SELECT loginas.track('shop.orders', 'customer_id');
	CREATE ROLE shop_backoffice LOGIN IN ROLE loginas_admin;
	CREATE ROLE shop_storefront LOGIN IN ROLE loginas_storefront;
	CREATE ROLE shop_spy LOGIN;
	GRANT USAGE ON SCHEMA shop TO shop_storefront;
	GRANT SELECT, UPDATE ON shop.orders TO shop_storefront;
	-- secrets stay in this table: never in an SQL text
	CREATE SCHEMA tap;
	CREATE TABLE tap.secret (name text PRIMARY KEY, secret text NOT NULL);
	GRANT USAGE ON SCHEMA tap TO shop_backoffice, shop_storefront;
	GRANT SELECT, INSERT ON tap.secret TO shop_backoffice, shop_storefront;
};

my $node = loginas_node('events', preload => 1);
$node->safe_psql('postgres', 'CREATE EXTENSION loginas CASCADE');
$node->safe_psql('postgres', $shop_sql);

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# SQL as one of the application's roles (ON_ERROR_STOP off); (stdout, stderr)
sub as_role
{
	my ($role, $sql, $db) = @_;
	my ($r, $o, $e) = $node->psql($db // 'postgres', $sql, on_error_stop => 0, extra_params => [ '-U', $role ]);
	return ($o, $e);
}

# --- the listener ------------------------------------------------------------------
# every event received, in order: { channel, pid, raw, json }
my @received;
my $json = JSON::PP->new->utf8(1)->canonical(1);

sub listener
{
	my ($db) = @_;
	my $l = $node->background_psql($db, extra_params => [ '-U', 'shop_spy' ]);
	$l->query_safe('LISTEN loginas_events');
	return $l;
}

# what $l has received since last asked (psql prints a notification after
# the command during which it arrived)
sub drain
{
	my ($l) = @_;
	my ($out) = background_query($l, 'SELECT 1');
	my @got;
	for my $line (split /\n/, $out)
	{
		next unless $line =~
		  /^Asynchronous notification "([^"]*)" with payload "(.*)" received from server process with PID (\d+)\.$/;
		my %e = (channel => $1, raw => $2, pid => $3);
		$e{json} = eval { $json->decode($e{raw}) };
		push @got, \%e;
	}
	push @received, @got;
	return @got;
}

# wait until $n events have arrived (or 15 s); returns them
sub wait_events
{
	my ($l, $n) = @_;
	my @got;
	for (1 .. 150)
	{
		push @got, drain($l);
		last if @got >= $n;
		usleep(100_000);
	}
	return @got;
}

# a committed NOTIFY of a marker: everything sent before it has been delivered
# when it arrives; returns what came before it
sub until_marker
{
	my ($l, $tag, $db) = @_;
	$node->safe_psql($db // 'postgres', "SELECT pg_notify('loginas_events', 'marker $tag')");
	my @got;
	for (1 .. 150)
	{
		push @got, drain($l);
		last if grep { $_->{raw} eq "marker $tag" } @got;
		usleep(100_000);
	}
	my @before;
	for my $e (@got)
	{
		last if $e->{raw} eq "marker $tag";
		push @before, $e;
	}
	ok((grep { $_->{raw} eq "marker $tag" } @got), "marker $tag delivered");
	return @before;
}

sub fields { return join ',', sort keys %{ $_[0]->{json} // {} }; }

# one event: its name, its exact fields, the values given in %want, its time
# in UTC, and its log row (that exists, of that session and action)
sub check_event
{
	my ($e, $event, $fields, $want, $name, $db) = @_;
	ok(defined $e && defined $e->{json}, "$name: an event, JSON") or return;
	my $j = $e->{json};
	is($e->{channel}, 'loginas_events', "$name: on the channel");
	is($j->{event}, $event, "$name: event $event");
	is(fields($e), join(',', sort(@$fields, 'event', 'at')), "$name: exactly its fields");
	like($j->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "$name: the time, UTC");
	for my $k (sort keys %$want)
	{
		my $v = $j->{$k};
		$v = $v ? 'true' : 'false' if JSON::PP::is_bool($v);
		is($v, $want->{$k}, "$name: $k");
	}
	return $j;
}

# the action and session of a log row
sub log_row
{
	my ($id, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT concat_ws('|', action, result, coalesce(session_id::text, '-')) FROM loginas.action_log WHERE log_id = $id");
}

my $spy = listener('postgres');

# --- (1) off by default ----------------------------------------------------------------
is(q1(q{SELECT value = '' AND default_value = '' FROM loginas.settings WHERE name = 'notify_channel'}),
	't', 'notify_channel is empty by default: no events');
as_role('shop_backoffice', q{INSERT INTO tap.secret SELECT 't0', token FROM loginas.begin(1, 1)});
as_role('shop_storefront',
	q{INSERT INTO tap.secret SELECT 'k0', session_key FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 't0'))});
as_role('shop_storefront', q{SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'k0'))});
is(scalar(until_marker($spy, 'off')), 0, 'events off: a begin, a redeem and an end sent nothing');

# --- (2) on: a ticket, a session, its end --------------------------------------------
my ($out, $err) = as_role('shop_backoffice', q{SELECT loginas.configure('notify_channel', 'Loginas_Events', 1)});
is($out, 'loginas_events', 'the admin backend turns the events on (the name folded as LISTEN folds it)');

as_role('shop_backoffice',
	q{INSERT INTO tap.secret SELECT 't1', token FROM loginas.begin_from(1, 'order', 100, reason => 'call 4711 secret reason', client_addr => '198.51.100.23')});
my $s1 = q1(q{SELECT max(session_id) FROM loginas.session});
my ($e) = wait_events($spy, 1);
my $j = check_event($e, 'ticket_issued',
	[qw(log_id session_id admin_key customer_key store_key read_only expires_at)],
	{ session_id => $s1, admin_key => '1', customer_key => '1', store_key => '1', read_only => 'false' },
	'begin');
is(log_row($j->{log_id}), "ticket_issued|success|$s1", 'begin: log_id names the ticket_issued row of the session');
is( q1(qq{SELECT to_char(ticket_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM loginas.session
		WHERE session_id = $s1}),
	$j->{expires_at}, 'begin: expires_at is the ticket\'s');

as_role('shop_storefront',
	q{INSERT INTO tap.secret SELECT 'k1', session_key FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 't1'), '203.0.113.77')});
($e) = wait_events($spy, 1);
$j = check_event($e, 'session_started',
	[qw(log_id session_id admin_key customer_key store_key read_only expires_at)],
	{ session_id => $s1, admin_key => '1', customer_key => '1', store_key => '1', read_only => 'false' },
	'redeem');
is(log_row($j->{log_id}), "ticket_redeemed|success|$s1", 'redeem: log_id names the ticket_redeemed row');
is( q1(qq{SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM loginas.session
		WHERE session_id = $s1}),
	$j->{expires_at}, 'redeem: expires_at is the session\'s');

# the session's work sends nothing
($out, $err) = as_role('shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'k1'));
UPDATE shop.orders SET status = 'on hold' WHERE order_id = 1;
SELECT loginas.note('Put the order on hold');
COMMIT;
});
is($err, '', 'a tracked write and a note in the session');
is(scalar(until_marker($spy, 'work')), 0, 'a tracked write and a note send no event');

as_role('shop_storefront', q{SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'k1'))});
($e) = wait_events($spy, 1);
$j = check_event($e, 'session_ended',
	[qw(log_id session_id admin_key customer_key store_key end_reason redeemed)],
	{ session_id => $s1, end_reason => 'logout', redeemed => 'true' }, 'logout');
is(log_row($j->{log_id}), "session_ended|success|$s1", 'logout: log_id names the session_ended row');

# --- (3) every end reason ---------------------------------------------------------------
# a redeemed session of admin $admin for customer 1 (named $tag); its id
sub live_session
{
	my ($tag, $admin) = @_;
	$admin //= 1;
	as_role('shop_backoffice', qq{INSERT INTO tap.secret SELECT 't$tag', token FROM loginas.begin($admin, 1)});
	as_role('shop_storefront',
		qq{INSERT INTO tap.secret SELECT 'k$tag', session_key FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 't$tag'))});
	my $id = q1('SELECT max(session_id) FROM loginas.session');
	my @got = wait_events($spy, 2);
	is(join(' ', map { $_->{json}{event} } @got), 'ticket_issued session_started', "$tag: ticket and start");
	return $id;
}

# the session_ended events the step sent (waits for $n)
sub ended
{
	my ($n) = @_;
	return grep { $_->{json} && $_->{json}{event} eq 'session_ended' } wait_events($spy, $n // 1);
}

my %reasons;
my $id = live_session('expired');
as_role('shop_storefront', q{SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'kexpired'), 'expired')});
($e) = ended();
$reasons{expired} = check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed)],
	{ session_id => $id, end_reason => 'expired', redeemed => 'true' }, 'the storefront ends it as expired');

$id = live_session('inactive');
as_role('shop_storefront', q{SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'kinactive'), 'customer_inactive')});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed)],
	{ session_id => $id, end_reason => 'customer_inactive' }, 'customer_inactive');

$id = live_session('adminlogout');
as_role('shop_backoffice', q{SELECT loginas.end_admin(1)});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed by_admin_key)],
	{ session_id => $id, end_reason => 'admin_logout', by_admin_key => '1' }, 'admin_logout (end_admin): the ending admin');

$id = live_session('admininactive');
as_role('shop_backoffice', q{SELECT loginas.end_admin(1, 'admin_inactive')});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed by_admin_key)],
	{ session_id => $id, end_reason => 'admin_inactive' }, 'admin_inactive');

$id = live_session('superseded');
as_role('shop_backoffice', q{INSERT INTO tap.secret SELECT 'tsuperseding', token FROM loginas.begin(1, 1)});
my @got = wait_events($spy, 2);
is(join(' ', map { $_->{json}{event} } @got), 'session_ended ticket_issued',
	'a second begin of the admin: the first session ends, then the new ticket, in that order');
check_event($got[0], 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed by_admin_key)],
	{ session_id => $id, end_reason => 'superseded' }, 'superseded');
my $ticket_only = $got[1]{json}{session_id};

# the unredeemed ticket ends when the feature is turned off
as_role('shop_backoffice', q{SELECT loginas.configure('enabled', 'off', 1)});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed by_admin_key)],
	{ session_id => $ticket_only, end_reason => 'feature_disabled', redeemed => 'false', by_admin_key => '1' },
	'feature_disabled: the ticket never redeemed');
as_role('shop_backoffice', q{SELECT loginas.configure('enabled', 'on', 1)});

$id = live_session('permission');
as_role('shop_backoffice', q{SELECT loginas.revoke('Administrators', 'login', 1)});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed by_admin_key)],
	{ session_id => $id, end_reason => 'permission_revoked' }, 'permission_revoked');
as_role('shop_backoffice', q{SELECT loginas.grant('Administrators', 'login', 1)});

$id = live_session('consent');
as_role('shop_storefront', q{SELECT loginas.set_assistance(1, false)});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed)],
	{ session_id => $id, end_reason => 'consent_revoked' }, 'consent_revoked');
as_role('shop_storefront', q{SELECT loginas.set_assistance(1, true)});

# a consent that runs out, and a ticket that does: expire()
$id = live_session('consentexpired');
as_role('shop_storefront', q{SELECT loginas.set_assistance(1, true, now() + interval '1 second')});
sleep 2;
as_role('shop_backoffice', q{SELECT loginas.expire()});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed)],
	{ session_id => $id, end_reason => 'consent_expired' }, 'consent_expired (expire())');
as_role('shop_storefront', q{SELECT loginas.set_assistance(1, true)});
as_role('shop_backoffice', q{SELECT loginas.configure('ticket_ttl', '1 second', 1)});
as_role('shop_backoffice', q{INSERT INTO tap.secret SELECT 'tttl', token FROM loginas.begin(1, 1)});
($e) = wait_events($spy, 1);
$id = $e->{json}{session_id};
sleep 2;
as_role('shop_backoffice', q{SELECT loginas.expire()});
($e) = ended();
check_event($e, 'session_ended', [qw(log_id session_id admin_key customer_key store_key end_reason redeemed)],
	{ session_id => $id, end_reason => 'expired', redeemed => 'false' }, 'a ticket past its time (expire())');
as_role('shop_backoffice', q{SELECT loginas.configure('ticket_ttl', '1 minute', 1)});

is( q1(q{SELECT string_agg(DISTINCT end_reason, ',' ORDER BY end_reason) FROM loginas.session}),
	'admin_inactive,admin_logout,consent_expired,consent_revoked,customer_inactive,expired,feature_disabled,logout,permission_revoked,superseded',
	'every end reason of loginas.session was met');
is( q1(q{SELECT count(*) FROM loginas.action_log WHERE action = 'session_ended'
		AND log_id >= (SELECT min(log_id) FROM loginas.action_log WHERE action = 'ticket_issued'
			AND session_id = } . $s1 . q{)}),
	scalar(grep { $_->{json} && $_->{json}{event} eq 'session_ended' } @received),
	'as many session_ended events as session_ended rows since the events were turned on');

# --- (4) nothing for a transaction that rolls back ---------------------------------
$id = live_session('rollback');
($out, $err) = as_role('shop_backoffice', q{
BEGIN;
SELECT count(*) FROM loginas.begin(2, 1);
ROLLBACK;
BEGIN;
SELECT loginas.end_admin(1);
ROLLBACK;
});
is($err, '', 'a begin and an end_admin, rolled back');
($out, $err) = as_role('shop_storefront', q{
BEGIN;
SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'krollback'));
ROLLBACK;
});
is($err, '', 'an end, rolled back');
as_role('shop_backoffice', q{INSERT INTO tap.secret SELECT 'trb', token FROM loginas.begin(2, 1)});
wait_events($spy, 1);    # its ticket (admin 2 had nothing live to supersede)
($out, $err) = as_role('shop_storefront', q{
BEGIN;
SELECT count(*) FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'trb'));
ROLLBACK;
});
is($err, '', 'a redeem, rolled back');
is(scalar(until_marker($spy, 'rollback')), 0, 'nothing delivered for the transactions that rolled back');

# --- (5) refusals: announced once recorded, although they roll back ----------------
my $failures = q{SELECT count(*) FROM loginas.action_log WHERE result = 'failure'};
my $f0 = q1($failures);
($out, $err) = as_role('shop_backoffice', q{
BEGIN;
SELECT * FROM loginas.begin(1, 2, reason => 'call 4712 secret reason');
ROLLBACK;
});
like($err, qr/assistance is disabled/, 'a begin refused (customer 2 has not allowed assistance), rolled back');
($e) = grep { $_->{json}{event} eq 'refused' } wait_events($spy, 1);
$j = check_event($e, 'refused', [qw(log_id action sqlstate admin_key customer_key)],
	{ action => 'begin', sqlstate => '42501', admin_key => '1', customer_key => '2' }, 'refused begin');
is(log_row($j->{log_id}), 'begin_refused|failure|-', 'refused begin: log_id names its committed failure row');
is( q1(qq{SELECT backend_type FROM pg_stat_activity WHERE pid = $e->{pid}}),
	'loginas refusal log', 'refused begin: sent by the refusal log\'s worker');

as_role('shop_storefront', q{SELECT * FROM loginas.redeem('bogus')});
($e) = wait_events($spy, 1);
$j = check_event($e, 'refused', [qw(log_id action sqlstate)], { action => 'redeem', sqlstate => '28000' },
	'refused redeem of an unknown ticket: no ids');
is(log_row($j->{log_id}), 'redeem_refused|failure|-', 'refused redeem: its failure row');

as_role('shop_storefront', q{BEGIN; SELECT loginas.assume('bogus'); ROLLBACK;});
($e) = wait_events($spy, 1);
check_event($e, 'refused', [qw(log_id action sqlstate)], { action => 'assume', sqlstate => '28000' },
	'refused assume of an unknown key');

($out, $err) = as_role('shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'krollback'));
UPDATE shop.orders SET status = 'canceled' WHERE order_id = 2;
COMMIT;
});
like($err, qr/shop\.orders/, "a write to another customer's order in the session is refused");
my $live = q1(q{SELECT session_id FROM loginas.session WHERE admin_id = 1 AND ended_at IS NULL});
($e) = wait_events($spy, 1);
$j = check_event($e, 'refused', [qw(log_id action sqlstate session_id admin_key customer_key store_key)],
	{ action => 'write', sqlstate => '42501', session_id => $live, admin_key => '1', customer_key => '1' },
	'refused write: the session');
is(log_row($j->{log_id}), "write_refused|failure|$live", 'refused write: its failure row');

# held back: while the log cannot be written, neither row nor event
my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN');
$lock->query_safe('LOCK TABLE loginas.action_log IN EXCLUSIVE MODE');
my $f1 = q1($failures);
as_role('shop_storefront', q{SELECT * FROM loginas.redeem('bogus, held back')});
sleep 2;
is(scalar(grep { $_->{json} && $_->{json}{event} eq 'refused' } until_marker($spy, 'held')), 0,
	'while the log is locked: no event for the refusal');
is(q1($failures), $f1, '... and no failure row');
$lock->query_safe('COMMIT');
$lock->quit;
($e) = wait_events($spy, 1);
$j = check_event($e, 'refused', [qw(log_id action sqlstate)], { action => 'redeem' }, 'the lock released: the event');
is(log_row($j->{log_id}), 'redeem_refused|failure|-', '... after its row');

# an announcement that fails costs nothing but a LOG line
my $def = q1(q{SELECT pg_get_functiondef('loginas._notify_refusal(bigint)'::regprocedure)});
q1(q{CREATE OR REPLACE FUNCTION loginas._notify_refusal(p_log_id bigint) RETURNS boolean
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the announcement broke (test)'; END $$});
my $log_offset = -s $node->logfile;
my $f2 = q1($failures);
as_role('shop_storefront', q{SELECT * FROM loginas.redeem('bogus, not announced')});
ok($node->poll_query_until('postgres', "SELECT ($failures) > $f2"), 'a refusal whose announcement fails: its row is written');
my $logged = 0;
for (1 .. 100)
{
	$logged = slurp_file($node->logfile, $log_offset) =~
	  /LOG:  loginas: a refusal was recorded but not announced: the announcement broke \(test\)/;
	last if $logged;
	usleep(100_000);
}
ok($logged, '... and the server log says it was not announced');
is(scalar(grep { $_->{json} && $_->{json}{event} eq 'refused' } until_marker($spy, 'broken')), 0, '... no event');
q1($def);
is( q1(q{SELECT md5(pg_get_functiondef('loginas._notify_refusal(bigint)'::regprocedure))}),
	q1(qq{SELECT md5(\$def\$$def\$def\$)}), 'the announcement put back');
as_role('shop_storefront', q{SELECT * FROM loginas.redeem('bogus, announced again')});
($e) = wait_events($spy, 1);
check_event($e, 'refused', [qw(log_id action sqlstate)], { action => 'redeem' }, 'announced again');
is(q1(q{SELECT intact FROM loginas.verify_log()}), 't', 'verify_log() intact');

# --- (6) a revert, as loginas.revert announces it ------------------------------------
$j = undef;
q1(qq{SELECT loginas._notify_session('session_reverted', $live, 42, jsonb_build_object('by_admin_key', '2', 'rows', 3))});
($e) = wait_events($spy, 1);
check_event($e, 'session_reverted', [qw(log_id session_id admin_key customer_key store_key by_admin_key rows)],
	{ session_id => $live, log_id => 42, by_admin_key => '2', rows => 3, customer_key => '1' },
	'session_reverted (_notify_session)');

# loginas.revert itself announces the session it undid, its admin and the rows put back
as_role('shop_backoffice', q{SELECT loginas.end_admin(1), loginas.end_admin(2)});
until_marker($spy, 'before the revert');
my $rv = live_session('rv', 2);
($out, $err) = as_role('shop_storefront', q{
BEGIN;
SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'krv'));
UPDATE shop.orders SET status = 'to be undone' WHERE order_id = 1;
COMMIT;
});
is($err, '', 'revert: a session writes an order');
as_role('shop_storefront', q{SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'krv'))});
($e) = wait_events($spy, 1);
is($e && $e->{json}{event}, 'session_ended', 'revert: the session ended');
q1(q{SELECT loginas.grant('Administrators', 'revert')});
($out, $err) = as_role('shop_backoffice', qq{SELECT count(*) FROM loginas.revert($rv, 1, 'undo the order')});
is($err, '', 'revert: the admin backend reverts the session');
($e) = wait_events($spy, 1);
$j = check_event($e, 'session_reverted', [qw(log_id session_id admin_key customer_key store_key by_admin_key rows)],
	{ session_id => $rv, by_admin_key => '1', rows => 1, customer_key => '1' }, 'session_reverted (loginas.revert)');
like(log_row($j->{log_id}), qr/^session_reverted\|success\|\d+$/, 'revert: log_id names the session_reverted row');
is(q1(q{SELECT status FROM shop.orders WHERE order_id = 1}), 'on hold', 'revert: the order is as it was');
q1(q{SELECT loginas.revoke('Administrators', 'revert')});

# _notify sends only its events and fields
(undef, $out, $err) = $node->psql('postgres', q{SELECT loginas._notify('session_ended', '{"reason": "call 4711"}')});
like($err, qr/ERROR:  field "reason" is not allowed in a loginas event/, '_notify refuses a field outside its list');
(undef, $out, $err) = $node->psql('postgres', q{SELECT loginas._notify('session_ended', '{"session_key": "x"}')});
like($err, qr/field "session_key" is not allowed/, '... a session key');
(undef, $out, $err) = $node->psql('postgres', q{SELECT loginas._notify('password_reset', '{}')});
like($err, qr/ERROR:  unknown loginas event "password_reset"/, '... and an unknown event');
(undef, $out, $err) = $node->psql('postgres', q{SELECT loginas._notify('session_ended', '{}')});
is($out, 't', 'a listed event with listed fields is sent');
($out, $err) = as_role('shop_backoffice', q{SELECT loginas._notify('session_ended', '{}')});
like($err, qr/permission denied for function _notify/, 'the admin backend cannot send events');
($out, $err) = as_role('shop_storefront', q{SELECT loginas._notify_session('session_ended', 1, 1)});
like($err, qr/permission denied for function _notify_session/, 'nor can the storefront');
until_marker($spy, 'internal');

# --- (7) no secret, no name, no reason in any payload ---------------------------------
my @secrets = split /\n/, q1(q{SELECT secret FROM tap.secret});
cmp_ok(scalar(@secrets), '>=', 20, 'tickets and session keys of this test, kept aside');
my @payloads = map { $_->{raw} } grep { $_->{json} } @received;
# what is searched: each payload without its times, whose digits could hold
# a number the search looks for (a reason's "4711" in ".394711Z")
my @searched = map {
	my %j = %{ $_->{json} };
	delete @j{qw(at expires_at)};
	JSON::PP->new->canonical->encode(\%j)
} grep { $_->{json} } @received;
my @forbidden = (
	@secrets, 'secret reason', '4711', '4712', 'ada', 'Ada', 'veronica', 'Veronica', 'john@', 'Costello',
	'example.com', 'shop_backoffice', 'shop_storefront', 'shop_spy', 'postgres', '198.51.100', '203.0.113',
	'000000100', 'order', 'Administrators', 'message', 'assistance is disabled', 'shop.orders');
my @leaks;
for my $p (@searched)
{
	push @leaks, grep { index($p, $_) >= 0 } @forbidden;
}
cmp_ok(scalar(@payloads), '>=', 40, scalar(@payloads) . ' payloads received');
is(join(', ', map { length($_) > 12 ? 'a secret' : $_ } @leaks), '',
	'no payload holds a ticket, a session key, a reason, a source, a name, an e-mail, a role, an address or a message');
my ($biggest) = sort { $b <=> $a } map { length($_) } @payloads;
cmp_ok($biggest, '<', 8000, "every payload under 8000 bytes (the biggest: $biggest)");

# --- (8) keys of any type: long, quoted, multibyte, control characters ---------------
my $ck = '"' x 500;                  # JSON: 1002 bytes, sent
my $ak = "\x{20ac}" x 170;           # 510 bytes of UTF-8
my $sk = "\x01" x 200;               # JSON: 1202 bytes, left out
my $kdb = 'keys';
$node->safe_psql('postgres', "CREATE DATABASE $kdb ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$node->safe_psql(
	$kdb, q{
	CREATE EXTENSION loginas CASCADE;
	CREATE SCHEMA k;
	CREATE TABLE k.customer (id text PRIMARY KEY, email text, store text);
	CREATE TABLE k.admin (id text PRIMARY KEY, username text);
	CREATE TABLE k.store (id text PRIMARY KEY);
	CREATE TABLE k.cart (cart_id int PRIMARY KEY, customer_id text NOT NULL);
	CREATE VIEW k.loginas_customers AS SELECT id AS customer_id, email, 'K' AS display_name, true AS is_active,
		'w' AS website_id, store AS store_id FROM k.customer;
	CREATE VIEW k.loginas_admins AS SELECT id AS admin_id, username, 'A' AS display_name, true AS is_active,
		'Administrators' AS role FROM k.admin;
	CREATE VIEW k.loginas_store_views AS SELECT id AS store_id, 'w' AS website_id, 'S' AS name, 'W' AS website_name,
		true AS is_active, true AS is_default FROM k.store;
	GRANT USAGE ON SCHEMA k TO loginas_reader;
	GRANT SELECT ON k.loginas_customers, k.loginas_admins, k.loginas_store_views TO loginas_reader;
	CREATE TABLE k.secret (name text PRIMARY KEY, secret text);
});
my $esc = sub { my $s = shift; $s =~ s/'/''/g; return "convert_from('\\x" . unpack('H*', Encode::encode('UTF-8', $s)) . "', 'UTF8')"; };
$node->safe_psql($kdb, 'INSERT INTO k.customer VALUES (' . $esc->($ck) . q{, 'k@example.com', } . $esc->($sk) . ');'
	  . 'INSERT INTO k.admin VALUES (' . $esc->($ak) . q{, 'keyadmin');}
	  . 'INSERT INTO k.store VALUES (' . $esc->($sk) . ');'
	  . q{SELECT loginas.bind('customers', 'k.loginas_customers');
		SELECT loginas.bind('admins', 'k.loginas_admins');
		SELECT loginas.bind('store_views', 'k.loginas_store_views');
		SELECT loginas.configure('enabled', 'on');
		SELECT loginas.grant('Administrators', 'login');
		SELECT loginas.configure('notify_channel', 'loginas_events');}
	  . 'SELECT loginas.set_assistance(' . $esc->($ck) . ', true);');
my $kspy = listener($kdb);
$node->safe_psql($kdb, 'INSERT INTO k.secret SELECT $$t$$, token FROM loginas.begin(' . $esc->($ak) . ', ' . $esc->($ck) . ')');
$node->safe_psql($kdb, q{INSERT INTO k.secret SELECT 'k', session_key FROM loginas.redeem((SELECT secret FROM k.secret WHERE name = 't'))});
$node->safe_psql($kdb, 'SELECT loginas.end_admin(' . $esc->($ak) . ')');
my @kev = wait_events($kspy, 3);
is(join(' ', map { $_->{json}{event} } @kev), 'ticket_issued session_started session_ended',
	'a shop keyed by long text keys: the ticket, the start, the end');
for my $ev (@kev)
{
	my $k = $ev->{json};
	is($k->{customer_key}, $ck, "$k->{event}: the customer's key of 500 quotes, whole");
	is($k->{admin_key}, $ak, "$k->{event}: the admin's key of 170 euro signs (510 bytes), whole");
	ok(!exists $k->{store_key}, "$k->{event}: the store view's key of 200 control characters (1202 bytes as JSON) is left out, not cut");
	is(join(',', @{ $k->{omitted} // [] }), 'store_key', "$k->{event}: ... and named in \"omitted\"");
	cmp_ok(length($ev->{raw}), '<', 8000, "$k->{event}: " . length($ev->{raw}) . ' bytes');
}
is($kev[2]{json}{by_admin_key}, $ak, 'session_ended: the ending admin\'s long key, whole');
is(scalar(grep { $_->{json} } until_marker($spy, 'otherdb')), 0, 'the listener of another database heard none of them');
my @ksecrets = split /\n/, $node->safe_psql($kdb, q{SELECT secret FROM k.secret});
is(scalar(grep { my $r = $_->{raw}; grep { index($r, $_) >= 0 } @ksecrets } @kev), 0, 'no secret in them');
$kspy->quit;

# --- (9) off again ---------------------------------------------------------------------
as_role('shop_backoffice', q{SELECT loginas.configure('notify_channel', '', 1)});
as_role('shop_backoffice', q{SELECT loginas.end_admin(1)});
is(scalar(until_marker($spy, 'offagain')), 0, 'notify_channel emptied: no more events');

$spy->quit;
done_testing();
