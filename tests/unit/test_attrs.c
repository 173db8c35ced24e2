/* test_attrs.c - owners, modes and times kept by name: put and get,
 * absent names, and deleting a name with everything below it but not its
 * neighbours that merely share a prefix. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_delete_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
