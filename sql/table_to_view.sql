-- table_to_view: a bound table its owner tries to turn into a view afterwards. PostgreSQL 15
--   still lets the owner of an empty table give it an ON SELECT rule, which makes it a view --
--   but not a table that has (or had) a trigger, and bind() put assume()'s cache trigger on it
--   (src/assume.c): the rule is refused, the table stays a table and nothing of the owner's runs
--   (expected/table_to_view.out; before 1.3's cache the conversion succeeded, and loginas read
--   the view as any bound view, as loginas_reader). PostgreSQL 16 and later refuse the rule
--   whatever the table has (expected/table_to_view_1.out).
--   Restores the admins binding of setup and leaves no grant behind.
\set VERBOSITY default
CREATE ROLE regress_loginas_ttv NOLOGIN;
CREATE SCHEMA ttv;
GRANT USAGE, CREATE ON SCHEMA ttv TO regress_loginas_ttv;
GRANT USAGE ON SCHEMA ttv TO loginas_reader;
-- a function the view calls: it says whose rights it runs with
CREATE FUNCTION ttv.whoami() RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'ttv.whoami() runs as %', current_user; RETURN true; END$$;
ALTER FUNCTION ttv.whoami() OWNER TO regress_loginas_ttv;
CREATE TABLE ttv.empty_admins (admin_id int, username text, display_name text, is_active boolean, role text);
ALTER TABLE ttv.empty_admins OWNER TO regress_loginas_ttv;
GRANT SELECT ON ttv.empty_admins TO loginas_reader;
SELECT loginas.bind('admins', 'ttv.empty_admins');
SELECT loginas.grant('Magento', 'view_log');
SELECT loginas.permitted(8, 'view_log') AS before_the_rule;
SET ROLE regress_loginas_ttv;
CREATE RULE "_RETURN" AS ON SELECT TO ttv.empty_admins DO INSTEAD
  SELECT 8 AS admin_id, 'mage'::text AS username, 'Mage Admin'::text AS display_name,
         ttv.whoami() AS is_active, 'Magento'::text AS role;
RESET ROLE;
SELECT relkind FROM pg_class WHERE oid = 'ttv.empty_admins'::regclass;
SELECT loginas.permitted(8, 'view_log') AS after_the_rule;

-- clean up
SELECT loginas.revoke('Magento', 'view_log');
SELECT loginas.bind('admins', 'shop.loginas_admins');
SET client_min_messages = warning;
DROP SCHEMA ttv CASCADE;
RESET client_min_messages;
DROP ROLE regress_loginas_ttv;
SELECT count(*) AS grants FROM loginas.permissions;
SELECT kind, relation, status FROM loginas.bindings WHERE kind = 'admins';
