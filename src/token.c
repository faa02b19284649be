/*
 * token.c
 *		Secrets handed to clients: one-time tickets and session keys.
 *
 * A secret is 32 bytes (256 bits) from the operating system's strong random
 * source, given to the client as 64 hex digits.  Only its SHA-256 hash is
 * ever stored (the SQL side hashes with pg_catalog.sha256), so the tables
 * never hold anything that could be replayed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#define LOGINAS_SECRET_BYTES 32

PG_FUNCTION_INFO_V1(loginas_new_secret);

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
