-- loginas 1.2 -> 1.3
--
-- ALTER EXTENSION loginas UPDATE TO '1.3' runs this on a 1.2 install.  A
-- fresh CREATE EXTENSION loginas runs the complete script of 1.3, built by
-- the Makefile from src/sql/; test/t/030_upgrade.pl checks that both give
-- the same catalog.
--
-- What 1.3 changes: the data model of real shops.
--   * containment is judged on the final state of each row the session
--     touched, at commit (after every BEFORE trigger and generated column),
--     so an ORM may insert a row and link it later, or unlink it and then
--     delete it, in one transaction;
--   * keys are printed unambiguously.

\echo Use "ALTER EXTENSION loginas UPDATE TO '1.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Containment judged on the final state (src/containment.c): commit judges
-- every row a session touched; loginas.check_writes() judges them now.
-- ---------------------------------------------------------------------------
CREATE FUNCTION loginas.check_writes() RETURNS void
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_check_writes';

COMMENT ON FUNCTION loginas.check_writes()
	IS 'judge now, as commit will, that every row this transaction''s Login as Customer session wrote belongs to its customer';

REVOKE ALL ON FUNCTION loginas.check_writes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loginas.check_writes() TO loginas_storefront, loginas_admin;
