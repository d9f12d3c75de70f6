/* GGUF files (versions 2 and 3), read without trusting them: the whole file
 * is mapped read-only, then every count, length, type, shape and offset is
 * checked before anything is used, and a bad file gets an error that names
 * what is wrong. Values point into the mapping; tensors are found by name. */
#ifndef AGENTD_ENGINE_GGUF_H
#define AGENTD_ENGINE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/engine/strmap.h"

#define GGUF_MAX_DIMS 4
/* ggml stores tensor names in 64 bytes with the terminating NUL. */
#define GGUF_MAX_TENSOR_NAME 63
#define GGUF_MAX_KEY 65535
#define GGUF_DEFAULT_ALIGNMENT 32
/* Arrays may hold arrays; deeper nesting than this is refused. */
#define GGUF_MAX_ARRAY_DEPTH 4

enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT = 13,
};

/* A string in the mapping: not NUL-terminated, may hold any bytes. */
struct gguf_str {
	const char *ptr; /* borrowed from the mapping */
	uint64_t len;    /* bytes */
};

struct gguf_value {
	uint32_t type; /* enum gguf_type */
	union {
		uint64_t u;          /* UINT8..UINT64 and BOOL (0 or 1) */
		int64_t i;           /* INT8..INT64 */
		double f;            /* FLOAT32 and FLOAT64 */
		struct gguf_str str; /* STRING */
		struct {
			uint32_t type;            /* element type */
			uint64_t n;               /* element count */
			const uint8_t *data;      /* elements as stored (little-endian, maybe unaligned) */
			struct gguf_value *items; /* STRING and ARRAY elements, decoded; owned by the gguf */
		} arr;                            /* ARRAY */
	};
};

struct gguf_kv {
	char *key;               /* owned, NUL-terminated */
	struct gguf_value value; /* the value */
};

struct gguf_tensor {
	char *name;                 /* owned, NUL-terminated */
	uint32_t type;              /* a dtype id (daemon/engine/dtype.h) */
	uint32_t n_dims;            /* 1..GGUF_MAX_DIMS */
	uint64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, innermost first; 1 past n_dims */
	uint64_t n_elems;           /* product of ne */
	uint64_t offset;            /* from the start of the data section */
	uint64_t bytes;             /* size of the data */
	const void *data;           /* borrowed from the mapping */
};

struct gguf {
	const uint8_t *base;         /* the file's bytes */
	size_t size;                 /* file size */
	bool mapped;                 /* base is our mmap (unmapped on close) */
	uint32_t version;            /* 2 or 3 */
	uint32_t alignment;          /* general.alignment, or the default */
	uint64_t data_offset;        /* file offset of the tensor data section */
	size_t n_kv;                 /* metadata entries */
	struct gguf_kv *kv;          /* owned, n_kv entries in file order */
	size_t n_tensors;            /* tensors */
	struct gguf_tensor *tensors; /* owned, n_tensors entries in file order */
	struct strmap kv_index;      /* key -> index into kv */
	struct strmap tensor_index;  /* name -> index into tensors */
};

/* Maps and validates the file at path. On success *out is a new gguf the
 * caller closes with gguf_close; on failure returns a negative errno and a
 * message in err. */
int gguf_open(const char *path, struct gguf **out, char *err, size_t errlen);
/* The same over bytes in memory, which are borrowed and must outlive the
 * gguf (fuzzing and tests). */
int gguf_open_memory(const void *data, size_t size, struct gguf **out, char *err, size_t errlen);
/* Releases everything; gguf_close(NULL) is a no-op. */
void gguf_close(struct gguf *g);

/* The value of key (borrowed from g), or NULL when absent. */
const struct gguf_value *gguf_get(const struct gguf *g, const char *key);
/* The tensor called name (borrowed from g), or NULL. */
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);
/* The name of a value type ("uint32", "array"...), or "unknown". */
const char *gguf_type_name(uint32_t type);

/* Typed getters: -ENOENT when key is absent, -EINVAL when its type or
 * value does not fit; err names the key either way. */
/* Any integer type holding a value in [0, max]. */
int gguf_get_uint(const struct gguf *g, const char *key, uint64_t max, uint64_t *out, char *err, size_t errlen);
/* FLOAT32 or FLOAT64, finite. */
int gguf_get_float(const struct gguf *g, const char *key, double *out, char *err, size_t errlen);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out, char *err, size_t errlen);
/* *out borrows from g. */
int gguf_get_string(const struct gguf *g, const char *key, struct gguf_str *out, char *err, size_t errlen);
/* An array whose elements have type elem_type; *out borrows from g. */
int gguf_get_array(const struct gguf *g, const char *key, uint32_t elem_type, const struct gguf_value **out, char *err,
		   size_t errlen);
/* Element i (< n) of an array of any integer type, as a signed value
 * (UINT64 elements above INT64_MAX read as -1). */
int64_t gguf_array_int(const struct gguf_value *arr, uint64_t i);
/* True when s equals the NUL-terminated text. */
bool gguf_str_eq(struct gguf_str s, const char *text);

#endif
