-- test/platforms/medusa/standin.sql — a STAND-IN for loginas, for as long as loginas binds
-- integer ids only and Medusa's ids are text (cus_..., cart_...).  It is not loginas: it
-- refuses nothing on the shop's tables.  It records what the real extension relies on, so
-- that drive.js can prove the MikroORM hook covers every write of a Medusa call:
--   loginas.assume(key)  records txid_current() of the transaction it runs in (and whether
--                        any write preceded it in that transaction); refuses an ended or
--                        malformed key with 28000, as loginas does;
--   loginas.write_seen   one row per row written to any table of schema public (an AFTER ROW
--                        trigger on each), with the txid of the transaction that wrote it.
-- A write of a Medusa call is covered when its txid is one that ran assume().
-- Applied by medusa.sh as the superuser after Medusa's migrations; never mix with loginas.
\set ON_ERROR_STOP 1
CREATE SCHEMA loginas;
CREATE TABLE loginas.assumed (
    txid        bigint PRIMARY KEY,
    first_write boolean NOT NULL,         -- no write of this transaction preceded assume()
    key_sha256  bytea NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE loginas.ended_keys (key_sha256 bytea PRIMARY KEY);
CREATE TABLE loginas.write_seen (
    seq    bigserial PRIMARY KEY,
    txid   bigint NOT NULL,
    tbl    text NOT NULL,
    op     text NOT NULL,
    row_id text
);

CREATE FUNCTION loginas.assume(session_key text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    no_write_yet boolean := txid_current_if_assigned() IS NULL;
    h bytea;
BEGIN
    IF session_key IS NULL OR session_key !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'loginas (stand-in): not a session key' USING ERRCODE = '28000';
    END IF;
    h := sha256(convert_to(session_key, 'UTF8'));
    IF EXISTS (SELECT FROM loginas.ended_keys WHERE key_sha256 = h) THEN
        RAISE EXCEPTION 'loginas (stand-in): the session has ended' USING ERRCODE = '28000';
    END IF;
    INSERT INTO loginas.assumed (txid, first_write, key_sha256) VALUES (txid_current(), no_write_yet, h)
        ON CONFLICT (txid) DO NOTHING;
    RETURN 1;
END $$;

CREATE FUNCTION loginas.note_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO loginas.write_seen (txid, tbl, op, row_id)
    VALUES (txid_current(), TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD)->>'id' ELSE to_jsonb(NEW)->>'id' END);
    RETURN NULL;
END $$;

DO $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
        EXECUTE format('CREATE TRIGGER zz_loginas_standin AFTER INSERT OR UPDATE OR DELETE ON %s
                        FOR EACH ROW EXECUTE FUNCTION loginas.note_write()', t);
    END LOOP;
END $$;
GRANT USAGE ON SCHEMA loginas TO PUBLIC;
