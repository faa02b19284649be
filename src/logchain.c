/*
 * logchain.c
 *		Tamper evidence for loginas.action_log: one hash chain per backend.
 *
 * Every row of the action log carries its place in a chain (chain_id,
 * chain_seq), the hash of the row before it in that chain (prev_hash) and
 * its own hash:
 *
 *		row_hash = sha256(prev_hash || "<chain_id>:<chain_seq>:" || content)
 *
 * where content is the row's canonical text (logappend.c; in SQL,
 * loginas._log_content).  Each
 * backend appends to a chain of its own, so concurrent writers never wait
 * for one another; loginas.verify_log() walks every chain and reports the
 * first row whose hash, predecessor or position does not fit.
 *
 * The chain's head (id, position, last hash) is kept here in backend
 * memory.  It must only ever describe committed rows, so each
 * (sub)transaction that appends remembers the head as it found it, and an
 * abort puts it back.  After PREPARE TRANSACTION the backend starts a new
 * chain: whether the prepared rows will commit is decided elsewhere.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "loginas.h"

typedef struct ChainHead
{
	Oid			log_relid;		/* the action_log table the chain is in */
	int64		chain_id;		/* 0: this backend has no chain yet */
	int64		seq;
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
} ChainHead;

typedef struct RestorePoint
{
	struct RestorePoint *next;	/* the enclosing (sub)transaction's */
	SubTransactionId subid;
	ChainHead	head;			/* as the (sub)transaction found it */
} RestorePoint;

static ChainHead head = {0};
static RestorePoint *restore_points = NULL;	/* in TopTransactionContext */
static bool purge_allowed = false;

PG_FUNCTION_INFO_V1(loginas_chain_id);
PG_FUNCTION_INFO_V1(loginas_chain_append);
PG_FUNCTION_INFO_V1(loginas_log_guard);
PG_FUNCTION_INFO_V1(loginas_allow_purge);

/*
 * loginas._chain_id(log_relid oid) -> bigint: this backend's chain in that
 * action_log table, 0 when none (also when the extension was dropped and
 * created again since: a new table, new chains)
 */
Datum
loginas_chain_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(loginas_chain_current(PG_GETARG_OID(0)));
}

static void
remember_head(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	RestorePoint *rp;

	if (restore_points && restore_points->subid == subid)
		return;
	rp = MemoryContextAlloc(TopTransactionContext, sizeof(RestorePoint));
	rp->subid = subid;
	rp->head = head;
	rp->next = restore_points;
	restore_points = rp;
}

/*
 * The hash of one row: sha256(prev || "<chain_id>:<seq>:" || content), the
 * content (in the server encoding) hashed as UTF-8.  prev is the hash of the
 * row before it as stored (any length: verify_log() hashes what it finds).
 */
void
loginas_chain_hash(const uint8 *prev, size_t prev_len, int64 chain_id, int64 seq,
				   const char *content, size_t len, uint8 *row_hash)
{
	pg_cryptohash_ctx *ctx;
	char	   *prefix;
	char	   *utf8;

	utf8 = pg_server_to_any(content, (int) len, PG_UTF8);
	if (utf8 != content)
		len = strlen(utf8);
	prefix = psprintf(INT64_FORMAT ":" INT64_FORMAT ":", chain_id, seq);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, prev, prev_len) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) prefix, strlen(prefix)) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) utf8, len) < 0 ||
		pg_cryptohash_final(ctx, row_hash, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "loginas: could not compute a SHA-256 hash: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	pfree(prefix);
	if (utf8 != content)
		pfree(utf8);
}

/*
 * Go on with an existing chain whose last row (or purge checkpoint) is at
 * seq with hash: the view recorder (viewlog.c) appends every log view to one
 * shared chain, whose head it reads from the log under a row lock.  Only for
 * a backend that has no chain of its own yet.
 */
void
loginas_chain_resume(Oid log_relid, int64 chain_id, int64 seq, const uint8 *hash)
{
	if (head.chain_id != 0)
		elog(ERROR, "loginas: this backend already appends to chain " INT64_FORMAT, head.chain_id);
	head.log_relid = log_relid;
	head.chain_id = chain_id;
	head.seq = seq;
	memcpy(head.hash, hash, sizeof(head.hash));
}

/*
 * Link one row into this backend's chain: chain_id is this backend's chain
 * (freshly registered in loginas.log_chain by the caller when
 * loginas_chain_current() said 0), content the row's canonical text in the
 * server encoding (hashed as UTF-8, as verify_log() hashes it).  Sets the
 * row's position and its predecessor's and its own hash.
 */
void
loginas_chain_link(int64 chain_id, Oid log_relid, const char *content, int len,
				   int64 *seq, uint8 *prev_hash, uint8 *row_hash)
{
	if (head.chain_id != 0 && head.chain_id != chain_id)
		elog(ERROR, "loginas: this backend appends to chain " INT64_FORMAT ", not " INT64_FORMAT,
			 head.chain_id, chain_id);

	remember_head();
	if (head.chain_id == 0)
	{
		head.log_relid = log_relid;
		head.chain_id = chain_id;
		head.seq = 0;
		memset(head.hash, 0, sizeof(head.hash));
	}

	loginas_chain_hash(head.hash, sizeof(head.hash), chain_id, head.seq + 1, content, len, row_hash);

	memcpy(prev_hash, head.hash, sizeof(head.hash));
	head.seq++;
	memcpy(head.hash, row_hash, sizeof(head.hash));
	*seq = head.seq;
}

/* this backend's chain in that action_log table, 0 when none */
int64
loginas_chain_current(Oid log_relid)
{
	/* a chain of an action_log dropped and created again since: a new table, new chains */
	if (head.chain_id != 0 && head.log_relid != log_relid)
		memset(&head, 0, sizeof(head));
	return head.chain_id;
}

/* a SHA-256 hash as a bytea */
bytea *
loginas_hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(b, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(b), hash, PG_SHA256_DIGEST_LENGTH);
	return b;
}

/*
 * loginas._chain_append(chain_id bigint, content text, log_relid oid)
 *		-> (chain_id bigint, chain_seq bigint, prev_hash bytea, row_hash bytea)
 *
 * The SQL face of loginas_chain_link (1.0's _append called it; 1.1's is C).
 */
Datum
loginas_chain_append(PG_FUNCTION_ARGS)
{
	int64		chain_id;
	text	   *content;
	uint8		prev[PG_SHA256_DIGEST_LENGTH];
	uint8		cur[PG_SHA256_DIGEST_LENGTH];
	int64		seq;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	loginas_require_owner(fcinfo, "loginas._chain_append()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		elog(ERROR, "loginas._chain_append: NULL argument");
	chain_id = PG_GETARG_INT64(0);
	content = PG_GETARG_TEXT_PP(1);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "loginas._chain_append must return a record");

	loginas_chain_link(chain_id, PG_GETARG_OID(2), VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content),
					   &seq, prev, cur);

	values[0] = Int64GetDatum(chain_id);
	values[1] = Int64GetDatum(seq);
	values[2] = PointerGetDatum(loginas_hash_bytea(prev));
	values[3] = PointerGetDatum(loginas_hash_bytea(cur));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * The action log is append-only: no UPDATE, DELETE or TRUNCATE, by anyone,
 * the table owner included -- except DELETE by loginas.purge_log(), which
 * allows it for its own transaction.  The triggers are ENABLE ALWAYS, so
 * session_replication_role does not switch them off either.
 */
Datum
loginas_log_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._log_guard() must be called as a trigger")));
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event) && purge_allowed)
		return PointerGetDatum(td->tg_trigtuple);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("loginas.action_log is append-only"),
			 errdetail("Its rows cannot be %s.",
					   TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "updated" :
					   TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "deleted" : "truncated"),
			 errhint("Old rows are removed only by loginas.purge_log(before).")));
	PG_RETURN_NULL();			/* not reached */
}

/*
 * loginas._allow_purge(boolean): purge_log() opens and closes the window in
 * which its own DELETE may remove log rows (closed at transaction end anyway)
 */
Datum
loginas_allow_purge(PG_FUNCTION_ARGS)
{
	loginas_require_owner(fcinfo, "loginas._allow_purge()");
	purge_allowed = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	PG_RETURN_VOID();
}

static void
logchain_xact_callback(XactEvent event, void *arg)
{
	RestorePoint *oldest = restore_points;

	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			while (oldest && oldest->next)
				oldest = oldest->next;
			if (oldest)
				head = oldest->head;
			break;
		case XACT_EVENT_PREPARE:
			/* the prepared rows may still roll back: go on in a new chain */
			memset(&head, 0, sizeof(head));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			break;
		default:
			return;
	}
	restore_points = NULL;		/* freed with TopTransactionContext */
	purge_allowed = false;
}

static void
logchain_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	RestorePoint *rp = restore_points;

	/* a purge that failed inside a savepoint must not leave its window open */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		purge_allowed = false;
	if (rp == NULL || rp->subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		head = rp->head;
		restore_points = rp->next;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		if (rp->next && rp->next->subid == parentSubid)
			restore_points = rp->next;	/* the parent's point is older */
		else
			rp->subid = parentSubid;
	}
}

void
loginas_logchain_init(void)
{
	RegisterXactCallback(logchain_xact_callback, NULL);
	RegisterSubXactCallback(logchain_subxact_callback, NULL);
}
