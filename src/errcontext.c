/*
 * errcontext.c
 *		Which CONTEXT an error raised by loginas carries.
 *
 * An error loginas raises (a refusal, a missing binding, a second session in
 * one transaction) carries the CONTEXT of whoever called loginas -- the
 * shop's function, a DO block -- and none of the frames of loginas' own
 * functions, which are implementation: loginas_caller_context_only() cuts
 * the error context stack just outside the outermost loginas frame before
 * the error is raised.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "lib/stringinfo.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "loginas.h"

/*
 * Is this the CONTEXT line of a loginas function?  PL/pgSQL says
 * "PL/pgSQL function loginas.name(...) line N ..."; SQL functions say
 * 'SQL function "name" statement N' without their schema: such a name counts
 * when loginas has a function of that name.
 */
static bool
is_loginas_frame(const char *text)
{
	const char *prefix = "SQL function \"";
	Oid			nsp;
	char	   *name;
	char	   *end;
	CatCList   *list;
	bool		found = false;
	int			i;

	if (strstr(text, "function loginas.") != NULL)
		return true;
	if (strncmp(text, prefix, strlen(prefix)) != 0)
		return false;
	nsp = get_namespace_oid("loginas", true);
	if (!OidIsValid(nsp))
		return false;
	name = pstrdup(text + strlen(prefix));
	if ((end = strchr(name, '"')) == NULL)
		return false;
	*end = '\0';
	list = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(name));
	for (i = 0; i < list->n_members && !found; i++)
		found = ((Form_pg_proc) GETSTRUCT(&list->members[i]->tuple))->pronamespace == nsp;
	ReleaseSysCacheList(list);
	return found;
}

void
loginas_caller_context_only(void)
{
	ErrorContextCallback *frame;
	ErrorContextCallback *outside = error_context_stack;

	for (frame = error_context_stack; frame; frame = frame->previous)
	{
		ErrorContextCallback *previous = frame->previous;
		char	   *text;

		/* this frame's own text: the stack cut below it, for a moment */
		frame->previous = NULL;
		error_context_stack = frame;
		text = GetErrorContextStack();
		frame->previous = previous;
		if (text && is_loginas_frame(text))
			outside = previous;
	}
	error_context_stack = outside;
}
