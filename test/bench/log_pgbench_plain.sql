-- test/bench/log_pgbench_plain.sql: the peer of the log appends: the same row (a note of an admin in a customer's
-- session) inserted into logbench.plain_log, a plain table of loginas.action_log's shape (same columns, defaults,
-- CHECK and indexes, no chain constraint); the chain columns get 32-byte constants so that the rows are as wide.
-- pgbench -D customers=... -D admins=...
\set admin random(1, :admins)
\set customer random(1, :customers)
\set session random(1, 10000000)
INSERT INTO logbench.plain_log (logged_at, action, result, admin_id, admin_username, customer_id, customer_email, session_id, store_id, source, reason, client_addr, db_role, details, chain_id, chain_seq, prev_hash, row_hash) VALUES (clock_timestamp(), 'note', 'success', :admin, 'admin' || :admin, :customer, 'customer' || :customer || '@example.com', :session, 1, 'order 000000123', 'call 4711', '203.0.113.5', session_user, '{"note": "Changed the delivery address", "order": "000000123"}', 0, 0, '\x0000000000000000000000000000000000000000000000000000000000000000', '\x0000000000000000000000000000000000000000000000000000000000000000');
