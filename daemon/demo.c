/* agentd --demo: the bundled example end to end, printed for a person. */
#include "daemon/demo.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/embedded.h"
#include "common/tree.h"
#include "common/xalloc.h"
#include "daemon/fleet/fleet.h"
#include "daemon/ids.h"
#include "daemon/log.h"
#include "daemon/repo.h"
#include "daemon/store/runs.h"
#include "daemon/store/tasks.h"
#include "daemon/store/verify.h"

extern char **environ;

extern const struct embedded_file agentd_demo_repo[];
extern const size_t agentd_demo_repo_count;
extern const struct embedded_file agentd_demo_script[];
extern const size_t agentd_demo_script_count;

/* How often the demo looks for new events. */
#define DEMO_POLL_MS 100
/* Lines of a command's output shown. */
#define DEMO_OUTPUT_LINES 12

static const char demo_instruction[] =
	"leap.sh says 1900 and 2100 are leap years, which they are not: in the Gregorian calendar a year divisible "
	"by 100 is a leap year only when it is also divisible by 400. Fix leap.sh so that `sh test.sh` passes.";

struct demo {
	uv_loop_t *loop;
	struct store *store; /* borrowed */
	struct fleet *fleet; /* borrowed */
	FILE *out;
	char *repo;   /* the example's git repository */
	char *socket; /* for the hints printed at the end */
	char task_id[TASK_ID_MAX];
	int64_t after;    /* the last event printed */
	uv_timer_t timer; /* polls the events */
	bool creating;    /* the task's creation has not answered yet */
	bool stopped;     /* demo_stop was called */
	bool closed;      /* the timer is closed */
	bool finished;    /* the verdict is printed */
	bool bundled;     /* the bundled script plays the model */
};

/* ---- before the loop: the repository ---- */

static int demo_write(const char *path, const char *data, size_t size, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return 0;
}

/* Runs git with args in dir, synchronously (start-up only); its output
 * goes to log, whose tail makes the error. */
static int demo_git(const char *dir, const char *log, const char *const *args, char *err, size_t errlen)
{
	char *argv[16];
	size_t n = 0;
	argv[n++] = "git";
	argv[n++] = "-c";
	argv[n++] = "user.name=agentd demo";
	argv[n++] = "-c";
	argv[n++] = "user.email=demo@agentd.invalid";
	argv[n++] = "-c";
	argv[n++] = "commit.gpgsign=false";
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	/* Nobody's git configuration shapes the example. */
	char *home = xasprintf("HOME=%s/..", dir);
	const char *path = getenv("PATH");
	char *path_env = xasprintf("PATH=%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *envp[] = {home, path_env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	pid_t pid;
	int rc = posix_spawnp(&pid, "git", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(home);
	free(path_env);
	if (rc != 0) {
		snprintf(err, errlen, "cannot run git (needed for the demo): %s", strerror(rc));
		return -rc;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char tail[512] = "";
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);
		off_t from = size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0;
		ssize_t got = pread(fd, tail, sizeof(tail) - 1, from);
		tail[got > 0 ? got : 0] = '\0';
		close(fd);
	}
	size_t len = strlen(tail);
	while (len > 0 && tail[len - 1] == '\n')
		tail[--len] = '\0';
	snprintf(err, errlen, "git %s failed in %s: %s", args[0], dir, tail);
	return -EIO;
}

int demo_prepare(const char *data_dir, bool bundled, char **llm_spec, char *err, size_t errlen)
{
	*llm_spec = NULL;
	char *dir = xasprintf("%s/demo", data_dir);
	char *repo = xasprintf("%s/leap-year", dir);
	char *log = xasprintf("%s/git.log", dir);
	int rc = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	/* A fresh copy each time: an earlier demo's agent left nothing here
	 * (its workspace was elsewhere), but a person may have. */
	tree_remove(repo);
	unlink(log);
	if (mkdir(repo, 0755) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", repo, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < agentd_demo_repo_count && rc == 0; i++) {
		const struct embedded_file *f = &agentd_demo_repo[i];
		char *path = xasprintf("%s/%s", repo, f->name);
		size_t len = strlen(f->name);
		bool script = len > 3 && strcmp(f->name + len - 3, ".sh") == 0;
		rc = demo_write(path, f->data, f->size, script ? 0755 : 0644, err, errlen);
		free(path);
	}
	static const char *const init[] = {"init", "-q", "-b", "main", NULL};
	static const char *const add[] = {"add", "-A", NULL};
	static const char *const commit[] = {"commit", "-q", "-m", "leap-year: the example, bug included", NULL};
	if (rc == 0)
		rc = demo_git(repo, log, init, err, errlen);
	if (rc == 0)
		rc = demo_git(repo, log, add, err, errlen);
	if (rc == 0)
		rc = demo_git(repo, log, commit, err, errlen);
	if (rc == 0 && bundled) {
		char *script = xasprintf("%s/script.json", dir);
		rc = demo_write(script, agentd_demo_script[0].data, agentd_demo_script[0].size, 0600, err, errlen);
		if (rc == 0)
			*llm_spec = xasprintf("scripted:%s", script);
		free(script);
	}
out:
	free(dir);
	free(repo);
	free(log);
	return rc;
}

/* ---- on the loop: following the task ---- */

/* Prints text indented, at most max lines (the first ones, or the last
 * ones with tail), with a note of what was left out. */
static void demo_block(FILE *out, const char *text, int max, bool tail)
{
	if (!text || !*text)
		return;
	int total = 0;
	for (const char *p = text; *p; p++)
		total += *p == '\n';
	if (text[strlen(text) - 1] != '\n')
		total++;
	int skip = tail && total > max ? total - max : 0;
	if (skip)
		fprintf(out, "        | ... (%d lines above)\n", skip);
	int line = 0;
	const char *p = text;
	while (*p) {
		size_t n = strcspn(p, "\n");
		if (line >= skip && line - skip < max)
			fprintf(out, "        | %.*s\n", (int)n, p);
		line++;
		p += n + (p[n] == '\n');
	}
	if (!tail && total > max)
		fprintf(out, "        | ... (%d more lines)\n", total - max);
}

static const char *demo_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long demo_int(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void demo_print_step(struct demo *d, const cJSON *data)
{
	FILE *out = d->out;
	long long step = demo_int(data, "step");
	const char *reply = demo_str(data, "reply");
	if (reply) {
		/* What the model said around its command. */
		size_t n = strcspn(reply, "`");
		while (n > 0 && (reply[n - 1] == '\n' || reply[n - 1] == ' '))
			n--;
		fprintf(out, "step %lld  the model: %.*s\n", step, (int)n, reply);
	}
	const char *error = demo_str(data, "error");
	if (error) {
		fprintf(out, "        (no command: %s)\n", error);
		return;
	}
	const char *command = demo_str(data, "command");
	if (command) {
		fprintf(out, "        $ ");
		for (const char *p = command; *p; p++) {
			fputc(*p, out);
			if (*p == '\n' && p[1])
				fputs("          ", out);
		}
		fputc('\n', out);
	}
	demo_block(out, demo_str(data, "output"), DEMO_OUTPUT_LINES, false);
	fprintf(out, "        (exit %lld, %lld ms, in the sandbox)%s\n", demo_int(data, "exit_code"),
		demo_int(data, "duration_ms"),
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "submitted")) ? "  -- submitted" : "");
}

static void demo_print_event(struct demo *d, const struct store_event *e)
{
	FILE *out = d->out;
	cJSON *data = cJSON_Parse(e->data);
	if (strcmp(e->kind, "run_started") == 0) {
		fprintf(out, "\nAn agent starts (attempt %lld, slot %lld) in a fresh clone of the repository.\n",
			demo_int(data, "attempt"), demo_int(data, "slot"));
	} else if (strcmp(e->kind, "baseline") == 0) {
		bool passed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "passed"));
		fprintf(out, "\nBaseline: the tests on the untouched code, in a sandbox: %s (exit %lld, %lld ms)\n",
			passed ? "they pass" : "they fail", demo_int(data, "exit_code"), demo_int(data, "duration_ms"));
		demo_block(out, demo_str(data, "output"), 6, true);
		fputc('\n', out);
	} else if (strcmp(e->kind, "step") == 0) {
		demo_print_step(d, data);
	} else if (strcmp(e->kind, "run_ended") == 0) {
		const cJSON *patch = cJSON_GetObjectItemCaseSensitive(data, "patch");
		fprintf(out, "\nThe run ends: %s after %lld steps",
			demo_str(data, "outcome") ? demo_str(data, "outcome") : "?", demo_int(data, "steps"));
		if (cJSON_IsObject(patch))
			fprintf(out, "; its patch: %lld file(s), +%lld -%lld\n", demo_int(patch, "files"),
				demo_int(patch, "insertions"), demo_int(patch, "deletions"));
		else
			fprintf(out, "; no patch\n");
		const char *verification = demo_str(data, "verification");
		if (verification && strcmp(verification, "pending") == 0)
			fprintf(out, "agentd verifies it (the agent's own test runs count for nothing): a fresh clone, "
				     "git apply, the tests, in a fresh sandbox.\n");
		else if (verification && strcmp(verification, "empty_patch") == 0)
			fprintf(out, "Verified: failed (empty_patch): the run changed nothing.\n");
		else if (verification)
			fprintf(out, "Verified: failed: the patch is refused (binary, or larger than --patch-max).\n");
	} else if (strcmp(e->kind, "verified") == 0) {
		const char *why =
			demo_str(data, "comparison") ? demo_str(data, "comparison") : demo_str(data, "reason");
		fprintf(out, "Verified: %s%s%s%s (exit %lld, %lld ms)\n", demo_str(data, "verdict"), why ? " (" : "",
			why ? why : "", why ? ")" : "", demo_int(data, "exit_code"), demo_int(data, "duration_ms"));
		demo_block(out, demo_str(data, "output"), 6, true);
	}
	cJSON_Delete(data);
	fflush(out);
}

/* The verdict, the patch, and how to go on. */
static void demo_print_end(struct demo *d, const struct task *t)
{
	FILE *out = d->out;
	fprintf(out, "\n== %s: the task is %s", t->id, task_state_name(t->state));
	if (t->reason)
		fprintf(out, " (%s)", t->reason);
	fputc('\n', out);
	char *diff = NULL;
	if (t->chosen_run[0] && store_patch_get(d->store, t->id, t->chosen_run, &diff) == 0) {
		fprintf(out, "== the patch up for review (run %s):\n\n%s\n", t->chosen_run, diff);
		free(diff);
	}
	fprintf(out,
		"agentd keeps serving on %s (Ctrl-C stops it). From another terminal:\n"
		"  agentctl --socket %s show %s\n"
		"  agentctl --socket %s patch %s\n"
		"  curl --unix-socket %s http://agentd/v1/tasks/%s/events\n",
		d->socket, d->socket, t->id, d->socket, t->id, d->socket, t->id);
	if (d->bundled)
		fprintf(out, "(Remember: the agent's replies were the bundled script's, not a language model's.)\n");
	fflush(out);
}

static void demo_tick(uv_timer_t *timer)
{
	struct demo *d = timer->data;
	if (d->stopped || d->finished)
		return;
	struct store_event *events = NULL;
	size_t count = 0;
	char err[256];
	if (store_events_list(d->store, d->task_id, d->after, NULL, 100, &events, &count, err, sizeof(err)) < 0)
		return;
	for (size_t i = 0; i < count; i++) {
		demo_print_event(d, &events[i]);
		d->after = events[i].seq;
	}
	store_events_free_list(events, count);
	if (count > 0)
		return;
	/* Nothing new: is the task settled? */
	struct task t;
	if (store_tasks_get(d->store, d->task_id, &t, err, sizeof(err)) < 0)
		return;
	if (t.state == TASK_AWAITING_REVIEW || task_state_is_terminal(t.state)) {
		d->finished = true;
		uv_timer_stop(&d->timer);
		demo_print_end(d, &t);
	}
	task_free_fields(&t);
}

static void demo_maybe_free(struct demo *d)
{
	if (!d->closed || d->creating)
		return;
	free(d->repo);
	free(d->socket);
	free(d);
}

static void demo_created(int status, enum store_create_result result, const struct task *task, const char *err,
			 void *arg)
{
	(void)result;
	struct demo *d = arg;
	d->creating = false;
	if (d->stopped) {
		demo_maybe_free(d);
		return;
	}
	if (status < 0) {
		fprintf(d->out, "The demo's task could not be stored: %s\n", err);
		fflush(d->out);
		return;
	}
	snprintf(d->task_id, sizeof(d->task_id), "%s", task->id);
	fprintf(d->out, "Task %s submitted: \"%s\"\n  test command: %s\n", task->id, task->instruction,
		task->test_command);
	fflush(d->out);
	fleet_kick(d->fleet);
	uv_timer_start(&d->timer, demo_tick, DEMO_POLL_MS, DEMO_POLL_MS);
}

struct demo *demo_start(uv_loop_t *loop, struct store *store, struct fleet *fleet, const struct task_limits *limits,
			const char *data_dir, const char *socket_path, bool bundled, const char *model, FILE *out)
{
	struct demo *d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->store = store;
	d->fleet = fleet;
	d->out = out;
	d->repo = xasprintf("%s/demo/leap-year", data_dir);
	d->socket = xstrdup(socket_path);
	d->bundled = bundled;
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;

	fprintf(out, "agentd demo\n\n");
	if (bundled)
		fprintf(out,
			"THE MODEL IN THIS DEMO IS A SCRIPT, NOT A LANGUAGE MODEL. No model was given (--model or "
			"--llm),\nso the agent's four replies come from a script bundled with agentd "
			"(daemon/demo/script.json),\nwritten in advance for this example. Everything else is real: "
			"agentd runs each command\nin its sandbox, runs the tests itself, computes the patch and "
			"gives the verdict.\n\n");
	else
		fprintf(out, "The agent's model: %s.\n\n", model);
	fprintf(out,
		"The example: %s, a copy of examples/leap-year: leap.sh says whether a year is a\n"
		"leap year, and its test (sh test.sh) fails because it calls 1900 and 2100 leap years.\n\n",
		d->repo);
	fflush(out);

	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "repo", d->repo);
	cJSON_AddStringToObject(body, "instruction", demo_instruction);
	cJSON_AddStringToObject(body, "test_command", "sh test.sh");
	cJSON *labels = cJSON_AddArrayToObject(body, "labels");
	cJSON_AddItemToArray(labels, cJSON_CreateString("demo"));
	struct task t;
	char field[64], err[512];
	struct repo_roots no_roots = {0};
	int64_t now = (int64_t)time(NULL) * 1000;
	int rc = task_request_parse(body, limits, &t, field, sizeof(field), err, sizeof(err));
	cJSON_Delete(body);
	if (rc == 0)
		rc = repo_check(t.repo, &no_roots, &t.repo_identity, err, sizeof(err));
	if (rc == 0)
		rc = ids_new('t', now, t.id, sizeof(t.id));
	if (rc < 0) {
		fprintf(out, "The demo's task could not be made: %s\n", err);
		fflush(out);
		task_free_fields(&t);
		return d;
	}
	t.state = TASK_QUEUED;
	t.created_ms = t.updated_ms = now;
	unsigned char hash[STORE_TASK_HASH_BYTES] = {0};
	d->creating = true;
	store_tasks_create(store, &t, NULL, hash, demo_created, d);
	task_free_fields(&t);
	return d;
}

static void demo_closed(uv_handle_t *handle)
{
	struct demo *d = handle->data;
	d->closed = true;
	demo_maybe_free(d);
}

void demo_stop(struct demo *d)
{
	if (!d || d->stopped)
		return;
	d->stopped = true;
	uv_close((uv_handle_t *)&d->timer, demo_closed);
}
