
# 011_dump_restore.pl
#	pg_dump of a shop database and pg_restore into a fresh cluster bring
#	loginas back whole: what the shop configured, what is live, what happened.
#
# The shop (database "shop" on node "source"): the extension, bound views of
# customers, admins, store views and orders with their GRANTs to
# loginas_reader, non-default settings, role resources, consent (open-ended,
# time-limited, revoked), a tracked quote table with a protected column and a
# tracked child table, login roles shop_admin / shop_web (members of
# loginas_admin / loginas_storefront) with grants on the shop, and history:
# a live session begun from an order with in-session writes and a note, an
# ended session, a live unredeemed ticket, a purge of the oldest log rows (so
# the log starts at purge checkpoints).
#
# What a DBA does (docs/replication.md, "Backup and restore"), done here:
#	pg_dumpall --roles-only  on the source, applied to the new cluster first
#	                         (login roles, their loginas_* memberships);
#	pg_dump -Fc shop         the database, loginas' data included
#	                         (pg_extension_config_dump);
#	pg_restore               into a new database: its CREATE EXTENSION finds
#	                         the roles there; once serially with --exit-on-error,
#	                         once with -j 4.
# Checked on both restored databases: every loginas table (settings, bindings,
# role resources, consent, tickets/sessions, tracked tables and protected
# columns, the whole log with its chains and purge checkpoints) and the
# sequences behind them are identical to the source; the shop's tracked
# tables come back with their stamps and triggers; verify_log() passes.
# On the restored side: no ticket or session key of the source works there
# (28000: the stored hashes are bound to the database they were issued in,
# and the restore is another database): neither the live session, nor the
# live ticket, nor the ended ones; a session begun there works as usual: its
# in-session write is checked (containment, protected column), stamped and
# logged; new sessions, log rows and chains continue after the restored ones
# without collisions; verify_log() still passes.
# Forgetting the roles: the extension creates its loginas_* roles itself, and
# only the shop's own login roles' grants fail.  A copy that must not act for
# the live shop (staging): configure('enabled', 'off') then 'on' ends every
# live ticket and session from the dump, so the production key and ticket
# are refused there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $source = loginas_node('source');
$source->safe_psql('postgres', 'CREATE DATABASE shop');

# (LoginasTest.pm) customers 1..5, admins 1..4 (role Support), orders bound;
# customers 1..4 consent
$source->safe_psql(
	'shop', shop_setup_sql(
		orders => 1,
		customers => 5,
		admins => 4,
		data => q{
	INSERT INTO shop.store VALUES (2, 1, 'French', true, false);
	INSERT INTO shop.sales_order VALUES (100, 1, 2, '000000100');
},
		settings => [
			ticket_ttl => '1 hour',
			session_ttl => '1 day',
			require_reason => 'on',
			disable_page_cache => 'off'
		],
		grants => [ Support => 'login', Support => 'view_log' ],
		consent => 4)
	  . q{
	SELECT loginas.set_assistance(2, true, now() + interval '30 days');
	SELECT loginas.set_assistance(5, true);
	SELECT loginas.set_assistance(5, false);
}
	  . tracked_quotes_sql(5)
	  . q{
	CREATE ROLE shop_admin LOGIN IN ROLE loginas_admin;
	CREATE ROLE shop_web LOGIN IN ROLE loginas_storefront;
	GRANT USAGE ON SCHEMA shop TO shop_web;
	GRANT SELECT, INSERT, UPDATE, DELETE ON shop.quote, shop.quote_item TO shop_web;

	-- secrets the test keeps (in the dump too); never printed
	CREATE SCHEMA tap;
	CREATE TABLE tap.secret (name text PRIMARY KEY, secret text NOT NULL);
	GRANT USAGE ON SCHEMA tap TO shop_web, shop_admin;
	GRANT SELECT ON tap.secret TO shop_web, shop_admin;
});
my $t_purge = $source->safe_psql('shop', 'SELECT clock_timestamp()');

# history: admin 2's session (customer 2) writes and ends; admin 1's session
# (customer 1, from order 100) writes, notes and stays live; admin 3's ticket
# stays unredeemed
$source->safe_psql(
	'shop', q{
	INSERT INTO tap.secret SELECT 'ticket_ended', token FROM loginas.begin(2, 2, reason => 'call 41');
	INSERT INTO tap.secret SELECT 'key_ended', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_ended'));
	BEGIN;
	SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'key_ended'));
	INSERT INTO shop.quote_item VALUES (2, 1, 'sku-2-1');
	COMMIT;
	SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'key_ended'));

	INSERT INTO tap.secret SELECT 'ticket_used', token FROM loginas.begin_from(1, 'order', 100, reason => 'ticket 4711');
	INSERT INTO tap.secret SELECT 'key_live', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_used'));
	BEGIN;
	SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'key_live'));
	UPDATE shop.quote SET items = 2 WHERE quote_id = 1;
	INSERT INTO shop.quote_item VALUES (1, 1, 'sku-1-1'), (1, 2, 'sku-1-2');
	SELECT loginas.note('Order Placed by Store Administrator', '{"order": "000000101"}');
	COMMIT;

	INSERT INTO tap.secret SELECT 'ticket_live', token FROM loginas.begin(3, 3, reason => 'call 42');
});
# (rows seconds old: the DBA's session may set a log retention below 1 day)
is( $source->safe_psql(
		'shop', "SELECT loginas.set_log_retention('0'); SELECT loginas.purge_log('$t_purge') > 0;
		 SELECT loginas.set_log_retention('90 days');"),
	"00:00:00\nt\n90 days", 'the oldest log rows are purged (the log now starts at purge checkpoints)');
is($source->safe_psql('shop', 'SELECT intact FROM loginas.verify_log()'), 't', 'source: verify_log() passes');

# --- what must come back: every loginas table and sequence, and the shop's tables --------
my @tables = qw(loginas.setting loginas.binding loginas.role_resource loginas.consent loginas.session
  loginas.tracked loginas.protected_column loginas.action_log loginas.log_chain loginas.log_checkpoint
  shop.quote shop.quote_item tap.secret);
my @sequences = qw(loginas.session_session_id_seq loginas.action_log_log_id_seq loginas.log_chain_chain_id_seq);
# count and digest of one table (text of every row, in a fixed time zone)
my $digest = sub {
	my ($node, $db, $rel) = @_;
	return $node->safe_psql($db,
		"SET TimeZone = 'UTC'; SELECT count(*) || ' ' || md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $rel t"
	);
};
my $seqstate = sub {
	my ($node, $db, $seq) = @_;
	return $node->safe_psql($db, "SELECT last_value || ',' || is_called FROM $seq");
};
my %before;
$before{$_} = $digest->($source, 'shop', $_) for @tables;
$before{$_} = $seqstate->($source, 'shop', $_) for @sequences;
like($before{'loginas.action_log'}, qr/^\d+ /, "source log: $before{'loginas.action_log'}");
like($before{'loginas.log_checkpoint'}, qr/^[1-9]\d* /, 'source: purge checkpoints exist');

# --- dump, and restore into a fresh cluster --------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
$source->command_ok([ 'pg_dumpall', '--roles-only', '--no-role-passwords', '-f', "$dir/roles.sql" ],
	'pg_dumpall --roles-only');
$source->command_ok([ 'pg_dump', '-Fc', '-d', 'shop', '-f', "$dir/shop.dump" ], 'pg_dump -Fc shop');
my $source_now = $source->safe_psql('shop', 'SELECT now()');
my $source_version = $source->safe_psql('shop', q{SELECT extversion FROM pg_extension WHERE extname = 'loginas'});
$source->stop;

my $target = loginas_node('target');
is($target->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname LIKE 'loginas\_%'}),
	'0', 'the fresh cluster has no loginas roles');

# What happens when the roles are forgotten: CREATE EXTENSION (run by
# pg_restore) creates the five loginas_* group roles, so the GRANTs to
# loginas_reader and the extension itself restore; only what names the shop's
# own login roles fails -- their privileges are lost.
$target->safe_psql('postgres', 'CREATE DATABASE noroles');
my ($nr_out, $nr_err) = run_command(
	[ 'pg_restore', '-h', $target->host, '-p', $target->port, '-d', 'noroles', "$dir/shop.dump" ]);
my @nr_errors = grep { /^pg_restore: error:/ } split /\n/, $nr_err;
my @nr_other = grep { !/role "shop_(web|admin)" does not exist/ } @nr_errors;
cmp_ok(scalar(@nr_errors), '>', 0, 'without the roles, pg_restore reports errors ...');
is(join("\n", @nr_other), '', '... only about the shop\'s own login roles')
  or diag($nr_err);
is( $target->safe_psql(
		'noroles', q{SELECT (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'loginas\_%')
		  || ',' || has_table_privilege('loginas_reader', 'shop.loginas_customers', 'SELECT')
		  || ',' || (SELECT intact FROM loginas.verify_log())}),
	'5,true,true', '... the extension created its five roles; the GRANTs to loginas_reader and the log are back');

# roles first; the only errors allowed are roles that exist already (the
# bootstrap superuser; here also the loginas_* roles created just above)
my ($rc, $out, $err) = $target->psql('postgres', slurp_file("$dir/roles.sql"), on_error_stop => 0);
my @role_errors = grep { /ERROR/ && !/role "[^"]+" already exists/ } split /\n/, $err;
is(join("\n", @role_errors), '', 'roles restored (only "already exists" for the bootstrap superuser)');
is( $target->safe_psql(
		'postgres', q{SELECT string_agg(r.rolname || '>' || g.rolname, ',' ORDER BY r.rolname)
		  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
		 WHERE r.rolname LIKE 'shop\_%'}),
	'shop_admin>loginas_admin,shop_web>loginas_storefront',
	'after pg_dumpall --roles-only: the shop\'s login roles and their loginas memberships are there');

$target->safe_psql('postgres', 'CREATE DATABASE shop');
$target->safe_psql('postgres', 'CREATE DATABASE shop_parallel');
$target->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'shop', "$dir/shop.dump" ],
	'pg_restore --exit-on-error into a fresh database');
$target->command_ok([ 'pg_restore', '--exit-on-error', '-j', '4', '-d', 'shop_parallel', "$dir/shop.dump" ],
	'pg_restore -j 4 into another');

for my $db (qw(shop shop_parallel))
{
	is($target->safe_psql($db, q{SELECT extname || ' ' || extversion FROM pg_extension WHERE extname = 'loginas'}),
		"loginas $source_version", "$db: the extension is installed, in the source's version ($source_version)");
	for my $t (@tables)
	{
		is($digest->($target, $db, $t), $before{$t}, "$db: $t is identical to the source");
	}
	for my $s (@sequences)
	{
		is($seqstate->($target, $db, $s), $before{$s}, "$db: $s continues where the source stopped");
	}
	is( $target->safe_psql(
			$db, q{SELECT string_agg(tgrelid::regclass || ':' || tgname, ',' ORDER BY tgrelid::regclass::text, tgname)
			  FROM pg_trigger WHERE tgname LIKE 'zz_loginas%' AND NOT tgisinternal}),
		join(',',
			map { my $t = $_; map { "$t:zz_loginas_$_" } qw(log_insert track_delete track_insert track_truncate track_update) }
			  qw(shop.quote shop.quote_item)),
		"$db: the tracked tables have their loginas triggers");
	is($target->safe_psql($db, q{SELECT intact || ' ' || problem FROM loginas.verify_log()}),
		'true intact', "$db: verify_log() passes on the restored log");
}

# readable, not just equal: the reports see the same configuration
is( $target->safe_psql(
		'shop', q{SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM loginas.settings
		  WHERE value IS DISTINCT FROM default_value}),
	'disable_page_cache=off,enabled=on,require_reason=on,session_ttl=24:00:00,ticket_ttl=01:00:00',
	'settings view: the non-default settings');
is( $target->safe_psql(
		'shop', q{SELECT string_agg(kind || '=' || relation::text, ',' ORDER BY kind) FROM loginas.bindings
		  WHERE status = 'bound'}),
	'admins=shop.loginas_admins,customers=shop.loginas_customers,orders=shop.loginas_orders,store_views=shop.loginas_store_views',
	'bindings view: all four bound (the regclass resolved to the restored views)');
is( $target->safe_psql(
		'shop', q{SELECT string_agg(role || ':' || resource, ',' ORDER BY role, resource) FROM loginas.permissions}),
	'Support:login,Support:view_log', 'permissions view');
is( $target->safe_psql(
		'shop', q{SELECT string_agg(n || ':' || loginas.assistance_allowed(n), ',' ORDER BY n) FROM generate_series(1, 5) n}),
	'1:true,2:true,3:true,4:true,5:false', 'consent: as given and revoked');
is( $target->safe_psql(
		'shop', q{SELECT relation || ':' || protected_columns::text FROM loginas.tracked_tables WHERE relation = 'shop.quote'::regclass}),
	'shop.quote:{coupon}', 'tracked tables and protected columns');
is( $target->safe_psql(
		'shop', q{SELECT has_table_privilege('loginas_reader', 'shop.loginas_customers', 'SELECT')
		         AND has_schema_privilege('loginas_reader', 'shop', 'USAGE')}),
	't', 'the GRANTs to loginas_reader came back');

# --- acting on the restored side ---------------------------------------------------------
# run SQL as a role; returns (stdout, stderr) with SQLSTATEs shown
my $as = sub {
	my ($user, $sql) = @_;
	my ($rc, $o, $e) = $target->psql('shop', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $user ], on_error_stop => 0);
	return ($o, $e);
};
my $key = sub { "(SELECT secret FROM tap.secret WHERE name = '$_[0]')" };

# what was live at the dump opens nothing here
($out, $err) = $as->('shop_web', "BEGIN;
SELECT loginas.assume(@{[ $key->('key_live') ]});
INSERT INTO shop.quote_item VALUES (1, 3, 'restored');
COMMIT;");
like($err, qr/ERROR:  28000: Login as Customer session is not valid\.\nDETAIL:  No session matches the given key\./,
	'the session live at the dump is refused on the restored side (28000: its key was issued in another database)');
is($target->safe_psql('shop', q{SELECT count(*) FROM shop.quote_item WHERE (quote_id, item_no) = (1, 3)}), '0',
	'... and its write did not happen');
($out, $err) = $as->('shop_web', "SELECT session_id FROM loginas.redeem(@{[ $key->('ticket_live') ]});");
like($err, qr/ERROR:  28000: Login as Customer ticket is invalid or has expired\.\nDETAIL:  No ticket matches the given token\./,
	'the ticket live at the dump does not redeem on the restored side (28000)');
($out, $err) = $as->('shop_web', "SELECT loginas.assume(@{[ $key->('key_ended') ]});");
like($err, qr/ERROR:  28000: Login as Customer session is not valid\./,
	'nor does the session ended before the dump (28000)');
($out, $err) = $as->('shop_web', "SELECT session_id FROM loginas.redeem(@{[ $key->('ticket_used') ]});");
like($err, qr/ERROR:  28000: Login as Customer ticket is invalid or has expired\./,
	'nor a ticket redeemed before the dump (28000)');

# a session begun on the restored side works as on the source
$target->safe_psql(
	'shop', q{
	INSERT INTO tap.secret SELECT 'ticket_restored', token
	  FROM loginas.begin_from(1, 'order', 100, reason => 'ticket 4711');
	INSERT INTO tap.secret SELECT 'key_restored', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_restored'));});
my $s_live = $target->safe_psql('shop', q{SELECT session_id FROM loginas.session WHERE admin_id = 1 AND ended_at IS NULL});
is( $target->safe_psql(
		'shop', q{SELECT end_reason FROM loginas.session WHERE admin_id = 1 AND end_reason IS NOT NULL
		  ORDER BY session_id DESC LIMIT 1}),
	'superseded', 'the new session superseded admin 1\'s restored one');
($out, $err) = $as->('shop_web', "BEGIN;
SELECT loginas.assume(@{[ $key->('key_restored') ]});
SELECT loginas.banner();
INSERT INTO shop.quote_item VALUES (1, 3, 'restored');
COMMIT;");
is($out, "$s_live\nYou are connected as Customer No1 on Main Website",
	'a session begun on the restored side is assumed there, by the storefront role');
is($err, '', '... without any message');
is( $target->safe_psql(
		'shop', q{SELECT loginas_created_session || ',' || loginas_changed_session FROM shop.quote_item
		  WHERE (quote_id, item_no) = (1, 3)}),
	"$s_live,$s_live", 'the in-session write on the restored side is stamped');
is( $target->safe_psql(
		'shop', qq{SELECT details ->> 'keys' || ' ' || source || ' ' || reason FROM loginas.action_log
		  WHERE session_id = $s_live AND action = 'write_insert' ORDER BY log_id DESC LIMIT 1}),
	'[["1", "3"]] order 000000100 ticket 4711', '... and logged, with the session\'s source and reason');

($out, $err) = $as->('shop_web', "BEGIN;
SELECT loginas.assume(@{[ $key->('key_restored') ]});
UPDATE shop.quote SET items = 9 WHERE quote_id = 2;
ROLLBACK;");
like($err, qr/ERROR:  42501: Login as Customer session $s_live may not write row/,
	'containment on the restored side: another customer\'s row is refused (42501)');
($out, $err) = $as->('shop_web', "BEGIN;
SELECT loginas.assume(@{[ $key->('key_restored') ]});
UPDATE shop.quote SET coupon = 'FREE' WHERE quote_id = 1;
COMMIT;");
like($err, qr/ERROR:  42501: column "coupon" of .*quote is protected/,
	'protected column on the restored side: refused (42501)');

($out, $err) = $as->('shop_web', "SELECT loginas.\"end\"(@{[ $key->('key_restored') ]});");
is($out, 't', 'the restored side\'s session ends');

# new work continues the restored ids and chains, without collisions
($out, $err) = $as->('shop_admin', q{SELECT token IS NOT NULL FROM loginas.begin(4, 4, reason => 'after restore');});
is($out, 't', 'a new ticket on the restored side');
my ($sid_max) = split /,/, $before{'loginas.session_session_id_seq'};
is( $target->safe_psql(
		'shop', qq{SELECT (SELECT max(session_id) FROM loginas.session) > $sid_max
		  AND (SELECT min(log_id) FROM loginas.action_log WHERE logged_at > '$source_now') > (split_part('$before{'loginas.action_log_log_id_seq'}', ',', 1))::bigint
		  AND (SELECT count(*) FROM loginas.log_chain) > (split_part('$before{'loginas.log_chain'}', ' ', 1))::bigint}),
	't', 'new sessions, log rows and chains continue after the restored ones');
is($target->safe_psql('shop', q{SELECT intact || ' ' || problem FROM loginas.verify_log()}),
	'true intact', 'verify_log() still passes after new work on the restored side');

# --- a data-only reload of a tracked table keeps its stamps only with --disable-triggers ---------
# (outside a session the tracking triggers never let a write set the stamps:
# a plain data-only load would clear them)
my $items_before = $digest->($target, 'shop', 'shop.quote_item');
$target->command_ok(
	[ 'pg_dump', '-Fc', '--data-only', '-t', 'shop.quote_item', '-d', 'shop', '-f', "$dir/items.dump" ],
	'pg_dump --data-only of a tracked table');
$target->safe_psql('shop', 'TRUNCATE shop.quote_item');
$target->command_ok(
	[ 'pg_restore', '--exit-on-error', '--data-only', '--disable-triggers', '-d', 'shop', "$dir/items.dump" ],
	'pg_restore --data-only --disable-triggers');
is($digest->($target, 'shop', 'shop.quote_item'), $items_before,
	'the tracked rows are back with their stamps');

# --- a copy that must not act for the live shop (staging, analysis) --------------------------
# No key or ticket of the source works in a restored copy anyway (above); the
# documented step before opening such a copy still records it: turning the
# feature off ends every live ticket and session (and logs it); turned on
# again, nothing from the dump is live any more.
is( $target->safe_psql(
		'shop_parallel', q{SELECT FROM loginas.configure('enabled', 'off');
		  SELECT FROM loginas.configure('enabled', 'on');
		  SELECT count(*) FILTER (WHERE ended_at IS NULL) || ',' || count(*) FILTER (WHERE end_reason = 'feature_disabled')
		    FROM loginas.session}),
	'0,2', 'staging copy: off and on again ends the live session and the live ticket (feature_disabled)');
($rc, $out, $err) = $target->psql('shop_parallel', "\\set VERBOSITY verbose\nSELECT loginas.assume(@{[ $key->('key_live') ]});",
	extra_params => [ '-U', 'shop_web' ]);
like($err, qr/ERROR:  28000: Login as Customer session is not valid\./, 'staging copy: the production session key is refused there');
($rc, $out, $err) = $target->psql('shop_parallel', "\\set VERBOSITY verbose\nSELECT session_id FROM loginas.redeem(@{[ $key->('ticket_live') ]});",
	extra_params => [ '-U', 'shop_web' ]);
like($err, qr/ERROR:  28000: .*\nDETAIL:  No ticket matches the given token\./,
	'staging copy: and so is the production ticket');
is($target->safe_psql('shop_parallel', q{SELECT intact || ' ' || problem FROM loginas.verify_log()}),
	'true intact', 'staging copy: verify_log() passes');

$target->stop;
done_testing();
