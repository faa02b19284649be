/*
 * 08_log.sql
 * The action log: what the Admin Actions Report reads (action group "Login
 * As Customer").  Append-only for every role (ALWAYS triggers), every row in a
 * per-backend SHA-256 hash chain (src/logchain.c), appended in C with its
 * canonical text (src/logappend.c); verify_log() recomputes every hash, and
 * with heads kept outside the database finds removed rows too.  Purging is
 * loginas_auditor's and never cuts into log_retention.
 */

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
	-- keys of any type (canonical text), only where the bigint column cannot
	-- hold them: NULL for integer keys, so that those rows hash as before
	admin_key		text,
	customer_key	text,
	store_key		text,
	UNIQUE (chain_id, chain_seq)
);

CREATE INDEX action_log_logged_at ON loginas.action_log (logged_at);

CREATE INDEX action_log_customer ON loginas.action_log (customer_id, logged_at);

CREATE INDEX action_log_customer_key ON loginas.action_log (customer_key, logged_at) WHERE customer_key IS NOT NULL;

CREATE INDEX action_log_admin ON loginas.action_log (admin_id, logged_at);

CREATE INDEX action_log_admin_key ON loginas.action_log (admin_key, logged_at) WHERE admin_key IS NOT NULL;

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

-- The second form, for rows with keys that are not integers: the first
-- form's array with admin_key, customer_key and store_key appended.  A row
-- whose three keys are NULL (every row of an integer shop, every row before
-- keys of any type) has the first form: its hash is what it always was.
CREATE FUNCTION loginas._log_content(p_log_id bigint, p_logged_at timestamptz, p_action_group text,
									 p_action text, p_result text, p_admin_id bigint, p_admin_username text,
									 p_customer_id bigint, p_customer_email text, p_session_id bigint,
									 p_store_id bigint, p_source text, p_reason text, p_client_addr inet,
									 p_db_role name, p_details jsonb, p_admin_key text, p_customer_key text,
									 p_store_key text)
	RETURNS text
	LANGUAGE sql STABLE
	AS $$
	SELECT CASE WHEN p_admin_key IS NULL AND p_customer_key IS NULL AND p_store_key IS NULL
		THEN loginas._log_content(p_log_id, p_logged_at, p_action_group, p_action, p_result, p_admin_id,
			p_admin_username, p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
			p_client_addr, p_db_role, p_details)
		ELSE pg_catalog.jsonb_build_array(p_log_id, EXTRACT(epoch FROM p_logged_at), p_action_group, p_action, p_result,
			p_admin_id, p_admin_username, p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
			p_client_addr::pg_catalog.text, p_db_role::pg_catalog.text, p_details,
			p_admin_key, p_customer_key, p_store_key)::pg_catalog.text
	END
$$;

-- The write log's details as jsonb from the very text jsonb prints of them
-- (src/printedjsonb.c), NULL for any other text: what a session's commit
-- stores without parsing general JSON.  For the tests.
CREATE FUNCTION loginas._printed_jsonb(printed text) RETURNS jsonb
	LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'loginas_printed_jsonb';

-- For the tests: whether loginas._printed_jsonb(printed) is byte for byte the
-- jsonb that jsonb_in() makes of the same text (NULL: not the text jsonb
-- prints).
CREATE FUNCTION loginas._printed_jsonb_check(printed text) RETURNS boolean
	LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'loginas_printed_jsonb_check';

-- append one row to the log, linked into this backend's chain
CREATE FUNCTION loginas._append(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb,
								p_admin_key text DEFAULT NULL, p_customer_key text DEFAULT NULL,
								p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_append';

-- the log writer of loginas' own steps, in C too (src/logappend.c): the
-- username and e-mail read from the bound relations, a session's source,
-- reason and storefront address filled in, then the append
CREATE FUNCTION loginas._log(p_action text, p_result text, p_admin_id bigint, p_customer_id bigint,
							 p_session_id bigint DEFAULT NULL, p_store_id bigint DEFAULT NULL,
							 p_source text DEFAULT NULL, p_reason text DEFAULT NULL,
							 p_details jsonb DEFAULT '{}', p_client_addr inet DEFAULT NULL,
							 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
							 p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log';

-- the session lock before a write of the session that is not a tracked
-- write (loginas.note): taken if assume() could not take it (src/context.c)
CREATE FUNCTION loginas._lock_session() RETURNS void
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_lock_session';

-- A note's details are bounded: at most 64 kB (65,536 bytes) as JSON text,
-- the text the log hashes and the reports render (54000 beyond).  The other
-- texts a row carries are bounded where they enter: a note's action (200
-- characters), begin's reason (1000) and source (200), end reasons (a fixed
-- list); usernames and e-mails read from the shop's views are stored cut to
-- 255 characters (src/logappend.c).
CREATE FUNCTION loginas.note(action text, details jsonb DEFAULT '{}')
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	size bigint;
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
	size := pg_catalog.octet_length(note.details::pg_catalog.text);
	IF size OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM loginas._raise('54000', 'the details of a note are too large',
			pg_catalog.format('They take %s bytes as JSON text; a note keeps at most 65536 (64 kB).', size),
			'Keep large documents in the shop''s own tables and note a reference to them.');
	END IF;
	-- no note commits after its session's end
	PERFORM loginas._lock_session();
	-- everything the row carries was read by assume() and is in the context
	RETURN loginas._append(pg_catalog.clock_timestamp(), 'note', 'success',
						   loginas.current_admin(), loginas._context_text('admin_username'),
						   loginas.current_customer(), loginas._context_text('customer_email'),
						   loginas.current_session(), loginas.current_store(),
						   loginas._context_text('source'), loginas._context_text('reason'),
						   COALESCE(pg_catalog.inet_client_addr(), loginas._context_text('client_addr')::pg_catalog.inet),
						   SESSION_USER,
						   note.details OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('note', note.action),
						   p_admin_key => CASE WHEN loginas.current_admin() IS NULL THEN loginas.current_admin_key() END,
						   p_customer_key => CASE WHEN loginas.current_customer() IS NULL THEN loginas.current_customer_key() END,
						   p_store_key => CASE WHEN loginas.current_store() IS NULL THEN loginas.current_store_key() END);
END
$$;

-- the first row where a chain breaks, or one row saying the log is intact
CREATE FUNCTION loginas.verify_log()
	RETURNS TABLE (intact boolean, log_id bigint, chain_id bigint, chain_seq bigint, problem text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH r AS (
		SELECT l.log_id, l.chain_id, l.chain_seq, l.prev_hash, l.row_hash,
			   loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
									 l.action, l.result, l.admin_id, l.admin_username, l.customer_id,
									 l.customer_email, l.session_id, l.store_id, l.source, l.reason,
									 l.client_addr, l.db_role, l.details, l.admin_key, l.customer_key,
									 l.store_key) AS computed,
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

-- Who purges: members of loginas_auditor (section 9), not the admin backend
-- whose actions the log records.  What: only rows older than the log
-- retention (setting log_retention, default 90 days), whoever asks -- a
-- superuser too.  The log_purged row names the database role that purged
-- (its db_role, and "role" in its details) and the retention in force; it is
-- written after the purge, so no purge removes its own row, and it is young:
-- no purge removes it for a whole retention.
-- purge_log(before, by_admin): by an admin of any key type, given as text (the
-- bigint form below calls it)
CREATE FUNCTION loginas.purge_log(before timestamptz, by_admin text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
DECLARE
	n bigint;
	retention interval := loginas._get_setting('log_retention')::interval;
	-- in elapsed seconds (a day is 86,400 s), not the caller's TimeZone's calendar
	horizon timestamptz := pg_catalog.clock_timestamp()
		OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', retention));
BEGIN
	PERFORM loginas._require_writable('loginas.purge_log()');
	IF purge_log.before IS NULL OR purge_log.before OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
		PERFORM loginas._raise('22023', 'purge_log() needs a time in the past',
			'Rows older than it are removed.', NULL);
	END IF;
	IF purge_log.before OPERATOR(pg_catalog.>) horizon THEN
		PERFORM loginas._raise('22023', 'purge_log() cannot remove rows younger than the log retention',
			pg_catalog.format('The log retention is %s: rows younger than that are kept.', retention),
			'Pass a time at least log_retention ago; loginas.settings shows the retention.');
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
		RETURNING l.session_id
	), images AS (
		-- a session whose log is purged (any of it) can no longer be
		-- reverted: the images of the rows it wrote go too (11_revert.sql)
		DELETE FROM loginas.row_image i
		 WHERE i.session_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT g.session_id FROM gone g))
	), image_counts AS (
		DELETE FROM loginas.session_image si
		 WHERE si.session_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT g.session_id FROM gone g))
	)
	SELECT pg_catalog.count(*) INTO n FROM gone;
	PERFORM loginas._allow_purge(false);
	PERFORM loginas._log('log_purged', 'success', loginas._key_id('admins', purge_log.by_admin), NULL,
						 p_details => pg_catalog.jsonb_build_object('before', purge_log.before, 'rows', n,
																	'retention', retention::pg_catalog.text,
																	'role', SESSION_USER::pg_catalog.text),
						 p_admin_key => loginas._canon_key('admins', purge_log.by_admin));
	RETURN n;
END
$$;

CREATE FUNCTION loginas.purge_log(before timestamptz, by_admin bigint DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
BEGIN
	RETURN loginas.purge_log(purge_log.before, purge_log.by_admin::pg_catalog.text);
END
$$;

-- the log retention: members of loginas_auditor and the DBA.  From 1 day to
-- 100 years (months and years count as calendar months here: a retention is
-- measured back from now()); below 1 day only in a superuser's session (a
-- test system).  Logged as a setting_changed row.
CREATE FUNCTION loginas.set_log_retention(retention interval)
	RETURNS interval
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
DECLARE
	f record;
	v text;
	old text;
	dba boolean := COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
							  WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER), false);
	lowest interval := CASE WHEN dba THEN interval '0' ELSE interval '1 day' END;
BEGIN
	PERFORM loginas._require_writable('loginas.set_log_retention()');
	IF retention IS NULL THEN
		PERFORM loginas._raise('22023', 'the log retention cannot be NULL', NULL, 'For example ''90 days'' or ''1 year''.');
	END IF;
	f := loginas._interval_fields(retention);
	IF f.months OPERATOR(pg_catalog.<) 0 OR f.days OPERATOR(pg_catalog.<) 0 OR f.seconds OPERATOR(pg_catalog.<) 0 THEN
		PERFORM loginas._raise('22023', pg_catalog.format('invalid log retention "%s"', retention),
			'Neither the months, the days nor the time of a retention can be negative.',
			'For example ''90 days'' or ''1 year''.');
	END IF;
	IF retention OPERATOR(pg_catalog.<) lowest OR retention OPERATOR(pg_catalog.>) interval '100 years' THEN
		PERFORM loginas._raise('22023', pg_catalog.format('invalid log retention "%s"', retention),
			pg_catalog.format('The retention must be between %s and 100 years.',
							  CASE WHEN dba THEN '0' ELSE '1 day' END),
			'For example ''90 days'' or ''1 year''.');
	END IF;
	v := retention::text;
	SELECT st.value INTO old FROM loginas.setting st WHERE st.name OPERATOR(pg_catalog.=) 'log_retention' FOR UPDATE;
	old := COALESCE(old, (SELECT sd.default_value FROM loginas.setting_definition sd
						   WHERE sd.name OPERATOR(pg_catalog.=) 'log_retention'));
	IF old OPERATOR(pg_catalog.=) v THEN
		RETURN retention;
	END IF;
	INSERT INTO loginas.setting AS s (name, value)
	VALUES ('log_retention', v)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE
	   SET value = EXCLUDED.value, changed_at = pg_catalog.now(),
		   changed_by_admin = NULL, changed_by_role = SESSION_USER;
	PERFORM loginas._log('setting_changed', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('setting', 'log_retention', 'old', old, 'new', v));
	RETURN retention;
END
$$;

COMMENT ON FUNCTION loginas.set_log_retention(interval)
	IS 'the minimum age of the rows loginas.purge_log() may remove (loginas_auditor)';

-- Verifying: the hash of each row is recomputed by the same C code that
-- appended it (src/logappend.c), from the row's columns, without building a
-- jsonb value: a row is verifiable whatever its size (jsonb_build_array()
-- would overflow on a row with near 256 MB of details).  The text is byte for
-- byte loginas._log_content()'s, so rows of every version verify.
CREATE FUNCTION loginas._log_row_hash(prev_hash bytea, chain_id bigint, chain_seq bigint, log_id bigint,
									  logged_at timestamptz, action_group text, action text, result text,
									  admin_id bigint, admin_username text, customer_id bigint,
									  customer_email text, session_id bigint, store_id bigint, source text,
									  reason text, client_addr inet, db_role name, details jsonb,
									  admin_key text DEFAULT NULL, customer_key text DEFAULT NULL,
									  store_key text DEFAULT NULL)
	RETURNS bytea
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_log_row_hash';

-- Heads kept outside the database (loginas.log_heads(), saved by the DBA,
-- e.g. every hour) make what the chains alone cannot show visible: the
-- newest rows of a chain removed, a chain rewritten from some row on, a
-- chain removed whole, a purge of rows younger than the retention -- by
-- anyone, a superuser too.  verify_log(saved_heads) first walks the chains
-- as verify_log() does, then checks each saved head: its row must still be
-- there with the saved hash, or be purged -- covered by its chain's purge
-- checkpoint and logged (the saved logged_at) more than log_retention ago.
CREATE FUNCTION loginas.verify_log(saved_heads jsonb)
	RETURNS TABLE (intact boolean, log_id bigint, chain_id bigint, chain_seq bigint, problem text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	walked record;
	h record;
	hid bigint;
	hseq bigint;
	hhash bytea;
	hat timestamptz;
	found_id bigint;
	found_hash bytea;
	cp loginas.log_checkpoint;
	horizon timestamptz := pg_catalog.now() OPERATOR(pg_catalog.-)
		pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', loginas._get_setting('log_retention')::interval));
BEGIN
	IF saved_heads IS NULL OR pg_catalog.jsonb_typeof(saved_heads) OPERATOR(pg_catalog.<>) 'array' THEN
		PERFORM loginas._raise('22023', 'saved_heads must be a JSON array of log heads',
			'Each element is one row of loginas.log_heads(): {"chain_id": ..., "chain_seq": ..., "row_hash": "...", "logged_at": "..."}.',
			'Save them with: SELECT jsonb_agg(h) FROM loginas.log_heads() h.');
	END IF;
	SELECT * INTO walked FROM loginas.verify_log() v;
	IF NOT walked.intact THEN
		RETURN QUERY SELECT walked.intact, walked.log_id, walked.chain_id, walked.chain_seq, walked.problem;
		RETURN;
	END IF;
	FOR h IN SELECT e.value AS head, e.ordinality AS n FROM pg_catalog.jsonb_array_elements(saved_heads) WITH ORDINALITY e
	LOOP
		BEGIN
			hid := (h.head OPERATOR(pg_catalog.->>) 'chain_id')::bigint;
			hseq := (h.head OPERATOR(pg_catalog.->>) 'chain_seq')::bigint;
			hhash := (h.head OPERATOR(pg_catalog.->>) 'row_hash')::bytea;
			hat := (h.head OPERATOR(pg_catalog.->>) 'logged_at')::timestamptz;
		EXCEPTION WHEN OTHERS THEN
			hid := NULL;
		END;
		IF hid IS NULL OR hseq IS NULL OR hhash IS NULL OR pg_catalog.jsonb_typeof(h.head) OPERATOR(pg_catalog.<>) 'object' THEN
			PERFORM loginas._raise('22023', pg_catalog.format('saved head %s is not a log head', h.n),
				'A log head has chain_id, chain_seq, row_hash and logged_at, as loginas.log_heads() returns them.',
				'Save them with: SELECT jsonb_agg(h) FROM loginas.log_heads() h.');
		END IF;
		SELECT l.log_id, l.row_hash INTO found_id, found_hash
		  FROM loginas.action_log l
		 WHERE l.chain_id OPERATOR(pg_catalog.=) hid AND l.chain_seq OPERATOR(pg_catalog.=) hseq;
		IF found_id IS NOT NULL THEN
			IF found_hash OPERATOR(pg_catalog.<>) hhash THEN
				RETURN QUERY SELECT false, found_id, hid, hseq,
					'the row of a saved head is not the one saved (rewritten)'::pg_catalog.text;
				RETURN;
			END IF;
			CONTINUE;
		END IF;
		SELECT * INTO cp FROM loginas.log_checkpoint c WHERE c.chain_id OPERATOR(pg_catalog.=) hid;
		IF cp.chain_id IS NOT NULL AND cp.chain_seq OPERATOR(pg_catalog.>=) hseq
		   AND hat OPERATOR(pg_catalog.<) horizon
		   AND (cp.chain_seq OPERATOR(pg_catalog.>) hseq OR cp.row_hash OPERATOR(pg_catalog.=) hhash) THEN
			CONTINUE;		-- purged, within the retention
		END IF;
		RETURN QUERY SELECT false, NULL::bigint, hid, hseq,
			CASE WHEN cp.chain_id IS NOT NULL AND cp.chain_seq OPERATOR(pg_catalog.>=) hseq
				 THEN 'the row of a saved head younger than the log retention was removed (deleted)'
				 ELSE 'the row of a saved head is missing (deleted)' END;
		RETURN;
	END LOOP;
	RETURN QUERY SELECT true, NULL::bigint, NULL::bigint, NULL::bigint, 'intact'::pg_catalog.text;
END
$$;

COMMENT ON FUNCTION loginas.verify_log(jsonb) IS 'verify_log(), and every saved head (loginas.log_heads() kept outside the database) still in the log or purged within the retention';

-- A view of the log must not depend on the caller's transaction: a ROLLBACK
-- (or ROLLBACK TO SAVEPOINT) after the report would keep the rows and drop
-- the record.  So views, and refused views, are written by
-- loginas._append_committed (src/viewlog.c): a background worker
-- appends the row in a transaction of its own and commits it before the
-- report returns a single row -- whatever the caller's transaction does
-- afterwards.  A refused view is a 'log_view_refused' failure row.  All views
-- go to one hash chain, named in loginas.shared_chain.

-- the chains appended to by more than one backend, by name
CREATE TABLE loginas.shared_chain (
	name		text PRIMARY KEY,
	chain_id	bigint			-- NULL until its first row
);

CREATE FUNCTION loginas._append_committed(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb,
								p_admin_key text DEFAULT NULL, p_customer_key text DEFAULT NULL,
								p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_append_committed';
