/* store_fixture.h - a fresh store in a temporary directory for one unit
 * test, removed afterwards.  Include after cmocka.h. */
#ifndef MLFS_STORE_FIXTURE_H
#define MLFS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct store_fixture {
	char dir[64];
	struct store *s;
};

static inline struct store_fixture *store_fixture_open(void)
{
	struct store_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/mlfs-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open(f->dir, true, &f->s, NULL), 0);
	return f;
}

/* Close the store and open it again, as a restart would. */
static inline void store_fixture_reopen(struct store_fixture *f)
{
	store_close(f->s);
	assert_int_equal(store_open(f->dir, false, &f->s, NULL), 0);
}

static inline void store_fixture_close(struct store_fixture *f)
{
	char cmd[128];
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

#endif
