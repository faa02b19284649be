/*
 * containment.c
 *		Containment: a session writes only its customer's rows, judged on the
 *		state before the session touched a row and on the state at commit.
 *
 * The row trigger (track.c) hands every row a session writes to
 * loginas_containment_touch():
 *
 *	first touch		the first time the session touches a row in the
 *					transaction, the row as it was (its old version) must
 *					belong to the impersonated customer -- refused at once
 *					otherwise; an insert finds no row, which is fine.  Its
 *					protected columns' values are remembered.
 *	at commit		just before the transaction commits (or is prepared),
 *					every touched row is read again by its key, as its
 *					table's owner -- the rows of one table together, one
 *					query per batch of keys, then judged in the order
 *					first touched: it must not exist any more, or belong to
 *					the customer; its protected columns must hold what they
 *					held at the first touch (NULL for a row the session
 *					created).  A refusal is 42501 and the transaction rolls
 *					back.  loginas.check_writes() judges the same, earlier.
 *
 * So the judgement sees each row after every BEFORE trigger and generated
 * column, whatever their names, and an ORM may insert a row and link it to
 * the customer afterwards, or unlink a row and then delete it.
 *
 * A row is known by its table, the session and its key's stored values
 * (never their text, which settings can make alike).  "Before" is decided by
 * the row version, not only by the key: a row version older than the
 * transaction is judged at its first touch whatever the session wrote under
 * its key before (a deferrable key lets two rows share one until commit;
 * INSERT ... ON CONFLICT fires BEFORE INSERT, then updates the existing
 * row).  Entries made in a subtransaction that rolls back go with it.
 *
 * A foreign key through which another table's rows reach their customer (a
 * referrer way of track_through) gives the row it points to: a session may
 * point it only at a row it created in the transaction, or at nothing.
 *
 * Whom a row belongs to: its customer column, or for a child table its
 * parent row, looked up one parent at a time, each read as its table's owner
 * (as a foreign-key check reads it) in a security-restricted operation, so
 * nothing a table owner defines runs with loginas' rights.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "loginas.h"
#include "track.h"

/* a row a session touched in this transaction */
typedef struct TouchedRow
{
	char	   *hkey;			/* hash key: table, session, key values */
	struct TouchedRow *next;	/* in the order first touched */
	SubTransactionId subid;		/* made in; gone when that one rolls back */
	Oid			relid;			/* where the trigger saw it (a partition, or the table) */
	const LoginAsWriter *who;	/* the session that touched it (its customer_key:
								 * the customer, as canonical text); shared */
	bool		existed;		/* its first state was a row (not "not there") */
	bool		existed_before;	/* that row was older than the transaction */
	int			npk;
	Datum	   *key;
	int			nwatched;
	Datum	   *before;			/* the watched columns at the first touch of */
	bool	   *before_null;	/* an existing row */
	bool		reverting;		/* written by loginas.revert() (context.c) */

	/*
	 * Judged when inserted, as stored (after every BEFORE trigger and
	 * generated column), and not touched since: commit need not read it
	 * again -- unless its table's tracking entry was filled again since
	 * (generation: any change to the table, a trigger disabled included).
	 */
	bool		judged;
	uint64		judged_generation;
	uint64		judged_clears;	/* loginas_context_clears then: still in the session since? */
	TransactionId judged_xmin;
} TouchedRow;

/*
 * The touched rows by hash key: an open-addressing table of (key, hash,
 * row) slots, the rows themselves allocated apart so that they never move.
 * A session's bulk write makes one entry per row; dynahash's chains and
 * bucket splits cost it a cache miss or more per row.
 */
typedef struct TouchedSlot
{
	const char *hkey;			/* the row's hkey */
	TouchedRow *row;
	uint32		hash;
	char		status;			/* simplehash's */
} TouchedSlot;

#define SH_PREFIX		touchedset
#define SH_ELEMENT_TYPE TouchedSlot
#define SH_KEY_TYPE		const char *
#define SH_KEY			hkey
#define SH_HASH_KEY(tb, key) touched_hash(key)
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
static inline uint32 touched_hash(const char *hkey);
#include "lib/simplehash.h"

static touchedset_hash *touched = NULL; /* in touched_cxt, under TopTransactionContext */
static MemoryContext touched_cxt = NULL;
static TouchedRow *first_touched = NULL;
static TouchedRow *last_touched = NULL;
static bool judging = false;	/* at commit: reading the touched rows again */
static LoginAsWriter *writer = NULL;	/* the last session's, in touched_cxt */
static char *touched_free = NULL;	/* room left for rows in touched_cxt */
static Size touched_free_len = 0;

/* ---------------------------------------------------------------------
 * keys
 * --------------------------------------------------------------------- */

/* a type whose text depends on settings (floats, dates and times, bytea, money) */
static bool
text_depends_on_settings(Oid type)
{
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
			return false;
		default:
			return true;
	}
}

/*
 * An integer key value's text as int2out, int4out and int8out print it (the
 * same functions; no setting changes it): written at buf (MAXINT8LEN + 1
 * bytes), its length returned; -1 for a value of another type.  A sign and
 * digits: a key value printed bare (loginas_append_key_value).
 */
static inline int
int_key_text(Datum d, Oid type, char *buf)
{
	switch (type)
	{
		case INT2OID:
			return pg_itoa(DatumGetInt16(d), buf);
		case INT4OID:
			return pg_ltoa(DatumGetInt32(d), buf);
		case INT8OID:
			return pg_lltoa(DatumGetInt64(d), buf);
		default:
			return -1;
	}
}

/*
 * A key's values as text, the same whatever the session set: the settings
 * that change how a value prints are pinned while it is printed (only for
 * the types they concern).  Integers print without fmgr; the other values
 * by the output function the entry keeps for their type (entry->pk_out),
 * or else the one looked up now.
 */
static void
append_key_values(StringInfo buf, TrackedRel *entry, int n, const Datum *values, bool json)
{
	static const char *const pinned[][2] = {
		{"extra_float_digits", "3"}, {"DateStyle", "ISO, YMD"}, {"IntervalStyle", "postgres"},
		{"TimeZone", "UTC"}, {"bytea_output", "hex"}, {"lc_monetary", "C"},
	};
	const Oid  *types = entry->pk_types;
	int			nest = -1;
	int			i;

	for (i = 0; i < n && nest < 0; i++)
		if (text_depends_on_settings(types[i]))
		{
			size_t		s;

			nest = NewGUCNestLevel();
			for (s = 0; s < lengthof(pinned); s++)
				(void) set_config_option(pinned[s][0], pinned[s][1], PGC_SUSET, PGC_S_SESSION,
										 GUC_ACTION_SAVE, true, 0, false);
		}

	appendStringInfoChar(buf, json ? '[' : '(');
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (i > 0)
			appendStringInfoString(buf, json ? "," : ", ");
		if (types[i] == INT2OID || types[i] == INT4OID || types[i] == INT8OID)
		{
			/* an integer: as a JSON string, quoted; bare otherwise */
			char	   *p;

			enlargeStringInfo(buf, MAXINT8LEN + 3);
			p = buf->data + buf->len;
			if (json)
				*p++ = '"';
			p += int_key_text(values[i], types[i], p);
			if (json)
				*p++ = '"';
			*p = '\0';
			buf->len = p - buf->data;
			continue;
		}
		if (i < entry->npk && entry->pk_out != NULL && OidIsValid(entry->pk_out[i].fn_oid))
			s = OutputFunctionCall(&entry->pk_out[i], values[i]);
		else
		{
			Oid			typoutput;
			bool		varlena;

			getTypeOutputInfo(types[i], &typoutput, &varlena);
			s = OidOutputFunctionCall(typoutput, values[i]);
		}
		if (json)
			escape_json(buf, s);
		else
			loginas_append_key_value(buf, s);
		pfree(s);
	}
	appendStringInfoChar(buf, json ? ']' : ')');
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}

/*
 * A row's key: "(1, abc)" for messages -- a value that holds a comma, a
 * parenthesis, a quote, a backslash or a space is quoted, as the reports
 * print keys -- or as a JSON array, for telling rows apart.
 */
char *
loginas_row_key(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, bool json)
{
	StringInfoData buf;
	Datum		values[MAX_TRACK_ATTS];
	int			i;

	for (i = 0; i < entry->npk; i++)
	{
		bool		isnull;

		values[i] = heap_getattr(tuple, entry->pk_atts[i], desc, &isnull);
		if (isnull)
			elog(ERROR, "loginas: key column %d of %s is NULL", entry->pk_atts[i], entry->relname);
	}
	initStringInfo(&buf);
	append_key_values(&buf, entry, entry->npk, values, json);
	return buf.data;
}

static char *
touched_key_text(TrackedRel *entry, TouchedRow *row)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_key_values(&buf, entry, row->npk, row->key, false);
	return buf.data;
}

/* whether two versions of a row have the same key (stored values) */
static bool
same_key_values(TrackedRel *entry, TupleDesc desc, HeapTuple a, HeapTuple b)
{
	int			i;

	for (i = 0; i < entry->npk; i++)
	{
		bool		anull,
					bnull;
		Datum		ad = heap_getattr(a, entry->pk_atts[i], desc, &anull);
		Datum		bd = heap_getattr(b, entry->pk_atts[i], desc, &bnull);

		if (anull || bnull || !datum_image_eq(ad, bd, entry->pk_byval[i], entry->pk_len[i]))
			return false;
	}
	return true;
}

/*
 * The keys of the row versions of one trigger call (LoginAsRowKeys, in the
 * caller's memory): each printed the first time it is asked for; a version
 * whose key values are those of the other one takes its text.
 */
void
loginas_row_keys_init(LoginAsRowKeys *keys, TrackedRel *entry, TupleDesc desc, HeapTuple oldtup,
					  HeapTuple newtup)
{
	keys->entry = entry;
	keys->desc = desc;
	keys->oldtup = oldtup;
	keys->newtup = newtup;
	keys->old_json = NULL;
	keys->new_json = NULL;
	keys->same = (oldtup == NULL || newtup == NULL) ? 0 : -1;
}

/* whether the old and the new version hold the same key values */
bool
loginas_row_keys_same(LoginAsRowKeys *keys)
{
	if (keys->same < 0)
		keys->same = same_key_values(keys->entry, keys->desc, keys->oldtup, keys->newtup) ? 1 : 0;
	return keys->same > 0;
}

/* the key of tuple (keys->oldtup or keys->newtup) as JSON */
const char *
loginas_row_keys_json(LoginAsRowKeys *keys, HeapTuple tuple)
{
	bool		old = (tuple == keys->oldtup);
	char	  **mine = old ? &keys->old_json : &keys->new_json;
	char	   *other = old ? keys->new_json : keys->old_json;

	Assert(tuple != NULL && (tuple == keys->oldtup || tuple == keys->newtup));
	if (*mine == NULL)
	{
		if (other != NULL && loginas_row_keys_same(keys))
			*mine = other;
		else
			*mine = loginas_row_key(keys->entry, keys->desc, tuple, true);
	}
	return *mine;
}

/* ---------------------------------------------------------------------
 * whom a row belongs to
 * --------------------------------------------------------------------- */

typedef enum RowOwner
{
	OWNER_CUSTOMER,				/* *customer is set */
	OWNER_NONE,					/* NULL customer column or foreign key */
	OWNER_PARENT_GONE			/* a child whose parent row is not there */
} RowOwner;

/*
 * A customer column's value as the canonical text of a key (keys of any
 * type): an integer's digits, else the type's output (text, varchar, uuid:
 * none depends on settings).  Compared with the session's customer_key.
 */
static char *
datum_to_key(Datum d, Oid type)
{
	Oid			typoutput;
	bool		varlena;
	char		digits[MAXINT8LEN + 1];

	if (int_key_text(d, type, digits) >= 0)
		return pstrdup(digits);
	getTypeOutputInfo(type, &typoutput, &varlena);
	return OidOutputFunctionCall(typoutput, d);
}

static bool
same_key(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* whether a customer column's value is the customer key (datum_to_key's text) */
static bool
datum_is_key(Datum d, Oid type, const char *key)
{
	char		digits[MAXINT8LEN + 1];
	char	   *text;
	bool		result;

	if (int_key_text(d, type, digits) >= 0)
		return key != NULL && strcmp(digits, key) == 0;
	text = datum_to_key(d, type);
	result = same_key(text, key);
	pfree(text);
	return result;
}

/*
 * One route up from a row: its lookups in turn, each read as its table's
 * owner (as PostgreSQL checks a foreign key): whatever that owner defined on
 * its table -- index expressions, statistics, checks, casts -- runs with the
 * owner's own rights, never loginas'.  A security-restricted operation, with
 * the owner's FORCE ROW LEVEL SECURITY not applied: the row is read whatever
 * policies say.  Each lookup's row gives the next one's parameters, the last
 * one's the customer id.
 */
static RowOwner
follow_route(TrackedRel *entry, int route, Datum *values, Oid *types, int nvalues, char **customer)
{
	char		nulls[MAX_TRACK_ATTS];
	int			first = entry->routes[route].first;
	int			last = first + entry->routes[route].nlookups - 1;
	int			l,
				i;

	memset(nulls, ' ', sizeof(nulls));
	for (l = first; l <= last; l++)
	{
		LoginAsOwnerState owner;
		uint64		found;
		bool		isnull = false;
		int			rc;

		loginas_as_table_owner_begin(&owner, entry->lookup_owner[l]);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		if (entry->lookup_plan[l] == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(entry->lookup_sql[l], nvalues, types);

			if (plan == NULL)
				elog(ERROR, "loginas: could not prepare a lookup of the customer of %s: %s",
					 entry->relname, SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "loginas: could not keep a lookup of the customer of %s", entry->relname);
			entry->lookup_plan[l] = plan;
		}
		rc = SPI_execute_plan(entry->lookup_plan[l], values, nulls, false, 2);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "loginas: a lookup of the customer of %s failed: %s", entry->relname,
				 SPI_result_code_string(rc));
		found = SPI_processed;
		if (found == 1)
		{
			TupleDesc	td = SPI_tuptable->tupdesc;

			/* the next lookup's parameters, or at the end the customer id */
			nvalues = Min(td->natts, MAX_TRACK_ATTS);
			for (i = 0; i < nvalues && !isnull; i++)
			{
				Form_pg_attribute att = TupleDescAttr(td, i);
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], td, i + 1, &isnull);

				types[i] = att->atttypid;
				if (!isnull)
					values[i] = SPI_datumTransfer(d, att->attbyval, att->attlen);
			}
		}
		SPI_finish();
		loginas_as_owner_end(&owner);
		if (found == 0)
			return entry->lookup_referrer[l] ? OWNER_NONE : OWNER_PARENT_GONE;
		if (found > 1 || isnull)
			return OWNER_NONE;	/* several rows refer to it, or one of no one's */
	}
	*customer = datum_to_key(values[0], types[0]);
	return OWNER_CUSTOMER;
}

/*
 * values: the row's owner columns (entry->owner_atts), as the row holds
 * them.  A customer column decides; otherwise the routes do: every route
 * that leads to a customer must lead to the same one (routes that disagree:
 * the row is no one's).  None does: the row is no one's -- or, when a
 * parent row its foreign key names was not found, "parent gone".
 */
static RowOwner
owner_of(TrackedRel *entry, const Datum *row_values, const bool *row_nulls, char **customer)
{
	RowOwner	result = OWNER_NONE;
	bool		resolved = false;
	char	   *first_customer = NULL;
	int			r,
				i;

	if (entry->customer_att)
	{
		if (row_nulls[0])
			return OWNER_NONE;
		*customer = datum_to_key(row_values[0], entry->customer_type);
		return OWNER_CUSTOMER;
	}
	for (r = 0; r < entry->nroutes; r++)
	{
		Datum		values[MAX_TRACK_ATTS];
		Oid			types[MAX_TRACK_ATTS];
		bool		complete = true;
		RowOwner	o;

		for (i = 0; i < entry->routes[r].nparams && complete; i++)
		{
			int			k = entry->routes[r].params[i];

			complete = !row_nulls[k];
			values[i] = row_values[k];
			types[i] = entry->owner_types[k];
		}
		if (!complete)
			continue;			/* no row to follow this way */
		o = follow_route(entry, r, values, types, entry->routes[r].nparams, customer);
		if (o == OWNER_CUSTOMER)
		{
			if (resolved && !same_key(*customer, first_customer))
				return OWNER_NONE;	/* two ways, two customers */
			resolved = true;
			first_customer = *customer;
		}
		else if (o == OWNER_PARENT_GONE && !resolved)
			result = o;
	}
	if (resolved)
	{
		*customer = first_customer;
		return OWNER_CUSTOMER;
	}
	return result;
}

static RowOwner
owner_of_tuple(TrackedRel *entry, TupleDesc desc, HeapTuple tuple, char **customer)
{
	Datum		values[MAX_TRACK_ATTS];
	bool		nulls[MAX_TRACK_ATTS];
	int			i;

	for (i = 0; i < entry->nowner; i++)
		values[i] = heap_getattr(tuple, entry->owner_atts[i], desc, &nulls[i]);
	return owner_of(entry, values, nulls, customer);
}

static void
refuse_row(TrackedRel *entry, const LoginAsWriter *who, const char *key, const char *which, RowOwner owner,
		   const char *customer)
{
	const char *whose = owner == OWNER_CUSTOMER ?
		psprintf("customer %s", loginas_log_text(customer)) : "no customer";

	loginas_log_write_refusal(who, psprintf("row %s of another customer", key), entry->relname);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("Login as Customer session %lld may not write row %s of %s",
					(long long) who->session_id, loginas_log_text(key), loginas_log_text(entry->relname)),
			 errdetail("%s belongs to %s, not to the impersonated customer %s.",
					   which, whose, loginas_log_text(who->customer_key)),
			 errhint("An admin logged in as a customer can change only that customer's data.")));
}

static void
refuse_protected(TrackedRel *entry, const LoginAsWriter *who, const char *key, const char *column)
{
	loginas_log_write_refusal(who,
							  psprintf("change of protected column \"%s\" in row %s", column, key),
							  entry->relname);
	/* the error's texts: escaped (the server log has them too) */
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("column \"%s\" of %s is protected from Login as Customer sessions",
					loginas_log_text(column), loginas_log_text(entry->relname)),
			 errdetail("Session %lld changed it in row %s.",
					   (long long) who->session_id, loginas_log_text(key)),
			 errhint("The customer must change it themselves.")));
}

/* ---------------------------------------------------------------------
 * first touch
 * --------------------------------------------------------------------- */

/* a hash table keyed by a C string (its pointer stored as the key) */
uint32
loginas_cstring_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return string_hash(s, strlen(s) + 1);
}

int
loginas_cstring_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/*
 * The hash key of a touched row: its table, the session and its key's
 * values as they are stored (hex) -- never their text, which settings such
 * as extra_float_digits or DateStyle could make alike for two keys:
 * "table/session/len:hex/len:hex...", in the current memory context.
 */
static char *
touched_hkey(Oid table, int64 session_id, int n, const Datum *values, const int16 *lens,
			 const bool *byvals)
{
	static const char hexdigits[] = "0123456789abcdef";

	/* "table/session" as last made: the same for a statement's rows */
	static Oid	prefix_table = InvalidOid;
	static int64 prefix_session;
	static char prefix[10 + 1 + MAXINT8LEN + 1];
	static int	prefix_len;
	const char *bytes[MAX_TRACK_ATTS];
	Size		len[MAX_TRACK_ATTS];
	char		byval_buf[MAX_TRACK_ATTS][sizeof(Datum)];
	Size		size;
	char	   *hkey,
			   *p;
	int			i;

	if (n > MAX_TRACK_ATTS)
		elog(ERROR, "loginas: a key of more than %d columns", MAX_TRACK_ATTS);
	if (prefix_table != table || prefix_session != session_id || !OidIsValid(table))
	{
		/* as "%u/" INT64_FORMAT */
		prefix_len = pg_ultoa_n(table, prefix);
		prefix[prefix_len++] = '/';
		prefix_len += pg_lltoa(session_id, prefix + prefix_len);
		prefix_table = table;
		prefix_session = session_id;
	}

	/* the values' bytes, and the room they take */
	size = prefix_len + 1;
	for (i = 0; i < n; i++)
	{
		int16		typlen = lens[i];

		if (byvals[i])
		{
			store_att_byval(byval_buf[i], values[i], typlen);
			bytes[i] = byval_buf[i];
			len[i] = typlen;
		}
		else if (typlen > 0)
		{
			bytes[i] = DatumGetPointer(values[i]);
			len[i] = typlen;
		}
		else if (typlen == -1)
		{
			struct varlena *v = PG_DETOAST_DATUM_PACKED(values[i]);

			bytes[i] = VARDATA_ANY(v);
			len[i] = VARSIZE_ANY_EXHDR(v);
		}
		else
		{
			bytes[i] = DatumGetCString(values[i]);
			len[i] = strlen(bytes[i]);
		}
		size += 1 + MAXINT8LEN + 1 + 2 * len[i];
	}

	/* the prefix, then "/%zu:" and the hex digits of each value */
	hkey = p = palloc(size);
	memcpy(p, prefix, prefix_len);
	p += prefix_len;
	for (i = 0; i < n; i++)
	{
		const unsigned char *b = (const unsigned char *) bytes[i];
		Size		j;

		*p++ = '/';
		p += pg_ulltoa_n((uint64) len[i], p);
		*p++ = ':';
		for (j = 0; j < len[i]; j++)
		{
			*p++ = hexdigits[b[j] >> 4];
			*p++ = hexdigits[b[j] & 0xF];
		}
	}
	*p = '\0';
	return hkey;
}

static inline uint32
touched_hash(const char *hkey)
{
	return string_hash(hkey, strlen(hkey) + 1);
}

/* room for a row in touched_cxt (MAXALIGNed) */
static char *
touched_alloc(Size size)
{
	char	   *p;

	size = MAXALIGN(size);
	if (size > touched_free_len)
	{
		Size		block = Max(size, 64 * 1024);

		touched_free = MemoryContextAlloc(touched_cxt, block);
		touched_free_len = block;
	}
	p = touched_free;
	touched_free += size;
	touched_free_len -= size;
	return p;
}

static touchedset_hash *
touched_table(void)
{
	if (touched != NULL)
		return touched;
	touched_cxt = AllocSetContextCreate(TopTransactionContext, "loginas touched rows",
										ALLOCSET_DEFAULT_SIZES);
	touched = touchedset_create(touched_cxt, 16, NULL);
	return touched;
}

/*
 * A row's hash key (touched_hkey) and its hash, made once for the lookups
 * of one touch, in the caller's memory (an entry made takes a copy).
 */
typedef struct TouchedKey
{
	char	   *hkey;			/* NULL until made */
	uint32		hash;
	Datum		values[MAX_TRACK_ATTS]; /* the key's values, in the tuple */
} TouchedKey;

/*
 * The entry of a row (by its key in tuple, made into k the first time),
 * made when make and none is there.
 */
static TouchedRow *
touched_row(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple tuple,
			TouchedKey *k, bool make, bool *made)
{
	MemoryContext old;
	TouchedRow *row;
	TouchedSlot *slot;
	bool		found;
	int			i;
	Size		size,
				hkey_len;
	char	   *p;

	*made = false;
	if (touched == NULL && !make)
		return NULL;
	(void) touched_table();
	if (k->hkey == NULL)
	{
		for (i = 0; i < entry->npk; i++)
		{
			bool		isnull;

			k->values[i] = heap_getattr(tuple, entry->pk_atts[i], desc, &isnull);

			/*
			 * a new row version reaches loginas' BEFORE trigger before
			 * PostgreSQL checks its NOT NULL columns
			 */
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("null value in key column \"%s\" of %s",
								NameStr(TupleDescAttr(desc, entry->pk_atts[i] - 1)->attname),
								loginas_log_text(entry->relname)),
						 errdetail("A row written in a Login as Customer session needs its whole key.")));
		}
		k->hkey = touched_hkey(entry->nchain > 0 ? entry->chain[0] : entry->relid, ctx->session_id,
							   entry->npk, k->values, entry->pk_len, entry->pk_byval);
		k->hash = touched_hash(k->hkey);
	}
	slot = touchedset_lookup_hash(touched, k->hkey, k->hash);
	if (slot == NULL && !make)
		return NULL;			/* k kept for the entry usually made next */
	if (slot != NULL)
	{
		row = slot->row;
		row->judged = false;	/* touched again: read at commit */
		pfree(k->hkey);
		k->hkey = NULL;
		return row;
	}

	/*
	 * new: the row, its key's values and its hkey in one piece of touched_cxt
	 * (carved from larger blocks: a bulk write makes one per row)
	 */
	size = MAXALIGN(sizeof(TouchedRow)) + MAXALIGN(sizeof(Datum) * entry->npk);
	for (i = 0; i < entry->npk; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->pk_atts[i] - 1);

		if (!a->attbyval)
			size += MAXALIGN(datumGetSize(k->values[i], false, a->attlen));
	}
	hkey_len = strlen(k->hkey) + 1;
	size += hkey_len;
	p = touched_alloc(size);
	row = (TouchedRow *) p;
	memset(row, 0, sizeof(TouchedRow));
	p += MAXALIGN(sizeof(TouchedRow));
	row->key = (Datum *) p;
	p += MAXALIGN(sizeof(Datum) * entry->npk);
	for (i = 0; i < entry->npk; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->pk_atts[i] - 1);

		if (a->attbyval)
			row->key[i] = k->values[i];
		else
		{
			Size		len = datumGetSize(k->values[i], false, a->attlen);

			memcpy(p, DatumGetPointer(k->values[i]), len);
			row->key[i] = PointerGetDatum(p);
			p += MAXALIGN(len);
		}
	}
	memcpy(p, k->hkey, hkey_len);
	row->hkey = p;
	pfree(k->hkey);
	k->hkey = NULL;
	row->relid = entry->relid;
	/* a session's writer is the same for all its rows: made once, shared */
	if (writer == NULL || writer->session_id != ctx->session_id)
	{
		LoginAsWriter *w;

		old = MemoryContextSwitchTo(touched_cxt);
		w = palloc(sizeof(LoginAsWriter));
		loginas_writer_of(w, ctx);
		writer = w;
		MemoryContextSwitchTo(old);
	}
	row->who = writer;
	row->subid = GetCurrentSubTransactionId();
	row->reverting = ctx->reverting;
	row->npk = entry->npk;

	/* in the table once complete (an error before leaves no entry) */
	slot = touchedset_insert_hash(touched, row->hkey, k->hash, &found);
	Assert(!found);
	slot->row = row;
	if (last_touched)
		last_touched->next = row;
	else
		first_touched = row;
	last_touched = row;
	*made = true;
	return row;
}

static void check_guards_now(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc,
							 HeapTuple oldtup, HeapTuple newtup);

/* the names of the stamp columns of the relation the trigger fired on (or NULL) */
static const char *
stamp_name(TupleDesc desc, AttrNumber att)
{
	return att > 0 && att <= desc->natts ? NameStr(TupleDescAttr(desc, att - 1)->attname) : NULL;
}

/*
 * For loginas.revert() (revert.c): the row under the key of keytup as it was
 * before the session first wrote it in this transaction -- image, complete
 * (protected and sensitive columns included), with the transaction that
 * wrote that version; or no row (image NULL: then the key's values, from
 * keytup) -- kept where no role reads it.
 */
static void
keep_before(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple keytup, HeapTuple image,
			LoginAsRowKeys *keys)
{
	const char *key = loginas_row_keys_json(keys, keytup);
	bytea	   *img;

	if (image)
		img = loginas_image_build(desc, image, NULL, 0, stamp_name(desc, entry->created_att),
								  stamp_name(desc, entry->changed_att));
	else
		img = loginas_image_build(desc, keytup, entry->pk_atts, entry->npk, NULL, NULL);
	loginas_image_before(entry->nchain > 0 ? entry->chain[0] : entry->relid, ctx->session_id, key,
						 image != NULL, img,
						 image ? HeapTupleHeaderGetRawXmin(image->t_data) : InvalidTransactionId);
	pfree(img);
}

/* a row version older than this transaction */
static bool
older_than_transaction(HeapTuple tuple)
{
	return tuple->t_data != NULL &&
		!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));
}

/* what the row held before the session touched it: it existed, with these values */
static void
remember_existing(TouchedRow *row, TrackedRel *entry, TupleDesc desc, HeapTuple tuple)
{
	int			n = Max(entry->nwatched, 1);
	MemoryContext old = MemoryContextSwitchTo(touched_cxt);
	int			i;

	row->existed = true;
	row->existed_before = older_than_transaction(tuple);
	row->nwatched = entry->nwatched;
	/* the values, then their nulls: one piece of memory */
	row->before = palloc0(sizeof(Datum) * n + sizeof(bool) * n);
	row->before_null = (bool *) (row->before + n);
	for (i = 0; i < entry->nwatched; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->watched_atts[i] - 1);
		Datum		d = heap_getattr(tuple, entry->watched_atts[i], desc, &row->before_null[i]);

		if (!row->before_null[i])
			row->before[i] = datumCopy(d, a->attbyval, a->attlen);
	}
	MemoryContextSwitchTo(old);
}

static void
copy_before(TouchedRow *to, const TouchedRow *from)
{
	/* the values are the first entry's, which lives as long */
	to->existed = from->existed;
	to->existed_before = from->existed_before;
	to->nwatched = from->nwatched;
	to->before = from->before;
	to->before_null = from->before_null;
}


/* the first state of an existing row: it must be the customer's */
static void
judge_first_state(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple oldtup)
{
	char	   *customer = NULL;
	RowOwner	owner = owner_of_tuple(entry, desc, oldtup, &customer);

	if (owner != OWNER_PARENT_GONE &&
		(owner != OWNER_CUSTOMER || !same_key(customer, ctx->customer_key)))
	{
		LoginAsWriter who;

		loginas_writer_of(&who, ctx);
		refuse_row(entry, &who, loginas_row_key(entry, desc, oldtup, false), "The existing row", owner, customer);
	}
}

/*
 * A row the session inserted, as the AFTER INSERT trigger sees it stored:
 * for a table whose customer is a column of its own and that has no guarded
 * foreign key, this is the row's state at commit unless something touches
 * it again (any write of it in the session fires loginas' triggers, and
 * takes the entry's mark away), the transaction leaves the session (then
 * writes touch nothing: every mark is void once a context was cleared) or
 * something changes the table (a new generation of its entry).  If it
 * passes the commit's test now -- the customer's, no protected column set
 * -- it is marked judged; otherwise commit judges it as any other row (an
 * ORM may link it to the customer later in the transaction).
 */
static void
judge_inserted(TrackedRel *entry, const LoginAsContext *ctx, TouchedRow *row, TupleDesc desc,
			   HeapTuple tuple)
{
	bool		isnull;
	Datum		d;
	int			i;

	if (entry->customer_att == 0 || entry->nguards > 0 || entry->nowner != 1 || row->existed)
		return;
	/* only in the live session: once it is left, writes no longer touch rows */
	if (ctx != loginas_current_context())
		return;
	d = heap_getattr(tuple, entry->owner_atts[0], desc, &isnull);
	if (isnull || !datum_is_key(d, entry->customer_type, row->who->customer_key))
		return;
	for (i = 0; i < entry->nprotected; i++)
		if (!heap_attisnull(tuple, entry->watched_atts[i], desc))
			return;
	row->judged = true;
	row->judged_generation = entry->generation;
	row->judged_clears = loginas_context_clears;
	row->judged_xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
}

/*
 * The row trigger's call for every row a session writes: BEFORE UPDATE and
 * BEFORE DELETE with the old version (and the new one of an update), AFTER
 * INSERT with the row inserted (only rows really inserted: not those an
 * INSERT ... ON CONFLICT turned into an update or skipped).
 *
 * An old version older than the transaction is the row as it was before
 * the transaction touched it: it is judged, whatever the session touched
 * under the same key before (a deferrable key lets two rows share one until
 * commit).  A version this transaction wrote is judged too unless the
 * session wrote a row under its key (it inserted or updated it: judged then
 * and at commit); a shop's AFTER trigger that updates a row the statement
 * inserted, before loginas' AFTER INSERT trigger has run, sees it judged as
 * it is.  A child row whose parent row is gone lost it in this very
 * transaction (a foreign key keeps committed children with their parents):
 * an ON DELETE / ON UPDATE CASCADE of a parent row, which its own trigger
 * already judged.  An entry is made only once the row passed: a refused
 * attempt leaves none.
 */
void
loginas_containment_touch(TrackedRel *entry, const LoginAsContext *ctx, Relation rel,
						  HeapTuple oldtup, HeapTuple newtup, bool old_inserted, LoginAsRowKeys *keys)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TouchedRow *row = NULL;
	TouchedKey	oldkey,
				newkey;
	bool		made;

	oldkey.hkey = newkey.hkey = NULL;

	if (judging)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Login as Customer session %lld may not write %s while its writes are judged",
						(long long) ctx->session_id, loginas_log_text(entry->relname)),
				 errdetail("Code run while reading a tracked row wrote to a tracked table.")));

	if (oldtup)
	{
		row = touched_row(entry, ctx, desc, oldtup, &oldkey, false, &made);
		if (row == NULL || older_than_transaction(oldtup))
		{
			judge_first_state(entry, ctx, desc, oldtup);
			if (row == NULL)
			{
				row = touched_row(entry, ctx, desc, oldtup, &oldkey, true, &made);
				/* the row before the session (a row it inserted: none) */
				if (made && !ctx->reverting)
					keep_before(entry, ctx, desc, oldtup, old_inserted ? NULL : oldtup, keys);
			}
			if (!row->existed)
				remember_existing(row, entry, desc, oldtup);
		}
	}
	if (newtup)
	{
		TouchedRow *newrow;

		/* a revert points foreign keys back where they were */
		if (entry->nguards > 0 && !ctx->reverting)
			check_guards_now(entry, ctx, desc, oldtup, newtup);
		if (row != NULL && oldtup != NULL && loginas_row_keys_same(keys))
		{
			newrow = row;		/* an update that kept the key: the same entry */
			made = false;
		}
		else
			newrow = touched_row(entry, ctx, desc, newtup, &newkey, true, &made);

		/* a key the session gives a row: no row had it before the session */
		if (made && !ctx->reverting)
			keep_before(entry, ctx, desc, newtup, NULL, keys);

		/* an update that changed the key: the row's first state is the old key's */
		if (made && row != NULL)
			copy_before(newrow, row);

		/*
		 * The session's insert, once written: a shop's AFTER trigger may have
		 * updated the new row first (its first state then judged as it was
		 * inserted): the row's first state is "not there" all the same --
		 * unless a row older than the transaction had its key before.
		 */
		if (oldtup == NULL && !made && newrow->existed && !newrow->existed_before)
			newrow->existed = false;

		/* a row the session inserted, as stored: judged now if that is final */
		if (oldtup == NULL && made && !ctx->reverting)
			judge_inserted(entry, ctx, newrow, desc, newtup);
	}
}

/* ---------------------------------------------------------------------
 * at commit
 * --------------------------------------------------------------------- */

static void judge_final_state(TrackedRel *entry, TouchedRow *row, TupleDesc desc,
							  Datum *values, bool *nulls);

/*
 * At commit, for loginas.revert(): whether a row is under the touched row's
 * key as the session leaves it, and which transaction wrote it (its xmin,
 * the column after the judged ones): a revert finds it so, or changed since.
 */
static void
keep_after(TrackedRel *entry, TouchedRow *row, uint64 found, TransactionId xmin)
{
	StringInfoData key;

	initStringInfo(&key);
	append_key_values(&key, entry, row->npk, row->key, true);
	loginas_image_after(entry->nchain > 0 ? entry->chain[0] : entry->relid, row->who->session_id, key.data,
						found > 0, xmin);
	pfree(key.data);
}

/*
 * The touched rows of one table and session, read again together: one
 * query per batch of keys, as the table's owner,
 *
 *	SELECT u.ord, <owner columns>, <watched columns>, t.xmin
 *	  FROM ROWS FROM (unnest($1), .., unnest($n+1)) AS u(k1, .., kn, ord)
 *	  JOIN [ONLY] <table> t ON t.pk1 = u.k1 AND ..
 *
 * with the keys as arrays and ord the row's place in the batch: every row
 * found under a key comes back with its touched row's number (a deferrable
 * key may hold several), compared by the key type's equality, in the key
 * column's collation.
 */
typedef struct JudgeGroup
{
	struct JudgeGroup *next;
	Oid			relid;			/* where the trigger saw the rows */
	int64		session_id;
	int			nowner;			/* the layout the rows were read with */
	int			nwatched;
	uint64		generation;		/* of the table's entry then */
	int			ntouched;		/* rows of this group, by ord */
	int			maxtouched;
	TouchedRow **rows;
	int		   *first_found;	/* per ord: index into found[], or -1 */
	int			nfound;
	int			maxfound;
	HeapTuple  *found;			/* rows read (in SPI memory, until SPI_finish) */
	int		   *next_found;		/* the next one under the same ord */
	TupleDesc	found_desc;
} JudgeGroup;

/* the rows a touched row's key finds now, and the group that read them */
typedef struct JudgeRef
{
	JudgeGroup *group;
	int			ord;
} JudgeRef;

#define JUDGE_BATCH 8192

static void
prepare_final(TrackedRel *entry)
{
	Relation	rel = RelationIdGetRelation(entry->relid);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			target = entry->nchain > 0 ? entry->chain[0] : entry->relid;
	Oid			argtypes[MAX_TRACK_ATTS + 1];
	StringInfoData sql;
	int			i;

#define COLNAME(att) quote_identifier(NameStr(TupleDescAttr(desc, (att) - 1)->attname))
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT u.ord");
	for (i = 0; i < entry->nowner; i++)
		appendStringInfo(&sql, ", t.%s", COLNAME(entry->owner_atts[i]));
	for (i = 0; i < entry->nwatched; i++)
		appendStringInfo(&sql, ", t.%s", COLNAME(entry->watched_atts[i]));
	appendStringInfoString(&sql, ", t.xmin FROM ROWS FROM (");
	for (i = 0; i <= entry->npk; i++)
		appendStringInfo(&sql, "%spg_catalog.unnest($%d)", i ? ", " : "", i + 1);
	appendStringInfoString(&sql, ") AS u(");
	for (i = 0; i < entry->npk; i++)
		appendStringInfo(&sql, "k%d, ", i + 1);
	appendStringInfo(&sql, "ord) JOIN %s%s t ON ",
					 get_rel_relkind(target) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
												get_rel_name(target)));
	for (i = 0; i < entry->npk; i++)
	{
		Oid			coll = TupleDescAttr(desc, entry->pk_atts[i] - 1)->attcollation;

		appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) u.k%d", i ? " AND " : "",
						 COLNAME(entry->pk_atts[i]), i + 1);
		/* the key column's own collation, not the array's default */
		if (OidIsValid(coll))
		{
			HeapTuple	ct = SearchSysCache1(COLLOID, ObjectIdGetDatum(coll));
			Form_pg_collation c;

			if (!HeapTupleIsValid(ct))
				elog(ERROR, "loginas: cache lookup failed for collation %u", coll);
			c = (Form_pg_collation) GETSTRUCT(ct);
			appendStringInfo(&sql, " COLLATE %s",
							 quote_qualified_identifier(get_namespace_name(c->collnamespace),
														NameStr(c->collname)));
			ReleaseSysCache(ct);
		}
		argtypes[i] = get_array_type(entry->pk_types[i]);
		if (!OidIsValid(argtypes[i]))
			elog(ERROR, "loginas: the key type %s of %s has no array type",
				 format_type_be(entry->pk_types[i]), entry->relname);
	}
	argtypes[entry->npk] = INT4ARRAYOID;
#undef COLNAME
	RelationClose(rel);

	entry->final_plan = SPI_prepare(sql.data, entry->npk + 1, argtypes);
	if (entry->final_plan == NULL)
		elog(ERROR, "loginas: could not prepare the commit check of %s: %s",
			 entry->relname, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(entry->final_plan) != 0)
		elog(ERROR, "loginas: could not keep the commit check of %s", entry->relname);
	pfree(sql.data);
}

/* read the rows of group's touched rows from..to-1 as they are now */
static void
read_batch(TrackedRel *entry, JudgeGroup *g, int from, int to)
{
	LoginAsOwnerState owner;
	Datum		args[MAX_TRACK_ATTS + 1];
	Datum	   *elems = palloc(sizeof(Datum) * (to - from));
	uint64		r;
	int			i,
				k;

	for (i = 0; i < entry->npk; i++)
	{
		int16		len;
		bool		byval;
		char		align;

		get_typlenbyvalalign(entry->pk_types[i], &len, &byval, &align);
		for (k = from; k < to; k++)
			elems[k - from] = g->rows[k]->key[i];
		args[i] = PointerGetDatum(construct_array(elems, to - from, entry->pk_types[i], len, byval, align));
	}
	for (k = from; k < to; k++)
		elems[k - from] = Int32GetDatum(k);
	args[entry->npk] = PointerGetDatum(construct_array(elems, to - from, INT4OID, 4, true, TYPALIGN_INT));
	pfree(elems);

	loginas_as_table_owner_begin(&owner, entry->final_owner);
	if (SPI_execute_plan(entry->final_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loginas: the commit check of %s failed", entry->relname);
	loginas_as_owner_end(&owner);

	g->found_desc = SPI_tuptable->tupdesc;
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		int			ord = DatumGetInt32(SPI_getbinval(tup, g->found_desc, 1, &isnull));

		if (isnull || ord < from || ord >= to)
			elog(ERROR, "loginas: the commit check of %s returned a row of no key", entry->relname);
		if (g->nfound == g->maxfound)
		{
			g->maxfound = Max(g->maxfound * 2, 1024);
			g->found = repalloc(g->found, sizeof(HeapTuple) * g->maxfound);
			g->next_found = repalloc(g->next_found, sizeof(int) * g->maxfound);
		}
		g->found[g->nfound] = tup;
		g->next_found[g->nfound] = g->first_found[ord];
		g->first_found[ord] = g->nfound;
		g->nfound++;
	}
}

/*
 * Read the touched rows of every table again (first pass of judge_touched):
 * each row's group and place are in refs[], in the order first touched.
 * Tables dropped or untracked since (by a role trusted to) are left out.
 */
static JudgeGroup *
read_touched(JudgeRef *refs, int *nrows)
{
	JudgeGroup *groups = NULL,
			   *last = NULL;
	TouchedRow *row;
	int			n = 0;

	for (row = first_touched; row; row = row->next, n++)
	{
		JudgeGroup *g = last;
		TrackedRel *entry;

		refs[n].group = NULL;
		if (g == NULL || g->relid != row->relid || g->session_id != row->who->session_id)
			for (g = groups; g; g = g->next)
				if (g->relid == row->relid && g->session_id == row->who->session_id)
					break;
		if (g == NULL)
		{
			if (!loginas_relation_tracked(row->relid))
				continue;
			entry = loginas_tracked_rel(row->relid);
			if (entry->problem)
				ereport(ERROR,
						(errcode(entry->problem_code),
						 errmsg_internal("%s", entry->problem),
						 entry->problem_detail ? errdetail_internal("%s", entry->problem_detail) : 0,
						 entry->problem_hint ? errhint("%s", entry->problem_hint) : 0));
			g = palloc0(sizeof(JudgeGroup));
			g->relid = row->relid;
			g->session_id = row->who->session_id;
			g->nowner = entry->nowner;
			g->nwatched = entry->nwatched;
			g->generation = entry->generation;
			g->maxtouched = 64;
			g->rows = palloc(sizeof(TouchedRow *) * g->maxtouched);
			g->next = groups;
			groups = g;
		}
		last = g;
		refs[n].group = g;
		if (row->judged && row->judged_generation == g->generation &&
			row->judged_clears == loginas_context_clears)
		{
			refs[n].ord = -1;	/* judged as inserted; not read again */
			continue;
		}
		if (g->ntouched == g->maxtouched)
		{
			g->maxtouched *= 2;
			g->rows = repalloc(g->rows, sizeof(TouchedRow *) * g->maxtouched);
		}
		refs[n].ord = g->ntouched;
		g->rows[g->ntouched++] = row;
	}
	*nrows = n;

	for (last = groups; last; last = last->next)
	{
		JudgeGroup *g = last;
		TrackedRel *entry = loginas_tracked_rel(g->relid);
		int			from;

		if (g->ntouched == 0)
			continue;			/* every row judged as inserted */
		g->first_found = palloc(sizeof(int) * g->ntouched);
		memset(g->first_found, -1, sizeof(int) * g->ntouched);
		g->found = palloc(sizeof(HeapTuple));
		g->next_found = palloc(sizeof(int));
		if (entry->final_plan == NULL)
		{
			LoginAsOwnerState owner;

			entry->final_owner = loginas_relation_owner(entry->nchain > 0 ? entry->chain[0] : entry->relid);
			loginas_as_table_owner_begin(&owner, entry->final_owner);
			prepare_final(entry);
			loginas_as_owner_end(&owner);
		}
		for (from = 0; from < g->ntouched; from += JUDGE_BATCH)
		{
			CHECK_FOR_INTERRUPTS();
			read_batch(entry, g, from, Min(from + JUDGE_BATCH, g->ntouched));
		}
	}
	return groups;
}

/* one touched row, as its group read it (at_commit: its image kept, see keep_after) */
static void
judge_read_row(TouchedRow *row, JudgeRef *ref, bool at_commit)
{
	JudgeGroup *g = ref->group;
	TrackedRel *entry = loginas_tracked_rel(row->relid);
	Datum		values[2 * MAX_TRACK_ATTS];
	bool		nulls[2 * MAX_TRACK_ATTS];
	TransactionId xmin = InvalidTransactionId;
	Relation	rel;
	TupleDesc	desc;
	uint64		found = 0;
	int			f,
				i;

	if (entry->nowner != g->nowner || entry->nwatched != g->nwatched)
		elog(ERROR, "loginas: the tracking of %s changed while its writes were judged", entry->relname);
	if (ref->ord < 0)
	{
		/* judged as inserted, and the row as the session leaves it */
		if (at_commit)
			keep_after(entry, row, 1, row->judged_xmin);
		return;
	}
	rel = RelationIdGetRelation(entry->relid);
	desc = RelationGetDescr(rel);
	for (f = g->first_found[ref->ord]; f >= 0; f = g->next_found[f])
	{
		int			natts = g->found_desc->natts - 1;

		for (i = 0; i < natts && i < 2 * MAX_TRACK_ATTS; i++)
			values[i] = SPI_getbinval(g->found[f], g->found_desc, i + 2, &nulls[i]);
		judge_final_state(entry, row, desc, values, nulls);
		if (found++ == 0)
		{
			bool		isnull;

			xmin = DatumGetTransactionId(SPI_getbinval(g->found[f], g->found_desc,
													   entry->nowner + entry->nwatched + 2, &isnull));
		}
	}
	if (at_commit && !row->reverting)
		keep_after(entry, row, found, xmin);
	RelationClose(rel);
}

/*
 * Whether watched column i (of entry->watched_atts) holds another value at
 * commit than at the first touch; a row the session inserted had none.
 */
static bool
watched_changed(TouchedRow *row, int i, Datum now, bool now_null, Form_pg_attribute a)
{
	if (!row->existed)
		return !now_null;
	if (i >= row->nwatched)
		return false;			/* watched since the first touch */
	if (row->before_null[i] || now_null)
		return row->before_null[i] != now_null;
	return !datum_image_eq(row->before[i], now, a->attbyval, a->attlen);
}

/*
 * A foreign key through which the rows of another table reach their
 * customer (a referrer way): pointing it somewhere new would give that row
 * to the impersonated customer.  A session may point it only at a row it
 * created in this transaction (or at nothing).
 */
static bool
guard_target_created(TrackedRel *entry, int64 session_id, int g, const Datum *values)
{
	int			first = entry->nprotected + entry->guards[g].first;
	TouchedRow *target = NULL;

	if (entry->guards[g].target_key && touched != NULL)
	{
		char	   *hkey = touched_hkey(entry->guards[g].target, session_id, entry->guards[g].natts, values,
										entry->watched_len + first, entry->watched_byval + first);

		TouchedSlot *slot = touchedset_lookup(touched, hkey);

		target = slot ? slot->row : NULL;
		pfree(hkey);
	}
	return target != NULL && !target->existed;
}

static void
refuse_guard(TrackedRel *entry, const LoginAsWriter *who, const char *key, int g)
{
	Oid			t = entry->guards[g].target;
	const char *tname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(t)),
												   get_rel_name(t));

	loginas_log_write_refusal(who,
							  psprintf("row %s pointed at a row of %s it did not create", key, tname),
							  entry->relname);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("Login as Customer session %lld may not point row %s of %s at a row of %s",
					(long long) who->session_id, loginas_log_text(key),
					loginas_log_text(entry->relname), loginas_log_text(tname)),
			 errdetail("Rows of %s belong to the customer of the row that points to them; the session did not create that row.",
					   loginas_log_text(tname)),
			 errhint("A session may point such a foreign key only at a row it created.")));
}

/* at commit: the guarded foreign key g of a touched row, as it is now */
static void
judge_guard(TrackedRel *entry, TouchedRow *row, TupleDesc desc, int g, Datum *values, bool *nulls)
{
	int			first = entry->nprotected + entry->guards[g].first;
	int			n = entry->guards[g].natts;
	bool		changed = false;
	bool		all_null = true;
	int			i;

	for (i = 0; i < n; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->watched_atts[first + i] - 1);

		changed |= watched_changed(row, first + i, values[i], nulls[i], a);
		all_null &= nulls[i];
	}
	if (changed && !all_null && !guard_target_created(entry, row->who->session_id, g, values))
		refuse_guard(entry, row->who, touched_key_text(entry, row), g);
}

/*
 * At the write: a guarded foreign key the write points somewhere new must
 * point at a row the session created -- checked at once too, so that a
 * session cannot lean on an ownership it gave itself for a moment (point its
 * row at a row of no one's, write that row, point it back).
 */
static void
check_guards_now(TrackedRel *entry, const LoginAsContext *ctx, TupleDesc desc, HeapTuple oldtup,
				 HeapTuple newtup)
{
	int			g,
				i;

	for (g = 0; g < entry->nguards; g++)
	{
		int			first = entry->nprotected + entry->guards[g].first;
		int			n = entry->guards[g].natts;
		Datum		values[MAX_TRACK_ATTS];
		bool		all_null = true;
		bool		changed = (oldtup == NULL);

		for (i = 0; i < n; i++)
		{
			AttrNumber	att = entry->watched_atts[first + i];
			bool		isnull;

			values[i] = heap_getattr(newtup, att, desc, &isnull);
			all_null &= isnull;
			if (oldtup && !changed)
			{
				bool		oldnull;
				Datum		o = heap_getattr(oldtup, att, desc, &oldnull);
				Form_pg_attribute a = TupleDescAttr(desc, att - 1);

				changed = (oldnull != isnull) ||
					(!isnull && !datum_image_eq(o, values[i], a->attbyval, a->attlen));
			}
		}
		if (changed && !all_null && !guard_target_created(entry, ctx->session_id, g, values))
		{
			LoginAsWriter who;

			loginas_writer_of(&who, ctx);
			refuse_guard(entry, &who, loginas_row_key(entry, desc, newtup, false), g);
		}
	}
}

/* one row found under a touched row's key, as it is now */
static void
judge_final_state(TrackedRel *entry, TouchedRow *row, TupleDesc desc, Datum *values, bool *nulls)
{
	int			nowner = entry->nowner;
	char	   *customer = NULL;
	RowOwner	whose;
	int			i,
				g;

	whose = owner_of(entry, values, nulls, &customer);
	if (whose != OWNER_CUSTOMER || !same_key(customer, row->who->customer_key))
		refuse_row(entry, row->who, touched_key_text(entry, row), "The row as written", whose, customer);

	/* a revert puts protected columns and foreign keys back as they were */
	if (row->reverting)
		return;
	for (i = 0; i < entry->nprotected; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, entry->protected_atts[i] - 1);

		if (watched_changed(row, i, values[nowner + i], nulls[nowner + i], a))
			refuse_protected(entry, row->who, touched_key_text(entry, row), NameStr(a->attname));
	}
	for (g = 0; g < entry->nguards; g++)
		judge_guard(entry, row, desc, g, values + nowner + entry->nprotected + entry->guards[g].first,
					nulls + nowner + entry->nprotected + entry->guards[g].first);
}

static void
judge_touched(bool at_commit)
{
	TouchedRow *row;

	if (first_touched == NULL || judging)
		return;
	judging = true;
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "loginas judgement",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		JudgeRef   *refs;
		int			nrows = 0,
					n;

		for (row = first_touched; row; row = row->next)
			nrows++;
		refs = palloc(sizeof(JudgeRef) * nrows);

		/* every table's rows read together, then judged in the order first touched */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "loginas: SPI_connect failed");
		(void) read_touched(refs, &nrows);
		for (row = first_touched, n = 0; row; row = row->next, n++)
		{
			CHECK_FOR_INTERRUPTS();
			if (refs[n].group == NULL)
				continue;		/* dropped or untracked since */
			judge_read_row(row, &refs[n], at_commit);
		}
		SPI_finish();
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
	}
	PG_FINALLY();
	{
		judging = false;
	}
	PG_END_TRY();
	PopActiveSnapshot();
}

static void
forget_touched(void)
{
	/* the memory goes with TopTransactionContext */
	touched = NULL;
	touched_cxt = NULL;
	first_touched = last_touched = NULL;
	judging = false;
	writer = NULL;
	touched_free = NULL;
	touched_free_len = 0;
}

static void
containment_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			loginas_track_settle();
			judge_touched(true);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_touched();
			break;
		default:
			break;
	}
}

/*
 * loginas.check_writes(): the judgement of commit, now (the rows stay
 * touched: commit judges them again)
 */
PG_FUNCTION_INFO_V1(loginas_check_writes);

Datum
loginas_check_writes(PG_FUNCTION_ARGS)
{
	loginas_track_settle();
	judge_touched(false);
	PG_RETURN_VOID();
}

/*
 * A subtransaction that rolls back takes its writes along: the entries it
 * made go too (their rows are as they were, or not there), so that nothing
 * it did -- an insert under some key -- speaks for a row at commit.  A
 * committed one's entries belong to the enclosing (sub)transaction.
 */
static void
containment_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	TouchedRow *row,
			   *prev = NULL,
			   *next;

	if (touched == NULL || (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	for (row = first_touched; row; row = next)
	{
		next = row->next;
		if (row->subid != mySubid)
		{
			prev = row;
			continue;
		}
		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			row->subid = parentSubid;
			prev = row;
			continue;
		}
		if (prev)
			prev->next = next;
		else
			first_touched = next;
		if (last_touched == row)
			last_touched = prev;
		/* its memory stays until the transaction ends */
		(void) touchedset_delete(touched, row->hkey);
	}
}

void
loginas_containment_init(void)
{
	RegisterXactCallback(containment_xact_callback, NULL);
	RegisterSubXactCallback(containment_subxact_callback, NULL);
}
