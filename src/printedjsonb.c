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
 * plain integer.  From it, it writes jsonb's binary form directly, in one
 * pass over the text and without a JsonbValue tree: the objects' pairs are
 * already in jsonb's order, so each array or object is laid out as jsonb
 * lays it out (jsonb.h: a header, the members' JEntries -- an object's keys'
 * before its values' --, then their data, numerics and containers aligned on
 * an int) as soon as it closes, into the data of the one around it -- or,
 * when big, left where it is and written in its place with the result.  The
 * result is byte for byte what jsonb_in() makes of the same text
 * (loginas._printed_jsonb_check() tells, for the tests).  Anything else --
 * text written some other way, or past the bounds of the reader (members,
 * depth) -- gives NULL, and the caller takes jsonb_in() and the jsonb's own
 * print instead: the hash stays the hash of what is stored, which
 * verify_log() recomputes from the stored jsonb.
 *
 * What escape_json() writes is spelled out here (decode_string()) rather
 * than checked by calling it again: it has written the same on every major
 * loginas builds for.
 */
#include "postgres.h"

#if defined(__SSE2__) && !defined(LOGINAS_NO_SIMD)
#include <emmintrin.h>
#endif

#include "fmgr.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "loginas.h"

/*
 * Most members of an array or object read, those of the JsonbValue tree
 * this reader built before it wrote jsonb directly, so that it reads the
 * same texts: what a jsonb header counts, what an array of JsonbValues or
 * JsonbPairs in memory holds, and what that array, doubled from 8 members
 * while within MaxAllocSize, held (past it, the tree's reader failed: 2^24
 * elements, 2^23 pairs with 64-bit pointers).  Past them a text goes to
 * jsonb_in(), which has bounds of its own.
 */
static int
member_limit(Size member_size)
{
	Size		n = 8;

	while (n * 2 * member_size <= MaxAllocSize)
		n *= 2;
	return (int) Min(n, Min(JB_CMASK, MaxAllocSize / member_size));
}

/*
 * Members of one array or object as they are read, laid out as jsonb lays
 * them out: each member's JEntry and its data.  An object has two: its keys'
 * and its values', since jsonb puts all the keys before all the values.  A
 * JEntry holds the type and the length of its member's data, and every
 * JB_OFFSET_STRIDE'th the end offset of that data instead: an array's
 * elements and an object's keys get theirs as they are read (their index is
 * known then); an object's values follow its keys, of a count known at the
 * close, and get theirs when the object is written.
 */
typedef struct Part
{
	JEntry	   *entries;
	int			nentries;
	int			maxentries;
	char	   *data;
	Size		len;
	Size		cap;
	Size		spliced;		/* of the laid-out data, in spliced containers */
	int			next_offset;	/* the next member given its offset as read */
	bool		keys;			/* an object's keys: always written (too_big) */
	bool		object;			/* an object's keys or values */
	bool		aligned;		/* holds a numeric or a container */
} Part;

/*
 * A container of SPLICE_MIN bytes or more is not copied into the data of the
 * one around it but spliced into it: it keeps its own level (the depth it
 * was read at gets a new one), and is written in its place, at the offset it
 * has in the laid-out data, only when the root is written -- into the
 * result.  A text's big containers are then copied once, and the root's data
 * is not built apart from the result.
 */
#define SPLICE_MIN 32768

typedef struct Level Level;

typedef struct Splice
{
	Size		at;				/* its offset in the values' laid-out data */
	Level	   *child;
	bool		object;
} Splice;

/* the array or object being read at one depth (reused by the next one there) */
struct Level
{
	Part		keys;			/* an object's keys */
	Part		values;			/* an object's values, an array's elements */
	Splice	   *splices;		/* containers spliced into the values, in order */
	int			nsplices;
	int			maxsplices;
	Size		size;			/* as laid out, once closed */
};

typedef struct Reader
{
	const char *p;
	const char *end;
	Level	  **levels;			/* by depth, the root object's 0 */
	int			nlevels;
	Part		spare;			/* an object's values laid out again */

	/*
	 * Some container's data goes beyond what a JEntry can tell: the text
	 * cannot become jsonb.  From then on the values' data no longer grows
	 * (the keys' still does, for the order check), and the text is
	 * read to its end all the same: not jsonb's print, it gives NULL as any
	 * other; jsonb's print, an error (jsonb_in() fails on it too), which
	 * names an array or an object as the tree's conversion to jsonb did: the
	 * first container found too big.
	 */
	bool		too_big;
	bool		too_big_array;

	int			max_elems;		/* member_limit() of an array */
	int			max_pairs;		/* and of an object */
} Reader;

/* room left past a part's data for a string's first chunk at once */
#define SLACK 16

static bool read_nested(Reader *r, int depth, Level *parent, bool object);

static void
part_init(Part *part, bool keys, int nentries, Size cap)
{
	part->entries = palloc(sizeof(JEntry) * nentries);
	part->nentries = 0;
	part->maxentries = nentries;
	part->data = palloc(cap);
	part->len = 0;
	part->cap = cap;
	part->spliced = 0;
	part->keys = keys;
	part->object = true;
	part->next_offset = 0;
	part->aligned = false;
}

static pg_noinline void
part_grow(Part *part, Size n)
{
	Size		cap = Max(part->cap * 2, part->len + n + SLACK);

	part->data = repalloc_huge(part->data, cap);
	part->cap = cap;
}

static Level *
new_level(void)
{
	Level	   *lv = palloc(sizeof(Level));

	part_init(&lv->keys, true, 8, 64);
	part_init(&lv->values, false, 8, 256);
	lv->splices = NULL;
	lv->nsplices = lv->maxsplices = 0;
	lv->size = 0;
	return lv;
}

/* the length of a part's data as laid out, spliced containers included */
static inline Size
part_end(const Part *part)
{
	return part->len + part->spliced;
}

/* room for n more bytes of a part's data; NULL: no longer written (too_big) */
static inline char *
part_room(Reader *r, Part *part, Size n)
{
	if (unlikely(r->too_big) && !part->keys)
		return NULL;
	if (unlikely(part->cap - part->len < n))
		part_grow(part, n);
	return part->data + part->len;
}

/* the container being written is too big for jsonb (object: an object) */
static pg_noinline void
set_too_big(Reader *r, bool object)
{
	if (!r->too_big)
		r->too_big_array = !object;
	r->too_big = true;
}

/* n bytes written at part_room() */
static inline void
part_wrote(Reader *r, Part *part, Size n)
{
	part->len += n;
	if (unlikely(part->len > JENTRY_OFFLENMASK))
		set_too_big(r, part->object);
}

/*
 * The JEntry of the member whose len bytes of data were just written (the
 * members' count is bounded by max_elems, max_pairs)
 */
static inline void
part_entry(Part *part, JEntry type, Size len)
{
	JEntry		entry = type | (JEntry) len;

	if (part->nentries == part->next_offset)
	{
		entry = type | JENTRY_HAS_OFF | (JEntry) part_end(part);
		part->next_offset += JB_OFFSET_STRIDE;
	}
	if (unlikely(part->nentries == part->maxentries))
	{
		part->maxentries *= 2;
		part->entries = repalloc(part->entries, sizeof(JEntry) * part->maxentries);
	}
	part->entries[part->nentries++] = entry;
}

/* the zero bytes jsonb puts before a numeric or container at offset off */
static inline Size
pad_at(Size off)
{
	return INTALIGN(off) - off;
}

/*
 * Strings are scanned, and a plain one copied, a chunk at a time: sixteen
 * bytes with SSE2, else eight in a word on a little-endian machine, else
 * byte by byte (LOGINAS_NO_SIMD and LOGINAS_NO_WORDS try the others on any
 * machine).
 * chunk_stops() flags the bytes that end the plain run of a string -- a '"',
 * a backslash, a control character (which escape_json() escapes) --, and
 * first_stop() gives the first of them when any is.
 */
#if defined(__SSE2__) && !defined(LOGINAS_NO_SIMD)
#define CHUNK 16
typedef __m128i Chunk;

static inline Chunk
chunk_load(const char *p)
{
	return _mm_loadu_si128((const __m128i *) p);
}

static inline void
chunk_store(char *p, Chunk chunk)
{
	_mm_storeu_si128((__m128i *) p, chunk);
}

/* one bit a byte; a control character is its minimum with 0x1f, unsigned */
static inline uint64
chunk_stops(Chunk chunk)
{
	__m128i		hits;

	hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')),
									 _mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\'))),
						_mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1f)), chunk));
	return (uint32) _mm_movemask_epi8(hits);
}

static inline int
first_stop(uint64 stops)
{
	return pg_rightmost_one_pos32((uint32) stops);
}
#elif !defined(WORDS_BIGENDIAN) && !defined(LOGINAS_NO_WORDS)
#define CHUNK 8
typedef uint64 Chunk;

static inline Chunk
chunk_load(const char *p)
{
	uint64		word;

	memcpy(&word, p, sizeof(word));
	return word;
}

static inline void
chunk_store(char *p, Chunk chunk)
{
	memcpy(p, &chunk, sizeof(chunk));
}

#define BYTES(c) (UINT64CONST(0x0101010101010101) * (uint8) (c))

/*
 * The high bit of each byte below c; a borrow may flag a byte above one
 * that is, never one below: the lowest flagged byte is below c
 */
static inline uint64
bytes_below(uint64 word, uint8 c)
{
	return (word - BYTES(c)) & ~word & BYTES(0x80);
}

static inline uint64
chunk_stops(Chunk word)
{
	return bytes_below(word ^ BYTES('"'), 1) | bytes_below(word ^ BYTES('\\'), 1) |
		bytes_below(word, 0x20);
}

#undef BYTES

static inline int
first_stop(uint64 stops)
{
	return pg_rightmost_one_pos64(stops) / 8;
}
#endif

/* the first byte from s that ends the plain run of a string; end if none */
static inline const char *
scan_string(const char *s, const char *end)
{
#ifdef CHUNK
	while (end - s >= CHUNK)
	{
		uint64		stops = chunk_stops(chunk_load(s));

		if (stops != 0)
			return s + first_stop(stops);
		s += CHUNK;
	}
#endif
	while (s < end && *s != '"' && *s != '\\' && (unsigned char) *s >= 0x20)
		s++;
	return s;
}

/*
 * The bytes of a string with a backslash in it ([s, end): between the
 * quotes), decoded into out (when not NULL), their count into *n; false when
 * escape_json() would not have written them so: it writes \" \\ \b \f \n \r
 * \t, any other control character as \u00xx in lower case, and nothing else
 * escaped
 */
static bool
decode_string(const char *s, const char *end, char *out, Size *n)
{
	Size		len = 0;

	while (s < end)
	{
		char		c = *s++;

		if (c == '\\')
		{
			/* the closing quote was found past each backslash's byte */
			switch (*s++)
			{
				case '"':
					c = '"';
					break;
				case '\\':
					c = '\\';
					break;
				case 'b':
					c = '\b';
					break;
				case 'f':
					c = '\f';
					break;
				case 'n':
					c = '\n';
					break;
				case 'r':
					c = '\r';
					break;
				case 't':
					c = '\t';
					break;
				case 'u':
					if (end - s < 4 || s[0] != '0' || s[1] != '0' || (s[2] != '0' && s[2] != '1'))
						return false;
					if (s[3] >= '0' && s[3] <= '9')
						c = (s[2] - '0') * 16 + (s[3] - '0');
					else if (s[3] >= 'a' && s[3] <= 'f')
						c = (s[2] - '0') * 16 + (s[3] - 'a' + 10);
					else
						return false;
					/* not \u0000 (jsonb has no NUL), not one of the short ones */
					if (c == '\0' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
						return false;
					s += 4;
					break;
				default:
					return false;
			}
		}
		if (out)
			out[len] = c;
		len++;
	}
	*n = len;
	return true;
}

/* read_string() beyond a short plain string */
static pg_noinline bool
read_string_slow(Reader *r, Part *dest)
{
	const char *start = r->p;
	const char *s;
	Size		n;
	char	   *out;

#ifdef CHUNK
	/* a longer plain one: stored a chunk at a time, as scanned */
	s = start;
	out = dest->data + dest->len;
	while (r->end - s >= CHUNK && dest->data + dest->cap - out >= CHUNK)
	{
		Chunk		chunk = chunk_load(s);
		uint64		stops = chunk_stops(chunk);

		chunk_store(out, chunk);
		if (stops != 0)
		{
			s += first_stop(stops);
			if (*s != '"')
				break;
			n = s - start;
			part_wrote(r, dest, n);
			part_entry(dest, JENTRY_ISSTRING, n);
			r->p = s + 1;
			return true;
		}
		s += CHUNK;
		out += CHUNK;
	}
#endif
	s = scan_string(start, r->end);
	if (s < r->end && *s == '"')
	{
		/* nothing escaped: the bytes as they are */
		n = s - start;
		out = part_room(r, dest, n);
		if (out)
		{
			memcpy(out, start, n);
			part_wrote(r, dest, n);
		}
	}
	else
	{
		/* the closing quote, each backslash's next byte skipped */
		while (s < r->end && *s != '"')
		{
			if (*s != '\\' || r->end - s < 2)
				return false;	/* a control character, or the text's end */
			s = scan_string(s + 2, r->end);
		}
		if (s >= r->end)
			return false;
		/* the decoded string is no longer than the escaped one */
		out = part_room(r, dest, s - start);
		if (!decode_string(start, s, out, &n))
			return false;
		if (out)
			part_wrote(r, dest, n);
	}
	part_entry(dest, JENTRY_ISSTRING, n);
	r->p = s + 1;
	return true;
}

/* a string, its opening quote read, as the next member of dest */
static pg_attribute_always_inline bool
read_string(Reader *r, Part *dest)
{
#ifdef CHUNK
	const char *start = r->p;

	/*
	 * Most strings end within a chunk and have nothing escaped: they are
	 * stored as they were loaded to be scanned (the bytes past the string
	 * land in the part's slack, and count for nothing).  When too_big, a
	 * part's data may still fill the room it has, not grow.
	 */
	if (likely(r->end - start >= CHUNK && dest->cap - dest->len >= CHUNK))
	{
		Chunk		chunk = chunk_load(start);
		uint64		stops = chunk_stops(chunk);

		if (likely(stops != 0))
		{
			int			n = first_stop(stops);

			if (likely(start[n] == '"'))
			{
				chunk_store(dest->data + dest->len, chunk);
				part_wrote(r, dest, n);
				part_entry(dest, JENTRY_ISSTRING, n);
				r->p = start + n + 1;
				return true;
			}
		}
	}
#endif
	return read_string_slow(r, dest);
}

/*
 * An integer as numeric_out() prints it, at most 18 digits: no sign but '-',
 * no leading zero
 */
static bool
read_integer(Reader *r, Part *dest)
{
	const char *s = r->p;
	const char *digits;
	bool		negative = false;
	int64		value = 0;
	Numeric		num;
	Size		pad,
				size;
	char	   *out;

	if (s < r->end && *s == '-')
	{
		negative = true;
		s++;
	}
	digits = s;
	while (s < r->end && *s >= '0' && *s <= '9')
	{
		if (s - digits == 18)
			return false;
		value = value * 10 + (*s++ - '0');
	}
	if (s == digits || (*digits == '0' && (s - digits > 1 || negative)))
		return false;
	if (s < r->end && (*s == '.' || *s == 'e' || *s == 'E'))
		return false;
	r->p = s;

	dest->aligned = true;
	if (r->too_big)
	{
		part_entry(dest, JENTRY_ISNUMERIC, 0);
		return true;
	}
	num = int64_to_numeric(negative ? -value : value);
	size = VARSIZE_ANY(num);
	pad = pad_at(part_end(dest));
	out = part_room(r, dest, pad + size);
	memset(out, 0, pad);
	memcpy(out + pad, num, size);
	part_wrote(r, dest, pad + size);
	pfree(num);
	part_entry(dest, JENTRY_ISNUMERIC, pad + size);
	return true;
}

/* a literal, as the next member of dest */
static inline bool
read_literal(Reader *r, const char *word, int len, JEntry type, Part *dest)
{
	if (r->end - r->p < len || memcmp(r->p, word, len) != 0)
		return false;
	r->p += len;
	part_entry(dest, type, 0);
	return true;
}

/* a value, as the next member of the values of lv (the container at depth) */
static pg_attribute_always_inline bool
read_value(Reader *r, int depth, Level *lv)
{
	Part	   *dest = &lv->values;

	if (r->p >= r->end)
		return false;
	switch (*r->p)
	{
		case '"':
			r->p++;
			return read_string(r, dest);
		case '{':
			return read_nested(r, depth + 1, lv, true);
		case '[':
			return read_nested(r, depth + 1, lv, false);
		case 'n':
			return read_literal(r, "null", 4, JENTRY_ISNULL, dest);
		case 't':
			return read_literal(r, "true", 4, JENTRY_ISBOOL_TRUE, dest);
		case 'f':
			return read_literal(r, "false", 5, JENTRY_ISBOOL_FALSE, dest);
		default:
			return read_integer(r, dest);
	}
}

/*
 * An object's values laid out again where their data really starts, after
 * the keys', when that is not on an int: their padding was counted from the
 * start of the values' own data
 */
static void
realign_values(Reader *r, Level *lv)
{
	Part	   *from = &lv->values;
	Part	   *to = &r->spare;
	Part		swap;
	Size		off = 0;		/* a value's offset, as laid out before */
	Size		at = 0;			/* and in from->data */
	int			splice = 0;

	to->len = 0;
	to->spliced = 0;
	for (int i = 0; i < from->nentries; i++)
	{
		JEntry		entry = from->entries[i];
		Size		len = JBE_OFFLENFLD(entry);
		Size		skip = 0;
		Size		pad = 0;
		Size		content;
		bool		spliced;
		char	   *out;

		if (JBE_ISNUMERIC(entry) || JBE_ISCONTAINER(entry))
		{
			skip = pad_at(off);
			pad = pad_at(lv->keys.len + part_end(to));
		}
		content = len - skip;
		/* a spliced container: only its padding is in the data */
		spliced = JBE_ISCONTAINER(entry) && splice < lv->nsplices &&
			lv->splices[splice].at == off + skip;
		out = part_room(r, to, pad + (spliced ? 0 : content));
		if (out == NULL)
			return;				/* too big: nothing more is written */
		memset(out, 0, pad);
		part_wrote(r, to, pad);
		if (spliced)
		{
			lv->splices[splice++].at = part_end(to);
			to->spliced += content;
			at += skip;
		}
		else
		{
			memcpy(out + pad, from->data + at + skip, content);
			part_wrote(r, to, content);
			at += len;
		}
		from->entries[i] = (entry & JENTRY_TYPEMASK) | (JEntry) (pad + content);
		off += len;
	}
	/* the values' data is now the spare's, and the old one the spare */
	swap = *to;
	to->data = from->data;
	to->cap = from->cap;
	from->data = swap.data;
	from->cap = swap.cap;
	from->len = swap.len;
	from->spliced = swap.spliced;
}

/* the size of the array or object read at lv, as jsonb lays it out */
static Size
container_size(Reader *r, Level *lv, bool object)
{
	Size		size;

	if (r->too_big)
		return 0;
	if (object && lv->values.aligned && INTALIGN(lv->keys.len) != lv->keys.len)
		realign_values(r, lv);
	size = sizeof(uint32) + sizeof(JEntry) * ((Size) lv->keys.nentries + lv->values.nentries) +
		lv->keys.len + part_end(&lv->values);
	if (size > JENTRY_OFFLENMASK)
		set_too_big(r, object);
	lv->size = size;
	return size;
}

/*
 * The array or object read at lv, written at out: its spliced containers
 * too, in their places.  Its place in the laid-out jsonb is int-aligned, but
 * out, in a part's scratch data before the containers spliced ahead of it,
 * need not be: everything is stored with memcpy.
 */
static void
write_container(Level *lv, bool object, char *out)
{
	int			nkeys = lv->keys.nentries;
	int			nvalues = lv->values.nentries;
	uint32		header = (uint32) (object ? nkeys | JB_FOBJECT : nvalues | JB_FARRAY);
	char	   *entries = out + sizeof(uint32);
	char	   *data = entries + sizeof(JEntry) * ((Size) nkeys + nvalues);
	char	   *values = data + lv->keys.len;
	Size		done = 0;		/* of the values' laid-out data */
	Size		at = 0;			/* and of lv->values.data */

	memcpy(out, &header, sizeof(header));
	if (nkeys > 0)
		memcpy(entries, lv->keys.entries, sizeof(JEntry) * nkeys);
	memcpy(entries + sizeof(JEntry) * nkeys, lv->values.entries, sizeof(JEntry) * nvalues);

	/*
	 * An object's values: the (nkeys + i)'th JEntry in the container; with
	 * more than 16 pairs some are JB_OFFSET_STRIDE'th, and get their end
	 * offset, counted from the start of the keys' data
	 */
	if (object && nkeys > JB_OFFSET_STRIDE / 2)
	{
		uint32		offset = (uint32) lv->keys.len;

		for (int i = 0; i < nvalues; i++)
		{
			JEntry		entry = lv->values.entries[i];

			offset += JBE_OFFLENFLD(entry);
			if ((nkeys + i) % JB_OFFSET_STRIDE == 0)
			{
				JEntry		with_offset = (entry & JENTRY_TYPEMASK) | offset | JENTRY_HAS_OFF;

				memcpy(entries + sizeof(JEntry) * ((Size) nkeys + i), &with_offset, sizeof(JEntry));
			}
		}
	}
	if (nkeys > 0)
		memcpy(data, lv->keys.data, lv->keys.len);
	for (int i = 0; i < lv->nsplices; i++)
	{
		Splice	   *splice = &lv->splices[i];
		Size		before = splice->at - done;

		/* the data up to it, then it */
		memcpy(values + done, lv->values.data + at, before);
		at += before;
		write_container(splice->child, splice->object, values + splice->at);
		done = splice->at + splice->child->size;
	}
	memcpy(values + done, lv->values.data + at, lv->values.len - at);
}

/* whether a sorts strictly before b, both len bytes (memcmp's order) */
static inline bool
bytes_before(const char *a, const char *b, Size len)
{
	if (len > 16)
		return memcmp(a, b, len) < 0;
	for (Size i = 0; i < len; i++)
	{
		if (a[i] != b[i])
			return (unsigned char) a[i] < (unsigned char) b[i];
	}
	return false;
}

/*
 * An array or object, at its opening bracket, read into the level of its
 * depth
 */
static bool
read_container(Reader *r, int depth, bool object)
{
	char		close = object ? '}' : ']';
	Level	   *lv;
	Size		prevlen = 0;	/* an object's key before, its length */

	/*
	 * Nested deeper than this reader's recursion goes: refused, jsonb_in()
	 * decides.  It fails where its own conversion's recursion does, as the
	 * JsonbValue tree's reader did (the same conversion), and makes the
	 * same jsonb below that.
	 */
	if (stack_is_too_deep())
		return false;
	if (depth == r->nlevels)
	{
		r->levels = repalloc(r->levels, sizeof(Level *) * (depth + 1));
		r->levels[r->nlevels++] = new_level();
	}
	lv = r->levels[depth];
	lv->keys.nentries = lv->values.nentries = 0;
	lv->keys.len = lv->values.len = 0;
	lv->values.spliced = 0;
	lv->keys.next_offset = 0;
	lv->values.next_offset = object ? PG_INT32_MAX : 0;
	lv->values.object = object;
	lv->values.aligned = false;
	lv->nsplices = 0;

	r->p++;
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		return true;
	}
	for (;;)
	{
		if (object)
		{
			Size		key = lv->keys.len;
			Size		keylen;

			if (lv->keys.nentries >= r->max_pairs)
				return false;
			if (r->p >= r->end || *r->p != '"')
				return false;
			r->p++;
			if (!read_string(r, &lv->keys))
				return false;
			keylen = lv->keys.len - key;
			if (r->end - r->p < 2 || memcmp(r->p, ": ", 2) != 0)
				return false;
			r->p += 2;
			if (!read_value(r, depth, lv))
				return false;

			/*
			 * strictly after the key before it, which ends where it starts
			 * (jsonb's order, no key twice)
			 */
			if (lv->keys.nentries > 1 &&
				(prevlen > keylen ||
				 (prevlen == keylen &&
				  !bytes_before(lv->keys.data + key - prevlen, lv->keys.data + key, keylen))))
				return false;
			prevlen = keylen;
		}
		else
		{
			if (lv->values.nentries >= r->max_elems)
				return false;
			if (!read_value(r, depth, lv))
				return false;
		}
		if (likely(r->end - r->p >= 2 && memcmp(r->p, ", ", 2) == 0))
			r->p += 2;
		else if (r->p < r->end && *r->p == close)
		{
			r->p++;
			return true;
		}
		else
			return false;
	}
}

/*
 * An array or object, at its opening bracket, as the next member of the
 * values of parent: copied into their data, or spliced into it
 */
static pg_noinline bool
read_nested(Reader *r, int depth, Level *parent, bool object)
{
	Part	   *dest = &parent->values;
	Level	   *lv;
	Size		size,
				pad;
	char	   *out;

	if (!read_container(r, depth, object))
		return false;
	lv = r->levels[depth];
	size = container_size(r, lv, object);
	pad = pad_at(part_end(dest));
	if (size < SPLICE_MIN)
	{
		out = part_room(r, dest, pad + size);
		if (out)
		{
			memset(out, 0, pad);
			write_container(lv, object, out + pad);
			part_wrote(r, dest, pad + size);
		}
	}
	else if (!r->too_big)
	{
		/* its padding only; it keeps its level, and the depth gets a new one */
		out = part_room(r, dest, pad);
		memset(out, 0, pad);
		part_wrote(r, dest, pad);
		if (parent->nsplices == parent->maxsplices)
		{
			parent->maxsplices = Max(8, parent->maxsplices * 2);
			parent->splices = parent->splices ?
				repalloc(parent->splices, sizeof(Splice) * parent->maxsplices) :
				palloc(sizeof(Splice) * parent->maxsplices);
		}
		parent->splices[parent->nsplices].at = part_end(dest);
		parent->splices[parent->nsplices].child = lv;
		parent->splices[parent->nsplices].object = object;
		parent->nsplices++;
		dest->spliced += size;
		r->levels[depth] = new_level();
	}
	dest->aligned = true;
	part_entry(dest, JENTRY_ISCONTAINER, pad + size);
	return true;
}

/*
 * The jsonb of an object printed as jsonb prints it (text, len bytes);
 * (Datum) 0 when the text is anything else
 */
Datum
loginas_jsonb_from_printed(const char *text, int len)
{
	MemoryContext read_cxt = AllocSetContextCreate(CurrentMemoryContext, "loginas printed jsonb",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(read_cxt);
	Reader		r;
	Jsonb	   *result = NULL;
	bool		ok;

	r.p = text;
	r.end = text + len;
	r.levels = palloc(sizeof(Level *));
	r.nlevels = 0;
	part_init(&r.spare, false, 1, 256);
	r.too_big = r.too_big_array = false;
	r.max_elems = member_limit(sizeof(JsonbValue));
	r.max_pairs = member_limit(sizeof(JsonbPair));
	ok = len > 0 && *text == '{' && read_container(&r, 0, true) && r.p == r.end;
	if (ok)
	{
		Size		size = container_size(&r, r.levels[0], true);

		if (r.too_big && r.too_big_array)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
							JENTRY_OFFLENMASK)));
		if (r.too_big)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("total size of jsonb object elements exceeds the maximum of %d bytes",
							JENTRY_OFFLENMASK)));
		result = MemoryContextAlloc(old, VARHDRSZ + size);
		SET_VARSIZE(result, VARHDRSZ + size);
		write_container(r.levels[0], true, VARDATA(result));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(read_cxt);
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

/*
 * loginas._printed_jsonb_check(text) -> boolean, for the tests: whether the
 * jsonb read from the text is byte for byte the one jsonb_in() makes of it
 * (NULL: not the text jsonb prints)
 */
PG_FUNCTION_INFO_V1(loginas_printed_jsonb_check);

Datum
loginas_printed_jsonb_check(PG_FUNCTION_ARGS)
{
	text	   *printed = PG_GETARG_TEXT_PP(0);
	Datum		mine = loginas_jsonb_from_printed(VARDATA_ANY(printed), VARSIZE_ANY_EXHDR(printed));
	Datum		theirs;

	if (mine == (Datum) 0)
		PG_RETURN_NULL();
	theirs = DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(printed)));
	PG_RETURN_BOOL(VARSIZE(DatumGetPointer(mine)) == VARSIZE(DatumGetPointer(theirs)) &&
				   memcmp(DatumGetPointer(mine), DatumGetPointer(theirs),
						  VARSIZE(DatumGetPointer(mine))) == 0);
}
