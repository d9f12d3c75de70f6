/* The GGUF reader: maps a file and validates the header, the metadata and
 * the tensor records before any of it is trusted (see gguf.h). */
#include "daemon/engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/engine/dtype.h"

/* A read position in the file, with the context for error messages. */
struct gguf_cursor {
	const uint8_t *base; /* the file */
	size_t size;         /* its size */
	size_t off;          /* next byte to read */
	char *err;           /* caller's message buffer */
	size_t errlen;       /* its size */
};

static int gguf_fail(struct gguf_cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int gguf_fail(struct gguf_cursor *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (c->err && c->errlen)
		vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *const gguf_type_names[GGUF_TYPE_COUNT] = {
	"uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
	"bool",  "string", "array",  "uint64", "int64",  "float64",
};

/* Bytes of one scalar of type t, or 0 for STRING and ARRAY. */
static size_t gguf_scalar_size(uint32_t t)
{
	switch (t) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_BOOL: return 1;
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_INT16: return 2;
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_FLOAT32: return 4;
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_INT64:
	case GGUF_TYPE_FLOAT64: return 8;
	default: return 0;
	}
}

const char *gguf_type_name(uint32_t type)
{
	return type < GGUF_TYPE_COUNT ? gguf_type_names[type] : "unknown";
}

static uint64_t gguf_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Reads n (<= 8) bytes as a little-endian integer; what names the field. */
static int gguf_read(struct gguf_cursor *c, size_t n, uint64_t *v, const char *what)
{
	*v = 0;
	if (c->size - c->off < n)
		return gguf_fail(c, "file is truncated: %s at offset %zu needs %zu bytes, the file has %zu", what,
				 c->off, n, c->size);
	*v = gguf_le(c->base + c->off, n);
	c->off += n;
	return 0;
}

/* Reads a string (u64 length, bytes) without copying it. */
static int gguf_read_str(struct gguf_cursor *c, struct gguf_str *s, const char *what)
{
	uint64_t len;
	size_t at = c->off;
	int rc = gguf_read(c, 8, &len, what);
	if (rc < 0)
		return rc;
	if (len > c->size - c->off)
		return gguf_fail(c, "%s at offset %zu has length %llu, past the end of the file (%zu bytes)", what, at,
				 (unsigned long long)len, c->size);
	s->ptr = (const char *)c->base + c->off;
	s->len = len;
	c->off += (size_t)len;
	return 0;
}

static int gguf_read_value(struct gguf_cursor *c, uint32_t type, struct gguf_value *v, const char *key, int depth);

static void gguf_value_free(struct gguf_value *v)
{
	if (v->type != GGUF_TYPE_ARRAY || !v->arr.items)
		return;
	if (v->arr.type == GGUF_TYPE_ARRAY)
		for (uint64_t i = 0; i < v->arr.n; i++)
			gguf_value_free(&v->arr.items[i]);
	free(v->arr.items);
	v->arr.items = NULL;
}

static int gguf_read_array(struct gguf_cursor *c, struct gguf_value *v, const char *key, int depth)
{
	uint64_t elem = 0, n = 0;
	int rc = gguf_read(c, 4, &elem, "array element type");
	if (rc == 0)
		rc = gguf_read(c, 8, &n, "array length");
	if (rc < 0)
		return rc;
	if (elem >= GGUF_TYPE_COUNT)
		return gguf_fail(c, "metadata '%s': array element type %llu is not a GGUF type", key,
				 (unsigned long long)elem);
	if (elem == GGUF_TYPE_ARRAY && depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
		return gguf_fail(c, "metadata '%s': arrays nested deeper than %d", key, GGUF_MAX_ARRAY_DEPTH);
	/* Every element takes at least one byte (strings and arrays at least
	 * eight), so a count larger than what is left cannot be genuine; this
	 * also bounds the allocation below by the file size. */
	size_t min = gguf_scalar_size((uint32_t)elem);
	if (!min)
		min = elem == GGUF_TYPE_STRING ? 8 : 12;
	if (n > (c->size - c->off) / min)
		return gguf_fail(c, "metadata '%s': array of %llu %s elements runs past the end of the file", key,
				 (unsigned long long)n, gguf_type_name((uint32_t)elem));
	v->arr.type = (uint32_t)elem;
	v->arr.n = n;
	v->arr.data = c->base + c->off;
	v->arr.items = NULL;
	if (min <= 8 && elem != GGUF_TYPE_STRING) {
		if (elem == GGUF_TYPE_BOOL)
			for (uint64_t i = 0; i < n; i++)
				if (v->arr.data[i] > 1)
					return gguf_fail(
						c, "metadata '%s': element %llu of a bool array is %u, not 0 or 1", key,
						(unsigned long long)i, v->arr.data[i]);
		c->off += (size_t)(n * min);
		return 0;
	}
	if (n) {
		v->arr.items = calloc((size_t)n, sizeof(*v->arr.items));
		if (!v->arr.items)
			return gguf_fail(c, "metadata '%s': out of memory for %llu array elements", key,
					 (unsigned long long)n);
	}
	for (uint64_t i = 0; i < n; i++) {
		v->arr.items[i].type = (uint32_t)elem;
		rc = gguf_read_value(c, (uint32_t)elem, &v->arr.items[i], key, depth + 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int gguf_read_value(struct gguf_cursor *c, uint32_t type, struct gguf_value *v, const char *key, int depth)
{
	uint64_t raw;
	int rc;
	v->type = type;
	switch (type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64: return gguf_read(c, gguf_scalar_size(type), &v->u, key);
	case GGUF_TYPE_BOOL:
		if ((rc = gguf_read(c, 1, &v->u, key)) < 0)
			return rc;
		if (v->u > 1)
			return gguf_fail(c, "metadata '%s': bool value is %llu, not 0 or 1", key,
					 (unsigned long long)v->u);
		return 0;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64: {
		size_t n = gguf_scalar_size(type);
		if ((rc = gguf_read(c, n, &raw, key)) < 0)
			return rc;
		/* Sign-extend from n bytes. */
		unsigned shift = (unsigned)(64 - 8 * n);
		v->i = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
		return 0;
	}
	case GGUF_TYPE_FLOAT32: {
		if ((rc = gguf_read(c, 4, &raw, key)) < 0)
			return rc;
		uint32_t bits = (uint32_t)raw;
		float f;
		memcpy(&f, &bits, 4);
		v->f = f;
		return 0;
	}
	case GGUF_TYPE_FLOAT64:
		if ((rc = gguf_read(c, 8, &raw, key)) < 0)
			return rc;
		memcpy(&v->f, &raw, 8);
		return 0;
	case GGUF_TYPE_STRING: return gguf_read_str(c, &v->str, key);
	case GGUF_TYPE_ARRAY: return gguf_read_array(c, v, key, depth);
	default: return gguf_fail(c, "metadata '%s': value type %u is not a GGUF type", key, type);
	}
}

static int gguf_parse_kv(struct gguf *g, struct gguf_cursor *c, uint64_t n_kv)
{
	g->kv = calloc((size_t)n_kv ? (size_t)n_kv : 1, sizeof(*g->kv));
	if (!g->kv)
		return gguf_fail(c, "out of memory for %llu metadata entries", (unsigned long long)n_kv);
	strmap_init(&g->kv_index, (size_t)n_kv);
	for (uint64_t i = 0; i < n_kv; i++) {
		struct gguf_str key;
		char what[64];
		snprintf(what, sizeof(what), "metadata key %llu", (unsigned long long)i);
		int rc = gguf_read_str(c, &key, what);
		if (rc < 0)
			return rc;
		if (key.len == 0 || key.len > GGUF_MAX_KEY)
			return gguf_fail(c, "metadata key %llu has length %llu (must be 1 to %d bytes)",
					 (unsigned long long)i, (unsigned long long)key.len, GGUF_MAX_KEY);
		if (memchr(key.ptr, 0, (size_t)key.len))
			return gguf_fail(c, "metadata key %llu contains a NUL byte", (unsigned long long)i);
		struct gguf_kv *kv = &g->kv[i];
		kv->key = malloc((size_t)key.len + 1);
		if (!kv->key)
			return gguf_fail(c, "out of memory");
		memcpy(kv->key, key.ptr, (size_t)key.len);
		kv->key[key.len] = '\0';
		g->n_kv = (size_t)i + 1;
		if (!strmap_put(&g->kv_index, kv->key, (size_t)key.len, i))
			return gguf_fail(c, "metadata key '%s' appears twice", kv->key);
		uint64_t type;
		if ((rc = gguf_read(c, 4, &type, "value type")) < 0)
			return rc;
		if (type >= GGUF_TYPE_COUNT)
			return gguf_fail(c, "metadata '%s': value type %llu is not a GGUF type", kv->key,
					 (unsigned long long)type);
		if ((rc = gguf_read_value(c, (uint32_t)type, &kv->value, kv->key, 0)) < 0)
			return rc;
	}
	return 0;
}

static int gguf_parse_alignment(struct gguf *g, struct gguf_cursor *c)
{
	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	const struct gguf_value *v = gguf_get(g, "general.alignment");
	if (!v)
		return 0;
	if (v->type != GGUF_TYPE_UINT32)
		return gguf_fail(c, "general.alignment has type %s, expected uint32", gguf_type_name(v->type));
	if (v->u == 0 || (v->u & (v->u - 1)) != 0)
		return gguf_fail(c, "general.alignment is %llu, not a power of two", (unsigned long long)v->u);
	g->alignment = (uint32_t)v->u;
	return 0;
}

static int gguf_parse_tensor(struct gguf *g, struct gguf_cursor *c, uint64_t i)
{
	struct gguf_tensor *t = &g->tensors[i];
	struct gguf_str name;
	char what[64];
	snprintf(what, sizeof(what), "tensor %llu name", (unsigned long long)i);
	int rc = gguf_read_str(c, &name, what);
	if (rc < 0)
		return rc;
	if (name.len == 0 || name.len > GGUF_MAX_TENSOR_NAME)
		return gguf_fail(c, "tensor %llu has a name of %llu bytes (must be 1 to %d)", (unsigned long long)i,
				 (unsigned long long)name.len, GGUF_MAX_TENSOR_NAME);
	if (memchr(name.ptr, 0, (size_t)name.len))
		return gguf_fail(c, "tensor %llu has a NUL byte in its name", (unsigned long long)i);
	t->name = malloc((size_t)name.len + 1);
	if (!t->name)
		return gguf_fail(c, "out of memory");
	memcpy(t->name, name.ptr, (size_t)name.len);
	t->name[name.len] = '\0';
	g->n_tensors = (size_t)i + 1;
	if (!strmap_put(&g->tensor_index, t->name, (size_t)name.len, i))
		return gguf_fail(c, "tensor '%s' appears twice", t->name);

	uint64_t n_dims;
	if ((rc = gguf_read(c, 4, &n_dims, "tensor dimension count")) < 0)
		return rc;
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return gguf_fail(c, "tensor '%s' has %llu dimensions (must be 1 to %d)", t->name,
				 (unsigned long long)n_dims, GGUF_MAX_DIMS);
	t->n_dims = (uint32_t)n_dims;
	t->n_elems = 1;
	for (int d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if ((uint64_t)d >= n_dims)
			continue;
		if ((rc = gguf_read(c, 8, &t->ne[d], "tensor dimension")) < 0)
			return rc;
		if (t->ne[d] == 0 || t->ne[d] > INT64_MAX)
			return gguf_fail(c, "tensor '%s' dimension %d is %llu", t->name, d,
					 (unsigned long long)t->ne[d]);
		/* ggml counts elements in int64_t. */
		if (t->n_elems > (uint64_t)INT64_MAX / t->ne[d])
			return gguf_fail(c, "tensor '%s' has more elements than fit in 63 bits", t->name);
		t->n_elems *= t->ne[d];
	}
	uint64_t type;
	if ((rc = gguf_read(c, 4, &type, "tensor type")) < 0)
		return rc;
	const struct dtype_info *info = dtype_get(type > UINT32_MAX ? UINT32_MAX : (uint32_t)type);
	if (!info)
		return gguf_fail(c, "tensor '%s' has unknown type id %llu", t->name, (unsigned long long)type);
	t->type = (uint32_t)type;
	if (t->ne[0] % info->block_elems != 0)
		return gguf_fail(c, "tensor '%s': a row of %llu elements is not a whole number of %s blocks of %u",
				 t->name, (unsigned long long)t->ne[0], info->name, info->block_elems);
	if (dtype_row_bytes(t->type, t->n_elems, &t->bytes) < 0)
		return gguf_fail(c, "tensor '%s': its size in bytes overflows", t->name);
	if ((rc = gguf_read(c, 8, &t->offset, "tensor offset")) < 0)
		return rc;
	return 0;
}

static int gguf_compare_offsets(const void *a, const void *b)
{
	const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
	const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Places the data section and checks every tensor lies inside it, aligned,
 * without overlapping another. */
static int gguf_place_tensors(struct gguf *g, struct gguf_cursor *c)
{
	uint64_t end_of_infos = c->off;
	uint64_t pad = (g->alignment - end_of_infos % g->alignment) % g->alignment;
	g->data_offset = end_of_infos + pad;
	if (g->n_tensors == 0)
		return 0;
	if (g->data_offset > g->size)
		return gguf_fail(
			c, "the tensor data section would start at offset %llu, past the end of the file (%zu bytes)",
			(unsigned long long)g->data_offset, g->size);
	uint64_t data_size = g->size - g->data_offset;
	for (size_t i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[i];
		if (t->offset % g->alignment != 0)
			return gguf_fail(c, "tensor '%s' data offset %llu is not a multiple of the alignment %u",
					 t->name, (unsigned long long)t->offset, g->alignment);
		if (t->offset > data_size || t->bytes > data_size - t->offset)
			return gguf_fail(c,
					 "tensor '%s' (%llu bytes at data offset %llu) runs past the end of the file "
					 "(%llu bytes of tensor data)",
					 t->name, (unsigned long long)t->bytes, (unsigned long long)t->offset,
					 (unsigned long long)data_size);
		t->data = g->base + g->data_offset + t->offset;
	}
	const struct gguf_tensor **order = malloc(g->n_tensors * sizeof(*order));
	if (!order)
		return gguf_fail(c, "out of memory");
	for (size_t i = 0; i < g->n_tensors; i++)
		order[i] = &g->tensors[i];
	qsort(order, g->n_tensors, sizeof(*order), gguf_compare_offsets);
	int rc = 0;
	for (size_t i = 1; i < g->n_tensors; i++) {
		const struct gguf_tensor *a = order[i - 1], *b = order[i];
		if (a->offset + a->bytes > b->offset) {
			rc = gguf_fail(c, "tensors '%s' and '%s' overlap in the data section", a->name, b->name);
			break;
		}
	}
	free(order);
	return rc;
}

static int gguf_parse(struct gguf *g, char *err, size_t errlen)
{
	struct gguf_cursor c = {g->base, g->size, 0, err, errlen};
	uint64_t version, n_tensors = 0, n_kv = 0;
	if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
		return gguf_fail(&c, "not a GGUF file (bad magic)");
	c.off = 4;
	int rc = gguf_read(&c, 4, &version, "version");
	if (rc < 0)
		return rc;
	if (version != 2 && version != 3)
		return gguf_fail(&c, "unsupported GGUF version %llu (2 and 3 are supported)",
				 (unsigned long long)version);
	g->version = (uint32_t)version;
	if ((rc = gguf_read(&c, 8, &n_tensors, "tensor count")) < 0 ||
	    (rc = gguf_read(&c, 8, &n_kv, "metadata count")) < 0)
		return rc;
	/* A metadata entry takes at least 13 bytes and a tensor record at
	 * least 29, so larger counts cannot fit in the file. */
	if (n_kv > (g->size - c.off) / 13)
		return gguf_fail(&c, "metadata count %llu is more than the file can hold", (unsigned long long)n_kv);
	if (n_tensors > (g->size - c.off) / 29)
		return gguf_fail(&c, "tensor count %llu is more than the file can hold", (unsigned long long)n_tensors);
	if ((rc = gguf_parse_kv(g, &c, n_kv)) < 0)
		return rc;
	if ((rc = gguf_parse_alignment(g, &c)) < 0)
		return rc;
	g->tensors = calloc((size_t)n_tensors ? (size_t)n_tensors : 1, sizeof(*g->tensors));
	if (!g->tensors)
		return gguf_fail(&c, "out of memory for %llu tensors", (unsigned long long)n_tensors);
	strmap_init(&g->tensor_index, (size_t)n_tensors);
	for (uint64_t i = 0; i < n_tensors; i++)
		if ((rc = gguf_parse_tensor(g, &c, i)) < 0)
			return rc;
	return gguf_place_tensors(g, &c);
}

int gguf_open_memory(const void *data, size_t size, struct gguf **out, char *err, size_t errlen)
{
	*out = NULL;
	struct gguf *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->base = data;
	g->size = size;
	int rc = gguf_parse(g, err, errlen);
	if (rc < 0) {
		gguf_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

int gguf_open(const char *path, struct gguf **out, char *err, size_t errlen)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size < 4) {
		close(fd);
		snprintf(err, errlen, "%s: not a GGUF file (%lld bytes)", path, (long long)st.st_size);
		return -EINVAL;
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int e = errno;
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(e));
		return -e;
	}
	struct gguf *g = NULL;
	char msg[512];
	int rc = gguf_open_memory(map, (size_t)st.st_size, &g, msg, sizeof(msg));
	if (rc < 0) {
		munmap(map, (size_t)st.st_size);
		snprintf(err, errlen, "%s: %s", path, msg);
		return rc;
	}
	g->mapped = true;
	*out = g;
	return 0;
}

void gguf_close(struct gguf *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_kv; i++) {
		free(g->kv[i].key);
		gguf_value_free(&g->kv[i].value);
	}
	free(g->kv);
	for (size_t i = 0; i < g->n_tensors; i++)
		free(g->tensors[i].name);
	free(g->tensors);
	strmap_close(&g->kv_index);
	strmap_close(&g->tensor_index);
	if (g->mapped)
		munmap((void *)g->base, g->size);
	free(g);
}

const struct gguf_value *gguf_get(const struct gguf *g, const char *key)
{
	uint64_t i;
	if (!strmap_get(&g->kv_index, key, strlen(key), &i))
		return NULL;
	return &g->kv[i].value;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
	uint64_t i;
	if (!strmap_get(&g->tensor_index, name, strlen(name), &i))
		return NULL;
	return &g->tensors[i];
}

/* Looks key up and checks its type is one of the accepted ones. */
static int gguf_lookup(const struct gguf *g, const char *key, const struct gguf_value **out, bool (*accept)(uint32_t),
		       const char *expected, char *err, size_t errlen)
{
	const struct gguf_value *v = gguf_get(g, key);
	if (!v) {
		snprintf(err, errlen, "metadata key %s is missing", key);
		return -ENOENT;
	}
	if (!accept(v->type)) {
		snprintf(err, errlen, "metadata key %s has type %s, expected %s", key, gguf_type_name(v->type),
			 expected);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static bool gguf_is_int(uint32_t t)
{
	return t <= GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

static bool gguf_is_signed(uint32_t t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static bool gguf_is_float(uint32_t t)
{
	return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

static bool gguf_is_bool(uint32_t t)
{
	return t == GGUF_TYPE_BOOL;
}

static bool gguf_is_string(uint32_t t)
{
	return t == GGUF_TYPE_STRING;
}

static bool gguf_is_array(uint32_t t)
{
	return t == GGUF_TYPE_ARRAY;
}

int gguf_get_uint(const struct gguf *g, const char *key, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const struct gguf_value *v;
	int rc = gguf_lookup(g, key, &v, gguf_is_int, "an integer", err, errlen);
	if (rc < 0)
		return rc;
	if ((gguf_is_signed(v->type) && v->i < 0) || v->u > max) {
		if (gguf_is_signed(v->type))
			snprintf(err, errlen, "metadata key %s is %lld, outside 0..%llu", key, (long long)v->i,
				 (unsigned long long)max);
		else
			snprintf(err, errlen, "metadata key %s is %llu, outside 0..%llu", key, (unsigned long long)v->u,
				 (unsigned long long)max);
		return -EINVAL;
	}
	*out = v->u;
	return 0;
}

int gguf_get_float(const struct gguf *g, const char *key, double *out, char *err, size_t errlen)
{
	const struct gguf_value *v;
	int rc = gguf_lookup(g, key, &v, gguf_is_float, "float32", err, errlen);
	if (rc < 0)
		return rc;
	if (!isfinite(v->f)) {
		snprintf(err, errlen, "metadata key %s is not a finite number", key);
		return -EINVAL;
	}
	*out = v->f;
	return 0;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out, char *err, size_t errlen)
{
	const struct gguf_value *v;
	int rc = gguf_lookup(g, key, &v, gguf_is_bool, "bool", err, errlen);
	if (rc == 0)
		*out = v->u != 0;
	return rc;
}

int gguf_get_string(const struct gguf *g, const char *key, struct gguf_str *out, char *err, size_t errlen)
{
	const struct gguf_value *v;
	int rc = gguf_lookup(g, key, &v, gguf_is_string, "string", err, errlen);
	if (rc == 0)
		*out = v->str;
	return rc;
}

int gguf_get_array(const struct gguf *g, const char *key, uint32_t elem_type, const struct gguf_value **out, char *err,
		   size_t errlen)
{
	const struct gguf_value *v;
	int rc = gguf_lookup(g, key, &v, gguf_is_array, "array", err, errlen);
	if (rc < 0)
		return rc;
	bool ok = v->arr.type == elem_type || (gguf_is_int(elem_type) && gguf_is_int(v->arr.type));
	if (!ok) {
		snprintf(err, errlen, "metadata key %s is an array of %s, expected %s", key,
			 gguf_type_name(v->arr.type), gguf_type_name(elem_type));
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int64_t gguf_array_int(const struct gguf_value *arr, uint64_t i)
{
	size_t n = gguf_scalar_size(arr->arr.type);
	uint64_t raw = gguf_le(arr->arr.data + i * n, n);
	if (gguf_is_signed(arr->arr.type)) {
		unsigned shift = (unsigned)(64 - 8 * n);
		return shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
	}
	return raw > INT64_MAX ? -1 : (int64_t)raw;
}

bool gguf_str_eq(struct gguf_str s, const char *text)
{
	size_t n = strlen(text);
	return s.len == n && memcmp(s.ptr, text, n) == 0;
}
