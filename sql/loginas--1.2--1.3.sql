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
--   * keys are printed unambiguously;
--   * a table reaches its customer through any foreign key path
--     (loginas.track_through: its own foreign keys to tracked tables, or
--     theirs to it; the first way that leads to a customer decides).

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

-- the ways a table tracked with loginas.track_through() reaches its customer,
-- tried in order: through a foreign key of its own to a tracked table
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

DROP FUNCTION loginas._track_info(oid);
-- what the trigger on p_relid (the tracked table or one of its partitions) needs
CREATE FUNCTION loginas._track_info(p_relid oid)
	RETURNS TABLE (relname text, customer_attnum int2, customer_type oid, created_attnum int2,
				   changed_attnum int2, pk_attnums int2[], protected_attnums int2[],
				   fk_attnums int2[], parent_lookups text[], chain oid[],
				   problem text, problem_detail text, problem_hint text, problem_code text,
				   route_attnums int2[], route_nattnums int4[], route_lookups text[],
				   route_relations oid[], route_referrers boolean[], route_nlookups int4[])
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
	created_attnum := loginas._attnum(p_relid::regclass, t.created_column);
	changed_attnum := loginas._attnum(p_relid::regclass, t.changed_column);
	pk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(loginas._pk_columns(t.relation)) WITH ORDINALITY u(c, o) ORDER BY o);
	protected_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, p.column_name)
								 FROM loginas.protected_column p
								WHERE p.relation OPERATOR(pg_catalog.=) t.relation ORDER BY 1);
	IF t.customer_column IS NOT NULL THEN
		customer_attnum := loginas._attnum(p_relid::regclass, t.customer_column);
		customer_type := loginas._atttype(p_relid::regclass, customer_attnum);
	END IF;
	-- a tracked column renamed, dropped or retyped since track(): in a session
	-- every write is refused rather than guessed at (the trigger raises the
	-- problem); the stamps must stay bigint, the customer column an integer
	IF created_attnum OPERATOR(pg_catalog.=) 0 OR changed_attnum OPERATOR(pg_catalog.=) 0
	   OR loginas._atttype(p_relid::regclass, created_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
	   OR loginas._atttype(p_relid::regclass, changed_attnum) OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::pg_catalog.regtype
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
	-- routes of lookups from it, tried in order (src/containment.c)
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
-- constraints' names.  The first way that leads to a customer decides.
CREATE FUNCTION loginas.track_through(relation regclass, via regclass[],
									  created_column name DEFAULT 'loginas_created_session',
									  changed_column name DEFAULT 'loginas_changed_session')
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v regclass;
	c record;
	n int;
	pos int := 0;
	own_fk name[] := ARRAY[]::name[];
	paths jsonb := '[]';
BEGIN
	PERFORM loginas._prepare_tracking(track_through.relation);
	IF track_through.via IS NULL OR pg_catalog.cardinality(track_through.via) OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('22023', 'via cannot be empty', NULL,
			'Name the tracked tables whose rows lead to the customer, e.g. ARRAY[''shop.customer''::regclass].');
	END IF;
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
	END LOOP;
	-- the tracked row first (the paths reference it), its paths anew
	INSERT INTO loginas.tracked AS t (relation, customer_column, parent, created_column, changed_column)
	VALUES (track_through.relation, NULL, NULL, track_through.created_column, track_through.changed_column)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
	   SET customer_column = NULL, parent = NULL, fk_columns = NULL, parent_columns = NULL,
		   created_column = EXCLUDED.created_column, changed_column = EXCLUDED.changed_column;
	DELETE FROM loginas.owner_path p WHERE p.relation OPERATOR(pg_catalog.=) track_through.relation;
	FOREACH v IN ARRAY track_through.via LOOP
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
			pos := pos OPERATOR(pg_catalog.+) 1;
			IF c.referrer THEN
				INSERT INTO loginas.owner_path VALUES (track_through.relation, pos, v, true, c.key_cols, c.fk_cols);
			ELSE
				INSERT INTO loginas.owner_path VALUES (track_through.relation, pos, v, false, c.fk_cols, c.key_cols);
				own_fk := own_fk OPERATOR(pg_catalog.||) c.fk_cols;
			END IF;
			paths := paths OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'via', v::text, 'referrer', c.referrer, 'foreign_key', c.fk_cols));
		END LOOP;
		IF n OPERATOR(pg_catalog.=) 0 THEN
			PERFORM loginas._raise('42830',
				pg_catalog.format('there is no foreign key between %s and %s', track_through.relation, v),
				'A table reaches its customer through a foreign key to a tracked table, or from one.',
				'Add the foreign key, or name another table.');
		END IF;
	END LOOP;
	PERFORM loginas._add_stamps(track_through.relation, track_through.created_column, track_through.changed_column, own_fk);
	PERFORM loginas._install_triggers(track_through.relation, track_through.created_column, track_through.changed_column);
	PERFORM loginas._invalidate(track_through.relation);
	PERFORM loginas._log('table_tracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', track_through.relation::text,
																	'through', paths));
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
	loginas._owner_routes(regclass, int), loginas.track_through(regclass, regclass[], name, name) FROM PUBLIC;
GRANT SELECT ON loginas.tracked_paths TO loginas_admin;
