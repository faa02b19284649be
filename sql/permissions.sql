-- permissions: the role resources of "System > Permissions > User Roles > Role Resources".
--   grant() / revoke() / permitted() for login, view_log and manage_assistance; unknown resources
--   (22023, the hint lists them), empty roles and unknown admins are refused; granting what is
--   granted and revoking what is not return false and log nothing; permitted() needs an existing,
--   active admin whose role (the admins binding's role column) has the resource; loginas.permissions
--   lists the grants; revoking login ends the live tickets and sessions of that role's admins
--   (permission_revoked, ended_by_admin) and no others; grants and revokes are logged.
--   Leaves no grant, consent or live session behind.
\set VERBOSITY default
SELECT coalesce(max(log_id), 0) AS log0 FROM loginas.action_log \gset

-- the shop's admins (from setup): ada and old (inactive) are Administrators, sam Support, max Marketing
SELECT admin_id, username, is_active, role FROM shop.loginas_admins ORDER BY admin_id;
-- no grants yet: nobody is permitted anything
SELECT count(*) AS grants FROM loginas.permissions;
SELECT a.admin_id, r.resource, loginas.permitted(a.admin_id, r.resource)
  FROM shop.loginas_admins a CROSS JOIN unnest(ARRAY['login', 'view_log', 'manage_assistance']) AS r(resource)
 WHERE loginas.permitted(a.admin_id, r.resource);

--------------------------------------------------------------------------------
-- grant: true when it changed something, logged once (permission_granted, role and resource in
-- details, the admin when by_admin is given)
--------------------------------------------------------------------------------
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.grant('Administrators', 'view_log', 1);
SELECT loginas.grant('Administrators', 'manage_assistance', 1);
SELECT loginas.grant('Support', 'login', 1);
-- granting again returns false and logs nothing (nor does it change who granted it)
SELECT loginas.grant('Support', 'login');
SELECT loginas.grant('Administrators', 'view_log', 2);
SELECT action, result, admin_id, admin_username, customer_id, session_id, details
  FROM loginas.action_log WHERE log_id > :log0 ORDER BY log_id;
BEGIN;
SELECT loginas.grant('Support', 'view_log', 2);
SELECT role, resource, label, granted_at = now() AS granted_now, granted_by_admin FROM loginas.permissions;
SELECT role, resource, granted_by_role = session_user AS by_this_role FROM loginas.role_resource ORDER BY role, resource;
COMMIT;

--------------------------------------------------------------------------------
-- permitted: the admin exists, is active, and their role has the resource
--------------------------------------------------------------------------------
SELECT a.admin_id, a.username, a.is_active, a.role,
       loginas.permitted(a.admin_id, 'login') AS login,
       loginas.permitted(a.admin_id, 'view_log') AS view_log,
       loginas.permitted(a.admin_id, 'manage_assistance') AS manage_assistance
  FROM shop.loginas_admins a ORDER BY a.admin_id;
-- an unknown admin, or none
SELECT loginas.permitted(999, 'login') AS unknown_admin, loginas.permitted(NULL, 'login') AS no_admin;
-- the role is the one the admins binding gives now: moving sam to Marketing takes his resources away
BEGIN;
UPDATE shop.admin SET role = 'Marketing' WHERE admin_id = 2;
SELECT loginas.permitted(2, 'login');
ROLLBACK;
-- role names are exact
SELECT loginas.grant('marketing', 'login');
SELECT loginas.permitted(4, 'login');
SELECT loginas.revoke('marketing', 'login');

--------------------------------------------------------------------------------
-- refusals (22023); none of them grants, revokes or logs anything
--------------------------------------------------------------------------------
SELECT max(log_id) AS log1 FROM loginas.action_log \gset
-- unknown resources; the hint lists the valid ones
SELECT loginas.grant('Support', 'Allow Login as Customer');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.grant('Support', 'LOGIN');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.grant('Support', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.revoke('Support', 'view_logs');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.permitted(1, 'delete_customers');
\echo :LAST_ERROR_SQLSTATE
-- empty roles
SELECT loginas.grant('', 'login');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.grant('   ', 'login');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.grant(NULL, 'login');
\echo :LAST_ERROR_SQLSTATE
-- and over-long ones (Magento's role_name is varchar(50))
SELECT loginas.grant(repeat('x', 256), 'login');
\echo :LAST_ERROR_SQLSTATE
-- unknown by_admin
SELECT loginas.grant('Marketing', 'view_log', 999);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.revoke('Support', 'view_log', 999);
\echo :LAST_ERROR_SQLSTATE
SELECT role, resource FROM loginas.permissions;
SELECT count(*) AS log_rows FROM loginas.action_log WHERE log_id > :log1;

--------------------------------------------------------------------------------
-- revoke: true when it changed something, logged once (permission_revoked); revoking what is
-- not granted returns false and logs nothing
--------------------------------------------------------------------------------
SELECT max(log_id) AS log2 FROM loginas.action_log \gset
SELECT loginas.revoke('Support', 'view_log', 1);
SELECT loginas.revoke('Support', 'view_log', 1);
SELECT loginas.revoke('Marketing', 'login');
SELECT loginas.revoke('Nobody', 'manage_assistance');
SELECT loginas.permitted(2, 'view_log');
SELECT action, admin_id, admin_username, details
  FROM loginas.action_log WHERE log_id > :log2 ORDER BY log_id;

--------------------------------------------------------------------------------
-- revoking login ends the live tickets and sessions of the role's admins, and only theirs
--------------------------------------------------------------------------------
SELECT coalesce(max(session_id), 0) AS s0 FROM loginas.session \gset
SELECT loginas.configure('enabled', 'on');
SELECT loginas.set_assistance(1, true), loginas.set_assistance(2, true);
-- ada (Administrators) holds a redeemed session as customer 1, sam (Support) an unredeemed ticket
-- for customer 2
SELECT token AS ticket1 FROM loginas.begin(1, 1) \gset
SELECT customer_id, store_id, length(session_key) AS key_length FROM loginas.redeem(:'ticket1');
SELECT length(token) AS token_length, store_id FROM loginas.begin(2, 2);
-- revoking another resource ends nothing
SELECT loginas.revoke('Administrators', 'view_log'), loginas.revoke('Administrators', 'manage_assistance');
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
-- revoking Support's login ends sam's ticket, not ada's session
SELECT max(log_id) AS log3 FROM loginas.action_log \gset
BEGIN;
SELECT loginas.revoke('Support', 'login', 1);
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason,
       ended_at = now() AS ended_now, ended_by_admin, ended_by_role = session_user AS by_this_role
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
COMMIT;
SELECT action, admin_id, admin_username, customer_id, customer_email, reason, details
  FROM loginas.action_log WHERE log_id > :log3 ORDER BY log_id;
SELECT loginas.permitted(2, 'login') AS sam, loginas.permitted(1, 'login') AS ada;
-- revoking Administrators' login ends ada's session; without by_admin no admin is recorded
SELECT max(log_id) AS log4 FROM loginas.action_log \gset
SELECT loginas.revoke('Administrators', 'login');
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason, ended_by_admin
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT action, admin_id, admin_username, customer_id, reason, details
  FROM loginas.action_log WHERE log_id > :log4 ORDER BY log_id;
SELECT count(*) AS live FROM loginas.session WHERE ended_at IS NULL;

-- every grant and revoke of this suite was logged once, the no-ops and refusals never
SELECT action, details->>'role' AS role, details->>'resource' AS resource, count(*)
  FROM loginas.action_log
 WHERE log_id > :log0 AND action IN ('permission_granted', 'permission_revoked')
 GROUP BY 1, 2, 3 ORDER BY 2, 3, 1;

--------------------------------------------------------------------------------
-- clean up: no grants, no consents, settings at their defaults
--------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'off');
DELETE FROM loginas.consent WHERE customer_id IN (1, 2);
DELETE FROM loginas.setting;
SELECT count(*) AS grants FROM loginas.permissions;
SELECT name, value FROM loginas.settings WHERE value <> default_value;
