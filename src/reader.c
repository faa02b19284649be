/*
 * reader.c
 *		Reading the shop's bound relations, as the powerless role loginas_reader.
 *
 * loginas reads the customers, admins, store views and documents the shop
 * bound (loginas.bind) through views and tables the shop controls.  Whatever
 * such a view or a column's type calls must not run with the rights of the
 * extension owner, nor leave anything behind in the caller's session.  So
 * every read runs the way PostgreSQL runs untrusted code in REFRESH
 * MATERIALIZED VIEW or an index expression:
 *
 *	- as loginas_reader, a NOLOGIN role granted to nobody that may only read
 *	  what the shop granted it;
 *	- as a security-restricted operation: no temporary objects, no SET ROLE;
 *	- in its own GUC nesting level, undone afterwards: a set_config() in a
 *	  view does not outlive the read.
 *
 * Reads are on every step's path (begin, redeem, assume), so their plans are
 * prepared once per backend and kept; loginas._lookup() also keeps, per
 * binding kind, the relation and query it reads.  Both are thrown away when
 * the bound relation or loginas.binding changes (relcache invalidation;
 * bind()/unbind() send one for loginas.binding).
 *
 * Errors of a read lose loginas' internal query as their CONTEXT; a missing
 * grant says which grant is missing -- found from the ACLs of the relations
 * read, not from the error's text (which is in the server's lc_messages).
 *
 * In the durable refusal log's worker (refusal_queue.c), which has no client
 * to wait for it, reads are bounded as well (loginas_reader_bound): a read
 * still running after cancel_ms is canceled; one whose code catches the
 * cancel and goes on ends the worker at end_ms (FATAL cannot be caught).
 * After a canceled read the worker reads nothing for pause_ms, and there an
 * error that PL/pgSQL's WHEN OTHERS would not catch (query_canceled,
 * assert_failure) is raised as external_routine_exception: the writer of
 * refusal rows leaves the names out, never the row.
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "loginas.h"

/* a kept plan for one query text over one bound relation */
typedef struct ReadPlan
{
	struct ReadPlan *next;
	char	   *sql;
	Oid			relid;
	Oid			relid2;			/* a second relation it reads, or InvalidOid */
	SPIPlanPtr	plan;
	bool		dead;			/* invalidated: freed at the next read */
} ReadPlan;

/* what _lookup reads for one binding kind */
typedef struct KindQuery
{
	struct KindQuery *next;
	char	   *kind;
	Oid			relid;			/* InvalidOid: nothing is bound */
	char	   *sql;			/* the rows of a key ($1): jsonb, ambiguous column */
	char	   *key_column;		/* its key column */
	bool		int_key;		/* the key column is an integer (else text, varchar, uuid: read as text) */
	char	   *unusable;		/* why the key column cannot be read (retyped, nondeterministic collation), or NULL */
	char	   *key_match;		/* the name read's "= $n" operand for the key column: "$%d" or a uuid cast of it */
	bool		dead;
} KindQuery;

static ReadPlan *plans = NULL;
static KindQuery *kinds = NULL;
static bool callback_registered = false;
static Oid	binding_relid = InvalidOid;	/* loginas.binding */

static char *qualified_name(Oid relid);

PG_FUNCTION_INFO_V1(loginas_read_bound);
PG_FUNCTION_INFO_V1(loginas_lookup);

/* the bounds on reads in the refusal log's worker; 0: not bounded */
static int	bound_cancel_ms = 0;
static int	bound_end_ms = 0;
static int	bound_pause_ms = 0;
static TimeoutId cancel_timeout;
static TimeoutId end_timeout;
static volatile sig_atomic_t read_canceled = false;	/* in the current read */
static volatile sig_atomic_t read_ran_over = false;	/* the end came */
static bool was_canceled = false;	/* a read was canceled since asked */
static bool skip_reads = false; /* the caller's: read nothing now */
static TimestampTz paused_until = 0;	/* after a canceled read */

static void
read_cancel_handler(void)
{
	read_canceled = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

static void
read_end_handler(void)
{
	read_ran_over = true;
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* bound every read of this process (the refusal log's worker, once) */
void
loginas_reader_bound(int cancel_ms, int end_ms, int pause_ms)
{
	cancel_timeout = RegisterTimeout(USER_TIMEOUT, read_cancel_handler);
	end_timeout = RegisterTimeout(USER_TIMEOUT, read_end_handler);
	bound_cancel_ms = cancel_ms;
	bound_end_ms = end_ms;
	bound_pause_ms = pause_ms;
}

/* skip: reads fail at once (an entry to write without the names) */
void
loginas_reader_skip(bool skip)
{
	skip_reads = skip;
}

/* whether a read was canceled since the last call */
bool
loginas_reader_was_canceled(void)
{
	bool		result = was_canceled;

	was_canceled = false;
	return result;
}

/* whether a read ran to its end bound (then this process is ending) */
bool
loginas_reader_ran_over(void)
{
	return read_ran_over;
}

static void
bounded_read_done(void)
{
	disable_timeout(cancel_timeout, false);
	disable_timeout(end_timeout, false);
	if (read_canceled)
	{
		/* the shop's code caught the cancel and returned: not again for a while */
		was_canceled = true;
		paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), bound_pause_ms);
		QueryCancelPending = false;
		read_canceled = false;
	}
}

/* the reader's caches (plans' texts, kinds) live here, freed entry by entry */
static MemoryContext reader_cxt = NULL;

static MemoryContext
reader_context(void)
{
	if (reader_cxt == NULL)
		reader_cxt = AllocSetContextCreate(CacheMemoryContext, "loginas bound relation reads",
										   ALLOCSET_SMALL_SIZES);
	return reader_cxt;
}

/* invalidation callbacks only mark; the entries are freed at the next read */
static void
reader_inval(Datum arg, Oid relid)
{
	ReadPlan   *p;
	KindQuery  *k;

	for (p = plans; p; p = p->next)
		if (relid == InvalidOid || p->relid == relid || p->relid2 == relid)
			p->dead = true;
	for (k = kinds; k; k = k->next)
		if (relid == InvalidOid || relid == binding_relid || k->relid == relid)
			k->dead = true;
	/* loginas.binding changed, or was dropped with the extension: look it up again */
	if (relid == InvalidOid || relid == binding_relid)
		binding_relid = InvalidOid;
}

static void
sweep(void)
{
	ReadPlan  **pl = &plans;
	KindQuery **kl = &kinds;

	while (*pl)
	{
		ReadPlan   *p = *pl;

		if (!p->dead)
		{
			pl = &p->next;
			continue;
		}
		*pl = p->next;
		SPI_freeplan(p->plan);
		pfree(p->sql);
		pfree(p);
	}
	while (*kl)
	{
		KindQuery  *k = *kl;

		if (!k->dead)
		{
			kl = &k->next;
			continue;
		}
		*kl = k->next;
		pfree(k->kind);
		if (k->sql)
			pfree(k->sql);
		if (k->key_column)
			pfree(k->key_column);
		pfree(k);
	}
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(reader_inval, (Datum) 0);
		callback_registered = true;
	}
	if (!OidIsValid(binding_relid))
		binding_relid = get_relname_relid("binding", get_namespace_oid("loginas", false));
	sweep();
}

/*
 * Run sql over relid (and relid2, when it reads two relations) as
 * loginas_reader, with a plan kept for the backend: nargs int8 parameters,
 * the first ncols columns of its first row into out / outnull (all NULL
 * when it yields no row), copied into the caller's memory context.
 */
static void
read_as_reader_t(const char *sql, Oid relid, Oid relid2, int nargs, const Oid *types, Datum *args,
				 const char *nulls, int ncols, Datum *out, bool *outnull)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Oid			reader = get_role_oid("loginas_reader", false);
	LoginAsRoleState as_reader;
	MemoryContext caller_cxt = CurrentMemoryContext;
	int			i;

	Assert(nargs <= lengthof(argtypes));
	for (i = 0; types && i < nargs; i++)
		argtypes[i] = types[i];
	for (i = 0; i < ncols; i++)
	{
		out[i] = (Datum) 0;
		outnull[i] = true;
	}
	register_callback();
	if (bound_cancel_ms > 0 &&
		(skip_reads || (paused_until != 0 && GetCurrentTimestamp() < paused_until)))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("loginas: the refusal log worker does not read bound relations for now"),
				 errdetail("A read of a bound relation was canceled after %d ms; refusals are written without the names for a while.",
						   bound_cancel_ms)));
	loginas_as_role_begin(&as_reader, reader);
	if (bound_cancel_ms > 0)
	{
		read_canceled = false;
		enable_timeout_after(cancel_timeout, bound_cancel_ms);
		enable_timeout_after(end_timeout, bound_end_ms);
	}

	PG_TRY();
	{
		ReadPlan   *p;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		for (p = plans; p; p = p->next)
			if (p->relid == relid && p->relid2 == relid2 && strcmp(p->sql, sql) == 0)
				break;
		if (p == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

			if (plan == NULL)
				elog(ERROR, "loginas: could not prepare a read of a bound relation: %s",
					 SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "loginas: could not keep a read of a bound relation");
			p = MemoryContextAlloc(reader_context(), sizeof(ReadPlan));
			p->sql = MemoryContextStrdup(reader_context(), sql);
			p->relid = relid;
			p->relid2 = relid2;
			p->plan = plan;
			p->dead = false;
			p->next = plans;
			plans = p;
		}
		if (SPI_execute_plan(p->plan, args, nulls, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "loginas: reading a bound relation failed");
		if (bound_cancel_ms > 0)
			bounded_read_done();
		if (SPI_processed == 1)
		{
			for (i = 0; i < ncols; i++)
			{
				bool		null;
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &null);

				if (!null)
					out[i] = SPI_datumTransfer(d, false, -1);
				outnull[i] = null;
			}
		}
		SPI_finish();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_cxt);
		if (bound_cancel_ms > 0)
			bounded_read_done();
		edata = CopyErrorData();
		FlushErrorState();
		loginas_as_role_end(&as_reader);

		/* loginas' internal query is not the caller's business */
		edata->context = NULL;
		edata->internalquery = NULL;
		edata->internalpos = 0;
		if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE && edata->hint == NULL)
		{
			/*
			 * What loginas_reader lacks, from the ACLs (of two relations: the
			 * first it may not read).  With both grants in place the error
			 * came from inside the relation's query (a function it may not
			 * execute, a table a security_invoker view reads): no GRANT to
			 * name.
			 */
			Oid			rels[2] = {relid, relid2};
			Oid			denied = InvalidOid;
			int			k;

			for (k = 0; k < 2 && !OidIsValid(denied); k++)
			{
				Oid			nsp;

				if (!OidIsValid(rels[k]) || !OidIsValid(nsp = get_rel_namespace(rels[k])))
					continue;
				if (object_aclcheck(NamespaceRelationId, nsp, reader, ACL_USAGE) != ACLCHECK_OK ||
					pg_class_aclcheck(rels[k], reader, ACL_SELECT) != ACLCHECK_OK)
					denied = rels[k];
			}
			if (OidIsValid(denied))
			{
				char	   *nsp = get_namespace_name(get_rel_namespace(denied));

				edata->detail = pstrdup("loginas reads bound relations as the role loginas_reader, which is granted to nobody.");
				edata->hint = psprintf("GRANT USAGE ON SCHEMA %s TO loginas_reader; GRANT SELECT ON %s TO loginas_reader;",
									   quote_identifier(nsp ? nsp : "?"),
									   quote_qualified_identifier(nsp, get_rel_name(denied)));
			}
		}
		if (bound_cancel_ms > 0 &&
			(edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ASSERT_FAILURE))
		{
			/* in the refusal log's worker: an error its writer can catch */
			edata->sqlerrcode = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
			edata->message = psprintf("loginas: a read of a bound relation failed in the refusal log worker: %s",
									  edata->message ? edata->message : "");
		}
		ReThrowError(edata);
	}
	PG_END_TRY();

	loginas_as_role_end(&as_reader);
}

/* the same with nargs int8 parameters */
static void
read_as_reader_n(const char *sql, Oid relid, Oid relid2, int nargs, Datum *args, const char *nulls,
				 int ncols, Datum *out, bool *outnull)
{
	read_as_reader_t(sql, relid, relid2, nargs, NULL, args, nulls, ncols, out, outnull);
}

/* sql ($1 = id, one jsonb column, at most one row) over relid; NULL when no row or NULL */
static Datum
read_as_reader(const char *sql, Oid relid, Datum id, bool id_null, bool *isnull_out)
{
	Datum		args[1] = {id};
	char		nulls[1] = {id_null ? 'n' : ' '};
	Datum		result;

	read_as_reader_n(sql, relid, InvalidOid, 1, args, nulls, 1, &result, isnull_out);
	return result;
}

/*
 * loginas._read_bound(sql text, id bigint, relation regclass) -> jsonb
 */
Datum
loginas_read_bound(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		result;

	loginas_require_owner(fcinfo, "loginas._read_bound()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	result = read_as_reader(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_OID(2),
							PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
							&isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* what kind is bound to, and the query that reads one of its rows */
static KindQuery *
kind_query(const char *kind)
{
	KindQuery  *k;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	Oid			relid = InvalidOid;
	char	   *sql = NULL;
	char	   *key_column = NULL;
	bool		int_key = true;
	char	   *unusable = NULL;
	char	   *key_match = NULL;
	Oid			lookup_argtypes[2];
	const char *lookup_sql;
	const char *check_sql;
	char	   *query;
	MemoryContext caller;

	register_callback();
	for (k = kinds; k; k = k->next)
		if (strcmp(k->kind, kind) == 0)
			return k;

	/* read first, into the caller's memory: an error leaves nothing cached */
	caller = CurrentMemoryContext;
	args[0] = CStringGetTextDatum(kind);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");

	/*
	 * The query comes from loginas._bound_lookup (1.3).  Until ALTER
	 * EXTENSION UPDATE has run, an older catalog has none: then the first row
	 * by the key, as those versions read it (the update sends an
	 * invalidation of loginas.binding, so no backend keeps that query).
	 */
	lookup_argtypes[0] = TEXTOID;
	lookup_argtypes[1] = REGCLASSOID;
	if (OidIsValid(LookupFuncName(list_make2(makeString("loginas"), makeString("_bound_lookup")),
								  2, lookup_argtypes, true)))
	{
		lookup_sql = "loginas._bound_lookup(b.kind, b.relation)";
		/* the key column as bind() accepts it: its type, a deterministic collation */
		check_sql = "loginas._is_key_type(r.key_type),"
			" loginas._deterministic_column(r.relid, r.key_column),"
			" loginas._key_param(r.relid, r.key_column)";
	}
	else
	{
		lookup_sql = "pg_catalog.format('SELECT pg_catalog.to_jsonb(t), NULL::pg_catalog.text"
			" FROM (%s WHERE %I OPERATOR(pg_catalog.=) $1 LIMIT 1) t',"
			" loginas._bound_select(b.kind, b.relation),"
			" (SELECT c.column_name FROM loginas.binding_column c"
			"   WHERE c.kind OPERATOR(pg_catalog.=) b.kind AND c.is_key))";
		/* (before 1.3 every key is an integer, read as int8) */
		check_sql = "true, true, '$1'::pg_catalog.text";
	}
	query = psprintf("SELECT r.relid, r.lookup_sql, r.key_column, r.key_type, %s"
					 " FROM (SELECT s.*,"
					 "       (SELECT a.atttypid FROM pg_catalog.pg_attribute a"
					 "         WHERE a.attrelid OPERATOR(pg_catalog.=) s.relid AND a.attname OPERATOR(pg_catalog.=) s.key_column"
					 "           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)::pg_catalog.regtype AS key_type"
					 "  FROM (SELECT b.kind, b.relation AS relid,"
					 "       %s AS lookup_sql,"
					 "       (SELECT c.column_name FROM loginas.binding_column c"
					 "         WHERE c.kind OPERATOR(pg_catalog.=) b.kind AND c.is_key)::pg_catalog.text AS key_column"
					 "        FROM loginas.binding b WHERE b.kind OPERATOR(pg_catalog.=) $1) s) r",
					 check_sql, lookup_sql);
	if (SPI_execute_with_args(query, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not read the binding of \"%s\"", kind);
	if (SPI_processed == 1)
	{
		bool		isnull;

		relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		key_column = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		{
			Datum		t = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
			bool		type_isnull = isnull;
			Datum		type_ok = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
			Datum		deterministic;

			/* keys of any type: an integer column is read as int8, others as text */
			int_key = type_isnull || DatumGetObjectId(t) == INT2OID || DatumGetObjectId(t) == INT4OID ||
				DatumGetObjectId(t) == INT8OID;

			/*
			 * A key column retyped after bind() (to a type keys may not have)
			 * or given a nondeterministic collation reads as unbound: a
			 * case-insensitive collation would let one row answer to several
			 * keys, which loginas compares byte for byte.  (A dropped key
			 * column fails the read itself.)
			 */
			if (!type_isnull && !isnull && !DatumGetBool(type_ok))
				unusable = psprintf("its key column \"%s\" has type %s",
									key_column, format_type_be(DatumGetObjectId(t)));
			deterministic = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull);
			if (unusable == NULL && !isnull && !DatumGetBool(deterministic))
				unusable = psprintf("its key column \"%s\" has a nondeterministic collation", key_column);
			key_match = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);
		}
		/* (SPI_finish frees what was made in SPI's memory) */
		sql = sql ? MemoryContextStrdup(caller, sql) : NULL;
		key_column = key_column ? MemoryContextStrdup(caller, key_column) : NULL;
		unusable = unusable ? MemoryContextStrdup(caller, unusable) : NULL;
		key_match = key_match ? MemoryContextStrdup(caller, key_match) : NULL;
	}
	SPI_finish();

	k = MemoryContextAllocZero(reader_context(), sizeof(KindQuery));
	k->kind = MemoryContextStrdup(reader_context(), kind);
	k->relid = relid;
	k->sql = sql ? MemoryContextStrdup(reader_context(), sql) : NULL;
	k->key_column = key_column ? MemoryContextStrdup(reader_context(), key_column) : NULL;
	k->int_key = int_key;
	k->unusable = unusable ? MemoryContextStrdup(reader_context(), unusable) : NULL;
	k->key_match = key_match ? MemoryContextStrdup(reader_context(), key_match) : NULL;
	k->next = kinds;
	kinds = k;
	return k;
}

/*
 * loginas._lookup(kind text, id bigint, missing_ok boolean) -> jsonb
 *
 * One row of the relation bound as kind, by its key, as jsonb with the
 * kind's columns (NULL when there is none).  A kind that is not bound, or
 * whose relation was dropped, raises -- or gives NULL with missing_ok.
 */
Datum
loginas_lookup(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		result;

	loginas_require_owner(fcinfo, "loginas._lookup()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	result = loginas_lookup_row(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_DATUM(1),
								PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2), &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * loginas._lookup(kind text, key text, missing_ok boolean) -> jsonb
 *
 * The same by a key of any type, given as text.
 */
PG_FUNCTION_INFO_V1(loginas_lookup_key);
Datum
loginas_lookup_key(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		result;

	loginas_require_owner(fcinfo, "loginas._lookup()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	result = loginas_lookup_key_row(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
									PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2), &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * The same for C callers: *isnull when there is no such row.
 *
 * The query (loginas._bound_lookup) gives the record and, when the rows of
 * the key are ambiguous, the column that makes them so: the key column when
 * a kind with one row per key has two, else the column on which the rows of
 * one admin or customer disagree.  Either is refused (21000, as PostgreSQL
 * refuses a scalar subquery with two rows): loginas never picks one row of
 * several.
 */
Datum
loginas_lookup_row(const char *kind, Datum id, bool missing_ok, bool *isnull)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), INT64_FORMAT, DatumGetInt64(id));
	return loginas_lookup_key_row(kind, buf, missing_ok, isnull);
}

/* an integer key given as text: its value, false when it is not one */
static bool
key_to_int64(const char *key, int64 *value)
{
	char	   *end;
	long long	v;

	while (*key == ' ' || *key == '\t' || *key == '\n')
		key++;
	/* an optional sign and digits (strtoll would also skip \r, \v, \f) */
	if (*key == '+' || *key == '-')
	{
		if (!isdigit((unsigned char) key[1]))
			return false;
	}
	else if (!isdigit((unsigned char) *key))
		return false;
	errno = 0;
	v = strtoll(key, &end, 10);
	if (errno != 0)
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end != '\0' || (int64) v == LOGINAS_NO_ID)
		return false;
	*value = (int64) v;
	return true;
}

/*
 * Keys of any type: the row of a key given as its text.  An integer key is
 * read by its int8 value (a text that is no integer is no row's key); other
 * keys (text, varchar, uuid) are compared as text.
 */
Datum
loginas_lookup_key_row(const char *kind, const char *key, bool missing_ok, bool *isnull)
{
	KindQuery  *entry = kind_query(kind);
	Oid			relid = entry->relid;
	/* the entry may be swept by the read: copies */
	char	   *sql = entry->sql ? pstrdup(entry->sql) : NULL;
	char	   *key_column = entry->key_column ? pstrdup(entry->key_column) : NULL;
	bool		int_key = entry->int_key;
	Datum		args[1];
	Oid			types[1];
	char		nulls[1] = {' '};
	const char *id = key;
	Datum		out[2];
	bool		outnull[2];

	if (!OidIsValid(relid) || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		bool		bound = OidIsValid(relid);

		*isnull = true;
		if (missing_ok)
			return (Datum) 0;
		loginas_caller_context_only();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 bound ? errmsg("the relation bound as \"%s\" no longer exists", kind)
				 : errmsg("no relation is bound as \"%s\"", kind),
				 bound ? errhint("Bind it again with loginas.bind(%s, 'schema.relation').", quote_literal_cstr(kind))
				 : errhint("Bind one with loginas.bind(%s, 'schema.relation').", quote_literal_cstr(kind))));
	}
	if (entry->unusable != NULL)
	{
		*isnull = true;
		if (missing_ok)
			return (Datum) 0;
		loginas_caller_context_only();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the relation bound as \"%s\" can no longer be read", kind),
				 errdetail("Relation %s is bound as \"%s\", but %s.", qualified_name(relid), kind, entry->unusable),
				 errhint("Give the column back a type and collation loginas.bind() accepts, or bind a view that does with loginas.bind(%s, 'schema.relation').",
						 quote_literal_cstr(kind))));
	}
	if (int_key)
	{
		int64		v;

		if (!key_to_int64(key, &v))
		{
			*isnull = true;
			return (Datum) 0;
		}
		args[0] = Int64GetDatum(v);
		types[0] = INT8OID;
	}
	else
	{
		if (strlen(key) > LOGINAS_MAX_KEY_BYTES)
		{
			*isnull = true;
			return (Datum) 0;
		}
		args[0] = CStringGetTextDatum(key);
		types[0] = TEXTOID;
	}
	read_as_reader_t(sql, relid, InvalidOid, 1, types, args, nulls, 2, out, outnull);
	if (!outnull[1])
	{
		char	   *column = TextDatumGetCString(out[1]);
		char	   *relname = qualified_name(relid);

		loginas_caller_context_only();
		if (key_column != NULL && strcmp(column, key_column) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("more than one row of the \"%s\" binding has %s %s",
							kind, key_column, loginas_log_text(id)),
					 errdetail("Relation %s is bound as \"%s\", which has one row per %s.",
							   relname, kind, key_column),
					 errhint("Fix the view (or table) bound as \"%s\" so that %s is unique.",
							 kind, key_column)));
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("the rows of the \"%s\" binding with %s %s disagree on %s",
						kind, key_column ? key_column : "?", loginas_log_text(id), loginas_log_text(column)),
				 errdetail("Relation %s is bound as \"%s\", which may have several rows per %s, but they must all have the same %s.",
						   relname, kind, key_column ? key_column : "?", column),
				 errhint("Fix the view (or table) bound as \"%s\" so that every row of one %s has the same %s.",
						 kind, key_column ? key_column : "?", column)));
	}
	*isnull = outnull[0];
	return out[0];
}

/* a relation that is bound and still exists, else InvalidOid */
static Oid
usable_relation(Oid relid)
{
	if (!OidIsValid(relid) || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return InvalidOid;
	return relid;
}

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/*
 * One column of the rows of a bound relation with one key ($param), as the
 * kind's bound select reads it (a bound relation has the kind's column
 * names; username and email are read as text): the value every row of the
 * key has (an admin has a row per role, a customer one per website or store
 * view), NULL when they disagree -- where _lookup raises, the log keeps the
 * ids only -- or when there is no row or the relation is not usable
 */
static void
append_name_read(StringInfo sql, Oid relid, const char *column, const char *key_column,
				 const char *key_match, int param)
{
	const char *c = quote_identifier(column);
	StringInfoData match;
	const char *m;

	if (!OidIsValid(relid))
	{
		appendStringInfoString(sql, "NULL::pg_catalog.text");
		return;
	}

	/*
	 * The key compared as the lookup compares it (loginas._key_param: the
	 * column's own type, so its index serves), with $param for its $1.
	 */
	initStringInfo(&match);
	for (m = key_match ? key_match : "$1"; *m; m++)
	{
		if (m[0] == '$' && m[1] == '1' && !isdigit((unsigned char) m[2]))
		{
			appendStringInfo(&match, "$%d", param);
			m++;
		}
		else
			appendStringInfoChar(&match, *m);
	}
	appendStringInfo(sql,
					 "(SELECT CASE WHEN pg_catalog.count(DISTINCT r.%s::pg_catalog.text) OPERATOR(pg_catalog.=) 1"
					 " AND pg_catalog.count(r.%s) OPERATOR(pg_catalog.=) pg_catalog.count(*)"
					 " THEN pg_catalog.min(r.%s::pg_catalog.text) END"
					 " FROM %s r WHERE r.%s OPERATOR(pg_catalog.=) %s)",
					 c, c, c, qualified_name(relid), quote_identifier(key_column), match.data);
}

/* what a lookup needs of a kind, copied: the cache entry may be swept by the next read */
typedef struct BoundKind
{
	Oid			relid;
	char	   *key_column;
	char	   *key_match;
	bool		int_key;
} BoundKind;

static void
bound_kind(const char *kind, BoundKind *b)
{
	KindQuery  *k = kind_query(kind);

	b->relid = k->unusable ? InvalidOid : k->relid;	/* no names from an unusable key column */
	b->key_column = k->key_column ? pstrdup(k->key_column) : NULL;
	b->key_match = k->key_match ? pstrdup(k->key_match) : NULL;
	b->int_key = k->int_key;
}

/*
 * The admin's username and the customer's e-mail (NULL: no key, not bound,
 * relation gone, no such row, rows that disagree), read in one query as loginas_reader -- what
 * loginas._lookup('admins', key, true) ->> 'username' and
 * loginas._lookup('customers', key, true) ->> 'email' give, in one read
 * instead of two (logappend.c: loginas._log, on every lifecycle row).  Both
 * keys are given as text, of any type (an integer's digits).
 */
void
loginas_lookup_names(const char *admin_key, const char *customer_key,
					 char **username, char **email)
{
	const char *keys[2] = {admin_key, customer_key};
	const char *kinds[2] = {"admins", "customers"};
	Oid			types[2] = {INT8OID, INT8OID};
	BoundKind	b[2];
	Oid			rel[2];
	StringInfoData sql;
	Datum		args[2];
	char		nulls[2];
	Datum		out[2];
	bool		outnull[2];
	int			i;

	*username = *email = NULL;
	for (i = 0; i < 2; i++)
	{
		int64		v;

		b[i].relid = InvalidOid;
		b[i].key_column = NULL;
		b[i].key_match = NULL;
		args[i] = (Datum) 0;
		nulls[i] = 'n';
		if (keys[i] == NULL)
			continue;
		bound_kind(kinds[i], &b[i]);
		if (!b[i].int_key && strlen(keys[i]) > LOGINAS_MAX_KEY_BYTES)
			b[i].key_column = NULL;	/* no row has it */
		else if (!b[i].int_key)
		{
			args[i] = CStringGetTextDatum(keys[i]);
			types[i] = TEXTOID;
			nulls[i] = ' ';
		}
		else if (key_to_int64(keys[i], &v))
		{
			args[i] = Int64GetDatum(v);
			nulls[i] = ' ';
		}
		else
			b[i].key_column = NULL;	/* no row has it */
	}
	for (i = 0; i < 2; i++)
		rel[i] = b[i].key_column ? usable_relation(b[i].relid) : InvalidOid;
	if (!OidIsValid(rel[0]) && !OidIsValid(rel[1]))
		return;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	append_name_read(&sql, rel[0], "username", b[0].key_column, b[0].key_match, 1);
	appendStringInfoString(&sql, ", ");
	append_name_read(&sql, rel[1], "email", b[1].key_column, b[1].key_match, 2);

	read_as_reader_t(sql.data, OidIsValid(rel[0]) ? rel[0] : rel[1], OidIsValid(rel[0]) ? rel[1] : InvalidOid,
					 2, types, args, nulls, 2, out, outnull);
	if (!outnull[0])
		*username = TextDatumGetCString(out[0]);
	if (!outnull[1])
		*email = TextDatumGetCString(out[1]);
	pfree(sql.data);
}
