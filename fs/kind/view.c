/* view.c - the view kinds: text generated at open (stats.csv, runs.csv,
 * /log), read-only, stable for the handle that opened it (direct I/O: a
 * size the kernel saw later never clips or pads it); and the record, a
 * small view whose node says when its data last changed (an online row),
 * read through the page cache and kept there until that time moves. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs_int.h"

static int view_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	if ((f->flags & O_ACCMODE) != O_RDONLY)
		return mlfs_fail(err, -EACCES, "a generated file is read-only");
	text_state_open(f);
	struct text_state *t = f->state;
	return f->node.ops->get(fs, &f->node, &t->content, err);
}

static int view_truncate(struct fs *fs, const struct node *n,
			 struct mlfs_err *err)
{
	return mlfs_fail(err, -EACCES, "a generated file cannot be written");
}

const struct kind kind_view = {
	.name = "view", .direct_io = true,
	.cache = FS_CACHE_VOLATILE, .stat = text_stat_size,
	.open = view_open, .read = text_state_read,
	.release = text_state_release, .truncate = view_truncate,
};

/* The record this thread made last (fs_record_probe): PATH's size and
 * data time in FS when its store's change sequence was SEQ.  A lookup makes a
 * record to see that it exists, then states it for the entry: while no
 * write came in between, the same record would be made again. */
struct record_seen {
	const struct fs *fs;
	char path[FS_PATH_MAX];
	uint64_t seq;
	uint64_t size;
	int64_t mtime;
};
static __thread struct record_seen last_record;

static uint64_t change_seq(struct fs *fs)
{
	return __atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST);
}

int fs_record_probe(struct fs *fs, const struct node *n)
{
	struct buf b = { 0 };
	int64_t mtime = 0;
	uint64_t seq = change_seq(fs);
	int rc = n->ops->record(fs, n, &b, &mtime, NULL);
	if (!rc && strlen(n->path) < sizeof(last_record.path)) {
		strcpy(last_record.path, n->path);
		last_record.fs = fs;
		last_record.seq = seq;
		last_record.size = b.len;
		last_record.mtime = mtime;
	}
	buf_free(&b);
	return rc;
}

/* A record is made with its data's change time (node_ops.record): its
 * stamp moves with every change, so an open sees whether the kernel's
 * pages are still true, and an unchanged record is read again from the
 * page cache.  An open makes it once: the size the kernel is told is the
 * open's own content's (record_file_stat).  The notifier drops them at
 * the next write (volatile: thousands of rows can be cached, and checking
 * each on every write would cost more than reading a few again). */
static int record_stat(struct fs *fs, const struct node *n, struct stat *st,
		       int64_t *data_mtime)
{
	struct buf b = { 0 };
	st->st_mode |= S_IFREG;
	if (last_record.path[0] && last_record.fs == fs &&
	    last_record.seq == change_seq(fs) && !strcmp(last_record.path, n->path)) {
		last_record.path[0] = '\0';	/* once: the next stat asks again */
		st->st_size = (off_t)last_record.size;
		*data_mtime = last_record.mtime;
		return 0;
	}
	int rc = n->ops->record(fs, n, &b, data_mtime, NULL);
	st->st_size = rc ? 0 : (off_t)b.len;
	buf_free(&b);
	return rc;
}

static int record_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	if ((f->flags & O_ACCMODE) != O_RDONLY)
		return mlfs_fail(err, -EACCES, "a generated file is read-only");
	text_state_open(f);
	struct text_state *t = f->state;
	return f->node.ops->record(fs, &f->node, &t->content, &t->data_mtime, err);
}

static int record_file_stat(struct fs *fs, struct file *f, struct stat *st,
			    int64_t *data_mtime)
{
	const struct text_state *t = f->state;
	st->st_mode |= S_IFREG;
	st->st_size = (off_t)t->content.len;
	*data_mtime = t->data_mtime;
	return 0;
}

const struct kind kind_record = {
	.name = "record", .direct_io = true, .pageable = true, .fixed = true,
	.cache = FS_CACHE_VOLATILE, .stat = record_stat,
	.open = record_open, .file_stat = record_file_stat,
	.read = text_state_read,
	.release = text_state_release, .truncate = view_truncate,
};
