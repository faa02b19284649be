-- test/bench/pgbench_untracked.sql: a single-row transaction on the untracked table (information only)
BEGIN;
INSERT INTO bench.quote_plain (quote_id, customer_id, store_id, grand_total, items_count, updated_at) VALUES (nextval('bench.pgbench_id'), 1, 1, 9.99, 1, now());
COMMIT;
