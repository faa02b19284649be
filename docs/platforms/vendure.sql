-- docs/platforms/vendure.sql — loginas on a Vendure 3.x database (PostgreSQL, integer ids).
-- Explained in docs/platforms/vendure.md; run by `make test-platforms` against a schema
-- that Vendure's own bootstrap created.  Run it as a superuser, in the shop database,
-- once Vendure's schema exists (after the first `synchronize: true` start or the
-- migrations).  Every table is tracked with stamps => 'table': loginas adds no column
-- to Vendure's tables (the stamps are rows of loginas.row_stamp), so Vendure may go on
-- starting with `synchronize: true` and its generated migrations stay clean (see the .md).
--
--   psql -v ON_ERROR_STOP=1 -d vendure -f docs/platforms/vendure.sql
--
-- Assumes Vendure's tables are in schema public (the default) and its ids are integers
-- (the default entityIdStrategy; text/uuid ids are not supported by loginas yet).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS loginas CASCADE;          -- and pgcrypto

-- ---------------------------------------------------------------------------
-- 1. Database roles.  Two pools of Vendure (same code and config, different
--    database user): the admin backend (Vendure serving /admin-api) and the
--    storefront (Vendure serving /shop-api).  The tables stay owned by the
--    role that ran synchronize/migrations (here: the database owner), never by
--    the storefront: a table's owner can switch loginas' triggers off.
--    Passwords: ALTER ROLE ... PASSWORD '...' (not here).
--    One Vendure serving both APIs from one pool instead: run the optional
--    docs/platforms/vendure-one-role.sql after this file (what one role loses:
--    docs/platforms/vendure.md, "Database roles").
-- ---------------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vendure_storefront') THEN
		CREATE ROLE vendure_storefront LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vendure_backend') THEN
		CREATE ROLE vendure_backend LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vendure_reports') THEN
		CREATE ROLE vendure_reports LOGIN;
	END IF;
END
$$;
GRANT loginas_storefront TO vendure_storefront;
GRANT loginas_admin      TO vendure_backend;
GRANT loginas_reporting  TO vendure_reports;
-- Vendure itself needs to read and write its tables in both pools
GRANT USAGE ON SCHEMA public TO vendure_storefront, vendure_backend;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO vendure_storefront, vendure_backend;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO vendure_storefront, vendure_backend;
-- reports read Vendure's rows too, to join them to their stamps (loginas.row_stamps)
GRANT USAGE ON SCHEMA public TO vendure_reports;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO vendure_reports;
-- secrets stay out of the server log (docs/integration.md#secrets)
ALTER ROLE vendure_storefront SET log_parameter_max_length = 0;
ALTER ROLE vendure_backend SET log_parameter_max_length = 0;

-- ---------------------------------------------------------------------------
-- 2. The binding views (docs/integration.md#binding-the-shops-tables).
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS vendure_loginas;

-- Customers: one row per channel the customer is in (a channel is a website with one
-- store view).  Guests are customers without a user (userId NULL).  A soft-deleted
-- customer (deletedAt) or user is inactive.
CREATE OR REPLACE VIEW vendure_loginas.customers AS
    SELECT c.id AS customer_id,
           c."emailAddress" AS email,
           concat_ws(' ', c."firstName", c."lastName") AS display_name,
           c."deletedAt" IS NULL AND u."deletedAt" IS NULL AS is_active,
           cc."channelId" AS website_id,
           cc."channelId" AS store_id,
           c."userId" IS NULL AS is_guest
      FROM public.customer c
      JOIN public.customer_channels_channel cc ON cc."customerId" = c.id
      LEFT JOIN public."user" u ON u.id = c."userId";

-- Admins: one row per role (user_roles_role); loginas.grant() names Vendure role codes.
CREATE OR REPLACE VIEW vendure_loginas.admins AS
    SELECT a.id AS admin_id,
           u.identifier AS username,
           concat_ws(' ', a."firstName", a."lastName") AS display_name,
           a."deletedAt" IS NULL AND u."deletedAt" IS NULL AS is_active,
           r.code AS role
      FROM public.administrator a
      JOIN public."user" u ON u.id = a."userId"
      LEFT JOIN public.user_roles_role ur ON ur."userId" = u.id
      LEFT JOIN public.role r ON r.id = ur."roleId";

-- Store views: a channel is a website with a single store view, its own default.
-- Vendure has no per-channel "enabled" flag: every channel is active.  The name is in the
-- banner (You are connected as ... on <website_name>): the default channel's code is not one.
CREATE OR REPLACE VIEW vendure_loginas.store_views AS
    SELECT ch.id AS store_id,
           ch.id AS website_id,
           CASE ch.code WHEN '__default_channel__' THEN 'Default channel' ELSE ch.code END AS name,
           CASE ch.code WHEN '__default_channel__' THEN 'Default channel' ELSE ch.code END AS website_name,
           true AS is_active,
           true AS is_default
      FROM public.channel ch;

-- The channel of a document: an order is in the default channel and, in a multi-channel
-- shop, in its own channel too; the non-default one is its store view (one row per order).
-- (A lateral subquery in each view, not a function: a view reads its tables with its
-- owner's rights, a function called from it would run as loginas_reader.)
-- Orders: a guest's order points to the guest customer (loginas refuses it as a guest's);
-- an order without a customer (an anonymous cart) is a guest document.
CREATE OR REPLACE VIEW vendure_loginas.orders AS
    SELECT o.id AS document_id, o."customerId" AS customer_id,
           och."channelId" AS store_id, o.code AS reference
      FROM public."order" o
      LEFT JOIN LATERAL (SELECT oc."channelId"
                           FROM public.order_channels_channel oc
                           JOIN public.channel ch ON ch.id = oc."channelId"
                          WHERE oc."orderId" = o.id
                          ORDER BY ch.code = '__default_channel__', oc."channelId"
                          LIMIT 1) och ON true;

-- Shipments ~ Vendure fulfillments.  A fulfillment reaches its order through the order
-- lines it ships (order_line_reference); it is the order of its lowest line.
CREATE OR REPLACE VIEW vendure_loginas.shipments AS
    SELECT f.id AS document_id, o."customerId" AS customer_id,
           och."channelId" AS store_id,
           concat_ws(' ', o.code, f.method, nullif(f."trackingCode", '')) AS reference
      FROM public.fulfillment f
      JOIN LATERAL (SELECT ol."orderId"
                      FROM public.order_line_reference r
                      JOIN public.order_line ol ON ol.id = r."orderLineId"
                     WHERE r."fulfillmentId" = f.id
                     ORDER BY ol.id LIMIT 1) fo ON true
      JOIN public."order" o ON o.id = fo."orderId"
      LEFT JOIN LATERAL (SELECT oc."channelId"
                           FROM public.order_channels_channel oc
                           JOIN public.channel ch ON ch.id = oc."channelId"
                          WHERE oc."orderId" = o.id
                          ORDER BY ch.code = '__default_channel__', oc."channelId"
                          LIMIT 1) och ON true;

-- Credit memos ~ Vendure refunds (refund -> payment -> order).
CREATE OR REPLACE VIEW vendure_loginas.credit_memos AS
    SELECT rf.id AS document_id, o."customerId" AS customer_id,
           och."channelId" AS store_id,
           concat_ws(' ', o.code, 'refund', rf.id) AS reference
      FROM public.refund rf
      JOIN public.payment p ON p.id = rf."paymentId"
      JOIN public."order" o ON o.id = p."orderId"
      LEFT JOIN LATERAL (SELECT oc."channelId"
                           FROM public.order_channels_channel oc
                           JOIN public.channel ch ON ch.id = oc."channelId"
                          WHERE oc."orderId" = o.id
                          ORDER BY ch.code = '__default_channel__', oc."channelId"
                          LIMIT 1) och ON true;

-- Invoices: Vendure's core has none (an invoice plugin keeps its own tables): not bound,
-- so begin_from(..., 'invoice', ...) fails with 55000.

GRANT USAGE ON SCHEMA vendure_loginas TO loginas_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA vendure_loginas TO loginas_reader;

SELECT loginas.bind('customers',    'vendure_loginas.customers');
SELECT loginas.bind('admins',       'vendure_loginas.admins');
SELECT loginas.bind('store_views',  'vendure_loginas.store_views');
SELECT loginas.bind('orders',       'vendure_loginas.orders');
SELECT loginas.bind('shipments',    'vendure_loginas.shipments');
SELECT loginas.bind('credit_memos', 'vendure_loginas.credit_memos');

-- ---------------------------------------------------------------------------
-- 3. Write attribution: the tables a storefront request writes for one customer.
--    stamps => 'table': the stamps stay out of Vendure's tables, in loginas.row_stamp
--    (read through loginas.row_stamps), where TypeORM's synchronize cannot drop them.
-- ---------------------------------------------------------------------------
SELECT loginas.track('public.customer', customer_column => 'id', stamps => 'table');
-- the login row: customer.userId -> user (an administrator's user reaches no customer)
SELECT loginas.track_through('public."user"', ARRAY['public.customer'::regclass], stamps => 'table');
SELECT loginas.track('public.authentication_method', parent => 'public."user"', stamps => 'table');
SELECT loginas.track('public.address', customer_column => 'customerId', stamps => 'table');
SELECT loginas.track('public."order"', customer_column => 'customerId', stamps => 'table');
SELECT loginas.track('public.order_line', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.shipping_line', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.surcharge', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.payment', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.order_modification', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.refund', parent => 'public.payment', stamps => 'table');
-- history entries belong to their customer (CustomerHistoryEntry) or their order (OrderHistoryEntry)
SELECT loginas.track_through('public.history_entry', ARRAY['public.customer'::regclass, 'public."order"'], stamps => 'table');

-- credentials and the login e-mail: an assistant never changes them
SELECT loginas.protect('public.customer', 'emailAddress');
SELECT loginas.protect('public."user"', 'identifier');
SELECT loginas.protect('public.authentication_method', 'identifier');
SELECT loginas.protect('public.authentication_method', 'passwordHash');
SELECT loginas.protect('public.authentication_method', 'passwordResetToken');
SELECT loginas.protect('public.authentication_method', 'verificationToken');
SELECT loginas.protect('public.authentication_method', 'identifierChangeToken');
SELECT loginas.protect('public.authentication_method', 'pendingIdentifier');

-- ---------------------------------------------------------------------------
-- 4. Settings and role resources: Vendure role codes.
-- ---------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'on');
SELECT loginas.configure('require_reason', 'on');
SELECT loginas.grant('customer-support', 'login');
SELECT loginas.grant('customer-support', 'view_log');
SELECT loginas.grant('__super_admin_role__', 'manage_assistance');
