/*
 * 01_settings.sql
 * Settings: Stores > Configuration > Customers > Login as Customer.
 * Each setting has a definition (kind, default, label); loginas.configure()
 * validates a value against it and records the change in the log.  Turning
 * the feature off ends every live ticket and session.  The lifetimes are
 * checked as they will be applied: no months, nothing negative, 1 s to 7 days.
 * The live events' channel is a name LISTEN takes unquoted (or empty: no
 * events); the customer's own view has two settings of what it shows.
 */

CREATE TABLE loginas.setting_definition (
	name			text PRIMARY KEY,
	kind			text NOT NULL CHECK (kind IN ('boolean', 'choice', 'interval', 'channel')),
	choices			text[],
	default_value	text NOT NULL,
	label			text NOT NULL,
	description		text NOT NULL
);

INSERT INTO loginas.setting_definition VALUES
	('enabled', 'boolean', NULL, 'off', 'Enable Login as Customer',
	 'Admin users with the "login" resource may log in as customers who allow remote shopping assistance.'),
	('disable_page_cache', 'boolean', NULL, 'on', 'Disable Page Cache for Admin User',
	 'The storefront should bypass its page cache while an admin is logged in as a customer.'),
	('store_view_selection', 'choice', ARRAY['auto', 'manual'], 'auto', 'Store View to Log in',
	 'auto: the customer''s own store view (Auto-Detection); manual: the admin picks one (Manual Selection).'),
	('account_sharing', 'choice', ARRAY['global', 'website'], 'website', 'Share Customer Accounts',
	 'website: a customer may be entered only on store views of their own website; global: on any.'),
	('ticket_ttl', 'interval', NULL, '00:01:00', 'Ticket lifetime',
	 'How long a ticket from loginas.begin() can be redeemed.'),
	('session_ttl', 'interval', NULL, '01:00:00', 'Session lifetime',
	 'Hard end of a session, counted from its redemption.'),
	('require_reason', 'boolean', NULL, 'off', 'Require a reason',
	 'A reason (ticket number, call id) must be given to begin a session.'),
	('notify_channel', 'channel', NULL, '', 'Live events channel',
	 'NOTIFY channel of the live events (tickets, sessions, reverts, refusals); empty: no events. Any role that can connect may LISTEN: events carry ids and keys only.'),
	('customer_view_admin', 'choice', ARRAY['store_administrator', 'display_name'], 'store_administrator',
	 'Admin shown to customers',
	 'What loginas.my_assistance_history() shows for the admin: "Store administrator" (store_administrator) or the admin''s display name (display_name).'),
	('customer_view_reason', 'boolean', NULL, 'off', 'Show the reason to customers',
	 'loginas.my_assistance_history() shows the reason given to begin (off: never).');

-- values set by loginas.configure(); a setting without a row has its default
CREATE TABLE loginas.setting (
	name			text PRIMARY KEY REFERENCES loginas.setting_definition,
	value			text NOT NULL,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by_admin bigint,		-- the admin's key when admins have integer keys
	changed_by_role	name NOT NULL DEFAULT SESSION_USER,
	changed_by_admin_key text		-- the admin's key, any type, as canonical text
);

CREATE VIEW loginas.settings AS
	SELECT d.name,
		   COALESCE(s.value, d.default_value) AS value,
		   d.default_value,
		   d.label,
		   d.description,
		   d.choices,
		   s.changed_at,
		   s.changed_by_admin,
		   s.changed_by_admin_key
	  FROM loginas.setting_definition d
	  LEFT JOIN loginas.setting s USING (name)
	 ORDER BY d.name;

CREATE FUNCTION loginas._get_setting(p_name text) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT COALESCE(
		(SELECT value FROM loginas.setting WHERE name OPERATOR(pg_catalog.=) p_name),
		(SELECT default_value FROM loginas.setting_definition WHERE name OPERATOR(pg_catalog.=) p_name))
$$;

-- configure(name, value): one setting, validated against its definition
--   * a lifetime (ticket_ttl, session_ttl) is checked as begin and redeem
--     apply it (now() + lifetime): no months or years (their length varies:
--     counted as 30 days, '3000000 mon -89999993 days' would pass as 7 days),
--     no negative days or time; then 1 second to 7 days.  now() + 7 days
--     never leaves the range of timestamptz.
--   * log_retention is refused (42501): it bounds purge_log(), which is not
--     the admin backend's (loginas.set_log_retention, 08_log.sql).
-- configure(name, value, by_admin): by an admin of any key type, given as
-- text (the bigint form below calls it)
CREATE FUNCTION loginas.configure(name text, value text, by_admin text)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres	-- intervals are stored in one spelling, whoever sets them
	AS $$
DECLARE
	d loginas.setting_definition;
	v text := pg_catalog.btrim(configure.value);
	old text;
	iv interval;
	f record;
	r record;
	admin_key text;
	example constant text := 'Give it in days, hours, minutes and seconds, for example ''60 seconds'', ''1 hour'' or ''7 days''.';
BEGIN
	PERFORM loginas._require_writable('loginas.configure()');
	SELECT * INTO d FROM loginas.setting_definition sd WHERE sd.name OPERATOR(pg_catalog.=) configure.name;
	IF d.name IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023',
			pg_catalog.format('unrecognized Login as Customer setting "%s"', configure.name), NULL,
			pg_catalog.format('Valid settings are: %s.',
				(SELECT pg_catalog.string_agg(sd.name, ', ' ORDER BY sd.name) FROM loginas.setting_definition sd)));
	END IF;
	IF d.name OPERATOR(pg_catalog.=) 'log_retention' THEN
		PERFORM loginas._refuse(NULL, '42501', 'setting "log_retention" cannot be changed with loginas.configure()',
			'The log retention bounds loginas.purge_log(): it is changed by the auditor, not by the admin backend.',
			'A member of loginas_auditor changes it with loginas.set_log_retention(interval).');
	END IF;
	IF v IS NULL THEN
		PERFORM loginas._refuse(NULL, '22023', pg_catalog.format('setting "%s" cannot be NULL', d.name));
	END IF;
	PERFORM loginas._check_by_admin(by_admin);
	admin_key := loginas._canon_key('admins', by_admin);

	IF d.kind OPERATOR(pg_catalog.<>) 'interval' THEN
		v := pg_catalog.lower(v);
	END IF;
	IF d.kind OPERATOR(pg_catalog.=) 'boolean' THEN
		IF v IN ('on', 'true', 'yes', '1', 't', 'y') THEN
			v := 'on';
		ELSIF v IN ('off', 'false', 'no', '0', 'f', 'n') THEN
			v := 'off';
		ELSE
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				'Valid values are "on" and "off".');
		END IF;
	ELSIF d.kind OPERATOR(pg_catalog.=) 'channel' THEN
		-- a NOTIFY channel: a name LISTEN takes unquoted (lower case letters,
		-- digits and underscores, at most 63 bytes, no reserved word), so
		-- that no quoting is ever needed; '' (or off): no events
		IF v IN ('', 'off') THEN
			v := '';
		ELSIF v OPERATOR(pg_catalog.!~) '^[a-z_][a-z0-9_]*$' OR pg_catalog.octet_length(v) OPERATOR(pg_catalog.>) 63
			  OR EXISTS (SELECT FROM pg_catalog.pg_get_keywords() k
						  WHERE k.word OPERATOR(pg_catalog.=) v AND k.catcode OPERATOR(pg_catalog.<>) 'U'
							AND k.catcode OPERATOR(pg_catalog.<>) 'C') THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'A channel is a name LISTEN takes unquoted: lower-case letters, digits and underscores, not starting with a digit, at most 63 bytes, not a reserved word.',
				'For example ''loginas_events''; an empty value turns the events off.');
		END IF;
	ELSIF d.kind OPERATOR(pg_catalog.=) 'choice' THEN
		IF NOT v OPERATOR(pg_catalog.=) ANY (d.choices) THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value), NULL,
				pg_catalog.format('Valid values are: %s.', pg_catalog.array_to_string(d.choices, ', ')));
		END IF;
	ELSE
		BEGIN
			iv := v::interval;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
			iv := NULL;
		END;
		IF iv IS NOT NULL THEN
			f := loginas._interval_fields(iv);
			IF f.months OPERATOR(pg_catalog.<>) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'A lifetime cannot be given in months or years: their length varies.', example);
			END IF;
			IF f.days OPERATOR(pg_catalog.<) 0 OR f.seconds OPERATOR(pg_catalog.<) 0 THEN
				PERFORM loginas._refuse(NULL, '22023',
					pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
					'Neither the days nor the time of a lifetime can be negative.', example);
			END IF;
		END IF;
		IF iv IS NULL OR iv OPERATOR(pg_catalog.<) interval '1 second' OR iv OPERATOR(pg_catalog.>) interval '7 days' THEN
			PERFORM loginas._refuse(NULL, '22023',
				pg_catalog.format('invalid value for setting "%s": "%s"', d.name, configure.value),
				'The value must be an interval between 1 second and 7 days.',
				'For example ''60 seconds'' or ''1 hour''.');
		END IF;
		-- stored as elapsed time (days as 24 hours), so that now() + lifetime
		-- is the same whatever TimeZone (and its daylight-saving jumps) the
		-- caller of begin or redeem has set
		v := pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', iv))::text;
	END IF;

	-- lock the setting's row (if any): a begin holding it must finish first
	SELECT st.value INTO old FROM loginas.setting st WHERE st.name OPERATOR(pg_catalog.=) d.name FOR UPDATE;
	old := COALESCE(old, d.default_value);
	IF old OPERATOR(pg_catalog.=) v THEN
		RETURN v;			-- nothing changes, nothing is written
	END IF;
	INSERT INTO loginas.setting AS s (name, value, changed_by_admin, changed_by_admin_key)
	VALUES (d.name, v, loginas._key_id('admins', admin_key), admin_key)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE
	   SET value = EXCLUDED.value, changed_at = pg_catalog.now(),
		   changed_by_admin = EXCLUDED.changed_by_admin, changed_by_role = SESSION_USER,
		   changed_by_admin_key = EXCLUDED.changed_by_admin_key;

	PERFORM loginas._log('setting_changed', 'success', loginas._key_id('admins', admin_key), NULL,
						 p_details => pg_catalog.jsonb_build_object('setting', d.name, 'old', old, 'new', v),
						 p_admin_key => admin_key);

	-- turning the feature off ends every live ticket and session
	IF d.name OPERATOR(pg_catalog.=) 'enabled' AND v OPERATOR(pg_catalog.=) 'off' THEN
		FOR r IN SELECT s.session_id FROM loginas.session s WHERE s.ended_at IS NULL ORDER BY s.session_id LOOP
			PERFORM loginas._end_session(r.session_id, 'feature_disabled', admin_key);
		END LOOP;
	END IF;
	RETURN v;
END
$$;

CREATE FUNCTION loginas.configure(name text, value text, by_admin bigint DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
	AS $$
BEGIN
	RETURN loginas.configure(configure.name, configure.value, configure.by_admin::pg_catalog.text);
END
$$;

INSERT INTO loginas.setting_definition VALUES
	('log_retention', 'interval', NULL, '90 days', 'Log retention',
	 'Rows of the action log younger than this are never purged; set with loginas.set_log_retention() by loginas_auditor.');

-- an interval's three fields as PostgreSQL keeps them: months, days, and the
-- time (in seconds); each with its own sign
CREATE FUNCTION loginas._interval_fields(p_iv interval, OUT months bigint, OUT days bigint, OUT seconds numeric)
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	-- (an infinite interval, 17 and later, has none: NULLs, and the range
	-- checks that follow refuse it)
	SELECT CASE WHEN pg_catalog.isfinite(p_iv) THEN
			 (EXTRACT(year FROM p_iv) OPERATOR(pg_catalog.*) 12 OPERATOR(pg_catalog.+) EXTRACT(month FROM p_iv))::pg_catalog.int8 END,
		   CASE WHEN pg_catalog.isfinite(p_iv) THEN EXTRACT(day FROM p_iv)::pg_catalog.int8 END,
		   CASE WHEN pg_catalog.isfinite(p_iv) THEN
			 EXTRACT(hour FROM p_iv) OPERATOR(pg_catalog.*) 3600 OPERATOR(pg_catalog.+) EXTRACT(minute FROM p_iv) OPERATOR(pg_catalog.*) 60
			 OPERATOR(pg_catalog.+) EXTRACT(second FROM p_iv) END
$$;
