/* test_traffic.c - traffic text: the forms accepted and rejected, the
 * canonical text, weighted and sticky routing, the seeded generator. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "traffic.h"

static void parse_ok(const char *text, struct traffic *t)
{
	struct mlfs_err err = { 0 };
	if (traffic_parse(text, strlen(text), t, &err))
		fail_msg("'%s' rejected: %s", text, err.msg);
}

static void expect_error(const char *text, const char *reason)
{
	struct traffic t;
	struct mlfs_err err = { 0 };
	assert_int_equal(traffic_parse(text, strlen(text), &t, &err), -EINVAL);
	if (!strstr(err.msg, reason))
		fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, reason);
}

static void ab_split_with_shadow(void **state)
{
	struct traffic t;
	parse_ok("churn@Production 80\n# a challenger\n\nchurn@4 shadow\n  churn@3 20  \r\n", &t);
	assert_int_equal(t.nroutes, 3);
	assert_int_equal(t.nserving, 2);
	assert_string_equal(t.routes[0].ref, "Production");
	assert_int_equal(t.routes[0].percent, 80);
	assert_string_equal(t.routes[1].ref, "3");
	assert_true(t.routes[2].shadow);
	struct buf b = { 0 };
	traffic_format(&t, &b);
	assert_string_equal(b.data, "churn@Production 80\nchurn@3 20\nchurn@4 shadow\n");
	buf_free(&b);
}

static void empty_is_no_traffic(void **state)
{
	struct traffic t;
	parse_ok("", &t);
	assert_int_equal(t.nroutes, 0);
	assert_int_equal(traffic_pick(&t, 0.5), -1);
}

static void bad_traffic(void **state)
{
	expect_error("churn@1 60\nchurn@2 30\n", "sum to 90, not 100");
	expect_error("churn@1 100\nchurn@2 10\n", "sum to 110");
	expect_error("churn 100\n", "line 1: 'churn' is not MODEL@REF");
	expect_error("churn@1@2 100\n", "not MODEL@REF");
	expect_error("churn@1\n", "line 1: expected");
	expect_error("churn@1 100 extra\n", "line 1: expected");
	expect_error("churn@1 50%\n", "not a whole percent");
	expect_error("churn@1 -5\n", "not a whole percent");
	expect_error("churn@1 101\n", "not a whole percent");
	expect_error("ch/urn@1 100\n", "must be names");
	expect_error("churn@1 50\nchurn@1 50\n", "line 2: churn@1 is named twice");
	expect_error("churn@1 shadow\n", "no serving line");
}

static void weighted_pick(void **state)
{
	struct traffic t;
	parse_ok("m@1 80\nm@2 20\nm@3 shadow\n", &t);
	assert_int_equal(traffic_pick(&t, 0.0), 0);
	assert_int_equal(traffic_pick(&t, 0.7999), 0);
	assert_int_equal(traffic_pick(&t, 0.80), 1);
	assert_int_equal(traffic_pick(&t, 0.9999), 1);
	/* 100,000 draws from the seeded generator land near 80/20. */
	struct traffic_rng g;
	traffic_rng_seed(&g, 42);
	size_t count[2] = { 0 };
	for (int i = 0; i < 100000; i++) {
		double u = traffic_rng_next(&g);
		assert_true(u >= 0.0 && u < 1.0);
		count[traffic_pick(&t, u)]++;
	}
	assert_in_range(count[0], 79000, 81000);
	/* The same seed gives the same sequence. */
	struct traffic_rng a, b;
	traffic_rng_seed(&a, 7);
	traffic_rng_seed(&b, 7);
	for (int i = 0; i < 100; i++)
		assert_true(traffic_rng_next(&a) == traffic_rng_next(&b));
}

static void sticky_pick(void **state)
{
	struct traffic t;
	parse_ok("m@1 50\nm@2 50\n", &t);
	size_t count[2] = { 0 };
	char key[32];
	for (int i = 0; i < 10000; i++) {
		int n = snprintf(key, sizeof(key), "%d", i);
		long first = traffic_pick_sticky(&t, key, (size_t)n);
		assert_int_equal(traffic_pick_sticky(&t, key, (size_t)n), first);
		count[first]++;
	}
	/* Consecutive ids spread over both versions. */
	assert_in_range(count[0], 4700, 5300);
}

/* A text still arriving line by line may sum to less than 100; what can
 * never become valid is refused already. */
static void partial_traffic(void **state)
{
	struct traffic t;
	struct mlfs_err err = { 0 };
	const char *ok[] = { "m@1 80\n", "m@2 shadow\n", "m@1 80\nm@2 20\n", "" };
	const char *bad[] = { "m@1 80\nm@2 30\n", "m@1 x\n", "m@1 10\nm@1 10\n" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		assert_int_equal(traffic_parse_partial(ok[i], strlen(ok[i]), &t, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(traffic_parse_partial(bad[i], strlen(bad[i]), &t, &err), -EINVAL);
	assert_int_equal(traffic_parse("m@1 80\n", 7, &t, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ab_split_with_shadow),
		cmocka_unit_test(empty_is_no_traffic),
		cmocka_unit_test(bad_traffic),
		cmocka_unit_test(partial_traffic),
		cmocka_unit_test(weighted_pick),
		cmocka_unit_test(sticky_pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
