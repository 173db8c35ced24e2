/* session.c - mount options, the FUSE session and its lifetime.
 *
 * Always mounts with default_permissions (the kernel checks modes and
 * owners against what getattr says), names the mount "mlfs:STORE" so
 * `mlfs umount` can find the daemon, and serves with the multithreaded
 * loop until unmount or a signal.  Control jobs (training, refreshes) run
 * on a runner started here and stopped, running jobs cancelled, after
 * the unmount. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "fs.h"
#include "fs_int.h"
#include "job.h"
#include "monitor.h"
#include "runner.h"
#include "store.h"

/* The job runner's messages, as /log lines of the job; its changes wake
 * the runs' waiters. */
static void jobs_log(void *ctx, const char *name, const char *msg)
{
	char path[FS_NAME_MAX + 16];
	snprintf(path, sizeof(path), "/jobs/%s", name);
	fs_log(ctx, path, "%s", msg);
}

static void jobs_changed(void *ctx)
{
	fs_waiters_kick(ctx);
}

/* The monitor scheduler's messages, as /log lines of the monitor. */
static void scheduler_log(void *ctx, const char *name, const char *msg)
{
	char path[FS_NAME_MAX + 16];
	snprintf(path, sizeof(path), "/monitors/%s", name);
	fs_log(ctx, path, "%s", msg);
}

/* Start the notifier, hook it to every store write, and mount: 0 or an
 * errno, with nothing left running. */
static int notifier_mount(struct fs *fs, const char *mountpoint)
{
	if (fs_notify_start(fs))
		return EAGAIN;
	store_on_change(fs->store, fs_notify_store_changed, fs);
	if (fuse_session_mount(fs->se, mountpoint)) {
		store_on_change(fs->store, NULL, NULL);
		fs_notify_stop(fs);
		return EIO;
	}
	return 0;
}

/* The store's own messages (a full disk, writes working again, opened
 * read-only), as /log lines of the mount's root. */
static void store_log(void *ctx, const char *msg)
{
	fs_log(ctx, "/", "%s", msg);
}

static void fs_locks_init(struct fs *fs)
{
	pthread_mutex_init(&fs->log_lock, NULL);
	pthread_mutex_init(&fs->train_lock, NULL);
	pthread_mutex_init(&fs->exchange_lock, NULL);
	pthread_mutex_init(&fs->files_lock, NULL);
}

/* The mount is up: tell the parent waiting on O's ready_fd (0 or EIO),
 * and leave the terminal unless in the foreground. */
static int report_ready(const struct fs_options *o)
{
	int rc = 0;
	if (o->ready_fd >= 0) {
		if (write(o->ready_fd, "OK\n", 3) != 3)
			rc = EIO;
		close(o->ready_fd);
	}
	if (!o->foreground) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	return rc;
}

int fs_serve(struct store *s, const struct fs_options *o)
{
	struct fs fs;
	struct timespec ts;
	char fsname[FS_PATH_MAX + 64];
	int rc = 0;

	memset(&fs, 0, sizeof(fs));
	fs.store = s;
	fs.store_dir = o->store_dir;
	if (!realpath(o->mountpoint, fs.mountpoint))
		snprintf(fs.mountpoint, sizeof(fs.mountpoint), "%s", o->mountpoint);
	fs.uid = getuid();
	fs.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &ts);
	fs.start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	fs_locks_init(&fs);
	if ((rc = fs_inodes_init(&fs)))
		return -rc;
	fs.stats = o->stats;
	fs.serve = o->serve;
	store_set_notify(s, store_log, &fs);

	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	snprintf(fsname, sizeof(fsname), "fsname=mlfs:%s,subtype=mlfs,default_permissions",
		 o->store_dir);
	fuse_opt_add_arg(&args, "mlfs");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, fsname);
	for (int i = 0; i < o->nopts; i++) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, o->opts[i]);
	}
	if (o->debug)
		fuse_opt_add_arg(&args, "-d");

	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		rc = EINVAL;
		goto out_args;
	}
	if (fuse_set_signal_handlers(fs.se)) {
		rc = EIO;
		goto out_session;
	}
	if ((rc = -runner_start(2, &fs.runner)))
		goto out_signals;
	if ((rc = -runner_start(o->train_workers ? o->train_workers : 1, &fs.train_runner)))
		goto out_runner;
	if (fs_waiters_start(&fs)) {
		rc = EAGAIN;
		goto out_runner;
	}
	if ((rc = notifier_mount(&fs, o->mountpoint))) {
		fs_waiters_stop(&fs);
		goto out_runner;
	}
	rc = report_ready(o);
	/* This mount's session, before the schedulers ask whether they lead:
	 * on the embedded store; a remote mount attached its kv already
	 * (-EBUSY), and a failure leaves the default to the first ask. */
	if (!rc)
		cluster_attach(fs.store, NULL, &(struct cluster_conf){ .mountpoint = fs.mountpoint },
			       NULL);
	if (!rc && monitor_scheduler_start(fs.store, scheduler_log, &fs, &fs.monitors))
		rc = EAGAIN;
	if (!rc && jobs_start(fs.store, jobs_log, jobs_changed, &fs, NULL))
		rc = EAGAIN;
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	if (!loop)
		rc = ENOMEM;
	else
		fuse_loop_cfg_set_idle_threads(loop, 16);
	/* The loop returns the signal number after SIGTERM/SIGINT/SIGHUP: a
	 * clean shutdown like an unmount. */
	if (!rc && fuse_session_loop_mt(fs.se, loop) < 0)
		rc = EIO;
	fuse_loop_cfg_destroy(loop);
	jobs_stop(fs.store);
	monitor_scheduler_stop(fs.monitors);
	fs.monitors = NULL;
	/* Jobs first, while the device is open: a cancelled job still
	 * answers the flush it holds; trainings stop and end KILLED. */
	fs_trainings_cancel(&fs, NULL, NULL);
	runner_stop(fs.train_runner);
	runner_stop(fs.runner);
	fs.train_runner = fs.runner = NULL;
	store_on_change(s, NULL, NULL);
	fs_notify_stop(&fs);
	fuse_session_unmount(fs.se);
	fs_waiters_stop(&fs);
out_runner:
	fs_trainings_cancel(&fs, NULL, NULL);
	runner_stop(fs.train_runner);
	runner_stop(fs.runner);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_args:
	fuse_opt_free_args(&args);
	fs_files_free_all(&fs);
	fs_inodes_free(&fs);
	fs_templink_free_all();
	fs_exchange_free_all(&fs);
	store_set_notify(s, NULL, NULL);
	fs_log_free(&fs);
	pthread_mutex_destroy(&fs.log_lock);
	pthread_mutex_destroy(&fs.train_lock);
	pthread_mutex_destroy(&fs.exchange_lock);
	pthread_mutex_destroy(&fs.files_lock);
	return rc;
}
