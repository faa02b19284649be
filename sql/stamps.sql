-- stamps: stamps that survive schema tools.
--   loginas.track(..., stamps => 'table'): the stamps kept in loginas.row_stamp
--   instead of columns of the shop's table (nothing added to it); a session's
--   insert, update (a changed key too) and delete; INSERT ... ON CONFLICT;
--   a partition move; outside sessions the stamps stay and follow the row
--   (delete, changed key, TRUNCATE), at no cost for a table without any;
--   containment as the stamp columns give it (a shop AFTER INSERT trigger
--   that updates the new row; a row this transaction wrote before assume());
--   switching between columns and table; untrack; dump, privileges, no
--   write by anyone but loginas.
--   stamp columns a schema tool dropped (TypeORM synchronize): in-session
--   writes refused (55000, the table, the columns, the remedy), writes
--   outside sessions go on; track() again adds them back and keeps the
--   tracking (protected columns); one column, custom names, a child table.
-- At its start it enables the feature, grants "login" to the Administrators
-- and gives Veronica's consent; at its end it drops its schema and role and
-- restores the defaults.  Its session's id is 9101 (the session sequence
-- restarted there), shown as <main>.
--
-- The shop (sql/setup.sql): admin 1 ada (Administrators); customers
-- 1 Veronica Costello, 2 John Doe.
\set VERBOSITY default

SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT setval('loginas.session_session_id_seq', 9100);
SELECT token AS t FROM loginas.begin(1, 1, reason => 'schema tools') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset
SELECT :sid AS main_session;
CREATE TEMP TABLE mark AS SELECT COALESCE(max(log_id), 0) AS log_id FROM loginas.action_log;
-- a session id as the session's name
CREATE FUNCTION pg_temp.s(id bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN id = 9101 THEN '<main>' ELSE id::text END
$$;
-- the stamps loginas keeps for a table, by key
CREATE FUNCTION pg_temp.stamps(rel regclass, OUT key text, OUT created text, OUT changed text, OUT dated boolean)
	RETURNS SETOF record LANGUAGE sql AS $$
	SELECT r.key, pg_temp.s(r.created_session), pg_temp.s(r.changed_session), r.changed_at IS NOT NULL
	  FROM loginas.row_stamps r WHERE r.relation = rel ORDER BY r.key COLLATE "C"
$$;
-- the session's write log rows since the last call
CREATE FUNCTION pg_temp.new_writes(OUT action text, OUT tbl text, OUT keys jsonb)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	SELECT l.action, l.details ->> 'table', l.details -> 'keys'
	  FROM loginas.action_log l
	 WHERE l.log_id > (SELECT log_id FROM pg_temp.mark) AND l.action LIKE 'write\_%'
	 ORDER BY l.log_id;
	UPDATE pg_temp.mark SET log_id = (SELECT COALESCE(max(a.log_id), 0) FROM loginas.action_log a);
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
		PERFORM loginas.check_writes();
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
			det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
		RETURN NEXT 'ERROR ' || st || ': ' || regexp_replace(msg, 'session 9101\M', 'session <main>', 'g');
		IF det <> '' THEN
			RETURN NEXT 'DETAIL: ' || det;
		END IF;
		IF hnt <> '' THEN
			RETURN NEXT 'HINT: ' || hnt;
		END IF;
		RETURN;
	END;
	RETURN NEXT 'ok: ' || n || ' row(s)';
END
$$;
-- the columns of a table, in order
CREATE FUNCTION pg_temp.cols(rel regclass) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
	 WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
$$;

------------------------------------------------------------------------------
-- stamps => 'table': nothing is added to the shop's table
------------------------------------------------------------------------------
CREATE SCHEMA stm;
CREATE TABLE stm.customer (customer_id int PRIMARY KEY, email text NOT NULL, name text);
CREATE TABLE stm.cart (cart_id int PRIMARY KEY, customer_id int, items int NOT NULL DEFAULT 0);
CREATE TABLE stm.cart_item (cart_id int REFERENCES stm.cart ON UPDATE CASCADE, line int,
	sku text NOT NULL, PRIMARY KEY (cart_id, line));
INSERT INTO stm.customer VALUES (1, 'veronica@example.com', 'Veronica'), (2, 'john@example.com', 'John');
INSERT INTO stm.cart VALUES (10, 1, 1), (20, 2, 1);
INSERT INTO stm.cart_item VALUES (10, 1, 'MUG'), (20, 1, 'CAP');
SELECT loginas.track('stm.customer', customer_column => 'customer_id', stamps => 'table');
SELECT loginas.protect('stm.customer', 'email');
SELECT loginas.track('stm.cart', customer_column => 'customer_id', stamps => 'table');
SELECT loginas.track('stm.cart_item', parent => 'stm.cart', stamps => 'table');
SELECT pg_temp.cols('stm.customer') AS customer, pg_temp.cols('stm.cart') AS cart,
	   pg_temp.cols('stm.cart_item') AS cart_item;
SELECT relation, customer_column, parent, created_column, changed_column, protected_columns, stamps
  FROM loginas.tracked_tables WHERE relation::text LIKE 'stm.%' ORDER BY relation::text;
SELECT details FROM loginas.action_log WHERE action = 'table_tracked' AND details ->> 'table' LIKE 'stm.%'
 ORDER BY log_id;
-- idempotent; anything but 'columns' or 'table' is refused
SELECT loginas.track('stm.cart', customer_column => 'customer_id', stamps => 'table');
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('stm.cart', customer_column => 'customer_id', stamps => 'row')$$);
SELECT * FROM pg_temp.attempt($$SELECT loginas.track('stm.cart', customer_column => 'customer_id', stamps => NULL)$$);
SELECT pg_temp.cols('stm.cart') AS cart, (SELECT stamps FROM loginas.tracked_tables WHERE relation = 'stm.cart'::regclass);

------------------------------------------------------------------------------
-- In a session: an insert stamps both, an update the last change, a delete
-- takes the stamps along; the log as always
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO stm.cart (cart_id, customer_id) VALUES (11, 1);
INSERT INTO stm.cart_item VALUES (11, 1, 'TEE'), (11, 2, 'SOCK');
UPDATE stm.cart SET items = 2 WHERE cart_id = 10;
UPDATE stm.customer SET name = 'Veronica C.' WHERE customer_id = 1;
DELETE FROM stm.cart_item WHERE cart_id = 10 AND line = 1;
COMMIT;
SELECT * FROM pg_temp.stamps('stm.cart');
SELECT * FROM pg_temp.stamps('stm.cart_item');
SELECT * FROM pg_temp.stamps('stm.customer');
SELECT * FROM pg_temp.new_writes();
-- the shop finds a row's stamps by its key: the key values' text as a JSON array
SELECT c.cart_id, pg_temp.s(r.created_session) AS created, pg_temp.s(r.changed_session) AS changed
  FROM stm.cart c
  LEFT JOIN loginas.row_stamps r ON r.relation = 'stm.cart'::regclass
								AND r.key = to_json(ARRAY[c.cart_id::text])::text
 ORDER BY c.cart_id;

-- a later session update keeps the creation stamp; a delete in a session
-- drops the stamps (the log keeps the history); a rolled-back write leaves none
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.cart_item SET sku = 'TEE-XL' WHERE cart_id = 11 AND line = 1;
DELETE FROM stm.cart_item WHERE cart_id = 11 AND line = 2;
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO stm.cart (cart_id, customer_id) VALUES (12, 1);
UPDATE stm.customer SET name = 'V.' WHERE customer_id = 1;
ROLLBACK;
SELECT * FROM pg_temp.stamps('stm.cart_item');
SELECT * FROM pg_temp.stamps('stm.cart');
SELECT * FROM pg_temp.new_writes();

-- a key changed in a session: the stamps follow the row (its children's too,
-- through ON UPDATE CASCADE)
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.cart SET cart_id = 13 WHERE cart_id = 11;
COMMIT;
SELECT * FROM pg_temp.stamps('stm.cart');
SELECT * FROM pg_temp.stamps('stm.cart_item');
SELECT * FROM pg_temp.new_writes();

-- INSERT ... ON CONFLICT: a row skipped gets no stamp; one updated only the
-- last change; containment refuses another customer's row as before
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO stm.customer VALUES (1, 'veronica@example.com', 'x') ON CONFLICT DO NOTHING;
INSERT INTO stm.cart VALUES (10, 1, 5) ON CONFLICT (cart_id) DO UPDATE SET items = EXCLUDED.items;
SELECT * FROM pg_temp.attempt($$INSERT INTO stm.cart VALUES (20, 1, 5) ON CONFLICT (cart_id) DO UPDATE SET items = 9$$);
COMMIT;
SELECT * FROM pg_temp.stamps('stm.customer');
SELECT * FROM pg_temp.stamps('stm.cart');
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- Containment reads "created by this session" from the pending insert, as it
-- reads the creation stamp column otherwise:
--   a shop AFTER INSERT trigger that updates the new row (it fires before
--   loginas' zz_loginas_log_insert): the row is still the session's own,
--   so a protected column it was given on insert is refused at commit;
--   a row this transaction wrote before assume() is no row of the session's:
--   INSERT ... ON CONFLICT DO UPDATE onto it is judged as found (John's)
------------------------------------------------------------------------------
CREATE TABLE stm.address (address_id int PRIMARY KEY, customer_id int NOT NULL, city text,
	tax_id text, label text);
SELECT loginas.track('stm.address', customer_column => 'customer_id', stamps => 'table');
SELECT loginas.protect('stm.address', 'tax_id');
CREATE FUNCTION stm.label() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE stm.address SET label = 'A-' || NEW.address_id WHERE address_id = NEW.address_id;
	RETURN NULL;
END
$$;
CREATE TRIGGER a_shop_label AFTER INSERT ON stm.address FOR EACH ROW EXECUTE FUNCTION stm.label();
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO stm.address (address_id, customer_id, city) VALUES (1, 1, 'Austin');
COMMIT;
SELECT * FROM stm.address ORDER BY address_id;
SELECT * FROM pg_temp.stamps('stm.address');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO stm.address (address_id, customer_id, city, tax_id) VALUES (2, 1, 'Boston', 'TX-2');
COMMIT;
BEGIN;
INSERT INTO stm.address (address_id, customer_id, city) VALUES (3, 2, 'Chicago');
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$INSERT INTO stm.address (address_id, customer_id, city) VALUES (3, 1, 'Denver')
	ON CONFLICT (address_id) DO UPDATE SET customer_id = 1, city = 'Denver'$$);
ROLLBACK;
SELECT * FROM stm.address ORDER BY address_id;
SELECT * FROM pg_temp.stamps('stm.address');
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- A partition move in a session is one update: the creation stamp stays
------------------------------------------------------------------------------
CREATE TABLE stm.ord (order_id int PRIMARY KEY, customer_id int, status text) PARTITION BY RANGE (order_id);
CREATE TABLE stm.ord_a PARTITION OF stm.ord FOR VALUES FROM (0) TO (100);
CREATE TABLE stm.ord_b PARTITION OF stm.ord FOR VALUES FROM (100) TO (200);
SELECT loginas.track('stm.ord', customer_column => 'customer_id', stamps => 'table');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO stm.ord VALUES (1, 1, 'new');
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.ord SET order_id = 101, status = 'moved' WHERE order_id = 1;
COMMIT;
SELECT tableoid::regclass, * FROM stm.ord;
SELECT * FROM pg_temp.stamps('stm.ord');
SELECT * FROM pg_temp.new_writes();
-- and outside a session: moved back, the stamps stay with it
UPDATE stm.ord SET order_id = 2 WHERE order_id = 101;
SELECT * FROM pg_temp.stamps('stm.ord');

------------------------------------------------------------------------------
-- Outside sessions the stamps name the last session that wrote the row: an
-- update leaves them; they follow the row (a changed key), go with it (a
-- delete, TRUNCATE); an insert gets none
------------------------------------------------------------------------------
UPDATE stm.cart SET items = items + 1;
UPDATE stm.cart SET cart_id = 14 WHERE cart_id = 13;
INSERT INTO stm.cart VALUES (30, 1, 0);
DELETE FROM stm.cart WHERE cart_id = 10;
SELECT * FROM pg_temp.stamps('stm.cart');
SELECT * FROM pg_temp.stamps('stm.cart_item');
TRUNCATE stm.cart_item;
SELECT count(*) AS cart_item_stamps FROM loginas.row_stamp WHERE relation = 'stm.cart_item'::regclass;
SELECT * FROM pg_temp.new_writes();

-- a table without stamp rows costs nothing outside sessions: no statement
-- on loginas.row_stamp; one with stamp rows looks there on a delete
CREATE TABLE stm.wish (wish_id int PRIMARY KEY, customer_id int);
INSERT INTO stm.wish SELECT g, 1 FROM generate_series(1, 5) g;
SELECT loginas.track('stm.wish', customer_column => 'customer_id', stamps => 'table');
UPDATE stm.wish SET customer_id = 1 WHERE wish_id = 5;	-- reads the tracking once
CREATE FUNCTION pg_temp.row_stamp_scans() RETURNS bigint LANGUAGE sql AS $$
	SELECT seq_scan + COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables
	 WHERE relid = 'loginas.row_stamp'::regclass
$$;
BEGIN;
SELECT pg_temp.row_stamp_scans() AS before \gset
UPDATE stm.wish SET wish_id = wish_id + 10 WHERE wish_id = 1;
DELETE FROM stm.wish WHERE wish_id = 2;
SELECT pg_temp.row_stamp_scans() - :before AS row_stamp_scans;
DELETE FROM stm.cart WHERE cart_id = 30;
SELECT pg_temp.row_stamp_scans() - :before AS row_stamp_scans;
COMMIT;
-- the first session write gives the table stamp rows: from then on a delete
-- outside sessions takes them along (the entry was refilled)
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.wish SET customer_id = 1 WHERE wish_id = 3;
COMMIT;
SELECT * FROM pg_temp.stamps('stm.wish');
DELETE FROM stm.wish WHERE wish_id = 3;
SELECT * FROM pg_temp.stamps('stm.wish');
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- Nobody but loginas writes the stamps: not the shop's role, in a session or
-- not; reading is for loginas_admin and loginas_reporting
------------------------------------------------------------------------------
CREATE ROLE regress_stamps_app NOLOGIN;
GRANT loginas_storefront TO regress_stamps_app;
GRANT USAGE ON SCHEMA stm TO regress_stamps_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON stm.cart TO regress_stamps_app;
SET ROLE regress_stamps_app;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE loginas.row_stamp SET changed_session = 1$$);
SELECT * FROM pg_temp.attempt($$DELETE FROM loginas.row_stamp$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.row_stamps$$);
UPDATE stm.cart SET items = 7 WHERE cart_id = 14;
COMMIT;
RESET ROLE;
SELECT * FROM pg_temp.stamps('stm.cart');
SELECT r.rolname, has_table_privilege(r.rolname, 'loginas.row_stamp', 'SELECT') AS table_select,
	   has_table_privilege(r.rolname, 'loginas.row_stamp', 'INSERT,UPDATE,DELETE') AS table_write,
	   has_table_privilege(r.rolname, 'loginas.row_stamps', 'SELECT') AS view_select
  FROM pg_roles r
 WHERE r.rolname IN ('loginas_admin', 'loginas_reporting', 'loginas_storefront', 'loginas_auditor', 'regress_stamps_app')
 ORDER BY r.rolname;
-- pg_dump keeps the stamps with loginas' configuration
SELECT c::regclass AS dumped FROM pg_extension e, unnest(e.extconfig) c
 WHERE e.extname = 'loginas' AND c::regclass::text IN ('loginas.tracked', 'loginas.row_stamp') ORDER BY 1;

------------------------------------------------------------------------------
-- Switching: table -> columns adds the columns and drops the table's stamp
-- rows; columns -> table leaves the columns (no longer written) and says so;
-- untrack takes the stamp rows along
------------------------------------------------------------------------------
SELECT loginas.track('stm.ord', customer_column => 'customer_id');
SELECT pg_temp.cols('stm.ord') AS ord, (SELECT count(*) FROM loginas.row_stamp WHERE relation = 'stm.ord'::regclass) AS stamp_rows;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.ord SET status = 'columns' WHERE order_id = 2;
COMMIT;
SELECT order_id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed FROM stm.ord;
SELECT loginas.track('stm.ord', customer_column => 'customer_id', stamps => 'table');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.ord SET status = 'table' WHERE order_id = 2;
COMMIT;
SELECT order_id, pg_temp.s(loginas_created_session) AS created, pg_temp.s(loginas_changed_session) AS changed FROM stm.ord;
SELECT * FROM pg_temp.stamps('stm.ord');
SELECT loginas.untrack('stm.ord');
SELECT count(*) AS ord_stamps FROM loginas.row_stamp WHERE relation = 'stm.ord'::regclass;
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- Stamp columns dropped by a schema tool (TypeORM synchronize: true drops
-- the columns it does not know): in-session writes refused (55000) with the
-- table, the columns and the remedy; outside sessions the table is written
-- as usual; track() again adds them back, the tracking and its protected
-- columns kept
------------------------------------------------------------------------------
CREATE TABLE stm.profile (profile_id int PRIMARY KEY, customer_id int NOT NULL, nickname text, vip boolean);
INSERT INTO stm.profile VALUES (1, 1, 'vero', false), (2, 2, 'john', false);
SELECT loginas.track('stm.profile', customer_column => 'customer_id');
SELECT loginas.protect('stm.profile', 'vip');
CREATE TABLE stm.profile_tag (profile_id int REFERENCES stm.profile, tag text, PRIMARY KEY (profile_id, tag));
INSERT INTO stm.profile_tag VALUES (1, 'early');
SELECT loginas.track('stm.profile_tag', parent => 'stm.profile', created_column => 'made_in', changed_column => 'changed_in');
-- "schema sync"
ALTER TABLE stm.profile DROP COLUMN loginas_created_session, DROP COLUMN loginas_changed_session;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$UPDATE stm.profile SET nickname = 'v' WHERE profile_id = 1$$);
SELECT * FROM pg_temp.attempt($$INSERT INTO stm.profile VALUES (3, 1, 'alt', false)$$);
SELECT * FROM pg_temp.attempt($$DELETE FROM stm.profile WHERE profile_id = 1$$);
ROLLBACK;
-- outside sessions: written as usual
UPDATE stm.profile SET nickname = 'vero2' WHERE profile_id = 1;
INSERT INTO stm.profile VALUES (4, 2, 'jo', false);
DELETE FROM stm.profile WHERE profile_id = 4;
SELECT * FROM stm.profile ORDER BY profile_id;
-- one column gone; a child with its own stamp names
ALTER TABLE stm.profile_tag DROP COLUMN changed_in;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SELECT * FROM pg_temp.attempt($$INSERT INTO stm.profile_tag VALUES (1, 'vip')$$);
ROLLBACK;
-- re-armed by track() as the hint says: the columns are back, empty (their
-- data went with them), the protected column still protected
SELECT loginas.track('stm.profile', customer_column => 'customer_id');
SELECT loginas.track('stm.profile_tag', parent => 'stm.profile', created_column => 'made_in', changed_column => 'changed_in');
SELECT pg_temp.cols('stm.profile') AS profile, pg_temp.cols('stm.profile_tag') AS profile_tag;
SELECT relation, created_column, changed_column, protected_columns, stamps
  FROM loginas.tracked_tables WHERE relation::text LIKE 'stm.profile%' ORDER BY relation::text;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.profile SET nickname = 'v' WHERE profile_id = 1;
INSERT INTO stm.profile_tag VALUES (1, 'vip');
SELECT * FROM pg_temp.attempt($$UPDATE stm.profile SET vip = true WHERE profile_id = 1$$);
COMMIT;
SELECT profile_id, nickname, vip, pg_temp.s(loginas_created_session) AS created,
	   pg_temp.s(loginas_changed_session) AS changed FROM stm.profile ORDER BY profile_id;
SELECT profile_id, tag, pg_temp.s(made_in) AS created, pg_temp.s(changed_in) AS changed
  FROM stm.profile_tag ORDER BY profile_id, tag;
SELECT * FROM pg_temp.new_writes();
-- or out of the schema tool's way: the stamps in loginas.row_stamp
ALTER TABLE stm.profile DROP COLUMN loginas_created_session, DROP COLUMN loginas_changed_session;
SELECT loginas.track('stm.profile', customer_column => 'customer_id', stamps => 'table');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE stm.profile SET nickname = 'vee' WHERE profile_id = 1;
COMMIT;
SELECT * FROM pg_temp.stamps('stm.profile');
SELECT relation, protected_columns, stamps FROM loginas.tracked_tables WHERE relation = 'stm.profile'::regclass;

------------------------------------------------------------------------------
-- Back to the defaults for the next suite
------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP SCHEMA stm CASCADE;
RESET client_min_messages;
SELECT count(*) AS tracked_left, (SELECT count(*) FROM loginas.row_stamp) AS stamps_left
  FROM loginas.tracked WHERE relation::text LIKE 'stm.%';
DROP OWNED BY regress_stamps_app;
DROP ROLE regress_stamps_app;
SELECT loginas."end"(:'key');
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
