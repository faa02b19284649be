-- audit_values: the values of the rows a Login as Customer session writes,
-- logged with the write (1.3):
--   * an update's changed columns before and after, an inserted or deleted
--     row's columns, per row, in the write's log row (details "values",
--     aligned with "keys"), so inside the hash chain: verify_log() finds an
--     edited value;
--   * protected columns and columns marked sensitive (loginas.redact) are
--     logged as changed, never with a value -- the secrets written here are
--     searched for in every relation of schema loginas that loginas_admin,
--     loginas_storefront, loginas_reporting or loginas_auditor may read, and
--     in every report: not found;
--   * a table may log no values at all (loginas.log_values(t, false));
--   * values are printed only by built-in output functions: a base type of
--     the shop's own whose output function raises when called, a composite
--     and a range type, a domain and an array over the hostile type are
--     named, not printed (nothing of theirs runs); domains over built-in
--     types, enums and their arrays are printed; the settings that change
--     how a value prints are pinned (UTC, ISO dates, hex bytea);
--   * a value longer than 1,024 bytes is cut (whole characters) and marked
--     with its length, a 1 MB text too, read only as far as needed;
--   * a write of many rows stays within parts of ~1 MB of keys and values;
--     a rolled-back savepoint's values go with it;
--   * the reports show the values (Admin Actions Report, customer_history,
--     admin_activity); every refusal of redact/unredact/log_values with its
--     SQLSTATE and message; a sensitive column renamed stops session writes
--     until it is redacted again.
-- It uses the shop of sql/setup.sql (admin 1 ada, customer 1 Veronica), its
-- own schema av and roles regress_av_owner (owns the tables) and
-- regress_av_web (the storefront), and removes them at the end.
-- Session ids depend on the suites before: they are printed as <name>.
\set VERBOSITY default

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
CREATE TEMP TABLE sess (name text PRIMARY KEY, id bigint UNIQUE);
CREATE FUNCTION pg_temp.s(id bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT COALESCE((SELECT '<' || name || '>' FROM pg_temp.sess WHERE sess.id = s.id), id::text)
$$;
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT name, id FROM pg_temp.sess LOOP
		t := regexp_replace(t, '([Ss]ession) ' || r.id || '\M', '\1 <' || r.name || '>', 'g');
	END LOOP;
	RETURN t;
END
$$;
-- run a statement in a subtransaction: "ok: n row(s)", or the error
CREATE FUNCTION pg_temp.attempt(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	BEGIN
		EXECUTE q;
		GET DIAGNOSTICS n = ROW_COUNT;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
			det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
		RETURN NEXT 'ERROR ' || st || ': ' || pg_temp.mask(msg);
		IF det <> '' THEN
			RETURN NEXT 'DETAIL: ' || pg_temp.mask(det);
		END IF;
		IF hnt <> '' THEN
			RETURN NEXT 'HINT: ' || hnt;
		END IF;
		RETURN;
	END;
	RETURN NEXT 'ok: ' || n || ' row(s)';
END
$$;
GRANT SELECT ON pg_temp.sess TO PUBLIC;
-- the log rows written since the last call (mark in pg_temp.mark)
CREATE TEMP TABLE mark AS SELECT COALESCE(max(log_id), 0) AS log_id FROM loginas.action_log;
GRANT SELECT, UPDATE ON pg_temp.mark TO PUBLIC;
CREATE FUNCTION pg_temp.new_log(OUT action text, OUT session text, OUT details jsonb)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	SELECT l.action, pg_temp.s(l.session_id), l.details - 'values' - 'keys'
	  FROM loginas.action_log l WHERE l.log_id > (SELECT m.log_id FROM pg_temp.mark m) ORDER BY l.log_id;
END
$$;
-- the values of the write rows since the mark: one line per row and column
CREATE FUNCTION pg_temp.new_values(OUT action text, OUT session text, OUT tbl text, OUT key text,
		OUT col text, OUT value jsonb)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	SELECT l.action, pg_temp.s(l.session_id), l.details ->> 'table', l.details -> 'keys' ->> (v.o - 1)::int,
		   c.key, c.value
	  FROM loginas.action_log l
	 CROSS JOIN LATERAL jsonb_array_elements(l.details -> 'values') WITH ORDINALITY v(x, o)
	 CROSS JOIN LATERAL jsonb_each(v.x) c
	 WHERE l.log_id > (SELECT m.log_id FROM pg_temp.mark m) AND l.action LIKE 'write%'
	 ORDER BY l.log_id, v.o, c.key;
END
$$;
CREATE FUNCTION pg_temp.skip_log() RETURNS void LANGUAGE sql AS $$
	UPDATE pg_temp.mark SET log_id = (SELECT COALESCE(max(a.log_id), 0) FROM loginas.action_log a)
$$;

------------------------------------------------------------------------------
-- The shop's tables: a cart, its items with values of many types, accounts
-- with a password hash (protected) and a card number (sensitive), notes
-- (values not logged) and long texts.  Owned by regress_av_owner; the
-- storefront role regress_av_web writes them.
------------------------------------------------------------------------------
-- (the feature on, "login" for Administrators, Veronica's consent; put back
-- as they were at the end)
SELECT value = 'on' AS was_enabled FROM loginas.settings WHERE name = 'enabled' \gset
SELECT loginas.assistance_allowed(1) AS had_consent \gset
SELECT loginas.configure('enabled', 'on') AS enabled;
SELECT loginas.grant('Administrators', 'login') AS granted_here \gset
SELECT loginas.set_assistance(1, true) IS NOT NULL AS consent;
CREATE ROLE regress_av_owner NOLOGIN;
CREATE ROLE regress_av_web NOLOGIN;
GRANT loginas_storefront TO regress_av_web;
CREATE SCHEMA av AUTHORIZATION regress_av_owner;
GRANT USAGE ON SCHEMA av TO regress_av_web;

-- A base type of the shop's own (only a superuser creates one: here the DBA
-- does it for the shop).  Its output function raises whenever it is called
-- (enum_out given a value that is no enum label), so a write whose logging
-- called it would fail: it is never called.
CREATE TYPE av.hostile;
-- (the shell type's notices differ between majors: not shown)
SET client_min_messages = warning;
CREATE FUNCTION av.hostile_in(cstring) RETURNS av.hostile LANGUAGE internal IMMUTABLE STRICT AS 'int4in';
CREATE FUNCTION av.hostile_out(av.hostile) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'enum_out';
CREATE TYPE av.hostile (INPUT = av.hostile_in, OUTPUT = av.hostile_out, INTERNALLENGTH = 4,
	PASSEDBYVALUE, ALIGNMENT = int4);
RESET client_min_messages;
SELECT pg_temp.attempt($$SELECT '5'::av.hostile::text$$) AS printing_it_raises;
ALTER TYPE av.hostile OWNER TO regress_av_owner;
SET ROLE regress_av_owner;
CREATE DOMAIN av.price AS numeric(12,2) CHECK (VALUE >= 0);
CREATE DOMAIN av.hostile_d AS av.hostile;
CREATE TYPE av.color AS ENUM ('red', 'green', 'blue');
CREATE TYPE av.money AS (amount numeric, currency text);
CREATE TYPE av.numr AS RANGE (subtype = numeric);
CREATE TABLE av.quote (quote_id int PRIMARY KEY, customer_id int, grand_total numeric(12,4) NOT NULL,
	status text, coupon text, updated_at timestamptz, weight float8);
CREATE TABLE av.quote_item (item_id int PRIMARY KEY, quote_id int NOT NULL REFERENCES av.quote ON DELETE CASCADE,
	sku text, qty int, price av.price, color av.color, colors av.color[], sizes int[], box av.money,
	span av.numr, odd av.hostile, odds av.hostile[], odd_d av.hostile_d, payload bytea, doc jsonb,
	due date, took interval, ok boolean, code uuid);
CREATE TABLE av.account (account_id int PRIMARY KEY, customer_id int NOT NULL, email text,
	password_hash text, card_number text, nickname text);
CREATE TABLE av.note (note_id int PRIMARY KEY, customer_id int NOT NULL, body text);
CREATE TABLE av.big (big_id int PRIMARY KEY, customer_id int NOT NULL, body text, label varchar(4000));
INSERT INTO av.quote VALUES (10, 1, 82, 'open', NULL, '2024-03-01 12:00:00+00', 1.5), (20, 2, 5, 'open', NULL, NULL, NULL);
INSERT INTO av.quote_item (item_id, quote_id, sku, qty, price) VALUES (11, 10, 'MUG', 1, 41), (12, 10, 'TEE', 1, 41);
INSERT INTO av.account VALUES
	(1, 1, 'veronica@example.com', 'pbkdf2$SECRET-HASH-OF-VERONICA', 'SECRET-CARD-4111', 'Vero'),
	(2, 1, 'veronica.work@example.com', 'pbkdf2$SECRET-HASH-OF-WORK', NULL, 'Work');
INSERT INTO av.note VALUES (1, 1, 'first note');
INSERT INTO av.big VALUES (1, 1, 'short', 'short');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA av TO regress_av_web;
RESET ROLE;

------------------------------------------------------------------------------
-- Tracking, protecting and redacting (the DBA's calls)
------------------------------------------------------------------------------
SELECT loginas.track('av.quote', 'customer_id');
SELECT loginas.track('av.quote_item', parent => 'av.quote');
SELECT loginas.track('av.account', 'customer_id');
SELECT loginas.track('av.note', 'customer_id');
SELECT loginas.track('av.big', 'customer_id');
SELECT loginas.protect('av.account', 'password_hash');
SELECT pg_temp.skip_log();
SELECT loginas.redact('av.account', 'card_number') AS redacted,
	   loginas.redact('av.account', 'card_number') AS again,
	   loginas.redact('av.account', 'email') AS email,
	   loginas.unredact('av.account', 'email') AS unredacted,
	   loginas.unredact('av.account', 'email') AS unredacted_again;
SELECT loginas.log_values('av.note', false) AS off, loginas.log_values('av.note', false) AS off_again,
	   loginas.log_values('av.big', false) AS big_off, loginas.log_values('av.big', true) AS big_on;
SELECT * FROM pg_temp.new_log();
SELECT relation, protected_columns, redacted_columns, log_values FROM loginas.tracked_tables
 WHERE relation::text LIKE 'av.%' ORDER BY relation::text;
-- as the reports show them
SELECT "Action", "Details" FROM loginas.actions_report(page_size => 6) ORDER BY "Time", "Details";
-- refusals: every one with its SQLSTATE and message
SELECT pg_temp.attempt($$SELECT loginas.redact('av.nothing', 'x')$$);
SELECT pg_temp.attempt($$SELECT loginas.redact('shop.customer', 'email')$$);
SELECT pg_temp.attempt($$SELECT loginas.redact('av.account', 'no_such_column')$$);
SELECT pg_temp.attempt($$SELECT loginas.redact('av.account', NULL)$$);
SELECT pg_temp.attempt($$SELECT loginas.redact(NULL, 'email')$$);
SELECT pg_temp.attempt($$SELECT loginas.log_values('shop.customer', false)$$);
SELECT pg_temp.attempt($$SELECT loginas.log_values('av.note', NULL)$$);
SELECT pg_temp.attempt($$SELECT loginas.log_values(NULL, true)$$);
SELECT loginas.unredact('shop.customer', 'email') AS unredact_untracked;
-- only the DBA: granted to no role (the admin backend, the storefront,
-- reporting); the table is named by its OID (those roles may not look into
-- schema av)
SELECT pg_temp.skip_log();
SELECT 'av.account'::regclass::oid AS account \gset
SET ROLE loginas_admin;
SELECT pg_temp.attempt('SELECT loginas.redact(' || :account || ', ''nickname'')');
SELECT pg_temp.attempt('SELECT loginas.unredact(' || :account || ', ''card_number'')');
SELECT pg_temp.attempt('SELECT loginas.log_values(' || :account || ', false)');
SET ROLE loginas_reporting;
SELECT pg_temp.attempt('SELECT loginas.redact(' || :account || ', ''nickname'')');
SET ROLE regress_av_web;
SELECT pg_temp.attempt('SELECT loginas.log_values(' || :account || ', false)');
SELECT pg_temp.attempt('SELECT loginas.unredact(' || :account || ', ''card_number'')');
RESET ROLE;
SELECT count(*) AS nothing_logged_by_refusals FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- A session of ada for Veronica (<s1>): an update, an insert with values of
-- every kind, a delete
------------------------------------------------------------------------------
SELECT token AS t FROM loginas.begin(1, 1, reason => 'call 5150') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset
INSERT INTO pg_temp.sess VALUES ('s1', :sid);
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
-- the Magento example: the grand total of a cart, 82.0000 -> 102.0000
UPDATE av.quote SET grand_total = 102, status = 'review', updated_at = '2024-03-01 13:30:00+01'
 WHERE quote_id = 10;
INSERT INTO av.quote_item VALUES (13, 10, 'CAP', 2, 10.5, 'green', '{red,blue}', '{38,40}', '(9.99,EUR)',
	'[1,5)', '7', '{7,8}', '9', '\xdeadbeef', '{"gift": true, "note": "für dich"}', '2024-03-02',
	'1 day 02:00:00', true, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');
DELETE FROM av.quote_item WHERE item_id = 12;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.new_log();
SELECT * FROM pg_temp.new_values();
-- the logged item's hostile values were never printed (its output raises)
SELECT pg_temp.attempt($$SELECT odd::text FROM av.quote_item WHERE item_id = 13$$) AS printing_it_raises;
-- the settings of the writing session do not change what is logged
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
SET LOCAL DateStyle = 'German';
SET LOCAL extra_float_digits = -15;
SET LOCAL bytea_output = 'escape';
SET LOCAL IntervalStyle = 'sql_standard';
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.quote SET updated_at = '2024-03-01 14:00:00+00', weight = 0.1 WHERE quote_id = 10;
UPDATE av.quote_item SET payload = '\x00ff', due = '2024-12-24', took = '3 days' WHERE item_id = 13;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.new_values();
-- a value repeated from one row to the next is printed once and written again
-- for each row: rows alternating between two timestamps, two weights (one of
-- them -0, which prints apart from 0) and two counts each log their own
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
INSERT INTO av.quote (quote_id, customer_id, grand_total, updated_at, weight)
SELECT 100 + g, 1, g % 2,
	   CASE WHEN g % 2 = 0 THEN timestamptz '2024-05-01 10:00:00+00' ELSE '2024-05-02 11:30:00.5+00' END,
	   CASE WHEN g % 3 = 0 THEN 0.25 WHEN g % 3 = 1 THEN float8 '-0' ELSE 0 END
  FROM generate_series(1, 6) g;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.new_values() WHERE col IN ('updated_at', 'weight', 'grand_total');
-- the same for an update, which prints a column's value before and after
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.quote SET updated_at = updated_at + interval '1 hour' * (quote_id % 3), weight = -weight
 WHERE quote_id > 100;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.new_values() WHERE col IN ('updated_at', 'weight');
-- each logged value is the row's own, before and after
SELECT count(*) AS rows_checked,
	   count(*) FILTER (WHERE (v.x -> 'updated_at' ->> 1)::timestamptz IS DISTINCT FROM q.updated_at
						   AND v.x ? 'updated_at') AS wrong_times
  FROM loginas.action_log l
 CROSS JOIN LATERAL jsonb_array_elements(l.details -> 'values') WITH ORDINALITY v(x, o)
  JOIN av.quote q ON q.quote_id = (l.details -> 'keys' -> (v.o - 1)::int ->> 0)::int
 WHERE l.log_id > (SELECT m.log_id FROM pg_temp.mark m) AND l.action = 'write_update';

------------------------------------------------------------------------------
-- Redaction: a sensitive column is logged as changed, without its value; a
-- protected one the same (a delete logs the row's columns: not these)
------------------------------------------------------------------------------
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.account SET card_number = 'SECRET-CARD-5500', nickname = 'Veronica' WHERE account_id = 1;
INSERT INTO av.account (account_id, customer_id, email, card_number, nickname)
	VALUES (3, 1, 'v3@example.com', 'SECRET-CARD-3700', 'Third');
DELETE FROM av.account WHERE account_id = 2;
COMMIT;
-- a protected column may change and change back within the transaction:
-- both updates are logged, neither with a value
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.account SET password_hash = 'pbkdf2$SECRET-FOR-A-MOMENT' WHERE account_id = 1;
UPDATE av.account SET password_hash = 'pbkdf2$SECRET-HASH-OF-VERONICA' WHERE account_id = 1;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.new_log();
SELECT * FROM pg_temp.new_values();

-- No secret in any relation a role may read, nor in any report.  Every
-- relation of schema loginas readable by one of the four roles is listed,
-- then searched (as text, every row) for the secrets written above.
CREATE TEMP TABLE secret (s text);
INSERT INTO secret VALUES ('SECRET-CARD-4111'), ('SECRET-CARD-5500'), ('SECRET-CARD-3700'),
	('SECRET-HASH-OF-WORK'), ('SECRET-FOR-A-MOMENT'), ('SECRET-HASH-OF-VERONICA');
CREATE TEMP TABLE readable AS
SELECT c.oid::regclass AS relation, c.relkind,
	   array_agg(r.rolname ORDER BY r.rolname) AS roles
  FROM pg_class c
 CROSS JOIN pg_roles r
 WHERE c.relnamespace = 'loginas'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND r.rolname IN ('loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor')
   AND has_table_privilege(r.rolname, c.oid, 'SELECT')
 GROUP BY c.oid, c.relkind;
SELECT relation, relkind, roles FROM readable ORDER BY relation::text;
CREATE FUNCTION pg_temp.hits() RETURNS TABLE (relation regclass, hits bigint) LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT rd.relation FROM pg_temp.readable rd LOOP
		relation := r.relation;
		EXECUTE format('SELECT count(*) FROM %s x, pg_temp.secret s WHERE strpos(x::text, s.s) > 0', r.relation)
		   INTO hits;
		RETURN NEXT;
	END LOOP;
END
$$;
SELECT sum(hits) AS secrets_in_readable_relations, count(*) AS relations_searched,
	   count(*) FILTER (WHERE relation = 'loginas.action_log'::regclass) AS action_log_searched
  FROM pg_temp.hits();
SELECT count(*) AS secrets_in_reports FROM pg_temp.secret s
 WHERE EXISTS (SELECT FROM loginas.actions_report(page_size => 10000) r WHERE strpos(r::text, s.s) > 0)
	OR EXISTS (SELECT FROM loginas.customer_history(1) r WHERE strpos(r::text, s.s) > 0)
	OR EXISTS (SELECT FROM loginas.admin_activity(1) r WHERE strpos(r::text, s.s) > 0)
	OR EXISTS (SELECT FROM loginas.sessions r WHERE strpos(r::text, s.s) > 0);
-- (the search finds what it looks for: the e-mail of the deleted account is there)
SELECT count(*) > 0 AS search_finds_a_logged_value FROM loginas.action_log l
 WHERE strpos(l::text, 'veronica.work@example.com') > 0;

------------------------------------------------------------------------------
-- Long values: cut at 1,024 bytes (whole characters), marked with their
-- length; a 1 MB text is read only as far as needed (its length still told)
------------------------------------------------------------------------------
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.big SET body = repeat('é', 1000), label = repeat('x', 1024) WHERE big_id = 1;
INSERT INTO av.big VALUES (2, 1, repeat('abcdefghij', 100000), repeat('y', 1025));
COMMIT;
RESET ROLE;
SELECT v.action, v.key, v.col,
	   jsonb_typeof(v.value) AS kind,
	   CASE WHEN jsonb_typeof(v.value) = 'array' THEN
			(SELECT string_agg(COALESCE(e ->> 'bytes', octet_length(e #>> '{}')::text) || ' bytes'
								|| CASE WHEN e ? 'cut' THEN ', cut to ' || octet_length(e ->> 'cut') ELSE '' END, ' -> ')
			   FROM jsonb_array_elements(v.value) e)
			ELSE COALESCE(v.value ->> 'bytes', octet_length(v.value #>> '{}')::text) || ' bytes'
				 || CASE WHEN v.value ? 'cut' THEN ', cut to ' || octet_length(v.value ->> 'cut') ELSE '' END
	   END AS logged
  FROM pg_temp.new_values() v WHERE v.col IN ('body', 'label');
-- the cut keeps whole characters: 512 of the 2-byte é
SELECT (l.details #>> '{values,0,body,1,cut}') = repeat('é', 512) AS whole_characters
  FROM loginas.action_log l WHERE l.log_id > (SELECT log_id FROM pg_temp.mark) AND l.action = 'write_update';

------------------------------------------------------------------------------
-- A table whose values are not logged: keys and changed columns only, as
-- before 1.3
------------------------------------------------------------------------------
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.note SET body = 'changed note' WHERE note_id = 1;
INSERT INTO av.note VALUES (2, 1, 'second note');
COMMIT;
RESET ROLE;
SELECT action, l.details FROM loginas.action_log l
 WHERE l.log_id > (SELECT log_id FROM pg_temp.mark) ORDER BY log_id;

------------------------------------------------------------------------------
-- Many rows: parts of at most ~1 MB of keys and values, each part's values
-- aligned with its keys; a rolled-back savepoint's rows and values go
------------------------------------------------------------------------------
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
INSERT INTO av.big SELECT g, 1, repeat('v', 900), 'bulk' FROM generate_series(100, 3099) g;
SAVEPOINT a;
INSERT INTO av.big SELECT g, 1, 'gone', 'rolled back' FROM generate_series(5000, 5009) g;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
UPDATE av.big SET label = 'kept' WHERE big_id IN (100, 101);
RELEASE SAVEPOINT b;
COMMIT;
RESET ROLE;
SELECT l.action, l.details ->> 'part' AS part, l.details ->> 'parts' AS parts, (l.details ->> 'rows')::int AS rows,
	   jsonb_array_length(l.details -> 'keys') AS keys, jsonb_array_length(l.details -> 'values') AS "values",
	   octet_length(l.details::text) < 1100000 AS within_bound,
	   (SELECT bool_and(CASE WHEN l.action = 'write_insert' THEN v.x ->> 'big_id' = k.x ->> 0
							 ELSE v.x -> 'label' ->> 0 = 'bulk' END)
		  FROM jsonb_array_elements(l.details -> 'values') WITH ORDINALITY v(x, o)
		  JOIN jsonb_array_elements(l.details -> 'keys') WITH ORDINALITY k(x, o) USING (o)) AS aligned
  FROM loginas.action_log l WHERE l.log_id > (SELECT log_id FROM pg_temp.mark) ORDER BY l.log_id;
SELECT count(*) AS rolled_back_values_logged FROM loginas.action_log l
 WHERE l.log_id > (SELECT log_id FROM pg_temp.mark) AND strpos(l.details::text, 'rolled back') > 0;

------------------------------------------------------------------------------
-- The reports show the values
------------------------------------------------------------------------------
SELECT "Action", pg_temp.mask("Details") AS "Details" FROM loginas.actions_report(page_size => 100)
 WHERE "Details" LIKE '%av.quote%' ORDER BY "Time", "Action";
SELECT "Action", "Table", "Keys", "Details" FROM loginas.customer_history(1)
 WHERE "Table" IN ('av.quote', 'av.account') ORDER BY "Time", "Action";
SELECT "Action", "Details" FROM loginas.admin_activity(1)
 WHERE "Details" LIKE 'av.note%' ORDER BY "Time", "Action";

------------------------------------------------------------------------------
-- The values are in the hash chain: verify_log() finds an edited value
------------------------------------------------------------------------------
SELECT intact, problem FROM loginas.verify_log();
BEGIN;
ALTER TABLE loginas.action_log DISABLE TRIGGER USER;
UPDATE loginas.action_log
   SET details = jsonb_set(details, '{values,0,grand_total,1}', '"1020.0000"')
 WHERE log_id = (SELECT max(log_id) FROM loginas.action_log WHERE details @> '{"table": "av.quote", "changed_columns": ["grand_total"]}');
SELECT intact, problem,
	   log_id = (SELECT max(log_id) FROM loginas.action_log WHERE details @> '{"table": "av.quote", "changed_columns": ["grand_total"]}') AS the_edited_row
  FROM loginas.verify_log();
ROLLBACK;
SELECT intact, problem FROM loginas.verify_log();

------------------------------------------------------------------------------
-- A sensitive column renamed: its values would be logged under the new name,
-- so the session's writes are refused until it is redacted again
------------------------------------------------------------------------------
ALTER TABLE av.account RENAME card_number TO card_no;
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE av.account SET card_no = 'SECRET-CARD-6011' WHERE account_id = 1$$);
ROLLBACK;
RESET ROLE;
SELECT loginas.redact('av.account', 'card_no') AS redacted_new, loginas.unredact('av.account', 'card_number') AS unredacted_old;
SELECT pg_temp.skip_log();
SET ROLE regress_av_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE av.account SET card_no = 'SECRET-CARD-6011' WHERE account_id = 1;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.new_values();
SELECT count(*) AS secret_logged FROM loginas.action_log WHERE strpos(details::text, 'SECRET-CARD-6011') > 0;

------------------------------------------------------------------------------
-- Clean up: end the session, untrack, drop the tables and roles, restore
-- the defaults
------------------------------------------------------------------------------
SELECT loginas."end"(:'key');
SELECT loginas.untrack('av.quote_item'), loginas.untrack('av.quote'), loginas.untrack('av.account'),
	   loginas.untrack('av.note'), loginas.untrack('av.big');
SELECT count(*) AS redacted_columns_left FROM loginas.redacted_column;
DROP SCHEMA av CASCADE;
DROP OWNED BY regress_av_web;
DROP ROLE regress_av_web;
DROP ROLE regress_av_owner;
\if :had_consent
\else
SELECT loginas.set_assistance(1, false);
\endif
\if :granted_here
SELECT loginas.revoke('Administrators', 'login');
\endif
\if :was_enabled
\else
SELECT loginas.configure('enabled', 'off');
\endif
