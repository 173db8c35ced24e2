/* tracking_int.h - what the files of experiment tracking share: the
 * per-store state with its lock, run and item keys, and the experiment
 * and run lookups (tracking.c owns them).  Private to engine/tracking. */
#ifndef MLFS_TRACKING_INT_H
#define MLFS_TRACKING_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "tracking.h"

/* A run's lock is one of this many, picked by a hash of its experiment
 * id and name: runs of one experiment change in parallel (a tuning's
 * trials log at once), two runs rarely share a lock. */
#define TRACKING_STRIPES 64

/* Tracking's state in each store (store_state): two stores in one
 * process share no lock, version or cached runs.csv.
 *
 * Locking: a change to a run (create, drop, status, params, tags,
 * metrics) holds `exps` for reading and its run's stripe; a change to an
 * experiment record (create, drop, description, tags), and a parent
 * link (whose cycle check reads other runs), holds `exps` for writing,
 * so no run is made in an experiment being dropped and no two links
 * close a cycle.  Order: exps, then one stripe; never two stripes.
 * Reads take no lock: each record is written in one batch. */
struct tracking_state {
	pthread_rwlock_t exps;
	pthread_mutex_t runs[TRACKING_STRIPES];
	/* Bumped after every change is written (atomic, no lock): a runs.csv
	 * built while it did not move holds every change bumped before. */
	_Atomic uint64_t version;
	pthread_mutex_t cache_lock;	/* guards the cached runs.csv below */
	char cache_exp[TRACKING_KEY_MAX + 1];
	uint64_t cache_version;
	struct buf cache_text;
	/* The metric last logged, what its next point would read
	 * (tracking_metric.c): guarded by memo_lock, NULL until then. */
	pthread_mutex_t memo_lock;
	struct tracking_memo *memo;
};

/* Free what tracking_metric.c keeps in the state (NULL: nothing). */
void tracking_memo_free(struct tracking_memo *m);

/* This store's tracking state, made on first use; lives until store_close. */
struct tracking_state *tracking_state_get(struct store *s);

/* x/KIND/EID/RUN (RUN may be NULL: the prefix of the experiment). */
void tracking_key_run(struct buf *k, char kind, uint64_t eid, const char *run);
/* x/KIND/EID/RUN\0KEY (KEY may be NULL: the prefix of the run). */
void tracking_key_item(struct buf *k, char kind, uint64_t eid, const char *run,
		       const char *key);
/* Begin a change to run RUN of experiment EXP: *EID is the
 * experiment's id, `exps` is held for reading and the run's stripe is
 * locked.  -ENOENT for no such experiment (nothing held then).  The run
 * itself need not exist (a run being made). */
int tracking_run_begin(struct store *s, const char *exp, const char *run,
		       uint64_t *eid);
/* Begin a change to run RUN of experiment EID, known to exist when it
 * was read: the locks of tracking_run_begin (the caller checks that
 * nothing changed since, e.g. with `version`). */
void tracking_run_lock(struct store *s, uint64_t eid, const char *run);
/* End what tracking_run_begin or tracking_run_lock began. */
void tracking_run_end(struct store *s, uint64_t eid, const char *run);
/* The stripe of runs[] that guards run RUN of experiment EID. */
size_t tracking_run_stripe(uint64_t eid, const char *run);
/* Write and free B, then bump the state's version (the caller holds the
 * lock that guards what B changes). */
int tracking_write_batch(struct store *s, struct store_batch *b,
			 struct mlfs_err *err);
/* Call FN with the part of each key after PREFIX, up to a NUL. */
int tracking_list_keys(struct store *s, const struct buf *prefix,
		       int (*fn)(void *ctx, const char *name), void *ctx);
/* Call FN with the KEY of each x/KIND/EID/RUN\0KEY record of run RUN
 * of experiment EXP (params, tags, metrics).  -ENOENT (experiment). */
int tracking_list_items(struct store *s, const char *exp, const char *run,
			char kind, int (*fn)(void *ctx, const char *key),
			void *ctx);
/* *ID: experiment EXP's id.  -ENOENT. */
int tracking_exp_id(struct store *s, const char *exp, uint64_t *id);
/* *R: run RUN of experiment EID.  -ENOENT, -EIO. */
int tracking_run_load(struct store *s, uint64_t eid, const char *run,
		      struct run_info *r);
/* Strip one trailing "\n" (and a "\r" before it). */
size_t tracking_chomp(const char *text, size_t len);

#endif
