/* test_scans.c - the scans that read a table's columnar form instead of
 * its CSV text give what the text gives: a drift monitor's profiles,
 * drift lines and counts over a table source, and batch scoring's output
 * table byte for byte, on random tables (every type, nulls, a quoted
 * multi-line field) with appends and replaces between scans, and where
 * the form cannot stand for the text (ints written "+7"), the text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "columnar.h"
#include "monitor.h"
#include "registry.h"
#include "table.h"
#include "store_fixture.h"
#include "data_fixture.h"
#include "model_fixture.h"
#include "random_table.h"

#define TEXT_ONLY ((size_t)1 << 40)

static struct store *st(void **state)
{
	return ((struct store_fixture *)*state)->s;
}

static int setup(void **state)
{
	*state = store_fixture_open();
	return 0;
}

static int teardown(void **state)
{
	columnar_scan_min_bytes = 1u << 20;
	store_fixture_close(*state);
	return 0;
}

static void put(struct store *s, const char *name, bool replace, const struct buf *b)
{
	struct table_writer *w;
	struct mlfs_err err = { 0 };
	assert_int_equal(table_writer_open(s, name, replace, &w, &err), 0);
	assert_int_equal(table_writer_write(w, b->data, b->len, &err), 0);
	if (table_writer_commit(w, true, &err))
		fail_msg("commit: %s", err.msg);
	table_writer_free(w);
}

/* ROWS random rows into table NAME (a replace with the header, or an
 * append), and a row with an int written "+7" when PLUS. */
static void put_random(struct store *s, const char *name, unsigned *seed, int rows,
		       bool replace, bool plus)
{
	struct buf b = { 0 };
	random_rows(&b, seed, rows, replace);
	if (plus)
		buf_puts(&b, "+7,1.5,s1,2026-02-03,true,2026-01-05T10:00:00Z\n");
	put(s, name, replace, &b);
	buf_free(&b);
}

/* ---- a drift monitor over a table source ---- */

static void refresh(struct store *s, const char *name, size_t min_bytes)
{
	struct mlfs_err err = { 0 };
	columnar_scan_min_bytes = min_bytes;
	if (monitor_refresh(s, name, false, &err))
		fail_msg("refresh %s: %s", name, err.msg);
	columnar_scan_min_bytes = 1u << 20;
}

/* The report without its first line and the refresh times. */
static void report_counts(struct store *s, const char *name, struct buf *out)
{
	struct buf r = { 0 };
	assert_int_equal(monitor_report(s, name, &r), 0);
	buf_reset(out);
	for (const char *p = r.data; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (!strncmp(p, "rows_", 5) || !strncmp(p, "windows", 7))
			buf_append(out, p, len);
		p += len;
	}
	buf_free(&r);
}

/* Monitors "txt" (text) and "col" (form) say the same, to the byte. */
static void assert_monitors_agree(struct store *s, bool form_read)
{
	struct buf a = { 0 }, b = { 0 };
	unsigned long before = columnar_test_chunks_read;
	refresh(s, "txt", TEXT_ONLY);
	assert_int_equal(columnar_test_chunks_read, before);
	refresh(s, "col", 0);
	if (form_read)
		assert_true(columnar_test_chunks_read > before);
	else
		assert_int_equal(columnar_test_chunks_read, before);
	report_counts(s, "txt", &a);
	report_counts(s, "col", &b);
	assert_non_null(strstr(a.data, "rows_in "));
	assert_string_equal(a.data, b.data);
	buf_reset(&a);
	buf_reset(&b);
	assert_int_equal(monitor_profile_csv(s, "txt", &a), 0);
	assert_int_equal(monitor_profile_csv(s, "col", &b), 0);
	assert_true(a.len > 1000);
	assert_string_equal(a.data, b.data);
	buf_reset(&a);
	buf_reset(&b);
	assert_int_equal(monitor_drift_csv(s, "txt", &a), 0);
	assert_int_equal(monitor_drift_csv(s, "col", &b), 0);
	assert_string_equal(a.data, b.data);
	buf_free(&a);
	buf_free(&b);
}

static void test_monitor_form_equals_text(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	unsigned seed = 11;
	assert_int_equal(table_create(s, "t", NULL), 0);
	assert_int_equal(table_create(s, "base", NULL), 0);
	put_random(s, "t", &seed, 140000, true, false);
	put_random(s, "base", &seed, 70000, true, false);
	const char *spec = "source: table:t\ntimestamp: ts\nbaseline: table:base\nslice_by: [d]\n";
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "col" : "txt";
		assert_int_equal(monitor_create(s, name, 0, 0, 0755, NULL, NULL), 0);
		if (monitor_spec_set(s, name, spec, strlen(spec), true, &err))
			fail_msg("monitor.yaml: %s", err.msg);
	}
	assert_monitors_agree(s, true);
	/* appended rows: the text of those, from the cursor the form left */
	put_random(s, "t", &seed, 2500, false, false);
	assert_monitors_agree(s, false);
	put_random(s, "t", &seed, 70000, false, false);
	assert_monitors_agree(s, false);
	/* a replace is read from the start: through the form again */
	put_random(s, "t", &seed, 90000, true, false);
	assert_monitors_agree(s, true);
	/* "+7" is not the int's text: the text is read */
	put_random(s, "t", &seed, 80000, true, true);
	assert_monitors_agree(s, false);
}

/* ---- batch scoring of a table ---- */

/* Table NAME's rows without each line's last field (the scoring time). */
static void scored_rows(struct store *s, const char *name, struct buf *out)
{
	struct table_reader *r = NULL;
	struct mlfs_err err = { 0 };
	assert_int_equal(table_reader_open(s, name, &r, &err), 0);
	size_t size = table_reader_size(r);
	char *text = calloc(1, size + 1);
	assert_int_equal(table_reader_read(r, text, size, 0, &err), (long)size);
	table_reader_free(r);
	buf_reset(out);
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char *comma = nl;
		while (comma > p && *comma != ',')
			comma--;
		buf_append(out, p, (size_t)(comma - p));
		buf_putc(out, '\n');
		p = nl + 1;
	}
	free(text);
}

/* Scoring "t" with the text and with the form writes the same rows. */
static void assert_scorings_agree(struct store *s, bool form_read)
{
	struct buf a = { 0 }, b = { 0 };
	struct mlfs_err err = { 0 };
	uint64_t na = 0, nb = 0;
	unsigned long before = columnar_test_chunks_read;
	columnar_scan_min_bytes = TEXT_ONLY;
	if (batch_score_table(s, "m", 1, "t", "p_txt", &na, &err))
		fail_msg("text scoring: %s", err.msg);
	assert_int_equal(columnar_test_chunks_read, before);
	columnar_scan_min_bytes = 0;
	if (batch_score_table(s, "m", 1, "t", "p_col", &nb, &err))
		fail_msg("form scoring: %s", err.msg);
	columnar_scan_min_bytes = 1u << 20;
	if (form_read)
		assert_true(columnar_test_chunks_read > before);
	else
		assert_int_equal(columnar_test_chunks_read, before);
	assert_int_equal(na, nb);
	scored_rows(s, "p_txt", &a);
	scored_rows(s, "p_col", &b);
	assert_true(a.len > na * 10);
	assert_string_equal(a.data, b.data);
	buf_free(&a);
	buf_free(&b);
}

/* Each row of the table scanned, and a label y from its first field. */
static int labelled_row(void *ctx, const struct csv_field *f, size_t n, uint64_t line,
			struct mlfs_err *err)
{
	struct buf *out = ctx;
	(void)err;
	for (size_t i = 0; i < n; i++) {
		csv_put_field(out, f[i].p, f[i].len);
		buf_putc(out, ',');
	}
	buf_puts(out, f[0].len && f[0].p[f[0].len - 1] % 3 == 0 ? "yes\n" : "no\n");
	(void)line;
	return 0;
}

static void test_batch_form_equals_text(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	unsigned seed = 5;
	uint64_t v;
	/* s -> g, for a lookup: the key column is echoed in the output */
	buf_puts(&b, "s,g\n");
	for (int i = 0; i < 1000; i += 2)
		buf_printf(&b, "s%d,%d\n", i, (i * 7) % 13);
	fixture_features_put(s, "fs", b.data);
	assert_int_equal(table_create(s, "raw", NULL), 0);
	put_random(s, "raw", &seed, 3000, true, false);
	buf_reset(&b);
	buf_puts(&b, "i,f,s,d,b,ts,y\n");
	assert_int_equal(table_scan(s, "raw", labelled_row, &b, NULL), 0);
	fixture_table_put(s, "lt", b.data);
	assert_int_equal(tracking_experiment_create(s, "e", NULL), 0);
	fixture_trained_run(s, "e", "r1",
			    "labels: lt\nlabel: y\n"
			    "features:\n  - table: fs\n    lookup_key: s\n"
			    "exclude: [s, ts]\n"
			    "params: {n_estimators: 5, max_depth: 5, seed: 1}\n");
	assert_int_equal(registry_model_create(s, "m", 0, 0, 0755, NULL, NULL), 0);
	assert_int_equal(registry_register(s, "m", "e", "r1", 0, &v, &err), 0);
	assert_int_equal(table_create(s, "t", NULL), 0);
	put_random(s, "t", &seed, 140000, true, false);
	assert_scorings_agree(s, true);
	put_random(s, "t", &seed, 3000, false, false);
	assert_scorings_agree(s, true);
	put_random(s, "t", &seed, 20000, true, true);
	assert_scorings_agree(s, false);
	buf_free(&b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_monitor_form_equals_text),
		T(test_batch_form_equals_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
