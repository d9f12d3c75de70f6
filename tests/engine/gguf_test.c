/* The GGUF reader: every metadata type and tensor record of valid files
 * (built here byte by byte, and by tests/tools/gguf_writer.mjs with
 * node-llama-cpp's parser and llama.cpp as judges), and one corrupted file
 * per validation rule, each refused with a message naming the problem. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "daemon/engine/dtype.h"
#include "daemon/engine/gguf.h"
#include "tests/engine/support.h"
#include "tests/harness/harness.h"

/* ---- a byte-level builder, independent of the reader ---- */

static void put(struct buf *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		buf_append_char(b, (char)(v >> (8 * i)));
}

static void put_str(struct buf *b, const char *s)
{
	put(b, strlen(s), 8);
	buf_append_str(b, s);
}

static void header(struct buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	buf_append(b, "GGUF", 4);
	put(b, version, 4);
	put(b, n_tensors, 8);
	put(b, n_kv, 8);
}

static void kv_u32(struct buf *b, const char *key, uint32_t v)
{
	put_str(b, key);
	put(b, GGUF_TYPE_UINT32, 4);
	put(b, v, 4);
}

static void tensor_info(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
			uint64_t offset)
{
	put_str(b, name);
	put(b, n_dims, 4);
	for (uint32_t i = 0; i < n_dims; i++)
		put(b, ne[i], 8);
	put(b, type, 4);
	put(b, offset, 8);
}

static void pad_to(struct buf *b, size_t alignment)
{
	while (b->len % alignment)
		buf_append_char(b, 0);
}

/* Expects the bytes to be refused with a message containing needle. */
static void refused(struct buf *b, const char *needle)
{
	struct gguf *g = NULL;
	char err[512] = "";
	int rc = gguf_open_memory(b->data ? b->data : "", b->len, &g, err, sizeof(err));
	if (rc >= 0)
		th_fail(__FILE__, __LINE__, "a file that should fail with \"%s\" was accepted", needle);
	CHECK(g == NULL);
	CHECK_CONTAINS(err, needle);
	buf_free(b);
}

static struct gguf *accepted(struct buf *b)
{
	struct gguf *g = NULL;
	char err[512] = "";
	if (gguf_open_memory(b->data, b->len, &g, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "a valid file was refused: %s", err);
	return g;
}

/* A header with one u32 key and one f32 tensor of 8 elements. */
static void one_tensor_file(struct buf *b, uint32_t version)
{
	header(b, version, 1, 1);
	kv_u32(b, "general.x", 7);
	uint64_t ne[1] = {8};
	tensor_info(b, "t", 1, ne, DTYPE_F32, 0);
	pad_to(b, 32);
	for (int i = 0; i < 8; i++)
		put(b, 0x3f800000, 4); /* 1.0f */
}

TEST(minimal_files_v2_and_v3)
{
	for (uint32_t version = 2; version <= 3; version++) {
		struct buf b = BUF_INIT;
		one_tensor_file(&b, version);
		struct gguf *g = accepted(&b);
		CHECK_INT(g->version, ==, version);
		CHECK_INT(g->n_kv, ==, 1);
		CHECK_INT(g->n_tensors, ==, 1);
		const struct gguf_tensor *t = gguf_find_tensor(g, "t");
		CHECK(t != NULL);
		CHECK_INT(t->bytes, ==, 32);
		CHECK_INT(t->n_elems, ==, 8);
		CHECK_INT(t->offset, ==, 0);
		CHECK((const char *)t->data == b.data + b.len - 32);
		float f;
		memcpy(&f, t->data, 4);
		CHECK(f == 1.0f);
		uint64_t x;
		char err[256];
		CHECK_INT(gguf_get_uint(g, "general.x", 100, &x, err, sizeof(err)), ==, 0);
		CHECK_INT(x, ==, 7);
		CHECK_INT(gguf_get_uint(g, "general.x", 5, &x, err, sizeof(err)), ==, -EINVAL);
		CHECK_CONTAINS(err, "general.x is 7, outside 0..5");
		CHECK_INT(gguf_get_uint(g, "general.y", 5, &x, err, sizeof(err)), ==, -ENOENT);
		CHECK_CONTAINS(err, "general.y is missing");
		gguf_close(g);
		buf_free(&b);
	}
}

TEST(every_metadata_type)
{
	struct buf b = BUF_INIT;
	header(&b, 3, 0, 15);
	const char *keys[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64", "i64", "f64"};
	const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 8, 8, 8};
	const uint32_t types[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12};
	const uint64_t values[] = {200,
				   0xFE,
				   60000,
				   0xFFFE,
				   4000000000u,
				   0xFFFFFFFE,
				   0x40490fdb,
				   1,
				   0,
				   0xFFFFFFFFFFFFFFF0ull,
				   0xFFFFFFFFFFFFFFFEull,
				   0x400921fb54442d18ull};
	for (int i = 0; i < 12; i++) {
		put_str(&b, keys[i]);
		put(&b, types[i], 4);
		if (types[i] == GGUF_TYPE_STRING)
			put_str(&b, "héllo");
		else
			put(&b, values[i], sizes[i]);
	}
	/* Arrays: of i16, of strings, and of arrays of u8. */
	put_str(&b, "arr.i16");
	put(&b, GGUF_TYPE_ARRAY, 4);
	put(&b, GGUF_TYPE_INT16, 4);
	put(&b, 3, 8);
	put(&b, 1, 2);
	put(&b, 0xFFFF, 2);
	put(&b, 300, 2);
	put_str(&b, "arr.str");
	put(&b, GGUF_TYPE_ARRAY, 4);
	put(&b, GGUF_TYPE_STRING, 4);
	put(&b, 2, 8);
	put_str(&b, "a b");
	put_str(&b, "");
	put_str(&b, "arr.arr");
	put(&b, GGUF_TYPE_ARRAY, 4);
	put(&b, GGUF_TYPE_ARRAY, 4);
	put(&b, 2, 8);
	for (int i = 0; i < 2; i++) {
		put(&b, GGUF_TYPE_UINT8, 4);
		put(&b, 2, 8);
		put(&b, 10 + i, 1);
		put(&b, 20 + i, 1);
	}
	struct gguf *g = accepted(&b);
	CHECK_INT(gguf_get(g, "u8")->u, ==, 200);
	CHECK_INT(gguf_get(g, "i8")->i, ==, -2);
	CHECK_INT(gguf_get(g, "u16")->u, ==, 60000);
	CHECK_INT(gguf_get(g, "i16")->i, ==, -2);
	CHECK_INT(gguf_get(g, "u32")->u, ==, 4000000000u);
	CHECK_INT(gguf_get(g, "i32")->i, ==, -2);
	CHECK(gguf_get(g, "f32")->f > 3.14159 && gguf_get(g, "f32")->f < 3.1416);
	CHECK_INT(gguf_get(g, "bool")->u, ==, 1);
	CHECK(gguf_str_eq(gguf_get(g, "str")->str, "héllo"));
	CHECK(gguf_get(g, "u64")->u == 0xFFFFFFFFFFFFFFF0ull);
	CHECK_INT(gguf_get(g, "i64")->i, ==, -2);
	CHECK(gguf_get(g, "f64")->f > 3.14159265 && gguf_get(g, "f64")->f < 3.14159266);
	const struct gguf_value *a = gguf_get(g, "arr.i16");
	CHECK_INT(a->arr.n, ==, 3);
	CHECK_INT(gguf_array_int(a, 0), ==, 1);
	CHECK_INT(gguf_array_int(a, 1), ==, -1);
	CHECK_INT(gguf_array_int(a, 2), ==, 300);
	a = gguf_get(g, "arr.str");
	CHECK(gguf_str_eq(a->arr.items[0].str, "a b"));
	CHECK(gguf_str_eq(a->arr.items[1].str, ""));
	a = gguf_get(g, "arr.arr");
	CHECK_INT(a->arr.n, ==, 2);
	CHECK_INT(gguf_array_int(&a->arr.items[1], 1), ==, 21);
	const struct gguf_value *arr;
	char err[256];
	CHECK_INT(gguf_get_array(g, "arr.str", GGUF_TYPE_INT32, &arr, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "arr.str is an array of string, expected int32");
	struct gguf_str s;
	CHECK_INT(gguf_get_string(g, "u8", &s, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "u8 has type uint8, expected string");
	gguf_close(g);
	buf_free(&b);
}

TEST(alignment_and_lookup_by_name)
{
	/* Three tensors listed in an order unlike their data, alignment 64. */
	struct buf b = BUF_INIT;
	header(&b, 3, 3, 1);
	kv_u32(&b, "general.alignment", 64);
	uint64_t ne2[2] = {32, 2}, ne1[1] = {3};
	tensor_info(&b, "blk.0.b", 2, ne2, DTYPE_Q8_0, 64);
	tensor_info(&b, "a", 1, ne1, DTYPE_F16, 0);
	tensor_info(&b, "c", 2, ne2, DTYPE_BF16, 192);
	pad_to(&b, 64);
	size_t data = b.len;
	for (int i = 0; i < 320; i++)
		buf_append_char(&b, (char)i);
	struct gguf *g = accepted(&b);
	CHECK_INT(g->alignment, ==, 64);
	CHECK_INT(g->data_offset, ==, data);
	const struct gguf_tensor *t = gguf_find_tensor(g, "blk.0.b");
	CHECK(t && t->bytes == 2 * 34 && t->type == DTYPE_Q8_0 && t->ne[1] == 2 && t->n_dims == 2);
	CHECK((const char *)t->data == b.data + data + 64);
	t = gguf_find_tensor(g, "a");
	CHECK(t && t->bytes == 6 && (const char *)t->data == b.data + data);
	CHECK(gguf_find_tensor(g, "c")->bytes == 128);
	CHECK(gguf_find_tensor(g, "d") == NULL);
	gguf_close(g);
	buf_free(&b);
}

TEST(refuses_bad_headers)
{
	struct buf b = BUF_INIT;
	refused(&b, "not a GGUF file");
	buf_append(&b, "GGUX", 4);
	put(&b, 3, 4);
	refused(&b, "bad magic");
	header(&b, 1, 0, 0);
	refused(&b, "unsupported GGUF version 1");
	header(&b, 4, 0, 0);
	refused(&b, "unsupported GGUF version 4");
	buf_append(&b, "GGUF", 4);
	put(&b, 3, 4);
	put(&b, 0, 4);
	refused(&b, "truncated");
	header(&b, 3, 1ull << 60, 0);
	refused(&b, "tensor count");
	header(&b, 3, 0, 1ull << 40);
	refused(&b, "metadata count");
}

TEST(refuses_bad_metadata)
{
	struct buf b = BUF_INIT;
	header(&b, 3, 0, 1);
	put(&b, 0, 8);
	put(&b, GGUF_TYPE_UINT8, 4);
	put(&b, 1, 1);
	refused(&b, "metadata key 0 has length 0");

	header(&b, 3, 0, 1);
	put(&b, 1000, 8);
	buf_append_str(&b, "short");
	refused(&b, "past the end of the file");

	header(&b, 3, 0, 1);
	put_str(&b, "k");
	put(&b, GGUF_TYPE_STRING, 4);
	put(&b, 0xFFFFFFFFFFFFull, 8);
	buf_append_str(&b, "abc");
	refused(&b, "past the end of the file");

	header(&b, 3, 0, 1);
	put_str(&b, "k");
	put(&b, 13, 4);
	put(&b, 0, 8);
	refused(&b, "metadata 'k': value type 13 is not a GGUF type");

	header(&b, 3, 0, 1);
	put_str(&b, "k");
	put(&b, GGUF_TYPE_ARRAY, 4);
	put(&b, 99, 4);
	put(&b, 1, 8);
	put(&b, 0, 8);
	refused(&b, "array element type 99");

	header(&b, 3, 0, 1);
	put_str(&b, "k");
	put(&b, GGUF_TYPE_ARRAY, 4);
	put(&b, GGUF_TYPE_UINT32, 4);
	put(&b, 1ull << 61, 8);
	put(&b, 0, 8);
	refused(&b, "runs past the end of the file");

	header(&b, 3, 0, 1);
	put_str(&b, "k");
	put(&b, GGUF_TYPE_ARRAY, 4);
	for (int i = 0; i < 6; i++) {
		put(&b, GGUF_TYPE_ARRAY, 4);
		put(&b, 1, 8);
	}
	put(&b, 0, 8);
	refused(&b, "nested deeper");

	header(&b, 3, 0, 1);
	put_str(&b, "k");
	put(&b, GGUF_TYPE_BOOL, 4);
	put(&b, 2, 1);
	refused(&b, "bool value is 2");

	header(&b, 3, 0, 2);
	kv_u32(&b, "dup", 1);
	kv_u32(&b, "dup", 2);
	refused(&b, "metadata key 'dup' appears twice");

	header(&b, 3, 0, 1);
	kv_u32(&b, "general.alignment", 48);
	refused(&b, "general.alignment is 48, not a power of two");

	header(&b, 3, 0, 1);
	put_str(&b, "general.alignment");
	put(&b, GGUF_TYPE_UINT64, 4);
	put(&b, 32, 8);
	refused(&b, "general.alignment has type uint64, expected uint32");
}

/* A file with one tensor record; the data section holds data_bytes. */
static void tensor_file(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
			uint64_t offset, size_t data_bytes)
{
	header(b, 3, 1, 0);
	tensor_info(b, name, n_dims, ne, type, offset);
	pad_to(b, 32);
	for (size_t i = 0; i < data_bytes; i++)
		buf_append_char(b, 0);
}

TEST(refuses_bad_tensors)
{
	struct buf b = BUF_INIT;
	uint64_t ne[5] = {32, 1, 1, 1, 1};
	tensor_file(&b, "", 1, ne, DTYPE_F32, 0, 128);
	refused(&b, "tensor 0 has a name of 0 bytes");
	tensor_file(&b, "a_name_that_is_much_longer_than_the_sixty_three_bytes_ggml_allows", 1, ne, DTYPE_F32, 0, 128);
	refused(&b, "has a name of 65 bytes");

	header(&b, 3, 2, 0);
	tensor_info(&b, "same", 1, ne, DTYPE_F32, 0);
	tensor_info(&b, "same", 1, ne, DTYPE_F32, 128);
	pad_to(&b, 32);
	for (int i = 0; i < 256; i++)
		buf_append_char(&b, 0);
	refused(&b, "tensor 'same' appears twice");

	tensor_file(&b, "t", 0, ne, DTYPE_F32, 0, 128);
	refused(&b, "tensor 't' has 0 dimensions");
	tensor_file(&b, "t", 5, ne, DTYPE_F32, 0, 128);
	refused(&b, "tensor 't' has 5 dimensions");
	uint64_t zero[2] = {32, 0};
	tensor_file(&b, "t", 2, zero, DTYPE_F32, 0, 128);
	refused(&b, "tensor 't' dimension 1 is 0");
	uint64_t huge[3] = {1ull << 40, 1ull << 40, 1};
	tensor_file(&b, "t", 2, huge, DTYPE_F32, 0, 128);
	refused(&b, "more elements than fit in 63 bits");
	uint64_t big[2] = {1ull << 31, 1ull << 31};
	tensor_file(&b, "t", 2, big, DTYPE_F64, 0, 128);
	refused(&b, "its size in bytes overflows");
	tensor_file(&b, "t", 1, ne, 4, 0, 128);
	refused(&b, "tensor 't' has unknown type id 4");
	tensor_file(&b, "t", 1, ne, 31, 0, 128);
	refused(&b, "unknown type id 31");
	tensor_file(&b, "t", 1, ne, 200, 0, 128);
	refused(&b, "unknown type id 200");
	uint64_t odd[1] = {33};
	tensor_file(&b, "t", 1, odd, DTYPE_Q4_0, 0, 128);
	refused(&b, "a row of 33 elements is not a whole number of q4_0 blocks of 32");
	uint64_t k[1] = {128};
	tensor_file(&b, "t", 1, k, DTYPE_Q4_K, 0, 1024);
	refused(&b, "not a whole number of q4_K blocks of 256");
	tensor_file(&b, "t", 1, ne, DTYPE_F32, 8, 256);
	refused(&b, "data offset 8 is not a multiple of the alignment 32");
	tensor_file(&b, "t", 1, ne, DTYPE_F32, 0, 127);
	refused(&b, "tensor 't' (128 bytes at data offset 0) runs past the end of the file");
	tensor_file(&b, "t", 1, ne, DTYPE_F32, 1ull << 62, 128);
	refused(&b, "runs past the end of the file");

	header(&b, 3, 2, 0);
	tensor_info(&b, "a", 1, ne, DTYPE_F32, 0);
	tensor_info(&b, "b", 1, ne, DTYPE_F32, 96);
	pad_to(&b, 32);
	for (int i = 0; i < 256; i++)
		buf_append_char(&b, 0);
	refused(&b, "tensors 'a' and 'b' overlap");

	/* The records end the file: there is no room for the data section. */
	header(&b, 3, 1, 0);
	tensor_info(&b, "t", 1, ne, DTYPE_F32, 0);
	buf_append_char(&b, 0);
	refused(&b, "tensor data section would start at offset");
}

TEST(refuses_files_that_are_not_files)
{
	struct gguf *g = NULL;
	char err[512];
	CHECK_INT(gguf_open("/nonexistent/model.gguf", &g, err, sizeof(err)), ==, -ENOENT);
	CHECK_CONTAINS(err, "cannot open /nonexistent/model.gguf");
	CHECK_INT(gguf_open(th_tempdir(), &g, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "not a regular file");
	char *empty = xasprintf("%s/empty.gguf", th_tempdir());
	th_write_file(empty, "");
	CHECK_INT(gguf_open(empty, &g, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "not a GGUF file (0 bytes)");
	free(empty);
}

/* Every ggml type, written by the writer (its own size table): each
 * tensor's data must end exactly where the next (aligned) one starts, and
 * node-llama-cpp's parser must read the same records. */
TEST(writer_files_agree_with_node_llama_cpp)
{
	const char *dir = th_tempdir();
	const char *args[] = {"--all-types", "--shuffle", "--alignment", "64", "--version", "2", NULL};
	char *path = support_write_model(dir, "all.gguf", args);
	struct gguf *g = NULL;
	char err[512];
	if (gguf_open(path, &g, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "%s", err);
	CHECK_INT(g->version, ==, 2);
	CHECK_INT(g->alignment, ==, 64);
	int extras = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		if (strncmp(t->name, "extra.", 6) == 0)
			extras++;
		/* The writer lays tensors out back to back in the order it lists
		 * them; the next one starts at the aligned end of this one. */
		uint64_t end = t->offset + t->bytes;
		uint64_t next = i + 1 < g->n_tensors ? g->tensors[i + 1].offset : g->size - g->data_offset;
		uint64_t aligned = i + 1 < g->n_tensors ? (end + 63) / 64 * 64 : end;
		if (aligned != next)
			th_fail(__FILE__, __LINE__, "tensor %s (%s): %llu bytes, but the next starts at %llu", t->name,
				dtype_get(t->type)->name, (unsigned long long)t->bytes, (unsigned long long)next);
	}
	CHECK_INT(extras, ==, 32);

	/* node-llama-cpp's own GGUF parser reads the records of a loadable
	 * model; llama.cpp loads it and evaluates a few tokens. */
	const char *args2[] = {"--arch", "qwen2", "--shuffle", "--type", "q8_0", "--seed", "5", NULL};
	char *path2 = support_write_model(dir, "qwen.gguf", args2);
	char *out = xasprintf("%s/load.json", dir);
	char *script = xasprintf("%s/tests/engine/judge/load.mjs", support_source_root());
	const char *argv[] = {"node", script, out, path2, NULL};
	char *output;
	CHECK_INT(support_run(argv, 120000, &output), ==, 0);
	free(output);
	cJSON *judged = support_read_json(out);
	const cJSON *r = cJSON_GetArrayItem(judged, 0);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	struct gguf *g2 = NULL;
	if (gguf_open(path2, &g2, err, sizeof(err)) < 0)
		th_fail(__FILE__, __LINE__, "%s", err);
	const cJSON *tensors = cJSON_GetObjectItem(r, "tensors");
	CHECK_INT(cJSON_GetArraySize(tensors), ==, g2->n_tensors);
	const cJSON *t;
	cJSON_ArrayForEach(t, tensors)
	{
		const struct gguf_tensor *ours = gguf_find_tensor(g2, cJSON_GetObjectItem(t, "name")->valuestring);
		CHECK(ours != NULL);
		CHECK_INT(ours->type, ==, cJSON_GetObjectItem(t, "type")->valueint);
		CHECK_INT((const uint8_t *)ours->data - g2->base, ==,
			  cJSON_GetObjectItem(t, "file_offset")->valuedouble);
		const cJSON *dims = cJSON_GetObjectItem(t, "dims");
		CHECK_INT(cJSON_GetArraySize(dims), ==, ours->n_dims);
		for (uint32_t d = 0; d < ours->n_dims; d++)
			CHECK_INT(ours->ne[d], ==, cJSON_GetArrayItem(dims, (int)d)->valuedouble);
	}
	cJSON_Delete(judged);
	gguf_close(g);
	gguf_close(g2);
	free(out);
	free(script);
	free(path);
	free(path2);
}
