-- docs/platforms/vendure-one-role.sql — OPTIONAL, after vendure.sql: one database role for
-- a Vendure that serves /shop-api and /admin-api from one process and one connection pool
-- (Vendure's default deployment), instead of the two pools of vendure.sql.
-- Explained in docs/platforms/vendure.md ("Database roles", "What a one-role setup loses");
-- run by `make test-platforms`, which drives Vendure as this role.
--
--   psql -v ON_ERROR_STOP=1 -d vendure -f docs/platforms/vendure.sql
--   psql -v ON_ERROR_STOP=1 -d vendure -f docs/platforms/vendure-one-role.sql
--
-- The role is a member of both loginas_admin and loginas_storefront: whoever runs SQL
-- through it can start a session as well as act in one (see the .md for what that costs).
-- loginas still checks every begin() (the admin's "login" resource, the customer's
-- consent) and still contains every session's writes; the serving role owns no table.
-- Passwords: ALTER ROLE ... PASSWORD '...' (not here).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vendure_app') THEN
		CREATE ROLE vendure_app LOGIN;
	END IF;
END
$$;
GRANT loginas_storefront TO vendure_app;
GRANT loginas_admin      TO vendure_app;
GRANT USAGE ON SCHEMA public TO vendure_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO vendure_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO vendure_app;
-- secrets stay out of the server log (docs/integration.md#secrets)
ALTER ROLE vendure_app SET log_parameter_max_length = 0;
