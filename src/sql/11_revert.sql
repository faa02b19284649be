/*
 * 11_revert.sql
 * Undoing a session (src/revert.c).  Every row a session writes has an
 * image as it was before the session's transactions first wrote it,
 * complete (protected and sensitive columns included), and the transaction
 * that wrote the row the session left, in loginas.row_image: a table no
 * role can read, purged with the log.  loginas.revert() puts a
 * session's rows back as they were before it, as one transaction: a row the
 * session inserted is deleted, one it changed gets its values back, one it
 * deleted is inserted again -- or nothing at all when a row was written
 * after the session by someone else (the conflicts are listed); a dry run
 * lists what it would do.  The revert needs the admin's "revert" resource,
 * acts in a session of its own (its writes are stamped and logged as the
 * revert's) and is its own log action, session_reverted.  A session is
 * reverted once.
 */

-- The images of the rows sessions write, for loginas.revert(): per session,
-- batches of about a megabyte of entries in the order written -- for each
-- row at a transaction's first write of it, the row as it was (the stored
-- bytes of every column, never their text: no type's input or output
-- function runs to make or restore an image) and the transaction that wrote
-- it, or "no row" and the key; and at each commit whether a row is left
-- under the key, and the transaction that wrote it (src/revert.c has the
-- format).  Readable by no role; purged with the log; not kept by pg_dump
-- (an image is bound to this database's types).
CREATE TABLE loginas.row_image (
	session_id		bigint NOT NULL,
	batch			bigint NOT NULL,	-- the order written (row_image_seq)
	rows			bigint NOT NULL,	-- the write-log rows of the session it completes
	images			bytea NOT NULL,
	PRIMARY KEY (session_id, batch)
);

CREATE SEQUENCE loginas.row_image_seq;

-- the sessions reverted, and by which revert (written only by revert())
CREATE TABLE loginas.session_image (
	session_id		bigint PRIMARY KEY,
	reverted_by		bigint NOT NULL,	-- the revert's own session
	reverted_at		timestamptz NOT NULL
);

-- The tables of a revert ranked by their foreign keys among them: 0 for a
-- table that references none of the others, else one more than the highest
-- rank of those it references (a cycle is cut after 64 steps).  Rows are put
-- back in parents before children, deleted children before parents.
CREATE FUNCTION loginas._fk_rank(p_relations oid[])
	RETURNS TABLE (relation oid, rank int)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH RECURSIVE fk AS (
		SELECT DISTINCT c.conrelid AS child, c.confrelid AS parent
		  FROM pg_catalog.pg_constraint c
		 WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0
		   AND c.conrelid OPERATOR(pg_catalog.=) ANY (p_relations)
		   AND c.confrelid OPERATOR(pg_catalog.=) ANY (p_relations)
		   AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid
	), walk (relation, depth) AS (
		SELECT r.r, 0 FROM pg_catalog.unnest(p_relations) r(r)
		UNION
		SELECT fk.child, w.depth OPERATOR(pg_catalog.+) 1
		  FROM walk w JOIN fk ON fk.parent OPERATOR(pg_catalog.=) w.relation
		 WHERE w.depth OPERATOR(pg_catalog.<) 64
	)
	SELECT w.relation, pg_catalog.max(w.depth)::int FROM walk w GROUP BY w.relation
$$;

-- the plan of a revert, and with p_apply its writes (src/revert.c)
CREATE FUNCTION loginas._revert_rows(p_session bigint, p_revert_session bigint, p_apply boolean,
									 p_admin_username text, p_customer_email text)
	RETURNS TABLE (relation text, key text, action text, columns text[], conflict text, seq bigint)
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_revert_rows';

-- loginas.revert(session_id, by_admin, reason, dry_run): by an admin of any
-- key type, given as text (the bigint form below calls it).  One row per
-- row the session wrote: the table, the key (as the reports print keys),
-- what the revert does -- insert (the session deleted it), update (with
-- the columns it puts back), delete (the session inserted it), none (it is
-- as before the session) -- or, for a row written after the session by
-- someone else, why not (conflict: then nothing is reverted, and without
-- dry_run the call fails listing the conflicts).
CREATE FUNCTION loginas.revert(session_id bigint, by_admin text, reason text DEFAULT NULL,
							   dry_run boolean DEFAULT false)
	RETURNS TABLE (relation text, key text, action text, columns text[], conflict text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid bigint := revert.session_id;
	s loginas.session;
	a jsonb;
	si loginas.session_image;
	logged bigint;
	covered bigint;
	admin_key text;
	email text;
	rid bigint;
	plan jsonb;
	revert_log_id bigint;
	n_conflicts bigint;
	l record;
BEGIN
	IF NOT revert.dry_run OR revert.dry_run IS NULL THEN
		PERFORM loginas._require_writable('loginas.revert()');
	END IF;
	IF loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._raise('55000', 'loginas.revert() cannot run in a Login as Customer session',
			'A revert is the admin''s action, not the impersonated customer''s.',
			'Call it from the admin backend, in a transaction that did not call loginas.assume().');
	END IF;
	IF sid IS NULL OR revert.dry_run IS NULL THEN
		PERFORM loginas._raise('22023', 'session_id and dry_run cannot be NULL', NULL, NULL);
	END IF;
	-- the admin: existing, active, allowed to revert
	IF revert.by_admin IS NULL THEN
		PERFORM loginas._raise('22023', 'reverting a Login as Customer session needs by_admin',
			NULL, 'Pass by_admin => the id of the admin user who reverts; their role needs the "revert" resource.');
	END IF;
	a := loginas._lookup('admins', revert.by_admin);
	IF a IS NULL THEN
		PERFORM loginas._raise('22023', pg_catalog.format('admin user %s does not exist', revert.by_admin),
			pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), revert.by_admin),
			NULL);
	END IF;
	IF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		PERFORM loginas._raise('42501',
			pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username'),
			'Only active admin users can revert Login as Customer sessions.', NULL);
	END IF;
	IF NOT loginas._roles_have(a, 'revert') THEN
		SELECT lk.detail, lk.hint INTO l FROM loginas._roles_lack(a, 'revert', 'Revert Login as Customer Sessions') lk;
		PERFORM loginas._raise('42501',
			pg_catalog.format('admin user "%s" is not allowed to revert Login as Customer sessions',
							  a OPERATOR(pg_catalog.->>) 'username'), l.detail, l.hint);
	END IF;
	-- the session, locked: one revert at a time, and only once
	IF revert.dry_run THEN
		SELECT ls.* INTO s FROM loginas.session ls WHERE ls.session_id OPERATOR(pg_catalog.=) sid;
	ELSE
		SELECT ls.* INTO s FROM loginas.session ls WHERE ls.session_id OPERATOR(pg_catalog.=) sid FOR UPDATE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._raise('22023', pg_catalog.format('Login as Customer session %s does not exist', sid),
			NULL, NULL);
	END IF;
	IF s.source_kind OPERATOR(pg_catalog.=) 'revert' THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s is a revert', sid),
			pg_catalog.format('It put back what session %s wrote; a revert is not reverted.',
							  (SELECT ims.session_id FROM loginas.session_image ims
								WHERE ims.reverted_by OPERATOR(pg_catalog.=) sid)), NULL);
	END IF;
	IF s.ended_at IS NULL AND NOT revert.dry_run THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s has not ended', sid),
			'A session is reverted once it is over, so that it writes nothing after its revert.',
			'End it first (loginas.end_admin() for its admin), then revert it.');
	END IF;
	SELECT ims.* INTO si FROM loginas.session_image ims WHERE ims.session_id OPERATOR(pg_catalog.=) sid;
	SELECT COALESCE(pg_catalog.sum(ri.rows), 0) INTO covered FROM loginas.row_image ri
	 WHERE ri.session_id OPERATOR(pg_catalog.=) sid;
	IF si.reverted_by IS NOT NULL THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s was already reverted', sid),
			pg_catalog.format('Session %s reverted it at %s UTC.', si.reverted_by,
							  pg_catalog.to_char(si.reverted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')), NULL);
	END IF;
	-- its images cover every write its log names (they go with the log)
	IF NOT EXISTS (SELECT FROM loginas.action_log al
					WHERE al.session_id OPERATOR(pg_catalog.=) sid AND al.action OPERATOR(pg_catalog.=) 'ticket_issued') THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('Login as Customer session %s can no longer be reverted', sid),
			'Its log was purged, and the images of the rows it wrote with it.', NULL);
	END IF;
	SELECT COALESCE(pg_catalog.sum((al.details OPERATOR(pg_catalog.->>) 'rows')::bigint), 0) INTO logged
	  FROM loginas.action_log al
	 WHERE al.session_id OPERATOR(pg_catalog.=) sid
	   AND al.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete']);
	IF logged OPERATOR(pg_catalog.<>) covered THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s cannot be reverted', sid),
			pg_catalog.format('Rows it wrote, as the log names them: %s; covered by the images kept of them: %s'
							  ' (a session that wrote before loginas 1.3 has none).', logged, covered),
			NULL);
	END IF;
	IF revert.dry_run THEN
		RETURN QUERY
		SELECT p.relation, loginas._keys_text(pg_catalog.jsonb_build_array(p.key::jsonb)), p.action, p.columns,
			   p.conflict
		  FROM loginas._revert_rows(sid, NULL, false, NULL, NULL) p
		 ORDER BY p.seq;
		RETURN;
	END IF;
	IF revert.reason IS NULL OR pg_catalog.btrim(revert.reason) OPERATOR(pg_catalog.=) '' THEN
		PERFORM loginas._raise('22023', 'a revert needs a reason', NULL,
			'Say why, e.g. the ticket of the customer''s request.');
	END IF;
	IF pg_catalog.length(revert.reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._raise('22023', 'reason is too long', 'At most 1000 characters.', NULL);
	END IF;
	-- the revert's own session, ended: it acts only in this transaction
	admin_key := loginas._canon_key('admins', revert.by_admin);
	INSERT INTO loginas.session AS ns (admin_id, customer_id, store_id, reason, source, source_kind,
									   ticket_hash, ticket_expires_at, admin_addr, customer_key, admin_key,
									   store_key, ended_at, end_reason, ended_by_admin, ended_by_role,
									   ended_by_admin_key)
	VALUES (loginas._key_id('admins', admin_key), s.customer_id, s.store_id, revert.reason,
			pg_catalog.format('revert of session %s', sid), 'revert',
			loginas._hash(loginas._new_secret()), pg_catalog.now(), pg_catalog.inet_client_addr(),
			s.customer_key, admin_key, s.store_key, pg_catalog.now(), 'revert',
			loginas._key_id('admins', admin_key), SESSION_USER, admin_key)
	RETURNING ns.session_id INTO rid;
	BEGIN
		email := loginas._lookup('customers', s.customer_key, true) OPERATOR(pg_catalog.->>) 'email';
	EXCEPTION WHEN OTHERS THEN
		email := NULL;		-- a binding that cannot be read: the ids are logged
	END;
	SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p) ORDER BY p.seq) INTO plan
	  FROM loginas._revert_rows(sid, rid, true, pg_catalog.left(a OPERATOR(pg_catalog.->>) 'username', 255),
								pg_catalog.left(email, 255)) p;
	plan := COALESCE(plan, '[]');
	SELECT pg_catalog.count(*) INTO n_conflicts FROM pg_catalog.jsonb_array_elements(plan) e
	 WHERE e OPERATOR(pg_catalog.->>) 'conflict' IS NOT NULL;
	IF n_conflicts OPERATOR(pg_catalog.>) 0 THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('Login as Customer session %s cannot be reverted: %s of the rows it wrote %s changed since',
							  sid, n_conflicts, CASE WHEN n_conflicts OPERATOR(pg_catalog.=) 1 THEN 'was' ELSE 'were' END),
			(SELECT pg_catalog.string_agg(pg_catalog.format('%s %s: %s', e OPERATOR(pg_catalog.->>) 'relation',
									loginas._keys_text(pg_catalog.jsonb_build_array((e OPERATOR(pg_catalog.->>) 'key')::jsonb)),
									e OPERATOR(pg_catalog.->>) 'conflict'), '; ' ORDER BY e.o)
			   FROM pg_catalog.jsonb_array_elements(plan) WITH ORDINALITY e(e, o)
			  WHERE e OPERATOR(pg_catalog.->>) 'conflict' IS NOT NULL AND e.o OPERATOR(pg_catalog.<=) 1000)
			OPERATOR(pg_catalog.||) '.',
			'Nothing was reverted. loginas.revert(..., dry_run => true) lists what a revert would do.');
	END IF;
	INSERT INTO loginas.session_image AS ims (session_id, reverted_by, reverted_at)
	VALUES (sid, rid, pg_catalog.now())
	ON CONFLICT ON CONSTRAINT session_image_pkey
	DO UPDATE SET reverted_by = EXCLUDED.reverted_by, reverted_at = EXCLUDED.reverted_at;
	revert_log_id := loginas._log('session_reverted', 'success', loginas._key_id('admins', admin_key), s.customer_id, rid,
						 s.store_id, pg_catalog.format('revert of session %s', sid), revert.reason,
						 (SELECT pg_catalog.jsonb_build_object('session', sid,
									'rows', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' IN ('insert', 'update', 'delete')),
									'inserted', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'insert'),
									'updated', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'update'),
									'deleted', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'delete'),
									'unchanged', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'none'))
							FROM pg_catalog.jsonb_array_elements(plan) e),
						 p_customer_key => s.customer_key, p_admin_key => admin_key, p_store_key => s.store_key);
	-- the live event of the reverted session (05_events.sql), on commit
	PERFORM loginas._notify_session('session_reverted', sid, revert_log_id,
		pg_catalog.jsonb_build_object('by_admin_key', admin_key,
			'rows', (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(plan) e
					  WHERE e OPERATOR(pg_catalog.->>) 'action' IN ('insert', 'update', 'delete'))));
	RETURN QUERY
	SELECT p.relation, loginas._keys_text(pg_catalog.jsonb_build_array(p.key::jsonb)), p.action, p.columns, p.conflict
	  FROM pg_catalog.jsonb_to_recordset(plan) p(relation text, key text, action text, columns text[], conflict text,
												 seq bigint)
	 ORDER BY p.seq;
END
$$;

CREATE FUNCTION loginas.revert(session_id bigint, by_admin bigint, reason text DEFAULT NULL,
							   dry_run boolean DEFAULT false)
	RETURNS TABLE (relation text, key text, action text, columns text[], conflict text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.revert(revert.session_id, revert.by_admin::pg_catalog.text, revert.reason,
											  revert.dry_run);
END
$$;

COMMENT ON FUNCTION loginas.revert(bigint, bigint, text, boolean)
	IS 'put every row a Login as Customer session wrote back as it was before the session, as one transaction (dry_run: list what it would do)';

-- nobody reads the images (loginas' owner writes and reads them); the
-- admin backend reverts
REVOKE ALL ON TABLE loginas.row_image, loginas.session_image FROM PUBLIC;
REVOKE ALL ON SEQUENCE loginas.row_image_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
	loginas._fk_rank(oid[]),
	loginas._revert_rows(bigint, bigint, boolean, text, text),
	loginas.revert(bigint, text, text, boolean),
	loginas.revert(bigint, bigint, text, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	loginas.revert(bigint, text, text, boolean),
	loginas.revert(bigint, bigint, text, boolean)
TO loginas_admin;

-- The write log's details and the row images are compressed with lz4 where
-- the server has it (much cheaper than pglz for what every session write
-- logs at commit); elsewhere they keep the default.
DO $lz4$
BEGIN
	ALTER TABLE loginas.action_log ALTER COLUMN details SET COMPRESSION lz4;
	ALTER TABLE loginas.row_image ALTER COLUMN images SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;
