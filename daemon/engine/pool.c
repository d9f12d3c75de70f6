/* A small fork-join pool. A job is published by bumping a generation
 * counter; workers spin on it for a while, then sleep on it with
 * FUTEX_WAIT. The caller runs share 0 itself and then waits for the count
 * of finished workers to reach threads-1. */
#include "daemon/engine/pool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/xalloc.h"

/* How a thread waits for the next job (a worker) or for the job's end
 * (the caller): it polls with a pause (the gaps in a forward pass are
 * microseconds), then polls yielding the CPU (when the machine is busier
 * than the pool, the thread being waited for may need this one's core),
 * then sleeps on the futex, so that an idle engine costs nothing. */
#define POOL_SPIN_ROUNDS 2000
#define POOL_YIELD_ROUNDS 50

struct pool_worker {
	struct pool *pool;
	unsigned index;
	pthread_t thread;
};

struct pool {
	unsigned threads;
	struct pool_worker *workers;     /* threads-1 of them */
	_Atomic uint32_t generation;     /* bumped per job (the futex word) */
	_Atomic uint32_t finished;       /* workers done with the current job */
	_Atomic uint32_t sleepers;       /* workers in FUTEX_WAIT, or about to be */
	_Atomic uint32_t caller_waiting; /* the caller sleeps on finished */
	_Atomic int stop;                /* set when the pool is freed */
	pool_fn fn;                      /* the current job */
	void *arg;
};

static void pool_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void pool_futex_wait(_Atomic uint32_t *word, uint32_t seen)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void pool_futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* One round of waiting: true when the thread should sleep now. */
static bool pool_backoff(unsigned *rounds)
{
	(*rounds)++;
	if (*rounds < POOL_SPIN_ROUNDS) {
		pool_pause();
		return false;
	}
	if (*rounds < POOL_SPIN_ROUNDS + POOL_YIELD_ROUNDS) {
		sched_yield();
		return false;
	}
	*rounds = 0;
	return true;
}

static void *pool_main(void *arg)
{
	struct pool_worker *w = arg;
	struct pool *p = w->pool;
	uint32_t seen = 0;
	for (;;) {
		uint32_t gen;
		unsigned spins = 0;
		while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
			if (!pool_backoff(&spins))
				continue;
			atomic_fetch_add(&p->sleepers, 1);
			pool_futex_wait(&p->generation, seen);
			atomic_fetch_sub(&p->sleepers, 1);
		}
		seen = gen;
		if (atomic_load(&p->stop))
			return NULL;
		p->fn(p->arg, w->index, p->threads);
		/* Sequentially consistent, against the caller's store of
		 * caller_waiting and load of finished: one of the two sees
		 * the other, so the last worker never misses a sleeping caller. */
		if (atomic_fetch_add(&p->finished, 1) + 1 == p->threads - 1 && atomic_load(&p->caller_waiting))
			pool_futex_wake(&p->finished);
	}
}

int pool_new(unsigned threads, struct pool **out)
{
	*out = NULL;
	if (threads == 0)
		return -EINVAL;
	struct pool *p = xcalloc(1, sizeof(*p));
	p->threads = threads;
	p->workers = xcalloc(threads, sizeof(*p->workers));
	for (unsigned i = 1; i < threads; i++) {
		p->workers[i].pool = p;
		p->workers[i].index = i;
		int rc = pthread_create(&p->workers[i].thread, NULL, pool_main, &p->workers[i]);
		if (rc != 0) {
			p->threads = i;
			pool_free(p);
			return -rc;
		}
	}
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
	pool_futex_wake(&p->generation);
	for (unsigned i = 1; i < p->threads; i++)
		pthread_join(p->workers[i].thread, NULL);
	free(p->workers);
	free(p);
}

unsigned pool_threads(const struct pool *p)
{
	return p->threads;
}

void pool_run(struct pool *p, pool_fn fn, void *arg)
{
	if (p->threads == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
	if (atomic_load(&p->sleepers) > 0)
		pool_futex_wake(&p->generation);
	fn(arg, 0, p->threads);
	unsigned rounds = 0;
	uint32_t done;
	while ((done = atomic_load(&p->finished)) != p->threads - 1) {
		if (!pool_backoff(&rounds))
			continue;
		atomic_store(&p->caller_waiting, 1);
		done = atomic_load(&p->finished);
		if (done != p->threads - 1)
			pool_futex_wait(&p->finished, done);
		atomic_store(&p->caller_waiting, 0);
	}
}
