-- attack_review_3: attacks on keys of any type, live events and the
-- customer's own view, by the roles loginas does not trust: the storefront
-- (loginas_storefront), the admin backend (loginas_admin), the owner of a
-- bound view or of a tracked table, a role that can only connect.
-- Prints invariants only (booleans, SQLSTATEs) but for the server-log lines
-- of section 1, whose text is the point.
--   1. a customer key that holds ", customer ..., session ..., role ...)"
--      cannot make a refusal's server-log line name another customer, a
--      session or a role; "-" and control characters are quoted too
--   2. the storefront's overloads: no admin's name through by_admin; no
--      internal function (events, the customer's view, keys) is callable
--   3. the customer's view inside a session: only the impersonated
--      customer, by no other spelling; a long key; outside a session only
--      the fixed words
--   4. a bound view's code runs as loginas_reader when the storefront
--      reads the admin's display name, never with loginas' rights
--   5. describe: only the admin backend; a table owner cannot change the
--      words; the words' checks
--   6. events: the channel is a plain name, whatever the admin backend
--      tries; nothing of loginas takes an event as proof
--   7. the log's two canonical forms: a key moved between the columns, or
--      dropped, never hashes alike
-- The shop (sql/setup.sql) keeps its integer admins and store views; this
-- suite binds customers keyed by text (schema ar3) and puts the shop's
-- binding back at its end.
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE SCHEMA ar3;
GRANT USAGE ON SCHEMA ar3 TO loginas_reader;
-- run a statement as a role, print its SQLSTATE ('ok' when it succeeds)
CREATE FUNCTION ar3.try(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE p_sql;
  RETURN 'ok';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE;
END $$;
GRANT USAGE ON SCHEMA ar3 TO PUBLIC;
GRANT EXECUTE ON FUNCTION ar3.try(text) TO PUBLIC;
CREATE ROLE regress_ar3_web NOLOGIN;
GRANT loginas_storefront TO regress_ar3_web;
CREATE ROLE regress_ar3_backend NOLOGIN;
GRANT loginas_admin TO regress_ar3_backend;
CREATE ROLE regress_ar3_owner NOLOGIN;
CREATE ROLE regress_ar3_nobody NOLOGIN;
SELECT loginas._get_setting('enabled') AS was_enabled \gset
SELECT loginas.permitted(1, 'login') AS had_login \gset
SELECT loginas.configure('enabled', 'on');
SELECT loginas."grant"('Administrators', 'login');

CREATE TABLE ar3.customer (id text PRIMARY KEY, email text NOT NULL, name text);
INSERT INTO ar3.customer VALUES ('cus_tess', 'tess@example.com', 'Tess'),
                                ('cus_otto', 'otto@example.com', 'Otto');
CREATE VIEW ar3.loginas_customers AS
  SELECT id AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
    FROM ar3.customer;
GRANT SELECT ON ar3.loginas_customers TO loginas_reader;
SELECT loginas.bind('customers', 'ar3.loginas_customers');
SELECT loginas.set_assistance_as_customer('cus_tess', true), loginas.set_assistance_as_customer('cus_otto', true);

-- ===================================================================
-- 1. The server-log line of a refusal names the admin, the customer, the
-- session and the role in one parenthesis.  A customer keyed by text is
-- named by its key: the admin backend (not trusted) gives a key that holds
-- ", customer cus_otto, session 7, role postgres" -- the line must not name
-- cus_otto, session 7 or postgres.  A key "-" (the line's mark for none)
-- and one with control characters are quoted as well; keys loginas prints
-- bare stay bare.
-- ===================================================================
SET SESSION AUTHORIZATION regress_ar3_backend;
SET client_min_messages = log;
SELECT * FROM loginas.begin(1, 'x, customer cus_otto, session 7, role postgres) (admin 2');
SELECT * FROM loginas.begin(1, '-');
SELECT * FROM loginas.begin(1, E'cus\n\x7f"q"');
SELECT * FROM loginas.begin(1, 'cus_nobody');
SET client_min_messages = warning;
RESET SESSION AUTHORIZATION;

-- ===================================================================
-- 2. The storefront's overloads: set_assistance with by_admin (text or
-- bigint) goes to set_assistance_as_admin, which it may not execute; it
-- cannot reach the admin backend's or internal functions by any overload.
-- ===================================================================
SET ROLE regress_ar3_web;
SELECT ar3.try($$SELECT loginas.set_assistance('cus_tess', false, NULL, '1')$$) AS text_by_admin,
       ar3.try($$SELECT loginas.set_assistance('cus_tess'::text, false, NULL::timestamptz, 1::bigint)$$) AS bigint_by_admin,
       ar3.try($$SELECT loginas.set_assistance_as_admin('cus_tess', false, NULL, '1')$$) AS as_admin,
       ar3.try($$SELECT loginas.describe('ar3.customer'::regclass, 'x')$$) AS describe;
RESET ROLE;
SELECT loginas.assistance_allowed('cus_tess') AS tess_still_allows;
-- no role that is not trusted may execute the internal functions of the
-- events, the customer's view and the keys
SELECT r.rolname, count(*) FILTER (WHERE has_function_privilege(r.rolname, p.oid, 'EXECUTE')) AS may_execute
  FROM pg_proc p,
       (VALUES ('regress_ar3_web'), ('regress_ar3_backend'), ('regress_ar3_owner'), ('regress_ar3_nobody'),
               ('loginas_reporting'), ('loginas_auditor')) r(rolname)
 WHERE p.pronamespace = 'loginas'::regnamespace
   AND p.proname IN ('_notify', '_notify_session', '_notify_refusal', '_utc', '_session_changes',
                     '_admin_display_name', '_canon_key', '_key_id', '_lookup', '_log_refusal', '_queue_refusal',
                     '_log_refused', '_log_row_hash', '_log_content')
 GROUP BY r.rolname ORDER BY r.rolname;
-- a replayed announcement of a refusal: 42501 for everyone but the owner
SET ROLE regress_ar3_web;
SELECT ar3.try('SELECT loginas._notify_refusal(1)') AS web_replays,
       ar3.try($$SELECT loginas._notify('refused', '{}')$$) AS web_forges;
RESET ROLE;
SET ROLE regress_ar3_nobody;
SELECT ar3.try($$SELECT loginas._notify('ticket_issued', '{}')$$) AS nobody_forges,
       ar3.try($$SELECT * FROM loginas.my_assistance_history('cus_tess')$$) AS nobody_reads_history;
RESET ROLE;

-- ===================================================================
-- 3. The customer's view inside a session: only the impersonated customer
-- (cus_tess) may be asked for -- not another, not the same text with a
-- blank (another key), not through the bigint form, not by a key over
-- 512 bytes; outside a session, any customer, with the fixed words only.
-- ===================================================================
-- (the ticket and the key are captured with \gset and never printed)
SELECT token AS ar3_token FROM loginas.begin(1, 'cus_tess', reason => 'ticket 4711 secret reason') \gset
SET ROLE regress_ar3_web;
SELECT session_id AS ar3_sid, session_key AS ar3_key FROM loginas.redeem(:'ar3_token') \gset
BEGIN;
SELECT loginas.assume(:'ar3_key') = :ar3_sid AS assumed;
SELECT ar3.try($$SELECT * FROM loginas.my_assistance_history('cus_otto')$$) AS other,
       ar3.try($$SELECT * FROM loginas.my_assistance_history('cus_tess ')$$) AS blank,
       ar3.try($$SELECT * FROM loginas.my_assistance_history(' cus_tess')$$) AS leading_blank,
       ar3.try($$SELECT * FROM loginas.my_assistance_history('CUS_TESS')$$) AS upper_case,
       ar3.try($$SELECT * FROM loginas.my_assistance_history(42::bigint)$$) AS bigint_form,
       ar3.try(format('SELECT * FROM loginas.my_assistance_history(%L)', repeat('x', 600))) AS long_key,
       ar3.try($$SELECT * FROM loginas.my_assistance_history('cus_tess')$$) AS own;
COMMIT;
SELECT loginas."end"(:'ar3_key') AS ended;
-- outside a session: any customer (documented), and only the fixed words
SELECT count(*) = 1 AS one_session,
       bool_and(administrator = 'Store administrator') AS fixed_admin,
       bool_and(reason IS NULL) AS no_reason,
       bool_and(changes IS NULL) AS nothing_changed
  FROM loginas.my_assistance_history('cus_tess');
SELECT count(*) AS otto_sessions FROM loginas.my_assistance_history('cus_otto');
-- a key over 512 bytes, a NUL-free odd key: no row, no error, no oracle
SELECT ar3.try(format('SELECT * FROM loginas.my_assistance_history(%L)', repeat('x', 600))) AS long_key_outside,
       (SELECT count(*) FROM loginas.my_assistance_history(E'cus_tess\n')) AS newline_variant;
RESET ROLE;

-- ===================================================================
-- 4. A bound view's owner: with customer_view_admin = display_name the
-- storefront's call reads the admins binding; the view's code runs as
-- loginas_reader (no USAGE on loginas, no session row readable), never as
-- loginas' owner, and what it records shows it.
-- ===================================================================
CREATE TABLE ar3.spy (who name, loginas_usage boolean, sessions_readable boolean);
GRANT INSERT ON ar3.spy TO loginas_reader;
GRANT USAGE ON SCHEMA ar3 TO regress_ar3_owner;
GRANT USAGE ON SCHEMA shop TO regress_ar3_owner;
GRANT SELECT ON shop.admin TO regress_ar3_owner;
GRANT CREATE ON SCHEMA ar3 TO regress_ar3_owner;
ALTER TABLE ar3.spy OWNER TO regress_ar3_owner;
SET ROLE regress_ar3_owner;
CREATE FUNCTION ar3.watch() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE readable boolean;
BEGIN
  BEGIN
    PERFORM count(*) FROM loginas.session;
    readable := true;
  EXCEPTION WHEN insufficient_privilege THEN
    readable := false;
  END;
  INSERT INTO ar3.spy VALUES (current_user, has_schema_privilege('loginas', 'USAGE'), readable);
  RETURN true;
END $$;
CREATE VIEW ar3.loginas_admins AS
  SELECT admin_id, username, firstname || ' ' || lastname AS display_name, is_active, role
    FROM shop.admin WHERE ar3.watch();
GRANT SELECT ON ar3.loginas_admins TO loginas_reader;
RESET ROLE;
SELECT loginas.bind('admins', 'ar3.loginas_admins');
SELECT loginas.configure('customer_view_admin', 'display_name');
SET ROLE regress_ar3_web;
SELECT administrator <> 'Store administrator' AS display_name_shown FROM loginas.my_assistance_history('cus_tess');
RESET ROLE;
SELECT count(*) > 0 AS the_view_ran, bool_and(who = 'loginas_reader') AS as_loginas_reader,
       bool_or(loginas_usage) AS had_loginas_usage, bool_or(sessions_readable) AS read_sessions
  FROM ar3.spy;
SELECT loginas.configure('customer_view_admin', 'store_administrator');
SELECT loginas.bind('admins', 'shop.loginas_admins');

-- ===================================================================
-- 5. The words: the admin backend describes; the owner of a tracked
-- table can neither call describe nor write change_description; the
-- checks of the words hold against what the admin backend tries.
-- ===================================================================
CREATE TABLE ar3.cart (cart_id int PRIMARY KEY, customer_id text NOT NULL, note text);
ALTER TABLE ar3.cart OWNER TO regress_ar3_owner;
SELECT loginas.track('ar3.cart', 'customer_id');
SET ROLE regress_ar3_owner;
SELECT ar3.try($$SELECT loginas.describe('ar3.cart', 'nothing happened')$$) AS owner_describes,
       ar3.try($$UPDATE loginas.change_description SET description = 'x'$$) AS owner_updates,
       ar3.try($$INSERT INTO loginas.change_description (relation, operation, description) VALUES ('ar3.cart', 'any', 'x')$$) AS owner_inserts;
RESET ROLE;
SET ROLE regress_ar3_backend;
SELECT ar3.try($$SELECT loginas.describe('ar3.cart', E'changed\ryour cart')$$) AS carriage_return,
       ar3.try($$SELECT loginas.describe('ar3.cart', E'changed\x7fyour cart')$$) AS del,
       ar3.try($$SELECT loginas.describe('ar3.cart', repeat('é', 201))$$) AS too_long,
       ar3.try($$SELECT loginas.describe('ar3.cart', 'x', 'truncate')$$) AS bad_operation,
       ar3.try($$SELECT loginas.describe('ar3.cart', 'changed your cart', NULL, 'nobody')$$) AS unknown_admin,
       ar3.try($$SELECT loginas.describe('ar3.cart', 'changed your cart')$$) AS ok;
RESET ROLE;
SELECT count(*) AS descriptions FROM loginas.change_description WHERE relation = 'ar3.cart'::regclass;
SELECT loginas.untrack('ar3.cart');
SELECT count(*) AS forgotten FROM loginas.change_description WHERE relation = 'ar3.cart'::regclass;

-- ===================================================================
-- 6. Events: the channel is a name LISTEN takes unquoted, whatever the
-- admin backend gives (quotes, a semicolon, a blank, a dot, a reserved
-- word, 64 bytes, a letter outside a-z, a newline); upper case folds.
-- ===================================================================
SET ROLE regress_ar3_backend;
SELECT v, ar3.try(format('SELECT loginas.configure(%L, %L)', 'notify_channel', v)) AS refused
  FROM unnest(ARRAY['"x"', 'x; LISTEN y', 'a b', 'a.b', 'select', repeat('a', 64), 'événements',
                    E'a\nb', '1abc', 'a-b', $q$x'$q$]) v;
SELECT loginas.configure('notify_channel', 'LoginAs_Events') AS folded;
SELECT loginas.configure('notify_channel', '') AS off;
RESET ROLE;

-- ===================================================================
-- 7. The log's canonical forms: a row with a text key hashes in the second
-- form; the same row with its key moved to another key column, or without
-- its key (the first form), never hashes alike; verify_log() holds.
-- ===================================================================
SELECT count(*) > 0 AS text_key_rows,
       bool_and(loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
                l.action, l.result, l.admin_id, l.admin_username, l.customer_id, l.customer_email, l.session_id,
                l.store_id, l.source, l.reason, l.client_addr, l.db_role, l.details, l.admin_key, l.customer_key,
                l.store_key) = l.row_hash) AS as_stored,
       bool_or(loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
                l.action, l.result, l.admin_id, l.admin_username, l.customer_id, l.customer_email, l.session_id,
                l.store_id, l.source, l.reason, l.client_addr, l.db_role, l.details, l.customer_key, l.admin_key,
                l.store_key) = l.row_hash) AS key_moved_to_admin,
       bool_or(loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
                l.action, l.result, l.admin_id, l.admin_username, l.customer_id, l.customer_email, l.session_id,
                l.store_id, l.source, l.reason, l.client_addr, l.db_role, l.details, l.admin_key, NULL,
                l.customer_key) = l.row_hash) AS key_moved_to_store,
       bool_or(loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
                l.action, l.result, l.admin_id, l.admin_username, l.customer_id, l.customer_email, l.session_id,
                l.store_id, l.source, l.reason, l.client_addr, l.db_role, l.details) = l.row_hash) AS first_form
  FROM loginas.action_log l WHERE l.customer_key IN ('cus_tess', 'cus_otto') AND l.admin_key IS NULL
   AND l.store_key IS NULL;
SELECT bool_and(intact) AS log_intact FROM loginas.verify_log();

-- ===================================================================
-- The shop as it was
-- ===================================================================
SELECT loginas.bind('customers', 'shop.loginas_customers');
SELECT loginas.configure('enabled', :'was_enabled');
SELECT CASE WHEN NOT :'had_login'::boolean THEN loginas."revoke"('Administrators', 'login') END IS NULL AS restored;
REVOKE ALL ON ar3.spy FROM loginas_reader;
DROP SCHEMA ar3 CASCADE;
REVOKE SELECT ON shop.admin FROM regress_ar3_owner;
REVOKE USAGE ON SCHEMA shop FROM regress_ar3_owner;
DROP ROLE regress_ar3_web, regress_ar3_backend, regress_ar3_owner, regress_ar3_nobody;
