/*
 * refusal_queue.c
 *		Refusals that survive the refused transaction: the durable refusal log.
 *
 * begin, redeem, assume and tracked writes refuse by raising an error, which
 * rolls back everything the caller's transaction wrote -- a row in
 * loginas.action_log included.  A security log must still show the failed
 * attempt.  loginas._queue_refusal() (and track.c, for refused writes) hand
 * the refusal to a queue outside any transaction; a background worker of the
 * refusal's database takes it off the queue and writes it as a 'failure' row
 * (loginas._log_refusal) in a transaction of its own.
 *
 * Only with loginas in shared_preload_libraries is there a queue: it lives in
 * shared memory.  Without it loginas_queue_refusal_entry() returns false and
 * the refusal reaches the server log only (the callers always log it there).
 *
 * The pieces:
 *
 *	queue	QUEUE_SIZE fixed-size slots in shared memory, under one LWLock.  A
 *			slot is FREE, QUEUED, or TAKEN by the worker writing it.  An entry
 *			leaves the queue (FREE) only after the transaction that wrote its
 *			row committed: a worker that dies mid-entry gives it back (QUEUED),
 *			so at worst a row is written twice, never lost.  When the queue is
 *			full the refusal is not queued: a WARNING says so, and the refusal
 *			goes to the server log only.
 *
 *	workers	one dynamic background worker per database with queued entries,
 *			started by the backend that queues (RegisterDynamicBackgroundWorker)
 *			and woken through its latch.  Per-database state in shared memory
 *			(DbWorker) makes sure only one runs per database.  A worker exits
 *			after IDLE_EXIT_MS without work; on SIGTERM (server shutdown,
 *			pg_terminate_backend) it first writes everything queued for its
 *			database.
 *
 *	launcher a static background worker, always running: it starts a worker
 *			for every database whose entries have none (after a restart, when
 *			no worker slot was free, when a worker could not connect).
 *
 *	file	what is still queued when the postmaster exits -- refusals queued
 *			during shutdown after their database's worker finished, or for a
 *			database whose worker never got to start -- is written to
 *			pg_stat/loginas_refusals.queue and read back into the queue at the
 *			next start (also across a crash restart: the postmaster writes the
 *			file before it re-creates shared memory).
 *
 * No ticket or session key ever enters an entry: an entry holds the action,
 * SQLSTATE, message and detail of the refusal (texts the callers build
 * without secrets), ids, the session user and the client address.
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/ip.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_queue_refusal);
PG_FUNCTION_INFO_V1(loginas_durable_refusals);

PGDLLEXPORT void loginas_refusal_worker_main(Datum main_arg);
PGDLLEXPORT void loginas_refusal_launcher_main(Datum main_arg);

#define QUEUE_SIZE			1024	/* refusals waiting to be written */
#define MAX_DB_WORKERS		64		/* databases with a worker at once */
#define TEXT_LEN			512		/* message, detail (bytes, with the NUL) */
#define ACTION_LEN			32
#define ADDR_LEN			64
#define MAX_ATTEMPTS		3		/* then the entry is dropped, with a LOG line */
#define FAILED_STARTS_MAX	3		/* a database a worker cannot connect to */
#define IDLE_EXIT_MS		10000	/* a worker exits after this long without work */
#define LAUNCHER_NAP_MS		10000	/* the launcher looks for orphaned entries */
#define START_GRACE_MS		30000	/* a requested worker that never showed up */
#define START_RETRY_MS		5000	/* times failed starts: before the next try */
#define RETRY_NAP_MS		1000	/* after an entry failed */

#define QUEUE_FILE			PGSTAT_STAT_PERMANENT_DIRECTORY "/loginas_refusals.queue"
#define QUEUE_FILE_TMP		QUEUE_FILE ".tmp"
#define QUEUE_FILE_MAGIC	0x4C415251	/* "LARQ" */
#define QUEUE_FILE_VERSION	2

/* one refusal, as written to the log */
typedef struct RefusalData
{
	Oid			dboid;
	TimestampTz refused_at;
	int64		admin_id;
	int64		customer_id;
	int64		session_id;
	bool		has_admin;
	bool		has_customer;
	bool		has_session;
	bool		has_detail;
	char		action[ACTION_LEN];
	char		sqlstate[6];
	NameData	db_role;
	char		client_addr[ADDR_LEN];	/* "" when none (unix socket, no port) */
	char		message[TEXT_LEN];
	char		detail[TEXT_LEN];
	bool		has_reason;
	bool		has_source;
	char		reason[TEXT_LEN];	/* the reason and source given to begin */
	char		source[TEXT_LEN];
} RefusalData;

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_QUEUED,
	SLOT_TAKEN
} SlotState;

typedef struct RefusalSlot
{
	SlotState	state;
	int			attempts;		/* failed writes so far */
	pid_t		taken_by;		/* the worker writing it (SLOT_TAKEN) */
	uint64		seq;			/* queue order */
	RefusalData data;
} RefusalSlot;

/* the worker of one database; slot unused when dboid is InvalidOid */
typedef struct DbWorker
{
	Oid			dboid;
	pid_t		pid;			/* 0: none running */
	Latch	   *latch;			/* valid while pid != 0 */
	bool		start_requested;
	TimestampTz requested_at;
	int			failed_starts;	/* workers that exited before connecting */
} DbWorker;

typedef struct RefusalQueue
{
	LWLock	   *lock;
	uint64		next_seq;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	DbWorker	workers[MAX_DB_WORKERS];
	RefusalSlot slots[QUEUE_SIZE];
} RefusalQueue;

typedef struct QueueFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		entry_size;
	uint32		count;
} QueueFileHeader;

static RefusalQueue *queue = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* in a worker */
static volatile sig_atomic_t shutdown_requested = false;
static Oid	worker_dboid = InvalidOid;
static bool worker_claimed = false;	/* this process owns its DbWorker */
static bool worker_connected = false;

/* ------------------------------------------------------------------------
 * Entries
 * ------------------------------------------------------------------------
 */

/* copy src into a buffer of len bytes, cut on a character boundary */
static void
clip_copy(char *dst, const char *src, int len)
{
	int			n;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	n = strlen(src);
	if (n >= len)
		n = pg_mbcliplen(src, n, len - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* the client's IP address, as inet_client_addr() gives it; "" for none */
static void
client_address(char *buf, size_t len)
{
	Port	   *port = MyProcPort;

	buf[0] = '\0';
	if (port == NULL)
		return;
	switch (port->raddr.addr.ss_family)
	{
		case AF_INET:
#ifdef HAVE_IPV6
		case AF_INET6:
#endif
			break;
		default:
			return;				/* unix socket */
	}
	if (pg_getnameinfo_all(&port->raddr.addr, port->raddr.salen, buf, len,
						   NULL, 0, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
	{
		buf[0] = '\0';
		return;
	}
	clean_ipv6_addr(port->raddr.addr.ss_family, buf);
}

static char *
id_text(bool has, int64 id)
{
	return has ? psprintf(INT64_FORMAT, id) : pstrdup("-");
}

/* the entry in words, for the server log (it has no secret) */
static char *
describe_entry(const RefusalData *d)
{
	return psprintf("%s refused at %s in database %u: %s%s%s (SQLSTATE %s; admin %s, customer %s, session %s, role %s, client %s)",
					d->action, timestamptz_to_str(d->refused_at), d->dboid,
					d->message, d->has_detail ? " " : "", d->has_detail ? d->detail : "",
					d->sqlstate,
					id_text(d->has_admin, d->admin_id),
					id_text(d->has_customer, d->customer_id),
					id_text(d->has_session, d->session_id),
					NameStr(d->db_role),
					d->client_addr[0] ? d->client_addr : "-");
}

/* ------------------------------------------------------------------------
 * Per-database workers (queue->lock held by the caller unless noted)
 * ------------------------------------------------------------------------
 */

static DbWorker *
find_db_worker(Oid dboid, bool create)
{
	DbWorker   *free_one = NULL;
	int			i;

	for (i = 0; i < MAX_DB_WORKERS; i++)
	{
		DbWorker   *w = &queue->workers[i];

		if (w->dboid == dboid)
			return w;
		if (w->dboid == InvalidOid && free_one == NULL)
			free_one = w;
	}
	if (!create || free_one == NULL)
		return NULL;
	memset(free_one, 0, sizeof(DbWorker));
	free_one->dboid = dboid;
	return free_one;
}

static bool
db_has_queued(Oid dboid)
{
	int			i;

	for (i = 0; i < QUEUE_SIZE; i++)
		if (queue->slots[i].state != SLOT_FREE && queue->slots[i].data.dboid == dboid)
			return true;
	return false;
}

/*
 * Make sure the database has a worker: wake the running one, or mark one as
 * requested and return true -- the caller then starts it, lock released.
 */
static bool
want_worker(Oid dboid)
{
	DbWorker   *w = find_db_worker(dboid, true);

	if (w == NULL)
	{
		/* every worker state is taken: the launcher tries again later */
		if (queue->launcher_latch)
			SetLatch(queue->launcher_latch);
		return false;
	}
	if (w->pid != 0)
	{
		SetLatch(w->latch);
		return false;
	}
	if (w->start_requested &&
		!TimestampDifferenceExceeds(w->requested_at, GetCurrentTimestamp(), START_GRACE_MS))
		return false;			/* on its way */
	if (w->failed_starts > 0 &&
		!TimestampDifferenceExceeds(w->requested_at, GetCurrentTimestamp(),
									START_RETRY_MS * w->failed_starts))
		return false;			/* the last one could not connect: not yet again */
	w->start_requested = true;
	w->requested_at = GetCurrentTimestamp();
	return true;
}

/* start the worker of a database (queue->lock NOT held) */
static void
start_worker(Oid dboid)
{
	BackgroundWorker worker;
	DbWorker   *w;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "loginas");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "loginas_refusal_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "loginas refusal log for database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "loginas refusal log");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;

	if (RegisterDynamicBackgroundWorker(&worker, NULL))
		return;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	w = find_db_worker(dboid, false);
	if (w != NULL && w->pid == 0)
		w->start_requested = false;
	LWLockRelease(queue->lock);
	ereport(LOG,
			(errmsg("loginas: could not start the refusal log worker for database %u", dboid),
			 errdetail("No background worker slot is free; the refusals stay queued and are retried."),
			 errhint("Raise max_worker_processes.")));
}

/* ------------------------------------------------------------------------
 * Queueing (any backend)
 * ------------------------------------------------------------------------
 */

/*
 * Hand a refusal to the durable refusal log: true when queued; false without
 * one (loginas not preloaded, or a standby) or when the queue is full.
 */
bool
loginas_queue_refusal_entry(const LoginAsRefusal *r)
{
	RefusalData d;
	RefusalSlot *slot = NULL;
	bool		start;
	int			i;

	if (queue == NULL || !OidIsValid(MyDatabaseId) || RecoveryInProgress())
		return false;

	memset(&d, 0, sizeof(d));
	d.dboid = MyDatabaseId;
	d.refused_at = GetCurrentTimestamp();
	clip_copy(d.action, r->action ? r->action : "refused", ACTION_LEN);
	clip_copy(d.sqlstate, r->sqlstate, sizeof(d.sqlstate));
	clip_copy(d.message, r->message ? r->message : "", TEXT_LEN);
	d.has_detail = r->detail != NULL;
	clip_copy(d.detail, r->detail, TEXT_LEN);
	d.has_admin = r->has_admin;
	d.admin_id = r->admin_id;
	d.has_customer = r->has_customer;
	d.customer_id = r->customer_id;
	d.has_session = r->has_session;
	d.session_id = r->session_id;
	{
		char	   *role = GetUserNameFromId(GetSessionUserId(), true);

		namestrcpy(&d.db_role, role ? role : "");
	}
	d.has_reason = r->reason != NULL;
	clip_copy(d.reason, r->reason, TEXT_LEN);
	d.has_source = r->source != NULL;
	clip_copy(d.source, r->source, TEXT_LEN);
	if (r->client_addr != NULL)
		clip_copy(d.client_addr, r->client_addr, ADDR_LEN);
	else
		client_address(d.client_addr, ADDR_LEN);

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < QUEUE_SIZE; i++)
	{
		if (queue->slots[i].state == SLOT_FREE)
		{
			slot = &queue->slots[i];
			break;
		}
	}
	if (slot == NULL)
	{
		LWLockRelease(queue->lock);
		ereport(WARNING,
				(errmsg("loginas: the durable refusal log is full; this refused %s went to the server log only",
						d.action),
				 errdetail("%d refusals are waiting to be written to loginas.action_log.", QUEUE_SIZE),
				 errhidestmt(true)));
		return false;
	}
	slot->data = d;
	slot->attempts = 0;
	slot->taken_by = 0;
	slot->seq = queue->next_seq++;
	slot->state = SLOT_QUEUED;
	start = want_worker(d.dboid);
	LWLockRelease(queue->lock);

	if (start)
		start_worker(d.dboid);
	return true;
}

/*
 * loginas._queue_refusal(action, sqlstate, message, detail, admin_id,
 *						   customer_id, session_id [, client_addr inet, reason text,
 *						   source text]) -> boolean
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
	/* the caller's client address (begin's/redeem's client_addr), if given */
	if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
		r.client_addr = DatumGetCString(DirectFunctionCall1(inet_out, PG_GETARG_DATUM(7)));
	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
		r.reason = text_to_cstring(PG_GETARG_TEXT_PP(8));
	if (PG_NARGS() > 9 && !PG_ARGISNULL(9))
		r.source = text_to_cstring(PG_GETARG_TEXT_PP(9));
	PG_RETURN_BOOL(loginas_queue_refusal_entry(&r));
}

/*
 * -> boolean: whether refusals are logged durably here (loginas preloaded,
 * not a standby).  For CREATE EXTENSION's warning and status displays.
 */
Datum
loginas_durable_refusals(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(queue != NULL && !RecoveryInProgress());
}

/* ------------------------------------------------------------------------
 * The worker of one database
 * ------------------------------------------------------------------------
 */

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* take this database's oldest queued entry; false when there is none */
static bool
take_next(RefusalData *out, int *slotno)
{
	RefusalSlot *best = NULL;
	int			i;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < QUEUE_SIZE; i++)
	{
		RefusalSlot *s = &queue->slots[i];

		if (s->state == SLOT_QUEUED && s->data.dboid == worker_dboid &&
			(best == NULL || s->seq < best->seq))
		{
			best = s;
			*slotno = i;
		}
	}
	if (best != NULL)
	{
		best->state = SLOT_TAKEN;
		best->taken_by = MyProcPid;
		*out = best->data;
	}
	LWLockRelease(queue->lock);
	return best != NULL;
}

/* the entry's row committed (or it is given up): off the queue */
static void
release_slot(int slotno)
{
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->slots[slotno].state = SLOT_FREE;
	queue->slots[slotno].taken_by = 0;
	LWLockRelease(queue->lock);
}

/* back on the queue after a failed write; false when it has had its attempts */
static bool
requeue_slot(int slotno)
{
	RefusalSlot *s = &queue->slots[slotno];
	bool		again;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	s->attempts++;
	again = s->attempts < MAX_ATTEMPTS;
	s->state = again ? SLOT_QUEUED : SLOT_FREE;
	s->taken_by = 0;
	LWLockRelease(queue->lock);
	return again;
}

/* nothing is queued for this database: give up the DbWorker, true to exit */
static bool
retire_if_idle(void)
{
	DbWorker   *w;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	if (db_has_queued(worker_dboid))
	{
		LWLockRelease(queue->lock);
		return false;
	}
	w = find_db_worker(worker_dboid, false);
	if (w != NULL && w->pid == MyProcPid)
		memset(w, 0, sizeof(DbWorker));
	worker_claimed = false;
	LWLockRelease(queue->lock);
	return true;
}

typedef enum WriteResult
{
	WRITE_DONE,
	WRITE_NO_EXTENSION,
	WRITE_FAILED
} WriteResult;

/*
 * Write one entry as a 'failure' row in a transaction of its own; an error
 * is caught and returned in *edata_out (in the caller's memory context).
 */
static WriteResult
write_entry(const RefusalData *d, ErrorData **edata_out)
{
	MemoryContext ctx = CurrentMemoryContext;
	volatile WriteResult result = WRITE_DONE;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		/* keep in step with loginas._log_refusal's signature (sql/) */
		static const char *sql =
			"SELECT loginas._log_refusal($1, $2, $3, $4, $5, $6, $7, $8, $9::pg_catalog.inet, $10, $11, $12)";
		Oid			argtypes[12] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT8OID, INT8OID, INT8OID, TEXTOID, NAMEOID, TEXTOID, TEXTOID};
		Datum		values[12];
		char		nulls[12];
		NameData	role = d->db_role;
		int			rc;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "loginas: writing a refusal to loginas.action_log");

		if (!OidIsValid(get_extension_oid("loginas", true)))
			result = WRITE_NO_EXTENSION;
		else
		{
			memset(nulls, ' ', sizeof(nulls));
			values[0] = TimestampTzGetDatum(d->refused_at);
			values[1] = CStringGetTextDatum(d->action);
			values[2] = CStringGetTextDatum(d->sqlstate);
			values[3] = CStringGetTextDatum(d->message);
			values[4] = d->has_detail ? CStringGetTextDatum(d->detail) : (Datum) 0;
			nulls[4] = d->has_detail ? ' ' : 'n';
			values[5] = Int64GetDatum(d->admin_id);
			nulls[5] = d->has_admin ? ' ' : 'n';
			values[6] = Int64GetDatum(d->customer_id);
			nulls[6] = d->has_customer ? ' ' : 'n';
			values[7] = Int64GetDatum(d->session_id);
			nulls[7] = d->has_session ? ' ' : 'n';
			values[8] = d->client_addr[0] ? CStringGetTextDatum(d->client_addr) : (Datum) 0;
			nulls[8] = d->client_addr[0] ? ' ' : 'n';
			values[9] = NameGetDatum(&role);
			values[10] = d->has_reason ? CStringGetTextDatum(d->reason) : (Datum) 0;
			nulls[10] = d->has_reason ? ' ' : 'n';
			values[11] = d->has_source ? CStringGetTextDatum(d->source) : (Datum) 0;
			nulls[11] = d->has_source ? ' ' : 'n';

			rc = SPI_execute_with_args(sql, 12, argtypes, values, nulls, false, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "loginas._log_refusal() failed: %s", SPI_result_code_string(rc));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		*edata_out = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		result = WRITE_FAILED;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(ctx);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/* the worker's exit: give back what it held; count a failed connection */
static void
worker_exit(int code, Datum arg)
{
	DbWorker   *w;
	RefusalData *dropped = NULL;
	int			ndropped = 0;
	bool		left = false;
	int			i;

	if (!worker_claimed || queue == NULL)
		return;
	LWLockReleaseAll();
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < QUEUE_SIZE; i++)
	{
		RefusalSlot *s = &queue->slots[i];

		if (s->state == SLOT_TAKEN && s->taken_by == MyProcPid)
		{
			s->state = SLOT_QUEUED;
			s->taken_by = 0;
		}
	}
	w = find_db_worker(worker_dboid, false);
	if (w != NULL && w->pid == MyProcPid)
	{
		w->pid = 0;
		w->latch = NULL;
		w->start_requested = false;
		if (!worker_connected && ++w->failed_starts >= FAILED_STARTS_MAX)
		{
			/* a database that cannot be connected to (dropped): give up its entries */
			dropped = malloc(sizeof(RefusalData) * QUEUE_SIZE);
			for (i = 0; i < QUEUE_SIZE; i++)
			{
				RefusalSlot *s = &queue->slots[i];

				if (s->state != SLOT_FREE && s->data.dboid == worker_dboid)
				{
					if (dropped)
						dropped[ndropped++] = s->data;
					s->state = SLOT_FREE;
				}
			}
			memset(w, 0, sizeof(DbWorker));
		}
		else if (!(left = db_has_queued(worker_dboid)))
			memset(w, 0, sizeof(DbWorker));
	}
	worker_claimed = false;
	/* entries left behind: the launcher starts another worker */
	if (left && queue->launcher_latch)
		SetLatch(queue->launcher_latch);
	LWLockRelease(queue->lock);

	for (i = 0; i < ndropped; i++)
		ereport(LOG,
				(errmsg("loginas: a refusal was not written to loginas.action_log: its database %u cannot be connected to",
						worker_dboid),
				 errdetail("%s", describe_entry(&dropped[i]))));
	if (dropped)
		free(dropped);
}

void
loginas_refusal_worker_main(Datum main_arg)
{
	DbWorker   *w;
	MemoryContext work_ctx;
	TimestampTz idle_since;
	bool		owner;

	worker_dboid = DatumGetObjectId(main_arg);
	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (queue == NULL)
		proc_exit(0);

	/* one worker per database: claim its state, or leave */
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	w = find_db_worker(worker_dboid, true);
	owner = w != NULL && w->pid == 0;
	if (owner)
	{
		w->pid = MyProcPid;
		w->latch = MyLatch;
		w->start_requested = false;
		worker_claimed = true;
	}
	LWLockRelease(queue->lock);
	if (!owner)
		proc_exit(0);
	before_shmem_exit(worker_exit, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(worker_dboid, InvalidOid, 0);
	worker_connected = true;
	/* it runs as the bootstrap superuser: resolve nothing in users' schemas */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "loginas refusal log", PGC_USERSET, PGC_S_OVERRIDE);
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	w->failed_starts = 0;
	LWLockRelease(queue->lock);

	work_ctx = AllocSetContextCreate(TopMemoryContext, "loginas refusal log",
									 ALLOCSET_DEFAULT_SIZES);
	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		RefusalData d;
		int			slotno;
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(work_ctx);
		MemoryContextReset(work_ctx);

		if (take_next(&d, &slotno))
		{
			ErrorData  *edata = NULL;

			switch (write_entry(&d, &edata))
			{
				case WRITE_DONE:
					release_slot(slotno);
					break;
				case WRITE_NO_EXTENSION:
					release_slot(slotno);
					ereport(LOG,
							(errmsg("loginas: a refusal was not written to loginas.action_log: the extension loginas is not installed in database %u",
									worker_dboid),
							 errdetail("%s", describe_entry(&d))));
					break;
				case WRITE_FAILED:
					{
						bool		again = requeue_slot(slotno);

						ereport(LOG,
								(errmsg("loginas: could not write a refusal to loginas.action_log: %s",
										edata->message),
								 errdetail("%s; %s", describe_entry(&d),
										   again ? "it will be tried again" :
										   "it was tried " CppAsString2(MAX_ATTEMPTS) " times and is dropped from the queue")));
						if (again && !shutdown_requested)
						{
							(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
											 RETRY_NAP_MS, PG_WAIT_EXTENSION);
							ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();	/* absorbs ProcSignalBarriers (DROP DATABASE waits for them) */
						}
					}
					break;
			}
			idle_since = GetCurrentTimestamp();
			continue;
		}

		/* nothing queued for this database */
		if (shutdown_requested)
		{
			if (retire_if_idle())
				proc_exit(0);
			continue;
		}
		wait_ms = IDLE_EXIT_MS -
			(long) ((GetCurrentTimestamp() - idle_since) / 1000);
		if (wait_ms <= 0)
		{
			if (retire_if_idle())
				proc_exit(0);
			idle_since = GetCurrentTimestamp();
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();	/* absorbs ProcSignalBarriers (DROP DATABASE waits for them) */
	}
}

/* ------------------------------------------------------------------------
 * The launcher: a worker for every database whose entries have none
 * ------------------------------------------------------------------------
 */

static void
launcher_exit(int code, Datum arg)
{
	if (queue == NULL)
		return;
	LWLockReleaseAll();
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	if (queue->launcher_pid == MyProcPid)
	{
		queue->launcher_pid = 0;
		queue->launcher_latch = NULL;
	}
	LWLockRelease(queue->lock);
}

void
loginas_refusal_launcher_main(Datum main_arg)
{
	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (queue == NULL)
		proc_exit(0);
	/* no database: only so that it shows in pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	before_shmem_exit(launcher_exit, (Datum) 0);
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->launcher_pid = MyProcPid;
	queue->launcher_latch = MyLatch;
	LWLockRelease(queue->lock);

	while (!shutdown_requested)
	{
		Oid			start[MAX_DB_WORKERS];
		int			nstart = 0;
		int			i;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		for (i = 0; i < QUEUE_SIZE && nstart < MAX_DB_WORKERS; i++)
		{
			RefusalSlot *s = &queue->slots[i];
			int			j;
			bool		seen = false;

			if (s->state != SLOT_QUEUED)
				continue;
			for (j = 0; j < nstart; j++)
				seen |= start[j] == s->data.dboid;
			if (!seen && want_worker(s->data.dboid))
				start[nstart++] = s->data.dboid;
		}
		LWLockRelease(queue->lock);
		for (i = 0; i < nstart; i++)
			start_worker(start[i]);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();	/* absorbs ProcSignalBarriers (DROP DATABASE waits for them) */
	}
	/* exit status 1: the postmaster starts it again unless it is shutting down */
	proc_exit(1);
}

/* ------------------------------------------------------------------------
 * Shared memory, and the file that carries the queue across a restart
 * ------------------------------------------------------------------------
 */

static void
refusal_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RefusalQueue)));
	RequestNamedLWLockTranche("loginas", 1);
}

/*
 * At postmaster exit -- shutdown, or before shared memory is re-created after
 * a crash -- keep what is still queued.  Every other process is gone by then,
 * so no lock is taken (the postmaster could not take one anyway).  After a
 * crash, only entries completely queued count: a slot becomes QUEUED only
 * once its data is in place.
 */
static void
refusal_shmem_exit(int code, Datum arg)
{
	FILE	   *file;
	QueueFileHeader hdr;
	pg_crc32c	crc;
	int			i;
	uint32		count = 0;

	if (queue == NULL || IsUnderPostmaster)
		return;
	for (i = 0; i < QUEUE_SIZE; i++)
		if (queue->slots[i].state == SLOT_QUEUED || queue->slots[i].state == SLOT_TAKEN)
			count++;
	if (count == 0)
		return;

	file = AllocateFile(QUEUE_FILE_TMP, PG_BINARY_W);
	if (file == NULL)
		goto error;
	hdr.magic = QUEUE_FILE_MAGIC;
	hdr.version = QUEUE_FILE_VERSION;
	hdr.entry_size = sizeof(RefusalData);
	hdr.count = count;
	if (fwrite(&hdr, sizeof(hdr), 1, file) != 1)
		goto error;
	INIT_CRC32C(crc);
	/* in queue order is not needed: each entry keeps its time */
	for (i = 0; i < QUEUE_SIZE; i++)
	{
		RefusalSlot *s = &queue->slots[i];
		RefusalData d;

		if (s->state != SLOT_QUEUED && s->state != SLOT_TAKEN)
			continue;
		d = s->data;
		/* a crash may have left anything here: make the strings strings */
		d.action[ACTION_LEN - 1] = '\0';
		d.sqlstate[sizeof(d.sqlstate) - 1] = '\0';
		d.db_role.data[NAMEDATALEN - 1] = '\0';
		d.client_addr[ADDR_LEN - 1] = '\0';
		d.message[TEXT_LEN - 1] = '\0';
		d.detail[TEXT_LEN - 1] = '\0';
		COMP_CRC32C(crc, &d, sizeof(d));
		if (fwrite(&d, sizeof(d), 1, file) != 1)
			goto error;
	}
	FIN_CRC32C(crc);
	if (fwrite(&crc, sizeof(crc), 1, file) != 1)
		goto error;
	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	file = NULL;
	if (durable_rename(QUEUE_FILE_TMP, QUEUE_FILE, LOG) != 0)
		goto error;
	ereport(LOG,
			(errmsg("loginas: %u queued refusals kept in \"%s\" for the next start", count, QUEUE_FILE)));
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("loginas: could not write file \"%s\": %m; %u queued refusals were not written to loginas.action_log",
					QUEUE_FILE_TMP, count)));
	if (file)
		FreeFile(file);
	unlink(QUEUE_FILE_TMP);
}

/* read the refusals a previous postmaster kept (postmaster, at startup) */
static void
load_queue_file(void)
{
	FILE	   *file;
	QueueFileHeader hdr;
	RefusalData *entries = NULL;
	pg_crc32c	crc,
				stored;
	uint32		i;
	uint32		loaded = 0;

	file = AllocateFile(QUEUE_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("loginas: could not read file \"%s\": %m", QUEUE_FILE)));
		return;
	}
	if (fread(&hdr, sizeof(hdr), 1, file) != 1 ||
		hdr.magic != QUEUE_FILE_MAGIC || hdr.version != QUEUE_FILE_VERSION ||
		hdr.entry_size != sizeof(RefusalData) || hdr.count > 1000000)
		goto bad;
	entries = palloc(sizeof(RefusalData) * Max(hdr.count, 1));
	INIT_CRC32C(crc);
	for (i = 0; i < hdr.count; i++)
	{
		if (fread(&entries[i], sizeof(RefusalData), 1, file) != 1)
			goto bad;
		COMP_CRC32C(crc, &entries[i], sizeof(RefusalData));
	}
	FIN_CRC32C(crc);
	if (fread(&stored, sizeof(stored), 1, file) != 1 || !EQ_CRC32C(crc, stored))
		goto bad;
	FreeFile(file);

	for (i = 0; i < hdr.count; i++)
	{
		if (loaded < QUEUE_SIZE)
		{
			RefusalSlot *s = &queue->slots[loaded++];

			s->data = entries[i];
			s->attempts = 0;
			s->taken_by = 0;
			s->seq = queue->next_seq++;
			s->state = SLOT_QUEUED;
		}
		else
			ereport(LOG,
					(errmsg("loginas: a kept refusal does not fit in the queue and was not written to loginas.action_log"),
					 errdetail("%s", describe_entry(&entries[i]))));
	}
	pfree(entries);
	unlink(QUEUE_FILE);
	ereport(LOG,
			(errmsg("loginas: %u refusals kept from before the restart are queued again", loaded)));
	return;

bad:
	FreeFile(file);
	if (entries)
		pfree(entries);
	ereport(LOG,
			(errmsg("loginas: ignoring the invalid file \"%s\"", QUEUE_FILE)));
	unlink(QUEUE_FILE);
}

static void
refusal_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	queue = ShmemInitStruct("loginas refusal queue", sizeof(RefusalQueue), &found);
	if (!found)
	{
		memset(queue, 0, sizeof(RefusalQueue));
		queue->lock = &(GetNamedLWLockTranche("loginas"))->lock;
		queue->next_seq = 1;
	}
	LWLockRelease(AddinShmemInitLock);

	if (!IsUnderPostmaster)
	{
		on_shmem_exit(refusal_shmem_exit, (Datum) 0);
		if (!found)
			load_queue_file();
	}
}

/* _PG_init: the queue, its launcher -- only when loaded at server start */
void
loginas_refusal_queue_init(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = refusal_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = refusal_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "loginas");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "loginas_refusal_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "loginas refusal log launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "loginas refusal log launcher");
	RegisterBackgroundWorker(&worker);
}
