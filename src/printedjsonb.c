/*
 * printedjsonb.c
 *		A jsonb value from the very text jsonb prints of it.
 *
 * The write log (writelog.c) builds each log row's details as text, in the
 * form jsonb prints (an object's keys in jsonb's order -- the shorter first,
 * then bytewise --, ", " and ": " between, strings escaped as escape_json()
 * escapes them, integers in their plain digits).  The log row's hash covers
 * that printed text (logappend.c), and the details are stored as jsonb.
 * jsonb_in() would get the jsonb from the text, but it parses a general JSON
 * text: its lexer, its parse states, sorting and deduplicating every object's
 * keys -- most of what a session's bulk write costs at commit.
 *
 * loginas_jsonb_from_printed() reads only text that is exactly what jsonb
 * prints: every object's keys strictly in jsonb's order, no whitespace but
 * the separators', every string as escape_json() writes it, every number a
 * plain integer.  From it, it builds the JsonbValue tree directly (objects'
 * pairs already in order) and makes the jsonb of it.  Anything else -- text
 * written some other way -- gives NULL, and the caller takes jsonb_in() and
 * the jsonb's own print instead: the hash stays the hash of what is stored,
 * which verify_log() recomputes from the stored jsonb.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "loginas.h"

typedef struct Reader
{
	const char *p;
	const char *end;
	StringInfoData scratch;		/* a string's escapes written again */
} Reader;

static bool read_value(Reader *r, JsonbValue *v);

/* most members of an array or object: what a jsonb header counts, and memory holds */
#define MAX_ELEMS ((int) Min(JB_CMASK, MaxAllocSize / sizeof(JsonbValue)))
#define MAX_PAIRS ((int) Min(JB_CMASK, MaxAllocSize / sizeof(JsonbPair)))

/* jsonb's order of an object's keys */
static int
key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len ? -1 : 1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

static bool
expect(Reader *r, const char *what)
{
	size_t		n = strlen(what);

	if ((size_t) (r->end - r->p) < n || memcmp(r->p, what, n) != 0)
		return false;
	r->p += n;
	return true;
}

/*
 * A string, as escape_json() writes it: without a backslash it points into
 * the text; with one it is decoded, and escape_json() must write it back
 * byte for byte
 */
static bool
read_string(Reader *r, JsonbValue *v)
{
	const char *start;
	bool		escaped = false;
	char	   *out;
	int			n = 0;

	if (!expect(r, "\""))
		return false;
	start = r->p;
	while (r->p < r->end && *r->p != '"')
	{
		if ((unsigned char) *r->p < 0x20)
			return false;		/* escape_json() would have escaped it */
		if (*r->p == '\\')
		{
			escaped = true;
			if (r->p + 1 >= r->end)
				return false;
			r->p++;
		}
		r->p++;
	}
	if (r->p >= r->end)
		return false;
	v->type = jbvString;
	if (!escaped)
	{
		v->val.string.val = (char *) start;
		v->val.string.len = r->p - start;
		r->p++;
		return true;
	}

	/* decode; then it must be exactly what escape_json() writes of it */
	out = palloc(r->p - start + 1);
	for (const char *s = start; s < r->p; s++)
	{
		if (*s != '\\')
		{
			out[n++] = *s;
			continue;
		}
		s++;
		switch (*s)
		{
			case '"':
			case '\\':
			case '/':
				out[n++] = *s;
				break;
			case 'b':
				out[n++] = '\b';
				break;
			case 'f':
				out[n++] = '\f';
				break;
			case 'n':
				out[n++] = '\n';
				break;
			case 'r':
				out[n++] = '\r';
				break;
			case 't':
				out[n++] = '\t';
				break;
			case 'u':
				{
					int			c = 0;

					if (r->p - s < 5)
						return false;
					for (int k = 1; k <= 4; k++)
					{
						char		h = s[k];

						c <<= 4;
						if (h >= '0' && h <= '9')
							c |= h - '0';
						else if (h >= 'a' && h <= 'f')
							c |= h - 'a' + 10;
						else if (h >= 'A' && h <= 'F')
							c |= h - 'A' + 10;
						else
							return false;
					}
					/* escape_json() writes \u only for control characters */
					if (c == 0 || c >= 0x20)
						return false;
					out[n++] = (char) c;
					s += 4;
				}
				break;
			default:
				return false;
		}
	}
	out[n] = '\0';
	resetStringInfo(&r->scratch);
	escape_json(&r->scratch, out);
	if (r->scratch.len != (r->p - start) + 2 ||
		memcmp(r->scratch.data + 1, start, r->p - start) != 0)
		return false;
	v->val.string.val = out;
	v->val.string.len = n;
	r->p++;
	return true;
}

/* an integer as numeric_out() prints it: no sign but '-', no leading zero */
static bool
read_integer(Reader *r, JsonbValue *v)
{
	const char *start = r->p;
	bool		negative = false;
	int64		value = 0;
	int			digits = 0;

	if (r->p < r->end && *r->p == '-')
	{
		negative = true;
		r->p++;
	}
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
	{
		value = value * 10 + (*r->p - '0');
		r->p++;
		if (++digits > 18)
			return false;
	}
	if (digits == 0 || (start[negative ? 1 : 0] == '0' && (digits > 1 || negative)))
		return false;
	if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
		return false;
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(negative ? -value : value);
	return true;
}

static bool
read_array(Reader *r, JsonbValue *v)
{
	int			size = 8;

	v->type = jbvArray;
	v->val.array.nElems = 0;
	v->val.array.rawScalar = false;
	v->val.array.elems = palloc(sizeof(JsonbValue) * size);
	r->p++;
	if (expect(r, "]"))
		return true;
	for (;;)
	{
		if (v->val.array.nElems >= MAX_ELEMS)
			return false;
		if (v->val.array.nElems == size)
		{
			size *= 2;
			v->val.array.elems = repalloc(v->val.array.elems, sizeof(JsonbValue) * size);
		}
		if (!read_value(r, &v->val.array.elems[v->val.array.nElems]))
			return false;
		v->val.array.nElems++;
		if (expect(r, "]"))
			return true;
		if (!expect(r, ", "))
			return false;
	}
}

static bool
read_object(Reader *r, JsonbValue *v)
{
	int			size = 8;

	v->type = jbvObject;
	v->val.object.nPairs = 0;
	v->val.object.pairs = palloc(sizeof(JsonbPair) * size);
	r->p++;
	if (expect(r, "}"))
		return true;
	for (;;)
	{
		JsonbPair  *pair;

		if (v->val.object.nPairs >= MAX_PAIRS)
			return false;
		if (v->val.object.nPairs == size)
		{
			size *= 2;
			v->val.object.pairs = repalloc(v->val.object.pairs, sizeof(JsonbPair) * size);
		}
		pair = &v->val.object.pairs[v->val.object.nPairs];
		if (!read_string(r, &pair->key) || !expect(r, ": ") || !read_value(r, &pair->value))
			return false;
		/* strictly after the key before it: jsonb's order, no key twice */
		if (v->val.object.nPairs > 0 && key_cmp(&pair[-1].key, &pair->key) >= 0)
			return false;
		pair->order = v->val.object.nPairs++;
		if (expect(r, "}"))
			return true;
		if (!expect(r, ", "))
			return false;
	}
}

static bool
read_value(Reader *r, JsonbValue *v)
{
	check_stack_depth();
	if (r->p >= r->end)
		return false;
	switch (*r->p)
	{
		case '{':
			return read_object(r, v);
		case '[':
			return read_array(r, v);
		case '"':
			return read_string(r, v);
		case 'n':
			v->type = jbvNull;
			return expect(r, "null");
		case 't':
			v->type = jbvBool;
			v->val.boolean = true;
			return expect(r, "true");
		case 'f':
			v->type = jbvBool;
			v->val.boolean = false;
			return expect(r, "false");
		default:
			return read_integer(r, v);
	}
}

/*
 * The jsonb of an object printed as jsonb prints it (text, len bytes);
 * (Datum) 0 when the text is anything else
 */
Datum
loginas_jsonb_from_printed(const char *text, int len)
{
	MemoryContext tree_cxt = AllocSetContextCreate(CurrentMemoryContext, "loginas printed jsonb",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tree_cxt);
	Reader		r;
	JsonbValue	root;
	Jsonb	   *result = NULL;
	bool		ok;

	r.p = text;
	r.end = text + len;
	initStringInfo(&r.scratch);
	ok = len > 0 && *text == '{' && read_value(&r, &root) && r.p == r.end;
	MemoryContextSwitchTo(old);
	if (ok)
		result = JsonbValueToJsonb(&root);
	MemoryContextDelete(tree_cxt);
	return PointerGetDatum(result);
}

/* loginas._printed_jsonb(text) -> jsonb: the same, from SQL (NULL: not that text) */
PG_FUNCTION_INFO_V1(loginas_printed_jsonb);

Datum
loginas_printed_jsonb(PG_FUNCTION_ARGS)
{
	text	   *printed = PG_GETARG_TEXT_PP(0);
	Datum		result = loginas_jsonb_from_printed(VARDATA_ANY(printed), VARSIZE_ANY_EXHDR(printed));

	if (result == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
