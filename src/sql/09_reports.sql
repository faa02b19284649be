/*
 * 09_reports.sql
 * Reports: the Admin Actions Report, one row per session, a customer's
 * access history, an admin's activity.  Without viewer_admin the database
 * role decides (loginas_reporting reads everything); with viewer_admin (the
 * admin backend, for an admin user) that admin needs "view_log", and the view
 * itself is recorded by a transaction of its own before the report returns
 * (src/viewlog.c).  The per-row text is C (src/report.c).
 */

-- the indexes behind the reports, with those made with the log: the time
-- filters and the Action Group use action_log_logged_at (loginas writes one
-- action group only, so an index led by action_group would be a copy of it),
-- the admin and customer filters action_log_admin and action_log_customer,
-- the sessions view action_log_session; added here: the failures (rare, so a
-- small partial index), and sessions by customer and by admin
CREATE INDEX action_log_failures ON loginas.action_log (logged_at DESC, log_id DESC)
	WHERE result OPERATOR(pg_catalog.=) 'failure';

CREATE INDEX session_customer ON loginas.session (customer_id);

CREATE INDEX session_admin ON loginas.session (admin_id);

CREATE FUNCTION loginas._action_label(p_action text, p_details jsonb)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_action_label';

-- the primary keys of a write row, in the order written, as "(5), (6)";
-- composite keys as "(1, a)", a value that needs it double-quoted as in a
-- record ("(1, \"a, b\")"); at most p_max of them (NULL: all), then "and N more"
CREATE FUNCTION loginas._keys_text(p_keys jsonb, p_max int DEFAULT NULL)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_keys_text';

-- what a log row's details say, on one line (the row's customer, session,
-- source and reason are not repeated here); p_with_table: a write names its
-- table and keys (customer_history shows them in columns of their own)
CREATE FUNCTION loginas._action_details(p_action text, p_details jsonb, p_with_table boolean DEFAULT true)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_action_details';

-- the Details column of the Admin Actions Report: the customer, store view,
-- session, source and reason of the row, then what its details say; the
-- customer by p_customer_key when p_customer_id is NULL, the store view by
-- p_store_key when p_store_id is NULL (keys that are not integers)
CREATE FUNCTION loginas._row_summary(p_action text, p_customer_id bigint, p_customer_email text,
									 p_store_id bigint, p_session_id bigint, p_source text, p_reason text,
									 p_details jsonb, p_customer_key text DEFAULT NULL,
									 p_store_key text DEFAULT NULL)
	RETURNS text
	LANGUAGE c IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'loginas_row_summary';

-- The rows of the reports.  These three are inlined into their callers (SQL,
-- STABLE, no SET clause: every name in them is schema-qualified, and their
-- callers pin search_path), so each call is planned with its actual
-- arguments: "x IS NULL OR col = x" folds away and the matching index is
-- used; the label and details are computed for the returned rows only.
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

-- a customer's history does not list the views of the log, refused ones
-- included (the Admin Actions Report does)
CREATE FUNCTION loginas._history_rows(p_customer_id bigint)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE sql STABLE
	AS $$
	SELECT l.logged_at, l.admin_username, loginas._action_label(l.action, l.details), l.result, l.reason,
		   l.source, l.session_id, l.details OPERATOR(pg_catalog.->>) 'table',
		   loginas._keys_text(l.details OPERATOR(pg_catalog.->) 'keys'),
		   loginas._action_details(l.action, l.details, false)
	  FROM loginas.action_log l
	 WHERE l.customer_id OPERATOR(pg_catalog.=) p_customer_id
	   AND l.action OPERATOR(pg_catalog.<>) 'log_viewed'
	   AND l.action OPERATOR(pg_catalog.<>) 'log_view_refused'
	 ORDER BY l.logged_at DESC, l.log_id DESC
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

CREATE FUNCTION loginas._activity_rows(p_admin_id bigint, p_since timestamptz)
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

-- by an admin key that is not an integer (the log's admin_key)
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

-- viewer_admin: an existing, active admin whose role has "view_log", by its
-- id (p_viewer) or by its key of any type, as text (p_viewer_key);
-- p_customer_id or p_customer_key (any type, as text): the customer viewed
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

-- the 'log_viewed' row of a report viewed through viewer_admin: committed
-- when this returns (the report has not returned a row yet); the viewer by
-- p_viewer or p_viewer_key, as for loginas._check_viewer
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

-- the viewer by its key of any type, given as text (the one implementation:
-- the bigint form below calls it)
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

COMMENT ON FUNCTION loginas.actions_report(timestamptz, timestamptz, text, bigint, bigint, text, bigint, int, int, text, text)
	IS 'Admin Actions Report: Time, Action Group, Action, IP Address, Username, Result, Details; newest first, a page at a time';

CREATE VIEW loginas.sessions AS
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

COMMENT ON VIEW loginas.sessions IS 'one row per Login as Customer ticket or session, newest first: who, whom, where, why, when, how it ended, what it wrote';

CREATE FUNCTION loginas.customer_history_as_reporting(customer_id bigint)
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
	RETURN QUERY SELECT * FROM loginas._history_rows(customer_history_as_reporting.customer_id);
END
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

CREATE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id bigint)
	RETURNS TABLE ("Time" timestamptz, "Admin" text, "Action" text, "Result" text, "Reason" text,
				   "Source" text, "Session" bigint, "Table" text, "Keys" text, "Details" text)
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	filters jsonb := pg_catalog.jsonb_build_object('customer_id', customer_history_as_admin.customer_id);
BEGIN
	PERFORM loginas._check_viewer(viewer_admin, 'customer_history', customer_history_as_admin.customer_id, filters);
	RETURN QUERY SELECT * FROM loginas.customer_history_as_reporting(customer_history_as_admin.customer_id);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM loginas._log_view(viewer_admin, 'customer_history', customer_history_as_admin.customer_id, filters, n);
END
$$;

CREATE FUNCTION loginas.customer_history(customer_id bigint, viewer_admin bigint DEFAULT NULL)
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

-- the viewer and the customer by their keys of any type, given as text (the
-- one implementation of a customer key given as text: the form below calls it)
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

-- the same for a customer key of any type, given as text
CREATE FUNCTION loginas.customer_history_as_admin(viewer_admin bigint, customer_id text)
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

COMMENT ON FUNCTION loginas.customer_history(bigint, bigint)
	IS 'who entered the customer''s account, when, why, from which document, what they changed; newest first';

CREATE FUNCTION loginas.admin_activity_as_reporting(admin_id bigint, since timestamptz DEFAULT NULL)
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
	RETURN QUERY SELECT * FROM loginas._activity_rows(admin_activity_as_reporting.admin_id, since);
END
$$;

-- the same for an admin key of any type, given as text
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

CREATE FUNCTION loginas.admin_activity_as_admin(viewer_admin bigint, admin_id bigint, since timestamptz DEFAULT NULL)
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

CREATE FUNCTION loginas.admin_activity(admin_id bigint, since timestamptz DEFAULT NULL, viewer_admin bigint DEFAULT NULL)
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

-- the viewer and the admin by their keys of any type, given as text (the
-- form below calls it)
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

-- the same for an admin key of any type, given as text, by a viewer with an
-- integer key
CREATE FUNCTION loginas.admin_activity_as_admin(viewer_admin bigint, admin_id text, since timestamptz DEFAULT NULL)
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

COMMENT ON FUNCTION loginas.admin_activity(bigint, timestamptz, bigint)
	IS 'what one admin user did (sessions, writes, notes, changes, log views); newest first';

-- the row of a view, or of a refused one, committed on return; the names
-- as loginas._log reads them (none when they cannot be read).  The customer
-- viewed: p_customer_id, or p_customer_key (any type, as text: canonical;
-- an integer key is logged as customer_id, as always); the viewer the same
-- way: p_viewer, or p_viewer_key (an integer key is logged as admin_id)
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
