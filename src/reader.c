/*
 * reader.c
 *		Reading the shop's bound relations, as the powerless role loginas_reader.
 *
 * loginas reads the customers, admins, store views and documents the shop
 * bound (loginas.bind) through views and tables the shop controls.  Whatever
 * such a view or a column's type calls must not run with the rights of the
 * extension owner, nor leave anything behind in the caller's session.  So
 * loginas._read_bound() runs its query the way PostgreSQL runs untrusted
 * code in REFRESH MATERIALIZED VIEW or an index expression:
 *
 *	- as loginas_reader, a NOLOGIN role granted to nobody that may only read
 *	  what the shop granted it;
 *	- as a security-restricted operation: no temporary objects, no SET ROLE;
 *	- in its own GUC nesting level, undone afterwards: a set_config() in a
 *	  view does not outlive the read.
 *
 * Errors of the read lose loginas' internal query as their CONTEXT; a missing
 * grant says which grant is missing.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_read_bound);

/*
 * loginas._read_bound(sql text, id bigint, relation regclass) -> jsonb
 *
 * Runs sql (one jsonb column, at most one row; $1 = id) as loginas_reader.
 */
Datum
loginas_read_bound(PG_FUNCTION_ARGS)
{
	char	   *sql;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	char		nulls[1];
	Oid			reader;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	volatile Datum result = (Datum) 0;
	volatile bool isnull = true;
	MemoryContext caller_cxt = CurrentMemoryContext;

	loginas_require_owner(fcinfo, "loginas._read_bound()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args[0] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[0] = PG_ARGISNULL(1) ? 'n' : ' ';
	reader = get_role_oid("loginas_reader", false);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(reader, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();

	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		if (SPI_execute_with_args(sql, 1, argtypes, args, nulls, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "loginas: reading a bound relation failed");
		if (SPI_processed == 1)
		{
			bool		null;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null);

			if (!null)
				result = SPI_datumTransfer(d, false, -1);
			isnull = null;
		}
		SPI_finish();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		Oid			relid = PG_GETARG_OID(2);

		MemoryContextSwitchTo(caller_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AtEOXact_GUC(false, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);

		/* loginas' internal query is not the caller's business */
		edata->context = NULL;
		edata->internalquery = NULL;
		edata->internalpos = 0;
		if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE && edata->hint == NULL &&
			edata->message && strncmp(edata->message, "permission denied for", 21) == 0)
		{
			char	   *nsp = get_namespace_name(get_rel_namespace(relid));

			edata->detail = pstrdup("loginas reads bound relations as the role loginas_reader, which is granted to nobody.");
			edata->hint = psprintf("GRANT USAGE ON SCHEMA %s TO loginas_reader; GRANT SELECT ON %s TO loginas_reader;",
								   quote_identifier(nsp ? nsp : "?"),
								   quote_qualified_identifier(nsp, get_rel_name(relid)));
		}
		ReThrowError(edata);
	}
	PG_END_TRY();

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
