/* format.h - the store's format version record, written at creation and
 * checked at every open so an old binary never misreads a newer store. */
#ifndef MLFS_FORMAT_H
#define MLFS_FORMAT_H

#include <stdbool.h>

#include "err.h"
#include "store.h"

#define MLFS_FORMAT_VERSION 1

/* Write the version record when the store is new (CREATE), else check it.
 * -EPROTO for a store of another version, -ENOENT for a store without one
 * when !CREATE. */
int format_ensure(struct store *s, bool create, struct mlfs_err *err);

#endif
