-- trigger_guard: loginas' triggers on a tracked table stay as loginas.track()
-- made them.  The table's owner (not trusted) cannot disable them (by name,
-- USER, ALL, or as REPLICA triggers), replace them (CREATE OR REPLACE
-- TRIGGER), rename them, drop them, tie them to an extension (to drop them
-- with it) or detach a tracked partition (which takes them off it): each is
-- refused (42501) and changes nothing; the owner's own triggers and columns
-- stay the owner's to change.
-- A superuser may (and loginas.untrack() does).
\set VERBOSITY default
SET client_min_messages = warning;
CREATE ROLE regress_tg_owner;
CREATE SCHEMA tg;
GRANT USAGE, CREATE ON SCHEMA tg TO regress_tg_owner;
CREATE TABLE tg.basket (basket_id int PRIMARY KEY, customer_id int NOT NULL, qty int);
ALTER TABLE tg.basket OWNER TO regress_tg_owner;
CREATE TABLE tg.cart (cart_id int, customer_id int NOT NULL, PRIMARY KEY (cart_id, customer_id))
	PARTITION BY LIST (customer_id);
CREATE TABLE tg.cart_a PARTITION OF tg.cart FOR VALUES IN (1);
ALTER TABLE tg.cart OWNER TO regress_tg_owner;
ALTER TABLE tg.cart_a OWNER TO regress_tg_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_tg_owner', current_database()); END $$;
RESET client_min_messages;
SELECT loginas.track('tg.basket', 'customer_id');
SELECT loginas.track('tg.cart', 'customer_id');

SET ROLE regress_tg_owner;
CREATE FUNCTION tg.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
ALTER TABLE tg.basket DISABLE TRIGGER zz_loginas_track_update;
ALTER TABLE tg.basket DISABLE TRIGGER USER;
ALTER TABLE tg.basket DISABLE TRIGGER ALL;
ALTER TABLE tg.basket ENABLE REPLICA TRIGGER zz_loginas_log_insert;
ALTER TABLE tg.basket ENABLE TRIGGER zz_loginas_track_insert;
ALTER TRIGGER zz_loginas_track_delete ON tg.basket RENAME TO shop_delete;
CREATE OR REPLACE TRIGGER zz_loginas_track_update BEFORE UPDATE ON tg.basket
	FOR EACH ROW EXECUTE FUNCTION tg.noop();
DROP TRIGGER zz_loginas_track_truncate ON tg.basket;
-- tied to an extension of the owner's, it would go with DROP EXTENSION
CREATE EXTENSION tsm_system_rows SCHEMA tg;
ALTER TRIGGER zz_loginas_track_update ON tg.basket DEPENDS ON EXTENSION tsm_system_rows;
DROP EXTENSION tsm_system_rows;
-- a partition detached from a tracked table loses the triggers it had from it
ALTER TABLE tg.cart DETACH PARTITION tg.cart_a;
-- the owner's own triggers and columns: the owner's
CREATE TRIGGER shop_touch BEFORE UPDATE ON tg.basket FOR EACH ROW EXECUTE FUNCTION tg.noop();
ALTER TABLE tg.basket DISABLE TRIGGER shop_touch;
ALTER TABLE tg.basket ENABLE TRIGGER shop_touch;
ALTER TRIGGER shop_touch ON tg.basket RENAME TO shop_touch_2;
DROP TRIGGER shop_touch_2 ON tg.basket;
ALTER TABLE tg.basket ADD COLUMN note text;
CREATE TABLE tg.other (id int PRIMARY KEY);
ALTER TABLE tg.other DISABLE TRIGGER ALL;
CREATE TABLE tg.log (id int, day int) PARTITION BY LIST (day);
CREATE TABLE tg.log_1 PARTITION OF tg.log FOR VALUES IN (1);
ALTER TABLE tg.log DETACH PARTITION tg.log_1;
RESET ROLE;
-- all five as track() made them, enabled ALWAYS, on the table and on the partition
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'tg.basket'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT count(*) AS partition_triggers FROM pg_trigger WHERE tgrelid = 'tg.cart_a'::regclass AND tgenabled = 'A'
   AND tgname LIKE 'zz\_loginas\_%';
SELECT count(*) AS extension_dependencies FROM pg_depend WHERE classid = 'pg_trigger'::regclass AND deptype = 'x';

-- The owner may add partitions to a tracked table (PostgreSQL copies the
-- parent's row triggers into them, which needs the owner's right to execute
-- loginas._track_row()); a session's writes there are stamped and logged.
SET ROLE regress_tg_owner;
CREATE TABLE tg.cart_b PARTITION OF tg.cart FOR VALUES IN (2);
CREATE TABLE tg.cart_c (LIKE tg.cart);
ALTER TABLE tg.cart ATTACH PARTITION tg.cart_c FOR VALUES IN (3);
RESET ROLE;
SELECT tgrelid::regclass AS partition, tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('tg.cart_b'::regclass, 'tg.cart_c'::regclass) ORDER BY 1, 2;
-- With USAGE on schema loginas (as a role of the storefront has), its own
-- trigger calling loginas' trigger function is refused (42501), on a tracked
-- table or on its own, under any name; SQL cannot call it.
GRANT loginas_storefront TO regress_tg_owner;
SET ROLE regress_tg_owner;
CREATE TRIGGER shop_copy BEFORE INSERT ON tg.basket FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
CREATE TRIGGER zz_loginas_track_insert BEFORE INSERT ON tg.other FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
CREATE TRIGGER zz_loginas_log_insert AFTER INSERT ON tg.other FOR EACH ROW WHEN (loginas.in_session())
	EXECUTE FUNCTION loginas._track_row();
CREATE OR REPLACE TRIGGER zz_loginas_track_update BEFORE UPDATE ON tg.basket
	FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
SELECT loginas._track_row();
-- nor inside CREATE SCHEMA (the partition alone may be made there)
CREATE SCHEMA tg_ev
	CREATE TABLE cart_d PARTITION OF tg.cart FOR VALUES IN (4)
	CREATE TRIGGER a_extra BEFORE UPDATE ON cart_d FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
CREATE SCHEMA tg_ev CREATE TABLE cart_d PARTITION OF tg.cart FOR VALUES IN (4);
RESET ROLE;
-- nor with session_replication_role = replica (a role granted SET on it):
-- loginas' event triggers fire ALWAYS
GRANT SET ON PARAMETER session_replication_role TO regress_tg_owner;
SET ROLE regress_tg_owner;
SET session_replication_role = replica;
ALTER TABLE tg.basket DISABLE TRIGGER zz_loginas_track_update;
DROP TRIGGER zz_loginas_track_delete ON tg.basket;
ALTER TABLE tg.cart DETACH PARTITION tg.cart_a;
CREATE TRIGGER shop_copy BEFORE INSERT ON tg.basket FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
RESET session_replication_role;
RESET ROLE;
REVOKE SET ON PARAMETER session_replication_role FROM regress_tg_owner;
REVOKE loginas_storefront FROM regress_tg_owner;
SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname LIKE 'loginas\_%' ORDER BY 1;
-- and whatever escaped them, loginas' trigger function runs only as the
-- triggers track() made: a superuser's own trigger calling it, or one of
-- them enabled as a REPLICA trigger, refuses the write (39P01)
CREATE TRIGGER shop_extra BEFORE UPDATE ON tg.basket FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
INSERT INTO tg.basket VALUES (77, 1, 1);
UPDATE tg.basket SET qty = 2 WHERE basket_id = 77;
DROP TRIGGER shop_extra ON tg.basket;
ALTER TABLE tg.basket ENABLE REPLICA TRIGGER zz_loginas_track_update;
SET session_replication_role = replica;
UPDATE tg.basket SET qty = 3 WHERE basket_id = 77;
RESET session_replication_role;
ALTER TABLE tg.basket ENABLE ALWAYS TRIGGER zz_loginas_track_update;
UPDATE tg.basket SET qty = 4 WHERE basket_id = 77;
SELECT basket_id, qty FROM tg.basket WHERE basket_id = 77;
SELECT tgrelid::regclass AS "table", tgname FROM pg_trigger
 WHERE tgrelid IN ('tg.basket'::regclass, 'tg.other'::regclass) AND NOT tgisinternal ORDER BY 1, 2;
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(2, true);
SELECT setval('loginas.session_session_id_seq', 9700);
SELECT token AS t FROM loginas.begin(1, 2, reason => 'new partitions') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO tg.cart VALUES (10, 2);
COMMIT;
SELECT cart_id, customer_id, loginas_created_session = :sid AS stamped FROM tg.cart_b;
SELECT details->>'table' AS "table", details->'keys' AS keys FROM loginas.action_log
 WHERE session_id = :sid AND action = 'write_insert';
-- the customer's row cannot go to the attached partition of customer 3 (refused at commit)
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE tg.cart SET customer_id = 3 WHERE cart_id = 10;
COMMIT;
SELECT count(*) AS moved FROM tg.cart_c;
-- The owner's trigger that sorts after loginas' may cancel an update loginas
-- saw; a delete of that row in the same command (a writable CTE) looks like
-- a partition move's delete half, but no row moved: it is logged as the
-- delete it is.  So is one followed by an insert of the same key.
SET ROLE regress_tg_owner;
CREATE FUNCTION tg.skip_negative() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.cart_id < 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER zzz_skip BEFORE UPDATE ON tg.cart_b FOR EACH ROW EXECUTE FUNCTION tg.skip_negative();
RESET ROLE;
INSERT INTO tg.cart VALUES (11, 2), (12, 2);
SELECT max(log_id) AS log_before FROM loginas.action_log \gset
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
WITH u AS (UPDATE tg.cart SET cart_id = -11 WHERE cart_id = 11 RETURNING 1)
DELETE FROM tg.cart WHERE cart_id = 11 AND (SELECT count(*) FROM u) >= 0;
WITH u AS (UPDATE tg.cart SET cart_id = -12 WHERE cart_id = 12 RETURNING 1),
	 d AS (DELETE FROM tg.cart WHERE cart_id = 12 AND (SELECT count(*) FROM u) >= 0 RETURNING cart_id, customer_id)
INSERT INTO tg.cart SELECT cart_id, customer_id FROM d;
COMMIT;
SELECT action, details -> 'keys' AS keys FROM loginas.action_log
 WHERE log_id > :log_before AND session_id = :sid ORDER BY log_id;
SELECT cart_id, customer_id, loginas_created_session = :sid AS stamped FROM tg.cart_b ORDER BY 1;
SELECT intact FROM loginas.verify_log();
-- The same inside a released savepoint, and with the owner's BEFORE DELETE
-- trigger (sorting after loginas') writing a history row into a tracked
-- table between the delete's trigger and the delete itself: logged.
SET ROLE regress_tg_owner;
CREATE FUNCTION tg.history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO tg.basket VALUES (1000 + OLD.cart_id, OLD.customer_id, 0); RETURN OLD; END $$;
CREATE TRIGGER zzz_history BEFORE DELETE ON tg.cart_b FOR EACH ROW EXECUTE FUNCTION tg.history();
RESET ROLE;
INSERT INTO tg.cart VALUES (13, 2), (14, 2);
SELECT max(log_id) AS log_before FROM loginas.action_log \gset
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SAVEPOINT s;
WITH u AS (UPDATE tg.cart SET cart_id = -13 WHERE cart_id = 13 RETURNING 1)
DELETE FROM tg.cart WHERE cart_id = 13 AND (SELECT count(*) FROM u) >= 0;
RELEASE s;
WITH u AS (UPDATE tg.cart SET cart_id = -14 WHERE cart_id = 14 RETURNING 1)
DELETE FROM tg.cart WHERE cart_id = 14 AND (SELECT count(*) FROM u) >= 0;
COMMIT;
SELECT details ->> 'table' AS "table", action, details -> 'keys' AS keys FROM loginas.action_log
 WHERE log_id > :log_before AND session_id = :sid ORDER BY log_id;
-- a row really moved is logged as the update it is, its creation stamp kept,
-- whatever SQL the owner's triggers run on the way (an audit row from a
-- BEFORE DELETE trigger that sorts before loginas'); a move whose insert
-- the destination's trigger cancels is logged as the delete it became
SET ROLE regress_tg_owner;
CREATE TABLE tg.ord (id int, status text, customer_id int NOT NULL, PRIMARY KEY (id, status)) PARTITION BY LIST (status);
CREATE TABLE tg.ord_new PARTITION OF tg.ord FOR VALUES IN ('new');
CREATE TABLE tg.ord_done PARTITION OF tg.ord FOR VALUES IN ('done');
CREATE TABLE tg.ord_gone PARTITION OF tg.ord FOR VALUES IN ('gone');
CREATE TABLE tg.audit (what text);
CREATE FUNCTION tg.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO tg.audit VALUES (TG_OP || ' ' || OLD.id); RETURN OLD; END $$;
CREATE TRIGGER a_audit BEFORE DELETE ON tg.ord_new FOR EACH ROW EXECUTE FUNCTION tg.audit();
CREATE FUNCTION tg.discard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER a_discard BEFORE INSERT ON tg.ord_gone FOR EACH ROW EXECUTE FUNCTION tg.discard();
RESET ROLE;
SELECT loginas.track('tg.ord', 'customer_id');
INSERT INTO tg.ord VALUES (1, 'new', 2), (2, 'new', 2);
SELECT max(log_id) AS log_before FROM loginas.action_log \gset
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE tg.ord SET status = 'done' WHERE id = 1;
UPDATE tg.ord SET status = 'gone' WHERE id = 2;
COMMIT;
SELECT details ->> 'table' AS "table", action, details -> 'keys' AS keys FROM loginas.action_log
 WHERE log_id > :log_before AND session_id = :sid ORDER BY log_id;
SELECT id, status, loginas_created_session IS NULL AS created_outside_sessions FROM tg.ord ORDER BY id;
SELECT what FROM tg.audit ORDER BY 1;
SELECT intact FROM loginas.verify_log();
SELECT loginas.untrack('tg.ord');
SELECT loginas.end(:'key');
SELECT loginas.revoke('Administrators', 'login'), loginas.set_assistance(2, false) IS NOT NULL AS consent_off;

-- a superuser may
ALTER TABLE tg.basket DISABLE TRIGGER zz_loginas_track_update;
ALTER TABLE tg.basket ENABLE ALWAYS TRIGGER zz_loginas_track_update;
SELECT loginas.untrack('tg.basket'), loginas.untrack('tg.cart');
SELECT count(*) AS loginas_triggers FROM pg_trigger WHERE tgrelid = 'tg.basket'::regclass AND tgname LIKE 'zz\_loginas\_%';

SET client_min_messages = warning;
DROP SCHEMA tg_ev CASCADE;
DROP SCHEMA tg CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM regress_tg_owner', current_database()); END $$;
DROP ROLE regress_tg_owner;
RESET client_min_messages;
