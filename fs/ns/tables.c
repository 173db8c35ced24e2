/* ns_tables.c - /tables: one directory per raw data table, holding
 * data.csv (rows), schema (property) and stats.csv (view).  Maps the tree
 * onto engine/table.h and engine/stats.h; no storage logic here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attrs.h"
#include "fs_int.h"
#include "stats.h"
#include "table.h"

/* ---- data.csv ---- */

static int data_size(struct fs *fs, const struct node *n, uint64_t *size,
		     int64_t *mtime_ns)
{
	struct table_info info;
	int rc = table_stat(fs->store, n->arg[0], &info);
	if (rc)
		return rc;
	*size = info.header_bytes + info.data_bytes;
	*mtime_ns = info.mtime_ns;
	return 0;
}

static int data_reader_open(struct fs *fs, const struct node *n, void **r,
			    uint64_t *size, struct mlfs_err *err)
{
	struct table_reader *tr;
	int rc = table_reader_open(fs->store, n->arg[0], &tr, err);
	if (rc)
		return rc;
	*r = tr;
	*size = table_reader_size(tr);
	return 0;
}

static long data_reader_read(void *r, char *dst, size_t len, uint64_t off,
			     struct mlfs_err *err)
{
	return table_reader_read(r, dst, len, off, err);
}

static void data_reader_free(void *r)
{
	table_reader_free(r);
}

static int data_writer_open(struct fs *fs, const struct node *n, bool replace,
			    void **w, struct mlfs_err *err)
{
	return table_writer_open(fs->store, n->arg[0], replace,
				 (struct table_writer **)w, err);
}

static int data_writer_write(void *w, const char *data, size_t len,
			     struct mlfs_err *err)
{
	return table_writer_write(w, data, len, err);
}

static int data_writer_commit(void *w, bool final, struct mlfs_err *err)
{
	return table_writer_commit(w, final, err);
}

static bool data_writer_failed(void *w)
{
	return table_writer_failed(w);
}

static void data_writer_free(void *w)
{
	table_writer_free(w);
}

static int data_remove(struct fs *fs, const struct node *n,
		       struct mlfs_err *err)
{
	struct table_writer *w;
	int rc = table_writer_open(fs->store, n->arg[0], true, &w, err);
	if (rc)
		return rc;
	rc = table_writer_commit(w, true, err);
	table_writer_free(w);
	return rc;
}

static const struct node_ops data_ops = {
	.kind = NK_TABLE, .perm = 0644,
	.size = data_size,
	.reader_open = data_reader_open, .reader_read = data_reader_read,
	.reader_free = data_reader_free,
	.writer_open = data_writer_open, .writer_write = data_writer_write,
	.writer_commit = data_writer_commit, .writer_free = data_writer_free,
	.writer_failed = data_writer_failed,
	.remove = data_remove,
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

static int schema_remove(struct fs *fs, const struct node *n,
			 struct mlfs_err *err)
{
	return 0;	/* rm -r of a table unlinks it first: nothing to do */
}

static const struct node_ops schema_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = schema_get, .set = schema_set, .remove = schema_remove,
};

/* ---- stats.csv ---- */

static int stats_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return stats_table_csv(fs->store, n->arg[0], out, err);
}

static int view_remove(struct fs *fs, const struct node *n,
		       struct mlfs_err *err)
{
	return 0;
}

static const struct node_ops stats_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = stats_get, .remove = view_remove,
};

/* ---- /tables/NAME ---- */

static const struct {
	const char *name;
	const struct node_ops *ops;
} table_files[] = {
	{ "data.csv", &data_ops },
	{ "schema", &schema_ops },
	{ "stats.csv", &stats_ops },
};

static int table_lookup(struct fs *fs, const struct node *dir,
			const char *name, struct node *out)
{
	for (size_t i = 0; i < sizeof(table_files) / sizeof(table_files[0]); i++) {
		if (!strcmp(name, table_files[i].name)) {
			node_child(out, dir, name, table_files[i].ops);
			return 0;
		}
	}
	return -ENOENT;
}

static int table_list_files(struct fs *fs, const struct node *dir,
			    fs_add_fn add, void *ctx)
{
	for (size_t i = 0; i < sizeof(table_files) / sizeof(table_files[0]); i++) {
		int rc = add(ctx, table_files[i].name, false);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct node_ops table_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = table_lookup, .list = table_list_files,
};

/* ---- /tables ---- */

static int tables_lookup(struct fs *fs, const struct node *dir,
			 const char *name, struct node *out)
{
	struct table_info info;
	if (!name_valid(name) || table_stat(fs->store, name, &info))
		return -ENOENT;
	node_child(out, dir, name, &table_dir_ops);
	snprintf(out->arg[0], sizeof(out->arg[0]), "%s", name);
	snprintf(out->owner_path, sizeof(out->owner_path), "%s", out->path);
	return 0;
}

struct list_ctx {
	fs_add_fn add;
	void *ctx;
};

static int list_one(void *ctx, const char *name)
{
	struct list_ctx *lc = ctx;
	return lc->add(lc->ctx, name, true);
}

static int tables_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		       void *ctx)
{
	struct list_ctx lc = { add, ctx };
	return table_list(fs->store, list_one, &lc);
}

static int tables_mkdir(struct fs *fs, const struct node *dir,
			const char *name, struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	int rc = table_create(fs->store, name, err);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/tables/%s", name);
	return fs_attrs_create(fs, path, 0755, err);
}

static int tables_rmdir(struct fs *fs, const struct node *dir,
			const char *name, struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	int rc = table_drop(fs->store, name, err);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/tables/%s", name);
	return attrs_delete_tree(fs->store, path, err);
}

/* Like /tmp: anyone may create a table, only its owner may drop it. */
const struct node_ops ns_tables_dir = {
	.kind = NK_DIR, .perm = 01777,
	.lookup = tables_lookup, .list = tables_list,
	.mkdir = tables_mkdir, .rmdir = tables_rmdir,
};
