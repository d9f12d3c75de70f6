/* Compiling parsed rules for matching: flattening, the shortest way to
 * finish each rule and element (a fixed point, as rules refer to each
 * other), the left-recursion check that keeps expanding a rule finite, and
 * the atoms that let a mask accept whole runs of tokens at once. */
#include "daemon/engine/grammar_rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Atoms are computed when intervals times classes stays below this. */
#define RULES_ATOM_WORK (1u << 22)

static uint32_t rules_add(uint32_t a, uint32_t b)
{
	if (a == GRAMMAR_INF || b == GRAMMAR_INF)
		return GRAMMAR_INF;
	uint64_t s = (uint64_t)a + b;
	return s > GRAMMAR_LEN_CAP ? GRAMMAR_LEN_CAP : (uint32_t)s;
}

static uint32_t rules_utf8_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static void rules_classes(struct grammar_rules *r, const struct grammar_parsed *p)
{
	r->n_classes = p->n_classes;
	r->classes = xcalloc(p->n_classes ? p->n_classes : 1, sizeof(*r->classes));
	r->ranges = xmalloc((p->n_ranges ? p->n_ranges : 1) * sizeof(*r->ranges));
	if (p->n_ranges > 0)
		memcpy(r->ranges, p->ranges, p->n_ranges * sizeof(*r->ranges));
	for (uint32_t c = 0; c < p->n_classes; c++) {
		struct grammar_cls *cls = &r->classes[c];
		cls->first = p->classes[c].first;
		cls->count = p->classes[c].count;
		cls->min_len = GRAMMAR_INF;
		for (uint32_t i = 0; i < cls->count; i++) {
			struct grammar_range g = r->ranges[cls->first + i];
			for (uint32_t cp = g.lo; cp <= g.hi && cp < 128; cp++)
				cls->ascii[cp >> 6] |= 1ull << (cp & 63);
			/* The smallest character that is not a surrogate. */
			uint32_t least = g.lo >= 0xD800 && g.lo <= 0xDFFF ? 0xE000 : g.lo;
			if (cls->min_len == GRAMMAR_INF && least <= g.hi)
				cls->min_len = rules_utf8_len(least);
		}
	}
}

static uint32_t rules_elem_len(const struct grammar_rules *r, const uint32_t *rule_min, struct grammar_elem e)
{
	return e.type == GRAMMAR_ELEM_CLASS ? r->classes[e.arg].min_len : rule_min[e.arg];
}

/* The fewest bytes each rule can match: lowered pass after pass (in both
 * directions, so that chains of rules settle in a few) until none moves. */
static void rules_min(const struct grammar_rules *r, const uint32_t *rule_start, uint32_t *rule_min)
{
	for (uint32_t i = 0; i < r->n_rules; i++)
		rule_min[i] = GRAMMAR_INF;
	bool changed = true;
	for (uint32_t pass = 0; changed; pass++) {
		changed = false;
		for (uint32_t k = 0; k < r->n_rules; k++) {
			uint32_t i = pass % 2 ? r->n_rules - 1 - k : k;
			uint32_t best = GRAMMAR_INF, sum = 0;
			for (uint32_t at = rule_start[i];; at++) {
				struct grammar_elem e = r->elems[at];
				if (e.type == GRAMMAR_ELEM_END || e.type == GRAMMAR_ELEM_ALT) {
					if (sum < best)
						best = sum;
					sum = 0;
					if (e.type == GRAMMAR_ELEM_END)
						break;
					continue;
				}
				sum = rules_add(sum, rules_elem_len(r, rule_min, e));
			}
			if (best < rule_min[i]) {
				rule_min[i] = best;
				changed = true;
			}
		}
	}
}

/* Element positions from at to the end of its alternative. */
static uint32_t rules_skip_alternative(const struct grammar_rules *r, uint32_t at)
{
	while (r->elems[at].type != GRAMMAR_ELEM_ALT && r->elems[at].type != GRAMMAR_ELEM_END)
		at++;
	return at;
}

/* A rule that can reach itself without consuming a character would make
 * expanding it loop: a depth-first search over "rule r may begin with rule
 * s" finds the cycles. Returns the rule on one, or -1. */
static int64_t rules_left_recursion(const struct grammar_rules *r, const uint32_t *rule_start, const uint32_t *rule_min)
{
	uint8_t *color = xcalloc(r->n_rules, 1); /* 0: not seen, 1: on the path, 2: done */
	uint32_t *path_rule = xmalloc(r->n_rules * sizeof(*path_rule));
	uint32_t *path_at = xmalloc(r->n_rules * sizeof(*path_at));
	int64_t found = -1;
	for (uint32_t s0 = 0; s0 < r->n_rules && found < 0; s0++) {
		if (color[s0])
			continue;
		uint32_t depth = 0;
		path_rule[0] = s0;
		path_at[0] = rule_start[s0];
		color[s0] = 1;
		depth = 1;
		while (depth > 0 && found < 0) {
			uint32_t rule = path_rule[depth - 1], at = path_at[depth - 1];
			struct grammar_elem e = r->elems[at];
			if (e.type == GRAMMAR_ELEM_END) {
				color[rule] = 2;
				depth--;
				continue;
			}
			if (e.type == GRAMMAR_ELEM_ALT) {
				path_at[depth - 1] = at + 1;
				continue;
			}
			if (e.type == GRAMMAR_ELEM_CLASS) {
				path_at[depth - 1] = rules_skip_alternative(r, at);
				continue;
			}
			/* A reference: past it only when it can match nothing. */
			path_at[depth - 1] = rule_min[e.arg] == 0 ? at + 1 : rules_skip_alternative(r, at);
			if (color[e.arg] == 1) {
				found = e.arg;
			} else if (color[e.arg] == 0) {
				color[e.arg] = 1;
				path_rule[depth] = e.arg;
				path_at[depth] = rule_start[e.arg];
				depth++;
			}
		}
	}
	free(color);
	free(path_rule);
	free(path_at);
	return found;
}

static int rules_interval_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The index of bound v in bounds[0..n) (present). */
static uint32_t rules_bound_index(const uint32_t *bounds, uint32_t n, uint32_t v)
{
	uint32_t lo = 0, hi = n;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (bounds[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Atoms: cut the code points at every class boundary (and where UTF-8
 * lengths change, and around the surrogates), then merge the intervals
 * that every class holds alike. */
static void rules_atoms(struct grammar_rules *r)
{
	static const uint32_t fixed[] = {0, 0x80, 0x800, 0xD800, 0xE000, 0x10000, GRAMMAR_PARSE_MAX_CP + 1};
	size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	uint32_t n_all = 0;
	for (uint32_t c = 0; c < r->n_classes; c++)
		n_all += r->classes[c].count;
	uint32_t *bounds = xmalloc((2 * (size_t)n_all + n_fixed) * sizeof(*bounds));
	uint32_t nb = 0;
	for (size_t i = 0; i < n_fixed; i++)
		bounds[nb++] = fixed[i];
	for (uint32_t c = 0; c < r->n_classes; c++)
		for (uint32_t i = 0; i < r->classes[c].count; i++) {
			struct grammar_range g = r->ranges[r->classes[c].first + i];
			bounds[nb++] = g.lo;
			bounds[nb++] = g.hi + 1;
		}
	qsort(bounds, nb, sizeof(*bounds), rules_interval_cmp);
	uint32_t n = 0;
	for (uint32_t i = 0; i < nb; i++)
		if (n == 0 || bounds[i] != bounds[n - 1])
			bounds[n++] = bounds[i];
	uint32_t n_int = n - 1;
	size_t words = (r->n_classes + 63) / 64 + 1; /* the last word holds the UTF-8 length */
	if ((uint64_t)n_int * (r->n_classes + 1) > RULES_ATOM_WORK) {
		free(bounds);
		return;
	}
	uint64_t *rows = xcalloc((size_t)n_int * words, sizeof(*rows));
	for (uint32_t i = 0; i < n_int; i++)
		rows[i * words + words - 1] = rules_utf8_len(bounds[i]);
	for (uint32_t c = 0; c < r->n_classes; c++)
		for (uint32_t k = 0; k < r->classes[c].count; k++) {
			struct grammar_range g = r->ranges[r->classes[c].first + k];
			uint32_t from = rules_bound_index(bounds, n, g.lo), to = rules_bound_index(bounds, n, g.hi + 1);
			for (uint32_t i = from; i < to; i++)
				rows[i * words + c / 64] |= 1ull << (c % 64);
		}
	r->interval_lo = xmalloc(n_int * sizeof(*r->interval_lo));
	r->interval_atom = xmalloc(n_int);
	r->n_intervals = n_int;
	uint32_t first_of[GRAMMAR_MAX_ATOMS]; /* an interval of each atom */
	uint32_t atoms = 0;
	bool too_many = false;
	for (uint32_t i = 0; i < n_int && !too_many; i++) {
		r->interval_lo[i] = bounds[i];
		uint32_t a = 0;
		while (a < atoms && memcmp(&rows[first_of[a] * words], &rows[i * words], words * sizeof(*rows)) != 0)
			a++;
		if (a == atoms) {
			if (atoms == GRAMMAR_MAX_ATOMS) {
				too_many = true;
				break;
			}
			first_of[atoms++] = i;
			r->atom_len[a] = (uint8_t)rules_utf8_len(bounds[i]);
			r->atom_rep[a] = UINT32_MAX;
		}
		r->interval_atom[i] = (uint8_t)a;
		if (bounds[i] == 0xD800)
			continue; /* surrogates are never characters */
		r->atom_size[a] += bounds[i + 1] - bounds[i];
		if (r->atom_rep[a] == UINT32_MAX)
			r->atom_rep[a] = bounds[i];
		for (uint32_t c = 0; c < r->n_classes; c++)
			if (rows[i * words + c / 64] >> (c % 64) & 1)
				r->classes[c].atoms |= 1ull << a;
	}
	free(rows);
	free(bounds);
	if (too_many) {
		free(r->interval_lo);
		free(r->interval_atom);
		r->interval_lo = NULL;
		r->interval_atom = NULL;
		r->n_intervals = 0;
		for (uint32_t c = 0; c < r->n_classes; c++)
			r->classes[c].atoms = 0;
		memset(r->atom_size, 0, sizeof(r->atom_size));
		return;
	}
	r->n_atoms = atoms;
	for (uint32_t cp = 0; cp < 128; cp++)
		r->ascii_atom[cp] = r->interval_atom[rules_bound_index(r->interval_lo, r->n_intervals, cp)];
}

unsigned grammar_rules_atom(const struct grammar_rules *r, uint32_t cp)
{
	if (cp < 128)
		return r->ascii_atom[cp];
	return r->interval_atom[rules_bound_index(r->interval_lo, r->n_intervals, cp)];
}

uint64_t grammar_rules_atoms_between(const struct grammar_rules *r, uint32_t lo, uint32_t hi)
{
	uint64_t atoms = 0;
	for (uint32_t i = rules_bound_index(r->interval_lo, r->n_intervals, lo);
	     i < r->n_intervals && r->interval_lo[i] <= hi; i++)
		atoms |= 1ull << r->interval_atom[i];
	return atoms;
}

int grammar_rules_compile(struct grammar_rules *r, const struct grammar_parsed *p, uint32_t root, const char *source,
			  size_t len, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->root = root;
	r->n_rules = p->n_rules;
	r->n_elems = p->n_elems;
	rules_classes(r, p);
	uint32_t *rule_start = xmalloc(p->n_rules * sizeof(*rule_start));
	uint32_t *rule_min = xmalloc(p->n_rules * sizeof(*rule_min));
	r->elems = xmalloc((p->n_elems ? p->n_elems : 1) * sizeof(*r->elems));
	uint32_t at = 0;
	for (uint32_t i = 0; i < p->n_rules; i++) {
		rule_start[i] = at;
		memcpy(r->elems + at, p->rules[i].elems, p->rules[i].n_elems * sizeof(*r->elems));
		at += p->rules[i].n_elems;
	}
	int rc = 0;
	rules_min(r, rule_start, rule_min);
	int64_t cycle = rules_left_recursion(r, rule_start, rule_min);
	if (cycle >= 0) {
		grammar_parse_error(source, len, p->rules[cycle].offset, err, errlen, "rule '%s' is left-recursive",
				    p->rules[cycle].name);
		rc = -EINVAL;
		goto out;
	}
	if (rule_min[root] == GRAMMAR_INF) {
		grammar_parse_error(source, len, p->rules[root].offset, err, errlen, "rule '%s' can never end",
				    p->rules[root].name);
		rc = -EINVAL;
		goto out;
	}
	/* The fewest bytes from each element to its alternative's end. */
	r->rest_min = xmalloc((r->n_elems ? r->n_elems : 1) * sizeof(*r->rest_min));
	for (uint32_t i = r->n_elems; i-- > 0;) {
		struct grammar_elem e = r->elems[i];
		if (e.type == GRAMMAR_ELEM_END || e.type == GRAMMAR_ELEM_ALT)
			r->rest_min[i] = 0;
		else
			r->rest_min[i] = rules_add(rules_elem_len(r, rule_min, e), r->rest_min[i + 1]);
	}
	/* The alternatives worth entering: those that can end. */
	r->alt_first = xmalloc((r->n_rules + 1) * sizeof(*r->alt_first));
	r->alts = xmalloc((r->n_elems ? r->n_elems : 1) * sizeof(*r->alts));
	uint32_t n_alts = 0;
	for (uint32_t i = 0; i < r->n_rules; i++) {
		r->alt_first[i] = n_alts;
		for (uint32_t a = rule_start[i];;) {
			if (r->rest_min[a] != GRAMMAR_INF)
				r->alts[n_alts++] = a;
			a = rules_skip_alternative(r, a);
			if (r->elems[a].type == GRAMMAR_ELEM_END)
				break;
			a++;
		}
	}
	r->alt_first[r->n_rules] = n_alts;
	rules_atoms(r);
out:
	free(rule_start);
	free(rule_min);
	return rc;
}

void grammar_rules_free(struct grammar_rules *r)
{
	free(r->elems);
	free(r->rest_min);
	free(r->alt_first);
	free(r->alts);
	free(r->classes);
	free(r->ranges);
	free(r->interval_lo);
	free(r->interval_atom);
	memset(r, 0, sizeof(*r));
}
