-- multirow: bindings with several rows per admin and per customer, as real shops' data models
--   give them (Vendure: an admin has several roles through a join table, a customer belongs to
--   several channels; Medusa and Vendure: guest customers are customer rows).
--   An admin has a row per role: any of their roles may have a resource (permitted, check,
--   begin), whatever the order of the rows; username and display_name must agree across the rows
--   (else 21000 naming the key), is_active is true only when every row says so; revoking a
--   resource from one role ends no session of an admin who keeps it through another.
--   A customer has a row per website or store view: a store view of any of their websites may be
--   chosen under account_sharing = website, their own store views come first (lowest store_id);
--   email and display_name must agree (21000).
--   Store views (by store_id) and documents (by document_id) have one row per key: a second row is
--   refused with 21000 naming the kind and the key, never an arbitrary pick.
--   The optional is_guest column of the customers binding: a guest is refused (55000); a binding
--   without the column has no guests.
--   Single-row bindings behave as before (the other suites).
--   Restores the bindings of setup at the end and leaves no grant, consent, setting or live session.
\set VERBOSITY default
SELECT coalesce(max(log_id), 0) AS log0 FROM loginas.action_log \gset
SELECT coalesce(max(session_id), 0) AS s0 FROM loginas.session \gset

-- is_guest is an optional column of the customers binding
SELECT kind, required_columns, optional_columns FROM loginas.bindings WHERE kind IN ('admins', 'customers');

CREATE SCHEMA mr;
GRANT USAGE ON SCHEMA mr TO loginas_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA mr GRANT SELECT ON TABLES TO loginas_reader;
-- Vendure-like admins: a user table and a join table of roles, bound through a view (one row per
-- role); admin 30 is Support and Marketing, 31 Marketing and Sales, 32 active in one row only,
-- 33 has two usernames, 34 no role at all
CREATE TABLE mr.administrator (id int PRIMARY KEY, identifier text, name text, active boolean);
CREATE TABLE mr.administrator_role (administrator_id int, role text, active boolean DEFAULT true);
INSERT INTO mr.administrator VALUES (30, 'ria', 'Ria Roles', true), (31, 'mo', 'Mo Nopower', true),
                                    (32, 'half', 'Half Active', true), (34, 'nora', 'No Role', true);
INSERT INTO mr.administrator_role VALUES (30, 'Marketing', true), (30, 'Support', true), (31, 'Sales', true),
                                         (31, 'Marketing', true), (32, 'Support', true), (32, 'Marketing', false);
CREATE VIEW mr.admins AS
  SELECT a.id AS admin_id, a.identifier AS username, a.name AS display_name, a.active AND COALESCE(r.active, true) AS is_active,
         r.role
    FROM mr.administrator a LEFT JOIN mr.administrator_role r ON r.administrator_id = a.id
  UNION ALL
  SELECT 33, u, 'Two Names', true, 'Support' FROM unnest(ARRAY['two', 'names']) AS u;
-- customers in several websites (one row per website and store view): 50 in website 1 (own store
-- view 2) and website 2 (own store view 3); 51 in website 1 only; 52 a guest; 53 with two e-mails
CREATE TABLE mr.customer_channels (customer_id int, email text, display_name text, is_active boolean,
                                   website_id int, store_id int, is_guest boolean);
INSERT INTO mr.customer_channels VALUES
  (50, 'wanda@example.com', 'Wanda Websites', true, 2, 3, false),
  (50, 'wanda@example.com', 'Wanda Websites', true, 1, 2, false),
  (51, 'una@example.com', 'Una One', true, 1, 2, false),
  (52, NULL, 'Guest Checkout', true, 1, 1, true),
  (53, 'one@example.com', 'Two Mails', true, 1, 1, false),
  (53, 'two@example.com', 'Two Mails', true, 2, 3, false);
-- Medusa's has_account, as is_guest
CREATE TABLE mr.medusa_customer (id int, email text, first_name text, has_account boolean, website_id int, store_id int);
INSERT INTO mr.medusa_customer VALUES (60, 'member@example.com', 'Member', true, 1, 1),
                                      (61, 'guest@example.com', 'Guest', false, 1, 1);
CREATE VIEW mr.medusa_customers AS
  SELECT id AS customer_id, email, first_name AS display_name, true AS is_active, website_id, store_id,
         NOT has_account AS is_guest
    FROM mr.medusa_customer;
-- store views (a copy of setup's) and orders with a duplicate key
CREATE TABLE mr.store_views AS SELECT * FROM shop.loginas_store_views;
CREATE TABLE mr.orders (document_id int, customer_id int, store_id int, reference text);
INSERT INTO mr.orders VALUES (900, 50, 1, '000000900'), (900, 51, 1, '000000900'), (901, 50, 2, '000000901');
GRANT SELECT ON ALL TABLES IN SCHEMA mr TO loginas_reader;

SELECT loginas.bind('admins', 'mr.admins'), loginas.bind('customers', 'mr.customer_channels');
SELECT loginas.configure('enabled', 'on'), loginas.configure('account_sharing', 'website');
SELECT loginas.grant('Support', 'login');
SELECT loginas.set_assistance(c, true) FROM unnest(ARRAY[50, 51, 52]) AS c;

--------------------------------------------------------------------------------
-- an admin with several roles: allowed when any of them has the resource
--------------------------------------------------------------------------------
-- the rows of one admin combine into one record: the roles as a sorted array
SELECT loginas._lookup('admins', 30);
SELECT loginas._lookup('admins', 34);
SELECT a AS admin_id, loginas.permitted(a, 'login') AS login, loginas.permitted(a, 'view_log') AS view_log
  FROM unnest(ARRAY[30, 31, 32, 34]) AS a;
SELECT * FROM loginas.check(30, 50);
-- Support comes second in the join table's order, then first, then second again: the answer
-- does not depend on the order of the rows
SELECT role FROM mr.administrator_role WHERE administrator_id = 30;
UPDATE mr.administrator_role SET role = role WHERE administrator_id = 30 AND role = 'Marketing';
SELECT role FROM mr.administrator_role WHERE administrator_id = 30;
SELECT * FROM loginas.check(30, 50);
UPDATE mr.administrator_role SET role = role WHERE administrator_id = 30 AND role = 'Support';
SELECT role FROM mr.administrator_role WHERE administrator_id = 30;
SELECT * FROM loginas.check(30, 50);
SELECT loginas.permitted(30, 'login');
-- none of the roles has it: the refusal names them all (42501)
SELECT * FROM loginas.check(31, 50);
SELECT * FROM loginas.begin(31, 50);
\echo :LAST_ERROR_SQLSTATE
-- with one role (or none) the refusal is the one of a single-row binding
SELECT * FROM loginas.begin(34, 50);
\echo :LAST_ERROR_SQLSTATE
-- is_active is true only when every row of the admin says so
SELECT loginas._lookup('admins', 32) ->> 'is_active' AS is_active;
SELECT * FROM loginas.begin(32, 50);
\echo :LAST_ERROR_SQLSTATE
-- rows of one admin that disagree on username: refused, naming the key (21000)
SELECT * FROM loginas.check(33, 50);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.permitted(33, 'login');
\echo :LAST_ERROR_SQLSTATE

-- revoking a resource from one role ends the sessions of admins who had it only through that
-- role: ria keeps her ticket while Marketing still has login, loses it with Marketing's
SELECT loginas.grant('Marketing', 'login');
SELECT loginas.permitted(31, 'login') AS mo;
SELECT store_id FROM loginas.begin(30, 51);
SELECT store_id FROM loginas.begin(31, 51);
SELECT loginas.revoke('Support', 'login');
SELECT admin_id, session_id - :s0 AS n, end_reason FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT loginas.revoke('Marketing', 'login');
SELECT admin_id, session_id - :s0 AS n, end_reason FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT loginas.grant('Support', 'login');

--------------------------------------------------------------------------------
-- a customer in several websites (account_sharing = website): any of their websites' store views
--------------------------------------------------------------------------------
SELECT loginas._lookup('customers', 50);
SELECT * FROM loginas.store_choices(30, 50);
-- entered on website 1 and on website 2
SELECT store_id FROM loginas.begin(30, 50, store_id => 1);
SELECT store_id FROM loginas.begin(30, 50, store_id => 2);
SELECT store_id FROM loginas.begin(30, 50, store_id => 3);
SELECT customer_id, store_id, banner FROM loginas.redeem((SELECT token FROM loginas.begin(30, 50, store_id => 3)));
-- without a store view: their own store views, the lowest store_id first (2, website 1) ...
SELECT store_id FROM loginas.begin(30, 50);
-- ... then the other (3, website 2) when the first is disabled
UPDATE mr.store_views SET is_active = false WHERE store_id = 2;
SELECT loginas.bind('store_views', 'mr.store_views');
SELECT store_id FROM loginas.begin(30, 50);
SELECT loginas.bind('store_views', 'shop.loginas_store_views');
UPDATE mr.store_views SET is_active = true WHERE store_id = 2;
-- a disabled store view of their website is still refused (55000)
SELECT * FROM loginas.begin(30, 50, store_id => 4);
\echo :LAST_ERROR_SQLSTATE
-- a customer in one website only: the other website's store views are refused as before (22023)
SELECT * FROM loginas.store_choices(30, 51);
SELECT * FROM loginas.begin(30, 51, store_id => 3);
\echo :LAST_ERROR_SQLSTATE
-- rows of one customer that disagree on email: refused, naming the key (21000)
SELECT * FROM loginas.check(30, 53);
\echo :LAST_ERROR_SQLSTATE
-- the log names the admin and the customer of several rows (their rows agree)
SELECT action, admin_id, admin_username, customer_id, customer_email
  FROM loginas.action_log WHERE log_id > :log0 AND action = 'ticket_redeemed' ORDER BY log_id;

--------------------------------------------------------------------------------
-- guests are customer rows: refused with a message of their own (55000)
--------------------------------------------------------------------------------
SELECT * FROM loginas.check(30, 52);
SELECT * FROM loginas.begin(30, 52);
\echo :LAST_ERROR_SQLSTATE
-- Medusa's has_account = false, through a view
SELECT loginas.bind('customers', 'mr.medusa_customers');
SELECT loginas.set_assistance(c, true) FROM unnest(ARRAY[60, 61]) AS c;
SELECT * FROM loginas.check(30, 60);
SELECT * FROM loginas.check(30, 61);
SELECT * FROM loginas.begin(30, 61);
\echo :LAST_ERROR_SQLSTATE
-- the optional column must be boolean where it is present
CREATE TABLE mr.typed_guests (customer_id int, email text, display_name text, is_active boolean,
                              website_id int, store_id int, is_guest int);
SELECT loginas.bind('customers', 'mr.typed_guests');
\echo :LAST_ERROR_SQLSTATE
-- a binding without the column has no guests (setup's customers: Veronica is no guest)
SELECT loginas.bind('customers', 'shop.loginas_customers');
SELECT loginas._lookup('customers', 1);

--------------------------------------------------------------------------------
-- store views and documents have one row per key: a second row is refused (21000)
--------------------------------------------------------------------------------
INSERT INTO mr.store_views SELECT * FROM shop.loginas_store_views WHERE store_id = 2;
SELECT loginas.bind('store_views', 'mr.store_views'), loginas.bind('orders', 'mr.orders');
SELECT loginas.bind('customers', 'mr.customer_channels');
SELECT store_id, count(*) FROM mr.store_views GROUP BY 1 HAVING count(*) > 1;
SELECT * FROM loginas.begin(30, 50, store_id => 2);
\echo :LAST_ERROR_SQLSTATE
-- the list of store views too
SELECT * FROM loginas.store_choices(30, 50);
\echo :LAST_ERROR_SQLSTATE
-- a store view with one row is found
SELECT store_id FROM loginas.begin(30, 50, store_id => 3);
SELECT * FROM loginas.begin_from(30, 'order', 900);
\echo :LAST_ERROR_SQLSTATE
-- an order with one row is found
SELECT store_id FROM loginas.begin_from(30, 'order', 901, store_id => 3);
SELECT source FROM loginas.session WHERE session_id > :s0 ORDER BY session_id DESC LIMIT 1;

-- rows that come to disagree do not keep a session from ending: its end is logged without the
-- name the rows disagree on (the ids are)
SELECT max(log_id) AS log1 FROM loginas.action_log \gset
UPDATE mr.administrator SET identifier = 'ria2' WHERE id = 30;
CREATE OR REPLACE VIEW mr.admins AS
  SELECT a.id AS admin_id, CASE WHEN r.role = 'Support' THEN 'ria' ELSE a.identifier END AS username,
         a.name AS display_name, a.active AND COALESCE(r.active, true) AS is_active, r.role
    FROM mr.administrator a LEFT JOIN mr.administrator_role r ON r.administrator_id = a.id;
SELECT loginas.permitted(30, 'login');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.end_admin(30) AS ended;
SELECT action, admin_id, admin_username, customer_id, customer_email, details->>'end_reason' AS end_reason
  FROM loginas.action_log WHERE log_id > :log1 ORDER BY log_id;

--------------------------------------------------------------------------------
-- clean up: setup's bindings, no grant, consent, setting or live session
--------------------------------------------------------------------------------
SELECT loginas.end_admin(30) AS ended;
SELECT count(*) AS live FROM loginas.session WHERE ended_at IS NULL;
SELECT loginas.bind('customers', 'shop.loginas_customers'), loginas.bind('admins', 'shop.loginas_admins'),
       loginas.bind('store_views', 'shop.loginas_store_views'), loginas.bind('orders', 'shop.loginas_orders');
SELECT kind, relation, status FROM loginas.bindings;
SELECT loginas.revoke('Support', 'login');
SELECT count(*) AS grants FROM loginas.role_resource;
DELETE FROM loginas.consent;
DELETE FROM loginas.setting;
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
ALTER DEFAULT PRIVILEGES IN SCHEMA mr REVOKE SELECT ON TABLES FROM loginas_reader;
DROP SCHEMA mr CASCADE;
