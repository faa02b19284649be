
# 001_context_boundary.pl
#	The impersonation context set by loginas.assume() belongs to ONE transaction.
#
# Behind a transaction-pooling connection pooler one backend serves many
# clients, one transaction each; so the context must end with the transaction
# that made it -- COMMIT, ROLLBACK, an error, PREPARE TRANSACTION -- and a
# subtransaction that rolls back must take an assume() made inside it along.
# Nothing a client can SET or set_config() may create or change it.
# Checked through every reader: current_session/admin/customer/store/
# read_only(), banner() and in_session() (the tracked tables' trigger filter).
#
# Everything below runs on ONE persistent psql connection (BackgroundPsql),
# i.e. one backend across all transactions; pg_backend_pid() proves it.
#
# Needs (as for any PostgreSQL TAP test outside the source tree):
#	PATH with /usr/lib/postgresql/15/bin first, PERL5LIB with
#	/usr/lib/postgresql/15/lib/pgxs/src/test/perl and test/ (LoginasTest.pm,
#	what the TAP tests share), PG_REGRESS (pg_regress, for
#	--config-auth), TESTDIR (where tmp_check/ goes); loginas installed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $node = loginas_node('context_boundary', conf => "max_prepared_transactions = 5\n");

# A tiny shop, bound; admin 1 may log in as customer 1, who allows it.  The
# session key is random: it stays in a table (tap.secret) and is never printed.
$node->safe_psql(
	'postgres', shop_setup_sql() . q{
	CREATE SCHEMA tap;
	CREATE TABLE tap.secret AS
		SELECT session_id, session_key FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1)));
	CREATE ROLE shop_storefront LOGIN IN ROLE loginas_storefront;
	GRANT USAGE ON SCHEMA tap TO shop_storefront;
	GRANT SELECT ON tap.secret TO shop_storefront;
});
my $session_id = $node->safe_psql('postgres', 'SELECT session_id FROM tap.secret');
like($session_id, qr/^\d+$/, 'a redeemed session to act in');

my $assume = 'SELECT loginas.assume((SELECT session_key FROM tap.secret))';
my $context = q{SELECT concat_ws(',', COALESCE(loginas.current_session()::text, 'NULL'),
	COALESCE(loginas.current_admin()::text, 'NULL'), COALESCE(loginas.current_customer()::text, 'NULL'),
	COALESCE(loginas.current_store()::text, 'NULL'), COALESCE(loginas.current_read_only()::text, 'NULL'),
	COALESCE(loginas.banner(), 'NULL'), loginas.in_session()::text)};
my $in_session =
  "$session_id,1,1,1,false,You are connected as Veronica Costello on Main Website,true";
my $no_session = 'NULL,NULL,NULL,NULL,NULL,NULL,false';

# one connection = one backend for everything below; errors do not stop it
my $psql = $node->background_psql('postgres', on_error_stop => 0);

# run SQL on the persistent connection: (stdout, stderr of this query only)
sub run
{
	my ($sql) = @_;
	return background_query($psql, $sql);
}

# run SQL that must succeed without any message; returns stdout
sub run_ok
{
	my ($sql, $name) = @_;
	my ($out, $err) = run($sql);
	is($err, '', "$name: no error") or diag("SQL: $sql");
	return $out;
}

my $pid = run_ok('SELECT pg_backend_pid()', 'backend pid');
like($pid, qr/^\d+$/, 'backend pid read');

sub same_backend
{
	my ($when) = @_;
	is(run_ok('SELECT pg_backend_pid()', "pid $when"), $pid, "same backend $when");
}

is(run_ok($context, 'fresh connection'), $no_session, 'no context on a fresh connection');

# --- COMMIT -------------------------------------------------------------------
run_ok('BEGIN', 'commit case: BEGIN');
is(run_ok($assume, 'commit case: assume'), $session_id, 'assume returns the session id');
is(run_ok($context, 'commit case: in transaction'), $in_session,
	'inside the transaction: session, admin, customer, store, read_only, banner, in_session');
is(run_ok($context, 'commit case: next statement'), $in_session,
	'the context lasts for the whole transaction (a later statement sees it)');
run_ok('COMMIT', 'commit case: COMMIT');
is(run_ok($context, 'after COMMIT'), $no_session, 'after COMMIT: no context');
same_backend('after COMMIT');

# --- ROLLBACK -----------------------------------------------------------------
run_ok('BEGIN', 'rollback case: BEGIN');
run_ok($assume, 'rollback case: assume');
is(run_ok('SELECT loginas.current_customer()', 'rollback case: in transaction'), '1',
	'inside the transaction: customer 1');
run_ok('ROLLBACK', 'rollback case: ROLLBACK');
is(run_ok($context, 'after ROLLBACK'), $no_session, 'after ROLLBACK: no context');
same_backend('after ROLLBACK');

# --- an error inside the transaction --------------------------------------------
run_ok('BEGIN', 'error case: BEGIN');
run_ok($assume, 'error case: assume');
my ($out, $err) = run('SELECT 1/0');
like($err, qr/division by zero/, 'error case: the transaction fails');
($out, $err) = run('SELECT loginas.current_customer()');
like($err, qr/current transaction is aborted/, 'error case: the aborted transaction runs nothing');
run_ok('ROLLBACK', 'error case: ROLLBACK');
is(run_ok($context, 'after error + ROLLBACK'), $no_session, 'after an error and ROLLBACK: no context');

# COMMIT of a failed transaction is a rollback too
run_ok('BEGIN', 'error+commit case: BEGIN');
run_ok($assume, 'error+commit case: assume');
($out, $err) = run('SELECT 1/0');
like($err, qr/division by zero/, 'error+commit case: the transaction fails');
($out, $err) = run('COMMIT');
is($err, '', 'error+commit case: COMMIT of a failed transaction (rolls back)');
is(run_ok($context, 'after error + COMMIT'), $no_session, 'after an error and COMMIT: no context');
same_backend('after errors');

# --- subtransactions ------------------------------------------------------------
# assume() inside a savepoint that is rolled back after an error: gone at once
run_ok('BEGIN', 'savepoint case: BEGIN');
run_ok('SAVEPOINT s1', 'savepoint case: SAVEPOINT');
run_ok($assume, 'savepoint case: assume inside the savepoint');
is(run_ok('SELECT loginas.current_customer()', 'savepoint case: inside'), '1',
	'inside the savepoint: customer 1');
($out, $err) = run('SELECT 1/0');
like($err, qr/division by zero/, 'savepoint case: an error inside the savepoint');
run_ok('ROLLBACK TO SAVEPOINT s1', 'savepoint case: ROLLBACK TO SAVEPOINT');
is(run_ok($context, 'after ROLLBACK TO SAVEPOINT'), $no_session,
	'after ROLLBACK TO SAVEPOINT (assume was inside it): no context, still in the transaction');
is(run_ok(q{SELECT 't'}, 'savepoint case: tx alive'),
	't', 'the outer transaction goes on');
run_ok('COMMIT', 'savepoint case: COMMIT');
is(run_ok($context, 'savepoint case: after COMMIT'), $no_session, 'and after COMMIT: no context');

# the same without an error: ROLLBACK TO SAVEPOINT alone discards it too
run_ok('BEGIN', 'savepoint-noerror case: BEGIN');
run_ok('SAVEPOINT s1', 'savepoint-noerror case: SAVEPOINT');
run_ok($assume, 'savepoint-noerror case: assume');
run_ok('ROLLBACK TO SAVEPOINT s1', 'savepoint-noerror case: ROLLBACK TO SAVEPOINT');
is(run_ok($context, 'savepoint-noerror case'), $no_session,
	'ROLLBACK TO SAVEPOINT without an error: no context');
run_ok('ROLLBACK', 'savepoint-noerror case: ROLLBACK');

# assume() made before the savepoint survives its rollback, until the transaction ends
run_ok('BEGIN', 'outer-assume case: BEGIN');
run_ok($assume, 'outer-assume case: assume');
run_ok('SAVEPOINT s1', 'outer-assume case: SAVEPOINT');
($out, $err) = run('SELECT 1/0');
like($err, qr/division by zero/, 'outer-assume case: an error inside the savepoint');
run_ok('ROLLBACK TO SAVEPOINT s1', 'outer-assume case: ROLLBACK TO SAVEPOINT');
is(run_ok($context, 'outer-assume case: after ROLLBACK TO'), $in_session,
	'assume() made before the savepoint outlives its rollback');
run_ok('COMMIT', 'outer-assume case: COMMIT');
is(run_ok($context, 'outer-assume case: after COMMIT'), $no_session, 'but not the COMMIT');

# assume() inside a savepoint that is RELEASEd: belongs to the transaction, ends with it
run_ok('BEGIN', 'release case: BEGIN');
run_ok('SAVEPOINT s1', 'release case: SAVEPOINT');
run_ok($assume, 'release case: assume');
run_ok('RELEASE SAVEPOINT s1', 'release case: RELEASE');
is(run_ok('SELECT loginas.current_customer()', 'release case: after RELEASE'), '1',
	'after RELEASE SAVEPOINT the context belongs to the transaction');
run_ok('SAVEPOINT s2', 'release case: second SAVEPOINT');
run_ok('ROLLBACK TO SAVEPOINT s2', 'release case: ROLLBACK TO a later savepoint');
is(run_ok('SELECT loginas.current_customer()', 'release case: after later rollback'), '1',
	'rolling back a later savepoint leaves it');
run_ok('ROLLBACK', 'release case: ROLLBACK');
is(run_ok($context, 'release case: after ROLLBACK'), $no_session, 'after ROLLBACK: no context');

# a PL/pgSQL exception block is a subtransaction too
run_ok('BEGIN', 'exception-block case: BEGIN');
run_ok(
	q{DO $$
BEGIN
	PERFORM loginas.assume((SELECT session_key FROM tap.secret));
	PERFORM 1/0;
EXCEPTION WHEN division_by_zero THEN
	NULL;
END
$$},
	'exception-block case: assume, error, caught');
is(run_ok($context, 'exception-block case'), $no_session,
	'assume() in an exception block whose error was caught: no context');
run_ok('COMMIT', 'exception-block case: COMMIT');
same_backend('after the subtransaction cases');

# --- the next transaction on the same backend (transaction pooling) ----------------
run_ok('BEGIN', 'pool case: BEGIN');
run_ok($assume, 'pool case: assume');
run_ok('COMMIT', 'pool case: COMMIT');
run_ok('BEGIN', 'pool case: the next client\'s BEGIN');
is(run_ok($context, 'pool case: next transaction'), $no_session,
	'the next transaction on the same backend starts without a context');
run_ok('COMMIT', 'pool case: COMMIT');
is(run_ok($context, 'pool case: autocommit statement'), $no_session,
	'a following autocommit statement sees none either');

# assume() outside a transaction block warns: the context ends with that statement
($out, $err) = run($assume);
is($out, $session_id, 'assume() as a single autocommit statement works');
like($err, qr/WARNING:.*outside a transaction block/, '... with a warning');
is(run_ok($context, 'after an autocommit assume'), $no_session,
	'the statement after an autocommit assume() has no context');
same_backend('after the pooling cases');

# --- PREPARE TRANSACTION ------------------------------------------------------------
run_ok('BEGIN', 'prepare case: BEGIN');
run_ok($assume, 'prepare case: assume');
is(run_ok('SELECT loginas.current_customer()', 'prepare case: inside'), '1', 'prepare case: customer 1');
run_ok("PREPARE TRANSACTION 'loginas_tap'", 'prepare case: PREPARE TRANSACTION');
is(run_ok($context, 'after PREPARE TRANSACTION'), $no_session,
	'after PREPARE TRANSACTION: no context on the backend');
is(run_ok(q{SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'loginas_tap'}, 'prepared xact'),
	'1', 'the transaction is prepared');
run_ok("COMMIT PREPARED 'loginas_tap'", 'prepare case: COMMIT PREPARED');
is(run_ok($context, 'after COMMIT PREPARED'), $no_session, 'after COMMIT PREPARED: no context');

run_ok('BEGIN', 'prepare-rollback case: BEGIN');
run_ok($assume, 'prepare-rollback case: assume');
run_ok("PREPARE TRANSACTION 'loginas_tap2'", 'prepare-rollback case: PREPARE TRANSACTION');
is(run_ok($context, 'after PREPARE TRANSACTION (2)'), $no_session,
	'after PREPARE TRANSACTION: no context (2)');
run_ok("ROLLBACK PREPARED 'loginas_tap2'", 'prepare-rollback case: ROLLBACK PREPARED');
is(run_ok($context, 'after ROLLBACK PREPARED'), $no_session, 'after ROLLBACK PREPARED: no context');
same_backend('after the prepared transactions');

# --- forging: no setting creates or changes the context ------------------------------
# (the library is loaded in this backend, so loginas.* is a reserved prefix)
for my $name (qw(loginas.session loginas.session_id loginas.customer_id loginas.admin_id loginas.current_customer))
{
	($out, $err) = run("SET $name = '1'");
	like($err, qr/ERROR:.*invalid configuration parameter name "\Q$name\E"/,
		"SET $name is refused");
	($out, $err) = run("SELECT set_config('$name', '1', false)");
	like($err, qr/ERROR:.*invalid configuration parameter name "\Q$name\E"/,
		"set_config('$name') is refused");
	is(run_ok($context, "after forging $name"), $no_session, "no context after trying $name");
}

# nor inside a transaction that acts in the session: it stays what assume() made
run_ok('BEGIN', 'forge-in-session case: BEGIN');
run_ok($assume, 'forge-in-session case: assume');
run_ok('SAVEPOINT f', 'forge-in-session case: SAVEPOINT');
($out, $err) = run(q{SELECT set_config('loginas.customer_id', '2', true)});
like($err, qr/ERROR:.*invalid configuration parameter name/, 'set_config inside a session is refused');
run_ok('ROLLBACK TO SAVEPOINT f', 'forge-in-session case: ROLLBACK TO SAVEPOINT');
($out, $err) = run(q{SET LOCAL loginas.customer_id = '2'});
like($err, qr/ERROR:.*invalid configuration parameter name/, 'SET LOCAL inside a session is refused');
run_ok('ROLLBACK TO SAVEPOINT f', 'forge-in-session case: ROLLBACK TO SAVEPOINT (2)');
is(run_ok($context, 'forge-in-session case'), $in_session, 'the context is unchanged');
run_ok('COMMIT', 'forge-in-session case: COMMIT');
is(run_ok($context, 'forge-in-session case: after COMMIT'), $no_session, 'and ends with the COMMIT');

# on a fresh backend, before the library is loaded, SET creates only a
# meaningless placeholder: the context is still empty
my ($rc, $stdout, $stderr) = $node->psql(
	'postgres', qq{SET loginas.customer_id = '1';
SELECT set_config('loginas.session_id', '$session_id', false);
$context;});
my @lines = split /\n/, $stdout;
is($lines[-1], $no_session, 'a fresh backend: placeholders set before loading loginas give no context');

# the C setter behind assume() cannot be called by a client role
($rc, $stdout, $stderr) = $node->psql(
	'postgres',
	"SELECT loginas._context_set($session_id, 1, 1, 1, false, 'forged', NULL, NULL, NULL, NULL, NULL, 'cus_forged', '1', '1')",
	extra_params => [ '-U', 'shop_storefront' ]);
like($stderr, qr/permission denied for function _context_set/,
	'a storefront role cannot call loginas._context_set()');
($rc, $stdout, $stderr) = $node->psql(
	'postgres', "BEGIN; $assume; $context; COMMIT;",
	extra_params => [ '-U', 'shop_storefront' ]);
is((split /\n/, $stdout)[-1], $in_session, 'while it can assume() the session it has the key of');

same_backend('at the end');
$psql->quit;
$node->stop;

done_testing();
