/*
 * compat.h
 *		The differences between the PostgreSQL majors loginas builds for
 *		(15 and later), in one place.
 *
 * The code is written against the newest API; each shim below gives an older
 * major what the newer ones have, so that no version test appears in the
 * logic itself.  Included by loginas.h, hence by every file.
 *
 * 15 is the floor: 14 lacks MarkGUCPrefixReserved() and shmem_request_hook,
 * both of which loginas needs.
 */
#ifndef LOGINAS_COMPAT_H
#define LOGINAS_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "loginas needs PostgreSQL 15 or later"
#endif

#include "catalog/pg_namespace.h"
#include "utils/acl.h"

/* 16 moved the varlena macros (VARSIZE_ANY_EXHDR, ...) out of postgres.h */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * object_ownercheck(classid, objectid, roleid), 16 and later, replaced the
 * per-catalog pg_*_ownercheck() functions.  On 15, only the catalogs loginas
 * asks about are mapped (a namespace); any other class fails to compile.
 */
#if PG_VERSION_NUM < 160000
#define object_ownercheck(classid, objectid, roleid) \
	(StaticAssertExpr((classid) == NamespaceRelationId, \
					  "compat.h maps object_ownercheck() only for namespaces on PostgreSQL 15"), \
	 pg_namespace_ownercheck((objectid), (roleid)))
#endif

/*
 * object_aclcheck(classid, objectid, roleid, mode), 16 and later, likewise
 * replaced pg_namespace_aclcheck() and friends; on 15 it is mapped for a
 * namespace only.  (pg_class_aclcheck() exists on every major.)
 */
#if PG_VERSION_NUM < 160000
#define object_aclcheck(classid, objectid, roleid, mode) \
	(StaticAssertExpr((classid) == NamespaceRelationId, \
					  "compat.h maps object_aclcheck() only for namespaces on PostgreSQL 15"), \
	 pg_namespace_aclcheck((objectid), (roleid), (mode)))
#endif

/*
 * 19 gives signal handlers a second argument (SIGNAL_ARGS); a handler that
 * passes its signal on to another (die) passes what it got.
 */
#if PG_VERSION_NUM >= 190000
#define LOGINAS_SIGNAL_PASS postgres_signal_arg, pg_siginfo
#else
#define LOGINAS_SIGNAL_PASS postgres_signal_arg
#endif

/*
 * Index entries for a row just inserted (rowinsert.c): 16 added
 * onlySummarizing, 19 folded the booleans into flags.
 */
#if PG_VERSION_NUM >= 190000
#define loginas_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (estate), 0, (slot), NIL, NULL)
#elif PG_VERSION_NUM >= 160000
#define loginas_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define loginas_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

#endif							/* LOGINAS_COMPAT_H */
