-- sessions: tickets and sessions.
--   loginas.check and loginas.store_choices (the admin UI);
--   loginas.begin and begin_from (the one-time ticket, store view resolution,
--     reason and source, one live ticket or session per admin);
--   loginas.redeem (ticket -> session, works once, all checks again);
--   loginas.assume and the context readers (per transaction and savepoint,
--     re-checks, dead sessions);
--   loginas.end, end_admin and expire (every way a session ends);
--   the recorded end of every session and the log rows of the lifecycle.
-- At its start it enables the feature, grants "login" to the Administrators
-- and Support roles and gives Veronica's consent; at its end it restores the
-- defaults (settings, grants, consents) so that privileges starts clean.
--
-- Tokens and session keys are random: they are captured with \gset and never
-- printed.  Timestamps are printed only as comparisons.  Session ids depend on
-- the suites before this one, so sessions are shown as n = session_id - :s0,
-- and pg_temp.refusal() shows errors whose text holds a time or a session id.
--
-- The shop (sql/setup.sql): admins 1 ada (Administrators), 2 sam (Support),
-- 3 old (Administrators, inactive), 4 max (Marketing); customers 1 Veronica
-- Costello (Main Website, own store view 2 French), 2 John Doe (EU Website,
-- own store view 3 EU English), 3 inactive; store views 1 Default Store View
-- (Main Website's default), 2 French, 3 EU English (EU Website's default),
-- 4 EU German (disabled); order 100 (Veronica), 101 (guest), 102 (John);
-- invoice 200 (order 100), 201 (order 101); shipment 300 (order 100); credit
-- memo 400 (order 102).
\set VERBOSITY default

-- pg_temp.refusal(sql, sid): runs sql and returns the error it raised, with
-- timestamps shown as <time> and session sid shown as <sid>; internal_context
-- says whether the error carried loginas' internal PL/pgSQL frames as CONTEXT
-- (loginas' refusals must not)
CREATE FUNCTION pg_temp.refusal(q text, sid bigint DEFAULT NULL,
		OUT state text, OUT message text, OUT detail text, OUT hint text, OUT internal_context boolean)
	LANGUAGE plpgsql SET datestyle = 'ISO, YMD' AS $$
DECLARE
	ctx text;
BEGIN
	EXECUTE q;
	state := '00000';
	message := '(no error)';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
	message := pg_temp.mask(message, sid);
	detail := pg_temp.mask(NULLIF(detail, ''), sid);
	hint := NULLIF(hint, '');
	internal_context := COALESCE(ctx ~ 'function loginas\.', false);
END
$$;
CREATE FUNCTION pg_temp.mask(t text, sid bigint) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(
		regexp_replace(t, '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:\d{2})?)?', '<time>', 'g'),
		'([Ss]ession) ' || COALESCE(sid::text, 'none') || '\M', '\1 <sid>', 'g')
$$;

------------------------------------------------------------------------------
-- Starting state: every setting at its default, no live ticket or session,
-- no grant, no consent; outside a session the context readers are NULL
------------------------------------------------------------------------------
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT count(*) AS grants FROM loginas.role_resource;
SELECT count(*) AS consents FROM loginas.consent;
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
SELECT COALESCE(max(session_id), 0) AS s0 FROM loginas.session \gset
SELECT COALESCE(max(log_id), 0) AS l0 FROM loginas.action_log \gset

------------------------------------------------------------------------------
-- check(admin, customer) -> (allowed, reason): each failing condition, in order
------------------------------------------------------------------------------
-- feature disabled comes first, whatever else is wrong
SELECT * FROM loginas.check(1, 1);
SELECT * FROM loginas.check(99, 99);
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login'), loginas.grant('Support', 'login');
SELECT loginas.set_assistance(1, true);		-- Veronica allows remote shopping assistance
-- NULL ids; unknown admin, inactive admin, role without "login" come before the customer;
-- unknown customer; inactive customer (before its missing consent); no consent
SELECT a AS admin_id, c AS customer_id, r.*
  FROM (VALUES (NULL, 1), (1, NULL), (99, 99), (3, 99), (4, 99), (1, 99), (1, 3), (1, 2), (1, 1)) v(a, c),
	   LATERAL loginas.check(a, c) r;
-- expired consent (valid_until moved into the past as superuser)
UPDATE loginas.consent SET valid_until = now() - interval '1 second' WHERE customer_id = 1;
SELECT * FROM loginas.check(1, 1);
UPDATE loginas.consent SET valid_until = NULL WHERE customer_id = 1;
SELECT * FROM loginas.check(1, 1);

------------------------------------------------------------------------------
-- store_choices: selectable = active and (global sharing or in the customer's website)
------------------------------------------------------------------------------
SELECT * FROM loginas.store_choices(1, 1);
SELECT loginas.configure('account_sharing', 'global');
SELECT * FROM loginas.store_choices(1, 1);
SELECT loginas.configure('account_sharing', 'website');
-- a disabled store view is never selectable; a store view coming back is
UPDATE shop.store SET is_active = false WHERE store_id = 2;
SELECT store_id, selectable FROM loginas.store_choices(1, 1);
UPDATE shop.store SET is_active = true WHERE store_id = 2;
-- the checks of check() are raised
\set VERBOSITY verbose
SELECT * FROM loginas.store_choices(4, 1);
SELECT * FROM loginas.store_choices(1, 2);
\set VERBOSITY default

------------------------------------------------------------------------------
-- begin: each refusal of check() raised with its SQLSTATE
------------------------------------------------------------------------------
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(NULL, 1);
SELECT store_id FROM loginas.begin(1, NULL);
SELECT store_id FROM loginas.begin(99, 1);
SELECT store_id FROM loginas.begin(3, 1);
SELECT store_id FROM loginas.begin(4, 1);
SELECT store_id FROM loginas.begin(1, 99);
SELECT store_id FROM loginas.begin(1, 3);
SELECT store_id FROM loginas.begin(1, 2);
SELECT loginas.configure('enabled', 'off');
SELECT store_id FROM loginas.begin(1, 1);
SELECT loginas.configure('enabled', 'on');
\set VERBOSITY default
-- expired consent (the detail holds the expiry time)
UPDATE loginas.consent SET valid_until = now() - interval '1 second' WHERE customer_id = 1;
\x on
SELECT * FROM pg_temp.refusal('SELECT * FROM loginas.begin(1, 1)');
\x off
UPDATE loginas.consent SET valid_until = NULL WHERE customer_id = 1;
-- nothing was issued by the refused calls
SELECT count(*) AS sessions FROM loginas.session WHERE session_id > :s0;

------------------------------------------------------------------------------
-- begin: the ticket (n = 1): 64 hex digits, expires_at = now() + ticket_ttl,
-- store_id; stored only as a SHA-256 hash bound to this database:
-- loginas._hash(t) = sha256('loginas:<system identifier>:<database oid>:' ||
-- sha256(t)), so that a copy of the database (another OID) accepts nothing
------------------------------------------------------------------------------
SELECT token AS t1, expires_at = now() + interval '60 seconds' AS t1_expiry_ok, store_id AS t1_store
  FROM loginas.begin(1, 1) \gset
SELECT length(:'t1') AS length, :'t1' ~ '^[0-9a-f]{64}$' AS hex, :'t1_expiry_ok' AS expires_at_is_now_plus_ttl,
	   :t1_store AS store_id;
SELECT session_id AS sid1 FROM loginas.session WHERE ticket_hash = loginas._hash(:'t1') \gset
SELECT ticket_hash = sha256(convert_to(format('loginas:%s:%s:', (SELECT system_identifier FROM pg_control_system()),
											  (SELECT oid FROM pg_database WHERE datname = current_database())), 'UTF8')
							|| sha256(convert_to(:'t1', 'UTF8'))) AS bound_to_this_database,
	   ticket_hash <> sha256(convert_to(:'t1', 'UTF8')) AS not_the_plain_hash
  FROM loginas.session WHERE session_id = :sid1;
SELECT session_id - :s0 AS n, admin_id, customer_id, store_id, read_only, reason, source,
	   ticket_expires_at = created_at + interval '60 seconds' AS ticket_expiry_ok,
	   created_by_role = session_user AS by_me, redeemed_at IS NULL AS unredeemed, key_hash IS NULL AS no_key,
	   expires_at IS NULL AS no_session_expiry, ended_at IS NULL AS live
  FROM loginas.session WHERE session_id = :sid1;
-- the token is in no column of loginas.session or loginas.action_log
SELECT (SELECT count(*) FROM loginas.session s WHERE strpos(s::text, :'t1') > 0) AS in_session,
	   (SELECT count(*) FROM loginas.action_log l WHERE strpos(l::text, :'t1') > 0) AS in_log;
-- the ticket's lifetime follows ticket_ttl; a second begin supersedes the
-- first ticket (n = 2 supersedes n = 1)
SELECT loginas.configure('ticket_ttl', '5 minutes')::interval AS ticket_ttl;
SELECT token AS t2, expires_at = now() + interval '5 minutes' AS t2_expiry_ok FROM loginas.begin(1, 1) \gset
SELECT :'t2_expiry_ok' AS expires_at_is_now_plus_ttl, :'t2' <> :'t1' AS new_token;
SELECT loginas.configure('ticket_ttl', '60 seconds')::interval AS ticket_ttl;
SELECT session_id - :s0 AS n, end_reason, ended_by_admin, ended_by_role = session_user AS by_me,
	   ended_at IS NOT NULL AS ended
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;

------------------------------------------------------------------------------
-- begin: store view resolution (each begin supersedes admin 1's previous ticket)
------------------------------------------------------------------------------
-- auto: the customer's own store view (Veronica: 2 French)
SELECT store_id FROM loginas.begin(1, 1);
-- auto, own store view disabled: the default store view of its website (1)
UPDATE shop.store SET is_active = false WHERE store_id = 2;
SELECT store_id FROM loginas.begin(1, 1);
UPDATE shop.store SET is_active = true WHERE store_id = 2;
-- John (EU Website, own store view 3 = the EU Website's default)
SELECT loginas.set_assistance(2, true);
SELECT store_id FROM loginas.begin(1, 2);
-- his store view disabled: with website sharing no store view is left ...
UPDATE shop.store SET is_active = false WHERE store_id = 3;
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(1, 2);
\set VERBOSITY default
-- ... with global sharing the default website's default store view (1)
SELECT loginas.configure('account_sharing', 'global');
SELECT store_id FROM loginas.begin(1, 2);
UPDATE shop.store SET is_active = true WHERE store_id = 3;
-- global sharing still prefers the customer's own store view
SELECT store_id FROM loginas.begin(1, 2);
SELECT loginas.configure('account_sharing', 'website');
-- an explicit store view: unknown, disabled, of another website
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(1, 1, 99);
SELECT store_id FROM loginas.begin(1, 1, 4);
SELECT store_id FROM loginas.begin(1, 1, 3);
\set VERBOSITY default
-- another store view of the customer's website is fine
SELECT store_id FROM loginas.begin(1, 1, 1);
-- with global sharing another website's store view is allowed
SELECT loginas.configure('account_sharing', 'global');
SELECT store_id FROM loginas.begin(1, 1, 3);
SELECT loginas.configure('account_sharing', 'website');
-- manual mode: a store view must be given
SELECT loginas.configure('store_view_selection', 'manual');
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(1, 1);
\set VERBOSITY default
SELECT store_id FROM loginas.begin(1, 1, 2);
SELECT loginas.configure('store_view_selection', 'auto');

------------------------------------------------------------------------------
-- begin: reason and source
------------------------------------------------------------------------------
-- require_reason on: no reason or a blank one is refused
SELECT loginas.configure('require_reason', 'on');
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(1, 1);
SELECT store_id FROM loginas.begin(1, 1, reason => '   ');
\set VERBOSITY default
-- a given reason is stored with the ticket and logged
SELECT token AS t_reason FROM loginas.begin(1, 1, reason => 'call 4711', source => 'customer edit page') \gset
SELECT session_id AS sid_reason FROM loginas.session WHERE ticket_hash = loginas._hash(:'t_reason') \gset
SELECT reason, source FROM loginas.session WHERE session_id = :sid_reason;
SELECT action, reason, source FROM loginas.action_log WHERE session_id = :sid_reason ORDER BY log_id;
SELECT loginas.configure('require_reason', 'off');
-- without require_reason a reason is optional
SELECT store_id FROM loginas.begin(1, 1);
-- the ticket and its log row keep the same reason (surrounding blanks, blank reason)
SELECT token AS t_blank FROM loginas.begin(1, 1, reason => '  call 4712  ') \gset
SELECT btrim(s.reason) AS reason, s.reason IS NOT DISTINCT FROM l.reason AS logged_as_stored
  FROM loginas.session s JOIN loginas.action_log l ON l.session_id = s.session_id AND l.action = 'ticket_issued'
 WHERE s.ticket_hash = loginas._hash(:'t_blank');
SELECT token AS t_blank FROM loginas.begin(1, 1, reason => '   ') \gset
SELECT nullif(btrim(s.reason), '') AS reason, s.reason IS NOT DISTINCT FROM l.reason AS logged_as_stored
  FROM loginas.session s JOIN loginas.action_log l ON l.session_id = s.session_id AND l.action = 'ticket_issued'
 WHERE s.ticket_hash = loginas._hash(:'t_blank');
-- reason up to 1000 characters, source up to 200
SELECT store_id FROM loginas.begin(1, 1, reason => repeat('r', 1000), source => repeat('s', 200));
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(1, 1, reason => repeat('r', 1001));
SELECT store_id FROM loginas.begin(1, 1, source => repeat('s', 201));
\set VERBOSITY default
SELECT length(reason) AS reason_length, length(source) AS source_length
  FROM loginas.session WHERE session_id = (SELECT max(session_id) FROM loginas.session);

------------------------------------------------------------------------------
-- begin: one live ticket or session per admin; read_only
------------------------------------------------------------------------------
-- admin 1 has exactly one live ticket; every earlier one was superseded by admin 1
SELECT count(*) FILTER (WHERE ended_at IS NULL) AS live,
	   count(*) FILTER (WHERE end_reason = 'superseded' AND ended_by_admin = 1) AS superseded,
	   count(*) AS tickets
  FROM loginas.session WHERE session_id > :s0 AND admin_id = 1;
-- a refused begin leaves the live ticket alone
SELECT session_id AS sid_live FROM loginas.session WHERE admin_id = 1 AND ended_at IS NULL \gset
\set VERBOSITY verbose
SELECT store_id FROM loginas.begin(1, 3);
\set VERBOSITY default
SELECT ended_at IS NULL AS still_live FROM loginas.session WHERE session_id = :sid_live;
-- an expired unredeemed prior ticket ends as "expired", not "superseded"
UPDATE loginas.session SET ticket_expires_at = now() - interval '1 second' WHERE session_id = :sid_live;
SELECT token AS t_ro FROM loginas.begin(1, 1, read_only => true) \gset
SELECT end_reason, ended_by_admin FROM loginas.session WHERE session_id = :sid_live;
-- read_only is recorded with the ticket (and is false by default)
SELECT session_id AS sid_ro, read_only FROM loginas.session
 WHERE ticket_hash = loginas._hash(:'t_ro') \gset
SELECT :'read_only' AS read_only,
	   (SELECT read_only FROM loginas.session WHERE session_id = :sid1) AS default_read_only;
-- admins are independent: admin 2's ticket does not end admin 1's
SELECT store_id FROM loginas.begin(2, 2);
SELECT admin_id, count(*) AS live FROM loginas.session WHERE ended_at IS NULL GROUP BY admin_id ORDER BY admin_id;

------------------------------------------------------------------------------
-- begin_from: the buttons on order, invoice, shipment and credit memo views
------------------------------------------------------------------------------
SELECT store_id FROM loginas.begin_from(1, 'order', 100);
SELECT store_id FROM loginas.begin_from(1, 'invoice', 200);
SELECT store_id FROM loginas.begin_from(1, 'shipment', 300);
SELECT store_id FROM loginas.begin_from(1, 'credit_memo', 400);
-- the options pass through
SELECT token AS t_doc, store_id FROM loginas.begin_from(1, 'order', 100, store_id => 1, reason => 'RMA 17',
	read_only => true) \gset
SELECT session_id AS sid_doc FROM loginas.session WHERE ticket_hash = loginas._hash(:'t_doc') \gset
SELECT session_id - :s0 AS n, customer_id, store_id, reason, read_only, source, source_kind, source_document_id
  FROM loginas.session
 WHERE session_id > :s0 AND source_kind IS NOT NULL ORDER BY session_id;
\set VERBOSITY verbose
-- a guest's order, and an invoice of a guest's order
SELECT store_id FROM loginas.begin_from(1, 'order', 101);
SELECT store_id FROM loginas.begin_from(1, 'invoice', 201);
-- unknown kind, unknown document
SELECT store_id FROM loginas.begin_from(1, 'quote', 100);
SELECT store_id FROM loginas.begin_from(1, 'order', 999);
SELECT store_id FROM loginas.begin_from(1, 'credit_memo', 401);
-- the checks of begin are made
SELECT store_id FROM loginas.begin_from(4, 'order', 100);
\set VERBOSITY default
-- the refused calls left the last ticket live
SELECT session_id = :sid_doc AS last_ticket_live FROM loginas.session WHERE admin_id = 1 AND ended_at IS NULL;

------------------------------------------------------------------------------
-- redeem: the ticket becomes a session
------------------------------------------------------------------------------
SELECT token AS t3 FROM loginas.begin(1, 1) \gset
SELECT session_id AS sid3 FROM loginas.session WHERE ticket_hash = loginas._hash(:'t3') \gset
SELECT session_id AS r_sid, session_key AS k3, customer_id AS r_customer, store_id AS r_store,
	   banner AS r_banner, disable_page_cache AS r_dpc, expires_at = now() + interval '1 hour' AS r_expiry_ok
  FROM loginas.redeem(:'t3') \gset
SELECT :r_sid = :sid3 AS same_session, length(:'k3') AS key_length, :'k3' ~ '^[0-9a-f]{64}$' AS key_hex,
	   :'k3' <> :'t3' AS key_is_not_token, :r_customer AS customer_id, :r_store AS store_id,
	   :'r_banner' AS banner, :'r_dpc' AS disable_page_cache, :'r_expiry_ok' AS expires_at_is_now_plus_ttl;
-- the session row: redeemed, key stored only as its hash, session expiry
SELECT redeemed_at IS NOT NULL AS redeemed, key_hash = loginas._hash(:'k3') AS key_hash_ok,
	   expires_at = redeemed_at + interval '1 hour' AS expiry_ok, ended_at IS NULL AS live
  FROM loginas.session WHERE session_id = :sid3;
SELECT (SELECT count(*) FROM loginas.session s WHERE strpos(s::text, :'k3') > 0) AS key_in_session,
	   (SELECT count(*) FROM loginas.action_log l WHERE strpos(l::text, :'k3') > 0) AS key_in_log,
	   (SELECT count(*) FROM loginas.session s WHERE strpos(s::text, :'t3') > 0) AS token_in_session,
	   (SELECT count(*) FROM loginas.action_log l WHERE strpos(l::text, :'t3') > 0) AS token_in_log;
\set VERBOSITY verbose
-- works once
SELECT session_id FROM loginas.redeem(:'t3');
-- unknown, empty and NULL tokens
SELECT session_id FROM loginas.redeem(repeat('0', 64));
SELECT session_id FROM loginas.redeem('');
SELECT session_id FROM loginas.redeem(NULL);
-- a superseded ticket
SELECT session_id FROM loginas.redeem(:'t1');
\set VERBOSITY default
-- an expired ticket (the detail holds the expiry time)
SELECT token AS t4 FROM loginas.begin(1, 1) \gset
UPDATE loginas.session SET ticket_expires_at = now() - interval '1 second'
 WHERE ticket_hash = loginas._hash(:'t4');
\x on
SELECT * FROM pg_temp.refusal(format('SELECT * FROM loginas.redeem(%L)', :'t4'));
\x off
-- disable_page_cache and the session's lifetime follow the settings
SELECT loginas.configure('disable_page_cache', 'off'), loginas.configure('session_ttl', '2 hours')::interval AS session_ttl;
SELECT token AS t5 FROM loginas.begin(1, 1) \gset
SELECT disable_page_cache, expires_at = now() + interval '2 hours' AS expires_at_is_now_plus_ttl,
	   banner FROM loginas.redeem(:'t5');
SELECT loginas.configure('disable_page_cache', 'on'), loginas.configure('session_ttl', '1 hour')::interval AS session_ttl;
-- the banner names the website of the session's store view
SELECT loginas.configure('account_sharing', 'global');
SELECT token AS t6 FROM loginas.begin(1, 1, 3) \gset
SELECT store_id, banner FROM loginas.redeem(:'t6');
SELECT loginas.configure('account_sharing', 'website');

------------------------------------------------------------------------------
-- redeem: all checks of begin are made again
------------------------------------------------------------------------------
-- customer deactivated in the shop between begin and redeem
SELECT token AS t7 FROM loginas.begin(1, 1) \gset
UPDATE shop.customer SET is_active = false WHERE customer_id = 1;
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t7');
\set VERBOSITY default
UPDATE shop.customer SET is_active = true WHERE customer_id = 1;
-- admin deactivated
UPDATE shop.admin SET is_active = false WHERE admin_id = 1;
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t7');
\set VERBOSITY default
UPDATE shop.admin SET is_active = true WHERE admin_id = 1;
-- the admin moved to a role without "login"
UPDATE shop.admin SET role = 'Marketing' WHERE admin_id = 1;
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t7');
\set VERBOSITY default
UPDATE shop.admin SET role = 'Administrators' WHERE admin_id = 1;
-- the ticket's store view disabled
UPDATE shop.store SET is_active = false WHERE store_id = 2;
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t7');
\set VERBOSITY default
UPDATE shop.store SET is_active = true WHERE store_id = 2;
-- consent expired (the detail holds the expiry time)
UPDATE loginas.consent SET valid_until = now() - interval '1 second' WHERE customer_id = 1;
\x on
SELECT * FROM pg_temp.refusal(format('SELECT * FROM loginas.redeem(%L)', :'t7'));
\x off
UPDATE loginas.consent SET valid_until = NULL WHERE customer_id = 1;
-- the refusals were not final: with everything back, the ticket still works
SELECT customer_id, store_id FROM loginas.redeem(:'t7');
-- consent revoked: the ticket is ended at once
SELECT token AS t8 FROM loginas.begin(1, 1) \gset
SELECT loginas.set_assistance(1, false);
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t8');
\set VERBOSITY default
SELECT loginas.set_assistance(1, true);
-- feature disabled: the ticket is ended at once (admin 2's ticket too)
SELECT token AS t9 FROM loginas.begin(1, 1) \gset
SELECT loginas.configure('enabled', 'off');
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t9');
\set VERBOSITY default
SELECT loginas.configure('enabled', 'on');
SELECT session_id - :s0 AS n, admin_id, redeemed_at IS NOT NULL AS redeemed, end_reason, ended_by_admin
  FROM loginas.session
 WHERE ticket_hash IN (loginas._hash(:'t8'), loginas._hash(:'t9'))
	OR (admin_id = 2 AND session_id > :s0)
 ORDER BY session_id;

------------------------------------------------------------------------------
-- assume: the per-transaction context
------------------------------------------------------------------------------
-- admin 1 (ada) as Veronica on her own store view, read-only; admin 2 (sam) as John
SELECT token AS ta FROM loginas.begin(1, 1, read_only => true) \gset
SELECT session_id AS sa, session_key AS ka FROM loginas.redeem(:'ta') \gset
SELECT token AS tb FROM loginas.begin(2, 2) \gset
SELECT session_id AS sb, session_key AS kb FROM loginas.redeem(:'tb') \gset
-- inside BEGIN: returns the session id and sets the context
BEGIN;
SELECT loginas.assume(:'ka') = :sa AS assumed;
SELECT loginas.current_session() = :sa AS current_session, loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
COMMIT;
-- cleared by COMMIT
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
-- cleared by ROLLBACK
BEGIN;
SELECT loginas.assume(:'kb') = :sb AS assumed;
SELECT loginas.current_session() = :sb AS current_session, loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
ROLLBACK;
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
-- cleared after an error in the transaction
BEGIN;
SELECT loginas.assume(:'ka') = :sa AS assumed;
SELECT 1 / 0;
ROLLBACK;
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
-- cleared when the block that assumed it fails (its subtransaction aborts)
SELECT set_config('my.ka', :'ka', false) IS NOT NULL AS key_in_my_ka;
BEGIN;
DO $$
BEGIN
	BEGIN
		PERFORM loginas.assume(current_setting('my.ka'));
		RAISE NOTICE 'inside the block: session assumed: %', loginas.current_session() IS NOT NULL;
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN
		RAISE NOTICE 'after the failed block: session assumed: %', loginas.current_session() IS NOT NULL;
	END;
END
$$;
SELECT loginas.current_session() AS after_block;
COMMIT;
RESET my.ka;
-- assumed in a savepoint that is rolled back: cleared
BEGIN;
SAVEPOINT a;
SELECT loginas.assume(:'ka') = :sa AS assumed;
ROLLBACK TO SAVEPOINT a;
SELECT loginas.current_session() AS after_rollback_to;
COMMIT;
-- assumed in a savepoint that is released: kept, until an enclosing
-- savepoint is rolled back
BEGIN;
SAVEPOINT a;
SAVEPOINT b;
SELECT loginas.assume(:'ka') = :sa AS assumed;
RELEASE SAVEPOINT b;
SELECT loginas.current_session() = :sa AS after_release;
ROLLBACK TO SAVEPOINT a;
SELECT loginas.current_session() AS after_rollback_to_a;
COMMIT;
-- assumed before a savepoint: re-assuming the same session inside it is fine,
-- and rolling the savepoint back keeps the context
BEGIN;
SELECT loginas.assume(:'ka') = :sa AS assumed;
SAVEPOINT a;
SELECT loginas.assume(:'ka') = :sa AS assumed_again;
ROLLBACK TO SAVEPOINT a;
SELECT loginas.current_session() = :sa AS kept;
COMMIT;
-- a transaction acts in one session: assuming another is refused (55000), the
-- first one stays; re-assuming the same one is fine
BEGIN;
SELECT loginas.assume(:'ka') = :sa AS assumed;
\x on
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'kb'), :sa);
\x off
SELECT loginas.current_session() = :sa AS still_first;
SELECT loginas.assume(:'ka') = :sa AS assumed_again;
COMMIT;
-- a read-only transaction can assume too
BEGIN READ ONLY;
SELECT loginas.assume(:'ka') = :sa AS assumed, loginas.current_customer();
COMMIT;
-- outside a transaction block: a warning, and the context ends with the statement
SELECT loginas.assume(:'ka') = :sa AS assumed;
SELECT loginas.current_session() AS next_statement;
-- no set_config creates a context (loginas' GUC prefix is reserved; there is no GUC behind it)
SELECT set_config('loginas.current_session', '1', false);
SELECT loginas.current_session();

------------------------------------------------------------------------------
-- assume: dead sessions
------------------------------------------------------------------------------
\set VERBOSITY verbose
-- unknown, empty and NULL keys
SELECT loginas.assume(repeat('0', 64));
SELECT loginas.assume('');
SELECT loginas.assume(NULL);
-- a ticket token is not a session key
SELECT loginas.assume(:'ta');
\set VERBOSITY default
-- an expired session (expires_at moved into the past as superuser)
UPDATE loginas.session SET expires_at = now() - interval '1 second' WHERE session_id = :sb;
\x on
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'kb'), :sb);
\x off
UPDATE loginas.session SET expires_at = now() + interval '1 hour' WHERE session_id = :sb;
-- an ended session: the detail says why
SELECT loginas."end"(:'kb');
\x on
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'kb'), :sb);
\x off

------------------------------------------------------------------------------
-- assume: everything is checked again (session ka, admin 1 as Veronica)
------------------------------------------------------------------------------
\set VERBOSITY verbose
-- admin deactivated
UPDATE shop.admin SET is_active = false WHERE admin_id = 1;
SELECT loginas.assume(:'ka');
UPDATE shop.admin SET is_active = true WHERE admin_id = 1;
-- permission revoked: the admin moved to a role without "login"
UPDATE shop.admin SET role = 'Marketing' WHERE admin_id = 1;
SELECT loginas.assume(:'ka');
UPDATE shop.admin SET role = 'Administrators' WHERE admin_id = 1;
-- customer deactivated
UPDATE shop.customer SET is_active = false WHERE customer_id = 1;
SELECT loginas.assume(:'ka');
UPDATE shop.customer SET is_active = true WHERE customer_id = 1;
-- the session's store view disabled
UPDATE shop.store SET is_active = false WHERE store_id = 2;
SELECT loginas.assume(:'ka');
UPDATE shop.store SET is_active = true WHERE store_id = 2;
-- feature disabled and consent withdrawn, as superuser, behind loginas' back
-- (configure and set_assistance would also end the session: see below)
UPDATE loginas.setting SET value = 'off' WHERE name = 'enabled';
SELECT loginas.assume(:'ka');
UPDATE loginas.setting SET value = 'on' WHERE name = 'enabled';
UPDATE loginas.consent SET allowed = false WHERE customer_id = 1;
SELECT loginas.assume(:'ka');
UPDATE loginas.consent SET allowed = true WHERE customer_id = 1;
\set VERBOSITY default
-- consent expired (the detail holds the expiry time)
UPDATE loginas.consent SET valid_until = now() - interval '1 second' WHERE customer_id = 1;
\x on
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'ka'), :sa);
\x off
UPDATE loginas.consent SET valid_until = NULL WHERE customer_id = 1;
-- with everything back the session works again
BEGIN;
SELECT loginas.assume(:'ka') = :sa AS assumed;
COMMIT;
-- consent revoked by the customer: the session ends at once
SELECT loginas.set_assistance(1, false);
\x on
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'ka'), :sa);
\x off
SELECT loginas.set_assistance(1, true);
-- feature disabled with configure: the session ends at once
SELECT token AS tc FROM loginas.begin(1, 1) \gset
SELECT session_id AS sc, session_key AS kc FROM loginas.redeem(:'tc') \gset
SELECT loginas.configure('enabled', 'off');
\x on
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'kc'), :sc);
\x off
SELECT loginas.configure('enabled', 'on');

------------------------------------------------------------------------------
-- end(session_key, reason): the storefront's logout
------------------------------------------------------------------------------
SELECT token AS td FROM loginas.begin(1, 1) \gset
SELECT session_id AS sd, session_key AS kd FROM loginas.redeem(:'td') \gset
\set VERBOSITY verbose
-- reasons other than logout, expired, customer_inactive are refused
SELECT loginas."end"(:'kd', 'superseded');
SELECT loginas."end"(:'kd', NULL);
-- an unknown key
SELECT loginas."end"(repeat('0', 64));
-- a ticket token is not a session key
SELECT loginas."end"(:'td');
\set VERBOSITY default
SELECT ended_at IS NULL AS still_live FROM loginas.session WHERE session_id = :sd;
-- ends (true), then again (false)
SELECT loginas."end"(:'kd');
SELECT loginas."end"(:'kd');
SELECT end_reason, ended_by_admin, ended_by_role = session_user AS by_me, ended_at IS NOT NULL AS ended
  FROM loginas.session WHERE session_id = :sd;
-- ending the session inside the transaction acting in it clears the context at once
SELECT token AS te FROM loginas.begin(1, 1) \gset
SELECT session_id AS se, session_key AS ke FROM loginas.redeem(:'te') \gset
BEGIN;
SELECT loginas.assume(:'ke') = :se AS assumed;
SELECT loginas."end"(:'ke', 'customer_inactive');
SELECT loginas.current_session(), loginas.current_admin(), loginas.current_customer(), loginas.banner();
COMMIT;
SELECT end_reason FROM loginas.session WHERE session_id = :se;

------------------------------------------------------------------------------
-- end_admin(admin, reason): admin logout ends that admin's live ticket and session only
------------------------------------------------------------------------------
SELECT token AS tf FROM loginas.begin(1, 1) \gset
SELECT session_id AS sf FROM loginas.redeem(:'tf') \gset
SELECT token AS tg FROM loginas.begin(2, 2) \gset
SELECT session_id AS sg FROM loginas.session WHERE ticket_hash = loginas._hash(:'tg') \gset
\set VERBOSITY verbose
SELECT loginas.end_admin(1, 'logout');
SELECT loginas.end_admin(1, NULL);
\set VERBOSITY default
SELECT loginas.end_admin(1);
SELECT loginas.end_admin(1);
SELECT session_id - :s0 AS n, admin_id, redeemed_at IS NOT NULL AS redeemed, end_reason, ended_by_admin,
	   ended_by_role = session_user AS by_me
  FROM loginas.session WHERE session_id IN (:sf, :sg) ORDER BY session_id;
-- the unredeemed ticket of admin 2, with another allowed reason
SELECT loginas.end_admin(2, 'admin_inactive');
SELECT end_reason, ended_by_admin FROM loginas.session WHERE session_id = :sg;
-- an admin with nothing live
SELECT loginas.end_admin(4);
SELECT count(*) AS live FROM loginas.session WHERE ended_at IS NULL;

------------------------------------------------------------------------------
-- expire(): tickets and sessions past their time or whose conditions failed;
-- healthy sessions are left alone.  One scenario each: a victim session of
-- admin 1 as Veronica, while admin 2's session as John stays healthy.
------------------------------------------------------------------------------
SELECT loginas.expire() AS nothing_to_do;
SELECT token AS th FROM loginas.begin(2, 2) \gset
SELECT session_id AS healthy FROM loginas.redeem(:'th') \gset
CREATE TEMP TABLE victim (scenario text, session_id bigint, swept integer);
-- an unredeemed ticket past its time
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'ticket expired', session_id FROM loginas.session
 WHERE ticket_hash = loginas._hash(:'tv');
UPDATE loginas.session SET ticket_expires_at = now() - interval '1 second'
 WHERE session_id = (SELECT session_id FROM victim WHERE scenario = 'ticket expired');
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'ticket expired';
-- a session past its time
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'session expired', session_id FROM loginas.redeem(:'tv');
UPDATE loginas.session SET expires_at = now() - interval '1 second'
 WHERE session_id = (SELECT session_id FROM victim WHERE scenario = 'session expired');
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'session expired';
-- admin deactivated
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'admin deactivated', session_id FROM loginas.redeem(:'tv');
UPDATE shop.admin SET is_active = false WHERE admin_id = 1;
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'admin deactivated';
UPDATE shop.admin SET is_active = true WHERE admin_id = 1;
-- admin moved to a role without "login"
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'role without login', session_id FROM loginas.redeem(:'tv');
UPDATE shop.admin SET role = 'Marketing' WHERE admin_id = 1;
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'role without login';
UPDATE shop.admin SET role = 'Administrators' WHERE admin_id = 1;
-- customer deactivated
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'customer deactivated', session_id FROM loginas.redeem(:'tv');
UPDATE shop.customer SET is_active = false WHERE customer_id = 1;
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'customer deactivated';
UPDATE shop.customer SET is_active = true WHERE customer_id = 1;
-- consent withdrawn behind loginas' back (set_assistance would end it itself)
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'consent withdrawn', session_id FROM loginas.redeem(:'tv');
UPDATE loginas.consent SET allowed = false WHERE customer_id = 1;
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'consent withdrawn';
UPDATE loginas.consent SET allowed = true WHERE customer_id = 1;
-- consent expired
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'consent expired', session_id FROM loginas.redeem(:'tv');
UPDATE loginas.consent SET valid_until = now() - interval '1 second' WHERE customer_id = 1;
UPDATE victim SET swept = loginas.expire() WHERE scenario = 'consent expired';
UPDATE loginas.consent SET valid_until = NULL WHERE customer_id = 1;
-- every scenario ended exactly its victim, with its reason; the healthy session is live
SELECT v.scenario, v.swept, s.end_reason, s.ended_by_admin, s.ended_by_role = session_user AS by_me
  FROM victim v JOIN loginas.session s USING (session_id) ORDER BY s.session_id;
SELECT ended_at IS NULL AS healthy_live FROM loginas.session WHERE session_id = :healthy;
-- feature disabled behind loginas' back: every session ends, the healthy one too
SELECT token AS tv FROM loginas.begin(1, 1) \gset
INSERT INTO victim SELECT 'feature disabled', session_id FROM loginas.redeem(:'tv');
UPDATE loginas.setting SET value = 'off' WHERE name = 'enabled';
SELECT loginas.expire() AS swept;
UPDATE loginas.setting SET value = 'on' WHERE name = 'enabled';
SELECT session_id - :s0 AS n, admin_id, end_reason FROM loginas.session
 WHERE session_id IN (:healthy, (SELECT session_id FROM victim WHERE scenario = 'feature disabled'))
 ORDER BY session_id;
SELECT loginas.expire() AS nothing_left;

------------------------------------------------------------------------------
-- The log: ticket_issued, ticket_redeemed, session_ended
------------------------------------------------------------------------------
-- one session's lifecycle, from the order view: admin username, customer
-- email, session, store view, source, the admin's reason on every row; the
-- end reason of session_ended in details
SELECT token AS tl FROM loginas.begin_from(1, 'order', 100, reason => 'call 99') \gset
SELECT session_id AS sl, session_key AS kl FROM loginas.redeem(:'tl') \gset
SELECT loginas."end"(:'kl');
SELECT action, result, action_group, admin_id, admin_username, customer_id, customer_email,
	   session_id = :sl AS this_session, store_id, source, reason, db_role = session_user AS by_me
  FROM loginas.action_log WHERE session_id = :sl ORDER BY log_id;
SELECT action, details - 'ticket_expires_at' - 'session_expires_at' AS details,
	   (details ->> 'ticket_expires_at')::timestamptz = (SELECT ticket_expires_at FROM loginas.session WHERE session_id = :sl) AS ticket_expiry_logged,
	   (details ->> 'session_expires_at')::timestamptz = (SELECT expires_at FROM loginas.session WHERE session_id = :sl) AS session_expiry_logged
  FROM loginas.action_log WHERE session_id = :sl ORDER BY log_id;
-- the customer's email is logged in full, however long
UPDATE shop.customer SET email = repeat('veronica.costello.', 12) || '@example.com' WHERE customer_id = 1;
SELECT token AS tl FROM loginas.begin(1, 1) \gset
SELECT session_id AS sl FROM loginas.redeem(:'tl') \gset
SELECT action, length(customer_email) AS email_length, customer_email = (SELECT email FROM shop.customer WHERE customer_id = 1) AS full_email
  FROM loginas.action_log WHERE session_id = :sl ORDER BY log_id;
UPDATE shop.customer SET email = 'veronica@example.com' WHERE customer_id = 1;
SELECT loginas.end_admin(1);

------------------------------------------------------------------------------
-- Every ticket and session of this suite ended with a recorded end and
-- exactly one session_ended log row carrying its end reason (details) and the
-- session's own reason; every one has one ticket_issued row, every redeemed
-- one a ticket_redeemed row
------------------------------------------------------------------------------
SELECT count(*) AS sessions,
	   count(*) FILTER (WHERE ended_at IS NULL OR end_reason IS NULL OR ended_by_role IS NULL) AS without_end,
	   count(*) FILTER (WHERE (SELECT count(*) FROM loginas.action_log l
							  WHERE l.session_id = s.session_id AND l.action = 'session_ended'
								AND l.details ->> 'end_reason' = s.end_reason
								AND l.reason IS NOT DISTINCT FROM s.reason AND l.admin_id = s.admin_id
								AND l.customer_id = s.customer_id AND l.store_id = s.store_id) <> 1) AS bad_end_log,
	   count(*) FILTER (WHERE (SELECT count(*) FROM loginas.action_log l
							  WHERE l.session_id = s.session_id AND l.action = 'ticket_issued') <> 1) AS bad_issued_log,
	   count(*) FILTER (WHERE (SELECT count(*) FROM loginas.action_log l
							  WHERE l.session_id = s.session_id AND l.action = 'ticket_redeemed')
						 <> (s.redeemed_at IS NOT NULL)::int) AS bad_redeemed_log
  FROM loginas.session s WHERE s.session_id > :s0;
-- how they ended, and who ended them
SELECT end_reason, ended_by_admin, redeemed_at IS NOT NULL AS redeemed, count(*)
  FROM loginas.session WHERE session_id > :s0
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- session_ended rows say whether the ticket was redeemed and who ended it
SELECT count(*) AS end_rows_disagreeing
  FROM loginas.action_log l JOIN loginas.session s USING (session_id)
 WHERE l.log_id > :l0 AND l.action = 'session_ended'
   AND ((l.details ->> 'redeemed')::boolean IS DISTINCT FROM (s.redeemed_at IS NOT NULL)
		OR (l.details ->> 'ended_by_admin')::bigint IS DISTINCT FROM s.ended_by_admin);

------------------------------------------------------------------------------
-- Back to the defaults for the next suite
------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'off');
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT loginas.revoke('Administrators', 'login'), loginas.revoke('Support', 'login');
SELECT count(*) AS grants FROM loginas.role_resource;
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
-- the shop is as setup left it
SELECT * FROM shop.admin ORDER BY admin_id;
SELECT * FROM shop.customer ORDER BY customer_id;
SELECT * FROM shop.store ORDER BY store_id;
