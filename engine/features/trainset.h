/* trainset.h - training sets: a labels table joined with feature lookups
 * into a typed in-memory frame (frame.h), point-in-time correct.
 *
 * As Databricks' create_training_set(df, feature_lookups, label,
 * exclude_columns): every row of the labels table is kept (a left join);
 * each lookup finds the feature row of the row's key - with a
 * timestamp_lookup_key, the latest version at or before the row's time
 * (Feast's rule), so no value from the future leaks in - and a key with no
 * feature row gives nulls.  Used by training and serving. */
#ifndef MLFS_TRAINSET_H
#define MLFS_TRAINSET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#include "err.h"
#include "frame.h"
#include "store.h"

struct trainset_lookup {
	const char *table;			/* a feature table */
	const char *const *lookup_keys;		/* labels columns, in the
						 * order of the table's keys */
	size_t nkeys;
	const char *const *columns;		/* NULL: every non-key column */
	size_t ncolumns;
	const char *timestamp_lookup_key;	/* labels column, or NULL */
};

/* Build the training set.  Columns: the labels table's (minus EXCLUDE),
 * then each lookup's feature columns; a name given twice is -EINVAL.
 * LABEL must be a column of LABELS (NULL: none); it is never excluded.
 * Errors (-EINVAL with a message, -ENOENT for a missing table): lookup
 * key count or names that do not fit, unknown columns, a
 * timestamp_lookup_key on a table without a timestamp_key.  *OUT: a new
 * frame, caller frees with frame_free(). */
int trainset_build(struct store *s, const char *labels, const char *label,
		   const struct trainset_lookup *lookups, size_t nlookups,
		   const char *const *exclude, size_t nexclude,
		   struct frame **out, struct mlfs_err *err);

/* The columnar forms of feature table versions (trainset_form.c), which
 * large training sets read instead of the stored rows.  mlfs check:
 * verify each table's current form (chunks whole, and equal to a form
 * rebuilt from its rows) and, when ALONE (no daemon has the store open),
 * report keys no whole current form names; a line per problem into
 * REPORT, returns the number of problems or <0.  Recovery at mount:
 * delete those keys (builds cut short, older versions, tables gone). */
int trainset_form_check(struct store *s, bool alone, struct buf *report,
			struct mlfs_err *err);
int trainset_form_recover(struct store *s, struct mlfs_err *err);
/* The leader's sweep (sweep.h's sweep_fn, set by sweep_set_forms): the
 * builds in flight whose owner record (a remote store's) names a session
 * GONE says is gone go, their keys in one commit; *N how many.  Their
 * manifest write then fails (EIO). */
int trainset_form_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner),
			     void *ctx, size_t *n, struct mlfs_err *err);

#endif
