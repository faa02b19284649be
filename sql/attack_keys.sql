-- attack_keys: attacks on keys of any type (branch keys-any-type).
-- Not in REGRESS: run after setup (pg_regress ... setup attack_keys).
-- expected/attack_keys.out is what a FIXED build prints; the current build
-- differs at the lines marked "FINDING" (see KEYS-WIP.md, "Attack review").
-- Every attack prints only invariants (booleans, SQLSTATEs), so that either
-- way of fixing a finding (refuse, or canonicalise) prints the same.
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
-- 1. (FINDING, high) a text key compared under a nondeterministic
-- collation: the lookup finds the customer for another spelling, but
-- _canon_key keeps the caller's spelling, so one customer gets two consent
-- rows, two session keys and two log keys.  Here the admin backend (with
-- manage_assistance) consents as 'CUS_ABC' for the customer 'cus_abc'.
-- ===================================================================
CREATE COLLATION ak.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ak.customer (id text COLLATE ak.ci PRIMARY KEY, email text NOT NULL);
INSERT INTO ak.customer VALUES ('cus_abc', 'abc@example.com'), ('cus_other', 'other@example.com');
CREATE VIEW ak.loginas_customers AS
  SELECT id AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ak.customer;
GRANT SELECT ON ak.loginas_customers TO loginas_reader;
SELECT loginas.bind('customers', 'ak.loginas_customers');
CREATE TABLE ak.cart (cart_id int PRIMARY KEY, customer_id text COLLATE ak.ci REFERENCES ak.customer, note text);
INSERT INTO ak.cart VALUES (1, 'cus_abc', 'hers');
SELECT loginas.track('ak.cart', 'customer_id');
-- the customer consents with its own key
SELECT loginas.set_assistance_as_customer('cus_abc', true);
-- the admin backend, on the customer's behalf, with another spelling
SELECT ak.try($$SELECT loginas.set_assistance_as_admin('CUS_ABC', true, NULL, 1)$$) IN ('ok', '22023') AS variant_consent_ok_or_refused;
-- FINDING: one consent row per customer, stored under the row's own key
SELECT count(*) AS consent_rows_for_the_customer,
       bool_and(customer_key = 'cus_abc') AS under_the_rows_key
  FROM loginas.consent WHERE lower(customer_key) = 'cus_abc';
CREATE TEMP TABLE ak_t (token text);
CREATE TEMP TABLE ak_s (session_id bigint, session_key text, customer_key text);
DO $$
DECLARE t text;
BEGIN
  SELECT token INTO t FROM loginas.begin(1, 'CUS_ABC', reason => 'variant spelling');
  INSERT INTO ak_t VALUES (t);
  INSERT INTO ak_s SELECT r.session_id, r.session_key, r.customer_key FROM loginas.redeem(t) r;
EXCEPTION WHEN others THEN NULL;   -- a fix may refuse the variant: fine
END $$;
-- FINDING: a session, if any, carries the customer's key, not the caller's spelling
SELECT bool_and(customer_key = 'cus_abc') IS NOT FALSE AS session_key_is_the_rows FROM ak_s;
-- the customer withdraws consent (with its own key)
SELECT loginas.set_assistance_as_customer('cus_abc', false);
-- FINDING: no live session or ticket of that customer survives, whatever the spelling
SELECT count(*) AS live_sessions_of_the_customer
  FROM loginas.session WHERE ended_at IS NULL AND lower(customer_key) = 'cus_abc';
SELECT loginas.assistance_allowed('CUS_ABC') AS variant_still_allowed;
-- FINDING: nothing is written in her name after the revocation
DO $$
DECLARE k text;
BEGIN
  SELECT session_key INTO k FROM ak_s;
  IF k IS NOT NULL THEN
    PERFORM loginas.assume(k);
    INSERT INTO ak.cart VALUES (2, 'CUS_ABC', 'written after the revocation');
  END IF;
EXCEPTION WHEN others THEN NULL;
END $$;
SELECT count(*) AS rows_written_after_revocation FROM ak.cart WHERE cart_id = 2;
-- FINDING: whatever was logged for her is in her history
SELECT (SELECT count(*) FROM loginas.action_log
         WHERE lower(customer_key) = 'cus_abc' AND action NOT IN ('log_viewed', 'log_view_refused'))
     = (SELECT count(*) FROM loginas.customer_history('cus_abc')) AS history_complete;
SELECT loginas.untrack('ak.cart');

-- ===================================================================
-- 2. (held) text keys are parameters, never SQL: quotes, a statement,
-- control characters and '' are keys no row has
-- ===================================================================
SELECT k AS key, c.allowed, c.reason
  FROM unnest(ARRAY[$k$x'); DROP TABLE ak.cart; --$k$, 'cus_abc'' OR ''1''=''1', '', ' cus_other', 'cus_other ',
                    E'cus_other\u00A0', 'CUS_OTHER%', 'cus_%']) WITH ORDINALITY u(k, n),
       LATERAL loginas.check(1, k) c ORDER BY n;
SELECT to_regclass('ak.cart') IS NOT NULL AS cart_still_there;

-- ===================================================================
-- 3. (FINDING, low) a key read back from the shop in an error message is
-- not escaped: a bound view whose rows of one key disagree (its owner is not
-- trusted) puts a newline of the caller's key into the server log
-- ===================================================================
CREATE OR REPLACE VIEW ak.loginas_customers AS
  SELECT id AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
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
CREATE OR REPLACE VIEW ak.loginas_customers AS
  SELECT id AS customer_id, email, email AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
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
-- 5. (FINDING, medium) integer keys: _canon_key reads at most 18 digits,
-- the C lookup any int8.  A customer whose id has 19 digits (a bigint) can
-- no longer consent (raw 23502 from inside loginas), nor can '0000000000000000001',
-- a spelling the lookup accepts for customer 1.
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
SELECT customer_id, customer_key FROM loginas.consent
 WHERE customer_key IN ('1000000000000000000', '-1000000000000000000') ORDER BY customer_id;
-- (held) the other spellings of one integer are one customer
SELECT k AS spelling, loginas._canon_key('customers', k) AS canonical, loginas.assistance_allowed(k) AS allowed
  FROM unnest(ARRAY['1', '01', ' 1 ', '+1', '1.0', '1e0', '0x1', E'\u0661']) WITH ORDINALITY u(k, n) ORDER BY n;
-- (held) overloads: an unknown literal and NULL take the text form, and mean the same
SELECT (loginas.check(1, '1')).allowed = (loginas.check(1, 1)).allowed AS text_and_bigint_agree;
SELECT * FROM loginas.check(1, NULL);

-- ===================================================================
-- 6. (FINDING, low) the customers binding's key column retyped by its
-- owner to a type no key may have: check() raises a raw 42883 from inside
-- loginas (the key type is not checked again at read time; 1.2 cast the
-- column to int8); expire() only warns
-- ===================================================================
CREATE TABLE ak.ncust (customer_id text PRIMARY KEY, email text, display_name text, is_active boolean,
                       website_id int, store_id int);
INSERT INTO ak.ncust VALUES ('7', 'seven@example.com', 'Seven', true, 1, 1);
GRANT SELECT ON ak.ncust TO loginas_reader;
SELECT loginas.bind('customers', 'ak.ncust');
ALTER TABLE ak.ncust ALTER customer_id TYPE numeric USING customer_id::numeric;
SELECT ak.try($$SELECT loginas.check(1, '7')$$) <> '42883' AS no_raw_undefined_operator;
SELECT ak.try($$SELECT loginas.expire()$$) AS expire_survives;

-- ===================================================================
-- 7. (FINDING, low) in an integer shop a tracked table's customer column
-- retyped to text after track() is accepted at the trigger's refill
-- (_track_info checks _is_key_type, track() checks _is_int_type); 1.2
-- refused every write in a session (55000)
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
