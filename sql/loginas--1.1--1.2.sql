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

------------------------------------------------------------------------------
-- 6 (cont). Purging the log
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 7. Policy: locks
------------------------------------------------------------------------------
-- p_lock (begin, redeem): share-lock the rows the verdict rests on -- the
-- 'enabled' setting, the role's 'login' resource, the customer's consent.
-- Turning the feature off, revoking the resource and withdrawing the consent
-- write those rows, so they wait for this transaction and then, in READ
-- COMMITTED, see its ticket and end it (REPEATABLE READ: a serialization
-- error instead of a missed ticket).  Share locks do not block each other:
-- begins for other admins and customers go on (1.1 updated the rows, so one
-- admin's open transaction held up every begin in the shop).  The rows'
-- last_used_at columns, which those updates kept, are gone: the log records
-- every begin and redeem.
CREATE OR REPLACE FUNCTION loginas._evaluate(p_admin_id bigint, p_customer_id bigint, p_lock boolean DEFAULT false)
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
	IF p_lock THEN
		PERFORM FROM loginas.role_resource r
		  WHERE r.role OPERATOR(pg_catalog.=) (v.admin OPERATOR(pg_catalog.->>) 'role')
		    AND r.resource OPERATOR(pg_catalog.=) 'login'
		    FOR SHARE;
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
		SELECT * INTO c FROM loginas.consent cs
		 WHERE cs.customer_id OPERATOR(pg_catalog.=) p_customer_id AND cs.allowed
		   AND (cs.valid_until IS NULL OR cs.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FOR SHARE;
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

ALTER TABLE loginas.role_resource DROP COLUMN last_used_at;
ALTER TABLE loginas.consent DROP COLUMN last_used_at;

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


------------------------------------------------------------------------------
-- 8b. Sessions: assume
------------------------------------------------------------------------------

------------------------------------------------------------------------------
-- 10. Write attribution
--
-- What a table owner can define must never run with loginas' rights.  The
-- tracking trigger looks a child row's customer up through its parents as
-- the extension owner (a row the writing role may not read still has a
-- customer): that query compares the foreign-key and parent-key columns of
-- every table on the chain.  A column of a type the table owner created (a
-- composite with a cast of its own, a domain with a CHECK, a base type's
-- operators) would run the owner's code there, as a superuser.  So every
-- column the trigger reads or compares must have a built-in type (one
-- PostgreSQL created at initdb: only a superuser can add casts or operators
-- between those), every relation on the chain must still be a table, and
-- plain tables are read with ONLY (an inheritance child the owner adds is not
-- the foreign key's table).  track() refuses such a column; ALTER TABLE later
-- makes the trigger refuse every write in a session (checked at every
-- refill of its cache, which any ALTER TABLE on the chain invalidates).
------------------------------------------------------------------------------

-- the first of p_columns of p_rel whose type is not built-in, as the
-- problem's text; NULL when every one is built-in (or absent: the callers
-- report missing columns themselves)
CREATE FUNCTION loginas._untrusted_column(p_rel regclass, p_columns name[])
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('column "%s" of %s has type %s', a.attname, p_rel,
							 pg_catalog.format_type(a.atttypid, a.atttypmod))
	  FROM pg_catalog.unnest(p_columns) WITH ORDINALITY u(c, o)
	  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) p_rel
									AND a.attname OPERATOR(pg_catalog.=) u.c AND NOT a.attisdropped
	 WHERE a.atttypid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid	-- FirstNormalObjectId
	 ORDER BY u.o
	 LIMIT 1
$$;

-- what the trigger on p_relid (the tracked table or one of its partitions)
-- needs; problem_code is the SQLSTATE track() raises the problem with
DROP FUNCTION loginas._track_info(oid);
CREATE FUNCTION loginas._track_info(p_relid oid)
	RETURNS TABLE (relname text, customer_attnum int2, customer_type oid, created_attnum int2,
				   changed_attnum int2, pk_attnums int2[], protected_attnums int2[],
				   fk_attnums int2[], parent_query text, chain oid[],
				   problem text, problem_detail text, problem_hint text, problem_code text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	cur loginas.tracked;
	from_list text;
	cond text := '';
	untrusted text;
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
	-- a tracked column renamed, dropped or retyped since track(): in a session
	-- every write is refused rather than guessed at (the trigger raises the
	-- problem); the stamps must stay bigint, the customer column an integer
	IF created_attnum OPERATOR(pg_catalog.=) 0 OR changed_attnum OPERATOR(pg_catalog.=) 0
	   OR loginas._atttype(p_relid::regclass, created_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
	   OR loginas._atttype(p_relid::regclass, changed_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
	   OR (t.customer_column IS NOT NULL AND customer_type NOT IN
			('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype))
	   OR customer_attnum OPERATOR(pg_catalog.=) 0 OR pk_attnums IS NULL
	   OR 0 OPERATOR(pg_catalog.=) ANY (pk_attnums) OR 0 OPERATOR(pg_catalog.=) ANY (protected_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A tracked, stamp, key or protected column was renamed, dropped or retyped, or the primary key changed.';
		problem_hint := 'Track the table again with loginas.track(), and protect its columns again.';
		problem_code := '55000';
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
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT tr.* INTO cur FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) t.parent;
	IF cur.relation IS NULL THEN
		problem := pg_catalog.format('the parent of %s is no longer tracked', t.relation);
		problem_detail := 'A child table reaches its customer through its tracked parent.';
		problem_hint := 'Track the parent again, or track the table with its own customer column.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	untrusted := COALESCE(loginas._untrusted_column(p_relid::regclass, t.fk_columns),
						  loginas._untrusted_column(cur.relation, t.parent_columns));
	FOR j IN 1 .. pg_catalog.array_length(t.parent_columns, 1) LOOP
		cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
				OPERATOR(pg_catalog.||) pg_catalog.format('t0.%I OPERATOR(pg_catalog.=) $%s', t.parent_columns[j], j);
	END LOOP;
	IF EXISTS (SELECT FROM pg_catalog.unnest(t.parent_columns) c
				WHERE loginas._attnum(cur.relation, c) OPERATOR(pg_catalog.=) 0) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	from_list := loginas._chain_relation(cur.relation) OPERATOR(pg_catalog.||) ' t0';
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
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		untrusted := COALESCE(untrusted, loginas._untrusted_column(cur.relation, cur.fk_columns),
							  loginas._untrusted_column(cur.parent, cur.parent_columns));
		from_list := from_list OPERATOR(pg_catalog.||) pg_catalog.format(' JOIN %s t%s ON ', loginas._chain_relation(cur.parent), i);
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
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		chain := chain OPERATOR(pg_catalog.||) cur.relation::oid;
	END LOOP;
	IF loginas._attnum(cur.relation, cur.customer_column) OPERATOR(pg_catalog.=) 0
	   OR loginas._atttype(cur.relation, loginas._attnum(cur.relation, cur.customer_column)) NOT IN
			('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed, dropped or retyped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- every relation the query reads is still a table (a table owner cannot
	-- turn a tracked table into a view, but this does not rely on it)
	IF EXISTS (SELECT FROM pg_catalog.pg_class c
				WHERE c.oid OPERATOR(pg_catalog.=) ANY (chain[2:]) AND c.relkind NOT IN ('r', 'p')) THEN
		problem := pg_catalog.format('the parent chain of %s holds a relation that is not a table', t.relation);
		problem_detail := 'loginas reads the parents of a child row only from tables.';
		problem_hint := 'Track the parents again with loginas.track().';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	IF untrusted IS NOT NULL THEN
		problem := untrusted;
		problem_detail := 'loginas compares the columns that tie a child row to its customer with the extension'
						  ' owner''s rights, so they must have built-in types: a type of the table owner''s own'
						  ' could run the owner''s code (a cast, an operator, a check) with those rights.';
		problem_hint := 'Give the column a built-in type (for a domain, its base type).';
		problem_code := '42804';
		RETURN NEXT;
		RETURN;
	END IF;
	parent_query := pg_catalog.format('SELECT t%s.%I::pg_catalog.int8 FROM %s WHERE %s FOR SHARE',
									  i, cur.customer_column, from_list, cond);
	RETURN NEXT;
END
$$;

-- a relation of the parent chain as the parent query names it: a plain table
-- with ONLY (the foreign key references that table, not its inheritance
-- children), a partitioned table as it is (its rows are in its partitions)
CREATE FUNCTION loginas._chain_relation(p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN '' ELSE 'ONLY ' END OPERATOR(pg_catalog.||) p_rel::pg_catalog.text
	  FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) p_rel
$$;

-- the triggers fire ALWAYS: session_replication_role = replica (a role
-- granted SET on it, or a SECURITY DEFINER wrapper) must not switch tracking
-- off; a logical-replication apply worker, which runs as replica, passes
-- through them untouched (src/track.c).  And a table is tracked only once the
-- trigger can read it: track() raises what the trigger would refuse.
CREATE OR REPLACE FUNCTION loginas._install_triggers(p_relation regclass, p_created name, p_changed name)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	info record;
	trg name;
BEGIN
	SELECT ti.problem, ti.problem_detail, ti.problem_hint, ti.problem_code INTO info
	  FROM loginas._track_info(p_relation) ti;
	IF info.problem IS NOT NULL THEN
		PERFORM loginas._raise(info.problem_code, info.problem, info.problem_detail, info.problem_hint);
	END IF;
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
	FOREACH trg IN ARRAY loginas._trigger_names() LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p_relation, trg);
	END LOOP;
END
$$;

-- the names of the triggers track() installs
CREATE FUNCTION loginas._trigger_names()
	RETURNS name[]
	LANGUAGE sql IMMUTABLE
	AS $$
	SELECT ARRAY['zz_loginas_track_insert', 'zz_loginas_track_update', 'zz_loginas_track_delete',
				 'zz_loginas_log_insert', 'zz_loginas_track_truncate']::name[]
$$;

-- the tables tracked under 1.1 get ALWAYS triggers too (ALTER TABLE on a
-- partitioned table reaches its partitions)
DO $always$
DECLARE
	t regclass;
	trg name;
BEGIN
	FOR t IN SELECT tr.relation FROM loginas.tracked tr ORDER BY tr.relation::pg_catalog.oid LOOP
		FOREACH trg IN ARRAY loginas._trigger_names() LOOP
			IF EXISTS (SELECT FROM pg_catalog.pg_trigger g
						WHERE g.tgrelid OPERATOR(pg_catalog.=) t AND g.tgname OPERATOR(pg_catalog.=) trg) THEN
				EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', t, trg);
			END IF;
		END LOOP;
	END LOOP;
END
$always$;

------------------------------------------------------------------------------
-- 9. Privileges
------------------------------------------------------------------------------
-- the internal functions 1.2 adds: nothing for PUBLIC (the extension
-- script's blanket REVOKE ran before they existed)
REVOKE ALL ON FUNCTION
	loginas._untrusted_column(regclass, name[]),
	loginas._track_info(oid),
	loginas._chain_relation(regclass),
	loginas._trigger_names(),
	loginas._serialize_revocation()
	FROM PUBLIC;
