-- attack_containment: attacks on containment at commit, track_through() and
-- the bindings with several rows; each is refused (42501), or survived:
--   A  a referrer way claiming a row of no one: a session points its own
--      customer row at the shop admin's login row (Vendure shape: user is
--      reached through customer.userId), then rewrites that login's
--      identifier and password hash -- a session may point such a foreign
--      key only at a row it created;
--   B  a referrer way claiming another customer's row: a session points its
--      own order's billing_address_id at John's address, which John's order
--      references as its shipping address (Medusa shape: two referrer ways)
--      -- the same rule; and ways that disagree make a row no one's;
--   C  a deferrable primary key: a session moves its own row onto John's key
--      and then writes John's row under it -- a row version older than the
--      transaction is judged at its first touch, whatever the session wrote
--      under its key before;
--   D  keys that print alike under the session's settings (with
--      extra_float_digits = -15, 0.1 and 0.14) -- rows are told apart by
--      their stored values, and keys printed with pinned settings;
--   E  an insert whose AFTER INSERT trigger runs after loginas."end"() in the
--      same statement (a writable CTE) -- still judged and logged as the
--      session's;
--   F  one admin whose binding rows disagree -- loginas.expire() warns about
--      that session and goes on ending the others.
-- Each attack runs as the storefront, in one statement (pg_temp.run) that
-- ends with loginas.check_writes(), so that it is refused there wherever it
-- is refused (at the first touch or at the judgement), and the COMMIT after
-- it then rolls back.  The tables belong to atk_owner, a non-superuser
-- migration role.  Needs sql/setup.sql (admin 1 ada of Administrators,
-- admin 4 max of Marketing; customers 1 Veronica, 2 John).
\set VERBOSITY sqlstate

SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT token AS t FROM loginas.begin(1, 1, reason => 'attack review') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset

-- the attacks' statements, then the judgement of commit; 'written' when
-- nothing was refused
CREATE FUNCTION pg_temp.run(steps text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	FOREACH s IN ARRAY steps LOOP
		EXECUTE s;
	END LOOP;
	PERFORM loginas.check_writes();
	RETURN 'written';
END
$$;

CREATE ROLE atk_owner;
CREATE SCHEMA atk AUTHORIZATION atk_owner;
GRANT USAGE ON SCHEMA atk TO loginas_storefront;
SET ROLE atk_owner;
-- Vendure: a login row (user) the customer row points to; its password rows
CREATE TABLE atk.app_user (user_id int PRIMARY KEY, identifier text NOT NULL);
CREATE TABLE atk.shopper (shopper_id int PRIMARY KEY, user_id int UNIQUE REFERENCES atk.app_user, name text);
CREATE TABLE atk.auth_method (method_id int PRIMARY KEY, user_id int NOT NULL REFERENCES atk.app_user,
	password_hash text);
INSERT INTO atk.app_user VALUES (1, 'veronica@example.com'), (2, 'john@example.com'), (9, 'admin@shop.example');
INSERT INTO atk.shopper VALUES (1, 1, 'Veronica'), (2, 2, 'John');
INSERT INTO atk.auth_method VALUES (11, 1, 'hash-v'), (12, 2, 'hash-j'), (19, 9, 'hash-admin');
-- Medusa: addresses an order points to twice
CREATE TABLE atk.order_address (address_id int PRIMARY KEY, city text);
CREATE TABLE atk.orders (order_id int PRIMARY KEY, customer_id int,
	shipping_address_id int REFERENCES atk.order_address,
	billing_address_id int REFERENCES atk.order_address);
INSERT INTO atk.order_address VALUES (51, 'Austin'), (63, 'Chicago');
INSERT INTO atk.orders VALUES (10, 1, 51, 51), (21, 2, 63, NULL);
-- a deferrable primary key; a float key
CREATE TABLE atk.dtab (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, customer_id int, note text);
INSERT INTO atk.dtab VALUES (1, 1, 'veronica'), (2, 2, 'john');
CREATE TABLE atk.ftab (id float8 PRIMARY KEY, customer_id int, note text);
INSERT INTO atk.ftab VALUES (0.1, 1, 'veronica'), (0.14, 2, 'john');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA atk TO loginas_storefront;
RESET ROLE;
SELECT loginas.track('atk.shopper', 'shopper_id');
SELECT loginas.track_through('atk.app_user', ARRAY['atk.shopper'::regclass]);
SELECT loginas.track('atk.auth_method', 'atk.app_user'::regclass);
SELECT loginas.track('atk.orders', 'customer_id');
SELECT loginas.track_through('atk.order_address', ARRAY['atk.orders'::regclass]);
SELECT loginas.track('atk.dtab', 'customer_id');
SELECT loginas.track('atk.ftab', 'customer_id');
SELECT relation, position, via, direction, columns, via_columns FROM loginas.tracked_paths
 WHERE relation::text LIKE 'atk.%' ORDER BY 1, 2;

------------------------------------------------------------------------------
-- A: the admin's login claimed through a referrer way
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
-- baseline: the admin's password row is no one's, refused at once
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE atk.auth_method SET password_hash = 'x' WHERE method_id = 19;
ROLLBACK;
-- the attack: Veronica's own shopper row now points to the admin's user row
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'UPDATE atk.shopper SET user_id = 9 WHERE shopper_id = 1',
	'UPDATE atk.app_user SET identifier = ''attacker@evil.example'' WHERE user_id = 9',
	'UPDATE atk.auth_method SET password_hash = ''attacker-known-hash'' WHERE method_id = 19']);
COMMIT;
RESET ROLE;
-- the shop admin's login must be unchanged
SELECT user_id, identifier FROM atk.app_user WHERE user_id = 9;
SELECT method_id, password_hash FROM atk.auth_method WHERE method_id = 19;
UPDATE atk.shopper SET user_id = 1 WHERE shopper_id = 1;

------------------------------------------------------------------------------
-- B: John's shipping address claimed through the first (billing) way
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
-- baseline: John's address, refused at once
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE atk.order_address SET city = 'x' WHERE address_id = 63;
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'UPDATE atk.orders SET billing_address_id = 63 WHERE order_id = 10',
	'UPDATE atk.order_address SET city = ''hijacked'' WHERE address_id = 63']);
COMMIT;
RESET ROLE;
SELECT address_id, city FROM atk.order_address WHERE address_id = 63;
UPDATE atk.orders SET billing_address_id = 51 WHERE order_id = 10;

------------------------------------------------------------------------------
-- C: a deferrable key: Veronica's row moved onto John's key; John's row
-- taken over (or deleted), Veronica's moved away again
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'UPDATE atk.dtab SET id = 2 WHERE id = 1',
	'UPDATE atk.dtab SET customer_id = 1, note = ''stolen'' WHERE id = 2 AND customer_id = 2',
	'UPDATE atk.dtab SET id = 3 WHERE id = 2 AND note = ''veronica''']);
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'UPDATE atk.dtab SET id = 2 WHERE id = 1',
	'DELETE FROM atk.dtab WHERE id = 2 AND customer_id = 2',
	'UPDATE atk.dtab SET id = 1 WHERE id = 2']);
COMMIT;
RESET ROLE;
-- John's row 2 must still be John's
SELECT id, customer_id, note FROM atk.dtab ORDER BY id;

------------------------------------------------------------------------------
-- D: keys told apart by their text under the session's extra_float_digits
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'SELECT pg_catalog.set_config(''extra_float_digits'', ''-15'', true)',
	'UPDATE atk.ftab SET note = ''touched'' WHERE customer_id = 1',
	'UPDATE atk.ftab SET customer_id = 1, note = ''stolen'' WHERE customer_id = 2']);
COMMIT;
RESET ROLE;
-- John's row 0.14 must still be John's
SELECT id, customer_id, note FROM atk.ftab ORDER BY id;

------------------------------------------------------------------------------
-- E: an insert registered by no one: the session ends in the same statement
-- (last: it ends the session)
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[pg_catalog.format(
	'WITH ins AS (INSERT INTO atk.orders (order_id, customer_id) VALUES (99, 2) RETURNING order_id)'
	' SELECT loginas."end"(%L) FROM ins', :'key')]);
COMMIT;
RESET ROLE;
-- no row of John's written by the session; every row stamped with it logged
SELECT order_id, customer_id, loginas_created_session = :sid AS stamped FROM atk.orders WHERE order_id = 99;
SELECT count(*) AS logged FROM loginas.action_log
 WHERE session_id = :sid AND action LIKE 'write\_%' AND details ->> 'table' = 'atk.orders'
   AND details -> 'keys' @> '[["99"]]';
SELECT loginas."end"(:'key') IS NOT NULL AS ended;

------------------------------------------------------------------------------
-- F: one admin's disagreeing binding rows stop expire() for everyone
------------------------------------------------------------------------------
SELECT loginas.grant('Marketing', 'login');
SELECT session_key AS key, session_id AS sid FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1, reason => 'live'))) \gset
SELECT token IS NOT NULL AS begun FROM loginas.begin(4, 1, reason => 'to expire');
SELECT max(session_id) AS sid2 FROM loginas.session WHERE admin_id = 4 \gset
UPDATE loginas.session SET ticket_expires_at = now() - interval '1 hour' WHERE session_id = :sid2;
-- the owner of the bound admins view gives ada a second row with another username
CREATE OR REPLACE VIEW shop.loginas_admins AS
	SELECT admin_id, username, firstname || ' ' || lastname AS display_name, is_active, role FROM shop.admin
	UNION ALL SELECT 1, 'ada2'::varchar(40), 'Ada Two', true, 'Administrators';
SELECT loginas.expire() >= 1 AS ended_some;
-- max's ticket is past its time: ended
SELECT ended_at IS NOT NULL AS expired_ticket_ended FROM loginas.session WHERE session_id = :sid2;
CREATE OR REPLACE VIEW shop.loginas_admins AS
	SELECT admin_id, username, firstname || ' ' || lastname AS display_name, is_active, role FROM shop.admin;

------------------------------------------------------------------------------
-- Back to the defaults for the next suite
------------------------------------------------------------------------------
SELECT loginas.expire() >= 0 AS expired;
SET client_min_messages = warning;
DROP SCHEMA atk CASCADE;
RESET client_min_messages;
DROP ROLE atk_owner;
SELECT loginas."end"(:'key') IS NOT NULL AS ended;
SELECT loginas.end_admin(4) IS NOT NULL AS ended;
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
SELECT loginas.revoke('Marketing', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
