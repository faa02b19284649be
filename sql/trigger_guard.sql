-- trigger_guard: loginas' triggers on a tracked table stay as loginas.track()
-- made them.  The table's owner (not trusted) cannot disable them (by name,
-- USER, ALL, or as REPLICA triggers), replace them (CREATE OR REPLACE
-- TRIGGER), rename them or drop them: each is refused (42501) and changes
-- nothing; the owner's own triggers and columns stay the owner's to change.
-- A superuser may (and loginas.untrack() does).
\set VERBOSITY default
SET client_min_messages = warning;
CREATE ROLE regress_tg_owner;
CREATE SCHEMA tg;
GRANT USAGE, CREATE ON SCHEMA tg TO regress_tg_owner;
CREATE TABLE tg.basket (basket_id int PRIMARY KEY, customer_id int NOT NULL, qty int);
ALTER TABLE tg.basket OWNER TO regress_tg_owner;
RESET client_min_messages;
SELECT loginas.track('tg.basket', 'customer_id');

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
-- the owner's own triggers and columns: the owner's
CREATE TRIGGER shop_touch BEFORE UPDATE ON tg.basket FOR EACH ROW EXECUTE FUNCTION tg.noop();
ALTER TABLE tg.basket DISABLE TRIGGER shop_touch;
ALTER TABLE tg.basket ENABLE TRIGGER shop_touch;
ALTER TRIGGER shop_touch ON tg.basket RENAME TO shop_touch_2;
DROP TRIGGER shop_touch_2 ON tg.basket;
ALTER TABLE tg.basket ADD COLUMN note text;
CREATE TABLE tg.other (id int PRIMARY KEY);
ALTER TABLE tg.other DISABLE TRIGGER ALL;
RESET ROLE;
-- all five as track() made them, enabled ALWAYS
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'tg.basket'::regclass AND NOT tgisinternal ORDER BY 1;

-- a superuser may
ALTER TABLE tg.basket DISABLE TRIGGER zz_loginas_track_update;
ALTER TABLE tg.basket ENABLE ALWAYS TRIGGER zz_loginas_track_update;
SELECT loginas.untrack('tg.basket');
SELECT count(*) AS loginas_triggers FROM pg_trigger WHERE tgrelid = 'tg.basket'::regclass AND tgname LIKE 'zz\_loginas\_%';

SET client_min_messages = warning;
DROP SCHEMA tg CASCADE;
DROP ROLE regress_tg_owner;
RESET client_min_messages;
