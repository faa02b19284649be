/*
 * loginas.h
 *		Shared declarations of the loginas extension.
 *
 * The flow of a "Login as Customer" session through the code:
 *   ticket (sql: loginas.begin, token.c makes the secret)
 *   -> session (sql: loginas.redeem)
 *   -> context (context.c: loginas.assume binds one transaction to a session)
 *   -> trigger (track.c: attribution on tracked tables; containment.c: a
 *              session writes only its customer's rows, judged at the first
 *              touch of a row and at commit)
 *   -> log (writelog.c: the tracked writes of a transaction, logged at commit;
 *           logappend.c: one row appended to the log, its canonical text;
 *           logchain.c: every log row linked into a per-backend hash chain)
 *   -> report (report.c: the reports' per-row text; viewlog.c: a view through
 *             viewer_admin recorded by a background worker before it is shown)
 */
#ifndef LOGINAS_H
#define LOGINAS_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "postmaster/bgworker.h"

#include "compat.h"

/* an int64 id that is not there: the key is not an integer (keys of any type) */
#define LOGINAS_NO_ID PG_INT64_MIN

/*
 * Keys: an integer key is any bigint but LOGINAS_NO_ID (which marks "no
 * integer id"); a text key has at most this many bytes (a longer one is no
 * row's key: consent and sessions index keys, and a btree entry is bounded).
 * loginas._canon_key applies the same two rules.
 */
#define LOGINAS_MAX_KEY_BYTES 512

/* The impersonation context of the current transaction (context.c). */
typedef struct LoginAsContext
{
	bool		active;
	int64		session_id;
	int64		admin_id;		/* when admins have integer keys (has_admin_id), */
	bool		has_admin_id;	/* else LOGINAS_NO_ID */
	char	   *admin_key;		/* the admin's key, any type, as canonical text */
	int64		customer_id;	/* when customers have integer keys (has_customer_id) */
	bool		has_customer_id;
	char	   *customer_key;	/* the customer's key, any type, as canonical text */
	int64		store_id;		/* when store views have integer keys (has_store_id) */
	bool		has_store_id;
	char	   *store_key;		/* the store view's key, any type, as canonical text */
	bool		read_only;
	char	   *banner;			/* in the "loginas context" memory context, or NULL */
	/* what the session's log rows carry (there too, or NULL) */
	char	   *admin_username;
	char	   *customer_email;
	char	   *source;
	char	   *reason;
	char	   *client_addr;
	SubTransactionId set_in_subxact;	/* discard when this one aborts */
	/*
	 * whether this transaction holds FOR KEY SHARE on the session's row, so
	 * that ending the session waits for it: assume() takes it unless the
	 * transaction is read-only then (it could not); the first tracked write
	 * takes it otherwise (loginas_context_lock_session)
	 */
	bool		locked;
	SubTransactionId locked_in_subxact; /* the lock goes if this one aborts */

	/*
	 * loginas.revert() writing a session's rows back (revert.c): the session
	 * is the revert's own; its writes are judged for the customer but not for
	 * protected columns or foreign keys that give rows (they put back what
	 * was), and keep no before-images
	 */
	bool		reverting;
} LoginAsContext;

/* token.c: sha256 of a presented key (the assume() cache's key) */
#define LOGINAS_KEY_DIGEST_LEN 32
extern void loginas_key_digest(text *secret, uint8 *out);

/* Running SQL as the owner of loginas' schema (owner.c) */
typedef struct LoginAsOwnerState
{
	Oid			save_userid;
	int			save_sec_context;
} LoginAsOwnerState;

/* context.c */
extern void loginas_context_init(void);
extern const LoginAsContext *loginas_current_context(void);
extern const LoginAsContext *loginas_ended_context(int64 session_id);
extern const LoginAsContext *loginas_ended_context_any(void);
extern void loginas_context_clear(void);
extern PGDLLIMPORT uint64 loginas_context_clears;
extern void loginas_context_lock_session(void);
extern void loginas_context_set_cached(const LoginAsContext *src, bool locked);
extern void loginas_context_set_revert(int64 session_id, const char *admin_key, bool has_admin_id,
									   int64 admin_id, const char *customer_key, bool has_customer_id,
									   int64 customer_id, const char *store_key, bool has_store_id,
									   int64 store_id, const char *admin_username,
									   const char *customer_email, const char *source,
									   const char *reason, const char *client_addr);

/* Reading as another role, settings restored afterwards (owner.c) */
typedef struct LoginAsRoleState
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} LoginAsRoleState;

/* owner.c */
extern Oid	loginas_owner(void);
extern void loginas_require_owner(FunctionCallInfo fcinfo, const char *name);
extern void loginas_as_role_begin(LoginAsRoleState *state, Oid role);
extern void loginas_as_role_end(LoginAsRoleState *state);
extern void loginas_as_owner_begin(LoginAsOwnerState *state);
extern void loginas_as_owner_end(LoginAsOwnerState *state);
extern void loginas_as_table_owner_begin(LoginAsOwnerState *state, Oid table_owner);

/* track.c */
extern void loginas_track_init(void);

/* refusal_queue.c: a refusal handed to the durable refusal log */
typedef struct LoginAsRefusal
{
	const char *action;			/* begin, redeem, assume, write */
	const char *sqlstate;
	const char *message;
	const char *detail;			/* or NULL */
	bool		has_admin;
	int64		admin_id;
	bool		has_customer;
	int64		customer_id;
	bool		has_session;
	int64		session_id;
	const char *client_addr;	/* the client's address as text, or NULL:
								 * the connection's (MyProcPort) */
	const char *reason;			/* given to begin, or NULL */
	const char *source;			/* given to begin, or NULL */
	const char *customer_key;	/* the customer's key when it is not an integer
								 * (has_customer false), as canonical text, or NULL */
	const char *admin_key;		/* the same for the admin (has_admin false) */
	const char *store_key;		/* the store view's key when it is not an
								 * integer (there is no store id), or NULL */
} LoginAsRefusal;

extern bool loginas_queue_refusal_entry(const LoginAsRefusal *r);
extern void loginas_refusal_queue_init(void);
extern void loginas_worker_init(BackgroundWorker *worker, const char *function, const char *type);
extern void loginas_worker_session_settings(const char *application_name, int statement_timeout_ms,
										   int lock_timeout_ms);

/* refusal.c: text for the server log, its control characters escaped */
extern char *loginas_log_text(const char *s);
extern void loginas_caller_context_only(void);

/*
 * The session a write was made in, as a refused write names it (refusal.c):
 * its ids where the keys are integers, and its keys as canonical text
 */
typedef struct LoginAsWriter
{
	int64		session_id;
	bool		has_admin_id;
	int64		admin_id;
	bool		has_customer_id;
	int64		customer_id;
	bool		has_store_id;
	char	   *admin_key;
	char	   *customer_key;
	char	   *store_key;
} LoginAsWriter;

extern void loginas_writer_of(LoginAsWriter *w, const LoginAsContext *ctx);
extern void loginas_log_write_refusal(const LoginAsWriter *w, const char *what, const char *relname);

/* report.c: one key value as loginas prints keys; as the server-log lines print it */
extern void loginas_append_key_value(StringInfo buf, const char *value);
extern char *loginas_log_key(const char *key);

/* reader.c: one row of a bound relation (kind: customers, admins, ...) as jsonb;
 * the rows of one admin or customer combined, ambiguous rows refused (21000) */
extern Datum loginas_lookup_row(const char *kind, Datum id, bool missing_ok, bool *isnull);
extern Datum loginas_lookup_key_row(const char *kind, const char *key, bool missing_ok, bool *isnull);
extern void loginas_lookup_names(const char *admin_key, const char *customer_key,
								 char **username, char **email);
/* reader.c: the bounds on reads of the durable refusal log's worker */
extern void loginas_reader_bound(int cancel_ms, int end_ms, int pause_ms);
extern void loginas_reader_skip(bool skip);
extern bool loginas_reader_was_canceled(void);
extern bool loginas_reader_ran_over(void);

/* logchain.c */
extern void loginas_logchain_init(void);
extern int64 loginas_chain_current(Oid log_relid);
extern void loginas_chain_link(int64 chain_id, Oid log_relid, const char *content, int len,
							   int64 *seq, uint8 *prev_hash, uint8 *row_hash);
extern bytea *loginas_hash_bytea(const uint8 *hash);
extern void loginas_chain_hash(const uint8 *prev, size_t prev_len, int64 chain_id, int64 seq,
							   const char *content, size_t len, uint8 *row_hash);
extern void loginas_chain_resume(Oid log_relid, int64 chain_id, int64 seq, const uint8 *hash);

/* logappend.c: one row appended to the action log of schema nsp; values and
 * nulls in the order of loginas._append's arguments (LOGINAS_APPEND_NARGS:
 * the 1.2 ones, then admin_key, customer_key, store_key) */
#define LOGINAS_APPEND_NARGS 17
/* rowinsert.c: one row appended to one of loginas' own tables, as INSERT would */
extern void loginas_insert_row(Oid relid, int ncolumns, const char *const *names, const Oid *types,
							   const Datum *values, const bool *nulls);

/* printedjsonb.c: a jsonb from the text jsonb prints of it ((Datum) 0: not that text) */
extern Datum loginas_jsonb_from_printed(const char *text, int len);
extern int64 loginas_append_values(Oid nsp, const Datum *values, const bool *nulls, bool strip,
								   const char *details_text);

/* viewlog.c: the view recorder's background worker */
extern PGDLLEXPORT void loginas_viewlog_worker_main(Datum main_arg);

/* events.c: the live event of a refusal the refusal log's worker recorded */
extern void loginas_announce_refusal(int64 log_id, int timeout_ms);
/* revert.c: the images of the rows sessions write, kept for loginas.revert() */
extern void loginas_revert_init(void);
extern void loginas_image_rows(int64 session_id, int64 rows);
extern void loginas_image_flush(void);

/* writelog.c */
struct TrackedRel;
extern void loginas_writelog_init(void);
extern bool loginas_writelog_pending(int64 session_id);
extern void loginas_writelog_record(struct TrackedRel *entry, uint32 event,
									const LoginAsContext *ctx, TupleDesc desc,
									HeapTuple oldtup, HeapTuple newtup, const char *key_json);

#endif							/* LOGINAS_H */
