/* registry.h - the model registry: registered models, their versions
 * (a finished run's model, registered without copying it), aliases with
 * MLflow's stage rule, and the history of every alias change.
 *
 * A version N (1, 2, ... per model, never reused) records its source run,
 * the run's latest metrics, features.yaml and signature at registration,
 * and keeps the run's model files alive by pinning the run's artifact tree
 * (blob.h, pins): deleting the run does not break the version.  Aliases
 * name versions; Production and Staging give a version its stage.  This
 * module owns the keys r/ (docs/store-format.md, "Model registry"). */
#ifndef MLFS_REGISTRY_H
#define MLFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "names.h"
#include "store.h"

#define REGISTRY_TEXT_MAX (1u << 20)	/* description, tags, features.yaml */

struct registry_model {
	uint64_t id;
	int64_t created_ms, updated_ms;	/* updated: any change to the model */
	uint32_t uid, gid, mode;	/* the creator's; mode: permission bits */
	uint64_t next_version;		/* what the next registration gets */
	uint64_t latest;		/* the newest version, 0 when none */
};

struct registry_version {
	uint64_t version;
	char exp[NAMES_MAX + 1], run[NAMES_MAX + 1];	/* the source run */
	uint64_t run_id;	/* the run's artifact root: unique for ever */
	uint64_t model_dir;	/* blob directory of the model files */
	int64_t created_ms;
	uint32_t uid;		/* who registered it */
};

/* A version's stage, MLflow's names: Production or Staging while an alias
 * of that name (any case) points at it (both: Production); Archived once
 * Production or Staging left it, until an alias points at it again; else
 * None. */
enum registry_stage {
	REGISTRY_NONE,
	REGISTRY_STAGING,
	REGISTRY_PRODUCTION,
	REGISTRY_ARCHIVED,
};

const char *registry_stage_name(enum registry_stage st);

/* A number that changes after every change of models, versions and
 * aliases in S (not texts or holds): a cache of what names resolve to is
 * good while it is unchanged.  Read before resolving. */
uint64_t registry_generation(struct store *s);

/* ---- registered models ----
 * Names follow names_valid().  Every change is one atomic batch under the
 * registry's lock of that store; reads need no lock. */
/* The model's owner UID/GID and MODE live in its own record, written in
 * the batch that makes it, which also removes the attrs.h records under
 * ATTRS and below (may be NULL: what a chmod of an earlier model of the
 * name left). */
int registry_model_create(struct store *s, const char *name, uint32_t uid,
			  uint32_t gid, uint32_t mode, const char *attrs,
			  struct mlfs_err *err);
/* Delete the model with every version, alias and history line, and the
 * attrs under ATTRS (may be NULL), in one batch; each version's pin on
 * its run's files goes after (a released run's files with it). */
int registry_model_delete(struct store *s, const char *name,
			  const char *attrs, struct mlfs_err *err);
/* -ENOENT when there is no such model. */
int registry_model_get(struct store *s, const char *name,
		       struct registry_model *out);
int registry_model_list(struct store *s,
			int (*fn)(void *ctx, const char *name), void *ctx);

/* ---- description and tags of a model (VERSION 0) or a version ----
 * FIELD is "description" (UTF-8 text) or "tags" ("key=value" lines).
 * With APPLY false only check TEXT.  -EFBIG past REGISTRY_TEXT_MAX. */
int registry_text_get(struct store *s, const char *name, uint64_t version,
		      const char *field, struct buf *out);
int registry_text_set(struct store *s, const char *name, uint64_t version,
		      const char *field, const char *text, size_t len,
		      bool apply, struct mlfs_err *err);

/* ---- versions ---- */
/* Register the model of run EXP/RUN as the next version of NAME; *VERSION
 * gets its number.  -EINVAL with the reason when the run does not exist,
 * is not FINISHED or holds no model/; -ENOENT for a missing model NAME.
 * The call behind the register file and train.yaml's register:. */
int registry_register(struct store *s, const char *name, const char *exp,
		      const char *run, uint32_t uid, uint64_t *version,
		      struct mlfs_err *err);
/* What registry_register checks first, changing nothing (a register
 * file checks a request in write()). */
int registry_register_check(struct store *s, const char *name,
			    const char *exp, const char *run,
			    struct mlfs_err *err);
int registry_version_get(struct store *s, const char *name, uint64_t version,
			 struct registry_version *out);
/* Versions in ascending order. */
int registry_version_list(struct store *s, const char *name,
			  int (*fn)(void *ctx, uint64_t version), void *ctx);
/* Delete a version: -EBUSY (with the alias) while an alias points at it.
 * Its pin goes; the model files go too when the run was deleted. */
int registry_version_delete(struct store *s, const char *name,
			    uint64_t version, struct mlfs_err *err);
/* Whether the version's source run still exists (the same run, not a new
 * one of the same name). */
bool registry_version_run_exists(struct store *s,
				 const struct registry_version *v);
/* The version's files as text: "features.yaml", "signature" (the run's,
 * at registration), "metrics.csv" (metric,value), "created" (ISO 8601),
 * "status" (READY), "stage" and "aliases" (one a line), each ending in a
 * newline when not empty.  -ENOENT for an unknown file or version. */
int registry_version_text(struct store *s, const char *name, uint64_t version,
			  const char *file, struct buf *out);
/* File FILE (e.g. "model.forest") of the version's model folder, whole,
 * into OUT: the bytes serving loads.  -ENOENT when missing. */
int registry_version_file(struct store *s, const struct registry_version *v,
			  const char *file, struct buf *out,
			  struct mlfs_err *err);
enum registry_stage registry_version_stage(struct store *s, const char *name,
					   uint64_t version);

/* ---- aliases ----
 * Alias names follow names_valid() and are none of the reserved names of
 * a model's folder (registry_alias_reserved): else -EINVAL.  Each change
 * appends its history lines in the same batch, under the same lock, so
 * the history's order is the order the changes took effect.  UID is the
 * caller's, for the history. */
bool registry_alias_reserved(const char *alias);
/* Point ALIAS at VERSION (create or move; the same version again is a
 * move too and makes a history line).  -EINVAL for a missing version. */
int registry_alias_set(struct store *s, const char *name, const char *alias,
		       uint64_t version, uint32_t uid, struct mlfs_err *err);
/* The same, the history line saying what made the change: BY (e.g.
 * "job:nightly/3"; NULL: a user). */
int registry_alias_set_by(struct store *s, const char *name, const char *alias,
			  uint64_t version, uint32_t uid, const char *by,
			  struct mlfs_err *err);
/* Rename alias FROM to TO (mv), replacing TO unless NOREPLACE (-EEXIST):
 * history gets FROM's removal and TO's move.  -ENOENT without FROM. */
int registry_alias_rename(struct store *s, const char *name, const char *from,
			  const char *to, bool noreplace, uint32_t uid,
			  struct mlfs_err *err);
int registry_alias_remove(struct store *s, const char *name,
			  const char *alias, uint32_t uid,
			  struct mlfs_err *err);
/* The version ALIAS points at.  -ENOENT. */
int registry_alias_get(struct store *s, const char *name, const char *alias,
		       uint64_t *version);
/* A training's register: (train.yaml): run EXP/RUN - for a SEARCH its
 * best trial (tag best_run) - becomes the next version of MODEL, which
 * is made when missing (owned by UID/GID), as MLflow's
 * registered_model_name does; the run's tag mlfs.registered_version
 * says "MODEL@N".  *VERSION gets N. */
int registry_register_trained(struct store *s, const char *model, const char *exp,
			      const char *run, bool search, uint32_t uid, uint32_t gid,
			      uint64_t *version, struct mlfs_err *err);

/* What MODEL@REF names now: REF a version number or an alias.  -ENOENT
 * saying which part is missing. */
int registry_resolve(struct store *s, const char *name, const char *ref,
		     uint64_t *version, struct mlfs_err *err);
/* Every alias of NAME in name order, with its version. */
int registry_alias_list(struct store *s, const char *name,
			int (*fn)(void *ctx, const char *alias, uint64_t version),
			void *ctx);

/* history.csv: "time,alias,from,to,uid,by" then a line per alias change in
 * order (time ISO 8601 UTC; from empty for a creation, to for a removal). */
int registry_history_csv(struct store *s, const char *name, struct buf *out);

/* ---- holds: what serves a model ----
 * HOLDER (1-REGISTRY_HOLDER_MAX bytes, e.g. "endpoint/churn") holds
 * VERSION of NAME, or the whole model when VERSION is 0: deleting a held
 * version or model fails with EBUSY naming the holder.  Holding again is
 * fine; releasing a hold that is not there is no error.  -ENOENT for a
 * missing model or version (when holding). */
#define REGISTRY_HOLDER_MAX 200
int registry_hold(struct store *s, const char *name, uint64_t version,
		  const char *holder, struct mlfs_err *err);
int registry_release(struct store *s, const char *name, uint64_t version,
		     const char *holder, struct mlfs_err *err);
/* Hold (HOLD) or release the model NAME by its alias ALIAS: besides the
 * model's deletion, removing the alias or renaming it away is -EBUSY
 * naming the holder; moving it to another version is what serving by an
 * alias is for.  -ENOENT for a missing alias when holding. */
int registry_hold_alias(struct store *s, const char *name, const char *alias,
			const char *holder, bool hold, struct mlfs_err *err);

/* FN for every hold: the model, the version (0: the whole model), the
 * alias it holds the model by (NULL if none) and the holder. */
int registry_hold_list(struct store *s,
		       int (*fn)(void *ctx, const char *model, uint64_t version,
				 const char *alias, const char *holder),
		       void *ctx);

/* ---- lineage ----
 * FN gets MODEL and VERSION for every version whose features.yaml reads
 * feature table TABLE, by model id then version. */
int registry_lineage(struct store *s, const char *table,
		     int (*fn)(void *ctx, const char *model, uint64_t version),
		     void *ctx);

/* ---- mlfs check ----
 * Verify every alias names an existing version, every version's model
 * files exist and are pinned, and every registry pin belongs to a version;
 * FN gets a line per problem.  Returns the number of problems, or <0. */
int registry_check(struct store *s, void (*fn)(void *ctx, const char *problem),
		   void *ctx);

#endif
