/* test_blob.c - artifact trees: offsets, holes, truncation, rename rules
 * and recursive removal, against a plain in-memory reference. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "blob.h"
#include "store.h"

static uint64_t root;

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	assert_int_equal(blob_root_new(f->s, 0755, 1, 2, &root, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static void test_random_writes_match_reference(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat st;
	const size_t max = 3 * BLOB_CHUNK + 1000;
	char *ref = calloc(1, max), *got = malloc(max), *data = malloc(max);
	size_t size = 0;
	unsigned seed = 42;
	assert_int_equal(blob_make(f->s, root, "f", false, 0644, 0, 0, &st, NULL), 0);
	for (int i = 0; i < 200; i++) {
		size_t off = (size_t)rand_r(&seed) % (max - 1);
		size_t len = 1 + (size_t)rand_r(&seed) % (max - off - 1);
		if (len > 70000)
			len = 70000;
		for (size_t k = 0; k < len; k++)
			data[k] = (char)rand_r(&seed);
		memcpy(ref + off, data, len);
		if (off + len > size)
			size = off + len;
		assert_int_equal(blob_write(f->s, st.id, off, data, len, NULL), 0);
		if (i % 50 == 49) {
			size_t cut = size / 2;	/* truncate, then the tail is zeros */
			assert_int_equal(blob_truncate(f->s, st.id, cut, NULL), 0);
			memset(ref + cut, 0, max - cut);
			size = cut;
		}
	}
	struct blob_stat now;
	assert_int_equal(blob_stat(f->s, st.id, &now), 0);
	assert_int_equal(now.size, size);
	assert_int_equal(blob_read(f->s, st.id, 0, got, max, NULL), (long)size);
	assert_memory_equal(got, ref, size);
	/* Reads at odd offsets across chunk edges. */
	assert_int_equal(blob_read(f->s, st.id, BLOB_CHUNK - 3, got, 7, NULL),
			 size >= BLOB_CHUNK + 4 ? 7 : (long)(size > BLOB_CHUNK - 3 ? size - (BLOB_CHUNK - 3) : 0));
	free(ref);
	free(got);
	free(data);
}

/* A file ends at BLOB_MAX_SIZE at most: past it (truncate -s 8E, a write
 * near UINT64_MAX that would wrap) is -EFBIG and changes nothing. */
static void test_size_limit(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat st, now;
	struct mlfs_err err = { 0 };
	assert_int_equal(blob_make(f->s, root, "big", false, 0644, 0, 0, &st, NULL), 0);
	assert_int_equal(blob_write(f->s, st.id, 0, "abc", 3, NULL), 0);
	assert_int_equal(blob_truncate(f->s, st.id, INT64_MAX, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "past the largest file"));
	assert_int_equal(blob_truncate(f->s, st.id, BLOB_MAX_SIZE + 1, NULL), -EFBIG);
	assert_int_equal(blob_write(f->s, st.id, BLOB_MAX_SIZE, "x", 1, NULL), -EFBIG);
	assert_int_equal(blob_write(f->s, st.id, UINT64_MAX - 1, "xy", 2, NULL), -EFBIG);
	assert_int_equal(blob_stat(f->s, st.id, &now), 0);
	assert_int_equal(now.size, 3);
	assert_int_equal(blob_write(f->s, st.id, BLOB_MAX_SIZE - 1, "z", 1, NULL), 0);
	assert_int_equal(blob_stat(f->s, st.id, &now), 0);
	assert_true(now.size == BLOB_MAX_SIZE);
	assert_int_equal(blob_truncate(f->s, st.id, 3, NULL), 0);
}

static void test_namespace_rules(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat d, sub, file;
	struct mlfs_err err = { 0 };
	assert_int_equal(blob_make(f->s, root, "d", true, 0755, 0, 0, &d, NULL), 0);
	assert_int_equal(blob_make(f->s, d.id, "sub", true, 0755, 0, 0, &sub, NULL), 0);
	assert_int_equal(blob_make(f->s, d.id, "x", false, 0644, 0, 0, &file, NULL), 0);
	assert_int_equal(blob_make(f->s, d.id, "x", false, 0644, 0, 0, NULL, NULL), -EEXIST);
	assert_int_equal(blob_remove(f->s, root, "d", true, NULL), -ENOTEMPTY);
	assert_int_equal(blob_remove(f->s, d.id, "sub", false, NULL), -EISDIR);
	assert_int_equal(blob_remove(f->s, d.id, "x", true, NULL), -ENOTDIR);
	assert_int_equal(blob_rename(f->s, root, "d", sub.id, "loop", false, &err), -EINVAL);
	assert_int_equal(blob_rename(f->s, d.id, "x", root, "y", false, NULL), 0);
	assert_int_equal(blob_lookup(f->s, d.id, "x", &file), -ENOENT);
	assert_int_equal(blob_lookup(f->s, root, "y", &file), 0);
	assert_int_equal(blob_make(f->s, root, "z", false, 0644, 0, 0, NULL, NULL), 0);
	assert_int_equal(blob_rename(f->s, root, "z", root, "y", true, NULL), -EEXIST);
	assert_int_equal(blob_rename(f->s, root, "z", root, "y", false, NULL), 0);
	assert_int_equal(blob_rename(f->s, root, "y", root, "d", false, NULL), -EISDIR);
	assert_int_equal(blob_setattr(f->s, file.id, 0600, 5, (uint32_t)-1, -1, NULL), -ENOENT);
}

static int count(void *ctx, const char *name, bool is_dir)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_drop_tree(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat a, b;
	assert_int_equal(blob_make(f->s, root, "a", true, 0755, 0, 0, &a, NULL), 0);
	assert_int_equal(blob_make(f->s, a.id, "b", true, 0755, 0, 0, &b, NULL), 0);
	assert_int_equal(blob_make(f->s, b.id, "f", false, 0644, 0, 0, NULL, NULL), 0);
	int n = 0;
	assert_int_equal(blob_list(f->s, root, count, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(blob_drop_tree(f->s, root, NULL), 0);
	struct blob_stat st;
	assert_int_equal(blob_stat(f->s, root, &st), -ENOENT);
	assert_int_equal(blob_stat(f->s, b.id, &st), -ENOENT);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_random_writes_match_reference),
		T(test_size_limit),
		T(test_namespace_rules),
		T(test_drop_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
