/*
 * viewlog.c
 *		Views of the log recorded in a transaction of their own (sql:
 *		loginas._append_committed, called by the reports' _as_admin halves).
 *
 * A report shown to an admin user through viewer_admin is logged as a
 * 'log_viewed' row, and a refused view as a 'log_view_refused' row.  Written
 * by the report itself, such a row belongs to the caller's transaction: a
 * ROLLBACK, a ROLLBACK TO SAVEPOINT or an error after the report would take
 * it back while the caller keeps the rows it was shown.  So the row is
 * written here, by a background worker, in a transaction of its own that
 * has committed before the report returns anything:
 *
 *	1. the caller (a report, running as the extension owner) puts the row's
 *	   values in a dynamic shared memory segment and starts a dynamic
 *	   background worker for its database (no shared_preload_libraries
 *	   needed), then waits for it to exit;
 *	2. the worker connects to that database (as the bootstrap superuser,
 *	   also when the database does not allow connections), pins its
 *	   settings -- search_path, synchronous_commit = on, read-write, READ
 *	   COMMITTED, lock_timeout, statement_timeout: nothing the database's
 *	   owner set with ALTER DATABASE ... SET changes what it does -- appends
 *	   the row and commits, then says so in the segment;
 *	3. the caller returns the row's log_id only when the worker said it
 *	   committed; otherwise it raises an error, and the report shows nothing.
 *
 * All views are appended to one hash chain of their own (loginas.shared_chain
 * names it): the worker locks that name's row, reads where the chain ends in
 * the log (or at its purge checkpoint) and continues it.  Concurrent views
 * wait for each other there, for the few milliseconds of an append.
 *
 * The caller waits without holding any lock the worker needs: the worker
 * touches only loginas' own tables, which the caller's roles cannot lock.
 * lock_timeout bounds the wait in any case (a superuser holding such a lock
 * gets an error, not a hang).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_append_committed);

#define SHARED_CHAIN		"log_views"
#define START_ATTEMPTS		50		/* no free worker slot: retry for ~5 s */
#define START_RETRY_MS		100
#define MESSAGE_LEN			512

typedef enum ViewLogStatus
{
	VIEWLOG_PENDING = 0,
	VIEWLOG_COMMITTED,
	VIEWLOG_FAILED
} ViewLogStatus;

/* the shared memory segment between the caller and its worker */
typedef struct ViewLogRequest
{
	Oid			dboid;
	Oid			nspoid;			/* schema loginas */
	volatile int status;		/* ViewLogStatus, set by the worker */
	int64		log_id;			/* when VIEWLOG_COMMITTED */
	char		sqlstate[6];	/* when VIEWLOG_FAILED */
	char		message[MESSAGE_LEN];
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* the values, datumSerialize()d */
} ViewLogRequest;

/* the types of loginas._append's arguments, in order (the keys last) */
static const Oid arg_types[LOGINAS_APPEND_NARGS] = {
	TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, INETOID, NAMEOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID
};

/* an error raised to the caller: loginas' own, without our PL/pgSQL frames */
static void
refuse(int code, const char *message, const char *detail, const char *hint)
{
	loginas_caller_context_only();
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/*
 * loginas._append_committed(the arguments of loginas._append, the keys
 *							  optional) -> bigint
 *
 * Appends the row in a transaction of its own, committed when this returns
 * (its log_id); an error when it could not be.  Internal: callable only as
 * the extension's owner.
 */
Datum
loginas_append_committed(PG_FUNCTION_ARGS)
{
	Datum		values[LOGINAS_APPEND_NARGS];
	bool		nulls[LOGINAS_APPEND_NARGS];
	int16		typlen[LOGINAS_APPEND_NARGS];
	bool		typbyval[LOGINAS_APPEND_NARGS];
	Size		size = offsetof(ViewLogRequest, data);
	dsm_segment *seg;
	ViewLogRequest *req;
	char	   *ptr;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle = NULL;
	BgwHandleStatus status;
	int			i;
	int			attempt;

	loginas_require_owner(fcinfo, "loginas._append_committed()");
	if (RecoveryInProgress())
		refuse(ERRCODE_READ_ONLY_SQL_TRANSACTION, "a view of the Login as Customer log cannot be recorded on a standby",
			   "Views through viewer_admin are recorded in the log before they are shown.",
			   "Show the report on the primary.");

	for (i = 0; i < LOGINAS_APPEND_NARGS; i++)
	{
		get_typlenbyval(arg_types[i], &typlen[i], &typbyval[i]);
		/* (before ALTER EXTENSION UPDATE to 1.3, _append_committed has no keys) */
		nulls[i] = i >= PG_NARGS() || PG_ARGISNULL(i);
		values[i] = nulls[i] ? (Datum) 0 : PG_GETARG_DATUM(i);
		if (!nulls[i] && typlen[i] == -1)
			values[i] = PointerGetDatum(PG_DETOAST_DATUM(values[i]));
		size = add_size(size, datumEstimateSpace(values[i], nulls[i], typbyval[i], typlen[i]));
	}

	seg = dsm_create(size, 0);
	req = dsm_segment_address(seg);
	memset(req, 0, offsetof(ViewLogRequest, data));
	req->dboid = MyDatabaseId;
	req->nspoid = get_func_namespace(fcinfo->flinfo->fn_oid);
	req->status = VIEWLOG_PENDING;
	ptr = req->data;
	for (i = 0; i < LOGINAS_APPEND_NARGS; i++)
		datumSerialize(values[i], nulls[i], typbyval[i], typlen[i], &ptr);

	loginas_worker_init(&worker, "loginas_viewlog_worker_main", "loginas view recorder");
	snprintf(worker.bgw_name, BGW_MAXLEN, "loginas view recorder for PID %d", MyProcPid);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	for (attempt = 1; !RegisterDynamicBackgroundWorker(&worker, &handle); attempt++)
	{
		if (attempt >= START_ATTEMPTS)
			refuse(ERRCODE_INSUFFICIENT_RESOURCES, "a view of the Login as Customer log cannot be recorded now",
				   "No background worker slot is free (max_worker_processes); the report was not shown.",
				   "Retry, or raise max_worker_processes.");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, START_RETRY_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	status = WaitForBackgroundWorkerShutdown(handle);
	if (status == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while loginas recorded a view of the log")));
	pg_read_barrier();
	if (req->status == VIEWLOG_COMMITTED)
	{
		int64		log_id = req->log_id;

		dsm_detach(seg);
		PG_RETURN_INT64(log_id);
	}
	else
	{
		char		message[MESSAGE_LEN + 64];
		int			code = ERRCODE_INTERNAL_ERROR;

		if (req->status == VIEWLOG_FAILED && strlen(req->sqlstate) == 5)
			code = MAKE_SQLSTATE(req->sqlstate[0], req->sqlstate[1], req->sqlstate[2],
								 req->sqlstate[3], req->sqlstate[4]);
		snprintf(message, sizeof(message), "%s",
				 req->status == VIEWLOG_FAILED ? req->message : "the recorder exited without recording it");
		dsm_detach(seg);
		refuse(code, "a view of the Login as Customer log could not be recorded", message,
			   "The report was not shown. Retry; the server log has the recorder's error.");
	}
	PG_RETURN_NULL();			/* not reached */
}

/* ------------------------------------------------------------------------
 * The worker
 * ------------------------------------------------------------------------
 */

/* one row of a query's result, or none */
static bool
spi_one(const char *sql, int nargs, Oid *types, Datum *args, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);

	if (rc != expect)
		elog(ERROR, "loginas view recorder: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/*
 * Continue the shared chain of the views: lock its name, find where it ends
 * (its newest row, else its purge checkpoint, else nothing: a new chain).
 */
static void
resume_shared_chain(Oid log_relid)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	int64		chain_id;
	int64		seq = 0;
	uint8		hash[PG_SHA256_DIGEST_LENGTH] = {0};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas view recorder: SPI_connect failed");
	spi_one("INSERT INTO loginas.shared_chain (name) VALUES ('" SHARED_CHAIN "') ON CONFLICT (name) DO NOTHING",
			0, NULL, NULL, SPI_OK_INSERT);
	if (!spi_one("SELECT chain_id FROM loginas.shared_chain"
				 " WHERE name OPERATOR(pg_catalog.=) '" SHARED_CHAIN "' FOR UPDATE",
				 0, NULL, NULL, SPI_OK_SELECT))
		elog(ERROR, "loginas view recorder: the shared chain \"%s\" is missing", SHARED_CHAIN);
	args[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		spi_one("INSERT INTO loginas.log_chain DEFAULT VALUES RETURNING chain_id", 0, NULL, NULL,
				SPI_OK_INSERT_RETURNING);
		chain_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		args[0] = Int64GetDatum(chain_id);
		spi_one("UPDATE loginas.shared_chain SET chain_id = $1 WHERE name OPERATOR(pg_catalog.=) '" SHARED_CHAIN "'",
				1, types, args, SPI_OK_UPDATE);
	}
	else
	{
		chain_id = DatumGetInt64(args[0]);
		if (spi_one("SELECT chain_seq, row_hash FROM loginas.action_log WHERE chain_id OPERATOR(pg_catalog.=) $1"
					" ORDER BY chain_seq DESC LIMIT 1", 1, types, args, SPI_OK_SELECT) ||
			spi_one("SELECT chain_seq, row_hash FROM loginas.log_checkpoint WHERE chain_id OPERATOR(pg_catalog.=) $1",
					1, types, args, SPI_OK_SELECT))
		{
			bytea	   *h;

			seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			/* a hash of another length was tampered with: verify_log() says so */
			memcpy(hash, VARDATA_ANY(h), Min(VARSIZE_ANY_EXHDR(h), sizeof(hash)));
		}
	}
	SPI_finish();
	loginas_chain_resume(log_relid, chain_id, seq, hash);
}

static int64
record_view(ViewLogRequest *req)
{
	Datum		values[LOGINAS_APPEND_NARGS];
	bool		nulls[LOGINAS_APPEND_NARGS];
	char	   *ptr = req->data;
	Oid			log_relid = get_relname_relid("action_log", req->nspoid);
	int			i;

	if (!OidIsValid(log_relid) || !OidIsValid(get_relname_relid("shared_chain", req->nspoid)))
		elog(ERROR, "loginas view recorder: loginas is not installed in database %u", req->dboid);
	for (i = 0; i < LOGINAS_APPEND_NARGS; i++)
		values[i] = datumRestore(&ptr, &nulls[i]);
	resume_shared_chain(log_relid);
	return loginas_append_values(req->nspoid, values, nulls, true, NULL);
}


void
loginas_viewlog_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	ViewLogRequest *req;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller gave up already: nothing to record */
	req = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(req->dboid, InvalidOid, BGWORKER_BYPASS_ALLOWCONN);
	/*
	 * whatever ALTER DATABASE ... SET or ALTER ROLE ... SET said (role and
	 * session_authorization included): the same settings as the refusal
	 * log's workers (refusal_queue.c)
	 */
	loginas_worker_session_settings("loginas view recorder", 60000, 10000);

	PG_TRY();
	{
		int64		log_id;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "recording a view of the Login as Customer log");
		log_id = record_view(req);
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		req->log_id = log_id;
		pg_write_barrier();
		req->status = VIEWLOG_COMMITTED;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		EmitErrorReport();
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		FlushErrorState();
		snprintf(req->sqlstate, sizeof(req->sqlstate), "%s", unpack_sql_state(edata->sqlerrcode));
		snprintf(req->message, sizeof(req->message), "%s", edata->message ? edata->message : "unknown error");
		pg_write_barrier();
		req->status = VIEWLOG_FAILED;
		AbortCurrentTransaction();
	}
	PG_END_TRY();

	dsm_detach(seg);
	proc_exit(0);
}
