/* A grammar's rules compiled for matching: flat element tables, the
 * alternatives that can end, the fewest bytes that finish each element,
 * and the atoms (the classes of code points that no character class of
 * the grammar tells apart). Checked on the way: left recursion, and a root
 * that can never end. Read-only once compiled. */
#ifndef AGENTD_ENGINE_GRAMMAR_RULES_H
#define AGENTD_ENGINE_GRAMMAR_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/grammar_parse.h"

/* A length that is never reached (a rule that can never end). */
#define GRAMMAR_INF UINT32_MAX
/* Finite lengths saturate here. */
#define GRAMMAR_LEN_CAP (1u << 30)
/* Most atoms kept; a grammar with more has none (and no fast masks). */
#define GRAMMAR_MAX_ATOMS 64

/* A character class, compiled. */
struct grammar_cls {
	uint64_t ascii[2]; /* bit c: the class holds U+00c for c < 128 */
	uint64_t atoms;    /* the atoms it holds (when the grammar has atoms) */
	uint32_t first;    /* its ranges: ranges[first .. first + count) */
	uint32_t count;    /* (see first) */
	uint32_t min_len;  /* bytes of its shortest character; GRAMMAR_INF when it holds none */
};

struct grammar_rules {
	struct grammar_elem *elems;  /* every rule's elements back to back */
	uint32_t n_elems;            /* elements */
	uint32_t *rest_min;          /* per element: the fewest bytes from it to its alternative's end */
	uint32_t n_rules;            /* rules */
	uint32_t *alt_first;         /* rule r's alternatives that can end are alts[alt_first[r] .. alt_first[r + 1]) */
	uint32_t *alts;              /* the first element of each of those alternatives */
	uint32_t root;               /* the start rule */
	struct grammar_cls *classes; /* by index */
	uint32_t n_classes;          /* classes */
	struct grammar_range *ranges;          /* the classes' ranges */
	uint32_t n_atoms;                      /* atoms; 0 when there would be more than GRAMMAR_MAX_ATOMS */
	uint32_t *interval_lo;                 /* the atoms' intervals of code points, by first code point */
	uint8_t *interval_atom;                /* the atom of each interval */
	uint32_t n_intervals;                  /* intervals */
	uint8_t ascii_atom[128];               /* the atom of each ASCII character */
	uint32_t atom_rep[GRAMMAR_MAX_ATOMS];  /* a character of each atom (not a surrogate) */
	uint8_t atom_len[GRAMMAR_MAX_ATOMS];   /* bytes of each atom's characters (all the same) */
	uint32_t atom_size[GRAMMAR_MAX_ATOMS]; /* characters in each atom (surrogates not counted) */
};

/* Compiles p (rule root starts) into r. Returns 0, or -EINVAL with "line
 * L, column C: what" in err (source is p's, for the positions) for a
 * left-recursive rule or a root that can never end. Free r with
 * grammar_rules_free, also after a failure. */
int grammar_rules_compile(struct grammar_rules *r, const struct grammar_parsed *p, uint32_t root, const char *source,
			  size_t len, char *err, size_t errlen);
void grammar_rules_free(struct grammar_rules *r);
/* The atom of code point cp (r->n_atoms > 0). */
unsigned grammar_rules_atom(const struct grammar_rules *r, uint32_t cp);
/* The atoms of the code points lo .. hi, as bits (r->n_atoms > 0). */
uint64_t grammar_rules_atoms_between(const struct grammar_rules *r, uint32_t lo, uint32_t hi);

#endif
