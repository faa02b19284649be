-- docs/examples/php/setup.sql — the DBA's part for the PHP client example:
-- the setup steps of test/demo/story.sql (steps 0-3), on a database where
-- test/demo/shop.sql (Magento's tables, the views in schema shop_loginas and
-- the login roles magento_backend and magento_storefront) is loaded.
-- Run as a superuser:
--
--   psql -v ON_ERROR_STOP=1 -d shopdb -f test/demo/shop.sql
--   psql -v ON_ERROR_STOP=1 -d shopdb -f docs/examples/php/setup.sql
--
-- What the PHP program does itself (client.php) is the applications' part:
-- the customer's consent, begin, redeem, the requests, logout, the report.

SET client_min_messages = warning;

CREATE EXTENSION loginas CASCADE;          -- and pgcrypto

-- The database roles of the three applications (docs/operations.md).
-- magento_reports reads the log; shop.sql creates the other two.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'magento_reports') THEN
		CREATE ROLE magento_reports LOGIN;
	END IF;
END
$$;
GRANT loginas_admin      TO magento_backend;
GRANT loginas_storefront TO magento_storefront;
GRANT loginas_reporting  TO magento_reports;

-- loginas reads the bound views as loginas_reader (granted to nobody): say
-- what it may read, then bind Magento's tables through the views.
GRANT USAGE ON SCHEMA shop_loginas TO loginas_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA shop_loginas TO loginas_reader;
SELECT loginas.bind('customers',    'shop_loginas.customers');
SELECT loginas.bind('admins',       'shop_loginas.admins');
SELECT loginas.bind('store_views',  'shop_loginas.store_views');
SELECT loginas.bind('orders',       'shop_loginas.orders');
SELECT loginas.bind('invoices',     'shop_loginas.invoices');
SELECT loginas.bind('shipments',    'shop_loginas.shipments');
SELECT loginas.bind('credit_memos', 'shop_loginas.credit_memos');

-- Write attribution on the tables a session writes (docs/integration.md).
SELECT loginas.track('customer_entity', customer_column => 'entity_id');
SELECT loginas.track('quote', customer_column => 'customer_id');
SELECT loginas.track('quote_item', parent => 'quote');
SELECT loginas.track('sales_order', customer_column => 'customer_id');
SELECT loginas.track('sales_order_item', parent => 'sales_order');
SELECT loginas.track('sales_order_status_history', parent => 'sales_order');
SELECT loginas.protect('customer_entity', 'password_hash');
SELECT loginas.protect('customer_entity', 'email');

-- What the customer's access history (My Account) calls each table's changes.
SELECT loginas.describe('quote_item', 'added {n} item(s) to your cart', 'insert', by_admin => 1);
SELECT loginas.describe('quote_item', 'changed your cart', by_admin => 1);
SELECT loginas.describe('sales_order', 'placed {n} order(s) for you', 'insert', by_admin => 1);

-- Stores > Configuration > Customers > Login as Customer, and the role
-- resources (System > Permissions > User Roles), set by admin user 1.
SELECT loginas.configure('enabled', 'on', by_admin => 1);
SELECT loginas.grant('Administrators', 'login', by_admin => 1);
SELECT loginas.grant('Administrators', 'view_log', by_admin => 1);
SELECT loginas.grant('Support', 'login', by_admin => 1);
