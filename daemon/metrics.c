/* Collector registry and Prometheus text-format helpers. */
#include "daemon/metrics.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/xalloc.h"

struct metrics_collector {
	metrics_collect_fn fn; /* appends metrics */
	void *ctx;             /* borrowed */
};

struct metrics {
	struct metrics_collector *collectors; /* count entries */
	size_t count;
};

static const double metrics_bounds[METRICS_DURATION_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30,
};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->collectors);
	free(m);
}

void metrics_register(struct metrics *m, metrics_collect_fn fn, void *ctx)
{
	m->collectors = xrealloc(m->collectors, (m->count + 1) * sizeof(*m->collectors));
	m->collectors[m->count].fn = fn;
	m->collectors[m->count].ctx = ctx;
	m->count++;
}

void metrics_render(const struct metrics *m, struct buf *out)
{
	for (size_t i = 0; i < m->count; i++)
		m->collectors[i].fn(out, m->collectors[i].ctx);
}

void metrics_write_header(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_write_label_value(struct buf *out, const char *value)
{
	for (const char *c = value; *c; c++) {
		if (*c == '\\' || *c == '"') {
			buf_append_char(out, '\\');
			buf_append_char(out, *c);
		} else if (*c == '\n') {
			buf_append_str(out, "\\n");
		} else {
			buf_append_char(out, *c);
		}
	}
}

void metrics_histogram_observe(struct metrics_histogram *h, double seconds)
{
	for (unsigned i = 0; i < METRICS_DURATION_BUCKETS; i++) {
		if (seconds <= metrics_bounds[i]) {
			h->buckets[i]++;
			break;
		}
	}
	h->count++;
	h->sum += seconds;
}

void metrics_histogram_write(struct buf *out, const char *name, const char *labels, const struct metrics_histogram *h)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cumulative = 0;
	for (unsigned i = 0; i < METRICS_DURATION_BUCKETS; i++) {
		cumulative += h->buckets[i];
		buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep, metrics_bounds[i],
			   cumulative);
	}
	buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, h->count);
	if (labels[0]) {
		buf_printf(out, "%s_sum{%s} %.9g\n", name, labels, h->sum);
		buf_printf(out, "%s_count{%s} %" PRIu64 "\n", name, labels, h->count);
	} else {
		buf_printf(out, "%s_sum %.9g\n", name, h->sum);
		buf_printf(out, "%s_count %" PRIu64 "\n", name, h->count);
	}
}
