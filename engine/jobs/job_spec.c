/* job_spec.c - job.yaml parsed into a struct job_spec: the top-level keys
 * (schedule, timezone, trigger, max_concurrent_runs), each task's one kind
 * and its keys, then the task graph - `after` names resolved to indexes,
 * cycles refused, a run order, and the rules that need the graph (a
 * validate's candidate and a promote's train task run before it).
 *
 * Nothing runs here and nothing is looked up in a store: whether the
 * tables, experiments, models and spec files exist is the caller's check.
 * The graph work uses one 64-bit mask per task (JOB_MAX_TASKS is 64). */
#include "job_spec.h"

#include <errno.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "spec.h"

_Static_assert(JOB_MAX_TASKS <= 64, "the task graph is a 64-bit mask per task");

static const char *const kind_names[] = {
	[JOB_REFRESH] = "refresh", [JOB_TRAIN] = "train", [JOB_TUNE] = "tune",
	[JOB_VALIDATE] = "validate", [JOB_PROMOTE] = "promote", [JOB_SCORE] = "score",
};
/* The key that gives a task its kind. */
static const char *const kind_keys[] = {
	[JOB_REFRESH] = "refresh", [JOB_TRAIN] = "spec", [JOB_TUNE] = "tune",
	[JOB_VALIDATE] = "candidate", [JOB_PROMOTE] = "promote", [JOB_SCORE] = "score",
};
#define NKINDS (sizeof(kind_keys) / sizeof(kind_keys[0]))
/* The keys each kind allows. */
static const char *const kind_allowed[NKINDS][8] = {
	[JOB_REFRESH] = { "name", "after", "refresh", NULL },
	[JOB_TRAIN] = { "name", "after", "spec", "experiment", NULL },
	[JOB_TUNE] = { "name", "after", "tune", "experiment", NULL },
	[JOB_VALIDATE] = { "name", "after", "candidate", "against", "metric", "min_gain", NULL },
	[JOB_PROMOTE] = { "name", "after", "promote", "alias", "from", NULL },
	[JOB_SCORE] = { "name", "after", "score", "input", "output", NULL },
};
static const char *const task_keys[] = {
	"name", "after", "refresh", "spec", "tune", "experiment", "candidate",
	"against", "metric", "min_gain", "promote", "alias", "from", "score",
	"input", "output", NULL,
};
/* eval.h's metric names. */
static const char *const metrics[] = {
	"accuracy", "precision", "recall", "f1_score", "roc_auc", "log_loss",
	"rmse", "mae", "r2", NULL,
};

/* One parse.  PARTIAL: the text may still grow (its complete lines only),
 * so what later text could supply is not asked for: a missing key, a null
 * value, an `after` naming a task not written yet. */
struct parse {
	struct job_spec *sp;
	bool partial;
	char tz[CRON_TZ_MAX];
	const struct spec_node **nodes;	/* each task's map, by index */
	uint64_t *deps;			/* bit j of deps[i]: i waits for j */
	long *ref;			/* a validate's candidate, a promote's
					 * from: a task index, or -1 */
	struct mlfs_err *err;
};

const char *job_kind_name(enum job_kind k)
{
	return (unsigned)k < NKINDS ? kind_names[k] : "?";
}

void job_spec_free(struct job_spec *sp)
{
	if (!sp)
		return;
	for (size_t i = 0; i < sp->ntasks; i++) {
		struct job_task *t = &sp->tasks[i];
		free(t->name);
		free(t->target);
		free(t->experiment);
		free(t->against);
		free(t->metric);
		free(t->alias);
		free(t->from);
		free(t->input);
		free(t->output);
		free(t->after);
	}
	free(sp->tasks);
	free(sp->order);
	free(sp);
}

static bool is_train(const struct job_task *t)
{
	return t->kind == JOB_TRAIN || t->kind == JOB_TUNE;
}

static bool in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

/* ---- top-level values ---- */

static int parse_timezone(const struct spec_node *v, struct parse *p)
{
	struct cron scratch;
	struct mlfs_err e = { 0 };
	int rc = spec_want_str(v, "timezone", p->err);
	if (rc)
		return rc;
	if (strlen(v->str) >= sizeof(p->tz))
		return spec_fail_at(p->err, v, -EINVAL, "timezone: '%.40s...' is too long for a zone name", v->str);
	if ((rc = cron_parse("* * * * *", v->str, &scratch, &e)))
		return spec_fail_at(p->err, v, rc, "timezone: %s", e.msg);
	snprintf(p->tz, sizeof(p->tz), "%s", v->str);
	return 0;
}

static int parse_schedule(const struct spec_node *v, struct parse *p)
{
	struct mlfs_err e = { 0 };
	struct job_spec *sp = p->sp;
	int rc = spec_want_str(v, "schedule", p->err);
	if (rc)
		return rc;
	if (v->len >= sizeof(sp->schedule_text))
		return spec_fail_at(p->err, v, -EINVAL, "schedule: longer than %zu characters",
				    sizeof(sp->schedule_text) - 1);
	if ((rc = cron_parse(v->str, p->tz, &sp->cron, &e)))
		return spec_fail_at(p->err, v, rc, "schedule: %s", e.msg);
	memcpy(sp->schedule_text, v->str, v->len + 1);
	sp->has_schedule = true;
	return 0;
}

static int parse_trigger(const struct spec_node *v, struct parse *p)
{
	static const char *const keys[] = { "monitor", "level", NULL };
	struct job_spec *sp = p->sp;
	if (v->kind != SPEC_MAP)
		return spec_fail_at(p->err, v, -EINVAL, "trigger: {monitor: NAME, level: high or medium}");
	int rc = spec_check_keys(v, keys, "trigger", p->err);
	if (rc)
		return rc;
	const struct spec_node *m = spec_map_get(v, "monitor"), *l = spec_map_get(v, "level");
	if (l && !(p->partial && spec_is_null(l))) {
		if ((rc = spec_want_str(l, "trigger: level", p->err)))
			return rc;
		if (strcmp(l->str, "high") && strcmp(l->str, "medium"))
			return spec_fail_at(p->err, l, -EINVAL, "trigger: level is high or medium, not '%s'", l->str);
		sp->trigger_medium = !strcmp(l->str, "medium");
	}
	if (m && p->partial && spec_is_null(m))
		m = NULL;
	if (!m)
		return p->partial ? 0 : spec_fail_at(p->err, v, -EINVAL, "trigger: monitor is missing (the drift monitor whose alerts start the job)");
	if ((rc = spec_want_str(m, "trigger: monitor", p->err)))
		return rc;
	if (!names_valid(m->str))
		return spec_fail_at(p->err, m, -EINVAL, "trigger: monitor '%s' is not a valid name (%s)", m->str, NAMES_RULE);
	snprintf(sp->trigger_monitor, sizeof(sp->trigger_monitor), "%s", m->str);
	sp->has_trigger = true;
	return 0;
}

/* ---- one task ---- */

/* The scalar value of KEY in task N (named NAME) into *V.  A key a task
 * still growing has not got yet leaves *V NULL; otherwise it is missing. */
static int task_value(const struct spec_node *n, const char *name, const char *key,
		      bool growing, const struct spec_node **v, struct mlfs_err *err)
{
	*v = spec_map_get(n, key);
	if (*v && growing && spec_is_null(*v))
		*v = NULL;
	if (!*v)
		return growing ? 0 : spec_fail_at(err, n, -EINVAL, "task '%s' needs '%s'", name, key);
	return spec_want_str(*v, key, err);
}

/* KEY's value, a valid name, into *DST. */
static int task_name_value(const struct spec_node *n, const char *name, const char *key,
			   bool growing, char **dst, struct mlfs_err *err)
{
	const struct spec_node *v;
	int rc = task_value(n, name, key, growing, &v, err);
	if (rc || !v)
		return rc;
	if (!names_valid(v->str))
		return spec_fail_at(err, v, -EINVAL, "%s: '%s' is not a valid name (%s)", key, v->str, NAMES_RULE);
	*dst = mlfs_strdup(v->str);
	return 0;
}

/* KEY's value, MODEL@REF (a version or an alias), into *DST. */
static int task_model_ref(const struct spec_node *n, const char *name, const char *key,
			  bool growing, char **dst, struct mlfs_err *err)
{
	const struct spec_node *v;
	char model[NAMES_MAX + 1];
	int rc = task_value(n, name, key, growing, &v, err);
	if (rc || !v)
		return rc;
	const char *at = strchr(v->str, '@');
	size_t ml = at ? (size_t)(at - v->str) : 0;
	if (ml && ml <= NAMES_MAX)
		memcpy(model, v->str, ml);
	model[ml <= NAMES_MAX ? ml : 0] = '\0';
	if (!at || !names_valid(model) || !names_valid(at + 1))
		return spec_fail_at(err, v, -EINVAL, "%s: MODEL@REF (a model and a version or an alias), not '%s'",
				    key, v->str);
	*dst = mlfs_strdup(v->str);
	return 0;
}

/* KEY's value, a spec file in the job's folder, into *DST: a .yaml name
 * other than job.yaml, and not both a train and a tune spec. */
static int task_spec_file(struct parse *p, size_t i, const char *key, bool growing)
{
	const struct spec_node *v;
	struct job_task *t = &p->sp->tasks[i];
	int rc = task_value(p->nodes[i], t->name, key, growing, &v, p->err);
	if (rc || !v)
		return rc;
	const char *f = v->str;
	if (!names_valid(f))
		return spec_fail_at(p->err, v, -EINVAL, "%s: '%s' is not a valid file name (%s)", key, f, NAMES_RULE);
	if (v->len <= 5 || strcmp(f + v->len - 5, ".yaml"))
		return spec_fail_at(p->err, v, -EINVAL, "%s: '%s' is not a .yaml file", key, f);
	if (!strcmp(f, "job.yaml"))
		return spec_fail_at(p->err, v, -EINVAL, "%s: job.yaml is the job itself, not a %s spec", key,
				    kind_names[t->kind]);
	for (size_t j = 0; j < i; j++) {
		const struct job_task *o = &p->sp->tasks[j];
		if (is_train(o) && o->kind != t->kind && o->target && !strcmp(o->target, f))
			return spec_fail_at(p->err, v, -EINVAL, "%s: '%s' is the %s spec of task '%s'; a file is one or the other",
					    key, f, kind_names[o->kind], o->name);
	}
	t->target = mlfs_strdup(f);
	return 0;
}

/* The shape of `after`: a task name or a list of them (names resolve
 * once every task is read). */
static int task_after_shape(const struct spec_node *v, struct mlfs_err *err)
{
	if (v->kind == SPEC_MAP)
		return spec_fail_at(err, v, -EINVAL, "after: a task name or a list of them");
	if (v->kind == SPEC_SCALAR)
		return spec_want_str(v, "after", err);
	for (size_t j = 0; j < v->n; j++) {
		int rc = spec_want_str(v->kids[j], "after", err);
		if (rc)
			return rc;
	}
	return 0;
}

/* The values of task I's kind. */
static int task_values(struct parse *p, size_t i, bool growing)
{
	const struct spec_node *n = p->nodes[i], *v;
	struct job_task *t = &p->sp->tasks[i];
	const char *name = t->name;
	struct mlfs_err *err = p->err;
	int rc = 0;

	switch (t->kind) {
	case JOB_REFRESH:
		return task_name_value(n, name, "refresh", growing, &t->target, err);
	case JOB_TRAIN:
	case JOB_TUNE:
		if ((rc = task_spec_file(p, i, kind_keys[t->kind], growing)))
			return rc;
		return task_name_value(n, name, "experiment", growing, &t->experiment, err);
	case JOB_VALIDATE:
		if ((rc = task_name_value(n, name, "candidate", growing, &t->target, err)) ||
		    (rc = task_model_ref(n, name, "against", growing, &t->against, err)) ||
		    (rc = task_value(n, name, "metric", growing, &v, err)))
			return rc;
		if (v && !in_list(metrics, v->str))
			return spec_fail_at(err, v, -EINVAL, "metric: '%s' is not one of accuracy, precision, recall, "
					    "f1_score, roc_auc, log_loss, rmse, mae, r2", v->str);
		if (v)
			t->metric = mlfs_strdup(v->str);
		v = spec_map_get(n, "min_gain");
		if (v && !(growing && spec_is_null(v)))
			rc = spec_want_number(v, "min_gain", -DBL_MAX, DBL_MAX, &t->min_gain, err);
		return rc;
	case JOB_PROMOTE:
		if ((rc = task_name_value(n, name, "promote", growing, &t->target, err)) ||
		    (rc = task_name_value(n, name, "alias", growing, &t->alias, err)))
			return rc;
		v = spec_map_get(n, "from");
		return v ? task_name_value(n, name, "from", growing, &t->from, err) : 0;
	case JOB_SCORE:
		if ((rc = task_model_ref(n, name, "score", growing, &t->target, err)) ||
		    (rc = task_name_value(n, name, "input", growing, &t->input, err)))
			return rc;
		return task_name_value(n, name, "output", growing, &t->output, err);
	}
	return 0;
}

/* Task I's kind: the one kind key it has.  *KIND -1: none yet. */
static int task_kind(struct parse *p, size_t i, int *kind)
{
	const struct spec_node *n = p->nodes[i], *first = NULL;
	const char *name = p->sp->tasks[i].name;
	*kind = -1;
	for (size_t j = 0; j < n->n; j++) {
		const struct spec_node *k = n->kids[2 * j];
		for (size_t m = 0; m < NKINDS; m++) {
			if (strcmp(k->str, kind_keys[m]))
				continue;
			if (first)
				return spec_fail_at(p->err, k, -EINVAL, "task '%s' has two kinds: %s and %s",
						    name, first->str, k->str);
			first = k;
			*kind = (int)m;
		}
	}
	if (*kind < 0)
		return 0;
	char what[NAMES_MAX + 32];
	snprintf(what, sizeof(what), "%s task '%s'", kind_names[*kind], name);
	return spec_check_keys(n, kind_allowed[*kind], what, p->err);
}

/* Task I, from its map.  A task still growing (the last of a partial
 * text) without a name or a kind yet is left out: *KEEP false. */
static int parse_task(struct parse *p, size_t i, bool growing, bool *keep)
{
	const struct spec_node *n = p->nodes[i];
	struct job_task *t = &p->sp->tasks[i];
	int kind, rc;

	*keep = !(growing && spec_is_null(n));
	if (!*keep)
		return 0;
	t->line = n->line;
	t->col = n->col;
	if (n->kind != SPEC_MAP)
		return spec_fail_at(p->err, n, -EINVAL, "a task is a map {name: NAME, KIND: ..., after: [...]}");
	if ((rc = spec_check_keys(n, task_keys, "a task", p->err)))
		return rc;
	const struct spec_node *v = spec_map_get(n, "name");
	if (!v || (growing && spec_is_null(v))) {
		*keep = false;
		return growing ? 0 : spec_fail_at(p->err, n, -EINVAL, "a task needs a name");
	}
	if ((rc = spec_want_str(v, "name", p->err)))
		return rc;
	if (!names_valid(v->str))
		return spec_fail_at(p->err, v, -EINVAL, "task name '%s' is not valid (%s)", v->str, NAMES_RULE);
	for (size_t j = 0; j < i; j++)
		if (!strcmp(p->sp->tasks[j].name, v->str))
			return spec_fail_at(p->err, v, -EINVAL, "task name '%s' is used twice (first on line %u)",
					    v->str, p->sp->tasks[j].line);
	t->name = mlfs_strdup(v->str);
	if ((rc = task_kind(p, i, &kind)))
		return rc;
	if (kind < 0) {
		*keep = false;
		return growing ? 0 : spec_fail_at(p->err, n, -EINVAL, "task '%s' has no kind: give it one of "
						  "refresh, spec, tune, candidate, promote or score", t->name);
	}
	t->kind = (enum job_kind)kind;
	if ((v = spec_map_get(n, "after")) && !(growing && spec_is_null(v)) &&
	    (rc = task_after_shape(v, p->err)))
		return rc;
	return task_values(p, i, growing);
}

/* ---- the graph ---- */

static long task_find(const struct job_spec *sp, const char *name)
{
	for (size_t i = 0; i < sp->ntasks; i++)
		if (!strcmp(sp->tasks[i].name, name))
			return (long)i;
	return -1;
}

/* Task I's `after` names into indexes and P->deps[I]. */
static int resolve_after(struct parse *p, size_t i)
{
	struct job_task *t = &p->sp->tasks[i];
	const struct spec_node *v = spec_map_get(p->nodes[i], "after");
	if (!v || spec_is_null(v))
		return 0;
	const struct spec_node *const *items = v->kind == SPEC_SEQ ? (const struct spec_node *const *)v->kids : &v;
	size_t n = v->kind == SPEC_SEQ ? v->n : 1;
	t->after = malloc((n ? n : 1) * sizeof(size_t));
	if (!t->after)
		mlfs_oom();
	for (size_t j = 0; j < n; j++) {
		long d = task_find(p->sp, items[j]->str);
		if (d < 0 && p->partial)
			continue;
		if (d < 0)
			return spec_fail_at(p->err, items[j], -EINVAL, "task '%s': after: no task '%s'", t->name, items[j]->str);
		if (p->deps[i] >> d & 1)
			return spec_fail_at(p->err, items[j], -EINVAL, "task '%s': after names '%s' twice", t->name, items[j]->str);
		p->deps[i] |= UINT64_C(1) << d;
		t->after[t->nafter++] = (size_t)d;
	}
	return 0;
}

/* A validate's candidate or a promote's from names a train or tune
 * task: P->ref[I], or -1 when there is none (yet). */
static int resolve_ref(struct parse *p, size_t i)
{
	const struct job_task *t = &p->sp->tasks[i];
	const char *key = t->kind == JOB_VALIDATE ? "candidate" : "from";
	const char *name = t->kind == JOB_VALIDATE ? t->target : t->kind == JOB_PROMOTE ? t->from : NULL;
	const struct spec_node *v = spec_map_get(p->nodes[i], key);
	long *idx = &p->ref[i];
	*idx = name ? task_find(p->sp, name) : -1;
	if (!name || (*idx < 0 && p->partial))
		return 0;
	if (*idx < 0)
		return spec_fail_at(p->err, v, -EINVAL, "task '%s': %s: no task '%s'", t->name, key, name);
	const struct job_task *o = &p->sp->tasks[*idx];
	if (!is_train(o))
		return spec_fail_at(p->err, v, -EINVAL, "task '%s': %s: '%s' is a %s task, not a train or tune task",
				    t->name, key, name, kind_names[o->kind]);
	return 0;
}

/* The tasks not in DONE include a cycle: name it, at the first task (in
 * file order) that is on one. */
static int cycle_error(struct parse *p, uint64_t done)
{
	const struct job_spec *sp = p->sp;
	size_t n = sp->ntasks, prev[JOB_MAX_TASKS], queue[JOB_MAX_TASKS];
	for (size_t v = 0; v < n; v++) {
		if (done >> v & 1)
			continue;
		/* breadth first from V along "runs before" (j before i when
		 * i waits for j) until an edge leads back to V */
		uint64_t seen = UINT64_C(1) << v;
		size_t head = 0, tail = 0;
		queue[tail++] = v;
		while (head < tail) {
			size_t u = queue[head++];
			if (p->deps[v] >> u & 1) {
				size_t path[JOB_MAX_TASKS + 1], len = 0;
				struct buf b = { 0 };
				for (size_t x = u; x != v; x = prev[x])
					path[len++] = x;
				buf_puts(&b, sp->tasks[v].name);
				while (len)
					buf_printf(&b, " -> %s", sp->tasks[path[--len]].name);
				buf_printf(&b, " -> %s", sp->tasks[v].name);
				int rc = spec_fail_at(p->err, p->nodes[v], -EINVAL, "tasks form a cycle: %s", b.data);
				buf_free(&b);
				return rc;
			}
			for (size_t w = 0; w < n; w++)
				if (!(seen >> w & 1) && !(done >> w & 1) && (p->deps[w] >> u & 1)) {
					seen |= UINT64_C(1) << w;
					prev[w] = u;
					queue[tail++] = w;
				}
		}
	}
	return spec_fail_at(p->err, NULL, -EINVAL, "tasks form a cycle");
}

/* SP->order: repeatedly the first task in the file whose tasks to wait
 * for are all placed. */
static int order_tasks(struct parse *p)
{
	struct job_spec *sp = p->sp;
	uint64_t done = 0;
	sp->order = malloc((sp->ntasks ? sp->ntasks : 1) * sizeof(size_t));
	if (!sp->order)
		mlfs_oom();
	for (size_t k = 0; k < sp->ntasks; k++) {
		size_t i = 0;
		while (i < sp->ntasks && ((done >> i & 1) || (p->deps[i] & ~done)))
			i++;
		if (i == sp->ntasks)
			return cycle_error(p, done);
		sp->order[k] = i;
		done |= UINT64_C(1) << i;
	}
	return 0;
}

/* What needs the whole graph: a validate's candidate and a promote's
 * train task run before it; a promote without `from` gets the one train
 * or tune task upstream. */
static int check_upstream(struct parse *p)
{
	struct job_spec *sp = p->sp;
	uint64_t up[JOB_MAX_TASKS];
	int rc = 0;
	for (size_t k = 0; k < sp->ntasks; k++) {
		size_t i = sp->order[k];
		up[i] = 0;
		for (size_t j = 0; j < sp->ntasks; j++)
			if (p->deps[i] >> j & 1)
				up[i] |= up[j] | UINT64_C(1) << j;
	}
	for (size_t i = 0; i < sp->ntasks && !rc; i++) {
		struct job_task *t = &sp->tasks[i];
		long c = p->ref[i], other = -1;
		if (c >= 0) {	/* a candidate, or a from */
			const char *key = t->kind == JOB_VALIDATE ? "candidate" : "from";
			if (!(up[i] >> c & 1))
				rc = spec_fail_at(p->err, spec_map_get(p->nodes[i], key), -EINVAL,
						  "task '%s': %s '%s' must run first: put it (or a task after it) in after",
						  t->name, key, sp->tasks[c].name);
			continue;
		}
		if (t->kind != JOB_PROMOTE)
			continue;
		for (size_t j = 0; j < sp->ntasks; j++)
			if ((up[i] >> j & 1) && is_train(&sp->tasks[j])) {
				other = c;
				c = (long)j;
			}
		if (c < 0)
			rc = spec_fail_at(p->err, p->nodes[i], -EINVAL, "task '%s': no train or tune task runs before it: "
					  "put one in after, or name one in from", t->name);
		else if (other >= 0)
			rc = spec_fail_at(p->err, p->nodes[i], -EINVAL, "task '%s' follows train or tune tasks '%s' and '%s': "
					  "name the one to promote in from", t->name, sp->tasks[other].name, sp->tasks[c].name);
		else
			t->from = mlfs_strdup(sp->tasks[c].name);
	}
	return rc;
}

/* tasks: each task, then the graph. */
static int parse_tasks(const struct spec_node *v, struct parse *p)
{
	struct job_spec *sp = p->sp;
	int rc = 0;
	if (v->kind != SPEC_SEQ)
		return spec_fail_at(p->err, v, -EINVAL, "tasks: a list of tasks, each {name: NAME, KIND: ..., after: [...]}");
	if (!v->n)
		return spec_fail_at(p->err, v, -EINVAL, "tasks is an empty list: a job has at least one task");
	if (v->n > JOB_MAX_TASKS)
		return spec_fail_at(p->err, v->kids[JOB_MAX_TASKS], -EINVAL, "more than %d tasks in one job",
				    JOB_MAX_TASKS);
	sp->tasks = calloc(v->n, sizeof(*sp->tasks));
	p->nodes = calloc(v->n, sizeof(*p->nodes));
	p->deps = calloc(v->n, sizeof(*p->deps));
	p->ref = calloc(v->n, sizeof(*p->ref));
	if (!sp->tasks || !p->nodes || !p->deps || !p->ref)
		mlfs_oom();
	for (size_t i = 0; i < v->n && !rc; i++) {
		bool keep;
		p->nodes[i] = v->kids[i];
		rc = parse_task(p, i, p->partial && i == v->n - 1, &keep);
		sp->ntasks = i + (sp->tasks[i].name != NULL);	/* what job_spec_free frees */
		if (!keep && !rc) {
			/* a growing task with a name but no kind yet */
			free(sp->tasks[i].name);
			sp->tasks[i].name = NULL;
			sp->ntasks = i;
		}
		if (!keep)
			break;
	}
	for (size_t i = 0; i < sp->ntasks && !rc; i++)
		rc = resolve_after(p, i);
	for (size_t i = 0; i < sp->ntasks && !rc; i++)
		rc = resolve_ref(p, i);
	if (!rc)
		rc = order_tasks(p);
	/* a partial text: tasks named later could still connect them */
	if (!rc && !p->partial)
		rc = check_upstream(p);
	return rc;
}

/* ---- the whole ---- */

static int parse_value(const struct spec_node *k, const struct spec_node *v,
		       struct parse *p)
{
	const char *key = k->str;
	uint64_t u;
	int rc;
	if (!strcmp(key, "schedule"))
		return parse_schedule(v, p);
	if (!strcmp(key, "trigger"))
		return parse_trigger(v, p);
	if (!strcmp(key, "tasks"))
		return parse_tasks(v, p);
	if (!strcmp(key, "max_concurrent_runs")) {
		if (!(rc = spec_want_uint(v, key, 1, JOB_MAX_CONCURRENT, &u, p->err)))
			p->sp->max_concurrent_runs = (unsigned)u;
		return rc;
	}
	return 0;	/* timezone: read first */
}

static int parse(const char *text, size_t len, bool partial,
		 struct job_spec **out, struct mlfs_err *err)
{
	static const char *const keys[] = { "schedule", "timezone", "trigger",
		"max_concurrent_runs", "tasks", NULL };
	struct spec_doc *doc = NULL;
	struct job_spec *sp = calloc(1, sizeof(*sp));
	struct parse p = { .sp = sp, .partial = partial, .tz = "UTC", .err = err };
	if (!sp)
		mlfs_oom();
	sp->max_concurrent_runs = 1;
	int rc = spec_parse_yaml(text, len, &doc, err);
	const struct spec_node *root = doc ? spec_doc_root(doc) : NULL, *v;
	if (!rc && !root)
		rc = mlfs_fail(err, -ENODATA, "no job.yaml: write one first");
	if (!rc && root->kind != SPEC_MAP)
		rc = spec_fail_at(err, root, -EINVAL, "job.yaml is a map (tasks, schedule, trigger, ...)");
	if (!rc)
		rc = spec_check_keys(root, keys, "job.yaml", err);
	/* the zone first: the schedule is read in it */
	if (!rc && (v = spec_map_get(root, "timezone")) && !(partial && spec_is_null(v)))
		rc = parse_timezone(v, &p);
	for (size_t i = 0; !rc && i < root->n; i++) {
		v = root->kids[2 * i + 1];
		/* "tasks:" alone is a value still arriving */
		if (!(partial && spec_is_null(v)))
			rc = parse_value(root->kids[2 * i], v, &p);
	}
	if (!rc && !sp->tasks && !partial)
		rc = spec_fail_at(err, root, -EINVAL, "tasks is missing: a job has at least one task");
	if (!rc)
		snprintf(sp->cron.tz, sizeof(sp->cron.tz), "%s", p.tz);
	free(p.nodes);
	free(p.deps);
	free(p.ref);
	spec_doc_free(doc);
	if (rc || !out)
		job_spec_free(sp);
	else
		*out = sp;
	return rc;
}

int job_spec_parse(const char *text, size_t len, struct job_spec **out,
		   struct mlfs_err *err)
{
	*out = NULL;
	return parse(text, len, false, out, err);
}

int job_spec_check_partial(const char *text, size_t len, struct mlfs_err *err)
{
	struct mlfs_err e = { 0 };
	unsigned line = 0, nlines = 0;
	size_t cut = len;
	/* the complete lines only: a line without its newline may still grow */
	while (cut && text[cut - 1] != '\n')
		cut--;
	for (size_t i = 0; i < cut; i++)
		nlines += text[i] == '\n';
	if (!cut)
		return 0;
	int rc = parse(text, cut, true, NULL, &e);
	if (rc == -ENODATA)
		return 0;
	/* the YAML stops short where the cut is: more text ends it */
	if (rc == -EINVAL && sscanf(e.msg, "line %u", &line) == 1 && line > nlines)
		return 0;
	if (rc && err)
		*err = e;
	return rc;
}

int job_spec_files(const struct job_spec *sp,
		   int (*fn)(void *ctx, const char *file, enum job_kind kind),
		   void *ctx)
{
	for (size_t i = 0; i < sp->ntasks; i++) {
		const struct job_task *t = &sp->tasks[i];
		bool seen = false;
		if (!is_train(t))
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = is_train(&sp->tasks[j]) && !strcmp(sp->tasks[j].target, t->target);
		int rc = seen ? 0 : fn(ctx, t->target, t->kind);
		if (rc)
			return rc;
	}
	return 0;
}
