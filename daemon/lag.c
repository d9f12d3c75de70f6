/* Loop lag measurement. */
#include "daemon/lag.h"

#include <stdlib.h>

#include "common/xalloc.h"
#include "daemon/metrics.h"

#define LAG_INTERVAL_MS 20

struct lag {
	uv_timer_t timer;                   /* fires every LAG_INTERVAL_MS */
	uint64_t expected_ns;               /* when it should fire next */
	struct metrics_histogram histogram; /* lateness, seconds */
	double max_seconds;                 /* the worst lateness seen */
};

static void lag_tick(uv_timer_t *timer)
{
	struct lag *l = timer->data;
	uint64_t now = uv_hrtime();
	double late = now > l->expected_ns ? (double)(now - l->expected_ns) / 1e9 : 0;
	metrics_histogram_observe(&l->histogram, late);
	if (late > l->max_seconds)
		l->max_seconds = late;
	l->expected_ns = now + LAG_INTERVAL_MS * 1000000ull;
}

struct lag *lag_start(uv_loop_t *loop)
{
	struct lag *l = xcalloc(1, sizeof(*l));
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	l->expected_ns = uv_hrtime() + LAG_INTERVAL_MS * 1000000ull;
	uv_timer_start(&l->timer, lag_tick, LAG_INTERVAL_MS, LAG_INTERVAL_MS);
	uv_unref((uv_handle_t *)&l->timer);
	return l;
}

void lag_stop(struct lag *l)
{
	if (l)
		uv_close((uv_handle_t *)&l->timer, (uv_close_cb)free);
}

void lag_collect_metrics(struct buf *out, void *arg)
{
	struct lag *l = arg;
	metrics_write_header(out, "agentd_loop_lag_seconds", "histogram",
			     "How late a 20 ms timer fires: how long the event loop was busy.");
	metrics_histogram_write(out, "agentd_loop_lag_seconds", "", &l->histogram);
	metrics_write_header(out, "agentd_loop_lag_max_seconds", "gauge", "The worst loop lag seen.");
	buf_printf(out, "agentd_loop_lag_max_seconds %.6f\n", l->max_seconds);
}
