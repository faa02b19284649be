-- privileges: the capability split, enforced by PostgreSQL privileges.
-- The extension ships three NOLOGIN roles the shop grants to its own roles:
--   loginas_admin       the admin backend: configure, bind, grant, begin,
--                       end_admin, set_assistance with by_admin, read settings
--   loginas_storefront  the storefront: redeem, assume, end, the customer's own
--                       set_assistance, banner / current_*
--   loginas_reporting   reporting: reads loginas.action_log
--   loginas_auditor     the auditor: purges the log (purge_log), sets how
--                       long it is kept at least (set_log_retention),
--                       verifies it; not part of loginas_admin
-- and a fifth, loginas_reader, granted to nobody: the only role bound
-- relations are read as.
-- This suite checks, with test roles holding one capability each, what each
-- can and cannot do; that no role can write the extension's tables; that
-- nothing is granted to PUBLIC; that SECURITY DEFINER functions pin their
-- search_path; that the internal functions are executable by none of them;
-- and that no client can forge a Login as Customer context with SET.
--
-- Shop (sql/setup.sql): customers 1 Veronica, 2 John; admins 1 ada
-- (Administrators), 2 sam (Support).
\set VERBOSITY default

-- Load the library first (its _PG_init reserves the "loginas" GUC prefix).
SELECT loginas.current_session() IS NULL AS no_context;

-- A clean slate whatever earlier suites left (undone at the end).
DELETE FROM loginas.consent;
DO $$
DECLARE
	r record;
BEGIN
	PERFORM loginas.configure('enabled', 'off');	-- ends any live session
	FOR r IN SELECT role, resource FROM loginas.permissions LOOP
		PERFORM loginas.revoke(r.role, r.resource);
	END LOOP;
END
$$;

-- The shop's database roles, one capability each (NOLOGIN: used via SET ROLE)
CREATE ROLE shop_backend NOLOGIN;
GRANT loginas_admin TO shop_backend;
CREATE ROLE shop_web NOLOGIN;
GRANT loginas_storefront TO shop_web;
CREATE ROLE shop_report NOLOGIN;
GRANT loginas_reporting TO shop_report;
CREATE ROLE shop_audit NOLOGIN;
GRANT loginas_auditor TO shop_audit;
CREATE ROLE shop_nobody NOLOGIN;
-- the admin backend reads the shop's own tables (and names them to bind them)
GRANT USAGE ON SCHEMA shop TO shop_backend;
GRANT SELECT ON shop.loginas_orders TO shop_backend;

-- try(statement): runs it as the current role and reports 'ok' or
-- 'SQLSTATE: message' (a temporary function: executable by every role)
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT COALESCE(max(log_id), 0) AS log0 FROM loginas.action_log \gset

-------------------------------------------------------------------------------
-- Nothing in schema loginas is granted to PUBLIC (a NULL ACL means the
-- built-in default, which for functions and types includes PUBLIC) but
-- loginas.in_session(): the WHEN filter of the tracked tables' triggers, which
-- runs with the rights of whichever role writes a tracked table; it only says
-- whether the caller's own transaction acts in a session; and
-- loginas._track_row(), the tracked tables' row trigger function, which no SQL
-- can call: PostgreSQL checks that a tracked table's owner may execute it when
-- the owner adds a partition (the parent's row triggers are copied into it)
-------------------------------------------------------------------------------
SELECT 'schema' AS kind, n.nspname::text AS object
  FROM pg_namespace n, aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a
 WHERE n.nspname = 'loginas' AND a.grantee = 0
UNION ALL
SELECT 'function', p.oid::regprocedure::text
  FROM pg_proc p, aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.pronamespace = 'loginas'::regnamespace AND a.grantee = 0
UNION ALL
SELECT 'relation', c.oid::regclass::text
  FROM pg_class c,
       aclexplode(COALESCE(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
 WHERE c.relnamespace = 'loginas'::regnamespace AND a.grantee = 0
UNION ALL
SELECT 'column', c.oid::regclass::text || '.' || att.attname
  FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a
 WHERE c.relnamespace = 'loginas'::regnamespace AND a.grantee = 0
UNION ALL
SELECT 'type', t.oid::regtype::text
  FROM pg_type t, aclexplode(COALESCE(t.typacl, acldefault('T', t.typowner))) a
 WHERE t.typnamespace = 'loginas'::regnamespace AND a.grantee = 0
   AND t.typcategory <> 'A'  -- an array type has its element type's privileges
   AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
ORDER BY 1, 2;
-- and no column-level grants to anyone
SELECT c.oid::regclass AS relation, att.attname
  FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid
 WHERE c.relnamespace = 'loginas'::regnamespace AND att.attacl IS NOT NULL;

-------------------------------------------------------------------------------
-- Every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp
-------------------------------------------------------------------------------
SELECT count(*) > 0 AS has_security_definer_functions
  FROM pg_proc WHERE pronamespace = 'loginas'::regnamespace AND prosecdef;
SELECT p.oid::regprocedure AS unpinned, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'loginas'::regnamespace AND p.prosecdef
   AND NOT COALESCE('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);

-------------------------------------------------------------------------------
-- The split at a glance: what each test role may execute and read / write
-------------------------------------------------------------------------------
SELECT p.oid::regprocedure AS function,
       COALESCE(string_agg(r.role, ', ' ORDER BY r.ord) FILTER (WHERE has_function_privilege(r.role, p.oid, 'EXECUTE')), '')
           AS executable_by
  FROM pg_proc p
 CROSS JOIN unnest(ARRAY['shop_backend', 'shop_web', 'shop_report', 'shop_audit', 'shop_nobody']) WITH ORDINALITY AS r(role, ord)
 WHERE p.pronamespace = 'loginas'::regnamespace
 GROUP BY p.oid
 ORDER BY p.oid::regprocedure::text;
SELECT c.oid::regclass AS relation, r.role, pr.priv
  FROM pg_class c
 CROSS JOIN unnest(ARRAY['shop_backend', 'shop_web', 'shop_report', 'shop_audit', 'shop_nobody', 'loginas_admin',
                         'loginas_storefront', 'loginas_reporting', 'loginas_auditor', 'loginas_reader']) WITH ORDINALITY AS r(role, ord)
 CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) WITH ORDINALITY AS pr(priv, pord)
 WHERE c.relnamespace = 'loginas'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND has_table_privilege(r.role, c.oid, pr.priv)
 ORDER BY c.oid::regclass::text, r.ord, pr.pord;
SELECT c.oid::regclass AS sequence, r.role
  FROM pg_class c
 CROSS JOIN unnest(ARRAY['shop_backend', 'shop_web', 'shop_report', 'shop_audit', 'shop_nobody', 'loginas_reader']) AS r(role)
 WHERE c.relnamespace = 'loginas'::regnamespace AND c.relkind = 'S'
   AND (has_sequence_privilege(r.role, c.oid, 'USAGE') OR has_sequence_privilege(r.role, c.oid, 'SELECT')
        OR has_sequence_privilege(r.role, c.oid, 'UPDATE'));
SELECT r.role, has_schema_privilege(r.role, 'loginas', 'USAGE') AS usage,
       has_schema_privilege(r.role, 'loginas', 'CREATE') AS "create"
  FROM unnest(ARRAY['shop_backend', 'shop_web', 'shop_report', 'shop_audit', 'shop_nobody', 'loginas_reader']) AS r(role);

-------------------------------------------------------------------------------
-- loginas_reader: granted to nobody, owns nothing (loginas._read_bound, in C,
-- switches to it for each read), and no test role can become it
-------------------------------------------------------------------------------
SELECT m.member::regrole AS member_of_loginas_reader
  FROM pg_auth_members m WHERE m.roleid = 'loginas_reader'::regrole;
SELECT p.oid::regprocedure AS owned_by_loginas_reader, p.prosecdef
  FROM pg_proc p WHERE p.proowner = 'loginas_reader'::regrole ORDER BY 1::text;
SELECT c.oid::regclass AS relation_owned_by_loginas_reader
  FROM pg_class c WHERE c.relowner = 'loginas_reader'::regrole;
SELECT r.role, pg_has_role(r.role, 'loginas_reader', 'MEMBER') AS member
  FROM unnest(ARRAY['shop_backend', 'shop_web', 'shop_report', 'shop_audit', 'shop_nobody',
                    'loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor']) AS r(role);
-- and no SECURITY DEFINER function in loginas is owned by anyone else but
-- the extension's owner
SELECT p.oid::regprocedure AS other_owner
  FROM pg_proc p
 WHERE p.pronamespace = 'loginas'::regnamespace AND p.prosecdef
   AND p.proowner NOT IN ((SELECT extowner FROM pg_extension WHERE extname = 'loginas'), 'loginas_reader'::regrole);

-------------------------------------------------------------------------------
-- No role can write the extension's tables directly
-------------------------------------------------------------------------------
SELECT c.oid::regclass AS relation, r.role, pr.priv
  FROM pg_class c
 CROSS JOIN unnest(ARRAY['shop_backend', 'shop_web', 'shop_report', 'shop_audit', 'shop_nobody',
                         'loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor',
                         'loginas_reader']) AS r(role)
 CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS pr(priv)
 WHERE c.relnamespace = 'loginas'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND has_table_privilege(r.role, c.oid, pr.priv);
-- and trying it, as each role
CREATE TEMP TABLE writes (n int, stmt text);
INSERT INTO writes VALUES
	(1, $$INSERT INTO loginas.consent (customer_id, allowed) VALUES (1, true)$$),
	(2, $$UPDATE loginas.consent SET allowed = true$$),
	(3, $$DELETE FROM loginas.consent$$),
	(4, $$INSERT INTO loginas.role_resource (role, resource) VALUES ('Support', 'login')$$),
	(5, $$UPDATE loginas.session SET expires_at = 'infinity'$$),
	(6, $$DELETE FROM loginas.session$$),
	(7, $$INSERT INTO loginas.setting (name, value) VALUES ('enabled', 'on')$$),
	(8, $$UPDATE loginas.binding SET relation = 'pg_class'$$),
	(9, $$INSERT INTO loginas.action_log (action, result) VALUES ('forged', 'success')$$),
	(10, $$UPDATE loginas.action_log SET result = 'failure'$$),
	(11, $$DELETE FROM loginas.action_log$$),
	(12, $$TRUNCATE loginas.action_log$$),
	(13, $$TRUNCATE loginas.session$$),
	(14, $$SELECT nextval('loginas.session_session_id_seq')$$),
	(15, $$DELETE FROM loginas.tracked$$),
	(16, $$DELETE FROM loginas.protected_column$$),
	(17, $$UPDATE loginas.resource SET label = 'x'$$),
	(18, $$DELETE FROM loginas.setting_definition$$),
	(19, $$DELETE FROM loginas.binding_column$$),
	(20, $$INSERT INTO loginas.setting (name, value) VALUES ('log_retention', '0')$$),
	(21, $$UPDATE loginas.log_checkpoint SET chain_seq = 0$$),
	(22, $$INSERT INTO loginas.shared_chain (name) VALUES ('forged')$$);
GRANT SELECT ON writes TO shop_backend, shop_web, shop_report, shop_audit, shop_nobody;
SET ROLE shop_backend;
SELECT n, stmt, pg_temp.try(stmt) AS outcome FROM writes ORDER BY n;
SET ROLE shop_web;
SELECT n, pg_temp.try(stmt) AS outcome FROM writes ORDER BY n;
SET ROLE shop_report;
SELECT n, pg_temp.try(stmt) AS outcome FROM writes ORDER BY n;
SET ROLE shop_audit;
SELECT n, pg_temp.try(stmt) AS outcome FROM writes ORDER BY n;
SET ROLE shop_nobody;
SELECT n, pg_temp.try(stmt) AS outcome FROM writes ORDER BY n;
RESET ROLE;
DROP TABLE writes;

-------------------------------------------------------------------------------
-- The storefront cannot begin, begin_from, grant, revoke, configure, bind,
-- unbind, end_admin, expire, nor read or change the log; nor change consent
-- on an admin's behalf
-------------------------------------------------------------------------------
SET ROLE shop_web;
SELECT stmt, pg_temp.try(stmt) AS outcome
  FROM (VALUES (1, $$SELECT * FROM loginas.begin(1, 1)$$),
               (2, $$SELECT * FROM loginas.begin_from(1, 'order', 100)$$),
               (3, $$SELECT loginas.grant('Support', 'login')$$),
               (4, $$SELECT loginas.revoke('Administrators', 'login')$$),
               (5, $$SELECT loginas.configure('enabled', 'on')$$),
               (6, $$SELECT loginas.bind('orders', NULL)$$),
               (7, $$SELECT loginas.unbind('orders')$$),
               (8, $$SELECT loginas.end_admin(1)$$),
               (9, $$SELECT loginas.expire()$$),
               (10, $$SELECT loginas.check(1, 1)$$),
               (11, $$SELECT * FROM loginas.store_choices(1, 1)$$),
               (12, $$SELECT loginas.permitted(1, 'login')$$),
               (13, $$SELECT count(*) FROM loginas.action_log$$),
               (14, $$UPDATE loginas.action_log SET reason = 'x'$$),
               (15, $$DELETE FROM loginas.action_log$$),
               (16, $$SELECT * FROM loginas.settings$$),
               (17, $$SELECT * FROM loginas.bindings$$),
               (18, $$SELECT * FROM loginas.permissions$$),
               (19, $$SELECT loginas.set_assistance(1, true, by_admin => 1)$$),
               (20, $$SELECT loginas.set_assistance_as_admin(1, true, NULL, 1)$$),
               (21, $$SELECT count(*) FROM loginas.tracked_tables$$)) v(n, stmt)
 ORDER BY n;
RESET ROLE;

-------------------------------------------------------------------------------
-- The admin backend cannot act as the storefront (redeem, assume, end), nor
-- make the customer's own choice, nor read the log, nor purge it or change
-- how long it is kept (the auditor's); tracking tables is the DBA's (it adds
-- columns and triggers to the shop's tables)
-------------------------------------------------------------------------------
SET ROLE shop_backend;
SELECT stmt, pg_temp.try(stmt) AS outcome
  FROM (VALUES (1, $$SELECT * FROM loginas.redeem('0')$$),
               (2, $$SELECT loginas.assume('0')$$),
               (3, $$SELECT loginas.end('0')$$),
               (4, $$SELECT loginas.set_assistance(1, true)$$),
               (5, $$SELECT loginas.set_assistance_as_customer(1, true)$$),
               (6, $$SELECT count(*) FROM loginas.action_log$$),
               (7, $$DELETE FROM loginas.action_log$$),
               (8, $$SELECT loginas.track('shop.sales_order', 'customer_id'::name)$$),
               (9, $$SELECT loginas.track('shop.invoice', 'shop.sales_order'::regclass)$$),
               (10, $$SELECT loginas.untrack('shop.sales_order')$$),
               (11, $$SELECT loginas.protect('shop.sales_order', 'customer_id')$$),
               (12, $$SELECT loginas.unprotect('shop.sales_order', 'customer_id')$$),
               (13, $$SELECT loginas.purge_log(clock_timestamp() - interval '1 millisecond')$$),
               (14, $$SELECT loginas.purge_log(now() - interval '10 years', by_admin => 1)$$),
               (15, $$SELECT loginas.set_log_retention('1 day')$$),
               (16, $$SELECT loginas.configure('log_retention', '1 day')$$),
               (17, $$SELECT loginas.configure('log_retention', '1 day', by_admin => 1)$$)) v(n, stmt)
 ORDER BY n;
RESET ROLE;

-- Nor can it read through loginas what it may not read itself: bound
-- relations are read as loginas_reader, and bind() refuses a relation
-- loginas_reader has not been granted (here passed by OID, which skips even
-- the schema lookup)
CREATE SCHEMA privtest;
CREATE TABLE privtest.secret_stores (store_id int, website_id int, name text, website_name text,
                                     is_active boolean, is_default boolean);
SELECT 'privtest.secret_stores'::regclass::oid AS secret_oid \gset
SET ROLE shop_backend;
SELECT pg_temp.try('SELECT count(*) FROM privtest.secret_stores') AS "select";
SELECT pg_temp.try(format('SELECT loginas.bind(''store_views'', %s::oid::regclass)', :secret_oid)) AS bind;
RESET ROLE;
GRANT USAGE ON SCHEMA privtest TO loginas_reader;
SET ROLE shop_backend;
SELECT pg_temp.try(format('SELECT loginas.bind(''store_views'', %s::oid::regclass)', :secret_oid)) AS bind;
RESET ROLE;
DROP SCHEMA privtest CASCADE;
SELECT kind, relation, status FROM loginas.bindings WHERE kind = 'store_views';

-------------------------------------------------------------------------------
-- Reporting reads the log and nothing else
-------------------------------------------------------------------------------
SET ROLE shop_report;
SELECT stmt, pg_temp.try(stmt) AS outcome
  FROM (VALUES (1, $$SELECT count(*) FROM loginas.action_log$$),
               (2, $$SELECT * FROM loginas.begin(1, 1)$$),
               (3, $$SELECT * FROM loginas.redeem('0')$$),
               (4, $$SELECT loginas.assume('0')$$),
               (5, $$SELECT loginas.configure('enabled', 'on')$$),
               (6, $$SELECT loginas.grant('Support', 'login')$$),
               (7, $$SELECT loginas.set_assistance(1, true)$$),
               (8, $$SELECT loginas.set_assistance(1, true, by_admin => 1)$$),
               (9, $$SELECT loginas.assistance_allowed(1)$$),
               (10, $$SELECT loginas.current_session()$$),
               (11, $$SELECT * FROM loginas.settings$$),
               (12, $$SELECT * FROM loginas.permissions$$),
               (13, $$UPDATE loginas.action_log SET reason = 'x'$$),
               (14, $$DELETE FROM loginas.action_log$$)) v(n, stmt)
 ORDER BY n;
RESET ROLE;

-------------------------------------------------------------------------------
-- The auditor purges the log, sets its retention, reads and verifies it, and
-- nothing else
-------------------------------------------------------------------------------
SET ROLE shop_audit;
SELECT stmt, pg_temp.try(stmt) AS outcome
  FROM (VALUES (1, $$SELECT count(*) >= 0 FROM loginas.action_log$$),
               (2, $$SELECT intact FROM loginas.verify_log()$$),
               (3, $$SELECT count(*) >= 0 FROM loginas.log_heads()$$),
               (4, $$SELECT loginas.purge_log(now() - interval '10 years')$$),
               (5, $$SELECT value FROM loginas.settings WHERE name = 'log_retention'$$),
               (6, $$SELECT * FROM loginas.begin(1, 1)$$),
               (7, $$SELECT loginas.configure('enabled', 'on')$$),
               (8, $$SELECT loginas.configure('log_retention', '1 day')$$),
               (9, $$SELECT loginas.grant('Support', 'login')$$),
               (10, $$SELECT loginas.assume('0')$$),
               (11, $$SELECT * FROM loginas.actions_report()$$),
               (12, $$SELECT * FROM loginas.sessions$$),
               (13, $$DELETE FROM loginas.action_log$$),
               (14, $$SELECT loginas._allow_purge(true)$$)) v(n, stmt)
 ORDER BY n;
RESET ROLE;

-------------------------------------------------------------------------------
-- A role without any of the four can use nothing, not even the schema
-------------------------------------------------------------------------------
SET ROLE shop_nobody;
SELECT stmt, pg_temp.try(stmt) AS outcome
  FROM (VALUES (1, $$SELECT loginas.current_session()$$),
               (2, $$SELECT loginas.banner()$$),
               (3, $$SELECT loginas.assistance_allowed(1)$$),
               (4, $$SELECT loginas.set_assistance(1, true)$$),
               (5, $$SELECT * FROM loginas.begin(1, 1)$$),
               (6, $$SELECT * FROM loginas.redeem('0')$$),
               (7, $$SELECT loginas.configure('enabled', 'on')$$),
               (8, $$SELECT count(*) FROM loginas.action_log$$),
               (9, $$SELECT * FROM loginas.settings$$)) v(n, stmt)
 ORDER BY n;
RESET ROLE;

-------------------------------------------------------------------------------
-- The internal functions are executable by none of the four roles (but the
-- row trigger function, PUBLIC's: no SQL can call it)
-------------------------------------------------------------------------------
SELECT p.oid::regprocedure AS internal_function, r.role
  FROM pg_proc p
 CROSS JOIN unnest(ARRAY['loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor']) AS r(role)
 WHERE p.pronamespace = 'loginas'::regnamespace AND p.proname LIKE '\_%'
   AND p.prorettype <> 'trigger'::regtype
   AND has_function_privilege(r.role, p.oid, 'EXECUTE');
CREATE TEMP TABLE internals (n int, stmt text);
INSERT INTO internals VALUES
	(1, $$SELECT loginas._context_set(1, 1, 1, 1, false, 'forged', NULL, NULL, NULL, NULL, NULL)$$),
	(2, $$SELECT loginas._context_clear_session(1)$$),
	(3, $$SELECT loginas._new_secret()$$),
	(4, $$SELECT loginas._raise('42501', 'forged', NULL, NULL)$$),
	(5, $$SELECT loginas._set_assistance(1, true, NULL, NULL)$$),
	(6, $$SELECT loginas._end_session(1, 'logout')$$),
	(7, $$SELECT loginas._log('forged', 'success', 1, 1)$$),
	(8, $$SELECT loginas._evaluate(1, 1)$$),
	(9, $$SELECT * FROM loginas._begin(1, 1, NULL, NULL, NULL, NULL, NULL, false, NULL)$$),
	(10, $$SELECT loginas._lookup('customers', 1)$$),
	(11, $$SELECT loginas._get_setting('enabled')$$),
	(12, $$SELECT loginas._hash('x')$$),
	(13, $$SELECT loginas._read_bound('SELECT NULL::jsonb', 1, 'pg_class')$$),
	(14, $$SELECT loginas._track_info('pg_class'::regclass)$$),
	(15, $$SELECT loginas._bind_hash('\x00')$$),
	(16, $$SELECT loginas._append_committed(now(), 'log_viewed', 'success', 1, 'forged', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'x', '{}')$$),
	(17, $$SELECT loginas._record_view('log_viewed', 'success', 1, NULL, '{}')$$),
	(18, $$SELECT loginas._check_viewer(1, 'actions_report', NULL, '{}')$$),
	(19, $$SELECT loginas._log_row_hash('\x00', 1, 1, 1, now(), 'g', 'a', 'success', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'x', '{}')$$);
GRANT SELECT ON internals TO shop_backend, shop_web, shop_report, shop_audit;
SET ROLE shop_backend;
SELECT n, stmt, pg_temp.try(stmt) AS outcome FROM internals ORDER BY n;
SET ROLE shop_web;
SELECT n, pg_temp.try(stmt) AS outcome FROM internals ORDER BY n;
SET ROLE shop_report;
SELECT n, pg_temp.try(stmt) AS outcome FROM internals ORDER BY n;
SET ROLE shop_audit;
SELECT n, pg_temp.try(stmt) AS outcome FROM internals ORDER BY n;
RESET ROLE;
DROP TABLE internals;
SELECT loginas.current_session() IS NULL AS no_context;

-------------------------------------------------------------------------------
-- No client can forge a context: the "loginas" GUC prefix is reserved, and
-- the context lives in C memory, not in a setting
-------------------------------------------------------------------------------
SELECT stmt, pg_temp.try(stmt) AS outcome
  FROM (VALUES (1, $$SET loginas.session = '1'$$),
               (2, $$SELECT set_config('loginas.admin', '1', false)$$),
               (3, $$SET LOCAL loginas.customer = '1'$$),
               (4, $$RESET loginas.session$$)) v(n, stmt)
 ORDER BY n;
SET loginas.session = '1';
\echo :LAST_ERROR_SQLSTATE
SET ROLE shop_web;
SELECT pg_temp.try($$SET loginas.session = '1'$$) AS "SET",
       pg_temp.try($$SELECT set_config('loginas.customer', '1', true)$$) AS set_config;
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(), loginas.banner();
RESET ROLE;
-- the only loginas.* setting is a limit only a superuser sets; who acts is never a setting
SELECT name, context FROM pg_settings WHERE name LIKE 'loginas.%';

-------------------------------------------------------------------------------
-- The whole flow through the three roles
-------------------------------------------------------------------------------
-- the admin backend: enable, bind, grant, and start from an order view
SET ROLE shop_backend;
SELECT loginas.configure('enabled', 'on', by_admin => 1);
SELECT loginas.unbind('orders', by_admin => 1);
SELECT loginas.bind('orders', 'shop.loginas_orders', by_admin => 1);
SELECT loginas.grant('Administrators', 'login', by_admin => 1);
SELECT loginas.grant('Administrators', 'manage_assistance', by_admin => 1);
SELECT loginas.grant('Support', 'view_log', by_admin => 1);
SELECT role, resource, granted_by_admin FROM loginas.permissions;
SELECT name, value, changed_by_admin FROM loginas.settings WHERE name = 'enabled';
SELECT kind, relation FROM loginas.bindings WHERE kind = 'orders';
-- an admin with manage_assistance ticks the box for John
SELECT loginas.set_assistance(2, true, by_admin => 1);
-- no button for Veronica yet: she has not allowed it
SELECT * FROM loginas.check(1, 1);
RESET ROLE;
-- the storefront: Veronica ticks "Allow remote shopping assistance"
SET ROLE shop_web;
SELECT loginas.set_assistance(1, true);
SELECT loginas.assistance_allowed(1);
RESET ROLE;
-- the admin backend sees the button and begins from order 000000100 (Veronica's)
SET ROLE shop_backend;
SELECT * FROM loginas.check(1, 1);
SELECT token AS t1, token ~ '^[0-9a-f]{64}$' AS token_ok FROM loginas.begin_from(1, 'order', 100) \gset
SELECT :'token_ok' AS token_ok;
RESET ROLE;
-- the storefront redeems and acts inside the session for one transaction
SET ROLE shop_web;
SELECT session_key AS k1, customer_id, store_id, banner, disable_page_cache
  FROM loginas.redeem(:'t1') \gset
SELECT :customer_id AS customer_id, :store_id AS store_id, :'banner' AS banner,
       :'disable_page_cache' AS disable_page_cache;
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT loginas.current_customer(), loginas.current_admin(), loginas.current_store(),
       loginas.current_read_only(), loginas.banner();
COMMIT;
SELECT loginas.current_session(), loginas.current_customer();
SELECT loginas."end"(:'k1');
RESET ROLE;
-- a second ticket, ended from the admin backend
SET ROLE shop_backend;
SELECT token AS t2 FROM loginas.begin(1, 2) \gset
SELECT loginas.end_admin(1);
SELECT loginas.expire();
RESET ROLE;
-- reporting reads what happened
SET ROLE shop_report;
SELECT action, result, admin_username, customer_email, source, details ->> 'end_reason' AS end_reason,
       details ->> 'by' AS by
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;
RESET ROLE;

-------------------------------------------------------------------------------
-- Clean up: settings, grants and consents as they were; bindings unchanged;
-- the test roles dropped
-------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
SELECT loginas.revoke('Administrators', 'manage_assistance');
SELECT loginas.revoke('Support', 'view_log');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT name, value FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT kind, relation FROM loginas.bindings ORDER BY kind;
REVOKE ALL ON shop.loginas_orders FROM shop_backend;
REVOKE ALL ON SCHEMA shop FROM shop_backend;
DROP OWNED BY shop_backend, shop_web, shop_report, shop_audit, shop_nobody;
DROP ROLE shop_backend, shop_web, shop_report, shop_audit, shop_nobody;
