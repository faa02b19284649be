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
 * The pieces, and what each owns:
 *
 *	queue	QUEUE_SIZE fixed-size slots in shared memory, under one LWLock.  A
 *			slot is FREE, QUEUED, or TAKEN by the worker writing it.  An entry
 *			leaves the queue (FREE) only after the transaction that wrote its
 *			row committed: a worker that dies mid-entry gives it back (QUEUED),
 *			so at worst a row is written twice, never lost.  When the queue is
 *			full the refusal is not queued: a WARNING says so, and the refusal
 *			goes to the server log only.
 *
 *	shares	one backend holds at most BACKEND_SHARE entries: the refusals it
 *			makes beyond them are counted into one summary entry per action
 *			(RefusalData.coalesced), written as one row with the count, so
 *			a backend that floods the queue cannot crowd out the refusals of
 *			others, and what it floods with is still accounted for.
 *
 *	workers	one dynamic background worker per database with queued entries,
 *			started by the backend that queues or by the launcher, and woken
 *			through its latch.  Per-database state in shared memory
 *			(DbWorker, held from the request until the worker exits) makes sure
 *			only one runs per database.  Databases can outnumber worker slots:
 *			they take turns -- a worker whose database has nothing due exits
 *			when another database waits (else after IDLE_EXIT_MS), and one that
 *			has written for TURN_MS gives way as well.  A worker dies on SIGTERM
 *			like any backend, also inside the shop's code; its entry stays
 *			queued.  Its session takes nothing a database owner can set
 *			against it (worker_session_settings), its writes are bounded by
 *			statement_timeout and lock_timeout, and its reads of bound
 *			relations by reader.c's bounds: a refusal whose names cannot be
 *			read is written without them.
 *
 *	retries	a failed write is tried again RETRY_MS later, then twice that,
 *			MAX_ATTEMPTS times in all, then dropped with a LOG line; a write
 *			that failed on a lock or a timeout is retried without counting,
 *			spaced up to BUSY_RETRY_MAX_MS.  Each entry keeps when it may be
 *			tried next (not_before), so the entries behind it go on.
 *
 *	launcher a static background worker, always running: it starts a worker
 *			for every database whose due entries have none, oldest first
 *			(after a restart, when no worker slot was free, when a worker
 *			could not connect or gave way).  With no background worker slot
 *			free, nobody tries again before a backoff of 100 ms doubling up to
 *			START_BACKOFF_MAX_MS, and the LOG line saying so is written at most
 *			once per START_FAILURE_LOG_MS.
 *
 *	file	what is still queued when the postmaster exits -- refusals a worker
 *			was ended before writing, refusals queued during shutdown, or for
 *			a database whose worker never got to start -- is written to
 *			pg_stat/loginas_refusals.queue and read back into the queue at the
 *			next start (also across a crash restart: the postmaster writes the
 *			file before it re-creates shared memory).
 *
 * No ticket or session key ever enters an entry: an entry holds the action,
 * SQLSTATE, message and detail of the refusal (texts the callers build
 * without secrets), ids (an admin or customer whose key is not an integer:
 * its key; a store view's key when it is not an integer), the session user
 * and the client address.  What goes to the server log is
 * escaped (loginas_log_text).
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/ip.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
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
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_queue_refusal);
PG_FUNCTION_INFO_V1(loginas_durable_refusals);

PGDLLEXPORT void loginas_refusal_worker_main(Datum main_arg);
PGDLLEXPORT void loginas_refusal_launcher_main(Datum main_arg);

#define QUEUE_SIZE			1024	/* refusals waiting to be written */
#define BACKEND_SHARE		64		/* entries one backend may hold; beyond: summaries */
#define MAX_DB_WORKERS		64		/* databases with a worker (running or requested) at once */
#define TEXT_LEN			512		/* message, detail (bytes, with the NUL) */
#define KEY_LEN				(LOGINAS_MAX_KEY_BYTES + 1)	/* a key: any key, whole, with the NUL */
#define ACTION_LEN			32
#define ADDR_LEN			64
#define MAX_ATTEMPTS		3		/* failed writes; then the entry is dropped, with a LOG line */
#define RETRY_MS			1000	/* after a failed write: then 2x, ... */
#define BUSY_RETRY_MAX_MS	30000	/* a write that met a lock or a timeout: at most this apart */
#define FAILED_STARTS_MAX	3		/* workers that could not connect to the database */
#define START_RETRY_MS		5000	/* after one could not connect: times the failures */
#define IDLE_EXIT_MS		10000	/* a worker with nothing to do exits after this */
#define TURN_MS				5000	/* a worker gives way after this when others wait */
#define LAUNCHER_NAP_MS		10000	/* the launcher looks for orphaned entries */
#define START_GRACE_MS		30000	/* a requested worker that never showed up */
#define START_BACKOFF_MIN_MS 100	/* no background worker slot: first wait */
#define START_BACKOFF_MAX_MS 5000	/* ... doubling up to */
#define START_FAILURE_LOG_MS 60000	/* at most one "could not start" line per */
#define WRITE_TIMEOUT_MS	15000	/* statement_timeout of one write */
#define LOCK_TIMEOUT_MS		5000	/* lock_timeout of the worker */
#define READ_CANCEL_MS		2000	/* a read of a bound relation is canceled after */
#define READ_END_MS			5000	/* ... and ends the worker if it goes on */
#define READ_PAUSE_MS		60000	/* after a canceled read: no reads for */

#define QUEUE_FILE			PGSTAT_STAT_PERMANENT_DIRECTORY "/loginas_refusals.queue"
#define QUEUE_FILE_TMP		QUEUE_FILE ".tmp"
#define QUEUE_FILE_MAGIC	0x4C415251	/* "LARQ" */
#define QUEUE_FILE_VERSION	5		/* 2: without coalesced, last_refused_at;
									 * 3: without customer_key;
									 * 4: customer_key of V4_KEY_LEN bytes, without
									 * admin_key, store_key */

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
	/* since file version 3 (version 2 entries end here) */
	int64		coalesced;		/* 0: one refusal; N: a summary of N refusals
								 * (the first one's texts and ids) */
	TimestampTz last_refused_at;	/* a summary's last refusal */
	/* since file version 4 (version 3 entries end here) */
	char		customer_key[KEY_LEN];	/* the customer's key, when it is not an
										 * integer (has_customer false) */
	bool		has_customer_key;
	/* since file version 5 */
	char		admin_key[KEY_LEN];	/* the admin's key, when it is not an
									 * integer (has_admin false) */
	bool		has_admin_key;
	char		store_key[KEY_LEN];	/* the store view's key, when it is not an
									 * integer */
	bool		has_store_key;
} RefusalData;

/*
 * The entries of older files: versions 2 and 3 are the first part of ours;
 * version 4 ends with a customer_key of V4_KEY_LEN bytes and its flag,
 * padded as the struct was
 */
#define REFUSAL_DATA_V2_SIZE	offsetof(RefusalData, coalesced)
#define REFUSAL_DATA_V3_SIZE	offsetof(RefusalData, customer_key)
#define V4_KEY_LEN				512
#define REFUSAL_DATA_V4_SIZE	MAXALIGN(REFUSAL_DATA_V3_SIZE + V4_KEY_LEN + sizeof(bool))

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_QUEUED,
	SLOT_TAKEN
} SlotState;

typedef struct RefusalSlot
{
	SlotState	state;
	int			attempts;		/* failed writes that count towards MAX_ATTEMPTS */
	int			busy_retries;	/* failed writes that do not (locks, timeouts) */
	int			failed_starts;	/* workers of its database that could not connect */
	bool		skip_reads;		/* write it without reading bound relations */
	pid_t		taken_by;		/* the worker writing it (SLOT_TAKEN) */
	pid_t		queued_by;		/* the backend whose share it is in */
	TimestampTz not_before;		/* not to be tried before this (0: at once) */
	uint64		seq;			/* queue order */
	RefusalData data;
} RefusalSlot;

/* the worker of one database, from its request on; unused when dboid is InvalidOid */
typedef struct DbWorker
{
	Oid			dboid;
	pid_t		pid;			/* 0: requested, not running yet */
	Latch	   *latch;			/* valid while pid != 0 */
	TimestampTz requested_at;
} DbWorker;

typedef struct RefusalQueue
{
	LWLock	   *lock;
	uint64		next_seq;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	/* no background worker slot was free: no start is tried before */
	TimestampTz start_blocked_until;
	int			start_backoff_ms;	/* the last wait (0: the last start worked) */
	TimestampTz start_failure_logged_at;	/* the last "could not start" line */
	int64		start_failures_unlogged;	/* failed starts since */
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

/* in a worker, or the launcher */
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

/* the admin or customer: the integer id, else the key of any type (loginas_log_key), else "-" */
static char *
party_text(bool has_id, int64 id, bool has_key, const char *key)
{
	if (!has_id && has_key)
		return loginas_log_key(key);
	return id_text(has_id, id);
}

/* the entry in words, for the server log (it has no secret; escaped) */
static char *
describe_entry(const RefusalData *d)
{
	return psprintf("%s refused at %s in database %u: %s%s%s (SQLSTATE %s; admin %s, customer %s, session %s, role %s, client %s)%s",
					loginas_log_text(d->action), timestamptz_to_str(d->refused_at), d->dboid,
					loginas_log_text(d->message), d->has_detail ? " " : "",
					d->has_detail ? loginas_log_text(d->detail) : "",
					loginas_log_text(d->sqlstate),
					party_text(d->has_admin, d->admin_id, d->has_admin_key, d->admin_key),
					party_text(d->has_customer, d->customer_id, d->has_customer_key, d->customer_key),
					id_text(d->has_session, d->session_id),
					loginas_log_text(NameStr(d->db_role)),
					d->client_addr[0] ? loginas_log_text(d->client_addr) : "-",
					d->coalesced > 0 ?
					psprintf("; a summary of " INT64_FORMAT " refusals of that backend, the last at %s",
							 d->coalesced, timestamptz_to_str(d->last_refused_at)) : "");
}

/* ------------------------------------------------------------------------
 * Per-database workers (queue->lock held by the caller unless noted)
 * ------------------------------------------------------------------------
 */

static DbWorker *
find_db_worker(Oid dboid)
{
	int			i;

	for (i = 0; i < MAX_DB_WORKERS; i++)
		if (queue->workers[i].dboid == dboid)
			return &queue->workers[i];
	return NULL;
}

static DbWorker *
new_db_worker(Oid dboid)
{
	DbWorker   *w = find_db_worker(InvalidOid);

	if (w != NULL)
	{
		memset(w, 0, sizeof(DbWorker));
		w->dboid = dboid;
	}
	return w;
}

/* a worker runs for the database, or is on its way */
static bool
db_is_served(Oid dboid, TimestampTz now)
{
	DbWorker   *w = find_db_worker(dboid);

	return w != NULL &&
		(w->pid != 0 || !TimestampDifferenceExceeds(w->requested_at, now, START_GRACE_MS));
}

/* another database has an entry due and no worker */
static bool
others_waiting(Oid self, TimestampTz now)
{
	int			i;

	for (i = 0; i < QUEUE_SIZE; i++)
	{
		RefusalSlot *s = &queue->slots[i];

		if (s->state == SLOT_QUEUED && s->data.dboid != self && s->not_before <= now &&
			!db_is_served(s->data.dboid, now))
			return true;
	}
	return false;
}

static void
wake_launcher(void)
{
	if (queue->launcher_latch && queue->launcher_pid != MyProcPid)
		SetLatch(queue->launcher_latch);
}

/* a database waits for a worker: the running ones see whether to give way */
static void
nudge_workers(void)
{
	int			i;

	for (i = 0; i < MAX_DB_WORKERS; i++)
		if (queue->workers[i].pid != 0 && queue->workers[i].pid != MyProcPid)
			SetLatch(queue->workers[i].latch);
}

typedef enum WorkerWant
{
	WANT_SERVED,				/* running (woken) or on its way */
	WANT_START,					/* requested: the caller starts it, lock released */
	WANT_WAIT					/* no state or no slot now: the launcher tries later */
} WorkerWant;

/* make sure the database has a worker */
static WorkerWant
want_worker(Oid dboid, TimestampTz now)
{
	DbWorker   *w = find_db_worker(dboid);

	if (w != NULL && w->pid != 0)
	{
		SetLatch(w->latch);
		return WANT_SERVED;
	}
	if (w != NULL && !TimestampDifferenceExceeds(w->requested_at, now, START_GRACE_MS))
		return WANT_SERVED;		/* on its way */
	if (now < queue->start_blocked_until)
		return WANT_WAIT;
	if (w == NULL && (w = new_db_worker(dboid)) == NULL)
	{
		/* every state is taken: an idle worker gives way, its exit wakes the launcher */
		nudge_workers();
		return WANT_WAIT;
	}
	w->requested_at = now;
	return WANT_START;
}

/*
 * Start the worker of a database (queue->lock NOT held); false when no
 * background worker slot is free: then nobody tries before a backoff, and
 * the LOG line saying so is written at most once per START_FAILURE_LOG_MS.
 */
static bool
start_worker(Oid dboid)
{
	BackgroundWorker worker;
	DbWorker   *w;
	TimestampTz now;
	bool		log_it;
	int64		unlogged = 0;
	int			waiting = 0;
	int			i;

	loginas_worker_init(&worker, "loginas_refusal_worker_main", "loginas refusal log");
	snprintf(worker.bgw_name, BGW_MAXLEN, "loginas refusal log for database %u", dboid);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;

	if (RegisterDynamicBackgroundWorker(&worker, NULL))
	{
		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		queue->start_backoff_ms = 0;
		LWLockRelease(queue->lock);
		return true;
	}

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	now = GetCurrentTimestamp();
	w = find_db_worker(dboid);
	if (w != NULL && w->pid == 0)
		memset(w, 0, sizeof(DbWorker));
	queue->start_backoff_ms = queue->start_backoff_ms == 0 ? START_BACKOFF_MIN_MS :
		Min(queue->start_backoff_ms * 2, START_BACKOFF_MAX_MS);
	queue->start_blocked_until = TimestampTzPlusMilliseconds(now, queue->start_backoff_ms);
	log_it = queue->start_failure_logged_at == 0 ||
		TimestampDifferenceExceeds(queue->start_failure_logged_at, now, START_FAILURE_LOG_MS);
	if (log_it)
	{
		unlogged = queue->start_failures_unlogged;
		queue->start_failures_unlogged = 0;
		queue->start_failure_logged_at = now;
		for (i = 0; i < QUEUE_SIZE; i++)
			if (queue->slots[i].state == SLOT_QUEUED)
				waiting++;
	}
	else
		queue->start_failures_unlogged++;
	/* the launcher tries again once the backoff is over; idle workers give way */
	wake_launcher();
	nudge_workers();
	LWLockRelease(queue->lock);

	if (log_it)
		ereport(LOG,
				(errmsg("loginas: could not start the refusal log worker for database %u", dboid),
				 errdetail("No background worker slot is free; %d refusals stay queued and are retried. "
						   INT64_FORMAT " more starts failed since the last such message, which is written at most once a minute.",
						   waiting, unlogged),
				 errhint("Raise max_worker_processes.")));
	return false;
}

/* ------------------------------------------------------------------------
 * Queueing (any backend)
 * ------------------------------------------------------------------------
 */

/*
 * A key kept in an entry: only whole (a key cut short could name another
 * admin, customer or store view; the server log has what was given), and a
 * text over LOGINAS_MAX_KEY_BYTES is no key
 */
static bool
key_copy(char *dst, const char *key)
{
	if (key == NULL || strlen(key) > LOGINAS_MAX_KEY_BYTES)
		return false;
	strcpy(dst, key);
	return true;
}

/*
 * Hand a refusal to the durable refusal log: true when queued (on its own,
 * or counted into this backend's summary); false without a queue (loginas
 * not preloaded, or a standby) or when the queue is full.
 */
bool
loginas_queue_refusal_entry(const LoginAsRefusal *r)
{
	RefusalData d;
	RefusalSlot *slot = NULL;
	RefusalSlot *summary = NULL;
	int			mine = 0;
	bool		new_summary = false;
	WorkerWant	want;
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
	/*
	 * the keys only where the ids cannot hold them (an integer shop's entry
	 * is what it was; the store view's key is given only then)
	 */
	d.has_customer_key = !r->has_customer && key_copy(d.customer_key, r->customer_key);
	d.has_admin_key = !r->has_admin && key_copy(d.admin_key, r->admin_key);
	d.has_store_key = key_copy(d.store_key, r->store_key);
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
		RefusalSlot *s = &queue->slots[i];

		if (s->state == SLOT_FREE)
		{
			if (slot == NULL)
				slot = s;
			continue;
		}
		if (s->queued_by != MyProcPid || s->data.dboid != d.dboid)
			continue;
		if (s->data.coalesced == 0)
			mine++;
		else if (s->state == SLOT_QUEUED && strcmp(s->data.action, d.action) == 0)
			summary = s;
	}
	if (mine >= BACKEND_SHARE && summary != NULL)
	{
		/* beyond this backend's share: counted into its summary */
		summary->data.coalesced++;
		summary->data.last_refused_at = d.refused_at;
		want = want_worker(d.dboid, d.refused_at);
		LWLockRelease(queue->lock);
		if (want == WANT_START)
			start_worker(d.dboid);
		return true;
	}
	if (slot == NULL)
	{
		LWLockRelease(queue->lock);
		ereport(WARNING,
				(errmsg("loginas: the durable refusal log is full; this refused %s went to the server log only",
						loginas_log_text(d.action)),
				 errdetail("%d refusals are waiting to be written to loginas.action_log.", QUEUE_SIZE),
				 errhidestmt(true)));
		return false;
	}
	if (mine >= BACKEND_SHARE)
	{
		/* the first refusal beyond the share: a summary, by action */
		d.coalesced = 1;
		d.last_refused_at = d.refused_at;
		new_summary = true;
	}
	slot->data = d;
	slot->attempts = 0;
	slot->busy_retries = 0;
	slot->failed_starts = 0;
	slot->skip_reads = false;
	slot->taken_by = 0;
	slot->queued_by = MyProcPid;
	slot->not_before = 0;
	slot->seq = queue->next_seq++;
	slot->state = SLOT_QUEUED;
	want = want_worker(d.dboid, d.refused_at);
	LWLockRelease(queue->lock);

	if (want == WANT_START)
		start_worker(d.dboid);
	if (new_summary)
		ereport(LOG,
				(errmsg("loginas: this backend has %d refusals waiting for the durable refusal log; its further refused %s calls are counted in one summary row",
						BACKEND_SHARE, loginas_log_text(d.action)),
				 errdetail("Each refusal is in the server log as well."),
				 errhidestmt(true)));
	return true;
}

/*
 * loginas._queue_refusal(action, sqlstate, message, detail, admin_id,
 *						   customer_id, session_id [, client_addr inet, reason text,
 *						   source text, customer_key text, admin_key text,
 *						   store_key text]) -> boolean
 *
 * customer_key, admin_key (1.3): the key when it is not an integer (the id
 * NULL); store_key: the store view's key when it is not an integer.  A 1.2
 * schema (before ALTER EXTENSION UPDATE) has no such arguments.
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
	if (PG_NARGS() > 10 && !PG_ARGISNULL(10))
		r.customer_key = text_to_cstring(PG_GETARG_TEXT_PP(10));
	if (PG_NARGS() > 11 && !PG_ARGISNULL(11))
		r.admin_key = text_to_cstring(PG_GETARG_TEXT_PP(11));
	if (PG_NARGS() > 12 && !PG_ARGISNULL(12))
		r.store_key = text_to_cstring(PG_GETARG_TEXT_PP(12));
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

/*
 * SIGTERM (shutdown, pg_terminate_backend, DROP DATABASE ... FORCE): die as
 * any backend does -- the next CHECK_FOR_INTERRUPTS ends the process, inside
 * a query too.  Between entries the worker exits quietly instead.
 */
static void
worker_sigterm(SIGNAL_ARGS)
{
	shutdown_requested = true;
	die(LOGINAS_SIGNAL_PASS);
}

/*
 * Take this database's oldest entry that is due; false when there is none.
 * *next_due: when the first of its entries that are not due yet is (0: none).
 */
static bool
take_next(RefusalData *out, int *slotno, bool *skip_reads, TimestampTz *next_due)
{
	RefusalSlot *best = NULL;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	*next_due = 0;
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < QUEUE_SIZE; i++)
	{
		RefusalSlot *s = &queue->slots[i];

		if (s->state != SLOT_QUEUED || s->data.dboid != worker_dboid)
			continue;
		if (s->not_before > now)
		{
			if (*next_due == 0 || s->not_before < *next_due)
				*next_due = s->not_before;
			continue;
		}
		if (best == NULL || s->seq < best->seq)
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
		*skip_reads = best->skip_reads;
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

/* errors that say "not now" rather than "not this entry" */
static bool
busy_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		sqlerrcode == ERRCODE_QUERY_CANCELED ||
		sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES;
}

/*
 * Back on the queue after a failed write, to be tried again later: true;
 * false when it has had its MAX_ATTEMPTS and is dropped
 */
static bool
requeue_slot(int slotno, bool busy, bool skip_reads)
{
	RefusalSlot *s = &queue->slots[slotno];
	bool		again = true;
	int64		wait_ms;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	if (busy)
	{
		s->busy_retries++;
		wait_ms = Min((int64) RETRY_MS << Min(s->busy_retries - 1, 10), BUSY_RETRY_MAX_MS);
	}
	else
	{
		s->attempts++;
		again = s->attempts < MAX_ATTEMPTS;
		wait_ms = (int64) RETRY_MS << (s->attempts - 1);
	}
	s->skip_reads |= skip_reads;
	s->not_before = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);
	s->state = again ? SLOT_QUEUED : SLOT_FREE;
	s->taken_by = 0;
	LWLockRelease(queue->lock);
	return again;
}

typedef enum WriteResult
{
	WRITE_DONE,
	WRITE_NO_EXTENSION,
	WRITE_FAILED
} WriteResult;

/*
 * The writer of a summary, with its count (1.2; 1.3 has customer_key,
 * admin_key and store_key after it); a schema not updated yet has only the
 * one of single refusals: the count then goes into the detail.
 */
static bool
has_summary_writer(void)
{
	Oid			argtypes[17] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID,
		INT8OID, INETOID, NAMEOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	List	   *name = list_make2(makeString("loginas"), makeString("_log_refusal"));

	return OidIsValid(LookupFuncName(name, 17, argtypes, true)) ||
		OidIsValid(LookupFuncName(name, 14, argtypes, true));
}

/*
 * Write one entry as a 'failure' row in a transaction of its own, bounded by
 * WRITE_TIMEOUT_MS; the entry leaves the queue once that has committed.  An
 * error is caught and returned in *edata_out (in the caller's memory
 * context); SIGTERM ends the process, the entry still queued.
 */
static WriteResult
write_entry(const RefusalData *d, int slotno, bool skip_reads, ErrorData **edata_out, int64 *log_id_out)
{
	MemoryContext ctx = CurrentMemoryContext;
	volatile WriteResult result = WRITE_DONE;

	loginas_reader_skip(skip_reads);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		/*
		 * keep in step with loginas._log_refusal's signatures (sql/): the
		 * single form (12 arguments) and the summary form (14), each called
		 * with the keys (1.3: p_customer_key, p_admin_key, p_store_key, by
		 * name) only that the entry has -- an entry without calls them as
		 * 1.1 and 1.2 did, so that a schema not updated yet still takes it
		 */
		static const char *const key_names[3] = {"p_customer_key", "p_admin_key", "p_store_key"};
		const char *keys[3];
		Oid			argtypes[17] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
			INT8OID, INT8OID, INT8OID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
		Datum		values[17];
		char		nulls[17];
		NameData	role = d->db_role;
		int			nargs = 12;
		StringInfoData sql;
		int			rc;
		int			i;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "loginas: writing a refusal to loginas.action_log");
		enable_timeout_after(STATEMENT_TIMEOUT, WRITE_TIMEOUT_MS);

		if (!OidIsValid(get_extension_oid("loginas", true)))
			result = WRITE_NO_EXTENSION;
		else
		{
			char	   *detail = d->has_detail ? pstrdup(d->detail) : NULL;

			if (d->coalesced > 0)
			{
				if (has_summary_writer())
				{
					nargs = 14;
					values[12] = Int64GetDatum(d->coalesced);
					values[13] = TimestampTzGetDatum(d->last_refused_at);
				}
				else
					detail = psprintf("%s%s(a summary of " INT64_FORMAT " refusals of one backend, the last at %s)",
									  detail ? detail : "", detail ? " " : "",
									  d->coalesced, timestamptz_to_str(d->last_refused_at));
			}
			memset(nulls, ' ', sizeof(nulls));
			values[0] = TimestampTzGetDatum(d->refused_at);
			values[1] = CStringGetTextDatum(d->action);
			values[2] = CStringGetTextDatum(d->sqlstate);
			values[3] = CStringGetTextDatum(d->message);
			values[4] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
			nulls[4] = detail ? ' ' : 'n';
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
			initStringInfo(&sql);
			appendStringInfoString(&sql, "SELECT loginas._log_refusal($1, $2, $3, $4, $5, $6, $7, $8, $9::pg_catalog.inet, $10, $11, $12");
			if (nargs == 14)
				appendStringInfoString(&sql, ", $13, $14");
			keys[0] = d->has_customer_key ? d->customer_key : NULL;
			keys[1] = d->has_admin_key ? d->admin_key : NULL;
			keys[2] = d->has_store_key ? d->store_key : NULL;
			for (i = 0; i < 3; i++)
			{
				if (keys[i] == NULL)
					continue;
				argtypes[nargs] = TEXTOID;
				values[nargs] = CStringGetTextDatum(keys[i]);
				nulls[nargs] = ' ';
				nargs++;
				appendStringInfo(&sql, ", %s => $%d", key_names[i], nargs);
			}
			appendStringInfoChar(&sql, ')');

			rc = SPI_execute_with_args(sql.data, nargs, argtypes, values, nulls, false, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "loginas._log_refusal() failed: %s", SPI_result_code_string(rc));
			/* the row's log_id, for its live event (events.c) */
			if (SPI_processed == 1)
			{
				bool		isnull;
				Datum		id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
					*log_id_out = DatumGetInt64(id);
			}
		}
		disable_timeout(STATEMENT_TIMEOUT, false);
		SPI_finish();
		PopActiveSnapshot();

		/* committed and off the queue, or neither: no SIGTERM in between */
		HOLD_INTERRUPTS();
		CommitTransactionCommand();
		release_slot(slotno);
		RESUME_INTERRUPTS();
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(ctx);
		*edata_out = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		result = WRITE_FAILED;
	}
	PG_END_TRY();
	loginas_reader_skip(false);
	MemoryContextSwitchTo(ctx);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/*
 * A dynamic background worker of loginas' (the refusal log's, the view
 * recorder's): connected to a database once recovery is over, never
 * restarted; the caller names it and gives its argument.
 */
void
loginas_worker_init(BackgroundWorker *worker, const char *function, const char *type)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "loginas");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}

/*
 * The worker's own session: nothing that a database owner can set with ALTER
 * DATABASE ... SET (or a role setting) applies to it.  It runs as the
 * bootstrap superuser and reads bound relations as loginas_reader only
 * (reader.c); its transactions are read-write, READ COMMITTED, durable
 * locally, and bounded by our timeouts.
 */
void
loginas_worker_session_settings(const char *application_name, int statement_timeout_ms,
								int lock_timeout_ms)
{
	static const char *const settings[][2] = {
		{"session_authorization", NULL},	/* the bootstrap superuser, below */
		{"role", "none"},
		{"search_path", "pg_catalog, pg_temp"},
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"statement_timeout", NULL},	/* the caller's bounds, below */
		{"lock_timeout", NULL},
		{"idle_in_transaction_session_timeout", "0"},
		{"idle_session_timeout", "0"},
		{"session_replication_role", "origin"},
		{"exit_on_error", "off"},
		{"row_security", "on"},
		{"standard_conforming_strings", "on"},
		{"transform_null_equals", "off"},
		{"max_parallel_workers_per_gather", "0"},
		{"plpgsql.extra_errors", "none"},
		{"plpgsql.extra_warnings", "none"},
		{"plpgsql.variable_conflict", "error"},
		{"application_name", NULL},
	};
	int			i;

	/* role names are looked up in the catalogs: in a transaction */
	StartTransactionCommand();
	for (i = 0; i < (int) lengthof(settings); i++)
	{
		const char *name = settings[i][0];
		const char *value = settings[i][1];

		if (strcmp(name, "session_authorization") == 0)
			value = GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false);
		else if (strcmp(name, "statement_timeout") == 0)
			value = psprintf("%d", statement_timeout_ms);
		else if (strcmp(name, "lock_timeout") == 0)
			value = psprintf("%d", lock_timeout_ms);
		else if (strcmp(name, "application_name") == 0)
			value = application_name;
		SetConfigOption(settings[i][0], value, PGC_SUSET, PGC_S_OVERRIDE);
	}
	/* a commit that is not flushed could lose a row whose entry is gone */
	if (synchronous_commit < SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
		SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	CommitTransactionCommand();
}

/*
 * The worker's exit: give back what it held -- its entry to the queue, and
 * when a read ran past its end bound, every entry of its database marked to
 * be written without the names; count a failed connection; wake the
 * launcher for what is left.
 */
static void
worker_exit(int code, Datum arg)
{
	DbWorker   *w;
	RefusalData *dropped = NULL;
	int			ndropped = 0;
	bool		ran_over = loginas_reader_ran_over();
	TimestampTz now = GetCurrentTimestamp();
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
		/* a read that would not end: the next worker reads none for what is queued */
		if (ran_over && s->state == SLOT_QUEUED && s->data.dboid == worker_dboid)
			s->skip_reads = true;
	}
	w = find_db_worker(worker_dboid);
	if (w != NULL && w->pid == MyProcPid)
		memset(w, 0, sizeof(DbWorker));
	if (!worker_connected && !shutdown_requested)
	{
		/*
		 * It could not connect (a dropped database): try again later, and
		 * give up an entry after FAILED_STARTS_MAX such workers
		 */
		for (i = 0; i < QUEUE_SIZE; i++)
		{
			RefusalSlot *s = &queue->slots[i];

			if (s->state != SLOT_QUEUED || s->data.dboid != worker_dboid)
				continue;
			if (++s->failed_starts < FAILED_STARTS_MAX)
			{
				s->not_before = TimestampTzPlusMilliseconds(now, START_RETRY_MS * s->failed_starts);
				continue;
			}
			if (dropped == NULL)
				dropped = malloc(sizeof(RefusalData) * QUEUE_SIZE);
			if (dropped)
				dropped[ndropped++] = s->data;
			s->state = SLOT_FREE;
		}
	}
	worker_claimed = false;
	/* a background worker slot is about to be free: no backoff for the next start */
	queue->start_blocked_until = 0;
	queue->start_backoff_ms = 0;
	/* what is left, of this database or of the others that wait: the launcher */
	wake_launcher();
	LWLockRelease(queue->lock);

	for (i = 0; i < ndropped; i++)
		ereport(LOG,
				(errmsg("loginas: a refusal was not written to loginas.action_log: its database %u cannot be connected to",
						worker_dboid),
				 errdetail("%s", describe_entry(&dropped[i]))));
	if (dropped)
		free(dropped);
	if (ran_over)
		ereport(LOG,
				(errmsg("loginas: the refusal log worker for database %u ended itself: a read of a bound relation went on %d ms after it was canceled",
						worker_dboid, READ_END_MS - READ_CANCEL_MS),
				 errdetail("The refusal it was writing stays queued and is written without the admin's username and the customer's e-mail.")));
}

/* claim the database's DbWorker; false when another worker has it */
static bool
claim_db_worker(void)
{
	DbWorker   *w;
	bool		owner;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	w = find_db_worker(worker_dboid);
	if (w == NULL)
	{
		/* its request timed out (or was never made): take a state if one is free */
		w = new_db_worker(worker_dboid);
		if (w != NULL)
			w->requested_at = GetCurrentTimestamp();
	}
	owner = w != NULL && w->pid == 0;
	if (owner)
	{
		w->pid = MyProcPid;
		w->latch = MyLatch;
		worker_claimed = true;
	}
	LWLockRelease(queue->lock);
	return owner;
}

/* another database waits for a worker: this one gives way */
static bool
should_give_way(void)
{
	bool		give_way;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	give_way = others_waiting(worker_dboid, GetCurrentTimestamp());
	LWLockRelease(queue->lock);
	return give_way;
}

void
loginas_refusal_worker_main(Datum main_arg)
{
	MemoryContext work_ctx;
	TimestampTz idle_since;
	TimestampTz turn_started;

	worker_dboid = DatumGetObjectId(main_arg);
	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (queue == NULL)
		proc_exit(0);

	/* one worker per database */
	if (!claim_db_worker())
		proc_exit(0);
	before_shmem_exit(worker_exit, (Datum) 0);

	/* a database owner's ALLOW_CONNECTIONS false does not keep it out */
	BackgroundWorkerInitializeConnectionByOid(worker_dboid, InvalidOid, BGWORKER_BYPASS_ALLOWCONN);
	worker_connected = true;
	loginas_worker_session_settings("loginas refusal log", WRITE_TIMEOUT_MS, LOCK_TIMEOUT_MS);
	loginas_reader_bound(READ_CANCEL_MS, READ_END_MS, READ_PAUSE_MS);

	work_ctx = AllocSetContextCreate(TopMemoryContext, "loginas refusal log",
									 ALLOCSET_DEFAULT_SIZES);
	idle_since = turn_started = GetCurrentTimestamp();
	for (;;)
	{
		RefusalData d;
		int			slotno = -1;
		bool		skip_reads;
		TimestampTz next_due;
		TimestampTz now;
		long		wait_ms;

		/* between entries SIGTERM ends the worker quietly */
		if (shutdown_requested)
			proc_exit(0);
		/* ... and here ProcSignalBarriers are absorbed (DROP DATABASE waits for them) */
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(work_ctx);
		MemoryContextReset(work_ctx);

		/* a turn is over: give way if another database waits (what is left stays queued) */
		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(turn_started, now, TURN_MS))
		{
			if (should_give_way())
				proc_exit(0);
			turn_started = now;
		}

		if (take_next(&d, &slotno, &skip_reads, &next_due))
		{
			ErrorData  *edata = NULL;
			int64		log_id = 0;

			(void) loginas_reader_was_canceled();
			switch (write_entry(&d, slotno, skip_reads, &edata, &log_id))
			{
				case WRITE_DONE:
					/* recorded: now its live event, in a transaction of its own */
					if (log_id > 0)
						loginas_announce_refusal(log_id, WRITE_TIMEOUT_MS);
					break;
				case WRITE_NO_EXTENSION:
					ereport(LOG,
							(errmsg("loginas: a refusal was not written to loginas.action_log: the extension loginas is not installed in database %u",
									worker_dboid),
							 errdetail("%s", describe_entry(&d))));
					break;
				case WRITE_FAILED:
					{
						bool		busy = busy_error(edata->sqlerrcode);
						bool		again = requeue_slot(slotno, busy, loginas_reader_was_canceled());

						ereport(LOG,
								(errmsg("loginas: could not write a refusal to loginas.action_log: %s",
										loginas_log_text(edata->message)),
								 errdetail("%s; %s", describe_entry(&d),
										   busy ? "it will be tried again later" :
										   again ? "it will be tried again" :
										   "it was tried " CppAsString2(MAX_ATTEMPTS) " times and is dropped from the queue")));
					}
					break;
			}
			idle_since = GetCurrentTimestamp();
			continue;
		}

		/* nothing due for this database: give way to a database that waits */
		if (should_give_way())
			proc_exit(0);
		now = GetCurrentTimestamp();
		if (next_due != 0)
			wait_ms = Min((long) ((next_due - now) / 1000) + 1, IDLE_EXIT_MS);
		else
		{
			wait_ms = IDLE_EXIT_MS - (long) ((now - idle_since) / 1000);
			if (wait_ms <= 0)
				proc_exit(0);	/* worker_exit hands on anything queued meanwhile */
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * The launcher: a worker for every database whose due entries have none
 * ------------------------------------------------------------------------
 */

static void
launcher_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

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

typedef struct WaitingDb
{
	Oid			dboid;
	uint64		oldest;			/* seq of its oldest due entry */
} WaitingDb;

static int
waiting_cmp(const void *a, const void *b)
{
	uint64		x = ((const WaitingDb *) a)->oldest;
	uint64		y = ((const WaitingDb *) b)->oldest;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * One look at the queue: request a worker for each database with due
 * entries and none, oldest first, as far as worker states and background
 * worker slots go; returns how long to nap (ms).
 */
static long
launcher_pass(void)
{
	static WaitingDb waiting[QUEUE_SIZE];
	Oid			start[MAX_DB_WORKERS];
	int			nwaiting = 0;
	int			nstart = 0;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake_at = TimestampTzPlusMilliseconds(now, LAUNCHER_NAP_MS);
	int			i,
				j;

	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	for (i = 0; i < QUEUE_SIZE; i++)
	{
		RefusalSlot *s = &queue->slots[i];

		if (s->state != SLOT_QUEUED || db_is_served(s->data.dboid, now))
			continue;
		if (s->not_before > now)
		{
			wake_at = Min(wake_at, s->not_before);
			continue;
		}
		for (j = 0; j < nwaiting && waiting[j].dboid != s->data.dboid; j++)
			;
		if (j == nwaiting)
		{
			waiting[nwaiting].dboid = s->data.dboid;
			waiting[nwaiting++].oldest = s->seq;
		}
		else
			waiting[j].oldest = Min(waiting[j].oldest, s->seq);
	}
	qsort(waiting, nwaiting, sizeof(WaitingDb), waiting_cmp);
	for (i = 0; i < nwaiting && nstart < MAX_DB_WORKERS; i++)
	{
		WorkerWant	want = want_worker(waiting[i].dboid, now);

		if (want == WANT_START)
			start[nstart++] = waiting[i].dboid;
		else if (want == WANT_WAIT)
		{
			/* blocked: after the backoff; no state free: a worker's exit wakes us */
			if (now < queue->start_blocked_until)
				wake_at = Min(wake_at, queue->start_blocked_until);
			break;
		}
	}
	LWLockRelease(queue->lock);

	for (i = 0; i < nstart; i++)
	{
		if (start_worker(start[i]))
			continue;
		/* no background worker slot: give back the other requests, try after the backoff */
		LWLockAcquire(queue->lock, LW_EXCLUSIVE);
		for (j = i + 1; j < nstart; j++)
		{
			DbWorker   *w = find_db_worker(start[j]);

			if (w != NULL && w->pid == 0)
				memset(w, 0, sizeof(DbWorker));
		}
		wake_at = Min(wake_at, queue->start_blocked_until);
		LWLockRelease(queue->lock);
		break;
	}
	now = GetCurrentTimestamp();
	return wake_at <= now ? 1 : (long) ((wake_at - now + 999) / 1000);
}

void
loginas_refusal_launcher_main(Datum main_arg)
{
	pqsignal(SIGTERM, launcher_sigterm);
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
		long		nap_ms;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		nap_ms = launcher_pass();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 nap_ms, PG_WAIT_EXTENSION);
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
		d.reason[TEXT_LEN - 1] = '\0';
		d.source[TEXT_LEN - 1] = '\0';
		d.customer_key[KEY_LEN - 1] = '\0';
		d.admin_key[KEY_LEN - 1] = '\0';
		d.store_key[KEY_LEN - 1] = '\0';
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

/*
 * An entry of a file of that version as ours: what the version lacks reads
 * as zero (no summary, no keys)
 */
static void
entry_from_file(RefusalData *e, const char *buf, uint32 version)
{
	memset(e, 0, sizeof(RefusalData));
	switch (version)
	{
		case QUEUE_FILE_VERSION:
			memcpy(e, buf, sizeof(RefusalData));
			break;
		case 4:
			memcpy(e, buf, REFUSAL_DATA_V3_SIZE);
			memcpy(e->customer_key, buf + REFUSAL_DATA_V3_SIZE, V4_KEY_LEN);
			e->customer_key[V4_KEY_LEN - 1] = '\0';
			e->has_customer_key = buf[REFUSAL_DATA_V3_SIZE + V4_KEY_LEN] != 0;
			break;
		case 3:
			memcpy(e, buf, REFUSAL_DATA_V3_SIZE);
			break;
		case 2:
			memcpy(e, buf, REFUSAL_DATA_V2_SIZE);
			break;
	}
}

/* read the refusals a previous postmaster kept (postmaster, at startup) */
static void
load_queue_file(void)
{
	FILE	   *file;
	QueueFileHeader hdr;
	RefusalData *entries = NULL;
	char	   *buf = NULL;
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
	/*
	 * the entries of version 2 (loginas 1.1), 3 (1.2) and 4 (1.3 before the
	 * admin's and store view's keys) are read too (entry_from_file)
	 */
	if (fread(&hdr, sizeof(hdr), 1, file) != 1 || hdr.magic != QUEUE_FILE_MAGIC ||
		!((hdr.version == QUEUE_FILE_VERSION && hdr.entry_size == sizeof(RefusalData)) ||
		  (hdr.version == 4 && hdr.entry_size == REFUSAL_DATA_V4_SIZE) ||
		  (hdr.version == 3 && hdr.entry_size == REFUSAL_DATA_V3_SIZE) ||
		  (hdr.version == 2 && hdr.entry_size == REFUSAL_DATA_V2_SIZE)) ||
		hdr.count > 1000000)
		goto bad;
	entries = palloc0(sizeof(RefusalData) * Max(hdr.count, 1));
	buf = palloc(hdr.entry_size);
	INIT_CRC32C(crc);
	for (i = 0; i < hdr.count; i++)
	{
		if (fread(buf, hdr.entry_size, 1, file) != 1)
			goto bad;
		COMP_CRC32C(crc, buf, hdr.entry_size);
		entry_from_file(&entries[i], buf, hdr.version);
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

			memset(s, 0, sizeof(RefusalSlot));
			s->data = entries[i];
			s->seq = queue->next_seq++;
			s->state = SLOT_QUEUED;
		}
		else
			ereport(LOG,
					(errmsg("loginas: a kept refusal does not fit in the queue and was not written to loginas.action_log"),
					 errdetail("%s", describe_entry(&entries[i]))));
	}
	pfree(entries);
	pfree(buf);
	unlink(QUEUE_FILE);
	ereport(LOG,
			(errmsg("loginas: %u refusals kept from before the restart are queued again", loaded)));
	return;

bad:
	FreeFile(file);
	if (entries)
		pfree(entries);
	if (buf)
		pfree(buf);
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
