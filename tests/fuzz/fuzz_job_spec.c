/* fuzz_job_spec.c - job.yaml on any bytes, whole and as a text still
 * arriving: it parses or is refused with a message, and what parses is a
 * graph that holds together - every task named, with its kind's values,
 * `after` indexes in range, a run order that is a permutation placing each
 * task after those it waits for, a promote's `from` a train or tune task
 * that runs first.  A whole text (ending in a newline) that parses also
 * passes the check for text still arriving, which only asks less. */
#include <stdint.h>
#include <string.h>

#include "job_spec.h"

static int count_file(void *ctx, const char *file, enum job_kind kind)
{
	if (!file[0] || (kind != JOB_TRAIN && kind != JOB_TUNE))
		__builtin_trap();
	++*(size_t *)ctx;
	return 0;
}

static void check_task(const struct job_spec *sp, const struct job_task *t,
		       const size_t *pos)
{
	if (!t->name || !t->target || !strcmp(job_kind_name(t->kind), "?"))
		__builtin_trap();
	for (size_t j = 0; j < t->nafter; j++)
		if (t->after[j] >= sp->ntasks || pos[t->after[j]] >= pos[t - sp->tasks])
			__builtin_trap();
	if ((t->kind == JOB_TRAIN || t->kind == JOB_TUNE) && !t->experiment)
		__builtin_trap();
	if (t->kind == JOB_VALIDATE && (!t->against || !t->metric))
		__builtin_trap();
	if (t->kind == JOB_SCORE && (!t->input || !t->output))
		__builtin_trap();
	if (t->kind == JOB_PROMOTE) {
		size_t f = 0;
		if (!t->alias || !t->from)
			__builtin_trap();
		while (f < sp->ntasks && strcmp(sp->tasks[f].name, t->from))
			f++;
		if (f == sp->ntasks || (sp->tasks[f].kind != JOB_TRAIN && sp->tasks[f].kind != JOB_TUNE) ||
		    pos[f] >= pos[t - sp->tasks])
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct job_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	int rc = job_spec_parse(text, size, &sp, &err);
	if (rc && (sp || !err.msg[0]))
		__builtin_trap();
	if (!rc) {
		size_t pos[JOB_MAX_TASKS], nfiles = 0;
		uint64_t seen = 0;
		if (!sp->ntasks || sp->ntasks > JOB_MAX_TASKS || sp->max_concurrent_runs < 1 ||
		    sp->max_concurrent_runs > JOB_MAX_CONCURRENT)
			__builtin_trap();
		for (size_t k = 0; k < sp->ntasks; k++) {
			if (sp->order[k] >= sp->ntasks || (seen >> sp->order[k] & 1))
				__builtin_trap();
			seen |= UINT64_C(1) << sp->order[k];
			pos[sp->order[k]] = k;
		}
		for (size_t i = 0; i < sp->ntasks; i++)
			check_task(sp, &sp->tasks[i], pos);
		if (job_spec_files(sp, count_file, &nfiles) || nfiles > sp->ntasks)
			__builtin_trap();
		job_spec_free(sp);
	}
	memset(&err, 0, sizeof(err));
	int partial = job_spec_check_partial(text, size, &err);
	if (partial && !err.msg[0])
		__builtin_trap();
	if (!rc && size && text[size - 1] == '\n' && partial)
		__builtin_trap();
	return 0;
}
