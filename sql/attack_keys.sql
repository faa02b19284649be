-- attack_keys: attacks on keys of any type (text, uuid, integer spellings).
-- Most attacks print only invariants (booleans, SQLSTATEs).
-- Needs ICU (a nondeterministic collation).
SET client_min_messages = warning;
SELECT loginas.configure('enabled', 'on');
SELECT loginas."grant"('Administrators', 'login');
SELECT loginas."grant"('Administrators', 'manage_assistance');
CREATE SCHEMA ak;
GRANT USAGE ON SCHEMA ak TO loginas_reader;
-- run a statement, print its SQLSTATE ('ok' when it succeeds) and nothing else
CREATE FUNCTION ak.try(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE p_sql;
  RETURN 'ok';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE;
END $$;

-- ===================================================================
-- 1. a text key under a nondeterministic collation: the lookup would find
-- customer 'cus_abc' for 'CUS_ABC', while loginas keeps and compares keys
-- byte for byte (consent, sessions, revocation, containment, the log), so
-- one customer would get two keys.  bind() refuses such a key column; a
-- key column given such a collation after bind() reads as unbound.
-- ===================================================================
CREATE COLLATION ak.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ak.customer (id text COLLATE ak.ci PRIMARY KEY, email text NOT NULL);
INSERT INTO ak.customer VALUES ('cus_abc', 'abc@example.com'), ('cus_other', 'other@example.com');
CREATE VIEW ak.loginas_customers AS
  SELECT id AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ak.customer;
GRANT SELECT ON ak.loginas_customers TO loginas_reader;
SELECT loginas.bind('customers', 'ak.loginas_customers');
-- the remedy the hint gives: a view with a deterministic collation
CREATE VIEW ak.loginas_customers_c AS
  SELECT id COLLATE "C" AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ak.customer;
GRANT SELECT ON ak.loginas_customers_c TO loginas_reader;
SELECT loginas.bind('customers', 'ak.loginas_customers_c');
SELECT loginas.set_assistance_as_customer('cus_abc', true);
-- another spelling is no customer: refused, nothing stored under it
SELECT ak.try($$SELECT loginas.set_assistance_as_admin('CUS_ABC', true, NULL, 1)$$) AS variant_consent;
SELECT count(*) AS consent_rows_for_the_customer, bool_and(customer_key = 'cus_abc') AS under_the_rows_key
  FROM loginas.consent WHERE lower(customer_key) = 'cus_abc';
SELECT (loginas.check(1, 'CUS_ABC')).allowed AS variant_allowed, (loginas.check(1, 'cus_abc')).allowed AS own_key_allowed;
SELECT ak.try($$SELECT loginas.begin(1, 'CUS_ABC', reason => 'variant spelling')$$) AS variant_begin;
SELECT count(*) AS sessions_under_the_variant FROM loginas.session WHERE customer_key = 'CUS_ABC';
SELECT loginas.set_assistance_as_customer('cus_abc', false);
-- a text key longer than 512 bytes is no customer's (consent and sessions
-- index keys): a clean refusal, not an index error from inside loginas
INSERT INTO ak.customer VALUES (repeat(md5('k'), 20), 'long@example.com');
SELECT ak.try(format('SELECT loginas.set_assistance_as_customer(%L, true)', repeat(md5('k'), 20))) AS long_key_consent,
       (loginas.check(1, repeat(md5('k'), 20))).reason AS long_key_check;
-- a table bound with a deterministic key column, then given a
-- nondeterministic collation by its owner: every read refuses (55000)
CREATE TABLE ak.customer2 (customer_id text PRIMARY KEY, email text, display_name text, is_active boolean,
                           website_id int, store_id int);
INSERT INTO ak.customer2 VALUES ('cus_abc', 'abc@example.com', 'Abc', true, 1, 1);
GRANT SELECT ON ak.customer2 TO loginas_reader;
SELECT loginas.bind('customers', 'ak.customer2');
SELECT loginas.set_assistance_as_customer('cus_abc', true);
ALTER TABLE ak.customer2 ALTER customer_id TYPE text COLLATE ak.ci;
SELECT * FROM loginas.check(1, 'CUS_ABC');
SELECT loginas.set_assistance_as_customer('CUS_ABC', false);
SELECT ak.try($$SELECT loginas.begin(1, 'cus_abc')$$) AS begin_refused;
SELECT ak.try($$SELECT loginas.expire()$$) AS expire_survives;
SELECT loginas.bind('customers', 'ak.loginas_customers_c');

-- ===================================================================
-- 2. (held) text keys are parameters, never SQL: quotes, a statement,
-- control characters and '' are keys no row has
-- ===================================================================
SELECT k AS key, c.allowed, c.reason
  FROM unnest(ARRAY[$k$x'); DROP TABLE ak.customer CASCADE; --$k$, 'cus_abc'' OR ''1''=''1', '', ' cus_other', 'cus_other ',
                    E'cus_other\u00A0', 'CUS_OTHER%', 'cus_%']) WITH ORDINALITY u(k, n),
       LATERAL loginas.check(1, k) c ORDER BY n;
SELECT to_regclass('ak.customer') IS NOT NULL AS table_still_there;

-- ===================================================================
-- 3. (held) a key read back from the shop in an error message is
-- escaped: a bound view whose rows of one key disagree (its owner is not
-- trusted) cannot put a newline of the caller's key into the server log
-- ===================================================================
CREATE OR REPLACE VIEW ak.loginas_customers_c AS
  SELECT id COLLATE "C" AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ak.customer
  UNION ALL SELECT E'dup\nLOG:  forged', 'x@example.com', 'x', true, 1, 1
  UNION ALL SELECT E'dup\nLOG:  forged', 'y@example.com', 'y', true, 1, 1;
DO $$
BEGIN
  PERFORM loginas.check(1, E'dup\nLOG:  forged');
  RAISE NOTICE 'not refused';
EXCEPTION WHEN cardinality_violation THEN
  RAISE WARNING 'refused (21000), message escaped: %', position(E'\n' IN SQLERRM) = 0;
END $$;
CREATE OR REPLACE VIEW ak.loginas_customers_c AS
  SELECT id COLLATE "C" AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ak.customer;

-- ===================================================================
-- 4. (held) uuid keys: every spelling the uuid type reads is one key; text
-- that is no uuid names no row, raises nothing (inside begin, check, expire)
-- ===================================================================
CREATE TABLE ak.ucustomer (id uuid PRIMARY KEY, email text NOT NULL);
INSERT INTO ak.ucustomer VALUES ('6f1c1e1a-0000-4000-8000-00000000000a', 'u1@example.com'),
                                ('6f1c1e1a-0000-4000-8000-00000000000b', 'u2@example.com');
CREATE VIEW ak.loginas_ucustomers AS
  SELECT id AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ak.ucustomer;
GRANT SELECT ON ak.loginas_ucustomers TO loginas_reader;
SELECT loginas.bind('customers', 'ak.loginas_ucustomers');
SELECT loginas.set_assistance_as_customer('{6F1C1E1A00004000800000000000000A}', true);
SELECT k AS spelling, loginas._canon_key('customers', k) AS canonical, loginas.assistance_allowed(k) AS allowed
  FROM unnest(ARRAY['6f1c1e1a-0000-4000-8000-00000000000a', '6F1C1E1A-0000-4000-8000-00000000000A',
                    '{6f1c1e1a-0000-4000-8000-00000000000a}', '6f1c1e1a00004000800000000000000a',
                    ' 6f1c1e1a-0000-4000-8000-00000000000a', '6f1c1e1a-0000-4000-8000-00000000000a ',
                    '{6f1c1e1a-0000-4000-8000-00000000000a', '6f1c1e1a-0000-4000-8000-00000000000a}',
                    '6f1c1e1a-0000-4000-8000-00000000000a' || chr(10), 'not-a-uuid', '']) WITH ORDINALITY u(k, n)
 ORDER BY n;
SELECT ak.try($$SELECT loginas.begin(1, '6f1c1e1a-0000-4000-8000-00000000000g')$$) AS begin_not_a_uuid;
SELECT ak.try($$SELECT loginas.expire()$$) AS expire_survives;
-- a session begun with one spelling is revoked by another
CREATE TEMP TABLE ak_ut AS SELECT token FROM loginas.begin(1, '{6F1C1E1A-0000-4000-8000-00000000000A}');
SELECT loginas.set_assistance_as_customer('6f1c1e1a00004000800000000000000a', false);
SELECT count(*) AS live_uuid_tickets FROM loginas.session
 WHERE ended_at IS NULL AND customer_key = '6f1c1e1a-0000-4000-8000-00000000000a';

-- ===================================================================
-- 5. (held) integer keys: _canon_key and the C lookup read a key by one
-- rule (spaces, tabs, newlines around a sign and digits, the range of
-- bigint): a customer whose id has 19 digits consents, '0000000000000000001'
-- is customer 1, and nothing raises a raw error from inside loginas.
-- ===================================================================
CREATE TABLE ak.bigcust (customer_id bigint PRIMARY KEY, email text, display_name text, is_active boolean,
                         website_id int, store_id int);
INSERT INTO ak.bigcust VALUES (1000000000000000000, 'big@example.com', 'Big', true, 1, 1),
                              (-1000000000000000000, 'neg@example.com', 'Neg', true, 1, 1),
                              (1, 'one@example.com', 'One', true, 1, 1);
GRANT SELECT ON ak.bigcust TO loginas_reader;
SELECT loginas.bind('customers', 'ak.bigcust');
SELECT ak.try($$SELECT loginas.set_assistance(1000000000000000000, true)$$) AS nineteen_digits;
SELECT ak.try($$SELECT loginas.set_assistance(-1000000000000000000, true)$$) AS nineteen_digits_negative;
SELECT loginas.set_assistance(1, true);
-- refused (no row) or taken for customer 1: either, but not a raw 23502
SELECT ak.try($$SELECT loginas.set_assistance('0000000000000000001', true)$$) IN ('ok', '22023') AS nineteen_chars_for_one;
-- the lowest bigint marks "no integer id" inside loginas: no customer has it
INSERT INTO ak.bigcust VALUES (-9223372036854775808, 'min@example.com', 'Min', true, 1, 1);
SELECT ak.try($$SELECT loginas.set_assistance(-9223372036854775808, true)$$) AS lowest_bigint,
       (loginas.check(1, -9223372036854775808)).reason AS lowest_bigint_check;
SELECT customer_id, customer_key FROM loginas.consent
 WHERE customer_key IN ('1000000000000000000', '-1000000000000000000') ORDER BY customer_id;
-- (held) the other spellings of one integer are one customer
SELECT k AS spelling, loginas._canon_key('customers', k) AS canonical, loginas.assistance_allowed(k) AS allowed
  FROM unnest(ARRAY['1', '01', ' 1 ', '+1', '1.0', '1e0', '0x1', E'\u0661']) WITH ORDINALITY u(k, n) ORDER BY n;
-- (held) overloads: an unknown literal and NULL take the text form, and mean the same
SELECT (loginas.check(1, '1')).allowed = (loginas.check(1, 1)).allowed AS text_and_bigint_agree;
SELECT * FROM loginas.check(1, NULL);

-- ===================================================================
-- 6. (held) the customers binding's key column retyped by its owner to a
-- type no key may have reads as unbound (55000, not a raw 42883 from inside
-- loginas); expire() goes on
-- ===================================================================
CREATE TABLE ak.ncust (customer_id text PRIMARY KEY, email text, display_name text, is_active boolean,
                       website_id int, store_id int);
INSERT INTO ak.ncust VALUES ('7', 'seven@example.com', 'Seven', true, 1, 1);
GRANT SELECT ON ak.ncust TO loginas_reader;
SELECT loginas.bind('customers', 'ak.ncust');
ALTER TABLE ak.ncust ALTER customer_id TYPE numeric USING customer_id::numeric;
SELECT ak.try($$SELECT loginas.check(1, '7')$$) AS check_on_retyped_key;
SELECT ak.try($$SELECT loginas.expire()$$) AS expire_survives;

-- ===================================================================
-- 7. (held) in an integer shop a tracked table's customer column retyped
-- to text after track() is refused at the trigger's refill by track()'s own
-- rule: every write in a session fails (55000)
-- ===================================================================
SELECT loginas.bind('customers', 'shop.loginas_customers');
SELECT loginas.set_assistance(1, true);
CREATE TABLE ak.icart (cart_id int PRIMARY KEY, customer_id int, note text);
INSERT INTO ak.icart VALUES (1, 1, 'veronica'), (2, 2, 'john');
SELECT loginas.track('ak.icart', 'customer_id');
CREATE TEMP TABLE ak_it AS SELECT token FROM loginas.begin(1, 1);
CREATE TEMP TABLE ak_is AS SELECT r.* FROM ak_it, loginas.redeem(ak_it.token) r;
ALTER TABLE ak.icart ALTER customer_id TYPE text;
BEGIN;
SELECT loginas.assume(session_key) = session_id AS assumed FROM ak_is;
SELECT ak.try($$UPDATE ak.icart SET note = 'after the retype' WHERE cart_id = 1$$) AS write_after_retype;
COMMIT;
SELECT loginas."end"(session_key) FROM ak_is;
SELECT loginas.untrack('ak.icart');

-- ===================================================================
-- 8. (held) the new SECURITY DEFINER overloads: pinned search_path, not
-- PUBLIC's; the log verifies (both canonical forms, SQL and C agree)
-- ===================================================================
SELECT p.oid::regprocedure AS sd_without_pinned_path FROM pg_proc p
 WHERE p.pronamespace = 'loginas'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');
SELECT p.oid::regprocedure AS public_may_execute FROM pg_proc p
 WHERE p.pronamespace = 'loginas'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;
SELECT count(*) FILTER (WHERE customer_key IS NOT NULL) > 0 AS some_rows_have_keys,
       bool_and(sha256(l.prev_hash || convert_to(l.chain_id::text || ':' || l.chain_seq::text || ':' ||
           loginas._log_content(l.log_id, l.logged_at, l.action_group, l.action, l.result, l.admin_id,
                                l.admin_username, l.customer_id, l.customer_email, l.session_id, l.store_id,
                                l.source, l.reason, l.client_addr, l.db_role, l.details, l.admin_key,
                                l.customer_key, l.store_key), 'UTF8')) = l.row_hash) AS sql_form_matches
  FROM loginas.action_log l;
SELECT intact, problem FROM loginas.verify_log();
