/*
 * report.c
 *		The per-row text of the reports (sql: section 11).
 *
 * Four functions render what a log row says, for every row a report shows:
 *
 *	loginas._action_label(action, details)		the Action column
 *	loginas._keys_text(keys, max)				a write's primary keys: "(5), (6)"
 *	loginas._action_details(action, details, with_table)
 *												what the details say, on one line
 *	loginas._row_summary(action, customer, ...)	the Admin Actions Report's Details
 *
 * Version 1.0 computed them in SQL and PL/pgSQL; called for every row of a
 * page, that was most of a report's time (docs/benchmarks.md, "Action log").
 * Here they read the jsonb details in place.  The text is the 1.0 text,
 * character for character -- including its corner cases (an empty key, a
 * "rows" that is not a number raising the same cast error, ordering by the
 * database's collation) -- so that a row reads the same before and after
 * ALTER EXTENSION loginas UPDATE; test/t/030_upgrade.pl compares the two on
 * rows of every kind.
 *
 * All four are IMMUTABLE and not STRICT: a NULL argument reads as 1.0 read it.
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/varlena.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_action_label);
PG_FUNCTION_INFO_V1(loginas_keys_text);
PG_FUNCTION_INFO_V1(loginas_action_details);
PG_FUNCTION_INFO_V1(loginas_row_summary);

/* Text pieces joined as concat_ws() joins them: NULL pieces are skipped. */
typedef struct Pieces
{
	StringInfoData buf;
	const char *sep;
	bool		any;
} Pieces;

static void
pieces_init(Pieces *p, const char *sep)
{
	initStringInfo(&p->buf);
	p->sep = sep;
	p->any = false;
}

static void
pieces_add(Pieces *p, const char *prefix, const char *text)
{
	if (text == NULL)
		return;
	if (p->any)
		appendStringInfoString(&p->buf, p->sep);
	if (prefix)
		appendStringInfoString(&p->buf, prefix);
	appendStringInfoString(&p->buf, text);
	p->any = true;
}

/* prefix || text, NULL when text is NULL (SQL's || on a NULL) */
static char *
prefixed(const char *prefix, const char *text)
{
	return text ? psprintf("%s%s", prefix, text) : NULL;
}

/* format('%s', x) prints a NULL as nothing */
static const char *
or_empty(const char *text)
{
	return text ? text : "";
}

/* ---------------------------------------------------------------------
 * jsonb access, as the SQL operators behave
 * ---------------------------------------------------------------------
 */

/* a JSON value as ->> and #>> '{}' give it: strings unquoted, null is NULL */
static char *
value_text(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			elog(ERROR, "loginas: unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;				/* not reached */
}

/* a JSON value as jsonb's text output gives it (::text): strings quoted */
static char *
value_json(const JsonbValue *v)
{
	StringInfoData buf;
	char	   *s;

	switch (v->type)
	{
		case jbvNull:
			return pstrdup("null");
		case jbvString:
			initStringInfo(&buf);
			s = pnstrdup(v->val.string.val, v->val.string.len);
			escape_json(&buf, s);
			return buf.data;
		default:
			return value_text(v);
	}
}

static bool
is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

static bool
is_array(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/* the whole document as a JsonbValue (a scalar document as its scalar) */
static void
document_value(Jsonb *jb, JsonbValue *out)
{
	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, out))
			elog(ERROR, "loginas: could not read a scalar jsonb");
		return;
	}
	out->type = jbvBinary;
	out->val.binary.data = &jb->root;
	out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/* obj -> key: true and *out set when obj is an object that has the key */
static bool
member(const JsonbValue *obj, const char *key, JsonbValue *out)
{
	if (obj == NULL || !is_object(obj))
		return false;
	return getKeyJsonValueFromContainer(obj->val.binary.data, key, strlen(key), out) != NULL;
}

/* obj ->> key */
static char *
member_text(const JsonbValue *obj, const char *key)
{
	JsonbValue	v;

	return member(obj, key, &v) ? value_text(&v) : NULL;
}

/* (obj ->> key)::boolean: NULL -> -1; not a boolean -> the cast's error */
static int
member_bool(const JsonbValue *obj, const char *key)
{
	char	   *t = member_text(obj, key);

	if (t == NULL)
		return -1;
	return DatumGetBool(DirectFunctionCall1(boolin, CStringGetDatum(t))) ? 1 : 0;
}

/* the elements of an array value */
static int
array_size(const JsonbValue *arr)
{
	return is_array(arr) ? (int) JsonContainerSize(arr->val.binary.data) : 0;
}

static void
array_element(const JsonbValue *arr, int i, JsonbValue *out)
{
	JsonbValue *e = getIthJsonbValueFromContainer(arr->val.binary.data, i);

	*out = *e;
}

/* ---------------------------------------------------------------------
 * sorting by the database's collation (ORDER BY of a text in 1.0)
 * ---------------------------------------------------------------------
 */
typedef struct SortItem
{
	char	   *key;
	char	   *text;
} SortItem;

static int
sort_item_cmp(const void *a, const void *b)
{
	const SortItem *x = (const SortItem *) a;
	const SortItem *y = (const SortItem *) b;

	return varstr_cmp(x->key, strlen(x->key), y->key, strlen(y->key), DEFAULT_COLLATION_OID);
}

/* items joined by sep in key order; NULL when there are none */
static char *
sorted_join(SortItem *items, int n, const char *sep)
{
	Pieces		p;
	int			i;

	if (n == 0)
		return NULL;
	qsort(items, n, sizeof(SortItem), sort_item_cmp);
	pieces_init(&p, sep);
	for (i = 0; i < n; i++)
		pieces_add(&p, NULL, items[i].text);
	return p.buf.data;
}

/*
 * "key: value, ..." over an object's members ordered by key (the value as
 * #>> '{}', a JSON null as nothing); skip_note leaves out a note's own "note".
 * NULL when nothing is left.
 */
static char *
members_text(const JsonbValue *obj, bool skip_note)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	SortItem   *items;
	int			n = 0;
	char	   *key = NULL;

	if (obj == NULL || !is_object(obj))
		return NULL;
	items = palloc(sizeof(SortItem) * (JsonContainerSize(obj->val.binary.data) + 1));
	it = JsonbIteratorInit(obj->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (skip_note && strcmp(key, "note") == 0)
				continue;
			items[n].key = key;
			items[n].text = psprintf("%s: %s", key, or_empty(value_text(&v)));
			n++;
		}
	}
	return sorted_join(items, n, ", ");
}

/* ---------------------------------------------------------------------
 * _keys_text
 * ---------------------------------------------------------------------
 */

/* a key value printed bare when it can be: no , ( ) " space or backslash */
static bool
bare_ok(const char *s, int len)
{
	int			i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
	{
		if (s[i] == ',' || s[i] == '(' || s[i] == ')' || s[i] == '"' || s[i] == ' ' || s[i] == '\\')
			return false;
	}
	return true;
}

/*
 * One key value as loginas prints it, in the reports and in messages: bare,
 * or quoted as a JSON string when it holds a character that would make two
 * keys print alike (a comma, a parenthesis, a quote, a space, a backslash)
 * or is empty.
 */
void
loginas_append_key_value(StringInfo buf, const char *value)
{
	if (bare_ok(value, strlen(value)))
		appendStringInfoString(buf, value);
	else
		escape_json(buf, value);
}

/* one key: "(1, a)"; NULL for an empty composite key (1.0 skipped it) */
static char *
one_key_text(const JsonbValue *key)
{
	Pieces		p;
	JsonbValue	e;
	int			i,
				n;

	pieces_init(&p, ", ");
	n = is_array(key) ? array_size(key) : 1;
	for (i = 0; i < n; i++)
	{
		if (is_array(key))
			array_element(key, i, &e);
		else
			e = *key;
		if (e.type == jbvNull)
			pieces_add(&p, NULL, "NULL");
		else if (e.type == jbvString && bare_ok(e.val.string.val, e.val.string.len))
			pieces_add(&p, NULL, pnstrdup(e.val.string.val, e.val.string.len));
		else
			pieces_add(&p, NULL, value_json(&e));
	}
	if (!p.any)
		return NULL;
	return psprintf("(%s)", p.buf.data);
}

/* the keys of an array, at most max of them (max < 0: all), NULL if none */
static char *
keys_text(const JsonbValue *keys, int max)
{
	Pieces		p;
	JsonbValue	key;
	int			i,
				n;

	if (keys == NULL || !is_array(keys))
		return NULL;
	n = array_size(keys);
	if (n == 0)
		return NULL;
	pieces_init(&p, ", ");
	for (i = 0; i < n && (max < 0 || i < max); i++)
	{
		array_element(keys, i, &key);
		pieces_add(&p, NULL, one_key_text(&key));
	}
	if (!p.any)
		return NULL;			/* string_agg over nothing: NULL || ... */
	if (max >= 0 && n > max)
		appendStringInfo(&p.buf, " and %d more", n - max);
	return p.buf.data;
}

/*
 * loginas._keys_text(keys jsonb, max int DEFAULT NULL) -> text
 */
Datum
loginas_keys_text(PG_FUNCTION_ARGS)
{
	JsonbValue	doc;
	int			max;
	char	   *t;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	max = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	if (!PG_ARGISNULL(1) && max <= 0)
	{
		/* 1.0: the keys were counted but none was shown: NULL */
		PG_RETURN_NULL();
	}
	document_value(PG_GETARG_JSONB_P(0), &doc);
	t = keys_text(&doc, max);
	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(t));
}

/* ---------------------------------------------------------------------
 * _action_label
 * ---------------------------------------------------------------------
 */

static bool
ends_with_refused(const char *action)
{
	size_t		len = strlen(action);

	return len >= 8 && strcmp(action + len - 8, "_refused") == 0;
}

static char *
underscores_to_spaces(char *s)
{
	char	   *c;

	for (c = s; *c; c++)
		if (*c == '_')
			*c = ' ';
	return s;
}

/* the actions whose label is fixed */
static const struct
{
	const char *action;
	const char *label;
}			fixed_labels[] =
{
	{"ticket_issued", "Login as Customer: ticket issued"},
	{"ticket_redeemed", "Login as Customer: ticket redeemed"},
	{"write_insert", "Write: insert"},
	{"write_update", "Write: update"},
	{"write_delete", "Write: delete"},
	{"consent_granted", "Remote shopping assistance allowed"},
	{"consent_revoked", "Remote shopping assistance revoked"},
	{"permission_granted", "Permission granted"},
	{"permission_revoked", "Permission revoked"},
	{"setting_changed", "Setting changed"},
	{"relation_bound", "Relation bound"},
	{"relation_unbound", "Relation unbound"},
	{"table_tracked", "Table tracked"},
	{"table_untracked", "Table untracked"},
	{"column_protected", "Column protected"},
	{"column_unprotected", "Column unprotected"},
	{"column_redacted", "Column redacted"},
	{"column_unredacted", "Column unredacted"},
	{"log_values_changed", "Logging of values changed"},
	{"session_reverted", "Session reverted"},
};

static char *
action_label(const char *action, const JsonbValue *d, Oid collation)
{
	size_t		i;

	if (action == NULL)
		return NULL;
	for (i = 0; i < lengthof(fixed_labels); i++)
		if (strcmp(action, fixed_labels[i].action) == 0)
			return pstrdup(fixed_labels[i].label);
	if (strcmp(action, "session_ended") == 0)
	{
		char	   *reason = member_text(d, "end_reason");

		return psprintf("%s%s%s%s",
						member_bool(d, "redeemed") == 0 ? "Ticket ended" : "Session ended",
						reason ? " (" : "", or_empty(reason), reason ? ")" : "");
	}
	if (strcmp(action, "note") == 0)
		return psprintf("Note: %s", or_empty(member_text(d, "note")));
	if (strcmp(action, "log_viewed") == 0)
	{
		char	   *report = member_text(d, "report");
		const char *name;

		if (report == NULL)
			name = "";
		else if (strcmp(report, "actions_report") == 0)
			name = "Admin Actions Report";
		else if (strcmp(report, "customer_history") == 0)
			name = "customer history";
		else if (strcmp(report, "admin_activity") == 0)
			name = "admin activity";
		else
			name = report;
		return psprintf("Log viewed: %s", name);
	}
	if (ends_with_refused(action))	/* begin_refused, redeem_refused, ... */
	{
		char	   *verb = pnstrdup(action, strlen(action) - 8);

		return psprintf("Refused: %s", underscores_to_spaces(verb));
	}
	else
	{
		/* any other action: its first character upper-cased, _ as spaces */
		int			first = *action ? pg_mblen(action) : 0;
		text	   *head = cstring_to_text_with_len(action, first);
		char	   *upper_head;

		upper_head = TextDatumGetCString(DirectFunctionCall1Coll(upper, collation, PointerGetDatum(head)));
		return psprintf("%s%s", upper_head, underscores_to_spaces(pstrdup(action + first)));
	}
}

static Oid
text_collation(FunctionCallInfo fcinfo)
{
	Oid			collation = PG_GET_COLLATION();

	return OidIsValid(collation) ? collation : DEFAULT_COLLATION_OID;
}

/* the details argument (NULL: absent) as a JsonbValue */
static JsonbValue *
details_arg(FunctionCallInfo fcinfo, int argno, JsonbValue *buf)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	document_value(PG_GETARG_JSONB_P(argno), buf);
	return buf;
}

/*
 * loginas._action_label(action text, details jsonb) -> text
 */
Datum
loginas_action_label(PG_FUNCTION_ARGS)
{
	JsonbValue	dbuf;
	JsonbValue *d = details_arg(fcinfo, 1, &dbuf);
	char	   *t;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	t = action_label(text_to_cstring(PG_GETARG_TEXT_PP(0)), d, text_collation(fcinfo));
	PG_RETURN_TEXT_P(cstring_to_text(t));
}

/* ---------------------------------------------------------------------
 * _action_details
 * ---------------------------------------------------------------------
 */

static bool
action_is(const char *action, const char *name)
{
	return action != NULL && strcmp(action, name) == 0;
}

/* "3 rows", "1 row", or NULL without "rows" ((d ->> 'rows')::bigint) */
static char *
rows_text(const JsonbValue *d)
{
	char	   *t = member_text(d, "rows");
	int64		n;

	if (t == NULL)
		return NULL;
	n = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(t)));
	return psprintf(INT64_FORMAT " row%s", n, n == 1 ? "" : "s");
}

/* "columns a, b": the changed columns in collation order, NULL if none */
static char *
columns_text(const JsonbValue *d)
{
	JsonbValue	cols;
	JsonbValue	e;
	SortItem   *items;
	int			i,
				n,
				k = 0;

	if (!member(d, "changed_columns", &cols) || !is_array(&cols))
		return NULL;
	n = array_size(&cols);
	items = palloc(sizeof(SortItem) * (n + 1));
	for (i = 0; i < n; i++)
	{
		char	   *t;

		array_element(&cols, i, &e);
		t = value_text(&e);
		if (t == NULL)
			continue;			/* a JSON null: string_agg skipped it */
		items[k].key = t;
		items[k].text = t;
		k++;
	}
	return prefixed("columns ", sorted_join(items, k, ", "));
}

/*
 * A logged value as the reports print it: as it is when that is
 * unambiguous, else quoted as a JSON string (a value that is empty, spells
 * NULL, or holds a separator, a quote, a backslash, a space or a control
 * character); a JSON null as NULL; the markers of the write log as words.
 */
static void
append_value_text(StringInfo buf, const JsonbValue *v)
{
	JsonbValue	m;

	if (v->type == jbvNull)
	{
		appendStringInfoString(buf, "NULL");
		return;
	}
	if (v->type == jbvString)
	{
		char	   *t = pnstrdup(v->val.string.val, v->val.string.len);
		bool		bare = bare_ok(t, v->val.string.len) && strcmp(t, "NULL") != 0;
		int			i;

		for (i = 0; bare && i < v->val.string.len; i++)
			if ((unsigned char) t[i] < 0x20 || t[i] == 0x7f || t[i] == ';' || t[i] == ':')
				bare = false;
		if (bare)
			appendStringInfoString(buf, t);
		else
			escape_json(buf, t);
		return;
	}
	if (member(v, "redacted", &m))
	{
		appendStringInfoString(buf, "(redacted)");
		return;
	}
	if (member(v, "unprinted", &m))
	{
		appendStringInfo(buf, "(a value of type %s, not printed)", or_empty(value_text(&m)));
		return;
	}
	if (member(v, "cut", &m))
	{
		append_value_text(buf, &m);
		appendStringInfo(buf, "%s (cut, %s bytes)", GetDatabaseEncoding() == PG_UTF8 ? "\u2026" : "...",
						 or_empty(member_text(v, "bytes")));
		return;
	}
	appendStringInfoString(buf, value_json(v));
}

/*
 * A write's values (1.3): "col: before -> after, ..." for an update's row,
 * "col: value, ..." for an inserted or deleted row, columns in collation
 * order; with several rows each starts with its key, "(5) col: ...; (6)
 * ...", at most max rows (then "and N more"); NULL without values.  The
 * arrow is U+2192 in a UTF-8 database, "->" elsewhere.
 */
static char *
values_text(const JsonbValue *d, int max)
{
	JsonbValue	values,
				keys,
				row,
				key;
	Pieces		rows;
	int			n,
				i;
	const char *arrow = GetDatabaseEncoding() == PG_UTF8 ? " \u2192 " : " -> ";

	if (!member(d, "values", &values) || !is_array(&values))
		return NULL;
	n = array_size(&values);
	if (n == 0)
		return NULL;
	if (!member(d, "keys", &keys) || !is_array(&keys))
		keys.type = jbvNull;
	pieces_init(&rows, "; ");
	for (i = 0; i < n && i < max; i++)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		SortItem   *items;
		int			k = 0;
		char	   *name = NULL;
		char	   *cols;
		char	   *key_text = NULL;

		array_element(&values, i, &row);
		if (!is_object(&row))
			continue;
		items = palloc(sizeof(SortItem) * (JsonContainerSize(row.val.binary.data) + 1));
		it = JsonbIteratorInit(row.val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			StringInfoData t;

			if (tok == WJB_KEY)
			{
				name = pnstrdup(v.val.string.val, v.val.string.len);
				continue;
			}
			if (tok != WJB_VALUE)
				continue;
			initStringInfo(&t);
			appendStringInfo(&t, "%s: ", name);
			if (is_array(&v) && array_size(&v) == 2)
			{
				JsonbValue	e;

				array_element(&v, 0, &e);
				append_value_text(&t, &e);
				appendStringInfoString(&t, arrow);
				array_element(&v, 1, &e);
				append_value_text(&t, &e);
			}
			else
				append_value_text(&t, &v);
			items[k].key = name;
			items[k].text = t.data;
			k++;
		}
		cols = sorted_join(items, k, ", ");
		if (cols == NULL)
			continue;
		if (n > 1 && keys.type != jbvNull && i < array_size(&keys))
		{
			array_element(&keys, i, &key);
			key_text = one_key_text(&key);
		}
		pieces_add(&rows, key_text ? psprintf("%s ", key_text) : NULL, cols);
	}
	if (!rows.any)
		return NULL;
	if (n > max)
		appendStringInfo(&rows.buf, " and %d more", n - max);
	return rows.buf.data;
}

static char *
write_details(const JsonbValue *d, bool with_table)
{
	Pieces		all;

	pieces_init(&all, ", ");
	if (with_table)
	{
		Pieces		first;
		JsonbValue	keys;

		/* concat_ws(': ', table, rows): '' (not NULL) when both are absent */
		pieces_init(&first, ": ");
		pieces_add(&first, NULL, member_text(d, "table"));
		pieces_add(&first, NULL, rows_text(d));
		pieces_add(&all, NULL, first.buf.data);
		if (member(d, "keys", &keys))
			pieces_add(&all, "keys ", keys_text(&keys, 10));
	}
	else
		pieces_add(&all, NULL, rows_text(d));
	pieces_add(&all, NULL, columns_text(d));
	pieces_add(&all, NULL, values_text(d, 10));
	return all.buf.len > 0 ? all.buf.data : NULL;
}

static char *
log_viewed_details(const JsonbValue *d, Jsonb *doc)
{
	Pieces		p;
	JsonbValue	filters;
	char	   *filters_text = NULL;
	char	   *rows;

	if (member(d, "filters", &filters))
	{
		if (!is_object(&filters))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot call %s on a non-object", "jsonb_each")));
		filters_text = members_text(&filters, false);
	}
	pieces_init(&p, "; ");
	pieces_add(&p, NULL, filters_text ? filters_text : "no filter");
	if (doc && DatumGetBool(DirectFunctionCall2(jsonb_exists, JsonbPGetDatum(doc),
												PointerGetDatum(cstring_to_text("page")))))
		pieces_add(&p, NULL, psprintf("page %s, page size %s", or_empty(member_text(d, "page")),
									  or_empty(member_text(d, "page_size"))));
	rows = member_text(d, "rows");
	pieces_add(&p, NULL, psprintf("%s row%s shown", or_empty(rows),
								  rows && strcmp(rows, "1") == 0 ? "" : "s"));
	return p.buf.data;
}

/*
 * What a row's details say.  d is NULL for NULL details (1.0 read them as
 * '{}'); doc is the jsonb itself for the ? operator.
 */
static char *
action_details(const char *action, const JsonbValue *d, Jsonb *doc, bool with_table)
{
	if (action_is(action, "write_insert") || action_is(action, "write_update") ||
		action_is(action, "write_delete"))
		return write_details(d, with_table);
	if (action_is(action, "ticket_issued"))
		return member_bool(d, "read_only") == 1 ? pstrdup("read-only") : NULL;
	if (action_is(action, "ticket_redeemed"))
		return NULL;
	if (action_is(action, "session_ended"))
		return prefixed("ended by admin ", member_text(d, "ended_by_admin"));
	if (action_is(action, "consent_granted") || action_is(action, "consent_revoked"))
	{
		Pieces		p;

		pieces_init(&p, " ");
		pieces_add(&p, "by ", member_text(d, "by"));
		pieces_add(&p, "until ", member_text(d, "valid_until"));
		return p.buf.data;
	}
	if (action_is(action, "permission_granted") || action_is(action, "permission_revoked"))
		return psprintf("role %s, resource %s", or_empty(member_text(d, "role")),
						or_empty(member_text(d, "resource")));
	if (action_is(action, "setting_changed"))
		return psprintf("%s: %s -> %s", or_empty(member_text(d, "setting")),
						or_empty(member_text(d, "old")), or_empty(member_text(d, "new")));
	if (action_is(action, "relation_bound") || action_is(action, "relation_unbound"))
		return psprintf("%s: %s", or_empty(member_text(d, "kind")), or_empty(member_text(d, "relation")));
	if (action_is(action, "table_tracked") || action_is(action, "table_untracked"))
	{
		Pieces		p;

		pieces_init(&p, ", ");
		pieces_add(&p, NULL, member_text(d, "table"));
		pieces_add(&p, "customer column ", member_text(d, "customer_column"));
		pieces_add(&p, "parent ", member_text(d, "parent"));
		return p.buf.data;
	}
	if (action_is(action, "session_reverted"))
	{
		char	   *rows = member_text(d, "rows");

		return psprintf("session %s: %s row%s put back (%s inserted again, %s updated back, %s deleted)",
						or_empty(member_text(d, "session")), or_empty(rows),
						rows && strcmp(rows, "1") == 0 ? "" : "s", or_empty(member_text(d, "inserted")),
						or_empty(member_text(d, "updated")), or_empty(member_text(d, "deleted")));
	}
	if (action_is(action, "log_values_changed"))
		return psprintf("%s: %s", or_empty(member_text(d, "table")),
						member_bool(d, "log_values") == 1 ? "values logged" : "values not logged");
	if (action_is(action, "column_protected") || action_is(action, "column_unprotected") ||
		action_is(action, "column_redacted") || action_is(action, "column_unredacted"))
	{
		char	   *column = member_text(d, "column");

		return psprintf("%s.%s", or_empty(member_text(d, "table")),
						column ? quote_identifier(column) : "");
	}
	if (action_is(action, "log_viewed"))
		return log_viewed_details(d, doc);
	if (action != NULL && ends_with_refused(action))
	{
		Pieces		p;

		pieces_init(&p, " ");
		pieces_add(&p, NULL, member_text(d, "sqlstate"));
		pieces_add(&p, NULL, member_text(d, "message"));
		pieces_add(&p, NULL, member_text(d, "detail"));
		return p.buf.data;
	}
	/* a note's own fields (not the note: the Action says it), or any other
	 * action's details: "key: value, ..." (1.0 also left "note" out when the
	 * action was NULL) */
	return members_text(d, action == NULL || strcmp(action, "note") == 0);
}

/*
 * loginas._action_details(action text, details jsonb, with_table boolean DEFAULT true) -> text
 */
Datum
loginas_action_details(PG_FUNCTION_ARGS)
{
	JsonbValue	dbuf;
	JsonbValue *d = details_arg(fcinfo, 1, &dbuf);
	char	   *action = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		with_table = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	char	   *t;

	t = action_details(action, d, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), with_table);
	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(t));
}

/* ---------------------------------------------------------------------
 * _row_summary
 * ---------------------------------------------------------------------
 */

static char *
optional_text(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static char *
optional_int8(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : psprintf(INT64_FORMAT, PG_GETARG_INT64(argno));
}

/* a key argument a caller may not pass (1.2's signatures), as loginas prints keys */
static char *
optional_key(FunctionCallInfo fcinfo, int argno)
{
	StringInfoData key;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	initStringInfo(&key);
	loginas_append_key_value(&key, text_to_cstring(PG_GETARG_TEXT_PP(argno)));
	return key.data;
}

/*
 * loginas._row_summary(action text, customer_id bigint, customer_email text,
 *						store_id bigint, session_id bigint, source text,
 *						reason text, details jsonb [, customer_key text
 *						[, store_key text]]) -> text
 *
 * "customer a@b (5); store view 1; session 9; from order 100; reason: ...;
 * <the details>", NULL when there is nothing to say.  A customer or store
 * view whose key is not an integer (customer_id, store_id NULL; 1.3) is named
 * by its key, printed as loginas prints keys: "customer a@b (cus_01H...)",
 * "store view sc_01H...".
 */
Datum
loginas_row_summary(PG_FUNCTION_ARGS)
{
	JsonbValue	dbuf;
	JsonbValue *d = details_arg(fcinfo, 7, &dbuf);
	char	   *customer = optional_int8(fcinfo, 1);
	char	   *email = optional_text(fcinfo, 2);
	char	   *store = optional_int8(fcinfo, 3);
	Pieces		p;

	if (customer == NULL)
		customer = optional_key(fcinfo, 8);
	if (store == NULL)
		store = optional_key(fcinfo, 9);
	pieces_init(&p, "; ");
	if (customer)
		pieces_add(&p, "customer ", email ? psprintf("%s (%s)", email, customer) : customer);
	pieces_add(&p, "store view ", store);
	pieces_add(&p, "session ", optional_int8(fcinfo, 4));
	pieces_add(&p, "from ", optional_text(fcinfo, 5));
	pieces_add(&p, "reason: ", optional_text(fcinfo, 6));
	pieces_add(&p, NULL, action_details(optional_text(fcinfo, 0), d,
										PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7), true));
	if (p.buf.len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p.buf.data));
}

/*
 * A key of any type as the server-log lines name a customer, an admin or a
 * store view: bare when loginas_append_key_value prints it bare and it holds
 * no control character and is not "-" (a line's mark for none), else quoted as a
 * JSON string (DEL as \u007f).  So the part "(admin A, customer C, session S,
 * role R)" of a line is always read one way: a key holding ", customer 7,
 * session 3, role postgres)" cannot make a line name another customer, a
 * session or a role, and no two keys print alike.
 */
char *
loginas_log_key(const char *key)
{
	StringInfoData buf;
	const unsigned char *p;
	bool		bare = strcmp(key, "-") != 0;

	for (p = (const unsigned char *) key; bare && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			bare = false;
	initStringInfo(&buf);
	if (bare)
	{
		loginas_append_key_value(&buf, key);	/* bare, or quoted when it must be */
		return buf.data;
	}
	{
		StringInfoData json;

		initStringInfo(&json);
		escape_json(&json, key);
		for (p = (const unsigned char *) json.data; *p; p++)
		{
			if (*p == 0x7f)
				appendStringInfoString(&buf, "\\u007f");
			else
				appendStringInfoChar(&buf, (char) *p);
		}
		pfree(json.data);
	}
	return buf.data;
}
