-- test/bench/log_report.sql — the markdown tables of the action-log
-- benchmark (test/bench/log_bench.sh), from the logbench.* result tables of
-- the large database (psql -At, variable :clients).
--
-- Reports: the server's Execution Time (EXPLAIN (ANALYZE, TIMING OFF)) of the
-- repeated call is judged: its median over the rounds against 2 ms at the
-- large size, and the ratio large / small taken within each round, its median
-- against 1.5x.  Appends: throughput ratios within a round (variant / plain of
-- the same round), median over the rounds; the target is judged on
-- loginas._append (the same row as the plain INSERT, plus the hash chain),
-- loginas._log (the same after two reads of the shop's views) is reported.  Each with its smallest and
-- largest value.
WITH
sz AS (
	SELECT size, rows, log_rows,
		   CASE WHEN rows >= 1000000 AND rows % 1000000 = 0 THEN (rows / 1000000) || 'M'
				WHEN rows >= 1000 AND rows % 1000 = 0 THEN (rows / 1000) || 'k'
				ELSE rows::text END AS label
	  FROM logbench.gen_stat
),
big AS (SELECT label FROM sz WHERE size = 'big'),
small AS (SELECT label FROM sz WHERE size = 'small'),
qlabel (query, ord, label) AS (VALUES
	('customer_history', 1, '`customer_history(c)`, a random customer with a typical history'),
	('page', 2, 'Admin Actions Report, first page: `action_group => ''Login As Customer'', since => now() - 7 days`'),
	('page_admin', 3, 'the same page with `admin_id =>` a random admin')
),
rep AS (SELECT size, round, query, ms, nrows FROM logbench.q_result WHERE pass = 'repeat'),
first AS (SELECT size, round, query, ms FROM logbench.q_result WHERE pass = 'first'),
raw AS (SELECT size, round, query, ms FROM logbench.q_result WHERE pass = 'raw'),
ratio AS (
	SELECT b.query, b.round, b.ms / NULLIF(s.ms, 0) AS r
	  FROM rep b JOIN rep s ON s.query = b.query AND s.round = b.round AND s.size = 'small'
	 WHERE b.size = 'big'
),
tps AS (SELECT round, variant, tps FROM logbench.a_result),
tratio AS (
	SELECT x.variant, x.round, x.tps / NULLIF(p.tps, 0) AS r
	  FROM tps x JOIN tps p ON p.round = x.round AND p.variant = 'plain'
	 WHERE x.variant <> 'plain'
),
-- the first table: every target
spec (ord, label, kind, key, op, target) AS (
	SELECT q.ord * 2 - 1, q.label || ', ' || (SELECT label FROM big) || ' rows', 'ms', q.query, '<=', 2.0 FROM qlabel q
	UNION ALL
	SELECT q.ord * 2, q.label || ': ' || (SELECT label FROM big) || ' / ' || (SELECT label FROM small) || ' rows',
		   'ratio', q.query, '<=', 1.5 FROM qlabel q
	UNION ALL
	SELECT 7, format('log appends from %s clients, `loginas._append()`: the same row as the plain INSERT, linked into its backend''s hash chain (the log''s write path) vs plain INSERT (throughput)', :'clients'),
		   'tps', 'append', '>=', 0.8
	UNION ALL
	SELECT 8, format('log appends from %s clients, `loginas._log()`: the same, after reading the admin''s username and the customer''s e-mail from the shop''s bound views (two more reads; the plain INSERT is given them) vs plain INSERT (throughput)', :'clients'),
		   'tps', 'log', NULL, NULL
),
vals AS (
	SELECT s.ord, v.med, v.lo, v.hi
	  FROM spec s
	 CROSS JOIN LATERAL (
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS med, min(x) AS lo, max(x) AS hi
		  FROM (SELECT ms AS x FROM rep WHERE s.kind = 'ms' AND rep.size = 'big' AND rep.query = s.key
				UNION ALL SELECT r FROM ratio WHERE s.kind = 'ratio' AND ratio.query = s.key
				UNION ALL SELECT r FROM tratio WHERE s.kind = 'tps' AND tratio.variant = s.key) xs) v
),
t1 AS (
	SELECT 100 + s.ord AS ord,
		   format('| %s | %s | %s | %s | %s |', s.label,
				  CASE WHEN s.op IS NULL THEN '(information)'
					   ELSE format('%s %s%s', CASE s.op WHEN '<=' THEN '≤' ELSE '≥' END, s.target,
								   CASE s.kind WHEN 'ms' THEN ' ms' ELSE '×' END) END,
				  CASE WHEN v.med IS NULL THEN 'n/a'
					   WHEN s.kind = 'ms' THEN to_char(v.med, 'FM9990.00') || ' ms'
					   ELSE to_char(v.med, 'FM9990.00') || '×' END,
				  CASE WHEN s.op IS NULL OR v.med IS NULL THEN '—'
					   WHEN (s.op = '<=' AND v.med <= s.target) OR (s.op = '>=' AND v.med >= s.target) THEN 'yes'
					   ELSE '**no**' END,
				  CASE WHEN v.med IS NULL THEN ''
					   ELSE to_char(v.lo, 'FM9990.00') || '–' || to_char(v.hi, 'FM9990.00') END) AS line
	  FROM spec s LEFT JOIN vals v USING (ord)
),
-- the second table: each report at each size
t2 AS (
	SELECT 200 + q.ord * 10 + CASE sz.size WHEN 'big' THEN 0 ELSE 1 END AS ord,
		   format('| %s | %s | %s | %s ms | %s ms | %s ms | %s ms | %s | %s |',
				  q.label, sz.label,
				  (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY nrows) FROM rep WHERE rep.size = sz.size AND rep.query = q.query),
				  (SELECT to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM9990.00') FROM rep WHERE rep.size = sz.size AND rep.query = q.query),
				  (SELECT to_char(min(ms), 'FM9990.00') || '–' || to_char(max(ms), 'FM9990.00') FROM rep WHERE rep.size = sz.size AND rep.query = q.query),
				  (SELECT to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM9990.00') FROM first f WHERE f.size = sz.size AND f.query = q.query),
				  (SELECT to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM9990.000') FROM raw x WHERE x.size = sz.size AND x.query = q.query),
				  COALESCE((SELECT '`' || replace(pc.indexes, ' ', '`, `') || '`' FROM logbench.plan_check pc WHERE pc.size = sz.size AND pc.query = q.query), '?'),
				  COALESCE((SELECT CASE WHEN pc.seq_scan THEN '**yes**' ELSE 'no' END FROM logbench.plan_check pc WHERE pc.size = sz.size AND pc.query = q.query), '?')) AS line
	  FROM qlabel q CROSS JOIN sz
),
-- the third: throughput
t3 AS (
	SELECT 300 + CASE variant WHEN 'plain' THEN 1 WHEN 'log' THEN 2 ELSE 3 END AS ord,
		   format('| %s | %s tps | %s–%s tps |',
				  CASE variant WHEN 'plain' THEN 'plain INSERT into `logbench.plain_log`'
							   WHEN 'log' THEN '`SELECT loginas._log(''note'', ...)`'
							   ELSE '`SELECT loginas._append(...)`' END,
				  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY tps)), round(min(tps)), round(max(tps))) AS line
	  FROM tps GROUP BY variant
),
-- the fourth: where a _log() append's time goes (track_functions = all)
t4 AS (
	SELECT 400 + row_number() OVER (ORDER BY f.total_ms DESC) AS ord,
		   format('| `%s` | %s | %s µs | %s µs |', f.funcname,
				  to_char(f.calls::numeric / NULLIF(f.appends, 0), 'FM990.0'),
				  to_char(1000 * f.total_ms / NULLIF(f.calls, 0), 'FM999990.0'),
				  to_char(1000 * f.self_ms / NULLIF(f.calls, 0), 'FM999990.0')) AS line
	  FROM logbench.fn_stat f
),
-- the fifth: the databases
t5 AS (
	SELECT 500 + CASE g.size WHEN 'big' THEN 1 ELSE 2 END AS ord,
		   format('| %s | %s (%s generated) | %s | %s | %s | %s s (%s backends, %s rows/s) | %s s | %s, %s s | %s / %s |',
				  sz.label, g.log_rows, g.rows, g.chains, g.customers, g.admins,
				  round(g.gen_s::numeric), g.parts, round(g.rows / NULLIF(g.gen_s, 0)),
				  round(g.vacuum_s::numeric), g.verify, round(g.verify_s::numeric, 1),
				  pg_size_pretty(g.heap_bytes), pg_size_pretty(g.total_bytes)) AS line
	  FROM logbench.gen_stat g JOIN sz USING (size)
),
fixed (ord, line) AS (VALUES
	(100, '| measure | target | median | met? | min–max over rounds |'),
	(100.5, '|---|---|---|---|---|'),
	(199, ''),
	(200, '| report call | log rows | rows returned (median) | median (repeat) | min–max | first call (median) | the same rows without the per-row text (median) | indexes scanned (inner query) | Seq Scan on the log? |'),
	(200.5, '|---|---|---|---|---|---|---|---|---|'),
	(299, ''),
	(300, '| append, ' || :'clients' || ' clients | median | min–max |'),
	(300.5, '|---|---|---|'),
	(399, ''),
	(399.1, 'Where a `loginas._log()` append spends its time (one more run with `track_functions = all`; total includes the functions it calls):'),
	(399.2, ''),
	(400, '| function | calls per append | total per call | self per call |'),
	(400.5, '|---|---|---|---|'),
	(499, ''),
	(500, '| log | rows | chains | customers | admins | generated in | VACUUM (ANALYZE) | `verify_log()` | table / with indexes |'),
	(500.5, '|---|---|---|---|---|---|---|---|---|')
)
SELECT line FROM (
	SELECT ord::numeric, line FROM fixed
	UNION ALL SELECT ord, line FROM t1
	UNION ALL SELECT ord, line FROM t2
	UNION ALL SELECT ord, line FROM t3
	UNION ALL SELECT ord, line FROM t4
	UNION ALL SELECT ord, line FROM t5
) all_lines
ORDER BY ord;
