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
	('manage_assistance', 'Change a customer''s "Allow remote shopping assistance" on their behalf');

CREATE TABLE loginas.role_resource (
	role		text NOT NULL CHECK (pg_catalog.length(role) OPERATOR(pg_catalog.>) 0),
	resource	text NOT NULL REFERENCES loginas.resource,
	granted_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	granted_by_admin bigint,
	granted_by_role name NOT NULL DEFAULT SESSION_USER,
	PRIMARY KEY (role, resource)
);

CREATE VIEW loginas.permissions AS
	SELECT rr.role, rr.resource, r.label, rr.granted_at, rr.granted_by_admin
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

CREATE FUNCTION loginas."grant"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
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
	INSERT INTO loginas.role_resource AS rr (role, resource, granted_by_admin)
	VALUES ("grant".role, "grant".resource, by_admin)
	ON CONFLICT ON CONSTRAINT role_resource_pkey DO NOTHING;
	IF NOT FOUND THEN
		RETURN false;		-- already granted
	END IF;
	PERFORM loginas._log('permission_granted', 'success', by_admin, NULL,
						 p_details => pg_catalog.jsonb_build_object('role', "grant".role, 'resource', "grant".resource));
	RETURN true;
END
$$;

CREATE FUNCTION loginas."revoke"(role text, resource text, by_admin bigint DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
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
	-- the role's admins lose their live tickets and sessions
	IF "revoke".resource OPERATOR(pg_catalog.=) 'login' AND loginas._bound_relation('admins', true) IS NOT NULL THEN
		FOR s IN SELECT ls.session_id, ls.admin_id FROM loginas.session ls
				  WHERE ls.ended_at IS NULL ORDER BY ls.session_id
		LOOP
			IF (loginas._lookup('admins', s.admin_id, true) OPERATOR(pg_catalog.->>) 'role') OPERATOR(pg_catalog.=) "revoke".role THEN
				PERFORM loginas._end_session(s.session_id, 'permission_revoked', by_admin);
			END IF;
		END LOOP;
	END IF;
	RETURN true;
END
$$;

CREATE FUNCTION loginas.permitted(admin_id bigint, resource text)
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
		   AND EXISTS (SELECT FROM loginas.role_resource rr
					   WHERE rr.role OPERATOR(pg_catalog.=) (a OPERATOR(pg_catalog.->>) 'role')
						 AND rr.resource OPERATOR(pg_catalog.=) permitted.resource);
END
$$;
