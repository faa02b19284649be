-- text_keys: keys of any type, first slice -- customers with text ids
-- (Medusa-shaped cus_...), integer admins: bind, consent, check, begin,
-- redeem, assume, a tracked table whose customer column is text (contained
-- and stamped), the log's second canonical form, customer_history(text),
-- the sessions view's customer_key; refusals naming the customer by its key
-- (the server-log lines, the durable refusal log's row); the reports by the
-- key (actions_report(customer_key => ...), customer_history(text) through
-- viewer_admin and its log_viewed / log_view_refused rows, admin_activity's
-- Customer column).  Then customers with uuid ids: the key canonical (lower
-- case, whatever the caller's spelling), consent, begin, redeem, a tracked
-- table with a uuid customer column, the log, the reports.
-- The customers binding is put back to the integer view at the end, where an
-- integer shop's refusal and view rows are checked to be what they were.
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
-- (its server-log line names the session's customer by the key)
SET client_min_messages = log;
DO $$ BEGIN UPDATE tk.cart SET note = 'not mine' WHERE cart_id = 2;
EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING '42501: %', SQLERRM; END $$;
SET client_min_messages = warning;
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
-- Refusals name the customer by its key.  The server-log line of a refused
-- begin (shown here with client_min_messages = log; the key escaped like
-- every text there)
SELECT max(log_id) AS tk_l1, clock_timestamp() AS tk_t1 FROM loginas.action_log \gset
SET client_min_messages = log;
SELECT * FROM loginas.begin(1, 'cus_01HTEXT2', reason => 'no consent');
SELECT * FROM loginas.begin(1, E'cus_\nnobody');
SET client_min_messages = warning;
-- the durable refusal log's worker writes an entry with a key as
-- loginas._log_refusal(..., customer_key) (src/refusal_queue.c; pg_regress
-- does not preload loginas, so there is no worker here, and the calls are
-- made as the worker makes them): the row's customer_key, the e-mail read by
-- the key; a summary of refused writes too
SELECT loginas._log_refusal(clock_timestamp(), 'begin', '42501',
         'Login as Customer assistance is disabled for this Customer.', NULL, 1, NULL, NULL, NULL, 'postgres',
         'no consent', NULL, 'cus_01HTEXT2') IS NOT NULL AS begin_refused,
       loginas._log_refusal(clock_timestamp(), 'begin', '22023', 'Customer with this ID no longer exists.', NULL,
         1, NULL, NULL, NULL, 'postgres', NULL, NULL, 'cus_nobody') IS NOT NULL AS unknown_customer,
       loginas._log_refusal(clock_timestamp(), 'write', '42501', 'row (2) of another customer on tk.cart', NULL,
         1, NULL, (SELECT session_id FROM tk_s), NULL, 'postgres', NULL, NULL, 3, clock_timestamp(),
         'cus_01HTEXT1') IS NOT NULL AS write_refused;
SELECT action, result, admin_id, customer_id, customer_key, customer_email, details->>'coalesced' AS coalesced
  FROM loginas.action_log WHERE log_id > :tk_l1 ORDER BY log_id;
SELECT intact, problem FROM loginas.verify_log();
-- The reports by the key.  actions_report(customer_key => ...): that
-- customer's rows, its Details naming it by the key (a key that is no
-- customer's: none)
SELECT "Action", "Result", "Details" FROM loginas.actions_report(customer_key => 'cus_01HTEXT1', since => :'tk_t1');
SELECT count(*) AS all_rows FROM loginas.actions_report(customer_key => 'cus_01HTEXT1');
SELECT count(*) AS nobody FROM loginas.actions_report(customer_key => 'cus_NOBODY');
-- (a key is printed as loginas prints keys: quoted when it holds a space, a
-- comma, a parenthesis, a quote or a backslash)
SELECT loginas._row_summary('begin_refused', NULL, NULL, NULL, NULL, NULL, NULL, '{}', 'cus (x), y') AS quoted,
       loginas._row_summary('begin_refused', 7, NULL, NULL, NULL, NULL, NULL, '{}', 'ignored') AS integer_id;
-- admin_activity's Customer column: the e-mail, else the key
SELECT "Action", "Result", "Customer" FROM loginas.admin_activity(1, since => :'tk_t1');
-- customer_history(text) through viewer_admin (before: 0A000): the viewer's
-- check, then the report, then its log_viewed row by the key
SELECT loginas.permitted(1, 'view_log') AS had_view_log \gset
SELECT loginas."grant"('Administrators', 'view_log');
SELECT max(log_id) AS tk_l2 FROM loginas.action_log \gset
SELECT "Action", "Table", "Keys" FROM loginas.customer_history('cus_01HTEXT1', viewer_admin => 1) ORDER BY "Time", "Action";
SELECT count(*) AS rows FROM loginas.actions_report(customer_key => 'cus_01HTEXT1', viewer_admin => 1, page_size => 5);
-- a viewer without "view_log", one who does not exist, and the admin backend
-- without viewer_admin: 42501, nothing shown, a log_view_refused row by the key
CREATE ROLE tk_backend IN ROLE loginas_admin;
CREATE FUNCTION pg_temp.tk_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE 'SELECT count(*) FROM (' || stmt || ') x' INTO n;
  RETURN 'shown: ' || n;
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.tk_try($$SELECT * FROM loginas.customer_history('cus_01HTEXT1', viewer_admin => 4)$$) AS marketing,
       pg_temp.tk_try($$SELECT * FROM loginas.customer_history('cus_01HTEXT1', viewer_admin => 99)$$) AS unknown,
       pg_temp.tk_try($$SELECT * FROM loginas.actions_report(customer_key => 'cus_01HTEXT1', viewer_admin => 4)$$) AS report;
SET ROLE tk_backend;
SELECT pg_temp.tk_try($$SELECT * FROM loginas.customer_history('cus_01HTEXT1')$$) AS no_viewer;
RESET ROLE;
SELECT action, result, admin_id, customer_id, customer_key, customer_email, details->>'report' AS report,
       details->'filters' AS filters, details->>'rows' AS rows, details->>'sqlstate' AS sqlstate
  FROM loginas.action_log WHERE log_id > :tk_l2 ORDER BY log_id;
SELECT intact, problem FROM loginas.verify_log();
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
-- a key set to NULL in a session is refused by loginas' trigger, which sees
-- the row before PostgreSQL checks its NOT NULL columns (text and uuid keys:
-- the trigger never reads a missing value)
CREATE TABLE tk.tag (tag_id text PRIMARY KEY, customer_id uuid, label text);
CREATE TABLE tk.utag (tag_id uuid PRIMARY KEY, customer_id uuid, label text);
INSERT INTO tk.tag VALUES ('tag_1', '6f1c1e1a-0000-4000-8000-00000000000a', 'mine');
INSERT INTO tk.utag VALUES ('6f1c1e1a-0000-4000-8000-0000000000aa', '6f1c1e1a-0000-4000-8000-00000000000a', 'mine');
SELECT loginas.track('tk.tag', 'customer_id'), loginas.track('tk.utag', 'customer_id');
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM tk_us;
SAVEPOINT a;
DO $$ BEGIN UPDATE tk.tag SET tag_id = NULL WHERE tag_id = 'tag_1';
EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;
DO $$ BEGIN UPDATE tk.utag SET tag_id = NULL;
EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;
DO $$ BEGIN INSERT INTO tk.tag VALUES (NULL, '6f1c1e1a-0000-4000-8000-00000000000a', 'no key');
EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;
ROLLBACK TO a;
UPDATE tk.tag SET label = 'still mine' WHERE tag_id = 'tag_1';
COMMIT;
SELECT tag_id, label FROM tk.tag;
SELECT loginas.untrack('tk.tag'), loginas.untrack('tk.utag');
DROP TABLE tk.tag, tk.utag;
SELECT action, customer_id, customer_key FROM loginas.action_log
 WHERE customer_key LIKE '6f1c1e1a-%' ORDER BY log_id;
SELECT "Action", "Table", "Keys" FROM loginas.customer_history('6F1C1E1A-0000-4000-8000-00000000000A') ORDER BY "Time", "Action";
-- through viewer_admin, and actions_report by the key: any spelling, the
-- canonical key in the log_viewed rows (their filters: as given)
SELECT max(log_id) AS tk_l3 FROM loginas.action_log \gset
SELECT count(*) > 0 AS shown FROM loginas.customer_history('6F1C1E1A-0000-4000-8000-00000000000A', viewer_admin => 1);
SELECT count(*) AS rows FROM loginas.actions_report(customer_key => '{6F1C1E1A-0000-4000-8000-00000000000A}',
                                                    viewer_admin => 1, page_size => 3);
SELECT count(*) AS not_a_uuid FROM loginas.actions_report(customer_key => 'not-a-uuid');
SELECT action, customer_id, customer_key, customer_email, details->'filters' AS filters
  FROM loginas.action_log WHERE log_id > :tk_l3 ORDER BY log_id;
SELECT loginas."end"(session_key) FROM tk_us;
SELECT loginas.untrack('tk.wish');
SELECT intact, problem FROM loginas.verify_log();
-- back to the integer customers for the suites that follow
SELECT loginas.bind('customers', 'shop.loginas_customers');
-- an integer shop's rows are what they were: a refusal's and a view's
-- customer in customer_id, no key (the first canonical form); customer_key
-- filters the report as customer_id does
SELECT max(log_id) AS tk_l4 FROM loginas.action_log \gset
SELECT loginas._log_refusal(clock_timestamp(), 'begin', '42501', 'integer', NULL, 1, 2, NULL, NULL, 'postgres',
                            NULL, NULL, p_customer_key => '2') IS NOT NULL AS begin_refused;
SELECT count(*) > 0 AS shown FROM loginas.customer_history('1', viewer_admin => 1);
SELECT count(*) AS rows FROM loginas.actions_report(customer_key => '01', viewer_admin => 1, page_size => 2);
SELECT action, customer_id, customer_key, customer_email, details->'filters' AS filters
  FROM loginas.action_log WHERE log_id > :tk_l4 ORDER BY log_id;
SELECT (SELECT count(*) FROM loginas.actions_report(customer_key => '1', page_size => 10000))
     = (SELECT count(*) FROM loginas.actions_report(customer_id => 1, page_size => 10000)) AS same_rows,
       (SELECT count(*) FROM loginas.actions_report(customer_id => 1, customer_key => '2')) AS two_customers,
       (SELECT count(*) FROM loginas.actions_report(customer_key => 'cus_01HTEXT1')) AS not_an_integer;
SELECT CASE WHEN NOT :'had_view_log'::boolean THEN loginas."revoke"('Administrators', 'view_log') END IS NOT NULL
         AS view_log_revoked;
SELECT loginas.permitted(1, 'view_log') = :'had_view_log'::boolean AS view_log_as_before;
DROP ROLE tk_backend;
SELECT loginas.configure('enabled', :'was_enabled');
SELECT CASE WHEN NOT :'had_login'::boolean THEN loginas."revoke"('Administrators', 'login') END IS NULL AS restored;
SELECT loginas._key_type('customers');
SELECT intact FROM loginas.verify_log();
