/*
 * loginas.c
 *		Module entry point: library load-time set-up.
 *
 * Everything that must happen once per backend when the library is loaded
 * lives here; each concern's own code lives in the file named for it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "loginas.h"
#include "track.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	loginas_context_init();
	loginas_writelog_init();
	loginas_track_init();
	loginas_containment_init();
	loginas_revert_init();
	loginas_logchain_init();

	/* the durable refusal log: only when in shared_preload_libraries */
	loginas_refusal_queue_init();

	/*
	 * Who is acting is kept in C memory (context.c), never in a variable a
	 * client could SET; the only loginas.* settings are limits a superuser
	 * sets (defined above).  Reserve the prefix so that "SET loginas.anything
	 * else" is refused instead of silently creating a placeholder that looks
	 * meaningful.
	 */
	MarkGUCPrefixReserved("loginas");
}
