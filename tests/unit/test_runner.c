/* test_runner.c - the job runner: jobs run and report their result and
 * message, the completion callback runs on a runner thread, cancel
 * reaches a running job, stop cancels what is left and calls back. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runner.h"

struct probe {
	int value;
	int result;		/* from done */
	char msg[512];		/* from done */
	pthread_t done_thread;
	int done_calls;
	int freed;
	bool started;		/* spin job: it is running */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static int add_job(void *arg, const struct runner_job *job, struct mlfs_err *err)
{
	struct probe *p = arg;
	if (p->value < 0)
		return mlfs_fail(err, -EINVAL, "bad value %d", p->value);
	return p->value * 2;
}

/* Runs until cancelled. */
static int spin_job(void *arg, const struct runner_job *job, struct mlfs_err *err)
{
	struct probe *p = arg;
	pthread_mutex_lock(&lock);
	p->started = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lock);
	while (!runner_cancelled(job))
		usleep(1000);
	return mlfs_fail(err, -ECANCELED, "stopped");
}

static void on_done(void *arg, int result, const struct mlfs_err *err)
{
	struct probe *p = arg;
	pthread_mutex_lock(&lock);
	p->result = result;
	memcpy(p->msg, err->msg, sizeof(p->msg));
	p->done_thread = pthread_self();
	p->done_calls++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lock);
}

static void on_free(void *arg)
{
	struct probe *p = arg;
	pthread_mutex_lock(&lock);
	p->freed++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lock);
}

static void wait_freed(struct probe *p)
{
	pthread_mutex_lock(&lock);
	while (!p->freed)
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
}

static void test_result_message_and_callback_thread(void **state)
{
	struct runner *r;
	struct probe ok = { .value = 21 }, bad = { .value = -1 };
	uint64_t id1, id2;
	enum runner_state st;
	int result;
	struct mlfs_err err = { 0 };

	assert_int_equal(runner_start(2, &r), 0);
	assert_int_equal(runner_submit(r, add_job, &ok, on_free, on_done, &id1), 0);
	assert_int_equal(runner_submit(r, add_job, &bad, on_free, on_done, &id2), 0);
	assert_true(id2 > id1);
	wait_freed(&ok);
	wait_freed(&bad);
	assert_int_equal(ok.result, 42);
	assert_int_equal(bad.result, -EINVAL);
	assert_string_equal(bad.msg, "bad value -1");
	assert_int_equal(ok.done_calls, 1);
	assert_false(pthread_equal(ok.done_thread, pthread_self()));
	assert_int_equal(runner_status(r, id2, &st, &result, &err), 0);
	assert_int_equal(st, RUNNER_DONE);
	assert_int_equal(result, -EINVAL);
	assert_string_equal(err.msg, "bad value -1");
	assert_int_equal(runner_status(r, 999, &st, NULL, NULL), -ENOENT);
	assert_int_equal(runner_cancel(r, id1), -ENOENT);	/* done */
	runner_stop(r);
}

static void test_cancel_running_job(void **state)
{
	struct runner *r;
	struct probe p = { 0 };
	uint64_t id;
	enum runner_state st;

	assert_int_equal(runner_start(1, &r), 0);
	assert_int_equal(runner_submit(r, spin_job, &p, on_free, on_done, &id), 0);
	pthread_mutex_lock(&lock);
	while (!p.started)
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
	assert_int_equal(runner_status(r, id, &st, NULL, NULL), 0);
	assert_int_equal(st, RUNNER_RUNNING);
	assert_int_equal(runner_cancel(r, id), 0);
	wait_freed(&p);
	assert_int_equal(p.result, -ECANCELED);
	assert_string_equal(p.msg, "stopped");
	runner_stop(r);
}

static void test_stop_cancels_running_and_queued(void **state)
{
	struct runner *r;
	struct probe spin = { 0 }, queued = { .value = 5 };

	assert_int_equal(runner_start(1, &r), 0);
	assert_int_equal(runner_submit(r, spin_job, &spin, on_free, on_done, NULL), 0);
	assert_int_equal(runner_submit(r, add_job, &queued, on_free, on_done, NULL), 0);
	pthread_mutex_lock(&lock);
	while (!spin.started)
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
	runner_stop(r);
	assert_int_equal(spin.done_calls, 1);
	assert_int_equal(spin.result, -ECANCELED);
	/* The queued job never ran: cancelled, still called back and freed. */
	assert_int_equal(queued.done_calls, 1);
	assert_int_equal(queued.result, -ECANCELED);
	assert_int_equal(queued.freed, 1);
}

static void test_bad_worker_count(void **state)
{
	struct runner *r;
	assert_int_equal(runner_start(0, &r), -EINVAL);
	runner_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_message_and_callback_thread),
		cmocka_unit_test(test_cancel_running_job),
		cmocka_unit_test(test_stop_cancels_running_and_queued),
		cmocka_unit_test(test_bad_worker_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
