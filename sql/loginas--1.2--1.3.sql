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
--   * keys are printed unambiguously.

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
				   stamp_table boolean, stamp_rows boolean)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t loginas.tracked;
	cur loginas.tracked;
	cond text := '';
	untrusted text;
	i int := 0;
	j int;
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
		problem_hint := pg_catalog.format('Add them again with SELECT loginas.track(%L, %s => %L%s); the tracking and its'
			' protected columns are kept. Or add stamps => ''table'' to that call to keep the stamps in loginas.row_stamp,'
			' where schema tools do not see them.',
			t.relation::text,
			CASE WHEN t.customer_column IS NOT NULL THEN 'customer_column' ELSE 'parent' END,
			COALESCE(t.customer_column::text, t.parent::text),
			CASE WHEN t.created_column OPERATOR(pg_catalog.=) 'loginas_created_session'
					  AND t.changed_column OPERATOR(pg_catalog.=) 'loginas_changed_session' THEN ''
				 ELSE pg_catalog.format(', created_column => %L, changed_column => %L', t.created_column, t.changed_column) END);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- a tracked column renamed, dropped or retyped since track(): in a session
	-- every write is refused rather than guessed at (the trigger raises the
	-- problem); the stamps must stay bigint, the customer column an integer
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

	-- a child: the customer id of the parent row (up the chain of parents),
	-- share-locked so that it cannot be re-parented under the write
	fk_attnums := ARRAY(SELECT loginas._attnum(p_relid::regclass, c)
						  FROM pg_catalog.unnest(t.fk_columns) WITH ORDINALITY u(c, o) ORDER BY o);
	IF 0 OPERATOR(pg_catalog.=) ANY (fk_attnums) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', t.relation);
		problem_detail := 'A column of the foreign key to the parent was renamed or dropped.';
		problem_hint := 'Track the table again with loginas.track().';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT tr.* INTO cur FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) t.parent;
	IF cur.relation IS NULL THEN
		problem := pg_catalog.format('the parent of %s is no longer tracked', t.relation);
		problem_detail := 'A child table reaches its customer through its tracked parent.';
		problem_hint := 'Track the parent again, or track the table with its own customer column.';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	untrusted := COALESCE(loginas._untrusted_column(p_relid::regclass, t.fk_columns),
						  loginas._untrusted_column(cur.relation, t.parent_columns));
	FOR j IN 1 .. pg_catalog.array_length(t.parent_columns, 1) LOOP
		cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
				OPERATOR(pg_catalog.||) pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', t.parent_columns[j], j);
	END LOOP;
	IF EXISTS (SELECT FROM pg_catalog.unnest(t.parent_columns) c
				WHERE loginas._attnum(cur.relation, c) OPERATOR(pg_catalog.=) 0) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	parent_lookups := ARRAY[]::text[];
	chain := chain OPERATOR(pg_catalog.||) cur.relation::oid;
	WHILE cur.customer_column IS NULL LOOP
		i := i OPERATOR(pg_catalog.+) 1;
		IF i OPERATOR(pg_catalog.>) 16 THEN
			RAISE EXCEPTION 'loginas: the parent chain of % is too long or circular', t.relation;
		END IF;
		IF EXISTS (SELECT FROM pg_catalog.unnest(cur.fk_columns) c
					WHERE loginas._attnum(cur.relation, c) OPERATOR(pg_catalog.=) 0)
		   OR EXISTS (SELECT FROM pg_catalog.unnest(cur.parent_columns) c
					   WHERE loginas._attnum(cur.parent, c) OPERATOR(pg_catalog.=) 0) THEN
			problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
			problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed or dropped.';
			problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		untrusted := COALESCE(untrusted, loginas._untrusted_column(cur.relation, cur.fk_columns),
							  loginas._untrusted_column(cur.parent, cur.parent_columns));
		-- this parent's lookup gives its own foreign key, the next lookup's key
		parent_lookups := parent_lookups OPERATOR(pg_catalog.||) pg_catalog.format('SELECT %s FROM %s t WHERE %s FOR SHARE',
			(SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o)
			   FROM pg_catalog.unnest(cur.fk_columns) WITH ORDINALITY u(c, o)),
			loginas._chain_relation(cur.relation), cond);
		cond := '';
		FOR j IN 1 .. pg_catalog.array_length(cur.parent_columns, 1) LOOP
			cond := cond OPERATOR(pg_catalog.||) CASE WHEN j OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
					OPERATOR(pg_catalog.||) pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', cur.parent_columns[j], j);
		END LOOP;
		SELECT tr.* INTO cur FROM loginas.tracked tr WHERE tr.relation OPERATOR(pg_catalog.=) cur.parent;
		IF cur.relation IS NULL THEN
			problem := pg_catalog.format('a table on the parent chain of %s is no longer tracked', t.relation);
			problem_detail := 'A child table reaches its customer through its tracked parents.';
			problem_hint := 'Track the parents again.';
			problem_code := '55000';
			RETURN NEXT;
			RETURN;
		END IF;
		chain := chain OPERATOR(pg_catalog.||) cur.relation::oid;
	END LOOP;
	IF loginas._attnum(cur.relation, cur.customer_column) OPERATOR(pg_catalog.=) 0
	   OR loginas._atttype(cur.relation, loginas._attnum(cur.relation, cur.customer_column)) NOT IN
			('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype) THEN
		problem := pg_catalog.format('the tracking of %s no longer matches its columns', cur.relation);
		problem_detail := 'A tracked, key or foreign key column on the parent chain was renamed, dropped or retyped.';
		problem_hint := pg_catalog.format('Track %s (and its children) again with loginas.track().', cur.relation);
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
	-- every relation the query reads is still a table (a table owner cannot
	-- turn a tracked table into a view, but this does not rely on it)
	IF EXISTS (SELECT FROM pg_catalog.pg_class c
				WHERE c.oid OPERATOR(pg_catalog.=) ANY (chain[2:]) AND c.relkind NOT IN ('r', 'p')) THEN
		problem := pg_catalog.format('the parent chain of %s holds a relation that is not a table', t.relation);
		problem_detail := 'loginas reads the parents of a child row only from tables.';
		problem_hint := 'Track the parents again with loginas.track().';
		problem_code := '55000';
		RETURN NEXT;
		RETURN;
	END IF;
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
	parent_lookups := parent_lookups OPERATOR(pg_catalog.||) pg_catalog.format(
		'SELECT t.%I::pg_catalog.int8 FROM %s t WHERE %s FOR SHARE',
		cur.customer_column, loginas._chain_relation(cur.relation), cond);
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
