/* The serving engine: requests from the loop thread go into a locked
 * queue; the serving thread admits them into the paged KV cache (kvcache.c)
 * and runs steps, each one forward pass (forward.c) over the next token of
 * every generating sequence and chunks of waiting prompts up to
 * batch_tokens rows; tokens and results go back to the loop through a
 * uv_async_t.
 *
 * Every request is in exactly one place: the incoming list (submitted,
 * not yet seen by the serving thread), the queue (waiting for admission),
 * the running array (admitted, in admission order), or an event on its way
 * to the loop (its done event, after which only the loop touches it). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/forward.h"
#include "daemon/engine/grammar.h"
#include "daemon/engine/kvcache.h"

struct serve_req {
	engine_request_id id;
	/* Set at submit, then read-only. */
	engine_token *prompt;
	uint32_t n_prompt, max_tokens;
	struct engine_sampler_params sampling;
	char **stop;
	size_t n_stop;
	unsigned flags;
	const engine_grammar *grammar; /* borrowed, or NULL */
	engine_token_cb on_token;
	engine_done_cb on_done;
	void *user;
	double t_submit;

	/* The serving thread's. */
	struct serve_req *next; /* incoming list or queue */
	struct kvcache_seq *kv;
	engine_sampler *sampler;
	struct grammar_state *gstate; /* with a grammar */
	engine_detok *detok;
	struct engine_tokens out; /* generated ids */
	struct buf text;          /* their text */
	size_t text_sent;         /* bytes of text already released */
	uint32_t cached, n_past;  /* prompt positions shared; positions computed */
	uint32_t chunk_end;       /* a prefill chunk in this step ends here (0: none) */
	int32_t logit_slot;       /* this step's logits row, or -1 */
	bool prefilling;
	double t_admit, t_first;
};

struct serve_event {
	struct serve_event *next;
	struct serve_req *req;
	bool done;
	engine_token token;
	char *text; /* owned */
	size_t len;
	float *logits; /* owned, with ENGINE_REQUEST_LOGITS */
	struct engine_result result;
	char error[160];
};

struct engine_server {
	uv_async_t async; /* first: the close callback gets it */
	const engine_model *model;
	struct forward *fwd;
	struct kvcache *kv;
	uint32_t n_vocab, ctx_size, batch_tokens, max_sequences, n_blocks;
	unsigned threads;
	engine_token stop_ids[3];
	engine_request_id next_id; /* the loop's */
	uint64_t outstanding;      /* the loop's: requests whose on_done has not run */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards the fields below it, up to stats */
	pthread_cond_t wake;
	bool stopping;
	struct serve_req *incoming, **incoming_tail;
	engine_request_id *cancels;
	size_t n_cancels, cancels_cap;
	struct serve_event *events, **events_tail;
	struct engine_stats stats; /* as of the last step */

	/* The serving thread's. */
	struct serve_req *queue, **queue_tail;
	uint32_t n_queued;
	struct serve_req **running;
	uint32_t n_running;
	struct forward_row *rows;
	uint32_t *logit_rows;
	float *logits;
	struct serve_event *pending, **pending_tail; /* events of this step */
	struct engine_stats work;                    /* the counters, published after each step */
	double prefill_s, decode_s;
	double forward_s, grammar_s; /* in forward passes; in grammar masks */
};

static double serve_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void serve_req_free(struct serve_req *r)
{
	if (!r)
		return;
	free(r->prompt);
	for (size_t i = 0; i < r->n_stop; i++)
		free(r->stop[i]);
	free(r->stop);
	engine_sampler_free(r->sampler);
	grammar_state_free(r->gstate);
	engine_detok_free(r->detok);
	engine_tokens_free(&r->out);
	buf_free(&r->text);
	free(r);
}

/* ---- events (serving thread -> loop) ---- */

static void serve_post(struct engine_server *s, struct serve_event *e)
{
	e->next = NULL;
	*s->pending_tail = e;
	s->pending_tail = &e->next;
}

/* Hands this step's events to the loop. */
static void serve_flush(struct engine_server *s)
{
	if (!s->pending)
		return;
	pthread_mutex_lock(&s->lock);
	*s->events_tail = s->pending;
	s->events_tail = s->pending_tail;
	pthread_mutex_unlock(&s->lock);
	s->pending = NULL;
	s->pending_tail = &s->pending;
	uv_async_send(&s->async);
}

/* Releases text [text_sent, upto) with a token event. */
static void serve_token_event(struct engine_server *s, struct serve_req *r, engine_token t, size_t upto,
			      const float *logits)
{
	struct serve_event *e = xcalloc(1, sizeof(*e));
	e->req = r;
	e->token = t;
	e->len = upto - r->text_sent;
	e->text = xmalloc(e->len + 1);
	memcpy(e->text, r->text.data ? r->text.data + r->text_sent : "", e->len);
	e->text[e->len] = '\0';
	r->text_sent = upto;
	if (logits && (r->flags & ENGINE_REQUEST_LOGITS)) {
		e->logits = xmalloc((size_t)s->n_vocab * sizeof(float));
		memcpy(e->logits, logits, (size_t)s->n_vocab * sizeof(float));
	}
	serve_post(s, e);
}

/* The request's last event: after it only the loop touches r. */
static void serve_done_event(struct engine_server *s, struct serve_req *r, enum engine_finish finish, int status,
			     const char *error)
{
	struct serve_event *e = xcalloc(1, sizeof(*e));
	double now = serve_now();
	e->req = r;
	e->done = true;
	snprintf(e->error, sizeof(e->error), "%s", error ? error : "");
	e->result = (struct engine_result){
		.id = r->id,
		.status = status,
		.finish = finish,
		.tokens = r->out.ids,
		.n_tokens = r->out.len,
		.text = r->text.data ? r->text.data : "",
		.text_len = r->text.len,
		.prompt_tokens = r->n_prompt,
		.cached_tokens = r->cached,
		.queue_ms = r->t_admit > 0 ? (r->t_admit - r->t_submit) * 1e3 : (now - r->t_submit) * 1e3,
		.ttft_ms = r->t_first > 0 ? (r->t_first - r->t_submit) * 1e3 : 0,
		.total_ms = (now - r->t_submit) * 1e3,
	};
	if (status == -ECANCELED)
		s->work.cancelled++;
	else if (status < 0)
		s->work.failed++;
	else
		s->work.completed++;
	serve_post(s, e);
}

/* The loop's side: runs the callbacks of every event posted so far. */
static void serve_deliver(struct engine_server *s)
{
	pthread_mutex_lock(&s->lock);
	struct serve_event *e = s->events;
	s->events = NULL;
	s->events_tail = &s->events;
	pthread_mutex_unlock(&s->lock);
	while (e) {
		struct serve_event *next = e->next;
		struct serve_req *r = e->req;
		if (e->done) {
			e->result.error = e->error;
			/* The handle keeps the loop alive only while requests
			 * are outstanding. */
			if (--s->outstanding == 0 && !uv_is_closing((uv_handle_t *)&s->async))
				uv_unref((uv_handle_t *)&s->async);
			r->on_done(r->user, &e->result);
			serve_req_free(r);
		} else if (r->on_token) {
			r->on_token(r->user, r->id, e->token, e->text, e->len, e->logits);
		}
		free(e->text);
		free(e->logits);
		free(e);
		e = next;
	}
}

static void serve_async_cb(uv_async_t *h)
{
	serve_deliver((struct engine_server *)h->data);
}

/* ---- the serving thread ---- */

/* Ends a running or queued request: its blocks go back (with the prefix
 * cache on, what it computed stays cached) and its done event is posted. */
static void serve_finish(struct engine_server *s, struct serve_req *r, enum engine_finish finish, int status,
			 const char *error)
{
	if (r->kv) {
		/* Positions computed: the prompt's (or, mid-prefill, what is
		 * valid) and every generated token but the last. */
		uint32_t n_valid = r->prefilling ? kvcache_seq_valid(s->kv, r->kv) : r->n_past;
		engine_token *tokens = xmalloc(((size_t)r->n_prompt + r->out.len + 1) * sizeof(engine_token));
		memcpy(tokens, r->prompt, (size_t)r->n_prompt * sizeof(engine_token));
		if (r->out.len)
			memcpy(tokens + r->n_prompt, r->out.ids, r->out.len * sizeof(engine_token));
		if (n_valid > r->n_prompt + r->out.len)
			n_valid = (uint32_t)(r->n_prompt + r->out.len);
		kvcache_seq_release(s->kv, r->kv, tokens, n_valid);
		free(tokens);
		r->kv = NULL;
	}
	serve_done_event(s, r, finish, status, error);
}

static void serve_running_remove(struct engine_server *s, uint32_t i)
{
	memmove(&s->running[i], &s->running[i + 1], (s->n_running - i - 1) * sizeof(*s->running));
	s->n_running--;
}

static void serve_cancel_one(struct engine_server *s, engine_request_id id)
{
	for (struct serve_req **p = &s->queue; *p; p = &(*p)->next)
		if ((*p)->id == id) {
			struct serve_req *r = *p;
			*p = r->next;
			if (s->queue_tail == &r->next)
				s->queue_tail = p;
			s->n_queued--;
			serve_finish(s, r, ENGINE_FINISH_CANCELLED, -ECANCELED, "cancelled");
			return;
		}
	for (uint32_t i = 0; i < s->n_running; i++)
		if (s->running[i]->id == id) {
			struct serve_req *r = s->running[i];
			serve_running_remove(s, i);
			serve_finish(s, r, ENGINE_FINISH_CANCELLED, -ECANCELED, "cancelled");
			return;
		}
}

/* Admits queued requests in order while they fit; the first that does not
 * fit waits (with those behind it) until blocks come back. */
static void serve_admit(struct engine_server *s)
{
	s->work.waiting_memory = 0;
	while (s->queue && s->n_running < s->max_sequences) {
		struct serve_req *r = s->queue;
		uint32_t cached = 0;
		struct kvcache_copy copy = {0};
		int rc = kvcache_admit(s->kv, r->prompt, r->n_prompt, r->n_prompt + r->max_tokens - 1, &r->kv, &cached,
				       &copy);
		if (rc == -EAGAIN) {
			s->work.waiting_memory = s->n_queued;
			return;
		}
		s->queue = r->next;
		if (!s->queue)
			s->queue_tail = &s->queue;
		s->n_queued--;
		if (rc < 0) {
			r->kv = NULL;
			serve_finish(s, r, ENGINE_FINISH_ERROR, rc, "the request does not fit the KV cache");
			continue;
		}
		forward_kv_copy(s->fwd, copy.dst, copy.src, copy.n);
		r->cached = cached;
		r->prefilling = true;
		r->t_admit = serve_now();
		r->sampler = engine_sampler_new(&r->sampling, s->n_vocab);
		uint32_t tail = r->sampling.repeat_last_n < r->n_prompt ? r->sampling.repeat_last_n : r->n_prompt;
		for (uint32_t i = r->n_prompt - tail; i < r->n_prompt; i++)
			engine_sampler_accept(r->sampler, r->prompt[i]);
		r->detok = engine_detok_new(s->model, 0);
		if (r->grammar)
			r->gstate = grammar_state_new(r->grammar);
		s->work.prompt_tokens += r->n_prompt;
		s->work.cached_tokens += cached;
		s->running[s->n_running++] = r;
	}
}

static bool serve_is_stop_id(const struct engine_server *s, engine_token t)
{
	for (int i = 0; i < 3; i++)
		if (s->stop_ids[i] == t)
			return true;
	return false;
}

/* The text that may be released: all of it but a tail that could still
 * grow into a stop string. Returns the end of what may go out, and sets
 * *stopped when a stop string is complete (the end is where it starts). */
static size_t serve_stop_scan(const struct serve_req *r, bool *stopped)
{
	const char *text = r->text.data ? r->text.data : "";
	size_t len = r->text.len;
	*stopped = false;
	if (r->n_stop == 0)
		return len;
	/* A stop string cannot start before text_sent: text that could begin
	 * one was held back. */
	size_t first = len;
	for (size_t i = 0; i < r->n_stop; i++) {
		size_t sl = strlen(r->stop[i]);
		if (len - r->text_sent < sl)
			continue;
		const char *hit = memmem(text + r->text_sent, len - r->text_sent, r->stop[i], sl);
		if (hit && (size_t)(hit - text) < first)
			first = (size_t)(hit - text);
	}
	if (first < len) {
		*stopped = true;
		return first;
	}
	size_t hold = 0;
	for (size_t i = 0; i < r->n_stop; i++) {
		size_t sl = strlen(r->stop[i]);
		for (size_t k = sl - 1; k > hold; k--)
			if (k <= len - r->text_sent && memcmp(text + len - k, r->stop[i], k) == 0) {
				hold = k;
				break;
			}
	}
	return len - hold;
}

/* A token was sampled for r: record it, release its text, and end the
 * request when it is done. Returns true when r finished. */
static bool serve_accept(struct engine_server *s, struct serve_req *r, engine_token t, const float *logits)
{
	double now = serve_now();
	if (r->t_first == 0)
		r->t_first = now;
	engine_tokens_push(&r->out, t);
	engine_sampler_accept(r->sampler, t);
	engine_detok_push(r->detok, t, &r->text);
	enum engine_finish finish = ENGINE_FINISH_LENGTH;
	bool done = false;
	if (!(r->flags & ENGINE_REQUEST_IGNORE_EOS) && serve_is_stop_id(s, t)) {
		finish = ENGINE_FINISH_EOS;
		done = true;
	} else if (r->out.len >= r->max_tokens) {
		done = true;
	}
	if (done)
		engine_detok_flush(r->detok, &r->text);
	bool stopped;
	size_t upto = serve_stop_scan(r, &stopped);
	if (stopped) {
		r->text.len = upto;
		r->text.data[upto] = '\0';
		finish = ENGINE_FINISH_STOP;
		done = true;
	}
	serve_token_event(s, r, t, upto, logits);
	if (done)
		serve_finish(s, r, finish, 0, NULL);
	return done;
}

static uint32_t serve_bucket(uint32_t rows)
{
	uint32_t b = 0;
	while (rows > 1 && b + 1 < ENGINE_STATS_BUCKETS) {
		rows >>= 1;
		b++;
	}
	return b;
}

/* One forward pass over every generating sequence's next position and
 * prefill chunks up to batch_tokens rows, then sampling. */
static uint32_t serve_step(struct engine_server *s)
{
	uint32_t nrows = 0, nlog = 0, n_decode = 0;
	for (uint32_t i = 0; i < s->n_running; i++) {
		struct serve_req *r = s->running[i];
		r->chunk_end = 0;
		r->logit_slot = -1;
		if (r->prefilling)
			continue;
		kvcache_seq_grow(s->kv, r->kv, r->n_past + 1);
		s->rows[nrows] = (struct forward_row){r->out.ids[r->out.len - 1], r->n_past, kvcache_seq_blocks(r->kv)};
		r->logit_slot = (int32_t)nlog;
		s->logit_rows[nlog++] = nrows++;
		n_decode++;
	}
	/* Prompts in admission order, each as far as the budget and the
	 * shared blocks other sequences are still computing allow. */
	for (uint32_t i = 0; i < s->n_running && nrows < s->batch_tokens; i++) {
		struct serve_req *r = s->running[i];
		if (!r->prefilling)
			continue;
		uint32_t valid = kvcache_seq_valid(s->kv, r->kv);
		uint32_t want =
			r->n_prompt - valid < s->batch_tokens - nrows ? r->n_prompt : valid + s->batch_tokens - nrows;
		uint32_t end = kvcache_seq_claim(s->kv, r->kv, want);
		if (end <= valid)
			continue;
		kvcache_seq_grow(s->kv, r->kv, end);
		const uint32_t *blocks = kvcache_seq_blocks(r->kv);
		for (uint32_t p = valid; p < end; p++)
			s->rows[nrows++] = (struct forward_row){r->prompt[p], p, blocks};
		r->chunk_end = end;
		if (end == r->n_prompt) {
			r->logit_slot = (int32_t)nlog;
			s->logit_rows[nlog++] = nrows - 1;
		}
	}
	if (nrows == 0)
		return 0;
	double t0 = serve_now();
	forward_batch(s->fwd, s->rows, nrows, s->logit_rows, nlog, s->logits);
	double dt = serve_now() - t0;
	s->forward_s += dt;
	uint32_t n_prefill = nrows - n_decode;
	s->decode_s += dt * n_decode / nrows;
	s->prefill_s += dt * n_prefill / nrows;
	s->work.decode_tokens += n_decode;
	s->work.prefill_tokens += n_prefill;
	s->work.steps++;
	s->work.batch_rows[serve_bucket(nrows)]++;

	for (uint32_t i = 0; i < s->n_running;) {
		struct serve_req *r = s->running[i];
		if (r->prefilling && r->chunk_end) {
			kvcache_seq_computed(s->kv, r->kv, r->chunk_end);
			if (r->chunk_end == r->n_prompt) {
				r->prefilling = false;
				r->n_past = r->n_prompt;
			}
		} else if (!r->prefilling && r->logit_slot >= 0) {
			r->n_past++;
			kvcache_seq_computed(s->kv, r->kv, r->n_past);
		}
		if (r->logit_slot >= 0) {
			float *logits = s->logits + (size_t)r->logit_slot * s->n_vocab;
			if (r->gstate) {
				/* Tokens that cannot continue the grammar are never
				 * sampled; near the end of the budget only the
				 * shortest way to finish is left. */
				double g0 = serve_now();
				grammar_state_mask(r->gstate, logits, r->max_tokens - (uint32_t)r->out.len);
				s->grammar_s += serve_now() - g0;
				s->work.grammar_masks++;
			}
			engine_token t = engine_sampler_sample(r->sampler, logits);
			if (r->gstate && grammar_state_accept(r->gstate, t) < 0) {
				/* The sampler picked a masked token: only possible
				 * when every logit was masked or NaN. */
				serve_running_remove(s, i);
				serve_finish(s, r, ENGINE_FINISH_ERROR, -EPROTO, "no token could continue the grammar");
				continue;
			}
			if (serve_accept(s, r, t, logits)) {
				serve_running_remove(s, i);
				continue;
			}
		}
		i++;
	}
	return nrows;
}

static void serve_publish(struct engine_server *s)
{
	struct kvcache_stats ks;
	kvcache_stats(s->kv, &ks);
	struct engine_stats *w = &s->work;
	w->running = s->n_running;
	w->queued = s->n_queued;
	w->prefix_hit_rate = w->prompt_tokens ? (double)w->cached_tokens / (double)w->prompt_tokens : 0;
	w->prefill_tokens_per_s = s->prefill_s > 0 ? (double)w->prefill_tokens / s->prefill_s : 0;
	w->decode_tokens_per_s = s->decode_s > 0 ? (double)w->decode_tokens / s->decode_s : 0;
	w->forward_seconds = s->forward_s;
	w->grammar_seconds = s->grammar_s;
	w->kv_blocks_total = ks.total;
	w->kv_blocks_used = ks.used;
	w->kv_blocks_free = ks.free;
	w->kv_blocks_cached = ks.cached;
	w->kv_evictions = ks.evictions;
	pthread_mutex_lock(&s->lock);
	uint64_t submitted = s->stats.submitted;
	s->stats = *w;
	s->stats.submitted = submitted;
	pthread_mutex_unlock(&s->lock);
}

static void *serve_thread(void *arg)
{
	struct engine_server *s = arg;
	engine_request_id *cancels = NULL;
	size_t cancels_cap = 0;
	/* idle: the last step had nothing to compute (everything admitted
	 * waits), so only news from the loop can change that. */
	bool idle = false;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->stopping && !s->incoming && s->n_cancels == 0 && (idle || (s->n_running == 0 && !s->queue)))
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		if (s->incoming) {
			*s->queue_tail = s->incoming;
			for (struct serve_req *r = s->incoming; r; r = r->next) {
				s->n_queued++;
				s->queue_tail = &r->next;
			}
			s->incoming = NULL;
			s->incoming_tail = &s->incoming;
		}
		size_t n_cancels = s->n_cancels;
		if (n_cancels > cancels_cap) {
			cancels_cap = s->cancels_cap;
			cancels = xrealloc(cancels, cancels_cap * sizeof(*cancels));
		}
		if (n_cancels)
			memcpy(cancels, s->cancels, n_cancels * sizeof(*cancels));
		s->n_cancels = 0;
		pthread_mutex_unlock(&s->lock);

		for (size_t i = 0; i < n_cancels; i++)
			serve_cancel_one(s, cancels[i]);
		serve_admit(s);
		idle = serve_step(s) == 0;
		serve_publish(s);
		serve_flush(s);
	}
	free(cancels);
	return NULL;
}

/* ---- the loop's side ---- */

/* The KV pool's blocks for the options: kv_memory over one block's bytes
 * (every layer's keys and values of 16 positions). */
static int serve_blocks(const struct engine_hparams *hp, const struct engine_server_options *o, uint32_t *out,
			char *err, size_t errlen)
{
	uint64_t elem = o->kv_type == ENGINE_KV_F32 ? 4 : 2;
	uint64_t block = (uint64_t)hp->n_layer * 2 * KVCACHE_BLOCK * hp->n_head_kv * hp->head_dim * elem;
	uint64_t n = o->kv_memory / block;
	if (n == 0) {
		snprintf(err, errlen, "kv-memory of %llu bytes holds no KV block (one is %llu bytes: %u positions)",
			 (unsigned long long)o->kv_memory, (unsigned long long)block, KVCACHE_BLOCK);
		return -EINVAL;
	}
	if (n > (1u << 24))
		n = 1u << 24;
	*out = (uint32_t)n;
	return 0;
}

int engine_server_new(const engine_model *m, struct uv_loop_s *loop, const struct engine_server_options *opts,
		      engine_server **out, char *err, size_t errlen)
{
	*out = NULL;
	struct engine_server_options o = {0};
	if (opts)
		o = *opts;
	const struct engine_hparams *hp = engine_model_hparams(m);
	if (o.ctx_size == 0)
		o.ctx_size = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
	if (o.max_sequences == 0)
		o.max_sequences = o.batch_tokens && o.batch_tokens < ENGINE_DEFAULT_MAX_SEQUENCES
					  ? o.batch_tokens
					  : ENGINE_DEFAULT_MAX_SEQUENCES;
	if (o.batch_tokens == 0)
		o.batch_tokens =
			ENGINE_DEFAULT_BATCH_TOKENS > o.max_sequences ? ENGINE_DEFAULT_BATCH_TOKENS : o.max_sequences;
	if (o.kv_memory == 0)
		o.kv_memory = ENGINE_DEFAULT_KV_MEMORY;
	if (o.max_sequences > ENGINE_MAX_SEQUENCES) {
		snprintf(err, errlen, "max-sequences is %u; at most %u", o.max_sequences, ENGINE_MAX_SEQUENCES);
		return -EINVAL;
	}
	if (o.batch_tokens < o.max_sequences) {
		snprintf(err, errlen,
			 "batch-tokens (%u) must be at least max-sequences (%u): every generating sequence takes a row "
			 "of each step",
			 o.batch_tokens, o.max_sequences);
		return -EINVAL;
	}
	if (o.ctx_size < 2) {
		snprintf(err, errlen, "ctx-size must be at least 2");
		return -EINVAL;
	}
	uint32_t n_blocks;
	int rc = serve_blocks(hp, &o, &n_blocks, err, errlen);
	if (rc < 0)
		return rc;
	struct forward_options fo = {
		.max_rows = o.batch_tokens,
		.max_positions = o.ctx_size,
		.n_blocks = n_blocks,
		.threads = o.threads,
		.kv_type = o.kv_type,
	};
	struct engine_server *s = xcalloc(1, sizeof(*s));
	s->model = m;
	s->n_vocab = hp->n_vocab;
	s->ctx_size = o.ctx_size;
	s->batch_tokens = o.batch_tokens;
	s->max_sequences = o.max_sequences;
	s->n_blocks = n_blocks;
	s->next_id = 1;
	if ((rc = forward_new(m, &fo, &s->fwd, err, errlen)) < 0) {
		free(s);
		return rc;
	}
	s->threads = forward_threads(s->fwd);
	s->logits = malloc((size_t)o.max_sequences * hp->n_vocab * sizeof(float));
	if (!s->logits) {
		snprintf(err, errlen, "cannot allocate logits for %u sequences", o.max_sequences);
		forward_free(s->fwd);
		free(s);
		return -ENOMEM;
	}
	s->kv = kvcache_new(n_blocks, !o.no_prefix_cache);
	s->rows = xmalloc(o.batch_tokens * sizeof(*s->rows));
	s->logit_rows = xmalloc(o.batch_tokens * sizeof(uint32_t));
	s->running = xmalloc(o.max_sequences * sizeof(*s->running));
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	s->stop_ids[0] = vi.eos;
	s->stop_ids[1] = vi.eot;
	s->stop_ids[2] = engine_chat_end_token(m);
	s->incoming_tail = &s->incoming;
	s->events_tail = &s->events;
	s->queue_tail = &s->queue;
	s->pending_tail = &s->pending;
	s->work.kv_block_positions = KVCACHE_BLOCK;
	s->work.ctx_size = s->ctx_size;
	s->work.batch_tokens = s->batch_tokens;
	s->work.max_sequences = s->max_sequences;
	s->work.threads = s->threads;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	uv_async_init(loop, &s->async, serve_async_cb);
	s->async.data = s;
	uv_unref((uv_handle_t *)&s->async);
	serve_publish(s);
	if ((rc = pthread_create(&s->thread, NULL, serve_thread, s)) != 0) {
		snprintf(err, errlen, "cannot start the serving thread: %s", strerror(rc));
		engine_server_free(s);
		return -rc;
	}
	s->thread_started = true;
	*out = s;
	return 0;
}

static void serve_close_cb(uv_handle_t *h)
{
	struct engine_server *s = h->data;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

void engine_server_free(engine_server *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	/* The serving thread is gone: what it held is ended from here. */
	while (s->n_running) {
		struct serve_req *r = s->running[s->n_running - 1];
		s->n_running--;
		serve_finish(s, r, ENGINE_FINISH_CANCELLED, -ECANCELED, "the engine is stopping");
	}
	struct serve_req *lists[2] = {s->queue, s->incoming};
	s->queue = s->incoming = NULL;
	for (int i = 0; i < 2; i++)
		while (lists[i]) {
			struct serve_req *r = lists[i];
			lists[i] = r->next;
			serve_finish(s, r, ENGINE_FINISH_CANCELLED, -ECANCELED, "the engine is stopping");
		}
	serve_flush(s);
	serve_deliver(s);
	kvcache_free(s->kv);
	forward_free(s->fwd);
	free(s->rows);
	free(s->logit_rows);
	free(s->logits);
	free(s->running);
	free(s->cancels);
	uv_close((uv_handle_t *)&s->async, serve_close_cb);
}

/* Checks r and copies it into a new serve_req. */
static int serve_req_new(struct engine_server *s, const struct engine_request *q, struct serve_req **out, char *err,
			 size_t errlen)
{
	*out = NULL;
	if (!q->on_done) {
		snprintf(err, errlen, "a request needs an on_done callback");
		return -EINVAL;
	}
	if (q->n_prompt == 0) {
		snprintf(err, errlen, "the prompt is empty");
		return -EINVAL;
	}
	if (q->n_prompt >= s->ctx_size) {
		snprintf(err, errlen, "the prompt has %zu tokens; ctx-size %u leaves no room for a reply", q->n_prompt,
			 s->ctx_size);
		return -E2BIG;
	}
	uint32_t max_tokens = q->max_tokens ? q->max_tokens : s->ctx_size - (uint32_t)q->n_prompt;
	if (q->max_tokens && (uint64_t)q->n_prompt + q->max_tokens > s->ctx_size) {
		snprintf(err, errlen, "the prompt (%zu tokens) and max_tokens (%u) exceed ctx-size %u", q->n_prompt,
			 q->max_tokens, s->ctx_size);
		return -E2BIG;
	}
	uint32_t need = KVCACHE_BLOCKS_FOR((uint32_t)q->n_prompt + max_tokens - 1);
	if (need > s->n_blocks) {
		snprintf(err, errlen,
			 "the request needs %u KV blocks of %u positions for its prompt and max_tokens; the whole pool "
			 "has %u (raise kv-memory or lower max_tokens)",
			 need, KVCACHE_BLOCK, s->n_blocks);
		return -E2BIG;
	}
	for (size_t i = 0; i < q->n_prompt; i++)
		if (q->prompt[i] < 0 || (uint32_t)q->prompt[i] >= s->n_vocab) {
			snprintf(err, errlen, "prompt token %zu is id %d, outside the vocabulary of %u", i,
				 q->prompt[i], s->n_vocab);
			return -EINVAL;
		}
	if (q->n_stop > ENGINE_MAX_STOPS) {
		snprintf(err, errlen, "%zu stop strings; at most %u", q->n_stop, ENGINE_MAX_STOPS);
		return -EINVAL;
	}
	for (size_t i = 0; i < q->n_stop; i++) {
		size_t len = q->stop[i] ? strnlen(q->stop[i], ENGINE_MAX_STOP_BYTES + 1) : 0;
		if (len == 0 || len > ENGINE_MAX_STOP_BYTES) {
			snprintf(err, errlen, "stop string %zu must have 1 to %u bytes", i, ENGINE_MAX_STOP_BYTES);
			return -EINVAL;
		}
	}
	const struct engine_sampler_params *p = &q->sampling;
	if (!isfinite(p->temperature) || !isfinite(p->top_p) || !isfinite(p->min_p) || !isfinite(p->repeat_penalty) ||
	    p->repeat_penalty <= 0) {
		snprintf(err, errlen, "sampling parameters must be finite, and repeat_penalty above 0");
		return -EINVAL;
	}
	struct serve_req *r = xcalloc(1, sizeof(*r));
	r->n_prompt = (uint32_t)q->n_prompt;
	r->prompt = xmalloc(q->n_prompt * sizeof(engine_token));
	memcpy(r->prompt, q->prompt, q->n_prompt * sizeof(engine_token));
	r->max_tokens = max_tokens;
	r->sampling = *p;
	if (q->n_stop) {
		r->stop = xcalloc(q->n_stop, sizeof(char *));
		for (size_t i = 0; i < q->n_stop; i++)
			r->stop[i] = xstrdup(q->stop[i]);
		r->n_stop = q->n_stop;
	}
	r->flags = q->flags;
	r->grammar = q->grammar;
	r->on_token = q->on_token;
	r->on_done = q->on_done;
	r->user = q->user;
	buf_init(&r->text);
	*out = r;
	return 0;
}

int engine_submit(engine_server *s, const struct engine_request *q, engine_request_id *id, char *err, size_t errlen)
{
	struct serve_req *r;
	int rc = serve_req_new(s, q, &r, err, errlen);
	if (rc < 0)
		return rc;
	r->id = s->next_id++;
	r->t_submit = serve_now();
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		serve_req_free(r);
		snprintf(err, errlen, "the engine is stopping");
		return -ESHUTDOWN;
	}
	r->next = NULL;
	*s->incoming_tail = r;
	s->incoming_tail = &r->next;
	s->stats.submitted++;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (s->outstanding++ == 0)
		uv_ref((uv_handle_t *)&s->async);
	*id = r->id;
	return 0;
}

void engine_cancel(engine_server *s, engine_request_id id)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_cancels == s->cancels_cap) {
		s->cancels_cap = s->cancels_cap ? 2 * s->cancels_cap : 16;
		s->cancels = xrealloc(s->cancels, s->cancels_cap * sizeof(*s->cancels));
	}
	s->cancels[s->n_cancels++] = id;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

void engine_server_stats(engine_server *s, struct engine_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}
