-- docs/platforms/medusa.sql — loginas on a Medusa 2.x database (PostgreSQL, text ids).
-- Explained in docs/platforms/medusa.md; run by `make test-platforms` against a schema
-- that Medusa's own migrations (`medusa db:migrate`) created.  Run it as a superuser, in
-- the shop database, once Medusa's schema exists:
--
--   psql -v ON_ERROR_STOP=1 -d medusa -f docs/platforms/medusa.sql
--
-- Assumes Medusa's tables are in schema public (the default) and owned by the role that
-- runs `medusa db:migrate` (here medusa_owner): Medusa serves the shop as other roles.
-- Every id of Medusa's is text (cus_01…, user_01…, sc_01…, order_01…): loginas takes them
-- as they are (keys of any type, loginas 1.3).  Every table is tracked with
-- stamps => 'table': loginas adds no column to Medusa's tables (see the .md).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS loginas CASCADE;          -- and pgcrypto

-- ---------------------------------------------------------------------------
-- 1. Database roles.  Two deployments of the same Medusa (same code and config,
--    different DATABASE_URL user): the storefront (Medusa serving /store and
--    /auth/customer) and the admin backend (Medusa serving /admin and
--    /auth/user).  The tables stay owned by the role that runs the migrations,
--    never by a serving role: a table's owner can switch loginas' triggers off.
--    Passwords: ALTER ROLE ... PASSWORD '...' (not here).
-- ---------------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'medusa_storefront') THEN
		CREATE ROLE medusa_storefront LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'medusa_backend') THEN
		CREATE ROLE medusa_backend LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'medusa_reports') THEN
		CREATE ROLE medusa_reports LOGIN;
	END IF;
END
$$;
GRANT loginas_storefront TO medusa_storefront;
GRANT loginas_admin      TO medusa_backend;
GRANT loginas_reporting  TO medusa_reports;
-- Medusa itself reads and writes its tables in both deployments (order numbers, return
-- numbers, ... come from sequences)
GRANT USAGE ON SCHEMA public TO medusa_storefront, medusa_backend;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO medusa_storefront, medusa_backend;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO medusa_storefront, medusa_backend;
-- tables that later migrations create (a Medusa upgrade, a plugin's module) get the same
-- rights when the schema owner (the owner of public.customer) creates them
DO $$
DECLARE owner name := (SELECT c.relowner::regrole::name FROM pg_class c WHERE c.oid = 'public.customer'::regclass);
BEGIN
	EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public
	                GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO medusa_storefront, medusa_backend', owner);
	EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public
	                GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO medusa_storefront, medusa_backend', owner);
	EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO medusa_reports', owner);
END
$$;
-- reports read Medusa's rows too, to join them to their stamps (loginas.row_stamps)
GRANT USAGE ON SCHEMA public TO medusa_reports;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO medusa_reports;
-- secrets stay out of the server log (docs/integration.md#secrets)
ALTER ROLE medusa_storefront SET log_parameter_max_length = 0;
ALTER ROLE medusa_backend SET log_parameter_max_length = 0;

-- ---------------------------------------------------------------------------
-- 2. The binding views (docs/integration.md#binding-the-shops-tables), over
--    Medusa's own tables, with Medusa's own text ids.
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS medusa_loginas;

-- The website: Medusa's store (the store module's `store`, store_01…; a Medusa instance
-- has one).  Of several, the oldest.  Sales channels belong to no store in Medusa: each
-- is a store view of this one website.
CREATE OR REPLACE VIEW medusa_loginas.website AS
    SELECT s.id AS website_id, s.name AS website_name, s.default_sales_channel_id
      FROM public.store s
     WHERE s.deleted_at IS NULL
     ORDER BY s.created_at, s.id
     LIMIT 1;

-- Customers: one row each (a Medusa customer is not per sales channel), in the website.
-- A guest checkout makes a customer with has_account = false: is_guest, refused by begin().
-- No store view of their own: begin() picks the website's default store view (the store's
-- default sales channel) unless the admin chooses one.
CREATE OR REPLACE VIEW medusa_loginas.customers AS
    SELECT c.id AS customer_id,
           c.email,
           concat_ws(' ', c.first_name, c.last_name) AS display_name,
           c.deleted_at IS NULL AS is_active,
           w.website_id,
           NULL::text AS store_id,
           NOT c.has_account AS is_guest
      FROM public.customer c
      LEFT JOIN medusa_loginas.website w ON true;

-- Admins: Medusa's users ("user", user_01…).  Medusa 2.x has no admin roles unless the RBAC
-- module is loaded: every user may do everything.  Each user has the role of its metadata
-- key "loginas_role" (set through the admin API: POST /admin/users/:id {metadata}), else
-- 'admin'; loginas.grant() names these roles (below: 'admin' may log in as customers, as
-- every Medusa admin may edit every customer).  With the RBAC module loaded, use its roles
-- instead (docs/platforms/medusa.md, "Admins and roles").
CREATE OR REPLACE VIEW medusa_loginas.admins AS
    SELECT u.id AS admin_id,
           u.email AS username,
           concat_ws(' ', u.first_name, u.last_name) AS display_name,
           u.deleted_at IS NULL AS is_active,
           coalesce(nullif(u.metadata->>'loginas_role', ''), 'admin') AS role
      FROM public."user" u;

-- Store views: Medusa's sales channels (sc_01…), in the one website; the store's default
-- sales channel is its default store view.
CREATE OR REPLACE VIEW medusa_loginas.store_views AS
    SELECT sc.id AS store_id,
           w.website_id,
           sc.name,
           w.website_name,
           NOT sc.is_disabled AND sc.deleted_at IS NULL AS is_active,
           sc.id IS NOT DISTINCT FROM w.default_sales_channel_id AS is_default
      FROM public.sales_channel sc
      LEFT JOIN medusa_loginas.website w ON true;

-- Orders ("order", order_01…): reference "#<display_id>", as Medusa's admin shows it.  A
-- guest's order points to the guest customer (refused as a guest's); a draft order too is
-- an order (is_draft_order).
CREATE OR REPLACE VIEW medusa_loginas.orders AS
    SELECT o.id AS document_id,
           o.customer_id,
           o.sales_channel_id AS store_id,
           '#' || coalesce(o.custom_display_id, o.display_id::text) AS reference
      FROM public."order" o
     WHERE o.deleted_at IS NULL;

-- Shipments ~ Medusa fulfillments (ful_01…), linked to their order by the link table
-- order_fulfillment (no foreign key: Medusa's modules share none).
CREATE OR REPLACE VIEW medusa_loginas.shipments AS
    SELECT f.id AS document_id,
           o.customer_id,
           o.sales_channel_id AS store_id,
           concat_ws(' ', '#' || coalesce(o.custom_display_id, o.display_id::text), 'fulfillment', f.id) AS reference
      FROM public.fulfillment f
      JOIN public.order_fulfillment ofl ON ofl.fulfillment_id = f.id AND ofl.deleted_at IS NULL
      JOIN public."order" o ON o.id = ofl.order_id
     WHERE f.deleted_at IS NULL;

-- Credit memos ~ Medusa refunds (ref_01…): refund -> payment -> payment collection, linked
-- to its order by the link table order_payment_collection.
CREATE OR REPLACE VIEW medusa_loginas.credit_memos AS
    SELECT r.id AS document_id,
           o.customer_id,
           o.sales_channel_id AS store_id,
           concat_ws(' ', '#' || coalesce(o.custom_display_id, o.display_id::text), 'refund', r.id) AS reference
      FROM public.refund r
      JOIN public.payment p ON p.id = r.payment_id
      JOIN public.order_payment_collection opc ON opc.payment_collection_id = p.payment_collection_id
                                              AND opc.deleted_at IS NULL
      JOIN public."order" o ON o.id = opc.order_id
     WHERE r.deleted_at IS NULL;

-- Invoices: Medusa 2.x has none (an invoice plugin keeps its own tables): not bound, so
-- begin_from(..., 'invoice', ...) fails with 55000.

GRANT USAGE ON SCHEMA medusa_loginas TO loginas_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA medusa_loginas TO loginas_reader;

SELECT loginas.bind('customers',    'medusa_loginas.customers');
SELECT loginas.bind('admins',       'medusa_loginas.admins');
SELECT loginas.bind('store_views',  'medusa_loginas.store_views');
SELECT loginas.bind('orders',       'medusa_loginas.orders');
SELECT loginas.bind('shipments',    'medusa_loginas.shipments');
SELECT loginas.bind('credit_memos', 'medusa_loginas.credit_memos');

-- ---------------------------------------------------------------------------
-- 3. Write attribution: the tables a storefront request writes for one customer.
--    stamps => 'table': the stamps stay out of Medusa's tables, in loginas.row_stamp
--    (read through loginas.row_stamps).
-- ---------------------------------------------------------------------------
-- customer module
SELECT loginas.track('public.customer', customer_column => 'id', stamps => 'table');
SELECT loginas.track('public.customer_address', customer_column => 'customer_id', stamps => 'table');
-- cart module: a cart carries its customer (no foreign key: a column); its addresses are
-- the rows its shipping_address_id / billing_address_id point to (their own customer_id
-- is never filled by Medusa)
SELECT loginas.track('public.cart', customer_column => 'customer_id', stamps => 'table');
SELECT loginas.track_through('public.cart_address', ARRAY['public.cart'::regclass], stamps => 'table');
SELECT loginas.track('public.cart_line_item', parent => 'public.cart', stamps => 'table');
SELECT loginas.track('public.cart_line_item_adjustment', parent => 'public.cart_line_item', stamps => 'table');
SELECT loginas.track('public.cart_line_item_tax_line', parent => 'public.cart_line_item', stamps => 'table');
SELECT loginas.track('public.cart_shipping_method', parent => 'public.cart', stamps => 'table');
SELECT loginas.track('public.cart_shipping_method_adjustment', parent => 'public.cart_shipping_method', stamps => 'table');
SELECT loginas.track('public.cart_shipping_method_tax_line', parent => 'public.cart_shipping_method', stamps => 'table');
SELECT loginas.track('public.credit_line', parent => 'public.cart', stamps => 'table');
-- order module: the order carries its customer; its addresses as the cart's; its items
-- (one row per order version) by their order; a line item is reached from the order only
-- through its item (order_item.item_id -> order_line_item) or its totals_id
SELECT loginas.track('public."order"', customer_column => 'customer_id', stamps => 'table');
SELECT loginas.track_through('public.order_address', ARRAY['public."order"'::regclass], stamps => 'table');
SELECT loginas.track('public.order_item', parent => 'public."order"', stamps => 'table');
SELECT loginas.track_through('public.order_line_item', ARRAY['public.order_item'::regclass], stamps => 'table');
SELECT loginas.track('public.order_line_item_adjustment', parent => 'public.order_line_item', stamps => 'table');
SELECT loginas.track('public.order_line_item_tax_line', parent => 'public.order_line_item', stamps => 'table');
SELECT loginas.track('public.order_summary', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.order_shipping', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.order_transaction', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.order_credit_line', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.order_change', parent => 'public."order"', stamps => 'table');
SELECT loginas.track('public.order_change_action', parent => 'public.order_change', stamps => 'table');

-- the customer's e-mail: an assistant never changes it (Medusa's store API does not either)
SELECT loginas.protect('public.customer', 'email');

-- Credentials: Medusa's auth module keeps them in auth_identity (app_metadata holds
-- {"customer_id": …} or {"user_id": …}) and provider_identity (the emailpass password hash
-- in provider_metadata), with no column that names their owner: loginas can neither
-- attribute nor protect them.  So no session writes them at all: a trigger of the recipe
-- refuses every write in a Login as Customer session (loginas.in_session()) with 42501 —
-- the impersonated customer's own password too; outside sessions nothing changes.  (These
-- refusals are not rows of loginas' log: the server log has them.)
CREATE OR REPLACE FUNCTION medusa_loginas.refuse_credentials_in_session() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'credentials cannot be changed in a Login as Customer session'
		USING ERRCODE = '42501',
		      DETAIL = format('%s on %s.%s in Login as Customer session %s.', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME,
		                      loginas.current_session()),
		      HINT = 'The customer changes their credentials in a request of their own.';
END
$$;
REVOKE ALL ON FUNCTION medusa_loginas.refuse_credentials_in_session() FROM PUBLIC;
DO $$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['auth_identity', 'provider_identity'] LOOP
		EXECUTE format('DROP TRIGGER IF EXISTS zz_medusa_loginas_credentials ON public.%I', t);
		EXECUTE format('CREATE TRIGGER zz_medusa_loginas_credentials BEFORE INSERT OR UPDATE OR DELETE ON public.%I
		                FOR EACH ROW WHEN (loginas.in_session())
		                EXECUTE FUNCTION medusa_loginas.refuse_credentials_in_session()', t);
		-- fire under session_replication_role = replica too, as loginas' own triggers
		EXECUTE format('ALTER TABLE public.%I ENABLE ALWAYS TRIGGER zz_medusa_loginas_credentials', t);
	END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- 4. Settings and role resources (the roles of the admins view).
-- ---------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'on');
SELECT loginas.configure('require_reason', 'on');
SELECT loginas.grant('admin', 'login');
SELECT loginas.grant('admin', 'view_log');
SELECT loginas.grant('admin', 'manage_assistance');
