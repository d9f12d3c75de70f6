/* Reading GBNF: a recursive descent over the source that builds rules of
 * elements as it goes. Repetitions become helper rules on the spot, in
 * llama.cpp's shapes: x* is h ::= x h | "", x{m,n} is m copies of x and
 * then n - m nested optionals, so every expansion is linear in its bounds. */
#include "daemon/engine/grammar_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/engine/unicode.h"

/* A repetition without an upper bound. */
#define GRAMMAR_PARSE_UNBOUNDED UINT32_MAX
/* Largest count written in {m,n}; the element limit is the real bound. */
#define GRAMMAR_PARSE_MAX_COUNT 10000000u

struct grammar_reader {
	const char *src;               /* the source */
	size_t len;                    /* its bytes */
	size_t pos;                    /* the next byte to read */
	struct grammar_parsed *out;    /* what is being built */
	unsigned depth;                /* groups open */
	char *err;                     /* the caller's message buffer */
	size_t errlen;                 /* its size */
	struct grammar_range *scratch; /* the class being read */
	uint32_t n_scratch;            /* ranges in scratch */
	uint32_t cap_scratch;          /* room in scratch */
};

void grammar_parse_error(const char *source, size_t len, uint32_t offset, char *err, size_t errlen, const char *fmt,
			 ...)
{
	if (errlen == 0)
		return;
	unsigned line = 1, column = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (source[i] == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
	}
	int n = snprintf(err, errlen, "line %u, column %u: ", line, column);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

#define READER_FAIL(r, at, rc, ...)                                                                                    \
	(grammar_parse_error((r)->src, (r)->len, (uint32_t)(at), (r)->err, (r)->errlen, __VA_ARGS__), (rc))

/* c as it should read in a message: itself when printable, else escaped. */
static const char *reader_show(char buf[8], unsigned char c)
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 8, "%c", c);
	else
		snprintf(buf, 8, "\\x%02X", c);
	return buf;
}

static int reader_peek(const struct grammar_reader *r)
{
	return r->pos < r->len ? (unsigned char)r->src[r->pos] : -1;
}

static bool reader_word_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Skips blanks and comments. With newline_ok, newlines too; without it, a
 * newline is skipped only when the next line starts with a blank, which
 * continues the rule. */
static void reader_space(struct grammar_reader *r, bool newline_ok)
{
	for (;;) {
		int c = reader_peek(r);
		if (c == ' ' || c == '\t') {
			r->pos++;
		} else if (c == '#') {
			while (r->pos < r->len && r->src[r->pos] != '\n' && r->src[r->pos] != '\r')
				r->pos++;
		} else if (c == '\n' || c == '\r') {
			if (newline_ok) {
				r->pos++;
				continue;
			}
			size_t q = r->pos;
			if (r->src[q] == '\r')
				q++;
			if (q < r->len && r->src[q] == '\n')
				q++;
			if (q < r->len && (r->src[q] == ' ' || r->src[q] == '\t'))
				r->pos = q;
			else
				return;
		} else {
			return;
		}
	}
}

static uint32_t reader_new_rule(struct grammar_reader *r, const char *name, size_t len, uint32_t offset)
{
	struct grammar_parsed *p = r->out;
	if (p->n_rules == p->cap_rules) {
		p->cap_rules = p->cap_rules ? p->cap_rules * 2 : 16;
		p->rules = xrealloc(p->rules, p->cap_rules * sizeof(*p->rules));
	}
	struct grammar_rule *rule = &p->rules[p->n_rules];
	memset(rule, 0, sizeof(*rule));
	rule->name = xstrndup(name, len);
	rule->offset = offset;
	rule->ref_offset = offset;
	return p->n_rules++;
}

/* The rule called src[start .. start + len), made (undefined) on first use. */
static uint32_t reader_rule(struct grammar_reader *r, size_t start, size_t len)
{
	uint64_t id;
	if (strmap_get(&r->out->names, r->src + start, len, &id))
		return (uint32_t)id;
	uint32_t rule = reader_new_rule(r, r->src + start, len, (uint32_t)start);
	const char *name = r->out->rules[rule].name;
	strmap_put(&r->out->names, name, len, rule);
	return rule;
}

/* A helper rule for a construct at offset inside rule parent. */
static uint32_t reader_helper(struct grammar_reader *r, uint32_t parent, size_t offset)
{
	const char *name = r->out->rules[parent].name;
	uint32_t rule = reader_new_rule(r, name, strlen(name), (uint32_t)offset);
	r->out->rules[rule].defined = true;
	return rule;
}

static int reader_push(struct grammar_reader *r, uint32_t rule, uint32_t type, uint32_t arg)
{
	struct grammar_parsed *p = r->out;
	if (p->n_elems >= GRAMMAR_PARSE_MAX_ELEMS)
		return READER_FAIL(r, r->pos, -E2BIG, "the grammar grows past %u elements", GRAMMAR_PARSE_MAX_ELEMS);
	struct grammar_rule *ru = &p->rules[rule];
	if (ru->n_elems == ru->cap_elems) {
		ru->cap_elems = ru->cap_elems ? ru->cap_elems * 2 : 8;
		ru->elems = xrealloc(ru->elems, ru->cap_elems * sizeof(*ru->elems));
	}
	ru->elems[ru->n_elems++] = (struct grammar_elem){type, arg};
	p->n_elems++;
	return 0;
}

static uint32_t reader_class_hash(const struct grammar_range *ranges, uint32_t n)
{
	return strmap_hash((const char *)ranges, n * sizeof(*ranges));
}

static void reader_class_table_put(struct grammar_parsed *p, uint32_t cls)
{
	const struct grammar_class *c = &p->classes[cls];
	uint32_t mask = p->class_table_cap - 1;
	uint32_t h = reader_class_hash(p->ranges + c->first, c->count) & mask;
	while (p->class_table[h])
		h = (h + 1) & mask;
	p->class_table[h] = cls + 1;
}

/* The class of ranges[0..n) (normalised), added when it is new. */
static uint32_t reader_class_intern(struct grammar_reader *r, const struct grammar_range *ranges, uint32_t n)
{
	struct grammar_parsed *p = r->out;
	if ((p->n_classes + 1) * 2 > p->class_table_cap) {
		free(p->class_table);
		p->class_table_cap = p->class_table_cap ? p->class_table_cap * 2 : 64;
		p->class_table = xcalloc(p->class_table_cap, sizeof(*p->class_table));
		for (uint32_t i = 0; i < p->n_classes; i++)
			reader_class_table_put(p, i);
	}
	uint32_t mask = p->class_table_cap - 1;
	for (uint32_t h = reader_class_hash(ranges, n) & mask; p->class_table[h]; h = (h + 1) & mask) {
		const struct grammar_class *c = &p->classes[p->class_table[h] - 1];
		if (c->count == n && (n == 0 || memcmp(p->ranges + c->first, ranges, n * sizeof(*ranges)) == 0))
			return p->class_table[h] - 1;
	}
	if (p->n_ranges + n > p->cap_ranges) {
		while (p->n_ranges + n > p->cap_ranges)
			p->cap_ranges = p->cap_ranges ? p->cap_ranges * 2 : 64;
		p->ranges = xrealloc(p->ranges, p->cap_ranges * sizeof(*p->ranges));
	}
	if (p->n_classes == p->cap_classes) {
		p->cap_classes = p->cap_classes ? p->cap_classes * 2 : 64;
		p->classes = xrealloc(p->classes, p->cap_classes * sizeof(*p->classes));
	}
	if (n > 0)
		memcpy(p->ranges + p->n_ranges, ranges, n * sizeof(*ranges));
	p->classes[p->n_classes] = (struct grammar_class){p->n_ranges, n};
	p->n_ranges += n;
	reader_class_table_put(p, p->n_classes);
	return p->n_classes++;
}

static int reader_hex(struct grammar_reader *r, size_t at, unsigned digits, uint32_t *out)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < digits; i++) {
		int c = reader_peek(r);
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return READER_FAIL(r, at, -EINVAL, "expected %u hex digits after '\\%c'", digits,
					   r->src[at + 1]);
		v = v * 16 + d;
		r->pos++;
	}
	*out = v;
	return 0;
}

/* One character of a literal or class: an escape or a UTF-8 sequence. */
static int reader_char(struct grammar_reader *r, uint32_t *cp)
{
	size_t at = r->pos;
	char show[8];
	if (r->src[at] == '\\') {
		if (at + 1 >= r->len)
			return READER_FAIL(r, at, -EINVAL, "unfinished escape");
		char e = r->src[at + 1];
		r->pos += 2;
		int rc = 0;
		switch (e) {
		case 'n': *cp = '\n'; break;
		case 't': *cp = '\t'; break;
		case 'r': *cp = '\r'; break;
		case '\\':
		case '"':
		case '\'':
		case '[':
		case ']':
		case '-':
		case '^':
		case '/': *cp = (unsigned char)e; break;
		case 'x': rc = reader_hex(r, at, 2, cp); break;
		case 'u': rc = reader_hex(r, at, 4, cp); break;
		default:
			return READER_FAIL(r, at, -EINVAL, "unknown escape '\\%s'",
					   reader_show(show, (unsigned char)e));
		}
		if (rc < 0)
			return rc;
		if (*cp >= 0xD800 && *cp <= 0xDFFF)
			return READER_FAIL(r, at, -EINVAL, "\\u%04X is a surrogate, not a character", *cp);
		return 0;
	}
	size_t size;
	*cp = unicode_decode(r->src + at, r->len - at, &size);
	if (*cp == UNICODE_REPLACEMENT && size == 1)
		return READER_FAIL(r, at, -EINVAL, "invalid UTF-8");
	r->pos += size;
	return 0;
}

static int reader_range_cmp(const void *a, const void *b)
{
	const struct grammar_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void reader_scratch_add(struct grammar_reader *r, uint32_t lo, uint32_t hi)
{
	if (r->n_scratch == r->cap_scratch) {
		r->cap_scratch = r->cap_scratch ? r->cap_scratch * 2 : 16;
		r->scratch = xrealloc(r->scratch, r->cap_scratch * sizeof(*r->scratch));
	}
	r->scratch[r->n_scratch++] = (struct grammar_range){lo, hi};
}

/* Sorts and merges the scratch ranges; with negate, takes the complement. */
static void reader_scratch_normalise(struct grammar_reader *r, bool negate)
{
	qsort(r->scratch, r->n_scratch, sizeof(*r->scratch), reader_range_cmp);
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->n_scratch; i++) {
		if (n > 0 && r->scratch[i].lo <= r->scratch[n - 1].hi + 1) {
			if (r->scratch[i].hi > r->scratch[n - 1].hi)
				r->scratch[n - 1].hi = r->scratch[i].hi;
		} else {
			r->scratch[n++] = r->scratch[i];
		}
	}
	r->n_scratch = n;
	if (!negate)
		return;
	struct grammar_range *kept = xmalloc((n + 1) * sizeof(*kept));
	memcpy(kept, r->scratch, n * sizeof(*kept));
	r->n_scratch = 0;
	uint32_t next = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (kept[i].lo > next)
			reader_scratch_add(r, next, kept[i].lo - 1);
		next = kept[i].hi + 1;
	}
	if (next <= GRAMMAR_PARSE_MAX_CP)
		reader_scratch_add(r, next, GRAMMAR_PARSE_MAX_CP);
	free(kept);
}

static int reader_literal(struct grammar_reader *r, uint32_t rule)
{
	size_t open = r->pos++;
	for (;;) {
		int c = reader_peek(r);
		if (c < 0 || c == '\n' || c == '\r')
			return READER_FAIL(r, open, -EINVAL, "unterminated literal");
		if (c == '"') {
			r->pos++;
			return 0;
		}
		uint32_t cp;
		int rc = reader_char(r, &cp);
		if (rc < 0)
			return rc;
		struct grammar_range one = {cp, cp};
		if ((rc = reader_push(r, rule, GRAMMAR_ELEM_CLASS, reader_class_intern(r, &one, 1))) < 0)
			return rc;
	}
}

static int reader_class(struct grammar_reader *r, uint32_t rule)
{
	r->pos++;
	bool negate = reader_peek(r) == '^';
	if (negate)
		r->pos++;
	r->n_scratch = 0;
	for (;;) {
		int c = reader_peek(r);
		if (c < 0 || c == '\n' || c == '\r')
			return READER_FAIL(r, r->pos, -EINVAL, "expected ']'");
		if (c == ']') {
			if (r->n_scratch == 0)
				return READER_FAIL(r, r->pos, -EINVAL, "empty character class");
			r->pos++;
			break;
		}
		size_t at = r->pos;
		uint32_t lo, hi;
		int rc = reader_char(r, &lo);
		if (rc < 0)
			return rc;
		hi = lo;
		if (reader_peek(r) == '-' && r->pos + 1 < r->len && r->src[r->pos + 1] != ']') {
			r->pos++;
			c = reader_peek(r);
			if (c == '\n' || c == '\r')
				return READER_FAIL(r, r->pos, -EINVAL, "expected ']'");
			if ((rc = reader_char(r, &hi)) < 0)
				return rc;
			if (hi < lo)
				return READER_FAIL(r, at, -EINVAL, "bad range: U+%04X comes after U+%04X", lo, hi);
		}
		reader_scratch_add(r, lo, hi);
	}
	reader_scratch_normalise(r, negate);
	return reader_push(r, rule, GRAMMAR_ELEM_CLASS, reader_class_intern(r, r->scratch, r->n_scratch));
}

static int reader_count(struct grammar_reader *r, uint32_t *out)
{
	int c = reader_peek(r);
	if (c < '0' || c > '9')
		return READER_FAIL(r, r->pos, -EINVAL, "expected a number");
	size_t at = r->pos;
	uint64_t v = 0;
	while ((c = reader_peek(r)) >= '0' && c <= '9') {
		v = v * 10 + (uint64_t)(c - '0');
		if (v > GRAMMAR_PARSE_MAX_COUNT)
			return READER_FAIL(r, at, -E2BIG, "repetition count too large");
		r->pos++;
	}
	*out = (uint32_t)v;
	return 0;
}

/* Reads ?, *, +, {m}, {m,} or {m,n} into [min, max]. */
static int reader_bounds(struct grammar_reader *r, uint32_t *min, uint32_t *max)
{
	size_t open = r->pos;
	int c = r->src[r->pos++];
	if (c != '{') {
		*min = c == '+' ? 1 : 0;
		*max = c == '?' ? 1 : GRAMMAR_PARSE_UNBOUNDED;
		return 0;
	}
	reader_space(r, false);
	int rc = reader_count(r, min);
	if (rc < 0)
		return rc;
	reader_space(r, false);
	*max = *min;
	if (reader_peek(r) == ',') {
		r->pos++;
		reader_space(r, false);
		if (reader_peek(r) == '}')
			*max = GRAMMAR_PARSE_UNBOUNDED;
		else if ((rc = reader_count(r, max)) < 0)
			return rc;
		reader_space(r, false);
	}
	if (reader_peek(r) != '}')
		return READER_FAIL(r, r->pos, -EINVAL, "expected '}'");
	r->pos++;
	if (*max < *min)
		return READER_FAIL(r, open, -EINVAL, "bad repetition: {%u,%u} has its upper bound below its lower",
				   *min, *max);
	return 0;
}

/* Appends n copies of item[0..k) to rule. */
static int reader_copies(struct grammar_reader *r, uint32_t rule, const struct grammar_elem *item, uint32_t k,
			 uint32_t n)
{
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t i = 0; i < k; i++) {
			int rc = reader_push(r, rule, item[i].type, item[i].arg);
			if (rc < 0)
				return rc;
		}
	return 0;
}

/* Replaces the item rule.elems[start..] (one literal, class, group or
 * reference) by its repetition [min, max]. */
static int reader_repeat(struct grammar_reader *r, uint32_t rule, uint32_t start, uint32_t min, uint32_t max, size_t at)
{
	struct grammar_rule *ru = &r->out->rules[rule];
	uint32_t k = ru->n_elems - start;
	if (k == 0)
		return 0;
	uint64_t optional = max == GRAMMAR_PARSE_UNBOUNDED ? 1 : max - min;
	uint64_t grows = (uint64_t)min * k + optional * (k + 3);
	if (r->out->n_elems - k + grows > GRAMMAR_PARSE_MAX_ELEMS)
		return READER_FAIL(r, at, -E2BIG, "the repetition grows the grammar past %u elements",
				   GRAMMAR_PARSE_MAX_ELEMS);
	struct grammar_elem *item = xmalloc(k * sizeof(*item));
	memcpy(item, ru->elems + start, k * sizeof(*item));
	ru->n_elems = start;
	r->out->n_elems -= k;
	int rc = reader_copies(r, rule, item, k, min);
	if (rc < 0 || max == min)
		goto out;
	uint32_t tail = UINT32_MAX;
	if (max == GRAMMAR_PARSE_UNBOUNDED) {
		/* h ::= item h | "" */
		tail = reader_helper(r, rule, at);
		if ((rc = reader_copies(r, tail, item, k, 1)) < 0 ||
		    (rc = reader_push(r, tail, GRAMMAR_ELEM_REF, tail)) < 0 ||
		    (rc = reader_push(r, tail, GRAMMAR_ELEM_ALT, 0)) < 0 ||
		    (rc = reader_push(r, tail, GRAMMAR_ELEM_END, 0)) < 0)
			goto out;
	} else {
		/* h1 ::= item | "", h2 ::= item h1 | "", ... */
		for (uint32_t i = 0; i < max - min; i++) {
			uint32_t h = reader_helper(r, rule, at);
			if ((rc = reader_copies(r, h, item, k, 1)) < 0 ||
			    (tail != UINT32_MAX && (rc = reader_push(r, h, GRAMMAR_ELEM_REF, tail)) < 0) ||
			    (rc = reader_push(r, h, GRAMMAR_ELEM_ALT, 0)) < 0 ||
			    (rc = reader_push(r, h, GRAMMAR_ELEM_END, 0)) < 0)
				goto out;
			tail = h;
		}
	}
	rc = reader_push(r, rule, GRAMMAR_ELEM_REF, tail);
out:
	free(item);
	return rc;
}

static int reader_alternatives(struct grammar_reader *r, uint32_t rule, bool nested);

static int reader_sequence(struct grammar_reader *r, uint32_t rule, bool nested)
{
	uint32_t item = UINT32_MAX; /* where the last item's elements start */
	for (;;) {
		size_t at = r->pos;
		int c = reader_peek(r);
		int rc;
		uint32_t here = r->out->rules[rule].n_elems;
		if (c == '"') {
			rc = reader_literal(r, rule);
			item = here;
		} else if (c == '[') {
			rc = reader_class(r, rule);
			item = here;
		} else if (c == '.') {
			r->pos++;
			struct grammar_range any = {0, GRAMMAR_PARSE_MAX_CP};
			rc = reader_push(r, rule, GRAMMAR_ELEM_CLASS, reader_class_intern(r, &any, 1));
			item = here;
		} else if (c == '(') {
			if (r->depth >= GRAMMAR_PARSE_MAX_NESTING)
				return READER_FAIL(r, at, -EINVAL, "groups nest deeper than %d",
						   GRAMMAR_PARSE_MAX_NESTING);
			r->pos++;
			reader_space(r, true);
			uint32_t group = reader_helper(r, rule, at);
			r->depth++;
			rc = reader_alternatives(r, group, true);
			r->depth--;
			if (rc < 0)
				return rc;
			if (reader_peek(r) != ')')
				return READER_FAIL(r, r->pos, -EINVAL, "expected ')'");
			r->pos++;
			rc = reader_push(r, rule, GRAMMAR_ELEM_REF, group);
			item = here;
		} else if (c >= 0 && reader_word_char(c)) {
			while (reader_word_char(reader_peek(r)))
				r->pos++;
			uint32_t ref = reader_rule(r, at, r->pos - at);
			rc = reader_push(r, rule, GRAMMAR_ELEM_REF, ref);
			item = here;
		} else if (c == '?' || c == '*' || c == '+' || c == '{') {
			if (item == UINT32_MAX)
				return READER_FAIL(r, at, -EINVAL, "'%c' has nothing to repeat", c);
			uint32_t min, max;
			if ((rc = reader_bounds(r, &min, &max)) < 0)
				return rc;
			rc = reader_repeat(r, rule, item, min, max, at);
		} else {
			return 0;
		}
		if (rc < 0)
			return rc;
		reader_space(r, nested);
	}
}

static int reader_alternatives(struct grammar_reader *r, uint32_t rule, bool nested)
{
	int rc = reader_sequence(r, rule, nested);
	while (rc == 0 && reader_peek(r) == '|') {
		r->pos++;
		reader_space(r, true);
		if ((rc = reader_push(r, rule, GRAMMAR_ELEM_ALT, 0)) == 0)
			rc = reader_sequence(r, rule, nested);
	}
	return rc < 0 ? rc : reader_push(r, rule, GRAMMAR_ELEM_END, 0);
}

static int reader_rule_definition(struct grammar_reader *r)
{
	size_t start = r->pos;
	char show[8];
	while (reader_word_char(reader_peek(r)))
		r->pos++;
	if (r->pos == start)
		return READER_FAIL(r, start, -EINVAL, "expected a rule name, found '%s'",
				   reader_show(show, (unsigned char)r->src[start]));
	size_t name_len = r->pos - start;
	reader_space(r, false);
	if (r->len - r->pos < 3 || memcmp(r->src + r->pos, "::=", 3) != 0)
		return READER_FAIL(r, r->pos, -EINVAL, "expected '::='");
	r->pos += 3;
	reader_space(r, false);
	uint32_t rule = reader_rule(r, start, name_len);
	struct grammar_rule *ru = &r->out->rules[rule];
	if (ru->defined)
		return READER_FAIL(r, start, -EINVAL, "rule '%s' is defined twice", ru->name);
	ru->defined = true;
	ru->offset = (uint32_t)start;
	int rc = reader_alternatives(r, rule, false);
	if (rc < 0)
		return rc;
	int c = reader_peek(r);
	if (c >= 0 && c != '\n' && c != '\r')
		return READER_FAIL(r, r->pos, -EINVAL, "unexpected '%s'", reader_show(show, (unsigned char)c));
	return 0;
}

int grammar_parse(const char *source, size_t len, struct grammar_parsed *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	strmap_init(&out->names, 16);
	struct grammar_reader r = {.src = source, .len = len, .out = out, .err = err, .errlen = errlen};
	int rc = 0;
	reader_space(&r, true);
	while (r.pos < len) {
		if ((rc = reader_rule_definition(&r)) < 0)
			goto out;
		reader_space(&r, true);
	}
	if (out->n_rules == 0) {
		rc = READER_FAIL(&r, 0, -EINVAL, "the grammar has no rules");
		goto out;
	}
	/* The first reference, in source order, to a rule never defined. */
	const struct grammar_rule *unknown = NULL;
	for (uint32_t i = 0; i < out->n_rules; i++) {
		const struct grammar_rule *ru = &out->rules[i];
		if (!ru->defined && (!unknown || ru->ref_offset < unknown->ref_offset))
			unknown = ru;
	}
	if (unknown)
		rc = READER_FAIL(&r, unknown->ref_offset, -EINVAL, "unknown rule '%s'", unknown->name);
out:
	free(r.scratch);
	return rc;
}

void grammar_parse_free(struct grammar_parsed *p)
{
	for (uint32_t i = 0; i < p->n_rules; i++) {
		free(p->rules[i].name);
		free(p->rules[i].elems);
	}
	free(p->rules);
	free(p->classes);
	free(p->ranges);
	free(p->class_table);
	strmap_close(&p->names);
	memset(p, 0, sizeof(*p));
}

int32_t grammar_parse_find(const struct grammar_parsed *p, const char *name)
{
	uint64_t id;
	if (!strmap_get(&p->names, name, strlen(name), &id))
		return -1;
	return (int32_t)id;
}
