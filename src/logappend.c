/*
 * logappend.c
 *		One row appended to loginas.action_log (sql: loginas._append, loginas._log).
 *
 * Every log row -- lifecycle steps, notes, the write log's rows at commit
 * (writelog.c), refusals (refusal_queue.c's workers) -- goes through
 * loginas._append, which
 *
 *	1. takes the row's id from loginas.action_log_log_id_seq;
 *	2. renders the row's canonical text, exactly as loginas._log_content()
 *	   does in SQL (verify_log() recomputes it there): the jsonb array
 *	   [log_id, epoch, action_group, action, result, admin_id,
 *	   admin_username, customer_id, customer_email, session_id, store_id,
 *	   source, reason, client_addr::text, db_role::text, details] as text;
 *	3. links it into this backend's hash chain (logchain.c), registering
 *	   the chain in loginas.log_chain on the backend's first append;
 *	4. inserts the row through a plan kept for the backend.
 *
 * loginas._log, the writer of loginas' own lifecycle rows, first fills in
 * what its callers leave out -- the admin's username and the customer's
 * e-mail from the bound relations (reader.c), a session's source, reason
 * and storefront address -- then appends the same way.  Usernames and
 * e-mails are stored cut to 255 characters (the shop's views decide how long
 * they are, not the log).
 *
 * loginas._log_row_hash (1.2) renders the canonical text of a stored row the
 * same way and hashes it as the append did: verify_log() checks every row
 * with it, never building a jsonb value (1.0 and 1.1 rebuilt the row with
 * jsonb_build_array(), which a row near jsonb's 256 MB limit overflowed).
 * viewlog.c's worker appends through loginas_append_values().
 *
 * Version 1.0 did this in PL/pgSQL; 1.1 does it here because every logged
 * action pays for it (docs/benchmarks.md, "Action log": appends).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "loginas.h"
#include "mb/pg_wchar.h"

PG_FUNCTION_INFO_V1(loginas_append);
PG_FUNCTION_INFO_V1(loginas_log);

#define ACTION_GROUP "Login As Customer"

/* the arguments of loginas._append, in order */
enum
{
	A_LOGGED_AT, A_ACTION, A_RESULT, A_ADMIN_ID, A_ADMIN_USERNAME, A_CUSTOMER_ID,
	A_CUSTOMER_EMAIL, A_SESSION_ID, A_STORE_ID, A_SOURCE, A_REASON, A_CLIENT_ADDR,
	A_DB_ROLE, A_DETAILS,
	/* keys of any type (1.3, all three optional): only where a bigint cannot hold them */
	A_ADMIN_KEY, A_CUSTOMER_KEY, A_STORE_KEY, A_NARGS
};

static SPIPlanPtr chain_plan = NULL;

/* ---------------------------------------------------------------------
 * The canonical text: what jsonb_build_array(...)::text prints
 * ---------------------------------------------------------------------
 */

/* a number as jsonb holds it: one that is not a JSON number is a string */
static void
put_number(StringInfo buf, const char *digits)
{
	if (strchr(digits, 'N') || strchr(digits, 'n'))	/* NaN, Infinity */
		escape_json(buf, digits);
	else
		appendStringInfoString(buf, digits);
}

/* one row's values, in the order of loginas._append's arguments */
typedef struct LogRow
{
	Datum		values[A_NARGS];
	bool		nulls[A_NARGS];
} LogRow;

static void
put_int8(StringInfo buf, const LogRow *row, int argno)
{
	if (row->nulls[argno])
		appendStringInfoString(buf, "null");
	else
		appendStringInfo(buf, INT64_FORMAT, DatumGetInt64(row->values[argno]));
}

static void
put_text(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, s);
}

static char *
row_text(const LogRow *row, int argno)
{
	return row->nulls[argno] ? NULL : TextDatumGetCString(row->values[argno]);
}

/*
 * The canonical text of a row: log_id (NULL: none), the row's values (its
 * action_group as given: ACTION_GROUP when appending, the stored one when
 * verifying), details as stored (NULL: none).  No jsonb value is built, so
 * no jsonb size limit applies: a row that could be stored can be verified.
 */
static char *
log_content(const LogRow *row, const int64 *log_id, const char *action_group, Jsonb *details,
			const char *details_text)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	if (log_id)
		appendStringInfo(&buf, INT64_FORMAT, *log_id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", ");
	if (row->nulls[A_LOGGED_AT])
		appendStringInfoString(&buf, "null");
	else
	{
		Datum		epoch = DirectFunctionCall2(extract_timestamptz,
												PointerGetDatum(cstring_to_text("epoch")),
												row->values[A_LOGGED_AT]);

		put_number(&buf, DatumGetCString(DirectFunctionCall1(numeric_out, epoch)));
	}
	appendStringInfoString(&buf, ", ");
	put_text(&buf, action_group);
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row_text(row, A_ACTION));
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row_text(row, A_RESULT));
	appendStringInfoString(&buf, ", ");
	put_int8(&buf, row, A_ADMIN_ID);
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row_text(row, A_ADMIN_USERNAME));
	appendStringInfoString(&buf, ", ");
	put_int8(&buf, row, A_CUSTOMER_ID);
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row_text(row, A_CUSTOMER_EMAIL));
	appendStringInfoString(&buf, ", ");
	put_int8(&buf, row, A_SESSION_ID);
	appendStringInfoString(&buf, ", ");
	put_int8(&buf, row, A_STORE_ID);
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row_text(row, A_SOURCE));
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row_text(row, A_REASON));
	appendStringInfoString(&buf, ", ");
	/* inet::text: network_show, with its mask (10.0.0.1/32) */
	put_text(&buf, row->nulls[A_CLIENT_ADDR] ? NULL :
			 TextDatumGetCString(DirectFunctionCall1(network_show, row->values[A_CLIENT_ADDR])));
	appendStringInfoString(&buf, ", ");
	put_text(&buf, row->nulls[A_DB_ROLE] ? NULL : NameStr(*DatumGetName(row->values[A_DB_ROLE])));
	appendStringInfoString(&buf, ", ");
	if (details_text)
		appendStringInfoString(&buf, details_text);
	else if (details)
		(void) JsonbToCString(&buf, &details->root, VARSIZE(details));
	else
		appendStringInfoString(&buf, "null");

	/*
	 * The second form (keys of any type): a row with a key that is not an
	 * integer has admin_key, customer_key and store_key appended.  A row
	 * without (all rows before 1.3, every row of an integer shop) keeps the
	 * first form, and its hash.
	 */
	if (!row->nulls[A_ADMIN_KEY] || !row->nulls[A_CUSTOMER_KEY] || !row->nulls[A_STORE_KEY])
	{
		appendStringInfoString(&buf, ", ");
		put_text(&buf, row_text(row, A_ADMIN_KEY));
		appendStringInfoString(&buf, ", ");
		put_text(&buf, row_text(row, A_CUSTOMER_KEY));
		appendStringInfoString(&buf, ", ");
		put_text(&buf, row_text(row, A_STORE_KEY));
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/* ---------------------------------------------------------------------
 * The kept plans
 * ---------------------------------------------------------------------
 */
static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "loginas: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	return plan;
}

/* this backend's chain, registered on its first append */
static int64
chain_for(Oid log_relid)
{
	int64		chain_id = loginas_chain_current(log_relid);
	bool		isnull;

	if (chain_id != 0)
		return chain_id;
	if (chain_plan == NULL)
		chain_plan = keep_plan("INSERT INTO loginas.log_chain DEFAULT VALUES RETURNING chain_id", 0, NULL);
	if (SPI_execute_plan(chain_plan, NULL, NULL, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "loginas: could not start a log chain");
	chain_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return chain_id;
}

#define INSERT_NARGS 23

/*
 * A name read from the shop's bound relations (an admin's username, a
 * customer's e-mail), as stored in the log: at most NAME_CHARS characters.
 * The shop decides what its views return; the log does not grow with it.
 */
#define NAME_CHARS 255

static void
clip_name(LogRow *row, int argno)
{
	text	   *t;
	int			len;

	if (row->nulls[argno])
		return;
	t = DatumGetTextPP(row->values[argno]);
	len = VARSIZE_ANY_EXHDR(t);
	if (len <= NAME_CHARS)
		return;					/* no more bytes than characters allowed */
	if (pg_mbstrlen_with_len(VARDATA_ANY(t), len) <= NAME_CHARS)
		return;
	row->values[argno] = PointerGetDatum(cstring_to_text_with_len(VARDATA_ANY(t),
																  pg_mbcharcliplen(VARDATA_ANY(t), len, NAME_CHARS)));
}

/*
 * Append one row to the action log of schema nsp (loginas); its log_id
 */
static int64
append_row(Oid nsp, const LogRow *given, bool strip, const char *details_text)
{
	LogRow		copy = *given;
	LogRow	   *row = &copy;
	Oid			log_relid;
	Oid			seq_relid;
	int64		log_id;
	int64		chain_id;
	int64		chain_seq;
	uint8		prev[PG_SHA256_DIGEST_LENGTH];
	uint8		cur[PG_SHA256_DIGEST_LENGTH];
	Jsonb	   *details;
	char	   *content;
	Datum		values[INSERT_NARGS];
	bool		nulls[INSERT_NARGS];
	int			i;

	log_relid = get_relname_relid("action_log", nsp);
	seq_relid = get_relname_relid("action_log_log_id_seq", nsp);
	if (!OidIsValid(log_relid) || !OidIsValid(seq_relid))
		elog(ERROR, "loginas: loginas.action_log or its id sequence is missing");

	log_id = nextval_internal(seq_relid, true);

	clip_name(row, A_ADMIN_USERNAME);
	clip_name(row, A_CUSTOMER_EMAIL);

	/* the details as stored: no JSON nulls in objects, '{}' for none */
	if (row->nulls[A_DETAILS])
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else if (strip)
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_strip_nulls, row->values[A_DETAILS]));
	else
		details = DatumGetJsonbP(row->values[A_DETAILS]);

	content = log_content(row, &log_id, ACTION_GROUP, details, details_text);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	chain_id = chain_for(log_relid);
	loginas_chain_link(chain_id, log_relid, content, strlen(content), &chain_seq, prev, cur);

	SPI_finish();

	/*
	 * The row, as INSERT puts it (rowinsert.c).  A row without keys (every
	 * row of an integer shop) leaves the key columns NULL: they exist only
	 * from 1.3 on, and a backend that loaded this library before ALTER
	 * EXTENSION UPDATE appends to the older table.
	 */
	{
		static const char *const names[INSERT_NARGS] = {
			"log_id", "logged_at", "action_group", "action", "result", "admin_id", "admin_username",
			"customer_id", "customer_email", "session_id", "store_id", "source", "reason", "client_addr",
			"db_role", "details", "chain_id", "chain_seq", "prev_hash", "row_hash", "admin_key",
			"customer_key", "store_key"
		};
		static const Oid types[INSERT_NARGS] = {
			INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, INT8OID, TEXTOID,
			INT8OID, INT8OID, TEXTOID, TEXTOID, INETOID, NAMEOID, JSONBOID, INT8OID, INT8OID, BYTEAOID,
			BYTEAOID, TEXTOID, TEXTOID, TEXTOID
		};
		/* the columns that take an argument as it is given: (column, argument) */
		static const int map[][2] = {
			{1, A_LOGGED_AT}, {3, A_ACTION}, {4, A_RESULT}, {5, A_ADMIN_ID}, {6, A_ADMIN_USERNAME},
			{7, A_CUSTOMER_ID}, {8, A_CUSTOMER_EMAIL}, {9, A_SESSION_ID}, {10, A_STORE_ID},
			{11, A_SOURCE}, {12, A_REASON}, {13, A_CLIENT_ADDR}, {14, A_DB_ROLE},
			{20, A_ADMIN_KEY}, {21, A_CUSTOMER_KEY}, {22, A_STORE_KEY}
		};

		memset(nulls, false, sizeof(nulls));
		values[0] = Int64GetDatum(log_id);
		values[2] = CStringGetTextDatum(ACTION_GROUP);
		for (i = 0; i < (int) lengthof(map); i++)
		{
			nulls[map[i][0]] = row->nulls[map[i][1]];
			values[map[i][0]] = row->nulls[map[i][1]] ? (Datum) 0 : row->values[map[i][1]];
		}
		values[15] = JsonbPGetDatum(details);
		values[16] = Int64GetDatum(chain_id);
		values[17] = Int64GetDatum(chain_seq);
		values[18] = PointerGetDatum(loginas_hash_bytea(prev));
		values[19] = PointerGetDatum(loginas_hash_bytea(cur));
		loginas_insert_row(log_relid, INSERT_NARGS, names, types, values, nulls);
	}
	return log_id;
}

/*
 * loginas._append(logged_at timestamptz, action text, result text,
 *				   admin_id bigint, admin_username text,
 *				   customer_id bigint, customer_email text,
 *				   session_id bigint, store_id bigint, source text, reason text,
 *				   client_addr inet, db_role name, details jsonb) -> bigint
 *
 * The new row's log_id.  Internal: callable only as the extension's owner
 * (loginas' own SECURITY DEFINER functions, the write log, the refusal log).
 */
Datum
loginas_append(PG_FUNCTION_ARGS)
{
	LogRow		row;
	int			i;

	loginas_require_owner(fcinfo, "loginas._append()");
	/* (before ALTER EXTENSION UPDATE to 1.3, _append has no keys) */
	for (i = 0; i < A_NARGS; i++)
	{
		row.nulls[i] = i >= PG_NARGS() || PG_ARGISNULL(i);
		row.values[i] = row.nulls[i] ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	PG_RETURN_INT64(append_row(get_func_namespace(fcinfo->flinfo->fn_oid), &row, true, NULL));
}

/*
 * The same, for C callers (viewlog.c, writelog.c): values and nulls in the
 * order of loginas._append's arguments; strip false for details that hold
 * no JSON null in an object (as a writer that built them knows);
 * details_text, when the writer built the details as text in the form jsonb
 * prints them (keys in jsonb's order, ", " and ": " between), is that text:
 * the canonical text takes it as it is instead of printing the jsonb again
 * (NULL: print it).  verify_log() prints the stored jsonb: a text that is not
 * exactly that breaks the row's hash there.
 */
int64
loginas_append_values(Oid nsp, const Datum *values, const bool *nulls, bool strip,
					  const char *details_text)
{
	LogRow		row;

	StaticAssertStmt(LOGINAS_APPEND_NARGS == A_NARGS, "loginas._append's arguments");
	memcpy(row.values, values, sizeof(Datum) * LOGINAS_APPEND_NARGS);
	memcpy(row.nulls, nulls, sizeof(bool) * LOGINAS_APPEND_NARGS);
	return append_row(nsp, &row, strip, details_text);
}

/*
 * loginas._log_row_hash(prev_hash bytea, chain_id bigint, chain_seq bigint,
 *						 log_id bigint, logged_at timestamptz, action_group text,
 *						 action text, result text, admin_id bigint, admin_username text,
 *						 customer_id bigint, customer_email text, session_id bigint,
 *						 store_id bigint, source text, reason text, client_addr inet,
 *						 db_role name, details jsonb) -> bytea
 *
 * What a stored row's hash must be (verify_log()): the row's canonical text
 * as the append made it, hashed after its predecessor's hash and its place.
 * The same text as loginas._log_content() builds in SQL, byte for byte, but
 * without building a jsonb array: a row whose details are near jsonb's size
 * limit verifies too.  NULL when prev_hash, chain_id or chain_seq is NULL.
 */
PG_FUNCTION_INFO_V1(loginas_log_row_hash);

Datum
loginas_log_row_hash(PG_FUNCTION_ARGS)
{
	enum
	{
		H_PREV, H_CHAIN_ID, H_CHAIN_SEQ, H_LOG_ID, H_LOGGED_AT, H_ACTION_GROUP, H_ACTION, H_RESULT,
		H_ADMIN_ID, H_ADMIN_USERNAME, H_CUSTOMER_ID, H_CUSTOMER_EMAIL, H_SESSION_ID, H_STORE_ID,
		H_SOURCE, H_REASON, H_CLIENT_ADDR, H_DB_ROLE, H_DETAILS, H_ADMIN_KEY, H_CUSTOMER_KEY, H_STORE_KEY
	};
	static const int map[][2] = {
		{A_LOGGED_AT, H_LOGGED_AT}, {A_ACTION, H_ACTION}, {A_RESULT, H_RESULT}, {A_ADMIN_ID, H_ADMIN_ID},
		{A_ADMIN_USERNAME, H_ADMIN_USERNAME}, {A_CUSTOMER_ID, H_CUSTOMER_ID},
		{A_CUSTOMER_EMAIL, H_CUSTOMER_EMAIL}, {A_SESSION_ID, H_SESSION_ID}, {A_STORE_ID, H_STORE_ID},
		{A_SOURCE, H_SOURCE}, {A_REASON, H_REASON}, {A_CLIENT_ADDR, H_CLIENT_ADDR}, {A_DB_ROLE, H_DB_ROLE},
		{A_ADMIN_KEY, H_ADMIN_KEY}, {A_CUSTOMER_KEY, H_CUSTOMER_KEY}, {A_STORE_KEY, H_STORE_KEY}
	};
	LogRow		row;
	int64		log_id;
	bytea	   *prev;
	char	   *content;
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	int			i;

	if (PG_ARGISNULL(H_PREV) || PG_ARGISNULL(H_CHAIN_ID) || PG_ARGISNULL(H_CHAIN_SEQ))
		PG_RETURN_NULL();
	/* (the 1.2 function has no keys: the first form) */
	for (i = 0; i < (int) lengthof(map); i++)
	{
		row.nulls[map[i][0]] = map[i][1] >= PG_NARGS() || PG_ARGISNULL(map[i][1]);
		row.values[map[i][0]] = row.nulls[map[i][0]] ? (Datum) 0 : PG_GETARG_DATUM(map[i][1]);
	}
	log_id = PG_ARGISNULL(H_LOG_ID) ? 0 : PG_GETARG_INT64(H_LOG_ID);
	content = log_content(&row, PG_ARGISNULL(H_LOG_ID) ? NULL : &log_id,
						  PG_ARGISNULL(H_ACTION_GROUP) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(H_ACTION_GROUP)),
						  PG_ARGISNULL(H_DETAILS) ? NULL : PG_GETARG_JSONB_P(H_DETAILS), NULL);
	prev = PG_GETARG_BYTEA_PP(H_PREV);
	loginas_chain_hash((uint8 *) VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev), PG_GETARG_INT64(H_CHAIN_ID),
					   PG_GETARG_INT64(H_CHAIN_SEQ), content, strlen(content), hash);
	pfree(content);
	PG_RETURN_BYTEA_P(loginas_hash_bytea(hash));
}

/* inet_client_addr(): the client's address, or NULL on a Unix socket */
static bool
client_addr(Datum *addr)
{
	LOCAL_FCINFO(fc, 0);

	InitFunctionCallInfoData(*fc, NULL, 0, InvalidOid, NULL, NULL);
	*addr = inet_client_addr(fc);
	return !fc->isnull;
}

static SPIPlanPtr session_plan = NULL;

/*
 * Keys of any type: the key of an admin, customer or store view of a row of
 * loginas._log, as text (NULL: none).  Its bigint id when the row has one
 * (the key is an integer); else the key argument key_arg (1.3), which is then
 * logged in its key column (the second form of the canonical text; a row
 * with integer keys only keeps the first).
 */
static char *
logged_key(FunctionCallInfo fcinfo, LogRow *row, int id_col, int key_arg, int key_col)
{
	if (!row->nulls[id_col])
		return psprintf(INT64_FORMAT, DatumGetInt64(row->values[id_col]));
	if (PG_NARGS() <= key_arg || PG_ARGISNULL(key_arg))
		return NULL;
	row->nulls[key_col] = false;
	row->values[key_col] = PG_GETARG_DATUM(key_arg);
	return text_to_cstring(PG_GETARG_TEXT_PP(key_arg));
}

/*
 * loginas._log(action text, result text, admin_id bigint, customer_id bigint,
 *				session_id bigint DEFAULT NULL, store_id bigint DEFAULT NULL,
 *				source text DEFAULT NULL, reason text DEFAULT NULL,
 *				details jsonb DEFAULT '{}', client_addr inet DEFAULT NULL,
 *				customer_key text DEFAULT NULL, admin_key text DEFAULT NULL,
 *				store_key text DEFAULT NULL) -> bigint
 *
 * A log row of loginas' own steps: the admin's username and the customer's
 * e-mail are read from the bound relations (none when unbound or missing);
 * a session's row without a source and a reason takes the session's, and
 * without any client address the storefront's; then the row is appended.
 */
Datum
loginas_log(PG_FUNCTION_ARGS)
{
	enum
	{
		L_ACTION, L_RESULT, L_ADMIN_ID, L_CUSTOMER_ID, L_SESSION_ID, L_STORE_ID, L_SOURCE,
		L_REASON, L_DETAILS, L_CLIENT_ADDR, L_CUSTOMER_KEY, L_ADMIN_KEY, L_STORE_KEY
	};
	LogRow		row;
	Datum		here;
	bool		here_known = client_addr(&here);
	bool		no_why = PG_ARGISNULL(L_SOURCE) && PG_ARGISNULL(L_REASON);
	static const int given[][2] = {
		{A_ACTION, L_ACTION}, {A_RESULT, L_RESULT}, {A_ADMIN_ID, L_ADMIN_ID},
		{A_CUSTOMER_ID, L_CUSTOMER_ID}, {A_SESSION_ID, L_SESSION_ID}, {A_STORE_ID, L_STORE_ID},
		{A_SOURCE, L_SOURCE}, {A_REASON, L_REASON}, {A_CLIENT_ADDR, L_CLIENT_ADDR},
		{A_DETAILS, L_DETAILS}
	};
	int			i;

	loginas_require_owner(fcinfo, "loginas._log()");
	row.nulls[A_ADMIN_KEY] = row.nulls[A_CUSTOMER_KEY] = row.nulls[A_STORE_KEY] = true;
	row.values[A_ADMIN_KEY] = row.values[A_CUSTOMER_KEY] = row.values[A_STORE_KEY] = (Datum) 0;
	for (i = 0; i < (int) lengthof(given); i++)
	{
		row.nulls[given[i][0]] = PG_ARGISNULL(given[i][1]);
		row.values[given[i][0]] = row.nulls[given[i][0]] ? (Datum) 0 : PG_GETARG_DATUM(given[i][1]);
	}

	/* a session's row: its source document, reason and storefront address */
	if (!PG_ARGISNULL(L_SESSION_ID) && (no_why || (PG_ARGISNULL(L_CLIENT_ADDR) && !here_known)))
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1] = {PG_GETARG_DATUM(L_SESSION_ID)};
		MemoryContext caller = CurrentMemoryContext;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		if (session_plan == NULL)
			session_plan = keep_plan("SELECT s.source, s.reason, s.storefront_addr FROM loginas.session s"
									 " WHERE s.session_id OPERATOR(pg_catalog.=) $1", 1, argtypes);
		if (SPI_execute_plan(session_plan, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "loginas: could not read a session");
		if (SPI_processed == 1)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			MemoryContext spi = MemoryContextSwitchTo(caller);
			bool		isnull;
			Datum		d;

			if (no_why)
			{
				d = SPI_getbinval(tup, desc, 1, &isnull);
				row.nulls[A_SOURCE] = isnull;
				row.values[A_SOURCE] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
				d = SPI_getbinval(tup, desc, 2, &isnull);
				row.nulls[A_REASON] = isnull;
				row.values[A_REASON] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
			}
			if (row.nulls[A_CLIENT_ADDR] && !here_known)
			{
				d = SPI_getbinval(tup, desc, 3, &isnull);
				row.nulls[A_CLIENT_ADDR] = isnull;
				row.values[A_CLIENT_ADDR] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
			}
			MemoryContextSwitchTo(spi);
		}
		else
		{
			/* as 1.0's SELECT INTO: no such session, no source, reason or address */
			row.nulls[A_SOURCE] = row.nulls[A_REASON] = row.nulls[A_CLIENT_ADDR] = true;
		}
		SPI_finish();
	}

	row.nulls[A_LOGGED_AT] = false;
	row.values[A_LOGGED_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	/* the admin's username and the customer's e-mail, read in one go */
	{
		char	   *username;
		char	   *email;
		char	   *admin_key = logged_key(fcinfo, &row, A_ADMIN_ID, L_ADMIN_KEY, A_ADMIN_KEY);
		char	   *customer_key = logged_key(fcinfo, &row, A_CUSTOMER_ID, L_CUSTOMER_KEY, A_CUSTOMER_KEY);

		(void) logged_key(fcinfo, &row, A_STORE_ID, L_STORE_KEY, A_STORE_KEY);
		loginas_lookup_names(admin_key, customer_key, &username, &email);
		row.nulls[A_ADMIN_USERNAME] = (username == NULL);
		row.values[A_ADMIN_USERNAME] = username ? CStringGetTextDatum(username) : (Datum) 0;
		row.nulls[A_CUSTOMER_EMAIL] = (email == NULL);
		row.values[A_CUSTOMER_EMAIL] = email ? CStringGetTextDatum(email) : (Datum) 0;
	}
	if (row.nulls[A_CLIENT_ADDR] && here_known)
	{
		row.nulls[A_CLIENT_ADDR] = false;
		row.values[A_CLIENT_ADDR] = here;
	}
	row.nulls[A_DB_ROLE] = false;
	row.values[A_DB_ROLE] = DirectFunctionCall1(namein,
												CStringGetDatum(GetUserNameFromId(GetSessionUserId(), false)));
	PG_RETURN_INT64(append_row(get_func_namespace(fcinfo->flinfo->fn_oid), &row, true, NULL));
}
