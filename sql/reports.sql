-- reports: what the action log tells a support lead, an auditor and a
-- customer, in psql.
--   loginas.actions_report: the Admin Actions Report's columns, newest first;
--     every filter (since, until, action group, admin, customer, result),
--     paging, and each refusal of a bad argument (22023);
--   loginas.sessions: one row per ticket or session (status, who, whom,
--     where, why, when, how it ended, what it wrote);
--   loginas.customer_history and loginas.admin_activity;
--   viewer_admin: without it the database role decides (loginas_reporting
--     reads, loginas_admin is refused); with it the admin user needs the
--     "view_log" resource (42501 otherwise) and each view is logged as a
--     'log_viewed' row, each refused one as a 'log_view_refused' row --
--     committed before the report returns anything, so that no rollback of
--     the caller's (a transaction, a savepoint, an error) takes it back;
--   the plans: over ~20,000 log rows (written, then rolled back) the customer
--     history and the first page of the action-group/time-filtered report use
--     index scans, and the reports scan the log sequentially never.
-- At its start it enables the feature, grants "login" to the Administrators
-- and Support roles, adds a customer of its own (40, Emma Stone, with order
-- 140) who allows assistance, tracks a table of its own (rep.address) and
-- makes three database roles (regress_rep_*); at its end it drops them and
-- restores the defaults (settings, grants, consents).
--
-- The log is append-only: the rows of earlier suites stay, so every report
-- here is limited to this suite's rows (since => :'t0', or customer 40).
-- Times are never printed (only compared); session ids depend on the suites
-- before this one, so pg_temp.sess names them (<s1> ... <s4>) and pg_temp.m()
-- shows them by name in the Details text (and times there as <time>).
-- Tokens and session keys are captured with \gset and never printed.
--
-- The shop (sql/setup.sql): admins 1 ada (Administrators), 2 sam (Support),
-- 3 old (Administrators, inactive), 4 max (Marketing); store view 1 (Main
-- Website's default).
\set VERBOSITY default

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------
CREATE TEMP TABLE sess (name text PRIMARY KEY, id bigint UNIQUE);
-- a session id as its name
CREATE FUNCTION pg_temp.s(id bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT COALESCE((SELECT '<' || name || '>' FROM pg_temp.sess WHERE sess.id = s.id), id::text)
$$;
-- a text with session ids shown by name and timestamps as <time>
CREATE FUNCTION pg_temp.m(t text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT name, id FROM pg_temp.sess LOOP
		t := regexp_replace(t, '([Ss]ession) ' || r.id || '\M', '\1 <' || r.name || '>', 'g');
	END LOOP;
	RETURN regexp_replace(t, '\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:\d{2})?)?', '<time>', 'g');
END
$$;
-- run a statement as the current role: "ok: n row(s)", or the error's
-- SQLSTATE, message, detail and hint
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
		RETURN NEXT 'ERROR ' || st || ': ' || msg;
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
-- EXPLAIN (COSTS OFF) of a query, times masked
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql SET datestyle = 'ISO, YMD' AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		RETURN NEXT pg_temp.m(line);
	END LOOP;
END
$$;

------------------------------------------------------------------------------
-- The starting point: feature on, "login" for Administrators and Support,
-- customer 40 (Emma Stone, Main Website, store view 1) with order 140, who
-- allows assistance; a tracked table; three database roles
------------------------------------------------------------------------------
SELECT clock_timestamp() AS t0 \gset
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login', by_admin => 1), loginas.grant('Support', 'login', by_admin => 1);
INSERT INTO shop.customer VALUES (40, 'emma@example.com', 'Emma', 'Stone', true, 1, 1);
INSERT INTO shop.sales_order VALUES (140, 40, 1, '000000140');
SELECT loginas.set_assistance(40, true);
CREATE SCHEMA rep;
CREATE TABLE rep.address (address_id int PRIMARY KEY, customer_id int NOT NULL, city text, street text);
SELECT loginas.track('rep.address', 'customer_id');
CREATE ROLE regress_rep_reports NOLOGIN;
GRANT loginas_reporting TO regress_rep_reports;
CREATE ROLE regress_rep_backend NOLOGIN;
GRANT loginas_admin TO regress_rep_backend;
CREATE ROLE regress_rep_web NOLOGIN;
GRANT loginas_storefront TO regress_rep_web;

------------------------------------------------------------------------------
-- What happens to Emma's account:
--   <s1> ada, from the customer edit page, reason "call 4711": two addresses
--        added, one changed, a note; Emma's storefront logs out
--   <s2> sam, from order 000000140, reason "ticket 42": an address deleted;
--        sam's admin logout ends it
--   <s3> ada, read-only ticket, never redeemed: superseded by <s4>
--   <s4> ada, ticket never redeemed: ended when Emma revokes her consent
------------------------------------------------------------------------------
SELECT token AS t FROM loginas.begin(1, 40, reason => 'call 4711', source => 'customer edit page') \gset
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem(:'t') \gset
INSERT INTO pg_temp.sess VALUES ('s1', :s1);
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
INSERT INTO rep.address VALUES (5, 40, 'Paris', '1 Rue de Rivoli'), (6, 40, 'Lyon', '2 Quai Saint-Antoine');
UPDATE rep.address SET city = 'Nice', street = '3 Promenade des Anglais' WHERE address_id = 5;
SELECT loginas.note('Changed the delivery address', '{"address_id": 5}') IS NOT NULL AS noted;
COMMIT;
SELECT loginas.end(:'k1');
SELECT clock_timestamp() AS t1 \gset

SELECT token AS t FROM loginas.begin_from(2, 'order', 140, reason => 'ticket 42') \gset
SELECT session_key AS k2, session_id AS s2 FROM loginas.redeem(:'t') \gset
INSERT INTO pg_temp.sess VALUES ('s2', :s2);
BEGIN;
SELECT loginas.assume(:'k2') = :s2 AS assumed;
DELETE FROM rep.address WHERE address_id = 6;
COMMIT;

SELECT token AS t FROM loginas.begin(1, 40, read_only => true) \gset
SELECT max(session_id) AS s3 FROM loginas.session \gset
INSERT INTO pg_temp.sess VALUES ('s3', :s3);

------------------------------------------------------------------------------
-- loginas.sessions: one row per ticket or session, newest first; status
-- ticket / live / expired / ended; writes = rows written (all write_* rows
-- of the session), the tables written, the notes
------------------------------------------------------------------------------
SELECT pg_temp.s(session_id) AS session, status, admin_id, admin_username, customer_id, customer_email,
	   store_id, source, reason, read_only, redeemed IS NOT NULL AS redeemed, ended IS NOT NULL AS ended,
	   end_reason, ended_by_admin, writes, tables_written, notes
  FROM loginas.sessions WHERE session_id >= :s1;
-- the times are the session's own
SELECT count(*) AS sessions_with_other_times
  FROM loginas.sessions v JOIN loginas.session s USING (session_id)
 WHERE v.session_id >= :s1
   AND (v.started IS DISTINCT FROM s.created_at OR v.redeemed IS DISTINCT FROM s.redeemed_at
		OR v.ended IS DISTINCT FROM s.ended_at
		OR v.expires IS DISTINCT FROM COALESCE(s.expires_at, s.ticket_expires_at)
		OR v.last_action < v.started);
-- a session past its time that expire() has not ended yet is "expired"
UPDATE loginas.session SET ticket_expires_at = now() - interval '1 second' WHERE session_id = :s3;
SELECT status FROM loginas.sessions WHERE session_id = :s3;
UPDATE loginas.session SET ticket_expires_at = now() + interval '1 minute' WHERE session_id = :s3;

-- the rest of the story: <s4> supersedes <s3>; sam's logout ends <s2>; Emma
-- revokes her consent, which ends <s4>; and a refused begin (a 'failure' row
-- as the durable refusal log writes it when loginas is preloaded, which
-- pg_regress does not do: made here by hand)
SELECT token AS t FROM loginas.begin(1, 40) \gset
SELECT max(session_id) AS s4 FROM loginas.session \gset
INSERT INTO pg_temp.sess VALUES ('s4', :s4);
SELECT loginas.end_admin(2);
SELECT loginas.set_assistance(40, false);
SELECT loginas._log('begin_refused', 'failure', 2, 40,
	p_details => '{"sqlstate": "42501", "message": "Login as Customer assistance is disabled for this Customer.", "detail": "The customer has not allowed remote shopping assistance."}') IS NOT NULL AS logged;
SELECT pg_temp.s(session_id) AS session, status, admin_username, customer_email, source, reason, read_only,
	   redeemed IS NOT NULL AS redeemed, end_reason, ended_by_admin, writes, tables_written, notes
  FROM loginas.sessions WHERE session_id >= :s1;
-- filtered by customer and admin (the plan is shown below: no function is
-- called per row, the log is read through its session_id index)
SELECT pg_temp.s(session_id) AS session, status FROM loginas.sessions WHERE customer_id = 40 AND admin_id = 2;

------------------------------------------------------------------------------
-- The Admin Actions Report: Time, Action Group, Action, IP Address,
-- Username, Result, Details -- newest first
------------------------------------------------------------------------------
SELECT "Action Group", "Action", "Username", "Result", pg_temp.m("Details") AS "Details"
  FROM loginas.actions_report(since => :'t0');
-- the columns, their names and types
SELECT a.name AS column_name, format_type(a.type, NULL) AS type
  FROM pg_proc p, unnest(p.proargnames, p.proallargtypes, p.proargmodes::text[]) WITH ORDINALITY a(name, type, mode, o)
 WHERE p.oid = 'loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text, text)'::regprocedure
   AND a.mode = 't'
 ORDER BY a.o;
-- newest first (ties by order of appends); the time is the row's; the IP
-- Address is the client's (here a Unix socket: none)
WITH r AS (SELECT row_number() OVER () AS n, * FROM loginas.actions_report(since => :'t0'))
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE "Time" > (SELECT r2."Time" FROM r r2 WHERE r2.n = r.n - 1)) AS out_of_order,
	   count(*) FILTER (WHERE "IP Address" IS DISTINCT FROM inet_client_addr()) AS other_address,
	   (SELECT count(*) FROM loginas.action_log WHERE logged_at >= :'t0') AS log_rows,
	   min("Time") >= :'t0' AS all_since_t0
  FROM r;

------------------------------------------------------------------------------
-- Filters
------------------------------------------------------------------------------
-- until: before t1 (the end of <s1>)
SELECT "Action", "Username" FROM loginas.actions_report(since => :'t0', until => :'t1');
-- the seed's question: Action Group = Login As Customer (however it is
-- typed); another action group has no rows
SELECT count(*) AS login_as_customer FROM loginas.actions_report(since => :'t0', action_group => 'Login As Customer');
SELECT count(*) AS lower_case FROM loginas.actions_report(since => :'t0', action_group => 'login as customer');
SELECT count(*) AS customers_group FROM loginas.actions_report(since => :'t0', action_group => 'Customers');
SELECT DISTINCT "Action Group" FROM loginas.actions_report(since => :'t0', action_group => 'LOGIN AS CUSTOMER');
-- admin (sam)
SELECT "Action", "Username", pg_temp.m("Details") AS "Details" FROM loginas.actions_report(since => :'t0', admin_id => 2);
-- customer (Emma) and admin (ada) together
SELECT "Action", "Username", pg_temp.m("Details") AS "Details"
  FROM loginas.actions_report(since => :'t0', customer_id => 40, admin_id => 1);
-- result: the failures; success (in any case) is everything else
SELECT "Action", "Username", "Result", pg_temp.m("Details") AS "Details"
  FROM loginas.actions_report(since => :'t0', result => 'failure');
SELECT count(*) AS successes, count(*) FILTER (WHERE "Result" <> 'success') AS others
  FROM loginas.actions_report(since => :'t0', result => 'Success');
-- no filter at all: the newest rows of the whole log
SELECT count(*) = least(10000, (SELECT count(*) FROM loginas.action_log)) AS whole_log
  FROM loginas.actions_report(page_size => 10000);

------------------------------------------------------------------------------
-- Paging: page_size rows per page, page 1 the newest; the pages together
-- are the whole report, in order; past the last page nothing
------------------------------------------------------------------------------
SELECT "Action" FROM loginas.actions_report(since => :'t0', page_size => 4);
SELECT "Action" FROM loginas.actions_report(since => :'t0', page_size => 4, page => 2);
WITH whole AS (SELECT row_number() OVER () AS n, "Time", "Action", "Details"
				 FROM loginas.actions_report(since => :'t0')),
	 paged AS (SELECT row_number() OVER (ORDER BY p, i) AS n, x."Time", x."Action", x."Details"
				 FROM generate_series(1, 10) p,
					  LATERAL (SELECT row_number() OVER () AS i, r.*
								 FROM loginas.actions_report(since => :'t0', page_size => 3, page => p) r) x)
SELECT (SELECT count(*) FROM whole) AS whole_rows, (SELECT count(*) FROM paged) AS paged_rows,
	   (SELECT count(*) FROM whole w FULL JOIN paged p USING (n)
		 WHERE (w."Time", w."Action", w."Details") IS DISTINCT FROM (p."Time", p."Action", p."Details")) AS differences;
SELECT count(*) AS past_the_end FROM loginas.actions_report(since => :'t0', page_size => 10000, page => 2);
SELECT count(*) BETWEEN 1 AND 10000 AS largest_page FROM loginas.actions_report(page_size => 10000);

------------------------------------------------------------------------------
-- Bad arguments: 22023 (no CONTEXT: the refusal is loginas')
------------------------------------------------------------------------------
SELECT * FROM loginas.actions_report(page => 0);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(result => 'maybe')$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(page => -1)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(page => NULL)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(page_size => 0)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(page_size => 10001)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(page_size => NULL)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(since => now(), until => now() - interval '1 day')$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(NULL)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.admin_activity(NULL)$$);
-- since = until is an empty interval, not an error
SELECT count(*) AS empty FROM loginas.actions_report(since => :'t1', until => :'t1');

------------------------------------------------------------------------------
-- A customer's access history: who, when, why, from which document, what
-- changed (table, keys, columns), consent changes and refused attempts --
-- newest first
------------------------------------------------------------------------------
SELECT "Admin", "Action", "Result", "Reason", "Source", pg_temp.s("Session") AS "Session", "Table", "Keys",
	   pg_temp.m("Details") AS "Details"
  FROM loginas.customer_history(40);
WITH r AS (SELECT row_number() OVER () AS n, * FROM loginas.customer_history(40))
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE "Time" > (SELECT r2."Time" FROM r r2 WHERE r2.n = r.n - 1)) AS out_of_order,
	   (SELECT count(*) FROM loginas.action_log WHERE customer_id = 40) AS log_rows_of_customer_40
  FROM r;
-- a customer nobody entered
SELECT count(*) AS no_history FROM loginas.customer_history(999);

------------------------------------------------------------------------------
-- An admin's activity, since a time or all of it
------------------------------------------------------------------------------
SELECT "Action", "Result", "Customer", pg_temp.s("Session") AS "Session", "Source", "Reason",
	   pg_temp.m("Details") AS "Details"
  FROM loginas.admin_activity(2, since => :'t0');
SELECT "Action", "Customer", pg_temp.s("Session") AS "Session" FROM loginas.admin_activity(1, since => :'t1');
SELECT count(*) = (SELECT count(*) FROM loginas.action_log WHERE admin_id = 1) AS all_of_it FROM loginas.admin_activity(1);
SELECT count(*) AS nothing FROM loginas.admin_activity(999);

------------------------------------------------------------------------------
-- Who may view: loginas_reporting without viewer_admin; loginas_admin only
-- with a viewer_admin whose role has "view_log"; nobody else
------------------------------------------------------------------------------
SELECT count(*) AS views0 FROM loginas.action_log WHERE action = 'log_viewed' AND logged_at >= :'t0' \gset
SELECT :views0 AS log_viewed_rows_so_far;
-- the admin backend without viewer_admin: refused, with what to do
SET ROLE regress_rep_backend;
SELECT * FROM loginas.actions_report(since => :'t0');
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(40)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.admin_activity(1)$$);
-- viewer_admin must exist, be active and have "view_log"
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(viewer_admin => 99)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(viewer_admin => 3)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(viewer_admin => 2)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(40, viewer_admin => 2)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.admin_activity(1, viewer_admin => 2)$$);
-- nor can it reach the reporting halves or the view directly
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report_as_reporting()$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history_as_reporting(40)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.admin_activity_as_reporting(1)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.sessions$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report_as_admin(NULL)$$);
RESET ROLE;
-- refused views show nothing and write no log_viewed row; each refusal by
-- an _as_admin half is a log_view_refused row (the refusals by privileges --
-- no EXECUTE on a reporting half or the view -- happen before loginas runs)
SELECT count(*) - :views0 AS new_log_viewed_rows FROM loginas.action_log WHERE action = 'log_viewed' AND logged_at >= :'t0';
SELECT action, result, admin_id, admin_username, customer_id, details ->> 'report' AS report,
       details ->> 'sqlstate' AS sqlstate, details ->> 'message' AS message
  FROM loginas.action_log WHERE action = 'log_view_refused' AND logged_at >= :'t0' ORDER BY log_id;

-- sam's role gets "View Login as Customer Log": the backend may show sam the
-- reports, and each view is logged
SELECT loginas.grant('Support', 'view_log', by_admin => 1);
SET ROLE regress_rep_backend;
SELECT "Action", "Username" FROM loginas.actions_report(since => :'t0', until => :'t1', action_group => 'Login As Customer', viewer_admin => 2, page_size => 5);
SELECT "Admin", "Action" FROM loginas.customer_history(40, viewer_admin => 2) LIMIT 3;
SELECT count(*) AS rows FROM loginas.admin_activity(1, since => :'t0', viewer_admin => 2);
-- the viewer is checked first, then the arguments
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(viewer_admin => 2, page => 0)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(viewer_admin => 4, page => 0)$$);
RESET ROLE;
SELECT action, result, admin_id, admin_username, customer_id, customer_email, pg_temp.s(session_id) AS session,
	   pg_temp.m(details::text) AS details
  FROM loginas.action_log WHERE action = 'log_viewed' AND logged_at >= :'t0' ORDER BY log_id;
-- as the reports show them
SELECT "Action", "Username", pg_temp.m("Details") AS "Details"
  FROM loginas.actions_report(since => :'t0', page_size => 3);
SELECT "Action", "Customer", pg_temp.m("Details") AS "Details" FROM loginas.admin_activity(2, since => :'t1') LIMIT 3;
-- the customer's history does not list who looked at it, nor who was refused
SELECT count(*) AS log_views_in_history FROM loginas.customer_history(40)
 WHERE "Action" LIKE 'Log viewed%' OR "Action" = 'Refused: log view';

-- A view is committed to the log before the report returns a row, by a
-- transaction of its own: the caller's ROLLBACK, ROLLBACK TO SAVEPOINT, an
-- error after the report or a failing DO block do not take it back (1.1's
-- row was the caller's and went with it); nor the refusal of a view
SELECT count(*) AS views_before, max(log_id) AS l_views FROM loginas.action_log
 WHERE action IN ('log_viewed', 'log_view_refused') \gset
SET ROLE regress_rep_backend;
BEGIN;
SAVEPOINT p;
SELECT count(*) > 0 AS shown FROM loginas.customer_history(40, viewer_admin => 2);
ROLLBACK TO SAVEPOINT p;
COMMIT;
BEGIN;
SELECT count(*) AS shown FROM loginas.actions_report(since => :'t0', viewer_admin => 2, page_size => 2);
ROLLBACK;
BEGIN;
SELECT count(*) > 0 AS shown FROM loginas.admin_activity(1, since => :'t0', viewer_admin => 2);
SELECT 1 / 0;
ROLLBACK;
DO $$
BEGIN
	PERFORM count(*) FROM loginas.customer_history(40, viewer_admin => 2);
	RAISE EXCEPTION 'the caller fails after the report';
END
$$;
BEGIN;
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(40, viewer_admin => 4)$$);
ROLLBACK;
RESET ROLE;
SELECT action, result, admin_username, customer_id, details ->> 'report' AS report,
       details ->> 'rows' AS rows, details ->> 'sqlstate' AS sqlstate
  FROM loginas.action_log WHERE log_id > :l_views AND action IN ('log_viewed', 'log_view_refused') ORDER BY log_id;
-- every view and refused view is in one chain, the one loginas.shared_chain
-- names; and the log verifies
SELECT count(DISTINCT l.chain_id) AS chains, bool_and(l.chain_id = c.chain_id) AS the_shared_chain
  FROM loginas.action_log l, loginas.shared_chain c
 WHERE c.name = 'log_views' AND l.action IN ('log_viewed', 'log_view_refused');
SELECT intact FROM loginas.verify_log();

-- reporting: everything without viewer_admin, nothing logged; with a
-- viewer_admin the same rules (and the log row) as for the backend
SELECT count(*) AS views1 FROM loginas.action_log WHERE action = 'log_viewed' \gset
SET ROLE regress_rep_reports;
SELECT count(*) > 0 AS rows FROM loginas.actions_report(since => :'t0');
SELECT count(*) > 0 AS rows FROM loginas.customer_history(40);
SELECT count(*) > 0 AS rows FROM loginas.admin_activity(1, since => :'t0');
SELECT count(*) AS sessions FROM loginas.sessions WHERE session_id >= :s1;
SELECT count(*) > 0 AS rows FROM loginas.actions_report_as_reporting(since => :'t0');
SELECT count(*) - :views1 AS new_log_viewed_rows FROM loginas.action_log WHERE action = 'log_viewed';
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report(viewer_admin => 4)$$);
SELECT count(*) AS rows FROM loginas.customer_history(40, viewer_admin => 2);
-- the reports write nothing without viewer_admin, so they work in a
-- read-only transaction (a hot standby); a view that must be logged cannot
BEGIN READ ONLY;
SELECT count(*) > 0 AS rows FROM loginas.actions_report(since => :'t0');
SELECT count(*) > 0 AS rows FROM loginas.customer_history(40);
SELECT count(*) > 0 AS rows FROM loginas.admin_activity(2);
SELECT count(*) AS sessions FROM loginas.sessions WHERE session_id >= :s1;
SELECT left(a, 12) AS logged_view FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(40, viewer_admin => 2)$$) a;
ROLLBACK;
RESET ROLE;
SELECT action, admin_username, customer_id, details ->> 'report' AS report, details -> 'rows' AS rows
  FROM loginas.action_log WHERE action = 'log_viewed' ORDER BY log_id DESC LIMIT 1;
-- the storefront has no report at all
SET ROLE regress_rep_web;
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.actions_report()$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(40)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.admin_activity(1)$$);
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.sessions$$);
RESET ROLE;
-- revoking "view_log" refuses the next view
SELECT loginas.revoke('Support', 'view_log', by_admin => 1);
SET ROLE regress_rep_backend;
SELECT * FROM pg_temp.attempt($$SELECT * FROM loginas.customer_history(40, viewer_admin => 2)$$);
RESET ROLE;
-- the privileges, function by function
SELECT p.oid::regprocedure AS function,
	   has_function_privilege('loginas_reporting', p.oid, 'EXECUTE') AS reporting,
	   has_function_privilege('loginas_admin', p.oid, 'EXECUTE') AS admin,
	   has_function_privilege('loginas_storefront', p.oid, 'EXECUTE') AS storefront,
	   p.prosecdef AS security_definer
  FROM pg_proc p
 WHERE p.pronamespace = 'loginas'::regnamespace
   AND p.proname ~ '^(actions_report|customer_history|admin_activity|_actions_rows|_history_rows|_activity_rows|_action_label|_action_details|_row_summary|_keys_text|_check_viewer|_log_view)'
 ORDER BY p.proname;
SELECT has_table_privilege('loginas_reporting', 'loginas.sessions', 'SELECT') AS reporting,
	   has_table_privilege('loginas_admin', 'loginas.sessions', 'SELECT') AS admin,
	   has_table_privilege('loginas_storefront', 'loginas.sessions', 'SELECT') AS storefront;

------------------------------------------------------------------------------
-- The plans, over a log of ~20,000 more rows (written set-based through
-- loginas._log, so that each is a proper, chained log row, then rolled back):
-- the customer history and the first page of the action-group/time-filtered
-- report read the log through an index.  The reports' rows come from
-- loginas._history_rows / _actions_rows, which inline into the report (which
-- plans each call with its arguments): EXPLAIN shows their plan with the
-- arguments the report passes.  And the report functions themselves scan the
-- log sequentially never (the transaction's own statistics).
------------------------------------------------------------------------------
BEGIN;
SELECT count(loginas._log('note', 'success', NULL, NULL,
							p_details => jsonb_build_object('note', 'bulk ' || i))) AS bulk_rows
  FROM generate_series(1, 20000) i;
ANALYZE loginas.action_log, loginas.session;
-- PostgreSQL 16 and later sort an ordered aggregate's input below the Aggregate node (presorted
-- aggregates), 15 inside it: with that off, the plans read the same on every major
DO $$BEGIN
	PERFORM set_config(name, 'off', true) FROM pg_settings WHERE name = 'enable_presorted_aggregate';
END$$;
SELECT * FROM pg_temp.plan(format($$SELECT * FROM loginas._actions_rows(%L, NULL, 'Login As Customer', NULL, NULL, NULL, 100, 1)$$, :'t0'));
SELECT * FROM pg_temp.plan($$SELECT * FROM loginas._history_rows(40)$$);
SELECT * FROM pg_temp.plan($$SELECT * FROM loginas._actions_rows(NULL, NULL, NULL, NULL, NULL, 'failure', 100, 1)$$);
SELECT * FROM pg_temp.plan($$SELECT * FROM loginas.sessions WHERE customer_id = 40$$);
SELECT pg_stat_get_xact_numscans('loginas.action_log'::regclass) AS seq0,
	   pg_stat_get_xact_numscans('loginas.action_log_logged_at'::regclass) AS time0,
	   pg_stat_get_xact_numscans('loginas.action_log_customer'::regclass) AS customer0 \gset
SELECT count(*) AS first_page FROM loginas.actions_report(since => :'t0', action_group => 'Login As Customer');
SELECT count(*) AS history FROM loginas.customer_history(40);
SELECT count(*) > 0 AS activity FROM loginas.admin_activity(2);
SELECT pg_stat_get_xact_numscans('loginas.action_log'::regclass) - :seq0 AS sequential_scans,
	   pg_stat_get_xact_numscans('loginas.action_log_logged_at'::regclass) > :time0 AS time_index_used,
	   pg_stat_get_xact_numscans('loginas.action_log_customer'::regclass) > :customer0 AS customer_index_used;
ROLLBACK;

------------------------------------------------------------------------------
-- Back to the defaults for the next suite (the log rows stay: append-only)
------------------------------------------------------------------------------
SELECT loginas.untrack('rep.address');
DROP SCHEMA rep CASCADE;
DROP ROLE regress_rep_reports, regress_rep_backend, regress_rep_web;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT loginas.configure('enabled', 'off');
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT loginas.revoke('Administrators', 'login'), loginas.revoke('Support', 'login');
SELECT count(*) AS grants FROM loginas.role_resource;
DELETE FROM loginas.consent;
DELETE FROM shop.sales_order WHERE order_id = 140;
DELETE FROM shop.customer WHERE customer_id = 40;
