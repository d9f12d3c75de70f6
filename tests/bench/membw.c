/* Streaming-read memory bandwidth: T threads each sum their slice of a
 * buffer far bigger than the caches, R times; prints the median GB/s. The
 * floor of tests/bench/model.sh (bytes of weights per token / bandwidth)
 * is computed from this number.
 *   membw [-t THREADS] [-s MIB] [-r REPEATS] [--json] */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Sixteen bytes of unsigned 64-bit lanes: GCC and clang turn adds of these
 * into SSE2 (or wider) vector adds at -O2, without target flags, so the
 * loop below is limited by memory, not by instruction issue. */
typedef uint64_t lanes __attribute__((vector_size(16)));

/* Bytes one iteration of the inner loop reads: eight independent
 * accumulators, two cache lines. */
#define STEP_BYTES (8 * sizeof(lanes))

struct worker {
	pthread_t thread;         /* this worker */
	unsigned char *slice;     /* its part of the buffer */
	size_t bytes;             /* bytes in slice, a multiple of STEP_BYTES */
	unsigned repeats;         /* passes to make */
	pthread_barrier_t *start; /* every pass starts here, with the timer */
	pthread_barrier_t *done;  /* and ends here */
	uint64_t sum;             /* the last pass's sum, so the reads are used */
};

/* Sums bytes of p as 64-bit words. The eight accumulators have no
 * dependency on one another, so loads and adds overlap; noinline keeps the
 * compiler from fusing passes over the same memory. */
__attribute__((noinline)) static uint64_t sum_slice(const unsigned char *p, size_t bytes)
{
	const lanes *v = (const lanes *)(const void *)p;
	size_t n = bytes / sizeof(lanes);
	lanes a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0};
	lanes a4 = {0, 0}, a5 = {0, 0}, a6 = {0, 0}, a7 = {0, 0};
	for (size_t i = 0; i < n; i += 8) {
		a0 += v[i + 0];
		a1 += v[i + 1];
		a2 += v[i + 2];
		a3 += v[i + 3];
		a4 += v[i + 4];
		a5 += v[i + 5];
		a6 += v[i + 6];
		a7 += v[i + 7];
	}
	lanes s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
	return s[0] + s[1];
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* Fault the slice's pages in from the thread that reads them (and make
	 * them distinct from the zero page) before the clock starts. */
	for (size_t i = 0; i < w->bytes; i += 64)
		((volatile unsigned char *)w->slice)[i] = (unsigned char)(i >> 6);
	pthread_barrier_wait(w->done);
	/* One more pass than timed: the first warms the TLB and the page walk
	 * caches and is not counted. */
	for (unsigned r = 0; r <= w->repeats; r++) {
		pthread_barrier_wait(w->start);
		uint64_t sum = sum_slice(w->slice, w->bytes);
		/* A volatile store: the sum is observable, so the loads are kept. */
		*(volatile uint64_t *)&w->sum = sum;
		pthread_barrier_wait(w->done);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int usage(void)
{
	fprintf(stderr, "usage: membw [-t THREADS] [-s MIB] [-r REPEATS] [--json]\n");
	return 2;
}

/* Parses a whole decimal number in [min, max]; -1 otherwise. */
static long parse_count(const char *text, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return -1;
	return v;
}

int main(int argc, char **argv)
{
	long threads = 2, mib = 1024, repeats = 5;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			json = 1;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		if (strcmp(a, "-t") == 0)
			threads = parse_count(argv[++i], 1, 1024);
		else if (strcmp(a, "-s") == 0)
			mib = parse_count(argv[++i], 1, 1L << 20);
		else if (strcmp(a, "-r") == 0)
			repeats = parse_count(argv[++i], 1, 1000);
		else
			return usage();
		if (threads < 0 || mib < 0 || repeats < 0)
			return usage();
	}

	/* Each thread's slice is a whole number of STEP_BYTES. */
	size_t slice_bytes = ((size_t)mib << 20) / (size_t)threads / STEP_BYTES * STEP_BYTES;
	if (slice_bytes == 0) {
		fprintf(stderr, "membw: %ld MiB is too small for %ld threads\n", mib, threads);
		return 2;
	}
	size_t total = slice_bytes * (size_t)threads;
	unsigned char *buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct worker *workers = calloc((size_t)threads, sizeof(*workers));
	double *gbps = calloc((size_t)repeats, sizeof(*gbps));
	if (buf == MAP_FAILED || !workers || !gbps) {
		fprintf(stderr, "membw: cannot allocate %zu bytes\n", total);
		return 1;
	}
	pthread_barrier_t start, done;
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
	for (long t = 0; t < threads; t++) {
		struct worker *w = &workers[t];
		w->slice = buf + (size_t)t * slice_bytes;
		w->bytes = slice_bytes;
		w->repeats = (unsigned)repeats;
		w->start = &start;
		w->done = &done;
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			fprintf(stderr, "membw: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	pthread_barrier_wait(&done);
	for (long r = -1; r < repeats; r++) {
		double t0 = now_s();
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		if (r >= 0)
			gbps[r] = (double)total / (now_s() - t0) / 1e9;
	}
	uint64_t checksum = 0;
	for (long t = 0; t < threads; t++) {
		pthread_join(workers[t].thread, NULL);
		checksum += workers[t].sum;
	}

	qsort(gbps, (size_t)repeats, sizeof(*gbps), compare_double);
	double median = repeats % 2 ? gbps[repeats / 2] : (gbps[repeats / 2 - 1] + gbps[repeats / 2]) / 2;
	double spread = (gbps[repeats - 1] - gbps[0]) / median;
	if (json)
		printf("{\"threads\":%ld,\"bytes\":%zu,\"repeats\":%ld,\"gb_per_s\":%.3f,\"min_gb_per_s\":%.3f,"
		       "\"max_gb_per_s\":%.3f,\"spread\":%.4f,\"checksum\":%llu}\n",
		       threads, total, repeats, median, gbps[0], gbps[repeats - 1], spread,
		       (unsigned long long)checksum);
	else
		printf("%ld threads, %zu MiB, %ld repeats: %.2f GB/s median (min %.2f, max %.2f, spread %.1f%%)\n",
		       threads, total >> 20, repeats, median, gbps[0], gbps[repeats - 1], spread * 100);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&done);
	munmap(buf, total);
	free(workers);
	free(gbps);
	return 0;
}
