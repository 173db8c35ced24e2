/* control.c - the control kind: a file whose write starts work (a feature
 * refresh; train.yaml, tune.yaml, job runs and monitor refreshes next)
 * and whose read gives the last status or report.
 *
 * What is written is checked in write() by the node's validate() (so even
 * echo sees EINVAL) and handed to its start() at commit.  start() either
 * finishes at once (its result is the flush's) or returns a job, which
 * runs on the session's runner, never on a FUSE worker:
 *   wait (refresh)   the flush is not answered by the worker; the job's
 *                    completion, on the runner thread, logs a failure to
 *                    /log and answers it, so close() returns once the
 *                    work is done, with its error;
 *   fire and forget  the flush is answered at once; a failure is logged.
 * At release (or fsync) nobody waits: a job is started and forgotten. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "fs_int.h"
#include "runner.h"

/* One started job: what its completion needs once the file is gone. */
struct control_run {
	struct fs *fs;
	struct node node;
	struct control_job job;
	fuse_req_t req;		/* a parked flush to answer, or NULL */
};

static int control_write(struct fs *fs, struct file *f, const char *data,
			 size_t size, off_t off, struct mlfs_err *err)
{
	return text_state_write(fs, f, data, size, off, f->node.ops->validate, err);
}

static int run_fn(void *arg, const struct runner_job *job,
		  struct mlfs_err *err)
{
	struct control_run *cr = arg;
	return cr->job.fn(cr->job.arg, job, err);
}

/* On the runner thread: report, then answer the parked flush. */
static void run_done(void *arg, int rc, const struct mlfs_err *err)
{
	struct control_run *cr = arg;
	if (cr->job.done)
		cr->job.done(cr->fs, &cr->node, cr->job.arg, rc, err);
	if (rc)
		fs_log_failure(cr->fs, cr->node.path, rc, err);
	if (cr->req)
		fuse_reply_err(cr->req, -rc);
}

static void run_free(void *arg)
{
	struct control_run *cr = arg;
	if (cr->job.free_arg)
		cr->job.free_arg(cr->job.arg);
	free(cr);
}

/* Start N's work on DATA.  With REQ (a flush of a waiting node) the job's
 * completion answers REQ: FS_REPLIED. */
static int control_start(struct fs *fs, const struct node *n,
			 const char *data, size_t len, fuse_req_t req,
			 struct mlfs_err *err)
{
	struct control_run *cr = calloc(1, sizeof(*cr));
	if (!cr)
		mlfs_oom();
	int rc = n->ops->start(fs, n, data, len, &cr->job, err);
	if (rc != FS_CONTROL_JOB) {
		free(cr);
		return rc;
	}
	cr->fs = fs;
	cr->node = *n;
	cr->node.owner = cr->node.owner_path[0] ? cr->node.owner_path : NULL;
	cr->req = n->ops->wait ? req : NULL;
	/* CR is the job's from here: it may be freed before submit returns. */
	bool parked = cr->req != NULL;
	rc = runner_submit(n->ops->long_job ? fs->train_runner : fs->runner, run_fn, cr,
			   run_free, run_done, NULL);
	if (rc)
		return mlfs_fail(err, rc, "cannot start: the file system is stopping");
	return parked ? FS_REPLIED : 0;
}

static int control_commit(struct fs *fs, struct file *f, bool final,
			  fuse_req_t req, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (!final && !req)
		return 0;	/* fsync: the flush that follows starts it */
	if (!text_state_take(f, final))
		return 0;
	return control_start(fs, &f->node, t->content.data ? t->content.data : "",
			     t->content.len, req, err);
}

static int control_truncate(struct fs *fs, const struct node *n,
			    struct mlfs_err *err)
{
	int rc = n->ops->validate ? n->ops->validate(fs, n, "", 0, err) : 0;
	return rc ? rc : control_start(fs, n, "", 0, NULL, err);
}

const struct kind kind_control = {
	.name = "control", .direct_io = true,
	.cache = FS_CACHE_VOLATILE, .stat = text_stat_size,
	.open = text_state_open_value, .read = text_state_read,
	.write = control_write, .commit = control_commit,
	.release = text_state_release, .truncate = control_truncate,
};

/* ---- refresh files ---- */

struct refresh_arg {
	struct store *store;
	const struct fs_refresh *ops;
	char name[FS_NAME_MAX + 1];
	size_t len;
	char word[64];		/* what was written, cut (a word or a date) */
};

int fs_refresh_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err)
{
	const struct fs_refresh *r = n->ops->data;
	return r->report(fs->store, n->arg[0], out);
}

static int refresh_run(void *arg, const struct runner_job *job, struct mlfs_err *err)
{
	struct refresh_arg *a = arg;
	return a->ops->run(a->store, a->name, a->word, a->len, err);
}

static void refresh_done(struct fs *fs, const struct node *n, void *arg, int rc,
			 const struct mlfs_err *err)
{
	struct refresh_arg *a = arg;
	struct buf rep = { 0 };
	if (rc)
		return;
	a->ops->report(fs->store, n->arg[0], &rep);
	fs_log_report(fs, n->path, "refreshed", &rep);
	buf_free(&rep);
}

int fs_refresh_start(struct fs *fs, const struct node *n, const char *data,
		     size_t len, struct control_job *job, struct mlfs_err *err)
{
	struct refresh_arg *a = calloc(1, sizeof(*a));
	if (!a)
		mlfs_oom();
	a->store = fs->store;
	a->ops = n->ops->data;
	snprintf(a->name, sizeof(a->name), "%s", n->arg[0]);
	a->len = len < sizeof(a->word) - 1 ? len : sizeof(a->word) - 1;
	memcpy(a->word, data, a->len);
	job->fn = refresh_run;
	job->arg = a;
	job->free_arg = free;
	job->done = refresh_done;
	return FS_CONTROL_JOB;
}
