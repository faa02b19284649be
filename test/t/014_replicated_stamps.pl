
# 014_replicated_stamps.pl
#	A tracked table replicated with logical replication to a database where
#	it is tracked too (a second shop database fed by the first, a reporting
#	copy): the rows arrive as the publisher wrote them, stamps included.
#
# loginas' tracking triggers fire ALWAYS, so that session_replication_role =
# replica cannot switch them off inside a session (sql/security.sql).  A
# logical-replication apply worker runs as replica too, with no session: the
# triggers must let its rows through untouched -- outside a session they would
# otherwise clear a change stamp and drop a creation stamp nobody may forge.
#
# Checked: the initial copy (tablesync) and streamed INSERT, UPDATE and
# DELETE made in a session on the publisher arrive with the publisher's
# stamps; a row changed outside a session arrives with its stamp cleared, as
# the publisher cleared it; the subscriber's own sessions are still tracked
# (its triggers fire ALWAYS there too and refuse another customer's row); the
# apply worker met no error.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

my $tables = q{
	CREATE TABLE shop.wishlist (wishlist_id int PRIMARY KEY, customer_id int NOT NULL, product text NOT NULL);
	CREATE TABLE shop.wish (wishlist_id int NOT NULL REFERENCES shop.wishlist, wish_no int NOT NULL,
		note text, PRIMARY KEY (wishlist_id, wish_no));
	SELECT loginas.track('shop.wishlist', 'customer_id');
	SELECT loginas.track('shop.wish', parent => 'shop.wishlist');
};

my $pub = loginas_node('publisher', init => [ allows_streaming => 'logical' ]);
$pub->safe_psql('postgres', shop_setup_sql(customers => 2) . $tables . q{
	INSERT INTO shop.wishlist VALUES (1, 1, 'lamp'), (2, 2, 'rug');
	CREATE PUBLICATION shop_pub FOR TABLE shop.wishlist, shop.wish;});

# a session on the publisher writes before the subscription exists (initial copy)
my $in_session = sub {
	my ($sql) = @_;
	my $out = $pub->safe_psql('postgres', qq{
	CREATE TEMP TABLE k AS SELECT * FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1)));
	BEGIN;
	SELECT loginas.assume((SELECT session_key FROM k));
	$sql
	COMMIT;
	SELECT loginas."end"((SELECT session_key FROM k));
	SELECT session_id FROM k;});
	return (split /\n/, $out)[-1];		# the session id, the last line
};
my $s1 = $in_session->(q{UPDATE shop.wishlist SET product = 'desk lamp' WHERE wishlist_id = 1;
	INSERT INTO shop.wish VALUES (1, 1, 'white');});

my $sub = loginas_node('subscriber');
$sub->safe_psql('postgres', shop_setup_sql(customers => 2) . $tables);
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION shop_sub CONNECTION '$connstr' PUBLICATION shop_pub");
$sub->wait_for_subscription_sync($pub, 'shop_sub');

my $stamps = q{SELECT string_agg(format('%s:%s:%s:%s', wishlist_id, product, loginas_created_session, loginas_changed_session), ' ' ORDER BY wishlist_id) FROM shop.wishlist};
my $wish_stamps = q{SELECT string_agg(format('%s/%s:%s:%s:%s', wishlist_id, wish_no, note, loginas_created_session, loginas_changed_session), ' ' ORDER BY wishlist_id, wish_no) FROM shop.wish};
my $pub_rows = $pub->safe_psql('postgres', $stamps);
like($pub_rows, qr/^1:desk lamp::$s1 /, 'publisher: the session stamped its update');
is($sub->safe_psql('postgres', $stamps), $pub_rows, 'initial copy: the rows arrive with their stamps');
is($sub->safe_psql('postgres', $wish_stamps), $pub->safe_psql('postgres', $wish_stamps),
	'initial copy: the child rows arrive with their creation and change stamps');

# streamed changes: in a session, then outside one
my $s2 = $in_session->(q{INSERT INTO shop.wishlist VALUES (3, 1, 'chair');
	UPDATE shop.wish SET note = 'ivory' WHERE wishlist_id = 1;
	INSERT INTO shop.wish VALUES (1, 2, 'spare bulb'), (3, 1, NULL);
	DELETE FROM shop.wish WHERE wishlist_id = 1 AND wish_no = 2;});
$pub->safe_psql('postgres', q{UPDATE shop.wishlist SET product = 'rug, blue' WHERE wishlist_id = 2;
	UPDATE shop.wishlist SET product = 'desk lamp, brass' WHERE wishlist_id = 1;});
$pub->wait_for_catchup('shop_sub');
$pub_rows = $pub->safe_psql('postgres', $stamps);
like($pub_rows, qr/ 3:chair:$s2:$s2$/, 'publisher: the insert in a session carries both stamps');
like($pub_rows, qr/^1:desk lamp, brass::/, 'publisher: a change outside a session cleared the change stamp');
is($sub->safe_psql('postgres', $stamps), $pub_rows, 'streamed INSERT and UPDATE arrive as the publisher wrote them');
is($sub->safe_psql('postgres', $wish_stamps), $pub->safe_psql('postgres', $wish_stamps),
	'streamed child INSERT, UPDATE and DELETE arrive as the publisher wrote them');
like($sub->safe_psql('postgres', $wish_stamps), qr{1/1:ivory:$s1:$s2 3/1::$s2:$s2},
	'the child rows carry the sessions that wrote them');

# the subscriber's own sessions are still contained by its ALWAYS triggers
is($sub->safe_psql('postgres',
	q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'zz\_loginas\_%' AND tgenabled = 'A'}), '10',
	'subscriber: the tracking triggers fire ALWAYS');
my ($rc, $out, $err) = $sub->psql('postgres', q{
	CREATE TEMP TABLE k AS SELECT * FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1)));
	BEGIN;
	SELECT loginas.assume((SELECT session_key FROM k));
	UPDATE shop.wishlist SET product = 'mine now' WHERE wishlist_id = 2;
	COMMIT;});
like($err, qr/may not write row \(2\) of shop\.wishlist/, 'subscriber: a local session may not write another customer\'s row');

# the apply worker met no error
my $log = slurp_file($sub->logfile);
unlike($log, qr/ERROR:.*(?:logical replication|apply worker)|background worker "logical replication worker".*exited/,
	'subscriber: no apply worker error');

$sub->stop;
$pub->stop;
done_testing();
