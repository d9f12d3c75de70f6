/* Helpers for the engine's tests: running the GGUF writer and the judges
 * (node scripts in the source tree), reading JSON, opening models. */
#ifndef AGENTD_TESTS_ENGINE_SUPPORT_H
#define AGENTD_TESTS_ENGINE_SUPPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "daemon/engine/engine.h"

/* The source tree (AGENTD_SOURCE_ROOT, set by meson); static storage. */
const char *support_source_root(void);
/* Runs argv (NULL-terminated; argv[0] searched in PATH) with stdout and
 * stderr into a file; fails the test if it runs past timeout_ms. Returns the
 * exit status; *output (may be NULL) gets the output, caller frees. */
int support_run(const char *const *argv, long timeout_ms, char **output);
/* Writes a model with tests/tools/gguf_writer.mjs and the given extra
 * arguments (NULL-terminated) to DIR/name; returns the path (caller frees).
 * Fails the test if the writer fails. */
char *support_write_model(const char *dir, const char *name, const char *const *args);
/* Parses a JSON file; fails the test on error. Caller frees with cJSON_Delete. */
cJSON *support_read_json(const char *path);
/* Writes a model with the writer arguments args and checks that opening it
 * fails with a message that contains needle and the file's path. */
void support_refused(const char *const *args, const char *needle);
/* Opens a model; fails the test with the engine's message on error. */
engine_model *support_open(const char *path, const char *chat_template);
/* The ids as a JSON-like list in a new string (caller frees). */
char *support_ids_text(const engine_token *ids, size_t n);
/* The first index of the largest of v[0..n), with the gap to the second
 * largest in *margin. */
size_t support_top_two(const double *v, size_t n, double *margin);
/* text with control and non-ASCII bytes escaped, in a new string (caller frees). */
char *support_escape(const char *text, size_t len);

#endif
