/* test_spec.c - YAML specs: the node tree with positions, the extractors
 * and pipeline.yaml, with errors naming line and column. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spec.h"

static const char seed_pipeline[] =
	"source: orders                # a table under /tables\n"
	"key: customer_id              # group by\n"
	"as_of: 2026-11-27\n"
	"features:\n"
	"  total_orders: count(order_id)\n"
	"  spent_30d: \"sum(amount) where order_date >= as_of - 30d\"\n"
	"  multi: >\n"
	"    sum(amount)\n"
	"    / count(*)\n";

static void test_tree_positions(void **state)
{
	struct spec_doc *d;
	struct mlfs_err err = { 0 };
	assert_int_equal(spec_parse_yaml(seed_pipeline, strlen(seed_pipeline), &d, &err), 0);
	const struct spec_node *root = spec_doc_root(d);
	assert_int_equal(root->kind, SPEC_MAP);
	assert_int_equal(root->n, 4);
	const struct spec_node *src = spec_map_get(root, "source");
	assert_string_equal(src->str, "orders");
	assert_int_equal(src->line, 1);
	assert_int_equal(src->col, 9);
	const struct spec_node *f = spec_map_get(root, "features");
	assert_int_equal(f->kind, SPEC_MAP);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->kids[0]->str, "total_orders");
	assert_int_equal(f->kids[1]->line, 5);
	assert_int_equal(f->kids[1]->col, 17);
	assert_true(f->kids[3]->quoted);
	assert_true(f->kids[3]->exact);
	assert_true(f->kids[5]->block);
	assert_false(f->kids[5]->exact);
	assert_null(spec_map_get(root, "nope"));
	spec_doc_free(d);

	/* Lists and flow style. */
	const char *t = "a: [x, y]\nb:\n  - 1\n  - 2\n";
	assert_int_equal(spec_parse_yaml(t, strlen(t), &d, &err), 0);
	char **list;
	size_t n;
	assert_int_equal(spec_str_list(spec_map_get(spec_doc_root(d), "a"), "a", &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1], "y");
	free(list);
	assert_int_equal(spec_str_list(spec_map_get(spec_doc_root(d), "b"), "b", &list, &n, &err), 0);
	assert_string_equal(list[0], "1");
	free(list);
	spec_doc_free(d);

	/* Empty document: no root. */
	assert_int_equal(spec_parse_yaml("", 0, &d, &err), 0);
	assert_null(spec_doc_root(d));
	spec_doc_free(d);
}

static void expect_yaml_error(const char *text, const char *msg)
{
	struct spec_doc *d = NULL;
	struct mlfs_err err = { 0 };
	int rc = spec_parse_yaml(text, strlen(text), &d, &err);
	if (rc == 0)
		fail_msg("'%s' parsed", text);
	if (!strstr(err.msg, msg))
		fail_msg("'%s': '%s' lacks '%s'", text, err.msg, msg);
}

static void test_yaml_errors(void **state)
{
	expect_yaml_error("a: 1\na: 2\n", "line 2, column 1: duplicate key 'a' (first on line 1)");
	expect_yaml_error("a: &x 1\nb: *x\n", "line 2, column 4: aliases");
	expect_yaml_error("a: [1, 2\n", "line 2");
	expect_yaml_error("a: b: c\n", "line 1, column 5");
	expect_yaml_error("a: 1\n---\nb: 2\n", "only one YAML document");
	expect_yaml_error("? [a]\n: 1\n", "a map key must be a plain value");
	/* Depth limit. */
	char deep[400];
	memset(deep, '[', 100);
	deep[100] = '\0';
	expect_yaml_error(deep, "nesting deeper than");
	/* Size limit. */
	struct spec_doc *d;
	struct mlfs_err err = { 0 };
	char *big = calloc(1, SPEC_MAX_BYTES + 2);
	memset(big, '#', SPEC_MAX_BYTES + 1);
	assert_int_equal(spec_parse_yaml(big, SPEC_MAX_BYTES + 1, &d, &err), -EFBIG);
	free(big);
}

static void test_pipeline_spec(void **state)
{
	struct pipeline_spec *p;
	struct mlfs_err err = { 0 };
	assert_int_equal(spec_parse_pipeline(seed_pipeline, strlen(seed_pipeline), &p, &err), 0);
	assert_string_equal(p->source, "orders");
	assert_int_equal(p->nkeys, 1);
	assert_string_equal(p->keys[0], "customer_id");
	assert_true(p->has_as_of && p->as_of_is_date);
	assert_int_equal(p->as_of_us, 20784LL * 86400000000LL);	/* 2026-11-27 */
	assert_int_equal(p->nfeatures, 3);
	assert_string_equal(p->features[0].name, "total_orders");
	assert_string_equal(p->features[0].expr, "count(order_id)");
	assert_int_equal(p->features[0].line, 5);
	assert_int_equal(p->features[0].col, 17);
	assert_true(p->features[0].exact_cols);
	/* Quoted: the column of the text inside the quotes. */
	assert_int_equal(p->features[1].col, 15);
	assert_true(p->features[1].exact_cols);
	assert_false(p->features[2].exact_cols);
	assert_string_equal(p->features[2].expr, "sum(amount) / count(*)\n");
	pipeline_spec_free(p);

	const char *comp = "source: t\nkey: [a, b]\ntimestamp: day\nas_of: 2026-01-01T12:00:00Z\nfeatures: {n: count(*)}\n";
	assert_int_equal(spec_parse_pipeline(comp, strlen(comp), &p, &err), 0);
	assert_string_equal(p->timestamp, "day");
	assert_int_equal(p->ts_line, 3);
	assert_int_equal(p->ts_col, 12);
	assert_int_equal(p->nkeys, 2);
	assert_string_equal(p->keys[1], "b");
	assert_false(p->as_of_is_date);
	pipeline_spec_free(p);
}

static void expect_pipeline_error(const char *text, const char *msg)
{
	struct pipeline_spec *p = NULL;
	struct mlfs_err err = { 0 };
	int rc = spec_parse_pipeline(text, strlen(text), &p, &err);
	if (rc == 0)
		fail_msg("'%s' accepted", text);
	assert_int_equal(rc, -EINVAL);
	assert_null(p);
	if (!strstr(err.msg, msg))
		fail_msg("'%s': '%s' lacks '%s'", text, err.msg, msg);
}

static void test_pipeline_spec_errors(void **state)
{
	expect_pipeline_error("- a\n", "line 1, column 1: pipeline.yaml must be a map");
	expect_pipeline_error("key: a\nfeatures: {n: count(*)}\n", "'source' is missing");
	expect_pipeline_error("source: t\nfeatures: {n: count(*)}\n", "'key' is missing");
	expect_pipeline_error("source: t\nkey: a\n", "'features' is missing");
	expect_pipeline_error("source: t\nkey: a\nfeatures: {n: count(*)}\nextra: 1\n",
			      "line 4, column 1: unknown key 'extra' in pipeline.yaml");
	expect_pipeline_error("source: [t]\nkey: a\nfeatures: {n: count(*)}\n",
			      "line 1, column 9: source must be a single value");
	expect_pipeline_error("source: t\nkey: []\nfeatures: {n: count(*)}\n",
			      "line 2, column 6: key is an empty list");
	expect_pipeline_error("source: t\nkey: [a, a]\nfeatures: {n: count(*)}\n", "named twice");
	expect_pipeline_error("source: t\nkey: a\nas_of: soon\nfeatures: {n: count(*)}\n",
			      "line 3, column 8: as_of 'soon' is not a date");
	expect_pipeline_error("source: t\nkey: a\nfeatures:\n  1bad: count(*)\n",
			      "line 4, column 3: feature name '1bad'");
	expect_pipeline_error("source: t\nkey: a\nfeatures:\n  n:\n", "line 4, column 5: feature 'n' needs an expression");
	expect_pipeline_error("source: t\nkey: a\nfeatures:\n  n: [1]\n", "line 4, column 6: feature 'n' needs an expression");
	expect_pipeline_error("source:\nkey: a\nfeatures: {n: count(*)}\n", "source is empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_positions),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_pipeline_spec),
		cmocka_unit_test(test_pipeline_spec_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
