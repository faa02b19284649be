-- test/upgrade/catalog.sql — every object of the loginas extension with its
-- definition, one line each, for comparing two installs (test/t/030_upgrade.pl:
-- a fresh CREATE EXTENSION against 1.0 + ALTER EXTENSION UPDATE).  OIDs never
-- appear; names, definitions, privileges (as sets: the order of grants is
-- incidental), comments and settings do.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'loginas'),
member AS (
	SELECT d.classid, d.objid FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
lines(line) AS (
	SELECT 'extension ' || e.extname || ' ' || e.extversion || ' relocatable=' || e.extrelocatable
		   || ' schema=' || e.extnamespace::regnamespace
		   || ' config=' || COALESCE((SELECT string_agg(c::regclass::text || ':' || COALESCE(w, ''), ',' ORDER BY c::regclass::text)
									   FROM unnest(e.extconfig, e.extcondition) AS u(c, w)), '')
	  FROM pg_extension e, ext WHERE e.oid = ext.oid
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || ' -> ' || pg_get_function_result(p.oid)
		   || ' args(' || pg_get_function_arguments(p.oid) || ')'
		   || ' lang=' || l.lanname || ' vol=' || p.provolatile::text || ' par=' || p.proparallel::text
		   || ' strict=' || p.proisstrict || ' secdef=' || p.prosecdef || ' leak=' || p.proleakproof
		   || ' config=' || COALESCE(p.proconfig::text, '') || ' acl=' || COALESCE((SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(p.proacl) x), '')
		   || ' owner=' || p.proowner::regrole
		   || ' comment=' || COALESCE(obj_description(p.oid, 'pg_proc'), '')
		   || ' body=' || md5(COALESCE(p.prosrc, '') || '|' || COALESCE(p.probin, ''))
	  FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	  JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' acl=' || COALESCE((SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(c.relacl) x), '')
		   || ' owner=' || c.relowner::regrole || ' rls=' || c.relrowsecurity
		   || ' comment=' || COALESCE(obj_description(c.oid, 'pg_class'), '')
		   || CASE WHEN c.relkind = 'v' THEN ' view=' || md5(pg_get_viewdef(c.oid)) ELSE '' END
	  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		   || ' notnull=' || a.attnotnull || ' default=' || COALESCE(pg_get_expr(ad.adbin, ad.adrelid), '')
		   || ' acl=' || COALESCE((SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(a.attacl) x), '')
	  FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	  FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
	UNION ALL
	SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
	  FROM member m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
	  FROM member m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
	 WHERE NOT t.tgisinternal
	UNION ALL
	SELECT 'type ' || t.oid::regtype || ' ' || COALESCE((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
														   FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
	  FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'event trigger ' || et.evtname || ' ' || et.evtevent || ' ' || et.evtfoid::regproc || ' enabled=' || et.evtenabled::text
	  FROM member m JOIN pg_event_trigger et ON m.classid = 'pg_event_trigger'::regclass AND et.oid = m.objid
	UNION ALL
	SELECT 'schema ' || n.nspname || ' acl=' || COALESCE((SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(n.nspacl) x), '') || ' owner=' || n.nspowner::regrole
	  FROM pg_namespace n WHERE n.nspname = 'loginas'
	UNION ALL
	SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0)
	  FROM member m
)
SELECT line FROM lines ORDER BY line;
