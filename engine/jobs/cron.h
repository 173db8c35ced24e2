/* cron.h - job schedules: five-field cron expressions (minute hour
 * day-of-month month day-of-week) in a named time zone, and the next time
 * one fires.  Fields take a star, N, A-B, a step "/S" after a star or a
 * range, and comma lists of those; months
 * and days may be named (jan..dec, sun..sat; 7 is Sunday too); @yearly,
 * @monthly, @weekly, @daily (@midnight) and @hourly stand for their usual
 * expressions.  Day of month and day of week follow cron's rule: when both
 * are restricted (neither starts with '*'), a day matching either fires. */
#ifndef MLFS_CRON_H
#define MLFS_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define CRON_TZ_MAX 64

struct cron {
	uint64_t minutes;	/* bit M: minute M, 0-59 */
	uint32_t hours;		/* bit H: 0-23 */
	uint32_t mdays;		/* bit D: 1-31 */
	uint32_t months;	/* bit M: 1-12 */
	uint32_t wdays;		/* bit D: 0-6, 0 = Sunday */
	bool hour_star, mday_star, wday_star;
	char tz[CRON_TZ_MAX];	/* "UTC" or an IANA zone, e.g. Europe/Berlin */
};

/* Parse EXPR in time zone TZ (NULL or "" = UTC) into OUT.  -EINVAL with
 * the field and the reason ("field 2 (hour): 24 is out of range 0-23"),
 * or for an unknown time zone. */
int cron_parse(const char *expr, const char *tz, struct cron *out,
	       struct mlfs_err *err);

/* The first time the schedule fires strictly after AFTER (seconds since
 * the epoch, UTC), into *NEXT.  A schedule at fixed hours follows the
 * wall clock: a time that a DST change skips does not fire that day, a
 * time it repeats fires once, at the first occurrence.  A schedule for
 * every hour (hour field '*') follows real time: each real hour fires,
 * the repeated one too.  -ENOENT when it never fires within eight years (e.g.
 * "0 0 30 2 *").  Thread-safe: the process's TZ is switched under a lock
 * (this module is the only user of local time in mlfs). */
int cron_next(const struct cron *c, int64_t after, int64_t *next);

#endif
