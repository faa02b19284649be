-- test/bench/pgbench_assume_untracked.sql: pgbench_untracked.sql plus assume() sent with BEGIN: what assume()
-- itself costs, without the session's tracked write (information; against the untracked table)
BEGIN \; SELECT loginas.assume(':key');
INSERT INTO bench.quote_plain (quote_id, customer_id, store_id, grand_total, items_count, updated_at) VALUES (nextval('bench.pgbench_id'), 1, 1, 9.99, 1, now());
COMMIT;
