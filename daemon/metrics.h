/* Prometheus text exposition: subsystems register collectors that append
 * their metrics to the page that GET /metrics serves. */
#ifndef AGENTD_METRICS_H
#define AGENTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef void (*metrics_collect_fn)(struct buf *out, void *ctx);

struct metrics;

/* The buckets (upper bounds, seconds) of every duration histogram. */
#define METRICS_DURATION_BUCKETS 14

struct metrics_histogram {
	uint64_t buckets[METRICS_DURATION_BUCKETS]; /* observations <= each bound (not cumulative) */
	uint64_t count;                             /* all observations */
	double sum;                                 /* sum of observed values */
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Adds a collector; ctx is borrowed and must outlive m. */
void metrics_register(struct metrics *m, metrics_collect_fn fn, void *ctx);
/* Appends the whole exposition to out. */
void metrics_render(const struct metrics *m, struct buf *out);

/* Helpers for collectors. */
void metrics_write_header(struct buf *out, const char *name, const char *type, const char *help);
/* Appends value escaped for a label (\\, \" and \n). */
void metrics_write_label_value(struct buf *out, const char *value);
void metrics_histogram_observe(struct metrics_histogram *h, double seconds);
/* Writes NAME_bucket{labels,le=…}, NAME_sum and NAME_count lines; labels is
 * already formatted (`route="/healthz"`) or empty. */
void metrics_histogram_write(struct buf *out, const char *name, const char *labels, const struct metrics_histogram *h);

#endif
