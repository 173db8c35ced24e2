/* train_int.h - what train.c, train_data.c and train_files.c share: the
 * frames of one training and the artifact writer.  Private to engine/ml. */
#ifndef MLFS_TRAIN_INT_H
#define MLFS_TRAIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "forest/forest.h"
#include "frame.h"
#include "store.h"
#include "train.h"
#include "train_spec.h"

/* The data of one training.  ALL holds every column (keys and excluded
 * ones too: training_set.csv shows them) of the labels table's rows;
 * IS_TEST[i] tells whether row i of ALL was a test row.  ALL_TEST holds
 * the test table's rows when the spec named one (all test rows), else
 * NULL.  TRAIN and TEST hold only the model's columns. */
struct train_data {
	struct frame *all, *all_test;
	struct frame *train, *test;
	bool *is_test;
	size_t nall;
	bool classify;
};

/* Mark EXP/RUN as a training of KIND ("train", "tune", "trial") run by
 * this session: its owner (on a remote store) then the tag
 * mlfs.training. */
int train_mark(struct store *s, const char *exp, const char *run, const char *kind,
	       struct mlfs_err *err);

/* Load the labels table (and the test table) with the lookups, split,
 * and cut the model frames.  -EINVAL with the reason. */
int train_data_load(struct store *s, const struct train_spec *sp,
		    struct train_data *d, struct mlfs_err *err);
void train_data_free(struct train_data *d);

/* Write FILE (a path of names under the run's artifacts, e.g.
 * "model/importances.csv") with DATA, replacing what was there. */
int train_put_artifact(struct store *s, uint64_t root, uint32_t uid,
		       uint32_t gid, const char *file, const char *data,
		       size_t len, struct mlfs_err *err);

/* The files of a trained model under model/ and the training set. */
int train_write_files(struct store *s, uint64_t root, uint32_t uid,
		      uint32_t gid, const struct train_spec *sp,
		      const struct train_data *d, const struct forest *m,
		      const uint64_t *confusion, struct mlfs_err *err);

/* train_run on data already loaded (tuning shares one load). */
int train_run_data(struct store *s, const char *exp, const char *run,
		   const struct train_spec *sp, const struct forest_params *params,
		   const struct train_data *d, const struct train_watch *watch,
		   struct train_result *result, struct mlfs_err *err);

#endif
