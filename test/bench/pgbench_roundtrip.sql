-- test/bench/pgbench_roundtrip.sql: pgbench_plain.sql plus one trivial round trip: the floor under
-- pgbench_assume_rt.sql, whatever assume() costs (information)
BEGIN;
SELECT loginas.in_session();
INSERT INTO bench.quote_tracked (quote_id, customer_id, store_id, grand_total, items_count, updated_at) VALUES (nextval('bench.pgbench_id'), 1, 1, 9.99, 1, now());
COMMIT;
