-- test/bench/log_schema.sql — the databases of the action-log benchmark
-- (test/bench/log_bench.sh).  Loaded by a superuser
-- into a fresh database after CREATE EXTENSION loginas, with psql variables
--   :customers  how many customers the shop has
--   :admins     how many admin users
--
--   logbench.customer/admin/store        the shop, bound to loginas (views)
--   logbench.content(...)                loginas._log_content's own body,
--                                        copied from pg_proc at load time
--                                        without its SET clause, so that the
--                                        generator's planner inlines it
--   logbench.row_at(i, ...)              row i of the generated log: every
--                                        column a pure function of i
--   logbench.generate(...)               CALL: appends that many hash-chained
--                                        rows to loginas.action_log, set-based
--   logbench.explain(...)                EXPLAIN (ANALYZE) of one report call:
--                                        the server's execution time and rows
--   logbench.plain_log                   the append benchmark's peer: a plain
--                                        table of the log's shape
SET client_min_messages = warning;

CREATE SCHEMA logbench;

------------------------------------------------------------------------------
-- the shop: customers, admin users, store views, bound as a shop would
------------------------------------------------------------------------------
CREATE TABLE logbench.website (website_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE logbench.store (store_id int PRIMARY KEY, website_id int NOT NULL REFERENCES logbench.website,
							 name text NOT NULL, is_active boolean NOT NULL DEFAULT true,
							 is_default boolean NOT NULL DEFAULT false);
CREATE TABLE logbench.customer (customer_id int PRIMARY KEY, email text NOT NULL, firstname text, lastname text,
								is_active boolean NOT NULL DEFAULT true, website_id int NOT NULL, store_id int NOT NULL);
CREATE TABLE logbench.admin (admin_id int PRIMARY KEY, username text NOT NULL, firstname text, lastname text,
							 is_active boolean NOT NULL DEFAULT true, role text NOT NULL);
INSERT INTO logbench.website VALUES (1, 'Main Website'), (2, 'EU Website');
INSERT INTO logbench.store VALUES (1, 1, 'Default Store View', true, true), (2, 1, 'French', true, false),
								  (3, 2, 'EU English', true, true), (4, 2, 'EU German', true, false);
-- the generator writes the same usernames and e-mails (logbench.row_at)
INSERT INTO logbench.customer
SELECT g, 'customer' || g || '@example.com', 'First' || g, 'Last' || g, true, 1 + (g % 2), 1 + (g % 4)
  FROM generate_series(1, :customers) g;
INSERT INTO logbench.admin
SELECT g, 'admin' || g, 'Admin', 'No. ' || g, true, CASE WHEN g % 10 = 0 THEN 'Administrators' ELSE 'Support' END
  FROM generate_series(1, :admins) g;
ANALYZE logbench.website, logbench.store, logbench.customer, logbench.admin;

CREATE VIEW logbench.loginas_customers AS
	SELECT customer_id, email, firstname || ' ' || lastname AS display_name, is_active, website_id, store_id
	  FROM logbench.customer;
CREATE VIEW logbench.loginas_admins AS
	SELECT admin_id, username, firstname || ' ' || lastname AS display_name, is_active, role FROM logbench.admin;
CREATE VIEW logbench.loginas_store_views AS
	SELECT s.store_id, s.website_id, s.name, w.name AS website_name, s.is_active, s.is_default
	  FROM logbench.store s JOIN logbench.website w USING (website_id);
GRANT USAGE ON SCHEMA logbench TO loginas_reader;
GRANT SELECT ON logbench.loginas_customers, logbench.loginas_admins, logbench.loginas_store_views TO loginas_reader;
SELECT loginas.bind('customers', 'logbench.loginas_customers');
SELECT loginas.bind('admins', 'logbench.loginas_admins');
SELECT loginas.bind('store_views', 'logbench.loginas_store_views');

------------------------------------------------------------------------------
-- the canonical text of a row, as loginas hashes it: loginas._log_content's
-- own body (whatever the installed version says), without its SET clause so
-- that it is inlined into the generator's query.  Its body names only
-- pg_catalog objects, schema-qualified.  verify_log() (which calls the real
-- one) checks afterwards that every generated hash is what loginas computes.
------------------------------------------------------------------------------
DO $do$
DECLARE
	p pg_proc;
BEGIN
	SELECT * INTO STRICT p FROM pg_proc
	 WHERE oid = 'loginas._log_content(bigint, timestamptz, text, text, text, bigint, text, bigint, text,'
				 ' bigint, bigint, text, text, inet, name, jsonb)'::regprocedure;
	IF p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'sql') THEN
		RAISE EXCEPTION 'log bench: loginas._log_content is no longer an SQL function; update test/bench/log_schema.sql';
	END IF;
	EXECUTE format('CREATE FUNCTION logbench.content(%s) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
				   pg_get_function_arguments(p.oid), p.prosrc);
END
$do$;

------------------------------------------------------------------------------
-- Row i (0-based) of a generated log of p_rows rows.  A pure function of i,
-- so that the generator can compute any row without reading another:
--   * time: p_t0 + i * p_step_us microseconds, plus a jitter below 0.9 step
--     (increasing with i, as log_id is);
--   * rows come in slots of 8, one session each: ticket issued (2 % refused:
--     begin_refused, a failure), ticket redeemed, five actions in the
--     session, session ended; each slot's customer, admin, store view, source
--     document and reason are drawn from a hash of the slot number (customers
--     and admins uniformly);
--   * the five actions: 33 % write_update, 20 % write_insert, 4 %
--     write_delete, 19 % note, 4 % consent_granted and 1 % consent_revoked (by
--     the customer: no admin, no session), 3 % assume_refused (a failure), 4 %
--     log_viewed (the slot's admin viewed the customer's history), 12 %
--     write_update again;
--   * details as loginas writes them (src/writelog.c, loginas._end_session,
--     begin, redeem, set_assistance, _log_refusal, _log_view), without NULLs
--     (loginas._append strips them);
--   * client address: the admin backend's (10.1.x.y by admin) for the admin's
--     actions, the storefront's (203.0.113.x) for the others; db_role
--     shop_admin / shop_storefront accordingly.
-- The session ids continue loginas.session's sequence (p_session0 + slot);
-- the sessions themselves are not generated (no report measured here reads
-- loginas.session).
------------------------------------------------------------------------------
CREATE FUNCTION logbench.row_at(i bigint, p_customers int, p_admins int, p_t0 timestamptz, p_step_us float8,
								p_session0 bigint)
	RETURNS TABLE (logged_at timestamptz, action text, result text, admin_id bigint, admin_username text,
				   customer_id bigint, customer_email text, session_id bigint, store_id bigint, source text,
				   reason text, client_addr inet, db_role name, details jsonb)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT s.at, s.action, CASE WHEN s.action LIKE '%\_refused' THEN 'failure' ELSE 'success' END,
		   CASE WHEN s.by_customer THEN NULL ELSE s.admin END,
		   CASE WHEN s.by_customer THEN NULL ELSE 'admin' || s.admin END,
		   s.customer, 'customer' || s.customer || '@example.com',
		   CASE WHEN s.no_session THEN NULL ELSE p_session0 + s.slot END,
		   CASE WHEN s.no_session THEN NULL ELSE s.store END,
		   CASE WHEN s.action = 'log_viewed' OR s.by_customer THEN NULL ELSE s.source END,
		   CASE WHEN s.action = 'log_viewed' OR s.by_customer THEN NULL ELSE s.reason END,
		   CASE WHEN s.admin_side THEN ('10.1.' || (s.admin / 256) || '.' || (s.admin % 256))::inet
				ELSE ('203.0.113.' || (1 + s.h3 % 250))::inet END,
		   CASE WHEN s.admin_side THEN 'shop_admin' ELSE 'shop_storefront' END::name,
		   CASE s.action
			 WHEN 'ticket_issued' THEN
				jsonb_build_object('ticket_expires_at', s.at + interval '1 minute', 'read_only', s.h3 % 10 = 0)
			 WHEN 'ticket_redeemed' THEN
				jsonb_build_object('session_expires_at', s.at + interval '1 hour')
			 WHEN 'session_ended' THEN
				CASE s.h3 % 5
				  WHEN 0 THEN jsonb_build_object('end_reason', 'admin_logout', 'redeemed', true, 'ended_by_admin', s.admin)
				  WHEN 1 THEN jsonb_build_object('end_reason', 'expired', 'redeemed', true)
				  ELSE jsonb_build_object('end_reason', 'logout', 'redeemed', true) END
			 WHEN 'write_update' THEN
				jsonb_build_object('table', s.tbl, 'operation', 'update', 'rows', s.nrows, 'keys', s.keys,
								   'changed_columns', s.cols)
			 WHEN 'write_insert' THEN
				jsonb_build_object('table', s.tbl, 'operation', 'insert', 'rows', s.nrows, 'keys', s.keys)
			 WHEN 'write_delete' THEN
				jsonb_build_object('table', s.tbl, 'operation', 'delete', 'rows', s.nrows, 'keys', s.keys)
			 WHEN 'note' THEN
				jsonb_build_object('note', (ARRAY['Changed the delivery address', 'Applied a coupon',
												  'Reordered the last order', 'Explained the invoice',
												  'Updated the newsletter subscription'])[1 + s.u % 5],
								   'order', lpad((s.u * 7919 % 1000000)::text, 9, '0'))
			 WHEN 'consent_granted' THEN jsonb_build_object('by', 'customer')
			 WHEN 'consent_revoked' THEN jsonb_build_object('by', 'customer')
			 WHEN 'begin_refused' THEN
				jsonb_build_object('sqlstate', '42501',
								   'message', 'Login as Customer assistance is disabled for this Customer.',
								   'detail', 'The customer has not allowed remote shopping assistance.')
			 WHEN 'assume_refused' THEN
				jsonb_build_object('sqlstate', '55000', 'message', 'the session has ended',
								   'detail', 'Session ' || (p_session0 + s.slot) || ' ended (logout).')
			 WHEN 'log_viewed' THEN
				jsonb_build_object('report', 'customer_history', 'filters', jsonb_build_object('customer_id', s.customer),
								   'rows', 1 + s.u % 60)
		   END
	  FROM (SELECT i / 8 AS slot, i % 8 AS pos,
				   1 + (hashint8extended(i / 8, 11) & 9223372036854775807) % p_customers AS customer,
				   1 + (hashint8extended(i / 8, 12) & 9223372036854775807) % p_admins AS admin,
				   hashint8extended(i / 8, 13) & 9223372036854775807 AS h3,
				   (hashint8extended(i, 14) & 9223372036854775807) % 1000 AS u,
				   p_t0 + (i * p_step_us + (hashint8extended(i, 15) & 9223372036854775807)
										   % greatest(1, (0.9 * p_step_us)::bigint)) * interval '1 microsecond' AS at
			OFFSET 0) s0
	 -- (OFFSET 0: each level is computed once per row, not copied into every
	 -- expression that uses it)
	 CROSS JOIN LATERAL (
		SELECT s0.*, 1 + s0.h3 / 7 % 4 AS store,
			   CASE s0.h3 / 31 % 4
				 WHEN 0 THEN 'order ' || lpad((s0.h3 / 131 % 1000000000)::text, 9, '0')
				 WHEN 1 THEN 'customer edit page'
				 WHEN 2 THEN 'invoice ' || lpad((s0.h3 / 137 % 1000000000)::text, 9, '0')
				 ELSE 'order ' || lpad((s0.h3 / 139 % 1000000000)::text, 9, '0') END AS source,
			   CASE s0.h3 / 1009 % 3
				 WHEN 0 THEN 'call ' || (s0.h3 / 3001 % 100000)
				 WHEN 1 THEN 'ticket ' || (s0.h3 / 3011 % 100000)
				 ELSE 'chat ' || (s0.h3 / 3019 % 100000) END AS reason,
			   CASE s0.pos
				 WHEN 0 THEN CASE WHEN s0.h3 % 100 < 2 THEN 'begin_refused' ELSE 'ticket_issued' END
				 WHEN 1 THEN 'ticket_redeemed'
				 WHEN 7 THEN 'session_ended'
				 ELSE CASE WHEN s0.u < 330 THEN 'write_update' WHEN s0.u < 530 THEN 'write_insert'
						   WHEN s0.u < 570 THEN 'write_delete' WHEN s0.u < 760 THEN 'note'
						   WHEN s0.u < 800 THEN 'consent_granted' WHEN s0.u < 810 THEN 'consent_revoked'
						   WHEN s0.u < 840 THEN 'assume_refused' WHEN s0.u < 880 THEN 'log_viewed'
						   ELSE 'write_update' END
			   END AS action
		OFFSET 0) s1
	 CROSS JOIN LATERAL (
		SELECT s1.*,
			   s1.action IN ('ticket_issued', 'begin_refused', 'session_ended', 'log_viewed') AS admin_side,
			   s1.action IN ('begin_refused', 'log_viewed', 'consent_granted', 'consent_revoked') AS no_session,
			   s1.action IN ('consent_granted', 'consent_revoked') AS by_customer,
			   (ARRAY['shop.customer_address', 'shop.quote', 'shop.quote_item', 'shop.sales_order'])[1 + s1.u % 4] AS tbl,
			   CASE WHEN s1.u % 7 = 0 THEN 2 ELSE 1 END AS nrows,
			   CASE WHEN s1.u % 7 = 0 THEN jsonb_build_array(jsonb_build_array(i), jsonb_build_array(i + 1))
					ELSE jsonb_build_array(jsonb_build_array(i)) END AS keys,
			   (ARRAY['["street"]', '["city", "postcode", "street"]', '["qty"]', '["grand_total", "items_count"]'])[1 + s1.u % 4]::jsonb
				 AS cols
		OFFSET 0) s
$$;

------------------------------------------------------------------------------
-- logbench.generate: append p_rows generated rows to loginas.action_log, in
-- p_chains hash chains registered in loginas.log_chain, exactly as
-- loginas._append would have linked them (row i goes to chain i % p_chains,
-- at position i / p_chains + 1):
--   row_hash = sha256(prev_hash || convert_to(chain_id || ':' || chain_seq
--                     || ':' || loginas._log_content(the row), 'UTF8'))
-- SHA-256 chaining is sequential within a chain, so the set-based part runs
-- across chains: a recursive query whose every step computes the next row
-- of all p_chains chains at once (one row per chain in the working table),
-- p_batch steps per INSERT statement; the chain heads carry over between
-- statements in logbench.head.  prepare() sets up, generate(part, parts)
-- runs in one backend per part, finish() checks.  log_ids are reserved from loginas' sequence
-- (log_id = base + i + 1), rows are inserted in log_id order, session ids
-- likewise from loginas.session's sequence.  The time span ends now.
------------------------------------------------------------------------------
CREATE TABLE logbench.generated (
	rows		bigint NOT NULL,
	chains		int NOT NULL,
	customers	int NOT NULL,
	admins		int NOT NULL,
	t0			timestamptz NOT NULL,
	t1			timestamptz NOT NULL,
	base_id		bigint NOT NULL,
	session0	bigint NOT NULL,
	started		timestamptz NOT NULL,
	finished	timestamptz
);
CREATE TABLE logbench.head (
	c			int PRIMARY KEY,			-- 0 .. chains - 1
	chain_id	bigint NOT NULL,
	seq			bigint NOT NULL,			-- the chain's last row (0: none yet)
	i			bigint NOT NULL,			-- its row number (c - chains: none yet)
	h			bytea NOT NULL				-- its row_hash (32 zero bytes: none yet)
);

-- logbench.prepare: reserve the ids, register the chains
CREATE PROCEDURE logbench.prepare(p_rows bigint, p_chains int, p_span interval)
	LANGUAGE plpgsql
	AS $$
DECLARE
	g logbench.generated;
	step_us float8;
BEGIN
	IF EXISTS (SELECT FROM logbench.generated) THEN
		RAISE EXCEPTION 'log bench: this database already has a generated log';
	END IF;
	IF p_chains < 1 OR p_rows < p_chains THEN
		RAISE EXCEPTION 'log bench: need 1 <= chains <= rows';
	END IF;
	g.rows := p_rows;
	g.chains := p_chains;
	g.customers := (SELECT count(*) FROM logbench.customer);
	g.admins := (SELECT count(*) FROM logbench.admin);
	g.t1 := now();
	g.t0 := g.t1 - p_span;
	g.started := clock_timestamp();
	-- reserve the ids: log_id base + 1 .. base + rows, sessions session0 + slot
	g.base_id := nextval('loginas.action_log_log_id_seq');
	PERFORM setval('loginas.action_log_log_id_seq', g.base_id + p_rows);
	g.session0 := nextval('loginas.session_session_id_seq');
	PERFORM setval('loginas.session_session_id_seq', g.session0 + (p_rows + 7) / 8);
	step_us := extract(epoch FROM p_span) * 1e6 / p_rows;

	-- register the chains, as loginas._append does for a backend's first row
	WITH c AS (
		INSERT INTO loginas.log_chain (started_at, backend_pid, db_role)
		SELECT g.t0 + (c * step_us) * interval '1 microsecond', 100000 + c, 'logbench'
		  FROM generate_series(0, p_chains - 1) c
		 ORDER BY c
		RETURNING chain_id, backend_pid)
	INSERT INTO logbench.head (c, chain_id, seq, i, h)
	SELECT backend_pid - 100000, chain_id, 0, backend_pid - 100000 - p_chains, decode(repeat('00', 32), 'hex')
	  FROM c;
	INSERT INTO logbench.generated SELECT g.*;
END
$$;

-- logbench.generate: the rows of the chains c with c % p_parts = p_part
-- (several parts run at the same time, one backend each)
CREATE PROCEDURE logbench.generate(p_part int DEFAULT 0, p_parts int DEFAULT 1, p_batch int DEFAULT 100)
	LANGUAGE plpgsql
	AS $$
DECLARE
	g logbench.generated;
	p_rows bigint;
	p_chains int;
	step_us float8;
	n bigint;
	done bigint := 0;
	t timestamptz;
BEGIN
	SELECT * INTO STRICT g FROM logbench.generated;
	p_rows := g.rows;
	p_chains := g.chains;
	step_us := extract(epoch FROM g.t1 - g.t0) * 1e6 / p_rows;
	LOOP
		t := clock_timestamp();
		INSERT INTO loginas.action_log (log_id, logged_at, action_group, action, result, admin_id, admin_username,
										customer_id, customer_email, session_id, store_id, source, reason,
										client_addr, db_role, details, chain_id, chain_seq, prev_hash, row_hash)
		WITH RECURSIVE w AS (
			SELECT h.chain_id, h.seq, h.i, h.h AS row_hash, NULL::bytea AS prev_hash, 0 AS steps,
				   NULL::timestamptz AS logged_at, NULL::text AS action, NULL::text AS result,
				   NULL::bigint AS admin_id, NULL::text AS admin_username, NULL::bigint AS customer_id,
				   NULL::text AS customer_email, NULL::bigint AS session_id, NULL::bigint AS store_id,
				   NULL::text AS source, NULL::text AS reason, NULL::inet AS client_addr, NULL::name AS db_role,
				   NULL::jsonb AS details
			  FROM logbench.head h
			 WHERE h.c % p_parts = p_part AND h.i + p_chains < p_rows
			UNION ALL
			SELECT w.chain_id, w.seq + 1, w.i + p_chains,
				   sha256(w.row_hash || convert_to(w.chain_id::text || ':' || (w.seq + 1)::text || ':' ||
						logbench.content(g.base_id + w.i + p_chains + 1, r.logged_at, 'Login As Customer', r.action,
										 r.result, r.admin_id, r.admin_username, r.customer_id, r.customer_email,
										 r.session_id, r.store_id, r.source, r.reason, r.client_addr, r.db_role,
										 r.details), 'UTF8')),
				   w.row_hash, w.steps + 1,
				   r.logged_at, r.action, r.result, r.admin_id, r.admin_username, r.customer_id, r.customer_email,
				   r.session_id, r.store_id, r.source, r.reason, r.client_addr, r.db_role, r.details
			  FROM w
			 -- (OFFSET 0: the row is computed once, then hashed and stored)
			 CROSS JOIN LATERAL (
				SELECT x.logged_at, x.action, x.result, x.admin_id, x.admin_username, x.customer_id, x.customer_email,
					   x.session_id, x.store_id, x.source, x.reason, x.client_addr, x.db_role,
					   jsonb_strip_nulls(x.details) AS details		-- as loginas._append stores it
				  FROM logbench.row_at(w.i + p_chains, g.customers, g.admins, g.t0, step_us, g.session0) x
				OFFSET 0) r
			 WHERE w.steps < p_batch AND w.i + p_chains < p_rows
		)
		SELECT g.base_id + w.i + 1, w.logged_at, 'Login As Customer', w.action, w.result, w.admin_id,
			   w.admin_username, w.customer_id, w.customer_email, w.session_id, w.store_id, w.source, w.reason,
			   w.client_addr, w.db_role, w.details, w.chain_id, w.seq, w.prev_hash, w.row_hash
		  FROM w
		 WHERE w.steps > 0;
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n = 0;
		done := done + n;
		-- the new heads: each chain's last row, through its (chain_id, chain_seq) index
		UPDATE logbench.head h
		   SET (seq, i, h) = (SELECT l.chain_seq, l.log_id - g.base_id - 1, l.row_hash
								FROM loginas.action_log l
							   WHERE l.chain_id = h.chain_id
							   ORDER BY l.chain_seq DESC LIMIT 1)
		 WHERE h.c % p_parts = p_part AND h.i + p_chains < p_rows;
		COMMIT;
		RAISE NOTICE 'log bench: part %/%: % rows (% rows/s)', p_part + 1, p_parts, done,
			round(n / greatest(extract(epoch FROM clock_timestamp() - t), 0.001));
	END LOOP;
END
$$;

-- logbench.finish: every chain complete?
CREATE PROCEDURE logbench.finish()
	LANGUAGE plpgsql
	AS $$
DECLARE
	g logbench.generated;
	n bigint;
BEGIN
	SELECT * INTO STRICT g FROM logbench.generated;
	SELECT count(*) INTO n FROM loginas.action_log
	 WHERE log_id > g.base_id AND log_id <= g.base_id + g.rows;
	IF n <> g.rows OR EXISTS (SELECT FROM logbench.head h WHERE h.i + g.chains < g.rows) THEN
		RAISE EXCEPTION 'log bench: % rows generated, expected %', n, g.rows;
	END IF;
	UPDATE logbench.generated SET finished = clock_timestamp();
END
$$;

------------------------------------------------------------------------------
-- measuring: EXPLAIN (ANALYZE) of one statement; the server's execution time
-- (TIMING OFF: no per-node clock reads) and the rows it returned
------------------------------------------------------------------------------
CREATE FUNCTION logbench.explain(q text, OUT ms float8, OUT nrows bigint)
	LANGUAGE plpgsql
	AS $$
DECLARE
	j json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) ' || q INTO j;
	ms := (j -> 0 ->> 'Execution Time')::float8;
	-- numeric first: PostgreSQL 18 reports Actual Rows with two decimals
	nrows := (j -> 0 -> 'Plan' ->> 'Actual Rows')::numeric::bigint;
END
$$;

-- the report calls measured: q = customer_history, page, page_admin; and,
-- for comparison, q || '_raw': the same rows read by the same conditions and
-- order, without the per-row text (the index-backed access alone)
CREATE FUNCTION logbench.report_sql(q text, arg bigint)
	RETURNS text
	LANGUAGE sql IMMUTABLE
	AS $$
	SELECT CASE q
		WHEN 'customer_history' THEN format('SELECT * FROM loginas.customer_history(%s)', arg)
		WHEN 'page' THEN 'SELECT * FROM loginas.actions_report(action_group => ''Login As Customer'','
						 ' since => now() - interval ''7 days'')'
		WHEN 'page_admin' THEN format('SELECT * FROM loginas.actions_report(action_group => ''Login As Customer'','
									  ' since => now() - interval ''7 days'', admin_id => %s)', arg)
		WHEN 'customer_history_raw' THEN format('SELECT l.* FROM loginas.action_log l WHERE l.customer_id = %s'
												' AND l.action <> ''log_viewed'' ORDER BY l.logged_at DESC, l.log_id DESC', arg)
		WHEN 'page_raw' THEN 'SELECT l.* FROM loginas.action_log l WHERE l.logged_at >= now() - interval ''7 days'''
							 ' AND l.action_group = ''Login As Customer'' ORDER BY l.logged_at DESC, l.log_id DESC LIMIT 100'
		WHEN 'page_admin_raw' THEN format('SELECT l.* FROM loginas.action_log l WHERE l.logged_at >= now() - interval ''7 days'''
										  ' AND l.action_group = ''Login As Customer'' AND l.admin_id = %s'
										  ' ORDER BY l.logged_at DESC, l.log_id DESC LIMIT 100', arg)
	END
$$;

-- the customers measured: those with a typical history, within 10 % of the
-- median number of log rows per customer (a random customer's history
-- varies by +-30 % around it, more than the log's size would change it);
-- made once per database, from the customer index
CREATE TABLE logbench.probe (customer_id bigint PRIMARY KEY, n bigint NOT NULL);

CREATE FUNCTION logbench.make_probe()
	RETURNS bigint
	LANGUAGE plpgsql
	AS $$
DECLARE
	m float8;
	n bigint;
BEGIN
	TRUNCATE logbench.probe;
	CREATE TEMP TABLE per_customer ON COMMIT DROP AS
		SELECT customer_id, count(*) AS n FROM loginas.action_log WHERE customer_id IS NOT NULL GROUP BY customer_id;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY p.n) INTO m FROM per_customer p;
	INSERT INTO logbench.probe SELECT p.customer_id, p.n FROM per_customer p WHERE p.n BETWEEN 0.9 * m AND 1.1 * m;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n = 0 THEN
		INSERT INTO logbench.probe SELECT p.customer_id, p.n FROM per_customer p;
		GET DIAGNOSTICS n = ROW_COUNT;
	END IF;
	RETURN n;
END
$$;

-- one round of the report measurements in this database: for each report
-- (in an order rotated by p_round), a random customer (of logbench.probe) /
-- admin, then the call twice: 'first' (its rows' pages possibly not yet in
-- shared_buffers) and 'repeat' (everything cached: what is judged); then the
-- same rows without the per-row text ('raw', once, cached).  The backend's
-- own caches (plpgsql, catalogs, plans) are warmed first on other arguments.
CREATE FUNCTION logbench.measure_round(p_round int, p_seed float8)
	RETURNS TABLE (round int, query text, pass text, arg bigint, ms float8, nrows bigint)
	LANGUAGE plpgsql
	AS $$
DECLARE
	qs text[] := ARRAY['customer_history', 'page', 'page_admin'];
	g logbench.generated;
	q text;
	a bigint;
	p text;
	e record;
BEGIN
	SELECT * INTO STRICT g FROM logbench.generated;
	PERFORM setseed(p_seed);
	-- warm the backend up (not measured)
	FOREACH q IN ARRAY qs LOOP
		PERFORM logbench.explain(logbench.report_sql(q, 1));
		PERFORM logbench.explain(logbench.report_sql(q || '_raw', 1));
	END LOOP;
	FOR k IN 0 .. 2 LOOP
		q := qs[1 + (p_round + k) % 3];
		a := CASE q WHEN 'customer_history' THEN
						(SELECT pr.customer_id FROM logbench.probe pr ORDER BY pr.customer_id
						 OFFSET floor(random() * (SELECT count(*) FROM logbench.probe)) LIMIT 1)
					WHEN 'page_admin' THEN 1 + floor(random() * g.admins) END;
		FOREACH p IN ARRAY ARRAY['first', 'repeat', 'raw'] LOOP
			e := logbench.explain(logbench.report_sql(CASE p WHEN 'raw' THEN q || '_raw' ELSE q END, a));
			round := p_round; query := q; pass := p; arg := a; ms := e.ms; nrows := e.nrows;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;

------------------------------------------------------------------------------
-- the append benchmark's peer: the same row in a plain table of the same
-- shape (columns, defaults, CHECK, indexes), minus the chain's unique
-- constraint, with its own id sequence
------------------------------------------------------------------------------
CREATE TABLE logbench.plain_log (LIKE loginas.action_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
DO $do$
DECLARE
	c text;
BEGIN
	SELECT conname INTO STRICT c FROM pg_constraint
	 WHERE conrelid = 'logbench.plain_log'::regclass AND contype = 'u';
	EXECUTE format('ALTER TABLE logbench.plain_log DROP CONSTRAINT %I', c);
END
$do$;
CREATE SEQUENCE logbench.plain_log_id;
ALTER TABLE logbench.plain_log ALTER COLUMN log_id SET DEFAULT nextval('logbench.plain_log_id');

------------------------------------------------------------------------------
-- results (collected into the large database by log_bench.sh, read by
-- test/bench/log_report.sql)
------------------------------------------------------------------------------
CREATE TABLE logbench.gen_stat (
	size		text PRIMARY KEY,	-- 'big' (10M), 'small' (100k)
	log_rows	bigint NOT NULL,	-- all rows of loginas.action_log
	rows		bigint NOT NULL,	-- of which generated
	chains		int NOT NULL,
	parts		int NOT NULL,		-- backends generating at the same time
	customers	int NOT NULL,
	admins		int NOT NULL,
	gen_s		float8 NOT NULL,	-- generation, wall clock
	vacuum_s	float8 NOT NULL,	-- VACUUM (ANALYZE) afterwards
	verify_s	float8 NOT NULL,	-- loginas.verify_log()
	verify		text NOT NULL,		-- its verdict
	heap_bytes	bigint NOT NULL,
	total_bytes	bigint NOT NULL		-- with indexes and TOAST
);
CREATE TABLE logbench.q_result (
	size		text NOT NULL,
	round		int NOT NULL,
	query		text NOT NULL,		-- customer_history, page, page_admin
	pass		text NOT NULL,		-- first, repeat, raw
	arg			bigint,				-- the customer / admin
	ms			float8 NOT NULL,	-- EXPLAIN (ANALYZE): Execution Time
	nrows		bigint NOT NULL,
	PRIMARY KEY (size, round, query, pass)
);
CREATE TABLE logbench.plan_check (
	size		text NOT NULL,
	query		text NOT NULL,
	indexes		text,				-- the indexes the inner query scanned
	seq_scan	boolean NOT NULL,	-- a Seq Scan on loginas.action_log?
	PRIMARY KEY (size, query)
);
CREATE TABLE logbench.a_result (
	round		int NOT NULL,
	variant		text NOT NULL,		-- plain, log, append
	tps			float8 NOT NULL,
	processed	bigint NOT NULL,
	PRIMARY KEY (round, variant)
);
CREATE TABLE logbench.fn_stat (
	variant		text NOT NULL,		-- the pgbench variant profiled
	appends		bigint NOT NULL,	-- its transactions
	funcname	text NOT NULL,
	calls		bigint NOT NULL,
	total_ms	float8 NOT NULL,
	self_ms		float8 NOT NULL,
	PRIMARY KEY (variant, funcname)
);
