/* The store: SQLite in WAL mode. One thread owns the writable connection
 * and commits the writes that arrive together in one transaction (group
 * commit); each write's callback runs on the loop thread once its commit is
 * durable. Reads use a read-only connection on the loop thread. Only the
 * files of daemon/store/ write SQL. */
#ifndef AGENTD_STORE_STORE_H
#define AGENTD_STORE_STORE_H

#include <stdint.h>
#include <uv.h>

#include "common/buf.h"

struct store;

struct store_stats {
	uint64_t commits;   /* transactions committed (one fsync each) */
	uint64_t writes;    /* write operations committed */
	uint64_t failed;    /* write operations that failed */
	uint64_t max_batch; /* most writes committed together */
};

/* Opens (creating) the database at path, applies the embedded migrations
 * and starts the store thread. Returns 0 with *out (free with store_close),
 * or a negative errno with a message in err. */
int store_open(uv_loop_t *loop, const char *path, struct store **out, char *err, size_t errlen);
/* Commits what is queued, runs its callbacks, stops the thread, closes the
 * database and frees s (the loop must still run for the final handle
 * close). store_close(NULL) does nothing. */
void store_close(struct store *s);
void store_get_stats(const struct store *s, struct store_stats *out);
/* Metrics collector: commits, writes, batch sizes, tasks by state. */
void store_collect_metrics(struct buf *out, void *store);

#endif
