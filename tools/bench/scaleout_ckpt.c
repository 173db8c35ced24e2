/* scaleout_ckpt.c - tools/bench/scaleout-ckpt's program: how long a
 * fresh host takes to open a remote store of N log entries by replaying
 * the log, and from a checkpoint (issue 19).  Host A writes N entries
 * (one put of ~100 bytes each) into a new store; B opens with an empty
 * replica (replay of N entries); A checkpoints; C opens with an empty
 * replica (checkpoint load).  Prints wall and this process's CPU for
 * each open, plus etcd's CPU (MLFS_BENCH_PIDS) when given.
 *   scaleout_ckpt ETCD_URLS N DIR  (replicas under DIR; MLFS_S3 and the
 *                                  AWS_* keys set) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_clock.h"
#include "kv.h"
#include "objstore.h"
#include "store.h"

static void die(const char *what, const struct mlfs_err *err)
{
	fprintf(stderr, "scaleout_ckpt: %s: %s\n", what, err->msg);
	exit(1);
}

static const char *workdir;

static struct store *open_fresh(struct kv *kv, struct objstore *os,
				const char *name, const char *tag)
{
	char dir[4096];
	struct store *s;
	struct mlfs_err err = { 0 };
	snprintf(dir, sizeof(dir), "%s/replica-XXXXXX", workdir);
	if (!mkdtemp(dir))
		exit(1);
	double w = bench_now_us(), c = bench_self_cpu_us();
	double e = bench_pids_cpu_us("MLFS_BENCH_PIDS");
	if (store_open_remote(dir, name, kv, os, &s, &err))
		die("store_open_remote", &err);
	double e2 = bench_pids_cpu_us("MLFS_BENCH_PIDS");
	printf("open %-10s wall_ms %.1f cpu_ms %.1f server_cpu_ms %.1f\n", tag,
	       (bench_now_us() - w) / 1e3, (bench_self_cpu_us() - c) / 1e3,
	       e < 0 ? -1 : (e2 - e) / 1e3);
	return s;
}

int main(int argc, char **argv)
{
	struct mlfs_err err = { 0 };
	struct kv *kv;
	struct objstore *os;
	char name[48], k[32], v[100];
	if (argc != 4 || !getenv("MLFS_S3")) {
		fprintf(stderr, "usage: scaleout_ckpt ETCD_URLS N DIR (MLFS_S3 set)\n");
		return 2;
	}
	workdir = argv[3];
	long n = atol(argv[2]);
	if (kv_open(NULL, argv[1], &kv, &err) ||
	    objstore_open_s3(getenv("MLFS_S3"), NULL, &os, &err))
		die("connect", &err);
	snprintf(name, sizeof(name), "ckb-%ld", (long)getpid());
	struct store *a = open_fresh(kv, os, name, "empty");
	memset(v, 'v', sizeof(v));
	for (long i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "bench/%08ld", i);
		if (store_put(a, k, strlen(k), v, sizeof(v), &err))
			die("store_put", &err);
	}
	struct store *b = open_fresh(kv, os, name, "replay");
	uint64_t seq;
	double w = bench_now_us(), c = bench_self_cpu_us();
	if (store_checkpoint(a, &seq, &err))
		die("store_checkpoint", &err);
	printf("checkpoint entries %llu wall_ms %.1f cpu_ms %.1f\n", (unsigned long long)seq,
	       (bench_now_us() - w) / 1e3, (bench_self_cpu_us() - c) / 1e3);
	struct store *c2 = open_fresh(kv, os, name, "checkpoint");
	snprintf(k, sizeof(k), "bench/%08ld", n - 1);
	struct buf got = { 0 };
	if (store_get(c2, NULL, k, strlen(k), &got, &err) || got.len != sizeof(v))
		die("the last key after the checkpoint", &err);
	buf_free(&got);
	store_close(c2);
	store_close(b);
	store_close(a);
	objstore_close(os);
	kv_close(kv);
	return 0;
}
