/*
 * loginas--1.0.sql
 *		"Login as Customer" for shop databases, enforced in PostgreSQL.
 *
 * Sections, in the order of the flow:
 *	 1. database roles (the capability split)
 *	 2. settings          (Stores > Configuration > Customers > Login as Customer)
 *	 3. bindings          (the shop's own customers, admins, store views, documents)
 *	 4. role resources    (System > Permissions > User Roles)
 *	 5. consent           ("Allow remote shopping assistance")
 *	 6. action log        (Admin Actions Report, action group "Login As Customer")
 *	 7. policy            (the checks every step re-makes)
 *	 8. sessions          (ticket -> session -> context, and their ends)
 *	 9. privileges
 *	10. write attribution on tracked tables (placed before 9 in the file)
 *	11. reports (placed before 9 in the file)
 *
 * Conventions: every function that runs with the extension owner's rights is
 * SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp, and every
 * name in it is schema-qualified; functions whose name starts with an
 * underscore are internal and granted to nobody.
 */

\echo Use "CREATE EXTENSION loginas" to load this file. \quit

------------------------------------------------------------------------------
-- 1. Database roles: the shop grants these to its own login roles.
--    loginas_admin       the admin backend (configure, bind, grant, begin, ...)
--    loginas_storefront  the storefront (redeem, assume, end, own consent, ...)
--    loginas_reporting   reporting (reads the action log)
--    loginas_reader      granted to nobody: loginas reads the shop's bound
--                        relations as this powerless role (src/reader.c)
------------------------------------------------------------------------------
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['loginas_admin', 'loginas_storefront', 'loginas_reporting', 'loginas_reader']
	LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

------------------------------------------------------------------------------
-- C functions (src/context.c, src/token.c)
------------------------------------------------------------------------------
CREATE FUNCTION loginas._new_secret() RETURNS text
	LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_new_secret';

CREATE FUNCTION loginas._context_set(session_id bigint, admin_id bigint, customer_id bigint,
									 store_id bigint, read_only boolean, banner text,
									 admin_username text, customer_email text, source text,
									 reason text, client_addr text)
	RETURNS void LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_context_set';

CREATE FUNCTION loginas._context_clear_session(session_id bigint) RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_context_clear_session';

CREATE FUNCTION loginas._raise(sqlstate text, message text, detail text, hint text) RETURNS void
	LANGUAGE c VOLATILE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_raise';

CREATE FUNCTION loginas.current_session() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_session';
CREATE FUNCTION loginas.current_admin() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_admin';
CREATE FUNCTION loginas.current_customer() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_customer';
CREATE FUNCTION loginas.current_store() RETURNS bigint
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_store';
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

------------------------------------------------------------------------------
-- 2. Settings
------------------------------------------------------------------------------
CREATE TABLE loginas.setting_definition (
	name			text PRIMARY KEY,
	kind			text NOT NULL CHECK (kind IN ('boolean', 'choice', 'interval')),
	choices			text[],
	default_value	text NOT NULL,
	label			text NOT NULL,
	description		text NOT NULL
);

INSERT INTO loginas.setting_definition VALUES
	('enabled', 'boolean', NULL, 'off', 'Enable Login as Customer',
	 'Admin users with the "login" resource may log in as customers who allow remote shopping assistance.'),
	('disable_page_cache', 'boolean', NULL, 'on', 'Disable Page Cache for Admin User',
	 'The storefront should bypass its page cache while an admin is logged in as a customer.'),
	('store_view_selection', 'choice', ARRAY['auto', 'manual'], 'auto', 'Store View to Log in',
	 'auto: the customer''s own store view (Auto-Detection); manual: the admin picks one (Manual Selection).'),
	('account_sharing', 'choice', ARRAY['global', 'website'], 'website', 'Share Customer Accounts',
	 'website: a customer may be entered only on store views of their own website; global: on any.'),
	('ticket_ttl', 'interval', NULL, '00:01:00', 'Ticket lifetime',
	 'How long a ticket from loginas.begin() can be redeemed.'),
	('session_ttl', 'interval', NULL, '01:00:00', 'Session lifetime',
	 'Hard end of a session, counted from its redemption.'),
	('require_reason', 'boolean', NULL, 'off', 'Require a reason',
	 'A reason (ticket number, call id) must be given to begin a session.');

-- values set by loginas.configure(); a setting without a row has its default
CREATE TABLE loginas.setting (
	name			text PRIMARY KEY REFERENCES loginas.setting_definition,
	value			text NOT NULL,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by_admin bigint,
	changed_by_role	name NOT NULL DEFAULT SESSION_USER
);

CREATE VIEW loginas.settings AS
	SELECT d.name,
		   COALESCE(s.value, d.default_value) AS value,
		   d.default_value,
		   d.label,
		   d.description,
		   d.choices,
		   s.changed_at,
		   s.changed_by_admin
	  FROM loginas.setting_definition d
	  LEFT JOIN loginas.setting s USING (name)
	 ORDER BY d.name;

CREATE FUNCTION loginas._get_setting(p_name text) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT value FROM loginas.setting WHERE name OPERATOR(pg_catalog.=) p_name),
		(SELECT default_value FROM loginas.setting_definition WHERE name OPERATOR(pg_catalog.=) p_name))
$$;

------------------------------------------------------------------------------
-- 6. Action log (defined early: every later step writes to it)
------------------------------------------------------------------------------
CREATE TABLE loginas.action_log (
	log_id			bigserial PRIMARY KEY,
	logged_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	action_group	text NOT NULL DEFAULT 'Login As Customer',
	action			text NOT NULL,
	result			text NOT NULL CHECK (result IN ('success', 'failure')),
	admin_id		bigint,
	admin_username	text,
	customer_id		bigint,
	customer_email	text,
	session_id		bigint,
	store_id		bigint,
	source			text,
	reason			text,
	client_addr		inet DEFAULT pg_catalog.inet_client_addr(),
	db_role			name NOT NULL DEFAULT SESSION_USER,
	details			jsonb NOT NULL DEFAULT '{}',
	-- tamper evidence (src/logchain.c): the row's place in its backend's hash
	-- chain, the hash of the row before it there, and its own hash
	chain_id		bigint NOT NULL,
	chain_seq		bigint NOT NULL,
	prev_hash		bytea NOT NULL,
	row_hash		bytea NOT NULL,
	UNIQUE (chain_id, chain_seq)
);
CREATE INDEX action_log_logged_at ON loginas.action_log (logged_at);
CREATE INDEX action_log_customer ON loginas.action_log (customer_id, logged_at);
CREATE INDEX action_log_admin ON loginas.action_log (admin_id, logged_at);
CREATE INDEX action_log_session ON loginas.action_log (session_id);

COMMENT ON TABLE loginas.action_log IS 'Login as Customer actions, read by the Admin Actions Report (action group "Login As Customer"); append-only, hash-chained';

-- every chain ever started: one per backend that wrote to the log
CREATE TABLE loginas.log_chain (
	chain_id	bigserial PRIMARY KEY,
	started_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	backend_pid	int NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
	db_role		name NOT NULL DEFAULT SESSION_USER
);

-- where each chain now starts, after loginas.purge_log() removed its beginning
CREATE TABLE loginas.log_checkpoint (
	chain_id	bigint PRIMARY KEY,
	chain_seq	bigint NOT NULL,		-- the last purged position
	row_hash	bytea NOT NULL,			-- and its hash
	purged_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE FUNCTION loginas._chain_id(log_relid oid) RETURNS bigint
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_chain_id';
CREATE FUNCTION loginas._chain_append(chain_id bigint, content text, log_relid oid,
									  OUT chain_id bigint, OUT chain_seq bigint, OUT prev_hash bytea, OUT row_hash bytea)
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_chain_append';
CREATE FUNCTION loginas._log_guard() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'loginas_log_guard';
CREATE FUNCTION loginas._allow_purge(allowed boolean) RETURNS void
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_allow_purge';

CREATE TRIGGER action_log_append_only BEFORE UPDATE OR DELETE ON loginas.action_log
	FOR EACH ROW EXECUTE FUNCTION loginas._log_guard();
CREATE TRIGGER action_log_no_truncate BEFORE TRUNCATE ON loginas.action_log
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._log_guard();
ALTER TABLE loginas.action_log ENABLE ALWAYS TRIGGER action_log_append_only;
ALTER TABLE loginas.action_log ENABLE ALWAYS TRIGGER action_log_no_truncate;

-- the canonical text of a log row: what its hash covers (not DateStyle or
-- TimeZone dependent: the time is the exact epoch, jsonb text is canonical)
CREATE FUNCTION loginas._log_content(p_log_id bigint, p_logged_at timestamptz, p_action_group text,
									 p_action text, p_result text, p_admin_id bigint, p_admin_username text,
									 p_customer_id bigint, p_customer_email text, p_session_id bigint,
									 p_store_id bigint, p_source text, p_reason text, p_client_addr inet,
									 p_db_role name, p_details jsonb)
	RETURNS text
	LANGUAGE sql STABLE		-- no SET clause: inlined into _append and verify_log (which pin search_path)
	AS $$
	SELECT pg_catalog.jsonb_build_array(p_log_id, EXTRACT(epoch FROM p_logged_at), p_action_group, p_action, p_result, p_admin_id,
		p_admin_username, p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
		p_client_addr::pg_catalog.text, p_db_role::pg_catalog.text, p_details)::pg_catalog.text
$$;

-- append one row to the log, linked into this backend's chain
CREATE FUNCTION loginas._append(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id bigint := pg_catalog.nextval('loginas.action_log_log_id_seq');
	log_relid oid := 'loginas.action_log'::pg_catalog.regclass;
	cid bigint := loginas._chain_id(log_relid);
	c record;
BEGIN
	IF cid OPERATOR(pg_catalog.=) 0 THEN
		INSERT INTO loginas.log_chain DEFAULT VALUES RETURNING chain_id INTO cid;
	END IF;
	p_details := pg_catalog.jsonb_strip_nulls(COALESCE(p_details, '{}'));
	c := loginas._chain_append(cid, loginas._log_content(id, p_logged_at, 'Login As Customer', p_action, p_result,
			p_admin_id, p_admin_username, p_customer_id, p_customer_email, p_session_id, p_store_id,
			p_source, p_reason, p_client_addr, p_db_role, p_details), log_relid);
	INSERT INTO loginas.action_log (log_id, logged_at, action_group, action, result, admin_id, admin_username,
									customer_id, customer_email, session_id, store_id, source, reason,
									client_addr, db_role, details, chain_id, chain_seq, prev_hash, row_hash)
	VALUES (id, p_logged_at, 'Login As Customer', p_action, p_result, p_admin_id, p_admin_username,
			p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
			p_client_addr, p_db_role, p_details, c.chain_id, c.chain_seq, c.prev_hash, c.row_hash);
	RETURN id;
END
$$;

------------------------------------------------------------------------------
-- 3. Bindings to the shop's own tables
------------------------------------------------------------------------------
-- the columns each kind of binding must have; type_class: id (int2/int4/int8),
-- text (text, varchar, char, name), bool (boolean)
CREATE TABLE loginas.binding_column (
	kind		text NOT NULL,
	column_name	text NOT NULL,
	type_class	text NOT NULL CHECK (type_class IN ('id', 'text', 'bool')),
	is_key		boolean NOT NULL DEFAULT false,
	position	int NOT NULL,
	PRIMARY KEY (kind, column_name)
);

INSERT INTO loginas.binding_column (kind, column_name, type_class, is_key, position)
SELECT k.kind, c.column_name, c.type_class, c.ord = 1, c.ord
  FROM (VALUES
		('customers', ARRAY['customer_id:id', 'email:text', 'display_name:text', 'is_active:bool',
							'website_id:id', 'store_id:id']),
		('admins', ARRAY['admin_id:id', 'username:text', 'display_name:text', 'is_active:bool',
						 'role:text']),
		('store_views', ARRAY['store_id:id', 'website_id:id', 'name:text', 'website_name:text',
							  'is_active:bool', 'is_default:bool']),
		('orders', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('invoices', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('shipments', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('credit_memos', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text'])
	   ) AS k(kind, cols),
	   LATERAL (SELECT pg_catalog.split_part(x, ':', 1) AS column_name,
					   pg_catalog.split_part(x, ':', 2) AS type_class, o AS ord
				  FROM pg_catalog.unnest(k.cols) WITH ORDINALITY AS u(x, o)) c;

CREATE TABLE loginas.binding (
	kind		text PRIMARY KEY,
	relation	regclass NOT NULL,
	bound_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	bound_by_admin bigint,
	bound_by_role name NOT NULL DEFAULT SESSION_USER
);

CREATE VIEW loginas.bindings AS
	SELECT k.kind,
		   CASE WHEN cl.oid IS NOT NULL THEN b.relation END AS relation,
		   CASE WHEN b.relation IS NULL THEN 'unbound'
				WHEN cl.oid IS NULL THEN 'dropped'
				ELSE 'bound' END AS status,
		   (SELECT pg_catalog.array_agg(c.column_name ORDER BY c.position)
			  FROM loginas.binding_column c WHERE c.kind OPERATOR(pg_catalog.=) k.kind) AS required_columns,
		   b.bound_at
	  FROM (SELECT DISTINCT kind FROM loginas.binding_column) k
	  LEFT JOIN loginas.binding b USING (kind)
	  LEFT JOIN pg_catalog.pg_class cl ON cl.oid OPERATOR(pg_catalog.=) b.relation
	 ORDER BY k.kind;

-- the relation bound as p_kind; raises when there is none or it was dropped
CREATE FUNCTION loginas._bound_relation(p_kind text, p_missing_ok boolean DEFAULT false)
	RETURNS regclass
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rel regclass;
BEGIN
	SELECT b.relation INTO rel FROM loginas.binding b WHERE b.kind OPERATOR(pg_catalog.=) p_kind;
	IF rel IS NULL THEN
		IF p_missing_ok THEN
			RETURN NULL;
		END IF;
		PERFORM loginas._raise('55000', pg_catalog.format('no relation is bound as "%s"', p_kind), NULL,
			pg_catalog.format('Bind one with loginas.bind(%L, ''schema.relation'').', p_kind));
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel) THEN
		IF p_missing_ok THEN
			RETURN NULL;
		END IF;
		PERFORM loginas._raise('55000', pg_catalog.format('the relation bound as "%s" no longer exists', p_kind), NULL,
			pg_catalog.format('Bind it again with loginas.bind(%L, ''schema.relation'').', p_kind));
	END IF;
	RETURN rel;
END
$$;

-- The only function that reads the shop's bound relations (src/reader.c):
-- it runs its query as loginas_reader, a role granted to nobody, as a
-- security-restricted operation whose setting changes are undone -- whatever
-- a bound view or a column's type calls runs with no rights but SELECT on the
-- bound relations, and leaves nothing behind.  bind() requires that
-- loginas_reader may read the relation (the shop grants it explicitly).
CREATE FUNCTION loginas._read_bound(p_sql text, p_id bigint, p_relation regclass)
	RETURNS jsonb
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_read_bound';

-- "SELECT <the kind's columns, cast to int8/text/bool> FROM <relation>"
CREATE FUNCTION loginas._bound_select(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('SELECT %s FROM %s',
			   pg_catalog.string_agg(
				   CASE c.type_class
						WHEN 'id' THEN pg_catalog.format('%1$I::pg_catalog.int8 AS %1$I', c.column_name)
						WHEN 'text' THEN pg_catalog.format('%1$I::pg_catalog.text AS %1$I', c.column_name)
						ELSE pg_catalog.format('%1$I::pg_catalog.bool AS %1$I', c.column_name)
				   END, ', ' ORDER BY c.position),
			   p_rel)
	  FROM loginas.binding_column c
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
$$;

-- one row of a bound relation, by its key, as jsonb (NULL when there is
-- none); plans kept per backend (src/reader.c)
CREATE FUNCTION loginas._lookup(p_kind text, p_id bigint, p_missing_ok boolean DEFAULT false)
	RETURNS jsonb
	LANGUAGE c STABLE
	AS 'MODULE_PATHNAME', 'loginas_lookup';

-- every store view of the store_views binding
CREATE FUNCTION loginas._store_views()
	RETURNS SETOF jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_array_elements(
		loginas._read_bound(
			pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t)) FROM (%s) t',
							  loginas._bound_select('store_views', r.rel)),
			NULL, r.rel))
	  FROM (SELECT loginas._bound_relation('store_views') AS rel) r
$$;

------------------------------------------------------------------------------
-- log writer
------------------------------------------------------------------------------
CREATE FUNCTION loginas._log(p_action text, p_result text, p_admin_id bigint, p_customer_id bigint,
							 p_session_id bigint DEFAULT NULL, p_store_id bigint DEFAULT NULL,
							 p_source text DEFAULT NULL, p_reason text DEFAULT NULL,
							 p_details jsonb DEFAULT '{}', p_client_addr inet DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- rows of a session (writes, notes) carry its source document and reason
	-- and the storefront's address, unless the caller's is known
	IF p_session_id IS NOT NULL AND ((p_source IS NULL AND p_reason IS NULL)
									 OR (p_client_addr IS NULL AND pg_catalog.inet_client_addr() IS NULL)) THEN
		SELECT CASE WHEN p_source IS NULL AND p_reason IS NULL THEN s.source ELSE p_source END,
			   CASE WHEN p_source IS NULL AND p_reason IS NULL THEN s.reason ELSE p_reason END,
			   COALESCE(p_client_addr, pg_catalog.inet_client_addr(), s.storefront_addr)
		  INTO p_source, p_reason, p_client_addr
		  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	END IF;
	RETURN loginas._append(pg_catalog.clock_timestamp(), p_action, p_result,
			p_admin_id, loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username',
			p_customer_id, loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email',
			p_session_id, p_store_id, p_source, p_reason,
			COALESCE(p_client_addr, pg_catalog.inet_client_addr()), SESSION_USER, p_details);
END
$$;

-- hands a refusal to the durable refusal log (src/refusal_queue.c); false
-- when there is none (loginas not in shared_preload_libraries)
CREATE FUNCTION loginas._queue_refusal(action text, sqlstate text, message text, detail text,
									   admin_id bigint, customer_id bigint, session_id bigint,
									   client_addr inet DEFAULT NULL, reason text DEFAULT NULL,
									   source text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_queue_refusal';

-- writes a queued refusal as a 'failure' row, with the time, role and address
-- of the refused call; run by the durable refusal log outside that call's
-- transaction.  Never fails on a lookup: a refusal is logged whatever else.
CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text DEFAULT NULL, p_source text DEFAULT NULL)
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
BEGIN
	BEGIN
		username := loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username';
		email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
	EXCEPTION WHEN OTHERS THEN
		NULL;		-- the binding is unreadable: log ids only
	END;
	SELECT s.source, s.reason, s.store_id INTO src, why, store
	  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	-- a refused begin has no session: it carries the reason and source given to it
	src := COALESCE(p_source, src);
	why := COALESCE(p_reason, why);
	RETURN loginas._append(p_logged_at, p_action OPERATOR(pg_catalog.||) '_refused', 'failure',
						   p_admin_id, username, p_customer_id, email, p_session_id, store, src, why,
						   p_client_addr, p_db_role,
						   pg_catalog.jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message,
														 'detail', p_detail));
END
$$;

-- raise a refusal; refusals of begin/redeem/assume go to the durable refusal
-- log when there is one (the caller's transaction rolls back, so no row it
-- writes survives), and always to the server log
CREATE FUNCTION loginas._refuse(p_action text, p_sqlstate text, p_message text,
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
		RAISE LOG 'loginas: % refused: % % (admin %, customer %, session %, role %)',
			p_action, p_message, COALESCE(p_detail, ''),
			COALESCE(p_admin_id::text, '-'), COALESCE(p_customer_id::text, '-'),
			COALESCE(p_session_id::text, '-'), SESSION_USER;
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

------------------------------------------------------------------------------
-- 8a. Sessions table (a ticket is a session that has not been redeemed yet)
------------------------------------------------------------------------------
CREATE TABLE loginas.session (
	session_id		bigserial PRIMARY KEY,
	admin_id		bigint NOT NULL,
	customer_id		bigint NOT NULL,
	store_id		bigint NOT NULL,
	read_only		boolean NOT NULL DEFAULT false,
	reason			text,
	source			text,
	source_kind		text,
	source_document_id bigint,
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
											   'customer_inactive', 'feature_disabled', 'expired')),
	ended_by_admin	bigint,
	ended_by_role	name,
	CHECK ((redeemed_at IS NULL) = (key_hash IS NULL)),
	CHECK ((redeemed_at IS NULL) = (expires_at IS NULL)),
	CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);

-- one live ticket or session per admin, enforced by the index itself
CREATE UNIQUE INDEX session_one_live_per_admin ON loginas.session (admin_id) WHERE ended_at IS NULL;
CREATE INDEX session_live_customer ON loginas.session (customer_id) WHERE ended_at IS NULL;

COMMENT ON TABLE loginas.session IS 'Login as Customer tickets and sessions; secrets are stored only as SHA-256 hashes';

-- (no SET clause, so that it is inlined: its body names only pg_catalog)
CREATE FUNCTION loginas._hash(p_secret text) RETURNS bytea
	LANGUAGE sql IMMUTABLE STRICT
	AS $$ SELECT pg_catalog.sha256(pg_catalog.convert_to(p_secret, 'UTF8')) $$;

-- end one ticket or session (if still live): lock it, record the end, log it
CREATE FUNCTION loginas._end_session(p_session_id bigint, p_reason text, p_by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
BEGIN
	-- FOR UPDATE waits for transactions acting in the session (they hold
	-- FOR KEY SHARE from loginas.assume) and re-reads the row afterwards
	SELECT * INTO s FROM loginas.session
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id AND ended_at IS NULL
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE loginas.session
	   SET ended_at = pg_catalog.now(), end_reason = p_reason,
		   ended_by_admin = p_by_admin, ended_by_role = SESSION_USER
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id;
	PERFORM loginas._log('session_ended', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('end_reason', p_reason,
													   'redeemed', s.redeemed_at IS NOT NULL,
													   'ended_by_admin', p_by_admin));
	PERFORM loginas._context_clear_session(p_session_id);
	RETURN true;
END
$$;

------------------------------------------------------------------------------
-- 7. Policy: the checks made by check, begin, redeem, assume and expire
------------------------------------------------------------------------------
CREATE TYPE loginas._verdict AS (
	code		text,		-- NULL when allowed; else the end reason it maps to
	sqlstate	text,
	message		text,
	detail		text,
	hint		text,
	admin		jsonb,
	customer	jsonb
);

-- p_lock (begin, redeem): write-lock the rows the verdict rests on -- the
-- 'enabled' setting, the role's 'login' resource, the customer's consent -- by
-- updating them.  A concurrent revocation then waits for this transaction and,
-- in READ COMMITTED, sees its ticket and ends it; in REPEATABLE READ it fails
-- with a serialization error instead of missing the ticket.
CREATE FUNCTION loginas._evaluate(p_admin_id bigint, p_customer_id bigint, p_lock boolean DEFAULT false)
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
		UPDATE loginas.setting st SET value = st.value
		 WHERE st.name OPERATOR(pg_catalog.=) 'enabled' AND st.value OPERATOR(pg_catalog.=) 'on';
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
	IF p_lock THEN
		UPDATE loginas.role_resource r SET last_used_at = pg_catalog.now()
		 WHERE r.role OPERATOR(pg_catalog.=) (v.admin OPERATOR(pg_catalog.->>) 'role')
		   AND r.resource OPERATOR(pg_catalog.=) 'login';
		has_login := FOUND;
	ELSE
		has_login := EXISTS (SELECT FROM loginas.role_resource r
							  WHERE r.role OPERATOR(pg_catalog.=) (v.admin OPERATOR(pg_catalog.->>) 'role')
								AND r.resource OPERATOR(pg_catalog.=) 'login');
	END IF;
	IF NOT has_login THEN
		v.code := 'permission_revoked'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is not allowed to login as a customer',
									   v.admin OPERATOR(pg_catalog.->>) 'username');
		v.detail := pg_catalog.format('Role "%s" does not have the "Allow Login as Customer" resource.',
									  v.admin OPERATOR(pg_catalog.->>) 'role');
		v.hint := pg_catalog.format('Grant it with loginas.grant(%L, ''login'').', v.admin OPERATOR(pg_catalog.->>) 'role');
		RETURN v;
	END IF;

	v.customer := loginas._lookup('customers', p_customer_id);
	IF v.customer IS NULL THEN
		v.code := 'customer_inactive'; v.sqlstate := '22023';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_id);
		RETURN v;
	END IF;
	IF NOT COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('Customer account %s is inactive.', p_customer_id);
		RETURN v;
	END IF;

	IF p_lock THEN
		UPDATE loginas.consent cs SET last_used_at = pg_catalog.now()
		 WHERE cs.customer_id OPERATOR(pg_catalog.=) p_customer_id AND cs.allowed
		   AND (cs.valid_until IS NULL OR cs.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		RETURNING * INTO c;
	END IF;
	IF c.customer_id IS NULL THEN
		SELECT * INTO c FROM loginas.consent WHERE customer_id OPERATOR(pg_catalog.=) p_customer_id;
	END IF;
	IF c.customer_id IS NULL OR NOT c.allowed THEN
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

-- which store view a session for this customer is on; raises when none fits
CREATE FUNCTION loginas._resolve_store(p_customer jsonb, p_store_id bigint)
	RETURNS jsonb
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sharing text := loginas._get_setting('account_sharing');
	cust_website bigint := (p_customer OPERATOR(pg_catalog.->>) 'website_id')::bigint;
	rel regclass := loginas._bound_relation('store_views');
	st jsonb;
	target_website bigint;
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
		IF sharing OPERATOR(pg_catalog.=) 'website'
		   AND (st OPERATOR(pg_catalog.->>) 'website_id')::bigint IS DISTINCT FROM cust_website THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('store view "%s" is not in the customer''s website', st OPERATOR(pg_catalog.->>) 'name'),
				'Customer accounts are shared per website (account_sharing = website).',
				'Choose a store view of the customer''s website; loginas.store_choices() lists them.');
		END IF;
		RETURN st;
	END IF;

	-- auto: the customer's own store view, if it is active (and in its website)
	st := loginas._lookup('store_views', (p_customer OPERATOR(pg_catalog.->>) 'store_id')::bigint);
	IF st IS NOT NULL AND COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
	   AND (sharing OPERATOR(pg_catalog.=) 'global'
			OR (st OPERATOR(pg_catalog.->>) 'website_id')::bigint IS NOT DISTINCT FROM cust_website) THEN
		RETURN st;
	END IF;

	-- else the default store view of the customer's website; with global
	-- sharing, that of the default website (the one holding the lowest
	-- store view id among default store views)
	IF sharing OPERATOR(pg_catalog.=) 'website' THEN
		target_website := cust_website;
	ELSE
		SELECT (v OPERATOR(pg_catalog.->>) 'website_id')::bigint INTO target_website
		  FROM loginas._store_views() v
		 WHERE (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
		 ORDER BY (v OPERATOR(pg_catalog.->>) 'store_id')::bigint LIMIT 1;
	END IF;
	SELECT v INTO st
	  FROM loginas._store_views() v
	 WHERE (v OPERATOR(pg_catalog.->>) 'website_id')::bigint OPERATOR(pg_catalog.=) target_website
	   AND (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
	 ORDER BY (v OPERATOR(pg_catalog.->>) 'store_id')::bigint LIMIT 1;
	IF st IS NULL THEN
		PERFORM loginas._refuse(NULL, '55000',
			'no active store view is available for this customer',
			pg_catalog.format('The customer''s store view is unavailable and website %s has no active default store view.',
							  target_website));
	END IF;
	RETURN st;
END
$$;

------------------------------------------------------------------------------
-- 2 (cont). loginas.configure
------------------------------------------------------------------------------
CREATE FUNCTION loginas.configure(name text, value text, by_admin bigint DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres	-- intervals are stored in one spelling, whoever sets them
	AS $$
DECLARE
	d loginas.setting_definition;
	v text := pg_catalog.btrim(configure.value);
	old text;
	iv interval;
	r record;
BEGIN
	PERFORM loginas._require_writable('loginas.configure()');
	SELECT * INTO d FROM loginas.setting_definition sd WHERE sd.name OPERATOR(pg_catalog.=) configure.name;
	IF d.name IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer setting "%s"', configure.name), NULL,
			pg_catalog.format('Valid settings are: %s.',
				(SELECT pg_catalog.string_agg(sd.name, ', ' ORDER BY sd.name) FROM loginas.setting_definition sd)));
	END IF;
	IF v IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', pg_catalog.format('setting "%s" cannot be NULL', d.name));
	END IF;
	PERFORM loginas._check_by_admin(by_admin);

	IF d.kind OPERATOR(pg_catalog.<>) 'interval' THEN
		v := pg_catalog.lower(v);
	END IF;
	IF d.kind OPERATOR(pg_catalog.=) 'boolean' THEN
		IF v IN ('on', 'true', 'yes', '1', 't', 'y') THEN
			v := 'on';
		ELSIF v IN ('off', 'false', 'no', '0', 'f', 'n') THEN
			v := 'off';
		ELSE
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				'Valid values are "on" and "off".');
		END IF;
	ELSIF d.kind OPERATOR(pg_catalog.=) 'choice' THEN
		IF NOT v OPERATOR(pg_catalog.=) ANY (d.choices) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				pg_catalog.format('Valid values are: %s.', pg_catalog.array_to_string(d.choices, ', ')));
		END IF;
	ELSE
		BEGIN
			iv := v::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			iv := NULL;
		END;
		IF iv IS NULL OR iv OPERATOR(pg_catalog.<) interval '1 second' OR iv OPERATOR(pg_catalog.>) interval '7 days' THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'The value must be an interval between 1 second and 7 days.',
				'For example ''60 seconds'' or ''1 hour''.');
		END IF;
		v := iv::text;
	END IF;

	-- lock the setting's row (if any): a begin holding it must finish first
	SELECT st.value INTO old FROM loginas.setting st WHERE st.name OPERATOR(pg_catalog.=) d.name FOR UPDATE;
	old := COALESCE(old, d.default_value);
	IF old OPERATOR(pg_catalog.=) v THEN
		RETURN v;			-- nothing changes, nothing is written
	END IF;
	INSERT INTO loginas.setting AS s (name, value, changed_by_admin)
	VALUES (d.name, v, by_admin)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE
	   SET value = EXCLUDED.value, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER;

	PERFORM loginas._log('setting_changed', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('setting', d.name, 'old', old, 'new', v));

	-- turning the feature off ends every live ticket and session
	IF d.name OPERATOR(pg_catalog.=) 'enabled' AND v OPERATOR(pg_catalog.=) 'off' THEN
		FOR r IN SELECT s.session_id FROM loginas.session s WHERE s.ended_at IS NULL ORDER BY s.session_id LOOP
			PERFORM loginas._end_session(r.session_id, 'feature_disabled', by_admin);
		END LOOP;
	END IF;
	RETURN v;
END
$$;

------------------------------------------------------------------------------
-- 3 (cont). loginas.bind / unbind
------------------------------------------------------------------------------
CREATE FUNCTION loginas.bind(kind text, relation regclass, by_admin bigint DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	relkind "char";
	relnsp oid;
	atttype oid;
	ok boolean;
BEGIN
	PERFORM loginas._require_writable('loginas.bind()');
	IF NOT EXISTS (SELECT FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized binding kind "%s"', bind.kind), NULL,
			pg_catalog.format('Valid kinds are: %s.',
				(SELECT pg_catalog.string_agg(DISTINCT bc.kind, ', ') FROM loginas.binding_column bc)));
	END IF;
	IF bind.relation IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'relation to bind cannot be NULL');
	END IF;

	SELECT cl.relkind, cl.relnamespace INTO relkind, relnsp
	  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) bind.relation;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		PERFORM loginas._refuse(NULL, '42809',
			pg_catalog.format('"%s" is not a table or view', bind.relation));
	END IF;
	-- loginas reads bound relations as loginas_reader (see _read_bound): the
	-- shop decides what it may read by granting it, explicitly
	IF NOT pg_catalog.has_schema_privilege('loginas_reader', relnsp, 'USAGE') THEN
		PERFORM loginas._refuse(NULL, '42501',
			pg_catalog.format('role "loginas_reader" has no access to schema %s', pg_catalog.quote_ident(relnsp::regnamespace::text)),
			'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
			pg_catalog.format('GRANT USAGE ON SCHEMA %s TO loginas_reader;', pg_catalog.quote_ident(relnsp::regnamespace::text)));
	END IF;

	FOR c IN SELECT bc.column_name, bc.type_class FROM loginas.binding_column bc
			  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind ORDER BY bc.position
	LOOP
		SELECT a.atttypid INTO atttype FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) bind.relation
		   AND a.attname OPERATOR(pg_catalog.=) c.column_name
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			PERFORM loginas._refuse(NULL, '42703',
				pg_catalog.format('relation "%s" has no column "%s"', bind.relation, c.column_name),
				pg_catalog.format('A "%s" binding needs the columns %s.', bind.kind,
					(SELECT pg_catalog.string_agg(bc.column_name, ', ' ORDER BY bc.position)
					   FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind)));
		END IF;
		IF NOT pg_catalog.has_column_privilege('loginas_reader', bind.relation, c.column_name, 'SELECT') THEN
			PERFORM loginas._refuse(NULL, '42501',
				pg_catalog.format('role "loginas_reader" cannot read column "%s" of relation "%s"', c.column_name, bind.relation),
				'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
				pg_catalog.format('GRANT SELECT ON %s TO loginas_reader;', bind.relation));
		END IF;
		ok := CASE c.type_class
				WHEN 'id' THEN atttype IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype)
				WHEN 'text' THEN atttype IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype,
											 'pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
				ELSE atttype OPERATOR(pg_catalog.=) 'pg_catalog.bool'::regtype
			  END;
		IF NOT ok THEN
			PERFORM loginas._refuse(NULL, '42804',
				pg_catalog.format('column "%s" of relation "%s" has type %s', c.column_name, bind.relation,
								  pg_catalog.format_type(atttype, NULL)),
				pg_catalog.format('Column "%s" must be %s.', c.column_name,
					CASE c.type_class WHEN 'id' THEN 'an integer (smallint, integer or bigint)'
									  WHEN 'text' THEN 'text (text, varchar, char or name)'
									  ELSE 'boolean' END),
				'Cast it in a view over the table and bind the view.');
		END IF;
	END LOOP;

	PERFORM loginas._check_by_admin(by_admin);
	INSERT INTO loginas.binding AS b (kind, relation, bound_by_admin)
	VALUES (bind.kind, bind.relation, by_admin)
	ON CONFLICT ON CONSTRAINT binding_pkey DO UPDATE
	   SET relation = EXCLUDED.relation, bound_at = pg_catalog.now(),
		   bound_by_admin = EXCLUDED.bound_by_admin, bound_by_role = SESSION_USER;
	PERFORM loginas._invalidate('loginas.binding');
	PERFORM loginas._log('relation_bound', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', bind.kind, 'relation', bind.relation::text));
END
$$;

CREATE FUNCTION loginas.unbind(kind text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rel text;
BEGIN
	PERFORM loginas._require_writable('loginas.unbind()');
	PERFORM loginas._check_by_admin(by_admin);
	DELETE FROM loginas.binding b WHERE b.kind OPERATOR(pg_catalog.=) unbind.kind RETURNING b.relation::text INTO rel;
	IF rel IS NULL THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate('loginas.binding');
	PERFORM loginas._log('relation_unbound', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', unbind.kind, 'relation', rel));
	RETURN true;
END
$$;

------------------------------------------------------------------------------
-- 4. Role resources
------------------------------------------------------------------------------
CREATE TABLE loginas.resource (
	resource	text PRIMARY KEY,
	label		text NOT NULL
);
INSERT INTO loginas.resource VALUES
	('login', 'Allow Login as Customer'),
	('view_log', 'View Login as Customer Log'),
	('manage_assistance', 'Change a customer''s "Allow remote shopping assistance" on their behalf');

CREATE TABLE loginas.role_resource (
	role		text NOT NULL CHECK (pg_catalog.length(role) OPERATOR(pg_catalog.>) 0),
	resource	text NOT NULL REFERENCES loginas.resource,
	granted_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	granted_by_admin bigint,
	granted_by_role name NOT NULL DEFAULT SESSION_USER,
	last_used_at	timestamptz,	-- last begin or redeem that relied on it
	PRIMARY KEY (role, resource)
);

CREATE VIEW loginas.permissions AS
	SELECT rr.role, rr.resource, r.label, rr.granted_at, rr.granted_by_admin
	  FROM loginas.role_resource rr JOIN loginas.resource r USING (resource)
	 ORDER BY rr.role, rr.resource;

CREATE FUNCTION loginas._check_resource(p_resource text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF p_resource IS NULL OR NOT EXISTS (SELECT FROM loginas.resource r WHERE r.resource OPERATOR(pg_catalog.=) p_resource) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer resource "%s"', p_resource), NULL,
			pg_catalog.format('Valid resources are: %s.',
				(SELECT pg_catalog.string_agg(r.resource, ', ' ORDER BY r.resource) FROM loginas.resource r)));
	END IF;
END
$$;

CREATE FUNCTION loginas."grant"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.grant()');
	PERFORM loginas._check_resource(resource);
	IF role IS NULL OR pg_catalog.btrim(role) OPERATOR(pg_catalog.=) '' THEN
		PERFORM loginas._refuse(NULL, '22023', 'role name cannot be empty');
	END IF;
	IF pg_catalog.length(role) OPERATOR(pg_catalog.>) 255 THEN
		PERFORM loginas._refuse(NULL, '22023', 'role name is too long', 'At most 255 characters.');
	END IF;
	PERFORM loginas._check_by_admin(by_admin);
	INSERT INTO loginas.role_resource AS rr (role, resource, granted_by_admin)
	VALUES ("grant".role, "grant".resource, by_admin)
	ON CONFLICT ON CONSTRAINT role_resource_pkey DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;		-- already granted
	END IF;
	PERFORM loginas._log('permission_granted', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('role', "grant".role, 'resource', "grant".resource));
	RETURN true;
END
$$;

CREATE FUNCTION loginas."revoke"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
BEGIN
	PERFORM loginas._require_writable('loginas.revoke()');
	PERFORM loginas._check_resource(resource);
	PERFORM loginas._check_by_admin(by_admin);
	DELETE FROM loginas.role_resource rr
	 WHERE rr.role OPERATOR(pg_catalog.=) "revoke".role AND rr.resource OPERATOR(pg_catalog.=) "revoke".resource;
	IF NOT FOUND THEN
		RETURN false;		-- was not granted
	END IF;
	PERFORM loginas._log('permission_revoked', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('role', "revoke".role, 'resource', "revoke".resource));
	-- the role's admins lose their live tickets and sessions
	IF "revoke".resource OPERATOR(pg_catalog.=) 'login' AND loginas._bound_relation('admins', true) IS NOT NULL THEN
		FOR s IN SELECT ls.session_id, ls.admin_id FROM loginas.session ls
				  WHERE ls.ended_at IS NULL ORDER BY ls.session_id
		LOOP
			IF (loginas._lookup('admins', s.admin_id, true) OPERATOR(pg_catalog.->>) 'role') OPERATOR(pg_catalog.=) "revoke".role THEN
				PERFORM loginas._end_session(s.session_id, 'permission_revoked', by_admin);
			END IF;
		END LOOP;
	END IF;
	RETURN true;
END
$$;

CREATE FUNCTION loginas.permitted(admin_id bigint, resource text)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
BEGIN
	PERFORM loginas._check_resource(resource);
	a := loginas._lookup('admins', permitted.admin_id);
	RETURN a IS NOT NULL
		   AND COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
		   AND EXISTS (SELECT FROM loginas.role_resource rr
					   WHERE rr.role OPERATOR(pg_catalog.=) (a OPERATOR(pg_catalog.->>) 'role')
						 AND rr.resource OPERATOR(pg_catalog.=) permitted.resource);
END
$$;

------------------------------------------------------------------------------
-- 5. Consent: "Allow remote shopping assistance"
------------------------------------------------------------------------------
CREATE TABLE loginas.consent (
	customer_id		bigint PRIMARY KEY,
	allowed			boolean NOT NULL,
	valid_until		timestamptz,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by_admin bigint,
	changed_by_role	name NOT NULL DEFAULT SESSION_USER,
	last_used_at	timestamptz,	-- last begin or redeem that relied on it
	CHECK (allowed OR valid_until IS NULL)
);

-- the one implementation behind both callers below
CREATE FUNCTION loginas._set_assistance(p_customer_id bigint, p_allowed boolean,
										p_valid_until timestamptz, p_by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	prev loginas.consent;
	s record;
BEGIN
	PERFORM loginas._require_writable('loginas.set_assistance()');
	IF p_customer_id IS NULL OR p_allowed IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'customer_id and allowed cannot be NULL');
	END IF;
	IF loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '42501',
			'remote shopping assistance cannot be changed in a Login as Customer session',
			'Only the customer, or an admin with the "manage_assistance" resource from the admin backend, may change it.');
	END IF;
	IF loginas._lookup('customers', p_customer_id) IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'Customer with this ID no longer exists.',
			pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_id));
	END IF;
	IF NOT p_allowed AND p_valid_until IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'valid_until applies only when assistance is allowed');
	END IF;
	IF p_valid_until IS NOT NULL AND p_valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('valid_until must be in the future, not %s', p_valid_until));
	END IF;

	SELECT * INTO prev FROM loginas.consent c WHERE c.customer_id OPERATOR(pg_catalog.=) p_customer_id FOR UPDATE;
	INSERT INTO loginas.consent AS c (customer_id, allowed, valid_until, changed_by_admin)
	VALUES (p_customer_id, p_allowed, p_valid_until, p_by_admin)
	ON CONFLICT ON CONSTRAINT consent_pkey DO UPDATE
	   SET allowed = EXCLUDED.allowed, valid_until = EXCLUDED.valid_until, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER;

	-- no row means not allowed: "revoking" what was never given changes nothing
	IF COALESCE(prev.allowed, false) IS DISTINCT FROM p_allowed OR prev.valid_until IS DISTINCT FROM p_valid_until THEN
		PERFORM loginas._log(CASE WHEN p_allowed THEN 'consent_granted' ELSE 'consent_revoked' END, 'success',
							 p_by_admin, p_customer_id,
							 p_details => pg_catalog.jsonb_build_object(
								'valid_until', p_valid_until,
								'by', CASE WHEN p_by_admin IS NULL THEN 'customer' ELSE 'admin' END));
	END IF;

	IF NOT p_allowed THEN
		FOR s IN SELECT ls.session_id FROM loginas.session ls
				  WHERE ls.customer_id OPERATOR(pg_catalog.=) p_customer_id AND ls.ended_at IS NULL
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
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL);
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
		   FROM loginas.consent c WHERE c.customer_id OPERATOR(pg_catalog.=) assistance_allowed.customer_id),
		false)
$$;

------------------------------------------------------------------------------
-- 8b. Sessions: check, store choices, begin, redeem, assume, end, expire
------------------------------------------------------------------------------
CREATE FUNCTION loginas.check(admin_id bigint, customer_id bigint,
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

CREATE FUNCTION loginas.store_choices(admin_id bigint, customer_id bigint)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean)
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
	SELECT (sv OPERATOR(pg_catalog.->>) 'store_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'name',
		   (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'website_name',
		   (sv OPERATOR(pg_catalog.->>) 'is_active')::boolean
		   AND (loginas._get_setting('account_sharing') OPERATOR(pg_catalog.=) 'global'
				OR (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint
				   OPERATOR(pg_catalog.=) (v.customer OPERATOR(pg_catalog.->>) 'website_id')::bigint)
	  FROM loginas._store_views() sv
	 ORDER BY 3, 1;
END
$$;

-- what begin and begin_from return: the one-time ticket for the storefront
CREATE TYPE loginas.ticket AS (
	token		text,
	expires_at	timestamptz,
	store_id	bigint
);

-- shared by begin and begin_from
CREATE FUNCTION loginas._begin(p_admin_id bigint, p_customer_id bigint, p_store_id bigint, p_reason text,
							   p_source text, p_source_kind text, p_source_document_id bigint,
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

	v := loginas._evaluate(p_admin_id, p_customer_id, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_id);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	t.store_id := (st OPERATOR(pg_catalog.->>) 'store_id')::bigint;

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_id OPERATOR(pg_catalog.=) p_admin_id AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_id);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr)
			VALUES (p_admin_id, p_customer_id, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind, p_source_document_id,
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()))
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
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
			END IF;
		END;
	END LOOP;

	PERFORM loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr);
	RETURN t;
END
$$;

CREATE FUNCTION loginas.begin(admin_id bigint, customer_id bigint, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id, "begin".customer_id, "begin".store_id, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;

CREATE FUNCTION loginas.begin_from(admin_id bigint, document_kind text, document_id bigint,
								   store_id bigint DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	binding_kind text := CASE begin_from.document_kind
							WHEN 'order' THEN 'orders' WHEN 'invoice' THEN 'invoices'
							WHEN 'shipment' THEN 'shipments' WHEN 'credit_memo' THEN 'credit_memos' END;
	label text := pg_catalog.replace(begin_from.document_kind, '_', ' ');
	doc jsonb;
BEGIN
	IF binding_kind IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('unrecognized document kind "%s"', begin_from.document_kind), NULL,
			'Valid kinds are: order, invoice, shipment, credit_memo.', begin_from.admin_id,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	doc := loginas._lookup(binding_kind, begin_from.document_id);
	IF doc IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('%s %s does not exist', label, begin_from.document_id),
			pg_catalog.format('No row of %s has document_id %s.', loginas._bound_relation(binding_kind),
							  begin_from.document_id), NULL, begin_from.admin_id,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	IF doc OPERATOR(pg_catalog.->>) 'customer_id' IS NULL THEN
		PERFORM loginas._refuse('begin', '55000',
			pg_catalog.format('cannot login as the customer of %s %s: it belongs to a guest', label,
							  doc OPERATOR(pg_catalog.->>) 'reference'),
			'Guest orders have no customer account to log in to.', NULL, begin_from.admin_id,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	RETURN loginas._begin(begin_from.admin_id, (doc OPERATOR(pg_catalog.->>) 'customer_id')::bigint,
								 begin_from.store_id, begin_from.reason,
								 pg_catalog.format('%s %s', label, doc OPERATOR(pg_catalog.->>) 'reference'),
								 begin_from.document_kind, begin_from.document_id, begin_from.read_only,
								 begin_from.client_addr);
END
$$;

CREATE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
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
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;

	v := loginas._evaluate(s.admin_id, s.customer_id, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_id);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	PERFORM loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	store_id := s.store_id;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;

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
			s.admin_id, s.customer_id, s.session_id);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id);
	END IF;

	v := loginas._evaluate(s.admin_id, s.customer_id);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_id);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text);
	RETURN s.session_id;
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

CREATE FUNCTION loginas.end_admin(admin_id bigint, reason text DEFAULT 'admin_logout')
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	n integer := 0;
BEGIN
	PERFORM loginas._require_writable('loginas.end_admin()');
	IF end_admin.reason IS NULL OR end_admin.reason NOT IN ('admin_logout', 'admin_inactive', 'permission_revoked') THEN
		PERFORM loginas._refuse(NULL, '22023',
			CASE WHEN end_admin.reason IS NULL THEN 'end reason cannot be NULL'
				 ELSE pg_catalog.format('invalid end reason "%s"', end_admin.reason) END, NULL,
			'The admin backend ends sessions with reason admin_logout, admin_inactive or permission_revoked.');
	END IF;
	FOR s IN SELECT ls.session_id FROM loginas.session ls
			  WHERE ls.admin_id OPERATOR(pg_catalog.=) end_admin.admin_id AND ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF loginas._end_session(s.session_id, end_admin.reason, end_admin.admin_id) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
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
	n integer := 0;
BEGIN
	PERFORM loginas._require_writable('loginas.expire()');
	FOR s IN SELECT ls.session_id, ls.admin_id, ls.customer_id,
					(ls.redeemed_at IS NULL AND ls.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
					OR ls.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
			   FROM loginas.session ls
			  WHERE ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF s.is_expired THEN
			why := 'expired';
		ELSE
			v := loginas._evaluate(s.admin_id, s.customer_id);
			why := v.code;
		END IF;
		IF why IS NOT NULL AND loginas._end_session(s.session_id, why) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

COMMENT ON FUNCTION loginas.expire() IS 'ends tickets and sessions past their time or whose conditions failed; schedule it (e.g. every minute with pg_cron)';

------------------------------------------------------------------------------
-- 10. Write attribution on the shop's own tables (C: src/track.c, src/writelog.c)
------------------------------------------------------------------------------
CREATE TABLE loginas.tracked (
	relation		regclass PRIMARY KEY,
	customer_column	name,			-- a table whose rows carry the customer id
	parent			regclass,		-- or a child reaching it through a foreign key
	fk_columns		name[],			-- the child's columns of that foreign key
	parent_columns	name[],			-- the parent's columns they reference
	created_column	name NOT NULL,
	changed_column	name NOT NULL,
	tracked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK ((customer_column IS NULL) <> (parent IS NULL))
);

CREATE TABLE loginas.protected_column (
	relation	regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	column_name	name NOT NULL,
	protected_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (relation, column_name)
);

-- a tracked table that is dropped is forgotten (its triggers went with it)
CREATE FUNCTION loginas._forget_dropped() RETURNS event_trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM loginas.tracked t
	 USING pg_catalog.pg_event_trigger_dropped_objects() d
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.objsubid OPERATOR(pg_catalog.=) 0
	   AND d.objid OPERATOR(pg_catalog.=) t.relation::pg_catalog.oid;
END
$$;
CREATE EVENT TRIGGER loginas_forget_dropped ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION loginas._forget_dropped();

CREATE VIEW loginas.tracked_tables AS
	SELECT t.relation, t.customer_column, t.parent, t.fk_columns, t.parent_columns,
		   t.created_column, t.changed_column,
		   ARRAY(SELECT p.column_name FROM loginas.protected_column p
				  WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY p.column_name) AS protected_columns,
		   t.tracked_at
	  FROM loginas.tracked t
	 ORDER BY t.relation::text;

CREATE FUNCTION loginas._track_row() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'loginas_track_row';
CREATE FUNCTION loginas._track_truncate() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'loginas_track_truncate';
CREATE FUNCTION loginas._invalidate(relation regclass) RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'loginas_invalidate';

-- The AFTER INSERT trigger's filter: is the current transaction acting in a
-- session?  It is the one function every role may execute (a WHEN clause runs
-- with the writing role's rights); it says nothing about any other transaction.
CREATE FUNCTION loginas.in_session() RETURNS boolean
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_in_session';

-- attnum of a column by name (0 when absent)
CREATE FUNCTION loginas._attnum(p_rel regclass, p_column name) RETURNS int2
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE((SELECT a.attnum FROM pg_catalog.pg_attribute a
					  WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attname OPERATOR(pg_catalog.=) p_column
						AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped), 0)::int2
$$;

-- the type of a column by number (NULL when absent)
CREATE FUNCTION loginas._atttype(p_rel regclass, p_attnum int2) RETURNS oid
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT a.atttypid FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attnum OPERATOR(pg_catalog.=) p_attnum
	   AND NOT a.attisdropped
$$;

-- the primary key's column names, in key order
CREATE FUNCTION loginas._pk_columns(p_rel regclass) RETURNS name[]
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)
	  FROM pg_catalog.pg_index i
	 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
	  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid
									AND a.attnum OPERATOR(pg_catalog.=) k.attnum
	 WHERE i.indrelid OPERATOR(pg_catalog.=) p_rel AND i.indisprimary
$$;

-- what the trigger on p_relid (the tracked table or one of its partitions) needs
CREATE FUNCTION loginas._track_info(p_relid oid)
	RETURNS TABLE (relname text, customer_attnum int2, customer_type oid, created_attnum int2,
				   changed_attnum int2, pk_attnums int2[], protected_attnums int2[],
				   fk_attnums int2[], parent_query text, chain oid[],
				   problem text, problem_detail text, problem_hint text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	cur loginas.tracked;
	from_list text;
	cond text := '';
	i int := 0;
	j int;
BEGIN
	SELECT tr.* INTO t FROM loginas.tracked tr
	 WHERE tr.relation OPERATOR(pg_catalog.=) p_relid
		OR tr.relation OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p_relid) a))
	 ORDER BY tr.relation OPERATOR(pg_catalog.=) p_relid DESC LIMIT 1;
	IF t.relation IS NULL THEN
		RETURN;
	END IF;
	relname := t.relation::text;
	chain := ARRAY[t.relation::oid];
	created_attnum := loginas._attnum(p_relid::regclass, t.created_column);
	changed_attnum := loginas._attnum(p_relid::regclass, t.changed_column);
	pk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(loginas._pk_columns(t.relation)) WITH ORDINALITY u(c, o) ORDER BY o);
	protected_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, p.column_name)
								 FROM loginas.protected_column p
								WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY 1);
	IF t.customer_column IS NOT NULL THEN
		customer_attnum := loginas._attnum(p_relid::regclass, t.customer_column);
		customer_type := loginas._atttype(p_relid::regclass, customer_attnum);
	END IF;
	-- a tracked column renamed or dropped since track(): refuse every write
	-- rather than guess
	-- a tracked column renamed or dropped since track(): in a session every
	-- write is refused rather than guessed at (the trigger raises the problem)
	-- so would a column retyped since: the stamps must stay bigint, the customer
	-- column an integer (a type of the table owner's own, with a cast of its
	-- own, would run that cast with the extension owner's rights)
	IF created_attnum OPERATOR(pg_catalog.=) 0 OR changed_attnum OPERATOR(pg_catalog.=) 0
	   OR loginas._atttype(p_relid::regclass, created_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
	   OR loginas._atttype(p_relid::regclass, changed_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
	   OR (t.customer_column IS NOT NULL AND customer_type NOT IN
			('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype))
	   OR customer_attnum OPERATOR(pg_catalog.=) 0 OR pk_attnums IS NULL
	   OR 0 OPERATOR(pg_catalog.=) ANY (pk_attnums) OR 0 OPERATOR(pg_catalog.=) ANY (protected_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A tracked, stamp, key or protected column was renamed or dropped, or the primary key changed.';
		problem_hint := 'Track the table again with loginas.track(), and protect its columns again.';
		RETURN NEXT;
		RETURN;
	END IF;
	IF t.customer_column IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;

	-- a child: the customer id of the parent row (up the chain of parents),
	-- share-locked so that it cannot be re-parented under the write
	fk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(t.fk_columns) WITH ORDINALITY u(c, o) ORDER BY o);
	IF 0 OPERATOR(pg_catalog.=) ANY (fk_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A column of the foreign key to the parent was renamed or dropped.';
		problem_hint := 'Track the table again with loginas.track().';
		RETURN NEXT;
		RETURN;
	END IF;
	FOR j IN 1 .. pg_catalog.array_length(t.parent_columns, 1) LOOP
		cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
				OPERATOR(pg_catalog.||) pg_catalog.format('t0.%I OPERATOR(pg_catalog.=) $%s', t.parent_columns[j], j);
	END LOOP;
	SELECT tr.* INTO cur FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) t.parent;
	IF cur.relation IS NULL THEN
		problem := pg_catalog.format('the parent of %s is no longer tracked', t.relation);
		problem_detail := 'A child table reaches its customer through its tracked parent.';
		problem_hint := 'Track the parent again, or track the table with its own customer column.';
		RETURN NEXT;
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.unnest(t.parent_columns) c
				WHERE loginas._attnum(cur.relation, c) OPERATOR(pg_catalog.=) 0) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		RETURN NEXT;
		RETURN;
	END IF;
	from_list := pg_catalog.format('%s t0', cur.relation);
	chain := chain OPERATOR(pg_catalog.||) cur.relation::oid;
	WHILE cur.customer_column IS NULL LOOP
		i := i OPERATOR(pg_catalog.+) 1;
		IF i OPERATOR(pg_catalog.>) 16 THEN
			RAISE EXCEPTION 'loginas: the parent chain of % is too long or circular', t.relation;
		END IF;
		IF EXISTS (SELECT FROM pg_catalog.unnest(cur.fk_columns) c
					WHERE loginas._attnum(cur.relation, c) OPERATOR(pg_catalog.=) 0)
		   OR EXISTS (SELECT FROM pg_catalog.unnest(cur.parent_columns) c
					   WHERE loginas._attnum(cur.parent, c) OPERATOR(pg_catalog.=) 0) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		RETURN NEXT;
		RETURN;
		END IF;
		from_list := from_list OPERATOR(pg_catalog.||) pg_catalog.format(' JOIN %s t%s ON ', cur.parent, i);
		FOR j IN 1 .. pg_catalog.array_length(cur.parent_columns, 1) LOOP
			from_list := from_list OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
						 OPERATOR(pg_catalog.||) pg_catalog.format('t%s.%I OPERATOR(pg_catalog.=) t%s.%I',
																   i, cur.parent_columns[j], i OPERATOR(pg_catalog.-) 1, cur.fk_columns[j]);
		END LOOP;
		SELECT tr.* INTO cur FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) cur.parent;
		IF cur.relation IS NULL THEN
			problem := pg_catalog.format('a table on the parent chain of %s is no longer tracked', t.relation);
			problem_detail := 'A child table reaches its customer through its tracked parents.';
			problem_hint := 'Track the parents again.';
			RETURN NEXT;
			RETURN;
		END IF;
		chain := chain OPERATOR(pg_catalog.||) cur.relation::oid;
	END LOOP;
	IF loginas._attnum(cur.relation, cur.customer_column) OPERATOR(pg_catalog.=) 0
	   OR loginas._atttype(cur.relation, loginas._attnum(cur.relation, cur.customer_column)) NOT IN
			('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		RETURN NEXT;
		RETURN;
	END IF;
	parent_query := pg_catalog.format('SELECT t%s.%I::pg_catalog.int8 FROM %s WHERE %s FOR SHARE',
									  i, cur.customer_column, from_list, cond);
	RETURN NEXT;
END
$$;

-- checks shared by both forms of track()
CREATE FUNCTION loginas._prepare_tracking(p_relation regclass)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind "char";
BEGIN
	PERFORM loginas._require_writable('loginas.track()');
	IF p_relation IS NULL THEN
		PERFORM loginas._raise('22023', 'relation to track cannot be NULL', NULL, NULL);
	END IF;
	SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) p_relation;
	IF kind IS NULL OR kind NOT IN ('r', 'p') THEN
		PERFORM loginas._raise('42809', pg_catalog.format('"%s" is not a table', p_relation),
			'Only tables and partitioned tables can be tracked.', NULL);
	END IF;
	IF loginas._pk_columns(p_relation) IS NULL THEN
		PERFORM loginas._raise('55000', pg_catalog.format('table %s has no primary key', p_relation),
			'loginas identifies the rows written in a session by their primary key.',
			'Add a primary key to the table, then track it.');
	END IF;
END
$$;

-- the stamp columns: added, or reused when they exist as bigint; never one
-- of the columns that tie a row to its customer or identify it
CREATE FUNCTION loginas._add_stamps(p_relation regclass, p_created name, p_changed name, p_reserved name[])
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	col name;
	typ oid;
BEGIN
	IF p_created IS NULL OR p_changed IS NULL OR p_created OPERATOR(pg_catalog.=) '' OR p_changed OPERATOR(pg_catalog.=) '' THEN
		PERFORM loginas._raise('22023', 'stamp column names cannot be empty or NULL', NULL, NULL);
	END IF;
	IF p_created OPERATOR(pg_catalog.=) p_changed THEN
		PERFORM loginas._raise('22023', 'the two stamp columns need two different names', NULL, NULL);
	END IF;
	FOREACH col IN ARRAY ARRAY[p_created, p_changed] LOOP
		IF col OPERATOR(pg_catalog.=) ANY (p_reserved OPERATOR(pg_catalog.||) loginas._pk_columns(p_relation)) THEN
			PERFORM loginas._raise('22023',
				pg_catalog.format('column "%s" of %s cannot be a stamp column', col, p_relation),
				'A stamp column must not be the customer column, a primary-key column or a column of the foreign key to the parent.',
				'Name two other columns, or leave the defaults (loginas_created_session, loginas_changed_session).');
		END IF;
	END LOOP;
	FOREACH col IN ARRAY ARRAY[p_created, p_changed] LOOP
		SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) p_relation AND a.attname OPERATOR(pg_catalog.=) col
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I pg_catalog.int8', p_relation, col);
		ELSIF typ OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::regtype THEN
			PERFORM loginas._raise('42804',
				pg_catalog.format('stamp column "%s" of %s has type %s', col, p_relation, pg_catalog.format_type(typ, NULL)),
				'A stamp column holds a session id: it must be bigint.', NULL);
		END IF;
	END LOOP;
END
$$;

-- (re)create the triggers of a tracked table; their names sort after any
-- plain name, so they fire after the shop's own BEFORE triggers and see the
-- row as it will be written
CREATE FUNCTION loginas._install_triggers(p_relation regclass, p_created name, p_changed name)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- no WHEN clause on the BEFORE triggers: PostgreSQL prepares a trigger's
	-- WHEN clause again for every statement, which costs a single-row write
	-- more than the C trigger's own fast path for writes outside a session
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_insert BEFORE INSERT ON %s FOR EACH ROW'
		' EXECUTE FUNCTION loginas._track_row()', p_relation);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_update BEFORE UPDATE ON %s FOR EACH ROW'
		' EXECUTE FUNCTION loginas._track_row()', p_relation);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_delete BEFORE DELETE ON %s FOR EACH ROW'
		' EXECUTE FUNCTION loginas._track_row()', p_relation);
	-- inserts are logged once written (not for rows ON CONFLICT skipped)
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_log_insert AFTER INSERT ON %s FOR EACH ROW'
		' WHEN (loginas.in_session()) EXECUTE FUNCTION loginas._track_row()', p_relation);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_truncate BEFORE TRUNCATE ON %s'
		' FOR EACH STATEMENT EXECUTE FUNCTION loginas._track_truncate()', p_relation);
END
$$;

CREATE FUNCTION loginas.track(relation regclass, customer_column name,
							  created_column name DEFAULT 'loginas_created_session',
							  changed_column name DEFAULT 'loginas_changed_session')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	typ oid;
BEGIN
	PERFORM loginas._prepare_tracking(track.relation);
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) track.relation AND a.attname OPERATOR(pg_catalog.=) track.customer_column
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		PERFORM loginas._raise('42703',
			pg_catalog.format('column "%s" of relation %s does not exist', track.customer_column, track.relation), NULL, NULL);
	END IF;
	IF typ NOT IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype) THEN
		PERFORM loginas._raise('42804',
			pg_catalog.format('customer column "%s" of %s has type %s', track.customer_column, track.relation,
							  pg_catalog.format_type(typ, NULL)),
			'The customer column must be an integer (smallint, integer or bigint).', NULL);
	END IF;
	PERFORM loginas._add_stamps(track.relation, track.created_column, track.changed_column,
								ARRAY[track.customer_column]);
	INSERT INTO loginas.tracked AS t (relation, customer_column, created_column, changed_column)
	VALUES (track.relation, track.customer_column, track.created_column, track.changed_column)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = EXCLUDED.customer_column, parent = NULL, fk_columns = NULL, parent_columns = NULL,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column;
	PERFORM loginas._install_triggers(track.relation, track.created_column, track.changed_column);
	PERFORM loginas._invalidate(track.relation);
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track.relation::text,
																	'customer_column', track.customer_column));
END
$$;

CREATE FUNCTION loginas.track(relation regclass, parent regclass,
							  created_column name DEFAULT 'loginas_created_session',
							  changed_column name DEFAULT 'loginas_changed_session')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	fk record;
	n int;
BEGIN
	PERFORM loginas._prepare_tracking(track.relation);
	IF track.parent IS NULL OR NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) track.parent) THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('parent table %s is not tracked', COALESCE(track.parent::text, 'NULL')), NULL,
			'Track the parent first, with loginas.track(parent, customer_column).');
	END IF;
	SELECT pg_catalog.count(*) INTO n FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid OPERATOR(pg_catalog.=) track.relation AND c.confrelid OPERATOR(pg_catalog.=) track.parent
	   AND c.contype OPERATOR(pg_catalog.=) 'f';
	IF n OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('42830',
			pg_catalog.format('table %s has no foreign key to %s', track.relation, track.parent),
			'A child table reaches its customer through a foreign key to its tracked parent.',
			pg_catalog.format('Add one (ALTER TABLE %s ADD FOREIGN KEY ... REFERENCES %s), or track the table with its own customer column.',
							  track.relation, track.parent));
	ELSIF n OPERATOR(pg_catalog.>) 1 THEN
		PERFORM loginas._raise('42830',
			pg_catalog.format('table %s has more than one foreign key to %s', track.relation, track.parent), NULL, NULL);
	END IF;
	SELECT ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY u(k, o)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) u.k
				  ORDER BY u.o) AS fk_cols,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY u(k, o)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid AND a.attnum OPERATOR(pg_catalog.=) u.k
				  ORDER BY u.o) AS parent_cols
	  INTO fk
	  FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid OPERATOR(pg_catalog.=) track.relation AND c.confrelid OPERATOR(pg_catalog.=) track.parent
	   AND c.contype OPERATOR(pg_catalog.=) 'f';
	PERFORM loginas._add_stamps(track.relation, track.created_column, track.changed_column, fk.fk_cols);
	INSERT INTO loginas.tracked AS t (relation, parent, fk_columns, parent_columns, created_column, changed_column)
	VALUES (track.relation, track.parent, fk.fk_cols, fk.parent_cols, track.created_column, track.changed_column)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = NULL, parent = EXCLUDED.parent, fk_columns = EXCLUDED.fk_columns,
		   parent_columns = EXCLUDED.parent_columns,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column;
	PERFORM loginas._install_triggers(track.relation, track.created_column, track.changed_column);
	PERFORM loginas._invalidate(track.relation);
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track.relation::text,
																	'parent', track.parent::text,
																	'foreign_key', fk.fk_cols));
END
$$;

CREATE FUNCTION loginas.untrack(relation regclass)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	child text;
	trg text;
BEGIN
	PERFORM loginas._require_writable('loginas.untrack()');
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) untrack.relation) THEN
		RETURN false;
	END IF;
	SELECT pg_catalog.string_agg(t.relation::text, ', ') INTO child
	  FROM loginas.tracked t WHERE t.parent OPERATOR(pg_catalog.=) untrack.relation;
	IF child IS NOT NULL THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('table %s is the tracked parent of %s', untrack.relation, child), NULL,
			'Untrack the child tables first.');
	END IF;
	FOREACH trg IN ARRAY ARRAY['zz_loginas_track_insert', 'zz_loginas_track_update',
							   'zz_loginas_track_delete', 'zz_loginas_log_insert',
							   'zz_loginas_track_truncate'] LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', trg, untrack.relation);
	END LOOP;
	DELETE FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) untrack.relation;
	PERFORM loginas._invalidate(untrack.relation);
	PERFORM loginas._log('table_untracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', untrack.relation::text));
	RETURN true;
END
$$;

CREATE FUNCTION loginas.protect(relation regclass, "column" name)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.protect()');
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) protect.relation) THEN
		PERFORM loginas._raise('55000', pg_catalog.format('table %s is not tracked', protect.relation), NULL,
			'Track it with loginas.track() first.');
	END IF;
	IF loginas._attnum(protect.relation, protect."column") OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('42703',
			pg_catalog.format('column "%s" of relation %s does not exist', protect."column", protect.relation), NULL, NULL);
	END IF;
	INSERT INTO loginas.protected_column (relation, column_name) VALUES (protect.relation, protect."column")
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(protect.relation);
	PERFORM loginas._log('column_protected', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', protect.relation::text, 'column', protect."column"));
	RETURN true;
END
$$;

CREATE FUNCTION loginas.unprotect(relation regclass, "column" name)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.unprotect()');
	DELETE FROM loginas.protected_column p
	 WHERE p.relation OPERATOR(pg_catalog.=) unprotect.relation AND p.column_name OPERATOR(pg_catalog.=) unprotect."column";
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(unprotect.relation);
	PERFORM loginas._log('column_unprotected', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', unprotect.relation::text, 'column', unprotect."column"));
	RETURN true;
END
$$;

-- the application records an action of its own for the current session
CREATE FUNCTION loginas.note(action text, details jsonb DEFAULT '{}')
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.note()');
	IF loginas.current_session() IS NULL THEN
		PERFORM loginas._raise('55000', 'loginas.note() needs a Login as Customer session', NULL,
			'Call it in a transaction that called loginas.assume().');
	END IF;
	IF note.action IS NULL OR pg_catalog.btrim(note.action) OPERATOR(pg_catalog.=) ''
	   OR pg_catalog.length(note.action) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._raise('22023', 'a note needs an action of 1 to 200 characters', NULL, NULL);
	END IF;
	IF note.details IS NULL OR pg_catalog.jsonb_typeof(note.details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM loginas._raise('22023', 'the details of a note must be a JSON object', NULL, NULL);
	END IF;
	-- everything the row carries was read by assume() and is in the context
	RETURN loginas._append(pg_catalog.clock_timestamp(), 'note', 'success',
						   loginas.current_admin(), loginas._context_text('admin_username'),
						   loginas.current_customer(), loginas._context_text('customer_email'),
						   loginas.current_session(), loginas.current_store(),
						   loginas._context_text('source'), loginas._context_text('reason'),
						   COALESCE(pg_catalog.inet_client_addr(), loginas._context_text('client_addr')::pg_catalog.inet),
						   SESSION_USER,
						   note.details OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('note', note.action));
END
$$;

------------------------------------------------------------------------------
-- 6 (cont). Verifying and purging the log
------------------------------------------------------------------------------
-- the first row where a chain breaks, or one row saying the log is intact
CREATE FUNCTION loginas.verify_log()
	RETURNS TABLE (intact boolean, log_id bigint, chain_id bigint, chain_seq bigint, problem text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH r AS (
		SELECT l.log_id, l.chain_id, l.chain_seq, l.prev_hash, l.row_hash,
			   pg_catalog.sha256(l.prev_hash OPERATOR(pg_catalog.||) pg_catalog.convert_to(
				   l.chain_id::text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) l.chain_seq::text
				   OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||)
				   loginas._log_content(l.log_id, l.logged_at, l.action_group, l.action, l.result, l.admin_id,
										l.admin_username, l.customer_id, l.customer_email, l.session_id,
										l.store_id, l.source, l.reason, l.client_addr, l.db_role, l.details),
				   'UTF8')) AS computed,
			   pg_catalog.lag(l.chain_seq) OVER w AS before_seq,
			   pg_catalog.lag(l.row_hash) OVER w AS before_hash
		  FROM loginas.action_log l
		WINDOW w AS (PARTITION BY l.chain_id ORDER BY l.chain_seq)
	), problems AS (
		SELECT r.log_id, r.chain_id, r.chain_seq,
			   CASE
				 WHEN NOT EXISTS (SELECT FROM loginas.log_chain c WHERE c.chain_id OPERATOR(pg_catalog.=) r.chain_id)
				   THEN 'the row belongs to no known chain (inserted)'
				 WHEN r.computed OPERATOR(pg_catalog.<>) r.row_hash
				   THEN 'the row does not match its hash (edited)'
				 WHEN r.before_seq IS NULL AND cp.chain_id IS NULL
					  AND (r.chain_seq OPERATOR(pg_catalog.<>) 1
						   OR r.prev_hash OPERATOR(pg_catalog.<>) pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'))
				   THEN 'the beginning of its chain is missing (deleted)'
				 WHEN r.before_seq IS NULL AND cp.chain_id IS NOT NULL
					  AND (r.chain_seq OPERATOR(pg_catalog.<>) (cp.chain_seq OPERATOR(pg_catalog.+) 1)
						   OR r.prev_hash OPERATOR(pg_catalog.<>) cp.row_hash)
				   THEN 'the chain does not continue from its purge checkpoint (deleted)'
				 WHEN r.before_seq IS NOT NULL AND r.chain_seq OPERATOR(pg_catalog.=) r.before_seq
				   THEN 'two rows claim the same place in the chain (inserted)'
				 WHEN r.before_seq IS NOT NULL AND r.chain_seq OPERATOR(pg_catalog.<>) (r.before_seq OPERATOR(pg_catalog.+) 1)
				   THEN 'rows are missing before this one (deleted)'
				 WHEN r.before_seq IS NOT NULL AND r.prev_hash OPERATOR(pg_catalog.<>) r.before_hash
				   THEN 'the row does not follow the one before it (inserted or replaced)'
			   END AS problem
		  FROM r LEFT JOIN loginas.log_checkpoint cp ON cp.chain_id OPERATOR(pg_catalog.=) r.chain_id
	)
	SELECT * FROM (
		SELECT false, p.log_id, p.chain_id, p.chain_seq, p.problem
		  FROM problems p WHERE p.problem IS NOT NULL
		 ORDER BY p.log_id LIMIT 1) broken
	UNION ALL
	SELECT true, NULL::bigint, NULL::bigint, NULL::bigint, 'intact'
	 WHERE NOT EXISTS (SELECT FROM problems p WHERE p.problem IS NOT NULL)
$$;

COMMENT ON FUNCTION loginas.verify_log() IS 'walks every hash chain of loginas.action_log: the first row where one breaks (edited, deleted or inserted rows), or intact';

-- the head of every chain: what an auditor keeps outside the database to
-- detect that the newest rows of a chain were removed
CREATE FUNCTION loginas.log_heads()
	RETURNS TABLE (chain_id bigint, chain_seq bigint, row_hash bytea, logged_at timestamptz)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT DISTINCT ON (l.chain_id) l.chain_id, l.chain_seq, l.row_hash, l.logged_at
	  FROM loginas.action_log l
	 ORDER BY l.chain_id, l.chain_seq DESC
$$;

-- retention: remove the rows older than p_before, keeping every chain verifiable
CREATE FUNCTION loginas.purge_log(before timestamptz, by_admin bigint DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.purge_log()');
	IF purge_log.before IS NULL OR purge_log.before OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
		PERFORM loginas._raise('22023', 'purge_log() needs a time in the past',
			'Rows older than it are removed.', NULL);
	END IF;
	PERFORM loginas._check_by_admin(purge_log.by_admin);
	PERFORM loginas._allow_purge(true);
	-- per chain, the purged part is a prefix: up to its last row older than the limit
	WITH last_purged AS (
		SELECT DISTINCT ON (l.chain_id) l.chain_id, l.chain_seq, l.row_hash
		  FROM loginas.action_log l
		 WHERE l.logged_at OPERATOR(pg_catalog.<) purge_log.before
		 ORDER BY l.chain_id, l.chain_seq DESC
	), checkpoints AS (
		INSERT INTO loginas.log_checkpoint AS cp (chain_id, chain_seq, row_hash)
		SELECT lp.chain_id, lp.chain_seq, lp.row_hash FROM last_purged lp
		ON CONFLICT (chain_id) DO UPDATE
		   SET chain_seq = EXCLUDED.chain_seq, row_hash = EXCLUDED.row_hash, purged_at = pg_catalog.now()
		RETURNING cp.chain_id, cp.chain_seq
	), gone AS (
		DELETE FROM loginas.action_log l USING checkpoints c
		 WHERE l.chain_id OPERATOR(pg_catalog.=) c.chain_id AND l.chain_seq OPERATOR(pg_catalog.<=) c.chain_seq
		RETURNING 1
	)
	SELECT pg_catalog.count(*) INTO n FROM gone;
	PERFORM loginas._allow_purge(false);
	PERFORM loginas._log('log_purged', 'success', purge_log.by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('before', purge_log.before, 'rows', n));
	RETURN n;
END
$$;

------------------------------------------------------------------------------
-- 11. Reports: the Admin Actions Report, one row per session, a
--     customer's access history, an admin's activity
--
-- Who may read them:
--   * without viewer_admin, the database role decides: members of
--     loginas_reporting read everything (through psql, a BI tool, a replica:
--     nothing is written, so a read-only transaction or a hot standby works);
--   * with viewer_admin (the admin backend, on behalf of an admin user), that
--     admin must exist, be active and have the "view_log" resource, and the
--     view itself is logged (a 'log_viewed' row naming the report and its
--     filters).  loginas_admin may read the reports only this way.
-- A SECURITY DEFINER function cannot see its caller's role, so each report is
-- the set_assistance pattern: a SECURITY INVOKER entry point (report) that
-- checks the caller's role and calls one of two SECURITY DEFINER halves,
-- report_as_reporting (granted to loginas_reporting only) or report_as_admin
-- (viewer_admin required; granted to loginas_admin and loginas_reporting).
-- The rows come from internal SQL functions that inline into their callers,
-- so each call is planned with its actual filters: every filter has an index.
------------------------------------------------------------------------------

-- the indexes behind the reports, with those made with the log: the time
-- filters and the Action Group use action_log_logged_at (loginas writes one
-- action group only, so an index led by action_group would be a copy of it),
-- the admin and customer filters action_log_admin and action_log_customer,
-- the sessions view action_log_session; added here: the failures (rare, so a
-- small partial index), and sessions by customer and by admin
CREATE INDEX action_log_failures ON loginas.action_log (logged_at DESC, log_id DESC)
	WHERE result OPERATOR(pg_catalog.=) 'failure';
CREATE INDEX session_customer ON loginas.session (customer_id);
CREATE INDEX session_admin ON loginas.session (admin_id);

-- the Action column: what a log row's action reads as
CREATE FUNCTION loginas._action_label(p_action text, p_details jsonb)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE	-- no SET clause: inlined into the reports
	AS $$
	SELECT CASE p_action
		WHEN 'ticket_issued' THEN 'Login as Customer: ticket issued'
		WHEN 'ticket_redeemed' THEN 'Login as Customer: ticket redeemed'
		WHEN 'session_ended' THEN
			CASE WHEN (p_details OPERATOR(pg_catalog.->>) 'redeemed')::boolean IS FALSE
				 THEN 'Ticket ended' ELSE 'Session ended' END
			OPERATOR(pg_catalog.||) COALESCE(' (' OPERATOR(pg_catalog.||) (p_details OPERATOR(pg_catalog.->>) 'end_reason')
											 OPERATOR(pg_catalog.||) ')', '')
		WHEN 'write_insert' THEN 'Write: insert'
		WHEN 'write_update' THEN 'Write: update'
		WHEN 'write_delete' THEN 'Write: delete'
		WHEN 'note' THEN 'Note: ' OPERATOR(pg_catalog.||) COALESCE(p_details OPERATOR(pg_catalog.->>) 'note', '')
		WHEN 'consent_granted' THEN 'Remote shopping assistance allowed'
		WHEN 'consent_revoked' THEN 'Remote shopping assistance revoked'
		WHEN 'permission_granted' THEN 'Permission granted'
		WHEN 'permission_revoked' THEN 'Permission revoked'
		WHEN 'setting_changed' THEN 'Setting changed'
		WHEN 'relation_bound' THEN 'Relation bound'
		WHEN 'relation_unbound' THEN 'Relation unbound'
		WHEN 'table_tracked' THEN 'Table tracked'
		WHEN 'table_untracked' THEN 'Table untracked'
		WHEN 'column_protected' THEN 'Column protected'
		WHEN 'column_unprotected' THEN 'Column unprotected'
		WHEN 'log_viewed' THEN 'Log viewed: ' OPERATOR(pg_catalog.||)
			CASE p_details OPERATOR(pg_catalog.->>) 'report'
				WHEN 'actions_report' THEN 'Admin Actions Report'
				WHEN 'customer_history' THEN 'customer history'
				WHEN 'admin_activity' THEN 'admin activity'
				ELSE COALESCE(p_details OPERATOR(pg_catalog.->>) 'report', '') END
		ELSE
			CASE WHEN p_action LIKE '%\_refused'		-- begin_refused, redeem_refused, assume_refused
				 THEN 'Refused: ' OPERATOR(pg_catalog.||)
					  pg_catalog.replace(pg_catalog.left(p_action, -8), '_', ' ')
				 ELSE pg_catalog.upper(pg_catalog.left(p_action, 1)) OPERATOR(pg_catalog.||)
					  pg_catalog.replace(pg_catalog.substr(p_action, 2), '_', ' ') END
	END
$$;

-- the primary keys of a write row, in the order written, as "(5), (6)";
-- composite keys as "(1, a)", a value that needs it double-quoted as in a
-- record ("(1, \"a, b\")"); at most p_max of them (NULL: all), then "and N more"
CREATE FUNCTION loginas._keys_text(p_keys jsonb, p_max int DEFAULT NULL)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(k.t, ', ' ORDER BY k.o) FILTER (WHERE p_max IS NULL OR k.o OPERATOR(pg_catalog.<=) p_max)
		   OPERATOR(pg_catalog.||)
		   CASE WHEN p_max IS NOT NULL AND pg_catalog.count(*) OPERATOR(pg_catalog.>) p_max
				THEN pg_catalog.format(' and %s more', pg_catalog.count(*) OPERATOR(pg_catalog.-) p_max)
				ELSE '' END
	  FROM (SELECT '(' OPERATOR(pg_catalog.||)
				   (SELECT pg_catalog.string_agg(
							   CASE WHEN pg_catalog.jsonb_typeof(e.v) OPERATOR(pg_catalog.=) 'null' THEN 'NULL'
									WHEN pg_catalog.jsonb_typeof(e.v) OPERATOR(pg_catalog.=) 'string'
										 AND (e.v OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^[^,()" \\]+$'
									THEN e.v OPERATOR(pg_catalog.#>>) '{}'
									ELSE e.v::text END,
							   ', ' ORDER BY e.i)
					  FROM pg_catalog.jsonb_array_elements(
							   CASE WHEN pg_catalog.jsonb_typeof(key.v) OPERATOR(pg_catalog.=) 'array'
									THEN key.v ELSE pg_catalog.jsonb_build_array(key.v) END)
						   WITH ORDINALITY AS e(v, i))
				   OPERATOR(pg_catalog.||) ')' AS t,
				   key.o
			  FROM pg_catalog.jsonb_array_elements(
					   CASE WHEN pg_catalog.jsonb_typeof(p_keys) OPERATOR(pg_catalog.=) 'array'
							THEN p_keys ELSE '[]' END) WITH ORDINALITY AS key(v, o)) k
	HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0
$$;

-- what a log row's details say, on one line (the row's customer, session,
-- source and reason are not repeated here); p_with_table: a write names its
-- table and keys (customer_history shows them in columns of their own)
CREATE FUNCTION loginas._action_details(p_action text, p_details jsonb, p_with_table boolean DEFAULT true)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d jsonb := COALESCE(p_details, '{}');
	n bigint;
	t text;
BEGIN
	IF p_action IN ('write_insert', 'write_update', 'write_delete') THEN
		n := (d OPERATOR(pg_catalog.->>) 'rows')::bigint;
		RETURN NULLIF(pg_catalog.concat_ws(', ',
			CASE WHEN p_with_table THEN
				pg_catalog.concat_ws(': ', d OPERATOR(pg_catalog.->>) 'table',
									 CASE WHEN n IS NOT NULL THEN pg_catalog.format('%s row%s', n,
										  CASE WHEN n OPERATOR(pg_catalog.=) 1 THEN '' ELSE 's' END) END)
			ELSE
				CASE WHEN n IS NOT NULL THEN pg_catalog.format('%s row%s', n,
					 CASE WHEN n OPERATOR(pg_catalog.=) 1 THEN '' ELSE 's' END) END
			END,
			CASE WHEN p_with_table THEN 'keys ' OPERATOR(pg_catalog.||) loginas._keys_text(d OPERATOR(pg_catalog.->) 'keys', 10) END,
			'columns ' OPERATOR(pg_catalog.||)
				(SELECT pg_catalog.string_agg(c, ', ' ORDER BY c)
				   FROM pg_catalog.jsonb_array_elements_text(
							CASE WHEN pg_catalog.jsonb_typeof(d OPERATOR(pg_catalog.->) 'changed_columns') OPERATOR(pg_catalog.=) 'array'
								 THEN d OPERATOR(pg_catalog.->) 'changed_columns' ELSE '[]' END) c)), '');
	ELSIF p_action OPERATOR(pg_catalog.=) 'ticket_issued' THEN
		RETURN CASE WHEN (d OPERATOR(pg_catalog.->>) 'read_only')::boolean THEN 'read-only' END;
	ELSIF p_action OPERATOR(pg_catalog.=) 'ticket_redeemed' THEN
		RETURN NULL;
	ELSIF p_action OPERATOR(pg_catalog.=) 'session_ended' THEN
		RETURN 'ended by admin ' OPERATOR(pg_catalog.||) (d OPERATOR(pg_catalog.->>) 'ended_by_admin');
	ELSIF p_action IN ('consent_granted', 'consent_revoked') THEN
		RETURN pg_catalog.concat_ws(' ', 'by ' OPERATOR(pg_catalog.||) (d OPERATOR(pg_catalog.->>) 'by'),
									'until ' OPERATOR(pg_catalog.||) (d OPERATOR(pg_catalog.->>) 'valid_until'));
	ELSIF p_action IN ('permission_granted', 'permission_revoked') THEN
		RETURN pg_catalog.format('role %s, resource %s', d OPERATOR(pg_catalog.->>) 'role', d OPERATOR(pg_catalog.->>) 'resource');
	ELSIF p_action OPERATOR(pg_catalog.=) 'setting_changed' THEN
		RETURN pg_catalog.format('%s: %s -> %s', d OPERATOR(pg_catalog.->>) 'setting', d OPERATOR(pg_catalog.->>) 'old',
								 d OPERATOR(pg_catalog.->>) 'new');
	ELSIF p_action IN ('relation_bound', 'relation_unbound') THEN
		RETURN pg_catalog.format('%s: %s', d OPERATOR(pg_catalog.->>) 'kind', d OPERATOR(pg_catalog.->>) 'relation');
	ELSIF p_action IN ('table_tracked', 'table_untracked') THEN
		RETURN pg_catalog.concat_ws(', ', d OPERATOR(pg_catalog.->>) 'table',
			'customer column ' OPERATOR(pg_catalog.||) (d OPERATOR(pg_catalog.->>) 'customer_column'),
			'parent ' OPERATOR(pg_catalog.||) (d OPERATOR(pg_catalog.->>) 'parent'));
	ELSIF p_action IN ('column_protected', 'column_unprotected') THEN
		RETURN pg_catalog.format('%s.%s', d OPERATOR(pg_catalog.->>) 'table', pg_catalog.quote_ident(d OPERATOR(pg_catalog.->>) 'column'));
	ELSIF p_action OPERATOR(pg_catalog.=) 'log_viewed' THEN
		SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', f.key, f.value OPERATOR(pg_catalog.#>>) '{}'), ', ' ORDER BY f.key)
		  INTO t
		  FROM pg_catalog.jsonb_each(COALESCE(d OPERATOR(pg_catalog.->) 'filters', '{}')) f;
		RETURN pg_catalog.concat_ws('; ', COALESCE(t, 'no filter'),
			CASE WHEN d OPERATOR(pg_catalog.?) 'page' THEN pg_catalog.format('page %s, page size %s', d OPERATOR(pg_catalog.->>) 'page',
															  d OPERATOR(pg_catalog.->>) 'page_size') END,
			pg_catalog.format('%s row%s shown', d OPERATOR(pg_catalog.->>) 'rows',
							  CASE WHEN d OPERATOR(pg_catalog.->>) 'rows' OPERATOR(pg_catalog.=) '1' THEN '' ELSE 's' END));
	ELSIF p_action LIKE '%\_refused' THEN
		RETURN pg_catalog.concat_ws(' ', d OPERATOR(pg_catalog.->>) 'sqlstate', d OPERATOR(pg_catalog.->>) 'message',
									d OPERATOR(pg_catalog.->>) 'detail');
	END IF;
	-- a note's own fields, or any other action's details: key: value, ...
	SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', f.key, f.value OPERATOR(pg_catalog.#>>) '{}'), ', ' ORDER BY f.key)
	  INTO t
	  FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(d) OPERATOR(pg_catalog.=) 'object' THEN d ELSE '{}' END) f
	 WHERE NOT (p_action OPERATOR(pg_catalog.=) 'note' AND f.key OPERATOR(pg_catalog.=) 'note');
	RETURN t;
END
$$;

-- the Details column of the Admin Actions Report: the customer, store view,
-- session, source and reason of the row, then what its details say
CREATE FUNCTION loginas._row_summary(p_action text, p_customer_id bigint, p_customer_email text,
									 p_store_id bigint, p_session_id bigint, p_source text, p_reason text,
									 p_details jsonb)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT NULLIF(pg_catalog.concat_ws('; ',
		CASE WHEN p_customer_id IS NOT NULL THEN
			'customer ' OPERATOR(pg_catalog.||)
			COALESCE(p_customer_email OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) p_customer_id OPERATOR(pg_catalog.||) ')',
					 p_customer_id::text) END,
		'store view ' OPERATOR(pg_catalog.||) p_store_id,
		'session ' OPERATOR(pg_catalog.||) p_session_id,
		'from ' OPERATOR(pg_catalog.||) p_source,
		'reason: ' OPERATOR(pg_catalog.||) p_reason,
		loginas._action_details(p_action, p_details, true)), '')
$$;

-- The rows of the reports.  These three are inlined into their callers (SQL,
-- STABLE, no SET clause: every name in them is schema-qualified, and their
-- callers pin search_path), so each call is planned with its actual
-- arguments: "x IS NULL OR col = x" folds away and the matching index is
-- used; the label and details are computed for the returned rows only.
CREATE FUNCTION loginas._actions_rows(p_since timestamptz, p_until timestamptz, p_action_group text,
									  p_admin_id bigint, p_customer_id bigint, p_result text,
									  p_page_size int, p_page int)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT p.logged_at, p.action_group, loginas._action_label(p.action, p.details), p.client_addr,
		   p.admin_username, p.result,
		   loginas._row_summary(p.action, p.customer_id, p.customer_email, p.store_id, p.session_id,
								p.source, p.reason, p.details)
	  FROM (SELECT l.log_id, l.logged_at, l.action_group, l.action, l.result, l.admin_username,
				   l.customer_id, l.customer_email, l.session_id, l.store_id, l.source, l.reason,
				   l.client_addr, l.details
			  FROM loginas.action_log l
			 WHERE (p_since IS NULL OR l.logged_at OPERATOR(pg_catalog.>=) p_since)
			   AND (p_until IS NULL OR l.logged_at OPERATOR(pg_catalog.<) p_until)
			   AND (p_action_group IS NULL OR l.action_group OPERATOR(pg_catalog.=) p_action_group)
			   AND (p_admin_id IS NULL OR l.admin_id OPERATOR(pg_catalog.=) p_admin_id)
			   AND (p_customer_id IS NULL OR l.customer_id OPERATOR(pg_catalog.=) p_customer_id)
			   AND (p_result IS NULL OR l.result OPERATOR(pg_catalog.=) p_result)
			 ORDER BY l.logged_at DESC, l.log_id DESC
			 OFFSET (p_page::pg_catalog.int8 OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) p_page_size
			 LIMIT p_page_size) p
	 ORDER BY p.logged_at DESC, p.log_id DESC
$$;

CREATE FUNCTION loginas._history_rows(p_customer_id bigint)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT l.logged_at, l.admin_username, loginas._action_label(l.action, l.details), l.result, l.reason,
		   l.source, l.session_id, l.details OPERATOR(pg_catalog.->>) 'table',
		   loginas._keys_text(l.details OPERATOR(pg_catalog.->) 'keys'),
		   loginas._action_details(l.action, l.details, false)
	  FROM loginas.action_log l
	 WHERE l.customer_id OPERATOR(pg_catalog.=) p_customer_id
	   AND l.action OPERATOR(pg_catalog.<>) 'log_viewed'
	 ORDER BY l.logged_at DESC, l.log_id DESC
$$;

CREATE FUNCTION loginas._activity_rows(p_admin_id bigint, p_since timestamptz)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT l.logged_at, loginas._action_label(l.action, l.details), l.result,
		   COALESCE(l.customer_email, l.customer_id::pg_catalog.text), l.session_id, l.source, l.reason,
		   loginas._action_details(l.action, l.details, true)
	  FROM loginas.action_log l
	 WHERE l.admin_id OPERATOR(pg_catalog.=) p_admin_id
	   AND (p_since IS NULL OR l.logged_at OPERATOR(pg_catalog.>=) p_since)
	 ORDER BY l.logged_at DESC, l.log_id DESC
$$;

-- viewer_admin: an existing, active admin whose role has "view_log"
CREATE FUNCTION loginas._check_viewer(p_viewer bigint)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
BEGIN
	IF p_viewer IS NULL THEN
		PERFORM loginas._raise('42501', 'viewing the Login as Customer log needs viewer_admin',
			'Without viewer_admin only members of loginas_reporting may read the log.',
			'Pass viewer_admin => the id of the admin user viewing the log; their role needs the "view_log" resource.');
	END IF;
	a := loginas._lookup('admins', p_viewer);
	IF a IS NULL THEN
		PERFORM loginas._raise('42501', pg_catalog.format('admin user %s does not exist', p_viewer),
			pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_viewer),
			'Pass the id of the admin user viewing the log as viewer_admin.');
	END IF;
	IF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		PERFORM loginas._raise('42501',
			pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username'),
			'Only active admin users can view the Login as Customer log.', NULL);
	END IF;
	IF NOT loginas.permitted(p_viewer, 'view_log') THEN
		PERFORM loginas._raise('42501',
			pg_catalog.format('admin user "%s" is not allowed to view the Login as Customer log',
							  a OPERATOR(pg_catalog.->>) 'username'),
			pg_catalog.format('Role "%s" does not have the "View Login as Customer Log" resource.',
							  a OPERATOR(pg_catalog.->>) 'role'),
			pg_catalog.format('Grant it with loginas.grant(%L, ''view_log'').', a OPERATOR(pg_catalog.->>) 'role'));
	END IF;
END
$$;

-- the 'log_viewed' row of a report viewed through viewer_admin
CREATE FUNCTION loginas._log_view(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb,
								  p_rows bigint, p_extra jsonb DEFAULT '{}')
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._log('log_viewed', 'success', p_viewer, p_customer_id,
		p_details => pg_catalog.jsonb_build_object('report', p_report,
												   'filters', pg_catalog.jsonb_strip_nulls(p_filters),
												   'rows', p_rows) OPERATOR(pg_catalog.||) p_extra);
END
$$;

------------------------------------------------------------------------------
-- The Admin Actions Report
------------------------------------------------------------------------------
CREATE FUNCTION loginas.actions_report_as_reporting(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
		action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL,
		result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan		-- plan each call with its filters
	AS $$
DECLARE
	grp text := actions_report_as_reporting.action_group;
	res text := pg_catalog.lower(actions_report_as_reporting.result);
BEGIN
	IF res IS NOT NULL AND res NOT IN ('success', 'failure') THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('invalid result "%s"', actions_report_as_reporting.result), NULL,
			'Valid results are: success, failure.');
	END IF;
	IF page_size IS NULL OR page_size OPERATOR(pg_catalog.<) 1 OR page_size OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('page_size must be between 1 and 10000, not %s', COALESCE(page_size::text, 'NULL')),
			NULL, NULL);
	END IF;
	IF page IS NULL OR page OPERATOR(pg_catalog.<) 1 THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('page must be 1 or more, not %s', COALESCE(page::text, 'NULL')), NULL,
			'Pages are numbered from 1.');
	END IF;
	IF since OPERATOR(pg_catalog.>) until THEN
		PERFORM loginas._raise('22023', 'since is later than until',
			'The report lists the actions with since <= Time < until.', NULL);
	END IF;
	-- the Action Group as Magento spells it, however it was typed
	IF pg_catalog.lower(grp) OPERATOR(pg_catalog.=) 'login as customer' THEN
		grp := 'Login As Customer';
	END IF;
	RETURN QUERY
	SELECT * FROM loginas._actions_rows(since, until, grp, actions_report_as_reporting.admin_id,
										actions_report_as_reporting.customer_id, res, page_size, page);
END
$$;

CREATE FUNCTION loginas.actions_report_as_admin(viewer_admin bigint, since timestamptz DEFAULT NULL,
		until timestamptz DEFAULT NULL, action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL,
		customer_id bigint DEFAULT NULL, result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM loginas._check_viewer(viewer_admin);
	RETURN QUERY
	SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report_as_admin.admin_id,
		actions_report_as_admin.customer_id, actions_report_as_admin.result, page_size, page);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'actions_report', actions_report_as_admin.customer_id,
		pg_catalog.jsonb_build_object('since', since, 'until', until, 'action_group', action_group,
									  'admin_id', actions_report_as_admin.admin_id,
									  'customer_id', actions_report_as_admin.customer_id,
									  'result', actions_report_as_admin.result),
		n, pg_catalog.jsonb_build_object('page', page, 'page_size', page_size));
END
$$;

CREATE FUNCTION loginas.actions_report(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
		action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL,
		result text DEFAULT NULL, viewer_admin bigint DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- SECURITY INVOKER: current_user is the caller
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY
		SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report.admin_id,
			actions_report.customer_id, actions_report.result, page_size, page);
	ELSE
		RETURN QUERY
		SELECT * FROM loginas.actions_report_as_admin(viewer_admin, since, until, action_group, actions_report.admin_id,
			actions_report.customer_id, actions_report.result, page_size, page);
	END IF;
END
$$;

COMMENT ON FUNCTION loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int)
	IS 'Admin Actions Report: Time, Action Group, Action, IP Address, Username, Result, Details; newest first, a page at a time';

------------------------------------------------------------------------------
-- One row per session (and per ticket never redeemed)
------------------------------------------------------------------------------
CREATE VIEW loginas.sessions AS
	SELECT s.session_id,
		   CASE WHEN s.ended_at IS NOT NULL THEN 'ended'
				WHEN COALESCE(s.expires_at, s.ticket_expires_at) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN 'expired'
				WHEN s.redeemed_at IS NULL THEN 'ticket'
				ELSE 'live' END AS status,
		   s.admin_id, l.admin_username, s.customer_id, l.customer_email, s.store_id, s.source, s.reason,
		   s.read_only,
		   s.created_at AS started, s.redeemed_at AS redeemed, COALESCE(s.expires_at, s.ticket_expires_at) AS expires,
		   s.ended_at AS ended, s.end_reason, s.ended_by_admin,
		   l.writes, l.tables_written, l.notes, l.last_action, l.admin_addr, l.storefront_addr
	  FROM loginas.session s
	 CROSS JOIN LATERAL (
		SELECT (pg_catalog.array_agg(a.admin_username ORDER BY a.log_id)
					FILTER (WHERE a.admin_username IS NOT NULL))[1] AS admin_username,
			   (pg_catalog.array_agg(a.customer_email ORDER BY a.log_id)
					FILTER (WHERE a.customer_email IS NOT NULL))[1] AS customer_email,
			   COALESCE(pg_catalog.sum((a.details OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8)
							FILTER (WHERE a.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])),
						0)::pg_catalog.int8 AS writes,
			   COALESCE(pg_catalog.array_agg(DISTINCT a.details OPERATOR(pg_catalog.->>) 'table')
							FILTER (WHERE a.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])),
						'{}') AS tables_written,
			   pg_catalog.count(*) FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'note') AS notes,
			   pg_catalog.max(a.logged_at) AS last_action,
			   (pg_catalog.array_agg(a.client_addr ORDER BY a.log_id)
					FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'ticket_issued'))[1] AS admin_addr,
			   (pg_catalog.array_agg(a.client_addr ORDER BY a.log_id)
					FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'ticket_redeemed'))[1] AS storefront_addr
		  FROM loginas.action_log a
		 WHERE a.session_id OPERATOR(pg_catalog.=) s.session_id) l
	 ORDER BY s.session_id DESC;

COMMENT ON VIEW loginas.sessions IS 'one row per Login as Customer ticket or session, newest first: who, whom, where, why, when, how it ended, what it wrote';

------------------------------------------------------------------------------
-- A customer's access history: who entered the account, when, why, from
-- which document, and what they changed (all rows about the customer but the
-- log's own views)
------------------------------------------------------------------------------
CREATE FUNCTION loginas.customer_history_as_reporting(customer_id bigint)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan
	AS $$
BEGIN
	IF customer_history_as_reporting.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL, NULL);
	END IF;
	RETURN QUERY SELECT * FROM loginas._history_rows(customer_history_as_reporting.customer_id);
END
$$;

CREATE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id bigint)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM loginas._check_viewer(viewer_admin);
	RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history_as_admin.customer_id);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'customer_history', customer_history_as_admin.customer_id,
		pg_catalog.jsonb_build_object('customer_id', customer_history_as_admin.customer_id), n);
END
$$;

CREATE FUNCTION loginas.customer_history(customer_id bigint, viewer_admin bigint DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history.customer_id);
	ELSE
		RETURN QUERY SELECT * FROM loginas.customer_history_as_admin(viewer_admin, customer_history.customer_id);
	END IF;
END
$$;

COMMENT ON FUNCTION loginas.customer_history(bigint, bigint)
	IS 'who entered the customer''s account, when, why, from which document, what they changed; newest first';

------------------------------------------------------------------------------
-- What one admin user did
------------------------------------------------------------------------------
CREATE FUNCTION loginas.admin_activity_as_reporting(admin_id bigint, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan
	AS $$
BEGIN
	IF admin_activity_as_reporting.admin_id IS NULL THEN
		PERFORM loginas._raise('22023', 'admin_id cannot be NULL', NULL, NULL);
	END IF;
	RETURN QUERY SELECT * FROM loginas._activity_rows(admin_activity_as_reporting.admin_id, since);
END
$$;

CREATE FUNCTION loginas.admin_activity_as_admin(viewer_admin bigint, admin_id bigint, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM loginas._check_viewer(viewer_admin);
	RETURN QUERY SELECT * FROM loginas.admin_activity_as_reporting(admin_activity_as_admin.admin_id, since);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'admin_activity', NULL,
		pg_catalog.jsonb_build_object('admin_id', admin_activity_as_admin.admin_id, 'since', since), n);
END
$$;

CREATE FUNCTION loginas.admin_activity(admin_id bigint, since timestamptz DEFAULT NULL, viewer_admin bigint DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY SELECT * FROM loginas.admin_activity_as_reporting(admin_activity.admin_id, since);
	ELSE
		RETURN QUERY SELECT * FROM loginas.admin_activity_as_admin(viewer_admin, admin_activity.admin_id, since);
	END IF;
END
$$;

COMMENT ON FUNCTION loginas.admin_activity(bigint, timestamptz, bigint)
	IS 'what one admin user did (sessions, writes, notes, changes, log views); newest first';

------------------------------------------------------------------------------
-- Privileges of the reports (section 9 revokes everything from PUBLIC again)
------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION
	loginas._action_label(text, jsonb),
	loginas._keys_text(jsonb, int),
	loginas._action_details(text, jsonb, boolean),
	loginas._row_summary(text, bigint, text, bigint, bigint, text, text, jsonb),
	loginas._actions_rows(timestamptz, timestamptz, text, bigint, bigint, text, int, int),
	loginas._history_rows(bigint),
	loginas._activity_rows(bigint, timestamptz),
	loginas._check_viewer(bigint),
	loginas._log_view(bigint, text, bigint, jsonb, bigint, jsonb),
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int),
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int),
	loginas.customer_history_as_reporting(bigint),
	loginas.customer_history_as_admin(bigint, bigint),
	loginas.customer_history(bigint, bigint),
	loginas.admin_activity_as_reporting(bigint, timestamptz),
	loginas.admin_activity_as_admin(bigint, bigint, timestamptz),
	loginas.admin_activity(bigint, timestamptz, bigint)
FROM PUBLIC;
REVOKE ALL ON loginas.sessions FROM PUBLIC;

-- the entry points: reporting and the admin backend
GRANT EXECUTE ON FUNCTION
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int),
	loginas.customer_history(bigint, bigint),
	loginas.admin_activity(bigint, timestamptz, bigint),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int),
	loginas.customer_history_as_admin(bigint, bigint),
	loginas.admin_activity_as_admin(bigint, bigint, timestamptz)
TO loginas_reporting, loginas_admin;
-- without viewer_admin: reporting only
GRANT EXECUTE ON FUNCTION
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int),
	loginas.customer_history_as_reporting(bigint),
	loginas.admin_activity_as_reporting(bigint, timestamptz)
TO loginas_reporting;
GRANT SELECT ON loginas.sessions TO loginas_reporting;

------------------------------------------------------------------------------
-- pg_dump keeps what the shop configured and what happened
------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('loginas.setting', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.binding', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.role_resource', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.consent', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.session', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.session_session_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.action_log', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.tracked', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.protected_column', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.action_log_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.log_chain', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.log_chain_chain_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loginas.log_checkpoint', '');

------------------------------------------------------------------------------
-- 9. Privileges: nothing for PUBLIC; each capability granted explicitly
------------------------------------------------------------------------------
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
	loginas.begin_from(bigint, text, bigint, bigint, text, boolean, inet),
	loginas.end_admin(bigint, text),
	loginas.expire()
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
	loginas.current_customer(), loginas.current_store(), loginas.current_read_only()
TO loginas_admin;

-- reporting
GRANT SELECT ON loginas.action_log TO loginas_reporting;
GRANT EXECUTE ON FUNCTION loginas.verify_log(), loginas.log_heads() TO loginas_reporting;
GRANT EXECUTE ON FUNCTION loginas.purge_log(timestamptz, bigint) TO loginas_admin;

-- notes from the application, in a session
GRANT EXECUTE ON FUNCTION loginas.note(text, jsonb) TO loginas_storefront, loginas_admin;
GRANT SELECT ON loginas.tracked_tables TO loginas_admin;

-- the tracked tables' trigger filter (see loginas.in_session above)
GRANT EXECUTE ON FUNCTION loginas.in_session() TO PUBLIC;

------------------------------------------------------------------------------
-- Say so when refused attempts will reach the server log only
------------------------------------------------------------------------------
DO $notice$
BEGIN
	IF NOT 'loginas' OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(
			pg_catalog.replace(pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
		RAISE WARNING 'loginas: durable refusal logging is off; refused attempts go to the server log only'
			USING HINT = 'Add loginas to shared_preload_libraries and restart the server to record them in loginas.action_log.';
	END IF;
END
$notice$;
