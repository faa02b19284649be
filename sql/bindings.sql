-- bindings: loginas.bind() points loginas at the shop's own customers, admins, store views and
--   documents. loginas.bindings lists the kinds, their required columns and each binding's status;
--   bind() checks the kind (22023), the relation (NULL: 22023; not a table or view: 42809), that
--   loginas_reader may read it (schema USAGE, SELECT on each required column: 42501), each required
--   column (missing: 42703; wrong type: 42804) and accepts smallint/integer/bigint/text/varchar/
--   uuid ids (keys of any type: sql/text_keys*.sql) and text/varchar/char/name text. Bound
--   relations are read as loginas_reader only, so whatever a bound view or a column's type calls
--   runs with its rights, never the extension owner's, and leaves nothing behind (settings
--   restored, no temporary objects); views and tables of
--   non-superusers bind alike; a revoked grant is refused at use (42501). The binding is kept by
--   OID (search_path changes, renames and schema moves do not matter); a dropped relation and a
--   missing binding are reported at use (55000); unbind() says whether there was a binding; bind
--   and unbind are logged.
--   Restores the bindings of setup at the end and leaves no grant behind.
\set VERBOSITY default
SELECT coalesce(max(log_id), 0) AS log0 FROM loginas.action_log \gset

-- the kinds and the columns each needs; setup bound every kind
SELECT kind, required_columns, status FROM loginas.bindings;

--------------------------------------------------------------------------------
-- every kind binds; ids may be smallint, integer or bigint, text columns text, varchar, char
-- or name; column order and extra columns do not matter; tables may belong to the shop's own
-- (non-superuser) role
--------------------------------------------------------------------------------
CREATE ROLE regress_loginas_shop NOLOGIN;
CREATE SCHEMA bt;
GRANT USAGE, CREATE ON SCHEMA bt TO regress_loginas_shop;
-- loginas reads bound relations as loginas_reader: the shop lets it read what it binds
GRANT USAGE ON SCHEMA bt TO loginas_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA bt GRANT SELECT ON TABLES TO loginas_reader;
CREATE TABLE bt.customers (store_id integer, customer_id bigint, email varchar(255), display_name char(20),
                           is_active boolean, website_id smallint, dob date);
CREATE TABLE bt.admins (admin_id smallint, username varchar(40), display_name text, is_active boolean, role name);
ALTER TABLE bt.admins OWNER TO regress_loginas_shop;
CREATE TABLE bt.store_views (store_id smallint, website_id smallint, name varchar(64), website_name char(12),
                             is_active boolean, is_default boolean, code text);
CREATE TABLE bt.orders (document_id bigint, customer_id integer, store_id smallint, reference char(9));
CREATE TABLE bt.invoices (document_id integer, customer_id bigint, store_id integer, reference varchar(50));
CREATE TABLE bt.shipments (document_id smallint, customer_id smallint, store_id bigint, reference text);
CREATE TABLE bt.credit_memos (document_id bigint, customer_id bigint, store_id bigint, reference name);
INSERT INTO bt.customers VALUES (10, 70, 'tina@example.com', 'Tina Tables', true, 9, NULL);
INSERT INTO bt.admins VALUES (7, 'tess', 'Tess Tables', true, 'Testers');
INSERT INTO bt.store_views VALUES (10, 9, 'Table Store', 'Table Site', true, true, 'ts'),
                                  (11, 9, 'Closed Store', 'Table Site', false, false, 'cs');
INSERT INTO bt.orders VALUES (700, NULL, 10, '000000700'), (710, 70, 10, '000000710');
INSERT INTO bt.invoices VALUES (701, NULL, 10, '000000701');
INSERT INTO bt.shipments VALUES (702, NULL, 10, '000000702');
INSERT INTO bt.credit_memos VALUES (703, NULL, 10, '000000703');
SELECT kind, loginas.bind(kind, format('bt.%I', kind)::regclass)
  FROM unnest(ARRAY['customers', 'admins', 'store_views', 'orders', 'invoices', 'shipments', 'credit_memos']) AS kind;
SELECT kind, relation FROM loginas.bindings;
-- partitioned tables and materialized views are tables too
CREATE TABLE bt.orders_partitioned (document_id bigint, customer_id bigint, store_id int, reference text)
  PARTITION BY RANGE (document_id);
CREATE MATERIALIZED VIEW bt.store_views_snapshot AS SELECT * FROM bt.store_views;
SELECT loginas.bind('orders', 'bt.orders_partitioned'), loginas.bind('store_views', 'bt.store_views_snapshot');
SELECT kind, relation FROM loginas.bindings WHERE kind IN ('orders', 'store_views');
SELECT loginas.bind('orders', 'bt.orders'), loginas.bind('store_views', 'bt.store_views');
-- lookups now read these tables: admin 1 and customer 1 of the shop schema are unknown here ...
SELECT loginas.configure('enabled', 'off', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_assistance(1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM loginas.begin_from(7, 'order', 100);
\echo :LAST_ERROR_SQLSTATE
-- ... while their documents are found, guests' and customers' alike
SELECT * FROM loginas.begin_from(7, 'order', 700);
SELECT * FROM loginas.begin_from(7, 'invoice', 701);
SELECT * FROM loginas.begin_from(7, 'shipment', 702);
SELECT * FROM loginas.begin_from(7, 'credit_memo', 703);
SELECT * FROM loginas.begin_from(7, 'order', 710);
-- and admin 7, customer 70 and their store views are those of bt (undone by the rollback)
BEGIN;
SELECT loginas.configure('enabled', 'on', 7), loginas.grant('Testers', 'login', 7),
       loginas.set_assistance(70, true);
SELECT loginas.permitted(7, 'login');
SELECT * FROM loginas.check(7, 70);
SELECT * FROM loginas.store_choices(7, 70);
SELECT customer_id, store_id FROM loginas.redeem((SELECT token FROM loginas.begin_from(7, 'order', 710)));
ROLLBACK;

--------------------------------------------------------------------------------
-- refusals; a refused bind leaves the binding as it was and logs nothing
--------------------------------------------------------------------------------
SELECT max(log_id) AS log1 FROM loginas.action_log \gset
-- unknown kind; the hint lists the valid ones
SELECT loginas.bind('products', 'bt.orders');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.bind('order', 'bt.orders');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.bind(NULL, 'bt.orders');
\echo :LAST_ERROR_SQLSTATE
-- NULL relation
SELECT loginas.bind('orders', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a relation loginas_reader may not read: no USAGE on its schema, no SELECT on a required column
-- (the hints give the GRANT to make)
CREATE SCHEMA bt_private;
CREATE TABLE bt_private.admins (admin_id int, username text, display_name text, is_active boolean, role text);
SELECT loginas.bind('admins', 'bt_private.admins');
\echo :LAST_ERROR_SQLSTATE
GRANT USAGE ON SCHEMA bt_private TO loginas_reader;
SELECT loginas.bind('admins', 'bt_private.admins');
\echo :LAST_ERROR_SQLSTATE
GRANT SELECT (admin_id, username) ON bt_private.admins TO loginas_reader;
SELECT loginas.bind('admins', 'bt_private.admins');
\echo :LAST_ERROR_SQLSTATE
-- loginas_reader may read the bound relation but not what that reads (a
-- security_invoker view over a table it has no grant on): PostgreSQL's error,
-- with no GRANT on the view suggested -- the reader has it.  The hint comes
-- from the ACLs and the SQLSTATE, not from the error's text (which is in the
-- server's lc_messages)
CREATE TABLE bt_private.admin_rows (admin_id int, username text, display_name text, is_active boolean, role text);
INSERT INTO bt_private.admin_rows VALUES (1, 'ada', 'Ada', true, 'Administrators');
CREATE VIEW bt_private.invoker_admins WITH (security_invoker = true) AS SELECT * FROM bt_private.admin_rows;
GRANT SELECT ON bt_private.invoker_admins TO loginas_reader;
BEGIN;
SELECT loginas.bind('admins', 'bt_private.invoker_admins');
SELECT loginas._lookup('admins', 1, true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a relation that does not exist is refused by PostgreSQL's regclass input already
SELECT loginas.bind('orders', 'bt.no_such_table');
\echo :LAST_ERROR_SQLSTATE
-- not a table or view
CREATE SEQUENCE bt.order_seq;
CREATE INDEX orders_reference ON bt.orders (reference);
CREATE TYPE bt.order_row AS (document_id bigint, customer_id bigint, store_id bigint, reference text);
SELECT loginas.bind('orders', 'bt.order_seq');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.bind('orders', 'bt.orders_reference');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.bind('orders', 'bt.order_row');
\echo :LAST_ERROR_SQLSTATE
-- a missing column is named; the detail lists the columns the kind needs
CREATE VIEW bt.orders_without_reference AS SELECT document_id, customer_id, store_id FROM bt.orders;
SELECT loginas.bind('orders', 'bt.orders_without_reference');
\echo :LAST_ERROR_SQLSTATE
-- wrong column types: an id that is neither an integer nor text, varchar or uuid (a char(n) id:
-- the hint suggests no cast that fails later), text that is not text
CREATE VIEW bt.orders_numeric AS SELECT document_id::numeric AS document_id, customer_id, store_id, reference FROM bt.orders;
CREATE VIEW bt.orders_char_customer AS SELECT document_id, customer_id::char(4) AS customer_id, store_id, reference FROM bt.orders;
CREATE VIEW bt.orders_int_reference AS SELECT document_id, customer_id, store_id, reference::int AS reference FROM bt.orders;
SELECT loginas.bind('orders', 'bt.orders_numeric');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.bind('orders', 'bt.orders_char_customer');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.bind('orders', 'bt.orders_int_reference');
\echo :LAST_ERROR_SQLSTATE
-- Magento's admin_user binds only through a view: its columns are named differently, and its
-- is_active is a smallint flag
CREATE TABLE bt.admin_user (user_id int PRIMARY KEY, firstname varchar(32), lastname varchar(32),
                            email varchar(128), username varchar(40), is_active smallint NOT NULL DEFAULT 1);
ALTER TABLE bt.admin_user OWNER TO regress_loginas_shop;
INSERT INTO bt.admin_user VALUES (8, 'Mage', 'Admin', 'mage@example.com', 'mage', 1);
SELECT loginas.bind('admins', 'bt.admin_user');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW bt.magento_admins_raw AS
  SELECT user_id AS admin_id, username, firstname || ' ' || lastname AS display_name, is_active,
         'Magento'::text AS role
    FROM bt.admin_user;
SELECT loginas.bind('admins', 'bt.magento_admins_raw');
\echo :LAST_ERROR_SQLSTATE
-- an unknown by_admin (looked up through the current admins binding, bt.admins)
SELECT loginas.bind('orders', 'bt.orders', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.unbind('orders', 1);
\echo :LAST_ERROR_SQLSTATE
-- nothing changed, nothing was logged
SELECT kind, relation FROM loginas.bindings;
SELECT count(*) AS log_rows FROM loginas.action_log WHERE log_id > :log1;

--------------------------------------------------------------------------------
-- views and tables of the shop's own (non-superuser) role bind; they are read as loginas_reader,
-- so what they run cannot act with the extension owner's rights
--------------------------------------------------------------------------------
-- Magento's admin_user through a view of the shop's role, with a boolean is_active
CREATE VIEW bt.magento_admins AS
  SELECT user_id AS admin_id, username, firstname || ' ' || lastname AS display_name,
         is_active = 1 AS is_active, 'Magento'::text AS role
    FROM bt.admin_user;
ALTER VIEW bt.magento_admins OWNER TO regress_loginas_shop;
SELECT loginas.bind('admins', 'bt.magento_admins');
SELECT kind, relation, status FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.grant('Magento', 'view_log');
SELECT loginas.permitted(8, 'view_log') AS mage, loginas.permitted(7, 'view_log') AS tess;
-- a function a bound view calls runs as loginas_reader
CREATE FUNCTION bt.whoami() RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'bt.whoami() runs as %', current_user; RETURN true; END$$;
ALTER FUNCTION bt.whoami() OWNER TO regress_loginas_shop;
CREATE OR REPLACE VIEW bt.magento_admins AS
  SELECT user_id AS admin_id, username, firstname || ' ' || lastname AS display_name,
         is_active = 1 AND bt.whoami() AS is_active, 'Magento'::text AS role
    FROM bt.admin_user;
SELECT loginas.permitted(8, 'view_log');
-- (a table its owner turns into a view after binding it: suite table_to_view)
-- a column whose owner changes its type after binding to a type of their own with a cast to
-- boolean: the cast function runs as loginas_reader too
CREATE TABLE bt.typed_admins (admin_id int, username text, display_name text, is_active boolean, role text);
ALTER TABLE bt.typed_admins OWNER TO regress_loginas_shop;
INSERT INTO bt.typed_admins VALUES (8, 'mage', 'Mage Admin', true, 'Magento');
SELECT loginas.bind('admins', 'bt.typed_admins');
SET ROLE regress_loginas_shop;
CREATE TYPE bt.flag AS (on_off int);
CREATE FUNCTION bt.flag_to_bool(bt.flag) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'bt.flag_to_bool() runs as %', current_user; RETURN ($1).on_off = 1; END$$;
CREATE CAST (bt.flag AS boolean) WITH FUNCTION bt.flag_to_bool(bt.flag);
ALTER TABLE bt.typed_admins ALTER COLUMN is_active TYPE bt.flag USING ROW(is_active::int)::bt.flag;
RESET ROLE;
SELECT loginas.permitted(8, 'view_log');
-- nothing done during the read outlives it: a setting changed by a bound view's function is
-- back as it was afterwards, ...
CREATE FUNCTION bt.hop() RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN
      PERFORM set_config('search_path', 'bt, pg_catalog', false);
      RAISE NOTICE 'bt.hop() set search_path to %', current_setting('search_path');
      RETURN true;
    END$$;
ALTER FUNCTION bt.hop() OWNER TO regress_loginas_shop;
CREATE VIEW bt.hopping_admins AS SELECT admin_id, username, display_name, bt.hop() AS is_active, role FROM bt.admins;
ALTER VIEW bt.hopping_admins OWNER TO regress_loginas_shop;
SELECT loginas.bind('admins', 'bt.hopping_admins');
SHOW search_path;
SELECT loginas.permitted(7, 'view_log');
SHOW search_path;
-- ... and no temporary object can be planted for the caller to run later (PostgreSQL refuses it
-- inside the security-restricted read: 42501)
CREATE FUNCTION bt.plant() RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN EXECUTE 'CREATE TEMP VIEW customer_entity AS SELECT 1 AS entity_id'; RETURN true; END$$;
ALTER FUNCTION bt.plant() OWNER TO regress_loginas_shop;
CREATE VIEW bt.planting_admins AS SELECT admin_id, username, display_name, bt.plant() AS is_active, role FROM bt.admins;
ALTER VIEW bt.planting_admins OWNER TO regress_loginas_shop;
SELECT loginas.bind('admins', 'bt.planting_admins');
SELECT loginas.permitted(7, 'view_log');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('pg_temp.customer_entity') IS NULL AS nothing_planted;
-- once loginas_reader may no longer read a bound relation, PostgreSQL refuses its use (42501)
SELECT loginas.bind('admins', 'bt.magento_admins');
REVOKE SELECT ON bt.magento_admins FROM loginas_reader;
SELECT loginas.permitted(8, 'view_log');
\echo :LAST_ERROR_SQLSTATE
-- what involves no admin does not read the admins binding: above all, the feature can still be
-- switched on and off
SELECT loginas.configure('enabled', 'on'), loginas.configure('enabled', 'off');
SELECT loginas.grant('Testers', 'manage_assistance'), loginas.revoke('Testers', 'manage_assistance');
GRANT SELECT ON bt.magento_admins TO loginas_reader;
SELECT loginas.permitted(8, 'view_log');
SELECT loginas.bind('admins', 'bt.admins');
SELECT loginas.grant('Testers', 'view_log');

--------------------------------------------------------------------------------
-- the binding is kept by OID: the search_path at bind or use time, renames and schema moves do
-- not matter
--------------------------------------------------------------------------------
CREATE SCHEMA bt2;
GRANT USAGE ON SCHEMA bt2 TO loginas_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA bt2 GRANT SELECT ON TABLES TO loginas_reader;
CREATE VIEW bt.staff AS SELECT * FROM bt.admins;
-- a look-alike in another schema: admin 7 is someone else there
CREATE VIEW bt2.staff AS SELECT 7::int AS admin_id, 'impostor'::text AS username,
                                'Im Postor'::text AS display_name, true AS is_active, 'Nobody'::text AS role;
SET search_path = bt, public;
SELECT loginas.bind('admins', 'staff');
SELECT kind, relation, relation = 'bt.staff'::regclass AS is_bt_staff FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.permitted(7, 'view_log');
SET search_path = bt2, public;
SELECT kind, relation, relation = 'bt.staff'::regclass AS is_bt_staff FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.permitted(7, 'view_log');
RESET search_path;
ALTER VIEW bt.staff RENAME TO team;
SELECT kind, relation FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.permitted(7, 'view_log');
ALTER VIEW bt.team SET SCHEMA bt2;
SELECT kind, relation FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.permitted(7, 'view_log');
-- unknown admins are reported with the relation's current name
SELECT loginas.unbind('orders', 99);
\echo :LAST_ERROR_SQLSTATE

--------------------------------------------------------------------------------
-- a dropped bound relation is reported at use (55000), with a hint to bind again
--------------------------------------------------------------------------------
DROP VIEW bt2.team;
SELECT kind, relation, status FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.permitted(7, 'view_log');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('enabled', 'off', 7);
\echo :LAST_ERROR_SQLSTATE
-- binding again (a rebind replaces the binding) repairs it
SELECT loginas.bind('admins', 'bt.admins');
SELECT loginas.permitted(7, 'view_log');

--------------------------------------------------------------------------------
-- unbind: true when there was a binding, false when not; a missing binding is reported at use
-- (55000), with a hint to bind one
--------------------------------------------------------------------------------
SELECT loginas.unbind('admins');
SELECT loginas.unbind('admins');
SELECT loginas.unbind('products');
SELECT kind, relation, status FROM loginas.bindings WHERE kind = 'admins';
SELECT loginas.permitted(7, 'view_log');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.unbind('orders');
SELECT * FROM loginas.begin_from(7, 'order', 700);
\echo :LAST_ERROR_SQLSTATE

--------------------------------------------------------------------------------
-- restore the bindings of setup; binding and unbinding are logged (relation_bound,
-- relation_unbound: kind and relation in details, the admin when by_admin is given)
--------------------------------------------------------------------------------
SELECT loginas.revoke('Testers', 'view_log'), loginas.revoke('Magento', 'view_log');
SELECT max(log_id) AS log2 FROM loginas.action_log \gset
SELECT loginas.bind('admins', 'shop.loginas_admins');
SELECT loginas.bind('orders', 'shop.loginas_orders', 1);
SELECT loginas.unbind('credit_memos', 2);
SELECT loginas.bind('customers', 'shop.loginas_customers', 2);
SELECT loginas.bind('store_views', 'shop.loginas_store_views');
SELECT loginas.bind('invoices', 'shop.loginas_invoices');
SELECT loginas.bind('shipments', 'shop.loginas_shipments');
SELECT loginas.bind('credit_memos', 'shop.loginas_credit_memos', 1);
SELECT action, result, admin_id, admin_username, customer_id, session_id, details
  FROM loginas.action_log WHERE log_id > :log2 ORDER BY log_id;
SELECT kind, bound_by_admin, bound_by_role = session_user AS by_this_role FROM loginas.binding ORDER BY kind;
SELECT kind, relation, status, required_columns FROM loginas.bindings;
-- every bind and unbind of this suite was logged, the refused ones not
SELECT action, count(*) FROM loginas.action_log
 WHERE log_id > :log0 AND action IN ('relation_bound', 'relation_unbound')
 GROUP BY action ORDER BY action;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA bt, bt2, bt_private CASCADE;
RESET client_min_messages;
DROP ROLE regress_loginas_shop;
SELECT count(*) AS grants FROM loginas.permissions;
SELECT count(*) AS live FROM loginas.session WHERE ended_at IS NULL;
