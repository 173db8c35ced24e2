/* test_cron.c - cron expressions: next times worked out by hand (month
 * ends, the leap day, cron's day-of-month OR day-of-week rule, DST changes
 * in Europe/Berlin, New York), and every malformed field rejected. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cron.h"

/* "YYYY-MM-DD HH:MM:SS" in UTC to seconds. */
static int64_t utc(const char *s)
{
	struct tm tm = { 0 };
	if (!strptime(s, "%Y-%m-%d %H:%M:%S", &tm))
		fail_msg("bad time %s", s);
	return (int64_t)timegm(&tm);
}

static void expect_next(const char *expr, const char *tz, const char *after,
			const char *want)
{
	struct cron c;
	struct mlfs_err err = { 0 };
	if (cron_parse(expr, tz, &c, &err))
		fail_msg("'%s' rejected: %s", expr, err.msg);
	int64_t next = 0;
	assert_int_equal(cron_next(&c, utc(after), &next), 0);
	if (next != utc(want)) {
		char got[32];
		time_t t = (time_t)next;
		strftime(got, sizeof(got), "%Y-%m-%d %H:%M:%S", gmtime(&t));
		fail_msg("'%s' (%s) after %s: got %s UTC, want %s UTC", expr, tz ? tz : "UTC",
			 after, got, want);
	}
}

static void utc_schedules(void **state)
{
	expect_next("0 2 * * *", NULL, "2026-12-05 11:00:00", "2026-12-06 02:00:00");
	expect_next("*/15 * * * *", "UTC", "2026-12-05 12:07:30", "2026-12-05 12:15:00");
	expect_next("@hourly", NULL, "2026-12-05 12:00:00", "2026-12-05 13:00:00");
	expect_next("5-10/5 * * * *", NULL, "2026-12-05 12:05:00", "2026-12-05 12:10:00");
	expect_next("0 0 * * 1-5", NULL, "2026-12-05 12:00:00", "2026-12-07 00:00:00");
	expect_next("0 12 * DEC 7", NULL, "2026-12-05 00:00:00", "2026-12-06 12:00:00");
	expect_next("0 12 * dec sun", NULL, "2026-12-06 12:00:00", "2026-12-13 12:00:00");
	expect_next("0 9 * jan,jul mon", NULL, "2026-12-05 00:00:00", "2027-01-04 09:00:00");
	expect_next("30 23 * * *", NULL, "2026-12-31 23:45:00", "2027-01-01 23:30:00");
}

static void month_ends_and_leap_day(void **state)
{
	expect_next("0 0 31 * *", NULL, "2026-04-15 00:00:00", "2026-05-31 00:00:00");
	expect_next("0 0 31 * *", NULL, "2026-05-31 00:00:00", "2026-07-31 00:00:00");
	expect_next("0 0 29 2 *", NULL, "2026-03-01 00:00:00", "2028-02-29 00:00:00");
	expect_next("0 0 29 2 *", NULL, "2097-03-01 00:00:00", "2104-02-29 00:00:00");
	struct cron c;
	int64_t next;
	assert_int_equal(cron_parse("0 0 30 2 *", NULL, &c, NULL), 0);
	assert_int_equal(cron_next(&c, utc("2026-01-01 00:00:00"), &next), -ENOENT);
}

static void day_of_month_or_day_of_week(void **state)
{
	/* Both restricted: the 13th OR any Friday; 2026-02-06 is a Friday. */
	expect_next("0 0 13 * fri", NULL, "2026-02-01 00:00:00", "2026-02-06 00:00:00");
	expect_next("0 0 13 * fri", NULL, "2026-02-10 00:00:00", "2026-02-13 00:00:00");
	expect_next("0 0 14 * fri", NULL, "2026-02-13 00:00:00", "2026-02-14 00:00:00");
	/* One is a star: only the other counts. */
	expect_next("0 0 13 * *", NULL, "2026-02-01 00:00:00", "2026-02-13 00:00:00");
	expect_next("0 0 * * fri", NULL, "2026-02-07 00:00:00", "2026-02-13 00:00:00");
}

static void time_zones_and_dst(void **state)
{
	expect_next("0 2 * * *", "Europe/Berlin", "2026-12-05 00:00:00", "2026-12-05 01:00:00");
	/* Summer time: 02:00 CEST is 00:00 UTC. */
	expect_next("0 2 * * *", "Europe/Berlin", "2026-07-01 00:00:00", "2026-07-02 00:00:00");
	expect_next("0 0 * * *", "America/New_York", "2026-12-05 00:00:00", "2026-12-05 05:00:00");
	/* 2026-03-29 02:30 does not exist in Berlin: that day is skipped. */
	expect_next("30 2 * * *", "Europe/Berlin", "2026-03-28 02:00:00", "2026-03-30 00:30:00");
	/* 2026-10-25 02:30 happens twice in Berlin: fire at the first only. */
	expect_next("30 2 * * *", "Europe/Berlin", "2026-10-24 12:00:00", "2026-10-25 00:30:00");
	expect_next("30 2 * * *", "Europe/Berlin", "2026-10-25 00:30:00", "2026-10-26 01:30:00");
	/* Hourly follows real time across the change back: 02:00 CEST (00:00
	 * UTC), 02:00 CET (01:00 UTC), 03:00 CET (02:00 UTC). */
	expect_next("0 * * * *", "Europe/Berlin", "2026-10-25 00:00:00", "2026-10-25 01:00:00");
	expect_next("0 * * * *", "Europe/Berlin", "2026-10-25 01:00:00", "2026-10-25 02:00:00");
	/* The process's own TZ is left as it was. */
	assert_null(getenv("TZ"));
}

static void expect_error(const char *expr, const char *tz, const char *reason)
{
	struct cron c;
	struct mlfs_err err = { 0 };
	assert_int_equal(cron_parse(expr, tz, &c, &err), -EINVAL);
	if (!strstr(err.msg, reason))
		fail_msg("'%s': message '%s' lacks '%s'", expr, err.msg, reason);
}

static void bad_expressions(void **state)
{
	expect_error("60 * * * *", NULL, "field 1 (minute): 60 is out of range 0-59");
	expect_error("0 24 * * *", NULL, "field 2 (hour): 24 is out of range 0-23");
	expect_error("0 0 0 * *", NULL, "field 3 (day of month): 0 is out of range 1-31");
	expect_error("0 0 * 13 *", NULL, "field 4 (month): 13 is out of range 1-12");
	expect_error("0 0 * * 8", NULL, "field 5 (day of week): 8 is out of range 0-7");
	expect_error("* * * *", NULL, "4 fields");
	expect_error("* * * * * *", NULL, "more than five fields");
	expect_error("1- * * * *", NULL, "bad range");
	expect_error("*/0 * * * *", NULL, "bad step");
	expect_error("x * * * *", NULL, "'x' is not a number");
	expect_error("0 0 * foo *", NULL, "is not a number or a name");
	expect_error("5-1 * * * *", NULL, "runs backwards");
	expect_error("1,,2 * * * *", NULL, "empty list element");
	expect_error("1, * * * *", NULL, "empty list element");
	expect_error("0 0 * * *", "Mars/Olympus", "unknown time zone");
	expect_error("0 0 * * *", "../../etc/passwd", "not a zone name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utc_schedules),
		cmocka_unit_test(month_ends_and_leap_day),
		cmocka_unit_test(day_of_month_or_day_of_week),
		cmocka_unit_test(time_zones_and_dst),
		cmocka_unit_test(bad_expressions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
