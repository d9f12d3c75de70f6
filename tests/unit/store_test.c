/* The store: migrations, group commit, task rows, idempotency, listing. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <uv.h>

#include "common/xalloc.h"
#include "daemon/store/internal.h"
#include "daemon/store/tasks.h"
#include "tests/harness/harness.h"

static char *db_path(void)
{
	return xasprintf("%s/agentd.db", th_tempdir());
}

TEST(migration_files_must_be_in_order)
{
	char err[256];
	CHECK_INT(store_migrations_check(agentd_migrations, agentd_migrations_count, err, sizeof(err)), ==, 0);
	CHECK_INT(agentd_migrations_count, >=, 1);
	CHECK_STR(agentd_migrations[0].name, "0001_tasks.sql");
	struct embedded_file gap[] = {{"0001_a.sql", "", 0}, {"0003_c.sql", "", 0}};
	CHECK_INT(store_migrations_check(gap, 2, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "'0003_c.sql' is out of order: expected number 0002");
	struct embedded_file twice[] = {{"0001_a.sql", "", 0}, {"0001_b.sql", "", 0}};
	CHECK_INT(store_migrations_check(twice, 2, err, sizeof(err)), <, 0);
	struct embedded_file named[] = {{"1_a.sql", "", 0}};
	CHECK_INT(store_migrations_check(named, 1, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "not named NNNN_name.sql");
	struct embedded_file ext[] = {{"0001_a.txt", "", 0}};
	CHECK_INT(store_migrations_check(ext, 1, err, sizeof(err)), <, 0);
}

TEST(migrations_apply_once_in_one_transaction)
{
	char *path = db_path();
	sqlite3 *db;
	CHECK_INT(sqlite3_open(path, &db), ==, SQLITE_OK);
	struct embedded_file files[] = {
		{"0001_a.sql", "CREATE TABLE a (x);", 0},
		{"0002_b.sql", "CREATE TABLE b (y);", 0},
	};
	char err[256];
	CHECK_INT(store_migrate(db, files, 1, err, sizeof(err)), ==, 0);
	CHECK_INT(store_migrate(db, files, 2, err, sizeof(err)), ==, 0);
	CHECK_INT(store_migrate(db, files, 2, err, sizeof(err)), ==, 0);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO a VALUES (1); INSERT INTO b VALUES (2);", NULL, NULL, NULL), ==,
		  SQLITE_OK);
	/* A failing migration leaves nothing of itself behind. */
	struct embedded_file broken[] = {
		files[0],
		files[1],
		{"0003_c.sql", "CREATE TABLE c (z); THIS IS NOT SQL;", 0},
	};
	CHECK_INT(store_migrate(db, broken, 3, err, sizeof(err)), <, 0);
	CHECK_CONTAINS(err, "0003_c.sql");
	CHECK_INT(sqlite3_exec(db, "SELECT * FROM c", NULL, NULL, NULL), !=, SQLITE_OK);
	sqlite3_stmt *stmt;
	sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);
	CHECK_INT(sqlite3_step(stmt), ==, SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(stmt, 0), ==, 2);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(path);
}

TEST(database_newer_than_binary_is_refused)
{
	char *path = db_path();
	sqlite3 *db;
	CHECK_INT(sqlite3_open(path, &db), ==, SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(db);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = NULL;
	char err[512];
	CHECK_INT(store_open(&loop, path, &s, err, sizeof(err)), <, 0);
	CHECK(s == NULL);
	CHECK_CONTAINS(err, "schema version is 999, newer than this agentd knows");
	uv_loop_close(&loop);
	free(path);
}

/* Callback state for the tests below. */
struct results {
	int done;                      /* callbacks seen */
	int failures;                  /* callbacks with status < 0 */
	enum store_create_result last; /* last create result */
	char last_id[TASK_ID_MAX];     /* last task id seen */
	enum task_state last_state;    /* last task state seen */
	int last_status;               /* last status seen */
};

static void on_created(int status, enum store_create_result result, const struct task *task, const char *err, void *arg)
{
	(void)err;
	struct results *r = arg;
	r->done++;
	r->last_status = status;
	if (status < 0) {
		r->failures++;
		return;
	}
	r->last = result;
	snprintf(r->last_id, sizeof(r->last_id), "%s", task->id);
	r->last_state = task->state;
}

static void on_updated(int status, const struct task *task, const char *err, void *arg)
{
	(void)err;
	struct results *r = arg;
	r->done++;
	r->last_status = status;
	if (task)
		r->last_state = task->state;
}

static void make_task(struct task *t, int i, const char *label)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "t_%026d", i);
	t->state = TASK_QUEUED;
	t->repo = xstrdup(i % 2 ? "/srv/odd" : "/srv/even");
	t->repo_identity = xstrdup(t->repo);
	t->ref = xstrdup("HEAD");
	t->instruction = xasprintf("task %d", i);
	t->test_command = xstrdup("true");
	t->attempts = 1;
	t->budget = (struct task_budget){1, 2, 3};
	t->created_ms = t->updated_ms = 1000 + i;
	if (label) {
		t->labels = xcalloc(1, sizeof(char *));
		t->labels[0] = xstrdup(label);
		t->label_count = 1;
	}
}

static void run_until(uv_loop_t *loop, const struct results *r, int want)
{
	long long deadline = th_now_ms() + 20000;
	while (r->done < want && th_now_ms() < deadline)
		uv_run(loop, UV_RUN_ONCE);
	CHECK_INT(r->done, ==, want);
}

TEST(group_commit_and_listing)
{
	char *path = db_path();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s;
	char err[512];
	CHECK_INT(store_open(&loop, path, &s, err, sizeof(err)), ==, 0);
	struct results r;
	memset(&r, 0, sizeof(r));
	for (int i = 1; i <= 200; i++) {
		struct task t;
		make_task(&t, i, i % 10 == 0 ? "tens" : NULL);
		store_tasks_create(s, &t, NULL, NULL, on_created, &r);
		task_free_fields(&t);
	}
	CHECK_INT(store_tasks_pending_creates(s), ==, 200);
	run_until(&loop, &r, 200);
	CHECK_INT(r.failures, ==, 0);
	struct store_stats st;
	store_get_stats(s, &st);
	CHECK_INT(st.writes, ==, 200);
	/* Writes that arrive together share a commit. */
	CHECK_INT(st.commits, <, 200);
	CHECK_INT(st.max_batch, >, 1);
	CHECK_INT(store_tasks_count(s, TASK_QUEUED), ==, 200);
	CHECK_INT(store_tasks_pending_creates(s), ==, 0);

	/* Pages of 30, newest first, each task once. */
	struct store_task_filter f;
	memset(&f, 0, sizeof(f));
	f.limit = 30;
	int seen = 0, expect = 200;
	for (;;) {
		struct task *tasks;
		size_t n;
		int64_t next;
		CHECK_INT(store_tasks_list(s, &f, &tasks, &n, &next, err, sizeof(err)), ==, 0);
		for (size_t i = 0; i < n; i++) {
			char want[64];
			snprintf(want, sizeof(want), "task %d", expect--);
			CHECK_STR(tasks[i].instruction, want);
			seen++;
		}
		store_tasks_free_list(tasks, n);
		if (!next)
			break;
		f.before_seq = next;
	}
	CHECK_INT(seen, ==, 200);

	/* Filters combine. */
	memset(&f, 0, sizeof(f));
	f.limit = 500;
	f.label = "tens";
	f.repo_identity = "/srv/even";
	struct task *tasks;
	size_t n;
	int64_t next;
	CHECK_INT(store_tasks_list(s, &f, &tasks, &n, &next, err, sizeof(err)), ==, 0);
	CHECK_INT(n, ==, 20);
	CHECK_INT(next, ==, 0);
	CHECK_STR(tasks[0].labels[0], "tens");
	store_tasks_free_list(tasks, n);

	/* Transitions follow the table. */
	memset(&r, 0, sizeof(r));
	store_tasks_transition(s, "t_00000000000000000000000007", TASK_CANCELED, "canceled", 5000, on_updated, &r);
	run_until(&loop, &r, 1);
	CHECK_INT(r.last_status, ==, 0);
	CHECK_INT(r.last_state, ==, TASK_CANCELED);
	store_tasks_transition(s, "t_00000000000000000000000007", TASK_RUNNING, NULL, 5001, on_updated, &r);
	run_until(&loop, &r, 2);
	CHECK_INT(r.last_status, ==, -EPERM);
	CHECK_INT(r.last_state, ==, TASK_CANCELED);
	store_tasks_transition(s, "t_nope", TASK_CANCELED, NULL, 5002, on_updated, &r);
	run_until(&loop, &r, 3);
	CHECK_INT(r.last_status, ==, -ENOENT);
	CHECK_INT(store_tasks_count(s, TASK_QUEUED), ==, 199);
	CHECK_INT(store_tasks_count(s, TASK_CANCELED), ==, 1);
	memset(&f, 0, sizeof(f));
	f.limit = 10;
	f.has_state = true;
	f.state = TASK_CANCELED;
	CHECK_INT(store_tasks_list(s, &f, &tasks, &n, &next, err, sizeof(err)), ==, 0);
	CHECK_INT(n, ==, 1);
	CHECK_STR(tasks[0].reason, "canceled");
	CHECK_INT(tasks[0].updated_ms, ==, 5000);
	store_tasks_free_list(tasks, n);

	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), ==, 0);

	/* Counts are rebuilt from the rows on the next open. */
	uv_loop_init(&loop);
	CHECK_INT(store_open(&loop, path, &s, err, sizeof(err)), ==, 0);
	CHECK_INT(store_tasks_count(s, TASK_QUEUED), ==, 199);
	CHECK_INT(store_tasks_count(s, TASK_CANCELED), ==, 1);
	struct task one;
	CHECK_INT(store_tasks_get(s, "t_00000000000000000000000007", &one, err, sizeof(err)), ==, 0);
	CHECK_STR(one.instruction, "task 7");
	task_free_fields(&one);
	CHECK_INT(store_tasks_get(s, "t_missing", &one, err, sizeof(err)), ==, -ENOENT);
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(path);
}

TEST(idempotency_keys)
{
	char *path = db_path();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s;
	char err[512];
	CHECK_INT(store_open(&loop, path, &s, err, sizeof(err)), ==, 0);
	unsigned char h1[STORE_TASK_HASH_BYTES], h2[STORE_TASK_HASH_BYTES];
	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	struct results r;
	memset(&r, 0, sizeof(r));
	struct task a, b;
	make_task(&a, 1, NULL);
	make_task(&b, 2, NULL);
	store_tasks_create(s, &a, "key-1", h1, on_created, &r);
	run_until(&loop, &r, 1);
	CHECK_INT(r.last, ==, STORE_TASK_CREATED);
	CHECK_STR(r.last_id, a.id);
	/* Same key, same body: the first task again, even under another id. */
	store_tasks_create(s, &b, "key-1", h1, on_created, &r);
	run_until(&loop, &r, 2);
	CHECK_INT(r.last, ==, STORE_TASK_REPLAYED);
	CHECK_STR(r.last_id, a.id);
	/* Same key, other body: refused. */
	store_tasks_create(s, &b, "key-1", h2, on_created, &r);
	run_until(&loop, &r, 3);
	CHECK_INT(r.last, ==, STORE_TASK_KEY_REUSED);
	/* In one batch too: two new requests with one key make one task. */
	store_tasks_create(s, &b, "key-2", h2, on_created, &r);
	store_tasks_create(s, &b, "key-2", h2, on_created, &r);
	run_until(&loop, &r, 5);
	CHECK_INT(r.failures, ==, 0);
	CHECK_INT(store_tasks_count(s, TASK_QUEUED), ==, 2);
	task_free_fields(&a);
	task_free_fields(&b);
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(path);
}
