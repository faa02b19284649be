-- test/bench/log_pgbench_append.sql: the same row through loginas._append() directly, with the username and
-- e-mail given, as the write log does at pre-commit (src/writelog.c): the hash chain without the look-ups.
-- pgbench -D customers=... -D admins=...
\set admin random(1, :admins)
\set customer random(1, :customers)
\set session random(1, 10000000)
SELECT loginas._append(clock_timestamp(), 'note', 'success', :admin, 'admin' || :admin, :customer, 'customer' || :customer || '@example.com', :session, 1, 'order 000000123', 'call 4711', '203.0.113.5', session_user, '{"note": "Changed the delivery address", "order": "000000123"}');
