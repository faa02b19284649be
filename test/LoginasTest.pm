
# LoginasTest.pm
#	What the TAP tests (test/t/*.pl) share: a started PostgreSQL::Test::Cluster
#	node configured for loginas, the SQL of the small shop each of them
#	sets up -- the tables behind the bound views and their rows, the views
#	bound as customers / admins / store_views (and orders), readable by
#	loginas_reader, the feature enabled, a role granted, customers' consent
#	-- and a query on a persistent (BackgroundPsql) connection.  Each test
#	appends what is its own (tracked tables, roles, secrets).
#
# test/run-tests.sh puts test/ (this directory) on PERL5LIB when it runs
# prove, next to PostgreSQL's test/perl; `use LoginasTest;` finds it there.
package LoginasTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(loginas_node shop_setup_sql tracked_quotes_sql background_query);

# loginas_node(NAME, %opts): a new node, initialised and started.
#	preload => 1	loginas in shared_preload_libraries (the durable refusal
#			log's queue and workers)
#	conf => TEXT	more postgresql.conf lines, appended as they are
#	init => [...]	arguments of PostgreSQL::Test::Cluster::init
#			(e.g. allows_streaming => 1)
sub loginas_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(@{ $opts{init} // [] });
	my $conf = ($opts{preload} ? "shared_preload_libraries = 'loginas'\n" : '') . ($opts{conf} // '');
	$node->append_conf('postgresql.conf', $conf) if $conf ne '';
	$node->start;
	return $node;
}

# The shop's own tables behind the three views every test binds.
my $shop_tables = q{
	CREATE SCHEMA shop;
	CREATE TABLE shop.website (website_id int PRIMARY KEY, name text NOT NULL);
	CREATE TABLE shop.store (store_id int PRIMARY KEY, website_id int NOT NULL, name text NOT NULL,
		is_active boolean NOT NULL DEFAULT true, is_default boolean NOT NULL DEFAULT false);
	CREATE TABLE shop.customer (customer_id int PRIMARY KEY, email text NOT NULL, firstname text, lastname text,
		is_active boolean NOT NULL DEFAULT true, website_id int NOT NULL, store_id int NOT NULL);
	CREATE TABLE shop.admin (admin_id int PRIMARY KEY, username text NOT NULL, firstname text, lastname text,
		is_active boolean NOT NULL DEFAULT true, role text NOT NULL);
};

my $orders_table = q{
	CREATE TABLE shop.sales_order (order_id int PRIMARY KEY, customer_id int, store_id int NOT NULL,
		increment_id text NOT NULL);
};

my $shop_views = q{
	CREATE VIEW shop.loginas_customers AS SELECT customer_id, email, firstname || ' ' || lastname AS display_name,
		is_active, website_id, store_id FROM shop.customer;
	CREATE VIEW shop.loginas_admins AS SELECT admin_id, username, firstname || ' ' || lastname AS display_name,
		is_active, role FROM shop.admin;
	CREATE VIEW shop.loginas_store_views AS SELECT s.store_id, s.website_id, s.name, w.name AS website_name,
		s.is_active, s.is_default FROM shop.store s JOIN shop.website w USING (website_id);
};

my $orders_view = q{
	CREATE VIEW shop.loginas_orders AS SELECT order_id AS document_id, customer_id, store_id,
		increment_id AS reference FROM shop.sales_order;
};

# One website and store; customer 1 Veronica Costello, admin 1 Ada (role
# Administrators).
my $one_customer_rows = q{
	INSERT INTO shop.website VALUES (1, 'Main Website');
	INSERT INTO shop.store VALUES (1, 1, 'Default Store View', true, true);
	INSERT INTO shop.customer VALUES (1, 'veronica@example.com', 'Veronica', 'Costello', true, 1, 1);
	INSERT INTO shop.admin VALUES (1, 'ada', 'Ada', 'Admin', true, 'Administrators');
};

# One website and store; customers 1..C "Customer No<n>" (customer<n>@example.com),
# admins 1..A "Admin No<n>" (admin<n>, role Support).  With a shop name, the
# website, store, e-mails and user names carry it ("<name>-customer<n>@...").
sub numbered_rows
{
	my ($customers, $admins, $name) = @_;
	my ($website, $store, $prefix) =
	  defined $name ? ("$name website", "$name default", "$name-") : ('Main Website', 'Default Store View', '');
	return qq{
	INSERT INTO shop.website VALUES (1, '$website');
	INSERT INTO shop.store VALUES (1, 1, '$store', true, true);
	INSERT INTO shop.customer SELECT n, '${prefix}customer' || n || '\@example.com', 'Customer', 'No' || n, true, 1, 1
		FROM generate_series(1, $customers) n;
	INSERT INTO shop.admin SELECT n, '${prefix}admin' || n, 'Admin', 'No' || n, true, 'Support'
		FROM generate_series(1, $admins) n;
};
}

# pairs (a, b, c, d, ...) as [a, b], [c, d], ...
sub pairs_of
{
	my ($list) = @_;
	my @l = @{ $list // [] };
	die 'an even-sized list of pairs expected' if @l % 2;
	return map { [ $l[ 2 * $_ ], $l[ 2 * $_ + 1 ] ] } 0 .. @l / 2 - 1;
}

# shop_setup_sql(%opts): the shop as one SQL script (for safe_psql; a test
# appends its own statements).  The steps, in order, and what the options add
# after each (or instead of it):
#	CREATE EXTENSION loginas CASCADE		extension => 0: left out
#	schema shop: website, store, customer, admin
#	  (orders => 1: and shop.sales_order)		tables => SQL
#	the rows (below)				data => SQL
#	views loginas_customers, _admins, _store_views
#	  (orders => 1: and loginas_orders)		views => SQL
#	GRANT USAGE ON SCHEMA shop, SELECT on those
#	  views TO loginas_reader			readable => [view, ...]
#	bind() them as customers, admins, store_views
#	  (orders)					bind => [kind => view, ...]
#	configure('enabled', 'on')			settings => [name => value, ...]
#	grant(<the admins' role>, 'login')		grants => [role => privilege, ...]
#							  instead
#	set_assistance(n, true): customer 1, or every	consent => N (1..N) or
#	  numbered customer				  [id, ...] instead
# The rows: by default the one-customer shop (Veronica, admin Ada, role
# Administrators); with customers => C (admins => A, default C; shop_name =>
# NAME) the numbered one (role Support); rows => SQL instead of either.
sub shop_setup_sql
{
	my (%o) = @_;
	my $numbered = defined $o{customers};
	my $sql = ($o{extension} // 1) ? "\n\tCREATE EXTENSION loginas CASCADE;" : '';

	$sql .= $shop_tables;
	$sql .= $orders_table if $o{orders};
	$sql .= $o{tables} // '';

	$sql .=
	    defined $o{rows} ? $o{rows}
	  : $numbered ? numbered_rows($o{customers}, $o{admins} // $o{customers}, $o{shop_name})
	  :             $one_customer_rows;
	$sql .= $o{data} // '';

	$sql .= $shop_views;
	$sql .= $orders_view if $o{orders};
	$sql .= $o{views} // '';

	my @readable = map { "shop.loginas_$_" } qw(customers admins store_views);
	push @readable, 'shop.loginas_orders' if $o{orders};
	push @readable, @{ $o{readable} // [] };
	$sql .= "\tGRANT USAGE ON SCHEMA shop TO loginas_reader;\n";
	$sql .= "\tGRANT SELECT ON " . join(', ', @readable) . " TO loginas_reader;\n";

	my @bind = (customers => 'shop.loginas_customers', admins => 'shop.loginas_admins',
		store_views => 'shop.loginas_store_views');
	push @bind, orders => 'shop.loginas_orders' if $o{orders};
	push @bind, @{ $o{bind} // [] };
	$sql .= "\tSELECT loginas.bind('$_->[0]', '$_->[1]');\n" for pairs_of(\@bind);

	$sql .= "\tSELECT loginas.configure('$_->[0]', '$_->[1]');\n" for pairs_of([ enabled => 'on', @{ $o{settings} // [] } ]);

	my $role = $numbered ? 'Support' : 'Administrators';
	$sql .= "\tSELECT loginas.grant('$_->[0]', '$_->[1]');\n" for pairs_of($o{grants} // [ $role => 'login' ]);

	my $consent = $o{consent} // ($numbered ? $o{customers} : [1]);
	if (ref $consent)
	{
		$sql .= "\tSELECT loginas.set_assistance($_, true);\n" for @$consent;
	}
	else
	{
		$sql .= "\tSELECT loginas.set_assistance(n, true) FROM generate_series(1, $consent) n;\n";
	}
	return $sql;
}

# tracked_quotes_sql(N): a tracked cart -- shop.quote (one per customer 1..N,
# its coupon protected) and its child shop.quote_item (composite key) --
# as SQL to append to shop_setup_sql's
sub tracked_quotes_sql
{
	my ($customers) = @_;
	return qq{
	CREATE TABLE shop.quote (quote_id int PRIMARY KEY, customer_id int NOT NULL, coupon text,
		items int NOT NULL DEFAULT 0);
	CREATE TABLE shop.quote_item (quote_id int NOT NULL REFERENCES shop.quote, item_no int NOT NULL,
		sku text NOT NULL, PRIMARY KEY (quote_id, item_no));
	INSERT INTO shop.quote (quote_id, customer_id) SELECT n, n FROM generate_series(1, $customers) n;
	SELECT loginas.track('shop.quote', 'customer_id');
	SELECT loginas.track('shop.quote_item', parent => 'shop.quote');
	SELECT loginas.protect('shop.quote', 'coupon');
};
}

# background_query(PSQL, SQL): run SQL on a BackgroundPsql session (one
# connection, one backend, for a whole test); returns (stdout, stderr of this
# query only).
sub background_query
{
	my ($psql, $sql) = @_;
	$psql->{stderr} = '';
	my $out = $psql->query($sql);
	my $err = $psql->{stderr};
	$psql->{stderr} = '';
	return ($out, $err);
}

1;
