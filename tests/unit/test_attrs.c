/* test_attrs.c - owners, modes and times kept by name: put and get,
 * absent names, and deleting a name with everything below it but not its
 * neighbours that merely share a prefix; the cache of them never serves
 * what a write replaced (a put, a delete, a batch), including an absence
 * cached for a whole directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "attrs.h"
#include "store_fixture.h"

static void put_get_delete_tree(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct attrs a = { .mode = 0700, .uid = 1000, .gid = 100, .ctime_ns = 5, .mtime_ns = 7 }, got;
	const char *names[] = { "/t/x", "/t/x/a", "/t/x/a/b", "/t/xy", "/t" };
	for (size_t i = 0; i < 5; i++) {
		a.uid = 1000 + (uint32_t)i;
		assert_int_equal(attrs_put(f->s, names[i], &a, NULL), 0);
	}
	assert_int_equal(attrs_get(f->s, "/t/x/a", &got), 0);
	assert_int_equal(got.mode, 0700);
	assert_int_equal(got.uid, 1001);
	assert_int_equal(got.gid, 100);
	assert_true(got.ctime_ns == 5 && got.mtime_ns == 7);
	assert_int_equal(attrs_get(f->s, "/nope", &got), -ENOENT);
	/* Overwrite. */
	a.mode = 0644;
	assert_int_equal(attrs_put(f->s, "/t/x", &a, NULL), 0);
	assert_int_equal(attrs_get(f->s, "/t/x", &got), 0);
	assert_int_equal(got.mode, 0644);
	/* /t/x and below go; /t/xy and /t stay. */
	assert_int_equal(attrs_delete_tree(f->s, "/t/x", NULL), 0);
	assert_int_equal(attrs_get(f->s, "/t/x", &got), -ENOENT);
	assert_int_equal(attrs_get(f->s, "/t/x/a", &got), -ENOENT);
	assert_int_equal(attrs_get(f->s, "/t/x/a/b", &got), -ENOENT);
	assert_int_equal(attrs_get(f->s, "/t/xy", &got), 0);
	assert_int_equal(got.uid, 1003);
	assert_int_equal(attrs_get(f->s, "/t", &got), 0);
	store_fixture_close(f);
}

/* Every read below is made twice: the second one is the cache's. */
static int get2(struct store *s, const char *name, struct attrs *out)
{
	struct attrs again;
	int rc = attrs_get(s, name, out);
	assert_int_equal(attrs_get(s, name, &again), rc);
	if (!rc)
		assert_memory_equal(out, &again, sizeof(again));
	return rc;
}

static void cache_exact(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct attrs a = { .mode = 0600, .uid = 7, .gid = 8, .ctime_ns = 1, .mtime_ns = 2 }, got;
	/* A directory with no records: its names are known absent. */
	assert_int_equal(get2(f->s, "/d/x", &got), -ENOENT);
	assert_int_equal(get2(f->s, "/d/y", &got), -ENOENT);
	assert_int_equal(get2(f->s, "/d", &got), -ENOENT);
	/* A put is seen at once, for the name and for its directory. */
	assert_int_equal(attrs_put(f->s, "/d/y", &a, NULL), 0);
	assert_int_equal(get2(f->s, "/d/y", &got), 0);
	assert_int_equal(got.mode, 0600);
	assert_int_equal(get2(f->s, "/d/x", &got), -ENOENT);
	/* chmod, chown: the new record, not the cached one. */
	a.mode = 0640;
	a.uid = 9;
	assert_int_equal(attrs_put(f->s, "/d/y", &a, NULL), 0);
	assert_int_equal(get2(f->s, "/d/y", &got), 0);
	assert_int_equal(got.mode, 0640);
	assert_int_equal(got.uid, 9);
	/* A record below a name whose directory was cached as empty. */
	assert_int_equal(get2(f->s, "/d/x/z", &got), -ENOENT);
	assert_int_equal(attrs_put(f->s, "/d/x/z", &a, NULL), 0);
	assert_int_equal(get2(f->s, "/d/x/z", &got), 0);
	/* Gone with a batch another module wrote. */
	struct store_batch *b = store_batch_new();
	attrs_batch_delete_tree(b, "/d/y");
	assert_int_equal(store_write(f->s, b, false, NULL), 0);
	store_batch_free(b);
	attrs_batch_written(f->s);
	assert_int_equal(get2(f->s, "/d/y", &got), -ENOENT);
	/* Gone with a delete, and with the object's batch. */
	assert_int_equal(attrs_delete(f->s, "/d/x/z", NULL), 0);
	assert_int_equal(get2(f->s, "/d/x/z", &got), -ENOENT);
	assert_int_equal(attrs_put(f->s, "/d/q", &a, NULL), 0);
	assert_int_equal(get2(f->s, "/d/q", &got), 0);
	assert_int_equal(attrs_batch_write(f->s, store_batch_new(), "/d/q", false, NULL), 0);
	assert_int_equal(get2(f->s, "/d/q", &got), -ENOENT);
	/* A name without a directory. */
	assert_int_equal(get2(f->s, "top", &got), -ENOENT);
	assert_int_equal(attrs_put(f->s, "top", &a, NULL), 0);
	assert_int_equal(get2(f->s, "top", &got), 0);
	/* Many names (past the cache's bound) stay right. */
	char name[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "/many/%d/n", i);
		a.uid = (uint32_t)i;
		if (i % 2 == 0)
			assert_int_equal(attrs_put(f->s, name, &a, NULL), 0);
	}
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 20000; i += 7) {
			snprintf(name, sizeof(name), "/many/%d/n", i);
			int rc = attrs_get(f->s, name, &got);
			assert_int_equal(rc, i % 2 ? -ENOENT : 0);
			if (!rc)
				assert_int_equal(got.uid, i);
		}
	store_fixture_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_delete_tree),
		cmocka_unit_test(cache_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
