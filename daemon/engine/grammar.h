/* Grammar-constrained sampling: a grammar in a subset of llama.cpp's GBNF,
 * compiled once against a model's vocabulary, and a per-request state that
 * masks the logits of every token that cannot continue a string of the
 * grammar. The public handle is engine_grammar (engine.h); the serving
 * engine (serve.c) keeps one grammar_state per request.
 *
 * GBNF subset: rules `name ::= alternatives` (one per line; a rule may go on
 * over lines that start with whitespace or follow a `|`), `#` comments,
 * literals "..." with \n \t \r \\ \" \xHH \uHHHH escapes (and \] \- \^ in
 * classes), character classes [a-z0-9_] and negated ones [^\n], `.` (any
 * character), grouping ( ), alternation |, `?`, `*`, `+`, bounded repetition
 * {m}, {m,}, {m,n}, and references to other rules. Strings are matched as
 * UTF-8 bytes of Unicode characters (a class matches one character; \xHH is
 * the character U+00HH, not a byte). Left recursion is refused when
 * compiling.
 *
 * The end of the model's turn (its EOS, EOT and chat end tokens) is
 * allowed exactly when the text so far is a whole string of the grammar;
 * other control tokens are never allowed.
 *
 * The compiled grammar is read-only: any number of states, on any threads,
 * may share it. A state is used by one thread at a time. */
#ifndef AGENTD_ENGINE_GRAMMAR_H
#define AGENTD_ENGINE_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/engine.h"

struct grammar_state;

/* The grammar's longest source accepted, in bytes. */
#define GRAMMAR_MAX_SOURCE (64u << 10)

/* A new state at the start of g's root rule (g borrowed; it must outlive
 * the state). Free with grammar_state_free. */
struct grammar_state *grammar_state_new(const engine_grammar *g);
void grammar_state_free(struct grammar_state *st);
/* A new state equal to st (same grammar, same text so far); free it with
 * grammar_state_free. */
struct grammar_state *grammar_state_clone(const struct grammar_state *st);

/* Sets to -INFINITY the logits (n_vocab of them) of every token that cannot
 * come next; the others are left as they are. tokens_left is the reply's
 * remaining budget, this token included, and the end of the turn counts as
 * a token: a token is allowed only if what it leaves to finish still fits
 * (a byte a token, then the end), and when tokens_left is no more than
 * what the shortest way to finish needs plus a small margin, only tokens
 * along that shortest way stay allowed, so that the reply always ends as a
 * whole string of the grammar within its budget (UINT32_MAX: no budget). At
 * least one token always stays allowed (the end of the turn, when nothing
 * else can come). */
void grammar_state_mask(struct grammar_state *st, float *logits, uint32_t tokens_left);

/* Advances over token t. Returns 0; -EINVAL when t was not allowed (the
 * state is unchanged). An end-of-turn token makes the state finished. */
int grammar_state_accept(struct grammar_state *st, engine_token t);

/* The text so far is a whole string of the grammar (ending here is allowed). */
bool grammar_state_complete(const struct grammar_state *st);
/* An end-of-turn token was accepted: nothing more may come. */
bool grammar_state_finished(const struct grammar_state *st);

#endif
