-- text_keys_2: keys of any type for admins, store views and documents.
-- Admins keyed by text (Medusa-shaped user_01...): bind, the admin backend's
-- functions by a text admin (configure, grant, revoke, set_assistance, bind,
-- unbind, end_admin, purge_log is the auditor's: in log), which overload a
-- call picks, a whole session of a text admin on a text customer (begin,
-- redeem, assume, tracked writes stamped, a note, end), the keys in the
-- session, the context, the log (second canonical form) and the reports;
-- refusals with their SQLSTATE and message; admins keyed by uuid (every
-- spelling one admin); (d) refusals naming a text admin and a text store view
-- (server-log lines, the durable refusal log's rows), actions_report by
-- admin_key, a viewer_admin keyed by text.  Every binding is put back to the
-- integer views at the end, and an integer shop's rows are checked unchanged.
SET client_min_messages = warning;
CREATE SCHEMA tk2;
GRANT USAGE ON SCHEMA tk2 TO loginas_reader;
CREATE TABLE tk2.admin_user (id text PRIMARY KEY, email text NOT NULL, first_name text, active boolean NOT NULL,
                             role text NOT NULL);
INSERT INTO tk2.admin_user VALUES
  ('user_01HADA', 'ada@example.com', 'Ada', true, 'Administrators'),
  ('user_01HSAM', 'sam@example.com', 'Sam', true, 'Support'),
  ('user_01HOLD', 'old@example.com', 'Old', false, 'Administrators');
CREATE VIEW tk2.loginas_admins AS
  SELECT id AS admin_id, email AS username, first_name AS display_name, active AS is_active, role FROM tk2.admin_user;
CREATE TABLE tk2.customer (id text PRIMARY KEY, email text NOT NULL, name text);
INSERT INTO tk2.customer VALUES ('cus_01HTESS', 'tess@example.com', 'Tess Text'),
                                ('cus_01HOTTO', 'otto@example.com', 'Otto Other');
CREATE VIEW tk2.loginas_customers AS
  SELECT id AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 2 AS store_id
    FROM tk2.customer;
GRANT SELECT ON tk2.loginas_admins, tk2.loginas_customers TO loginas_reader;
-- what the integer shop had, put back at the end
SELECT loginas._get_setting('enabled') AS was_enabled \gset
SELECT loginas.permitted(1, 'login') AS had_login, loginas.permitted(1, 'manage_assistance') AS had_manage \gset
SELECT loginas."revoke"('Administrators', 'login'), loginas."revoke"('Administrators', 'manage_assistance');

-- ---------------------------------------------------------------------------
-- (a) admins keyed by text
-- ---------------------------------------------------------------------------
-- bound by an integer admin of the shop's binding of then; from now on admins have text keys
SELECT loginas.bind('admins', 'tk2.loginas_admins', by_admin => 1);
SELECT loginas.bind('customers', 'tk2.loginas_customers', 'user_01HADA');
SELECT loginas._key_type('admins') AS admins, loginas._key_type('customers') AS customers;
SELECT kind, bound_by_admin, bound_by_admin_key FROM loginas.binding WHERE kind IN ('admins', 'customers') ORDER BY kind;

-- which form a call picks: an integer literal the bigint form, an unknown
-- literal ('user_01') the text form; none ambiguous
CREATE FUNCTION pg_temp.picks(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
    IF l ~ '(Output|Function Call): loginas\.' THEN r := regexp_replace(l, '^\s*(Output|Function Call): ', ''); END IF;
  END LOOP;
  RETURN r;
END $$;
SELECT pg_temp.picks(q) FROM unnest(ARRAY[
  'SELECT * FROM loginas.check(1, 2)',
  'SELECT * FROM loginas.check(1, ''cus_01'')',
  'SELECT * FROM loginas.check(''user_01'', ''cus_01'')',
  'SELECT * FROM loginas.begin(1, 2, 3)',
  'SELECT * FROM loginas.begin(''user_01'', ''cus_01'')',
  'SELECT * FROM loginas.begin(admin_id => ''user_01'', customer_id => ''cus_01'', reason => ''r'')',
  'SELECT * FROM loginas.begin_from(1, ''order'', 100)',
  'SELECT * FROM loginas.begin_from(''user_01'', ''order'', ''order_01'')',
  'SELECT loginas.configure(''enabled'', ''on'')',
  'SELECT loginas.configure(''enabled'', ''on'', 1)',
  'SELECT loginas.configure(''enabled'', ''on'', ''user_01'')',
  'SELECT loginas.configure(''enabled'', ''on'', by_admin => ''user_01'')',
  'SELECT loginas.set_assistance(1, true)',
  'SELECT loginas.set_assistance(''cus_01'', true)',
  'SELECT loginas.set_assistance(''cus_01'', true, NULL, ''user_01'')',
  'SELECT loginas.set_assistance_as_admin(''cus_01'', true, NULL, ''user_01'')',
  'SELECT loginas.set_assistance_as_admin(''cus_01'', true, NULL, 1)',
  'SELECT loginas.grant(''Administrators'', ''login'')',
  'SELECT loginas.grant(''Administrators'', ''login'', ''user_01'')',
  'SELECT loginas.revoke(''Administrators'', ''login'', 1)',
  'SELECT loginas.permitted(1, ''login'')',
  'SELECT loginas.permitted(''user_01'', ''login'')',
  'SELECT loginas.bind(''admins'', ''tk2.loginas_admins'')',
  'SELECT loginas.unbind(''orders'', ''user_01'')',
  'SELECT loginas.end_admin(1)',
  'SELECT loginas.end_admin(''user_01'')',
  'SELECT * FROM loginas.store_choices(1, 2)',
  'SELECT * FROM loginas.store_choices(''user_01'', ''cus_01'')',
  'SELECT * FROM loginas.admin_activity(1)',
  'SELECT * FROM loginas.admin_activity(''user_01'')',
  'SELECT loginas.purge_log(now())',
  'SELECT loginas.purge_log(now(), ''user_01'')']) q;

-- the admin backend's functions by a text admin: the key is kept where 1.2
-- kept the id (the bigint columns NULL)
SELECT loginas.configure('enabled', 'on', 'user_01HADA');
SELECT name, changed_by_admin, changed_by_admin_key FROM loginas.settings WHERE name = 'enabled';
SELECT loginas."grant"('Administrators', 'login', 'user_01HADA');
SELECT role, resource, granted_by_admin, granted_by_admin_key FROM loginas.permissions WHERE role = 'Administrators';
SELECT loginas.permitted('user_01HADA', 'login') AS ada, loginas.permitted('user_01HSAM', 'login') AS sam,
       loginas.permitted('user_01HOLD', 'login') AS old_inactive, loginas.permitted('user_nobody', 'login') AS nobody;
-- an admin without manage_assistance cannot consent for the customer
\set VERBOSITY terse
SELECT loginas.set_assistance_as_admin('cus_01HTESS', true, NULL, 'user_01HADA');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT loginas."grant"('Administrators', 'manage_assistance', 'user_01HADA');
SELECT loginas.set_assistance('cus_01HTESS', true, NULL, 'user_01HADA');
SELECT customer_id, customer_key, allowed, changed_by_admin, changed_by_admin_key
  FROM loginas.consent WHERE customer_key = 'cus_01HTESS';
SELECT * FROM loginas.check('user_01HADA', 'cus_01HTESS');
SELECT * FROM loginas.check('user_01HSAM', 'cus_01HTESS');
SELECT * FROM loginas.check('user_01HOLD', 'cus_01HTESS');
SELECT * FROM loginas.check('user_nobody', 'cus_01HTESS');
SELECT store_id, name, selectable, store_key, website_key FROM loginas.store_choices('user_01HADA', 'cus_01HTESS');

-- refusals of a text admin, with their SQLSTATE and message (no row, no raw error)
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT max(session_id) AS s0 FROM loginas.session \gset
SELECT pg_temp.try(q) FROM unnest(ARRAY[
  'SELECT loginas.begin(''user_nobody'', ''cus_01HTESS'')',
  'SELECT loginas.begin(''user_01HOLD'', ''cus_01HTESS'')',
  'SELECT loginas.begin(''user_01HSAM'', ''cus_01HTESS'')',
  'SELECT loginas.begin(''user_01HADA'', ''cus_01HOTTO'')',
  'SELECT loginas.begin(''1'', ''cus_01HTESS'')',
  'SELECT loginas.begin(NULL, ''cus_01HTESS'')',
  'SELECT loginas.configure(''require_reason'', ''off'', ''user_nobody'')',
  'SELECT loginas.grant(''Support'', ''login'', '''')',
  'SELECT loginas.set_assistance_as_admin(''cus_01HTESS'', true, NULL, ''user_01HSAM'')',
  'SELECT loginas.set_assistance_as_admin(''cus_01HTESS'', true, NULL, NULL::text)',
  'SELECT loginas.bind(''orders'', ''shop.loginas_orders'', ''user_nobody'')']) q;
SELECT count(*) AS sessions_made FROM loginas.session WHERE session_id > :s0;

-- a whole session of the text admin on the text customer
CREATE TEMP TABLE tk2_t AS SELECT * FROM loginas.begin('user_01HADA', 'cus_01HTESS', reason => 'call #42');
SELECT store_id, store_key FROM tk2_t;
CREATE TEMP TABLE tk2_s AS SELECT r.* FROM tk2_t, loginas.redeem(tk2_t.token) r;
SELECT customer_id, customer_key, store_id, store_key, banner FROM tk2_s;
SELECT admin_id, admin_key, customer_id, customer_key, store_id, store_key, reason
  FROM loginas.session WHERE session_id = (SELECT session_id FROM tk2_s);
-- writes, stamped: with the session, whose admin_key is the admin's real key
CREATE TABLE tk2.cart (cart_id int PRIMARY KEY, customer_id text NOT NULL, note text);
CREATE TABLE tk2.wish (wish_id int PRIMARY KEY, customer_id text NOT NULL, item text);
INSERT INTO tk2.cart VALUES (1, 'cus_01HTESS', 'mine'), (2, 'cus_01HOTTO', 'theirs');
SELECT loginas.track('tk2.cart', 'customer_id');
SELECT loginas.track('tk2.wish', 'customer_id', stamps => 'table');
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk2_s;
SELECT loginas.current_admin() AS current_admin, loginas.current_admin_key(),
       loginas.current_customer() AS current_customer, loginas.current_customer_key(),
       loginas.current_store(), loginas.current_store_key(), loginas.banner();
UPDATE tk2.cart SET note = 'changed by the admin' WHERE cart_id = 1;
INSERT INTO tk2.cart VALUES (3, 'cus_01HTESS', 'new');
INSERT INTO tk2.wish VALUES (1, 'cus_01HTESS', 'a hat');
SELECT loginas.note('Called back', '{"ticket": 42}') IS NOT NULL AS noted;
SAVEPOINT a;
SELECT pg_temp.try('UPDATE tk2.cart SET note = ''not mine'' WHERE cart_id = 2');
ROLLBACK TO a;
COMMIT;
SELECT c.cart_id, c.note, s.admin_id, s.admin_key
  FROM tk2.cart c LEFT JOIN loginas.session s ON s.session_id = c.loginas_changed_session ORDER BY c.cart_id;
SELECT st.key, s.admin_id, s.admin_key
  FROM loginas.row_stamps st JOIN loginas.session s ON s.session_id = st.changed_session
 WHERE st.relation = 'tk2.wish'::regclass;
SELECT loginas."end"(session_key) FROM tk2_s;
-- the log: the admin's key where admin_id cannot hold it (second canonical form)
SELECT action, admin_id, admin_key, admin_username, customer_key, store_id, store_key
  FROM loginas.action_log WHERE session_id = (SELECT session_id FROM tk2_s) ORDER BY log_id;
SELECT action, admin_id, admin_key, admin_username, details ->> 'setting' AS setting, details ->> 'role' AS role
  FROM loginas.action_log
 WHERE admin_key = 'user_01HADA' AND session_id IS NULL ORDER BY log_id;
SELECT intact, problem FROM loginas.verify_log();
-- the reports name the admin: Username / Admin columns, admin_activity by the key, the sessions view
SELECT "Action", "Username", "Result", "Details" FROM loginas.actions_report(admin_id => NULL, page_size => 7)
 WHERE "Username" = 'ada@example.com';
SELECT "Action", "Admin", "Table", "Keys" FROM loginas.customer_history('cus_01HTESS') ORDER BY "Time", "Action";
SELECT "Action", "Result", "Customer", "Details" FROM loginas.admin_activity('user_01HADA') ORDER BY "Time", "Action";
SELECT count(*) AS integer_reads_nothing FROM loginas.admin_activity(1) WHERE "Session" = (SELECT session_id FROM tk2_s);
SELECT status, admin_id, admin_username, customer_key, admin_key, store_key, end_reason
  FROM loginas.sessions WHERE session_id = (SELECT session_id FROM tk2_s);

-- ended by the admin: superseded by its next begin, end_admin, a revoked resource
SELECT (loginas.begin('user_01HADA', 'cus_01HTESS')).store_key;
SELECT (loginas.begin('user_01HADA', 'cus_01HTESS')).store_key;
SELECT loginas.end_admin('user_01HADA') AS ended;
SELECT (loginas.begin('user_01HADA', 'cus_01HTESS')).store_key;
SELECT loginas."revoke"('Administrators', 'login', 'user_01HADA');
SELECT end_reason, ended_by_admin, ended_by_admin_key FROM loginas.session
 WHERE session_id > (SELECT session_id FROM tk2_s) ORDER BY session_id;
SELECT details -> 'ended_by_admin' AS ended_by_admin FROM loginas.action_log
 WHERE action = 'session_ended' AND session_id > (SELECT session_id FROM tk2_s) ORDER BY log_id;
SELECT loginas."grant"('Administrators', 'login', 'user_01HADA');

-- admins keyed by uuid: every spelling the uuid type reads is one admin
CREATE TABLE tk2.uadmin (id uuid PRIMARY KEY, username text NOT NULL);
INSERT INTO tk2.uadmin VALUES ('0b7e1c2a-0000-4000-8000-0000000000a1', 'uma');
CREATE VIEW tk2.loginas_uadmins AS
  SELECT id AS admin_id, username, username AS display_name, true AS is_active, 'Administrators' AS role FROM tk2.uadmin;
GRANT SELECT ON tk2.loginas_uadmins TO loginas_reader;
SELECT loginas.bind('admins', 'tk2.loginas_uadmins', 'user_01HADA');
SELECT loginas._canon_key('admins', '0B7E1C2A00004000800000000000 00A1') IS NULL AS with_a_space,
       loginas._canon_key('admins', '0b7e1c2a00004000800000000000' || '00a1') AS without_hyphens;
SELECT * FROM loginas.check('0B7E1C2A-0000-4000-8000-0000000000A1', 'cus_01HTESS');
SELECT * FROM loginas.check('not-a-uuid', 'cus_01HTESS');
SELECT (loginas.begin('{0b7e1c2a-0000-4000-8000-0000000000a1}', 'cus_01HTESS')).store_key;
SELECT admin_id, admin_key FROM loginas.session WHERE ended_at IS NULL;
SELECT loginas.end_admin('0B7E1C2A00004000800000000000' || '00A1') AS ended_by_another_spelling;
SELECT pg_temp.try('SELECT loginas.begin(''not-a-uuid'', ''cus_01HTESS'')');
SELECT admin_key, admin_username FROM loginas.action_log
 WHERE action = 'ticket_issued' ORDER BY log_id DESC LIMIT 1;

-- ---------------------------------------------------------------------------
-- (b) store views and websites keyed by text (Medusa's sales channels sc_01...)
-- ---------------------------------------------------------------------------
SELECT loginas.bind('admins', 'tk2.loginas_admins', '0b7e1c2a-0000-4000-8000-0000000000a1');
CREATE TABLE tk2.channel (id text PRIMARY KEY, website text NOT NULL, name text NOT NULL, active boolean NOT NULL,
                          is_default boolean NOT NULL);
INSERT INTO tk2.channel VALUES ('sc_01HMAIN', 'ws_01HMAIN', 'Main channel', true, true),
                               ('sc_01HPOS', 'ws_01HMAIN', 'Point of sale', true, false),
                               ('sc_01HEU', 'ws_01HEU', 'EU channel', true, true),
                               ('sc_01HOFF', 'ws_01HEU', 'Closed channel', false, false);
CREATE VIEW tk2.loginas_store_views AS
  SELECT id AS store_id, website AS website_id, name, website || ' site' AS website_name, active AS is_active, is_default
    FROM tk2.channel;
-- the customers' website and store view are keys of the same kinds: text too
CREATE VIEW tk2.loginas_sc_customers AS
  SELECT id AS customer_id, email, name AS display_name, true AS is_active,
         CASE id WHEN 'cus_01HOTTO' THEN 'ws_01HEU' ELSE 'ws_01HMAIN' END AS website_id,
         CASE id WHEN 'cus_01HOTTO' THEN 'sc_01HOFF' ELSE 'sc_01HPOS' END AS store_id
    FROM tk2.customer;
GRANT SELECT ON tk2.loginas_store_views, tk2.loginas_sc_customers TO loginas_reader;
SELECT loginas.bind('store_views', 'tk2.loginas_store_views', 'user_01HADA');
SELECT loginas.bind('customers', 'tk2.loginas_sc_customers', 'user_01HADA');
SELECT loginas._key_type('store_views');
SELECT loginas.set_assistance('cus_01HOTTO', true);
-- the store views an admin may choose: keys as text, store_id and website_id NULL
SELECT * FROM loginas.store_choices('user_01HADA', 'cus_01HTESS');
SELECT store_key, selectable FROM loginas.store_choices('user_01HADA', 'cus_01HOTTO');
-- which store view: the customer's own (auto), one chosen, refusals
SELECT max(session_id) AS s1 FROM loginas.session \gset
SELECT pg_temp.try(q) FROM unnest(ARRAY[
  'SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'', ''sc_nobody'')',
  'SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'', ''sc_01HEU'')',
  'SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'', ''sc_01HOFF'')',
  'SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'', ''1'')',
  'SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'', '''')']) q;
SELECT count(*) AS sessions_made FROM loginas.session WHERE session_id > :s1;
SELECT store_id, store_key FROM loginas.begin('user_01HADA', 'cus_01HTESS');
-- the customer's own store view is closed: the default store view of its website
SELECT store_id, store_key FROM loginas.begin('user_01HADA', 'cus_01HOTTO');
SELECT loginas.configure('store_view_selection', 'manual', 'user_01HADA');
SELECT pg_temp.try('SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'')');
-- a whole session of the text admin on the text customer in a text store view
CREATE TEMP TABLE tk2_bt AS SELECT * FROM loginas.begin('user_01HADA', 'cus_01HTESS', 'sc_01HMAIN', 'call #43');
SELECT store_id, store_key FROM tk2_bt;
CREATE TEMP TABLE tk2_bs AS SELECT r.* FROM tk2_bt, loginas.redeem(tk2_bt.token) r;
SELECT customer_id, customer_key, store_id, store_key, banner FROM tk2_bs;
SELECT loginas.track('tk2.cart', 'customer_id');
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk2_bs;
SELECT loginas.current_admin_key(), loginas.current_customer_key(),
       loginas.current_store() AS current_store, loginas.current_store_key();
INSERT INTO tk2.cart VALUES (4, 'cus_01HTESS', 'in the main channel');
SELECT loginas.note('Channel checked') IS NOT NULL AS noted;
COMMIT;
SELECT c.cart_id, c.note, s.admin_key, s.store_id, s.store_key
  FROM tk2.cart c JOIN loginas.session s ON s.session_id = c.loginas_created_session WHERE c.cart_id = 4;
SELECT loginas."end"(session_key) FROM tk2_bs;
SELECT action, admin_key, customer_key, store_id, store_key
  FROM loginas.action_log WHERE session_id = (SELECT session_id FROM tk2_bs) ORDER BY log_id;
SELECT status, admin_key, customer_key, store_id, store_key FROM loginas.sessions
 WHERE session_id = (SELECT session_id FROM tk2_bs);
SELECT "Action", "Admin", "Table", "Keys" FROM loginas.customer_history('cus_01HTESS')
 WHERE "Session" = (SELECT session_id FROM tk2_bs) ORDER BY "Time", "Action";
SELECT intact, problem FROM loginas.verify_log();
SELECT loginas.configure('store_view_selection', 'auto', 'user_01HADA');
-- global account sharing: any active store view
SELECT loginas.configure('account_sharing', 'global', 'user_01HADA');
SELECT store_key, selectable FROM loginas.store_choices('user_01HADA', 'cus_01HTESS');
SELECT store_key FROM loginas.begin('user_01HADA', 'cus_01HTESS', 'sc_01HEU');
SELECT loginas.configure('account_sharing', 'website', 'user_01HADA');
SELECT loginas.end_admin('user_01HADA') AS ended;
-- store views keyed by uuid: any spelling names one store view
CREATE TABLE tk2.ustore (id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO tk2.ustore VALUES ('9c1f0000-0000-4000-8000-0000000000b1', 'Uuid store');
CREATE VIEW tk2.loginas_ustore_views AS
  SELECT id AS store_id, 'ws_01HMAIN' AS website_id, name, 'Uuid site' AS website_name, true AS is_active, true AS is_default
    FROM tk2.ustore;
GRANT SELECT ON tk2.loginas_ustore_views TO loginas_reader;
SELECT loginas.bind('store_views', 'tk2.loginas_ustore_views', 'user_01HADA');
SELECT store_id, store_key FROM loginas.begin('user_01HADA', 'cus_01HTESS', '{9C1F0000-0000-4000-8000-0000000000B1}');
SELECT pg_temp.try('SELECT loginas.begin(''user_01HADA'', ''cus_01HTESS'', ''9c1f0000-0000-4000-8000-0000000000b'')');
SELECT loginas.end_admin('user_01HADA') AS ended;
-- a store view key of a type that is not supported: no cast suggested that fails later
CREATE VIEW tk2.char_store_views AS
  SELECT 'sc'::char(2) AS store_id, 'ws'::text AS website_id, 'x'::text AS name, 'x'::text AS website_name,
         true AS is_active, true AS is_default;
GRANT SELECT ON tk2.char_store_views TO loginas_reader;
DO $$
DECLARE m text; d text; h text;
BEGIN
  PERFORM loginas.bind('store_views', 'tk2.char_store_views');
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE WARNING '%: % / % / %', SQLSTATE, m, d, h;
END $$;
SELECT loginas.bind('store_views', 'shop.loginas_store_views', 'user_01HADA');
SELECT loginas.bind('admins', 'tk2.loginas_uadmins', 'user_01HADA');

-- ---------------------------------------------------------------------------
-- (c) documents keyed by text (Medusa's order_01...): begin_from
-- ---------------------------------------------------------------------------
SELECT loginas.bind('admins', 'tk2.loginas_admins', '0b7e1c2a-0000-4000-8000-0000000000a1');
SELECT loginas.bind('store_views', 'tk2.loginas_store_views', 'user_01HADA');
CREATE TABLE tk2."order" (id text PRIMARY KEY, customer_id text, sales_channel_id text NOT NULL, display_id int NOT NULL);
INSERT INTO tk2."order" VALUES ('order_01HTESS', 'cus_01HTESS', 'sc_01HPOS', 1001),
                               ('order_01HGUEST', NULL, 'sc_01HMAIN', 1002),
                               ('order_01HGONE', 'cus_01HGONE', 'sc_01HMAIN', 1003);
-- the document's customer_id follows the customers' key type (text), its store_id the store views'
CREATE VIEW tk2.loginas_orders AS
  SELECT id AS document_id, customer_id, sales_channel_id AS store_id, '#' || display_id AS reference FROM tk2."order";
CREATE TABLE tk2.uinvoice (id uuid PRIMARY KEY, order_id text NOT NULL REFERENCES tk2."order");
INSERT INTO tk2.uinvoice VALUES ('1a2b0000-0000-4000-8000-0000000000c1', 'order_01HTESS');
CREATE VIEW tk2.loginas_invoices AS
  SELECT i.id AS document_id, o.customer_id, o.sales_channel_id AS store_id, 'INV-' || o.display_id AS reference
    FROM tk2.uinvoice i JOIN tk2."order" o ON o.id = i.order_id;
GRANT SELECT ON tk2.loginas_orders, tk2.loginas_invoices TO loginas_reader;
SELECT loginas.bind('orders', 'tk2.loginas_orders', 'user_01HADA');
SELECT loginas.bind('invoices', 'tk2.loginas_invoices', 'user_01HADA');
SELECT loginas._key_type('orders') AS orders, loginas._key_type('invoices') AS invoices;
-- refusals: a document that is not there, a guest's, a customer gone, a kind that is none
SELECT max(session_id) AS s2 FROM loginas.session \gset
SELECT pg_temp.try(q) FROM unnest(ARRAY[
  'SELECT loginas.begin_from(''user_01HADA'', ''order'', ''order_nobody'')',
  'SELECT loginas.begin_from(''user_01HADA'', ''order'', ''order_01HGUEST'')',
  'SELECT loginas.begin_from(''user_01HADA'', ''order'', ''order_01HGONE'')',
  'SELECT loginas.begin_from(''user_01HADA'', ''quote'', ''order_01HTESS'')',
  'SELECT loginas.begin_from(''user_01HADA'', ''invoice'', ''not-a-uuid'')',
  'SELECT loginas.begin_from(''user_01HADA'', ''order'', '''')',
  'SELECT loginas.begin_from(''user_nobody'', ''order'', ''order_01HTESS'')',
  'SELECT loginas.begin_from(''user_01HADA'', ''order'', NULL)',
  'SELECT loginas.begin_from(''user_01HADA'', ''order'', ''order_01HTESS'', ''sc_nobody'')']) q;
SELECT count(*) AS sessions_made FROM loginas.session WHERE session_id > :s2;
-- a whole session begun from the text order: the session names the document by its key
CREATE TEMP TABLE tk2_ct AS SELECT * FROM loginas.begin_from('user_01HADA', 'order', 'order_01HTESS', reason => 'call #44');
SELECT store_id, store_key FROM tk2_ct;
CREATE TEMP TABLE tk2_cs AS SELECT r.* FROM tk2_ct, loginas.redeem(tk2_ct.token) r;
SELECT admin_id, admin_key, customer_key, store_key, source, source_kind, source_document_id, document_key
  FROM loginas.session WHERE session_id = (SELECT session_id FROM tk2_cs);
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk2_cs;
UPDATE tk2.cart SET note = 'reordered' WHERE cart_id = 4;
COMMIT;
SELECT loginas."end"(session_key) FROM tk2_cs;
SELECT action, admin_key, customer_key, store_key, source, reason
  FROM loginas.action_log WHERE session_id = (SELECT session_id FROM tk2_cs) ORDER BY log_id;
SELECT status, source, admin_key, customer_key, store_key, document_key FROM loginas.sessions
 WHERE session_id = (SELECT session_id FROM tk2_cs);
SELECT "Action", "Admin", "Source", "Keys" FROM loginas.customer_history('cus_01HTESS')
 WHERE "Session" = (SELECT session_id FROM tk2_cs) ORDER BY "Time", "Action";
-- an invoice keyed by uuid, given in another spelling: one document, its key canonical
SELECT store_key FROM loginas.begin_from('user_01HADA', 'invoice', '{1A2B0000-0000-4000-8000-0000000000C1}');
SELECT source, document_key FROM loginas.session WHERE ended_at IS NULL;
SELECT loginas.end_admin('user_01HADA') AS ended;
SELECT intact, problem FROM loginas.verify_log();
-- a document key of a type that is not supported: no cast suggested that fails later
CREATE VIEW tk2.char_orders AS SELECT 'o1'::char(2) AS document_id, customer_id, sales_channel_id AS store_id,
                                      'x'::text AS reference FROM tk2."order";
GRANT SELECT ON tk2.char_orders TO loginas_reader;
DO $$
DECLARE m text; d text; h text;
BEGIN
  PERFORM loginas.bind('orders', 'tk2.char_orders');
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE WARNING '%: % / % / %', SQLSTATE, m, d, h;
END $$;
SELECT loginas.bind('orders', 'shop.loginas_orders', 'user_01HADA');
SELECT loginas.bind('invoices', 'shop.loginas_invoices', 'user_01HADA');
SELECT loginas.bind('store_views', 'shop.loginas_store_views', 'user_01HADA');
SELECT loginas.bind('admins', 'tk2.loginas_uadmins', 'user_01HADA');

-- ---------------------------------------------------------------------------
-- (d) refusals and reports name a text admin and a text store view
-- ---------------------------------------------------------------------------
-- admins and store views keyed by text again (customers still are)
SELECT loginas.bind('admins', 'tk2.loginas_admins', '0b7e1c2a-0000-4000-8000-0000000000a1');
SELECT loginas.bind('store_views', 'tk2.loginas_store_views', 'user_01HADA');
SELECT EXISTS (SELECT FROM loginas.permissions WHERE role = 'Administrators' AND resource = 'view_log')
         AS had_view_log \gset
-- which form a call picks: the viewer given as text takes the text forms of
-- the _as_admin reports (every key as text); an integer literal the bigint
-- ones; admin_key is a trailing parameter of actions_report (no overload:
-- every parameter of it has a default)
SELECT pg_temp.picks(q) FROM unnest(ARRAY[
  'SELECT * FROM loginas.customer_history_as_admin(1, 2)',
  'SELECT * FROM loginas.customer_history_as_admin(1, ''cus_01'')',
  'SELECT * FROM loginas.customer_history_as_admin(''user_01'', ''cus_01'')',
  'SELECT * FROM loginas.customer_history_as_admin(viewer_admin => ''user_01'', customer_id => ''cus_01'')',
  'SELECT * FROM loginas.admin_activity_as_admin(1, 2)',
  'SELECT * FROM loginas.admin_activity_as_admin(1, ''user_02'')',
  'SELECT * FROM loginas.admin_activity_as_admin(''user_01'', ''user_02'', now())',
  'SELECT * FROM loginas.actions_report_as_admin(1)',
  'SELECT * FROM loginas.actions_report_as_admin(''user_01'', page_size => 5)',
  'SELECT * FROM loginas.actions_report_as_admin(viewer_admin => ''user_01'', admin_key => ''user_02'')',
  'SELECT * FROM loginas.actions_report()',
  'SELECT * FROM loginas.actions_report(admin_key => ''user_01'', viewer_admin => 1)',
  'SELECT * FROM loginas.actions_report_as_reporting(admin_key => ''user_01'')',
  'SELECT * FROM loginas.customer_history(''cus_01'', 1)',
  'SELECT * FROM loginas.admin_activity(''user_01'', viewer_admin => 1)']) q;

-- The server-log lines of refusals name a text admin by its key (escaped
-- like every text there): a refused begin, a reused ticket, an assume by an
-- admin made inactive since, a refused write (before: "admin
-- -9223372036854775808")
SELECT max(log_id) AS d0, clock_timestamp() AS dt0 FROM loginas.action_log \gset
CREATE TEMP TABLE tk2_dt AS SELECT * FROM loginas.begin('user_01HADA', 'cus_01HTESS', 'sc_01HMAIN', 'call #45');
CREATE TEMP TABLE tk2_ds AS SELECT r.* FROM tk2_dt, loginas.redeem(tk2_dt.token) r;
SELECT session_id AS ds FROM tk2_ds \gset
SET client_min_messages = log;
SELECT pg_temp.try('SELECT loginas.begin(''user_01HSAM'', ''cus_01HTESS'')');
SELECT pg_temp.try(E'SELECT loginas.begin(E''user_\\nnobody'', ''cus_01HTESS'')');
SELECT pg_temp.try('SELECT loginas.begin_from(''user_01HSAM'', ''order'', ''order_nobody'')');
SELECT pg_temp.try('SELECT * FROM loginas.redeem(' || quote_literal(token) || ')') FROM tk2_dt;
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk2_ds;
SAVEPOINT a;
SELECT pg_temp.try('UPDATE tk2.cart SET note = ''not mine'' WHERE cart_id = 2');
ROLLBACK TO a;
COMMIT;
UPDATE tk2.admin_user SET active = false WHERE id = 'user_01HADA';
SELECT pg_temp.try('SELECT loginas.assume(' || quote_literal(session_key) || ')') FROM tk2_ds;
UPDATE tk2.admin_user SET active = true WHERE id = 'user_01HADA';
SET client_min_messages = warning;
SELECT loginas."end"(session_key) FROM tk2_ds;
-- the durable refusal log's worker writes an entry with keys as
-- loginas._log_refusal(..., p_customer_key, p_admin_key, p_store_key)
-- (src/refusal_queue.c; there is no worker in pg_regress: the calls are made
-- as the worker makes them): the row's admin_key and store_key, the username
-- read by the key; a refusal of a session names the session's store view
-- when the entry has none (entries of before the store view's key); a
-- summary of refused writes too; the keys only where the ids cannot hold
-- them (an admin_id given wins)
SELECT loginas._log_refusal(clock_timestamp(), 'begin', '42501', 'not allowed', NULL, NULL, NULL, NULL, NULL,
         'postgres', 'call #46', NULL, p_customer_key => 'cus_01HTESS', p_admin_key => 'user_01HSAM')
         IS NOT NULL AS begin_refused,
       loginas._log_refusal(clock_timestamp(), 'begin', '40001', 'concurrent begin', NULL, NULL, NULL, NULL, NULL,
         'postgres', NULL, NULL, p_customer_key => 'cus_01HTESS', p_admin_key => 'user_01HADA',
         p_store_key => 'sc_01HPOS') IS NOT NULL AS begin_with_store,
       loginas._log_refusal(clock_timestamp(), 'assume', '28000', 'ended', NULL, NULL, NULL, :ds, NULL,
         'postgres', NULL, NULL, p_customer_key => 'cus_01HTESS', p_admin_key => 'user_01HADA')
         IS NOT NULL AS assume_store_of_the_session,
       loginas._log_refusal(clock_timestamp(), 'write', '42501', 'row (2) of another customer on tk2.cart', NULL,
         NULL, NULL, :ds, NULL, 'postgres', NULL, NULL, 3, clock_timestamp(), 'cus_01HTESS', 'user_01HADA',
         'sc_01HMAIN') IS NOT NULL AS write_refused,
       loginas._log_refusal(clock_timestamp(), 'begin', '42501', 'unknown admin', NULL, NULL, NULL, NULL, NULL,
         'postgres', NULL, NULL, p_admin_key => 'user_nobody') IS NOT NULL AS unknown_admin,
       loginas._log_refusal(clock_timestamp(), 'begin', '42501', 'an id given', NULL, 7, NULL, NULL, NULL,
         'postgres', NULL, NULL, p_admin_key => 'user_01HADA') IS NOT NULL AS admin_id_wins;
SELECT action, result, admin_id, admin_key, admin_username, customer_key, store_id, store_key,
       details->>'sqlstate' AS sqlstate, details->>'coalesced' AS coalesced
  FROM loginas.action_log WHERE log_id > :d0 AND result = 'failure' ORDER BY log_id;
SELECT intact, problem FROM loginas.verify_log();
-- The Admin Actions Report by the admin's key (admin_key): its rows, the
-- Details naming the store view by its key; a key no row has (the refusal
-- above of user_nobody has it), a text that is no uuid of uuid admins: none
SELECT "Action", "Username", "Result", "Details"
  FROM loginas.actions_report(admin_key => 'user_01HADA', since => :'dt0') ORDER BY "Time", "Action";
SELECT count(*) AS refused_nobody FROM loginas.actions_report(admin_key => 'user_nobody');
SELECT count(*) AS none FROM loginas.actions_report(admin_key => 'user_01HNONE');
SELECT count(*) = (SELECT count(*) FROM loginas.action_log WHERE admin_key = 'user_01HADA') AS all_of_ada
  FROM loginas.actions_report(admin_key => 'user_01HADA', page_size => 10000);
SELECT count(*) AS with_admin_id FROM loginas.actions_report(admin_key => 'user_01HADA', admin_id => 1);
SELECT count(*) AS sam_refused FROM loginas.actions_report(admin_key => 'user_01HSAM', result => 'failure', since => :'dt0');
-- (a store view's key printed as loginas prints keys; an integer id wins)
SELECT loginas._row_summary('ticket_issued', NULL, NULL, NULL, 9, NULL, NULL, '{}', 'cus_1', 'sc (x), y') AS quoted,
       loginas._row_summary('ticket_issued', NULL, NULL, 2, NULL, NULL, NULL, '{}', NULL, 'ignored') AS integer_id;

-- A viewer_admin keyed by text: the text forms of the _as_admin reports.
-- The viewer's check and the log_viewed row name the viewer by its key
-- (admin_id NULL, the username read by the key)
SELECT loginas."grant"('Administrators', 'view_log', 'user_01HADA');
SELECT max(log_id) AS d1 FROM loginas.action_log \gset
SELECT count(*) > 0 AS shown FROM loginas.customer_history_as_admin('user_01HADA', 'cus_01HTESS');
SELECT count(*) AS shown FROM loginas.actions_report_as_admin('user_01HADA', admin_key => 'user_01HADA', page_size => 3);
SELECT count(*) > 0 AS shown FROM loginas.admin_activity_as_admin('user_01HADA', 'user_01HADA');
SELECT count(*) AS shown FROM loginas.actions_report_as_admin(viewer_admin => 'user_01HADA', result => 'failure',
                                                              customer_key => 'cus_01HTESS', page_size => 2);
-- refused (42501, nothing shown, a log_view_refused row naming the viewer by
-- its key): a viewer without "view_log", one inactive, one who does not
-- exist, none; a viewer given as an integer is the text key '1' of text
-- admins, which no admin has
SELECT pg_temp.try(q) FROM unnest(ARRAY[
  'SELECT loginas.customer_history_as_admin(''user_01HSAM'', ''cus_01HTESS'')',
  'SELECT loginas.actions_report_as_admin(''user_01HOLD'')',
  E'SELECT loginas.admin_activity_as_admin(E''user_\\nnobody'', ''user_01HADA'')',
  'SELECT loginas.customer_history_as_admin(NULL, ''cus_01HTESS'')',
  'SELECT loginas.actions_report(viewer_admin => 1)']) q;
SELECT action, result, admin_id, replace(admin_key, E'\n', '\n') AS admin_key, admin_username, customer_id,
       customer_key, details->>'report' AS report, details->'filters' AS filters, details->>'rows' AS rows,
       details->>'sqlstate' AS sqlstate
  FROM loginas.action_log WHERE log_id > :d1 ORDER BY log_id;
SELECT intact, problem FROM loginas.verify_log();
-- uuid admins: any spelling of the viewer, its canonical key in the row
SELECT loginas.bind('admins', 'tk2.loginas_uadmins', 'user_01HADA');
SELECT max(log_id) AS d2 FROM loginas.action_log \gset
SELECT count(*) >= 0 AS shown
  FROM loginas.admin_activity_as_admin('{0B7E1C2A-0000-4000-8000-0000000000A1}', 'user_01HADA');
SELECT pg_temp.try('SELECT loginas.customer_history_as_admin(''not-a-uuid'', ''cus_01HTESS'')');
SELECT count(*) AS by_uuid_key FROM loginas.actions_report(admin_key => '0B7E1C2A00004000800000000000' || '00A1');
SELECT count(*) AS not_a_uuid FROM loginas.actions_report(admin_key => 'user_01HADA');
SELECT action, admin_id, admin_key, admin_username, details->>'sqlstate' AS sqlstate
  FROM loginas.action_log WHERE log_id > :d2 ORDER BY log_id;
SELECT loginas.bind('admins', 'tk2.loginas_admins', '0b7e1c2a-0000-4000-8000-0000000000a1');
SELECT CASE WHEN NOT :'had_view_log'::boolean THEN loginas."revoke"('Administrators', 'view_log', 'user_01HADA') END
         IS NOT NULL AS view_log_revoked;
SELECT loginas.bind('store_views', 'shop.loginas_store_views', 'user_01HADA');
SELECT loginas.bind('admins', 'tk2.loginas_uadmins', 'user_01HADA');

-- back to the integer shop: its rows keep 1.2's columns and the first canonical form
SELECT loginas.bind('admins', 'shop.loginas_admins', '{0B7E1C2A-0000-4000-8000-0000000000A1}');
SELECT bound_by_admin, bound_by_admin_key FROM loginas.binding WHERE kind = 'admins';
SELECT loginas.bind('customers', 'shop.loginas_customers', 1);
SELECT loginas.untrack('tk2.cart'), loginas.untrack('tk2.wish');
SELECT max(log_id) AS l0 FROM loginas.action_log \gset
SELECT loginas.set_assistance(1, true, NULL, 1);
CREATE TEMP TABLE tk2_i AS SELECT * FROM loginas.begin(1, 1);
SELECT store_id, store_key FROM tk2_i;
SELECT loginas.end_admin(1) AS ended;
SELECT admin_id, admin_key, store_id, store_key, ended_by_admin, ended_by_admin_key
  FROM loginas.session ORDER BY session_id DESC LIMIT 1;
SELECT action, admin_id, admin_key, customer_key, store_key, details -> 'ended_by_admin' AS ended_by_admin
  FROM loginas.action_log WHERE log_id > :l0 ORDER BY log_id;
SELECT changed_by_admin, changed_by_admin_key FROM loginas.consent WHERE customer_id = 1;
-- a view by a viewer given as text is the view by the integer viewer (the
-- same row: admin_id, no key, the customer_id filter); admin_key filters as
-- admin_id does
SELECT max(log_id) AS l1 FROM loginas.action_log \gset
SELECT pg_temp.try('SELECT loginas.customer_history_as_admin(1, 1)')
     = pg_temp.try('SELECT loginas.customer_history_as_admin('' 01'', ''1'')') AS same_answer;
SELECT count(*) AS rows, count(DISTINCT (action, result, admin_id, admin_key, admin_username, customer_id,
                                         customer_key, customer_email, details)) AS distinct_rows,
       min(admin_id) AS admin_id, min(admin_key) AS admin_key
  FROM loginas.action_log WHERE log_id > :l1;
SELECT (SELECT count(*) FROM loginas.actions_report(admin_key => '1', page_size => 10000))
     = (SELECT count(*) FROM loginas.actions_report(admin_id => 1, page_size => 10000)) AS same_rows,
       (SELECT count(*) FROM loginas.actions_report(admin_id => 1, admin_key => '2')) AS two_admins,
       (SELECT count(*) FROM loginas.actions_report(admin_key => 'user_01HADA')) AS not_an_integer;
SELECT intact FROM loginas.verify_log();
SELECT loginas.configure('enabled', :'was_enabled');
SELECT CASE WHEN NOT :'had_login'::boolean THEN loginas."revoke"('Administrators', 'login') END IS NULL AS restored,
       CASE WHEN NOT :'had_manage'::boolean THEN loginas."revoke"('Administrators', 'manage_assistance') END IS NULL AS restored;
