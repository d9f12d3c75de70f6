/* SQL for runs, events and the memories agents write. */
#include "daemon/store/runs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/store/internal.h"
#include "daemon/store/tasks.h"
#include "proto/json.h"

#define RUN_COLUMNS                                                                                                    \
	"id, task_id, attempt, slot, state, outcome, detail, base_commit, steps, tokens_in, tokens_out, changed, "     \
	"started_ms, ended_ms"

static const char sql_task_state[] = "SELECT state, attempts, baseline_passed IS NOT NULL FROM tasks WHERE id = ?1";
static const char sql_attempts[] =
	"SELECT COUNT(*) FROM runs WHERE task_id = ?1 AND (outcome IS NULL OR outcome != 'interrupted')";
static const char sql_insert_run[] = "INSERT INTO runs (id, task_id, attempt, slot, state, started_ms) "
				     "VALUES (?1, ?2, ?3, ?4, 'running', ?5)";
static const char sql_set_task_state[] = "UPDATE tasks SET state = ?2, reason = ?3, updated_ms = ?4 WHERE id = ?1";
static const char sql_next_seq[] = "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE task_id = ?1";
static const char sql_insert_event[] =
	"INSERT INTO events (task_id, seq, run_id, kind, data, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_insert_memory[] = "INSERT INTO memories (scope, text, source, trust, created_ms, updated_ms) "
					"VALUES (?1, ?2, ?3, 'agent', ?4, ?4)";
static const char sql_interrupt_run[] =
	"UPDATE runs SET state = 'ended', outcome = 'interrupted', detail = ?2, ended_ms = ?3 WHERE id = ?1";
static const char sql_run_progress[] = "UPDATE runs SET steps = ?2, tokens_in = ?3, tokens_out = ?4 WHERE id = ?1";
static const char sql_running_runs[] = "SELECT id, task_id FROM runs WHERE state = 'running'";
static const char sql_count_running[] = "SELECT COUNT(*) FROM runs WHERE state = 'running'";
static const char sql_list_runs[] = "SELECT " RUN_COLUMNS " FROM runs WHERE task_id = ?1 ORDER BY seq";
static const char sql_list_events[] =
	"SELECT seq, run_id, kind, data, created_ms FROM events WHERE task_id = ?1 AND seq > ?2 "
	"AND (?3 IS NULL OR run_id = ?3) ORDER BY seq LIMIT ?4";
static const char sql_memories[] = "SELECT text FROM memories WHERE scope = ?1 ORDER BY pinned DESC, id LIMIT ?2";
static const char sql_next_queued[] =
	"SELECT id FROM tasks t WHERE (t.state = 'queued' OR (t.state = 'running' AND t.baseline_passed IS NOT NULL "
	"AND "
	"(SELECT COUNT(*) FROM runs r WHERE r.task_id = t.id AND (r.outcome IS NULL OR r.outcome != 'interrupted')) "
	"< t.attempts)) AND t.repo_identity NOT IN (SELECT value FROM json_each(?1)) "
	"AND t.id NOT IN (SELECT value FROM json_each(?2)) ORDER BY t.priority DESC, t.seq LIMIT 1";

void run_record_free(struct run_record *run)
{
	free(run->detail);
	free(run->base_commit);
	run->detail = NULL;
	run->base_commit = NULL;
}

static void run_record_copy(struct run_record *dst, const struct run_record *src)
{
	*dst = *src;
	dst->detail = src->detail ? xstrdup(src->detail) : NULL;
	dst->base_commit = src->base_commit ? xstrdup(src->base_commit) : NULL;
}

void run_record_write_json(const struct run_record *run, struct buf *out)
{
	buf_append_char(out, '{');
	run_record_write_json_members(run, out);
	buf_append_char(out, '}');
}

void run_record_write_json_members(const struct run_record *run, struct buf *out)
{
	char when[40];
	buf_append_str(out, "\"id\":");
	json_write_string(out, run->id);
	buf_printf(out, ",\"attempt\":%u,\"slot\":%d,\"state\":\"%s\",\"outcome\":", run->attempt, run->slot,
		   run->ended ? "ended" : "running");
	if (run->ended)
		buf_printf(out, "\"%s\"", run_outcome_name(run->outcome));
	else
		buf_append_str(out, "null");
	buf_append_str(out, ",\"detail\":");
	json_write_string_or_null(out, run->detail);
	buf_append_str(out, ",\"base_commit\":");
	json_write_string_or_null(out, run->base_commit);
	buf_printf(out, ",\"steps\":%u,\"tokens_in\":%llu,\"tokens_out\":%llu,\"changed\":%s", run->steps,
		   (unsigned long long)run->tokens_in, (unsigned long long)run->tokens_out,
		   run->changed < 0 ? "null"
		   : run->changed   ? "true"
				    : "false");
	task_format_time(run->started_ms, when, sizeof(when));
	buf_printf(out, ",\"started_at\":\"%s\",\"ended_at\":", when);
	if (run->ended) {
		task_format_time(run->ended_ms, when, sizeof(when));
		buf_printf(out, "\"%s\"", when);
	} else {
		buf_append_str(out, "null");
	}
}

int store_task_progress(struct store_conn *conn, const char *task_id, enum task_state *state, unsigned *attempts,
			bool *baseline, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(conn, sql_task_state, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		snprintf(err, errlen, "no task %s", task_id);
		return -ENOENT;
	}
	int rc = task_state_parse((const char *)sqlite3_column_text(stmt, 0), state);
	*attempts = (unsigned)sqlite3_column_int(stmt, 1);
	*baseline = sqlite3_column_int(stmt, 2) != 0;
	sqlite3_reset(stmt);
	return rc < 0 ? -EIO : 0;
}

static int runs_set_task_state(struct store_conn *conn, const char *task_id, enum task_state to, const char *reason,
			       int64_t now_ms, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(conn, sql_set_task_state, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, task_state_name(to), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(stmt, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, now_ms);
	return store_step_done(conn, stmt, err, errlen);
}

int store_insert_event(struct store_conn *conn, const char *task_id, const char *run_id, const char *kind,
		       const char *data, int64_t now_ms, int64_t *seq, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(conn, sql_next_seq, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		snprintf(err, errlen, "%s", sqlite3_errmsg(conn->db));
		return -EIO;
	}
	*seq = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (!(stmt = store_stmt(conn, sql_insert_event, err, errlen)))
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, *seq);
	sqlite3_bind_text(stmt, 3, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, now_ms);
	return store_step_done(conn, stmt, err, errlen);
}

/* ---- start ---- */

struct runs_op {
	struct store_op op; /* must be first */
	struct store *store;
	struct run_record run; /* in: the run; out: as stored */
	enum task_state to;    /* finish: the task's next state */
	enum task_state from;  /* the task's state before */
	bool moved;            /* the task's state changed */
	int64_t now_ms;
	store_run_fn cb;
	void *arg;
};

static int runs_start_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct runs_op *r = (struct runs_op *)op;
	unsigned attempts;
	bool baseline;
	int rc = store_task_progress(conn, r->run.task_id, &r->from, &attempts, &baseline, err, errlen);
	if (rc < 0)
		return rc;
	/* Another attempt of a running task starts too. */
	if (r->from != TASK_QUEUED && r->from != TASK_RUNNING) {
		snprintf(err, errlen, "task %s is %s, not queued", r->run.task_id, task_state_name(r->from));
		return -EPERM;
	}
	sqlite3_stmt *stmt = store_stmt(conn, sql_attempts, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, r->run.task_id, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return -EIO;
	}
	r->run.attempt = (unsigned)sqlite3_column_int(stmt, 0) + 1;
	sqlite3_reset(stmt);
	if (r->from == TASK_RUNNING) {
		/* The scheduler reads a snapshot that may predate a start
		 * committed since: the attempts left are counted here. */
		if (!baseline || r->run.attempt > attempts) {
			snprintf(err, errlen, "task %s is running and has no attempt left to start", r->run.task_id);
			return -EPERM;
		}
	}
	if (!(stmt = store_stmt(conn, sql_insert_run, err, errlen)))
		return -EIO;
	sqlite3_bind_text(stmt, 1, r->run.id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, r->run.task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, (int)r->run.attempt);
	sqlite3_bind_int(stmt, 4, r->run.slot);
	sqlite3_bind_int64(stmt, 5, r->run.started_ms);
	if ((rc = store_step_done(conn, stmt, err, errlen)) < 0)
		return rc;
	if (r->from == TASK_QUEUED) {
		if ((rc = runs_set_task_state(conn, r->run.task_id, TASK_RUNNING, NULL, r->now_ms, err, errlen)) < 0)
			return rc;
		r->moved = true;
		r->to = TASK_RUNNING;
	}
	char data[128];
	snprintf(data, sizeof(data), "{\"attempt\":%u,\"slot\":%d}", r->run.attempt, r->run.slot);
	int64_t seq;
	return store_insert_event(conn, r->run.task_id, r->run.id, "run_started", data, r->now_ms, &seq, err, errlen);
}

static void runs_op_done(struct store_op *op, int status, const char *err)
{
	struct runs_op *r = (struct runs_op *)op;
	if (status == 0 && r->moved) {
		r->store->task_counts[r->from]--;
		r->store->task_counts[r->to]++;
	}
	r->cb(status, &r->run, err, r->arg);
	run_record_free(&r->run);
	free(r);
}

static struct runs_op *runs_op_new(struct store *s, const struct run_record *run, int64_t now_ms, store_run_fn cb,
				   void *arg)
{
	struct runs_op *r = xcalloc(1, sizeof(*r));
	r->op.done = runs_op_done;
	r->store = s;
	run_record_copy(&r->run, run);
	r->now_ms = now_ms;
	r->cb = cb;
	r->arg = arg;
	return r;
}

void store_runs_start(struct store *s, const struct run_record *run, int64_t now_ms, store_run_fn cb, void *arg)
{
	struct runs_op *r = runs_op_new(s, run, now_ms, cb, arg);
	r->op.apply = runs_start_apply;
	store_submit(s, &r->op);
}

/* ---- events ---- */

struct events_op {
	struct store_op op; /* must be first */
	char task_id[TASK_ID_MAX];
	char run_id[TASK_ID_MAX];
	char *kind;
	char *data;
	char **notes;
	size_t note_count;
	char *scope;
	bool has_progress; /* also update the run's counters */
	struct run_progress progress;
	int64_t now_ms;
	int64_t seq; /* set by apply */
	store_event_fn cb;
	void *arg;
};

static int events_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct events_op *e = (struct events_op *)op;
	int rc = store_insert_event(conn, e->task_id, e->run_id, e->kind, e->data, e->now_ms, &e->seq, err, errlen);
	if (rc == 0 && e->has_progress) {
		sqlite3_stmt *stmt = store_stmt(conn, sql_run_progress, err, errlen);
		if (!stmt)
			return -EIO;
		sqlite3_bind_text(stmt, 1, e->run_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 2, (int)e->progress.steps);
		sqlite3_bind_int64(stmt, 3, (int64_t)e->progress.tokens_in);
		sqlite3_bind_int64(stmt, 4, (int64_t)e->progress.tokens_out);
		rc = store_step_done(conn, stmt, err, errlen);
	}
	for (size_t i = 0; rc == 0 && i < e->note_count; i++) {
		sqlite3_stmt *stmt = store_stmt(conn, sql_insert_memory, err, errlen);
		if (!stmt)
			return -EIO;
		sqlite3_bind_text(stmt, 1, e->scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, e->notes[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, e->task_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, e->now_ms);
		rc = store_step_done(conn, stmt, err, errlen);
	}
	return rc;
}

static void events_done(struct store_op *op, int status, const char *err)
{
	struct events_op *e = (struct events_op *)op;
	if (e->cb)
		e->cb(status, e->seq, err, e->arg);
	for (size_t i = 0; i < e->note_count; i++)
		free(e->notes[i]);
	free(e->notes);
	free(e->kind);
	free(e->data);
	free(e->scope);
	free(e);
}

void store_events_append(struct store *s, const char *task_id, const char *run_id, const char *kind, const char *data,
			 const struct run_progress *progress, const char *const *notes, size_t note_count,
			 const char *scope, int64_t now_ms, store_event_fn cb, void *arg)
{
	struct events_op *e = xcalloc(1, sizeof(*e));
	if (progress) {
		e->has_progress = true;
		e->progress = *progress;
	}
	e->op.apply = events_apply;
	e->op.done = events_done;
	snprintf(e->task_id, sizeof(e->task_id), "%s", task_id);
	snprintf(e->run_id, sizeof(e->run_id), "%s", run_id);
	e->kind = xstrdup(kind);
	e->data = xstrdup(data);
	e->notes = note_count ? xcalloc(note_count, sizeof(char *)) : NULL;
	for (size_t i = 0; i < note_count; i++)
		e->notes[i] = xstrdup(notes[i]);
	e->note_count = note_count;
	e->scope = xstrdup(scope ? scope : "global");
	e->now_ms = now_ms;
	e->cb = cb;
	e->arg = arg;
	store_submit(s, &e->op);
}

/* ---- interrupted runs ---- */

struct interrupt_op {
	struct store_op op; /* must be first */
	struct store *store;
	int64_t now_ms;
	uint64_t count;                  /* runs interrupted */
	int64_t moved[TASK_STATE_COUNT]; /* tasks into (+) and out of (-) each state */
	store_count_fn cb;
	void *arg;
};

static int interrupt_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct interrupt_op *io = (struct interrupt_op *)op;
	sqlite3_stmt *stmt = store_stmt(conn, sql_running_runs, err, errlen);
	if (!stmt)
		return -EIO;
	/* Collect first: the statement must be done before the updates. */
	char(*ids)[2][TASK_ID_MAX] = NULL;
	size_t n = 0, cap = 0;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		snprintf(ids[n][0], TASK_ID_MAX, "%s", (const char *)sqlite3_column_text(stmt, 0));
		snprintf(ids[n][1], TASK_ID_MAX, "%s", (const char *)sqlite3_column_text(stmt, 1));
		n++;
	}
	sqlite3_reset(stmt);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!(stmt = store_stmt(conn, sql_interrupt_run, err, errlen))) {
			rc = -EIO;
			break;
		}
		/* The counters stay as the last step recorded them. */
		sqlite3_bind_text(stmt, 1, ids[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, "the daemon stopped while the run was in progress", -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, io->now_ms);
		if ((rc = store_step_done(conn, stmt, err, errlen)) < 0)
			break;
		enum task_state from, to;
		if ((rc = store_settle_task(conn, ids[i][1], io->now_ms, &from, &to, err, errlen)) < 0)
			break;
		io->moved[from]--;
		io->moved[to]++;
		int64_t seq;
		if (rc == 0)
			rc = store_insert_event(conn, ids[i][1], ids[i][0], "run_ended",
						"{\"outcome\":\"interrupted\",\"requeued\":true}", io->now_ms, &seq,
						err, errlen);
		io->count++;
	}
	free(ids);
	return rc;
}

static void interrupt_done(struct store_op *op, int status, const char *err)
{
	struct interrupt_op *io = (struct interrupt_op *)op;
	if (status == 0) {
		for (unsigned i = 0; i < TASK_STATE_COUNT; i++)
			io->store->task_counts[i] += (uint64_t)io->moved[i];
	}
	io->cb(status, io->count, err, io->arg);
	free(io);
}

void store_runs_interrupt_all(struct store *s, int64_t now_ms, store_count_fn cb, void *arg)
{
	struct interrupt_op *io = xcalloc(1, sizeof(*io));
	io->op.apply = interrupt_apply;
	io->op.done = interrupt_done;
	io->store = s;
	io->now_ms = now_ms;
	io->cb = cb;
	io->arg = arg;
	store_submit(s, &io->op);
}

/* ---- reads ---- */

int store_runs_count_running(struct store *s, uint64_t *count, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_count_running, err, errlen);
	if (!stmt)
		return -EIO;
	int rc = sqlite3_step(stmt);
	*count = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int store_runs_list(struct store *s, const char *task_id, struct run_record **runs, size_t *count, char *err,
		    size_t errlen)
{
	*runs = NULL;
	*count = 0;
	struct store_conn *conn = store_reader(s);
	sqlite3_stmt *stmt = store_stmt(conn, sql_list_runs, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	size_t cap = 0;
	struct run_record *out = NULL;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (*count == cap) {
			cap = cap ? cap * 2 : 4;
			out = xrealloc(out, cap * sizeof(*out));
		}
		struct run_record *r = &out[(*count)++];
		memset(r, 0, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", (const char *)sqlite3_column_text(stmt, 0));
		snprintf(r->task_id, sizeof(r->task_id), "%s", (const char *)sqlite3_column_text(stmt, 1));
		r->attempt = (unsigned)sqlite3_column_int(stmt, 2);
		r->slot = sqlite3_column_int(stmt, 3);
		r->ended = strcmp((const char *)sqlite3_column_text(stmt, 4), "ended") == 0;
		const char *outcome = (const char *)sqlite3_column_text(stmt, 5);
		if (outcome)
			run_outcome_parse(outcome, &r->outcome);
		if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
			r->detail = xstrdup((const char *)sqlite3_column_text(stmt, 6));
		if (sqlite3_column_type(stmt, 7) != SQLITE_NULL)
			r->base_commit = xstrdup((const char *)sqlite3_column_text(stmt, 7));
		r->steps = (uint32_t)sqlite3_column_int(stmt, 8);
		r->tokens_in = (uint64_t)sqlite3_column_int64(stmt, 9);
		r->tokens_out = (uint64_t)sqlite3_column_int64(stmt, 10);
		r->changed = sqlite3_column_type(stmt, 11) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 11);
		r->started_ms = sqlite3_column_int64(stmt, 12);
		r->ended_ms = sqlite3_column_int64(stmt, 13);
	}
	sqlite3_reset(stmt);
	*runs = out;
	return 0;
}

void store_runs_free_list(struct run_record *runs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		run_record_free(&runs[i]);
	free(runs);
}

int store_events_list(struct store *s, const char *task_id, int64_t after_seq, const char *run_id, size_t limit,
		      struct store_event **events, size_t *count, char *err, size_t errlen)
{
	*events = NULL;
	*count = 0;
	struct store_conn *conn = store_reader(s);
	sqlite3_stmt *stmt = store_stmt(conn, sql_list_events, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, after_seq);
	if (run_id)
		sqlite3_bind_text(stmt, 3, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, (int64_t)limit);
	struct store_event *out = xcalloc(limit ? limit : 1, sizeof(*out));
	while (*count < limit && sqlite3_step(stmt) == SQLITE_ROW) {
		struct store_event *e = &out[(*count)++];
		e->seq = sqlite3_column_int64(stmt, 0);
		snprintf(e->run_id, sizeof(e->run_id), "%s", (const char *)sqlite3_column_text(stmt, 1));
		e->kind = xstrdup((const char *)sqlite3_column_text(stmt, 2));
		e->data = xstrdup((const char *)sqlite3_column_text(stmt, 3));
		e->created_ms = sqlite3_column_int64(stmt, 4);
	}
	sqlite3_reset(stmt);
	*events = out;
	return 0;
}

void store_events_free_list(struct store_event *events, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(events[i].kind);
		free(events[i].data);
	}
	free(events);
}

int store_memories_texts(struct store *s, const char *scope, size_t limit, char ***texts, size_t *count, char *err,
			 size_t errlen)
{
	*texts = NULL;
	*count = 0;
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_memories, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, (int64_t)limit);
	char **out = xcalloc(limit ? limit : 1, sizeof(char *));
	while (*count < limit && sqlite3_step(stmt) == SQLITE_ROW)
		out[(*count)++] = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	*texts = out;
	return 0;
}

/* A JSON array of strings, for json_each. */
static char *runs_json_array(const char *const *items, size_t count)
{
	struct buf json = BUF_INIT;
	buf_append_char(&json, '[');
	for (size_t i = 0; i < count; i++) {
		if (i)
			buf_append_char(&json, ',');
		json_write_string(&json, items[i]);
	}
	buf_append_char(&json, ']');
	return buf_steal(&json);
}

int store_tasks_next_queued(struct store *s, const char *const *full_repos, size_t full_count,
			    const char *const *exclude, size_t exclude_count, struct task *out, char *err,
			    size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_next_queued, err, errlen);
	if (!stmt)
		return -EIO;
	char *full = runs_json_array(full_repos, full_count);
	char *skip = runs_json_array(exclude, exclude_count);
	sqlite3_bind_text(stmt, 1, full, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, skip, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	char id[TASK_ID_MAX] = "";
	if (rc == SQLITE_ROW)
		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	free(full);
	free(skip);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? -ENOENT : -EIO;
	return store_tasks_get(s, id, out, err, errlen);
}
