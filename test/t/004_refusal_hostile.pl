# 004_refusal_hostile.pl
#	The durable refusal log against those who would rather it said nothing:
#	the owner of a bound view, a database owner, a caller with odd texts.
#
# The refusal log's worker reads the admin's username and the customer's
# e-mail from the bound views, as loginas_reader, for every refusal it
# writes.  The owner of such a view decides what it does, and when: here it
# does something only when application_name says the worker is reading.
# The database owner (no superuser) can ALTER DATABASE ... SET settings and
# ALLOW_CONNECTIONS.  Checked here, each against the worker of a database of
# its own (src/refusal_queue.c, src/reader.c):
#   - a view that sleeps: the refusal is still written, without the names,
#     once the read is canceled; pg_terminate_backend() ends the worker
#     inside the sleep; pg_ctl stop -m fast finishes; the refusal queued then
#     is written after the start; DROP DATABASE ... WITH (FORCE) is not
#     held up;
#   - a view that catches the cancel and sleeps on: the worker ends itself,
#     and the refusal is written without the names by the next one;
#   - a view that raises query_canceled or fails an ASSERT only in the worker
#     (neither is caught by WHEN OTHERS): the row is written, without the
#     names;
#   - the database owner's default_transaction_read_only = on, and with it
#     role, session_authorization, exit_on_error, default_transaction_isolation,
#     lock_timeout, statement_timeout: the row is written all the same,
#     by the bootstrap superuser;
#   - the database owner's ALLOW_CONNECTIONS false: the worker still connects;
#   - a write that fails is tried 3 times, about 1 s and then 2 s apart;
#   - a newline in a refusal's text (begin_from's document kind, a tracked
#     row's key) does not start a line of the server log: it is escaped.
#
# Needs what 001_context_boundary.pl needs (PATH, PERL5LIB, TESTDIR,
# PG_REGRESS); loginas installed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;
use Time::HiRes qw(time usleep);

my $node = loginas_node('hostile', preload => 1);
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

# the shop's roles: the database owner, the owner of the bound admins view
$node->safe_psql('postgres', q{
	CREATE EXTENSION loginas CASCADE;	-- its roles
	CREATE ROLE shop_owner LOGIN CREATEDB;
	CREATE ROLE view_owner LOGIN;
	CREATE ROLE shop_backoffice LOGIN IN ROLE loginas_admin;
});

# a database of its own for each case, owned by shop_owner: the shop (customer
# 2 has not allowed assistance), its admins view owned by view_owner
sub shop_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', qq{CREATE DATABASE $db OWNER shop_owner});
	$node->safe_psql($db, shop_setup_sql(data => q{
	INSERT INTO shop.customer VALUES (2, 'john@example.com', 'John', 'Smith', true, 1, 1);
}) . q{
	GRANT USAGE ON SCHEMA shop TO view_owner;
	GRANT SELECT ON shop.admin TO view_owner;
	GRANT CREATE ON SCHEMA shop TO view_owner;
	ALTER VIEW shop.loginas_admins OWNER TO view_owner;
});
	return $db;
}

# SQL as a role in a database
sub as_role
{
	my ($db, $role, $sql) = @_;
	my ($r, $o, $e) = $node->psql($db, $sql, on_error_stop => 0, extra_params => [ '-U', $role ]);
	return ($o, $e);
}

# the view owner replaces the admins view: same columns, a WHERE of its own
sub hostile_view
{
	my ($db, $function_body) = @_;
	as_role($db, 'view_owner', qq{
CREATE FUNCTION shop.gate() RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN
	IF current_setting('application_name') = 'loginas refusal log' THEN
		$function_body
	END IF;
	RETURN true;
END \$f\$;
CREATE OR REPLACE VIEW shop.loginas_admins AS SELECT admin_id, username, firstname || ' ' || lastname AS display_name,
	is_active, role FROM shop.admin WHERE shop.gate();
});
	is($node->safe_psql($db, q{SELECT pg_get_viewdef('shop.loginas_admins') LIKE '%gate()%'}), 't',
		"$db: the view owner put its gate into the bound admins view");
}

# a refused begin (customer 2 has not allowed assistance)
sub refuse_begin
{
	my ($db, $reason) = @_;
	my ($o, $e) = as_role($db, 'shop_backoffice', qq{SELECT * FROM loginas.begin(1, 2, reason => '$reason')});
	like($e, qr/assistance is disabled/, "$db: begin refused ($reason)");
}

# while the database owner's settings are in place, our own sessions set
# what they need at connection (PGOPTIONS: the client's settings win)
my $client_options = '-c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0 -c exit_on_error=off';
my $superuser_options = "$client_options -c session_authorization=postgres -c role=none";

# with the database owner's settings in place: a refusal, and its row
sub refused_under_settings
{
	my ($db, $reason, $name) = @_;
	local $ENV{PGOPTIONS} = $client_options;
	refuse_begin($db, $reason);
	$ENV{PGOPTIONS} = $superuser_options;
	is(refusal_row($db, $reason, $name), 'ada|john@example.com|shop_backoffice', 'with the names');
}

# wait for the failure row of a refused begin with this reason; its names
sub refusal_row
{
	my ($db, $reason, $name) = @_;
	my $q = qq{SELECT coalesce(admin_username, 'no name') || '|' || coalesce(customer_email, 'no e-mail') || '|' || db_role
	  FROM loginas.action_log WHERE action = 'begin_refused' AND reason = '$reason'};
	my $ok = $node->poll_query_until($db, "SELECT count(*) > 0 FROM ($q) r");
	ok($ok, "$db: $name");
	return $ok ? $node->safe_psql($db, $q) : '';
}

sub worker_pid
{
	my ($db, $where) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT pid FROM pg_stat_activity WHERE backend_type = 'loginas refusal log' AND datname = '$db'}
		  . ($where // ''));
}

# end the database's worker (it would otherwise keep the settings it started with)
sub end_worker
{
	my ($db) = @_;
	$node->safe_psql('postgres', qq{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE backend_type = 'loginas refusal log' AND datname = '$db'});
	$node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM pg_stat_activity
		WHERE backend_type = 'loginas refusal log' AND datname = '$db'})
	  or die "the worker of $db did not end";
}

# --- a view that sleeps in the worker -------------------------------------------------
my $db = shop_db('sleeper');
hostile_view($db, 'PERFORM pg_sleep(3600);');
my $t0 = time;
refuse_begin($db, 'sleep 1');
is(refusal_row($db, 'sleep 1', 'the refusal is written although the view sleeps'),
	'no name|no e-mail|shop_backoffice', 'without the names: the read was canceled');
my $took = time - $t0;
cmp_ok($took, '<', 30, 'within the read bound, not the hour the view sleeps');
note(sprintf 'written after %.1f s', $took);

# a view that catches the cancel and sleeps on: the worker ends itself
$db = shop_db('catcher');
hostile_view($db, q{LOOP
			BEGIN
				PERFORM pg_sleep(3600);
			EXCEPTION WHEN query_canceled THEN
				NULL;
			END;
		END LOOP;});
my $log_offset = -s $node->logfile;
refuse_begin($db, 'catch 1');
is(refusal_row($db, 'catch 1', 'the refusal is written although the view catches the cancel'),
	'no name|no e-mail|shop_backoffice', 'without the names');
like(substr(slurp_file($node->logfile), $log_offset),
	qr/loginas: the refusal log worker for database \d+ ended itself: a read of a bound relation went on/,
	'the worker ended itself when the read went on after the cancel');

# pg_terminate_backend() ends the worker inside the view
refuse_begin($db, 'catch 2');
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'loginas refusal log'
		   AND datname = '$db' AND wait_event = 'PgSleep'}),
	'the worker sleeps in the view');
my $pid = worker_pid($db);
$t0 = time;
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"), 't', 'pg_terminate_backend(worker)');
ok( $node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'... ends it');
$took = time - $t0;
cmp_ok($took, '<', 2.5, 'at once, not when the read bound ends it');
note(sprintf 'the worker ended %.2f s after pg_terminate_backend', $took);
is(refusal_row($db, 'catch 2', 'the refusal it was writing is not lost'),
	'no name|no e-mail|shop_backoffice', '... written by the next worker, without the names');

# pg_ctl stop -m fast with the worker inside the view: finishes, the refusal is kept
refuse_begin($db, 'catch 3');
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'loginas refusal log'
		   AND datname = '$db' AND wait_event = 'PgSleep'}),
	'the worker sleeps in the view again');
$log_offset = -s $node->logfile;
$t0 = time;
my $stopped = PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $node->data_dir, '-m', 'fast', '-t', '60', 'stop') == 0;
$took = time - $t0;
ok($stopped, 'pg_ctl stop -m fast with the worker in the view');
cmp_ok($took, '<', 20, 'finishes in bounded time');
note(sprintf 'pg_ctl stop -m fast took %.2f s', $took);
if (!$stopped)
{
	PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $node->data_dir, '-m', 'immediate', 'stop');
}
$node->_update_pid(0);
like(substr(slurp_file($node->logfile), $log_offset),
	qr/terminating background worker "loginas refusal log" due to administrator command/,
	'the worker was ended inside the view by the shutdown');
$node->start;
is(refusal_row($db, 'catch 3', 'the refusal queued at the stop is written after the start'),
	'no name|no e-mail|shop_backoffice', 'without the names');

# DROP DATABASE ... WITH (FORCE) is not held up by a worker inside the view
refuse_begin($db, 'catch 4');
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'loginas refusal log'
		   AND datname = '$db' AND wait_event = 'PgSleep'}),
	'the worker sleeps in the view once more');
$t0 = time;
my ($rc, $out, $err) = $node->psql('postgres', "DROP DATABASE $db WITH (FORCE)");
is($rc, 0, 'DROP DATABASE ... WITH (FORCE) with the worker in the view');
$took = time - $t0;
cmp_ok($took, '<', 2.5, 'at once');
note(sprintf 'DROP DATABASE took %.2f s', $took);

# --- a view that raises what WHEN OTHERS does not catch --------------------------------
$db = shop_db('canceler');
hostile_view($db, q{RAISE EXCEPTION 'no' USING ERRCODE = 'query_canceled';});
refuse_begin($db, 'cancel 1');
is(refusal_row($db, 'cancel 1', 'a view raising query_canceled in the worker: the refusal is written'),
	'no name|no e-mail|shop_backoffice', 'without the names');
$db = shop_db('asserter');
hostile_view($db, q{ASSERT false, 'no';});
refuse_begin($db, 'assert 1');
is(refusal_row($db, 'assert 1', 'a view failing an ASSERT in the worker: the refusal is written'),
	'no name|no e-mail|shop_backoffice', 'without the names');

# --- the database owner's settings -------------------------------------------------------
$db = shop_db('readonly');
refuse_begin($db, 'before');
is(refusal_row($db, 'before', 'a refusal before the settings'), 'ada|john@example.com|shop_backoffice',
	'with the names');
end_worker($db);
as_role('postgres', 'shop_owner', qq{ALTER DATABASE $db SET default_transaction_read_only = on});
refused_under_settings($db, 'read only', 'the owner\'s default_transaction_read_only = on: the refusal is written');
$node->safe_psql('postgres', qq{ALTER DATABASE $db RESET ALL});
end_worker($db);
my ($o, $e) = as_role('postgres', 'shop_owner', qq{
ALTER DATABASE $db SET role = shop_owner;
ALTER DATABASE $db SET session_authorization = shop_owner;
ALTER DATABASE $db SET exit_on_error = on;
ALTER DATABASE $db SET default_transaction_isolation = 'serializable';
ALTER DATABASE $db SET default_transaction_read_only = on;
ALTER DATABASE $db SET lock_timeout = '1ms';
ALTER DATABASE $db SET statement_timeout = '1ms';
});
is($e, '', 'the database owner sets role, session_authorization, exit_on_error and more for its database');
$log_offset = -s $node->logfile;
refused_under_settings($db, 'settings', 'with all those settings: the refusal is written');
$node->safe_psql('postgres', qq{ALTER DATABASE $db RESET ALL});
unlike(substr(slurp_file($node->logfile), $log_offset), qr/could not write a refusal/,
	'at the first attempt: the worker took none of the database owner\'s settings');

# ALLOW_CONNECTIONS false: the worker still gets in
$db = shop_db('closed');
my $client = $node->background_psql($db, on_error_stop => 0, extra_params => [ '-U', 'shop_backoffice' ]);
my $reader = $node->background_psql($db);
end_worker($db) if worker_pid($db) ne '';
as_role('postgres', 'shop_owner', qq{ALTER DATABASE $db ALLOW_CONNECTIONS false});
($o, $e) = background_query($client, q{SELECT * FROM loginas.begin(1, 2, reason => 'closed')});
like($e, qr/assistance is disabled/, "$db: begin refused in a session opened before ALLOW_CONNECTIONS false");
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'loginas refusal log' AND datname = '$db'}),
	'a worker connects to the database all the same');
my $written = '0';
for (my $i = 0; $i < 10 * $timeout && $written eq '0'; $i++)
{
	($written, $e) = background_query($reader,
		q{SELECT count(*) FROM loginas.action_log WHERE action = 'begin_refused' AND reason = 'closed'});
	usleep(100_000) if $written eq '0';
}
is($written, '1', 'ALLOW_CONNECTIONS false: the refusal is written while the database is closed');
$client->quit;
$reader->quit;
$node->safe_psql('postgres', qq{ALTER DATABASE $db ALLOW_CONNECTIONS true});
is(refusal_row($db, 'closed', 'its row'), 'ada|john@example.com|shop_backoffice', 'with the names');

# --- retries are spaced ----------------------------------------------------------------
$db = shop_db('retries');
$node->safe_psql($db, q{ALTER TABLE loginas.action_log ADD CONSTRAINT tap_no_refusal
	CHECK (result <> 'failure' OR reason IS DISTINCT FROM 'retry') NOT VALID});
$log_offset = -s $node->logfile;
refuse_begin($db, 'retry');
ok($node->wait_for_log(qr/it was tried 3 times and is dropped from the queue/, $log_offset),
	'a write that fails: tried 3 times, then dropped');
my @at = map { /^\d+-\d+-\d+ (\d+):(\d+):(\d+\.\d+)/ ? $1 * 3600 + $2 * 60 + $3 : () }
  grep { /could not write a refusal to loginas\.action_log: new row .*tap_no_refusal/ }
  split /\n/, substr(slurp_file($node->logfile), $log_offset);
is(scalar(@at), 3, 'three attempts in the server log');
cmp_ok($at[1] - $at[0], '>=', 0.9, 'the second about 1 s after the first');
cmp_ok($at[2] - $at[1], '>=', 1.9, 'the third about 2 s after the second');
note(sprintf 'attempts %.3f s and %.3f s apart', $at[1] - $at[0], $at[2] - $at[1]) if @at == 3;

# --- newlines in a refusal's text are escaped in the server log --------------------------
$db = shop_db('injection');
$node->safe_psql($db, q{
	CREATE TABLE shop.notes (note_key text PRIMARY KEY, customer_id int NOT NULL);
	INSERT INTO shop.notes VALUES (E'k1\nLOG:  loginas: forged line 2', 2);
	SELECT loginas.track('shop.notes', 'customer_id');
	CREATE ROLE shop_storefront LOGIN IN ROLE loginas_storefront;
	GRANT USAGE ON SCHEMA shop TO shop_storefront;
	GRANT SELECT, UPDATE ON shop.notes TO shop_storefront;
	CREATE TABLE shop.keys AS SELECT session_key FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1)));
	GRANT SELECT ON shop.keys TO shop_storefront;
});
$log_offset = -s $node->logfile;
($o, $e) = as_role($db, 'shop_backoffice', q{SELECT * FROM loginas.begin_from(1, E'order\nLOG:  loginas: forged line 1', 1)});
like($e, qr/unrecognized document kind "order\\nLOG:  loginas: forged line 1"/,
	'begin_from with a newline in its document kind is refused; the message has it escaped');
($o, $e) = as_role($db, 'shop_storefront', q{BEGIN; SELECT loginas.assume((SELECT session_key FROM shop.keys));
	UPDATE shop.notes SET note_key = note_key; ROLLBACK;});
# (the key value is quoted and JSON-escaped, then the message escapes its backslash)
like($e, qr/may not write row \("k1\\\\nLOG:  loginas: forged line 2"\)/, 'a write of a row whose key has a newline is refused');
ok($node->wait_for_log(qr/loginas: write refused: row \("k1\\\\nLOG:  loginas: forged line 2"\) of another customer/, $log_offset),
	'the tracked write\'s LOG line has the key escaped');
my $log = substr(slurp_file($node->logfile), $log_offset);
like($log, qr/LOG:  loginas: begin refused: unrecognized document kind "order\\nLOG:  loginas: forged line 1"/,
	'the refusal\'s LOG line has the document kind escaped');
is(scalar(grep { /^LOG:  loginas: forged/ } split /\n/, $log), 0, 'no line of the server log is forged');
is($node->safe_psql($db, q{SELECT details->>'message' FROM loginas.action_log WHERE action = 'begin_refused'}),
	"unrecognized document kind \"order\nLOG:  loginas: forged line 1\"", 'the refusal row holds the text as it was given');

$node->stop;
done_testing();
