-- test/demo/shop.sql — a small Magento 2 shop for `make demo`.
--
-- Part 1 creates Magento's own tables with the shapes of Magento 2.4's
-- db_schema.xml (a subset of the columns of each, MySQL types mapped to
-- PostgreSQL: int/smallint unsigned -> integer/smallint, decimal(20,4) ->
-- numeric(20,4), flags stay smallint 0/1) and fills them with sample rows.
-- Part 2 adds the plain views, in schema shop_loginas, through which loginas
-- reads them.  Magento's tables are not changed in any way: the renames and
-- casts (smallint flags -> boolean) happen in the views.
--
-- Loaded by test/demo.sh as the database superuser `postgres` into database
-- `shop`; the views must be owned by a superuser to be bound.

SET client_min_messages = warning;

------------------------------------------------------------------------------
-- Part 1. Magento's tables
------------------------------------------------------------------------------

-- Stores > All Stores: websites, stores (store groups) and store views.
-- Id 0 is Magento's "Admin" website/group/store view.
CREATE TABLE store_website (
	website_id			smallint PRIMARY KEY,
	code				varchar(32) UNIQUE,
	name				varchar(64),
	sort_order			smallint NOT NULL DEFAULT 0,
	default_group_id	smallint NOT NULL DEFAULT 0,
	is_default			smallint DEFAULT 0
);

CREATE TABLE store_group (
	group_id			smallint PRIMARY KEY,
	website_id			smallint NOT NULL DEFAULT 0 REFERENCES store_website ON DELETE CASCADE,
	name				varchar(255) NOT NULL,
	root_category_id	integer NOT NULL DEFAULT 0,
	default_store_id	smallint NOT NULL DEFAULT 0,
	code				varchar(32) UNIQUE
);

CREATE TABLE store (
	store_id			smallint PRIMARY KEY,
	code				varchar(32) UNIQUE,
	website_id			smallint NOT NULL DEFAULT 0 REFERENCES store_website ON DELETE CASCADE,
	group_id			smallint NOT NULL DEFAULT 0 REFERENCES store_group ON DELETE CASCADE,
	name				varchar(255) NOT NULL,
	sort_order			smallint NOT NULL DEFAULT 0,
	is_active			smallint NOT NULL DEFAULT 0
);

-- Customers > All Customers
CREATE TABLE customer_entity (
	entity_id			integer PRIMARY KEY,
	website_id			smallint REFERENCES store_website ON DELETE SET NULL,
	email				varchar(255),
	group_id			smallint NOT NULL DEFAULT 0,
	increment_id		varchar(50),
	store_id			smallint DEFAULT 0 REFERENCES store ON DELETE SET NULL,
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	is_active			smallint NOT NULL DEFAULT 1,
	disable_auto_group_change smallint NOT NULL DEFAULT 0,
	created_in			varchar(255),
	prefix				varchar(40),
	firstname			varchar(255),
	middlename			varchar(255),
	lastname			varchar(255),
	suffix				varchar(40),
	dob					date,
	password_hash		varchar(128),
	rp_token			varchar(128),
	rp_token_created_at	timestamp,
	default_billing		integer,
	default_shipping	integer,
	taxvat				varchar(50),
	confirmation		varchar(64),
	gender				smallint,
	failures_num		smallint DEFAULT 0,
	first_failure		timestamp,
	lock_expires		timestamp,
	UNIQUE (email, website_id)
);

-- System > Permissions > All Users
CREATE TABLE admin_user (
	user_id				integer PRIMARY KEY,
	firstname			varchar(32),
	lastname			varchar(32),
	email				varchar(128),
	username			varchar(40) UNIQUE,
	password			varchar(255) NOT NULL,
	created				timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	modified			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	logdate				timestamp,
	lognum				smallint NOT NULL DEFAULT 0,
	reload_acl_flag		smallint NOT NULL DEFAULT 0,
	is_active			smallint NOT NULL DEFAULT 1,
	extra				text,
	rp_token			text,
	rp_token_created_at	timestamp,
	interface_locale	varchar(16) NOT NULL DEFAULT 'en_US',
	failures_num		smallint DEFAULT 0,
	first_failure		timestamp,
	lock_expires		timestamp
);

-- System > Permissions > User Roles: one tree.  'G' rows are the roles
-- (groups, tree_level 1); each admin user has one 'U' row (tree_level 2)
-- whose parent_id is its role and whose role_name is the username.
-- user_type '2' is UserContextInterface::USER_TYPE_ADMIN.
CREATE TABLE authorization_role (
	role_id				integer PRIMARY KEY,
	parent_id			integer NOT NULL DEFAULT 0,
	tree_level			smallint NOT NULL DEFAULT 0,
	sort_order			smallint NOT NULL DEFAULT 0,
	role_type			varchar(1) NOT NULL DEFAULT '0',
	user_id				integer NOT NULL DEFAULT 0,
	user_type			varchar(16),
	role_name			varchar(50)
);
CREATE INDEX authorization_role_parent_id_sort_order ON authorization_role (parent_id, sort_order);
CREATE INDEX authorization_role_tree_level ON authorization_role (tree_level);

-- Sales > Orders (customer_id is NULL for a guest order)
CREATE TABLE sales_order (
	entity_id			integer PRIMARY KEY,
	state				varchar(32),
	status				varchar(32),
	coupon_code			varchar(255),
	protect_code		varchar(255),
	shipping_description varchar(255),
	is_virtual			smallint,
	store_id			smallint REFERENCES store ON DELETE SET NULL,
	customer_id			integer REFERENCES customer_entity ON DELETE SET NULL,
	base_grand_total	numeric(20,4),
	base_subtotal		numeric(20,4),
	grand_total			numeric(20,4),
	shipping_amount		numeric(20,4),
	subtotal			numeric(20,4),
	total_qty_ordered	numeric(12,4),
	customer_is_guest	smallint,
	customer_note_notify smallint,
	customer_group_id	integer,
	email_sent			smallint,
	quote_id			integer,
	increment_id		varchar(32),
	base_currency_code	char(3),
	order_currency_code	char(3),
	customer_email		varchar(128),
	customer_firstname	varchar(128),
	customer_lastname	varchar(128),
	remote_ip			varchar(45),
	shipping_method		varchar(120),
	store_name			varchar(255),
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	total_item_count	smallint NOT NULL DEFAULT 0,
	UNIQUE (increment_id, store_id)
);
CREATE INDEX sales_order_customer_id ON sales_order (customer_id);

-- Sales > Invoices / Shipments / Credit Memos
CREATE TABLE sales_invoice (
	entity_id			integer PRIMARY KEY,
	store_id			smallint REFERENCES store ON DELETE SET NULL,
	base_grand_total	numeric(20,4),
	grand_total			numeric(20,4),
	total_qty			numeric(12,4),
	order_id			integer NOT NULL REFERENCES sales_order ON DELETE CASCADE,
	state				integer,
	email_sent			smallint,
	increment_id		varchar(50),
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	UNIQUE (increment_id, store_id)
);

CREATE TABLE sales_shipment (
	entity_id			integer PRIMARY KEY,
	store_id			smallint REFERENCES store ON DELETE SET NULL,
	total_weight		numeric(12,4),
	total_qty			numeric(12,4),
	email_sent			smallint,
	order_id			integer NOT NULL REFERENCES sales_order ON DELETE CASCADE,
	customer_id			integer,
	shipment_status		integer,
	increment_id		varchar(50),
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	UNIQUE (increment_id, store_id)
);

CREATE TABLE sales_creditmemo (
	entity_id			integer PRIMARY KEY,
	store_id			smallint REFERENCES store ON DELETE SET NULL,
	grand_total			numeric(20,4),
	base_grand_total	numeric(20,4),
	order_id			integer NOT NULL REFERENCES sales_order ON DELETE CASCADE,
	creditmemo_status	integer,
	state				integer,
	increment_id		varchar(50),
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	customer_note		text,
	UNIQUE (increment_id, store_id)
);

-- the comments on an order's "Comments History"
CREATE TABLE sales_order_status_history (
	entity_id			integer PRIMARY KEY,
	parent_id			integer NOT NULL REFERENCES sales_order ON DELETE CASCADE,
	is_customer_notified integer,
	is_visible_on_front	smallint NOT NULL DEFAULT 0,
	comment				text,
	status				varchar(32),
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	entity_name			varchar(32)
);

-- shopping carts (a quote turns into an order; is_active 0 once converted)
CREATE TABLE quote (
	entity_id			integer PRIMARY KEY,
	store_id			smallint NOT NULL DEFAULT 0 REFERENCES store ON DELETE CASCADE,
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	converted_at		timestamp,
	is_active			smallint DEFAULT 1,
	is_virtual			smallint DEFAULT 0,
	items_count			integer DEFAULT 0,
	items_qty			numeric(12,4) DEFAULT 0,
	base_currency_code	varchar(255),
	quote_currency_code	varchar(255),
	grand_total			numeric(20,4) DEFAULT 0,
	base_grand_total	numeric(20,4) DEFAULT 0,
	customer_id			integer,
	customer_group_id	integer DEFAULT 0,
	customer_email		varchar(255),
	customer_firstname	varchar(255),
	customer_lastname	varchar(255),
	customer_is_guest	smallint DEFAULT 0,
	reserved_order_id	varchar(64),
	subtotal			numeric(20,4)
);

CREATE TABLE quote_item (
	item_id				integer PRIMARY KEY,
	quote_id			integer NOT NULL DEFAULT 0 REFERENCES quote ON DELETE CASCADE,
	created_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at			timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
	product_id			integer,
	store_id			smallint REFERENCES store ON DELETE SET NULL,
	parent_item_id		integer REFERENCES quote_item ON DELETE CASCADE,
	is_virtual			smallint,
	sku					varchar(255),
	name				varchar(255),
	qty					numeric(12,4) NOT NULL DEFAULT 0,
	price				numeric(12,4) NOT NULL DEFAULT 0,
	base_price			numeric(12,4) NOT NULL DEFAULT 0,
	row_total			numeric(20,4) NOT NULL DEFAULT 0,
	base_row_total		numeric(20,4) NOT NULL DEFAULT 0,
	product_type		varchar(255)
);

------------------------------------------------------------------------------
-- Sample rows
------------------------------------------------------------------------------

-- websites -> stores (groups) -> store views
INSERT INTO store_website (website_id, code, name, sort_order, default_group_id, is_default) VALUES
	(0, 'admin', 'Admin',          0, 0, 0),
	(1, 'base',  'Main Website',   0, 1, 1),
	(2, 'eu',    'Europe Website', 1, 2, 0);

INSERT INTO store_group (group_id, website_id, name, root_category_id, default_store_id, code) VALUES
	(0, 0, 'Default',            0, 0, 'default'),
	(1, 1, 'Main Website Store', 2, 1, 'main_website_store'),
	(2, 2, 'Europe Store',       2, 3, 'europe_store');

INSERT INTO store (store_id, code, website_id, group_id, name, sort_order, is_active) VALUES
	(0, 'admin',   0, 0, 'Admin',              0, 1),
	(1, 'default', 1, 1, 'Default Store View', 0, 1),
	(2, 'fr',      1, 1, 'French Store View',  1, 1),
	(3, 'eu_en',   2, 2, 'Europe English',     0, 1),
	(4, 'eu_de',   2, 2, 'Europe German',      1, 0);	-- disabled

-- customers (Veronica Costello is Magento's sample customer)
INSERT INTO customer_entity (entity_id, website_id, email, group_id, store_id, created_at, updated_at,
							 is_active, created_in, firstname, lastname, dob, password_hash, gender)
VALUES
	(1, 1, 'veronica.costello@example.com', 1, 1, '2026-03-14 09:12:00', '2026-11-02 18:40:00',
	 1, 'Default Store View', 'Veronica', 'Costello', '1973-12-15',
	 'c4b1f0a9e2d34c5b8a7f6e5d4c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a2910:Vx8kq2LmN0pR7sTu:3_32_2_67108864', 2),
	(2, 1, 'jane.smith@example.com', 1, 2, '2026-05-02 14:30:00', '2026-05-02 14:30:00',
	 1, 'French Store View', 'Jane', 'Smith', NULL,
	 '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9:Qw3eR5tY7uI9oP1a:3_32_2_67108864', 2),
	(3, 2, 'anna.mueller@example.com', 1, 4, '2026-06-21 08:05:00', '2026-09-30 11:00:00',
	 1, 'Europe German', 'Anna', 'Müller', NULL,
	 'f9e8d7c6b5a4938271605f4e3d2c1b0af9e8d7c6b5a4938271605f4e3d2c1b0a:Zx1cV3bN5mA7sD9f:3_32_2_67108864', 2),
	(4, 2, 'luis.garcia@example.com', 1, 3, '2026-07-09 19:45:00', '2026-07-09 19:45:00',
	 1, 'Europe English', 'Luis', 'García', NULL,
	 '1122334455667788990011223344556677889900112233445566778899001122:Hj4kL6zX8cV0bN2m:3_32_2_67108864', 1),
	(5, 1, 'mark.evans@example.com', 1, 1, '2025-01-10 10:00:00', '2026-08-01 09:00:00',
	 0, 'Default Store View', 'Mark', 'Evans', NULL,	-- deactivated account
	 'aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899:Gf5dS3aP1oI9uY7t:3_32_2_67108864', 1);

-- admin users
INSERT INTO admin_user (user_id, firstname, lastname, email, username, password, created, modified,
						logdate, lognum, is_active, interface_locale)
VALUES
	(1, 'Alice', 'Owner',  'alice.owner@example.com',  'alice.owner',
	 '5e2b1c0d9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c:pL0kM9nJ8bH7:2', '2025-11-01', '2026-11-20',
	 '2026-11-27 07:55:00', 412, 1, 'en_US'),
	(2, 'Sam',   'Carter', 'sam.carter@example.com',   'sam.support',
	 '7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e:qA2wS3eD4rF5:2', '2026-02-01', '2026-02-01',
	 '2026-11-27 07:58:00', 97, 1, 'en_US'),
	(3, 'Mia',   'Lopez',  'mia.lopez@example.com',    'mia.marketing',
	 '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0:zX9cV8bN7mL6:2', '2026-04-15', '2026-04-15',
	 '2026-11-26 16:20:00', 55, 1, 'en_US'),
	(4, 'Oscar', 'Former', 'oscar.former@example.com', 'oscar.former',
	 '9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9:tR5eW4qA3sD2:2', '2024-06-01', '2026-09-30',
	 '2026-09-29 17:00:00', 830, 0, 'en_US');	-- left the company: inactive

-- the role tree: three roles ('G') and one 'U' row per admin under its role
INSERT INTO authorization_role (role_id, parent_id, tree_level, sort_order, role_type, user_id, user_type, role_name)
VALUES
	(1, 0, 1, 1, 'G', 0, '2', 'Administrators'),
	(2, 0, 1, 0, 'G', 0, '2', 'Support'),
	(3, 0, 1, 0, 'G', 0, '2', 'Marketing'),
	(4, 1, 2, 0, 'U', 1, '2', 'alice.owner'),
	(5, 2, 2, 0, 'U', 2, '2', 'sam.support'),
	(6, 3, 2, 0, 'U', 3, '2', 'mia.marketing'),
	(7, 1, 2, 0, 'U', 4, '2', 'oscar.former');

-- orders: Veronica's two, a guest's, Anna's (refunded)
INSERT INTO sales_order (entity_id, state, status, shipping_description, is_virtual, store_id, customer_id,
						 base_grand_total, base_subtotal, grand_total, shipping_amount, subtotal, total_qty_ordered,
						 customer_is_guest, customer_note_notify, customer_group_id, email_sent, quote_id,
						 increment_id, base_currency_code, order_currency_code, customer_email,
						 customer_firstname, customer_lastname, remote_ip, shipping_method, store_name,
						 created_at, updated_at, total_item_count)
VALUES
	(1, 'complete', 'complete', 'Flat Rate - Fixed', 0, 1, 1, 64.0000, 59.0000, 64.0000, 5.0000, 59.0000, 1.0000,
	 0, 1, 1, 1, 1, '000000001', 'USD', 'USD', 'veronica.costello@example.com', 'Veronica', 'Costello',
	 '203.0.113.17', 'flatrate_flatrate', E'Main Website\nMain Website Store\nDefault Store View',
	 '2026-10-03 16:21:00', '2026-10-06 09:02:00', 1),
	(2, 'processing', 'processing', 'Flat Rate - Fixed', 0, 1, NULL, 49.0000, 44.0000, 49.0000, 5.0000, 44.0000, 2.0000,
	 1, 1, 0, 1, 2, '000000002', 'USD', 'USD', 'pat.kelly@example.net', 'Pat', 'Kelly',
	 '198.51.100.4', 'flatrate_flatrate', E'Main Website\nMain Website Store\nDefault Store View',
	 '2026-11-18 12:10:00', '2026-11-18 12:15:00', 1),
	(3, 'processing', 'processing', 'Flat Rate - Fixed', 0, 1, 1, 100.0000, 90.0000, 100.0000, 10.0000, 90.0000, 2.0000,
	 0, 1, 1, 1, 3, '000000003', 'USD', 'USD', 'veronica.costello@example.com', 'Veronica', 'Costello',
	 '203.0.113.17', 'flatrate_flatrate', E'Main Website\nMain Website Store\nDefault Store View',
	 '2026-11-24 20:47:00', '2026-11-24 20:49:00', 2),
	(4, 'closed', 'closed', 'Flat Rate - Fixed', 0, 3, 3, 39.0000, 34.0000, 39.0000, 5.0000, 34.0000, 1.0000,
	 0, 1, 1, 1, 4, '3000000001', 'EUR', 'EUR', 'anna.mueller@example.com', 'Anna', 'Müller',
	 '192.0.2.33', 'flatrate_flatrate', E'Europe Website\nEurope Store\nEurope English',
	 '2026-09-12 10:00:00', '2026-09-30 11:00:00', 1);

INSERT INTO sales_invoice (entity_id, store_id, base_grand_total, grand_total, total_qty, order_id, state,
						   email_sent, increment_id, created_at, updated_at)
VALUES
	(1, 1, 64.0000, 64.0000, 1.0000, 1, 2, 1, '000000001', '2026-10-03 16:21:00', '2026-10-03 16:21:00'),
	(2, 1, 49.0000, 49.0000, 2.0000, 2, 2, 1, '000000002', '2026-11-18 12:15:00', '2026-11-18 12:15:00'),
	(3, 1, 100.0000, 100.0000, 2.0000, 3, 2, 1, '000000003', '2026-11-24 20:49:00', '2026-11-24 20:49:00'),
	(4, 3, 39.0000, 39.0000, 1.0000, 4, 2, 1, '3000000001', '2026-09-12 10:00:00', '2026-09-12 10:00:00');

INSERT INTO sales_shipment (entity_id, store_id, total_weight, total_qty, email_sent, order_id, customer_id,
							increment_id, created_at, updated_at)
VALUES
	(1, 1, 1.0000, 1.0000, 1, 1, 1, '000000001', '2026-10-06 09:02:00', '2026-10-06 09:02:00'),
	(2, 3, 0.5000, 1.0000, 1, 4, 3, '3000000001', '2026-09-14 08:30:00', '2026-09-14 08:30:00');

INSERT INTO sales_creditmemo (entity_id, store_id, grand_total, base_grand_total, order_id, state,
							  increment_id, created_at, updated_at, customer_note)
VALUES
	(1, 3, 39.0000, 39.0000, 4, 2, '3000000001', '2026-09-30 11:00:00', '2026-09-30 11:00:00',
	 'Returned: wrong size');

INSERT INTO sales_order_status_history (entity_id, parent_id, is_customer_notified, is_visible_on_front,
										comment, status, created_at, entity_name)
VALUES
	(1, 1, 1, 0, 'Captured amount of $64.00 online.', 'processing', '2026-10-03 16:21:00', 'invoice'),
	(2, 1, 1, 0, NULL, 'complete', '2026-10-06 09:02:00', 'shipment'),
	(3, 2, 1, 0, 'Captured amount of $49.00 online.', 'processing', '2026-11-18 12:15:00', 'invoice'),
	(4, 3, 1, 0, 'Captured amount of $100.00 online.', 'processing', '2026-11-24 20:49:00', 'invoice'),
	(5, 4, 1, 0, 'We refunded €39.00 online.', 'closed', '2026-09-30 11:00:00', 'creditmemo');

-- carts: the ones behind the orders (converted) and Veronica's open cart
INSERT INTO quote (entity_id, store_id, created_at, updated_at, converted_at, is_active, items_count, items_qty,
				   base_currency_code, quote_currency_code, grand_total, base_grand_total, customer_id,
				   customer_group_id, customer_email, customer_firstname, customer_lastname, customer_is_guest,
				   reserved_order_id, subtotal)
VALUES
	(1, 1, '2026-10-03 16:02:00', '2026-10-03 16:21:00', '2026-10-03 16:21:00', 0, 1, 1, 'USD', 'USD',
	 64.0000, 64.0000, 1, 1, 'veronica.costello@example.com', 'Veronica', 'Costello', 0, '000000001', 59.0000),
	(2, 1, '2026-11-18 11:58:00', '2026-11-18 12:10:00', '2026-11-18 12:10:00', 0, 1, 2, 'USD', 'USD',
	 49.0000, 49.0000, NULL, 0, 'pat.kelly@example.net', 'Pat', 'Kelly', 1, '000000002', 44.0000),
	(3, 1, '2026-11-24 20:30:00', '2026-11-24 20:47:00', '2026-11-24 20:47:00', 0, 2, 2, 'USD', 'USD',
	 100.0000, 100.0000, 1, 1, 'veronica.costello@example.com', 'Veronica', 'Costello', 0, '000000003', 90.0000),
	(4, 3, '2026-09-12 09:40:00', '2026-09-12 10:00:00', '2026-09-12 10:00:00', 0, 1, 1, 'EUR', 'EUR',
	 39.0000, 39.0000, 3, 1, 'anna.mueller@example.com', 'Anna', 'Müller', 0, '3000000001', 34.0000),
	(5, 1, '2026-11-26 21:05:00', '2026-11-26 21:12:00', NULL, 1, 2, 3, 'USD', 'USD',
	 81.0000, 81.0000, 1, 1, 'veronica.costello@example.com', 'Veronica', 'Costello', 0, NULL, 81.0000);

INSERT INTO quote_item (item_id, quote_id, created_at, updated_at, product_id, store_id, is_virtual, sku, name,
						qty, price, base_price, row_total, base_row_total, product_type)
VALUES
	(1, 1, '2026-10-03 16:02:00', '2026-10-03 16:02:00', 14, 1, 0, '24-MB02', 'Fusion Backpack',
	 1, 59.0000, 59.0000, 59.0000, 59.0000, 'simple'),
	(2, 2, '2026-11-18 11:58:00', '2026-11-18 11:58:00', 1578, 1, 0, 'WS12-M-Orange', 'Radiant Tee',
	 2, 22.0000, 22.0000, 44.0000, 44.0000, 'simple'),
	(3, 3, '2026-11-24 20:30:00', '2026-11-24 20:30:00', 1594, 1, 0, 'WT09-S-Purple', 'Breathe-Easy Tank',
	 1, 34.0000, 34.0000, 34.0000, 34.0000, 'simple'),
	(4, 3, '2026-11-24 20:33:00', '2026-11-24 20:33:00', 24, 1, 0, '24-UG04', 'Zing Jump Rope',
	 1, 56.0000, 56.0000, 56.0000, 56.0000, 'simple'),
	(5, 4, '2026-09-12 09:40:00', '2026-09-12 09:40:00', 1594, 3, 0, 'WT09-M-Yellow', 'Breathe-Easy Tank',
	 1, 34.0000, 34.0000, 34.0000, 34.0000, 'simple'),
	(6, 5, '2026-11-26 21:05:00', '2026-11-26 21:05:00', 1578, 1, 0, 'WS12-S-Blue', 'Radiant Tee',
	 1, 22.0000, 22.0000, 22.0000, 22.0000, 'simple'),
	(7, 5, '2026-11-26 21:12:00', '2026-11-26 21:12:00', 1812, 1, 0, '24-WG085', 'Sprite Yoga Strap 6 foot',
	 2, 14.0000, 14.0000, 28.0000, 28.0000, 'simple');

------------------------------------------------------------------------------
-- Part 2. The views loginas reads (loginas.bind() in story.sql binds them).
-- Plain views, owned by the superuser, over Magento's unchanged tables.
------------------------------------------------------------------------------
CREATE SCHEMA shop_loginas;
COMMENT ON SCHEMA shop_loginas IS 'views mapping Magento''s tables to the columns loginas.bind() requires';

-- customers: customer_id, email, display_name, is_active, website_id, store_id
CREATE VIEW shop_loginas.customers AS
	SELECT c.entity_id AS customer_id,
		   c.email,
		   concat_ws(' ', c.firstname, c.lastname) AS display_name,
		   c.is_active <> 0 AS is_active,
		   c.website_id,
		   c.store_id
	  FROM customer_entity c;

-- admins: admin_id, username, display_name, is_active, role (the name of the
-- role, i.e. the 'G' parent of the admin's 'U' row in authorization_role)
CREATE VIEW shop_loginas.admins AS
	SELECT u.user_id AS admin_id,
		   u.username,
		   concat_ws(' ', u.firstname, u.lastname) AS display_name,
		   u.is_active <> 0 AS is_active,
		   g.role_name AS role
	  FROM admin_user u
	  LEFT JOIN authorization_role ur
			 ON ur.role_type = 'U' AND ur.user_type = '2' AND ur.user_id = u.user_id
	  LEFT JOIN authorization_role g
			 ON g.role_id = ur.parent_id AND g.role_type = 'G';

-- store_views: store_id, website_id, name, website_name, is_active, is_default
-- (is_default: the default store view of the website's default store group).
-- Magento's "Admin" store view 0 is not a storefront.
CREATE VIEW shop_loginas.store_views AS
	SELECT s.store_id,
		   s.website_id,
		   s.name,
		   w.name AS website_name,
		   s.is_active <> 0 AS is_active,
		   (g.group_id = w.default_group_id AND g.default_store_id = s.store_id) AS is_default
	  FROM store s
	  JOIN store_group g ON g.group_id = s.group_id
	  JOIN store_website w ON w.website_id = s.website_id
	 WHERE s.store_id <> 0;

-- documents: document_id, customer_id (NULL for a guest), store_id, reference
CREATE VIEW shop_loginas.orders AS
	SELECT o.entity_id AS document_id, o.customer_id, o.store_id, o.increment_id AS reference
	  FROM sales_order o;

CREATE VIEW shop_loginas.invoices AS
	SELECT i.entity_id AS document_id, o.customer_id, i.store_id, i.increment_id AS reference
	  FROM sales_invoice i JOIN sales_order o ON o.entity_id = i.order_id;

CREATE VIEW shop_loginas.shipments AS
	SELECT s.entity_id AS document_id, o.customer_id, s.store_id, s.increment_id AS reference
	  FROM sales_shipment s JOIN sales_order o ON o.entity_id = s.order_id;

CREATE VIEW shop_loginas.credit_memos AS
	SELECT m.entity_id AS document_id, o.customer_id, m.store_id, m.increment_id AS reference
	  FROM sales_creditmemo m JOIN sales_order o ON o.entity_id = m.order_id;

------------------------------------------------------------------------------
-- The database roles Magento connects as: the admin backend and the
-- storefront (loginas' capability roles are granted to them in story.sql,
-- once the extension exists).  No password: the demo cluster only listens
-- on a private socket directory, with trust authentication.
------------------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'magento_backend') THEN
		CREATE ROLE magento_backend LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'magento_storefront') THEN
		CREATE ROLE magento_storefront LOGIN;
	END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO magento_backend, magento_storefront;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO magento_backend, magento_storefront;
