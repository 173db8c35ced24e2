/* tracking_int.h - what the files of experiment tracking share: the
 * per-store state with its lock, run and item keys, and the experiment
 * and run lookups (tracking.c owns them).  Private to engine/tracking. */
#ifndef MLFS_TRACKING_INT_H
#define MLFS_TRACKING_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "tracking.h"

/* Tracking's state in each store (store_state): two stores in one
 * process share no lock, version or cached runs.csv. */
struct tracking_state {
	pthread_mutex_t lock;	/* serialises changes to this store's runs */
	uint64_t version;	/* bumped by every change (under lock) */
	pthread_mutex_t cache_lock;	/* guards the cached runs.csv below */
	char cache_exp[TRACKING_KEY_MAX + 1];
	uint64_t cache_version;
	struct buf cache_text;
};

/* This store's tracking state, made on first use; lives until store_close. */
struct tracking_state *tracking_state_get(struct store *s);

/* x/KIND/EID/RUN (RUN may be NULL: the prefix of the experiment). */
void tracking_key_run(struct buf *k, char kind, uint64_t eid, const char *run);
/* x/KIND/EID/RUN\0KEY (KEY may be NULL: the prefix of the run). */
void tracking_key_item(struct buf *k, char kind, uint64_t eid, const char *run,
		       const char *key);
/* Write and free B, bumping the state's version (caller holds lock). */
int tracking_write_batch(struct store *s, struct store_batch *b,
			 struct mlfs_err *err);
/* Call FN with the part of each key after PREFIX, up to a NUL. */
int tracking_list_keys(struct store *s, const struct buf *prefix,
		       int (*fn)(void *ctx, const char *name), void *ctx);
/* *ID: experiment EXP's id.  -ENOENT. */
int tracking_exp_id(struct store *s, const char *exp, uint64_t *id);
/* *R: run RUN of experiment EID.  -ENOENT, -EIO. */
int tracking_run_load(struct store *s, uint64_t eid, const char *run,
		      struct run_info *r);
/* Strip one trailing "\n" (and a "\r" before it). */
size_t tracking_chomp(const char *text, size_t len);

#endif
