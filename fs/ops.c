/* ops.c - the FUSE low-level operations, written once for every node kind.
 *
 * Each request resolves its inode's path into a node and dispatches on the
 * node's kind through the table `kinds` below (one file of fs/kind/ per
 * row).  Open files carry a struct file in fi->fh, with the kind's own
 * per-open state, made in open and freed in release.  Every request is replied to exactly once; a
 * rejected request with a reason logs "PATH: reason" to /log.
 *
 * What shell tools send (DESIGN.md section 10) shapes the write path:
 * content is checked in write() so that even bash's echo sees the error;
 * flush() commits only what was written since the last commit; release()
 * commits whatever is still pending and cannot report errors. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "attrs.h"
#include "fs_int.h"
#include "store.h"

void fs_set_caller(fuse_req_t req);

/* The node kinds: adding a kind is one file in fs/kind/ and one row. */
static const struct kind *const kinds[NK_COUNT] = {
	[NK_DIR] = &kind_dir,
	[NK_PROPERTY] = &kind_property,
	[NK_VIEW] = &kind_view,
	[NK_RECORD] = &kind_record,
	[NK_ROWS] = &kind_rows,
	[NK_SERIES] = &kind_series,
	[NK_WAITER] = &kind_waiter,
	[NK_SYMLINK] = &kind_symlink,
	[NK_BLOB] = &kind_blob,
	[NK_CONTROL] = &kind_control,
	[NK_EXCHANGE] = &kind_exchange,
};

const struct kind *fs_kind(const struct node *n)
{
	return kinds[n->ops->kind];
}

/* An open directory: its entries read at opendir, "Tname\0" each with T
 * 'd' or 'f'. */
struct dir_list {
	struct dir_list *next, *prev;	/* fs->dirs: fs->files_lock */
	struct buf dir;
};

static struct dir_list *dir_list_new(struct fs *fs)
{
	struct dir_list *h = calloc(1, sizeof(*h));
	if (!h)
		mlfs_oom();
	pthread_mutex_lock(&fs->files_lock);
	h->next = fs->dirs;
	if (h->next)
		h->next->prev = h;
	fs->dirs = h;
	pthread_mutex_unlock(&fs->files_lock);
	return h;
}

static void dir_list_free(struct fs *fs, struct dir_list *h)
{
	pthread_mutex_lock(&fs->files_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->dirs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->files_lock);
	buf_free(&h->dir);
	free(h);
}

static struct fs *FS(fuse_req_t req)
{
	fs_set_caller(req);
	return fuse_req_userdata(req);
}

static struct file *F(struct fuse_file_info *fi)
{
	return (struct file *)(uintptr_t)fi->fh;
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
	node_child_path(child->path, sizeof(child->path), dir, name);
	if (dir->ops->kind != NK_DIR)
		return -ENOTDIR;
	if (strlen(name) > FS_NAME_MAX)
		return -ENOENT;	/* no such name can exist; mkdir says EINVAL */
	return node_lookup(fs, dir, name, false, child);
}

static uint64_t change_seq(struct fs *fs)
{
	return __atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST);
}

/* How long the kernel may keep N's attributes ST (of inode INO), read when
 * the store's change sequence was SEQ0: the notifier then keeps them true
 * (notify.c), unless N's kind cannot say when they change, or they
 * differ by reader (the kernel keeps one size per inode for all). */
static double attr_timeout(struct fs *fs, fuse_ino_t ino, const struct node *n,
			   const struct stat *st, uint64_t seq0)
{
	if (n->pending || n->ops == &templink_ops || n->ops->per_reader)
		return 0;
	return fs_inode_note_attrs(fs, ino, fs_kind(n)->cache,
				   S_ISDIR(st->st_mode), st, seq0);
}

/* Answer a lookup of N with its entry; GEN, when set, the namespace
 * generation read before N was resolved: N is kept for its inode, so the
 * open that follows a lookup need not resolve the path again. */
static void reply_entry(fuse_req_t req, struct fs *fs, const struct node *n,
			const uint64_t *gen)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	uint64_t seq0 = change_seq(fs);
	int rc = node_stat(fs, n, &e.attr);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = fs_inode_ref(fs, n->path);
	e.attr.st_ino = e.ino;
	/* Names stay cached for a second (the kernel drops them itself on
	 * rmdir, unlink and rename through the mount; new names are never
	 * cached as missing; the notifier drops a name the engine removed),
	 * so a path is not looked up component by component on every open.
	 * Attributes stay cached until the notifier says they changed. */
	e.entry_timeout = FS_ENTRY_TIMEOUT;
	/* An online row's name may stay as long as its attributes: only
	 * read, never made or removed by name through the kernel's own
	 * mkdir/create (where a stale positive name would say EEXIST), and
	 * an open or stat of a key gone since asks the daemon (ENOENT). */
	if (n->ops->kind == NK_RECORD)
		e.entry_timeout = FS_ATTR_TIMEOUT;
	e.attr_timeout = attr_timeout(fs, e.ino, n, &e.attr, seq0);
	if (gen)
		fs_inode_cache(fs, e.ino, *gen, n);
	if (fuse_reply_entry(req, &e))
		fs_inode_forget(fs, e.ino, 1);
}

/* Resolve PARENT into DIR, a directory ("?" when unresolved). */
static int resolve_dir(struct fs *fs, fuse_ino_t parent, struct node *dir)
{
	int rc = resolve_ino(fs, parent, dir);
	if (rc)
		strcpy(dir->path, "?");
	else if (dir->ops->kind != NK_DIR)
		rc = -ENOTDIR;
	return rc;
}

/* Answer the making of NAME in DIR (mkdir, symlink): CHILD's entry, or
 * the error RC, logged unless it is EEXIST. */
static void reply_made(fuse_req_t req, struct fs *fs, const struct node *dir,
		       const char *name, const struct node *child, int rc,
		       const struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	if (!rc) {
		reply_entry(req, fs, child, NULL);
		return;
	}
	node_child_path(path, sizeof(path), dir, name);
	fuse_reply_err(req, -(rc == -EEXIST ? rc : fs_log_failure(fs, path, rc, err)));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* The notifier says when content changed; the kernel need not ask
	 * for attributes on every read to find out. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
}

/* Close-to-open: what another host closed, this open sees (a remote
 * store catches up; unreachable, it serves what it has).  A serving host
 * (-o serve) never waits on etcd: its replica is as current as its
 * watch's delivery. */
static void fs_refresh(struct fs *fs)
{
	if (fs->serve || !store_is_remote(fs->store))
		return;
	__atomic_add_fetch(&fs->refreshes, 1, __ATOMIC_RELAXED);
	store_refresh(fs->store, NULL);
}

/* A name not found may be one another host just made: on a remote store
 * (not -o serve), refresh, and say whether other hosts' changes were
 * applied since store_foreign_seq was SINCE (by the refresh or the
 * watch). */
static bool fs_refresh_moved(struct fs *fs, uint64_t since)
{
	if (fs->serve || !store_is_remote(fs->store))
		return false;
	fs_refresh(fs);
	return store_foreign_seq(fs->store) != since;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct node dir, child;
	fs_count(fs, FS_OP_LOOKUP);
	uint64_t gen = __atomic_load_n(&fs->ns_gen, __ATOMIC_SEQ_CST);
	uint64_t foreign = store_foreign_seq(fs->store);
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (rc == -ENOENT && fs_refresh_moved(fs, foreign)) {
		gen = __atomic_load_n(&fs->ns_gen, __ATOMIC_SEQ_CST);
		rc = resolve_child(fs, parent, name, &dir, &child);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, fs, &child, &gen);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = FS(req);
	fs_count(fs, FS_OP_FORGET);
	fs_inode_forget(fs, ino, nlookup);
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
	fs_count(fs, FS_OP_GETATTR);
	/* A page reader's inode shows the version it reads. */
	if (fs_inode_frozen(fs, ino, &st)) {
		fuse_reply_attr(req, &st, FS_ATTR_TIMEOUT);
		return;
	}
	uint64_t seq0 = change_seq(fs);
	int rc = resolve_ino(fs, ino, &n);
	if (!rc)
		rc = node_stat(fs, &n, &st);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, attr_timeout(fs, ino, &n, &st, seq0));
}

/* Empty a file: a table loses its rows, a property its value. */
static int truncate_node(struct fs *fs, const struct node *n,
			 struct mlfs_err *err)
{
	const struct kind *k = fs_kind(n);
	return k->truncate ? k->truncate(fs, n, err) : -EISDIR;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct mlfs_err err = { 0 };
	struct node n;
	struct stat st;
	fs_count(fs, FS_OP_SETATTR);
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
	/* Owner and mode pass to what lies below an object: directories'
	 * attributes are checked again. */
	if (!rc && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		fs_namespace_changed(fs);
	fs_notify_kick(fs);
	if (!rc)
		rc = node_stat(fs, &n, &st);
	if (rc) {
		fuse_reply_err(req, -fs_log_failure(fs, n.path, rc, &err));
		return;
	}
	st.st_ino = ino;
	fuse_reply_attr(req, &st, 0);
}

/* ---- directories ---- */

static int add_dirent(void *ctx, const char *name, bool is_dir)
{
	struct dir_list *h = ctx;
	if (buf_putc(&h->dir, is_dir ? 'd' : 'f'))
		return -ENOMEM;
	return buf_append(&h->dir, name, strlen(name) + 1);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	fs_count(fs, FS_OP_OPENDIR);
	struct dir_list *h = dir_list_new(fs);
	struct node n;
	int rc = resolve_ino(fs, ino, &n);
	if (!rc && n.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc) {
		add_dirent(h, ".", true);
		add_dirent(h, "..", true);
		rc = n.ops->list(fs, &n, add_dirent, h);
	}
	if (rc) {
		dir_list_free(fs, h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi))
		dir_list_free(fs, h);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dir_list *h = (struct dir_list *)(uintptr_t)fi->fh;
	fs_count(fuse_req_userdata(req), FS_OP_READDIR);
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
	struct dir_list *h = (struct dir_list *)(uintptr_t)fi->fh;
	fs_count(fuse_req_userdata(req), FS_OP_RELEASEDIR);
	dir_list_free(FS(req), h);
	fuse_reply_err(req, 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	fs_count(fs, FS_OP_MKDIR);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_dir(fs, parent, &dir);
	if (!rc && !dir.ops->mkdir)
		rc = mlfs_fail(&err, -EPERM, "no directories can be made here");
	if (!rc && dir.ops->lookup(fs, &dir, name, &child) == 0)
		rc = -EEXIST;
	if (!rc)
		rc = dir.ops->mkdir(fs, &dir, name, mode, &err);
	if (!rc)
		rc = dir.ops->lookup(fs, &dir, name, &child);
	reply_made(req, fs, &dir, name, &child, rc, &err);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	fs_count(fs, FS_OP_RMDIR);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (!rc && child.ops->kind != NK_DIR)
		rc = -ENOTDIR;
	if (!rc && !dir.ops->rmdir && !dir.ops->children_go_with_dir)
		rc = mlfs_fail(&err, -EPERM, "this directory cannot be removed");
	if (!rc && dir.ops->rmdir)
		rc = dir.ops->rmdir(fs, &dir, name, &err);
	if (!rc)
		fs_inode_removed(fs, child.path);
	fuse_reply_err(req, rc ? -fs_log_failure(fs, child.path, rc, &err) : 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	fs_count(fs, FS_OP_UNLINK);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (!rc && child.ops->kind == NK_DIR)
		rc = -EISDIR;
	if (!rc && !child.ops->remove && !dir.ops->children_go_with_dir)
		rc = mlfs_fail(&err, -EPERM, "this file cannot be removed");
	if (!rc && child.ops->remove)
		rc = child.ops->remove(fs, &child, &err);
	if (!rc && child.ops->remove)
		fs_inode_removed(fs, child.path);
	fuse_reply_err(req, rc ? -fs_log_failure(fs, child.path, rc, &err) : 0);
}

/* ---- files ---- */

static bool is_writer(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

/* A new handle, zeroed but for its node's two path buffers (8 KB, set
 * by whoever resolves the node): clearing them was a tenth of the
 * daemon's work for an online lookup. */
/* Spare handles kept at most (fs->spare). */
#define FS_SPARE_FILES 8

static struct file *file_new(struct fs *fs)
{
	pthread_mutex_lock(&fs->files_lock);
	struct file *f = fs->spare;
	if (f) {
		fs->spare = f->next;
		fs->nspare--;
	}
	pthread_mutex_unlock(&fs->files_lock);
	if (!f && !(f = malloc(sizeof(*f))))
		mlfs_oom();
	size_t node_end = offsetof(struct file, node) + sizeof(f->node);
	memset(f, 0, offsetof(struct file, node));
	memset((char *)f + node_end, 0, sizeof(*f) - node_end);
	node_clear(&f->node);
	atomic_init(&f->refs, 1);
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_lock(&fs->files_lock);
	f->next = fs->files;
	if (f->next)
		f->next->prev = f;
	fs->files = f;
	pthread_mutex_unlock(&fs->files_lock);
	return f;
}

static void file_free(struct fs *fs, struct file *f)
{
	pthread_mutex_lock(&fs->files_lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		fs->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&fs->files_lock);
	if (f->node.ops) {
		const struct kind *k = fs_kind(&f->node);
		if (k->release)
			k->release(fs, f);
	}
	if (f->ino)
		fs_inode_close(fs, f->ino, f->how, is_writer(f->flags),
			       f->node.ops ? fs_kind(&f->node)->cache : FS_CACHE_STAMPED);
	if (f->node.pending) {
		fs_pending_del(fs, f->node.path);
		fs_namespace_changed(fs);
	}
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_lock(&fs->files_lock);
	bool keep = fs->nspare < FS_SPARE_FILES;
	if (keep) {
		f->next = fs->spare;
		fs->spare = f;
		fs->nspare++;
	}
	pthread_mutex_unlock(&fs->files_lock);
	if (!keep)
		free(f);
}

/* Drop a reference to F (its open's, or a read's); the last frees it. */
static void file_put(struct fs *fs, struct file *f)
{
	if (atomic_fetch_sub(&f->refs, 1) == 1)
		file_free(fs, f);
}

void fs_files_free_all(struct fs *fs)
{
	while (fs->files)
		file_free(fs, fs->files);
	while (fs->dirs)
		dir_list_free(fs, fs->dirs);
	while (fs->spare) {
		struct file *f = fs->spare;
		fs->spare = f->next;
		free(f);
	}
	fs->nspare = 0;
}

static int open_node(struct fs *fs, struct file *f, int flags,
		     struct mlfs_err *err)
{
	const struct kind *k = fs_kind(&f->node);
	f->flags = flags;
	return k->open ? k->open(fs, f, err) : 0;
}

/* Open F (resolved, as inode INO) and decide how its handle reads.
 *
 * A handle reads its own snapshot, made at open.  Most kinds are read
 * with direct I/O: the kernel neither caches their pages nor trusts its
 * cached size for a read, so a snapshot shorter or longer than a newer
 * size some stat saw is read whole, never clipped or padded with NULs.
 * A pageable kind (a table's rows) opened read-only uses the page cache
 * when it can be kept true: no writer has it open (a writer moves the
 * kernel's size), the kernel's attributes are those of the snapshot, and
 * no other page reader has another version.  The inode is then pinned to
 * the snapshot until the handle closes (getattr answers its size; another
 * open gets ESTALE and the kernel looks the name up again, getting a new
 * inode), and keeps its pages from the last open when the version is the
 * same (keep_cache): the second cat of an unchanged table is a page cache
 * read. */
static int open_file(struct fs *fs, struct file *f, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct mlfs_err *err)
{
	const struct kind *k = fs_kind(&f->node);
	bool writer = is_writer(fi->flags);
	bool pageable = k->pageable && !writer && !f->node.pending;
	struct stat st;
	uint64_t seq0 = change_seq(fs);
	/* A kind whose open makes the whole content (a record) gives the
	 * size of that content, read once; others are stated before. */
	bool own = pageable && k->file_stat;
	if (pageable && !own && node_stat(fs, &f->node, &st))
		pageable = false;
	int rc = open_node(fs, f, fi->flags, err);
	if (rc)
		return rc;
	if (own && node_stat_open(fs, f, &st))
		pageable = false;
	/* The snapshot is of ST only if nothing was written in between. */
	bool same = pageable && change_seq(fs) == seq0;
	enum fs_open_how how = fs_inode_open(fs, ino, writer,
					     (fi->flags & O_TRUNC) != 0,
					     pageable, same ? &st : NULL, seq0);
	if (how == FS_OPEN_STALE)
		return -ESTALE;
	f->ino = ino;
	f->how = how;
	fi->keep_cache = how == FS_OPEN_PAGES_KEEP;
	fi->direct_io = (how == FS_OPEN_DIRECT && k->direct_io) || f->direct_io;
	fi->nonseekable = k->stream;
	/* A reader has nothing to commit: close() sends no flush. */
	fi->noflush = !writer;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct mlfs_err err = { 0 };
	struct file *f = file_new(fs);
	fs_count(fs, FS_OP_OPEN);
	fs_refresh(fs);
	int rc = resolve_ino(fs, ino, &f->node);

	if (rc)
		f->node.ops = NULL;
	else
		rc = open_file(fs, f, ino, fi, &err);
	if (rc == -ESTALE) {
		/* Not an error: the kernel looks the name up and opens again. */
		fuse_reply_err(req, ESTALE);
		file_free(fs, f);
		return;
	}
	if (rc) {
		fuse_reply_err(req, -fs_log_failure(fs, f->node.ops ? f->node.path : "?", rc, &err));
		file_free(fs, f);
		return;
	}
	fi->fh = (uintptr_t)f;
	if (fuse_reply_open(req, fi))
		file_free(fs, f);
}

/* Make the node of a new file NAME in DIR (open with O_CREAT) into F. */
static int create_node(struct fs *fs, struct node *dir, const char *name,
		       mode_t mode, struct file *f, struct mlfs_err *err)
{
	bool pending = false;
	if (!dir->ops->create) {
		/* The tree has fixed file names per kind of directory. */
		return mlfs_fail(err, -EACCES, "no file of this name can be created here");
	}
	int rc = dir->ops->create(fs, dir, name, mode, &f->node, &pending, err);
	if (rc) {
		node_child_path(f->node.path, sizeof(f->node.path), dir, name);
		return rc;
	}
	if (pending) {
		f->node.pending = true;
		fs_pending_add(fs, f->node.path);
	}
	return 0;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	fs_count(fs, FS_OP_CREATE);
	struct mlfs_err err = { 0 };
	struct node dir;
	struct file *f = file_new(fs);
	int rc = resolve_child(fs, parent, name, &dir, &f->node);

	if (rc == -ENOENT && dir.ops)
		rc = create_node(fs, &dir, name, mode, f, &err);
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	if (!rc && (rc = node_stat(fs, &f->node, &e.attr)) == 0) {
		e.ino = fs_inode_ref(fs, f->node.path);
		e.attr.st_ino = e.ino;
		rc = open_file(fs, f, e.ino, fi, &err);
		if (rc)
			fs_inode_forget(fs, e.ino, 1);
	}
	if (rc) {
		fuse_reply_err(req, -fs_log_failure(fs, f->node.path, rc, &err));
		file_free(fs, f);
		return;
	}
	fi->fh = (uintptr_t)f;
	if (fuse_reply_create(req, &e, fi)) {
		fs_inode_forget(fs, e.ino, 1);
		file_free(fs, f);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct file *f = F(fi);
	const struct kind *k = fs_kind(&f->node);
	struct mlfs_err err = { 0 };

	fs_count(fs, FS_OP_READ);
	/* RELEASE may come as soon as the kernel has the reply, before this
	 * worker is done with it: a fixed content is read under a reference
	 * (taken before the reply, so before any RELEASE), others under the
	 * handle's lock, which release takes too. */
	bool fixed = k->fixed;
	if (fixed)
		atomic_fetch_add(&f->refs, 1);
	else
		pthread_mutex_lock(&f->lock);
	int rc = k->read ? k->read(fs, f, req, size, off, &err) : -EISDIR;
	if (!fixed)
		pthread_mutex_unlock(&f->lock);
	if (rc == -EISDIR)
		fuse_reply_err(req, EISDIR);
	else if (rc < 0)
		fuse_reply_err(req, -fs_log_failure(fs, f->node.path, rc, &err));
	if (fixed)
		file_put(fs, f);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct file *f = F(fi);
	const struct kind *k = fs_kind(&f->node);
	struct mlfs_err err = { 0 };
	int rc;

	fs_count(fs, FS_OP_WRITE);
	pthread_mutex_lock(&f->lock);
	/* After a failure the first error already told why. */
	bool quiet = k->failed && k->failed(f);
	if (k->write)
		rc = k->write(fs, f, data, size, off, &err);
	else
		rc = mlfs_fail(&err, -EACCES, "a generated file is read-only");
	f->unseen = true;
	pthread_mutex_unlock(&f->lock);
	if (rc && !quiet)
		fs_log_failure(fs, f->node.path, rc, &err);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* Apply what F wrote since the last commit.  FINAL at release (REQ NULL);
 * FS_REPLIED when the kind answers REQ itself. */
static int commit_file(struct fs *fs, struct file *f, bool final,
		       fuse_req_t req, struct mlfs_err *err)
{
	const struct kind *k = fs_kind(&f->node);
	return k->commit ? k->commit(fs, f, final, req, err) : 0;
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct file *f = F(fi);
	const struct kind *k = fs_kind(&f->node);
	struct mlfs_err err = { 0 };

	fs_count(fs, FS_OP_FLUSH);
	pthread_mutex_lock(&f->lock);
	/* A failed writer said why in write(); close() just fails again. */
	bool quiet = k->failed && k->failed(f);
	int rc = commit_file(fs, f, false, req, &err);
	/* A flush with nothing written since the last (the first of the two
	 * `echo >>` sends: bash closes the fd it dup2()ed) has nothing for
	 * the notifier to tell. */
	bool unseen = f->unseen;
	f->unseen = false;
	pthread_mutex_unlock(&f->lock);
	if (rc == FS_REPLIED)
		return;
	if (rc && !quiet)
		fs_log_failure(fs, f->node.path, rc, &err);
	/* What close() returns from, the next reader sees: the kernel has
	 * been told of the change (flush holds no lock the notifier needs). */
	if (unseen)
		fs_notify_wait(fs);
	fuse_reply_err(req, -rc);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct file *f = F(fi);
	struct mlfs_err err = { 0 };

	fs_count(fs, FS_OP_FSYNC);
	pthread_mutex_lock(&f->lock);
	/* fsync does not wait for a control's job: it commits, at most. */
	int rc = commit_file(fs, f, false, NULL, &err);
	pthread_mutex_unlock(&f->lock);
	if (!rc)
		rc = store_sync(fs->store, &err);
	if (is_writer(f->flags))
		fs_notify_wait(fs);
	fuse_reply_err(req, rc ? -fs_log_failure(fs, f->node.path, rc, &err) : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	struct file *f = F(fi);
	const struct kind *k = fs_kind(&f->node);
	struct mlfs_err err = { 0 };

	fs_count(fs, FS_OP_RELEASE);
	pthread_mutex_lock(&f->lock);
	/* A writer that failed already said why; its rows are dropped. */
	bool skip = k->failed && k->failed(f);
	int rc = skip ? 0 : commit_file(fs, f, true, NULL, &err);
	pthread_mutex_unlock(&f->lock);
	if (rc)
		fs_log_failure(fs, f->node.path, rc, &err);
	file_put(fs, f);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct statvfs sv;
	fs_count(fs, FS_OP_STATFS);
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
	fs_count(fs, FS_OP_RENAME);
	struct mlfs_err err = { 0 };
	struct node dir, child, newdir;
	int rc = resolve_child(fs, parent, name, &dir, &child);
	if (!rc)
		rc = resolve_dir(fs, newparent, &newdir);
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
			node_child_path(to, sizeof(to), &newdir, newname);
			fs_inode_rename(fs, child.path, to);
		}
		buf_free(&target);
		if (rc && rc != -EEXIST)
			fs_log_failure(fs, child.path, rc, &err);
		fuse_reply_err(req, -rc);
		return;
	}
	if (!rc && (!dir.ops->rename || dir.ops->rename != newdir.ops->rename))
		rc = mlfs_fail(&err, -EPERM, "renaming is not supported here");
	if (!rc)
		rc = dir.ops->rename(fs, &dir, name, &newdir, newname, flags, &err);
	if (!rc) {
		char to[FS_PATH_MAX];
		node_child_path(to, sizeof(to), &newdir, newname);
		fs_inode_rename(fs, child.path, to);
	}
	if (rc && rc != -EEXIST && rc != -ENOTEMPTY)
		fs_log_failure(fs, rc == -ENOENT ? "?" : child.path, rc, &err);
	fuse_reply_err(req, -rc);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	struct fs *fs = FS(req);
	fs_namespace_changed(fs);
	fs_count(fs, FS_OP_SYMLINK);
	struct mlfs_err err = { 0 };
	struct node dir, child;
	int rc = resolve_dir(fs, parent, &dir);
	if (!rc && dir.ops->lookup(fs, &dir, name, &child) == 0)
		rc = -EEXIST;
	if (!rc && !dir.ops->symlink)
		rc = mlfs_fail(&err, -EPERM, "no links can be made here");
	bool held = false;
	if (!rc) {
		rc = dir.ops->symlink(fs, &dir, name, target, &err);
		if (rc == -EPERM && fs_templink_name(name)) {
			/* ln -sfn's temporary name: hold it, as ln renames it
			 * onto a real name next. */
			char path[FS_PATH_MAX];
			node_child_path(path, sizeof(path), &dir, name);
			mlfs_err_clear(&err);
			rc = fs_templink_add(path, target);
			held = rc == 0;
			if (held)
				node_child(&child, &dir, name, &templink_ops);
		}
	}
	if (!rc && !held)
		rc = dir.ops->lookup(fs, &dir, name, &child);
	reply_made(req, fs, &dir, name, &child, rc, &err);
}

/* link(2): no node kind has a second name. */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct fs *fs = FS(req);
	struct mlfs_err err = { 0 };
	struct node dir;
	int rc = resolve_dir(fs, newparent, &dir);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = mlfs_fail(&err, -EPERM, "hard links are not supported (ln -s makes an alias or a run's parent)");
	reply_made(req, fs, &dir, newname, NULL, rc, &err);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct node n;
	struct buf b = { 0 };
	fs_count(fs, FS_OP_READLINK);
	/* An alias is read without an open: where another host moved it
	 * (a remote store), this read sees the move, as an open would. */
	fs_refresh(fs);
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
	.link = op_link,
	.readlink = op_readlink,
};
