/*
 * track.c
 *		Write attribution on the shop's own tables: the row trigger.
 *
 * loginas.track() puts loginas._track_row() on a table as BEFORE ROW
 * triggers for INSERT, UPDATE and DELETE and an AFTER INSERT trigger that
 * logs inserted rows, all fired ALWAYS (session_replication_role = replica
 * does not switch them off; a logical-replication apply worker passes
 * through).  The function runs only as those triggers (check_own_trigger:
 * every role may execute it, so that a tracked table's owner can add
 * partitions).  Ordinary writes outside a session take the trigger's fast
 * path.
 * When it does its work:
 *
 *	outside a session	the stamps cannot be forged: a new row gets no stamps,
 *						an updated row keeps its creation stamp and loses its
 *						last-change stamp (stamps => 'table': see below);
 *	inside a session	a read-only session writes nothing; every row written
 *						goes to containment (containment.c: the row must
 *						belong to the impersonated customer when the session
 *						first touches it and when the transaction commits,
 *						its protected columns unchanged); the stamps name the
 *						session; and the write is remembered for the log
 *						(writelog.c).
 *
 * What a tracked relation looks like to the trigger (column numbers, key
 * columns, the parent query) is read once per backend through
 * loginas._track_info() and kept in a hash table in the memory context
 * "loginas tracked relations" (under CacheMemoryContext); a relcache
 * invalidation of the relation (ALTER TABLE, CREATE TRIGGER,
 * loginas.protect, ...) or of any relation on its parent chain marks the
 * entry for a refill, which frees what the entry held (its prepared
 * lookups too).  The columns that tie a row to its customer are of built-in
 * types (loginas._track_info refuses others).
 *
 * TRUNCATE in a session is refused here too (the BEFORE TRUNCATE trigger and
 * a ProcessUtility hook for the partitions that trigger does not see).
 *
 * A table tracked with stamps => 'table' has no stamp columns (a schema tool
 * that does not know them would drop them): its stamps are rows of
 * loginas.row_stamp, by the tracked table and the row's key, written here as
 * loginas' owner with plans kept for the backend.  They record the writes
 * made in sessions: an insert sets both stamps (once the row is really
 * written, from the AFTER INSERT trigger), an update the last-change stamp,
 * a delete removes the row's stamps.  Outside sessions the stamps are left as
 * they are -- they name the last session that wrote the row, and nobody but
 * loginas writes them -- except that they follow the row: a delete removes
 * them, a changed key takes them along, TRUNCATE of the table removes all of
 * them.  That costs nothing for a table that has no stamp rows (known when
 * its entry is filled; the first session write there invalidates the entry
 * everywhere).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
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
#include "commands/event_trigger.h"
#include "utils/acl.h"

#include "loginas.h"
#include "track.h"

static HTAB *tracked_rels = NULL;
static MemoryContext tracked_cxt = NULL;

PG_FUNCTION_INFO_V1(loginas_track_row);
PG_FUNCTION_INFO_V1(loginas_track_truncate);
PG_FUNCTION_INFO_V1(loginas_invalidate);
PG_FUNCTION_INFO_V1(loginas_guard_partitions);

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

	for (i = 0; i < entry->nlookups; i++)
	{
		if (entry->lookup_plan[i])
			SPI_freeplan(entry->lookup_plan[i]);
		if (entry->lookup_sql[i])
			pfree(entry->lookup_sql[i]);
		entry->lookup_plan[i] = NULL;
		entry->lookup_sql[i] = NULL;
	}
	entry->nlookups = 0;
	entry->nroutes = 0;
	entry->nowner = 0;
	if (entry->final_plan)
		SPI_freeplan(entry->final_plan);
	entry->final_plan = NULL;
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
	if (entry->values_cxt)
		MemoryContextDelete(entry->values_cxt);
	entry->values_cxt = NULL;
	if (entry->key_cxt)
		MemoryContextDelete(entry->key_cxt);
	entry->key_cxt = NULL;
	entry->pk_out = NULL;
	entry->value_natts = 0;
	entry->value_mode = NULL;
	entry->value_out = NULL;
	entry->value_type = NULL;
	entry->value_order = NULL;
	entry->value_member = NULL;
	entry->value_member_len = NULL;
	entry->value_last = NULL;
	entry->nsensitive = 0;
	entry->log_values = false;
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

/* the elements of a one-dimensional array of a fixed-size type, no NULLs */
static int
array_elems(Datum arr, Oid type, Datum **elems)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	bool	   *nulls;
	int			n;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(arr), type, typlen, typbyval, typalign, elems, &nulls, &n);
	return n;
}

Oid
loginas_relation_owner(Oid relid)
{
	HeapTuple	reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(reltup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(reltup))->relowner;
	ReleaseSysCache(reltup);
	return owner;
}

/* the column attnum of the row as an owner column: its index, added once */
static int
owner_index(TrackedRel *entry, TupleDesc rdesc, AttrNumber attnum)
{
	int			i;

	for (i = 0; i < entry->nowner; i++)
		if (entry->owner_atts[i] == attnum)
			return i;
	if (entry->nowner >= MAX_TRACK_ATTS || attnum <= 0 || attnum > rdesc->natts)
		elog(ERROR, "loginas: too many or unknown columns on the way from %s to its customer", entry->relname);
	entry->owner_atts[i] = attnum;
	entry->owner_types[i] = TupleDescAttr(rdesc, attnum - 1)->atttypid;
	/* loginas._track_info() refuses a key of a type the shop made */
	if (entry->owner_types[i] >= FirstNormalObjectId)
		elog(ERROR, "loginas: column %d of %s on the way to its customer has a type that is not built-in",
			 attnum, entry->relname);
	return entry->nowner++;
}

static void
add_lookup(TrackedRel *entry, const char *sql, Oid owner, bool referrer)
{
	if (entry->nlookups >= MAX_TRACK_LOOKUPS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("loginas follows at most %d lookups from a row of %s to its customer",
						MAX_TRACK_LOOKUPS, entry->relname)));
	entry->lookup_sql[entry->nlookups] = MemoryContextStrdup(tracked_cxt, sql);
	entry->lookup_owner[entry->nlookups] = owner;
	entry->lookup_referrer[entry->nlookups] = referrer;
	entry->lookup_plan[entry->nlookups] = NULL;
	entry->nlookups++;
}

/*
 * The routes of a row without a customer column (loginas._track_info's
 * route_* columns), or of the SQL of an older version: 1.2's one route up
 * the parents (fk_attnums, parent_lookups), 1.0's and 1.1's one query over
 * the whole chain, run as the tracked table's owner until ALTER EXTENSION
 * loginas UPDATE (never as loginas' owner).
 */
static void
fill_routes(TrackedRel *entry, HeapTuple tup, TupleDesc desc)
{
	Relation	rel = RelationIdGetRelation(entry->relid);
	TupleDesc	rdesc = RelationGetDescr(rel);
	bool		isnull;
	Datum	   *elems;
	int			i,
				r,
				n;

	entry->nowner = entry->nroutes = entry->nlookups = 0;
	if (desc->natts >= 20)
	{
		Datum	   *attnums,
				   *nattnums,
				   *lookups,
				   *relations,
				   *referrers,
				   *nlookups;
		int			nroutes,
					a = 0,
					l = 0;
		bool	   *nulls;

		(void) array_elems(SPI_getbinval(tup, desc, 15, &isnull), INT2OID, &attnums);
		nroutes = array_elems(SPI_getbinval(tup, desc, 16, &isnull), INT4OID, &nattnums);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 17, &isnull)), TEXTOID, -1, false,
						  TYPALIGN_INT, &lookups, &nulls, &n);
		(void) array_elems(SPI_getbinval(tup, desc, 18, &isnull), OIDOID, &relations);
		(void) array_elems(SPI_getbinval(tup, desc, 19, &isnull), BOOLOID, &referrers);
		(void) array_elems(SPI_getbinval(tup, desc, 20, &isnull), INT4OID, &nlookups);
		if (nroutes > MAX_TRACK_ROUTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("loginas follows at most %d ways from a row of %s to its customer",
							MAX_TRACK_ROUTES, entry->relname)));
		for (r = 0; r < nroutes; r++)
		{
			entry->routes[r].nparams = DatumGetInt32(nattnums[r]);
			if (entry->routes[r].nparams > MAX_TRACK_ATTS)
				elog(ERROR, "loginas: a way from %s to its customer starts from too many columns", entry->relname);
			for (i = 0; i < entry->routes[r].nparams; i++)
				entry->routes[r].params[i] = owner_index(entry, rdesc, DatumGetInt16(attnums[a++]));
			entry->routes[r].first = entry->nlookups;
			entry->routes[r].nlookups = DatumGetInt32(nlookups[r]);
			for (i = 0; i < entry->routes[r].nlookups; i++, l++)
			{
				if (l >= n)
					elog(ERROR, "loginas: the lookups of %s do not match its routes", entry->relname);
				add_lookup(entry, TextDatumGetCString(lookups[l]),
						   loginas_relation_owner(DatumGetObjectId(relations[l])), DatumGetBool(referrers[l]));
			}
		}
		entry->nroutes = nroutes;
	}
	else
	{
		/* one route: the foreign key to the parent, then up the parents */
		Datum		d = SPI_getbinval(tup, desc, 8, &isnull);
		AttrNumber	fk[MAX_TRACK_ATTS];
		int			nfk = isnull ? 0 : copy_attnums(d, fk, "foreign key");

		d = SPI_getbinval(tup, desc, 9, &isnull);
		if (nfk > 0 && !isnull)
		{
			entry->routes[0].nparams = nfk;
			for (i = 0; i < nfk; i++)
				entry->routes[0].params[i] = owner_index(entry, rdesc, fk[i]);
			entry->routes[0].first = 0;
			if (SPI_gettypeid(desc, 9) == TEXTOID)
				add_lookup(entry, TextDatumGetCString(d), rel->rd_rel->relowner, false);
			else
			{
				deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
								  &elems, NULL, &n);
				if (n != entry->nchain - 1)
					elog(ERROR, "loginas: the parent lookups of %s do not match its parent chain", entry->relname);
				for (i = 0; i < n; i++)
					add_lookup(entry, TextDatumGetCString(elems[i]), loginas_relation_owner(entry->chain[i + 1]), false);
			}
			entry->routes[0].nlookups = entry->nlookups;
			entry->nroutes = 1;
		}
	}
	RelationClose(rel);
}

static void
add_watched(TrackedRel *entry, TupleDesc rdesc, AttrNumber att)
{
	Form_pg_attribute a = TupleDescAttr(rdesc, att - 1);

	entry->watched_atts[entry->nwatched] = att;
	entry->watched_types[entry->nwatched] = a->atttypid;
	entry->watched_len[entry->nwatched] = a->attlen;
	entry->watched_byval[entry->nwatched++] = a->attbyval;
}

/*
 * The key's types and how its values are stored and printed; the columns
 * compared at commit: the protected ones, then this table's foreign keys
 * through which another table's rows reach their customer (the referrer
 * ways of loginas.owner_path: 1.3 and later).
 */
static void
fill_watched(TrackedRel *entry)
{
	Relation	rel = RelationIdGetRelation(entry->relid);
	TupleDesc	rdesc = RelationGetDescr(rel);
	Oid			nsp = get_namespace_oid("loginas", true);
	int			i;

	/*
	 * the key's types, how their values are stored, and the output functions
	 * built into the server (no lookup per row; finding one runs nothing --
	 * any other is looked up where a key is printed, by the role printing
	 * it, never here as loginas' owner)
	 */
	if (entry->npk > 0)
	{
		entry->key_cxt = AllocSetContextCreate(CacheMemoryContext, "loginas tracked keys",
											   ALLOCSET_SMALL_SIZES);
		entry->pk_out = MemoryContextAllocZero(entry->key_cxt, sizeof(FmgrInfo) * entry->npk);
	}
	for (i = 0; i < entry->npk; i++)
	{
		AttrNumber	att = entry->pk_atts[i];
		Form_pg_attribute a;
		Oid			typoutput;
		bool		varlena;

		entry->pk_out[i].fn_oid = InvalidOid;
		if (att <= 0 || att > rdesc->natts)
		{
			/* a key column gone: the entry's problem says so */
			entry->pk_types[i] = InvalidOid;
			continue;
		}
		a = TupleDescAttr(rdesc, att - 1);
		entry->pk_types[i] = a->atttypid;
		entry->pk_len[i] = a->attlen;
		entry->pk_byval[i] = a->attbyval;
		if (a->attisdropped)
			continue;
		getTypeOutputInfo(a->atttypid, &typoutput, &varlena);
		if (typoutput < FirstGenbkiObjectId)
			fmgr_info_cxt(typoutput, &entry->pk_out[i], entry->key_cxt);
	}
	entry->nwatched = 0;
	entry->nguards = 0;
	for (i = 0; i < entry->nprotected; i++)
		add_watched(entry, rdesc, entry->protected_atts[i]);
	if (OidIsValid(nsp) && OidIsValid(get_relname_relid("owner_path", nsp)) && entry->problem == NULL)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1];
		uint64		r;

		args[0] = ObjectIdGetDatum(entry->nchain > 0 ? entry->chain[0] : entry->relid);
		if (SPI_execute_with_args("SELECT p.relation::pg_catalog.oid, p.via_columns,"
								  " p.columns OPERATOR(pg_catalog.=) loginas._pk_columns(p.relation)"
								  " FROM loginas.owner_path p"
								  " WHERE p.via OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND p.referrer"
								  " ORDER BY p.relation, p.position",
								  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "loginas: could not read the ways through %s", entry->relname);
		for (r = 0; r < SPI_processed && entry->nguards < MAX_TRACK_GUARDS; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum	   *names;
			int			n,
						k,
						g = entry->nguards;

			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull)), NAMEOID,
							  NAMEDATALEN, false, TYPALIGN_CHAR, &names, NULL, &n);
			if (entry->nwatched + n > 2 * MAX_TRACK_ATTS)
				break;
			entry->guards[g].first = entry->nwatched - entry->nprotected;
			entry->guards[g].natts = n;
			entry->guards[g].target = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
			entry->guards[g].target_key = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) && !isnull;
			for (k = 0; k < n; k++)
			{
				AttrNumber	att = get_attnum(entry->relid, NameStr(*DatumGetName(names[k])));

				if (att == InvalidAttrNumber)
					elog(ERROR, "loginas: column \"%s\" of %s is gone", NameStr(*DatumGetName(names[k])),
						 entry->relname);
				add_watched(entry, rdesc, att);
			}
			entry->nguards++;
		}
	}
	RelationClose(rel);
}

static uint64 fill_count = 0;	/* fills made by this backend */

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
	entry->generation = ++fill_count;

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
	/* where the stamps are (the SQL of 1.2 and before: in columns) */
	entry->stamp_table = false;
	entry->stamp_rows = false;
	if (desc->natts >= 22)
	{
		d = SPI_getbinval(tup, desc, 21, &isnull);
		entry->stamp_table = !isnull && DatumGetBool(d);
		d = SPI_getbinval(tup, desc, 22, &isnull);
		entry->stamp_rows = !isnull && DatumGetBool(d);
	}
	entry->customer_att = DatumGetInt16(SPI_getbinval(tup, desc, 2, &isnull));
	if (isnull)
		entry->customer_att = 0;
	entry->customer_type = entry->customer_att ?
		DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull)) : InvalidOid;
	entry->created_att = DatumGetInt16(SPI_getbinval(tup, desc, 4, &isnull));
	entry->changed_att = DatumGetInt16(SPI_getbinval(tup, desc, 5, &isnull));
	entry->npk = copy_attnums(SPI_getbinval(tup, desc, 6, &isnull), entry->pk_atts, "key");
	entry->nprotected = copy_attnums(SPI_getbinval(tup, desc, 7, &isnull), entry->protected_atts, "protected");
	entry->nchain = 0;
	d = SPI_getbinval(tup, desc, 10, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		int			n,
					i;

		n = array_elems(d, OIDOID, &elems);
		if (n > MAX_TRACK_CHAIN)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("loginas follows at most %d tables from a row of %s to its customer",
							MAX_TRACK_CHAIN, entry->relname)));
		for (i = 0; i < n; i++)
			entry->chain[entry->nchain++] = DatumGetObjectId(elems[i]);
	}

	/* the write log's values (the SQL of 1.2 and before: none) */
	entry->log_values = false;
	entry->nsensitive = 0;
	if (desc->natts >= 24)
	{
		d = SPI_getbinval(tup, desc, 23, &isnull);
		if (!isnull)
			entry->nsensitive = copy_attnums(d, entry->sensitive_atts, "sensitive");
		d = SPI_getbinval(tup, desc, 24, &isnull);
		entry->log_values = !isnull && DatumGetBool(d);
	}

	fill_watched(entry);
	if (entry->problem == NULL)
	{
		Relation	rel = RelationIdGetRelation(entry->relid);

		loginas_writelog_fill_values(entry, RelationGetDescr(rel));
		RelationClose(rel);
	}

	if (entry->problem == NULL && entry->customer_att)
	{
		entry->nowner = 1;
		entry->owner_atts[0] = entry->customer_att;
		entry->owner_types[0] = entry->customer_type;
	}
	else if (entry->problem == NULL)
		fill_routes(entry, tup, desc);
	SPI_finish();
	loginas_as_owner_end(&owner);
}

TrackedRel *
loginas_tracked_rel(Oid relid)
{
	static TrackedRel *last = NULL; /* entries stay where they are: never removed */
	TrackedRel *entry;
	bool		found;

	/* a bulk write asks for one table's entry for every row */
	if (last != NULL && last->relid == relid && last->valid)
		return last;
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
	last = entry;
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
 * stamps => 'table': the stamps in loginas.row_stamp
 * --------------------------------------------------------------------- */

typedef enum StampOp
{
	STAMP_INSERT,				/* a row a session inserted: both stamps */
	STAMP_CHANGE,				/* a row a session updated: the last change */
	STAMP_DELETE,				/* a row deleted: its stamps go */
	STAMP_REKEY,				/* a row's key changed: its stamps follow */
	STAMP_TRUNCATE,				/* a table emptied: all of its stamps go */
	STAMP_NOPS
} StampOp;

/* $1 the tracked table, $2 the row's key, $3 the session (or the new key) */
static const char *const stamp_sql[STAMP_NOPS] = {
	"INSERT INTO loginas.row_stamp AS s (relation, key, created_session, changed_session, changed_at)"
	" VALUES ($1, $2, $3, $3, pg_catalog.now())"
	" ON CONFLICT ON CONSTRAINT row_stamp_pkey DO UPDATE"
	" SET created_session = EXCLUDED.created_session, changed_session = EXCLUDED.changed_session,"
	" changed_at = EXCLUDED.changed_at",
	"INSERT INTO loginas.row_stamp AS s (relation, key, created_session, changed_session, changed_at)"
	" VALUES ($1, $2, NULL, $3, pg_catalog.now())"
	" ON CONFLICT ON CONSTRAINT row_stamp_pkey DO UPDATE"
	" SET changed_session = EXCLUDED.changed_session, changed_at = EXCLUDED.changed_at",
	"DELETE FROM loginas.row_stamp s"
	" WHERE s.relation OPERATOR(pg_catalog.=) $1 AND s.key OPERATOR(pg_catalog.=) $2",
	"UPDATE loginas.row_stamp s SET key = $3"
	" WHERE s.relation OPERATOR(pg_catalog.=) $1 AND s.key OPERATOR(pg_catalog.=) $2",
	"DELETE FROM loginas.row_stamp s WHERE s.relation OPERATOR(pg_catalog.=) $1",
};
static const int stamp_nargs[STAMP_NOPS] = {3, 3, 2, 3, 1};
static SPIPlanPtr stamp_plans[STAMP_NOPS];

/* the table the stamps are kept under: the tracked table (for a partition, its root) */
static Oid
stamp_relation(TrackedRel *entry)
{
	return entry->nchain > 0 ? entry->chain[0] : entry->relid;
}

/*
 * One statement on loginas.row_stamp, as loginas' owner (a security-restricted
 * operation): loginas' own table, schema-qualified SQL, built-in operators.
 */
static void
stamp_write(TrackedRel *entry, StampOp op, const char *key, const char *new_key, int64 session_id)
{
	LoginAsOwnerState owner;
	Oid			argtypes[3];
	Datum		values[3];
	int			n = stamp_nargs[op];

	argtypes[0] = REGCLASSOID;
	values[0] = ObjectIdGetDatum(stamp_relation(entry));
	if (n > 1)
	{
		argtypes[1] = TEXTOID;
		values[1] = CStringGetTextDatum(key);
	}
	if (n > 2 && op == STAMP_REKEY)
	{
		argtypes[2] = TEXTOID;
		values[2] = CStringGetTextDatum(new_key);
	}
	else if (n > 2)
	{
		argtypes[2] = INT8OID;
		values[2] = Int64GetDatum(session_id);
	}

	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (stamp_plans[op] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(stamp_sql[op], n, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "loginas: could not prepare the stamps of tracked tables: %s",
				 SPI_result_code_string(SPI_result));
		stamp_plans[op] = plan;
	}
	if (SPI_execute_plan(stamp_plans[op], values, NULL, false, 0) < 0)
		elog(ERROR, "loginas: could not write the stamps of %s", entry->relname);
	SPI_finish();
	loginas_as_owner_end(&owner);

	/*
	 * The table has stamp rows now: every backend refills its entry (at
	 * commit), so that its writes outside sessions keep them in step.  A
	 * statement of another backend that was already running then (waiting
	 * for this transaction's row lock, say) acts on its old entry: a row it
	 * deletes may leave its stamps behind, once, for the table's first ones.
	 */
	if ((op == STAMP_INSERT || op == STAMP_CHANGE) && !entry->stamp_rows)
	{
		entry->stamp_rows = true;
		CacheInvalidateRelcacheByRelid(stamp_relation(entry));
	}
}

/* the key changed by an update (as the key's text: that is what the stamps go by) */
static bool
stamp_key_changed(LoginAsRowKeys *keys)
{
	if (loginas_row_keys_same(keys))
		return false;
	return strcmp(loginas_row_keys_json(keys, keys->oldtup), loginas_row_keys_json(keys, keys->newtup)) != 0;
}

/* an update's stamps follow its row to its new key (any stamps there were stale) */
static void
stamp_follow_key(TrackedRel *entry, const char *old_key, const char *new_key)
{
	stamp_write(entry, STAMP_DELETE, new_key, NULL, 0);
	stamp_write(entry, STAMP_REKEY, old_key, new_key, 0);
}

/*
 * The inserts a session has begun in this transaction and whose AFTER INSERT
 * trigger has not run yet, by table, session and key, with the command that
 * made them: the AFTER INSERT trigger stamps and logs a row only when its
 * insert is one (not the insert half of a partition move).  In
 * TopTransactionContext; an insert skipped by ON CONFLICT leaves its entry
 * until the transaction ends.
 */
typedef struct PendingInsert
{
	char	   *hkey;			/* "table/session/key as JSON" */
	CommandId	cid;			/* the inserting statement's command */
} PendingInsert;

static HTAB *pending_inserts = NULL;
static MemoryContext pending_cxt = NULL;

static char *
pending_key(TrackedRel *entry, const LoginAsContext *ctx, const char *key)
{
	return psprintf("%u/" INT64_FORMAT "/%s", stamp_relation(entry), ctx->session_id, key);
}

/* BEFORE INSERT in a session: the row is about to be inserted */
static void
pending_note(TrackedRel *entry, const LoginAsContext *ctx, const char *key)
{
	MemoryContext old;
	PendingInsert *p;
	char	   *hkey;
	bool		found;

	if (pending_inserts == NULL)
	{
		HASHCTL		ctl;

		pending_cxt = AllocSetContextCreate(TopTransactionContext, "loginas pending inserts",
											ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(PendingInsert);
		ctl.hash = loginas_cstring_hash;
		ctl.match = loginas_cstring_match;
		ctl.hcxt = pending_cxt;
		pending_inserts = hash_create("loginas pending inserts", 64, &ctl,
									  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	old = MemoryContextSwitchTo(pending_cxt);
	hkey = pending_key(entry, ctx, key);
	p = hash_search(pending_inserts, &hkey, HASH_ENTER, &found);
	if (found)
		pfree(hkey);

	/*
	 * The statement's command: that of its snapshot, which the executor
	 * writes its rows with (es_output_cid), whatever the triggers ran since
	 */
	p->cid = ActiveSnapshotSet() ? GetActiveSnapshot()->curcid : GetCurrentCommandId(false);
	MemoryContextSwitchTo(old);
}

/* the pending insert under key: found (and its command), removed when remove */
static bool
pending_find(TrackedRel *entry, const LoginAsContext *ctx, const char *key, bool remove, CommandId *cid)
{
	char	   *hkey;
	PendingInsert *p;
	char	   *stored;

	if (pending_inserts == NULL)
		return false;
	hkey = pending_key(entry, ctx, key);
	p = hash_search(pending_inserts, &hkey, remove ? HASH_REMOVE : HASH_FIND, NULL);
	pfree(hkey);
	if (p == NULL)
		return false;
	if (cid)
		*cid = p->cid;
	if (remove)
	{
		stored = p->hkey;
		pfree(stored);
	}
	return true;
}

static void forget_moves(void);

static void
track_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the memory went with TopTransactionContext */
			pending_inserts = NULL;
			pending_cxt = NULL;
			forget_moves();
			break;
		default:
			break;
	}
}

/* ---------------------------------------------------------------------
 * the trigger
 * --------------------------------------------------------------------- */

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
 * that row's insert can match.  It is remembered per statement (a shop
 * trigger's own SQL runs in the middle of a move), and a delete is taken for
 * a move's half only once the insert half found the row moved (hold_delete).
 */
typedef struct MoveState
{
	CommandId	cid;			/* the statement's (stmt_cid()) */
	int			stage;			/* 0: none; 1: after the update; 2: after the delete */
	Oid			root;			/* the tracked partitioned table */
	Oid			relid;			/* the source partition */
	ItemPointerData tid;
	char	   *key;			/* in TopTransactionContext */
	bool		created_null;
	int64		created;
	/* the delete half, held until its insert half shows a move (hold_delete) */
	bool		held;
	Oid			held_relid;
	int64		held_session;
	HeapTuple	held_tuple;		/* in TopTransactionContext */
} MoveState;

/*
 * One state per statement: a shop trigger's own statements (a history row
 * written from a BEFORE DELETE trigger) run inside a move, between its
 * halves, and must neither end nor take its state.
 */
#define MOVE_SLOTS 8
static MoveState moves[MOVE_SLOTS];
static int	next_move_slot = 0;
static bool any_move = false;	/* an update of a partition in this transaction */
static int	held_count = 0;		/* slots holding a delete */

/*
 * The statement a row trigger fires for: its snapshot's command id (a
 * trigger's own SQL advances the command counter, not the statement's)
 */
static CommandId
stmt_cid(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot()->curcid : GetCurrentCommandId(false);
}

static void settle_slot(MoveState *m);

/* at the transaction's end: its memory (the keys, the held rows) is gone */
static void
forget_moves(void)
{
	memset(moves, 0, sizeof(moves));
	any_move = false;
	held_count = 0;
}

/* this statement's move state; with make, a new one if it has none */
static MoveState *
move_slot(bool make)
{
	CommandId	cid = stmt_cid();
	MoveState  *m;
	int			i;

	if (!any_move && !make)
		return NULL;
	for (i = 0; i < MOVE_SLOTS; i++)
		if ((moves[i].stage != 0 || moves[i].held) && moves[i].cid == cid)
			return &moves[i];
	if (!make)
		return NULL;
	for (i = 0; i < MOVE_SLOTS; i++)
		if (moves[i].stage == 0 && !moves[i].held)
			break;
	if (i == MOVE_SLOTS)
	{
		/* the oldest goes: its held delete, if any, judged and logged now */
		i = next_move_slot;
		next_move_slot = (next_move_slot + 1) % MOVE_SLOTS;
		settle_slot(&moves[i]);
	}
	m = &moves[i];
	memset(m, 0, sizeof(MoveState));
	m->cid = cid;
	any_move = true;
	return m;
}

static bool
move_matches(MoveState *m, TrackedRel *entry)
{
	return m != NULL && m->stage != 0 && entry->nchain > 0 && m->root == entry->chain[0];
}

/*
 * Whether an old row version is one the session inserted in this
 * transaction (before the session there was no such row): its creation
 * stamp is the session's
 */
static bool
inserted_by(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple oldtup,
			LoginAsRowKeys *keys)
{
	bool		isnull;
	Datum		created;

	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(oldtup->t_data)))
		return false;
	if (entry->stamp_table)
		return pending_find(entry, ctx, loginas_row_keys_json(keys, oldtup), false, NULL);
	created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
	return !isnull && DatumGetInt64(created) == ctx->session_id;
}

/*
 * Whether this transaction deleted the row at tid of relation relid (a
 * subtransaction rolled back did not), and whether as a partition move:
 * PostgreSQL marks a row deleted by a move so (its ctid "moved partitions").
 * A table of another access method is not read: its row counts as deleted,
 * and not as moved (a delete logged too many, rather than one too few).
 */
static bool
deleted_by_us(Oid relid, ItemPointer tid, bool *moved)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	HeapTupleData tuple;
	Buffer		buf;
	bool		result = false;

	*moved = false;
	tuple.t_self = *tid;
	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		result = true;
	else if (heap_fetch(rel, SnapshotAny, &tuple, &buf, false))
	{
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		result = !(tuple.t_data->t_infomask & HEAP_XMAX_INVALID) &&
			!HEAP_XMAX_IS_LOCKED_ONLY(tuple.t_data->t_infomask) &&
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tuple.t_data));
		*moved = result && HeapTupleHeaderIndicatesMovedPartitions(tuple.t_data);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buf);
	}
	relation_close(rel, AccessShareLock);
	return result;
}

/*
 * The delete half of what looks like a partition move, in a session: it is
 * not logged, for the move was logged as the update it is -- once its insert
 * half shows that the row really moved (PostgreSQL marked it so).  Until then
 * it is held.  A shop trigger that sorts after loginas' could cancel the
 * update after loginas saw it, and a delete of that row in the same
 * statement (a writable CTE) would then look like the move's delete half; a
 * move's insert half can be cancelled too.  Held and found to be no move
 * (no insert half of the statement follows, the row was not deleted as a
 * move), it is judged and logged as the delete it is -- at the statement's
 * next row trigger, or before the transaction's writes are judged and logged
 * (loginas_track_settle).  One rolled back with its subtransaction is not.
 */
static void
hold_delete(MoveState *m, Relation rel, HeapTuple oldtup, const LoginAsContext *ctx)
{
	MemoryContext old;

	settle_slot(m);
	m->held = true;
	held_count++;
	m->held_relid = RelationGetRelid(rel);
	m->held_session = ctx->session_id;
	old = MemoryContextSwitchTo(TopTransactionContext);
	m->held_tuple = heap_copytuple(oldtup);
	MemoryContextSwitchTo(old);
}

static void
settle_slot(MoveState *m)
{
	Relation	rel;
	TrackedRel *entry;
	const LoginAsContext *ctx;
	LoginAsRowKeys keys;
	HeapTuple	oldtup = m->held_tuple;
	TupleDesc	desc;
	bool		moved;

	if (!m->held)
		return;
	m->held = false;
	held_count--;
	m->held_tuple = NULL;
	/* rolled back with its subtransaction: no delete */
	if (!deleted_by_us(m->held_relid, &oldtup->t_self, &moved))
		return;
	ctx = loginas_current_context();
	if (ctx == NULL || ctx->session_id != m->held_session)
		ctx = loginas_ended_context(m->held_session);
	if (ctx == NULL)
		elog(ERROR, "loginas: the session %lld of a held delete is not known", (long long) m->held_session);
	rel = relation_open(m->held_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	entry = loginas_tracked_rel(m->held_relid);
	loginas_row_keys_init(&keys, entry, desc, oldtup, NULL);
	loginas_containment_touch(entry, ctx, rel, oldtup, NULL, inserted_by(entry, ctx, desc, oldtup, &keys),
							  &keys);
	loginas_writelog_record(entry, TRIGGER_EVENT_DELETE | TRIGGER_EVENT_ROW | TRIGGER_EVENT_BEFORE, ctx,
							desc, oldtup, NULL, loginas_row_keys_json(&keys, oldtup));
	if (entry->stamp_table)
		stamp_write(entry, STAMP_DELETE, loginas_row_keys_json(&keys, oldtup), NULL, 0);
	relation_close(rel, AccessShareLock);
	heap_freetuple(oldtup);
}

/* every held delete of the transaction, before its writes are judged and logged */
void
loginas_track_settle(void)
{
	int			i;

	for (i = 0; i < MOVE_SLOTS && held_count > 0; i++)
		settle_slot(&moves[i]);
}

static void
remember_update(TrackedRel *entry, Relation rel, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup,
				LoginAsRowKeys *keys)
{
	bool		isnull;
	Datum		created;
	MoveState  *m;

	if (!rel->rd_rel->relispartition || entry->nchain == 0)
	{
		if ((m = move_slot(false)) != NULL)
			m->stage = 0;
		return;
	}
	if (entry->created_att != 0)
		created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
	else
	{
		/* stamps => 'table': they stay under the row's key, wherever it goes */
		created = (Datum) 0;
		isnull = true;
	}
	m = move_slot(true);
	if (m->key)
		pfree(m->key);
	m->stage = 1;
	m->root = entry->chain[0];
	m->relid = RelationGetRelid(rel);
	m->tid = oldtup->t_self;
	m->key = MemoryContextStrdup(TopTransactionContext, loginas_row_keys_json(keys, newtup));
	m->created_null = isnull;
	m->created = isnull ? 0 : DatumGetInt64(created);
}

/*
 * loginas._track_row() runs only as one of the triggers loginas.track() made:
 * their names, events and timing, enabled ALWAYS (or, as loginas made them
 * before 1.2, on origin), on no column list, with no
 * arguments or transition tables, a WHEN clause on the AFTER INSERT one
 * alone.  Every role may execute the function (a tracked table's owner adds
 * partitions, and PostgreSQL copies these triggers into them); the event
 * trigger that refuses anyone's own trigger calling it is not the only lock.
 * Everything but the name is checked on every call (a trigger replaced
 * keeps its OID); which name it has is remembered by the OID and the
 * relcache's copy of the name.
 */
static void
check_own_trigger(const Trigger *tg, Relation rel)
{
	static const struct
	{
		const char *name;
		int16		type;
		bool		qual;
	}			own[] = {
		{"zz_loginas_track_insert", TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_INSERT, false},
		{"zz_loginas_track_update", TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_UPDATE, false},
		{"zz_loginas_track_delete", TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_DELETE, false},
		{"zz_loginas_log_insert", TRIGGER_TYPE_ROW | TRIGGER_TYPE_AFTER | TRIGGER_TYPE_INSERT, true},
	};
	/* which of them a trigger's name is, by its OID: saves comparing names */
	static struct
	{
		Oid			tgoid;
		const char *tgname;		/* the relcache's string the name was read from */
		int			own;
	}			named[8];
	static int	next_named = 0;
	size_t		i;
	int			k = -1;

	for (i = 0; i < lengthof(named); i++)
		if (named[i].tgoid == tg->tgoid && named[i].tgname == tg->tgname && OidIsValid(tg->tgoid))
			k = named[i].own;
	if (k < 0)
	{
		for (i = 0; i < lengthof(own); i++)
			if (strcmp(tg->tgname, own[i].name) == 0)
				k = i;
		if (k >= 0)
		{
			named[next_named].tgoid = tg->tgoid;
			named[next_named].tgname = tg->tgname;
			named[next_named].own = k;
			next_named = (next_named + 1) % lengthof(named);
		}
	}
	/* (before 1.2 they fired on origin only: a library newer than the SQL) */
	if (k >= 0 && (tg->tgenabled == TRIGGER_FIRES_ALWAYS || tg->tgenabled == TRIGGER_FIRES_ON_ORIGIN) &&
		tg->tgtype == own[k].type && (tg->tgqual != NULL) == own[k].qual &&
		tg->tgnattr == 0 && tg->tgnargs == 0 && tg->tgoldtable == NULL && tg->tgnewtable == NULL &&
		!OidIsValid(tg->tgconstraint) && !tg->tgdeferrable)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger \"%s\" on table \"%s\" may not call loginas._track_row()",
					tg->tgname, RelationGetRelationName(rel)),
			 errdetail("loginas' trigger function runs only as the triggers loginas.track() made."),
			 errhint("Drop the trigger; to track the table, the DBA calls loginas.track().")));
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
	LoginAsRowKeys keys;		/* their keys' texts, printed once */
	bool		isnull;
	bool		moving = false;
	int64		moving_created = 0;		/* a move's insert half keeps the row's stamp */
	bool		moving_created_null = true;
	Datum		created;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		(TRIGGER_FIRED_AFTER(td->tg_event) && !TRIGGER_FIRED_BY_INSERT(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._track_row() must be called as a row trigger installed by loginas.track()"),
				 errhint("Use loginas.track() to track a table.")));
	check_own_trigger(td->tg_trigger, td->tg_relation);

	/* a held delete (hold_delete) that no insert half of its statement followed */
	if (held_count > 0 && !(TRIGGER_FIRED_BEFORE(td->tg_event) && TRIGGER_FIRED_BY_INSERT(td->tg_event)))
	{
		MoveState  *m = move_slot(false);

		if (m != NULL)
			settle_slot(m);
	}

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
	 * Outside a session a delete concerns nobody but the stamps of a table
	 * tracked with stamps => 'table' that has any: the fastest way out --
	 * once it is noted whether it is the delete half of a partition move
	 * (below), which keeps them
	 */
	if (ctx == NULL && TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		MoveState  *m = move_slot(false);

		if (m != NULL && m->stage == 1 && m->relid == RelationGetRelid(td->tg_relation) &&
			ItemPointerEquals(&m->tid, &td->tg_trigtuple->t_self))
		{
			m->stage = 2;
			return PointerGetDatum(td->tg_trigtuple);
		}
		/* stamps => 'table': a row deleted takes its stamps along */
		entry = loginas_tracked_rel(RelationGetRelid(td->tg_relation));
		if (entry->stamp_table && entry->stamp_rows && entry->problem == NULL)
		{
			char	   *key = loginas_row_key(entry, RelationGetDescr(td->tg_relation),
											  td->tg_trigtuple, true);

			stamp_write(entry, STAMP_DELETE, key, NULL, 0);
			pfree(key);
		}
		return PointerGetDatum(td->tg_trigtuple);
	}

	desc = RelationGetDescr(td->tg_relation);
	entry = loginas_tracked_rel(RelationGetRelid(td->tg_relation));

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
		if (entry->stamp_table)
		{
			/* stamps => 'table': the session's insert, once really written */
			const char *key;

			if (ctx == NULL)
				ctx = loginas_ended_context_any();
			if (ctx == NULL)
				return PointerGetDatum(NULL);
			/* judged at commit whatever happened to its key since */
			loginas_row_keys_init(&keys, entry, desc, NULL, td->tg_trigtuple);
			loginas_containment_touch(entry, ctx, td->tg_relation, NULL, td->tg_trigtuple, false, &keys);
			key = loginas_row_keys_json(&keys, td->tg_trigtuple);
			if (pending_find(entry, ctx, key, true, NULL))
			{
				loginas_writelog_record(entry, td->tg_event, ctx, desc, NULL, td->tg_trigtuple, key);
				stamp_write(entry, STAMP_INSERT, key, NULL, ctx->session_id);
			}
			return PointerGetDatum(NULL);
		}
		created = heap_getattr(td->tg_trigtuple, entry->created_att, desc, &isnull);
		/* a row inserted in a session that the same statement then ended */
		if (ctx == NULL && !isnull)
			ctx = loginas_ended_context(DatumGetInt64(created));
		loginas_row_keys_init(&keys, entry, desc, NULL, td->tg_trigtuple);
		if (ctx != NULL)
			loginas_containment_touch(entry, ctx, td->tg_relation, NULL, td->tg_trigtuple, false, &keys);
		if (ctx != NULL && !isnull && DatumGetInt64(created) == ctx->session_id)
			loginas_writelog_record(entry, td->tg_event, ctx, desc, NULL, td->tg_trigtuple,
									loginas_row_keys_json(&keys, td->tg_trigtuple));
		return PointerGetDatum(NULL);
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		newtup = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	else
		oldtup = td->tg_trigtuple;
	loginas_row_keys_init(&keys, entry, desc, oldtup, newtup);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		MoveState  *m = move_slot(false);
		bool		moved;

		if (move_matches(m, entry) && m->stage == 2 &&
			strcmp(loginas_row_keys_json(&keys, newtup), m->key) == 0 &&
			deleted_by_us(m->relid, &m->tid, &moved) && moved)
		{
			moving = true;
			moving_created = m->created;
			moving_created_null = m->created_null;
		}
		if (m != NULL)
		{
			m->stage = 0;
			if (moving && m->held)
			{
				/* it was a move: logged as the update */
				m->held = false;
				held_count--;
				heap_freetuple(m->held_tuple);
				m->held_tuple = NULL;
			}
			else
				settle_slot(m);
		}
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		MoveState  *m = move_slot(false);

		if (move_matches(m, entry) && m->stage == 1 &&
			m->relid == RelationGetRelid(td->tg_relation) &&
			ItemPointerEquals(&m->tid, &oldtup->t_self))
		{
			/*
			 * the delete half of a partition move: checked and logged as an
			 * update -- held until its insert half shows it was one
			 */
			m->stage = 2;
			if (ctx != NULL)
				hold_delete(m, td->tg_relation, oldtup, ctx);
			return PointerGetDatum(oldtup);
		}
		if (m != NULL)
			m->stage = 0;
	}

	if (ctx == NULL)
	{
		/*
		 * Outside a session nobody can claim a session did this.  The common
		 * case -- no stamp given, none kept -- returns the row untouched.
		 */
		if (newtup == NULL)
			return PointerGetDatum(oldtup);
		if (entry->stamp_table)
		{
			/*
			 * stamps => 'table': nothing in the row to clear; the stamps stay
			 * with the row (through a partition move too, which
			 * remember_update notes so that its delete half keeps them)
			 */
			if (oldtup == NULL || !entry->stamp_rows)
				return PointerGetDatum(newtup);
			if (stamp_key_changed(&keys))
				stamp_follow_key(entry, loginas_row_keys_json(&keys, oldtup),
								 loginas_row_keys_json(&keys, newtup));
			/* after the stamps' statements: a move is known by its command */
			remember_update(entry, td->tg_relation, desc, oldtup, newtup, &keys);
			return PointerGetDatum(newtup);
		}
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
											  Int64GetDatum(moving_created), moving_created_null,
											  (Datum) 0, true));
		if (oldtup == NULL)
			return PointerGetDatum(set_stamps(newtup, desc, entry, true, (Datum) 0, true, (Datum) 0, true));
		remember_update(entry, td->tg_relation, desc, oldtup, newtup, &keys);
		created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
		return PointerGetDatum(set_stamps(newtup, desc, entry, true, created, isnull, (Datum) 0, true));
	}

	if (moving)
	{
		if (entry->stamp_table)
		{
			/* the insert half of a move is no insert of the session's */
			pending_find(entry, ctx, loginas_row_keys_json(&keys, newtup), true, NULL);
			return PointerGetDatum(newtup);
		}
		return PointerGetDatum(set_stamps(newtup, desc, entry, true,
										  Int64GetDatum(moving_created), moving_created_null,
										  Int64GetDatum(ctx->session_id), false));
	}

	/* no write commits after its session's end (context.c) */
	loginas_context_lock_session();

	if (ctx->read_only)
	{
		LoginAsWriter who;

		loginas_writer_of(&who, ctx);
		loginas_log_write_refusal(&who, "write in a read-only session", entry->relname);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Login as Customer session %lld is read-only", (long long) ctx->session_id),
				 errdetail("It may not %s rows of %s.",
						   newtup == NULL ? "delete" : (oldtup == NULL ? "insert" : "update"),
						   loginas_log_text(entry->relname)),
				 errhint("Begin the session with read_only => false to act for the customer.")));
	}

	/*
	 * containment (containment.c): the row as the session first found it
	 * now, the row as it is at commit later (an inserted row from the AFTER
	 * INSERT trigger, once really inserted)
	 */
	if (oldtup)
	{
		/*
		 * an old version the session inserted in this transaction (a shop's
		 * AFTER trigger updating it before loginas' AFTER INSERT trigger):
		 * before the session there was no such row
		 */
		loginas_containment_touch(entry, ctx, td->tg_relation, oldtup, newtup,
								  inserted_by(entry, ctx, desc, oldtup, &keys), &keys);
	}

	/* inserts are logged by the AFTER INSERT trigger, once written */
	if (oldtup)
		loginas_writelog_record(entry, td->tg_event, ctx, desc, oldtup, newtup,
								loginas_row_keys_json(&keys, newtup ? newtup : oldtup));

	if (entry->stamp_table)
	{
		/*
		 * stamps => 'table': an insert is stamped once written (AFTER
		 * INSERT), an update here, a delete takes the row's stamps along
		 */
		if (oldtup == NULL)
		{
			pending_note(entry, ctx, loginas_row_keys_json(&keys, newtup));
			return PointerGetDatum(newtup);
		}
		if (newtup == NULL)
		{
			stamp_write(entry, STAMP_DELETE, loginas_row_keys_json(&keys, oldtup), NULL, 0);
			return PointerGetDatum(oldtup);
		}
		if (stamp_key_changed(&keys))
			stamp_follow_key(entry, loginas_row_keys_json(&keys, oldtup),
							 loginas_row_keys_json(&keys, newtup));
		stamp_write(entry, STAMP_CHANGE, loginas_row_keys_json(&keys, newtup), NULL, ctx->session_id);
		/* after the stamps' statements: a move is known by its command */
		remember_update(entry, td->tg_relation, desc, oldtup, newtup, &keys);
		return PointerGetDatum(newtup);
	}

	if (newtup == NULL)
		return PointerGetDatum(oldtup);
	if (oldtup == NULL)
		return PointerGetDatum(set_stamps(newtup, desc, entry, true,
										  Int64GetDatum(ctx->session_id), false,
										  Int64GetDatum(ctx->session_id), false));
	remember_update(entry, td->tg_relation, desc, oldtup, newtup, &keys);
	created = heap_getattr(oldtup, entry->created_att, desc, &isnull);
	return PointerGetDatum(set_stamps(newtup, desc, entry, true, created, isnull,
									  Int64GetDatum(ctx->session_id), false));
}

static void
refuse_truncate(const LoginAsContext *ctx, Oid relid, const char *detail)
{
	const char *relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid));
	LoginAsWriter who;

	loginas_writer_of(&who, ctx);
	loginas_log_write_refusal(&who, "truncate", relname);
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
	TrackedRel *entry;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._track_truncate() must be called as a BEFORE TRUNCATE trigger")));
	ctx = loginas_current_context();
	if (ctx != NULL)
		refuse_truncate(ctx, RelationGetRelid(td->tg_relation),
						"Truncating a tracked table would remove other customers' rows.");
	/* stamps => 'table': the rows' stamps go with them */
	entry = loginas_tracked_rel(RelationGetRelid(td->tg_relation));
	if (entry->stamp_table)
		stamp_write(entry, STAMP_TRUNCATE, NULL, NULL, 0);
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
has_trigger(Oid relid, const char *name)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	bool		found = false;
	int			i;

	if (rel->trigdesc)
		for (i = 0; i < rel->trigdesc->numtriggers && !found; i++)
			found = strcmp(rel->trigdesc->triggers[i].tgname, name) == 0;
	relation_close(rel, AccessShareLock);
	return found;
}

static bool
has_truncate_guard(Oid relid)
{
	return has_trigger(relid, "zz_loginas_track_truncate");
}

/* is relid (still) tracked: does it have the row trigger? */
bool
loginas_relation_tracked(Oid relid)
{
	return get_rel_relkind(relid) != '\0' && has_trigger(relid, "zz_loginas_track_update");
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
	RegisterXactCallback(track_xact_callback, NULL);
}

/*
 * loginas._guard_partitions(), the event trigger loginas_guard_partitions
 * (ddl_command_start, ALTER TABLE): detaching a partition from a tracked
 * table takes loginas' triggers off it -- tracking switched off for its rows
 * -- without any DROP TRIGGER an sql_drop event trigger would see.  Only a
 * superuser and loginas' owner may; a table's owner (not trusted) is
 * refused before anything changes.  (The other ways to switch the triggers
 * off are refused by loginas._guard_triggers and _guard_trigger_drop.)
 */
Datum
loginas_guard_partitions(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	AlterTableStmt *stmt;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._guard_partitions() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree == NULL || !IsA(trigdata->parsetree, AlterTableStmt))
		PG_RETURN_VOID();
	stmt = (AlterTableStmt *) trigdata->parsetree;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		Oid			parent;

		if (!IsA(cmd, AlterTableCmd) ||
			(cmd->subtype != AT_DetachPartition && cmd->subtype != AT_DetachPartitionFinalize))
			continue;
		parent = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (!OidIsValid(parent) || !loginas_relation_tracked(parent))
			continue;
		if (superuser() || has_privs_of_role(GetUserId(), loginas_owner()))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot detach a partition of tracked table %s",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
												   get_rel_name(parent))),
				 errdetail("Detaching it would take loginas' triggers off the partition: tracking switched off for the Login as Customer sessions that write its rows."),
				 errhint("To stop tracking the table, the DBA calls loginas.untrack(); a superuser may detach the partition.")));
	}
	PG_RETURN_VOID();
}
