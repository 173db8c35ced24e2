/* err.h - the error record every engine call can fill.
 *
 * Engine functions return 0 or a negative errno; where a message helps the
 * user (a CSV line, a YAML position, RocksDB's text) they take an optional
 * caller-owned struct mlfs_err as their last parameter.  No malloc'd string
 * crosses the engine boundary. */
#ifndef MLFS_ERR_H
#define MLFS_ERR_H

#include <stdarg.h>

struct mlfs_err {
	int code;		/* negative errno, 0 when unset */
	char msg[512];		/* human text, NUL-terminated */
};

/* Record CODE (negative errno) and a printf-style message in ERR (may be
 * NULL).  Returns CODE so callers can write `return mlfs_fail(err, ...)`. */
int mlfs_fail(struct mlfs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clear ERR (may be NULL). */
void mlfs_err_clear(struct mlfs_err *err);

/* Problems a check finds (`mlfs check`): each a line to FN (may be NULL),
 * counted. */
struct mlfs_problems {
	void (*fn)(void *ctx, const char *problem);
	void *ctx;
	int count;
};
void mlfs_problem(struct mlfs_problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The one out-of-memory policy (redis's zmalloc): print a line to stderr
 * and abort.  Small allocations in the engine and fs/ never return NULL
 * to their callers; only sizes a user controls (a request, a model) are
 * checked and answered with -ENOMEM or -EFBIG. */
__attribute__((noreturn)) void mlfs_oom(void);
/* strdup that never returns NULL (out of memory aborts, mlfs_oom). */
char *mlfs_strdup(const char *s);

#endif
