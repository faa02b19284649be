/*
 * track.h
 *		What the row trigger (track.c) and containment (containment.c) share:
 *		a tracked relation as the trigger sees it, kept per backend.
 */
#ifndef LOGINAS_TRACK_H
#define LOGINAS_TRACK_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/relcache.h"

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
	Oid			pk_types[MAX_TRACK_ATTS];
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

	/*
	 * the row as it is at commit, by its key (containment.c): its customer
	 * column or foreign key, then its protected columns; read from the
	 * tracked table (chain[0]) as that table's owner; prepared on first use
	 */
	Oid			final_owner;
	SPIPlanPtr	final_plan;
	char	   *problem;		/* tracking broken by ALTER TABLE: message, */
	char	   *problem_detail; /* detail and hint; NULL when all is well */
	char	   *problem_hint;
	int			problem_code;	/* its SQLSTATE */

	/*
	 * stamps => 'table': the stamps are rows of loginas.row_stamp (track.c),
	 * created_att and changed_att are 0; stamp_rows: the table had some there
	 * when the entry was filled (outside sessions nothing is done for a table
	 * without any)
	 */
	bool		stamp_table;
	bool		stamp_rows;
} TrackedRel;

/* track.c */
extern TrackedRel *loginas_tracked_rel(Oid relid);
extern bool loginas_relation_tracked(Oid relid);
extern bool loginas_stamp_created_in_session(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc,
											 HeapTuple tuple);

/* containment.c */
extern void loginas_containment_init(void);
extern void loginas_containment_touch(TrackedRel *entry, const LoginAsContext *ctx, Relation rel,
									  HeapTuple oldtup, HeapTuple newtup);
extern char *loginas_row_key(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, bool json);

#endif							/* LOGINAS_TRACK_H */
