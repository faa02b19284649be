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
--     a minimum retention (setting log_retention); verify_log(saved_heads)
--     checks heads kept outside the database;
--   * what a log row holds is bounded (a note's details: 64 kB), and
--     verify_log() recomputes hashes in C, without jsonb's size limit;
--   * a view of the log through viewer_admin, and a refused one, is committed
--     to the log before the report returns anything (a background worker);
--   * ticket_ttl / session_ttl are checked as they are applied (no months, no
--     negative parts);
--   * ticket and session key hashes are bound to their database: a clone
--     (CREATE DATABASE ... TEMPLATE) or a restored copy does not accept them;
--   * the durable refusal log: bounded per backend, workers that die on
--     SIGTERM and bound their work.

\echo Use "ALTER EXTENSION loginas UPDATE TO '1.2'" to load this file. \quit

------------------------------------------------------------------------------
-- 2. Settings
------------------------------------------------------------------------------
-- log_retention: how long rows of the action log are kept at least.  No
-- purge removes a row younger than it (loginas.purge_log), and it is not
-- the admin backend's to change: loginas.configure() refuses it, members of
-- loginas_auditor (and the DBA) set it with loginas.set_log_retention().
INSERT INTO loginas.setting_definition VALUES
	('log_retention', 'interval', NULL, '90 days', 'Log retention',
	 'Rows of the action log younger than this are never purged; set with loginas.set_log_retention() by loginas_auditor.');

-- an interval's three fields as PostgreSQL keeps them: months, days, and the
-- time (in seconds); each with its own sign
CREATE FUNCTION loginas._interval_fields(p_iv interval, OUT months bigint, OUT days bigint, OUT seconds numeric)
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	-- (an infinite interval, 17 and later, has none: NULLs, and the range
	-- checks that follow refuse it)
	SELECT CASE WHEN pg_catalog.isfinite(p_iv) THEN
			 (EXTRACT(year FROM p_iv) OPERATOR(pg_catalog.*) 12 OPERATOR(pg_catalog.+) EXTRACT(month FROM p_iv))::pg_catalog.int8 END,
		   CASE WHEN pg_catalog.isfinite(p_iv) THEN EXTRACT(day FROM p_iv)::pg_catalog.int8 END,
		   CASE WHEN pg_catalog.isfinite(p_iv) THEN
			 EXTRACT(hour FROM p_iv) OPERATOR(pg_catalog.*) 3600 OPERATOR(pg_catalog.+) EXTRACT(minute FROM p_iv) OPERATOR(pg_catalog.*) 60
			 OPERATOR(pg_catalog.+) EXTRACT(second FROM p_iv) END
$$;

-- configure: as in 1.0, but
--   * a lifetime (ticket_ttl, session_ttl) is checked as begin and redeem
--     apply it (now() + lifetime): no months or years (their length varies,
--     and the 1 second..7 days check counted a month as 30 days, so
--     '3000000 mon -89999993 days' passed as 7 days), no negative days or
--     time; then 1 second to 7 days.  now() + 7 days never leaves the range
--     of timestamptz.
--   * log_retention is refused (42501): it bounds purge_log(), which is not
--     the admin backend's.
CREATE OR REPLACE FUNCTION loginas.configure(name text, value text, by_admin bigint DEFAULT NULL)
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
	f record;
	r record;
	example constant text := 'Give it in days, hours, minutes and seconds, for example ''60 seconds'', ''1 hour'' or ''7 days''.';
BEGIN
	PERFORM loginas._require_writable('loginas.configure()');
	SELECT * INTO d FROM loginas.setting_definition sd WHERE sd.name OPERATOR(pg_catalog.=) configure.name;
	IF d.name IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer setting "%s"', configure.name), NULL,
			pg_catalog.format('Valid settings are: %s.',
				(SELECT pg_catalog.string_agg(sd.name, ', ' ORDER BY sd.name) FROM loginas.setting_definition sd)));
	END IF;
	IF d.name OPERATOR(pg_catalog.=) 'log_retention' THEN
		PERFORM loginas._refuse(NULL, '42501', 'setting "log_retention" cannot be changed with loginas.configure()',
			'The log retention bounds loginas.purge_log(): it is changed by the auditor, not by the admin backend.',
			'A member of loginas_auditor changes it with loginas.set_log_retention(interval).');
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
		IF iv IS NOT NULL THEN
			f := loginas._interval_fields(iv);
			IF f.months OPERATOR(pg_catalog.<>) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'A lifetime cannot be given in months or years: their length varies.', example);
			END IF;
			IF f.days OPERATOR(pg_catalog.<) 0 OR f.seconds OPERATOR(pg_catalog.<) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'Neither the days nor the time of a lifetime can be negative.', example);
			END IF;
		END IF;
		IF iv IS NULL OR iv OPERATOR(pg_catalog.<) interval '1 second' OR iv OPERATOR(pg_catalog.>) interval '7 days' THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'The value must be an interval between 1 second and 7 days.',
				'For example ''60 seconds'' or ''1 hour''.');
		END IF;
		-- stored as elapsed time (days as 24 hours), so that now() + lifetime
		-- is the same whatever TimeZone (and its daylight-saving jumps) the
		-- caller of begin or redeem has set
		v := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', iv))::text;
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

-- a lifetime stored under 1.1 that 1.2 refuses (months, negative parts, out
-- of range) is put back to its default, and that is logged
DO $lifetimes$
DECLARE
	r record;
	iv interval;
	f record;
BEGIN
	FOR r IN SELECT st.name, d.default_value FROM loginas.setting st JOIN loginas.setting_definition d USING (name)
			  WHERE st.name IN ('ticket_ttl', 'session_ttl') ORDER BY st.name
	LOOP
		SELECT st.value::interval INTO iv FROM loginas.setting st WHERE st.name OPERATOR(pg_catalog.=) r.name;
		f := loginas._interval_fields(iv);
		IF f.months OPERATOR(pg_catalog.<>) 0 OR f.days OPERATOR(pg_catalog.<) 0 OR f.seconds OPERATOR(pg_catalog.<) 0
		   OR iv OPERATOR(pg_catalog.<) interval '1 second' OR iv OPERATOR(pg_catalog.>) interval '7 days' THEN
			RAISE WARNING 'loginas: setting "%" was "%", which 1.2 refuses; it is reset to its default "%"',
				r.name, iv, r.default_value;
			PERFORM loginas.configure(r.name, r.default_value);
		ELSE
			-- the same lifetime, stored as elapsed time (as configure() now stores it)
			UPDATE loginas.setting st
			   SET value = pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', iv))::text
			 WHERE st.name OPERATOR(pg_catalog.=) r.name;
		END IF;
	END LOOP;
END
$lifetimes$;


------------------------------------------------------------------------------
-- 6. Action log: refusals (the durable refusal log's SQL side)
------------------------------------------------------------------------------

-- writes a queued refusal as a 'failure' row, with the time, role and address
-- of the refused call; run by the durable refusal log's worker outside that
-- call's transaction (src/refusal_queue.c).  p_coalesced: the entry is a
-- summary of that many refusals of one backend (its share of the queue was
-- full), the last at p_last_refused_at: details has "coalesced" and
-- "last_refused_at".  Never fails on a lookup, whatever the bound relation
-- does: an error WHEN OTHERS does not catch (query_canceled, assert_failure)
-- leaves the names out too, never the row.
CREATE OR REPLACE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text, p_source text,
									 p_coalesced bigint, p_last_refused_at timestamptz)
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
	details jsonb;
BEGIN
	BEGIN
		username := loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username';
		email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
	EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
		username := NULL;	-- the binding is unreadable: log ids only
		email := NULL;
	END;
	SELECT s.source, s.reason, s.store_id INTO src, why, store
	  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	-- a refused begin has no session: it carries the reason and source given to it
	src := COALESCE(p_source, src);
	why := COALESCE(p_reason, why);
	details := pg_catalog.jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'detail', p_detail);
	IF p_coalesced IS NOT NULL THEN
		details := details OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('coalesced', p_coalesced, 'last_refused_at', p_last_refused_at);
	END IF;
	RETURN loginas._append(p_logged_at, p_action OPERATOR(pg_catalog.||) '_refused', 'failure',
						   p_admin_id, username, p_customer_id, email, p_session_id, store, src, why,
						   p_client_addr, p_db_role, details);
END
$$;
REVOKE ALL ON FUNCTION loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint,
											inet, name, text, text, bigint, timestamptz) FROM PUBLIC;

-- one refusal (as before 1.2)
CREATE OR REPLACE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text DEFAULT NULL, p_source text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._log_refusal(p_logged_at, p_action, p_sqlstate, p_message, p_detail, p_admin_id,
								p_customer_id, p_session_id, p_client_addr, p_db_role, p_reason, p_source,
								NULL::bigint, NULL::timestamptz);
END
$$;

-- the server-log line of a refused begin, redeem or assume, its texts escaped
-- (a newline cannot start a line of its own there; src/refusal.c)
CREATE OR REPLACE FUNCTION loginas._log_refused(p_action text, p_message text, p_detail text,
									 p_admin_id bigint, p_customer_id bigint, p_session_id bigint)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log_refused';
REVOKE ALL ON FUNCTION loginas._log_refused(text, text, text, bigint, bigint, bigint) FROM PUBLIC;

-- raise a refusal; refusals of begin/redeem/assume go to the durable refusal
-- log when there is one (the caller's transaction rolls back, so no row it
-- writes survives), and always to the server log
CREATE OR REPLACE FUNCTION loginas._refuse(p_action text, p_sqlstate text, p_message text,
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
		PERFORM loginas._log_refused(p_action, p_message, p_detail, p_admin_id, p_customer_id, p_session_id);
	END IF;
	PERFORM loginas._raise(p_sqlstate, p_message, p_detail, p_hint);
END
$$;

------------------------------------------------------------------------------
-- 6 (cont). Purging the log
------------------------------------------------------------------------------
-- Who purges: members of loginas_auditor (section 9), not the admin backend
-- whose actions the log records.  What: only rows older than the log
-- retention (setting log_retention, default 90 days), whoever asks -- a
-- superuser too.  The log_purged row names the database role that purged
-- (its db_role, and "role" in its details) and the retention in force; it is
-- written after the purge, so no purge removes its own row, and it is young:
-- no purge removes it for a whole retention.
CREATE OR REPLACE FUNCTION loginas.purge_log(before timestamptz, by_admin bigint DEFAULT NULL)
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
		RETURNING 1
	)
	SELECT pg_catalog.count(*) INTO n FROM gone;
	PERFORM loginas._allow_purge(false);
	PERFORM loginas._log('log_purged', 'success', purge_log.by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('before', purge_log.before, 'rows', n,
																	'retention', retention::pg_catalog.text,
																	'role', SESSION_USER::pg_catalog.text));
	RETURN n;
END
$$;

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
CREATE OR REPLACE FUNCTION loginas.note(action text, details jsonb DEFAULT '{}')
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
						   note.details OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('note', note.action));
END
$$;

-- Verifying: the hash of each row is recomputed by the same C code that
-- appended it (src/logappend.c), from the row's columns, without building a
-- jsonb value: a row is verifiable whatever its size (1.0 and 1.1 rebuilt it
-- with jsonb_build_array(), which a row with near 256 MB of details
-- overflowed).  The text is byte for byte loginas._log_content()'s, so rows
-- of every version verify.
CREATE FUNCTION loginas._log_row_hash(prev_hash bytea, chain_id bigint, chain_seq bigint, log_id bigint,
									  logged_at timestamptz, action_group text, action text, result text,
									  admin_id bigint, admin_username text, customer_id bigint,
									  customer_email text, session_id bigint, store_id bigint, source text,
									  reason text, client_addr inet, db_role name, details jsonb)
	RETURNS bytea
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_log_row_hash';

CREATE OR REPLACE FUNCTION loginas.verify_log()
	RETURNS TABLE (intact boolean, log_id bigint, chain_id bigint, chain_seq bigint, problem text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH r AS (
		SELECT l.log_id, l.chain_id, l.chain_seq, l.prev_hash, l.row_hash,
			   loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
									 l.action, l.result, l.admin_id, l.admin_username, l.customer_id,
									 l.customer_email, l.session_id, l.store_id, l.source, l.reason,
									 l.client_addr, l.db_role, l.details) AS computed,
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

------------------------------------------------------------------------------
-- 8a (cont). Sessions: secrets bound to the database they were issued in
------------------------------------------------------------------------------
-- The stored hash of a ticket or session key mixes in the database's
-- identity (src/token.c): sha256("loginas:<system identifier>:<database
-- oid>:" || sha256(secret)).  CREATE DATABASE ... TEMPLATE copies every table,
-- the hashes too, but the copy has another OID: no live ticket or key of the
-- original matches there.  Likewise a dump restored into another database.
-- begin, redeem, assume and end hash with loginas._hash as before.
CREATE OR REPLACE FUNCTION loginas._hash(p_secret text) RETURNS bytea
	LANGUAGE c STABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_secret_hash';

-- a 1.1 hash (sha256 of the secret) bound the same way
CREATE FUNCTION loginas._bind_hash(p_hash bytea) RETURNS bytea
	LANGUAGE c STABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_bind_hash';

-- the hashes stored by 1.1, bound to this database: live tickets and
-- sessions go on working across the update (and only here)
UPDATE loginas.session
   SET ticket_hash = loginas._bind_hash(ticket_hash), key_hash = loginas._bind_hash(key_hash);

------------------------------------------------------------------------------
-- 11. Reports: a view through viewer_admin is recorded before it is shown
------------------------------------------------------------------------------
-- 1.0/1.1 wrote the 'log_viewed' row in the caller's transaction, so a
-- ROLLBACK (or ROLLBACK TO SAVEPOINT) after the report kept the rows and
-- dropped the record, and a refused view was recorded nowhere.  Now both are
-- written by loginas._append_committed (src/viewlog.c): a background worker
-- appends the row in a transaction of its own and commits it before the
-- report returns a single row -- whatever the caller's transaction does
-- afterwards.  A refused view is a 'log_view_refused' failure row.  All views
-- go to one hash chain, named in loginas.shared_chain.

-- the chains appended to by more than one backend, by name
CREATE TABLE loginas.shared_chain (
	name		text PRIMARY KEY,
	chain_id	bigint			-- NULL until its first row
);
SELECT pg_catalog.pg_extension_config_dump('loginas.shared_chain', '');

CREATE FUNCTION loginas._append_committed(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_append_committed';

-- the row of a view, or of a refused one, committed on return; the names
-- as loginas._log reads them (none when they cannot be read)
CREATE FUNCTION loginas._record_view(p_action text, p_result text, p_viewer bigint, p_customer_id bigint,
									 p_details jsonb)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	username text;
	email text;
BEGIN
	BEGIN
		username := loginas._lookup('admins', p_viewer, true) OPERATOR(pg_catalog.->>) 'username';
		email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
	EXCEPTION WHEN OTHERS THEN
		NULL;		-- a binding that cannot be read: the ids are logged
	END;
	RETURN loginas._append_committed(pg_catalog.clock_timestamp(), p_action, p_result, p_viewer, username,
									 p_customer_id, email, NULL, NULL, NULL, NULL, pg_catalog.inet_client_addr(),
									 SESSION_USER, p_details);
END
$$;

-- viewer_admin: an existing, active admin whose role has "view_log".  A
-- refusal is recorded (log_view_refused, with the report and its filters)
-- before it is raised.  A read-only transaction is refused first (25006):
-- the view could not be recorded on a standby, and a read-only transaction
-- writes nothing, not even through loginas.
DROP FUNCTION loginas._check_viewer(bigint);
CREATE FUNCTION loginas._check_viewer(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	PERFORM loginas._require_writable(pg_catalog.format('loginas.%s() with viewer_admin', p_report));
	IF p_viewer IS NULL THEN
		st := '42501';
		msg := 'viewing the Login as Customer log needs viewer_admin';
		det := 'Without viewer_admin only members of loginas_reporting may read the log.';
		hnt := 'Pass viewer_admin => the id of the admin user viewing the log; their role needs the "view_log" resource.';
	ELSE
		BEGIN
			a := loginas._lookup('admins', p_viewer);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
									hnt = PG_EXCEPTION_HINT;
		END;
		IF st IS NOT NULL THEN
			NULL;		-- the admins binding cannot be read: refused with its error
		ELSIF a IS NULL THEN
			st := '42501';
			msg := pg_catalog.format('admin user %s does not exist', p_viewer);
			det := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_viewer);
			hnt := 'Pass the id of the admin user viewing the log as viewer_admin.';
		ELSIF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username');
			det := 'Only active admin users can view the Login as Customer log.';
		ELSIF NOT loginas.permitted(p_viewer, 'view_log') THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is not allowed to view the Login as Customer log',
									 a OPERATOR(pg_catalog.->>) 'username');
			det := pg_catalog.format('Role "%s" does not have the "View Login as Customer Log" resource.',
									 a OPERATOR(pg_catalog.->>) 'role');
			hnt := pg_catalog.format('Grant it with loginas.grant(%L, ''view_log'').', a OPERATOR(pg_catalog.->>) 'role');
		END IF;
	END IF;
	IF st IS NOT NULL THEN
		PERFORM loginas._record_view('log_view_refused', 'failure', p_viewer, p_customer_id,
			pg_catalog.jsonb_build_object('sqlstate', st, 'message', msg, 'detail', NULLIF(det, ''),
										  'report', p_report, 'filters', pg_catalog.jsonb_strip_nulls(p_filters)));
		PERFORM loginas._raise(st, msg, NULLIF(det, ''), NULLIF(hnt, ''));
	END IF;
END
$$;

-- the 'log_viewed' row of a report viewed through viewer_admin: committed
-- when this returns (the report has not returned a row yet)
CREATE OR REPLACE FUNCTION loginas._log_view(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb,
								  p_rows bigint, p_extra jsonb DEFAULT '{}')
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._record_view('log_viewed', 'success', p_viewer, p_customer_id,
		pg_catalog.jsonb_build_object('report', p_report,
									  'filters', pg_catalog.jsonb_strip_nulls(p_filters),
									  'rows', p_rows) OPERATOR(pg_catalog.||) p_extra);
END
$$;

-- a customer's history does not list the views of the log, refused ones
-- included (the Admin Actions Report does)
CREATE OR REPLACE FUNCTION loginas._history_rows(p_customer_id bigint)
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
	   AND l.action OPERATOR(pg_catalog.<>) 'log_view_refused'
	 ORDER BY l.logged_at DESC, l.log_id DESC
$$;

CREATE OR REPLACE FUNCTION loginas.actions_report_as_admin(viewer_admin bigint, since timestamptz DEFAULT NULL,
		until timestamptz DEFAULT NULL, action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL,
		customer_id bigint DEFAULT NULL, result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('since', since, 'until', until, 'action_group', action_group,
												   'admin_id', actions_report_as_admin.admin_id,
												   'customer_id', actions_report_as_admin.customer_id,
												   'result', actions_report_as_admin.result);
BEGIN
	PERFORM loginas._check_viewer(viewer_admin, 'actions_report', actions_report_as_admin.customer_id, filters);
	RETURN QUERY
	SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report_as_admin.admin_id,
		actions_report_as_admin.customer_id, actions_report_as_admin.result, page_size, page);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'actions_report', actions_report_as_admin.customer_id, filters,
		n, pg_catalog.jsonb_build_object('page', page, 'page_size', page_size));
END
$$;

CREATE OR REPLACE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id bigint)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('customer_id', customer_history_as_admin.customer_id);
BEGIN
	PERFORM loginas._check_viewer(viewer_admin, 'customer_history', customer_history_as_admin.customer_id, filters);
	RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history_as_admin.customer_id);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'customer_history', customer_history_as_admin.customer_id, filters, n);
END
$$;

CREATE OR REPLACE FUNCTION loginas.admin_activity_as_admin(viewer_admin bigint, admin_id bigint, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('admin_id', admin_activity_as_admin.admin_id, 'since', since);
BEGIN
	PERFORM loginas._check_viewer(viewer_admin, 'admin_activity', NULL, filters);
	RETURN QUERY SELECT * FROM loginas.admin_activity_as_reporting(admin_activity_as_admin.admin_id, since);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'admin_activity', NULL, filters, n);
END
$$;


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
-- tracking trigger looks a child row's customer up through its parents (a
-- row the writing role may not read still has a customer).  In 1.1 one query
-- over the whole chain ran as the extension owner, and planning or running
-- it evaluated the table owners' code (a cast of a key column's type, an
-- index predicate, statistics, a CHECK) as a superuser.  Now each parent is
-- read by a lookup of its own, as that table's owner (as PostgreSQL checks a
-- foreign key), in a security-restricted operation (src/track.c): whatever
-- the owner defined runs with the owner's rights.  And every column the
-- lookups compare must have a built-in type, every relation on the chain must
-- still be a table, plain tables are read with ONLY (an inheritance child is
-- not the foreign key's table): track() refuses such a column; ALTER TABLE
-- later makes the trigger refuse every write in a session (checked at every
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
				   fk_attnums int2[], parent_lookups text[], chain oid[],
				   problem text, problem_detail text, problem_hint text, problem_code text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	cur loginas.tracked;
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
				OPERATOR(pg_catalog.||) pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', t.parent_columns[j], j);
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
	parent_lookups := ARRAY[]::text[];
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
		-- this parent's lookup gives its own foreign key, the next lookup's key
		parent_lookups := parent_lookups OPERATOR(pg_catalog.||) pg_catalog.format('SELECT %s FROM %s t WHERE %s FOR SHARE',
			(SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o)
			   FROM pg_catalog.unnest(cur.fk_columns) WITH ORDINALITY u(c, o)),
			loginas._chain_relation(cur.relation), cond);
		cond := '';
		FOR j IN 1 .. pg_catalog.array_length(cur.parent_columns, 1) LOOP
			cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
					OPERATOR(pg_catalog.||) pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', cur.parent_columns[j], j);
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
		problem_detail := 'loginas compares the columns that tie a child row to its customer, so they must have'
						  ' built-in types: the casts, operators and checks of a type of the shop''s own are'
						  ' code loginas does not run.';
		problem_hint := 'Give the column a built-in type (for a domain, its base type).';
		problem_code := '42804';
		RETURN NEXT;
		RETURN;
	END IF;
	parent_lookups := parent_lookups OPERATOR(pg_catalog.||) pg_catalog.format(
		'SELECT t.%I::pg_catalog.int8 FROM %s t WHERE %s FOR SHARE',
		cur.customer_column, loginas._chain_relation(cur.relation), cond);
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
	loginas._serialize_revocation(),
	loginas._lock_session()
	FROM PUBLIC;

-- loginas_auditor: purging the log (and setting how long it is kept at
-- least), a capability of its own.  Not granted to loginas_admin: the admin
-- backend, whose actions the log records, cannot erase them.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'loginas_auditor') THEN
		CREATE ROLE loginas_auditor NOLOGIN;
	END IF;
END
$roles$;

REVOKE ALL ON FUNCTION
	loginas._interval_fields(interval),
	loginas.set_log_retention(interval),
	loginas._log_row_hash(bytea, bigint, bigint, bigint, timestamptz, text, text, text, bigint, text, bigint,
						  text, bigint, bigint, text, text, inet, name, jsonb),
	loginas.verify_log(jsonb),
	loginas._bind_hash(bytea),
	loginas._append_committed(timestamptz, text, text, bigint, text, bigint, text, bigint, bigint, text, text,
							  inet, name, jsonb),
	loginas._record_view(text, text, bigint, bigint, jsonb),
	loginas._check_viewer(bigint, text, bigint, jsonb)
FROM PUBLIC;
REVOKE ALL ON loginas.shared_chain FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION loginas.purge_log(timestamptz, bigint) FROM loginas_admin;
GRANT USAGE ON SCHEMA loginas TO loginas_auditor;
GRANT EXECUTE ON FUNCTION
	loginas.purge_log(timestamptz, bigint),
	loginas.set_log_retention(interval),
	loginas.verify_log(),
	loginas.verify_log(jsonb),
	loginas.log_heads()
TO loginas_auditor;
GRANT SELECT ON loginas.action_log, loginas.settings TO loginas_auditor;
GRANT EXECUTE ON FUNCTION loginas.verify_log(jsonb) TO loginas_reporting;
