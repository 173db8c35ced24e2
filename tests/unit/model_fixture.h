/* model_fixture.h - trained runs in a unit test's store: a run with an
 * artifact root, and a run trained from a train.yaml text, asserting
 * every step.  Include after cmocka.h. */
#ifndef MLFS_MODEL_FIXTURE_H
#define MLFS_MODEL_FIXTURE_H

#include <string.h>

#include "blob.h"
#include "tracking.h"
#include "train.h"
#include "train_spec.h"

/* A RUNNING run EXP/RUN with an empty artifact tree. */
static inline void fixture_new_run(struct store *s, const char *exp,
				   const char *run)
{
	uint64_t root;
	assert_int_equal(blob_root_new(s, 0755, 0, 0, &root, NULL), 0);
	assert_int_equal(tracking_run_create(s, exp, run, 1000, 0, 0, root, NULL), 0);
}

/* EXP/RUN trained with SPEC to FINISHED (the experiment exists). */
static inline void fixture_trained_run(struct store *s, const char *exp,
				       const char *run, const char *spec)
{
	struct train_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	fixture_new_run(s, exp, run);
	assert_int_equal(train_spec_parse(spec, strlen(spec), 0, &sp, &err), 0);
	assert_int_equal(train_begin(s, exp, run, "train", spec, strlen(spec), &err), 0);
	if (train_run(s, exp, run, sp, NULL, NULL, NULL, &err))
		fail_msg("training %s failed: %s", run, err.msg);
	train_spec_free(sp);
}

#endif
