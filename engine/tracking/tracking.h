/* tracking.h - experiment tracking: experiments, runs, params, metric
 * series, tags, nested runs and the runs.csv comparison.
 *
 * MLflow's semantics (params write once, metric points "TIMESTAMP_MS
 * VALUE STEP", latest metric by step then time, run statuses) without its
 * file store's races: every change is one atomic batch, and the latest
 * value of each metric is kept as it is logged so runs.csv never reads a
 * series.  Names are validated with names_valid() (table.h).  This module
 * owns the keys x/ (docs/store-format.md); artifacts live in blob.h. */
#ifndef MLFS_TRACKING_H
#define MLFS_TRACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

#define TRACKING_KEY_MAX 250		/* MLflow's MAX_ENTITY_KEY_LENGTH */
#define TRACKING_PARAM_MAX 6000		/* MLflow's param value limit */
#define TRACKING_TAG_MAX 8000		/* MLflow's tag value limit */

/* A run's status and its transitions, each by one function:
 *
 *   (none) --tracking_run_create--> RUNNING
 *   RUNNING --tracking_run_set_status(FINISHED | FAILED | KILLED)--> ended
 *   ended --tracking_run_set_status--> another end status (MLflow allows
 *           re-ending; a training ends its run only while RUNNING:
 *           train_end in engine/ml/train.c)
 *   any --tracking_run_drop--> (none)
 *
 * A run under the platform's control (tag mlfs.training) goes RUNNING ->
 * FINISHED | FAILED | KILLED through train_end only, and a run a dead
 * daemon left RUNNING ends FAILED through train_recover at mount. */
enum run_status {
	RUN_RUNNING = 1,	/* MLflow's numbering */
	RUN_FINISHED = 3,
	RUN_FAILED = 4,
	RUN_KILLED = 5,
};

const char *run_status_name(enum run_status s);

struct run_info {
	enum run_status status;
	int64_t start_ms, end_ms;	/* end_ms 0 while running */
	char parent[129];		/* "" for a top-level run */
	uint32_t uid, gid;		/* the creator */
	uint32_t mode;			/* permission bits made with (0755 in
					 * older records: their mode is in
					 * attrs, docs/store-format.md) */
	uint64_t artifacts;		/* root directory id in blob.h */
	char owner[STORE_WRITER_MAX];	/* the session training it
					 * (tracking_run_set_owner), "" for
					 * none and on the embedded store */
};

/* ---- experiments ---- */
/* A new experiment owned by UID/GID with permission bits MODE (0: no
 * owner recorded), in one batch that also removes the attrs.h records
 * under ATTRS and below (may be NULL: what a chmod of an earlier
 * experiment of the name left).  -EEXIST, -EINVAL. */
int tracking_experiment_make(struct store *s, const char *name, uint32_t uid,
			     uint32_t gid, uint32_t mode, const char *attrs,
			     struct mlfs_err *err);
/* tracking_experiment_make with no owner and no attrs. */
int tracking_experiment_create(struct store *s, const char *name,
			       struct mlfs_err *err);
/* The creator, mode and creation time (ms) in the experiment's record;
 * -ENOENT when there is no such experiment or it records no owner. */
int tracking_experiment_owner(struct store *s, const char *name,
			      uint32_t *uid, uint32_t *gid, uint32_t *mode,
			      int64_t *ctime_ms);
/* Drop an experiment and the attrs under ATTRS (may be NULL) in one
 * batch; -ENOTEMPTY while it has runs. */
int tracking_experiment_remove(struct store *s, const char *name,
			       const char *attrs, struct mlfs_err *err);
/* tracking_experiment_remove with no attrs. */
int tracking_experiment_drop(struct store *s, const char *name,
			     struct mlfs_err *err);
bool tracking_experiment_exists(struct store *s, const char *name);
int tracking_experiment_list(struct store *s,
			     int (*fn)(void *ctx, const char *name), void *ctx);
/* The text of an experiment's "description" or "tags" file. */
int tracking_experiment_text(struct store *s, const char *name,
			     const char *field, struct buf *out);
/* Check (APPLY false) or store new text; tags must be "key=value" lines. */
int tracking_experiment_set_text(struct store *s, const char *name,
				 const char *field, const char *text,
				 size_t len, bool apply, struct mlfs_err *err);

/* ---- runs ---- */
/* A new run, RUNNING since NOW_MS, owned by UID/GID, mode 0755;
 * ARTIFACTS is the id of its already made artifacts directory, or 0 for
 * a new empty one made in the same batch as the run (as
 * tracking_run_make does). */
int tracking_run_create(struct store *s, const char *exp, const char *run,
			int64_t now_ms, uint32_t uid, uint32_t gid,
			uint64_t artifacts, struct mlfs_err *err);
/* mkdir of a run: a new run, RUNNING since NOW_MS, owned by UID/GID with
 * permission bits MODE kept in its own record, its empty artifacts tree
 * (0755, the same owner) and, when ATTRS is not NULL, the removal of the
 * attrs.h records under that name and below (what a chmod of an earlier
 * run of the name left): one batch, so a crash leaves the whole run or
 * nothing.  -EEXIST, -ENOENT (no experiment), -EINVAL (name). */
int tracking_run_make(struct store *s, const char *exp, const char *run,
		      int64_t now_ms, uint32_t uid, uint32_t gid, uint32_t mode,
		      const char *attrs, struct mlfs_err *err);
/* Remove a run with its params, metrics and tags (the caller removes its
 * artifacts).  Its child runs stay; their parent reads "(deleted)". */
int tracking_run_drop(struct store *s, const char *exp, const char *run,
		      struct mlfs_err *err);
/* rmdir of a run: tracking_run_drop, the release of its artifacts tree
 * (blob_root_release: a registered version may still pin it) and the
 * removal of the attrs.h records under ATTRS (may be NULL), in one
 * batch.  Any error leaves the run whole. */
int tracking_run_remove(struct store *s, const char *exp, const char *run,
			const char *attrs, struct mlfs_err *err);
int tracking_run_get(struct store *s, const char *exp, const char *run,
		     struct run_info *out);
int tracking_run_list(struct store *s, const char *exp,
		      int (*fn)(void *ctx, const char *run), void *ctx);
/* End the run: TEXT is FINISHED, FAILED or KILLED (a trailing newline is
 * fine).  Sets end_time to NOW_MS.  -EINVAL for anything else. */
int tracking_run_set_status(struct store *s, const char *exp, const char *run,
			    const char *text, size_t len, int64_t now_ms,
			    bool apply, struct mlfs_err *err);
/* Name OWNER (store_writer_name: the session training the run) in RUN's
 * record, for the leader's sweep of a dead session's trainings
 * (train_sweep_dead). */
int tracking_run_set_owner(struct store *s, const char *exp, const char *run,
			   const char *owner, struct mlfs_err *err);
/* Make PARENT (a run of the same experiment, or NULL for none) the parent
 * of RUN.  -EINVAL for another experiment, a missing run or a cycle. */
int tracking_run_set_parent(struct store *s, const char *exp, const char *run,
			    const char *parent, struct mlfs_err *err);

/* ---- params and tags: KIND is "params" or "tags" ---- */
/* The value, without a trailing newline.  -ENOENT. */
int tracking_value_get(struct store *s, const char *exp, const char *run,
		       const char *kind, const char *key, struct buf *out);
/* Check or store VALUE (one trailing newline is dropped).  Params are
 * written once: the same value again is fine, another is -EINVAL. */
int tracking_value_set(struct store *s, const char *exp, const char *run,
		       const char *kind, const char *key, const char *value,
		       size_t len, bool apply, struct mlfs_err *err);
int tracking_value_delete(struct store *s, const char *exp, const char *run,
			  const char *kind, const char *key,
			  struct mlfs_err *err);
int tracking_value_list(struct store *s, const char *exp, const char *run,
			const char *kind,
			int (*fn)(void *ctx, const char *key), void *ctx);

/* ---- metrics ---- */
/* Log the points in TEXT, one a line: "VALUE", "VALUE STEP" or
 * "TIMESTAMP_MS VALUE STEP" (NOW_MS and step 0 by default); all or none.
 * TEXT must end with a newline unless FINAL. */
int tracking_metric_log(struct store *s, const char *exp, const char *run,
			const char *key, const char *text, size_t len,
			int64_t now_ms, struct mlfs_err *err);
/* Check lines without logging them. */
int tracking_metric_check(const char *text, size_t len, struct mlfs_err *err);
/* The series as "TIMESTAMP_MS VALUE STEP" lines in logged order. */
int tracking_metric_text(struct store *s, const char *exp, const char *run,
			 const char *key, struct buf *out);
/* The byte size of that text, without reading the series.  -ENOENT. */
int tracking_metric_size(struct store *s, const char *exp, const char *run,
			 const char *key, uint64_t *size, int64_t *mtime_ms);
int tracking_metric_list(struct store *s, const char *exp, const char *run,
			 int (*fn)(void *ctx, const char *key), void *ctx);

/* runs.csv: run,status,start_time,end_time,duration_s,parent, then
 * params.K and metrics.K (latest by step, then time) over all runs. */
int tracking_runs_csv(struct store *s, const char *exp, struct buf *out,
		      struct mlfs_err *err);
/* runs.csv of the runs VISIBLE(CTX, RUN) says a reader may see, alone:
 * the other runs' rows, and the params and metrics columns only they
 * have, are left out (a reader learns nothing of them but what their
 * names in another row's parent say).  Not cached. */
int tracking_runs_csv_visible(struct store *s, const char *exp,
			      bool (*visible)(void *ctx, const char *run),
			      void *ctx, struct buf *out, struct mlfs_err *err);

/* Verify every metric's blocks against its summary (points and bytes) and
 * that every run's artifact root exists; a line per problem into REPORT.
 * Returns the number of problems, or <0. */
int tracking_check(struct store *s, struct buf *report, struct mlfs_err *err);

/* ISO 8601 UTC with milliseconds for MS since the epoch. */
void tracking_fmt_time(char out[32], int64_t ms);

#endif
