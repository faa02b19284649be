/*
 * revocation.c
 *		Revocations never miss a ticket, whatever the isolation level.
 *
 * loginas.begin() and loginas.redeem() share-lock the rows their decision
 * rests on: the 'enabled' setting, the admin role's "login" resource and the
 * customer's consent (loginas._evaluate).  Share locks do not block each
 * other, so unrelated begins go on side by side.  Turning the feature off,
 * revoking the resource and withdrawing the consent write one of those rows:
 * they wait for every begin holding it, and then end the live tickets and
 * sessions they see.
 *
 * In READ COMMITTED each statement sees what committed before it, so they see
 * the tickets of the begins they waited for.  In REPEATABLE READ and
 * SERIALIZABLE a share lock leaves no new row version behind, so nothing
 * makes the revocation fail, and its snapshot, taken before the begin
 * committed, does not show the new ticket: it would commit and leave the
 * ticket live.  So the revocation's row trigger (loginas._serialize_revocation)
 * looks at the live tickets and sessions as of now: one that its snapshot
 * cannot see makes it fail with a serialization error (40001), as an UPDATE
 * of a concurrently changed row would, and the application retries.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "loginas.h"

PG_FUNCTION_INFO_V1(loginas_serialize_revocation);

static SPIPlanPtr live_all_plan = NULL;
static SPIPlanPtr live_customer_plan = NULL;
static SPIPlanPtr live_customer_key_plan = NULL;

static SPIPlanPtr
keep_plan(const char *query, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "loginas: could not prepare \"%s\": %s", query, SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * AFTER UPDATE OR DELETE row trigger on loginas.setting, loginas.role_resource
 * and loginas.consent, installed with a WHEN clause that keeps only
 * revocations.  On loginas.consent only that customer's tickets count: those
 * with its customer_key (a key of any type; customer_id is NULL for keys that
 * are not integers), or with its customer_id before the update to 1.3.
 */
Datum
loginas_serialize_revocation(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Snapshot	mine;
	LoginAsOwnerState owner;
	Datum		args[1];
	SPIPlanPtr	plan;
	uint64		i;
	bool		unseen = false;
	int			customer_att;
	int			key_att;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("loginas._serialize_revocation() must be called as an AFTER ROW trigger")));
	if (!IsolationUsesXactSnapshot())
		return PointerGetDatum(NULL);

	mine = GetTransactionSnapshot();
	customer_att = SPI_fnumber(RelationGetDescr(td->tg_relation), "customer_id");
	key_att = SPI_fnumber(RelationGetDescr(td->tg_relation), "customer_key");

	loginas_as_owner_begin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "loginas: SPI_connect failed");
	if (key_att > 0)
	{
		Oid			argtypes[1] = {TEXTOID};
		bool		isnull;

		if (live_customer_key_plan == NULL)
			live_customer_key_plan = keep_plan("SELECT s.xmin FROM loginas.session s"
											   " WHERE s.ended_at IS NULL"
											   "   AND s.customer_key OPERATOR(pg_catalog.=) $1",
											   1, argtypes);
		plan = live_customer_key_plan;
		args[0] = heap_getattr(td->tg_trigtuple, key_att, RelationGetDescr(td->tg_relation), &isnull);
	}
	else if (customer_att > 0)
	{
		Oid			argtypes[1] = {INT8OID};
		bool		isnull;

		if (live_customer_plan == NULL)
			live_customer_plan = keep_plan("SELECT s.xmin FROM loginas.session s"
										   " WHERE s.ended_at IS NULL"
										   "   AND s.customer_id OPERATOR(pg_catalog.=) $1",
										   1, argtypes);
		plan = live_customer_plan;
		args[0] = heap_getattr(td->tg_trigtuple, customer_att, RelationGetDescr(td->tg_relation), &isnull);
	}
	else
	{
		if (live_all_plan == NULL)
			live_all_plan = keep_plan("SELECT s.xmin FROM loginas.session s WHERE s.ended_at IS NULL",
									  0, NULL);
		plan = live_all_plan;
	}
	if (SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "loginas: could not read the live sessions");
	for (i = 0; i < SPI_processed && !unseen; i++)
	{
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 1, &isnull));

		/* committed since this transaction's snapshot was taken */
		unseen = !TransactionIdIsCurrentTransactionId(xmin) && XidInMVCCSnapshot(xmin, mine);
	}
	SPI_finish();
	loginas_as_owner_end(&owner);

	if (unseen)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent Login as Customer begin"),
				 errdetail("A ticket or session that this change must end was created after this transaction's snapshot was taken."),
				 errhint("Retry the transaction.")));
	return PointerGetDatum(NULL);
}
