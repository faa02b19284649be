/*
 * token.c
 *		Secrets handed to clients: one-time tickets and session keys.
 *
 * A secret is 32 bytes (256 bits) from the operating system's strong random
 * source, given to the client as 64 hex digits.  Only a hash of it is ever
 * stored, so the tables never hold anything that could be replayed.
 *
 * The stored hash is bound to the database the secret was issued in (since
 * 1.2): loginas._hash(secret) is
 *
 *		sha256("loginas:<system identifier>:<database oid>:" || sha256(secret))
 *
 * A copy of the database -- CREATE DATABASE ... TEMPLATE, or a dump restored
 * into another database -- has the same tables, hashes included, but another
 * database OID (or, restored into another cluster, another system
 * identifier): there no live ticket or session key matches.  A physical copy
 * (a streaming standby, a base backup, a promoted standby) is the same
 * database and accepts them; so does the database after a server restart,
 * ALTER DATABASE RENAME, or pg_upgrade's preserved OIDs -- but not after
 * pg_upgrade, whose new cluster has a new system identifier.
 * loginas._bind_hash(h) binds a 1.1 hash (sha256(secret)) the same way: the
 * upgrade to 1.2 converts the stored hashes in place, so live tickets and
 * sessions go on working.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "loginas.h"

#define LOGINAS_SECRET_BYTES 32

PG_FUNCTION_INFO_V1(loginas_new_secret);
PG_FUNCTION_INFO_V1(loginas_secret_hash);
PG_FUNCTION_INFO_V1(loginas_bind_hash);

/*
 * loginas._new_secret() -> text
 */
Datum
loginas_new_secret(PG_FUNCTION_ARGS)
{
	uint8		raw[LOGINAS_SECRET_BYTES];
	char		hex[LOGINAS_SECRET_BYTES * 2 + 1];
	static const char digits[] = "0123456789abcdef";
	int			i;

	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random Login as Customer secret"),
				 errdetail("The operating system's strong random source failed.")));

	for (i = 0; i < LOGINAS_SECRET_BYTES; i++)
	{
		hex[i * 2] = digits[raw[i] >> 4];
		hex[i * 2 + 1] = digits[raw[i] & 0x0f];
	}
	hex[LOGINAS_SECRET_BYTES * 2] = '\0';
	explicit_bzero(raw, sizeof(raw));

	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/* sha256 of a prefix and some bytes */
static void
sha256_two(const char *prefix, const uint8 *data, size_t len, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		(prefix && pg_cryptohash_update(ctx, (const uint8 *) prefix, strlen(prefix)) < 0) ||
		pg_cryptohash_update(ctx, data, len) < 0 ||
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "loginas: could not compute a SHA-256 hash: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* sha256(identity of this database || h) */
static bytea *
bind_to_database(const uint8 *h, size_t len)
{
	char		identity[64];
	uint8		out[PG_SHA256_DIGEST_LENGTH];

	snprintf(identity, sizeof(identity), "loginas:" UINT64_FORMAT ":%u:", GetSystemIdentifier(), MyDatabaseId);
	sha256_two(identity, h, len, out);
	return loginas_hash_bytea(out);
}

/*
 * loginas._hash(secret text) -> bytea: what is stored for a ticket or session
 * key issued in this database (and what a presented one is looked up by)
 */
Datum
loginas_secret_hash(PG_FUNCTION_ARGS)
{
	text	   *secret = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(secret);
	char	   *utf8 = pg_server_to_any(VARDATA_ANY(secret), len, PG_UTF8);
	uint8		inner[PG_SHA256_DIGEST_LENGTH];

	/* as 1.1's sha256(convert_to(secret, 'UTF8')) */
	sha256_two(NULL, (const uint8 *) utf8, utf8 == VARDATA_ANY(secret) ? (size_t) len : strlen(utf8), inner);
	PG_RETURN_BYTEA_P(bind_to_database(inner, sizeof(inner)));
}

/*
 * sha256 of a presented key as loginas._hash reads it (its UTF-8 bytes), not
 * yet bound to the database: what the per-backend cache of assume() is keyed
 * by (assume.c)
 */
void
loginas_key_digest(text *secret, uint8 *out)
{
	int			len = VARSIZE_ANY_EXHDR(secret);
	char	   *utf8 = pg_server_to_any(VARDATA_ANY(secret), len, PG_UTF8);

	sha256_two(NULL, (const uint8 *) utf8, utf8 == VARDATA_ANY(secret) ? (size_t) len : strlen(utf8), out);
	if (utf8 != VARDATA_ANY(secret))
		pfree(utf8);
}

/*
 * loginas._bind_hash(hash bytea) -> bytea: a hash stored by 1.1
 * (sha256(secret)) bound to this database, as loginas._hash binds it
 */
Datum
loginas_bind_hash(PG_FUNCTION_ARGS)
{
	bytea	   *h = PG_GETARG_BYTEA_PP(0);

	loginas_require_owner(fcinfo, "loginas._bind_hash()");
	PG_RETURN_BYTEA_P(bind_to_database((const uint8 *) VARDATA_ANY(h), VARSIZE_ANY_EXHDR(h)));
}
