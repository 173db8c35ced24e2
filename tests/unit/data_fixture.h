/* data_fixture.h - fill a unit test's store with a table or a feature
 * table from CSV text, asserting every step.  Include after cmocka.h. */
#ifndef MLFS_DATA_FIXTURE_H
#define MLFS_DATA_FIXTURE_H

#include <string.h>

#include "features.h"
#include "table.h"

static inline void fixture_table_put(struct store *s, const char *name,
				     const char *text)
{
	struct table_writer *w;
	struct mlfs_err err = { 0 };
	assert_int_equal(table_create(s, name, &err), 0);
	assert_int_equal(table_writer_open(s, name, true, &w, &err), 0);
	assert_int_equal(table_writer_write(w, text, strlen(text), &err), 0);
	assert_int_equal(table_writer_commit(w, true, &err), 0);
	table_writer_free(w);
}

/* Feature table NAME from TEXT, with timestamp_key TS (NULL: none). */
static inline void fixture_features_put_ts(struct store *s, const char *name,
					   const char *ts, const char *text)
{
	struct features_writer *w;
	struct mlfs_err err = { 0 };
	assert_int_equal(features_create(s, name, &err), 0);
	if (ts)
		assert_int_equal(features_set_ts(s, name, ts, strlen(ts), true, &err), 0);
	assert_int_equal(features_writer_open(s, name, true, &w, &err), 0);
	assert_int_equal(features_writer_write(w, text, strlen(text), &err), 0);
	assert_int_equal(features_writer_commit(w, true, &err), 0);
	features_writer_free(w);
}

static inline void fixture_features_put(struct store *s, const char *name,
					const char *text)
{
	fixture_features_put_ts(s, name, NULL, text);
}

#endif
