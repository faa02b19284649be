
# 021_fuzz.pl
#	A fixed-seed random driver makes many calls to every public function of
#	schema loginas with hostile arguments, in random lifecycle orders, and the
#	server neither crashes nor raises an internal error, and loginas'
#	invariants hold afterwards.
#
# The calls are generated server-side for speed: fz.run(n, seed), a procedure
# seeded with setseed(), picks a function and random arguments -- NULLs, 0,
# negative and huge ids (+-2^63-1, -2^63), empty, blank, over-long and 1 MB
# strings, unicode, quotes and format specifiers, wrong kinds / names /
# resources / reasons / document kinds, malformed, truncated, upper-cased,
# padded, reused and cross-used (a key as a ticket) tokens and keys, random
# timestamps (+-infinity), random settings values, random relations (views of
# the wrong shape, sequences, indexes, catalogs, non-existent OIDs) -- and runs
# it as a random role (the function's own: loginas_admin / _storefront /
# _reporting member, the superuser, or a wrong one), each call in a
# subtransaction (a PL/pgSQL exception block) that catches its error and
# records its SQLSTATE.  Between calls, at random: tracked writes on the shop's
# tables (in and out of sessions, forged stamps, other customers' rows,
# protected columns, TRUNCATE), "time passes" (a ticket, session or consent
# expires; a customer, admin or store view is deactivated), COMMIT (which ends
# the transaction's context) and ROLLBACK; every ~50 calls the shop is put back
# in a usable state so the lifecycle gets deep (begin -> redeem -> assume ->
# writes -> end) instead of stopping at "feature disabled".
# Each chunk of calls starts with a sweep that calls every public function
# once, with arguments generated from its declared types (so a function added
# later is fuzzed too, without touching this file), and such generic calls
# recur at random.  The Perl side (srand(42)) draws the seed of each chunk;
# each chunk runs on a new connection (a new backend, a new log chain).
#
# Acceptable outcomes of a call: success, or an error of any SQLSTATE class but
# XX (internal error) and 58 (system error).  The node runs with
# shared_preload_libraries = 'loginas' (the durable refusal log) and
# restart_after_crash = off.
#
# Afterwards:
#	the postmaster never restarted (pg_postmaster_start_time() unchanged, the
#	server log has no crashed process), no call raised an XX/58 error;
#	every public function (pg_proc: schema loginas, name not starting with _)
#	was called;
#	verify_log() is intact; no admin has two live tickets/sessions; no ticket
#	hash or key hash appears twice (nor a ticket hash as a key hash); no
#	ticket was redeemed twice and every end has exactly one session_ended row;
#	every stamped row of a tracked table was logged under the stamping session;
#	no track() call succeeded with a key column as a stamp column (checked
#	after each call); no log row contains a token or session key the fuzzer
#	got back, nor a 16-hex-digit piece of one; the server log contains none.
# Then the bugs the fuzzer found are checked directly (stamp columns that tie a row to its customer, dropped tracked tables).
#
# Size: LOGINAS_FUZZ_CALLS function calls (default 3000, for make test);
# the large run (>= 100k calls) is `make fuzz` (LOGINAS_FUZZ_CALLS=120000).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $calls = $ENV{LOGINAS_FUZZ_CALLS} // 3000;
my $chunk = 5000;    # calls per connection
srand(42);

my $node = loginas_node(
	'fuzz',
	preload => 1,
	conf => q{
restart_after_crash = off
log_statement = none
log_min_messages = warning
synchronous_commit = off
max_stack_depth = 2MB
});

# --- the shop -----------------------------------------------------------------
$node->safe_psql(
	'postgres', shop_setup_sql(
		orders => 1,
		tables => q{
	CREATE TABLE shop.invoice (invoice_id int PRIMARY KEY, order_id int NOT NULL REFERENCES shop.sales_order,
		increment_id text NOT NULL);
},
		rows => q{
	INSERT INTO shop.website VALUES (1, 'Main Website'), (2, 'EU Website');
	INSERT INTO shop.store VALUES (1, 1, 'Default Store View', true, true), (2, 1, 'French', true, false),
		(3, 2, 'EU English', true, true), (4, 2, 'EU German', false, false);
	INSERT INTO shop.customer VALUES (1, 'veronica@example.com', 'Veronica', 'Costello', true, 1, 2),
		(2, 'john@example.com', 'John', 'Doe', true, 2, 3), (3, 'gone@example.com', 'Gone', 'Away', false, 1, 1),
		(4, 'ünï@example.com', 'Ünï', 'Cödé 😀', true, 1, 4);
	INSERT INTO shop.admin VALUES (1, 'ada', 'Ada', 'Admin', true, 'Administrators'),
		(2, 'sam', 'Sam', 'Support', true, 'Support'), (3, 'old', 'Old', 'Timer', false, 'Administrators'),
		(4, 'max', 'Max', 'Marketing', true, 'Marketing'), (5, 'eve', 'Eve', 'Support', true, 'Support');
},
		data => q{
	INSERT INTO shop.sales_order VALUES (100, 1, 2, '000000100'), (101, NULL, 1, '000000101'), (102, 2, 3, '000000102'),
		(103, 4, 1, '000000103');
	INSERT INTO shop.invoice VALUES (200, 100, '000000200'), (201, 101, '000000201');
	-- the baseline the repair step restores
	CREATE TABLE shop.baseline_customer AS SELECT * FROM shop.customer;
	CREATE TABLE shop.baseline_admin AS SELECT * FROM shop.admin;
	CREATE TABLE shop.baseline_store AS SELECT * FROM shop.store;
},
		views => q{
	CREATE VIEW shop.loginas_invoices AS SELECT i.invoice_id AS document_id, o.customer_id, o.store_id,
		i.increment_id AS reference FROM shop.invoice i JOIN shop.sales_order o USING (order_id);
	-- relations of the right shape but other content, and of wrong shapes
	CREATE VIEW shop.alt_admins AS SELECT admin_id, username, username AS display_name, NOT is_active AS is_active,
		'Administrators'::text AS role FROM shop.admin;
	CREATE VIEW shop.alt_customers AS SELECT customer_id::bigint, email::varchar, email::name AS display_name,
		true AS is_active, 2::smallint AS website_id, 3 AS store_id FROM shop.customer;
	CREATE VIEW shop.bad_cols AS SELECT 1 AS admin_id, 'x'::text AS username;
	CREATE VIEW shop.bad_types AS SELECT 'x'::text AS customer_id, 1 AS email, 'd'::text AS display_name,
		1 AS is_active, 1 AS website_id, 1 AS store_id, 1.5::numeric AS document_id, 'r'::text AS reference;
	CREATE VIEW shop.dup_keys AS SELECT 1 AS store_id, 1 AS website_id, 'a'::text AS name, 'w'::text AS website_name,
		true AS is_active, true AS is_default
		UNION ALL SELECT 1, 2, 'b', 'w2', true, true;
	CREATE VIEW shop.unreadable AS SELECT * FROM shop.loginas_customers;	-- no grant to loginas_reader
},
		readable => [
			qw(shop.loginas_invoices shop.alt_admins shop.alt_customers shop.bad_cols shop.bad_types
			  shop.dup_keys)
		],
		bind => [ invoices => 'shop.loginas_invoices' ],
		grants => [ Administrators => 'login', Support => 'login', Support => 'manage_assistance' ],
		consent => [ 1, 2, 4 ])
	  . q{

	-- tracked tables: a cart (customer column), its items (child through a
	-- foreign key), a wishlist with a bigint customer column and a protected column
	CREATE TABLE shop.cart (cart_id serial PRIMARY KEY, customer_id int NOT NULL, note text);
	CREATE TABLE shop.cart_item (item_id serial PRIMARY KEY, cart_id int NOT NULL REFERENCES shop.cart ON DELETE CASCADE,
		sku text NOT NULL);
	CREATE TABLE shop.wishlist (wishlist_id serial PRIMARY KEY, customer_id bigint NOT NULL, sharing_code text);
	INSERT INTO shop.cart (customer_id, note) SELECT c, 'cart of ' || c FROM generate_series(1, 4) c;
	INSERT INTO shop.cart_item (cart_id, sku) SELECT c, 'sku-' || c FROM generate_series(1, 4) c;
	INSERT INTO shop.wishlist (customer_id, sharing_code) SELECT c, md5(c::text) FROM generate_series(1, 4) c;
	SELECT loginas.track('shop.cart', 'customer_id');
	SELECT loginas.track('shop.cart_item', parent => 'shop.cart');
	SELECT loginas.track('shop.wishlist', 'customer_id');
	SELECT loginas.protect('shop.wishlist', 'sharing_code');

	-- the roles the calls run as
	CREATE ROLE fz_admin IN ROLE loginas_admin;
	CREATE ROLE fz_web IN ROLE loginas_storefront;
	CREATE ROLE fz_report IN ROLE loginas_reporting;
	CREATE ROLE fz_audit IN ROLE loginas_auditor;
	CREATE ROLE fz_nobody;
	GRANT USAGE ON SCHEMA shop TO fz_web, fz_admin, fz_nobody;
	GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON shop.cart, shop.cart_item, shop.wishlist TO fz_web, fz_nobody;
	GRANT USAGE ON ALL SEQUENCES IN SCHEMA shop TO fz_web, fz_nobody;
});

# --- the fuzzer ---------------------------------------------------------------------
$node->safe_psql('postgres', fuzzer_sql());

my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $public = $node->safe_psql(
	'postgres', q{
	SELECT string_agg(label, E'\n' ORDER BY label) FROM (
		SELECT CASE WHEN count(*) OVER (PARTITION BY proname) > 1
					THEN proname || '(' || oidvectortypes(proargtypes) || ')' ELSE proname END AS label
		  FROM pg_proc WHERE pronamespace = 'loginas'::regnamespace AND proname !~ '^_') x});
my @public = split /\n/, $public;
cmp_ok(scalar(@public), '>=', 30, scalar(@public) . ' public functions in schema loginas');

my $done = 0;
my $chunks = 0;
my $t0 = time;
while ($done < $calls)
{
	my $n = $calls - $done < $chunk ? $calls - $done : $chunk;
	my $seed = sprintf('%.6f', rand() * 2 - 1);
	my ($rc, $out, $err) = $node->psql('postgres', "CALL fz.run($n, $seed)",
		timeout => 3600);
	$chunks++;
	if ($rc != 0)
	{
		fail("chunk $chunks ($n calls, seed $seed) ran to its end");
		diag("psql exit $rc: $err");
		last;
	}
	$done += $n;
}
my $secs = time - $t0;
is($done, $calls, "$calls calls in $chunks chunk(s) ran to their end ($secs s)");

# --- no crash, no internal error -------------------------------------------------------
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$start_time, 'the postmaster never restarted');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated by exception|server process .* exited with exit code [1-9]|PANIC:/,
	'the server log shows no crashed process');
my $bad = $node->safe_psql('postgres',
	q{SELECT count(*) || E'\n' || coalesce(string_agg(format('%s %s: %s -- %s', call_no, sqlstate, left(message, 300), left(args, 500)), E'\n' ORDER BY call_no), '') FROM (SELECT * FROM fz.bad ORDER BY call_no LIMIT 30) b});
my ($nbad) = split /\n/, $bad;
is($nbad, '0', 'no call raised an internal (XX) or system (58) error') or diag($bad);

# errors PostgreSQL raised inside loginas' functions (not a loginas refusal,
# which carries no CONTEXT): not a crash, but an input loginas does not
# validate up front (so far: role name length, empty stamp names)
my $raw = $node->safe_psql('postgres',
	q{SELECT count(*) FROM (SELECT DISTINCT fn, sqlstate FROM fz.raw) x});
my $raw_list = $node->safe_psql('postgres',
	q{SELECT string_agg(format('%s %s: %s [%s] -- %s', fn, sqlstate, left(message, 200),
		left(regexp_replace(context, '\s+', ' ', 'g'), 300), left(args, 300)), E'\n' ORDER BY fn, sqlstate)
	  FROM (SELECT DISTINCT ON (fn, sqlstate) * FROM fz.raw ORDER BY fn, sqlstate, call_no) x});
is($raw, '0', 'every error from inside loginas is a loginas refusal (no raw PostgreSQL error)')
  or diag("raw errors from inside loginas (first of each function and SQLSTATE):\n$raw_list");

my $ncalls = $node->safe_psql('postgres', q{SELECT sum(n) FROM fz.stats WHERE fn !~ '^[.]'});
is($ncalls, $calls, "the fuzzer made $calls function calls");
my %called = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', q{SELECT fn, sum(n) FROM fz.stats GROUP BY fn});
my @missed = grep { !$called{$_} } @public;
is_deeply(\@missed, [], 'every public function was called') or diag("never called: @missed");
my %ok = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', q{SELECT fn, sum(n) FROM fz.stats WHERE sqlstate = 'ok' GROUP BY fn});
# the lifecycle went deep: these succeeded (not just refused) -- at the
# default size and above; a smaller run is only a smoke test
SKIP:
{
	skip 'fewer than 3000 calls: the lifecycle depth is not checked', 8 if $calls < 3000;
	for my $fn (qw(begin redeem assume end end_admin expire note configure))
	{
		cmp_ok($ok{$fn} // 0, '>', 0, "$fn succeeded at least once ($called{$fn} calls, " . ($ok{$fn} // 0) . ' ok)');
	}
}
note("outcomes per function (calls: SQLSTATE x count):\n"
	  . $node->safe_psql('postgres',
		q{SELECT fn || ': ' || string_agg(sqlstate || ' x' || n, ', ' ORDER BY n DESC) FROM fz.stats GROUP BY fn ORDER BY fn}));

# --- invariants ------------------------------------------------------------------------
my $q = sub { $node->safe_psql('postgres', shift) };
is($q->(q{SELECT intact || ' ' || problem FROM loginas.verify_log()}), 'true intact', 'verify_log(): intact');
is($q->(q{SELECT count(*) FROM (SELECT admin_id FROM loginas.session WHERE ended_at IS NULL GROUP BY 1 HAVING count(*) > 1) x}),
	'0', 'no admin has two live tickets or sessions');
is($q->(q{SELECT count(*) FROM (SELECT ticket_hash FROM loginas.session GROUP BY 1 HAVING count(*) > 1) x}),
	'0', 'no ticket hash appears twice');
is($q->(q{SELECT count(*) FROM (SELECT key_hash FROM loginas.session WHERE key_hash IS NOT NULL GROUP BY 1 HAVING count(*) > 1) x}),
	'0', 'no key hash appears twice');
is($q->(q{SELECT count(*) FROM loginas.session a JOIN loginas.session b ON a.key_hash = b.ticket_hash}),
	'0', 'no key hash equals a ticket hash');
is( $q->(
		q{SELECT count(*) FROM (SELECT session_id FROM loginas.action_log WHERE action = 'ticket_redeemed'
		   GROUP BY 1 HAVING count(*) > 1) x}),
	'0',
	'no ticket was redeemed twice');
is( $q->(
		q{SELECT count(*) FROM loginas.session s
		   WHERE (s.redeemed_at IS NOT NULL) <> EXISTS (SELECT FROM loginas.action_log l
				WHERE l.session_id = s.session_id AND l.action = 'ticket_redeemed')}),
	'0',
	'a session is redeemed exactly when its ticket_redeemed row exists');
is( $q->(
		q{SELECT count(*) FROM loginas.session s
		   WHERE (SELECT count(*) FROM loginas.action_log l
				   WHERE l.session_id = s.session_id AND l.action = 'session_ended' AND l.result = 'success')
				 <> CASE WHEN s.ended_at IS NULL THEN 0 ELSE 1 END}),
	'0',
	'every ended ticket or session has exactly one session_ended row, live ones none');
is( $q->(
		q{SELECT count(*) FROM loginas.session s
		   WHERE NOT EXISTS (SELECT FROM loginas.action_log l WHERE l.session_id = s.session_id AND l.action = 'ticket_issued')}),
	'0',
	'every ticket has its ticket_issued row');
# stamps are never forged: each stamped row was logged under the stamping session
my @unlogged;
for my $t (
	[ 'shop.cart', 'cart_id' ],
	[ 'shop.cart_item', 'item_id' ],
	[ 'shop.wishlist', 'wishlist_id' ])
{
	my ($rel, $key) = @$t;
	my $n = $q->(
		qq{SELECT count(*) FROM $rel r
		   WHERE (r.loginas_created_session IS NOT NULL AND NOT EXISTS (SELECT FROM loginas.action_log l
					WHERE l.session_id = r.loginas_created_session AND l.action = 'write_insert'
					  AND l.details ->> 'table' = '$rel' AND l.details -> 'keys' \@> jsonb_build_array(jsonb_build_array(r.${key}::text))))
			  OR (r.loginas_changed_session IS NOT NULL AND NOT EXISTS (SELECT FROM loginas.action_log l
					WHERE l.session_id = r.loginas_changed_session AND l.action IN ('write_insert', 'write_update')
					  AND l.details ->> 'table' = '$rel' AND l.details -> 'keys' \@> jsonb_build_array(jsonb_build_array(r.${key}::text))))});
	push @unlogged, "$rel: $n" if $n ne '0';
}
is_deeply(\@unlogged, [], 'every stamp on a tracked row is backed by a write log row of that session');

# no secret leaks: the log and the server log
my $nsecrets = $q->(q{SELECT count(*) FROM fz.secret});
cmp_ok($nsecrets, '>', 0, "the fuzzer got $nsecrets tokens and keys back");
# how many 16-digit pieces of the fuzzer's secrets the rows of $source contain
my $leaks = sub {
	my ($source) = @_;
	return $q->(
		qq{WITH pieces AS (	-- runs of 16+ hex digits (a counted regex is slow on 1 MB values: split instead);
							-- of a long run (a fuzzer's 1 MB argument) its first and last 4000 digits
			SELECT DISTINCT CASE WHEN length(x.piece) > 8030 THEN left(lower(x.piece), 4015) || '-' || right(lower(x.piece), 4015)
								 ELSE lower(x.piece) END AS piece
			  FROM $source l,
				   regexp_split_to_table(concat_ws(' ', l.action, l.admin_username, l.customer_email, l.source,
												   l.reason, l.db_role, l.details::text), '[^0-9a-fA-F]+') x(piece)
			 WHERE length(x.piece) >= 16),
		  piece_windows AS (
			SELECT DISTINCT substr(p.piece, i, 16) AS w FROM pieces p, generate_series(1, length(p.piece) - 15) i),
		  secret_windows AS (
			SELECT DISTINCT substr(s.value, i, 16) AS w FROM fz.secret s, generate_series(1, length(s.value) - 15) i)
		  SELECT count(*) FROM piece_windows JOIN secret_windows USING (w)});
};
is($leaks->('loginas.action_log'), '0', 'no log row contains a token or key (or a 16+ hex-digit piece of one)');
cmp_ok(
	$leaks->(
		q{(SELECT 'note' AS action, NULL AS admin_username, NULL AS customer_email, NULL AS source,
				  'see ' || upper(substr(value, 10, 20)) || '!' AS reason, 'x' AS db_role, '{}'::jsonb AS details
			 FROM fz.secret ORDER BY id LIMIT 1)}),
	'>', 0, '... a check that finds a piece of one planted in a row');
note('log rows: ' . $q->(q{SELECT count(*) || ' (' || count(*) FILTER (WHERE result = 'failure') || ' failure rows from the durable refusal log)' FROM loginas.action_log}));
my %secret = map { $_ => 1 } split /\n/, $q->(q{SELECT value FROM fz.secret});
my @leaked = grep { $secret{ lc $_ } } ($log =~ /([0-9a-fA-F]{64})/g);
is(scalar(@leaked), 0, 'the server log contains none of them');

# --- found by the fuzzer, checked every time ----------------------------------------------
# a stamp column must not be the customer column, a primary-key column
# or a column of the foreign key to the parent (stamps would overwrite them)
$q->(q{CREATE TABLE shop.fz_parent (pid bigint PRIMARY KEY, customer_id bigint NOT NULL);
	CREATE TABLE shop.fz_child (cid bigint PRIMARY KEY, pid bigint NOT NULL REFERENCES shop.fz_parent);});
for my $case (
	[ q{loginas.track('shop.fz_parent', 'customer_id', 'customer_id', 'loginas_changed_session')}, 'the customer column as created stamp' ],
	[ q{loginas.track('shop.fz_parent', 'customer_id', 'loginas_created_session', 'customer_id')}, 'the customer column as changed stamp' ],
	[ q{loginas.track('shop.fz_parent', 'customer_id', 'pid', 'loginas_changed_session')}, 'the primary key as a stamp' ],
	[ q{loginas.track('shop.fz_child', 'shop.fz_parent'::regclass, 'pid', 'loginas_changed_session')}, 'the parent foreign key as a stamp' ],
	[ q{loginas.track('shop.fz_child', 'shop.fz_parent'::regclass, 'loginas_created_session', 'cid')}, 'the child\'s primary key as a stamp' ])
{
	my ($sql, $what) = @$case;
	$q->(q{SELECT loginas.track('shop.fz_parent', 'customer_id')}) if $sql =~ /fz_child/;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT $sql");
	like($err, qr/ERROR:  column "\w+" of shop\.fz_\w+ cannot be a stamp column/, "track() refuses $what");
}
# empty stamp column names are refused up front
for my $args (q{'', 'loginas_changed_session'}, q{'loginas_created_session', ''})
{
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT loginas.track('shop.fz_parent', 'customer_id', $args)", extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/ERROR:  22023: stamp column names cannot be empty or NULL/, "track($args) is refused with 22023");
	unlike($err, qr/CONTEXT:/, '... without loginas\' internal CONTEXT');
}
# role names have a length limit
{
	my ($rc, $out, $err) = $node->psql('postgres', q{SELECT loginas.grant(repeat('r', 256), 'login')},
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/ERROR:  22023: role name is too long/, 'grant() refuses a 256-character role name with 22023');
	is($q->(q{SELECT loginas.grant(repeat('r', 255), 'view_log')}), 't', '... and takes 255 characters');
	$q->(q{SELECT loginas.revoke(repeat('r', 255), 'view_log')});
}
# a dropped tracked table is forgotten
$q->(q{DROP TABLE shop.fz_child, shop.fz_parent});
is($q->(q{SELECT count(*) FROM loginas.tracked_tables WHERE relation::text !~ '^shop\.(cart|cart_item|wishlist|customer|sales_order|invoice)$'}),
	'0', 'dropped tracked tables leave no row in loginas.tracked_tables');

$node->stop;
done_testing();

# The fuzzer: schema fz, its random generators and the procedure fz.run.
sub fuzzer_sql
{
	return <<'SQL';
CREATE SCHEMA fz;
CREATE TABLE fz.secret (id bigserial PRIMARY KEY, kind text NOT NULL, value text NOT NULL);
CREATE TABLE fz.stats (fn text NOT NULL, sqlstate text NOT NULL, n bigint NOT NULL, PRIMARY KEY (fn, sqlstate));
CREATE TABLE fz.bad (call_no bigint, fn text, sqlstate text, message text, args text);
-- errors raised from inside loginas' own functions by PostgreSQL rather than
-- as a loginas refusal (those carry no CONTEXT): an input not validated up front
CREATE TABLE fz.raw (call_no bigint, fn text, sqlstate text, message text, context text, args text);
CREATE TABLE fz.counter (calls bigint NOT NULL);
INSERT INTO fz.counter VALUES (0);
GRANT USAGE ON SCHEMA fz TO PUBLIC;

-- random helpers (all VOLATILE, driven by setseed)
CREATE FUNCTION fz.ri(lo bigint, hi bigint) RETURNS bigint LANGUAGE sql VOLATILE
	AS $$ SELECT lo + floor(random() * (hi - lo + 1))::bigint $$;
CREATE FUNCTION fz.pick(a anyarray) RETURNS anyelement LANGUAGE sql VOLATILE
	AS $$ SELECT a[fz.ri(1, cardinality(a))] $$;
CREATE FUNCTION fz.big() RETURNS text LANGUAGE sql VOLATILE	-- 1 MB
	AS $$ SELECT repeat(md5(random()::text), 32768) $$;

CREATE FUNCTION fz.rid() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r float8 := random();
BEGIN
	IF r < 0.08 THEN RETURN NULL;
	ELSIF r < 0.60 THEN RETURN fz.ri(1, 5);
	ELSIF r < 0.68 THEN RETURN fz.pick(ARRAY[0, -1, 6, 100, 101, 102, 103, 200, 201]::bigint[]);
	ELSIF r < 0.80 THEN RETURN fz.pick(ARRAY[9223372036854775807, -9223372036854775807, -9223372036854775808,
											 2147483647, 2147483648, -2147483648, -2147483649, 32767, 32768]::bigint[]);
	ELSIF r < 0.90 THEN RETURN fz.ri(-1000, 1000);
	ELSE RETURN (random() * 9.2e18 - 4.6e18)::bigint;
	END IF;
END $$;

-- a text argument: mostly one of the valid values, else hostile
CREATE FUNCTION fz.rtext(valid text[]) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r float8 := random();
BEGIN
	IF r < 0.07 THEN RETURN NULL;
	ELSIF r < 0.50 THEN RETURN fz.pick(valid);
	ELSIF r < 0.54 THEN RETURN '';
	ELSIF r < 0.57 THEN RETURN ' ';
	ELSIF r < 0.61 THEN RETURN upper(fz.pick(valid));
	ELSIF r < 0.65 THEN RETURN ' ' || fz.pick(valid) || E'\t';
	ELSIF r < 0.69 THEN RETURN md5(random()::text);
	ELSIF r < 0.74 THEN RETURN fz.pick(ARRAY[$q$'); DROP TABLE shop.cart; --$q$, '%s %I %L %1$s', E'\\', '"', $q$'$q$,
		'$1', 'NULL', 'null', 'on; off', E'line\nbreak', chr(1) || chr(127), 'loginas.session', '*', '..', '%',
		'{"a":1}', 'true', '-1', '1e308', 'NaN']);
	ELSIF r < 0.78 THEN RETURN fz.pick(ARRAY['ünïcödé', '😀', 'Ω≈ç√∫', 'ﾟ･✿', E'\u202Eevil', 'ǅ', 'İı']);
	ELSIF r < 0.81 THEN RETURN repeat('r', fz.ri(1000, 1002)::int);
	ELSIF r < 0.84 THEN RETURN repeat('s', fz.ri(199, 201)::int);
	ELSIF r < 0.86 THEN RETURN repeat('é', 1001);
	ELSIF r < 0.865 THEN RETURN fz.big();
	ELSE RETURN fz.pick(valid);
	END IF;
END $$;

CREATE FUNCTION fz.rbool() RETURNS boolean LANGUAGE sql VOLATILE
	AS $$ SELECT CASE WHEN random() < 0.15 THEN NULL ELSE random() < 0.5 END $$;

CREATE FUNCTION fz.rts() RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r float8 := random();
BEGIN
	IF r < 0.35 THEN RETURN NULL;
	ELSIF r < 0.55 THEN RETURN now() + fz.ri(1, 100000) * interval '1 second';
	ELSIF r < 0.65 THEN RETURN now() - fz.ri(0, 100000) * interval '1 second';
	ELSIF r < 0.70 THEN RETURN now();
	ELSE RETURN fz.pick(ARRAY['infinity', '-infinity', '294276-12-31 23:59:59+00', '4713-01-01 00:00:00+00 BC',
							  '2000-01-01 00:00:00+00', '9999-12-31 23:59:59+00']::timestamptz[]);
	END IF;
END $$;

CREATE FUNCTION fz.rinet() RETURNS inet LANGUAGE sql VOLATILE
	AS $$ SELECT CASE WHEN random() < 0.5 THEN NULL
					  ELSE fz.pick(ARRAY['127.0.0.1', '::1', '10.1.2.3/8', '0.0.0.0', '255.255.255.255',
										 'ffff::ffff', '192.168.0.0/16', '::ffff:1.2.3.4']::inet[]) END $$;

CREATE FUNCTION fz.rjson() RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r float8 := random();
BEGIN
	IF r < 0.08 THEN RETURN NULL;
	ELSIF r < 0.45 THEN RETURN '{}';
	ELSIF r < 0.60 THEN RETURN jsonb_build_object('order', fz.rid(), 'comment', fz.rtext(ARRAY['placed', 'x']));
	ELSIF r < 0.75 THEN RETURN fz.pick(ARRAY['[]', 'null', '1', '"s"', 'true', '[{}]', '{"note":"forged"}',
		'{"session_id":1,"admin_id":2}', '{"keys":[["1"]]}', '{"a":{"b":{"c":[1,2,{"d":null}]}}}',
		'{"\u00e9":"\ud83d\ude00"}']::jsonb[]);
	ELSIF r < 0.80 THEN RETURN (repeat('[', 2000) || repeat(']', 2000))::jsonb;
	ELSIF r < 0.82 THEN RETURN jsonb_build_object('big', fz.big());
	ELSE RETURN jsonb_build_object(fz.rtext(ARRAY['k', 'note']), fz.rtext(ARRAY['v']));
	END IF;
END $$;

-- a relation argument for bind/track/protect
CREATE FUNCTION fz.rrel(for_track boolean) RETURNS regclass LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r float8 := random();
BEGIN
	IF r < 0.06 THEN RETURN NULL;
	ELSIF r < 0.10 THEN RETURN fz.pick(ARRAY[0, 1, 16384, 99999, 4294967295]::bigint[])::oid::regclass;
	ELSIF for_track THEN
		RETURN fz.pick(ARRAY['shop.cart', 'shop.cart', 'shop.cart_item', 'shop.wishlist', 'shop.wishlist',
							 'shop.customer', 'shop.sales_order', 'shop.invoice', 'shop.loginas_customers',
							 'shop.cart_pkey', 'shop.cart_cart_id_seq', 'pg_catalog.pg_class']::regclass[]);
	ELSE
		RETURN fz.pick(ARRAY['shop.loginas_customers', 'shop.loginas_admins', 'shop.loginas_store_views',
							 'shop.loginas_orders', 'shop.loginas_invoices', 'shop.alt_admins', 'shop.alt_customers',
							 'shop.bad_cols', 'shop.bad_types', 'shop.dup_keys', 'shop.unreadable', 'shop.customer',
							 'shop.cart', 'shop.cart_pkey', 'shop.cart_cart_id_seq', 'loginas.session',
							 'loginas.action_log', 'pg_catalog.pg_class', 'pg_catalog.pg_roles']::regclass[]);
	END IF;
END $$;

-- a token or key: one the fuzzer got back (as is, mangled, or of the other
-- kind), or made up
CREATE FUNCTION fz.mangle(t text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r float8 := random();
BEGIN
	IF t IS NULL OR r < 0.55 THEN RETURN t;
	ELSIF r < 0.60 THEN RETURN left(t, 63);
	ELSIF r < 0.63 THEN RETURN left(t, 32);
	ELSIF r < 0.66 THEN RETURN t || '0';
	ELSIF r < 0.70 THEN RETURN upper(t);
	ELSIF r < 0.73 THEN RETURN ' ' || t;
	ELSIF r < 0.76 THEN RETURN t || E'\n';
	ELSIF r < 0.79 THEN RETURN substr(t, 2);
	ELSIF r < 0.82 THEN RETURN overlay(t PLACING 'g' FROM fz.ri(1, 64)::int FOR 1);
	ELSIF r < 0.85 THEN RETURN reverse(t);
	ELSIF r < 0.88 THEN RETURN t || t;
	ELSIF r < 0.90 THEN RETURN encode(loginas._hash(t), 'hex');	-- its stored hash
	ELSIF r < 0.92 THEN RETURN '\x' || encode(loginas._hash(t), 'hex');
	ELSIF r < 0.94 THEN RETURN '';
	ELSIF r < 0.96 THEN RETURN NULL;
	ELSIF r < 0.98 THEN RETURN md5(random()::text) || md5(random()::text);
	ELSE RETURN fz.big();
	END IF;
END $$;

-- masks 64-hex-digit secrets in a text (for reports)
CREATE FUNCTION fz.mask(t text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT regexp_replace(left(t, 400), '[0-9a-fA-F]{32,}', '<hex>', 'g') $$;

-- put the shop back in a usable state (as the superuser, outside a session)
CREATE FUNCTION fz.repair() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	step text;
BEGIN
	FOREACH step IN ARRAY ARRAY[
		$s$SELECT loginas.configure('enabled', 'on')$s$,
		$s$SELECT loginas.bind('customers', 'shop.loginas_customers')$s$,
		$s$SELECT loginas.bind('admins', 'shop.loginas_admins')$s$,
		$s$SELECT loginas.bind('store_views', 'shop.loginas_store_views')$s$,
		$s$SELECT loginas.bind('orders', 'shop.loginas_orders')$s$,
		$s$SELECT loginas.bind('invoices', 'shop.loginas_invoices')$s$,
		$s$SELECT loginas.grant('Administrators', 'login')$s$,
		$s$SELECT loginas.grant('Support', 'login')$s$,
		$s$SELECT loginas.grant('Support', 'manage_assistance')$s$,
		$s$SELECT loginas.set_assistance(c, true) FROM unnest(ARRAY[1, 2, 4]) c$s$,
		$s$UPDATE shop.customer c SET is_active = b.is_active, website_id = b.website_id, store_id = b.store_id
		     FROM shop.baseline_customer b WHERE b.customer_id = c.customer_id$s$,
		$s$UPDATE shop.admin a SET is_active = b.is_active, role = b.role
		     FROM shop.baseline_admin b WHERE b.admin_id = a.admin_id$s$,
		$s$UPDATE shop.store s SET is_active = b.is_active FROM shop.baseline_store b WHERE b.store_id = s.store_id$s$,
		$s$SELECT loginas.track('shop.cart', 'customer_id')$s$,
		$s$SELECT loginas.track('shop.cart_item', parent => 'shop.cart')$s$,
		$s$SELECT loginas.track('shop.wishlist', 'customer_id')$s$,
		$s$SELECT loginas.configure('store_view_selection', 'auto')$s$,
		$s$SELECT loginas.configure('require_reason', 'off')$s$,
		$s$SELECT loginas.configure('account_sharing', 'website')$s$,
		$s$SELECT loginas.configure('ticket_ttl', '1 minute')$s$,
		$s$SELECT loginas.configure('session_ttl', '1 hour')$s$]
	LOOP
		IF random() < 0.8 THEN
			BEGIN
				EXECUTE step;
			EXCEPTION WHEN OTHERS THEN
				NULL;		-- e.g. a read-only view rebound; counted nowhere
			END;
		END IF;
	END LOOP;
END $$;

CREATE PROCEDURE fz.run(p_calls int, p_seed float8) LANGUAGE plpgsql AS $run$
DECLARE
	ops text[] := ARRAY[
		'current_session', 'current_admin', 'current_customer', 'current_store', 'current_read_only', 'banner',
		'in_session',
		'configure', 'configure', 'configure', 'configure', 'bind', 'bind', 'unbind',
		'grant', 'grant', 'revoke', 'revoke', 'permitted', 'permitted',
		'set_assistance', 'set_assistance', 'set_assistance', 'set_assistance_as_customer', 'set_assistance_as_customer',
		'set_assistance_as_admin', 'set_assistance_as_admin', 'assistance_allowed',
		'check', 'check', 'store_choices', 'store_choices',
		'begin', 'begin', 'begin', 'begin', 'begin', 'begin', 'begin', 'begin', 'begin', 'begin',
		'begin_from', 'begin_from', 'begin_from', 'begin_from',
		'redeem', 'redeem', 'redeem', 'redeem', 'redeem', 'redeem', 'redeem', 'redeem', 'redeem', 'redeem',
		'assume', 'assume', 'assume', 'assume', 'assume', 'assume', 'assume', 'assume', 'assume', 'assume',
		'assume', 'assume',
		'end', 'end', 'end', 'end', 'end_admin', 'end_admin', 'end_admin', 'expire', 'expire', 'expire',
		'track(regclass, name, name, name)', 'track(regclass, regclass, name, name)', 'untrack', 'protect', 'unprotect',
		'note', 'note', 'note', 'purge_log', 'set_log_retention', 'verify_log', 'log_heads',
		'generic', 'generic', 'generic', 'generic', 'generic', 'generic', 'generic', 'generic',
		'.write', '.write', '.write', '.write', '.write', '.write', '.write', '.write', '.write', '.write',
		'.time'];
	-- the roles each function is granted to (others get 42501)
	admin_ops text[] := ARRAY['configure', 'bind', 'unbind', 'grant', 'revoke', 'permitted', 'set_assistance_as_admin',
		'check', 'store_choices', 'begin', 'begin_from', 'end_admin', 'expire'];
	audit_ops text[] := ARRAY['purge_log', 'set_log_retention'];
	web_ops text[] := ARRAY['redeem', 'assume', 'end', 'set_assistance_as_customer', '.write', 'note'];
	report_ops text[] := ARRAY['verify_log', 'log_heads'];
	roles text[] := ARRAY['fz_admin', 'fz_web', 'fz_report', 'fz_audit', 'fz_nobody'];
	settings text[] := ARRAY['enabled', 'disable_page_cache', 'store_view_selection', 'account_sharing',
		'ticket_ttl', 'session_ttl', 'require_reason'];
	kinds text[] := ARRAY['customers', 'admins', 'store_views', 'orders', 'invoices', 'shipments', 'credit_memos'];
	resources text[] := ARRAY['login', 'view_log', 'manage_assistance'];
	roles_shop text[] := ARRAY['Administrators', 'Support', 'Marketing', 'Nobody'];
	tokens text[];
	keys text[];
	tokens0 int;
	keys0 int;
	gen_oids oid[];
	gen_labels text[];
	p pg_proc;
	typ oid;
	lit text;
	tracked_ok boolean;
	happy boolean;
	ctx text;
	raw jsonb[] := '{}';
	raw_seen jsonb := '{}';
	current_customer bigint;
	stats jsonb := '{}';
	bad jsonb[] := '{}';
	op text;
	fn text;
	role text;
	args text;
	st text;
	msg text;
	k text;
	n int;
	calls int := 0;
	call_no bigint;
	a1 bigint; a2 bigint; a3 bigint; a4 bigint;
	t1 text; t2 text; t3 text; t4 text;
	b1 boolean;
	ts timestamptz;
	ip inet;
	rel regclass; rel2 regclass;
	j jsonb;
	res text;
BEGIN
	PERFORM setseed(p_seed);
	SELECT coalesce(array_agg(value ORDER BY id), '{}') INTO tokens FROM fz.secret WHERE kind = 'token';
	SELECT coalesce(array_agg(value ORDER BY id), '{}') INTO keys FROM fz.secret WHERE kind = 'key';
	SELECT c.calls INTO call_no FROM fz.counter c;
	tokens0 := cardinality(tokens);
	keys0 := cardinality(keys);
	-- every public function, labelled as the Perl side lists them
	SELECT array_agg(x.oid ORDER BY x.oid), array_agg(x.label ORDER BY x.oid) INTO gen_oids, gen_labels
	  FROM (SELECT pp.oid, CASE WHEN count(*) OVER (PARTITION BY pp.proname) > 1
								THEN pp.proname || '(' || oidvectortypes(pp.proargtypes) || ')' ELSE pp.proname END AS label
			  FROM pg_proc pp WHERE pp.pronamespace = 'loginas'::regnamespace AND pp.proname !~ '^_') x;

	WHILE calls < p_calls LOOP
		-- each chunk starts by calling every public function once (generic
		-- arguments), so even the rare ones are always covered
		op := CASE WHEN calls < least(cardinality(gen_oids), p_calls) THEN 'sweep' ELSE fz.pick(ops) END;
		IF op IN ('verify_log', 'log_heads') AND random() < 0.9 THEN
			CONTINUE;		-- they read the whole log: rarely
		END IF;
		fn := op;
		IF op IN ('sweep', 'generic') THEN
			n := CASE WHEN op = 'sweep' THEN calls + 1 ELSE fz.ri(1, cardinality(gen_oids))::int END;
			op := 'generic';
			SELECT * INTO p FROM pg_proc WHERE oid = gen_oids[n];
			fn := gen_labels[n];
			IF p.proname = 'purge_log' THEN
				-- every form (the label names the form: purge_log is overloaded) its
				-- own generator: never a time within the run (the checks need the run's rows)
				op := 'purge_log';
			END IF;
		END IF;
		IF op NOT LIKE '.%' THEN
			calls := calls + 1;
			call_no := call_no + 1;
		END IF;

		-- the role: the function's own (mostly), the superuser, or a wrong one
		IF random() < 0.3 OR op = '.time' THEN
			role := NULL;
		ELSIF random() < 0.8 THEN
			role := CASE WHEN op = ANY (admin_ops) THEN 'fz_admin' WHEN op = ANY (web_ops) THEN 'fz_web'
						 WHEN op = ANY (report_ops) THEN 'fz_report'
						 WHEN op = ANY (audit_ops) THEN 'fz_audit'
						 WHEN op IN ('set_assistance', 'assistance_allowed') THEN fz.pick(ARRAY['fz_admin', 'fz_web'])
						 WHEN op LIKE 'current%' OR op IN ('banner', 'in_session') THEN fz.pick(ARRAY['fz_admin', 'fz_web', 'fz_nobody'])
						 WHEN op = 'generic' THEN fz.pick(ARRAY[NULL, 'fz_admin', 'fz_web', 'fz_report', 'fz_audit'])
						 ELSE NULL END;
		ELSE
			role := fz.pick(roles);
		END IF;

		-- a third of the lifecycle calls take the arguments a real flow would
		-- (an active admin allowed to log in, a customer who allows it, the
		-- newest ticket or key as is), so the lifecycle gets deep
		happy := random() < 0.35;

		-- the secret a call will use
		k := NULL;
		IF op IN ('redeem', 'assume', 'end') THEN
			IF random() < 0.8 THEN
				-- mostly the newest, of the kind the function expects
				IF (op = 'redeem') = (random() < 0.85) THEN
					n := cardinality(tokens);
					IF n > 0 THEN k := tokens[CASE WHEN random() < 0.6 THEN n ELSE fz.ri(1, n)::int END]; END IF;
				ELSE
					n := cardinality(keys);
					IF n > 0 THEN k := keys[CASE WHEN random() < 0.6 THEN n ELSE fz.ri(1, n)::int END]; END IF;
				END IF;
			END IF;
			IF NOT happy THEN
				k := fz.mangle(k);
			END IF;
			IF happy THEN
				IF op = 'redeem' AND cardinality(tokens) > 0 THEN k := tokens[cardinality(tokens)]; END IF;
				IF op IN ('assume', 'end') AND cardinality(keys) > 0 THEN k := keys[cardinality(keys)]; END IF;
			END IF;
		END IF;

		args := NULL;
		current_customer := loginas.current_customer();
		tracked_ok := op <> '.write' OR EXISTS (SELECT FROM loginas.tracked t WHERE t.relation = 'shop.cart'::regclass
			AND t.created_column = 'loginas_created_session' AND t.changed_column = 'loginas_changed_session');
		BEGIN
			IF role IS NOT NULL THEN
				EXECUTE format('SET LOCAL ROLE %I', role);
			END IF;
			CASE op
			WHEN 'current_session' THEN EXECUTE 'SELECT loginas.current_session()::text' INTO res;
			WHEN 'current_admin' THEN EXECUTE 'SELECT loginas.current_admin()::text' INTO res;
			WHEN 'current_customer' THEN EXECUTE 'SELECT loginas.current_customer()::text' INTO res;
			WHEN 'current_store' THEN EXECUTE 'SELECT loginas.current_store()::text' INTO res;
			WHEN 'current_read_only' THEN EXECUTE 'SELECT loginas.current_read_only()::text' INTO res;
			WHEN 'banner' THEN EXECUTE 'SELECT loginas.banner()' INTO res;
			WHEN 'in_session' THEN EXECUTE 'SELECT loginas.in_session()::text' INTO res;
			WHEN 'configure' THEN
				t1 := fz.rtext(settings);
				t2 := CASE WHEN random() < 0.6 THEN
						CASE coalesce(t1, '') WHEN 'enabled' THEN fz.pick(ARRAY['on', 'off', 'on', 'yes', 'true', '1', 'f'])
							WHEN 'disable_page_cache' THEN fz.pick(ARRAY['on', 'off', 'maybe'])
							WHEN 'store_view_selection' THEN fz.pick(ARRAY['auto', 'manual', 'Manual', 'AUTO '])
							WHEN 'account_sharing' THEN fz.pick(ARRAY['global', 'website', 'store'])
							WHEN 'require_reason' THEN fz.pick(ARRAY['on', 'off', 'y', 'n'])
							ELSE fz.pick(ARRAY['1 second', '0.5 seconds', '0', '7 days', '7 days 1 second', '8 days',
								'-1 hour', 'infinity', '-infinity', '1 mon', 'P1D', 'PT1M', '@ 1 hour', '1e308 seconds',
								'178000000 years', '60', '00:00:01', '1 hour ago', 'abc', '2 minutes'])
						END
					  ELSE fz.rtext(ARRAY['on', 'off', 'auto', 'manual', 'global', 'website', '1 hour']) END;
				a1 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				args := format('%L, %L, %s', t1, t2, a1);
				EXECUTE 'SELECT loginas.configure($1, $2, $3)' INTO res USING t1, t2, a1;
			WHEN 'bind' THEN
				t1 := fz.rtext(kinds); rel := fz.rrel(false); a1 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				args := format('%L, %s, %s', t1, rel::oid, a1);
				EXECUTE 'SELECT loginas.bind($1, $2, $3)::text' INTO res USING t1, rel, a1;
			WHEN 'unbind' THEN
				t1 := fz.rtext(kinds); a1 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				args := format('%L, %s', t1, a1);
				EXECUTE 'SELECT loginas.unbind($1, $2)::text' INTO res USING t1, a1;
			WHEN 'grant' THEN
				t1 := fz.rtext(roles_shop); t2 := fz.rtext(resources); a1 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				args := format('%L, %L, %s', t1, t2, a1);
				EXECUTE 'SELECT loginas."grant"($1, $2, $3)::text' INTO res USING t1, t2, a1;
			WHEN 'revoke' THEN
				t1 := fz.rtext(roles_shop); t2 := fz.rtext(resources); a1 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				args := format('%L, %L, %s', t1, t2, a1);
				EXECUTE 'SELECT loginas."revoke"($1, $2, $3)::text' INTO res USING t1, t2, a1;
			WHEN 'permitted' THEN
				a1 := fz.rid(); t1 := fz.rtext(resources);
				args := format('%s, %L', a1, t1);
				EXECUTE 'SELECT loginas.permitted($1, $2)::text' INTO res USING a1, t1;
			WHEN 'set_assistance' THEN
				a1 := fz.rid(); b1 := fz.rbool(); ts := fz.rts(); a2 := CASE WHEN random() < 0.5 THEN NULL ELSE fz.rid() END;
				args := format('%s, %s, %L, %s', a1, b1, ts, a2);
				EXECUTE 'SELECT loginas.set_assistance($1, $2, $3, $4)::text' INTO res USING a1, b1, ts, a2;
			WHEN 'set_assistance_as_customer' THEN
				a1 := fz.rid(); b1 := fz.rbool(); ts := fz.rts();
				args := format('%s, %s, %L', a1, b1, ts);
				EXECUTE 'SELECT loginas.set_assistance_as_customer($1, $2, $3)::text' INTO res USING a1, b1, ts;
			WHEN 'set_assistance_as_admin' THEN
				a1 := fz.rid(); b1 := fz.rbool(); ts := fz.rts(); a2 := fz.rid();
				args := format('%s, %s, %L, %s', a1, b1, ts, a2);
				EXECUTE 'SELECT loginas.set_assistance_as_admin($1, $2, $3, $4)::text' INTO res USING a1, b1, ts, a2;
			WHEN 'assistance_allowed' THEN
				a1 := fz.rid(); args := a1::text;
				EXECUTE 'SELECT loginas.assistance_allowed($1)::text' INTO res USING a1;
			WHEN 'check' THEN
				a1 := fz.rid(); a2 := fz.rid(); args := format('%s, %s', a1, a2);
				EXECUTE 'SELECT c::text FROM loginas."check"($1, $2) c' INTO res USING a1, a2;
			WHEN 'store_choices' THEN
				a1 := fz.rid(); a2 := fz.rid(); args := format('%s, %s', a1, a2);
				EXECUTE 'SELECT count(*)::text FROM loginas.store_choices($1, $2)' INTO res USING a1, a2;
			WHEN 'begin' THEN
				a1 := fz.rid(); a2 := fz.rid(); a3 := CASE WHEN random() < 0.5 THEN NULL ELSE fz.rid() END;
				t1 := CASE WHEN random() < 0.5 THEN NULL ELSE fz.rtext(ARRAY['call 4711', 'ticket #42']) END;
				t2 := CASE WHEN random() < 0.5 THEN NULL ELSE fz.rtext(ARRAY['customer edit page', 'order 000000100']) END;
				b1 := fz.rbool(); ip := fz.rinet();
				IF happy THEN
					a1 := fz.pick(ARRAY[1, 2, 5]::bigint[]); a2 := fz.pick(ARRAY[1, 2, 4]::bigint[]); a3 := NULL;
					t1 := 'call 4711'; b1 := random() < 0.2;
				END IF;
				args := format('%s, %s, %s, %L, %L, %s, %L', a1, a2, a3, left(t1, 50), left(t2, 50), b1, ip);
				EXECUTE 'SELECT token FROM loginas.begin($1, $2, $3, $4, $5, $6, $7)' INTO res
					USING a1, a2, a3, t1, t2, b1, ip;
				IF res IS NOT NULL THEN tokens := tokens || res; END IF;
			WHEN 'begin_from' THEN
				a1 := fz.rid();
				t1 := fz.rtext(ARRAY['order', 'invoice', 'shipment', 'credit_memo', 'orders', 'credit memo']);
				a2 := CASE WHEN random() < 0.7 THEN fz.pick(ARRAY[100, 101, 102, 103, 200, 201]::bigint[]) ELSE fz.rid() END;
				a3 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				t2 := CASE WHEN random() < 0.5 THEN NULL ELSE fz.rtext(ARRAY['call 4711']) END;
				b1 := fz.rbool(); ip := fz.rinet();
				args := format('%s, %L, %s, %s, %L, %s, %L', a1, left(t1, 50), a2, a3, left(t2, 50), b1, ip);
				EXECUTE 'SELECT token FROM loginas.begin_from($1, $2, $3, $4, $5, $6, $7)' INTO res
					USING a1, t1, a2, a3, t2, b1, ip;
				IF res IS NOT NULL THEN tokens := tokens || res; END IF;
			WHEN 'redeem' THEN
				ip := fz.rinet(); args := format('<token>, %L', ip);
				EXECUTE 'SELECT session_key FROM loginas.redeem($1, $2)' INTO res USING k, ip;
				IF res IS NOT NULL THEN keys := keys || res; END IF;
			WHEN 'assume' THEN
				args := '<key>';
				EXECUTE 'SELECT loginas.assume($1)::text' INTO res USING k;
			WHEN 'end' THEN
				t1 := CASE WHEN random() < 0.3 THEN 'logout'
						   ELSE fz.rtext(ARRAY['logout', 'expired', 'customer_inactive', 'admin_logout', 'superseded']) END;
				args := format('<key>, %L', t1);
				IF random() < 0.2 THEN
					EXECUTE 'SELECT loginas."end"($1)::text' INTO res USING k;
				ELSE
					EXECUTE 'SELECT loginas."end"($1, $2)::text' INTO res USING k, t1;
				END IF;
			WHEN 'end_admin' THEN
				a1 := fz.rid();
				t1 := fz.rtext(ARRAY['admin_logout', 'admin_inactive', 'permission_revoked', 'logout']);
				args := format('%s, %L', a1, t1);
				IF random() < 0.3 THEN
					EXECUTE 'SELECT loginas.end_admin($1)::text' INTO res USING a1;
				ELSE
					EXECUTE 'SELECT loginas.end_admin($1, $2)::text' INTO res USING a1, t1;
				END IF;
			WHEN 'expire' THEN
				EXECUTE 'SELECT loginas.expire()::text' INTO res;
			WHEN 'track(regclass, name, name, name)' THEN
				rel := fz.rrel(true);
				t1 := fz.rtext(ARRAY['customer_id', 'customer_id', 'cart_id', 'note', 'nope', 'loginas_created_session']);
				IF rel IN ('shop.cart'::regclass, 'shop.cart_item', 'shop.wishlist') THEN
					-- stamps checked afterwards: the default names, or existing columns
					t2 := fz.pick(ARRAY['loginas_created_session', 'loginas_created_session', 'customer_id', 'note',
										'cart_id', 'sku', 'wishlist_id', 'sharing_code', NULL, '']);
					t3 := fz.pick(ARRAY['loginas_changed_session', 'loginas_changed_session', 'customer_id', 'note',
										'loginas_created_session', 'item_id', NULL]);
				ELSE
					t2 := fz.rtext(ARRAY['loginas_created_session', 'alt_created', 'customer_id', 'note']);
					t3 := fz.rtext(ARRAY['loginas_changed_session', 'alt_changed', 'loginas_created_session']);
				END IF;
				args := format('%s, %L, %L, %L', rel::oid, left(t1, 80), left(t2, 80), left(t3, 80));
				IF random() < 0.4 THEN
					EXECUTE 'SELECT loginas.track($1, $2::name)::text' INTO res USING rel, t1;
				ELSE
					EXECUTE 'SELECT loginas.track($1, $2::name, $3::name, $4::name)::text' INTO res USING rel, t1, t2, t3;
				END IF;
			WHEN 'track(regclass, regclass, name, name)' THEN
				rel := fz.rrel(true); rel2 := fz.rrel(true);
				IF rel IN ('shop.cart'::regclass, 'shop.cart_item', 'shop.wishlist') THEN
					t2 := fz.pick(ARRAY['loginas_created_session', 'loginas_created_session', 'cart_id', 'sku', NULL]);
					t3 := fz.pick(ARRAY['loginas_changed_session', 'loginas_changed_session', 'item_id', 'cart_id']);
				ELSE
					t2 := fz.rtext(ARRAY['loginas_created_session', 'alt_created', 'cart_id']);
					t3 := fz.rtext(ARRAY['loginas_changed_session', 'alt_changed']);
				END IF;
				args := format('%s, %s, %L, %L', rel::oid, rel2::oid, left(t2, 80), left(t3, 80));
				IF random() < 0.5 THEN
					EXECUTE 'SELECT loginas.track($1, parent => $2)::text' INTO res USING rel, rel2;
				ELSE
					EXECUTE 'SELECT loginas.track($1, $2, $3::name, $4::name)::text' INTO res USING rel, rel2, t2, t3;
				END IF;
			WHEN 'untrack' THEN
				rel := fz.rrel(true); args := rel::oid::text;
				EXECUTE 'SELECT loginas.untrack($1)::text' INTO res USING rel;
			WHEN 'protect' THEN
				rel := fz.rrel(true); t1 := fz.rtext(ARRAY['sharing_code', 'customer_id', 'note', 'sku', 'cart_id', 'nope']);
				args := format('%s, %L', rel::oid, left(t1, 80));
				EXECUTE 'SELECT loginas.protect($1, $2::name)::text' INTO res USING rel, t1;
			WHEN 'unprotect' THEN
				rel := fz.rrel(true); t1 := fz.rtext(ARRAY['sharing_code', 'customer_id', 'note', 'nope']);
				args := format('%s, %L', rel::oid, left(t1, 80));
				EXECUTE 'SELECT loginas.unprotect($1, $2::name)::text' INTO res USING rel, t1;
			WHEN 'note' THEN
				t1 := fz.rtext(ARRAY['Order Placed by Store Administrator', 'Cart Updated']); j := fz.rjson();
				IF happy THEN t1 := 'Order Placed by Store Administrator'; j := '{}'; END IF;
				args := format('%L, %L', left(t1, 80), left(j::text, 80));
				IF random() < 0.2 THEN
					EXECUTE 'SELECT loginas.note($1)::text' INTO res USING t1;
				ELSE
					EXECUTE 'SELECT loginas.note($1, $2)::text' INTO res USING t1, j;
				END IF;
			WHEN 'purge_log' THEN
				-- only times before the run (or in the future): the checks afterwards need the run's rows
				ts := fz.pick(ARRAY[NULL, '-infinity', 'infinity', '2000-01-01 00:00:00+00', '4713-01-01 00:00:00+00 BC',
									now() - interval '1 day', now() + interval '1 day', '294276-12-31 23:59:59+00']::timestamptz[]);
				a1 := CASE WHEN random() < 0.6 THEN NULL ELSE fz.rid() END;
				args := format('%L, %s', ts, a1);
				IF fn LIKE 'purge_log(%, text)' THEN
					EXECUTE 'SELECT loginas.purge_log($1, $2::text)::text' INTO res USING ts, a1;
				ELSE
					EXECUTE 'SELECT loginas.purge_log($1, $2)::text' INTO res USING ts, a1;
				END IF;
			WHEN 'set_log_retention' THEN
				t1 := fz.pick(ARRAY[NULL, '90 days', '1 day', '23 hours', '0', '-1 day', '1 mon -40 days', '100 years',
									'101 years', '3000000 mon -89999993 days']);
				args := quote_nullable(t1);
				EXECUTE 'SELECT loginas.set_log_retention($1::interval)::text' INTO res USING t1;
			WHEN 'verify_log' THEN
				EXECUTE 'SELECT v::text FROM loginas.verify_log() v' INTO res;
			WHEN 'log_heads' THEN
				EXECUTE 'SELECT count(*)::text FROM loginas.log_heads()' INTO res;
			WHEN 'generic' THEN
				args := '';
				FOR i IN 1 .. p.pronargs - fz.ri(0, p.pronargdefaults)::int LOOP
					typ := p.proargtypes[i - 1];
					lit := CASE
						WHEN typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype) THEN
							quote_nullable(fz.rid())
						WHEN typ IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype, 'bpchar'::regtype) THEN
							quote_nullable(fz.rtext(ARRAY['login', 'view_log', 'order', 'customers', 'Administrators',
								'logout', 'enabled', 'on', 'ticket_issued', 'write_insert', 'note', 'all']))
						WHEN typ = 'bool'::regtype THEN quote_nullable(fz.rbool())
						WHEN typ IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN quote_nullable(fz.rts())
						WHEN typ = 'inet'::regtype THEN quote_nullable(fz.rinet())
						WHEN typ IN ('jsonb'::regtype, 'json'::regtype) THEN quote_nullable(fz.rjson())
						WHEN typ = 'regclass'::regtype THEN quote_nullable(fz.rrel(false)::oid)
						WHEN typ = 'interval'::regtype THEN quote_nullable(fz.pick(ARRAY[NULL, '1 hour', '-1 day', '0',
							'infinity', '1000 years']))
						WHEN typ = 'text[]'::regtype THEN quote_nullable(fz.pick(ARRAY[NULL, '{}', '{login}', '{a,NULL}']))
						ELSE 'NULL' END;
					lit := lit || '::' || CASE WHEN typ = 'regclass'::regtype THEN 'oid::regclass' ELSE format_type(typ, NULL) END;
					args := args || CASE WHEN i > 1 THEN ', ' ELSE '' END || lit;
				END LOOP;
				EXECUTE format('SELECT count(*)::text FROM (SELECT loginas.%I(%s)) x', p.proname, args) INTO res;
				args := left(args, 300);
			WHEN '.write' THEN
				a1 := fz.rid(); a2 := fz.ri(0, 30);
				IF happy THEN a1 := coalesce(current_customer, fz.ri(1, 4)); END IF;
				n := fz.ri(1, 12)::int;
				IF n IN (9, 10) AND NOT tracked_ok THEN
					n := 2;		-- forging a stamp column of an untracked table is no forgery
				END IF;
				fn := '.write' || n;
				CASE n
				WHEN 1 THEN INSERT INTO shop.cart (customer_id, note) VALUES (a1, 'new');
				WHEN 2 THEN UPDATE shop.cart SET note = md5(random()::text) WHERE cart_id = a2;
				WHEN 3 THEN UPDATE shop.cart SET customer_id = a1 WHERE cart_id = a2;
				WHEN 4 THEN DELETE FROM shop.cart WHERE cart_id = a2;
				WHEN 5 THEN INSERT INTO shop.cart_item (cart_id, sku) VALUES (a2, 'sku');
				WHEN 6 THEN UPDATE shop.cart_item SET cart_id = a2 WHERE item_id = fz.ri(0, 30);
				WHEN 7 THEN INSERT INTO shop.wishlist (customer_id, sharing_code) VALUES (a1, CASE WHEN random() < 0.5 THEN 'x' END);
				WHEN 8 THEN UPDATE shop.wishlist SET sharing_code = md5(random()::text) WHERE wishlist_id = a2;
				WHEN 9 THEN INSERT INTO shop.cart (customer_id, note, loginas_created_session, loginas_changed_session)
								VALUES (fz.ri(1, 4), 'forged', fz.rid(), fz.rid());
				WHEN 10 THEN UPDATE shop.cart SET loginas_created_session = fz.rid(), loginas_changed_session = fz.rid()
								WHERE cart_id = a2;
				WHEN 11 THEN TRUNCATE shop.cart_item;
				ELSE DELETE FROM shop.cart_item WHERE item_id = a2;
				END CASE;
				-- containment as commit judges it: a refused write is rolled back here
				IF loginas.in_session() THEN
					PERFORM loginas.check_writes();
				END IF;
			WHEN '.time' THEN
				n := fz.ri(1, 7)::int;
				fn := '.time' || n;
				CASE n
				WHEN 1 THEN UPDATE loginas.session SET ticket_expires_at = now() - interval '1 second'
							 WHERE session_id = (SELECT max(session_id) FROM loginas.session WHERE ended_at IS NULL AND redeemed_at IS NULL);
				WHEN 2 THEN UPDATE loginas.session SET expires_at = now() - interval '1 second'
							 WHERE session_id = (SELECT max(session_id) FROM loginas.session WHERE ended_at IS NULL AND redeemed_at IS NOT NULL);
				WHEN 3 THEN UPDATE loginas.consent SET valid_until = now() - interval '1 second' WHERE customer_id = fz.ri(1, 4);
				WHEN 4 THEN UPDATE shop.customer SET is_active = NOT is_active WHERE customer_id = fz.ri(1, 4);
				WHEN 5 THEN UPDATE shop.admin SET is_active = NOT is_active WHERE admin_id = fz.ri(1, 5);
				WHEN 6 THEN UPDATE shop.admin SET role = fz.pick(ARRAY['Administrators', 'Support', 'Marketing']) WHERE admin_id = fz.ri(1, 5);
				ELSE UPDATE shop.store SET is_active = NOT is_active WHERE store_id = fz.ri(1, 4);
				END CASE;
			END CASE;
			IF role IS NOT NULL THEN
				RESET ROLE;
			END IF;
			st := 'ok';
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
			IF ctx ~ 'function loginas\.' AND NOT raw_seen ? (fn || '|' || st)
			   -- by design: set_assistance's caller lacks the privilege for the half it asked for
			   AND NOT (fn ~ '^set_assistance(\(|$)' AND msg ~ '^permission denied for function set_assistance_as_') THEN
				raw_seen := raw_seen || jsonb_build_object(fn || '|' || st, true);
				raw := raw || jsonb_build_object('call_no', call_no, 'fn', fn, 'sqlstate', st, 'message', fz.mask(msg),
					'context', fz.mask(ctx), 'args', fz.mask(format('%s as %s: %s', fn, coalesce(role, 'superuser'), args)));
			END IF;
			IF left(st, 2) IN ('XX', '58') THEN
				bad := bad || jsonb_build_object('call_no', call_no, 'fn', fn, 'sqlstate', st,
					'message', fz.mask(msg), 'args', fz.mask(format('%s as %s: %s', fn, coalesce(role, 'superuser'), args)));
			END IF;
		END;
		-- a stamp column is never the customer column, a key column or a foreign-key column
		IF st = 'ok' AND fn LIKE 'track(%' THEN
			SELECT string_agg(c, ', ') INTO msg
			  FROM loginas.tracked t,
				   unnest(ARRAY[t.created_column, t.changed_column]) c
			 WHERE t.relation = rel
			   AND (c = t.customer_column OR c = ANY (t.fk_columns)
					OR c = ANY (SELECT a.attname FROM pg_index i JOIN pg_attribute a
								  ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
								 WHERE i.indrelid = rel AND i.indisprimary));
			IF msg IS NOT NULL THEN
				st := 'INV';
				bad := bad || jsonb_build_object('call_no', call_no, 'fn', fn, 'sqlstate', st,
					'message', 'track() accepted a key column as a stamp column: ' || msg, 'args', fz.mask(args));
			END IF;
		END IF;
		stats := jsonb_set(stats, ARRAY[fn || '|' || st], to_jsonb(coalesce((stats ->> (fn || '|' || st))::bigint, 0) + 1));

		-- transaction boundaries at random (they end the transaction's context);
		-- every ~50 calls, after a COMMIT, the shop is made usable again
		IF random() < 0.10 THEN
			COMMIT;
			IF random() < 0.2 THEN
				PERFORM fz.repair();
				COMMIT;
			END IF;
		ELSIF random() < 0.02 THEN
			ROLLBACK;
		END IF;
	END LOOP;
	COMMIT;

	-- what happened (a ROLLBACK above never loses these: they were in variables)
	INSERT INTO fz.stats (fn, sqlstate, n)
	SELECT split_part(key, '|', 1), split_part(key, '|', 2), value::bigint FROM jsonb_each_text(stats)
	ON CONFLICT ON CONSTRAINT stats_pkey DO UPDATE SET n = fz.stats.n + EXCLUDED.n;
	INSERT INTO fz.bad SELECT (b ->> 'call_no')::bigint, b ->> 'fn', b ->> 'sqlstate', b ->> 'message', b ->> 'args'
	  FROM unnest(bad) b;
	INSERT INTO fz.raw SELECT (b ->> 'call_no')::bigint, b ->> 'fn', b ->> 'sqlstate', b ->> 'message', b ->> 'context',
		   b ->> 'args'
	  FROM unnest(raw) b;
	-- every token and key got back in this run (also in transactions rolled back since)
	INSERT INTO fz.secret (kind, value) SELECT 'token', t FROM unnest(tokens[tokens0 + 1:]) t;
	INSERT INTO fz.secret (kind, value) SELECT 'key', t FROM unnest(keys[keys0 + 1:]) t;
	UPDATE fz.counter SET calls = call_no;
END
$run$;
SQL
}
