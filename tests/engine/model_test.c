/* Model description: hyper-parameters from the <arch>.* keys for llama and
 * qwen2, checked against the tensors' shapes, errors that name the key or
 * tensor at fault, and llama.cpp as the judge that the writer's models (both
 * architectures, the weight types of the forward pass) are real models. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

TEST(hparams_from_metadata)
{
	const char *args[] = {"--arch",   "qwen2", "--n-embd",    "128",       "--n-layer",       "3",
			      "--n-head", "8",     "--n-head-kv", "2",         "--n-ff",          "320",
			      "--n-ctx",  "4096",  "--tied",      "--shuffle", "--chat-template", "chatml",
			      NULL};
	char *path = support_write_model(th_tempdir(), "q.gguf", args);
	engine_model *m = support_open(path, NULL);
	const struct engine_hparams *hp = engine_model_hparams(m);
	CHECK_STR(hp->arch, "qwen2");
	CHECK_INT(hp->n_ctx_train, ==, 4096);
	CHECK_INT(hp->n_embd, ==, 128);
	CHECK_INT(hp->n_layer, ==, 3);
	CHECK_INT(hp->n_ff, ==, 320);
	CHECK_INT(hp->n_head, ==, 8);
	CHECK_INT(hp->n_head_kv, ==, 2);
	CHECK_INT(hp->head_dim, ==, 16);
	CHECK_INT(hp->n_rot, ==, 16);
	CHECK(hp->rope_freq_base == 1000000.0);
	CHECK(hp->rms_eps > 0.99e-5 && hp->rms_eps < 1.01e-5);
	CHECK_INT(hp->n_vocab, >, 256);
	CHECK(hp->tied_embeddings);
	CHECK(hp->qkv_bias);
	struct engine_type_usage u[8];
	size_t n = engine_model_type_usage(m, u, 8);
	CHECK_INT(n, ==, 2);
	CHECK_STR(u[0].type, "f32");
	CHECK_STR(u[1].type, "f16");
	/* Norms and biases are f32; the matrices and the embedding f16. */
	CHECK_INT(u[1].tensors, ==, 1 + 3 * 7);
	CHECK_INT(u[1].bytes, ==, 2 * u[1].elements);
	engine_model_free(m);
	free(path);
}

TEST(errors_name_the_key_or_tensor)
{
	const char *a1[] = {"--omit-key", "llama.block_count", NULL};
	support_refused(a1, "metadata key llama.block_count is missing");
	const char *a2[] = {"--omit-key", "llama.attention.layer_norm_rms_epsilon", NULL};
	support_refused(a2, "metadata key llama.attention.layer_norm_rms_epsilon is missing");
	const char *a3[] = {"--set-u32", "llama.attention.head_count_kv=3", NULL};
	support_refused(a3, "llama.attention.head_count (4) is not a multiple of llama.attention.head_count_kv (3)");
	const char *a4[] = {"--set-u32", "llama.embedding_length=96", NULL};
	support_refused(a4, "tensor token_embd.weight has shape [64, ");
	const char *a5[] = {"--set-u32", "llama.feed_forward_length=100", NULL};
	support_refused(a5, "expected [64, 100] from llama.embedding_length and llama.feed_forward_length");
	const char *a6[] = {"--omit-tensor", "blk.1.ffn_up.weight", NULL};
	support_refused(a6, "tensor blk.1.ffn_up.weight is missing");
	const char *a7[] = {"--arch", "qwen2", "--omit-tensor", "blk.0.attn_k.bias", NULL};
	support_refused(a7, "tensor blk.0.attn_k.bias is missing");
	const char *a8[] = {"--set-str", "general.architecture=gpt2", NULL};
	support_refused(a8, "general.architecture is 'gpt2': supported architectures are llama and qwen2");
	const char *a9[] = {"--set-u32", "llama.vocab_size=1000", NULL};
	support_refused(a9, "llama.vocab_size is 1000 but tokenizer.ggml.tokens holds");
	const char *a10[] = {"--set-u32", "llama.block_count=0", NULL};
	support_refused(a10, "metadata key llama.block_count is 0");
	const char *a11[] = {"--set-u32", "llama.rope.dimension_count=32", NULL};
	support_refused(a11, "llama.rope.dimension_count (32) must be even and at most the head size (16)");
	const char *a12[] = {"--set-str", "llama.context_length=long", NULL};
	support_refused(a12, "metadata key llama.context_length has type string, expected an integer");
	const char *a13[] = {"--set-u32", "llama.block_count=3", NULL};
	support_refused(a13, "tensor blk.2.attn_norm.weight is missing");
}

/* llama.cpp loads each model, creates a context and evaluates a few
 * tokens; we open the same files and agree on their sizes. */
static void llama_cpp_loads(const char *arch)
{
	const char *dir = th_tempdir();
	const char *types[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"};
	const size_t n = sizeof(types) / sizeof(types[0]);
	char *paths[8];
	char *script = xasprintf("%s/tests/engine/judge/load.mjs", support_source_root());
	char *out = xasprintf("%s/load.json", dir);
	const char *argv[16] = {"node", script, out};
	for (size_t i = 0; i < n; i++) {
		bool k_quant = strchr(types[i], 'k') != NULL;
		char name[32];
		snprintf(name, sizeof(name), "%s.gguf", types[i]);
		const char *args[] = {"--arch",      arch,
				      "--type",      types[i],
				      "--n-embd",    k_quant ? "256" : "64",
				      "--n-ff",      k_quant ? "512" : "96",
				      "--n-head",    "4",
				      "--n-head-kv", k_quant ? "4" : "2",
				      "--shuffle",   "--tied",
				      NULL};
		/* Untied output for half of them. */
		if (i % 2)
			args[13] = NULL;
		paths[i] = support_write_model(dir, name, args);
		argv[3 + i] = paths[i];
	}
	argv[3 + n] = NULL;
	char *output;
	int status = support_run(argv, 240000, &output);
	if (status != 0)
		th_fail(__FILE__, __LINE__, "load.mjs failed: %s", output);
	free(output);
	cJSON *judged = support_read_json(out);
	for (size_t i = 0; i < n; i++) {
		const cJSON *r = cJSON_GetArrayItem(judged, (int)i);
		if (!cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")))
			th_fail(__FILE__, __LINE__, "llama.cpp refused the %s %s model: %s", arch, types[i],
				cJSON_GetStringValue(cJSON_GetObjectItem(r, "error")));
		CHECK_INT(cJSON_GetObjectItem(r, "evaluated")->valueint, >, 0);
		engine_model *m = support_open(paths[i], "chatml");
		const struct engine_hparams *hp = engine_model_hparams(m);
		CHECK_INT(hp->n_embd, ==, cJSON_GetObjectItem(r, "n_embd")->valueint);
		CHECK_INT(hp->n_ctx_train, ==, cJSON_GetObjectItem(r, "n_ctx_train")->valueint);
		CHECK_INT(hp->tied_embeddings, ==, i % 2 == 0);
		struct engine_type_usage u[8];
		size_t used = engine_model_type_usage(m, u, 8);
		bool found = false;
		for (size_t k = 0; k < used && k < 8; k++)
			found |= strcasecmp(u[k].type, types[i]) == 0;
		CHECK(found);
		engine_model_free(m);
		free(paths[i]);
	}
	cJSON_Delete(judged);
	free(script);
	free(out);
}

TEST(llama_cpp_loads_llama_models)
{
	llama_cpp_loads("llama");
}

TEST(llama_cpp_loads_qwen2_models)
{
	llama_cpp_loads("qwen2");
}
