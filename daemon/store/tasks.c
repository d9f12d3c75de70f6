/* SQL for tasks. Writes run on the store thread as store_ops; reads run on
 * the loop thread against the read-only connection. */
#include "daemon/store/tasks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/store/internal.h"

/* Column order read by tasks_row_read. */
#define TASK_COLUMNS                                                                                                   \
	"id, state, repo, repo_identity, ref, instruction, test_command, priority, labels, attempts, "                 \
	"budget_steps, budget_tokens, budget_seconds, reason, created_ms, updated_ms, seq, verify_repeats, "           \
	"baseline_passed, chosen_run"

static const char sql_insert[] =
	"INSERT INTO tasks (id, state, repo, repo_identity, ref, instruction, test_command, priority, labels, "
	"attempts, budget_steps, budget_tokens, budget_seconds, reason, created_ms, updated_ms, idempotency_key, "
	"request_hash, verify_repeats) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
	"?17, ?18, ?19)";
static const char sql_insert_label[] = "INSERT INTO task_labels (label, task_seq) VALUES (?1, ?2)";
static const char sql_find_key[] = "SELECT id, request_hash FROM tasks WHERE idempotency_key = ?1";
static const char sql_get[] = "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1";
static const char sql_set_state[] = "UPDATE tasks SET state = ?2, reason = ?3, updated_ms = ?4 WHERE id = ?1";
static const char sql_count[] = "SELECT state, COUNT(*) FROM tasks GROUP BY state";
static const char sql_list[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR repo_identity = ?2) "
	"AND (?3 IS NULL OR seq IN (SELECT task_seq FROM task_labels WHERE label = ?3)) "
	"AND (?4 IS NULL OR seq < ?4) ORDER BY seq DESC LIMIT ?5";

static char *column_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);
	return t ? xstrdup((const char *)t) : NULL;
}

/* Reads a row of TASK_COLUMNS; *seq gets the row's seq. */
static int tasks_row_read(sqlite3_stmt *stmt, struct task *t, int64_t *seq, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	const char *id = (const char *)sqlite3_column_text(stmt, 0);
	snprintf(t->id, sizeof(t->id), "%s", id ? id : "");
	const char *state = (const char *)sqlite3_column_text(stmt, 1);
	if (!state || task_state_parse(state, &t->state) < 0) {
		snprintf(err, errlen, "task %s has an unknown state '%s'", t->id, state ? state : "");
		return -EIO;
	}
	t->repo = column_text(stmt, 2);
	t->repo_identity = column_text(stmt, 3);
	t->ref = column_text(stmt, 4);
	t->instruction = column_text(stmt, 5);
	t->test_command = column_text(stmt, 6);
	t->priority = sqlite3_column_int(stmt, 7);
	const char *labels = (const char *)sqlite3_column_text(stmt, 8);
	cJSON *array = labels ? cJSON_Parse(labels) : NULL;
	int n = cJSON_IsArray(array) ? cJSON_GetArraySize(array) : 0;
	if (n > 0) {
		t->labels = xcalloc((size_t)n, sizeof(char *));
		const cJSON *l;
		cJSON_ArrayForEach(l, array)
		{
			if (cJSON_IsString(l))
				t->labels[t->label_count++] = xstrdup(l->valuestring);
		}
	}
	cJSON_Delete(array);
	t->attempts = sqlite3_column_int(stmt, 9);
	t->budget.max_steps = sqlite3_column_int64(stmt, 10);
	t->budget.max_tokens = sqlite3_column_int64(stmt, 11);
	t->budget.max_seconds = sqlite3_column_int64(stmt, 12);
	t->reason = column_text(stmt, 13);
	t->created_ms = sqlite3_column_int64(stmt, 14);
	t->updated_ms = sqlite3_column_int64(stmt, 15);
	if (seq)
		*seq = sqlite3_column_int64(stmt, 16);
	t->verify_repeats = sqlite3_column_int(stmt, 17);
	t->baseline_passed = sqlite3_column_type(stmt, 18) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 18);
	const char *chosen = (const char *)sqlite3_column_text(stmt, 19);
	snprintf(t->chosen_run, sizeof(t->chosen_run), "%s", chosen ? chosen : "");
	return 0;
}

/* Reads task id through conn. Returns 0, -ENOENT or -EIO. */
static int tasks_read(struct store_conn *conn, const char *id, struct task *out, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(conn, sql_get, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		snprintf(err, errlen, "no task %s", id);
		sqlite3_reset(stmt);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "reading task %s: %s", id, sqlite3_errmsg(conn->db));
		sqlite3_reset(stmt);
		return -EIO;
	}
	int r = tasks_row_read(stmt, out, NULL, err, errlen);
	sqlite3_reset(stmt);
	return r;
}

/* ---- create ---- */

struct tasks_create_op {
	struct store_op op; /* must be first */
	struct store *store;
	struct task task; /* to insert; replaced by the replayed one */
	char *key;        /* idempotency key or NULL */
	unsigned char hash[STORE_TASK_HASH_BYTES];
	enum store_create_result result; /* set by apply */
	store_task_create_fn cb;
	void *arg;
};

static int tasks_create_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct tasks_create_op *c = (struct tasks_create_op *)op;
	sqlite3_stmt *stmt;
	c->result = STORE_TASK_CREATED;
	if (c->key) {
		if (!(stmt = store_stmt(conn, sql_find_key, err, errlen)))
			return -EIO;
		sqlite3_bind_text(stmt, 1, c->key, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			char existing[TASK_ID_MAX];
			snprintf(existing, sizeof(existing), "%s", (const char *)sqlite3_column_text(stmt, 0));
			const void *hash = sqlite3_column_blob(stmt, 1);
			bool same = hash && sqlite3_column_bytes(stmt, 1) == STORE_TASK_HASH_BYTES &&
				    memcmp(hash, c->hash, STORE_TASK_HASH_BYTES) == 0;
			sqlite3_reset(stmt);
			if (!same) {
				c->result = STORE_TASK_KEY_REUSED;
				return 0;
			}
			c->result = STORE_TASK_REPLAYED;
			task_free_fields(&c->task);
			return tasks_read(conn, existing, &c->task, err, errlen);
		}
		sqlite3_reset(stmt);
	}
	if (!(stmt = store_stmt(conn, sql_insert, err, errlen)))
		return -EIO;
	const struct task *t = &c->task;
	cJSON *labels = cJSON_CreateArray();
	for (size_t i = 0; i < t->label_count; i++)
		cJSON_AddItemToArray(labels, cJSON_CreateString(t->labels[i]));
	char *labels_text = cJSON_PrintUnformatted(labels);
	cJSON_Delete(labels);
	sqlite3_bind_text(stmt, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, task_state_name(t->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, t->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, t->repo_identity, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, t->ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, t->instruction, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, t->test_command, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 8, t->priority);
	sqlite3_bind_text(stmt, 9, labels_text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 10, t->attempts);
	sqlite3_bind_int64(stmt, 11, t->budget.max_steps);
	sqlite3_bind_int64(stmt, 12, t->budget.max_tokens);
	sqlite3_bind_int64(stmt, 13, t->budget.max_seconds);
	if (t->reason)
		sqlite3_bind_text(stmt, 14, t->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 15, t->created_ms);
	sqlite3_bind_int64(stmt, 16, t->updated_ms);
	if (c->key) {
		sqlite3_bind_text(stmt, 17, c->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(stmt, 18, c->hash, STORE_TASK_HASH_BYTES, SQLITE_STATIC);
	}
	sqlite3_bind_int(stmt, 19, t->verify_repeats ? t->verify_repeats : 1);
	cJSON_free(labels_text);
	int rc = store_step_done(conn, stmt, err, errlen);
	if (rc < 0)
		return rc;
	int64_t seq = sqlite3_last_insert_rowid(conn->db);
	for (size_t i = 0; i < t->label_count; i++) {
		if (!(stmt = store_stmt(conn, sql_insert_label, err, errlen)))
			return -EIO;
		sqlite3_bind_text(stmt, 1, t->labels[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, seq);
		if ((rc = store_step_done(conn, stmt, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

static void tasks_create_done(struct store_op *op, int status, const char *err)
{
	struct tasks_create_op *c = (struct tasks_create_op *)op;
	struct store *s = c->store;
	s->pending_creates--;
	if (status == 0 && c->result == STORE_TASK_CREATED)
		s->task_counts[c->task.state]++;
	c->cb(status, c->result, &c->task, err, c->arg);
	task_free_fields(&c->task);
	free(c->key);
	free(c);
}

void store_tasks_create(struct store *s, const struct task *task, const char *idempotency_key,
			const unsigned char hash[STORE_TASK_HASH_BYTES], store_task_create_fn cb, void *arg)
{
	struct tasks_create_op *c = xcalloc(1, sizeof(*c));
	c->op.apply = tasks_create_apply;
	c->op.done = tasks_create_done;
	c->store = s;
	task_copy(&c->task, task);
	c->key = idempotency_key ? xstrdup(idempotency_key) : NULL;
	if (hash)
		memcpy(c->hash, hash, STORE_TASK_HASH_BYTES);
	c->cb = cb;
	c->arg = arg;
	s->pending_creates++;
	store_submit(s, &c->op);
}

/* ---- transitions ---- */

struct tasks_transition_op {
	struct store_op op; /* must be first */
	struct store *store;
	char id[TASK_ID_MAX];
	enum task_state to;
	char *reason;
	int64_t now_ms;
	enum task_state from; /* set by apply */
	struct task task;     /* the task after apply */
	store_task_update_fn cb;
	void *arg;
};

static int tasks_transition_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct tasks_transition_op *t = (struct tasks_transition_op *)op;
	int rc = tasks_read(conn, t->id, &t->task, err, errlen);
	if (rc < 0)
		return rc;
	t->from = t->task.state;
	if (!task_state_can_move(t->from, t->to)) {
		snprintf(err, errlen, "task %s is %s and cannot become %s", t->id, task_state_name(t->from),
			 task_state_name(t->to));
		return -EPERM;
	}
	sqlite3_stmt *stmt = store_stmt(conn, sql_set_state, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, task_state_name(t->to), -1, SQLITE_STATIC);
	if (t->reason)
		sqlite3_bind_text(stmt, 3, t->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, t->now_ms);
	if ((rc = store_step_done(conn, stmt, err, errlen)) < 0)
		return rc;
	t->task.state = t->to;
	t->task.updated_ms = t->now_ms;
	free(t->task.reason);
	t->task.reason = t->reason ? xstrdup(t->reason) : NULL;
	return 0;
}

static void tasks_transition_done(struct store_op *op, int status, const char *err)
{
	struct tasks_transition_op *t = (struct tasks_transition_op *)op;
	if (status == 0) {
		t->store->task_counts[t->from]--;
		t->store->task_counts[t->to]++;
	}
	t->cb(status, status == 0 || status == -EPERM ? &t->task : NULL, err, t->arg);
	task_free_fields(&t->task);
	free(t->reason);
	free(t);
}

void store_tasks_transition(struct store *s, const char *id, enum task_state to, const char *reason, int64_t now_ms,
			    store_task_update_fn cb, void *arg)
{
	struct tasks_transition_op *t = xcalloc(1, sizeof(*t));
	t->op.apply = tasks_transition_apply;
	t->op.done = tasks_transition_done;
	t->store = s;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->to = to;
	t->reason = reason ? xstrdup(reason) : NULL;
	t->now_ms = now_ms;
	t->cb = cb;
	t->arg = arg;
	store_submit(s, &t->op);
}

/* ---- reads ---- */

int store_tasks_get(struct store *s, const char *id, struct task *out, char *err, size_t errlen)
{
	return tasks_read(store_reader(s), id, out, err, errlen);
}

int store_tasks_list(struct store *s, const struct store_task_filter *f, struct task **tasks, size_t *count,
		     int64_t *next_seq, char *err, size_t errlen)
{
	*tasks = NULL;
	*count = 0;
	*next_seq = 0;
	struct store_conn *reader = store_reader(s);
	sqlite3_stmt *stmt = store_stmt(reader, sql_list, err, errlen);
	if (!stmt)
		return -EIO;
	if (f->has_state)
		sqlite3_bind_text(stmt, 1, task_state_name(f->state), -1, SQLITE_STATIC);
	if (f->repo_identity)
		sqlite3_bind_text(stmt, 2, f->repo_identity, -1, SQLITE_STATIC);
	if (f->label)
		sqlite3_bind_text(stmt, 3, f->label, -1, SQLITE_STATIC);
	if (f->before_seq > 0)
		sqlite3_bind_int64(stmt, 4, f->before_seq);
	/* One row more than asked tells whether another page exists. */
	sqlite3_bind_int64(stmt, 5, (int64_t)f->limit + 1);
	struct task *out = xcalloc(f->limit + 1, sizeof(*out));
	size_t n = 0;
	int64_t last_seq = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == f->limit) {
			*next_seq = last_seq;
			break;
		}
		if (tasks_row_read(stmt, &out[n], &last_seq, err, errlen) < 0) {
			store_tasks_free_list(out, n + 1);
			sqlite3_reset(stmt);
			return -EIO;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errlen, "listing tasks: %s", sqlite3_errmsg(reader->db));
		store_tasks_free_list(out, n);
		sqlite3_reset(stmt);
		return -EIO;
	}
	sqlite3_reset(stmt);
	*tasks = out;
	*count = n;
	return 0;
}

void store_tasks_free_list(struct task *tasks, size_t count)
{
	for (size_t i = 0; i < count; i++)
		task_free_fields(&tasks[i]);
	free(tasks);
}

int store_tasks_load_counts(struct store *s, char *err, size_t errlen)
{
	memset(s->task_counts, 0, sizeof(s->task_counts));
	sqlite3_stmt *stmt = store_stmt(&s->reader, sql_count, err, errlen);
	if (!stmt)
		return -EIO;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		enum task_state st;
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		if (name && task_state_parse(name, &st) == 0)
			s->task_counts[st] = (uint64_t)sqlite3_column_int64(stmt, 1);
	}
	sqlite3_reset(stmt);
	return 0;
}

uint64_t store_tasks_count(const struct store *s, enum task_state state)
{
	return (unsigned)state < TASK_STATE_COUNT ? s->task_counts[state] : 0;
}

uint64_t store_tasks_pending_creates(const struct store *s)
{
	return s->pending_creates;
}
