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
