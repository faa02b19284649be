-- test/upgrade/text_corpus.sql — the report text of every kind of log row,
-- rendered by whatever loginas._action_label, _keys_text, _action_details
-- and _row_summary are installed (test/t/030_upgrade.pl: under 1.0, whose
-- are SQL and PL/pgSQL, and again after ALTER EXTENSION UPDATE, whose are C;
-- the two renderings must be the same, errors included).
--
-- upgrade_check.corpus: actions x details x the other arguments, the corner
-- cases included (NULLs, non-object details, keys that need quoting, empty
-- composite keys, more than 10 keys, "rows" that is not a number, ...), plus
-- every row of loginas.action_log.  upgrade_check.render(label) renders each
-- corpus row with all four functions into upgrade_check.rendered.
CREATE SCHEMA IF NOT EXISTS upgrade_check;

CREATE TABLE upgrade_check.corpus (
	id			serial PRIMARY KEY,
	action		text,
	details		jsonb,
	with_table	boolean,
	max_keys	int,
	customer_id	bigint,
	email		text,
	store_id	bigint,
	session_id	bigint,
	source		text,
	reason		text
);

CREATE TABLE upgrade_check.rendered (
	label		text NOT NULL,
	id			int NOT NULL,
	fn			text NOT NULL,
	result		text,				-- 'ok: <text>', 'null' or 'error <sqlstate>: <message>'
	PRIMARY KEY (label, id, fn)
);

-- one call, its text or its error
CREATE FUNCTION upgrade_check.try(q text, VARIADIC args text[] DEFAULT '{}') RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE q INTO r USING args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8];
	RETURN CASE WHEN r IS NULL THEN 'null' ELSE 'ok: ' || r END;
EXCEPTION WHEN OTHERS THEN
	RETURN 'error ' || SQLSTATE || ': ' || SQLERRM;
END
$$;

CREATE FUNCTION upgrade_check.render(p_label text) RETURNS bigint
	LANGUAGE plpgsql AS $$
DECLARE
	c upgrade_check.corpus;
	n bigint := 0;
BEGIN
	FOR c IN SELECT * FROM upgrade_check.corpus ORDER BY id LOOP
		INSERT INTO upgrade_check.rendered VALUES
			(p_label, c.id, 'label', upgrade_check.try(
				'SELECT loginas._action_label($1, $2::jsonb)', c.action, c.details::text)),
			(p_label, c.id, 'keys', upgrade_check.try(
				'SELECT loginas._keys_text(($1::jsonb) -> ''keys'', $2::int)', c.details::text, c.max_keys::text)),
			(p_label, c.id, 'keys_all', upgrade_check.try(
				'SELECT loginas._keys_text(($1::jsonb) -> ''keys'')', c.details::text)),
			(p_label, c.id, 'keys_doc', upgrade_check.try(
				'SELECT loginas._keys_text($1::jsonb, $2::int)', c.details::text, c.max_keys::text)),
			(p_label, c.id, 'details', upgrade_check.try(
				'SELECT loginas._action_details($1, $2::jsonb, $3::boolean)', c.action, c.details::text,
				c.with_table::text)),
			(p_label, c.id, 'details_default', upgrade_check.try(
				'SELECT loginas._action_details($1, $2::jsonb)', c.action, c.details::text)),
			(p_label, c.id, 'summary', upgrade_check.try(
				'SELECT loginas._row_summary($1, $2::bigint, $3, $4::bigint, $5::bigint, $6, $7, $8::jsonb)',
				c.action, c.customer_id::text, c.email, c.store_id::text, c.session_id::text, c.source,
				c.reason, c.details::text));
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

-- the corner cases, every action against every details document
WITH actions(action) AS (VALUES
	('ticket_issued'), ('ticket_redeemed'), ('session_ended'), ('write_insert'), ('write_update'),
	('write_delete'), ('note'), ('consent_granted'), ('consent_revoked'), ('permission_granted'),
	('permission_revoked'), ('setting_changed'), ('relation_bound'), ('relation_unbound'),
	('table_tracked'), ('table_untracked'), ('column_protected'), ('column_unprotected'),
	('log_viewed'), ('begin_refused'), ('redeem_refused'), ('assume_refused'), ('write_refused'),
	('_refused'), ('refused'), ('log_purged'), ('some_new_action'), ('éclair_served'), ('ßig_deal'),
	(''), (NULL)),
details(details) AS (VALUES
	(NULL::jsonb), ('{}'), ('null'), ('[]'), ('"page"'), ('5'), ('["page", "filters"]'),
	('{"table": "shop.sales_order", "operation": "update", "rows": 3, "keys": [[100], [101], [102]], "changed_columns": ["status", "grand_total"]}'),
	('{"table": "shop.cart_item", "rows": 1, "keys": [[7, "sku-1"]], "changed_columns": []}'),
	('{"table": "shop.t", "rows": "2", "keys": [1, 2]}'),
	('{"table": "shop.t", "rows": " 12 ", "keys": [[1],[2],[3],[4],[5],[6],[7],[8],[9],[10],[11],[12]]}'),
	('{"rows": 1.5}'), ('{"rows": "x"}'), ('{"rows": true}'), ('{"rows": null, "keys": null}'),
	('{"keys": [["a b", "a,b", "x", "", null, "q\"uote", "back\\slash", "tab\tx", "new\nline", "(p)", "ünï"]]}'),
	('{"keys": [[]]}'), ('{"keys": [[], [1]]}'), ('{"keys": [{"a": 1}, [{"b": [1, 2]}], true, 1.50, -0]}'),
	('{"keys": "not an array", "changed_columns": "nor this"}'),
	('{"keys": {"k": 1}, "table": null}'),
	('{"changed_columns": ["b", "a", "B", "_x", "ä", "a", "Z", "10", "9"]}'),
	('{"changed_columns": [null, 1, {"a": 1}, [2], false]}'),
	('{"redeemed": false, "end_reason": "logout", "ended_by_admin": 2}'),
	('{"redeemed": "false", "end_reason": "expired"}'), ('{"redeemed": "f"}'), ('{"redeemed": "no"}'),
	('{"redeemed": 0}'), ('{"redeemed": true}'), ('{"redeemed": "maybe"}'), ('{"redeemed": null, "end_reason": null}'),
	('{"end_reason": {"why": "nested"}}'),
	('{"read_only": true}'), ('{"read_only": "yes"}'), ('{"read_only": false}'), ('{"read_only": "perhaps"}'),
	('{"note": "Called about order 100", "topic": "refund", "amount": 12.50, "urgent": true, "none": null, "list": [1, "a"]}'),
	('{"note": null}'), ('{"note": {"n": 1}}'),
	('{"by": "customer", "valid_until": "2026-12-31T00:00:00+00:00"}'), ('{"by": "admin 1"}'),
	('{"role": "Support", "resource": "login_as_customer"}'), ('{"role": null}'),
	('{"setting": "enabled", "old": "false", "new": "true"}'), ('{"setting": "x", "old": null, "new": 5}'),
	('{"kind": "customers", "relation": "shop.loginas_customers"}'),
	('{"table": "shop.sales_order", "customer_column": "customer_id", "parent": null}'),
	('{"table": "shop.sales_order_item", "parent": "shop.sales_order"}'),
	('{"table": "shop.customer", "column": "Weird Col"}'), ('{"table": "shop.customer", "column": "select"}'),
	('{"table": "shop.customer", "column": "email"}'), ('{"column": null}'),
	('{"report": "actions_report", "filters": {"since": "2026-11-01", "admin_id": 1, "result": null, "list": [1]}, "page": 2, "page_size": 50, "rows": 50}'),
	('{"report": "customer_history", "filters": {"customer_id": 1}, "rows": 1}'),
	('{"report": "admin_activity", "filters": {}, "rows": "1"}'),
	('{"report": "other_report", "rows": 0}'), ('{"report": null, "page": null}'),
	('{"filters": null}'), ('{"filters": []}'), ('{"filters": "s"}'), ('{"filters": {"b": 2, "a": 1, "B": 3, "_": 4}}'),
	('{"sqlstate": "42501", "message": "admin 2 may not log in as customers", "detail": "The role has no resource."}'),
	('{"sqlstate": "22023", "message": null, "detail": "x"}'),
	('{"zeta": 1, "alpha": "two", "Beta": [3], "gamma": {"d": null}, "note": "kept unless a note"}')
)
INSERT INTO upgrade_check.corpus (action, details, with_table, max_keys, customer_id, email, store_id, session_id, source, reason)
SELECT a.action, d.details,
	   (ARRAY[true, false, NULL])[1 + (row_number() OVER () % 3)::int],
	   (ARRAY[NULL, 10, 0, -1, 1, 2, 12, 11])[1 + (row_number() OVER () % 8)::int],
	   CASE WHEN row_number() OVER () % 4 = 0 THEN NULL ELSE 5 END,
	   CASE WHEN row_number() OVER () % 3 = 0 THEN NULL ELSE 'veronica@example.com' END,
	   CASE WHEN row_number() OVER () % 5 = 0 THEN NULL ELSE 2 END,
	   CASE WHEN row_number() OVER () % 6 = 0 THEN NULL ELSE 42 END,
	   CASE WHEN row_number() OVER () % 7 = 0 THEN NULL ELSE 'order 000000100' END,
	   CASE WHEN row_number() OVER () % 2 = 0 THEN NULL ELSE 'call #5; "quoted"' END
  FROM actions a CROSS JOIN details d;

-- and every row the log holds
INSERT INTO upgrade_check.corpus (action, details, with_table, max_keys, customer_id, email, store_id, session_id, source, reason)
SELECT action, details, true, 10, customer_id, customer_email, store_id, session_id, source, reason
  FROM loginas.action_log ORDER BY log_id;
