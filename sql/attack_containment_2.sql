-- attack_containment_2: attacks on containment and on stamps => 'table'
-- (loginas.row_stamp), after the first round was closed:
--   G  a temporary claim through a referrer way: the session points its own
--      shopper row at the shop admin's login row (no one's), writes that
--      row's children (deletes the admin's password row, G1, or moves it to
--      Veronica's login, G2), then points its row back -- refused at once:
--      a referrer's foreign key is pointed only at rows the session created,
--      checked at the write as well as at commit;
--   H  stamps => 'table': a shop BEFORE INSERT trigger that runs after
--      loginas' (zzz_...) changes the key of a session's insert (it
--      lower-cases a SKU) -- the row is judged at commit all the same (a row
--      of John's: refused);
--   I  stamps => 'table': TRUNCATE of a partition fires no loginas trigger
--      (the TRUNCATE trigger is on the partitioned table): the stamps of the
--      rows it removed stay, and a row inserted later outside any session
--      under the same key shows the session's stamps -- a known limit
--      (docs/guarantees.md), shown as it is;
--   J  stamps => 'table': a key swap outside sessions under a deferrable key
--      (UPDATE ... SET id = 3 - id): the stamps follow each row by its key's
--      text, and the session's change is attributed to no row -- a known
--      limit (docs/guarantees.md), shown as it is;
--   K  an insert of the session that never happened (a rolled-back
--      savepoint), loginas."end"(), then an insert under that key outside
--      the session: not attributed to the session.
-- Needs sql/setup.sql (admin 1 ada of Administrators; customers 1 Veronica,
-- 2 John).  Tables belong to atk2_owner, a non-superuser migration role.
\set VERBOSITY sqlstate

SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT token AS t FROM loginas.begin(1, 1, reason => 'attack review 2') \gset
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

CREATE ROLE atk2_owner;
CREATE SCHEMA atk2 AUTHORIZATION atk2_owner;
GRANT USAGE ON SCHEMA atk2 TO loginas_storefront;
SET ROLE atk2_owner;
-- Vendure: a login row (user) the customer row points to; its password rows
CREATE TABLE atk2.app_user (user_id int PRIMARY KEY, identifier text NOT NULL);
CREATE TABLE atk2.shopper (shopper_id int PRIMARY KEY, user_id int UNIQUE REFERENCES atk2.app_user, name text);
CREATE TABLE atk2.auth_method (method_id int PRIMARY KEY, user_id int NOT NULL REFERENCES atk2.app_user,
	password_hash text);
INSERT INTO atk2.app_user VALUES (1, 'veronica@example.com'), (2, 'john@example.com'), (9, 'admin@shop.example');
INSERT INTO atk2.shopper VALUES (1, 1, 'Veronica'), (2, 2, 'John');
INSERT INTO atk2.auth_method VALUES (11, 1, 'hash-v'), (12, 2, 'hash-j'), (19, 9, 'hash-admin');
-- a wish list keyed by SKU, which a shop trigger lower-cases (after loginas')
CREATE TABLE atk2.wish (sku text PRIMARY KEY, customer_id int, note text CHECK (note <> 'bad'));
INSERT INTO atk2.wish VALUES ('v-1', 1, 'veronica'), ('j-1', 2, 'john');
CREATE FUNCTION atk2.lower_sku() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.sku := lower(NEW.sku);
	RETURN NEW;
END
$$;
CREATE TRIGGER zzz_lower_sku BEFORE INSERT ON atk2.wish FOR EACH ROW EXECUTE FUNCTION atk2.lower_sku();
-- a partitioned cart; a table with a deferrable key
CREATE TABLE atk2.cart (cart_id int PRIMARY KEY, customer_id int, note text) PARTITION BY RANGE (cart_id);
CREATE TABLE atk2.cart_a PARTITION OF atk2.cart FOR VALUES FROM (0) TO (100);
CREATE TABLE atk2.cart_b PARTITION OF atk2.cart FOR VALUES FROM (100) TO (200);
INSERT INTO atk2.cart VALUES (1, 1, 'veronica'), (2, 2, 'john');
CREATE TABLE atk2.dk (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, customer_id int, note text);
INSERT INTO atk2.dk VALUES (1, 1, 'veronica a'), (2, 1, 'veronica b');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA atk2 TO loginas_storefront;
RESET ROLE;
SELECT loginas.track('atk2.shopper', 'shopper_id');
SELECT loginas.track_through('atk2.app_user', ARRAY['atk2.shopper'::regclass]);
SELECT loginas.track('atk2.auth_method', 'atk2.app_user'::regclass);
SELECT loginas.track('atk2.wish', 'customer_id', stamps => 'table');
SELECT loginas.track('atk2.cart', 'customer_id', stamps => 'table');
SELECT loginas.track('atk2.dk', 'customer_id', stamps => 'table');

------------------------------------------------------------------------------
-- G: a temporary claim of the admin's login through the referrer way
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
-- G1: the admin's password row deleted under the claim
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'UPDATE atk2.shopper SET user_id = 9 WHERE shopper_id = 1',
	'DELETE FROM atk2.auth_method WHERE method_id = 19',
	'UPDATE atk2.shopper SET user_id = 1 WHERE shopper_id = 1']);
COMMIT;
-- G2: the admin's password row moved to Veronica's login under the claim
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY[
	'UPDATE atk2.shopper SET user_id = 9 WHERE shopper_id = 1',
	'UPDATE atk2.auth_method SET user_id = 1 WHERE method_id = 19',
	'UPDATE atk2.shopper SET user_id = 1 WHERE shopper_id = 1']);
COMMIT;
RESET ROLE;
-- the admin's password row must be there, still the admin login's
SELECT method_id, user_id, password_hash FROM atk2.auth_method ORDER BY method_id;
SELECT shopper_id, user_id FROM atk2.shopper ORDER BY shopper_id;
DELETE FROM atk2.auth_method WHERE method_id = 19;
INSERT INTO atk2.auth_method VALUES (19, 9, 'hash-admin');

------------------------------------------------------------------------------
-- H: stamps => 'table', a key a later BEFORE trigger changes
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY['INSERT INTO atk2.wish VALUES (''J-2'', 2, ''planted for john'')']);
COMMIT;
RESET ROLE;
-- no row of John's written by the session
SELECT sku, customer_id, note FROM atk2.wish ORDER BY sku;
DELETE FROM atk2.wish WHERE sku = 'j-2';

------------------------------------------------------------------------------
-- I: stamps => 'table', TRUNCATE of a partition
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY['INSERT INTO atk2.cart VALUES (3, 1, ''by the session'')']);
COMMIT;
RESET ROLE;
SELECT key, created_session = :sid AS created_by_session FROM loginas.row_stamp
 WHERE relation = 'atk2.cart'::regclass ORDER BY key;
-- the migration role empties a partition; the storefront (no session)
-- inserts a row of John's under the same key
SET ROLE atk2_owner;
TRUNCATE atk2.cart_a;
RESET ROLE;
SET ROLE loginas_storefront;
INSERT INTO atk2.cart VALUES (3, 2, 'storefront row for john');
RESET ROLE;
-- the storefront's row must not be shown as created by the session
SELECT key, created_session = :sid AS created_by_session FROM loginas.row_stamp
 WHERE relation = 'atk2.cart'::regclass ORDER BY key;

------------------------------------------------------------------------------
-- J: stamps => 'table', a key swap outside sessions (deferrable key)
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.run(ARRAY['UPDATE atk2.dk SET note = ''changed by the session'' WHERE id = 1']);
COMMIT;
UPDATE atk2.dk SET id = 3 - id;
RESET ROLE;
-- the session's change stays with its row (now id 2), and only there
SELECT d.id, d.note, s.changed_session = :sid AS changed_by_session
  FROM atk2.dk d LEFT JOIN loginas.row_stamp s
    ON s.relation = 'atk2.dk'::regclass AND s.key = jsonb_build_array(d.id::text)::text
 ORDER BY d.id;

------------------------------------------------------------------------------
-- K (held): a pending insert that never happened, end(), an insert outside
-- (last: it ends the session)
------------------------------------------------------------------------------
SET ROLE loginas_storefront;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SAVEPOINT a;
INSERT INTO atk2.wish VALUES ('v-2', 1, 'bad');
ROLLBACK TO a;
SELECT loginas."end"(:'key') IS NOT NULL AS ended;
INSERT INTO atk2.wish VALUES ('v-2', 1, 'storefront after the end');
COMMIT;
RESET ROLE;
SELECT count(*) AS stamped FROM loginas.row_stamp
 WHERE relation = 'atk2.wish'::regclass AND key = '["v-2"]';
SELECT count(*) AS logged FROM loginas.action_log
 WHERE session_id = :sid AND action LIKE 'write\_%' AND details ->> 'table' = 'atk2.wish';

------------------------------------------------------------------------------
-- Back to the defaults for the next suite
------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP SCHEMA atk2 CASCADE;
RESET client_min_messages;
DROP ROLE atk2_owner;
SELECT count(*) AS stamps_left FROM loginas.row_stamp;
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
