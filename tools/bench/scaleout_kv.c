/* scaleout_kv.c - per-operation latency of the kv interface (kv.h), for
 * docs/performance.md "Scale-out (issue 19)": point get, a range of 10
 * keys, a compare-guarded commit (mod revision equal, then put), and a
 * watch's delivery (commit begun -> event in the watch's callback), each
 * p50/p99 in microseconds, with the CPU time per operation of this
 * process and (MLFS_ETCD_PIDS) of the etcd members.  Against a fresh
 * embedded store, or MLFS_ETCD=http://HOST:PORT.  Not run in CI.
 *   scaleout_kv [N (default 2000)] */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "kv.h"
#include "store.h"

static void report(const char *what, double *t, int n, double cpu0, double srv0)
{
	qsort(t, (size_t)n, sizeof(*t), bench_cmp_double);
	printf("%-22s %6d %9.0f %9.0f %10.1f %10.1f\n", what, n, t[n / 2],
	       t[(int)(n * 0.99)], (bench_self_cpu_us() - cpu0) / n,
	       (bench_pids_cpu_us("MLFS_ETCD_PIDS") - srv0) / n);
}

static int nothing(void *ctx, const char *k, size_t kl, const char *v,
		   size_t vl, kv_rev mod)
{
	return 0;
}

struct delivery {
	pthread_mutex_t m;
	pthread_cond_t c;
	kv_rev rev;		/* the last revision delivered, */
	double at;		/* when */
};

static void on_event(void *ctx, const struct kv_event *ev, size_t n,
		     kv_rev rev, int err)
{
	struct delivery *d = ctx;
	pthread_mutex_lock(&d->m);
	d->rev = rev;
	d->at = bench_now_us();
	pthread_cond_signal(&d->c);
	pthread_mutex_unlock(&d->m);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "scaleout_kv: %s: %s\n", what, strerror(-rc));
	exit(1);
}

/* p50/p99 of one watch delivery: commit begun -> the callback. */
static void bench_watch(struct kv *kv, int n, double *t)
{
	struct delivery d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct kv_watch *w;
	int rc = kv_watch(kv, "bw/", 3, 0, on_event, &d, &w, NULL);
	if (rc)
		die("watch", rc);
	double cpu0 = bench_self_cpu_us(), srv0 = bench_pids_cpu_us("MLFS_ETCD_PIDS");
	for (int i = 0; i < n; i++) {
		kv_rev rev;
		double t0 = bench_now_us();
		if ((rc = kv_put(kv, "bw/k", 4, "v", 1, 0, &rev)))
			die("put", rc);
		pthread_mutex_lock(&d.m);
		while (d.rev < rev)
			pthread_cond_wait(&d.c, &d.m);
		t[i] = d.at - t0;
		pthread_mutex_unlock(&d.m);
	}
	report("watch delivery", t, n, cpu0, srv0);
	kv_watch_cancel(w);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, rc;
	const char *etcd = getenv("MLFS_ETCD");
	char dir[] = "/tmp/mlfs-bench-kv-XXXXXX", key[32];
	struct store *s = NULL;
	struct kv *kv;
	double *t = calloc((size_t)n, sizeof(*t)), cpu0, srv0;
	if (!t || n < 10)
		return 2;
	if (!etcd && (!mkdtemp(dir) || store_open(dir, true, &s, NULL)))
		return 1;
	if ((rc = kv_open(s, etcd, &kv, NULL)))
		die("open", rc);
	for (int i = 0; i < 100; i++) {	/* 100 keys of 100 bytes */
		char v[100];
		memset(v, 'v', sizeof(v));
		snprintf(key, sizeof(key), "b/%04d", i);
		if ((rc = kv_put(kv, key, strlen(key), v, sizeof(v), 0, NULL)))
			die("put", rc);
	}
	printf("kv %s, %d ops each; microseconds; CPU per op: this process, etcd\n",
	       kv_kind(kv), n);
	printf("%-22s %6s %9s %9s %10s %10s\n", "op", "n", "p50", "p99", "cpu", "etcd cpu");
	struct buf v = { 0 };
	cpu0 = bench_self_cpu_us(), srv0 = bench_pids_cpu_us("MLFS_ETCD_PIDS");
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "b/%04d", i % 100);
		double t0 = bench_now_us();
		if ((rc = kv_get(kv, key, strlen(key), &v, NULL, NULL)))
			die("get", rc);
		t[i] = bench_now_us() - t0;
	}
	report("get", t, n, cpu0, srv0);
	cpu0 = bench_self_cpu_us(), srv0 = bench_pids_cpu_us("MLFS_ETCD_PIDS");
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "b/%04d", i % 90);
		double t0 = bench_now_us();
		if ((rc = kv_range(kv, key, strlen(key), "b0", 2, 10, false, 0, nothing,
				   NULL, NULL, NULL)))
			die("range", rc);
		t[i] = bench_now_us() - t0;
	}
	report("range of 10", t, n, cpu0, srv0);
	kv_rev mod;
	if ((rc = kv_get(kv, "b/0000", 6, &v, &mod, NULL)))
		die("get", rc);
	cpu0 = bench_self_cpu_us(), srv0 = bench_pids_cpu_us("MLFS_ETCD_PIDS");
	for (int i = 0; i < n; i++) {
		struct kv_cmp c = { .kind = KV_CMP_MOD_EQ, .key = "b/0000", .klen = 6,
				    .rev = mod };
		struct kv_op o = { .kind = KV_OP_PUT, .key = "b/0000", .klen = 6,
				   .val = v.data, .vlen = v.len };
		double t0 = bench_now_us();
		if ((rc = kv_commit(kv, &c, 1, &o, 1, &mod, NULL)))
			die("commit", rc);
		t[i] = bench_now_us() - t0;
	}
	report("compare-commit", t, n, cpu0, srv0);
	bench_watch(kv, n / 4, t);
	buf_free(&v);
	kv_close(kv);
	store_close(s);
	if (!etcd) {
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		return system(cmd) ? 1 : 0;
	}
	return 0;
}
