/* The store thread, its queue and group commit, and the connections. */
#include "daemon/store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/log.h"
#include "daemon/metrics.h"

/* Writes committed together at most; more wait for the next transaction. */
#define STORE_MAX_BATCH 512

sqlite3_stmt *store_stmt(struct store_conn *conn, const char *sql, char *err, size_t errlen)
{
	for (size_t i = 0; i < conn->count; i++) {
		if (conn->sql[i] == sql) {
			sqlite3_reset(conn->stmt[i]);
			sqlite3_clear_bindings(conn->stmt[i]);
			return conn->stmt[i];
		}
	}
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "prepare: %s", sqlite3_errmsg(conn->db));
		return NULL;
	}
	if (conn->count < STORE_STMT_CACHE) {
		conn->sql[conn->count] = sql;
		conn->stmt[conn->count] = stmt;
		conn->count++;
	}
	return stmt;
}

int store_exec(struct store_conn *conn, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(conn->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(conn->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int store_step_done(struct store_conn *conn, sqlite3_stmt *stmt, char *err, size_t errlen)
{
	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(conn->db));
		return -EIO;
	}
	return 0;
}

static void store_conn_close(struct store_conn *conn)
{
	for (size_t i = 0; i < conn->count; i++)
		sqlite3_finalize(conn->stmt[i]);
	conn->count = 0;
	if (conn->db)
		sqlite3_close(conn->db);
	conn->db = NULL;
}

void store_submit(struct store *s, struct store_op *op)
{
	op->next = NULL;
	op->status = 0;
	op->err[0] = '\0';
	pthread_mutex_lock(&s->lock);
	if (s->queue_tail)
		s->queue_tail->next = op;
	else
		s->queue = op;
	s->queue_tail = op;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* Applies and commits one batch on the store thread. */
static void store_commit_batch(struct store *s, struct store_op *batch)
{
	char err[256];
	int rc = store_exec(&s->writer, "BEGIN IMMEDIATE", err, sizeof(err));
	uint64_t n = 0;
	for (struct store_op *op = batch; op; op = op->next, n++) {
		if (rc < 0) {
			op->status = rc;
			snprintf(op->err, sizeof(op->err), "cannot begin a transaction: %s", err);
			continue;
		}
		store_exec(&s->writer, "SAVEPOINT op", err, sizeof(err));
		op->status = op->apply(&s->writer, op, op->err, sizeof(op->err));
		if (op->status < 0)
			store_exec(&s->writer, "ROLLBACK TO op", err, sizeof(err));
		store_exec(&s->writer, "RELEASE op", err, sizeof(err));
	}
	if (rc == 0 && store_exec(&s->writer, "COMMIT", err, sizeof(err)) < 0) {
		store_exec(&s->writer, "ROLLBACK", err, sizeof(err));
		for (struct store_op *op = batch; op; op = op->next) {
			if (op->status == 0) {
				op->status = -EIO;
				snprintf(op->err, sizeof(op->err), "commit failed: %s", err);
			}
		}
		log_event(LOG_LEVEL_ERROR, "store commit failed", "error", err, NULL);
		rc = -EIO;
	}
	pthread_mutex_lock(&s->lock);
	if (rc == 0)
		s->stats.commits++;
	for (struct store_op *op = batch; op; op = op->next) {
		if (op->status == 0)
			s->stats.writes++;
		else
			s->stats.failed++;
	}
	if (n > s->stats.max_batch)
		s->stats.max_batch = n;
	struct store_op *last = batch;
	while (last->next)
		last = last->next;
	if (s->done_tail)
		s->done_tail->next = batch;
	else
		s->done = batch;
	s->done_tail = last;
	pthread_mutex_unlock(&s->lock);
	uv_async_send(&s->async);
}

static void *store_thread_main(void *arg)
{
	struct store *s = arg;
	pthread_setname_np(pthread_self(), "agentd-store");
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->queue && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (!s->queue)
			break;
		/* Take up to STORE_MAX_BATCH writes: everything that arrived
		 * while the previous commit was being fsynced. */
		struct store_op *batch = s->queue, *last = batch;
		size_t n = 1;
		while (last->next && n < STORE_MAX_BATCH) {
			last = last->next;
			n++;
		}
		s->queue = last->next;
		if (!s->queue)
			s->queue_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->lock);
		store_commit_batch(s, batch);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Runs the callbacks of committed writes (loop thread). */
static void store_run_done(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	struct store_op *op = s->done;
	s->done = s->done_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	while (op) {
		struct store_op *next = op->next;
		op->done(op, op->status, op->err);
		op = next;
	}
}

static const char store_sql_begin[] = "BEGIN";
static const char store_sql_commit[] = "COMMIT";

struct store_conn *store_reader(struct store *s)
{
	if (!s->reading) {
		char err[256];
		sqlite3_stmt *stmt = store_stmt(&s->reader, store_sql_begin, err, sizeof(err));
		if (stmt && sqlite3_step(stmt) == SQLITE_DONE)
			s->reading = true;
		if (stmt)
			sqlite3_reset(stmt);
	}
	return &s->reader;
}

static void store_end_reads(uv_prepare_t *prepare)
{
	struct store *s = prepare->data;
	if (!s->reading)
		return;
	char err[256];
	sqlite3_stmt *stmt = store_stmt(&s->reader, store_sql_commit, err, sizeof(err));
	if (stmt) {
		sqlite3_step(stmt);
		sqlite3_reset(stmt);
	}
	s->reading = false;
}

static void store_on_async(uv_async_t *async)
{
	store_run_done(async->data);
}

static int store_open_conn(struct store_conn *conn, const char *path, int flags, char *err, size_t errlen)
{
	memset(conn, 0, sizeof(*conn));
	int rc = sqlite3_open_v2(path, &conn->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
			 conn->db ? sqlite3_errmsg(conn->db) : sqlite3_errstr(rc));
		return -EIO;
	}
	sqlite3_extended_result_codes(conn->db, 1);
	sqlite3_busy_timeout(conn->db, 5000);
	return 0;
}

int store_open(uv_loop_t *loop, const char *path, struct store **out, char *err, size_t errlen)
{
	*out = NULL;
	struct store *s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	int rc = store_open_conn(&s->writer, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
	if (rc == 0)
		rc = store_exec(&s->writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
				err, errlen);
	if (rc == 0)
		rc = store_migrations_check(agentd_migrations, agentd_migrations_count, err, errlen);
	if (rc == 0)
		rc = store_migrate(s->writer.db, agentd_migrations, agentd_migrations_count, err, errlen);
	if (rc == 0)
		rc = store_open_conn(&s->reader, path, SQLITE_OPEN_READONLY, err, errlen);
	if (rc == 0)
		rc = store_tasks_load_counts(s, err, errlen);
	if (rc < 0)
		goto fail;
	/* No write can be queued before store_open returns, so the thread
	 * never signals the async handle before it is initialised. */
	if (pthread_create(&s->thread, NULL, store_thread_main, s) != 0) {
		snprintf(err, errlen, "cannot start the store thread");
		rc = -EAGAIN;
		goto fail;
	}
	s->thread_started = true;
	uv_async_init(loop, &s->async, store_on_async);
	s->async.data = s;
	uv_prepare_init(loop, &s->end_reads);
	s->end_reads.data = s;
	uv_prepare_start(&s->end_reads, store_end_reads);
	/* The prepare handle alone must not keep the loop alive. */
	uv_unref((uv_handle_t *)&s->end_reads);
	*out = s;
	return 0;
fail:
	store_conn_close(&s->reader);
	store_conn_close(&s->writer);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
	return rc;
}

/* The store is freed once both of its handles are closed. */
static void store_handle_closed(uv_handle_t *handle)
{
	struct store *s = handle->data;
	if (--s->handles_open > 0)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	/* Every queued write is committed now; answer them. */
	store_run_done(s);
	store_end_reads(&s->end_reads);
	s->handles_open = 2;
	uv_close((uv_handle_t *)&s->end_reads, store_handle_closed);
	store_conn_close(&s->reader);
	/* A clean close checkpoints the WAL into the database file. */
	store_conn_close(&s->writer);
	uv_close((uv_handle_t *)&s->async, store_handle_closed);
}

void store_get_stats(const struct store *s, struct store_stats *out)
{
	pthread_mutex_lock((pthread_mutex_t *)&s->lock);
	*out = s->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
}

void store_collect_metrics(struct buf *out, void *arg)
{
	struct store *s = arg;
	struct store_stats st;
	store_get_stats(s, &st);
	metrics_write_header(out, "agentd_store_commits_total", "counter",
			     "Transactions committed to the database (one fsync each).");
	buf_printf(out, "agentd_store_commits_total %llu\n", (unsigned long long)st.commits);
	metrics_write_header(out, "agentd_store_writes_total", "counter",
			     "Write operations committed; writes per commit is the group-commit factor.");
	buf_printf(out, "agentd_store_writes_total %llu\n", (unsigned long long)st.writes);
	metrics_write_header(out, "agentd_store_write_failures_total", "counter", "Write operations that failed.");
	buf_printf(out, "agentd_store_write_failures_total %llu\n", (unsigned long long)st.failed);
	metrics_write_header(out, "agentd_store_max_batch", "gauge", "The most writes committed in one transaction.");
	buf_printf(out, "agentd_store_max_batch %llu\n", (unsigned long long)st.max_batch);
	metrics_write_header(out, "agentd_tasks", "gauge", "Tasks by state.");
	for (unsigned i = 0; i < TASK_STATE_COUNT; i++)
		buf_printf(out, "agentd_tasks{state=\"%s\"} %llu\n", task_state_name((enum task_state)i),
			   (unsigned long long)s->task_counts[i]);
}
