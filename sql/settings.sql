-- settings: the seven settings of "Stores > Configuration > Customers > Login as Customer",
--   and the log retention (log_retention: the auditor's, not configure()'s).
--   loginas.settings lists them with their defaults; loginas.configure() normalizes values,
--   refuses unknown names, NULL and bad values and unknown admins (22023, with hints), logs each
--   real change once (setting_changed, old/new in details) and records when and by whom; setting
--   the value already in effect changes and logs nothing; turning "enabled" off ends every live
--   ticket and session (end reason feature_disabled).
--   Leaves every setting at its default and no grant, consent or live session behind.
\set VERBOSITY default
SELECT coalesce(max(log_id), 0) AS log0 FROM loginas.action_log \gset

-- the eleven settings, their defaults and labels; nothing changed yet
SELECT name, value, default_value, choices, changed_at IS NULL AS never_changed, changed_by_admin
  FROM loginas.settings;
SELECT name, label FROM loginas.settings;

--------------------------------------------------------------------------------
-- normalization: configure() returns what it stored
--------------------------------------------------------------------------------
-- booleans: on/off, true/false, yes/no, 1/0, t/f, y/n, in any case, blanks trimmed
SELECT given, loginas.configure('require_reason', given) AS stored
  FROM unnest(ARRAY['yes', 'no', 'TRUE', 'False', ' 1 ', '0', 'On', ' OFF', 't', 'f', 'Y', 'n'])
       WITH ORDINALITY AS g(given, i)
 ORDER BY i;
SELECT loginas.configure('require_reason', 'Yes');
SELECT name, value FROM loginas.settings WHERE name = 'require_reason';
-- choices: case and surrounding blanks do not matter
SELECT loginas.configure('store_view_selection', ' Manual ');
SELECT loginas.configure('account_sharing', 'GLOBAL');
SELECT name, value FROM loginas.settings WHERE name IN ('store_view_selection', 'account_sharing');
-- intervals: any PostgreSQL interval from 1 second to 7 days (both ends included), ISO 8601 too,
-- stored in one canonical spelling (that of the defaults, IntervalStyle postgres) whatever the
-- caller's IntervalStyle (pg_regress runs with postgres_verbose)
SHOW intervalstyle;
SELECT given, loginas.configure('ticket_ttl', given) AS stored
  FROM unnest(ARRAY['2 minutes', '90 seconds', ' 1 Second ', '00:00:30', 'PT45S', '1 hour 30 minutes',
                    '7 days', '168 hours'])
       WITH ORDINALITY AS g(given, i)
 ORDER BY i;
SELECT loginas.configure('session_ttl', '1 day');
SELECT name, value FROM loginas.settings WHERE name IN ('ticket_ttl', 'session_ttl');
-- from a session with another IntervalStyle: the same spelling, and the same value is no change
SET intervalstyle = iso_8601;
SELECT max(log_id) AS log_style FROM loginas.action_log \gset
SELECT loginas.configure('session_ttl', 'P1D'), loginas.configure('session_ttl', '1 day');
SELECT name, value FROM loginas.settings WHERE name = 'session_ttl';
SELECT count(*) AS log_rows FROM loginas.action_log WHERE log_id > :log_style;
RESET intervalstyle;

--------------------------------------------------------------------------------
-- refusals (22023); none of them changes a setting or writes a log row
--------------------------------------------------------------------------------
SELECT max(log_id) AS log1 FROM loginas.action_log \gset
-- unknown names; the hint lists the valid ones
SELECT loginas.configure('enable', 'on');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('page_cache', 'off');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure(NULL, 'on');
\echo :LAST_ERROR_SQLSTATE
-- NULL value
SELECT loginas.configure('enabled', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('ticket_ttl', NULL);
\echo :LAST_ERROR_SQLSTATE
-- bad booleans; the hint lists the valid values
SELECT loginas.configure('enabled', 'maybe');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('disable_page_cache', '');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('require_reason', '2');
\echo :LAST_ERROR_SQLSTATE
-- bad choices; the hint lists the valid values
SELECT loginas.configure('store_view_selection', 'Auto-Detection');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('account_sharing', 'store');
\echo :LAST_ERROR_SQLSTATE
-- intervals below 1 second
SELECT loginas.configure('ticket_ttl', '0');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('ticket_ttl', '999 milliseconds');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('ticket_ttl', '-1 minute');
\echo :LAST_ERROR_SQLSTATE
-- intervals above 7 days
SELECT loginas.configure('session_ttl', '7 days 1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '1 month');
\echo :LAST_ERROR_SQLSTATE
-- a lifetime is checked as begin and redeem apply it (now() + lifetime):
-- no months or years (a month is not 30 days: '3000000 mon -89999993 days'
-- compares equal to 7 days but lasts 1,310,632 days, and a larger one
-- overflows timestamptz), no negative days or time, whatever the total
SELECT loginas.configure('ticket_ttl', '3000000 mon -89999993 days');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '3000000 mon -89999993 days');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('ticket_ttl', '178000000 years -1299999993 days');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '1 mon -29 days');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '1 year');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('ticket_ttl', '-1 mon 31 days');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('ticket_ttl', '-1 day 25 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '2 days -1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', 'P1M-29D');
\echo :LAST_ERROR_SQLSTATE
-- what is accepted lasts what it says (days and time, both positive; rolled back)
BEGIN;
SELECT given, loginas.configure('session_ttl', given) AS stored,
       now() + loginas.configure('session_ttl', given)::interval - now() <= interval '7 days 1 hour' AS at_most_a_week
  FROM unnest(ARRAY['6 days 24:00:00', '1 day 1 second', 'P6DT23H59M59S']) WITH ORDINALITY AS g(given, i)
 ORDER BY i;
ROLLBACK;
-- the log retention is not the admin backend's (42501), whatever the value
SELECT loginas.configure('log_retention', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('log_retention', '90 days', 1);
\echo :LAST_ERROR_SQLSTATE
-- not intervals at all (bad syntax, out of the interval type's range)
SELECT loginas.configure('session_ttl', 'soon');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '');
\echo :LAST_ERROR_SQLSTATE
SELECT loginas.configure('session_ttl', '100000000000 hours');
\echo :LAST_ERROR_SQLSTATE
-- by_admin must name an existing admin (even when the value is fine)
SELECT loginas.configure('enabled', 'on', 999);
\echo :LAST_ERROR_SQLSTATE
SELECT name, value FROM loginas.settings;
SELECT count(*) AS log_rows FROM loginas.action_log WHERE log_id > :log1;

--------------------------------------------------------------------------------
-- a change writes exactly one setting_changed row, with old and new value and the admin
--------------------------------------------------------------------------------
SELECT max(log_id) AS log2 FROM loginas.action_log \gset
SELECT loginas.configure('ticket_ttl', '2 minutes', 1);
SELECT action_group, action, result, admin_id, admin_username, customer_id, session_id, details
  FROM loginas.action_log WHERE log_id > :log2 ORDER BY log_id;
-- the same value again, in any spelling and by anyone: no row
SELECT loginas.configure('ticket_ttl', '120 seconds', 2);
SELECT loginas.configure('ticket_ttl', '00:02:00');
SELECT count(*) AS log_rows FROM loginas.action_log WHERE log_id > :log2;
-- without by_admin no admin is logged
SELECT loginas.configure('ticket_ttl', '3 minutes');
SELECT action, admin_id, admin_username, details
  FROM loginas.action_log WHERE log_id > :log2 ORDER BY log_id;
-- every change of this suite so far was logged once, refusals and unchanged values never:
-- require_reason 12 + 1 times, store_view_selection and account_sharing once, ticket_ttl 8 + 2
-- times ('7 days' -> '168 hours' is a change: a day is not always 24 hours), session_ttl once
SELECT details->>'setting' AS setting, count(*) AS changes
  FROM loginas.action_log WHERE log_id > :log0 AND action = 'setting_changed'
 GROUP BY 1 ORDER BY 1;

--------------------------------------------------------------------------------
-- changed_at and changed_by_admin record the last real change
--------------------------------------------------------------------------------
BEGIN;
SELECT loginas.configure('session_ttl', '2 hours', 1);
SELECT value, changed_at = now() AS changed_now, changed_by_admin
  FROM loginas.settings WHERE name = 'session_ttl';
SELECT changed_by_role = session_user AS by_this_role FROM loginas.setting WHERE name = 'session_ttl';
COMMIT;
SELECT changed_at AS session_ttl_changed_at FROM loginas.settings WHERE name = 'session_ttl' \gset
-- the value already in effect: neither changed_at nor changed_by_admin move
SELECT loginas.configure('session_ttl', ' 2 HOURS ', 2);
SELECT value, changed_at = :'session_ttl_changed_at' AS same_changed_at, changed_by_admin
  FROM loginas.settings WHERE name = 'session_ttl';
-- nor does configuring a never-changed setting to its default
SELECT loginas.configure('disable_page_cache', 'yes', 2);
SELECT value, changed_at IS NULL AS never_changed, changed_by_admin
  FROM loginas.settings WHERE name = 'disable_page_cache';
-- a change without by_admin records no admin
SELECT loginas.configure('session_ttl', '3 hours');
SELECT value, changed_at > :'session_ttl_changed_at' AS changed_later, changed_by_admin
  FROM loginas.settings WHERE name = 'session_ttl';

--------------------------------------------------------------------------------
-- turning "enabled" off ends every live ticket and session (feature_disabled)
--------------------------------------------------------------------------------
SELECT coalesce(max(session_id), 0) AS s0 FROM loginas.session \gset
SELECT loginas.configure('store_view_selection', 'auto'), loginas.configure('account_sharing', 'website'),
       loginas.configure('require_reason', 'off'), loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login'), loginas.grant('Support', 'login');
SELECT loginas.set_assistance(1, true), loginas.set_assistance(2, true);
-- admin 1 (ada) holds a redeemed session as customer 1; admin 2 (sam) an unredeemed ticket for customer 2
SELECT token AS ticket1 FROM loginas.begin(1, 1) \gset
SELECT customer_id, store_id, length(session_key) AS key_length FROM loginas.redeem(:'ticket1');
SELECT length(token) AS token_length, store_id FROM loginas.begin(2, 2);
-- changing another setting, or setting enabled on again, leaves them alone
SELECT loginas.configure('disable_page_cache', 'off'), loginas.configure('enabled', 'yes');
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
SELECT max(log_id) AS log3 FROM loginas.action_log \gset
BEGIN;
SELECT loginas.configure('enabled', 'off', 4);
SELECT admin_id, customer_id, redeemed_at IS NOT NULL AS redeemed, end_reason,
       ended_at = now() AS ended_now, ended_by_admin, ended_by_role = session_user AS by_this_role
  FROM loginas.session WHERE session_id > :s0 ORDER BY session_id;
COMMIT;
SELECT action, admin_id, admin_username, customer_id, customer_email, reason, details
  FROM loginas.action_log WHERE log_id > :log3 ORDER BY log_id;
SELECT count(*) AS live FROM loginas.session WHERE ended_at IS NULL;
-- turning it off again: nothing left to end, nothing logged
SELECT max(log_id) AS log4 FROM loginas.action_log \gset
SELECT loginas.configure('enabled', 'false');
SELECT count(*) AS log_rows FROM loginas.action_log WHERE log_id > :log4;

--------------------------------------------------------------------------------
-- notify_channel (the live events): a name LISTEN takes unquoted, folded to
-- lower case as LISTEN folds it, or empty (also 'off'): no events
--------------------------------------------------------------------------------
SELECT loginas.configure('notify_channel', ' Loginas_Events ') AS folded,
       loginas.configure('notify_channel', 'OFF') AS off,
       loginas.configure('notify_channel', '_shop_2_events') AS underscore_first,
       loginas.configure('notify_channel', 'between') AS non_reserved_keyword,
       loginas.configure('notify_channel', repeat('e', 63)) = repeat('e', 63) AS "63 bytes",
       loginas.configure('notify_channel', '') AS empty;
-- refused (22023): a quote, a blank, a leading digit, a dot, a hyphen, a
-- non-ASCII letter, 64 bytes, reserved words, a newline, a backslash
SELECT loginas.configure('notify_channel', '"loginas"');
\echo :LAST_ERROR_SQLSTATE
DO $$
DECLARE
	g text;
BEGIN
	FOREACH g IN ARRAY ARRAY['loginas events', '1events', 'shop.events', 'shop-events', 'événements',
							 repeat('e', 64), 'select', 'on', 'user', E'a\nb', 'a\b'] LOOP
		BEGIN
			PERFORM loginas.configure('notify_channel', g);
			RAISE NOTICE 'accepted: %', g;
		EXCEPTION WHEN others THEN
			RAISE NOTICE '%: %', SQLSTATE, replace(g, E'\n', '\n');
		END;
	END LOOP;
END
$$;
SELECT value FROM loginas.settings WHERE name = 'notify_channel';

--------------------------------------------------------------------------------
-- clean up: no grants, no consents (not even explicit refusals), settings at their defaults
--------------------------------------------------------------------------------
SELECT loginas.revoke('Administrators', 'login'), loginas.revoke('Support', 'login');
DELETE FROM loginas.consent WHERE customer_id IN (1, 2);
SELECT name, loginas.configure(name, default_value) AS restored
  FROM loginas.settings WHERE value <> default_value ORDER BY name;
SELECT name, value FROM loginas.settings WHERE value <> default_value;
-- forget the change records too, so later suites see a fresh install's settings
DELETE FROM loginas.setting;
SELECT name, value = default_value AS is_default, changed_at IS NULL AS never_changed FROM loginas.settings;
SELECT count(*) AS grants FROM loginas.permissions;
