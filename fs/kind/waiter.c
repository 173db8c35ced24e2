/* waiter.c - the waiter kind: reads that wait (runs/R/wait); and files
 * that exist once written (pending creates).
 *
 * A read of a waiter file whose state is not reached is parked here, not
 * in a FUSE worker: the worker returns at once and this module replies
 * later, from its own thread, when the node's poll() says ready (checked
 * every 50 ms and on every kick), or with EINTR when the reader is
 * interrupted (Ctrl-C).
 *
 * Waiter states, all changed under wait_lock:
 *   ARMING   in the list, interrupt callback being registered: the poller
 *            skips it (its req may not be replied before registration ends)
 *   ARMED    the poller may reply and free it; so may the interrupt callback
 * An entry leaves the list exactly once, by whoever replies. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_int.h"

struct pending {
	struct pending *next;
	char *path;
	int refs;
};

void fs_pending_add(struct fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->log_lock);
	struct pending *p = fs->pending;
	while (p && strcmp(p->path, path))
		p = p->next;
	if (!p && (p = calloc(1, sizeof(*p))) && (p->path = strdup(path))) {
		p->next = fs->pending;
		fs->pending = p;
	} else if (p && !p->path) {
		free(p);
		p = NULL;
	}
	if (p)
		p->refs++;
	pthread_mutex_unlock(&fs->log_lock);
}

void fs_pending_del(struct fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->log_lock);
	for (struct pending **pp = &fs->pending; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->path, path))
			continue;
		struct pending *p = *pp;
		if (--p->refs == 0) {
			*pp = p->next;
			free(p->path);
			free(p);
		}
		break;
	}
	pthread_mutex_unlock(&fs->log_lock);
}

bool fs_pending_has(struct fs *fs, const char *path)
{
	pthread_mutex_lock(&fs->log_lock);
	struct pending *p = fs->pending;
	while (p && strcmp(p->path, path))
		p = p->next;
	pthread_mutex_unlock(&fs->log_lock);
	return p != NULL;
}

enum waiter_state { W_ARMING, W_ARMED };

struct waiter {
	struct waiter *next;
	enum waiter_state state;
	fuse_req_t req;
	struct node node;
	size_t size;
	off_t off;
};

/* Remove W from the list.  Call with wait_lock held. */
static void unlink_waiter(struct fs *fs, struct waiter *w)
{
	for (struct waiter **pp = &fs->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static void on_interrupt(fuse_req_t req, void *data)
{
	struct fs *fs = data;
	pthread_mutex_lock(&fs->wait_lock);
	for (struct waiter *w = fs->waiters; w; w = w->next) {
		if (w->req == req) {
			unlink_waiter(fs, w);
			fuse_reply_err(req, EINTR);
			free(w);
			break;
		}
	}
	pthread_mutex_unlock(&fs->wait_lock);
}

void fs_waiter_park(struct fs *fs, fuse_req_t req, const struct node *n,
		    size_t size, off_t off)
{
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->req = req;
	w->node = *n;
	w->size = size;
	w->off = off;
	w->state = W_ARMING;
	pthread_mutex_lock(&fs->wait_lock);
	w->next = fs->waiters;
	fs->waiters = w;
	pthread_mutex_unlock(&fs->wait_lock);
	/* May call on_interrupt at once if the read was already interrupted. */
	fuse_req_interrupt_func(req, on_interrupt, fs);
	pthread_mutex_lock(&fs->wait_lock);
	for (struct waiter *x = fs->waiters; x; x = x->next)
		if (x == w)
			w->state = W_ARMED;
	pthread_cond_signal(&fs->wait_cv);
	pthread_mutex_unlock(&fs->wait_lock);
}

static void check_waiters(struct fs *fs)
{
	struct buf b = { 0 };
	pthread_mutex_lock(&fs->wait_lock);
	for (struct waiter **pp = &fs->waiters; *pp;) {
		struct waiter *w = *pp;
		if (w->state == W_ARMED && w->node.ops->poll(fs, &w->node, &b) == 0) {
			*pp = w->next;
			fs_reply_slice(w->req, &b, w->size, w->off);
			free(w);
			continue;
		}
		pp = &w->next;
	}
	pthread_mutex_unlock(&fs->wait_lock);
	buf_free(&b);
}

static void *wait_main(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->wait_lock);
	while (!fs->wait_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->wait_cv, &fs->wait_lock, &ts);
		if (fs->wait_stop)
			break;
		pthread_mutex_unlock(&fs->wait_lock);
		check_waiters(fs);
		pthread_mutex_lock(&fs->wait_lock);
	}
	pthread_mutex_unlock(&fs->wait_lock);
	return NULL;
}

int fs_waiters_start(struct fs *fs)
{
	pthread_mutex_init(&fs->wait_lock, NULL);
	pthread_cond_init(&fs->wait_cv, NULL);
	return pthread_create(&fs->wait_thread, NULL, wait_main, fs) ? -EAGAIN : 0;
}

void fs_waiters_stop(struct fs *fs)
{
	pthread_mutex_lock(&fs->wait_lock);
	fs->wait_stop = true;
	pthread_cond_signal(&fs->wait_cv);
	pthread_mutex_unlock(&fs->wait_lock);
	pthread_join(fs->wait_thread, NULL);
	/* Readers still parked at unmount get EINTR-free EOF-less errors. */
	while (fs->waiters) {
		struct waiter *w = fs->waiters;
		fs->waiters = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	pthread_cond_destroy(&fs->wait_cv);
	pthread_mutex_destroy(&fs->wait_lock);
}

void fs_waiters_kick(struct fs *fs)
{
	pthread_mutex_lock(&fs->wait_lock);
	pthread_cond_signal(&fs->wait_cv);
	pthread_mutex_unlock(&fs->wait_lock);
}

static int waiter_stat(struct fs *fs, const struct node *n, struct stat *st,
		       int64_t *data_mtime)
{
	st->st_mode |= S_IFREG;	/* size 0: read with direct I/O */
	return 0;
}

static int waiter_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	if ((f->flags & O_ACCMODE) != O_RDONLY)
		return mlfs_fail(err, -EACCES, "a waiter file is read-only");
	return text_state_open(f);
}

/* Answer at once when the state is reached (and from then on the same
 * content), else park the read here. */
static int waiter_read(struct fs *fs, struct file *f, fuse_req_t req,
		       size_t size, off_t off, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (!t->ready) {
		buf_reset(&t->content);
		if (f->node.ops->poll(fs, &f->node, &t->content) != 0) {
			fs_waiter_park(fs, req, &f->node, size, off);
			return FS_REPLIED;
		}
		t->ready = true;
	}
	return text_state_read(fs, f, req, size, off, err);
}

const struct kind kind_waiter = {
	.name = "waiter", .direct_io = true,
	.cache = FS_CACHE_VOLATILE, .stat = waiter_stat,
	.open = waiter_open, .read = waiter_read,
	.release = text_state_release,
};
