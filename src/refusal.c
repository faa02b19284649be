/*
 * refusal.c
 *		How loginas says no.
 *
 * Every refusal of the SQL API (a check that fails, a bad parameter) ends in
 * loginas._raise(sqlstate, message, detail, hint), which raises the error
 * with ereport() exactly as a built-in function would: the SQLSTATE the
 * caller can act on, a message in PostgreSQL style, and the detail and hint
 * only when there is one.  The PL/pgSQL call chain that led here is internal,
 * so it is left out of the error's CONTEXT: clients see the refusal, not our
 * implementation.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/elog.h"

PG_FUNCTION_INFO_V1(loginas_raise);

static char *
optional_text(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * loginas._raise(sqlstate text, message text, detail text, hint text)
 */
Datum
loginas_raise(PG_FUNCTION_ARGS)
{
	char	   *state = optional_text(fcinfo, 0);
	char	   *message = optional_text(fcinfo, 1);
	char	   *detail = optional_text(fcinfo, 2);
	char	   *hint = optional_text(fcinfo, 3);
	int			code;

	if (state == NULL || strlen(state) != 5 ||
		strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
		elog(ERROR, "loginas: invalid SQLSTATE \"%s\"", state ? state : "(null)");
	code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);

	/* the PL/pgSQL frames below us are implementation, not context */
	error_context_stack = NULL;

	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message ? message : "Login as Customer refused"),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));

	PG_RETURN_VOID();			/* not reached */
}
