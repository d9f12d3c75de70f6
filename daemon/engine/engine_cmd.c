/* `agentd model ...`: the engine by hand. `info` describes a GGUF file,
 * `tokenize` prints the token ids of a text as a JSON array. Bad usage and
 * bad model files exit 2 with a message naming the problem. */
#include "daemon/engine/engine.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/engine_run.h"

/* The flags the model subcommands share. */
struct engine_cmd_args {
	const char *sub;           /* "info" or "tokenize" */
	const char *model;         /* --model FILE */
	const char *text;          /* --text TEXT */
	const char *text_file;     /* --file FILE: the text from a file (any bytes) */
	const char *chat_template; /* --chat-template chatml|llama3 */
	bool json;                 /* --json */
	bool special;              /* --special: match control tokens in the text */
	bool add_bos;              /* --add-bos: start with BOS when the model asks for it */
	bool help;                 /* --help */
};

static void engine_cmd_usage(FILE *out)
{
	fprintf(out, "usage: agentd model info --model FILE [--json] [--chat-template chatml|llama3]\n"
		     "       agentd model tokenize --model FILE (--text TEXT | --file FILE) [--special] [--add-bos]\n"
		     "                             [--chat-template chatml|llama3]\n"
		     "       agentd model generate --model FILE --prompt TEXT [...]   (agentd model generate --help)\n"
		     "       agentd model bench --model FILE [-p N] [-n N] [...]      (agentd model bench --help)\n"
		     "\n"
		     "Works on GGUF model files (Llama 3 and Qwen2-family, byte-level BPE vocabularies).\n"
		     "\n"
		     "commands:\n"
		     "  info       architecture, sizes, tensor types, vocabulary and chat template\n"
		     "  tokenize   print the token ids of a text as a JSON array\n"
		     "  generate   run the model on a prompt and sample a continuation\n"
		     "  bench      prompt-processing and generation speed, in tokens/s\n"
		     "\n"
		     "options:\n"
		     "  --model FILE                 the GGUF file\n"
		     "  --json                       machine-readable output\n"
		     "  --text TEXT                  the text to tokenize\n"
		     "  --file FILE                  tokenize the bytes of FILE instead\n"
		     "  --special                    match control tokens' text (e.g. <|im_start|>) in the text\n"
		     "  --add-bos                    start with BOS when the model's add_bos_token says so\n"
		     "  --chat-template NAME         use this chat template instead of recognising the file's\n"
		     "  -h, --help                   show this help\n");
}

static int engine_cmd_parse(int argc, char **argv, struct engine_cmd_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	int i = 1;
	if (i < argc && argv[i][0] != '-')
		a->sub = argv[i++];
	for (; i < argc; i++) {
		const char *arg = argv[i];
		const char **value = NULL;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			a->help = true;
			continue;
		}
		if (strcmp(arg, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(arg, "--special") == 0) {
			a->special = true;
			continue;
		}
		if (strcmp(arg, "--add-bos") == 0) {
			a->add_bos = true;
			continue;
		}
		if (strcmp(arg, "--model") == 0)
			value = &a->model;
		else if (strcmp(arg, "--text") == 0)
			value = &a->text;
		else if (strcmp(arg, "--file") == 0)
			value = &a->text_file;
		else if (strcmp(arg, "--chat-template") == 0)
			value = &a->chat_template;
		if (!value) {
			snprintf(err, errlen, "unknown option '%s'", arg);
			return -EINVAL;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", arg);
			return -EINVAL;
		}
		*value = argv[++i];
	}
	if (a->help)
		return 0;
	if (!a->sub) {
		snprintf(err, errlen, "a command is required: info, tokenize, generate or bench");
		return -EINVAL;
	}
	if (strcmp(a->sub, "info") != 0 && strcmp(a->sub, "tokenize") != 0) {
		snprintf(err, errlen, "unknown command '%s' (known: info, tokenize, generate, bench)", a->sub);
		return -EINVAL;
	}
	if (!a->model) {
		snprintf(err, errlen, "--model FILE is required");
		return -EINVAL;
	}
	if (a->chat_template && strcmp(a->chat_template, "chatml") != 0 && strcmp(a->chat_template, "llama3") != 0) {
		snprintf(err, errlen, "--chat-template must be chatml or llama3, not '%s'", a->chat_template);
		return -EINVAL;
	}
	bool tokenize = strcmp(a->sub, "tokenize") == 0;
	if (tokenize && !a->text == !a->text_file) {
		snprintf(err, errlen, "tokenize needs exactly one of --text TEXT and --file FILE");
		return -EINVAL;
	}
	if (!tokenize && (a->text || a->text_file || a->special || a->add_bos)) {
		snprintf(err, errlen, "--text, --file, --special and --add-bos belong to tokenize");
		return -EINVAL;
	}
	return 0;
}

/* Where a template that was not recognised from the file came from. */
static const char *engine_cmd_template_source(const char *chat)
{
	return strcmp(chat, "none") == 0 ? "none" : "--chat-template";
}

static cJSON *engine_cmd_info_json(const engine_model *m, const char *path)
{
	const struct engine_hparams *hp = engine_model_hparams(m);
	cJSON *root = cJSON_CreateObject();
	uint32_t version;
	uint64_t n_tensors, n_kv, file_bytes;
	engine_model_file_info(m, &version, &n_tensors, &n_kv, &file_bytes);
	cJSON_AddStringToObject(root, "file", path);
	cJSON_AddNumberToObject(root, "gguf_version", version);
	cJSON_AddNumberToObject(root, "file_bytes", (double)file_bytes);
	cJSON_AddNumberToObject(root, "metadata_count", (double)n_kv);
	char *name = engine_model_meta_string(m, "general.name");
	if (name)
		cJSON_AddStringToObject(root, "name", name);
	else
		cJSON_AddNullToObject(root, "name");
	free(name);
	cJSON_AddStringToObject(root, "architecture", hp->arch);
	cJSON *h = cJSON_AddObjectToObject(root, "hparams");
	cJSON_AddNumberToObject(h, "context_length", hp->n_ctx_train);
	cJSON_AddNumberToObject(h, "embedding_length", hp->n_embd);
	cJSON_AddNumberToObject(h, "block_count", hp->n_layer);
	cJSON_AddNumberToObject(h, "feed_forward_length", hp->n_ff);
	cJSON_AddNumberToObject(h, "head_count", hp->n_head);
	cJSON_AddNumberToObject(h, "head_count_kv", hp->n_head_kv);
	cJSON_AddNumberToObject(h, "head_dim", hp->head_dim);
	cJSON_AddNumberToObject(h, "rope_dimension_count", hp->n_rot);
	cJSON_AddNumberToObject(h, "rope_freq_base", hp->rope_freq_base);
	cJSON_AddNumberToObject(h, "rms_epsilon", hp->rms_eps);
	cJSON_AddNumberToObject(h, "vocab_size", hp->n_vocab);
	cJSON_AddBoolToObject(h, "tied_embeddings", hp->tied_embeddings);
	cJSON_AddBoolToObject(h, "qkv_bias", hp->qkv_bias);
	struct engine_type_usage usage[64];
	size_t n = engine_model_type_usage(m, usage, 64);
	cJSON *tensors = cJSON_AddObjectToObject(root, "tensors");
	cJSON_AddNumberToObject(tensors, "count", (double)n_tensors);
	cJSON *types = cJSON_AddArrayToObject(tensors, "types");
	uint64_t bytes = 0, elements = 0;
	for (size_t i = 0; i < n && i < 64; i++) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "type", usage[i].type);
		cJSON_AddNumberToObject(t, "tensors", (double)usage[i].tensors);
		cJSON_AddNumberToObject(t, "bytes", (double)usage[i].bytes);
		cJSON_AddNumberToObject(t, "elements", (double)usage[i].elements);
		cJSON_AddItemToArray(types, t);
		bytes += usage[i].bytes;
		elements += usage[i].elements;
	}
	cJSON_AddNumberToObject(tensors, "bytes", (double)bytes);
	cJSON_AddNumberToObject(tensors, "parameters", (double)elements);
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	cJSON *v = cJSON_AddObjectToObject(root, "vocab");
	cJSON_AddStringToObject(v, "model", vi.model);
	cJSON_AddStringToObject(v, "pre", vi.pre);
	cJSON_AddNumberToObject(v, "tokens", vi.n_tokens);
	cJSON_AddNumberToObject(v, "merges", vi.n_merges);
	cJSON_AddNumberToObject(v, "control_tokens", vi.n_control);
	cJSON_AddNumberToObject(v, "user_defined_tokens", vi.n_user);
	cJSON_AddNumberToObject(v, "bos", vi.bos);
	cJSON_AddNumberToObject(v, "eos", vi.eos);
	cJSON_AddNumberToObject(v, "eot", vi.eot);
	cJSON_AddBoolToObject(v, "add_bos", vi.add_bos);
	cJSON *c = cJSON_AddObjectToObject(root, "chat_template");
	cJSON_AddStringToObject(c, "name", vi.chat);
	cJSON_AddStringToObject(c, "source",
				vi.chat_from_file ? "tokenizer.chat_template" : engine_cmd_template_source(vi.chat));
	return root;
}

static void engine_cmd_print_info(const engine_model *m, const char *path)
{
	const struct engine_hparams *hp = engine_model_hparams(m);
	uint32_t version;
	uint64_t n_tensors, n_kv, file_bytes;
	engine_model_file_info(m, &version, &n_tensors, &n_kv, &file_bytes);
	char *name = engine_model_meta_string(m, "general.name");
	printf("file:          %s (GGUF v%u, %" PRIu64 " bytes, %" PRIu64 " metadata keys)\n", path, version,
	       file_bytes, n_kv);
	printf("name:          %s\n", name ? name : "-");
	free(name);
	printf("architecture:  %s\n", hp->arch);
	printf("context:       %u\n", hp->n_ctx_train);
	printf("embedding:     %u\n", hp->n_embd);
	printf("blocks:        %u\n", hp->n_layer);
	printf("feed-forward:  %u\n", hp->n_ff);
	printf("heads:         %u (kv %u, head size %u)\n", hp->n_head, hp->n_head_kv, hp->head_dim);
	printf("rope:          %u dims, base %g\n", hp->n_rot, hp->rope_freq_base);
	printf("rms epsilon:   %g\n", hp->rms_eps);
	printf("vocab size:    %u%s\n", hp->n_vocab, hp->tied_embeddings ? " (tied output)" : "");
	struct engine_type_usage usage[64];
	size_t n = engine_model_type_usage(m, usage, 64);
	printf("tensors:       %" PRIu64 "\n", n_tensors);
	for (size_t i = 0; i < n && i < 64; i++)
		printf("  %-8s %6" PRIu64 " tensors %14" PRIu64 " bytes %14" PRIu64 " params\n", usage[i].type,
		       usage[i].tensors, usage[i].bytes, usage[i].elements);
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	printf("tokenizer:     %s, pre-tokenizer %s, %u tokens (%u control, %u user-defined), %u merges\n", vi.model,
	       vi.pre, vi.n_tokens, vi.n_control, vi.n_user, vi.n_merges);
	printf("special:       bos %d, eos %d, eot %d, add_bos %s\n", vi.bos, vi.eos, vi.eot,
	       vi.add_bos ? "true" : "false");
	if (strcmp(vi.chat, "none") == 0)
		printf("chat template: none (the file has none; --chat-template names one)\n");
	else
		printf("chat template: %s (%s)\n", vi.chat,
		       vi.chat_from_file ? "from the file" : "from --chat-template");
}

static int engine_cmd_tokenize(const engine_model *m, const struct engine_cmd_args *a)
{
	struct buf text = BUF_INIT;
	if (a->text_file) {
		FILE *f = fopen(a->text_file, "rb");
		if (!f) {
			fprintf(stderr, "agentd model: cannot open %s: %s\n", a->text_file, strerror(errno));
			return 2;
		}
		char chunk[65536];
		size_t got;
		while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			if (text.len + got > ENGINE_TOKENIZE_MAX_BYTES)
				break;
			buf_append(&text, chunk, got);
		}
		bool too_big = got > 0;
		fclose(f);
		if (too_big) {
			fprintf(stderr, "agentd model: %s is larger than %u bytes\n", a->text_file,
				ENGINE_TOKENIZE_MAX_BYTES);
			buf_free(&text);
			return 2;
		}
	} else {
		buf_append_str(&text, a->text);
	}
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	unsigned flags = (a->special ? ENGINE_TOKENIZE_SPECIAL : 0) | (a->add_bos ? ENGINE_TOKENIZE_ADD_BOS : 0);
	int rc = engine_tokenize(m, text.data ? text.data : "", text.len, flags, &ids);
	buf_free(&text);
	if (rc < 0) {
		fprintf(stderr, "agentd model: the text is too long to tokenize\n");
		return 2;
	}
	struct buf out = BUF_INIT;
	buf_append_char(&out, '[');
	for (size_t i = 0; i < ids.len; i++)
		buf_printf(&out, "%s%d", i ? "," : "", ids.ids[i]);
	buf_append_str(&out, "]\n");
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	engine_tokens_free(&ids);
	return 0;
}

int engine_cmd_model(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "generate") == 0)
		return engine_run_generate(argc, argv);
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return engine_run_bench(argc, argv);
	struct engine_cmd_args a;
	char err[1024];
	if (engine_cmd_parse(argc, argv, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd model: %s\n", err);
		engine_cmd_usage(stderr);
		return 2;
	}
	if (a.help) {
		engine_cmd_usage(stdout);
		return 0;
	}
	struct engine_model_options opts = {a.chat_template};
	engine_model *m = NULL;
	if (engine_model_open(a.model, &opts, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentd model: %s\n", err);
		return 2;
	}
	int status = 0;
	if (strcmp(a.sub, "tokenize") == 0) {
		status = engine_cmd_tokenize(m, &a);
	} else if (a.json) {
		cJSON *root = engine_cmd_info_json(m, a.model);
		char *text = cJSON_Print(root);
		printf("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(root);
	} else {
		engine_cmd_print_info(m, a.model);
	}
	engine_model_free(m);
	return status;
}
