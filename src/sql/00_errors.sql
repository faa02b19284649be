/*
 * 00_errors.sql
 * How loginas refuses.  Every refusal is an error with its SQLSTATE
 * (42501 refusals, 22023 bad parameters, 55000 wrong state, 25006 read-only),
 * raised from C (loginas._raise, src/refusal.c) so that no loginas-internal
 * CONTEXT line reaches the client.  A refused begin, redeem or assume is also
 * written to the server log and queued for the durable refusal log, which
 * writes it as a 'failure' row after the refused transaction rolled back
 * (loginas._queue_refusal, src/refusal_queue.c; docs/refusal-log.md).
 * Defined first: every later step refuses through these.
 */

CREATE FUNCTION loginas._raise(sqlstate text, message text, detail text, hint text) RETURNS void
	LANGUAGE c VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_raise';

-- hands a refusal to the durable refusal log (src/refusal_queue.c); false
-- when there is none (loginas not in shared_preload_libraries).
-- customer_key, admin_key: the customer's, the admin's key, kept only when
-- customer_id, admin_id is NULL (a key that is not an integer); store_key:
-- the store view's key, given only when it is not an integer
CREATE FUNCTION loginas._queue_refusal(action text, sqlstate text, message text, detail text,
									   admin_id bigint, customer_id bigint, session_id bigint,
									   client_addr inet DEFAULT NULL, reason text DEFAULT NULL,
									   source text DEFAULT NULL, customer_key text DEFAULT NULL,
									   admin_key text DEFAULT NULL, store_key text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_queue_refusal';

-- one refusal: the form without a summary count
CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text DEFAULT NULL, p_source text DEFAULT NULL,
									 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
									 p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._log_refusal(p_logged_at, p_action, p_sqlstate, p_message, p_detail, p_admin_id,
								p_customer_id, p_session_id, p_client_addr, p_db_role, p_reason, p_source,
								NULL::bigint, NULL::timestamptz, p_customer_key, p_admin_key, p_store_key);
END
$$;

-- raise a refusal; refusals of begin/redeem/assume go to the durable refusal
-- log when there is one (the caller's transaction rolls back, so no row it
-- writes survives), and always to the server log.  p_customer_key,
-- p_admin_key: the customer's, the admin's key as canonical text; it names
-- them where p_customer_id, p_admin_id cannot (a key that is not an
-- integer).  p_store_key: the store view's key, given only when it is not an
-- integer
CREATE FUNCTION loginas._refuse(p_action text, p_sqlstate text, p_message text,
								p_detail text DEFAULT NULL, p_hint text DEFAULT NULL,
								p_admin_id bigint DEFAULT NULL, p_customer_id bigint DEFAULT NULL,
								p_session_id bigint DEFAULT NULL, p_client_addr inet DEFAULT NULL,
								p_reason text DEFAULT NULL, p_source text DEFAULT NULL,
								p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
								p_store_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF p_action IS NOT NULL THEN
		PERFORM loginas._queue_refusal(p_action, p_sqlstate, p_message, p_detail,
									   p_admin_id, p_customer_id, p_session_id,
									   p_client_addr, p_reason, p_source, p_customer_key,
									   p_admin_key, p_store_key);
		PERFORM loginas._log_refused(p_action, p_message, p_detail, p_admin_id, p_customer_id, p_session_id,
									 p_customer_key, p_admin_key);
	END IF;
	PERFORM loginas._raise(p_sqlstate, p_message, p_detail, p_hint);
END
$$;

-- a writing function called where nothing can be written (a hot standby,
-- BEGIN READ ONLY) says so up front, without internal context
CREATE FUNCTION loginas._require_writable(p_function text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		PERFORM loginas._raise('25006', pg_catalog.format('%s writes to the database', p_function),
			'The transaction is read-only (a hot standby, or BEGIN READ ONLY).',
			'Call it on the primary, in a read-write transaction.');
	END IF;
END
$$;

-- an admin id given as by_admin must name an existing admin
CREATE FUNCTION loginas._check_by_admin(p_by_admin bigint) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._check_by_admin(p_by_admin::pg_catalog.text);
END
$$;

-- the same by an admin key of any type, given as text
CREATE FUNCTION loginas._check_by_admin(p_by_admin text) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
BEGIN
	IF p_by_admin IS NULL THEN
		RETURN NULL;
	END IF;
	a := loginas._lookup('admins', p_by_admin);
	IF a IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('admin user %s does not exist', p_by_admin),
			pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_by_admin));
	END IF;
	RETURN a;
END
$$;

-- writes a queued refusal as a 'failure' row, with the time, role and address
-- of the refused call; run by the durable refusal log's worker outside that
-- call's transaction (src/refusal_queue.c).  p_coalesced: the entry is a
-- summary of that many refusals of one backend (its share of the queue was
-- full), the last at p_last_refused_at: details has "coalesced" and
-- "last_refused_at".  Never fails on a lookup, whatever the bound relation
-- does: an error WHEN OTHERS does not catch (query_canceled, assert_failure)
-- leaves the names out too, never the row.  p_customer_key, p_admin_key: the
-- customer's, the admin's key where p_customer_id, p_admin_id cannot hold it;
-- p_store_key: the store view's key when it is not an integer, else the
-- session's (the row's customer_key, admin_key, store_key; the row of
-- integer keys is what it was before keys of any type).
CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text, p_source text,
									 p_coalesced bigint, p_last_refused_at timestamptz,
									 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
									 p_store_key text DEFAULT NULL)
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
	skey text;
	details jsonb;
	ckey text := CASE WHEN p_customer_id IS NULL THEN p_customer_key END;
	akey text := CASE WHEN p_admin_id IS NULL THEN p_admin_key END;
BEGIN
	BEGIN
		IF akey IS NULL THEN
			username := loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username';
		ELSE
			username := loginas._lookup('admins', akey, true) OPERATOR(pg_catalog.->>) 'username';
		END IF;
		IF ckey IS NULL THEN
			email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
		ELSE
			email := loginas._lookup('customers', ckey, true) OPERATOR(pg_catalog.->>) 'email';
		END IF;
	EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
		username := NULL;	-- the binding is unreadable: log ids only
		email := NULL;
	END;
	SELECT s.source, s.reason, s.store_id, CASE WHEN s.store_id IS NULL THEN s.store_key END
	  INTO src, why, store, skey
	  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	-- a refused begin has no session: it carries the reason and source given
	-- to it (and the store view, when one was chosen)
	src := COALESCE(p_source, src);
	why := COALESCE(p_reason, why);
	IF store IS NULL THEN
		skey := COALESCE(p_store_key, skey);
	END IF;
	details := pg_catalog.jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'detail', p_detail);
	IF p_coalesced IS NOT NULL THEN
		details := details OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('coalesced', p_coalesced, 'last_refused_at', p_last_refused_at);
	END IF;
	RETURN loginas._append(p_logged_at, p_action OPERATOR(pg_catalog.||) '_refused', 'failure',
						   p_admin_id, username, p_customer_id, email, p_session_id, store, src, why,
						   p_client_addr, p_db_role, details, akey, ckey, skey);
END
$$;

-- the server-log line of a refused begin, redeem or assume, its texts escaped
-- (a newline cannot start a line of its own there; src/refusal.c); the
-- customer is p_customer_key where p_customer_id is NULL, the admin
-- p_admin_key where p_admin_id is NULL
CREATE FUNCTION loginas._log_refused(p_action text, p_message text, p_detail text,
									 p_admin_id bigint, p_customer_id bigint, p_session_id bigint,
									 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log_refused';
