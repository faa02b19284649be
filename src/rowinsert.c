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
 * The caller names the columns it fills; the others are NULL (these tables'
 * columns have no default the callers rely on), and a column the table does
 * not have (a library newer than the extension's tables, before ALTER
 * EXTENSION UPDATE) may only be given as NULL.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "loginas.h"

void
loginas_insert_row(Oid relid, int ncolumns, const char *const *names, const Datum *values,
				   const bool *nulls)
{
	Relation	rel;
	TupleDesc	desc;
	Datum	   *row_values;
	bool	   *row_nulls;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			i,
				k;

	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");

	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	row_values = palloc0(sizeof(Datum) * desc->natts);
	row_nulls = palloc(sizeof(bool) * desc->natts);
	memset(row_nulls, true, sizeof(bool) * desc->natts);
	for (k = 0; k < ncolumns; k++)
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), names[k]) == 0)
				break;
		}
		if (i == desc->natts)
		{
			if (nulls[k])
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							names[k], RelationGetRelationName(rel)),
					 errhint("Update the extension: ALTER EXTENSION loginas UPDATE.")));
		}
		row_nulls[i] = nulls[k];
		row_values[i] = nulls[k] ? (Datum) 0 : values[k];
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
	/* as after an INSERT statement: what follows sees the row */
	CommandCounterIncrement();
}
