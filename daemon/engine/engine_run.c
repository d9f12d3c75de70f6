/* `agentd model generate`: a prompt (or a one-message chat) through the
 * forward pass and the sampler, with timings; `agentd model bench`:
 * prompt-processing and generation speed, like llama-bench's -p and -n. */
#include "daemon/engine/engine_run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/units.h"
#include "common/xalloc.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/serve_bench.h"

/* Most tokens a generate call may ask for, and most bench repeats. */
#define RUN_MAX_TOKENS (1u << 20)
#define RUN_MAX_REPEAT 1000

/* Flags generate and bench share, and their own. */
struct run_args {
	const char *sub;
	const char *model;
	const char *prompt;
	const char *dump_logits;
	const char *chat_template;
	bool chat, json, help;
	unsigned threads;
	uint32_t n_ctx;
	uint32_t n_batch;
	enum engine_kv_type kv_type;
	uint32_t max_tokens;
	struct engine_sampler_params sp;
	uint32_t pp, tg, repeat;
};

static void run_usage(FILE *out)
{
	fprintf(out, "usage: agentd model generate --model FILE --prompt TEXT [--chat] [--max-tokens N]\n"
		     "                             [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
		     "                             [--repeat-penalty R] [--repeat-last-n N] [--seed S]\n"
		     "                             [--dump-logits FILE] [common options] [--json]\n"
		     "       agentd model bench --model FILE [-p N] [-n N] [--repeat N] [common options] [--json]\n"
		     "\n"
		     "generate   runs the model on the prompt and samples up to --max-tokens tokens (default 128),\n"
		     "           stopping early at the end-of-text (or, with --chat, end-of-turn) token.\n"
		     "           --chat renders the prompt as one user message with the model's chat template.\n"
		     "           --temperature 0 is greedy. --dump-logits writes the logits of the last prompt\n"
		     "           position as a JSON array. Defaults: temperature 0.8, top-k 40, top-p 0.95,\n"
		     "           min-p 0.05, repeat-penalty 1 (off), repeat-last-n 64, seed 0.\n"
		     "bench      prompt processing (-p N tokens in one fresh sequence, default 512) and generation\n"
		     "           (-n N tokens one at a time, default 128) in tokens/s: the median of --repeat runs\n"
		     "           (default 5) after one warm-up, with the spread (max - min) / median.\n"
		     "           With --parallel N it measures the serving engine instead: see\n"
		     "           agentd model bench --parallel 1 --help.\n"
		     "\n"
		     "common options:\n"
		     "  --threads N            compute threads (default: the CPUs this process may use)\n"
		     "  --kv-type f16|f32      KV cache element type (default f16)\n"
		     "  --ctx N                KV cache positions (default: what the run needs, or 4096)\n"
		     "  --batch N              positions per forward pass (default 512)\n"
		     "  --chat-template NAME   chatml or llama3, instead of recognising the file's\n"
		     "  --json                 machine-readable output\n");
}

int engine_run_flag_uint(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
			 size_t errlen)
{
	char why[128];
	if (units_parse_uint(text, out, why, sizeof(why)) < 0 || *out < min || *out > max) {
		snprintf(err, errlen, "%s must be a whole number from %" PRIu64 " to %" PRIu64 ", not '%s'", flag, min,
			 max, text);
		return -EINVAL;
	}
	return 0;
}

static int run_float(const char *flag, const char *text, double min, double max, float *out, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(v) || v < min || v > max) {
		snprintf(err, errlen, "%s must be a number from %g to %g, not '%s'", flag, min, max, text);
		return -EINVAL;
	}
	*out = (float)v;
	return 0;
}

static int run_parse(int argc, char **argv, struct run_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->sub = argv[1];
	a->max_tokens = 128;
	a->pp = 512;
	a->tg = 128;
	a->repeat = 5;
	engine_sampler_defaults(&a->sp);
	bool generate = strcmp(a->sub, "generate") == 0;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i];
		if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
			a->help = true;
			continue;
		}
		if (strcmp(f, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(f, "--chat") == 0 && generate) {
			a->chat = true;
			continue;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen,
				 strncmp(f, "-", 1) == 0 ? "%s needs a value (or is unknown)" : "unexpected '%s'", f);
			return -EINVAL;
		}
		const char *v = argv[++i];
		uint64_t u = 0;
		int rc = 0;
		if (strcmp(f, "--model") == 0) {
			a->model = v;
		} else if (strcmp(f, "--chat-template") == 0) {
			a->chat_template = v;
		} else if (strcmp(f, "--threads") == 0) {
			rc = engine_run_flag_uint(f, v, 1, ENGINE_MAX_THREADS, &u, err, errlen);
			a->threads = (unsigned)u;
		} else if (strcmp(f, "--ctx") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 1u << 20, &u, err, errlen);
			a->n_ctx = (uint32_t)u;
		} else if (strcmp(f, "--batch") == 0) {
			rc = engine_run_flag_uint(f, v, 1, 8192, &u, err, errlen);
			a->n_batch = (uint32_t)u;
		} else if (strcmp(f, "--kv-type") == 0) {
			if (engine_kv_type_parse(v, &a->kv_type) < 0) {
				snprintf(err, errlen, "--kv-type must be f16 or f32, not '%s'", v);
				return -EINVAL;
			}
		} else if (generate && strcmp(f, "--prompt") == 0) {
			a->prompt = v;
		} else if (generate && strcmp(f, "--dump-logits") == 0) {
			a->dump_logits = v;
		} else if (generate && strcmp(f, "--max-tokens") == 0) {
			rc = engine_run_flag_uint(f, v, 0, RUN_MAX_TOKENS, &u, err, errlen);
			a->max_tokens = (uint32_t)u;
		} else if (generate && strcmp(f, "--temperature") == 0) {
			rc = run_float(f, v, 0, 100, &a->sp.temperature, err, errlen);
		} else if (generate && strcmp(f, "--top-k") == 0) {
			rc = engine_run_flag_uint(f, v, 0, INT32_MAX, &u, err, errlen);
			a->sp.top_k = (int32_t)u;
		} else if (generate && strcmp(f, "--top-p") == 0) {
			rc = run_float(f, v, 0, 1, &a->sp.top_p, err, errlen);
		} else if (generate && strcmp(f, "--min-p") == 0) {
			rc = run_float(f, v, 0, 1, &a->sp.min_p, err, errlen);
		} else if (generate && strcmp(f, "--repeat-penalty") == 0) {
			rc = run_float(f, v, 0.01, 100, &a->sp.repeat_penalty, err, errlen);
		} else if (generate && strcmp(f, "--repeat-last-n") == 0) {
			rc = engine_run_flag_uint(f, v, 0, 1u << 20, &u, err, errlen);
			a->sp.repeat_last_n = (uint32_t)u;
		} else if (generate && strcmp(f, "--seed") == 0) {
			rc = engine_run_flag_uint(f, v, 0, UINT64_MAX, &u, err, errlen);
			a->sp.seed = u;
		} else if (!generate && strcmp(f, "-p") == 0) {
			rc = engine_run_flag_uint(f, v, 0, 1u << 16, &u, err, errlen);
			a->pp = (uint32_t)u;
		} else if (!generate && strcmp(f, "-n") == 0) {
			rc = engine_run_flag_uint(f, v, 0, 1u << 16, &u, err, errlen);
			a->tg = (uint32_t)u;
		} else if (!generate && strcmp(f, "--repeat") == 0) {
			rc = engine_run_flag_uint(f, v, 1, RUN_MAX_REPEAT, &u, err, errlen);
			a->repeat = (uint32_t)u;
		} else {
			snprintf(err, errlen, "unknown option '%s' for %s", f, a->sub);
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (a->help)
		return 0;
	if (!a->model) {
		snprintf(err, errlen, "--model FILE is required");
		return -EINVAL;
	}
	if (generate && !a->prompt) {
		snprintf(err, errlen, "generate needs --prompt TEXT");
		return -EINVAL;
	}
	if (!generate && a->pp == 0 && a->tg == 0) {
		snprintf(err, errlen, "-p and -n are both 0: nothing to measure");
		return -EINVAL;
	}
	if (a->chat_template && strcmp(a->chat_template, "chatml") != 0 && strcmp(a->chat_template, "llama3") != 0) {
		snprintf(err, errlen, "--chat-template must be chatml or llama3, not '%s'", a->chat_template);
		return -EINVAL;
	}
	return 0;
}

/* Parses the flags into *a: -1 to go on, or the exit status (usage
 * errors, --help). */
static int run_args_read(int argc, char **argv, struct run_args *a)
{
	char err[512];
	if (run_parse(argc, argv, a, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd model: %s\n", err);
		run_usage(stderr);
		return 2;
	}
	if (a->help) {
		run_usage(stdout);
		return 0;
	}
	return -1;
}

static double run_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens the model; prints why not. Returns 0 or the exit status. */
static int run_model_open(const struct run_args *a, engine_model **m)
{
	char err[1024];
	struct engine_model_options mo = {a->chat_template};
	if (engine_model_open(a->model, &mo, m, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd model: %s\n", err);
		return 2;
	}
	return 0;
}

/* A context of n_ctx positions over m; prints why not. Returns 0 or the
 * exit status. */
static int run_ctx_new(const struct run_args *a, const engine_model *m, uint32_t n_ctx, engine_ctx **c)
{
	char err[1024];
	struct engine_ctx_options co = {n_ctx, a->n_batch, a->threads, a->kv_type};
	int rc = engine_ctx_new(m, &co, c, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "agentd model: %s: %s\n", a->model, err);
		return rc == -ENOMEM ? 1 : 2;
	}
	return 0;
}

static int run_write_logits(const char *path, const float *logits, uint32_t n)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "agentd model: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fputc('[', f);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%.9g", i ? "," : "", (double)logits[i]);
	fputs("]\n", f);
	if (fclose(f) != 0) {
		fprintf(stderr, "agentd model: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The prompt's ids: the text tokenized (with BOS when the model wants
 * it), or rendered as one user message with the generation prompt. */
static int run_prompt(const engine_model *m, const struct run_args *a, struct engine_tokens *ids)
{
	size_t len = strlen(a->prompt);
	if (!a->chat) {
		if (engine_tokenize(m, a->prompt, len, ENGINE_TOKENIZE_ADD_BOS, ids) < 0) {
			fprintf(stderr, "agentd model: the prompt is too long\n");
			return 2;
		}
		return 0;
	}
	struct engine_message msg = {ENGINE_ROLE_USER, a->prompt, len};
	int rc = engine_chat_render(m, &msg, 1, true, ids);
	if (rc == -ENOTSUP) {
		fprintf(stderr, "agentd model: --chat: the model has no chat template (--chat-template names one)\n");
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "agentd model: the prompt is too long\n");
		return 2;
	}
	return 0;
}

static void run_print_json(const struct engine_tokens *prompt, const struct engine_tokens *out, const struct buf *text,
			   double pp_rate, double tg_rate)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *p = cJSON_AddArrayToObject(root, "prompt_tokens");
	for (size_t i = 0; i < prompt->len; i++)
		cJSON_AddItemToArray(p, cJSON_CreateNumber(prompt->ids[i]));
	cJSON *t = cJSON_AddArrayToObject(root, "tokens");
	for (size_t i = 0; i < out->len; i++)
		cJSON_AddItemToArray(t, cJSON_CreateNumber(out->ids[i]));
	char *s = xstrndup(text->data ? text->data : "", text->len);
	cJSON_AddStringToObject(root, "text", s);
	free(s);
	cJSON_AddNumberToObject(root, "prompt_tokens_per_s", pp_rate);
	cJSON_AddNumberToObject(root, "tokens_per_s", tg_rate);
	char *json = cJSON_PrintUnformatted(root);
	printf("%s\n", json);
	cJSON_free(json);
	cJSON_Delete(root);
}

int engine_run_generate(int argc, char **argv)
{
	struct run_args a;
	int status = run_args_read(argc, argv, &a);
	if (status >= 0)
		return status;
	engine_model *m = NULL;
	if ((status = run_model_open(&a, &m)) != 0)
		return status;
	struct engine_tokens prompt = ENGINE_TOKENS_INIT, out = ENGINE_TOKENS_INIT;
	status = run_prompt(m, &a, &prompt);
	if (status != 0)
		goto done;
	if (prompt.len == 0) {
		fprintf(stderr, "agentd model: the prompt has no tokens\n");
		status = 2;
		goto done;
	}
	uint64_t need = (uint64_t)prompt.len + a.max_tokens;
	uint32_t n_ctx = a.n_ctx ? a.n_ctx : (uint32_t)(need < 4096 ? need : 4096);
	if (need > n_ctx) {
		fprintf(stderr,
			"agentd model: %zu prompt tokens and --max-tokens %u need %" PRIu64
			" positions; the context holds %u (--ctx)\n",
			prompt.len, a.max_tokens, need, n_ctx);
		status = 2;
		goto done;
	}
	engine_ctx *c = NULL;
	if ((status = run_ctx_new(&a, m, n_ctx, &c)) != 0)
		goto done;
	const struct engine_hparams *hp = engine_model_hparams(m);
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	engine_token stop = a.chat ? engine_chat_end_token(m) : -1;
	float *logits = xmalloc((size_t)hp->n_vocab * sizeof(float));
	engine_sampler *s = engine_sampler_new(&a.sp, hp->n_vocab);
	for (size_t i = 0; i < prompt.len; i++)
		engine_sampler_accept(s, prompt.ids[i]);
	struct buf text = BUF_INIT;
	engine_detok *detok = engine_detok_new(m, 0);
	double t0 = run_now();
	int rc = engine_decode(c, prompt.ids, prompt.len, 0, logits);
	double t1 = run_now(), t2 = t1;
	if (rc == 0 && a.dump_logits && run_write_logits(a.dump_logits, logits, hp->n_vocab) < 0)
		rc = -EIO;
	for (uint32_t i = 0; rc == 0 && i < a.max_tokens; i++) {
		engine_token t = engine_sampler_sample(s, logits);
		engine_sampler_accept(s, t);
		engine_tokens_push(&out, t);
		size_t before = text.len;
		engine_detok_push(detok, t, &text);
		if (!a.json && text.len > before) {
			fwrite(text.data + before, 1, text.len - before, stdout);
			fflush(stdout);
		}
		if (t == stop || t == vi.eos || t == vi.eot)
			break;
		if (i + 1 < a.max_tokens)
			rc = engine_decode(c, &t, 1, 0, logits);
	}
	t2 = run_now();
	size_t before = text.len;
	engine_detok_flush(detok, &text);
	if (rc < 0) {
		fprintf(stderr, "agentd model: generation failed: %s\n", strerror(-rc));
		status = 1;
	} else {
		double pp_rate = (double)prompt.len / (t1 - t0);
		/* Every sampled token but the last was decoded. */
		double tg_rate = out.len > 1 ? (double)(out.len - 1) / (t2 - t1) : 0;
		if (a.json) {
			run_print_json(&prompt, &out, &text, pp_rate, tg_rate);
		} else {
			fwrite(text.data + before, 1, text.len - before, stdout);
			printf("\n");
			fprintf(stderr,
				"prompt: %zu tokens, %.1f tokens/s; generated: %zu tokens, %.1f tokens/s (%u "
				"threads)\n",
				prompt.len, pp_rate, out.len, tg_rate, engine_ctx_threads(c));
		}
	}
	engine_detok_free(detok);
	buf_free(&text);
	engine_sampler_free(s);
	free(logits);
	engine_ctx_free(c);
done:
	engine_model_free(m);
	engine_tokens_free(&prompt);
	engine_tokens_free(&out);
	return status;
}

static int run_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median and spread ((max - min) / median) of n rates (sorted in place). */
static void run_stats(double *rates, uint32_t n, double *median, double *spread)
{
	qsort(rates, n, sizeof(*rates), run_cmp_double);
	*median = n % 2 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
	*spread = *median > 0 ? (rates[n - 1] - rates[0]) / *median : 0;
}

int engine_run_bench(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--parallel") == 0)
			return serve_bench_run(argc, argv);
	struct run_args a;
	int status = run_args_read(argc, argv, &a);
	if (status >= 0)
		return status;
	uint32_t need = a.pp > a.tg ? a.pp : a.tg;
	uint32_t n_ctx = a.n_ctx ? a.n_ctx : need;
	if (need > n_ctx) {
		fprintf(stderr, "agentd model: -p/-n need %u positions; --ctx is %u\n", need, n_ctx);
		return 2;
	}
	engine_model *m;
	engine_ctx *c;
	if ((status = run_model_open(&a, &m)) != 0)
		return status;
	if ((status = run_ctx_new(&a, m, n_ctx, &c)) != 0) {
		engine_model_free(m);
		return status;
	}
	uint32_t n_vocab = engine_model_hparams(m)->n_vocab;
	/* Random tokens, as llama-bench uses. */
	engine_token *ids = xmalloc((size_t)(need ? need : 1) * sizeof(*ids));
	uint64_t state = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < need; i++) {
		state = state * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (engine_token)((state >> 33) % n_vocab);
	}
	float *logits = xmalloc((size_t)n_vocab * sizeof(float));
	double *pp_rates = xcalloc(a.repeat, sizeof(double)), *tg_rates = xcalloc(a.repeat, sizeof(double));
	int rc = 0;
	/* Run 0 is the warm-up (it also faults the weights in). */
	for (uint32_t run = 0; rc == 0 && run <= a.repeat; run++) {
		if (a.pp) {
			engine_ctx_truncate(c, 0);
			double t0 = run_now();
			rc = engine_decode(c, ids, a.pp, 0, logits);
			if (run)
				pp_rates[run - 1] = a.pp / (run_now() - t0);
		}
		if (a.tg && rc == 0) {
			engine_ctx_truncate(c, 0);
			double t0 = run_now();
			for (uint32_t i = 0; rc == 0 && i < a.tg; i++)
				rc = engine_decode(c, &ids[i], 1, 0, logits);
			if (run)
				tg_rates[run - 1] = a.tg / (run_now() - t0);
		}
		if (!a.json && run)
			fprintf(stderr, "run %u/%u: pp %.1f tokens/s, tg %.1f tokens/s\n", run, a.repeat,
				pp_rates[run - 1], tg_rates[run - 1]);
	}
	if (rc < 0) {
		fprintf(stderr, "agentd model: the benchmark failed: %s\n", strerror(-rc));
		status = 1;
	} else {
		double pp = 0, pp_spread = 0, tg = 0, tg_spread = 0;
		if (a.pp)
			run_stats(pp_rates, a.repeat, &pp, &pp_spread);
		if (a.tg)
			run_stats(tg_rates, a.repeat, &tg, &tg_spread);
		if (a.json) {
			printf("{\"pp_tokens\":%u,\"tg_tokens\":%u,\"threads\":%u,\"repeat\":%u,"
			       "\"pp_tokens_per_s\":%.3f,\"tg_tokens_per_s\":%.3f,\"pp_spread\":%.4f,\"tg_spread\":%."
			       "4f}\n",
			       a.pp, a.tg, engine_ctx_threads(c), a.repeat, pp, tg, pp_spread, tg_spread);
		} else {
			printf("%-10s %8s %14s %8s\n", "test", "threads", "tokens/s", "spread");
			if (a.pp)
				printf("pp%-8u %8u %14.2f %7.1f%%\n", a.pp, engine_ctx_threads(c), pp, 100 * pp_spread);
			if (a.tg)
				printf("tg%-8u %8u %14.2f %7.1f%%\n", a.tg, engine_ctx_threads(c), tg, 100 * tg_spread);
		}
	}
	free(pp_rates);
	free(tg_rates);
	free(logits);
	free(ids);
	engine_ctx_free(c);
	engine_model_free(m);
	return status;
}
