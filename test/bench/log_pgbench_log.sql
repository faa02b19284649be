-- test/bench/log_pgbench_log.sql: a log row appended the way loginas appends its notes and lifecycle rows:
-- loginas._log() looks up the admin's username and the customer's e-mail in the bound relations, then
-- loginas._append() links the row into this backend's hash chain and inserts it (as a superuser).
-- pgbench -D customers=... -D admins=...
\set admin random(1, :admins)
\set customer random(1, :customers)
\set session random(1, 10000000)
SELECT loginas._log('note', 'success', :admin, :customer, :session, 1, 'order 000000123', 'call 4711', '{"note": "Changed the delivery address", "order": "000000123"}', '203.0.113.5');
