/* test_kv_failover.c - the kv interface on a 3-member etcd whose leader is
 * killed while a writer commits: commits resume on the survivors, nothing
 * acknowledged is lost, and a watch goes on without a gap.  Run by
 * tools/scaleout/test-kv (MLFS_ETCD: the three endpoints; MLFS_ETCD_DIR:
 * etcd-up's folder, whose pids are in member order). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv.h"

#define WRITES 300
#define KILL_AT 100

struct run {
	struct kv *kv;
	pthread_mutex_t m;
	int acked;		/* writes 0..acked-1 acknowledged */
	int unknown;		/* answers lost (ETIMEDOUT, EIO) */
	double resume_ms;	/* from the kill to the acknowledgement of the
				 * first write begun after it */
	int at_kill;
	struct timespec killed;
	bool kill_done;
	/* the watch */
	kv_rev last;
	int events, disorder;
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Commit write I (create-only).  An answer lost may have been applied:
 * the retry's compare tells (ECANCELED: it was). */
static int write_one(struct run *r, int i)
{
	char k[32];
	snprintf(k, sizeof(k), "fo/%05d", i);
	struct kv_cmp c = { .kind = KV_CMP_ABSENT, .key = k, .klen = strlen(k) };
	struct kv_op o = { .kind = KV_OP_PUT, .key = k, .klen = strlen(k),
			   .val = k, .vlen = strlen(k) };
	for (int tries = 0; tries < 20; tries++) {
		struct mlfs_err err = { 0 };
		int rc = kv_commit(r->kv, &c, 1, &o, 1, NULL, &err);
		if (rc && getenv("KV_DEBUG"))
			fprintf(stderr, "write %d: %d %s\n", i, rc, err.msg);
		if (rc == 0 || (rc == -ECANCELED && tries > 0))
			return 0;
		if (rc == -ECANCELED)
			return rc;
		pthread_mutex_lock(&r->m);
		r->unknown++;
		pthread_mutex_unlock(&r->m);
		usleep(20000);
	}
	return -EIO;
}

static void *writer(void *arg)
{
	struct run *r = arg;
	for (int i = 0; i < WRITES; i++) {
		if (write_one(r, i))
			break;
		pthread_mutex_lock(&r->m);
		r->acked = i + 1;
		if (r->kill_done && !r->resume_ms && i > r->at_kill)
			r->resume_ms = ms_since(&r->killed);
		pthread_mutex_unlock(&r->m);
	}
	return NULL;
}

static void on_events(void *ctx, const struct kv_event *ev, size_t n,
		      kv_rev rev, int err)
{
	struct run *r = ctx;
	pthread_mutex_lock(&r->m);
	if (err || rev <= r->last)
		r->disorder++;
	r->last = rev;
	r->events += (int)n;
	pthread_mutex_unlock(&r->m);
}

/* The index of the leader among ENDPOINTS (etcdctl endpoint status). */
static int find_leader(const char *endpoints)
{
	char cmd[512], line[512];
	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints=%s endpoint status",
		 endpoints);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	int i = 0, leader = -1;
	while (fgets(line, sizeof(line), p)) {
		/* ep, id, version, db size, is leader, ... */
		char *f = line;
		for (int col = 0; col < 4 && f; col++)
			f = strchr(f + 1, ',');
		if (f && !strncmp(f, ", true", 6))
			leader = i;
		i++;
	}
	pclose(p);
	return leader;
}

static pid_t member_pid(int i)
{
	char path[512];
	const char *dir = getenv("MLFS_ETCD_DIR");
	snprintf(path, sizeof(path), "%s/pids", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	long pid = 0;
	for (int j = 0; j <= i; j++)
		assert_int_equal(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	return (pid_t)pid;
}

static int count_keys(void *ctx, const char *k, size_t kl, const char *v,
		      size_t vl, kv_rev mod)
{
	int *n = ctx;
	char want[32];
	snprintf(want, sizeof(want), "fo/%05d", *n);
	assert_int_equal(kl, strlen(want));
	assert_memory_equal(k, want, kl);	/* in order, no gap */
	assert_memory_equal(v, want, vl);
	(*n)++;
	return 0;
}

static void test_leader_killed_during_writes(void **state)
{
	const char *eps = getenv("MLFS_ETCD");
	if (!eps || !getenv("MLFS_ETCD_DIR") || !strchr(eps, ','))
		skip();
	int leader = find_leader(eps);
	assert_true(leader >= 0);
	/* The leader first, so that the writer is talking to it. */
	char meta[512] = "", list[512];
	snprintf(list, sizeof(list), "%s", eps);
	char *tok[8] = { 0 }, *save;
	int n = 0;
	for (char *t = strtok_r(list, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
		tok[n++] = t;
	assert_true(leader < n);
	snprintf(meta, sizeof(meta), "%s", tok[leader]);
	for (int i = 0; i < n; i++)
		if (i != leader)
			snprintf(meta + strlen(meta), sizeof(meta) - strlen(meta), ",%s", tok[i]);
	struct run r = { .m = PTHREAD_MUTEX_INITIALIZER };
	assert_int_equal(kv_open(NULL, meta, &r.kv, NULL), 0);
	struct kv_watch *w;
	assert_int_equal(kv_watch(r.kv, "fo/", 3, 0, on_events, &r, &w, NULL), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	for (;;) {
		pthread_mutex_lock(&r.m);
		int acked = r.acked;
		pthread_mutex_unlock(&r.m);
		if (acked >= KILL_AT)
			break;
		usleep(2000);
	}
	pthread_mutex_lock(&r.m);
	clock_gettime(CLOCK_MONOTONIC, &r.killed);
	r.kill_done = true;
	int at_kill = r.at_kill = r.acked;
	pthread_mutex_unlock(&r.m);
	assert_int_equal(kill(member_pid(leader), SIGKILL), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.acked, WRITES);	/* commits resumed */
	int found = 0;
	assert_int_equal(kv_range(r.kv, "fo/", 3, "fo0", 3, 0, false, 0, count_keys,
				  &found, NULL, NULL), 0);
	assert_int_equal(found, WRITES);	/* nothing acknowledged lost */
	/* The watch saw every write, in order, across the fail-over. */
	for (int i = 0; i < 250; i++) {
		pthread_mutex_lock(&r.m);
		int ev = r.events;
		pthread_mutex_unlock(&r.m);
		if (ev >= WRITES)
			break;
		usleep(20000);
	}
	assert_int_equal(r.events, WRITES);
	assert_int_equal(r.disorder, 0);
	print_message("fail-over: killed the leader after %d writes; the first commit "
		      "begun after it acknowledged %.1f ms later; %d answers lost and retried\n",
		      at_kill, r.resume_ms, r.unknown);
	kv_watch_cancel(w);
	kv_close(r.kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leader_killed_during_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
