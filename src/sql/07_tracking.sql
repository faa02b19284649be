/*
 * 07_tracking.sql
 * Tracked tables: write attribution and containment on the shop's own tables
 * (src/track.c, src/writelog.c).  loginas.track() adds two stamp columns and
 * ALWAYS triggers; in a session a write must stay within the impersonated
 * customer's rows, protected columns do not change, read-only sessions write
 * nothing, and every write is logged at commit.  A child table reaches its
 * customer through a foreign key to a tracked parent; what loginas compares
 * there must be of built-in types (no table owner's code runs with loginas'
 * rights).
 */

CREATE TABLE loginas.tracked (
	relation		regclass PRIMARY KEY,
	customer_column	name,			-- a table whose rows carry the customer id
	parent			regclass,		-- or a child reaching it through a foreign key
	fk_columns		name[],			-- the child's columns of that foreign key
	parent_columns	name[],			-- the parent's columns they reference
	created_column	name,			-- the stamp columns (stamps = 'columns'),
	changed_column	name,			-- NULL when the stamps are kept in loginas.row_stamp
	tracked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	stamps			text NOT NULL DEFAULT 'columns',
	-- the write log carries the written rows' values (loginas.log_values)
	log_values		boolean NOT NULL DEFAULT true,
	-- a customer column, a parent, or neither: the paths of owner_path
	CHECK (customer_column IS NULL OR parent IS NULL),
	CONSTRAINT tracked_stamps_check CHECK (
		stamps = 'columns' AND created_column IS NOT NULL AND changed_column IS NOT NULL
		OR stamps = 'table' AND created_column IS NULL AND changed_column IS NULL)
);

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

CREATE TABLE loginas.protected_column (
	relation	regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	column_name	name NOT NULL,
	protected_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (relation, column_name)
);

-- The columns a DBA marked sensitive (loginas.redact): in a session they may
-- be written, but the write log says only that they changed, never their
-- values (as for protected columns, which are never logged either)
CREATE TABLE loginas.redacted_column (
	relation	regclass NOT NULL REFERENCES loginas.tracked ON DELETE CASCADE,
	column_name	name NOT NULL,
	redacted_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (relation, column_name)
);

-- The stamps of a table tracked with stamps => 'table': kept here instead of
-- in columns of the shop's table, which a schema tool that does not know them
-- would drop.  One row per row of the shop's table that a session wrote, by
-- its primary key (its values' text as a JSON array, as the log names keys);
-- written only by the row trigger (src/track.c), as loginas' owner.
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

-- a tracked table that is dropped is forgotten (its triggers went with it)
CREATE FUNCTION loginas._forget_dropped() RETURNS event_trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM loginas.tracked t
	 USING pg_catalog.pg_event_trigger_dropped_objects() d
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.objsubid OPERATOR(pg_catalog.=) 0
	   AND d.objid OPERATOR(pg_catalog.=) t.relation::pg_catalog.oid;
END
$$;

CREATE EVENT TRIGGER loginas_forget_dropped ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION loginas._forget_dropped();
ALTER EVENT TRIGGER loginas_forget_dropped ENABLE ALWAYS;

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

CREATE VIEW loginas.tracked_tables AS
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

CREATE FUNCTION loginas._track_row() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'loginas_track_row';

CREATE FUNCTION loginas._track_truncate() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'loginas_track_truncate';

CREATE FUNCTION loginas._invalidate(relation regclass) RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'loginas_invalidate';

-- The AFTER INSERT trigger's filter: is the current transaction acting in a
-- session?  It is the one function every role may execute (a WHEN clause runs
-- with the writing role's rights); it says nothing about any other transaction.
CREATE FUNCTION loginas.in_session() RETURNS boolean
	LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_in_session';

-- Containment judged now, as commit judges it (src/containment.c): every row
-- the transaction's session wrote must belong to its customer, its protected
-- columns unchanged; raises the refusal commit would raise.  For an
-- application that wants the error at the statement that caused it (as SET
-- CONSTRAINTS ALL IMMEDIATE does for deferred constraints); commit judges the
-- rows again as they are then.
CREATE FUNCTION loginas.check_writes() RETURNS void
	LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'loginas_check_writes';

COMMENT ON FUNCTION loginas.check_writes()
	IS 'judge now, as commit will, that every row this transaction''s Login as Customer session wrote belongs to its customer';

-- attnum of a column by name (0 when absent)
CREATE FUNCTION loginas._attnum(p_rel regclass, p_column name) RETURNS int2
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE((SELECT a.attnum FROM pg_catalog.pg_attribute a
					  WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attname OPERATOR(pg_catalog.=) p_column
						AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped), 0)::int2
$$;

-- the type of a column by number (NULL when absent)
CREATE FUNCTION loginas._atttype(p_rel regclass, p_attnum int2) RETURNS oid
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT a.atttypid FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attnum OPERATOR(pg_catalog.=) p_attnum
	   AND NOT a.attisdropped
$$;

-- the primary key's column names, in key order
CREATE FUNCTION loginas._pk_columns(p_rel regclass) RETURNS name[]
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)
	  FROM pg_catalog.pg_index i
	 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
	  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid
									AND a.attnum OPERATOR(pg_catalog.=) k.attnum
	 WHERE i.indrelid OPERATOR(pg_catalog.=) p_rel AND i.indisprimary
$$;

-- what the trigger on p_relid (the tracked table or one of its partitions) needs
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

-- checks shared by both forms of track()
CREATE FUNCTION loginas._prepare_tracking(p_relation regclass)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind "char";
BEGIN
	PERFORM loginas._require_writable('loginas.track()');
	IF p_relation IS NULL THEN
		PERFORM loginas._raise('22023', 'relation to track cannot be NULL', NULL, NULL);
	END IF;
	SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) p_relation;
	IF kind IS NULL OR kind NOT IN ('r', 'p') THEN
		PERFORM loginas._raise('42809', pg_catalog.format('"%s" is not a table', p_relation),
			'Only tables and partitioned tables can be tracked.', NULL);
	END IF;
	IF loginas._pk_columns(p_relation) IS NULL THEN
		PERFORM loginas._raise('55000', pg_catalog.format('table %s has no primary key', p_relation),
			'loginas identifies the rows written in a session by their primary key.',
			'Add a primary key to the table, then track it.');
	END IF;
END
$$;

-- the stamp columns: added, or reused when they exist as bigint; never one
-- of the columns that tie a row to its customer or identify it
CREATE FUNCTION loginas._add_stamps(p_relation regclass, p_created name, p_changed name, p_reserved name[])
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	col name;
	typ oid;
BEGIN
	IF p_created IS NULL OR p_changed IS NULL OR p_created OPERATOR(pg_catalog.=) '' OR p_changed OPERATOR(pg_catalog.=) '' THEN
		PERFORM loginas._raise('22023', 'stamp column names cannot be empty or NULL', NULL, NULL);
	END IF;
	IF p_created OPERATOR(pg_catalog.=) p_changed THEN
		PERFORM loginas._raise('22023', 'the two stamp columns need two different names', NULL, NULL);
	END IF;
	FOREACH col IN ARRAY ARRAY[p_created, p_changed] LOOP
		IF col OPERATOR(pg_catalog.=) ANY (p_reserved OPERATOR(pg_catalog.||) loginas._pk_columns(p_relation)) THEN
			PERFORM loginas._raise('22023',
				pg_catalog.format('column "%s" of %s cannot be a stamp column', col, p_relation),
				'A stamp column must not be the customer column, a primary-key column or a column of the foreign key to the parent.',
				'Name two other columns, or leave the defaults (loginas_created_session, loginas_changed_session).');
		END IF;
	END LOOP;
	FOREACH col IN ARRAY ARRAY[p_created, p_changed] LOOP
		SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) p_relation AND a.attname OPERATOR(pg_catalog.=) col
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I pg_catalog.int8', p_relation, col);
		ELSIF typ OPERATOR(pg_catalog.<>) 'pg_catalog.int8'::regtype THEN
			PERFORM loginas._raise('42804',
				pg_catalog.format('stamp column "%s" of %s has type %s', col, p_relation, pg_catalog.format_type(typ, NULL)),
				'A stamp column holds a session id: it must be bigint.', NULL);
		END IF;
	END LOOP;
END
$$;

-- where the stamps are kept: 'columns' (added, or reused, by _add_stamps) or
-- 'table' (loginas.row_stamp: nothing is added to the shop's table).  A change
-- of place starts the new one empty: the stamps kept in loginas.row_stamp go,
-- stamp columns left in the table are no longer written (the log keeps every
-- write either way).
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

-- the triggers fire ALWAYS: session_replication_role = replica (a role
-- granted SET on it, or a SECURITY DEFINER wrapper) must not switch tracking
-- off; a logical-replication apply worker, which runs as replica, passes
-- through them untouched (src/track.c).  And a table is tracked only once the
-- trigger can read it: track() raises what the trigger would refuse.
CREATE FUNCTION loginas._install_triggers(p_relation regclass, p_created name, p_changed name)
	RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	info record;
	trg name;
BEGIN
	SELECT ti.problem, ti.problem_detail, ti.problem_hint, ti.problem_code INTO info
	  FROM loginas._track_info(p_relation) ti;
	IF info.problem IS NOT NULL THEN
		PERFORM loginas._raise(info.problem_code, info.problem, info.problem_detail, info.problem_hint);
	END IF;
	-- no WHEN clause on the BEFORE triggers: PostgreSQL prepares a trigger's
	-- WHEN clause again for every statement, which costs a single-row write
	-- more than the C trigger's own fast path for writes outside a session
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_insert BEFORE INSERT ON %s FOR EACH ROW'
		' EXECUTE FUNCTION loginas._track_row()', p_relation);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_update BEFORE UPDATE ON %s FOR EACH ROW'
		' EXECUTE FUNCTION loginas._track_row()', p_relation);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_delete BEFORE DELETE ON %s FOR EACH ROW'
		' EXECUTE FUNCTION loginas._track_row()', p_relation);
	-- inserts are logged once written (not for rows ON CONFLICT skipped)
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_log_insert AFTER INSERT ON %s FOR EACH ROW'
		' WHEN (loginas.in_session()) EXECUTE FUNCTION loginas._track_row()', p_relation);
	EXECUTE pg_catalog.format(
		'CREATE OR REPLACE TRIGGER zz_loginas_track_truncate BEFORE TRUNCATE ON %s'
		' FOR EACH STATEMENT EXECUTE FUNCTION loginas._track_truncate()', p_relation);
	FOREACH trg IN ARRAY loginas._trigger_names() LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p_relation, trg);
	END LOOP;
END
$$;

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

CREATE FUNCTION loginas.untrack(relation regclass)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	child text;
	trg text;
BEGIN
	PERFORM loginas._require_writable('loginas.untrack()');
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) untrack.relation) THEN
		RETURN false;
	END IF;
	SELECT pg_catalog.string_agg(t.relation::text, ', ') INTO child
	  FROM loginas.tracked t WHERE t.parent OPERATOR(pg_catalog.=) untrack.relation;
	IF child IS NOT NULL THEN
		PERFORM loginas._raise('55000',
			pg_catalog.format('table %s is the tracked parent of %s', untrack.relation, child), NULL,
			'Untrack the child tables first.');
	END IF;
	FOREACH trg IN ARRAY ARRAY['zz_loginas_track_insert', 'zz_loginas_track_update',
							   'zz_loginas_track_delete', 'zz_loginas_log_insert',
							   'zz_loginas_track_truncate'] LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', trg, untrack.relation);
	END LOOP;
	DELETE FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) untrack.relation;
	PERFORM loginas._invalidate(untrack.relation);
	PERFORM loginas._log('table_untracked', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', untrack.relation::text));
	RETURN true;
END
$$;

CREATE FUNCTION loginas.protect(relation regclass, "column" name)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.protect()');
	IF NOT EXISTS (SELECT FROM loginas.tracked t WHERE t.relation OPERATOR(pg_catalog.=) protect.relation) THEN
		PERFORM loginas._raise('55000', pg_catalog.format('table %s is not tracked', protect.relation), NULL,
			'Track it with loginas.track() first.');
	END IF;
	IF loginas._attnum(protect.relation, protect."column") OPERATOR(pg_catalog.=) 0 THEN
		PERFORM loginas._raise('42703',
			pg_catalog.format('column "%s" of relation %s does not exist', protect."column", protect.relation), NULL, NULL);
	END IF;
	INSERT INTO loginas.protected_column (relation, column_name) VALUES (protect.relation, protect."column")
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(protect.relation);
	PERFORM loginas._log('column_protected', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', protect.relation::text, 'column', protect."column"));
	RETURN true;
END
$$;

CREATE FUNCTION loginas.unprotect(relation regclass, "column" name)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas._require_writable('loginas.unprotect()');
	DELETE FROM loginas.protected_column p
	 WHERE p.relation OPERATOR(pg_catalog.=) unprotect.relation AND p.column_name OPERATOR(pg_catalog.=) unprotect."column";
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate(unprotect.relation);
	PERFORM loginas._log('column_unprotected', 'success', NULL, NULL,
						 p_details => pg_catalog.jsonb_build_object('table', unprotect.relation::text, 'column', unprotect."column"));
	RETURN true;
END
$$;

-- Sensitive columns: the write log records that a session changed one, never
-- its value (a protected column is treated so too).  Only the DBA marks
-- them, as only the DBA protects (granted to no role).
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

-- Whether the write log of a tracked table carries the written rows' values
-- (the default) or, as before 1.3, only their keys and the names of the
-- changed columns.  True when it changed something.
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

-- the first of p_columns of p_rel whose type is not built-in, as the
-- problem's text; NULL when every one is built-in (or absent: the callers
-- report missing columns themselves)
CREATE FUNCTION loginas._untrusted_column(p_rel regclass, p_columns name[])
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('column "%s" of %s has type %s', a.attname, p_rel,
							 pg_catalog.format_type(a.atttypid, a.atttypmod))
	  FROM pg_catalog.unnest(p_columns) WITH ORDINALITY u(c, o)
	  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) p_rel
									AND a.attname OPERATOR(pg_catalog.=) u.c AND NOT a.attisdropped
	 WHERE a.atttypid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid	-- FirstNormalObjectId
	 ORDER BY u.o
	 LIMIT 1
$$;

-- a relation of the parent chain as the parent query names it: a plain table
-- with ONLY (the foreign key references that table, not its inheritance
-- children), a partitioned table as it is (its rows are in its partitions)
CREATE FUNCTION loginas._chain_relation(p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' THEN '' ELSE 'ONLY ' END OPERATOR(pg_catalog.||) p_rel::pg_catalog.text
	  FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) p_rel
$$;

-- the names of the triggers track() installs
CREATE FUNCTION loginas._trigger_names()
	RETURNS name[]
	LANGUAGE sql IMMUTABLE
	AS $$
	SELECT ARRAY['zz_loginas_track_insert', 'zz_loginas_track_update', 'zz_loginas_track_delete',
				 'zz_loginas_log_insert', 'zz_loginas_track_truncate']::name[]
$$;
