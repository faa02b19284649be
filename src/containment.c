/*
 * containment.c
 *		Containment: a session writes only its customer's rows, judged on the
 *		state before the session touched a row and on the state at commit.
 *
 * The row trigger (track.c) hands every row a session writes to
 * loginas_containment_touch():
 *
 *	first touch		the first time the session touches a row in the
 *					transaction, the row as it was (its old version) must
 *					belong to the impersonated customer -- refused at once
 *					otherwise; an insert finds no row, which is fine.  Its
 *					protected columns' values are remembered.
 *	at commit		just before the transaction commits (or is prepared),
 *					every touched row is read again by its key, as its
 *					table's owner: it must not exist any more, or belong to
 *					the customer; its protected columns must hold what they
 *					held at the first touch (NULL for a row the session
 *					created).  A refusal is 42501 and the transaction rolls
 *					back.  loginas.check_writes() judges the same, earlier.
 *
 * So the judgement sees each row after every BEFORE trigger and generated
 * column, whatever their names, and an ORM may insert a row and link it to
 * the customer afterwards, or unlink a row and then delete it.
 *
 * A row is known by its table, the session and its key (as JSON: unambiguous
 * whatever the values hold).  "Before" is decided by the row version, not
 * only by the key: an entry made by an insert does not cover an update of a
 * row version older than the transaction under the same key (INSERT ... ON
 * CONFLICT fires BEFORE INSERT, then updates the existing row).  Entries of
 * a subtransaction that rolls back stay: their rows are read again at commit
 * like the others, as they are then.
 *
 * Whom a row belongs to: its customer column, or for a child table its
 * parent row, looked up one parent at a time, each read as its table's owner
 * (as a foreign-key check reads it) in a security-restricted operation, so
 * nothing a table owner defines runs with loginas' rights.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "loginas.h"
#include "track.h"

/* a row a session touched in this transaction */
typedef struct TouchedRow
{
	char	   *hkey;			/* hash key: "table/session/key as JSON" */
	struct TouchedRow *next;	/* in the order first touched */
	Oid			relid;			/* where the trigger saw it (a partition, or the table) */
	int64		session_id;
	int64		admin_id;
	int64		customer_id;
	bool		existed;		/* a version older than the transaction was judged */
	int			npk;
	Datum	   *key;
	int			nprotected;
	Datum	   *protected;		/* at the first touch of an existing row */
	bool	   *protected_null;
} TouchedRow;

static HTAB *touched = NULL;	/* in touched_cxt, under TopTransactionContext */
static MemoryContext touched_cxt = NULL;
static TouchedRow *first_touched = NULL;
static TouchedRow *last_touched = NULL;
static bool judging = false;	/* at commit: reading the touched rows again */

/* ---------------------------------------------------------------------
 * keys
 * --------------------------------------------------------------------- */

static void
append_key_values(StringInfo buf, int n, const Datum *values, const Oid *types, bool json)
{
	int			i;

	appendStringInfoChar(buf, json ? '[' : '(');
	for (i = 0; i < n; i++)
	{
		Oid			typoutput;
		bool		varlena;
		char	   *s;

		if (i > 0)
			appendStringInfoString(buf, json ? "," : ", ");
		getTypeOutputInfo(types[i], &typoutput, &varlena);
		s = OidOutputFunctionCall(typoutput, values[i]);
		if (json)
			escape_json(buf, s);
		else
			loginas_append_key_value(buf, s);
		pfree(s);
	}
	appendStringInfoChar(buf, json ? ']' : ')');
}

/*
 * A row's key: "(1, abc)" for messages -- a value that holds a comma, a
 * parenthesis, a quote, a backslash or a space is quoted, as the reports
 * print keys -- or as a JSON array, for telling rows apart.
 */
char *
loginas_row_key(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, bool json)
{
	StringInfoData buf;
	Datum		values[MAX_TRACK_ATTS];
	int			i;

	for (i = 0; i < entry->npk; i++)
	{
		bool		isnull;

		values[i] = heap_getattr(tuple, entry->pk_atts[i], desc, &isnull);
		if (isnull)
			elog(ERROR, "loginas: key column %d of %s is NULL", entry->pk_atts[i], entry->relname);
	}
	initStringInfo(&buf);
	append_key_values(&buf, entry->npk, values, entry->pk_types, json);
	return buf.data;
}

static char *
touched_key_text(TrackedRel *entry, TouchedRow *row)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_key_values(&buf, row->npk, row->key, entry->pk_types, false);
	return buf.data;
}

/* ---------------------------------------------------------------------
 * whom a row belongs to
 * --------------------------------------------------------------------- */

typedef enum RowOwner
{
	OWNER_CUSTOMER,				/* *customer is set */
	OWNER_NONE,					/* NULL customer column or foreign key */
	OWNER_PARENT_GONE			/* a child whose parent row is not there */
} RowOwner;

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

/*
 * values: the customer column's value (one), or a child's foreign key
 * (entry->nfk values), as the row holds them
 */
static RowOwner
owner_of(TrackedRel *entry, const Datum *row_values, const bool *row_nulls, int64 *customer)
{
	Datum		values[MAX_TRACK_ATTS];
	char		nulls[MAX_TRACK_ATTS];
	Oid			types[MAX_TRACK_ATTS];
	int			nvalues = entry->nfk;
	bool		isnull = false;
	int			level,
				i;

	if (entry->customer_att)
	{
		if (row_nulls[0])
			return OWNER_NONE;
		*customer = datum_to_int64(row_values[0], entry->customer_type);
		return OWNER_CUSTOMER;
	}
	for (i = 0; i < entry->nfk; i++)
	{
		if (row_nulls[i])
			return OWNER_NONE;	/* no parent, so no customer */
		values[i] = row_values[i];
		nulls[i] = ' ';
		types[i] = entry->fk_types[i];
	}

	/*
	 * Up the chain, one parent at a time, each read as its table's owner (as
	 * PostgreSQL checks a foreign key): whatever that owner defined on its
	 * table -- index expressions, statistics, checks, casts -- runs with the
	 * owner's own rights, never loginas'.  A security-restricted operation,
	 * with the owner's FORCE ROW LEVEL SECURITY not applied: the row is read
	 * whatever policies say.
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

static RowOwner
owner_of_tuple(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, int64 *customer)
{
	Datum		values[MAX_TRACK_ATTS];
	bool		nulls[MAX_TRACK_ATTS];
	int			i;

	if (entry->customer_att)
		values[0] = heap_getattr(tuple, entry->customer_att, desc, &nulls[0]);
	else
		for (i = 0; i < entry->nfk; i++)
			values[i] = heap_getattr(tuple, entry->fk_atts[i], desc, &nulls[i]);
	return owner_of(entry, values, nulls, customer);
}

static void
refuse_row(TrackedRel *entry, int64 session_id, int64 admin_id, int64 customer_id,
		   const char *key, const char *which, RowOwner owner, int64 customer)
{
	const char *whose = owner == OWNER_CUSTOMER ?
		psprintf("customer %lld", (long long) customer) : "no customer";

	loginas_log_write_refusal(session_id, admin_id, customer_id,
							  psprintf("row %s of another customer", key), entry->relname);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("Login as Customer session %lld may not write row %s of %s",
					(long long) session_id, loginas_log_text(key), loginas_log_text(entry->relname)),
			 errdetail("%s belongs to %s, not to the impersonated customer %lld.",
					   which, whose, (long long) customer_id),
			 errhint("An admin logged in as a customer can change only that customer's data.")));
}

static void
refuse_protected(TrackedRel *entry, int64 session_id, int64 admin_id, int64 customer_id,
				 const char *key, const char *column)
{
	loginas_log_write_refusal(session_id, admin_id, customer_id,
							  psprintf("change of protected column \"%s\" in row %s", column, key),
							  entry->relname);
	/* the error's texts: escaped (the server log has them too) */
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("column \"%s\" of %s is protected from Login as Customer sessions",
					loginas_log_text(column), loginas_log_text(entry->relname)),
			 errdetail("Session %lld changed it in row %s.",
					   (long long) session_id, loginas_log_text(key)),
			 errhint("The customer must change it themselves.")));
}

/* ---------------------------------------------------------------------
 * first touch
 * --------------------------------------------------------------------- */

static uint32
touched_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return string_hash(s, strlen(s) + 1);
}

static int
touched_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/* the entry of a row (by its key in tuple), made when make and none is there */
static TouchedRow *
touched_row(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple tuple,
			bool make, bool *made)
{
	MemoryContext old;
	char	   *json = loginas_row_key(entry, desc, tuple, true);
	char	   *hkey;
	TouchedRow *row;
	bool		found;
	int			i;

	*made = false;
	if (touched == NULL)
	{
		HASHCTL		ctl;

		if (!make)
			return NULL;
		touched_cxt = AllocSetContextCreate(TopTransactionContext, "loginas touched rows",
											ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(TouchedRow);
		ctl.hash = touched_hash;
		ctl.match = touched_match;
		ctl.hcxt = touched_cxt;
		touched = hash_create("loginas touched rows", 256, &ctl,
							  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	old = MemoryContextSwitchTo(touched_cxt);
	hkey = psprintf("%u/" INT64_FORMAT "/%s",
					entry->nchain > 0 ? entry->chain[0] : entry->relid, ctx->session_id, json);
	pfree(json);
	row = hash_search(touched, &hkey, make ? HASH_ENTER : HASH_FIND, &found);
	if (found || row == NULL)
	{
		pfree(hkey);
		MemoryContextSwitchTo(old);
		return row;
	}
	/* new: the key stays as the entry's (hash_search copied the pointer) */
	memset(((char *) row) + sizeof(char *), 0, sizeof(TouchedRow) - sizeof(char *));
	row->relid = entry->relid;
	row->session_id = ctx->session_id;
	row->admin_id = ctx->admin_id;
	row->customer_id = ctx->customer_id;
	row->npk = entry->npk;
	row->key = palloc(sizeof(Datum) * entry->npk);
	for (i = 0; i < entry->npk; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->pk_atts[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(tuple, entry->pk_atts[i], desc, &isnull);

		row->key[i] = datumCopy(d, a->attbyval, a->attlen);
	}
	if (last_touched)
		last_touched->next = row;
	else
		first_touched = row;
	last_touched = row;
	MemoryContextSwitchTo(old);
	*made = true;
	return row;
}

/* what the row held before the session touched it: it existed, with these values */
static void
remember_existing(TouchedRow *row, TrackedRel *entry, TupleDesc desc, HeapTuple tuple)
{
	MemoryContext old = MemoryContextSwitchTo(touched_cxt);
	int			i;

	row->existed = true;
	row->nprotected = entry->nprotected;
	row->protected = palloc0(sizeof(Datum) * Max(entry->nprotected, 1));
	row->protected_null = palloc0(sizeof(bool) * Max(entry->nprotected, 1));
	for (i = 0; i < entry->nprotected; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->protected_atts[i] - 1);
		Datum		d = heap_getattr(tuple, entry->protected_atts[i], desc, &row->protected_null[i]);

		if (!row->protected_null[i])
			row->protected[i] = datumCopy(d, a->attbyval, a->attlen);
	}
	MemoryContextSwitchTo(old);
}

static void
copy_before(TouchedRow *to, const TouchedRow *from)
{
	MemoryContext old = MemoryContextSwitchTo(touched_cxt);

	to->existed = from->existed;
	to->nprotected = from->nprotected;
	if (from->existed)
	{
		/* the values are the first entry's, which lives as long */
		to->protected = from->protected;
		to->protected_null = from->protected_null;
	}
	MemoryContextSwitchTo(old);
}

/* a row version this session created: written by this transaction, stamped so */
static bool
created_by_session(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple tuple)
{
	bool		isnull;
	Datum		d;

	if (tuple->t_data == NULL ||
		!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
		return false;
	if (entry->created_att == 0)	/* stamps => 'table' (track.c) */
		return loginas_stamp_created_in_session(entry, ctx, desc, tuple);
	d = heap_getattr(tuple, entry->created_att, desc, &isnull);
	return !isnull && DatumGetInt64(d) == ctx->session_id;
}

/* a row version older than this transaction */
static bool
older_than_transaction(HeapTuple tuple)
{
	return tuple->t_data != NULL &&
		!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));
}

/* the first state of an existing row: it must be the customer's */
static void
judge_first_state(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple oldtup)
{
	int64		customer = 0;
	RowOwner	owner = owner_of_tuple(entry, desc, oldtup, &customer);

	if (owner != OWNER_PARENT_GONE &&
		(owner != OWNER_CUSTOMER || customer != ctx->customer_id))
		refuse_row(entry, ctx->session_id, ctx->admin_id, ctx->customer_id,
				   loginas_row_key(entry, desc, oldtup, false), "The existing row", owner, customer);
}

/*
 * The row trigger's call for every row a session writes: BEFORE UPDATE and
 * BEFORE DELETE with the old version (and the new one of an update), AFTER
 * INSERT with the row inserted (only rows really inserted: not those an
 * INSERT ... ON CONFLICT turned into an update or skipped).
 *
 * An existing row's old version is judged the first time the session
 * touches the row, and again when an entry made for a row the session
 * inserted meets a version older than the transaction under that key.  A
 * version the session created in this transaction (written by it, stamped
 * with the session -- a shop's AFTER trigger may update it before loginas'
 * AFTER INSERT trigger has run) starts as "did not exist".  A child row
 * whose parent row is gone lost it in this very transaction (a foreign key
 * keeps committed children with their parents): an ON DELETE / ON UPDATE
 * CASCADE of a parent row, which its own trigger already judged.  An entry
 * is made only once the row passed: a refused attempt leaves none.
 */
void
loginas_containment_touch(TrackedRel *entry, const LoginAsContext *ctx, Relation rel,
						  HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TouchedRow *row = NULL;
	bool		made;

	if (judging)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Login as Customer session %lld may not write %s while its writes are judged",
						(long long) ctx->session_id, loginas_log_text(entry->relname)),
				 errdetail("Code run while reading a tracked row wrote to a tracked table.")));

	if (oldtup)
	{
		row = touched_row(entry, ctx, desc, oldtup, false, &made);
		if (row == NULL)
		{
			bool		created = created_by_session(entry, ctx, desc, oldtup);

			if (!created)
				judge_first_state(entry, ctx, desc, oldtup);
			row = touched_row(entry, ctx, desc, oldtup, true, &made);
			if (!created)
				remember_existing(row, entry, desc, oldtup);
		}
		else if (!row->existed && older_than_transaction(oldtup))
		{
			judge_first_state(entry, ctx, desc, oldtup);
			remember_existing(row, entry, desc, oldtup);
		}
	}
	if (newtup)
	{
		TouchedRow *newrow = touched_row(entry, ctx, desc, newtup, true, &made);

		/* an update that changed the key: the row's first state is the old key's */
		if (made && row != NULL)
			copy_before(newrow, row);
	}
}

/* ---------------------------------------------------------------------
 * at commit
 * --------------------------------------------------------------------- */

/*
 * The query that reads a touched row as it is now, by its key, from the
 * tracked table (the partitioned table for a partition: the row may have
 * moved): its customer column or foreign key, then its protected columns.
 */
static void
prepare_final(TrackedRel *entry)
{
	Relation	rel = RelationIdGetRelation(entry->relid);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			target = entry->nchain > 0 ? entry->chain[0] : entry->relid;
	StringInfoData sql;
	int			i,
				n = 0;

#define COLNAME(att) quote_identifier(NameStr(TupleDescAttr(desc, (att) - 1)->attname))
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	if (entry->customer_att)
		appendStringInfo(&sql, "t.%s", COLNAME(entry->customer_att)), n++;
	for (i = 0; !entry->customer_att && i < entry->nfk; i++)
		appendStringInfo(&sql, "%st.%s", n++ ? ", " : "", COLNAME(entry->fk_atts[i]));
	for (i = 0; i < entry->nprotected; i++)
		appendStringInfo(&sql, "%st.%s", n++ ? ", " : "", COLNAME(entry->protected_atts[i]));
	appendStringInfo(&sql, " FROM %s%s t WHERE ",
					 get_rel_relkind(target) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
												get_rel_name(target)));
	for (i = 0; i < entry->npk; i++)
		appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) $%d", i ? " AND " : "",
						 COLNAME(entry->pk_atts[i]), i + 1);
#undef COLNAME
	RelationClose(rel);

	entry->final_plan = SPI_prepare(sql.data, entry->npk, entry->pk_types);
	if (entry->final_plan == NULL)
		elog(ERROR, "loginas: could not prepare the commit check of %s: %s",
			 entry->relname, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(entry->final_plan) != 0)
		elog(ERROR, "loginas: could not keep the commit check of %s", entry->relname);
	pfree(sql.data);
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

static void judge_final_state(TrackedRel *entry, TouchedRow *row, TupleDesc desc,
							  Datum *values, bool *nulls);

/* one touched row, as it is now */
static void
judge_row(TouchedRow *row)
{
	TrackedRel *entry;
	LoginAsOwnerState owner;
	Datum		values[2 * MAX_TRACK_ATTS];
	bool		nulls[2 * MAX_TRACK_ATTS];
	Relation	rel;
	TupleDesc	desc;
	int			i;
	uint64		r,
				found;
	SPITupleTable *rows;

	if (!loginas_relation_tracked(row->relid))
		return;					/* dropped or untracked since (by a role trusted to) */
	entry = loginas_tracked_rel(row->relid);
	if (entry->problem)
		ereport(ERROR,
				(errcode(entry->problem_code),
				 errmsg_internal("%s", entry->problem),
				 entry->problem_detail ? errdetail_internal("%s", entry->problem_detail) : 0,
				 entry->problem_hint ? errhint("%s", entry->problem_hint) : 0));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (entry->final_plan == NULL)
		entry->final_owner = relation_owner(entry->nchain > 0 ? entry->chain[0] : entry->relid);
	loginas_as_table_owner_begin(&owner, entry->final_owner);
	if (entry->final_plan == NULL)
		prepare_final(entry);
	if (SPI_execute_plan(entry->final_plan, row->key, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loginas: the commit check of %s failed", entry->relname);
	loginas_as_owner_end(&owner);

	/*
	 * Usually one row, or none (deleted, or never made: nothing of anyone's);
	 * a deferrable key may hold several until commit: each is judged.
	 */
	rel = RelationIdGetRelation(entry->relid);
	desc = RelationGetDescr(rel);
	found = SPI_processed;
	rows = SPI_tuptable;
	for (r = 0; r < found; r++)
	{
		for (i = 0; i < rows->tupdesc->natts && i < 2 * MAX_TRACK_ATTS; i++)
			values[i] = SPI_getbinval(rows->vals[r], rows->tupdesc, i + 1, &nulls[i]);
		judge_final_state(entry, row, desc, values, nulls);
	}
	RelationClose(rel);
	SPI_finish();
}

/* one row found under a touched row's key, as it is now */
static void
judge_final_state(TrackedRel *entry, TouchedRow *row, TupleDesc desc, Datum *values, bool *nulls)
{
	int			nowner = entry->customer_att ? 1 : entry->nfk;
	int64		customer = 0;
	RowOwner	whose;
	int			i;

	whose = owner_of(entry, values, nulls, &customer);
	if (whose != OWNER_CUSTOMER || customer != row->customer_id)
		refuse_row(entry, row->session_id, row->admin_id, row->customer_id,
				   touched_key_text(entry, row), "The row as written", whose, customer);

	for (i = 0; i < entry->nprotected; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->protected_atts[i] - 1);
		Datum		now = values[nowner + i];
		bool		now_null = nulls[nowner + i];
		bool		changed;

		if (!row->existed)
			changed = !now_null;	/* the session made the row: it sets none */
		else if (i >= row->nprotected)
			changed = false;	/* protected since the first touch */
		else if (row->protected_null[i] || now_null)
			changed = row->protected_null[i] != now_null;
		else
			changed = !datum_image_eq(row->protected[i], now, a->attbyval, a->attlen);
		if (changed)
			refuse_protected(entry, row->session_id, row->admin_id, row->customer_id,
							 touched_key_text(entry, row), NameStr(a->attname));
	}
}

static void
judge_touched(void)
{
	TouchedRow *row;

	if (first_touched == NULL || judging)
		return;
	judging = true;
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		for (row = first_touched; row; row = row->next)
		{
			CHECK_FOR_INTERRUPTS();
			judge_row(row);
		}
	}
	PG_FINALLY();
	{
		judging = false;
	}
	PG_END_TRY();
	PopActiveSnapshot();
}

static void
forget_touched(void)
{
	/* the memory goes with TopTransactionContext */
	touched = NULL;
	touched_cxt = NULL;
	first_touched = last_touched = NULL;
	judging = false;
}

static void
containment_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			judge_touched();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_touched();
			break;
		default:
			break;
	}
}

/*
 * loginas.check_writes(): the judgement of commit, now (the rows stay
 * touched: commit judges them again)
 */
PG_FUNCTION_INFO_V1(loginas_check_writes);

Datum
loginas_check_writes(PG_FUNCTION_ARGS)
{
	judge_touched();
	PG_RETURN_VOID();
}

void
loginas_containment_init(void)
{
	RegisterXactCallback(containment_xact_callback, NULL);
}
