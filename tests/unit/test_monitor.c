/* test_monitor.c - drift monitors on a store: monitor.yaml refusals with
 * line and column, a table source split into daily windows whose
 * profile.csv numbers are worked out here from the rows written, an
 * incremental refresh that recomputes only the new window, alerts that
 * do not repeat, a replaced table read again, an endpoint's log against
 * a registered version's training profile (a shifted feature goes HIGH,
 * the others stay LOW, also after the run is deleted), labels giving
 * performance.csv, and the scheduler's once-per-granularity. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "endpoint.h"
#include "monitor.h"
#include "registry.h"
#include "table.h"
#include "store_fixture.h"
#include "owner_fixture.h"
#include "data_fixture.h"
#include "model_fixture.h"

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
	store_fixture_close(*state);
	return 0;
}

static void spec(struct store *s, const char *name, const char *text)
{
	struct mlfs_err err = { 0 };
	if (monitor_spec_set(s, name, text, strlen(text), true, &err))
		fail_msg("monitor.yaml: %s", err.msg);
}

static void refresh(struct store *s, const char *name, bool full)
{
	struct mlfs_err err = { 0 };
	if (monitor_refresh(s, name, full, &err))
		fail_msg("refresh: %s", err.msg);
}

/* The number after "KEY " in the report of NAME. */
static long report_value(struct store *s, const char *name, const char *key)
{
	struct buf r = { 0 };
	char want[64];
	assert_int_equal(monitor_report(s, name, &r), 0);
	snprintf(want, sizeof(want), "\n%s ", key);
	const char *p = strstr(r.data, want);
	if (!p)
		fail_msg("no %s in the report:\n%s", key, r.data);
	long v = strtol(p + strlen(want), NULL, 10);
	buf_free(&r);
	return v;
}

static size_t count_lines(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The start of the first line of TEXT holding NEEDLE. */
static const char *line_with(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	if (!p)
		fail_msg("no line with %s in\n%s", needle, text);
	while (p > text && p[-1] != '\n')
		p--;
	return p;
}

/* Field F (0-based) of the first line of TEXT holding NEEDLE. */
static double field_of(const char *text, const char *needle, int f)
{
	const char *p = line_with(text, needle);
	for (int i = 0; i < f; i++)
		p = strchr(p, ',') + 1;
	return strtod(p, NULL);
}

static const char *level_of(const char *text, const char *prefix)
{
	static char level[16];
	const char *p = line_with(text, prefix);
	for (int i = 0; i < 9; i++)
		p = strchr(p, ',') + 1;
	snprintf(level, sizeof(level), "%.*s", (int)strcspn(p, ","), p);
	return level;
}

/* ---- monitor.yaml ---- */

static void test_spec_refused(void **state)
{
	struct store *s = st(state);
	static const struct {
		const char *text, *where, *what;
	} bad[] = {
		{ "source: table:t\ntimestamp: ts\nbogus: 1\n", "line 3, column 1", "bogus" },
		{ "source: table:t\ntimestamp: ts\nmetrics: [psi, kl]\n", "line 3", "kl" },
		{ "source: table:t\ntimestamp: ts\ngranularity: 3x\n", "line 3, column 14", "granularity" },
		{ "source: table:t\ntimestamp: ts\nthresholds: {ks: {medium: 0.01, high: 0.05}}\n", "line 3", "p-value" },
		{ "source: table:nope\ntimestamp: ts\n", "line 1, column 9", "no table 'nope'" },
		{ "source: endpoint:nope\n", "line 1", "no endpoint 'nope'" },
		{ "source: table:t\n", "line 1", "timestamp is missing" },
		{ "source: table:t\ntimestamp: nope\n", "line 2", "no column 'nope'" },
		{ "source: table:t\ntimestamp: ts\nbaseline: model:m@Production\n", "line 3", "no model 'm'" },
		{ "source: table:t\ntimestamp: ts\npsi_bins: 1\n", "line 3", "psi_bins" },
		{ "- a\n- b\n", "line 1", "map" },
	};
	struct mlfs_err err;
	struct buf kept = { 0 };
	fixture_table_put(s, "t", "ts,x\n2026-12-01,1\n");
	assert_int_equal(monitor_create(s, "m", 0, 0, 0755, NULL, NULL), 0);
	assert_int_equal(monitor_create(s, "m", 0, 0, 0755, NULL, NULL), -EEXIST);
	assert_int_equal(monitor_create(s, "a/b", 0, 0, 0755, NULL, NULL), -EINVAL);
	spec(s, "m", "source: table:t\ntimestamp: ts\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		int rc = monitor_spec_set(s, "m", bad[i].text, strlen(bad[i].text), true, &err);
		if (rc != -EINVAL || !strstr(err.msg, bad[i].where) || !strstr(err.msg, bad[i].what))
			fail_msg("case %zu: %d '%s'", i, rc, err.msg);
		/* the same at write(), the text being whole lines */
		memset(&err, 0, sizeof(err));
		rc = monitor_spec_set(s, "m", bad[i].text, strlen(bad[i].text), false, &err);
		if (!strstr(bad[i].what, "missing") && rc != -EINVAL)
			fail_msg("case %zu at write: %d '%s'", i, rc, err.msg);
	}
	/* nothing half-applied */
	assert_int_equal(monitor_spec_get(s, "m", &kept), 0);
	assert_string_equal(kept.data, "source: table:t\ntimestamp: ts\n");
	/* a text still arriving: a key without its value yet is fine */
	assert_int_equal(monitor_spec_set(s, "m", "source: table:t\nthresholds:\n", 28, false, NULL), 0);
	buf_free(&kept);
}

/* ---- a table source ---- */

/* Day D (1-based, December 2026) of the table: N rows, x = shift + i % 10,
 * segment A or B, category c = p/q. */
static void day_rows(struct buf *b, int d, int n, double shift_a, double shift_b)
{
	for (int i = 0; i < n; i++) {
		bool a = i % 2;
		buf_printf(b, "2026-12-%02dT%02d:%02d:00Z,%s,%g,%s\n", d, i % 24, i % 60, a ? "A" : "B",
			   (a ? shift_a : shift_b) + i % 10, i % 3 ? "p" : "q");
	}
}

static void test_table_windows_incremental(void **state)
{
	struct store *s = st(state);
	struct buf t = { 0 }, base = { 0 }, prof = { 0 }, drift = { 0 }, drift2 = { 0 }, alerts = { 0 };
	struct mlfs_err err = { 0 };
	buf_puts(&t, "ts,segment,x,c\n");
	buf_puts(&base, "ts,segment,x,c\n");
	for (int d = 1; d <= 5; d++)
		day_rows(&t, d, 100, 0, 0);
	day_rows(&base, 1, 1000, 0, 0);
	fixture_table_put(s, "events", t.data);
	fixture_table_put(s, "train", base.data);
	assert_int_equal(monitor_create(s, "mon", 0, 0, 0755, NULL, NULL), 0);
	spec(s, "mon", "source: table:events\ntimestamp: ts\nbaseline: table:train\nslice_by: [segment]\n");
	refresh(s, "mon", false);
	assert_int_equal(report_value(s, "mon", "rows_in"), 500);
	assert_int_equal(report_value(s, "mon", "windows"), 5);
	assert_int_equal(report_value(s, "mon", "windows_computed"), 5);
	assert_int_equal(monitor_profile_csv(s, "mon", &prof), 0);
	/* 5 windows x (whole + A + B) x 2 columns */
	assert_int_equal(count_lines(prof.data, "\n2026-12-"), 30);
	/* day 1, whole data, x: values 0..9 ten times each */
	const char *row = "2026-12-01T00:00:00Z,2026-12-02T00:00:00Z,,,,,x,numeric,";
	assert_float_equal(field_of(prof.data, row, 8), 100, 0);
	assert_float_equal(field_of(prof.data, row, 9), 0, 0);
	assert_float_equal(field_of(prof.data, row, 10), 4.5, 1e-12);
	assert_float_equal(field_of(prof.data, row, 11), sqrt(8.25), 1e-12);
	assert_float_equal(field_of(prof.data, row, 12), 0, 0);
	assert_float_equal(field_of(prof.data, row, 14), 4.5, 1e-12);
	assert_float_equal(field_of(prof.data, row, 16), 9, 0);
	assert_float_equal(field_of(prof.data, row, 17), 10, 0);
	/* same distribution as the baseline: LOW; consecutive from day 2 */
	assert_int_equal(monitor_drift_csv(s, "mon", &drift), 0);
	assert_string_equal(level_of(drift.data, "2026-12-03T00:00:00Z,2026-12-04T00:00:00Z,,,,,x,psi"), "LOW");
	assert_int_equal(count_lines(drift.data, "2026-12-01T00:00:00Z,2026-12-02T00:00:00Z,,,,,x,psi,"), 1);
	assert_int_equal(count_lines(drift.data, "2026-12-02T00:00:00Z,2026-12-03T00:00:00Z,,,,,x,psi,"), 2);
	assert_int_equal(monitor_alerts_csv(s, "mon", &alerts), 0);
	assert_int_equal(count_lines(alerts.data, "\n"), 1);	/* the header */

	/* day 6: segment A shifted far, B not */
	struct table_writer *w;
	struct buf more = { 0 };
	day_rows(&more, 6, 100, 50, 0);
	assert_int_equal(table_writer_open(s, "events", false, &w, &err), 0);
	assert_int_equal(table_writer_write(w, more.data, more.len, &err), 0);
	assert_int_equal(table_writer_commit(w, true, &err), 0);
	table_writer_free(w);
	refresh(s, "mon", false);
	assert_int_equal(report_value(s, "mon", "rows_in"), 100);
	assert_int_equal(report_value(s, "mon", "windows"), 6);
	assert_int_equal(report_value(s, "mon", "windows_computed"), 1);
	assert_int_equal(monitor_drift_csv(s, "mon", &drift2), 0);
	/* the first five windows' lines are unchanged */
	assert_memory_equal(drift.data, drift2.data, drift.len);
	const char *d6 = "2026-12-06T00:00:00Z,2026-12-07T00:00:00Z,segment,";
	char line[200];
	snprintf(line, sizeof(line), "%sA,,,x,psi", d6);
	assert_string_equal(level_of(drift2.data, line), "HIGH");
	snprintf(line, sizeof(line), "%sB,,,x,psi", d6);
	assert_string_equal(level_of(drift2.data, line), "LOW");
	snprintf(line, sizeof(line), "%sB,,,c,chi2_pvalue", d6);
	assert_string_equal(level_of(drift2.data, line), "LOW");
	assert_int_equal(monitor_alerts_csv(s, "mon", &alerts), 0);
	assert_true(count_lines(alerts.data, ",segment,A,,,x,psi,") == 1);
	assert_true(count_lines(alerts.data, ",segment,B,") == 0);
	size_t nalerts = count_lines(alerts.data, "\n");
	struct monitor_info mi;
	assert_int_equal(monitor_stat(s, "mon", &mi), 0);
	assert_int_equal(mi.high_batches, 1);

	/* nothing new: no window computed, no alert repeated; full: all */
	refresh(s, "mon", false);
	assert_int_equal(report_value(s, "mon", "windows_computed"), 0);
	refresh(s, "mon", true);
	assert_int_equal(report_value(s, "mon", "windows_computed"), 6);
	assert_int_equal(monitor_alerts_csv(s, "mon", &alerts), 0);
	assert_int_equal(count_lines(alerts.data, "\n"), nalerts);
	buf_reset(&drift);
	assert_int_equal(monitor_drift_csv(s, "mon", &drift), 0);
	assert_string_equal(drift.data, drift2.data);

	/* a replaced table is read again from its first row */
	buf_reset(&t);
	buf_puts(&t, "ts,segment,x,c\n");
	day_rows(&t, 9, 40, 0, 0);
	assert_int_equal(table_writer_open(s, "events", true, &w, &err), 0);
	assert_int_equal(table_writer_write(w, t.data, t.len, &err), 0);
	assert_int_equal(table_writer_commit(w, true, &err), 0);
	table_writer_free(w);
	refresh(s, "mon", false);
	assert_int_equal(report_value(s, "mon", "rows_in"), 40);
	assert_int_equal(report_value(s, "mon", "windows"), 1);

	/* survives a reopen; deleting drops everything */
	store_fixture_reopen(*state);
	s = st(state);
	buf_reset(&prof);
	assert_int_equal(monitor_profile_csv(s, "mon", &prof), 0);
	assert_int_equal(count_lines(prof.data, "\n2026-12-09"), 6);
	assert_int_equal(monitor_delete(s, "mon", NULL, NULL), 0);
	assert_int_equal(monitor_profile_csv(s, "mon", &prof), -ENOENT);
	buf_free(&t);
	buf_free(&base);
	buf_free(&prof);
	buf_free(&drift);
	buf_free(&drift2);
	buf_free(&alerts);
	buf_free(&more);
}

/* ---- an endpoint against a model's training profile ---- */

#define NKEYS 400

static int spent_of(int id)
{
	return (id * 37) % 100;
}

static void test_endpoint_against_training(void **state)
{
	struct store *s = st(state);
	struct buf feat = { 0 }, labels = { 0 }, req = { 0 }, out = { 0 }, drift = { 0 }, again = { 0 };
	struct mlfs_err err = { 0 };
	uint64_t v;
	buf_puts(&feat, "customer_id,spent,tenure\n");
	buf_puts(&labels, "customer_id,churn\n");
	for (int id = 1; id <= NKEYS; id++) {
		buf_printf(&feat, "%d,%d,%d\n", id, spent_of(id), id % 50);
		buf_printf(&labels, "%d,%d\n", id, spent_of(id) < 50);
	}
	fixture_features_put(s, "feat", feat.data);
	fixture_table_put(s, "labels", labels.data);
	assert_int_equal(tracking_experiment_create(s, "e", NULL), 0);
	fixture_trained_run(s, "e", "r1",
			    "labels: labels\nlabel: churn\n"
			    "features:\n  - table: feat\n    lookup_key: customer_id\n"
			    "exclude: [customer_id]\nparams: {n_estimators: 5, max_depth: 4, seed: 1}\n");
	assert_int_equal(registry_model_create(s, "m", 0, 0, 0755, NULL, NULL), 0);
	assert_int_equal(registry_register(s, "m", "e", "r1", 0, &v, &err), 0);
	assert_int_equal(registry_alias_set(s, "m", "Production", 1, 0, &err), 0);
	assert_int_equal(endpoint_create(s, "ep", 0, 0, 0755, NULL, &err), 0);
	assert_int_equal(endpoint_text_set(s, "ep", "traffic", "m@Production 100\n", 17, true, &err), 0);
	assert_int_equal(monitor_create(s, "mon", 0, 0, 0755, NULL, NULL), 0);
	spec(s, "mon", "source: endpoint:ep\nbaseline: model:m@Production\ngranularity: 1d\n"
		       "labels: {table: labels, key: customer_id, label: churn}\n");

	/* unshifted: every key looked up as trained */
	buf_puts(&req, "customer_id\n");
	for (int id = 1; id <= NKEYS; id++)
		buf_printf(&req, "%d\n", id);
	assert_int_equal(endpoint_predict(s, "ep", req.data, req.len, &out, &err), 0);
	refresh(s, "mon", false);
	assert_int_equal(report_value(s, "mon", "rows_in"), NKEYS);
	assert_int_equal(monitor_drift_csv(s, "mon", &drift), 0);
	assert_int_equal(count_lines(drift.data, ",HIGH,"), 0);
	assert_int_equal(count_lines(drift.data, ",,,m,1,spent,psi,"), 1);
	assert_int_equal(count_lines(drift.data, ",,,m,1,prediction,chi2_pvalue,"), 1);

	/* performance against the labels: accuracy of what was answered */
	struct buf perf = { 0 };
	int right = 0;
	const char *line = strchr(out.data, '\n') + 1;
	for (int id = 1; id <= NKEYS; id++) {
		const char *pred = strchr(line, ',') + 1;
		right += (pred[0] == '1') == (spent_of(id) < 50);
		line = strchr(line, '\n') + 1;
	}
	assert_int_equal(monitor_performance_csv(s, "mon", &perf), 0);
	assert_float_equal(field_of(perf.data, "Z,,,,,", 6), NKEYS, 0);
	assert_float_equal(field_of(perf.data, "Z,,,,,", 7), (double)right / NKEYS, 1e-12);

	/* shifted: spent overridden far from anything trained on */
	buf_reset(&req);
	buf_puts(&req, "customer_id,spent\n");
	for (int id = 1; id <= NKEYS; id++)
		buf_printf(&req, "%d,%d\n", id, 500 + spent_of(id));
	assert_int_equal(endpoint_predict(s, "ep", req.data, req.len, &out, &err), 0);
	refresh(s, "mon", false);
	buf_reset(&drift);
	assert_int_equal(monitor_drift_csv(s, "mon", &drift), 0);
	assert_string_equal(level_of(drift.data, ",,,m,1,spent,psi,"), "HIGH");
	assert_string_equal(level_of(drift.data, ",,,m,1,spent,wasserstein,"), "HIGH");
	assert_string_equal(level_of(drift.data, ",,,m,1,tenure,psi,"), "LOW");

	/* the baseline outlives the run */
	assert_int_equal(tracking_run_drop(s, "e", "r1", NULL), 0);
	refresh(s, "mon", true);
	assert_int_equal(monitor_drift_csv(s, "mon", &again), 0);
	assert_string_equal(again.data, drift.data);
	buf_free(&feat);
	buf_free(&labels);
	buf_free(&req);
	buf_free(&out);
	buf_free(&drift);
	buf_free(&again);
	buf_free(&perf);
}

/* ---- the scheduler ---- */

static void test_scheduler_once_per_granularity(void **state)
{
	struct store *s = st(state);
	fixture_table_put(s, "t", "ts,x\n2026-12-01,1\n2026-12-01,2\n");
	assert_int_equal(monitor_create(s, "idle", 0, 0, 0755, NULL, NULL), 0);	/* no spec: never */
	assert_int_equal(monitor_create(s, "hourly", 0, 0, 0755, NULL, NULL), 0);
	spec(s, "hourly", "source: table:t\ntimestamp: ts\ngranularity: 1h\n");
	int64_t now = clock_now_ms();
	assert_int_equal(monitor_scheduler_tick(s, now, NULL, NULL), 1);
	assert_int_equal(monitor_scheduler_tick(s, now + 1000, NULL, NULL), 0);
	assert_int_equal(monitor_scheduler_tick(s, now + 3601 * 1000, NULL, NULL), 1);
	struct monitor_info mi;
	assert_int_equal(monitor_stat(s, "hourly", &mi), 0);
	assert_true(mi.last_refresh_ms >= now);
}

static int mon_owner(struct store *s, const char *name, uint32_t *uid,
		     uint32_t *gid, uint32_t *mode, int64_t *ctime_ms)
{
	struct monitor_info m = { 0 };
	int rc = monitor_stat(s, name, &m);
	*uid = m.uid, *gid = m.gid, *mode = m.mode, *ctime_ms = m.ctime_ms;
	return rc;
}

/* A monitor is made and deleted in one batch with its owner and mode in
 * its record and the attrs at its path (owner_fixture.h); a spec change
 * keeps its owner. */
static void test_owner_in_its_record(void **state)
{
	struct store *s = st(state);
	static const struct owner_kind k = { monitor_create, monitor_delete, mon_owner };
	owner_fixture_make(s, &k, "o", "/monitors/o");
	fixture_table_put(s, "t", "ts,x\n2026-12-01,1\n");
	spec(s, "o", "source: table:t\ntimestamp: ts\n");
	owner_fixture_check(s, &k, "o");
	owner_fixture_remove(s, &k, "o", "/monitors/o");
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spec_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_windows_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_against_training, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheduler_once_per_granularity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_in_its_record, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
