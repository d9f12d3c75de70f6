/* agentctl: the command-line client of agentd. Every command is one call
 * of the REST API over the daemon's unix socket (or --url). Exit status: 0
 * on success, 1 when agentd says no (or cannot be reached), 2 on usage
 * errors. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "build_config.h"
#include "client/http.h"
#include "common/buf.h"
#include "common/units.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "proto/task.h"

#define CTL_DEFAULT_SOCKET "/var/lib/agentd/agentd.sock"
#define CTL_MAX_ARGS 64

/* Parsed command line of one command. */
struct ctl_args {
	const char *names[CTL_MAX_ARGS];  /* option names (without --) */
	const char *values[CTL_MAX_ARGS]; /* their values (NULL for flags) */
	size_t count;
	const char *positional[8]; /* non-option arguments */
	size_t npositional;
};

struct ctl {
	struct client_target target; /* where agentd is */
	bool json;                   /* print the API's JSON */
};

static void ctl_usage(FILE *out)
{
	fprintf(out, "usage: agentctl [--socket PATH | --url http://HOST:PORT] [--json] COMMAND [OPTIONS]\n"
		     "\n"
		     "commands:\n"
		     "  submit   submit a task\n"
		     "  list     list tasks, newest first\n"
		     "  show     show one task: its state, verdict, runs and diff stat\n"
		     "  patch    print the patch up for review (or one run's)\n"
		     "  cancel   cancel a task\n"
		     "  help     show help for a command: agentctl help submit\n"
		     "\n"
		     "agentctl talks to agentd's unix socket: --socket PATH, else $AGENTD_SOCKET,\n"
		     "else " CTL_DEFAULT_SOCKET ". --json prints the API's JSON answers.\n"
		     "Exit status: 0 success, 1 agentd refused or could not be reached, 2 usage error.\n");
}

static const char ctl_submit_help[] =
	"usage: agentctl submit --repo REPO --instruction TEXT --test COMMAND [OPTIONS]\n"
	"\n"
	"  --repo REPO              a local git repository (path) or a file://, https://,\n"
	"                           ssh:// or git:// URL\n"
	"  --ref REF                branch, tag or commit to start from [HEAD]\n"
	"  --instruction TEXT       what the agents should do\n"
	"  --instruction-file FILE  read the instruction from FILE ('-' for stdin)\n"
	"  --test COMMAND           the command whose success means done\n"
	"  --priority N             -100..100, higher runs first [0]\n"
	"  --label LABEL            a label (repeatable, up to 16)\n"
	"  --attempts N             independent attempts, the best is kept (1..8) [1]\n"
	"  --verify-repeats N       run a passing verification N times; any failure\n"
	"                           makes the verdict flaky (1..5) [1]\n"
	"  --max-steps N            step budget per run [daemon default]\n"
	"  --max-tokens N           generated-token budget per run [daemon default]\n"
	"  --max-time DURATION      time budget per run, e.g. 30m [daemon default]\n"
	"  --idempotency-key KEY    makes retrying this submission safe\n"
	"  --json                   print the created task as JSON\n";
static const char ctl_list_help[] =
	"usage: agentctl list [--state STATE] [--label LABEL] [--repo REPO] [--limit N] [--all] [--json]\n"
	"\n"
	"  --state STATE    queued, running, verifying, awaiting_review, approved, rejected,\n"
	"                   failed or canceled\n"
	"  --label LABEL    tasks with this label\n"
	"  --repo REPO      tasks on this repository (path or URL)\n"
	"  --limit N        tasks per page (1..500) [50]\n"
	"  --cursor CURSOR  start at this page (from a previous listing)\n"
	"  --all            follow every page\n"
	"  --json           print the API's JSON pages\n";
static const char ctl_show_help[] = "usage: agentctl show TASK_ID [--json]\n";
static const char ctl_cancel_help[] = "usage: agentctl cancel TASK_ID [--json]\n";
static const char ctl_patch_help[] = "usage: agentctl patch TASK_ID [--run RUN_ID]\n"
				     "\n"
				     "Prints the patch chosen for review, a diff that `git apply` takes at the\n"
				     "task's base commit; with --run, that run's patch, chosen or not.\n";

/* Options that take no value. */
static bool ctl_is_flag(const char *name)
{
	return strcmp(name, "json") == 0 || strcmp(name, "all") == 0 || strcmp(name, "help") == 0;
}

/* Splits argv into options and positional arguments. Returns 0, or 2 after
 * printing a usage error. */
static int ctl_parse(int argc, char **argv, struct ctl_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0)
			arg = "--help";
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (a->npositional == sizeof(a->positional) / sizeof(a->positional[0])) {
				fprintf(stderr, "agentctl: too many arguments\n");
				return 2;
			}
			a->positional[a->npositional++] = arg;
			continue;
		}
		if (a->count == CTL_MAX_ARGS) {
			fprintf(stderr, "agentctl: too many options\n");
			return 2;
		}
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		char *key = eq ? xstrndup(name, (size_t)(eq - name)) : xstrdup(name);
		const char *value = NULL;
		if (eq) {
			value = eq + 1;
		} else if (!ctl_is_flag(key)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "agentctl: --%s needs a value\n", key);
				free(key);
				return 2;
			}
			value = argv[++i];
		}
		a->names[a->count] = key;
		a->values[a->count] = value;
		a->count++;
	}
	return 0;
}

static void ctl_args_free(struct ctl_args *a)
{
	for (size_t i = 0; i < a->count; i++)
		free((char *)a->names[i]);
}

/* Checks that every option is in allowed (NULL-terminated). */
static int ctl_check_options(const struct ctl_args *a, const char *const *allowed, const char *command)
{
	for (size_t i = 0; i < a->count; i++) {
		bool ok = false;
		for (size_t j = 0; allowed[j] && !ok; j++)
			ok = strcmp(a->names[i], allowed[j]) == 0;
		if (!ok) {
			fprintf(stderr, "agentctl %s: unknown option --%s (see agentctl help %s)\n", command,
				a->names[i], command);
			return 2;
		}
	}
	return 0;
}

static const char *ctl_opt(const struct ctl_args *a, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->names[i], name) == 0)
			v = a->values[i] ? a->values[i] : "";
	}
	return v;
}

static bool ctl_flag(const struct ctl_args *a, const char *name)
{
	return ctl_opt(a, name) != NULL;
}

/* Prints agentd's error answer; returns 1. */
static int ctl_server_error(const struct client_response *r)
{
	cJSON *json = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(json, "error");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	if (cJSON_IsString(msg) && cJSON_IsString(code))
		fprintf(stderr, "agentctl: %s (%s, HTTP %d)\n", msg->valuestring, code->valuestring, r->status);
	else
		fprintf(stderr, "agentctl: agentd answered HTTP %d\n", r->status);
	cJSON_Delete(json);
	return 1;
}

/* One call; on success *json holds the parsed body (caller frees). Returns
 * 0, or 1 after printing why. */
static int ctl_call(struct ctl *ctl, const char *method, const char *path, const char *body, const char *extra_header,
		    struct client_response *r, cJSON **json)
{
	char err[512];
	*json = NULL;
	if (client_http(&ctl->target, method, path, body, extra_header, r, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentctl: %s\n", err);
		return 1;
	}
	if (r->status >= 300) {
		ctl_server_error(r);
		client_response_free(r);
		return 1;
	}
	*json = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	if (!*json) {
		fprintf(stderr, "agentctl: agentd's answer is not JSON\n");
		client_response_free(r);
		return 1;
	}
	return 0;
}

static void ctl_print_json(const struct client_response *r)
{
	fwrite(r->body.data, 1, r->body.len, stdout);
	if (r->body.len && r->body.data[r->body.len - 1] != '\n')
		putchar('\n');
}

/* "3m", "2h", "5d": how long ago ms was. */
static void ctl_age(int64_t ms, char *out, size_t outlen)
{
	int64_t now = (int64_t)time(NULL) * 1000;
	int64_t s = (now - ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, outlen, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, outlen, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(out, outlen, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, outlen, "%lldd", (long long)(s / 86400));
}

/* Copies text's first line into out, cut to at most max bytes on a
 * character boundary (with "…" when cut). */
static void ctl_first_line(const char *text, size_t max, char *out, size_t outlen)
{
	size_t n = strcspn(text ? text : "", "\r\n");
	bool cut = n > max || (text && text[n] != '\0');
	if (n > max)
		n = utf8_complete_prefix(text, max);
	snprintf(out, outlen, "%.*s%s", (int)n, text ? text : "", cut ? "\xe2\x80\xa6" : "");
}

/* Keeps the end of a long repository name. */
static void ctl_tail(const char *text, size_t max, char *out, size_t outlen)
{
	size_t n = strlen(text ? text : "");
	if (n <= max) {
		snprintf(out, outlen, "%s", text ? text : "");
		return;
	}
	const char *start = text + n - max;
	while ((*start & 0xc0) == 0x80)
		start++;
	snprintf(out, outlen, "\xe2\x80\xa6%s", start);
}

static void ctl_print_row(const struct task *t)
{
	char age[16], repo[160], instruction[240];
	ctl_age(t->created_ms, age, sizeof(age));
	ctl_tail(t->repo_identity, 32, repo, sizeof(repo));
	ctl_first_line(t->instruction, 60, instruction, sizeof(instruction));
	printf("%-28s  %-15s  %5s  %-33s  %s\n", t->id, task_state_name(t->state), age, repo, instruction);
}

static void ctl_print_task(const struct task *t)
{
	char when[40];
	printf("id:           %s\n", t->id);
	printf("state:        %s%s%s%s\n", task_state_name(t->state), t->reason ? " (" : "", t->reason ? t->reason : "",
	       t->reason ? ")" : "");
	printf("repo:         %s\n", t->repo);
	if (t->repo_identity && strcmp(t->repo_identity, t->repo) != 0)
		printf("identity:     %s\n", t->repo_identity);
	printf("ref:          %s\n", t->ref);
	printf("test:         %s\n", t->test_command);
	printf("priority:     %d\n", t->priority);
	printf("attempts:     %d (verification runs the tests %d time%s)\n", t->attempts, t->verify_repeats,
	       t->verify_repeats == 1 ? "" : "s");
	printf("labels:      ");
	for (size_t i = 0; i < t->label_count; i++)
		printf(" %s", t->labels[i]);
	printf("%s\n", t->label_count ? "" : " -");
	printf("budget:       %lld steps, %lld tokens, %llds\n", (long long)t->budget.max_steps,
	       (long long)t->budget.max_tokens, (long long)t->budget.max_seconds);
	task_format_time(t->created_ms, when, sizeof(when));
	printf("created:      %s\n", when);
	task_format_time(t->updated_ms, when, sizeof(when));
	printf("updated:      %s\n", when);
	printf("instruction:\n");
	const char *line = t->instruction ? t->instruction : "";
	while (*line) {
		size_t n = strcspn(line, "\n");
		printf("  %.*s\n", (int)n, line);
		line += n + (line[n] == '\n');
	}
}

static const char *ctl_str(const cJSON *obj, const char *name, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : fallback;
}

static double ctl_num(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* "passed (fixed)", "failed (tests_failed)", "pending", "-". */
static void ctl_verdict(const cJSON *v, char *out, size_t outlen)
{
	if (!cJSON_IsObject(v)) {
		snprintf(out, outlen, "-");
		return;
	}
	const char *verdict = ctl_str(v, "verdict", NULL);
	const char *why = ctl_str(v, "comparison", NULL);
	if (!why)
		why = ctl_str(v, "reason", NULL);
	if (!verdict)
		snprintf(out, outlen, "%s", ctl_str(v, "state", "pending"));
	else
		snprintf(out, outlen, "%s%s%s%s", verdict, why ? " (" : "", why ? why : "", why ? ")" : "");
}

/* " 2 files changed, 5 insertions(+), 1 deletion(-)" or "no patch". */
static void ctl_diffstat(const cJSON *p, char *out, size_t outlen)
{
	if (!cJSON_IsObject(p)) {
		snprintf(out, outlen, "no patch");
		return;
	}
	unsigned files = (unsigned)ctl_num(p, "files"), ins = (unsigned)ctl_num(p, "insertions"),
		 del = (unsigned)ctl_num(p, "deletions");
	snprintf(out, outlen, "%u file%s changed, %u insertion%s(+), %u deletion%s(-)", files, files == 1 ? "" : "s",
		 ins, ins == 1 ? "" : "s", del, del == 1 ? "" : "s");
}

/* The baseline, the verdict of the run up for review, and every run. */
static void ctl_print_review(const cJSON *json, const char *chosen)
{
	const cJSON *baseline = cJSON_GetObjectItemCaseSensitive(json, "baseline");
	if (cJSON_IsObject(baseline)) {
		const cJSON *passed = cJSON_GetObjectItemCaseSensitive(baseline, "passed");
		printf("baseline:     tests %s on the base commit (exit %d, %.1fs)\n",
		       cJSON_IsTrue(passed) ? "passed" : "failed", (int)ctl_num(baseline, "exit_code"),
		       ctl_num(baseline, "duration_ms") / 1000);
	}
	const cJSON *runs = cJSON_GetObjectItemCaseSensitive(json, "runs");
	const cJSON *run;
	char verdict[160], stat[160];
	if (chosen && chosen[0]) {
		cJSON_ArrayForEach(run, runs)
		{
			if (strcmp(ctl_str(run, "id", ""), chosen) != 0)
				continue;
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, "verification");
			ctl_verdict(v, verdict, sizeof(verdict));
			ctl_diffstat(cJSON_GetObjectItemCaseSensitive(run, "patch"), stat, sizeof(stat));
			printf("verdict:      %s, run %s, %d test run%s\n", verdict, chosen, (int)ctl_num(v, "repeats"),
			       ctl_num(v, "repeats") == 1 ? "" : "s");
			printf("patch:        %s (agentctl patch %s)\n", stat, ctl_str(json, "id", ""));
		}
	}
	if (cJSON_GetArraySize(runs) == 0)
		return;
	printf("runs:\n  %-28s  %-7s  %-14s  %5s  %-28s  %s\n", "RUN", "ATTEMPT", "OUTCOME", "STEPS", "VERDICT",
	       "PATCH");
	cJSON_ArrayForEach(run, runs)
	{
		ctl_verdict(cJSON_GetObjectItemCaseSensitive(run, "verification"), verdict, sizeof(verdict));
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(run, "patch");
		if (cJSON_IsObject(p))
			snprintf(stat, sizeof(stat), "%u files, +%u -%u", (unsigned)ctl_num(p, "files"),
				 (unsigned)ctl_num(p, "insertions"), (unsigned)ctl_num(p, "deletions"));
		else
			snprintf(stat, sizeof(stat), "-");
		printf("  %-28s  %-7d  %-14s  %5d  %-28s  %s%s\n", ctl_str(run, "id", "?"),
		       (int)ctl_num(run, "attempt"), ctl_str(run, "outcome", ctl_str(run, "state", "?")),
		       (int)ctl_num(run, "steps"), verdict, stat,
		       chosen && strcmp(ctl_str(run, "id", ""), chosen) == 0 ? "  (chosen)" : "");
	}
}

/* Prints one task answer (human or JSON); returns the exit status. */
static int ctl_task_answer(struct ctl *ctl, struct client_response *r, cJSON *json, bool full)
{
	int status = 0;
	if (ctl->json) {
		ctl_print_json(r);
	} else {
		struct task t;
		char err[256];
		if (task_from_json(json, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "agentctl: unexpected answer: %s\n", err);
			status = 1;
		} else if (full) {
			ctl_print_task(&t);
			ctl_print_review(json, t.chosen_run);
		} else {
			printf("%s %s\n", t.id, task_state_name(t.state));
		}
		task_free_fields(&t);
	}
	cJSON_Delete(json);
	client_response_free(r);
	return status;
}

static char *ctl_read_file(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f)
		return NULL;
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= TASK_INSTRUCTION_MAX)
		buf_append(&b, chunk, n);
	if (f != stdin)
		fclose(f);
	return buf_steal(&b);
}

static int ctl_int_option(const struct ctl_args *a, const char *name, long long lo, long long hi, cJSON *into,
			  const char *field)
{
	const char *v = ctl_opt(a, name);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (*v == '\0' || *end || errno || n < lo || n > hi) {
		fprintf(stderr, "agentctl submit: --%s must be an integer from %lld to %lld\n", name, lo, hi);
		return 2;
	}
	cJSON_AddNumberToObject(into, field, (double)n);
	return 0;
}

static int ctl_submit(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const allowed[] = {"repo",           "ref",        "instruction", "instruction-file",
					      "test",           "priority",   "label",       "attempts",
					      "max-steps",      "max-tokens", "max-time",    "idempotency-key",
					      "json",           "help",       "socket",      "url",
					      "verify-repeats", NULL};
	if (ctl_check_options(a, allowed, "submit"))
		return 2;
	const char *repo = ctl_opt(a, "repo");
	const char *instruction = ctl_opt(a, "instruction");
	const char *instruction_file = ctl_opt(a, "instruction-file");
	const char *test = ctl_opt(a, "test");
	if (a->npositional) {
		fprintf(stderr, "agentctl submit: unexpected argument '%s'\n", a->positional[0]);
		return 2;
	}
	if (!repo || (!instruction && !instruction_file) || !test) {
		fprintf(stderr,
			"agentctl submit: --repo, --instruction (or --instruction-file) and --test are "
			"required\n\n%s",
			ctl_submit_help);
		return 2;
	}
	if (instruction && instruction_file) {
		fprintf(stderr, "agentctl submit: give --instruction or --instruction-file, not both\n");
		return 2;
	}
	cJSON *body = cJSON_CreateObject();
	int status = 2;
	char *file_text = NULL;
	/* A relative path means a repository on this machine. */
	char real[PATH_MAX];
	if (!strstr(repo, "://") && repo[0] != '/' && realpath(repo, real))
		repo = real;
	cJSON_AddStringToObject(body, "repo", repo);
	if (ctl_opt(a, "ref"))
		cJSON_AddStringToObject(body, "ref", ctl_opt(a, "ref"));
	if (instruction_file) {
		file_text = ctl_read_file(instruction_file);
		if (!file_text) {
			fprintf(stderr, "agentctl submit: cannot read %s: %s\n", instruction_file, strerror(errno));
			goto out;
		}
		instruction = file_text;
	}
	cJSON_AddStringToObject(body, "instruction", instruction);
	cJSON_AddStringToObject(body, "test_command", test);
	if (ctl_int_option(a, "priority", TASK_PRIORITY_MIN, TASK_PRIORITY_MAX, body, "priority") ||
	    ctl_int_option(a, "attempts", 1, TASK_ATTEMPTS_MAX, body, "attempts") ||
	    ctl_int_option(a, "verify-repeats", 1, TASK_VERIFY_REPEATS_MAX, body, "verify_repeats"))
		goto out;
	cJSON *labels = NULL;
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->names[i], "label") != 0)
			continue;
		if (!labels)
			labels = cJSON_AddArrayToObject(body, "labels");
		cJSON_AddItemToArray(labels, cJSON_CreateString(a->values[i]));
	}
	cJSON *budget = cJSON_CreateObject();
	if (ctl_int_option(a, "max-steps", 1, 1000000000, budget, "max_steps") ||
	    ctl_int_option(a, "max-tokens", 1, 1000000000000LL, budget, "max_tokens")) {
		cJSON_Delete(budget);
		goto out;
	}
	if (ctl_opt(a, "max-time")) {
		uint64_t ms;
		char err[256];
		if (units_parse_duration(ctl_opt(a, "max-time"), &ms, err, sizeof(err)) < 0 || ms < 1000) {
			fprintf(stderr, "agentctl submit: --max-time: %s\n", ms < 1000 ? "at least 1s" : err);
			cJSON_Delete(budget);
			goto out;
		}
		cJSON_AddNumberToObject(budget, "max_seconds", (double)(ms / 1000));
	}
	if (budget->child)
		cJSON_AddItemToObject(body, "budget", budget);
	else
		cJSON_Delete(budget);
	char *text = cJSON_PrintUnformatted(body);
	char header[400] = "";
	const char *key = ctl_opt(a, "idempotency-key");
	if (key)
		snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
	struct client_response r;
	cJSON *json;
	status = ctl_call(ctl, "POST", "/v1/tasks", text, key ? header : NULL, &r, &json);
	cJSON_free(text);
	if (status == 0)
		status = ctl_task_answer(ctl, &r, json, false);
out:
	free(file_text);
	cJSON_Delete(body);
	return status;
}

/* Appends name=value, percent-encoded, to a query string. */
static void ctl_query_add(struct buf *q, const char *name, const char *value)
{
	buf_append_char(q, q->len ? '&' : '?');
	buf_append_str(q, name);
	buf_append_char(q, '=');
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    strchr("-._~", *c))
			buf_append_char(q, (char)*c);
		else
			buf_printf(q, "%%%02X", *c);
	}
}

static int ctl_list(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const allowed[] = {"state", "label", "repo",   "limit", "cursor", "all",
					      "json",  "help",  "socket", "url",   NULL};
	if (ctl_check_options(a, allowed, "list"))
		return 2;
	if (a->npositional) {
		fprintf(stderr, "agentctl list: unexpected argument '%s'\n", a->positional[0]);
		return 2;
	}
	struct buf base = BUF_INIT;
	const char *v;
	char real[PATH_MAX];
	if ((v = ctl_opt(a, "state")))
		ctl_query_add(&base, "state", v);
	if ((v = ctl_opt(a, "label")))
		ctl_query_add(&base, "label", v);
	if ((v = ctl_opt(a, "repo"))) {
		if (!strstr(v, "://") && v[0] != '/' && realpath(v, real))
			v = real;
		ctl_query_add(&base, "repo", v);
	}
	if ((v = ctl_opt(a, "limit")))
		ctl_query_add(&base, "limit", v);
	char *cursor = ctl_opt(a, "cursor") ? xstrdup(ctl_opt(a, "cursor")) : NULL;
	bool all = ctl_flag(a, "all");
	bool header = !ctl->json;
	int status = 0;
	size_t shown = 0;
	for (;;) {
		struct buf path = BUF_INIT;
		buf_append_str(&path, "/v1/tasks");
		struct buf q = BUF_INIT;
		if (base.len)
			buf_append(&q, base.data, base.len);
		if (cursor)
			ctl_query_add(&q, "cursor", cursor);
		if (q.len)
			buf_append(&path, q.data, q.len);
		buf_free(&q);
		struct client_response r;
		cJSON *json;
		status = ctl_call(ctl, "GET", path.data, NULL, NULL, &r, &json);
		buf_free(&path);
		if (status)
			break;
		free(cursor);
		cursor = NULL;
		const cJSON *next = cJSON_GetObjectItemCaseSensitive(json, "next_cursor");
		if (cJSON_IsString(next))
			cursor = xstrdup(next->valuestring);
		if (ctl->json) {
			ctl_print_json(&r);
		} else {
			if (header) {
				printf("%-28s  %-15s  %5s  %-33s  %s\n", "ID", "STATE", "AGE", "REPO", "INSTRUCTION");
				header = false;
			}
			const cJSON *item;
			cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(json, "tasks"))
			{
				struct task t;
				char err[256];
				if (task_from_json(item, &t, err, sizeof(err)) == 0) {
					ctl_print_row(&t);
					shown++;
				}
				task_free_fields(&t);
			}
		}
		cJSON_Delete(json);
		client_response_free(&r);
		if (!all || !cursor)
			break;
	}
	if (status == 0 && !ctl->json && cursor && !all)
		fprintf(stderr, "(more: agentctl list --cursor %s, or --all)\n", cursor);
	free(cursor);
	buf_free(&base);
	return status;
}

static bool ctl_valid_id(const char *id)
{
	if (strlen(id) > 64)
		return false;
	for (const char *c = id; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	}
	return *id != '\0';
}

static int ctl_one_task(struct ctl *ctl, const struct ctl_args *a, const char *command, const char *usage)
{
	static const char *const allowed[] = {"json", "help", "socket", "url", NULL};
	if (ctl_check_options(a, allowed, command))
		return 2;
	if (a->npositional != 1) {
		fprintf(stderr, "agentctl %s: expected one TASK_ID\n\n%s", command, usage);
		return 2;
	}
	const char *id = a->positional[0];
	if (!ctl_valid_id(id)) {
		fprintf(stderr, "agentctl %s: '%s' is not a task id\n", command, id);
		return 2;
	}
	char path[128];
	bool cancel = strcmp(command, "cancel") == 0;
	snprintf(path, sizeof(path), "/v1/tasks/%s%s", id, cancel ? "/cancel" : "");
	struct client_response r;
	cJSON *json;
	int status = ctl_call(ctl, cancel ? "POST" : "GET", path, NULL, NULL, &r, &json);
	if (status == 0)
		status = ctl_task_answer(ctl, &r, json, !cancel);
	return status;
}

static int ctl_patch(struct ctl *ctl, const struct ctl_args *a)
{
	static const char *const allowed[] = {"run", "help", "socket", "url", NULL};
	if (ctl_check_options(a, allowed, "patch"))
		return 2;
	if (a->npositional != 1) {
		fprintf(stderr, "agentctl patch: expected one TASK_ID\n\n%s", ctl_patch_help);
		return 2;
	}
	const char *id = a->positional[0], *run = ctl_opt(a, "run");
	if (!ctl_valid_id(id) || (run && !ctl_valid_id(run))) {
		fprintf(stderr, "agentctl patch: '%s' is not a %s id\n", ctl_valid_id(id) ? run : id,
			ctl_valid_id(id) ? "run" : "task");
		return 2;
	}
	char path[200];
	if (run)
		snprintf(path, sizeof(path), "/v1/tasks/%s/runs/%s/patch", id, run);
	else
		snprintf(path, sizeof(path), "/v1/tasks/%s/patch", id);
	struct client_response r;
	char err[512];
	if (client_http(&ctl->target, "GET", path, NULL, NULL, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentctl: %s\n", err);
		return 1;
	}
	int status = 0;
	if (r.status != 200)
		status = ctl_server_error(&r);
	else if (r.body.len && fwrite(r.body.data, 1, r.body.len, stdout) != r.body.len)
		status = 1;
	client_response_free(&r);
	return status;
}

int main(int argc, char **argv)
{
	struct ctl ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct ctl_args a;
	int rc = ctl_parse(argc - 1, argv + 1, &a);
	if (rc)
		return rc;
	const char *command = a.npositional ? a.positional[0] : NULL;
	/* The command is the first positional argument; the rest are its. */
	if (command) {
		memmove(a.positional, a.positional + 1, (a.npositional - 1) * sizeof(a.positional[0]));
		a.npositional--;
	}
	const char *help = NULL;
	if (command && strcmp(command, "submit") == 0)
		help = ctl_submit_help;
	else if (command && strcmp(command, "list") == 0)
		help = ctl_list_help;
	else if (command && strcmp(command, "show") == 0)
		help = ctl_show_help;
	else if (command && strcmp(command, "cancel") == 0)
		help = ctl_cancel_help;
	else if (command && strcmp(command, "patch") == 0)
		help = ctl_patch_help;
	if (ctl_opt(&a, "version") && !command) {
		printf("agentctl %s\n", AGENTD_VERSION);
		ctl_args_free(&a);
		return 0;
	}
	if (!command || strcmp(command, "help") == 0 || (ctl_flag(&a, "help") && !help)) {
		const char *topic = command && a.npositional ? a.positional[0] : NULL;
		if (topic && strcmp(topic, "submit") == 0)
			fputs(ctl_submit_help, stdout);
		else if (topic && strcmp(topic, "list") == 0)
			fputs(ctl_list_help, stdout);
		else if (topic && strcmp(topic, "show") == 0)
			fputs(ctl_show_help, stdout);
		else if (topic && strcmp(topic, "cancel") == 0)
			fputs(ctl_cancel_help, stdout);
		else if (topic && strcmp(topic, "patch") == 0)
			fputs(ctl_patch_help, stdout);
		else
			ctl_usage(command ? stdout : stderr);
		ctl_args_free(&a);
		return command ? 0 : 2;
	}
	if (!help) {
		fprintf(stderr, "agentctl: unknown command '%s'\n\n", command);
		ctl_usage(stderr);
		ctl_args_free(&a);
		return 2;
	}
	if (ctl_flag(&a, "help")) {
		fputs(help, stdout);
		ctl_args_free(&a);
		return 0;
	}
	ctl.json = ctl_flag(&a, "json");
	const char *url = ctl_opt(&a, "url");
	const char *socket_path = ctl_opt(&a, "socket");
	if (url && socket_path) {
		fprintf(stderr, "agentctl: give --socket or --url, not both\n");
		ctl_args_free(&a);
		return 2;
	}
	if (url) {
		char err[256];
		if (client_target_url(&ctl.target, url, err, sizeof(err)) < 0) {
			fprintf(stderr, "agentctl: %s\n", err);
			ctl_args_free(&a);
			return 2;
		}
	} else {
		const char *env = getenv("AGENTD_SOCKET");
		ctl.target.socket_path = socket_path ? socket_path : env && *env ? env : CTL_DEFAULT_SOCKET;
	}
	if (strcmp(command, "submit") == 0)
		rc = ctl_submit(&ctl, &a);
	else if (strcmp(command, "list") == 0)
		rc = ctl_list(&ctl, &a);
	else if (strcmp(command, "patch") == 0)
		rc = ctl_patch(&ctl, &a);
	else
		rc = ctl_one_task(&ctl, &a, command, help);
	ctl_args_free(&a);
	return rc;
}
