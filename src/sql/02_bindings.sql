/*
 * 02_bindings.sql
 * Bindings to the shop's own tables: which relation (usually a view over the
 * shop's schema) gives loginas its customers, admins, store views and
 * documents.  loginas reads a bound relation only as the powerless role
 * loginas_reader, in a security-restricted operation (src/reader.c): the
 * relation's owner cannot run code with loginas' rights through it.
 */

-- the columns each kind of binding has; type_class: id (int2/int4/int8),
-- text (text, varchar, char, name), bool (boolean).  is_optional: a relation
-- may lack the column (it is then read as NULL).  combine: the kinds of a
-- person (admins: one row per role; customers: one row per website or store
-- view) may have several rows per key, and this says how a column of those
-- rows combines into the one record loginas uses -- 'same' (every row has the
-- same value, else the lookup fails with 21000), 'all' (true when every row
-- is true: bool_and, NULL counting as false), 'any' (true when a row is
-- true: bool_or), 'set' (the distinct non-NULL values, a sorted JSON array).
-- Kinds with no combine (store views and documents) have one row per key:
-- a second row for a key fails the lookup with 21000.
CREATE TABLE loginas.binding_column (
	kind		text NOT NULL,
	column_name	text NOT NULL,
	type_class	text NOT NULL CHECK (type_class IN ('id', 'text', 'bool')),
	is_key		boolean NOT NULL DEFAULT false,
	position	int NOT NULL,
	is_optional	boolean NOT NULL DEFAULT false,
	combine		text CHECK (combine IN ('same', 'all', 'any', 'set')),
	PRIMARY KEY (kind, column_name)
);

-- "column:type_class[:combine[:optional]]"
INSERT INTO loginas.binding_column (kind, column_name, type_class, is_key, position, is_optional, combine)
SELECT k.kind, c.column_name, c.type_class, c.ord = 1, c.ord, c.optional = 'optional', NULLIF(c.combine, '')
  FROM (VALUES
		('customers', ARRAY['customer_id:id', 'email:text:same', 'display_name:text:same', 'is_active:bool:all',
							'website_id:id:set', 'store_id:id:set', 'is_guest:bool:any:optional']),
		('admins', ARRAY['admin_id:id', 'username:text:same', 'display_name:text:same', 'is_active:bool:all',
						 'role:text:set']),
		('store_views', ARRAY['store_id:id', 'website_id:id', 'name:text', 'website_name:text',
							  'is_active:bool', 'is_default:bool']),
		('orders', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('invoices', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('shipments', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('credit_memos', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text'])
	   ) AS k(kind, cols),
	   LATERAL (SELECT pg_catalog.split_part(x, ':', 1) AS column_name,
					   pg_catalog.split_part(x, ':', 2) AS type_class,
					   pg_catalog.split_part(x, ':', 3) AS combine,
					   pg_catalog.split_part(x, ':', 4) AS optional, o AS ord
				  FROM pg_catalog.unnest(k.cols) WITH ORDINALITY AS u(x, o)) c;

CREATE TABLE loginas.binding (
	kind		text PRIMARY KEY,
	relation	regclass NOT NULL,
	bound_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	bound_by_admin bigint,			-- the admin's key when admins have integer keys
	bound_by_role name NOT NULL DEFAULT SESSION_USER,
	bound_by_admin_key text		-- the admin's key, any type, as canonical text
);

CREATE VIEW loginas.bindings AS
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

-- the relation bound as p_kind; raises when there is none or it was dropped
CREATE FUNCTION loginas._bound_relation(p_kind text, p_missing_ok boolean DEFAULT false)
	RETURNS regclass
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rel regclass;
BEGIN
	SELECT b.relation INTO rel FROM loginas.binding b WHERE b.kind OPERATOR(pg_catalog.=) p_kind;
	IF rel IS NULL THEN
		IF p_missing_ok THEN
			RETURN NULL;
		END IF;
		PERFORM loginas._raise('55000', pg_catalog.format('no relation is bound as "%s"', p_kind), NULL,
			pg_catalog.format('Bind one with loginas.bind(%L, ''schema.relation'').', p_kind));
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel) THEN
		IF p_missing_ok THEN
			RETURN NULL;
		END IF;
		PERFORM loginas._raise('55000', pg_catalog.format('the relation bound as "%s" no longer exists', p_kind), NULL,
			pg_catalog.format('Bind it again with loginas.bind(%L, ''schema.relation'').', p_kind));
	END IF;
	RETURN rel;
END
$$;

-- The only function that reads the shop's bound relations (src/reader.c):
-- it runs its query as loginas_reader, a role granted to nobody, as a
-- security-restricted operation whose setting changes are undone -- whatever
-- a bound view or a column's type calls runs with no rights but SELECT on the
-- bound relations, and leaves nothing behind.  bind() requires that
-- loginas_reader may read the relation (the shop grants it explicitly).
CREATE FUNCTION loginas._read_bound(p_sql text, p_id bigint, p_relation regclass)
	RETURNS jsonb
	LANGUAGE c VOLATILE
	AS 'MODULE_PATHNAME', 'loginas_read_bound';

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

-- a key given as text as the bigint id of 1.2's columns and signatures: its
-- value when the kind's keys are integers, else NULL (the key is kept as text)
CREATE FUNCTION loginas._key_id(p_kind text, p_key text)
	RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN loginas._is_int_type(loginas._key_type(p_kind))
				THEN loginas._canon_key(p_kind, p_key)::pg_catalog.int8 END
$$;

-- "SELECT <the kind's columns, cast to int8/text/bool> FROM <relation>"; an
-- optional column the relation lacks is read as NULL
CREATE FUNCTION loginas._bound_select(p_kind text, p_rel regclass)
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
CREATE FUNCTION loginas._bound_lookup(p_kind text, p_rel regclass)
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

-- one row of a bound relation, by its key, as jsonb (NULL when there is
-- none); plans kept per backend (src/reader.c).  The rows of an admin or a
-- customer are combined into one (binding_column.combine).  Ambiguous rows
-- raise 21000 (cardinality_violation): two rows for one key of a kind that
-- has one per key, or rows of one admin or customer that disagree on a
-- 'same' column.
CREATE FUNCTION loginas._lookup(p_kind text, p_id bigint, p_missing_ok boolean DEFAULT false)
	RETURNS jsonb
	LANGUAGE c STABLE
	AS 'MODULE_PATHNAME', 'loginas_lookup';

-- the same by a key as text (any key type; an integer key given as text)
CREATE FUNCTION loginas._lookup(p_kind text, p_key text, p_missing_ok boolean DEFAULT false)
	RETURNS jsonb
	LANGUAGE c STABLE
	AS 'MODULE_PATHNAME', 'loginas_lookup_key';

-- every store view of the store_views binding; a store_id on two rows
-- raises 21000 (cardinality_violation), as loginas._lookup does
CREATE FUNCTION loginas._store_views()
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

-- bind(kind, relation, by_admin): by an admin of any key type, given as text
-- (the bigint form below calls it)
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

CREATE FUNCTION loginas.bind(kind text, relation regclass, by_admin bigint DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM loginas.bind(bind.kind, bind.relation, bind.by_admin::pg_catalog.text);
END
$$;

-- unbind(kind, by_admin): by an admin of any key type, given as text
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

CREATE FUNCTION loginas.unbind(kind text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.unbind(unbind.kind, unbind.by_admin::pg_catalog.text);
END
$$;
