-- consent: "Allow remote shopping assistance" (loginas.set_assistance,
-- loginas.assistance_allowed): the customer's own choice, an admin's change on
-- the customer's behalf (resource manage_assistance), the argument checks,
-- expiry (valid_until), the ends of live tickets and sessions when consent is
-- revoked or expires, the refusal inside a Login as Customer session, and the
-- log rows consent_granted / consent_revoked.
--
-- Shop (sql/setup.sql): customers 1 Veronica (website 1), 2 John (website 2),
-- 3 Gone (inactive); admins 1 ada (Administrators), 2 sam (Support),
-- 3 old (Administrators, inactive), 4 max (Marketing).
\set VERBOSITY default

-- Start from a known state, whatever earlier suites left: no consents, no
-- live sessions, no role resources; then enable the feature and grant what
-- this suite needs.  Undone at the end.
DELETE FROM loginas.consent;
DO $$
DECLARE
	r record;
BEGIN
	PERFORM loginas.configure('enabled', 'off');	-- ends any live session
	FOR r IN SELECT role, resource FROM loginas.permissions LOOP
		PERFORM loginas.revoke(r.role, r.resource);
	END LOOP;
END
$$;
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.grant('Administrators', 'manage_assistance');
SELECT loginas.grant('Support', 'login');
SELECT loginas.grant('Marketing', 'login');
-- log rows and sessions of this suite come after these marks
SELECT COALESCE(max(log_id), 0) AS log0 FROM loginas.action_log \gset
SELECT COALESCE(max(session_id), 0) AS s0 FROM loginas.session \gset

-------------------------------------------------------------------------------
-- Without a choice, assistance is not allowed
-------------------------------------------------------------------------------
SELECT loginas.assistance_allowed(1) AS c1, loginas.assistance_allowed(99) AS unknown,
       loginas.assistance_allowed(NULL) AS null_id;
SELECT * FROM loginas.check(1, 1);
\set VERBOSITY verbose
SELECT * FROM loginas.begin(1, 1);
\set VERBOSITY default

-------------------------------------------------------------------------------
-- The customer's own choice (no by_admin): the storefront's checkbox
-------------------------------------------------------------------------------
SELECT loginas.set_assistance(1, true);
SELECT loginas.assistance_allowed(1);
SELECT * FROM loginas.check(1, 1);
SELECT customer_id, allowed, valid_until, changed_by_admin FROM loginas.consent ORDER BY customer_id;
-- the same choice again changes nothing and logs nothing
SELECT loginas.set_assistance(1, true);
-- unticking the checkbox
SELECT loginas.set_assistance(1, false);
SELECT loginas.assistance_allowed(1);
SELECT * FROM loginas.check(1, 1);
SELECT loginas.set_assistance(1, false);
-- a customer who never allowed it unticks: nothing changes, nothing is logged
SELECT loginas.set_assistance(2, false);
SELECT loginas.assistance_allowed(2);
SELECT action, result, admin_id, admin_username, customer_id, customer_email, details
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;
SELECT max(log_id) AS log0 FROM loginas.action_log \gset

-------------------------------------------------------------------------------
-- An admin changes it on the customer's behalf: needs manage_assistance
-------------------------------------------------------------------------------
\set VERBOSITY verbose
-- sam (Support) has login but not manage_assistance
SELECT loginas.set_assistance(1, true, by_admin => 2);
-- old (Administrators) has the resource through its role, but is inactive
SELECT loginas.set_assistance(1, true, by_admin => 3);
-- an admin that does not exist
SELECT loginas.set_assistance(1, true, by_admin => 99);
\set VERBOSITY default
SELECT loginas.assistance_allowed(1);
SELECT loginas.permitted(1, 'manage_assistance') AS ada, loginas.permitted(2, 'manage_assistance') AS sam,
       loginas.permitted(3, 'manage_assistance') AS old;
-- ada (Administrators) has it
SELECT loginas.set_assistance(1, true, by_admin => 1);
SELECT loginas.assistance_allowed(1);
SELECT customer_id, allowed, valid_until, changed_by_admin FROM loginas.consent ORDER BY customer_id;
SELECT loginas.set_assistance(1, true, by_admin => 1);	-- no change, no log row
SELECT loginas.set_assistance(2, true, '2100-01-01 00:00:00+00', by_admin => 1);
SELECT customer_id, allowed, valid_until, changed_by_admin FROM loginas.consent ORDER BY customer_id;
SELECT action, result, admin_id, admin_username, customer_id, customer_email, details
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;
SELECT max(log_id) AS log0 FROM loginas.action_log \gset

-------------------------------------------------------------------------------
-- Argument checks
-------------------------------------------------------------------------------
\set VERBOSITY verbose
-- unknown customer, by the customer and by an admin
SELECT loginas.set_assistance(99, true);
SELECT loginas.set_assistance(99, false, by_admin => 1);
-- NULL arguments
SELECT loginas.set_assistance(NULL, true);
SELECT loginas.set_assistance(1, NULL);
SELECT loginas.set_assistance(NULL, false, by_admin => 1);
-- valid_until must be in the future
SELECT loginas.set_assistance(1, true, '2000-01-01 00:00:00+00');
SELECT loginas.set_assistance(1, true, '2000-01-01 00:00:00+00', by_admin => 1);
-- valid_until only goes with allowed = true
SELECT loginas.set_assistance(1, false, '2100-01-01 00:00:00+00');
\set VERBOSITY default
-- nothing of the refused calls was stored or logged
SELECT customer_id, allowed, valid_until, changed_by_admin FROM loginas.consent ORDER BY customer_id;
SELECT count(*) AS new_log_rows FROM loginas.action_log WHERE log_id > :log0;

-------------------------------------------------------------------------------
-- Consent that expires: valid_until
-------------------------------------------------------------------------------
-- the customer allows assistance until a date; ada begins and the storefront
-- redeems a session
SELECT loginas.set_assistance(1, true, '2100-01-01 00:00:00+00');
SELECT loginas.assistance_allowed(1);
SELECT token AS t1 FROM loginas.begin(1, 1) \gset
SELECT session_key AS k1 FROM loginas.redeem(:'t1') \gset
-- the date passes (simulated by moving it into the past)
UPDATE loginas.consent SET valid_until = '2000-01-01 00:00:00+00' WHERE customer_id = 1;
SELECT loginas.assistance_allowed(1);
SELECT * FROM loginas.check(1, 1);
\set VERBOSITY verbose
SELECT * FROM loginas.begin(2, 1);
BEGIN;
SELECT loginas.assume(:'k1');
ROLLBACK;
\set VERBOSITY default
-- the sweep ends the session with reason consent_expired
SELECT loginas.expire();
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason, ended_by_admin
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT loginas.expire();	-- nothing left to end
SELECT action, admin_username, customer_email,
       details - 'ticket_expires_at' - 'session_expires_at' AS details
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;
SELECT max(log_id) AS log0 FROM loginas.action_log \gset
SELECT max(session_id) AS s0 FROM loginas.session \gset
-- allowing again without valid_until lifts the limit
SELECT loginas.set_assistance(1, true);
SELECT loginas.assistance_allowed(1);
SELECT customer_id, allowed, valid_until, changed_by_admin FROM loginas.consent ORDER BY customer_id;

-------------------------------------------------------------------------------
-- Revoking consent ends the customer's live tickets and sessions, and only
-- that customer's
-------------------------------------------------------------------------------
-- ada: a session with customer 1; sam: an unredeemed ticket for customer 1;
-- max: a session with customer 2
SELECT token AS t1 FROM loginas.begin(1, 1) \gset
SELECT session_key AS k1 FROM loginas.redeem(:'t1') \gset
SELECT token AS t2 FROM loginas.begin(2, 1) \gset
SELECT token AS t3 FROM loginas.begin(4, 2) \gset
SELECT session_key AS k3 FROM loginas.redeem(:'t3') \gset
SELECT loginas.set_assistance(1, false);
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason, ended_by_admin
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
-- the session can no longer be used, the ticket no longer redeemed (terse:
-- the detail names the session id and its end time)
\set VERBOSITY terse
BEGIN;
SELECT loginas.assume(:'k1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
\set VERBOSITY verbose
SELECT session_id FROM loginas.redeem(:'t2');
\set VERBOSITY default
-- customer 2's session goes on
BEGIN;
SELECT loginas.assume(:'k3') IS NOT NULL AS assumed, loginas.current_customer();
COMMIT;
-- an admin revoking on the customer's behalf is recorded as the one who ended it
SELECT loginas.set_assistance(2, false, by_admin => 1);
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason, ended_by_admin
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT action, admin_username, customer_email,
       details - 'ticket_expires_at' - 'session_expires_at' AS details
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;
SELECT max(log_id) AS log0 FROM loginas.action_log \gset
SELECT max(session_id) AS s0 FROM loginas.session \gset

-------------------------------------------------------------------------------
-- Inside a Login as Customer session consent cannot be changed: an admin
-- acting as the customer cannot give himself (or take away) the permission
-------------------------------------------------------------------------------
SELECT loginas.set_assistance(1, true);
SELECT token AS t1 FROM loginas.begin(1, 1) \gset
SELECT session_key AS k1 FROM loginas.redeem(:'t1') \gset
\set VERBOSITY verbose
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT loginas.set_assistance(1, false);
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT loginas.set_assistance(1, true, '2100-01-01 00:00:00+00');
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT loginas.set_assistance(1, false, by_admin => 1);
ROLLBACK;
-- nor another customer's
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT loginas.set_assistance(2, true);
ROLLBACK;
\set VERBOSITY default
-- nothing changed, the session is live
SELECT customer_id, allowed, valid_until, changed_by_admin FROM loginas.consent ORDER BY customer_id;
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
-- outside the session's transaction the customer's own choice works again
SELECT loginas.set_assistance(1, false);
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT action, admin_username, customer_email,
       details - 'ticket_expires_at' - 'session_expires_at' AS details
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;

-------------------------------------------------------------------------------
-- Clean up: feature off, no role resources, no consents
-------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
SELECT loginas.revoke('Administrators', 'manage_assistance');
SELECT loginas.revoke('Support', 'login');
SELECT loginas.revoke('Marketing', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT * FROM loginas.permissions;
SELECT name, value FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
