/* job_spec.h - job.yaml as a typed spec (DESIGN.md section 8): when a job
 * starts (a cron schedule in a time zone, a drift monitor's alert), how
 * many runs at once, and its tasks as a graph - each task one kind, with
 * `after` edges, checked acyclic and put in a run order.
 *
 *   schedule: "0 2 * * *"        cron.h's expressions; optional
 *   timezone: Europe/Berlin      default UTC
 *   trigger: {monitor: NAME, level: high | medium}
 *   max_concurrent_runs: 1       1..100
 *   tasks:                       1..JOB_MAX_TASKS maps, each with name,
 *     - {name: features, refresh: TABLE}     one kind and after:
 *     - {name: train, experiment: EXP, spec: train.yaml, after: [features]}
 *     - {name: search, experiment: EXP, tune: tune.yaml}
 *     - {name: validate, candidate: TASK, against: MODEL@REF,
 *        metric: f1_score, min_gain: 0.0}
 *     - {name: deploy, promote: MODEL, alias: ALIAS, from: TASK}
 *     - {name: score, score: MODEL@REF, input: TABLE, output: TABLE}
 *
 * Parsing checks the shape and the graph only: whether the tables,
 * experiments, models and spec files named exist is the caller's check
 * against the store.  Every error is "line L, column C: reason". */
#ifndef MLFS_JOB_SPEC_H
#define MLFS_JOB_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "cron.h"
#include "err.h"
#include "names.h"

#define JOB_MAX_TASKS 64
#define JOB_MAX_CONCURRENT 100

enum job_kind { JOB_REFRESH, JOB_TRAIN, JOB_TUNE, JOB_VALIDATE, JOB_PROMOTE, JOB_SCORE };

struct job_task {
	char *name;
	enum job_kind kind;
	char *target;		/* refresh: table; train/tune: the spec file;
				 * validate: candidate task; promote: model;
				 * score: MODEL@REF */
	char *experiment;	/* train/tune */
	char *against, *metric;	/* validate: MODEL@REF, the metric */
	double min_gain;	/* validate; default 0 */
	char *alias, *from;	/* promote; FROM is always set: the train/tune
				 * task named, or the one upstream */
	char *input, *output;	/* score: table names */
	size_t *after;		/* indexes of the tasks it waits for, in the
				 * order written */
	size_t nafter;
	unsigned line, col;	/* where the task starts */
};

struct job_spec {
	bool has_schedule;
	struct cron cron;	/* when has_schedule; cron.tz is the timezone */
	char schedule_text[128];
	bool has_trigger;
	char trigger_monitor[NAMES_MAX + 1];
	bool trigger_medium;	/* level: medium (a MEDIUM or HIGH alert);
				 * else HIGH alerts only */
	unsigned max_concurrent_runs;
	struct job_task *tasks;
	size_t ntasks;
	size_t *order;		/* NTASKS indexes: a run order in which each
				 * task comes after those it waits for; among
				 * the ready ones, the first in the file */
};

/* Parse job.yaml.  *OUT: free with job_spec_free().  -ENODATA for an
 * empty text ("no job.yaml"), -EFBIG past SPEC_MAX_BYTES, -EINVAL with
 * "line L, column C: reason" for anything else wrong: an unknown key, a
 * task with no kind or two, a key not of its kind, a bad name, an unknown
 * `after`, a cycle, a bad cron field or time zone, ...  Thread-safe: no
 * shared state. */
int job_spec_parse(const char *text, size_t len, struct job_spec **out,
		   struct mlfs_err *err);
/* The same check on a text that may still be arriving (a write before
 * close): only its complete lines are read, and what more text could
 * still supply (a missing key, a task named later) is no error.  0 when
 * nothing there is wrong yet. */
int job_spec_check_partial(const char *text, size_t len, struct mlfs_err *err);
void job_spec_free(struct job_spec *sp);

/* "refresh" "train" "tune" "validate" "promote" "score". */
const char *job_kind_name(enum job_kind k);

/* The spec files the train and tune tasks name, each once, in file order:
 * FN(CTX, FILE, JOB_TRAIN or JOB_TUNE).  A nonzero return from FN stops
 * the walk and is returned. */
int job_spec_files(const struct job_spec *sp,
		   int (*fn)(void *ctx, const char *file, enum job_kind kind),
		   void *ctx);

#endif
