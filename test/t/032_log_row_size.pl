
# 032_log_row_size.pl
#	A log row near jsonb's size limit: it cannot be noted any more, and one
#	already in a log still verifies.
#
# Up to 1.1, loginas.note() took details of any size.  The append (C since
# 1.1) builds the row's canonical text without a jsonb value, so a note of
# ~256 MB was stored; verify_log() then rebuilt the row with
# jsonb_build_array(..., details), which exceeds jsonb's 256 MB limit
# ("total size of jsonb array elements exceeds the maximum"), and failed --
# for every caller, for as long as the row stayed in the log.
# Since 1.2:
#	- note() refuses details over 64 kB (54000) -- here a ~256 MB one, in an
#	  assumed session;
#	- a row that large already in the log (appended here directly by the
#	  extension's owner, as a 1.1 note() would have) verifies: verify_log()
#	  hashes the row's text in C (loginas._log_row_hash), whose text is
#	  1.1's, byte for byte -- the SQL path (loginas._log_content) fails on
#	  this row, as 1.1's verify_log() did; editing the row is still found.
# Takes a few seconds and ~1.5 GB of memory in the backend.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $node = loginas_node('rowsize', conf => "log_min_duration_statement = -1\nlog_statement = none\n");
$node->safe_psql('postgres', shop_setup_sql() . q{
	CREATE ROLE shop_web LOGIN IN ROLE loginas_storefront;
	CREATE TABLE public.secret (name text PRIMARY KEY, secret text NOT NULL);
	GRANT SELECT ON public.secret TO shop_web;
	INSERT INTO public.secret SELECT 'ticket', token FROM loginas.begin(1, 1);
	INSERT INTO public.secret SELECT 'key', session_key FROM loginas.redeem((SELECT secret FROM public.secret WHERE name = 'ticket'));
});

# a jsonb object of ~256 MB (one string of 268,435,300 bytes): as big as a jsonb value gets
my $big = q{jsonb_build_object('x', repeat('a', 268435300))};

my ($rc, $out, $err) = $node->psql(
	'postgres', qq{\\set VERBOSITY verbose
BEGIN;
SELECT loginas.assume((SELECT secret FROM public.secret WHERE name = 'key'));
SELECT loginas.note('Huge', $big);
COMMIT;}, extra_params => [ '-U', 'shop_web' ]);
like($err, qr/ERROR:  54000: the details of a note are too large\nDETAIL:  They take 268435309 bytes as JSON text; a note keeps at most 65536 \(64 kB\)\./,
	'note() refuses 256 MB of details (54000)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM loginas.action_log WHERE action = 'note'}), '0', '... nothing is logged');

# such a row already in the log, appended directly as the owner (as 1.1's note() did)
my $id = $node->safe_psql('postgres',
	qq{SELECT loginas._append(now(), 'note', 'success', 1, 'ada', 1, 'veronica\@example.com', 1, 1, NULL, NULL,
		NULL, 'shop_web', $big || '{"note": "Huge"}')});
like($id, qr/^\d+$/, 'a row with 256 MB of details is in the log');
is($node->safe_psql('postgres', qq{SELECT pg_column_size(details) > 0 AND octet_length(details ->> 'x') = 268435300
	FROM loginas.action_log WHERE log_id = $id}), 't', '... all of it');

($rc, $out, $err) = $node->psql('postgres', q{SELECT intact || ' ' || problem FROM loginas.verify_log()});
is("$out$err", 'true intact', 'verify_log() passes with that row in the log');

($rc, $out, $err) = $node->psql(
	'postgres', qq{SELECT length(loginas._log_content(log_id, logged_at, action_group, action, result, admin_id,
		admin_username, customer_id, customer_email, session_id, store_id, source, reason, client_addr, db_role, details))
	  FROM loginas.action_log WHERE log_id = $id});
like($err, qr/total size of jsonb array elements exceeds the maximum/,
	'the SQL text of that row (1.0 and 1.1\'s verify_log()) cannot even be built: jsonb\'s limit');

# and an edit of it is still found (rolled back)
($rc, $out, $err) = $node->psql(
	'postgres', qq{BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
UPDATE loginas.action_log SET details = jsonb_set(details, '{x}', to_jsonb(repeat('b', 268435300))) WHERE log_id = $id;
SELECT intact || ' ' || log_id || ' ' || problem FROM loginas.verify_log();
ROLLBACK;});
is($out, "false $id the row does not match its hash (edited)", 'an edit of that row is found') or diag($err);
is($node->safe_psql('postgres', q{SELECT intact FROM loginas.verify_log()}), 't', 'verify_log() passes again');

$node->stop;
done_testing();
