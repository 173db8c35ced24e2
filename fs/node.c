/* node.c - resolving paths into nodes, and what stat says about a node.
 *
 * A node is a path plus the handlers of its kind; namespaces (fs/ns/)
 * decide what each name is.  Owners and modes come from the attrs a user
 * set on the node, else from the object that holds it (a table's files
 * belong to the table's creator), else from the daemon. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attrs.h"
#include "fs_int.h"

/* The request this thread is serving (NULL on the runners' threads). */
static __thread fuse_req_t caller_req;
static __thread const struct fuse_ctx *caller_ctx;

void fs_set_caller(fuse_req_t req);
void fs_set_caller(fuse_req_t req)
{
	caller_req = req;
	caller_ctx = req ? fuse_req_ctx(req) : NULL;
}

int fs_caller_groups(gid_t *list, int size)
{
	if (!caller_req)
		return -ENOSYS;
	return fuse_req_getgroups(caller_req, size, list);
}

void fs_caller(uid_t *uid, gid_t *gid)
{
	*uid = caller_ctx ? caller_ctx->uid : getuid();
	*gid = caller_ctx ? caller_ctx->gid : getgid();
}

pid_t fs_caller_pid(void)
{
	return caller_ctx ? caller_ctx->pid : getpid();
}

int fs_path_in_mount(struct fs *fs, const char *path, char *out,
		     size_t size)
{
	size_t ml = strlen(fs->mountpoint);
	const char *p = path;
	if (ml && !strncmp(p, fs->mountpoint, ml) && (p[ml] == '/' || !p[ml]))
		p += ml;
	while (*p == '/' || (p[0] == '.' && p[1] == '/'))
		p += *p == '/' ? 1 : 2;
	size_t n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	if (!n || n >= size)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int fs_path_split(const char *path, char parts[][FS_NAME_MAX + 1], int max)
{
	int k = 0;
	for (const char *p = path; ; k++) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (k == max || !n || n > FS_NAME_MAX)
			return -1;
		memcpy(parts[k], p, n);
		parts[k][n] = '\0';
		if (!slash)
			return k + 1;
		p = slash + 1;
	}
}

void node_clear(struct node *n)
{
	n->ops = NULL;
	n->path[0] = '\0';
	memset(n->arg, 0, sizeof(n->arg));
	n->owner = NULL;
	n->owner_path[0] = '\0';
	n->owner_ops = NULL;
	n->id = n->parent_id = 0;
	n->pending = false;
}

size_t node_strcpy(char *out, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(out, src, n);
	out[n] = 0;
	return n;
}

void node_child_path(char *out, size_t size, const struct node *dir,
		     const char *name)
{
	size_t n = strcmp(dir->path, "/") ? node_strcpy(out, size, dir->path) : 0;
	if (n + 1 < size) {
		out[n++] = '/';
		node_strcpy(out + n, size - n, name);
	}
}

void node_child(struct node *out, const struct node *dir, const char *name,
		const struct node_ops *ops)
{
	memcpy(out->arg, dir->arg, sizeof(out->arg));
	node_strcpy(out->owner_path, sizeof(out->owner_path), dir->owner_path);
	node_child_path(out->path, sizeof(out->path), dir, name);
	out->ops = ops;
	out->owner = out->owner_path[0] ? out->owner_path : NULL;
	out->owner_ops = dir->owner_ops;
	out->id = 0;
	out->parent_id = dir->id;
	out->pending = false;
}

void node_object(struct node *out, const struct node *dir, const char *name,
		 const struct node_ops *ops, int arg)
{
	node_child(out, dir, name, ops);
	node_strcpy(out->arg[arg], sizeof(out->arg[arg]), name);
	node_strcpy(out->owner_path, sizeof(out->owner_path), out->path);
	out->owner = out->owner_path;
	out->owner_ops = ops;
}

int fs_list_name(void *lister, const char *name)
{
	struct fs_lister *l = lister;
	return l->add(l->ctx, name, l->dirs);
}

int node_lookup(struct fs *fs, const struct node *dir, const char *name,
		bool pending, struct node *out)
{
	char full[FS_PATH_MAX];
	int rc = dir->ops->lookup(fs, dir, name, out);
	if (rc != -ENOENT)
		return rc;
	node_child_path(full, sizeof(full), dir, name);
	if (dir->ops->symlink && fs_templink_get(full, NULL)) {
		node_child(out, dir, name, &templink_ops);
		return 0;
	}
	/* A file being created shows until its writer closes. */
	bool is_pending = false;
	if (pending && dir->ops->create && fs_pending_has(fs, full) &&
	    dir->ops->create(fs, dir, name, 0644, out, &is_pending, NULL) == 0 &&
	    is_pending) {
		out->pending = true;
		return 0;
	}
	return -ENOENT;
}

int fs_resolve(struct fs *fs, const char *path, struct node *out)
{
	char comp[FS_PATH_MAX];
	const char *p = path;

	memset(out->arg, 0, sizeof(out->arg));
	out->id = 0;
	out->pending = false;
	strcpy(out->path, "/");
	out->owner_path[0] = '\0';
	out->owner = NULL;
	out->owner_ops = NULL;
	out->ops = &ns_root_dir;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > FS_NAME_MAX)
			return -ENOENT;
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (out->ops->kind != NK_DIR)
			return -ENOTDIR;
		struct node child;
		int rc = node_lookup(fs, out, comp, !*p, &child);
		if (rc)
			return rc;
		memcpy(out, &child, sizeof(child));
		out->owner = out->owner_path[0] ? out->owner_path : NULL;
	}
	return 0;
}

static void ts_from_ns(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

/* N's attributes; its size and data time from the open handle F when
 * F is set and its kind can say them. */
static int stat_node(struct fs *fs, const struct node *n, struct file *f,
		     struct stat *st)
{
	struct attrs own, a;
	int64_t mtime = fs->start_ns;
	int rc;

	memset(st, 0, sizeof(*st));
	if (n->ops->stat)
		return n->ops->stat(fs, n, st);
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mode = n->ops->perm;
	if (n->owner && attrs_get(fs->store, n->owner, &own) == 0) {
		st->st_uid = own.uid;
		st->st_gid = own.gid;
		mtime = own.ctime_ns;
	} else if (n->owner && n->owner_ops && n->owner_ops->owner) {
		/* The object's own record: its mode is the node's when the
		 * node is the object itself. */
		uid_t uid;
		gid_t gid;
		mode_t mode;
		if (n->owner_ops->owner(fs, n, &uid, &gid, &mode, &mtime) == 0) {
			st->st_uid = uid;
			st->st_gid = gid;
			if (!strcmp(n->path, n->owner_path))
				st->st_mode = mode & 07777;
		}
	}
	int64_t attrs_set_at = 0, ctime = mtime;
	if (attrs_get(fs->store, n->path, &a) == 0) {
		st->st_mode = a.mode & 07777;
		st->st_uid = a.uid;
		st->st_gid = a.gid;
		mtime = a.mtime_ns;
		ctime = attrs_set_at = a.ctime_ns;
	}
	st->st_nlink = 1;
	st->st_blksize = 1 << 20;
	int64_t data_mtime = 0;
	const struct kind *k = fs_kind(n);
	if ((rc = f && k->file_stat ? k->file_stat(fs, f, st, &data_mtime) :
		  k->stat(fs, n, st, &data_mtime)))
		return rc;
	/* The later of a data change and a touch wins. */
	if (data_mtime > attrs_set_at)
		mtime = data_mtime;
	if (data_mtime > ctime)
		ctime = data_mtime;
	st->st_blocks = (st->st_size + 511) / 512;
	if (ctime < mtime)
		ctime = mtime;
	ts_from_ns(&st->st_mtim, mtime);
	ts_from_ns(&st->st_ctim, ctime);
	st->st_atim = st->st_mtim;
	return 0;
}

int node_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	return stat_node(fs, n, NULL, st);
}

int node_stat_open(struct fs *fs, struct file *f, struct stat *st)
{
	return stat_node(fs, &f->node, f, st);
}

