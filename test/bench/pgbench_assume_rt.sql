-- test/bench/pgbench_assume_rt.sql: as pgbench_assume.sql, but assume() is a round trip of its own (information)
BEGIN;
SELECT loginas.assume(':key');
INSERT INTO bench.quote_tracked (quote_id, customer_id, store_id, grand_total, items_count, updated_at) VALUES (nextval('bench.pgbench_id'), 1, 1, 9.99, 1, now());
COMMIT;
