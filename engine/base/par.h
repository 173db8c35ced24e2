/* engine/base/par.h - one persistent pool of worker threads per process,
 * shared by training, tuning, refresh, scans and serving.  Workers are made
 * once and sleep between calls; a par_for wakes them, the caller takes
 * part, and it returns when every item is done.  Not a job queue (that is
 * runner.h): one call's items, split by thread index as ggml-cpu does. */
#ifndef MLFS_PAR_H
#define MLFS_PAR_H

#include <stddef.h>

struct par_pool;

/* A pool of NTHREADS threads counting the caller (NTHREADS - 1 workers);
 * 0: one per online CPU.  Never NULL (out of memory aborts, mlfs_oom);
 * when the system refuses threads, fewer take part.  Free with
 * par_pool_free, which joins the workers; NULL is a no-op. */
struct par_pool *par_pool_new(int nthreads);
void par_pool_free(struct par_pool *p);
/* Threads that take part in a call, the caller included (>= 1); 1 for
 * NULL, which every call below accepts and runs serially. */
int par_threads(const struct par_pool *p);
/* The process-wide pool, made on first use (thread-safe), freed at exit.
 * Its size: the environment variable MLFS_THREADS when a positive number,
 * else one thread per online CPU. */
struct par_pool *par_default(void);
/* Call fn(arg, i) for every i in [0, n) across the pool; the caller takes
 * part; returns when all n calls returned.  Items go to threads by index
 * (thread t takes i = t, t + T, ... or contiguous ranges: see par_range).
 * A par_for from inside a pool worker (nested) runs its items serially in
 * the calling thread: never a deadlock.  Thread-safe: a call made while
 * another thread's call has the pool runs serially in its own thread
 * rather than wait (a long training never holds up a scoring call). */
void par_for(struct par_pool *p, size_t n, void (*fn)(void *arg, size_t i), void *arg);
/* Split [0, n) into par_threads(p) contiguous ranges: call fn(arg, t, lo, hi).
 * Ranges differ in length by at most one, range t before range t + 1; an
 * empty range is not called (n < threads).  Nested, as par_for: one call
 * fn(arg, 0, 0, n) in the calling thread.  T is below par_threads(p): per
 * thread scratch may be indexed by it. */
void par_range(struct par_pool *p, size_t n, void (*fn)(void *arg, int t, size_t lo, size_t hi), void *arg);

#endif
