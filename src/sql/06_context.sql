/*
 * 06_context.sql
 * The context: loginas.assume(session_key) binds the current transaction to
 * a live session.  The binding lives in C memory (src/context.c), not in a
 * setting a client could SET; it ends with the transaction.  The readers
 * (current_session() and friends) say who acts.
 */

CREATE FUNCTION loginas._context_set(session_id bigint, admin_id bigint, customer_id bigint,
									 store_id bigint, read_only boolean, banner text,
									 admin_username text, customer_email text, source text,
									 reason text, client_addr text, customer_key text, admin_key text,
									 store_key text)
	RETURNS void LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_context_set';

CREATE FUNCTION loginas._context_clear_session(session_id bigint) RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_context_clear_session';

CREATE FUNCTION loginas.current_session() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_session';

CREATE FUNCTION loginas.current_admin() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_admin';

CREATE FUNCTION loginas.current_customer() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_customer';

-- the customer's key, of any type, as text (current_customer() is NULL when
-- customers do not have integer keys)
CREATE FUNCTION loginas.current_customer_key() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_customer_key';

-- the admin's key, of any type, as text (current_admin() is NULL when admins
-- do not have integer keys)
CREATE FUNCTION loginas.current_admin_key() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_admin_key';

CREATE FUNCTION loginas.current_store() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_store';

-- the store view's key, of any type, as text (current_store() is NULL when
-- store views do not have integer keys)
CREATE FUNCTION loginas.current_store_key() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_store_key';

CREATE FUNCTION loginas.current_read_only() RETURNS boolean
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_read_only';

CREATE FUNCTION loginas._context_text(field text) RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_context_text';

CREATE FUNCTION loginas.banner() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_banner';

COMMENT ON FUNCTION loginas.current_session() IS 'Login as Customer session the current transaction acts in (set by loginas.assume), or NULL';

COMMENT ON FUNCTION loginas.current_admin() IS 'admin acting in the current transaction''s Login as Customer session, or NULL';

COMMENT ON FUNCTION loginas.current_customer() IS 'customer impersonated in the current transaction, or NULL';

COMMENT ON FUNCTION loginas.banner() IS 'storefront banner of the current session ("You are connected as ... on ..."), or NULL';

CREATE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	hint constant text := 'Log the customer out of the storefront; the admin can start Login as Customer again.';
BEGIN
	-- FOR KEY SHARE: ending this session (FOR UPDATE) waits until this
	-- transaction is over, so no write under a session ended meanwhile commits
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		-- a read-only transaction writes nothing, so needs no lock (and could not take one)
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''))
		   FOR KEY SHARE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.', hint);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s ended at %s (%s).', s.session_id, s.ended_at, s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key,
								p_admin_key => s.admin_key,
								p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text, s.customer_key, s.admin_key, s.store_key);
	RETURN s.session_id;
END
$$;
