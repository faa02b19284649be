-- judge_batches: the commit-time judgement reads the rows a session touched
-- a table at a time, a batch of keys per query (src/containment.c).  What it
-- must not lose:
--   rows in later batches: a transaction touching more rows than one batch
--   holds (8,192), a row of the third batch moved to another customer, is
--   refused at COMMIT naming that row; with a two-column key too;
--   the first row touched decides which refusal is reported, whatever the
--   tables' order;
--   a text key in its own collation ("C", not the database's): found and
--   judged, refused when moved;
--   the write log's values print with pinned settings, and the session's own
--   settings are back after every write (SHOW);
--   the write log's details, written as jsonb prints them and stored from
--   that text directly, are exactly that jsonb, and the chain verifies.
-- The shop (sql/setup.sql): admin 1 ada (Administrators); customers
-- 1 Veronica Costello, 2 John Doe.
\set VERBOSITY default

SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT setval('loginas.session_session_id_seq', 9300);
SELECT token AS t FROM loginas.begin(1, 1, reason => 'batches') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset

SET client_min_messages = warning;
CREATE SCHEMA jb;
CREATE TABLE jb.cart (cart_id bigint PRIMARY KEY, customer_id int NOT NULL, qty int NOT NULL DEFAULT 1);
CREATE TABLE jb.pair (a int, b text, customer_id int NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE jb.code (code text COLLATE "C" PRIMARY KEY, customer_id int NOT NULL, at timestamptz,
	weight float8, took interval, raw bytea);
CREATE TABLE jb.priced (id int PRIMARY KEY, customer_id int NOT NULL, price money, at timestamptz, weight float8);
RESET client_min_messages;
SELECT loginas.track('jb.cart', 'customer_id');
SELECT loginas.track('jb.pair', 'customer_id');
SELECT loginas.track('jb.code', 'customer_id');
SELECT loginas.track('jb.priced', 'customer_id');

-- 20,000 rows of the customer's in one transaction: three batches, all judged, committed
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.cart SELECT g, 1 FROM generate_series(1, 20000) g;
UPDATE jb.cart SET qty = 2 WHERE cart_id % 3 = 0;
COMMIT;
SELECT count(*) AS rows, count(*) FILTER (WHERE qty = 2) AS updated,
	   count(*) FILTER (WHERE loginas_created_session = :sid) AS stamped FROM jb.cart;

-- a row of the third batch (the 19,999th touched) moved to customer 2: refused at COMMIT, all rolled back
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.cart SELECT g, 1 FROM generate_series(20001, 40000) g;
UPDATE jb.cart SET customer_id = 2 WHERE cart_id = 39999;
COMMIT;
SELECT count(*) AS rows FROM jb.cart;

-- the same on a two-column key: row (19999, 'k19999') of the third batch
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.pair SELECT g, 'k' || g, 1 FROM generate_series(1, 20000) g;
UPDATE jb.pair SET customer_id = 2 WHERE a = 19999 AND b = 'k19999';
COMMIT;
SELECT count(*) AS rows FROM jb.pair;

-- two tables, each with a moved row: the row touched first of the two is
-- reported (jb.pair's), though jb.cart's rows were touched before and after it
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.cart VALUES (50001, 1);
INSERT INTO jb.pair VALUES (1, 'first', 1);
INSERT INTO jb.cart VALUES (50002, 1);
UPDATE jb.cart SET customer_id = 2 WHERE cart_id = 50002;
UPDATE jb.pair SET customer_id = 2 WHERE a = 1;
COMMIT;

-- a row judged as it was inserted is not read again at commit -- unless the
-- table changed since: a superuser (trusted; the table's owner may not:
-- trigger_guard) disables loginas' update trigger, moves the
-- row to customer 2 unseen, enables the trigger again: refused at COMMIT
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.cart VALUES (60001, 1), (60002, 1);
ALTER TABLE jb.cart DISABLE TRIGGER zz_loginas_track_update;
UPDATE jb.cart SET customer_id = 2 WHERE cart_id = 60002;
ALTER TABLE jb.cart ENABLE ALWAYS TRIGGER zz_loginas_track_update;
COMMIT;
SELECT count(*) AS rows FROM jb.cart WHERE cart_id > 60000;
-- a row judged as it was inserted, then changed once the transaction left
-- the session (end() of its own session; writes no longer touch rows): read
-- again at COMMIT all the same, and refused
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.cart VALUES (60010, 1);
SELECT loginas."end"(:'key') AS ended;
UPDATE jb.cart SET customer_id = 2 WHERE cart_id = 60010;
COMMIT;
SELECT count(*) AS rows FROM jb.cart WHERE cart_id = 60010;
-- (a new session for what follows)
SELECT token AS t FROM loginas.begin(1, 1, reason => 'batches, again') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset

-- a text key in collation "C": the commit reads it back and judges it
SET TimeZone = 'America/New_York';
SET DateStyle = 'German';
SET extra_float_digits = -15;
SET IntervalStyle = 'sql_standard';
SET bytea_output = 'escape';
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.code VALUES ('Zz', 1, '2024-03-01 12:00:00+00', 0.1, '3 days', '\x00ff'), ('aa', 1, NULL, NULL, NULL, NULL);
-- a row with a money column: its values printed the settings' own way (lc_monetary too)
INSERT INTO jb.priced VALUES (1, 1, 12.5, '2024-03-01 12:00:00+00', 0.1);
-- the session's own settings after its writes
SHOW TimeZone;
SHOW DateStyle;
SHOW extra_float_digits;
SHOW IntervalStyle;
SHOW bytea_output;
SELECT at, weight, took, raw FROM jb.code WHERE code = 'Zz';
COMMIT;
RESET TimeZone;
RESET DateStyle;
RESET extra_float_digits;
RESET IntervalStyle;
RESET bytea_output;
SELECT code, customer_id, loginas_created_session = :sid AS stamped FROM jb.code ORDER BY code COLLATE "C";
-- the log's values: printed with the pinned settings (UTC, ISO, shortest floats, postgres intervals, hex)
SELECT l.details ->> 'table' AS "table", l.details -> 'values' AS "values" FROM loginas.action_log l
 WHERE l.session_id = :sid AND l.details ->> 'table' IN ('jb.code', 'jb.priced') AND l.action = 'write_insert'
 ORDER BY 1;

-- moved to customer 2 under the "C" key: refused at COMMIT
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE jb.code SET customer_id = 2 WHERE code = 'Zz';
COMMIT;
SELECT code, customer_id FROM jb.code ORDER BY code COLLATE "C";

-- The write log's details are written as jsonb prints them and stored from
-- that text without parsing general JSON (src/printedjsonb.c), the hash
-- taken over the same text.  Column names and values with quotes,
-- backslashes, control characters and other scripts, names of several
-- lengths (jsonb orders keys by length first): stored equal to their text read
-- back as jsonb, the chain verifies, every member found by name.
SET client_min_messages = warning;
CREATE TABLE jb.odd (id int PRIMARY KEY, customer_id int NOT NULL, "b" text, "ab" text, "q""uote" text,
	"é" text, "back\slash" text, "tab	name" text, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" int);
RESET client_min_messages;
SELECT loginas.track('jb.odd', 'customer_id');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO jb.odd VALUES (1, 1, E'quote " backslash \\ newline \n tab \t bell \x07 del \x7f', 'ünïcødé 😀 / slash',
	'{"json": "inside"}', E'\\u0041 not an escape', 'é', E'cr \r ff \f bs \b', 7);
UPDATE jb.odd SET "b" = E'then \x01 and "more"', "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" = NULL WHERE id = 1;
COMMIT;
SELECT l.action, l.details = l.details::text::jsonb AS stored_as_printed,
	   loginas._printed_jsonb(l.details::text) = l.details AS read_back,
	   l.details -> 'values' -> 0 ->> 'q"uote' AS quoted_name, l.details -> 'values' -> 0 -> 'b' AS b
  FROM loginas.action_log l WHERE l.session_id = :sid AND l.details ->> 'table' = 'jb.odd' ORDER BY l.log_id;
SELECT intact, problem FROM loginas.verify_log();
-- what it reads: only the text jsonb prints -- any other text gives NULL
-- (the commit then stores jsonb_in()'s jsonb and hashes its print)
SELECT t AS printed, loginas._printed_jsonb(t) AS jsonb
  FROM unnest(ARRAY[
	'{}', '{"a": 1, "b": [1, -20, "x", null, true, false, {}], "aa": {"c": "d"}}',
	'{"b": 1, "a": 2}', '{"a": 1, "a": 2}', '{"aa": 1, "b": 2}', '{"a":1}', '{"a": 1,"b": 2}', ' {"a": 1}',
	'{"a": 01}', '{"a": -0}', '{"a": 1.5}', '{"a": 1e3}', '{"a": 1234567890123456789}',
	'{"a": "\u0041"}', '{"a": "\/"}', '{"a": "\u001f"}', '{"a": "\u001F"}', '{"a": "\u000a"}', '{"a": "\n"}',
	E'{"a": "\x01"}', '{"a": "unterminated}', '{"a": [1, 2}', '[1, 2]', '"a"', '{"a": nul}', '{"a": 1} ']) t;

-- The log's rows are appended at commit without an INSERT statement
-- (src/rowinsert.c); a trigger the DBA puts on loginas.action_log (to forward
-- the rows elsewhere) still fires: the row then goes in through INSERT.
CREATE TABLE jb.forwarded (log_id bigint, action text);
CREATE FUNCTION jb.forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO jb.forwarded VALUES (NEW.log_id, NEW.action); RETURN NULL; END $$;
CREATE TRIGGER forward AFTER INSERT ON loginas.action_log FOR EACH ROW EXECUTE FUNCTION jb.forward();
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE jb.odd SET "ab" = 'forwarded' WHERE id = 1;
COMMIT;
SELECT f.action, f.log_id = l.log_id AS same_row FROM jb.forwarded f
  JOIN loginas.action_log l ON l.log_id = f.log_id WHERE l.session_id = :sid;
DROP TRIGGER forward ON loginas.action_log;
SELECT intact FROM loginas.verify_log();

-- clean up
SELECT loginas.untrack('jb.odd');
SELECT loginas.untrack('jb.cart'), loginas.untrack('jb.pair'), loginas.untrack('jb.code'), loginas.untrack('jb.priced');
SET client_min_messages = warning;
DROP SCHEMA jb CASCADE;
RESET client_min_messages;
SELECT loginas."end"(:'key');
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
