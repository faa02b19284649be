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
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/relcache.h"

#include "loginas.h"

#define MAX_TRACK_ATTS 32
#define MAX_TRACK_ROUTES 16
#define MAX_TRACK_LOOKUPS 64
#define MAX_TRACK_CHAIN 64
#define MAX_TRACK_GUARDS 16

typedef struct TrackedRel
{
	Oid			relid;			/* hash key: the relation the trigger fired on */
	bool		valid;
	uint64		generation;		/* a new number at every fill: the table changed since? */
	char	   *relname;		/* schema-qualified name of the tracked table */
	AttrNumber	customer_att;	/* 0 for a child table */
	Oid			customer_type;
	AttrNumber	created_att;
	AttrNumber	changed_att;
	int			npk;
	AttrNumber	pk_atts[MAX_TRACK_ATTS];
	Oid			pk_types[MAX_TRACK_ATTS];
	int16		pk_len[MAX_TRACK_ATTS];	/* their attlen and attbyval */
	bool		pk_byval[MAX_TRACK_ATTS];

	/*
	 * the output functions of the key's types that are built into the
	 * server, looked up when the entry is filled (fn_oid InvalidOid for the
	 * others: looked up at every print, as the role printing it); in key_cxt,
	 * made again on a refill
	 */
	MemoryContext key_cxt;
	FmgrInfo   *pk_out;
	int			nprotected;
	AttrNumber	protected_atts[MAX_TRACK_ATTS];
	int			nchain;			/* the tracked table, then every table on its routes */
	Oid			chain[MAX_TRACK_CHAIN];

	/*
	 * the row's columns that tie it to its customer: its customer column, or
	 * the columns its routes start from (without repeats)
	 */
	int			nowner;
	AttrNumber	owner_atts[MAX_TRACK_ATTS];
	Oid			owner_types[MAX_TRACK_ATTS];

	/*
	 * a row without a customer column reaches it by routes, all followed:
	 * each starts from some of the owner columns (indexes into owner_atts)
	 * and runs lookups first .. first + nlookups - 1, each as the owner of
	 * the table it reads, prepared on first use
	 */
	int			nroutes;
	struct
	{
		int			nparams;
		int			params[MAX_TRACK_ATTS];
		int			first;
		int			nlookups;
	}			routes[MAX_TRACK_ROUTES];
	int			nlookups;
	char	   *lookup_sql[MAX_TRACK_LOOKUPS];
	Oid			lookup_owner[MAX_TRACK_LOOKUPS];
	bool		lookup_referrer[MAX_TRACK_LOOKUPS];	/* none found: not "parent gone" */
	SPIPlanPtr	lookup_plan[MAX_TRACK_LOOKUPS];

	/*
	 * the foreign keys of this table through which rows of other tables
	 * reach their customer (a referrer way of track_through): a session may
	 * point one only at a row it created (containment.c); atts are
	 * watched_atts[nprotected + first ..]
	 */
	int			nguards;
	struct
	{
		int			first;
		int			natts;
		Oid			target;		/* the tracked table whose rows it gives */
		bool		target_key;	/* it references the target's primary key */
	}			guards[MAX_TRACK_GUARDS];

	/* the columns compared at commit: protected, then the guarded ones */
	int			nwatched;
	AttrNumber	watched_atts[2 * MAX_TRACK_ATTS];
	Oid			watched_types[2 * MAX_TRACK_ATTS];
	int16		watched_len[2 * MAX_TRACK_ATTS];
	bool		watched_byval[2 * MAX_TRACK_ATTS];

	/*
	 * the touched rows as they are at commit, a batch of keys at a time
	 * (containment.c): each one's place in the batch, its owner columns, its
	 * watched columns and xmin; read from the tracked table (chain[0]) as
	 * that table's owner; prepared on first use
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

	/*
	 * the write log's values (writelog.c): whether the table's rows are
	 * logged with their values (loginas.log_values), its sensitive columns
	 * (loginas.redact), and for every column of the relation the trigger
	 * fired on (value_mode[attnum - 1], value_natts of them) how its value is
	 * logged; the output functions of the printed ones, the type names of
	 * those left unprinted; the attnums in the order jsonb keeps an object's
	 * keys (value_order: shorter names first, then bytewise), in which the
	 * log writes a row's columns, and each column's name as the log writes it
	 * before its value (value_member: "name": , value_member_len bytes), and
	 * for a column of a built-in by-value type the last value it printed, as
	 * the log wrote it (value_last, NULL for the other columns: the same
	 * value prints the same text); all of it in values_cxt, made again on a
	 * refill
	 */
	bool		log_values;
	int			nsensitive;
	AttrNumber	sensitive_atts[MAX_TRACK_ATTS];
	MemoryContext values_cxt;
	int			value_natts;
	char	   *value_mode;
	FmgrInfo   *value_out;
	char	  **value_type;
	AttrNumber *value_order;
	char	  **value_member;
	int		   *value_member_len;
	struct LoginAsLastValue **value_last;
} TrackedRel;

/* how the write log logs a column's values (TrackedRel.value_mode) */
#define LOGINAS_VALUE_SKIP		0	/* dropped, or a stamp column */
#define LOGINAS_VALUE_PRINT		1	/* its type's text */
#define LOGINAS_VALUE_PINNED	2	/* its type's text, with the settings that change it pinned */
#define LOGINAS_VALUE_PINNED_MONEY 6	/* the same, lc_monetary too (money) */
#define LOGINAS_VALUE_PROTECTED 3	/* changed, no value: a protected column */
#define LOGINAS_VALUE_SENSITIVE 4	/* changed, no value: a sensitive column */
#define LOGINAS_VALUE_UNPRINTED 5	/* a type whose output is not built-in: its name only */

/* a value's text longer than this is logged cut, and marked so */
#define LOGINAS_VALUE_MAX_BYTES 1024

/* track.c */
extern TrackedRel *loginas_tracked_rel(Oid relid);
extern bool loginas_relation_tracked(Oid relid);
extern Oid	loginas_relation_owner(Oid relid);

/* writelog.c: the values of a tracked relation's columns, as the write log logs them */
extern void loginas_writelog_fill_values(TrackedRel *entry, TupleDesc desc);

/* revert.c: the images of the rows a session writes (containment.c hands them over) */
extern bytea *loginas_image_build(TupleDesc desc, HeapTuple tuple, const AttrNumber *atts, int natts,
								  const char *skip1, const char *skip2);
extern void loginas_image_before(Oid relation, int64 session_id, const char *key, bool present, bytea *image,
								 TransactionId xmin);
extern void loginas_image_after(Oid relation, int64 session_id, const char *key, bool present,
								TransactionId xmin);

/*
 * The keys of the row versions one trigger call writes, as JSON
 * (loginas_row_key), each printed at most once in the call and shared by
 * containment (the row images), the write log and the stamps: two versions
 * that hold the same stored key values have the same text.
 */
typedef struct LoginAsRowKeys
{
	TrackedRel *entry;
	TupleDesc	desc;
	HeapTuple	oldtup;			/* NULL for an insert */
	HeapTuple	newtup;			/* NULL for a delete */
	char	   *old_json;		/* NULL until printed */
	char	   *new_json;
	int			same;			/* the two hold the same key values: 1, 0, or
								 * -1 until compared */
} LoginAsRowKeys;

/* containment.c */
extern void loginas_containment_init(void);
extern void loginas_containment_touch(TrackedRel *entry, const LoginAsContext *ctx, Relation rel,
									  HeapTuple oldtup, HeapTuple newtup, bool old_inserted,
									  LoginAsRowKeys *keys);
extern char *loginas_row_key(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, bool json);
extern void loginas_row_keys_init(LoginAsRowKeys *keys, TrackedRel *entry, TupleDesc desc,
								  HeapTuple oldtup, HeapTuple newtup);
extern const char *loginas_row_keys_json(LoginAsRowKeys *keys, HeapTuple tuple);
extern bool loginas_row_keys_same(LoginAsRowKeys *keys);
extern uint32 loginas_cstring_hash(const void *key, Size keysize);
extern int	loginas_cstring_match(const void *key1, const void *key2, Size keysize);

/* track.c: a delete held as a partition move's half, judged and logged if it was none */
extern void loginas_track_settle(void);

#endif							/* LOGINAS_TRACK_H */
