/* Event-loop lag: a timer that should fire every LAG_INTERVAL_MS measures
 * how late it fires, which is how long the loop was busy or blocked. */
#ifndef AGENTD_LAG_H
#define AGENTD_LAG_H

#include <uv.h>

#include "common/buf.h"

struct lag;

/* Starts measuring on loop; free with lag_stop (then the loop closes the
 * timer and frees it). The timer does not keep the loop alive. */
struct lag *lag_start(uv_loop_t *loop);
void lag_stop(struct lag *lag);
/* Metrics collector: agentd_loop_lag_seconds (histogram) and its maximum. */
void lag_collect_metrics(struct buf *out, void *lag);

#endif
