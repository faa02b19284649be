/*
 * refusal_queue.c
 *		Refusals that survive the refused transaction.
 *
 * begin, redeem, assume and tracked writes refuse by raising an error, which
 * rolls back everything the caller's transaction wrote -- a row in
 * loginas.action_log included.  A security log must still show the failed
 * attempt.  loginas._queue_refusal() hands the refusal to a mechanism outside
 * the caller's transaction, which writes it as a 'failure' row of the log
 * (loginas._log_refusal).  Without that mechanism (loginas not in
 * shared_preload_libraries) it returns false, and the caller writes the
 * refusal to the server log only.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_queue_refusal);

/*
 * loginas._queue_refusal(action, sqlstate, message, detail, admin_id,
 *						   customer_id, session_id) -> boolean
 */
Datum
loginas_queue_refusal(PG_FUNCTION_ARGS)
{
	LoginAsRefusal r;

	loginas_require_owner(fcinfo, "loginas._queue_refusal()");
	memset(&r, 0, sizeof(r));
	r.action = PG_ARGISNULL(0) ? "refused" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	r.sqlstate = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	r.message = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	r.detail = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	r.has_admin = !PG_ARGISNULL(4);
	r.admin_id = r.has_admin ? PG_GETARG_INT64(4) : 0;
	r.has_customer = !PG_ARGISNULL(5);
	r.customer_id = r.has_customer ? PG_GETARG_INT64(5) : 0;
	r.has_session = !PG_ARGISNULL(6);
	r.session_id = r.has_session ? PG_GETARG_INT64(6) : 0;
	PG_RETURN_BOOL(loginas_queue_refusal_entry(&r));
}

/*
 * Without shared_preload_libraries there is no queue: the refusal goes to the
 * server log only (the caller logs it).
 */
bool
loginas_queue_refusal_entry(const LoginAsRefusal *r)
{
	return false;
}
