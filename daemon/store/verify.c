/* SQL for baselines, patches and verifications, and the settling of a task
 * once its runs are over. */
#include "daemon/store/verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/store/internal.h"
#include "proto/json.h"

static int verify_settle(struct store_conn *conn, const char *task_id, int64_t now_ms, enum task_state *from,
			 enum task_state *to, char *err, size_t errlen);

static const char sql_baseline[] =
	"UPDATE tasks SET baseline_passed = ?2, baseline = ?3 WHERE id = ?1 AND baseline_passed IS NULL";
static const char sql_end_run[] =
	"UPDATE runs SET state = 'ended', outcome = ?2, detail = ?3, base_commit = ?4, steps = ?5, tokens_in = ?6, "
	"tokens_out = ?7, changed = ?8, ended_ms = ?9 WHERE id = ?1";
static const char sql_insert_patch[] = "INSERT INTO patches (run_id, task_id, diff, files, insertions, deletions, "
				       "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_insert_verification[] =
	"INSERT INTO verifications (run_id, task_id, state, verdict, reason, comparison, exit_code, duration_ms, "
	"repeats, output, diff_bytes, created_ms, ended_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	"?12, ?13)";
static const char sql_finish_verification[] =
	"UPDATE verifications SET state = 'done', verdict = ?2, reason = ?3, comparison = ?4, exit_code = ?5, "
	"duration_ms = ?6, repeats = ?7, output = ?8, ended_ms = ?9 WHERE run_id = ?1";
static const char sql_run_counts[] =
	"SELECT COUNT(*), COALESCE(SUM(state = 'running'), 0) FROM runs WHERE task_id = ?1 AND "
	"(outcome IS NULL OR outcome != 'interrupted')";
static const char sql_pending[] = "SELECT COUNT(*) FROM verifications WHERE task_id = ?1 AND state = 'pending'";
static const char sql_verdicts[] =
	"SELECT v.run_id, v.verdict, v.comparison, v.diff_bytes, v.reason FROM verifications v JOIN runs r ON "
	"r.id = v.run_id WHERE v.task_id = ?1 AND v.state = 'done' ORDER BY r.seq";
static const char sql_last_outcome[] =
	"SELECT outcome FROM runs WHERE task_id = ?1 AND state = 'ended' AND outcome != 'interrupted' "
	"ORDER BY seq DESC LIMIT 1";
static const char sql_set_state[] =
	"UPDATE tasks SET state = ?2, reason = ?3, chosen_run = ?4, updated_ms = ?5 WHERE id = ?1";
static const char sql_get_patch[] = "SELECT diff FROM patches WHERE run_id = ?1 AND task_id = ?2";
/* The diff's bytes without reading it out. */
static const char sql_patch_stat[] =
	"SELECT files, insertions, deletions, length(CAST(diff AS BLOB)) FROM patches WHERE run_id = ?1";
static const char sql_get_verification[] =
	"SELECT state, verdict, reason, comparison, exit_code, duration_ms, repeats, output FROM verifications "
	"WHERE run_id = ?1";
static const char sql_get_baseline[] = "SELECT baseline FROM tasks WHERE id = ?1 AND baseline IS NOT NULL";
static const char sql_list_pending[] = "SELECT run_id, task_id FROM verifications WHERE state = 'pending'";

static int verify_set_state(struct store_conn *conn, const char *task_id, enum task_state to, const char *reason,
			    const char *chosen, int64_t now_ms, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_stmt(conn, sql_set_state, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, task_state_name(to), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(stmt, 3, reason, -1, SQLITE_TRANSIENT);
	if (chosen)
		sqlite3_bind_text(stmt, 4, chosen, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 5, now_ms);
	return store_step_done(conn, stmt, err, errlen);
}

/* Picks the run for review: the best rank, then the smallest patch, then
 * the earliest run. *chosen is "" when none is reviewable; *reason is the
 * first verification's reason then. */
static int verify_choose(struct store_conn *conn, const char *task_id, char *chosen, size_t chosen_len, char *reason,
			 size_t reason_len, char *err, size_t errlen)
{
	chosen[0] = '\0';
	reason[0] = '\0';
	sqlite3_stmt *stmt = store_stmt(conn, sql_verdicts, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	int best_rank = -1;
	int64_t best_bytes = 0;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		enum verdict v = VERDICT_FAILED;
		enum verdict_comparison c = COMPARISON_NONE;
		const char *vt = (const char *)sqlite3_column_text(stmt, 1);
		const char *ct = (const char *)sqlite3_column_text(stmt, 2);
		if (vt)
			verdict_parse(vt, &v);
		if (ct)
			verdict_comparison_parse(ct, &c);
		int rank = verdict_rank(v, c);
		int64_t bytes = sqlite3_column_int64(stmt, 3);
		const char *why = (const char *)sqlite3_column_text(stmt, 4);
		if (!reason[0] && why)
			snprintf(reason, reason_len, "%s", why);
		if (rank < 0)
			continue;
		if (best_rank < 0 || rank < best_rank || (rank == best_rank && bytes < best_bytes)) {
			best_rank = rank;
			best_bytes = bytes;
			snprintf(chosen, chosen_len, "%s", (const char *)sqlite3_column_text(stmt, 0));
		}
	}
	sqlite3_reset(stmt);
	return 0;
}

int store_settle_task(struct store_conn *conn, const char *task_id, int64_t now_ms, enum task_state *from,
		      enum task_state *to, char *err, size_t errlen)
{
	return verify_settle(conn, task_id, now_ms, from, to, err, errlen);
}

/* Moves the task to where its runs and verifications put it. */
static int verify_settle(struct store_conn *conn, const char *task_id, int64_t now_ms, enum task_state *from,
			 enum task_state *to, char *err, size_t errlen)
{
	unsigned attempts;
	bool baseline;
	int rc = store_task_progress(conn, task_id, from, &attempts, &baseline, err, errlen);
	if (rc < 0)
		return rc;
	*to = *from;
	if (*from != TASK_RUNNING && *from != TASK_VERIFYING)
		return 0; /* canceled, or already settled */
	sqlite3_stmt *stmt = store_stmt(conn, sql_run_counts, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_step(stmt);
	unsigned runs = (unsigned)sqlite3_column_int(stmt, 0);
	int running = sqlite3_column_int(stmt, 1);
	sqlite3_reset(stmt);
	if (!(stmt = store_stmt(conn, sql_pending, err, errlen)))
		return -EIO;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_step(stmt);
	int pending = sqlite3_column_int(stmt, 0);
	sqlite3_reset(stmt);
	if (running > 0)
		return 0;
	if (runs < attempts) {
		/* Every run so far was interrupted: back to the queue. Else
		 * the rest of the attempts are still to be scheduled. */
		if (runs == 0 && *from == TASK_RUNNING) {
			*to = TASK_QUEUED;
			return verify_set_state(conn, task_id, TASK_QUEUED, "interrupted", NULL, now_ms, err, errlen);
		}
		return 0;
	}
	if (pending > 0) {
		if (*from == TASK_RUNNING) {
			*to = TASK_VERIFYING;
			return verify_set_state(conn, task_id, TASK_VERIFYING, NULL, NULL, now_ms, err, errlen);
		}
		return 0;
	}
	char chosen[TASK_ID_MAX], reason[128];
	rc = verify_choose(conn, task_id, chosen, sizeof(chosen), reason, sizeof(reason), err, errlen);
	if (rc < 0)
		return rc;
	if (chosen[0]) {
		/* The life of a task goes through verifying. */
		if (*from == TASK_RUNNING &&
		    (rc = verify_set_state(conn, task_id, TASK_VERIFYING, NULL, NULL, now_ms, err, errlen)) < 0)
			return rc;
		*to = TASK_AWAITING_REVIEW;
		return verify_set_state(conn, task_id, TASK_AWAITING_REVIEW, NULL, chosen, now_ms, err, errlen);
	}
	if (!reason[0]) {
		if (!(stmt = store_stmt(conn, sql_last_outcome, err, errlen)))
			return -EIO;
		sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			snprintf(reason, sizeof(reason), "%s", (const char *)sqlite3_column_text(stmt, 0));
		sqlite3_reset(stmt);
	}
	*to = TASK_FAILED;
	return verify_set_state(conn, task_id, TASK_FAILED, reason[0] ? reason : "no_patch", NULL, now_ms, err, errlen);
}

/* ---- operations ---- */

struct verify_op {
	struct store_op op; /* must be first */
	struct store *store;
	char task_id[TASK_ID_MAX];
	char run_id[TASK_ID_MAX];
	struct run_record run; /* finish: the run */
	bool has_run;
	char *diff; /* finish: the patch */
	struct run_patch patch;
	bool has_patch;
	struct verification v; /* finish or verification result */
	bool has_verification;
	char *reason; /* owned copies of v's strings */
	char *output;
	char *data;           /* event data */
	bool baseline_passed; /* baseline */
	int64_t now_ms;
	int64_t seq;              /* the event's */
	enum task_state from, to; /* the settle's move */
	store_run_fn run_cb;
	store_event_fn event_cb;
	void *arg;
};

static void verify_op_free(struct verify_op *o)
{
	run_record_free(&o->run);
	free(o->diff);
	free(o->reason);
	free(o->output);
	free(o->data);
	free(o);
}

static void verify_op_done(struct store_op *op, int status, const char *err)
{
	struct verify_op *o = (struct verify_op *)op;
	if (status == 0 && o->from != o->to) {
		o->store->task_counts[o->from]--;
		o->store->task_counts[o->to]++;
	}
	if (o->run_cb)
		o->run_cb(status, &o->run, err, o->arg);
	else if (o->event_cb)
		o->event_cb(status, o->seq, err, o->arg);
	verify_op_free(o);
}

static struct verify_op *verify_op_new(struct store *s, const char *task_id, const char *run_id, int64_t now_ms)
{
	struct verify_op *o = xcalloc(1, sizeof(*o));
	o->op.done = verify_op_done;
	o->store = s;
	snprintf(o->task_id, sizeof(o->task_id), "%s", task_id);
	snprintf(o->run_id, sizeof(o->run_id), "%s", run_id ? run_id : "");
	o->now_ms = now_ms;
	return o;
}

static void verify_copy(struct verify_op *o, const struct verification *v)
{
	o->v = *v;
	o->reason = v->reason ? xstrdup(v->reason) : NULL;
	o->output = v->output ? xstrdup(v->output) : NULL;
	o->v.reason = o->reason;
	o->v.output = o->output;
	o->has_verification = true;
}

static int baseline_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct verify_op *o = (struct verify_op *)op;
	sqlite3_stmt *stmt = store_stmt(conn, sql_baseline, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, o->task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, o->baseline_passed);
	sqlite3_bind_text(stmt, 3, o->data, -1, SQLITE_STATIC);
	return store_step_done(conn, stmt, err, errlen);
}

void store_baseline_record(struct store *s, const char *task_id, bool passed, const char *details, store_event_fn cb,
			   void *arg)
{
	struct verify_op *o = verify_op_new(s, task_id, NULL, 0);
	o->op.apply = baseline_apply;
	o->baseline_passed = passed;
	o->data = xstrdup(details);
	o->event_cb = cb;
	o->arg = arg;
	store_submit(s, &o->op);
}

/* Inserts a verification row (pending or with its result). */
static int verify_insert(struct store_conn *conn, struct verify_op *o, char *err, size_t errlen)
{
	const struct verification *v = &o->v;
	sqlite3_stmt *stmt = store_stmt(conn, sql_insert_verification, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, o->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, o->task_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, v->pending ? "pending" : "done", -1, SQLITE_STATIC);
	if (!v->pending) {
		sqlite3_bind_text(stmt, 4, verdict_name(v->verdict), -1, SQLITE_STATIC);
		if (v->reason)
			sqlite3_bind_text(stmt, 5, v->reason, -1, SQLITE_STATIC);
		if (v->comparison != COMPARISON_NONE)
			sqlite3_bind_text(stmt, 6, verdict_comparison_name(v->comparison), -1, SQLITE_STATIC);
		if (v->exit_code >= 0)
			sqlite3_bind_int(stmt, 7, v->exit_code);
		sqlite3_bind_int64(stmt, 8, (int64_t)v->duration_ms);
		sqlite3_bind_int64(stmt, 13, o->now_ms);
	}
	sqlite3_bind_int(stmt, 9, (int)v->repeats);
	if (v->output)
		sqlite3_bind_text(stmt, 10, v->output, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 11, (int64_t)v->diff_bytes);
	sqlite3_bind_int64(stmt, 12, o->now_ms);
	return store_step_done(conn, stmt, err, errlen);
}

static int finish_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct verify_op *o = (struct verify_op *)op;
	const struct run_record *run = &o->run;
	sqlite3_stmt *stmt = store_stmt(conn, sql_end_run, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, run->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, run_outcome_name(run->outcome), -1, SQLITE_STATIC);
	if (run->detail)
		sqlite3_bind_text(stmt, 3, run->detail, -1, SQLITE_STATIC);
	if (run->base_commit)
		sqlite3_bind_text(stmt, 4, run->base_commit, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, (int)run->steps);
	sqlite3_bind_int64(stmt, 6, (int64_t)run->tokens_in);
	sqlite3_bind_int64(stmt, 7, (int64_t)run->tokens_out);
	if (run->changed >= 0)
		sqlite3_bind_int(stmt, 8, run->changed);
	sqlite3_bind_int64(stmt, 9, run->ended_ms);
	int rc = store_step_done(conn, stmt, err, errlen);
	if (rc == 0 && o->has_patch) {
		if (!(stmt = store_stmt(conn, sql_insert_patch, err, errlen)))
			return -EIO;
		sqlite3_bind_text(stmt, 1, o->run_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, o->task_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, o->diff, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 4, (int)o->patch.files);
		sqlite3_bind_int(stmt, 5, (int)o->patch.insertions);
		sqlite3_bind_int(stmt, 6, (int)o->patch.deletions);
		sqlite3_bind_int64(stmt, 7, o->now_ms);
		rc = store_step_done(conn, stmt, err, errlen);
	}
	if (rc == 0 && o->has_verification)
		rc = verify_insert(conn, o, err, errlen);
	if (rc == 0)
		rc = store_insert_event(conn, o->task_id, o->run_id, "run_ended", o->data ? o->data : "{}", o->now_ms,
					&o->seq, err, errlen);
	if (rc == 0)
		rc = verify_settle(conn, o->task_id, o->now_ms, &o->from, &o->to, err, errlen);
	return rc;
}

void store_runs_finish_verified(struct store *s, const struct run_record *run, const struct run_patch *patch,
				const struct verification *verification, const char *data, store_run_fn cb, void *arg)
{
	struct verify_op *o = verify_op_new(s, run->task_id, run->id, run->ended_ms);
	o->op.apply = finish_apply;
	o->run = *run;
	o->run.detail = run->detail ? xstrdup(run->detail) : NULL;
	o->run.base_commit = run->base_commit ? xstrdup(run->base_commit) : NULL;
	if (patch) {
		o->has_patch = true;
		o->patch = *patch;
		o->diff = xstrdup(patch->diff);
		o->patch.diff = o->diff;
	}
	if (verification)
		verify_copy(o, verification);
	o->data = data ? xstrdup(data) : NULL;
	o->run_cb = cb;
	o->arg = arg;
	store_submit(s, &o->op);
}

static int verification_apply(struct store_conn *conn, struct store_op *op, char *err, size_t errlen)
{
	struct verify_op *o = (struct verify_op *)op;
	const struct verification *v = &o->v;
	sqlite3_stmt *stmt = store_stmt(conn, sql_finish_verification, err, errlen);
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, o->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, verdict_name(v->verdict), -1, SQLITE_STATIC);
	if (v->reason)
		sqlite3_bind_text(stmt, 3, v->reason, -1, SQLITE_STATIC);
	if (v->comparison != COMPARISON_NONE)
		sqlite3_bind_text(stmt, 4, verdict_comparison_name(v->comparison), -1, SQLITE_STATIC);
	if (v->exit_code >= 0)
		sqlite3_bind_int(stmt, 5, v->exit_code);
	sqlite3_bind_int64(stmt, 6, (int64_t)v->duration_ms);
	sqlite3_bind_int(stmt, 7, (int)v->repeats);
	if (v->output)
		sqlite3_bind_text(stmt, 8, v->output, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 9, o->now_ms);
	int rc = store_step_done(conn, stmt, err, errlen);
	if (rc == 0)
		rc = store_insert_event(conn, o->task_id, o->run_id, "verified", o->data, o->now_ms, &o->seq, err,
					errlen);
	if (rc == 0)
		rc = verify_settle(conn, o->task_id, o->now_ms, &o->from, &o->to, err, errlen);
	return rc;
}

void store_verification_finish(struct store *s, const char *task_id, const char *run_id, const struct verification *v,
			       int64_t now_ms, store_event_fn cb, void *arg)
{
	struct verify_op *o = verify_op_new(s, task_id, run_id, now_ms);
	o->op.apply = verification_apply;
	verify_copy(o, v);
	struct buf data = BUF_INIT;
	buf_printf(&data, "{\"verdict\":\"%s\",\"reason\":", verdict_name(v->verdict));
	json_write_string_or_null(&data, v->reason);
	buf_append_str(&data, ",\"comparison\":");
	json_write_string_or_null(&data,
				  v->comparison != COMPARISON_NONE ? verdict_comparison_name(v->comparison) : NULL);
	buf_printf(&data, ",\"exit_code\":%d,\"duration_ms\":%llu,\"repeats\":%u,\"output\":", v->exit_code,
		   (unsigned long long)v->duration_ms, v->repeats);
	json_write_string(&data, v->output ? v->output : "");
	buf_append_char(&data, '}');
	o->data = buf_steal(&data);
	o->event_cb = cb;
	o->arg = arg;
	store_submit(s, &o->op);
}

/* ---- reads ---- */

int store_patch_get(struct store *s, const char *task_id, const char *run_id, char **diff)
{
	*diff = NULL;
	char err[256];
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_get_patch, err, sizeof(err));
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, task_id, -1, SQLITE_STATIC);
	int rc = -ENOENT;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*diff = xstrdup((const char *)sqlite3_column_text(stmt, 0));
		rc = 0;
	}
	sqlite3_reset(stmt);
	return rc;
}

int store_patch_stat(struct store *s, const char *run_id, unsigned *files, unsigned *insertions, unsigned *deletions,
		     size_t *bytes)
{
	char err[256];
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_patch_stat, err, sizeof(err));
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, run_id, -1, SQLITE_STATIC);
	int rc = -ENOENT;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*files = (unsigned)sqlite3_column_int(stmt, 0);
		*insertions = (unsigned)sqlite3_column_int(stmt, 1);
		*deletions = (unsigned)sqlite3_column_int(stmt, 2);
		*bytes = (size_t)sqlite3_column_int64(stmt, 3);
		rc = 0;
	}
	sqlite3_reset(stmt);
	return rc;
}

/* A text column, or null. */
static void verify_json_text_or_null(struct buf *out, sqlite3_stmt *stmt, int col)
{
	json_write_string_or_null(out, (const char *)sqlite3_column_text(stmt, col));
}

char *store_verification_json(struct store *s, const char *run_id)
{
	char err[256];
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_get_verification, err, sizeof(err));
	if (!stmt)
		return NULL;
	sqlite3_bind_text(stmt, 1, run_id, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return NULL;
	}
	struct buf out = BUF_INIT;
	buf_append_str(&out, "{\"state\":");
	verify_json_text_or_null(&out, stmt, 0);
	buf_append_str(&out, ",\"verdict\":");
	verify_json_text_or_null(&out, stmt, 1);
	buf_append_str(&out, ",\"reason\":");
	verify_json_text_or_null(&out, stmt, 2);
	buf_append_str(&out, ",\"comparison\":");
	verify_json_text_or_null(&out, stmt, 3);
	if (sqlite3_column_type(stmt, 4) == SQLITE_NULL)
		buf_append_str(&out, ",\"exit_code\":null");
	else
		buf_printf(&out, ",\"exit_code\":%d", sqlite3_column_int(stmt, 4));
	buf_printf(&out, ",\"duration_ms\":%lld,\"repeats\":%d,\"output\":", (long long)sqlite3_column_int64(stmt, 5),
		   sqlite3_column_int(stmt, 6));
	verify_json_text_or_null(&out, stmt, 7);
	buf_append_char(&out, '}');
	sqlite3_reset(stmt);
	return buf_steal(&out);
}

char *store_baseline_json(struct store *s, const char *task_id)
{
	char err[256];
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_get_baseline, err, sizeof(err));
	if (!stmt)
		return NULL;
	sqlite3_bind_text(stmt, 1, task_id, -1, SQLITE_STATIC);
	char *json = NULL;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		json = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	return json;
}

int store_verifications_pending(struct store *s, char ***run_ids, char ***task_ids, size_t *count)
{
	*run_ids = NULL;
	*task_ids = NULL;
	*count = 0;
	char err[256];
	sqlite3_stmt *stmt = store_stmt(store_reader(s), sql_list_pending, err, sizeof(err));
	if (!stmt)
		return -EIO;
	size_t cap = 0;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (*count == cap) {
			cap = cap ? cap * 2 : 8;
			*run_ids = xrealloc(*run_ids, cap * sizeof(char *));
			*task_ids = xrealloc(*task_ids, cap * sizeof(char *));
		}
		(*run_ids)[*count] = xstrdup((const char *)sqlite3_column_text(stmt, 0));
		(*task_ids)[*count] = xstrdup((const char *)sqlite3_column_text(stmt, 1));
		(*count)++;
	}
	sqlite3_reset(stmt);
	return 0;
}
