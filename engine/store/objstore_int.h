/* objstore_int.h - what an object-store implementation provides: the
 * vtable behind objstore.h.  objstore.c checks names and arguments
 * before any of these runs, so an implementation sees valid names, a
 * LIMIT of 1-OBJSTORE_PAGE_MAX, AFTER never NULL and OUT already reset. */
#ifndef MLFS_OBJSTORE_INT_H
#define MLFS_OBJSTORE_INT_H

#include "objstore.h"

struct objstore_ops {
	const char *kind;
	int (*put_once)(struct objstore *os, const char *name,
			const void *data, size_t len, struct mlfs_err *err);
	int (*get)(struct objstore *os, const char *name, uint64_t off,
		   uint64_t len, struct buf *out, struct mlfs_err *err);
	int (*head)(struct objstore *os, const char *name, uint64_t *size,
		    struct mlfs_err *err);
	int (*del)(struct objstore *os, const char *name,
		   struct mlfs_err *err);
	int (*list)(struct objstore *os, const char *prefix, const char *after,
		    size_t limit, objstore_list_fn fn, void *ctx, bool *more,
		    struct mlfs_err *err);
	void (*close)(struct objstore *os);
};

/* Every implementation's handle starts with this. */
struct objstore {
	const struct objstore_ops *ops;
};

#endif
