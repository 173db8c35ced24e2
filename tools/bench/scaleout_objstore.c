/* scaleout_objstore.c - the object store's per-operation cost (issue 19):
 * put-once, whole get and ranged get of 4 KiB and 4 MiB objects, against
 * the embedded store or an S3 bucket.  A benchmark, not a test and not
 * installed; tools/bench/scaleout-blobs runs it against both.
 *
 *   scaleout_objstore store DIR [N]    embedded store made in DIR (new)
 *   scaleout_objstore s3 [N]           MLFS_S3 and AWS_* as ceph-up prints
 *
 * N operations per figure for 4 KiB objects (default 300), N/6 for 4 MiB
 * ones (a memstore OSD holds 512 MiB).  A ranged get reads 1 KiB of a
 * 4 KiB object, 64 KiB of a 4 MiB one, at a varying offset.  Prints per
 * figure "KIND SIZE OP n N p50_us X p99_us Y cpu_us Z [server_cpu_us W]":
 * wall-clock percentiles (noise on a shared machine), this process's CPU
 * time per operation and, with MLFS_BENCH_PIDS="PID ...", the CPU time
 * per operation of those processes (radosgw, the OSD, the monitor), read
 * from /proc: the figures that other load moves least.  Removes what it
 * made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "objstore.h"
#include "store.h"

struct phase {
	double *lat;
	int n;
	double wall0, cpu0, srv0;
};

static void phase_start(struct phase *p, int n)
{
	p->lat = calloc((size_t)n, sizeof(double));
	p->n = 0;
	p->srv0 = bench_pids_cpu_us("MLFS_BENCH_PIDS");
	p->cpu0 = bench_self_cpu_us();
}

static void phase_end(struct phase *p, const char *kind, const char *size,
		      const char *op)
{
	double cpu = bench_self_cpu_us() - p->cpu0, srv = bench_pids_cpu_us("MLFS_BENCH_PIDS");
	qsort(p->lat, (size_t)p->n, sizeof(double), bench_cmp_double);
	printf("%s %s %s n %d p50_us %.0f p99_us %.0f cpu_us %.0f", kind, size,
	       op, p->n, p->lat[p->n / 2], p->lat[(p->n * 99) / 100],
	       cpu / p->n);
	if (p->srv0 >= 0)
		printf(" server_cpu_us %.0f", (srv - p->srv0) / p->n);
	printf("\n");
	fflush(stdout);
	free(p->lat);
}

static void die(const char *what, const char *name, const struct mlfs_err *e)
{
	fprintf(stderr, "scaleout_objstore: %s %s: %s\n", what, name, e->msg);
	exit(1);
}

/* The three figures for objects of SIZE bytes, COUNT objects, N reads. */
static void run_size(struct objstore *os, const char *kind, const char *label,
		     size_t size, int count, int n, size_t range)
{
	char name[128];
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	struct phase p;
	char *data = malloc(size);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 31 + 7);

	phase_start(&p, count);
	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "bench-%d/%s/%05d", (int)getpid(),
			 label, i);
		data[0] = (char)i;
		double t = bench_now_us();
		if (objstore_put_once(os, name, data, size, &err))
			die("put", name, &err);
		p.lat[p.n++] = bench_now_us() - t;
	}
	phase_end(&p, kind, label, "put_once");

	phase_start(&p, n);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bench-%d/%s/%05d", (int)getpid(),
			 label, i % count);
		double t = bench_now_us();
		if (objstore_get(os, name, 0, 0, &b, &err) || b.len != size)
			die("get", name, &err);
		p.lat[p.n++] = bench_now_us() - t;
	}
	phase_end(&p, kind, label, "get");

	phase_start(&p, n);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bench-%d/%s/%05d", (int)getpid(),
			 label, i % count);
		uint64_t off = ((uint64_t)i * 7919) % (size - range);
		double t = bench_now_us();
		if (objstore_get(os, name, off, range, &b, &err) ||
		    b.len != range)
			die("ranged get", name, &err);
		p.lat[p.n++] = bench_now_us() - t;
	}
	phase_end(&p, kind, label, "ranged_get");

	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "bench-%d/%s/%05d", (int)getpid(),
			 label, i);
		if (objstore_delete(os, name, &err))
			die("delete", name, &err);
	}
	buf_free(&b);
	free(data);
}

int main(int argc, char **argv)
{
	struct objstore *os = NULL;
	struct store *s = NULL;
	struct mlfs_err err = { 0 };
	int n = 300;
	const char *kind = argc > 1 ? argv[1] : "";

	if (strcmp(kind, "store") == 0 && argc >= 3) {
		if (store_open(argv[2], true, &s, &err))
			die("open", argv[2], &err);
		os = objstore_open_store(s);
		if (argc > 3)
			n = atoi(argv[3]);
	} else if (strcmp(kind, "s3") == 0) {
		const char *url = getenv("MLFS_S3");
		if (objstore_open_s3(url ? url : "", NULL, &os, &err))
			die("open", url ? url : "(MLFS_S3 unset)", &err);
		if (argc > 2)
			n = atoi(argv[2]);
	} else {
		fprintf(stderr, "usage: scaleout_objstore store DIR [N] | s3 [N]\n");
		return 2;
	}
	if (n < 6)
		n = 6;
	run_size(os, kind, "4KiB", 4096, n, n, 1024);
	run_size(os, kind, "4MiB", 4u << 20, n / 6, n, 64u << 10);
	objstore_close(os);
	store_close(s);
	return 0;
}
