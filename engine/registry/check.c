/* check.c - registry_check for `mlfs check`: every alias names an
 * existing version, every version's model files exist and are pinned, and
 * every pin the registry holds belongs to a version (a crash between a
 * version's batch and its pin's can leave one).  Reads only. */
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "blob.h"

struct checker {
	struct store *s;
	struct mlfs_problems report;
	const char *model;
	uint64_t mid;
};


static int check_alias(void *ctx, const char *alias, uint64_t version)
{
	struct checker *c = ctx;
	if (!reg_version_exists(c->s, NULL, c->mid, version))
		mlfs_problem(&c->report, "models/%s/%s: points at version %" PRIu64 ", which does not exist", c->model, alias, version);
	return 0;
}

struct files {
	struct checker *c;
	uint64_t dir;
	uint64_t version;
	int depth;
};

/* Every entry of a model folder must lead to an object (recursively). */
static int check_entry(void *ctx, const char *name, bool is_dir)
{
	struct files *f = ctx;
	struct blob_stat st;
	if (blob_lookup(f->c->s, f->dir, name, &st)) {
		mlfs_problem(&f->c->report, "models/%s/versions/%" PRIu64 "/model: file '%s' is missing", f->c->model, f->version, name);
		return 0;
	}
	if (is_dir && f->depth < 64) {
		struct files sub = { f->c, st.id, f->version, f->depth + 1 };
		return blob_list(f->c->s, st.id, check_entry, &sub);
	}
	return 0;
}

static int check_version(void *ctx, uint64_t version)
{
	struct checker *c = ctx;
	struct registry_version v;
	struct blob_stat st;
	char holder[64];
	if (registry_version_get(c->s, c->model, version, &v))
		return 0;	/* deleted meanwhile */
	reg_pin_holder(holder, c->mid, version);
	if (!blob_root_has_pin(c->s, v.run_id, holder))
		mlfs_problem(&c->report, "models/%s/versions/%" PRIu64 ": its run's files are not pinned", c->model, version);
	if (blob_stat(c->s, v.model_dir, &st) || !st.dir) {
		mlfs_problem(&c->report, "models/%s/versions/%" PRIu64 ": the model folder is missing", c->model, version);
		return 0;
	}
	struct files f = { c, v.model_dir, version, 0 };
	return blob_list(c->s, v.model_dir, check_entry, &f);
}

static int check_model(void *ctx, const char *name)
{
	struct checker *c = ctx;
	struct reg_model m;
	if (reg_model_load(c->s, NULL, name, &m))
		return 0;
	c->model = name;
	c->mid = m.id;
	int rc = registry_version_list(c->s, name, check_version, c);
	if (!rc)
		rc = reg_alias_walk(c->s, NULL, m.id, check_alias, c);
	return rc;
}

static int check_pin(void *ctx, uint64_t root, const char *holder)
{
	struct checker *c = ctx;
	uint64_t mid, n;
	char tail;
	if (sscanf(holder, "registry/%" SCNu64 "/%" SCNu64 "%c", &mid, &n, &tail) != 2)
		return 0;	/* not the registry's */
	if (!reg_version_exists(c->s, NULL, mid, n))
		mlfs_problem(&c->report, "models: pin %s on tree %" PRIu64 " belongs to no version (left by a crash; space only)", holder, root);
	return 0;
}

int registry_check(struct store *s, void (*fn)(void *ctx, const char *problem),
		   void *ctx)
{
	struct checker c = { .s = s, .report = { fn, ctx, 0 } };
	int rc = registry_model_list(s, check_model, &c);
	if (!rc)
		rc = blob_pin_list(s, check_pin, &c);
	return rc ? rc : c.report.count;
}
