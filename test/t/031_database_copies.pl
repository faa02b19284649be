
# 031_database_copies.pl
#	Tickets and session keys work only in the database they were issued in.
#
# CREATE DATABASE ... TEMPLATE copies every table, loginas.session with its
# stored hashes included.  Since 1.2 a stored hash is bound to the database's
# identity (system identifier and database OID, src/token.c), so a copy --
# made here by the shop database's owner, a non-superuser with CREATEDB --
# accepts none of the original's live keys and tickets:
#	in the copy: the live session key is refused by assume() (28000, "No
#	session matches the given key.") and a tracked UPDATE in that transaction
#	does not commit; the live ticket is refused by redeem() (28000, "No ticket
#	matches the given token."); the copy's session rows hold the very same
#	hashes as the original's; a session begun in the copy works there and
#	not in the original;
#	in the original: the key keeps working (a tracked UPDATE commits, stamped
#	and logged) and the ticket redeems; ALTER DATABASE ... RENAME (same OID)
#	changes nothing.
# The upgrade from 1.1: the hashes 1.1 stored (sha256 of the secret) are
# converted in place, so a session and a ticket live under 1.1 go on working
# after ALTER EXTENSION UPDATE -- in that database only (a copy of the
# upgraded database refuses them).  A ticket_ttl / session_ttl that 1.1
# accepted with months and negative days ('3000000 mon -89999993 days': a
# ticket valid for 1,310,632 days under 1.1) is reset to its default by the
# update, with a WARNING and a setting_changed row.
# The view recorder (views through viewer_admin are recorded by a background
# worker) pins its settings: a database owner's ALTER DATABASE ... SET
# default_transaction_read_only = on does not stop it.  A view whose record
# cannot be committed is not shown: the recorder's error (its lock_timeout
# expired: 55P03), no background worker slot (53000).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $node = loginas_node('copies');
$node->safe_psql(
	'postgres', q{
	CREATE ROLE shop_owner LOGIN CREATEDB;
	CREATE DATABASE shop OWNER shop_owner;
	CREATE DATABASE legacy OWNER shop_owner;
});
is($node->safe_psql('postgres', q{SELECT rolsuper::text || ',' || rolcreatedb::text FROM pg_roles WHERE rolname = 'shop_owner'}),
	'false,true', 'the shop database\'s owner is no superuser, but may create databases');

my $shop_sql = shop_setup_sql(customers => 2, admins => 2) . tracked_quotes_sql(2) . q{
	DO $$
	BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shop_web') THEN
			CREATE ROLE shop_admin LOGIN IN ROLE loginas_admin;
			CREATE ROLE shop_web LOGIN IN ROLE loginas_storefront;
		END IF;
	END
	$$;
	GRANT USAGE ON SCHEMA shop TO shop_web;
	GRANT SELECT, INSERT, UPDATE, DELETE ON shop.quote, shop.quote_item TO shop_web;
	CREATE SCHEMA tap;
	CREATE TABLE tap.secret (name text PRIMARY KEY, secret text NOT NULL);
	GRANT USAGE ON SCHEMA tap TO shop_web, shop_admin;
	GRANT SELECT ON tap.secret TO shop_web, shop_admin;
};
$node->safe_psql('shop', $shop_sql . q{
	INSERT INTO tap.secret SELECT 'ticket_1', token FROM loginas.begin(1, 1);
	INSERT INTO tap.secret SELECT 'key_1', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_1'));
	INSERT INTO tap.secret SELECT 'ticket_2', token FROM loginas.begin(2, 2);
});
my $secret = sub { "(SELECT secret FROM tap.secret WHERE name = '$_[0]')" };

# run SQL in a database as a role: (stdout, stderr), SQLSTATEs shown
my $as = sub {
	my ($db, $user, $sql) = @_;
	my ($rc, $o, $e) = $node->psql($db, "\\set VERBOSITY verbose\n$sql", extra_params => [ '-U', $user ]);
	return ($o, $e);
};

# --- the copy, made by the database's owner ------------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE z2 TEMPLATE shop', extra_params => [ '-U', 'shop_owner' ]);
is($rc, 0, 'the shop\'s owner copies the shop: CREATE DATABASE z2 TEMPLATE shop') or diag($err);
my $hashes = q{SELECT string_agg(session_id || ':' || encode(ticket_hash, 'hex') || ':' || coalesce(encode(key_hash, 'hex'), ''),
	',' ORDER BY session_id) FROM loginas.session};
is($node->safe_psql('z2', $hashes), $node->safe_psql('shop', $hashes), 'the copy holds the very same session rows and hashes');

($out, $err) = $as->('z2', 'shop_web', "BEGIN;
SELECT loginas.assume(@{[ $secret->('key_1') ]});
UPDATE shop.quote SET items = 5 WHERE quote_id = 1;
COMMIT;");
like($err, qr/ERROR:  28000: Login as Customer session is not valid\.\nDETAIL:  No session matches the given key\./,
	'in the copy the live session key is refused (28000)');
is($node->safe_psql('z2', q{SELECT items || ',' || coalesce(loginas_changed_session::text, 'none') FROM shop.quote WHERE quote_id = 1}),
	'0,none', '... and the tracked UPDATE of that transaction did not commit');
($out, $err) = $as->('z2', 'shop_web', "SELECT session_id FROM loginas.redeem(@{[ $secret->('ticket_2') ]});");
like($err, qr/ERROR:  28000: Login as Customer ticket is invalid or has expired\.\nDETAIL:  No ticket matches the given token\./,
	'in the copy the live ticket is refused (28000)');
is($node->safe_psql('z2', q{SELECT count(*) FROM loginas.session WHERE redeemed_at IS NOT NULL AND session_id > 1}), '0',
	'... and not redeemed there');

# the copy is a shop of its own: what it issues works there, and not in the original
$node->safe_psql('z2', q{
	INSERT INTO tap.secret SELECT 'ticket_z2', token FROM loginas.begin(2, 2);
	INSERT INTO tap.secret SELECT 'key_z2', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_z2'));});
my $key_z2 = $node->safe_psql('z2', q{SELECT secret FROM tap.secret WHERE name = 'key_z2'});
($out, $err) = $as->('z2', 'shop_web', "BEGIN; SELECT loginas.assume('$key_z2') IS NOT NULL; COMMIT;");
is($out, 't', 'a session begun in the copy is assumed there');
($out, $err) = $as->('shop', 'shop_web', "BEGIN; SELECT loginas.assume('$key_z2'); COMMIT;");
like($err, qr/ERROR:  28000: Login as Customer session is not valid\./, '... and refused in the original (28000)');
is($node->safe_psql('z2', q{SELECT intact FROM loginas.verify_log()}), 't', 'the copy\'s log verifies');

# --- the original keeps working ------------------------------------------------------------
my $s1 = $node->safe_psql('shop', q{SELECT session_id FROM loginas.session WHERE admin_id = 1 AND ended_at IS NULL});
($out, $err) = $as->('shop', 'shop_web', "BEGIN;
SELECT loginas.assume(@{[ $secret->('key_1') ]});
UPDATE shop.quote SET items = 5 WHERE quote_id = 1;
COMMIT;");
is($err, '', 'in the original the key is assumed and the tracked UPDATE commits');
is($node->safe_psql('shop', q{SELECT items || ',' || loginas_changed_session FROM shop.quote WHERE quote_id = 1}),
	"5,$s1", '... stamped with the session');
is( $node->safe_psql(
		'shop', qq{SELECT count(*) FROM loginas.action_log WHERE action = 'write_update' AND session_id = $s1}),
	'1', '... and logged');
($out, $err) = $as->('shop', 'shop_web', "SELECT session_id IS NOT NULL FROM loginas.redeem(@{[ $secret->('ticket_2') ]});");
is($out, 't', 'in the original the live ticket redeems');

# a rename keeps the database's OID: the keys keep working
$node->safe_psql('postgres', 'ALTER DATABASE shop RENAME TO shop_renamed');
($out, $err) = $as->('shop_renamed', 'shop_web', "BEGIN; SELECT loginas.assume(@{[ $secret->('key_1') ]}) = $s1; COMMIT;");
is($out, 't', 'after ALTER DATABASE ... RENAME the key still works (same database)');
$node->safe_psql('postgres', 'ALTER DATABASE shop_renamed RENAME TO shop');
is($node->safe_psql('shop', q{SELECT intact FROM loginas.verify_log()}), 't', 'the original\'s log verifies');

# --- the view recorder ignores what the database's owner set --------------------------------
$node->safe_psql('shop', q{SELECT loginas.grant('Support', 'view_log')});
($rc, $out, $err) = $node->psql('postgres', q{ALTER DATABASE shop SET default_transaction_read_only = on},
	extra_params => [ '-U', 'shop_owner' ]);
is($rc, 0, 'the database\'s owner makes every new session in it read-only by default') or diag($err);
my $views = q{BEGIN READ WRITE; SELECT count(*) FROM loginas.action_log WHERE action = 'log_viewed'; COMMIT;};
my $views0 = $node->safe_psql('shop', $views);
($out, $err) = $as->('shop', 'shop_admin',
	q{BEGIN READ WRITE; SELECT count(*) > 0 FROM loginas.customer_history(1, viewer_admin => 1); ROLLBACK;});
is($out, 't', 'the admin backend (BEGIN READ WRITE) is shown a customer\'s history, then rolls back') or diag($err);
is($node->safe_psql('shop', $views), $views0 + 1, '... and the view was recorded all the same, by a worker that is not read-only');
$node->safe_psql('postgres', q{ALTER DATABASE shop RESET ALL});

# a view that cannot be recorded is not shown: here the recorder waits for the
# shared chain's lock, held by a superuser's open transaction, for its
# lock_timeout (10 s), then gives up
my $holder = $node->background_psql('shop');
background_query($holder, q{BEGIN; SELECT chain_id FROM loginas.shared_chain WHERE name = 'log_views' FOR UPDATE;});
$views0 = $node->safe_psql('shop', $views);
($out, $err) = $as->('shop', 'shop_admin', q{SELECT count(*) FROM loginas.customer_history(1, viewer_admin => 1);});
is($out, '', 'a view whose record cannot be committed shows nothing');
like(
	$err,
	qr/ERROR:  55P03: a view of the Login as Customer log could not be recorded\nDETAIL:  canceling statement due to lock timeout\nHINT:  The report was not shown\. Retry; the server log has the recorder's error\./,
	'... and says so, with the recorder\'s error (55P03)');
unlike($err, qr/CONTEXT:/, '... without internal context');
background_query($holder, 'COMMIT;');
$holder->quit;
is($node->safe_psql('shop', $views), $views0, '... and no view was recorded');

# --- the upgrade from 1.1 -------------------------------------------------------------------
my $legacy_sql = $shop_sql;
$legacy_sql =~ s/CREATE EXTENSION loginas CASCADE;/CREATE EXTENSION loginas VERSION '1.1' CASCADE;/ or die;
$node->safe_psql('legacy', $legacy_sql . q{
	SELECT loginas.configure('ticket_ttl', '1 hour');
	INSERT INTO tap.secret SELECT 'ticket_1', token FROM loginas.begin(1, 1);
	INSERT INTO tap.secret SELECT 'key_1', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_1'));
	INSERT INTO tap.secret SELECT 'ticket_2', token FROM loginas.begin(2, 2);
});
is($node->safe_psql('legacy', q{SELECT extversion FROM pg_extension WHERE extname = 'loginas'}), '1.1', 'legacy: loginas 1.1');
is( $node->safe_psql(
		'legacy', q{SELECT count(*) FROM loginas.session s, tap.secret t
		  WHERE t.name = 'key_1' AND s.key_hash = sha256(convert_to(t.secret, 'UTF8'))}),
	'1', 'legacy: 1.1 stores sha256(key), bound to nothing');
# what 1.1 accepted: a month counted as 30 days
is( $node->safe_psql(
		'legacy', q{SELECT loginas.configure('ticket_ttl', '3000000 mon -89999993 days');
		  SELECT loginas.configure('session_ttl', '3000000 mon -89999993 days');
		  SELECT (expires_at - now()) > interval '1000000 days' FROM loginas.begin(1, 2);}),
	"250000 years -89999993 days\n250000 years -89999993 days\nt",
	'legacy: 1.1 accepts a lifetime of 3000000 months less 89999993 days, and issues a ticket valid for millennia');
# (that ticket superseded admin 1's live session: issue it again)
$node->safe_psql('legacy', q{
	SELECT loginas.configure('ticket_ttl', '1 hour'); SELECT loginas.configure('session_ttl', '1 hour');
	DELETE FROM tap.secret WHERE name IN ('ticket_1', 'key_1');
	INSERT INTO tap.secret SELECT 'ticket_1', token FROM loginas.begin(1, 1);
	INSERT INTO tap.secret SELECT 'key_1', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_1'));
	SELECT loginas.configure('ticket_ttl', '3000000 mon -89999993 days');
	SELECT loginas.configure('session_ttl', '3000000 mon -89999993 days');});

($rc, $out, $err) = $node->psql('legacy', "ALTER EXTENSION loginas UPDATE TO '1.2'");
is($rc, 0, 'ALTER EXTENSION loginas UPDATE') or diag($err);
like($err, qr/WARNING:  loginas: setting "session_ttl" was "250000 years -89999993 days", which 1.2 refuses; it is reset to its default "01:00:00"/,
	'the update warns that session_ttl is reset');
like($err, qr/WARNING:  loginas: setting "ticket_ttl" was "250000 years -89999993 days", which 1.2 refuses; it is reset to its default "00:01:00"/,
	'... and ticket_ttl');
is($node->safe_psql('legacy', q{SELECT extversion FROM pg_extension WHERE extname = 'loginas'}), '1.2', 'legacy: now 1.2');
is( $node->safe_psql(
		'legacy', q{SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM loginas.settings
		  WHERE name IN ('ticket_ttl', 'session_ttl')}),
	'session_ttl=01:00:00,ticket_ttl=00:01:00', 'the lifetimes are back at their defaults');
is( $node->safe_psql(
		'legacy', q{SELECT string_agg(details ->> 'setting' || ':' || (details ->> 'old') || '->' || (details ->> 'new'), ','
		  ORDER BY log_id) FROM (SELECT * FROM loginas.action_log WHERE action = 'setting_changed' ORDER BY log_id DESC LIMIT 2) x}),
	'session_ttl:250000 years -89999993 days->01:00:00,ticket_ttl:250000 years -89999993 days->00:01:00',
	'... and each reset is a setting_changed row');
is( $node->safe_psql(
		'legacy', q{SELECT count(*) FROM loginas.session s, tap.secret t
		  WHERE t.name = 'key_1' AND s.key_hash = loginas._hash(t.secret)}),
	'1', 'the stored hashes are converted: the live key\'s hash is now bound to this database');
my $l1 = $node->safe_psql('legacy', q{SELECT session_id FROM loginas.session WHERE admin_id = 1 AND ended_at IS NULL});
($out, $err) = $as->('legacy', 'shop_web', "BEGIN;
SELECT loginas.assume(@{[ $secret->('key_1') ]});
UPDATE shop.quote SET items = 7 WHERE quote_id = 1;
COMMIT;");
is("$out|$err", "$l1|", 'the session live under 1.1 is assumed after the update, and writes');
is($node->safe_psql('legacy', q{SELECT loginas_changed_session FROM shop.quote WHERE quote_id = 1}), $l1, '... stamped');

($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE legacy_copy TEMPLATE legacy', extra_params => [ '-U', 'shop_owner' ]);
is($rc, 0, 'a copy of the upgraded database') or diag($err);
($out, $err) = $as->('legacy_copy', 'shop_web', "BEGIN; SELECT loginas.assume(@{[ $secret->('key_1') ]}); COMMIT;");
like($err, qr/ERROR:  28000: Login as Customer session is not valid\./, '... refuses the key issued under 1.1 (28000)');
($out, $err) = $as->('legacy_copy', 'shop_web', "SELECT session_id FROM loginas.redeem(@{[ $secret->('ticket_2') ]});");
like($err, qr/ERROR:  28000: .*\nDETAIL:  No ticket matches the given token\./, '... and the ticket issued under 1.1');

($out, $err) = $as->('legacy', 'shop_web', "SELECT session_id IS NOT NULL FROM loginas.redeem(@{[ $secret->('ticket_2') ]});");
is($out, 't', 'the ticket live under 1.1 redeems after the update, in the upgraded database');
is($node->safe_psql('legacy', q{SELECT intact FROM loginas.verify_log()}), 't', 'the upgraded log verifies');

# no background worker slot for the recorder: refused after ~5 s, nothing shown
$node->append_conf('postgresql.conf', 'max_worker_processes = 0');
$node->restart;
$views0 = $node->safe_psql('shop', $views);
($out, $err) = $as->('shop', 'shop_admin', q{SELECT count(*) FROM loginas.customer_history(1, viewer_admin => 1);});
is($out, '', 'with no free background worker slot a view is not shown');
like(
	$err,
	qr/ERROR:  53000: a view of the Login as Customer log cannot be recorded now\nDETAIL:  No background worker slot is free \(max_worker_processes\); the report was not shown\.\nHINT:  Retry, or raise max_worker_processes\./,
	'... 53000, saying why');
is($node->safe_psql('shop', $views), $views0, '... and nothing was recorded');

$node->stop;
done_testing();
