-- test/bench/pgbench_assume.sql: the same transaction acting in the session; assume() travels with BEGIN in one
-- round trip (\;), so the transaction makes as many round trips as pgbench_plain.sql (key: pgbench -D key=...)
BEGIN \; SELECT loginas.assume(':key');
INSERT INTO bench.quote_tracked (quote_id, customer_id, store_id, grand_total, items_count, updated_at) VALUES (nextval('bench.pgbench_id'), 1, 1, 9.99, 1, now());
COMMIT;
