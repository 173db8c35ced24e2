/* scans_bench.c - the C side of tools/bench/scans: one step per process
 * (so that callgrind or /usr/bin/time can take it alone) over a store in
 * DIR: setup writes the tables and trains the model, then a drift
 * monitor's first refresh of a table source, or a batch scoring of a
 * table, reading the CSV text or the columnar form; build times the
 * forms' build alone (events and the baseline table).  Prints
 * "STEP cpu_s engine_cpu_s wall_s" on stdout: the process's CPU time,
 * the same without RocksDB's background threads, and wall time. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "bench_clock.h"
#include "blob.h"
#include "columnar.h"
#include "monitor.h"
#include "registry.h"
#include "store.h"
#include "table.h"
#include "tracking.h"
#include "train.h"
#include "train_spec.h"

/* CPU seconds of this process's threads but RocksDB's own (named
 * "rocksdb:..."): its background compactions of what earlier steps wrote
 * land in whichever step runs when they do. */
static double engine_cpu_s(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	double sum = 0;
	long hz = sysconf(_SC_CLK_TCK);
	while (d && (e = readdir(d))) {
		char path[300], buf[1024];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		if (!open || !close || !strncmp(open + 1, "rocksdb", 7))
			continue;
		unsigned long ut = 0, stime = 0;
		if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) == 2)
			sum += (double)(ut + stime) / (double)hz;
	}
	if (d)
		closedir(d);
	return sum;
}

static void die(const char *what, int rc, const struct mlfs_err *err)
{
	fprintf(stderr, "scans_bench: %s: %d %s\n", what, rc, err ? err->msg : "");
	exit(1);
}

/* ROWS rows over seven days: ts, customer, segment, x1, x2, n, y. */
static void rows_text(struct buf *b, long rows, long seed)
{
	buf_puts(b, "ts,customer,segment,x1,x2,n,y\n");
	unsigned st = (unsigned)seed;
	for (long i = 0; i < rows; i++) {
		char ts[40];
		int64_t us = (int64_t)1796083200 * 1000000 + (int64_t)(i * (7 * 86400.0 / rows)) * 1000000;
		fmt_timestamp(ts, us);
		int r = rand_r(&st);
		double x1 = (r % 100000) / 100.0, x2 = (rand_r(&st) % 2000) / 10.0 - 100;
		buf_printf(b, "%s,c%d,%c,%.2f,%.1f,%d,%s\n", ts, r % 50000, "ABCD"[r % 4], x1, x2,
			   r % 1000, x1 + x2 > 500 ? "yes" : "no");
	}
}

static void table_put(struct store *s, const char *name, const struct buf *b)
{
	struct table_writer *w = NULL;
	struct mlfs_err err = { 0 };
	int rc = table_create(s, name, &err);
	if (!rc)
		rc = table_writer_open(s, name, true, &w, &err);
	if (!rc)
		rc = table_writer_write(w, b->data, b->len, &err);
	if (!rc)
		rc = table_writer_commit(w, true, &err);
	table_writer_free(w);
	if (rc)
		die(name, rc, &err);
}

static void setup(struct store *s, long rows, const char *csv)
{
	struct buf b = { 0 };
	struct mlfs_err err = { 0 };
	rows_text(&b, rows, 1);
	table_put(s, "events", &b);
	FILE *f = fopen(csv, "w");
	if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f))
		die(csv, -errno, NULL);
	buf_reset(&b);
	rows_text(&b, rows / 4, 2);
	table_put(s, "base", &b);
	buf_reset(&b);
	rows_text(&b, 20000, 3);
	table_put(s, "lt", &b);
	const char *spec = "labels: lt\nlabel: y\nexclude: [ts, customer]\n"
			   "params: {n_estimators: 50, max_depth: 8, seed: 1}\n";
	struct train_spec *sp = NULL;
	uint64_t root, v;
	int rc = tracking_experiment_create(s, "e", &err);
	if (!rc)
		rc = blob_root_new(s, 0755, 0, 0, &root, &err);
	if (!rc)
		rc = tracking_run_create(s, "e", "r", 1000, 0, 0, root, &err);
	if (!rc)
		rc = train_spec_parse(spec, strlen(spec), 0, &sp, &err);
	if (!rc)
		rc = train_begin(s, "e", "r", "train", spec, strlen(spec), &err);
	if (!rc)
		rc = train_run(s, "e", "r", sp, NULL, NULL, NULL, &err);
	if (!rc)
		rc = registry_model_create(s, "m", 0, 0, 0755, NULL, &err);
	if (!rc)
		rc = registry_register(s, "m", "e", "r", 0, &v, &err);
	train_spec_free(sp);
	buf_free(&b);
	if (rc)
		die("setup", rc, &err);
}

static int step(struct store *s, const char *what, bool form)
{
	struct mlfs_err err = { 0 };
	columnar_scan_min_bytes = form ? 0 : (size_t)1 << 50;
	if (!strcmp(what, "build")) {
		struct columnar *c = NULL, *d = NULL;
		int rc = columnar_open(s, "events", &c, &err);
		if (!rc)
			rc = columnar_open(s, "base", &d, &err);
		columnar_free(c);
		columnar_free(d);
		return rc;
	}
	if (!strcmp(what, "score")) {
		uint64_t rows;
		return batch_score_table(s, "m", 1, "events", form ? "p_form" : "p_text", &rows, &err);
	}
	const char *name = form ? "mon_form" : "mon_text";
	const char *spec = "source: table:events\ntimestamp: ts\nbaseline: table:base\n"
			   "slice_by: [segment]\ncolumns: [x1, x2, n]\n";
	monitor_delete(s, name, NULL, NULL);
	int rc = monitor_create(s, name, 0, 0, 0755, NULL, &err);
	if (!rc)
		rc = monitor_spec_set(s, name, spec, strlen(spec), true, &err);
	if (!rc)
		rc = monitor_refresh(s, name, false, &err);
	if (rc)
		die(name, rc, &err);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: scans_bench DIR ROWS setup|build|monitor-text|monitor-form|score-text|score-form [CSV]\n");
		return 2;
	}
	struct store *s = NULL;
	struct mlfs_err err = { 0 };
	const char *what = argv[3];
	int rc = store_open(argv[1], !strcmp(what, "setup"), &s, &err);
	if (rc)
		die("store", rc, &err);
	double cpu = bench_self_cpu_us(), eng = engine_cpu_s(), wall = bench_now_us();
	if (!strcmp(what, "setup"))
		setup(s, atol(argv[2]), argc > 4 ? argv[4] : "/dev/null");
	else {
		char base[32];
		snprintf(base, sizeof(base), "%.*s", (int)strcspn(what, "-"), what);
		rc = step(s, base, strstr(what, "-form") || !strcmp(what, "build"));
	}
	if (rc)
		die(what, rc, &err);
	printf("%s %.3f %.3f %.3f\n", what, (bench_self_cpu_us() - cpu) / 1e6, engine_cpu_s() - eng,
	       (bench_now_us() - wall) / 1e6);
	store_close(s);
	return 0;
}
