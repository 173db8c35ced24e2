/* attrs.h - owner, mode and times of objects in the tree, kept by name.
 *
 * The engine does not know paths; the caller names objects with any byte
 * string (fs/ uses the path).  Only what a user set or what creation
 * fixed is stored; everything else is derived by the caller. */
#ifndef MLFS_ATTRS_H
#define MLFS_ATTRS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct attrs {
	uint32_t mode;		/* permission bits only */
	uint32_t uid, gid;
	int64_t ctime_ns, mtime_ns;
};

/* 0 or -ENOENT (also for a record that cannot be read).  Served from a
 * per-store cache (attrs.c) that is exact: every write below empties it
 * once written.  Thread-safe. */
int attrs_get(struct store *s, const char *name, struct attrs *out);
int attrs_put(struct store *s, const char *name, const struct attrs *a,
	      struct mlfs_err *err);
/* Delete NAME alone. */
int attrs_delete(struct store *s, const char *name, struct mlfs_err *err);
/* Delete NAME and every name that starts with NAME + "/". */
int attrs_delete_tree(struct store *s, const char *name, struct mlfs_err *err);
/* The same deletes put into B, for an object that goes (or comes) with
 * its attrs in one batch.  Call attrs_batch_written once B is written
 * (or failed), or write it with attrs_batch_write. */
void attrs_batch_delete_tree(struct store_batch *b, const char *name);
/* A batch with a/ records in it was written (or failed): readers from
 * now on read them anew. */
void attrs_batch_written(struct store *s);
/* Write B, the batch that makes or removes an object, with the deletes of
 * the attrs under ATTRS (NULL: none) in it, SYNC as store_write; frees
 * B. */
int attrs_batch_write(struct store *s, struct store_batch *b,
		      const char *attrs, bool sync, struct mlfs_err *err);

#endif
