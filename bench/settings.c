/*
 * Bench-only library for bench/skip_unchanged: what defining six settings
 * costs a new session that loads a library, on the server's version.
 * Built twice: with BENCH_SETTINGS=6 its _PG_init defines six settings of
 * the kinds metrics_refresh defines (three strings, three integers: see
 * _PG_init in src/metrics_refresh.c), named so that they sort next to ours
 * (where a new setting lands in the sorted array changes what the sort
 * costs, by up to half), with BENCH_SETTINGS=0 none.  Timing
 * LOAD of each in new sessions, the difference is the settings' share of
 * loading metrics_refresh (PostgreSQL 15 sorts its whole settings array
 * once per setting defined; 16 and later keep them in a hash table).
 * Not part of the extension.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

#ifndef BENCH_SETTINGS
#error "BENCH_SETTINGS must be 0 or 6"
#endif

void		_PG_init(void);

#if BENCH_SETTINGS > 0
static char *s1,
		   *s2,
		   *s3;
static int	i1,
			i2,
			i3;
#endif

void
_PG_init(void)
{
#if BENCH_SETTINGS > 0
	DefineCustomStringVariable("metrics_refresh_bench.platform_view", "A string.", NULL, &s1, "a",
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_refresh_bench.admin_role", "A string.", NULL, &s2, "b",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_refresh_bench.admin_check", "A string.", NULL, &s3, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("metrics_refresh_bench.lock_timeout", "An integer.", NULL, &i1, 60000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("metrics_refresh_bench.refresh_timeout", "An integer.", NULL, &i2, 0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("metrics_refresh_bench.log_retention", "An integer.", NULL, &i3, 43200, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
#endif
}
