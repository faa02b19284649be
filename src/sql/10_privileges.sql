/*
 * 10_privileges.sql
 * Privileges: the database roles of the capability split, nothing for
 * PUBLIC, each capability granted explicitly; what pg_dump keeps.
 *   loginas_admin       the admin backend (configure, bind, grant, begin, ...)
 *   loginas_storefront  the storefront (redeem, assume, end, own consent, ...)
 *   loginas_reporting   reporting (reads the action log)
 *   loginas_auditor     purges the log (within log_retention); not the admin
 *                       backend, whose actions the log records
 *   loginas_reader      granted to nobody: loginas reads the shop's bound
 *                       relations as this powerless role (src/reader.c)
 */

-- The roles: the shop grants them to its own login roles (created once per
-- cluster; an existing one is kept)
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_auditor', 'loginas_reader']
	LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

-- pg_dump keeps what the shop configured and what happened
SELECT pg_catalog.pg_extension_config_dump('loginas.setting', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.binding', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.role_resource', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.consent', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.session', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.session_session_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.action_log', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.tracked', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.protected_column', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.redacted_column', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.owner_path', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.row_stamp', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.action_log_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.log_chain', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.log_chain_chain_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.log_checkpoint', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.shared_chain', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.change_description', '');

-- nothing for PUBLIC: each capability is granted explicitly below
REVOKE ALL ON SCHEMA loginas FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA loginas FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA loginas FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA loginas FROM PUBLIC;
REVOKE ALL ON TYPE loginas._verdict FROM PUBLIC;
REVOKE ALL ON TYPE loginas.ticket FROM PUBLIC;

GRANT USAGE ON SCHEMA loginas TO loginas_admin, loginas_storefront, loginas_reporting;

-- admin backend
GRANT EXECUTE ON FUNCTION
	loginas.configure(text, text, bigint),
	loginas.bind(text, regclass, bigint),
	loginas.unbind(text, bigint),
	loginas."grant"(text, text, bigint),
	loginas."revoke"(text, text, bigint),
	loginas.permitted(bigint, text),
	loginas.set_assistance(bigint, boolean, timestamptz, bigint),
	loginas.set_assistance_as_admin(bigint, boolean, timestamptz, bigint),
	loginas.assistance_allowed(bigint),
	loginas.check(bigint, bigint),
	loginas.store_choices(bigint, bigint),
	loginas.begin(bigint, bigint, bigint, text, text, boolean, inet),
	loginas.set_assistance(text, boolean, timestamptz, bigint),
	loginas.set_assistance_as_admin(text, boolean, timestamptz, bigint),
	loginas.assistance_allowed(text),
	loginas.check(bigint, text),
	loginas.store_choices(bigint, text),
	loginas.begin(bigint, text, bigint, text, text, boolean, inet),
	loginas.begin_from(bigint, text, bigint, bigint, text, boolean, inet),
	loginas.end_admin(bigint, text),
	loginas.expire(),
	-- keys of any type: admins, store views and documents given as text
	loginas.configure(text, text, text),
	loginas.bind(text, regclass, text),
	loginas.unbind(text, text),
	loginas."grant"(text, text, text),
	loginas."revoke"(text, text, text),
	loginas.permitted(text, text),
	loginas.set_assistance(text, boolean, timestamptz, text),
	loginas.set_assistance_as_admin(text, boolean, timestamptz, text),
	loginas.check(text, text),
	loginas.store_choices(text, text),
	loginas.begin(text, text, text, text, text, boolean, inet),
	loginas.begin_from(text, text, text, text, text, boolean, inet),
	loginas.end_admin(text, text)
TO loginas_admin;

GRANT SELECT ON loginas.settings, loginas.bindings, loginas.permissions TO loginas_admin;

-- storefront
GRANT EXECUTE ON FUNCTION
	loginas.redeem(text, inet),
	loginas.assume(text),
	loginas."end"(text, text),
	loginas.set_assistance(bigint, boolean, timestamptz, bigint),
	loginas.set_assistance_as_customer(bigint, boolean, timestamptz),
	loginas.assistance_allowed(bigint),
	loginas.set_assistance(text, boolean, timestamptz, bigint),
	loginas.set_assistance_as_customer(text, boolean, timestamptz),
	loginas.assistance_allowed(text),
	loginas.current_customer_key(),
	loginas.set_assistance(text, boolean, timestamptz, text),
	loginas.current_admin_key(),
	loginas.current_store_key(),
	loginas.banner(),
	loginas.current_session(),
	loginas.current_admin(),
	loginas.current_customer(),
	loginas.current_store(),
	loginas.current_read_only()
TO loginas_storefront;

-- the admin backend's own code may read the context too (e.g. order comments)
GRANT EXECUTE ON FUNCTION
	loginas.banner(), loginas.current_session(), loginas.current_admin(),
	loginas.current_customer(), loginas.current_store(), loginas.current_read_only(),
	loginas.current_customer_key(), loginas.current_admin_key(), loginas.current_store_key()
TO loginas_admin;

-- reporting
GRANT SELECT ON loginas.action_log TO loginas_reporting;

GRANT EXECUTE ON FUNCTION loginas.verify_log(), loginas.verify_log(jsonb), loginas.log_heads() TO loginas_reporting;


-- the reports' entry points (09_reports.sql): reporting and the admin backend
GRANT EXECUTE ON FUNCTION
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text, text),
	loginas.customer_history(bigint, bigint),
	loginas.customer_history(text, bigint),
	loginas.admin_activity(bigint, timestamptz, bigint),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.customer_history_as_admin(bigint, bigint),
	loginas.customer_history_as_admin(bigint, text),
	loginas.admin_activity_as_admin(bigint, bigint, timestamptz),
	loginas.admin_activity(text, timestamptz, bigint),
	loginas.admin_activity_as_admin(bigint, text, timestamptz),
	-- a viewer_admin of any key type, given as text
	loginas.actions_report_as_admin(text, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.customer_history_as_admin(text, text),
	loginas.admin_activity_as_admin(text, text, timestamptz)
TO loginas_reporting, loginas_admin;

-- without viewer_admin: reporting only
GRANT EXECUTE ON FUNCTION
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.customer_history_as_reporting(bigint),
	loginas.customer_history_as_reporting(text),
	loginas.admin_activity_as_reporting(bigint, timestamptz),
	loginas.admin_activity_as_reporting(text, timestamptz)
TO loginas_reporting;

GRANT SELECT ON loginas.sessions TO loginas_reporting;

-- notes from the application, in a session; containment judged before commit
GRANT EXECUTE ON FUNCTION loginas.note(text, jsonb) TO loginas_storefront, loginas_admin;
GRANT EXECUTE ON FUNCTION loginas.check_writes() TO loginas_storefront, loginas_admin;

GRANT SELECT ON loginas.tracked_tables, loginas.tracked_paths TO loginas_admin;

-- the stamps kept in loginas.row_stamp (tables tracked with stamps => 'table'):
-- read by the admin backend and reporting, as the stamp columns would be
GRANT SELECT ON loginas.row_stamps TO loginas_admin, loginas_reporting;

-- the customer's own view (09_customer_view.sql): the storefront asks for
-- its logged-in customer; the admin backend words what each table's changes
-- are called there
GRANT EXECUTE ON FUNCTION
	loginas.my_assistance_history(bigint),
	loginas.my_assistance_history(text)
TO loginas_storefront;
GRANT EXECUTE ON FUNCTION
	loginas.describe(regclass, text, text, bigint),
	loginas.describe(regclass, text, text, text)
TO loginas_admin;
GRANT SELECT ON loginas.change_descriptions TO loginas_admin;

-- the tracked tables' trigger filter (see loginas.in_session above)
GRANT EXECUTE ON FUNCTION loginas.in_session() TO PUBLIC;
-- the tracked tables' row trigger function: the owner of a tracked
-- partitioned table adds partitions to it (CREATE TABLE ... PARTITION OF,
-- ATTACH PARTITION), and PostgreSQL, copying the parent's row triggers into
-- the new partition, checks that the owner may execute their function.  No
-- SQL can call a trigger function; a trigger of anyone's own calling it is
-- refused on a tracked table (loginas._guard_triggers) and refuses every
-- write of an untracked one ("has loginas triggers but is not tracked").
GRANT EXECUTE ON FUNCTION loginas._track_row() TO PUBLIC;

-- the auditor: purging the log (and how long it is kept at least),
-- verifying it; not the admin backend, whose actions the log records
GRANT USAGE ON SCHEMA loginas TO loginas_auditor;
GRANT EXECUTE ON FUNCTION
	loginas.purge_log(timestamptz, bigint),
	loginas.purge_log(timestamptz, text),
	loginas.set_log_retention(interval),
	loginas.verify_log(),
	loginas.verify_log(jsonb),
	loginas.log_heads()
TO loginas_auditor;
GRANT SELECT ON loginas.action_log, loginas.settings TO loginas_auditor;

-- say so when refused attempts will reach the server log only
DO $notice$
BEGIN
	IF NOT 'loginas' OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(
			pg_catalog.replace(pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
		RAISE WARNING 'loginas: durable refusal logging is off; refused attempts go to the server log only'
			USING HINT = 'Add loginas to shared_preload_libraries and restart the server to record them in loginas.action_log.';
	END IF;
END
$notice$;
