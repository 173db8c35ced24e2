/* registry_int.h - what the registry's files share: the keys under r/,
 * the per-store lock and the model record.  Private to engine/registry.
 *
 * Records (docs/store-format.md, "Model registry"), MID the model's id (8 bytes,
 * big-endian), N a version number the same way:
 *   r/m/NAME        model {id, ctime, mtime, uid, gid, mode, next, hseq}
 *   r/v/MID N       version {exp, run, rid, model, ctime, uid, metrics,
 *                   features, signature}: written once, at registration
 *   r/x/MID N F     text F ('d' description, 'g' tags) of version N,
 *                   of the model itself for N = 0
 *   r/a/MID ALIAS   the version ALIAS points at (8 bytes)
 *   r/z/MID N       present while version N is Archived-eligible: a
 *                   Production or Staging alias left it and no alias
 *                   arrived since
 *   r/h/MID SEQ     history line {t, alias, from, to, uid}; SEQ from the
 *                   model's hseq
 *   r/e/MID N HOLDER  a hold on version N (0: the whole model) (holds.c)
 *   r/e/MID 0 HOLDER\0ALIAS  a hold on the model by one of its aliases
 *   r/l/TABLE\0 MID N  model name: version N reads feature table TABLE
 *                   (lineage.c)
 * Invariants: every r/a names an existing r/v; every r/v holds a pin
 * "registry/MID/N" on its run's artifact root (blob.h).  Changes take the
 * registry lock and write one batch; the pin is taken before and dropped
 * after that batch, so a crash can leak a pin (registry_check reports it)
 * but never leave a version without one. */
#ifndef MLFS_REGISTRY_INT_H
#define MLFS_REGISTRY_INT_H

#include <pthread.h>

#include "registry.h"

/* Model record, as stored in r/m/NAME. */
struct reg_model {
	uint64_t id;
	int64_t ctime, mtime;
	uint32_t uid, gid, mode;
	uint64_t next;		/* the next version number (from 1) */
	uint64_t hseq;		/* the next history sequence number */
};

/* The registry's lock in store S: every change holds it. */
pthread_mutex_t *reg_lock(struct store *s);

/* Keys: K is reset and filled. */
void reg_key_model(struct buf *k, const char *name);
/* r/C/MID, then N when HAS_N (for r/v, r/x, r/z, r/h). */
void reg_key_id(struct buf *k, char c, uint64_t mid, bool has_n, uint64_t n);
void reg_key_alias(struct buf *k, uint64_t mid, const char *alias);

/* Load NAME's model record at SNAP (NULL: latest).  -ENOENT. */
int reg_model_load(struct store *s, const struct store_snapshot *snap,
		   const char *name, struct reg_model *m);
void reg_model_put(struct store_batch *b, const char *name,
		   const struct reg_model *m);
/* Whether version N of model MID exists at SNAP. */
bool reg_version_exists(struct store *s, const struct store_snapshot *snap,
			uint64_t mid, uint64_t n);
/* Delete every key r/C/MID... of model MID into B, for each C in CS. */
void reg_delete_model_keys(struct store_batch *b, uint64_t mid, const char *cs);
/* The pin holder name of version N of model MID. */
void reg_pin_holder(char out[64], uint64_t mid, uint64_t n);
/* Walk the aliases of model MID at SNAP (name order). */
int reg_alias_walk(struct store *s, const struct store_snapshot *snap,
		   uint64_t mid,
		   int (*fn)(void *ctx, const char *alias, uint64_t version),
		   void *ctx);
/* Whether model MID is held (ANY) or version VERSION of it is; HOLDER
 * gets the first holder's name. */
bool reg_alias_exists(struct store *s, uint64_t mid, const char *alias);
/* Whether a holder serves the model by ALIAS (which then may move, but
 * not go); its name into HOLDER. */
bool reg_alias_held(struct store *s, uint64_t mid, const char *alias,
		    char holder[REGISTRY_HOLDER_MAX + 1]);
bool reg_held(struct store *s, uint64_t mid, bool any, uint64_t version,
	      char holder[REGISTRY_HOLDER_MAX + 1]);
/* Lineage keys of version N of model MID (named MODEL) for the tables
 * its FEATURES_YAML reads: put at registration, deleted with it. */
void reg_lineage_put(struct store_batch *b, const char *model, uint64_t mid,
		     uint64_t n, const char *features_yaml, size_t len);
void reg_lineage_delete(struct store_batch *b, uint64_t mid, uint64_t n,
			const char *features_yaml, size_t len);
/* A version's "stage" or "aliases" text (alias.c). */
int reg_version_alias_text(struct store *s, const char *name, uint64_t version,
			   const char *file, struct buf *out);
/* Write B (and free it) with the model's mtime bumped, under the lock. */
/* After a write that changes what a model, version or alias resolves to. */
void reg_changed(struct store *s);
int reg_commit(struct store *s, struct store_batch *b, const char *name,
	       struct reg_model *m, struct mlfs_err *err);

#endif
