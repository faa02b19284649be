/*
 * loginas.h
 *		Shared declarations of the loginas extension.
 *
 * The flow of a "Login as Customer" session through the code:
 *   ticket (sql: loginas.begin, token.c makes the secret)
 *   -> session (sql: loginas.redeem)
 *   -> context (context.c: loginas.assume binds one transaction to a session)
 *   -> trigger / log / report (later files, built on the context).
 */
#ifndef LOGINAS_H
#define LOGINAS_H

#include "postgres.h"

/* The impersonation context of the current transaction (context.c). */
typedef struct LoginAsContext
{
	bool		active;
	int64		session_id;
	int64		admin_id;
	int64		customer_id;
	int64		store_id;
	bool		read_only;
	char	   *banner;			/* in TopMemoryContext, or NULL */
	SubTransactionId set_in_subxact;	/* discard when this one aborts */
} LoginAsContext;

/* context.c */
extern void loginas_context_init(void);
extern const LoginAsContext *loginas_current_context(void);
extern void loginas_context_clear(void);

#endif							/* LOGINAS_H */
