/* The fleet on the in-process engine: agentd --model with a random-weight
 * GGUF. Every reply is constrained to the agents' grammar, so even random
 * weights always yield exactly one bash block; runs end at their budgets
 * (or submit) without error; each turn reuses the previous turn's keys and
 * values through the prefix cache; GET /v1/fleet and /metrics carry the
 * engine's stats. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/fleet/fleet_support.h"
#include "tests/harness/harness.h"

/* A small random model with a ChatML template, written by the GGUF writer. */
static char *write_model(void)
{
	char *path = xasprintf("%s/model.gguf", th_tempdir());
	char *writer = xasprintf("%s/tests/tools/gguf_writer.mjs", getenv("AGENTD_SOURCE_ROOT"));
	const char *args[] = {"node",        writer, "--out",     path,  "--chat-template", "chatml",
			      "--n-embd",    "64",   "--n-layer", "2",   "--n-head",        "4",
			      "--n-head-kv", "2",    "--n-ff",    "128", "--type",          "f32",
			      "--seed",      "5",    NULL};
	char *out;
	int status = th_run_binary("/usr/bin/env", args, &out, 60000);
	if (status != 0)
		th_fail(__FILE__, __LINE__, "the GGUF writer failed: %s", out);
	free(out);
	free(writer);
	return path;
}

static struct th_daemon *start(const char *model, const char *const *extra)
{
	const char *args[32] = {"--model",
				model,
				"--sandbox-binary",
				th_binary("AGENTD_SANDBOX"),
				"--min-free-disk",
				"0",
				"--sandbox-memory",
				"512M",
				"--threads",
				"2",
				"--kv-memory",
				"64M",
				"--think-max",
				"60",
				"--block-max",
				"40",
				"--reply-max-tokens",
				"120",
				"--ctx-size",
				"8192"};
	size_t n = 18;
	for (size_t i = 0; extra && extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	return th_daemon_start_in(NULL, true, args);
}

TEST(runs_on_the_engine_and_every_reply_parses)
{
	char *model = write_model();
	struct th_daemon *d = start(model, NULL);
	char *repo = fs_repo();
	enum { TASKS = 4 };
	char *ids[TASKS];
	for (int i = 0; i < TASKS; i++)
		ids[i] = fs_submit(d, repo, "Make the tests pass.", "\"budget\":{\"max_steps\":4}");
	long long prompt = 0, reused = 0, ideal = 0, replies = 0;
	for (int i = 0; i < TASKS; i++) {
		cJSON *task = fs_wait_state(d, ids[i], "awaiting_review,failed", 240000);
		const cJSON *run = fs_last_run(task);
		const char *outcome = fs_str(run, "outcome");
		CHECK(outcome != NULL);
		/* Random weights never fix anything: the run ends at its budget
		 * (or the model submitted), never with a model error. */
		CHECK(strcmp(outcome, "budget_steps") == 0 || strcmp(outcome, "submitted") == 0 ||
		      strcmp(outcome, "empty_patch") == 0);
		cJSON *events = fs_events(d, ids[i]);
		long long prev_in = -1, prev_out = 0;
		for (int n = 1;; n++) {
			const cJSON *step = fs_event(events, "step", n);
			if (!step)
				break;
			/* Exactly one bash block in every reply: no correction
			 * was ever needed. */
			CHECK(cJSON_GetObjectItem(step, "error") == NULL);
			CHECK(fs_str(step, "command") != NULL);
			long long in = fs_int(step, "tokens_in"), used = fs_int(step, "tokens_reused");
			long long out = fs_int(step, "tokens_out");
			CHECK(used <= in);
			CHECK(out >= 1 && out <= 120);
			CHECK(cJSON_GetObjectItem(step, "ttft_ms")->valuedouble > 0);
			prompt += in;
			reused += used;
			/* What the previous turn computed: its prompt and its
			 * reply but the reply's last token. */
			if (prev_in >= 0)
				ideal += prev_in + prev_out - 1;
			prev_in = in;
			prev_out = out;
			replies++;
		}
		cJSON_Delete(events);
		cJSON_Delete(task);
	}
	CHECK(replies >= TASKS);
	printf("%lld replies: %lld of %lld prompt tokens reused; turn-to-turn ideal %lld\n", replies, reused, prompt,
	       ideal);
	CHECK(reused >= ideal * 9 / 10);
	cJSON *fleet = fs_get(d, "/v1/fleet");
	const cJSON *engine = cJSON_GetObjectItem(fleet, "engine");
	CHECK(engine != NULL);
	CHECK(fs_int(engine, "completed") >= replies);
	CHECK(fs_int(engine, "cached_tokens") >= reused);
	CHECK(fs_int(engine, "decode_tokens") > 0);
	CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(engine, "kv_blocks"), "total") != NULL);
	CHECK_CONTAINS(fs_str(fleet, "model"), "model.gguf");
	cJSON_Delete(fleet);
	struct th_response r;
	th_http(d, "GET", "/metrics", NULL, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_CONTAINS(r.body.data, "agentd_engine_tokens_total{phase=\"decode\"}");
	CHECK_CONTAINS(r.body.data, "agentd_engine_cached_tokens_total");
	th_response_free(&r);
	th_daemon_stop(d);
	for (int i = 0; i < TASKS; i++)
		free(ids[i]);
	free(model);
}

TEST(a_bad_model_stops_the_daemon_at_start)
{
	char *path = xasprintf("%s/bad.gguf", th_tempdir());
	th_write_file(path, "GGUF but not really");
	char *data = xasprintf("%s/data", th_tempdir());
	const char *args[] = {"--data-dir", data, "--model", path, NULL};
	char *out;
	CHECK_INT(th_run_agentd(args, &out, 20000), !=, 0);
	CHECK_CONTAINS(out, path);
	free(out);
	free(path);
	free(data);
}
