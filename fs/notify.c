/* notify.c - the notifier: keeps what the kernel caches true.
 *
 * The kernel caches the attributes and pages mlfs lets it (inode.c keeps
 * the list of what it holds).  Every store write, from a request or from
 * the engine's own threads (a training ending, a refresh, the inference
 * log), bumps fs->change_seq through the store's change hook and wakes
 * this one thread, which checks the listed inodes against the store and
 * tells the kernel what changed (fuse_lowlevel_notify_inval_inode, and
 * _inval_entry for a name that is gone).  Notifications never come from
 * a request handler (fuse_lowlevel.h's deadlock rule); a flush that
 * committed waits here (fs_notify_wait) until the kernel has been told,
 * so what close() returned from is what the next reader sees.  Not the
 * inode table (inode.c) nor the policy of what may be cached (ops.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_int.h"

/* Whether ITEM's node still has the attributes and content the kernel
 * holds: a volatile one (a generated text) is taken as changed. */
static bool item_unchanged(struct fs *fs, const struct fs_kitem *item,
			   bool *gone)
{
	struct node n;
	struct stat st;
	*gone = false;
	if (item->evict || item->cache == FS_CACHE_VOLATILE)
		return false;
	int rc = fs_resolve(fs, item->path, &n);
	if (!rc)
		rc = node_stat(fs, &n, &st);
	if (rc) {
		*gone = rc == -ENOENT;
		return false;
	}
	if (item->attrs && !fs_stamp_eq(&item->attr_stamp, &st))
		return false;
	if (item->pages && !fs_stamp_eq(&item->page_stamp, &st))
		return false;
	return true;
}

/* Tell the kernel to drop the name of PATH (gone from the store). */
static void inval_entry(struct fs *fs, const char *path)
{
	char parent[FS_PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return;
	size_t plen = slash == path ? 1 : (size_t)(slash - path);
	memcpy(parent, path, plen);
	parent[plen] = '\0';
	fuse_ino_t pino = fs_inode_find(fs, parent);
	if (!pino)
		return;
	fs_count(fs, FS_OP_NOTIFY_ENTRY);
	fuse_lowlevel_notify_inval_entry(fs->se, pino, slash + 1, strlen(slash + 1));
}

/* One pass: check every listed file (and directory when DIRS), or when
 * not ALL (no write since the last pass) only those marked. */
static void pass(struct fs *fs, bool dirs, bool all)
{
	struct fs_kitem *items;
	size_t n = fs_inode_collect(fs, dirs, all, &items);
	for (size_t i = 0; i < n; i++) {
		bool gone;
		if (!item_unchanged(fs, &items[i], &gone)) {
			fs_inode_uncache(fs, &items[i]);
			fs_count(fs, FS_OP_NOTIFY_INODE);
			/* Attributes and every page; -ENOENT when the kernel
			 * already forgot it. */
			fuse_lowlevel_notify_inval_inode(fs->se, items[i].ino, 0, 0);
			if (gone)
				inval_entry(fs, items[i].path);
		}
		free(items[i].path);
	}
	free(items);
}

static void *notifier(void *arg)
{
	struct fs *fs = arg;
	uint64_t ns_seen = __atomic_load_n(&fs->ns_gen, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&fs->notify_lock);
	for (;;) {
		uint64_t seq = __atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST);
		if (fs->notify_stop)
			break;
		if (seq == fs->done_seq && fs->kicks == fs->kicks_done) {
			pthread_cond_wait(&fs->notify_cv, &fs->notify_lock);
			continue;
		}
		uint64_t kicks = fs->kicks;
		bool all = seq != fs->done_seq;	/* else kicks only */
		fs->notify_passing = true;
		pthread_mutex_unlock(&fs->notify_lock);

		/* Directories change only with names and owners. */
		uint64_t ns = __atomic_load_n(&fs->ns_gen, __ATOMIC_SEQ_CST);
		pass(fs, ns != ns_seen, all);
		ns_seen = ns;

		pthread_mutex_lock(&fs->notify_lock);
		fs->notify_passing = false;
		fs->done_seq = seq;
		fs->kicks_done = kicks;
		pthread_cond_broadcast(&fs->notify_done);
	}
	fs->done_seq = __atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&fs->notify_done);
	pthread_mutex_unlock(&fs->notify_lock);
	return NULL;
}

int fs_notify_start(struct fs *fs)
{
	pthread_mutex_init(&fs->notify_lock, NULL);
	pthread_cond_init(&fs->notify_cv, NULL);
	pthread_cond_init(&fs->notify_done, NULL);
	fs->notify_stop = false;
	if (pthread_create(&fs->notify_thread, NULL, notifier, fs))
		return -EAGAIN;
	fs->notify_started = true;
	return 0;
}

void fs_notify_stop(struct fs *fs)
{
	if (!fs->notify_started)
		return;
	pthread_mutex_lock(&fs->notify_lock);
	fs->notify_stop = true;
	pthread_cond_signal(&fs->notify_cv);
	pthread_mutex_unlock(&fs->notify_lock);
	pthread_join(fs->notify_thread, NULL);
	fs->notify_started = false;
	pthread_cond_destroy(&fs->notify_cv);
	pthread_cond_destroy(&fs->notify_done);
	pthread_mutex_destroy(&fs->notify_lock);
}

void fs_notify_store_changed(void *arg)
{
	struct fs *fs = arg;
	__atomic_add_fetch(&fs->change_seq, 1, __ATOMIC_SEQ_CST);
	/* Only files change with a write; with none cached, no pass. */
	if (!__atomic_load_n(&fs->kcache_files, __ATOMIC_SEQ_CST) ||
	    !fs->notify_started)
		return;
	pthread_mutex_lock(&fs->notify_lock);
	pthread_cond_signal(&fs->notify_cv);
	pthread_mutex_unlock(&fs->notify_lock);
}

void fs_notify_kick(struct fs *fs)
{
	if (!fs->notify_started)
		return;
	pthread_mutex_lock(&fs->notify_lock);
	fs->kicks++;
	pthread_cond_signal(&fs->notify_cv);
	pthread_mutex_unlock(&fs->notify_lock);
}

void fs_notify_wait(struct fs *fs)
{
	uint64_t seq = __atomic_load_n(&fs->change_seq, __ATOMIC_SEQ_CST);
	if (!fs->notify_started)
		return;
	/* Nothing cached and no pass under way: nothing to tell. */
	if (!__atomic_load_n(&fs->kcache_files, __ATOMIC_SEQ_CST) &&
	    !__atomic_load_n(&fs->notify_passing, __ATOMIC_SEQ_CST))
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;	/* a bound, should the kernel stall */
	pthread_mutex_lock(&fs->notify_lock);
	pthread_cond_signal(&fs->notify_cv);
	while (fs->done_seq < seq && !fs->notify_stop &&
	       pthread_cond_timedwait(&fs->notify_done, &fs->notify_lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&fs->notify_lock);
}

void fs_stats_text(struct fs *fs, struct buf *out)
{
	static const char *const names[FS_OP_COUNT] = {
		[FS_OP_LOOKUP] = "lookup", [FS_OP_FORGET] = "forget",
		[FS_OP_GETATTR] = "getattr", [FS_OP_SETATTR] = "setattr",
		[FS_OP_OPENDIR] = "opendir", [FS_OP_READDIR] = "readdir",
		[FS_OP_RELEASEDIR] = "releasedir", [FS_OP_MKDIR] = "mkdir",
		[FS_OP_RMDIR] = "rmdir", [FS_OP_UNLINK] = "unlink",
		[FS_OP_OPEN] = "open", [FS_OP_CREATE] = "create",
		[FS_OP_READ] = "read", [FS_OP_WRITE] = "write",
		[FS_OP_FLUSH] = "flush", [FS_OP_FSYNC] = "fsync",
		[FS_OP_RELEASE] = "release", [FS_OP_STATFS] = "statfs",
		[FS_OP_RENAME] = "rename", [FS_OP_SYMLINK] = "symlink",
		[FS_OP_READLINK] = "readlink",
		[FS_OP_NOTIFY_INODE] = "notify_inval_inode",
		[FS_OP_NOTIFY_ENTRY] = "notify_inval_entry",
	};
	char line[64];
	buf_reset(out);
	for (int i = 0; i < FS_OP_COUNT; i++) {
		int len = snprintf(line, sizeof(line), "%s %llu\n", names[i],
				   (unsigned long long)__atomic_load_n(&fs->counts[i], __ATOMIC_RELAXED));
		buf_append(out, line, (size_t)len);
	}
	int len = snprintf(line, sizeof(line), "store_refresh %llu\n",
			   (unsigned long long)__atomic_load_n(&fs->refreshes, __ATOMIC_RELAXED));
	buf_append(out, line, (size_t)len);
}
