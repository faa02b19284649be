-- customer_view: the customer's own view -- loginas.my_assistance_history(),
-- which the storefront calls to list under My Account the assistance
-- sessions on one customer's account, in the customer's words.
--   * the output: exactly the columns started_at, ended_at, duration,
--     administrator, reason, changes; one row per redeemed session of that
--     customer (a ticket never redeemed entered nothing), newest first;
--   * nothing of another customer: the sessions and changes of a customer
--     never show under another; an unknown customer, a key that is no value
--     of the key's type and a customer without sessions all read alike
--     (no rows, no error: no oracle of who exists);
--   * no internal detail: the values are scanned for the admins' usernames
--     and names, e-mails, keys, database roles, client addresses, the
--     source, the reason, table and column names, column values;
--   * the settings: customer_view_admin (store_administrator, the default,
--     or display_name: the admin's display name now, "Store administrator"
--     when it cannot be read) and customer_view_reason (off, the default);
--   * the words: loginas.describe(table, words, operation) per tracked table
--     and operation ({n}: the rows), else "changed your account"; each
--     phrase once, in the order of the writes; refusals (22023, 55000),
--     untrack forgets; logged as setting_changed;
--   * who: the storefront calls it (the admin backend, reporting and others
--     cannot: 42501), the admin backend describes; inside a Login as
--     Customer session only the impersonated customer may be asked for
--     (42501);
--   * a customer keyed by text.
-- Times are never printed (only compared).  Tokens and session keys are
-- captured with \gset and never printed.
--
-- The shop (sql/setup.sql): admins 1 ada (Administrators), 2 sam (Support);
-- this suite adds customers 8150 (Mia Private), 8151 (Noah Other) and 8152
-- (Zoe Quiet, no sessions), admin 8160 (Cleo Temp, Support), order 8150
-- (Mia's), tracked tables (schema cv) and roles regress_cv_*; it removes
-- them at its end.
\set VERBOSITY default

------------------------------------------------------------------------------
-- The starting point
------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login'), loginas.grant('Support', 'login');
INSERT INTO shop.customer VALUES (8150, 'mia@example.com', 'Mia', 'Private', true, 1, 1),
                                 (8151, 'noah@example.com', 'Noah', 'Other', true, 1, 1),
                                 (8152, 'zoe@example.com', 'Zoe', 'Quiet', true, 1, 1);
INSERT INTO shop.admin VALUES (8160, 'cleo.temp', 'Cleo', 'Temp', true, 'Support');
INSERT INTO shop.sales_order VALUES (8150, 8150, 1, '000000150');
SELECT loginas.set_assistance(8150, true), loginas.set_assistance(8151, true), loginas.set_assistance(8152, true);
CREATE SCHEMA cv;
CREATE TABLE cv.address (address_id int PRIMARY KEY, customer_id int NOT NULL, street text);
CREATE TABLE cv.cart_item (item_id int PRIMARY KEY, customer_id int NOT NULL, sku text, qty int);
CREATE TABLE cv.wishlist (wish_id int PRIMARY KEY, customer_id int NOT NULL, sku text);
CREATE TABLE cv.untracked (id int PRIMARY KEY, customer_id int NOT NULL);
INSERT INTO cv.address VALUES (1, 8150, 'Old Street 1'), (2, 8151, 'Elm Road 9');
SELECT loginas.track('cv.address', 'customer_id'), loginas.track('cv.cart_item', 'customer_id'),
       loginas.track('cv.wishlist', 'customer_id');
CREATE ROLE regress_cv_web NOLOGIN;
GRANT loginas_storefront TO regress_cv_web;
CREATE ROLE regress_cv_backend NOLOGIN;
GRANT loginas_admin TO regress_cv_backend;
CREATE ROLE regress_cv_reports NOLOGIN;
GRANT loginas_reporting TO regress_cv_reports;
CREATE ROLE regress_cv_nobody NOLOGIN;
GRANT USAGE ON SCHEMA cv TO regress_cv_web, regress_cv_backend;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA cv TO regress_cv_web;

------------------------------------------------------------------------------
-- The words: the admin backend describes the tables
------------------------------------------------------------------------------
SET ROLE regress_cv_backend;
SELECT loginas.describe('cv.address', 'changed your address');
SELECT loginas.describe('cv.cart_item', ' added {n} item(s) to your cart ', 'INSERT', by_admin => 1);
SELECT loginas.describe('cv.cart_item', 'removed {n} item(s) from your cart', 'delete', '2');
SELECT loginas.describe('cv.cart_item', 'changed your cart', NULL);
-- the same words again: nothing changes, nothing is logged
RESET ROLE;
SELECT max(log_id) AS log0 FROM loginas.action_log \gset
SET ROLE regress_cv_backend;
SELECT loginas.describe('cv.address', 'changed your address', 'any');
SELECT relation, operation, description, changed_by_admin, changed_by_admin_key FROM loginas.change_descriptions;
RESET ROLE;
SELECT count(*) AS logged FROM loginas.action_log WHERE log_id > :log0;
-- each change is a setting_changed row
SELECT action, admin_id, details FROM loginas.action_log
 WHERE action = 'setting_changed' AND details->>'setting' LIKE 'description of cv.%' ORDER BY log_id;
-- refusals: NULL relation, a bad operation, a table not tracked, an empty,
-- an over-long description, one with a control character, an unknown admin
SET ROLE regress_cv_backend;
SELECT loginas.describe(NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.describe('cv.address', 'x', 'upsert');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.describe('cv.untracked', 'changed your profile');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.describe('cv.address', '  ');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.describe('cv.address', repeat('x', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.describe('cv.address', E'changed\nyour address');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.describe('cv.address', 'x', NULL, 999);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- the storefront neither describes nor reads the descriptions
SET ROLE regress_cv_web;
SELECT loginas.describe('cv.address', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM loginas.change_descriptions;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- nothing came of the refusals
SELECT relation, operation, description FROM loginas.change_descriptions;

------------------------------------------------------------------------------
-- What happens to Mia's (8150) and Noah's (8151) accounts:
--   s1  ada from Mia's order 000000150, reason "ticket 4711 -- suspected fraud":
--       her address changed, 2 cart items added; then 1 removed, one more
--       added, a wishlist entry added (no words: "changed your account");
--       Mia's storefront logs out
--   s2  ada for Noah: his address changed, 2 cart items added; logout
--   s3  sam for Mia, no writes; sam's admin logout ends it
--   s4  cleo for Mia, ticket never redeemed (expire() ends it)
--   s5  cleo for Mia: live, one cart item added
------------------------------------------------------------------------------
SELECT token AS t FROM loginas.begin_from(1, 'order', 8150, reason => 'ticket 4711 -- suspected fraud') \gset
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem(:'t', '203.0.113.9') \gset
SET ROLE regress_cv_web;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
UPDATE cv.address SET street = 'New Street 2' WHERE address_id = 1;
INSERT INTO cv.cart_item VALUES (10, 8150, 'SKU-RED-MUG', 1), (11, 8150, 'SKU-BLUE-CAP', 2);
COMMIT;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
DELETE FROM cv.cart_item WHERE item_id = 10;
INSERT INTO cv.cart_item VALUES (12, 8150, 'SKU-GREEN-BAG', 1);
INSERT INTO cv.wishlist VALUES (20, 8150, 'SKU-GOLD-RING');
COMMIT;
SELECT loginas.end(:'k1');
RESET ROLE;

SELECT token AS t FROM loginas.begin(1, 8151, reason => 'call about Noah') \gset
SELECT session_key AS k2, session_id AS s2 FROM loginas.redeem(:'t', '198.51.100.7') \gset
SET ROLE regress_cv_web;
BEGIN;
SELECT loginas.assume(:'k2') = :s2 AS assumed;
UPDATE cv.address SET street = 'Oak Lane 3' WHERE address_id = 2;
INSERT INTO cv.cart_item VALUES (30, 8151, 'SKU-NOAH-ONE', 5), (31, 8151, 'SKU-NOAH-TWO', 1);
COMMIT;
SELECT loginas.end(:'k2');
RESET ROLE;

SELECT token AS t FROM loginas.begin(2, 8150, reason => 'second look') \gset
SELECT session_key AS k3, session_id AS s3 FROM loginas.redeem(:'t') \gset
SELECT loginas.end_admin(2);

SELECT loginas.configure('ticket_ttl', '1 second');
SELECT token AS t FROM loginas.begin(8160, 8150) \gset
SELECT max(session_id) AS s4 FROM loginas.session \gset
SELECT pg_sleep(1.1);
SELECT loginas.expire() >= 1 AS expired;
SELECT loginas.configure('ticket_ttl', '1 minute');

SELECT token AS t FROM loginas.begin(8160, 8150, reason => 'live one') \gset
SELECT session_key AS k5, session_id AS s5 FROM loginas.redeem(:'t') \gset
SET ROLE regress_cv_web;
BEGIN;
SELECT loginas.assume(:'k5') = :s5 AS assumed;
INSERT INTO cv.cart_item VALUES (13, 8150, 'SKU-LIVE-SOCK', 3);
COMMIT;
RESET ROLE;

------------------------------------------------------------------------------
-- The output: exactly these columns, in both forms
------------------------------------------------------------------------------
SELECT p.oid::regprocedure AS function, a.name AS column_name, format_type(a.type, NULL) AS type
  FROM pg_proc p, unnest(p.proargnames, p.proallargtypes, p.proargmodes::text[]) WITH ORDINALITY a(name, type, mode, o)
 WHERE p.oid IN ('loginas.my_assistance_history(bigint)'::regprocedure, 'loginas.my_assistance_history(text)'::regprocedure)
   AND a.mode = 't'
 ORDER BY 1, a.o;

------------------------------------------------------------------------------
-- Mia's history, as the storefront reads it (the defaults: "Store
-- administrator", no reason): s5 (live), s3, s1, newest first; not s4 (never
-- redeemed), not s2 (Noah's)
------------------------------------------------------------------------------
SET ROLE regress_cv_web;
CREATE TEMP TABLE mia AS
SELECT h.*, row_number() OVER () AS n FROM loginas.my_assistance_history(8150) h;
RESET ROLE;
SELECT n, administrator, reason, changes, ended_at IS NULL AS going_on FROM mia ORDER BY n;
-- the times are the sessions': started at the redemption, ended at the end
-- (or NULL while going on), the duration between them
SELECT count(*) AS rows_with_other_times
  FROM mia h
  JOIN (SELECT session_id, redeemed_at, LEAST(ended_at, expires_at) AS ended,
               row_number() OVER (ORDER BY redeemed_at DESC, session_id DESC) AS n
          FROM loginas.session WHERE customer_key = '8150' AND redeemed_at IS NOT NULL) s USING (n)
 WHERE h.started_at IS DISTINCT FROM s.redeemed_at
    OR h.ended_at IS DISTINCT FROM CASE WHEN s.ended <= now() THEN s.ended END
    OR h.duration IS DISTINCT FROM h.ended_at - h.started_at
    OR h.started_at > COALESCE(h.ended_at, 'infinity');
-- the text form says the same
SET ROLE regress_cv_web;
SELECT (SELECT array_agg(h ORDER BY h.started_at) FROM loginas.my_assistance_history('8150') h)
     = (SELECT array_agg(h ORDER BY h.started_at) FROM loginas.my_assistance_history(8150) h) AS text_form_same,
       (SELECT count(*) FROM loginas.my_assistance_history(' 08150 ')) AS spelled_08150;
RESET ROLE;

------------------------------------------------------------------------------
-- No internal detail: every value of Mia's history (and of Noah's, with
-- the admin's name and the reason shown) scanned for what must not appear
------------------------------------------------------------------------------
CREATE TEMP TABLE forbidden (what text, needle text);
INSERT INTO forbidden VALUES
  ('username', 'ada'), ('username', 'sam'), ('username', 'cleo.temp'),
  ('admin name', 'Ada'), ('admin name', 'Sam Support'), ('admin name', 'Cleo'),
  ('e-mail', '@example.com'), ('customer name', 'Mia'), ('customer name', 'Noah'),
  ('database role', 'regress_cv'), ('database role', 'postgres'),
  ('client address', '203.0.113'), ('client address', '198.51.100'),
  ('source', '000000150'), ('source', 'order'),
  ('reason', '4711'), ('reason', 'fraud'), ('reason', 'second look'), ('reason', 'live one'),
  ('schema', 'cv.'), ('table', 'cart_item'), ('table', 'wishlist'),
  ('column', 'street'), ('column', 'sku'), ('column', 'qty'),
  ('value', 'Street'), ('value', 'SKU-'), ('value', 'Oak Lane'),
  ('row key', '(10)'), ('row key', '(11)'), ('row key', '[');
INSERT INTO forbidden SELECT 'session id', session_id::text FROM loginas.session WHERE customer_key IN ('8150', '8151');
INSERT INTO forbidden VALUES ('customer key', '8150'), ('customer key', '8151'), ('admin key', '8160');
-- (the text columns: timestamps and intervals are values of their own types)
SELECT f.what, f.needle, h.n
  FROM mia h, forbidden f
 WHERE strpos(concat_ws('|', h.administrator, h.reason, h.changes), f.needle) > 0;
SELECT count(*) AS forbidden_needles FROM forbidden;

------------------------------------------------------------------------------
-- Nothing of another customer
------------------------------------------------------------------------------
SET ROLE regress_cv_web;
-- Noah sees his own session only, and his own changes
SELECT administrator, changes FROM loginas.my_assistance_history(8151);
-- Mia's list has none of Noah's words (he alone had 2 items added)
SELECT count(*) AS mia_rows, count(*) FILTER (WHERE changes LIKE '%added 2 item%') AS with_noahs_words
  FROM loginas.my_assistance_history(8150);
CREATE TEMP TABLE mia_again AS SELECT * FROM loginas.my_assistance_history(8150);
RESET ROLE;
-- and every row of it is a session of Mia's
SELECT count(*) AS rows_of_other_customers
  FROM mia_again h
 WHERE NOT EXISTS (SELECT FROM loginas.session s
                    WHERE s.redeemed_at = h.started_at AND s.customer_key = '8150');
SET ROLE regress_cv_web;
-- a customer without sessions, an unknown one, a key that is no integer, a
-- negative one, the lowest bigint: all alike (no rows, no error)
SELECT (SELECT count(*) FROM loginas.my_assistance_history(8152)) AS no_sessions,
       (SELECT count(*) FROM loginas.my_assistance_history(999999)) AS unknown,
       (SELECT count(*) FROM loginas.my_assistance_history('cus_8150')) AS not_an_integer,
       (SELECT count(*) FROM loginas.my_assistance_history(-8150)) AS negative,
       (SELECT count(*) FROM loginas.my_assistance_history(-9223372036854775807 - 1)) AS lowest,
       (SELECT count(*) FROM loginas.my_assistance_history('')) AS empty;
-- NULL: 22023
SELECT * FROM loginas.my_assistance_history(NULL::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM loginas.my_assistance_history(NULL::text);
\echo :LAST_ERROR_SQLSTATE
-- in a session the customer is known: the impersonated one only (42501)
\set VERBOSITY terse
BEGIN;
SELECT loginas.assume(:'k5') = :s5 AS assumed;
SELECT count(*) AS own_in_session FROM loginas.my_assistance_history(8150);
SELECT count(*) FROM loginas.my_assistance_history(8151);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'k5') = :s5 AS assumed;
SELECT count(*) FROM loginas.my_assistance_history('cus_8150');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
\set VERBOSITY default
RESET ROLE;

------------------------------------------------------------------------------
-- Who may call it: the storefront; not the admin backend, reporting or
-- any other role (42501, PostgreSQL's permission denied)
------------------------------------------------------------------------------
SET ROLE regress_cv_backend;
SELECT count(*) FROM loginas.my_assistance_history(8150);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cv_reports;
SELECT count(*) FROM loginas.my_assistance_history('8150');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cv_nobody;
SELECT count(*) FROM loginas.my_assistance_history(8150);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

------------------------------------------------------------------------------
-- The settings: the admin's display name, the reason
------------------------------------------------------------------------------
SELECT loginas.configure('customer_view_admin', 'display_name'), loginas.configure('customer_view_reason', 'on');
SET ROLE regress_cv_web;
SELECT administrator, reason FROM loginas.my_assistance_history(8150);
SELECT administrator, reason FROM loginas.my_assistance_history(8151);
RESET ROLE;
-- an admin no longer in the admins binding: "Store administrator"
DELETE FROM shop.admin WHERE admin_id = 8160;
SET ROLE regress_cv_web;
SELECT administrator FROM loginas.my_assistance_history(8150);
RESET ROLE;
-- a binding that cannot be read: "Store administrator" too
REVOKE SELECT ON shop.loginas_admins FROM loginas_reader;
SET ROLE regress_cv_web;
SELECT administrator FROM loginas.my_assistance_history(8150);
RESET ROLE;
GRANT SELECT ON shop.loginas_admins TO loginas_reader;
-- with the name and reason on, still nothing else: the same scan, without
-- the admin names and the reasons
SET ROLE regress_cv_web;
CREATE TEMP TABLE mia_named AS SELECT * FROM loginas.my_assistance_history(8150);
RESET ROLE;
SELECT f.what, f.needle
  FROM mia_named h, forbidden f
 WHERE f.what NOT IN ('admin name', 'reason', 'username')
   AND strpos(concat_ws('|', h.administrator, h.reason, h.changes), f.needle) > 0;
-- the storefront cannot change the settings
SET ROLE regress_cv_web;
SELECT loginas.configure('customer_view_reason', 'off');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT loginas.configure('customer_view_admin', 'name');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('customer_view_admin', ' Store_Administrator '), loginas.configure('customer_view_reason', 'off');
SET ROLE regress_cv_web;
SELECT DISTINCT administrator, reason FROM loginas.my_assistance_history(8150);
RESET ROLE;

------------------------------------------------------------------------------
-- Words changed later apply to the history; a description removed gives
-- back the neutral words; untrack forgets the table's words
------------------------------------------------------------------------------
SELECT loginas.describe('cv.wishlist', 'added to your wishlist ({n})', 'insert');
SELECT loginas.describe('cv.cart_item', NULL, 'insert');
SET ROLE regress_cv_web;
SELECT changes FROM loginas.my_assistance_history(8150) WHERE changes IS NOT NULL;
RESET ROLE;
SELECT loginas.untrack('cv.wishlist');
SELECT relation, operation FROM loginas.change_descriptions ORDER BY 1, 2;

------------------------------------------------------------------------------
-- A customer keyed by text
------------------------------------------------------------------------------
CREATE TABLE cv.customer (id text PRIMARY KEY, email text NOT NULL, name text);
INSERT INTO cv.customer VALUES ('cus_MIA', 'mia.text@example.com', 'Mia Text'), ('cus_noah', 'noah.text@example.com', 'Noah Text');
CREATE VIEW cv.loginas_customers AS
  SELECT id AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM cv.customer;
GRANT USAGE ON SCHEMA cv TO loginas_reader;
GRANT SELECT ON cv.loginas_customers TO loginas_reader;
SELECT loginas.bind('customers', 'cv.loginas_customers');
SELECT loginas.set_assistance('cus_MIA', true);
SELECT token AS t FROM loginas.begin(1, 'cus_MIA') \gset
SELECT session_key AS k6 FROM loginas.redeem(:'t') \gset
CREATE TABLE cv.note (note_id int PRIMARY KEY, customer_id text NOT NULL, body text);
SELECT loginas.track('cv.note', 'customer_id');
GRANT SELECT, INSERT ON cv.note TO regress_cv_web;
SELECT loginas.describe('cv.note', 'left {n} note for you');
SET ROLE regress_cv_web;
BEGIN;
SELECT loginas.assume(:'k6') IS NOT NULL AS assumed;
INSERT INTO cv.note VALUES (1, 'cus_MIA', 'hello');
COMMIT;
SELECT loginas.end(:'k6');
SELECT administrator, changes, ended_at IS NOT NULL AS ended FROM loginas.my_assistance_history('cus_MIA');
-- another text key, another case, a prefix: nothing
SELECT (SELECT count(*) FROM loginas.my_assistance_history('cus_noah')) AS other,
       (SELECT count(*) FROM loginas.my_assistance_history('cus_mia')) AS other_case,
       (SELECT count(*) FROM loginas.my_assistance_history('cus_')) AS prefix;
RESET ROLE;
SELECT loginas.bind('customers', 'shop.loginas_customers');

------------------------------------------------------------------------------
-- Back to the defaults for the next suite (the log rows stay: append-only)
------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'off');
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT loginas.untrack('cv.address'), loginas.untrack('cv.cart_item'), loginas.untrack('cv.note');
SELECT count(*) AS descriptions_left FROM loginas.change_descriptions;
DROP SCHEMA cv CASCADE;
DROP TABLE mia, mia_again, mia_named, forbidden;
DROP ROLE regress_cv_web, regress_cv_backend, regress_cv_reports, regress_cv_nobody;
SELECT loginas.revoke('Administrators', 'login'), loginas.revoke('Support', 'login');
DELETE FROM loginas.consent;
DELETE FROM shop.sales_order WHERE order_id = 8150;
DELETE FROM shop.customer WHERE customer_id IN (8150, 8151, 8152);
DELETE FROM loginas.setting;
