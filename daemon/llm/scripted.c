/* The scripted model: replies come from a JSON file, chosen per run by the
 * task's instruction and attempt number. It counts one token per 4 bytes
 * and reports a context of 32,768 tokens. Grammars are accepted and not
 * applied, so a script can play a model that misbehaves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "daemon/llm/internal.h"

#define SCRIPTED_CONTEXT_TOKENS 32768
#define SCRIPTED_FILE_MAX (64u << 20)
#define SCRIPTED_DELAY_MAX_MS 3600000

struct scripted_reply {
	char *text;        /* the reply, or NULL with error */
	char *error;       /* an error instead of a reply, or NULL */
	uint64_t delay_ms; /* wait before answering */
};

struct scripted_list {
	struct scripted_reply *replies; /* count entries */
	size_t count;
};

struct scripted_entry {
	char *match;               /* substring of the instruction */
	unsigned attempt;          /* 0: any attempt */
	struct scripted_list list; /* its replies */
};

struct scripted {
	struct scripted_entry *entries; /* count entries, in file order */
	size_t count;
	struct scripted_list fallback; /* "default" */
	bool has_fallback;             /* "default" was given */
};

/* One conversation's place in its script. */
struct scripted_run {
	struct llm *llm;                  /* the model */
	const struct scripted_list *list; /* its replies, or NULL */
	size_t next;                      /* the next reply to give */
	uv_timer_t *timer;                /* pending answer; closed and freed by itself */
	struct llm_conversation *conv;    /* while a reply is pending */
	struct llm_request req;           /* its limits (stop strings borrowed until done) */
};

static void scripted_list_free(struct scripted_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->replies[i].text);
		free(l->replies[i].error);
	}
	free(l->replies);
}

static void scripted_free(struct scripted *s)
{
	for (size_t i = 0; i < s->count; i++) {
		free(s->entries[i].match);
		scripted_list_free(&s->entries[i].list);
	}
	free(s->entries);
	scripted_list_free(&s->fallback);
	free(s);
}

static int scripted_fail(char *err, size_t errlen, const char *path, const char *where, const char *what)
{
	snprintf(err, errlen, "--llm scripted:%s: %s: %s", path, where, what);
	return -EINVAL;
}

static int scripted_parse_list(const cJSON *array, const char *path, const char *where, struct scripted_list *out,
			       char *err, size_t errlen)
{
	if (!cJSON_IsArray(array))
		return scripted_fail(err, errlen, path, where, "must be an array of replies");
	size_t n = (size_t)cJSON_GetArraySize(array);
	out->replies = xcalloc(n ? n : 1, sizeof(*out->replies));
	const cJSON *r;
	cJSON_ArrayForEach(r, array)
	{
		char at[96];
		snprintf(at, sizeof(at), "%s[%zu]", where, out->count);
		struct scripted_reply *rep = &out->replies[out->count++];
		if (cJSON_IsString(r)) {
			rep->text = xstrdup(r->valuestring);
			continue;
		}
		if (!cJSON_IsObject(r))
			return scripted_fail(err, errlen, path, at, "must be a string or an object");
		for (const cJSON *f = r->child; f; f = f->next) {
			if (strcmp(f->string, "text") == 0 && cJSON_IsString(f)) {
				rep->text = xstrdup(f->valuestring);
			} else if (strcmp(f->string, "error") == 0 && cJSON_IsString(f)) {
				rep->error = xstrdup(f->valuestring);
			} else if (strcmp(f->string, "delay_ms") == 0 && cJSON_IsNumber(f)) {
				double d = f->valuedouble;
				if (d < 0 || d > SCRIPTED_DELAY_MAX_MS || d != (double)(uint64_t)d)
					return scripted_fail(err, errlen, path, at,
							     "delay_ms must be an integer from 0 to 3600000");
				rep->delay_ms = (uint64_t)d;
			} else {
				char what[128];
				snprintf(what, sizeof(what),
					 "unknown or mistyped field '%.60s' (text, delay_ms, error)", f->string);
				return scripted_fail(err, errlen, path, at, what);
			}
		}
		if (!rep->text == !rep->error)
			return scripted_fail(err, errlen, path, at, "needs exactly one of text and error");
	}
	return 0;
}

static int scripted_parse(const cJSON *root, const char *path, struct scripted *s, char *err, size_t errlen)
{
	if (!cJSON_IsObject(root))
		return scripted_fail(err, errlen, path, "top level", "must be an object with tasks and/or default");
	for (const cJSON *f = root->child; f; f = f->next) {
		if (strcmp(f->string, "tasks") != 0 && strcmp(f->string, "default") != 0) {
			char what[128];
			snprintf(what, sizeof(what), "unknown field '%.60s' (tasks, default)", f->string);
			return scripted_fail(err, errlen, path, "top level", what);
		}
	}
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
	if (tasks) {
		if (!cJSON_IsArray(tasks))
			return scripted_fail(err, errlen, path, "tasks", "must be an array");
		size_t n = (size_t)cJSON_GetArraySize(tasks);
		s->entries = xcalloc(n ? n : 1, sizeof(*s->entries));
		const cJSON *t;
		cJSON_ArrayForEach(t, tasks)
		{
			char at[64];
			snprintf(at, sizeof(at), "tasks[%zu]", s->count);
			struct scripted_entry *e = &s->entries[s->count++];
			if (!cJSON_IsObject(t))
				return scripted_fail(err, errlen, path, at, "must be an object");
			const cJSON *replies = NULL;
			for (const cJSON *f = t->child; f; f = f->next) {
				if (strcmp(f->string, "match") == 0 && cJSON_IsString(f)) {
					e->match = xstrdup(f->valuestring);
				} else if (strcmp(f->string, "attempt") == 0 && cJSON_IsNumber(f)) {
					double d = f->valuedouble;
					if (d < 1 || d > 1000 || d != (double)(unsigned)d)
						return scripted_fail(err, errlen, path, at,
								     "attempt must be an integer from 1");
					e->attempt = (unsigned)d;
				} else if (strcmp(f->string, "replies") == 0) {
					replies = f;
				} else {
					char what[128];
					snprintf(what, sizeof(what),
						 "unknown or mistyped field '%.60s' (match, attempt, replies)",
						 f->string);
					return scripted_fail(err, errlen, path, at, what);
				}
			}
			if (!e->match)
				return scripted_fail(err, errlen, path, at, "needs a match string");
			char where[80];
			snprintf(where, sizeof(where), "%s.replies", at);
			int rc = scripted_parse_list(replies, path, where, &e->list, err, errlen);
			if (rc < 0)
				return rc;
		}
	}
	const cJSON *fallback = cJSON_GetObjectItemCaseSensitive(root, "default");
	if (fallback) {
		s->has_fallback = true;
		return scripted_parse_list(fallback, path, "default", &s->fallback, err, errlen);
	}
	return 0;
}

static int scripted_encode(struct llm *llm, enum llm_role role, const char *text, size_t len, struct llm_tokens *out)
{
	(void)llm;
	(void)role;
	(void)text;
	size_t n = (len + 3) / 4;
	out->ids = xmalloc((n ? n : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		out->ids[i] = (uint32_t)i;
	out->count = n;
	return 0;
}

static void *scripted_conversation_new(struct llm *llm, const struct llm_run_info *info)
{
	struct scripted *s = llm->impl;
	struct scripted_run *run = xcalloc(1, sizeof(*run));
	run->llm = llm;
	const char *instruction = info && info->instruction ? info->instruction : "";
	unsigned attempt = info ? info->attempt : 1;
	for (size_t i = 0; i < s->count && !run->list; i++) {
		const struct scripted_entry *e = &s->entries[i];
		if (strstr(instruction, e->match) && (e->attempt == 0 || e->attempt == attempt))
			run->list = &e->list;
	}
	if (!run->list && s->has_fallback)
		run->list = &s->fallback;
	return run;
}

static void scripted_timer_closed(uv_handle_t *handle)
{
	free(handle);
}

static void scripted_stop_timer(struct scripted_run *run)
{
	if (run->timer) {
		uv_close((uv_handle_t *)run->timer, scripted_timer_closed);
		run->timer = NULL;
	}
}

static void scripted_conversation_free(struct llm *llm, void *state)
{
	(void)llm;
	struct scripted_run *run = state;
	scripted_stop_timer(run);
	free(run);
}

/* Delivers the reply that was due. */
static void scripted_answer(uv_timer_t *timer)
{
	struct scripted_run *run = timer->data;
	struct llm_conversation *c = run->conv;
	scripted_stop_timer(run);
	run->conv = NULL;
	if (!run->list || run->next >= run->list->count) {
		llm_reply_done(c, LLM_FINISH_EXHAUSTED, NULL, 0, NULL, "the script has no reply left for this run");
		return;
	}
	const struct scripted_reply *r = &run->list->replies[run->next++];
	if (r->error) {
		llm_reply_done(c, LLM_FINISH_ERROR, NULL, 0, NULL, r->error);
		return;
	}
	size_t len = strlen(r->text);
	enum llm_finish finish = LLM_FINISH_STOP;
	for (size_t i = 0; run->req.stop && run->req.stop[i]; i++) {
		const char *at = *run->req.stop[i] ? strstr(r->text, run->req.stop[i]) : NULL;
		if (at && (size_t)(at - r->text) < len)
			len = (size_t)(at - r->text);
	}
	if (run->req.max_tokens && (len + 3) / 4 > run->req.max_tokens) {
		len = utf8_complete_prefix(r->text, (size_t)run->req.max_tokens * 4);
		finish = LLM_FINISH_LENGTH;
	}
	llm_reply_done(c, finish, r->text, len, NULL, NULL);
}

static int scripted_start(struct llm_conversation *c, void *state, const struct llm_request *req)
{
	struct scripted_run *run = state;
	uint64_t delay = 0;
	if (run->list && run->next < run->list->count)
		delay = run->list->replies[run->next].delay_ms;
	run->conv = c;
	run->req = *req;
	run->timer = xmalloc(sizeof(*run->timer));
	uv_timer_init(run->llm->loop, run->timer);
	run->timer->data = run;
	/* Even an immediate answer comes from the loop, never from inside
	 * llm_reply. */
	uv_timer_start(run->timer, scripted_answer, delay, 0);
	return 0;
}

static void scripted_cancel(struct llm_conversation *c, void *state)
{
	struct scripted_run *run = state;
	scripted_stop_timer(run);
	run->conv = NULL;
	llm_reply_done(c, LLM_FINISH_CANCELED, NULL, 0, NULL, NULL);
}

static void scripted_close(struct llm *llm)
{
	scripted_free(llm->impl);
}

static const struct llm_ops scripted_ops = {
	.name = "scripted",
	.encode = scripted_encode,
	.conversation_new = scripted_conversation_new,
	.conversation_free = scripted_conversation_free,
	.start = scripted_start,
	.cancel = scripted_cancel,
	.close = scripted_close,
};

int llm_scripted_open(struct llm *llm, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "--llm scripted:%s: %s", path, strerror(e));
		return -e;
	}
	char *text = xmalloc(SCRIPTED_FILE_MAX + 1);
	size_t n = fread(text, 1, SCRIPTED_FILE_MAX + 1, f);
	fclose(f);
	if (n > SCRIPTED_FILE_MAX) {
		free(text);
		snprintf(err, errlen, "--llm scripted:%s: larger than 64M", path);
		return -EFBIG;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
	if (!root) {
		snprintf(err, errlen, "--llm scripted:%s: not valid JSON (near byte %zu)", path,
			 end ? (size_t)(end - text) : (size_t)0);
		free(text);
		return -EINVAL;
	}
	free(text);
	struct scripted *s = xcalloc(1, sizeof(*s));
	int rc = scripted_parse(root, path, s, err, errlen);
	cJSON_Delete(root);
	if (rc < 0) {
		scripted_free(s);
		return rc;
	}
	llm->ops = &scripted_ops;
	llm->impl = s;
	llm->context_tokens = SCRIPTED_CONTEXT_TOKENS;
	return 0;
}
