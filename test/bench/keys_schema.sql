-- test/bench/keys_schema.sql — a database of `make bench`'s key-type
-- variants: the shop of test/bench/schema.sql with customers keyed by text or
-- by uuid, and its quote table keyed by the same type.  Loaded by
-- test/bench/bench.sh as a superuser into a database of its own (one
-- customers binding per database), after CREATE EXTENSION loginas and
-- test/bench/common.sql, with `psql -v keytype=text` or `-v keytype=uuid`.
--
--   bench.website/store/admin            as in schema.sql (integer keys)
--   bench.customer                       10,000 customers keyed by KEYTYPE:
--                                        text 'cus_01HV…' (Medusa-shaped,
--                                        30 characters) or uuid (md5-derived,
--                                        fixed from run to run)
--   bench.quote_plain                    the quote table, untracked: its
--                                        primary key and its customer column
--                                        are of KEYTYPE
--   bench.quote_tracked                  the same table, loginas.track()ed
--   bench.quote_key(g)                   the key of the g-th quote: text
--                                        'quo_01HV…' (in g's order, like a
--                                        ULID's time order) or a random uuid
--                                        (gen_random_uuid(), a uuid table's
--                                        usual default)
--   bench.session_info                   the session the bench acts in
--   bench.measure(...), bench.reset(), bench.fill(...)
--                                        as in schema.sql, for the variants
--                                        untracked, tracked and session and
--                                        the measures insert and update; the
--                                        results go to bench.result with
--                                        phase 'bulk_' || KEYTYPE
--
-- Apart from the key types the quote tables have the shape of schema.sql's.
SET client_min_messages = warning;

SELECT :'keytype' IN ('text', 'uuid') AS keytype_ok, :'keytype' = 'text' AS keytype_text \gset
\if :keytype_ok
\else
	\echo keys_schema.sql: keytype must be text or uuid, not :keytype
	SELECT 1 / 0 AS bad_keytype;
\endif

CREATE TABLE bench.key_type (key_type regtype NOT NULL);
INSERT INTO bench.key_type VALUES (:'keytype');

CREATE TABLE bench.website (website_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE bench.store (store_id int PRIMARY KEY, website_id int NOT NULL REFERENCES bench.website,
						  name text NOT NULL, is_active boolean NOT NULL DEFAULT true,
						  is_default boolean NOT NULL DEFAULT false);
CREATE TABLE bench.customer (customer_id :keytype PRIMARY KEY, email text NOT NULL, firstname text, lastname text,
							 is_active boolean NOT NULL DEFAULT true, website_id int NOT NULL, store_id int NOT NULL);
CREATE TABLE bench.admin (admin_id int PRIMARY KEY, username text NOT NULL, firstname text, lastname text,
						  is_active boolean NOT NULL DEFAULT true, role text NOT NULL);
INSERT INTO bench.website VALUES (1, 'Main Website');
INSERT INTO bench.store VALUES (1, 1, 'Default Store View', true, true);
\if :keytype_text
CREATE FUNCTION bench.customer_key(g bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT
	RETURN 'cus_01HV' || lpad(g::text, 22, '0');
CREATE FUNCTION bench.quote_key(g bigint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT
	RETURN 'quo_01HV' || lpad(g::text, 22, '0');
\else
CREATE FUNCTION bench.customer_key(g bigint) RETURNS uuid
	LANGUAGE sql IMMUTABLE STRICT
	RETURN md5('customer' || g)::uuid;
-- (g only gives the function the integer version's signature)
CREATE FUNCTION bench.quote_key(g bigint) RETURNS uuid
	LANGUAGE sql VOLATILE
	RETURN gen_random_uuid();
\endif
INSERT INTO bench.customer
SELECT bench.customer_key(g), 'customer' || g || '@example.com', 'First' || g, 'Last' || g, true, 1, 1
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
-- the binding reads the key type from the view
SELECT loginas._key_type('customers') = :'keytype'::regtype AS key_type_bound \gset
\if :key_type_bound
\else
	\echo keys_schema.sql: loginas does not read the customers binding as :keytype
	SELECT 1 / 0 AS key_type_not_bound;
\endif

SELECT loginas.configure('enabled', 'on');
SELECT loginas.configure('session_ttl', '7 days');	-- the session outlives the run
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.set_assistance(bench.customer_key(1)::text, true);

-- the table twice: the same shape as schema.sql's, keys of KEYTYPE
CREATE TABLE bench.quote_plain (
	quote_id	:keytype PRIMARY KEY,
	customer_id	:keytype NOT NULL,
	store_id	int NOT NULL,
	grand_total	numeric(20,4) NOT NULL DEFAULT 0,
	items_count	int NOT NULL DEFAULT 0,
	updated_at	timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_enabled = false);
CREATE INDEX quote_plain_customer ON bench.quote_plain (customer_id);
CREATE TABLE bench.quote_tracked (LIKE bench.quote_plain INCLUDING ALL) WITH (autovacuum_enabled = false);
SELECT loginas.track('bench.quote_tracked', 'customer_id');
ALTER TABLE loginas.action_log SET (autovacuum_enabled = false);

-- the session: admin 1 acting for customer 1 (begin + redeem by the text
-- key, as the admin panel and the storefront would)
CREATE TABLE bench.session_info (
	session_id		bigint PRIMARY KEY,
	session_key		text NOT NULL,
	customer_key	text NOT NULL,		-- loginas' canonical text of the key
	customer_id		:keytype NOT NULL,	-- the same key, typed
	store_id		bigint
);
WITH t AS (SELECT * FROM loginas.begin(1, bench.customer_key(1)::text, reason => 'make bench')),
	 r AS (SELECT rd.* FROM t, LATERAL loginas.redeem(t.token) rd)
INSERT INTO bench.session_info
SELECT r.session_id, r.session_key, r.customer_key, bench.customer_key(1), r.store_id FROM r;
SELECT customer_key = customer_id::text AS session_key_ok FROM bench.session_info \gset
\if :session_key_ok
\else
	\echo keys_schema.sql: the session's customer key is not the customer's
	SELECT 1 / 0 AS session_key_wrong;
\endif

-- bench.measure(round, measure, variant, rows): one timed step, as
-- schema.sql's, on this database's tables.
--   measure   insert  INSERT ... SELECT generate_series (rows rows, keys
--                     from bench.quote_key)
--             update  UPDATE of every row (bench.sh filled the table first)
--   variant   untracked  bench.quote_plain
--             tracked    bench.quote_tracked, outside any session
--             session    bench.quote_tracked after loginas.assume()
-- Checks afterwards: the row count; in a session every row stamped, and the
-- step's log rows (bench.check_session_log, common.sql) name the session's
-- customer by its key (customer_key, no integer customer_id), count the rows
-- and name exactly the table's keys; outside a session no stamp and no log
-- row.
CREATE PROCEDURE bench.measure(p_round int, p_measure text, p_variant text, p_rows int)
	LANGUAGE plpgsql
	AS $$
DECLARE
	tbl text := CASE p_variant WHEN 'untracked' THEN 'quote_plain' ELSE 'quote_tracked' END;
	phase text := 'bulk_' || (SELECT key_type::text FROM bench.key_type);
	s bench.session_info;
	t0 timestamptz;
	t1 timestamptz;
	c0 bigint;
	c1 bigint;
	n bigint;
	log_before bigint;
	log_last bigint;
BEGIN
	IF p_measure NOT IN ('insert', 'update') OR p_variant NOT IN ('untracked', 'tracked', 'session') THEN
		RAISE EXCEPTION 'bench.measure: bad measure % or variant %', p_measure, p_variant;
	END IF;
	SELECT * INTO s FROM bench.session_info;
	SELECT count(*), coalesce(max(log_id), 0) INTO log_before, log_last FROM loginas.action_log;

	FOR pass IN 1 .. 2 LOOP
		IF p_variant = 'session' THEN
			PERFORM loginas.assume(s.session_key);
		END IF;
		IF pass = 1 THEN
			-- warm-up, rolled back
			EXECUTE format('INSERT INTO bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)'
						   ' VALUES (bench.quote_key(0), $1, $2, 0, 0, now())', tbl) USING s.customer_id, s.store_id::int;
			IF p_measure = 'update' THEN
				EXECUTE format('UPDATE bench.%I SET grand_total = grand_total WHERE quote_id = bench.quote_key(0)', tbl);
			END IF;
			ROLLBACK;
			CONTINUE;
		END IF;

		c0 := bench.cpu_ns();
		t0 := clock_timestamp();
		IF p_measure = 'insert' THEN
			EXECUTE format('INSERT INTO bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)'
						   ' SELECT bench.quote_key(g), $1, $2, (g %% 1000) / 10.0, g %% 7, now()'
						   ' FROM generate_series(1, $3) g', tbl)
			  USING s.customer_id, s.store_id::int, p_rows;
		ELSE
			EXECUTE format('UPDATE bench.%I SET grand_total = grand_total + 1, items_count = items_count + 1,'
						   ' updated_at = now()', tbl);
		END IF;
		COMMIT;
		t1 := clock_timestamp();
		c1 := bench.cpu_ns();
	END LOOP;

	-- what the step must have done
	EXECUTE format('SELECT count(*) FROM bench.%I WHERE customer_id = $1', tbl) INTO n USING s.customer_id;
	IF n <> p_rows THEN
		RAISE EXCEPTION 'bench check: % % on % (% keys): % rows of the customer in the table, expected %',
			p_measure, p_variant, tbl, phase, n, p_rows;
	END IF;
	IF p_variant = 'session' THEN
		EXECUTE format('SELECT count(*) FROM bench.%I WHERE loginas_changed_session = $1'
					   ' AND (loginas_created_session IS NOT DISTINCT FROM $1) = ($2 <> ''update'')', tbl)
		   INTO n USING s.session_id, p_measure;
		IF n <> p_rows THEN
			RAISE EXCEPTION 'bench check: % in a session (%): % rows stamped, expected %', p_measure, phase, n, p_rows;
		END IF;
		-- the step's log rows (common.sql): the customer by its key and no
		-- integer customer_id, the rows, exactly the table's keys
		PERFORM bench.check_session_log(s.session_id, p_measure, log_last, p_rows, 'bench.' || tbl, NULL, s.customer_key);
	ELSIF p_variant = 'tracked' THEN
		EXECUTE format('SELECT count(*) FROM bench.%I WHERE loginas_changed_session IS NOT NULL'
					   ' OR loginas_created_session IS NOT NULL', tbl) INTO n;
		IF n <> 0 OR (SELECT count(*) FROM loginas.action_log) <> log_before THEN
			RAISE EXCEPTION 'bench check: % tracked outside a session (%): stamps or log rows written', p_measure, phase;
		END IF;
	END IF;

	INSERT INTO bench.result (phase, round, measure, variant, rows, ms, cpu_ms)
	VALUES (phase, p_round, p_measure, p_variant, p_rows, extract(epoch FROM t1 - t0) * 1000, (c1 - c0) / 1e6);
	COMMIT;
END
$$;

-- bench.reset(): empty tables and log, as schema.sql's (this database has
-- no reference; bench.sh then fills, vacuums and checkpoints)
CREATE PROCEDURE bench.reset()
	LANGUAGE plpgsql
	AS $$
BEGIN
	TRUNCATE bench.quote_plain, bench.quote_tracked;
	PERFORM loginas.set_log_retention('0');
	PERFORM loginas.purge_log(now());
END
$$;

-- fill a table with p_rows rows of the session's customer, outside any
-- session (before an update step, untimed)
CREATE PROCEDURE bench.fill(p_variant text, p_rows int)
	LANGUAGE plpgsql
	AS $$
DECLARE
	tbl text := CASE p_variant WHEN 'untracked' THEN 'quote_plain' ELSE 'quote_tracked' END;
	s bench.session_info;
BEGIN
	SELECT * INTO s FROM bench.session_info;
	EXECUTE format('INSERT INTO bench.%I (quote_id, customer_id, store_id, grand_total, items_count, updated_at)'
				   ' SELECT bench.quote_key(g), $1, $2, (g %% 1000) / 10.0, g %% 7, now() FROM generate_series(1, $3) g', tbl)
	  USING s.customer_id, s.store_id::int, p_rows;
END
$$;
