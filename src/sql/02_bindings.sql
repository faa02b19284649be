/*
 * 02_bindings.sql
 * Bindings to the shop's own tables: which relation (usually a view over the
 * shop's schema) gives loginas its customers, admins, store views and
 * documents.  loginas reads a bound relation only as the powerless role
 * loginas_reader, in a security-restricted operation (src/reader.c): the
 * relation's owner cannot run code with loginas' rights through it.
 */

-- the columns each kind of binding must have; type_class: id (int2/int4/int8),
-- text (text, varchar, char, name), bool (boolean)
CREATE TABLE loginas.binding_column (
	kind		text NOT NULL,
	column_name	text NOT NULL,
	type_class	text NOT NULL CHECK (type_class IN ('id', 'text', 'bool')),
	is_key		boolean NOT NULL DEFAULT false,
	position	int NOT NULL,
	PRIMARY KEY (kind, column_name)
);

INSERT INTO loginas.binding_column (kind, column_name, type_class, is_key, position)
SELECT k.kind, c.column_name, c.type_class, c.ord = 1, c.ord
  FROM (VALUES
		('customers', ARRAY['customer_id:id', 'email:text', 'display_name:text', 'is_active:bool',
							'website_id:id', 'store_id:id']),
		('admins', ARRAY['admin_id:id', 'username:text', 'display_name:text', 'is_active:bool',
						 'role:text']),
		('store_views', ARRAY['store_id:id', 'website_id:id', 'name:text', 'website_name:text',
							  'is_active:bool', 'is_default:bool']),
		('orders', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('invoices', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('shipments', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text']),
		('credit_memos', ARRAY['document_id:id', 'customer_id:id', 'store_id:id', 'reference:text'])
	   ) AS k(kind, cols),
	   LATERAL (SELECT pg_catalog.split_part(x, ':', 1) AS column_name,
					   pg_catalog.split_part(x, ':', 2) AS type_class, o AS ord
				  FROM pg_catalog.unnest(k.cols) WITH ORDINALITY AS u(x, o)) c;

CREATE TABLE loginas.binding (
	kind		text PRIMARY KEY,
	relation	regclass NOT NULL,
	bound_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	bound_by_admin bigint,
	bound_by_role name NOT NULL DEFAULT SESSION_USER
);

CREATE VIEW loginas.bindings AS
	SELECT k.kind,
		   CASE WHEN cl.oid IS NOT NULL THEN b.relation END AS relation,
		   CASE WHEN b.relation IS NULL THEN 'unbound'
				WHEN cl.oid IS NULL THEN 'dropped'
				ELSE 'bound' END AS status,
		   (SELECT pg_catalog.array_agg(c.column_name ORDER BY c.position)
			  FROM loginas.binding_column c WHERE c.kind OPERATOR(pg_catalog.=) k.kind) AS required_columns,
		   b.bound_at
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

-- "SELECT <the kind's columns, cast to int8/text/bool> FROM <relation>"
CREATE FUNCTION loginas._bound_select(p_kind text, p_rel regclass)
	RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.format('SELECT %s FROM %s',
			   pg_catalog.string_agg(
				   CASE c.type_class
						WHEN 'id' THEN pg_catalog.format('%1$I::pg_catalog.int8 AS %1$I', c.column_name)
						WHEN 'text' THEN pg_catalog.format('%1$I::pg_catalog.text AS %1$I', c.column_name)
						ELSE pg_catalog.format('%1$I::pg_catalog.bool AS %1$I', c.column_name)
				   END, ', ' ORDER BY c.position),
			   p_rel)
	  FROM loginas.binding_column c
	 WHERE c.kind OPERATOR(pg_catalog.=) p_kind
$$;

-- one row of a bound relation, by its key, as jsonb (NULL when there is
-- none); plans kept per backend (src/reader.c)
CREATE FUNCTION loginas._lookup(p_kind text, p_id bigint, p_missing_ok boolean DEFAULT false)
	RETURNS jsonb
	LANGUAGE c STABLE
	AS 'MODULE_PATHNAME', 'loginas_lookup';

-- every store view of the store_views binding
CREATE FUNCTION loginas._store_views()
	RETURNS SETOF jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.jsonb_array_elements(
		loginas._read_bound(
			pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t)) FROM (%s) t',
							  loginas._bound_select('store_views', r.rel)),
			NULL, r.rel))
	  FROM (SELECT loginas._bound_relation('store_views') AS rel) r
$$;

CREATE FUNCTION loginas.bind(kind text, relation regclass, by_admin bigint DEFAULT NULL)
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

	FOR c IN SELECT bc.column_name, bc.type_class FROM loginas.binding_column bc
			  WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind ORDER BY bc.position
	LOOP
		SELECT a.atttypid INTO atttype FROM pg_catalog.pg_attribute a
		 WHERE a.attrelid OPERATOR(pg_catalog.=) bind.relation
		   AND a.attname OPERATOR(pg_catalog.=) c.column_name
		   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			PERFORM loginas._refuse(NULL, '42703',
				pg_catalog.format('relation "%s" has no column "%s"', bind.relation, c.column_name),
				pg_catalog.format('A "%s" binding needs the columns %s.', bind.kind,
					(SELECT pg_catalog.string_agg(bc.column_name, ', ' ORDER BY bc.position)
					   FROM loginas.binding_column bc WHERE bc.kind OPERATOR(pg_catalog.=) bind.kind)));
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

CREATE FUNCTION loginas.unbind(kind text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rel text;
BEGIN
	PERFORM loginas._require_writable('loginas.unbind()');
	PERFORM loginas._check_by_admin(by_admin);
	DELETE FROM loginas.binding b WHERE b.kind OPERATOR(pg_catalog.=) unbind.kind RETURNING b.relation::text INTO rel;
	IF rel IS NULL THEN
		RETURN false;
	END IF;
	PERFORM loginas._invalidate('loginas.binding');
	PERFORM loginas._log('relation_unbound', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('kind', unbind.kind, 'relation', rel));
	RETURN true;
END
$$;
