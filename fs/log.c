/* log.c - /log: the recent messages of this mount, newest last, one
 * "TIME PATH: message" line each, kept in a ring of FS_LOG_LINES with
 * the path and the uid of the request that caused it, so that each
 * reader is shown only the lines about what that reader may read. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_int.h"

/* One line of the ring: LINE the text shown, PATH what it is about, UID
 * the caller of the request that logged it (the daemon's for work done
 * on a runner).  Both strings owned by the entry. */
struct fs_log_entry {
	char *line;
	char *path;
	uid_t uid;
};

static void entry_free(struct fs_log_entry *e)
{
	free(e->line);
	free(e->path);
}

void fs_log(struct fs *fs, const char *path, const char *fmt, ...)
{
	char msg[1024], line[1200], stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	struct fs_log_entry e;
	gid_t gid;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(line, sizeof(line), "%s.%03ldZ %s: %s", stamp,
		 ts.tv_nsec / 1000000, path, msg);

	fs_caller(&e.uid, &gid);
	e.line = strdup(line);
	e.path = strdup(path);
	if (!e.line || !e.path)
		mlfs_oom();
	pthread_mutex_lock(&fs->log_lock);
	if (!fs->log_lines) {
		fs->log_cap = FS_LOG_LINES;
		fs->log_lines = calloc(fs->log_cap, sizeof(*fs->log_lines));
		if (!fs->log_lines)
			mlfs_oom();
	}
	size_t slot = (fs->log_start + fs->log_len) % fs->log_cap;
	if (fs->log_len == fs->log_cap) {
		entry_free(&fs->log_lines[fs->log_start]);
		fs->log_start = (fs->log_start + 1) % fs->log_cap;
	} else {
		fs->log_len++;
	}
	fs->log_lines[slot] = e;
	pthread_mutex_unlock(&fs->log_lock);
}

void fs_log_report(struct fs *fs, const char *path, const char *what,
		   struct buf *report)
{
	for (size_t i = 0; i < report->len; i++)
		if (report->data[i] == '\n')
			report->data[i] = report->len - 1 == i ? '\0' : ' ';
	fs_log(fs, path, "%s: %s", what, report->data ? report->data : "");
}

/* The ring's lines in order, copied under the lock (the checks of the
 * paths read the store, not to be done holding it).  *N how many. */
static struct fs_log_entry *log_copy(struct fs *fs, size_t *n)
{
	pthread_mutex_lock(&fs->log_lock);
	*n = fs->log_len;
	struct fs_log_entry *copy = calloc(*n ? *n : 1, sizeof(*copy));
	if (!copy)
		mlfs_oom();
	for (size_t i = 0; i < *n; i++) {
		const struct fs_log_entry *e = &fs->log_lines[(fs->log_start + i) % fs->log_cap];
		copy[i].line = strdup(e->line);
		copy[i].path = strdup(e->path);
		copy[i].uid = e->uid;
		if (!copy[i].line || !copy[i].path)
			mlfs_oom();
	}
	pthread_mutex_unlock(&fs->log_lock);
	return copy;
}

void fs_log_text(struct fs *fs, struct buf *out)
{
	struct fs_reader *r = fs_reader_new();
	size_t n;
	buf_reset(out);
	struct fs_log_entry *lines = log_copy(fs, &n);
	for (size_t i = 0; i < n; i++) {
		if (lines[i].uid == r->uid || fs_reader_may(fs, r, lines[i].path)) {
			buf_puts(out, lines[i].line);
			buf_putc(out, '\n');
		}
		entry_free(&lines[i]);
	}
	free(lines);
	free(r);
}

void fs_log_free(struct fs *fs)
{
	for (size_t i = 0; i < fs->log_len; i++)
		entry_free(&fs->log_lines[(fs->log_start + i) % fs->log_cap]);
	free(fs->log_lines);
	fs->log_lines = NULL;
	fs->log_len = 0;
}

int fs_log_failure(struct fs *fs, const char *path, int rc,
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
