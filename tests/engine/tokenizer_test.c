/* The tokenizer's own rules, beyond what the judges compare: invalid UTF-8,
 * the pre-tokenizers' splits, special and user-defined tokens, BOS,
 * detokenizing, the incremental detokenizer on split characters, refusing
 * vocabularies it cannot read, and speed on long inputs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/bytelevel.h"
#include "daemon/engine/pretok.h"
#include "daemon/engine/unicode.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

static engine_model *synthetic(const char *const *extra)
{
	const char *args[32] = {"--vocab", "synthetic", "--chat-template", "chatml"};
	size_t n = 4;
	for (size_t i = 0; extra && extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	char *path = support_write_model(th_tempdir(), "synthetic.gguf", args);
	engine_model *m = support_open(path, NULL);
	free(path);
	return m;
}

static struct engine_tokens tokenize(const engine_model *m, const char *text, size_t len, unsigned flags)
{
	struct engine_tokens t = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(m, text, len, flags, &t), ==, 0);
	return t;
}

static bool same_ids(const struct engine_tokens *a, const struct engine_tokens *b)
{
	return a->len == b->len && memcmp(a->ids, b->ids, a->len * sizeof(*a->ids)) == 0;
}

/* The words pretok_split makes of text, joined with '|'. */
static char *split(enum pretok_kind kind, const char *text)
{
	size_t len = strlen(text);
	uint32_t cps[256];
	size_t offs[257], ends[256], n = 0;
	for (size_t at = 0; at < len;) {
		size_t size;
		offs[n] = at;
		cps[n++] = unicode_decode(text + at, len - at, &size);
		at += size;
	}
	offs[n] = len;
	size_t words = pretok_split(kind, cps, n, ends);
	struct buf b = BUF_INIT;
	size_t start = 0;
	for (size_t i = 0; i < words; i++) {
		if (i)
			buf_append_char(&b, '|');
		buf_append(&b, text + offs[start], offs[ends[i]] - offs[start]);
		start = ends[i];
	}
	if (!b.data)
		buf_append_str(&b, "");
	return buf_steal(&b);
}

#define CHECK_SPLIT(kind, text, expected)                                                                              \
	do {                                                                                                           \
		char *got_ = split(kind, text);                                                                        \
		CHECK_STR(got_, expected);                                                                             \
		free(got_);                                                                                            \
	} while (0)

TEST(pretokenizer_rules)
{
	/* gpt-2: a space joins the word after it; a run of spaces gives its
	 * last space to the next word; case-sensitive contractions. */
	CHECK_SPLIT(PRETOK_GPT2, "Hello world", "Hello| world");
	CHECK_SPLIT(PRETOK_GPT2, "a   b", "a|  | b");
	CHECK_SPLIT(PRETOK_GPT2, "it's IT'S", "it|'s| IT|'|S");
	CHECK_SPLIT(PRETOK_GPT2, "x2024y", "x|2024|y");
	CHECK_SPLIT(PRETOK_GPT2, "f(x) += 1;\n", "f|(|x|)| +=| 1|;|\n");
	CHECK_SPLIT(PRETOK_GPT2, "a  ", "a|  ");
	CHECK_SPLIT(PRETOK_GPT2, "a\tb", "a|\t|b");
	/* llama-bpe: case-insensitive contractions, digits in threes, one
	 * leading non-letter joins a word, newlines end runs of symbols. */
	CHECK_SPLIT(PRETOK_LLAMA3, "it's IT'S We'Re", "it|'s| IT|'S| We|'Re");
	CHECK_SPLIT(PRETOK_LLAMA3, "1234567", "123|456|7");
	CHECK_SPLIT(PRETOK_LLAMA3, "(hello) _x", "(hello|)| _|x");
	CHECK_SPLIT(PRETOK_LLAMA3, "a;\n\nb", "a|;\n\n|b");
	CHECK_SPLIT(PRETOK_LLAMA3, "a  \n  \n b", "a|  \n  \n| b");
	CHECK_SPLIT(PRETOK_LLAMA3, "x \t y", "x| \t| y");
	CHECK_SPLIT(PRETOK_LLAMA3, "\u00e9t\u00e9 \u65e5\u672c", "\u00e9t\u00e9| \u65e5\u672c");
	/* qwen2: the same, but digits one at a time. */
	CHECK_SPLIT(PRETOK_QWEN2, "1234 x", "1|2|3|4| x");
	CHECK_SPLIT(PRETOK_QWEN2, "", "");
}

TEST(unicode_classes_and_byte_alphabet)
{
	CHECK_INT(unicode_flags('a'), ==, UNICODE_LETTER);
	CHECK_INT(unicode_flags(0x0663), ==, UNICODE_NUMBER); /* ARABIC-INDIC DIGIT THREE */
	CHECK_INT(unicode_flags(0x216B), ==, UNICODE_NUMBER); /* ROMAN NUMERAL TWELVE */
	CHECK_INT(unicode_flags(0x4E2D), ==, UNICODE_LETTER);
	CHECK_INT(unicode_flags(0x3000), ==, UNICODE_SPACE);
	CHECK_INT(unicode_flags(0x0085), ==, UNICODE_SPACE);
	CHECK_INT(unicode_flags(0xFEFF), ==, 0);
	CHECK_INT(unicode_flags(0x1F600), ==, 0);
	CHECK_INT(unicode_flags(0x0301), ==, 0); /* combining marks are not letters */
	CHECK_INT(bytelevel_char(' '), ==, 0x120);
	CHECK_INT(bytelevel_char('\n'), ==, 0x10A);
	CHECK_INT(bytelevel_char('A'), ==, 'A');
	CHECK_INT(bytelevel_char(0xAD), ==, 0x143);
	CHECK_INT(bytelevel_char(0x7F), ==, 0x121);
	for (unsigned b = 0; b < 256; b++)
		CHECK_INT(bytelevel_byte(bytelevel_char((uint8_t)b)), ==, b);
	CHECK_INT(bytelevel_byte(0x144), ==, -1);
	CHECK_INT(bytelevel_byte(0x20), ==, -1);
}

/* Documented behaviour: every byte that is not part of valid UTF-8 is
 * tokenized as U+FFFD would be (llama.cpp does the same; the JavaScript
 * judges cannot be given such input). */
TEST(invalid_utf8_reads_as_replacement_characters)
{
	engine_model *m = synthetic(NULL);
	static const struct {
		const char *bad;     /* invalid input */
		const char *as_text; /* what it must tokenize like */
	} cases[] = {
		{"a\xff"
		 "b",
		 "a\xef\xbf\xbd"
		 "b"},
		{"\x80", "\xef\xbf\xbd"},
		{"x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd"}, /* truncated */
		{"\xe2\x82"
		 "A",
		 "\xef\xbf\xbd\xef\xbf\xbd"
		 "A"},                                                                    /* interrupted */
		{"\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* overlong */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* surrogate */
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* past U+10FFFF */
		{"ok \xf0\x9f\x98", "ok \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct engine_tokens a = tokenize(m, cases[i].bad, strlen(cases[i].bad), 0);
		struct engine_tokens b = tokenize(m, cases[i].as_text, strlen(cases[i].as_text), 0);
		if (!same_ids(&a, &b))
			th_fail(__FILE__, __LINE__, "case %zu tokenizes differently from its U+FFFD form", i);
		engine_tokens_free(&a);
		engine_tokens_free(&b);
	}
	/* A NUL byte is an ordinary character. */
	struct engine_tokens t = tokenize(m, "a\0b", 3, 0);
	CHECK_INT(t.len, ==, 3);
	engine_tokens_free(&t);
	engine_model_free(m);
}

TEST(special_and_user_defined_tokens)
{
	engine_model *m = synthetic(NULL);
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	const char *text = "x<|im_start|>y<tool_call>z";
	struct engine_tokens plain = tokenize(m, text, strlen(text), 0);
	struct engine_tokens special = tokenize(m, text, strlen(text), ENGINE_TOKENIZE_SPECIAL);
	/* Control tokens are text unless asked; user-defined ones never are. */
	CHECK_INT(special.len, ==, 5);
	CHECK_INT(plain.len, >, 5);
	CHECK_INT(special.ids[3], ==, plain.ids[plain.len - 2]);
	struct buf out = BUF_INIT;
	CHECK_INT(engine_detokenize(m, special.ids, special.len, 0, &out), ==, 0);
	CHECK_STR(out.data, "xy<tool_call>z");
	buf_reset(&out);
	CHECK_INT(engine_detokenize(m, special.ids, special.len, ENGINE_DETOK_SPECIAL, &out), ==, 0);
	CHECK_STR(out.data, text);
	buf_reset(&out);
	CHECK_INT(engine_detokenize(m, plain.ids, plain.len, 0, &out), ==, 0);
	CHECK_STR(out.data, text);
	CHECK_INT(engine_token_piece(m, (engine_token)vi.n_tokens, 0, &out), ==, -EINVAL);
	CHECK_INT(engine_token_piece(m, -1, 0, &out), ==, -EINVAL);
	/* The longest special token wins where two start at one place. */
	struct engine_tokens eot = tokenize(m, "<|eot_id|>", 10, ENGINE_TOKENIZE_SPECIAL);
	CHECK_INT(eot.len, ==, 1);
	CHECK_INT(eot.ids[0], ==, vi.eot);
	buf_free(&out);
	engine_tokens_free(&plain);
	engine_tokens_free(&special);
	engine_tokens_free(&eot);
	engine_model_free(m);
}

TEST(bos_follows_add_bos_token)
{
	engine_model *m = synthetic(NULL);
	struct engine_vocab_info vi;
	engine_model_vocab_info(m, &vi);
	CHECK(vi.add_bos);
	struct engine_tokens t = tokenize(m, "hi", 2, ENGINE_TOKENIZE_ADD_BOS);
	CHECK_INT(t.ids[0], ==, vi.bos);
	engine_tokens_free(&t);
	t = tokenize(m, "hi", 2, 0);
	CHECK_INT(t.ids[0], !=, vi.bos);
	engine_tokens_free(&t);
	engine_model_free(m);
	const char *no_bos[] = {"--add-bos", "false", NULL};
	m = synthetic(no_bos);
	t = tokenize(m, "hi", 2, ENGINE_TOKENIZE_ADD_BOS);
	engine_model_vocab_info(m, &vi);
	CHECK(!vi.add_bos);
	CHECK_INT(t.ids[0], !=, vi.bos);
	engine_tokens_free(&t);
	engine_model_free(m);
}

TEST(detokenize_round_trips)
{
	engine_model *m = synthetic(NULL);
	const char *texts[] = {"",
			       "Hello, world!",
			       "  leading and trailing  ",
			       "tabs\tand\nnewlines\r\n",
			       "日本語 and emoji 👨‍👩‍👧 ok",
			       "it's 12345 <tool_call> done",
			       "\xef\xbf\xbd"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct engine_tokens t = tokenize(m, texts[i], strlen(texts[i]), 0);
		struct buf out = BUF_INIT;
		CHECK_INT(engine_detokenize(m, t.ids, t.len, 0, &out), ==, 0);
		CHECK_STR(out.data ? out.data : "", texts[i]);
		buf_free(&out);
		engine_tokens_free(&t);
	}
	engine_model_free(m);
}

/* Feeds tokens one at a time: what comes out is always valid UTF-8, and
 * all of it together is the text. */
TEST(incremental_detokenizer_holds_split_characters)
{
	engine_model *m = synthetic(NULL);
	/* The synthetic vocabulary has no merges inside these characters, so
	 * each is split over several byte tokens. */
	const char *text = "a😀b中文ż🏳️‍🌈 end";
	struct engine_tokens t = tokenize(m, text, strlen(text), 0);
	CHECK_INT(t.len, >, 20);
	engine_detok *d = engine_detok_new(m, 0);
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < t.len; i++) {
		size_t before = out.len;
		CHECK_INT(engine_detok_push(d, t.ids[i], &out), ==, 0);
		/* Everything emitted so far is a prefix of the text and ends on
		 * a character boundary. */
		CHECK(out.len <= strlen(text));
		CHECK(memcmp(out.data ? out.data : "", text, out.len) == 0);
		CHECK_INT(unicode_incomplete_tail(out.data ? out.data : "", out.len), ==, 0);
		CHECK(out.len == before || (text[out.len] & 0xC0) != 0x80);
	}
	engine_detok_flush(d, &out);
	CHECK_STR(out.data, text);
	engine_detok_free(d);

	/* The four byte tokens of 😀: nothing until the last. */
	d = engine_detok_new(m, 0);
	buf_reset(&out);
	const unsigned char smile[] = {0xF0, 0x9F, 0x98, 0x80};
	struct engine_tokens one = ENGINE_TOKENS_INIT;
	for (int i = 0; i < 4; i++) {
		engine_tokens_free(&one);
		one = tokenize(m, "\xf0\x9f\x98\x80", 4, 0);
	}
	CHECK_INT(one.len, ==, 4);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(engine_detok_push(d, one.ids[i], &out), ==, 0);
		CHECK_INT(out.len, ==, 0);
	}
	CHECK_INT(engine_detok_push(d, one.ids[3], &out), ==, 0);
	CHECK(out.len == 4 && memcmp(out.data, smile, 4) == 0);
	/* A character cut short by another: U+FFFD per byte, then the rest. */
	buf_reset(&out);
	CHECK_INT(engine_detok_push(d, one.ids[0], &out), ==, 0);
	CHECK_INT(engine_detok_push(d, one.ids[1], &out), ==, 0);
	struct engine_tokens x = tokenize(m, "x", 1, 0);
	CHECK_INT(engine_detok_push(d, x.ids[0], &out), ==, 0);
	CHECK_STR(out.data, "\xef\xbf\xbd\xef\xbf\xbdx");
	/* The stream ends inside a character. */
	buf_reset(&out);
	CHECK_INT(engine_detok_push(d, one.ids[0], &out), ==, 0);
	CHECK_INT(out.len, ==, 0);
	engine_detok_flush(d, &out);
	CHECK_STR(out.data, "\xef\xbf\xbd");
	/* A lone continuation byte is never emitted as is. */
	buf_reset(&out);
	CHECK_INT(engine_detok_push(d, one.ids[3], &out), ==, 0);
	CHECK_STR(out.data, "\xef\xbf\xbd");
	CHECK_INT(engine_detok_push(d, -5, &out), ==, -EINVAL);
	engine_detok_free(d);
	engine_detok_free(NULL);
	buf_free(&out);
	engine_tokens_free(&one);
	engine_tokens_free(&x);
	engine_tokens_free(&t);
	engine_model_free(m);
}

TEST(refuses_unknown_tokenizers)
{
	const char *spm[] = {"--set-str", "tokenizer.ggml.model=llama", NULL};
	support_refused(spm, "tokenizer.ggml.model is 'llama': only 'gpt2' (byte-level BPE) is supported "
			     "(SentencePiece vocabularies are not supported yet)");
	const char *pre[] = {"--set-str", "tokenizer.ggml.pre=deepseek-llm", NULL};
	support_refused(pre, "tokenizer.ggml.pre is 'deepseek-llm': unknown pre-tokenizer");
	const char *no_pre[] = {"--omit-key", "tokenizer.ggml.pre", NULL};
	support_refused(no_pre, "metadata key tokenizer.ggml.pre is missing");
	const char *no_merges[] = {"--omit-key", "tokenizer.ggml.merges", NULL};
	support_refused(no_merges, "metadata key tokenizer.ggml.merges is missing");
	const char *bad_bos[] = {"--set-u32", "tokenizer.ggml.bos_token_id=100000", NULL};
	support_refused(bad_bos, "tokenizer.ggml.bos_token_id is 100000, past the vocabulary");
	const char *no_bos[] = {"--omit-key", "tokenizer.ggml.bos_token_id", NULL};
	support_refused(no_bos, "adds a BOS token but tokenizer.ggml.bos_token_id is missing");
}

TEST(long_inputs_tokenize_in_linear_time)
{
	engine_model *m = synthetic(NULL);
	size_t n = 1 << 20;
	char *text = xmalloc(n);
	const char *kinds[] = {"a", " ", "th", "1", "é"};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t step = strlen(kinds[k]);
		for (size_t i = 0; i + step <= n; i += step)
			memcpy(text + i, kinds[k], step);
		long long start = th_now_ms();
		struct engine_tokens t = tokenize(m, text, n - n % step, 0);
		long long ms = th_now_ms() - start;
		CHECK_INT(t.len, >, 0);
		/* One word of a million bytes: a quadratic merge loop would take
		 * minutes. */
		if (ms > 20000)
			th_fail(__FILE__, __LINE__, "1 MiB of '%s' took %lld ms", kinds[k], ms);
		struct buf out = BUF_INIT;
		CHECK_INT(engine_detokenize(m, t.ids, t.len, 0, &out), ==, 0);
		CHECK(out.len == n - n % step && memcmp(out.data, text, out.len) == 0);
		buf_free(&out);
		engine_tokens_free(&t);
	}
	struct engine_tokens t = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(m, text, (size_t)ENGINE_TOKENIZE_MAX_BYTES + 1, 0, &t), ==, -E2BIG);
	free(text);
	engine_model_free(m);
}
