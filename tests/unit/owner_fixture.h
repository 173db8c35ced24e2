/* owner_fixture.h - the checks that an object keeping its owner in its
 * own record (an endpoint, a monitor, a job) is made and removed in one
 * batch with the attrs at its path: after any number of writes it is
 * whole, with its owner, or absent.  Include after cmocka.h. */
#ifndef MLFS_OWNER_FIXTURE_H
#define MLFS_OWNER_FIXTURE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "attrs.h"
#include "err.h"
#include "store.h"

struct owner_kind {
	int (*create)(struct store *s, const char *name, uint32_t uid,
		      uint32_t gid, uint32_t mode, const char *attrs,
		      struct mlfs_err *err);
	int (*delete)(struct store *s, const char *name, const char *attrs,
		      struct mlfs_err *err);
	/* NAME's uid, gid, mode and ctime from its record; -ENOENT. */
	int (*owner)(struct store *s, const char *name, uint32_t *uid,
		     uint32_t *gid, uint32_t *mode, int64_t *ctime_ms);
};

static const struct attrs owner_fixture_old = { .mode = 0777, .uid = 9, .gid = 9 };

/* NAME is owned by 7:8 with mode 0700 in its record. */
static inline void owner_fixture_check(struct store *s, const struct owner_kind *k,
				       const char *name)
{
	uint32_t uid, gid, mode;
	int64_t ctime;
	assert_int_equal(k->owner(s, name, &uid, &gid, &mode, &ctime), 0);
	assert_int_equal(uid, 7);
	assert_int_equal(gid, 8);
	assert_int_equal(mode, 0700);
	assert_true(ctime > 0);
}

static inline bool owner_fixture_exists(struct store *s, const struct owner_kind *k,
					const char *name)
{
	uint32_t uid, gid, mode;
	int64_t ctime;
	int rc = k->owner(s, name, &uid, &gid, &mode, &ctime);
	assert_true(rc == 0 || rc == -ENOENT);
	return rc == 0;
}

/* Make NAME over the attrs a chmod of an earlier NAME left at PATH,
 * the daemon dying after 0, 1, ... writes: the attrs go only with the
 * new record. */
static inline void owner_fixture_make(struct store *s, const struct owner_kind *k,
				      const char *name, const char *path)
{
	struct attrs a;
	assert_int_equal(attrs_put(s, path, &owner_fixture_old, NULL), 0);
	int rc = -EIO;
	for (int after = 0; rc; after++) {
		assert_true(after < 10);
		store_test_fail_writes(s, after, -EIO);
		rc = k->create(s, name, 7, 8, 0700, path, NULL);
		store_test_fail_writes(s, 0, 0);
		assert_true(rc == 0 || rc == -EIO);
		bool made = owner_fixture_exists(s, k, name);
		assert_int_equal(made, rc == 0);
		assert_int_equal(attrs_get(s, path, &a) == 0, !made);
	}
	owner_fixture_check(s, k, name);
	assert_int_equal(k->create(s, name, 7, 8, 0700, path, NULL), -EEXIST);
}

/* A chmod of NAME, then a delete that dies: both stay; then both go. */
static inline void owner_fixture_remove(struct store *s, const struct owner_kind *k,
					const char *name, const char *path)
{
	struct attrs a;
	assert_int_equal(attrs_put(s, path, &owner_fixture_old, NULL), 0);
	store_test_fail_writes(s, 0, -EIO);
	assert_int_equal(k->delete(s, name, path, NULL), -EIO);
	store_test_fail_writes(s, 0, 0);
	owner_fixture_check(s, k, name);
	assert_int_equal(attrs_get(s, path, &a), 0);
	assert_int_equal(k->delete(s, name, path, NULL), 0);
	assert_false(owner_fixture_exists(s, k, name));
	assert_int_equal(attrs_get(s, path, &a), -ENOENT);
	assert_int_equal(k->delete(s, name, path, NULL), -ENOENT);
}

#endif
