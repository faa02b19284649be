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
 * A customer or an admin as the server-log lines name it: the integer id,
 * else the key of any type (loginas_log_key), else "-"
 */
static const char *
party_text(bool has_id, int64 id, const char *key)
{
	if (has_id)
		return psprintf(INT64_FORMAT, id);
	return key ? loginas_log_key(key) : "-";
}

/*
 * loginas._log_refused(action text, message text, detail text, admin_id bigint,
 *						customer_id bigint, session_id bigint
 *						[, customer_key text [, admin_key text]]) -> void
 *
 * The server-log line of a refused begin, redeem or assume (loginas._refuse):
 *	 LOG:  loginas: begin refused: <message> <detail> (admin 1, customer 2, session -, role r)
 * one line whatever the texts hold.  The customer (the admin) is its key when
 * the key is not an integer (customer_id, admin_id NULL); before 1.3 there is
 * no customer_key, admin_key.
 */
Datum
loginas_log_refused(PG_FUNCTION_ARGS)
{
	char	   *action = optional_text(fcinfo, 0);
	char	   *message = optional_text(fcinfo, 1);
	char	   *detail = optional_text(fcinfo, 2);
	char	   *customer_key = PG_NARGS() > 6 ? optional_text(fcinfo, 6) : NULL;
	char	   *admin_key = PG_NARGS() > 7 ? optional_text(fcinfo, 7) : NULL;
	char	   *role = GetUserNameFromId(GetSessionUserId(), true);

	loginas_require_owner(fcinfo, "loginas._log_refused()");
	error_context_stack = NULL;
	ereport(LOG,
			(errmsg("loginas: %s refused: %s%s%s (admin %s, customer %s, session %s, role %s)",
					loginas_log_text(action ? action : "-"),
					loginas_log_text(message ? message : ""),
					detail ? " " : "", detail ? loginas_log_text(detail) : "",
					party_text(!PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3), admin_key),
					party_text(!PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4), customer_key),
					optional_id(fcinfo, 5),
					role ? loginas_log_text(role) : "-"),
			 errhidestmt(true)));
	PG_RETURN_VOID();
}

/*
 * The writer of the context's session, its keys copied into the current
 * memory context (a touched row keeps it until the transaction's end)
 */
void
loginas_writer_of(LoginAsWriter *w, const LoginAsContext *ctx)
{
	memset(w, 0, sizeof(LoginAsWriter));
	w->session_id = ctx->session_id;
	w->has_admin_id = ctx->has_admin_id;
	w->admin_id = ctx->admin_id;
	w->has_customer_id = ctx->has_customer_id;
	w->customer_id = ctx->customer_id;
	w->has_store_id = ctx->has_store_id;
	w->admin_key = ctx->admin_key ? pstrdup(ctx->admin_key) : NULL;
	w->customer_key = ctx->customer_key ? pstrdup(ctx->customer_key) : NULL;
	w->store_key = ctx->store_key ? pstrdup(ctx->store_key) : NULL;
}

/*
 * A refused write of a session on a tracked table (track.c, containment.c):
 * to the durable refusal log and the server log, like the SQL API's refusals.
 * The admin, customer and store view are named by their ids where their keys
 * are integers, else by their keys (canonical text); an integer shop's
 * entries are what they were.
 */
void
loginas_log_write_refusal(const LoginAsWriter *w, const char *what, const char *relname)
{
	LoginAsRefusal r;

	memset(&r, 0, sizeof(r));
	r.action = "write";
	r.sqlstate = "42501";
	r.message = psprintf("%s on %s", what, relname);
	r.has_session = true;
	r.has_admin = w->has_admin_id;
	r.has_customer = w->has_customer_id;
	r.admin_id = r.has_admin ? w->admin_id : 0;
	r.customer_id = r.has_customer ? w->customer_id : 0;
	/* the keys only where the ids cannot hold them (integer shops: as before) */
	r.admin_key = r.has_admin ? NULL : w->admin_key;
	r.customer_key = r.has_customer ? NULL : w->customer_key;
	r.store_key = w->has_store_id ? NULL : w->store_key;
	r.session_id = w->session_id;
	loginas_queue_refusal_entry(&r);

	ereport(LOG,
			(errmsg("loginas: write refused: %s on %s (admin %s, customer %s"
					", session " INT64_FORMAT ", role %s)",
					loginas_log_text(what), loginas_log_text(relname),
					party_text(r.has_admin, w->admin_id, r.admin_key),
					party_text(r.has_customer, w->customer_id, r.customer_key),
					w->session_id, loginas_log_text(GetUserNameFromId(GetSessionUserId(), true))),
			 errhidestmt(true)));
}
