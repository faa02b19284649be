-- security: escalation attempts, each refused, each with a test that
-- fails if its defence is removed.  What sql/privileges.sql already proves
-- (the capability split function by function, no table writable by any role,
-- nothing granted to PUBLIC, SECURITY DEFINER functions pin search_path, the
-- internal functions executable by no role, SET loginas.* refused) is not
-- repeated here; this suite attacks:
--   1. search_path hijack: an unprivileged role shadows, in public and in its
--      own schema, every pg_catalog function, aggregate, operator and type
--      named in loginas' SQL and PL/pgSQL bodies (found by scanning
--      pg_proc.prosrc, not listed by hand) and every loginas relation; the
--      whole API (every SECURITY DEFINER function, the tracking trigger and
--      the commit-time write log) then runs under three hostile search_paths,
--      in fresh backends, and none of the shadows ever runs
--   2. forged contexts: SET / SET LOCAL / set_config of loginas.* names, in a
--      transaction, and in a backend that has not loaded the library yet
--   3. the C trigger functions and internals called directly (as superuser
--      too), installed as the wrong kind of trigger, and the owner-only
--      internals called with EXECUTE granted by mistake
--   4. role boundaries privileges.sql and reports.sql leave out: the
--      storefront calling the log functions and the reports, the admin
--      backend purging the log or changing its retention, a viewer_admin
--      whose role name differs in case only, admins without "login"
--      beginning, consent by admins without manage_assistance
--   5. the action log: writable CTEs, MERGE, INSERT ... ON CONFLICT DO UPDATE,
--      COPY FROM, DISABLE TRIGGER / session_replication_role by non-owners,
--      a superuser opening the purge window (sql/log.sql covers plain UPDATE,
--      DELETE, TRUNCATE and replica mode)
--   6. containment through the shop's own SECURITY DEFINER function; a
--      tracked table's owner retyping a stamp column or a parent's
--      customer column; 7. a table owner's code never runs with loginas'
--      rights, replica mode, TRUNCATE of any partition
--   8. keys of any type: every text overload (customers keyed by integer,
--      text and uuid) called by every role, with forged viewer_admin and
--      by_admin, and with keys that are not keys of the key type (empty,
--      NULL, spaces, out of range, another case, 10 kB, a newline, a quote,
--      a backslash, a statement); the bound view's owner's code in a lookup
--      (section 1 runs the text overloads under the hostile search_paths)
-- The expected output assumes loginas is not in shared_preload_libraries (as
-- sql/setup.sql does): section 2 connects with a loginas.* option.
--
-- Shop (sql/setup.sql): customers 1 Veronica (website 1), 2 John (website 2);
-- admins 1 ada (Administrators), 2 sam (Support), 3 old (inactive,
-- Administrators), 4 max (Marketing); order 100 is Veronica's, 102 John's.
\set VERBOSITY default

-- Load the library first (its _PG_init reserves the "loginas" GUC prefix).
SELECT loginas.current_session() IS NULL AS no_context;

-- A clean slate whatever earlier suites left (undone at the end).
DELETE FROM loginas.consent;
DO $$
DECLARE
	r record;
BEGIN
	PERFORM loginas.configure('enabled', 'off');	-- ends any live session
	PERFORM loginas.configure('require_reason', 'off');
	FOR r IN SELECT role, resource FROM loginas.permissions LOOP
		PERFORM loginas.revoke(r.role, r.resource);
	END LOOP;
END
$$;

-- The shop's roles: the admin backend, the storefront, reporting, and the
-- role that owns the shop's tables; and an attacker with no loginas role at
-- all, who may create objects in public and in a schema of her own
CREATE ROLE sec_backend NOLOGIN;
GRANT loginas_admin TO sec_backend;
CREATE ROLE sec_web NOLOGIN;
GRANT loginas_storefront TO sec_web;
CREATE ROLE sec_report NOLOGIN;
GRANT loginas_reporting TO sec_report;
CREATE ROLE sec_audit NOLOGIN;
GRANT loginas_auditor TO sec_audit;
CREATE ROLE sec_shop NOLOGIN;
CREATE ROLE regress_mallory NOLOGIN;
GRANT CREATE ON SCHEMA public TO regress_mallory;
-- the admin backend names the shop's order view to bind it
GRANT USAGE ON SCHEMA shop TO sec_backend;
GRANT SELECT ON shop.loginas_orders TO sec_backend;
CREATE SCHEMA regress_mallory AUTHORIZATION regress_mallory;

-- The shop's cart: carts carry the customer id, items reach it through their
-- cart; owned by sec_shop, written by the storefront
CREATE SCHEMA sec AUTHORIZATION sec_shop;
SET ROLE sec_shop;
CREATE TABLE sec.cart (cart_id int PRIMARY KEY, customer_id int, coupon text);
CREATE TABLE sec.cart_item (item_id int PRIMARY KEY, cart_id int NOT NULL REFERENCES sec.cart, sku text, qty int);
INSERT INTO sec.cart VALUES (1, 1, NULL), (2, 2, NULL);
INSERT INTO sec.cart_item VALUES (10, 1, 'TEE', 1), (20, 2, 'MUG', 1);
GRANT USAGE ON SCHEMA sec TO sec_web;
GRANT SELECT, INSERT, UPDATE, DELETE ON sec.cart, sec.cart_item TO sec_web;
-- Customers keyed by text (Medusa-shaped ids; a newline, a quote and a
-- backslash in three of them) and by uuid: views of the shop's role, which
-- the admin backend binds in turn (sections 1 and 8)
CREATE TABLE sec.taccount (id text PRIMARY KEY, email text NOT NULL, name text NOT NULL);
INSERT INTO sec.taccount VALUES ('cus_1', 'tess@example.com', 'Tess Text'), (E'cus\n2', 'nina@example.com', 'Nina Newline'),
	($$cus'3$$, 'quinn@example.com', 'Quinn Quote'), ('cus\4', 'bea@example.com', 'Bea Backslash');
CREATE VIEW sec.text_customers AS
	SELECT id AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
	  FROM sec.taccount;
CREATE TABLE sec.uaccount (id uuid PRIMARY KEY, email text NOT NULL, name text NOT NULL);
INSERT INTO sec.uaccount VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'uma@example.com', 'Uma Uuid'),
	('b1ffcd00-0d1c-4f09-8c7e-7cc0ce491b22', 'ulf@example.com', 'Ulf Uuid');
CREATE VIEW sec.uuid_customers AS
	SELECT id AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
	  FROM sec.uaccount;
GRANT USAGE ON SCHEMA sec TO loginas_reader, sec_backend;
GRANT SELECT ON sec.text_customers, sec.uuid_customers TO loginas_reader;
RESET ROLE;

-- Helpers, in a schema of their own (temporary objects would not survive the
-- fresh backends below).  Their bodies qualify every name: they run under the
-- hostile search_paths too.
CREATE SCHEMA sec_test;
GRANT USAGE ON SCHEMA sec_test TO PUBLIC;
-- try(statement): runs it as the current role; 'ok' or 'SQLSTATE: message'
CREATE FUNCTION sec_test.try(stmt pg_catalog.text) RETURNS pg_catalog.text
	LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN pg_catalog.concat(SQLSTATE, ': ', SQLERRM);
END
$$;
-- refusal(statement): the same, with the detail and hint; session ids
-- (which depend on the suites before this one) read N
CREATE FUNCTION sec_test.refusal(stmt text)
	RETURNS TABLE (state text, message text, detail text, hint text)
	LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	-- containment as commit would judge it (the statement's subtransaction
	-- rolls back with a refusal)
	IF loginas.in_session() THEN
		PERFORM loginas.check_writes();
	END IF;
	state := 'ok';
	RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
							detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	message := regexp_replace(message, 'session \d+', 'session N');
	detail := NULLIF(regexp_replace(detail, 'session \d+', 'session N'), '');
	hint := NULLIF(hint, '');
	RETURN NEXT;
END
$$;

-------------------------------------------------------------------------------
-- 1. search_path hijack
-------------------------------------------------------------------------------
-- The attacker's trap: whatever runs it is recorded (role included), and says so
SET ROLE regress_mallory;
GRANT USAGE ON SCHEMA regress_mallory TO PUBLIC;
CREATE TABLE regress_mallory.hits (what text, ran_as name);
GRANT INSERT, SELECT ON regress_mallory.hits TO PUBLIC;
CREATE FUNCTION regress_mallory.hit(what text) RETURNS boolean
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO regress_mallory.hits VALUES (what, current_user);
	RAISE NOTICE 'hijacked: % ran as %', what, current_user;
	RETURN true;
END
$$;

-- shadow(schema): in that schema, one trap for every overload of every
-- pg_catalog function, aggregate and window function whose name is followed
-- by "(" somewhere in a SQL or PL/pgSQL body of loginas; for every operator
-- of pg_catalog named in an OPERATOR(pg_catalog.x) there, and = and <> (what
-- IN, NOT IN, NULLIF, CASE and IS DISTINCT FROM use); a domain whose check
-- runs the trap for every pg_catalog type named there; a view that runs it
-- for every relation of loginas.  VARIADIC "any" becomes VARIADIC text[]
-- (which beats "any" even with pg_catalog first in the path).  Returns what
-- it tried, and whether it could.
CREATE FUNCTION regress_mallory.shadow(s text)
	RETURNS TABLE (kind text, name text, made boolean, error text)
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
	r record;
	args text;
	stype text;
BEGIN
	IF to_regclass('pg_temp.loginas_bodies') IS NULL THEN
		CREATE TEMP TABLE loginas_bodies AS
			SELECT p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
			 WHERE p.pronamespace = 'loginas'::regnamespace AND l.lanname IN ('sql', 'plpgsql');
	END IF;
	FOR r IN SELECT p.oid, p.proname::text AS proname, p.prokind, p.proretset, p.prorettype,
					COALESCE(p.proargmodes::text[] && ARRAY['o', 'b', 't'], false) AS has_out
			   FROM pg_proc p
			  WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind IN ('f', 'a', 'w')
				AND p.proname IN (SELECT lower(m[1]) FROM loginas_bodies b, regexp_matches(b.prosrc, '(\w+)\s*\(', 'g') m)
				-- a function with a pg_ddl_command column cannot be shadowed: neither
				-- PL/pgSQL nor SQL can define one (only C, which needs a superuser)
				AND NOT 'pg_ddl_command'::regtype::oid = ANY (COALESCE(p.proallargtypes, p.proargtypes::oid[]))
			  ORDER BY p.oid
	LOOP
		kind := 'function'; name := r.proname; made := true; error := NULL;
		BEGIN
			args := replace(replace(pg_get_function_arguments(r.oid), 'VARIADIC "any"', 'VARIADIC text[]'), '"any"', 'text');
			IF r.prokind = 'f' THEN
				EXECUTE format('CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L', s, r.proname,
					args, pg_get_function_result(r.oid),
					format('BEGIN PERFORM regress_mallory.hit(%L); RETURN%s; END', r.proname,
						   CASE WHEN r.proretset OR r.has_out OR r.prorettype = 'void'::regtype THEN '' ELSE ' NULL' END));
			ELSE
				-- an aggregate; window functions too (an aggregate can be called with OVER)
				stype := format_type(r.prorettype, NULL);
				EXECUTE format('CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L', s, 'step_' || r.oid,
					concat_ws(', ', stype, NULLIF(args, '')), stype,
					format('BEGIN PERFORM regress_mallory.hit(%L); RETURN $1; END', r.proname));
				EXECUTE format('CREATE AGGREGATE %I.%I(%s) (SFUNC = %I.%I, STYPE = %s)', s, r.proname,
					COALESCE(NULLIF(args, ''), '*'), s, 'step_' || r.oid, stype);
			END IF;
		EXCEPTION WHEN OTHERS THEN
			made := false;
			error := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
	FOR r IN SELECT o.oid, o.oprname::text AS oprname, o.oprleft, o.oprright, o.oprresult
			   FROM pg_operator o
			  WHERE o.oprnamespace = 'pg_catalog'::regnamespace
				AND o.oprname IN (SELECT m[1] FROM loginas_bodies b,
										 regexp_matches(b.prosrc, 'OPERATOR\(pg_catalog\.([^)]+)\)', 'g') m
								  UNION ALL VALUES ('='), ('<>'))
			  ORDER BY o.oid
	LOOP
		kind := 'operator'; name := r.oprname; made := true; error := NULL;
		BEGIN
			EXECUTE format('CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L', s, 'op_' || r.oid,
				concat_ws(', ', CASE WHEN r.oprleft <> 0 THEN format_type(r.oprleft, NULL) END, format_type(r.oprright, NULL)),
				format_type(r.oprresult, NULL),
				format('BEGIN PERFORM regress_mallory.hit(%L); RETURN NULL; END', 'operator ' || r.oid::regoperator::text));
			EXECUTE format('CREATE OPERATOR %I.%s (%s RIGHTARG = %s, FUNCTION = %I.%I)', s, r.oprname,
				CASE WHEN r.oprleft <> 0 THEN format('LEFTARG = %s,', format_type(r.oprleft, NULL)) ELSE '' END,
				format_type(r.oprright, NULL), s, 'op_' || r.oid);
		EXCEPTION WHEN OTHERS THEN
			made := false;
			error := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
	FOR r IN SELECT t.typname::text AS typname
			   FROM pg_type t
			  WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype = 'b' AND t.typcategory <> 'A'
				AND t.typname IN (SELECT lower(m[1]) FROM loginas_bodies b, regexp_matches(b.prosrc, '([A-Za-z_]\w*)', 'g') m)
			  ORDER BY 1
	LOOP
		kind := 'type'; name := r.typname; made := true; error := NULL;
		BEGIN
			EXECUTE format('CREATE DOMAIN %I.%I AS pg_catalog.%I CHECK (regress_mallory.hit(%L))', s, r.typname,
						   r.typname, 'type ' || r.typname);
		EXCEPTION WHEN OTHERS THEN
			made := false;
			error := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
	FOR r IN SELECT c.relname::text AS relname,
					string_agg(format('NULL::%s AS %I', format_type(a.atttypid, a.atttypmod), a.attname), ', '
							   ORDER BY a.attnum) AS cols
			   FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			  WHERE c.relnamespace = 'loginas'::regnamespace AND c.relkind IN ('r', 'p', 'v')
			  GROUP BY c.relname ORDER BY 1
	LOOP
		kind := 'relation'; name := r.relname; made := true; error := NULL;
		BEGIN
			EXECUTE format('CREATE VIEW %I.%I AS SELECT %s WHERE regress_mallory.hit(%L)', s, r.relname, r.cols,
						   'relation ' || r.relname);
			EXECUTE format('GRANT SELECT ON %I.%I TO PUBLIC', s, r.relname);
		EXCEPTION WHEN OTHERS THEN
			made := false;
			error := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
END
$gen$;
GRANT EXECUTE ON FUNCTION regress_mallory.shadow(text) TO PUBLIC;
CREATE TEMP TABLE shadows AS SELECT 'public' AS schema, * FROM regress_mallory.shadow('public');
INSERT INTO shadows SELECT 'regress_mallory', * FROM regress_mallory.shadow('regress_mallory');
RESET ROLE;
-- every kind found something to shadow, in both schemas (the counts are not
-- printed: they change with the extension's code; and count(DISTINCT name)
-- would be the attacker's count(text) by now)
SELECT schema, kind, count(*) > 0 AS names_found, bool_or(made) AS shadowed
  FROM shadows GROUP BY 1, 2 ORDER BY 1, 2;
-- and every name found has at least one working trap
SELECT schema, kind, name AS not_shadowed, min(error) AS error FROM shadows GROUP BY 1, 2, 3 HAVING NOT bool_or(made) ORDER BY 1, 2, 3;
-- some of the usual suspects are among them (COALESCE, NULLIF, GREATEST are
-- syntax, not functions; NULLIF, IN and CASE use the shadowed "=")
SELECT s.name, bool_or(s.made) FILTER (WHERE s.schema = 'public') AS public,
       bool_or(s.made) FILTER (WHERE s.schema = 'regress_mallory') AS regress_mallory
  FROM shadows s
 WHERE s.name IN ('format', 'now', 'sha256', 'jsonb_build_object', 'count', 'lower', 'btrim', 'lag',
                  '=', '->>', '||', 'text', 'jsonb', 'session', 'consent', 'action_log')
 GROUP BY s.name ORDER BY s.name COLLATE "C";

-- The traps are live: with pg_catalog first (implicitly), format() and
-- jsonb_build_object() of text arguments already pick the attacker's
-- VARIADIC text[] over pg_catalog's VARIADIC "any"
SET ROLE sec_backend;
SET search_path = public, "$user";
SELECT format('%s', 'x'::text) AS format, jsonb_build_object('k', 'v'::text) AS jsonb_build_object;
-- with the attacker's schema first and pg_catalog after it, nearly everything
SET search_path = regress_mallory, public, pg_catalog;
SELECT now() AS now, 1::int8 = 1::int8 AS "=", 'x'::text AS text;
RESET search_path;
RESET ROLE;
SELECT what, ran_as, count(*) FROM regress_mallory.hits GROUP BY 1, 2 ORDER BY what COLLATE "C", ran_as;
TRUNCATE regress_mallory.hits;

-- flow(): the whole API as the shop uses it, in one transaction, as the
-- DBA, the admin backend, the storefront and reporting -- every SECURITY
-- DEFINER function of loginas, the tracking trigger (its set-up query and the
-- parent lookup of a child row), a few refusals, and, at commit, the write
-- log.  No search_path of its own: whatever the caller's is, it runs under it.
-- Its last lines name any SECURITY DEFINER function it did not call (there
-- must be none: add new ones here).
CREATE FUNCTION sec_test.flow() RETURNS SETOF pg_catalog.text
	LANGUAGE plpgsql AS $flow$
DECLARE
	tok pg_catalog.text;
	tok2 pg_catalog.text;
	k pg_catalog.text;
	v pg_catalog.text;
	bk record;
	sid pg_catalog.int8;
BEGIN
	-- the DBA tracks the shop's cart
	PERFORM loginas.track('sec.cart', 'customer_id'::pg_catalog.name);
	PERFORM loginas.track('sec.cart_item', 'sec.cart'::pg_catalog.regclass);
	-- the same way to the customer, as a path of track_through()
	PERFORM loginas.track_through('sec.cart_item', ARRAY['sec.cart'::pg_catalog.regclass]);
	PERFORM loginas.protect('sec.cart', 'coupon');
	-- the write log's values: a sensitive column, a table whose values are
	-- logged again after a while
	PERFORM loginas.redact('sec.cart_item', 'sku');
	PERFORM loginas.log_values('sec.cart', false);
	PERFORM loginas.log_values('sec.cart', true);
	-- the admin backend sets up
	SET LOCAL ROLE sec_backend;
	RETURN NEXT pg_catalog.concat('configure: ', loginas.configure('enabled', 'on', 1),
								  ' ', loginas.configure('require_reason', 'on', 1));
	RETURN NEXT pg_catalog.concat('unbind: ', loginas.unbind('orders', 1));
	PERFORM loginas.bind('orders', 'shop.loginas_orders', 1);
	-- the customer's view: what the cart's changes are called; the live
	-- events on (every step below sends its event)
	RETURN NEXT pg_catalog.concat('describe: ', loginas.describe('sec.cart_item', 'changed your cart', NULL, 1), ' / ',
								  loginas.describe('sec.cart', 'updated {n} carts', 'update', '1'), ' / ',
								  loginas.configure('notify_channel', 'sec_events', 1));
	RETURN NEXT pg_catalog.concat('grant: ', loginas.grant('Administrators', 'login', 1), ' ',
								  loginas.grant('Administrators', 'manage_assistance', 1), ' ',
								  loginas.grant('Support', 'login', 1));
	RETURN NEXT pg_catalog.concat('permitted: ', loginas.permitted(1, 'login'), ' ', loginas.permitted(4, 'login'));
	RETURN NEXT pg_catalog.concat('set_assistance by admin: ', loginas.set_assistance(2, true, NULL, 1));
	RETURN NEXT pg_catalog.concat('assistance_allowed: ', loginas.assistance_allowed(2));
	-- the customer ticks the box on the storefront
	SET LOCAL ROLE sec_web;
	RETURN NEXT pg_catalog.concat('set_assistance by customer: ', loginas.set_assistance(1, true));
	-- the admin backend begins
	SET LOCAL ROLE sec_backend;
	SELECT pg_catalog.concat_ws(' ', c.allowed, c.reason) INTO v FROM loginas.check(1, 1) c;
	RETURN NEXT pg_catalog.concat('check: ', v);
	SELECT pg_catalog.string_agg(pg_catalog.concat(c.store_id, ':', c.selectable), ' ' ORDER BY c.store_id)
	  INTO v FROM loginas.store_choices(1, 1) c;
	RETURN NEXT pg_catalog.concat('store_choices: ', v);
	SELECT t.token INTO tok FROM loginas.begin(1, 1, reason => 'call 1') t;
	SELECT t.token INTO tok2 FROM loginas.begin_from(2, 'order', 102, reason => 'call 2') t;
	RETURN NEXT pg_catalog.concat('tickets: ', pg_catalog.length(tok), ' ', pg_catalog.length(tok2));
	BEGIN
		PERFORM loginas.begin(4, 1, reason => 'call 3');
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('begin as max: ', SQLSTATE, ' ', pg_catalog.regexp_replace(SQLERRM, 'session \d+', 'session N'));
	END;
	-- the storefront redeems and acts for Veronica
	SET LOCAL ROLE sec_web;
	SELECT r.session_key, r.session_id INTO k, sid FROM loginas.redeem(tok) r;
	BEGIN
		PERFORM loginas.redeem(tok);
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('redeem again: ', SQLSTATE, ' ', pg_catalog.regexp_replace(SQLERRM, 'session \d+', 'session N'));
	END;
	PERFORM loginas.assume(k);
	RETURN NEXT pg_catalog.concat('assumed: customer ', loginas.current_customer(), ', ', loginas.banner());
	UPDATE sec.cart_item SET qty = 2 WHERE item_id OPERATOR(pg_catalog.=) 10;
	INSERT INTO sec.cart_item (item_id, cart_id, sku, qty) VALUES (11, 1, 'CAP', 1);
	BEGIN
		UPDATE sec.cart_item SET qty = 9 WHERE item_id OPERATOR(pg_catalog.=) 20;
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('write John''s item: ', SQLSTATE, ' ', pg_catalog.regexp_replace(SQLERRM, 'session \d+', 'session N'));
	END;
	BEGIN
		UPDATE sec.cart SET coupon = 'FREE' WHERE cart_id OPERATOR(pg_catalog.=) 1;
		PERFORM loginas.check_writes();
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('protected column: ', SQLSTATE, ' ', pg_catalog.regexp_replace(SQLERRM, 'session \d+', 'session N'));
	END;
	PERFORM loginas.note('Changed the cart', '{"items": 2}');
	RETURN NEXT pg_catalog.concat('end: ', loginas."end"(k));
	-- the customer's own view, on the storefront (outside the session)
	SELECT pg_catalog.concat('my_assistance_history: ', h.administrator, ', ', h.changes, ', ',
							 (SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.my_assistance_history('1')))
	  INTO v FROM loginas.my_assistance_history(1) h LIMIT 1;
	RETURN NEXT v;
	-- the admin backend reverts the session (in the session's own
	-- transaction: refused, its writes are logged at commit)
	SET LOCAL ROLE sec_backend;
	PERFORM loginas.grant('Administrators', 'revert', 1);
	BEGIN
		PERFORM loginas.revert(sid, 1, dry_run => true);
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('revert: ', SQLSTATE, ' ', pg_catalog.regexp_replace(SQLERRM, 'session \d+', 'session N'));
	END;
	BEGIN
		PERFORM loginas.revert(sid, '1', 'undo the cart');
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('revert (text): ', SQLSTATE, ' ', pg_catalog.regexp_replace(SQLERRM, 'session \d+', 'session N'));
	END;
	PERFORM loginas.revoke('Administrators', 'revert', 1);
	-- the text overloads (customers of any key type): the integer customers
	-- by their keys as text, then customers keyed by text and by uuid, each
	-- bound by the admin backend in turn; consent by the customer and by an
	-- admin, check, store choices, a ticket redeemed, assumed and ended, the
	-- history (reporting; and an admin with "view_log")
	SET LOCAL ROLE sec_backend;
	PERFORM loginas.grant('Administrators', 'view_log', 1);
	FOR bk IN SELECT b.rel, b.key1, b.key2
			   FROM (VALUES ('shop.loginas_customers', '1', '2'),
							('sec.text_customers', 'cus_1', E'cus\n2'),
							('sec.uuid_customers', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{b1ffcd00-0d1c-4f09-8c7e-7cc0ce491b22}'))
					b(rel, key1, key2)
	LOOP
		SET LOCAL ROLE sec_backend;
		PERFORM loginas.bind('customers', bk.rel::pg_catalog.regclass, 1);
		SET LOCAL ROLE sec_web;
		v := pg_catalog.concat('consent: ', loginas.set_assistance(bk.key1, true));
		SET LOCAL ROLE sec_backend;
		v := pg_catalog.concat(v, ' ', loginas.set_assistance(bk.key2, true, NULL, 1));
		v := pg_catalog.concat(v, ' ', loginas.assistance_allowed(bk.key2));
		SELECT pg_catalog.concat(v, ', check: ', c.allowed) INTO v FROM loginas.check(1, bk.key1) c;
		-- (every key as text: the admin's too)
		SELECT pg_catalog.concat(v, ' ', c.allowed) INTO v FROM loginas.check('1', bk.key1) c;
		SELECT pg_catalog.concat(v, ', store_choices: ', pg_catalog.count(*)) INTO v FROM loginas.store_choices(1, bk.key1) c;
		IF bk.rel OPERATOR(pg_catalog.=) 'sec.text_customers' THEN
			SELECT t.token INTO tok FROM loginas.begin('1', bk.key1, reason => 'call 4') t;
		ELSE
			SELECT t.token INTO tok FROM loginas.begin(1, bk.key1, reason => 'call 4') t;
		END IF;
		RETURN NEXT pg_catalog.concat(bk.rel, ': ', v);
		SET LOCAL ROLE sec_web;
		SELECT pg_catalog.concat('redeemed: ', s.customer_key), s.session_key INTO v, k FROM loginas.redeem(tok) s;
		PERFORM loginas.assume(k);
		v := pg_catalog.concat(v, ', assumed: key ', loginas.current_customer_key(),
							   ' id ', COALESCE(loginas.current_customer()::pg_catalog.text, '-'), ', ', loginas.banner(),
							   ', end: ', loginas."end"(k));
		RETURN NEXT pg_catalog.concat(bk.rel, ': ', v);
		SET LOCAL ROLE sec_report;
		SELECT pg_catalog.concat('history: ', pg_catalog.count(*) OPERATOR(pg_catalog.>) 0) INTO v
		  FROM loginas.customer_history(bk.key1);
		SET LOCAL ROLE sec_backend;
		BEGIN
			SELECT pg_catalog.concat(v, ' ', pg_catalog.count(*) OPERATOR(pg_catalog.>) 0) INTO v
			  FROM loginas.customer_history(bk.key1, viewer_admin => 1);
		EXCEPTION WHEN OTHERS THEN
			v := pg_catalog.concat(v, ' ', SQLSTATE);
		END;
		RETURN NEXT pg_catalog.concat(bk.rel, ': ', v);
	END LOOP;
	PERFORM loginas.bind('customers', 'shop.loginas_customers', 1);
	PERFORM loginas.revoke('Administrators', 'view_log', 1);
	-- the admin backend cleans up
	SET LOCAL ROLE sec_backend;
	RETURN NEXT pg_catalog.concat('end_admin: ', loginas.end_admin(2), ' expire: ', loginas.expire());
	BEGIN
		PERFORM loginas.purge_log('-infinity', 1);
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('purge_log as the admin backend: ', SQLSTATE, ' ', SQLERRM);
	END;
	-- the auditor purges, and sets the retention
	SET LOCAL ROLE sec_audit;
	RETURN NEXT pg_catalog.concat('purge_log: ', loginas.purge_log('-infinity', 1));
	RETURN NEXT pg_catalog.concat('set_log_retention: ', loginas.set_log_retention('90 days'));
	SELECT pg_catalog.concat(l.intact, ' ', l.problem) INTO v
	  FROM loginas.verify_log((SELECT pg_catalog.jsonb_agg(h) FROM loginas.log_heads() h)) l;
	RETURN NEXT pg_catalog.concat('verify_log(saved heads): ', v);
	SET LOCAL ROLE sec_backend;
	PERFORM loginas.set_assistance(2, false, NULL, 1);
	PERFORM loginas.revoke('Support', 'login', 1);
	PERFORM loginas.revoke('Administrators', 'manage_assistance', 1);
	PERFORM loginas.revoke('Administrators', 'login', 1);
	PERFORM loginas.configure('require_reason', 'off', 1);
	PERFORM loginas.configure('enabled', 'off', 1);
	PERFORM loginas.configure('notify_channel', '', 1);
	PERFORM loginas.describe('sec.cart_item', NULL, NULL, 1);
	PERFORM loginas.describe('sec.cart', NULL, 'update', '1');
	-- a refusal's event, as the refusal log's worker sends it after writing
	-- the refusal's row (the DBA's rights: as the worker)
	RESET ROLE;
	PERFORM loginas.configure('notify_channel', 'sec_events');
	RETURN NEXT pg_catalog.concat('refusal event: ', loginas._notify_refusal(loginas._log_refusal(
		pg_catalog.clock_timestamp(), 'redeem', '28000', 'm', NULL, NULL, 1, NULL, NULL, 'sec_web')));
	PERFORM loginas.configure('notify_channel', '');
	-- reporting
	SET LOCAL ROLE sec_report;
	SELECT pg_catalog.concat(l.intact, ' ', l.problem) INTO v FROM loginas.verify_log() l;
	RETURN NEXT pg_catalog.concat('verify_log: ', v);
	RETURN NEXT pg_catalog.concat('log_heads: ', (SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.log_heads()));
	RETURN NEXT pg_catalog.concat('reports: ',
		(SELECT pg_catalog.count(*) FROM loginas.actions_report(page_size => 3)), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.customer_history(1)), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.admin_activity(1)), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.admin_activity('1')), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.sessions));
	-- the admin backend shows them to an admin with "view_log"
	RESET ROLE;
	PERFORM loginas.grant('Administrators', 'view_log', 1);
	SET LOCAL ROLE sec_backend;
	BEGIN
		PERFORM loginas.actions_report(page_size => 3);
	EXCEPTION WHEN OTHERS THEN
		RETURN NEXT pg_catalog.concat('report without viewer_admin: ', SQLSTATE, ' ', SQLERRM);
	END;
	RETURN NEXT pg_catalog.concat('reports for ada: ',
		(SELECT pg_catalog.count(*) FROM loginas.actions_report(viewer_admin => 1, page_size => 3)), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.customer_history(1, viewer_admin => 1)), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.admin_activity(1, viewer_admin => 1)), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.admin_activity('1', viewer_admin => 1)));
	-- the viewer given as text (the text forms of the _as_admin reports)
	RETURN NEXT pg_catalog.concat('reports for ada by key: ',
		(SELECT pg_catalog.count(*) FROM loginas.actions_report_as_admin('1', page_size => 3, admin_key => '1')), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.customer_history_as_admin('1', '1')), ' ',
		(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM loginas.admin_activity_as_admin('1', '1')));
	PERFORM loginas.revoke('Administrators', 'view_log', 1);
	-- the shop drops a table of its own (loginas' event trigger looks at it)
	SET LOCAL ROLE sec_shop;
	CREATE TABLE sec.dropped (id int);
	DROP TABLE sec.dropped;
	-- the DBA puts the cart back and stops tracking
	RESET ROLE;
	DELETE FROM sec.cart_item WHERE item_id OPERATOR(pg_catalog.=) 11;
	UPDATE sec.cart_item SET qty = 1 WHERE item_id OPERATOR(pg_catalog.=) 10;
	PERFORM loginas.unprotect('sec.cart', 'coupon');
	PERFORM loginas.unredact('sec.cart_item', 'sku');
	PERFORM loginas.untrack('sec.cart_item');
	PERFORM loginas.untrack('sec.cart');
	-- coverage (needs track_functions = all)
	RETURN QUERY
	SELECT pg_catalog.concat('not called: ', p.oid::pg_catalog.regprocedure)
	  FROM pg_catalog.pg_proc p
	 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'loginas'::pg_catalog.regnamespace
	   AND (p.prosecdef OR p.proname OPERATOR(pg_catalog.=) '_track_row')
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_xact_user_functions f
					   WHERE f.funcid OPERATOR(pg_catalog.=) p.oid)
	 ORDER BY 1;
END
$flow$;
SELECT max(log_id) AS log0 FROM loginas.action_log \gset

-- Run 1: search_path = public, "$user" (pg_catalog implicitly first), in a
-- fresh backend, so that every loginas function is compiled and planned here
\c
SET track_functions = 'all';
SET search_path = public, "$user";
BEGIN;
SELECT * FROM sec_test.flow();
COMMIT;
RESET search_path;
SELECT what, ran_as FROM regress_mallory.hits;

-- Run 2: the attacker's schema first, pg_catalog after public
\c
SET track_functions = 'all';
SET search_path = regress_mallory, public, pg_catalog;
BEGIN;
SELECT * FROM sec_test.flow();
COMMIT;
RESET search_path;
SELECT what, ran_as FROM regress_mallory.hits;

-- Run 3: pg_temp first, holding the caller's own traps (relations and types
-- are looked up in pg_temp; functions and operators never are)
\c
SET ROLE sec_web;
SELECT bool_or(made) AS traps_in_pg_temp FROM regress_mallory.shadow('pg_temp') WHERE kind IN ('relation', 'type');
RESET ROLE;
SET track_functions = 'all';
SET search_path = pg_temp, regress_mallory, public, pg_catalog;
-- (the traps are live: the unqualified name is the caller's view)
SELECT customer_id FROM consent;
SELECT 'x'::text AS text;
RESET search_path;
SELECT what, ran_as FROM regress_mallory.hits;
TRUNCATE regress_mallory.hits;
SET search_path = pg_temp, regress_mallory, public, pg_catalog;
BEGIN;
SELECT * FROM sec_test.flow();
COMMIT;
RESET search_path;
SELECT what, ran_as FROM regress_mallory.hits;
\c

-- The three runs did what the flow does without any trap: its writes were
-- logged once per run, attributed to ada acting for Veronica
SELECT action, count(*) AS runs, min(admin_username) AS admin, min(customer_email) AS customer,
       min(details ->> 'keys') AS keys
  FROM loginas.action_log WHERE log_id > :log0 AND action LIKE 'write%'
 GROUP BY action ORDER BY action;
SELECT * FROM loginas.verify_log();
-- the attacker and every trap go
DROP OWNED BY regress_mallory;
DROP ROLE regress_mallory;
SELECT count(*) AS traps_left FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'op\_%';
-- (a fresh backend: load the library, as the other suites do)
SELECT loginas.current_session() IS NULL AS no_context;

-------------------------------------------------------------------------------
-- 2. Forged contexts: the context is C memory set by loginas.assume() alone
-------------------------------------------------------------------------------
-- every name a forger might guess, SET, SET LOCAL in a transaction, set_config
SET ROLE sec_web;
SELECT n, sec_test.try(format('SET loginas.%s = %L', n, '1')) AS "SET",
       sec_test.try(format('SELECT set_config(%L, %L, false)', 'loginas.' || n, '1')) AS set_config
  FROM unnest(ARRAY['session_id', 'current_session', 'admin_id', 'customer_id', 'customer_key', 'store_id', 'read_only', 'context']) AS n;
BEGIN;
SET LOCAL loginas.session_id = '1';
ROLLBACK;
BEGIN;
SELECT sec_test.try($$SET LOCAL loginas.customer_id = '1'$$) AS "SET LOCAL",
       sec_test.try($$SELECT set_config('loginas.session_id', '1', true)$$) AS set_config;
-- nothing in the transaction acts in a session: no context, no note, no stamp
SELECT loginas.current_session(), loginas.current_customer(), loginas.in_session();
SELECT loginas.note('forged');
ROLLBACK;
BEGIN;
SELECT sec_test.try($$SELECT set_config('loginas.session_id', '1', true)$$) AS set_config;
UPDATE sec.cart_item SET qty = 3 WHERE item_id = 20;
SELECT item_id, loginas_changed_session FROM sec.cart_item WHERE item_id = 20;
ROLLBACK;
RESET ROLE;
-- nor ALTER ROLE / ALTER DATABASE ... SET
ALTER ROLE sec_web SET loginas.session_id = '1';
ALTER DATABASE contrib_regression SET loginas.session_id = '1';
-- A backend that has not loaded the library accepts a loginas.* placeholder
-- (PostgreSQL's behaviour for any unknown prefix; documented, B-priv-3); the
-- first loginas call removes it, and it never was a context
\c -reuse-previous=on "options=-cloginas.session_id=7"
SHOW loginas.session_id;
SELECT loginas.current_session(), loginas.in_session();
SHOW loginas.session_id;
SET loginas.session_id = '7';
\c -reuse-previous=on "options="
SHOW loginas.session_id;
SELECT loginas.current_session() IS NULL AS no_context;

-------------------------------------------------------------------------------
-- 3. The C trigger functions and the internals
-------------------------------------------------------------------------------
-- PostgreSQL lets a superuser call a C function returning trigger; each one
-- checks that it runs as the trigger it was made for
SELECT * FROM sec_test.refusal('SELECT loginas._track_row()');
SELECT * FROM sec_test.refusal('SELECT loginas._track_truncate()');
SELECT * FROM sec_test.refusal('SELECT loginas._log_guard()');
-- nor can a table owner put them on a table of theirs: no USAGE on loginas,
-- and with it (a role of the storefront) no EXECUTE, or, for the row trigger
-- function (which PUBLIC may execute: a tracked table's owner adds
-- partitions), the guard refuses the trigger
SET ROLE sec_shop;
CREATE TABLE sec.mine (id int PRIMARY KEY);
INSERT INTO sec.mine VALUES (1);
SELECT * FROM sec_test.refusal('CREATE TRIGGER t BEFORE UPDATE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._track_row()');
RESET ROLE;
GRANT loginas_storefront TO sec_shop;
SET ROLE sec_shop;
SELECT n, r.*
  FROM (VALUES (1, 'CREATE TRIGGER t BEFORE UPDATE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._track_row()'),
               (2, 'CREATE TRIGGER t BEFORE TRUNCATE ON sec.mine EXECUTE FUNCTION loginas._track_truncate()'),
               (3, 'CREATE TRIGGER t BEFORE DELETE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._log_guard()')) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
RESET ROLE;
REVOKE loginas_storefront FROM sec_shop;
-- installed by a superuser as the wrong kind of trigger, or on a table
-- loginas.track() never saw, they refuse to run
BEGIN;
CREATE TRIGGER t AFTER UPDATE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
SELECT * FROM sec_test.refusal('UPDATE sec.mine SET id = 1');
ROLLBACK;
BEGIN;
CREATE TRIGGER t BEFORE UPDATE ON sec.mine FOR EACH STATEMENT EXECUTE FUNCTION loginas._track_row();
SELECT * FROM sec_test.refusal('UPDATE sec.mine SET id = 1');
ROLLBACK;
BEGIN;
CREATE TRIGGER t BEFORE DELETE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._track_truncate();
SELECT * FROM sec_test.refusal('DELETE FROM sec.mine');
ROLLBACK;
BEGIN;
CREATE TRIGGER t BEFORE UPDATE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
SELECT * FROM sec_test.refusal('UPDATE sec.mine SET id = 1');
ROLLBACK;
BEGIN;
CREATE TRIGGER zz_loginas_track_update BEFORE UPDATE ON sec.mine FOR EACH ROW EXECUTE FUNCTION loginas._track_row();
ALTER TABLE sec.mine ENABLE ALWAYS TRIGGER zz_loginas_track_update;
SELECT * FROM sec_test.refusal('UPDATE sec.mine SET id = 1');
ROLLBACK;
DROP TABLE sec.mine;

-- The owner-only internals refuse even a role granted EXECUTE by mistake
-- (the second lock, in C); the grant is rolled back
CREATE TEMP TABLE internals (n int, stmt text);
INSERT INTO internals VALUES
	(1, $$SELECT loginas._context_set(1, 1, 1, 1, false, 'forged', NULL, NULL, NULL, NULL, NULL, '1', '1', '1')$$),
	(2, $$SELECT loginas._context_clear_session(1)$$),
	(3, $$SELECT loginas._read_bound('SELECT NULL::jsonb', 1, 'pg_class')$$),
	(4, $$SELECT loginas._lookup('customers', 1, false)$$),
	(5, $$SELECT * FROM loginas._chain_append(1, 'forged', 'loginas.action_log'::regclass)$$),
	(6, $$SELECT loginas._allow_purge(true)$$),
	(7, $$SELECT loginas._queue_refusal('begin', '42501', 'forged', NULL, 1, 1, 1)$$),
	(8, $$SELECT loginas._append(now(), 'note', 'success', 1, 'forged', 1, NULL, NULL, NULL, NULL, NULL, NULL, 'x', '{}')$$),
	(9, $$SELECT loginas._log('note', 'success', 1, 1)$$),
	(10, $$SELECT loginas._log_refused('begin', 'forged', NULL, 1, 1, 1)$$),
	(11, $$SELECT loginas._lookup('customers', 'cus_1'::text, false)$$);
GRANT SELECT ON internals TO sec_web;
BEGIN;
GRANT USAGE ON SCHEMA loginas TO sec_web;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA loginas TO sec_web;
SET ROLE sec_web;
SELECT n, stmt, r.state, r.message FROM internals, sec_test.refusal(stmt) r ORDER BY n;
SELECT loginas.current_session() IS NULL AS no_context;
RESET ROLE;
ROLLBACK;
-- (the grant rolled back: none is left but the row trigger function, which
-- every role may execute so that a tracked table's owner can add partitions,
-- and no SQL can call)
SELECT proname AS executable_internals FROM pg_proc
 WHERE pronamespace = 'loginas'::regnamespace AND proname LIKE '\_%' AND has_function_privilege('sec_web', oid, 'EXECUTE');

-------------------------------------------------------------------------------
-- 4. Role boundaries (beyond sql/privileges.sql and sql/reports.sql)
-------------------------------------------------------------------------------
SELECT loginas.configure('enabled', 'on');
SELECT loginas.grant('Administrators', 'login');
SELECT loginas.grant('Administrators', 'manage_assistance');
SELECT loginas.grant('Marketing', 'view_log');
SELECT loginas.grant('Marketing', 'manage_assistance');
-- the storefront cannot verify, read the heads of, or purge the log, nor
-- track, nor read the sessions, nor use the reports
SET ROLE sec_web;
SELECT n, r.state, r.message
  FROM (VALUES (1, $$SELECT * FROM loginas.verify_log()$$),
               (2, $$SELECT * FROM loginas.log_heads()$$),
               (3, $$SELECT loginas.purge_log(now())$$),
               (4, $$SELECT loginas.track('sec.cart', 'customer_id'::name)$$),
               (5, $$SELECT * FROM loginas.session$$),
               (6, $$SELECT * FROM loginas.sessions$$),
               (7, $$SELECT * FROM loginas.actions_report(viewer_admin => 4)$$),
               (8, $$SELECT * FROM loginas.customer_history(2, viewer_admin => 4)$$)) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
RESET ROLE;
-- the admin backend cannot purge the log nor change how long it is kept:
-- that is the auditor's (loginas_auditor)
SET ROLE sec_backend;
SELECT n, r.state, r.message, r.detail, r.hint
  FROM (VALUES (1, $$SELECT loginas.purge_log(now() - interval '1 year')$$),
               (2, $$SELECT loginas.purge_log(clock_timestamp() - interval '1 millisecond')$$),
               (3, $$SELECT loginas.set_log_retention('1 day')$$),
               (4, $$SELECT loginas.configure('log_retention', '1 day')$$),
               (5, $$SELECT loginas._allow_purge(true)$$)) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
RESET ROLE;
-- the admin backend reads the reports only for an admin whose role has
-- "view_log" -- spelled exactly (max: Marketing has it; "marketing" is not
-- Marketing)
UPDATE shop.admin SET role = 'marketing' WHERE admin_id = 4;
SET ROLE sec_backend;
SELECT * FROM sec_test.refusal('SELECT * FROM loginas.customer_history(2, viewer_admin => 4)');
RESET ROLE;
UPDATE shop.admin SET role = 'Marketing' WHERE admin_id = 4;
SET ROLE sec_backend;
SELECT count(*) >= 0 AS max_may FROM loginas.customer_history(2, viewer_admin => 4);
RESET ROLE;
SELECT action, admin_username, customer_id, details ->> 'report' AS report
  FROM loginas.action_log WHERE log_id = (SELECT max(log_id) FROM loginas.action_log);

-- An admin without "login" cannot begin, whatever else the role has
-- (Marketing: view_log, manage_assistance); role names are exact
SET ROLE sec_web;
SELECT loginas.set_assistance(1, true);
RESET ROLE;
SELECT loginas.grant('marketing', 'login');
SELECT loginas.grant('Marketing ', 'login');
SET ROLE sec_backend;
SELECT * FROM loginas.check(4, 1);
SELECT * FROM sec_test.refusal('SELECT * FROM loginas.begin(4, 1)');
SELECT * FROM sec_test.refusal($$SELECT * FROM loginas.begin_from(4, 'order', 100)$$);
-- nor an inactive admin of a role with "login" (old, Administrators)
SELECT * FROM sec_test.refusal('SELECT * FROM loginas.begin(3, 1)');
RESET ROLE;
SELECT loginas.revoke('marketing', 'login');
SELECT loginas.revoke('Marketing ', 'login');
SELECT count(*) AS tickets_of_max_and_old FROM loginas.session WHERE admin_id IN (3, 4) AND ended_at IS NULL;

-- Consent on the customer's behalf needs an active admin with
-- manage_assistance: not sam (Support), not old (inactive), not an unknown
-- admin, not no admin at all
SET ROLE sec_backend;
SELECT * FROM sec_test.refusal('SELECT loginas.set_assistance(2, true, by_admin => 2)');
SELECT * FROM sec_test.refusal('SELECT loginas.set_assistance(2, true, by_admin => 3)');
SELECT * FROM sec_test.refusal('SELECT loginas.set_assistance(2, true, by_admin => 99)');
SELECT sec_test.try('SELECT loginas.set_assistance_as_admin(2, true, NULL, NULL)') AS no_admin;
SELECT loginas.assistance_allowed(2);
-- max (Marketing) has it and can, both ways
SELECT loginas.set_assistance(2, true, by_admin => 4);
SELECT loginas.set_assistance(2, false, by_admin => 4);
RESET ROLE;

-------------------------------------------------------------------------------
-- 5. The action log: append-only for its owner too; what the owner can still
-- insert, or delete by abusing the purge window, verify_log() finds
-- (sql/log.sql: plain UPDATE, DELETE, TRUNCATE, session_replication_role =
-- replica, tampering with the triggers disabled)
-------------------------------------------------------------------------------
SELECT max(log_id) AS last FROM loginas.action_log \gset
-- as the owner (a superuser): a writable CTE, MERGE, an upsert
SELECT n, r.*
  FROM (VALUES (1, format('WITH d AS (DELETE FROM loginas.action_log WHERE log_id = %s RETURNING 1) SELECT count(*) FROM d', :last)),
               (2, format($$WITH u AS (UPDATE loginas.action_log SET reason = 'edited' WHERE log_id = %s RETURNING 1) SELECT count(*) FROM u$$, :last)),
               (3, format('MERGE INTO loginas.action_log l USING (VALUES (%s::bigint)) v(id) ON l.log_id = v.id WHEN MATCHED THEN DELETE', :last)),
               (4, format('MERGE INTO loginas.action_log l USING (VALUES (%s::bigint)) v(id) ON l.log_id = v.id WHEN MATCHED THEN UPDATE SET admin_id = 99', :last)),
               (5, format($$INSERT INTO loginas.action_log (log_id, action, result, chain_id, chain_seq, prev_hash, row_hash) VALUES (%s, 'forged', 'success', 0, 0, '', '') ON CONFLICT (log_id) DO UPDATE SET action = 'forged'$$, :last))) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
-- COPY FROM is an INSERT, which the owner may do: the forged row belongs to no
-- chain, and verify_log() says so (rolled back)
BEGIN;
COPY loginas.action_log (log_id, action, result, admin_id, customer_id, chain_id, chain_seq, prev_hash, row_hash) FROM stdin;
9000001	ticket_issued	success	1	2	999999	1	\\x00	\\x00
\.
SELECT intact, log_id = 9000001 AS the_forged_row, problem FROM loginas.verify_log();
ROLLBACK;
-- a superuser who opens the purge window by hand can delete, but not unseen
BEGIN;
SELECT loginas._allow_purge(true);
DELETE FROM loginas.action_log a
 WHERE a.log_id = (SELECT max(m.log_id) FROM loginas.action_log m
                    WHERE EXISTS (SELECT FROM loginas.action_log n
                                   WHERE n.chain_id = m.chain_id AND n.chain_seq = m.chain_seq + 1));
SELECT intact, problem FROM loginas.verify_log();
ROLLBACK;
-- nobody but the owner can switch the guards off or step around them
SET ROLE sec_report;
SELECT n, r.state, r.message
  FROM (VALUES (1, 'ALTER TABLE loginas.action_log DISABLE TRIGGER action_log_append_only'),
               (2, 'ALTER TABLE loginas.action_log DISABLE TRIGGER ALL'),
               (3, 'DROP TRIGGER action_log_no_truncate ON loginas.action_log'),
               (4, 'SET session_replication_role = replica'),
               (5, 'ALTER TABLE loginas.action_log RENAME TO action_log_old'),
               (6, $$CREATE RULE r AS ON DELETE TO loginas.action_log DO INSTEAD NOTHING$$)) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
RESET ROLE;
SET ROLE sec_backend;
SELECT * FROM sec_test.refusal('ALTER TABLE loginas.action_log DISABLE TRIGGER USER');
RESET ROLE;
SELECT * FROM loginas.verify_log();
SELECT max(log_id) = :last AS nothing_logged_since FROM loginas.action_log;

-------------------------------------------------------------------------------
-- 6. Containment holds whoever's code writes
-------------------------------------------------------------------------------
SELECT loginas.track('sec.cart', 'customer_id'::name);
SELECT loginas.track('sec.cart_item', 'sec.cart'::regclass);
-- the shop's own SECURITY DEFINER function, owned by the tables' owner: the
-- context belongs to the transaction, not to a role
SET ROLE sec_shop;
CREATE FUNCTION sec.set_qty(p_item int, p_qty int) RETURNS int
	LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$ UPDATE sec.cart_item SET qty = p_qty WHERE item_id = p_item RETURNING qty $$;
GRANT EXECUTE ON FUNCTION sec.set_qty(int, int) TO sec_web;
RESET ROLE;
SET ROLE sec_backend;
SELECT token AS t1 FROM loginas.begin(1, 1) \gset
RESET ROLE;
SET ROLE sec_web;
SELECT session_key AS k1 FROM loginas.redeem(:'t1') \gset
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT sec.set_qty(10, 4);
SELECT * FROM sec_test.refusal('SELECT sec.set_qty(20, 4)');
ROLLBACK;
-- and a role that does not own a tracked table cannot switch its triggers off
SELECT * FROM sec_test.refusal('ALTER TABLE sec.cart_item DISABLE TRIGGER zz_loginas_track_update');
SELECT * FROM sec_test.refusal('DROP TRIGGER zz_loginas_track_update ON sec.cart_item');
RESET ROLE;

-- The owner of a tracked table retypes a stamp column (the triggers
-- have no WHEN clause that would pin its type).  A write in a session must be
-- refused like any tracking the table no longer matches -- never a bigint
-- written into a text column (which crashes the server).  The write is tried
-- only once loginas sees the problem, so that this suite fails instead of
-- crashing the server if that defence were gone.
SET ROLE sec_shop;
ALTER TABLE sec.cart_item ALTER COLUMN loginas_changed_session TYPE text;
RESET ROLE;
SELECT (SELECT problem IS NOT NULL FROM loginas._track_info('sec.cart_item'::regclass)) AS seen \gset
\if :seen
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT r.state, r.message FROM sec_test.refusal('UPDATE sec.cart_item SET qty = 5 WHERE item_id = 10') r;
ROLLBACK;
RESET ROLE;
\else
\echo 'retyped stamp column not seen: the write in a session would crash the server; not tried'
\endif
SET ROLE sec_shop;
ALTER TABLE sec.cart_item ALTER COLUMN loginas_changed_session TYPE bigint USING loginas_changed_session::bigint;
RESET ROLE;

-- The owner of a tracked parent table retypes its customer column to
-- a type of their own, with a cast to bigint.  A child row's write in a
-- session looks its customer up through the parent as the extension owner:
-- the owner's cast must not run there (it would run as a superuser).  Both
-- writes are refused as for any tracking the table no longer matches.
SET ROLE sec_shop;
CREATE TABLE sec.cast_runs (ran_as name);
GRANT INSERT ON sec.cast_runs TO PUBLIC;
CREATE TYPE sec.cid AS (v int);
CREATE FUNCTION sec.cid_to_int8(sec.cid) RETURNS int8 LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO sec.cast_runs VALUES (current_user);
	RAISE NOTICE 'the cast of sec.cid ran as %', current_user;
	RETURN ($1).v;
END
$$;
CREATE CAST (sec.cid AS int8) WITH FUNCTION sec.cid_to_int8(sec.cid);
ALTER TABLE sec.cart ALTER COLUMN customer_id TYPE sec.cid USING row(customer_id)::sec.cid;
RESET ROLE;
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k1') IS NOT NULL AS assumed;
SELECT n, r.state, r.message
  FROM (VALUES (1, 'UPDATE sec.cart_item SET qty = 5 WHERE item_id = 10'),
               (2, 'UPDATE sec.cart SET coupon = NULL WHERE cart_id = 1')) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
COMMIT;
RESET ROLE;
SELECT ran_as FROM sec.cast_runs;
SELECT loginas."end"(:'k1');

-------------------------------------------------------------------------------
-- 7. A table owner never gains loginas' rights, nor switches tracking off
-------------------------------------------------------------------------------
-- sec_shop owns a basket (customer column), its lines (children) and the
-- lines' notes (grandchildren).  A child row's customer is looked up through
-- its parents with the extension owner's rights; every column compared there
-- must have a built-in type, or a cast, operator or check of the owner's own
-- would run as a superuser.
SET ROLE sec_shop;
CREATE TABLE sec.basket (basket_id int PRIMARY KEY, customer_id int, coupon text);
CREATE TABLE sec.basket_line (line_id int PRIMARY KEY, basket_id int REFERENCES sec.basket, qty int);
CREATE TABLE sec.line_note (note_id int PRIMARY KEY, line_id int REFERENCES sec.basket_line, body text);
INSERT INTO sec.basket VALUES (1, 1, NULL), (2, 2, NULL);
INSERT INTO sec.basket_line VALUES (10, 1, 1), (20, 2, 1);
INSERT INTO sec.line_note VALUES (100, 10, 'gift'), (200, 20, 'gift');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON sec.basket, sec.basket_line, sec.line_note TO sec_web;
RESET ROLE;
SELECT loginas.track('sec.basket', 'customer_id'::name);
SELECT loginas.track('sec.basket_line', 'sec.basket'::regclass);
SELECT loginas.track('sec.line_note', 'sec.basket_line'::regclass);

-- The owner's trap: a composite type with an implicit cast to integer whose
-- function records who ran it and tries to make its owner a superuser.
SET ROLE sec_shop;
CREATE TABLE sec.trap_runs (ran_as name, became_superuser boolean);
GRANT INSERT ON sec.trap_runs TO PUBLIC;
CREATE TYPE sec.evil AS (v int);
CREATE FUNCTION sec.evil_to_int(sec.evil) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	ok boolean := true;
BEGIN
	BEGIN
		EXECUTE 'ALTER ROLE sec_shop SUPERUSER';
	EXCEPTION WHEN insufficient_privilege THEN
		ok := false;
	END;
	INSERT INTO sec.trap_runs VALUES (current_user, ok);
	RETURN ($1).v;
END
$$;
CREATE CAST (sec.evil AS int) WITH FUNCTION sec.evil_to_int(sec.evil) AS IMPLICIT;
-- the child's foreign key retyped (the foreign key still holds, through the cast)
ALTER TABLE sec.basket_line ALTER COLUMN basket_id TYPE sec.evil USING row(basket_id)::sec.evil;
RESET ROLE;
DELETE FROM sec.trap_runs;		-- the ALTER ran the cast as sec_shop: not the point
SET ROLE sec_backend;
SELECT token AS t7 FROM loginas.begin(1, 1) \gset
RESET ROLE;
SET ROLE sec_web;
SELECT session_key AS k7 FROM loginas.redeem(:'t7') \gset
-- the storefront's ordinary writes in a session: the child (whose foreign key
-- the parent query compares) and the grandchild (whose parent query joins on
-- that column) are refused, naming the column and its type
BEGIN;
SELECT loginas.assume(:'k7') IS NOT NULL AS assumed;
SELECT * FROM sec_test.refusal('UPDATE sec.basket_line SET qty = 2 WHERE line_id = 10');
SELECT * FROM sec_test.refusal($$UPDATE sec.line_note SET body = 'x' WHERE note_id = 100$$);
ROLLBACK;
RESET ROLE;
-- the trap never ran, so nobody became a superuser
SELECT ran_as, became_superuser FROM sec.trap_runs;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_shop';
-- outside a session the table is written as usual (nothing is compared)
SET ROLE sec_web;
UPDATE sec.line_note SET body = 'gift wrap' WHERE note_id = 100;
RESET ROLE;
DELETE FROM sec.trap_runs;
SELECT ran_as FROM sec.trap_runs;
-- and track() refuses such a column up front, for a child and on the chain
SET ROLE sec_shop;
CREATE TABLE sec.wish (wish_id int PRIMARY KEY, line_id int REFERENCES sec.basket_line);
CREATE DOMAIN sec.checked_int AS int CHECK (sec.evil_to_int(row(VALUE)::sec.evil) IS NOT NULL);
CREATE TABLE sec.gift (gift_id int PRIMARY KEY, basket_id sec.checked_int REFERENCES sec.basket);
RESET ROLE;
SELECT * FROM sec_test.refusal($$SELECT loginas.track('sec.gift', 'sec.basket'::regclass)$$);
SELECT * FROM sec_test.refusal($$SELECT loginas.track('sec.wish', 'sec.basket_line'::regclass)$$);
SELECT count(*) AS tracked FROM loginas.tracked_tables WHERE relation IN ('sec.gift'::regclass, 'sec.wish'::regclass);
-- once the owner gives the column a built-in type again, writes go on
SET ROLE sec_shop;
ALTER TABLE sec.basket_line ALTER COLUMN basket_id TYPE int USING (basket_id).v;
RESET ROLE;
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k7') IS NOT NULL AS assumed;
UPDATE sec.basket_line SET qty = 2 WHERE line_id = 10;
SELECT * FROM sec_test.refusal('UPDATE sec.basket_line SET qty = 2 WHERE line_id = 20');
COMMIT;
RESET ROLE;
SELECT ran_as FROM sec.trap_runs;

-- Code the owner puts on the parents -- here a partial index whose predicate
-- calls an IMMUTABLE function, which the planner evaluates when it plans a
-- read of the table -- runs when loginas looks a child row's customer up.
-- Each parent is read as its own table's owner, so the code runs with the
-- owner's rights: the owner gains nothing.
SET ROLE sec_shop;
CREATE FUNCTION sec.trap_imm(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM sec.evil_to_int(row($1)::sec.evil);
	RETURN 1;
END
$$;
CREATE INDEX basket_trap ON sec.basket (basket_id) WHERE sec.trap_imm(0) = 1;
CREATE INDEX line_trap ON sec.basket_line (line_id) WHERE sec.trap_imm(0) = 1;
RESET ROLE;
DELETE FROM sec.trap_runs;		-- CREATE INDEX ran it as sec_shop: not the point
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k7') IS NOT NULL AS assumed;
UPDATE sec.line_note SET body = 'gift' WHERE note_id = 100;
UPDATE sec.basket_line SET qty = 3 WHERE line_id = 10;
COMMIT;
RESET ROLE;
SELECT DISTINCT ran_as, became_superuser FROM sec.trap_runs;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_shop';
DELETE FROM sec.trap_runs;
DROP INDEX sec.basket_trap, sec.line_trap;

-- session_replication_role = replica, which a role may be granted SET on (or
-- reach through a SECURITY DEFINER wrapper), does not switch tracking off in
-- a session: the triggers fire ALWAYS
GRANT SET ON PARAMETER session_replication_role TO sec_web;
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k7') IS NOT NULL AS assumed;
SET LOCAL session_replication_role = replica;
SELECT * FROM sec_test.refusal('UPDATE sec.basket SET coupon = NULL WHERE basket_id = 2');
SELECT * FROM sec_test.refusal('UPDATE sec.basket_line SET qty = 9 WHERE line_id = 20');
SELECT * FROM sec_test.refusal('DELETE FROM sec.line_note WHERE note_id = 200');
UPDATE sec.basket SET coupon = 'MINE' WHERE basket_id = 1;
COMMIT;
-- nor outside one: a forged stamp is cleared as usual
SET session_replication_role = replica;
UPDATE sec.basket SET coupon = NULL, loginas_changed_session = 424242 WHERE basket_id = 2;
RESET session_replication_role;
RESET ROLE;
REVOKE SET ON PARAMETER session_replication_role FROM sec_web;
SELECT basket_id, coupon, loginas_changed_session IS NULL AS unstamped,
       loginas_changed_session = (SELECT session_id FROM loginas.session WHERE ended_at IS NULL AND admin_id = 1) AS stamped_by_session
  FROM sec.basket ORDER BY basket_id;
SELECT tgrelid::regclass AS relation, count(*) FILTER (WHERE tgenabled = 'A') AS always, count(*) AS triggers
  FROM pg_trigger WHERE tgname LIKE 'zz\_loginas\_%' AND tgrelid::regclass::text LIKE 'sec.%'
 GROUP BY 1 ORDER BY tgrelid::regclass::text;

-- A partition move is one update, whose insert half is not judged again.
-- Only the insert that follows the move's own delete is that half: an INSERT
-- of the same key in the same command (a deferrable primary key allows it)
-- is judged like any other
SET ROLE sec_shop;
CREATE TABLE sec.pt (id int, customer_id int NOT NULL, note text, PRIMARY KEY (id) DEFERRABLE) PARTITION BY RANGE (id);
CREATE TABLE sec.pt_a PARTITION OF sec.pt FOR VALUES FROM (0) TO (100);
INSERT INTO sec.pt VALUES (1, 1, 'mine'), (2, 2, 'theirs');
GRANT SELECT, INSERT, UPDATE, DELETE ON sec.pt TO sec_web;
RESET ROLE;
SELECT loginas.track('sec.pt', 'customer_id'::name);
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k7') IS NOT NULL AS assumed;
SET CONSTRAINTS ALL DEFERRED;
SELECT r.state, r.message FROM sec_test.refusal($$WITH u AS (UPDATE sec.pt SET note = note WHERE id = 1 RETURNING id)
	INSERT INTO sec.pt (id, customer_id, note) SELECT id, 2, 'forged for customer 2' FROM u$$) r;
ROLLBACK;
RESET ROLE;
SELECT loginas.untrack('sec.pt');

-- TRUNCATE of any member of a tracked partition tree, at any depth, and of a
-- partition that CASCADE reaches, is refused in a session
SET ROLE sec_shop;
CREATE TABLE sec.region (region_id int PRIMARY KEY);
INSERT INTO sec.region VALUES (1);
CREATE TABLE sec.preg (id int, market text, customer_id int, region_id int, PRIMARY KEY (id, market)) PARTITION BY LIST (market);
CREATE TABLE sec.preg_eu PARTITION OF sec.preg FOR VALUES IN ('eu') PARTITION BY RANGE (id);
CREATE TABLE sec.preg_eu_a PARTITION OF sec.preg_eu FOR VALUES FROM (0) TO (1000);
CREATE TABLE sec.preg_us PARTITION OF sec.preg FOR VALUES IN ('us');
ALTER TABLE sec.preg_us ADD FOREIGN KEY (region_id) REFERENCES sec.region;
INSERT INTO sec.preg VALUES (1, 'eu', 1, NULL), (2, 'eu', 2, NULL), (3, 'us', 2, 1);
GRANT SELECT, TRUNCATE ON sec.preg, sec.preg_eu, sec.preg_eu_a, sec.preg_us, sec.region TO sec_web;
RESET ROLE;
SELECT loginas.track('sec.preg', 'customer_id'::name);
SET ROLE sec_web;
BEGIN;
SELECT loginas.assume(:'k7') IS NOT NULL AS assumed;
SELECT n, r.state, r.message, r.detail
  FROM (VALUES (1, 'TRUNCATE sec.preg'), (2, 'TRUNCATE sec.preg_eu'), (3, 'TRUNCATE sec.preg_eu_a'),
               (4, 'TRUNCATE sec.preg_us'), (5, 'TRUNCATE ONLY sec.preg_eu'),
               (6, 'TRUNCATE sec.region CASCADE')) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
COMMIT;
RESET ROLE;
SELECT count(*) AS rows_left FROM sec.preg;
SELECT loginas."end"(:'k7');
SELECT loginas.untrack('sec.preg');
SELECT loginas.untrack('sec.line_note');
SELECT loginas.untrack('sec.basket_line');
SELECT loginas.untrack('sec.basket');

-------------------------------------------------------------------------------
-- 8. Keys of any type: the text overloads
-------------------------------------------------------------------------------
-- undone(role, statement): runs it as that role and undoes all it did
-- (whatever it returns or raises); 'ok' and its first value as text, or its
-- SQLSTATE and message
CREATE FUNCTION sec_test.undone(r name, stmt text, OUT state text, OUT message text, OUT result text)
	LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL ROLE %I', r);
		EXECUTE stmt INTO result;
		state := 'ok';
		RAISE SQLSTATE 'LAUND';
	EXCEPTION WHEN SQLSTATE 'LAUND' THEN
		NULL;
	WHEN OTHERS THEN
		state := SQLSTATE;
		message := regexp_replace(SQLERRM, 'session \d+', 'session N');
	END;
END
$$;
-- the same, the outcome only: the value (t/f for a boolean), or the SQLSTATE
CREATE FUNCTION sec_test.outcome(r name, stmt text) RETURNS text
	LANGUAGE sql AS $$
	SELECT CASE WHEN u.state <> 'ok' THEN u.state
				WHEN u.result IN ('true', 'false') THEN left(u.result, 1)
				ELSE COALESCE(u.result, 'NULL') END
	  FROM sec_test.undone(r, stmt) u
$$;

-- Every customer of the text and uuid views consents (the customer, on the
-- storefront)
SELECT loginas.bind('customers', 'sec.text_customers');
SET ROLE sec_web;
SELECT loginas.set_assistance('cus_1', true), loginas.set_assistance(E'cus\n2', true),
       loginas.set_assistance($$cus'3$$, true), loginas.set_assistance('cus\4', true);
RESET ROLE;
SELECT loginas.bind('customers', 'sec.uuid_customers');
SET ROLE sec_web;
SELECT loginas.set_assistance_as_customer('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
       loginas.set_assistance_as_customer('B1FFCD00-0D1C-4F09-8C7E-7CC0CE491B22', true);
RESET ROLE;

-- Roles: every text overload (and the two SECURITY INVOKER entry points
-- that reach them), called by every role of the shop, for a customer with a
-- text key.  Only the grants of sql/privileges.sql let a call through: the
-- storefront cannot check, begin, consent as an admin or read the log; the
-- admin backend cannot consent as the customer nor read the log without
-- viewer_admin; reporting and the auditor can do neither; a role with no
-- loginas role (PUBLIC) nothing.  (Each call is undone.)
SELECT loginas.bind('customers', 'sec.text_customers');
CREATE TEMP TABLE text_calls (n int, stmt text);
INSERT INTO text_calls VALUES
	(1, $$SELECT loginas.assistance_allowed('cus_1')$$),
	(2, $$SELECT allowed FROM loginas.check(1, 'cus_1')$$),
	(3, $$SELECT count(*) FROM loginas.store_choices(1, 'cus_1')$$),
	(4, $$SELECT length(token) FROM loginas.begin(1, 'cus_1')$$),
	(5, $$SELECT loginas.set_assistance_as_customer('cus_1', true)$$),
	(6, $$SELECT loginas.set_assistance_as_admin('cus_1', true, NULL, 1)$$),
	(7, $$SELECT loginas.set_assistance('cus_1', true)$$),
	(8, $$SELECT loginas.set_assistance('cus_1', true, by_admin => 1)$$),
	(9, $$SELECT count(*) > 0 FROM loginas.customer_history_as_reporting('cus_1')$$),
	(10, $$SELECT count(*) > 0 FROM loginas.customer_history_as_admin(1, 'cus_1')$$),
	(11, $$SELECT count(*) > 0 FROM loginas.customer_history('cus_1')$$),
	(12, $$SELECT count(*) > 0 FROM loginas.customer_history('cus_1', viewer_admin => 1)$$);
GRANT SELECT ON text_calls TO PUBLIC;
SELECT c.n, c.stmt, r.role, u.state, u.message, u.result
  FROM text_calls c
 CROSS JOIN unnest(ARRAY['sec_web', 'sec_backend', 'sec_report', 'sec_audit', 'sec_shop']) WITH ORDINALITY r(role, o)
 CROSS JOIN LATERAL sec_test.undone(r.role, c.stmt) u
 ORDER BY c.n, r.o;

-- A customer_history() viewer_admin is an active admin whose role has
-- "view_log", for a text key as for an integer one: refused and logged before
-- the key's type is looked at (sam: Support, old: inactive, 99: unknown,
-- max: Marketing has it).  Consent on the customer's behalf needs an active
-- admin with manage_assistance.  (Each call is undone; the refused views are
-- logged all the same.)
SELECT max(log_id) AS last FROM loginas.action_log \gset
SELECT n, u.state, u.message
  FROM (VALUES (1, $$SELECT count(*) FROM loginas.customer_history('cus_1', viewer_admin => 2)$$),
               (2, $$SELECT count(*) FROM loginas.customer_history('cus_1', viewer_admin => 3)$$),
               (3, $$SELECT count(*) FROM loginas.customer_history('cus_1', viewer_admin => 99)$$),
               (4, $$SELECT count(*) FROM loginas.customer_history('cus_1', viewer_admin => 4)$$),
               (5, $$SELECT loginas.set_assistance('cus_1', true, by_admin => 2)$$),
               (6, $$SELECT loginas.set_assistance('cus_1', true, by_admin => 3)$$),
               (7, $$SELECT loginas.set_assistance('cus_1', true, by_admin => 99)$$),
               (8, $$SELECT loginas.set_assistance_as_admin('cus_1', true, NULL, NULL)$$)) v(n, stmt),
       sec_test.undone('sec_backend', stmt) u
 ORDER BY n;
SELECT action, result, admin_id, customer_id, details -> 'filters' AS filters
  FROM loginas.action_log WHERE log_id > :last ORDER BY log_id;

-- Keys that are not keys of the customers: for integer, text and uuid
-- customers in turn, every text overload with keys of the wrong type, empty,
-- NULL, with spaces, out of the integer range, in another case, of 10 kB,
-- with a newline, a quote, a backslash, a statement, a LIKE pattern; each as
-- the role that calls it in the shop.  A key names the customer whose key it
-- spells, or no one: no error but a clean 22023 (no such customer) or 42501
-- (no consent), never an internal one.  (Each call is undone.)  Consent and
-- the log are kept by key whatever is bound: in the text shop, '1' and the
-- uuid still read the consent and the history they got while integer and
-- uuid customers were bound, but name no customer.  customer_history() with
-- viewer_admin does not read text keys yet (0A000).  Integer keys: the
-- out-of-range one is no key (22023, or no history), not an internal error.
CREATE TEMP TABLE bad_keys (n int, label text, k text);
INSERT INTO bad_keys VALUES
	(1, '1', '1'), (2, 'empty', ''), (3, 'NULL', NULL), (4, 'spaces', '  1 '), (5, '1e0', '1e0'), (6, '0x1', '0x1'),
	(7, 'int8 + 1', '9223372036854775808'), (8, 'newline 1', E'1\n'),
	(9, 'cus_1', 'cus_1'), (10, 'CUS_1', 'CUS_1'), (11, 'cus_1 newline', E'cus_1\n'), (12, 'cus_%', 'cus_%'),
	(13, 'newline', E'cus\n2'), (14, 'quote', $$cus'3$$), (15, 'backslash', 'cus\4'),
	(16, 'statement', $$cus_1'); DELETE FROM loginas.consent; --$$),
	(17, 'uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), (18, 'UUID', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'),
	(19, '{uuid}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'), (20, 'uuid spaces', ' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 '),
	(21, 'uuid inner space', 'a0eebc99-9c0b-4ef8-bb6d 6bb9bd380a11'),
	(22, '10 kB', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 320) i));
CREATE FUNCTION sec_test.key_matrix() RETURNS TABLE (key text, allowed text, "check" text, store_choices text,
		"begin" text, as_customer text, as_admin text, history text, history_as_admin text)
	LANGUAGE sql AS $$
	SELECT b.label,
		   sec_test.outcome('sec_web', format('SELECT loginas.assistance_allowed(%L::text)', b.k)),
		   sec_test.outcome('sec_backend', format('SELECT allowed FROM loginas.check(1, %L::text)', b.k)),
		   sec_test.outcome('sec_backend', format('SELECT count(*) FROM loginas.store_choices(1, %L::text)', b.k)),
		   sec_test.outcome('sec_backend', format('SELECT ''ticket'' FROM loginas.begin(1, %L::text)', b.k)),
		   sec_test.outcome('sec_web', format('SELECT loginas.set_assistance_as_customer(%L::text, true)', b.k)),
		   sec_test.outcome('sec_backend', format('SELECT loginas.set_assistance_as_admin(%L::text, true, NULL, 1)', b.k)),
		   sec_test.outcome('sec_report', format('SELECT count(*) > 0 FROM loginas.customer_history_as_reporting(%L::text)', b.k)),
		   sec_test.outcome('sec_backend', format('SELECT count(*) > 0 FROM loginas.customer_history_as_admin(1, %L::text)', b.k))
	  FROM bad_keys b ORDER BY b.n
$$;
SELECT loginas.grant('Administrators', 'view_log');
-- customers with integer keys (1 Veronica, 2 John)
SELECT loginas.bind('customers', 'shop.loginas_customers');
SELECT max(log_id) AS last FROM loginas.action_log \gset
SELECT * FROM sec_test.key_matrix();
-- every view through viewer_admin was logged (committed, not undone): text
-- that is no integer as an empty history of no customer
SELECT action, customer_id, (details ->> 'rows')::int > 0 AS some_rows, count(*)
  FROM loginas.action_log WHERE log_id > :last AND action LIKE 'log_view%'
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- customers with text keys
SELECT loginas.bind('customers', 'sec.text_customers');
SELECT * FROM sec_test.key_matrix();
-- customers with uuid keys
SELECT loginas.bind('customers', 'sec.uuid_customers');
SELECT * FROM sec_test.key_matrix();
-- A refusal naming a key escapes it (one line in the server log, and for the
-- caller): a newline, a quote and a backslash
SELECT loginas.bind('customers', 'sec.text_customers');
SET ROLE sec_backend;
SELECT n, r.state, r.message, r.detail
  FROM (VALUES (1, $$SELECT loginas.begin(1, E'cus_1\n')$$), (2, $$SELECT loginas.begin(1, $k$cus'3\ $k$)$$),
               (3, $$SELECT * FROM loginas.store_choices(1, E'cus\\4\t')$$)) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
RESET ROLE;

-- Whatever the spelling, one customer has one consent and its tickets one
-- key: the canonical one (lower-case uuid, integer digits, text as it is).
-- (Each begin ends the admin's ticket before it.)
SET ROLE sec_web;
SELECT loginas.set_assistance('cus\4', false), loginas.set_assistance(E'cus\n2', false);
RESET ROLE;
SELECT max(session_id) AS s0 FROM loginas.session \gset
SELECT loginas.bind('customers', 'sec.uuid_customers');
SET ROLE sec_backend;
SELECT count(*) AS tickets
  FROM unnest(ARRAY['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
                    'a0eebc999c0b4ef8bb6d6bb9bd380a11']) k, loginas.begin(1, k) t;
RESET ROLE;
SELECT loginas.bind('customers', 'shop.loginas_customers');
SET ROLE sec_backend;
SELECT count(*) AS tickets FROM unnest(ARRAY['  1 ', '01', '+1', E'1\n']) k, loginas.begin(1, k) t;
RESET ROLE;
SELECT customer_key, customer_id, count(*) AS tickets FROM loginas.session
 WHERE session_id > :s0 GROUP BY 1, 2 ORDER BY customer_key COLLATE "C";
SELECT replace(customer_key, E'\n', '\n') AS customer_key, customer_id, allowed
  FROM loginas.consent ORDER BY customer_key COLLATE "C";

-- In a session, the storefront cannot change the consent, by any key
SELECT loginas.bind('customers', 'sec.text_customers');
SET ROLE sec_backend;
SELECT token AS t8 FROM loginas.begin(1, 'cus_1') \gset
RESET ROLE;
SET ROLE sec_web;
SELECT session_key AS k8 FROM loginas.redeem(:'t8') \gset
BEGIN;
SELECT loginas.assume(:'k8') IS NOT NULL AS assumed, loginas.current_customer_key();
SELECT n, r.state, r.message
  FROM (VALUES (1, $$SELECT loginas.set_assistance('cus_1', false)$$),
               (2, $$SELECT loginas.set_assistance_as_customer($k$cus'3$k$, true)$$)) v(n, stmt),
       sec_test.refusal(stmt) r
 ORDER BY n;
COMMIT;
SELECT loginas."end"(:'k8');
RESET ROLE;

-- The owner of the bound view: its key column computed by a function of
-- the owner's, which records who runs it and tries to make its owner a
-- superuser.  loginas reads the view as loginas_reader, so every text
-- overload that looks a customer up runs it as loginas_reader: the owner
-- gains nothing
SET ROLE sec_shop;
CREATE FUNCTION sec.key_of(id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	ok boolean := true;
BEGIN
	BEGIN
		EXECUTE 'ALTER ROLE sec_shop SUPERUSER';
	EXCEPTION WHEN insufficient_privilege THEN
		ok := false;
	END;
	INSERT INTO sec.trap_runs VALUES (current_user, ok);
	RETURN id;
END
$$;
CREATE OR REPLACE VIEW sec.text_customers AS
	SELECT sec.key_of(id) AS customer_id, email, name AS display_name, true AS is_active, 1 AS website_id, 1 AS store_id
	  FROM sec.taccount;
RESET ROLE;
DELETE FROM sec.trap_runs;
SET ROLE sec_backend;
SELECT allowed FROM loginas.check(1, 'cus_1');
SELECT count(*) AS store_choices FROM loginas.store_choices(1, 'cus_1');
SELECT length(token) AS ticket FROM loginas.begin(1, 'cus_1');
SELECT loginas.set_assistance_as_admin('cus_1', true, NULL, 1);
RESET ROLE;
SET ROLE sec_web;
SELECT loginas.set_assistance_as_customer('cus_1', true);
RESET ROLE;
SELECT DISTINCT ran_as, became_superuser FROM sec.trap_runs;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_shop';
DELETE FROM sec.trap_runs;
SELECT loginas.bind('customers', 'shop.loginas_customers');
SELECT loginas.revoke('Administrators', 'view_log');
SELECT loginas.end_admin(1) AS ended;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT * FROM loginas.verify_log();

-------------------------------------------------------------------------------
-- Clean up: the shared state as it was
-------------------------------------------------------------------------------
SELECT loginas.untrack('sec.cart_item');
SELECT loginas.untrack('sec.cart');
SELECT loginas.configure('enabled', 'off');
SELECT loginas.revoke('Administrators', 'login');
SELECT loginas.revoke('Administrators', 'manage_assistance');
SELECT loginas.revoke('Marketing', 'view_log');
SELECT loginas.revoke('Marketing', 'manage_assistance');
DELETE FROM loginas.consent;
SELECT count(*) AS live_sessions FROM loginas.session WHERE ended_at IS NULL;
SELECT name, value FROM loginas.settings WHERE value IS DISTINCT FROM default_value;
SELECT kind, relation, status FROM loginas.bindings ORDER BY kind;
SELECT count(*) AS grants FROM loginas.permissions;
SELECT * FROM loginas.verify_log();
DROP SCHEMA sec CASCADE;
DROP SCHEMA sec_test CASCADE;
DROP OWNED BY sec_backend, sec_web, sec_report, sec_shop, sec_audit;
DROP ROLE sec_backend, sec_web, sec_report, sec_shop, sec_audit;

-------------------------------------------------------------------------------
-- Keys of any type: admins, store views and documents given as text.  The
-- text forms (every key as text) of the admin backend's functions, of
-- begin, begin_from, store_choices, end_admin, purge_log and the admin
-- reports: each refused to a role that lacks it (42501), and fed keys that
-- are no admin's -- not a value of the admins' key type, empty, NULL,
-- quotes and control characters -- refused cleanly (their SQLSTATE, no raw
-- cast error) with nothing written.  Then which of these SECURITY DEFINER
-- functions the block did not call (none).
-------------------------------------------------------------------------------
CREATE ROLE ka_backend NOLOGIN;
GRANT loginas_admin TO ka_backend;
CREATE ROLE ka_web NOLOGIN;
GRANT loginas_storefront TO ka_web;
CREATE ROLE ka_report NOLOGIN;
GRANT loginas_reporting TO ka_report;
CREATE ROLE ka_audit NOLOGIN;
GRANT loginas_auditor TO ka_audit;
CREATE SCHEMA ka;
GRANT USAGE ON SCHEMA ka TO PUBLIC, loginas_reader;
CREATE TABLE ka.admin_user (id uuid PRIMARY KEY, email text NOT NULL, active boolean NOT NULL, role text NOT NULL);
INSERT INTO ka.admin_user VALUES ('5d0c7a51-0000-4000-8000-000000000001', 'ka-ada@example.com', true, 'Administrators'),
                                 ('5d0c7a51-0000-4000-8000-000000000002', 'ka-max@example.com', true, 'Marketing');
CREATE VIEW ka.loginas_admins AS
  SELECT id AS admin_id, email AS username, email AS display_name, active AS is_active, role FROM ka.admin_user;
GRANT SELECT ON ka.loginas_admins TO loginas_reader;
SELECT loginas.bind('admins', 'ka.loginas_admins', 1);
SELECT loginas.configure('enabled', 'on', '5d0c7a51-0000-4000-8000-000000000001');
SELECT loginas.grant('Administrators', 'login', '5d0c7a51-0000-4000-8000-000000000001');
SELECT loginas.set_assistance(1, true);
-- try(statement): 'ok: ' and its first value, or 'SQLSTATE: message'
CREATE FUNCTION ka.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE stmt INTO r;
	RETURN concat('ok: ', r);
EXCEPTION WHEN OTHERS THEN
	RETURN concat(SQLSTATE, ': ', regexp_replace(SQLERRM, E'\n', '\\n', 'g'));
END
$$;
SELECT max(log_id) AS ka_log0, (SELECT max(session_id) FROM loginas.session) AS ka_s0 FROM loginas.action_log \gset
SET track_functions = 'all';
BEGIN;
-- a role without the function: the storefront and reporting at the admin
-- backend's, the admin backend at the auditor's and reporting's
SET LOCAL ROLE ka_web;
SELECT n, ka.try(stmt) FROM (VALUES
	(1, $$SELECT loginas.configure('require_reason', 'on', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(2, $$SELECT loginas.bind('orders', 'shop.loginas_orders', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(3, $$SELECT loginas.unbind('orders', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(4, $$SELECT loginas.grant('Marketing', 'login', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(5, $$SELECT loginas.revoke('Administrators', 'login', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(6, $$SELECT loginas.permitted('5d0c7a51-0000-4000-8000-000000000001', 'login')$$),
	(7, $$SELECT loginas.set_assistance_as_admin('1', true, NULL, '5d0c7a51-0000-4000-8000-000000000001')$$),
	(8, $$SELECT loginas.set_assistance('1', true, NULL, '5d0c7a51-0000-4000-8000-000000000001')$$),
	(9, $$SELECT loginas.check('5d0c7a51-0000-4000-8000-000000000001', '1')$$),
	(10, $$SELECT loginas.store_choices('5d0c7a51-0000-4000-8000-000000000001', '1')$$),
	(11, $$SELECT loginas.begin('5d0c7a51-0000-4000-8000-000000000001', '1')$$),
	(12, $$SELECT loginas.begin_from('5d0c7a51-0000-4000-8000-000000000001', 'order', '100')$$),
	(13, $$SELECT loginas.end_admin('5d0c7a51-0000-4000-8000-000000000001')$$),
	(14, $$SELECT loginas.admin_activity('5d0c7a51-0000-4000-8000-000000000001')$$),
	(15, $$SELECT loginas.admin_activity_as_reporting('5d0c7a51-0000-4000-8000-000000000001')$$),
	(16, $$SELECT loginas.purge_log(now() - interval '1 year', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(17, $$SELECT loginas.customer_history_as_admin('5d0c7a51-0000-4000-8000-000000000001', '1')$$),
	(18, $$SELECT loginas.actions_report_as_admin('5d0c7a51-0000-4000-8000-000000000001')$$),
	(19, $$SELECT loginas.admin_activity_as_admin('5d0c7a51-0000-4000-8000-000000000001', '5d0c7a51-0000-4000-8000-000000000001')$$)) v(n, stmt)
 ORDER BY n;
SET LOCAL ROLE ka_report;
SELECT n, ka.try(stmt) FROM (VALUES
	(1, $$SELECT loginas.begin('5d0c7a51-0000-4000-8000-000000000001', '1')$$),
	(2, $$SELECT loginas.configure('require_reason', 'on', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(3, $$SELECT loginas.purge_log(now() - interval '1 year', '5d0c7a51-0000-4000-8000-000000000001')$$)) v(n, stmt)
 ORDER BY n;
SET LOCAL ROLE ka_backend;
SELECT n, ka.try(stmt) FROM (VALUES
	(1, $$SELECT loginas.purge_log(now() - interval '1 year', '5d0c7a51-0000-4000-8000-000000000001')$$),
	(2, $$SELECT loginas.admin_activity_as_reporting('5d0c7a51-0000-4000-8000-000000000001')$$),
	(3, $$SELECT loginas.admin_activity('5d0c7a51-0000-4000-8000-000000000001')$$)) v(n, stmt)
 ORDER BY n;
-- keys that name no admin: not a uuid, another spelling of nothing, empty,
-- NULL, quotes, a newline -- each refused with its SQLSTATE, nothing begun
-- and nothing changed (permitted() says false, end_admin() ends nothing; a
-- NULL by_admin is no admin: the DBA's configure() and grant(), not tried);
-- as viewer_admin of a report: 42501, nothing shown, the refused view
-- recorded (with the key only when it is an admin's key: canonical)
SELECT k.n, f.fn, ka.try(format(f.stmt, quote_nullable(k.key)))
  FROM (VALUES (1, 'not-a-uuid'), (2, '5D0C7A51-0000-4000-8000-00000000000F'), (3, ''), (4, NULL),
               (5, $k$x' OR '1'='1$k$), (6, E'5d0c7a51-0000-4000-8000-000000000001\n')) k(n, key),
       (VALUES (1, 'begin', 'SELECT loginas.begin(%s, ''1'')'),
               (2, 'begin_from', 'SELECT loginas.begin_from(%s, ''order'', ''100'')'),
               (4, 'store_choices', 'SELECT loginas.store_choices(%s, ''1'')'),
               (5, 'configure', 'SELECT loginas.configure(''require_reason'', ''on'', %s::text)'),
               (6, 'grant', 'SELECT loginas.grant(''Marketing'', ''login'', %s::text)'),
               (7, 'set_assistance_as_admin', 'SELECT loginas.set_assistance_as_admin(''2'', true, NULL, %s::text)'),
               (8, 'permitted', 'SELECT loginas.permitted(%s, ''login'')'),
               (9, 'end_admin', 'SELECT loginas.end_admin(%s)'),
               (10, 'customer_history_as_admin', 'SELECT loginas.customer_history_as_admin(%s, ''1'')'),
               (11, 'actions_report_as_admin', 'SELECT loginas.actions_report_as_admin(%s::text)'),
               (12, 'admin_activity_as_admin', 'SELECT loginas.admin_activity_as_admin(%s, ''1'')')) f(m, fn, stmt)
 WHERE NOT (k.key IS NULL AND f.fn IN ('configure', 'grant'))
 ORDER BY k.n, f.m;
SELECT k.n, c.allowed, replace(c.reason, E'\n', '\n') AS reason
  FROM (VALUES (1, 'not-a-uuid'), (2, '5D0C7A51-0000-4000-8000-00000000000F'), (3, ''), (4, NULL),
               (5, $k$x' OR '1'='1$k$), (6, E'5d0c7a51-0000-4000-8000-000000000001\n')) k(n, key),
       loginas.check(k.key, '1') c
 ORDER BY k.n;
-- the admin backend on a valid key: the text forms work (and are called)
SET LOCAL ROLE ka_backend;
SELECT ka.try($$SELECT loginas.check('5D0C7A51-0000-4000-8000-000000000001', '1')$$) AS "check",
       ka.try($$SELECT loginas.store_choices('{5d0c7a51-0000-4000-8000-000000000001}', '1')$$) AS store_choices,
       ka.try($$SELECT (loginas.begin('5d0c7a51-0000-4000-8000-000000000001', '1')).store_key$$) AS "begin",
       ka.try($$SELECT (loginas.begin_from('5d0c7a51-0000-4000-8000-000000000001', 'order', '100')).store_key$$) AS begin_from,
       loginas.end_admin('5d0c7a51-0000-4000-8000-000000000001') AS ended,
       loginas.permitted('5d0c7a51-0000-4000-8000-000000000002', 'login') AS marketing_may;
SELECT ka.try($$SELECT loginas.admin_activity_as_admin(1, '5d0c7a51-0000-4000-8000-000000000001')$$) AS viewer_with_an_integer_key;
-- the viewer by its key (the text forms of the _as_admin reports): the
-- admin's role lacks "view_log", so each view is refused and recorded with
-- the viewer's canonical key
SELECT ka.try($$SELECT loginas.admin_activity_as_admin('5D0C7A51-0000-4000-8000-000000000001', '5d0c7a51-0000-4000-8000-000000000001')$$) AS activity,
       ka.try($$SELECT loginas.customer_history_as_admin('{5d0c7a51-0000-4000-8000-000000000001}', '1')$$) AS history,
       ka.try($$SELECT loginas.actions_report_as_admin('5d0c7a51-0000-4000-8000-000000000001', admin_key => '5d0c7a51-0000-4000-8000-000000000001')$$) AS report;
SET LOCAL ROLE ka_report;
SELECT count(*) > 0 AS reported FROM loginas.admin_activity('5d0c7a51-0000-4000-8000-000000000001');
SELECT ka.try($$SELECT loginas.admin_activity(NULL::text)$$) AS null_admin;
SET LOCAL ROLE ka_audit;
SELECT ka.try($$SELECT loginas.purge_log(now() - interval '1 year', 'not-a-uuid')$$) AS purge_by_nobody;
RESET ROLE;
SELECT ka.try($$SELECT loginas.unbind('invoices', 'not-a-uuid')$$) AS unbind_by_nobody,
       ka.try($$SELECT loginas.bind('invoices', 'shop.loginas_invoices', '')$$) AS bind_by_nobody,
       ka.try($$SELECT loginas.revoke('Administrators', 'login', E'\n')$$) AS revoke_by_nobody;
-- the text forms of the SECURITY DEFINER functions this block did not call
SELECT concat('not called: ', f) FROM unnest(ARRAY[
	'loginas.configure(text, text, text)', 'loginas.bind(text, regclass, text)', 'loginas.unbind(text, text)',
	'loginas."grant"(text, text, text)', 'loginas."revoke"(text, text, text)', 'loginas.permitted(text, text)',
	'loginas.set_assistance_as_admin(text, boolean, timestamptz, text)', 'loginas.check(text, text)',
	'loginas.store_choices(text, text)', 'loginas.begin(text, text, text, text, text, boolean, inet)',
	'loginas.begin_from(text, text, text, text, text, boolean, inet)', 'loginas.end_admin(text, text)',
	'loginas.purge_log(timestamptz, text)', 'loginas.admin_activity_as_reporting(text, timestamptz)',
	'loginas.admin_activity_as_admin(bigint, text, timestamptz)', 'loginas.admin_activity_as_admin(text, text, timestamptz)',
	'loginas.customer_history_as_admin(text, text)',
	'loginas.actions_report_as_admin(text, timestamptz, timestamptz, text, bigint, bigint, text, int, int, text, text)']::regprocedure[]) f
 WHERE NOT EXISTS (SELECT FROM pg_stat_xact_user_functions s WHERE s.funcid = f::oid)
   OR NOT (SELECT p.prosecdef FROM pg_proc p WHERE p.oid = f::oid)
 ORDER BY 1;
COMMIT;
RESET track_functions;
-- nothing came of the refused calls: the two sessions begun (the second
-- superseded the first) were ended, no setting, grant, binding or consent
-- changed by a key that names no admin
SELECT count(*) AS sessions, count(*) FILTER (WHERE ended_at IS NULL) AS live,
       string_agg(DISTINCT admin_key, ', ') AS admin_keys
  FROM loginas.session WHERE session_id > :ka_s0;
SELECT action, admin_id, admin_key, admin_username FROM loginas.action_log
 WHERE log_id > :ka_log0 AND action NOT IN ('ticket_issued', 'session_ended') ORDER BY log_id;
SELECT name, value, changed_by_admin_key FROM loginas.settings WHERE name = 'require_reason';
SELECT role, resource, granted_by_admin_key FROM loginas.permissions ORDER BY role, resource;
SELECT kind, status FROM loginas.bindings WHERE kind IN ('orders', 'invoices') ORDER BY kind;
SELECT * FROM loginas.verify_log();
-- clean up
SELECT loginas.revoke('Administrators', 'login', '5d0c7a51-0000-4000-8000-000000000001');
SELECT loginas.configure('enabled', 'off', '5d0c7a51-0000-4000-8000-000000000001');
SELECT loginas.bind('admins', 'shop.loginas_admins', '5d0c7a51-0000-4000-8000-000000000001');
DELETE FROM loginas.consent;
DROP SCHEMA ka CASCADE;
DROP OWNED BY ka_backend, ka_web, ka_report, ka_audit;
DROP ROLE ka_backend, ka_web, ka_report, ka_audit;
