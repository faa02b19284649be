
# 030_upgrade.pl
#	The two ways to each version: a fresh CREATE EXTENSION (1.0's script and
#	the upgrade scripts 1.0--1.1, 1.1--1.2, run by PostgreSQL one after the
#	other) and ALTER EXTENSION loginas UPDATE of an older install holding a
#	shop's data: 1.0 to 1.1, then that install on to 1.2.
#
# Database "upgraded": loginas 1.0 and a shop with history (sessions begun
# from an order, tracked writes, notes, consent, a refusal written by the
# durable refusal log's worker, a purge), the reports and the corpus of
# test/upgrade/text_corpus.sql rendered under 1.0; then ALTER EXTENSION
# UPDATE.  Checked:
#	- the extension is 1.1, and every object of it (test/upgrade/catalog.sql:
#	  functions with language, body, volatility, settings, privileges;
#	  tables, columns, defaults, indexes, constraints, triggers, views,
#	  types, the event trigger, the config-dump registrations) is the same
#	  as in database "fresh" (CREATE EXTENSION loginas, no VERSION);
#	- every report (actions_report, customer_history, admin_activity, the
#	  sessions view) reads the same, row for row, as before the update: the
#	  1.1 text (src/report.c, C) is the 1.0 text (SQL, PL/pgSQL); the corpus
#	  too, errors included -- also in a database whose collation is ICU's
#	  en-US, where the collation-ordered parts differ from "C";
#	- the log's rows, chains and checkpoints are untouched and verify_log()
#	  passes; a backend that appended under 1.0 (PL/pgSQL _append) goes on
#	  in the same chain under 1.1 (C _append), so does the refusal worker;
#	- new activity under 1.1 (session, writes, note, refusal, a row with
#	  awkward values appended directly) verifies, and the rows carry what
#	  was given;
#	- then ALTER EXTENSION UPDATE to 1.2: every object the same as in a
#	  fresh 1.2 install, the reports read the same, the tracked tables'
#	  triggers fire ALWAYS, the log verifies and goes on;
#	- then ALTER EXTENSION UPDATE to 1.3: every object the same as in a
#	  fresh install of the current version (its complete script, built
#	  from src/sql/), the reports read the same (the columns 1.3 adds at
#	  the end of action_log and the sessions view filled: customer_key from
#	  customer_id, the log's keys NULL), the log verifies; the
#	  tables tracked before keep their stamp columns, a table switched to
#	  stamps => 'table' is stamped in loginas.row_stamp; the write rows of
#	  a session begun under 1.3 carry the rows' values (the older ones none),
#	  that session can be reverted, one that wrote under 1.2 cannot;
#	- pg_dump of the upgraded database restores (CREATE EXTENSION ... 1.3)
#	  with the same log and stamps, and verify_log() passes there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use LoginasTest;

my $updir = dirname(__FILE__) . '/../upgrade';
my $corpus_sql = slurp_file("$updir/text_corpus.sql");
my $catalog_sql = slurp_file("$updir/catalog.sql");

my $node = loginas_node('upgrade', preload => 1);
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'loginas refusal log launcher'"),
	'the durable refusal log runs');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE fresh11');
$node->safe_psql('postgres', 'CREATE DATABASE fresh12');
$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('fresh11', "CREATE EXTENSION loginas VERSION '1.1' CASCADE");
$node->safe_psql('fresh12', "CREATE EXTENSION loginas VERSION '1.2' CASCADE");

# --- fresh: the default version ---------------------------------------------------------
$node->safe_psql('fresh', 'CREATE EXTENSION loginas CASCADE');
is($node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'loginas'"),
	'1.3', 'CREATE EXTENSION installs 1.3 (its complete script, built from src/sql/)');
is( $node->safe_psql('fresh', q{SELECT string_agg(source || '>' || target, ' ' ORDER BY source, target)
	  FROM pg_extension_update_paths('loginas') WHERE path IS NOT NULL}),
	'1.0>1.1 1.0>1.2 1.0>1.3 1.1>1.2 1.1>1.3 1.2>1.3', 'the update paths: 1.0 -> 1.1 -> 1.2 -> 1.3');

# --- upgraded: 1.0 and a shop with history ----------------------------------------------
$node->safe_psql(
	'upgraded', "CREATE EXTENSION loginas VERSION '1.0' CASCADE;\n"
	  . shop_setup_sql(
		extension => 0,
		orders => 1,
		customers => 3,
		admins => 2,
		data => q{INSERT INTO shop.sales_order SELECT 99 + n, n, 1, '00000010' || (n - 1) FROM generate_series(1, 3) n;},
		grants => [ Support => 'login', Support => 'view_log' ],
		consent => 2)
	  . tracked_quotes_sql(3)
	  . q{
	CREATE SCHEMA tap;
	CREATE TABLE tap.secret (name text PRIMARY KEY, secret text NOT NULL);
});
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'loginas'"),
	'1.0', 'upgraded: 1.0 installed (CREATE EXTENSION ... VERSION \'1.0\')');
# the languages of the functions 1.1 rewrote in C
my $languages = q{SELECT string_agg(proname || ':' || l.lanname, ' ' ORDER BY proname)
	  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	 WHERE pronamespace = 'loginas'::regnamespace
	   AND proname IN ('_append', '_log', '_action_label', '_keys_text', '_action_details', '_row_summary')};
is($node->safe_psql('upgraded', $languages),
	'_action_details:plpgsql _action_label:sql _append:plpgsql _keys_text:sql _log:plpgsql _row_summary:sql',
	'1.0: the log writers and the report text are SQL and PL/pgSQL');

# a session begun from the customer's order (99 + customer) with writes and a note
my $history = sub {
	my ($tag, $admin, $customer, $reason) = @_;
	my $order = 99 + $customer;
	$node->safe_psql(
		'upgraded', qq{
	INSERT INTO tap.secret SELECT 'ticket_$tag', token FROM loginas.begin_from($admin, 'order', $order, reason => '$reason');
	INSERT INTO tap.secret SELECT 'key_$tag', session_key
	  FROM loginas.redeem((SELECT secret FROM tap.secret WHERE name = 'ticket_$tag'), '2001:db8::7');
	BEGIN;
	SELECT loginas.assume((SELECT secret FROM tap.secret WHERE name = 'key_$tag'));
	UPDATE shop.quote SET items = items + 1 WHERE quote_id = $customer;
	INSERT INTO shop.quote_item SELECT $customer, n, 'sku "$tag", ' || n FROM generate_series(1, 12) n;
	SELECT loginas.note('Order Placed by Store Administrator', '{"order": "000000101", "amount": 12.50, "gift": null}');
	COMMIT;
});
};
$history->('a', 1, 1, 'call 41');
$node->safe_psql('upgraded', q{SELECT loginas."end"((SELECT secret FROM tap.secret WHERE name = 'key_a'))});
$node->safe_psql('upgraded', q{SELECT loginas.set_assistance(2, false); SELECT loginas.set_assistance(2, true)});

# a refusal: written by the refusal worker although the caller rolls back
my ($rc, $out, $err) = $node->psql('upgraded', q{BEGIN; SELECT loginas.begin(1, 3, reason => 'no consent'); ROLLBACK;});
like($err, qr/remote shopping assistance/i, 'under 1.0: begin for a customer without consent is refused');
ok($node->poll_query_until('upgraded', q{SELECT count(*) = 1 FROM loginas.action_log WHERE action = 'begin_refused'}),
	'under 1.0: the refusal worker logged it');

# a purge: the log then starts at checkpoints
my $t_purge = $node->safe_psql('upgraded', 'SELECT clock_timestamp()');
$history->('b', 2, 2, 'ticket 4711');
is($node->safe_psql('upgraded', "SELECT loginas.purge_log('$t_purge') > 0"), 't', 'under 1.0: a purge');

# a backend that appends under 1.0 and goes on under 1.1
my $bg = $node->background_psql('upgraded', on_error_stop => 0);
background_query($bg, q{SELECT loginas.configure('ticket_ttl', '20 minutes')});
my $last_setting = q{SELECT chain_id || ' ' || chain_seq FROM loginas.action_log
	WHERE action = 'setting_changed' ORDER BY log_id DESC LIMIT 1};
my ($bg_chain, $bg_seq) = split / /, $node->safe_psql('upgraded', $last_setting);
is($node->safe_psql('upgraded', 'SELECT intact FROM loginas.verify_log()'), 't', 'under 1.0: verify_log() passes');

# what the reports say under 1.0, and the corpus
my %reports = (
	actions_report => 'SELECT * FROM loginas.actions_report(page_size => 10000)',
	actions_report_filtered => q{SELECT * FROM loginas.actions_report(action_group => 'login as customer', admin_id => 1, page_size => 5, page => 2)},
	customer_history_1 => 'SELECT * FROM loginas.customer_history(1)',
	customer_history_2 => 'SELECT * FROM loginas.customer_history(2)',
	customer_history_3 => 'SELECT * FROM loginas.customer_history(3)',
	admin_activity_1 => 'SELECT * FROM loginas.admin_activity(1)',
	admin_activity_2 => 'SELECT * FROM loginas.admin_activity(2)',
	sessions => 'SELECT * FROM loginas.sessions',
	log => 'SELECT * FROM loginas.action_log ORDER BY log_id',
	log_chain => 'SELECT * FROM loginas.log_chain ORDER BY chain_id',
	log_checkpoint => 'SELECT * FROM loginas.log_checkpoint ORDER BY chain_id',);
my $snapshot = sub {
	my ($db) = @_;
	my %s;
	$s{$_} = $node->safe_psql($db, "SET TimeZone = 'UTC'; $reports{$_}") for keys %reports;
	return \%s;
};
my $before = $snapshot->('upgraded');
like($before->{actions_report}, qr/Write: insert\|2001:db8::7\|admin2\|success\|.*keys \(2, 1\), .* \(2, 10\) and 2 more/,
	'under 1.0: the Admin Actions Report shows the writes (10 keys, then "and 2 more")');
like($before->{customer_history_2}, qr/\(2, 1\), \(2, 2\)/, 'under 1.0: the history names composite keys');
$node->safe_psql('upgraded', $corpus_sql . q{SELECT upgrade_check.render('1.0');});

# --- ALTER EXTENSION UPDATE -------------------------------------------------------------
$node->safe_psql('upgraded', "ALTER EXTENSION loginas UPDATE TO '1.1'");
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'loginas'"),
	'1.1', 'ALTER EXTENSION loginas UPDATE TO 1.1: 1.1');
is($node->safe_psql('upgraded', $languages),
	'_action_details:c _action_label:c _append:c _keys_text:c _log:c _row_summary:c',
	'1.1: the log writers and the report text are C');

is($node->safe_psql('upgraded', $catalog_sql), $node->safe_psql('fresh11', $catalog_sql),
	'every object of the extension is the same as in a fresh 1.1 install');

my $after = $snapshot->('upgraded');
is($after->{$_}, $before->{$_}, "after the update: $_ reads the same") for sort keys %reports;

$node->safe_psql('upgraded', q{SELECT upgrade_check.render('1.1');});
my $corpus_check = q{
	SELECT count(*) || ' compared, ' || count(*) FILTER (WHERE a.result IS DISTINCT FROM b.result) || ' differ, '
		   || count(DISTINCT a.result) || ' distinct, ' || count(*) FILTER (WHERE a.result LIKE 'error%') || ' errors'
	  FROM upgrade_check.rendered a JOIN upgrade_check.rendered b USING (id, fn)
	 WHERE a.label = '1.0' AND b.label = '1.1'};
my $cmp = $node->safe_psql('upgraded', $corpus_check);
like($cmp, qr/^(\d{5,}) compared, 0 differ, (\d{3,}) distinct, ([1-9]\d*) errors$/,
	"the corpus renders the same under 1.0 and 1.1 ($cmp)");
diag(
	$node->safe_psql(
		'upgraded', q{SELECT string_agg(a.id || ' ' || a.fn || E':\n  1.0: ' || a.result || E'\n  1.1: ' || b.result, E'\n')
	  FROM upgrade_check.rendered a JOIN upgrade_check.rendered b USING (id, fn)
	 WHERE a.label = '1.0' AND b.label = '1.1' AND a.result IS DISTINCT FROM b.result})) if $cmp !~ / 0 differ/;

# the collation-ordered parts (changed columns, filters, a note's fields) in an ICU database
SKIP:
{
	my ($icu_rc) = $node->psql('postgres',
		q{CREATE DATABASE icu TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'});
	skip 'no ICU en-US locale', 2 if $icu_rc != 0;
	$node->safe_psql('icu', "CREATE EXTENSION loginas VERSION '1.0' CASCADE;\n" . $corpus_sql
		  . q{SELECT upgrade_check.render('1.0'); ALTER EXTENSION loginas UPDATE TO '1.1'; SELECT upgrade_check.render('1.1');});
	my $icu = $node->safe_psql('icu', $corpus_check);
	like($icu, qr/^\d{4,} compared, 0 differ,/, "ICU en-US collation: the corpus renders the same ($icu)");
	my $columns = q{SELECT loginas._action_details('write_update', '{"changed_columns": ["b", "a", "B", "_x"]}', false)};
	is($node->safe_psql('icu', $columns) . ' / ' . $node->safe_psql('upgraded', $columns), 'columns _x, a, b, B / columns B, _x, a, b',
		'... and the changed columns are ordered by the database\'s collation (ICU en-US / C)');
}

# --- the log goes on ----------------------------------------------------------------------
background_query($bg, q{SELECT loginas.configure('ticket_ttl', '25 minutes')});
is($node->safe_psql('upgraded', $last_setting), "$bg_chain " . ($bg_seq + 1),
	'a backend that appended under 1.0 continues its chain under 1.1, at the next position');
$bg->quit;

# (the refusal worker retires after 10 s without work: its chain is not checked)
($rc, $out, $err) = $node->psql('upgraded', q{BEGIN; SELECT loginas.begin(2, 3, reason => 'still no consent'); ROLLBACK;});
like($err, qr/remote shopping assistance/i, 'under 1.1: the refusal again');
ok( $node->poll_query_until(
		'upgraded', q{SELECT count(*) = 1 FROM loginas.action_log WHERE action = 'begin_refused' AND admin_id = 2
		   AND result = 'failure' AND reason = 'still no consent' AND details ->> 'sqlstate' = '42501'}),
	'under 1.1: the refusal worker logged it (through the C append)');

$node->safe_psql('upgraded', 'SELECT loginas.set_assistance(3, true)');
$history->('c', 1, 3, 'after the update');
is( $node->safe_psql(
		'upgraded', q{SELECT string_agg(action || ':' || rows, ' ' ORDER BY action) FROM (
	SELECT action, (details ->> 'rows') AS rows FROM loginas.action_log
	 WHERE session_id = (SELECT max(session_id) FROM loginas.session) AND action LIKE 'write%') w}),
	'write_insert:12 write_update:1', 'under 1.1: the session\'s writes are logged');

# a row with awkward values, appended directly (as the owner)
is( $node->safe_psql(
		'upgraded', q{
	CREATE TEMP TABLE odd AS SELECT loginas._append('2026-02-03 04:05:06.789012+00', 'note', 'success',
		-1, E'ad\u00e9 "q" \\ x', 3, E'\u00fc\u00f1i@ex\u00e4mple.com', 999, 4, E'line\nbreak', E'tab\treason',
		'2001:db8::1/64', 'odd role', '{"k": null, "n": {"m": null, "l": [null, 1.50, "\u00e9"]}, "note": "x"}') AS id;
	SELECT l.logged_at = '2026-02-03 04:05:06.789012+00' AND l.admin_id = -1 AND l.admin_username = E'ad\u00e9 "q" \\ x'
	   AND l.customer_email = E'\u00fc\u00f1i@ex\u00e4mple.com' AND l.source = E'line\nbreak'
	   AND l.reason = E'tab\treason' AND l.client_addr = '2001:db8::1/64' AND l.db_role = 'odd role'
	   AND l.details = '{"n": {"l": [null, 1.50, "\u00e9"]}, "note": "x"}' AND l.action_group = 'Login As Customer'
	  FROM loginas.action_log l, odd WHERE l.log_id = odd.id}),
	't', 'a directly appended row carries what was given (its details without JSON nulls in objects)');
is($node->safe_psql('upgraded', 'SELECT intact FROM loginas.verify_log()'), 't',
	'under 1.1: verify_log() passes (rows of 1.0 and 1.1, one chain continued across the update)');

# --- ALTER EXTENSION UPDATE to 1.2 -------------------------------------------------------
my $before12 = $snapshot->('upgraded');
$node->safe_psql('upgraded', "ALTER EXTENSION loginas UPDATE TO '1.2'");
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'loginas'"),
	'1.2', 'ALTER EXTENSION loginas UPDATE TO 1.2: 1.2');
is($node->safe_psql('upgraded', $catalog_sql), $node->safe_psql('fresh12', $catalog_sql),
	'every object of the extension is the same as in a fresh 1.2 install');
my $after12 = $snapshot->('upgraded');
is($after12->{$_}, $before12->{$_}, "after the update to 1.2: $_ reads the same") for sort keys %reports;
is( $node->safe_psql(
		'upgraded', q{SELECT count(*) FILTER (WHERE tgenabled = 'A') || '/' || count(*) FROM pg_trigger
	  WHERE tgname LIKE 'zz\_loginas\_%' AND tgrelid IN (SELECT relation FROM loginas.tracked)}),
	'10/10', '1.2: the tracked tables of 1.1 have tracking triggers that fire ALWAYS');
is($node->safe_psql('upgraded', 'SELECT intact FROM loginas.verify_log()'), 't',
	'under 1.2: verify_log() passes');
$node->safe_psql('upgraded', 'DELETE FROM shop.quote_item WHERE quote_id = 3');	# (outside a session)
$history->('d', 1, 3, 'after the update to 1.2');
is($node->safe_psql('upgraded', 'SELECT intact FROM loginas.verify_log()'), 't',
	'under 1.2: new activity verifies');

# --- ALTER EXTENSION UPDATE to 1.3 -------------------------------------------------------
my $before13 = $snapshot->('upgraded');
$node->safe_psql('upgraded', 'ALTER EXTENSION loginas UPDATE');
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'loginas'"),
	'1.3', 'ALTER EXTENSION loginas UPDATE: 1.3');
is($node->safe_psql('upgraded', $catalog_sql), $node->safe_psql('fresh', $catalog_sql),
	'every object of the extension is the same as in a fresh install of 1.3');
my $after13 = $snapshot->('upgraded');
# 1.3 adds columns at the end (keys of any type): action_log's admin_key,
# customer_key and store_key, NULL on every row written before (their hashes
# unchanged), and the sessions view's customer_key, the customer_id as text.
# The columns of 1.2 read the same.
my %columns12 = (
	log => 'SELECT log_id, logged_at, action_group, action, result, admin_id, admin_username, customer_id,'
	  . ' customer_email, session_id, store_id, source, reason, client_addr, db_role, details, chain_id, chain_seq,'
	  . ' prev_hash, row_hash FROM loginas.action_log ORDER BY log_id',
	sessions => 'SELECT session_id, status, admin_id, admin_username, customer_id, customer_email, store_id, source,'
	  . ' reason, read_only, started, redeemed, expires, ended, end_reason, ended_by_admin, writes, tables_written,'
	  . ' notes, last_action, admin_addr, storefront_addr FROM loginas.sessions',);
for my $r (sort keys %reports)
{
	my $after = $columns12{$r}
	  ? $node->safe_psql('upgraded', "SET TimeZone = 'UTC'; $columns12{$r}")
	  : $after13->{$r};
	is($after, $before13->{$r}, "after the update to 1.3: $r reads the same" . ($columns12{$r} ? ' (its 1.2 columns)' : ''));
}
is( $node->safe_psql(
		'upgraded', q{
	SELECT (SELECT count(*) FROM loginas.action_log) || ' '
	    || (SELECT count(*) FROM loginas.action_log WHERE admin_key IS NULL AND customer_key IS NULL AND store_key IS NULL) || ' '
	    || (SELECT count(*) FROM loginas.sessions) || ' '
	    || (SELECT count(*) FROM loginas.sessions WHERE customer_key = customer_id::text) || ' '
	    || (SELECT count(*) FROM loginas.consent) || ' '
	    || (SELECT count(*) FROM loginas.consent WHERE customer_key = customer_id::text)}) =~ s/^(\d+) \1 (\d+) \2 (\d+) \3$/same/r,
	'same',
	'after the update to 1.3: the log rows have no keys; sessions and consent have customer_key = customer_id');
# admins, store views and documents: the keys of 1.3 are the ids of 1.2 as
# text, wherever 1.2 kept an admin's id (the bigint columns kept)
is( $node->safe_psql(
		'upgraded', q{
	SELECT (SELECT count(*) FROM loginas.session WHERE admin_key IS NOT DISTINCT FROM admin_id::text
			  AND store_key IS NOT DISTINCT FROM store_id::text
			  AND document_key IS NOT DISTINCT FROM source_document_id::text
			  AND ended_by_admin_key IS NOT DISTINCT FROM ended_by_admin::text) || ' '
	    || (SELECT count(*) FROM loginas.session) || ' '
	    || (SELECT count(*) FROM loginas.session WHERE admin_id IS NOT NULL AND store_id IS NOT NULL) || ' '
	    || (SELECT count(*) FROM loginas.setting WHERE changed_by_admin_key IS DISTINCT FROM changed_by_admin::text) || ' '
	    || (SELECT count(*) FROM loginas.binding WHERE bound_by_admin_key IS DISTINCT FROM bound_by_admin::text) || ' '
	    || (SELECT count(*) FROM loginas.role_resource WHERE granted_by_admin_key IS DISTINCT FROM granted_by_admin::text) || ' '
	    || (SELECT count(*) FROM loginas.consent WHERE changed_by_admin_key IS DISTINCT FROM changed_by_admin::text) || ' '
	    || (SELECT count(*) FROM loginas.sessions WHERE admin_key = admin_id::text AND store_key = store_id::text)}),
	($node->safe_psql('upgraded', 'SELECT count(*) FROM loginas.session') =~ s/^(\d+)$/$1 $1 $1 0 0 0 0 $1/r),
	'after the update to 1.3: sessions have admin_key, store_key, document_key and ended_by_admin_key from their ids; settings, bindings, grants and consent the admin\'s key');
cmp_ok($node->safe_psql('upgraded', 'SELECT count(*) FROM loginas.session WHERE source_document_id IS NOT NULL'), '>', 0,
	'(the shop has sessions begun from a document)');
$node->safe_psql('upgraded', 'DELETE FROM shop.quote_item WHERE quote_id = 3');	# (outside a session)
$history->('e', 1, 3, 'after the update to 1.3');
is($node->safe_psql('upgraded', 'SELECT intact FROM loginas.verify_log()'), 't',
	'under 1.3: new activity verifies');
# the audit depth of 1.3 on the updated install: the write rows of the
# session begun under 1.3 carry the rows' values, those of 1.0 to 1.2 none
# (they kept their hashes: verify_log above); that session can be reverted
# (a dry run lists its rows), the one that wrote under 1.2 cannot (its writes
# have no images)
my ($sid12, $sid13) = map { $node->safe_psql('upgraded', "SELECT session_id FROM loginas.session WHERE reason = '$_'") }
  ('after the update to 1.2', 'after the update to 1.3');
is( $node->safe_psql(
		'upgraded', qq{SELECT count(*) FILTER (WHERE session_id = $sid13) || ' '
	    || bool_and((details ? 'values') = (session_id = $sid13))
	  FROM loginas.action_log WHERE action LIKE 'write%'}),
	'2 true', 'under 1.3: the new session\'s write rows carry the values, the older ones none');
$node->safe_psql('upgraded', q{SELECT loginas.grant('Support', 'revert')});
is( $node->safe_psql(
		'upgraded', qq{SELECT count(*) || ' ' || count(*) FILTER (WHERE action = 'delete')
	  FROM loginas.revert($sid13, 1, dry_run => true)}),
	'13 12', 'under 1.3: the new session can be reverted (dry run: its 12 inserts deleted, its update put back)');
($rc, $out, $err) = $node->psql('upgraded', "SELECT * FROM loginas.revert($sid12, 1, 'undo')");
like($err, qr/session $sid12 cannot be reverted/, 'under 1.3: a session that wrote under 1.2 cannot be reverted (no images)');
# stamps kept out of the shop's tables (stamps => 'table') on the updated
# install: the tables tracked under 1.0 keep theirs in columns; shop.quote_item
# switched, a session's inserts are stamped in loginas.row_stamp (and dumped)
is( $node->safe_psql(
		'upgraded', q{SELECT string_agg(relation::text || ':' || stamps, ' ' ORDER BY relation::text) FROM loginas.tracked_tables}),
	'shop.quote:columns shop.quote_item:columns',
	'under 1.3: the tables tracked before keep their stamps in columns');
$node->safe_psql(
	'upgraded', q{
	DELETE FROM shop.quote_item WHERE quote_id = 3;
	SELECT loginas.track('shop.quote_item', parent => 'shop.quote', stamps => 'table');});
$history->('f', 1, 3, 'stamps kept by loginas');
is( $node->safe_psql(
		'upgraded', q{
	SELECT count(*) || ' ' || bool_and(s.created_session = s.changed_session AND s.created_session = l.session_id)
	  FROM loginas.row_stamps s, (SELECT max(session_id) AS session_id FROM loginas.session) l
	 WHERE s.relation = 'shop.quote_item'::regclass}),
	'12 true',
	"under 1.3: a session's inserts into a table tracked with stamps => 'table' are stamped in loginas.row_stamp");

# --- pg_dump of the upgraded database ----------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
$node->command_ok([ 'pg_dump', '-Fc', '-d', 'upgraded', '-f', "$dir/upgraded.dump" ], 'pg_dump of the upgraded database');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', "$dir/upgraded.dump" ], 'pg_restore');
is($node->safe_psql('restored', "SELECT extversion FROM pg_extension WHERE extname = 'loginas'"),
	'1.3', 'restored: loginas 1.3');
is( $node->safe_psql('restored', "SET TimeZone = 'UTC'; $reports{log}"),
	$node->safe_psql('upgraded', "SET TimeZone = 'UTC'; $reports{log}"), 'restored: the same log');
is($node->safe_psql('restored', 'SELECT intact FROM loginas.verify_log()'), 't', 'restored: verify_log() passes');
is( $node->safe_psql('restored', 'SELECT * FROM loginas.row_stamp ORDER BY relation::text, key'),
	$node->safe_psql('upgraded', 'SELECT * FROM loginas.row_stamp ORDER BY relation::text, key'),
	'restored: the stamps kept in loginas.row_stamp');
is($node->safe_psql('restored', $catalog_sql), $node->safe_psql('fresh', $catalog_sql),
	'restored: every object of the extension is the same as in a fresh install');

# --- one backend, the extension dropped and created again --------------------------------
# (reader.c caches which relation each kind is bound to; the cache must follow
# the new extension's loginas.binding, not the dropped one's)
$node->safe_psql('postgres', 'CREATE DATABASE recreate');
is( $node->safe_psql(
		'recreate', q{
	CREATE EXTENSION loginas CASCADE;
	CREATE TABLE public.adm (admin_id int PRIMARY KEY, username text, display_name text, is_active bool, role text);
	INSERT INTO public.adm VALUES (1, 'ada', 'Ada', true, 'Administrators');
	CREATE TABLE public.cus (customer_id int PRIMARY KEY, email text, display_name text, is_active bool,
		website_id int, store_id int);
	INSERT INTO public.cus VALUES (1, 'veronica@example.com', 'Veronica', true, 1, 1);
	GRANT USAGE ON SCHEMA public TO loginas_reader;
	GRANT SELECT ON public.adm, public.cus TO loginas_reader;
	SELECT loginas.bind('customers', 'public.cus');
	SELECT loginas._lookup('admins', 1, true) IS NULL;
	SELECT loginas.bind('admins', 'public.adm');
	SELECT loginas._lookup('admins', 1, true) ->> 'username';
	-- CASCADE: bind() put assume()'s cache trigger on public.cus and public.adm
	SET client_min_messages = warning;
	DROP EXTENSION loginas CASCADE;
	RESET client_min_messages;
	CREATE EXTENSION loginas;
	SELECT loginas.bind('customers', 'public.cus');
	SELECT loginas._lookup('admins', 1, true) IS NULL;
	SELECT loginas.bind('admins', 'public.adm');
	SELECT loginas._lookup('admins', 1, true) ->> 'username';
	SELECT loginas._log('note', 'success', 1, 1) > 0;
	SELECT admin_username || ' ' || customer_email FROM loginas.action_log WHERE action = 'note';}),
	"\nt\n\nada\n\nt\n\nada\nt\nada veronica\@example.com",
	'one backend: after DROP and CREATE EXTENSION, a kind bound anew is found (not the dropped binding\'s "not bound")');

$node->stop;
done_testing();
