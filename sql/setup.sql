-- setup: the extension and a small shop every later suite uses
CREATE EXTENSION loginas CASCADE;
-- what \dx shows, from the catalog (psql's \dx differs between majors)
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema,
       obj_description(e.oid, 'pg_extension') AS description
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'loginas';
CREATE SCHEMA shop;
CREATE TABLE shop.website (website_id int PRIMARY KEY, code text, name text NOT NULL, is_default boolean NOT NULL DEFAULT false);
CREATE TABLE shop.store (store_id int PRIMARY KEY, website_id int NOT NULL REFERENCES shop.website, name text NOT NULL, is_active boolean NOT NULL DEFAULT true, is_default boolean NOT NULL DEFAULT false);
CREATE TABLE shop.customer (customer_id int PRIMARY KEY, email varchar(255) NOT NULL, firstname text, lastname text, is_active boolean NOT NULL DEFAULT true, website_id int NOT NULL, store_id int NOT NULL);
CREATE TABLE shop.admin (admin_id int PRIMARY KEY, username varchar(40) NOT NULL, firstname text, lastname text, is_active boolean NOT NULL DEFAULT true, role text NOT NULL);
CREATE TABLE shop.sales_order (order_id int PRIMARY KEY, customer_id int, store_id int NOT NULL, increment_id varchar(32) NOT NULL);
INSERT INTO shop.website VALUES (1,'base','Main Website',true),(2,'eu','EU Website',false);
INSERT INTO shop.store VALUES (1,1,'Default Store View',true,true),(2,1,'French',true,false),(3,2,'EU English',true,true),(4,2,'EU German',false,false);
INSERT INTO shop.customer VALUES (1,'veronica@example.com','Veronica','Costello',true,1,2),(2,'john@example.com','John','Doe',true,2,3),(3,'gone@example.com','Gone','Away',false,1,1);
INSERT INTO shop.admin VALUES (1,'ada','Ada','Admin',true,'Administrators'),(2,'sam','Sam','Support',true,'Support'),(3,'old','Old','Timer',false,'Administrators'),(4,'max','Max','Marketing',true,'Marketing');
INSERT INTO shop.sales_order VALUES (100,1,2,'000000100'),(101,NULL,1,'000000101'),(102,2,3,'000000102');
CREATE VIEW shop.loginas_customers AS SELECT customer_id, email, firstname||' '||lastname AS display_name, is_active, website_id, store_id FROM shop.customer;
CREATE VIEW shop.loginas_admins AS SELECT admin_id, username, firstname||' '||lastname AS display_name, is_active, role FROM shop.admin;
CREATE VIEW shop.loginas_store_views AS SELECT s.store_id, s.website_id, s.name, w.name AS website_name, s.is_active, s.is_default FROM shop.store s JOIN shop.website w USING (website_id);
CREATE VIEW shop.loginas_orders AS SELECT order_id AS document_id, customer_id, store_id, increment_id AS reference FROM shop.sales_order;
-- loginas reads bound relations as loginas_reader: the shop grants it what to read
GRANT USAGE ON SCHEMA shop TO loginas_reader;
GRANT SELECT ON shop.loginas_customers, shop.loginas_admins, shop.loginas_store_views, shop.loginas_orders TO loginas_reader;
SELECT loginas.bind('customers','shop.loginas_customers');
SELECT loginas.bind('admins','shop.loginas_admins');
SELECT loginas.bind('store_views','shop.loginas_store_views');
SELECT loginas.bind('orders','shop.loginas_orders');
CREATE TABLE shop.invoice (invoice_id int PRIMARY KEY, order_id int NOT NULL REFERENCES shop.sales_order, increment_id varchar(32) NOT NULL);
CREATE TABLE shop.shipment (shipment_id int PRIMARY KEY, order_id int NOT NULL REFERENCES shop.sales_order, increment_id varchar(32) NOT NULL);
CREATE TABLE shop.creditmemo (creditmemo_id int PRIMARY KEY, order_id int NOT NULL REFERENCES shop.sales_order, increment_id varchar(32) NOT NULL);
INSERT INTO shop.invoice VALUES (200, 100, '000000200'), (201, 101, '000000201');
INSERT INTO shop.shipment VALUES (300, 100, '000000300');
INSERT INTO shop.creditmemo VALUES (400, 102, '000000400');
CREATE VIEW shop.loginas_invoices AS SELECT i.invoice_id AS document_id, o.customer_id, o.store_id, i.increment_id AS reference FROM shop.invoice i JOIN shop.sales_order o USING (order_id);
CREATE VIEW shop.loginas_shipments AS SELECT s.shipment_id AS document_id, o.customer_id, o.store_id, s.increment_id AS reference FROM shop.shipment s JOIN shop.sales_order o USING (order_id);
CREATE VIEW shop.loginas_credit_memos AS SELECT c.creditmemo_id AS document_id, o.customer_id, o.store_id, c.increment_id AS reference FROM shop.creditmemo c JOIN shop.sales_order o USING (order_id);
GRANT SELECT ON shop.loginas_invoices, shop.loginas_shipments, shop.loginas_credit_memos TO loginas_reader;
SELECT loginas.bind('invoices', 'shop.loginas_invoices');
SELECT loginas.bind('shipments', 'shop.loginas_shipments');
SELECT loginas.bind('credit_memos', 'shop.loginas_credit_memos');
SELECT kind, relation, status, required_columns FROM loginas.bindings;
