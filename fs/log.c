/* log.c - /log: the recent messages of this mount, newest last, one
 * "TIME PATH: message" line each, kept in a ring of FS_LOG_LINES. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_int.h"

void fs_log(struct fs *fs, const char *path, const char *fmt, ...)
{
	char msg[1024], line[1200], stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;

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

	char *copy = strdup(line);
	if (!copy)
		return;
	pthread_mutex_lock(&fs->log_lock);
	if (!fs->log_lines) {
		fs->log_cap = FS_LOG_LINES;
		fs->log_lines = calloc(fs->log_cap, sizeof(char *));
	}
	if (fs->log_lines) {
		size_t slot = (fs->log_start + fs->log_len) % fs->log_cap;
		if (fs->log_len == fs->log_cap) {
			free(fs->log_lines[fs->log_start]);
			fs->log_start = (fs->log_start + 1) % fs->log_cap;
		} else {
			fs->log_len++;
		}
		fs->log_lines[slot] = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&fs->log_lock);
	free(copy);
}

void fs_log_report(struct fs *fs, const char *path, const char *what,
		   struct buf *report)
{
	for (size_t i = 0; i < report->len; i++)
		if (report->data[i] == '\n')
			report->data[i] = report->len - 1 == i ? '\0' : ' ';
	fs_log(fs, path, "%s: %s", what, report->data ? report->data : "");
}

void fs_log_text(struct fs *fs, struct buf *out)
{
	buf_reset(out);
	pthread_mutex_lock(&fs->log_lock);
	for (size_t i = 0; i < fs->log_len; i++) {
		buf_puts(out, fs->log_lines[(fs->log_start + i) % fs->log_cap]);
		buf_putc(out, '\n');
	}
	pthread_mutex_unlock(&fs->log_lock);
}

void fs_log_free(struct fs *fs)
{
	for (size_t i = 0; i < fs->log_len; i++)
		free(fs->log_lines[(fs->log_start + i) % fs->log_cap]);
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
