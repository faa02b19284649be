/*
 * 05_events.sql
 * Live events: NOTIFY on the channel of the setting notify_channel (empty,
 * the default: no events) when a ticket is issued, a session starts
 * (redeem), a session ends (whatever the reason), a session is reverted,
 * and -- sent by the durable refusal log's worker in a transaction of its
 * own, once the refusal's failure row has committed -- when an attempt is
 * refused.  NOTIFY is delivered on commit only: an event of a transaction
 * that rolls back is never seen (a refusal is announced because its row is
 * written outside the refused transaction).
 *
 * Any role that can connect to the database may LISTEN on any channel, and
 * NOTIFY on it too: a payload carries only what every such role may see --
 * the event, its time, the log row that records it, the session id and the
 * keys of the admin, customer and store view, states (end reason, read only,
 * expiry), a refusal's kind and SQLSTATE -- from a fixed list of fields
 * (loginas._notify refuses any other): never a ticket, a session key, a
 * reason, a source, a name, an e-mail, an address or a role.  A key is never
 * cut (a prefix could be another person's key): one whose JSON text is over
 * 1024 bytes is left out and named in "omitted", so a payload stays far below
 * NOTIFY's 8000 bytes.
 */

-- a time as the events give it: UTC, ISO 8601, whatever the caller's TimeZone
CREATE FUNCTION loginas._utc(p_at timestamptz) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT pg_catalog.to_char(pg_catalog.timezone('UTC', p_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Send one event (false: events are off, or it was not sent).  p_payload:
-- fields of the list below only (22023 otherwise: a programming error, never
-- a secret sent); NULL fields are left out; "event" and (unless given) "at"
-- are added.  Not sent, with a LOG line, when PostgreSQL's notification
-- queue is more than half full (a listener that does not read): a NOTIFY
-- into a full queue would fail the caller's commit.  Callers: begin,
-- redeem, the end of a session (loginas._notify_session), a revert
-- (loginas._notify_session('session_reverted', ...)), the refusal log's
-- worker (loginas._notify_refusal).
CREATE FUNCTION loginas._notify(p_event text, p_payload jsonb DEFAULT '{}')
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	channel text := loginas._get_setting('notify_channel');
	payload jsonb;
	field text;
	omitted text[] := '{}';
	body text;
	usage double precision;
	events constant text[] := ARRAY['ticket_issued', 'session_started', 'session_ended', 'session_reverted', 'refused'];
	fields constant text[] := ARRAY['at', 'log_id', 'session_id', 'admin_key', 'customer_key', 'store_key',
									'by_admin_key', 'read_only', 'expires_at', 'end_reason', 'redeemed',
									'action', 'sqlstate', 'coalesced', 'rows'];
	key_fields constant text[] := ARRAY['admin_key', 'customer_key', 'store_key', 'by_admin_key'];
BEGIN
	IF channel IS NULL OR channel OPERATOR(pg_catalog.=) '' THEN
		RETURN false;
	END IF;
	IF p_event IS NULL OR NOT p_event OPERATOR(pg_catalog.=) ANY (events) THEN
		PERFORM loginas._raise('22023', pg_catalog.format('unknown loginas event "%s"', p_event), NULL,
			pg_catalog.format('The events are: %s.', pg_catalog.array_to_string(events, ', ')));
	END IF;
	IF p_payload IS NOT NULL AND pg_catalog.jsonb_typeof(p_payload) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM loginas._raise('22023', 'the payload of a loginas event must be a JSON object', NULL, NULL);
	END IF;
	payload := pg_catalog.jsonb_strip_nulls(COALESCE(p_payload, '{}'));
	FOR field IN SELECT k FROM pg_catalog.jsonb_object_keys(payload) k LOOP
		IF NOT field OPERATOR(pg_catalog.=) ANY (fields) THEN
			PERFORM loginas._raise('22023', pg_catalog.format('field "%s" is not allowed in a loginas event', field),
				'Any role that can connect may LISTEN: an event carries ids, keys and states only.',
				pg_catalog.format('The fields are: %s.', pg_catalog.array_to_string(fields, ', ')));
		END IF;
	END LOOP;
	-- a key too long for the payload is left out whole, never cut
	FOREACH field IN ARRAY key_fields LOOP
		IF pg_catalog.octet_length((payload OPERATOR(pg_catalog.->) field)::pg_catalog.text) OPERATOR(pg_catalog.>) 1024 THEN
			payload := payload OPERATOR(pg_catalog.-) field;
			omitted := omitted OPERATOR(pg_catalog.||) field;
		END IF;
	END LOOP;
	payload := pg_catalog.jsonb_build_object('event', p_event,
				   'at', COALESCE(payload OPERATOR(pg_catalog.->) 'at',
								  pg_catalog.to_jsonb(loginas._utc(pg_catalog.clock_timestamp()))))
			   OPERATOR(pg_catalog.||) payload;
	IF pg_catalog.cardinality(omitted) OPERATOR(pg_catalog.>) 0 THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('omitted', omitted);
	END IF;
	body := payload::pg_catalog.text;
	-- (cannot happen with the bounds above: 4 keys of 1 kB and short fields)
	IF pg_catalog.octet_length(body) OPERATOR(pg_catalog.>=) 8000 THEN
		RAISE LOG 'loginas: the % event was not sent: its payload takes % bytes', p_event, pg_catalog.octet_length(body);
		RETURN false;
	END IF;
	usage := pg_catalog.pg_notification_queue_usage();
	IF usage OPERATOR(pg_catalog.>) 0.5 THEN
		RAISE LOG 'loginas: the % event was not sent: the notification queue is % %% full', p_event,
			pg_catalog.round((usage OPERATOR(pg_catalog.*) 100)::pg_catalog.numeric, 1)
			USING DETAIL = 'A session that LISTENs and does not read its notifications holds the queue (pg_notification_queue_usage()).';
		RETURN false;
	END IF;
	PERFORM pg_catalog.pg_notify(channel, body);
	RETURN true;
END
$$;

-- An event of a session: its id and keys from the session row, and what the
-- event says of it -- the ticket's expiry (ticket_issued), the session's
-- (session_started), the end reason, whether it was redeemed and the ending
-- admin (session_ended); p_log_id: the log row that records it; p_extra:
-- more fields of the list (a revert: by_admin_key, rows).  loginas.revert
-- announces itself with
--   PERFORM loginas._notify_session('session_reverted', session_id, log_id,
--       jsonb_build_object('by_admin_key', <the reverting admin's key>, 'rows', <rows put back>));
CREATE FUNCTION loginas._notify_session(p_event text, p_session_id bigint, p_log_id bigint,
										p_extra jsonb DEFAULT '{}')
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s loginas.session;
	payload jsonb;
BEGIN
	IF loginas._get_setting('notify_channel') OPERATOR(pg_catalog.=) '' THEN
		RETURN false;		-- events are off: nothing read
	END IF;
	SELECT * INTO s FROM loginas.session ls WHERE ls.session_id OPERATOR(pg_catalog.=) p_session_id;
	payload := pg_catalog.jsonb_build_object('log_id', p_log_id, 'session_id', p_session_id,
											 'admin_key', s.admin_key, 'customer_key', s.customer_key,
											 'store_key', s.store_key);
	IF p_event OPERATOR(pg_catalog.=) 'ticket_issued' THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
			'read_only', s.read_only, 'expires_at', loginas._utc(s.ticket_expires_at));
	ELSIF p_event OPERATOR(pg_catalog.=) 'session_started' THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
			'read_only', s.read_only, 'expires_at', loginas._utc(s.expires_at));
	ELSIF p_event OPERATOR(pg_catalog.=) 'session_ended' THEN
		payload := payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
			'end_reason', s.end_reason, 'redeemed', s.redeemed_at IS NOT NULL,
			'by_admin_key', s.ended_by_admin_key);
	END IF;
	RETURN loginas._notify(p_event, payload OPERATOR(pg_catalog.||) COALESCE(p_extra, '{}'));
END
$$;

-- The event of a refusal, sent by the durable refusal log's worker in a
-- transaction of its own after the one that wrote the failure row
-- (p_log_id) committed (src/events.c): a refusal is announced only once it
-- is recorded, and a failed announcement never costs its row.  The row says
-- what the event carries: the kind of refusal (begin, redeem, assume,
-- write), its SQLSTATE, the session and keys where known, a summary's count
-- -- never its message, which can hold a role, a relation or a row's key.
CREATE FUNCTION loginas._notify_refusal(p_log_id bigint)
	RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	l loginas.action_log;
BEGIN
	IF loginas._get_setting('notify_channel') OPERATOR(pg_catalog.=) '' THEN
		RETURN false;
	END IF;
	SELECT * INTO l FROM loginas.action_log al
	 WHERE al.log_id OPERATOR(pg_catalog.=) p_log_id AND al.result OPERATOR(pg_catalog.=) 'failure'
	   AND al.action OPERATOR(pg_catalog.=) ANY (ARRAY['begin_refused', 'redeem_refused', 'assume_refused', 'write_refused']);
	IF l.log_id IS NULL THEN
		RETURN false;
	END IF;
	RETURN loginas._notify('refused', pg_catalog.jsonb_build_object(
		'at', loginas._utc(l.logged_at), 'log_id', l.log_id,
		'action', pg_catalog.left(l.action, -8),
		'sqlstate', l.details OPERATOR(pg_catalog.->>) 'sqlstate',
		'session_id', l.session_id,
		'admin_key', COALESCE(l.admin_key, l.admin_id::pg_catalog.text),
		'customer_key', COALESCE(l.customer_key, l.customer_id::pg_catalog.text),
		'store_key', COALESCE(l.store_key, l.store_id::pg_catalog.text),
		'coalesced', l.details OPERATOR(pg_catalog.->) 'coalesced'));
END
$$;
