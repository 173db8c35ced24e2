/* tables.c - /tables: one directory per raw data table, holding
 * data.csv (rows), schema (property) and stats.csv (view).  Maps the tree
 * onto engine/table.h and engine/stats.h; no storage logic here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs_int.h"
#include "stats.h"
#include "table.h"

/* ---- data.csv ---- */

static int data_stat(struct store *s, const char *name, uint64_t *size,
		     int64_t *mtime_ns)
{
	struct table_info info;
	int rc = table_stat(s, name, &info);
	if (rc)
		return rc;
	*size = info.header_bytes + info.data_bytes;
	*mtime_ns = info.mtime_ns;
	return 0;
}

ROWS_SOURCE_DEFINE(table_rows, table, data_stat);

static const struct node_ops data_ops = {
	.kind = NK_ROWS, .perm = 0644, .rows = &table_rows,
	.remove = fs_rows_clear,
};

/* ---- schema ---- */

static int schema_get(struct fs *fs, const struct node *n, struct buf *out,
		      struct mlfs_err *err)
{
	return table_schema_text(fs->store, n->arg[0], out, err);
}

static int schema_set(struct fs *fs, const struct node *n, const char *data,
		      size_t len, bool apply, struct mlfs_err *err)
{
	if (!apply)
		return table_schema_validate(fs->store, n->arg[0], data, len, err);
	return table_set_schema(fs->store, n->arg[0], data, len, err);
}

static const struct node_ops schema_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = schema_get, .set = schema_set,
};

/* ---- stats.csv ---- */

static int stats_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return stats_table_csv(fs->store, n->arg[0], out, err);
}

static const struct node_ops stats_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = stats_get,
};

/* ---- /tables/NAME ---- */

static const struct fs_entry table_files[] = {
	{ "data.csv", &data_ops },
	{ "schema", &schema_ops },
	{ "stats.csv", &stats_ops },
	{ NULL, NULL },
};

/* The table's creator, mode and creation time, from its record; a table
 * with none recorded (made by a batch job) is the daemon's. */
static int table_owner(struct fs *fs, const struct node *n, uid_t *uid,
		       gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct table_info info;
	int rc = table_stat(fs->store, n->arg[0], &info);
	if (rc)
		return rc;
	if (!info.mode)
		return -ENOENT;
	*uid = info.uid;
	*gid = info.gid;
	*mode = info.mode;
	*ctime_ns = info.ctime_ns;
	return 0;
}

/* rm -r of a table unlinks its files first: schema and stats.csv go with
 * the table, data.csv empties it. */
static const struct node_ops table_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = table_owner,
	.lookup = fs_dir_lookup, .list = fs_dir_list,
	.children = table_files, .children_go_with_dir = true,
};

/* ---- /tables ---- */

static bool table_exists(struct store *s, const char *name)
{
	struct table_info info;
	return table_stat(s, name, &info) == 0;
}

static const struct fs_collection tables = {
	.exists = table_exists, .list = table_list,
	.make = table_make, .remove = table_remove, .child = &table_dir_ops,
};

/* Like /tmp: anyone may create a table, only its owner may drop it. */
const struct node_ops ns_tables_dir = {
	.kind = NK_DIR, .perm = 01777, .data = &tables,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
