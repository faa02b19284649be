/*
 * rowinsert.c
 *		One row appended to one of loginas' own tables without a plan.
 *
 * A session's commit appends its log rows to loginas.action_log
 * (logappend.c) and the images of the rows it wrote to loginas.row_image
 * (revert.c): one INSERT of one row each.  Through SPI each one pays for a
 * query's machinery -- a portal, the executor's start, a snapshot -- which
 * costs a single-row write in a session more than the row itself.  Here the
 * row goes in as INSERT puts it: the table's constraints checked, the tuple
 * written (TOASTed and compressed as the table's columns say), an entry in
 * each index, unique ones checked.  The tables are loginas' own, owned by
 * its owner, with no row trigger and no policy on INSERT (only
 * action_log's append-only guard, on UPDATE, DELETE and TRUNCATE), so
 * nothing INSERT would do is left out; a read-only transaction refuses the
 * row as it refuses an INSERT.
 *
 * The caller names the columns it fills, with their types; the others are
 * NULL (these tables' columns have no default the callers rely on), and a
 * column the table does not have (a library newer than the extension's
 * tables, before ALTER EXTENSION UPDATE) may only be given as NULL.  A table
 * the DBA gave something INSERT would run -- a trigger, a rule, a policy --
 * or a column of another type than the caller's gets an INSERT statement
 * through SPI instead, as before.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "loginas.h"

/* whether INSERT would run anything on the table but the row and its index entries */
static bool
runs_more(Relation rel)
{
	TriggerDesc *t = rel->trigdesc;

	return (t != NULL && (t->trig_insert_before_row || t->trig_insert_after_row ||
						  t->trig_insert_instead_row || t->trig_insert_before_statement ||
						  t->trig_insert_after_statement || t->trig_insert_new_table)) ||
		rel->rd_rules != NULL || rel->rd_rel->relrowsecurity;
}

/* the same row through an INSERT statement (SPI), the columns the table has */
static void
insert_by_statement(Relation rel, int ncolumns, const char *const *names, const Oid *types,
					const Datum *values, const bool *nulls, const int *attnums)
{
	StringInfoData sql;
	Oid		   *argtypes = palloc(sizeof(Oid) * ncolumns);
	Datum	   *args = palloc(sizeof(Datum) * ncolumns);
	char	   *argnulls = palloc(ncolumns + 1);
	bool		pushed = false;
	int			k,
				n = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s.%s (",
					 quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
					 quote_identifier(RelationGetRelationName(rel)));
	for (k = 0; k < ncolumns; k++)
	{
		if (attnums[k] == 0)
			continue;
		appendStringInfo(&sql, "%s%s", n > 0 ? ", " : "", quote_identifier(names[k]));
		argtypes[n] = types[k];
		args[n] = values[k];
		argnulls[n] = nulls[k] ? 'n' : ' ';
		n++;
	}
	appendStringInfoString(&sql, ") VALUES (");
	for (k = 1; k <= n; k++)
		appendStringInfo(&sql, "%s$%d", k > 1 ? ", " : "", k);
	appendStringInfoChar(&sql, ')');
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (SPI_execute_with_args(sql.data, n, argtypes, args, argnulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "loginas: could not insert into %s", RelationGetRelationName(rel));
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	pfree(sql.data);
}

void
loginas_insert_row(Oid relid, int ncolumns, const char *const *names, const Oid *types,
				   const Datum *values, const bool *nulls)
{
	Relation	rel;
	TupleDesc	desc;
	Datum	   *row_values;
	bool	   *row_nulls;
	int		   *attnums;
	bool		direct;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			i,
				k;

	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");

	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	direct = !runs_more(rel);
	attnums = palloc0(sizeof(int) * ncolumns);
	for (k = 0; k < ncolumns; k++)
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), names[k]) == 0)
				break;
		}
		if (i < desc->natts)
		{
			attnums[k] = i + 1;
			if (TupleDescAttr(desc, i)->atttypid != types[k])
				direct = false;
			continue;
		}
		if (!nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							names[k], RelationGetRelationName(rel)),
					 errhint("Update the extension: ALTER EXTENSION loginas UPDATE.")));
	}
	if (!direct)
	{
		insert_by_statement(rel, ncolumns, names, types, values, nulls, attnums);
		table_close(rel, NoLock);
		pfree(attnums);
		return;
	}

	row_values = palloc0(sizeof(Datum) * desc->natts);
	row_nulls = palloc(sizeof(bool) * desc->natts);
	memset(row_nulls, true, sizeof(bool) * desc->natts);
	for (k = 0; k < ncolumns; k++)
		if (attnums[k] != 0)
		{
			row_nulls[attnums[k] - 1] = nulls[k];
			row_values[attnums[k] - 1] = nulls[k] ? (Datum) 0 : values[k];
		}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	/* (no range table: 0, so that a constraint's error names no columns from it) */
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsHeapTuple);
	ExecStoreHeapTuple(heap_form_tuple(desc, row_values, row_nulls), slot, true);
	if (desc->constr)
		ExecConstraints(rri, slot, estate);
	simple_table_tuple_insert(rel, slot);
	if (rri->ri_NumIndices > 0)
		(void) loginas_insert_index_tuples(rri, slot, estate);
	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	pfree(row_values);
	pfree(row_nulls);
	pfree(attnums);
	/* as after an INSERT statement: what follows sees the row */
	CommandCounterIncrement();
}
