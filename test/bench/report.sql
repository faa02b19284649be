-- test/bench/report.sql — the markdown tables of `make bench`, from
-- bench.result (psql -At).  Ratios are taken within one round (a variant
-- against the untracked table of the same round, the session against the
-- reference of the same round, throughput against the same round's), then
-- the median over the rounds is reported with the smallest and largest.
-- The key-type variants (phases bulk_text and bulk_uuid, copied from their
-- databases) are taken against the untracked table of the same key type.
--
-- Bulk steps are judged on the backend's CPU time (bench.cpu_ns(): what the
-- step cost, whatever else ran on the machine) when it could be read, else on
-- the wall clock; the wall-clock ratio is shown next to it.  pgbench steps
-- are throughput (wall clock) only.
WITH
use_cpu AS (SELECT bool_and(cpu_ms IS NOT NULL) AS yes FROM bench.result WHERE phase LIKE 'bulk%'),
bulk AS (SELECT phase, round, measure, variant, rows, ms, cpu_ms,
				CASE WHEN (SELECT yes FROM use_cpu) THEN cpu_ms ELSE ms END AS cost
		   FROM bench.result WHERE phase LIKE 'bulk%'),
tps AS (SELECT round, variant, tps FROM bench.result WHERE phase = 'pgbench'),
-- kind: 'time' (phase bulk: integer keys), 'text' or 'uuid' (phase bulk_text,
-- bulk_uuid: that key type), 'tps' (pgbench)
spec (ord, label, kind, measure, variant, base, op, target) AS (VALUES
	(1, 'tracked, no session, bulk INSERT vs untracked', 'time', 'insert', 'tracked', 'untracked', '<=', 1.03),
	(2, 'tracked, no session, bulk UPDATE vs untracked', 'time', 'update', 'tracked', 'untracked', '<=', 1.15),
	(3, 'in a session, bulk INSERT including its log vs untracked', 'time', 'insert', 'session', 'untracked', '<=', 1.3),
	(11, 'in a session, bulk UPDATE including its log vs untracked', 'time', 'update', 'session', 'untracked', '<=', 1.5),
	(4, 'in a session, single-row loop INSERT including its log vs untracked', 'time', 'loop', 'session', 'untracked', '<=', 2.0),
	(5, 'in a session vs the PL/pgSQL reference: bulk INSERT', 'time', 'insert', 'session', 'reference', '<=', 0.55),
	(6, 'in a session vs the PL/pgSQL reference: bulk UPDATE', 'time', 'update', 'session', 'reference', '<=', 0.55),
	(7, 'in a session vs the PL/pgSQL reference: single-row loop INSERT', 'time', 'loop', 'session', 'reference', '<=', 0.55),
	(8, 'single-row transaction with `assume()` vs the same without (throughput)', 'tps', 'txn', 'assume', 'plain', '>=', 0.85),
	-- information, no target
	(9, 'tracked, no session, single-row loop INSERT vs untracked', 'time', 'loop', 'tracked', 'untracked', NULL, NULL),
	(10, 'tracked, no session, COPY vs untracked', 'time', 'copy', 'tracked', 'untracked', NULL, NULL),
	(12, 'in a session, COPY including its log vs untracked', 'time', 'copy', 'session', 'untracked', NULL, NULL),
	(13, 'in a session vs the PL/pgSQL reference: COPY', 'time', 'copy', 'session', 'reference', NULL, NULL),
	(14, 'PL/pgSQL reference, bulk INSERT vs untracked', 'time', 'insert', 'reference', 'untracked', NULL, NULL),
	(15, 'PL/pgSQL reference, bulk UPDATE vs untracked', 'time', 'update', 'reference', 'untracked', NULL, NULL),
	(16, 'PL/pgSQL reference, single-row loop INSERT vs untracked', 'time', 'loop', 'reference', 'untracked', NULL, NULL),
	(17, 'single-row transaction on the tracked table, no session, vs untracked (throughput)', 'tps', 'txn', 'plain', 'untracked', NULL, NULL),
	(18, 'the floor under line 8: a trivial function call sent with BEGIN vs without (throughput)', 'tps', 'txn', 'floor', 'plain', NULL, NULL),
	(19, 'single-row transaction with `assume()` as a round trip of its own vs without (throughput)', 'tps', 'txn', 'assume_rt', 'plain', NULL, NULL),
	(20, 'the floor under the previous line: one trivial extra round trip vs without (throughput)', 'tps', 'txn', 'roundtrip', 'plain', NULL, NULL),
	-- keys of other types: a table whose primary key and customer column are of
	-- that type, against the untracked table of the same key type (information)
	(21, 'text keys (`quo_…`, customers `cus_…`): tracked, no session, bulk INSERT vs untracked text-keyed', 'text', 'insert', 'tracked', 'untracked', NULL, NULL),
	(22, 'text keys: tracked, no session, bulk UPDATE vs untracked text-keyed', 'text', 'update', 'tracked', 'untracked', NULL, NULL),
	(23, 'text keys: in a session, bulk INSERT including its log vs untracked text-keyed', 'text', 'insert', 'session', 'untracked', NULL, NULL),
	(24, 'text keys: in a session, bulk UPDATE including its log vs untracked text-keyed', 'text', 'update', 'session', 'untracked', NULL, NULL),
	(25, 'uuid keys (random `quote_id`, customers uuid): tracked, no session, bulk INSERT vs untracked uuid-keyed', 'uuid', 'insert', 'tracked', 'untracked', NULL, NULL),
	(26, 'uuid keys: tracked, no session, bulk UPDATE vs untracked uuid-keyed', 'uuid', 'update', 'tracked', 'untracked', NULL, NULL),
	(27, 'uuid keys: in a session, bulk INSERT including its log vs untracked uuid-keyed', 'uuid', 'insert', 'session', 'untracked', NULL, NULL),
	(28, 'uuid keys: in a session, bulk UPDATE including its log vs untracked uuid-keyed', 'uuid', 'update', 'session', 'untracked', NULL, NULL),
	-- what assume() itself costs: the untracked table, no session write (information)
	(29, 'single-row transaction on the untracked table with `assume()` sent with BEGIN vs without (throughput): `assume()` alone', 'tps', 'txn', 'assume_untracked', 'untracked', NULL, NULL)
),
ratios AS (
	SELECT s.ord, x.cost / b.cost AS ratio, x.ms / b.ms AS wall
	  FROM spec s
	  JOIN bulk x ON s.kind <> 'tps' AND x.phase = CASE s.kind WHEN 'time' THEN 'bulk' ELSE 'bulk_' || s.kind END
					 AND x.measure = s.measure AND x.variant = s.variant
	  JOIN bulk b ON b.phase = x.phase AND b.round = x.round AND b.measure = s.measure AND b.variant = s.base
	UNION ALL
	SELECT s.ord, x.tps / b.tps, x.tps / b.tps
	  FROM spec s
	  JOIN tps x ON s.kind = 'tps' AND x.variant = s.variant
	  JOIN tps b ON b.round = x.round AND b.variant = s.base
),
agg AS (
	SELECT ord, percentile_cont(0.5) WITHIN GROUP (ORDER BY ratio) AS med, min(ratio) AS lo, max(ratio) AS hi,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY wall) AS wall
	  FROM ratios GROUP BY ord
),
main AS (
	SELECT s.ord,
		   format('| %s | %s | %s | %s | %s | %s |', s.label,
				  CASE WHEN s.op IS NULL THEN '(information)'
					   ELSE format('%s %s×', CASE s.op WHEN '<=' THEN '≤' ELSE '≥' END, s.target) END,
				  CASE WHEN a.med IS NULL THEN 'n/a' ELSE to_char(a.med, 'FM990.00') || '×' END,
				  CASE WHEN s.op IS NULL OR a.med IS NULL THEN '—'
					   WHEN (s.op = '<=' AND a.med <= s.target) OR (s.op = '>=' AND a.med >= s.target) THEN 'yes'
					   ELSE '**no**' END,
				  CASE WHEN a.med IS NULL THEN '' ELSE to_char(a.lo, 'FM990.00') || '–' || to_char(a.hi, 'FM990.00') END,
				  CASE WHEN a.wall IS NULL THEN '' ELSE to_char(a.wall, 'FM990.00') || '×' END) AS line
	  FROM spec s LEFT JOIN agg a USING (ord)
),
times AS (
	SELECT phase, measure, variant, max(rows) AS rows,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_ms) AS cpu_med,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med, min(ms) AS lo, max(ms) AS hi
	  FROM bulk GROUP BY phase, measure, variant
),
rates AS (
	SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY tps) AS med, min(tps) AS lo, max(tps) AS hi
	  FROM tps GROUP BY variant
),
detail AS (
	SELECT 100 + CASE phase WHEN 'bulk' THEN 0 WHEN 'bulk_text' THEN 40 ELSE 60 END
			   + CASE measure WHEN 'insert' THEN 0 WHEN 'update' THEN 10 WHEN 'loop' THEN 20 ELSE 30 END
			   + CASE variant WHEN 'untracked' THEN 0 WHEN 'tracked' THEN 1 WHEN 'session' THEN 2 ELSE 3 END AS ord,
		   format('| %s | %s | %s | %s ms | %s–%s ms |',
				  CASE measure WHEN 'insert' THEN format('bulk INSERT, %s rows', rows)
							   WHEN 'update' THEN format('bulk UPDATE, %s rows', rows)
							   WHEN 'loop' THEN format('loop of %s single-row INSERTs', rows)
							   ELSE format('COPY FROM a file, %s rows', rows) END
				  || CASE phase WHEN 'bulk_text' THEN ', text keys' WHEN 'bulk_uuid' THEN ', uuid keys' ELSE '' END,
				  CASE variant WHEN 'untracked' THEN 'untracked table' WHEN 'tracked' THEN 'tracked, no session'
							   WHEN 'session' THEN 'tracked, in a session' ELSE 'PL/pgSQL reference, in its session' END,
				  COALESCE(to_char(cpu_med, 'FM999990.0') || ' ms', 'n/a'),
				  to_char(med, 'FM999990.0'), to_char(lo, 'FM999990.0'), to_char(hi, 'FM999990.0')) AS line
	  FROM times
	UNION ALL
	SELECT 200 + CASE variant WHEN 'untracked' THEN 0 WHEN 'plain' THEN 1 WHEN 'floor' THEN 2
							  WHEN 'assume' THEN 3 WHEN 'roundtrip' THEN 4 WHEN 'assume_rt' THEN 5 ELSE 6 END,
		   format('| pgbench single-row INSERT transactions | %s | | %s tps | %s–%s tps |',
				  CASE variant WHEN 'untracked' THEN 'untracked table' WHEN 'plain' THEN 'tracked, without assume()'
							   WHEN 'floor' THEN 'tracked, a trivial function call sent with BEGIN'
							   WHEN 'roundtrip' THEN 'tracked, one trivial extra round trip'
							   WHEN 'assume' THEN 'tracked, with assume() sent with BEGIN'
							   WHEN 'assume_rt' THEN 'tracked, with assume() in its own round trip'
							   ELSE 'untracked table, with assume() sent with BEGIN' END,
				  to_char(med, 'FM9999990'), to_char(lo, 'FM9999990'), to_char(hi, 'FM9999990'))
	  FROM rates
)
SELECT line FROM (
	SELECT 0 AS ord, format('| measure | target | median ratio (%s) | met? | min–max over rounds | wall-clock median ratio |',
							CASE WHEN (SELECT yes FROM use_cpu) THEN 'backend CPU time' ELSE 'wall clock' END) AS line
	UNION ALL SELECT 0.5, '|---|---|---|---|---|---|'
	UNION ALL SELECT ord, line FROM main
	UNION ALL SELECT 98, ''
	UNION ALL SELECT 99, '| step | variant | median CPU time | median wall clock | wall-clock min–max |'
	UNION ALL SELECT 99.5, '|---|---|---|---|---|'
	UNION ALL SELECT ord, line FROM detail
) t ORDER BY ord;
