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

-- The reader writes jsonb's binary form itself, without a JsonbValue tree:
-- byte for byte what jsonb_in() makes of the same text
-- (loginas._printed_jsonb_check: NULL refused, true same bytes, false not).
-- Texts jsonb printed: nested and empty arrays and objects, every control
-- character and escape, other scripts, strings and keys over 64 kB, arrays
-- and objects around the 32 members between two stored offsets, integers of
-- every length, keys of many lengths (the keys' data then ends off an int,
-- and the numerics and containers after it are aligned from there),
-- containers of many kB inside others, and a bulk write's details.
CREATE TABLE jb.printed (t text);
INSERT INTO jb.printed SELECT j::text FROM unnest(ARRAY[
	'{}', '{"a": [], "b": {}, "c": [[]], "d": [{}], "e": [[[[]]]], "f": {"g": {"h": {}}}, "": ""}',
	'{"a": 0, "b": -1, "c": 1, "d": 999999999999999999, "e": -999999999999999999, "f": 10000,
	  "g": 100000000, "h": -10000, "i": 12345678, "j": 100000000000000000, "k": 1e3, "l": [-0, 7]}',
	'{"a": 1, "bb": [1], "ccc": {"d": 2}, "dddd": [true, 1, [2], {"e": null}], "eeeee": 3}',
	'{"bbb": 1, "a": 2, "cc": 3, "aa": 4, "b": 5, "ab": false, "": null}',
	'{"ключ": "значение", "日本": "語", "😀": "😀😀", "é": "\u00e9", "x": "\u0041\/"}']::jsonb[]) j;
INSERT INTO jb.printed
SELECT jsonb_build_object('chars', (SELECT jsonb_agg(chr(i)) FROM generate_series(1, 127) i),
						  'keys', (SELECT jsonb_object_agg(chr(i) || 'k', i) FROM generate_series(1, 127) i))::text
UNION ALL SELECT jsonb_build_object('long', repeat('x', 70000))::text
UNION ALL SELECT jsonb_build_object('long', repeat(E'é"\\\n\x01/', 20000), 'n', 1)::text
UNION ALL SELECT jsonb_build_object(repeat('k', 70000), 1, 'a', repeat('y', 65536), 'bbb', 12)::text
UNION ALL SELECT jsonb_build_object('a', n, 'bb', (SELECT jsonb_agg(CASE i % 5 WHEN 0 THEN to_jsonb(i) WHEN 1 THEN to_jsonb(i::text)
		WHEN 2 THEN 'null' WHEN 3 THEN jsonb_build_array(i) ELSE jsonb_build_object('k', repeat('z', i % 7)) END)
	FROM generate_series(1, n) i))::text
  FROM unnest(ARRAY[31, 32, 33, 34, 63, 64, 65, 66, 100, 1000, 20000]) n
UNION ALL SELECT (SELECT jsonb_object_agg(repeat('k', i % 9) || i, CASE i % 4 WHEN 0 THEN to_jsonb(i)
		WHEN 1 THEN to_jsonb(repeat('v', i % 5)) WHEN 2 THEN jsonb_build_array(i, 'x') ELSE 'true' END)
	FROM generate_series(1, n) i)::text
  FROM unnest(ARRAY[15, 16, 17, 31, 32, 33, 34, 63, 64, 65, 200, 5000]) n
-- containers of many kB in objects whose keys' data ends off an int
UNION ALL SELECT jsonb_build_object('a', 1, 'bb', (SELECT jsonb_agg(jsonb_build_array(i, repeat('w', i % 3)))
		FROM generate_series(1, 9000) i), 'ccc', (SELECT jsonb_object_agg('k' || i, jsonb_build_object('v', i))
		FROM generate_series(1, 3000) i), 'dddd', 5, 'eeeee', '[[[1]]]'::jsonb)::text
UNION ALL SELECT jsonb_build_object('a', jsonb_build_array(jsonb_build_array((SELECT jsonb_agg(repeat('q', i % 50))
		FROM generate_series(1, 5000) i), 7), (SELECT jsonb_agg(i) FROM generate_series(1, 9000) i)))::text
-- a bulk write's details: the keys, then one object of six text members per row
UNION ALL SELECT jsonb_build_object('keys', (SELECT jsonb_agg(jsonb_build_array(i::text)) FROM generate_series(1, 2000) i),
	'rows', 2000, 'table', 'jb.order_line', 'operation', 'insert',
	'values', (SELECT jsonb_agg(jsonb_build_object('id', i::text, 'sku', 'SKU-' || (i * 7919 % 100000),
		'price', ((i % 997) * 1.25)::text, 'quantity', (i % 13)::text, 'order_id', (i / 4)::text,
		'created_at', '2024-05-0' || (i % 9 + 1) || E' 12:34:56.789+00 \\ "q"')) FROM generate_series(1, 2000) i))::text;
-- and objects made at random: members of every kind, as many as 66 of them
CREATE FUNCTION jb.random_string() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg((ARRAY['a', 'b', 'Z', '0', ' ', '"', '\', '/', chr(1), chr(8), chr(9), chr(10),
		chr(12), chr(13), chr(31), chr(127), 'é', '日', '😀', 'x'])[1 + floor(random() * 20)::int], ''), '')
	  FROM generate_series(1, CASE WHEN random() < 0.1 THEN floor(random() * 300)::int ELSE floor(random() * 12)::int END)
$$;
CREATE FUNCTION jb.random_value(depth int, object bool DEFAULT false) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	kind int := CASE WHEN object THEN 7 WHEN depth > 0 THEN floor(random() * 8)::int ELSE floor(random() * 6)::int END;
	n int := CASE floor(random() * 10)::int WHEN 0 THEN 31 + floor(random() * 4)::int
			   WHEN 1 THEN 63 + floor(random() * 4)::int ELSE floor(random() * 6)::int END;
	v jsonb;
BEGIN
	CASE kind
		WHEN 0 THEN RETURN 'null';
		WHEN 1 THEN RETURN to_jsonb(random() < 0.5);
		WHEN 2 THEN RETURN to_jsonb((CASE WHEN random() < 0.3 THEN -1 ELSE 1 END) *
									floor(random() * 10 ^ (1 + floor(random() * 18)))::bigint);
		WHEN 3, 4, 5 THEN RETURN to_jsonb(jb.random_string());
		WHEN 6 THEN
			v := '[]';
			FOR i IN 1..n LOOP
				v := v || jsonb_build_array(jb.random_value(CASE WHEN n > 5 THEN least(depth - 1, 1) ELSE depth - 1 END));
			END LOOP;
		ELSE
			v := '{}';
			FOR i IN 1..n LOOP
				v := v || jsonb_build_object(jb.random_string(),
											 jb.random_value(CASE WHEN n > 5 THEN least(depth - 1, 1) ELSE depth - 1 END));
			END LOOP;
	END CASE;
	RETURN v;
END $$;
SELECT setseed(0.25);
INSERT INTO jb.printed SELECT jb.random_value(3, true)::text FROM generate_series(1, 400);
SELECT count(*) AS texts, count(*) FILTER (WHERE loginas._printed_jsonb_check(t)) AS same_bytes,
	   count(*) FILTER (WHERE loginas._printed_jsonb(t) = t::jsonb AND loginas._printed_jsonb(t)::text = t) AS same_value,
	   max(length(t)) > 300000 AS some_long
  FROM jb.printed;
SELECT left(t, 60) AS not_the_same FROM jb.printed WHERE loginas._printed_jsonb_check(t) IS NOT TRUE;
-- a container written straight into the result (32 kB or more) whose size
-- is not a multiple of four, then containers after it: those are laid out
-- int-aligned, and built where the scratch data puts them (a 17-key object
-- after it stores end offsets among its JEntries)
SELECT loginas._printed_jsonb_check(('{"a": [["' || repeat('x', 32769) || '"], ' ||
		 (SELECT '{' || string_agg(to_json(k)::text || ': ' || i, ', ' ORDER BY length(k), k) || '}'
			FROM (SELECT chr(96 + i) k, i FROM generate_series(1, 17) i) s) || ']}')::jsonb::text) AS after_big_object,
	   loginas._printed_jsonb_check(('{"a": [["' || repeat('x', 32769) || '"], [], {"b": 1}, [[2]]]}')::jsonb::text)
		 AS after_big_containers;
-- nested deep, the same bytes; deeper than the reader's recursion goes,
-- refused (not an error): jsonb_in() decides, as for the tree's reader
SELECT loginas._printed_jsonb_check('{"a": ' || repeat('[', 1000) || repeat(']', 1000) || '}') AS deep,
	   loginas._printed_jsonb('{"a": ' || repeat('[{"b": ', 500000) || repeat('}]', 500000) || '}') IS NULL AS too_deep;

-- Any other text is refused, whatever the change from a printed one: every
-- text one byte away (left out, put in, replaced) from a few printed ones,
-- read exactly when it is itself what jsonb prints of its value (an object
-- whose numbers are integers of at most 18 digits), and then read to the
-- same bytes; no truncated text is read.
CREATE FUNCTION jb.printed_form(t text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	j jsonb;
BEGIN
	j := t::jsonb;
	RETURN j::text = t AND jsonb_typeof(j) = 'object' AND
		NOT EXISTS (SELECT FROM jsonb_path_query(j, 'strict $.**') v
					 WHERE jsonb_typeof(v) = 'number' AND v::text !~ '^-?(0|[1-9][0-9]{0,17})$');
EXCEPTION WHEN others THEN
	RETURN false;
END $$;
CREATE TABLE jb.changed AS
WITH sample(s) AS (
	SELECT j::text FROM unnest(ARRAY['{"a": -12, "b": [1, "x\n", null, true, false, {}], "c": "q\"\u0001\\", "aa": {"k": []}, "bb": 0}',
									 '{"": [[10], {"": "é"}], "x": 123456789012345678}']::jsonb[]) j),
byte(c) AS (
	SELECT unnest(ARRAY[' ', ',', ':', '"', '\', '/', '0', '1', '9', '-', '.', 'e', 'E', '{', '}', '[', ']',
						'n', 'u', 'x', 'a', chr(10), chr(1)])),
place(s, i) AS (
	SELECT s, generate_series(1, length(s) + 1) FROM sample)
SELECT left(s, i - 1) || substr(s, i + 1) AS t FROM place WHERE i <= length(s)
UNION ALL SELECT left(s, i - 1) || c || substr(s, i) FROM place, byte
UNION ALL SELECT left(s, i - 1) || c || substr(s, i + 1) FROM place, byte WHERE i <= length(s);
SELECT count(*) AS changed, count(*) FILTER (WHERE loginas._printed_jsonb(t) IS NOT NULL) AS read,
	   count(*) FILTER (WHERE (loginas._printed_jsonb(t) IS NOT NULL) <> jb.printed_form(t)) AS misjudged,
	   count(*) FILTER (WHERE NOT loginas._printed_jsonb_check(t)) AS not_the_same
  FROM jb.changed;
SELECT count(*) AS truncated, count(loginas._printed_jsonb(left(t, i))) AS read
  FROM jb.printed, generate_series(0, least(length(t) - 1, 400)) i WHERE length(t) < 2000;
SELECT regexp_replace(t, '[\x01-\x1f]', '?', 'g') AS other_text, loginas._printed_jsonb(t) IS NULL AS refused
  FROM unnest(ARRAY['{"a": 1,  "b": 2}', '{"a":' || chr(9) || '1}', '{"a": 1}' || chr(10), '{"a": [1,2]}',
	'{"a": [1 , 2]}', '{"a" : 1}', '{"a": "\u00e9"}', '{"a": "\u0000"}', '{"a": "\u0008"}', '{"a": "\U001f"}',
	'{"a": "\u001"}', '{"a": "\u00zz"}', '{"a": "x\"}', '{"a": -}', '{"a": --1}', '{"a": +1}', '{"a": 1E3}',
	'{"a": 0.0}', '{"a": 00}', '{"a": -01}', '{"a": 1}{"b": 2}', '{"a": TRUE}', '{"a": nulll}', '{"a": [nul]}',
	'{"ab": 1, "aa": 2}', '{"": 1, "": 2}', '{"a": {"b": 1, "b": 1}}', '{"a": [1, {"c": 1, "b": 2}]}',
	'{"a": "' || chr(127) || '"}', '{"a": "tab' || chr(9) || '"}', '{"a": ["x"' || chr(10) || ']}', '{"a": [}',
	'{"a": ]}', '{"a": 1,}', '{"a": [1,]}', '{a: 1}', '{"a": 1', '{"a": "\', '{"": 1, "a": 2}']) t;

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
