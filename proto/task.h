/* The task object of the REST API: its C form, its JSON codec (used by the
 * daemon to answer and by agentctl to read answers), and the validation of
 * a submission (POST /v1/tasks) — everything about it that needs no file
 * system or database. */
#ifndef AGENTD_PROTO_TASK_H
#define AGENTD_PROTO_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/buf.h"

#include "proto/task_state.h"

#define TASK_ID_MAX 40 /* bytes of an id, NUL included */
#define TASK_INSTRUCTION_MAX 65536
#define TASK_TEST_COMMAND_MAX 4096
#define TASK_REPO_MAX 4096
#define TASK_REF_MAX 256
#define TASK_LABELS_MAX 16
#define TASK_LABEL_MAX 64
#define TASK_PRIORITY_MIN (-100)
#define TASK_PRIORITY_MAX 100
#define TASK_ATTEMPTS_MAX 8
#define TASK_VERIFY_REPEATS_MAX 5

struct task_budget {
	int64_t max_steps;   /* agent steps per run */
	int64_t max_tokens;  /* tokens the model generates per run */
	int64_t max_seconds; /* wall-clock seconds per run */
};

struct task {
	char id[TASK_ID_MAX];  /* "t_" + 26 base32 characters */
	enum task_state state; /* where it is in its life */
	char *repo;            /* as submitted (credentials refused) */
	char *repo_identity;   /* normalized: real path, or URL without .git */
	char *ref;             /* branch, tag or commit to start from */
	char *instruction;     /* what to do */
	char *test_command;    /* how to check it */
	int priority;          /* -100..100; higher runs first */
	char **labels;         /* label_count owned strings */
	size_t label_count;
	int attempts;              /* best-of-N */
	int verify_repeats;            /* test runs of a passing verification (flaky detection) */
	int baseline_passed;           /* tests on the untouched base: 1 passed, 0 failed, -1 not run yet */
	char chosen_run[TASK_ID_MAX];  /* the run whose patch is under review, or "" */
	struct task_budget budget; /* per run */
	int64_t created_ms;        /* unix time, milliseconds */
	int64_t updated_ms;        /* last state change */
	char *reason;              /* why it failed or was canceled, or NULL */
};

/* Budget defaults (used when a field is absent) and ceilings (above them a
 * submission is refused). */
struct task_limits {
	struct task_budget defaults;
	struct task_budget ceilings;
};

void task_free_fields(struct task *t);
/* Deep copy into dst (which the caller later releases with task_free_fields). */
void task_copy(struct task *dst, const struct task *src);

/* Appends the API's JSON form of t to out. */
void task_write_json(const struct task *t, struct buf *out);
/* The same members without the enclosing braces (for objects that add
 * members of their own). */
void task_write_json_members(const struct task *t, struct buf *out);
/* Reads a task the API returned (agentctl); returns 0 or -EINVAL with the
 * offending field named in err. */
int task_from_json(const cJSON *json, struct task *out, char *err, size_t errlen);

/* Validates a submission body and fills out (repo, ref, instruction,
 * test_command, priority, labels, attempts, budget; the rest is the
 * daemon's) and verify_repeats. Unknown fields, wrong types, out-of-range values, invalid UTF-8
 * and NUL bytes are refused: returns -EINVAL with the field's name in field
 * (fieldlen bytes) and a message in err. */
int task_request_parse(const cJSON *body, const struct task_limits *limits, struct task *out, char *field,
		       size_t fieldlen, char *err, size_t errlen);

/* Formats unix milliseconds as RFC 3339 UTC with milliseconds into out
 * (at least 32 bytes); parses it back (-EINVAL when malformed). */
void task_format_time(int64_t ms, char *out, size_t outlen);
int task_parse_time(const char *text, int64_t *ms);

/* True when s can name a git ref safely: no leading '-', no whitespace or
 * control characters, none of ~^:?*[\, no "..", "@{" or "//", no trailing
 * '/', '.' or ".lock". */
bool task_ref_valid(const char *s);
/* True when s is a label: 1..64 bytes of [A-Za-z0-9._:/+-]. */
bool task_label_valid(const char *s);

#endif
