/* test_par.c - the thread pool: every index called exactly once, ranges
 * that cover [0, n) exactly, work spread over the pool's threads, nested
 * calls that run serially instead of deadlocking, two threads calling one
 * pool at once, a call that does not wait for a busy pool, many calls in a
 * row, the process-wide pool. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "par.h"

static const size_t sizes[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 1000, 4097 };
static const int pool_sizes[] = { 1, 2, 3, 5, 8 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NPOOLS (sizeof(pool_sizes) / sizeof(pool_sizes[0]))

struct counts {
	size_t n;
	int *hits;		/* atomic: calls per index */
};

static void count_one(void *arg, size_t i)
{
	struct counts *c = arg;
	assert_true(i < c->n);
	__atomic_add_fetch(&c->hits[i], 1, __ATOMIC_RELAXED);
}

static void check_each_once(struct par_pool *p, size_t n)
{
	struct counts c = { n, calloc(n + 1, sizeof(int)) };
	par_for(p, n, count_one, &c);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(c.hits[i], 1);
	free(c.hits);
}

static void test_each_index_once(void **state)
{
	(void)state;
	for (size_t k = 0; k < NPOOLS; k++) {
		struct par_pool *p = par_pool_new(pool_sizes[k]);
		assert_int_equal(par_threads(p), pool_sizes[k]);
		for (size_t s = 0; s < NSIZES; s++)
			check_each_once(p, sizes[s]);
		par_pool_free(p);
	}
	check_each_once(NULL, 100);	/* NULL: serial */
}

struct ranges {
	size_t n;
	int nthreads;
	int *hits;		/* atomic: calls per index */
	int *calls;		/* atomic: calls per thread index */
	size_t *lo, *hi;	/* per thread index */
};

static void record_range(void *arg, int t, size_t lo, size_t hi)
{
	struct ranges *r = arg;
	assert_true(t >= 0 && t < r->nthreads);
	assert_true(lo < hi && hi <= r->n);
	__atomic_add_fetch(&r->calls[t], 1, __ATOMIC_RELAXED);
	r->lo[t] = lo;
	r->hi[t] = hi;
	for (size_t i = lo; i < hi; i++)
		__atomic_add_fetch(&r->hits[i], 1, __ATOMIC_RELAXED);
}

static void check_ranges(struct par_pool *p, size_t n)
{
	int nt = par_threads(p);
	struct ranges r = { n, nt, calloc(n + 1, sizeof(int)),
			    calloc((size_t)nt, sizeof(int)),
			    calloc((size_t)nt, sizeof(size_t)),
			    calloc((size_t)nt, sizeof(size_t)) };
	par_range(p, n, record_range, &r);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r.hits[i], 1);
	/* Contiguous, in thread order, lengths within one of each other. */
	size_t next = 0, shortest = SIZE_MAX, longest = 0;
	for (int t = 0; t < nt; t++) {
		assert_true(r.calls[t] <= 1);
		if (!r.calls[t])
			continue;
		assert_int_equal(r.lo[t], next);
		next = r.hi[t];
		size_t len = r.hi[t] - r.lo[t];
		shortest = len < shortest ? len : shortest;
		longest = len > longest ? len : longest;
	}
	assert_int_equal(next, n);
	if (n >= (size_t)nt)
		assert_true(longest - shortest <= 1);
	free(r.hits);
	free(r.calls);
	free(r.lo);
	free(r.hi);
}

static void test_range_covers_exactly(void **state)
{
	(void)state;
	for (size_t k = 0; k < NPOOLS; k++) {
		struct par_pool *p = par_pool_new(pool_sizes[k]);
		for (size_t s = 0; s < NSIZES; s++)
			check_ranges(p, sizes[s]);
		par_pool_free(p);
	}
}

/* Each item waits until every item started: passes only when the items
 * run on as many threads at once. */
struct barrier_probe {
	pthread_barrier_t barrier;
	pthread_t who[4];
};

static void meet(void *arg, size_t i)
{
	struct barrier_probe *b = arg;
	b->who[i] = pthread_self();
	pthread_barrier_wait(&b->barrier);
}

static void test_items_run_on_all_threads(void **state)
{
	(void)state;
	struct par_pool *p = par_pool_new(4);
	struct barrier_probe b;
	pthread_barrier_init(&b.barrier, NULL, 4);
	par_for(p, 4, meet, &b);
	pthread_barrier_destroy(&b.barrier);
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			assert_false(pthread_equal(b.who[i], b.who[j]));
	par_pool_free(p);
}

struct nested {
	struct par_pool *p;
	int total;		/* atomic */
	int inline_calls;	/* atomic: inner items run in the outer thread */
};

struct inner {
	struct nested *outer;
	pthread_t caller;
};

static void inner_item(void *arg, size_t i)
{
	struct inner *in = arg;
	(void)i;
	__atomic_add_fetch(&in->outer->total, 1, __ATOMIC_RELAXED);
	if (pthread_equal(in->caller, pthread_self()))
		__atomic_add_fetch(&in->outer->inline_calls, 1, __ATOMIC_RELAXED);
}

static void inner_range(void *arg, int t, size_t lo, size_t hi)
{
	assert_int_equal(t, 0);
	for (size_t i = lo; i < hi; i++)
		inner_item(arg, i);
}

static void outer_item(void *arg, size_t i)
{
	struct nested *n = arg;
	struct inner in = { n, pthread_self() };
	if (i % 2)
		par_for(n->p, 50, inner_item, &in);
	else
		par_range(n->p, 50, inner_range, &in);
}

static void test_nested_runs_serially(void **state)
{
	(void)state;
	struct par_pool *p = par_pool_new(3);
	struct nested n = { p, 0, 0 };
	par_for(p, 16, outer_item, &n);
	assert_int_equal(n.total, 16 * 50);
	assert_int_equal(n.inline_calls, 16 * 50);
	par_pool_free(p);
}

struct submitter {
	struct par_pool *p;
	int rounds;
	int failures;
};

static void *submit_many(void *arg)
{
	struct submitter *s = arg;
	for (int r = 0; r < s->rounds; r++) {
		size_t n = 1 + (size_t)(r * 37 % 200);
		struct counts c = { n, calloc(n, sizeof(int)) };
		par_for(s->p, n, count_one, &c);
		for (size_t i = 0; i < n; i++)
			s->failures += c.hits[i] != 1;
		free(c.hits);
	}
	return NULL;
}

static void test_two_callers_at_once(void **state)
{
	(void)state;
	struct par_pool *p = par_pool_new(3);
	struct submitter s[3] = { { p, 300, 0 }, { p, 300, 0 }, { p, 300, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, submit_many, &s[i]), 0);
	submit_many(&s[2]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(s[i].failures, 0);
	par_pool_free(p);
}

/* Items that hold the pool until released. */
struct holder {
	struct par_pool *p;
	int started;		/* atomic */
	int release;		/* atomic */
};

static void hold(void *arg, size_t i)
{
	struct holder *h = arg;
	(void)i;
	__atomic_add_fetch(&h->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&h->release, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static void *hold_pool(void *arg)
{
	struct holder *h = arg;
	par_for(h->p, (size_t)par_threads(h->p), hold, h);
	return NULL;
}

static void test_busy_pool_runs_call_alone(void **state)
{
	(void)state;
	struct holder h = { par_pool_new(2), 0, 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_pool, &h), 0);
	while (__atomic_load_n(&h.started, __ATOMIC_ACQUIRE) < 2)
		usleep(1000);
	/* Every thread of the pool is held: this call must not wait. */
	struct inner in = { &(struct nested){ h.p, 0, 0 }, pthread_self() };
	par_for(h.p, 100, inner_item, &in);
	assert_int_equal(in.outer->total, 100);
	assert_int_equal(in.outer->inline_calls, 100);
	__atomic_store_n(&h.release, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	par_pool_free(h.p);
}

static void add_index(void *arg, size_t i)
{
	__atomic_add_fetch((uint64_t *)arg, i + 1, __ATOMIC_RELAXED);
}

static void test_many_calls(void **state)
{
	(void)state;
	struct par_pool *p = par_pool_new(4);
	uint64_t sum = 0, want = 0;
	for (size_t r = 0; r < 20000; r++) {
		size_t n = r % 9;
		par_for(p, n, add_index, &sum);
		want += n * (n + 1) / 2;
	}
	assert_int_equal(sum, want);
	par_pool_free(p);
	par_pool_free(NULL);
}

/* The only test that touches par_default: MLFS_THREADS is read once. */
static void test_default_pool(void **state)
{
	(void)state;
	setenv("MLFS_THREADS", "3", 1);
	struct par_pool *p = par_default();
	assert_non_null(p);
	assert_ptr_equal(par_default(), p);
	assert_int_equal(par_threads(p), 3);
	check_each_once(p, 1000);

	struct par_pool *cpus = par_pool_new(0);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(par_threads(cpus), online > 0 ? (int)online : 1);
	par_pool_free(cpus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_index_once),
		cmocka_unit_test(test_range_covers_exactly),
		cmocka_unit_test(test_items_run_on_all_threads),
		cmocka_unit_test(test_nested_runs_serially),
		cmocka_unit_test(test_two_callers_at_once),
		cmocka_unit_test(test_busy_pool_runs_call_alone),
		cmocka_unit_test(test_many_calls),
		cmocka_unit_test(test_default_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
