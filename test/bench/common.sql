-- test/bench/common.sql — what every database of `make bench` has (loaded by
-- test/bench/bench.sh before test/bench/schema.sql in the main database and
-- before test/bench/keys_schema.sql in each key-type database):
--
--   bench                schema of the bench's objects
--   bench.cpu_ns()       CPU time of this backend
--   bench.result         one row per timed step (bench.sh copies the
--                        key-type databases' rows into the main database's,
--                        where test/bench/report.sql reads them)
SET client_min_messages = warning;

CREATE SCHEMA bench;

-- time this backend has spent on a CPU, in ns (Linux: /proc/self/schedstat),
-- or NULL where it cannot be read.  The kernel updates the figure when the
-- process is switched out, so a short sleep comes first.
CREATE FUNCTION bench.cpu_ns() RETURNS bigint
	LANGUAGE plpgsql
	AS $$
BEGIN
	PERFORM pg_sleep(0.002);
	RETURN split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

CREATE TABLE bench.result (
	phase		text NOT NULL,		-- 'bulk' (integer keys), 'bulk_text', 'bulk_uuid' (the
									-- key-type databases) or 'pgbench'
	round		int NOT NULL,
	measure		text NOT NULL,		-- insert, update, loop, copy; or txn
	variant		text NOT NULL,		-- untracked, tracked, session, reference
	rows		int NOT NULL,
	ms			float8,				-- bulk: wall-clock milliseconds (including the commit)
	cpu_ms		float8,				-- bulk: milliseconds the backend spent on a CPU meanwhile
	tps			float8,				-- pgbench: transactions per second
	PRIMARY KEY (phase, round, measure, variant)
);

-- bench.check_session_log(session, measure, after, rows, table, customer_id,
-- customer_key): the log rows a step in a session wrote into loginas'
-- action_log (log_id > after), or an exception.  loginas writes one row per
-- session, table and operation and transaction, split into parts ("part" i
-- of "parts" n) of at most 10,000 keys; so the step's rows must be one row or
-- the parts 1..n of one write, together count `rows` rows and name exactly
-- the table's primary keys (each once), name the session's customer as
-- expected (customer_id and customer_key of the log row, NULL where the log
-- leaves them NULL; a log before 1.3 has no customer_key) and, for an
-- update, the changed columns.
CREATE FUNCTION bench.check_session_log(p_session bigint, p_measure text, p_after bigint, p_rows bigint,
										p_table text, p_customer_id bigint, p_customer_key text)
	RETURNS void
	LANGUAGE plpgsql
	AS $$
DECLARE
	n_log bigint;
	n_rows bigint;
	n_keys bigint;
	n_bad bigint;
	n_match bigint;
	first_row text;
BEGIN
	SELECT count(*), sum((l.details->>'rows')::bigint), sum(jsonb_array_length(l.details->'keys')),
		   count(*) FILTER (WHERE (l.details->>'rows')::bigint <> jsonb_array_length(l.details->'keys')
							 OR l.details->>'table' <> p_table
							 OR l.customer_id IS DISTINCT FROM p_customer_id
							 OR to_jsonb(l)->>'customer_key' IS DISTINCT FROM p_customer_key
							 OR (p_measure = 'update' AND NOT l.details->'changed_columns'
								 @> '["grand_total", "items_count", "updated_at"]')),
		   left(min(l.details::text), 200)
	  INTO n_log, n_rows, n_keys, n_bad, first_row
	  FROM loginas.action_log l
	 WHERE l.log_id > p_after AND l.session_id = p_session
	   AND l.action = CASE p_measure WHEN 'update' THEN 'write_update' ELSE 'write_insert' END;
	IF n_log = 0 OR n_rows <> p_rows OR n_keys <> p_rows OR n_bad <> 0 THEN
		RAISE EXCEPTION 'bench check: % in a session: wrong or missing action_log rows (% rows, % keys in % rows, % not as expected): %',
			p_measure, n_rows, n_keys, n_log, n_bad, first_row;
	END IF;
	-- one row, or the parts 1..n of one write
	IF n_log = 1 THEN
		SELECT count(*) INTO n_bad FROM loginas.action_log l
		 WHERE l.log_id > p_after AND l.session_id = p_session AND l.details ? 'part'
		   AND l.action = CASE p_measure WHEN 'update' THEN 'write_update' ELSE 'write_insert' END;
	ELSE
		SELECT n_log - count(DISTINCT (l.details->>'part')::int)
			   + count(*) FILTER (WHERE (l.details->>'parts')::bigint IS DISTINCT FROM n_log
									 OR (l.details->>'part')::int NOT BETWEEN 1 AND n_log)
		  INTO n_bad FROM loginas.action_log l
		 WHERE l.log_id > p_after AND l.session_id = p_session
		   AND l.action = CASE p_measure WHEN 'update' THEN 'write_update' ELSE 'write_insert' END;
	END IF;
	IF n_bad <> 0 THEN
		RAISE EXCEPTION 'bench check: % in a session: % log rows are not the parts 1..% of one write', p_measure, n_log, n_log;
	END IF;
	-- exactly the table's keys, each once
	EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT k.e FROM loginas.action_log l, jsonb_array_elements(l.details->''keys'') k (e)'
				   '  WHERE l.log_id > $1 AND l.session_id = $2 AND l.action = $3) k'
				   ' JOIN %s t ON k.e = jsonb_build_array(t.quote_id::text)', p_table)
	   INTO n_match USING p_after, p_session, CASE p_measure WHEN 'update' THEN 'write_update' ELSE 'write_insert' END;
	IF n_match <> p_rows THEN
		RAISE EXCEPTION 'bench check: % in a session: the log names % of the table''s % keys', p_measure, n_match, p_rows;
	END IF;
END
$$;
