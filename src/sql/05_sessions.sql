/*
 * 05_sessions.sql
 * Tickets and sessions.  The policy every step re-makes (loginas._evaluate:
 * the feature, the admin, the role's resource, the customer, the consent),
 * then the life of a session: loginas.begin() issues a one-time ticket (a
 * 256-bit secret, stored only as a hash bound to this database), the
 * storefront redeems it for a session key, and the session ends by logout,
 * by the admin, by a revocation, or by expiry.  begin and redeem share-lock
 * the rows their decision rests on; revocations write them (src/revocation.c
 * keeps REPEATABLE READ revocations from missing a new ticket).
 */

CREATE FUNCTION loginas._new_secret() RETURNS text
	LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_new_secret';

CREATE TABLE loginas.session (
	session_id		bigserial PRIMARY KEY,
	admin_id		bigint,			-- the key when admins have integer keys, else NULL
	customer_id		bigint,			-- the key when customers have integer keys, else NULL
	store_id		bigint,			-- the key when store views have integer keys, else NULL
	read_only		boolean NOT NULL DEFAULT false,
	reason			text,
	source			text,
	source_kind		text,
	source_document_id bigint,		-- the key when documents have integer keys, else NULL
	ticket_hash		bytea NOT NULL UNIQUE,
	ticket_expires_at timestamptz NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by_role	name NOT NULL DEFAULT SESSION_USER,
	admin_addr		inet,			-- the admin's browser (begin's client_addr), else the backend's connection
	redeemed_at		timestamptz,
	storefront_addr	inet,			-- the storefront's client (redeem's client_addr)
	key_hash		bytea UNIQUE,
	expires_at		timestamptz,
	ended_at		timestamptz,
	end_reason		text CHECK (end_reason IN ('logout', 'admin_logout', 'superseded', 'consent_revoked',
											   'consent_expired', 'permission_revoked', 'admin_inactive',
											   'customer_inactive', 'feature_disabled', 'expired',
											   'revert')),	-- a revert's own session (11_revert.sql)
	ended_by_admin	bigint,			-- the key when admins have integer keys, else NULL
	ended_by_role	name,
	CHECK ((redeemed_at IS NULL) = (key_hash IS NULL)),
	CHECK ((redeemed_at IS NULL) = (expires_at IS NULL)),
	customer_key	text NOT NULL,	-- the customer's key, any type, as canonical text
	CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
	-- keys of any type, as canonical text: the admin's, the store view's, the
	-- source document's, the ending admin's
	admin_key		text NOT NULL,
	store_key		text NOT NULL,
	document_key	text,
	ended_by_admin_key text
);

-- one live ticket or session per admin, enforced by the index itself
CREATE UNIQUE INDEX session_one_live_per_admin ON loginas.session (admin_key) WHERE ended_at IS NULL;

CREATE INDEX session_live_customer ON loginas.session (customer_key) WHERE ended_at IS NULL;

COMMENT ON TABLE loginas.session IS 'Login as Customer tickets and sessions; secrets are stored only as SHA-256 hashes';

-- The stored hash of a ticket or session key mixes in the database's
-- identity (src/token.c): sha256("loginas:<system identifier>:<database
-- oid>:" || sha256(secret)).  CREATE DATABASE ... TEMPLATE copies every table,
-- the hashes too, but the copy has another OID: no live ticket or key of the
-- original matches there.  Likewise a dump restored into another database.
-- begin, redeem, assume and end hash with loginas._hash as before.
CREATE FUNCTION loginas._hash(p_secret text) RETURNS bytea
	LANGUAGE c STABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_secret_hash';

-- end one ticket or session (if still live): lock it, record the end, log it;
-- p_by_admin: the ending admin's key, of any type, as canonical text
CREATE FUNCTION loginas._end_session(p_session_id bigint, p_reason text, p_by_admin text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	by_id bigint := loginas._key_id('admins', p_by_admin);
	log_id bigint;
BEGIN
	-- FOR UPDATE waits for transactions acting in the session (they hold
	-- FOR KEY SHARE from loginas.assume's checked path) and re-reads the row
	-- afterwards; the session's lock first, for those a cached assume() let
	-- act in it (src/assume.c)
	PERFORM loginas._lock_session_end(p_session_id);
	SELECT * INTO s FROM loginas.session
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id AND ended_at IS NULL
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE loginas.session
	   SET ended_at = pg_catalog.now(), end_reason = p_reason,
		   ended_by_admin = by_id, ended_by_role = SESSION_USER, ended_by_admin_key = p_by_admin
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id;
	log_id := loginas._log('session_ended', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('end_reason', p_reason,
													   'redeemed', s.redeemed_at IS NOT NULL,
													   -- a number for an integer key, as 1.2 logged it
													   'ended_by_admin', COALESCE(pg_catalog.to_jsonb(by_id),
																				  pg_catalog.to_jsonb(p_by_admin))),
						 p_customer_key => s.customer_key, p_admin_key => s.admin_key, p_store_key => s.store_key);
	PERFORM loginas._context_clear_session(p_session_id);
	-- every end, whatever its reason, is a live event (05_events.sql)
	PERFORM loginas._notify_session('session_ended', p_session_id, log_id);
	RETURN true;
END
$$;

CREATE TYPE loginas._verdict AS (
	code		text,		-- NULL when allowed; else the end reason it maps to
	sqlstate	text,
	message		text,
	detail		text,
	hint		text,
	admin		jsonb,
	customer	jsonb
);

-- p_lock (begin, redeem): share-lock the rows the verdict rests on -- the
-- 'enabled' setting, the role's 'login' resource, the customer's consent.
-- Turning the feature off, revoking the resource and withdrawing the consent
-- write those rows, so they wait for this transaction and then, in READ
-- COMMITTED, see its ticket and end it (REPEATABLE READ: a serialization
-- error instead of a missed ticket).  Share locks do not block each other:
-- begins for other admins and customers go on: one admin's open transaction
-- holds up no other begin in the shop.
CREATE FUNCTION loginas._evaluate(p_admin_id text, p_customer_id text, p_lock boolean DEFAULT false)
	RETURNS loginas._verdict
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	c loginas.consent;
	has_login boolean;
	enabled boolean;
BEGIN
	IF p_admin_id IS NULL OR p_customer_id IS NULL THEN
		v.code := 'invalid'; v.sqlstate := '22023';
		v.message := 'admin_id and customer_id cannot be NULL';
		RETURN v;
	END IF;
	IF p_lock THEN
		PERFORM FROM loginas.setting st
		  WHERE st.name OPERATOR(pg_catalog.=) 'enabled' AND st.value OPERATOR(pg_catalog.=) 'on'
		    FOR SHARE;
		enabled := FOUND;
	ELSE
		enabled := loginas._get_setting('enabled') OPERATOR(pg_catalog.=) 'on';
	END IF;
	IF NOT enabled THEN
		v.code := 'feature_disabled'; v.sqlstate := '55000';
		v.message := 'Login as Customer is disabled.';
		v.hint := 'Enable it with loginas.configure(''enabled'', ''on'').';
		RETURN v;
	END IF;

	v.admin := loginas._lookup('admins', p_admin_id);
	IF v.admin IS NULL THEN
		v.code := 'admin_inactive'; v.sqlstate := '22023';
		v.message := pg_catalog.format('admin user %s does not exist', p_admin_id);
		v.detail := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_admin_id);
		RETURN v;
	END IF;
	IF NOT COALESCE((v.admin OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'admin_inactive'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is inactive', v.admin OPERATOR(pg_catalog.->>) 'username');
		v.detail := 'Only active admin users can use Login as Customer.';
		RETURN v;
	END IF;
	-- an admin has a row per role: any of its roles may have the resource
	-- (the lock: every one of them that has it, so that revoking it from one
	-- of them waits as well)
	IF p_lock THEN
		PERFORM FROM loginas.role_resource r
		  WHERE r.role OPERATOR(pg_catalog.=) ANY (loginas._roles(v.admin))
		    AND r.resource OPERATOR(pg_catalog.=) 'login'
		    FOR SHARE;
		has_login := FOUND;
	ELSE
		has_login := loginas._roles_have(v.admin, 'login');
	END IF;
	IF NOT has_login THEN
		v.code := 'permission_revoked'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is not allowed to login as a customer',
									   v.admin OPERATOR(pg_catalog.->>) 'username');
		SELECT l.detail, l.hint INTO v.detail, v.hint
		  FROM loginas._roles_lack(v.admin, 'login', 'Allow Login as Customer') l;
		RETURN v;
	END IF;

	v.customer := loginas._lookup('customers', p_customer_id);
	IF v.customer IS NULL THEN
		v.code := 'customer_inactive'; v.sqlstate := '22023';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_id);
		RETURN v;
	END IF;
	-- a guest (is_guest, an optional column of the customers binding) is a
	-- customer row without an account
	IF COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_guest')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := pg_catalog.format('cannot login as customer %s: the customer is a guest', p_customer_id);
		v.detail := 'Guest customers have no account to log in to.';
		RETURN v;
	END IF;
	IF NOT COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('Customer account %s is inactive.', p_customer_id);
		RETURN v;
	END IF;

	IF p_lock THEN
		SELECT * INTO c FROM loginas.consent cs
		 WHERE cs.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', p_customer_id) AND cs.allowed
		   AND (cs.valid_until IS NULL OR cs.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FOR SHARE;
	END IF;
	IF c.customer_key IS NULL THEN
		SELECT * INTO c FROM loginas.consent
		 WHERE customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', p_customer_id);
	END IF;
	IF c.customer_key IS NULL OR NOT c.allowed THEN
		v.code := 'consent_revoked'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := 'The customer has not allowed remote shopping assistance.';
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	IF c.valid_until IS NOT NULL AND c.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		v.code := 'consent_expired'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := pg_catalog.format('The customer''s permission expired at %s.', c.valid_until);
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	RETURN v;
END
$$;

-- which store view a session for this customer is on; raises when none fits.
-- Keys of any type: the store view's key (p_store_id) given as text; store
-- views and websites compared by their keys as the bindings read them (an
-- integer's digits, any other key's text), "first" in the order of their
-- jsonb values (numbers by value: integer keys keep their order)
CREATE FUNCTION loginas._resolve_store(p_customer jsonb, p_store_id text)
	RETURNS jsonb
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sharing text := loginas._get_setting('account_sharing');
	-- a customer has a row per website or store view: their sets
	cust_websites text[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_customer OPERATOR(pg_catalog.->) 'website_id'));
	cust_stores text[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_customer OPERATOR(pg_catalog.->) 'store_id'));
	rel regclass := loginas._bound_relation('store_views');
	st jsonb;
	own text;
	target_websites text[];
BEGIN
	IF p_store_id IS NULL AND loginas._get_setting('store_view_selection') OPERATOR(pg_catalog.=) 'manual' THEN
		PERFORM loginas._refuse(NULL, '22023', 'Please select a Store to login in.',
			'Store View to Log in is set to Manual Selection.',
			'Pass store_id; loginas.store_choices() lists the store views that can be chosen.');
	END IF;

	IF p_store_id IS NOT NULL THEN
		st := loginas._lookup('store_views', p_store_id);
		IF st IS NULL THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('store view %s does not exist', p_store_id),
				pg_catalog.format('No row of %s has store_id %s.', rel, p_store_id));
		END IF;
		IF NOT COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			PERFORM loginas._refuse(NULL, '55000',
				pg_catalog.format('store view "%s" is disabled', st OPERATOR(pg_catalog.->>) 'name'));
		END IF;
		-- in any of the customer's websites
		IF sharing OPERATOR(pg_catalog.=) 'website'
		   AND NOT COALESCE((st OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (cust_websites), false) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format(CASE WHEN pg_catalog.cardinality(cust_websites) OPERATOR(pg_catalog.>) 1
									   THEN 'store view "%s" is not in any of the customer''s websites'
									   ELSE 'store view "%s" is not in the customer''s website' END,
								  st OPERATOR(pg_catalog.->>) 'name'),
				'Customer accounts are shared per website (account_sharing = website).',
				'Choose a store view of the customer''s website; loginas.store_choices() lists them.');
		END IF;
		RETURN st;
	END IF;

	-- auto: the customer's own store view, if it is active (and in its
	-- website); of several, the first by store_id
	FOREACH own IN ARRAY cust_stores LOOP
		st := loginas._lookup('store_views', own);
		IF st IS NOT NULL AND COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
		   AND (sharing OPERATOR(pg_catalog.=) 'global'
				OR COALESCE((st OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (cust_websites), false)) THEN
			RETURN st;
		END IF;
	END LOOP;

	-- else the default store view of the customer's website (of several, the
	-- first by website_id that has one); with global sharing, that of the
	-- default website (the one holding the lowest store view id among
	-- default store views)
	IF sharing OPERATOR(pg_catalog.=) 'website' THEN
		target_websites := cust_websites;
	ELSE
		target_websites := ARRAY(
			SELECT v OPERATOR(pg_catalog.->>) 'website_id'
			  FROM loginas._store_views() v
			 WHERE (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
			 ORDER BY v OPERATOR(pg_catalog.->) 'store_id' LIMIT 1);
	END IF;
	SELECT v INTO st
	  FROM loginas._store_views() v
	 WHERE (v OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (target_websites)
	   AND (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
	 ORDER BY v OPERATOR(pg_catalog.->) 'website_id', v OPERATOR(pg_catalog.->) 'store_id' LIMIT 1;
	IF st IS NULL THEN
		PERFORM loginas._refuse(NULL, '55000',
			'no active store view is available for this customer',
			CASE WHEN pg_catalog.cardinality(target_websites) OPERATOR(pg_catalog.>) 1
				 THEN pg_catalog.format('The customer''s store views are unavailable and none of the websites %s has an active default store view.',
										pg_catalog.array_to_string(target_websites, ', '))
				 ELSE pg_catalog.format('The customer''s store view is unavailable and website %s has no active default store view.',
										target_websites[1]) END);
	END IF;
	RETURN st;
END
$$;

-- Keys of any type: the admin, the customer, the store view and the
-- document given as text (each key canonical for its kind's key type: an
-- integer's digits, text as it is, a lower-case uuid) is the one
-- implementation; the bigint forms of 1.2 (and the customer's text form)
-- call it.  An unknown literal ('user_01') resolves to the text form, an
-- integer to the bigint one; a call that mixes an integer with a key that is
-- not one gives every key as text.
CREATE FUNCTION loginas.check(admin_id text, customer_id text,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id, "check".customer_id);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;

CREATE FUNCTION loginas.check(admin_id bigint, customer_id bigint,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id::pg_catalog.text, "check".customer_id::pg_catalog.text);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.check(admin_id bigint, customer_id text,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id::pg_catalog.text, "check".customer_id);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;

-- the store views an admin may choose for a customer: store_id and
-- website_id when they are integers, store_key and website_key (any type,
-- as text) always
CREATE FUNCTION loginas.store_choices(admin_id text, customer_id text)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean,
				   store_key text, website_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate(store_choices.admin_id, store_choices.customer_id);
BEGIN
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, v.sqlstate, v.message, v.detail, v.hint);
	END IF;
	RETURN QUERY
	SELECT CASE WHEN pg_catalog.jsonb_typeof(sv OPERATOR(pg_catalog.->) 'store_id') OPERATOR(pg_catalog.=) 'number'
				THEN (sv OPERATOR(pg_catalog.->>) 'store_id')::bigint END,
		   sv OPERATOR(pg_catalog.->>) 'name',
		   CASE WHEN pg_catalog.jsonb_typeof(sv OPERATOR(pg_catalog.->) 'website_id') OPERATOR(pg_catalog.=) 'number'
				THEN (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint END,
		   sv OPERATOR(pg_catalog.->>) 'website_name',
		   (sv OPERATOR(pg_catalog.->>) 'is_active')::boolean
		   AND (loginas._get_setting('account_sharing') OPERATOR(pg_catalog.=) 'global'
				OR COALESCE((sv OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (ARRAY(
					SELECT pg_catalog.jsonb_array_elements_text(v.customer OPERATOR(pg_catalog.->) 'website_id'))), false)),
		   sv OPERATOR(pg_catalog.->>) 'store_id',
		   sv OPERATOR(pg_catalog.->>) 'website_id'
	  FROM loginas._store_views() sv
	 ORDER BY 3, 1, 7, 6;
END
$$;

-- (1.2's columns: integer shops call it)
CREATE FUNCTION loginas.store_choices(admin_id bigint, customer_id bigint)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT c.store_id, c.name, c.website_id, c.website_name, c.selectable
				   FROM loginas.store_choices(store_choices.admin_id::pg_catalog.text,
											  store_choices.customer_id::pg_catalog.text) c;
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.store_choices(admin_id bigint, customer_id text)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean,
				   store_key text, website_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.store_choices(store_choices.admin_id::pg_catalog.text,
													 store_choices.customer_id);
END
$$;

-- what begin and begin_from return: the one-time ticket for the storefront
-- (store_id when store views have integer keys; store_key, any type, always)
CREATE TYPE loginas.ticket AS (
	token		text,
	expires_at	timestamptz,
	store_id	bigint,
	store_key	text
);

-- the binding kind of a document kind of begin_from (NULL: not one)
CREATE FUNCTION loginas._document_binding(p_document_kind text)
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE p_document_kind WHEN 'order' THEN 'orders' WHEN 'invoice' THEN 'invoices'
								WHEN 'shipment' THEN 'shipments' WHEN 'credit_memo' THEN 'credit_memos' END
$$;

-- shared by begin and begin_from: every key of any type, as text
CREATE FUNCTION loginas._begin(p_admin_key text, p_customer_key text, p_store_key text, p_reason text,
							   p_source text, p_source_kind text, p_source_document_key text,
							   p_read_only boolean, p_client_addr inet)
	RETURNS loginas.ticket
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	st jsonb;
	prior record;
	new_id bigint;
	attempt int := 0;
	constraint_name text;
	t loginas.ticket;
	p_customer_id bigint;
	log_id bigint;
	-- the ids of 1.2's columns (NULL when the keys are not integers)
	p_admin_id bigint := loginas._key_id('admins', p_admin_key);
BEGIN
	PERFORM loginas._require_writable('loginas.begin()');
	p_reason := NULLIF(pg_catalog.btrim(p_reason), '');
	IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._refuse('begin', '22023', 'reason is too long', 'At most 1000 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF p_source IS NOT NULL AND pg_catalog.length(p_source) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._refuse('begin', '22023', 'source is too long', 'At most 200 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;

	v := loginas._evaluate(p_admin_key, p_customer_key, true);
	-- the keys as canonical text, customer_id when it is an integer; a
	-- refusal names the admin and the customer by them (none when the key is
	-- not a value of the key's type)
	p_admin_key := loginas._canon_key('admins', p_admin_key);
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key, p_admin_key => p_admin_key);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key, p_admin_key => p_admin_key);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_key);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	-- the store view's key as the binding read it (canonical)
	t.store_key := st OPERATOR(pg_catalog.->>) 'store_id';
	t.store_id := loginas._key_id('store_views', t.store_key);
	p_source_document_key := loginas._canon_key(loginas._document_binding(p_source_kind), p_source_document_key);

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_key OPERATOR(pg_catalog.=) p_admin_key AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_key);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, customer_key, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr, admin_key, store_key, document_key)
			VALUES (p_admin_id, p_customer_id, p_customer_key, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind,
					loginas._key_id(loginas._document_binding(p_source_kind), p_source_document_key),
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()),
					p_admin_key, t.store_key, p_source_document_key)
			RETURNING session_id INTO new_id;
			EXIT;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent begin by the same admin committed first: end it too
			-- (READ COMMITTED sees it in the next round; a transaction-wide
			-- snapshot never will, so that caller must retry the transaction)
			GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
			IF constraint_name OPERATOR(pg_catalog.<>) 'session_one_live_per_admin' THEN
				RAISE;
			END IF;
			IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed'
			   OR attempt OPERATOR(pg_catalog.>=) 5 THEN
				PERFORM loginas._refuse('begin', '40001',
					'could not begin Login as Customer: a concurrent begin by the same admin committed first',
					'An admin has one live ticket or session at a time.', 'Retry the transaction.',
					p_admin_id, p_customer_id,
					p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
					p_customer_key => p_customer_key, p_admin_key => p_admin_key,
					p_store_key => CASE WHEN t.store_id IS NULL THEN t.store_key END);
			END IF;
		END;
	END LOOP;

	log_id := loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr, p_customer_key, p_admin_key, t.store_key);
	PERFORM loginas._notify_session('ticket_issued', new_id, log_id);
	RETURN t;
END
$$;

CREATE FUNCTION loginas.begin(admin_id text, customer_id text, store_id text DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id, "begin".customer_id, "begin".store_id, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;

CREATE FUNCTION loginas.begin(admin_id bigint, customer_id bigint, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id::pg_catalog.text, "begin".customer_id::pg_catalog.text,
								 "begin".store_id::pg_catalog.text, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.begin(admin_id bigint, customer_id text, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id::pg_catalog.text, "begin".customer_id,
								 "begin".store_id::pg_catalog.text, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;

CREATE FUNCTION loginas.begin_from(admin_id text, document_kind text, document_id text,
								   store_id text DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	binding_kind text := loginas._document_binding(begin_from.document_kind);
	label text := pg_catalog.replace(begin_from.document_kind, '_', ' ');
	doc jsonb;
	-- a refusal names the admin by its id, else by its key (canonical)
	refused_admin bigint := loginas._key_id('admins', begin_from.admin_id);
	refused_admin_key text := loginas._canon_key('admins', begin_from.admin_id);
BEGIN
	IF binding_kind IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('unrecognized document kind "%s"', begin_from.document_kind), NULL,
			'Valid kinds are: order, invoice, shipment, credit_memo.', refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason,
			p_admin_key => refused_admin_key);
	END IF;
	doc := loginas._lookup(binding_kind, begin_from.document_id);
	IF doc IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('%s %s does not exist', label, begin_from.document_id),
			pg_catalog.format('No row of %s has document_id %s.', loginas._bound_relation(binding_kind),
							  begin_from.document_id), NULL, refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason,
			p_admin_key => refused_admin_key);
	END IF;
	IF doc OPERATOR(pg_catalog.->>) 'customer_id' IS NULL THEN
		PERFORM loginas._refuse('begin', '55000',
			pg_catalog.format('cannot login as the customer of %s %s: it belongs to a guest', label,
							  doc OPERATOR(pg_catalog.->>) 'reference'),
			'Guest orders have no customer account to log in to.', NULL, refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason,
			p_admin_key => refused_admin_key);
	END IF;
	-- the document's key as the binding read it (canonical)
	RETURN loginas._begin(begin_from.admin_id, doc OPERATOR(pg_catalog.->>) 'customer_id',
								 begin_from.store_id, begin_from.reason,
								 pg_catalog.format('%s %s', label, doc OPERATOR(pg_catalog.->>) 'reference'),
								 begin_from.document_kind, doc OPERATOR(pg_catalog.->>) 'document_id',
								 begin_from.read_only, begin_from.client_addr);
END
$$;

CREATE FUNCTION loginas.begin_from(admin_id bigint, document_kind text, document_id bigint,
								   store_id bigint DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.begin_from(begin_from.admin_id::pg_catalog.text, begin_from.document_kind,
							  begin_from.document_id::pg_catalog.text, begin_from.store_id::pg_catalog.text,
							  begin_from.reason, begin_from.read_only, begin_from.client_addr);
END
$$;

CREATE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz, customer_key text,
				   store_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
	log_id bigint;
	invalid constant text := 'Login as Customer ticket is invalid or has expired.';
	hint constant text := 'Start Login as Customer again from the admin panel.';
BEGIN
	PERFORM loginas._require_writable('loginas.redeem()');
	SELECT * INTO s FROM loginas.session ls
	 WHERE ls.ticket_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(redeem.token, ''))
	   FOR UPDATE;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'No ticket matches the given token.', hint,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.redeemed_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'The ticket has already been used.', hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	log_id := loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr, s.customer_key, s.admin_key, s.store_key);
	PERFORM loginas._notify_session('session_started', s.session_id, log_id);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	customer_key := s.customer_key;
	store_id := s.store_id;
	store_key := s.store_key;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;

CREATE FUNCTION loginas."end"(session_key text, reason text DEFAULT 'logout')
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.end()');
	IF "end".reason IS NULL OR "end".reason NOT IN ('logout', 'expired', 'customer_inactive') THEN
		PERFORM loginas._refuse(NULL, '22023',
			CASE WHEN "end".reason IS NULL THEN 'end reason cannot be NULL'
				 ELSE pg_catalog.format('invalid end reason "%s"', "end".reason) END, NULL,
			'The storefront ends a session with reason logout, expired or customer_inactive.');
	END IF;
	SELECT ls.session_id INTO id FROM loginas.session ls
	 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE("end".session_key, ''));
	IF id IS NULL THEN
		PERFORM loginas._refuse(NULL, '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.');
	END IF;
	RETURN loginas._end_session(id, "end".reason);
END
$$;

-- an admin of any key type, given as text (the bigint form below calls it)
CREATE FUNCTION loginas.end_admin(admin_id text, reason text DEFAULT 'admin_logout')
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	n integer := 0;
	by_key text := loginas._canon_key('admins', end_admin.admin_id);
BEGIN
	PERFORM loginas._require_writable('loginas.end_admin()');
	IF end_admin.reason IS NULL OR end_admin.reason NOT IN ('admin_logout', 'admin_inactive', 'permission_revoked') THEN
		PERFORM loginas._refuse(NULL, '22023',
			CASE WHEN end_admin.reason IS NULL THEN 'end reason cannot be NULL'
				 ELSE pg_catalog.format('invalid end reason "%s"', end_admin.reason) END, NULL,
			'The admin backend ends sessions with reason admin_logout, admin_inactive or permission_revoked.');
	END IF;
	FOR s IN SELECT ls.session_id FROM loginas.session ls
			  WHERE ls.admin_key OPERATOR(pg_catalog.=) by_key AND ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF loginas._end_session(s.session_id, end_admin.reason, by_key) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

CREATE FUNCTION loginas.end_admin(admin_id bigint, reason text DEFAULT 'admin_logout')
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.end_admin(end_admin.admin_id::pg_catalog.text, end_admin.reason);
END
$$;

CREATE FUNCTION loginas.expire()
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	v loginas._verdict;
	why text;
	problem text;
	state text;
	n integer := 0;
BEGIN
	PERFORM loginas._require_writable('loginas.expire()');
	FOR s IN SELECT ls.session_id, ls.admin_key, ls.customer_key,
					(ls.redeemed_at IS NULL AND ls.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
					OR ls.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
			   FROM loginas.session ls
			  WHERE ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF s.is_expired THEN
			why := 'expired';
		ELSE
			BEGIN
				v := loginas._evaluate(s.admin_key, s.customer_key);
				why := v.code;
			EXCEPTION
				WHEN serialization_failure OR deadlock_detected THEN
					RAISE;
				WHEN OTHERS THEN
					-- a session whose conditions cannot be read (a bound view that
					-- fails, rows of one admin that disagree) is left as it is
					-- (assume() refuses it the same way); the others are checked
					GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
					RAISE WARNING 'loginas: session % was not checked: %', s.session_id, problem
						USING DETAIL = pg_catalog.format('SQLSTATE %s.', state),
							  HINT = 'Fix the bound relation; loginas.expire() checks the session again next time.';
					why := NULL;
			END;
		END IF;
		IF why IS NOT NULL AND loginas._end_session(s.session_id, why) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

COMMENT ON FUNCTION loginas.expire() IS 'ends tickets and sessions past their time or whose conditions failed; schedule it (e.g. every minute with pg_cron)';

-- a secret's plain SHA-256 bound to this database as loginas._hash binds it
-- (the upgrade from 1.1, whose hashes were plain, converts them with it)
CREATE FUNCTION loginas._bind_hash(p_hash bytea) RETURNS bytea
	LANGUAGE c STABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_bind_hash';

-- In REPEATABLE READ and SERIALIZABLE a revocation's snapshot does not show
-- the ticket of a begin it waited for, and a share lock leaves nothing that
-- would make it fail: this trigger does (src/revocation.c).
CREATE FUNCTION loginas._serialize_revocation() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'loginas_serialize_revocation';

CREATE TRIGGER setting_revocation AFTER UPDATE ON loginas.setting FOR EACH ROW
	WHEN (NEW.name OPERATOR(pg_catalog.=) 'enabled' AND NEW.value OPERATOR(pg_catalog.=) 'off')
	EXECUTE FUNCTION loginas._serialize_revocation();

CREATE TRIGGER role_resource_revocation AFTER DELETE ON loginas.role_resource FOR EACH ROW
	WHEN (OLD.resource OPERATOR(pg_catalog.=) 'login')
	EXECUTE FUNCTION loginas._serialize_revocation();

CREATE TRIGGER consent_revocation AFTER UPDATE ON loginas.consent FOR EACH ROW
	WHEN (NOT NEW.allowed OR NEW.valid_until IS NOT NULL)
	EXECUTE FUNCTION loginas._serialize_revocation();
