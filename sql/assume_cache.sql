-- assume_cache: loginas.assume() in C with a per-backend cache of what its
--   checked path (loginas._assume_checked) checked (src/assume.c).  The first
--   assume() of a key in a backend is checked; the next ones are served from
--   the cache until anything a verdict rests on changes: a session, a consent,
--   a grant, a setting, a binding, the shop's rows behind the admins,
--   customers and store_views bindings (their base tables carry a statement
--   trigger that only invalidates), the bound views' definitions.  Each such
--   change makes the next assume() take the checked path, which refuses as it
--   always did (SQLSTATE, message, detail).  pg_temp.cache() shows the
--   backend's cache: the entries it holds (emptied by any change), and the
--   calls served from the cache (hits) and by the checked path (misses) since
--   its previous call.
-- Runs last; sets up its own grants, consent and sessions, and puts the
-- defaults back at its end.
\set VERBOSITY default

CREATE FUNCTION pg_temp.refusal(q text, OUT state text, OUT message text, OUT detail text)
	LANGUAGE plpgsql SET datestyle = 'ISO, YMD' AS $$
BEGIN
	EXECUTE q;
	state := '00000';
	message := '(no error)';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	message := regexp_replace(message, 'session \d+', 'session <sid>');
	detail := regexp_replace(regexp_replace(NULLIF(detail, ''), '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:\d{2})?)?', '<time>', 'g'),
							 'Session \d+', 'Session <sid>');
END
$$;
CREATE TEMP TABLE last_stats (hits bigint, misses bigint);
INSERT INTO last_stats VALUES (0, 0);
CREATE FUNCTION pg_temp.cache(OUT entries bigint, OUT hits bigint, OUT misses bigint)
	LANGUAGE plpgsql AS $$
DECLARE
	s bigint[] := loginas._assume_cache_stats();
BEGIN
	entries := s[1];
	SELECT s[2] - l.hits, s[3] - l.misses INTO hits, misses FROM pg_temp.last_stats l;
	UPDATE pg_temp.last_stats SET hits = s[2], misses = s[3];
END
$$;
SELECT * FROM pg_temp.cache() \gset prev_

SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login'), loginas.grant('Support', 'login');
SELECT loginas.set_assistance(1, true) IS NOT NULL AS consent;
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1))) \gset
SELECT session_key AS k2, session_id AS s2 FROM loginas.redeem((SELECT token FROM loginas.begin(2, 1))) \gset

------------------------------------------------------------------------------
-- What is watched: loginas' own tables, and the base tables of the bound
-- admins, customers and store views (bind() put the trigger there)
------------------------------------------------------------------------------
SELECT tgrelid::regclass AS relation, tgenabled, tgtype
  FROM pg_trigger WHERE tgname = 'loginas_assume_cache'
   AND tgrelid::regclass::text ~ '^(loginas|shop)\.'
 ORDER BY tgrelid::regclass::text COLLATE "C";
SELECT array_agg(r::regclass::text ORDER BY r::regclass::text COLLATE "C") AS watched
  FROM unnest(loginas._cache_watch_set()) r;

------------------------------------------------------------------------------
-- A miss fills the cache; the next assume() of the key is a hit and sets the
-- same context
------------------------------------------------------------------------------
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
SELECT loginas.current_session() = :s1 AS session, loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner();
COMMIT;
SELECT loginas.current_session() AS after_commit;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
SELECT loginas.current_session() = :s1 AS session, loginas.current_admin(), loginas.current_customer(),
	   loginas.current_store(), loginas.current_read_only(), loginas.banner(),
	   loginas.current_admin_key(), loginas.current_customer_key(), loginas.current_store_key();
-- again in the same transaction: a hit too
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
-- hit after hit; a read-only transaction is served too (it takes no lock)
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
BEGIN READ ONLY;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
SELECT * FROM pg_temp.cache();
-- a hit in a savepoint that rolls back goes with it
BEGIN;
SAVEPOINT a;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
ROLLBACK TO SAVEPOINT a;
SELECT loginas.current_session() AS after_rollback_to;
COMMIT;
SELECT * FROM pg_temp.cache();
-- the session's lock a hit holds: in pg_locks until the transaction ends
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT locktype, mode, granted, objsubid FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 19521;
COMMIT;

------------------------------------------------------------------------------
-- The cache never answers for another key, and never for a refused one
------------------------------------------------------------------------------
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', left(:'k1', -1) || 'x'));
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', upper(:'k1')));
SELECT * FROM pg_temp.refusal('SELECT loginas.assume(NULL)');
SELECT * FROM pg_temp.refusal('SELECT loginas.assume('''')');
ROLLBACK;
SELECT * FROM pg_temp.cache();
-- a transaction acting in one session cannot assume another, cached or not
BEGIN;
SELECT loginas.assume(:'k2') = :s2 AS assumed;
COMMIT;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k2'));
ROLLBACK;
SELECT * FROM pg_temp.cache();

------------------------------------------------------------------------------
-- Changes of the shop's rows: the next assume() is checked again
------------------------------------------------------------------------------
-- a change that does not matter: checked again, allowed, cached again
UPDATE shop.website SET name = name WHERE website_id = 1;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
-- the customer's name: the banner follows
UPDATE shop.customer SET firstname = 'Vera' WHERE customer_id = 1;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed, loginas.banner();
SELECT * FROM pg_temp.cache();
COMMIT;
UPDATE shop.customer SET firstname = 'Veronica' WHERE customer_id = 1;
-- the store view's website
UPDATE shop.website SET name = 'Main' WHERE website_id = 1;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed, loginas.banner();
COMMIT;
UPDATE shop.website SET name = 'Main Website' WHERE website_id = 1;
-- the admin deactivated
UPDATE shop.admin SET is_active = false WHERE admin_id = 1;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
SELECT * FROM pg_temp.cache();
UPDATE shop.admin SET is_active = true WHERE admin_id = 1;
-- the admin's role changed to one without the resource
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
UPDATE shop.admin SET role = 'Marketing' WHERE admin_id = 1;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
UPDATE shop.admin SET role = 'Administrators' WHERE admin_id = 1;
-- the customer deactivated
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
UPDATE shop.customer SET is_active = false WHERE customer_id = 1;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
UPDATE shop.customer SET is_active = true WHERE customer_id = 1;
-- the store view disabled
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
UPDATE shop.store SET is_active = false WHERE store_id = 2;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
UPDATE shop.store SET is_active = true WHERE store_id = 2;
-- a change rolled back changes nothing, but the cache is refilled after it
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
BEGIN;
UPDATE shop.admin SET is_active = false WHERE admin_id = 1;
ROLLBACK;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;

------------------------------------------------------------------------------
-- The shop's DDL: a view redefined is checked again; a base table whose
-- trigger is dropped or disabled, or a bound view that calls the shop's own
-- function, is not cached at all (the checked path every time) until bind()
-- watches it again
------------------------------------------------------------------------------
CREATE OR REPLACE VIEW shop.loginas_admins AS SELECT admin_id, username, firstname||' '||lastname AS display_name, is_active, role FROM shop.admin;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
ALTER TABLE shop.admin DISABLE TRIGGER loginas_assume_cache;
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
-- bind() again makes it again
SELECT loginas.bind('admins', 'shop.loginas_admins');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'shop.admin'::regclass AND tgname = 'loginas_assume_cache';
DROP TRIGGER loginas_assume_cache ON shop.admin;
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
-- a trigger of that name that is not loginas' is left alone by bind()
CREATE FUNCTION shop.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER loginas_assume_cache AFTER UPDATE ON shop.admin FOR EACH STATEMENT EXECUTE FUNCTION shop.noop();
SELECT loginas.bind('admins', 'shop.loginas_admins');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
SELECT tgenabled, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'shop.admin'::regclass AND tgname = 'loginas_assume_cache';
DROP TRIGGER loginas_assume_cache ON shop.admin;
DROP FUNCTION shop.noop();
SELECT loginas.bind('admins', 'shop.loginas_admins');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
-- a view of a role's own over a table of another role: that table gets no
-- trigger (bind() changes nothing of another role's table for a role that
-- is not the DBA), so no cache
CREATE ROLE regress_loginas_cache_other NOLOGIN;
CREATE ROLE regress_loginas_cache_viewer NOLOGIN;
CREATE TABLE shop.admin_other (LIKE shop.admin);
INSERT INTO shop.admin_other SELECT * FROM shop.admin;
ALTER TABLE shop.admin_other OWNER TO regress_loginas_cache_other;
GRANT USAGE ON SCHEMA shop TO regress_loginas_cache_other;
GRANT SELECT ON shop.admin_other TO regress_loginas_cache_viewer;
CREATE VIEW shop.loginas_admins_other AS SELECT admin_id, username, firstname||' '||lastname AS display_name,
	is_active, role FROM shop.admin_other;
ALTER VIEW shop.loginas_admins_other OWNER TO regress_loginas_cache_viewer;
GRANT SELECT ON shop.loginas_admins_other TO loginas_reader;
SELECT loginas.bind('admins', 'shop.loginas_admins_other');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'shop.admin_other'::regclass;
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
-- the same view made by the DBA (a superuser's, as the platform recipes'
-- views are): the other role's table is watched, and the cache serves
ALTER VIEW shop.loginas_admins_other OWNER TO CURRENT_USER;
SELECT loginas.bind('admins', 'shop.loginas_admins_other');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'shop.admin_other'::regclass
   AND tgname = 'loginas_assume_cache' AND tgenabled = 'A';
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
-- its owner's write empties the cache: the admin deactivated there is refused
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
SET ROLE regress_loginas_cache_other;
UPDATE shop.admin_other SET is_active = false;
RESET ROLE;
BEGIN;
SELECT loginas.assume(:'k1');
ROLLBACK;
SET ROLE regress_loginas_cache_other;
UPDATE shop.admin_other SET is_active = true;
RESET ROLE;
SELECT loginas.bind('admins', 'shop.loginas_admins');
DROP VIEW shop.loginas_admins_other;
DROP TABLE shop.admin_other;
REVOKE USAGE ON SCHEMA shop FROM regress_loginas_cache_other;
DROP ROLE regress_loginas_cache_other;
DROP ROLE regress_loginas_cache_viewer;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
CREATE FUNCTION shop.admin_is_active(a shop.admin) RETURNS boolean LANGUAGE sql STABLE AS 'SELECT a.is_active';
CREATE VIEW shop.loginas_admins_fn AS SELECT admin_id, username, firstname||' '||lastname AS display_name,
	shop.admin_is_active(a) AS is_active, role FROM shop.admin a;
GRANT SELECT ON shop.loginas_admins_fn TO loginas_reader;
SELECT loginas.bind('admins', 'shop.loginas_admins_fn');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
SELECT loginas.bind('admins', 'shop.loginas_admins');
DROP VIEW shop.loginas_admins_fn;
DROP FUNCTION shop.admin_is_active(shop.admin);
-- a bound view whose rows change with time (or a setting) without a write:
-- not cached
CREATE VIEW shop.loginas_admins_now AS SELECT admin_id, username, firstname||' '||lastname AS display_name,
	is_active AND now() > '2000-01-01' AS is_active, role FROM shop.admin;
GRANT SELECT ON shop.loginas_admins_now TO loginas_reader;
SELECT loginas.bind('admins', 'shop.loginas_admins_now');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
-- (concat_ws(), stable only because of its arguments' output functions, is
-- allowed: the usual display_name)
CREATE VIEW shop.loginas_admins_ws AS SELECT admin_id, username, concat_ws(' ', firstname, lastname) AS display_name,
	is_active, role FROM shop.admin;
GRANT SELECT ON shop.loginas_admins_ws TO loginas_reader;
SELECT loginas.bind('admins', 'shop.loginas_admins_ws');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
SELECT loginas.bind('admins', 'shop.loginas_admins');
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
DROP VIEW shop.loginas_admins_now, shop.loginas_admins_ws;
-- a base table with an inheritance child (a write through the parent fires
-- only the parent's statement triggers): not cached while it has one
CREATE TABLE shop.admin_child () INHERITS (shop.admin);
SELECT loginas._cache_watch_set() IS NULL AS not_watched;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
DROP TABLE shop.admin_child;
ANALYZE shop.admin;		-- (relhassubclass is cleared by ANALYZE)
SELECT loginas._cache_watch_set() IS NULL AS not_watched;

------------------------------------------------------------------------------
-- loginas' own tables: each change is seen by the next assume()
------------------------------------------------------------------------------
-- a setting that does not refuse: checked again, cached again
SELECT loginas.configure('account_sharing', 'global');
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
SELECT loginas.configure('account_sharing', 'website');
-- the session's expiry (a direct write of the table, as an owner could)
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
UPDATE loginas.session SET expires_at = now() - interval '1 second' WHERE session_id = :s1;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
UPDATE loginas.session SET expires_at = now() + interval '1 hour' WHERE session_id = :s1;
-- the consent's time runs out while the entry is cached: refused at once
SELECT loginas.set_assistance(1, true, clock_timestamp() + interval '1 second') IS NOT NULL AS consent;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT * FROM pg_temp.cache();
COMMIT;
SELECT pg_sleep(1.2);
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
SELECT * FROM pg_temp.cache();
-- (the consent expired: the sessions are gone with it at the next check of
-- begin or expire(); a new consent and new sessions for what follows)
SELECT loginas.set_assistance(1, true) IS NOT NULL AS consent;
SELECT loginas.expire() >= 0 AS expired;
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1))) \gset
-- the session ended
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
SELECT loginas."end"(:'k1') AS ended;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
-- ended in the same transaction after a hit: the context goes, assume() is refused
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1))) \gset
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
SELECT loginas."end"(:'k1') AS ended;
SELECT loginas.current_session() AS after_end;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
-- the consent withdrawn
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1))) \gset
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
SELECT loginas.set_assistance(1, false) IS NOT NULL AS withdrawn;
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
SELECT loginas.set_assistance(1, true) IS NOT NULL AS consent;
-- the permission revoked
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1))) \gset
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
SELECT loginas.revoke('Administrators', 'login');
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
SELECT loginas.grant('Administrators', 'login');
-- the feature turned off
SELECT session_key AS k1, session_id AS s1 FROM loginas.redeem((SELECT token FROM loginas.begin(1, 1))) \gset
BEGIN;
SELECT loginas.assume(:'k1') = :s1 AS assumed;
COMMIT;
SELECT loginas.configure('enabled', 'off');
BEGIN;
SELECT * FROM pg_temp.refusal(format('SELECT loginas.assume(%L)', :'k1'));
ROLLBACK;
SELECT * FROM pg_temp.cache();

------------------------------------------------------------------------------
-- Nothing of it is callable by the storefront: only assume() itself
------------------------------------------------------------------------------
CREATE ROLE regress_loginas_cache_front NOLOGIN IN ROLE loginas_storefront;
SET ROLE regress_loginas_cache_front;
SELECT * FROM pg_temp.refusal('SELECT loginas._assume_checked(''x'')');
SELECT * FROM pg_temp.refusal('SELECT loginas._assume_cache_stats()');
SELECT * FROM pg_temp.refusal('SELECT loginas._lock_session_end(1)');
SELECT * FROM pg_temp.refusal('SELECT loginas._cache_watch(''loginas.session'')');
SELECT * FROM pg_temp.refusal('SELECT loginas._cache_signal()');
SELECT * FROM pg_temp.refusal('SELECT loginas.assume(''x'')');
RESET ROLE;
DROP ROLE regress_loginas_cache_front;
-- a trigger function only
SELECT * FROM pg_temp.refusal('SELECT loginas._cache_signal()');

------------------------------------------------------------------------------
-- Back to the defaults
------------------------------------------------------------------------------
SELECT loginas.revoke('Administrators', 'login'), loginas.revoke('Support', 'login');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT name FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
