/* exchange.c - the exchange kind: a file you write a request to and read
 * the response from (a model's register today, an endpoint's predict and
 * a version's score next).  Not a property: nothing is stored in it.
 *
 * A handle's life:
 *   write      appends to the request; the node's validate() checks the
 *              request so far (so even bash's echo sees EINVAL) and a
 *              write after an answer starts a new request;
 *   read       answers a pending request first (node's exchange()), then
 *              reads the response at the handle's own position (the
 *              file is nonseekable: a read after a 4-byte write comes at
 *              offset 4);
 *   flush      answers a pending request; its error is close()'s.
 * Each answer is also kept for the writer's uid and session id, replacing
 * the one before, so `echo ... > f; cat f` works from a shell: a handle
 * opened read-only reads the kept answer of its caller's session.  At
 * most EXCHANGE_KEPT answers are kept (the oldest go first).  A failed
 * request is kept as its error: the shell's cat fails with it instead of
 * showing the answer before.
 *
 * A streamed exchange (node_ops.stream, batch scoring) feeds each write
 * to a session instead of collecting the request, and reads the answer
 * from the session's spool file; kept answers hold a dup of it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

#define EXCHANGE_KEPT 4096

/* An answer kept for a session: guarded by fs->exchange_lock. */
struct exchange_kept {
	struct exchange_kept *next;
	char path[FS_PATH_MAX];
	uid_t uid;
	pid_t sid;
	struct buf response;
	int fd;			/* a streamed answer's spool, or -1 */
	int error;		/* the request failed: reads fail with it */
};

struct exchange_state {
	struct buf request;	/* written since the last answer */
	struct buf response;	/* what this handle reads */
	size_t pos;		/* read position in response */
	bool pending;		/* request written, not answered */
	bool failed;		/* a write was refused: nothing is answered */
	int kept_error;		/* read-only: the session's last request failed */
	bool empty;		/* opened with O_TRUNC, nothing written yet */
	void *sess;		/* streamed: the request being fed */
	int fd;			/* streamed: the answer's spool, or -1 */
	uid_t uid;
	pid_t sid;		/* the opener's session */
};

/* Keep RESPONSE for (PATH, UID, SID), newest first. */
static void kept_free(struct exchange_kept *e)
{
	buf_free(&e->response);
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

/* Keep RESPONSE (or the spool FD, or ERROR) for (PATH, UID, SID). */
static void kept_put(struct fs *fs, const char *path, uid_t uid, pid_t sid,
		     const struct buf *response, int fd, int error)
{
	struct exchange_kept *k = NULL;
	pthread_mutex_lock(&fs->exchange_lock);
	size_t n = 0;
	for (struct exchange_kept **pp = &fs->exchange_kept; *pp;) {
		struct exchange_kept *e = *pp;
		if (e->uid == uid && e->sid == sid && !strcmp(e->path, path)) {
			*pp = e->next;
			k = e;
			continue;
		}
		if (++n >= EXCHANGE_KEPT) {	/* the rest are the oldest */
			*pp = e->next;
			kept_free(e);
			continue;
		}
		pp = &e->next;
	}
	if (!k) {
		if (!(k = calloc(1, sizeof(*k))))
			mlfs_oom();
	} else if (k->fd >= 0) {
		close(k->fd);
	}
	k->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	snprintf(k->path, sizeof(k->path), "%s", path);
	k->uid = uid;
	k->sid = sid;
	buf_reset(&k->response);
	if (response)
		buf_append(&k->response, response->data, response->len);
	k->error = error;
	k->next = fs->exchange_kept;
	fs->exchange_kept = k;
	pthread_mutex_unlock(&fs->exchange_lock);
}

static void kept_get(struct fs *fs, const char *path, uid_t uid, pid_t sid,
		     struct buf *out, int *fd, int *error)
{
	pthread_mutex_lock(&fs->exchange_lock);
	for (struct exchange_kept *e = fs->exchange_kept; e; e = e->next)
		if (e->uid == uid && e->sid == sid && !strcmp(e->path, path)) {
			buf_append(out, e->response.data, e->response.len);
			*fd = e->fd >= 0 ? fcntl(e->fd, F_DUPFD_CLOEXEC, 0) : -1;
			*error = e->error;
			break;
		}
	pthread_mutex_unlock(&fs->exchange_lock);
}

void fs_exchange_free_all(struct fs *fs)
{
	pthread_mutex_lock(&fs->exchange_lock);
	while (fs->exchange_kept) {
		struct exchange_kept *e = fs->exchange_kept;
		fs->exchange_kept = e->next;
		kept_free(e);
	}
	pthread_mutex_unlock(&fs->exchange_lock);
}

static int exchange_stat(struct fs *fs, const struct node *n, struct stat *st,
			 int64_t *data_mtime)
{
	st->st_mode |= S_IFREG;
	st->st_size = 0;	/* direct_io: read until the end */
	return 0;
}

/* Opened for writing with O_TRUNC: a request begins, maybe empty (`cp
 * /dev/null f`).  The answer kept before is gone at once (a cat after it
 * must not show it); an empty request is answered (refused) at release
 * only - bash's dup2 sends a flush before its first write. */
static void opened_empty(struct fs *fs, struct file *f)
{
	struct exchange_state *x = f->state;
	x->empty = true;
	kept_put(fs, f->node.path, x->uid, x->sid, NULL, -1, -EINVAL);
}

static int exchange_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	struct exchange_state *x = calloc(1, sizeof(*x));
	gid_t gid;
	if (!x)
		mlfs_oom();
	fs_caller(&x->uid, &gid);
	x->sid = getsid(fs_caller_pid());
	x->fd = -1;
	f->state = x;
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		kept_get(fs, f->node.path, x->uid, x->sid, &x->response, &x->fd, &x->kept_error);
	else if (f->flags & O_TRUNC)
		opened_empty(fs, f);
	return 0;
}

/* Drop a streamed request's session and spool. */
static void stream_end(struct file *f)
{
	struct exchange_state *x = f->state;
	if (x->sess)
		f->node.ops->stream->free(x->sess);
	x->sess = NULL;
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
}

static void exchange_release(struct fs *fs, struct file *f)
{
	struct exchange_state *x = f->state;
	if (!x)
		return;
	buf_free(&x->request);
	buf_free(&x->response);
	stream_end(f);
	free(x);
	f->state = NULL;
}

static int stream_write(struct fs *fs, struct file *f, const char *data,
			size_t size, struct mlfs_err *err)
{
	struct exchange_state *x = f->state;
	const struct exchange_stream *st = f->node.ops->stream;
	int rc = x->sess ? 0 : st->open(fs, &f->node, &x->sess, err);
	if (!rc)
		rc = st->write(x->sess, data, size, err);
	if (rc) {
		x->failed = true;
		kept_put(fs, f->node.path, x->uid, x->sid, NULL, -1, rc);
		stream_end(f);
		return rc;
	}
	x->pending = true;
	return 0;
}

static int exchange_write(struct fs *fs, struct file *f, const char *data,
			  size_t size, off_t off, struct mlfs_err *err)
{
	struct exchange_state *x = f->state;
	const struct node_ops *ops = f->node.ops;
	size_t max = ops->max_request ? ops->max_request : FS_PROPERTY_MAX;
	if (x->failed)
		return mlfs_fail(err, -EINVAL, "an earlier write of this request failed");
	x->empty = false;
	if (!x->pending) {	/* a new request */
		buf_reset(&x->request);
		buf_reset(&x->response);
		x->pos = 0;
		x->kept_error = 0;
		if (ops->stream)
			stream_end(f);
	}
	if (ops->stream)
		return stream_write(fs, f, data, size, err);
	if (x->request.len + size > max) {
		x->failed = true;
		kept_put(fs, f->node.path, x->uid, x->sid, NULL, -1, -EFBIG);
		return mlfs_fail(err, -EFBIG, "a request is at most %zu bytes", max);
	}
	size_t before = x->request.len;
	buf_append(&x->request, data, size);
	int rc = ops->validate ? ops->validate(fs, &f->node, x->request.data, x->request.len, err) : 0;
	if (rc) {
		x->request.len = before;
		x->failed = true;
		kept_put(fs, f->node.path, x->uid, x->sid, NULL, -1, rc);
		return rc;
	}
	x->pending = true;
	return 0;
}

/* Answer the pending request; keep the answer for the caller's session. */
static int answer(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	struct exchange_state *x = f->state;
	if (!x->pending || x->failed)
		return 0;
	x->pending = false;
	buf_reset(&x->response);
	x->pos = 0;
	if (f->node.ops->stream) {
		int fd = -1;
		int rc = x->sess ? 0 : f->node.ops->stream->open(fs, &f->node, &x->sess, err);
		if (!rc)
			rc = f->node.ops->stream->finish(x->sess, &fd, err);
		if (!rc && (x->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
			rc = mlfs_fail(err, -EMFILE, "no file descriptor for the answer");
		if (x->sess)
			f->node.ops->stream->free(x->sess);
		x->sess = NULL;
		kept_put(fs, f->node.path, x->uid, x->sid, NULL, rc ? -1 : x->fd, rc);
		return rc;
	}
	int rc = f->node.ops->exchange(fs, &f->node, x->request.data ? x->request.data : "",
				       x->request.len, &x->response, err);
	if (rc)
		buf_reset(&x->response);
	kept_put(fs, f->node.path, x->uid, x->sid, rc ? NULL : &x->response, -1, rc);
	return rc;
}

static int spool_read(struct file *f, fuse_req_t req, size_t size,
		      struct mlfs_err *err)
{
	struct exchange_state *x = f->state;
	char *p = malloc(size ? size : 1);
	if (!p)
		mlfs_oom();
	ssize_t n = pread(x->fd, p, size, (off_t)x->pos);
	if (n < 0) {
		free(p);
		return mlfs_fail(err, -EIO, "reading the answer: %s", strerror(errno));
	}
	fuse_reply_buf(req, n ? p : NULL, (size_t)n);
	x->pos += (size_t)n;
	free(p);
	return FS_REPLIED;
}

static int exchange_read(struct fs *fs, struct file *f, fuse_req_t req,
			 size_t size, off_t off, struct mlfs_err *err)
{
	struct exchange_state *x = f->state;
	int rc = answer(fs, f, err);
	if (rc)
		return rc;
	if (x->kept_error && !x->pos)
		return mlfs_fail(err, x->kept_error, "the last request of this session failed (its reason is above in /log)");
	if (x->fd >= 0)
		return spool_read(f, req, size, err);
	size_t n = x->response.len - x->pos < size ? x->response.len - x->pos : size;
	fuse_reply_buf(req, n ? x->response.data + x->pos : NULL, n);
	x->pos += n;
	return FS_REPLIED;
}

static bool exchange_failed(struct file *f)
{
	struct exchange_state *x = f->state;
	return x && x->failed;
}

static int exchange_commit(struct fs *fs, struct file *f, bool final,
			   fuse_req_t req, struct mlfs_err *err)
{
	struct exchange_state *x = f->state;
	if (final && x->empty) {	/* nothing was ever written */
		x->empty = false;
		buf_reset(&x->request);
		x->pending = true;
	}
	return answer(fs, f, err);
}

static int exchange_truncate(struct fs *fs, const struct node *n,
			     struct mlfs_err *err)
{
	return 0;	/* O_TRUNC: every request starts empty anyway */
}

const struct kind kind_exchange = {
	.name = "exchange", .direct_io = true, .stream = true,
	.cache = FS_CACHE_NONE,
	.stat = exchange_stat, .open = exchange_open, .read = exchange_read,
	.write = exchange_write, .failed = exchange_failed,
	.commit = exchange_commit, .release = exchange_release,
	.truncate = exchange_truncate,
};
