-- test/demo/story.sql — the seed's story ("Providing Shopper Assistance"),
-- played by `make demo` (test/demo.sh) on the shop of test/demo/shop.sql,
-- connected first as the superuser postgres.  psql variable server_log
-- names the server's log file.
--
-- The transcript: \echo narration, then each statement as psql sends it
-- (ECHO queries), then its result.  psql does not echo meta-commands, so the
-- \connect switching between the actors is \echo'ed by hand.  The ticket and
-- the session key are secrets: they are kept in psql variables (\gset) and
-- never printed.  psql echoes a statement with its variables already
-- substituted, so the few statements that use a secret, or \gset one, run with
-- ECHO none and are shown, as written, by the \echo just before them.
-- Expected errors run with ON_ERROR_STOP off; any other error stops the story.
--
-- Write attribution: in step 1 the DBA tracks Magento's customer,
-- cart and order tables and protects two customer columns; in steps 11-13
-- Sam, in Veronica's session, adds to her cart, places her order (with
-- Magento's two Login as Customer order comments and a loginas.note()), and
-- is refused another customer's cart and her protected email; steps 15 and
-- 16 show the stamped rows, the report from a stamp to the admin, and the
-- write_* and note rows of the log.

\set ECHO queries
\set QUIET on
\set VERBOSITY default
\pset null '(null)'

\echo '################################################################################'
\echo '#  Login as Customer, enforced in PostgreSQL: the seed''s story on a Magento shop'
\echo '################################################################################'
\echo
\echo 'Actors: the DBA, and Magento''s admin backend and storefront, each connected'
\echo 'as its own database role: postgres, magento_backend and magento_storefront.'
\echo 'Admin users: Alice Owner (1, Administrators), Sam Carter (2, Support),'
\echo 'Mia Lopez (3, Marketing), Oscar Former (4, Administrators, inactive).'
\echo 'Customers: Veronica Costello (1), who calls Support about her order 000000003,'
\echo 'and Jane Smith (2), who has a Chaz Kangeroo Hoodie in her cart.'
\echo
\echo 'Each step below: what happens, in the words of the merchant documentation; the'
\echo 'SQL that Magento (or the DBA) sends to PostgreSQL; and what PostgreSQL answers.'
\echo

\echo '== 0. The DBA (connected as the superuser postgres) installs loginas and binds'
\echo '   Magento''s tables'
\echo '   The tables stay as they are; plain views in schema shop_loginas'
\echo '   (test/demo/shop.sql) map them to the columns loginas needs.'
\echo
CREATE EXTENSION loginas CASCADE;
GRANT loginas_admin, loginas_reporting TO magento_backend;
GRANT loginas_storefront TO magento_storefront;
\echo '   loginas reads bound relations as the role loginas_reader (granted to nobody):'
\echo '   the DBA says what it may read.'
GRANT USAGE ON SCHEMA shop_loginas TO loginas_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA shop_loginas TO loginas_reader;
\o /dev/null
SELECT loginas.bind('customers',    'shop_loginas.customers');
SELECT loginas.bind('admins',       'shop_loginas.admins');
SELECT loginas.bind('store_views',  'shop_loginas.store_views');
SELECT loginas.bind('orders',       'shop_loginas.orders');
SELECT loginas.bind('invoices',     'shop_loginas.invoices');
SELECT loginas.bind('shipments',    'shop_loginas.shipments');
SELECT loginas.bind('credit_memos', 'shop_loginas.credit_memos');
\o
SELECT kind, relation, status, required_columns FROM loginas.bindings;

\echo '   The shop as loginas sees it through the views:'
SELECT * FROM shop_loginas.admins ORDER BY admin_id;
SELECT * FROM shop_loginas.customers ORDER BY customer_id;
SELECT * FROM shop_loginas.store_views ORDER BY store_id;
SELECT * FROM shop_loginas.orders ORDER BY document_id;

\echo '== 1. The DBA tracks the tables an admin writes to when acting as a customer'
\echo '   "Any actions taken while logged in as the customer are applied to the actual'
\echo '   customer''s account."  PostgreSQL makes sure of it on tracked tables: in a Login'
\echo '   as Customer session a write may touch only the impersonated customer''s rows, each'
\echo '   row it writes is stamped with the session, and the write is logged at commit.'
\echo '   Outside a session, writes go on as before.'
\echo '   Each table says where its customer id is: in a column (for customer_entity, the'
\echo '   customer row itself: its own entity_id), or through its foreign key to a tracked'
\echo '   parent (quote_item -> quote; sales_order_item, sales_order_status_history ->'
\echo '   sales_order)'
\echo
\o /dev/null
SELECT loginas.track('customer_entity', customer_column => 'entity_id');
SELECT loginas.track('quote', customer_column => 'customer_id');
SELECT loginas.track('quote_item', parent => 'quote');
SELECT loginas.track('sales_order', customer_column => 'customer_id');
SELECT loginas.track('sales_order_item', parent => 'sales_order');
SELECT loginas.track('sales_order_status_history', parent => 'sales_order');
\o
\echo '   Some columns a session must never change, even on the customer''s own rows:'
SELECT loginas.protect('customer_entity', 'password_hash');
SELECT loginas.protect('customer_entity', 'email');
\echo '   What is tracked.  track() added two stamp columns to each table, bigint and NULL'
\echo '   until a session writes the row: the session that created the row, and the session'
\echo '   that made its last change'
SELECT relation, customer_column, parent, fk_columns, parent_columns, protected_columns,
       created_column, changed_column
  FROM loginas.tracked_tables;

\echo '== 2. The merchant enables Login as Customer'
\echo '   (Stores > Settings > Configuration > Customers > Login as Customer:'
\echo '   Enable Login as Customer = Yes; Save Config), signed in as Alice (admin user 1)'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT loginas.configure('enabled', 'on', by_admin => 1);
SELECT name, value, default_value, label FROM loginas.settings;

\echo '== 3. The merchant enables access for admin users'
\echo '   (System > Permissions > User Roles > Role Resources > Customers > Login as Customer):'
\echo '   Administrators get "Allow Login as Customer" and "View Login as Customer Log",'
\echo '   Support gets "Allow Login as Customer"; Marketing gets nothing.'
\echo
SELECT loginas.grant('Administrators', 'login', by_admin => 1);
SELECT loginas.grant('Administrators', 'view_log', by_admin => 1);
SELECT loginas.grant('Support', 'login', by_admin => 1);
SELECT role, resource, label FROM loginas.permissions;
\echo '   What each admin user may do now (Oscar''s account is inactive):'
SELECT user_id, username,
       loginas.permitted(user_id, 'login')    AS "Allow Login as Customer",
       loginas.permitted(user_id, 'view_log') AS "View Login as Customer Log"
  FROM admin_user ORDER BY user_id;

\echo '== 4. Veronica calls Support. Sam opens her order 000000003 (Sales > Orders > View):'
\echo '   she has not allowed remote shopping assistance yet, so the admin panel shows'
\echo '   the reason instead of letting him in'
\echo
SELECT * FROM loginas.check(admin_id => 2, customer_id => 1);

\echo '== 5. Veronica goes to Account Information on the storefront, checks'
\echo '   "Allow remote shopping assistance" and clicks Save'
\echo
\echo '\\connect - magento_storefront'
\connect - magento_storefront
SELECT loginas.set_assistance(customer_id => 1, allowed => true);
SELECT loginas.assistance_allowed(1);

\echo '== 6. Back in the admin panel, the Login as Customer button works for Sam ...'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT * FROM loginas.check(admin_id => 2, customer_id => 1);
\echo '   ... but not for Mia, whose Marketing role lacks "Allow Login as Customer":'
\echo
\set ON_ERROR_STOP off
SELECT * FROM loginas.begin_from(3, 'order', 3);
\set ON_ERROR_STOP on
\echo
\echo '   ... and a guest order (000000002) has no customer account to log in to:'
\echo
\set ON_ERROR_STOP off
SELECT * FROM loginas.begin_from(2, 'order', 2);
\set ON_ERROR_STOP on

\echo
\echo '== 7. Sam clicks Login as Customer on the view of order 000000003, noting the call'
\echo '   The admin panel gets a one-time ticket for the storefront and keeps it (psql'
\echo '   variable :ticket, never printed)'
\echo
\set ECHO none
\echo 'SELECT token AS ticket, length(token) AS ticket_length, to_char(expires_at, ''HH24:MI:SS'') AS ticket_valid_until'
\echo '  FROM loginas.begin_from(admin_id => 2, document_kind => ''order'', document_id => 3,'
\echo '                          reason => ''Call 4521: coupon not applied'') \\gset'
SELECT token AS ticket, length(token) AS ticket_length, to_char(expires_at, 'HH24:MI:SS') AS ticket_valid_until
  FROM loginas.begin_from(admin_id => 2, document_kind => 'order', document_id => 3,
                          reason => 'Call 4521: coupon not applied') \gset
\set ECHO queries
\echo '   The ticket is' :ticket_length 'characters long (256 random bits in hex) and can be redeemed once,'
\echo '   until' :ticket_valid_until '(ticket_ttl: one minute)'
\echo
\echo '   Behind the scenes (the DBA looks): loginas stores the ticket only as its SHA-256'
\echo '   hash, bound to Sam, Veronica and the store view Auto-Detection picked (her own)'
\echo
\echo '\\connect - postgres'
\connect - postgres
SELECT session_id, admin_id, customer_id, store_id, source, length(ticket_hash) AS ticket_hash_bytes,
       ticket_expires_at - created_at AS ticket_ttl, redeemed_at
  FROM loginas.session;

\echo '== 8. The browser opens the storefront with the ticket; the storefront redeems it'
\echo '   It keeps the session key in its own session (psql variable :session_key),'
\echo '   shows the banner and, as Disable Page Cache for Admin User says, bypasses'
\echo '   its page cache'
\echo
\echo '\\connect - magento_storefront'
\connect - magento_storefront
\set ECHO none
\echo 'SELECT *, length(session_key) AS key_length FROM loginas.redeem(:''ticket'') \\gset'
SELECT *, length(session_key) AS key_length FROM loginas.redeem(:'ticket') \gset
\set ECHO queries
\echo '   session_id         ' :session_id
\echo '   session_key        ' :key_length 'characters (never printed)'
\echo '   customer_id        ' :customer_id
\echo '   store_id           ' :store_id
\echo '   banner             ' :banner
\echo '   disable_page_cache ' :disable_page_cache
\echo '   expires_at         ' :expires_at '(session_ttl: one hour)'

\echo
\echo '== 9. Sam browses the storefront as Veronica'
\echo '   Every storefront request runs in one transaction that first assumes the session;'
\echo '   the storefront''s own queries then use loginas.current_customer(), so Sam sees'
\echo '   Veronica''s cart just as she does'
\echo
BEGIN;
\set ECHO none
\echo 'SELECT loginas.assume(:''session_key'');'
SELECT loginas.assume(:'session_key');
\set ECHO queries
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
       loginas.current_store(), loginas.banner();
SELECT i.sku, i.name, i.qty, i.row_total
  FROM quote q JOIN quote_item i ON i.quote_id = q.entity_id
 WHERE q.customer_id = loginas.current_customer() AND q.is_active = 1
 ORDER BY i.item_id;
COMMIT;
\echo '   The context belonged to that transaction only; it is gone after COMMIT:'
SELECT loginas.current_admin(), loginas.current_customer(), loginas.banner();

\echo '== 10. The ticket works once: redeeming it again fails'
\echo
\set ON_ERROR_STOP off
\set ECHO none
\echo 'SELECT * FROM loginas.redeem(:''ticket'');'
SELECT * FROM loginas.redeem(:'ticket');
\set ECHO queries
\set ON_ERROR_STOP on
\echo
\echo '== 11. Veronica asks Sam to add a Strive Shoulder Pack to her cart, and he does'
\echo '   "Any actions taken while logged in as the customer are applied to the actual'
\echo '   customer''s account": the storefront''s add-to-cart request, in the session, adds'
\echo '   the item to Veronica''s active cart (found through loginas.current_customer())'
\echo '   and updates the cart''s totals.  The rows stay Veronica''s; loginas stamps each'
\echo '   row the session creates or changes with the session id'
\echo
BEGIN;
\set ECHO none
\echo 'SELECT loginas.assume(:''session_key'');'
SELECT loginas.assume(:'session_key');
\set ECHO queries
INSERT INTO quote_item (quote_id, store_id, product_id, product_type, is_virtual, sku, name,
                        qty, price, base_price, row_total, base_row_total)
SELECT q.entity_id, q.store_id, 4, 'simple', 0, '24-MB04', 'Strive Shoulder Pack',
       1, 32.0000, 32.0000, 32.0000, 32.0000
  FROM quote q
 WHERE q.customer_id = loginas.current_customer() AND q.is_active = 1
RETURNING item_id, quote_id, sku, qty, loginas_created_session, loginas_changed_session;
UPDATE quote
   SET items_count = 3, items_qty = 4, subtotal = 82.0000, grand_total = 82.0000,
       base_grand_total = 82.0000, updated_at = now()
 WHERE customer_id = loginas.current_customer() AND is_active = 1
RETURNING entity_id, customer_id, items_count, items_qty, grand_total,
          loginas_created_session, loginas_changed_session;
COMMIT;

\echo
\echo '== 12. Sam places the order for Veronica (Checkout > Place Order)'
\echo '   One request: the cart becomes order 000000004 with its items, and the cart is'
\echo '   closed.  Magento''s Login as Customer module then adds two comments to the order:'
\echo '   "Order Placed by Store Administrator", which the customer sees, and "Order Placed'
\echo '   by <admin name> using Login as Customer", for the admin panel only; the'
\echo '   application finds the admin''s name through loginas.current_admin().  It also'
\echo '   records the action in the Login as Customer log, with loginas.note()'
\echo
BEGIN;
\set ECHO none
\echo 'SELECT loginas.assume(:''session_key'');'
SELECT loginas.assume(:'session_key');
\set ECHO queries
INSERT INTO sales_order (state, status, store_id, customer_id, quote_id, increment_id,
                         customer_is_guest, customer_group_id, customer_email,
                         customer_firstname, customer_lastname, base_currency_code, order_currency_code,
                         subtotal, base_subtotal, shipping_amount, grand_total, base_grand_total,
                         total_qty_ordered, total_item_count, shipping_method, shipping_description,
                         store_name)
SELECT 'new', 'pending', q.store_id, q.customer_id, q.entity_id,
       '000000004',    -- the next number of the store view's order sequence
       0, q.customer_group_id, q.customer_email,
       q.customer_firstname, q.customer_lastname, q.base_currency_code, q.quote_currency_code,
       q.subtotal, q.subtotal, 5 * q.items_qty, q.subtotal + 5 * q.items_qty, q.subtotal + 5 * q.items_qty,
       q.items_qty, q.items_count, 'flatrate_flatrate', 'Flat Rate - Fixed',
       E'Main Website\nMain Website Store\nDefault Store View'
  FROM quote q
 WHERE q.customer_id = loginas.current_customer() AND q.is_active = 1
RETURNING entity_id, increment_id, customer_id, status, grand_total,
          loginas_created_session, loginas_changed_session;
INSERT INTO sales_order_item (order_id, quote_item_id, store_id, product_id, product_type, is_virtual,
                              sku, name, qty_ordered, price, base_price, row_total, base_row_total)
SELECT o.entity_id, i.item_id, i.store_id, i.product_id, i.product_type, i.is_virtual,
       i.sku, i.name, i.qty, i.price, i.base_price, i.row_total, i.base_row_total
  FROM sales_order o JOIN quote_item i ON i.quote_id = o.quote_id
 WHERE o.increment_id = '000000004'
 ORDER BY i.item_id
RETURNING item_id, order_id, sku, qty_ordered, row_total, loginas_created_session;
UPDATE quote
   SET is_active = 0, converted_at = now(), reserved_order_id = '000000004',
       grand_total = 102.0000, base_grand_total = 102.0000
 WHERE customer_id = loginas.current_customer() AND is_active = 1
RETURNING entity_id, is_active, reserved_order_id, grand_total,
          loginas_created_session, loginas_changed_session;
INSERT INTO sales_order_status_history (parent_id, is_customer_notified, is_visible_on_front,
                                        comment, status, entity_name)
SELECT o.entity_id, 0, 1, 'Order Placed by Store Administrator', o.status, 'order'
  FROM sales_order o
 WHERE o.increment_id = '000000004'
RETURNING entity_id, parent_id, is_visible_on_front, comment, loginas_created_session;
INSERT INTO sales_order_status_history (parent_id, is_customer_notified, is_visible_on_front,
                                        comment, status, entity_name)
SELECT o.entity_id, 0, 0, format('Order Placed by %s %s using Login as Customer', a.firstname, a.lastname),
       o.status, 'order'
  FROM sales_order o, admin_user a
 WHERE o.increment_id = '000000004' AND a.user_id = loginas.current_admin()
RETURNING entity_id, parent_id, is_visible_on_front, comment, loginas_created_session;
SELECT loginas.note('Order Placed by Store Administrator', '{"order": "000000004"}') AS log_id;
COMMIT;

\echo
\echo '== 13. What the session may not do'
\echo '   A request that reaches into another customer''s cart is refused and writes'
\echo '   nothing.  Here the storefront is sent a forged cart item id: item 8 is in'
\echo '   Jane Smith''s cart, not Veronica''s'
\echo
BEGIN;
\set ECHO none
\echo 'SELECT loginas.assume(:''session_key'');'
SELECT loginas.assume(:'session_key');
\set ECHO queries
\set ON_ERROR_STOP off
UPDATE quote_item SET qty = 3, row_total = 156.0000, base_row_total = 156.0000
 WHERE item_id = 8;
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP on
ROLLBACK;
\echo
\echo '   Veronica also asks Sam to change her email address.  The DBA protected that'
\echo '   column: even on her own account, only the customer may change it'
\echo
BEGIN;
\set ECHO none
\echo 'SELECT loginas.assume(:''session_key'');'
SELECT loginas.assume(:'session_key');
\set ECHO queries
\set ON_ERROR_STOP off
UPDATE customer_entity SET email = 'v.costello@example.org', updated_at = now()
 WHERE entity_id = loginas.current_customer();
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP on
ROLLBACK;

\echo
\echo '== 14. Sam is done and logs out of the storefront, which ends the session'
\echo
\set ECHO none
\echo 'SELECT loginas.end(:''session_key'', ''logout'');'
SELECT loginas.end(:'session_key', 'logout');
\set ECHO queries
\echo '   The next request with that session key is refused; the storefront logs the'
\echo '   customer out of the browser'
\echo
BEGIN;
\set ON_ERROR_STOP off
\set ECHO none
\echo 'SELECT loginas.assume(:''session_key'');'
SELECT loginas.assume(:'session_key');
\set ECHO queries
\set ON_ERROR_STOP on
ROLLBACK;

\echo
\echo '== 15. The order in the admin panel: Veronica''s order, placed by Sam'
\echo '   Sales > Orders: order 000000004 belongs to Veronica''s account like her other'
\echo '   orders; its stamp says it was created in Login as Customer session 1'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT increment_id, customer_id, customer_firstname, customer_lastname, status, grand_total,
       loginas_created_session, loginas_changed_session
  FROM sales_order WHERE customer_id = 1 ORDER BY entity_id;
\echo '   Its items were all created in the session; in the cart they came from, only the'
\echo '   item Sam added carries a stamp (Veronica added the other two herself), and the'
\echo '   cart itself was changed in the session'
SELECT item_id, order_id, quote_item_id, sku, qty_ordered, row_total, loginas_created_session
  FROM sales_order_item WHERE order_id = 5 ORDER BY item_id;
SELECT q.entity_id AS quote_id, q.is_active, q.loginas_created_session AS quote_created,
       q.loginas_changed_session AS quote_changed, i.item_id, i.sku,
       i.loginas_created_session AS item_created, i.loginas_changed_session AS item_changed
  FROM quote q JOIN quote_item i ON i.quote_id = q.entity_id
 WHERE q.reserved_order_id = '000000004' ORDER BY i.item_id;
\echo '   The order''s Comments History (Sales > Orders > View > Comments History):'
SELECT entity_id, comment, is_visible_on_front, is_customer_notified, status, loginas_created_session
  FROM sales_order_status_history WHERE parent_id = 5 ORDER BY entity_id;
\echo '   ... of which Veronica sees one, on the storefront (My Account > My Orders >'
\echo '   Order # 000000004, About Your Order):'
\echo
\echo '\\connect - magento_storefront'
\connect - magento_storefront
SELECT h.comment
  FROM sales_order o JOIN sales_order_status_history h ON h.parent_id = o.entity_id
 WHERE o.customer_id = 1 AND o.increment_id = '000000004' AND h.is_visible_on_front = 1;
\echo '   Later the payment is captured and the admin backend, outside any session, moves'
\echo '   the order to Processing: the creation stamp stays, the last-change stamp is'
\echo '   cleared (the last change was not made in a session)'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
UPDATE sales_order SET state = 'processing', status = 'processing', updated_at = now()
 WHERE increment_id = '000000004'
RETURNING increment_id, status, loginas_created_session, loginas_changed_session;
\echo '   Through the session id a report reaches the admin who acted: the DBA joins the'
\echo '   stamp to loginas.session (its admin_id), then to Magento''s admin_user'
\echo
\echo '\\connect - postgres'
\connect - postgres
SELECT o.increment_id, o.customer_firstname || ' ' || o.customer_lastname AS customer,
       o.loginas_created_session AS session_id, s.admin_id,
       a.firstname || ' ' || a.lastname AS placed_by, s.source, s.reason
  FROM sales_order o
  JOIN loginas.session s ON s.session_id = o.loginas_created_session
  JOIN admin_user a ON a.user_id = s.admin_id
 ORDER BY o.entity_id;

\echo
\echo '== 16. The log (Admin Actions Report, Action Group "Login As Customer"), read by'
\echo '   the admin backend for Alice, who has "View Login as Customer Log"'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT loginas.permitted(1, 'view_log') AS alice_may_view_log;
SELECT logged_at::time(0), action, result, admin_username, customer_email, source, reason, db_role
  FROM loginas.action_log ORDER BY log_id;
\echo '   Everything session 1 did, with the details: the rows each write touched (by'
\echo '   primary key), the columns an update changed (never their values), and the'
\echo '   application''s note.  A transaction''s writes are logged when it commits, so the'
\echo '   note comes before the writes of its own transaction'
SELECT log_id, action, details
  FROM loginas.action_log WHERE session_id = 1 ORDER BY log_id;
\echo '   The refused attempts (Mia, the guest order, the second redeem, the ended session,'
\echo '   and the two refused writes of step 13) are not in action_log: a refusal is an'
\echo '   error, which rolls its transaction back.  loginas writes them to the server log'
\echo '   instead (read here as the DBA):'
\echo
\echo '\\connect - postgres'
\connect - postgres
SELECT substring(line FROM 'loginas: .*') AS server_log
  FROM regexp_split_to_table(pg_read_file(:'server_log'), E'\n') AS line
 WHERE line ~ 'loginas: [a-z]+ refused';

\echo '   (With loginas in shared_preload_libraries, a background worker also writes each'
\echo '   refusal to action_log as a "failure" row, after the refused transaction rolled'
\echo '   back: docs/refusal-log.md.)'

\echo
\echo '== 17. The Admin Actions Report: Reports > Action Log, Action Group "Login As Customer"'
\echo '   The admin backend asks for Alice (viewer_admin => 1): she has "View Login as'
\echo '   Customer Log", and her viewing the report is itself logged'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT to_char("Time", 'HH24:MI:SS') AS "Time", "Action Group", "Action", "Username", "Result", "Details"
  FROM loginas.actions_report(action_group => 'Login As Customer', viewer_admin => 1, page_size => 12);
\echo
\echo '   Mia (Marketing, no "View Login as Customer Log") may not see it:'
\set ON_ERROR_STOP off
SELECT count(*) FROM loginas.actions_report(action_group => 'Login As Customer', viewer_admin => 3);
\set ON_ERROR_STOP on
\echo
\echo '== 18. Veronica''s access history: who entered her account, when, why, from which'
\echo '   document, and what changed'
\echo
SELECT * FROM loginas.customer_history(1, viewer_admin => 1);
