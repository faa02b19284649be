-- revert: undoing a Login as Customer session (loginas.revert).
--   * every kind of write put back, as one transaction (identity and
--     generated columns included): rows the session
--     inserted deleted (children before parents), rows it updated given their
--     values back (protected and sensitive columns included), rows it deleted
--     inserted again (parents before children), a key it changed and a row
--     it moved to another partition, a table tracked with stamps => 'table',
--     a value of a type whose output function raises (restored bit for bit:
--     no output or input function runs); the tables equal what they were
--     before the session;
--   * the revert's writes stamped and logged as the revert (a session of its
--     own, "revert of session N"), its own log action session_reverted, the
--     reports, verify_log();
--   * a dry run lists what would happen (also while the session is live) and
--     changes nothing;
--   * a row written after the session by someone else (updated -- even to
--     the same values --, deleted, its key taken again), or between two
--     transactions of the session, refuses the whole revert, listing the
--     rows; nothing is written; a row put back as it was before the session
--     needs nothing;
--   * refusals, each with its SQLSTATE and message: no "revert" resource, an
--     unknown or inactive admin, no by_admin, an unknown or live session, a
--     missing or long reason, in a session, a second revert, a revert of a
--     revert, a read-only transaction, images incomplete or purged with the
--     log, roles without EXECUTE;
--   * a session with no writes is reverted (nothing to do, logged);
--   * the images are complete (the secrets are in them) but no role can read
--     them, and no relation a role can read holds a secret.
-- The isolation spec revert_vs_write races a revert with a write of the same
-- row.  The shop of sql/setup.sql: admins 1 ada (Administrators), 2 sam
-- (Support), 3 old (inactive); customer 1 Veronica.  Its own schema rv and
-- roles regress_rv_owner (owns the tables), regress_rv_web (the storefront).
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
	FOR r IN SELECT name, id FROM pg_temp.sess ORDER BY id DESC LOOP
		t := regexp_replace(t, '([Ss]ession) ' || r.id || '\M', '\1 <' || r.name || '>', 'g');
	END LOOP;
	RETURN regexp_replace(t, 'at \d{4}-\d\d-\d\d [0-9:]+ UTC', 'at <time>', 'g');
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
CREATE TEMP TABLE mark AS SELECT COALESCE(max(log_id), 0) AS log_id FROM loginas.action_log;
CREATE FUNCTION pg_temp.skip_log() RETURNS void LANGUAGE sql AS $$
	UPDATE pg_temp.mark SET log_id = (SELECT COALESCE(max(a.log_id), 0) FROM loginas.action_log a)
$$;
CREATE FUNCTION pg_temp.new_log(OUT action text, OUT admin text, OUT session text, OUT source text,
		OUT reason text, OUT details jsonb)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	SELECT l.action, l.admin_id || ' ' || l.admin_username, pg_temp.s(l.session_id), pg_temp.mask(l.source), l.reason,
		   CASE WHEN l.details ? 'session' THEN l.details || jsonb_build_object('session', pg_temp.s((l.details ->> 'session')::bigint))
				ELSE l.details END
	  FROM loginas.action_log l WHERE l.log_id > (SELECT m.log_id FROM pg_temp.mark m) ORDER BY l.log_id;
	PERFORM pg_temp.skip_log();
END
$$;

------------------------------------------------------------------------------
-- The shop: carts and their items, profiles with a password hash
-- (protected) and a card number (sensitive), orders partitioned by id,
-- wishes (stamps kept in loginas.row_stamp), documents with a value of a
-- type whose output function raises
------------------------------------------------------------------------------
SELECT value = 'on' AS was_enabled FROM loginas.settings WHERE name = 'enabled' \gset
SELECT loginas.assistance_allowed(1) AS had_consent \gset
SELECT loginas.configure('enabled', 'on') AS enabled;
SELECT loginas.grant('Administrators', 'login') AS granted_login \gset
SELECT loginas.grant('Support', 'login') AS granted_support \gset
SELECT loginas.set_assistance(1, true) IS NOT NULL AS consent;
CREATE ROLE regress_rv_owner NOLOGIN;
CREATE ROLE regress_rv_web NOLOGIN;
GRANT loginas_storefront TO regress_rv_web;
CREATE SCHEMA rv AUTHORIZATION regress_rv_owner;
GRANT USAGE ON SCHEMA rv TO regress_rv_web;
CREATE TYPE rv.hostile;
-- (the shell type's notices differ between majors: not shown)
SET client_min_messages = warning;
CREATE FUNCTION rv.hostile_in(cstring) RETURNS rv.hostile LANGUAGE internal IMMUTABLE STRICT AS 'int4in';
CREATE FUNCTION rv.hostile_out(rv.hostile) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'enum_out';
CREATE TYPE rv.hostile (INPUT = rv.hostile_in, OUTPUT = rv.hostile_out, INTERNALLENGTH = 4,
	PASSEDBYVALUE, ALIGNMENT = int4);
RESET client_min_messages;
-- its bytes, without its output function (a binary-coercible cast to int4)
CREATE CAST (rv.hostile AS int4) WITHOUT FUNCTION;
CREATE FUNCTION rv.hostile_bytes(h rv.hostile) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT h::int4 $$;
ALTER TYPE rv.hostile OWNER TO regress_rv_owner;
SET ROLE regress_rv_owner;
CREATE TABLE rv.cart (cart_id int PRIMARY KEY, customer_id int, grand_total numeric(12,2) NOT NULL DEFAULT 0,
	coupon text, note text);
CREATE TABLE rv.cart_item (item_id int PRIMARY KEY, cart_id int NOT NULL REFERENCES rv.cart, sku text, qty int,
	gift_code text);
CREATE TABLE rv.profile (profile_id int PRIMARY KEY, customer_id int NOT NULL, email text, password_hash text,
	card_number text);
CREATE TABLE rv.sales_order (order_id int PRIMARY KEY, customer_id int, status text) PARTITION BY RANGE (order_id);
CREATE TABLE rv.sales_order_p1 PARTITION OF rv.sales_order FOR VALUES FROM (1) TO (1000);
CREATE TABLE rv.sales_order_p2 PARTITION OF rv.sales_order FOR VALUES FROM (1000) TO (2000);
CREATE TABLE rv.wish (wish_id int PRIMARY KEY, customer_id int, product text);
CREATE TABLE rv.doc (doc_id int PRIMARY KEY, customer_id int, odd rv.hostile, note text);
CREATE TABLE rv.remark (remark_id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id int, body text,
	body_length int GENERATED ALWAYS AS (length(body)) STORED);
INSERT INTO rv.cart VALUES (10, 1, 30, 'WELCOME10', 'first cart'), (12, 1, 9, NULL, 'old cart'), (20, 2, 5, NULL, 'John''s');
INSERT INTO rv.cart_item VALUES (101, 10, 'MUG', 1, NULL), (102, 10, 'TEE', 2, 'GIFT-SECRET-102'), (121, 12, 'PEN', 1, NULL),
	(201, 20, 'CAP', 1, NULL);
INSERT INTO rv.profile VALUES (1, 1, 'veronica@example.com', 'pbkdf2$SECRET-HASH-1', 'SECRET-CARD-1111'),
	(2, 1, 'veronica.work@example.com', 'pbkdf2$SECRET-HASH-2', 'SECRET-CARD-2222');
INSERT INTO rv.sales_order VALUES (1, 1, 'pending'), (2, 1, 'pending'), (1001, 1, 'pending');
INSERT INTO rv.wish VALUES (1, 1, 'Teapot');
INSERT INTO rv.doc VALUES (1, 1, '7', 'seven');
INSERT INTO rv.remark (customer_id, body) VALUES (1, 'first remark'), (1, 'second remark');
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA rv TO regress_rv_web;
RESET ROLE;
SELECT loginas.track('rv.cart', 'customer_id');
SELECT loginas.track('rv.cart_item', parent => 'rv.cart');
SELECT loginas.track('rv.profile', 'customer_id');
SELECT loginas.track('rv.sales_order', 'customer_id');
SELECT loginas.track('rv.wish', 'customer_id', stamps => 'table');
SELECT loginas.track('rv.doc', 'customer_id');
SELECT loginas.track('rv.remark', 'customer_id');
SELECT loginas.protect('rv.cart', 'coupon'), loginas.protect('rv.profile', 'password_hash');
SELECT loginas.redact('rv.profile', 'card_number'), loginas.redact('rv.cart_item', 'gift_code');
-- "Revert Login as Customer Sessions", a role resource of its own
SELECT resource, label FROM loginas.resource WHERE resource = 'revert';
SELECT loginas.grant('Administrators', 'revert') AS granted_revert \gset
SELECT role, resource, label FROM loginas.permissions WHERE resource = 'revert';
-- the shop's tables as text, stamps left out (rv.doc: its hostile column as bytes)
CREATE FUNCTION pg_temp.shop() RETURNS TABLE (tbl text, row_text text) LANGUAGE sql AS $$
	SELECT 'cart', (to_jsonb(c) - 'loginas_created_session' - 'loginas_changed_session')::text FROM rv.cart c
	UNION ALL SELECT 'cart_item', (to_jsonb(i) - 'loginas_created_session' - 'loginas_changed_session')::text FROM rv.cart_item i
	UNION ALL SELECT 'profile', (to_jsonb(p) - 'loginas_created_session' - 'loginas_changed_session')::text FROM rv.profile p
	UNION ALL SELECT 'sales_order', (to_jsonb(o) - 'loginas_created_session' - 'loginas_changed_session')::text FROM rv.sales_order o
	UNION ALL SELECT 'wish', to_jsonb(w)::text FROM rv.wish w
	UNION ALL SELECT 'doc', jsonb_build_object('doc_id', d.doc_id, 'odd', rv.hostile_bytes(d.odd), 'note', d.note)::text FROM rv.doc d
	UNION ALL SELECT 'remark', (to_jsonb(r) - 'loginas_created_session' - 'loginas_changed_session')::text FROM rv.remark r
	ORDER BY 1, 2
$$;
CREATE TEMP TABLE before_session AS SELECT * FROM pg_temp.shop();

------------------------------------------------------------------------------
-- Session <s1> of ada for Veronica: every kind of write, in two transactions
------------------------------------------------------------------------------
SELECT token AS t FROM loginas.begin(1, 1, reason => 'call 7007') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset
INSERT INTO pg_temp.sess VALUES ('s1', :sid);
SET ROLE regress_rv_web;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
-- updates (a sensitive column too), a new cart with items, an item deleted,
-- a cart deleted with its item (children first), a profile deleted (with
-- its secrets), orders: a status, a key changed, a row moved to the other
-- partition; a wish (stamps in loginas.row_stamp); a document with the
-- hostile value
UPDATE rv.cart SET grand_total = 45, note = 'changed by the admin' WHERE cart_id = 10;
UPDATE rv.cart_item SET qty = 3, gift_code = 'GIFT-SECRET-NEW' WHERE item_id = 102;
INSERT INTO rv.cart VALUES (11, 1, 12, NULL, 'a new cart');
INSERT INTO rv.cart_item VALUES (111, 11, 'BAG', 1, NULL), (112, 11, 'HAT', 1, 'GIFT-SECRET-112');
DELETE FROM rv.cart_item WHERE item_id = 101;
DELETE FROM rv.cart_item WHERE item_id = 121;
DELETE FROM rv.cart WHERE cart_id = 12;
DELETE FROM rv.profile WHERE profile_id = 2;
UPDATE rv.profile SET card_number = 'SECRET-CARD-9999', email = 'vero@example.com' WHERE profile_id = 1;
UPDATE rv.sales_order SET status = 'canceled' WHERE order_id = 1;
UPDATE rv.sales_order SET order_id = 1002 WHERE order_id = 2;
INSERT INTO rv.wish VALUES (2, 1, 'Kettle');
UPDATE rv.wish SET product = 'Teapot, blue' WHERE wish_id = 1;
UPDATE rv.doc SET odd = '8', note = 'eight' WHERE doc_id = 1;
-- an identity column (GENERATED ALWAYS) and a generated one: a row deleted
-- comes back with its id, a new one goes, a changed one's body comes back
-- (its length computed again)
DELETE FROM rv.remark WHERE remark_id = 1;
UPDATE rv.remark SET body = 'changed' WHERE remark_id = 2;
INSERT INTO rv.remark (customer_id, body) VALUES (1, 'new remark');
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') IS NOT NULL AS assumed;
UPDATE rv.cart SET grand_total = 46 WHERE cart_id = 10;
UPDATE rv.cart_item SET qty = 2 WHERE item_id = 112;
COMMIT;
RESET ROLE;
SELECT tbl, row_text FROM pg_temp.shop() EXCEPT SELECT * FROM before_session ORDER BY 1, 2;
CREATE TEMP TABLE after_session AS SELECT * FROM pg_temp.shop();

------------------------------------------------------------------------------
-- A dry run, while the session is live: what would happen, nothing done
------------------------------------------------------------------------------
SELECT * FROM loginas.revert(:sid, 1, dry_run => true);
SELECT count(*) AS changed_by_the_dry_run FROM (SELECT * FROM pg_temp.shop() EXCEPT ALL SELECT * FROM after_session) x;
-- refused while the session is live (it could write after the revert)
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, 'call 7008'));
SELECT loginas."end"(:'key');

------------------------------------------------------------------------------
-- Refusals: each with its SQLSTATE and message; none writes anything
------------------------------------------------------------------------------
SELECT pg_temp.skip_log();
-- an admin without the resource (sam: Support), inactive, unknown, none
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 2, %L)', :sid, 'call 7008'));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 2, dry_run => true)', :sid));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 3, %L)', :sid, 'call 7008'));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 99, %L)', :sid, 'call 7008'));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, NULL::bigint, %L)', :sid, 'call 7008'));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, %L, %L)', :sid, 'nobody', 'call 7008'));
-- the session: unknown, NULL; the reason: none, blank, too long
SELECT pg_temp.attempt('SELECT * FROM loginas.revert(999999, 1, ''call 7008'')');
SELECT pg_temp.attempt('SELECT * FROM loginas.revert(NULL, 1, ''call 7008'')');
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1)', :sid));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, '  '));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, repeat('x', 1001)));
-- in a Login as Customer session (another one of Veronica's)
SELECT token AS t2 FROM loginas.begin(2, 1) \gset
SELECT session_key AS key2, session_id AS sid2 FROM loginas.redeem(:'t2') \gset
INSERT INTO pg_temp.sess VALUES ('s2', :sid2);
BEGIN;
SELECT loginas.assume(:'key2') IS NOT NULL AS assumed;
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, 'call 7008'));
ROLLBACK;
-- a read-only transaction
BEGIN READ ONLY;
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, 'call 7008'));
ROLLBACK;
-- roles without EXECUTE: the storefront, reporting (the admin backend has it)
SET ROLE loginas_storefront;
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, 'call 7008'));
SET ROLE loginas_reporting;
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, dry_run => true)', :sid));
RESET ROLE;
SELECT has_function_privilege('loginas_admin', 'loginas.revert(bigint, bigint, text, boolean)', 'EXECUTE') AS admin_backend,
	   has_function_privilege('loginas_admin', 'loginas.revert(bigint, text, text, boolean)', 'EXECUTE') AS admin_backend_text;
SELECT count(*) AS nothing_logged FROM pg_temp.new_log();
SELECT count(*) AS no_revert_session FROM loginas.session WHERE source_kind = 'revert';

------------------------------------------------------------------------------
-- The revert of <s1> by ada (the admin backend), as one transaction
------------------------------------------------------------------------------
SET ROLE loginas_admin;
SELECT * FROM loginas.revert(:sid, 1, 'customer asked to undo call 7007');
RESET ROLE;
SELECT session_id AS rid FROM loginas.session WHERE source_kind = 'revert' \gset
INSERT INTO pg_temp.sess VALUES ('r1', :rid);
-- the shop is as it was before the session (stamps aside)
SELECT (SELECT count(*) FROM (SELECT * FROM pg_temp.shop() EXCEPT ALL SELECT * FROM before_session) x) AS rows_not_as_before,
	   (SELECT count(*) FROM (SELECT * FROM before_session EXCEPT ALL SELECT * FROM pg_temp.shop()) x) AS rows_missing;
-- the revert's writes carry the revert's stamps
SELECT 'cart' AS tbl, cart_id AS id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed
  FROM rv.cart UNION ALL
SELECT 'cart_item', item_id, pg_temp.s(loginas_created_session), pg_temp.s(loginas_changed_session) FROM rv.cart_item UNION ALL
SELECT 'profile', profile_id, pg_temp.s(loginas_created_session), pg_temp.s(loginas_changed_session) FROM rv.profile UNION ALL
SELECT 'sales_order', order_id, pg_temp.s(loginas_created_session), pg_temp.s(loginas_changed_session) FROM rv.sales_order UNION ALL
SELECT 'doc', doc_id, pg_temp.s(loginas_created_session), pg_temp.s(loginas_changed_session) FROM rv.doc UNION ALL
SELECT 'remark', remark_id, pg_temp.s(loginas_created_session), pg_temp.s(loginas_changed_session) FROM rv.remark
 ORDER BY 1, 2;
SELECT key, pg_temp.s(created_session) AS created, pg_temp.s(changed_session) AS changed FROM loginas.row_stamps
 WHERE relation = 'rv.wish'::regclass ORDER BY key;
-- the revert is a session of its own, ended; the log: its writes (with
-- values, protected and sensitive ones redacted) and session_reverted
SELECT pg_temp.s(session_id) AS session, status, admin_id, admin_username, customer_id, pg_temp.mask(source) AS source,
	   reason, end_reason, writes, tables_written
  FROM loginas.sessions WHERE session_id = :rid;
SELECT action, admin, session, source, reason,
	   details - 'values' || CASE WHEN details ? 'values' THEN jsonb_build_object('values', details -> 'values') ELSE '{}' END AS details
  FROM pg_temp.new_log();
SELECT "Action", pg_temp.mask("Details") AS "Details" FROM loginas.actions_report(page_size => 12)
 WHERE "Details" LIKE '%revert of session%' ORDER BY "Time", "Action", "Details";
SELECT "Action", pg_temp.s("Session") AS "Session", "Table", "Keys", pg_temp.mask("Details") AS "Details"
  FROM loginas.customer_history(1) WHERE "Session" = :rid ORDER BY "Time", "Action", "Keys";
SELECT intact, problem FROM loginas.verify_log();

-- a second revert, a revert of the revert: refused
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid, 'once more'));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :rid, 'undo the undo'));
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, dry_run => true)', :sid));

------------------------------------------------------------------------------
-- The images: complete rows as they were before each transaction of the
-- session first wrote them (the secrets held then are there; values only
-- the session wrote are not), readable by no role; no relation a role can
-- read holds a secret
------------------------------------------------------------------------------
SELECT r.rolname, has_table_privilege(r.rolname, 'loginas.row_image', 'SELECT') AS row_image,
	   has_table_privilege(r.rolname, 'loginas.session_image', 'SELECT') AS session_image
  FROM pg_roles r
 WHERE r.rolname IN ('loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor', 'loginas_reader', 'regress_rv_web')
 ORDER BY 1;
SET ROLE loginas_admin;
SELECT pg_temp.attempt('SELECT * FROM loginas.row_image');
RESET ROLE;
CREATE TEMP TABLE secret (s text);
INSERT INTO secret VALUES ('SECRET-HASH-2'), ('SECRET-CARD-2222'), ('SECRET-CARD-9999'), ('GIFT-SECRET-NEW'),
	('GIFT-SECRET-112');
SELECT s.s, count(*) FILTER (WHERE position(convert_to(s.s, 'UTF8') IN i.images) > 0) > 0 AS in_images
  FROM pg_temp.secret s CROSS JOIN loginas.row_image i WHERE i.session_id = :sid GROUP BY s.s ORDER BY s.s;
CREATE TEMP TABLE readable AS
SELECT c.oid::regclass AS relation
  FROM pg_class c
 WHERE c.relnamespace = 'loginas'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND EXISTS (SELECT FROM pg_roles r
				WHERE r.rolname IN ('loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor')
				  AND has_table_privilege(r.rolname, c.oid, 'SELECT'));
CREATE FUNCTION pg_temp.hits() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n bigint;
	total bigint := 0;
BEGIN
	FOR r IN SELECT rd.relation FROM pg_temp.readable rd LOOP
		EXECUTE format('SELECT count(*) FROM %s x, pg_temp.secret s WHERE strpos(x::text, s.s) > 0', r.relation) INTO n;
		total := total + n;
	END LOOP;
	RETURN total;
END
$$;
SELECT pg_temp.hits() AS secrets_in_readable_relations, (SELECT count(*) FROM readable) AS relations_searched,
	   (SELECT count(*) FROM readable WHERE relation::text LIKE '%image%') AS image_tables_readable;
SELECT count(*) AS secrets_in_reports FROM pg_temp.secret s
 WHERE EXISTS (SELECT FROM loginas.actions_report(page_size => 10000) r WHERE strpos(r::text, s.s) > 0)
	OR EXISTS (SELECT FROM loginas.customer_history(1) r WHERE strpos(r::text, s.s) > 0)
	OR EXISTS (SELECT FROM loginas.sessions r WHERE strpos(r::text, s.s) > 0);

------------------------------------------------------------------------------
-- Conflicts: rows written after the session by someone else refuse the
-- whole revert, listed; nothing is written.  Session <s2> (sam) writes; then
-- the shop changes a row it updated, writes one it updated without changing
-- it (a write all the same), deletes one it updated, and inserts again one
-- it deleted.
------------------------------------------------------------------------------
SET ROLE regress_rv_web;
BEGIN;
SELECT loginas.assume(:'key2') IS NOT NULL AS assumed;
UPDATE rv.cart SET note = 'sam was here' WHERE cart_id = 10;
UPDATE rv.cart_item SET qty = 9 WHERE item_id = 101;
UPDATE rv.profile SET email = 'sam-typed@example.com' WHERE profile_id = 1;
UPDATE rv.cart SET grand_total = 31 WHERE cart_id = 12;
DELETE FROM rv.cart_item WHERE item_id = 102;
INSERT INTO rv.cart_item VALUES (103, 10, 'SOCK', 1, NULL);
COMMIT;
RESET ROLE;
SELECT loginas."end"(:'key2');
-- outside any session: the shop's own writes
UPDATE rv.cart SET note = 'the shop changed it' WHERE cart_id = 10;
UPDATE rv.profile SET email = email WHERE profile_id = 1;
DELETE FROM rv.cart_item WHERE item_id = 101;
INSERT INTO rv.cart_item VALUES (102, 10, 'TEE', 1, NULL);
SELECT pg_temp.skip_log();
CREATE TEMP TABLE before_conflict AS SELECT * FROM pg_temp.shop();
SELECT * FROM loginas.revert(:sid2, 1, dry_run => true);
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid2, 'undo sam'));
SELECT (SELECT count(*) FROM (SELECT * FROM pg_temp.shop() EXCEPT ALL SELECT * FROM before_conflict) x) AS rows_changed,
	   (SELECT count(*) FROM pg_temp.new_log()) AS rows_logged,
	   (SELECT count(*) FROM loginas.session WHERE source = format('revert of session %s', :sid2)) AS revert_sessions;
-- written since, the rows stay conflicts even when put back as the session
-- left them; put back as they were before the session, they need nothing:
-- the revert goes through for the others
UPDATE rv.cart SET note = 'sam was here' WHERE cart_id = 10;
SELECT relation, key, action, conflict FROM loginas.revert(:sid2, 1, dry_run => true) WHERE relation = 'rv.cart';
UPDATE rv.cart SET note = 'first cart' WHERE cart_id = 10;
UPDATE rv.profile SET email = 'veronica@example.com' WHERE profile_id = 1;
INSERT INTO rv.cart_item VALUES (101, 10, 'MUG', 1, NULL);
UPDATE rv.cart_item SET qty = 2, gift_code = 'GIFT-SECRET-102' WHERE item_id = 102;
SELECT * FROM loginas.revert(:sid2, 1, 'undo sam');
SELECT cart_id, grand_total, note FROM rv.cart WHERE cart_id IN (10, 12) ORDER BY 1;
SELECT item_id, sku, qty FROM rv.cart_item WHERE cart_id = 10 ORDER BY 1;

-- Changed by someone else between two transactions of the session <s3>:
-- refused too, though the row is now as the session left it
SELECT token AS t3 FROM loginas.begin(1, 1) \gset
SELECT session_key AS key3, session_id AS sid3 FROM loginas.redeem(:'t3') \gset
INSERT INTO pg_temp.sess VALUES ('s3', :sid3);
BEGIN;
SELECT loginas.assume(:'key3') IS NOT NULL AS assumed;
UPDATE rv.cart SET grand_total = 50 WHERE cart_id = 10;
COMMIT;
UPDATE rv.cart SET grand_total = 51 WHERE cart_id = 10;
BEGIN;
SELECT loginas.assume(:'key3') IS NOT NULL AS assumed;
UPDATE rv.cart SET grand_total = 52 WHERE cart_id = 10;
COMMIT;
SELECT loginas."end"(:'key3');
SELECT * FROM loginas.revert(:sid3, 1, dry_run => true);
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid3, 'undo'));

------------------------------------------------------------------------------
-- A session with no writes: reverted, nothing to do, logged
------------------------------------------------------------------------------
SELECT token AS t4 FROM loginas.begin(1, 1) \gset
SELECT session_key AS key4, session_id AS sid4 FROM loginas.redeem(:'t4') \gset
INSERT INTO pg_temp.sess VALUES ('s4', :sid4);
SELECT loginas."end"(:'key4');
SELECT pg_temp.skip_log();
SELECT * FROM loginas.revert(:sid4, '1', 'nothing was written');
SELECT session_id AS rid4 FROM loginas.session WHERE source = format('revert of session %s', :sid4) \gset
INSERT INTO pg_temp.sess VALUES ('r4', :rid4);
SELECT action, admin, session, source, reason, details FROM pg_temp.new_log();
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid4, 'again'));

------------------------------------------------------------------------------
-- Images that do not cover the session's writes, or purged with the log:
-- refused (in transactions rolled back)
------------------------------------------------------------------------------
SELECT token AS t5 FROM loginas.begin(1, 1) \gset
SELECT session_key AS key5, session_id AS sid5 FROM loginas.redeem(:'t5') \gset
INSERT INTO pg_temp.sess VALUES ('s5', :sid5);
BEGIN;
SELECT loginas.assume(:'key5') IS NOT NULL AS assumed;
UPDATE rv.cart SET note = 'by s5' WHERE cart_id = 10;
COMMIT;
SELECT loginas."end"(:'key5');
-- (a session that wrote before loginas kept images)
BEGIN;
DELETE FROM loginas.row_image WHERE session_id = :sid5;
DELETE FROM loginas.session_image WHERE session_id = :sid5;
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid5, 'undo s5'));
ROLLBACK;
-- purged with the log: the images go with it
BEGIN;
SELECT loginas.set_log_retention('0');
SELECT loginas.purge_log(now()) > 0 AS purged;
SELECT count(*) AS images_left FROM loginas.row_image;
SELECT count(*) AS image_counts_left FROM loginas.session_image;
SELECT pg_temp.attempt(format('SELECT * FROM loginas.revert(%s, 1, %L)', :sid5, 'undo s5'));
ROLLBACK;
SELECT * FROM loginas.revert(:sid5, 1, 'undo s5');
SELECT cart_id, note FROM rv.cart WHERE cart_id = 10;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------
SELECT loginas.untrack('rv.cart_item'), loginas.untrack('rv.cart'), loginas.untrack('rv.profile'),
	   loginas.untrack('rv.sales_order'), loginas.untrack('rv.wish'), loginas.untrack('rv.doc'),
	   loginas.untrack('rv.remark');
SET client_min_messages = warning;
DROP SCHEMA rv CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_rv_web;
DROP ROLE regress_rv_web;
DROP ROLE regress_rv_owner;
\if :granted_revert
SELECT loginas.revoke('Administrators', 'revert');
\endif
\if :had_consent
\else
SELECT loginas.set_assistance(1, false);
\endif
\if :granted_support
SELECT loginas.revoke('Support', 'login');
\endif
\if :granted_login
SELECT loginas.revoke('Administrators', 'login');
\endif
\if :was_enabled
\else
SELECT loginas.configure('enabled', 'off');
\endif
