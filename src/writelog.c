/*
 * writelog.c
 *		The log of tracked writes made in Login as Customer sessions.
 *
 * The row trigger (track.c) records each write here, in transaction memory,
 * grouped by session, table and operation: how many rows, their primary-key
 * values, the names of the columns an update changed and, unless the table's
 * values are not logged (loginas.log_values), each row's values: an update's
 * changed columns before and after, an inserted or deleted row's columns.  A
 * protected or sensitive column (loginas.redact) is logged without its value;
 * a value is printed only by a built-in output function (a type of the
 * shop's own -- a base, composite or range type, or a domain or array over
 * one -- is named, not printed: its output function is code loginas does
 * not run), with the settings that change its text pinned, and a text
 * longer than LOGINAS_VALUE_MAX_BYTES is cut and marked.  Just before the
 * transaction commits (or is prepared) every group becomes one row of
 * loginas.action_log ('write_insert', 'write_update', 'write_delete'), so
 * the writes and their log rows commit or roll back together, and a bulk
 * statement costs one log row instead of one per row.  Groups recorded in a
 * subtransaction that rolls back are dropped with it.
 *
 * Memory stays bounded by the write: a group keeps its keys (and the rows'
 * values) as compact JSON text in chunks of at most KEYS_PER_LOG_ROW keys or
 * about a megabyte of keys and values (a row larger than that is a chunk of
 * its own), and
 * each chunk becomes a log row of its own ("part" i of "parts" n), so no
 * log row's keys approach jsonb's size limits and no single allocation grows
 * without end.  A transaction of a session writes at most
 * loginas.max_session_write_rows rows (a superuser's setting): the write
 * beyond it is refused (54000) before anything is committed.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/fmgroids.h"
#include "utils/varlena.h"

#include "loginas.h"
#include "track.h"

typedef struct WriteGroup
{
	struct WriteGroup *next;
	SubTransactionId subid;
	int64		session_id;
	int64		admin_id;		/* LOGINAS_NO_ID: the key is not an integer */
	char	   *admin_key;		/* then the key, logged in admin_key */
	int64		customer_id;	/* the same for the customer */
	char	   *customer_key;
	int64		store_id;		/* and for the store view */
	char	   *store_key;
	char	   *admin_username; /* copied from the context: it may end first */
	char	   *customer_email;
	char	   *source;
	char	   *reason;
	char	   *client_addr;
	const char *relname;		/* owned by the trigger's cache: copied */
	char		op;				/* 'I', 'U', 'D' */
	int64		rows;
	struct KeyChunk *chunks;	/* the written rows' primary keys, in order */
	struct KeyChunk *last_chunk;
	List	   *changed;		/* names of the columns updates changed */
	bool		log_values;		/* the rows' values are logged ("values") */
	bool		reverting;		/* written by loginas.revert(): no images */
} WriteGroup;

/* at most KEYS_PER_LOG_ROW keys, or about KEY_BYTES_PER_LOG_ROW of them: one log row's */
#define KEYS_PER_LOG_ROW 10000
#define KEY_BYTES_PER_LOG_ROW (1024 * 1024)

typedef struct KeyChunk
{
	struct KeyChunk *next;
	int			nkeys;
	StringInfoData keys;		/* JSON array elements, comma separated */
	StringInfoData values;		/* each key's row values (log_values): JSON
								 * objects (or null), comma separated */
} KeyChunk;

static WriteGroup *groups = NULL;
static WriteGroup *last_group = NULL;

/* rows written in sessions by the current transaction, and the limit */
static int64 xact_rows = 0;
static int	max_session_write_rows = 1000000;

static const char *
op_name(char op)
{
	return op == 'I' ? "insert" : (op == 'U' ? "update" : "delete");
}

static WriteGroup *
find_group(const char *relname, char op, const LoginAsContext *ctx, bool log_values)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	WriteGroup *g;
	MemoryContext old;

	if (last_group && last_group->op == op && last_group->subid == subid &&
		last_group->session_id == ctx->session_id && last_group->log_values == log_values &&
		strcmp(last_group->relname, relname) == 0)
		return last_group;

	for (g = groups; g; g = g->next)
		if (g->op == op && g->subid == subid && g->session_id == ctx->session_id &&
			g->log_values == log_values && strcmp(g->relname, relname) == 0)
			return last_group = g;

	old = MemoryContextSwitchTo(TopTransactionContext);
	g = palloc0(sizeof(WriteGroup));
	g->subid = subid;
	g->session_id = ctx->session_id;
	g->admin_id = ctx->admin_id;
	g->customer_id = ctx->customer_id;
	g->customer_key = ctx->customer_key ? pstrdup(ctx->customer_key) : NULL;
	g->admin_key = ctx->admin_key ? pstrdup(ctx->admin_key) : NULL;
	g->store_id = ctx->store_id;
	g->store_key = ctx->store_key ? pstrdup(ctx->store_key) : NULL;
	g->admin_username = ctx->admin_username ? pstrdup(ctx->admin_username) : NULL;
	g->customer_email = ctx->customer_email ? pstrdup(ctx->customer_email) : NULL;
	g->source = ctx->source ? pstrdup(ctx->source) : NULL;
	g->reason = ctx->reason ? pstrdup(ctx->reason) : NULL;
	g->client_addr = ctx->client_addr ? pstrdup(ctx->client_addr) : NULL;
	g->relname = pstrdup(relname);
	g->op = op;
	g->log_values = log_values;
	g->reverting = ctx->reverting;
	MemoryContextSwitchTo(old);

	/* keep the order of first appearance */
	if (groups == NULL)
		groups = g;
	else
	{
		WriteGroup *tail = groups;

		while (tail->next)
			tail = tail->next;
		tail->next = g;
	}
	return last_group = g;
}

static void
add_changed(WriteGroup *g, const char *name)
{
	ListCell   *lc;

	MemoryContext old;

	foreach(lc, g->changed)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	g->changed = lappend(g->changed, pstrdup(name));
	MemoryContextSwitchTo(old);
}

/* ---------------------------------------------------------------------
 * values
 * --------------------------------------------------------------------- */

/*
 * Whether loginas prints values of this type: only by output functions that
 * are PostgreSQL's own.  A built-in type (its output is C code of the
 * server), a domain over a printable type (a domain prints as its base
 * type), an enum (enum_out prints its label), an array of a printable type
 * (array_out prints each element by the element's output).  A base type of
 * the shop's own (its output function is someone's code), a composite or a
 * range type (their output calls the output of what they hold) are not
 * printed: the log names the type instead.
 */
static bool
value_type_printable(Oid type, int depth)
{
	Oid			elem;
	Oid			typoutput;
	bool		varlena;

	if (depth > 16)
		return false;
	type = getBaseType(type);
	if (type < FirstGenbkiObjectId)
		return true;
	getTypeOutputInfo(type, &typoutput, &varlena);
	if (get_typtype(type) == TYPTYPE_ENUM)
		return typoutput == F_ENUM_OUT;
	elem = get_element_type(type);
	if (OidIsValid(elem) && typoutput == F_ARRAY_OUT)
		return value_type_printable(elem, depth + 1);
	return false;
}

/* the type whose output prints a value: a domain's base type, an array's element's */
static Oid
printed_type(Oid type)
{
	Oid			elem;

	type = getBaseType(type);
	elem = get_element_type(type);
	return OidIsValid(elem) ? getBaseType(elem) : type;
}

/* whether a printable type's text depends on settings (then pinned) */
static bool
value_type_pinned(Oid type)
{
	type = printed_type(type);
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
			return false;
		default:
			return type >= FirstGenbkiObjectId ? get_typtype(type) != TYPTYPE_ENUM : true;
	}
}

/*
 * A column's last printed value (TrackedRel.value_last): a built-in
 * by-value type whose text is a function of the value alone, with the
 * settings that change it pinned -- rows of a bulk write often hold the same
 * timestamp, customer or count, and printing a timestamp costs more than
 * the rest of its row's work in the log.
 */
typedef struct LastPrinted
{
	bool		valid;
	Datum		value;
	int			len;
	char		json[64];		/* its text as a JSON string, as the log writes it */
} LastPrinted;

/* the last two (an update prints a column's value before and after) */
typedef struct LoginAsLastValue
{
	LastPrinted slot[2];
	int			next;			/* the one to replace */
} LoginAsLastValue;

static bool
value_type_repeats(Oid type)
{
	switch (printed_type(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case BOOLOID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return true;
		default:
			return false;
	}
}

/* money, or an array of it: its text depends on lc_monetary */
static bool
value_type_money(Oid type)
{
	return printed_type(type) == CASHOID;
}

/*
 * A string as JSON, as escape_json() writes it (the log's text must be the
 * text jsonb prints, see printedjsonb.c), a run of plain bytes at a time
 */
static void
append_json_string(StringInfo buf, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = str;
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = str; *p; p++)
	{
		unsigned char c = (unsigned char) *p;
		char		esc[7];
		int			n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (p > run)
			appendBinaryStringInfo(buf, run, p - run);
		run = p + 1;
		esc[0] = '\\';
		switch (c)
		{
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			case '"':
				esc[1] = '"';
				break;
			case '\\':
				esc[1] = '\\';
				break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xf];
				n = 6;
				break;
		}
		appendBinaryStringInfo(buf, esc, n);
	}
	if (p > run)
		appendBinaryStringInfo(buf, run, p - run);
	appendStringInfoCharMacro(buf, '"');
}

/*
 * The order in which jsonb keeps an object's keys: the shorter first, then
 * bytewise.  The log writes a row's columns in it, so that its text is the
 * text jsonb prints (see append_group_row).
 */
static int
jsonb_key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int
value_order_cmp(const void *x, const void *y, void *arg)
{
	TupleDesc	desc = (TupleDesc) arg;
	const char *a = NameStr(TupleDescAttr(desc, *(const AttrNumber *) x - 1)->attname);
	const char *b = NameStr(TupleDescAttr(desc, *(const AttrNumber *) y - 1)->attname);

	return jsonb_key_cmp(a, strlen(a), b, strlen(b));
}

/* a relation's attnums, in the order of their names as jsonb keys */
static void
fill_value_order(AttrNumber *order, TupleDesc desc)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
		order[i] = i + 1;
	qsort_arg(order, desc->natts, sizeof(AttrNumber), value_order_cmp, desc);
}

/*
 * How the write log logs each column of a tracked relation (the relation
 * the trigger fires on: a partition numbers its columns its own way),
 * computed when the trigger's entry is filled (track.c).
 */
void
loginas_writelog_fill_values(TrackedRel *entry, TupleDesc desc)
{
	MemoryContext cxt = AllocSetContextCreate(CacheMemoryContext, "loginas tracked values",
											  ALLOCSET_SMALL_SIZES);
	int			i,
				k;

	entry->values_cxt = cxt;
	entry->value_natts = desc->natts;
	entry->value_mode = MemoryContextAllocZero(cxt, Max(desc->natts, 1));
	entry->value_out = MemoryContextAllocZero(cxt, sizeof(FmgrInfo) * Max(desc->natts, 1));
	entry->value_type = MemoryContextAllocZero(cxt, sizeof(char *) * Max(desc->natts, 1));
	entry->value_last = MemoryContextAllocZero(cxt, sizeof(LoginAsLastValue *) * Max(desc->natts, 1));
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i - 1);
		char		mode = LOGINAS_VALUE_PRINT;

		if (a->attisdropped || i == entry->created_att || i == entry->changed_att)
			mode = LOGINAS_VALUE_SKIP;
		for (k = 0; k < entry->nprotected && mode == LOGINAS_VALUE_PRINT; k++)
			if (entry->protected_atts[k] == i)
				mode = LOGINAS_VALUE_PROTECTED;
		for (k = 0; k < entry->nsensitive && mode == LOGINAS_VALUE_PRINT; k++)
			if (entry->sensitive_atts[k] == i)
				mode = LOGINAS_VALUE_SENSITIVE;
		if (mode == LOGINAS_VALUE_PRINT && !value_type_printable(a->atttypid, 0))
		{
			mode = LOGINAS_VALUE_UNPRINTED;
			entry->value_type[i - 1] = MemoryContextStrdup(cxt, format_type_be_qualified(a->atttypid));
		}
		if (mode == LOGINAS_VALUE_PRINT)
		{
			Oid			typoutput;
			bool		varlena;

			getTypeOutputInfo(a->atttypid, &typoutput, &varlena);
			fmgr_info_cxt(typoutput, &entry->value_out[i - 1], cxt);
			if (value_type_pinned(a->atttypid))
				mode = value_type_money(a->atttypid) ? LOGINAS_VALUE_PINNED_MONEY : LOGINAS_VALUE_PINNED;
			if (a->attbyval && value_type_repeats(a->atttypid))
				entry->value_last[i - 1] = MemoryContextAllocZero(cxt, sizeof(LoginAsLastValue));
		}
		entry->value_mode[i - 1] = mode;
	}
	entry->value_order = MemoryContextAlloc(cxt, sizeof(AttrNumber) * Max(desc->natts, 1));
	fill_value_order(entry->value_order, desc);
	entry->value_member = MemoryContextAllocZero(cxt, sizeof(char *) * Max(desc->natts, 1));
	entry->value_member_len = MemoryContextAllocZero(cxt, sizeof(int) * Max(desc->natts, 1));
	for (i = 1; i <= desc->natts; i++)
	{
		StringInfoData member;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		initStringInfo(&member);
		append_json_string(&member, NameStr(TupleDescAttr(desc, i - 1)->attname));
		appendStringInfoString(&member, ": ");
		entry->value_member[i - 1] = member.data;
		entry->value_member_len[i - 1] = member.len;
		MemoryContextSwitchTo(old);
	}
}

/*
 * The settings that change how a value of a built-in type prints, pinned
 * for one row's values.  Every row of a bulk write prints its values: the
 * settings' variables are set directly (and put back whatever happens, see
 * row_values), as their assign hooks would set them -- except lc_monetary,
 * whose hook also drops the cached locale: a row with a money column takes
 * the settings' own way (pin_settings) for all its values, never both ways
 * at once (a GUC level saved over the variables would keep them).
 */
typedef struct PinnedVars
{
	int			extra_float_digits;
	int			date_style;
	int			date_order;
	int			interval_style;
	pg_tz	   *timezone;
	int			bytea_output;
} PinnedVars;

static bool vars_pinned = false;	/* the variables are set (never with the GUC way) */

static void
pin_vars(PinnedVars *saved)
{
	static pg_tz *utc = NULL;

	if (utc == NULL)
	{
		utc = pg_tzset("UTC");
		if (utc == NULL)
			elog(ERROR, "loginas: time zone \"UTC\" is not known");
	}
	saved->extra_float_digits = extra_float_digits;
	saved->date_style = DateStyle;
	saved->date_order = DateOrder;
	saved->interval_style = IntervalStyle;
	saved->timezone = session_timezone;
	saved->bytea_output = bytea_output;
	extra_float_digits = 3;
	DateStyle = USE_ISO_DATES;
	DateOrder = DATEORDER_YMD;
	IntervalStyle = INTSTYLE_POSTGRES;
	session_timezone = utc;
	bytea_output = BYTEA_OUTPUT_HEX;
}

static void
unpin_vars(const PinnedVars *saved)
{
	extra_float_digits = saved->extra_float_digits;
	DateStyle = saved->date_style;
	DateOrder = saved->date_order;
	IntervalStyle = saved->interval_style;
	session_timezone = saved->timezone;
	bytea_output = saved->bytea_output;
}

static int
pin_settings(void)
{
	static const char *const pinned[][2] = {
		{"extra_float_digits", "3"}, {"DateStyle", "ISO, YMD"}, {"IntervalStyle", "postgres"},
		{"TimeZone", "UTC"}, {"bytea_output", "hex"}, {"lc_monetary", "C"},
	};
	int			nest = NewGUCNestLevel();
	size_t		s;

	for (s = 0; s < lengthof(pinned); s++)
		(void) set_config_option(pinned[s][0], pinned[s][1], PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

static char
value_mode(TrackedRel *entry, int attnum)
{
	return attnum <= entry->value_natts ? entry->value_mode[attnum - 1] : LOGINAS_VALUE_UNPRINTED;
}

/* a column logged without its value: its marker, true; false for the others */
static bool
append_value_marker(StringInfo buf, TrackedRel *entry, Form_pg_attribute a, int attnum)
{
	switch (value_mode(entry, attnum))
	{
		case LOGINAS_VALUE_PROTECTED:
			appendStringInfoString(buf, "{\"redacted\": \"protected\"}");
			return true;
		case LOGINAS_VALUE_SENSITIVE:
			appendStringInfoString(buf, "{\"redacted\": \"sensitive\"}");
			return true;
		case LOGINAS_VALUE_UNPRINTED:
			appendStringInfoString(buf, "{\"unprinted\": ");
			escape_json(buf, attnum <= entry->value_natts && entry->value_type[attnum - 1] ?
						entry->value_type[attnum - 1] : format_type_be_qualified(a->atttypid));
			appendStringInfoChar(buf, '}');
			return true;
		default:
			return false;
	}
}

/*
 * One printable value as JSON: null, its text, or {"cut": <its first
 * LOGINAS_VALUE_MAX_BYTES bytes, whole characters>, "bytes": <its length>}.
 * A long text (text, varchar, char(n) and domains over them print as they
 * are stored) is read only as far as needed.
 */
static void
append_value(StringInfo buf, TrackedRel *entry, Form_pg_attribute a, int attnum, Datum d, bool isnull,
			 int *nest)
{
	char	   *str;
	int64		bytes;
	int			len;
	LoginAsLastValue *last;
	LastPrinted *slot = NULL;

	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	last = a->attbyval && attnum <= entry->value_natts && entry->value_last ? entry->value_last[attnum - 1] : NULL;
	if (last)
	{
		for (int j = 0; j < 2; j++)
			if (last->slot[j].valid && last->slot[j].value == d)
			{
				appendBinaryStringInfo(buf, last->slot[j].json, last->slot[j].len);
				return;
			}
		slot = &last->slot[last->next];
		last->next ^= 1;
	}
	if (!vars_pinned && *nest < 0 &&
		(value_mode(entry, attnum) == LOGINAS_VALUE_PINNED ||
		 value_mode(entry, attnum) == LOGINAS_VALUE_PINNED_MONEY))
		*nest = pin_settings();
	if (a->attlen == -1 && toast_raw_datum_size(d) > 4 * LOGINAS_VALUE_MAX_BYTES + VARHDRSZ &&
		(getBaseType(a->atttypid) == TEXTOID || getBaseType(a->atttypid) == VARCHAROID ||
		 getBaseType(a->atttypid) == BPCHAROID))
	{
		struct varlena *slice = DatumGetTextPSlice(d, 0, LOGINAS_VALUE_MAX_BYTES + MAX_MULTIBYTE_CHAR_LEN);

		bytes = (int64) toast_raw_datum_size(d) - VARHDRSZ;
		str = text_to_cstring(slice);
	}
	else
	{
		str = OutputFunctionCall(&entry->value_out[attnum - 1], d);
		bytes = strlen(str);
	}
	if (bytes <= LOGINAS_VALUE_MAX_BYTES)
	{
		int			from = buf->len;

		append_json_string(buf, str);
		pfree(str);
		if (slot)
		{
			slot->valid = buf->len - from <= (int) sizeof(slot->json);
			slot->value = d;
			slot->len = buf->len - from;
			if (slot->valid)
				memcpy(slot->json, buf->data + from, slot->len);
		}
		return;
	}
	len = pg_mbcliplen(str, strlen(str), LOGINAS_VALUE_MAX_BYTES);
	str[len] = '\0';
	appendStringInfoString(buf, "{\"cut\": ");
	escape_json(buf, str);
	appendStringInfo(buf, ", \"bytes\": " INT64_FORMAT "}", bytes);
	pfree(str);
}

static void
append_member_name(StringInfo buf, bool *first, TrackedRel *entry, TupleDesc desc, int attnum)
{
	if (!*first)
		appendStringInfoString(buf, ", ");
	*first = false;
	if (entry->value_member && entry->value_natts == desc->natts)
		appendBinaryStringInfo(buf, entry->value_member[attnum - 1], entry->value_member_len[attnum - 1]);
	else
	{
		append_json_string(buf, NameStr(TupleDescAttr(desc, attnum - 1)->attname));
		appendStringInfoString(buf, ": ");
	}
}

/*
 * One row's values, as a JSON object, its members in the order jsonb keeps
 * them (its text is the text jsonb prints): an update's changed columns as
 * [before, after] (a NULL as null), an inserted or deleted row's columns
 * that are not NULL as their value (the log strips JSON nulls from objects:
 * a column left out is NULL); a column without its value as its marker, a
 * protected or sensitive one whatever it holds.  With changed (an update, also
 * when its values are not logged) the changed columns' names go to the
 * group.  buf NULL: names only.
 */
static void
row_values_pinned(StringInfo buf, WriteGroup *g, TrackedRel *entry, char op, TupleDesc desc,
				  HeapTuple oldtup, HeapTuple newtup)
{
	int			nest = -1;
	bool		first = true;
	bool		changed_here[64];
	bool	   *changed = NULL;
	AttrNumber	order_here[64];
	AttrNumber *order;
	Datum		old_here[64],
				new_here[64];
	bool		oldnull_here[64],
				newnull_here[64];
	Datum	   *oldv = NULL,
			   *newv = NULL;
	bool	   *oldn = NULL,
			   *newn = NULL;
	int			i,
				k;

	/* the row's columns, read once (a column after a varlena one has no cached offset) */
	if (oldtup && op != 'I' && (buf || op == 'U'))
	{
		bool		here = desc->natts <= (int) lengthof(old_here);

		oldv = here ? old_here : palloc(sizeof(Datum) * desc->natts);
		oldn = here ? oldnull_here : palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(oldtup, desc, oldv, oldn);
	}
	if (newtup && op != 'D' && (buf || op == 'U'))
	{
		bool		here = desc->natts <= (int) lengthof(new_here);

		newv = here ? new_here : palloc(sizeof(Datum) * desc->natts);
		newn = here ? newnull_here : palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(newtup, desc, newv, newn);
	}

	/*
	 * An update's changed columns: their names go to the group in the
	 * columns' order, as they always did
	 */
	if (op == 'U')
	{
		changed = desc->natts <= (int) lengthof(changed_here) ? changed_here : palloc(desc->natts);
		for (i = 1; i <= desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i - 1);
			bool		oldnull,
						newnull;
			Datum		o,
						n;

			changed[i - 1] = false;
			if (a->attisdropped || i == entry->created_att || i == entry->changed_att)
				continue;
			o = oldv[i - 1];
			oldnull = oldn[i - 1];
			n = newv[i - 1];
			newnull = newn[i - 1];
			if (oldnull == newnull &&
				(oldnull || datum_image_eq(o, n, a->attbyval, a->attlen)))
				continue;
			changed[i - 1] = true;
			/* by name: partitions of one table may number columns differently */
			add_changed(g, NameStr(a->attname));
		}
	}
	if (buf == NULL)
		goto done;

	/* the values, in the order jsonb keeps the columns' names */
	if (entry->value_order && entry->value_natts == desc->natts)
		order = entry->value_order;
	else
	{
		order = desc->natts <= (int) lengthof(order_here) ? order_here : palloc(sizeof(AttrNumber) * desc->natts);
		fill_value_order(order, desc);
	}
	appendStringInfoChar(buf, '{');
	for (k = 0; k < desc->natts; k++)
	{
		Form_pg_attribute a;
		bool		oldnull,
					newnull;
		Datum		o,
					n;

		i = order[k];
		a = TupleDescAttr(desc, i - 1);
		if (a->attisdropped || i == entry->created_att || i == entry->changed_att ||
			value_mode(entry, i) == LOGINAS_VALUE_SKIP)
			continue;
		if (op != 'U')
		{
			o = op == 'I' ? newv[i - 1] : oldv[i - 1];
			oldnull = op == 'I' ? newn[i - 1] : oldn[i - 1];
			/* a NULL is left out (the log keeps no JSON null in an object) */
			if (oldnull && value_mode(entry, i) != LOGINAS_VALUE_PROTECTED &&
				value_mode(entry, i) != LOGINAS_VALUE_SENSITIVE)
				continue;
			append_member_name(buf, &first, entry, desc, i);
			if (!append_value_marker(buf, entry, a, i))
				append_value(buf, entry, a, i, o, oldnull, &nest);
			continue;
		}
		if (!changed[i - 1])
			continue;
		append_member_name(buf, &first, entry, desc, i);
		if (append_value_marker(buf, entry, a, i))
			continue;
		o = oldv[i - 1];
		oldnull = oldn[i - 1];
		n = newv[i - 1];
		newnull = newn[i - 1];
		appendStringInfoChar(buf, '[');
		append_value(buf, entry, a, i, o, oldnull, &nest);
		appendStringInfoString(buf, ", ");
		append_value(buf, entry, a, i, n, newnull, &nest);
		appendStringInfoChar(buf, ']');
	}
	appendStringInfoChar(buf, '}');
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
	if (order != entry->value_order && order != order_here)
		pfree(order);
done:
	if (changed && changed != changed_here)
		pfree(changed);
	if (oldv && oldv != old_here)
	{
		pfree(oldv);
		pfree(oldn);
	}
	if (newv && newv != new_here)
	{
		pfree(newv);
		pfree(newn);
	}
}

static void
row_values(StringInfo buf, WriteGroup *g, TrackedRel *entry, char op, TupleDesc desc,
		   HeapTuple oldtup, HeapTuple newtup)
{
	PinnedVars	saved;
	bool		pin = false;
	int			i;

	for (i = 0; buf && i < entry->value_natts; i++)
	{
		if (entry->value_mode[i] == LOGINAS_VALUE_PINNED_MONEY)
		{
			pin = false;		/* the settings' own way for the whole row */
			break;
		}
		pin |= entry->value_mode[i] == LOGINAS_VALUE_PINNED;
	}
	if (!pin)
	{
		row_values_pinned(buf, g, entry, op, desc, oldtup, newtup);
		return;
	}
	pin_vars(&saved);
	vars_pinned = true;
	PG_TRY();
	{
		row_values_pinned(buf, g, entry, op, desc, oldtup, newtup);
	}
	PG_FINALLY();
	{
		vars_pinned = false;
		unpin_vars(&saved);
	}
	PG_END_TRY();
}

/*
 * A row's key as JSON (loginas_row_key: ["10","2"]) as jsonb prints it:
 * ", " between elements
 */
static void
append_key_canonical(StringInfo buf, const char *key_json, int keylen)
{
	bool		in_string = false;
	int			i,
				from = 0;

	for (i = 0; i < keylen; i++)
	{
		if (in_string)
		{
			if (key_json[i] == '\\')
				i++;
			else if (key_json[i] == '"')
				in_string = false;
		}
		else if (key_json[i] == '"')
			in_string = true;
		else if (key_json[i] == ',')
		{
			appendBinaryStringInfo(buf, key_json + from, i + 1 - from);
			appendStringInfoChar(buf, ' ');
			from = i + 1;
		}
	}
	appendBinaryStringInfo(buf, key_json + from, keylen - from);
}

void
loginas_writelog_record(TrackedRel *entry, uint32 event, const LoginAsContext *ctx, TupleDesc desc,
						HeapTuple oldtup, HeapTuple newtup, const char *key_json)
{
	char		op = TRIGGER_FIRED_BY_INSERT(event) ? 'I' :
		(TRIGGER_FIRED_BY_UPDATE(event) ? 'U' : 'D');
	WriteGroup *g;
	int			keylen = strlen(key_json);
	StringInfoData values;
	int			size;
	KeyChunk   *chunk;
	MemoryContext old;

	if (xact_rows >= max_session_write_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Login as Customer session %lld may not write more than %d rows in one transaction",
						(long long) ctx->session_id, max_session_write_rows),
				 errdetail("Every row a session writes is logged at commit; the limit keeps that bounded."),
				 errhint("Write in smaller transactions, or have a superuser raise loginas.max_session_write_rows.")));
	g = find_group(entry->relname, op, ctx, entry->log_values && entry->value_mode != NULL);

	/*
	 * the row's values (and an update's changed columns), in the trigger's
	 * memory: copied into the group's chunk below
	 */
	if (g->log_values)
	{
		initStringInfo(&values);
		row_values(&values, g, entry, op, desc, oldtup, newtup);
	}
	else if (op == 'U')
		row_values(NULL, g, entry, op, desc, oldtup, newtup);
	size = keylen + (g->log_values ? values.len + 1 : 0);

	xact_rows++;
	g->rows++;

	old = MemoryContextSwitchTo(TopTransactionContext);
	chunk = g->last_chunk;
	if (chunk == NULL || chunk->nkeys >= KEYS_PER_LOG_ROW ||
		(chunk->nkeys > 0 && chunk->keys.len + chunk->values.len + size > KEY_BYTES_PER_LOG_ROW))
	{
		chunk = palloc0(sizeof(KeyChunk));
		initStringInfo(&chunk->keys);
		if (g->log_values)
			initStringInfo(&chunk->values);
		if (g->last_chunk)
			g->last_chunk->next = chunk;
		else
			g->chunks = chunk;
		g->last_chunk = chunk;
	}
	if (chunk->nkeys > 0)
		appendStringInfoString(&chunk->keys, ", ");
	append_key_canonical(&chunk->keys, key_json, keylen);
	if (g->log_values)
	{
		if (chunk->nkeys > 0)
			appendStringInfoString(&chunk->values, ", ");
		appendBinaryStringInfo(&chunk->values, values.data, values.len);
	}
	chunk->nkeys++;
	MemoryContextSwitchTo(old);
	if (g->log_values)
		pfree(values.data);
}

/*
 * One action_log row per group, as the extension owner, appended as
 * loginas._append appends (logappend.c): everything the row carries was read
 * by assume() and travelled here in the context.
 */
enum
{
	LA_LOGGED_AT, LA_ACTION, LA_RESULT, LA_ADMIN_ID, LA_ADMIN_USERNAME, LA_CUSTOMER_ID,
	LA_CUSTOMER_EMAIL, LA_SESSION_ID, LA_STORE_ID, LA_SOURCE, LA_REASON, LA_CLIENT_ADDR,
	LA_DB_ROLE, LA_DETAILS, LA_ADMIN_KEY, LA_CUSTOMER_KEY, LA_STORE_KEY
};

/* one log row: a group's keys of one chunk (part "part" of "parts") */
static void
append_group_row(Oid nsp, WriteGroup *g, KeyChunk *chunk, int part, int parts, const char *db_role)
{
	StringInfoData details;
	Datum		printed;
	Datum		values[LOGINAS_APPEND_NARGS];
	bool		nulls[LOGINAS_APPEND_NARGS];

	/*
	 * The details as jsonb prints them (the keys in jsonb's order: shorter
	 * first, then bytewise; ", " and ": " between), so that this text is
	 * the canonical text of the row's details as it is (see
	 * loginas_append_values)
	 */
	initStringInfo(&details);
	appendStringInfoString(&details, "{\"keys\": [");
	appendBinaryStringInfo(&details, chunk->keys.data, chunk->keys.len);
	appendStringInfoChar(&details, ']');
	if (parts > 1)
		appendStringInfo(&details, ", \"part\": %d", part);
	appendStringInfo(&details, ", \"rows\": %d", chunk->nkeys);
	if (parts > 1)
		appendStringInfo(&details, ", \"parts\": %d", parts);
	appendStringInfoString(&details, ", \"table\": ");
	escape_json(&details, g->relname);
	if (g->log_values)
	{
		appendStringInfoString(&details, ", \"values\": [");
		appendBinaryStringInfo(&details, chunk->values.data, chunk->values.len);
		appendStringInfoChar(&details, ']');
	}
	appendStringInfo(&details, ", \"operation\": \"%s\"", op_name(g->op));
	if (g->op == 'U')
	{
		ListCell   *lc;

		appendStringInfoString(&details, ", \"changed_columns\": [");
		foreach(lc, g->changed)
		{
			if (lc != list_head(g->changed))
				appendStringInfoString(&details, ", ");
			escape_json(&details, (const char *) lfirst(lc));
		}
		appendStringInfoChar(&details, ']');
	}
	appendStringInfoChar(&details, '}');

	/*
	 * The row, in the order of loginas._append's arguments, appended from C:
	 * the details were built here without any JSON null in an object, so
	 * they are stored as they are (no stripping).
	 */
#define TEXT_OR_NULL(i, str) \
	(nulls[i] = (str) == NULL, values[i] = (str) ? CStringGetTextDatum(str) : (Datum) 0)
	memset(nulls, 0, sizeof(nulls));
	values[LA_LOGGED_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[LA_ACTION] = CStringGetTextDatum(psprintf("write_%s", op_name(g->op)));
	values[LA_RESULT] = CStringGetTextDatum("success");
	values[LA_ADMIN_ID] = Int64GetDatum(g->admin_id);
	nulls[LA_ADMIN_ID] = g->admin_id == LOGINAS_NO_ID;
	TEXT_OR_NULL(LA_ADMIN_USERNAME, g->admin_username);
	values[LA_CUSTOMER_ID] = Int64GetDatum(g->customer_id);
	nulls[LA_CUSTOMER_ID] = g->customer_id == LOGINAS_NO_ID;
	TEXT_OR_NULL(LA_CUSTOMER_EMAIL, g->customer_email);
	values[LA_SESSION_ID] = Int64GetDatum(g->session_id);
	values[LA_STORE_ID] = Int64GetDatum(g->store_id);
	nulls[LA_STORE_ID] = g->store_id == LOGINAS_NO_ID;
	TEXT_OR_NULL(LA_SOURCE, g->source);
	TEXT_OR_NULL(LA_REASON, g->reason);
	nulls[LA_CLIENT_ADDR] = g->client_addr == NULL;
	values[LA_CLIENT_ADDR] = g->client_addr ?
		DirectFunctionCall1(inet_in, CStringGetDatum(g->client_addr)) : (Datum) 0;
	values[LA_DB_ROLE] = DirectFunctionCall1(namein, CStringGetDatum(db_role));
	/* the jsonb of the printed text, without parsing general JSON (printedjsonb.c) */
	printed = loginas_jsonb_from_printed(details.data, details.len);
	values[LA_DETAILS] = printed ? printed :
		DirectFunctionCall1(jsonb_in, CStringGetDatum(details.data));
	/* a key is logged only where its bigint column cannot hold it */
	TEXT_OR_NULL(LA_ADMIN_KEY, g->admin_id == LOGINAS_NO_ID ? g->admin_key : NULL);
	TEXT_OR_NULL(LA_CUSTOMER_KEY, g->customer_id == LOGINAS_NO_ID ? g->customer_key : NULL);
	TEXT_OR_NULL(LA_STORE_KEY, g->store_id == LOGINAS_NO_ID ? g->store_key : NULL);
#undef TEXT_OR_NULL
	(void) loginas_append_values(nsp, values, nulls, false, printed ? details.data : NULL);
	/* what this row needed goes now: a write of many parts stays bounded */
	pfree(details.data);
	pfree(DatumGetPointer(values[LA_DETAILS]));
	pfree(chunk->keys.data);
	chunk->keys.data = NULL;
	if (g->log_values)
	{
		pfree(chunk->values.data);
		chunk->values.data = NULL;
	}
}

static void
flush_groups(void)
{
	LoginAsOwnerState owner;
	WriteGroup *g;
	Oid			nsp;
	const char *db_role;

	if (groups == NULL)
		return;

	loginas_as_owner_begin(&owner);
	PushActiveSnapshot(GetTransactionSnapshot());
	nsp = get_namespace_oid("loginas", false);
	db_role = GetUserNameFromId(GetSessionUserId(), false);
	for (g = groups; g; g = g->next)
	{
		KeyChunk   *chunk;
		int			parts = 0,
					part = 0;

		for (chunk = g->chunks; chunk; chunk = chunk->next)
			parts++;
		for (chunk = g->chunks; chunk; chunk = chunk->next)
			append_group_row(nsp, g, chunk, ++part, parts, db_role);
	}
	PopActiveSnapshot();
	loginas_as_owner_end(&owner);

	/*
	 * how many logged rows each session's images (revert.c) cover: a revert
	 * checks that they cover every write the log names (written with the
	 * images, next)
	 */
	for (g = groups; g; g = g->next)
	{
		WriteGroup *h;
		int64		rows = 0;

		if (g->reverting)
			continue;
		for (h = groups; h != g && h->session_id != g->session_id; h = h->next)
			;
		if (h != g)
			continue;			/* counted with the session's first group */
		for (h = g; h; h = h->next)
			if (h->session_id == g->session_id && !h->reverting)
				rows += h->rows;
		loginas_image_rows(g->session_id, rows);
	}
	groups = last_group = NULL;
}

/* whether this transaction wrote in the session (its log rows still to come) */
bool
loginas_writelog_pending(int64 session_id)
{
	WriteGroup *g;

	for (g = groups; g; g = g->next)
		if (g->session_id == session_id)
			return true;
	return false;
}

static void
writelog_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* a delete held as a partition move's half that was none (track.c) */
			loginas_track_settle();
			flush_groups();
			/* the images of the rows written (revert.c), with their count */
			loginas_image_flush();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the memory went with TopTransactionContext */
			groups = last_group = NULL;
			xact_rows = 0;
			break;
		default:
			break;
	}
}

/* the group of the enclosing (sub)transaction this one's writes join */
static WriteGroup *
parent_group(WriteGroup *child, SubTransactionId parentSubid)
{
	WriteGroup *g;

	for (g = groups; g; g = g->next)
		if (g != child && g->subid == parentSubid && g->op == child->op &&
			g->session_id == child->session_id && g->log_values == child->log_values &&
			strcmp(g->relname, child->relname) == 0)
			return g;
	return NULL;
}

static void
writelog_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	WriteGroup **link = &groups;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	last_group = NULL;
	while (*link)
	{
		WriteGroup *g = *link;
		WriteGroup *into;

		if (g->subid != mySubid)
		{
			link = &g->next;
			continue;
		}
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			*link = g->next;	/* its writes were rolled back */
			xact_rows -= g->rows;
			continue;
		}
		into = parent_group(g, parentSubid);
		if (into == NULL)
		{
			g->subid = parentSubid;
			link = &g->next;
			continue;
		}
		/* committed: its writes join the enclosing transaction's group */
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
			ListCell   *lc;

			KeyChunk   *chunk = g->chunks;

			into->rows += g->rows;
			while (chunk)
			{
				KeyChunk   *next = chunk->next;
				KeyChunk   *last = into->last_chunk;

				if (last && last->nkeys + chunk->nkeys <= KEYS_PER_LOG_ROW &&
					last->keys.len + last->values.len + chunk->keys.len + chunk->values.len
					<= KEY_BYTES_PER_LOG_ROW)
				{
					/* room in the enclosing group's last chunk: one log row as before */
					if (last->nkeys > 0 && chunk->nkeys > 0)
					{
						appendStringInfoString(&last->keys, ", ");
						if (into->log_values)
							appendStringInfoString(&last->values, ", ");
					}
					appendBinaryStringInfo(&last->keys, chunk->keys.data, chunk->keys.len);
					if (into->log_values)
					{
						appendBinaryStringInfo(&last->values, chunk->values.data, chunk->values.len);
						pfree(chunk->values.data);
					}
					last->nkeys += chunk->nkeys;
					pfree(chunk->keys.data);
					pfree(chunk);
				}
				else
				{
					chunk->next = NULL;
					if (last)
						last->next = chunk;
					else
						into->chunks = chunk;
					into->last_chunk = chunk;
				}
				chunk = next;
			}
			foreach(lc, g->changed)
				add_changed(into, (const char *) lfirst(lc));
			MemoryContextSwitchTo(old);
		}
		*link = g->next;
	}
}

void
loginas_writelog_init(void)
{
	DefineCustomIntVariable("loginas.max_session_write_rows",
							"Most rows one transaction may write in a Login as Customer session.",
							"Every row is logged at commit; beyond this many the write is refused.",
							&max_session_write_rows,
							1000000, 1, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	RegisterXactCallback(writelog_xact_callback, NULL);
	RegisterSubXactCallback(writelog_subxact_callback, NULL);
}
