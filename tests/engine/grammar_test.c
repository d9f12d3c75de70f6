/* Grammar-constrained sampling: what each GBNF construct takes and refuses
 * (fed as the tokenizer's tokens and byte by byte, which must agree),
 * malformed grammars refused with their line and column, masks equal to
 * trying every token on a copy of the state (on the small synthetic
 * vocabulary and on GPT-2's), the agents' grammar and its bounds, and a
 * thousand generations from random logits under it that each end their
 * turn within their token budget with a reply a plain checker accepts. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/grammar.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

/* A model to compile grammars against, with what the tests look up. */
struct fixture {
	engine_model *m;              /* the model */
	uint32_t n_vocab;             /* its tokens */
	engine_token byte_token[256]; /* the token of each single byte */
	engine_token ends[3];         /* its end-of-turn tokens */
	uint32_t n_ends;              /* how many */
	engine_token control;         /* a control token that is not one of them, or -1 */
};

static void fixture_open(struct fixture *f, const char *vocab)
{
	const char *args[] = {"--vocab",
			      vocab,
			      "--n-embd",
			      "32",
			      "--n-layer",
			      "1",
			      "--n-head",
			      "2",
			      "--n-head-kv",
			      "1",
			      "--n-ff",
			      "32",
			      "--tied",
			      "--chat-template",
			      strcmp(vocab, "gpt2") == 0 ? "none" : "chatml",
			      NULL};
	char *path = support_write_model(th_tempdir(), "m.gguf", args);
	f->m = support_open(path, NULL);
	free(path);
	struct engine_vocab_info vi;
	engine_model_vocab_info(f->m, &vi);
	f->n_vocab = vi.n_tokens;
	f->n_ends = 0;
	engine_token ends[3] = {vi.eos, vi.eot, engine_chat_end_token(f->m)};
	for (int i = 0; i < 3; i++) {
		bool seen = ends[i] < 0;
		for (uint32_t j = 0; j < f->n_ends; j++)
			seen = seen || f->ends[j] == ends[i];
		if (!seen)
			f->ends[f->n_ends++] = ends[i];
	}
	CHECK(f->n_ends > 0);
	for (int b = 0; b < 256; b++)
		f->byte_token[b] = -1;
	f->control = -1;
	struct buf piece = BUF_INIT, special = BUF_INIT;
	for (uint32_t t = 0; t < f->n_vocab; t++) {
		buf_reset(&piece);
		buf_reset(&special);
		engine_token_piece(f->m, (engine_token)t, 0, &piece);
		engine_token_piece(f->m, (engine_token)t, ENGINE_DETOK_SPECIAL, &special);
		if (piece.len == 1 && f->byte_token[(uint8_t)piece.data[0]] < 0)
			f->byte_token[(uint8_t)piece.data[0]] = (engine_token)t;
		bool end = false;
		for (uint32_t j = 0; j < f->n_ends; j++)
			end = end || f->ends[j] == (engine_token)t;
		if (piece.len == 0 && special.len > 0 && !end && f->control < 0)
			f->control = (engine_token)t;
	}
	buf_free(&piece);
	buf_free(&special);
	for (int b = 0; b < 256; b++)
		CHECK(f->byte_token[b] >= 0);
}

static void fixture_close(struct fixture *f)
{
	engine_model_free(f->m);
}

static engine_grammar *compile_root(const struct fixture *f, const char *source, const char *root)
{
	engine_grammar *g = NULL;
	char err[512];
	int rc = engine_grammar_new(f->m, source, strlen(source), root, &g, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "cannot compile \"%s\": %s", source, err);
	return g;
}

static engine_grammar *compile(const struct fixture *f, const char *source)
{
	return compile_root(f, source, NULL);
}

enum verdict { REFUSED, PREFIX, WHOLE };

static const char *const verdict_name[] = {"refused", "a prefix", "whole"};

/* Feeds ids[0..n) to a new state: REFUSED at the first it refuses, else
 * whether the text is whole. */
static enum verdict feed(const engine_grammar *g, const engine_token *ids, size_t n)
{
	struct grammar_state *st = grammar_state_new(g);
	enum verdict v = PREFIX;
	for (size_t i = 0; i < n && v != REFUSED; i++)
		if (grammar_state_accept(st, ids[i]) < 0)
			v = REFUSED;
	if (v != REFUSED && grammar_state_complete(st))
		v = WHOLE;
	grammar_state_free(st);
	return v;
}

/* text (any bytes) fed one single-byte token a byte. */
static enum verdict judge_bytes(const struct fixture *f, const engine_grammar *g, const char *text, size_t len)
{
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	for (size_t i = 0; i < len; i++)
		engine_tokens_push(&ids, f->byte_token[(uint8_t)text[i]]);
	enum verdict v = feed(g, ids.ids, ids.len);
	engine_tokens_free(&ids);
	return v;
}

/* text (valid UTF-8) fed as the tokenizer's tokens and byte by byte. */
static enum verdict judge(const struct fixture *f, const engine_grammar *g, const char *text, size_t len)
{
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(f->m, text, len, 0, &ids), ==, 0);
	enum verdict by_tokens = feed(g, ids.ids, ids.len);
	engine_tokens_free(&ids);
	enum verdict by_bytes = judge_bytes(f, g, text, len);
	if (by_tokens != by_bytes) {
		char *shown = support_escape(text, len);
		th_fail(__FILE__, __LINE__, "\"%s\" is %s by tokens but %s byte by byte", shown,
			verdict_name[by_tokens], verdict_name[by_bytes]);
	}
	return by_tokens;
}

static void expect_at(const struct fixture *f, const engine_grammar *g, const char *text, size_t len, bool bytes_only,
		      enum verdict want, int line)
{
	enum verdict got = bytes_only ? judge_bytes(f, g, text, len) : judge(f, g, text, len);
	if (got != want) {
		char *shown = support_escape(text, len);
		th_fail(__FILE__, line, "\"%s\" is %s, expected %s", shown, verdict_name[got], verdict_name[want]);
	}
}

#define EXPECT(g, text, want) expect_at(&f, g, text, strlen(text), false, want, __LINE__)
#define EXPECT_BYTES(g, text, want) expect_at(&f, g, text, sizeof(text) - 1, true, want, __LINE__)

TEST(literals_and_classes)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	engine_grammar *g = compile(&f, "root ::= \"hello\"");
	EXPECT(g, "hello", WHOLE);
	EXPECT(g, "hell", PREFIX);
	EXPECT(g, "", PREFIX);
	EXPECT(g, "help", REFUSED);
	EXPECT(g, "hello!", REFUSED);
	engine_grammar_free(g);

	g = compile(&f, "root ::= [a-c0-9_]");
	EXPECT(g, "a", WHOLE);
	EXPECT(g, "9", WHOLE);
	EXPECT(g, "_", WHOLE);
	EXPECT(g, "d", REFUSED);
	EXPECT(g, "-", REFUSED);
	EXPECT(g, "ab", REFUSED);
	engine_grammar_free(g);

	/* Negated classes and `.` match whole characters of any length. */
	g = compile(&f, "root ::= [^a-c\\n] .");
	EXPECT(g, "dd", WHOLE);
	EXPECT(g, "\xC3\xA9\n", WHOLE);
	EXPECT(g, "\xE6\x97\xA5\xF0\x9F\x98\x80", WHOLE);
	EXPECT(g, "\xF0\x9F\x98\x80\xC3\xA9", WHOLE);
	EXPECT(g, "a", REFUSED);
	EXPECT(g, "\n", REFUSED);
	EXPECT(g, "d", PREFIX);
	engine_grammar_free(g);

	/* Escapes in literals and classes. */
	g = compile(&f, "root ::= \"\\t\\n\\r\\\\\\\"\\x41\\u00e9\" [\\]\\-\\^\\\\]+");
	EXPECT(g, "\t\n\r\\\"A\xC3\xA9]-^\\", WHOLE);
	EXPECT(g, "\t\n\r\\\"A\xC3\xA9", PREFIX);
	EXPECT(g, "\t\n\r\\\"A\xC3\xA9x", REFUSED);
	engine_grammar_free(g);

	/* Characters of several bytes, in literals and ranges. */
	g = compile(&f, "root ::= \"\xC3\xA9\" [\xCE\xB1-\xCF\x89]");
	EXPECT(g, "\xC3\xA9\xCE\xB2", WHOLE);
	EXPECT(g,
	       "\xC3\xA9"
	       "a",
	       REFUSED);
	EXPECT(g, "\xC3\xA9", PREFIX);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(repetitions)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	engine_grammar *g = compile(&f, "root ::= \"a\"{2,4} \"b\"?");
	EXPECT(g, "a", PREFIX);
	EXPECT(g, "aa", WHOLE);
	EXPECT(g, "aab", WHOLE);
	EXPECT(g, "aaaa", WHOLE);
	EXPECT(g, "aaaab", WHOLE);
	EXPECT(g, "aaaaa", REFUSED);
	EXPECT(g, "ab", REFUSED);
	EXPECT(g, "aabb", REFUSED);
	engine_grammar_free(g);

	g = compile(&f, "root ::= (\"ab\" | \"c\")* \".\"");
	EXPECT(g, ".", WHOLE);
	EXPECT(g, "abcab.", WHOLE);
	EXPECT(g, "abc", PREFIX);
	EXPECT(g, "aab", REFUSED);
	engine_grammar_free(g);

	g = compile(&f, "root ::= [0-9]+");
	EXPECT(g, "", PREFIX);
	EXPECT(g, "0", WHOLE);
	EXPECT(g, "0123456789", WHOLE);
	EXPECT(g, "1a", REFUSED);
	engine_grammar_free(g);

	g = compile(&f, "root ::= \"x\"{3} \"x\"{2,} \"y\"{0,3} \"z\"{0}");
	EXPECT(g, "xxxx", PREFIX);
	EXPECT(g, "xxxxx", WHOLE);
	EXPECT(g, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", WHOLE);
	EXPECT(g, "xxxxxyyy", WHOLE);
	EXPECT(g, "xxxxxyyyy", REFUSED);
	EXPECT(g, "xxxxxz", REFUSED);
	engine_grammar_free(g);

	/* A repetition of a group, and of a repetition. */
	g = compile(&f, "root ::= (\"a\" \"b\"?){2} [c]{1,2}{2}");
	EXPECT(g, "aacc", WHOLE);
	EXPECT(g, "abacccc", WHOLE);
	EXPECT(g, "aabcc", WHOLE);
	EXPECT(g, "aacccc", WHOLE);
	EXPECT(g, "aaccccc", REFUSED);
	EXPECT(g, "abb", REFUSED);
	EXPECT(g, "aac", PREFIX);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(rules_layout_and_recursion)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	static const char source[] = "# greetings\n"
				     "root ::= greeting \" \" name  # who\n"
				     "greeting ::= \"hi\"\n"
				     "    | \"hello\"\n"
				     "name ::= [A-Z] [a-z]* |\n"
				     "  \"you\"\n"
				     "\n"
				     "list ::= \"(\" list \")\" list | \"\"\n"
				     "pair ::= (\n"
				     "  \"<\"\n"
				     "  | \"[\"\n"
				     ") \"x\"\n";
	engine_grammar *g = compile(&f, source);
	EXPECT(g, "hi Bob", WHOLE);
	EXPECT(g, "hello you", WHOLE);
	EXPECT(g, "hello Y", WHOLE);
	EXPECT(g, "hey", REFUSED);
	EXPECT(g, "hello bob", REFUSED);
	engine_grammar_free(g);

	/* Another start rule; recursion that is not in tail position. */
	g = compile_root(&f, source, "list");
	EXPECT(g, "", WHOLE);
	EXPECT(g, "(()())", WHOLE);
	EXPECT(g, "(()", PREFIX);
	EXPECT(g, ")", REFUSED);
	char deep[402];
	for (int i = 0; i < 200; i++) {
		deep[i] = '(';
		deep[200 + i] = ')';
	}
	deep[400] = '\0';
	EXPECT(g, deep, WHOLE);
	deep[399] = '\0';
	EXPECT(g, deep, PREFIX);
	engine_grammar_free(g);

	g = compile_root(&f, source, "pair");
	EXPECT(g, "<x", WHOLE);
	EXPECT(g, "[x", WHOLE);
	EXPECT(g, "(x", REFUSED);
	engine_grammar_free(g);

	/* Alternatives that can never end are never entered: a rule that
	 * recurses forever, a class that holds nothing. */
	g = compile(&f, "root ::= \"a\" | b | [^\\x00-\xF4\x8F\xBF\xBF] \"c\"\nb ::= \"x\" b");
	EXPECT(g, "a", WHOLE);
	EXPECT(g, "x", REFUSED);
	EXPECT(g, "c", REFUSED);
	engine_grammar_free(g);

	/* A grammar whose stacks multiply: every way to split the a's. */
	g = compile(&f, "root ::= (\"a\" | \"aa\" | \"aaa\")* \"b\"");
	EXPECT(g, "aaaaaaaaaaaaaaaaaaab", WHOLE);
	EXPECT(g, "aaaaaaaaaaaaaaaaaaa", PREFIX);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(utf8_byte_by_byte)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	engine_grammar *g = compile(&f, "root ::= \"\xC3\xA9\" | \"\xC3\xAA\"");
	EXPECT_BYTES(g, "\xC3", PREFIX);
	EXPECT_BYTES(g, "\xC3\xA9", WHOLE);
	EXPECT_BYTES(g, "\xC3\xAA", WHOLE);
	EXPECT_BYTES(g, "\xC3\xA8", REFUSED);
	EXPECT_BYTES(g,
		     "\xC3"
		     "A",
		     REFUSED);
	EXPECT_BYTES(g, "\xC4", REFUSED);
	engine_grammar_free(g);

	g = compile(&f, "root ::= [^\\x00-\\x7F]+");
	EXPECT_BYTES(g, "\xE6\x97\xA5\xE6\x9C\xAC", WHOLE);
	EXPECT_BYTES(g, "\xE6", PREFIX);
	EXPECT_BYTES(g, "\xE6\x97", PREFIX);
	EXPECT_BYTES(g, "\xF0\x9F\x98", PREFIX);
	EXPECT_BYTES(g, "\xC0\x80", REFUSED);         /* overlong */
	EXPECT_BYTES(g, "\xE0\x80\x80", REFUSED);     /* overlong */
	EXPECT_BYTES(g, "\xED\xA0\x80", REFUSED);     /* a surrogate */
	EXPECT_BYTES(g, "\xF4\x90\x80\x80", REFUSED); /* past U+10FFFF */
	EXPECT_BYTES(g, "\x80", REFUSED);             /* a stray continuation */
	EXPECT_BYTES(g, "\xFF", REFUSED);
	engine_grammar_free(g);

	/* A class of characters of one length only refuses the others' first
	 * byte; a range refuses a lead byte none of its characters have. */
	g = compile(&f, "root ::= [\\u0800-\\u08FF]");
	EXPECT_BYTES(g, "\xE0\xA0\x80", WHOLE);
	EXPECT_BYTES(g, "\xE0\xA3", PREFIX);
	EXPECT_BYTES(g, "\xE0\xA4", REFUSED);
	EXPECT_BYTES(g, "\xE1", REFUSED);
	EXPECT_BYTES(g, "\xC3", REFUSED);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(malformed_grammars)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	static const struct {
		const char *source;
		int rc;
		const char *message;
	} bad[] = {
		{"root ::= \"abc\n", -EINVAL, "line 1, column 10: unterminated literal"},
		{"root ::= a\na ::= \"x\"\nb ::= [abc", -EINVAL, "line 3, column 11: expected ']'"},
		{"root ::= [a-z\n  ]", -EINVAL, "line 1, column 14: expected ']'"},
		{"root ::= []", -EINVAL, "line 1, column 11: empty character class"},
		{"root ::= [^]", -EINVAL, "line 1, column 12: empty character class"},
		{"root ::= [z-a]", -EINVAL, "line 1, column 11: bad range: U+007A comes after U+0061"},
		{"root ::= \"a\" foo", -EINVAL, "line 1, column 14: unknown rule 'foo'"},
		{"root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"", -EINVAL,
		 "line 2, column 1: rule 'expr' is left-recursive"},
		{"root ::= a\na ::= b a | \"x\"\nb ::= \"\" | \"y\"", -EINVAL,
		 "line 2, column 1: rule 'a' is left-recursive"},
		{"root ::= x\nx ::= (x \"y\")? \"z\"", -EINVAL, "rule 'x' is left-recursive"},
		{"root ::= \"a\"{3,1}", -EINVAL,
		 "line 1, column 13: bad repetition: {3,1} has its upper bound below its lower"},
		{"root ::= \"a\"{x}", -EINVAL, "line 1, column 14: expected a number"},
		{"root ::= \"a\"{2", -EINVAL, "line 1, column 15: expected '}'"},
		{"root ::= \"a\"{99999999}", -E2BIG, "line 1, column 14: repetition count too large"},
		{"root ::= \"abcdefghij\"{1000}{1000}", -E2BIG,
		 "line 1, column 28: the repetition grows the grammar past"},
		{"root ::= [a-z]{0,1000000}", -E2BIG, "the repetition grows the grammar past 2097152 elements"},
		{"", -EINVAL, "line 1, column 1: the grammar has no rules"},
		{"  # a comment only\n\n", -EINVAL, "line 1, column 1: the grammar has no rules"},
		{"root ::= \"a\"\nroot ::= \"b\"", -EINVAL, "line 2, column 1: rule 'root' is defined twice"},
		{"rot ::= \"a\"", -EINVAL, "line 1, column 1: no rule named 'root'"},
		{"root ::= (\"a\"", -EINVAL, "line 1, column 14: expected ')'"},
		{"root ::= \"a\")", -EINVAL, "line 1, column 13: unexpected ')'"},
		{"root ::= *", -EINVAL, "line 1, column 10: '*' has nothing to repeat"},
		{"root ::= \"\\q\"", -EINVAL, "line 1, column 11: unknown escape '\\q'"},
		{"root ::= \"\\x4\"", -EINVAL, "line 1, column 11: expected 2 hex digits after '\\x'"},
		{"root ::= \"\\ud800\"", -EINVAL, "line 1, column 11: \\uD800 is a surrogate, not a character"},
		{"root ::= \"\xFF\"", -EINVAL, "line 1, column 11: invalid UTF-8"},
		{"root ::= \"a\" root", -EINVAL, "line 1, column 1: rule 'root' can never end"},
		{"root = \"a\"", -EINVAL, "line 1, column 6: expected '::='"},
		{"root ::= \"a\"\n  b ::= \"c\"", -EINVAL, "line 2, column 5: unexpected ':'"},
		{"::= \"a\"", -EINVAL, "line 1, column 1: expected a rule name, found ':'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		engine_grammar *g = (engine_grammar *)&f; /* must be reset */
		char err[256] = "";
		int rc = engine_grammar_new(f.m, bad[i].source, strlen(bad[i].source), NULL, &g, err, sizeof(err));
		if (rc != bad[i].rc || g != NULL || !strstr(err, bad[i].message))
			th_fail(__FILE__, __LINE__, "\"%s\": got %d \"%s\", expected %d \"%s\"", bad[i].source, rc, err,
				bad[i].rc, bad[i].message);
	}

	/* A start rule that is not there. */
	engine_grammar *none = NULL;
	char msg[256];
	CHECK_INT(engine_grammar_new(f.m, "root ::= \"a\"", 12, "start", &none, msg, sizeof(msg)), ==, -EINVAL);
	CHECK_STR(msg, "line 1, column 1: no rule named 'start'");

	/* Groups nested too deeply for the reader's stack. */
	struct buf src = BUF_INIT;
	buf_append_str(&src, "root ::= ");
	for (int i = 0; i < 200; i++)
		buf_append_char(&src, '(');
	engine_grammar *g = NULL;
	char err[256];
	CHECK_INT(engine_grammar_new(f.m, src.data, src.len, NULL, &g, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "line 1, column 138: groups nest deeper than 128");

	/* A source past 64 KiB, however well formed. */
	buf_reset(&src);
	buf_append_str(&src, "root ::= \"a\"\n");
	while (src.len <= GRAMMAR_MAX_SOURCE)
		buf_append_str(&src, "# filler filler filler filler filler filler filler filler\n");
	CHECK_INT(engine_grammar_new(f.m, src.data, src.len, NULL, &g, err, sizeof(err)), ==, -E2BIG);
	CHECK(g == NULL);
	CHECK_CONTAINS(err, "more than the 65536 allowed");
	/* ... which compiles once within the limit. */
	CHECK_INT(engine_grammar_new(f.m, src.data, GRAMMAR_MAX_SOURCE, NULL, &g, err, sizeof(err)), ==, 0);
	engine_grammar_free(g);
	buf_free(&src);

	/* A message is cut to the buffer, never overrun. */
	char small[12];
	CHECK_INT(engine_grammar_new(f.m, "root ::= [", 10, NULL, &g, small, sizeof(small)), ==, -EINVAL);
	CHECK_STR(small, "line 1, col");
	engine_grammar_free(NULL);
	fixture_close(&f);
}

/* Whether the mask left token t's logit alone. */
static bool kept(const float *logits, engine_token t)
{
	return !isinf(logits[t]);
}

TEST(end_of_turn)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	CHECK_INT(f.n_ends, ==, 3);
	CHECK(f.control >= 0);
	engine_grammar *g = compile(&f, "root ::= \"ab\" \"c\"?");
	float *logits = xcalloc(f.n_vocab, sizeof(*logits));
	for (uint32_t e = 0; e < f.n_ends; e++) {
		struct grammar_state *st = grammar_state_new(g);
		memset(logits, 0, f.n_vocab * sizeof(*logits));
		grammar_state_mask(st, logits, 100);
		CHECK(!kept(logits, f.ends[e]));
		CHECK(!kept(logits, f.control));
		CHECK(kept(logits, f.byte_token['a']));
		CHECK(!kept(logits, f.byte_token['b']));
		CHECK_INT(grammar_state_accept(st, f.ends[e]), ==, -EINVAL);
		CHECK_INT(grammar_state_accept(st, f.control), ==, -EINVAL);
		CHECK_INT(grammar_state_accept(st, f.byte_token['x']), ==, -EINVAL);
		CHECK_INT(grammar_state_accept(st, -1), ==, -EINVAL);
		CHECK_INT(grammar_state_accept(st, (engine_token)f.n_vocab), ==, -EINVAL);
		/* Refusals leave the state as it was. */
		CHECK_INT(grammar_state_accept(st, f.byte_token['a']), ==, 0);
		CHECK(!grammar_state_complete(st));
		CHECK_INT(grammar_state_accept(st, f.byte_token['b']), ==, 0);
		CHECK(grammar_state_complete(st));
		CHECK(!grammar_state_finished(st));
		memset(logits, 0, f.n_vocab * sizeof(*logits));
		grammar_state_mask(st, logits, 100);
		for (uint32_t k = 0; k < f.n_ends; k++)
			CHECK(kept(logits, f.ends[k]));
		CHECK(kept(logits, f.byte_token['c']));
		CHECK(!kept(logits, f.control));
		/* With one token left only the end of the turn fits. */
		memset(logits, 0, f.n_vocab * sizeof(*logits));
		grammar_state_mask(st, logits, 1);
		CHECK(!kept(logits, f.byte_token['c']));
		CHECK(kept(logits, f.ends[e]));
		CHECK_INT(grammar_state_accept(st, f.ends[e]), ==, 0);
		CHECK(grammar_state_finished(st));
		CHECK(grammar_state_complete(st));
		CHECK_INT(grammar_state_accept(st, f.byte_token['c']), ==, -EINVAL);
		CHECK_INT(grammar_state_accept(st, f.ends[e]), ==, -EINVAL);
		/* Finished: the end of the turn is all that stays allowed. */
		memset(logits, 0, f.n_vocab * sizeof(*logits));
		grammar_state_mask(st, logits, 100);
		for (uint32_t t = 0; t < f.n_vocab; t++) {
			bool end = false;
			for (uint32_t k = 0; k < f.n_ends; k++)
				end = end || f.ends[k] == (engine_token)t;
			CHECK(kept(logits, (engine_token)t) == end);
		}
		grammar_state_free(st);
	}
	/* A logit already -inf stays so; the mask only lowers. */
	struct grammar_state *st = grammar_state_new(g);
	for (uint32_t t = 0; t < f.n_vocab; t++)
		logits[t] = 1.5f;
	logits[f.byte_token['a']] = -INFINITY;
	grammar_state_mask(st, logits, 100);
	CHECK(isinf(logits[f.byte_token['a']]));
	for (uint32_t t = 0; t < f.n_vocab; t++)
		CHECK(isinf(logits[t]) || logits[t] == 1.5f);
	grammar_state_free(st);
	grammar_state_free(NULL);
	free(logits);
	engine_grammar_free(g);
	fixture_close(&f);
}

static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fails unless st's mask (without a budget) keeps exactly the tokens that
 * a copy of st accepts. Returns how many it keeps. */
static uint32_t check_mask(const struct fixture *f, struct grammar_state *st, const char *what)
{
	float *logits = xcalloc(f->n_vocab, sizeof(*logits));
	grammar_state_mask(st, logits, UINT32_MAX);
	/* A refused token leaves the copy as it was, so only an accepted one
	 * needs a fresh copy. */
	struct grammar_state *copy = grammar_state_clone(st);
	uint32_t n = 0;
	for (uint32_t t = 0; t < f->n_vocab; t++) {
		bool accepted = grammar_state_accept(copy, (engine_token)t) == 0;
		if (accepted) {
			grammar_state_free(copy);
			copy = grammar_state_clone(st);
		}
		if (accepted != kept(logits, (engine_token)t)) {
			struct buf piece = BUF_INIT;
			engine_token_piece(f->m, (engine_token)t, ENGINE_DETOK_SPECIAL, &piece);
			char *shown = support_escape(piece.data ? piece.data : "", piece.len);
			th_fail(__FILE__, __LINE__, "%s: token %u \"%s\" is %s by the mask but %s by accept", what, t,
				shown, kept(logits, (engine_token)t) ? "kept" : "masked",
				accepted ? "accepted" : "refused");
		}
		n += accepted;
	}
	grammar_state_free(copy);
	free(logits);
	return n;
}

/* Walks g from its start, a random allowed token a step (single bytes
 * half the time, to stop inside characters), checking every mask. */
static void walk_checking(const struct fixture *f, const engine_grammar *g, uint64_t seed, int steps, const char *what)
{
	struct grammar_state *st = grammar_state_new(g);
	float *logits = xmalloc(f->n_vocab * sizeof(*logits));
	engine_token *allowed = xmalloc(f->n_vocab * sizeof(*allowed));
	for (int step = 0; step < steps && !grammar_state_finished(st); step++) {
		check_mask(f, st, what);
		memset(logits, 0, f->n_vocab * sizeof(*logits));
		grammar_state_mask(st, logits, UINT32_MAX);
		uint32_t n = 0;
		bool bytes = rng_next(&seed) & 1;
		for (uint32_t t = 0; t < f->n_vocab; t++) {
			bool single = false;
			for (int b = 0; b < 256 && bytes; b++)
				single = single || f->byte_token[b] == (engine_token)t;
			if (kept(logits, (engine_token)t) && (!bytes || single))
				allowed[n++] = (engine_token)t;
		}
		if (n == 0)
			break;
		CHECK_INT(grammar_state_accept(st, allowed[rng_next(&seed) % n]), ==, 0);
	}
	free(allowed);
	free(logits);
	grammar_state_free(st);
}

/* Feeds text as the tokenizer's tokens, checking the mask before each and
 * after the last. */
static void check_along(const struct fixture *f, const engine_grammar *g, const char *text)
{
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	CHECK_INT(engine_tokenize(f->m, text, strlen(text), 0, &ids), ==, 0);
	struct grammar_state *st = grammar_state_new(g);
	for (size_t i = 0; i < ids.len; i++) {
		check_mask(f, st, text);
		CHECK_INT(grammar_state_accept(st, ids.ids[i]), ==, 0);
	}
	check_mask(f, st, text);
	CHECK(grammar_state_complete(st));
	grammar_state_free(st);
	engine_tokens_free(&ids);
}

TEST(masks_equal_trying_every_token)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	static const char *const grammars[] = {
		/* JSON-ish: nesting, strings with escapes, numbers. */
		"root ::= value\n"
		"value ::= object | array | string | number | \"true\" | \"null\"\n"
		"object ::= \"{\" ( string \":\" value (\",\" string \":\" value)* )? \"}\"\n"
		"array ::= \"[\" ( value (\", \" value)* )? \"]\"\n"
		"string ::= \"\\\"\" ( [^\"\\\\] | \"\\\\\" [\"\\\\nt] )* \"\\\"\"\n"
		"number ::= \"-\"? [0-9]+ (\".\" [0-9]+)?\n",
		/* Free text then a fence, with characters of every length. */
		"root ::= [^`]* \"```\" [a-z]{1,3}\n",
		/* Text in words of several scripts. */
		"root ::= word (\" \" word){0,8}\nword ::= [a-zA-Z]+ | [\\u00C0-\\u024F]+ | [\\u3040-\\u30FF]{1,4} | "
		"[^\\x00-\\uFFFF]\n",
		/* Ambiguous: many stacks at once. */
		"root ::= (\"a\" | \"ab\" | \"b\" | [a-z] [a-z])* \".\"\n",
	};
	for (size_t i = 0; i < sizeof(grammars) / sizeof(grammars[0]); i++) {
		engine_grammar *g = compile(&f, grammars[i]);
		for (uint64_t seed = 1; seed <= 2; seed++)
			walk_checking(&f, g, seed * 7919 + i, 12, grammars[i]);
		engine_grammar_free(g);
	}
	engine_grammar *g = NULL;
	char err[256];
	CHECK_INT(engine_grammar_agent(f.m, 40, 30, &g, err, sizeof(err)), ==, 0);
	for (uint64_t seed = 1; seed <= 2; seed++)
		walk_checking(&f, g, seed, 25, "the agents' grammar");
	check_along(&f, g, "Let me look at the tests first.\n\n```bash\nls -la tests/ && cat README.md\n```");
	check_along(&f, g, "```bash\n\xC3\xA9\xE6\x97\xA5 \xF0\x9F\x98\x80\n\n```");
	engine_grammar_free(g);
	fixture_close(&f);
}

/* A state after text (any bytes), fed byte by byte. */
static struct grammar_state *state_after(const struct fixture *f, const engine_grammar *g, const char *text, size_t len)
{
	struct grammar_state *st = grammar_state_new(g);
	for (size_t i = 0; i < len; i++)
		CHECK_INT(grammar_state_accept(st, f->byte_token[(uint8_t)text[i]]), ==, 0);
	return st;
}

/* Checks a reply against the agents' format with nothing of the grammar's:
 * text without a backtick (none, or ending with a newline) of at most
 * think_max bytes, "```bash\n", a body of 1..block_max bytes without a
 * backtick, "\n```", and no control characters but tab, newline and CR.
 * Returns NULL, or what is wrong. */
static const char *check_reply(const char *text, size_t len, uint32_t think_max, uint32_t block_max)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
			return "a control character";
	}
	static const char open[] = "```bash\n", close[] = "\n```";
	const char *tick = memchr(text, '`', len);
	if (!tick)
		return "no fence";
	size_t think = (size_t)(tick - text);
	if (think > think_max)
		return "too much text before the fence";
	if (think > 0 && text[think - 1] != '\n')
		return "the fence does not start a line";
	if (len - think < 12 || memcmp(tick, open, 8) != 0)
		return "no ```bash line";
	if (memcmp(text + len - 4, close, 4) != 0)
		return "the reply does not end with the closing fence";
	const char *body = tick + 8;
	size_t body_len = (size_t)(text + len - 4 - body);
	if (body_len < 1 || body_len > block_max)
		return "a body of the wrong length";
	if (memchr(body, '`', body_len))
		return "a backtick in the body";
	return NULL;
}

/* The tokens of one generation: random logits, the mask, the sampler. */
static uint32_t generate(const struct fixture *f, const engine_grammar *g, engine_sampler *s, uint64_t *rng,
			 uint32_t budget, float *logits, struct engine_tokens *out)
{
	struct grammar_state *st = grammar_state_new(g);
	out->len = 0;
	for (uint32_t step = 0; step < budget && !grammar_state_finished(st); step++) {
		/* Uniform in [-5, 5): a random-weight model's logits, near enough. */
		for (uint32_t t = 0; t < f->n_vocab; t++) {
			*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
			logits[t] = (float)(*rng >> 40) * 0x1.0p-24f * 10.0f - 5.0f;
		}
		grammar_state_mask(st, logits, budget - step);
		engine_token t = engine_sampler_sample(s, logits);
		CHECK(kept(logits, t));
		CHECK_INT(grammar_state_accept(st, t), ==, 0);
		engine_tokens_push(out, t);
	}
	bool finished = grammar_state_finished(st);
	grammar_state_free(st);
	CHECK(finished);
	return (uint32_t)out->len;
}

TEST(agent_generations_from_random_logits)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	enum { THINK = 40, BLOCK = 30, RUNS = 1000 };
	engine_grammar *g = NULL;
	char err[256];
	CHECK_INT(engine_grammar_agent(f.m, THINK, BLOCK, &g, err, sizeof(err)), ==, 0);
	struct engine_sampler_params p;
	engine_sampler_defaults(&p);
	p.seed = 7;
	engine_sampler *s = engine_sampler_new(&p, f.n_vocab);
	float *logits = xmalloc(f.n_vocab * sizeof(*logits));
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	struct buf text = BUF_INIT;
	uint64_t rng = 12345;
	/* The shortest reply is "```bash\nX\n```" and the end: 14 tokens. */
	uint32_t at_budget = 0, with_text = 0, long_body = 0;
	for (int run = 0; run < RUNS; run++) {
		uint32_t budget = run % 4 == 0 ? 14u + (uint32_t)run % 3 : 14u + (uint32_t)(rng_next(&rng) % 47);
		uint32_t used = generate(&f, g, s, &rng, budget, logits, &ids);
		CHECK_INT(used, <=, budget);
		at_budget += used == budget;
		bool end = false;
		for (uint32_t k = 0; k < f.n_ends; k++)
			end = end || ids.ids[used - 1] == f.ends[k];
		CHECK(end);
		buf_reset(&text);
		CHECK_INT(engine_detokenize(f.m, ids.ids, used - 1, 0, &text), ==, 0);
		const char *wrong = check_reply(text.data ? text.data : "", text.len, THINK, BLOCK);
		if (wrong) {
			char *shown = support_escape(text.data, text.len);
			th_fail(__FILE__, __LINE__, "run %d (budget %u): %s in \"%s\"", run, budget, wrong, shown);
		}
		with_text += text.data[0] != '`';
		long_body += text.len - (size_t)((const char *)memchr(text.data, '`', text.len) - text.data) > 20;
	}
	/* The budget was what ended many of them (the forced finish), and the
	 * replies vary. */
	CHECK_INT(at_budget, >=, RUNS / 10);
	CHECK_INT(with_text, >=, RUNS / 10);
	CHECK_INT(long_body, >=, RUNS / 10);
	buf_free(&text);
	engine_tokens_free(&ids);
	free(logits);
	engine_sampler_free(s);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(gpt2_vocabulary)
{
	struct fixture f;
	fixture_open(&f, "gpt2");
	CHECK_INT(f.n_vocab, ==, 50257);
	engine_grammar *g = NULL;
	char err[256];
	CHECK_INT(engine_grammar_agent(f.m, 200, 100, &g, err, sizeof(err)), ==, 0);
	/* Each state is reached as a generation would reach it, a mask before
	 * each token (so that the mask's chain follows the text), then bytes
	 * that stop inside a character or a fence. */
	static const struct {
		const char *text;  /* fed as the tokenizer's tokens */
		const char *bytes; /* then byte by byte */
		uint32_t least;    /* the fewest tokens the mask keeps */
	} states[] = {
		{"", "", 40000},
		{"I will list the files first.\n", "", 40000},
		{"Almost at the end of the text: the bound is near! 0123456789 0123456789 0123456789 0123456789 "
		 "0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 "
		 "01234",
		 "", 10},
		{"Caf", "\xC3", 1},
		{"ok\n```bash\nls -la", "", 40000},
		{"ok\n", "``", 1},
		{"```bash\nls -la", "\n`", 1},
	};
	float *logits = xmalloc(f.n_vocab * sizeof(*logits));
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		struct grammar_state *st = grammar_state_new(g);
		struct engine_tokens ids = ENGINE_TOKENS_INIT;
		CHECK_INT(engine_tokenize(f.m, states[i].text, strlen(states[i].text), 0, &ids), ==, 0);
		for (size_t k = 0; k < ids.len; k++) {
			memset(logits, 0, f.n_vocab * sizeof(*logits));
			grammar_state_mask(st, logits, UINT32_MAX);
			CHECK(kept(logits, ids.ids[k]));
			CHECK_INT(grammar_state_accept(st, ids.ids[k]), ==, 0);
		}
		for (const char *b = states[i].bytes; *b; b++)
			CHECK_INT(grammar_state_accept(st, f.byte_token[(uint8_t)*b]), ==, 0);
		uint32_t n = check_mask(&f, st, states[i].text);
		if (n < states[i].least)
			th_fail(__FILE__, __LINE__, "after \"%s\" only %u tokens are allowed", states[i].text, n);
		engine_tokens_free(&ids);
		grammar_state_free(st);
	}

	/* Generations from random logits, as in the test below, with GPT-2's
	 * tokens of up to 128 bytes. */
	struct engine_sampler_params p;
	engine_sampler_defaults(&p);
	engine_sampler *s = engine_sampler_new(&p, f.n_vocab);
	struct engine_tokens ids = ENGINE_TOKENS_INIT;
	struct buf text = BUF_INIT;
	uint64_t rng = 99;
	for (int run = 0; run < 8; run++) {
		uint32_t budget = 14 + (uint32_t)(rng_next(&rng) % 50);
		uint32_t used = generate(&f, g, s, &rng, budget, logits, &ids);
		CHECK_INT(used, <=, budget);
		buf_reset(&text);
		CHECK_INT(engine_detokenize(f.m, ids.ids, used - 1, 0, &text), ==, 0);
		const char *wrong = check_reply(text.data ? text.data : "", text.len, 200, 100);
		if (wrong)
			th_fail(__FILE__, __LINE__, "run %d (budget %u): %s in \"%s\"", run, budget, wrong,
				support_escape(text.data, text.len));
	}
	buf_free(&text);
	engine_tokens_free(&ids);
	engine_sampler_free(s);
	free(logits);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(agent_grammar_bounds)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	engine_grammar *g = NULL, *from_source = NULL;
	char err[256];
	CHECK_INT(engine_grammar_agent(f.m, 40, 30, &g, err, sizeof(err)), ==, 0);
	char *source = engine_grammar_agent_source(40, 30);
	CHECK_CONTAINS(source, "root ::= think \"```bash\\n\" body \"\\n```\"");
	from_source = compile(&f, source);
	free(source);
	static const char thirty[] = "echo 0123456789012345678901234";
	static const char thirty_nine[] = "Let me look at the files in this repo..";
	CHECK_INT(strlen(thirty), ==, 30);
	CHECK_INT(strlen(thirty_nine), ==, 39);
	static const struct {
		const char *text;
		enum verdict want;
	} cases[] = {
		{"```bash\nls\n```", WHOLE},
		{"```bash\nls\n", PREFIX},
		{"I look.\n```bash\nls -la\n```", WHOLE},
		{"I look.\n\nThen:\n```bash\nls\n```", WHOLE},
		{"I look.```bash\nls\n```", REFUSED},     /* the fence must open a line */
		{"I `look`.\n```bash\nls\n```", REFUSED}, /* a backtick in the text */
		{"```bash\n\n```", REFUSED},              /* an empty body */
		{"```bash\n\n\n```", WHOLE},              /* a body of one newline */
		{"```bash\nls `pwd`\n```", REFUSED},      /* a backtick in the body */
		{"```bash\nls\n```\n", REFUSED},          /* nothing after the fence */
		{"```sh\nls\n```", REFUSED},
		{"\x01\n```bash\nls\n```", REFUSED}, /* a control character */
		{"a\tb\r\n```bash\nls\n```", WHOLE},
		{"```bash\necho 0123456789012345678901234\n```", WHOLE},
		{"```bash\necho 01234567890123456789012345\n```", REFUSED},
		{"Let me look at the files in this repo..\n```bash\nls\n```", WHOLE},
		{"Let me look at the files in this repo...\n```bash\nls\n```", REFUSED},
		/* Bytes, not characters: 19 two-byte characters, 'a' and '\n' are 40. */
		{"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3"
		 "\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
		 "a\n```bash\nls\n```",
		 WHOLE},
		{"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3"
		 "\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\n```bash\nls\n```",
		 REFUSED},
		{"```bash\n\xF0\x9F\x98\x80\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6"
		 "\x97\xA5\xE6\x97\xA5"
		 "ab\n```",
		 WHOLE},
		{"```bash\n\xF0\x9F\x98\x80\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6"
		 "\x97\xA5\xE6\x97\xA5"
		 "abc\n```",
		 REFUSED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT(g, cases[i].text, cases[i].want);
		EXPECT(from_source, cases[i].text, cases[i].want);
	}
	engine_grammar_free(g);
	engine_grammar_free(from_source);

	/* No text at all before the block. */
	CHECK_INT(engine_grammar_agent(f.m, 0, 5, &g, err, sizeof(err)), ==, 0);
	EXPECT(g, "```bash\nls\n```", WHOLE);
	EXPECT(g, "\n```bash\nls\n```", REFUSED);
	engine_grammar_free(g);

	CHECK_INT(engine_grammar_agent(f.m, 40, 0, &g, err, sizeof(err)), ==, -EINVAL);
	CHECK(g == NULL);
	CHECK_CONTAINS(err, "at least 1 byte");
	CHECK_INT(engine_grammar_agent(f.m, 40000, 30, &g, err, sizeof(err)), ==, -E2BIG);
	CHECK(g == NULL);
	/* Large bounds compile past the 64 KiB a caller's source may have. */
	CHECK_INT(engine_grammar_agent(f.m, 4000, 4000, &g, err, sizeof(err)), ==, 0);
	EXPECT(g, "I will look.\n```bash\nls\n```", WHOLE);
	engine_grammar_free(g);
	fixture_close(&f);
}

TEST(budget_forces_the_shortest_finish)
{
	struct fixture f;
	fixture_open(&f, "synthetic");
	engine_grammar *g = NULL;
	char err[256];
	CHECK_INT(engine_grammar_agent(f.m, 40, 30, &g, err, sizeof(err)), ==, 0);
	float *logits = xmalloc(f.n_vocab * sizeof(*logits));

	/* From the start with 14 tokens left, only "```bash\nX\n```" then the
	 * end fits: every token kept is a piece of such a reply. */
	struct grammar_state *st = grammar_state_new(g);
	memset(logits, 0, f.n_vocab * sizeof(*logits));
	grammar_state_mask(st, logits, 14);
	uint32_t n = 0;
	struct buf piece = BUF_INIT;
	for (uint32_t t = 0; t < f.n_vocab; t++) {
		if (!kept(logits, (engine_token)t))
			continue;
		n++;
		buf_reset(&piece);
		engine_token_piece(f.m, (engine_token)t, 0, &piece);
		static const char head[] = "```bash\n";
		bool ok = piece.len <= 8 ? memcmp(piece.data, head, piece.len) == 0
					 : memcmp(piece.data, head, 8) == 0 && piece.len <= 13 &&
						   memcmp(piece.data + 9, "\n```", piece.len - 9) == 0;
		if (!ok)
			th_fail(__FILE__, __LINE__, "token %u \"%s\" is kept with 14 tokens left", t,
				support_escape(piece.data, piece.len));
	}
	CHECK(n > 0);
	CHECK(kept(logits, f.byte_token['`']));
	CHECK(!kept(logits, f.byte_token['\n']));
	/* Within the margin of two, still only the shortest way. */
	memset(logits, 0, f.n_vocab * sizeof(*logits));
	grammar_state_mask(st, logits, 15);
	CHECK(!kept(logits, f.byte_token['\n']));
	CHECK(kept(logits, f.byte_token['`']));
	/* Past it, whatever still fits: a byte of text leaves 14 tokens for
	 * "\n```bash\nX\n```" and one for the end. */
	memset(logits, 0, f.n_vocab * sizeof(*logits));
	grammar_state_mask(st, logits, 16);
	CHECK(kept(logits, f.byte_token['\n']));
	CHECK(kept(logits, f.byte_token['a']));
	/* With plenty left, text. */
	memset(logits, 0, f.n_vocab * sizeof(*logits));
	grammar_state_mask(st, logits, 100);
	CHECK(kept(logits, f.byte_token['a']));
	/* A budget too small to finish in still keeps a token. */
	memset(logits, 0, f.n_vocab * sizeof(*logits));
	grammar_state_mask(st, logits, 1);
	CHECK(kept(logits, f.byte_token['`']));
	memset(logits, 0, f.n_vocab * sizeof(*logits));
	grammar_state_mask(st, logits, 0);
	CHECK(kept(logits, f.byte_token['`']));
	grammar_state_free(st);

	/* Mid-text, a budget of exactly what finishing needs is met each time:
	 * "\n```bash\nX\n```" is 14 bytes, and the end makes 15 tokens. */
	struct engine_sampler_params p;
	engine_sampler_defaults(&p);
	engine_sampler *s = engine_sampler_new(&p, f.n_vocab);
	uint64_t rng = 5;
	for (int run = 0; run < 100; run++) {
		st = state_after(&f, g, "Some text", 9);
		uint32_t used = 0;
		for (; used < 15 && !grammar_state_finished(st); used++) {
			for (uint32_t t = 0; t < f.n_vocab; t++)
				logits[t] = (float)(rng_next(&rng) % 1000) / 100.0f;
			grammar_state_mask(st, logits, 15 - used);
			CHECK_INT(grammar_state_accept(st, engine_sampler_sample(s, logits)), ==, 0);
		}
		CHECK(grammar_state_finished(st));
		grammar_state_free(st);
	}
	engine_sampler_free(s);
	buf_free(&piece);
	free(logits);
	engine_grammar_free(g);
	fixture_close(&f);
}
