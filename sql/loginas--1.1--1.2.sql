-- loginas 1.1 -> 1.2
--
-- ALTER EXTENSION loginas UPDATE TO '1.2' runs this on a 1.1 install;
-- CREATE EXTENSION loginas (default_version 1.2) runs loginas--1.0.sql, then
-- loginas--1.0--1.1.sql, then this, so a fresh install and an upgraded one
-- are the same (test/t/030_upgrade.pl checks both paths).
--
-- What 1.2 changes: security fixes.
--   * tracking: no query loginas runs with raised rights evaluates code a
--     table owner can define (every column it reads or compares has a
--     built-in type; checked at track() and at every cache refill);
--   * tracking triggers fire ALWAYS (session_replication_role = replica does
--     not switch them off; logical-replication apply workers pass through);
--   * begin/redeem lock only the rows their decision rests on (no shop-wide lock);
--   * purging the log is a capability of its own (loginas_auditor), bounded by
--     a minimum retention;
--   * the durable refusal log: bounded per backend, workers that die on
--     SIGTERM and bound their work.

\echo Use "ALTER EXTENSION loginas UPDATE TO '1.2'" to load this file. \quit

------------------------------------------------------------------------------
-- 2. Settings
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 6. Action log: refusals (the durable refusal log's SQL side)
------------------------------------------------------------------------------

-- writes a queued refusal as a 'failure' row, with the time, role and address
-- of the refused call; run by the durable refusal log's worker outside that
-- call's transaction (src/refusal_queue.c).  p_coalesced: the entry is a
-- summary of that many refusals of one backend (its share of the queue was
-- full), the last at p_last_refused_at: details has "coalesced" and
-- "last_refused_at".  Never fails on a lookup, whatever the bound relation
-- does: an error WHEN OTHERS does not catch (query_canceled, assert_failure)
-- leaves the names out too, never the row.
CREATE OR REPLACE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text, p_source text,
									 p_coalesced bigint, p_last_refused_at timestamptz)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	username text;
	email text;
	src text;
	why text;
	store bigint;
	details jsonb;
BEGIN
	BEGIN
		username := loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username';
		email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
	EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
		username := NULL;	-- the binding is unreadable: log ids only
		email := NULL;
	END;
	SELECT s.source, s.reason, s.store_id INTO src, why, store
	  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	-- a refused begin has no session: it carries the reason and source given to it
	src := COALESCE(p_source, src);
	why := COALESCE(p_reason, why);
	details := pg_catalog.jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'detail', p_detail);
	IF p_coalesced IS NOT NULL THEN
		details := details OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('coalesced', p_coalesced, 'last_refused_at', p_last_refused_at);
	END IF;
	RETURN loginas._append(p_logged_at, p_action OPERATOR(pg_catalog.||) '_refused', 'failure',
						   p_admin_id, username, p_customer_id, email, p_session_id, store, src, why,
						   p_client_addr, p_db_role, details);
END
$$;
REVOKE ALL ON FUNCTION loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint,
											inet, name, text, text, bigint, timestamptz) FROM PUBLIC;

-- one refusal (as before 1.2)
CREATE OR REPLACE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text DEFAULT NULL, p_source text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._log_refusal(p_logged_at, p_action, p_sqlstate, p_message, p_detail, p_admin_id,
								p_customer_id, p_session_id, p_client_addr, p_db_role, p_reason, p_source,
								NULL::bigint, NULL::timestamptz);
END
$$;

-- the server-log line of a refused begin, redeem or assume, its texts escaped
-- (a newline cannot start a line of its own there; src/refusal.c)
CREATE OR REPLACE FUNCTION loginas._log_refused(p_action text, p_message text, p_detail text,
									 p_admin_id bigint, p_customer_id bigint, p_session_id bigint)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log_refused';
REVOKE ALL ON FUNCTION loginas._log_refused(text, text, text, bigint, bigint, bigint) FROM PUBLIC;

-- raise a refusal; refusals of begin/redeem/assume go to the durable refusal
-- log when there is one (the caller's transaction rolls back, so no row it
-- writes survives), and always to the server log
CREATE OR REPLACE FUNCTION loginas._refuse(p_action text, p_sqlstate text, p_message text,
								p_detail text DEFAULT NULL, p_hint text DEFAULT NULL,
								p_admin_id bigint DEFAULT NULL, p_customer_id bigint DEFAULT NULL,
								p_session_id bigint DEFAULT NULL, p_client_addr inet DEFAULT NULL,
								p_reason text DEFAULT NULL, p_source text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF p_action IS NOT NULL THEN
		PERFORM loginas._queue_refusal(p_action, p_sqlstate, p_message, p_detail,
									   p_admin_id, p_customer_id, p_session_id,
									   p_client_addr, p_reason, p_source);
		PERFORM loginas._log_refused(p_action, p_message, p_detail, p_admin_id, p_customer_id, p_session_id);
	END IF;
	PERFORM loginas._raise(p_sqlstate, p_message, p_detail, p_hint);
END
$$;

------------------------------------------------------------------------------
-- 6 (cont). Purging the log
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 7. Policy: locks
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 8b. Sessions: assume
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 10. Write attribution
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 9. Privileges
------------------------------------------------------------------------------
