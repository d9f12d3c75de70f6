/* The GBNF reader of grammar.c: source text into rules of elements, with
 * repetitions (?, *, +, {m,n}) expanded into helper rules and character
 * classes as sorted code point ranges. Errors name the line and column. */
#ifndef AGENTD_ENGINE_GRAMMAR_PARSE_H
#define AGENTD_ENGINE_GRAMMAR_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/strmap.h"

/* Most elements a grammar may grow to once its repetitions are expanded. */
#define GRAMMAR_PARSE_MAX_ELEMS (1u << 21)
/* Most nested groups, so that reading them cannot exhaust the C stack. */
#define GRAMMAR_PARSE_MAX_NESTING 128
/* The last Unicode code point. */
#define GRAMMAR_PARSE_MAX_CP 0x10FFFFu

enum grammar_elem_type {
	GRAMMAR_ELEM_END,   /* the end of the rule's last alternative */
	GRAMMAR_ELEM_ALT,   /* the end of an alternative, another follows */
	GRAMMAR_ELEM_REF,   /* a reference to rule arg */
	GRAMMAR_ELEM_CLASS, /* one character of class arg */
};

struct grammar_elem {
	uint32_t type; /* enum grammar_elem_type */
	uint32_t arg;  /* rule (REF) or class (CLASS) index */
};

/* An inclusive range of code points. */
struct grammar_range {
	uint32_t lo; /* first code point */
	uint32_t hi; /* last code point */
};

/* A character class: ranges[first .. first + count), sorted, disjoint and
 * not adjacent (a negated class is stored as its complement). */
struct grammar_class {
	uint32_t first; /* index of its first range */
	uint32_t count; /* ranges; 0 for a class that matches nothing */
};

struct grammar_rule {
	char *name;                 /* owned; a helper rule has the name of the rule it was made for */
	struct grammar_elem *elems; /* owned; alternatives separated by ALT, ended by END */
	uint32_t n_elems;           /* elements in elems */
	uint32_t cap_elems;         /* room in elems */
	uint32_t offset;            /* source offset of its definition (of the construct, for a helper) */
	uint32_t ref_offset;        /* source offset of its first reference */
	bool defined;               /* seen `name ::= ...` (always, for a helper) */
};

/* What the reader produces. Free with grammar_parse_free. */
struct grammar_parsed {
	struct grammar_rule *rules;    /* by index; owned */
	uint32_t n_rules;              /* rules in use */
	uint32_t cap_rules;            /* room in rules */
	struct grammar_class *classes; /* by index; owned */
	uint32_t n_classes;            /* classes in use */
	uint32_t cap_classes;          /* room in classes */
	struct grammar_range *ranges;  /* every class's ranges; owned */
	uint32_t n_ranges;             /* ranges in use */
	uint32_t cap_ranges;           /* room in ranges */
	uint32_t *class_table;         /* open-addressing index of classes by content (class + 1; 0 empty) */
	uint32_t class_table_cap;      /* slots, a power of two */
	uint32_t n_elems;              /* elements in all rules */
	struct strmap names;           /* rule name (its owned copy) -> index; helpers are not in it */
};

/* Reads source (len bytes). Returns 0 with *out filled (free it with
 * grammar_parse_free, also after a failure); -EINVAL for a malformed
 * grammar, -E2BIG when its repetitions expand past GRAMMAR_PARSE_MAX_ELEMS,
 * with "line L, column C: what" in err. Every referenced rule is defined
 * once; whether a root rule exists is the caller's to check. */
int grammar_parse(const char *source, size_t len, struct grammar_parsed *out, char *err, size_t errlen);
void grammar_parse_free(struct grammar_parsed *p);
/* The rule called name, or -1. */
int32_t grammar_parse_find(const struct grammar_parsed *p, const char *name);
/* Writes "line L, column C: " for source offset into err and appends the
 * message (printf-style). */
void grammar_parse_error(const char *source, size_t len, uint32_t offset, char *err, size_t errlen, const char *fmt,
			 ...) __attribute__((format(printf, 6, 7)));

#endif
