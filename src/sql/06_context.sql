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

-- The checked path of loginas.assume(): every check, every refusal (through
-- the refusal log), the context set.  assume() (src/assume.c) calls it
-- directly when its per-backend cache has no valid entry for the key; granted
-- to nobody.
CREATE FUNCTION loginas._assume_checked(session_key text)
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
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(_assume_checked.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(_assume_checked.session_key, ''))
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

-- loginas.assume(session_key): bind the current transaction to a live
-- session.  The first assume() of a key in a backend runs the checked path
-- (loginas._assume_checked); the next ones are served from a per-backend
-- cache of what it checked, for as long as nothing the verdict rests on has
-- changed (src/assume.c; docs/guarantees.md).  Not SECURITY DEFINER: the
-- cache is the backend's memory; what reads tables runs as loginas' owner.
CREATE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_assume';

COMMENT ON FUNCTION loginas.assume(text) IS 'bind the current transaction to a live Login as Customer session (checked, or served from the backend''s cache of a check nothing has changed since)';

-- The cache's invalidation.  loginas.cache_signal never holds a row: its
-- relcache invalidation, sent to every backend when a transaction that
-- changed a table a verdict rests on commits, empties their caches.
CREATE TABLE loginas.cache_signal ();

COMMENT ON TABLE loginas.cache_signal IS 'never holds rows: its invalidation tells every backend that cached loginas.assume() verdicts may be stale';

CREATE FUNCTION loginas._cache_signal()
	RETURNS trigger
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'loginas_cache_signal';

-- loginas' own tables a verdict rests on
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.session
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.consent
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.role_resource
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.setting
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.binding
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
ALTER TABLE loginas.session ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.consent ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.role_resource ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.setting ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.binding ENABLE ALWAYS TRIGGER loginas_assume_cache;

-- whether a view's query calls only immutable functions and operators (what
-- it shows then changes only with the rows it reads: no now(), no setting)
CREATE FUNCTION loginas._view_immutable(p_view oid)
	RETURNS boolean
	LANGUAGE c STABLE STRICT
	AS 'MODULE_PATHNAME', 'loginas_view_immutable';

-- The relations a set of bound relations reads: each relation, its kind, and
-- whether a change of what it shows is sure to go through the statement
-- triggers of its base tables -- a table in no inheritance or partition tree,
-- without row level security, or a view whose rule reads only relations
-- (followed) and calls only immutable built-in functions and operators (one
-- the shop defined could read anything; now() or a setting changes without a
-- write).  Any other kind of relation (foreign table, materialized view,
-- partitioned table, sequence) is not.
CREATE FUNCTION loginas._cache_relations(p_rels oid[])
	RETURNS TABLE (relid oid, relkind "char", watchable boolean)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	todo oid[] := p_rels;
	seen oid[] := '{}';
	r oid;
	c record;
BEGIN
	WHILE pg_catalog.cardinality(todo) OPERATOR(pg_catalog.>) 0 LOOP
		r := todo[1];
		todo := todo[2:];
		CONTINUE WHEN r OPERATOR(pg_catalog.=) ANY (seen);
		seen := seen OPERATOR(pg_catalog.||) r;
		SELECT cl.relkind, cl.relhassubclass, cl.relrowsecurity, cl.relispartition,
			   EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) r) AS inherits
		  INTO c
		  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) r;
		relid := r;
		relkind := c.relkind;
		IF c.relkind IS NULL THEN
			watchable := false;
		ELSIF c.relkind OPERATOR(pg_catalog.=) 'r' THEN
			-- a write through a parent fires the parent's statement triggers, not
			-- its children's: no table of an inheritance or partition tree
			watchable := NOT c.relhassubclass AND NOT c.relispartition AND NOT c.inherits AND NOT c.relrowsecurity;
		ELSIF c.relkind OPERATOR(pg_catalog.=) 'v' THEN
			watchable := loginas._view_immutable(r) AND NOT EXISTS (
				SELECT FROM pg_catalog.pg_depend d
				  JOIN pg_catalog.pg_rewrite rw ON rw.oid OPERATOR(pg_catalog.=) d.objid
				 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
				   AND rw.ev_class OPERATOR(pg_catalog.=) r
				   AND d.refobjid OPERATOR(pg_catalog.>=) 16384	-- FirstNormalObjectId: not built in
				   AND (d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass,
										 'pg_catalog.pg_operator'::pg_catalog.regclass)
						OR (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
							AND (SELECT t.typtype FROM pg_catalog.pg_type t
								  WHERE t.oid OPERATOR(pg_catalog.=) d.refobjid) IN ('b', 'd', 'r', 'm'))));
			todo := todo OPERATOR(pg_catalog.||) ARRAY(
				SELECT DISTINCT d.refobjid FROM pg_catalog.pg_depend d
				  JOIN pg_catalog.pg_rewrite rw ON rw.oid OPERATOR(pg_catalog.=) d.objid
				 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
				   AND rw.ev_class OPERATOR(pg_catalog.=) r
				   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
				   AND d.refobjid OPERATOR(pg_catalog.<>) r);
		ELSE
			watchable := false;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;

-- whether a table has the cache's trigger as it must be: every write
-- statement, no condition, fired ALWAYS (also under session_replication_role
-- = replica)
CREATE FUNCTION loginas._cache_trigger_ok(p_rel oid)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger t
					WHERE t.tgrelid OPERATOR(pg_catalog.=) p_rel
					  AND t.tgfoid OPERATOR(pg_catalog.=) 'loginas._cache_signal()'::pg_catalog.regprocedure
					  AND t.tgenabled OPERATOR(pg_catalog.=) 'A'
					  AND t.tgtype OPERATOR(pg_catalog.=) 60	-- statement, AFTER, INSERT|DELETE|UPDATE|TRUNCATE
					  AND t.tgqual IS NULL
					  AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0)
$$;

-- Put the cache's trigger on the base tables of a relation bound as admins,
-- customers or store_views (loginas.bind, and the update to 1.3): a change
-- of the shop's rows there empties every backend's cache when it commits.
-- Only loginas' own function runs there; it only invalidates.  Only tables
-- of the bound relation's owner get it (the shop's own tables behind its own
-- view: binding a view over another role's table changes nothing of that
-- table); a trigger of that name that is not loginas' is left alone; ours,
-- changed (disabled, given a condition), is made again.  Where the trigger
-- cannot be made (no privilege), or the relation reads something else
-- (loginas._cache_relations), assume() keeps using the checked path.
CREATE FUNCTION loginas._cache_watch(p_rel regclass)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t oid;
	fn oid;
BEGIN
	FOR t IN SELECT r.relid FROM loginas._cache_relations(ARRAY[p_rel::pg_catalog.oid]) r
			   JOIN pg_catalog.pg_class cl ON cl.oid OPERATOR(pg_catalog.=) r.relid
			  WHERE r.relkind OPERATOR(pg_catalog.=) 'r' AND r.watchable AND NOT loginas._cache_trigger_ok(r.relid)
				-- a table of the bound relation's owner, or any table a view of a
				-- superuser's reads (the DBA made it: the recipes' views)
				AND (cl.relowner OPERATOR(pg_catalog.=) (SELECT b.relowner FROM pg_catalog.pg_class b
														  WHERE b.oid OPERATOR(pg_catalog.=) p_rel)
					 OR (SELECT o.rolsuper FROM pg_catalog.pg_class b
						   JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) b.relowner
						  WHERE b.oid OPERATOR(pg_catalog.=) p_rel))
	LOOP
		SELECT g.tgfoid INTO fn FROM pg_catalog.pg_trigger g
		 WHERE g.tgrelid OPERATOR(pg_catalog.=) t AND g.tgname OPERATOR(pg_catalog.=) 'loginas_assume_cache';
		CONTINUE WHEN fn IS NOT NULL AND fn OPERATOR(pg_catalog.<>) 'loginas._cache_signal()'::pg_catalog.regprocedure;
		BEGIN
			IF fn IS NOT NULL THEN
				EXECUTE pg_catalog.format('DROP TRIGGER loginas_assume_cache ON %s', t::pg_catalog.regclass);
			END IF;
			EXECUTE pg_catalog.format('CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE'
									  ' ON %s FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal()',
									  t::pg_catalog.regclass);
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER loginas_assume_cache', t::pg_catalog.regclass);
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;	-- not cached: the checked path every time
		END;
	END LOOP;
END
$$;

-- The relations the admins, customers and store_views bindings read (what
-- assume.c watches for DDL), or NULL when a cached verdict could miss a change
-- of the shop's rows: a kind unbound, a relation not watchable, a base table
-- without the cache's trigger.
CREATE FUNCTION loginas._cache_watch_set()
	RETURNS oid[]
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rels oid[] := ARRAY(SELECT b.relation::pg_catalog.oid FROM loginas.binding b
						 WHERE b.kind IN ('admins', 'customers', 'store_views'));
	r record;
	seen oid[] := '{}';
BEGIN
	IF pg_catalog.cardinality(rels) OPERATOR(pg_catalog.<>) 3 THEN
		RETURN NULL;
	END IF;
	FOR r IN SELECT * FROM loginas._cache_relations(rels) LOOP
		IF NOT r.watchable OR (r.relkind OPERATOR(pg_catalog.=) 'r' AND NOT loginas._cache_trigger_ok(r.relid)) THEN
			RETURN NULL;
		END IF;
		seen := seen OPERATOR(pg_catalog.||) r.relid;
	END LOOP;
	RETURN seen;
END
$$;

-- this backend's cache: {entries valid now, calls served from it, calls
-- that took the checked path} (the tests read it)
CREATE FUNCTION loginas._assume_cache_stats()
	RETURNS bigint[]
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_assume_cache_stats';

-- ending a session waits for the transactions a cached assume() let act in it
CREATE FUNCTION loginas._lock_session_end(session_id bigint)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_lock_session_end';
