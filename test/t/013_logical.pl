
# 013_logical.pl
#	The multi-store audit: the action logs of two shop databases, published
#	with logical replication to one central audit database, arrive there
#	complete and stay verifiable per shop.  The design is documented in
#	docs/replication.md ("Multi-store audit").
#
# Two shop nodes (store_a, store_b), each with loginas (preloaded: refused
# attempts are failure rows of the log), its own shop, its own history;
# their log_id, chain_id and session_id ranges overlap on purpose.
# Each publishes its log with
#	CREATE PUBLICATION loginas_audit
#	  FOR TABLE loginas.action_log, loginas.log_chain, loginas.log_checkpoint
#	  WITH (publish = 'insert');
# to a role audit_repl (REPLICATION, USAGE on loginas, SELECT on the three).
# The central node's database "audit" has no loginas extension (its schema
# name is taken, see below).  Logical replication maps tables by schema-
# qualified name, so it has plain tables loginas.action_log, loginas.log_chain
# and loginas.log_checkpoint with the shops' columns plus "shop", whose
# default audit.current_shop() is the name of the subscription whose worker
# is writing (pg_stat_subscription, by pid): one subscription per shop, named
# after it; primary keys (shop, ...) so equal ids of different shops do not
# collide; the tables are append-only (ENABLE ALWAYS triggers).  The hash
# chains are verified there by audit.verify_log(shop), which recomputes every
# row's hash with audit.log_content() -- a copy of the shops'
# loginas._log_content, taken here from a shop with pg_get_functiondef -- and
# checks every chain's links; a chain may start at its genesis (seq 1, zero
# hash) or at a purge checkpoint.
#
# Checked: the initial copy brings each shop's whole log (store_a's starting
# at purge checkpoints), refusals included; later activity streams in; central holds exactly
# each shop's rows (ids, places, hashes); chain ids of both shops coexist;
# both verify; a purge on a shop (DELETEs are not published) leaves central's
# copy whole and still verifiable, while the shop's own verify_log() passes
# too; central's copy refuses UPDATE/DELETE, and an edited or deleted central
# row is found by audit.verify_log() for that shop only; a row written by
# anyone but a subscription gets no shop (NOT NULL violation); the apply
# workers met no error.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LoginasTest;

# --- two shops ------------------------------------------------------------------------------
sub shop_node
{
	my ($name, $customers) = @_;
	my $node = loginas_node($name, init => [ allows_streaming => 'logical' ], preload => 1);
	# (LoginasTest.pm) customers 1..$customers and admins 1..3 (role Support),
	# every customer consenting; the website, store, e-mails and user names
	# carry the shop's name
	$node->safe_psql(
		'postgres', shop_setup_sql(customers => $customers, admins => 3, shop_name => $name) . q{
	CREATE TABLE shop.wishlist (wishlist_id serial PRIMARY KEY, customer_id int NOT NULL, product text NOT NULL);
	SELECT loginas.track('shop.wishlist', 'customer_id');
	});
	refuse($node, $name);
	return $node;
}

# a refused attempt: the durable refusal log writes it as a failure row, in
# the background; waited for, so that the shop's log is still afterwards
sub refuse
{
	my ($node, $name) = @_;
	my $sql = q{SELECT count(*) FROM loginas.action_log WHERE action = 'begin_refused' AND result = 'failure'};
	my $before = $node->safe_psql('postgres', $sql);
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT * FROM loginas.begin(1, 99)');
	like($err, qr/Customer with this ID no longer exists/, "$name: a begin for a customer that does not exist is refused");
	ok($node->poll_query_until('postgres', "SELECT ($sql) > $before"), "$name: the refusal is in its log");
}

# one visit: admin a logs in as customer c, adds products to the wishlist, logs out
sub visit
{
	my ($node, $admin, $customer, @products) = @_;
	my $values = join(', ', map { "($customer, '$_')" } @products);
	$node->safe_psql(
		'postgres', qq{
	CREATE TEMP TABLE k AS SELECT * FROM loginas.redeem((SELECT token FROM loginas.begin($admin, $customer, reason => 'call')));
	BEGIN;
	SELECT loginas.assume((SELECT session_key FROM k));
	INSERT INTO shop.wishlist (customer_id, product) VALUES $values;
	SELECT loginas.note('Wishlist updated by support');
	COMMIT;
	SELECT loginas."end"((SELECT session_key FROM k));});
}

my $store_a = shop_node('store_a', 4);
my $store_b = shop_node('store_b', 3);

visit($store_a, 1, 1, 'lamp', 'desk');
visit($store_a, 2, 2, 'chair');
my $t_purge_a = $store_a->safe_psql('postgres', 'SELECT clock_timestamp()');
visit($store_a, 1, 3, 'rug');
visit($store_b, 1, 1, 'kettle');
visit($store_b, 3, 2, 'teapot', 'cups', 'saucers');
# store_a's log starts at purge checkpoints before it is ever published
# (rows seconds old: each shop's DBA allows purging them -- written to the
# setting directly, so that the shops' log ids and chains stay as they were)
$_->safe_psql('postgres', q{INSERT INTO loginas.setting (name, value) VALUES ('log_retention', '0')})
  for ($store_a, $store_b);
is($store_a->safe_psql('postgres', "SELECT loginas.purge_log('$t_purge_a') > 0"), 't',
	'store_a purges its oldest rows before publishing');

for my $shop ($store_a, $store_b)
{
	$shop->safe_psql('postgres',
		q{CREATE PUBLICATION loginas_audit FOR TABLE loginas.action_log, loginas.log_chain, loginas.log_checkpoint
		  WITH (publish = 'insert');
		  -- central connects as a role of its own: replication, and reading the three tables
		  CREATE ROLE audit_repl LOGIN REPLICATION;
		  GRANT USAGE ON SCHEMA loginas TO audit_repl;
		  GRANT SELECT ON loginas.action_log, loginas.log_chain, loginas.log_checkpoint TO audit_repl;});
}

# --- the central audit database -------------------------------------------------------------
my $central = loginas_node('central');
$central->safe_psql('postgres', 'CREATE DATABASE audit');
# the shops' canonical row text, copied from a shop
# (both forms: the 19-argument one, for rows with keys that are not integers,
# calls the 16-argument one)
my $content_def = $store_a->safe_psql('postgres',
	q{SELECT string_agg(pg_get_functiondef(p.oid), E';\n' ORDER BY p.pronargs) || ';' FROM pg_proc p
	   WHERE p.proname = '_log_content' AND p.pronamespace = 'loginas'::regnamespace});
$content_def =~ s/loginas\._log_content\(/audit.log_content(/g or die 'unexpected definition of loginas._log_content';
$central->safe_psql(
	'audit', q{
	CREATE SCHEMA audit;
	CREATE SCHEMA loginas;		-- the shops' table names: no loginas extension in this database

	-- the shop a row came from: the subscription whose worker writes it
	CREATE FUNCTION audit.current_shop() RETURNS text
		LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
		AS $$ SELECT subname::text FROM pg_stat_subscription WHERE pid = pg_backend_pid() LIMIT 1 $$;

	CREATE TABLE loginas.action_log (
		shop			text NOT NULL DEFAULT audit.current_shop(),
		log_id			bigint NOT NULL,
		logged_at		timestamptz NOT NULL,
		action_group	text NOT NULL,
		action			text NOT NULL,
		result			text NOT NULL,
		admin_id		bigint,
		admin_username	text,
		customer_id		bigint,
		customer_email	text,
		session_id		bigint,
		store_id		bigint,
		source			text,
		reason			text,
		client_addr		inet,
		db_role			name NOT NULL,
		details			jsonb NOT NULL,
		chain_id		bigint NOT NULL,
		chain_seq		bigint NOT NULL,
		prev_hash		bytea NOT NULL,
		row_hash		bytea NOT NULL,
		admin_key		text,
		customer_key	text,
		store_key		text,
		received_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
		PRIMARY KEY (shop, log_id),
		UNIQUE (shop, chain_id, chain_seq)
	);
	CREATE INDEX ON loginas.action_log (shop, logged_at);
	CREATE INDEX ON loginas.action_log (shop, customer_id, logged_at);
	CREATE TABLE loginas.log_chain (
		shop		text NOT NULL DEFAULT audit.current_shop(),
		chain_id	bigint NOT NULL,
		started_at	timestamptz NOT NULL,
		backend_pid	int NOT NULL,
		db_role		name NOT NULL,
		PRIMARY KEY (shop, chain_id)
	);
	CREATE TABLE loginas.log_checkpoint (
		shop		text NOT NULL DEFAULT audit.current_shop(),
		chain_id	bigint NOT NULL,
		chain_seq	bigint NOT NULL,
		row_hash	bytea NOT NULL,
		purged_at	timestamptz NOT NULL,
		PRIMARY KEY (shop, chain_id)
	);

	-- append-only here too (the subscriptions only ever insert)
	CREATE FUNCTION audit.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION 'the central audit log is append-only' USING ERRCODE = '42501';
	END $$;
	DO $$
	DECLARE t text;
	BEGIN
		FOREACH t IN ARRAY ARRAY['loginas.action_log', 'loginas.log_chain', 'loginas.log_checkpoint'] LOOP
			EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION audit.append_only()', t);
			EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s EXECUTE FUNCTION audit.append_only()', t);
			EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER append_only, ENABLE ALWAYS TRIGGER append_only_truncate', t);
		END LOOP;
	END $$;

	-- what auditors read
	CREATE VIEW audit.action_log AS SELECT * FROM loginas.action_log;
});
$central->safe_psql('audit', $content_def);
$central->safe_psql(
	'audit', q{
	-- loginas.verify_log(), per shop: the first row where one of the shop's
	-- chains breaks, or intact.  A chain may begin at its genesis (seq 1 after
	-- a zero hash) or where a purge checkpoint of the shop says it continues.
	CREATE FUNCTION audit.verify_log(p_shop text)
		RETURNS TABLE (intact boolean, log_id bigint, chain_id bigint, chain_seq bigint, problem text)
		LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
		AS $$
	WITH r AS (
		SELECT l.log_id, l.chain_id, l.chain_seq, l.prev_hash, l.row_hash,
			   sha256(l.prev_hash || convert_to(l.chain_id::text || ':' || l.chain_seq::text || ':' ||
				   audit.log_content(l.log_id, l.logged_at, l.action_group, l.action, l.result, l.admin_id,
									 l.admin_username, l.customer_id, l.customer_email, l.session_id, l.store_id,
									 l.source, l.reason, l.client_addr, l.db_role, l.details, l.admin_key,
									 l.customer_key, l.store_key), 'UTF8')) AS computed,
			   lag(l.chain_seq) OVER w AS before_seq,
			   lag(l.row_hash) OVER w AS before_hash
		  FROM loginas.action_log l
		 WHERE l.shop = p_shop
		WINDOW w AS (PARTITION BY l.chain_id ORDER BY l.chain_seq)
	), problems AS (
		SELECT r.log_id, r.chain_id, r.chain_seq,
			   CASE
				 WHEN NOT EXISTS (SELECT FROM loginas.log_chain c WHERE c.shop = p_shop AND c.chain_id = r.chain_id)
				   THEN 'the row belongs to no known chain (inserted)'
				 WHEN r.computed <> r.row_hash
				   THEN 'the row does not match its hash (edited)'
				 WHEN r.before_seq IS NULL
				  AND NOT (r.chain_seq = 1 AND r.prev_hash = decode(repeat('00', 32), 'hex'))
				  AND NOT (cp.chain_seq + 1 = r.chain_seq AND cp.row_hash = r.prev_hash)
				   THEN 'the beginning of its chain is missing (deleted)'
				 WHEN r.before_seq IS NOT NULL AND r.chain_seq = r.before_seq
				   THEN 'two rows claim the same place in the chain (inserted)'
				 WHEN r.before_seq IS NOT NULL AND r.chain_seq <> r.before_seq + 1
				   THEN 'rows are missing before this one (deleted)'
				 WHEN r.before_seq IS NOT NULL AND r.prev_hash <> r.before_hash
				   THEN 'the row does not follow the one before it (inserted or replaced)'
			   END AS problem
		  FROM r LEFT JOIN loginas.log_checkpoint cp ON cp.shop = p_shop AND cp.chain_id = r.chain_id
	)
	SELECT * FROM (
		SELECT false, p.log_id, p.chain_id, p.chain_seq, p.problem
		  FROM problems p WHERE p.problem IS NOT NULL ORDER BY p.log_id LIMIT 1) broken
	UNION ALL
	SELECT true, NULL::bigint, NULL::bigint, NULL::bigint, 'intact'
	 WHERE NOT EXISTS (SELECT FROM problems p WHERE p.problem IS NOT NULL)
	$$;
});
my $central_log_start = -s $central->logfile;

for my $shop ([ 'store_a', $store_a ], [ 'store_b', $store_b ])
{
	my ($name, $node) = @$shop;
	$central->safe_psql('audit',
		"CREATE SUBSCRIPTION $name CONNECTION 'host=@{[ $node->host ]} port=@{[ $node->port ]} dbname=postgres user=audit_repl' PUBLICATION loginas_audit");
}
$central->wait_for_subscription_sync($store_a, 'store_a', 'audit');
$central->wait_for_subscription_sync($store_b, 'store_b', 'audit');

# every row of a shop's log (place in its chain and hash), on the shop and on central
my $shop_rows = q{SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', log_id, chain_id, chain_seq, encode(row_hash, 'hex')), ',' ORDER BY log_id)) FROM loginas.action_log};
my $central_rows = sub {
	"SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', log_id, chain_id, chain_seq, encode(row_hash, 'hex')), ',' ORDER BY log_id)) FROM audit.action_log WHERE shop = '$_[0]'";
};
my $verify = sub { "SELECT intact || ' ' || problem FROM audit.verify_log('$_[0]')" };

for my $shop ([ 'store_a', $store_a ], [ 'store_b', $store_b ])
{
	my ($name, $node) = @$shop;
	is($central->safe_psql('audit', $central_rows->($name)), $node->safe_psql('postgres', $shop_rows),
		"initial copy: central holds exactly $name\'s log");
	is( $central->safe_psql('audit', "SELECT string_agg(chain_id::text, ',' ORDER BY chain_id) FROM loginas.log_chain WHERE shop = '$name'"),
		$node->safe_psql('postgres', 'SELECT string_agg(chain_id::text, \',\' ORDER BY chain_id) FROM loginas.log_chain'),
		"initial copy: $name\'s chain registry");
	is($central->safe_psql('audit', $verify->($name)), 'true intact', "audit.verify_log('$name') after the initial copy");
}
is( $central->safe_psql('audit', q{SELECT count(*) > 0 FROM loginas.log_checkpoint WHERE shop = 'store_a'}),
	't', 'store_a\'s purge checkpoints arrived: its chains start there');

# --- streaming ------------------------------------------------------------------------------
visit($store_a, 3, 4, 'vase');
visit($store_a, 2, 1, 'mirror', 'frame');
visit($store_b, 2, 3, 'pan');
refuse($store_a, 'store_a');    # its first refusal was purged before publishing
$store_b->safe_psql('postgres', q{SELECT loginas.configure('session_ttl', '2 hours')});
$store_a->wait_for_catchup('store_a');
$store_b->wait_for_catchup('store_b');
for my $shop ([ 'store_a', $store_a ], [ 'store_b', $store_b ])
{
	my ($name, $node) = @$shop;
	is($central->safe_psql('audit', $central_rows->($name)), $node->safe_psql('postgres', $shop_rows),
		"streamed: central holds exactly $name\'s log, new rows included");
	is($central->safe_psql('audit', $verify->($name)), 'true intact', "audit.verify_log('$name') after streaming");
}
is( $central->safe_psql(
		'audit', q{SELECT count(*) FROM (SELECT chain_id, log_id FROM loginas.action_log WHERE shop = 'store_a'
		                                  INTERSECT SELECT chain_id, log_id FROM loginas.action_log WHERE shop = 'store_b') x}) > 0
	  ? 'overlap' : 'none',
	'overlap', 'the shops\' log ids and chain ids overlap, and both live side by side in central');
is( $central->safe_psql(
		'audit', q{SELECT string_agg(shop || ':' || action || ':' || customer_id, ',' ORDER BY shop)
		  FROM audit.action_log WHERE result = 'failure'}),
	'store_a:begin_refused:99,store_b:begin_refused:99', 'the shops\' refused attempts reach central too');
is( $central->safe_psql(
		'audit', q{SELECT string_agg(DISTINCT shop || ':' || customer_email, ',' ORDER BY shop || ':' || customer_email)
		  FROM audit.action_log WHERE action = 'write_insert'}),
	'store_a:store_a-customer1@example.com,store_a:store_a-customer3@example.com,store_a:store_a-customer4@example.com,'
	  . 'store_b:store_b-customer1@example.com,store_b:store_b-customer2@example.com,store_b:store_b-customer3@example.com',
	'each row is attributed to the shop it came from');

# --- a purge on a shop: central keeps everything ---------------------------------------------------
my $a_before = $central->safe_psql('audit', q{SELECT count(*) FROM loginas.action_log WHERE shop = 'store_a'});
my $b_before = $central->safe_psql('audit', q{SELECT count(*) FROM loginas.action_log WHERE shop = 'store_b'});
my $t_purge = $store_b->safe_psql('postgres', 'SELECT clock_timestamp()');
visit($store_b, 1, 2, 'tray');
my $b_purged = $store_b->safe_psql('postgres', "SELECT loginas.purge_log('$t_purge')");
cmp_ok($b_purged, '>', 0, "store_b purges $b_purged rows after publishing");
# a second purge on store_a: its checkpoints move (an UPDATE, not published)
my $a_purged = $store_a->safe_psql('postgres', 'SELECT loginas.purge_log(clock_timestamp() - interval \'1 microsecond\')');
cmp_ok($a_purged, '>', 0, "store_a purges $a_purged more rows");
visit($store_a, 1, 2, 'clock');
$store_a->wait_for_catchup('store_a');
$store_b->wait_for_catchup('store_b');

my $b_new = $store_b->safe_psql('postgres', "SELECT count(*) FROM loginas.action_log WHERE logged_at >= '$t_purge'");
is($central->safe_psql('audit', q{SELECT count(*) FROM loginas.action_log WHERE shop = 'store_b'}),
	$b_before + $b_new, 'central keeps store_b\'s purged rows and has its new ones (deletes are not published)');
cmp_ok($central->safe_psql('audit', q{SELECT count(*) FROM loginas.action_log WHERE shop = 'store_a'}),
	'>', $a_before, 'central keeps store_a\'s purged rows and has its new ones');
for my $shop ([ 'store_a', $store_a ], [ 'store_b', $store_b ])
{
	my ($name, $node) = @$shop;
	is( $central->safe_psql(
			'audit', qq{SELECT count(*) FROM audit.action_log WHERE shop = '$name'
			  AND (log_id, encode(row_hash, 'hex')) IN (@{[ join(',', map { "($_)" } split /\n/,
			  $node->safe_psql('postgres', q{SELECT log_id || ', ''' || encode(row_hash, 'hex') || '''' FROM loginas.action_log})) ]})}),
		$node->safe_psql('postgres', 'SELECT count(*) FROM loginas.action_log'),
		"every row $name still has is in central, with the same hash");
	is($node->safe_psql('postgres', 'SELECT intact || \' \' || problem FROM loginas.verify_log()'), 'true intact',
		"$name\'s own verify_log() passes after its purge");
	is($central->safe_psql('audit', $verify->($name)), 'true intact',
		"audit.verify_log('$name') passes on central's fuller copy");
}

# --- central's copy is guarded and its verification finds tampering --------------------------------
my ($rc, $out, $err) = $central->psql('audit', q{UPDATE loginas.action_log SET reason = 'forged' WHERE shop = 'store_a'});
like($err, qr/the central audit log is append-only/, 'central refuses UPDATE of the log');
($rc, $out, $err) = $central->psql('audit', q{DELETE FROM loginas.action_log WHERE shop = 'store_b'});
like($err, qr/the central audit log is append-only/, 'central refuses DELETE of the log');
($rc, $out, $err) = $central->psql('audit',
	q{INSERT INTO loginas.action_log (log_id, logged_at, action_group, action, result, db_role, details, chain_id, chain_seq, prev_hash, row_hash)
	  VALUES (1, now(), 'Login As Customer', 'forged', 'success', 'x', '{}', 1, 1, '\x00', '\x00')});
like($err, qr/null value in column "shop"/, 'a row written by anyone but a subscription gets no shop: refused');

my $victim = $central->safe_psql('audit',
	q{SELECT log_id FROM loginas.action_log WHERE shop = 'store_a' AND action = 'write_insert' ORDER BY log_id DESC LIMIT 1});
is( $central->safe_psql(
		'audit', qq{BEGIN;
		ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
		UPDATE loginas.action_log SET details = jsonb_set(details, '{keys}', '[["999"]]') WHERE shop = 'store_a' AND log_id = $victim;
		SELECT concat_ws(' ', intact, log_id, problem) FROM audit.verify_log('store_a');
		SELECT concat_ws(' ', intact, problem) FROM audit.verify_log('store_b');
		ROLLBACK;}),
	"f $victim the row does not match its hash (edited)\nt intact",
	'an edited central row is found, for its shop only');
my ($gap, $next) = split /,/, $central->safe_psql('audit',
	q{SELECT l.log_id || ',' || n.log_id FROM loginas.action_log l
	    JOIN loginas.action_log n ON n.shop = l.shop AND n.chain_id = l.chain_id AND n.chain_seq = l.chain_seq + 1
	   WHERE l.shop = 'store_b' AND l.chain_seq > 1 ORDER BY l.log_id LIMIT 1});
is( $central->safe_psql(
		'audit', qq{BEGIN;
		ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
		DELETE FROM loginas.action_log WHERE shop = 'store_b' AND log_id = $gap;
		SELECT concat_ws(' ', intact, log_id, problem) FROM audit.verify_log('store_b');
		ROLLBACK;}),
	"f $next rows are missing before this one (deleted)",
	'a deleted central row is found (the gap it leaves in its chain)');
is($central->safe_psql('audit', $verify->('store_a')) . ',' . $central->safe_psql('audit', $verify->('store_b')),
	'true intact,true intact', 'after the rolled-back tampering both shops verify again');

# --- the replication itself stayed healthy ------------------------------------------------------------
is( $central->safe_psql(
		'audit', q{SELECT string_agg(subname || ':' || (pid IS NOT NULL), ',' ORDER BY subname)
		  FROM pg_stat_subscription WHERE relid IS NULL}),
	'store_a:true,store_b:true', 'both apply workers are running');
unlike(substr(slurp_file($central->logfile), $central_log_start),
	qr/ERROR:  (?!the central audit log is append-only|null value in column "shop")/,
	'central\'s server log shows no error but the refused test writes (no apply worker failed)');

$central->stop;
$store_a->stop;
$store_b->stop;
done_testing();
