/* test_lru.c - the bounded LRU map: values kept and replaced, the byte
 * bound kept after every put, the least recently used entry out first
 * (a get makes an entry the newest, so a hot key stays), an entry larger
 * than the bound not kept, and a clear; lru_on_drop told of every value
 * that leaves, however it leaves. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lru.h"

/* Entries of this many bytes each: key "kN" (N < 10) and an 8-byte value. */
#define COST(klen) (LRU_ENTRY_OVERHEAD + (klen) + 8)

static void put_key(struct lru *l, int i)
{
	char k[16], v[8];
	int n = snprintf(k, sizeof(k), "k%d", i);
	memset(v, 'a' + i % 26, sizeof(v));
	lru_put(l, k, (size_t)n, v, sizeof(v));
}

static bool has_key(struct lru *l, int i)
{
	char k[16];
	size_t vlen;
	int n = snprintf(k, sizeof(k), "k%d", i);
	const char *v = lru_get(l, k, (size_t)n, &vlen);
	if (v) {
		assert_int_equal(vlen, 8);
		assert_int_equal(v[0], 'a' + i % 26);
	}
	return v != NULL;
}

static void get_put_replace(void **state)
{
	struct lru *l = lru_new(1 << 20);
	size_t vlen;
	assert_null(lru_get(l, "x", 1, &vlen));
	lru_put(l, "x", 1, "one", 3);
	lru_put(l, "xy", 2, "", 0);
	const char *v = lru_get(l, "x", 1, &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 3);
	assert_memory_equal(v, "one", 3);
	assert_non_null(lru_get(l, "xy", 2, &vlen));
	assert_int_equal(vlen, 0);
	lru_put(l, "x", 1, "three", 5);
	v = lru_get(l, "x", 1, &vlen);
	assert_int_equal(vlen, 5);
	assert_memory_equal(v, "three", 5);
	assert_int_equal(lru_count(l), 2);
	assert_int_equal(lru_bytes(l), 2 * LRU_ENTRY_OVERHEAD + 1 + 5 + 2);
	/* Many keys: the table grows and every one is found. */
	for (int i = 0; i < 5000; i++)
		put_key(l, i);
	for (int i = 0; i < 5000; i++)
		assert_true(has_key(l, i));
	assert_int_equal(lru_count(l), 5002);
	lru_clear(l);
	assert_int_equal(lru_count(l), 0);
	assert_int_equal(lru_bytes(l), 0);
	assert_false(has_key(l, 1));
	put_key(l, 1);
	assert_true(has_key(l, 1));
	lru_free(l);
	lru_free(NULL);
}

static void bound_and_order(void **state)
{
	/* Room for exactly four entries of "kN". */
	struct lru *l = lru_new(4 * COST(2));
	for (int i = 0; i < 4; i++)
		put_key(l, i);
	assert_int_equal(lru_count(l), 4);
	/* k0 is used: k1 is now the oldest and goes first, then k2. */
	assert_true(has_key(l, 0));
	put_key(l, 4);
	assert_true(lru_bytes(l) <= 4 * COST(2));
	assert_false(has_key(l, 1));
	put_key(l, 5);
	assert_false(has_key(l, 2));
	assert_true(has_key(l, 0) && has_key(l, 3) && has_key(l, 4) && has_key(l, 5));
	/* A replaced value makes its key the newest too. */
	put_key(l, 3);
	put_key(l, 6);	/* out: k0 (k3, k4, k5 newer after the gets above) */
	assert_false(has_key(l, 0));
	assert_true(has_key(l, 3));
	lru_free(l);
}

static void hot_key_stays(void **state)
{
	/* One key read between every put of a stream of new ones stays,
	 * and the bound holds after every put. */
	size_t max = 100 * COST(4);
	struct lru *l = lru_new(max);
	put_key(l, 7);
	for (int i = 1000; i < 6000; i++) {
		put_key(l, i);
		assert_true(lru_bytes(l) <= max);
		assert_true(has_key(l, 7));
	}
	assert_false(has_key(l, 1000));
	assert_true(has_key(l, 5999));
	lru_free(l);
}

static void too_big_not_kept(void **state)
{
	struct lru *l = lru_new(COST(2) + 10);
	char big[64] = { 0 };
	put_key(l, 1);
	lru_put(l, "k2", 2, big, sizeof(big));
	size_t vlen;
	assert_null(lru_get(l, "k2", 2, &vlen));
	/* The old value of a key replaced by one too big goes too. */
	lru_put(l, "k1", 2, big, sizeof(big));
	assert_false(has_key(l, 1));
	assert_int_equal(lru_count(l), 0);
	lru_free(l);
}

/* The values told to on_drop, first letters in order. */
struct dropped {
	char first[16];
	size_t n;
};

static void note_drop(const void *val, size_t vlen, void *arg)
{
	struct dropped *d = arg;
	assert_int_equal(vlen, 8);
	assert_true(d->n < sizeof(d->first));
	d->first[d->n++] = *(const char *)val;
}

static void drop_told(void **state)
{
	struct dropped d = { 0 };
	struct lru *l = lru_new(2 * COST(2));
	lru_on_drop(l, note_drop, &d);
	put_key(l, 0);
	put_key(l, 1);
	assert_int_equal(d.n, 0);
	put_key(l, 2);			/* evicts k0 */
	assert_int_equal(d.n, 1);
	assert_int_equal(d.first[0], 'a');
	put_key(l, 1);			/* replaces k1's value */
	assert_int_equal(d.n, 2);
	assert_int_equal(d.first[1], 'b');
	lru_clear(l);			/* newest first: k1, k2 */
	assert_int_equal(d.n, 4);
	assert_int_equal(lru_count(l), 0);
	put_key(l, 3);
	lru_free(l);			/* k3 */
	assert_int_equal(d.n, 5);
	assert_memory_equal(d.first, "abbcd", 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_put_replace),
		cmocka_unit_test(bound_and_order),
		cmocka_unit_test(hot_key_stays),
		cmocka_unit_test(too_big_not_kept),
		cmocka_unit_test(drop_told),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
