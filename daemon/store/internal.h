/* Internals shared by the files of daemon/store/. */
#ifndef AGENTD_STORE_INTERNAL_H
#define AGENTD_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "common/embedded.h"
#include "daemon/store/store.h"
#include "proto/task_state.h"

#define STORE_STMT_CACHE 32

/* A connection with its cache of prepared statements, keyed by the address
 * of the (static) SQL text. */
struct store_conn {
	sqlite3 *db;                          /* owned */
	const char *sql[STORE_STMT_CACHE];    /* cache keys */
	sqlite3_stmt *stmt[STORE_STMT_CACHE]; /* prepared statements */
	size_t count;                         /* entries in the cache */
};

/* A write: apply runs on the store thread inside the batch's transaction
 * (within its own savepoint, rolled back if it fails); done runs on the
 * loop thread after the commit, with apply's status or the commit's error. */
struct store_op {
	int (*apply)(struct store_conn *conn, struct store_op *op, char *err, size_t errlen);
	void (*done)(struct store_op *op, int status, const char *err);
	struct store_op *next; /* queue link */
	int status;            /* 0 or a negative errno */
	char err[256];         /* message when status < 0 */
};

struct store {
	uv_loop_t *loop;          /* the daemon's loop */
	struct store_conn writer; /* store thread only */
	struct store_conn reader; /* loop thread only */
	bool reading;             /* the reader's snapshot of this loop iteration is open */
	uv_prepare_t end_reads;   /* closes that snapshot before the loop blocks */
	int handles_open;         /* while closing: handles whose close is pending */
	pthread_t thread;         /* the store thread */
	bool thread_started;      /* thread must be joined */
	pthread_mutex_t lock;     /* protects the fields below up to done_tail */
	pthread_cond_t wake;      /* signals the store thread */
	struct store_op *queue;   /* writes waiting for the thread */
	struct store_op *queue_tail;
	struct store_op *done; /* committed writes waiting for the loop */
	struct store_op *done_tail;
	bool stopping;                          /* store_close was called */
	uv_async_t async;                       /* wakes the loop for done writes */
	struct store_stats stats;               /* updated under lock */
	uint64_t task_counts[TASK_STATE_COUNT]; /* loop thread: tasks by state */
	uint64_t pending_creates;               /* loop thread: inserts not yet committed */
};

/* store.c */
/* Queues a write; op must stay valid until its done callback. */
void store_submit(struct store *s, struct store_op *op);
/* A cached prepared statement for sql (a static string), reset and
 * unbound; NULL if it does not prepare (the message is in err). */
sqlite3_stmt *store_stmt(struct store_conn *conn, const char *sql, char *err, size_t errlen);
/* The reader connection, inside this loop iteration's read transaction:
 * reads in one iteration share one snapshot (and one set of locks), which
 * ends before the loop waits for I/O, so every answer sent earlier is
 * visible to a request read later. */
struct store_conn *store_reader(struct store *s);
/* Runs statement text that returns no rows. */
int store_exec(struct store_conn *conn, const char *sql, char *err, size_t errlen);
/* Steps a statement that returns no rows and resets it; 0 or -EIO with err. */
int store_step_done(struct store_conn *conn, sqlite3_stmt *stmt, char *err, size_t errlen);
/* Appends an event with the next seq of its task (runs.c); *seq gets it. */
int store_insert_event(struct store_conn *conn, const char *task_id, const char *run_id, const char *kind,
		       const char *data, int64_t now_ms, int64_t *seq, char *err, size_t errlen);

/* A task's state, attempts and whether its baseline is known (runs.c):
 * 0, -ENOENT (no such task, in err) or -EIO. */
int store_task_progress(struct store_conn *conn, const char *task_id, enum task_state *state, unsigned *attempts,
			bool *baseline, char *err, size_t errlen);

/* migrate.c */
extern const struct embedded_file agentd_migrations[];
extern const size_t agentd_migrations_count;
/* Checks that files are numbered 0001.. in order without gaps or repeats. */
int store_migrations_check(const struct embedded_file *files, size_t count, char *err, size_t errlen);
/* Brings db to the newest schema in one transaction; refuses a database
 * newer than the files. */
int store_migrate(sqlite3 *db, const struct embedded_file *files, size_t count, char *err, size_t errlen);

/* verify.c */
/* Moves a task to where its runs and verifications put it (running,
 * queued, verifying, awaiting_review with the best run, or failed). */
int store_settle_task(struct store_conn *conn, const char *task_id, int64_t now_ms, enum task_state *from,
		      enum task_state *to, char *err, size_t errlen);

/* tasks.c */
/* Loads the per-state counts at start-up (loop thread). */
int store_tasks_load_counts(struct store *s, char *err, size_t errlen);

#endif
