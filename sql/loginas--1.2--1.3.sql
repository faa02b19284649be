-- loginas 1.2 -> 1.3
--
-- ALTER EXTENSION loginas UPDATE TO '1.3' runs this on a 1.2 install.  A
-- fresh CREATE EXTENSION loginas runs the complete script of 1.3, built by
-- the Makefile from src/sql/; test/t/030_upgrade.pl checks that both give
-- the same catalog.
--
-- What 1.3 changes: the data model of real shops.
--   * containment is judged on the final state of each row the session
--     touched, at commit (after every BEFORE trigger and generated column),
--     so an ORM may insert a row and link it later, or unlink it and then
--     delete it, in one transaction;
--   * keys are printed unambiguously, and told apart by their stored values;
--   * a table reaches its customer through any foreign key path
--     (loginas.track_through: its own foreign keys to tracked tables, or
--     theirs to it; ways that lead to a customer must agree);
--   * bindings with several rows per admin (a row per role) and per
--     customer (a row per website or store view); guests refused;
--   * stamps kept outside the shop's table (track(..., stamps => 'table'),
--     loginas.row_stamp); dropped stamp columns refused with their own
--     message and re-added by track();
--   * expire() goes on past a session whose conditions cannot be read.

\echo Use "ALTER EXTENSION loginas UPDATE TO '1.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Containment judged on the final state (src/containment.c): commit judges
-- every row a session touched; loginas.check_writes() judges them now.
-- ---------------------------------------------------------------------------
CREATE FUNCTION loginas.check_writes() RETURNS void
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_check_writes';

COMMENT ON FUNCTION loginas.check_writes()
	IS 'judge now, as commit will, that every row this transaction''s Login as Customer session wrote belongs to its customer';

REVOKE ALL ON FUNCTION loginas.check_writes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loginas.check_writes() TO loginas_storefront, loginas_admin;

-- ---------------------------------------------------------------------------
-- Ownership through any key path (src/containment.c): loginas.track_through()
-- and the routes loginas._track_info() gives the trigger.
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.tracked DROP CONSTRAINT tracked_check;
ALTER TABLE loginas.tracked ADD CONSTRAINT tracked_check CHECK (customer_column IS NULL OR parent IS NULL);

-- the ways a table tracked with loginas.track_through() reaches its customer
-- (all of them are followed; they must agree): through a foreign key of its own to a tracked table
-- (columns: its foreign key; via_columns: the key it references), or through
-- a tracked table whose foreign key references it (referrer: columns, its key
-- referenced; via_columns, the referrer's foreign key)
CREATE TABLE loginas.owner_path (
	relation	regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	position	int NOT NULL,
	via			regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	referrer	boolean NOT NULL,
	columns		name[] NOT NULL,
	via_columns	name[] NOT NULL,
	PRIMARY KEY (relation, position)
);

SELECT pg_catalog.pg_extension_config_dump('loginas.owner_path', '');


-- the ways a tracked table's rows reach their customer through other tracked
-- tables, in the order they are tried: a child's foreign key to its parent
-- (loginas.track(relation, parent)), or the paths of track_through()
CREATE FUNCTION loginas._owner_paths(p_relation regclass)
	RETURNS TABLE (via regclass, referrer boolean, columns name[], via_columns name[])
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT x.via, x.referrer, x.columns, x.via_columns
	  FROM (SELECT 0 AS ord, t.parent AS via, false AS referrer, t.fk_columns AS columns, t.parent_columns AS via_columns
			  FROM loginas.tracked t
			 WHERE t.relation OPERATOR(pg_catalog.=) p_relation AND t.parent IS NOT NULL
			UNION ALL
			SELECT p.position, p.via, p.referrer, p.columns, p.via_columns
			  FROM loginas.owner_path p JOIN loginas.tracked t USING (relation)
			 WHERE p.relation OPERATOR(pg_catalog.=) p_relation
			   AND t.parent IS NULL AND t.customer_column IS NULL) x
	 ORDER BY x.ord
$$;

-- Every route from a row of p_relation to its customer: the row's columns
-- that start it (params), then one lookup per tracked table on the way, each
-- read as that table's owner (relations) and share-locked so that the row
-- cannot be moved to another customer under the write.  A lookup through a
-- parent selects the parent row its foreign key references; one through a
-- referrer selects the rows whose foreign key references this row (LIMIT 2:
-- a row several rows refer to is no one's by that route).  Each lookup
-- selects what the next one needs, the last the customer id.  Everything
-- compared has a built-in type (no table owner's code runs with loginas'
-- rights).  A problem stops it, with its message, detail, hint and SQLSTATE.
CREATE FUNCTION loginas._owner_routes(p_relation regclass, p_depth int)
	RETURNS TABLE (params name[], lookups text[], relations oid[], referrers boolean[],
				   problem text, problem_detail text, problem_hint text, problem_code text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p record;
	v loginas.tracked;
	r record;
	cond text;
	untrusted text;
	tail text;
	j int;
BEGIN
	IF p_depth OPERATOR(pg_catalog.>) 16 THEN
		problem := pg_catalog.format('the way from %s to its customer is too long or circular', p_relation);
		problem_detail := 'loginas follows at most 16 tracked tables from a row to its customer.';
		problem_hint := 'Track the tables on the way with a shorter path.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	FOR p IN SELECT * FROM loginas._owner_paths(p_relation) LOOP
		-- with a problem too: the tables whose change may solve it
		relations := ARRAY[p.via::pg_catalog.oid];
		SELECT tr.* INTO v FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) p.via;
		IF v.relation IS NULL THEN
			problem := CASE WHEN p_depth OPERATOR(pg_catalog.=) 0 AND NOT p.referrer
							THEN pg_catalog.format('the parent of %s is no longer tracked', p_relation)
							ELSE pg_catalog.format('a table on the parent chain of %s is no longer tracked', p_relation) END;
			problem_detail := 'A child table reaches its customer through its tracked parent.';
			problem_hint := 'Track the parent again, or track the table with its own customer column.';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		IF EXISTS (SELECT FROM pg_catalog.unnest(p.columns) c
					WHERE loginas._attnum(p_relation, c) OPERATOR(pg_catalog.=) 0)
		   OR EXISTS (SELECT FROM pg_catalog.unnest(p.via_columns) c
					   WHERE loginas._attnum(p.via, c) OPERATOR(pg_catalog.=) 0) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', p_relation);
			problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
			problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', p_relation);
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		-- every relation a lookup reads is still a table (a table owner cannot
		-- turn a tracked table into a view, but this does not rely on it)
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c
						WHERE c.oid OPERATOR(pg_catalog.=) p.via AND c.relkind IN ('r', 'p')) THEN
			problem := pg_catalog.format('the parent chain of %s holds a relation that is not a table', p_relation);
			problem_detail := 'loginas reads the parents of a child row only from tables.';
			problem_hint := 'Track the parents again with loginas.track().';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		untrusted := COALESCE(loginas._untrusted_column(p_relation, p.columns),
							  loginas._untrusted_column(p.via, p.via_columns));
		IF untrusted IS NOT NULL THEN
			problem := untrusted;
			problem_detail := 'loginas compares the columns that tie a child row to its customer, so they must have'
							  ' built-in types: the casts, operators and checks of a type of the shop''s own are'
							  ' code loginas does not run.';
			problem_hint := 'Give the column a built-in type (for a domain, its base type).';
			problem_code := '42804';
			RETURN NEXT;
			RETURN;
		END IF;
		cond := '';
		FOR j IN 1 .. pg_catalog.array_length(p.via_columns, 1) LOOP
			cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
					OPERATOR(pg_catalog.||) pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', p.via_columns[j], j);
		END LOOP;
		tail := CASE WHEN p.referrer THEN ' LIMIT 2 FOR SHARE' ELSE ' FOR SHARE' END;
		IF v.customer_column IS NOT NULL THEN
			IF loginas._attnum(p.via, v.customer_column) OPERATOR(pg_catalog.=) 0
			   OR loginas._atttype(p.via, loginas._attnum(p.via, v.customer_column)) NOT IN
					('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype) THEN
				problem := pg_catalog.format('the tracking of %s no longer matches its columns', p.via);
				problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed, dropped or retyped.';
				problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', p.via);
				problem_code := '55000';
				RETURN NEXT;
				RETURN;
			END IF;
			params := p.columns;
			lookups := ARRAY[pg_catalog.format('SELECT t.%I::pg_catalog.int8 FROM %s t WHERE %s%s',
											   v.customer_column, loginas._chain_relation(p.via), cond, tail)];
			relations := ARRAY[p.via::pg_catalog.oid];
			referrers := ARRAY[p.referrer];
			RETURN NEXT;
			CONTINUE;
		END IF;
		FOR r IN SELECT * FROM loginas._owner_routes(p.via, p_depth OPERATOR(pg_catalog.+) 1) LOOP
			IF r.problem IS NOT NULL THEN
				params := NULL;
				lookups := NULL;
				relations := p.via::pg_catalog.oid OPERATOR(pg_catalog.||) r.relations;
				referrers := NULL;
				problem := r.problem;
				problem_detail := r.problem_detail;
				problem_hint := r.problem_hint;
				problem_code := r.problem_code;
				RETURN NEXT;
				RETURN;
			END IF;
			params := p.columns;
			lookups := ARRAY[pg_catalog.format('SELECT %s FROM %s t WHERE %s%s',
				(SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o)
				   FROM pg_catalog.unnest(r.params) WITH ORDINALITY u(c, o)),
				loginas._chain_relation(p.via), cond, tail)] OPERATOR(pg_catalog.||) r.lookups;
			relations := p.via::pg_catalog.oid OPERATOR(pg_catalog.||) r.relations;
			referrers := p.referrer OPERATOR(pg_catalog.||) r.referrers;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;

-- A table whose rows reach their customer through other tracked tables, by
-- every foreign key between it and each table of via, in that order: its own
-- foreign keys to the table first (a parent), then the table's foreign keys
-- to it (a referrer: Vendure's customer.userId -> user, Medusa's
-- order.shipping_address_id -> order_address), each in the order of the
-- constraints' names.  Every way that leads to a customer must lead to the same
-- one; a referrer's foreign key is pointed, in a session, only at rows it created.
CREATE FUNCTION loginas.track_through(relation regclass, via regclass[],
									  created_column name DEFAULT 'loginas_created_session',
									  changed_column name DEFAULT 'loginas_changed_session',
									  stamps text DEFAULT 'columns')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v regclass;
	c record;
	n int;
	ways jsonb := '[]';
	own_fk name[] := ARRAY[]::name[];
BEGIN
	PERFORM loginas._prepare_tracking(track_through.relation);
	IF track_through.via IS NULL OR pg_catalog.cardinality(track_through.via) OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('22023', 'via cannot be empty', NULL,
			'Name the tracked tables whose rows lead to the customer, e.g. ARRAY[''shop.customer''::regclass].');
	END IF;
	-- the ways: every foreign key between the table and each of via, its own first
	FOREACH v IN ARRAY track_through.via LOOP
		IF v IS NULL OR NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) v) THEN
			PERFORM loginas._raise('55000',
				pg_catalog.format('table %s is not tracked', COALESCE(v::text, 'NULL')), NULL,
				'Track the tables a table reaches its customer through first.');
		END IF;
		IF v OPERATOR(pg_catalog.=) track_through.relation THEN
			PERFORM loginas._raise('22023',
				pg_catalog.format('table %s cannot reach its customer through itself', v), NULL, NULL);
		END IF;
		n := 0;
		FOR c IN
			SELECT co.conrelid OPERATOR(pg_catalog.=) v AS referrer,
				   ARRAY(SELECT a.attname FROM pg_catalog.unnest(co.conkey) WITH ORDINALITY u(k, o)
						   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) co.conrelid
														 AND a.attnum OPERATOR(pg_catalog.=) u.k
						  ORDER BY u.o) AS fk_cols,
				   ARRAY(SELECT a.attname FROM pg_catalog.unnest(co.confkey) WITH ORDINALITY u(k, o)
						   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) co.confrelid
														 AND a.attnum OPERATOR(pg_catalog.=) u.k
						  ORDER BY u.o) AS key_cols
			  FROM pg_catalog.pg_constraint co
			 WHERE co.contype OPERATOR(pg_catalog.=) 'f' AND co.conparentid OPERATOR(pg_catalog.=) 0
			   AND ((co.conrelid OPERATOR(pg_catalog.=) track_through.relation AND co.confrelid OPERATOR(pg_catalog.=) v)
					OR (co.conrelid OPERATOR(pg_catalog.=) v AND co.confrelid OPERATOR(pg_catalog.=) track_through.relation))
			 ORDER BY co.conrelid OPERATOR(pg_catalog.=) v, co.conname
		LOOP
			n := n OPERATOR(pg_catalog.+) 1;
			ways := ways OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'via', v::text, 'referrer', c.referrer, 'foreign_key', c.fk_cols,
				'columns', CASE WHEN c.referrer THEN c.key_cols ELSE c.fk_cols END,
				'via_columns', CASE WHEN c.referrer THEN c.fk_cols ELSE c.key_cols END));
			IF NOT c.referrer THEN
				own_fk := own_fk OPERATOR(pg_catalog.||) c.fk_cols;
			END IF;
		END LOOP;
		IF n OPERATOR(pg_catalog.=) 0 THEN
			PERFORM loginas._raise('42830',
				pg_catalog.format('there is no foreign key between %s and %s', track_through.relation, v),
				'A table reaches its customer through a foreign key to a tracked table, or from one.',
				'Add the foreign key, or name another table.');
		END IF;
	END LOOP;
	PERFORM loginas._choose_stamps(track_through.relation, track_through.stamps, track_through.created_column,
								   track_through.changed_column, own_fk);
	INSERT INTO loginas.tracked AS t (relation, customer_column, parent, created_column, changed_column, stamps)
	VALUES (track_through.relation, NULL, NULL,
			CASE WHEN track_through.stamps OPERATOR(pg_catalog.=) 'columns' THEN track_through.created_column END,
			CASE WHEN track_through.stamps OPERATOR(pg_catalog.=) 'columns' THEN track_through.changed_column END,
			track_through.stamps)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = NULL, parent = NULL, fk_columns = NULL, parent_columns = NULL,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column,
		   stamps = EXCLUDED.stamps;
	DELETE FROM loginas.owner_path p WHERE p.relation OPERATOR(pg_catalog.=) track_through.relation;
	INSERT INTO loginas.owner_path (relation, position, via, referrer, columns, via_columns)
	SELECT track_through.relation, w.o, (w.x ->> 'via')::pg_catalog.regclass, (w.x ->> 'referrer')::boolean,
		   ARRAY(SELECT pg_catalog.jsonb_array_elements_text(w.x -> 'columns'))::name[],
		   ARRAY(SELECT pg_catalog.jsonb_array_elements_text(w.x -> 'via_columns'))::name[]
	  FROM pg_catalog.jsonb_array_elements(ways) WITH ORDINALITY w(x, o);
	PERFORM loginas._install_triggers(track_through.relation, track_through.created_column, track_through.changed_column);
	PERFORM loginas._invalidate(track_through.relation);
	-- the tables it goes through watch their foreign keys to it (referrer ways)
	FOREACH v IN ARRAY track_through.via LOOP
		PERFORM loginas._invalidate(v);
	END LOOP;
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track_through.relation::text,
							'through', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('via', w.x -> 'via',
												'referrer', w.x -> 'referrer', 'foreign_key', w.x -> 'foreign_key') ORDER BY w.o)
										  FROM pg_catalog.jsonb_array_elements(ways) WITH ORDINALITY w(x, o)))
									  OPERATOR(pg_catalog.||) CASE WHEN track_through.stamps OPERATOR(pg_catalog.=) 'table'
										THEN pg_catalog.jsonb_build_object('stamps', 'table') ELSE '{}'::pg_catalog.jsonb END);
END
$$;

-- the ways of tables tracked with track_through(), as they are tried
CREATE VIEW loginas.tracked_paths AS
	SELECT p.relation, p.position, p.via,
		   CASE WHEN p.referrer THEN 'referrer' ELSE 'parent' END AS direction,
		   p.columns, p.via_columns
	  FROM loginas.owner_path p
	 ORDER BY p.relation::text, p.position;

REVOKE ALL ON loginas.owner_path, loginas.tracked_paths FROM PUBLIC;
REVOKE ALL ON FUNCTION loginas._track_info(oid), loginas._owner_paths(regclass),
	loginas._owner_routes(regclass, int), loginas.track_through(regclass, regclass[], name, name, text) FROM PUBLIC;
GRANT SELECT ON loginas.tracked_paths TO loginas_admin;

-- ---------------------------------------------------------------------------
-- Bindings with several rows per admin and per customer; guests.
--   * binding_column: is_optional (the customers binding's optional is_guest)
--     and combine (how the rows of one admin -- a row per role -- or of one
--     customer -- a row per website or store view -- combine into one
--     record); loginas.bindings lists optional_columns;
--   * _lookup reads through _bound_lookup: the rows of one key combined,
--     21000 for ambiguous rows (a second store view or document with one key,
--     rows of one admin or customer that disagree on username, email or
--     display_name); _store_views refuses a store_id on two rows;
--   * an admin may use a resource when any of their roles has it (_roles,
--     _roles_have, _roles_lack: _evaluate, permitted, revoke, _check_viewer);
--   * a store view of any of the customer's websites may be chosen
--     (_resolve_store, store_choices);
--   * a guest (is_guest) is refused (_evaluate, 55000).
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.binding_column
	ADD COLUMN is_optional boolean NOT NULL DEFAULT false,
	ADD COLUMN combine text CHECK (combine IN ('same', 'all', 'any', 'set'));
UPDATE loginas.binding_column AS c SET combine = v.combine
  FROM (VALUES ('customers', 'email', 'same'), ('customers', 'display_name', 'same'),
			   ('customers', 'is_active', 'all'), ('customers', 'website_id', 'set'),
			   ('customers', 'store_id', 'set'),
			   ('admins', 'username', 'same'), ('admins', 'display_name', 'same'),
			   ('admins', 'is_active', 'all'), ('admins', 'role', 'set')) AS v(kind, column_name, combine)
 WHERE c.kind OPERATOR(pg_catalog.=) v.kind AND c.column_name OPERATOR(pg_catalog.=) v.column_name;
INSERT INTO loginas.binding_column (kind, column_name, type_class, is_key, position, is_optional, combine)
VALUES ('customers', 'is_guest', 'bool', false, 7, true, 'any');

CREATE OR REPLACE VIEW loginas.bindings AS
	SELECT k.kind,
		   CASE WHEN cl.oid IS NOT NULL THEN b.relation END AS relation,
		   CASE WHEN b.relation IS NULL THEN 'unbound'
				WHEN cl.oid IS NULL THEN 'dropped'
				ELSE 'bound' END AS status,
		   (SELECT pg_catalog.array_agg(c.column_name ORDER BY c.position)
			  FROM loginas.binding_column c
			 WHERE c.kind OPERATOR(pg_catalog.=) k.kind AND NOT c.is_optional) AS required_columns,
		   b.bound_at,
		   (SELECT pg_catalog.array_agg(c.column_name ORDER BY c.position)
			  FROM loginas.binding_column c
			 WHERE c.kind OPERATOR(pg_catalog.=) k.kind AND c.is_optional) AS optional_columns
	  FROM (SELECT DISTINCT kind FROM loginas.binding_column) k
	  LEFT JOIN loginas.binding b USING (kind)
	  LEFT JOIN pg_catalog.pg_class cl ON cl.oid OPERATOR(pg_catalog.=) b.relation
	 ORDER BY k.kind;

CREATE OR REPLACE FUNCTION loginas._bound_select(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('SELECT %s FROM %s',
			   pg_catalog.string_agg(
				   CASE WHEN c.is_optional AND NOT EXISTS (
							SELECT FROM pg_catalog.pg_attribute a
							 WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel
							   AND a.attname OPERATOR(pg_catalog.=) c.column_name
							   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
						THEN pg_catalog.format('NULL::pg_catalog.%2$s AS %1$I', c.column_name,
											   CASE c.type_class WHEN 'id' THEN 'int8' ELSE c.type_class END)
						WHEN c.type_class OPERATOR(pg_catalog.=) 'id' THEN pg_catalog.format('%1$I::pg_catalog.int8 AS %1$I', c.column_name)
						WHEN c.type_class OPERATOR(pg_catalog.=) 'text' THEN pg_catalog.format('%1$I::pg_catalog.text AS %1$I', c.column_name)
						ELSE pg_catalog.format('%1$I::pg_catalog.bool AS %1$I', c.column_name)
				   END, ', ' ORDER BY c.position),
			   p_rel)
	  FROM loginas.binding_column c
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
$$;

CREATE OR REPLACE FUNCTION loginas._bound_lookup(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN NOT pg_catalog.bool_or(c.combine IS NOT NULL) THEN
		pg_catalog.format(
			'SELECT pg_catalog.jsonb_agg(t) OPERATOR(pg_catalog.->) 0,'
			' CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 THEN %L END'
			' FROM (%s WHERE %I OPERATOR(pg_catalog.=) $1 LIMIT 2) t',
			k.column_name, loginas._bound_select(p_kind, p_rel), k.column_name)
	ELSE
		pg_catalog.format(
			'SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN pg_catalog.jsonb_build_object(%s) END,'
			' %s FROM (%s WHERE %I OPERATOR(pg_catalog.=) $1) t',
			pg_catalog.string_agg(
				pg_catalog.format('%L, ', c.column_name) OPERATOR(pg_catalog.||)
				CASE c.combine
					 WHEN 'all' THEN pg_catalog.format('pg_catalog.bool_and(COALESCE(t.%I, false))', c.column_name)
					 WHEN 'any' THEN pg_catalog.format('pg_catalog.bool_or(COALESCE(t.%I, false))', c.column_name)
					 WHEN 'set' THEN pg_catalog.format(
						'COALESCE(pg_catalog.jsonb_agg(DISTINCT t.%1$I ORDER BY t.%1$I) FILTER (WHERE t.%1$I IS NOT NULL),'
						' ''[]''::pg_catalog.jsonb)', c.column_name)
					 ELSE pg_catalog.format('pg_catalog.min(t.%I)', c.column_name)	-- the key, or 'same'
				END, ', ' ORDER BY c.position),
			COALESCE('CASE ' OPERATOR(pg_catalog.||)
				pg_catalog.string_agg(
					pg_catalog.format('WHEN pg_catalog.count(DISTINCT t.%1$I) OPERATOR(pg_catalog.+)'
									  ' pg_catalog.max(CASE WHEN t.%1$I IS NULL THEN 1 ELSE 0 END)'
									  ' OPERATOR(pg_catalog.>) 1 THEN %2$L', c.column_name, c.column_name),
					' ' ORDER BY c.position) FILTER (WHERE c.combine OPERATOR(pg_catalog.=) 'same')
				OPERATOR(pg_catalog.||) ' END', 'NULL::pg_catalog.text'),
			loginas._bound_select(p_kind, p_rel), k.column_name)
	END
	  FROM loginas.binding_column c
	  JOIN loginas.binding_column k ON k.kind OPERATOR(pg_catalog.=) c.kind AND k.is_key
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
	 GROUP BY k.column_name
$$;

CREATE OR REPLACE FUNCTION loginas._store_views()
	RETURNS SETOF jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rel regclass := loginas._bound_relation('store_views');
	r jsonb;
BEGIN
	r := loginas._read_bound(
		pg_catalog.format('SELECT pg_catalog.jsonb_build_object('
						  '''rows'', pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.-) ''n''),'
						  ' ''duplicate'', pg_catalog.min(t.store_id) FILTER (WHERE t.n OPERATOR(pg_catalog.>) 1))'
						  ' FROM (SELECT s.*, pg_catalog.count(*) OVER (PARTITION BY s.store_id) AS n FROM (%s) s) t',
						  loginas._bound_select('store_views', rel)),
		NULL, rel);
	IF r OPERATOR(pg_catalog.->) 'duplicate' OPERATOR(pg_catalog.<>) 'null'::pg_catalog.jsonb THEN
		PERFORM loginas._raise('21000',
			pg_catalog.format('more than one row of the "store_views" binding has store_id %s',
							  r OPERATOR(pg_catalog.->>) 'duplicate'),
			pg_catalog.format('Relation %s is bound as "store_views", which has one row per store_id.', rel),
			'Fix the view (or table) bound as "store_views" so that store_id is unique.');
	END IF;
	RETURN QUERY SELECT pg_catalog.jsonb_array_elements(r OPERATOR(pg_catalog.->) 'rows')
				  WHERE r OPERATOR(pg_catalog.->) 'rows' OPERATOR(pg_catalog.<>) 'null'::pg_catalog.jsonb;
END
$$;

CREATE OR REPLACE FUNCTION loginas.bind(kind text, relation regclass, by_admin bigint DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	relkind "char";
	relnsp oid;
	atttype oid;
	ok boolean;
BEGIN
	PERFORM loginas._require_writable('loginas.bind()');
	IF NOT EXISTS (SELECT FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized binding kind "%s"', bind.kind), NULL,
			pg_catalog.format('Valid kinds are: %s.',
				(SELECT pg_catalog.string_agg(DISTINCT bc.kind, ', ') FROM loginas.binding_column bc)));
	END IF;
	IF bind.relation IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'relation to bind cannot be NULL');
	END IF;

	SELECT cl.relkind, cl.relnamespace INTO relkind, relnsp
	  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) bind.relation;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		PERFORM loginas._refuse(NULL, '42809',
			pg_catalog.format('"%s" is not a table or view', bind.relation));
	END IF;
	-- loginas reads bound relations as loginas_reader (see _read_bound): the
	-- shop decides what it may read by granting it, explicitly
	IF NOT pg_catalog.has_schema_privilege('loginas_reader', relnsp, 'USAGE') THEN
		PERFORM loginas._refuse(NULL, '42501',
			pg_catalog.format('role "loginas_reader" has no access to schema %s', pg_catalog.quote_ident(relnsp::regnamespace::text)),
			'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
			pg_catalog.format('GRANT USAGE ON SCHEMA %s TO loginas_reader;', pg_catalog.quote_ident(relnsp::regnamespace::text)));
	END IF;

	FOR c IN SELECT bc.column_name, bc.type_class, bc.is_optional FROM loginas.binding_column bc
			  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind ORDER BY bc.position
	LOOP
		SELECT a.atttypid INTO atttype FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) bind.relation
		   AND a.attname OPERATOR(pg_catalog.=) c.column_name
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND AND c.is_optional THEN
			CONTINUE;		-- an optional column the relation lacks is read as NULL
		END IF;
		IF NOT FOUND THEN
			PERFORM loginas._refuse(NULL, '42703',
				pg_catalog.format('relation "%s" has no column "%s"', bind.relation, c.column_name),
				pg_catalog.format('A "%s" binding needs the columns %s.', bind.kind,
					(SELECT pg_catalog.string_agg(bc.column_name, ', ' ORDER BY bc.position)
					   FROM loginas.binding_column bc
					  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind AND NOT bc.is_optional)));
		END IF;
		IF NOT pg_catalog.has_column_privilege('loginas_reader', bind.relation, c.column_name, 'SELECT') THEN
			PERFORM loginas._refuse(NULL, '42501',
				pg_catalog.format('role "loginas_reader" cannot read column "%s" of relation "%s"', c.column_name, bind.relation),
				'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
				pg_catalog.format('GRANT SELECT ON %s TO loginas_reader;', bind.relation));
		END IF;
		ok := CASE c.type_class
				WHEN 'id' THEN atttype IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype)
				WHEN 'text' THEN atttype IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype,
											 'pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
				ELSE atttype OPERATOR(pg_catalog.=) 'pg_catalog.bool'::regtype
			  END;
		IF NOT ok THEN
			PERFORM loginas._refuse(NULL, '42804',
				pg_catalog.format('column "%s" of relation "%s" has type %s', c.column_name, bind.relation,
								  pg_catalog.format_type(atttype, NULL)),
				pg_catalog.format('Column "%s" must be %s.', c.column_name,
					CASE c.type_class WHEN 'id' THEN 'an integer (smallint, integer or bigint)'
									  WHEN 'text' THEN 'text (text, varchar, char or name)'
									  ELSE 'boolean' END),
				'Cast it in a view over the table and bind the view.');
		END IF;
	END LOOP;

	PERFORM loginas._check_by_admin(by_admin);
	INSERT INTO loginas.binding AS b (kind, relation, bound_by_admin)
	VALUES (bind.kind, bind.relation, by_admin)
	ON CONFLICT ON CONSTRAINT binding_pkey DO UPDATE
	   SET relation = EXCLUDED.relation, bound_at = pg_catalog.now(),
		   bound_by_admin = EXCLUDED.bound_by_admin, bound_by_role = SESSION_USER;
	PERFORM loginas._invalidate('loginas.binding');
	PERFORM loginas._log('relation_bound', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', bind.kind, 'relation', bind.relation::text));
END
$$;

CREATE OR REPLACE FUNCTION loginas._roles(p_admin jsonb) RETURNS text[]
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_admin OPERATOR(pg_catalog.->) 'role'))
$$;

CREATE OR REPLACE FUNCTION loginas._roles_have(p_admin jsonb, p_resource text) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM loginas.role_resource rr
					WHERE rr.role OPERATOR(pg_catalog.=) ANY (loginas._roles(p_admin))
					  AND rr.resource OPERATOR(pg_catalog.=) p_resource)
$$;

CREATE OR REPLACE FUNCTION loginas._roles_lack(p_admin jsonb, p_resource text, p_label text,
									OUT detail text, OUT hint text)
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN pg_catalog.cardinality(r.roles) OPERATOR(pg_catalog.<=) 1
				THEN pg_catalog.format('Role "%s" does not have the "%s" resource.', r.roles[1], p_label)
				ELSE pg_catalog.format('None of the roles %s has the "%s" resource.',
					(SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', x), ', ' ORDER BY o)
					   FROM pg_catalog.unnest(r.roles) WITH ORDINALITY AS u(x, o)), p_label) END,
		   CASE WHEN pg_catalog.cardinality(r.roles) OPERATOR(pg_catalog.<=) 1
				THEN pg_catalog.format('Grant it with loginas.grant(%L, %L).', r.roles[1], p_resource)
				ELSE pg_catalog.format('Grant it to one of them with loginas.grant(%L, %L).', r.roles[1], p_resource) END
	  FROM (SELECT loginas._roles(p_admin) AS roles) r
$$;

CREATE OR REPLACE FUNCTION loginas."revoke"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	a jsonb;
BEGIN
	PERFORM loginas._require_writable('loginas.revoke()');
	PERFORM loginas._check_resource(resource);
	PERFORM loginas._check_by_admin(by_admin);
	DELETE FROM loginas.role_resource rr
	 WHERE rr.role OPERATOR(pg_catalog.=) "revoke".role AND rr.resource OPERATOR(pg_catalog.=) "revoke".resource;
	IF NOT FOUND THEN
		RETURN false;		-- was not granted
	END IF;
	PERFORM loginas._log('permission_revoked', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('role', "revoke".role, 'resource', "revoke".resource));
	-- the role's admins lose their live tickets and sessions, unless another
	-- of their roles has the resource
	IF "revoke".resource OPERATOR(pg_catalog.=) 'login' AND loginas._bound_relation('admins', true) IS NOT NULL THEN
		FOR s IN SELECT ls.session_id, ls.admin_id FROM loginas.session ls
				  WHERE ls.ended_at IS NULL ORDER BY ls.session_id
		LOOP
			a := loginas._lookup('admins', s.admin_id, true);
			IF (a OPERATOR(pg_catalog.->) 'role') OPERATOR(pg_catalog.?) "revoke".role
			   AND NOT loginas._roles_have(a, 'login') THEN
				PERFORM loginas._end_session(s.session_id, 'permission_revoked', by_admin);
			END IF;
		END LOOP;
	END IF;
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION loginas.permitted(admin_id bigint, resource text)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
BEGIN
	PERFORM loginas._check_resource(resource);
	a := loginas._lookup('admins', permitted.admin_id);
	RETURN a IS NOT NULL
		   AND COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
		   AND loginas._roles_have(a, permitted.resource);
END
$$;

CREATE OR REPLACE FUNCTION loginas._evaluate(p_admin_id bigint, p_customer_id bigint, p_lock boolean DEFAULT false)
	RETURNS loginas._verdict
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	c loginas.consent;
	has_login boolean;
	enabled boolean;
BEGIN
	IF p_admin_id IS NULL OR p_customer_id IS NULL THEN
		v.code := 'invalid'; v.sqlstate := '22023';
		v.message := 'admin_id and customer_id cannot be NULL';
		RETURN v;
	END IF;
	IF p_lock THEN
		PERFORM FROM loginas.setting st
		  WHERE st.name OPERATOR(pg_catalog.=) 'enabled' AND st.value OPERATOR(pg_catalog.=) 'on'
		    FOR SHARE;
		enabled := FOUND;
	ELSE
		enabled := loginas._get_setting('enabled') OPERATOR(pg_catalog.=) 'on';
	END IF;
	IF NOT enabled THEN
		v.code := 'feature_disabled'; v.sqlstate := '55000';
		v.message := 'Login as Customer is disabled.';
		v.hint := 'Enable it with loginas.configure(''enabled'', ''on'').';
		RETURN v;
	END IF;

	v.admin := loginas._lookup('admins', p_admin_id);
	IF v.admin IS NULL THEN
		v.code := 'admin_inactive'; v.sqlstate := '22023';
		v.message := pg_catalog.format('admin user %s does not exist', p_admin_id);
		v.detail := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_admin_id);
		RETURN v;
	END IF;
	IF NOT COALESCE((v.admin OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'admin_inactive'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is inactive', v.admin OPERATOR(pg_catalog.->>) 'username');
		v.detail := 'Only active admin users can use Login as Customer.';
		RETURN v;
	END IF;
	-- an admin has a row per role: any of its roles may have the resource
	-- (the lock: every one of them that has it, so that revoking it from one
	-- of them waits as well)
	IF p_lock THEN
		PERFORM FROM loginas.role_resource r
		  WHERE r.role OPERATOR(pg_catalog.=) ANY (loginas._roles(v.admin))
		    AND r.resource OPERATOR(pg_catalog.=) 'login'
		    FOR SHARE;
		has_login := FOUND;
	ELSE
		has_login := loginas._roles_have(v.admin, 'login');
	END IF;
	IF NOT has_login THEN
		v.code := 'permission_revoked'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is not allowed to login as a customer',
									   v.admin OPERATOR(pg_catalog.->>) 'username');
		SELECT l.detail, l.hint INTO v.detail, v.hint
		  FROM loginas._roles_lack(v.admin, 'login', 'Allow Login as Customer') l;
		RETURN v;
	END IF;

	v.customer := loginas._lookup('customers', p_customer_id);
	IF v.customer IS NULL THEN
		v.code := 'customer_inactive'; v.sqlstate := '22023';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_id);
		RETURN v;
	END IF;
	-- a guest (is_guest, an optional column of the customers binding) is a
	-- customer row without an account
	IF COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_guest')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := pg_catalog.format('cannot login as customer %s: the customer is a guest', p_customer_id);
		v.detail := 'Guest customers have no account to log in to.';
		RETURN v;
	END IF;
	IF NOT COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('Customer account %s is inactive.', p_customer_id);
		RETURN v;
	END IF;

	IF p_lock THEN
		SELECT * INTO c FROM loginas.consent cs
		 WHERE cs.customer_id OPERATOR(pg_catalog.=) p_customer_id AND cs.allowed
		   AND (cs.valid_until IS NULL OR cs.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FOR SHARE;
	END IF;
	IF c.customer_id IS NULL THEN
		SELECT * INTO c FROM loginas.consent WHERE customer_id OPERATOR(pg_catalog.=) p_customer_id;
	END IF;
	IF c.customer_id IS NULL OR NOT c.allowed THEN
		v.code := 'consent_revoked'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := 'The customer has not allowed remote shopping assistance.';
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	IF c.valid_until IS NOT NULL AND c.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		v.code := 'consent_expired'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := pg_catalog.format('The customer''s permission expired at %s.', c.valid_until);
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION loginas._resolve_store(p_customer jsonb, p_store_id bigint)
	RETURNS jsonb
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sharing text := loginas._get_setting('account_sharing');
	-- a customer has a row per website or store view: their sets
	cust_websites bigint[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_customer OPERATOR(pg_catalog.->) 'website_id')::bigint);
	cust_stores bigint[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_customer OPERATOR(pg_catalog.->) 'store_id')::bigint);
	rel regclass := loginas._bound_relation('store_views');
	st jsonb;
	own bigint;
	target_websites bigint[];
BEGIN
	IF p_store_id IS NULL AND loginas._get_setting('store_view_selection') OPERATOR(pg_catalog.=) 'manual' THEN
		PERFORM loginas._refuse(NULL, '22023', 'Please select a Store to login in.',
			'Store View to Log in is set to Manual Selection.',
			'Pass store_id; loginas.store_choices() lists the store views that can be chosen.');
	END IF;

	IF p_store_id IS NOT NULL THEN
		st := loginas._lookup('store_views', p_store_id);
		IF st IS NULL THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('store view %s does not exist', p_store_id),
				pg_catalog.format('No row of %s has store_id %s.', rel, p_store_id));
		END IF;
		IF NOT COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			PERFORM loginas._refuse(NULL, '55000',
				pg_catalog.format('store view "%s" is disabled', st OPERATOR(pg_catalog.->>) 'name'));
		END IF;
		-- in any of the customer's websites
		IF sharing OPERATOR(pg_catalog.=) 'website'
		   AND NOT COALESCE((st OPERATOR(pg_catalog.->>) 'website_id')::bigint OPERATOR(pg_catalog.=) ANY (cust_websites), false) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format(CASE WHEN pg_catalog.cardinality(cust_websites) OPERATOR(pg_catalog.>) 1
									   THEN 'store view "%s" is not in any of the customer''s websites'
									   ELSE 'store view "%s" is not in the customer''s website' END,
								  st OPERATOR(pg_catalog.->>) 'name'),
				'Customer accounts are shared per website (account_sharing = website).',
				'Choose a store view of the customer''s website; loginas.store_choices() lists them.');
		END IF;
		RETURN st;
	END IF;

	-- auto: the customer's own store view, if it is active (and in its
	-- website); of several, the first by store_id
	FOREACH own IN ARRAY cust_stores LOOP
		st := loginas._lookup('store_views', own);
		IF st IS NOT NULL AND COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
		   AND (sharing OPERATOR(pg_catalog.=) 'global'
				OR COALESCE((st OPERATOR(pg_catalog.->>) 'website_id')::bigint OPERATOR(pg_catalog.=) ANY (cust_websites), false)) THEN
			RETURN st;
		END IF;
	END LOOP;

	-- else the default store view of the customer's website (of several, the
	-- first by website_id that has one); with global sharing, that of the
	-- default website (the one holding the lowest store view id among
	-- default store views)
	IF sharing OPERATOR(pg_catalog.=) 'website' THEN
		target_websites := cust_websites;
	ELSE
		target_websites := ARRAY(
			SELECT (v OPERATOR(pg_catalog.->>) 'website_id')::bigint
			  FROM loginas._store_views() v
			 WHERE (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
			 ORDER BY (v OPERATOR(pg_catalog.->>) 'store_id')::bigint LIMIT 1);
	END IF;
	SELECT v INTO st
	  FROM loginas._store_views() v
	 WHERE (v OPERATOR(pg_catalog.->>) 'website_id')::bigint OPERATOR(pg_catalog.=) ANY (target_websites)
	   AND (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
	 ORDER BY (v OPERATOR(pg_catalog.->>) 'website_id')::bigint, (v OPERATOR(pg_catalog.->>) 'store_id')::bigint LIMIT 1;
	IF st IS NULL THEN
		PERFORM loginas._refuse(NULL, '55000',
			'no active store view is available for this customer',
			CASE WHEN pg_catalog.cardinality(target_websites) OPERATOR(pg_catalog.>) 1
				 THEN pg_catalog.format('The customer''s store views are unavailable and none of the websites %s has an active default store view.',
										pg_catalog.array_to_string(target_websites, ', '))
				 ELSE pg_catalog.format('The customer''s store view is unavailable and website %s has no active default store view.',
										target_websites[1]) END);
	END IF;
	RETURN st;
END
$$;

CREATE OR REPLACE FUNCTION loginas.store_choices(admin_id bigint, customer_id bigint)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate(store_choices.admin_id, store_choices.customer_id);
BEGIN
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, v.sqlstate, v.message, v.detail, v.hint);
	END IF;
	RETURN QUERY
	SELECT (sv OPERATOR(pg_catalog.->>) 'store_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'name',
		   (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'website_name',
		   (sv OPERATOR(pg_catalog.->>) 'is_active')::boolean
		   AND (loginas._get_setting('account_sharing') OPERATOR(pg_catalog.=) 'global'
				OR (v.customer OPERATOR(pg_catalog.->) 'website_id')
				   OPERATOR(pg_catalog.@>) (sv OPERATOR(pg_catalog.->) 'website_id'))
	  FROM loginas._store_views() sv
	 ORDER BY 3, 1;
END
$$;

CREATE OR REPLACE FUNCTION loginas._check_viewer(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	PERFORM loginas._require_writable(pg_catalog.format('loginas.%s() with viewer_admin', p_report));
	IF p_viewer IS NULL THEN
		st := '42501';
		msg := 'viewing the Login as Customer log needs viewer_admin';
		det := 'Without viewer_admin only members of loginas_reporting may read the log.';
		hnt := 'Pass viewer_admin => the id of the admin user viewing the log; their role needs the "view_log" resource.';
	ELSE
		BEGIN
			a := loginas._lookup('admins', p_viewer);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
									hnt = PG_EXCEPTION_HINT;
		END;
		IF st IS NOT NULL THEN
			NULL;		-- the admins binding cannot be read: refused with its error
		ELSIF a IS NULL THEN
			st := '42501';
			msg := pg_catalog.format('admin user %s does not exist', p_viewer);
			det := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_viewer);
			hnt := 'Pass the id of the admin user viewing the log as viewer_admin.';
		ELSIF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username');
			det := 'Only active admin users can view the Login as Customer log.';
		ELSIF NOT loginas.permitted(p_viewer, 'view_log') THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is not allowed to view the Login as Customer log',
									 a OPERATOR(pg_catalog.->>) 'username');
			SELECT l.detail, l.hint INTO det, hnt
			  FROM loginas._roles_lack(a, 'view_log', 'View Login as Customer Log') l;
		END IF;
	END IF;
	IF st IS NOT NULL THEN
		PERFORM loginas._record_view('log_view_refused', 'failure', p_viewer, p_customer_id,
			pg_catalog.jsonb_build_object('sqlstate', st, 'message', msg, 'detail', NULLIF(det, ''),
										  'report', p_report, 'filters', pg_catalog.jsonb_strip_nulls(p_filters)));
		PERFORM loginas._raise(st, msg, NULLIF(det, ''), NULLIF(hnt, ''));
	END IF;
END
$$;

-- the new functions are for loginas' own use (the complete script's blanket
-- REVOKE ran before they existed)
REVOKE ALL ON FUNCTION
	loginas._bound_lookup(text, regclass),
	loginas._roles(jsonb),
	loginas._roles_have(jsonb, text),
	loginas._roles_lack(jsonb, text, text)
FROM PUBLIC;
-- backends that read a binding before the update kept the query of 1.2 (the
-- first row by the key): they read it again
SELECT loginas._invalidate('loginas.binding');

-- ---------------------------------------------------------------------------
-- expire(): a session whose conditions cannot be read no longer stops the
-- others from being checked.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION loginas.expire()
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	v loginas._verdict;
	why text;
	problem text;
	state text;
	n integer := 0;
BEGIN
	PERFORM loginas._require_writable('loginas.expire()');
	FOR s IN SELECT ls.session_id, ls.admin_id, ls.customer_id,
					(ls.redeemed_at IS NULL AND ls.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
					OR ls.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
			   FROM loginas.session ls
			  WHERE ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF s.is_expired THEN
			why := 'expired';
		ELSE
			BEGIN
				v := loginas._evaluate(s.admin_id, s.customer_id);
				why := v.code;
			EXCEPTION
				WHEN serialization_failure OR deadlock_detected THEN
					RAISE;
				WHEN OTHERS THEN
					-- a session whose conditions cannot be read (a bound view that
					-- fails, rows of one admin that disagree) is left as it is
					-- (assume() refuses it the same way); the others are checked
					GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
					RAISE WARNING 'loginas: session % was not checked: %', s.session_id, problem
						USING DETAIL = pg_catalog.format('SQLSTATE %s.', state),
							  HINT = 'Fix the bound relation; loginas.expire() checks the session again next time.';
					why := NULL;
			END;
		END IF;
		IF why IS NOT NULL AND loginas._end_session(s.session_id, why) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- Stamps that survive schema tools (src/track.c): loginas.track(...,
-- stamps => 'table') keeps a table's stamps in loginas.row_stamp instead of
-- columns of the shop's table, which a schema tool that does not know them
-- drops; stamp columns dropped so refuse writes in sessions with a message
-- of their own (55000) until track() adds them again.  _track_info() tells
-- the trigger where the stamps are (two columns at its end).
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.tracked
	ALTER COLUMN created_column DROP NOT NULL,
	ALTER COLUMN changed_column DROP NOT NULL,
	ADD COLUMN stamps text NOT NULL DEFAULT 'columns',
	ADD CONSTRAINT tracked_stamps_check CHECK (
		stamps = 'columns' AND created_column IS NOT NULL AND changed_column IS NOT NULL
		OR stamps = 'table' AND created_column IS NULL AND changed_column IS NULL);

CREATE TABLE loginas.row_stamp (
	relation		regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	key				text NOT NULL,
	created_session	bigint,			-- the session that inserted the row (NULL: not a session)
	changed_session	bigint NOT NULL,	-- the last session that changed it
	changed_at		timestamptz NOT NULL,	-- when (the transaction's time)
	PRIMARY KEY (relation, key)
);

CREATE VIEW loginas.row_stamps AS
	SELECT s.relation, s.key, s.created_session, s.changed_session, s.changed_at
	  FROM loginas.row_stamp s;

COMMENT ON VIEW loginas.row_stamps
	IS 'the stamps of the rows Login as Customer sessions wrote in tables tracked with stamps => ''table''';

CREATE OR REPLACE VIEW loginas.tracked_tables AS
	SELECT t.relation, t.customer_column, t.parent, t.fk_columns, t.parent_columns,
		   t.created_column, t.changed_column,
		   ARRAY(SELECT p.column_name FROM loginas.protected_column p
				  WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY p.column_name) AS protected_columns,
		   t.tracked_at, t.stamps
	  FROM loginas.tracked t
	 ORDER BY t.relation::text;

DROP FUNCTION loginas._track_info(oid);

CREATE FUNCTION loginas._track_info(p_relid oid)
	RETURNS TABLE (relname text, customer_attnum int2, customer_type oid, created_attnum int2,
				   changed_attnum int2, pk_attnums int2[], protected_attnums int2[],
				   fk_attnums int2[], parent_lookups text[], chain oid[],
				   problem text, problem_detail text, problem_hint text, problem_code text,
				   route_attnums int2[], route_nattnums int4[], route_lookups text[],
				   route_relations oid[], route_referrers boolean[], route_nlookups int4[],
				   stamp_table boolean, stamp_rows boolean)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	r record;
	attnums int2[];
BEGIN
	SELECT tr.* INTO t FROM loginas.tracked tr
	 WHERE tr.relation OPERATOR(pg_catalog.=) p_relid
		OR tr.relation OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p_relid) a))
	 ORDER BY tr.relation OPERATOR(pg_catalog.=) p_relid DESC LIMIT 1;
	IF t.relation IS NULL THEN
		RETURN;
	END IF;
	relname := t.relation::text;
	chain := ARRAY[t.relation::oid];
	-- the stamps: two columns of the table, or rows of loginas.row_stamp
	-- (stamp_rows: whether the table has any there, for the trigger's fast
	-- path outside sessions)
	stamp_table := t.stamps OPERATOR(pg_catalog.=) 'table';
	IF stamp_table THEN
		created_attnum := 0;
		changed_attnum := 0;
		stamp_rows := EXISTS (SELECT FROM loginas.row_stamp s WHERE s.relation OPERATOR(pg_catalog.=) t.relation);
	ELSE
		created_attnum := loginas._attnum(p_relid::regclass, t.created_column);
		changed_attnum := loginas._attnum(p_relid::regclass, t.changed_column);
		stamp_rows := false;
	END IF;
	pk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(loginas._pk_columns(t.relation)) WITH ORDINALITY u(c, o) ORDER BY o);
	protected_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, p.column_name)
								 FROM loginas.protected_column p
								WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY 1);
	IF t.customer_column IS NOT NULL THEN
		customer_attnum := loginas._attnum(p_relid::regclass, t.customer_column);
		customer_type := loginas._atttype(p_relid::regclass, customer_attnum);
	END IF;
	-- stamp columns gone (a schema tool that does not know them drops them):
	-- no write in a session until track() adds them again
	IF NOT stamp_table AND (created_attnum OPERATOR(pg_catalog.=) 0 OR changed_attnum OPERATOR(pg_catalog.=) 0) THEN
		problem := CASE WHEN created_attnum OPERATOR(pg_catalog.=) 0 AND changed_attnum OPERATOR(pg_catalog.=) 0
						THEN pg_catalog.format('the stamp columns of %s were dropped', t.relation)
						ELSE pg_catalog.format('the stamp column "%s" of %s was dropped',
											   CASE WHEN created_attnum OPERATOR(pg_catalog.=) 0
													THEN t.created_column ELSE t.changed_column END, t.relation) END;
		problem_detail := pg_catalog.format('The table keeps its Login as Customer stamps in the columns "%s" and "%s",'
			' which loginas.track() added; a schema tool that does not know them drops them (renaming one has the same'
			' effect). Writes in sessions are refused until they are back; writes outside sessions go on.',
			t.created_column, t.changed_column);
		problem_hint := pg_catalog.format('Add them again with SELECT loginas.%s(%L, %s => %L%s); the tracking and its'
			' protected columns are kept. Or add stamps => ''table'' to that call to keep the stamps in loginas.row_stamp,'
			' where schema tools do not see them.',
			CASE WHEN t.customer_column IS NULL AND t.parent IS NULL THEN 'track_through' ELSE 'track' END,
			t.relation::text,
			CASE WHEN t.customer_column IS NOT NULL THEN 'customer_column'
				 WHEN t.parent IS NOT NULL THEN 'parent' ELSE 'via' END,
			COALESCE(t.customer_column::text, t.parent::text,
					 (SELECT pg_catalog.array_agg(DISTINCT p.via::text ORDER BY p.via::text)::text FROM loginas.owner_path p
					   WHERE p.relation OPERATOR(pg_catalog.=) t.relation)),
			CASE WHEN t.created_column OPERATOR(pg_catalog.=) 'loginas_created_session'
					  AND t.changed_column OPERATOR(pg_catalog.=) 'loginas_changed_session' THEN ''
				 ELSE pg_catalog.format(', created_column => %L, changed_column => %L', t.created_column, t.changed_column) END);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- a tracked column renamed, dropped or retyped since track(): in a session
	-- every write is refused rather than guessed at (the trigger raises the
	-- problem); the stamps must stay bigint, the customer column of the customers' key type class
	IF (NOT stamp_table
		AND (loginas._atttype(p_relid::regclass, created_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
			 OR loginas._atttype(p_relid::regclass, changed_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype))
	   OR (t.customer_column IS NOT NULL AND customer_type NOT IN
			('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype))
	   OR customer_attnum OPERATOR(pg_catalog.=) 0 OR pk_attnums IS NULL
	   OR 0 OPERATOR(pg_catalog.=) ANY (pk_attnums) OR 0 OPERATOR(pg_catalog.=) ANY (protected_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A tracked, stamp, key or protected column was renamed, dropped or retyped, or the primary key changed.';
		problem_hint := 'Track the table again with loginas.track(), and protect its columns again.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	IF t.customer_column IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;

	-- a row that reaches its customer through other tracked tables: the
	-- routes of lookups from it, all followed (src/containment.c)
	route_attnums := ARRAY[]::int2[];
	route_nattnums := ARRAY[]::int4[];
	route_lookups := ARRAY[]::text[];
	route_relations := ARRAY[]::oid[];
	route_referrers := ARRAY[]::boolean[];
	route_nlookups := ARRAY[]::int4[];
	FOR r IN SELECT * FROM loginas._owner_routes(t.relation, 0) LOOP
		IF r.problem IS NOT NULL THEN
			chain := chain OPERATOR(pg_catalog.||) r.relations;
			problem := r.problem;
			problem_detail := r.problem_detail;
			problem_hint := r.problem_hint;
			problem_code := r.problem_code;
			RETURN NEXT;
			RETURN;
		END IF;
		attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						   FROM pg_catalog.unnest(r.params) WITH ORDINALITY u(c, o) ORDER BY o);
		IF 0 OPERATOR(pg_catalog.=) ANY (attnums) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
			problem_detail := 'A column of a foreign key on the way to its customer was renamed or dropped.';
			problem_hint := 'Track the table again with loginas.track().';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		route_attnums := route_attnums OPERATOR(pg_catalog.||) attnums;
		route_nattnums := route_nattnums OPERATOR(pg_catalog.||) pg_catalog.cardinality(attnums);
		route_lookups := route_lookups OPERATOR(pg_catalog.||) r.lookups;
		route_relations := route_relations OPERATOR(pg_catalog.||) r.relations;
		route_referrers := route_referrers OPERATOR(pg_catalog.||) r.referrers;
		route_nlookups := route_nlookups OPERATOR(pg_catalog.||) pg_catalog.cardinality(r.lookups);
		chain := chain OPERATOR(pg_catalog.||) r.relations;
	END LOOP;
	IF pg_catalog.cardinality(route_nlookups) OPERATOR(pg_catalog.=) 0 THEN
		problem := pg_catalog.format('table %s has no way left to its customer', t.relation);
		problem_detail := 'The tracked tables it reached its customer through are no longer tracked.';
		problem_hint := pg_catalog.format('Track %s again with loginas.track() or loginas.track_through().', t.relation);
		problem_code := '55000';
	END IF;
	RETURN NEXT;
END
$$;

CREATE FUNCTION loginas._choose_stamps(p_relation regclass, p_stamps text, p_created name, p_changed name,
									   p_reserved name[])
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	was loginas.tracked;
BEGIN
	IF p_stamps IS NULL OR p_stamps NOT IN ('columns', 'table') THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('stamps must be ''columns'' or ''table'', not %s', COALESCE(pg_catalog.quote_literal(p_stamps), 'NULL')),
			NULL, 'Keep the stamps in columns of the table (''columns'', the default) or in loginas.row_stamp (''table'').');
	END IF;
	IF p_stamps OPERATOR(pg_catalog.=) 'columns' THEN
		PERFORM loginas._add_stamps(p_relation, p_created, p_changed, p_reserved);
		DELETE FROM loginas.row_stamp s WHERE s.relation OPERATOR(pg_catalog.=) p_relation;
		RETURN;
	END IF;
	SELECT t.* INTO was FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) p_relation;
	IF was.stamps OPERATOR(pg_catalog.=) 'columns'
	   AND (loginas._attnum(p_relation, was.created_column) OPERATOR(pg_catalog.<>) 0
			OR loginas._attnum(p_relation, was.changed_column) OPERATOR(pg_catalog.<>) 0) THEN
		RAISE NOTICE 'the stamp columns "%" and "%" of % are no longer written', was.created_column, was.changed_column, p_relation
			USING HINT = 'Its stamps are kept in loginas.row_stamp from now on; drop the columns once nothing reads them.';
	END IF;
END
$$;

DROP FUNCTION loginas.track(regclass, name, name, name);
DROP FUNCTION loginas.track(regclass, regclass, name, name);

CREATE FUNCTION loginas.track(relation regclass, customer_column name,
							  created_column name DEFAULT 'loginas_created_session',
							  changed_column name DEFAULT 'loginas_changed_session',
							  stamps text DEFAULT 'columns')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	typ oid;
BEGIN
	PERFORM loginas._prepare_tracking(track.relation);
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) track.relation AND a.attname OPERATOR(pg_catalog.=) track.customer_column
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		PERFORM loginas._raise('42703',
			pg_catalog.format('column "%s" of relation %s does not exist', track.customer_column, track.relation), NULL, NULL);
	END IF;
	IF typ NOT IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype) THEN
		PERFORM loginas._raise('42804',
			pg_catalog.format('customer column "%s" of %s has type %s', track.customer_column, track.relation,
							  pg_catalog.format_type(typ, NULL)),
			'The customer column must be an integer (smallint, integer or bigint).', NULL);
	END IF;
	PERFORM loginas._choose_stamps(track.relation, track.stamps, track.created_column, track.changed_column,
								   ARRAY[track.customer_column]);
	INSERT INTO loginas.tracked AS t (relation, customer_column, created_column, changed_column, stamps)
	VALUES (track.relation, track.customer_column,
			CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'columns' THEN track.created_column END,
			CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'columns' THEN track.changed_column END, track.stamps)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = EXCLUDED.customer_column, parent = NULL, fk_columns = NULL, parent_columns = NULL,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column,
		   stamps = EXCLUDED.stamps;
	PERFORM loginas._install_triggers(track.relation, track.created_column, track.changed_column);
	PERFORM loginas._invalidate(track.relation);
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track.relation::text,
																	'customer_column', track.customer_column)
									  OPERATOR(pg_catalog.||) CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'table'
										THEN pg_catalog.jsonb_build_object('stamps', 'table') ELSE '{}'::pg_catalog.jsonb END);
END
$$;

CREATE FUNCTION loginas.track(relation regclass, parent regclass,
							  created_column name DEFAULT 'loginas_created_session',
							  changed_column name DEFAULT 'loginas_changed_session',
							  stamps text DEFAULT 'columns')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	fk record;
	n int;
BEGIN
	PERFORM loginas._prepare_tracking(track.relation);
	IF track.parent IS NULL OR NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) track.parent) THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('parent table %s is not tracked', COALESCE(track.parent::text, 'NULL')), NULL,
			'Track the parent first, with loginas.track(parent, customer_column).');
	END IF;
	SELECT pg_catalog.count(*) INTO n FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid OPERATOR(pg_catalog.=) track.relation AND c.confrelid OPERATOR(pg_catalog.=) track.parent
	   AND c.contype OPERATOR(pg_catalog.=) 'f';
	IF n OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('42830',
			pg_catalog.format('table %s has no foreign key to %s', track.relation, track.parent),
			'A child table reaches its customer through a foreign key to its tracked parent.',
			pg_catalog.format('Add one (ALTER TABLE %s ADD FOREIGN KEY ... REFERENCES %s), or track the table with its own customer column.',
							  track.relation, track.parent));
	ELSIF n OPERATOR(pg_catalog.>) 1 THEN
		PERFORM loginas._raise('42830',
			pg_catalog.format('table %s has more than one foreign key to %s', track.relation, track.parent), NULL, NULL);
	END IF;
	SELECT ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY u(k, o)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) u.k
				  ORDER BY u.o) AS fk_cols,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY u(k, o)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid AND a.attnum OPERATOR(pg_catalog.=) u.k
				  ORDER BY u.o) AS parent_cols
	  INTO fk
	  FROM pg_catalog.pg_constraint c
	 WHERE c.conrelid OPERATOR(pg_catalog.=) track.relation AND c.confrelid OPERATOR(pg_catalog.=) track.parent
	   AND c.contype OPERATOR(pg_catalog.=) 'f';
	PERFORM loginas._choose_stamps(track.relation, track.stamps, track.created_column, track.changed_column,
								   fk.fk_cols);
	INSERT INTO loginas.tracked AS t (relation, parent, fk_columns, parent_columns, created_column, changed_column, stamps)
	VALUES (track.relation, track.parent, fk.fk_cols, fk.parent_cols,
			CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'columns' THEN track.created_column END,
			CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'columns' THEN track.changed_column END, track.stamps)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = NULL, parent = EXCLUDED.parent, fk_columns = EXCLUDED.fk_columns,
		   parent_columns = EXCLUDED.parent_columns,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column,
		   stamps = EXCLUDED.stamps;
	PERFORM loginas._install_triggers(track.relation, track.created_column, track.changed_column);
	PERFORM loginas._invalidate(track.relation);
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track.relation::text,
																	'parent', track.parent::text,
																	'foreign_key', fk.fk_cols)
									  OPERATOR(pg_catalog.||) CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'table'
										THEN pg_catalog.jsonb_build_object('stamps', 'table') ELSE '{}'::pg_catalog.jsonb END);
END
$$;

SELECT pg_catalog.pg_extension_config_dump('loginas.row_stamp', '');

REVOKE ALL ON TABLE loginas.row_stamp, loginas.row_stamps FROM PUBLIC;
REVOKE ALL ON FUNCTION
	loginas._track_info(oid),
	loginas._choose_stamps(regclass, text, name, name, name[]),
	loginas.track(regclass, name, name, name, text),
	loginas.track(regclass, regclass, name, name, text)
FROM PUBLIC;
GRANT SELECT ON loginas.row_stamps TO loginas_admin, loginas_reporting;

-- ---------------------------------------------------------------------------
-- Keys of any type, first slice: customers keyed by text, varchar or uuid
-- (Medusa's cus_...), besides integers.  Inside loginas a key is the canonical
-- text of its value (_canon_key; _key_type reads the bound relation's key
-- column).
--   * consent and session: customer_key text NOT NULL (consent's primary
--     key), filled here from customer_id; customer_id is kept, NULL for keys
--     that are not integers; session_live_customer indexes customer_key;
--   * action_log: admin_key, customer_key, store_key, filled only where the
--     bigint column cannot hold the key; such rows hash in a second canonical
--     form (_log_content's 19-argument form), every other row as before;
--     _append and _log_row_hash take the keys as trailing defaulted
--     arguments, _log takes p_customer_key;
--   * _bound_select reads a non-integer key as text, _lookup(kind, text);
--   * _evaluate, _begin, _set_assistance take the customer as text;
--     _context_set the key; redeem() returns customer_key as its last column;
--   * text overloads of set_assistance*, assistance_allowed, check,
--     store_choices, begin, customer_history*; current_customer_key();
--   * containment compares a row's owner by its key text (_track_info,
--     _owner_routes); track() accepts a text/varchar/uuid customer column
--     when customers do not have integer keys; bind() says which key types
--     are not supported yet.
-- ---------------------------------------------------------------------------
-- Keys of any type: a kind's key column may be an integer (smallint, integer,
-- bigint) or, for customers, text, varchar or uuid.  Inside loginas a key is
-- the canonical text of its value (the type's own output: 42, cus_01H...,
-- lower-case uuid), compared as text; the bigint columns and signatures of
-- 1.2 stay, filled when the kind's key is an integer.
CREATE FUNCTION loginas._is_int_type(p_type regtype)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT p_type IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
					  'pg_catalog.int8'::pg_catalog.regtype)
$$;

-- a type a key may have: an integer, text, varchar or uuid
CREATE FUNCTION loginas._is_key_type(p_type regtype)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT loginas._is_int_type(p_type)
		OR p_type IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
					  'pg_catalog.uuid'::pg_catalog.regtype)
$$;

-- the type a tracked customer column may have: the type class of the
-- customers' key (an integer for integer keys; text, varchar or uuid otherwise)
CREATE FUNCTION loginas._customer_column_type_ok(p_type regtype)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN loginas._is_int_type(loginas._key_type('customers')) THEN loginas._is_int_type(p_type)
				ELSE loginas._is_key_type(p_type) END
$$;

-- false when a column of a relation has a nondeterministic collation
-- (true for types without collation, and for no such column)
CREATE FUNCTION loginas._deterministic_column(p_rel regclass, p_column text)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE((SELECT co.collisdeterministic
					   FROM pg_catalog.pg_attribute a
					   JOIN pg_catalog.pg_collation co ON co.oid OPERATOR(pg_catalog.=) a.attcollation
					  WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attname OPERATOR(pg_catalog.=) p_column
						AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped), true)
$$;

-- the type of a column of a relation (NULL: no such column)
CREATE FUNCTION loginas._atttype_of(p_rel regclass, p_column text)
	RETURNS regtype
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT a.atttypid::pg_catalog.regtype FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attname OPERATOR(pg_catalog.=) p_column
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
$$;

-- the type of a kind's key: its key column's in the bound relation (bigint
-- when nothing is bound)
CREATE FUNCTION loginas._key_type(p_kind text)
	RETURNS regtype
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE((SELECT loginas._atttype_of(b.relation, c.column_name)
					   FROM loginas.binding b
					   JOIN loginas.binding_column c ON c.kind OPERATOR(pg_catalog.=) b.kind AND c.is_key
					  WHERE b.kind OPERATOR(pg_catalog.=) p_kind),
					'pg_catalog.int8'::pg_catalog.regtype)
$$;

-- the spellings of a uuid that the uuid type reads (32 hex digits, a hyphen
-- allowed after the 8th, 12th, 16th and 20th, the whole in braces or not):
-- a key that matches is cast to uuid, one that does not names no row
CREATE FUNCTION loginas._uuid_pattern()
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT '^(\{[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}\}|[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12})$'::pg_catalog.text
$$;

-- a key given as text, canonical for the kind's key type ('042' -> '42' for
-- an integer key, upper-case -> lower-case for uuid); NULL when it is not a
-- value of that type (no row can have it)
CREATE FUNCTION loginas._canon_key(p_kind text, p_key text)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
		WHEN loginas._is_int_type(t) THEN
			-- the rule of src/reader.c key_to_int64: spaces, tabs and newlines
			-- around an optional sign and digits, within the range of bigint
			-- but its lowest value (loginas' mark for "no integer id"; nested
			-- CASEs: the cast runs only on what the pattern took).  A text key
			-- has at most 512 bytes (LOGINAS_MAX_KEY_BYTES).
			CASE WHEN p_key OPERATOR(pg_catalog.~) '^[ \t\n]*[-+]?[0-9]+[ \t\n]*$' THEN
				CASE WHEN pg_catalog.btrim(p_key, E' \t\n')::pg_catalog.numeric
						  BETWEEN -9223372036854775807 AND 9223372036854775807
					 THEN pg_catalog.btrim(p_key, E' \t\n')::pg_catalog.numeric::pg_catalog.int8::pg_catalog.text END
			END
		WHEN t OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype THEN
			CASE WHEN p_key OPERATOR(pg_catalog.~*) loginas._uuid_pattern()
				 THEN p_key::pg_catalog.uuid::pg_catalog.text END
		WHEN pg_catalog.octet_length(p_key) OPERATOR(pg_catalog.<=) 512 THEN p_key
	END
	  FROM loginas._key_type(p_kind) t
$$;

-- "SELECT <the kind's columns, cast to int8/text/bool> FROM <relation>"; an
-- optional column the relation lacks is read as NULL
CREATE OR REPLACE FUNCTION loginas._bound_select(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('SELECT %s FROM %s',
			   pg_catalog.string_agg(
				   CASE WHEN c.is_optional AND NOT EXISTS (
							SELECT FROM pg_catalog.pg_attribute a
							 WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel
							   AND a.attname OPERATOR(pg_catalog.=) c.column_name
							   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
						THEN pg_catalog.format('NULL::pg_catalog.%2$s AS %1$I', c.column_name,
											   CASE c.type_class WHEN 'id' THEN 'int8' ELSE c.type_class END)
						WHEN c.type_class OPERATOR(pg_catalog.=) 'id' THEN pg_catalog.format('%1$I::pg_catalog.%2$s AS %1$I', c.column_name,
							CASE WHEN c.is_key AND NOT loginas._is_int_type(loginas._atttype_of(p_rel, c.column_name))
								 THEN 'text' ELSE 'int8' END)
						WHEN c.type_class OPERATOR(pg_catalog.=) 'text' THEN pg_catalog.format('%1$I::pg_catalog.text AS %1$I', c.column_name)
						ELSE pg_catalog.format('%1$I::pg_catalog.bool AS %1$I', c.column_name)
				   END, ', ' ORDER BY c.position),
			   p_rel)
	  FROM loginas.binding_column c
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
$$;

-- the same by a key as text (any key type; an integer key given as text)
CREATE FUNCTION loginas._lookup(p_kind text, p_key text, p_missing_ok boolean DEFAULT false)
	RETURNS jsonb
	LANGUAGE c STABLE
	AS 'MODULE_PATHNAME', 'loginas_lookup_key';

-- the lookup's parameter ($1: the key as given, int8 or text) as the key
-- column compares it: a uuid column with a uuid (its index usable), NULL when
-- the text is not a uuid (no row, not an error)
CREATE FUNCTION loginas._key_param(p_rel regclass, p_column text)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN loginas._atttype_of(p_rel, p_column) OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype
				THEN pg_catalog.format('(CASE WHEN $1 OPERATOR(pg_catalog.~*) %L THEN $1::pg_catalog.uuid END)',
									   loginas._uuid_pattern())
				ELSE '$1' END
$$;

-- The query loginas._lookup runs (src/reader.c): the rows of p_rel whose key
-- is $1, as one record (jsonb; NULL when there is none) and the name of the
-- column that makes them ambiguous (NULL when they are not).  A kind with one
-- row per key: the row, or its key column when there are two.  A kind with
-- several rows per key (binding_column.combine): its columns combined, or the
-- first 'same' column whose rows disagree (a NULL is a value of its own).
CREATE OR REPLACE FUNCTION loginas._bound_lookup(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN NOT pg_catalog.bool_or(c.combine IS NOT NULL) THEN
		pg_catalog.format(
			'SELECT pg_catalog.jsonb_agg(t) OPERATOR(pg_catalog.->) 0,'
			' CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 THEN %L END'
			' FROM (%s WHERE %I OPERATOR(pg_catalog.=) %s LIMIT 2) t',
			k.column_name, loginas._bound_select(p_kind, p_rel), k.column_name, loginas._key_param(p_rel, k.column_name))
	ELSE
		pg_catalog.format(
			'SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN pg_catalog.jsonb_build_object(%s) END,'
			' %s FROM (%s WHERE %I OPERATOR(pg_catalog.=) %s) t',
			pg_catalog.string_agg(
				pg_catalog.format('%L, ', c.column_name) OPERATOR(pg_catalog.||)
				CASE c.combine
					 WHEN 'all' THEN pg_catalog.format('pg_catalog.bool_and(COALESCE(t.%I, false))', c.column_name)
					 WHEN 'any' THEN pg_catalog.format('pg_catalog.bool_or(COALESCE(t.%I, false))', c.column_name)
					 WHEN 'set' THEN pg_catalog.format(
						'COALESCE(pg_catalog.jsonb_agg(DISTINCT t.%1$I ORDER BY t.%1$I) FILTER (WHERE t.%1$I IS NOT NULL),'
						' ''[]''::pg_catalog.jsonb)', c.column_name)
					 ELSE pg_catalog.format('pg_catalog.min(t.%I)', c.column_name)	-- the key, or 'same'
				END, ', ' ORDER BY c.position),
			COALESCE('CASE ' OPERATOR(pg_catalog.||)
				pg_catalog.string_agg(
					pg_catalog.format('WHEN pg_catalog.count(DISTINCT t.%1$I) OPERATOR(pg_catalog.+)'
									  ' pg_catalog.max(CASE WHEN t.%1$I IS NULL THEN 1 ELSE 0 END)'
									  ' OPERATOR(pg_catalog.>) 1 THEN %2$L', c.column_name, c.column_name),
					' ' ORDER BY c.position) FILTER (WHERE c.combine OPERATOR(pg_catalog.=) 'same')
				OPERATOR(pg_catalog.||) ' END', 'NULL::pg_catalog.text'),
			loginas._bound_select(p_kind, p_rel), k.column_name, loginas._key_param(p_rel, k.column_name))
	END
	  FROM loginas.binding_column c
	  JOIN loginas.binding_column k ON k.kind OPERATOR(pg_catalog.=) c.kind AND k.is_key
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
	 GROUP BY k.column_name
$$;

CREATE OR REPLACE FUNCTION loginas.bind(kind text, relation regclass, by_admin bigint DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	relkind "char";
	relnsp oid;
	atttype oid;
	ok boolean;
BEGIN
	PERFORM loginas._require_writable('loginas.bind()');
	IF NOT EXISTS (SELECT FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized binding kind "%s"', bind.kind), NULL,
			pg_catalog.format('Valid kinds are: %s.',
				(SELECT pg_catalog.string_agg(DISTINCT bc.kind, ', ') FROM loginas.binding_column bc)));
	END IF;
	IF bind.relation IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'relation to bind cannot be NULL');
	END IF;

	SELECT cl.relkind, cl.relnamespace INTO relkind, relnsp
	  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) bind.relation;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		PERFORM loginas._refuse(NULL, '42809',
			pg_catalog.format('"%s" is not a table or view', bind.relation));
	END IF;
	-- loginas reads bound relations as loginas_reader (see _read_bound): the
	-- shop decides what it may read by granting it, explicitly
	IF NOT pg_catalog.has_schema_privilege('loginas_reader', relnsp, 'USAGE') THEN
		PERFORM loginas._refuse(NULL, '42501',
			pg_catalog.format('role "loginas_reader" has no access to schema %s', pg_catalog.quote_ident(relnsp::regnamespace::text)),
			'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
			pg_catalog.format('GRANT USAGE ON SCHEMA %s TO loginas_reader;', pg_catalog.quote_ident(relnsp::regnamespace::text)));
	END IF;

	FOR c IN SELECT bc.column_name, bc.type_class, bc.is_optional, bc.is_key FROM loginas.binding_column bc
			  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind ORDER BY bc.position
	LOOP
		SELECT a.atttypid INTO atttype FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) bind.relation
		   AND a.attname OPERATOR(pg_catalog.=) c.column_name
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND AND c.is_optional THEN
			CONTINUE;		-- an optional column the relation lacks is read as NULL
		END IF;
		IF NOT FOUND THEN
			PERFORM loginas._refuse(NULL, '42703',
				pg_catalog.format('relation "%s" has no column "%s"', bind.relation, c.column_name),
				pg_catalog.format('A "%s" binding needs the columns %s.', bind.kind,
					(SELECT pg_catalog.string_agg(bc.column_name, ', ' ORDER BY bc.position)
					   FROM loginas.binding_column bc
					  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind AND NOT bc.is_optional)));
		END IF;
		IF NOT pg_catalog.has_column_privilege('loginas_reader', bind.relation, c.column_name, 'SELECT') THEN
			PERFORM loginas._refuse(NULL, '42501',
				pg_catalog.format('role "loginas_reader" cannot read column "%s" of relation "%s"', c.column_name, bind.relation),
				'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
				pg_catalog.format('GRANT SELECT ON %s TO loginas_reader;', bind.relation));
		END IF;
		ok := CASE c.type_class
				WHEN 'id' THEN CASE WHEN c.is_key THEN loginas._is_key_type(atttype)
									ELSE loginas._is_int_type(atttype) END
				WHEN 'text' THEN atttype IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype,
											 'pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
				ELSE atttype OPERATOR(pg_catalog.=) 'pg_catalog.bool'::regtype
			  END;
		IF NOT ok THEN
			PERFORM loginas._refuse(NULL, '42804',
				pg_catalog.format('column "%s" of relation "%s" has type %s', c.column_name, bind.relation,
								  pg_catalog.format_type(atttype, NULL)),
				pg_catalog.format('Column "%s" must be %s.', c.column_name,
					CASE WHEN c.type_class OPERATOR(pg_catalog.=) 'id' AND c.is_key AND bind.kind OPERATOR(pg_catalog.=) 'customers'
						 THEN 'an integer (smallint, integer or bigint), text, varchar or uuid'
						 WHEN c.type_class OPERATOR(pg_catalog.=) 'id' THEN 'an integer (smallint, integer or bigint)'
						 WHEN c.type_class OPERATOR(pg_catalog.=) 'text' THEN 'text (text, varchar, char or name)'
						 ELSE 'boolean' END),
				-- a cast to an integer would fail at run time on a key that is not a
				-- number: only suggest casts that cannot fail
				CASE WHEN c.type_class OPERATOR(pg_catalog.=) 'id'
						  AND atttype IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype, 'pg_catalog.uuid'::regtype,
										  'pg_catalog.bpchar'::regtype)
					 THEN pg_catalog.format('Keys of type %s are not supported for this column yet.',
											pg_catalog.format_type(atttype, NULL))
					 ELSE 'Cast it in a view over the table and bind the view.' END);
		END IF;
		-- keys are compared byte for byte: under a nondeterministic collation
		-- (case- or accent-insensitive) one row would answer to several keys
		IF c.is_key AND NOT loginas._deterministic_column(bind.relation, c.column_name) THEN
			PERFORM loginas._refuse(NULL, '0A000',
				pg_catalog.format('key column "%s" of relation "%s" has a nondeterministic collation', c.column_name, bind.relation),
				'A key that several spellings could match would let one row answer to several keys.',
				pg_catalog.format('Bind a view that gives the column a deterministic collation, e.g. %I COLLATE "C".', c.column_name));
		END IF;
	END LOOP;

	PERFORM loginas._check_by_admin(by_admin);
	INSERT INTO loginas.binding AS b (kind, relation, bound_by_admin)
	VALUES (bind.kind, bind.relation, by_admin)
	ON CONFLICT ON CONSTRAINT binding_pkey DO UPDATE
	   SET relation = EXCLUDED.relation, bound_at = pg_catalog.now(),
		   bound_by_admin = EXCLUDED.bound_by_admin, bound_by_role = SESSION_USER;
	PERFORM loginas._invalidate('loginas.binding');
	PERFORM loginas._log('relation_bound', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', bind.kind, 'relation', bind.relation::text));
END
$$;

-- consent and sessions: the customer's key as canonical text (customer_key,
-- the consent's primary key); customer_id kept, filled only for integer keys
ALTER TABLE loginas.consent ADD COLUMN customer_key text;
UPDATE loginas.consent SET customer_key = customer_id::pg_catalog.text;
ALTER TABLE loginas.consent ALTER COLUMN customer_key SET NOT NULL;
ALTER TABLE loginas.consent DROP CONSTRAINT consent_pkey;
ALTER TABLE loginas.consent ADD CONSTRAINT consent_pkey PRIMARY KEY (customer_key);
ALTER TABLE loginas.consent ALTER COLUMN customer_id DROP NOT NULL;

ALTER TABLE loginas.session ADD COLUMN customer_key text;
UPDATE loginas.session SET customer_key = customer_id::pg_catalog.text;
ALTER TABLE loginas.session ALTER COLUMN customer_key SET NOT NULL;
ALTER TABLE loginas.session ALTER COLUMN customer_id DROP NOT NULL;
DROP INDEX loginas.session_live_customer;
CREATE INDEX session_live_customer ON loginas.session (customer_key) WHERE ended_at IS NULL;

-- the log: keys that are not integers (NULL for integer keys, so that every
-- row written so far keeps its canonical text and its hash)
ALTER TABLE loginas.action_log
	ADD COLUMN admin_key text,
	ADD COLUMN customer_key text,
	ADD COLUMN store_key text;
CREATE INDEX action_log_customer_key ON loginas.action_log (customer_key, logged_at) WHERE customer_key IS NOT NULL;

DROP FUNCTION loginas._append(timestamptz, text, text, bigint, text, bigint, text, bigint, bigint, text, text, inet, name, jsonb);
DROP FUNCTION loginas._log(text, text, bigint, bigint, bigint, bigint, text, text, jsonb, inet);
DROP FUNCTION loginas._log_row_hash(bytea, bigint, bigint, bigint, timestamptz, text, text, text, bigint, text, bigint, text, bigint, bigint, text, text, inet, name, jsonb);

-- The second form, for rows with keys that are not integers: the first
-- form's array with admin_key, customer_key and store_key appended.  A row
-- whose three keys are NULL (every row of an integer shop, every row before
-- keys of any type) has the first form: its hash is what it always was.
CREATE FUNCTION loginas._log_content(p_log_id bigint, p_logged_at timestamptz, p_action_group text,
									 p_action text, p_result text, p_admin_id bigint, p_admin_username text,
									 p_customer_id bigint, p_customer_email text, p_session_id bigint,
									 p_store_id bigint, p_source text, p_reason text, p_client_addr inet,
									 p_db_role name, p_details jsonb, p_admin_key text, p_customer_key text,
									 p_store_key text)
	RETURNS text
	LANGUAGE sql STABLE
	AS $$
	SELECT CASE WHEN p_admin_key IS NULL AND p_customer_key IS NULL AND p_store_key IS NULL
		THEN loginas._log_content(p_log_id, p_logged_at, p_action_group, p_action, p_result, p_admin_id,
			p_admin_username, p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
			p_client_addr, p_db_role, p_details)
		ELSE pg_catalog.jsonb_build_array(p_log_id, EXTRACT(epoch FROM p_logged_at), p_action_group, p_action, p_result,
			p_admin_id, p_admin_username, p_customer_id, p_customer_email, p_session_id, p_store_id, p_source, p_reason,
			p_client_addr::pg_catalog.text, p_db_role::pg_catalog.text, p_details,
			p_admin_key, p_customer_key, p_store_key)::pg_catalog.text
	END
$$;

-- append one row to the log, linked into this backend's chain
CREATE FUNCTION loginas._append(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb,
								p_admin_key text DEFAULT NULL, p_customer_key text DEFAULT NULL,
								p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_append';

-- the log writer of loginas' own steps, in C too (src/logappend.c): the
-- username and e-mail read from the bound relations, a session's source,
-- reason and storefront address filled in, then the append
CREATE FUNCTION loginas._log(p_action text, p_result text, p_admin_id bigint, p_customer_id bigint,
							 p_session_id bigint DEFAULT NULL, p_store_id bigint DEFAULT NULL,
							 p_source text DEFAULT NULL, p_reason text DEFAULT NULL,
							 p_details jsonb DEFAULT '{}', p_client_addr inet DEFAULT NULL,
							 p_customer_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log';

-- Verifying: the hash of each row is recomputed by the same C code that
-- appended it (src/logappend.c), from the row's columns, without building a
-- jsonb value: a row is verifiable whatever its size (jsonb_build_array()
-- would overflow on a row with near 256 MB of details).  The text is byte for
-- byte loginas._log_content()'s, so rows of every version verify.
CREATE FUNCTION loginas._log_row_hash(prev_hash bytea, chain_id bigint, chain_seq bigint, log_id bigint,
									  logged_at timestamptz, action_group text, action text, result text,
									  admin_id bigint, admin_username text, customer_id bigint,
									  customer_email text, session_id bigint, store_id bigint, source text,
									  reason text, client_addr inet, db_role name, details jsonb,
									  admin_key text DEFAULT NULL, customer_key text DEFAULT NULL,
									  store_key text DEFAULT NULL)
	RETURNS bytea
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_log_row_hash';

-- A note's details are bounded: at most 64 kB (65,536 bytes) as JSON text,
-- the text the log hashes and the reports render (54000 beyond).  The other
-- texts a row carries are bounded where they enter: a note's action (200
-- characters), begin's reason (1000) and source (200), end reasons (a fixed
-- list); usernames and e-mails read from the shop's views are stored cut to
-- 255 characters (src/logappend.c).
CREATE OR REPLACE FUNCTION loginas.note(action text, details jsonb DEFAULT '{}')
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	size bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.note()');
	IF loginas.current_session() IS NULL THEN
		PERFORM loginas._raise('55000', 'loginas.note() needs a Login as Customer session', NULL,
			'Call it in a transaction that called loginas.assume().');
	END IF;
	IF note.action IS NULL OR pg_catalog.btrim(note.action) OPERATOR(pg_catalog.=) ''
	   OR pg_catalog.length(note.action) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._raise('22023', 'a note needs an action of 1 to 200 characters', NULL, NULL);
	END IF;
	IF note.details IS NULL OR pg_catalog.jsonb_typeof(note.details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM loginas._raise('22023', 'the details of a note must be a JSON object', NULL, NULL);
	END IF;
	size := pg_catalog.octet_length(note.details::pg_catalog.text);
	IF size OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM loginas._raise('54000', 'the details of a note are too large',
			pg_catalog.format('They take %s bytes as JSON text; a note keeps at most 65536 (64 kB).', size),
			'Keep large documents in the shop''s own tables and note a reference to them.');
	END IF;
	-- no note commits after its session's end
	PERFORM loginas._lock_session();
	-- everything the row carries was read by assume() and is in the context
	RETURN loginas._append(pg_catalog.clock_timestamp(), 'note', 'success',
						   loginas.current_admin(), loginas._context_text('admin_username'),
						   loginas.current_customer(), loginas._context_text('customer_email'),
						   loginas.current_session(), loginas.current_store(),
						   loginas._context_text('source'), loginas._context_text('reason'),
						   COALESCE(pg_catalog.inet_client_addr(), loginas._context_text('client_addr')::pg_catalog.inet),
						   SESSION_USER,
						   note.details OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('note', note.action),
						   p_customer_key => CASE WHEN loginas.current_customer() IS NULL THEN loginas.current_customer_key() END);
END
$$;

-- the first row where a chain breaks, or one row saying the log is intact
CREATE OR REPLACE FUNCTION loginas.verify_log()
	RETURNS TABLE (intact boolean, log_id bigint, chain_id bigint, chain_seq bigint, problem text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH r AS (
		SELECT l.log_id, l.chain_id, l.chain_seq, l.prev_hash, l.row_hash,
			   loginas._log_row_hash(l.prev_hash, l.chain_id, l.chain_seq, l.log_id, l.logged_at, l.action_group,
									 l.action, l.result, l.admin_id, l.admin_username, l.customer_id,
									 l.customer_email, l.session_id, l.store_id, l.source, l.reason,
									 l.client_addr, l.db_role, l.details, l.admin_key, l.customer_key,
									 l.store_key) AS computed,
			   pg_catalog.lag(l.chain_seq) OVER w AS before_seq,
			   pg_catalog.lag(l.row_hash) OVER w AS before_hash
		  FROM loginas.action_log l
		WINDOW w AS (PARTITION BY l.chain_id ORDER BY l.chain_seq)
	), problems AS (
		SELECT r.log_id, r.chain_id, r.chain_seq,
			   CASE
				 WHEN NOT EXISTS (SELECT FROM loginas.log_chain c WHERE c.chain_id OPERATOR(pg_catalog.=) r.chain_id)
				   THEN 'the row belongs to no known chain (inserted)'
				 WHEN r.computed OPERATOR(pg_catalog.<>) r.row_hash
				   THEN 'the row does not match its hash (edited)'
				 WHEN r.before_seq IS NULL AND cp.chain_id IS NULL
					  AND (r.chain_seq OPERATOR(pg_catalog.<>) 1
						   OR r.prev_hash OPERATOR(pg_catalog.<>) pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'))
				   THEN 'the beginning of its chain is missing (deleted)'
				 WHEN r.before_seq IS NULL AND cp.chain_id IS NOT NULL
					  AND (r.chain_seq OPERATOR(pg_catalog.<>) (cp.chain_seq OPERATOR(pg_catalog.+) 1)
						   OR r.prev_hash OPERATOR(pg_catalog.<>) cp.row_hash)
				   THEN 'the chain does not continue from its purge checkpoint (deleted)'
				 WHEN r.before_seq IS NOT NULL AND r.chain_seq OPERATOR(pg_catalog.=) r.before_seq
				   THEN 'two rows claim the same place in the chain (inserted)'
				 WHEN r.before_seq IS NOT NULL AND r.chain_seq OPERATOR(pg_catalog.<>) (r.before_seq OPERATOR(pg_catalog.+) 1)
				   THEN 'rows are missing before this one (deleted)'
				 WHEN r.before_seq IS NOT NULL AND r.prev_hash OPERATOR(pg_catalog.<>) r.before_hash
				   THEN 'the row does not follow the one before it (inserted or replaced)'
			   END AS problem
		  FROM r LEFT JOIN loginas.log_checkpoint cp ON cp.chain_id OPERATOR(pg_catalog.=) r.chain_id
	)
	SELECT * FROM (
		SELECT false, p.log_id, p.chain_id, p.chain_seq, p.problem
		  FROM problems p WHERE p.problem IS NOT NULL
		 ORDER BY p.log_id LIMIT 1) broken
	UNION ALL
	SELECT true, NULL::bigint, NULL::bigint, NULL::bigint, 'intact'
	 WHERE NOT EXISTS (SELECT FROM problems p WHERE p.problem IS NOT NULL)
$$;

DROP FUNCTION loginas._set_assistance(bigint, boolean, timestamptz, bigint);

-- the one implementation behind both callers below
CREATE FUNCTION loginas._set_assistance(p_customer_key text, p_allowed boolean,
										p_valid_until timestamptz, p_by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	prev loginas.consent;
	s record;
	p_customer_id bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.set_assistance()');
	IF p_customer_key IS NULL OR p_allowed IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'customer_id and allowed cannot be NULL');
	END IF;
	IF loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '42501',
			'remote shopping assistance cannot be changed in a Login as Customer session',
			'Only the customer, or an admin with the "manage_assistance" resource from the admin backend, may change it.');
	END IF;
	IF loginas._lookup('customers', p_customer_key) IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'Customer with this ID no longer exists.',
			pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_key));
	END IF;
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF p_customer_key IS NULL THEN
		-- (the lookup and _canon_key read keys by one rule: not reached)
		PERFORM loginas._refuse(NULL, '22023', 'customer_id is not a key of the customers binding');
	END IF;
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	IF NOT p_allowed AND p_valid_until IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'valid_until applies only when assistance is allowed');
	END IF;
	IF p_valid_until IS NOT NULL AND p_valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('valid_until must be in the future, not %s', p_valid_until));
	END IF;

	SELECT * INTO prev FROM loginas.consent c WHERE c.customer_key OPERATOR(pg_catalog.=) p_customer_key FOR UPDATE;
	INSERT INTO loginas.consent AS c (customer_id, customer_key, allowed, valid_until, changed_by_admin)
	VALUES (p_customer_id, p_customer_key, p_allowed, p_valid_until, p_by_admin)
	ON CONFLICT ON CONSTRAINT consent_pkey DO UPDATE
	   SET customer_id = EXCLUDED.customer_id, allowed = EXCLUDED.allowed, valid_until = EXCLUDED.valid_until, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER;

	-- no row means not allowed: "revoking" what was never given changes nothing
	IF COALESCE(prev.allowed, false) IS DISTINCT FROM p_allowed OR prev.valid_until IS DISTINCT FROM p_valid_until THEN
		PERFORM loginas._log(CASE WHEN p_allowed THEN 'consent_granted' ELSE 'consent_revoked' END, 'success',
							 p_by_admin, p_customer_id,
							 p_details => pg_catalog.jsonb_build_object(
								'valid_until', p_valid_until,
								'by', CASE WHEN p_by_admin IS NULL THEN 'customer' ELSE 'admin' END),
							 p_customer_key => p_customer_key);
	END IF;

	IF NOT p_allowed THEN
		FOR s IN SELECT ls.session_id FROM loginas.session ls
				  WHERE ls.customer_key OPERATOR(pg_catalog.=) p_customer_key AND ls.ended_at IS NULL
				  ORDER BY ls.session_id
		LOOP
			PERFORM loginas._end_session(s.session_id, 'consent_revoked', p_by_admin);
		END LOOP;
	END IF;
	RETURN p_allowed;
END
$$;

CREATE OR REPLACE FUNCTION loginas.set_assistance_as_customer(customer_id bigint, allowed boolean,
												   valid_until timestamptz DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id::pg_catalog.text, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL);
END
$$;

CREATE OR REPLACE FUNCTION loginas.set_assistance_as_admin(customer_id bigint, allowed boolean,
												valid_until timestamptz, by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF set_assistance_as_admin.by_admin IS NULL THEN
		PERFORM loginas._raise('22023', 'by_admin cannot be NULL',
			'set_assistance_as_admin() is an admin''s change on the customer''s behalf.', NULL);
	END IF;
	PERFORM loginas._check_by_admin(set_assistance_as_admin.by_admin);
	IF NOT loginas.permitted(set_assistance_as_admin.by_admin, 'manage_assistance') THEN
		PERFORM loginas._refuse(NULL, '42501', 'You have no permission to change Opt-In preference.',
			pg_catalog.format('Admin user %s does not have the "manage_assistance" resource, or is inactive.', set_assistance_as_admin.by_admin),
			'Grant the resource to the admin''s role with loginas.grant(role, ''manage_assistance'').');
	END IF;
	RETURN loginas._set_assistance(set_assistance_as_admin.customer_id::pg_catalog.text, set_assistance_as_admin.allowed,
								   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin);
END
$$;

CREATE OR REPLACE FUNCTION loginas.assistance_allowed(customer_id bigint)
	RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT c.allowed AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FROM loginas.consent c
		  WHERE c.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', assistance_allowed.customer_id::pg_catalog.text)),
		false)
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.set_assistance_as_customer(customer_id text, allowed boolean,
												   valid_until timestamptz DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL);
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.set_assistance_as_admin(customer_id text, allowed boolean,
												valid_until timestamptz, by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF set_assistance_as_admin.by_admin IS NULL THEN
		PERFORM loginas._raise('22023', 'by_admin cannot be NULL',
			'set_assistance_as_admin() is an admin''s change on the customer''s behalf.', NULL);
	END IF;
	PERFORM loginas._check_by_admin(set_assistance_as_admin.by_admin);
	IF NOT loginas.permitted(set_assistance_as_admin.by_admin, 'manage_assistance') THEN
		PERFORM loginas._refuse(NULL, '42501', 'You have no permission to change Opt-In preference.',
			pg_catalog.format('Admin user %s does not have the "manage_assistance" resource, or is inactive.', set_assistance_as_admin.by_admin),
			'Grant the resource to the admin''s role with loginas.grant(role, ''manage_assistance'').');
	END IF;
	RETURN loginas._set_assistance(set_assistance_as_admin.customer_id, set_assistance_as_admin.allowed,
								   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin);
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.set_assistance(customer_id text, allowed boolean,
									   valid_until timestamptz DEFAULT NULL, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF by_admin IS NULL THEN
		RETURN loginas.set_assistance_as_customer(customer_id, allowed, valid_until);
	END IF;
	RETURN loginas.set_assistance_as_admin(customer_id, allowed, valid_until, by_admin);
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.assistance_allowed(customer_id text)
	RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT c.allowed AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FROM loginas.consent c
		  WHERE c.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', assistance_allowed.customer_id)),
		false)
$$;

CREATE OR REPLACE FUNCTION loginas._end_session(p_session_id bigint, p_reason text, p_by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
BEGIN
	-- FOR UPDATE waits for transactions acting in the session (they hold
	-- FOR KEY SHARE from loginas.assume) and re-reads the row afterwards
	SELECT * INTO s FROM loginas.session
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id AND ended_at IS NULL
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE loginas.session
	   SET ended_at = pg_catalog.now(), end_reason = p_reason,
		   ended_by_admin = p_by_admin, ended_by_role = SESSION_USER
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id;
	PERFORM loginas._log('session_ended', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('end_reason', p_reason,
													   'redeemed', s.redeemed_at IS NOT NULL,
													   'ended_by_admin', p_by_admin),
						 p_customer_key => s.customer_key);
	PERFORM loginas._context_clear_session(p_session_id);
	RETURN true;
END
$$;

DROP FUNCTION loginas._evaluate(bigint, bigint, boolean);
DROP FUNCTION loginas._begin(bigint, bigint, bigint, text, text, text, bigint, boolean, inet);
DROP FUNCTION loginas.redeem(text, inet);

CREATE FUNCTION loginas._evaluate(p_admin_id bigint, p_customer_id text, p_lock boolean DEFAULT false)
	RETURNS loginas._verdict
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	c loginas.consent;
	has_login boolean;
	enabled boolean;
BEGIN
	IF p_admin_id IS NULL OR p_customer_id IS NULL THEN
		v.code := 'invalid'; v.sqlstate := '22023';
		v.message := 'admin_id and customer_id cannot be NULL';
		RETURN v;
	END IF;
	IF p_lock THEN
		PERFORM FROM loginas.setting st
		  WHERE st.name OPERATOR(pg_catalog.=) 'enabled' AND st.value OPERATOR(pg_catalog.=) 'on'
		    FOR SHARE;
		enabled := FOUND;
	ELSE
		enabled := loginas._get_setting('enabled') OPERATOR(pg_catalog.=) 'on';
	END IF;
	IF NOT enabled THEN
		v.code := 'feature_disabled'; v.sqlstate := '55000';
		v.message := 'Login as Customer is disabled.';
		v.hint := 'Enable it with loginas.configure(''enabled'', ''on'').';
		RETURN v;
	END IF;

	v.admin := loginas._lookup('admins', p_admin_id);
	IF v.admin IS NULL THEN
		v.code := 'admin_inactive'; v.sqlstate := '22023';
		v.message := pg_catalog.format('admin user %s does not exist', p_admin_id);
		v.detail := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_admin_id);
		RETURN v;
	END IF;
	IF NOT COALESCE((v.admin OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'admin_inactive'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is inactive', v.admin OPERATOR(pg_catalog.->>) 'username');
		v.detail := 'Only active admin users can use Login as Customer.';
		RETURN v;
	END IF;
	-- an admin has a row per role: any of its roles may have the resource
	-- (the lock: every one of them that has it, so that revoking it from one
	-- of them waits as well)
	IF p_lock THEN
		PERFORM FROM loginas.role_resource r
		  WHERE r.role OPERATOR(pg_catalog.=) ANY (loginas._roles(v.admin))
		    AND r.resource OPERATOR(pg_catalog.=) 'login'
		    FOR SHARE;
		has_login := FOUND;
	ELSE
		has_login := loginas._roles_have(v.admin, 'login');
	END IF;
	IF NOT has_login THEN
		v.code := 'permission_revoked'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is not allowed to login as a customer',
									   v.admin OPERATOR(pg_catalog.->>) 'username');
		SELECT l.detail, l.hint INTO v.detail, v.hint
		  FROM loginas._roles_lack(v.admin, 'login', 'Allow Login as Customer') l;
		RETURN v;
	END IF;

	v.customer := loginas._lookup('customers', p_customer_id);
	IF v.customer IS NULL THEN
		v.code := 'customer_inactive'; v.sqlstate := '22023';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_id);
		RETURN v;
	END IF;
	-- a guest (is_guest, an optional column of the customers binding) is a
	-- customer row without an account
	IF COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_guest')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := pg_catalog.format('cannot login as customer %s: the customer is a guest', p_customer_id);
		v.detail := 'Guest customers have no account to log in to.';
		RETURN v;
	END IF;
	IF NOT COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('Customer account %s is inactive.', p_customer_id);
		RETURN v;
	END IF;

	IF p_lock THEN
		SELECT * INTO c FROM loginas.consent cs
		 WHERE cs.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', p_customer_id) AND cs.allowed
		   AND (cs.valid_until IS NULL OR cs.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FOR SHARE;
	END IF;
	IF c.customer_key IS NULL THEN
		SELECT * INTO c FROM loginas.consent
		 WHERE customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', p_customer_id);
	END IF;
	IF c.customer_key IS NULL OR NOT c.allowed THEN
		v.code := 'consent_revoked'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := 'The customer has not allowed remote shopping assistance.';
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	IF c.valid_until IS NOT NULL AND c.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		v.code := 'consent_expired'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := pg_catalog.format('The customer''s permission expired at %s.', c.valid_until);
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION loginas.check(admin_id bigint, customer_id bigint,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id, "check".customer_id::pg_catalog.text);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.check(admin_id bigint, customer_id text,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id, "check".customer_id);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;

CREATE OR REPLACE FUNCTION loginas.store_choices(admin_id bigint, customer_id bigint)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate(store_choices.admin_id, store_choices.customer_id::pg_catalog.text);
BEGIN
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, v.sqlstate, v.message, v.detail, v.hint);
	END IF;
	RETURN QUERY
	SELECT (sv OPERATOR(pg_catalog.->>) 'store_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'name',
		   (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'website_name',
		   (sv OPERATOR(pg_catalog.->>) 'is_active')::boolean
		   AND (loginas._get_setting('account_sharing') OPERATOR(pg_catalog.=) 'global'
				OR (v.customer OPERATOR(pg_catalog.->) 'website_id')
				   OPERATOR(pg_catalog.@>) (sv OPERATOR(pg_catalog.->) 'website_id'))
	  FROM loginas._store_views() sv
	 ORDER BY 3, 1;
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.store_choices(admin_id bigint, customer_id text)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate(store_choices.admin_id, store_choices.customer_id);
BEGIN
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, v.sqlstate, v.message, v.detail, v.hint);
	END IF;
	RETURN QUERY
	SELECT (sv OPERATOR(pg_catalog.->>) 'store_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'name',
		   (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint,
		   sv OPERATOR(pg_catalog.->>) 'website_name',
		   (sv OPERATOR(pg_catalog.->>) 'is_active')::boolean
		   AND (loginas._get_setting('account_sharing') OPERATOR(pg_catalog.=) 'global'
				OR (v.customer OPERATOR(pg_catalog.->) 'website_id')
				   OPERATOR(pg_catalog.@>) (sv OPERATOR(pg_catalog.->) 'website_id'))
	  FROM loginas._store_views() sv
	 ORDER BY 3, 1;
END
$$;

-- shared by begin and begin_from
CREATE FUNCTION loginas._begin(p_admin_id bigint, p_customer_key text, p_store_id bigint, p_reason text,
							   p_source text, p_source_kind text, p_source_document_id bigint,
							   p_read_only boolean, p_client_addr inet)
	RETURNS loginas.ticket
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	st jsonb;
	prior record;
	new_id bigint;
	attempt int := 0;
	constraint_name text;
	t loginas.ticket;
	p_customer_id bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.begin()');
	p_reason := NULLIF(pg_catalog.btrim(p_reason), '');
	IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._refuse('begin', '22023', 'reason is too long', 'At most 1000 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF p_source IS NOT NULL AND pg_catalog.length(p_source) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._refuse('begin', '22023', 'source is too long', 'At most 200 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;

	v := loginas._evaluate(p_admin_id, p_customer_key, true);
	IF v.code IS NULL THEN
		p_customer_key := loginas._canon_key('customers', p_customer_key);
		IF loginas._is_int_type(loginas._key_type('customers')) THEN
			p_customer_id := p_customer_key::pg_catalog.int8;
		END IF;
	ELSIF loginas._is_int_type(loginas._key_type('customers')) THEN
		-- (the refusal log keeps integer customer ids only, for now)
		p_customer_id := loginas._canon_key('customers', p_customer_key)::pg_catalog.int8;
	END IF;
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_id);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	t.store_id := (st OPERATOR(pg_catalog.->>) 'store_id')::bigint;

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_id OPERATOR(pg_catalog.=) p_admin_id AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_id);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, customer_key, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr)
			VALUES (p_admin_id, p_customer_id, p_customer_key, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind, p_source_document_id,
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()))
			RETURNING session_id INTO new_id;
			EXIT;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent begin by the same admin committed first: end it too
			-- (READ COMMITTED sees it in the next round; a transaction-wide
			-- snapshot never will, so that caller must retry the transaction)
			GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
			IF constraint_name OPERATOR(pg_catalog.<>) 'session_one_live_per_admin' THEN
				RAISE;
			END IF;
			IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed'
			   OR attempt OPERATOR(pg_catalog.>=) 5 THEN
				PERFORM loginas._refuse('begin', '40001',
					'could not begin Login as Customer: a concurrent begin by the same admin committed first',
					'An admin has one live ticket or session at a time.', 'Retry the transaction.',
					p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
			END IF;
		END;
	END LOOP;

	PERFORM loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr, p_customer_key);
	RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION loginas.begin(admin_id bigint, customer_id bigint, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id, "begin".customer_id::pg_catalog.text, "begin".store_id, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.begin(admin_id bigint, customer_id text, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id, "begin".customer_id, "begin".store_id, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;

CREATE OR REPLACE FUNCTION loginas.begin_from(admin_id bigint, document_kind text, document_id bigint,
								   store_id bigint DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	binding_kind text := CASE begin_from.document_kind
							WHEN 'order' THEN 'orders' WHEN 'invoice' THEN 'invoices'
							WHEN 'shipment' THEN 'shipments' WHEN 'credit_memo' THEN 'credit_memos' END;
	label text := pg_catalog.replace(begin_from.document_kind, '_', ' ');
	doc jsonb;
BEGIN
	IF binding_kind IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('unrecognized document kind "%s"', begin_from.document_kind), NULL,
			'Valid kinds are: order, invoice, shipment, credit_memo.', begin_from.admin_id,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	doc := loginas._lookup(binding_kind, begin_from.document_id);
	IF doc IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('%s %s does not exist', label, begin_from.document_id),
			pg_catalog.format('No row of %s has document_id %s.', loginas._bound_relation(binding_kind),
							  begin_from.document_id), NULL, begin_from.admin_id,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	IF doc OPERATOR(pg_catalog.->>) 'customer_id' IS NULL THEN
		PERFORM loginas._refuse('begin', '55000',
			pg_catalog.format('cannot login as the customer of %s %s: it belongs to a guest', label,
							  doc OPERATOR(pg_catalog.->>) 'reference'),
			'Guest orders have no customer account to log in to.', NULL, begin_from.admin_id,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	RETURN loginas._begin(begin_from.admin_id, doc OPERATOR(pg_catalog.->>) 'customer_id',
								 begin_from.store_id, begin_from.reason,
								 pg_catalog.format('%s %s', label, doc OPERATOR(pg_catalog.->>) 'reference'),
								 begin_from.document_kind, begin_from.document_id, begin_from.read_only,
								 begin_from.client_addr);
END
$$;

CREATE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz, customer_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
	invalid constant text := 'Login as Customer ticket is invalid or has expired.';
	hint constant text := 'Start Login as Customer again from the admin panel.';
BEGIN
	PERFORM loginas._require_writable('loginas.redeem()');
	SELECT * INTO s FROM loginas.session ls
	 WHERE ls.ticket_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(redeem.token, ''))
	   FOR UPDATE;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'No ticket matches the given token.', hint,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.redeemed_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'The ticket has already been used.', hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;

	v := loginas._evaluate(s.admin_id, s.customer_key, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_id);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	PERFORM loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr, s.customer_key);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	customer_key := s.customer_key;
	store_id := s.store_id;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION loginas.expire()
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	v loginas._verdict;
	why text;
	problem text;
	state text;
	n integer := 0;
BEGIN
	PERFORM loginas._require_writable('loginas.expire()');
	FOR s IN SELECT ls.session_id, ls.admin_id, ls.customer_id, ls.customer_key,
					(ls.redeemed_at IS NULL AND ls.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
					OR ls.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
			   FROM loginas.session ls
			  WHERE ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF s.is_expired THEN
			why := 'expired';
		ELSE
			BEGIN
				v := loginas._evaluate(s.admin_id, s.customer_key);
				why := v.code;
			EXCEPTION
				WHEN serialization_failure OR deadlock_detected THEN
					RAISE;
				WHEN OTHERS THEN
					-- a session whose conditions cannot be read (a bound view that
					-- fails, rows of one admin that disagree) is left as it is
					-- (assume() refuses it the same way); the others are checked
					GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
					RAISE WARNING 'loginas: session % was not checked: %', s.session_id, problem
						USING DETAIL = pg_catalog.format('SQLSTATE %s.', state),
							  HINT = 'Fix the bound relation; loginas.expire() checks the session again next time.';
					why := NULL;
			END;
		END IF;
		IF why IS NOT NULL AND loginas._end_session(s.session_id, why) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

DROP FUNCTION loginas._context_set(bigint, bigint, bigint, bigint, boolean, text, text, text, text, text, text);

CREATE FUNCTION loginas._context_set(session_id bigint, admin_id bigint, customer_id bigint,
									 store_id bigint, read_only boolean, banner text,
									 admin_username text, customer_email text, source text,
									 reason text, client_addr text, customer_key text)
	RETURNS void LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_context_set';

-- the customer's key, of any type, as text (current_customer() is NULL when
-- customers do not have integer keys)
CREATE FUNCTION loginas.current_customer_key() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_customer_key';

CREATE OR REPLACE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	hint constant text := 'Log the customer out of the storefront; the admin can start Login as Customer again.';
BEGIN
	-- FOR KEY SHARE: ending this session (FOR UPDATE) waits until this
	-- transaction is over, so no write under a session ended meanwhile commits
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		-- a read-only transaction writes nothing, so needs no lock (and could not take one)
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''))
		   FOR KEY SHARE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.', hint);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s ended at %s (%s).', s.session_id, s.ended_at, s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id);
	END IF;

	v := loginas._evaluate(s.admin_id, s.customer_key);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_id);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text, s.customer_key);
	RETURN s.session_id;
END
$$;

CREATE OR REPLACE FUNCTION loginas._track_info(p_relid oid)
	RETURNS TABLE (relname text, customer_attnum int2, customer_type oid, created_attnum int2,
				   changed_attnum int2, pk_attnums int2[], protected_attnums int2[],
				   fk_attnums int2[], parent_lookups text[], chain oid[],
				   problem text, problem_detail text, problem_hint text, problem_code text,
				   route_attnums int2[], route_nattnums int4[], route_lookups text[],
				   route_relations oid[], route_referrers boolean[], route_nlookups int4[],
				   stamp_table boolean, stamp_rows boolean)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	r record;
	attnums int2[];
BEGIN
	SELECT tr.* INTO t FROM loginas.tracked tr
	 WHERE tr.relation OPERATOR(pg_catalog.=) p_relid
		OR tr.relation OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p_relid) a))
	 ORDER BY tr.relation OPERATOR(pg_catalog.=) p_relid DESC LIMIT 1;
	IF t.relation IS NULL THEN
		RETURN;
	END IF;
	relname := t.relation::text;
	chain := ARRAY[t.relation::oid];
	-- the stamps: two columns of the table, or rows of loginas.row_stamp
	-- (stamp_rows: whether the table has any there, for the trigger's fast
	-- path outside sessions)
	stamp_table := t.stamps OPERATOR(pg_catalog.=) 'table';
	IF stamp_table THEN
		created_attnum := 0;
		changed_attnum := 0;
		stamp_rows := EXISTS (SELECT FROM loginas.row_stamp s WHERE s.relation OPERATOR(pg_catalog.=) t.relation);
	ELSE
		created_attnum := loginas._attnum(p_relid::regclass, t.created_column);
		changed_attnum := loginas._attnum(p_relid::regclass, t.changed_column);
		stamp_rows := false;
	END IF;
	pk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(loginas._pk_columns(t.relation)) WITH ORDINALITY u(c, o) ORDER BY o);
	protected_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, p.column_name)
								 FROM loginas.protected_column p
								WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY 1);
	IF t.customer_column IS NOT NULL THEN
		customer_attnum := loginas._attnum(p_relid::regclass, t.customer_column);
		customer_type := loginas._atttype(p_relid::regclass, customer_attnum);
	END IF;
	-- stamp columns gone (a schema tool that does not know them drops them):
	-- no write in a session until track() adds them again
	IF NOT stamp_table AND (created_attnum OPERATOR(pg_catalog.=) 0 OR changed_attnum OPERATOR(pg_catalog.=) 0) THEN
		problem := CASE WHEN created_attnum OPERATOR(pg_catalog.=) 0 AND changed_attnum OPERATOR(pg_catalog.=) 0
						THEN pg_catalog.format('the stamp columns of %s were dropped', t.relation)
						ELSE pg_catalog.format('the stamp column "%s" of %s was dropped',
											   CASE WHEN created_attnum OPERATOR(pg_catalog.=) 0
													THEN t.created_column ELSE t.changed_column END, t.relation) END;
		problem_detail := pg_catalog.format('The table keeps its Login as Customer stamps in the columns "%s" and "%s",'
			' which loginas.track() added; a schema tool that does not know them drops them (renaming one has the same'
			' effect). Writes in sessions are refused until they are back; writes outside sessions go on.',
			t.created_column, t.changed_column);
		problem_hint := pg_catalog.format('Add them again with SELECT loginas.%s(%L, %s => %L%s); the tracking and its'
			' protected columns are kept. Or add stamps => ''table'' to that call to keep the stamps in loginas.row_stamp,'
			' where schema tools do not see them.',
			CASE WHEN t.customer_column IS NULL AND t.parent IS NULL THEN 'track_through' ELSE 'track' END,
			t.relation::text,
			CASE WHEN t.customer_column IS NOT NULL THEN 'customer_column'
				 WHEN t.parent IS NOT NULL THEN 'parent' ELSE 'via' END,
			COALESCE(t.customer_column::text, t.parent::text,
					 (SELECT pg_catalog.array_agg(DISTINCT p.via::text ORDER BY p.via::text)::text FROM loginas.owner_path p
					   WHERE p.relation OPERATOR(pg_catalog.=) t.relation)),
			CASE WHEN t.created_column OPERATOR(pg_catalog.=) 'loginas_created_session'
					  AND t.changed_column OPERATOR(pg_catalog.=) 'loginas_changed_session' THEN ''
				 ELSE pg_catalog.format(', created_column => %L, changed_column => %L', t.created_column, t.changed_column) END);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- a tracked column renamed, dropped or retyped since track(): in a session
	-- every write is refused rather than guessed at (the trigger raises the
	-- problem); the stamps must stay bigint, the customer column of the customers' key type class
	IF (NOT stamp_table
		AND (loginas._atttype(p_relid::regclass, created_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
			 OR loginas._atttype(p_relid::regclass, changed_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype))
	   OR (t.customer_column IS NOT NULL AND NOT loginas._customer_column_type_ok(customer_type))
	   OR customer_attnum OPERATOR(pg_catalog.=) 0 OR pk_attnums IS NULL
	   OR 0 OPERATOR(pg_catalog.=) ANY (pk_attnums) OR 0 OPERATOR(pg_catalog.=) ANY (protected_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A tracked, stamp, key or protected column was renamed, dropped or retyped, or the primary key changed.';
		problem_hint := 'Track the table again with loginas.track(), and protect its columns again.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	IF t.customer_column IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;

	-- a row that reaches its customer through other tracked tables: the
	-- routes of lookups from it, all followed (src/containment.c)
	route_attnums := ARRAY[]::int2[];
	route_nattnums := ARRAY[]::int4[];
	route_lookups := ARRAY[]::text[];
	route_relations := ARRAY[]::oid[];
	route_referrers := ARRAY[]::boolean[];
	route_nlookups := ARRAY[]::int4[];
	FOR r IN SELECT * FROM loginas._owner_routes(t.relation, 0) LOOP
		IF r.problem IS NOT NULL THEN
			chain := chain OPERATOR(pg_catalog.||) r.relations;
			problem := r.problem;
			problem_detail := r.problem_detail;
			problem_hint := r.problem_hint;
			problem_code := r.problem_code;
			RETURN NEXT;
			RETURN;
		END IF;
		attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						   FROM pg_catalog.unnest(r.params) WITH ORDINALITY u(c, o) ORDER BY o);
		IF 0 OPERATOR(pg_catalog.=) ANY (attnums) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
			problem_detail := 'A column of a foreign key on the way to its customer was renamed or dropped.';
			problem_hint := 'Track the table again with loginas.track().';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		route_attnums := route_attnums OPERATOR(pg_catalog.||) attnums;
		route_nattnums := route_nattnums OPERATOR(pg_catalog.||) pg_catalog.cardinality(attnums);
		route_lookups := route_lookups OPERATOR(pg_catalog.||) r.lookups;
		route_relations := route_relations OPERATOR(pg_catalog.||) r.relations;
		route_referrers := route_referrers OPERATOR(pg_catalog.||) r.referrers;
		route_nlookups := route_nlookups OPERATOR(pg_catalog.||) pg_catalog.cardinality(r.lookups);
		chain := chain OPERATOR(pg_catalog.||) r.relations;
	END LOOP;
	IF pg_catalog.cardinality(route_nlookups) OPERATOR(pg_catalog.=) 0 THEN
		problem := pg_catalog.format('table %s has no way left to its customer', t.relation);
		problem_detail := 'The tracked tables it reached its customer through are no longer tracked.';
		problem_hint := pg_catalog.format('Track %s again with loginas.track() or loginas.track_through().', t.relation);
		problem_code := '55000';
	END IF;
	RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION loginas._owner_routes(p_relation regclass, p_depth int)
	RETURNS TABLE (params name[], lookups text[], relations oid[], referrers boolean[],
				   problem text, problem_detail text, problem_hint text, problem_code text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p record;
	v loginas.tracked;
	r record;
	cond text;
	untrusted text;
	tail text;
	j int;
BEGIN
	IF p_depth OPERATOR(pg_catalog.>) 16 THEN
		problem := pg_catalog.format('the way from %s to its customer is too long or circular', p_relation);
		problem_detail := 'loginas follows at most 16 tracked tables from a row to its customer.';
		problem_hint := 'Track the tables on the way with a shorter path.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	FOR p IN SELECT * FROM loginas._owner_paths(p_relation) LOOP
		-- with a problem too: the tables whose change may solve it
		relations := ARRAY[p.via::pg_catalog.oid];
		SELECT tr.* INTO v FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) p.via;
		IF v.relation IS NULL THEN
			problem := CASE WHEN p_depth OPERATOR(pg_catalog.=) 0 AND NOT p.referrer
							THEN pg_catalog.format('the parent of %s is no longer tracked', p_relation)
							ELSE pg_catalog.format('a table on the parent chain of %s is no longer tracked', p_relation) END;
			problem_detail := 'A child table reaches its customer through its tracked parent.';
			problem_hint := 'Track the parent again, or track the table with its own customer column.';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		IF EXISTS (SELECT FROM pg_catalog.unnest(p.columns) c
					WHERE loginas._attnum(p_relation, c) OPERATOR(pg_catalog.=) 0)
		   OR EXISTS (SELECT FROM pg_catalog.unnest(p.via_columns) c
					   WHERE loginas._attnum(p.via, c) OPERATOR(pg_catalog.=) 0) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', p_relation);
			problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
			problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', p_relation);
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		-- every relation a lookup reads is still a table (a table owner cannot
		-- turn a tracked table into a view, but this does not rely on it)
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c
						WHERE c.oid OPERATOR(pg_catalog.=) p.via AND c.relkind IN ('r', 'p')) THEN
			problem := pg_catalog.format('the parent chain of %s holds a relation that is not a table', p_relation);
			problem_detail := 'loginas reads the parents of a child row only from tables.';
			problem_hint := 'Track the parents again with loginas.track().';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		untrusted := COALESCE(loginas._untrusted_column(p_relation, p.columns),
							  loginas._untrusted_column(p.via, p.via_columns));
		IF untrusted IS NOT NULL THEN
			problem := untrusted;
			problem_detail := 'loginas compares the columns that tie a child row to its customer, so they must have'
							  ' built-in types: the casts, operators and checks of a type of the shop''s own are'
							  ' code loginas does not run.';
			problem_hint := 'Give the column a built-in type (for a domain, its base type).';
			problem_code := '42804';
			RETURN NEXT;
			RETURN;
		END IF;
		cond := '';
		FOR j IN 1 .. pg_catalog.array_length(p.via_columns, 1) LOOP
			cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
					OPERATOR(pg_catalog.||) pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', p.via_columns[j], j);
		END LOOP;
		tail := CASE WHEN p.referrer THEN ' LIMIT 2 FOR SHARE' ELSE ' FOR SHARE' END;
		IF v.customer_column IS NOT NULL THEN
			IF loginas._attnum(p.via, v.customer_column) OPERATOR(pg_catalog.=) 0
			   OR NOT loginas._customer_column_type_ok(loginas._atttype(p.via, loginas._attnum(p.via, v.customer_column))) THEN
				problem := pg_catalog.format('the tracking of %s no longer matches its columns', p.via);
				problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed, dropped or retyped.';
				problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', p.via);
				problem_code := '55000';
				RETURN NEXT;
				RETURN;
			END IF;
			params := p.columns;
			-- the customer as int8 (an integer column) or text (any other key type)
			lookups := ARRAY[pg_catalog.format('SELECT t.%I::pg_catalog.%s FROM %s t WHERE %s%s',
											   v.customer_column,
											   CASE WHEN loginas._is_int_type(loginas._atttype(p.via, loginas._attnum(p.via, v.customer_column)))
													THEN 'int8' ELSE 'text' END,
											   loginas._chain_relation(p.via), cond, tail)];
			relations := ARRAY[p.via::pg_catalog.oid];
			referrers := ARRAY[p.referrer];
			RETURN NEXT;
			CONTINUE;
		END IF;
		FOR r IN SELECT * FROM loginas._owner_routes(p.via, p_depth OPERATOR(pg_catalog.+) 1) LOOP
			IF r.problem IS NOT NULL THEN
				params := NULL;
				lookups := NULL;
				relations := p.via::pg_catalog.oid OPERATOR(pg_catalog.||) r.relations;
				referrers := NULL;
				problem := r.problem;
				problem_detail := r.problem_detail;
				problem_hint := r.problem_hint;
				problem_code := r.problem_code;
				RETURN NEXT;
				RETURN;
			END IF;
			params := p.columns;
			lookups := ARRAY[pg_catalog.format('SELECT %s FROM %s t WHERE %s%s',
				(SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o)
				   FROM pg_catalog.unnest(r.params) WITH ORDINALITY u(c, o)),
				loginas._chain_relation(p.via), cond, tail)] OPERATOR(pg_catalog.||) r.lookups;
			relations := p.via::pg_catalog.oid OPERATOR(pg_catalog.||) r.relations;
			referrers := p.referrer OPERATOR(pg_catalog.||) r.referrers;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION loginas.track(relation regclass, customer_column name,
							  created_column name DEFAULT 'loginas_created_session',
							  changed_column name DEFAULT 'loginas_changed_session',
							  stamps text DEFAULT 'columns')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	typ oid;
BEGIN
	PERFORM loginas._prepare_tracking(track.relation);
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) track.relation AND a.attname OPERATOR(pg_catalog.=) track.customer_column
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		PERFORM loginas._raise('42703',
			pg_catalog.format('column "%s" of relation %s does not exist', track.customer_column, track.relation), NULL, NULL);
	END IF;
	-- the customer column has the type class of the customers' key: an
	-- integer for integer keys; text, varchar or uuid otherwise
	IF NOT loginas._customer_column_type_ok(typ) THEN
		PERFORM loginas._raise('42804',
			pg_catalog.format('customer column "%s" of %s has type %s', track.customer_column, track.relation,
							  pg_catalog.format_type(typ, NULL)),
			CASE WHEN loginas._is_int_type(loginas._key_type('customers'))
				 THEN 'The customer column must be an integer (smallint, integer or bigint).'
				 ELSE 'The customer column must be an integer, text, varchar or uuid.' END, NULL);
	END IF;
	PERFORM loginas._choose_stamps(track.relation, track.stamps, track.created_column, track.changed_column,
								   ARRAY[track.customer_column]);
	INSERT INTO loginas.tracked AS t (relation, customer_column, created_column, changed_column, stamps)
	VALUES (track.relation, track.customer_column,
			CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'columns' THEN track.created_column END,
			CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'columns' THEN track.changed_column END, track.stamps)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = EXCLUDED.customer_column, parent = NULL, fk_columns = NULL, parent_columns = NULL,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column,
		   stamps = EXCLUDED.stamps;
	PERFORM loginas._install_triggers(track.relation, track.created_column, track.changed_column);
	PERFORM loginas._invalidate(track.relation);
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track.relation::text,
																	'customer_column', track.customer_column)
									  OPERATOR(pg_catalog.||) CASE WHEN track.stamps OPERATOR(pg_catalog.=) 'table'
										THEN pg_catalog.jsonb_build_object('stamps', 'table') ELSE '{}'::pg_catalog.jsonb END);
END
$$;

-- by a customer key that is not an integer (the log's customer_key)
CREATE FUNCTION loginas._history_rows(p_customer_key text)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT l.logged_at, l.admin_username, loginas._action_label(l.action, l.details), l.result, l.reason,
		   l.source, l.session_id, l.details OPERATOR(pg_catalog.->>) 'table',
		   loginas._keys_text(l.details OPERATOR(pg_catalog.->) 'keys'),
		   loginas._action_details(l.action, l.details, false)
	  FROM loginas.action_log l
	 WHERE l.customer_key OPERATOR(pg_catalog.=) p_customer_key
	   AND l.action OPERATOR(pg_catalog.<>) 'log_viewed'
	   AND l.action OPERATOR(pg_catalog.<>) 'log_view_refused'
	 ORDER BY l.logged_at DESC, l.log_id DESC
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.customer_history_as_reporting(customer_id text)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan
	AS $$
BEGIN
	IF customer_history_as_reporting.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL, NULL);
	END IF;
	-- an integer key given as text reads the integer rows
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		RETURN QUERY SELECT * FROM loginas._history_rows(
			loginas._canon_key('customers', customer_history_as_reporting.customer_id)::pg_catalog.int8);
	ELSE
		RETURN QUERY SELECT * FROM loginas._history_rows(
			loginas._canon_key('customers', customer_history_as_reporting.customer_id));
	END IF;
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id text)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	int_keys boolean := loginas._is_int_type(loginas._key_type('customers'));
	k text := loginas._canon_key('customers', customer_history_as_admin.customer_id);
	filters jsonb := pg_catalog.jsonb_build_object('customer_id', customer_history_as_admin.customer_id);
BEGIN
	-- an integer key given as text (or NULL): the integer form (its viewer's
	-- check, its log_viewed row)
	IF int_keys AND (k IS NOT NULL OR customer_history_as_admin.customer_id IS NULL) THEN
		RETURN QUERY SELECT * FROM loginas.customer_history_as_admin(viewer_admin, k::pg_catalog.int8);
		RETURN;
	END IF;
	-- whatever the key, the viewer is checked first (a refused view is logged)
	PERFORM loginas._check_viewer(viewer_admin, 'customer_history', NULL, filters);
	IF customer_history_as_admin.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL, NULL);
	END IF;
	IF int_keys THEN
		-- text that is no integer is no customer's key: an empty history, as
		-- customer_history_as_reporting() reads it, and its log_viewed row
		PERFORM loginas._log_view(viewer_admin, 'customer_history', NULL, filters, 0);
		RETURN;
	END IF;
	-- TODO (keys of any type): the log_viewed row for a text key
	PERFORM loginas._raise('0A000', 'customer_history() with viewer_admin does not support customer keys that are not integers yet',
		NULL, 'Call it as a role with loginas_reporting, without viewer_admin.');
END
$$;

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.customer_history(customer_id text, viewer_admin bigint DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history.customer_id);
	ELSE
		RETURN QUERY SELECT * FROM loginas.customer_history_as_admin(viewer_admin, customer_history.customer_id);
	END IF;
END
$$;

-- the sessions view: the customer's key as its last column
CREATE OR REPLACE VIEW loginas.sessions AS
	SELECT s.session_id,
		   CASE WHEN s.ended_at IS NOT NULL THEN 'ended'
				WHEN COALESCE(s.expires_at, s.ticket_expires_at) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN 'expired'
				WHEN s.redeemed_at IS NULL THEN 'ticket'
				ELSE 'live' END AS status,
		   s.admin_id, l.admin_username, s.customer_id, l.customer_email, s.store_id, s.source, s.reason,
		   s.read_only,
		   s.created_at AS started, s.redeemed_at AS redeemed, COALESCE(s.expires_at, s.ticket_expires_at) AS expires,
		   s.ended_at AS ended, s.end_reason, s.ended_by_admin,
		   l.writes, l.tables_written, l.notes, l.last_action, l.admin_addr, l.storefront_addr,
		   -- (the customer's key of any type, as text; last, so that 1.2's columns keep their places)
		   s.customer_key
	  FROM loginas.session s
	 CROSS JOIN LATERAL (
		SELECT (pg_catalog.array_agg(a.admin_username ORDER BY a.log_id)
					FILTER (WHERE a.admin_username IS NOT NULL))[1] AS admin_username,
			   (pg_catalog.array_agg(a.customer_email ORDER BY a.log_id)
					FILTER (WHERE a.customer_email IS NOT NULL))[1] AS customer_email,
			   COALESCE(pg_catalog.sum((a.details OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8)
							FILTER (WHERE a.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])),
						0)::pg_catalog.int8 AS writes,
			   COALESCE(pg_catalog.array_agg(DISTINCT a.details OPERATOR(pg_catalog.->>) 'table')
							FILTER (WHERE a.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])),
						'{}') AS tables_written,
			   pg_catalog.count(*) FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'note') AS notes,
			   pg_catalog.max(a.logged_at) AS last_action,
			   (pg_catalog.array_agg(a.client_addr ORDER BY a.log_id)
					FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'ticket_issued'))[1] AS admin_addr,
			   (pg_catalog.array_agg(a.client_addr ORDER BY a.log_id)
					FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'ticket_redeemed'))[1] AS storefront_addr
		  FROM loginas.action_log a
		 WHERE a.session_id OPERATOR(pg_catalog.=) s.session_id) l
	 ORDER BY s.session_id DESC;

-- the new functions and those created again: for loginas' own use unless
-- granted below (the complete script's blanket REVOKE ran before they existed)
REVOKE ALL ON FUNCTION
	loginas._is_int_type(regtype),
	loginas._is_key_type(regtype),
	loginas._customer_column_type_ok(regtype),
	loginas._deterministic_column(regclass, text),
	loginas._atttype_of(regclass, text),
	loginas._key_type(text),
	loginas._canon_key(text, text),
	loginas._uuid_pattern(),
	loginas._key_param(regclass, text),
	loginas._lookup(text, text, boolean),
	loginas._log_content(bigint, timestamptz, text, text, text, bigint, text, bigint, text, bigint, bigint, text,
						 text, inet, name, jsonb, text, text, text),
	loginas._append(timestamptz, text, text, bigint, text, bigint, text, bigint, bigint, text, text, inet, name,
					jsonb, text, text, text),
	loginas._log(text, text, bigint, bigint, bigint, bigint, text, text, jsonb, inet, text),
	loginas._log_row_hash(bytea, bigint, bigint, bigint, timestamptz, text, text, text, bigint, text, bigint, text,
						  bigint, bigint, text, text, inet, name, jsonb, text, text, text),
	loginas._set_assistance(text, boolean, timestamptz, bigint),
	loginas.set_assistance_as_customer(text, boolean, timestamptz),
	loginas.set_assistance_as_admin(text, boolean, timestamptz, bigint),
	loginas.set_assistance(text, boolean, timestamptz, bigint),
	loginas.assistance_allowed(text),
	loginas._evaluate(bigint, text, boolean),
	loginas.check(bigint, text),
	loginas.store_choices(bigint, text),
	loginas._begin(bigint, text, bigint, text, text, text, bigint, boolean, inet),
	loginas.begin(bigint, text, bigint, text, text, boolean, inet),
	loginas.redeem(text, inet),
	loginas._context_set(bigint, bigint, bigint, bigint, boolean, text, text, text, text, text, text, text),
	loginas.current_customer_key(),
	loginas._history_rows(text),
	loginas.customer_history_as_reporting(text),
	loginas.customer_history_as_admin(bigint, text),
	loginas.customer_history(text, bigint)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	loginas.set_assistance(text, boolean, timestamptz, bigint),
	loginas.set_assistance_as_admin(text, boolean, timestamptz, bigint),
	loginas.assistance_allowed(text),
	loginas.check(bigint, text),
	loginas.store_choices(bigint, text),
	loginas.begin(bigint, text, bigint, text, text, boolean, inet),
	loginas.current_customer_key()
TO loginas_admin;

GRANT EXECUTE ON FUNCTION
	loginas.redeem(text, inet),
	loginas.set_assistance(text, boolean, timestamptz, bigint),
	loginas.set_assistance_as_customer(text, boolean, timestamptz),
	loginas.assistance_allowed(text),
	loginas.current_customer_key()
TO loginas_storefront;

GRANT EXECUTE ON FUNCTION loginas.customer_history(text, bigint), loginas.customer_history_as_admin(bigint, text)
	TO loginas_reporting, loginas_admin;

GRANT EXECUTE ON FUNCTION loginas.customer_history_as_reporting(text) TO loginas_reporting;

-- backends that read the customers binding before the update kept its int8
-- query: they read it again
SELECT loginas._invalidate('loginas.binding');

-- ---------------------------------------------------------------------------
-- Keys of any type: refusals and views of the log name a customer whose key
-- is not an integer (customer_key).  The durable refusal log carries the key
-- (_queue_refusal, _refuse, _log_refusal, _log_refused take it last; begin,
-- redeem and assume pass it; src/refusal_queue.c keeps it in its entries and
-- its file, version 4); customer_history(text, viewer_admin) checks the
-- viewer and records the view by the key (_check_viewer, _log_view,
-- _record_view, _append_committed take it); actions_report() filters by
-- customer_key; the reports print the key where there is no customer_id.
-- An integer shop's rows are what they were (customer_id, no key).
-- ---------------------------------------------------------------------------
DROP FUNCTION loginas._queue_refusal(text, text, text, text, bigint, bigint, bigint, inet, text, text);
DROP FUNCTION loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text);
DROP FUNCTION loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text,
								   bigint, timestamptz);
DROP FUNCTION loginas._refuse(text, text, text, text, text, bigint, bigint, bigint, inet, text, text);
DROP FUNCTION loginas._log_refused(text, text, text, bigint, bigint, bigint);
DROP FUNCTION loginas._append_committed(timestamptz, text, text, bigint, text, bigint, text, bigint, bigint, text, text,
										inet, name, jsonb);
DROP FUNCTION loginas._row_summary(text, bigint, text, bigint, bigint, text, text, jsonb);
DROP FUNCTION loginas._actions_rows(timestamptz, timestamptz, text, bigint, bigint, text, int, int);
DROP FUNCTION loginas._check_viewer(bigint, text, bigint, jsonb);
DROP FUNCTION loginas._log_view(bigint, text, bigint, jsonb, bigint, jsonb);
DROP FUNCTION loginas._record_view(text, text, bigint, bigint, jsonb);
DROP FUNCTION loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int);
DROP FUNCTION loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int);
DROP FUNCTION loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int);

CREATE FUNCTION loginas._queue_refusal(action text, sqlstate text, message text, detail text,
									   admin_id bigint, customer_id bigint, session_id bigint,
									   client_addr inet DEFAULT NULL, reason text DEFAULT NULL,
									   source text DEFAULT NULL, customer_key text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_queue_refusal';

CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text DEFAULT NULL, p_source text DEFAULT NULL,
									 p_customer_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._log_refusal(p_logged_at, p_action, p_sqlstate, p_message, p_detail, p_admin_id,
								p_customer_id, p_session_id, p_client_addr, p_db_role, p_reason, p_source,
								NULL::bigint, NULL::timestamptz, p_customer_key);
END
$$;

CREATE FUNCTION loginas._refuse(p_action text, p_sqlstate text, p_message text,
								p_detail text DEFAULT NULL, p_hint text DEFAULT NULL,
								p_admin_id bigint DEFAULT NULL, p_customer_id bigint DEFAULT NULL,
								p_session_id bigint DEFAULT NULL, p_client_addr inet DEFAULT NULL,
								p_reason text DEFAULT NULL, p_source text DEFAULT NULL,
								p_customer_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF p_action IS NOT NULL THEN
		PERFORM loginas._queue_refusal(p_action, p_sqlstate, p_message, p_detail,
									   p_admin_id, p_customer_id, p_session_id,
									   p_client_addr, p_reason, p_source, p_customer_key);
		PERFORM loginas._log_refused(p_action, p_message, p_detail, p_admin_id, p_customer_id, p_session_id,
									 p_customer_key);
	END IF;
	PERFORM loginas._raise(p_sqlstate, p_message, p_detail, p_hint);
END
$$;

CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text, p_source text,
									 p_coalesced bigint, p_last_refused_at timestamptz,
									 p_customer_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	username text;
	email text;
	src text;
	why text;
	store bigint;
	details jsonb;
	ckey text := CASE WHEN p_customer_id IS NULL THEN p_customer_key END;
BEGIN
	BEGIN
		username := loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username';
		IF ckey IS NULL THEN
			email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
		ELSE
			email := loginas._lookup('customers', ckey, true) OPERATOR(pg_catalog.->>) 'email';
		END IF;
	EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
		username := NULL;	-- the binding is unreadable: log ids only
		email := NULL;
	END;
	SELECT s.source, s.reason, s.store_id INTO src, why, store
	  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	-- a refused begin has no session: it carries the reason and source given to it
	src := COALESCE(p_source, src);
	why := COALESCE(p_reason, why);
	details := pg_catalog.jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'detail', p_detail);
	IF p_coalesced IS NOT NULL THEN
		details := details OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('coalesced', p_coalesced, 'last_refused_at', p_last_refused_at);
	END IF;
	RETURN loginas._append(p_logged_at, p_action OPERATOR(pg_catalog.||) '_refused', 'failure',
						   p_admin_id, username, p_customer_id, email, p_session_id, store, src, why,
						   p_client_addr, p_db_role, details, NULL, ckey, NULL);
END
$$;

CREATE FUNCTION loginas._log_refused(p_action text, p_message text, p_detail text,
									 p_admin_id bigint, p_customer_id bigint, p_session_id bigint,
									 p_customer_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log_refused';

CREATE FUNCTION loginas._append_committed(p_logged_at timestamptz, p_action text, p_result text,
								p_admin_id bigint, p_admin_username text,
								p_customer_id bigint, p_customer_email text,
								p_session_id bigint, p_store_id bigint, p_source text, p_reason text,
								p_client_addr inet, p_db_role name, p_details jsonb,
								p_admin_key text DEFAULT NULL, p_customer_key text DEFAULT NULL,
								p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_append_committed';

CREATE FUNCTION loginas._row_summary(p_action text, p_customer_id bigint, p_customer_email text,
									 p_store_id bigint, p_session_id bigint, p_source text, p_reason text,
									 p_details jsonb, p_customer_key text DEFAULT NULL)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_row_summary';

CREATE FUNCTION loginas._actions_rows(p_since timestamptz, p_until timestamptz, p_action_group text,
									  p_admin_id bigint, p_customer_id bigint, p_result text,
									  p_page_size int, p_page int, p_customer_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT p.logged_at, p.action_group, loginas._action_label(p.action, p.details), p.client_addr,
		   p.admin_username, p.result,
		   loginas._row_summary(p.action, p.customer_id, p.customer_email, p.store_id, p.session_id,
								p.source, p.reason, p.details, p.customer_key)
	  FROM (SELECT l.log_id, l.logged_at, l.action_group, l.action, l.result, l.admin_username,
				   l.customer_id, l.customer_email, l.session_id, l.store_id, l.source, l.reason,
				   l.client_addr, l.details, l.customer_key
			  FROM loginas.action_log l
			 WHERE (p_since IS NULL OR l.logged_at OPERATOR(pg_catalog.>=) p_since)
			   AND (p_until IS NULL OR l.logged_at OPERATOR(pg_catalog.<) p_until)
			   AND (p_action_group IS NULL OR l.action_group OPERATOR(pg_catalog.=) p_action_group)
			   AND (p_admin_id IS NULL OR l.admin_id OPERATOR(pg_catalog.=) p_admin_id)
			   AND (p_customer_id IS NULL OR l.customer_id OPERATOR(pg_catalog.=) p_customer_id)
			   AND (p_customer_key IS NULL OR l.customer_key OPERATOR(pg_catalog.=) p_customer_key)
			   AND (p_result IS NULL OR l.result OPERATOR(pg_catalog.=) p_result)
			 ORDER BY l.logged_at DESC, l.log_id DESC
			 OFFSET (p_page::pg_catalog.int8 OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) p_page_size
			 LIMIT p_page_size) p
	 ORDER BY p.logged_at DESC, p.log_id DESC
$$;

CREATE FUNCTION loginas._check_viewer(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb,
									  p_customer_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	PERFORM loginas._require_writable(pg_catalog.format('loginas.%s() with viewer_admin', p_report));
	IF p_viewer IS NULL THEN
		st := '42501';
		msg := 'viewing the Login as Customer log needs viewer_admin';
		det := 'Without viewer_admin only members of loginas_reporting may read the log.';
		hnt := 'Pass viewer_admin => the id of the admin user viewing the log; their role needs the "view_log" resource.';
	ELSE
		BEGIN
			a := loginas._lookup('admins', p_viewer);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
									hnt = PG_EXCEPTION_HINT;
		END;
		IF st IS NOT NULL THEN
			NULL;		-- the admins binding cannot be read: refused with its error
		ELSIF a IS NULL THEN
			st := '42501';
			msg := pg_catalog.format('admin user %s does not exist', p_viewer);
			det := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_viewer);
			hnt := 'Pass the id of the admin user viewing the log as viewer_admin.';
		ELSIF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username');
			det := 'Only active admin users can view the Login as Customer log.';
		ELSIF NOT loginas.permitted(p_viewer, 'view_log') THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is not allowed to view the Login as Customer log',
									 a OPERATOR(pg_catalog.->>) 'username');
			SELECT l.detail, l.hint INTO det, hnt
			  FROM loginas._roles_lack(a, 'view_log', 'View Login as Customer Log') l;
		END IF;
	END IF;
	IF st IS NOT NULL THEN
		PERFORM loginas._record_view('log_view_refused', 'failure', p_viewer, p_customer_id,
			pg_catalog.jsonb_build_object('sqlstate', st, 'message', msg, 'detail', NULLIF(det, ''),
										  'report', p_report, 'filters', pg_catalog.jsonb_strip_nulls(p_filters)),
			p_customer_key);
		PERFORM loginas._raise(st, msg, NULLIF(det, ''), NULLIF(hnt, ''));
	END IF;
END
$$;

CREATE FUNCTION loginas._log_view(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb,
								  p_rows bigint, p_extra jsonb DEFAULT '{}', p_customer_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._record_view('log_viewed', 'success', p_viewer, p_customer_id,
		pg_catalog.jsonb_build_object('report', p_report,
									  'filters', pg_catalog.jsonb_strip_nulls(p_filters),
									  'rows', p_rows) OPERATOR(pg_catalog.||) p_extra,
		p_customer_key);
END
$$;

CREATE FUNCTION loginas.actions_report_as_reporting(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
		action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL,
		result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1, customer_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan		-- plan each call with its filters
	AS $$
DECLARE
	grp text := actions_report_as_reporting.action_group;
	res text := pg_catalog.lower(actions_report_as_reporting.result);
	cid bigint := actions_report_as_reporting.customer_id;
	ckey text;
BEGIN
	IF res IS NOT NULL AND res NOT IN ('success', 'failure') THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('invalid result "%s"', actions_report_as_reporting.result), NULL,
			'Valid results are: success, failure.');
	END IF;
	IF page_size IS NULL OR page_size OPERATOR(pg_catalog.<) 1 OR page_size OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('page_size must be between 1 and 10000, not %s', COALESCE(page_size::text, 'NULL')),
			NULL, NULL);
	END IF;
	IF page IS NULL OR page OPERATOR(pg_catalog.<) 1 THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('page must be 1 or more, not %s', COALESCE(page::text, 'NULL')), NULL,
			'Pages are numbered from 1.');
	END IF;
	IF since OPERATOR(pg_catalog.>) until THEN
		PERFORM loginas._raise('22023', 'since is later than until',
			'The report lists the actions with since <= Time < until.', NULL);
	END IF;
	-- the Action Group as Magento spells it, however it was typed
	IF pg_catalog.lower(grp) OPERATOR(pg_catalog.=) 'login as customer' THEN
		grp := 'Login As Customer';
	END IF;
	-- a customer by its key of any type, as text: canonical (no row has a key
	-- that is not a value of the key's type); an integer key is customer_id
	IF actions_report_as_reporting.customer_key IS NOT NULL THEN
		ckey := loginas._canon_key('customers', actions_report_as_reporting.customer_key);
		IF ckey IS NULL THEN
			RETURN;
		ELSIF loginas._is_int_type(loginas._key_type('customers')) THEN
			IF cid IS NOT NULL AND cid OPERATOR(pg_catalog.<>) ckey::pg_catalog.int8 THEN
				RETURN;		-- two customers: no row is of both
			END IF;
			cid := ckey::pg_catalog.int8;
			ckey := NULL;
		END IF;
	END IF;
	RETURN QUERY
	SELECT * FROM loginas._actions_rows(since, until, grp, actions_report_as_reporting.admin_id,
										cid, res, page_size, page, ckey);
END
$$;

CREATE FUNCTION loginas.actions_report_as_admin(viewer_admin bigint, since timestamptz DEFAULT NULL,
		until timestamptz DEFAULT NULL, action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL,
		customer_id bigint DEFAULT NULL, result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1,
		customer_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('since', since, 'until', until, 'action_group', action_group,
												   'admin_id', actions_report_as_admin.admin_id,
												   'customer_id', actions_report_as_admin.customer_id,
												   'result', actions_report_as_admin.result,
												   'customer_key', actions_report_as_admin.customer_key);
BEGIN
	PERFORM loginas._check_viewer(viewer_admin, 'actions_report', actions_report_as_admin.customer_id, filters,
		actions_report_as_admin.customer_key);
	RETURN QUERY
	SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report_as_admin.admin_id,
		actions_report_as_admin.customer_id, actions_report_as_admin.result, page_size, page,
		actions_report_as_admin.customer_key);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'actions_report', actions_report_as_admin.customer_id, filters,
		n, pg_catalog.jsonb_build_object('page', page, 'page_size', page_size), actions_report_as_admin.customer_key);
END
$$;

CREATE FUNCTION loginas.actions_report(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
		action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL,
		result text DEFAULT NULL, viewer_admin bigint DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1,
		customer_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- SECURITY INVOKER: current_user is the caller
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY
		SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report.admin_id,
			actions_report.customer_id, actions_report.result, page_size, page, actions_report.customer_key);
	ELSE
		RETURN QUERY
		SELECT * FROM loginas.actions_report_as_admin(viewer_admin, since, until, action_group, actions_report.admin_id,
			actions_report.customer_id, actions_report.result, page_size, page, actions_report.customer_key);
	END IF;
END
$$;

CREATE FUNCTION loginas._record_view(p_action text, p_result text, p_viewer bigint, p_customer_id bigint,
									 p_details jsonb, p_customer_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	username text;
	email text;
	cid bigint := p_customer_id;
	ckey text;
BEGIN
	IF cid IS NULL AND p_customer_key IS NOT NULL THEN
		ckey := loginas._canon_key('customers', p_customer_key);
		IF loginas._is_int_type(loginas._key_type('customers')) THEN
			cid := ckey::pg_catalog.int8;
			ckey := NULL;
		END IF;
	END IF;
	BEGIN
		username := loginas._lookup('admins', p_viewer, true) OPERATOR(pg_catalog.->>) 'username';
		IF ckey IS NULL THEN
			email := loginas._lookup('customers', cid, true) OPERATOR(pg_catalog.->>) 'email';
		ELSE
			email := loginas._lookup('customers', ckey, true) OPERATOR(pg_catalog.->>) 'email';
		END IF;
	EXCEPTION WHEN OTHERS THEN
		NULL;		-- a binding that cannot be read: the ids are logged
	END;
	RETURN loginas._append_committed(pg_catalog.clock_timestamp(), p_action, p_result, p_viewer, username,
									 cid, email, NULL, NULL, NULL, NULL, pg_catalog.inet_client_addr(),
									 SESSION_USER, p_details, NULL, ckey, NULL);
END
$$;

COMMENT ON FUNCTION loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text)
	IS 'Admin Actions Report: Time, Action Group, Action, IP Address, Username, Result, Details; newest first, a page at a time';

CREATE OR REPLACE FUNCTION loginas._begin(p_admin_id bigint, p_customer_key text, p_store_id bigint, p_reason text,
							   p_source text, p_source_kind text, p_source_document_id bigint,
							   p_read_only boolean, p_client_addr inet)
	RETURNS loginas.ticket
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	st jsonb;
	prior record;
	new_id bigint;
	attempt int := 0;
	constraint_name text;
	t loginas.ticket;
	p_customer_id bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.begin()');
	p_reason := NULLIF(pg_catalog.btrim(p_reason), '');
	IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._refuse('begin', '22023', 'reason is too long', 'At most 1000 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF p_source IS NOT NULL AND pg_catalog.length(p_source) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._refuse('begin', '22023', 'source is too long', 'At most 200 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;

	v := loginas._evaluate(p_admin_id, p_customer_key, true);
	-- the customer's key as canonical text, customer_id when it is an integer;
	-- a refusal names the customer by them (none when the key is not a value
	-- of the key's type)
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_id);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	t.store_id := (st OPERATOR(pg_catalog.->>) 'store_id')::bigint;

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_id OPERATOR(pg_catalog.=) p_admin_id AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_id);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, customer_key, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr)
			VALUES (p_admin_id, p_customer_id, p_customer_key, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind, p_source_document_id,
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()))
			RETURNING session_id INTO new_id;
			EXIT;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent begin by the same admin committed first: end it too
			-- (READ COMMITTED sees it in the next round; a transaction-wide
			-- snapshot never will, so that caller must retry the transaction)
			GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
			IF constraint_name OPERATOR(pg_catalog.<>) 'session_one_live_per_admin' THEN
				RAISE;
			END IF;
			IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed'
			   OR attempt OPERATOR(pg_catalog.>=) 5 THEN
				PERFORM loginas._refuse('begin', '40001',
					'could not begin Login as Customer: a concurrent begin by the same admin committed first',
					'An admin has one live ticket or session at a time.', 'Retry the transaction.',
					p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key);
			END IF;
		END;
	END LOOP;

	PERFORM loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr, p_customer_key);
	RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz, customer_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
	invalid constant text := 'Login as Customer ticket is invalid or has expired.';
	hint constant text := 'Start Login as Customer again from the admin panel.';
BEGIN
	PERFORM loginas._require_writable('loginas.redeem()');
	SELECT * INTO s FROM loginas.session ls
	 WHERE ls.ticket_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(redeem.token, ''))
	   FOR UPDATE;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'No ticket matches the given token.', hint,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.redeemed_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'The ticket has already been used.', hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;

	v := loginas._evaluate(s.admin_id, s.customer_key, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_id);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	PERFORM loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr, s.customer_key);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	customer_key := s.customer_key;
	store_id := s.store_id;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	hint constant text := 'Log the customer out of the storefront; the admin can start Login as Customer again.';
BEGIN
	-- FOR KEY SHARE: ending this session (FOR UPDATE) waits until this
	-- transaction is over, so no write under a session ended meanwhile commits
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		-- a read-only transaction writes nothing, so needs no lock (and could not take one)
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''))
		   FOR KEY SHARE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.', hint);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s ended at %s (%s).', s.session_id, s.ended_at, s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;

	v := loginas._evaluate(s.admin_id, s.customer_key);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_id);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text, s.customer_key);
	RETURN s.session_id;
END
$$;

CREATE OR REPLACE FUNCTION loginas._activity_rows(p_admin_id bigint, p_since timestamptz)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT l.logged_at, loginas._action_label(l.action, l.details), l.result,
		   COALESCE(l.customer_email, l.customer_id::pg_catalog.text, l.customer_key), l.session_id, l.source, l.reason,
		   loginas._action_details(l.action, l.details, true)
	  FROM loginas.action_log l
	 WHERE l.admin_id OPERATOR(pg_catalog.=) p_admin_id
	   AND (p_since IS NULL OR l.logged_at OPERATOR(pg_catalog.>=) p_since)
	 ORDER BY l.logged_at DESC, l.log_id DESC
$$;

CREATE OR REPLACE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id text)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	int_keys boolean := loginas._is_int_type(loginas._key_type('customers'));
	k text := loginas._canon_key('customers', customer_history_as_admin.customer_id);
	filters jsonb := pg_catalog.jsonb_build_object('customer_id', customer_history_as_admin.customer_id);
	n bigint;
BEGIN
	-- an integer key given as text (or NULL): the integer form (its viewer's
	-- check, its log_viewed row)
	IF int_keys AND (k IS NOT NULL OR customer_history_as_admin.customer_id IS NULL) THEN
		RETURN QUERY SELECT * FROM loginas.customer_history_as_admin(viewer_admin, k::pg_catalog.int8);
		RETURN;
	END IF;
	-- whatever the key, the viewer is checked first (a refused view is
	-- logged); the viewer's check and the log_viewed row name the customer by
	-- its key (canonical: loginas._record_view); the filter is the key as given
	PERFORM loginas._check_viewer(viewer_admin, 'customer_history', NULL, filters,
		CASE WHEN NOT int_keys THEN customer_history_as_admin.customer_id END);
	IF customer_history_as_admin.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL, NULL);
	END IF;
	IF int_keys THEN
		-- text that is no integer is no customer's key: an empty history, as
		-- customer_history_as_reporting() reads it, and its log_viewed row
		PERFORM loginas._log_view(viewer_admin, 'customer_history', NULL, filters, 0);
		RETURN;
	END IF;
	RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history_as_admin.customer_id);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'customer_history', NULL, filters, n,
		p_customer_key => customer_history_as_admin.customer_id);
END
$$;

-- created again: for loginas' own use unless granted below
REVOKE ALL ON FUNCTION
	loginas._queue_refusal(text, text, text, text, bigint, bigint, bigint, inet, text, text, text),
	loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text, text),
	loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text,
						 bigint, timestamptz, text),
	loginas._refuse(text, text, text, text, text, bigint, bigint, bigint, inet, text, text, text),
	loginas._log_refused(text, text, text, bigint, bigint, bigint, text),
	loginas._append_committed(timestamptz, text, text, bigint, text, bigint, text, bigint, bigint, text, text, inet,
							  name, jsonb, text, text, text),
	loginas._row_summary(text, bigint, text, bigint, bigint, text, text, jsonb, text),
	loginas._actions_rows(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text),
	loginas._check_viewer(bigint, text, bigint, jsonb, text),
	loginas._log_view(bigint, text, bigint, jsonb, bigint, jsonb, text),
	loginas._record_view(text, text, bigint, bigint, jsonb, text),
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text),
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text)
TO loginas_reporting, loginas_admin;

GRANT EXECUTE ON FUNCTION
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text)
TO loginas_reporting;

-- ---------------------------------------------------------------------------
-- Keys of any type: admins, store views and documents keyed by text, varchar
-- or uuid (Medusa's user_01..., sc_01..., order_01...), besides integers; the
-- design of the first slice above (canonical text keys; the bigint columns
-- and signatures of 1.2 kept, filled when the kind's keys are integers).
--   * session: admin_key, store_key (NOT NULL, filled here from admin_id and
--     store_id), document_key, ended_by_admin_key; admin_id and store_id
--     nullable; one live ticket or session per admin_key;
--   * the admin's key where 1.2 kept its id: setting.changed_by_admin_key,
--     binding.bound_by_admin_key, role_resource.granted_by_admin_key,
--     consent.changed_by_admin_key (filled here); the views settings,
--     permissions and sessions end with them;
--   * the log's admin_key and store_key filled where the bigint column cannot
--     hold the key (_log takes p_admin_key and p_store_key, the write log and
--     note() pass them); action_log_admin_key;
--   * text overloads (every key given as text) of configure, bind, unbind,
--     grant, revoke, permitted, set_assistance, set_assistance_as_admin,
--     check, store_choices, begin, begin_from, end_admin, purge_log,
--     admin_activity*; the bigint forms call them; current_admin_key(),
--     current_store_key(); the ticket and redeem() end with store_key,
--     store_choices (text forms) with store_key and website_key;
--   * _evaluate, _begin, _resolve_store, _end_session, _set_assistance,
--     _context_set take the keys as text;
--   * bind() takes an integer, text, varchar or uuid for every id column (a
--     kind's key, a store view's website_id, a customer's website_id and
--     store_id, a document's customer_id and store_id); _bound_select reads
--     an id as int8 when its column is an integer, else as text.
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.setting ADD COLUMN changed_by_admin_key text;
UPDATE loginas.setting SET changed_by_admin_key = changed_by_admin::text WHERE changed_by_admin IS NOT NULL;
ALTER TABLE loginas.binding ADD COLUMN bound_by_admin_key text;
UPDATE loginas.binding SET bound_by_admin_key = bound_by_admin::text WHERE bound_by_admin IS NOT NULL;
ALTER TABLE loginas.role_resource ADD COLUMN granted_by_admin_key text;
UPDATE loginas.role_resource SET granted_by_admin_key = granted_by_admin::text WHERE granted_by_admin IS NOT NULL;
ALTER TABLE loginas.consent ADD COLUMN changed_by_admin_key text;
UPDATE loginas.consent SET changed_by_admin_key = changed_by_admin::text WHERE changed_by_admin IS NOT NULL;
ALTER TABLE loginas.session ADD COLUMN admin_key text, ADD COLUMN store_key text, ADD COLUMN document_key text,
	ADD COLUMN ended_by_admin_key text;
UPDATE loginas.session
   SET admin_key = admin_id::text, store_key = store_id::text, document_key = source_document_id::text,
	   ended_by_admin_key = ended_by_admin::text;
ALTER TABLE loginas.session ALTER COLUMN admin_key SET NOT NULL, ALTER COLUMN store_key SET NOT NULL,
	ALTER COLUMN admin_id DROP NOT NULL, ALTER COLUMN store_id DROP NOT NULL;
DROP INDEX loginas.session_one_live_per_admin;
CREATE UNIQUE INDEX session_one_live_per_admin ON loginas.session (admin_key) WHERE ended_at IS NULL;
CREATE INDEX action_log_admin_key ON loginas.action_log (admin_key, logged_at) WHERE admin_key IS NOT NULL;
ALTER TYPE loginas.ticket ADD ATTRIBUTE store_key text;

-- the views end with the keys
CREATE OR REPLACE VIEW loginas.settings AS
	SELECT d.name,
		   COALESCE(s.value, d.default_value) AS value,
		   d.default_value,
		   d.label,
		   d.description,
		   d.choices,
		   s.changed_at,
		   s.changed_by_admin,
		   s.changed_by_admin_key
	  FROM loginas.setting_definition d
	  LEFT JOIN loginas.setting s USING (name)
	 ORDER BY d.name;
CREATE OR REPLACE VIEW loginas.permissions AS
	SELECT rr.role, rr.resource, r.label, rr.granted_at, rr.granted_by_admin, rr.granted_by_admin_key
	  FROM loginas.role_resource rr JOIN loginas.resource r USING (resource)
	 ORDER BY rr.role, rr.resource;
CREATE OR REPLACE VIEW loginas.sessions AS
	SELECT s.session_id,
		   CASE WHEN s.ended_at IS NOT NULL THEN 'ended'
				WHEN COALESCE(s.expires_at, s.ticket_expires_at) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN 'expired'
				WHEN s.redeemed_at IS NULL THEN 'ticket'
				ELSE 'live' END AS status,
		   s.admin_id, l.admin_username, s.customer_id, l.customer_email, s.store_id, s.source, s.reason,
		   s.read_only,
		   s.created_at AS started, s.redeemed_at AS redeemed, COALESCE(s.expires_at, s.ticket_expires_at) AS expires,
		   s.ended_at AS ended, s.end_reason, s.ended_by_admin,
		   l.writes, l.tables_written, l.notes, l.last_action, l.admin_addr, l.storefront_addr,
		   -- (the keys of any type, as text; last, so that 1.2's columns keep their places)
		   s.customer_key, s.admin_key, s.store_key, s.document_key, s.ended_by_admin_key
	  FROM loginas.session s
	 CROSS JOIN LATERAL (
		SELECT (pg_catalog.array_agg(a.admin_username ORDER BY a.log_id)
					FILTER (WHERE a.admin_username IS NOT NULL))[1] AS admin_username,
			   (pg_catalog.array_agg(a.customer_email ORDER BY a.log_id)
					FILTER (WHERE a.customer_email IS NOT NULL))[1] AS customer_email,
			   COALESCE(pg_catalog.sum((a.details OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8)
							FILTER (WHERE a.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])),
						0)::pg_catalog.int8 AS writes,
			   COALESCE(pg_catalog.array_agg(DISTINCT a.details OPERATOR(pg_catalog.->>) 'table')
							FILTER (WHERE a.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])),
						'{}') AS tables_written,
			   pg_catalog.count(*) FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'note') AS notes,
			   pg_catalog.max(a.logged_at) AS last_action,
			   (pg_catalog.array_agg(a.client_addr ORDER BY a.log_id)
					FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'ticket_issued'))[1] AS admin_addr,
			   (pg_catalog.array_agg(a.client_addr ORDER BY a.log_id)
					FILTER (WHERE a.action OPERATOR(pg_catalog.=) 'ticket_redeemed'))[1] AS storefront_addr
		  FROM loginas.action_log a
		 WHERE a.session_id OPERATOR(pg_catalog.=) s.session_id) l
	 ORDER BY s.session_id DESC;

-- helpers and the functions whose signatures change
DROP FUNCTION loginas._set_assistance(text, boolean, timestamptz, bigint);
DROP FUNCTION loginas._end_session(bigint, text, bigint);
DROP FUNCTION loginas._evaluate(bigint, text, boolean);
DROP FUNCTION loginas._resolve_store(jsonb, bigint);
DROP FUNCTION loginas._begin(bigint, text, bigint, text, text, text, bigint, boolean, inet);
DROP FUNCTION loginas.redeem(text, inet);
DROP FUNCTION loginas.store_choices(bigint, text);
DROP FUNCTION loginas._context_set(bigint, bigint, bigint, bigint, boolean, text, text, text, text, text, text, text);
DROP FUNCTION loginas._log(text, text, bigint, bigint, bigint, bigint, text, text, jsonb, inet, text);

-- ids read as their columns' type: an integer as int8, any other key as text
CREATE OR REPLACE FUNCTION loginas._bound_select(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('SELECT %s FROM %s',
			   pg_catalog.string_agg(
				   CASE WHEN c.is_optional AND NOT EXISTS (
							SELECT FROM pg_catalog.pg_attribute a
							 WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel
							   AND a.attname OPERATOR(pg_catalog.=) c.column_name
							   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
						THEN pg_catalog.format('NULL::pg_catalog.%2$s AS %1$I', c.column_name,
											   CASE c.type_class WHEN 'id' THEN 'int8' ELSE c.type_class END)
						-- keys of any type: an integer column as int8, any other (text,
						-- varchar, uuid) as text, the key and the keys of other kinds alike
						WHEN c.type_class OPERATOR(pg_catalog.=) 'id' THEN pg_catalog.format('%1$I::pg_catalog.%2$s AS %1$I', c.column_name,
							CASE WHEN NOT loginas._is_int_type(loginas._atttype_of(p_rel, c.column_name))
								 THEN 'text' ELSE 'int8' END)
						WHEN c.type_class OPERATOR(pg_catalog.=) 'text' THEN pg_catalog.format('%1$I::pg_catalog.text AS %1$I', c.column_name)
						ELSE pg_catalog.format('%1$I::pg_catalog.bool AS %1$I', c.column_name)
				   END, ', ' ORDER BY c.position),
			   p_rel)
	  FROM loginas.binding_column c
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
$$;

CREATE OR REPLACE FUNCTION loginas._check_by_admin(p_by_admin bigint) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._check_by_admin(p_by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas._check_by_admin(p_by_admin text) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
BEGIN
	IF p_by_admin IS NULL THEN
		RETURN NULL;
	END IF;
	a := loginas._lookup('admins', p_by_admin);
	IF a IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('admin user %s does not exist', p_by_admin),
			pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_by_admin));
	END IF;
	RETURN a;
END
$$;
CREATE FUNCTION loginas._key_id(p_kind text, p_key text)
	RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN loginas._is_int_type(loginas._key_type(p_kind))
				THEN loginas._canon_key(p_kind, p_key)::pg_catalog.int8 END
$$;
CREATE FUNCTION loginas._log(p_action text, p_result text, p_admin_id bigint, p_customer_id bigint,
							 p_session_id bigint DEFAULT NULL, p_store_id bigint DEFAULT NULL,
							 p_source text DEFAULT NULL, p_reason text DEFAULT NULL,
							 p_details jsonb DEFAULT '{}', p_client_addr inet DEFAULT NULL,
							 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
							 p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log';
CREATE FUNCTION loginas._context_set(session_id bigint, admin_id bigint, customer_id bigint,
									 store_id bigint, read_only boolean, banner text,
									 admin_username text, customer_email text, source text,
									 reason text, client_addr text, customer_key text, admin_key text,
									 store_key text)
	RETURNS void LANGUAGE c VOLATILE PARALLEL RESTRICTED
	AS 'MODULE_PATHNAME', 'loginas_context_set';
CREATE FUNCTION loginas.current_admin_key() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_admin_key';
CREATE FUNCTION loginas.current_store_key() RETURNS text
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_current_store_key';
CREATE FUNCTION loginas._end_session(p_session_id bigint, p_reason text, p_by_admin text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	by_id bigint := loginas._key_id('admins', p_by_admin);
BEGIN
	-- FOR UPDATE waits for transactions acting in the session (they hold
	-- FOR KEY SHARE from loginas.assume) and re-reads the row afterwards
	SELECT * INTO s FROM loginas.session
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id AND ended_at IS NULL
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE loginas.session
	   SET ended_at = pg_catalog.now(), end_reason = p_reason,
		   ended_by_admin = by_id, ended_by_role = SESSION_USER, ended_by_admin_key = p_by_admin
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id;
	PERFORM loginas._log('session_ended', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('end_reason', p_reason,
													   'redeemed', s.redeemed_at IS NOT NULL,
													   -- a number for an integer key, as 1.2 logged it
													   'ended_by_admin', COALESCE(pg_catalog.to_jsonb(by_id),
																				  pg_catalog.to_jsonb(p_by_admin))),
						 p_customer_key => s.customer_key, p_admin_key => s.admin_key, p_store_key => s.store_key);
	PERFORM loginas._context_clear_session(p_session_id);
	RETURN true;
END
$$;
CREATE FUNCTION loginas._evaluate(p_admin_id text, p_customer_id text, p_lock boolean DEFAULT false)
	RETURNS loginas._verdict
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	c loginas.consent;
	has_login boolean;
	enabled boolean;
BEGIN
	IF p_admin_id IS NULL OR p_customer_id IS NULL THEN
		v.code := 'invalid'; v.sqlstate := '22023';
		v.message := 'admin_id and customer_id cannot be NULL';
		RETURN v;
	END IF;
	IF p_lock THEN
		PERFORM FROM loginas.setting st
		  WHERE st.name OPERATOR(pg_catalog.=) 'enabled' AND st.value OPERATOR(pg_catalog.=) 'on'
		    FOR SHARE;
		enabled := FOUND;
	ELSE
		enabled := loginas._get_setting('enabled') OPERATOR(pg_catalog.=) 'on';
	END IF;
	IF NOT enabled THEN
		v.code := 'feature_disabled'; v.sqlstate := '55000';
		v.message := 'Login as Customer is disabled.';
		v.hint := 'Enable it with loginas.configure(''enabled'', ''on'').';
		RETURN v;
	END IF;

	v.admin := loginas._lookup('admins', p_admin_id);
	IF v.admin IS NULL THEN
		v.code := 'admin_inactive'; v.sqlstate := '22023';
		v.message := pg_catalog.format('admin user %s does not exist', p_admin_id);
		v.detail := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), p_admin_id);
		RETURN v;
	END IF;
	IF NOT COALESCE((v.admin OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'admin_inactive'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is inactive', v.admin OPERATOR(pg_catalog.->>) 'username');
		v.detail := 'Only active admin users can use Login as Customer.';
		RETURN v;
	END IF;
	-- an admin has a row per role: any of its roles may have the resource
	-- (the lock: every one of them that has it, so that revoking it from one
	-- of them waits as well)
	IF p_lock THEN
		PERFORM FROM loginas.role_resource r
		  WHERE r.role OPERATOR(pg_catalog.=) ANY (loginas._roles(v.admin))
		    AND r.resource OPERATOR(pg_catalog.=) 'login'
		    FOR SHARE;
		has_login := FOUND;
	ELSE
		has_login := loginas._roles_have(v.admin, 'login');
	END IF;
	IF NOT has_login THEN
		v.code := 'permission_revoked'; v.sqlstate := '42501';
		v.message := pg_catalog.format('admin user "%s" is not allowed to login as a customer',
									   v.admin OPERATOR(pg_catalog.->>) 'username');
		SELECT l.detail, l.hint INTO v.detail, v.hint
		  FROM loginas._roles_lack(v.admin, 'login', 'Allow Login as Customer') l;
		RETURN v;
	END IF;

	v.customer := loginas._lookup('customers', p_customer_id);
	IF v.customer IS NULL THEN
		v.code := 'customer_inactive'; v.sqlstate := '22023';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_id);
		RETURN v;
	END IF;
	-- a guest (is_guest, an optional column of the customers binding) is a
	-- customer row without an account
	IF COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_guest')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := pg_catalog.format('cannot login as customer %s: the customer is a guest', p_customer_id);
		v.detail := 'Guest customers have no account to log in to.';
		RETURN v;
	END IF;
	IF NOT COALESCE((v.customer OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		v.code := 'customer_inactive'; v.sqlstate := '55000';
		v.message := 'Customer with this ID no longer exists.';
		v.detail := pg_catalog.format('Customer account %s is inactive.', p_customer_id);
		RETURN v;
	END IF;

	IF p_lock THEN
		SELECT * INTO c FROM loginas.consent cs
		 WHERE cs.customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', p_customer_id) AND cs.allowed
		   AND (cs.valid_until IS NULL OR cs.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())
		   FOR SHARE;
	END IF;
	IF c.customer_key IS NULL THEN
		SELECT * INTO c FROM loginas.consent
		 WHERE customer_key OPERATOR(pg_catalog.=) loginas._canon_key('customers', p_customer_id);
	END IF;
	IF c.customer_key IS NULL OR NOT c.allowed THEN
		v.code := 'consent_revoked'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := 'The customer has not allowed remote shopping assistance.';
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	IF c.valid_until IS NOT NULL AND c.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		v.code := 'consent_expired'; v.sqlstate := '42501';
		v.message := 'Login as Customer assistance is disabled for this Customer.';
		v.detail := pg_catalog.format('The customer''s permission expired at %s.', c.valid_until);
		v.hint := 'The customer can tick "Allow remote shopping assistance" on the Account Information page.';
		RETURN v;
	END IF;
	RETURN v;
END
$$;
CREATE FUNCTION loginas._resolve_store(p_customer jsonb, p_store_id text)
	RETURNS jsonb
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sharing text := loginas._get_setting('account_sharing');
	-- a customer has a row per website or store view: their sets
	cust_websites text[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_customer OPERATOR(pg_catalog.->) 'website_id'));
	cust_stores text[] := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_customer OPERATOR(pg_catalog.->) 'store_id'));
	rel regclass := loginas._bound_relation('store_views');
	st jsonb;
	own text;
	target_websites text[];
BEGIN
	IF p_store_id IS NULL AND loginas._get_setting('store_view_selection') OPERATOR(pg_catalog.=) 'manual' THEN
		PERFORM loginas._refuse(NULL, '22023', 'Please select a Store to login in.',
			'Store View to Log in is set to Manual Selection.',
			'Pass store_id; loginas.store_choices() lists the store views that can be chosen.');
	END IF;

	IF p_store_id IS NOT NULL THEN
		st := loginas._lookup('store_views', p_store_id);
		IF st IS NULL THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('store view %s does not exist', p_store_id),
				pg_catalog.format('No row of %s has store_id %s.', rel, p_store_id));
		END IF;
		IF NOT COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			PERFORM loginas._refuse(NULL, '55000',
				pg_catalog.format('store view "%s" is disabled', st OPERATOR(pg_catalog.->>) 'name'));
		END IF;
		-- in any of the customer's websites
		IF sharing OPERATOR(pg_catalog.=) 'website'
		   AND NOT COALESCE((st OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (cust_websites), false) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format(CASE WHEN pg_catalog.cardinality(cust_websites) OPERATOR(pg_catalog.>) 1
									   THEN 'store view "%s" is not in any of the customer''s websites'
									   ELSE 'store view "%s" is not in the customer''s website' END,
								  st OPERATOR(pg_catalog.->>) 'name'),
				'Customer accounts are shared per website (account_sharing = website).',
				'Choose a store view of the customer''s website; loginas.store_choices() lists them.');
		END IF;
		RETURN st;
	END IF;

	-- auto: the customer's own store view, if it is active (and in its
	-- website); of several, the first by store_id
	FOREACH own IN ARRAY cust_stores LOOP
		st := loginas._lookup('store_views', own);
		IF st IS NOT NULL AND COALESCE((st OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
		   AND (sharing OPERATOR(pg_catalog.=) 'global'
				OR COALESCE((st OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (cust_websites), false)) THEN
			RETURN st;
		END IF;
	END LOOP;

	-- else the default store view of the customer's website (of several, the
	-- first by website_id that has one); with global sharing, that of the
	-- default website (the one holding the lowest store view id among
	-- default store views)
	IF sharing OPERATOR(pg_catalog.=) 'website' THEN
		target_websites := cust_websites;
	ELSE
		target_websites := ARRAY(
			SELECT v OPERATOR(pg_catalog.->>) 'website_id'
			  FROM loginas._store_views() v
			 WHERE (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
			 ORDER BY v OPERATOR(pg_catalog.->) 'store_id' LIMIT 1);
	END IF;
	SELECT v INTO st
	  FROM loginas._store_views() v
	 WHERE (v OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (target_websites)
	   AND (v OPERATOR(pg_catalog.->>) 'is_default')::boolean AND (v OPERATOR(pg_catalog.->>) 'is_active')::boolean
	 ORDER BY v OPERATOR(pg_catalog.->) 'website_id', v OPERATOR(pg_catalog.->) 'store_id' LIMIT 1;
	IF st IS NULL THEN
		PERFORM loginas._refuse(NULL, '55000',
			'no active store view is available for this customer',
			CASE WHEN pg_catalog.cardinality(target_websites) OPERATOR(pg_catalog.>) 1
				 THEN pg_catalog.format('The customer''s store views are unavailable and none of the websites %s has an active default store view.',
										pg_catalog.array_to_string(target_websites, ', '))
				 ELSE pg_catalog.format('The customer''s store view is unavailable and website %s has no active default store view.',
										target_websites[1]) END);
	END IF;
	RETURN st;
END
$$;
CREATE FUNCTION loginas._document_binding(p_document_kind text)
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE p_document_kind WHEN 'order' THEN 'orders' WHEN 'invoice' THEN 'invoices'
								WHEN 'shipment' THEN 'shipments' WHEN 'credit_memo' THEN 'credit_memos' END
$$;
CREATE FUNCTION loginas._begin(p_admin_key text, p_customer_key text, p_store_key text, p_reason text,
							   p_source text, p_source_kind text, p_source_document_key text,
							   p_read_only boolean, p_client_addr inet)
	RETURNS loginas.ticket
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	st jsonb;
	prior record;
	new_id bigint;
	attempt int := 0;
	constraint_name text;
	t loginas.ticket;
	p_customer_id bigint;
	-- (the refusal log keeps integer admin and customer ids only, for now)
	p_admin_id bigint := loginas._key_id('admins', p_admin_key);
BEGIN
	PERFORM loginas._require_writable('loginas.begin()');
	p_reason := NULLIF(pg_catalog.btrim(p_reason), '');
	IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._refuse('begin', '22023', 'reason is too long', 'At most 1000 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF p_source IS NOT NULL AND pg_catalog.length(p_source) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._refuse('begin', '22023', 'source is too long', 'At most 200 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;

	v := loginas._evaluate(p_admin_key, p_customer_key, true);
	-- the keys as canonical text, customer_id when it is an integer; a
	-- refusal names the customer by them (none when the key is not a value
	-- of the key's type)
	IF v.code IS NULL THEN
		p_admin_key := loginas._canon_key('admins', p_admin_key);
	END IF;
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_key);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	-- the store view's key as the binding read it (canonical)
	t.store_key := st OPERATOR(pg_catalog.->>) 'store_id';
	t.store_id := loginas._key_id('store_views', t.store_key);
	p_source_document_key := loginas._canon_key(loginas._document_binding(p_source_kind), p_source_document_key);

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_key OPERATOR(pg_catalog.=) p_admin_key AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_key);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, customer_key, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr, admin_key, store_key, document_key)
			VALUES (p_admin_id, p_customer_id, p_customer_key, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind,
					loginas._key_id(loginas._document_binding(p_source_kind), p_source_document_key),
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()),
					p_admin_key, t.store_key, p_source_document_key)
			RETURNING session_id INTO new_id;
			EXIT;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent begin by the same admin committed first: end it too
			-- (READ COMMITTED sees it in the next round; a transaction-wide
			-- snapshot never will, so that caller must retry the transaction)
			GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
			IF constraint_name OPERATOR(pg_catalog.<>) 'session_one_live_per_admin' THEN
				RAISE;
			END IF;
			IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed'
			   OR attempt OPERATOR(pg_catalog.>=) 5 THEN
				PERFORM loginas._refuse('begin', '40001',
					'could not begin Login as Customer: a concurrent begin by the same admin committed first',
					'An admin has one live ticket or session at a time.', 'Retry the transaction.',
					p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key);
			END IF;
		END;
	END LOOP;

	PERFORM loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr, p_customer_key, p_admin_key, t.store_key);
	RETURN t;
END
$$;
CREATE FUNCTION loginas._set_assistance(p_customer_key text, p_allowed boolean,
										p_valid_until timestamptz, p_by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	prev loginas.consent;
	s record;
	p_customer_id bigint;
	p_admin_id bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.set_assistance()');
	IF p_customer_key IS NULL OR p_allowed IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'customer_id and allowed cannot be NULL');
	END IF;
	IF loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '42501',
			'remote shopping assistance cannot be changed in a Login as Customer session',
			'Only the customer, or an admin with the "manage_assistance" resource from the admin backend, may change it.');
	END IF;
	IF loginas._lookup('customers', p_customer_key) IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'Customer with this ID no longer exists.',
			pg_catalog.format('No row of %s has customer_id %s.', loginas._bound_relation('customers'), p_customer_key));
	END IF;
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF p_customer_key IS NULL THEN
		-- (the lookup and _canon_key read keys by one rule: not reached)
		PERFORM loginas._refuse(NULL, '22023', 'customer_id is not a key of the customers binding');
	END IF;
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	-- (the callers checked that the admin exists)
	p_by_admin := loginas._canon_key('admins', p_by_admin);
	p_admin_id := loginas._key_id('admins', p_by_admin);
	IF NOT p_allowed AND p_valid_until IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'valid_until applies only when assistance is allowed');
	END IF;
	IF p_valid_until IS NOT NULL AND p_valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('valid_until must be in the future, not %s', p_valid_until));
	END IF;

	SELECT * INTO prev FROM loginas.consent c WHERE c.customer_key OPERATOR(pg_catalog.=) p_customer_key FOR UPDATE;
	INSERT INTO loginas.consent AS c (customer_id, customer_key, allowed, valid_until, changed_by_admin,
									  changed_by_admin_key)
	VALUES (p_customer_id, p_customer_key, p_allowed, p_valid_until, p_admin_id, p_by_admin)
	ON CONFLICT ON CONSTRAINT consent_pkey DO UPDATE
	   SET customer_id = EXCLUDED.customer_id, allowed = EXCLUDED.allowed, valid_until = EXCLUDED.valid_until, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
		   changed_by_admin_key = EXCLUDED.changed_by_admin_key;

	-- no row means not allowed: "revoking" what was never given changes nothing
	IF COALESCE(prev.allowed, false) IS DISTINCT FROM p_allowed OR prev.valid_until IS DISTINCT FROM p_valid_until THEN
		PERFORM loginas._log(CASE WHEN p_allowed THEN 'consent_granted' ELSE 'consent_revoked' END, 'success',
							 p_admin_id, p_customer_id,
							 p_details => pg_catalog.jsonb_build_object(
								'valid_until', p_valid_until,
								'by', CASE WHEN p_by_admin IS NULL THEN 'customer' ELSE 'admin' END),
							 p_customer_key => p_customer_key, p_admin_key => p_by_admin);
	END IF;

	IF NOT p_allowed THEN
		FOR s IN SELECT ls.session_id FROM loginas.session ls
				  WHERE ls.customer_key OPERATOR(pg_catalog.=) p_customer_key AND ls.ended_at IS NULL
				  ORDER BY ls.session_id
		LOOP
			PERFORM loginas._end_session(s.session_id, 'consent_revoked', p_by_admin);
		END LOOP;
	END IF;
	RETURN p_allowed;
END
$$;

-- settings, bindings, permissions by an admin of any key type
CREATE FUNCTION loginas.configure(name text, value text, by_admin text)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres	-- intervals are stored in one spelling, whoever sets them
	AS $$
DECLARE
	d loginas.setting_definition;
	v text := pg_catalog.btrim(configure.value);
	old text;
	iv interval;
	f record;
	r record;
	admin_key text;
	example constant text := 'Give it in days, hours, minutes and seconds, for example ''60 seconds'', ''1 hour'' or ''7 days''.';
BEGIN
	PERFORM loginas._require_writable('loginas.configure()');
	SELECT * INTO d FROM loginas.setting_definition sd WHERE sd.name OPERATOR(pg_catalog.=) configure.name;
	IF d.name IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer setting "%s"', configure.name), NULL,
			pg_catalog.format('Valid settings are: %s.',
				(SELECT pg_catalog.string_agg(sd.name, ', ' ORDER BY sd.name) FROM loginas.setting_definition sd)));
	END IF;
	IF d.name OPERATOR(pg_catalog.=) 'log_retention' THEN
		PERFORM loginas._refuse(NULL, '42501', 'setting "log_retention" cannot be changed with loginas.configure()',
			'The log retention bounds loginas.purge_log(): it is changed by the auditor, not by the admin backend.',
			'A member of loginas_auditor changes it with loginas.set_log_retention(interval).');
	END IF;
	IF v IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', pg_catalog.format('setting "%s" cannot be NULL', d.name));
	END IF;
	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);

	IF d.kind OPERATOR(pg_catalog.<>) 'interval' THEN
		v := pg_catalog.lower(v);
	END IF;
	IF d.kind OPERATOR(pg_catalog.=) 'boolean' THEN
		IF v IN ('on', 'true', 'yes', '1', 't', 'y') THEN
			v := 'on';
		ELSIF v IN ('off', 'false', 'no', '0', 'f', 'n') THEN
			v := 'off';
		ELSE
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				'Valid values are "on" and "off".');
		END IF;
	ELSIF d.kind OPERATOR(pg_catalog.=) 'choice' THEN
		IF NOT v OPERATOR(pg_catalog.=) ANY (d.choices) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				pg_catalog.format('Valid values are: %s.', pg_catalog.array_to_string(d.choices, ', ')));
		END IF;
	ELSE
		BEGIN
			iv := v::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			iv := NULL;
		END;
		IF iv IS NOT NULL THEN
			f := loginas._interval_fields(iv);
			IF f.months OPERATOR(pg_catalog.<>) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'A lifetime cannot be given in months or years: their length varies.', example);
			END IF;
			IF f.days OPERATOR(pg_catalog.<) 0 OR f.seconds OPERATOR(pg_catalog.<) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'Neither the days nor the time of a lifetime can be negative.', example);
			END IF;
		END IF;
		IF iv IS NULL OR iv OPERATOR(pg_catalog.<) interval '1 second' OR iv OPERATOR(pg_catalog.>) interval '7 days' THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'The value must be an interval between 1 second and 7 days.',
				'For example ''60 seconds'' or ''1 hour''.');
		END IF;
		-- stored as elapsed time (days as 24 hours), so that now() + lifetime
		-- is the same whatever TimeZone (and its daylight-saving jumps) the
		-- caller of begin or redeem has set
		v := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', iv))::text;
	END IF;

	-- lock the setting's row (if any): a begin holding it must finish first
	SELECT st.value INTO old FROM loginas.setting st WHERE st.name OPERATOR(pg_catalog.=) d.name FOR UPDATE;
	old := COALESCE(old, d.default_value);
	IF old OPERATOR(pg_catalog.=) v THEN
		RETURN v;			-- nothing changes, nothing is written
	END IF;
	INSERT INTO loginas.setting AS s (name, value, changed_by_admin, changed_by_admin_key)
	VALUES (d.name, v, loginas._key_id('admins', admin_key), admin_key)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE
	   SET value = EXCLUDED.value, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
		   changed_by_admin_key = EXCLUDED.changed_by_admin_key;

	PERFORM loginas._log('setting_changed', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('setting', d.name, 'old', old, 'new', v),
						 p_admin_key => admin_key);

	-- turning the feature off ends every live ticket and session
	IF d.name OPERATOR(pg_catalog.=) 'enabled' AND v OPERATOR(pg_catalog.=) 'off' THEN
		FOR r IN SELECT s.session_id FROM loginas.session s WHERE s.ended_at IS NULL ORDER BY s.session_id LOOP
			PERFORM loginas._end_session(r.session_id, 'feature_disabled', admin_key);
		END LOOP;
	END IF;
	RETURN v;
END
$$;
CREATE OR REPLACE FUNCTION loginas.configure(name text, value text, by_admin bigint DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
BEGIN
	RETURN loginas.configure(configure.name, configure.value, configure.by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas.bind(kind text, relation regclass, by_admin text)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	relkind "char";
	relnsp oid;
	atttype oid;
	ok boolean;
	any_key boolean;
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.bind()');
	IF NOT EXISTS (SELECT FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized binding kind "%s"', bind.kind), NULL,
			pg_catalog.format('Valid kinds are: %s.',
				(SELECT pg_catalog.string_agg(DISTINCT bc.kind, ', ') FROM loginas.binding_column bc)));
	END IF;
	IF bind.relation IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'relation to bind cannot be NULL');
	END IF;

	SELECT cl.relkind, cl.relnamespace INTO relkind, relnsp
	  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) bind.relation;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		PERFORM loginas._refuse(NULL, '42809',
			pg_catalog.format('"%s" is not a table or view', bind.relation));
	END IF;
	-- loginas reads bound relations as loginas_reader (see _read_bound): the
	-- shop decides what it may read by granting it, explicitly
	IF NOT pg_catalog.has_schema_privilege('loginas_reader', relnsp, 'USAGE') THEN
		PERFORM loginas._refuse(NULL, '42501',
			pg_catalog.format('role "loginas_reader" has no access to schema %s', pg_catalog.quote_ident(relnsp::regnamespace::text)),
			'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
			pg_catalog.format('GRANT USAGE ON SCHEMA %s TO loginas_reader;', pg_catalog.quote_ident(relnsp::regnamespace::text)));
	END IF;

	FOR c IN SELECT bc.column_name, bc.type_class, bc.is_optional, bc.is_key FROM loginas.binding_column bc
			  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind ORDER BY bc.position
	LOOP
		SELECT a.atttypid INTO atttype FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) bind.relation
		   AND a.attname OPERATOR(pg_catalog.=) c.column_name
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND AND c.is_optional THEN
			CONTINUE;		-- an optional column the relation lacks is read as NULL
		END IF;
		IF NOT FOUND THEN
			PERFORM loginas._refuse(NULL, '42703',
				pg_catalog.format('relation "%s" has no column "%s"', bind.relation, c.column_name),
				pg_catalog.format('A "%s" binding needs the columns %s.', bind.kind,
					(SELECT pg_catalog.string_agg(bc.column_name, ', ' ORDER BY bc.position)
					   FROM loginas.binding_column bc
					  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind AND NOT bc.is_optional)));
		END IF;
		IF NOT pg_catalog.has_column_privilege('loginas_reader', bind.relation, c.column_name, 'SELECT') THEN
			PERFORM loginas._refuse(NULL, '42501',
				pg_catalog.format('role "loginas_reader" cannot read column "%s" of relation "%s"', c.column_name, bind.relation),
				'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
				pg_catalog.format('GRANT SELECT ON %s TO loginas_reader;', bind.relation));
		END IF;
		-- keys of any type: an id (a kind's key, or the key of another kind:
		-- a document's customer_id and store_id, a store view's website_id)
		-- may be an integer, text, varchar or uuid
		any_key := c.type_class OPERATOR(pg_catalog.=) 'id';
		ok := CASE c.type_class
				WHEN 'id' THEN CASE WHEN any_key THEN loginas._is_key_type(atttype)
									ELSE loginas._is_int_type(atttype) END
				WHEN 'text' THEN atttype IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype,
											 'pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
				ELSE atttype OPERATOR(pg_catalog.=) 'pg_catalog.bool'::regtype
			  END;
		IF NOT ok THEN
			PERFORM loginas._refuse(NULL, '42804',
				pg_catalog.format('column "%s" of relation "%s" has type %s', c.column_name, bind.relation,
								  pg_catalog.format_type(atttype, NULL)),
				pg_catalog.format('Column "%s" must be %s.', c.column_name,
					CASE WHEN any_key THEN 'an integer (smallint, integer or bigint), text, varchar or uuid'
						 WHEN c.type_class OPERATOR(pg_catalog.=) 'id' THEN 'an integer (smallint, integer or bigint)'
						 WHEN c.type_class OPERATOR(pg_catalog.=) 'text' THEN 'text (text, varchar, char or name)'
						 ELSE 'boolean' END),
				-- only suggest casts that cannot fail later: a character key to text
				-- (a cast to an integer would fail at run time on a key that is not
				-- a number)
				CASE WHEN any_key AND atttype IN ('pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
					 THEN 'Cast it to text in a view over the table and bind the view.'
					 ELSE 'Cast it in a view over the table and bind the view.' END);
		END IF;
		-- keys are compared byte for byte: under a nondeterministic collation
		-- (case- or accent-insensitive) one row would answer to several keys
		IF c.is_key AND NOT loginas._deterministic_column(bind.relation, c.column_name) THEN
			PERFORM loginas._refuse(NULL, '0A000',
				pg_catalog.format('key column "%s" of relation "%s" has a nondeterministic collation', c.column_name, bind.relation),
				'A key that several spellings could match would let one row answer to several keys.',
				pg_catalog.format('Bind a view that gives the column a deterministic collation, e.g. %I COLLATE "C".', c.column_name));
		END IF;
	END LOOP;

	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);
	INSERT INTO loginas.binding AS b (kind, relation, bound_by_admin, bound_by_admin_key)
	VALUES (bind.kind, bind.relation, loginas._key_id('admins', admin_key), admin_key)
	ON CONFLICT ON CONSTRAINT binding_pkey DO UPDATE
	   SET relation = EXCLUDED.relation, bound_at = pg_catalog.now(),
		   bound_by_admin = EXCLUDED.bound_by_admin, bound_by_role = SESSION_USER,
		   bound_by_admin_key = EXCLUDED.bound_by_admin_key;
	PERFORM loginas._invalidate('loginas.binding');
	-- (the admin's key as the admins binding now reads it: rebinding the
	-- admins changes their key type)
	PERFORM loginas._log('relation_bound', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', bind.kind, 'relation', bind.relation::text),
						 p_admin_key => admin_key);
END
$$;
CREATE OR REPLACE FUNCTION loginas.bind(kind text, relation regclass, by_admin bigint DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas.bind(bind.kind, bind.relation, bind.by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas.unbind(kind text, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rel text;
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.unbind()');
	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);
	DELETE FROM loginas.binding b WHERE b.kind OPERATOR(pg_catalog.=) unbind.kind RETURNING b.relation::text INTO rel;
	IF rel IS NULL THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate('loginas.binding');
	PERFORM loginas._log('relation_unbound', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', unbind.kind, 'relation', rel),
						 p_admin_key => admin_key);
	RETURN true;
END
$$;
CREATE OR REPLACE FUNCTION loginas.unbind(kind text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.unbind(unbind.kind, unbind.by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas."grant"(role text, resource text, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.grant()');
	PERFORM loginas._check_resource(resource);
	IF role IS NULL OR pg_catalog.btrim(role) OPERATOR(pg_catalog.=) '' THEN
		PERFORM loginas._refuse(NULL, '22023', 'role name cannot be empty');
	END IF;
	IF pg_catalog.length(role) OPERATOR(pg_catalog.>) 255 THEN
		PERFORM loginas._refuse(NULL, '22023', 'role name is too long', 'At most 255 characters.');
	END IF;
	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);
	INSERT INTO loginas.role_resource AS rr (role, resource, granted_by_admin, granted_by_admin_key)
	VALUES ("grant".role, "grant".resource, loginas._key_id('admins', admin_key), admin_key)
	ON CONFLICT ON CONSTRAINT role_resource_pkey DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;		-- already granted
	END IF;
	PERFORM loginas._log('permission_granted', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('role', "grant".role, 'resource', "grant".resource),
						 p_admin_key => admin_key);
	RETURN true;
END
$$;
CREATE OR REPLACE FUNCTION loginas."grant"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas."grant"("grant".role, "grant".resource, "grant".by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas."revoke"(role text, resource text, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	a jsonb;
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.revoke()');
	PERFORM loginas._check_resource(resource);
	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);
	DELETE FROM loginas.role_resource rr
	 WHERE rr.role OPERATOR(pg_catalog.=) "revoke".role AND rr.resource OPERATOR(pg_catalog.=) "revoke".resource;
	IF NOT FOUND THEN
		RETURN false;		-- was not granted
	END IF;
	PERFORM loginas._log('permission_revoked', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('role', "revoke".role, 'resource', "revoke".resource),
						 p_admin_key => admin_key);
	-- the role's admins lose their live tickets and sessions, unless another
	-- of their roles has the resource
	IF "revoke".resource OPERATOR(pg_catalog.=) 'login' AND loginas._bound_relation('admins', true) IS NOT NULL THEN
		FOR s IN SELECT ls.session_id, ls.admin_key FROM loginas.session ls
				  WHERE ls.ended_at IS NULL ORDER BY ls.session_id
		LOOP
			a := loginas._lookup('admins', s.admin_key, true);
			IF (a OPERATOR(pg_catalog.->) 'role') OPERATOR(pg_catalog.?) "revoke".role
			   AND NOT loginas._roles_have(a, 'login') THEN
				PERFORM loginas._end_session(s.session_id, 'permission_revoked', admin_key);
			END IF;
		END LOOP;
	END IF;
	RETURN true;
END
$$;
CREATE OR REPLACE FUNCTION loginas."revoke"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas."revoke"("revoke".role, "revoke".resource, "revoke".by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas.permitted(admin_id text, resource text)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a jsonb;
BEGIN
	PERFORM loginas._check_resource(resource);
	a := loginas._lookup('admins', permitted.admin_id);
	RETURN a IS NOT NULL
		   AND COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false)
		   AND loginas._roles_have(a, permitted.resource);
END
$$;
CREATE OR REPLACE FUNCTION loginas.permitted(admin_id bigint, resource text)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.permitted(permitted.admin_id::pg_catalog.text, permitted.resource);
END
$$;

-- consent
CREATE OR REPLACE FUNCTION loginas.set_assistance_as_customer(customer_id bigint, allowed boolean,
												   valid_until timestamptz DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id::pg_catalog.text, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL::pg_catalog.text);
END
$$;
CREATE OR REPLACE FUNCTION loginas.set_assistance_as_customer(customer_id text, allowed boolean,
												   valid_until timestamptz DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._set_assistance(set_assistance_as_customer.customer_id, set_assistance_as_customer.allowed,
								   set_assistance_as_customer.valid_until, NULL::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas.set_assistance_as_admin(customer_id text, allowed boolean,
												valid_until timestamptz, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF set_assistance_as_admin.by_admin IS NULL THEN
		PERFORM loginas._raise('22023', 'by_admin cannot be NULL',
			'set_assistance_as_admin() is an admin''s change on the customer''s behalf.', NULL);
	END IF;
	PERFORM loginas._check_by_admin(set_assistance_as_admin.by_admin);
	IF NOT loginas.permitted(set_assistance_as_admin.by_admin, 'manage_assistance') THEN
		PERFORM loginas._refuse(NULL, '42501', 'You have no permission to change Opt-In preference.',
			pg_catalog.format('Admin user %s does not have the "manage_assistance" resource, or is inactive.', set_assistance_as_admin.by_admin),
			'Grant the resource to the admin''s role with loginas.grant(role, ''manage_assistance'').');
	END IF;
	RETURN loginas._set_assistance(set_assistance_as_admin.customer_id, set_assistance_as_admin.allowed,
								   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin);
END
$$;
CREATE OR REPLACE FUNCTION loginas.set_assistance_as_admin(customer_id text, allowed boolean,
												valid_until timestamptz, by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.set_assistance_as_admin(set_assistance_as_admin.customer_id, set_assistance_as_admin.allowed,
										   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin::pg_catalog.text);
END
$$;
CREATE OR REPLACE FUNCTION loginas.set_assistance_as_admin(customer_id bigint, allowed boolean,
												valid_until timestamptz, by_admin bigint)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.set_assistance_as_admin(set_assistance_as_admin.customer_id::pg_catalog.text, set_assistance_as_admin.allowed,
										   set_assistance_as_admin.valid_until, set_assistance_as_admin.by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas.set_assistance(customer_id text, allowed boolean,
									   valid_until timestamptz, by_admin text)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF by_admin IS NULL THEN
		RETURN loginas.set_assistance_as_customer(customer_id, allowed, valid_until);
	END IF;
	RETURN loginas.set_assistance_as_admin(customer_id, allowed, valid_until, by_admin);
END
$$;

-- the policy and the session's life: every key as text
CREATE FUNCTION loginas.check(admin_id text, customer_id text,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id, "check".customer_id);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;
CREATE OR REPLACE FUNCTION loginas.check(admin_id bigint, customer_id bigint,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id::pg_catalog.text, "check".customer_id::pg_catalog.text);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;
CREATE OR REPLACE FUNCTION loginas.check(admin_id bigint, customer_id text,
							  OUT allowed boolean, OUT reason text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate("check".admin_id::pg_catalog.text, "check".customer_id);
BEGIN
	allowed := v.code IS NULL;
	reason := v.message;
END
$$;
CREATE FUNCTION loginas.store_choices(admin_id text, customer_id text)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean,
				   store_key text, website_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict := loginas._evaluate(store_choices.admin_id, store_choices.customer_id);
BEGIN
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse(NULL, v.sqlstate, v.message, v.detail, v.hint);
	END IF;
	RETURN QUERY
	SELECT CASE WHEN pg_catalog.jsonb_typeof(sv OPERATOR(pg_catalog.->) 'store_id') OPERATOR(pg_catalog.=) 'number'
				THEN (sv OPERATOR(pg_catalog.->>) 'store_id')::bigint END,
		   sv OPERATOR(pg_catalog.->>) 'name',
		   CASE WHEN pg_catalog.jsonb_typeof(sv OPERATOR(pg_catalog.->) 'website_id') OPERATOR(pg_catalog.=) 'number'
				THEN (sv OPERATOR(pg_catalog.->>) 'website_id')::bigint END,
		   sv OPERATOR(pg_catalog.->>) 'website_name',
		   (sv OPERATOR(pg_catalog.->>) 'is_active')::boolean
		   AND (loginas._get_setting('account_sharing') OPERATOR(pg_catalog.=) 'global'
				OR COALESCE((sv OPERATOR(pg_catalog.->>) 'website_id') OPERATOR(pg_catalog.=) ANY (ARRAY(
					SELECT pg_catalog.jsonb_array_elements_text(v.customer OPERATOR(pg_catalog.->) 'website_id'))), false)),
		   sv OPERATOR(pg_catalog.->>) 'store_id',
		   sv OPERATOR(pg_catalog.->>) 'website_id'
	  FROM loginas._store_views() sv
	 ORDER BY 3, 1, 7, 6;
END
$$;
CREATE OR REPLACE FUNCTION loginas.store_choices(admin_id bigint, customer_id bigint)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT c.store_id, c.name, c.website_id, c.website_name, c.selectable
				   FROM loginas.store_choices(store_choices.admin_id::pg_catalog.text,
											  store_choices.customer_id::pg_catalog.text) c;
END
$$;
CREATE FUNCTION loginas.store_choices(admin_id bigint, customer_id text)
	RETURNS TABLE (store_id bigint, name text, website_id bigint, website_name text, selectable boolean,
				   store_key text, website_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.store_choices(store_choices.admin_id::pg_catalog.text,
													 store_choices.customer_id);
END
$$;
CREATE FUNCTION loginas.begin(admin_id text, customer_id text, store_id text DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id, "begin".customer_id, "begin".store_id, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;
CREATE OR REPLACE FUNCTION loginas.begin(admin_id bigint, customer_id bigint, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id::pg_catalog.text, "begin".customer_id::pg_catalog.text,
								 "begin".store_id::pg_catalog.text, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;
CREATE OR REPLACE FUNCTION loginas.begin(admin_id bigint, customer_id text, store_id bigint DEFAULT NULL,
							  reason text DEFAULT NULL, source text DEFAULT NULL,
							  read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM loginas._begin("begin".admin_id::pg_catalog.text, "begin".customer_id,
								 "begin".store_id::pg_catalog.text, "begin".reason,
								 "begin".source, NULL, NULL, "begin".read_only, "begin".client_addr)
$$;
CREATE FUNCTION loginas.begin_from(admin_id text, document_kind text, document_id text,
								   store_id text DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	binding_kind text := loginas._document_binding(begin_from.document_kind);
	label text := pg_catalog.replace(begin_from.document_kind, '_', ' ');
	doc jsonb;
	-- (the refusal log keeps integer admin ids only, for now)
	refused_admin bigint := loginas._key_id('admins', begin_from.admin_id);
BEGIN
	IF binding_kind IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('unrecognized document kind "%s"', begin_from.document_kind), NULL,
			'Valid kinds are: order, invoice, shipment, credit_memo.', refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	doc := loginas._lookup(binding_kind, begin_from.document_id);
	IF doc IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('%s %s does not exist', label, begin_from.document_id),
			pg_catalog.format('No row of %s has document_id %s.', loginas._bound_relation(binding_kind),
							  begin_from.document_id), NULL, refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	IF doc OPERATOR(pg_catalog.->>) 'customer_id' IS NULL THEN
		PERFORM loginas._refuse('begin', '55000',
			pg_catalog.format('cannot login as the customer of %s %s: it belongs to a guest', label,
							  doc OPERATOR(pg_catalog.->>) 'reference'),
			'Guest orders have no customer account to log in to.', NULL, refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason);
	END IF;
	-- the document's key as the binding read it (canonical)
	RETURN loginas._begin(begin_from.admin_id, doc OPERATOR(pg_catalog.->>) 'customer_id',
								 begin_from.store_id, begin_from.reason,
								 pg_catalog.format('%s %s', label, doc OPERATOR(pg_catalog.->>) 'reference'),
								 begin_from.document_kind, doc OPERATOR(pg_catalog.->>) 'document_id',
								 begin_from.read_only, begin_from.client_addr);
END
$$;
CREATE OR REPLACE FUNCTION loginas.begin_from(admin_id bigint, document_kind text, document_id bigint,
								   store_id bigint DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.begin_from(begin_from.admin_id::pg_catalog.text, begin_from.document_kind,
							  begin_from.document_id::pg_catalog.text, begin_from.store_id::pg_catalog.text,
							  begin_from.reason, begin_from.read_only, begin_from.client_addr);
END
$$;
CREATE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz, customer_key text,
				   store_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
	invalid constant text := 'Login as Customer ticket is invalid or has expired.';
	hint constant text := 'Start Login as Customer again from the admin panel.';
BEGIN
	PERFORM loginas._require_writable('loginas.redeem()');
	SELECT * INTO s FROM loginas.session ls
	 WHERE ls.ticket_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(redeem.token, ''))
	   FOR UPDATE;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'No ticket matches the given token.', hint,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.redeemed_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'The ticket has already been used.', hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	PERFORM loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr, s.customer_key, s.admin_key, s.store_key);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	customer_key := s.customer_key;
	store_id := s.store_id;
	store_key := s.store_key;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;
CREATE FUNCTION loginas.end_admin(admin_id text, reason text DEFAULT 'admin_logout')
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	n integer := 0;
	by_key text := loginas._canon_key('admins', end_admin.admin_id);
BEGIN
	PERFORM loginas._require_writable('loginas.end_admin()');
	IF end_admin.reason IS NULL OR end_admin.reason NOT IN ('admin_logout', 'admin_inactive', 'permission_revoked') THEN
		PERFORM loginas._refuse(NULL, '22023',
			CASE WHEN end_admin.reason IS NULL THEN 'end reason cannot be NULL'
				 ELSE pg_catalog.format('invalid end reason "%s"', end_admin.reason) END, NULL,
			'The admin backend ends sessions with reason admin_logout, admin_inactive or permission_revoked.');
	END IF;
	FOR s IN SELECT ls.session_id FROM loginas.session ls
			  WHERE ls.admin_key OPERATOR(pg_catalog.=) by_key AND ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF loginas._end_session(s.session_id, end_admin.reason, by_key) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION loginas.end_admin(admin_id bigint, reason text DEFAULT 'admin_logout')
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.end_admin(end_admin.admin_id::pg_catalog.text, end_admin.reason);
END
$$;
CREATE OR REPLACE FUNCTION loginas.expire()
	RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	v loginas._verdict;
	why text;
	problem text;
	state text;
	n integer := 0;
BEGIN
	PERFORM loginas._require_writable('loginas.expire()');
	FOR s IN SELECT ls.session_id, ls.admin_key, ls.customer_key,
					(ls.redeemed_at IS NULL AND ls.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
					OR ls.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
			   FROM loginas.session ls
			  WHERE ls.ended_at IS NULL
			  ORDER BY ls.session_id
	LOOP
		IF s.is_expired THEN
			why := 'expired';
		ELSE
			BEGIN
				v := loginas._evaluate(s.admin_key, s.customer_key);
				why := v.code;
			EXCEPTION
				WHEN serialization_failure OR deadlock_detected THEN
					RAISE;
				WHEN OTHERS THEN
					-- a session whose conditions cannot be read (a bound view that
					-- fails, rows of one admin that disagree) is left as it is
					-- (assume() refuses it the same way); the others are checked
					GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
					RAISE WARNING 'loginas: session % was not checked: %', s.session_id, problem
						USING DETAIL = pg_catalog.format('SQLSTATE %s.', state),
							  HINT = 'Fix the bound relation; loginas.expire() checks the session again next time.';
					why := NULL;
			END;
		END IF;
		IF why IS NOT NULL AND loginas._end_session(s.session_id, why) THEN
			n := n OPERATOR(pg_catalog.+) 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	hint constant text := 'Log the customer out of the storefront; the admin can start Login as Customer again.';
BEGIN
	-- FOR KEY SHARE: ending this session (FOR UPDATE) waits until this
	-- transaction is over, so no write under a session ended meanwhile commits
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		-- a read-only transaction writes nothing, so needs no lock (and could not take one)
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''))
		   FOR KEY SHARE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.', hint);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s ended at %s (%s).', s.session_id, s.ended_at, s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text, s.customer_key, s.admin_key, s.store_key);
	RETURN s.session_id;
END
$$;

-- the log and the reports
CREATE OR REPLACE FUNCTION loginas.note(action text, details jsonb DEFAULT '{}')
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	size bigint;
BEGIN
	PERFORM loginas._require_writable('loginas.note()');
	IF loginas.current_session() IS NULL THEN
		PERFORM loginas._raise('55000', 'loginas.note() needs a Login as Customer session', NULL,
			'Call it in a transaction that called loginas.assume().');
	END IF;
	IF note.action IS NULL OR pg_catalog.btrim(note.action) OPERATOR(pg_catalog.=) ''
	   OR pg_catalog.length(note.action) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._raise('22023', 'a note needs an action of 1 to 200 characters', NULL, NULL);
	END IF;
	IF note.details IS NULL OR pg_catalog.jsonb_typeof(note.details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM loginas._raise('22023', 'the details of a note must be a JSON object', NULL, NULL);
	END IF;
	size := pg_catalog.octet_length(note.details::pg_catalog.text);
	IF size OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM loginas._raise('54000', 'the details of a note are too large',
			pg_catalog.format('They take %s bytes as JSON text; a note keeps at most 65536 (64 kB).', size),
			'Keep large documents in the shop''s own tables and note a reference to them.');
	END IF;
	-- no note commits after its session's end
	PERFORM loginas._lock_session();
	-- everything the row carries was read by assume() and is in the context
	RETURN loginas._append(pg_catalog.clock_timestamp(), 'note', 'success',
						   loginas.current_admin(), loginas._context_text('admin_username'),
						   loginas.current_customer(), loginas._context_text('customer_email'),
						   loginas.current_session(), loginas.current_store(),
						   loginas._context_text('source'), loginas._context_text('reason'),
						   COALESCE(pg_catalog.inet_client_addr(), loginas._context_text('client_addr')::pg_catalog.inet),
						   SESSION_USER,
						   note.details OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('note', note.action),
						   p_admin_key => CASE WHEN loginas.current_admin() IS NULL THEN loginas.current_admin_key() END,
						   p_customer_key => CASE WHEN loginas.current_customer() IS NULL THEN loginas.current_customer_key() END,
						   p_store_key => CASE WHEN loginas.current_store() IS NULL THEN loginas.current_store_key() END);
END
$$;
CREATE FUNCTION loginas.purge_log(before timestamptz, by_admin text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
DECLARE
	n bigint;
	retention interval := loginas._get_setting('log_retention')::interval;
	-- in elapsed seconds (a day is 86,400 s), not the caller's TimeZone's calendar
	horizon timestamptz := pg_catalog.clock_timestamp()
		OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', retention));
BEGIN
	PERFORM loginas._require_writable('loginas.purge_log()');
	IF purge_log.before IS NULL OR purge_log.before OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
		PERFORM loginas._raise('22023', 'purge_log() needs a time in the past',
			'Rows older than it are removed.', NULL);
	END IF;
	IF purge_log.before OPERATOR(pg_catalog.>) horizon THEN
		PERFORM loginas._raise('22023', 'purge_log() cannot remove rows younger than the log retention',
			pg_catalog.format('The log retention is %s: rows younger than that are kept.', retention),
			'Pass a time at least log_retention ago; loginas.settings shows the retention.');
	END IF;
	PERFORM loginas._check_by_admin(purge_log.by_admin);
	PERFORM loginas._allow_purge(true);
	-- per chain, the purged part is a prefix: up to its last row older than the limit
	WITH last_purged AS (
		SELECT DISTINCT ON (l.chain_id) l.chain_id, l.chain_seq, l.row_hash
		  FROM loginas.action_log l
		 WHERE l.logged_at OPERATOR(pg_catalog.<) purge_log.before
		 ORDER BY l.chain_id, l.chain_seq DESC
	), checkpoints AS (
		INSERT INTO loginas.log_checkpoint AS cp (chain_id, chain_seq, row_hash)
		SELECT lp.chain_id, lp.chain_seq, lp.row_hash FROM last_purged lp
		ON CONFLICT (chain_id) DO UPDATE
		   SET chain_seq = EXCLUDED.chain_seq, row_hash = EXCLUDED.row_hash, purged_at = pg_catalog.now()
		RETURNING cp.chain_id, cp.chain_seq
	), gone AS (
		DELETE FROM loginas.action_log l USING checkpoints c
		 WHERE l.chain_id OPERATOR(pg_catalog.=) c.chain_id AND l.chain_seq OPERATOR(pg_catalog.<=) c.chain_seq
		RETURNING 1
	)
	SELECT pg_catalog.count(*) INTO n FROM gone;
	PERFORM loginas._allow_purge(false);
	PERFORM loginas._log('log_purged', 'success', loginas._key_id('admins', purge_log.by_admin), NULL,
						 p_details => pg_catalog.jsonb_build_object('before', purge_log.before, 'rows', n,
																	'retention', retention::pg_catalog.text,
																	'role', SESSION_USER::pg_catalog.text),
						 p_admin_key => loginas._canon_key('admins', purge_log.by_admin));
	RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION loginas.purge_log(before timestamptz, by_admin bigint DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
BEGIN
	RETURN loginas.purge_log(purge_log.before, purge_log.by_admin::pg_catalog.text);
END
$$;
CREATE FUNCTION loginas._activity_rows(p_admin_key text, p_since timestamptz)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT l.logged_at, loginas._action_label(l.action, l.details), l.result,
		   COALESCE(l.customer_email, l.customer_id::pg_catalog.text, l.customer_key), l.session_id, l.source, l.reason,
		   loginas._action_details(l.action, l.details, true)
	  FROM loginas.action_log l
	 WHERE l.admin_key OPERATOR(pg_catalog.=) p_admin_key
	   AND (p_since IS NULL OR l.logged_at OPERATOR(pg_catalog.>=) p_since)
	 ORDER BY l.logged_at DESC, l.log_id DESC
$$;
CREATE FUNCTION loginas.admin_activity_as_reporting(admin_id text, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan
	AS $$
BEGIN
	IF admin_activity_as_reporting.admin_id IS NULL THEN
		PERFORM loginas._raise('22023', 'admin_id cannot be NULL', NULL, NULL);
	END IF;
	-- an integer key given as text reads the integer rows
	IF loginas._is_int_type(loginas._key_type('admins')) THEN
		RETURN QUERY SELECT * FROM loginas._activity_rows(
			loginas._canon_key('admins', admin_activity_as_reporting.admin_id)::pg_catalog.int8, since);
	ELSE
		RETURN QUERY SELECT * FROM loginas._activity_rows(
			loginas._canon_key('admins', admin_activity_as_reporting.admin_id), since);
	END IF;
END
$$;
CREATE FUNCTION loginas.admin_activity_as_admin(viewer_admin bigint, admin_id text, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('admin_id', admin_activity_as_admin.admin_id, 'since', since);
BEGIN
	PERFORM loginas._check_viewer(viewer_admin, 'admin_activity', NULL, filters);
	RETURN QUERY SELECT * FROM loginas.admin_activity_as_reporting(admin_activity_as_admin.admin_id, since);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'admin_activity', NULL, filters, n);
END
$$;
CREATE FUNCTION loginas.admin_activity(admin_id text, since timestamptz DEFAULT NULL, viewer_admin bigint DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY SELECT * FROM loginas.admin_activity_as_reporting(admin_activity.admin_id, since);
	ELSE
		RETURN QUERY SELECT * FROM loginas.admin_activity_as_admin(viewer_admin, admin_activity.admin_id, since);
	END IF;
END
$$;

-- the new functions and those created again: for loginas' own use unless
-- granted below
REVOKE ALL ON FUNCTION
	loginas._check_by_admin(text),
	loginas._key_id(text, text),
	loginas._log(text, text, bigint, bigint, bigint, bigint, text, text, jsonb, inet, text, text, text),
	loginas._context_set(bigint, bigint, bigint, bigint, boolean, text, text, text, text, text, text, text, text, text),
	loginas.current_admin_key(),
	loginas.current_store_key(),
	loginas._end_session(bigint, text, text),
	loginas._evaluate(text, text, boolean),
	loginas._resolve_store(jsonb, text),
	loginas._document_binding(text),
	loginas._begin(text, text, text, text, text, text, text, boolean, inet),
	loginas._set_assistance(text, boolean, timestamptz, text),
	loginas.configure(text, text, text),
	loginas.bind(text, regclass, text),
	loginas.unbind(text, text),
	loginas."grant"(text, text, text),
	loginas."revoke"(text, text, text),
	loginas.permitted(text, text),
	loginas.set_assistance_as_admin(text, boolean, timestamptz, text),
	loginas.set_assistance(text, boolean, timestamptz, text),
	loginas.check(text, text),
	loginas.store_choices(text, text),
	loginas.store_choices(bigint, text),
	loginas.begin(text, text, text, text, text, boolean, inet),
	loginas.begin_from(text, text, text, text, text, boolean, inet),
	loginas.redeem(text, inet),
	loginas.end_admin(text, text),
	loginas.purge_log(timestamptz, text),
	loginas._activity_rows(text, timestamptz),
	loginas.admin_activity_as_reporting(text, timestamptz),
	loginas.admin_activity_as_admin(bigint, text, timestamptz),
	loginas.admin_activity(text, timestamptz, bigint)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	loginas.configure(text, text, text),
	loginas.bind(text, regclass, text),
	loginas.unbind(text, text),
	loginas."grant"(text, text, text),
	loginas."revoke"(text, text, text),
	loginas.permitted(text, text),
	loginas.set_assistance(text, boolean, timestamptz, text),
	loginas.set_assistance_as_admin(text, boolean, timestamptz, text),
	loginas.check(text, text),
	loginas.store_choices(text, text),
	loginas.store_choices(bigint, text),
	loginas.begin(text, text, text, text, text, boolean, inet),
	loginas.begin_from(text, text, text, text, text, boolean, inet),
	loginas.end_admin(text, text),
	loginas.current_admin_key(),
	loginas.current_store_key()
TO loginas_admin;

GRANT EXECUTE ON FUNCTION
	loginas.redeem(text, inet),
	loginas.set_assistance(text, boolean, timestamptz, text),
	loginas.current_admin_key(),
	loginas.current_store_key()
TO loginas_storefront;

GRANT EXECUTE ON FUNCTION loginas.admin_activity(text, timestamptz, bigint),
	loginas.admin_activity_as_admin(bigint, text, timestamptz)
	TO loginas_reporting, loginas_admin;

GRANT EXECUTE ON FUNCTION loginas.admin_activity_as_reporting(text, timestamptz) TO loginas_reporting;

GRANT EXECUTE ON FUNCTION loginas.purge_log(timestamptz, text) TO loginas_auditor;

-- backends that read a binding before the update: they read it again
SELECT loginas._invalidate('loginas.binding');


-- ---------------------------------------------------------------------------
-- Keys of any type: refusals and views of the log name an admin or a store
-- view whose key is not an integer (admin_key, store_key), as they name such
-- a customer (the block "refusals and views of the log name a customer"
-- above).  The durable refusal log carries the keys (_queue_refusal,
-- _refuse, _log_refusal, _log_refused take admin_key and store_key last;
-- begin, begin_from, redeem and assume pass them; src/refusal_queue.c keeps
-- them in its entries and its file, version 5); a viewer_admin keyed by text
-- (customer_history_as_admin(text, text), admin_activity_as_admin(text,
-- text, timestamptz), actions_report_as_admin(viewer_admin text, ...), which
-- the bigint forms with a key as text call; _check_viewer, _log_view,
-- _record_view take p_viewer_key); actions_report() and its halves filter by
-- admin_key; the Details print the store view's key where there is no
-- store_id.  An integer shop's rows are what they were (ids, no keys).
-- ---------------------------------------------------------------------------
DROP FUNCTION loginas._queue_refusal(text, text, text, text, bigint, bigint, bigint, inet, text, text, text);
DROP FUNCTION loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text,
								   text);
DROP FUNCTION loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text,
								   bigint, timestamptz, text);
DROP FUNCTION loginas._refuse(text, text, text, text, text, bigint, bigint, bigint, inet, text, text, text);
DROP FUNCTION loginas._log_refused(text, text, text, bigint, bigint, bigint, text);
DROP FUNCTION loginas._row_summary(text, bigint, text, bigint, bigint, text, text, jsonb, text);
DROP FUNCTION loginas._actions_rows(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text);
DROP FUNCTION loginas._check_viewer(bigint, text, bigint, jsonb, text);
DROP FUNCTION loginas._log_view(bigint, text, bigint, jsonb, bigint, jsonb, text);
DROP FUNCTION loginas._record_view(text, text, bigint, bigint, jsonb, text);
DROP FUNCTION loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text);
DROP FUNCTION loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int,
											  text);
DROP FUNCTION loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text);

CREATE FUNCTION loginas._queue_refusal(action text, sqlstate text, message text, detail text,
									   admin_id bigint, customer_id bigint, session_id bigint,
									   client_addr inet DEFAULT NULL, reason text DEFAULT NULL,
									   source text DEFAULT NULL, customer_key text DEFAULT NULL,
									   admin_key text DEFAULT NULL, store_key text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_queue_refusal';

CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text DEFAULT NULL, p_source text DEFAULT NULL,
									 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
									 p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas._log_refusal(p_logged_at, p_action, p_sqlstate, p_message, p_detail, p_admin_id,
								p_customer_id, p_session_id, p_client_addr, p_db_role, p_reason, p_source,
								NULL::bigint, NULL::timestamptz, p_customer_key, p_admin_key, p_store_key);
END
$$;

CREATE FUNCTION loginas._refuse(p_action text, p_sqlstate text, p_message text,
								p_detail text DEFAULT NULL, p_hint text DEFAULT NULL,
								p_admin_id bigint DEFAULT NULL, p_customer_id bigint DEFAULT NULL,
								p_session_id bigint DEFAULT NULL, p_client_addr inet DEFAULT NULL,
								p_reason text DEFAULT NULL, p_source text DEFAULT NULL,
								p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
								p_store_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF p_action IS NOT NULL THEN
		PERFORM loginas._queue_refusal(p_action, p_sqlstate, p_message, p_detail,
									   p_admin_id, p_customer_id, p_session_id,
									   p_client_addr, p_reason, p_source, p_customer_key,
									   p_admin_key, p_store_key);
		PERFORM loginas._log_refused(p_action, p_message, p_detail, p_admin_id, p_customer_id, p_session_id,
									 p_customer_key, p_admin_key);
	END IF;
	PERFORM loginas._raise(p_sqlstate, p_message, p_detail, p_hint);
END
$$;

CREATE FUNCTION loginas._log_refusal(p_logged_at timestamptz, p_action text, p_sqlstate text,
									 p_message text, p_detail text, p_admin_id bigint,
									 p_customer_id bigint, p_session_id bigint,
									 p_client_addr inet, p_db_role name,
									 p_reason text, p_source text,
									 p_coalesced bigint, p_last_refused_at timestamptz,
									 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL,
									 p_store_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	username text;
	email text;
	src text;
	why text;
	store bigint;
	skey text;
	details jsonb;
	ckey text := CASE WHEN p_customer_id IS NULL THEN p_customer_key END;
	akey text := CASE WHEN p_admin_id IS NULL THEN p_admin_key END;
BEGIN
	BEGIN
		IF akey IS NULL THEN
			username := loginas._lookup('admins', p_admin_id, true) OPERATOR(pg_catalog.->>) 'username';
		ELSE
			username := loginas._lookup('admins', akey, true) OPERATOR(pg_catalog.->>) 'username';
		END IF;
		IF ckey IS NULL THEN
			email := loginas._lookup('customers', p_customer_id, true) OPERATOR(pg_catalog.->>) 'email';
		ELSE
			email := loginas._lookup('customers', ckey, true) OPERATOR(pg_catalog.->>) 'email';
		END IF;
	EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
		username := NULL;	-- the binding is unreadable: log ids only
		email := NULL;
	END;
	SELECT s.source, s.reason, s.store_id, CASE WHEN s.store_id IS NULL THEN s.store_key END
	  INTO src, why, store, skey
	  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) p_session_id;
	-- a refused begin has no session: it carries the reason and source given
	-- to it (and the store view, when one was chosen)
	src := COALESCE(p_source, src);
	why := COALESCE(p_reason, why);
	IF store IS NULL THEN
		skey := COALESCE(p_store_key, skey);
	END IF;
	details := pg_catalog.jsonb_build_object('sqlstate', p_sqlstate, 'message', p_message, 'detail', p_detail);
	IF p_coalesced IS NOT NULL THEN
		details := details OPERATOR(pg_catalog.||)
			pg_catalog.jsonb_build_object('coalesced', p_coalesced, 'last_refused_at', p_last_refused_at);
	END IF;
	RETURN loginas._append(p_logged_at, p_action OPERATOR(pg_catalog.||) '_refused', 'failure',
						   p_admin_id, username, p_customer_id, email, p_session_id, store, src, why,
						   p_client_addr, p_db_role, details, akey, ckey, skey);
END
$$;

CREATE FUNCTION loginas._log_refused(p_action text, p_message text, p_detail text,
									 p_admin_id bigint, p_customer_id bigint, p_session_id bigint,
									 p_customer_key text DEFAULT NULL, p_admin_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_log_refused';

CREATE FUNCTION loginas._row_summary(p_action text, p_customer_id bigint, p_customer_email text,
									 p_store_id bigint, p_session_id bigint, p_source text, p_reason text,
									 p_details jsonb, p_customer_key text DEFAULT NULL,
									 p_store_key text DEFAULT NULL)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_row_summary';

CREATE FUNCTION loginas._actions_rows(p_since timestamptz, p_until timestamptz, p_action_group text,
									  p_admin_id bigint, p_customer_id bigint, p_result text,
									  p_page_size int, p_page int, p_customer_key text DEFAULT NULL,
									  p_admin_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT p.logged_at, p.action_group, loginas._action_label(p.action, p.details), p.client_addr,
		   p.admin_username, p.result,
		   loginas._row_summary(p.action, p.customer_id, p.customer_email, p.store_id, p.session_id,
								p.source, p.reason, p.details, p.customer_key, p.store_key)
	  FROM (SELECT l.log_id, l.logged_at, l.action_group, l.action, l.result, l.admin_username,
				   l.customer_id, l.customer_email, l.session_id, l.store_id, l.source, l.reason,
				   l.client_addr, l.details, l.customer_key, l.store_key
			  FROM loginas.action_log l
			 WHERE (p_since IS NULL OR l.logged_at OPERATOR(pg_catalog.>=) p_since)
			   AND (p_until IS NULL OR l.logged_at OPERATOR(pg_catalog.<) p_until)
			   AND (p_action_group IS NULL OR l.action_group OPERATOR(pg_catalog.=) p_action_group)
			   AND (p_admin_id IS NULL OR l.admin_id OPERATOR(pg_catalog.=) p_admin_id)
			   AND (p_admin_key IS NULL OR l.admin_key OPERATOR(pg_catalog.=) p_admin_key)
			   AND (p_customer_id IS NULL OR l.customer_id OPERATOR(pg_catalog.=) p_customer_id)
			   AND (p_customer_key IS NULL OR l.customer_key OPERATOR(pg_catalog.=) p_customer_key)
			   AND (p_result IS NULL OR l.result OPERATOR(pg_catalog.=) p_result)
			 ORDER BY l.logged_at DESC, l.log_id DESC
			 OFFSET (p_page::pg_catalog.int8 OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) p_page_size
			 LIMIT p_page_size) p
	 ORDER BY p.logged_at DESC, p.log_id DESC
$$;

CREATE FUNCTION loginas._check_viewer(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb,
									  p_customer_key text DEFAULT NULL, p_viewer_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	viewer text := COALESCE(p_viewer::pg_catalog.text, p_viewer_key);
	a jsonb;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	PERFORM loginas._require_writable(pg_catalog.format('loginas.%s() with viewer_admin', p_report));
	IF viewer IS NULL THEN
		st := '42501';
		msg := 'viewing the Login as Customer log needs viewer_admin';
		det := 'Without viewer_admin only members of loginas_reporting may read the log.';
		hnt := 'Pass viewer_admin => the id of the admin user viewing the log; their role needs the "view_log" resource.';
	ELSE
		BEGIN
			a := loginas._lookup('admins', viewer);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
									hnt = PG_EXCEPTION_HINT;
		END;
		IF st IS NOT NULL THEN
			NULL;		-- the admins binding cannot be read: refused with its error
		ELSIF a IS NULL THEN
			st := '42501';
			msg := pg_catalog.format('admin user %s does not exist', viewer);
			det := pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), viewer);
			hnt := 'Pass the id of the admin user viewing the log as viewer_admin.';
		ELSIF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username');
			det := 'Only active admin users can view the Login as Customer log.';
		ELSIF NOT loginas.permitted(viewer, 'view_log') THEN
			st := '42501';
			msg := pg_catalog.format('admin user "%s" is not allowed to view the Login as Customer log',
									 a OPERATOR(pg_catalog.->>) 'username');
			SELECT l.detail, l.hint INTO det, hnt
			  FROM loginas._roles_lack(a, 'view_log', 'View Login as Customer Log') l;
		END IF;
	END IF;
	IF st IS NOT NULL THEN
		PERFORM loginas._record_view('log_view_refused', 'failure', p_viewer, p_customer_id,
			pg_catalog.jsonb_build_object('sqlstate', st, 'message', msg, 'detail', NULLIF(det, ''),
										  'report', p_report, 'filters', pg_catalog.jsonb_strip_nulls(p_filters)),
			p_customer_key, p_viewer_key);
		PERFORM loginas._raise(st, msg, NULLIF(det, ''), NULLIF(hnt, ''));
	END IF;
END
$$;

CREATE FUNCTION loginas._log_view(p_viewer bigint, p_report text, p_customer_id bigint, p_filters jsonb,
								  p_rows bigint, p_extra jsonb DEFAULT '{}', p_customer_key text DEFAULT NULL,
								  p_viewer_key text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._record_view('log_viewed', 'success', p_viewer, p_customer_id,
		pg_catalog.jsonb_build_object('report', p_report,
									  'filters', pg_catalog.jsonb_strip_nulls(p_filters),
									  'rows', p_rows) OPERATOR(pg_catalog.||) p_extra,
		p_customer_key, p_viewer_key);
END
$$;

CREATE FUNCTION loginas.actions_report_as_reporting(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
		action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL,
		result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1, customer_key text DEFAULT NULL,
		admin_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_custom_plan		-- plan each call with its filters
	AS $$
DECLARE
	grp text := actions_report_as_reporting.action_group;
	res text := pg_catalog.lower(actions_report_as_reporting.result);
	cid bigint := actions_report_as_reporting.customer_id;
	ckey text;
	aid bigint := actions_report_as_reporting.admin_id;
	akey text;
BEGIN
	IF res IS NOT NULL AND res NOT IN ('success', 'failure') THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('invalid result "%s"', actions_report_as_reporting.result), NULL,
			'Valid results are: success, failure.');
	END IF;
	IF page_size IS NULL OR page_size OPERATOR(pg_catalog.<) 1 OR page_size OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('page_size must be between 1 and 10000, not %s', COALESCE(page_size::text, 'NULL')),
			NULL, NULL);
	END IF;
	IF page IS NULL OR page OPERATOR(pg_catalog.<) 1 THEN
		PERFORM loginas._raise('22023',
			pg_catalog.format('page must be 1 or more, not %s', COALESCE(page::text, 'NULL')), NULL,
			'Pages are numbered from 1.');
	END IF;
	IF since OPERATOR(pg_catalog.>) until THEN
		PERFORM loginas._raise('22023', 'since is later than until',
			'The report lists the actions with since <= Time < until.', NULL);
	END IF;
	-- the Action Group as Magento spells it, however it was typed
	IF pg_catalog.lower(grp) OPERATOR(pg_catalog.=) 'login as customer' THEN
		grp := 'Login As Customer';
	END IF;
	-- a customer by its key of any type, as text: canonical (no row has a key
	-- that is not a value of the key's type); an integer key is customer_id
	IF actions_report_as_reporting.customer_key IS NOT NULL THEN
		ckey := loginas._canon_key('customers', actions_report_as_reporting.customer_key);
		IF ckey IS NULL THEN
			RETURN;
		ELSIF loginas._is_int_type(loginas._key_type('customers')) THEN
			IF cid IS NOT NULL AND cid OPERATOR(pg_catalog.<>) ckey::pg_catalog.int8 THEN
				RETURN;		-- two customers: no row is of both
			END IF;
			cid := ckey::pg_catalog.int8;
			ckey := NULL;
		END IF;
	END IF;
	-- an admin the same way: an integer key is admin_id
	IF actions_report_as_reporting.admin_key IS NOT NULL THEN
		akey := loginas._canon_key('admins', actions_report_as_reporting.admin_key);
		IF akey IS NULL THEN
			RETURN;
		ELSIF loginas._is_int_type(loginas._key_type('admins')) THEN
			IF aid IS NOT NULL AND aid OPERATOR(pg_catalog.<>) akey::pg_catalog.int8 THEN
				RETURN;		-- two admins: no row is of both
			END IF;
			aid := akey::pg_catalog.int8;
			akey := NULL;
		END IF;
	END IF;
	RETURN QUERY
	SELECT * FROM loginas._actions_rows(since, until, grp, aid, cid, res, page_size, page, ckey, akey);
END
$$;

CREATE FUNCTION loginas.actions_report_as_admin(viewer_admin text, since timestamptz DEFAULT NULL,
		until timestamptz DEFAULT NULL, action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL,
		customer_id bigint DEFAULT NULL, result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1,
		customer_key text DEFAULT NULL, admin_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('since', since, 'until', until, 'action_group', action_group,
												   'admin_id', actions_report_as_admin.admin_id,
												   'customer_id', actions_report_as_admin.customer_id,
												   'result', actions_report_as_admin.result,
												   'customer_key', actions_report_as_admin.customer_key,
												   'admin_key', actions_report_as_admin.admin_key);
BEGIN
	PERFORM loginas._check_viewer(NULL, 'actions_report', actions_report_as_admin.customer_id, filters,
		actions_report_as_admin.customer_key, viewer_admin);
	RETURN QUERY
	SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report_as_admin.admin_id,
		actions_report_as_admin.customer_id, actions_report_as_admin.result, page_size, page,
		actions_report_as_admin.customer_key, actions_report_as_admin.admin_key);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(NULL, 'actions_report', actions_report_as_admin.customer_id, filters,
		n, pg_catalog.jsonb_build_object('page', page, 'page_size', page_size), actions_report_as_admin.customer_key,
		viewer_admin);
END
$$;

CREATE FUNCTION loginas.actions_report_as_admin(viewer_admin bigint, since timestamptz DEFAULT NULL,
		until timestamptz DEFAULT NULL, action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL,
		customer_id bigint DEFAULT NULL, result text DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1,
		customer_key text DEFAULT NULL, admin_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY
	SELECT * FROM loginas.actions_report_as_admin(viewer_admin::pg_catalog.text, since, until, action_group,
		actions_report_as_admin.admin_id, actions_report_as_admin.customer_id, actions_report_as_admin.result,
		page_size, page, actions_report_as_admin.customer_key, actions_report_as_admin.admin_key);
END
$$;

CREATE FUNCTION loginas.actions_report(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
		action_group text DEFAULT NULL, admin_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL,
		result text DEFAULT NULL, viewer_admin bigint DEFAULT NULL, page_size int DEFAULT 100, page int DEFAULT 1,
		customer_key text DEFAULT NULL, admin_key text DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action Group" text, "Action" text, "IP Address" inet,
				   "Username" text, "Result" text, "Details" text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- SECURITY INVOKER: current_user is the caller
	IF viewer_admin IS NULL AND pg_catalog.pg_has_role('loginas_reporting', 'USAGE') THEN
		RETURN QUERY
		SELECT * FROM loginas.actions_report_as_reporting(since, until, action_group, actions_report.admin_id,
			actions_report.customer_id, actions_report.result, page_size, page, actions_report.customer_key,
			actions_report.admin_key);
	ELSE
		RETURN QUERY
		SELECT * FROM loginas.actions_report_as_admin(viewer_admin, since, until, action_group, actions_report.admin_id,
			actions_report.customer_id, actions_report.result, page_size, page, actions_report.customer_key,
			actions_report.admin_key);
	END IF;
END
$$;

CREATE FUNCTION loginas.customer_history_as_admin(viewer_admin text, customer_id text)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	int_keys boolean := loginas._is_int_type(loginas._key_type('customers'));
	k text := loginas._canon_key('customers', customer_history_as_admin.customer_id);
	filters jsonb := pg_catalog.jsonb_build_object('customer_id', customer_history_as_admin.customer_id);
	n bigint;
BEGIN
	-- an integer key given as text (or NULL): as the integer form (its
	-- viewer's check, its log_viewed row with the customer_id filter)
	IF int_keys AND (k IS NOT NULL OR customer_history_as_admin.customer_id IS NULL) THEN
		filters := pg_catalog.jsonb_build_object('customer_id', k::pg_catalog.int8);
		PERFORM loginas._check_viewer(NULL, 'customer_history', k::pg_catalog.int8, filters, NULL, viewer_admin);
		RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(k::pg_catalog.int8);
		GET DIAGNOSTICS n = ROW_COUNT;
		PERFORM loginas._log_view(NULL, 'customer_history', k::pg_catalog.int8, filters, n,
			p_viewer_key => viewer_admin);
		RETURN;
	END IF;
	-- whatever the key, the viewer is checked first (a refused view is
	-- logged); the viewer's check and the log_viewed row name the customer by
	-- its key (canonical: loginas._record_view); the filter is the key as given
	PERFORM loginas._check_viewer(NULL, 'customer_history', NULL, filters,
		CASE WHEN NOT int_keys THEN customer_history_as_admin.customer_id END, viewer_admin);
	IF customer_history_as_admin.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL, NULL);
	END IF;
	IF int_keys THEN
		-- text that is no integer is no customer's key: an empty history, as
		-- customer_history_as_reporting() reads it, and its log_viewed row
		PERFORM loginas._log_view(NULL, 'customer_history', NULL, filters, 0, p_viewer_key => viewer_admin);
		RETURN;
	END IF;
	RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history_as_admin.customer_id);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(NULL, 'customer_history', NULL, filters, n,
		p_customer_key => customer_history_as_admin.customer_id, p_viewer_key => viewer_admin);
END
$$;

CREATE FUNCTION loginas.admin_activity_as_admin(viewer_admin text, admin_id text, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('admin_id', admin_activity_as_admin.admin_id, 'since', since);
BEGIN
	PERFORM loginas._check_viewer(NULL, 'admin_activity', NULL, filters, NULL, viewer_admin);
	RETURN QUERY SELECT * FROM loginas.admin_activity_as_reporting(admin_activity_as_admin.admin_id, since);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(NULL, 'admin_activity', NULL, filters, n, p_viewer_key => viewer_admin);
END
$$;

CREATE FUNCTION loginas._record_view(p_action text, p_result text, p_viewer bigint, p_customer_id bigint,
									 p_details jsonb, p_customer_key text DEFAULT NULL,
									 p_viewer_key text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	username text;
	email text;
	cid bigint := p_customer_id;
	ckey text;
	vid bigint := p_viewer;
	vkey text;
BEGIN
	IF cid IS NULL AND p_customer_key IS NOT NULL THEN
		ckey := loginas._canon_key('customers', p_customer_key);
		IF loginas._is_int_type(loginas._key_type('customers')) THEN
			cid := ckey::pg_catalog.int8;
			ckey := NULL;
		END IF;
	END IF;
	IF vid IS NULL AND p_viewer_key IS NOT NULL THEN
		vkey := loginas._canon_key('admins', p_viewer_key);
		IF loginas._is_int_type(loginas._key_type('admins')) THEN
			vid := vkey::pg_catalog.int8;
			vkey := NULL;
		END IF;
	END IF;
	BEGIN
		IF vkey IS NULL THEN
			username := loginas._lookup('admins', vid, true) OPERATOR(pg_catalog.->>) 'username';
		ELSE
			username := loginas._lookup('admins', vkey, true) OPERATOR(pg_catalog.->>) 'username';
		END IF;
		IF ckey IS NULL THEN
			email := loginas._lookup('customers', cid, true) OPERATOR(pg_catalog.->>) 'email';
		ELSE
			email := loginas._lookup('customers', ckey, true) OPERATOR(pg_catalog.->>) 'email';
		END IF;
	EXCEPTION WHEN OTHERS THEN
		NULL;		-- a binding that cannot be read: the ids are logged
	END;
	RETURN loginas._append_committed(pg_catalog.clock_timestamp(), p_action, p_result, vid, username,
									 cid, email, NULL, NULL, NULL, NULL, pg_catalog.inet_client_addr(),
									 SESSION_USER, p_details, vkey, ckey, NULL);
END
$$;

COMMENT ON FUNCTION loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text, text)
	IS 'Admin Actions Report: Time, Action Group, Action, IP Address, Username, Result, Details; newest first, a page at a time';

CREATE OR REPLACE FUNCTION loginas._begin(p_admin_key text, p_customer_key text, p_store_key text, p_reason text,
							   p_source text, p_source_kind text, p_source_document_key text,
							   p_read_only boolean, p_client_addr inet)
	RETURNS loginas.ticket
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	st jsonb;
	prior record;
	new_id bigint;
	attempt int := 0;
	constraint_name text;
	t loginas.ticket;
	p_customer_id bigint;
	-- the ids of 1.2's columns (NULL when the keys are not integers)
	p_admin_id bigint := loginas._key_id('admins', p_admin_key);
BEGIN
	PERFORM loginas._require_writable('loginas.begin()');
	p_reason := NULLIF(pg_catalog.btrim(p_reason), '');
	IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._refuse('begin', '22023', 'reason is too long', 'At most 1000 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF p_source IS NOT NULL AND pg_catalog.length(p_source) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._refuse('begin', '22023', 'source is too long', 'At most 200 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;

	v := loginas._evaluate(p_admin_key, p_customer_key, true);
	-- the keys as canonical text, customer_id when it is an integer; a
	-- refusal names the admin and the customer by them (none when the key is
	-- not a value of the key's type)
	p_admin_key := loginas._canon_key('admins', p_admin_key);
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key, p_admin_key => p_admin_key);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key, p_admin_key => p_admin_key);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_key);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	-- the store view's key as the binding read it (canonical)
	t.store_key := st OPERATOR(pg_catalog.->>) 'store_id';
	t.store_id := loginas._key_id('store_views', t.store_key);
	p_source_document_key := loginas._canon_key(loginas._document_binding(p_source_kind), p_source_document_key);

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_key OPERATOR(pg_catalog.=) p_admin_key AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_key);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, customer_key, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr, admin_key, store_key, document_key)
			VALUES (p_admin_id, p_customer_id, p_customer_key, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind,
					loginas._key_id(loginas._document_binding(p_source_kind), p_source_document_key),
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()),
					p_admin_key, t.store_key, p_source_document_key)
			RETURNING session_id INTO new_id;
			EXIT;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent begin by the same admin committed first: end it too
			-- (READ COMMITTED sees it in the next round; a transaction-wide
			-- snapshot never will, so that caller must retry the transaction)
			GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
			IF constraint_name OPERATOR(pg_catalog.<>) 'session_one_live_per_admin' THEN
				RAISE;
			END IF;
			IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed'
			   OR attempt OPERATOR(pg_catalog.>=) 5 THEN
				PERFORM loginas._refuse('begin', '40001',
					'could not begin Login as Customer: a concurrent begin by the same admin committed first',
					'An admin has one live ticket or session at a time.', 'Retry the transaction.',
					p_admin_id, p_customer_id,
					p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
					p_customer_key => p_customer_key, p_admin_key => p_admin_key,
					p_store_key => CASE WHEN t.store_id IS NULL THEN t.store_key END);
			END IF;
		END;
	END LOOP;

	PERFORM loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr, p_customer_key, p_admin_key, t.store_key);
	RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION loginas.begin_from(admin_id text, document_kind text, document_id text,
								   store_id text DEFAULT NULL, reason text DEFAULT NULL,
								   read_only boolean DEFAULT false, client_addr inet DEFAULT NULL)
	RETURNS loginas.ticket
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	binding_kind text := loginas._document_binding(begin_from.document_kind);
	label text := pg_catalog.replace(begin_from.document_kind, '_', ' ');
	doc jsonb;
	-- a refusal names the admin by its id, else by its key (canonical)
	refused_admin bigint := loginas._key_id('admins', begin_from.admin_id);
	refused_admin_key text := loginas._canon_key('admins', begin_from.admin_id);
BEGIN
	IF binding_kind IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('unrecognized document kind "%s"', begin_from.document_kind), NULL,
			'Valid kinds are: order, invoice, shipment, credit_memo.', refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason,
			p_admin_key => refused_admin_key);
	END IF;
	doc := loginas._lookup(binding_kind, begin_from.document_id);
	IF doc IS NULL THEN
		PERFORM loginas._refuse('begin', '22023',
			pg_catalog.format('%s %s does not exist', label, begin_from.document_id),
			pg_catalog.format('No row of %s has document_id %s.', loginas._bound_relation(binding_kind),
							  begin_from.document_id), NULL, refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason,
			p_admin_key => refused_admin_key);
	END IF;
	IF doc OPERATOR(pg_catalog.->>) 'customer_id' IS NULL THEN
		PERFORM loginas._refuse('begin', '55000',
			pg_catalog.format('cannot login as the customer of %s %s: it belongs to a guest', label,
							  doc OPERATOR(pg_catalog.->>) 'reference'),
			'Guest orders have no customer account to log in to.', NULL, refused_admin,
			p_client_addr => begin_from.client_addr, p_reason => begin_from.reason,
			p_admin_key => refused_admin_key);
	END IF;
	-- the document's key as the binding read it (canonical)
	RETURN loginas._begin(begin_from.admin_id, doc OPERATOR(pg_catalog.->>) 'customer_id',
								 begin_from.store_id, begin_from.reason,
								 pg_catalog.format('%s %s', label, doc OPERATOR(pg_catalog.->>) 'reference'),
								 begin_from.document_kind, doc OPERATOR(pg_catalog.->>) 'document_id',
								 begin_from.read_only, begin_from.client_addr);
END
$$;

CREATE OR REPLACE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz, customer_key text,
				   store_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
	invalid constant text := 'Login as Customer ticket is invalid or has expired.';
	hint constant text := 'Start Login as Customer again from the admin panel.';
BEGIN
	PERFORM loginas._require_writable('loginas.redeem()');
	SELECT * INTO s FROM loginas.session ls
	 WHERE ls.ticket_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(redeem.token, ''))
	   FOR UPDATE;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'No ticket matches the given token.', hint,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.redeemed_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'The ticket has already been used.', hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	PERFORM loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr, s.customer_key, s.admin_key, s.store_key);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	customer_key := s.customer_key;
	store_id := s.store_id;
	store_key := s.store_key;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	hint constant text := 'Log the customer out of the storefront; the admin can start Login as Customer again.';
BEGIN
	-- FOR KEY SHARE: ending this session (FOR UPDATE) waits until this
	-- transaction is over, so no write under a session ended meanwhile commits
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		-- a read-only transaction writes nothing, so needs no lock (and could not take one)
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(assume.session_key, ''))
		   FOR KEY SHARE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.', hint);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s ended at %s (%s).', s.session_id, s.ended_at, s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key,
								p_admin_key => s.admin_key,
								p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text, s.customer_key, s.admin_key, s.store_key);
	RETURN s.session_id;
END
$$;

CREATE OR REPLACE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id text)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.customer_history_as_admin(viewer_admin::pg_catalog.text,
																 customer_history_as_admin.customer_id);
END
$$;

CREATE OR REPLACE FUNCTION loginas.admin_activity_as_admin(viewer_admin bigint, admin_id text, since timestamptz DEFAULT NULL)
	RETURNS TABLE ("Time" timestamptz, "Action" text, "Result" text, "Customer" text, "Session" bigint,
				   "Source" text, "Reason" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.admin_activity_as_admin(viewer_admin::pg_catalog.text,
															   admin_activity_as_admin.admin_id, since);
END
$$;

REVOKE ALL ON FUNCTION
	loginas._queue_refusal(text, text, text, text, bigint, bigint, bigint, inet, text, text, text, text, text),
	loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text,
						 text, text, text),
	loginas._log_refusal(timestamptz, text, text, text, text, bigint, bigint, bigint, inet, name, text, text,
						 bigint, timestamptz, text, text, text),
	loginas._refuse(text, text, text, text, text, bigint, bigint, bigint, inet, text, text, text, text, text),
	loginas._log_refused(text, text, text, bigint, bigint, bigint, text, text),
	loginas._row_summary(text, bigint, text, bigint, bigint, text, text, jsonb, text, text),
	loginas._actions_rows(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas._check_viewer(bigint, text, bigint, jsonb, text, text),
	loginas._log_view(bigint, text, bigint, jsonb, bigint, jsonb, text, text),
	loginas._record_view(text, text, bigint, bigint, jsonb, text, text),
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.actions_report_as_admin(text, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text, text),
	loginas.customer_history_as_admin(text, text),
	loginas.admin_activity_as_admin(text, text, timestamptz)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text, text),
	loginas.actions_report_as_admin(bigint, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.actions_report_as_admin(text, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text),
	loginas.customer_history_as_admin(text, text),
	loginas.admin_activity_as_admin(text, text, timestamptz)
TO loginas_reporting, loginas_admin;

GRANT EXECUTE ON FUNCTION
	loginas.actions_report_as_reporting(timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text)
TO loginas_reporting;
-- ===========================================================================
-- Live events and the customer's own view
-- ===========================================================================
--   * live events: NOTIFY on the channel of the new setting notify_channel
--     (empty, the default: none) when a ticket is issued (_begin), a session
--     starts (redeem) and ends (_end_session: every end reason), a session is
--     reverted (loginas._notify_session('session_reverted', ...)), and a
--     refusal is recorded (the refusal log's worker calls
--     loginas._notify_refusal after the failure row committed; src/events.c);
--     loginas._notify sends one, its payload fields from a fixed list;
--     setting_definition takes the kind 'channel', configure() checks it;
--   * the customer's own view: loginas.my_assistance_history(customer_id)
--     (bigint and text), granted to loginas_storefront; the words of each
--     tracked table's changes, loginas.describe() (bigint and text by_admin)
--     and loginas.change_descriptions (table change_description, dumped);
--     the settings customer_view_admin and customer_view_reason; index
--     session_customer_key.
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.setting_definition DROP CONSTRAINT setting_definition_kind_check;
ALTER TABLE loginas.setting_definition ADD CONSTRAINT setting_definition_kind_check
	CHECK (kind IN ('boolean', 'choice', 'interval', 'channel'));
INSERT INTO loginas.setting_definition VALUES
	('notify_channel', 'channel', NULL, '', 'Live events channel',
	 'NOTIFY channel of the live events (tickets, sessions, reverts, refusals); empty: no events. Any role that can connect may LISTEN: events carry ids and keys only.'),
	('customer_view_admin', 'choice', ARRAY['store_administrator', 'display_name'], 'store_administrator',
	 'Admin shown to customers',
	 'What loginas.my_assistance_history() shows for the admin: "Store administrator" (store_administrator) or the admin''s display name (display_name).'),
	('customer_view_reason', 'boolean', NULL, 'off', 'Show the reason to customers',
	 'loginas.my_assistance_history() shows the reason given to begin (off: never).');

CREATE OR REPLACE FUNCTION loginas.configure(name text, value text, by_admin text)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres	-- intervals are stored in one spelling, whoever sets them
	AS $$
DECLARE
	d loginas.setting_definition;
	v text := pg_catalog.btrim(configure.value);
	old text;
	iv interval;
	f record;
	r record;
	admin_key text;
	example constant text := 'Give it in days, hours, minutes and seconds, for example ''60 seconds'', ''1 hour'' or ''7 days''.';
BEGIN
	PERFORM loginas._require_writable('loginas.configure()');
	SELECT * INTO d FROM loginas.setting_definition sd WHERE sd.name OPERATOR(pg_catalog.=) configure.name;
	IF d.name IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer setting "%s"', configure.name), NULL,
			pg_catalog.format('Valid settings are: %s.',
				(SELECT pg_catalog.string_agg(sd.name, ', ' ORDER BY sd.name) FROM loginas.setting_definition sd)));
	END IF;
	IF d.name OPERATOR(pg_catalog.=) 'log_retention' THEN
		PERFORM loginas._refuse(NULL, '42501', 'setting "log_retention" cannot be changed with loginas.configure()',
			'The log retention bounds loginas.purge_log(): it is changed by the auditor, not by the admin backend.',
			'A member of loginas_auditor changes it with loginas.set_log_retention(interval).');
	END IF;
	IF v IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', pg_catalog.format('setting "%s" cannot be NULL', d.name));
	END IF;
	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);

	IF d.kind OPERATOR(pg_catalog.<>) 'interval' THEN
		v := pg_catalog.lower(v);
	END IF;
	IF d.kind OPERATOR(pg_catalog.=) 'boolean' THEN
		IF v IN ('on', 'true', 'yes', '1', 't', 'y') THEN
			v := 'on';
		ELSIF v IN ('off', 'false', 'no', '0', 'f', 'n') THEN
			v := 'off';
		ELSE
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				'Valid values are "on" and "off".');
		END IF;
	ELSIF d.kind OPERATOR(pg_catalog.=) 'channel' THEN
		-- a NOTIFY channel: a name LISTEN takes unquoted (lower case letters,
		-- digits and underscores, at most 63 bytes, no reserved word), so
		-- that no quoting is ever needed; '' (or off): no events
		IF v IN ('', 'off') THEN
			v := '';
		ELSIF v OPERATOR(pg_catalog.!~) '^[a-z_][a-z0-9_]*$' OR pg_catalog.octet_length(v) OPERATOR(pg_catalog.>) 63
			  OR EXISTS (SELECT FROM pg_catalog.pg_get_keywords() k
						  WHERE k.word OPERATOR(pg_catalog.=) v AND k.catcode OPERATOR(pg_catalog.<>) 'U'
							AND k.catcode OPERATOR(pg_catalog.<>) 'C') THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'A channel is a name LISTEN takes unquoted: lower-case letters, digits and underscores, not starting with a digit, at most 63 bytes, not a reserved word.',
				'For example ''loginas_events''; an empty value turns the events off.');
		END IF;
	ELSIF d.kind OPERATOR(pg_catalog.=) 'choice' THEN
		IF NOT v OPERATOR(pg_catalog.=) ANY (d.choices) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				pg_catalog.format('Valid values are: %s.', pg_catalog.array_to_string(d.choices, ', ')));
		END IF;
	ELSE
		BEGIN
			iv := v::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			iv := NULL;
		END;
		IF iv IS NOT NULL THEN
			f := loginas._interval_fields(iv);
			IF f.months OPERATOR(pg_catalog.<>) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'A lifetime cannot be given in months or years: their length varies.', example);
			END IF;
			IF f.days OPERATOR(pg_catalog.<) 0 OR f.seconds OPERATOR(pg_catalog.<) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'Neither the days nor the time of a lifetime can be negative.', example);
			END IF;
		END IF;
		IF iv IS NULL OR iv OPERATOR(pg_catalog.<) interval '1 second' OR iv OPERATOR(pg_catalog.>) interval '7 days' THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'The value must be an interval between 1 second and 7 days.',
				'For example ''60 seconds'' or ''1 hour''.');
		END IF;
		-- stored as elapsed time (days as 24 hours), so that now() + lifetime
		-- is the same whatever TimeZone (and its daylight-saving jumps) the
		-- caller of begin or redeem has set
		v := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', iv))::text;
	END IF;

	-- lock the setting's row (if any): a begin holding it must finish first
	SELECT st.value INTO old FROM loginas.setting st WHERE st.name OPERATOR(pg_catalog.=) d.name FOR UPDATE;
	old := COALESCE(old, d.default_value);
	IF old OPERATOR(pg_catalog.=) v THEN
		RETURN v;			-- nothing changes, nothing is written
	END IF;
	INSERT INTO loginas.setting AS s (name, value, changed_by_admin, changed_by_admin_key)
	VALUES (d.name, v, loginas._key_id('admins', admin_key), admin_key)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE
	   SET value = EXCLUDED.value, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
		   changed_by_admin_key = EXCLUDED.changed_by_admin_key;

	PERFORM loginas._log('setting_changed', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('setting', d.name, 'old', old, 'new', v),
						 p_admin_key => admin_key);

	-- turning the feature off ends every live ticket and session
	IF d.name OPERATOR(pg_catalog.=) 'enabled' AND v OPERATOR(pg_catalog.=) 'off' THEN
		FOR r IN SELECT s.session_id FROM loginas.session s WHERE s.ended_at IS NULL ORDER BY s.session_id LOOP
			PERFORM loginas._end_session(r.session_id, 'feature_disabled', admin_key);
		END LOOP;
	END IF;
	RETURN v;
END
$$;

-- the events (src/sql/05_events.sql)
CREATE FUNCTION loginas._utc(p_at timestamptz) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.to_char(pg_catalog.timezone('UTC', p_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION loginas._notify(p_event text, p_payload jsonb DEFAULT '{}')
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	channel text := loginas._get_setting('notify_channel');
	payload jsonb;
	field text;
	omitted text[] := '{}';
	body text;
	usage double precision;
	events constant text[] := ARRAY['ticket_issued', 'session_started', 'session_ended', 'session_reverted', 'refused'];
	fields constant text[] := ARRAY['at', 'log_id', 'session_id', 'admin_key', 'customer_key', 'store_key',
									'by_admin_key', 'read_only', 'expires_at', 'end_reason', 'redeemed',
									'action', 'sqlstate', 'coalesced', 'rows'];
	key_fields constant text[] := ARRAY['admin_key', 'customer_key', 'store_key', 'by_admin_key'];
BEGIN
	IF channel IS NULL OR channel OPERATOR(pg_catalog.=) '' THEN
		RETURN false;
	END IF;
	IF p_event IS NULL OR NOT p_event OPERATOR(pg_catalog.=) ANY (events) THEN
		PERFORM loginas._raise('22023', pg_catalog.format('unknown loginas event "%s"', p_event), NULL,
			pg_catalog.format('The events are: %s.', pg_catalog.array_to_string(events, ', ')));
	END IF;
	IF p_payload IS NOT NULL AND pg_catalog.jsonb_typeof(p_payload) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM loginas._raise('22023', 'the payload of a loginas event must be a JSON object', NULL, NULL);
	END IF;
	payload := pg_catalog.jsonb_strip_nulls(COALESCE(p_payload, '{}'));
	FOR field IN SELECT k FROM pg_catalog.jsonb_object_keys(payload) k LOOP
		IF NOT field OPERATOR(pg_catalog.=) ANY (fields) THEN
			PERFORM loginas._raise('22023', pg_catalog.format('field "%s" is not allowed in a loginas event', field),
				'Any role that can connect may LISTEN: an event carries ids, keys and states only.',
				pg_catalog.format('The fields are: %s.', pg_catalog.array_to_string(fields, ', ')));
		END IF;
	END LOOP;
	-- a key too long for the payload is left out whole, never cut
	FOREACH field IN ARRAY key_fields LOOP
		IF pg_catalog.octet_length((payload OPERATOR(pg_catalog.->) field)::pg_catalog.text) OPERATOR(pg_catalog.>) 1024 THEN
			payload := payload OPERATOR(pg_catalog.-) field;
			omitted := omitted OPERATOR(pg_catalog.||) field;
		END IF;
	END LOOP;
	payload := pg_catalog.jsonb_build_object('event', p_event,
				   'at', COALESCE(payload OPERATOR(pg_catalog.->) 'at',
								  pg_catalog.to_jsonb(loginas._utc(pg_catalog.clock_timestamp()))))
			   OPERATOR(pg_catalog.||) payload;
	IF pg_catalog.cardinality(omitted) OPERATOR(pg_catalog.>) 0 THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('omitted', omitted);
	END IF;
	body := payload::pg_catalog.text;
	-- (cannot happen with the bounds above: 4 keys of 1 kB and short fields)
	IF pg_catalog.octet_length(body) OPERATOR(pg_catalog.>=) 8000 THEN
		RAISE LOG 'loginas: the % event was not sent: its payload takes % bytes', p_event, pg_catalog.octet_length(body);
		RETURN false;
	END IF;
	usage := pg_catalog.pg_notification_queue_usage();
	IF usage OPERATOR(pg_catalog.>) 0.5 THEN
		RAISE LOG 'loginas: the % event was not sent: the notification queue is % %% full', p_event,
			pg_catalog.round((usage OPERATOR(pg_catalog.*) 100)::pg_catalog.numeric, 1)
			USING DETAIL = 'A session that LISTENs and does not read its notifications holds the queue (pg_notification_queue_usage()).';
		RETURN false;
	END IF;
	PERFORM pg_catalog.pg_notify(channel, body);
	RETURN true;
END
$$;

CREATE FUNCTION loginas._notify_session(p_event text, p_session_id bigint, p_log_id bigint,
										p_extra jsonb DEFAULT '{}')
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	payload jsonb;
BEGIN
	IF loginas._get_setting('notify_channel') OPERATOR(pg_catalog.=) '' THEN
		RETURN false;		-- events are off: nothing read
	END IF;
	SELECT * INTO s FROM loginas.session ls WHERE ls.session_id OPERATOR(pg_catalog.=) p_session_id;
	payload := pg_catalog.jsonb_build_object('log_id', p_log_id, 'session_id', p_session_id,
											 'admin_key', s.admin_key, 'customer_key', s.customer_key,
											 'store_key', s.store_key);
	IF p_event OPERATOR(pg_catalog.=) 'ticket_issued' THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
			'read_only', s.read_only, 'expires_at', loginas._utc(s.ticket_expires_at));
	ELSIF p_event OPERATOR(pg_catalog.=) 'session_started' THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
			'read_only', s.read_only, 'expires_at', loginas._utc(s.expires_at));
	ELSIF p_event OPERATOR(pg_catalog.=) 'session_ended' THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
			'end_reason', s.end_reason, 'redeemed', s.redeemed_at IS NOT NULL,
			'by_admin_key', s.ended_by_admin_key);
	END IF;
	RETURN loginas._notify(p_event, payload OPERATOR(pg_catalog.||) COALESCE(p_extra, '{}'));
END
$$;

CREATE FUNCTION loginas._notify_refusal(p_log_id bigint)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	l loginas.action_log;
BEGIN
	IF loginas._get_setting('notify_channel') OPERATOR(pg_catalog.=) '' THEN
		RETURN false;
	END IF;
	SELECT * INTO l FROM loginas.action_log al
	 WHERE al.log_id OPERATOR(pg_catalog.=) p_log_id AND al.result OPERATOR(pg_catalog.=) 'failure'
	   AND al.action OPERATOR(pg_catalog.=) ANY (ARRAY['begin_refused', 'redeem_refused', 'assume_refused', 'write_refused']);
	IF l.log_id IS NULL THEN
		RETURN false;
	END IF;
	RETURN loginas._notify('refused', pg_catalog.jsonb_build_object(
		'at', loginas._utc(l.logged_at), 'log_id', l.log_id,
		'action', pg_catalog.left(l.action, -8),
		'sqlstate', l.details OPERATOR(pg_catalog.->>) 'sqlstate',
		'session_id', l.session_id,
		'admin_key', COALESCE(l.admin_key, l.admin_id::pg_catalog.text),
		'customer_key', COALESCE(l.customer_key, l.customer_id::pg_catalog.text),
		'store_key', COALESCE(l.store_key, l.store_id::pg_catalog.text),
		'coalesced', l.details OPERATOR(pg_catalog.->) 'coalesced'));
END
$$;

-- who sends them: the ticket, the start and the end of a session
CREATE OR REPLACE FUNCTION loginas._end_session(p_session_id bigint, p_reason text, p_by_admin text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	by_id bigint := loginas._key_id('admins', p_by_admin);
	log_id bigint;
BEGIN
	-- FOR UPDATE waits for transactions acting in the session (they hold
	-- FOR KEY SHARE from loginas.assume) and re-reads the row afterwards
	SELECT * INTO s FROM loginas.session
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id AND ended_at IS NULL
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE loginas.session
	   SET ended_at = pg_catalog.now(), end_reason = p_reason,
		   ended_by_admin = by_id, ended_by_role = SESSION_USER, ended_by_admin_key = p_by_admin
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id;
	log_id := loginas._log('session_ended', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('end_reason', p_reason,
													   'redeemed', s.redeemed_at IS NOT NULL,
													   -- a number for an integer key, as 1.2 logged it
													   'ended_by_admin', COALESCE(pg_catalog.to_jsonb(by_id),
																				  pg_catalog.to_jsonb(p_by_admin))),
						 p_customer_key => s.customer_key, p_admin_key => s.admin_key, p_store_key => s.store_key);
	PERFORM loginas._context_clear_session(p_session_id);
	-- every end, whatever its reason, is a live event (05_events.sql)
	PERFORM loginas._notify_session('session_ended', p_session_id, log_id);
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION loginas._begin(p_admin_key text, p_customer_key text, p_store_key text, p_reason text,
							   p_source text, p_source_kind text, p_source_document_key text,
							   p_read_only boolean, p_client_addr inet)
	RETURNS loginas.ticket
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v loginas._verdict;
	st jsonb;
	prior record;
	new_id bigint;
	attempt int := 0;
	constraint_name text;
	t loginas.ticket;
	p_customer_id bigint;
	log_id bigint;
	-- the ids of 1.2's columns (NULL when the keys are not integers)
	p_admin_id bigint := loginas._key_id('admins', p_admin_key);
BEGIN
	PERFORM loginas._require_writable('loginas.begin()');
	p_reason := NULLIF(pg_catalog.btrim(p_reason), '');
	IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._refuse('begin', '22023', 'reason is too long', 'At most 1000 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;
	IF p_source IS NOT NULL AND pg_catalog.length(p_source) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM loginas._refuse('begin', '22023', 'source is too long', 'At most 200 characters are kept.',
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source);
	END IF;

	v := loginas._evaluate(p_admin_key, p_customer_key, true);
	-- the keys as canonical text, customer_id when it is an integer; a
	-- refusal names the admin and the customer by them (none when the key is
	-- not a value of the key's type)
	p_admin_key := loginas._canon_key('admins', p_admin_key);
	p_customer_key := loginas._canon_key('customers', p_customer_key);
	IF loginas._is_int_type(loginas._key_type('customers')) THEN
		p_customer_id := p_customer_key::pg_catalog.int8;
	END IF;
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('begin', v.sqlstate, v.message, v.detail, v.hint, p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key, p_admin_key => p_admin_key);
	END IF;
	IF loginas._get_setting('require_reason') OPERATOR(pg_catalog.=) 'on' AND p_reason IS NULL THEN
		PERFORM loginas._refuse('begin', '22023', 'A reason is required to login as a customer.',
			'The require_reason setting is on.',
			'Give the support ticket or call id as reason.', p_admin_id, p_customer_id,
			p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
			p_customer_key => p_customer_key, p_admin_key => p_admin_key);
	END IF;
	st := loginas._resolve_store(v.customer, p_store_key);

	t.token := loginas._new_secret();
	t.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('ticket_ttl')::interval;
	-- the store view's key as the binding read it (canonical)
	t.store_key := st OPERATOR(pg_catalog.->>) 'store_id';
	t.store_id := loginas._key_id('store_views', t.store_key);
	p_source_document_key := loginas._canon_key(loginas._document_binding(p_source_kind), p_source_document_key);

	LOOP
		attempt := attempt OPERATOR(pg_catalog.+) 1;
		-- one live ticket or session per admin: end the earlier one
		FOR prior IN SELECT s.session_id,
							(s.redeemed_at IS NULL AND s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())
							OR s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() AS is_expired
					   FROM loginas.session s
					  WHERE s.admin_key OPERATOR(pg_catalog.=) p_admin_key AND s.ended_at IS NULL
		LOOP
			PERFORM loginas._end_session(prior.session_id,
										 CASE WHEN prior.is_expired THEN 'expired' ELSE 'superseded' END,
										 p_admin_key);
		END LOOP;
		BEGIN
			INSERT INTO loginas.session (admin_id, customer_id, customer_key, store_id, read_only, reason, source,
										 source_kind, source_document_id, ticket_hash, ticket_expires_at,
										 admin_addr, admin_key, store_key, document_key)
			VALUES (p_admin_id, p_customer_id, p_customer_key, t.store_id, COALESCE(p_read_only, false),
					p_reason, p_source, p_source_kind,
					loginas._key_id(loginas._document_binding(p_source_kind), p_source_document_key),
					loginas._hash(t.token), t.expires_at,
					COALESCE(p_client_addr, pg_catalog.inet_client_addr()),
					p_admin_key, t.store_key, p_source_document_key)
			RETURNING session_id INTO new_id;
			EXIT;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent begin by the same admin committed first: end it too
			-- (READ COMMITTED sees it in the next round; a transaction-wide
			-- snapshot never will, so that caller must retry the transaction)
			GET STACKED DIAGNOSTICS constraint_name = CONSTRAINT_NAME;
			IF constraint_name OPERATOR(pg_catalog.<>) 'session_one_live_per_admin' THEN
				RAISE;
			END IF;
			IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed'
			   OR attempt OPERATOR(pg_catalog.>=) 5 THEN
				PERFORM loginas._refuse('begin', '40001',
					'could not begin Login as Customer: a concurrent begin by the same admin committed first',
					'An admin has one live ticket or session at a time.', 'Retry the transaction.',
					p_admin_id, p_customer_id,
					p_client_addr => p_client_addr, p_reason => p_reason, p_source => p_source,
					p_customer_key => p_customer_key, p_admin_key => p_admin_key,
					p_store_key => CASE WHEN t.store_id IS NULL THEN t.store_key END);
			END IF;
		END;
	END LOOP;

	log_id := loginas._log('ticket_issued', 'success', p_admin_id, p_customer_id, new_id, t.store_id,
						 p_source, p_reason,
						 pg_catalog.jsonb_build_object('ticket_expires_at', t.expires_at,
													   'read_only', COALESCE(p_read_only, false)),
						 p_client_addr, p_customer_key, p_admin_key, t.store_key);
	PERFORM loginas._notify_session('ticket_issued', new_id, log_id);
	RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION loginas.redeem(token text, client_addr inet DEFAULT NULL)
	RETURNS TABLE (session_id bigint, session_key text, customer_id bigint, store_id bigint,
				   banner text, disable_page_cache boolean, expires_at timestamptz, customer_key text,
				   store_key text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	key text;
	log_id bigint;
	invalid constant text := 'Login as Customer ticket is invalid or has expired.';
	hint constant text := 'Start Login as Customer again from the admin panel.';
BEGIN
	PERFORM loginas._require_writable('loginas.redeem()');
	SELECT * INTO s FROM loginas.session ls
	 WHERE ls.ticket_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(redeem.token, ''))
	   FOR UPDATE;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'No ticket matches the given token.', hint,
			p_client_addr => redeem.client_addr);
	END IF;
	IF s.redeemed_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid, 'The ticket has already been used.', hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket was cancelled (%s).', s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.ticket_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('redeem', '28000', invalid,
			pg_catalog.format('The ticket expired at %s.', s.ticket_expires_at), hint,
			s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key, true);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('redeem', v.sqlstate, v.message, v.detail, v.hint,
								s.admin_id, s.customer_id, s.session_id,
			p_client_addr => redeem.client_addr, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);

	key := loginas._new_secret();
	UPDATE loginas.session ls
	   SET redeemed_at = pg_catalog.now(), key_hash = loginas._hash(key),
		   storefront_addr = COALESCE(redeem.client_addr, pg_catalog.inet_client_addr()),
		   expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) loginas._get_setting('session_ttl')::interval
	 WHERE ls.session_id OPERATOR(pg_catalog.=) s.session_id
	RETURNING ls.expires_at INTO redeem.expires_at;

	log_id := loginas._log('ticket_redeemed', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('session_expires_at', redeem.expires_at),
						 redeem.client_addr, s.customer_key, s.admin_key, s.store_key);
	PERFORM loginas._notify_session('session_started', s.session_id, log_id);

	session_id := s.session_id;
	session_key := key;
	customer_id := s.customer_id;
	customer_key := s.customer_key;
	store_id := s.store_id;
	store_key := s.store_key;
	banner := pg_catalog.format('You are connected as %s on %s',
								v.customer OPERATOR(pg_catalog.->>) 'display_name',
								st OPERATOR(pg_catalog.->>) 'website_name');
	disable_page_cache := loginas._get_setting('disable_page_cache') OPERATOR(pg_catalog.=) 'on';
	RETURN NEXT;
END
$$;

-- the customer's own view (src/sql/09_customer_view.sql)
CREATE INDEX session_customer_key ON loginas.session (customer_key, redeemed_at);

-- what a customer is told a session changed, per tracked table and write
-- operation ('any': the operations without a description of their own);
-- {n} in it stands for the number of rows.  Untracking the table (or
-- dropping it) forgets its descriptions.
CREATE TABLE loginas.change_description (
	relation		regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	operation		text NOT NULL CHECK (operation IN ('any', 'insert', 'update', 'delete')),
	description		text NOT NULL,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by_admin bigint,		-- the admin's key when admins have integer keys
	changed_by_role	name NOT NULL DEFAULT SESSION_USER,
	changed_by_admin_key text,		-- the admin's key, any type, as canonical text
	CONSTRAINT change_description_pkey PRIMARY KEY (relation, operation)
);

CREATE VIEW loginas.change_descriptions AS
	SELECT cd.relation, cd.operation, cd.description, cd.changed_at, cd.changed_by_admin,
		   cd.changed_by_admin_key
	  FROM loginas.change_description cd
	 ORDER BY cd.relation, cd.operation;

COMMENT ON VIEW loginas.change_descriptions IS 'what loginas.my_assistance_history() tells a customer a session changed in each tracked table';

CREATE FUNCTION loginas.describe(relation regclass, description text, operation text, by_admin text)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op text := pg_catalog.lower(pg_catalog.btrim(COALESCE(describe.operation, 'any')));
	v text := pg_catalog.btrim(describe.description);
	old text;
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.describe()');
	IF describe.relation IS NULL THEN
		PERFORM loginas._raise('22023', 'relation cannot be NULL', NULL, NULL);
	END IF;
	IF NOT op OPERATOR(pg_catalog.=) ANY (ARRAY['any', 'insert', 'update', 'delete']) THEN
		PERFORM loginas._raise('22023', pg_catalog.format('invalid operation "%s"', describe.operation), NULL,
			'Valid operations are: any, insert, update, delete (NULL: any).');
	END IF;
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) describe.relation) THEN
		PERFORM loginas._raise('55000', pg_catalog.format('relation %s is not tracked', describe.relation),
			'Only the writes of tracked tables are logged, so only they are shown to customers.',
			'Track it with loginas.track() first.');
	END IF;
	IF v IS NOT NULL AND (v OPERATOR(pg_catalog.=) '' OR pg_catalog.length(v) OPERATOR(pg_catalog.>) 200
						  OR v OPERATOR(pg_catalog.~) '[[:cntrl:]]') THEN
		PERFORM loginas._raise('22023', 'a description has 1 to 200 characters and no control characters',
			NULL, 'For example ''changed your address'' or ''added {n} items to your cart''; NULL removes it.');
	END IF;
	PERFORM loginas._check_by_admin(describe.by_admin);
	admin_key := loginas._canon_key('admins', describe.by_admin);

	SELECT cd.description INTO old FROM loginas.change_description cd
	 WHERE cd.relation OPERATOR(pg_catalog.=) describe.relation AND cd.operation OPERATOR(pg_catalog.=) op
	   FOR UPDATE;
	IF old IS NOT DISTINCT FROM v THEN
		RETURN v;			-- nothing changes, nothing is written
	END IF;
	IF v IS NULL THEN
		DELETE FROM loginas.change_description cd
		 WHERE cd.relation OPERATOR(pg_catalog.=) describe.relation AND cd.operation OPERATOR(pg_catalog.=) op;
	ELSE
		INSERT INTO loginas.change_description AS cd (relation, operation, description, changed_by_admin,
													  changed_by_admin_key)
		VALUES (describe.relation, op, v, loginas._key_id('admins', admin_key), admin_key)
		ON CONFLICT ON CONSTRAINT change_description_pkey DO UPDATE
		   SET description = EXCLUDED.description, changed_at = pg_catalog.now(),
			   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
			   changed_by_admin_key = EXCLUDED.changed_by_admin_key;
	END IF;
	PERFORM loginas._log('setting_changed', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object(
							 'setting', pg_catalog.format('description of %s (%s)', describe.relation, op),
							 'old', old, 'new', v),
						 p_admin_key => admin_key);
	RETURN v;
END
$$;

CREATE FUNCTION loginas.describe(relation regclass, description text, operation text DEFAULT NULL,
								 by_admin bigint DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.describe(describe.relation, describe.description, describe.operation,
							describe.by_admin::pg_catalog.text);
END
$$;

CREATE FUNCTION loginas._session_changes(p_session_id bigint)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.string_agg(p.phrase, ', ' ORDER BY p.first_log)
	  FROM (SELECT w.phrase, pg_catalog.min(w.first_log) AS first_log
			  FROM (SELECT pg_catalog.replace(COALESCE(d.description, da.description, 'changed your account'),
											  '{n}', pg_catalog.sum(g.n)::pg_catalog.text) AS phrase,
						   pg_catalog.min(g.log_id) AS first_log
					  FROM (SELECT l.details OPERATOR(pg_catalog.->>) 'table' AS tbl,
								   l.details OPERATOR(pg_catalog.->>) 'operation' AS op,
								   (l.details OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.int8 AS n,
								   l.log_id
							  FROM loginas.action_log l
							 WHERE l.session_id OPERATOR(pg_catalog.=) p_session_id
							   AND l.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete'])) g
					  LEFT JOIN loginas.change_description d
							 ON d.relation::pg_catalog.text OPERATOR(pg_catalog.=) g.tbl
							AND d.operation OPERATOR(pg_catalog.=) g.op
					  LEFT JOIN loginas.change_description da
							 ON da.relation::pg_catalog.text OPERATOR(pg_catalog.=) g.tbl
							AND da.operation OPERATOR(pg_catalog.=) 'any'
					 GROUP BY g.tbl, g.op, d.description, da.description) w
			 GROUP BY w.phrase) p
$$;

CREATE FUNCTION loginas._admin_display_name(p_admin_key text)
	RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN NULLIF(pg_catalog.btrim(loginas._lookup('admins', p_admin_key, true) OPERATOR(pg_catalog.->>) 'display_name'), '');
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

CREATE FUNCTION loginas.my_assistance_history(customer_id text)
	RETURNS TABLE (started_at timestamptz, ended_at timestamptz, duration interval,
				   administrator text, reason text, changes text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k text;
	by_name boolean := loginas._get_setting('customer_view_admin') OPERATOR(pg_catalog.=) 'display_name';
	with_reason boolean := loginas._get_setting('customer_view_reason') OPERATOR(pg_catalog.=) 'on';
	fallback constant text := 'Store administrator';
BEGIN
	IF my_assistance_history.customer_id IS NULL THEN
		PERFORM loginas._raise('22023', 'customer_id cannot be NULL', NULL,
			'Pass the id of the customer logged in on the storefront.');
	END IF;
	k := loginas._canon_key('customers', my_assistance_history.customer_id);
	-- in a session the storefront's customer is known: the impersonated one
	IF loginas.current_session() IS NOT NULL AND k IS DISTINCT FROM loginas.current_customer_key() THEN
		PERFORM loginas._raise('42501',
			'a Login as Customer session may read only its own customer''s assistance history',
			pg_catalog.format('The transaction acts in session %s.', loginas.current_session()),
			'Pass the impersonated customer''s id.');
	END IF;
	IF k IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT s.redeemed_at, e.ended, e.ended OPERATOR(pg_catalog.-) s.redeemed_at,
		   CASE WHEN by_name THEN COALESCE(loginas._admin_display_name(s.admin_key), fallback) ELSE fallback END,
		   CASE WHEN with_reason THEN s.reason END,
		   loginas._session_changes(s.session_id)
	  FROM loginas.session s
	 CROSS JOIN LATERAL (
		SELECT CASE WHEN LEAST(s.ended_at, s.expires_at) OPERATOR(pg_catalog.<=) pg_catalog.now()
					THEN LEAST(s.ended_at, s.expires_at) END AS ended) e
	 WHERE s.customer_key OPERATOR(pg_catalog.=) k AND s.redeemed_at IS NOT NULL
	 ORDER BY s.redeemed_at DESC, s.session_id DESC;
END
$$;

CREATE FUNCTION loginas.my_assistance_history(customer_id bigint)
	RETURNS TABLE (started_at timestamptz, ended_at timestamptz, duration interval,
				   administrator text, reason text, changes text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.my_assistance_history(my_assistance_history.customer_id::pg_catalog.text);
END
$$;

COMMENT ON FUNCTION loginas.my_assistance_history(text)
	IS 'the assistance sessions on one customer''s account, in the customer''s words (the storefront''s My Account); nothing internal';

SELECT pg_catalog.pg_extension_config_dump('loginas.change_description', '');

-- the new functions and those created again: for loginas' own use unless
-- granted below
REVOKE ALL ON FUNCTION
	loginas.configure(text, text, text),
	loginas._utc(timestamptz),
	loginas._notify(text, jsonb),
	loginas._notify_session(text, bigint, bigint, jsonb),
	loginas._notify_refusal(bigint),
	loginas._end_session(bigint, text, text),
	loginas._begin(text, text, text, text, text, text, text, boolean, inet),
	loginas.redeem(text, inet),
	loginas.describe(regclass, text, text, text),
	loginas.describe(regclass, text, text, bigint),
	loginas._session_changes(bigint),
	loginas._admin_display_name(text),
	loginas.my_assistance_history(text),
	loginas.my_assistance_history(bigint)
FROM PUBLIC;
REVOKE ALL ON TABLE loginas.change_description, loginas.change_descriptions FROM PUBLIC;

GRANT EXECUTE ON FUNCTION loginas.configure(text, text, text) TO loginas_admin;
GRANT EXECUTE ON FUNCTION loginas.redeem(text, inet) TO loginas_storefront;
GRANT EXECUTE ON FUNCTION
	loginas.my_assistance_history(bigint),
	loginas.my_assistance_history(text)
TO loginas_storefront;
GRANT EXECUTE ON FUNCTION
	loginas.describe(regclass, text, text, bigint),
	loginas.describe(regclass, text, text, text)
TO loginas_admin;
GRANT SELECT ON loginas.change_descriptions TO loginas_admin;

-- ---------------------------------------------------------------------------
-- Audit depth: the values of the rows a session writes, in the write log.
--   * loginas.tracked.log_values (true: from this update on, the write rows of
--     every tracked table carry the written rows' values; loginas.log_values(t,
--     false) keeps a table's rows as 1.2 wrote them);
--   * loginas.redacted_column, loginas.redact() and loginas.unredact(): the
--     sensitive columns, logged as changed without their values (as the
--     protected ones);
--   * _track_info returns sensitive_attnums and log_values (DROP + CREATE);
--   * the view tracked_tables ends with redacted_columns and log_values.
-- The values are members of the write rows' details ("values"), which the
-- log's canonical text already covers: no new form, every older row keeps
-- its hash.
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.tracked ADD COLUMN log_values boolean NOT NULL DEFAULT true;

CREATE TABLE loginas.redacted_column (
	relation	regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	column_name	name NOT NULL,
	redacted_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (relation, column_name)
);

SELECT pg_catalog.pg_extension_config_dump('loginas.redacted_column', '');

REVOKE ALL ON TABLE loginas.redacted_column FROM PUBLIC;

DROP FUNCTION loginas._track_info(oid);

CREATE FUNCTION loginas._track_info(p_relid oid)
	RETURNS TABLE (relname text, customer_attnum int2, customer_type oid, created_attnum int2,
				   changed_attnum int2, pk_attnums int2[], protected_attnums int2[],
				   fk_attnums int2[], parent_lookups text[], chain oid[],
				   problem text, problem_detail text, problem_hint text, problem_code text,
				   route_attnums int2[], route_nattnums int4[], route_lookups text[],
				   route_relations oid[], route_referrers boolean[], route_nlookups int4[],
				   stamp_table boolean, stamp_rows boolean, sensitive_attnums int2[], log_values boolean)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	r record;
	attnums int2[];
BEGIN
	SELECT tr.* INTO t FROM loginas.tracked tr
	 WHERE tr.relation OPERATOR(pg_catalog.=) p_relid
		OR tr.relation OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p_relid) a))
	 ORDER BY tr.relation OPERATOR(pg_catalog.=) p_relid DESC LIMIT 1;
	IF t.relation IS NULL THEN
		RETURN;
	END IF;
	relname := t.relation::text;
	chain := ARRAY[t.relation::oid];
	-- the stamps: two columns of the table, or rows of loginas.row_stamp
	-- (stamp_rows: whether the table has any there, for the trigger's fast
	-- path outside sessions)
	stamp_table := t.stamps OPERATOR(pg_catalog.=) 'table';
	IF stamp_table THEN
		created_attnum := 0;
		changed_attnum := 0;
		stamp_rows := EXISTS (SELECT FROM loginas.row_stamp s WHERE s.relation OPERATOR(pg_catalog.=) t.relation);
	ELSE
		created_attnum := loginas._attnum(p_relid::regclass, t.created_column);
		changed_attnum := loginas._attnum(p_relid::regclass, t.changed_column);
		stamp_rows := false;
	END IF;
	pk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(loginas._pk_columns(t.relation)) WITH ORDINALITY u(c, o) ORDER BY o);
	protected_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, p.column_name)
								 FROM loginas.protected_column p
								WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY 1);
	-- the write log's values: sensitive columns are logged as changed, without values
	sensitive_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, rc.column_name)
								 FROM loginas.redacted_column rc
								WHERE rc.relation OPERATOR(pg_catalog.=) t.relation ORDER BY 1);
	log_values := t.log_values;
	IF t.customer_column IS NOT NULL THEN
		customer_attnum := loginas._attnum(p_relid::regclass, t.customer_column);
		customer_type := loginas._atttype(p_relid::regclass, customer_attnum);
	END IF;
	-- stamp columns gone (a schema tool that does not know them drops them):
	-- no write in a session until track() adds them again
	IF NOT stamp_table AND (created_attnum OPERATOR(pg_catalog.=) 0 OR changed_attnum OPERATOR(pg_catalog.=) 0) THEN
		problem := CASE WHEN created_attnum OPERATOR(pg_catalog.=) 0 AND changed_attnum OPERATOR(pg_catalog.=) 0
						THEN pg_catalog.format('the stamp columns of %s were dropped', t.relation)
						ELSE pg_catalog.format('the stamp column "%s" of %s was dropped',
											   CASE WHEN created_attnum OPERATOR(pg_catalog.=) 0
													THEN t.created_column ELSE t.changed_column END, t.relation) END;
		problem_detail := pg_catalog.format('The table keeps its Login as Customer stamps in the columns "%s" and "%s",'
			' which loginas.track() added; a schema tool that does not know them drops them (renaming one has the same'
			' effect). Writes in sessions are refused until they are back; writes outside sessions go on.',
			t.created_column, t.changed_column);
		problem_hint := pg_catalog.format('Add them again with SELECT loginas.%s(%L, %s => %L%s); the tracking and its'
			' protected columns are kept. Or add stamps => ''table'' to that call to keep the stamps in loginas.row_stamp,'
			' where schema tools do not see them.',
			CASE WHEN t.customer_column IS NULL AND t.parent IS NULL THEN 'track_through' ELSE 'track' END,
			t.relation::text,
			CASE WHEN t.customer_column IS NOT NULL THEN 'customer_column'
				 WHEN t.parent IS NOT NULL THEN 'parent' ELSE 'via' END,
			COALESCE(t.customer_column::text, t.parent::text,
					 (SELECT pg_catalog.array_agg(DISTINCT p.via::text ORDER BY p.via::text)::text FROM loginas.owner_path p
					   WHERE p.relation OPERATOR(pg_catalog.=) t.relation)),
			CASE WHEN t.created_column OPERATOR(pg_catalog.=) 'loginas_created_session'
					  AND t.changed_column OPERATOR(pg_catalog.=) 'loginas_changed_session' THEN ''
				 ELSE pg_catalog.format(', created_column => %L, changed_column => %L', t.created_column, t.changed_column) END);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- a tracked column renamed, dropped or retyped since track(): in a session
	-- every write is refused rather than guessed at (the trigger raises the
	-- problem); the stamps must stay bigint, the customer column of the customers' key type class
	IF (NOT stamp_table
		AND (loginas._atttype(p_relid::regclass, created_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
			 OR loginas._atttype(p_relid::regclass, changed_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype))
	   OR (t.customer_column IS NOT NULL AND NOT loginas._customer_column_type_ok(customer_type))
	   OR customer_attnum OPERATOR(pg_catalog.=) 0 OR pk_attnums IS NULL
	   OR 0 OPERATOR(pg_catalog.=) ANY (pk_attnums) OR 0 OPERATOR(pg_catalog.=) ANY (protected_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A tracked, stamp, key or protected column was renamed, dropped or retyped, or the primary key changed.';
		problem_hint := 'Track the table again with loginas.track(), and protect its columns again.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- a sensitive column renamed or dropped: under another name its values
	-- would be logged, so no write in a session until it is redacted again
	IF 0 OPERATOR(pg_catalog.=) ANY (sensitive_attnums) THEN
		problem := pg_catalog.format('a sensitive column of %s was renamed or dropped', t.relation);
		problem_detail := pg_catalog.format('The columns redacted from the write log are %s; one of them is gone.',
			(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rc.column_name), ', ' ORDER BY rc.column_name)
			   FROM loginas.redacted_column rc WHERE rc.relation OPERATOR(pg_catalog.=) t.relation));
		problem_hint := 'Redact the column under its new name with loginas.redact(), and unredact the old name with loginas.unredact().';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	IF t.customer_column IS NOT NULL THEN
		RETURN NEXT;
		RETURN;
	END IF;

	-- a row that reaches its customer through other tracked tables: the
	-- routes of lookups from it, all followed (src/containment.c)
	route_attnums := ARRAY[]::int2[];
	route_nattnums := ARRAY[]::int4[];
	route_lookups := ARRAY[]::text[];
	route_relations := ARRAY[]::oid[];
	route_referrers := ARRAY[]::boolean[];
	route_nlookups := ARRAY[]::int4[];
	FOR r IN SELECT * FROM loginas._owner_routes(t.relation, 0) LOOP
		IF r.problem IS NOT NULL THEN
			chain := chain OPERATOR(pg_catalog.||) r.relations;
			problem := r.problem;
			problem_detail := r.problem_detail;
			problem_hint := r.problem_hint;
			problem_code := r.problem_code;
			RETURN NEXT;
			RETURN;
		END IF;
		attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						   FROM pg_catalog.unnest(r.params) WITH ORDINALITY u(c, o) ORDER BY o);
		IF 0 OPERATOR(pg_catalog.=) ANY (attnums) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
			problem_detail := 'A column of a foreign key on the way to its customer was renamed or dropped.';
			problem_hint := 'Track the table again with loginas.track().';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		route_attnums := route_attnums OPERATOR(pg_catalog.||) attnums;
		route_nattnums := route_nattnums OPERATOR(pg_catalog.||) pg_catalog.cardinality(attnums);
		route_lookups := route_lookups OPERATOR(pg_catalog.||) r.lookups;
		route_relations := route_relations OPERATOR(pg_catalog.||) r.relations;
		route_referrers := route_referrers OPERATOR(pg_catalog.||) r.referrers;
		route_nlookups := route_nlookups OPERATOR(pg_catalog.||) pg_catalog.cardinality(r.lookups);
		chain := chain OPERATOR(pg_catalog.||) r.relations;
	END LOOP;
	IF pg_catalog.cardinality(route_nlookups) OPERATOR(pg_catalog.=) 0 THEN
		problem := pg_catalog.format('table %s has no way left to its customer', t.relation);
		problem_detail := 'The tracked tables it reached its customer through are no longer tracked.';
		problem_hint := pg_catalog.format('Track %s again with loginas.track() or loginas.track_through().', t.relation);
		problem_code := '55000';
	END IF;
	RETURN NEXT;
END
$$;

CREATE OR REPLACE VIEW loginas.tracked_tables AS
	SELECT t.relation, t.customer_column, t.parent, t.fk_columns, t.parent_columns,
		   t.created_column, t.changed_column,
		   ARRAY(SELECT p.column_name FROM loginas.protected_column p
				  WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY p.column_name) AS protected_columns,
		   t.tracked_at, t.stamps,
		   ARRAY(SELECT r.column_name FROM loginas.redacted_column r
				  WHERE r.relation OPERATOR(pg_catalog.=) t.relation ORDER BY r.column_name) AS redacted_columns,
		   t.log_values
	  FROM loginas.tracked t
	 ORDER BY t.relation::text;

CREATE FUNCTION loginas.redact(relation regclass, "column" name)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.redact()');
	IF redact.relation IS NULL OR redact."column" IS NULL THEN
		PERFORM loginas._raise('22023', 'relation and column cannot be NULL', NULL, NULL);
	END IF;
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) redact.relation) THEN
		PERFORM loginas._raise('55000', pg_catalog.format('table %s is not tracked', redact.relation), NULL,
			'Track it with loginas.track() first.');
	END IF;
	IF loginas._attnum(redact.relation, redact."column") OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('42703',
			pg_catalog.format('column "%s" of relation %s does not exist', redact."column", redact.relation), NULL, NULL);
	END IF;
	INSERT INTO loginas.redacted_column (relation, column_name) VALUES (redact.relation, redact."column")
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(redact.relation);
	PERFORM loginas._log('column_redacted', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', redact.relation::text, 'column', redact."column"));
	RETURN true;
END
$$;

CREATE FUNCTION loginas.unredact(relation regclass, "column" name)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.unredact()');
	DELETE FROM loginas.redacted_column r
	 WHERE r.relation OPERATOR(pg_catalog.=) unredact.relation AND r.column_name OPERATOR(pg_catalog.=) unredact."column";
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(unredact.relation);
	PERFORM loginas._log('column_unredacted', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', unredact.relation::text, 'column', unredact."column"));
	RETURN true;
END
$$;

CREATE FUNCTION loginas.log_values(relation regclass, enabled boolean)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.log_values()');
	IF log_values.relation IS NULL OR log_values.enabled IS NULL THEN
		PERFORM loginas._raise('22023', 'relation and enabled cannot be NULL', NULL, NULL);
	END IF;
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) log_values.relation) THEN
		PERFORM loginas._raise('55000', pg_catalog.format('table %s is not tracked', log_values.relation), NULL,
			'Track it with loginas.track() first.');
	END IF;
	UPDATE loginas.tracked t SET log_values = log_values.enabled
	 WHERE t.relation OPERATOR(pg_catalog.=) log_values.relation
	   AND t.log_values OPERATOR(pg_catalog.<>) log_values.enabled;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(log_values.relation);
	PERFORM loginas._log('log_values_changed', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', log_values.relation::text,
																	'log_values', log_values.enabled));
	RETURN true;
END
$$;

REVOKE ALL ON FUNCTION
	loginas._track_info(oid),
	loginas.redact(regclass, name),
	loginas.unredact(regclass, name),
	loginas.log_values(regclass, boolean)
FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Audit depth: undo a session (loginas.revert).
--   * loginas.row_image (per session, batches of entries: the rows before
--     each transaction's first write of them, complete and binary, and the
--     transactions that wrote the rows the session left; the write-log rows
--     each batch completes), its sequence, and loginas.session_image (the
--     reverts): no role may read them, pg_dump does not keep them;
--     purge_log() removes a session's images with its log;
--   * the role resource "revert"; a revert acts in a session of its own,
--     ended, whose end reason is the new 'revert';
--   * loginas.revert(session_id, by_admin, reason, dry_run) (bigint and
--     text by_admin), _revert_rows (src/revert.c), _fk_rank.
-- Sessions that wrote before this update have no images: their revert is
-- refused (the images do not cover their writes).
-- ---------------------------------------------------------------------------
ALTER TABLE loginas.session DROP CONSTRAINT session_end_reason_check,
	ADD CONSTRAINT session_end_reason_check CHECK (end_reason IN ('logout', 'admin_logout', 'superseded',
		'consent_revoked', 'consent_expired', 'permission_revoked', 'admin_inactive', 'customer_inactive',
		'feature_disabled', 'expired', 'revert'));

INSERT INTO loginas.resource VALUES ('revert', 'Revert Login as Customer Sessions');

CREATE TABLE loginas.row_image (
	session_id		bigint NOT NULL,
	batch			bigint NOT NULL,	-- the order written (row_image_seq)
	rows			bigint NOT NULL,	-- the write-log rows of the session it completes
	images			bytea NOT NULL,
	PRIMARY KEY (session_id, batch)
);

CREATE SEQUENCE loginas.row_image_seq;

CREATE TABLE loginas.session_image (
	session_id		bigint PRIMARY KEY,
	reverted_by		bigint NOT NULL,	-- the revert's own session
	reverted_at		timestamptz NOT NULL
);

CREATE FUNCTION loginas._fk_rank(p_relations oid[])
	RETURNS TABLE (relation oid, rank int)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH RECURSIVE fk AS (
		SELECT DISTINCT c.conrelid AS child, c.confrelid AS parent
		  FROM pg_catalog.pg_constraint c
		 WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0
		   AND c.conrelid OPERATOR(pg_catalog.=) ANY (p_relations)
		   AND c.confrelid OPERATOR(pg_catalog.=) ANY (p_relations)
		   AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid
	), walk (relation, depth) AS (
		SELECT r.r, 0 FROM pg_catalog.unnest(p_relations) r(r)
		UNION
		SELECT fk.child, w.depth OPERATOR(pg_catalog.+) 1
		  FROM walk w JOIN fk ON fk.parent OPERATOR(pg_catalog.=) w.relation
		 WHERE w.depth OPERATOR(pg_catalog.<) 64
	)
	SELECT w.relation, pg_catalog.max(w.depth)::int FROM walk w GROUP BY w.relation
$$;

CREATE FUNCTION loginas._revert_rows(p_session bigint, p_revert_session bigint, p_apply boolean,
									 p_admin_username text, p_customer_email text)
	RETURNS TABLE (relation text, key text, action text, columns text[], conflict text, seq bigint)
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_revert_rows';

CREATE FUNCTION loginas.revert(session_id bigint, by_admin text, reason text DEFAULT NULL,
							   dry_run boolean DEFAULT false)
	RETURNS TABLE (relation text, key text, action text, columns text[], conflict text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid bigint := revert.session_id;
	s loginas.session;
	a jsonb;
	si loginas.session_image;
	logged bigint;
	covered bigint;
	admin_key text;
	email text;
	rid bigint;
	plan jsonb;
	revert_log_id bigint;
	n_conflicts bigint;
	l record;
BEGIN
	IF NOT revert.dry_run OR revert.dry_run IS NULL THEN
		PERFORM loginas._require_writable('loginas.revert()');
	END IF;
	IF loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._raise('55000', 'loginas.revert() cannot run in a Login as Customer session',
			'A revert is the admin''s action, not the impersonated customer''s.',
			'Call it from the admin backend, in a transaction that did not call loginas.assume().');
	END IF;
	IF sid IS NULL OR revert.dry_run IS NULL THEN
		PERFORM loginas._raise('22023', 'session_id and dry_run cannot be NULL', NULL, NULL);
	END IF;
	-- the admin: existing, active, allowed to revert
	IF revert.by_admin IS NULL THEN
		PERFORM loginas._raise('22023', 'reverting a Login as Customer session needs by_admin',
			NULL, 'Pass by_admin => the id of the admin user who reverts; their role needs the "revert" resource.');
	END IF;
	a := loginas._lookup('admins', revert.by_admin);
	IF a IS NULL THEN
		PERFORM loginas._raise('22023', pg_catalog.format('admin user %s does not exist', revert.by_admin),
			pg_catalog.format('No row of %s has admin_id %s.', loginas._bound_relation('admins'), revert.by_admin),
			NULL);
	END IF;
	IF NOT COALESCE((a OPERATOR(pg_catalog.->>) 'is_active')::boolean, false) THEN
		PERFORM loginas._raise('42501',
			pg_catalog.format('admin user "%s" is inactive', a OPERATOR(pg_catalog.->>) 'username'),
			'Only active admin users can revert Login as Customer sessions.', NULL);
	END IF;
	IF NOT loginas._roles_have(a, 'revert') THEN
		SELECT lk.detail, lk.hint INTO l FROM loginas._roles_lack(a, 'revert', 'Revert Login as Customer Sessions') lk;
		PERFORM loginas._raise('42501',
			pg_catalog.format('admin user "%s" is not allowed to revert Login as Customer sessions',
							  a OPERATOR(pg_catalog.->>) 'username'), l.detail, l.hint);
	END IF;
	-- the session, locked: one revert at a time, and only once
	IF revert.dry_run THEN
		SELECT ls.* INTO s FROM loginas.session ls WHERE ls.session_id OPERATOR(pg_catalog.=) sid;
	ELSE
		SELECT ls.* INTO s FROM loginas.session ls WHERE ls.session_id OPERATOR(pg_catalog.=) sid FOR UPDATE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._raise('22023', pg_catalog.format('Login as Customer session %s does not exist', sid),
			NULL, NULL);
	END IF;
	IF s.source_kind OPERATOR(pg_catalog.=) 'revert' THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s is a revert', sid),
			pg_catalog.format('It put back what session %s wrote; a revert is not reverted.',
							  (SELECT ims.session_id FROM loginas.session_image ims
								WHERE ims.reverted_by OPERATOR(pg_catalog.=) sid)), NULL);
	END IF;
	IF s.ended_at IS NULL AND NOT revert.dry_run THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s has not ended', sid),
			'A session is reverted once it is over, so that it writes nothing after its revert.',
			'End it first (loginas.end_admin() for its admin), then revert it.');
	END IF;
	SELECT ims.* INTO si FROM loginas.session_image ims WHERE ims.session_id OPERATOR(pg_catalog.=) sid;
	SELECT COALESCE(pg_catalog.sum(ri.rows), 0) INTO covered FROM loginas.row_image ri
	 WHERE ri.session_id OPERATOR(pg_catalog.=) sid;
	IF si.reverted_by IS NOT NULL THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s was already reverted', sid),
			pg_catalog.format('Session %s reverted it at %s UTC.', si.reverted_by,
							  pg_catalog.to_char(si.reverted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')), NULL);
	END IF;
	-- its images cover every write its log names (they go with the log)
	IF NOT EXISTS (SELECT FROM loginas.action_log al
					WHERE al.session_id OPERATOR(pg_catalog.=) sid AND al.action OPERATOR(pg_catalog.=) 'ticket_issued') THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('Login as Customer session %s can no longer be reverted', sid),
			'Its log was purged, and the images of the rows it wrote with it.', NULL);
	END IF;
	SELECT COALESCE(pg_catalog.sum((al.details OPERATOR(pg_catalog.->>) 'rows')::bigint), 0) INTO logged
	  FROM loginas.action_log al
	 WHERE al.session_id OPERATOR(pg_catalog.=) sid
	   AND al.action OPERATOR(pg_catalog.=) ANY (ARRAY['write_insert', 'write_update', 'write_delete']);
	IF logged OPERATOR(pg_catalog.<>) covered THEN
		PERFORM loginas._raise('55000', pg_catalog.format('Login as Customer session %s cannot be reverted', sid),
			pg_catalog.format('Rows it wrote, as the log names them: %s; covered by the images kept of them: %s'
							  ' (a session that wrote before loginas 1.3 has none).', logged, covered),
			NULL);
	END IF;
	IF revert.dry_run THEN
		RETURN QUERY
		SELECT p.relation, loginas._keys_text(pg_catalog.jsonb_build_array(p.key::jsonb)), p.action, p.columns,
			   p.conflict
		  FROM loginas._revert_rows(sid, NULL, false, NULL, NULL) p
		 ORDER BY p.seq;
		RETURN;
	END IF;
	IF revert.reason IS NULL OR pg_catalog.btrim(revert.reason) OPERATOR(pg_catalog.=) '' THEN
		PERFORM loginas._raise('22023', 'a revert needs a reason', NULL,
			'Say why, e.g. the ticket of the customer''s request.');
	END IF;
	IF pg_catalog.length(revert.reason) OPERATOR(pg_catalog.>) 1000 THEN
		PERFORM loginas._raise('22023', 'reason is too long', 'At most 1000 characters.', NULL);
	END IF;
	-- the revert's own session, ended: it acts only in this transaction
	admin_key := loginas._canon_key('admins', revert.by_admin);
	INSERT INTO loginas.session AS ns (admin_id, customer_id, store_id, reason, source, source_kind,
									   ticket_hash, ticket_expires_at, admin_addr, customer_key, admin_key,
									   store_key, ended_at, end_reason, ended_by_admin, ended_by_role,
									   ended_by_admin_key)
	VALUES (loginas._key_id('admins', admin_key), s.customer_id, s.store_id, revert.reason,
			pg_catalog.format('revert of session %s', sid), 'revert',
			loginas._hash(loginas._new_secret()), pg_catalog.now(), pg_catalog.inet_client_addr(),
			s.customer_key, admin_key, s.store_key, pg_catalog.now(), 'revert',
			loginas._key_id('admins', admin_key), SESSION_USER, admin_key)
	RETURNING ns.session_id INTO rid;
	BEGIN
		email := loginas._lookup('customers', s.customer_key, true) OPERATOR(pg_catalog.->>) 'email';
	EXCEPTION WHEN OTHERS THEN
		email := NULL;		-- a binding that cannot be read: the ids are logged
	END;
	SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p) ORDER BY p.seq) INTO plan
	  FROM loginas._revert_rows(sid, rid, true, pg_catalog.left(a OPERATOR(pg_catalog.->>) 'username', 255),
								pg_catalog.left(email, 255)) p;
	plan := COALESCE(plan, '[]');
	SELECT pg_catalog.count(*) INTO n_conflicts FROM pg_catalog.jsonb_array_elements(plan) e
	 WHERE e OPERATOR(pg_catalog.->>) 'conflict' IS NOT NULL;
	IF n_conflicts OPERATOR(pg_catalog.>) 0 THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('Login as Customer session %s cannot be reverted: %s of the rows it wrote %s changed since',
							  sid, n_conflicts, CASE WHEN n_conflicts OPERATOR(pg_catalog.=) 1 THEN 'was' ELSE 'were' END),
			(SELECT pg_catalog.string_agg(pg_catalog.format('%s %s: %s', e OPERATOR(pg_catalog.->>) 'relation',
									loginas._keys_text(pg_catalog.jsonb_build_array((e OPERATOR(pg_catalog.->>) 'key')::jsonb)),
									e OPERATOR(pg_catalog.->>) 'conflict'), '; ' ORDER BY e.o)
			   FROM pg_catalog.jsonb_array_elements(plan) WITH ORDINALITY e(e, o)
			  WHERE e OPERATOR(pg_catalog.->>) 'conflict' IS NOT NULL AND e.o OPERATOR(pg_catalog.<=) 1000)
			OPERATOR(pg_catalog.||) '.',
			'Nothing was reverted. loginas.revert(..., dry_run => true) lists what a revert would do.');
	END IF;
	INSERT INTO loginas.session_image AS ims (session_id, reverted_by, reverted_at)
	VALUES (sid, rid, pg_catalog.now())
	ON CONFLICT ON CONSTRAINT session_image_pkey
	DO UPDATE SET reverted_by = EXCLUDED.reverted_by, reverted_at = EXCLUDED.reverted_at;
	revert_log_id := loginas._log('session_reverted', 'success', loginas._key_id('admins', admin_key), s.customer_id, rid,
						 s.store_id, pg_catalog.format('revert of session %s', sid), revert.reason,
						 (SELECT pg_catalog.jsonb_build_object('session', sid,
									'rows', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' IN ('insert', 'update', 'delete')),
									'inserted', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'insert'),
									'updated', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'update'),
									'deleted', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'delete'),
									'unchanged', pg_catalog.count(*) FILTER (WHERE e OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.=) 'none'))
							FROM pg_catalog.jsonb_array_elements(plan) e),
						 p_customer_key => s.customer_key, p_admin_key => admin_key, p_store_key => s.store_key);
	-- the live event of the reverted session (05_events.sql), on commit
	PERFORM loginas._notify_session('session_reverted', sid, revert_log_id,
		pg_catalog.jsonb_build_object('by_admin_key', admin_key,
			'rows', (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(plan) e
					  WHERE e OPERATOR(pg_catalog.->>) 'action' IN ('insert', 'update', 'delete'))));
	RETURN QUERY
	SELECT p.relation, loginas._keys_text(pg_catalog.jsonb_build_array(p.key::jsonb)), p.action, p.columns, p.conflict
	  FROM pg_catalog.jsonb_to_recordset(plan) p(relation text, key text, action text, columns text[], conflict text,
												 seq bigint)
	 ORDER BY p.seq;
END
$$;

CREATE FUNCTION loginas.revert(session_id bigint, by_admin bigint, reason text DEFAULT NULL,
							   dry_run boolean DEFAULT false)
	RETURNS TABLE (relation text, key text, action text, columns text[], conflict text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM loginas.revert(revert.session_id, revert.by_admin::pg_catalog.text, revert.reason,
											  revert.dry_run);
END
$$;

COMMENT ON FUNCTION loginas.revert(bigint, bigint, text, boolean)
	IS 'put every row a Login as Customer session wrote back as it was before the session, as one transaction (dry_run: list what it would do)';

CREATE OR REPLACE FUNCTION loginas.purge_log(before timestamptz, by_admin text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
DECLARE
	n bigint;
	retention interval := loginas._get_setting('log_retention')::interval;
	-- in elapsed seconds (a day is 86,400 s), not the caller's TimeZone's calendar
	horizon timestamptz := pg_catalog.clock_timestamp()
		OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', retention));
BEGIN
	PERFORM loginas._require_writable('loginas.purge_log()');
	IF purge_log.before IS NULL OR purge_log.before OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
		PERFORM loginas._raise('22023', 'purge_log() needs a time in the past',
			'Rows older than it are removed.', NULL);
	END IF;
	IF purge_log.before OPERATOR(pg_catalog.>) horizon THEN
		PERFORM loginas._raise('22023', 'purge_log() cannot remove rows younger than the log retention',
			pg_catalog.format('The log retention is %s: rows younger than that are kept.', retention),
			'Pass a time at least log_retention ago; loginas.settings shows the retention.');
	END IF;
	PERFORM loginas._check_by_admin(purge_log.by_admin);
	PERFORM loginas._allow_purge(true);
	-- per chain, the purged part is a prefix: up to its last row older than the limit
	WITH last_purged AS (
		SELECT DISTINCT ON (l.chain_id) l.chain_id, l.chain_seq, l.row_hash
		  FROM loginas.action_log l
		 WHERE l.logged_at OPERATOR(pg_catalog.<) purge_log.before
		 ORDER BY l.chain_id, l.chain_seq DESC
	), checkpoints AS (
		INSERT INTO loginas.log_checkpoint AS cp (chain_id, chain_seq, row_hash)
		SELECT lp.chain_id, lp.chain_seq, lp.row_hash FROM last_purged lp
		ON CONFLICT (chain_id) DO UPDATE
		   SET chain_seq = EXCLUDED.chain_seq, row_hash = EXCLUDED.row_hash, purged_at = pg_catalog.now()
		RETURNING cp.chain_id, cp.chain_seq
	), gone AS (
		DELETE FROM loginas.action_log l USING checkpoints c
		 WHERE l.chain_id OPERATOR(pg_catalog.=) c.chain_id AND l.chain_seq OPERATOR(pg_catalog.<=) c.chain_seq
		RETURNING l.session_id
	), images AS (
		-- a session whose log is purged (any of it) can no longer be
		-- reverted: the images of the rows it wrote go too (11_revert.sql)
		DELETE FROM loginas.row_image i
		 WHERE i.session_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT g.session_id FROM gone g))
	), image_counts AS (
		DELETE FROM loginas.session_image si
		 WHERE si.session_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT g.session_id FROM gone g))
	)
	SELECT pg_catalog.count(*) INTO n FROM gone;
	PERFORM loginas._allow_purge(false);
	PERFORM loginas._log('log_purged', 'success', loginas._key_id('admins', purge_log.by_admin), NULL,
						 p_details => pg_catalog.jsonb_build_object('before', purge_log.before, 'rows', n,
																	'retention', retention::pg_catalog.text,
																	'role', SESSION_USER::pg_catalog.text),
						 p_admin_key => loginas._canon_key('admins', purge_log.by_admin));
	RETURN n;
END
$$;

REVOKE ALL ON TABLE loginas.row_image, loginas.session_image FROM PUBLIC;

REVOKE ALL ON SEQUENCE loginas.row_image_seq FROM PUBLIC;

REVOKE ALL ON FUNCTION
	loginas._fk_rank(oid[]),
	loginas._revert_rows(bigint, bigint, boolean, text, text),
	loginas.revert(bigint, text, text, boolean),
	loginas.revert(bigint, bigint, text, boolean)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	loginas.revert(bigint, text, text, boolean),
	loginas.revert(bigint, bigint, text, boolean)
TO loginas_admin;

-- ---- lz4 compression for the write log and the row images ----

-- The write log's details and the row images are compressed with lz4 where
-- the server has it (much cheaper than pglz for what every session write
-- logs at commit); elsewhere they keep the default.
DO $lz4$
BEGIN
	ALTER TABLE loginas.action_log ALTER COLUMN details SET COMPRESSION lz4;
	ALTER TABLE loginas.row_image ALTER COLUMN images SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;

-- ---- loginas' triggers on tracked tables: guarded against their table's owner ----

-- loginas' triggers on a tracked table stay as track() made them: enabled
-- ALWAYS, calling loginas' trigger functions, under their own names.  The
-- owner of a tracked table (not trusted) may not disable, replace, rename or
-- drop them -- that would switch tracking and containment off for the
-- sessions that write the table; the DBA and loginas' owner may (untrack()
-- drops them, a repair may re-create them).  The functions run as the role
-- that runs the DDL and read only the catalogs (no loginas object: that role
-- has no right on any).
CREATE FUNCTION loginas._guard_triggers() RETURNS event_trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
	expected text;
	functions oid[];
BEGIN
	-- the DBA (a superuser) and loginas' owner (untrack(), track()) may
	IF COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false)
	   OR COALESCE((SELECT pg_catalog.pg_has_role(CURRENT_USER, e.extowner, 'USAGE')
					  FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'loginas'), false) THEN
		RETURN;
	END IF;
	functions := ARRAY(
		SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'loginas' AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['_track_row', '_track_truncate']::pg_catalog.name[]));
	FOR t IN
		SELECT DISTINCT tg.oid, tg.tgname, tg.tgrelid::pg_catalog.regclass AS rel, tg.tgenabled, tg.tgfoid,
			   pg_catalog.pg_get_triggerdef(tg.oid) AS def,
			   EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() n
					    WHERE n.command_tag OPERATOR(pg_catalog.=) 'CREATE TRIGGER'
						  AND n.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
						  AND n.objid OPERATOR(pg_catalog.=) tg.oid) AS created
		  FROM pg_catalog.pg_event_trigger_ddl_commands() c
		  JOIN pg_catalog.pg_trigger tg
		    ON (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
				AND tg.tgrelid OPERATOR(pg_catalog.=) c.objid)
			OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
				AND tg.tgrelid OPERATOR(pg_catalog.=) (SELECT x.tgrelid FROM pg_catalog.pg_trigger x
														WHERE x.oid OPERATOR(pg_catalog.=) c.objid))
		 WHERE tg.tgname OPERATOR(pg_catalog.=) ANY (ARRAY['zz_loginas_track_insert', 'zz_loginas_track_update', 'zz_loginas_track_delete', 'zz_loginas_log_insert', 'zz_loginas_track_truncate']::pg_catalog.name[])
			OR tg.tgfoid OPERATOR(pg_catalog.=) ANY (functions)
		 ORDER BY 2
	LOOP
		-- loginas' triggers come from loginas.track() (and PostgreSQL copies
		-- them into a tracked table's new partitions): no role's own CREATE
		-- TRIGGER makes one, on any table
		IF t.created AND t.tgfoid OPERATOR(pg_catalog.=) ANY (functions) THEN
			RAISE EXCEPTION 'trigger "%" on table % may not call loginas'' trigger functions', t.tgname, t.rel
				USING ERRCODE = '42501',
					  DETAIL = 'Only loginas.track() puts loginas'' triggers on a table.',
					  HINT = 'To track the table, the DBA calls loginas.track().';
		END IF;
		expected := CASE t.tgname
			WHEN 'zz_loginas_track_insert' THEN 'BEFORE INSERT ON % FOR EACH ROW EXECUTE FUNCTION loginas._track_row()'
			WHEN 'zz_loginas_track_update' THEN 'BEFORE UPDATE ON % FOR EACH ROW EXECUTE FUNCTION loginas._track_row()'
			WHEN 'zz_loginas_track_delete' THEN 'BEFORE DELETE ON % FOR EACH ROW EXECUTE FUNCTION loginas._track_row()'
			WHEN 'zz_loginas_log_insert' THEN
				'AFTER INSERT ON % FOR EACH ROW WHEN (loginas.in_session()) EXECUTE FUNCTION loginas._track_row()'
			WHEN 'zz_loginas_track_truncate' THEN
				'BEFORE TRUNCATE ON % FOR EACH STATEMENT EXECUTE FUNCTION loginas._track_truncate()'
		END;
		-- (made to depend on an extension, it would go with DROP EXTENSION)
		IF expected IS NULL OR t.tgenabled OPERATOR(pg_catalog.<>) 'A'
		   OR t.def OPERATOR(pg_catalog.<>) (pg_catalog.format('CREATE TRIGGER %I ', t.tgname)
				OPERATOR(pg_catalog.||) pg_catalog.replace(expected, '%', t.rel::pg_catalog.text))
		   OR EXISTS (SELECT FROM pg_catalog.pg_depend dp
					   WHERE dp.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
						 AND dp.objid OPERATOR(pg_catalog.=) t.oid AND dp.deptype OPERATOR(pg_catalog.=) 'x') THEN
			RAISE EXCEPTION 'loginas'' trigger "%" on table % must stay as loginas.track() made it', t.tgname, t.rel
				USING ERRCODE = '42501',
					  DETAIL = 'Disabling, replacing, renaming it or tying it to an extension would switch tracking off for the Login as Customer sessions that write the table.',
					  HINT = 'Disable or change the shop''s own triggers by name; to stop tracking the table, the DBA calls loginas.untrack().';
		END IF;
	END LOOP;
END
$$;

CREATE FUNCTION loginas._guard_trigger_drop() RETURNS event_trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d record;
BEGIN
	-- the DBA (a superuser) and loginas' owner (untrack(), track()) may
	IF COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false)
	   OR COALESCE((SELECT pg_catalog.pg_has_role(CURRENT_USER, e.extowner, 'USAGE')
					  FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'loginas'), false) THEN
		RETURN;
	END IF;
	-- a trigger goes with its table, or through anything else (DROP TRIGGER,
	-- DROP EXTENSION it was made to depend on, DETACH PARTITION): only the
	-- first is the owner's to do
	FOR d IN
		SELECT o.object_identity, o.address_names
		  FROM pg_catalog.pg_event_trigger_dropped_objects() o
		 WHERE o.object_type OPERATOR(pg_catalog.=) 'trigger'
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() tb
							WHERE tb.object_type OPERATOR(pg_catalog.=) 'table'
							  AND tb.address_names OPERATOR(pg_catalog.=) o.address_names[1:2])
		   AND o.address_names[pg_catalog.array_length(o.address_names, 1)] OPERATOR(pg_catalog.=) ANY (ARRAY['zz_loginas_track_insert', 'zz_loginas_track_update', 'zz_loginas_track_delete', 'zz_loginas_log_insert', 'zz_loginas_track_truncate']::pg_catalog.name[])
	LOOP
		RAISE EXCEPTION 'loginas'' trigger % must stay as loginas.track() made it', d.object_identity
			USING ERRCODE = '42501',
				  DETAIL = 'Dropping it (or detaching a partition of a tracked table) would switch tracking off for the Login as Customer sessions that write the table.',
				  HINT = 'To stop tracking the table, the DBA calls loginas.untrack().';
	END LOOP;
END
$$;

CREATE EVENT TRIGGER loginas_guard_triggers ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE SCHEMA')
	EXECUTE FUNCTION loginas._guard_triggers();
ALTER EVENT TRIGGER loginas_guard_triggers ENABLE ALWAYS;

CREATE EVENT TRIGGER loginas_guard_trigger_drop ON sql_drop
	EXECUTE FUNCTION loginas._guard_trigger_drop();
ALTER EVENT TRIGGER loginas_guard_trigger_drop ENABLE ALWAYS;

CREATE FUNCTION loginas._guard_partitions() RETURNS event_trigger
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'loginas_guard_partitions';

CREATE EVENT TRIGGER loginas_guard_partitions ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION loginas._guard_partitions();
ALTER EVENT TRIGGER loginas_guard_partitions ENABLE ALWAYS;

REVOKE ALL ON FUNCTION loginas._guard_triggers(), loginas._guard_trigger_drop(), loginas._guard_partitions() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- assume() in C with a per-backend cache of what it checked (src/assume.c):
-- the PL/pgSQL assume() becomes the checked path, loginas._assume_checked();
-- the tables a verdict rests on signal their changes (loginas.cache_signal);
-- ending a session waits for the transactions a cached assume() let act in it.
-- ---------------------------------------------------------------------------

CREATE FUNCTION loginas._assume_checked(session_key text)
	RETURNS bigint
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	v loginas._verdict;
	st jsonb;
	hint constant text := 'Log the customer out of the storefront; the admin can start Login as Customer again.';
BEGIN
	-- FOR KEY SHARE: ending this session (FOR UPDATE) waits until this
	-- transaction is over, so no write under a session ended meanwhile commits
	IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
		-- a read-only transaction writes nothing, so needs no lock (and could not take one)
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(_assume_checked.session_key, ''));
	ELSE
		SELECT * INTO s FROM loginas.session ls
		 WHERE ls.key_hash OPERATOR(pg_catalog.=) loginas._hash(COALESCE(_assume_checked.session_key, ''))
		   FOR KEY SHARE;
	END IF;
	IF s.session_id IS NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session is not valid.',
			'No session matches the given key.', hint);
	END IF;
	IF s.ended_at IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s ended at %s (%s).', s.session_id, s.ended_at, s.end_reason), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	IF s.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM loginas._refuse('assume', '28000', 'Login as Customer session has ended.',
			pg_catalog.format('Session %s expired at %s.', s.session_id, s.expires_at), hint,
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	v := loginas._evaluate(s.admin_key, s.customer_key);
	IF v.code IS NOT NULL THEN
		PERFORM loginas._refuse('assume', v.sqlstate, v.message, v.detail, hint,
								s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key,
								p_admin_key => s.admin_key,
								p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;
	st := loginas._resolve_store(v.customer, s.store_key);
	IF loginas.current_session() IS DISTINCT FROM s.session_id AND loginas.current_session() IS NOT NULL THEN
		PERFORM loginas._refuse('assume', '55000',
			pg_catalog.format('this transaction already acts in Login as Customer session %s', loginas.current_session()),
			'A transaction can act in one session only.', 'Commit or roll back before assuming another session.',
			s.admin_id, s.customer_id, s.session_id, p_customer_key => s.customer_key, p_admin_key => s.admin_key,
			p_store_key => CASE WHEN s.store_id IS NULL THEN s.store_key END);
	END IF;

	PERFORM loginas._context_set(s.session_id, s.admin_id, s.customer_id, s.store_id, s.read_only,
		pg_catalog.format('You are connected as %s on %s',
						  v.customer OPERATOR(pg_catalog.->>) 'display_name',
						  st OPERATOR(pg_catalog.->>) 'website_name'),
		v.admin OPERATOR(pg_catalog.->>) 'username', v.customer OPERATOR(pg_catalog.->>) 'email',
		s.source, s.reason, s.storefront_addr::text, s.customer_key, s.admin_key, s.store_key);
	RETURN s.session_id;
END
$$;

CREATE OR REPLACE FUNCTION loginas.assume(session_key text)
	RETURNS bigint
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_assume';

COMMENT ON FUNCTION loginas.assume(text) IS 'bind the current transaction to a live Login as Customer session (checked, or served from the backend''s cache of a check nothing has changed since)';

-- The cache's invalidation.  loginas.cache_signal never holds a row: its
-- relcache invalidation, sent to every backend when a transaction that
-- changed a table a verdict rests on commits, empties their caches.
CREATE TABLE loginas.cache_signal ();

COMMENT ON TABLE loginas.cache_signal IS 'never holds rows: its invalidation tells every backend that cached loginas.assume() verdicts may be stale';

CREATE FUNCTION loginas._cache_signal()
	RETURNS trigger
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'loginas_cache_signal';

-- loginas' own tables a verdict rests on
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.session
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.consent
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.role_resource
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.setting
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loginas.binding
	FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal();
ALTER TABLE loginas.session ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.consent ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.role_resource ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.setting ENABLE ALWAYS TRIGGER loginas_assume_cache;
ALTER TABLE loginas.binding ENABLE ALWAYS TRIGGER loginas_assume_cache;

CREATE FUNCTION loginas._view_immutable(p_view oid)
	RETURNS boolean
	LANGUAGE c STABLE STRICT
	AS 'MODULE_PATHNAME', 'loginas_view_immutable';

CREATE FUNCTION loginas._cache_relations(p_rels oid[])
	RETURNS TABLE (relid oid, relkind "char", watchable boolean)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	todo oid[] := p_rels;
	seen oid[] := '{}';
	r oid;
	c record;
BEGIN
	WHILE pg_catalog.cardinality(todo) OPERATOR(pg_catalog.>) 0 LOOP
		r := todo[1];
		todo := todo[2:];
		CONTINUE WHEN r OPERATOR(pg_catalog.=) ANY (seen);
		seen := seen OPERATOR(pg_catalog.||) r;
		SELECT cl.relkind, cl.relhassubclass, cl.relrowsecurity, cl.relispartition,
			   EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) r) AS inherits
		  INTO c
		  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) r;
		relid := r;
		relkind := c.relkind;
		IF c.relkind IS NULL THEN
			watchable := false;
		ELSIF c.relkind OPERATOR(pg_catalog.=) 'r' THEN
			-- a write through a parent fires the parent's statement triggers, not
			-- its children's: no table of an inheritance or partition tree
			watchable := NOT c.relhassubclass AND NOT c.relispartition AND NOT c.inherits AND NOT c.relrowsecurity;
		ELSIF c.relkind OPERATOR(pg_catalog.=) 'v' THEN
			watchable := loginas._view_immutable(r) AND NOT EXISTS (
				SELECT FROM pg_catalog.pg_depend d
				  JOIN pg_catalog.pg_rewrite rw ON rw.oid OPERATOR(pg_catalog.=) d.objid
				 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
				   AND rw.ev_class OPERATOR(pg_catalog.=) r
				   AND d.refobjid OPERATOR(pg_catalog.>=) 16384	-- FirstNormalObjectId: not built in
				   AND (d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass,
										 'pg_catalog.pg_operator'::pg_catalog.regclass)
						OR (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
							AND (SELECT t.typtype FROM pg_catalog.pg_type t
								  WHERE t.oid OPERATOR(pg_catalog.=) d.refobjid) IN ('b', 'd', 'r', 'm'))));
			todo := todo OPERATOR(pg_catalog.||) ARRAY(
				SELECT DISTINCT d.refobjid FROM pg_catalog.pg_depend d
				  JOIN pg_catalog.pg_rewrite rw ON rw.oid OPERATOR(pg_catalog.=) d.objid
				 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
				   AND rw.ev_class OPERATOR(pg_catalog.=) r
				   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
				   AND d.refobjid OPERATOR(pg_catalog.<>) r);
		ELSE
			watchable := false;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE FUNCTION loginas._cache_trigger_ok(p_rel oid)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger t
					WHERE t.tgrelid OPERATOR(pg_catalog.=) p_rel
					  AND t.tgfoid OPERATOR(pg_catalog.=) 'loginas._cache_signal()'::pg_catalog.regprocedure
					  AND t.tgenabled OPERATOR(pg_catalog.=) 'A'
					  AND t.tgtype OPERATOR(pg_catalog.=) 60	-- statement, AFTER, INSERT|DELETE|UPDATE|TRUNCATE
					  AND t.tgqual IS NULL
					  AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0)
$$;

CREATE FUNCTION loginas._cache_watch(p_rel regclass)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t oid;
	fn oid;
BEGIN
	FOR t IN SELECT r.relid FROM loginas._cache_relations(ARRAY[p_rel::pg_catalog.oid]) r
			   JOIN pg_catalog.pg_class cl ON cl.oid OPERATOR(pg_catalog.=) r.relid
			  WHERE r.relkind OPERATOR(pg_catalog.=) 'r' AND r.watchable AND NOT loginas._cache_trigger_ok(r.relid)
				-- a table of the bound relation's owner, or any table a view of a
				-- superuser's reads (the DBA made it: the recipes' views)
				AND (cl.relowner OPERATOR(pg_catalog.=) (SELECT b.relowner FROM pg_catalog.pg_class b
														  WHERE b.oid OPERATOR(pg_catalog.=) p_rel)
					 OR (SELECT o.rolsuper FROM pg_catalog.pg_class b
						   JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) b.relowner
						  WHERE b.oid OPERATOR(pg_catalog.=) p_rel))
	LOOP
		SELECT g.tgfoid INTO fn FROM pg_catalog.pg_trigger g
		 WHERE g.tgrelid OPERATOR(pg_catalog.=) t AND g.tgname OPERATOR(pg_catalog.=) 'loginas_assume_cache';
		CONTINUE WHEN fn IS NOT NULL AND fn OPERATOR(pg_catalog.<>) 'loginas._cache_signal()'::pg_catalog.regprocedure;
		BEGIN
			IF fn IS NOT NULL THEN
				EXECUTE pg_catalog.format('DROP TRIGGER loginas_assume_cache ON %s', t::pg_catalog.regclass);
			END IF;
			EXECUTE pg_catalog.format('CREATE TRIGGER loginas_assume_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE'
									  ' ON %s FOR EACH STATEMENT EXECUTE FUNCTION loginas._cache_signal()',
									  t::pg_catalog.regclass);
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER loginas_assume_cache', t::pg_catalog.regclass);
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;	-- not cached: the checked path every time
		END;
	END LOOP;
END
$$;

CREATE FUNCTION loginas._cache_watch_set()
	RETURNS oid[]
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rels oid[] := ARRAY(SELECT b.relation::pg_catalog.oid FROM loginas.binding b
						 WHERE b.kind IN ('admins', 'customers', 'store_views'));
	r record;
	seen oid[] := '{}';
BEGIN
	IF pg_catalog.cardinality(rels) OPERATOR(pg_catalog.<>) 3 THEN
		RETURN NULL;
	END IF;
	FOR r IN SELECT * FROM loginas._cache_relations(rels) LOOP
		IF NOT r.watchable OR (r.relkind OPERATOR(pg_catalog.=) 'r' AND NOT loginas._cache_trigger_ok(r.relid)) THEN
			RETURN NULL;
		END IF;
		seen := seen OPERATOR(pg_catalog.||) r.relid;
	END LOOP;
	RETURN seen;
END
$$;

CREATE FUNCTION loginas._assume_cache_stats()
	RETURNS bigint[]
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_assume_cache_stats';

CREATE FUNCTION loginas._lock_session_end(session_id bigint)
	RETURNS void
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_lock_session_end';

CREATE OR REPLACE FUNCTION loginas._end_session(p_session_id bigint, p_reason text, p_by_admin text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	by_id bigint := loginas._key_id('admins', p_by_admin);
	log_id bigint;
BEGIN
	-- FOR UPDATE waits for transactions acting in the session (they hold
	-- FOR KEY SHARE from loginas.assume's checked path) and re-reads the row
	-- afterwards; the session's lock first, for those a cached assume() let
	-- act in it (src/assume.c)
	PERFORM loginas._lock_session_end(p_session_id);
	SELECT * INTO s FROM loginas.session
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id AND ended_at IS NULL
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	UPDATE loginas.session
	   SET ended_at = pg_catalog.now(), end_reason = p_reason,
		   ended_by_admin = by_id, ended_by_role = SESSION_USER, ended_by_admin_key = p_by_admin
	 WHERE session_id OPERATOR(pg_catalog.=) p_session_id;
	log_id := loginas._log('session_ended', 'success', s.admin_id, s.customer_id, s.session_id,
						 s.store_id, s.source, s.reason,
						 pg_catalog.jsonb_build_object('end_reason', p_reason,
													   'redeemed', s.redeemed_at IS NOT NULL,
													   -- a number for an integer key, as 1.2 logged it
													   'ended_by_admin', COALESCE(pg_catalog.to_jsonb(by_id),
																				  pg_catalog.to_jsonb(p_by_admin))),
						 p_customer_key => s.customer_key, p_admin_key => s.admin_key, p_store_key => s.store_key);
	PERFORM loginas._context_clear_session(p_session_id);
	-- every end, whatever its reason, is a live event (05_events.sql)
	PERFORM loginas._notify_session('session_ended', p_session_id, log_id);
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION loginas.bind(kind text, relation regclass, by_admin text)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	relkind "char";
	relnsp oid;
	atttype oid;
	ok boolean;
	any_key boolean;
	admin_key text;
BEGIN
	PERFORM loginas._require_writable('loginas.bind()');
	IF NOT EXISTS (SELECT FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized binding kind "%s"', bind.kind), NULL,
			pg_catalog.format('Valid kinds are: %s.',
				(SELECT pg_catalog.string_agg(DISTINCT bc.kind, ', ') FROM loginas.binding_column bc)));
	END IF;
	IF bind.relation IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', 'relation to bind cannot be NULL');
	END IF;

	SELECT cl.relkind, cl.relnamespace INTO relkind, relnsp
	  FROM pg_catalog.pg_class cl WHERE cl.oid OPERATOR(pg_catalog.=) bind.relation;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		PERFORM loginas._refuse(NULL, '42809',
			pg_catalog.format('"%s" is not a table or view', bind.relation));
	END IF;
	-- loginas reads bound relations as loginas_reader (see _read_bound): the
	-- shop decides what it may read by granting it, explicitly
	IF NOT pg_catalog.has_schema_privilege('loginas_reader', relnsp, 'USAGE') THEN
		PERFORM loginas._refuse(NULL, '42501',
			pg_catalog.format('role "loginas_reader" has no access to schema %s', pg_catalog.quote_ident(relnsp::regnamespace::text)),
			'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
			pg_catalog.format('GRANT USAGE ON SCHEMA %s TO loginas_reader;', pg_catalog.quote_ident(relnsp::regnamespace::text)));
	END IF;

	FOR c IN SELECT bc.column_name, bc.type_class, bc.is_optional, bc.is_key FROM loginas.binding_column bc
			  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind ORDER BY bc.position
	LOOP
		SELECT a.atttypid INTO atttype FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) bind.relation
		   AND a.attname OPERATOR(pg_catalog.=) c.column_name
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND AND c.is_optional THEN
			CONTINUE;		-- an optional column the relation lacks is read as NULL
		END IF;
		IF NOT FOUND THEN
			PERFORM loginas._refuse(NULL, '42703',
				pg_catalog.format('relation "%s" has no column "%s"', bind.relation, c.column_name),
				pg_catalog.format('A "%s" binding needs the columns %s.', bind.kind,
					(SELECT pg_catalog.string_agg(bc.column_name, ', ' ORDER BY bc.position)
					   FROM loginas.binding_column bc
					  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind AND NOT bc.is_optional)));
		END IF;
		IF NOT pg_catalog.has_column_privilege('loginas_reader', bind.relation, c.column_name, 'SELECT') THEN
			PERFORM loginas._refuse(NULL, '42501',
				pg_catalog.format('role "loginas_reader" cannot read column "%s" of relation "%s"', c.column_name, bind.relation),
				'loginas reads bound relations as the role loginas_reader, which is granted to nobody.',
				pg_catalog.format('GRANT SELECT ON %s TO loginas_reader;', bind.relation));
		END IF;
		-- keys of any type: an id (a kind's key, or the key of another kind:
		-- a document's customer_id and store_id, a store view's website_id)
		-- may be an integer, text, varchar or uuid
		any_key := c.type_class OPERATOR(pg_catalog.=) 'id';
		ok := CASE c.type_class
				WHEN 'id' THEN CASE WHEN any_key THEN loginas._is_key_type(atttype)
									ELSE loginas._is_int_type(atttype) END
				WHEN 'text' THEN atttype IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype,
											 'pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
				ELSE atttype OPERATOR(pg_catalog.=) 'pg_catalog.bool'::regtype
			  END;
		IF NOT ok THEN
			PERFORM loginas._refuse(NULL, '42804',
				pg_catalog.format('column "%s" of relation "%s" has type %s', c.column_name, bind.relation,
								  pg_catalog.format_type(atttype, NULL)),
				pg_catalog.format('Column "%s" must be %s.', c.column_name,
					CASE WHEN any_key THEN 'an integer (smallint, integer or bigint), text, varchar or uuid'
						 WHEN c.type_class OPERATOR(pg_catalog.=) 'id' THEN 'an integer (smallint, integer or bigint)'
						 WHEN c.type_class OPERATOR(pg_catalog.=) 'text' THEN 'text (text, varchar, char or name)'
						 ELSE 'boolean' END),
				-- only suggest casts that cannot fail later: a character key to text
				-- (a cast to an integer would fail at run time on a key that is not
				-- a number)
				CASE WHEN any_key AND atttype IN ('pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype)
					 THEN 'Cast it to text in a view over the table and bind the view.'
					 ELSE 'Cast it in a view over the table and bind the view.' END);
		END IF;
		-- keys are compared byte for byte: under a nondeterministic collation
		-- (case- or accent-insensitive) one row would answer to several keys
		IF c.is_key AND NOT loginas._deterministic_column(bind.relation, c.column_name) THEN
			PERFORM loginas._refuse(NULL, '0A000',
				pg_catalog.format('key column "%s" of relation "%s" has a nondeterministic collation', c.column_name, bind.relation),
				'A key that several spellings could match would let one row answer to several keys.',
				pg_catalog.format('Bind a view that gives the column a deterministic collation, e.g. %I COLLATE "C".', c.column_name));
		END IF;
	END LOOP;

	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);
	INSERT INTO loginas.binding AS b (kind, relation, bound_by_admin, bound_by_admin_key)
	VALUES (bind.kind, bind.relation, loginas._key_id('admins', admin_key), admin_key)
	ON CONFLICT ON CONSTRAINT binding_pkey DO UPDATE
	   SET relation = EXCLUDED.relation, bound_at = pg_catalog.now(),
		   bound_by_admin = EXCLUDED.bound_by_admin, bound_by_role = SESSION_USER,
		   bound_by_admin_key = EXCLUDED.bound_by_admin_key;
	-- assume()'s cache follows the shop's rows of what the verdicts read
	IF bind.kind IN ('admins', 'customers', 'store_views') THEN
		PERFORM loginas._cache_watch(bind.relation);
	END IF;
	PERFORM loginas._invalidate('loginas.binding');
	-- (the admin's key as the admins binding now reads it: rebinding the
	-- admins changes their key type)
	PERFORM loginas._log('relation_bound', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', bind.kind, 'relation', bind.relation::text),
						 p_admin_key => admin_key);
END
$$;

-- the relations already bound: their base tables get the cache's trigger
SELECT loginas._cache_watch(b.relation) FROM loginas.binding b
 WHERE b.kind IN ('admins', 'customers', 'store_views')
   AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) b.relation);

REVOKE ALL ON TABLE loginas.cache_signal FROM PUBLIC;

REVOKE ALL ON FUNCTION
	loginas._assume_checked(text),
	loginas.assume(text),
	loginas._cache_signal(),
	loginas._view_immutable(oid),
	loginas._cache_relations(oid[]),
	loginas._cache_trigger_ok(oid),
	loginas._cache_watch(regclass),
	loginas._cache_watch_set(),
	loginas._assume_cache_stats(),
	loginas._lock_session_end(bigint)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION loginas.assume(text) TO loginas_storefront;

-- the owner of a tracked partitioned table may add partitions to it:
-- PostgreSQL checks the owner's right to execute the row trigger function it
-- copies into the new partition (see src/sql/10_privileges.sql)
GRANT EXECUTE ON FUNCTION loginas._track_row() TO PUBLIC;

-- The write log's details as jsonb from the very text jsonb prints of them
-- (src/printedjsonb.c), NULL for any other text: what a session's commit
-- stores without parsing general JSON.  For the tests.
CREATE FUNCTION loginas._printed_jsonb(printed text) RETURNS jsonb
	LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'loginas_printed_jsonb';
REVOKE ALL ON FUNCTION loginas._printed_jsonb(text) FROM PUBLIC;

-- loginas' event triggers fire in every session_replication_role (a role
-- granted SET on it would otherwise switch the guards off in replica mode)
ALTER EVENT TRIGGER loginas_forget_dropped ENABLE ALWAYS;

-- For the tests: whether loginas._printed_jsonb(printed) is byte for byte the
-- jsonb that jsonb_in() makes of the same text (NULL: not the text jsonb
-- prints).
CREATE FUNCTION loginas._printed_jsonb_check(printed text) RETURNS boolean
	LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'loginas_printed_jsonb_check';
REVOKE ALL ON FUNCTION loginas._printed_jsonb_check(text) FROM PUBLIC;
