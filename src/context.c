/*
 * context.c
 *		The impersonation context: which session the current transaction acts in.
 *
 * loginas.assume(session_key) validates a session (in SQL) and then binds the
 * current transaction to it by calling loginas._context_set().  The binding
 * lives only here, in backend-local C memory:
 *
 *	- nothing a client can SET or set_config() creates or changes it (there is
 *	  no GUC behind it, and the setter is callable only by the extension's
 *	  owner, i.e. from inside loginas' own SECURITY DEFINER functions);
 *	- it ends with the transaction: commit, abort and PREPARE TRANSACTION
 *	  all clear it, so it can never leak into the next transaction of a pooled
 *	  connection;
 *	- when it was set inside a subtransaction that rolls back (ROLLBACK TO
 *	  SAVEPOINT, an exception block), it is discarded with that subtransaction.
 *
 * The SQL-callable readers (loginas.current_session() and friends) return
 * NULL outside a session.  They are PARALLEL RESTRICTED: parallel workers do
 * not see the leader's context.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "loginas.h"

static LoginAsContext current = {0};

PG_FUNCTION_INFO_V1(loginas_context_set);
PG_FUNCTION_INFO_V1(loginas_context_clear_session);
PG_FUNCTION_INFO_V1(loginas_current_session);
PG_FUNCTION_INFO_V1(loginas_current_admin);
PG_FUNCTION_INFO_V1(loginas_current_customer);
PG_FUNCTION_INFO_V1(loginas_current_store);
PG_FUNCTION_INFO_V1(loginas_current_read_only);
PG_FUNCTION_INFO_V1(loginas_banner);
PG_FUNCTION_INFO_V1(loginas_lock_session);

/* the context's texts (banner, names, source, reason, address) live here */
static MemoryContext context_cxt = NULL;

static void
free_strings(void)
{
	if (context_cxt)
		MemoryContextReset(context_cxt);
	current.banner = current.admin_username = current.customer_email = NULL;
	current.source = current.reason = current.client_addr = NULL;
	current.customer_key = current.admin_key = current.store_key = NULL;
}

/* how many times a context was cleared in this backend (containment.c) */
uint64		loginas_context_clears = 0;

void
loginas_context_clear(void)
{
	free_strings();
	memset(&current, 0, sizeof(current));
	loginas_context_clears++;
}

static char *
optional_string(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	if (context_cxt == NULL)
		context_cxt = AllocSetContextCreate(TopMemoryContext, "loginas context", ALLOCSET_SMALL_SIZES);
	return MemoryContextStrdup(context_cxt, text_to_cstring(PG_GETARG_TEXT_PP(argno)));
}

/*
 * A session the transaction acted in and then ended (loginas.end() of its own
 * session): the rows its statement inserted before end() are still the
 * session's when their AFTER INSERT trigger runs after it (a writable CTE).
 * Kept, with its texts, in transaction memory until the transaction ends.
 */
static LoginAsContext ended = {0};

static char *
xact_strdup(const char *s)
{
	return s ? MemoryContextStrdup(TopTransactionContext, s) : NULL;
}

static void
remember_ended(void)
{
	ended = current;
	ended.banner = NULL;
	ended.admin_username = xact_strdup(current.admin_username);
	ended.customer_email = xact_strdup(current.customer_email);
	ended.source = xact_strdup(current.source);
	ended.reason = xact_strdup(current.reason);
	ended.client_addr = xact_strdup(current.client_addr);
	ended.customer_key = xact_strdup(current.customer_key);
	ended.admin_key = xact_strdup(current.admin_key);
	ended.store_key = xact_strdup(current.store_key);
}

/* the session session_id, if this transaction acted in it and then ended it */
const LoginAsContext *
loginas_ended_context(int64 session_id)
{
	return ended.active && ended.session_id == session_id ? &ended : NULL;
}

/* the session this transaction acted in and then ended, if any */
const LoginAsContext *
loginas_ended_context_any(void)
{
	return ended.active ? &ended : NULL;
}

const LoginAsContext *
loginas_current_context(void)
{
	return current.active ? &current : NULL;
}

static void
loginas_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (current.active)
				loginas_context_clear();
			memset(&ended, 0, sizeof(ended));	/* its texts went with the transaction */
			break;
		default:
			break;
	}
}

static void
loginas_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (!current.active)
		return;
	if (current.locked && current.locked_in_subxact == mySubid)
	{
		/* a row lock taken in a subtransaction goes with its rollback */
		if (event == SUBXACT_EVENT_ABORT_SUB)
			current.locked = false;
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			current.locked_in_subxact = parentSubid;
	}
	if (current.set_in_subxact != mySubid)
		return;

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			/* the assume() that made the context is rolled back */
			loginas_context_clear();
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			/* the context now belongs to the enclosing (sub)transaction */
			current.set_in_subxact = parentSubid;
			break;
		default:
			break;
	}
}

void
loginas_context_init(void)
{
	RegisterXactCallback(loginas_xact_callback, NULL);
	RegisterSubXactCallback(loginas_subxact_callback, NULL);
}

/*
 * A key of the context: the text argument argno when given (keys of any
 * type: 1.3 passes it), else the integer id's digits (an older caller).
 */
static char *
context_key(FunctionCallInfo fcinfo, int argno, int64 id)
{
	char		buf[32];

	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
		return optional_string(fcinfo, argno);
	snprintf(buf, sizeof(buf), INT64_FORMAT, id);
	if (context_cxt == NULL)
		context_cxt = AllocSetContextCreate(TopMemoryContext, "loginas context", ALLOCSET_SMALL_SIZES);
	return MemoryContextStrdup(context_cxt, buf);
}

/* an id of the context is given as bigint, or (keys of any type) as its key only */
#define ID_OR_KEY_GIVEN(id_arg, key_arg) \
	(!PG_ARGISNULL(id_arg) || (PG_NARGS() > (key_arg) && !PG_ARGISNULL(key_arg)))

/*
 * loginas._context_set(session_id, admin_id, customer_id, store_id,
 *						 read_only, banner, admin_username, customer_email,
 *						 source, reason, client_addr, customer_key, admin_key,
 *						 store_key) -> void
 *
 * Called by loginas.assume() after every check has passed.  Keys of any
 * type: the admin, the customer and the store view each come as their bigint
 * id (NULL when the kind's keys are not integers) and as their canonical
 * text key.
 */
Datum
loginas_context_set(PG_FUNCTION_ARGS)
{
	int64		session_id;

	loginas_require_owner(fcinfo, "loginas._context_set()");

	if (PG_ARGISNULL(0) || !ID_OR_KEY_GIVEN(1, 12) || !ID_OR_KEY_GIVEN(2, 11) ||
		!ID_OR_KEY_GIVEN(3, 13) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a Login as Customer context needs a session, an admin, a customer and a store")));

	session_id = PG_GETARG_INT64(0);

	if (current.active && current.session_id != session_id)
	{
		/* loginas.assume() refuses this first; this is the second lock */
		loginas_caller_context_only();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this transaction already acts in Login as Customer session %lld",
						(long long) current.session_id),
				 errdetail("A transaction can act in one session only."),
				 errhint("Commit or roll back before assuming another session.")));
	}

	if (!IsTransactionBlock())
		ereport(WARNING,
				(errmsg("loginas.assume() called outside a transaction block"),
				 errdetail("The Login as Customer context ends with the current statement."),
				 errhint("Call it right after BEGIN, in the transaction that does the request's work.")));

	if (!current.active)
	{
		current.set_in_subxact = GetCurrentSubTransactionId();
		current.locked = false;
	}
	/* assume() locked the session's row unless the transaction was read-only */
	if (!current.locked && !XactReadOnly)
	{
		current.locked = true;
		current.locked_in_subxact = GetCurrentSubTransactionId();
	}

	current.active = true;
	current.reverting = false;
	current.session_id = session_id;
	current.has_admin_id = !PG_ARGISNULL(1);
	current.admin_id = current.has_admin_id ? PG_GETARG_INT64(1) : LOGINAS_NO_ID;
	current.has_customer_id = !PG_ARGISNULL(2);
	current.customer_id = current.has_customer_id ? PG_GETARG_INT64(2) : LOGINAS_NO_ID;
	current.has_store_id = !PG_ARGISNULL(3);
	current.store_id = current.has_store_id ? PG_GETARG_INT64(3) : LOGINAS_NO_ID;
	current.read_only = PG_GETARG_BOOL(4);
	free_strings();
	current.banner = optional_string(fcinfo, 5);
	current.admin_username = optional_string(fcinfo, 6);
	current.customer_email = optional_string(fcinfo, 7);
	current.source = optional_string(fcinfo, 8);
	current.reason = optional_string(fcinfo, 9);
	current.client_addr = optional_string(fcinfo, 10);
	current.customer_key = context_key(fcinfo, 11, current.customer_id);
	current.admin_key = context_key(fcinfo, 12, current.admin_id);
	current.store_key = context_key(fcinfo, 13, current.store_id);

	PG_RETURN_VOID();
}

/*
 * loginas.revert() acts as the revert's own session (an ended session row
 * made for it) while it writes a session's rows back: the context of a
 * session, with reverting set and the session's lock taken as done (its row
 * is ended: no lock of a live session applies).  Cleared by the revert when
 * its writes are done, and like every context by the end of the
 * (sub)transaction.
 */
static char *
context_strdup(const char *s)
{
	if (s == NULL)
		return NULL;
	if (context_cxt == NULL)
		context_cxt = AllocSetContextCreate(TopMemoryContext, "loginas context", ALLOCSET_SMALL_SIZES);
	return MemoryContextStrdup(context_cxt, s);
}

void
loginas_context_set_revert(int64 session_id, const char *admin_key, bool has_admin_id, int64 admin_id,
						   const char *customer_key, bool has_customer_id, int64 customer_id,
						   const char *store_key, bool has_store_id, int64 store_id,
						   const char *admin_username, const char *customer_email, const char *source,
						   const char *reason, const char *client_addr)
{
	if (current.active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this transaction already acts in Login as Customer session %lld",
						(long long) current.session_id)));
	free_strings();
	memset(&current, 0, sizeof(current));
	current.active = true;
	current.reverting = true;
	current.set_in_subxact = GetCurrentSubTransactionId();
	current.locked = true;
	current.locked_in_subxact = GetCurrentSubTransactionId();
	current.session_id = session_id;
	current.has_admin_id = has_admin_id;
	current.admin_id = has_admin_id ? admin_id : LOGINAS_NO_ID;
	current.has_customer_id = has_customer_id;
	current.customer_id = has_customer_id ? customer_id : LOGINAS_NO_ID;
	current.has_store_id = has_store_id;
	current.store_id = has_store_id ? store_id : LOGINAS_NO_ID;
	current.read_only = false;
	current.admin_key = context_strdup(admin_key);
	current.customer_key = context_strdup(customer_key);
	current.store_key = context_strdup(store_key);
	current.admin_username = context_strdup(admin_username);
	current.customer_email = context_strdup(customer_email);
	current.source = context_strdup(source);
	current.reason = context_strdup(reason);
	current.client_addr = context_strdup(client_addr);
}

/*
 * The context of a session as assume() checked it before (assume.c, its
 * per-backend cache): what loginas._context_set() sets, from a context the
 * checked path made.  locked: the caller holds the session's lock (the
 * transaction is not read-only).  The caller has made sure the transaction
 * acts in no other session.
 */
void
loginas_context_set_cached(const LoginAsContext *src, bool locked)
{
	Assert(!current.active || current.session_id == src->session_id);

	if (!IsTransactionBlock())
		ereport(WARNING,
				(errmsg("loginas.assume() called outside a transaction block"),
				 errdetail("The Login as Customer context ends with the current statement."),
				 errhint("Call it right after BEGIN, in the transaction that does the request's work.")));

	if (!current.active)
	{
		current.set_in_subxact = GetCurrentSubTransactionId();
		current.locked = false;
	}
	if (!current.locked && locked)
	{
		current.locked = true;
		current.locked_in_subxact = GetCurrentSubTransactionId();
	}

	current.active = true;
	current.reverting = false;
	current.session_id = src->session_id;
	current.has_admin_id = src->has_admin_id;
	current.admin_id = src->admin_id;
	current.has_customer_id = src->has_customer_id;
	current.customer_id = src->customer_id;
	current.has_store_id = src->has_store_id;
	current.store_id = src->store_id;
	current.read_only = src->read_only;
	free_strings();
	current.banner = context_strdup(src->banner);
	current.admin_username = context_strdup(src->admin_username);
	current.customer_email = context_strdup(src->customer_email);
	current.source = context_strdup(src->source);
	current.reason = context_strdup(src->reason);
	current.client_addr = context_strdup(src->client_addr);
	current.customer_key = context_strdup(src->customer_key);
	current.admin_key = context_strdup(src->admin_key);
	current.store_key = context_strdup(src->store_key);
}

/*
 * Before the first tracked write of a transaction whose assume() could not
 * lock the session's row (it ran while the transaction was read-only, e.g.
 * inside a function declared SET transaction_read_only = on, a flag that goes
 * when the function returns): lock it now, FOR KEY SHARE like assume(), and
 * make sure the session is still live.  Ending a session locks the row FOR
 * UPDATE, so either the end waits for this transaction, or this waits for the
 * end and then finds the session ended: no write commits after the end.
 */
void
loginas_context_lock_session(void)
{
	LoginAsOwnerState owner;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	int			rc;
	bool		live;

	if (!current.active || current.locked)
		return;
	args[0] = Int64GetDatum(current.session_id);
	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	rc = SPI_execute_with_args("SELECT 1 FROM loginas.session ls"
							   " WHERE ls.session_id OPERATOR(pg_catalog.=) $1 AND ls.ended_at IS NULL"
							   "   AND ls.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()"
							   " FOR KEY SHARE",
							   1, argtypes, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not lock session " INT64_FORMAT ": %s",
			 current.session_id, SPI_result_code_string(rc));
	live = (SPI_processed == 1);
	SPI_finish();
	loginas_as_owner_end(&owner);
	if (!live)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Login as Customer session has ended."),
				 errdetail("Session %lld ended or expired while this transaction acted in it.",
						   (long long) current.session_id),
				 errhint("Log the customer out of the storefront; the admin can start Login as Customer again.")));
	current.locked = true;
	current.locked_in_subxact = GetCurrentSubTransactionId();
}

/*
 * loginas._lock_session() -> void: the same, for what a session writes
 * without a tracked table (loginas.note).
 */
Datum
loginas_lock_session(PG_FUNCTION_ARGS)
{
	loginas_require_owner(fcinfo, "loginas._lock_session()");
	loginas_context_lock_session();
	PG_RETURN_VOID();
}

/*
 * loginas._context_clear_session(session_id) -> boolean
 *
 * Called when a session ends: a transaction that acted in it stops doing so
 * right away.  Returns whether a context was cleared.
 */
Datum
loginas_context_clear_session(PG_FUNCTION_ARGS)
{
	loginas_require_owner(fcinfo, "loginas._context_clear_session()");

	if (current.active && !PG_ARGISNULL(0) &&
		current.session_id == PG_GETARG_INT64(0))
	{
		remember_ended();
		loginas_context_clear();
		PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}

#define CONTEXT_READER(fn, field) \
Datum \
fn(PG_FUNCTION_ARGS) \
{ \
	if (!current.active) \
		PG_RETURN_NULL(); \
	PG_RETURN_INT64(current.field); \
}

CONTEXT_READER(loginas_current_session, session_id)

/*
 * The admin, the customer and the store view as bigint: NULL too when the
 * kind's keys are not integers (see current_admin_key() and friends).
 */
#define CONTEXT_ID_READER(fn, field, has) \
Datum \
fn(PG_FUNCTION_ARGS) \
{ \
	if (!current.active || !current.has) \
		PG_RETURN_NULL(); \
	PG_RETURN_INT64(current.field); \
}

CONTEXT_ID_READER(loginas_current_admin, admin_id, has_admin_id)
CONTEXT_ID_READER(loginas_current_customer, customer_id, has_customer_id)
CONTEXT_ID_READER(loginas_current_store, store_id, has_store_id)

/* their keys, any type, as text */
#define CONTEXT_KEY_READER(fn, field) \
PG_FUNCTION_INFO_V1(fn); \
Datum \
fn(PG_FUNCTION_ARGS) \
{ \
	if (!current.active || current.field == NULL) \
		PG_RETURN_NULL(); \
	PG_RETURN_TEXT_P(cstring_to_text(current.field)); \
}

CONTEXT_KEY_READER(loginas_current_admin_key, admin_key)
CONTEXT_KEY_READER(loginas_current_customer_key, customer_key)
CONTEXT_KEY_READER(loginas_current_store_key, store_key)

Datum
loginas_current_read_only(PG_FUNCTION_ARGS)
{
	if (!current.active)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(current.read_only);
}

Datum
loginas_banner(PG_FUNCTION_ARGS)
{
	if (!current.active || current.banner == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(current.banner));
}

/* loginas.in_session(): the WHEN filter of the tracked tables' triggers */
PG_FUNCTION_INFO_V1(loginas_in_session);

Datum
loginas_in_session(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(current.active);
}

/*
 * loginas._context_text(field) -> text: what assume() put in the context for
 * the session's log rows (admin_username, customer_email, source, reason,
 * client_addr); NULL outside a session.  Internal: loginas.note() uses it.
 */
PG_FUNCTION_INFO_V1(loginas_context_text);

Datum
loginas_context_text(PG_FUNCTION_ARGS)
{
	char	   *field;
	const char *value = NULL;

	loginas_require_owner(fcinfo, "loginas._context_text()");
	if (!current.active || PG_ARGISNULL(0))
		PG_RETURN_NULL();
	field = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(field, "admin_username") == 0)
		value = current.admin_username;
	else if (strcmp(field, "customer_email") == 0)
		value = current.customer_email;
	else if (strcmp(field, "source") == 0)
		value = current.source;
	else if (strcmp(field, "reason") == 0)
		value = current.reason;
	else if (strcmp(field, "client_addr") == 0)
		value = current.client_addr;
	else
		elog(ERROR, "loginas._context_text: unknown field \"%s\"", field);
	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(value));
}
