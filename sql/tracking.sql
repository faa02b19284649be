-- tracking: write attribution on the shop's own tables.
--   loginas.track (customer column and parent forms), untrack, protect,
--   unprotect, tracked_tables: stamp columns, idempotence, every refusal;
--   outside a session: writes change nothing but the (unforgeable) stamps
--   and are not logged;
--   inside a session: stamps, containment both ways (customer tables, child
--   tables through single and composite foreign keys, a grandchild),
--   protected columns, read-only sessions, TRUNCATE, COPY, partitioned tables
--   (a partition attached after track() included), names needing quotes,
--   ALTER TABLE while tracked, foreign-key cascades, INSERT ... ON CONFLICT;
--   the write log: one action_log row per (session, table, operation) of a
--   committed transaction, keys, changed column names and the rows' values
--   (protected ones never; suite audit_values has the rest), savepoints and
--   rollbacks; loginas.note.
-- At its start it enables the feature, grants "login" to the Administrators
-- and Support roles and gives Veronica's consent; it works on its own tables
-- in its own schemas (trk, "Shop Data") and one role (regress_track_app); at
-- its end it untracks and drops them and restores the defaults (settings,
-- grants, consents) so that privileges starts clean.
--
-- Session keys and tokens are random: captured with \gset, never printed.
-- Session ids depend on the suites before this one: pg_temp.sess names them
-- (<main>, <ro>) and every stamp, message and log row shows those names.
-- Refusals inside a session are shown by pg_temp.attempt(sql), which runs the
-- statement in a subtransaction and prints its SQLSTATE, message, detail and
-- hint (or "ok" and the row count); a refused statement writes nothing.
--
-- The shop (sql/setup.sql): admins 1 ada (Administrators), 2 sam (Support);
-- customers 1 Veronica Costello (store view 2), 2 John Doe.
\set VERBOSITY default

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
CREATE TEMP TABLE sess (name text PRIMARY KEY, id bigint UNIQUE);
-- a stamp or session id as the name of the session (NULL stays NULL; an id
-- of no session of this suite is shown as is)
CREATE FUNCTION pg_temp.s(id bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT COALESCE((SELECT '<' || name || '>' FROM pg_temp.sess WHERE sess.id = s.id), id::text)
$$;
-- session ids in a message replaced by the session's name
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
		-- containment as commit would judge it, so that a refused write is
		-- rolled back with this subtransaction
		PERFORM loginas.check_writes();
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
-- the same, SQLSTATE only (where only the SQLSTATE is the point)
CREATE FUNCTION pg_temp.attempt_state(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE q;
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas.check_writes();
	RETURN 'ok: ' || n || ' row(s)';
EXCEPTION WHEN OTHERS THEN
	RETURN 'ERROR ' || SQLSTATE;
END
$$;
-- the log rows written since the last call (the mark is kept in pg_temp.mark);
-- keys and changed_columns sorted, so multi-row statements print stably
CREATE TEMP TABLE mark AS SELECT COALESCE(max(log_id), 0) AS log_id FROM loginas.action_log;
CREATE FUNCTION pg_temp.new_log(OUT action text, OUT admin text, OUT customer text, OUT session text,
		OUT store_id bigint, OUT source text, OUT reason text, OUT details jsonb)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
	m bigint := (SELECT log_id FROM pg_temp.mark);
BEGIN
	RETURN QUERY
	SELECT l.action, l.admin_id || ' ' || l.admin_username, l.customer_id || ' ' || l.customer_email,
		   pg_temp.s(l.session_id), l.store_id, l.source, l.reason,
		   CASE WHEN l.details ? 'keys' THEN
				l.details || jsonb_build_object('keys',
					(SELECT jsonb_agg(k ORDER BY k) FROM jsonb_array_elements(l.details -> 'keys') k))
		   ELSE l.details END
		   || CASE WHEN l.details ? 'changed_columns' THEN jsonb_build_object('changed_columns',
					(SELECT jsonb_agg(c ORDER BY c) FROM jsonb_array_elements(l.details -> 'changed_columns') c))
		   ELSE '{}' END
	  FROM loginas.action_log l WHERE l.log_id > m ORDER BY l.log_id;
	UPDATE pg_temp.mark SET log_id = (SELECT COALESCE(max(a.log_id), 0) FROM loginas.action_log a);
END
$$;
-- forget the log rows written so far (those not worth showing)
CREATE FUNCTION pg_temp.skip_log() RETURNS void LANGUAGE sql AS $$
	UPDATE pg_temp.mark SET log_id = (SELECT COALESCE(max(a.log_id), 0) FROM loginas.action_log a)
$$;
-- a relation's columns and its loginas triggers
CREATE FUNCTION pg_temp.cols(r regclass) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
	  FROM pg_attribute WHERE attrelid = r AND attnum > 0 AND NOT attisdropped
$$;
CREATE FUNCTION pg_temp.trigs(r regclass) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT COALESCE(string_agg(tgname, ', ' ORDER BY tgname), '(none)')
	  FROM pg_trigger WHERE tgrelid = r AND tgname LIKE 'zz_loginas%'
$$;

------------------------------------------------------------------------------
-- The feature on, two sessions for Veronica: <main> (ada, with a reason and a
-- source) and <ro> (sam, read-only)
------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login'), loginas.grant('Support', 'login');
SELECT loginas.set_assistance(1, true);
SELECT token AS t FROM loginas.begin(1, 1, reason => 'call 4711', source => 'customer edit page') \gset
SELECT session_key AS key, session_id AS sid, store_id FROM loginas.redeem(:'t') \gset
SELECT token AS t FROM loginas.begin(2, 1, read_only => true) \gset
SELECT session_key AS ro_key, session_id AS ro_sid FROM loginas.redeem(:'t') \gset
INSERT INTO pg_temp.sess VALUES ('main', :sid), ('ro', :ro_sid);
SELECT :store_id AS main_store_id, length(:'key') AS key_length;
SELECT pg_temp.skip_log();

------------------------------------------------------------------------------
-- The shop's tables (schema trk): carts and their items (ON DELETE CASCADE),
-- customer accounts with secrets, wishlists keyed by (store_id, wishlist_id)
-- with items and item options, orders partitioned by order_id, reviews
------------------------------------------------------------------------------
CREATE SCHEMA trk;
CREATE TABLE trk.quote (quote_id int PRIMARY KEY, customer_id int, items_count int NOT NULL DEFAULT 0,
	grand_total numeric(12,2) NOT NULL DEFAULT 0);
CREATE TABLE trk.quote_item (item_id int PRIMARY KEY, quote_id int REFERENCES trk.quote ON DELETE CASCADE,
	sku text NOT NULL, qty int NOT NULL DEFAULT 1);
INSERT INTO trk.quote VALUES (10, 1, 2, 30), (20, 2, 1, 5), (30, NULL, 0, 0), (40, 1, 1, 9);
INSERT INTO trk.quote_item VALUES (11, 10, 'MUG', 1), (12, 10, 'TEE', 1), (21, 20, 'CAP', 1), (41, 40, 'PEN', 1);
CREATE TABLE trk.account (account_id int PRIMARY KEY, customer_id int NOT NULL, email text,
	password_hash text, nickname text, card_token text);
INSERT INTO trk.account VALUES (1, 1, 'veronica@example.com', 'pbkdf2$veronica-secret-hash', 'Vero', NULL),
	(2, 2, 'john@example.com', 'pbkdf2$john-secret-hash', 'JD', 'tok_john_4242');
CREATE TABLE trk.wishlist (store_id int, wishlist_id int, customer_id bigint NOT NULL, name text,
	PRIMARY KEY (store_id, wishlist_id));
CREATE TABLE trk.wishlist_item (wishlist_item_id int PRIMARY KEY, store_id int, wishlist_id int, product text,
	FOREIGN KEY (store_id, wishlist_id) REFERENCES trk.wishlist);
CREATE TABLE trk.wishlist_item_option (option_id int PRIMARY KEY,
	wishlist_item_id int NOT NULL REFERENCES trk.wishlist_item, code text, value text);
-- (store 1, wishlist 1) is Veronica's, (store 2, wishlist 1) John's: only
-- both columns of the key tell them apart
INSERT INTO trk.wishlist VALUES (1, 1, 1, 'Veronica''s'), (2, 1, 2, 'John''s');
INSERT INTO trk.wishlist_item VALUES (101, 1, 1, 'Teapot'), (201, 2, 1, 'Kettle');
INSERT INTO trk.wishlist_item_option VALUES (1011, 101, 'color', 'red'), (2011, 201, 'color', 'blue');
CREATE TABLE trk.sales_order (order_id int PRIMARY KEY, customer_id int, status text) PARTITION BY RANGE (order_id);
CREATE TABLE trk.sales_order_p1 PARTITION OF trk.sales_order FOR VALUES FROM (1) TO (1000);
CREATE TABLE trk.sales_order_p2 PARTITION OF trk.sales_order FOR VALUES FROM (1000) TO (2000);
INSERT INTO trk.sales_order VALUES (1, 1, 'pending'), (2, 2, 'pending'), (1001, 1, 'pending'), (1002, 2, 'pending');
CREATE TABLE trk.review (review_id int PRIMARY KEY, customer_id int, body text);
INSERT INTO trk.review VALUES (1, 1, 'Nice mug'), (2, 2, 'Nice cap');

------------------------------------------------------------------------------
-- track(relation, customer_column): two nullable bigint stamp columns are
-- added and four triggers installed; the tracking is listed and logged
------------------------------------------------------------------------------
SELECT loginas.track('trk.quote', 'customer_id');
SELECT pg_temp.cols('trk.quote');
SELECT pg_temp.trigs('trk.quote');
SELECT attname, attnotnull FROM pg_attribute
 WHERE attrelid = 'trk.quote'::regclass AND attname LIKE 'loginas%' ORDER BY attnum;
SELECT * FROM pg_temp.new_log();
-- idempotent: tracking again changes nothing (no new column, same triggers, one entry)
SELECT loginas.track('trk.quote', 'customer_id');
SELECT pg_temp.cols('trk.quote');
SELECT pg_temp.trigs('trk.quote');
SELECT count(*) FROM loginas.tracked_tables WHERE relation = 'trk.quote'::regclass;
-- existing bigint stamp columns of the given names are reused (and keep their values)
CREATE TABLE trk.address (address_id int PRIMARY KEY, customer_id int, street text,
	loginas_created_session bigint, loginas_changed_session bigint);
INSERT INTO trk.address VALUES (1, 1, 'Main St 1', 77, NULL);
SELECT loginas.track('trk.address', 'customer_id');
SELECT pg_temp.cols('trk.address');
SELECT * FROM trk.address;
-- custom stamp names, one existing (bigint) and one added
CREATE TABLE trk.address_note (note_id int PRIMARY KEY, customer_id smallint, note text, made_by bigint);
SELECT loginas.track('trk.address_note', 'customer_id', created_column => 'made_by', changed_column => 'touched_by');
SELECT pg_temp.cols('trk.address_note');
SELECT pg_temp.trigs('trk.address_note');
-- the other tables
SELECT loginas.track('trk.account', customer_column => 'customer_id');
SELECT loginas.track('trk.wishlist', 'customer_id');
SELECT loginas.track('trk.sales_order', 'customer_id');
SELECT loginas.track('trk.review', 'customer_id');

------------------------------------------------------------------------------
-- track(relation, parent => ...): the join columns come from the foreign key
-- (composite keys too); a child of a child
------------------------------------------------------------------------------
SELECT loginas.track('trk.quote_item', parent => 'trk.quote');
SELECT loginas.track('trk.wishlist_item', parent => 'trk.wishlist');
SELECT loginas.track('trk.wishlist_item_option', parent => 'trk.wishlist_item');
SELECT pg_temp.cols('trk.wishlist_item');
SELECT pg_temp.trigs('trk.wishlist_item_option');
SELECT action, details FROM pg_temp.new_log() WHERE details ->> 'table' LIKE 'trk.wish%';
-- idempotent too
SELECT loginas.track('trk.quote_item', parent => 'trk.quote');
SELECT pg_temp.cols('trk.quote_item');
SELECT pg_temp.skip_log();

------------------------------------------------------------------------------
-- track refusals, each with its SQLSTATE
------------------------------------------------------------------------------
CREATE TABLE trk.no_key (customer_id int, note text);
CREATE VIEW trk.quote_view AS SELECT * FROM trk.quote;
CREATE SEQUENCE trk.seq;
CREATE TABLE trk.by_email (id int PRIMARY KEY, customer_email text);
CREATE TABLE trk.bad_stamp (id int PRIMARY KEY, customer_id int, loginas_changed_session int);
CREATE TABLE trk.loose_item (id int PRIMARY KEY, quote_id int);
CREATE TABLE trk.two_ways (id int PRIMARY KEY, quote_id int REFERENCES trk.quote, old_quote_id int REFERENCES trk.quote);
CREATE TABLE trk.lonely (lonely_id int PRIMARY KEY, customer_id int);
CREATE TABLE trk.lonely_item (id int PRIMARY KEY, lonely_id int REFERENCES trk.lonely);
-- no primary key
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.no_key', 'customer_id')$$);
-- not a table: a view, a sequence
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.quote_view', 'customer_id')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.seq', 'customer_id')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track(NULL, 'customer_id')$$);
-- unknown customer column; not an integer
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.by_email', 'customer_id')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.by_email', 'customer_email')$$);
-- an existing stamp column that is not bigint; two stamp columns of one name
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.bad_stamp', 'customer_id')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.bad_stamp', 'customer_id', 'stamp', 'stamp')$$);
-- a child without a foreign key to the parent; with two
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.loose_item', parent => 'trk.quote')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.two_ways', parent => 'trk.quote')$$);
-- the parent is not tracked (NULL neither)
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.lonely_item', parent => 'trk.lonely')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.lonely_item', parent => NULL)$$);
-- a refused track() changed nothing: no column added, no trigger, not listed
SELECT pg_temp.cols('trk.by_email') AS by_email, pg_temp.cols('trk.bad_stamp') AS bad_stamp,
	   pg_temp.trigs('trk.bad_stamp') AS bad_stamp_triggers, pg_temp.cols('trk.lonely_item') AS lonely_item;
SELECT count(*) AS listed FROM loginas.tracked_tables
 WHERE relation IN ('trk.no_key'::regclass, 'trk.by_email'::regclass, 'trk.bad_stamp'::regclass,
					'trk.loose_item'::regclass, 'trk.two_ways'::regclass, 'trk.lonely_item'::regclass);
DROP TABLE trk.no_key, trk.by_email, trk.bad_stamp, trk.loose_item, trk.two_ways, trk.lonely_item, trk.lonely;
DROP VIEW trk.quote_view;
DROP SEQUENCE trk.seq;

------------------------------------------------------------------------------
-- protect / unprotect
------------------------------------------------------------------------------
SELECT loginas.protect('trk.account', 'password_hash'), loginas.protect('trk.account', 'email'),
	   loginas.protect('trk.account', 'card_token');
-- already protected: false
SELECT loginas.protect('trk.account', 'email');
-- a table that is not tracked; an unknown column
CREATE TABLE trk.untracked (id int PRIMARY KEY, secret text);
SELECT * FROM pg_temp.attempt($$SELECT loginas.protect('trk.untracked', 'secret')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.protect('trk.account', 'no_such_column')$$);
-- unprotect: true, then false; a column never protected: false
SELECT loginas.protect('trk.account', 'nickname');
SELECT loginas.unprotect('trk.account', 'nickname');
SELECT loginas.unprotect('trk.account', 'nickname');
SELECT loginas.unprotect('trk.untracked', 'secret');
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- loginas.tracked_tables
------------------------------------------------------------------------------
SELECT relation, customer_column, parent, fk_columns, parent_columns, created_column, changed_column,
	   protected_columns, tracked_at <= now() AS tracked_at_ok
  FROM loginas.tracked_tables;

------------------------------------------------------------------------------
-- Outside a session: writes work as before, are not logged, and change
-- nothing but the stamps, which cannot be forged
------------------------------------------------------------------------------
-- a forged stamp on INSERT is cleared
INSERT INTO trk.quote (quote_id, customer_id, loginas_created_session, loginas_changed_session)
VALUES (50, 2, :sid, :sid), (51, 2, 999, NULL);
SELECT quote_id, customer_id, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.quote WHERE quote_id >= 50 ORDER BY 1;
-- ordinary writes: rows of any customer, no stamps
UPDATE trk.quote SET grand_total = 6 WHERE quote_id = 20;
UPDATE trk.account SET password_hash = 'pbkdf2$john-new-secret-hash' WHERE account_id = 2;
DELETE FROM trk.quote WHERE quote_id = 51;
SELECT quote_id, customer_id, grand_total, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.quote ORDER BY 1;
SELECT * FROM pg_temp.new_log();
-- an UPDATE keeps the creation stamp and clears the last-change stamp: first
-- a row created and changed in session <main>...
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.quote (quote_id, customer_id) VALUES (60, 1);
COMMIT;
SELECT quote_id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed
  FROM trk.quote WHERE quote_id = 60;
SELECT pg_temp.skip_log();
-- ... then updated outside a session, trying to forge the creation stamp too
UPDATE trk.quote SET grand_total = 1 WHERE quote_id = 60;
SELECT quote_id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed
  FROM trk.quote WHERE quote_id = 60;
UPDATE trk.quote SET loginas_created_session = 999, loginas_changed_session = :sid WHERE quote_id = 60;
SELECT quote_id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed
  FROM trk.quote WHERE quote_id = 60;
UPDATE trk.quote SET loginas_created_session = NULL WHERE quote_id = 60;
SELECT quote_id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed
  FROM trk.quote WHERE quote_id = 60;
-- none of it logged
SELECT * FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Inside a session: INSERT, UPDATE, DELETE of the customer's rows succeed,
-- stamped with the session; after COMMIT one log row per (session, table,
-- operation): keys, rows, changed column names; source and reason of the
-- session on every row
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.quote_item (item_id, quote_id, sku) VALUES (13, 10, 'BAG');
INSERT INTO trk.quote_item (item_id, quote_id, sku, qty) VALUES (14, 10, 'HAT', 2);
UPDATE trk.quote SET items_count = 4, grand_total = 44 WHERE quote_id = 10;
UPDATE trk.quote_item SET qty = qty + 1 WHERE quote_id = 10 AND item_id < 13;
DELETE FROM trk.quote_item WHERE item_id = 14;
-- the row stays the customer's (customer column untouched); the stamps say who did it
SELECT quote_id, customer_id, items_count, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.quote WHERE quote_id = 10;
SELECT item_id, quote_id, qty, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.quote_item ORDER BY 1;
-- nothing is logged before COMMIT
SELECT * FROM pg_temp.new_log();
COMMIT;
SELECT * FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Containment, customer column: another customer's row cannot be updated or
-- deleted, a row cannot be inserted for another customer (or for none) nor
-- moved to another customer; 42501 naming table and key; nothing written
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET grand_total = 0 WHERE quote_id = 20$$);
SELECT * FROM pg_temp.attempt($$DELETE FROM trk.quote WHERE quote_id = 20$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote (quote_id, customer_id) VALUES (70, 2)$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote (quote_id, customer_id) VALUES (71, NULL)$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET customer_id = 2 WHERE quote_id = 10$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET customer_id = NULL WHERE quote_id = 10$$);
-- a guest's cart belongs to no customer
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET grand_total = 1 WHERE quote_id = 30$$);
-- one foreign row fails the whole statement: Veronica's rows are not changed either
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET grand_total = grand_total + 100 WHERE quote_id IN (10, 20)$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote (quote_id, customer_id) VALUES (72, 1), (73, 2)$$);
-- an upsert onto another customer's row
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote (quote_id, customer_id) VALUES (20, 1)
	ON CONFLICT (quote_id) DO UPDATE SET grand_total = 0$$);
-- the customer's own row, in the same transaction
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET grand_total = 45 WHERE quote_id = 10$$);
SELECT quote_id, customer_id, grand_total, pg_temp.s(loginas_changed_session) AS changed
  FROM trk.quote ORDER BY 1;
COMMIT;
-- only the allowed update is logged (a statement in a subtransaction that
-- committed: see also "Savepoints" below)
SELECT action, customer, session, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Containment, child tables (through the parent row): a child under another
-- customer's parent, re-parented to it, or whose foreign key is NULL
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote_item (item_id, quote_id, sku) VALUES (22, 20, 'SOCK')$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote_item SET qty = 9 WHERE item_id = 21$$);
SELECT * FROM pg_temp.attempt($$DELETE FROM trk.quote_item WHERE item_id = 21$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote_item SET quote_id = 20 WHERE item_id = 11$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote_item (item_id, quote_id, sku) VALUES (15, NULL, 'LOST')$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote_item SET quote_id = NULL WHERE item_id = 11$$);
-- a guest's cart
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote_item (item_id, quote_id, sku) VALUES (31, 30, 'GIFT')$$);
-- re-parenting within the customer's own carts is allowed
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote_item SET quote_id = 60 WHERE item_id = 13$$);
SELECT item_id, quote_id, qty, pg_temp.s(loginas_changed_session) AS changed FROM trk.quote_item ORDER BY 1;
ROLLBACK;
SELECT * FROM pg_temp.new_log();

-- composite foreign key: (store 2, wishlist 1) is John's although wishlist 1
-- of store 1 is Veronica's
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.wishlist_item VALUES (102, 1, 1, 'Cups');
UPDATE trk.wishlist_item SET product = 'Teapot, blue' WHERE wishlist_item_id = 101;
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.wishlist_item VALUES (202, 2, 1, 'Spoon')$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item SET product = 'x' WHERE wishlist_item_id = 201$$);
-- moving an item to John's wishlist by changing one column of the key
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item SET store_id = 2 WHERE wishlist_item_id = 101$$);
-- half a key (a NULL column: the foreign key is not checked) reaches no parent
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.wishlist_item VALUES (103, 1, NULL, 'Half')$$);
-- grandchild: options of Veronica's items, not of John's
INSERT INTO trk.wishlist_item_option VALUES (1021, 102, 'size', 'S');
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.wishlist_item_option VALUES (2012, 201, 'size', 'M')$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item_option SET value = 'green' WHERE option_id = 2011$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item_option SET wishlist_item_id = 201 WHERE option_id = 1011$$);
-- and the wishlist itself: one's own, not John's
UPDATE trk.wishlist SET name = 'Veronica''s list' WHERE store_id = 1 AND wishlist_id = 1;
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist SET name = 'x' WHERE store_id = 2$$);
COMMIT;
SELECT store_id, wishlist_id, wishlist_item_id, product, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.wishlist_item ORDER BY 3;
SELECT option_id, wishlist_item_id, value, pg_temp.s(loginas_created_session) AS created
  FROM trk.wishlist_item_option ORDER BY 1;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Protected columns: an UPDATE changing one is refused (to NULL too), an
-- INSERT giving one a value is refused; an UPDATE leaving them unchanged,
-- and an INSERT leaving them NULL, are allowed.  Outside a session they
-- are written as usual.  No log row ever holds their values.
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.account SET password_hash = 'pbkdf2$forged' WHERE account_id = 1$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.account SET email = 'admin@evil.example' WHERE account_id = 1$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.account SET password_hash = NULL WHERE account_id = 1$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.account VALUES (3, 1, NULL, NULL, 'Vero 2', 'tok_new_1111')$$);
UPDATE trk.account SET nickname = 'Vero C.', email = email, password_hash = password_hash WHERE account_id = 1;
INSERT INTO trk.account (account_id, customer_id, nickname) VALUES (3, 1, 'Vero 2');
COMMIT;
SELECT account_id, customer_id, email, password_hash, nickname, card_token,
	   pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed
  FROM trk.account ORDER BY 1;
SELECT action, details FROM pg_temp.new_log();
-- no protected column's value in any log row of this suite (the other
-- columns' values are logged: see the suite audit_values)
SELECT count(*) FILTER (WHERE details::text ~ 'secret|tok_|forged|evil') AS rows_with_secrets,
	   count(*) FILTER (WHERE details::text ~ 'Vero|Teapot|BAG|HAT') > 0 AS other_values_logged
  FROM loginas.action_log
 WHERE log_id > (SELECT min(log_id) FROM loginas.action_log WHERE action = 'table_tracked' AND details ->> 'table' = 'trk.quote')
   AND (details::text ~ 'secret|tok_|forged|evil|Vero|Teapot|BAG|HAT');
-- outside a session the customer (the shop) changes them
UPDATE trk.account SET password_hash = 'pbkdf2$veronica-new-secret-hash', card_token = 'tok_vero_9999' WHERE account_id = 1;
SELECT account_id, password_hash, card_token, pg_temp.s(loginas_changed_session) AS changed FROM trk.account WHERE account_id = 1;
-- after unprotect the column may change in a session
SELECT loginas.unprotect('trk.account', 'card_token');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.account SET card_token = NULL WHERE account_id = 1$$);
ROLLBACK;
SELECT loginas.protect('trk.account', 'card_token');
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Read-only session: every tracked write refused (42501), reads work
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'ro_key') = :ro_sid AS assumed, loginas.current_read_only();
SELECT count(*) FROM trk.quote WHERE customer_id = loginas.current_customer();
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.quote (quote_id, customer_id) VALUES (80, 1)$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote SET grand_total = 0 WHERE quote_id = 10$$);
SELECT * FROM pg_temp.attempt($$DELETE FROM trk.quote_item WHERE item_id = 11$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item_option SET value = 'x' WHERE option_id = 1011$$);
COMMIT;
SELECT * FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- TRUNCATE: refused in a session, allowed outside
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$TRUNCATE trk.quote_item$$);
SELECT * FROM pg_temp.attempt($$TRUNCATE trk.review$$);
COMMIT;
SELECT count(*) AS review_rows FROM trk.review;
CREATE TABLE trk.scratch (id int PRIMARY KEY, customer_id int);
INSERT INTO trk.scratch VALUES (1, 1), (2, 2);
SELECT loginas.track('trk.scratch', 'customer_id');
TRUNCATE trk.scratch;
SELECT count(*) AS scratch_rows FROM trk.scratch;
SELECT loginas.untrack('trk.scratch');
DROP TABLE trk.scratch;
SELECT pg_temp.skip_log();

------------------------------------------------------------------------------
-- COPY FROM STDIN in a session: stamps set, containment judged for every row
-- (one foreign row fails the whole COPY's work: check_writes() judges as
-- commit would)
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
COPY trk.quote_item (item_id, quote_id, sku, qty) FROM STDIN;
15	10	BAG	1
16	60	PEN	3
\.
SAVEPOINT before_copy;
\set VERBOSITY sqlstate
COPY trk.quote_item (item_id, quote_id, sku, qty) FROM STDIN;
17	10	CUP	1
22	20	SOCK	2
18	10	JAR	1
\.
SELECT loginas.check_writes();
\set VERBOSITY default
ROLLBACK TO SAVEPOINT before_copy;
COMMIT;
SELECT item_id, quote_id, sku, qty, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.quote_item ORDER BY 1;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Partitioned table: tracking the parent covers its partitions (writes
-- through the parent or to a partition directly), including a partition
-- attached after track() whose columns are in another order
------------------------------------------------------------------------------
CREATE TABLE trk.sales_order_p3 (status text, loginas_changed_session bigint, order_id int NOT NULL,
	loginas_created_session bigint, customer_id int);
ALTER TABLE trk.sales_order_p3 ADD PRIMARY KEY (order_id);
INSERT INTO trk.sales_order_p3 VALUES ('pending', NULL, 2001, NULL, 1), ('pending', NULL, 2002, NULL, 2);
ALTER TABLE trk.sales_order ATTACH PARTITION trk.sales_order_p3 FOR VALUES FROM (2000) TO (3000);
SELECT c.relname, pg_temp.trigs(c.oid) FROM pg_class c
 WHERE c.relnamespace = 'trk'::regnamespace AND c.relname LIKE 'sales_order%' ORDER BY 1;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.sales_order SET status = 'canceled' WHERE order_id IN (1, 1001, 2001);
INSERT INTO trk.sales_order VALUES (3, 1, 'new'), (1003, 1, 'new'), (2003, 1, 'new');
INSERT INTO trk.sales_order_p2 VALUES (1004, 1, 'direct');
DELETE FROM trk.sales_order_p3 WHERE order_id = 2003;
SELECT * FROM pg_temp.attempt($$UPDATE trk.sales_order SET status = 'canceled' WHERE order_id = 2$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.sales_order SET status = 'canceled' WHERE order_id = 1002$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.sales_order_p3 SET status = 'canceled' WHERE order_id = 2002$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.sales_order_p3 (order_id, customer_id) VALUES (2004, 2)$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.sales_order SET customer_id = 2 WHERE order_id = 1001$$);
SELECT * FROM pg_temp.attempt($$DELETE FROM trk.sales_order WHERE order_id >= 2000$$);
COMMIT;
SELECT tableoid::regclass AS partition, order_id, customer_id, status, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.sales_order ORDER BY order_id;
-- logged under the tracked (partitioned) table, changed_columns named once
SELECT action, details FROM pg_temp.new_log();
-- partitions with their columns in another order: each changed column is
-- named (status changed in sales_order_p1, order_id in sales_order_p3, both
-- their table's third column)
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.sales_order SET status = CASE order_id WHEN 3 THEN 'shipped' ELSE status END,
	   order_id = CASE order_id WHEN 2001 THEN 2006 ELSE order_id END
 WHERE order_id IN (3, 2001);
COMMIT;
SELECT action, details FROM pg_temp.new_log();
-- TRUNCATE of the partitioned table or of one of its partitions is refused
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$TRUNCATE trk.sales_order$$);
SELECT pg_temp.attempt_state($$TRUNCATE trk.sales_order_p1$$) AS truncate_p1,
	   pg_temp.attempt_state($$TRUNCATE trk.sales_order_p3$$) AS truncate_p3;
ROLLBACK;
SELECT count(*) AS orders FROM trk.sales_order;
-- an UPDATE moving a row to another partition is one update: the creation
-- stamp is kept, the row logged once as updated (not deleted and inserted)
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.sales_order SET order_id = 1005 WHERE order_id = 1;
COMMIT;
SELECT tableoid::regclass AS partition, order_id, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.sales_order WHERE order_id IN (1, 1005);
SELECT action, details FROM pg_temp.new_log();
-- outside a session, too, moving a row between partitions keeps its creation stamp
UPDATE trk.sales_order SET order_id = 2005 WHERE order_id = 1003;
SELECT tableoid::regclass AS partition, order_id, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM trk.sales_order WHERE order_id IN (1003, 2005);
SELECT * FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Names needing quotes: schema "Shop Data", table "Cart Items", customer
-- column "Customer ID", custom stamp columns, a child "Item Options" --
-- in messages, the tracking list and the log
------------------------------------------------------------------------------
CREATE SCHEMA "Shop Data";
CREATE TABLE "Shop Data"."Cart Items" ("Item ID" int PRIMARY KEY, "Customer ID" int NOT NULL,
	"Product Name" text, "Gift Message" text);
CREATE TABLE "Shop Data"."Item Options" ("Option ID" int PRIMARY KEY,
	"Item ID" int NOT NULL REFERENCES "Shop Data"."Cart Items", "Option Value" text);
INSERT INTO "Shop Data"."Cart Items" VALUES (1, 1, 'Mug', NULL), (2, 2, 'Cap', 'Happy birthday');
INSERT INTO "Shop Data"."Item Options" VALUES (10, 1, 'red'), (20, 2, 'blue');
SELECT loginas.track('"Shop Data"."Cart Items"', 'Customer ID',
					 created_column => 'Created In Session', changed_column => 'Changed In Session');
SELECT loginas.track('"Shop Data"."Item Options"', parent => '"Shop Data"."Cart Items"');
SELECT loginas.protect('"Shop Data"."Cart Items"', 'Gift Message');
SELECT pg_temp.cols('"Shop Data"."Cart Items"');
SELECT relation, customer_column, parent, fk_columns, parent_columns, created_column, changed_column, protected_columns
  FROM loginas.tracked_tables WHERE relation::text LIKE '"Shop Data"%';
SELECT action, details FROM pg_temp.new_log();
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE "Shop Data"."Cart Items" SET "Product Name" = 'Big Mug' WHERE "Item ID" = 1;
INSERT INTO "Shop Data"."Item Options" VALUES (11, 1, 'large');
SELECT * FROM pg_temp.attempt($$UPDATE "Shop Data"."Cart Items" SET "Product Name" = 'x' WHERE "Item ID" = 2$$);
SELECT * FROM pg_temp.attempt($$UPDATE "Shop Data"."Cart Items" SET "Customer ID" = 2 WHERE "Item ID" = 1$$);
SELECT * FROM pg_temp.attempt($$UPDATE "Shop Data"."Cart Items" SET "Gift Message" = 'hi' WHERE "Item ID" = 1$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO "Shop Data"."Item Options" VALUES (21, 2, 'x')$$);
SELECT * FROM pg_temp.attempt($$TRUNCATE "Shop Data"."Item Options"$$);
COMMIT;
SELECT "Item ID", "Product Name", pg_temp.s("Created In Session") AS created,
	   pg_temp.s("Changed In Session") AS changed FROM "Shop Data"."Cart Items" ORDER BY 1;
SELECT "Option ID", pg_temp.s(loginas_created_session) AS created FROM "Shop Data"."Item Options" ORDER BY 1;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- ALTER TABLE while tracked: a new column is written and named in the log;
-- a dropped one is not; the customer column renamed makes in-session writes
-- fail (55000) until the table is tracked again; outside a session the
-- table is written as usual meanwhile
------------------------------------------------------------------------------
ALTER TABLE trk.review ADD COLUMN rating int;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.review SET rating = 5, body = 'Great mug' WHERE review_id = 1;
INSERT INTO trk.review (review_id, customer_id, body, rating) VALUES (3, 1, 'Nice pen', 4);
COMMIT;
SELECT action, details FROM pg_temp.new_log();
ALTER TABLE trk.review DROP COLUMN body;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.review SET rating = 3 WHERE review_id = 3;
COMMIT;
SELECT action, details FROM pg_temp.new_log();
ALTER TABLE trk.review RENAME COLUMN customer_id TO author_id;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.review SET rating = 1 WHERE review_id = 1$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO trk.review (review_id, author_id, rating) VALUES (4, 1, 1)$$);
ROLLBACK;
UPDATE trk.review SET rating = 2 WHERE review_id = 2;
SELECT loginas.track('trk.review', 'author_id');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.review SET rating = 1 WHERE review_id = 1;
SELECT * FROM pg_temp.attempt($$UPDATE trk.review SET rating = 1 WHERE review_id = 2$$);
COMMIT;
SELECT review_id, author_id, rating, pg_temp.s(loginas_changed_session) AS changed FROM trk.review ORDER BY 1;
SELECT action, details FROM pg_temp.new_log();
-- a stamp column renamed: refused as a dropped one is (55000), naming it
ALTER TABLE trk.review RENAME COLUMN loginas_changed_session TO changed_session;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.review SET rating = 2 WHERE review_id = 1$$);
ROLLBACK;
ALTER TABLE trk.review RENAME COLUMN changed_session TO loginas_changed_session;
-- the parent's customer column renamed: the child's writes are refused as well
ALTER TABLE trk.wishlist RENAME COLUMN customer_id TO owner_id;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.attempt_state($$UPDATE trk.wishlist_item SET product = 'x' WHERE wishlist_item_id = 101$$) AS child,
	   pg_temp.attempt_state($$UPDATE trk.wishlist_item_option SET value = 'x' WHERE option_id = 1011$$) AS grandchild;
ROLLBACK;
SELECT loginas.track('trk.wishlist', 'owner_id');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item_option SET value = 'pink' WHERE option_id = 1011$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.wishlist_item_option SET value = 'x' WHERE option_id = 2011$$);
ROLLBACK;
SELECT pg_temp.skip_log();

------------------------------------------------------------------------------
-- Foreign-key actions: deleting the customer's own cart in a session
-- deletes its items (ON DELETE CASCADE), both logged
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT pg_temp.attempt_state($$DELETE FROM trk.quote WHERE quote_id = 40$$) AS delete_cart;
COMMIT;
SELECT quote_id FROM trk.quote WHERE quote_id = 40;
SELECT item_id FROM trk.quote_item WHERE quote_id = 40;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- INSERT ... ON CONFLICT: only what was written is logged (a skipped insert
-- is no write; an upsert that updates is an update)
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.quote (quote_id, customer_id) VALUES (10, 1) ON CONFLICT DO NOTHING;
INSERT INTO trk.quote (quote_id, customer_id, grand_total) VALUES (10, 1, 46)
	ON CONFLICT (quote_id) DO UPDATE SET grand_total = EXCLUDED.grand_total;
COMMIT;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- The log and transactions: a rolled-back transaction leaves neither rows
-- nor log rows; writes of a savepoint rolled back are neither written nor
-- logged; a released savepoint's writes join the transaction's log rows
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.quote (quote_id, customer_id) VALUES (90, 1);
UPDATE trk.quote SET grand_total = 0 WHERE quote_id = 10;
ROLLBACK;
SELECT count(*) AS rows_of_rolled_back FROM trk.quote WHERE quote_id = 90 OR (quote_id = 10 AND grand_total = 0);
SELECT * FROM pg_temp.new_log();
-- an error in a session rolls the transaction back: nothing written, nothing logged
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.quote (quote_id, customer_id) VALUES (91, 1);
\set VERBOSITY sqlstate
UPDATE trk.quote SET grand_total = 0 WHERE quote_id = 20;
\set VERBOSITY default
COMMIT;
SELECT pg_temp.mask(:'LAST_ERROR_MESSAGE') AS message;
SELECT count(*) AS rows_of_failed FROM trk.quote WHERE quote_id = 91;
SELECT * FROM pg_temp.new_log();
-- savepoints
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.quote_item SET qty = 5 WHERE item_id = 11;
SAVEPOINT a;
UPDATE trk.quote_item SET qty = 6 WHERE item_id = 12;
INSERT INTO trk.quote_item (item_id, quote_id, sku) VALUES (19, 10, 'NEW');
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
UPDATE trk.quote_item SET sku = 'TEE-L' WHERE item_id = 12;
RELEASE SAVEPOINT b;
-- a PL/pgSQL block with an exception handler is a subtransaction too
DO $$BEGIN UPDATE trk.quote_item SET qty = 2 WHERE item_id = 13; EXCEPTION WHEN OTHERS THEN RAISE; END$$;
COMMIT;
SELECT item_id, sku, qty, pg_temp.s(loginas_changed_session) AS changed FROM trk.quote_item WHERE item_id IN (11, 12, 13, 19) ORDER BY 1;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Bounded memory: a write of many rows is logged in parts of at most 10,000
-- keys each ("part" i of "parts" n); a transaction of a session writes at
-- most loginas.max_session_write_rows rows (a superuser's setting), counted
-- without what a rolled-back savepoint wrote; the write beyond is refused
------------------------------------------------------------------------------
CREATE TABLE trk.bulk (bulk_id int PRIMARY KEY, customer_id int NOT NULL, v int NOT NULL DEFAULT 0);
INSERT INTO trk.bulk SELECT n, 1 FROM generate_series(1, 25000) n;
SELECT loginas.track('trk.bulk', 'customer_id'::name);
SELECT action, details FROM pg_temp.new_log();
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.bulk SET v = 1;
COMMIT;
SELECT action, session, details ->> 'part' AS part, details ->> 'parts' AS parts, details ->> 'rows' AS rows,
	   jsonb_array_length(details -> 'keys') AS keys, details -> 'keys' -> 0 AS a_key,
	   details -> 'changed_columns' AS changed
  FROM pg_temp.new_log() ORDER BY (details ->> 'part')::int;
SET loginas.max_session_write_rows = 100;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.bulk SET v = 2 WHERE bulk_id <= 60;
SAVEPOINT s;
UPDATE trk.bulk SET v = 2 WHERE bulk_id BETWEEN 61 AND 100;
ROLLBACK TO SAVEPOINT s;
SELECT * FROM pg_temp.attempt('UPDATE trk.bulk SET v = 3 WHERE bulk_id BETWEEN 101 AND 140');
SELECT * FROM pg_temp.attempt('UPDATE trk.bulk SET v = 3 WHERE bulk_id = 141');
COMMIT;
RESET loginas.max_session_write_rows;
SELECT action, details ->> 'rows' AS rows, details ->> 'parts' AS parts FROM pg_temp.new_log();
SELECT count(*) FILTER (WHERE v = 2) AS updated_60, count(*) FILTER (WHERE v = 3) AS updated_40 FROM trk.bulk;
SELECT intact FROM loginas.verify_log();
SELECT loginas.untrack('trk.bulk');
DROP TABLE trk.bulk;
SELECT action, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- Keys as loginas prints them: integer columns of every width at their
-- extremes, with text in a composite key (the write log, the refusals'
-- messages, the stamps kept in loginas.row_stamp); keys whose text depends
-- on settings printed with the settings pinned, whatever the session set
------------------------------------------------------------------------------
CREATE TABLE trk.widths (k2 smallint, k4 int, k8 bigint, t text, customer_id int NOT NULL,
	v int NOT NULL DEFAULT 0, PRIMARY KEY (k2, k4, k8, t));
CREATE TABLE trk.width8 (k8 bigint PRIMARY KEY, customer_id int NOT NULL, v int NOT NULL DEFAULT 0);
CREATE TABLE trk.settled (at timestamptz, f float8, took interval, customer_id int NOT NULL,
	v int NOT NULL DEFAULT 0, PRIMARY KEY (at, f, took));
SELECT loginas.track('trk.widths', 'customer_id'::name), loginas.track('trk.settled', 'customer_id'::name);
SELECT loginas.track('trk.width8', customer_column => 'customer_id', stamps => 'table');
INSERT INTO trk.widths VALUES (1, 1, 1, 'John''s', 2);
INSERT INTO trk.width8 VALUES (-9223372036854775808, 2);
SELECT pg_temp.skip_log();
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO trk.widths VALUES (-32768, -2147483648, -9223372036854775808, 'a, b', 1),
	(32767, 2147483647, 9223372036854775807, '', 1), (0, 0, 0, 'x', 1);
UPDATE trk.widths SET v = 1 WHERE k2 = 0;
UPDATE trk.widths SET k8 = -1 WHERE k2 = 32767;
DELETE FROM trk.widths WHERE k2 = -32768;
INSERT INTO trk.width8 VALUES (-1, 1), (9223372036854775807, 1);
UPDATE trk.width8 SET k8 = -9223372036854775807 WHERE k8 = -1;
UPDATE trk.width8 SET v = 1 WHERE k8 = 9223372036854775807;
DELETE FROM trk.width8 WHERE k8 = 9223372036854775807;
SELECT * FROM pg_temp.attempt($$UPDATE trk.widths SET v = 2 WHERE k2 = 1$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.width8 SET v = 2 WHERE k8 = -9223372036854775808$$);
SELECT * FROM pg_temp.attempt($$UPDATE trk.widths SET customer_id = 2 WHERE k2 = 0$$);
SET LOCAL TimeZone = 'America/New_York';
SET LOCAL DateStyle = 'German';
SET LOCAL extra_float_digits = -15;
SET LOCAL IntervalStyle = 'sql_standard';
INSERT INTO trk.settled VALUES ('2024-03-01 12:00:00+00', 0.1, '1 day 3 hours', 1),
	('2024-03-01 12:00:00+00', 0.14, '-3 days', 1);
UPDATE trk.settled SET v = 1 WHERE f = 0.1;
SELECT * FROM pg_temp.attempt($$UPDATE trk.settled SET customer_id = 2 WHERE f = 0.14$$);
COMMIT;
SELECT action, details FROM pg_temp.new_log();
SELECT key, pg_temp.s(created_session) AS created, pg_temp.s(changed_session) AS changed
  FROM loginas.row_stamp WHERE relation = 'trk.width8'::regclass ORDER BY key;
SELECT loginas.untrack('trk.widths'), loginas.untrack('trk.width8'), loginas.untrack('trk.settled');
DROP TABLE trk.widths, trk.width8, trk.settled;
SELECT pg_temp.skip_log();

------------------------------------------------------------------------------
-- The shop's own database role writes in a session: it needs no privilege on
-- the parent table, nor on loginas' tables, for the checks and the log
------------------------------------------------------------------------------
CREATE ROLE regress_track_app NOLOGIN;
GRANT loginas_storefront TO regress_track_app;
GRANT USAGE ON SCHEMA trk TO regress_track_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON trk.quote_item TO regress_track_app;
GRANT SELECT ON pg_temp.sess TO regress_track_app;	-- for pg_temp.attempt
SET ROLE regress_track_app;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE trk.quote_item SET qty = 7 WHERE item_id = 11;
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote_item SET qty = 7 WHERE item_id = 21$$);
COMMIT;
-- it cannot raise the limit of rows a session's transaction may write
SELECT pg_temp.attempt_state('SET loginas.max_session_write_rows = 10000000');
-- and it cannot track, untrack or protect
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.quote_item', parent => 'trk.quote')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.untrack('trk.quote_item')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.unprotect('trk.account', 'email')$$);
RESET ROLE;
SELECT action, session, details FROM pg_temp.new_log();

------------------------------------------------------------------------------
-- loginas.note(action, details): a 'note' row for the current session
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT loginas.note('Order Placed by Store Administrator', '{"order_id": 100, "visible": true}') IS NOT NULL AS noted;
SELECT loginas.note('Viewed the cart') IS NOT NULL AS noted;
-- the action is the note: details cannot replace it
SELECT loginas.note('Changed the address', '{"note": "something else", "address_id": 1}') IS NOT NULL AS noted;
SELECT * FROM pg_temp.attempt($$SELECT loginas.note('')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.note('   ')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.note(NULL)$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.note(repeat('n', 201))$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.note('x', '[1, 2]')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.note('x', '"text"')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.note('x', NULL)$$);
COMMIT;
SELECT * FROM pg_temp.new_log();
-- a note rolls back with its transaction
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT loginas.note('Never happened') IS NOT NULL AS noted;
ROLLBACK;
SELECT * FROM pg_temp.new_log();
-- outside a session
SELECT * FROM pg_temp.attempt($$SELECT loginas.note('Order Placed by Store Administrator')$$);

------------------------------------------------------------------------------
-- untrack: refused while children are tracked; drops the triggers (the
-- stamp columns and their data stay); false when not tracked
------------------------------------------------------------------------------
SELECT * FROM pg_temp.attempt($$SELECT loginas.untrack('trk.quote')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.untrack('trk.wishlist')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.untrack('"Shop Data"."Cart Items"')$$);
SELECT loginas.untrack('trk.quote_item');
SELECT pg_temp.trigs('trk.quote_item');
SELECT pg_temp.cols('trk.quote_item');
SELECT count(*) AS still_stamped FROM trk.quote_item WHERE loginas_changed_session IS NOT NULL;
SELECT loginas.untrack('trk.quote_item');
SELECT loginas.untrack('trk.untracked');
-- no longer checked, stamped or logged in a session
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE trk.quote_item SET qty = 2 WHERE item_id = 21$$);
ROLLBACK;
-- protect needs a tracked table
SELECT * FROM pg_temp.attempt($$SELECT loginas.protect('trk.quote_item', 'sku')$$);
-- untracking a table drops its protected columns; a partitioned table's
-- partitions lose their triggers
SELECT loginas.untrack('trk.account');
SELECT count(*) AS protected_rows FROM loginas.protected_column WHERE relation = 'trk.account'::regclass;
SELECT loginas.untrack('trk.sales_order');
SELECT c.relname, pg_temp.trigs(c.oid) FROM pg_class c
 WHERE c.relnamespace = 'trk'::regnamespace AND c.relname LIKE 'sales_order%' ORDER BY 1;
SELECT loginas.untrack('trk.wishlist_item_option'), loginas.untrack('trk.wishlist_item'), loginas.untrack('trk.wishlist');
SELECT loginas.untrack('"Shop Data"."Item Options"'), loginas.untrack('"Shop Data"."Cart Items"');
SELECT loginas.untrack('trk.quote'), loginas.untrack('trk.address'), loginas.untrack('trk.address_note'),
	   loginas.untrack('trk.review');
SELECT action, details FROM pg_temp.new_log();
SELECT count(*) AS tracked FROM loginas.tracked_tables;
SELECT count(*) AS loginas_triggers FROM pg_trigger WHERE tgname LIKE 'zz_loginas%';

------------------------------------------------------------------------------
-- a stamp column is never a column that ties a row to its customer or
-- identifies it (22023, nothing tracked); a dropped tracked table is forgotten
------------------------------------------------------------------------------
CREATE TABLE trk.stampcheck (id bigint PRIMARY KEY, customer_id bigint NOT NULL, note text);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.stampcheck', 'customer_id', 'loginas_created_session', 'customer_id')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.stampcheck', 'customer_id', 'id', 'loginas_changed_session')$$);
CREATE TABLE trk.stampchild (cid bigint PRIMARY KEY, id bigint REFERENCES trk.stampcheck);
SELECT loginas.track('trk.stampcheck', 'customer_id');
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('trk.stampchild', 'trk.stampcheck'::regclass, 'id', 'loginas_changed_session')$$);
SELECT relation FROM loginas.tracked_tables WHERE relation::text LIKE 'trk.stamp%';
DROP TABLE trk.stampchild, trk.stampcheck;
SELECT count(*) AS forgotten_after_drop FROM loginas.tracked WHERE relation::text ~ '^[0-9]+$';

------------------------------------------------------------------------------
-- Back to the defaults for the next suite
------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP SCHEMA trk CASCADE;
DROP SCHEMA "Shop Data" CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_track_app;
DROP ROLE regress_track_app;
SELECT loginas.configure('enabled', 'off');
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT loginas.revoke('Administrators', 'login'), loginas.revoke('Support', 'login');
SELECT count(*) AS grants FROM loginas.role_resource;
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
