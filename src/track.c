/*
 * track.c
 *		Write attribution on the shop's own tables: the row trigger.
 *
 * loginas.track() puts loginas._track_row() on a table as BEFORE ROW
 * triggers for INSERT, UPDATE and DELETE and an AFTER INSERT trigger that
 * logs inserted rows, all fired ALWAYS (session_replication_role = replica
 * does not switch them off; a logical-replication apply worker passes
 * through).  Ordinary writes outside a session take the trigger's fast path.
 * When it does its work:
 *
 *	outside a session	the stamps cannot be forged: a new row gets no stamps,
 *						an updated row keeps its creation stamp and loses its
 *						last-change stamp;
 *	inside a session	the row (old and new) must belong to the impersonated
 *						customer -- directly through its customer column, or for
 *						a child table through its parent row, which is share-
 *						locked so that it cannot be re-parented meanwhile;
 *						protected columns must not change; a read-only session
 *						writes nothing; the stamps name the session; and the
 *						write is remembered for the log (writelog.c).
 *
 * What a tracked relation looks like to the trigger (column numbers, key
 * columns, the parent query) is read once per backend through
 * loginas._track_info() and kept in a hash table in the memory context
 * "loginas tracked relations" (under CacheMemoryContext); a relcache
 * invalidation of the relation (ALTER TABLE, CREATE TRIGGER,
 * loginas.protect, ...) or of any relation on its parent chain marks the
 * entry for a refill, which frees what the entry held.  A child's customer
 * is looked up one parent at a time, each read as its table's owner (as a
 * foreign-key check does) in a security-restricted operation, so nothing a
 * table owner defines runs with loginas' rights; the columns compared are of
 * built-in types (loginas._track_info refuses others).
 *
 * TRUNCATE in a session is refused here too (the BEFORE TRUNCATE trigger and
 * a ProcessUtility hook for the partitions that trigger does not see).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "catalog/partition.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "replication/logicalworker.h"
#include "catalog/heap.h"
#include "catalog/pg_inherits.h"
#include "commands/tablecmds.h"

#include "loginas.h"

#define MAX_TRACK_ATTS 32

typedef struct TrackedRel
{
	Oid			relid;			/* hash key: the relation the trigger fired on */
	bool		valid;
	char	   *relname;		/* schema-qualified name of the tracked table */
	AttrNumber	customer_att;	/* 0 for a child table */
	Oid			customer_type;
	AttrNumber	created_att;
	AttrNumber	changed_att;
	int			npk;
	AttrNumber	pk_atts[MAX_TRACK_ATTS];
	int			nprotected;
	AttrNumber	protected_atts[MAX_TRACK_ATTS];
	int			nfk;
	AttrNumber	fk_atts[MAX_TRACK_ATTS];
	Oid			fk_types[MAX_TRACK_ATTS];
	int			nchain;			/* the tracked table, then its parents */
	Oid			chain[MAX_TRACK_ATTS];
	/*
	 * child: one lookup per parent on the chain, chain[level + 1], run as
	 * that table's owner: its foreign key to the next parent, or at the top
	 * the customer id; prepared on first use
	 */
	int			nlevels;
	char	   *level_sql[MAX_TRACK_ATTS];
	Oid			level_owner[MAX_TRACK_ATTS];
	SPIPlanPtr	level_plan[MAX_TRACK_ATTS];
	char	   *problem;		/* tracking broken by ALTER TABLE: message, */
	char	   *problem_detail; /* detail and hint; NULL when all is well */
	char	   *problem_hint;
	int			problem_code;	/* its SQLSTATE */
} TrackedRel;

static HTAB *tracked_rels = NULL;
static MemoryContext tracked_cxt = NULL;

PG_FUNCTION_INFO_V1(loginas_track_row);
PG_FUNCTION_INFO_V1(loginas_track_truncate);
PG_FUNCTION_INFO_V1(loginas_invalidate);

/* ---------------------------------------------------------------------
 * cache
 * --------------------------------------------------------------------- */

static void
tracked_rel_inval(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	TrackedRel *entry;
	int			i;

	if (tracked_rels == NULL)
		return;
	hash_seq_init(&status, tracked_rels);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		bool		hit = (relid == InvalidOid || entry->relid == relid);

		for (i = 0; !hit && i < entry->nchain; i++)
			hit = (entry->chain[i] == relid);
		if (hit)
			entry->valid = false;
	}
}

static void
free_entry_contents(TrackedRel *entry)
{
	int			i;

	for (i = 0; i < entry->nlevels; i++)
	{
		if (entry->level_plan[i])
			SPI_freeplan(entry->level_plan[i]);
		if (entry->level_sql[i])
			pfree(entry->level_sql[i]);
		entry->level_plan[i] = NULL;
		entry->level_sql[i] = NULL;
	}
	entry->nlevels = 0;
	if (entry->relname)
		pfree(entry->relname);
	if (entry->problem)
		pfree(entry->problem);
	if (entry->problem_detail)
		pfree(entry->problem_detail);
	if (entry->problem_hint)
		pfree(entry->problem_hint);
	entry->relname = NULL;
	entry->problem = entry->problem_detail = entry->problem_hint = NULL;
}

static int
copy_attnums(Datum arr, AttrNumber *out, const char *what)
{
	ArrayType  *a = DatumGetArrayTypeP(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(a, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	if (n > MAX_TRACK_ATTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("loginas tracks at most %d %s columns per table", MAX_TRACK_ATTS, what)));
	for (i = 0; i < n; i++)
		out[i] = DatumGetInt16(elems[i]);
	return n;
}

static void
fill_entry(TrackedRel *entry)
{
	LoginAsOwnerState owner;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	MemoryContext old;

	free_entry_contents(entry);

	/*
	 * Valid from now on: an invalidation that arrives while this refill runs
	 * (its SPI queries process invalidations) marks it invalid again, and the
	 * next use refills it once more.
	 */
	entry->valid = true;

	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	args[0] = ObjectIdGetDatum(entry->relid);
	if (SPI_execute_with_args("SELECT * FROM loginas._track_info($1)", 1, argtypes, args,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not read the tracking of relation %u", entry->relid);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" has loginas triggers but is not tracked",
						get_rel_name(entry->relid)),
				 errhint("Track it with loginas.track(), or drop its loginas_track_* triggers.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	old = MemoryContextSwitchTo(tracked_cxt);
	entry->relname = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 11, &isnull);
	if (!isnull)
	{
		entry->problem = TextDatumGetCString(d);
		d = SPI_getbinval(tup, desc, 12, &isnull);
		entry->problem_detail = isnull ? NULL : TextDatumGetCString(d);
		d = SPI_getbinval(tup, desc, 13, &isnull);
		entry->problem_hint = isnull ? NULL : TextDatumGetCString(d);
		entry->problem_code = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		if (desc->natts >= 14)
		{
			d = SPI_getbinval(tup, desc, 14, &isnull);
			if (!isnull)
			{
				char	   *code = TextDatumGetCString(d);

				if (strlen(code) == 5)
					entry->problem_code = MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4]);
				pfree(code);
			}
		}
	}
	MemoryContextSwitchTo(old);
	entry->customer_att = DatumGetInt16(SPI_getbinval(tup, desc, 2, &isnull));
	if (isnull)
		entry->customer_att = 0;
	entry->customer_type = entry->customer_att ?
		DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull)) : InvalidOid;
	entry->created_att = DatumGetInt16(SPI_getbinval(tup, desc, 4, &isnull));
	entry->changed_att = DatumGetInt16(SPI_getbinval(tup, desc, 5, &isnull));
	entry->npk = copy_attnums(SPI_getbinval(tup, desc, 6, &isnull), entry->pk_atts, "key");
	entry->nprotected = copy_attnums(SPI_getbinval(tup, desc, 7, &isnull), entry->protected_atts, "protected");
	d = SPI_getbinval(tup, desc, 8, &isnull);
	entry->nfk = isnull ? 0 : copy_attnums(d, entry->fk_atts, "foreign key");
	entry->nchain = 0;
	d = SPI_getbinval(tup, desc, 10, &isnull);
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;

		deconstruct_array(a, OIDOID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n && i < MAX_TRACK_ATTS; i++)
			entry->chain[entry->nchain++] = DatumGetObjectId(elems[i]);
	}

	d = SPI_getbinval(tup, desc, 9, &isnull);
	if (!isnull && entry->nfk > 0 && entry->problem == NULL)
	{
		Relation	rel = RelationIdGetRelation(entry->relid);
		TupleDesc	rdesc = RelationGetDescr(rel);
		Oid			child_owner = rel->rd_rel->relowner;
		int			i;

		for (i = 0; i < entry->nfk; i++)
		{
			entry->fk_types[i] = TupleDescAttr(rdesc, entry->fk_atts[i] - 1)->atttypid;
			/* loginas._track_info() refuses a key of a type the shop made */
			if (entry->fk_types[i] >= FirstNormalObjectId)
				elog(ERROR, "loginas: foreign key column %d of %s has a type that is not built-in",
					 entry->fk_atts[i], entry->relname);
		}
		RelationClose(rel);

		if (SPI_gettypeid(desc, 9) == TEXTOID)
		{
			/*
			 * The SQL of 1.0 or 1.1 (this library before ALTER EXTENSION
			 * loginas UPDATE): one query over the whole chain.  Until the
			 * update it runs as the tracked table's owner, never as
			 * loginas' owner.
			 */
			entry->level_owner[0] = child_owner;
			entry->level_sql[0] = MemoryContextStrdup(tracked_cxt, TextDatumGetCString(d));
			entry->level_plan[0] = NULL;
			entry->nlevels = 1;
		}
		else
		{
			ArrayType  *a = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			if (n != entry->nchain - 1 || n > MAX_TRACK_ATTS)
				elog(ERROR, "loginas: the parent lookups of %s do not match its parent chain", entry->relname);
			for (i = 0; i < n; i++)
			{
				HeapTuple	reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(entry->chain[i + 1]));

				if (!HeapTupleIsValid(reltup))
					elog(ERROR, "cache lookup failed for relation %u", entry->chain[i + 1]);
				entry->level_owner[i] = ((Form_pg_class) GETSTRUCT(reltup))->relowner;
				ReleaseSysCache(reltup);
				entry->level_sql[i] = MemoryContextStrdup(tracked_cxt, TextDatumGetCString(elems[i]));
				entry->level_plan[i] = NULL;
			}
			entry->nlevels = n;
		}
	}
	SPI_finish();
	loginas_as_owner_end(&owner);
}

static TrackedRel *
get_tracked(Oid relid)
{
	TrackedRel *entry;
	bool		found;

	if (tracked_rels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TrackedRel);
		tracked_cxt = AllocSetContextCreate(CacheMemoryContext, "loginas tracked relations",
											ALLOCSET_SMALL_SIZES);
		ctl.hcxt = tracked_cxt;
		tracked_rels = hash_create("loginas tracked relation entries", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(tracked_rel_inval, (Datum) 0);
	}
	entry = hash_search(tracked_rels, &relid, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) entry) + sizeof(Oid), 0, sizeof(TrackedRel) - sizeof(Oid));
		entry->valid = false;
	}
	if (!entry->valid)
	{
		PG_TRY();
		{
			fill_entry(entry);
		}
		PG_CATCH();
		{
			entry->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return entry;
}

/*
 * loginas._invalidate(regclass): loginas.protect/unprotect/track tell every
 * backend that the relation's tracking changed.
 */
Datum
loginas_invalidate(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * the trigger
 * --------------------------------------------------------------------- */

static int64
datum_to_int64(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

/* "(1, 'abc')": the key of a row, for messages and the log */
static void
append_key(StringInfo buf, TrackedRel *entry, TupleDesc desc, HeapTuple tuple, bool json)
{
	int			i;

	appendStringInfoChar(buf, json ? '[' : '(');
	for (i = 0; i < entry->npk; i++)
	{
		AttrNumber	att = entry->pk_atts[i];
		bool		isnull;
		Datum		d = heap_getattr(tuple, att, desc, &isnull);
		Oid			typoutput;
		bool		varlena;

		if (i > 0)
			appendStringInfoString(buf, ", ");
		if (isnull)
		{
			appendStringInfoString(buf, json ? "null" : "NULL");
			continue;
		}
		getTypeOutputInfo(TupleDescAttr(desc, att - 1)->atttypid, &typoutput, &varlena);
		if (json)
			escape_json(buf, OidOutputFunctionCall(typoutput, d));
		else
			appendStringInfoString(buf, OidOutputFunctionCall(typoutput, d));
	}
	appendStringInfoChar(buf, json ? ']' : ')');
}

static char *
key_text(TrackedRel *entry, TupleDesc desc, HeapTuple tuple)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_key(&buf, entry, desc, tuple, false);
	return buf.data;
}

/*
 * The key as a JSON array: unambiguous (values quoted and escaped), for
 * telling rows apart -- ('p, q', 'r') and ('p', 'q, r') print the same in
 * key_text but not here.
 */
static char *
key_json(TrackedRel *entry, TupleDesc desc, HeapTuple tuple)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_key(&buf, entry, desc, tuple, true);
	return buf.data;
}

/* whom a row belongs to */
typedef enum RowOwner
{
	OWNER_CUSTOMER,				/* *customer is set */
	OWNER_NONE,					/* NULL customer column or foreign key */
	OWNER_PARENT_GONE			/* a child whose parent row is not there */
} RowOwner;

static RowOwner
row_customer(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, int64 *customer)
{
	bool		isnull;

	if (entry->customer_att)
	{
		Datum		d = heap_getattr(tuple, entry->customer_att, desc, &isnull);

		if (isnull)
			return OWNER_NONE;
		*customer = datum_to_int64(d, entry->customer_type);
		return OWNER_CUSTOMER;
	}
	else
	{
		Datum		values[MAX_TRACK_ATTS];
		char		nulls[MAX_TRACK_ATTS];
		Oid			types[MAX_TRACK_ATTS];
		int			nvalues = entry->nfk;
		int			level,
					i;

		for (i = 0; i < entry->nfk; i++)
		{
			values[i] = heap_getattr(tuple, entry->fk_atts[i], desc, &isnull);
			nulls[i] = ' ';
			types[i] = entry->fk_types[i];
			if (isnull)
				return OWNER_NONE;	/* no parent, so no customer */
		}

		/*
		 * Up the chain, one parent at a time, each read as its table's owner
		 * (as PostgreSQL checks a foreign key): whatever that owner defined
		 * on its table -- index expressions, statistics, checks, casts --
		 * runs with the owner's own rights, never loginas'.  A security-
		 * restricted operation, with the owner's FORCE ROW LEVEL SECURITY
		 * not applied: the row is read whatever policies say.
		 */
		for (level = 0; level < entry->nlevels; level++)
		{
			LoginAsOwnerState owner;
			bool		last = (level == entry->nlevels - 1);
			int			rc;
			bool		found;

			loginas_as_table_owner_begin(&owner, entry->level_owner[level]);
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "loginas: SPI_connect failed");
			if (entry->level_plan[level] == NULL)
			{
				SPIPlanPtr	plan = SPI_prepare(entry->level_sql[level], nvalues, types);

				if (plan == NULL)
					elog(ERROR, "loginas: could not prepare the parent lookup of %s: %s",
						 entry->relname, SPI_result_code_string(SPI_result));
				if (SPI_keepplan(plan) != 0)
					elog(ERROR, "loginas: could not keep the parent lookup of %s", entry->relname);
				entry->level_plan[level] = plan;
			}
			rc = SPI_execute_plan(entry->level_plan[level], values, nulls, false, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "loginas: parent lookup of %s failed: %s", entry->relname,
					 SPI_result_code_string(rc));
			found = (SPI_processed == 1);
			if (found && last)
			{
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
					*customer = DatumGetInt64(d);
			}
			else if (found)
			{
				/* this parent's foreign key: the next lookup's parameters */
				TupleDesc	td = SPI_tuptable->tupdesc;

				nvalues = Min(td->natts, MAX_TRACK_ATTS);
				for (i = 0; i < nvalues && !isnull; i++)
				{
					Form_pg_attribute att = TupleDescAttr(td, i);
					Datum		d = SPI_getbinval(SPI_tuptable->vals[0], td, i + 1, &isnull);

					types[i] = att->atttypid;
					if (!isnull)
						values[i] = SPI_datumTransfer(d, att->attbyval, att->attlen);
				}
			}
			SPI_finish();
			loginas_as_owner_end(&owner);
			if (!found)
				return OWNER_PARENT_GONE;
			if (isnull)
				return OWNER_NONE;	/* a parent that belongs to no customer */
			if (last)
				return OWNER_CUSTOMER;
		}
		return OWNER_PARENT_GONE;
	}
}

/* refusals of tracked writes also go to the server log, like the SQL API's */
static void
log_refusal(const LoginAsContext *ctx, const char *what, const char *relname)
{
	LoginAsRefusal r;

	memset(&r, 0, sizeof(r));
	r.action = "write";
	r.sqlstate = "42501";
	r.message = psprintf("%s on %s", what, relname);
	r.has_admin = r.has_customer = r.has_session = true;
	r.admin_id = ctx->admin_id;
	r.customer_id = ctx->customer_id;
	r.session_id = ctx->session_id;
	loginas_queue_refusal_entry(&r);

	ereport(LOG,
			(errmsg("loginas: write refused: %s on %s (admin " INT64_FORMAT ", customer " INT64_FORMAT
					", session " INT64_FORMAT ", role %s)",
					loginas_log_text(what), loginas_log_text(relname), ctx->admin_id, ctx->customer_id,
					ctx->session_id, loginas_log_text(GetUserNameFromId(GetSessionUserId(), true))),
			 errhidestmt(true)));
}

/*
 * An existing child row whose parent row is gone lost it in this very
 * transaction (a foreign key keeps committed children with their parents):
 * an ON DELETE / ON UPDATE CASCADE of a parent row, which its own trigger
 * already checked.  Such a row is let through; every other row must belong to
 * the impersonated customer.
 */
static void
check_contained(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc,
				HeapTuple tuple, bool existing)
{
	int64		customer = 0;
	RowOwner	owner = row_customer(entry, desc, tuple, &customer);

	if (existing && owner == OWNER_PARENT_GONE)
		return;
	if (owner != OWNER_CUSTOMER || customer != ctx->customer_id)
	{
		const char *which = existing ? "existing" : "new";

		log_refusal(ctx, psprintf("row %s of another customer", key_text(entry, desc, tuple)), entry->relname);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Login as Customer session %lld may not write row %s of %s",
						(long long) ctx->session_id, loginas_log_text(key_text(entry, desc, tuple)),
						loginas_log_text(entry->relname)),
				 errdetail("The %s row belongs to %s, not to the impersonated customer %lld.",
						   which,
						   owner == OWNER_CUSTOMER ? psprintf("customer %lld", (long long) customer) : "no customer",
						   (long long) ctx->customer_id),
				 errhint("An admin logged in as a customer can change only that customer's data.")));
	}
}

static bool
attr_changed(TupleDesc desc, HeapTuple oldtup, HeapTuple newtup, AttrNumber att)
{
	bool		oldnull,
				newnull;
	Datum		o = heap_getattr(oldtup, att, desc, &oldnull);
	Datum		n = heap_getattr(newtup, att, desc, &newnull);
	Form_pg_attribute a = TupleDescAttr(desc, att - 1);

	if (oldnull || newnull)
		return oldnull != newnull;
	return !datum_image_eq(o, n, a->attbyval, a->attlen);
}

/* does the update change what ties the row to its customer? */
static bool
key_moved(TrackedRel *entry, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup)
{
	int			i;

	if (entry->customer_att)
		return attr_changed(desc, oldtup, newtup, entry->customer_att);
	for (i = 0; i < entry->nfk; i++)
		if (attr_changed(desc, oldtup, newtup, entry->fk_atts[i]))
			return true;
	return false;
}

static void
refuse_protected(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc,
				 HeapTuple tuple, AttrNumber att)
{
	const char *column = NameStr(TupleDescAttr(desc, att - 1)->attname);

	log_refusal(ctx, psprintf("change of protected column \"%s\" in row %s",
							  column, key_text(entry, desc, tuple)),
				entry->relname);
	/* the error's texts: escaped (the server log has them too) */
	column = loginas_log_text(column);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("column \"%s\" of %s is protected from Login as Customer sessions",
					column, loginas_log_text(entry->relname)),
			 errdetail("Session %lld tried to change it in row %s.",
					   (long long) ctx->session_id, loginas_log_text(key_text(entry, desc, tuple))),
			 errhint("The customer must change it themselves.")));
}

static HeapTuple
set_stamps(HeapTuple tuple, TupleDesc desc, TrackedRel *entry,
		   bool set_created, Datum created, bool created_null,
		   Datum changed, bool changed_null)
{
	Datum		values[2];
	bool		nulls[2];
	int			cols[2];
	int			n = 0;

	if (set_created)
	{
		cols[n] = entry->created_att;
		values[n] = created;
		nulls[n] = created_null;
		n++;
	}
	cols[n] = entry->changed_att;
	values[n] = changed;
	nulls[n] = changed_null;
	n++;
	return heap_modify_tuple_by_cols(tuple, desc, n, cols, values, nulls);
}

/*
 * An UPDATE that moves a row to another partition runs, on PostgreSQL 15, as
 * BEFORE UPDATE on the source partition, then BEFORE DELETE there and
 * BEFORE INSERT on the destination.  The update is the write; the delete and
 * the insert that follow it in the same command are how it is carried out,
 * so they keep the row's creation stamp and are not logged again.  The
 * update remembers the row (the old tuple's TID for the delete, the new key
 * for the insert); a key is unique across the partitioned table, so only
 * that row's insert can match.
 */
static struct
{
	int			stage;			/* 0: none; 1: after the update; 2: after the delete */
	CommandId	cid;
	Oid			root;			/* the tracked partitioned table */
	Oid			relid;			/* the source partition */
	ItemPointerData tid;
	char	   *key;			/* in TopTransactionContext */
	bool		created_null;
	int64		created;
	TransactionId xid;
} move;

static bool
move_matches(TrackedRel *entry)
{
	return move.stage != 0 && move.xid == GetCurrentTransactionIdIfAny() &&
		move.cid == GetCurrentCommandId(false) && entry->nchain > 0 &&
		move.root == entry->chain[0];
}

static void
remember_update(TrackedRel *entry, Relation rel, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup)
{
	bool		isnull;
	Datum		created;

	move.stage = 0;
	if (!rel->rd_rel->relispartition || entry->nchain == 0)
		return;
	created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
	move.stage = 1;
	move.xid = GetCurrentTransactionIdIfAny();
	move.cid = GetCurrentCommandId(false);
	move.root = entry->chain[0];
	move.relid = RelationGetRelid(rel);
	move.tid = oldtup->t_self;
	move.key = MemoryContextStrdup(TopTransactionContext, key_json(entry, desc, newtup));
	move.created_null = isnull;
	move.created = isnull ? 0 : DatumGetInt64(created);
}

Datum
loginas_track_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const LoginAsContext *ctx;
	TrackedRel *entry;
	TupleDesc	desc;
	HeapTuple	newtup = NULL,
				oldtup = NULL;
	bool		isnull;
	bool		moving = false;
	Datum		created;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		(TRIGGER_FIRED_AFTER(td->tg_event) && !TRIGGER_FIRED_BY_INSERT(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._track_row() must be called as a row trigger installed by loginas.track()"),
				 errhint("Use loginas.track() to track a table.")));

	/*
	 * The triggers fire ALWAYS, so that session_replication_role = replica
	 * cannot switch tracking off in a session.  A logical-replication worker
	 * applies rows as the publisher wrote them: stamps included, untouched.
	 */
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA && IsLogicalWorker())
	{
		if (TRIGGER_FIRED_AFTER(td->tg_event))
			return PointerGetDatum(NULL);
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
	}

	ctx = loginas_current_context();

	/*
	 * Outside a session a delete concerns nobody: the fastest way out -- once
	 * it is noted whether it is the delete half of a partition move (below)
	 */
	if (ctx == NULL && TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		if (move.stage == 1 && move.relid == RelationGetRelid(td->tg_relation) &&
			ItemPointerEquals(&move.tid, &td->tg_trigtuple->t_self) &&
			move.xid == GetCurrentTransactionIdIfAny() && move.cid == GetCurrentCommandId(false))
			move.stage = 2;
		return PointerGetDatum(td->tg_trigtuple);
	}

	desc = RelationGetDescr(td->tg_relation);
	entry = get_tracked(RelationGetRelid(td->tg_relation));

	/*
	 * Tracking broken by ALTER TABLE: no write in a session; outside one the
	 * table is written as usual (stamps cleared while the columns exist).
	 */
	if (entry->problem)
	{
		if (ctx != NULL)
			ereport(ERROR,
					(errcode(entry->problem_code),
					 errmsg_internal("%s", entry->problem),
					 entry->problem_detail ? errdetail_internal("%s", entry->problem_detail) : 0,
					 entry->problem_hint ? errhint("%s", entry->problem_hint) : 0));
		if (TRIGGER_FIRED_AFTER(td->tg_event) || entry->created_att == 0 || entry->changed_att == 0)
			return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
	}

	/*
	 * AFTER INSERT: the row was really written (not skipped by ON CONFLICT);
	 * log it if this session created it (a partition move keeps the row's
	 * older creation stamp and was logged as the update it is).
	 */
	if (TRIGGER_FIRED_AFTER(td->tg_event))
	{
		created = heap_getattr(td->tg_trigtuple, entry->created_att, desc, &isnull);
		if (ctx != NULL && !isnull && DatumGetInt64(created) == ctx->session_id)
			loginas_writelog_record(entry->relname, td->tg_event, ctx, desc, NULL, td->tg_trigtuple,
									entry->npk, entry->pk_atts, entry->created_att, entry->changed_att);
		return PointerGetDatum(NULL);
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		newtup = td->tg_trigtuple;
		if (move_matches(entry) && move.stage == 2)
		{
			char	   *key = key_json(entry, desc, newtup);

			moving = (strcmp(key, move.key) == 0);
			pfree(key);
		}
		move.stage = 0;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	else
	{
		oldtup = td->tg_trigtuple;
		if (move_matches(entry) && move.stage == 1 &&
			move.relid == RelationGetRelid(td->tg_relation) &&
			ItemPointerEquals(&move.tid, &oldtup->t_self))
		{
			/* the delete half of a partition move: checked and logged as an update */
			move.stage = 2;
			return PointerGetDatum(oldtup);
		}
		move.stage = 0;
	}

	if (ctx == NULL)
	{
		/*
		 * Outside a session nobody can claim a session did this.  The common
		 * case -- no stamp given, none kept -- returns the row untouched.
		 */
		if (newtup == NULL)
			return PointerGetDatum(oldtup);
		if (!moving && heap_attisnull(newtup, entry->changed_att, desc))
		{
			if (oldtup == NULL && heap_attisnull(newtup, entry->created_att, desc))
				return PointerGetDatum(newtup);
			if (oldtup != NULL && !attr_changed(desc, oldtup, newtup, entry->created_att) &&
				(heap_attisnull(oldtup, entry->created_att, desc) ||
				 !td->tg_relation->rd_rel->relispartition))
				return PointerGetDatum(newtup);
		}
		if (moving)
			return PointerGetDatum(set_stamps(newtup, desc, entry, true,
											  Int64GetDatum(move.created), move.created_null,
											  (Datum) 0, true));
		if (oldtup == NULL)
			return PointerGetDatum(set_stamps(newtup, desc, entry, true, (Datum) 0, true, (Datum) 0, true));
		remember_update(entry, td->tg_relation, desc, oldtup, newtup);
		created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
		return PointerGetDatum(set_stamps(newtup, desc, entry, true, created, isnull, (Datum) 0, true));
	}

	if (moving)
		return PointerGetDatum(set_stamps(newtup, desc, entry, true,
										  Int64GetDatum(move.created), move.created_null,
										  Int64GetDatum(ctx->session_id), false));

	/* no write commits after its session's end (context.c) */
	loginas_context_lock_session();

	if (ctx->read_only)
	{
		log_refusal(ctx, "write in a read-only session", entry->relname);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Login as Customer session %lld is read-only", (long long) ctx->session_id),
				 errdetail("It may not %s rows of %s.",
						   newtup == NULL ? "delete" : (oldtup == NULL ? "insert" : "update"),
						   loginas_log_text(entry->relname)),
				 errhint("Begin the session with read_only => false to act for the customer.")));
	}

	/* containment: the row was and stays the impersonated customer's */
	if (oldtup)
		check_contained(entry, ctx, desc, oldtup, true);
	if (newtup && (oldtup == NULL || key_moved(entry, desc, oldtup, newtup)))
		check_contained(entry, ctx, desc, newtup, false);

	/* protected columns */
	for (i = 0; newtup && i < entry->nprotected; i++)
	{
		AttrNumber	att = entry->protected_atts[i];

		if (oldtup ? attr_changed(desc, oldtup, newtup, att)
			: !heap_attisnull(newtup, att, desc))
			refuse_protected(entry, ctx, desc, newtup, att);
	}

	/* inserts are logged by the AFTER INSERT trigger, once written */
	if (oldtup)
		loginas_writelog_record(entry->relname, td->tg_event, ctx, desc, oldtup, newtup,
								entry->npk, entry->pk_atts, entry->created_att, entry->changed_att);

	if (newtup == NULL)
		return PointerGetDatum(oldtup);
	if (oldtup == NULL)
		return PointerGetDatum(set_stamps(newtup, desc, entry, true,
										  Int64GetDatum(ctx->session_id), false,
										  Int64GetDatum(ctx->session_id), false));
	remember_update(entry, td->tg_relation, desc, oldtup, newtup);
	created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
	return PointerGetDatum(set_stamps(newtup, desc, entry, true, created, isnull,
									  Int64GetDatum(ctx->session_id), false));
}

static void
refuse_truncate(const LoginAsContext *ctx, Oid relid, const char *detail)
{
	const char *relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid));

	log_refusal(ctx, "truncate", relname);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("Login as Customer session %lld may not truncate %s",
					(long long) ctx->session_id, loginas_log_text(relname)),
			 errdetail_internal("%s", detail)));
}

/*
 * BEFORE TRUNCATE: no session may empty a tracked table.
 */
Datum
loginas_track_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const LoginAsContext *ctx;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._track_truncate() must be called as a BEFORE TRUNCATE trigger")));
	ctx = loginas_current_context();
	if (ctx != NULL)
		refuse_truncate(ctx, RelationGetRelid(td->tg_relation),
						"Truncating a tracked table would remove other customers' rows.");
	PG_RETURN_POINTER(NULL);
}

/*
 * TRUNCATE fires the BEFORE TRUNCATE trigger only of the tables it names (and
 * those CASCADE adds), not of their partitioned ancestors: truncating a
 * partition -- at any depth of a partition tree, a leaf or a partitioned
 * table in the middle -- would empty part of a tracked table unseen.  So in a
 * session loginas looks at TRUNCATE itself: every table it would empty
 * (with the partitions and inheritance children it reaches, and what CASCADE
 * adds) is refused when it, or any table it is a partition of, is tracked.
 */
static ProcessUtility_hook_type prev_process_utility = NULL;

static bool
has_truncate_guard(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	bool		found = false;
	int			i;

	if (rel->trigdesc)
		for (i = 0; i < rel->trigdesc->numtriggers && !found; i++)
			found = strcmp(rel->trigdesc->triggers[i].tgname, "zz_loginas_track_truncate") == 0;
	relation_close(rel, AccessShareLock);
	return found;
}

/* refuses the truncation of relid if it or a table it is a partition of is tracked */
static void
check_truncate(const LoginAsContext *ctx, Oid relid)
{
	char		kind = get_rel_relkind(relid);
	List	   *ancestors;
	ListCell   *lc;

	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		return;					/* TRUNCATE itself reports it */
	if (has_truncate_guard(relid))
		refuse_truncate(ctx, relid,
						"Truncating a tracked table would remove other customers' rows.");
	ancestors = get_rel_relispartition(relid) ? get_partition_ancestors(relid) : NIL;
	foreach(lc, ancestors)
		if (has_truncate_guard(lfirst_oid(lc)))
			refuse_truncate(ctx, relid,
							"It is a partition of a tracked table; truncating it would remove other customers' rows.");
}

static void
check_truncate_stmt(const LoginAsContext *ctx, TruncateStmt *stmt)
{
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (!OidIsValid(relid))
			continue;			/* TRUNCATE itself reports it */
		if (rv->inh)
			relids = list_concat_unique_oid(relids, find_all_inheritors(relid, NoLock, NULL));
		else
			relids = list_append_unique_oid(relids, relid);
	}
	/* CASCADE empties the tables that reference these, and theirs in turn */
	while (stmt->behavior == DROP_CASCADE)
	{
		List	   *refs = heap_truncate_find_FKs(relids);
		bool		added = false;

		foreach(lc, refs)
		{
			Oid			relid = lfirst_oid(lc);

			if (!list_member_oid(relids, relid))
			{
				relids = list_concat_unique_oid(relids, find_all_inheritors(relid, NoLock, NULL));
				added = true;
			}
		}
		if (!added)
			break;
	}
	foreach(lc, relids)
		check_truncate(ctx, lfirst_oid(lc));
}

static void
loginas_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	const LoginAsContext *ctx = loginas_current_context();

	if (ctx != NULL && IsA(pstmt->utilityStmt, TruncateStmt))
		check_truncate_stmt(ctx, (TruncateStmt *) pstmt->utilityStmt);

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

void
loginas_track_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = loginas_process_utility;
}
