/*
 * assume.c
 *		loginas.assume(session_key): the checked path once, then a per-backend
 *		cache of what it checked.
 *
 * The checks assume() makes (the session is live and not expired, the
 * feature is on, the admin exists, is active and has a role with the "login"
 * resource, the customer exists, is active and no guest, the customer's
 * consent holds, the store view resolves) are made by the PL/pgSQL function
 * loginas._assume_checked(), which refuses exactly as assume() always did
 * (message, SQLSTATE, refusal log) and sets the context.  This file keeps,
 * per backend, what a successful check produced -- the context it set, keyed
 * by the sha256 of the presented key -- and serves the next assume() of the
 * same key from it, without a query, for as long as nothing the verdict
 * rests on has changed:
 *
 *	- a generation counter, bumped by a relcache callback when a relation the
 *	  verdicts rest on is invalidated: loginas.cache_signal (which the
 *	  statement triggers on loginas.session, consent, role_resource, setting
 *	  and binding, and on the base tables of the admins, customers and
 *	  store_views bindings, invalidate: loginas._cache_signal()), those tables
 *	  themselves (DDL), the bound relations, the views between them and their
 *	  base tables (DDL, CREATE OR REPLACE VIEW, a trigger dropped or
 *	  disabled), or everything (a relcache reset).  A relcache invalidation
 *	  is transactional: every backend receives it when the writing
 *	  transaction commits, before that transaction's locks are released, and
 *	  assume() accepts the pending ones before it looks at the cache.  Any
 *	  bump empties the cache.
 *	- an entry is filled only when every base table of the three bindings
 *	  carries that trigger (enabled ALWAYS, no condition) and the bound
 *	  relations read nothing else (loginas._cache_watch_set(): tables and
 *	  views only, no table of an inheritance or partition tree or with row
 *	  level security, no function, operator or type the shop defined, no
 *	  function whose result changes without a write: now(), a setting), in READ
 *	  COMMITTED (the checked path's reads then come after the generation the
 *	  entry records), and only if the generation did not move meanwhile.
 *	- an entry holds until the session's expires_at or the consent's
 *	  valid_until, whichever comes first (now() is compared, as the checked
 *	  path compares it).
 *
 * A hit takes a transaction-level lock on the session (a lock tag of its own
 * in the advisory space) unless the transaction is read-only, as the checked
 * path's FOR KEY SHARE would; loginas._end_session() takes it in EXCLUSIVE
 * mode before it locks the row, so an end waits for every transaction acting
 * in the session, and one that committed before the lock was granted is seen
 * (its invalidation arrives before its lock is released): the hit is then
 * given up and the checked path refuses.  Anything else -- no entry, another
 * session already assumed, an entry past its time -- goes the checked path.
 *
 * Nothing here runs code the client or a table owner defined: the checked
 * path is loginas' own SECURITY DEFINER function, called directly; the
 * queries run as loginas' owner read loginas' tables and the catalogs.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_assume);
PG_FUNCTION_INFO_V1(loginas_cache_signal);
PG_FUNCTION_INFO_V1(loginas_lock_session_end);
PG_FUNCTION_INFO_V1(loginas_assume_cache_stats);
PG_FUNCTION_INFO_V1(loginas_view_immutable);

/* the session lock's tag: the advisory space, a fourth field of its own (pg_advisory_* use 1 and 2) */
#define LOGINAS_SESSION_LOCK_FIELD4 0x4C41
/* entries per backend; a full cache is emptied */
#define LOGINAS_ASSUME_CACHE_MAX 1024

typedef struct AssumeEntry
{
	uint8		digest[LOGINAS_KEY_DIGEST_LEN];	/* hash key: sha256 of the key */
	TimestampTz valid_until;	/* the session's expiry or the consent's, the earlier */
	LoginAsContext ctx;			/* what the checked path set; texts in cache_cxt */
} AssumeEntry;

static uint64 generation = 1;	/* bumped by assume_inval */
static uint64 cache_gen = 0;	/* the generation the entries were filled in */
static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static bool callback_registered = false;
static int64 hits = 0;			/* assume() calls served from the cache, */
static int64 misses = 0;		/* and by the checked path (tests) */

/* what the relcache callback compares with, looked up after every bump */
static bool oids_known = false;
#define OWN_RELS 6
static Oid	own_relids[OWN_RELS];	/* cache_signal, session, consent, role_resource, setting, binding */
static Oid	checked_fn = InvalidOid;
static FmgrInfo checked_flinfo;	/* its call info, in fn_cxt */
static MemoryContext fn_cxt = NULL;
static SPIPlanPtr fill_plan = NULL;

/* the relations of the three bindings (loginas._cache_watch_set), per generation */
static uint64 watched_gen = 0;
static bool watched_ok = false;
static Oid *watched = NULL;
static int	nwatched = 0;

static void
assume_inval(Datum arg, Oid relid)
{
	int			i;
	bool		hit = (relid == InvalidOid || !oids_known);

	for (i = 0; !hit && i < OWN_RELS; i++)
		hit = (own_relids[i] == relid);
	for (i = 0; !hit && watched_gen == generation && i < nwatched; i++)
		hit = (watched[i] == relid);
	if (hit)
	{
		generation++;
		oids_known = false;
	}
}

static void
set_session_locktag(LOCKTAG *tag, int64 session_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ((uint64) session_id >> 32), (uint32) session_id,
						 LOGINAS_SESSION_LOCK_FIELD4);
}

/* the OIDs, the checked path's function, an empty cache: after every bump */
static void
ensure_state(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(assume_inval, (Datum) 0);
		callback_registered = true;
	}
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "loginas assume cache", ALLOCSET_SMALL_SIZES);
	if (!oids_known)
	{
		static const char *const names[OWN_RELS] = {"cache_signal", "session", "consent", "role_resource",
													"setting", "binding"};
		Oid			nsp;
		Oid			argtypes[1] = {TEXTOID};
		uint64		gen = generation;
		int			i;

		if (fill_plan)
		{
			SPI_freeplan(fill_plan);
			fill_plan = NULL;
		}
		checked_fn = InvalidOid;
		nsp = get_namespace_oid("loginas", false);
		for (i = 0; i < OWN_RELS; i++)
			own_relids[i] = get_relname_relid(names[i], nsp);
		checked_fn = LookupFuncName(list_make2(makeString("loginas"), makeString("_assume_checked")),
									1, argtypes, false);
		if (fn_cxt == NULL)
			fn_cxt = AllocSetContextCreate(TopMemoryContext, "loginas assume function", ALLOCSET_SMALL_SIZES);
		MemoryContextReset(fn_cxt);
		fmgr_info_cxt(checked_fn, &checked_flinfo, fn_cxt);
		/* the lookups may have taken invalidations: those are older than the OIDs */
		if (generation == gen)
			oids_known = true;
	}
	if (cache_gen != generation || cache == NULL)
	{
		HASHCTL		ctl;

		MemoryContextReset(cache_cxt);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = LOGINAS_KEY_DIGEST_LEN;
		ctl.entrysize = sizeof(AssumeEntry);
		ctl.hcxt = cache_cxt;
		cache = hash_create("loginas assume cache", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		cache_gen = generation;
	}
}

static char *
cache_strdup(const char *s)
{
	return s ? MemoryContextStrdup(cache_cxt, s) : NULL;
}

/*
 * Whether every relation the admins, customers and store_views bindings read
 * is watched (loginas._cache_watch_set(), as loginas' owner): computed once
 * per generation.
 */
static bool
bindings_watched(void)
{
	LoginAsOwnerState owner;
	uint64		gen = generation;
	int			rc;
	bool		isnull;
	Datum		d;

	if (watched_gen == gen)
		return watched_ok;
	watched_ok = false;
	nwatched = 0;
	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	/* not read-only: a fresh snapshot, not the calling statement's (a cursor's) */
	rc = SPI_execute("SELECT loginas._cache_watch_set()", false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "loginas: could not read the relations of the bindings: %s", SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		Datum	   *elems;
		int			n;
		int			i;

		deconstruct_array(a, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, NULL, &n);
		if (watched)
			pfree(watched);
		watched = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(n, 1));
		for (i = 0; i < n; i++)
			watched[i] = DatumGetObjectId(elems[i]);
		nwatched = n;
		watched_ok = true;
	}
	SPI_finish();
	loginas_as_owner_end(&owner);
	watched_gen = gen;
	return watched_ok;
}

/*
 * How long the entry of session session_id may serve: its expires_at, or the
 * consent's valid_until if earlier (as loginas' owner).  False when the
 * session is no longer live.
 */
static bool
entry_valid_until(int64 session_id, TimestampTz *until)
{
	LoginAsOwnerState owner;
	Datum		args[1];
	int			rc;
	bool		found = false;

	args[0] = Int64GetDatum(session_id);
	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (fill_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT s.expires_at, c.valid_until FROM loginas.session s"
						   "  LEFT JOIN loginas.consent c ON c.customer_key OPERATOR(pg_catalog.=)"
						   "       loginas._canon_key('customers', s.customer_key)"
						   " WHERE s.session_id OPERATOR(pg_catalog.=) $1 AND s.ended_at IS NULL"
						   "   AND s.expires_at IS NOT NULL",
						   1, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "loginas: could not prepare the assume cache's query: %s",
				 SPI_result_code_string(SPI_result));
		fill_plan = plan;
	}
	/*
	 * Not read-only: a fresh snapshot, as the checked path's own reads.  The
	 * calling statement's snapshot (a cursor declared before a change whose
	 * invalidation this backend has taken in already) could give an end
	 * that a later commit shortened.
	 */
	rc = SPI_execute_plan(fill_plan, args, NULL, false, 2);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not read session " INT64_FORMAT ": %s", session_id,
			 SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		exp = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		Datum		cons;

		if (!isnull)
		{
			*until = DatumGetTimestampTz(exp);
			cons = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (!isnull && DatumGetTimestampTz(cons) < *until)
				*until = DatumGetTimestampTz(cons);
			found = true;
		}
	}
	SPI_finish();
	loginas_as_owner_end(&owner);
	return found;
}

/* the checked path: loginas._assume_checked(session_key), called directly */
static int64
assume_checked(FunctionCallInfo outer)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, &checked_flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = outer->args[0].value;
	fcinfo->args[0].isnull = outer->args[0].isnull;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "loginas._assume_checked() returned NULL");
	return DatumGetInt64(result);
}

/*
 * A hit: served if the entry is still in its time, the transaction acts in
 * no other session, and, once the session's lock is held, nothing changed.
 */
static bool
serve_hit(AssumeEntry *e)
{
	const LoginAsContext *cur = loginas_current_context();
	bool		locked = false;

	if (cur && (cur->session_id != e->ctx.session_id || cur->reverting))
		return false;
	if (GetCurrentTransactionStartTimestamp() >= e->valid_until)
		return false;
	if (!XactReadOnly)
	{
		LOCKTAG		tag;

		set_session_locktag(&tag, e->ctx.session_id);
		(void) LockAcquire(&tag, ShareLock, false, false);
		locked = true;
		/* an end (or any change) that committed while we waited */
		AcceptInvalidationMessages();
		if (generation != cache_gen)
			return false;
	}
	loginas_context_set_cached(&e->ctx, locked);
	return true;
}

/*
 * loginas.assume(session_key text) -> bigint
 */
Datum
loginas_assume(PG_FUNCTION_ARGS)
{
	uint8		digest[LOGINAS_KEY_DIGEST_LEN];
	AssumeEntry *e;
	uint64		gen;
	int64		session_id;
	bool		watched_now;
	const LoginAsContext *cur;
	TimestampTz until;

	/* what committed before this call is seen */
	AcceptInvalidationMessages();
	ensure_state();

	if (PG_ARGISNULL(0))
	{
		misses++;
		PG_RETURN_INT64(assume_checked(fcinfo));
	}

	loginas_key_digest(PG_GETARG_TEXT_PP(0), digest);
	e = (AssumeEntry *) hash_search(cache, digest, HASH_FIND, NULL);
	if (e && serve_hit(e))
	{
		hits++;
		PG_RETURN_INT64(e->ctx.session_id);
	}
	misses++;

	/* the checked path; its verdict is kept if nothing moved meanwhile */
	ensure_state();
	gen = generation;
	watched_now = bindings_watched();
	session_id = assume_checked(fcinfo);

	if (!watched_now || IsolationUsesXactSnapshot())
		PG_RETURN_INT64(session_id);
	cur = loginas_current_context();
	if (cur == NULL || cur->reverting || cur->session_id != session_id)
		PG_RETURN_INT64(session_id);
	if (!entry_valid_until(session_id, &until))
		PG_RETURN_INT64(session_id);
	AcceptInvalidationMessages();
	if (generation != gen || cache_gen != gen)
		PG_RETURN_INT64(session_id);

	if (hash_get_num_entries(cache) >= LOGINAS_ASSUME_CACHE_MAX)
	{
		cache_gen = 0;			/* emptied by ensure_state */
		ensure_state();
	}
	e = (AssumeEntry *) hash_search(cache, digest, HASH_ENTER, NULL);
	e->valid_until = until;
	e->ctx = *cur;
	e->ctx.banner = cache_strdup(cur->banner);
	e->ctx.admin_username = cache_strdup(cur->admin_username);
	e->ctx.customer_email = cache_strdup(cur->customer_email);
	e->ctx.source = cache_strdup(cur->source);
	e->ctx.reason = cache_strdup(cur->reason);
	e->ctx.client_addr = cache_strdup(cur->client_addr);
	e->ctx.customer_key = cache_strdup(cur->customer_key);
	e->ctx.admin_key = cache_strdup(cur->admin_key);
	e->ctx.store_key = cache_strdup(cur->store_key);
	PG_RETURN_INT64(session_id);
}

/*
 * loginas._cache_signal(): statement trigger (AFTER INSERT, UPDATE, DELETE,
 * TRUNCATE) on the tables assume()'s verdicts rest on.  It only invalidates
 * loginas.cache_signal's relcache entry, which every backend receives at
 * commit (and this one at once): their cached verdicts go.
 */
Datum
loginas_cache_signal(PG_FUNCTION_ARGS)
{
	Oid			rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._cache_signal() must be called as a trigger")));
	rel = get_relname_relid("cache_signal", get_namespace_oid("loginas", false));
	if (!OidIsValid(rel))
		elog(ERROR, "loginas: relation loginas.cache_signal is missing");
	CacheInvalidateRelcacheByRelid(rel);
	return PointerGetDatum(NULL);
}

/*
 * loginas._lock_session_end(session_id): ending a session waits for every
 * transaction a cached assume() let act in it (they hold its lock in SHARE
 * mode until they end).  Internal: loginas._end_session() calls it.
 */
Datum
loginas_lock_session_end(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	loginas_require_owner(fcinfo, "loginas._lock_session_end()");
	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	set_session_locktag(&tag, PG_GETARG_INT64(0));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}

/*
 * loginas._assume_cache_stats() -> bigint[]: this backend's cache -- entries
 * valid now, assume() calls served from it, calls that took the checked
 * path.  Internal (the tests read it).
 */
Datum
loginas_assume_cache_stats(PG_FUNCTION_ARGS)
{
	Datum		v[3];

	loginas_require_owner(fcinfo, "loginas._assume_cache_stats()");
	AcceptInvalidationMessages();
	v[0] = Int64GetDatum(cache && cache_gen == generation ? (int64) hash_get_num_entries(cache) : 0);
	v[1] = Int64GetDatum(hits);
	v[2] = Int64GetDatum(misses);
	PG_RETURN_ARRAYTYPE_P(construct_array(v, 3, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Whether a view's query could show something else without a write to what
 * it reads: a function or operator that is not immutable (now(), random(),
 * current_setting(), a stable function reading tables...), CURRENT_DATE and
 * friends, nextval().  concat(), concat_ws() and format() are stable only
 * because of the output functions of their arguments (settings such as
 * DateStyle): allowed, as the usual display_name of a bound view is a
 * concat_ws() of names.
 */
static bool
function_mutable(Oid func_id, void *context)
{
	if (func_id == F_CONCAT || func_id == F_CONCAT_WS || func_id == F_FORMAT_TEXT ||
		func_id == F_FORMAT_TEXT_ANY)
		return false;
	return func_volatile(func_id) != PROVOLATILE_IMMUTABLE;
}

static bool
view_mutable_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, function_mutable, context))
		return true;
	if (IsA(node, SQLValueFunction) || IsA(node, NextValueExpr))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, view_mutable_walker, context, 0);
	return expression_tree_walker(node, view_mutable_walker, context);
}

/*
 * loginas._view_immutable(view oid) -> boolean: whether what the view shows
 * changes only with the rows of what it reads (view_mutable_walker).  false
 * for anything but a view.  Internal (loginas._cache_relations).
 */
Datum
loginas_view_immutable(PG_FUNCTION_ARGS)
{
	Relation	rel;
	bool		result = false;

	loginas_require_owner(fcinfo, "loginas._view_immutable()");
	rel = try_relation_open(PG_GETARG_OID(0), AccessShareLock);
	if (rel == NULL)
		PG_RETURN_BOOL(false);
	if (rel->rd_rel->relkind == RELKIND_VIEW)
		result = !view_mutable_walker((Node *) get_view_query(rel), NULL);
	relation_close(rel, AccessShareLock);
	PG_RETURN_BOOL(result);
}
