/* job.c - job records and what reads them: create, delete, list, the
 * job's files (job.yaml and the specs its tasks name), the run records,
 * tasks.csv, log, history.csv, next, and mlfs check.  Owns the keys j/:
 *   j/m/NAME          the job (struct job_rec)
 *   j/f/ID FILE       a file of its folder (job.yaml is in the record)
 *   j/r/ID RUN        a run (struct run_rec)
 * Executing runs is run.c's; the tasks task.c's. */
#include "job_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attrs.h"
#include "clock.h"
#include "codec.h"
#include "cron.h"
#include "csv.h"
#include "features.h"
#include "ids.h"
#include "monitor.h"
#include "registry.h"
#include "table.h"
#include "tracking.h"
#include "train_spec.h"
#include "types.h"

static const char *const status_names[] = {
	"QUEUED", "RUNNING", "FINISHED", "FAILED", "SKIPPED", "KILLED",
};

const char *job_status_name(enum job_status st)
{
	return status_names[st];
}

static const int lock_key = 0;

pthread_mutex_t *jobs_lock(struct store *s)
{
	return store_lock(s, &lock_key);
}

/* ---- keys ---- */

static void key_record(struct buf *k, const char *name)
{
	key_named(k, "j/m/", name);
}

static void key_id(struct buf *k, char kind, uint64_t id)
{
	key_kind_id(k, 'j', kind, id);
}

/* ---- the job record ---- */

void job_rec_free(struct job_rec *r)
{
	buf_free(&r->spec);
	memset(r, 0, sizeof(*r));
}

#define F(key, m, t, d) CODEC_FIELD(key, struct job_rec, m, CODEC_##t, d)
static const struct codec_field rec_fields[] = {
	F("id", id, UINT, 0), F("ctime", ctime_ms, INT, 0),
	F("mtime", mtime_ms, INT, 0), CODEC_OWNER_FIELDS(struct job_rec, 0755),
	F("spec", spec, BUF, 0), F("next", next_run, UINT, 1),
	F("fired", fired_s, INT, 0),
};
#undef F
#define REC_FIELDS (sizeof(rec_fields) / sizeof(rec_fields[0]))

/* The record: the fields above and "seen" [batches, queued]. */
void job_rec_put(struct store_batch *b, const char *name, const struct job_rec *r)
{
	struct buf k = { 0 }, v = { 0 };
	key_record(&k, name);
	codec_enc_fields(&v, r, rec_fields, REC_FIELDS, 1);
	codec_enc_cstr(&v, "seen");
	codec_enc_array(&v, 2);
	codec_enc_u64(&v, r->seen_batches);
	codec_enc_bool(&v, r->trigger_queued);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

int job_rec_load(struct store *s, const char *name, struct job_rec *r)
{
	struct dec *d;
	struct dval x;
	memset(r, 0, sizeof(*r));
	int rc = codec_load_named(s, NULL, "j/m/", name, &d);
	if (rc)
		return rc;
	struct dval root = codec_dec_root(d);
	codec_dec_fields(root, r, rec_fields, REC_FIELDS);
	if (codec_dval_get(root, "seen", &x) && codec_dval_len(x) == 2) {
		codec_dval_u64(codec_dval_at(x, 0), &r->seen_batches);
		codec_dval_bool(codec_dval_at(x, 1), &r->trigger_queued);
	}
	codec_dec_free(d);
	if (!r->id) {
		job_rec_free(r);
		return -EIO;
	}
	return 0;
}

/* ---- the run record ---- */

void run_rec_free(struct run_rec *r)
{
	free(r->tasks);
	buf_free(&r->log);
	memset(r, 0, sizeof(*r));
}

static void run_key(struct buf *k, uint64_t job_id, uint64_t run)
{
	key_id(k, 'r', job_id);
	key_put_u64(k, run);
}

/* The run record's fields but its tasks, written after them. */
#define F(key, m, t, d) CODEC_FIELD(key, struct run_rec, m, CODEC_##t, d)
static const struct codec_field run_rec_fields[] = {
	F("trigger", trigger, CSTR, 0), F("status", status, UINT, 0),
	F("start", start_ms, INT, 0), F("end", end_ms, INT, 0),
	F("error", error, CSTR, 0), F("log", log, BUF, 0),
};
#undef F

void run_rec_put(struct store_batch *b, uint64_t job_id, const struct run_rec *r)
{
	struct buf k = { 0 }, v = { 0 };
	run_key(&k, job_id, r->run);
	codec_enc_fields(&v, r, run_rec_fields, 6, r->owner[0] ? 2 : 1);
	codec_enc_cstr(&v, "tasks");
	codec_enc_array(&v, (uint32_t)r->ntasks);
	for (size_t i = 0; i < r->ntasks; i++) {
		const struct task_state *t = &r->tasks[i];
		codec_enc_array(&v, 7);
		codec_enc_cstr(&v, t->name);
		codec_enc_cstr(&v, t->kind);
		codec_enc_u64(&v, t->status);
		codec_enc_i64(&v, t->start_ms);
		codec_enc_i64(&v, t->end_ms);
		codec_enc_cstr(&v, t->output);
		codec_enc_cstr(&v, t->error);
	}
	if (r->owner[0]) {
		codec_enc_cstr(&v, "o");
		codec_enc_cstr(&v, r->owner);
	}
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

static void copy_str(struct dval v, char *out, size_t n)
{
	const char *p;
	size_t len;
	out[0] = '\0';
	if (codec_dval_str(v, &p, &len))
		snprintf(out, n, "%.*s", (int)len, p);
}

static enum job_status status_of(uint64_t v)
{
	return v <= JOB_KILLED ? (enum job_status)v : JOB_FAILED;
}

int run_rec_load(struct store *s, uint64_t job_id, uint64_t run, struct run_rec *r)
{
	struct buf k = { 0 };
	struct dec *d;
	memset(r, 0, sizeof(*r));
	run_key(&k, job_id, run);
	int rc = codec_load(s, NULL, k.data, k.len, &d);
	buf_free(&k);
	if (rc)
		return rc;
	struct dval root = codec_dec_root(d), x;
	codec_dec_fields(root, r, run_rec_fields, 6);
	r->run = run;
	r->status = status_of(codec_dget_u64(root, "status", JOB_FAILED));
	if (!codec_dget_str(root, "o", r->owner, sizeof(r->owner)))
		r->owner[0] = '\0';
	if (codec_dval_get(root, "tasks", &x)) {
		r->ntasks = codec_dval_len(x);
		r->tasks = calloc(r->ntasks + 1, sizeof(*r->tasks));
		if (!r->tasks)
			mlfs_oom();
		for (size_t i = 0; i < r->ntasks; i++) {
			struct dval t = codec_dval_at(x, i);
			struct task_state *ts = &r->tasks[i];
			uint64_t st = JOB_FAILED;
			copy_str(codec_dval_at(t, 0), ts->name, sizeof(ts->name));
			copy_str(codec_dval_at(t, 1), ts->kind, sizeof(ts->kind));
			codec_dval_u64(codec_dval_at(t, 2), &st);
			ts->status = status_of(st);
			codec_dval_i64(codec_dval_at(t, 3), &ts->start_ms);
			codec_dval_i64(codec_dval_at(t, 4), &ts->end_ms);
			copy_str(codec_dval_at(t, 5), ts->output, sizeof(ts->output));
			copy_str(codec_dval_at(t, 6), ts->error, sizeof(ts->error));
		}
	}
	codec_dec_free(d);
	return 0;
}

int run_rec_write(struct store *s, uint64_t job_id, const struct run_rec *r,
		  struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	run_rec_put(b, job_id, r);
	int rc = store_write(s, b, true, err);
	store_batch_free(b);
	return rc;
}

void run_rec_log(struct run_rec *r, const char *task, const char *fmt, ...)
{
	char when[40], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	tracking_fmt_time(when, clock_now_ms());
	buf_printf(&r->log, "%s %s: %s\n", when, task, msg);
}

/* ---- create, delete, list ---- */

int job_create(struct store *s, const char *name, uint32_t uid, uint32_t gid,
	       uint32_t mode, const char *attrs, struct mlfs_err *err)
{
	struct job_rec r = { 0 };
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "'%s' is not a valid job name", name);
	pthread_mutex_lock(jobs_lock(s));
	int rc = job_rec_load(s, name, &r);
	if (!rc) {
		rc = mlfs_fail(err, -EEXIST, "job %s exists", name);
	} else {
		job_rec_free(&r);
		rc = ids_next(s, "job", &r.id, err);
	}
	if (!rc) {
		struct store_batch *b = store_batch_new();
		r.ctime_ms = r.mtime_ms = clock_now_ms();
		r.uid = uid;
		r.gid = gid;
		r.mode = mode & 07777;
		r.next_run = 1;
		r.fired_s = clock_now_ms() / 1000;
		job_rec_put(b, name, &r);
		rc = attrs_batch_write(s, b, attrs, true, err);
	}
	pthread_mutex_unlock(jobs_lock(s));
	job_rec_free(&r);
	return rc;
}

int job_delete(struct store *s, const char *name, const char *attrs,
	       struct mlfs_err *err)
{
	struct job_rec r;
	struct buf k = { 0 }, lo = { 0 }, hi = { 0 };
	pthread_mutex_lock(jobs_lock(s));
	int rc = job_rec_load(s, name, &r);
	if (!rc && jobs_active(s, r.id))
		rc = mlfs_fail(err, -EBUSY, "job %s has a run QUEUED or RUNNING (write KILLED to its status)", name);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		for (const char *kind = "fr"; *kind; kind++) {
			key_id(&lo, *kind, r.id);
			key_id(&hi, *kind, r.id + 1);
			store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
		}
		key_record(&k, name);
		store_batch_delete(b, k.data, k.len);
		rc = attrs_batch_write(s, b, attrs, true, err);
	}
	pthread_mutex_unlock(jobs_lock(s));
	job_rec_free(&r);
	buf_free(&k);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int job_stat(struct store *s, const char *name, struct job_info *out)
{
	struct job_rec r;
	int rc = job_rec_load(s, name, &r);
	if (!rc) {
		out->ctime_ms = r.ctime_ms;
		out->mtime_ms = r.mtime_ms;
		out->uid = r.uid;
		out->gid = r.gid;
		out->mode = r.mode;
		out->last_run = r.next_run ? r.next_run - 1 : 0;
	}
	job_rec_free(&r);
	return rc;
}

int job_list(struct store *s, int (*fn)(void *ctx, const char *name), void *ctx)
{
	return store_list_names(s, "j/m/", NAMES_MAX, fn, ctx);
}

/* ---- files ---- */

bool job_file_name_ok(const char *file)
{
	size_t n = strlen(file);
	return names_valid(file) && n > 5 && !strcmp(file + n - 5, ".yaml") &&
	       strcmp(file, "job.yaml");
}

static void file_key(struct buf *k, uint64_t job_id, const char *file)
{
	key_id(k, 'f', job_id);
	buf_puts(k, file);
}

int job_spec_file(struct store *s, uint64_t job_id, const char *file, struct buf *out)
{
	struct buf k = { 0 };
	file_key(&k, job_id, file);
	buf_reset(out);
	int rc = store_get(s, NULL, k.data, k.len, out, NULL);
	buf_free(&k);
	if (!rc) {
		buf_reserve(out, 1);
		out->data[out->len] = '\0';
	}
	return rc;
}

int job_file_get(struct store *s, const char *name, const char *file,
		 struct buf *out)
{
	struct job_rec r;
	int rc = job_rec_load(s, name, &r);
	if (!rc && !strcmp(file, "job.yaml")) {
		buf_reset(out);
		buf_append(out, r.spec.data ? r.spec.data : "", r.spec.len);
	} else if (!rc) {
		rc = job_spec_file(s, r.id, file, out);
	}
	job_rec_free(&r);
	return rc;
}

struct files_ctx {
	struct store *s;
	uint64_t job_id;
	const char *changed;		/* a file being replaced, or NULL */
	const char *changed_text;
	size_t changed_len;
	const struct spec_node *unused;
	struct mlfs_err *err;
	const struct job_spec *sp;
};

/* Spec FILE of kind KIND parses (TEXT, or the stored file). */
static int check_file(struct files_ctx *fc, const char *file, enum job_kind kind,
		      const char *text, size_t len)
{
	struct train_spec *ts = NULL;
	struct mlfs_err e = { 0 };
	int rc = train_spec_parse(text, len, kind == JOB_TUNE ? TRAIN_SPEC_TUNE : 0, &ts, &e);
	train_spec_free(ts);
	if (rc)
		return mlfs_fail(fc->err, -EINVAL, "%s: %s", file, e.msg);
	return 0;
}

static int each_file(void *ctx, const char *file, enum job_kind kind)
{
	struct files_ctx *fc = ctx;
	struct buf text = { 0 };
	int rc = 0;
	if (fc->changed && !strcmp(fc->changed, file))
		return check_file(fc, file, kind, fc->changed_text, fc->changed_len);
	if (job_spec_file(fc->s, fc->job_id, file, &text)) {
		const struct job_task *t = NULL;
		for (size_t i = 0; fc->sp && i < fc->sp->ntasks && !t; i++)
			if ((fc->sp->tasks[i].kind == JOB_TRAIN || fc->sp->tasks[i].kind == JOB_TUNE) &&
			    !strcmp(fc->sp->tasks[i].target, file))
				t = &fc->sp->tasks[i];
		rc = mlfs_fail(fc->err, -EINVAL, "line %u, column %u: %s: no such file in the job's folder (write it before job.yaml)",
			       t ? t->line : 1, t ? t->col : 1, file);
	}
	else
		rc = check_file(fc, file, kind, text.data, text.len);
	buf_free(&text);
	return rc;
}

/* A task that names something: it exists (train's experiment is made
 * when missing). */
static int check_names(struct store *s, const struct job_spec *sp, struct mlfs_err *err)
{
	for (size_t i = 0; i < sp->ntasks; i++) {
		const struct job_task *t = &sp->tasks[i];
		struct features_info fi;
		struct table_info ti;
		switch (t->kind) {
		case JOB_REFRESH:
			if (features_stat(s, t->target, &fi))
				return mlfs_fail(err, -EINVAL, "line %u, column %u: task '%s': no feature table '%s'",
						 t->line, t->col, t->name, t->target);
			break;
		case JOB_PROMOTE:
			/* the model may come with the train task's register: */
			break;
		case JOB_SCORE:
			/* its model may come with a train task's register: */
			if (table_stat(s, t->input, &ti))
				return mlfs_fail(err, -EINVAL, "line %u, column %u: task '%s': no table '%s'",
						 t->line, t->col, t->name, t->input);
			break;
		default:
			break;
		}
	}
	if (sp->has_trigger) {
		struct monitor_info mi;
		if (monitor_stat(s, sp->trigger_monitor, &mi))
			return mlfs_fail(err, -EINVAL, "trigger: no monitor '%s'", sp->trigger_monitor);
	}
	return 0;
}

int job_load_spec(struct store *s, const char *name, const struct job_rec *r,
		  struct job_spec **out, struct mlfs_err *err)
{
	struct job_spec *sp = NULL;
	if (!r->spec.len)
		return mlfs_fail(err, -ENODATA, "job %s has no job.yaml", name);
	int rc = job_spec_parse(r->spec.data, r->spec.len, &sp, err);
	struct files_ctx fc = { s, r->id, NULL, NULL, 0, NULL, err, sp };
	if (!rc)
		rc = job_spec_files(sp, each_file, &fc);
	if (!rc)
		rc = check_names(s, sp, err);
	if (rc)
		job_spec_free(sp);
	else
		*out = sp;
	return rc;
}

static int set_job_yaml(struct store *s, const char *name, struct job_rec *r,
			const char *text, size_t len, bool apply, struct mlfs_err *err)
{
	struct job_spec *sp = NULL;
	int rc;
	if (!apply) {
		/* whole already (echo, cat of a file): everything is checked in
		 * write(); else what its complete lines show */
		struct mlfs_err full = { 0 };
		if (job_spec_parse(text, len, &sp, &full)) {
			/* an error above the last top-level key: later text
			 * cannot fix it (the tasks: list has ended) */
			unsigned line = 0, last_key = 0, at = 1;
			for (size_t i = 0; i < len; i++) {
				if ((i == 0 || text[i - 1] == '\n') && text[i] != ' ' && text[i] != '\t' &&
				    text[i] != '#' && text[i] != '-' && text[i] != '\n')
					last_key = at;
				at += text[i] == '\n';
			}
			if (sscanf(full.msg, "line %u", &line) == 1 && line < last_key) {
				if (err)
					*err = full;
				return -EINVAL;
			}
			return job_spec_check_partial(text, len, err);
		}
		struct files_ctx fc = { s, r->id, NULL, NULL, 0, NULL, err, sp };
		rc = job_spec_files(sp, each_file, &fc);
		if (!rc)
			rc = check_names(s, sp, err);
		job_spec_free(sp);
		return rc;
	}
	bool blank = true;
	for (size_t i = 0; i < len && blank; i++)
		blank = text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r';
	if (!blank) {
		rc = job_spec_parse(text, len, &sp, err);
		struct files_ctx fc = { s, r->id, NULL, NULL, 0, NULL, err, sp };
		if (!rc)
			rc = job_spec_files(sp, each_file, &fc);
		if (!rc)
			rc = check_names(s, sp, err);
		job_spec_free(sp);
		if (rc)
			return rc;
	}
	buf_reset(&r->spec);
	buf_append(&r->spec, text, len);
	r->mtime_ms = clock_now_ms();
	/* a trigger counts the alert batches from now on; a schedule fires
	 * from now on */
	r->fired_s = r->mtime_ms / 1000;
	if (!blank && !job_spec_parse(text, len, &sp, NULL)) {
		struct monitor_info mi;
		if (sp->has_trigger && !monitor_stat(s, sp->trigger_monitor, &mi))
			r->seen_batches = sp->trigger_medium ? mi.alert_batches : mi.high_batches;
		job_spec_free(sp);
	}
	struct store_batch *b = store_batch_new();
	job_rec_put(b, name, r);
	rc = store_write(s, b, true, err);
	store_batch_free(b);
	return rc;
}

/* FILE as named by job.yaml (kind into *KIND): true when it is named. */
struct named_ctx {
	const char *file;
	enum job_kind kind;
	bool found;
};

static int find_named(void *ctx, const char *file, enum job_kind kind)
{
	struct named_ctx *nc = ctx;
	if (!strcmp(file, nc->file)) {
		nc->kind = kind;
		nc->found = true;
	}
	return 0;
}

int job_file_set(struct store *s, const char *name, const char *file,
		 const char *text, size_t len, bool apply, struct mlfs_err *err)
{
	struct job_rec r;
	if (len > JOB_TEXT_MAX)
		return mlfs_fail(err, -EFBIG, "%s is at most %u bytes", file, JOB_TEXT_MAX);
	pthread_mutex_lock(jobs_lock(s));
	int rc = job_rec_load(s, name, &r);
	if (rc) {
		rc = mlfs_fail(err, -ENOENT, "no job '%s'", name);
	} else if (!strcmp(file, "job.yaml")) {
		rc = set_job_yaml(s, name, &r, text, len, apply, err);
	} else if (!job_file_name_ok(file)) {
		rc = mlfs_fail(err, -EINVAL, "'%s': a job's files are job.yaml and NAME.yaml specs", file);
	} else {
		/* a spec job.yaml names is checked as its kind */
		struct job_spec *sp = NULL;
		struct named_ctx nc = { file, JOB_TRAIN, false };
		if (r.spec.len && !job_spec_parse(r.spec.data, r.spec.len, &sp, NULL))
			job_spec_files(sp, find_named, &nc);
		job_spec_free(sp);
		if (nc.found && apply) {
			struct files_ctx fc = { s, r.id, NULL, NULL, 0, NULL, err, NULL };
			rc = check_file(&fc, file, nc.kind, text, len);
		}
		if (!rc && apply) {
			struct buf k = { 0 };
			struct store_batch *b = store_batch_new();
			file_key(&k, r.id, file);
			store_batch_put(b, k.data, k.len, text, len);
			rc = store_write(s, b, true, err);
			store_batch_free(b);
			buf_free(&k);
		}
	}
	pthread_mutex_unlock(jobs_lock(s));
	job_rec_free(&r);
	return rc;
}

int job_file_delete(struct store *s, const char *name, const char *file,
		    struct mlfs_err *err)
{
	struct job_rec r;
	struct buf k = { 0 }, v = { 0 };
	struct job_spec *sp = NULL;
	struct named_ctx nc = { file, JOB_TRAIN, false };
	pthread_mutex_lock(jobs_lock(s));
	int rc = job_rec_load(s, name, &r);
	/* a spec job.yaml names stays: it goes with the job (rm -r) or
	 * when job.yaml no longer names it */
	if (!rc && r.spec.len && !job_spec_parse(r.spec.data, r.spec.len, &sp, NULL))
		job_spec_files(sp, find_named, &nc);
	job_spec_free(sp);
	if (!rc && nc.found) {
		pthread_mutex_unlock(jobs_lock(s));
		job_rec_free(&r);
		return 0;
	}
	if (!rc) {
		file_key(&k, r.id, file);
		rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	}
	if (!rc)
		rc = store_delete(s, k.data, k.len, err);
	pthread_mutex_unlock(jobs_lock(s));
	job_rec_free(&r);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* FN with the rest of each key of kind KIND of job ID (after "j/K/ID"). */
static int scan_kind(struct store *s, char kind, uint64_t id,
		     int (*fn)(void *ctx, const char *rest, size_t len), void *ctx)
{
	struct buf lo = { 0 }, hi = { 0 };
	int rc = 0;
	key_id(&lo, kind, id);
	key_id(&hi, kind, id + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		rc = fn(ctx, k + lo.len, kl - lo.len);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

struct names_cb {
	int (*fn)(void *ctx, const char *file);
	int (*fn_id)(void *ctx, uint64_t id);
	void *ctx;
};

static int file_name_of(void *ctx, const char *rest, size_t len)
{
	struct names_cb *nc = ctx;
	char file[NAMES_MAX + 1];
	if (!len || len > NAMES_MAX)
		return 0;
	memcpy(file, rest, len);
	file[len] = '\0';
	return nc->fn(nc->ctx, file);
}

static int run_id_of(void *ctx, const char *rest, size_t len)
{
	struct names_cb *nc = ctx;
	return len == 8 ? nc->fn_id(nc->ctx, key_get_u64(rest)) : 0;
}

int job_file_list(struct store *s, const char *name,
		  int (*fn)(void *ctx, const char *file), void *ctx)
{
	struct job_rec r;
	struct names_cb nc = { fn, NULL, ctx };
	int rc = job_rec_load(s, name, &r);
	if (!rc)
		rc = scan_kind(s, 'f', r.id, file_name_of, &nc);
	job_rec_free(&r);
	return rc;
}

/* ---- runs ---- */

int job_run_list(struct store *s, const char *name,
		 int (*fn)(void *ctx, uint64_t id), void *ctx)
{
	struct job_rec r;
	struct names_cb nc = { NULL, fn, ctx };
	int rc = job_rec_load(s, name, &r);
	if (!rc)
		rc = scan_kind(s, 'r', r.id, run_id_of, &nc);
	job_rec_free(&r);
	return rc;
}

/* Run ID of NAME into *RUN. */
static int load_run(struct store *s, const char *name, uint64_t id, struct run_rec *run)
{
	struct job_rec r;
	int rc = job_rec_load(s, name, &r);
	if (!rc)
		rc = run_rec_load(s, r.id, id, run);
	job_rec_free(&r);
	return rc;
}

int job_run_status(struct store *s, const char *name, uint64_t id,
		   enum job_status *out)
{
	struct run_rec run;
	int rc = load_run(s, name, id, &run);
	if (!rc)
		*out = run.status;
	run_rec_free(&run);
	return rc;
}

int job_run_tasks_csv(struct store *s, const char *name, uint64_t id,
		      struct buf *out)
{
	struct run_rec run;
	char a[40], b[40];
	int rc = load_run(s, name, id, &run);
	if (rc)
		return rc;
	buf_reset(out);
	buf_puts(out, "task,kind,status,start,end,output,error\n");
	for (size_t i = 0; i < run.ntasks; i++) {
		const struct task_state *t = &run.tasks[i];
		a[0] = b[0] = '\0';
		if (t->start_ms)
			tracking_fmt_time(a, t->start_ms);
		if (t->end_ms)
			tracking_fmt_time(b, t->end_ms);
		buf_printf(out, "%s,%s,%s,%s,%s,", t->name, t->kind, job_status_name(t->status), a, b);
		csv_put_field(out, t->output, strlen(t->output));
		buf_putc(out, ',');
		csv_put_field(out, t->error, strlen(t->error));
		buf_putc(out, '\n');
	}
	run_rec_free(&run);
	return 0;
}

int job_run_log(struct store *s, const char *name, uint64_t id, struct buf *out)
{
	struct run_rec run;
	int rc = load_run(s, name, id, &run);
	if (!rc) {
		buf_reset(out);
		buf_append(out, run.log.data ? run.log.data : "", run.log.len);
	}
	run_rec_free(&run);
	return rc;
}

struct history_ctx {
	struct store *s;
	uint64_t job_id;
	struct buf *out;
};

static int history_line(void *ctx, uint64_t id)
{
	struct history_ctx *hc = ctx;
	struct run_rec run;
	char a[40] = "", b[40] = "";
	if (run_rec_load(hc->s, hc->job_id, id, &run))
		return 0;
	if (run.start_ms)
		tracking_fmt_time(a, run.start_ms);
	if (run.end_ms)
		tracking_fmt_time(b, run.end_ms);
	buf_printf(hc->out, "%" PRIu64 ",", id);
	csv_put_field(hc->out, run.trigger, strlen(run.trigger));
	buf_printf(hc->out, ",%s,%s,%s\n", a, b, job_status_name(run.status));
	run_rec_free(&run);
	return 0;
}

int job_history_csv(struct store *s, const char *name, struct buf *out)
{
	struct job_rec r;
	int rc = job_rec_load(s, name, &r);
	if (rc)
		return rc;
	struct history_ctx hc = { s, r.id, out };
	buf_reset(out);
	buf_puts(out, "run,trigger,start,end,status\n");
	rc = job_run_list(s, name, history_line, &hc);
	job_rec_free(&r);
	return rc;
}

int job_next_text(struct store *s, const char *name, struct buf *out)
{
	struct job_rec r;
	struct job_spec *sp = NULL;
	int rc = job_rec_load(s, name, &r);
	buf_reset(out);
	if (!rc && r.spec.len && !job_spec_parse(r.spec.data, r.spec.len, &sp, NULL) &&
	    sp->has_schedule) {
		int64_t next, now = clock_now_ms() / 1000;
		int64_t from = r.fired_s > now ? r.fired_s : now;
		char when[40];
		if (!cron_next(&sp->cron, from, &next)) {
			fmt_timestamp(when, next * 1000000);
			buf_printf(out, "%s\n", when);
		}
	}
	job_spec_free(sp);
	job_rec_free(&r);
	return rc;
}

/* ---- mlfs check ---- */

struct check_ctx {
	struct store *s;
	void (*fn)(void *ctx, const char *problem);
	void *ctx;
	int problems;
};

static int check_one(void *ctx, const char *name)
{
	struct check_ctx *cc = ctx;
	struct job_rec r;
	struct job_spec *sp = NULL;
	char line[300];
	if (job_rec_load(cc->s, name, &r)) {
		snprintf(line, sizeof(line), "job %s: damaged record", name);
		cc->fn(cc->ctx, line);
		cc->problems++;
		return 0;
	}
	if (r.spec.len && job_spec_parse(r.spec.data, r.spec.len, &sp, NULL)) {
		snprintf(line, sizeof(line), "job %s: job.yaml does not parse", name);
		cc->fn(cc->ctx, line);
		cc->problems++;
	}
	job_spec_free(sp);
	job_rec_free(&r);
	return 0;
}

int job_check(struct store *s, void (*fn)(void *ctx, const char *problem),
	      void *ctx)
{
	struct check_ctx cc = { s, fn, ctx, 0 };
	int rc = job_list(s, check_one, &cc);
	return rc < 0 ? rc : cc.problems;
}
