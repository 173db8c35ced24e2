/* test_cluster.c - sessions, leader election, fencing and claims
 * (cluster.h): two hosts are two stores attached to one kv (the first
 * store's embedded kv in the unit suite; with MLFS_ETCD set, one etcd
 * through a client each, tools/scaleout/test-kv), with a 2 s session TTL.
 * Against etcd, one test also runs the holder in a child process and
 * kills it. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "backend_cases.h"

#include "clock.h"
#include "cluster.h"
#include "features.h"
#include "job.h"
#include "kv.h"

#define TTL_S 2
#define ROLE CLUSTER_SCHEDULER

struct fx {
	struct store_fixture *a, *b;	/* host A, host B */
	struct kv *kva, *kvb;		/* B's is A's on the embedded kv */
	char p[48];			/* this test's key prefix */
};

static const char *etcd(void)
{
	const char *e = getenv("MLFS_ETCD");
	return e && *e ? e : NULL;
}

static void attach(struct fx *f, struct store *s, struct kv *kv, const char *host)
{
	struct cluster_conf conf = { .prefix = f->p, .host = host,
				     .mountpoint = "/mnt/p", .ttl_s = TTL_S };
	struct mlfs_err err = { 0 };
	assert_int_equal(cluster_attach(s, kv, &conf, &err), 0);
}

static int setup(void **state)
{
	static int n;
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->p, sizeof(f->p), "clt/%ld.%d/", (long)getpid(), ++n);
	f->a = store_fixture_open();
	f->b = store_fixture_open();
	if (etcd()) {
		assert_int_equal(kv_open(NULL, etcd(), &f->kva, NULL), 0);
		assert_int_equal(kv_open(NULL, etcd(), &f->kvb, NULL), 0);
	} else {
		assert_int_equal(kv_open(f->a->s, NULL, &f->kva, NULL), 0);
		f->kvb = f->kva;
	}
	attach(f, f->a->s, f->kva, "hostA");
	attach(f, f->b->s, f->kvb, "hostB");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	/* a test that failed midway may have left schedulers running */
	jobs_stop(f->b->s);
	jobs_stop(f->a->s);
	cluster_detach(f->b->s);
	cluster_detach(f->a->s);
	store_fixture_close(f->b);
	if (f->kvb != f->kva)
		kv_close(f->kvb);
	kv_close(f->kva);
	store_fixture_close(f->a);
	free(f);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Poll every 10 ms until S leads ROLE (WANT true) or does not (false);
 * the milliseconds it took, or -1 after TIMEOUT_MS. */
static int64_t wait_leads(struct store *s, bool want, int timeout_ms)
{
	int64_t t0 = clock_mono_ns();
	for (;;) {
		int64_t ms = (clock_mono_ns() - t0) / 1000000;
		if (cluster_leads(s, ROLE, NULL) == want)
			return ms;
		if (ms > timeout_ms)
			return -1;
		sleep_ms(10);
	}
}

static void test_campaign_one_leader(void **state)
{
	struct fx *f = *state;
	kv_rev fa = 0, fb = 7;
	assert_true(cluster_leads(f->a->s, ROLE, &fa));
	assert_true(fa > 0);
	assert_false(cluster_leads(f->b->s, ROLE, &fb));
	assert_int_equal(fb, 0);
	/* the same token while nothing changes */
	kv_rev again = 0;
	assert_true(cluster_leads(f->a->s, ROLE, &again));
	assert_int_equal(again, fa);

	/* both sessions listed, A as the leader */
	struct buf csv = { 0 };
	char line[256];
	assert_int_equal(cluster_sessions_csv(f->b->s, &csv, NULL), 0);
	assert_true(!strncmp(csv.data, "session,host,pid,start,mountpoint,leads\n", 40));
	snprintf(line, sizeof(line), "\nhostA.%ld,hostA,%ld,", (long)getpid(), (long)getpid());
	assert_non_null(strstr(csv.data, line));
	assert_non_null(strstr(csv.data, ",/mnt/p,scheduler\n"));
	snprintf(line, sizeof(line), "\nhostB.%ld,hostB,", (long)getpid());
	assert_non_null(strstr(csv.data, line));
	assert_non_null(strstr(csv.data, ",/mnt/p,\n"));
	buf_free(&csv);

	/* a second session of one name, and a second attach, are refused */
	struct cluster_conf conf = { .prefix = f->p, .host = "hostA", .ttl_s = TTL_S };
	struct store_fixture *c = store_fixture_open();
	struct mlfs_err err = { 0 };
	assert_int_equal(cluster_attach(c->s, f->kva, &conf, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "hostA"));
	conf.host = "bad/name";
	assert_int_equal(cluster_attach(c->s, f->kva, &conf, &err), -EINVAL);
	store_fixture_close(c);
	assert_int_equal(cluster_attach(f->a->s, f->kva, &conf, &err), -EBUSY);
}

static void test_resign_hands_over(void **state)
{
	struct fx *f = *state;
	kv_rev fa = 0, fb = 0;
	assert_true(cluster_leads(f->a->s, ROLE, &fa));
	assert_false(cluster_leads(f->b->s, ROLE, NULL));	/* B campaigns */
	cluster_resign(f->a->s, ROLE);
	assert_false(cluster_leads(f->a->s, ROLE, NULL));
	/* B's watch sees the key go and takes it, well inside a TTL */
	int64_t ms = wait_leads(f->b->s, true, 1000);
	assert_true(ms >= 0);
	assert_true(cluster_leads(f->b->s, ROLE, &fb));
	assert_true(fb > fa);
}

/* A hangs (no keepalives): A stops leading before its lease can expire,
 * B leads within the TTL and a margin, never both at once; A, resumed,
 * joins again as a follower. */
static void test_expiry_takeover(void **state)
{
	struct fx *f = *state;
	kv_rev fa = 0, fb = 0;
	assert_true(cluster_leads(f->a->s, ROLE, &fa));
	assert_false(cluster_leads(f->b->s, ROLE, NULL));
	cluster_test_pause(f->a->s, true);
	int64_t t0 = clock_mono_ns();
	bool a_stopped = false;
	for (;;) {
		bool la = cluster_leads(f->a->s, ROLE, NULL);
		bool lb = cluster_leads(f->b->s, ROLE, &fb);
		assert_false(la && lb);
		a_stopped |= !la;
		if (lb)
			break;
		assert_true(clock_mono_ns() - t0 < (TTL_S + 2) * 1000000000LL);
		sleep_ms(10);
	}
	assert_true(a_stopped);
	assert_true(fb > fa);
	cluster_test_pause(f->a->s, false);
	/* A's session comes back under a new lease, as a follower */
	struct buf csv = { 0 };
	char line[64];
	snprintf(line, sizeof(line), "\nhostA.%ld,", (long)getpid());
	int64_t t1 = clock_mono_ns();
	for (;;) {
		assert_int_equal(cluster_sessions_csv(f->b->s, &csv, NULL), 0);
		if (strstr(csv.data, line))
			break;
		assert_true(clock_mono_ns() - t1 < 3 * 1000000000LL);
		sleep_ms(20);
	}
	buf_free(&csv);
	assert_false(cluster_leads(f->a->s, ROLE, NULL));
	assert_true(cluster_leads(f->b->s, ROLE, NULL));
}

static int put_fenced(struct store *s, kv_rev fence, const char *key, const char *val,
		      struct mlfs_err *err)
{
	struct kv_op op = { .kind = KV_OP_PUT, .key = key, .klen = strlen(key),
			    .val = val, .vlen = strlen(val) };
	return cluster_fenced_commit(s, ROLE, fence, NULL, 0, &op, 1, NULL, err);
}

/* Whoever leads, a deposed leader's write with its old token fails. */
static void test_fencing_rejects_deposed(void **state)
{
	struct fx *f = *state;
	kv_rev fa = 0, fb = 0;
	char key[64];
	struct mlfs_err err = { 0 };
	snprintf(key, sizeof(key), "%sdata", f->p);
	assert_true(cluster_leads(f->a->s, ROLE, &fa));
	assert_int_equal(put_fenced(f->a->s, fa, key, "a1", &err), 0);
	assert_false(cluster_leads(f->b->s, ROLE, NULL));
	assert_int_equal(put_fenced(f->b->s, 0, key, "b0", &err), -ECANCELED);
	cluster_test_pause(f->a->s, true);
	assert_true(wait_leads(f->b->s, true, (TTL_S + 2) * 1000) >= 0);
	assert_true(cluster_leads(f->b->s, ROLE, &fb));
	/* A, still running, writes late with its old token */
	assert_int_equal(put_fenced(f->a->s, fa, key, "a2", &err), -ECANCELED);
	assert_non_null(strstr(err.msg, "no longer led"));
	assert_int_equal(put_fenced(f->b->s, fb, key, "b1", &err), 0);
	/* a failing compare of the caller's own is told apart */
	struct kv_cmp cmp = { .kind = KV_CMP_ABSENT, .key = key, .klen = strlen(key) };
	struct kv_op op = { .kind = KV_OP_DEL, .key = key, .klen = strlen(key) };
	assert_int_equal(cluster_fenced_commit(f->b->s, ROLE, fb, &cmp, 1, &op, 1, NULL, &err),
			 -ECANCELED);
	assert_non_null(strstr(err.msg, "a compare failed"));
	struct buf v = { 0 };
	assert_int_equal(kv_get(f->kva, key, strlen(key), &v, NULL, NULL), 0);
	assert_string_equal(v.data, "b1");
	buf_free(&v);
	cluster_test_pause(f->a->s, false);
}

/* An occurrence is claimed once: again by the same leader, or by the next
 * one, it is -EALREADY; a later one is the new leader's; the old leader
 * can claim nothing more. */
static void test_claim_once(void **state)
{
	struct fx *f = *state;
	kv_rev fa = 0, fb = 0;
	struct mlfs_err err = { 0 };
	const char *what = "job/1/schedule";
	assert_true(cluster_leads(f->a->s, ROLE, &fa));
	assert_int_equal(cluster_claim(f->a->s, ROLE, fa, what, 100, &err), 0);
	assert_int_equal(cluster_claim(f->a->s, ROLE, fa, what, 100, &err), -EALREADY);
	assert_int_equal(cluster_claim(f->a->s, ROLE, fa, what, 40, &err), -EALREADY);
	assert_int_equal(cluster_claim(f->a->s, ROLE, fa, "job/2/schedule", 40, &err), 0);
	assert_false(cluster_leads(f->b->s, ROLE, NULL));
	assert_int_equal(cluster_claim(f->b->s, ROLE, 0, what, 200, &err), -ECANCELED);
	cluster_test_pause(f->a->s, true);
	assert_true(wait_leads(f->b->s, true, (TTL_S + 2) * 1000) >= 0);
	assert_true(cluster_leads(f->b->s, ROLE, &fb));
	assert_int_equal(cluster_claim(f->b->s, ROLE, fb, what, 100, &err), -EALREADY);
	assert_int_equal(cluster_claim(f->a->s, ROLE, fa, what, 200, &err), -ECANCELED);
	assert_int_equal(cluster_claim(f->b->s, ROLE, fb, what, 200, &err), 0);
	assert_int_equal(cluster_claim(f->b->s, ROLE, fb, what, 200, &err), -EALREADY);
	cluster_test_pause(f->a->s, false);
}

/* A job on two hosts (here two stores with one job each, the same id:
 * what one platform's two mounts see): a scheduled occurrence starts on
 * the leader only, and the next leader skips it even when its own record
 * of the last fire is behind (the old leader died between its claim and
 * the record reaching it); the next occurrence is the new leader's. */
static void test_scheduler_runs_occurrence_once(void **state)
{
	struct fx *f = *state;
	struct store *host[2] = { f->a->s, f->b->s };
	struct mlfs_err err = { 0 };
	/* once a year: the schedulers' own threads never fire it */
	const char *spec = "schedule: \"0 0 1 1 *\"\ntasks:\n  - {name: t, refresh: feat}\n";
	/* A campaigns first, before either scheduler thread can */
	assert_true(cluster_leads(f->a->s, ROLE, NULL));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(features_create(host[i], "feat", &err), 0);
		assert_int_equal(jobs_start(host[i], NULL, NULL, NULL, &err), 0);
		assert_int_equal(job_create(host[i], "yearly", 0, 0, 0755, NULL, &err), 0);
		if (job_file_set(host[i], "yearly", "job.yaml", spec, strlen(spec), true, &err))
			fail_msg("job.yaml: %s", err.msg);
	}
	int64_t year = 366LL * 86400 * 1000, now = clock_now_ms();
	assert_true(cluster_leads(f->a->s, ROLE, NULL));
	assert_int_equal(jobs_tick(f->b->s, now + year), 0);	/* not the leader */
	assert_int_equal(jobs_tick(f->a->s, now + year), 1);
	assert_int_equal(jobs_tick(f->a->s, now + year), 0);
	cluster_test_pause(f->a->s, true);
	assert_true(wait_leads(f->b->s, true, (TTL_S + 2) * 1000) >= 0);
	assert_int_equal(jobs_tick(f->a->s, now + 2 * year), 0);	/* deposed */
	assert_int_equal(jobs_tick(f->b->s, now + year), 0);	/* A's occurrence */
	assert_int_equal(jobs_tick(f->b->s, now + 2 * year), 1);	/* the next one */
	cluster_test_pause(f->a->s, false);
	for (int i = 0; i < 2; i++)
		jobs_stop(host[i]);
}

/* Detaching (an unmount) revokes the lease: the other host leads at once,
 * not after the TTL, and counts no other session. */
static void test_detach_hands_over(void **state)
{
	struct fx *f = *state;
	assert_true(cluster_leads(f->a->s, ROLE, NULL));
	assert_false(cluster_leads(f->b->s, ROLE, NULL));
	assert_int_equal(cluster_others(f->b->s, NULL), 1);
	cluster_detach(f->a->s);
	assert_false(cluster_leads(f->a->s, ROLE, NULL));
	assert_int_equal(cluster_others(f->b->s, NULL), 0);
	assert_int_equal(cluster_others(f->a->s, NULL), 0);	/* detached */
	assert_true(wait_leads(f->b->s, true, 1000) >= 0);
	struct buf csv = { 0 };
	assert_int_equal(cluster_sessions_csv(f->b->s, &csv, NULL), 0);
	assert_null(strstr(csv.data, "hostA"));
	buf_free(&csv);
}

/* The embedded default: a store nobody attached leads on first use; a
 * dead process's session and election key left in the store do not
 * delay it. */
static void test_embedded_default(void **state)
{
	(void)state;
	struct store_fixture *sf = store_fixture_open();
	struct kv *kv;
	kv_lease lease;
	char host[64], pid[32];
	assert_int_equal(kv_open(sf->s, NULL, &kv, NULL), 0);
	assert_int_equal(kv_lease_grant(kv, 30, &lease, NULL), 0);
	assert_int_equal(kv_put(kv, "h/e/scheduler", 13, "dead.1 5", 8, lease, NULL), 0);
	assert_int_equal(kv_put(kv, "h/s/dead.1", 10, "dead\t1\t0\t/x", 11, lease, NULL), 0);
	store_fixture_reopen(sf);
	kv_rev fence = 0;
	assert_true(cluster_leads(sf->s, ROLE, &fence));
	assert_true(fence > 0);
	struct buf csv = { 0 };
	assert_int_equal(cluster_sessions_csv(sf->s, &csv, NULL), 0);
	assert_null(strstr(csv.data, "dead"));
	gethostname(host, sizeof(host));
	snprintf(pid, sizeof(pid), ".%ld,", (long)getpid());
	assert_non_null(strstr(csv.data, pid));
	assert_non_null(strstr(csv.data, ",scheduler\n"));
	assert_int_equal(cluster_attach(sf->s, NULL, NULL, NULL), -EBUSY);
	buf_free(&csv);
	/* a restart: the old session went with store_close */
	store_fixture_reopen(sf);
	assert_true(cluster_leads(sf->s, ROLE, NULL));
	store_fixture_close(sf);
}

/* The other process of test_killed_process (this program run with
 * "--hold PREFIX"): join as host "child", lead, print the token, wait to
 * be killed. */
static int hold(const char *prefix)
{
	struct fx f = { 0 };
	struct kv *kv;
	kv_rev fence = 0;
	snprintf(f.p, sizeof(f.p), "%s", prefix);
	struct store_fixture *sf = store_fixture_open();
	if (kv_open(NULL, etcd(), &kv, NULL))
		return 2;
	attach(&f, sf->s, kv, "child");
	while (!cluster_leads(sf->s, ROLE, &fence))
		sleep_ms(10);
	printf("%llu\n", (unsigned long long)fence);
	fflush(stdout);
	for (;;)
		pause();
}

/* etcd only: the holder is another process; SIGKILL it and this one
 * leads within the TTL and a margin, with a later token. */
static void test_killed_process(void **state)
{
	struct fx *f = *state;
	int fds[2];
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	assert_int_equal(pipe(fds), 0);
	cluster_detach(f->a->s);
	pid_t child = fork();
	assert_true(child >= 0);
	if (!child) {
		dup2(fds[1], 1);
		execl(self, self, "--hold", f->p, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	kv_rev fc = 0, fb = 0;
	FILE *in = fdopen(fds[0], "r");
	unsigned long long got = 0;
	assert_int_equal(fscanf(in, "%llu", &got), 1);
	fclose(in);
	fc = got;
	assert_false(cluster_leads(f->b->s, ROLE, NULL));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int64_t ms = wait_leads(f->b->s, true, (TTL_S + 2) * 1000);
	assert_true(ms >= 0);
	assert_true(cluster_leads(f->b->s, ROLE, &fb));
	assert_true(fb > fc);
	print_message("fail-over: leader killed, the other led after %lld ms (TTL %d s)\n",
		      (long long)ms, TTL_S);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--hold"))
		return hold(argv[2]);
	const struct backend_case cases[] = {
		BOTH(cmocka_unit_test_setup_teardown(test_campaign_one_leader, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_resign_hands_over, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_expiry_takeover, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_fencing_rejects_deposed, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_claim_once, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_scheduler_runs_occurrence_once, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_detach_hands_over, setup, teardown)),
		EMBEDDED_ONLY(cmocka_unit_test(test_embedded_default)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_killed_process, setup, teardown)),
	};
	return BACKEND_CASES_RUN("cluster", cases, etcd() != NULL);
}
