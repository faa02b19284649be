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
\echo 'Customer: Veronica Costello (1), who calls Support about her order 000000003.'
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

\echo '== 1. The merchant enables Login as Customer'
\echo '   (Stores > Settings > Configuration > Customers > Login as Customer:'
\echo '   Enable Login as Customer = Yes; Save Config), signed in as Alice (admin user 1)'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT loginas.configure('enabled', 'on', by_admin => 1);
SELECT name, value, default_value, label FROM loginas.settings;

\echo '== 2. The merchant enables access for admin users'
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

\echo '== 3. Veronica calls Support. Sam opens her order 000000003 (Sales > Orders > View):'
\echo '   she has not allowed remote shopping assistance yet, so the admin panel shows'
\echo '   the reason instead of letting him in'
\echo
SELECT * FROM loginas.check(admin_id => 2, customer_id => 1);

\echo '== 4. Veronica goes to Account Information on the storefront, checks'
\echo '   "Allow remote shopping assistance" and clicks Save'
\echo
\echo '\\connect - magento_storefront'
\connect - magento_storefront
SELECT loginas.set_assistance(customer_id => 1, allowed => true);
SELECT loginas.assistance_allowed(1);

\echo '== 5. Back in the admin panel, the Login as Customer button works for Sam ...'
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
\echo '== 6. Sam clicks Login as Customer on the view of order 000000003, noting the call'
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

\echo '== 7. The browser opens the storefront with the ticket; the storefront redeems it'
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
\echo '== 8. Sam browses the storefront as Veronica'
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

\echo '== 9. The ticket works once: redeeming it again fails'
\echo
\set ON_ERROR_STOP off
\set ECHO none
\echo 'SELECT * FROM loginas.redeem(:''ticket'');'
SELECT * FROM loginas.redeem(:'ticket');
\set ECHO queries
\set ON_ERROR_STOP on

\echo
\echo '== 10. Sam is done and logs out of the storefront, which ends the session'
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
\echo '== 11. The log (Admin Actions Report, Action Group "Login As Customer"), read by'
\echo '   the admin backend for Alice, who has "View Login as Customer Log"'
\echo
\echo '\\connect - magento_backend'
\connect - magento_backend
SELECT loginas.permitted(1, 'view_log') AS alice_may_view_log;
SELECT logged_at::time(0), action, result, admin_username, customer_email, source, reason, db_role
  FROM loginas.action_log ORDER BY log_id;
\echo '   The refused attempts (Mia, the guest order, the second redeem, the ended session)'
\echo '   are not in action_log: a refusal is an error, which rolls its transaction back.'
\echo '   loginas writes them to the server log instead (read here as the DBA):'
\echo
\echo '\\connect - postgres'
\connect - postgres
SELECT substring(line FROM 'loginas: .*') AS server_log
  FROM regexp_split_to_table(pg_read_file(:'server_log'), E'\n') AS line
 WHERE line ~ 'loginas: [a-z]+ refused';
