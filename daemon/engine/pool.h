/* The compute threads of a context: the caller and threads-1 workers that
 * run one function together, each on its own share of the work. Workers
 * spin briefly between jobs (a forward pass dispatches hundreds of jobs
 * microseconds apart) and then sleep on a futex, so an idle engine costs
 * no CPU. */
#ifndef AGENTD_ENGINE_POOL_H
#define AGENTD_ENGINE_POOL_H

/* fn runs once on every thread: worker is 0 (the caller) .. n_workers-1. */
typedef void (*pool_fn)(void *arg, unsigned worker, unsigned n_workers);

struct pool;

/* A pool of threads threads in all (the caller counts as one). Returns 0
 * with *out (free with pool_free), or a negative errno. */
int pool_new(unsigned threads, struct pool **out);
void pool_free(struct pool *p);
unsigned pool_threads(const struct pool *p);
/* Runs fn(arg, i, n) on every thread and returns when all have finished.
 * Not reentrant: one caller at a time. */
void pool_run(struct pool *p, pool_fn fn, void *arg);

#endif
