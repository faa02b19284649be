
# 010_crash.pl
#	An immediate shutdown in the middle of impersonated writes and session
#	churn loses nothing loginas promised and invents nothing.
#
# Load (pgbench, 6 clients, as a shop role with loginas_admin and
# loginas_storefront): client n is admin n+1 working for customer n%3+1
# (so two admins share each customer and contend for the same rows).  Each
# pgbench iteration is a whole visit: begin (the token is recorded in
# tap.ticket in the same statement), redeem (the key into tap.session_key,
# likewise), a transaction that assumes the session, updates the customer's
# quote, inserts two quote items and tries a write to another customer's
# quote inside an exception block (refused, rolled back with its savepoint),
# a transaction that updates the quote again and deletes the customer's
# oldest item, and half of the time a logout (end).  Every tracked write is
# recorded in tap.witness in its own transaction, so a witness row exists
# exactly when the write committed.
# Besides the load, at the moment of the crash:
#	an open (uncommitted) transaction has written in session 9;
#	two prepared transactions have written in session 10.
# The node runs as a production shop would: loginas in
# shared_preload_libraries (the durable refusal log's queue and workers).
# The server is stopped in immediate mode (no checkpoint, no clean shutdown:
# crash recovery on restart) while pgbench is running.  Afterwards:
#	the prepared transactions survived; COMMIT PREPARED brings in their
#	writes with stamps and write log row, ROLLBACK PREPARED neither;
#	the open transaction's writes and their log rows are gone;
#	the refused writes are all in the log as failures, at least one per
#	committed visit (refusals are recorded although they raise; the ones
#	queued at the crash are written after the restart);
#	every committed tracked write has its stamps and its write_* log row,
#	every write_* log row has its committed write (multiset equality of
#	witnesses and logged keys; logged inserts exist or were deleted in a
#	logged delete; stamped rows have their logged insert; the quotes' last-
#	change stamps are the sessions that changed them last);
#	the refused writes left nothing;
#	every session row has exactly its ticket_issued / ticket_redeemed /
#	session_ended rows, and no log row names a session that does not exist;
#	no ticket became reusable: every recorded token is tried twice -- used or
#	cancelled tickets fail (28000), a still-live unredeemed one works once;
#	no session key became reusable: assume works exactly for live sessions;
#	one live ticket or session per admin (heap scan, and the unique index
#	checked with amcheck against the heap);
#	loginas.verify_log() reports the log intact, and still does after new
#	activity on the restarted server.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $clients = 6;

my $node = loginas_node('crash', preload => 1, conf => "max_prepared_transactions = 5\nmax_connections = 30\n");

# --- the shop ------------------------------------------------------------------------
# (LoginasTest.pm) customers and admins 1..10, role Support, every customer consenting
$node->safe_psql(
	'postgres', shop_setup_sql(
		customers => 10,
		admins => 10,
		# nothing may expire during the test: a refusal must come from use, not time
		settings => [ ticket_ttl => '1 hour', session_ttl => '1 day' ])
	  . q{
	CREATE EXTENSION amcheck;

	-- quote n belongs to customer n; items reach the customer through the quote
	CREATE TABLE shop.quote (quote_id int PRIMARY KEY, customer_id int NOT NULL, items int NOT NULL DEFAULT 0);
	CREATE TABLE shop.quote_item (quote_id int NOT NULL REFERENCES shop.quote, item_no bigint NOT NULL,
		sku text NOT NULL, qty int NOT NULL, PRIMARY KEY (quote_id, item_no));
	INSERT INTO shop.quote (quote_id, customer_id) SELECT n, n FROM generate_series(1, 10) n;
	SELECT loginas.track('shop.quote', 'customer_id');
	SELECT loginas.track('shop.quote_item', parent => 'shop.quote');

	-- what the test keeps: tokens and keys (never printed), and one witness
	-- per tracked write, committed with it
	CREATE SCHEMA tap;
	CREATE TABLE tap.ticket (ticket_id bigserial PRIMARY KEY, admin_id int NOT NULL, token text NOT NULL);
	CREATE TABLE tap.session_key (session_id bigint PRIMARY KEY, session_key text NOT NULL);
	CREATE TABLE tap.witness (witness_id bigserial PRIMARY KEY, session_id bigint NOT NULL,
		op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')), quote_id int NOT NULL, item_no bigint);
	CREATE SEQUENCE tap.item_no;

	CREATE ROLE shop_app LOGIN IN ROLE loginas_admin, loginas_storefront;
	GRANT USAGE ON SCHEMA shop, tap TO shop_app;
	GRANT SELECT, INSERT, UPDATE, DELETE ON shop.quote, shop.quote_item TO shop_app;
	GRANT SELECT, INSERT ON tap.ticket, tap.session_key, tap.witness TO shop_app;
	GRANT USAGE ON ALL SEQUENCES IN SCHEMA tap TO shop_app;

	-- sessions 9 and 10 (admin n as customer n) for the open and the prepared transactions
	INSERT INTO tap.ticket (admin_id, token) SELECT n, (loginas.begin(n, n)).token FROM generate_series(9, 10) n;
	INSERT INTO tap.session_key SELECT r.session_id, r.session_key
		FROM tap.ticket t, LATERAL loginas.redeem(t.token) r ORDER BY t.ticket_id;
});
my $q = sub { $node->safe_psql('postgres', shift) };

# --- the load -----------------------------------------------------------------------------
my $script = <<'EOS';
\set admin :client_id + 1
\set cust :client_id % 3 + 1
INSERT INTO tap.ticket (admin_id, token) SELECT :admin, t.token FROM loginas.begin(:admin, :cust) t RETURNING token \gset
INSERT INTO tap.session_key (session_id, session_key) SELECT r.session_id, r.session_key FROM loginas.redeem(':token') r RETURNING session_key AS key \gset
BEGIN;
SELECT loginas.assume(':key');
UPDATE shop.quote SET items = items + 2 WHERE quote_id = :cust;
INSERT INTO tap.witness (session_id, op, quote_id) VALUES (loginas.current_session(), 'update', :cust);
WITH i AS (INSERT INTO shop.quote_item (quote_id, item_no, sku, qty) VALUES (:cust, nextval('tap.item_no'), 'a', 1), (:cust, nextval('tap.item_no'), 'b', 2) RETURNING quote_id, item_no) INSERT INTO tap.witness (session_id, op, quote_id, item_no) SELECT loginas.current_session(), 'insert', quote_id, item_no FROM i;
DO $$ BEGIN UPDATE shop.quote SET items = items + 1000 WHERE quote_id = 8; RAISE EXCEPTION 'a write to another customer was not refused'; EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;
COMMIT;
BEGIN;
SELECT loginas.assume(':key');
UPDATE shop.quote SET items = items - 1 WHERE quote_id = :cust;
INSERT INTO tap.witness (session_id, op, quote_id) VALUES (loginas.current_session(), 'update', :cust);
WITH d AS (DELETE FROM shop.quote_item WHERE quote_id = :cust AND item_no = (SELECT min(item_no) FROM shop.quote_item WHERE quote_id = :cust) RETURNING quote_id, item_no) INSERT INTO tap.witness (session_id, op, quote_id, item_no) SELECT loginas.current_session(), 'delete', quote_id, item_no FROM d;
COMMIT;
\set logout random(0, 1)
\if :logout = 1
SELECT loginas."end"(':key');
\endif
EOS
my $script_file = $node->basedir . '/visit.sql';
PostgreSQL::Test::Utils::append_to_file($script_file, $script);

# the open transaction (session 9) and the prepared ones (session 10)
my $assume = sub {
	"SELECT loginas.assume(session_key) FROM tap.session_key k JOIN loginas.session s USING (session_id)
	  WHERE s.admin_id = $_[0]";
};
my $items = sub {
	my ($quote, @nos) = @_;
	my $values = join(', ', map { "($quote, $_, 'x', 1)" } @nos);
	"WITH i AS (INSERT INTO shop.quote_item (quote_id, item_no, sku, qty) VALUES $values RETURNING quote_id, item_no)
	 INSERT INTO tap.witness (session_id, op, quote_id, item_no)
	 SELECT loginas.current_session(), 'insert', quote_id, item_no FROM i";
};
my $prep = $node->background_psql('postgres');
$prep->query_safe('BEGIN');
$prep->query_safe($assume->(10));
$prep->query_safe($items->(10, 910001, 910002));
$prep->query_safe("PREPARE TRANSACTION 'tap_commit'");
$prep->query_safe('BEGIN');
$prep->query_safe($assume->(10));
$prep->query_safe($items->(10, 920001));
$prep->query_safe("PREPARE TRANSACTION 'tap_rollback'");
$prep->quit;
is($q->(q{SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts}),
	'tap_commit,tap_rollback', 'two prepared transactions with writes in session 10');

my ($pb_out, $pb_err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-U', 'shop_app',
		'-c', $clients, '-j', 2, '-T', 120, '-M', 'simple', '-f', $script_file, 'postgres'
	],
	'>', \$pb_out, '2>', \$pb_err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));

my $inflight = $node->background_psql('postgres');
$inflight->query_safe('BEGIN');
$inflight->query_safe($assume->(9));
$inflight->query_safe($items->(9, 900001, 900002));

# crash once the load has done a fair amount of everything
ok( $node->poll_query_until(
		'postgres', q{SELECT (SELECT count(*) FROM tap.witness WHERE op = 'delete') >= 400
			AND (SELECT count(*) FROM loginas.session WHERE end_reason = 'logout') >= 80
			AND (SELECT count(*) FROM loginas.session WHERE end_reason = 'superseded') >= 80}),
	'the load is running: deletes, logouts and superseded sessions are committed');
$pgbench->pump_nb;
ok($pgbench->pumpable, 'pgbench is still running when the server is stopped');
my $err_before = $pb_err;
my $witness_before = $q->('SELECT count(*) FROM tap.witness');
$node->stop('immediate');
my $crashed_at = -s $node->logfile;

# pgbench loses its connections and ends; its earlier output shows no failures
$pgbench->finish;
is(join("\n", grep { /ERROR|aborted in command/ } split /\n/, $err_before), '',
	'pgbench: no client failed before the crash');
$inflight->{run}->kill_kill;

$node->start;
like(substr(slurp_file($node->logfile), $crashed_at),
	qr/database system was not properly shut down; automatic recovery in progress/,
	'the restart ran crash recovery');
my $witness_n = $q->('SELECT count(*) FROM tap.witness');
cmp_ok($witness_n, '>=', $witness_before, "committed writes survived ($witness_n witnessed)");
note("at the crash: $witness_n tracked writes, "
	  . $q->('SELECT count(*) FROM loginas.session') . ' tickets/sessions, '
	  . $q->('SELECT count(*) FROM loginas.action_log') . ' log rows');

# --- prepared and open transactions -----------------------------------------------
is($q->(q{SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts}),
	'tap_commit,tap_rollback', 'both prepared transactions survived the crash');
$q->(q{COMMIT PREPARED 'tap_commit'});
$q->(q{ROLLBACK PREPARED 'tap_rollback'});
my $s10 = $q->('SELECT session_id FROM loginas.session WHERE admin_id = 10');
is( $q->(
		q{SELECT string_agg(item_no || ':' || loginas_created_session || ':' || loginas_changed_session, ',' ORDER BY item_no)
		    FROM shop.quote_item WHERE quote_id = 10}),
	"910001:$s10:$s10,910002:$s10:$s10",
	'COMMIT PREPARED after the crash: its rows exist with session 10 in both stamps; the rolled-back one does not');
is( $q->(
		qq{SELECT string_agg(details ->> 'keys', ',') FROM loginas.action_log
		    WHERE session_id = $s10 AND action IN ('write_insert', 'write_update', 'write_delete')}),
	'[["10", "910001"], ["10", "910002"]]',
	'... and exactly their write_insert log row (written when prepared)');
my $s9 = $q->('SELECT session_id FROM loginas.session WHERE admin_id = 9');
is( $q->(
		qq{SELECT (SELECT count(*) FROM shop.quote_item WHERE quote_id = 9)
		       || ',' || (SELECT count(*) FROM loginas.action_log WHERE session_id = $s9 AND action IN ('write_insert', 'write_update', 'write_delete'))
		       || ',' || (SELECT count(*) FROM tap.witness WHERE session_id = $s9)}),
	'0,0,0', 'the transaction open at the crash: no rows, no log rows');

# --- the refused writes: recorded though they raised (durable refusal log) -------------------
# every pgbench visit's first transaction made one refused write, committed or
# not; the worker writes them asynchronously, the queued ones after the restart
# (a refusal met by a full queue is not queued, and says so: discounted; a
# summary row of one backend's excess counts for the refusals it stands for)
my $first_tx = $q->(q{SELECT count(*) / 2 FROM tap.witness WHERE op = 'insert' AND quote_id <= 3});
my $not_queued = () = $pb_err =~ /the durable refusal log is full/g;
ok( $node->poll_query_until(
		'postgres', qq{SELECT coalesce(sum(coalesce((details->>'coalesced')::bigint, 1)), 0) >= $first_tx - $not_queued
		  FROM loginas.action_log WHERE action = 'write_refused' AND result = 'failure' AND session_id IS NOT NULL}),
	"the refused writes of all $first_tx committed visits are in the log as failures (none lost in the crash)");
is(join("\n", grep { /WARNING/ && !/the durable refusal log is full/ } split /\n/, $err_before), '',
	'pgbench: no other warning before the crash');
note("refusals not queued (queue full): $not_queued");
note('refused writes recorded: '
	  . $q->(q{SELECT count(*) FROM loginas.action_log WHERE action = 'write_refused'})
	  . ", committed visits: $first_tx");
is( $q->(
		q{SELECT count(*) FROM loginas.action_log l JOIN loginas.session s USING (session_id)
		   WHERE l.action = 'write_refused'
		     AND (l.admin_id, l.customer_id) IS DISTINCT FROM (s.admin_id, s.customer_id)}),
	'0', 'each refused write is recorded under its session\'s admin and customer');

# --- tracked writes vs their log -------------------------------------------------------
$q->(
	q{CREATE VIEW tap.logged AS
	  SELECT l.log_id, l.session_id, substr(l.action, 7) AS op, (k ->> 0)::int AS quote_id, (k ->> 1)::bigint AS item_no
	    FROM loginas.action_log l, jsonb_array_elements(l.details -> 'keys') k
	   WHERE l.action IN ('write_insert', 'write_update', 'write_delete')});
is( $q->(
		q{SELECT count(*) FROM loginas.action_log
		   WHERE action IN ('write_insert', 'write_update', 'write_delete') AND details ->> 'table' NOT IN ('shop.quote', 'shop.quote_item')}),
	'0', 'write log rows only for the tracked tables');
is( $q->(
		q{SELECT count(*) FROM loginas.action_log
		   WHERE action IN ('write_insert', 'write_update', 'write_delete')
		     AND ((details ->> 'table' = 'shop.quote') <> (jsonb_array_length(details -> 'keys' -> 0) = 1)
		          OR (details ->> 'rows')::int <> jsonb_array_length(details -> 'keys'))}),
	'0', 'every write log row lists as many keys as rows, of its table\'s shape');
is( $q->(
		q{SELECT (SELECT count(*) FROM (SELECT session_id, op, quote_id, item_no FROM tap.witness
		                                EXCEPT ALL SELECT session_id, op, quote_id, item_no FROM tap.logged) a)
		    || ',' || (SELECT count(*) FROM (SELECT session_id, op, quote_id, item_no FROM tap.logged
		                                EXCEPT ALL SELECT session_id, op, quote_id, item_no FROM tap.witness) b)}),
	'0,0',
	'committed writes and logged writes are the same multiset (session, operation, key): none missing, none extra');
is( $q->(
		q{SELECT count(*) FROM tap.logged g
		   WHERE g.op = 'insert'
		     AND NOT EXISTS (SELECT FROM shop.quote_item i WHERE (i.quote_id, i.item_no) = (g.quote_id, g.item_no))
		     AND NOT EXISTS (SELECT FROM tap.logged d WHERE d.op = 'delete' AND d.log_id > g.log_id
		                      AND (d.quote_id, d.item_no) = (g.quote_id, g.item_no))}),
	'0', 'every logged insert exists, or was deleted by a later logged delete');
is( $q->(
		q{SELECT count(*) FROM tap.logged d
		   WHERE d.op = 'delete'
		     AND EXISTS (SELECT FROM shop.quote_item i WHERE (i.quote_id, i.item_no) = (d.quote_id, d.item_no))}),
	'0', 'no logged delete left its row');
is( $q->(
		q{SELECT count(*) FROM shop.quote_item i
		   WHERE i.loginas_created_session IS DISTINCT FROM i.loginas_changed_session
		      OR NOT EXISTS (SELECT FROM tap.logged g WHERE g.op = 'insert'
		                      AND (g.session_id, g.quote_id, g.item_no) = (i.loginas_created_session, i.quote_id, i.item_no))}),
	'0', 'every item row carries the session that inserted it, and that session logged inserting it');
is( $q->(
		q{SELECT count(*) FROM shop.quote q
		    LEFT JOIN LATERAL (SELECT w.session_id FROM tap.witness w WHERE w.op = 'update' AND w.quote_id = q.quote_id
		                        ORDER BY w.witness_id DESC LIMIT 1) last ON true
		   WHERE q.loginas_changed_session IS DISTINCT FROM last.session_id OR q.loginas_created_session IS NOT NULL}),
	'0', 'every quote\'s last-change stamp is the session that changed it last (NULL if none did)');
is($q->(q{SELECT items FROM shop.quote WHERE quote_id = 8}), '0',
	'the refused writes to another customer\'s quote left nothing');
is( $q->(
		q{SELECT count(*) FROM loginas.action_log l JOIN loginas.session s USING (session_id)
		   WHERE l.action IN ('write_insert', 'write_update', 'write_delete')
		     AND (l.admin_id, l.customer_id, l.store_id) IS DISTINCT FROM (s.admin_id, s.customer_id, s.store_id)}),
	'0', 'write log rows name their session\'s admin, customer and store');

# --- sessions vs their log ----------------------------------------------------------------
is( $q->(
		q{SELECT count(*) FROM loginas.session s
		   WHERE (SELECT count(*) FROM loginas.action_log l
		           WHERE l.session_id = s.session_id AND l.action = 'ticket_issued') <> 1
		      OR (SELECT count(*) FROM loginas.action_log l
		           WHERE l.session_id = s.session_id AND l.action = 'ticket_redeemed') <> (s.redeemed_at IS NOT NULL)::int
		      OR (SELECT count(*) FROM loginas.action_log l
		           WHERE l.session_id = s.session_id AND l.action = 'session_ended'
		             AND l.details ->> 'end_reason' = s.end_reason) <> (s.ended_at IS NOT NULL)::int}),
	'0', 'every ticket/session has exactly its issued, redeemed and ended log rows');
is( $q->(
		q{SELECT count(*) FROM loginas.action_log l
		   WHERE l.session_id IS NOT NULL AND NOT EXISTS (SELECT FROM loginas.session s WHERE s.session_id = l.session_id)}),
	'0', 'no log row names a session that does not exist');
is( $q->(
		q{SELECT (SELECT count(*) FROM tap.ticket t WHERE NOT EXISTS
		            (SELECT FROM loginas.session s WHERE s.ticket_hash = loginas._hash(t.token)))
		    || ',' || (SELECT count(*) FROM tap.session_key k JOIN loginas.session s USING (session_id)
		                WHERE s.key_hash IS DISTINCT FROM loginas._hash(k.session_key))}),
	'0,0', 'every token and key a client received belongs to its committed ticket/session');

# --- one live ticket or session per admin ---------------------------------------------
is( $q->(
		q{SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;
		  SELECT count(*) FROM (SELECT admin_id FROM loginas.session WHERE ended_at IS NULL
		                         GROUP BY admin_id HAVING count(*) > 1) x}),
	'0', 'at most one live ticket or session per admin (read from the heap)');
like( $q->(
		q{SELECT count(*) || ',' || bool_or(relname = 'session_one_live_per_admin')
		    FROM (SELECT c.relname, bt_index_check(c.oid, true)
		            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		           WHERE am.amname = 'btree'
		             AND i.indrelid IN ('loginas.session'::regclass, 'loginas.action_log'::regclass,
		                                'loginas.log_chain'::regclass)) x}),
	qr/^\d+,true$/, 'amcheck: every index of the session and log tables (one-live-per-admin too) matches its heap');

# --- no ticket and no session key became reusable -------------------------------------------
$q->(
	q{CREATE TABLE tap.replay (kind text, id bigint, used boolean, attempt int, ok boolean, sqlstate text);
	  DO $$
	  DECLARE
	    t record;
	    st text;
	  BEGIN
	    FOR t IN SELECT k.ticket_id, k.token, (s.redeemed_at IS NOT NULL OR s.ended_at IS NOT NULL) AS used
	               FROM tap.ticket k JOIN loginas.session s ON s.ticket_hash = loginas._hash(k.token)
	              ORDER BY k.ticket_id
	    LOOP
	      FOR a IN 1 .. 2 LOOP
	        BEGIN
	          PERFORM * FROM loginas.redeem(t.token);
	          INSERT INTO tap.replay VALUES ('ticket', t.ticket_id, t.used, a, true, NULL);
	        EXCEPTION WHEN OTHERS THEN
	          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
	          INSERT INTO tap.replay VALUES ('ticket', t.ticket_id, t.used, a, false, st);
	        END;
	      END LOOP;
	    END LOOP;
	    -- a session key: assume in a subtransaction, then roll it back (context and all)
	    FOR t IN SELECT k.session_id, k.session_key, s.ended_at IS NOT NULL AS used
	               FROM tap.session_key k JOIN loginas.session s USING (session_id) ORDER BY k.session_id
	    LOOP
	      BEGIN
	        PERFORM loginas.assume(t.session_key);
	        RAISE EXCEPTION 'assumed' USING ERRCODE = 'TAP01';
	      EXCEPTION WHEN OTHERS THEN
	        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
	        INSERT INTO tap.replay VALUES ('key', t.session_id, t.used, 1, st = 'TAP01', NULLIF(st, 'TAP01'));
	      END;
	    END LOOP;
	  END
	  $$;});
my $replay = $q->(
	q{SELECT count(*) FILTER (WHERE kind = 'ticket' AND used) || ',' ||
	         count(*) FILTER (WHERE kind = 'ticket' AND NOT used) || ',' ||
	         count(*) FILTER (WHERE kind = 'key' AND used) || ',' ||
	         count(*) FILTER (WHERE kind = 'key' AND NOT used)
	    FROM tap.replay WHERE attempt = 1});
my ($used_tickets, $live_tickets, $ended_keys, $live_keys) = split /,/, $replay;
note("replayed $used_tickets used and $live_tickets live tickets, $ended_keys ended and $live_keys live session keys");
cmp_ok($used_tickets, '>=', 160, 'many used tickets to replay');
is( $q->(q{SELECT count(*) FROM tap.replay WHERE kind = 'ticket' AND used AND (ok OR sqlstate <> '28000')}),
	'0', 'no used or cancelled ticket can be redeemed after the crash (28000, twice each)');
is( $q->(
		q{SELECT count(*) FROM tap.replay WHERE kind = 'ticket' AND NOT used
		   AND ((attempt = 1 AND ok) OR (attempt = 2 AND NOT ok AND sqlstate = '28000'))}),
	$live_tickets * 2, 'a ticket still live at the crash redeems once, then never again');
is( $q->(
		q{SELECT count(*) FROM tap.replay WHERE kind = 'key' AND ok IS DISTINCT FROM NOT used
		      OR (kind = 'key' AND NOT ok AND sqlstate <> '28000')}),
	'0', 'session keys: assume works for exactly the live sessions; ended ones are refused (28000)');
cmp_ok($ended_keys, '>=', 160, 'many ended sessions tried');
cmp_ok($live_keys, '>=', 2, 'and some live ones');

# --- the log's chains ---------------------------------------------------------------------
is($q->(q{SELECT intact || ' ' || problem FROM loginas.verify_log()}), 'true intact',
	'verify_log(): the log is intact after the crash');

# life goes on: a new session on the restarted server, a write, verify again
$q->(
	q{INSERT INTO tap.ticket (admin_id, token) SELECT 1, token FROM loginas.begin(1, 1);
	  INSERT INTO tap.session_key SELECT r.session_id, r.session_key
	    FROM loginas.redeem((SELECT token FROM tap.ticket ORDER BY ticket_id DESC LIMIT 1)) r;});
$q->(
	q{BEGIN;
	  SELECT loginas.assume(session_key) FROM tap.session_key ORDER BY session_id DESC LIMIT 1;
	  INSERT INTO shop.quote_item VALUES (1, 999999, 'after', 1);
	  COMMIT;});
is( $q->(
		q{SELECT count(*) FROM tap.logged g JOIN shop.quote_item i USING (quote_id, item_no)
		   WHERE i.item_no = 999999 AND g.op = 'insert' AND g.session_id = i.loginas_created_session}),
	'1', 'after the restart, a new session writes, stamped and logged');
is($q->(q{SELECT intact || ' ' || problem FROM loginas.verify_log()}), 'true intact',
	'verify_log(): still intact after new activity on the restarted server');

$node->stop;
done_testing();
