/*
 * 09_customer_view.sql
 * The customer's own view: loginas.my_assistance_history(customer_id), which
 * the storefront calls to show under My Account the assistance sessions on
 * the customer's account -- when, for how long, who ("Store administrator",
 * or the admin's display name if the merchant chooses so), why (only if the
 * merchant chooses so) and what was changed, in the words the merchant gave
 * each tracked table (loginas.describe), else "changed your account".
 *
 * What it never shows: database roles, client addresses, keys (the
 * customer's, the admin's, the rows'), session ids, table or column names,
 * values of any column.
 *
 * Trust: the storefront is not trusted (section "Trust model" of
 * docs/guarantees.md), and loginas cannot know which customer is logged in
 * on it -- it may ask for any customer.  Inside a Login as Customer session
 * the customer is known, and only that one may be asked for (42501).  So by
 * default the view shows only what the storefront role already sees of every
 * session it serves: when a session started (it redeemed it) and ended, and
 * what was changed (it carried out the writes), by "Store administrator".
 * The admin's name and the reason are shown only when the merchant turns
 * them on (settings customer_view_admin, customer_view_reason), knowing that
 * the storefront role can then read them for every customer.
 */

-- sessions by customer (any key type), for the customer's view
CREATE INDEX session_customer_key ON loginas.session (customer_key, redeemed_at);

-- what a customer is told a session changed, per tracked table and write
-- operation ('any': the operations without a description of their own);
-- {n} in it stands for the number of rows.  Untracking the table (or
-- dropping it) forgets its descriptions.
CREATE TABLE loginas.change_description (
	relation		regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	operation		text NOT NULL CHECK (operation IN ('any', 'insert', 'update', 'delete')),
	description		text NOT NULL,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by_admin bigint,		-- the admin's key when admins have integer keys
	changed_by_role	name NOT NULL DEFAULT SESSION_USER,
	changed_by_admin_key text,		-- the admin's key, any type, as canonical text
	CONSTRAINT change_description_pkey PRIMARY KEY (relation, operation)
);

CREATE VIEW loginas.change_descriptions AS
	SELECT cd.relation, cd.operation, cd.description, cd.changed_at, cd.changed_by_admin,
		   cd.changed_by_admin_key
	  FROM loginas.change_description cd
	 ORDER BY cd.relation, cd.operation;

COMMENT ON VIEW loginas.change_descriptions IS 'what loginas.my_assistance_history() tells a customer a session changed in each tracked table';

-- describe(relation, description, operation, by_admin): the words a customer
-- reads for a session's writes to one tracked table, per operation (NULL or
-- 'any': every operation without a description of its own); NULL removes
-- the description.  1 to 200 characters, no control characters; {n} is
-- replaced by the number of rows.  Logged as a setting_changed row.
-- by_admin: an admin of any key type, given as text (the bigint form below
-- calls it)
CREATE FUNCTION loginas.describe(relation regclass, description text, operation text, by_admin text)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op text := pg_catalog.lower(pg_catalog.btrim(COALESCE(describe.operation, 'any')));
	v text := pg_catalog.btrim(describe.description);
	old text;
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.describe()');
	IF describe.relation IS NULL THEN
		PERFORM loginas._raise('22023', 'relation cannot be NULL', NULL, NULL);
	END IF;
	IF NOT op OPERATOR(pg_catalog.=) ANY (ARRAY['any', 'insert', 'update', 'delete']) THEN
		PERFORM loginas._raise('22023', pg_catalog.format('invalid operation "%s"', describe.operation), NULL,
			'Valid operations are: any, insert, update, delete (NULL: any).');
	END IF;
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) describe.relation) THEN
		PERFORM loginas._raise('55000', pg_catalog.format('relation %s is not tracked', describe.relation),
			'Only the writes of tracked tables are logged, so only they are shown to customers.',
			'Track it with loginas.track() first.');
	END IF;
	IF v IS NOT NULL AND (v OPERATOR(pg_catalog.=) '' OR pg_catalog.length(v) OPERATOR(pg_catalog.>) 200
						  OR v OPERATOR(pg_catalog.~) '[[:cntrl:]]') THEN
		PERFORM loginas._raise('22023', 'a description has 1 to 200 characters and no control characters',
			NULL, 'For example ''changed your address'' or ''added {n} items to your cart''; NULL removes it.');
	END IF;
	PERFORM loginas._check_by_admin(describe.by_admin);
	admin_key := loginas._canon_key('admins', describe.by_admin);

	SELECT cd.description INTO old FROM loginas.change_description cd
	 WHERE cd.relation OPERATOR(pg_catalog.=) describe.relation AND cd.operation OPERATOR(pg_catalog.=) op
	   FOR UPDATE;
	IF old IS NOT DISTINCT FROM v THEN
		RETURN v;			-- nothing changes, nothing is written
	END IF;
	IF v IS NULL THEN
		DELETE FROM loginas.change_description cd
		 WHERE cd.relation OPERATOR(pg_catalog.=) describe.relation AND cd.operation OPERATOR(pg_catalog.=) op;
	ELSE
		INSERT INTO loginas.change_description AS cd (relation, operation, description, changed_by_admin,
													  changed_by_admin_key)
		VALUES (describe.relation, op, v, loginas._key_id('admins', admin_key), admin_key)
		ON CONFLICT ON CONSTRAINT change_description_pkey DO UPDATE
		   SET description = EXCLUDED.description, changed_at = pg_catalog.now(),
			   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
			   changed_by_admin_key = EXCLUDED.changed_by_admin_key;
	END IF;
	PERFORM loginas._log('setting_changed', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object(
							 'setting', pg_catalog.format('description of %s (%s)', describe.relation, op),
							 'old', old, 'new', v),
						 p_admin_key => admin_key);
	RETURN v;
END
$$;

CREATE FUNCTION loginas.describe(relation regclass, description text, operation text DEFAULT NULL,
								 by_admin bigint DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.describe(describe.relation, describe.description, describe.operation,
							describe.by_admin::pg_catalog.text);
END
$$;

-- what a session changed, in the customer's words: per table and operation
-- the merchant's description ({n}: the rows), else "changed your account";
-- each phrase once, in the order of the writes; NULL when nothing was
-- written (or the log rows are purged).  Nothing else of the write rows
-- (keys, columns, values) is read.
CREATE FUNCTION loginas._session_changes(p_session_id bigint)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(p.phrase, ', ' ORDER BY p.first_log)
	  FROM (SELECT w.phrase, pg_catalog.min(w.first_log) AS first_log
			  FROM (SELECT pg_catalog.replace(COALESCE(d.description, da.description, 'changed your account'),
											  '{n}', pg_catalog.sum(g.n)::pg_catalog.text) AS phrase,
						   pg_catalog.min(g.log_id) AS first_log
					  FROM (SELECT l.details OPERATOR(pg_catalog.->>) 'table' AS tbl,
								   l.details OPERATOR(pg_catalog.->>) 'operation' AS op,
								   (l.details OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8 AS n,
								   l.log_id
							  FROM loginas.action_log l
							 WHERE l.session_id OPERATOR(pg_catalog.=) p_session_id
							   AND l.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])) g
					  LEFT JOIN loginas.change_description d
							 ON d.relation::pg_catalog.text OPERATOR(pg_catalog.=) g.tbl
							AND d.operation OPERATOR(pg_catalog.=) g.op
					  LEFT JOIN loginas.change_description da
							 ON da.relation::pg_catalog.text OPERATOR(pg_catalog.=) g.tbl
							AND da.operation OPERATOR(pg_catalog.=) 'any'
					 GROUP BY g.tbl, g.op, d.description, da.description) w
			 GROUP BY w.phrase) p
$$;

-- the admin's display name as the admins binding gives it now; NULL when it
-- cannot be read (then the customer reads "Store administrator")
CREATE FUNCTION loginas._admin_display_name(p_admin_key text)
	RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN NULLIF(pg_catalog.btrim(loginas._lookup('admins', p_admin_key, true) OPERATOR(pg_catalog.->>) 'display_name'), '');
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

-- The customer's assistance history, newest first: the redeemed sessions
-- on the account (a ticket never redeemed entered nothing).  started_at:
-- the redemption; ended_at: the end, or the end of its lifetime if that has
-- passed (NULL: still going on); duration between the two.  A customer key of
-- any type, given as text (the bigint form below calls it); a text that is
-- no value of the key's type names no customer: no row, as for a customer
-- without sessions (the storefront learns nothing of who exists).
CREATE FUNCTION loginas.my_assistance_history(customer_id text)
	RETURNS TABLE (started_at timestamptz, ended_at timestamptz, duration interval,
				   administrator text, reason text, changes text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k text;
	by_name boolean := loginas._get_setting('customer_view_admin') OPERATOR(pg_catalog.=) 'display_name';
	with_reason boolean := loginas._get_setting('customer_view_reason') OPERATOR(pg_catalog.=) 'on';
	fallback constant text := 'Store administrator';
BEGIN
	IF my_assistance_history.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL,
			'Pass the id of the customer logged in on the storefront.');
	END IF;
	k := loginas._canon_key('customers', my_assistance_history.customer_id);
	-- in a session the storefront's customer is known: the impersonated one
	IF loginas.current_session() IS NOT NULL AND k IS DISTINCT FROM loginas.current_customer_key() THEN
		PERFORM loginas._raise('42501',
			'a Login as Customer session may read only its own customer''s assistance history',
			pg_catalog.format('The transaction acts in session %s.', loginas.current_session()),
			'Pass the impersonated customer''s id.');
	END IF;
	IF k IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT s.redeemed_at, e.ended, e.ended OPERATOR(pg_catalog.-) s.redeemed_at,
		   CASE WHEN by_name THEN COALESCE(loginas._admin_display_name(s.admin_key), fallback) ELSE fallback END,
		   CASE WHEN with_reason THEN s.reason END,
		   loginas._session_changes(s.session_id)
	  FROM loginas.session s
	 CROSS JOIN LATERAL (
		SELECT CASE WHEN LEAST(s.ended_at, s.expires_at) OPERATOR(pg_catalog.<=) pg_catalog.now()
					THEN LEAST(s.ended_at, s.expires_at) END AS ended) e
	 WHERE s.customer_key OPERATOR(pg_catalog.=) k AND s.redeemed_at IS NOT NULL
	 ORDER BY s.redeemed_at DESC, s.session_id DESC;
END
$$;

CREATE FUNCTION loginas.my_assistance_history(customer_id bigint)
	RETURNS TABLE (started_at timestamptz, ended_at timestamptz, duration interval,
				   administrator text, reason text, changes text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.my_assistance_history(my_assistance_history.customer_id::pg_catalog.text);
END
$$;

COMMENT ON FUNCTION loginas.my_assistance_history(text)
	IS 'the assistance sessions on one customer''s account, in the customer''s words (the storefront''s My Account); nothing internal';
