/* err.c - filling struct mlfs_err, and the one out-of-memory exit.
 * Nothing else: no logging. */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mlfs_fail(struct mlfs_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

void mlfs_err_clear(struct mlfs_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

void mlfs_oom(void)
{
	fputs("mlfs: out of memory\n", stderr);
	abort();
}

void mlfs_problem(struct mlfs_problems *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->count++;
	if (p->fn)
		p->fn(p->ctx, line);
}

char *mlfs_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		mlfs_oom();
	return d;
}
