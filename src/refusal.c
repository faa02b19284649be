/*
 * refusal.c
 *		How loginas says no, and how it says so in the server log.
 *
 * Every refusal of the SQL API (a check that fails, a bad parameter) ends in
 * loginas._raise(sqlstate, message, detail, hint): ereport() as a built-in
 * function would, the SQLSTATE the caller can act on, the detail and hint
 * only when there is one, and the CONTEXT of whoever called loginas (a shop's
 * function, a DO block) without the frames of loginas' own call chain
 * (errcontext.c).
 * Refusals of begin, redeem and assume also get a server-log line of their
 * own (loginas._log_refused; track.c writes those of tracked writes).  What
 * goes to the server log is escaped: see loginas_log_text() below.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_raise);
PG_FUNCTION_INFO_V1(loginas_log_refused);

static char *
optional_text(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* loginas._raise(sqlstate text, message text, detail text, hint text); texts escaped */
Datum
loginas_raise(PG_FUNCTION_ARGS)
{
	char	   *state = optional_text(fcinfo, 0);
	char	   *message = loginas_log_text(optional_text(fcinfo, 1));
	char	   *detail = loginas_log_text(optional_text(fcinfo, 2));
	char	   *hint = loginas_log_text(optional_text(fcinfo, 3));
	int			code;

	if (state == NULL || strlen(state) != 5 ||
		strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
		elog(ERROR, "loginas: invalid SQLSTATE \"%s\"", state ? loginas_log_text(state) : "(null)");
	code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);

	loginas_caller_context_only();
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message ? message : "Login as Customer refused"),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));

	PG_RETURN_VOID();			/* not reached */
}

/*
 * Before raising an error: the CONTEXT it will carry is that of whoever
 * called loginas (a shop's function, a DO block), without loginas' own call
 * chain, which is implementation.  The error context stack is cut just
 * outside the outermost frame of a loginas function (a PL/pgSQL frame says
 * "function loginas.<name>(...)"); the statements and functions inside it are
 * loginas' too.  The frames outside stay as they are: their callbacks still
 * say what the caller was doing.
 */
char *
loginas_log_text(const char *s)
{
	StringInfoData buf;
	const unsigned char *p;

	if (s == NULL)
		return NULL;
	for (p = (const unsigned char *) s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			break;
	if (*p == '\0')
		return (char *) s;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, s, (const char *) p - s);
	for (; *p; p++)
	{
		switch (*p)
		{
			case '\n':
				appendStringInfoString(&buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(&buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(&buf, "\\t");
				break;
			case '\\':
				appendStringInfoString(&buf, "\\\\");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(&buf, "\\x%02x", *p);
				else
					appendStringInfoChar(&buf, (char) *p);
		}
	}
	return buf.data;
}

static char *
optional_id(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return "-";
	return psprintf(INT64_FORMAT, PG_GETARG_INT64(argno));
}

/*
 * The customer as the server-log lines name it: the integer id, else the key
 * of any type (escaped), else "-"
 */
static const char *
customer_text(bool has_id, int64 id, const char *key)
{
	if (has_id)
		return psprintf(INT64_FORMAT, id);
	return key ? loginas_log_text(key) : "-";
}

/*
 * loginas._log_refused(action text, message text, detail text, admin_id bigint,
 *						customer_id bigint, session_id bigint
 *						[, customer_key text]) -> void
 *
 * The server-log line of a refused begin, redeem or assume (loginas._refuse):
 *	 LOG:  loginas: begin refused: <message> <detail> (admin 1, customer 2, session -, role r)
 * one line whatever the texts hold.  The customer is its key when the key is
 * not an integer (customer_id NULL); before 1.3 there is no customer_key.
 */
Datum
loginas_log_refused(PG_FUNCTION_ARGS)
{
	char	   *action = optional_text(fcinfo, 0);
	char	   *message = optional_text(fcinfo, 1);
	char	   *detail = optional_text(fcinfo, 2);
	char	   *key = PG_NARGS() > 6 ? optional_text(fcinfo, 6) : NULL;
	char	   *role = GetUserNameFromId(GetSessionUserId(), true);

	loginas_require_owner(fcinfo, "loginas._log_refused()");
	error_context_stack = NULL;
	ereport(LOG,
			(errmsg("loginas: %s refused: %s%s%s (admin %s, customer %s, session %s, role %s)",
					loginas_log_text(action ? action : "-"),
					loginas_log_text(message ? message : ""),
					detail ? " " : "", detail ? loginas_log_text(detail) : "",
					optional_id(fcinfo, 3),
					customer_text(!PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4), key),
					optional_id(fcinfo, 5),
					role ? loginas_log_text(role) : "-"),
			 errhidestmt(true)));
	PG_RETURN_VOID();
}

/*
 * A refused write of a session on a tracked table (track.c, containment.c):
 * to the durable refusal log and the server log, like the SQL API's refusals.
 * customer_id is LOGINAS_NO_ID when the customer's key is not an integer:
 * the refusal then names the customer by customer_key (the session's, as
 * canonical text).
 */
void
loginas_log_write_refusal(int64 session_id, int64 admin_id, int64 customer_id,
						  const char *customer_key, const char *what, const char *relname)
{
	LoginAsRefusal r;

	memset(&r, 0, sizeof(r));
	r.action = "write";
	r.sqlstate = "42501";
	r.message = psprintf("%s on %s", what, relname);
	r.has_session = true;
	r.has_admin = admin_id != LOGINAS_NO_ID;
	r.has_customer = customer_id != LOGINAS_NO_ID;
	r.admin_id = admin_id;
	r.customer_id = r.has_customer ? customer_id : 0;
	/* the key only where customer_id cannot hold it (integer shops: as before) */
	r.customer_key = r.has_customer ? NULL : customer_key;
	r.session_id = session_id;
	loginas_queue_refusal_entry(&r);

	ereport(LOG,
			(errmsg("loginas: write refused: %s on %s (admin " INT64_FORMAT ", customer %s"
					", session " INT64_FORMAT ", role %s)",
					loginas_log_text(what), loginas_log_text(relname), admin_id,
					customer_text(r.has_customer, customer_id, r.customer_key),
					session_id, loginas_log_text(GetUserNameFromId(GetSessionUserId(), true))),
			 errhidestmt(true)));
}
