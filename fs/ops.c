/* ops.c - the FUSE low-level operations, written once for every node kind.
 *
 * Each request resolves its inode's path into a node and dispatches on the
 * node's kind.  Open files carry a struct handle in fi->fh, made in open
 * and freed in release.  Every request is replied to exactly once; a
 * rejected request with a reason logs "PATH: reason" to /log.
 *
 * What shell tools send (DESIGN.md section 10) shapes the write path:
 * content is checked in write() so that even bash's echo sees the error;
 * flush() commits only what was written since the last commit; release()
 * commits whatever is still pending and cannot report errors. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "attrs.h"
#include "fs_int.h"
#include "store.h"

void fs_set_caller(const struct fuse_ctx *ctx);

struct handle {
	pthread_mutex_t lock;	/* guards everything below */
	struct node node;
	int flags;
	struct buf content;	/* property/view: the bytes of this handle */
	bool written;		/* property: changed since the last apply */
	bool trunc_pending;	/* property opened with O_TRUNC, not applied */
	void *reader;		/* table: snapshot reader, made on first read */
	void *writer;		/* table: streaming writer */
	struct buf dir;		/* directory: "name\0" entries */
	size_t ndir;
	struct buf partial;	/* series: a line not ended yet */
	bool ready;		/* waiter: content holds the final state */
};

static struct fs *FS(fuse_req_t req)
{
	fs_set_caller(fuse_req_ctx(req));
	return fuse_req_userdata(req);
}

static struct handle *H(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* Log the reason of a failed request (not for plain not-found). */
static int failed(struct fs *fs, const char *path, int rc,
		  const struct mlfs_err *err)
{
	if (rc == -ENOENT && !(err && err->msg[0]))
		return rc;
	if (err && err->msg[0])
		fs_log(fs, path, "%s", err->msg);
	else
		fs_log(fs, path, "%s", strerror(-rc));
	return rc;
}

static int resolve_ino(struct fs *fs, fuse_ino_t ino, struct node *n)
{
	char path[FS_PATH_MAX];
	uint64_t gen = __atomic_load_n(&fs->ns_gen, __ATOMIC_SEQ_CST);
	if (fs_inode_cached(fs, ino, gen, n))
		return 0;
	int rc = fs_inode_path(fs, ino, path, sizeof(path));
	if (!rc)
		rc = fs_resolve(fs, path, n);
	if (!rc)
		fs_inode_cache(fs, ino, gen, n);
	return rc;
}

/* OUT = "DIR/NAME", for messages about a name that may not exist. */
static void child_path(char *out, size_t size, const struct node *dir,
		       const char *name)
{
	snprintf(out, size, "%s/%s", strcmp(dir->path, "/") ? dir->path : "", name);
}

/* Resolve PARENT into DIR and its child NAME into CHILD.  Both paths are
 * set whatever fails, so a caller may always log CHILD->path ("?" when
 * even the parent is unknown). */
static int resolve_child(struct fs *fs, fuse_ino_t parent, const char *name,
			 struct node *dir, struct node *child)
{
	strcpy(child->path, "?");
	int rc = resolve_ino(fs, parent, dir);
	if (rc) {
		strcpy(dir->path, "?");
		dir->ops = NULL;
		return rc;
	}
	child_path(child->path, sizeof(child->path), dir, name);
	if (rc)
		return rc;
	if (dir->ops->kind != NK_DIR)
		return -ENOTDIR;
	if (strlen(name) > FS_NAME_MAX)
		return -ENOENT;	/* no such name can exist; mkdir says EINVAL */
	rc = dir->ops->lookup(fs, dir, name, child);
	if (rc == -ENOENT && dir->ops->symlink) {
		char path[FS_PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir->path, "/") ? dir->path : "", name);
		if (fs_templink_get(path, NULL)) {
			node_child(child, dir, name, &templink_ops);
			rc = 0;
		}
	}
	return rc;
}

static void reply_entry(fuse_req_t req, struct fs *fs, const struct node *n)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	int rc = node_stat(fs, n, &e.attr);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = fs_inode_ref(fs, n->path);
	e.attr.st_ino = e.ino;
	/* Names stay cached for a second (the kernel drops them itself on
	 * rmdir, unlink and rename through the mount; new names are never
	 * cached as missing), so a path is not looked up component by
	 * component on every open.  Attributes of files are never cached:
	 * generated files change size without a write through the kernel. */
	e.entry_timeout = FS_ENTRY_TIMEOUT;
	e.attr_timeout = S_ISDIR(e.attr.st_mode) ? FS_ENTRY_TIMEOUT : 0;
	if (fuse_reply_entry(req, &e))
		fs_inode_forget(fs, e.ino, 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node dir, child;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, fs, &child);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inode_forget(FS(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs *fs = FS(req);
	for (size_t i = 0; i < count; i++)
		fs_inode_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct node n;
	struct stat st;
	int rc = resolve_ino(fs, ino, &n);
	if (!rc)
		rc = node_stat(fs, &n, &st);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, S_ISDIR(st.st_mode) ? FS_ENTRY_TIMEOUT : 0);
}

/* Empty a file: a table loses its rows, a property its value. */
static int truncate_node(struct fs *fs, const struct node *n,
			 struct mlfs_err *err)
{
	switch (n->ops->kind) {
	case NK_TABLE:
		return n->ops->remove(fs, n, err);
	case NK_PROPERTY: {
		int rc = n->ops->set(fs, n, "", 0, false, err);
		return rc ? rc : n->ops->set(fs, n, "", 0, true, err);
	}
	case NK_VIEW:
		return mlfs_fail(err, -EACCES, "a generated file cannot be written");
	default:
		return -EISDIR;
	}
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct mlfs_err err = { 0 };
	struct node n;
	struct stat st;
	int rc = resolve_ino(fs, ino, &n);
	const int attr_bits = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			      FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_MTIME_NOW;

	if (!rc && n.ops->setattr) {
		/* The engine keeps this node's attributes (artifacts). */
		if ((to_set & FUSE_SET_ATTR_SIZE) && n.ops->truncate)
			rc = n.ops->truncate(fs, &n, (uint64_t)attr->st_size, &err);
		else if (to_set & FUSE_SET_ATTR_SIZE)
			rc = -EISDIR;
		if (!rc && (to_set & attr_bits))
			rc = n.ops->setattr(fs, &n, attr, to_set, &err);
		to_set = 0;
	}
	if (!rc && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (attr->st_size != 0)
			rc = mlfs_fail(&err, -EINVAL, "only truncation to size 0 is supported");
		else
			rc = truncate_node(fs, &n, &err);
	}
	if (!rc && (to_set & attr_bits)) {
		struct attrs a;
		if ((rc = node_stat(fs, &n, &st)) == 0) {
			a.mode = st.st_mode & 07777;
			a.uid = st.st_uid;
			a.gid = st.st_gid;
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			/* ctime: when the status changed, i.e. now. */
			a.ctime_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
			a.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			if (to_set & FUSE_SET_ATTR_MODE)
				a.mode = attr->st_mode & 07777;
			if (to_set & FUSE_SET_ATTR_UID)
				a.uid = attr->st_uid;
			if (to_set & FUSE_SET_ATTR_GID)
				a.gid = attr->st_gid;
			if (to_set & FUSE_SET_ATTR_MTIME)
				a.mtime_ns = (int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
			if (to_set & FUSE_SET_ATTR_MTIME_NOW)
				a.mtime_ns = a.ctime_ns;
			rc = attrs_put(fs->store, n.path, &a, &err);
		}
	}
	if (!rc)
		rc = node_stat(fs, &n, &st);
	if (rc) {
		fuse_reply_err(req, -failed(fs, n.path, rc, &err));
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, 0);
}

/* ---- directories ---- */

static int add_dirent(void *ctx, const char *name, bool is_dir)
{
	struct handle *h = ctx;
	h->ndir++;
	if (buf_putc(&h->dir, is_dir ? 'd' : 'f'))
		return -ENOMEM;
	return buf_append(&h->dir, name, strlen(name) + 1);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct handle *h = calloc(1, sizeof(*h));
	int rc = h ? resolve_ino(fs, ino, &h->node) : -ENOMEM;
	if (!rc && h->node.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc) {
		add_dirent(h, ".", true);
		add_dirent(h, "..", true);
		rc = h->node.ops->list(fs, &h->node, add_dirent, h);
	}
	if (rc) {
		if (h)
			buf_free(&h->dir);
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi)) {
		buf_free(&h->dir);
		free(h);
	}
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	char *out = malloc(size);
	size_t used = 0;
	const char *p = h->dir.data;
	const char *end = h->dir.data + h->dir.len;

	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t i = 0; p < end; i++) {
		bool is_dir = *p == 'd';
		const char *name = p + 1;
		p = name + strlen(name) + 1;
		if (i < off)
			continue;
		struct stat st = { .st_ino = (ino_t)(i + 2),
				   .st_mode = is_dir ? S_IFDIR : S_IFREG };
		size_t n = fuse_add_direntry(req, out + used, size - used, name,
					     &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, out, used);
	free(out);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	buf_free(&h->dir);
	pthread_mutex_destroy(&h->lock);
	free(h);
	fuse_reply_err(req, 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_ino(fs, parent, &dir);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (dir.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc && !dir.ops->mkdir)
		rc = mlfs_fail(&err, -EPERM, "no directories can be made here");
	if (!rc && dir.ops->lookup(fs, &dir, name, &child) == 0)
		rc = -EEXIST;
	if (!rc)
		rc = dir.ops->mkdir(fs, &dir, name, &err);
	if (!rc)
		rc = dir.ops->lookup(fs, &dir, name, &child);
	if (rc) {
		char path[FS_PATH_MAX];
		child_path(path, sizeof(path), &dir, name);
		fuse_reply_err(req, -(rc == -EEXIST ? rc : failed(fs, path, rc, &err)));
		return;
	}
	reply_entry(req, fs, &child);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (!rc && child.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc && !dir.ops->rmdir)
		rc = mlfs_fail(&err, -EPERM, "this directory cannot be removed");
	if (!rc)
		rc = dir.ops->rmdir(fs, &dir, name, &err);
	fuse_reply_err(req, rc ? -failed(fs, child.path, rc, &err) : 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (!rc && child.ops->kind == NK_DIR)
		rc = -EISDIR;
	if (!rc && !child.ops->remove)
		rc = mlfs_fail(&err, -EPERM, "this file cannot be removed");
	if (!rc)
		rc = child.ops->remove(fs, &child, &err);
	fuse_reply_err(req, rc ? -failed(fs, child.path, rc, &err) : 0);
}

/* ---- files ---- */

static void handle_free(struct fs *fs, struct handle *h)
{
	if (!h)
		return;
	if (h->node.pending) {
		fs_pending_del(fs, h->node.path);
		fs_namespace_changed(fs);
	}
	if (h->reader)
		h->node.ops->reader_free(h->reader);
	if (h->writer)
		h->node.ops->writer_free(h->writer);
	buf_free(&h->content);
	buf_free(&h->partial);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int open_node(struct fs *fs, struct handle *h, int flags,
		     struct mlfs_err *err)
{
	const struct node *n = &h->node;
	int acc = flags & O_ACCMODE;
	bool writing = acc != O_RDONLY;
	int rc = 0;

	h->flags = flags;
	switch (n->ops->kind) {
	case NK_DIR:
		return -EISDIR;
	case NK_VIEW:
		if (writing)
			return mlfs_fail(err, -EACCES, "a generated file is read-only");
		return n->ops->get(fs, n, &h->content, err);
	case NK_PROPERTY:
		if (n->pending)
			return 0;
		if (writing && (flags & O_TRUNC)) {
			h->trunc_pending = true;
			return 0;
		}
		rc = n->ops->get(fs, n, &h->content, err);
		return rc == -ENODATA ? 0 : rc;
	case NK_SERIES:
		/* Writes append points ('>' too: a series only grows). */
		if (acc == O_WRONLY || n->pending)
			return 0;
		return n->ops->get(fs, n, &h->content, err);
	case NK_WAITER:
		if (writing)
			return mlfs_fail(err, -EACCES, "a waiter file is read-only");
		return 0;
	case NK_SYMLINK:
		return -ELOOP;
	case NK_BLOB:
		if (writing && (flags & O_TRUNC))
			return n->ops->truncate(fs, n, 0, err);
		return 0;
	case NK_TABLE: {
		/* Readers get a snapshot now: stable for this handle. */
		uint64_t size;
		if (acc != O_WRONLY)
			rc = n->ops->reader_open(fs, n, &h->reader, &size, err);
		if (!rc && writing)
			rc = n->ops->writer_open(fs, n, (flags & O_TRUNC) != 0,
						 &h->writer, err);
		return rc;
	}
	}
	return -EINVAL;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct mlfs_err err = { 0 };
	struct handle *h = calloc(1, sizeof(*h));
	int rc = h ? resolve_ino(fs, ino, &h->node) : -ENOMEM;

	if (h)
		pthread_mutex_init(&h->lock, NULL);
	if (!rc)
		rc = open_node(fs, h, fi->flags, &err);
	if (rc) {
		fuse_reply_err(req, -failed(fs, h ? h->node.path : "?", rc, &err));
		handle_free(fs, h);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 0;
	/* Rows bypass the page cache: each handle reads its own snapshot,
	 * whatever size the kernel cached (an O_TRUNC open elsewhere sets
	 * it to 0 until the next getattr). */
	fi->direct_io = h->node.ops->kind == NK_TABLE ||
			h->node.ops->kind == NK_WAITER;
	if (fuse_reply_open(req, fi))
		handle_free(fs, h);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	struct mlfs_err err = { 0 };
	struct node dir;
	struct handle *h = calloc(1, sizeof(*h));
	int rc = h ? resolve_child(fs, parent, name, &dir, &h->node) : -ENOMEM;

	if (h)
		pthread_mutex_init(&h->lock, NULL);
	if (rc == -ENOENT && dir.ops && dir.ops->create) {
		bool pending = false;
		rc = dir.ops->create(fs, &dir, name, mode, &h->node, &pending, &err);
		if (!rc && pending) {
			h->node.pending = true;
			fs_pending_add(fs, h->node.path);
		}
		if (rc)
			snprintf(h->node.path, sizeof(h->node.path), "%s/%s",
				 strcmp(dir.path, "/") ? dir.path : "", name);
	} else if (rc == -ENOENT && dir.ops) {
		/* The tree has fixed file names per kind of directory. */
		snprintf(h->node.path, sizeof(h->node.path), "%s/%s",
			 strcmp(dir.path, "/") ? dir.path : "", name);
		rc = mlfs_fail(&err, -EACCES, "no file of this name can be created here");
	}
	if (!rc)
		rc = open_node(fs, h, fi->flags, &err);
	if (rc) {
		fuse_reply_err(req, -failed(fs, h ? h->node.path : "?", rc, &err));
		handle_free(fs, h);
		return;
	}
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	if ((rc = node_stat(fs, &h->node, &e.attr))) {
		handle_free(fs, h);
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = fs_inode_ref(fs, h->node.path);
	e.attr.st_ino = e.ino;
	fi->fh = (uintptr_t)h;
	fi->direct_io = h->node.ops->kind == NK_TABLE;
	if (fuse_reply_create(req, &e, fi)) {
		fs_inode_forget(fs, e.ino, 1);
		handle_free(fs, h);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct handle *h = H(fi);
	struct mlfs_err err = { 0 };
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	switch (h->node.ops->kind) {
	case NK_WAITER:
		if (!h->ready) {
			buf_reset(&h->content);
			if (h->node.ops->poll(fs, &h->node, &h->content) != 0) {
				pthread_mutex_unlock(&h->lock);
				fs_waiter_park(fs, req, &h->node, size, off);
				return;
			}
			h->ready = true;
		}
		/* fall through */
	case NK_VIEW:
	case NK_SERIES:
	case NK_PROPERTY:
		if ((size_t)off >= h->content.len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, h->content.data + off,
				       h->content.len - (size_t)off < size ?
				       h->content.len - (size_t)off : size);
		break;
	case NK_TABLE: {
		uint64_t total;
		if (!h->reader)
			rc = h->node.ops->reader_open(fs, &h->node, &h->reader,
						      &total, &err);
		char *out = rc ? NULL : malloc(size ? size : 1);
		long n = rc ? rc : out ? h->node.ops->reader_read(h->reader, out, size,
							   (uint64_t)off, &err) : -ENOMEM;
		if (n < 0)
			fuse_reply_err(req, -failed(fs, h->node.path, (int)n, &err));
		else
			fuse_reply_buf(req, out, (size_t)n);
		free(out);
		break;
	}
	case NK_BLOB: {
		char *out = malloc(size ? size : 1);
		long n = out ? h->node.ops->pread(fs, &h->node, out, size, (uint64_t)off, &err)
			     : -ENOMEM;
		if (n < 0)
			fuse_reply_err(req, -failed(fs, h->node.path, (int)n, &err));
		else
			fuse_reply_buf(req, out, (size_t)n);
		free(out);
		break;
	}
	default:
		fuse_reply_err(req, EISDIR);
	}
	pthread_mutex_unlock(&h->lock);
}

static int property_write(struct fs *fs, struct handle *h, const char *data,
			  size_t size, off_t off, struct mlfs_err *err)
{
	if (h->flags & O_APPEND)
		off = (off_t)h->content.len;
	if ((uint64_t)off + size > FS_PROPERTY_MAX)
		return mlfs_fail(err, -EFBIG, "value larger than %u bytes", FS_PROPERTY_MAX);
	struct buf next = { 0 };
	size_t end = (size_t)off + size;
	if (buf_reserve(&next, end > h->content.len ? end : h->content.len))
		return -ENOMEM;
	buf_append(&next, h->content.data, h->content.len);
	if (end > next.len) {
		memset(next.data + next.len, 0, end - next.len);
		next.len = end;
		next.data[end] = '\0';
	}
	memcpy(next.data + off, data, size);
	int rc = h->node.ops->set(fs, &h->node, next.data, next.len, false, err);
	if (rc) {
		/* A rejected write leaves everything as it was, O_TRUNC too. */
		h->trunc_pending = false;
		buf_free(&next);
		return rc;
	}
	buf_free(&h->content);
	h->content = next;
	h->written = true;
	return 0;
}

/* Append the complete lines of what was written; keep a trailing partial
 * line for the next write or the flush. */
static int series_write(struct fs *fs, struct handle *h, const char *data,
			size_t size, struct mlfs_err *err)
{
	if (h->partial.len + size > FS_PROPERTY_MAX && !memchr(data, '\n', size))
		return mlfs_fail(err, -EFBIG, "line longer than %u bytes", FS_PROPERTY_MAX);
	struct buf all = { 0 };
	if (buf_append(&all, h->partial.data, h->partial.len) ||
	    buf_append(&all, data, size)) {
		buf_free(&all);
		return -ENOMEM;
	}
	const char *last = memrchr(all.data, '\n', all.len);
	size_t whole = last ? (size_t)(last - all.data) + 1 : 0;
	int rc = whole ? h->node.ops->append(fs, &h->node, all.data, whole, err) : 0;
	if (!rc) {
		buf_reset(&h->partial);
		buf_append(&h->partial, all.data + whole, all.len - whole);
		h->written = true;
	}
	buf_free(&all);
	return rc;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct handle *h = H(fi);
	struct mlfs_err err = { 0 };
	bool quiet = false;
	int rc;

	pthread_mutex_lock(&h->lock);
	switch (h->node.ops->kind) {
	case NK_PROPERTY:
		rc = property_write(fs, h, data, size, off, &err);
		break;
	case NK_SERIES:
		rc = series_write(fs, h, data, size, &err);
		break;
	case NK_BLOB: {
		uint64_t at = (uint64_t)off;
		struct stat st;
		if ((h->flags & O_APPEND) && (rc = node_stat(fs, &h->node, &st)))
			break;
		if (h->flags & O_APPEND)
			at = (uint64_t)st.st_size;
		rc = h->node.ops->pwrite(fs, &h->node, data, size, at, &err);
		break;
	}
	case NK_TABLE:
		/* After a failure the first error already told why. */
		quiet = h->writer && h->node.ops->writer_failed(h->writer);
		rc = h->writer ? h->node.ops->writer_write(h->writer, data, size, &err)
			       : -EBADF;
		break;
	default:
		rc = mlfs_fail(&err, -EACCES, "a generated file is read-only");
	}
	pthread_mutex_unlock(&h->lock);
	if (rc && !quiet)
		failed(fs, h->node.path, rc, &err);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* Apply what this handle wrote since the last apply.  FINAL at release. */
static int commit_handle(struct fs *fs, struct handle *h, bool final,
			 struct mlfs_err *err)
{
	switch (h->node.ops->kind) {
	case NK_PROPERTY:
		if (h->written || (final && h->trunc_pending)) {
			int rc = h->node.ops->set(fs, &h->node, h->content.data ? h->content.data : "",
						  h->content.len, true, err);
			h->written = false;
			h->trunc_pending = false;
			return rc;
		}
		return 0;
	case NK_TABLE:
		if (h->writer)
			return h->node.ops->writer_commit(h->writer, final, err);
		return 0;
	case NK_SERIES:
		if (h->partial.len) {
			int rc = h->node.ops->append(fs, &h->node, h->partial.data,
						     h->partial.len, err);
			buf_reset(&h->partial);
			return rc;
		}
		return 0;
	default:
		return 0;
	}
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct handle *h = H(fi);
	struct mlfs_err err = { 0 };

	pthread_mutex_lock(&h->lock);
	/* A failed writer said why in write(); close() just fails again. */
	bool quiet = h->writer && h->node.ops->writer_failed(h->writer);
	int rc = commit_handle(fs, h, false, &err);
	pthread_mutex_unlock(&h->lock);
	if (rc && !quiet)
		failed(fs, h->node.path, rc, &err);
	fuse_reply_err(req, -rc);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct handle *h = H(fi);
	struct mlfs_err err = { 0 };

	pthread_mutex_lock(&h->lock);
	int rc = commit_handle(fs, h, false, &err);
	pthread_mutex_unlock(&h->lock);
	if (!rc)
		rc = store_sync(fs->store, &err);
	fuse_reply_err(req, rc ? -failed(fs, h->node.path, rc, &err) : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct handle *h = H(fi);
	struct mlfs_err err = { 0 };

	pthread_mutex_lock(&h->lock);
	/* A writer that failed already said why; its rows are dropped. */
	bool skip = h->writer && h->node.ops->writer_failed(h->writer);
	int rc = skip ? 0 : commit_handle(fs, h, true, &err);
	pthread_mutex_unlock(&h->lock);
	if (rc)
		failed(fs, h->node.path, rc, &err);
	handle_free(fs, h);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct statvfs sv;
	if (statvfs(fs->store_dir, &sv))
		memset(&sv, 0, sizeof(sv));
	sv.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	struct mlfs_err err = { 0 };
	struct node dir, child, newdir;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (!rc)
		rc = resolve_ino(fs, newparent, &newdir);
	if (!rc && newdir.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc && strlen(newname) > FS_NAME_MAX)
		rc = -ENAMETOOLONG;
	if (!rc && child.ops == &templink_ops) {
		/* ln -sfn: apply the held link under its real name. */
		struct buf target = { 0 };
		struct node old;
		if (!newdir.ops->symlink)
			rc = mlfs_fail(&err, -EPERM, "no links can be made here");
		else if ((flags & RENAME_NOREPLACE) &&
			 newdir.ops->lookup(fs, &newdir, newname, &old) == 0)
			rc = -EEXIST;
		else if (!fs_templink_get(child.path, &target))
			rc = -ENOENT;
		else
			rc = newdir.ops->symlink(fs, &newdir, newname, target.data, &err);
		if (!rc) {
			char to[FS_PATH_MAX];
			fs_templink_del(child.path);
			snprintf(to, sizeof(to), "%s/%s", strcmp(newdir.path, "/") ? newdir.path : "", newname);
			fs_inode_rename(fs, child.path, to);
		}
		buf_free(&target);
		if (rc && rc != -EEXIST)
			failed(fs, child.path, rc, &err);
		fuse_reply_err(req, -rc);
		return;
	}
	if (!rc && (!dir.ops->rename || dir.ops->rename != newdir.ops->rename))
		rc = mlfs_fail(&err, -EPERM, "renaming is not supported here");
	if (!rc)
		rc = dir.ops->rename(fs, &dir, name, &newdir, newname, flags, &err);
	if (!rc) {
		char to[FS_PATH_MAX];
		snprintf(to, sizeof(to), "%s/%s", strcmp(newdir.path, "/") ? newdir.path : "", newname);
		fs_inode_rename(fs, child.path, to);
	}
	if (rc && rc != -EEXIST && rc != -ENOTEMPTY)
		failed(fs, rc == -ENOENT ? "?" : child.path, rc, &err);
	fuse_reply_err(req, -rc);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_ino(fs, parent, &dir);
	if (!rc && dir.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc && dir.ops->lookup(fs, &dir, name, &child) == 0)
		rc = -EEXIST;
	if (!rc && !dir.ops->symlink)
		rc = mlfs_fail(&err, -EPERM, "no links can be made here");
	bool held = false;
	if (!rc) {
		rc = dir.ops->symlink(fs, &dir, name, target, &err);
		if (rc == -EPERM) {
			/* Not a name this directory knows: hold it, as ln -sfn
			 * renames it onto a real name next. */
			char path[FS_PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", dir.path, name);
			mlfs_err_clear(&err);
			rc = fs_templink_add(path, target);
			held = rc == 0;
			if (held)
				node_child(&child, &dir, name, &templink_ops);
		}
	}
	if (!rc && !held)
		rc = dir.ops->lookup(fs, &dir, name, &child);
	if (rc) {
		char path[FS_PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir.path, "/") ? dir.path : "", name);
		fuse_reply_err(req, -(rc == -EEXIST ? rc : failed(fs, path, rc, &err)));
		return;
	}
	reply_entry(req, fs, &child);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct node n;
	struct buf b = { 0 };
	int rc = resolve_ino(fs, ino, &n);
	if (!rc && n.ops->kind != NK_SYMLINK)
		rc = -EINVAL;
	if (!rc)
		rc = n.ops->readlink(fs, &n, &b);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, b.data ? b.data : "");
	buf_free(&b);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.release = op_release,
	.statfs = op_statfs,
	.rename = op_rename,
	.symlink = op_symlink,
	.readlink = op_readlink,
};
