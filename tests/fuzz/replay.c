/* Drives the fuzz target (gguf_fuzz.c) inside the test command, under the
 * test build's sanitizers: over a model made by the GGUF writer, then over
 * seeded random mutations of it (bit flips, overwritten integers, cuts,
 * copies) for a few seconds. tests/fuzz/run.sh runs the real fuzzer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t replay_state = 0x9E3779B97F4A7C15ull;

static uint64_t replay_next(void)
{
	replay_state ^= replay_state << 13;
	replay_state ^= replay_state >> 7;
	replay_state ^= replay_state << 17;
	return replay_state;
}

static void replay_mutate(uint8_t *buf, size_t *size, size_t cap)
{
	int edits = 1 + (int)(replay_next() % 4);
	for (int e = 0; e < edits && *size; e++) {
		size_t at = replay_next() % *size;
		switch (replay_next() % 6) {
		case 0: buf[at] ^= (uint8_t)(1u << (replay_next() % 8)); break;
		case 1: buf[at] = (uint8_t)replay_next(); break;
		case 2: {
			/* An interesting integer over a length or count. */
			static const uint64_t values[] = {
				0, 1, 0x7F, 0xFF, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, UINT64_MAX, 32, 64, 1u << 20};
			uint64_t v = values[replay_next() % (sizeof(values) / sizeof(values[0]))];
			size_t n = at + 8 <= *size ? 8 : *size - at;
			memcpy(buf + at, &v, n);
			break;
		}
		case 3: *size = at; break;
		case 4: {
			size_t from = replay_next() % *size, n = replay_next() % 64;
			if (from + n <= *size && at + n <= *size)
				memmove(buf + at, buf + from, n);
			break;
		}
		default:
			if (*size < cap)
				buf[(*size)++] = (uint8_t)replay_next();
			break;
		}
	}
}

TEST(mutated_models)
{
	const char *args[] = {"--vocab",   "synthetic", "--merges", "40", "--n-embd", "32",
			      "--n-layer", "1",         "--n-ff",   "32", "--tied",   "--chat-template",
			      "chatml",    "--type",    "q8_0",     NULL};
	char *path = support_write_model(th_tempdir(), "seed.gguf", args);
	char *seed = th_read_file(path);
	CHECK(seed != NULL);
	/* th_read_file reads text; the writer's file is binary, so read it
	 * again by size. */
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	size_t size = (size_t)ftell(f);
	rewind(f);
	uint8_t *original = xmalloc(size);
	CHECK_INT(fread(original, 1, size, f), ==, size);
	fclose(f);
	free(seed);
	LLVMFuzzerTestOneInput(original, size);
	uint8_t *buf = xmalloc(size + 64);
	long long deadline = th_now_ms() + 4000;
	int runs = 0;
	while (th_now_ms() < deadline) {
		size_t n = size;
		memcpy(buf, original, size);
		replay_mutate(buf, &n, size + 64);
		/* An exact-size copy, so that ASan sees reads past the end. */
		uint8_t *input = xmalloc(n ? n : 1);
		memcpy(input, buf, n);
		LLVMFuzzerTestOneInput(input, n);
		free(input);
		runs++;
	}
	fprintf(stderr, "%d mutated files\n", runs);
	CHECK_INT(runs, >, 10);
	free(buf);
	free(original);
	free(path);
}
