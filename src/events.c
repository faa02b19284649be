/*
 * events.c
 *		The live event of a refusal, sent once the refusal is recorded.
 *
 * Live events are NOTIFYs on the channel of the setting notify_channel
 * (sql: 05_events.sql).  Tickets, sessions and reverts announce themselves
 * in their own transaction, so they are delivered when it commits and never
 * when it rolls back.  A refusal's transaction rolls back: its event is sent
 * by the durable refusal log's worker (refusal_queue.c), after the
 * transaction that wrote the refusal's failure row committed, in a
 * transaction of its own (loginas._notify_refusal reads that row and sends
 * what it may carry).  So a listener hears of a refusal only once it is in
 * the log, and nothing about the announcement -- a NOTIFY that fails, a
 * queue too full, a lock wait at commit -- can cost the row: a failed
 * announcement is a LOG line and nothing else (it is not tried again; the
 * row is the record, the event a signal).
 *
 * A schema older than 1.3 has no loginas._notify_refusal: nothing is sent.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "loginas.h"

/*
 * Announce the refusal recorded as log row log_id (the caller's write of it
 * has committed), in a transaction of its own bounded by timeout_ms.
 */
void
loginas_announce_refusal(int64 log_id, int timeout_ms)
{
	MemoryContext ctx = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1];
		List	   *name;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "loginas: announcing a refusal");
		enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms);
		name = list_make2(makeString("loginas"), makeString("_notify_refusal"));
		if (OidIsValid(get_extension_oid("loginas", true)) &&
			OidIsValid(LookupFuncName(name, 1, argtypes, true)))
		{
			values[0] = Int64GetDatum(log_id);
			if (SPI_execute_with_args("SELECT loginas._notify_refusal($1)", 1, argtypes, values, NULL,
									  false, 0) != SPI_OK_SELECT)
				elog(ERROR, "loginas._notify_refusal() failed");
		}
		disable_timeout(STATEMENT_TIMEOUT, false);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("loginas: a refusal was recorded but not announced: %s",
						loginas_log_text(edata->message)),
				 errdetail("The refusal is row " INT64_FORMAT " of loginas.action_log.", log_id)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(ctx);
	pgstat_report_activity(STATE_IDLE, NULL);
}
