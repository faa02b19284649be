-- test/bench/schema.sql — the database `make bench` measures (loaded by
-- test/bench/bench.sh as a superuser into a database of its own, after
-- CREATE EXTENSION loginas, test/bench/reference.sql and
-- test/bench/common.sql, which has the schema bench, bench.cpu_ns() and
-- bench.result).  The key-type variants have databases of their own:
-- test/bench/keys_schema.sql.
--
--   bench.website/store/customer/admin   a small shop, bound to loginas
--                                        (10,000 customers, one admin)
--   bench.quote_plain                    the shop's table, untracked
--   bench.quote_tracked                  the same table, loginas.track()ed
--   bench.quote_ref                      the same table, tracked by the
--                                        PL/pgSQL reference (reference.sql)
--   bench.session_info                   the session the bench acts in
--   bench.config                         the COPY data file (bench.sh)
--   bench.measure(...)                   one timed step (a procedure: it
--                                        commits, so the time includes the
--                                        commit and loginas' log written at
--                                        pre-commit)
--
-- The three quote tables have the same shape (Magento's quote, reduced):
-- a bigint primary key, the customer column (indexed) and four more columns;
-- the tracked copies also carry the two stamp columns.  Autovacuum is off on
-- them: bench.sh truncates and vacuums explicitly before every step.
SET client_min_messages = warning;

CREATE TABLE bench.website (website_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE bench.store (store_id int PRIMARY KEY, website_id int NOT NULL REFERENCES bench.website,
						  name text NOT NULL, is_active boolean NOT NULL DEFAULT true,
						  is_default boolean NOT NULL DEFAULT false);
CREATE TABLE bench.customer (customer_id int PRIMARY KEY, email text NOT NULL, firstname text, lastname text,
							 is_active boolean NOT NULL DEFAULT true, website_id int NOT NULL, store_id int NOT NULL);
CREATE TABLE bench.admin (admin_id int PRIMARY KEY, username text NOT NULL, firstname text, lastname text,
						  is_active boolean NOT NULL DEFAULT true, role text NOT NULL);
INSERT INTO bench.website VALUES (1, 'Main Website');
INSERT INTO bench.store VALUES (1, 1, 'Default Store View', true, true);
INSERT INTO bench.customer
SELECT g, 'customer' || g || '@example.com', 'First' || g, 'Last' || g, true, 1, 1
  FROM generate_series(1, 10000) g;
INSERT INTO bench.admin VALUES (1, 'bench', 'Bench', 'Admin', true, 'Administrators');
ANALYZE bench.website, bench.store, bench.customer, bench.admin;

CREATE VIEW bench.loginas_customers AS
	SELECT customer_id, email, firstname || ' ' || lastname AS display_name, is_active, website_id, store_id
	  FROM bench.customer;
CREATE VIEW bench.loginas_admins AS
	SELECT admin_id, username, firstname || ' ' || lastname AS display_name, is_active, role FROM bench.admin;
CREATE VIEW bench.loginas_store_views AS
	SELECT s.store_id, s.website_id, s.name, w.name AS website_name, s.is_active, s.is_default
	  FROM bench.store s JOIN bench.website w USING (website_id);
GRANT USAGE ON SCHEMA bench TO loginas_reader;
GRANT SELECT ON bench.loginas_customers, bench.loginas_admins, bench.loginas_store_views TO loginas_reader;
SELECT loginas.bind('customers', 'bench.loginas_customers');
SELECT loginas.bind('admins', 'bench.loginas_admins');
SELECT loginas.bind('store_views', 'bench.loginas_store_views');

SELECT loginas.configure('enabled', 'on');
SELECT loginas.configure('session_ttl', '7 days');	-- the session outlives the run
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(1, true);

-- the table three times
CREATE TABLE bench.quote_plain (
	quote_id	bigint PRIMARY KEY,
	customer_id	bigint NOT NULL,
	store_id	int NOT NULL,
	grand_total	numeric(20,4) NOT NULL DEFAULT 0,
	items_count	int NOT NULL DEFAULT 0,
	updated_at	timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_enabled = false);
CREATE INDEX quote_plain_customer ON bench.quote_plain (customer_id);
CREATE TABLE bench.quote_tracked (LIKE bench.quote_plain INCLUDING ALL) WITH (autovacuum_enabled = false);
CREATE TABLE bench.quote_ref (LIKE bench.quote_plain INCLUDING ALL) WITH (autovacuum_enabled = false);
SELECT loginas.track('bench.quote_tracked', 'customer_id');
SELECT loginas_ref.track('bench.quote_ref', 'customer_id');
ALTER TABLE loginas.action_log SET (autovacuum_enabled = false);
ALTER TABLE loginas_ref.action_log SET (autovacuum_enabled = false);
CREATE SEQUENCE bench.pgbench_id;

-- the session: admin 1 acting for customer 1 (begin + redeem, as the admin
-- panel and the storefront would)
CREATE TABLE bench.session_info (
	session_id		bigint PRIMARY KEY,
	session_key		text NOT NULL,
	admin_id		bigint NOT NULL,
	customer_id		bigint NOT NULL,
	store_id		bigint,
	admin_username	text,
	customer_email	text,
	source			text,
	reason			text
);
WITH t AS (SELECT * FROM loginas.begin(1, 1, reason => 'make bench')),
	 r AS (SELECT rd.* FROM t, LATERAL loginas.redeem(t.token) rd)
INSERT INTO bench.session_info
SELECT r.session_id, r.session_key, 1, r.customer_id, r.store_id, 'bench', 'customer1@example.com' FROM r;
UPDATE bench.session_info i SET source = s.source, reason = s.reason
  FROM loginas.session s WHERE s.session_id = i.session_id;

-- the file COPY reads (written by bench.sh with COPY ... TO, in a directory
-- of the server's OS user)
CREATE TABLE bench.config (copy_file text);

-- a server-side loop of single-row INSERTs, one static function per table
-- (the same plan shape for each; plpgsql caches it)
DO $do$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['quote_plain', 'quote_tracked', 'quote_ref'] LOOP
		EXECUTE format($f$
CREATE FUNCTION bench.%1$I(n int, cust bigint, store int) RETURNS void
	LANGUAGE plpgsql AS $body$
BEGIN
	FOR i IN 1 .. n LOOP
		INSERT INTO bench.%2$I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)
		VALUES (i, cust, store, (i %% 1000) / 10.0, i %% 7, now());
	END LOOP;
END
$body$
$f$, 'loop_' || t, t);
	END LOOP;
END
$do$;

-- bench.measure(round, measure, variant, rows): one timed step.
--   measure   insert  INSERT ... SELECT generate_series (rows rows)
--             update  UPDATE of every row (bench.sh filled the table first)
--             loop    a plpgsql loop of `rows` single-row INSERTs
--             copy    COPY FROM the file bench.sh wrote (`rows` rows)
--   variant   untracked  bench.quote_plain
--             tracked    bench.quote_tracked, outside any session
--             session    bench.quote_tracked after loginas.assume()
--             reference  bench.quote_ref after loginas_ref.assume()
-- A first transaction warms the backend up (one row, rolled back: loads the
-- library, the trigger's cache, the plans); the timed one runs from just
-- after assume() to just after its COMMIT, on the wall clock and in CPU time
-- of this backend.  Then it checks that the step did what it should (stamps,
-- log rows: bench.check_session_log) and records the times.
CREATE PROCEDURE bench.measure(p_round int, p_measure text, p_variant text, p_rows int)
	LANGUAGE plpgsql
	AS $$
DECLARE
	tbl text := CASE p_variant WHEN 'untracked' THEN 'quote_plain'
							   WHEN 'reference' THEN 'quote_ref'
							   ELSE 'quote_tracked' END;
	s bench.session_info;
	t0 timestamptz;
	t1 timestamptz;
	c0 bigint;
	c1 bigint;
	n bigint;
	log_before bigint;
	log_last bigint;
	ref_before bigint;
BEGIN
	IF p_measure NOT IN ('insert', 'update', 'loop', 'copy') OR
	   p_variant NOT IN ('untracked', 'tracked', 'session', 'reference') THEN
		RAISE EXCEPTION 'bench.measure: bad measure % or variant %', p_measure, p_variant;
	END IF;
	SELECT * INTO s FROM bench.session_info;
	SELECT count(*), coalesce(max(log_id), 0) INTO log_before, log_last FROM loginas.action_log;
	SELECT count(*) INTO ref_before FROM loginas_ref.action_log;

	FOR pass IN 1 .. 2 LOOP
		IF p_variant = 'session' THEN
			PERFORM loginas.assume(s.session_key);
		ELSIF p_variant = 'reference' THEN
			PERFORM loginas_ref.assume(s.session_id, s.admin_id, s.customer_id, s.store_id, false,
									   s.admin_username, s.customer_email, s.source, s.reason);
		END IF;
		IF pass = 1 THEN
			-- warm-up, rolled back
			EXECUTE format('INSERT INTO bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)'
						   ' VALUES (0, $1, $2, 0, 0, now())', tbl) USING s.customer_id, s.store_id::int;
			IF p_measure = 'update' THEN
				EXECUTE format('UPDATE bench.%I SET grand_total = grand_total WHERE quote_id = 0', tbl);
			END IF;
			ROLLBACK;
			CONTINUE;
		END IF;

		c0 := bench.cpu_ns();
		t0 := clock_timestamp();
		IF p_measure = 'insert' THEN
			EXECUTE format('INSERT INTO bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)'
						   ' SELECT g, $1, $2, (g %% 1000) / 10.0, g %% 7, now() FROM generate_series(1, $3) g', tbl)
			  USING s.customer_id, s.store_id::int, p_rows;
		ELSIF p_measure = 'update' THEN
			EXECUTE format('UPDATE bench.%I SET grand_total = grand_total + 1, items_count = items_count + 1,'
						   ' updated_at = now()', tbl);
		ELSIF p_measure = 'loop' THEN
			EXECUTE format('SELECT bench.%I($1, $2, $3)', 'loop_' || tbl) USING p_rows, s.customer_id, s.store_id::int;
		ELSE
			EXECUTE format('COPY bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at) FROM %L',
						   tbl, (SELECT copy_file FROM bench.config));
		END IF;
		COMMIT;
		t1 := clock_timestamp();
		c1 := bench.cpu_ns();
	END LOOP;

	-- what the step must have done
	EXECUTE format('SELECT count(*) FROM bench.%I', tbl) INTO n;
	IF n <> p_rows THEN
		RAISE EXCEPTION 'bench check: % % on %: % rows in the table, expected %', p_measure, p_variant, tbl, n, p_rows;
	END IF;
	IF p_variant = 'session' THEN
		EXECUTE format('SELECT count(*) FROM bench.%I WHERE loginas_changed_session = $1'
					   ' AND (loginas_created_session IS NOT DISTINCT FROM $1) = ($2 <> ''update'')', tbl)
		   INTO n USING s.session_id, p_measure;
		IF n <> p_rows THEN
			RAISE EXCEPTION 'bench check: % in a session: % rows stamped, expected %', p_measure, n, p_rows;
		END IF;
		-- the step's log rows (common.sql): the rows, exactly the table's keys, the customer
		PERFORM bench.check_session_log(s.session_id, p_measure, log_last, p_rows, 'bench.' || tbl, s.customer_id, NULL);
	ELSIF p_variant = 'reference' THEN
		SELECT count(*) - ref_before INTO n FROM loginas_ref.action_log;
		IF n <> p_rows THEN
			RAISE EXCEPTION 'bench check: % reference: % log rows, expected %', p_measure, n, p_rows;
		END IF;
		EXECUTE format('SELECT count(*) FROM bench.%I WHERE loginas_changed_session = $1', tbl) INTO n USING s.session_id;
		IF n <> p_rows THEN
			RAISE EXCEPTION 'bench check: % reference: % rows stamped, expected %', p_measure, n, p_rows;
		END IF;
	ELSIF p_variant = 'tracked' THEN
		EXECUTE format('SELECT count(*) FROM bench.%I WHERE loginas_changed_session IS NOT NULL'
					   ' OR loginas_created_session IS NOT NULL', tbl) INTO n;
		IF n <> 0 OR (SELECT count(*) FROM loginas.action_log) <> log_before THEN
			RAISE EXCEPTION 'bench check: % tracked outside a session: stamps or log rows written', p_measure;
		END IF;
	END IF;

	INSERT INTO bench.result (phase, round, measure, variant, rows, ms, cpu_ms)
	VALUES ('bulk', p_round, p_measure, p_variant, p_rows, extract(epoch FROM t1 - t0) * 1000, (c1 - c0) / 1e6);
	COMMIT;
END
$$;

-- bench.reset(): the same starting state for every step: empty tables and
-- logs.  loginas.action_log is append-only: its rows go the way a shop's
-- would, through loginas.purge_log() (which leaves its own row).  (bench.sh
-- then fills, vacuums and checkpoints.)
CREATE PROCEDURE bench.reset()
	LANGUAGE plpgsql
	AS $$
BEGIN
	TRUNCATE bench.quote_plain, bench.quote_tracked, bench.quote_ref, loginas_ref.action_log;
	IF to_regprocedure('loginas.purge_log(timestamptz, bigint)') IS NOT NULL THEN
		-- (1.2: no purge cuts into the log retention; the bench's DBA sets none)
		IF to_regprocedure('loginas.set_log_retention(interval)') IS NOT NULL THEN
			PERFORM loginas.set_log_retention('0');
		END IF;
		PERFORM loginas.purge_log(now());
	ELSE
		TRUNCATE loginas.action_log;
	END IF;
END
$$;

-- fill a table with p_rows rows of the session's customer, outside any
-- session (before an update step, untimed)
CREATE PROCEDURE bench.fill(p_variant text, p_rows int)
	LANGUAGE plpgsql
	AS $$
DECLARE
	tbl text := CASE p_variant WHEN 'untracked' THEN 'quote_plain'
							   WHEN 'reference' THEN 'quote_ref'
							   ELSE 'quote_tracked' END;
	s bench.session_info;
BEGIN
	SELECT * INTO s FROM bench.session_info;
	EXECUTE format('INSERT INTO bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)'
				   ' SELECT g, $1, $2, (g %% 1000) / 10.0, g %% 7, now() FROM generate_series(1, $3) g', tbl)
	  USING s.customer_id, s.store_id::int, p_rows;
END
$$;
