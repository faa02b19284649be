/*
 * 04_consent.sql
 * Consent: the customer's "Allow remote shopping assistance" (Account
 * Information page), optionally until a time.  Given by the storefront for
 * the customer, or by an admin with "manage_assistance" on their behalf.
 * Withdrawing it ends the customer's live tickets and sessions.
 */

CREATE TABLE loginas.consent (
	customer_id		bigint,			-- the key when customers have integer keys, else NULL
	allowed			boolean NOT NULL,
	valid_until		timestamptz,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by_admin bigint,		-- the admin's key when admins have integer keys
	changed_by_role	name NOT NULL DEFAULT SESSION_USER,
	customer_key	text NOT NULL,	-- the customer's key, any type, as canonical text
	CHECK (allowed OR valid_until IS NULL),
	CONSTRAINT consent_pkey PRIMARY KEY (customer_key),
	changed_by_admin_key text		-- the admin's key, any type, as canonical text
);

-- the one implementation behind both callers below
CREATE FUNCTION loginas._set_assistance(p_customer_key text, p_allowed boolean,
										p_valid_until timestamptz, p_by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	prev loginas.consent;
	s record;
	p_customer_id bigint;
	p_admin_id bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.set_assistance()');
	IF p_customer_key IS NULL OR p_allowed IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'customer_id and allowed cannot be NULL');
	END IF;
	IF loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '42501',
			'remote shopping assistance cannot be changed in a Login as Customer session',
			'Only the customer, or an admin with the "manage_assistance" resource from the admin backend, may change it.');
	END IF;
	IF loginas._lookup('customers', p_customer_key) IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'Customer with this ID no longer exists.',
			pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_key));
	END IF;
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF p_customer_key IS NULL THEN
		-- (the lookup and _canon_key read keys by one rule: not reached)
		PERFORM loginas._refuse(NULL, '22023', 'customer_id is not a key of the customers binding');
	END IF;
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	-- (the callers checked that the admin exists)
	p_by_admin := loginas._canon_key('admins', p_by_admin);
	p_admin_id := loginas._key_id('admins', p_by_admin);
	IF NOT p_allowed AND p_valid_until IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'valid_until applies only when assistance is allowed');
	END IF;
	IF p_valid_until IS NOT NULL AND p_valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('valid_until must be in the future, not %s', p_valid_until));
	END IF;

	SELECT * INTO prev FROM loginas.consent c WHERE c.customer_key OPERATOR(pg_catalog.=) p_customer_key FOR UPDATE;
	INSERT INTO loginas.consent AS c (customer_id, customer_key, allowed, valid_until, changed_by_admin,
									  changed_by_admin_key)
	VALUES (p_customer_id, p_customer_key, p_allowed, p_valid_until, p_admin_id, p_by_admin)
	ON CONFLICT ON CONSTRAINT consent_pkey DO UPDATE
	   SET customer_id = EXCLUDED.customer_id, allowed = EXCLUDED.allowed, valid_until = EXCLUDED.valid_until, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
		   changed_by_admin_key = EXCLUDED.changed_by_admin_key;

	-- no row means not allowed: "revoking" what was never given changes nothing
	IF COALESCE(prev.allowed, false) IS DISTINCT FROM p_allowed OR prev.valid_until IS DISTINCT FROM p_valid_until THEN
		PERFORM loginas._log(CASE WHEN p_allowed THEN 'consent_granted' ELSE 'consent_revoked' END, 'success',
							 p_admin_id, p_customer_id,
							 p_details => pg_catalog.jsonb_build_object(
								'valid_until', p_valid_until,
								'by', CASE WHEN p_by_admin IS NULL THEN 'customer' ELSE 'admin' END),
							 p_customer_key => p_customer_key, p_admin_key => p_by_admin);
	END IF;

	IF NOT p_allowed THEN
		FOR s IN SELECT ls.session_id FROM loginas.session ls
				  WHERE ls.customer_key OPERATOR(pg_catalog.=) p_customer_key AND ls.ended_at IS NULL
				  ORDER BY ls.session_id
		LOOP
			PERFORM loginas._end_session(s.session_id, 'consent_revoked', p_by_admin);
		END LOOP;
	END IF;
	RETURN p_allowed;
END
$$;

-- the storefront: the customer's own choice
CREATE FUNCTION loginas.set_assistance_as_customer(customer_id bigint, allowed boolean,
												   valid_until timestamptz DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id::pg_catalog.text, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL::pg_catalog.text);
END
$$;

-- the same for keys of any type, given as text: the one implementation
CREATE FUNCTION loginas.set_assistance_as_admin(customer_id text, allowed boolean,
												valid_until timestamptz, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF set_assistance_as_admin.by_admin IS NULL THEN
		PERFORM loginas._raise('22023', 'by_admin cannot be NULL',
			'set_assistance_as_admin() is an admin''s change on the customer''s behalf.', NULL);
	END IF;
	PERFORM loginas._check_by_admin(set_assistance_as_admin.by_admin);
	IF NOT loginas.permitted(set_assistance_as_admin.by_admin, 'manage_assistance') THEN
		PERFORM loginas._refuse(NULL, '42501', 'You have no permission to change Opt-In preference.',
			pg_catalog.format('Admin user %s does not have the "manage_assistance" resource, or is inactive.', set_assistance_as_admin.by_admin),
			'Grant the resource to the admin''s role with loginas.grant(role, ''manage_assistance'').');
	END IF;
	RETURN loginas._set_assistance(set_assistance_as_admin.customer_id, set_assistance_as_admin.allowed,
								   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin);
END
$$;

-- the same for a customer key of any type, given as text, by an admin with an integer key
CREATE FUNCTION loginas.set_assistance_as_admin(customer_id text, allowed boolean,
												valid_until timestamptz, by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.set_assistance_as_admin(set_assistance_as_admin.customer_id, set_assistance_as_admin.allowed,
										   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin::pg_catalog.text);
END
$$;

-- the admin backend: an admin with manage_assistance, on the customer's behalf
CREATE FUNCTION loginas.set_assistance_as_admin(customer_id bigint, allowed boolean,
												valid_until timestamptz, by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.set_assistance_as_admin(set_assistance_as_admin.customer_id::pg_catalog.text, set_assistance_as_admin.allowed,
										   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin::pg_catalog.text);
END
$$;

-- one entry point for both: SECURITY INVOKER, so the database privileges of
-- the caller decide which of the two it may reach (storefront roles cannot
-- execute set_assistance_as_admin, admin roles cannot execute _as_customer)
CREATE FUNCTION loginas.set_assistance(customer_id bigint, allowed boolean,
									   valid_until timestamptz DEFAULT NULL, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF by_admin IS NULL THEN
		RETURN loginas.set_assistance_as_customer(customer_id, allowed, valid_until);
	END IF;
	RETURN loginas.set_assistance_as_admin(customer_id, allowed, valid_until, by_admin);
END
$$;

CREATE FUNCTION loginas.assistance_allowed(customer_id bigint)
	RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT c.allowed AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FROM loginas.consent c
		  WHERE c.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', assistance_allowed.customer_id::pg_catalog.text)),
		false)
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.set_assistance_as_customer(customer_id text, allowed boolean,
												   valid_until timestamptz DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL::pg_catalog.text);
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.set_assistance(customer_id text, allowed boolean,
									   valid_until timestamptz DEFAULT NULL, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF by_admin IS NULL THEN
		RETURN loginas.set_assistance_as_customer(customer_id, allowed, valid_until);
	END IF;
	RETURN loginas.set_assistance_as_admin(customer_id, allowed, valid_until, by_admin);
END
$$;

-- the same for an admin key of any type too, given as text (no defaults:
-- set_assistance(customer, allowed) stays the call above)
CREATE FUNCTION loginas.set_assistance(customer_id text, allowed boolean,
									   valid_until timestamptz, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF by_admin IS NULL THEN
		RETURN loginas.set_assistance_as_customer(customer_id, allowed, valid_until);
	END IF;
	RETURN loginas.set_assistance_as_admin(customer_id, allowed, valid_until, by_admin);
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.assistance_allowed(customer_id text)
	RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT c.allowed AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FROM loginas.consent c
		  WHERE c.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', assistance_allowed.customer_id)),
		false)
$$;
