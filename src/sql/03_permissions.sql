/*
 * 03_permissions.sql
 * Role resources: System > Permissions > User Roles.  A role of the shop's
 * admin users has a resource ("login": Allow Login as Customer; "view_log";
 * "manage_assistance") or not.  Revoking "login" ends the role's admins' live
 * tickets and sessions.
 */

CREATE TABLE loginas.resource (
	resource	text PRIMARY KEY,
	label		text NOT NULL
);

INSERT INTO loginas.resource VALUES
	('login', 'Allow Login as Customer'),
	('view_log', 'View Login as Customer Log'),
	('manage_assistance', 'Change a customer''s "Allow remote shopping assistance" on their behalf'),
	('revert', 'Revert Login as Customer Sessions');

CREATE TABLE loginas.role_resource (
	role		text NOT NULL CHECK (pg_catalog.length(role) OPERATOR(pg_catalog.>) 0),
	resource	text NOT NULL REFERENCES loginas.resource,
	granted_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	granted_by_admin bigint,		-- the admin's key when admins have integer keys
	granted_by_role name NOT NULL DEFAULT SESSION_USER,
	PRIMARY KEY (role, resource),
	granted_by_admin_key text		-- the admin's key, any type, as canonical text
);

CREATE VIEW loginas.permissions AS
	SELECT rr.role, rr.resource, r.label, rr.granted_at, rr.granted_by_admin, rr.granted_by_admin_key
	  FROM loginas.role_resource rr JOIN loginas.resource r USING (resource)
	 ORDER BY rr.role, rr.resource;

CREATE FUNCTION loginas._check_resource(p_resource text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF p_resource IS NULL OR NOT EXISTS (SELECT FROM loginas.resource r WHERE r.resource OPERATOR(pg_catalog.=) p_resource) THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer resource "%s"', p_resource), NULL,
			pg_catalog.format('Valid resources are: %s.',
				(SELECT pg_catalog.string_agg(r.resource, ', ' ORDER BY r.resource) FROM loginas.resource r)));
	END IF;
END
$$;

-- The roles of an admin (loginas._lookup('admins', ...): "role" is the sorted
-- array of the roles of the admin's rows, one row per role): an admin may use
-- a resource when any of its roles has it.
CREATE FUNCTION loginas._roles(p_admin jsonb) RETURNS text[]
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_admin OPERATOR(pg_catalog.->) 'role'))
$$;

CREATE FUNCTION loginas._roles_have(p_admin jsonb, p_resource text) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM loginas.role_resource rr
					WHERE rr.role OPERATOR(pg_catalog.=) ANY (loginas._roles(p_admin))
					  AND rr.resource OPERATOR(pg_catalog.=) p_resource)
$$;

-- what a refusal says of an admin none of whose roles has the resource
-- (label): the detail and the hint
CREATE FUNCTION loginas._roles_lack(p_admin jsonb, p_resource text, p_label text,
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

-- by an admin of any key type, given as text (the bigint form below calls it)
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

CREATE FUNCTION loginas."grant"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas."grant"("grant".role, "grant".resource, "grant".by_admin::pg_catalog.text);
END
$$;

-- by an admin of any key type, given as text (the bigint form below calls it)
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

CREATE FUNCTION loginas."revoke"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas."revoke"("revoke".role, "revoke".resource, "revoke".by_admin::pg_catalog.text);
END
$$;

-- an admin of any key type, given as text (the bigint form below calls it)
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

CREATE FUNCTION loginas.permitted(admin_id bigint, resource text)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN loginas.permitted(permitted.admin_id::pg_catalog.text, permitted.resource);
END
$$;
