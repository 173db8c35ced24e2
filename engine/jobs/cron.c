/* cron.c - parsing cron expressions into bit sets and finding the next
 * time they fire (see cron.h).  Local time comes from the C library with
 * TZ switched under one lock; the search walks forward in local time,
 * skipping whole months, days and hours that cannot match, so even a
 * leap-day schedule needs a few thousand steps, not millions. */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct field {
	const char *name;
	int lo, hi;
	const char *const *names;	/* names for lo.. or NULL */
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL,
};
static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL,
};

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, day_names },
};

static const struct {
	const char *name, *expr;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* A number or a name of field F at *P; advances *P. */
static int parse_value(const char **p, const struct field *f, int *out)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long v = 0;
		while (isdigit((unsigned char)*s) && v < 1000)
			v = v * 10 + (*s++ - '0');
		*out = (int)v;
		*p = s;
		return 0;
	}
	for (int i = 0; f->names && f->names[i]; i++)
		if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
			*out = f->lo + i;
			*p = s + 3;
			return 0;
		}
	return -EINVAL;
}

/* One comma-separated element: *, N, A-B, with an optional /S. */
static int parse_element(const char *s, const char *end, const struct field *f,
			 int idx, uint64_t *bits, struct mlfs_err *err)
{
	int lo = f->lo, hi = f->hi == 7 ? 6 : f->hi, step = 1;
	const char *p = s;

	if (*p == '*') {
		p++;
	} else {
		if (parse_value(&p, f, &lo))
			return mlfs_fail(err, -EINVAL, "field %d (%s): '%.*s' is not a number%s",
					 idx + 1, f->name, (int)(end - s), s, f->names ? " or a name" : "");
		hi = lo;
		if (*p == '-') {
			p++;
			if (parse_value(&p, f, &hi))
				return mlfs_fail(err, -EINVAL, "field %d (%s): bad range '%.*s'",
						 idx + 1, f->name, (int)(end - s), s);
		}
		for (int v = 0, *x = &lo; v < 2; v++, x = &hi)
			if (*x < f->lo || *x > f->hi)
				return mlfs_fail(err, -EINVAL, "field %d (%s): %d is out of range %d-%d",
						 idx + 1, f->name, *x, f->lo, f->hi);
		if (hi < lo)
			return mlfs_fail(err, -EINVAL, "field %d (%s): range %d-%d runs backwards",
					 idx + 1, f->name, lo, hi);
	}
	if (*p == '/') {
		p++;
		if (parse_value(&p, &fields[0], &step) || step < 1 || step > f->hi)
			return mlfs_fail(err, -EINVAL, "field %d (%s): bad step in '%.*s'",
					 idx + 1, f->name, (int)(end - s), s);
		if (s[0] != '*' && hi == lo)
			hi = f->hi == 7 ? 6 : f->hi;	/* "5/15": from 5 to the end */
	}
	if (p != end)
		return mlfs_fail(err, -EINVAL, "field %d (%s): unexpected '%.*s'",
				 idx + 1, f->name, (int)(end - p), p);
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ull << (f->hi == 7 ? v % 7 : v);
	return 0;
}

static int parse_field(const char *s, size_t len, int idx, uint64_t *bits,
		       struct mlfs_err *err)
{
	const char *end = s + len;
	*bits = 0;
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *stop = comma ? comma : end;
		if (stop == s)
			return mlfs_fail(err, -EINVAL, "field %d (%s): empty list element", idx + 1, fields[idx].name);
		int rc = parse_element(s, stop, &fields[idx], idx, bits, err);
		if (rc)
			return rc;
		s = stop + (comma ? 1 : 0);
		if (comma && s == end)
			return mlfs_fail(err, -EINVAL, "field %d (%s): empty list element", idx + 1, fields[idx].name);
	}
	return 0;
}

static int check_tz(const char *tz, struct mlfs_err *err)
{
	char path[128];
	size_t n = strlen(tz);
	if (n >= CRON_TZ_MAX || strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") != n ||
	    strstr(tz, "..") || tz[0] == '/')
		return mlfs_fail(err, -EINVAL, "time zone '%s' is not a zone name such as UTC or Europe/Berlin", tz);
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	if (strcmp(tz, "UTC") && access(path, R_OK))
		return mlfs_fail(err, -EINVAL, "unknown time zone '%s' (no %s)", tz, path);
	return 0;
}

int cron_parse(const char *expr, const char *tz, struct cron *out,
	       struct mlfs_err *err)
{
	struct cron c = { 0 };
	const char *p = expr;

	while (*p == ' ' || *p == '\t')
		p++;
	for (size_t i = 0; i < sizeof(macros) / sizeof(*macros); i++)
		if (strncasecmp(p, macros[i].name, strlen(macros[i].name)) == 0 &&
		    strspn(p + strlen(macros[i].name), " \t\n") == strlen(p + strlen(macros[i].name)))
			return cron_parse(macros[i].expr, tz, out, err);
	snprintf(c.tz, sizeof(c.tz), "%s", tz && *tz ? tz : "UTC");
	int rc = check_tz(c.tz, err);
	if (rc)
		return rc;
	uint64_t bits[5];
	int nfields = 0;
	while (*p) {
		size_t len = strcspn(p, " \t\n");
		if (nfields == 5)
			return mlfs_fail(err, -EINVAL, "more than five fields (minute hour day-of-month month day-of-week)");
		if (nfields == 1)
			c.hour_star = *p == '*';
		if (nfields == 2)
			c.mday_star = *p == '*';
		if (nfields == 4)
			c.wday_star = *p == '*';
		if ((rc = parse_field(p, len, nfields, &bits[nfields], err)))
			return rc;
		nfields++;
		p += len;
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
	}
	if (nfields != 5)
		return mlfs_fail(err, -EINVAL, "%d fields; cron needs five (minute hour day-of-month month day-of-week)", nfields);
	c.minutes = bits[0];
	c.hours = (uint32_t)bits[1];
	c.mdays = (uint32_t)bits[2];
	c.months = (uint32_t)bits[3];
	c.wdays = (uint32_t)bits[4];
	*out = c;
	return 0;
}

/* ---- next ---- */

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static bool day_matches(const struct cron *c, const struct tm *tm)
{
	bool md = c->mdays & (1u << tm->tm_mday);
	bool wd = c->wdays & (1u << tm->tm_wday);
	if (c->mday_star || c->wday_star)
		return md && wd;
	return md || wd;
}

/* Local midnight-based time for TM's fields, normalised by mktime. */
static time_t local_time(struct tm tm)
{
	tm.tm_isdst = -1;
	return mktime(&tm);
}

/* True when wall-clock time T already occurred an hour earlier (the
 * repeated hour when clocks go back). */
static bool repeated(time_t t, const struct tm *tm)
{
	struct tm before;
	time_t e = t - 3600;
	localtime_r(&e, &before);
	return before.tm_hour == tm->tm_hour && before.tm_min == tm->tm_min &&
	       before.tm_mday == tm->tm_mday && before.tm_isdst != tm->tm_isdst;
}

static int search(const struct cron *c, time_t t, int64_t *next)
{
	const time_t limit = t + (time_t)8 * 366 * 86400;
	struct tm tm;

	while (t < limit) {
		localtime_r(&t, &tm);
		time_t to = 0;
		if (!(c->months & (1u << (tm.tm_mon + 1)))) {
			tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0;
			to = local_time(tm);
		} else if (!day_matches(c, &tm)) {
			tm.tm_mday++, tm.tm_hour = 0, tm.tm_min = 0;
			to = local_time(tm);
		} else if (!(c->hours & (1u << tm.tm_hour))) {
			tm.tm_hour++, tm.tm_min = 0;
			to = local_time(tm);
		} else if (!(c->minutes & (1ull << tm.tm_min)) ||
			   (!c->hour_star && repeated(t, &tm))) {
			to = t + 60;
		} else {
			*next = (int64_t)t;
			return 0;
		}
		/* A skipped hour can normalise backwards: always move on. */
		t = to > t ? to - (to % 60) : t + 60;
		if (t <= 0)
			break;
	}
	return -ENOENT;
}

int cron_next(const struct cron *c, int64_t after, int64_t *next)
{
	time_t t = (time_t)(after - (after % 60 + 60) % 60 + 60);
	pthread_mutex_lock(&tz_lock);
	char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", c->tz, 1);
	tzset();
	int rc = search(c, t, next);
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	pthread_mutex_unlock(&tz_lock);
	return rc;
}
