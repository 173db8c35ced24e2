/* test_blob.c - artifact trees: offsets, holes, truncation, rename rules
 * and recursive removal, against a plain in-memory reference; writers
 * whose writes appear whole at commit, and what a crash leaves of them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Write TEXT into file ID in place (as training does). */
static void put_text(struct store *s, uint64_t id, const char *text)
{
	assert_int_equal(blob_truncate(s, id, 0, NULL), 0);
	assert_int_equal(blob_write(s, id, 0, text, strlen(text), NULL), 0);
}

static void assert_content(struct store *s, uint64_t id, const char *text)
{
	char got[256];
	struct blob_stat st;
	assert_int_equal(blob_stat(s, id, &st), 0);
	assert_int_equal(st.size, strlen(text));
	long n = blob_read(s, id, 0, got, sizeof(got), NULL);
	assert_int_equal(n, (long)strlen(text));
	assert_memory_equal(got, text, strlen(text));
}

static void test_writer_whole_at_commit(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat st, now;
	struct blob_writer *w;
	char got[64];
	assert_int_equal(blob_make(f->s, root, "f", false, 0644, 0, 0, &st, NULL), 0);
	put_text(f->s, st.id, "old content");
	assert_int_equal(blob_writer_open(f->s, st.id, false, &w, NULL), 0);
	/* Its own reads see the file, then its writes at offsets. */
	assert_int_equal(blob_writer_read(w, 4, got, 7, NULL), 7);
	assert_memory_equal(got, "content", 7);
	assert_int_equal(blob_writer_write(w, 0, "new", 3, NULL), 0);
	assert_int_equal(blob_writer_write(w, 11, "!", 1, NULL), 0);
	assert_int_equal(blob_writer_read(w, 0, got, sizeof(got), NULL), 12);
	assert_memory_equal(got, "new content!", 12);
	/* Others read and stat the old file; truncate cuts the staged one. */
	char old[16];
	assert_int_equal(blob_read(f->s, st.id, 0, old, sizeof(old), NULL), 11);
	assert_memory_equal(old, "old content", 11);
	assert_int_equal(blob_stat(f->s, st.id, &now), 0);
	assert_int_equal(now.size, 11);
	assert_int_equal(blob_writer_size(w), 12);
	assert_int_equal(blob_truncate(f->s, st.id, 7, NULL), 0);
	assert_int_equal(blob_writer_read(w, 0, got, sizeof(got), NULL), 7);
	assert_int_equal(blob_read(f->s, st.id, 0, old, sizeof(old), NULL), 11);
	assert_int_equal(blob_writer_commit(w, false, NULL), 0);
	assert_content(f->s, st.id, "new con");
	/* A commit with nothing new changes nothing; the next write stages
	 * from the committed content. */
	assert_int_equal(blob_writer_commit(w, false, NULL), 0);
	assert_int_equal(blob_writer_write(w, 7, "tent", 4, NULL), 0);
	assert_int_equal(blob_read(f->s, st.id, 0, old, sizeof(old), NULL), 7);
	assert_int_equal(blob_writer_commit(w, true, NULL), 0);
	assert_content(f->s, st.id, "new content");
	blob_writer_free(w);
	assert_int_equal(blob_recover(f->s, false, NULL, NULL, NULL), 0);
}

static void test_writer_trunc_and_drop(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat st;
	struct blob_writer *w;
	assert_int_equal(blob_make(f->s, root, "f", false, 0644, 0, 0, &st, NULL), 0);
	put_text(f->s, st.id, "keep me");
	/* Freed without a commit: nothing happened. */
	assert_int_equal(blob_writer_open(f->s, st.id, false, &w, NULL), 0);
	assert_int_equal(blob_writer_write(w, 0, "XXXX", 4, NULL), 0);
	blob_writer_free(w);
	assert_content(f->s, st.id, "keep me");
	/* O_TRUNC: empty for the writer at once, for others only at the
	 * final commit. */
	assert_int_equal(blob_writer_open(f->s, st.id, true, &w, NULL), 0);
	assert_int_equal(blob_writer_size(w), 0);
	assert_int_equal(blob_writer_commit(w, false, NULL), 0);
	char got[16];
	assert_int_equal(blob_read(f->s, st.id, 0, got, sizeof(got), NULL), 7);
	assert_int_equal(blob_writer_commit(w, true, NULL), 0);
	blob_writer_free(w);
	assert_content(f->s, st.id, "");
	assert_int_equal(blob_recover(f->s, false, NULL, NULL, NULL), 0);
}

static void count_line(void *ctx, const char *problem)
{
	(*(int *)ctx)++;
}

/* A daemon killed while two handles write: one over an old file, one a
 * file it created.  After the restart the old file is whole, the new one
 * is gone, and blob_recover says so, once. */
static void test_crash_leaves_old_or_nothing(void **state)
{
	struct store_fixture *f = *state;
	struct blob_stat old, fresh;
	assert_int_equal(blob_make(f->s, root, "old", false, 0644, 0, 0, &old, NULL), 0);
	put_text(f->s, old.id, "whole");
	store_close(f->s);
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s;
		struct blob_writer *a, *b;
		static char big[3 * BLOB_CHUNK];
		memset(big, 'x', sizeof(big));
		if (store_open(f->dir, false, &s, NULL) ||
		    blob_writer_open(s, old.id, true, &a, NULL) ||
		    blob_writer_write(a, 0, big, sizeof(big), NULL) ||
		    blob_create(s, root, "new", 0644, 0, 0, &fresh, NULL) ||
		    blob_writer_open(s, fresh.id, false, &b, NULL) ||
		    blob_writer_write(b, 0, big, 100, NULL))
			_exit(1);
		_exit(0);	/* no commit, no close: a crash */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(store_open(f->dir, false, &f->s, NULL), 0);
	int lines = 0;
	/* Two staged contents and the fresh file. */
	assert_int_equal(blob_recover(f->s, false, count_line, &lines, NULL), 3);
	assert_int_equal(lines, 3);
	assert_int_equal(blob_recover(f->s, true, NULL, NULL, NULL), 3);
	assert_int_equal(blob_recover(f->s, false, NULL, NULL, NULL), 0);
	assert_content(f->s, old.id, "whole");
	assert_int_equal(blob_lookup(f->s, root, "new", &fresh), -ENOENT);
	/* A file made by blob_create and closed stays. */
	assert_int_equal(blob_create(f->s, root, "kept", 0644, 0, 0, &fresh, NULL), 0);
	assert_int_equal(blob_settle(f->s, fresh.id, NULL), 0);
	assert_int_equal(blob_recover(f->s, true, NULL, NULL, NULL), 0);
	assert_int_equal(blob_lookup(f->s, root, "kept", &fresh), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_random_writes_match_reference),
		T(test_size_limit),
		T(test_namespace_rules),
		T(test_drop_tree),
		T(test_writer_whole_at_commit),
		T(test_writer_trunc_and_drop),
		T(test_crash_leaves_old_or_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
