/*
 * revert.c
 *		Undoing a session: the images of the rows sessions write, and
 *		loginas.revert() putting them back.
 *
 * Images.  For every row a session writes, loginas keeps, in
 * loginas.row_image (a table no role can read; only loginas' owner writes
 * and reads it; purge_log() removes a session's images with its log): at
 * each transaction's first write of the row, the row as it was -- complete,
 * protected and sensitive columns included -- and the transaction that
 * wrote that version (or "no row", and the key); at each commit, whether a
 * row is left under the key and the transaction that wrote it (its xmin).
 * An image holds each column's name, type and stored bytes (detoasted),
 * never its text: no output or input function of any type runs to make or
 * to restore it, and a value is restored bit for bit.  Containment
 * (containment.c) hands the rows over at their first touch and at commit;
 * the entries are appended, in the order written, to a buffer in
 * transaction memory and written as one row per batch of about a megabyte
 * (so memory stays bounded by the write and a bulk write costs a row per
 * megabyte), with the number of write-log rows they cover (writelog.c,
 * at commit): a revert checks that the images cover every write the log
 * names.  Only inserted, never updated: no transaction waits for another's.  A later transaction of the session that
 * finds a row other than the session left it (another transaction wrote it
 * in between) marks it changed between, which a revert refuses.  Rows
 * written by a revert keep no images.
 *
 * Revert.  loginas._revert() reads a session's images, and for each key the
 * row as it is now (as its table's owner, FOR UPDATE when it is to write):
 * a row as the session left it -- the same row version, written by the
 * session's transaction, or still no row -- is put back: deleted (the
 * session inserted it), updated back (the columns that differ), inserted
 * again (the session deleted it); a row already as it was before the
 * session needs nothing; any other row was written since by someone else
 * (even to the same values): a conflict.  With a
 * conflict nothing is written (loginas.revert() raises, listing them).
 * Otherwise the writes run, as each table's owner in a security-restricted
 * operation, acting in the revert's own session (context.c): the tracked
 * tables' triggers stamp them with it, containment judges them for the
 * customer (not for protected columns or the foreign keys that give rows:
 * they put back what was), and the write log logs them.  Order: rows to
 * insert again first, parents before children (tables ranked by their
 * foreign keys among the revert's tables), then the updates, then the rows
 * to delete, children before parents; within a table in the order the
 * session first wrote them (deletes in reverse).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "loginas.h"
#include "track.h"

PG_FUNCTION_INFO_V1(loginas_revert_rows);

/* ---------------------------------------------------------------------
 * images: a row as (name, type, null, bytes) per column
 * --------------------------------------------------------------------- */

#define IMAGE_MAGIC "LRI1"

static void
put_bytes(StringInfo buf, const void *p, int len)
{
	appendBinaryStringInfo(buf, (const char *) p, len);
}

/*
 * The image of one row: its columns (atts: those, natts of them; NULL:
 * all), but dropped ones and the stamp columns named skip1, skip2 (NULL:
 * none).
 */
bytea *
loginas_image_build(TupleDesc desc, HeapTuple tuple, const AttrNumber *atts, int natts, const char *skip1,
					const char *skip2)
{
	StringInfoData buf;
	uint16		n = 0;
	int			npos;
	int			k;
	Datum		values_here[64];
	bool		nulls_here[64];
	Datum	   *values = NULL;
	bool	   *nulls = NULL;

	/* the whole row: its columns read at once */
	if (atts == NULL)
	{
		bool		here = desc->natts <= (int) lengthof(values_here);

		values = here ? values_here : palloc(sizeof(Datum) * desc->natts);
		nulls = here ? nulls_here : palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(tuple, desc, values, nulls);
	}
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	put_bytes(&buf, IMAGE_MAGIC, 4);
	npos = buf.len;
	put_bytes(&buf, &n, sizeof(n));
	for (k = 0; k < (atts ? natts : desc->natts); k++)
	{
		int			i = atts ? atts[k] : k + 1;
		Form_pg_attribute a = TupleDescAttr(desc, i - 1);
		const char *name = NameStr(a->attname);
		uint8		namelen;
		uint32		type = a->atttypid;
		bool		null;
		Datum		d;
		char		byval[sizeof(Datum)];
		const char *p = NULL;
		uint32		len = 0;
		struct varlena *v = NULL;
		char	   *w;

		if (a->attisdropped || (skip1 && strcmp(name, skip1) == 0) || (skip2 && strcmp(name, skip2) == 0))
			continue;
		namelen = (uint8) strlen(name);
		if (values)
		{
			d = values[i - 1];
			null = nulls[i - 1];
		}
		else
			d = heap_getattr(tuple, i, desc, &null);
		if (!null)
		{
			if (a->attbyval)
			{
				store_att_byval(byval, d, a->attlen);
				p = byval;
				len = a->attlen;
			}
			else if (a->attlen > 0)
			{
				p = DatumGetPointer(d);
				len = a->attlen;
			}
			else if (a->attlen == -1)
			{
				/* the value's bytes, detoasted; a short header needs no copy */
				v = PG_DETOAST_DATUM_PACKED(d);
				p = VARDATA_ANY(v);
				len = VARSIZE_ANY_EXHDR(v);
			}
			else
			{
				p = DatumGetCString(d);
				len = strlen(p) + 1;
			}
		}

		/* name length, name, type, null flag[, length, bytes] */
		enlargeStringInfo(&buf, 1 + namelen + sizeof(type) + 1 + (null ? 0 : sizeof(len) + len));
		w = buf.data + buf.len;
		*w++ = (char) namelen;
		memcpy(w, name, namelen);
		w += namelen;
		memcpy(w, &type, sizeof(type));
		w += sizeof(type);
		*w++ = null ? 1 : 0;
		if (!null)
		{
			memcpy(w, &len, sizeof(len));
			w += sizeof(len);
			memcpy(w, p, len);
			w += len;
		}
		buf.len = w - buf.data;
		buf.data[buf.len] = '\0';
		if (v && (Pointer) v != DatumGetPointer(d))
			pfree(v);
		n++;
	}
	memcpy(buf.data + npos, &n, sizeof(n));
	SET_VARSIZE(buf.data, buf.len);
	if (values && values != values_here)
	{
		pfree(values);
		pfree(nulls);
	}
	return (bytea *) buf.data;
}

typedef struct ImageCol
{
	char	   *name;
	Oid			type;
	bool		isnull;
	Datum		value;
} ImageCol;

typedef struct Image
{
	int			ncols;
	ImageCol   *cols;
} Image;

/* an image at p (len bytes: the part of a batch that holds it) */
static Image *
image_parse(const char *p, uint32 size)
{
	const char *end = p + size;
	Image	   *img = palloc0(sizeof(Image));
	uint16		n;
	int			i;

	if (end - p < 6 || memcmp(p, IMAGE_MAGIC, 4) != 0)
		elog(ERROR, "loginas: a row image is damaged");
	p += 4;
	memcpy(&n, p, sizeof(n));
	p += sizeof(n);
	img->ncols = n;
	img->cols = palloc0(sizeof(ImageCol) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ImageCol   *c = &img->cols[i];
		uint8		namelen;
		uint8		isnull;
		uint32		type;
		uint32		len;
		int16		typlen;
		bool		typbyval;

		if (p + 1 > end)
			elog(ERROR, "loginas: a row image is damaged");
		namelen = (uint8) *p++;
		if (p + namelen + sizeof(type) + 1 > end)
			elog(ERROR, "loginas: a row image is damaged");
		c->name = pnstrdup(p, namelen);
		p += namelen;
		memcpy(&type, p, sizeof(type));
		p += sizeof(type);
		c->type = type;
		isnull = (uint8) *p++;
		c->isnull = isnull != 0;
		if (c->isnull)
			continue;
		if (p + sizeof(len) > end)
			elog(ERROR, "loginas: a row image is damaged");
		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
		if (p + len > end)
			elog(ERROR, "loginas: a row image is damaged");
		if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(type)))
		{
			/* a type dropped since: no table column has it (image_fits says so) */
			c->isnull = true;
			p += len;
			continue;
		}
		get_typlenbyval(type, &typlen, &typbyval);
		if (typbyval)
		{
			char		aligned[sizeof(Datum)];

			if (len != (uint32) typlen)
				elog(ERROR, "loginas: a row image does not match the type of column \"%s\"", c->name);
			memcpy(aligned, p, len);
			c->value = fetch_att(aligned, true, typlen);
		}
		else if (typlen > 0)
		{
			char	   *v;

			if (len != (uint32) typlen)
				elog(ERROR, "loginas: a row image does not match the type of column \"%s\"", c->name);
			v = palloc(len);
			memcpy(v, p, len);
			c->value = PointerGetDatum(v);
		}
		else if (typlen == -1)
		{
			struct varlena *v = palloc(len + VARHDRSZ);

			SET_VARSIZE(v, len + VARHDRSZ);
			memcpy(VARDATA(v), p, len);
			c->value = PointerGetDatum(v);
		}
		else
		{
			char	   *v = palloc(len);

			memcpy(v, p, len);
			c->value = CStringGetDatum(v);
		}
		p += len;
	}
	return img;
}

static ImageCol *
image_col(Image *img, const char *name)
{
	int			i;

	for (i = 0; img && i < img->ncols; i++)
		if (strcmp(img->cols[i].name, name) == 0)
			return &img->cols[i];
	return NULL;
}

/* a transaction id as a full one (the last 2^32 transactions) */
static uint64
full_xid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (!TransactionIdIsNormal(xid))
		return (uint64) xid;
	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return ((uint64) epoch << 32) | xid;
}

/* ---------------------------------------------------------------------
 * the images of a transaction, written in batches
 *
 * A batch is one row of loginas.row_image: entries one after the other,
 *	'B' relation key before-flags [image] [xmin]	a row at the session's
 *													first write of it in a
 *													transaction
 *	'A' relation key after-flags [xmin]				a row as a transaction of
 *													the session left it (at
 *													commit)
 * (relation: uint32; key: uint32 length and bytes; flags bit 0: a row was
 * there; an image: uint32 length and bytes -- the whole row, or without a
 * row the key's columns only; xmin: uint64, the full id of the transaction
 * that wrote the row).  Entries are appended in the order of the session's
 * writes; a revert reads a session's batches in order.
 * --------------------------------------------------------------------- */

#define BATCH_MAGIC "LRB1"
#define IMAGE_BATCH_BYTES (1024 * 1024)

/*
 * Entries per session; a subtransaction's entries are a tail of the
 * buffer, cut when it rolls back (a subtransaction cannot span a flush:
 * the batches it wrote roll back with it).  Usually one session.
 */
typedef struct SubxactMark
{
	SubTransactionId subid;
	int			start;
} SubxactMark;

typedef struct SessionBuffer
{
	int64		session_id;
	int64		rows;			/* write-log rows of the session to count in the next batch */
	StringInfoData data;
	List	   *marks;			/* SubxactMark: where each open subtransaction's entries begin */
} SessionBuffer;

static List *buffers = NIL;		/* SessionBuffer, in TopTransactionContext */

static bool
images_kept(void)
{
	Oid			nsp = get_namespace_oid("loginas", true);

	/* (a library newer than the catalog: loginas 1.2's SQL has no images) */
	return OidIsValid(nsp) && OidIsValid(get_relname_relid("row_image", nsp)) &&
		OidIsValid(get_relname_relid("session_image", nsp));
}

static SessionBuffer *
session_buffer(int64 session_id)
{
	ListCell   *lc;
	SessionBuffer *b;
	MemoryContext old;

	foreach(lc, buffers)
	{
		b = lfirst(lc);
		if (b->session_id == session_id)
			return b;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	b = palloc0(sizeof(SessionBuffer));
	b->session_id = session_id;
	initStringInfo(&b->data);
	buffers = lappend(buffers, b);
	MemoryContextSwitchTo(old);
	return b;
}

/*
 * One batch: the buffer's entries, and the write-log rows of the session
 * they cover (counted at commit), as loginas' owner.  Inserted, never
 * updated: no transaction of a session waits for another's (a prepared
 * transaction's too).
 */
static void
write_batch(SessionBuffer *b)
{
	static const char *const names[] = {"session_id", "batch", "rows", "images"};
	static const Oid types[] = {INT8OID, INT8OID, INT8OID, BYTEAOID};
	LoginAsOwnerState owner;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	bytea	   *batch;
	Oid			nsp;

	if (b->data.len == 0 && b->rows == 0)
		return;
	if (images_kept())
	{
		batch = palloc(VARHDRSZ + 4 + b->data.len);
		SET_VARSIZE(batch, VARHDRSZ + 4 + b->data.len);
		memcpy(VARDATA(batch), BATCH_MAGIC, 4);
		memcpy(VARDATA(batch) + 4, b->data.data, b->data.len);
		loginas_as_owner_begin(&owner);
		nsp = get_namespace_oid("loginas", false);
		/* one batch per session and transaction, at every commit (rowinsert.c) */
		values[0] = Int64GetDatum(b->session_id);
		values[1] = Int64GetDatum(nextval_internal(get_relname_relid("row_image_seq", nsp), true));
		values[2] = Int64GetDatum(b->rows);
		values[3] = PointerGetDatum(batch);
		loginas_insert_row(get_relname_relid("row_image", nsp), lengthof(names), names, types, values, nulls);
		loginas_as_owner_end(&owner);
		pfree(batch);
	}
	resetStringInfo(&b->data);
	b->rows = 0;
	/* written: no subtransaction's entries are left in the buffer */
	{
		ListCell   *lc;

		foreach(lc, b->marks)
			((SubxactMark *) lfirst(lc))->start = 0;
	}
}

/* where the entries of the current subtransaction begin, noted at its first */
static void
note_subxact(SessionBuffer *b)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	SubxactMark *m;
	MemoryContext old;

	if (subid == TopSubTransactionId)
		return;
	if (b->marks != NIL && ((SubxactMark *) llast(b->marks))->subid == subid)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	m = palloc(sizeof(SubxactMark));
	m->subid = subid;
	m->start = b->data.len;
	b->marks = lappend(b->marks, m);
	MemoryContextSwitchTo(old);
}

static void
put_entry_head(SessionBuffer *b, char kind, Oid relation, const char *key)
{
	uint32		rel = relation;
	uint32		keylen = strlen(key);

	appendStringInfoChar(&b->data, kind);
	put_bytes(&b->data, &rel, sizeof(rel));
	put_bytes(&b->data, &keylen, sizeof(keylen));
	put_bytes(&b->data, key, keylen);
}

/*
 * The row under key before the session's first write of it in this
 * transaction: present (image: the row, written by transaction xmin), or
 * not (image: the key's columns), from containment's first touch.
 */
void
loginas_image_before(Oid relation, int64 session_id, const char *key, bool present, bytea *image,
					 TransactionId xmin)
{
	SessionBuffer *b = session_buffer(session_id);
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	uint8		flags = present ? 1 : 0;
	uint32		len = VARSIZE(image) - VARHDRSZ;

	note_subxact(b);
	put_entry_head(b, 'B', relation, key);
	put_bytes(&b->data, &flags, 1);
	put_bytes(&b->data, &len, sizeof(len));
	put_bytes(&b->data, VARDATA(image), len);
	if (present)
	{
		uint64		full = full_xid(xmin);

		put_bytes(&b->data, &full, sizeof(full));
	}
	MemoryContextSwitchTo(old);
	if (b->data.len >= IMAGE_BATCH_BYTES)
		write_batch(b);
}

/* at commit: a row under key as the session leaves it (written by xmin), or none */
void
loginas_image_after(Oid relation, int64 session_id, const char *key, bool present, TransactionId xmin)
{
	SessionBuffer *b = session_buffer(session_id);
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	uint8		flags = present ? 1 : 0;

	put_entry_head(b, 'A', relation, key);
	put_bytes(&b->data, &flags, 1);
	if (present)
	{
		uint64		full = full_xid(xmin);

		put_bytes(&b->data, &full, sizeof(full));
	}
	MemoryContextSwitchTo(old);
	if (b->data.len >= IMAGE_BATCH_BYTES)
		write_batch(b);
}

/*
 * At commit (writelog.c), once every touched row was judged: the session
 * wrote `rows` rows in this transaction, each one logged; the images cover
 * them (a revert checks it).
 */
void
loginas_image_rows(int64 session_id, int64 rows)
{
	session_buffer(session_id)->rows += rows;
}

/* at commit (writelog.c, last): what is buffered */
void
loginas_image_flush(void)
{
	ListCell   *lc;

	foreach(lc, buffers)
		write_batch((SessionBuffer *) lfirst(lc));
}

/* a subtransaction's entries go with its rollback (the batches it wrote, with it too) */
static void
revert_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	foreach(lc, buffers)
	{
		SessionBuffer *b = lfirst(lc);
		SubxactMark *m;

		if (b->marks == NIL || ((SubxactMark *) llast(b->marks))->subid != mySubid)
			continue;
		m = llast(b->marks);
		if (event == SUBXACT_EVENT_ABORT_SUB && m->start < b->data.len)
		{
			b->data.len = m->start;
			b->data.data[b->data.len] = '\0';
		}
		b->marks = list_delete_last(b->marks);
		/* committed: its entries belong to the enclosing one, whose mark (if any) is earlier */
		pfree(m);
	}
}

static void
revert_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the memory went with TopTransactionContext */
			buffers = NIL;
			break;
		default:
			break;
	}
}

void
loginas_revert_init(void)
{
	RegisterXactCallback(revert_xact_callback, NULL);
	RegisterSubXactCallback(revert_subxact_callback, NULL);
}

/* ---------------------------------------------------------------------
 * the revert
 * --------------------------------------------------------------------- */

typedef enum RevertAction
{
	REVERT_NONE,				/* already as before the session */
	REVERT_INSERT,				/* the session deleted it: insert it again */
	REVERT_UPDATE,				/* the session changed it: put its values back */
	REVERT_DELETE,				/* the session inserted it: delete it */
	REVERT_SKIP					/* inserted and deleted by the session: nothing */
} RevertAction;

static const char *const action_names[] = {"none", "insert", "update", "delete", "none"};

typedef struct RevertRow
{
	Oid			relation;
	char	   *relname;
	char	   *key;			/* as the log's keys: a JSON array of text */
	Image	   *before;			/* the row before the session, or NULL: none */
	Image	   *keyimg;			/* without a row before: the key's columns */
	bool		after_known;	/* how the session left it: */
	bool		after_present;	/* a row there, */
	uint64		after_xmin;		/* written by this transaction */
	bool		changed_between;
	int64		seq;
	int			rank;			/* parents lower */
	RevertAction action;
	List	   *columns;		/* an update's columns (names) */
	char	   *conflict;		/* why it cannot be reverted, or NULL */
	/* the row as it is now */
	Datum	   *pk;
	Oid		   *pk_types;
	int			npk;
} RevertRow;

/* what the revert needs of a tracked table, once per table */
typedef struct RevertTable
{
	Oid			relation;
	TrackedRel *entry;
	char	   *problem;
	char	   *relname;		/* as the log names it (a copy: the cache's may be refilled) */
	char	   *qualified;		/* the table's name in SQL, ONLY for a plain table */
	char	   *name;			/* the table's name in SQL */
	Oid			owner;
	TupleDesc	desc;			/* a copy of the table's */
	char	   *skip1;			/* its stamp columns */
	char	   *skip2;
	int			npk;
	char	   *pk_names[MAX_TRACK_ATTS];
	Oid			pk_types[MAX_TRACK_ATTS];
} RevertTable;

static RevertTable *
revert_table(List **tables, Oid relation)
{
	ListCell   *lc;
	RevertTable *t;
	Relation	rel;
	int			i;

	foreach(lc, *tables)
	{
		t = lfirst(lc);
		if (t->relation == relation)
			return t;
	}
	t = palloc0(sizeof(RevertTable));
	t->relation = relation;
	*tables = lappend(*tables, t);
	if (get_rel_relkind(relation) == '\0')
	{
		t->problem = psprintf("table %u no longer exists", relation);
		return t;
	}
	if (!loginas_relation_tracked(relation))
	{
		t->problem = psprintf("table %s is no longer tracked",
							  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)),
														 get_rel_name(relation)));
		return t;
	}
	t->entry = loginas_tracked_rel(relation);
	if (t->entry->problem)
	{
		t->problem = pstrdup(t->entry->problem);
		return t;
	}
	t->relname = pstrdup(t->entry->relname);
	t->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)), get_rel_name(relation));
	t->qualified = get_rel_relkind(relation) == RELKIND_PARTITIONED_TABLE ? t->name : psprintf("ONLY %s", t->name);
	t->owner = loginas_relation_owner(relation);
	rel = RelationIdGetRelation(relation);
	t->desc = CreateTupleDescCopyConstr(RelationGetDescr(rel));	/* attidentity, attgenerated kept */
	RelationClose(rel);
	if (t->entry->created_att > 0)
		t->skip1 = pstrdup(NameStr(TupleDescAttr(t->desc, t->entry->created_att - 1)->attname));
	if (t->entry->changed_att > 0)
		t->skip2 = pstrdup(NameStr(TupleDescAttr(t->desc, t->entry->changed_att - 1)->attname));
	t->npk = t->entry->npk;
	for (i = 0; i < t->npk; i++)
	{
		t->pk_names[i] = pstrdup(NameStr(TupleDescAttr(t->desc, t->entry->pk_atts[i] - 1)->attname));
		t->pk_types[i] = t->entry->pk_types[i];
	}
	return t;
}

static bool
is_stamp(RevertTable *t, const char *name)
{
	return (t->skip1 && strcmp(name, t->skip1) == 0) || (t->skip2 && strcmp(name, t->skip2) == 0);
}

/* the attribute of the table named name, or NULL */
static Form_pg_attribute
table_att(RevertTable *t, const char *name, int *attnum)
{
	int			i;

	for (i = 0; i < t->desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(t->desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
		{
			if (attnum)
				*attnum = i + 1;
			return a;
		}
	}
	return NULL;
}

/* an image's columns still there with their types: NULL, or what is wrong */
static char *
image_fits(RevertTable *t, Image *img)
{
	int			i;

	for (i = 0; img && i < img->ncols; i++)
	{
		Form_pg_attribute a;

		if (is_stamp(t, img->cols[i].name))
			continue;
		a = table_att(t, img->cols[i].name, NULL);
		if (a == NULL)
			return psprintf("column \"%s\" no longer exists", img->cols[i].name);
		if (a->atttypid != img->cols[i].type)
			return psprintf("column \"%s\" has another type now", img->cols[i].name);
	}
	return NULL;
}

/* a column of the current row equal to the image's */
static bool
same_value(RevertTable *t, ImageCol *c, HeapTuple cur)
{
	int			attnum;
	Form_pg_attribute a = table_att(t, c->name, &attnum);
	bool		isnull;
	Datum		d;

	if (a == NULL)
		return false;
	d = heap_getattr(cur, attnum, t->desc, &isnull);
	if (isnull || c->isnull)
		return isnull == c->isnull;
	return datum_image_eq(d, c->value, a->attbyval, a->attlen);
}

/* the current row (NULL: none) is the image (NULL: none), stamps aside */
static bool
row_is(RevertTable *t, HeapTuple cur, Image *img)
{
	int			i;

	if (cur == NULL || img == NULL)
		return cur == NULL && img == NULL;
	for (i = 0; i < img->ncols; i++)
		if (!is_stamp(t, img->cols[i].name) && !same_value(t, &img->cols[i], cur))
			return false;
	return true;
}

/*
 * The row under the revert row's key as it is now, as its table's owner (a
 * security-restricted operation), locked FOR UPDATE when lock: NULL when
 * there is none; *xmin the (full) id of the transaction that wrote it.
 */
static HeapTuple
current_row(RevertTable *t, RevertRow *r, bool lock, MemoryContext cxt, uint64 *xmin)
{
	LoginAsOwnerState owner;
	StringInfoData sql;
	HeapTuple	found = NULL;
	int			i;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT t.xmin, t.* FROM %s t WHERE ", t->qualified);
	for (i = 0; i < t->npk; i++)
		appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) $%d", i ? " AND " : "",
						 quote_identifier(t->pk_names[i]), i + 1);
	if (lock)
		appendStringInfoString(&sql, " FOR UPDATE");
	loginas_as_table_owner_begin(&owner, t->owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (SPI_execute_with_args(sql.data, t->npk, t->pk_types, r->pk, NULL, !lock, 2) != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not read row %s of %s", r->key, t->name);
	if (SPI_processed > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		TupleDesc	rdesc = SPI_tuptable->tupdesc;
		HeapTuple	rtup = SPI_tuptable->vals[0];
		Datum	   *values = palloc(sizeof(Datum) * t->desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * t->desc->natts);
		bool		isnull;

		*xmin = full_xid(DatumGetTransactionId(SPI_getbinval(rtup, rdesc, 1, &isnull)));
		/* as the table's own row, column by column (t.* has no dropped columns) */
		for (i = 0; i < t->desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(t->desc, i);
			int			k;

			values[i] = (Datum) 0;
			nulls[i] = true;
			if (a->attisdropped)
				continue;
			for (k = 2; k <= rdesc->natts; k++)
				if (strcmp(NameStr(TupleDescAttr(rdesc, k - 1)->attname), NameStr(a->attname)) == 0)
				{
					Datum		d = SPI_getbinval(rtup, rdesc, k, &nulls[i]);

					if (!nulls[i])
						values[i] = datumCopy(d, a->attbyval, a->attlen);
					break;
				}
		}
		found = heap_form_tuple(t->desc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	loginas_as_owner_end(&owner);
	return found;
}

/* the key's values, from the row before the session or the key's columns */
static char *
key_values(RevertTable *t, RevertRow *r)
{
	Image	   *img = r->before ? r->before : r->keyimg;
	int			i;

	r->npk = t->npk;
	r->pk = palloc(sizeof(Datum) * Max(t->npk, 1));
	for (i = 0; i < t->npk; i++)
	{
		ImageCol   *c = image_col(img, t->pk_names[i]);

		if (c == NULL || c->isnull || c->type != t->pk_types[i])
			return psprintf("the key column \"%s\" changed", t->pk_names[i]);
		r->pk[i] = c->value;
	}
	return NULL;
}

/* decide what to do with one row; its conflict, if any */
static void
plan_row(RevertTable *t, RevertRow *r, bool lock, MemoryContext cxt)
{
	HeapTuple	cur;
	uint64		cur_xmin = 0;
	bool		as_left;
	char	   *problem;
	int			i;

	r->action = REVERT_NONE;
	if (r->after_known && r->before == NULL && !r->after_present && !r->changed_between)
	{
		r->action = REVERT_SKIP;	/* inserted and deleted by the session */
		return;
	}
	if (t->problem)
	{
		r->conflict = t->problem;
		return;
	}
	r->relname = t->relname;
	problem = image_fits(t, r->before ? r->before : r->keyimg);
	if (problem == NULL)
		problem = key_values(t, r);
	if (problem)
	{
		r->conflict = problem;
		return;
	}
	cur = current_row(t, r, lock, cxt, &cur_xmin);
	if (!r->after_known)
	{
		r->conflict = "the session's last write of it was not recorded";
		return;
	}
	if (r->changed_between)
	{
		r->conflict = "changed by someone else between two transactions of the session";
		return;
	}
	/* as the session left it: the same row version, or still no row */
	as_left = r->after_present ? (cur != NULL && cur_xmin == r->after_xmin) : cur == NULL;
	if (as_left)
	{
		if (r->before == NULL)
			r->action = cur ? REVERT_DELETE : REVERT_SKIP;
		else if (cur == NULL)
			r->action = REVERT_INSERT;
		else
		{
			r->action = REVERT_UPDATE;
			for (i = 0; i < r->before->ncols; i++)
			{
				ImageCol   *c = &r->before->cols[i];
				int			attnum;
				Form_pg_attribute a = table_att(t, c->name, &attnum);

				if (is_stamp(t, c->name) || a->attgenerated != '\0' ||
					a->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
					continue;
				if (!same_value(t, c, cur))
					r->columns = lappend(r->columns, c->name);
			}
			if (r->columns == NIL)
				r->action = REVERT_NONE;
		}
	}
	else if (row_is(t, cur, r->before))
		r->action = REVERT_NONE;
	else if (cur == NULL)
		r->conflict = "deleted since the session";
	else if (!r->after_present)
		r->conflict = "a row with this key was inserted since the session";
	else
		r->conflict = "changed since the session";
}

/* one write of the revert, as the table's owner */
static void
apply_row(RevertTable *t, RevertRow *r, int64 revert_session)
{
	LoginAsOwnerState owner;
	StringInfoData sql;
	Oid		   *types;
	Datum	   *values;
	char	   *nulls;
	int			n = 0,
				i;
	int			size = (r->before ? r->before->ncols : 0) + t->npk + 1;
	int			rc;

	types = palloc(sizeof(Oid) * size);
	values = palloc(sizeof(Datum) * size);
	nulls = palloc(size);
	initStringInfo(&sql);
	if (r->action == REVERT_INSERT)
	{
		StringInfoData vals;
		bool		identity = false;

		initStringInfo(&vals);
		for (i = 0; i < r->before->ncols; i++)
		{
			ImageCol   *c = &r->before->cols[i];
			Form_pg_attribute a = table_att(t, c->name, NULL);

			if (is_stamp(t, c->name) || a->attgenerated != '\0')
				continue;
			identity |= a->attidentity == ATTRIBUTE_IDENTITY_ALWAYS;
			appendStringInfo(&sql, "%s%s", n ? ", " : "", quote_identifier(c->name));
			appendStringInfo(&vals, "%s$%d", n ? ", " : "", n + 1);
			types[n] = c->type;
			values[n] = c->value;
			nulls[n] = c->isnull ? 'n' : ' ';
			n++;
		}
		sql.data = psprintf("INSERT INTO %s (%s)%s VALUES (%s)", t->name, sql.data,
							identity ? " OVERRIDING SYSTEM VALUE" : "", vals.data);
	}
	else
	{
		if (r->action == REVERT_UPDATE)
		{
			ListCell   *lc;

			appendStringInfo(&sql, "UPDATE %s t SET ", t->qualified);
			foreach(lc, r->columns)
			{
				ImageCol   *c = image_col(r->before, (const char *) lfirst(lc));

				appendStringInfo(&sql, "%s%s = $%d", n ? ", " : "", quote_identifier(c->name), n + 1);
				types[n] = c->type;
				values[n] = c->value;
				nulls[n] = c->isnull ? 'n' : ' ';
				n++;
			}
		}
		else
			appendStringInfo(&sql, "DELETE FROM %s t", t->qualified);
		appendStringInfoString(&sql, " WHERE ");
		for (i = 0; i < t->npk; i++)
		{
			appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) $%d", i ? " AND " : "",
							 quote_identifier(t->pk_names[i]), n + 1);
			types[n] = t->pk_types[i];
			values[n] = r->pk[i];
			nulls[n] = ' ';
			n++;
		}
	}
	loginas_as_table_owner_begin(&owner, t->owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	rc = SPI_execute_with_args(sql.data, n, types, values, nulls, false, 0);
	if (rc < 0 || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the revert of Login as Customer session %lld could not %s row %s of %s",
						(long long) revert_session, action_names[r->action], r->key, t->name),
				 errdetail("The statement %s.", rc < 0 ? "failed" : "found no row")));
	SPI_finish();
	loginas_as_owner_end(&owner);
}

static int
phase(const RevertRow *r)
{
	switch (r->action)
	{
		case REVERT_INSERT:
			return 1;
		case REVERT_UPDATE:
			return 2;
		case REVERT_DELETE:
			return 3;
		default:
			return 4;
	}
}

/*
 * The order of the writes: rows to insert again first, parents before
 * children; then updates; then rows to delete, children before parents.
 */
static int
revert_order(const ListCell *a, const ListCell *b)
{
	const RevertRow *x = lfirst(a);
	const RevertRow *y = lfirst(b);
	int			px = phase(x),
				py = phase(y);

	if (px != py)
		return px < py ? -1 : 1;
	if (x->rank != y->rank)
		return (px == 3 ? (x->rank > y->rank) : (x->rank < y->rank)) ? -1 : 1;
	if (x->seq != y->seq)
		return (px == 3 ? (x->seq > y->seq) : (x->seq < y->seq)) ? -1 : 1;
	return 0;
}

/* the revert's rows by table and key, while the batches are read */
typedef struct RowByKey
{
	char	   *hkey;
	RevertRow  *row;
} RowByKey;

/*
 * loginas._revert_rows(p_session bigint, p_revert_session bigint, p_apply
 * boolean, p_admin_username text, p_customer_email text)
 *	 RETURNS TABLE (relation text, key text, action text, columns name[], conflict text, seq bigint)
 *
 * The plan of the revert of session p_session: one row per key it wrote,
 * with what the revert does (insert, update, delete, none) or why it cannot
 * (conflict).  With p_apply (and no conflict) it does it, acting in the
 * revert's session p_revert_session (a row of loginas.session: its admin,
 * customer, store view, source and reason); the rows are locked FOR UPDATE
 * as they are read.  Without conflicts nothing is written.
 */
Datum
loginas_revert_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		session_id;
	bool		apply;
	MemoryContext cxt = CurrentMemoryContext;
	LoginAsOwnerState owner;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	List	   *rows = NIL;
	List	   *tables = NIL;
	ListCell   *lc;
	bool		conflicts = false;
	uint64		i;

	loginas_require_owner(fcinfo, "loginas._revert_rows()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		elog(ERROR, "loginas._revert_rows: session and p_apply cannot be NULL");
	session_id = PG_GETARG_INT64(0);
	apply = PG_GETARG_BOOL(2);
	if (apply && PG_ARGISNULL(1))
		elog(ERROR, "loginas._revert_rows: a revert that writes needs its session");
	InitMaterializedSRF(fcinfo, 0);

	/* its writes of this transaction are logged, their images kept, at commit */
	if (loginas_writelog_pending(session_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Login as Customer session %lld wrote in this transaction",
						(long long) session_id),
				 errdetail("The session's writes are logged, and the images of their rows kept, when the transaction commits."),
				 errhint("Commit first, then revert the session.")));

	/* the session's images, in the order written */
	args[0] = Int64GetDatum(session_id);
	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (SPI_execute_with_args("SELECT i.images FROM loginas.row_image i"
							  " WHERE i.session_id OPERATOR(pg_catalog.=) $1 ORDER BY i.batch",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not read the images of session " INT64_FORMAT, session_id);
	{
		HASHCTL		ctl;
		HTAB	   *byKey;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		int64		seq = 0;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(RowByKey);
		ctl.hash = loginas_cstring_hash;
		ctl.match = loginas_cstring_match;
		ctl.hcxt = cxt;
		byKey = hash_create("loginas revert rows", 256, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			bytea	   *batch = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			const char *p = VARDATA_ANY(batch);
			const char *end = p + VARSIZE_ANY_EXHDR(batch);

			if (end - p < 4 || memcmp(p, BATCH_MAGIC, 4) != 0)
				elog(ERROR, "loginas: a batch of row images is damaged");
			p += 4;
			while (p < end)
			{
				char		kind;
				uint32		rel,
							keylen,
							len;
				uint8		flags;
				uint64		xmin = 0;
				char	   *hkey;
				RowByKey   *e;
				bool		found;
				RevertRow  *r;

				if (end - p < 1 + 4 + 4)
					elog(ERROR, "loginas: a batch of row images is damaged");
				kind = *p++;
				memcpy(&rel, p, 4);
				p += 4;
				memcpy(&keylen, p, 4);
				p += 4;
				if (end - p < keylen + 1)
					elog(ERROR, "loginas: a batch of row images is damaged");
				hkey = psprintf("%u/%.*s", rel, (int) keylen, p);
				e = hash_search(byKey, &hkey, HASH_ENTER, &found);
				if (!found)
				{
					r = palloc0(sizeof(RevertRow));
					r->relation = rel;
					r->key = pnstrdup(p, keylen);
					r->seq = ++seq;
					e->row = r;
					rows = lappend(rows, r);
				}
				r = e->row;
				p += keylen;
				flags = (uint8) *p++;
				if (kind == 'B')
				{
					if (end - p < 4)
						elog(ERROR, "loginas: a batch of row images is damaged");
					memcpy(&len, p, 4);
					p += 4;
					if (end - p < len + ((flags & 1) ? 8 : 0))
						elog(ERROR, "loginas: a batch of row images is damaged");
					if (!found)
					{
						if (flags & 1)
							r->before = image_parse(p, len);
						else
							r->keyimg = image_parse(p, len);
					}
					p += len;
					if (flags & 1)
					{
						memcpy(&xmin, p, 8);
						p += 8;
					}
					/* a later transaction of the session found it otherwise than left */
					if (found && r->after_known &&
						((flags & 1) != (r->after_present ? 1 : 0) || ((flags & 1) && xmin != r->after_xmin)))
						r->changed_between = true;
				}
				else if (kind == 'A')
				{
					if ((flags & 1) && end - p < 8)
						elog(ERROR, "loginas: a batch of row images is damaged");
					r->after_known = true;
					r->after_present = (flags & 1) != 0;
					if (flags & 1)
					{
						memcpy(&r->after_xmin, p, 8);
						p += 8;
					}
				}
				else
					elog(ERROR, "loginas: a batch of row images is damaged");
			}
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	/* each table's rank among the revert's tables (parents lower) */
	if (rows != NIL)
	{
		List	   *rels = NIL;
		Datum	   *oids;
		int			k = 0;
		Oid			rank_argtypes[1] = {OIDARRAYOID};
		Datum		rank_args[1];

		foreach(lc, rows)
			rels = list_append_unique_oid(rels, ((RevertRow *) lfirst(lc))->relation);
		oids = palloc(sizeof(Datum) * list_length(rels));
		foreach(lc, rels)
			oids[k++] = ObjectIdGetDatum(lfirst_oid(lc));
		rank_args[0] = PointerGetDatum(construct_array(oids, k, OIDOID, 4, true, TYPALIGN_INT));
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		if (SPI_execute_with_args("SELECT f.relation, f.rank FROM loginas._fk_rank($1) f",
								  1, rank_argtypes, rank_args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "loginas: could not rank the tables of session " INT64_FORMAT, session_id);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			rel = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			int			rank = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

			foreach(lc, rows)
				if (((RevertRow *) lfirst(lc))->relation == rel)
					((RevertRow *) lfirst(lc))->rank = rank;
		}
		SPI_finish();
	}
	loginas_as_owner_end(&owner);

	/* each row as it is now: what to do, or the conflict */
	foreach(lc, rows)
	{
		RevertRow  *r = lfirst(lc);
		RevertTable *t = revert_table(&tables, r->relation);

		CHECK_FOR_INTERRUPTS();
		plan_row(t, r, apply, cxt);
		if (r->relname == NULL)
			r->relname = t->name ? t->name : psprintf("%u", r->relation);
		conflicts |= r->conflict != NULL;
	}

	/* the writes, acting in the revert's session */
	if (apply && !conflicts)
	{
		HeapTuple	s;
		TupleDesc	sd;
		bool		isnull[12];
		Datum		v[12];
		int			k;

		args[0] = PG_GETARG_DATUM(1);
		loginas_as_owner_begin(&owner);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		if (SPI_execute_with_args("SELECT s.admin_key, s.admin_id, s.customer_key, s.customer_id, s.store_key,"
								  "       s.store_id, s.source, s.reason, s.admin_addr::pg_catalog.text"
								  "  FROM loginas.session s WHERE s.session_id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "loginas: the revert's session " INT64_FORMAT " is missing", DatumGetInt64(args[0]));
		s = SPI_tuptable->vals[0];
		sd = SPI_tuptable->tupdesc;
		for (k = 0; k < 9; k++)
		{
			v[k] = SPI_getbinval(s, sd, k + 1, &isnull[k]);
		}
#define TXT(k) (isnull[k] ? NULL : MemoryContextStrdup(cxt, TextDatumGetCString(v[k])))
		{
			char	   *admin_key = TXT(0);
			char	   *customer_key = TXT(2);
			char	   *store_key = TXT(4);
			char	   *source = TXT(6);
			char	   *reason = TXT(7);
			char	   *addr = TXT(8);
			bool		has_admin = !isnull[1],
						has_customer = !isnull[3],
						has_store = !isnull[5];
			int64		admin_id = has_admin ? DatumGetInt64(v[1]) : 0,
						customer_id = has_customer ? DatumGetInt64(v[3]) : 0,
						store_id = has_store ? DatumGetInt64(v[5]) : 0;

			SPI_finish();
			loginas_as_owner_end(&owner);
			loginas_context_set_revert(DatumGetInt64(PG_GETARG_DATUM(1)), admin_key, has_admin, admin_id,
									   customer_key, has_customer, customer_id, store_key, has_store,
									   store_id,
									   PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
									   PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)),
									   source, reason, addr);
		}
#undef TXT
		{
			List	   *order = list_copy(rows);

			list_sort(order, revert_order);
			foreach(lc, order)
			{
				RevertRow  *r = lfirst(lc);

				CHECK_FOR_INTERRUPTS();
				if (r->action == REVERT_INSERT || r->action == REVERT_UPDATE || r->action == REVERT_DELETE)
					apply_row(revert_table(&tables, r->relation), r, DatumGetInt64(PG_GETARG_DATUM(1)));
			}
		}
		loginas_context_clear();
	}

	/* the plan, in the order of the session's writes */
	foreach(lc, rows)
	{
		RevertRow  *r = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		if (r->action == REVERT_SKIP && r->conflict == NULL)
			continue;
		values[0] = CStringGetTextDatum(r->relname);
		values[1] = CStringGetTextDatum(r->key);
		values[2] = CStringGetTextDatum(action_names[r->action]);
		nulls[2] = r->conflict != NULL;
		if (r->columns != NIL)
		{
			Datum	   *names = palloc(sizeof(Datum) * list_length(r->columns));
			ListCell   *c;
			int			k = 0;

			foreach(c, r->columns)
				names[k++] = CStringGetTextDatum((const char *) lfirst(c));
			values[3] = PointerGetDatum(construct_array(names, k, TEXTOID, -1, false, TYPALIGN_INT));
		}
		else
			nulls[3] = true;
		if (r->conflict)
			values[4] = CStringGetTextDatum(r->conflict);
		else
			nulls[4] = true;
		values[5] = Int64GetDatum(r->seq);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
