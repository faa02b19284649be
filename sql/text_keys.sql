-- text_keys: keys of any type, first slice -- customers with text ids
-- (Medusa-shaped cus_...), integer admins: bind, consent, check, begin,
-- redeem, assume, a tracked table whose customer column is text (contained
-- and stamped), the log's second canonical form, customer_history(text),
-- the sessions view's customer_key.  Then customers with uuid ids: the key
-- canonical (lower case, whatever the caller's spelling), consent, begin,
-- redeem, a tracked table with a uuid customer column, the log.
-- The customers binding is put back to the integer view at the end.
SET client_min_messages = warning;
CREATE SCHEMA tk;
CREATE TABLE tk.customer (id text PRIMARY KEY, email text NOT NULL, name text, active boolean NOT NULL DEFAULT true);
INSERT INTO tk.customer VALUES ('cus_01HTEXT1', 'text1@example.com', 'Tess Text', true),
                               ('cus_01HTEXT2', 'text2@example.com', 'Other Text', true);
CREATE VIEW tk.loginas_customers AS
  SELECT id AS customer_id, email, name AS display_name, active AS is_active, 1 AS website_id, 1 AS store_id
    FROM tk.customer;
GRANT USAGE ON SCHEMA tk TO loginas_reader;
GRANT SELECT ON tk.loginas_customers TO loginas_reader;
-- 1.2 refused a text key column (42804); now customers may have text keys
SELECT loginas.bind('customers', 'tk.loginas_customers');
SELECT loginas._key_type('customers');
-- a key of a type that is not supported (char(n)): the hint suggests no cast that fails later
CREATE VIEW tk.text_admins AS SELECT 'a1'::char(2) AS admin_id, 'x'::text AS username, 'x'::text AS display_name,
                                     true AS is_active, 'Administrators'::text AS role;
GRANT SELECT ON tk.text_admins TO loginas_reader;
SET client_min_messages = notice;
DO $$
DECLARE m text; d text; h text;
BEGIN
  PERFORM loginas.bind('admins', 'tk.text_admins');
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE NOTICE '%: % / % / %', SQLSTATE, m, d, h;
END $$;
SET client_min_messages = warning;
SELECT loginas._get_setting('enabled') AS was_enabled \gset
SELECT loginas.configure('enabled', 'on');
SELECT loginas.permitted(1, 'login') AS had_login \gset
SELECT loginas."grant"('Administrators', 'login');
-- consent by the text key (an unknown literal resolves to the text overload)
SELECT loginas.set_assistance('cus_01HTEXT1', true);
SELECT loginas.assistance_allowed('cus_01HTEXT1'), loginas.assistance_allowed('cus_01HTEXT2');
SELECT customer_id, customer_key, allowed FROM loginas.consent WHERE customer_key LIKE 'cus_%';
SELECT * FROM loginas.check(1, 'cus_01HTEXT1');
SELECT * FROM loginas.check(1, 'cus_01HTEXT2');
SELECT * FROM loginas.check(1, 'cus_nobody');
-- begin -> redeem -> assume
CREATE TEMP TABLE tk_t AS SELECT token FROM loginas.begin(1, 'cus_01HTEXT1', reason => 'text keys');
CREATE TEMP TABLE tk_s AS SELECT r.* FROM tk_t, loginas.redeem(tk_t.token) r;
SELECT customer_id, customer_key, store_id, banner FROM tk_s;
SELECT customer_id, customer_key FROM loginas.session WHERE session_id = (SELECT session_id FROM tk_s);
-- a tracked table whose customer column is text
CREATE TABLE tk.cart (cart_id int PRIMARY KEY, customer_id text, note text);
INSERT INTO tk.cart VALUES (1, 'cus_01HTEXT1', 'mine'), (2, 'cus_01HTEXT2', 'theirs');
SELECT loginas.track('tk.cart', 'customer_id');
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk_s;
SELECT loginas.current_customer() AS current_customer, loginas.current_customer_key();
UPDATE tk.cart SET note = 'changed in session' WHERE cart_id = 1;
INSERT INTO tk.cart VALUES (3, 'cus_01HTEXT1', 'new');
COMMIT;
SELECT cart_id, note, loginas_changed_session = (SELECT session_id FROM tk_s) AS stamped FROM tk.cart ORDER BY cart_id;
-- another customer's row is refused
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk_s;
SAVEPOINT a;
DO $$ BEGIN UPDATE tk.cart SET note = 'not mine' WHERE cart_id = 2;
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING '42501: %', SQLERRM; END $$;
ROLLBACK TO a;
INSERT INTO tk.cart VALUES (4, 'cus_01HTEXT2', 'for another');
COMMIT;
SELECT cart_id FROM tk.cart ORDER BY cart_id;
-- the log carries the real key (second canonical form); integer rows keep the first
SELECT action, customer_id, customer_key, customer_email
  FROM loginas.action_log WHERE customer_key IS NOT NULL ORDER BY log_id;
SELECT "Action", "Table", "Keys" FROM loginas.customer_history('cus_01HTEXT1') ORDER BY "Time", "Action";
SELECT intact, problem FROM loginas.verify_log();
SELECT customer_id, customer_key FROM loginas.sessions WHERE session_id = (SELECT session_id FROM tk_s);
-- end
SELECT loginas."end"(session_key) FROM tk_s;
SELECT loginas.untrack('tk.cart');
-- customers with uuid ids
CREATE TABLE tk.ucustomer (id uuid PRIMARY KEY, email text NOT NULL, name text);
INSERT INTO tk.ucustomer VALUES ('6f1c1e1a-0000-4000-8000-00000000000a', 'uuid1@example.com', 'Uma Uuid'),
                                ('6f1c1e1a-0000-4000-8000-00000000000b', 'uuid2@example.com', 'Other Uuid');
CREATE VIEW tk.loginas_ucustomers AS
  SELECT id AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM tk.ucustomer;
GRANT SELECT ON tk.loginas_ucustomers TO loginas_reader;
SELECT loginas.bind('customers', 'tk.loginas_ucustomers');
SELECT loginas._key_type('customers');
-- the key is canonical: upper case and braces name the same customer
SELECT loginas._canon_key('customers', '{6F1C1E1A-0000-4000-8000-00000000000A}') AS canonical,
       loginas._canon_key('customers', 'not-a-uuid') IS NULL AS not_a_uuid;
SELECT loginas.set_assistance('6F1C1E1A-0000-4000-8000-00000000000A', true);
SELECT customer_id, customer_key, allowed FROM loginas.consent WHERE customer_key LIKE '6f1c1e1a-%';
SELECT loginas.assistance_allowed('6f1c1e1a-0000-4000-8000-00000000000a') AS lower,
       loginas.assistance_allowed('6F1C1E1A-0000-4000-8000-00000000000A') AS upper,
       loginas.assistance_allowed('6f1c1e1a-0000-4000-8000-00000000000b') AS other;
SELECT * FROM loginas.check(1, '6F1C1E1A-0000-4000-8000-00000000000A');
SELECT * FROM loginas.check(1, '6f1c1e1a-0000-4000-8000-00000000000b');
SELECT * FROM loginas.check(1, 'not-a-uuid');
CREATE TEMP TABLE tk_ut AS SELECT token FROM loginas.begin(1, '6F1C1E1A-0000-4000-8000-00000000000A', reason => 'uuid keys');
CREATE TEMP TABLE tk_us AS SELECT r.* FROM tk_ut, loginas.redeem(tk_ut.token) r;
SELECT customer_id, customer_key, banner FROM tk_us;
-- a tracked table whose customer column is a uuid
CREATE TABLE tk.wish (wish_id int PRIMARY KEY, customer_id uuid, item text);
INSERT INTO tk.wish VALUES (1, '6f1c1e1a-0000-4000-8000-00000000000a', 'mine'),
                           (2, '6f1c1e1a-0000-4000-8000-00000000000b', 'theirs');
SELECT loginas.track('tk.wish', 'customer_id');
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk_us;
SELECT loginas.current_customer() AS current_customer, loginas.current_customer_key();
UPDATE tk.wish SET item = 'changed in session' WHERE wish_id = 1;
SAVEPOINT a;
DO $$ BEGIN UPDATE tk.wish SET item = 'not mine' WHERE wish_id = 2;
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING '42501: %', SQLERRM; END $$;
ROLLBACK TO a;
COMMIT;
SELECT wish_id, item FROM tk.wish ORDER BY wish_id;
SELECT action, customer_id, customer_key FROM loginas.action_log
 WHERE customer_key LIKE '6f1c1e1a-%' ORDER BY log_id;
SELECT "Action", "Table", "Keys" FROM loginas.customer_history('6F1C1E1A-0000-4000-8000-00000000000A') ORDER BY "Time", "Action";
SELECT loginas."end"(session_key) FROM tk_us;
SELECT loginas.untrack('tk.wish');
SELECT intact, problem FROM loginas.verify_log();
-- back to the integer customers for the suites that follow
SELECT loginas.bind('customers', 'shop.loginas_customers');
SELECT loginas.configure('enabled', :'was_enabled');
SELECT CASE WHEN NOT :'had_login'::boolean THEN loginas."revoke"('Administrators', 'login') END IS NULL AS restored;
SELECT loginas._key_type('customers');
SELECT intact FROM loginas.verify_log();
