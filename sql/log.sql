-- log: the action log is append-only and tamper-evident.
--   * its shape; every row linked into a per-backend SHA-256 chain
--   * UPDATE / DELETE / TRUNCATE refused for everyone, the owner included,
--     also with session_replication_role = replica
--   * rolled-back appends (transactions, savepoints, exception blocks) never
--     break a chain
--   * verify_log() finds an edited, a deleted (middle and first) and an
--     inserted row -- made by a superuser with the triggers disabled, each in a
--     transaction that is rolled back
--   * purge_log() removes old rows, keeps every chain verifiable, logs itself
--     naming the database role; it is the auditor's (loginas_auditor), not
--     the admin backend's, and never cuts into the log retention (setting
--     log_retention, set by the auditor with set_log_retention(), refused by
--     configure(): 42501)
--   * verify_log(saved heads): heads kept outside the database show the
--     newest rows removed, a row rewritten, rows purged before their time
--   * verify_log() recomputes hashes in C (loginas._log_row_hash), the text
--     byte for byte loginas._log_content()'s (1.0, 1.1) for every row
--   * what a row holds is bounded: a note's details 64 kB (54000), begin_from's
--     reason 1000 characters, names read from the shop 255 characters
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

-- retention: every purge keeps the rows younger than log_retention (90 days
-- by default), whoever asks (this is a superuser)
SELECT value, default_value FROM loginas.settings WHERE name = 'log_retention';
SELECT loginas.purge_log(NULL);
SELECT loginas.purge_log(now() + interval '1 day');
SELECT count(*) AS rows_now FROM loginas.action_log \gset
SELECT loginas.purge_log(clock_timestamp() - interval '1 millisecond');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.purge_log(now() - interval '2160 hours' + interval '1 second');  -- 90 days of 24 hours, whatever the TimeZone
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :rows_now AS nothing_removed FROM loginas.action_log;
-- the admin backend can neither purge (no EXECUTE: purging is the auditor's)
-- nor change the retention
CREATE ROLE regress_log_admin NOLOGIN;
GRANT loginas_admin TO regress_log_admin;
CREATE ROLE regress_log_auditor NOLOGIN;
GRANT loginas_auditor TO regress_log_auditor;
SET ROLE regress_log_admin;
SELECT loginas.purge_log(clock_timestamp() - interval '1 millisecond');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.purge_log(now() - interval '1 year', by_admin => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('log_retention', '1 day', by_admin => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_log_retention('1 day');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) = :rows_now AS nothing_removed FROM loginas.action_log;
-- configure() refuses it for the DBA too: set_log_retention() is the one way
SELECT loginas.configure('log_retention', '1 year');
\echo :LAST_ERROR_SQLSTATE
-- the auditor (here its login role: SET SESSION AUTHORIZATION) purges what is
-- older than the retention; the log_purged row names the database role (and
-- by_admin, when given), the limit and the retention
SET SESSION AUTHORIZATION regress_log_auditor;
SELECT loginas.purge_log(now() - interval '90 days', by_admin => 999);
SELECT loginas.purge_log(now() - interval '90 days') AS purged;
SELECT action, result, admin_id, db_role, details ->> 'role' AS role, details ->> 'retention' AS retention,
       details ->> 'rows' AS rows, (details ->> 'before')::timestamptz < now() - interval '89 days' AS before
  FROM loginas.action_log WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);
-- and sets the retention, from 1 day to 100 years, no part negative
SELECT loginas.set_log_retention('23 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_log_retention('101 years');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_log_retention('1 mon -31 days');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_log_retention('-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_log_retention(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.set_log_retention('1 day');
SELECT loginas.set_log_retention('24 hours');
SELECT action, db_role, details FROM loginas.action_log WHERE action = 'setting_changed' ORDER BY log_id DESC LIMIT 2;
SELECT value FROM loginas.settings WHERE name = 'log_retention';
SELECT loginas.purge_log(now() - interval '23 hours');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- in the DBA's (a superuser's) session it may be shorter: on this test
-- system, none, so that this run's rows can be purged
SELECT loginas.set_log_retention('0');
SELECT max(log_id) AS lp FROM loginas.action_log \gset
SELECT count(*) AS rows_before_purge FROM loginas.action_log WHERE log_id <= :lp \gset
SELECT loginas.purge_log(now(), by_admin => 1) = :rows_before_purge AS purged_everything_before;
SELECT count(*) AS left_before_purge FROM loginas.action_log WHERE log_id <= :lp;
SELECT action, result, admin_username, (details ->> 'rows')::bigint = :rows_before_purge AS counted,
       details ->> 'role' = session_user AS names_the_role
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
-- the retention back to its default
SELECT loginas.set_log_retention('90 days');
DROP ROLE regress_log_admin, regress_log_auditor;

-- Heads kept outside the database: what the chains alone cannot show
SELECT loginas.configure('require_reason', 'on');
SELECT loginas.configure('require_reason', 'off');
SELECT jsonb_agg(h) AS heads FROM loginas.log_heads() h \gset
SELECT * FROM loginas.verify_log(:'heads');
-- the newest row of a chain removed (a superuser with the triggers off):
-- the chain still verifies, the saved head does not
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
DELETE FROM loginas.action_log WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);
SELECT intact, problem FROM loginas.verify_log();
SELECT intact, log_id IS NULL AS no_row, problem FROM loginas.verify_log(:'heads');
ROLLBACK;
-- the newest row rewritten with a matching hash: likewise
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
UPDATE loginas.action_log
   SET details = '{"setting": "require_reason", "old": "on", "new": "on"}',
       row_hash = loginas._log_row_hash(prev_hash, chain_id, chain_seq, log_id, logged_at, action_group, action,
                                        result, admin_id, admin_username, customer_id, customer_email, session_id,
                                        store_id, source, reason, client_addr, db_role,
                                        '{"setting": "require_reason", "old": "on", "new": "on"}')
 WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);
SELECT intact, problem FROM loginas.verify_log();
SELECT intact, log_id = (SELECT max(log_id) FROM loginas.action_log) AS that_row, problem FROM loginas.verify_log(:'heads');
ROLLBACK;
-- rows younger than the retention purged by hand (the purge window opened by
-- a superuser, a checkpoint written to match): likewise
BEGIN;
SELECT loginas._allow_purge(true);
WITH last AS (SELECT chain_id, chain_seq, row_hash FROM loginas.action_log
               WHERE log_id = (SELECT max(log_id) FROM loginas.action_log)),
     cp AS (INSERT INTO loginas.log_checkpoint (chain_id, chain_seq, row_hash) SELECT * FROM last
            ON CONFLICT (chain_id) DO UPDATE SET chain_seq = EXCLUDED.chain_seq, row_hash = EXCLUDED.row_hash)
DELETE FROM loginas.action_log l USING last WHERE l.chain_id = last.chain_id;
SELECT intact, problem FROM loginas.verify_log();
SELECT intact, problem FROM loginas.verify_log(:'heads');
-- ... which, older than the retention, would have been a purge like any other
SELECT loginas.set_log_retention('0');
SELECT intact, problem FROM loginas.verify_log(:'heads');
ROLLBACK;
-- what is not a list of heads is refused (22023)
SELECT * FROM loginas.verify_log(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM loginas.verify_log('{"chain_id": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM loginas.verify_log('[{"chain_id": "one", "chain_seq": 1, "row_hash": "\\x00"}]');
SELECT * FROM loginas.verify_log('[{"chain_id": 1, "chain_seq": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM loginas.verify_log('[]');

-- verify_log() recomputes each row's hash in C (loginas._log_row_hash), from
-- its columns: the text it hashes is loginas._log_content()'s -- what 1.0 and
-- 1.1 hashed -- byte for byte, for every row every suite wrote so far ...
SELECT count(*) > 100 AS many_rows,
       count(*) FILTER (WHERE loginas._log_row_hash(prev_hash, chain_id, chain_seq, log_id, logged_at, action_group,
                                                    action, result, admin_id, admin_username, customer_id,
                                                    customer_email, session_id, store_id, source, reason,
                                                    client_addr, db_role, details)
                              IS DISTINCT FROM
                              sha256(prev_hash || convert_to(chain_id || ':' || chain_seq || ':' ||
                                     loginas._log_content(log_id, logged_at, action_group, action, result, admin_id,
                                                          admin_username, customer_id, customer_email, session_id,
                                                          store_id, source, reason, client_addr, db_role, details),
                                     'UTF8'))) AS differ
  FROM loginas.action_log;
-- ... and for awkward values: quotes, backslashes, control characters,
-- non-ASCII, numbers of every shape, NULLs, infinite and fractional times
SELECT count(*) AS awkward_rows,
       count(*) FILTER (WHERE loginas._log_row_hash('\x0102', 7, 9, id, t, g, 'note', 'success', a, u, c, e, NULL, 4,
                                                    src, why, addr, r, d)
                              IS DISTINCT FROM
                              sha256('\x0102'::bytea || convert_to('7:9:' ||
                                     loginas._log_content(id, t, g, 'note', 'success', a, u, c, e, NULL, 4, src, why,
                                                          addr, r, d), 'UTF8'))) AS differ
  FROM (VALUES (1::bigint, '2026-02-03 04:05:06.789012+00'::timestamptz, 'Login As Customer', -1::bigint,
                E'ad\u00e9 "q" \\ x', 3::bigint, E'\u00fc\u00f1i@ex\u00e4mple.com', E'line\nbreak', E'tab\treason',
                '2001:db8::1/64'::inet, 'odd role'::name,
                '{"k": null, "n": {"m": null, "l": [null, 1.50, "\u00e9", 1e100, -0.0, 123456789012345678901234567890]}}'::jsonb),
              (NULL, 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}'),
              (2, '-infinity', E'\x01\x1f\u2028', 9223372036854775807, E'\\u0000 \x7f', -9223372036854775808,
               repeat('\u00e9', 300), '', ' ', '10.0.0.1', 'r', E'{"a\\u0001b": "\\u001f", "": [[], {}], "x": true}'),
              (3, '1970-01-01 00:00:00.000001+00', 'g', 0, 'u', 0, 'e', 's', 'w', '::1', 'r', '[1, "a"]'),
              (4, now(), 'g', 1, 'u', 1, 'e', 's', 'w', NULL, 'r', NULL)) v(id, t, g, a, u, c, e, src, why, addr, r, d);

-- What a log row holds is bounded.  A note's details: at most 64 kB
-- (65536 bytes) as JSON text (54000), nothing logged beyond
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT token FROM loginas.begin(1, 1) \gset
SELECT session_key AS note_key FROM loginas.redeem(:'token') \gset
SELECT max(log_id) AS ln FROM loginas.action_log \gset
BEGIN;
SELECT loginas.assume(:'note_key') IS NOT NULL AS assumed;
SELECT octet_length(jsonb_build_object('a', repeat('x', 65527))::text) AS at_the_limit,
       loginas.note('Large', jsonb_build_object('a', repeat('x', 65527))) IS NOT NULL AS noted;
SAVEPOINT s;
SELECT loginas.note('Too large', jsonb_build_object('a', repeat('x', 65528)));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT loginas.note('Far too large', jsonb_build_object('a', repeat('x', 10000000)));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'note_key') IS NOT NULL AS assumed;
SELECT loginas.note('Large', jsonb_build_object('a', repeat(E'\u00e9', 32763))) IS NOT NULL AS noted_multibyte;
SAVEPOINT s;
SELECT loginas.note('Too large', jsonb_build_object('a', repeat(E'\u00e9', 32764)));
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*) AS note_rows, max(octet_length(details::text)) AS largest FROM loginas.action_log
 WHERE log_id > :ln AND action = 'note';
SELECT loginas.end(:'note_key');
-- begin_from's reason: at most 1000 characters, as begin's (22023)
SELECT token FROM loginas.begin_from(1, 'order', 100, reason => repeat('r', 1001));
\echo :LAST_ERROR_SQLSTATE
SELECT token AS t_long FROM loginas.begin_from(1, 'order', 100, reason => repeat('r', 1000)) \gset
SELECT length(reason) AS reason_kept FROM loginas.session WHERE ticket_hash = loginas._hash(:'t_long');
SELECT loginas.end_admin(1);
SELECT loginas.revoke('Administrators', 'login');
SELECT loginas.configure('enabled', 'off');
DELETE FROM loginas.consent;
-- an admin's username or a customer's e-mail read from the shop is stored
-- cut to 255 characters (rolled back)
BEGIN;
SELECT loginas._append(now(), 'note', 'success', 1, repeat(E'\u00e9', 300), 1, repeat('e', 256), NULL, NULL, NULL, NULL,
                       NULL, 'r', '{}') AS id \gset
SELECT char_length(admin_username) AS username, char_length(customer_email) AS email
  FROM loginas.action_log WHERE log_id = :id;
SELECT intact FROM loginas.verify_log();
ROLLBACK;
SELECT * FROM loginas.verify_log();

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
