-- test/bench/pgbench_plain.sql: a single-row transaction on the tracked table, without assume()
BEGIN;
INSERT INTO bench.quote_tracked (quote_id, customer_id, store_id, grand_total, items_count, updated_at) VALUES (nextval('bench.pgbench_id'), 1, 1, 9.99, 1, now());
COMMIT;
