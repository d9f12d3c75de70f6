/* The inference engine's public interface: the only engine header that code
 * outside daemon/engine/ includes. A model is a GGUF file opened and checked:
 * its architecture and sizes, its tokenizer (text <-> token ids, exactly as
 * the model was trained) and its chat template. */
#ifndef AGENTD_ENGINE_ENGINE_H
#define AGENTD_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef int32_t engine_token;

/* A growable array of token ids; start with ENGINE_TOKENS_INIT (zeroes). */
struct engine_tokens {
	engine_token *ids; /* owned */
	size_t len;        /* ids in use */
	size_t cap;        /* ids allocated */
};

#define ENGINE_TOKENS_INIT                                                                                             \
	{                                                                                                              \
		NULL, 0, 0                                                                                             \
	}

void engine_tokens_push(struct engine_tokens *t, engine_token id);
void engine_tokens_free(struct engine_tokens *t);

/* An opened model: owns the mapping of its file. It is read-only once
 * open, so any number of threads may tokenize, detokenize and render chats
 * with it at once (each call keeps its own scratch space). */
typedef struct engine_model engine_model;

struct engine_model_options {
	const char *chat_template; /* NULL: recognise tokenizer.chat_template; else "chatml" or "llama3" */
};

/* Opens and validates the GGUF file at path: metadata and tensors, the
 * architecture's hyper-parameters against the tensor shapes, the tokenizer
 * and the chat template. opts may be NULL. On success *out is a new model
 * the caller frees with engine_model_free; on failure returns a negative
 * errno with a message naming the problem in err. */
int engine_model_open(const char *path, const struct engine_model_options *opts, engine_model **out, char *err,
		      size_t errlen);
void engine_model_free(engine_model *m);

/* Architecture and sizes, from the <arch>.* metadata keys. */
struct engine_hparams {
	const char *arch;      /* "llama" or "qwen2" (static storage) */
	uint32_t n_ctx_train;  /* context length it was trained with */
	uint32_t n_embd;       /* embedding length */
	uint32_t n_layer;      /* block count */
	uint32_t n_ff;         /* feed-forward length */
	uint32_t n_head;       /* attention heads */
	uint32_t n_head_kv;    /* key/value heads (grouped-query attention) */
	uint32_t head_dim;     /* dimensions per head */
	uint32_t n_rot;        /* RoPE dimensions per head */
	double rope_freq_base; /* RoPE theta */
	double rms_eps;        /* RMSNorm epsilon */
	uint32_t n_vocab;      /* vocabulary size (rows of token_embd) */
	bool tied_embeddings;  /* no output.weight: the output reuses token_embd */
	bool qkv_bias;         /* attention projections have biases (qwen2) */
};

/* Borrowed from m. */
const struct engine_hparams *engine_model_hparams(const engine_model *m);

/* Tensors of one element type, for `agentd model info`. */
struct engine_type_usage {
	const char *type;  /* "f16", "q4_K", ... (static storage) */
	uint64_t tensors;  /* how many tensors have this type */
	uint64_t bytes;    /* their data, in bytes */
	uint64_t elements; /* their elements */
};

/* Fills out[] (room for cap) with one entry per type present, in type id
 * order; returns the number of types present (which may exceed cap). */
size_t engine_model_type_usage(const engine_model *m, struct engine_type_usage *out, size_t cap);
/* File facts: GGUF version, tensor count, metadata count, file bytes. */
void engine_model_file_info(const engine_model *m, uint32_t *version, uint64_t *n_tensors, uint64_t *n_kv,
			    uint64_t *file_bytes);
/* A string metadata value (e.g. "general.name") into a new string the
 * caller frees, or NULL when absent or not a string. */
char *engine_model_meta_string(const engine_model *m, const char *key);

/* Token types, as tokenizer.ggml.token_type stores them. */
enum engine_token_type {
	ENGINE_TOKEN_UNDEFINED = 0,
	ENGINE_TOKEN_NORMAL = 1,
	ENGINE_TOKEN_UNKNOWN = 2,
	ENGINE_TOKEN_CONTROL = 3,
	ENGINE_TOKEN_USER_DEFINED = 4,
	ENGINE_TOKEN_UNUSED = 5,
	ENGINE_TOKEN_BYTE = 6,
};

struct engine_vocab_info {
	const char *model;   /* tokenizer.ggml.model ("gpt2"), static storage */
	const char *pre;     /* pre-tokenizer ("gpt-2", "llama-bpe", "qwen2"), static storage */
	uint32_t n_tokens;   /* tokens */
	uint32_t n_merges;   /* merges in use */
	uint32_t n_control;  /* control tokens */
	uint32_t n_user;     /* user-defined tokens */
	engine_token bos;    /* -1 when none */
	engine_token eos;    /* -1 when none */
	engine_token eot;    /* end of turn, -1 when none */
	bool add_bos;        /* tokenizing a prompt starts with BOS */
	const char *chat;    /* chat template in use: "chatml", "llama3" or "none", static storage */
	bool chat_from_file; /* recognised from tokenizer.chat_template (not --chat-template) */
};

void engine_model_vocab_info(const engine_model *m, struct engine_vocab_info *out);

/* Tokenizer flags. */
#define ENGINE_TOKENIZE_SPECIAL 1u /* match control tokens' text in the input (user-defined ones always are) */
#define ENGINE_TOKENIZE_ADD_BOS 2u /* start with BOS when the model's add_bos_token says so */

/* Largest input engine_tokenize accepts, in bytes. */
#define ENGINE_TOKENIZE_MAX_BYTES (16u << 20)

/* Appends the ids of text (len bytes, any bytes: each byte that is not part
 * of valid UTF-8 is read as U+FFFD) to out. Returns 0, or -E2BIG when len
 * exceeds ENGINE_TOKENIZE_MAX_BYTES. */
int engine_tokenize(const engine_model *m, const char *text, size_t len, unsigned flags, struct engine_tokens *out);

/* Detokenizer flags. */
#define ENGINE_DETOK_SPECIAL 1u /* render control tokens' text (otherwise they render as nothing) */

/* Appends the bytes of token id to out (exact bytes, possibly part of a
 * UTF-8 character). Returns 0, or -EINVAL when id is not in the vocabulary. */
int engine_token_piece(const engine_model *m, engine_token id, unsigned flags, struct buf *out);
/* Appends the bytes of ids[0..n) to out; -EINVAL on an id out of range. */
int engine_detokenize(const engine_model *m, const engine_token *ids, size_t n, unsigned flags, struct buf *out);

/* An incremental detokenizer for streaming: it appends only whole UTF-8
 * characters, holding back the start of a character split across tokens,
 * and writes U+FFFD for each byte that cannot be part of valid UTF-8, so
 * that what it emits is always valid UTF-8. */
typedef struct engine_detok engine_detok;

/* A new detokenizer over m (borrowed, must outlive it); free with
 * engine_detok_free. */
engine_detok *engine_detok_new(const engine_model *m, unsigned flags);
void engine_detok_free(engine_detok *d);
/* Feeds one token; appends what became complete to out. -EINVAL on a bad id. */
int engine_detok_push(engine_detok *d, engine_token id, struct buf *out);
/* Ends the stream: bytes still held (an unfinished character) become U+FFFD. */
void engine_detok_flush(engine_detok *d, struct buf *out);

/* Chat: messages rendered into token ids by the model's template. */
enum engine_role {
	ENGINE_ROLE_SYSTEM,
	ENGINE_ROLE_USER,
	ENGINE_ROLE_ASSISTANT,
};

struct engine_message {
	enum engine_role role; /* who speaks */
	const char *content;   /* borrowed, len bytes */
	size_t len;            /* bytes of content */
};

/* The chat functions below return -ENOTSUP, appending nothing, when the
 * model has no chat template (a base model without tokenizer.chat_template,
 * opened without a chat_template option). */
/* Appends what opens a conversation (BOS where the template or the model
 * wants one). */
int engine_chat_begin(const engine_model *m, struct engine_tokens *out);
/* Appends one whole message. The template's markers are the special
 * tokens' ids; content is tokenized as plain text, so text that looks like a
 * marker in it stays text. Rendering messages one by one makes every turn a
 * token-prefix extension of the one before. */
int engine_chat_append(const engine_model *m, const struct engine_message *msg, struct engine_tokens *out);
/* Appends the header of an assistant reply (the generation prompt). */
int engine_chat_append_prompt(const engine_model *m, struct engine_tokens *out);
/* Appends what closes an assistant reply whose ids were sampled after the
 * prompt, so that the conversation reads as if engine_chat_append had
 * rendered the reply. */
int engine_chat_append_reply_end(const engine_model *m, struct engine_tokens *out);
/* The token that ends an assistant turn (the stop token for generation),
 * or -1 without a template. */
engine_token engine_chat_end_token(const engine_model *m);
/* begin + every message + (with add_prompt) the generation prompt. */
int engine_chat_render(const engine_model *m, const struct engine_message *msgs, size_t n, bool add_prompt,
		       struct engine_tokens *out);

/* ---- Computing: contexts, decoding and sampling ---- */

/* Element type of the KV cache. */
enum engine_kv_type {
	ENGINE_KV_F16 = 0, /* half the memory; the default */
	ENGINE_KV_F32 = 1, /* exact keys and values */
};

/* Parses "f16" or "f32"; -EINVAL otherwise. */
int engine_kv_type_parse(const char *name, enum engine_kv_type *out);

/* Largest --threads accepted. */
#define ENGINE_MAX_THREADS 256

struct engine_ctx_options {
	uint32_t n_ctx;              /* positions the KV cache holds; 0: min(n_ctx_train, 4096) */
	uint32_t n_batch;            /* most positions one pass computes together; 0: 512 */
	unsigned threads;            /* compute threads (the caller's included); 0: the cores */
	enum engine_kv_type kv_type; /* the KV cache's element type */
};

/* One sequence being computed: the weights prepared for the CPU backend
 * (borrowed from the model, which must outlive it), a KV cache of n_ctx
 * positions, a thread pool and scratch space. Used by one thread at a time. */
typedef struct engine_ctx engine_ctx;

/* A new context over m. Fails (-ENOTSUP) when a tensor the forward pass
 * reads has a type the CPU backend cannot compute, naming the tensor and
 * its type in err; -EINVAL on a bad option; -ENOMEM when the cache cannot
 * be allocated. opts may be NULL (defaults). */
int engine_ctx_new(const engine_model *m, const struct engine_ctx_options *opts, engine_ctx **out, char *err,
		   size_t errlen);
void engine_ctx_free(engine_ctx *c);
/* Positions in the KV cache (the next token's position). */
uint32_t engine_ctx_pos(const engine_ctx *c);
/* Positions the cache holds (its n_ctx). */
uint32_t engine_ctx_size(const engine_ctx *c);
/* Forgets positions at and after pos (pos <= engine_ctx_pos). */
void engine_ctx_truncate(engine_ctx *c, uint32_t pos);
/* The threads computing (the caller's included). */
unsigned engine_ctx_threads(const engine_ctx *c);

/* engine_decode flags. */
#define ENGINE_DECODE_ALL_LOGITS 1u /* logits for every position, not only the last */

/* Runs the model over ids[0..n) at positions engine_ctx_pos(c) onwards
 * (split into passes of at most n_batch positions; the results do not
 * depend on how the tokens are split) and appends them to the cache. When
 * logits is not NULL it receives the last position's n_vocab logits, or,
 * with ENGINE_DECODE_ALL_LOGITS, n * n_vocab (position-major). Returns 0;
 * -ENOSPC (nothing computed) when the positions would not fit the cache;
 * -EINVAL on an id outside the vocabulary. */
int engine_decode(engine_ctx *c, const engine_token *ids, size_t n, unsigned flags, float *logits);

/* Sampling: picks the next token from logits. Stages run in llama.cpp's
 * order: repetition penalty, top-k, top-p, min-p, temperature, then a draw.
 * A temperature of 0 (or less) is greedy: the first token of highest logit
 * after the penalty. */
struct engine_sampler_params {
	float temperature;      /* 0: greedy */
	int32_t top_k;          /* keep the k most likely (<= 0: all) */
	float top_p;            /* keep the smallest set with this much probability (>= 1: all) */
	float min_p;            /* drop tokens below min_p times the top probability (<= 0: none) */
	float repeat_penalty;   /* divide positive (multiply negative) logits of recent tokens by this (1: none) */
	uint32_t repeat_last_n; /* how many recent tokens the penalty looks at */
	uint64_t seed;          /* the draws' random sequence; the same seed repeats a run */
};

/* Defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05,
 * repeat_penalty 1.0, repeat_last_n 64, seed 0. */
void engine_sampler_defaults(struct engine_sampler_params *p);

typedef struct engine_sampler engine_sampler;

/* A sampler for a vocabulary of n_vocab tokens; free with engine_sampler_free. */
engine_sampler *engine_sampler_new(const struct engine_sampler_params *p, uint32_t n_vocab);
void engine_sampler_free(engine_sampler *s);
/* The next token for these logits (n_vocab of them; not modified). */
engine_token engine_sampler_sample(engine_sampler *s, const float *logits);
/* Records a token of the sequence (prompt or sampled) for the penalty. */
void engine_sampler_accept(engine_sampler *s, engine_token t);
/* Forgets the recorded tokens; with reseed, restarts the random sequence. */
void engine_sampler_reset(engine_sampler *s, bool reseed);

/* ---- Serving: many sequences at once ----
 *
 * An engine_server computes requests (a prompt, sampling parameters, limits)
 * on threads of its own: every step carries the next token of every running
 * sequence plus chunks of waiting prompts, over a paged KV cache with a
 * prefix cache. Tokens and results come back as callbacks on the thread of
 * the libuv loop the server was made with; that loop never waits on the
 * engine. Submit, cancel, stats and free are called on the loop thread. */
typedef struct engine_server engine_server;
struct uv_loop_s;

/* Defaults of the serving options. */
#define ENGINE_DEFAULT_BATCH_TOKENS 512
#define ENGINE_DEFAULT_MAX_SEQUENCES 128
#define ENGINE_DEFAULT_KV_MEMORY (2ull << 30)
/* Largest values accepted. */
#define ENGINE_MAX_SEQUENCES 4096
#define ENGINE_MAX_STOPS 16
#define ENGINE_MAX_STOP_BYTES 256

struct engine_server_options {
	unsigned threads;   /* compute threads; 0: the CPUs this process may use */
	uint32_t ctx_size;  /* most positions one sequence holds (prompt and reply); 0: min(n_ctx_train, 4096) */
	uint64_t kv_memory; /* bytes of the KV pool; 0: ENGINE_DEFAULT_KV_MEMORY */
	enum engine_kv_type kv_type; /* the cache's element type */
	uint32_t batch_tokens;       /* most tokens one step computes (>= max_sequences); 0: the default */
	uint32_t max_sequences;      /* most sequences admitted at once; 0: the default */
	bool no_prefix_cache;        /* compute every prompt in full, share nothing */
};

/* A new server over m (borrowed; must outlive the server), delivering
 * callbacks on loop. Returns 0 with *out, or a negative errno with a
 * message in err (-EINVAL on an option out of range, -ENOTSUP on a tensor
 * type the CPU cannot compute, -ENOMEM when the pool cannot be had). */
int engine_server_new(const engine_model *m, struct uv_loop_s *loop, const struct engine_server_options *opts,
		      engine_server **out, char *err, size_t errlen);
/* Stops the server: every request still outstanding gets its on_done
 * (-ECANCELED) before this returns, the threads are joined, and the memory
 * goes once the loop has run the close of the server's handle. The handle
 * keeps the loop alive only while requests are outstanding, so free the
 * server before closing whatever else is left on the loop. NULL is a no-op. */
void engine_server_free(engine_server *s);

/* Grammar-constrained sampling: a grammar compiled once against a model's
 * vocabulary, read-only afterwards (so requests on any thread may share
 * it), that keeps a reply to the strings it describes. */
typedef struct engine_grammar engine_grammar;

/* Compiles a grammar (the GBNF subset daemon/engine/grammar.h describes; at
 * most 64 KiB) against m's vocabulary, starting at rule root ("root" when
 * NULL). m is borrowed and must outlive the grammar. Returns 0 with *out
 * (free with engine_grammar_free), or -EINVAL with a message naming the
 * line and column of the problem in err (e.g. "line 3, column 14: expected
 * ']'"), or -E2BIG when the source is too long (or its repetitions expand
 * past the compiler's limit). */
int engine_grammar_new(const engine_model *m, const char *source, size_t len, const char *root, engine_grammar **out,
		       char *err, size_t errlen);
void engine_grammar_free(engine_grammar *g);
/* Largest think_max and block_max of the agents' grammar. */
#define ENGINE_GRAMMAR_AGENT_MAX_BYTES 32768u
/* The agents' reply grammar: up to think_max bytes of free text without a
 * backtick (none, or ending with a newline, so that the fence opens a
 * line), then exactly one fenced block "```bash\n" BODY "\n```" where BODY
 * is 1..block_max bytes without a backtick, then the end of the turn. The
 * text's characters leave out the control characters but tab, newline and
 * carriage return. -EINVAL when block_max is 0, -E2BIG past
 * ENGINE_GRAMMAR_AGENT_MAX_BYTES. */
int engine_grammar_agent(const engine_model *m, uint32_t think_max, uint32_t block_max, engine_grammar **out, char *err,
			 size_t errlen);
/* The GBNF source of the agents' grammar for these bounds (about 50 bytes
 * per byte of the larger bound; a block_max of 0 reads as 1), into a new
 * string the caller frees (for --help and logs). */
char *engine_grammar_agent_source(uint32_t think_max, uint32_t block_max);

typedef uint64_t engine_request_id;

enum engine_finish {
	ENGINE_FINISH_LENGTH,    /* max_tokens reached (or the context is full) */
	ENGINE_FINISH_EOS,       /* the model ended its turn (the token is the last one) */
	ENGINE_FINISH_STOP,      /* a stop string appeared (the text ends before it) */
	ENGINE_FINISH_CANCELLED, /* engine_cancel or engine_server_free */
	ENGINE_FINISH_ERROR,     /* error says what went wrong */
};

/* What a request ended with. Pointers are valid during the callback only. */
struct engine_result {
	engine_request_id id;
	int status; /* 0; -ECANCELED; another negative errno with error set */
	enum engine_finish finish;
	const engine_token *tokens; /* generated ids */
	size_t n_tokens;
	const char *text; /* their text (valid UTF-8), up to a stop string */
	size_t text_len;
	uint32_t prompt_tokens;
	uint32_t cached_tokens; /* prompt positions the prefix cache supplied */
	double queue_ms;        /* from submit to admission */
	double ttft_ms;         /* from submit to the first token (0: none) */
	double total_ms;        /* from submit to the end */
	const char *error;      /* "" unless status is an error */
};

/* A generated token: its id, the text it releases (possibly empty: text
 * that could begin a stop string, or part of a character, is held back),
 * and with ENGINE_REQUEST_LOGITS the n_vocab logits it was sampled from.
 * Pointers are valid during the callback only. */
typedef void (*engine_token_cb)(void *user, engine_request_id id, engine_token token, const char *text, size_t len,
				const float *logits);
typedef void (*engine_done_cb)(void *user, const struct engine_result *r);

/* engine_request flags. */
#define ENGINE_REQUEST_LOGITS 1u     /* pass each token's logits to on_token */
#define ENGINE_REQUEST_IGNORE_EOS 2u /* go on past the model's end of turn */

struct engine_request {
	const engine_token *prompt; /* copied */
	size_t n_prompt;
	struct engine_sampler_params sampling;
	uint32_t max_tokens;     /* 0: as many as ctx_size leaves */
	const char *const *stop; /* stop strings (copied), up to ENGINE_MAX_STOPS */
	size_t n_stop;
	const engine_grammar *grammar; /* constrains the reply (borrowed; must outlive the request), or NULL */
	unsigned flags;                /* ENGINE_REQUEST_* */
	engine_token_cb on_token;      /* may be NULL */
	engine_done_cb on_done;        /* runs exactly once, last */
	void *user;                    /* passed to both */
};

/* Queues a request. Returns 0 with *id; or, calling nothing, -EINVAL (a
 * bad id, parameter or stop string), -E2BIG (the prompt and max_tokens
 * exceed ctx_size, or need more KV blocks than the whole pool has: it
 * could never run), -ESHUTDOWN (the server is
 * stopping), with the reason in err. */
int engine_submit(engine_server *s, const struct engine_request *r, engine_request_id *id, char *err, size_t errlen);
/* Cancels a request wherever it is (queued, in prefill, generating): its
 * on_done follows with -ECANCELED (tokens already sent stay sent). An id
 * whose on_done has run is ignored. */
void engine_cancel(engine_server *s, engine_request_id id);

/* Steps by rows computed: bucket i counts steps of 2^i .. 2^(i+1)-1 rows. */
#define ENGINE_STATS_BUCKETS 14

struct engine_stats {
	uint64_t submitted, completed, cancelled, failed;
	uint32_t running;        /* sequences admitted */
	uint32_t queued;         /* waiting for admission (queue depth) */
	uint32_t waiting_memory; /* of those, held back because their KV blocks cannot be reserved now */
	uint64_t prompt_tokens;  /* of admitted requests */
	uint64_t cached_tokens;  /* prompt tokens the prefix cache supplied */
	double prefix_hit_rate;  /* cached_tokens / prompt_tokens */
	uint64_t prefill_tokens; /* prompt positions computed */
	uint64_t decode_tokens;  /* generated positions computed */
	double prefill_tokens_per_s, decode_tokens_per_s; /* over the steps' time, shared by rows */
	uint64_t steps;
	uint64_t batch_rows[ENGINE_STATS_BUCKETS];
	uint32_t kv_blocks_total, kv_blocks_used, kv_blocks_free, kv_blocks_cached;
	uint32_t kv_block_positions; /* positions per block */
	uint64_t kv_evictions;
	double forward_seconds; /* in forward passes */
	uint64_t grammar_masks; /* grammar masks applied (one per constrained token) */
	double grammar_seconds; /* in them */
	uint32_t ctx_size, batch_tokens, max_sequences;
	unsigned threads;
};

void engine_server_stats(engine_server *s, struct engine_stats *out);

/* `agentd model ...`: returns the process exit status (0, 1 on an internal
 * failure, 2 on bad usage or a bad model file). argv[0] is "model". */
int engine_cmd_model(int argc, char **argv);

#endif
