-- log: the action log is append-only and tamper-evident (issue 4).
--   * its shape; every row linked into a per-backend SHA-256 chain
--   * UPDATE / DELETE / TRUNCATE refused for everyone, the owner included,
--     also with session_replication_role = replica
--   * rolled-back appends (transactions, savepoints, exception blocks) never
--     break a chain
--   * verify_log() finds an edited, a deleted (middle and first) and an
--     inserted row -- made by a superuser with the triggers disabled, each in a
--     transaction that is rolled back
--   * purge_log() removes old rows, keeps every chain verifiable, logs itself
--   * client addresses given to begin/redeem land on the session's rows
\set VERBOSITY default
SELECT max(log_id) AS l0 FROM loginas.action_log \gset
SELECT max(chain_id) AS c0 FROM loginas.log_chain \gset

-- the chain columns
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'loginas.action_log'::regclass AND attname IN ('chain_id', 'chain_seq', 'prev_hash', 'row_hash')
 ORDER BY attnum;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'loginas.action_log'::regclass ORDER BY 1;

-- a few appends from this backend: one chain, consecutive places
SELECT loginas.configure('require_reason', 'on');
SELECT loginas.configure('require_reason', 'off');
SELECT loginas.grant('Support', 'view_log');
SELECT loginas.revoke('Support', 'view_log');
SELECT count(DISTINCT chain_id) AS chains, max(chain_seq) - min(chain_seq) + 1 = count(*) AS consecutive,
       bool_and(length(row_hash) = 32 AND length(prev_hash) = 32) AS sha256
  FROM loginas.action_log WHERE log_id > :l0;
-- the first row of a new chain follows 32 zero bytes; each row follows the one before
SELECT chain_seq = 1 AND prev_hash = decode(repeat('00', 32), 'hex') AS starts_from_zero
  FROM loginas.action_log WHERE chain_id = (SELECT max(chain_id) FROM loginas.log_chain) ORDER BY chain_seq LIMIT 1;
SELECT bool_and(prev_hash = lag) AS linked
  FROM (SELECT prev_hash, lag(row_hash) OVER (PARTITION BY chain_id ORDER BY chain_seq)
          FROM loginas.action_log WHERE log_id > :l0) x WHERE lag IS NOT NULL;
SELECT * FROM loginas.verify_log();

-- append-only, for the owner (a superuser) too
UPDATE loginas.action_log SET reason = 'edited' WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);
DELETE FROM loginas.action_log WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);
TRUNCATE loginas.action_log;
SET session_replication_role = replica;
DELETE FROM loginas.action_log WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);
RESET session_replication_role;
-- and the loginas roles have no such privilege at all
SET ROLE loginas_reporting;
UPDATE loginas.action_log SET reason = 'edited';
DELETE FROM loginas.action_log;
RESET ROLE;

-- appends that roll back leave no gap: the chain head goes back with them
BEGIN;
SELECT loginas.configure('require_reason', 'on');
ROLLBACK;
BEGIN;
SELECT loginas.configure('require_reason', 'on');
SAVEPOINT s;
SELECT loginas.configure('require_reason', 'off');
ROLLBACK TO SAVEPOINT s;
SELECT loginas.configure('ticket_ttl', '2 minutes');
COMMIT;
DO $$
BEGIN
	PERFORM loginas.configure('session_ttl', '2 hours');
	RAISE EXCEPTION 'roll the block back';
EXCEPTION WHEN raise_exception THEN
	NULL;
END $$;
SELECT loginas.configure('require_reason', 'off');
SELECT loginas.configure('ticket_ttl', '60 seconds');
SELECT action, details ->> 'setting' AS setting, details ->> 'new' AS new
  FROM loginas.action_log WHERE log_id > :l0 + 4 ORDER BY log_id;
SELECT * FROM loginas.verify_log();

-- another backend appends to a chain of its own
\c
SELECT loginas.configure('require_reason', 'on');
SELECT loginas.configure('require_reason', 'off');
SELECT count(DISTINCT chain_id) AS chains_since_start FROM loginas.action_log WHERE log_id > :l0;
SELECT count(*) AS heads, bool_and(length(row_hash) = 32) AS hashed
  FROM loginas.log_heads() WHERE chain_id > :c0;
SELECT * FROM loginas.verify_log();

-- tampering, as a superuser with the triggers disabled (each rolled back)
-- an edited row
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
UPDATE loginas.action_log SET reason = 'edited' WHERE log_id = :l0 + 2;
SELECT intact, log_id - :l0 AS log_n, problem FROM loginas.verify_log();
ROLLBACK;
-- an edited hash, made to match nothing
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
UPDATE loginas.action_log SET row_hash = sha256('forged') WHERE log_id = :l0 + 2;
SELECT intact, log_id - :l0 AS log_n, problem FROM loginas.verify_log();
ROLLBACK;
-- a deleted row in the middle of a chain
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
DELETE FROM loginas.action_log WHERE log_id = :l0 + 2;
SELECT intact, log_id - :l0 AS log_n, problem FROM loginas.verify_log();
ROLLBACK;
-- the first row of a chain deleted
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
DELETE FROM loginas.action_log
 WHERE (chain_id, chain_seq) = (SELECT chain_id, 1 FROM loginas.action_log WHERE log_id = :l0 + 1);
SELECT intact, problem FROM loginas.verify_log();
ROLLBACK;
-- an inserted row: a copy claiming a new place in a chain
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
INSERT INTO loginas.action_log (log_id, logged_at, action_group, action, result, admin_id, admin_username,
       customer_id, customer_email, session_id, store_id, source, reason, client_addr, db_role, details,
       chain_id, chain_seq, prev_hash, row_hash)
SELECT log_id + 1000000, logged_at, action_group, 'ticket_issued', result, 1, 'ada', 1, 'veronica@example.com',
       session_id, store_id, source, reason, client_addr, db_role, details,
       chain_id, chain_seq + 1000, row_hash, row_hash
  FROM loginas.action_log WHERE log_id = :l0 + 2;
SELECT intact, log_id - :l0 AS log_n, problem FROM loginas.verify_log();
ROLLBACK;
-- an inserted row in a chain nobody started
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
INSERT INTO loginas.action_log (log_id, action, result, chain_id, chain_seq, prev_hash, row_hash)
VALUES (:l0 + 1000000, 'ticket_issued', 'success', 999999, 1, decode(repeat('00', 32), 'hex'), sha256(''));
SELECT intact, log_id - :l0 AS log_n, problem FROM loginas.verify_log();
ROLLBACK;
SELECT * FROM loginas.verify_log();

-- retention
SELECT loginas.purge_log(NULL);
SELECT loginas.purge_log(now() + interval '1 day');
SELECT loginas.purge_log(now() - interval '1 day', by_admin => 999);
SELECT max(log_id) AS lp FROM loginas.action_log \gset
SELECT count(*) AS rows_before_purge FROM loginas.action_log WHERE log_id <= :lp \gset
SELECT loginas.purge_log(clock_timestamp(), by_admin => 1) = :rows_before_purge AS purged_everything_before;
SELECT count(*) AS left_before_purge FROM loginas.action_log WHERE log_id <= :lp;
SELECT action, result, admin_username, (details ->> 'rows')::bigint = :rows_before_purge AS counted
  FROM loginas.action_log WHERE log_id > :lp ORDER BY log_id;
SELECT count(*) > 0 AS checkpoints FROM loginas.log_checkpoint;
SELECT * FROM loginas.verify_log();
-- the purge's permission to delete ends with it
DELETE FROM loginas.action_log WHERE log_id > :lp;
-- the chains go on after the purge and still verify
SELECT loginas.configure('require_reason', 'on');
SELECT loginas.configure('require_reason', 'off');
SELECT * FROM loginas.verify_log();
-- deleting what follows a checkpoint is still found
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
DELETE FROM loginas.action_log WHERE log_id = (SELECT min(log_id) FROM loginas.action_log
                                                WHERE chain_id IN (SELECT chain_id FROM loginas.log_checkpoint));
SELECT intact, problem FROM loginas.verify_log();
ROLLBACK;

-- client addresses: the admin's browser on begin, the storefront's client on redeem
SELECT max(log_id) AS l1 FROM loginas.action_log \gset
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT token FROM loginas.begin(1, 1, client_addr => '203.0.113.5') \gset
SELECT session_key FROM loginas.redeem(:'token', client_addr => '198.51.100.7') \gset
BEGIN;
SELECT loginas.assume(:'session_key') IS NOT NULL AS assumed;
SELECT loginas.note('Checked the cart') IS NOT NULL AS noted;
COMMIT;
SELECT loginas.end(:'session_key');
SELECT action, client_addr FROM loginas.action_log
 WHERE log_id > :l1 AND session_id IS NOT NULL ORDER BY log_id;
SELECT admin_addr, storefront_addr FROM loginas.session ORDER BY session_id DESC LIMIT 1;
SELECT * FROM loginas.verify_log();

-- writing functions refuse up front in a read-only transaction (as on a hot
-- standby): 25006, no internal context; reading ones work
BEGIN READ ONLY;
SELECT loginas.configure('require_reason', 'on');
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM loginas.begin(1, 1);
ROLLBACK;
BEGIN READ ONLY;
SELECT loginas.purge_log(now() - interval '1 year');
ROLLBACK;
BEGIN READ ONLY;
SELECT allowed FROM loginas.check(1, 1);
SELECT intact FROM loginas.verify_log();
COMMIT;

-- loginas._log (the writer of lifecycle rows, C since 1.1) reads the admin's
-- username and the customer's e-mail from the bound views in one read as
-- loginas_reader: a view it may not read is named in the hint, whichever of
-- the two it is; an unbound kind, an unknown id or none leave the name empty
BEGIN;
REVOKE SELECT ON shop.loginas_customers FROM loginas_reader;
SELECT loginas._log('note', 'success', 1, 1);
ROLLBACK;
BEGIN;
REVOKE SELECT ON shop.loginas_admins FROM loginas_reader;
SELECT loginas._log('note', 'success', 1, 1);
ROLLBACK;
BEGIN;
SELECT loginas.unbind('customers');
SELECT loginas._log('note', 'success', 1, 1) AS id \gset
SELECT admin_username, customer_email FROM loginas.action_log WHERE log_id = :id;
ROLLBACK;
BEGIN;
SELECT loginas._log('note', 'success', 999, 1) AS a, loginas._log('note', 'success', NULL, 2) AS b,
	   loginas._log('note', 'success', 2, NULL) AS c \gset
SELECT log_id - :a AS n, admin_username, customer_email FROM loginas.action_log WHERE log_id IN (:a, :b, :c) ORDER BY log_id;
-- a session's row without source and reason takes the session's; an unknown session gives none
SELECT max(session_id) AS s FROM loginas.session WHERE source IS NOT NULL AND reason IS NOT NULL \gset
SELECT loginas._log('note', 'success', 1, 1, :s) AS a,
	   loginas._log('note', 'success', 1, 1, -42, NULL, 'given source', 'given reason', '{}', NULL) AS b \gset
SELECT l.source IS NOT DISTINCT FROM s.source AND l.reason IS NOT DISTINCT FROM s.reason AS from_the_session,
	   l.source IS NOT NULL AS has_source
  FROM loginas.session s, loginas.action_log l WHERE s.session_id = :s AND l.log_id = :a;
SELECT source, reason FROM loginas.action_log WHERE log_id = :b;
SELECT intact FROM loginas.verify_log();
ROLLBACK;

-- leave the shared state as found
SELECT loginas.revoke('Administrators', 'login');
SELECT loginas.configure('enabled', 'off');
DELETE FROM loginas.consent;
