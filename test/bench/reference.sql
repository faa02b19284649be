-- test/bench/reference.sql — the PL/pgSQL peer that `make bench` compares
-- loginas' C triggers against.
--
-- The same behaviour as loginas.track() for a table with its own customer
-- column, written the way a careful PL/pgSQL author would write it:
--
--   * loginas_ref.assume(...) binds the current transaction to a session.
--     PL/pgSQL has no per-transaction memory of its own, so the context lives
--     in transaction-local custom settings (set_config(..., true)), cleared
--     at commit and rollback like loginas' C context.  It is handed the
--     admin's username and the customer's e-mail (what loginas._log looks up)
--     once, so that the trigger does not look them up for every row.
--   * loginas_ref.track(table, customer_column, protected_columns) generates
--     a trigger function for that one table (column names compiled in; no
--     to_jsonb(NEW)/hstore tricks, no dynamic SQL per row) and installs it as
--     BEFORE ROW triggers with the same WHEN filters as loginas' triggers, and
--     a BEFORE TRUNCATE trigger.
--   * per row, inside a session: read-only sessions refuse; containment (the
--     old and the new row belong to the impersonated customer; moving a row
--     to another customer is refused: 42501 naming the table and key);
--     protected columns may not change (or be set by an INSERT); the stamps
--     (created/changed session) are set; and ONE ROW per written row goes to
--     loginas_ref.action_log — a table with the columns, defaults and
--     indexes of loginas.action_log — with the key and, for an update, the
--     names of the changed columns, linked into a hash chain as loginas'
--     log rows are (loginas_ref.append).
--   * outside a session the stamps cannot be forged: an INSERT gets none, an
--     UPDATE keeps the creation stamp and clears the last-change stamp.
--
-- Not covered (the bench does not need them): child tables reaching their
-- customer through a foreign key, partitioned tables.
--
-- Applied by test/bench/bench.sh as a superuser, after CREATE EXTENSION
-- loginas.  Only the bench's own copy of the table (bench.quote_ref) uses it.

CREATE SCHEMA loginas_ref;

-- the same columns, defaults, constraints and indexes as loginas.action_log
-- (whatever they are in the installed version), with a sequence of its own
-- and none of its triggers
CREATE TABLE loginas_ref.action_log (LIKE loginas.action_log INCLUDING ALL);
CREATE SEQUENCE loginas_ref.action_log_log_id_seq OWNED BY loginas_ref.action_log.log_id;
ALTER TABLE loginas_ref.action_log ALTER COLUMN log_id SET DEFAULT nextval('loginas_ref.action_log_log_id_seq');

-- the context of the current transaction (cleared at its end)
CREATE FUNCTION loginas_ref.assume(session_id bigint, admin_id bigint, customer_id bigint,
								   store_id bigint, read_only boolean,
								   admin_username text, customer_email text,
								   source text DEFAULT NULL, reason text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	AS $$
BEGIN
	PERFORM pg_catalog.set_config('loginas_ref.source', COALESCE(assume.source, ''), true),
			pg_catalog.set_config('loginas_ref.reason', COALESCE(assume.reason, ''), true);
	PERFORM pg_catalog.set_config('loginas_ref.session_id', assume.session_id::text, true),
			pg_catalog.set_config('loginas_ref.admin_id', assume.admin_id::text, true),
			pg_catalog.set_config('loginas_ref.customer_id', assume.customer_id::text, true),
			pg_catalog.set_config('loginas_ref.store_id', COALESCE(assume.store_id::text, ''), true),
			pg_catalog.set_config('loginas_ref.read_only', assume.read_only::text, true),
			pg_catalog.set_config('loginas_ref.admin_username', COALESCE(assume.admin_username, ''), true),
			pg_catalog.set_config('loginas_ref.customer_email', COALESCE(assume.customer_email, ''), true);
	RETURN assume.session_id;
END
$$;

-- The tamper evidence of loginas.action_log (a hash chain per backend,
-- row_hash = sha256(prev_hash || "<chain_id>:<chain_seq>:" || content), the
-- content being the row as a JSON array), for loginas_ref.action_log.  The
-- head of the chain is kept in session-level settings: unlike loginas' C code
-- it is not put back when a transaction rolls back -- a simplification that
-- only makes the reference faster.
CREATE FUNCTION loginas_ref.append(p_logged_at timestamptz, p_action text, p_admin_id bigint,
								   p_admin_username text, p_customer_id bigint, p_customer_email text,
								   p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								   p_details jsonb)
	RETURNS void
	LANGUAGE plpgsql
	AS $$
DECLARE
	id bigint := nextval('loginas_ref.action_log_log_id_seq');
	chain bigint := pg_catalog.pg_backend_pid();
	seq bigint := COALESCE(NULLIF(pg_catalog.current_setting('loginas_ref.chain_seq', true), ''), '0')::bigint + 1;
	prev bytea := COALESCE(pg_catalog.decode(NULLIF(pg_catalog.current_setting('loginas_ref.chain_hash', true), ''), 'hex'),
						   pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'));
	addr inet := pg_catalog.inet_client_addr();
	h bytea;
BEGIN
	h := pg_catalog.sha256(prev || pg_catalog.convert_to(chain || ':' || seq || ':' ||
			pg_catalog.jsonb_build_array(id, EXTRACT(epoch FROM p_logged_at), 'Login As Customer', p_action, 'success',
										 p_admin_id, p_admin_username, p_customer_id, p_customer_email, p_session_id,
										 p_store_id, p_source, p_reason, addr::text, SESSION_USER::text, p_details)::text,
			'UTF8'));
	INSERT INTO loginas_ref.action_log (log_id, logged_at, action_group, action, result, admin_id, admin_username,
										customer_id, customer_email, session_id, store_id, source, reason,
										client_addr, db_role, details, chain_id, chain_seq, prev_hash, row_hash)
	VALUES (id, p_logged_at, 'Login As Customer', p_action, 'success', p_admin_id, p_admin_username,
			p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
			addr, SESSION_USER, p_details, chain, seq, prev, h);
	PERFORM pg_catalog.set_config('loginas_ref.chain_seq', seq::text, false),
			pg_catalog.set_config('loginas_ref.chain_hash', pg_catalog.encode(h, 'hex'), false);
END
$$;

-- the WHEN filter: is the current transaction acting in a session?
CREATE FUNCTION loginas_ref.in_session() RETURNS boolean
	LANGUAGE sql STABLE
	AS $$ SELECT COALESCE(pg_catalog.current_setting('loginas_ref.session_id', true), '') <> '' $$;

CREATE FUNCTION loginas_ref._truncate() RETURNS trigger
	LANGUAGE plpgsql
	AS $$
BEGIN
	IF loginas_ref.in_session() THEN
		RAISE EXCEPTION 'Login as Customer session % may not truncate %.%',
			pg_catalog.current_setting('loginas_ref.session_id'), TG_TABLE_SCHEMA, TG_TABLE_NAME
			USING ERRCODE = '42501';
	END IF;
	RETURN NULL;
END
$$;

-- Generate and install the triggers of one table.
CREATE FUNCTION loginas_ref.track(p_relation regclass, p_customer_column name,
								  p_protected name[] DEFAULT '{}',
								  p_created name DEFAULT 'loginas_created_session',
								  p_changed name DEFAULT 'loginas_changed_session')
	RETURNS void
	LANGUAGE plpgsql
	AS $gen$
DECLARE
	fn text := pg_catalog.format('loginas_ref.%I', 'trg_' || p_relation::oid);
	pk name[];
	key_new text;
	key_old text;
	changed text;
	protected_checks text := '';
	col name;
BEGIN
	SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord) INTO pk
	  FROM pg_catalog.pg_index i
	 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
	 WHERE i.indrelid = p_relation AND i.indisprimary;
	IF pk IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', p_relation USING ERRCODE = '55000';
	END IF;
	FOREACH col IN ARRAY ARRAY[p_created, p_changed] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
						WHERE a.attrelid = p_relation AND a.attname = col AND NOT a.attisdropped) THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I bigint', p_relation, col);
		END IF;
	END LOOP;

	-- the key as a JSON array of its values' text, as loginas logs it
	SELECT pg_catalog.format('pg_catalog.jsonb_build_array(%s)',
							 pg_catalog.string_agg(pg_catalog.format('NEW.%I::text', c), ', ')),
		   pg_catalog.format('pg_catalog.jsonb_build_array(%s)',
							 pg_catalog.string_agg(pg_catalog.format('OLD.%I::text', c), ', '))
	  INTO key_new, key_old
	  FROM pg_catalog.unnest(pk) c;
	-- the names of the columns an update changed (stamps excluded)
	SELECT pg_catalog.format('pg_catalog.array_remove(ARRAY[%s]::text[], NULL)',
							 pg_catalog.string_agg(pg_catalog.format(
								 'CASE WHEN NEW.%1$I IS DISTINCT FROM OLD.%1$I THEN %1$L END', a.attname),
								 ', ' ORDER BY a.attnum))
	  INTO changed
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = p_relation AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attname NOT IN (p_created, p_changed);
	FOREACH col IN ARRAY p_protected LOOP
		protected_checks := protected_checks || pg_catalog.format($c$
	IF (TG_OP = 'UPDATE' AND NEW.%1$I IS DISTINCT FROM OLD.%1$I)
	   OR (TG_OP = 'INSERT' AND NEW.%1$I IS NOT NULL) THEN
		RAISE EXCEPTION 'column "%1$s" of %2$s is protected from Login as Customer sessions'
			USING ERRCODE = '42501', DETAIL = pg_catalog.format('Session %%s tried to change it in row %%s.', sid, %3$s);
	END IF;$c$, col, p_relation::text, key_new);
	END LOOP;

	EXECUTE pg_catalog.format($fn$
CREATE OR REPLACE FUNCTION %1$s() RETURNS trigger
	LANGUAGE plpgsql
	AS $body$
DECLARE
	sid bigint := NULLIF(pg_catalog.current_setting('loginas_ref.session_id', true), '')::bigint;
	cust bigint;
	details jsonb;
BEGIN
	IF sid IS NULL THEN
		-- outside a session: nobody can claim a session did this
		IF TG_OP = 'INSERT' THEN
			NEW.%2$I := NULL;
			NEW.%3$I := NULL;
			RETURN NEW;
		ELSIF TG_OP = 'UPDATE' THEN
			NEW.%2$I := OLD.%2$I;
			NEW.%3$I := NULL;
			RETURN NEW;
		END IF;
		RETURN OLD;
	END IF;

	IF pg_catalog.current_setting('loginas_ref.read_only')::boolean THEN
		RAISE EXCEPTION 'Login as Customer session %% is read-only', sid USING ERRCODE = '42501';
	END IF;

	-- containment
	cust := pg_catalog.current_setting('loginas_ref.customer_id')::bigint;
	IF TG_OP <> 'INSERT' AND OLD.%4$I IS DISTINCT FROM cust THEN
		RAISE EXCEPTION 'Login as Customer session %% may not write row %% of %5$s', sid, %7$s
			USING ERRCODE = '42501',
				  DETAIL = pg_catalog.format('The existing row belongs to customer %%s, not to the impersonated customer %%s.', OLD.%4$I, cust);
	END IF;
	IF TG_OP <> 'DELETE' AND NEW.%4$I IS DISTINCT FROM cust THEN
		RAISE EXCEPTION 'Login as Customer session %% may not write row %% of %5$s', sid, %6$s
			USING ERRCODE = '42501',
				  DETAIL = pg_catalog.format('The new row belongs to customer %%s, not to the impersonated customer %%s.', NEW.%4$I, cust);
	END IF;
%9$s

	-- one log row per written row
	IF TG_OP = 'INSERT' THEN
		details := pg_catalog.jsonb_build_object('table', %5$L, 'operation', 'insert', 'key', %6$s);
	ELSIF TG_OP = 'UPDATE' THEN
		details := pg_catalog.jsonb_build_object('table', %5$L, 'operation', 'update', 'key', %6$s,
												 'changed_columns', pg_catalog.to_jsonb(%8$s));
	ELSE
		details := pg_catalog.jsonb_build_object('table', %5$L, 'operation', 'delete', 'key', %7$s);
	END IF;
	PERFORM loginas_ref.append(pg_catalog.clock_timestamp(), 'write_' || pg_catalog.lower(TG_OP),
			pg_catalog.current_setting('loginas_ref.admin_id')::bigint,
			NULLIF(pg_catalog.current_setting('loginas_ref.admin_username'), ''),
			cust,
			NULLIF(pg_catalog.current_setting('loginas_ref.customer_email'), ''),
			sid,
			NULLIF(pg_catalog.current_setting('loginas_ref.store_id'), '')::bigint,
			NULLIF(pg_catalog.current_setting('loginas_ref.source'), ''),
			NULLIF(pg_catalog.current_setting('loginas_ref.reason'), ''),
			details);

	-- the stamps
	IF TG_OP = 'INSERT' THEN
		NEW.%2$I := sid;
		NEW.%3$I := sid;
		RETURN NEW;
	ELSIF TG_OP = 'UPDATE' THEN
		NEW.%2$I := OLD.%2$I;
		NEW.%3$I := sid;
		RETURN NEW;
	END IF;
	RETURN OLD;
END
$body$
$fn$, fn, p_created, p_changed, p_customer_column, p_relation::text, key_new, key_old, changed, protected_checks);

	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_ref_insert BEFORE INSERT ON %s FOR EACH ROW'
		' WHEN (loginas_ref.in_session() OR NEW.%I IS NOT NULL OR NEW.%I IS NOT NULL)'
		' EXECUTE FUNCTION %s()', p_relation, p_created, p_changed, fn);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_ref_update BEFORE UPDATE ON %s FOR EACH ROW'
		' WHEN (loginas_ref.in_session() OR NEW.%I IS NOT NULL OR NEW.%I IS DISTINCT FROM OLD.%I)'
		' EXECUTE FUNCTION %s()', p_relation, p_changed, p_created, p_created, fn);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_ref_delete BEFORE DELETE ON %s FOR EACH ROW'
		' WHEN (loginas_ref.in_session()) EXECUTE FUNCTION %s()', p_relation, fn);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_ref_truncate BEFORE TRUNCATE ON %s'
		' FOR EACH STATEMENT EXECUTE FUNCTION loginas_ref._truncate()', p_relation);
END
$gen$;
