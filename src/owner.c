/*
 * owner.c
 *		Running code with the rights of loginas' owner.
 *
 * The tracking trigger, the write log and the session lock run SQL as the
 * owner of the schema "loginas" (the extension owner): they read and write
 * loginas' own tables, and the shop's parent rows, whatever the writing role
 * may read.  They do so as a security-restricted operation, so nothing run
 * there can SET ROLE, leave temporary objects behind, or change settings
 * that outlive it.  What may run there at all is the other half of the rule:
 * only loginas' own functions and PostgreSQL's built-in types and operators
 * (track.c checks every column it compares; see docs/guarantees.md).
 *
 * The owner's OID is looked up once and kept until the schema's catalog row
 * changes (ALTER SCHEMA ... OWNER TO, DROP/CREATE EXTENSION).
 *
 * The other way round, loginas reads the shop's bound relations as the
 * powerless role loginas_reader (reader.c), also as a security-restricted
 * operation, with every setting the read changes undone afterwards
 * (loginas_as_role_begin/end).  And its internal functions refuse anyone but
 * the owner (loginas_require_owner), the second lock after EXECUTE.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "access/htup_details.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "loginas.h"

static Oid	owner_oid = InvalidOid;
static bool owner_callback_registered = false;

static void
owner_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	owner_oid = InvalidOid;
}

Oid
loginas_owner(void)
{
	if (!OidIsValid(owner_oid))
	{
		Oid			nsp = get_namespace_oid("loginas", false);
		HeapTuple	tup;

		if (!owner_callback_registered)
		{
			CacheRegisterSyscacheCallback(NAMESPACEOID, owner_inval, (Datum) 0);
			owner_callback_registered = true;
		}
		tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for namespace %u", nsp);
		owner_oid = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
		ReleaseSysCache(tup);
	}
	return owner_oid;
}

void
loginas_as_owner_begin(LoginAsOwnerState *state)
{
	Oid			owner = loginas_owner();

	GetUserIdAndSecContext(&state->save_userid, &state->save_sec_context);
	SetUserIdAndSecContext(owner,
						   state->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * Become a shop table's owner, to read that table as PostgreSQL reads it for
 * a foreign-key check: a security-restricted operation, FORCE ROW LEVEL
 * SECURITY not applied to the owner.  What the owner defined on its table
 * runs with the owner's rights, which it has anyway.
 */
void
loginas_as_table_owner_begin(LoginAsOwnerState *state, Oid table_owner)
{
	GetUserIdAndSecContext(&state->save_userid, &state->save_sec_context);
	SetUserIdAndSecContext(table_owner,
						   state->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS);
}

void
loginas_as_owner_end(LoginAsOwnerState *state)
{
	SetUserIdAndSecContext(state->save_userid, state->save_sec_context);
}

/*
 * Become role for a read of what the shop defined, as a security-restricted
 * operation (no SET ROLE, no temporary objects); the settings it changes are
 * undone by loginas_as_role_end, also on the error path.
 */
void
loginas_as_role_begin(LoginAsRoleState *state, Oid role)
{
	GetUserIdAndSecContext(&state->save_userid, &state->save_sec_context);
	SetUserIdAndSecContext(role, state->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	state->save_nestlevel = NewGUCNestLevel();
}

void
loginas_as_role_end(LoginAsRoleState *state)
{
	AtEOXact_GUC(false, state->save_nestlevel);
	SetUserIdAndSecContext(state->save_userid, state->save_sec_context);
}

/*
 * The internal functions may be run only by the owner of loginas' schema (the
 * extension owner, which is who loginas' SECURITY DEFINER functions run as) or
 * a superuser.  EXECUTE is revoked from PUBLIC too; this is the second lock.
 */
void
loginas_require_owner(FunctionCallInfo fcinfo, const char *name)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!object_ownercheck(NamespaceRelationId, nsp, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s is internal to loginas and cannot be called directly", name),
				 errhint("Call loginas.assume(session_key) to act in a Login as Customer session.")));
}
