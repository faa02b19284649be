-- containment: a session writes only its customer's rows, judged on the
-- state of each row before the session first touched it in the transaction
-- and on its state at commit (src/containment.c).
--   what an ORM does in one transaction: insert a row and link it afterwards,
--   unlink a row and then delete it, change a key;
--   what is judged at commit, whatever ran after loginas' trigger: a shop
--   BEFORE trigger whose name sorts after loginas' (moving a row, setting a
--   protected column), a generated customer column;
--   INSERT ... ON CONFLICT onto another customer's key (DO NOTHING: nothing
--   written, nothing refused; DO UPDATE: refused at once);
--   a protected column changed and changed back; loginas.check_writes();
--   refusals at COMMIT (42501, the table and the key; the transaction rolls
--   back); keys whose values hold commas and spaces print apart;
--   ownership through any key path (track_through): a row another tracked
--   row points to, either of two ways (they must agree), a row several rows
--   point to is no one's; a referrer pointed only at rows the session made.
-- At its start it enables the feature, grants "login" to the Administrators
-- and gives Veronica's consent; at its end it drops its schema and restores
-- the defaults.  Its session's id is 9001 (the session sequence restarted
-- there), so that the refusals COMMIT prints read the same whatever the
-- suites before it did.
--
-- The shop (sql/setup.sql): admin 1 ada (Administrators); customers
-- 1 Veronica Costello, 2 John Doe.
\set VERBOSITY default

SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);
SELECT setval('loginas.session_session_id_seq', 9000);
SELECT token AS t FROM loginas.begin(1, 1, reason => 'ORM shapes') \gset
SELECT session_key AS key, session_id AS sid FROM loginas.redeem(:'t') \gset
CREATE TEMP TABLE mark AS SELECT COALESCE(max(log_id), 0) AS log_id FROM loginas.action_log;
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

------------------------------------------------------------------------------
-- The shop: orders (a customer column) with lines (a child table), addresses
-- with a protected column, a late-sorting shop trigger
------------------------------------------------------------------------------
CREATE SCHEMA orm;
CREATE TABLE orm.orders (order_id int PRIMARY KEY, customer_id int, total numeric NOT NULL DEFAULT 0);
CREATE TABLE orm.order_line (line_id int PRIMARY KEY, order_id int REFERENCES orm.orders,
	sku text NOT NULL, qty int NOT NULL DEFAULT 1);
CREATE TABLE orm.address (address_id int PRIMARY KEY, customer_id int NOT NULL, city text,
	tax_id text, move_to int);
INSERT INTO orm.orders VALUES (10, 1, 30), (20, 2, 5);
INSERT INTO orm.order_line VALUES (11, 10, 'MUG', 1), (21, 20, 'CAP', 1);
INSERT INTO orm.address VALUES (1, 1, 'Austin', 'TX-1', NULL), (2, 2, 'Boston', 'MA-2', NULL);
SELECT loginas.track('orm.orders', 'customer_id');
SELECT loginas.track('orm.order_line', 'orm.orders'::regclass);
SELECT loginas.track('orm.address', 'customer_id');
SELECT loginas.protect('orm.address', 'tax_id');
-- the shop's own BEFORE trigger, named to fire after loginas' (zz_loginas_*):
-- it moves a row to the customer in move_to, and with city 'forge' sets the
-- protected tax_id
CREATE FUNCTION orm.late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.move_to IS NOT NULL THEN
		NEW.customer_id := NEW.move_to;
		NEW.move_to := NULL;
	END IF;
	IF NEW.city = 'forge' THEN
		NEW.tax_id := 'FORGED';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER "zzzz_shop_late" BEFORE INSERT OR UPDATE ON orm.address
	FOR EACH ROW EXECUTE FUNCTION orm.late();
SELECT tgname FROM pg_trigger WHERE tgrelid = 'orm.address'::regclass AND NOT tgisinternal ORDER BY tgname COLLATE "C";

------------------------------------------------------------------------------
-- Insert, then link (TypeORM adds an order line so): committed
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.order_line (line_id, order_id, sku) VALUES (12, NULL, 'TEE');
UPDATE orm.order_line SET order_id = 10 WHERE line_id = 12;
COMMIT;
SELECT line_id, order_id, sku, loginas_created_session = :sid AS created_by_session
  FROM orm.order_line ORDER BY line_id;
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- Unlink, then delete (TypeORM removes an order line so): committed
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.order_line SET order_id = NULL WHERE line_id = 11;
DELETE FROM orm.order_line WHERE line_id = 11;
COMMIT;
SELECT line_id, order_id FROM orm.order_line ORDER BY line_id;
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- A row left belonging to another customer, or to none: refused at COMMIT,
-- and nothing of the transaction stays
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.orders SET total = 31 WHERE order_id = 10;
INSERT INTO orm.order_line (line_id, order_id, sku) VALUES (13, 20, 'SOCK');
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.order_line (line_id, order_id, sku) VALUES (14, NULL, 'LOST');
COMMIT;
-- a key changed, then the row moved: judged under the new key
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.orders SET order_id = 30 WHERE order_id = 20;
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.orders VALUES (30, 1, 0);
UPDATE orm.orders SET order_id = 31 WHERE order_id = 30;
UPDATE orm.orders SET customer_id = 2 WHERE order_id = 31;
COMMIT;
SELECT order_id, customer_id, total FROM orm.orders ORDER BY order_id;
SELECT line_id FROM orm.order_line WHERE line_id IN (13, 14);
SELECT * FROM pg_temp.new_writes();

------------------------------------------------------------------------------
-- An existing row of another customer: refused at once (its first state),
-- also through INSERT ... ON CONFLICT DO UPDATE; DO NOTHING writes nothing
-- and is not refused
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SAVEPOINT s;
UPDATE orm.order_line SET qty = 9 WHERE line_id = 21;
ROLLBACK TO SAVEPOINT s;
INSERT INTO orm.orders VALUES (20, 1, 0) ON CONFLICT (order_id) DO UPDATE SET customer_id = 1;
ROLLBACK TO SAVEPOINT s;
INSERT INTO orm.orders VALUES (20, 1, 0) ON CONFLICT (order_id) DO NOTHING;
COMMIT;
SELECT order_id, customer_id FROM orm.orders ORDER BY order_id;

------------------------------------------------------------------------------
-- After every BEFORE trigger: the shop's late trigger moves a row to John,
-- or sets a protected column -- refused at COMMIT
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.address SET move_to = 2 WHERE address_id = 1;
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.address (address_id, customer_id, city, move_to) VALUES (3, 1, 'Dallas', 2);
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.address SET city = 'forge' WHERE address_id = 1;
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.address (address_id, customer_id, city) VALUES (4, 1, 'forge');
COMMIT;
SELECT address_id, customer_id, city, tax_id FROM orm.address ORDER BY address_id;

------------------------------------------------------------------------------
-- A protected column changed and changed back in the transaction: what
-- counts is the state at commit.  loginas.check_writes() judges earlier, as
-- commit would, and commit judges again
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.address SET tax_id = 'TX-9' WHERE address_id = 1;
\set VERBOSITY sqlstate
SELECT loginas.check_writes();
\set VERBOSITY default
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
SAVEPOINT s;
UPDATE orm.address SET tax_id = 'TX-9' WHERE address_id = 1;
SELECT loginas.check_writes();
ROLLBACK TO SAVEPOINT s;
UPDATE orm.address SET tax_id = 'TX-9', city = 'Austin, TX' WHERE address_id = 1;
UPDATE orm.address SET tax_id = 'TX-1' WHERE address_id = 1;
SELECT loginas.check_writes();
COMMIT;
SELECT address_id, customer_id, city, tax_id FROM orm.address ORDER BY address_id;
SELECT * FROM pg_temp.new_writes();
-- outside a session there is nothing to judge
SELECT loginas.check_writes();

------------------------------------------------------------------------------
-- A generated customer column is computed after every BEFORE trigger: judged
-- as computed
------------------------------------------------------------------------------
CREATE TABLE orm.voucher (code text PRIMARY KEY, owner_ref int NOT NULL,
	customer_id int GENERATED ALWAYS AS (owner_ref / 100) STORED);
INSERT INTO orm.voucher (code, owner_ref) VALUES ('V1', 150), ('V2', 250);
SELECT loginas.track('orm.voucher', 'customer_id');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.voucher (code, owner_ref) VALUES ('V3', 199);
UPDATE orm.voucher SET owner_ref = 101 WHERE code = 'V1';
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.voucher SET owner_ref = 201 WHERE code = 'V1';
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.voucher (code, owner_ref) VALUES ('V4', 299);
COMMIT;
SELECT code, owner_ref, customer_id FROM orm.voucher ORDER BY code;

------------------------------------------------------------------------------
-- Keys that print alike when joined naively, ('p, q', 'r') and ('p', 'q, r'):
-- printed apart, in the refusal and in the log
------------------------------------------------------------------------------
CREATE TABLE orm.tag (a text, b text, customer_id int NOT NULL, note text, PRIMARY KEY (a, b));
INSERT INTO orm.tag VALUES ('p, q', 'r', 1, NULL), ('p', 'q, r', 2, NULL);
SELECT loginas.track('orm.tag', 'customer_id');
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.tag SET note = 'seen' WHERE a = 'p, q' AND b = 'r';
UPDATE orm.tag SET note = 'seen' WHERE a = 'p' AND b = 'q, r';
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.tag VALUES ('x (1)', '"y"', 2, 'theirs');
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.tag SET note = 'seen' WHERE a = 'p, q' AND b = 'r';
COMMIT;
SELECT * FROM pg_temp.new_writes();
SELECT "Keys" FROM loginas.customer_history(1) WHERE "Table" = 'orm.tag';

------------------------------------------------------------------------------
-- Ownership through any key path (loginas.track_through): a login row the
-- customer row points to (Vendure: customer.userId -> user), its
-- authentication rows (a child of it), a history entry owned by either its
-- customer or its order, an address an order points to twice (Medusa:
-- order.shipping_address_id and billing_address_id -> order_address)
------------------------------------------------------------------------------
CREATE TABLE orm.app_user (user_id int PRIMARY KEY, identifier text NOT NULL);
CREATE TABLE orm.shopper (shopper_id int PRIMARY KEY, user_id int REFERENCES orm.app_user, name text);
CREATE TABLE orm.auth_method (method_id int PRIMARY KEY, user_id int NOT NULL REFERENCES orm.app_user,
	password_hash text);
CREATE TABLE orm.history (entry_id int PRIMARY KEY, shopper_id int REFERENCES orm.shopper,
	order_id int REFERENCES orm.orders, note text);
CREATE TABLE orm.order_address (address_id int PRIMARY KEY, city text);
ALTER TABLE orm.orders ADD COLUMN shipping_address_id int REFERENCES orm.order_address,
	ADD COLUMN billing_address_id int REFERENCES orm.order_address;
INSERT INTO orm.app_user VALUES (1, 'veronica@example.com'), (2, 'john@example.com'), (9, 'admin@shop.example');
INSERT INTO orm.shopper VALUES (1, 1, 'Veronica'), (2, 2, 'John');
INSERT INTO orm.auth_method VALUES (11, 1, 'hash-v'), (12, 2, 'hash-j'), (19, 9, 'hash-admin');
INSERT INTO orm.history VALUES (101, 1, NULL, 'registered'), (102, NULL, 10, 'order placed'),
	(201, 2, NULL, 'registered'), (202, NULL, 20, 'order placed'), (900, NULL, NULL, 'system');
INSERT INTO orm.order_address VALUES (51, 'Austin'), (52, 'Dallas'), (61, 'Boston'), (70, 'Shared');
UPDATE orm.orders SET shipping_address_id = 51, billing_address_id = 52 WHERE order_id = 10;
UPDATE orm.orders SET shipping_address_id = 61, billing_address_id = 70 WHERE order_id = 20;
INSERT INTO orm.orders (order_id, customer_id, billing_address_id) VALUES (40, 1, 70);
SELECT loginas.track('orm.shopper', 'shopper_id');
-- refused: no table, a table that is not tracked, no foreign key between them
\set VERBOSITY sqlstate
SELECT loginas.track_through('orm.app_user', ARRAY[]::regclass[]);
SELECT loginas.track_through('orm.app_user', ARRAY['orm.auth_method'::regclass]);
SELECT loginas.track_through('orm.app_user', ARRAY['orm.orders'::regclass]);
\set VERBOSITY default
SELECT loginas.track_through('orm.app_user', ARRAY['orm.orders'::regclass]);
SELECT loginas.track_through('orm.app_user', ARRAY['orm.shopper'::regclass]);
SELECT loginas.track('orm.auth_method', 'orm.app_user'::regclass);
SELECT loginas.track_through('orm.history', ARRAY['orm.shopper'::regclass, 'orm.orders']);
SELECT loginas.track_through('orm.order_address', ARRAY['orm.orders'::regclass]);
SELECT relation, position, via, direction, columns, via_columns FROM loginas.tracked_paths;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
-- Veronica's own login, authentication, history and addresses
UPDATE orm.app_user SET identifier = 'vero@example.com' WHERE user_id = 1;
UPDATE orm.auth_method SET password_hash = 'hash-v2' WHERE method_id = 11;
UPDATE orm.history SET note = 'registered (checked)' WHERE entry_id IN (101, 102);
INSERT INTO orm.history VALUES (103, NULL, 10, 'called the customer');
UPDATE orm.order_address SET city = 'Austin, TX' WHERE address_id IN (51, 52);
SAVEPOINT s;
-- John's login, his authentication, his history, his order's address
UPDATE orm.app_user SET identifier = 'evil@example.com' WHERE user_id = 2;
ROLLBACK TO SAVEPOINT s;
UPDATE orm.auth_method SET password_hash = 'forged' WHERE method_id = 12;
ROLLBACK TO SAVEPOINT s;
UPDATE orm.history SET note = 'x' WHERE entry_id = 202;
ROLLBACK TO SAVEPOINT s;
UPDATE orm.order_address SET city = 'x' WHERE address_id = 61;
ROLLBACK TO SAVEPOINT s;
-- no customer's: the admin's login, a system history entry, an address two
-- customers' orders point to
UPDATE orm.auth_method SET password_hash = 'forged' WHERE method_id = 19;
ROLLBACK TO SAVEPOINT s;
UPDATE orm.history SET note = 'x' WHERE entry_id = 900;
ROLLBACK TO SAVEPOINT s;
UPDATE orm.order_address SET city = 'x' WHERE address_id = 70;
ROLLBACK TO SAVEPOINT s;
-- a new history entry of John's order: refused at commit
INSERT INTO orm.history VALUES (104, NULL, 20, 'wrong order');
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.app_user SET identifier = 'vero@example.com' WHERE user_id = 1;
UPDATE orm.auth_method SET password_hash = 'hash-v2' WHERE method_id = 11;
UPDATE orm.order_address SET city = 'Austin, TX' WHERE address_id = 51;
COMMIT;
-- an order pointed at a new address the session created: the address is the
-- customer's; pointed at an address the session did not create (John's):
-- refused at commit -- it would give that address to the customer
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
INSERT INTO orm.order_address VALUES (53, 'Houston');
UPDATE orm.orders SET shipping_address_id = 53 WHERE order_id = 10;
COMMIT;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.orders SET billing_address_id = 61 WHERE order_id = 10;
COMMIT;
SELECT order_id, shipping_address_id, billing_address_id FROM orm.orders ORDER BY 1;
SELECT user_id, identifier FROM orm.app_user ORDER BY 1;
SELECT method_id, password_hash FROM orm.auth_method ORDER BY 1;
SELECT * FROM pg_temp.new_writes();
-- untracking a table on the way leaves the tables beyond it no way to
-- their customer: a session may not write them
SELECT loginas.untrack('orm.order_address');
SELECT loginas.untrack('orm.history');
SELECT loginas.untrack('orm.auth_method');
SELECT loginas.untrack('orm.shopper');
SELECT relation FROM loginas.tracked_paths;
BEGIN;
SELECT loginas.assume(:'key') = :sid AS assumed;
UPDATE orm.app_user SET identifier = 'vero@example.com' WHERE user_id = 1;
ROLLBACK;
SELECT loginas.untrack('orm.app_user');

------------------------------------------------------------------------------
-- Back to the defaults for the next suite
------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP SCHEMA orm CASCADE;
RESET client_min_messages;
SELECT loginas."end"(:'key');
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
