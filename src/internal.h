/*
 * internal.h - private declarations shared by the modules of libggpack.
 * Module prefixes: ctx_ (errors), wire_ (protobuf wire format), splice_
 * (rewriting a file with edits), mapped_ (mapped files), index_ (model
 * structure), tensor_ (element types and data), strmap_ (string hash map).
 */
#ifndef GGPACK_INTERNAL_H
#define GGPACK_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ggpack.h"
#include "onnx.pb-c.h"

#define NONE UINT32_MAX

/* Hot loops compiled twice, for baseline x86-64 and for AVX2, and chosen
 * at load time (ifunc): the library stays portable and uses the wide
 * vectors where the machine has them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SIMD_CLONES
#endif

/* protobuf-c leaves an absent proto2 string NULL: read them through this. */
static inline const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* Makes room for element n of the array *arr of *cap elements of `size`
 * bytes, doubling it; GGPACK_E_NOMEM (the array unchanged) when it cannot. */
static inline int grow_array(void *arr, size_t *cap, size_t n, size_t size)
{
	void **a = arr;
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 16;
	if (c > SIZE_MAX / size)
		return GGPACK_E_NOMEM;
	void *p = realloc(*a, c * size);
	if (!p)
		return GGPACK_E_NOMEM;
	*a = p;
	*cap = c;
	return 0;
}

/* Bits of a float and back, and c ? a : b for c in {0, 1}: the pieces of
 * branch-free loops (GCC turns float ?: into jumps, which stop it from
 * vectorizing). */
static inline uint32_t u32_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float f32_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* GCC's vector types, for sums the compiler would not vectorize itself
 * (it may not reorder a double sum): fixed lanes, one fixed order. */
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));
typedef uint64_t v4ul __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline uint32_t pick_u32(int32_t c, uint32_t a, uint32_t b)
{
	return (a & -(uint32_t)c) | (b & ((uint32_t)c - 1));
}

/* rint(y) without a branch or a libm call (rintf is one on baseline
 * x86-64): adding and taking away 1.5 * 2^23 rounds to an integer under
 * round-to-nearest-even; from 2^23 up, y is an integer already. */
static inline float rint_float(float y)
{
	int32_t small = (int32_t)(u32_of(y) & 0x7fffffff) < 0x4b000000;
	return f32_of(pick_u32(small, u32_of((y + 12582912.0f) - 12582912.0f), u32_of(y)));
}

/* The grid level rint(y) of a scaled value as an integer; clamped to
 * +-2^61, since converting a float past int64's range is undefined, and so
 * that a level plus or minus another (mu_q +- P) stays within int64. */
#define LEVEL_MAX (INT64_C(1) << 61)
static inline int64_t level_of(float y)
{
	float r = rintf(y);
	return r >= 0x1p61f ? LEVEL_MAX : r <= -0x1p61f ? -LEVEL_MAX : (int64_t)r;
}

/* x's own grid value rint(x scale) delta (scale = 1 / delta, powers of
 * 2), with rintf's sign: -0 for a negative x of level 0. Where x scale
 * overflows, x itself: from 2^23 levels on, x is on the grid already. */
static inline float grid_value(float x, float scale, float delta)
{
	float y = x * scale;
	int32_t over = (u32_of(y) & 0x7fffffff) == 0x7f800000;
	float q = f32_of(u32_of(rint_float(y)) | (u32_of(y) & 0x80000000));
	return f32_of(pick_u32(over, u32_of(x), u32_of(q * delta)));
}

/* ---- parallel.c: chunks of long buffers on several threads ------------ */

#define PARALLEL_MAX 64
#define CHUNK ((size_t)1 << 18)   /* elements: fixed, so results never depend on threads */

static inline size_t chunks_of(size_t n)
{
	return (n + CHUNK - 1) / CHUNK;
}

/* Elements in chunk c of a buffer of n. */
static inline size_t chunk_len(size_t n, size_t c)
{
	return n - c * CHUNK < CHUNK ? n - c * CHUNK : CHUNK;
}

/* One chunk of several buffers taken as one, in order. */
struct chunk {
	float *x;
	size_t len;
};

/* The chunks of n_parts buffers, in order (malloc'd). GGPACK_E_NOMEM. */
int chunks_make(float *const *parts, const size_t *lens, size_t n_parts, struct chunk **out,
		size_t *n_out);

unsigned parallel_threads(void);
/* On: parallel_for runs inline in this thread (a worker of a pool over
 * whole tensors, which must not start threads of its own). */
void parallel_serial_here(bool on);
/* How many workers parallel_for will use for n_chunks (worker indices < it). */
unsigned parallel_workers(size_t n_chunks);
/* Runs fn(arg, chunk, worker) once for every chunk < n_chunks. */
void parallel_for(size_t n_chunks, void (*fn)(void *arg, size_t chunk, unsigned worker), void *arg);
/* The same with a fixed assignment: worker w runs the w-th of n_workers
 * contiguous runs of chunks, in ascending order, whatever happens; so two
 * passes agree on who saw what, and what the workers write one after the
 * other is in chunk order. */
void parallel_for_static(size_t n_chunks, unsigned n_workers,
			 void (*fn)(void *arg, size_t chunk, unsigned worker), void *arg);

/* ---- error.c ---------------------------------------------------------- */

struct ggpack_ctx {
	char message[1024];
};

/* Formats the detail into ctx and returns code, so callers can
 * `return ctx_fail(ctx, GGPACK_E_INVALID, "%s: ...", path)`. ctx may be NULL. */
int ctx_fail(struct ggpack_ctx *ctx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Puts the formatted text before the message already in ctx (which says
 * what failed), and returns code: "FILE: tensor 'T': " + the detail. */
int ctx_prefix(struct ggpack_ctx *ctx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- wire.c: the protobuf wire format --------------------------------- */

/* Reads a varint of at most 10 bytes at p (< end). Returns its length, or 0
 * when it is unterminated or runs past end. */
size_t wire_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *value);
/* Bytes needed to encode v. */
size_t wire_varint_size(uint64_t v);
/* Encodes v at dst (room for 10 bytes); returns the bytes written. */
size_t wire_put_varint(uint8_t *dst, uint64_t v);

/* One length-delimited message of a type the index needs (ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, SparseTensorProto,
 * TrainingInfoProto, FunctionProto), as a span of the file. The root
 * (the ModelProto, index 0) spans the whole file and has no tag. */
struct wire_region {
	size_t field_off;   /* offset of the field's tag */
	size_t len_off;     /* offset of its length varint */
	size_t start, end;  /* the payload */
	uint32_t parent;    /* enclosing region, NONE for the root */
	uint32_t first_child, next_sibling;
	uint32_t field;     /* field number in the parent */
	const ProtobufCMessageDescriptor *type;
	/* TensorProto only: the raw_data field (whole field, tag included)
	 * and the last data_location value seen (0 = DEFAULT). */
	size_t raw_field_off, raw_start, raw_end;
	bool has_raw;
	int64_t data_location;
};

struct wire_scan {
	struct wire_region *regions;
	size_t n_regions, cap_regions;
};

/* Walks buf as a ModelProto, checking every field the way protobuf-c's
 * unpacker would, and records the regions above. On failure reports into
 * ctx the byte offset where the wire format breaks and returns
 * GGPACK_E_INVALID (or GGPACK_E_NOMEM). */
int wire_scan_model(struct ggpack_ctx *ctx, const char *path, const uint8_t *buf,
		    size_t len, struct wire_scan *out);
void wire_scan_free(struct wire_scan *scan);

/* One field of a message already checked by wire_scan_model(). */
struct wire_field {
	uint32_t number, wire_type;
	size_t off;          /* the tag */
	size_t start, end;   /* the value (payload for length-delimited) */
	uint64_t value;      /* varint value, or the length */
};

/* Reads the field at *pos (< end) and advances *pos; false at a malformed
 * field (which a checked message does not have). */
bool wire_next_field(const uint8_t *buf, size_t *pos, size_t end, struct wire_field *f);

/* ---- splice.c: rewriting a file as edits of its bytes ------------------- */

/* A piece of output: len bytes at data (not owned). */
struct splice_piece {
	const void *data;
	size_t len;
	bool mapped;      /* from a read-only file mapping: its pages go once written */
};

/* Replace bytes [begin, end) of the original (begin == end inserts) by the
 * pieces. The edit lies in the payload of `region` (named, because an insert
 * at the end of a message has the offset of the field after it) and never
 * cuts a field in two; the lengths of all enclosing regions are rewritten. */
struct splice_edit {
	uint32_t region;
	size_t begin, end;
	const struct splice_piece *pieces;
	size_t n_pieces;
};

/* Sees the bytes a sink writes to its file, in file order, as each write
 * completes (the save's output digest, output.c). */
struct sink_tap {
	void (*add)(void *arg, const void *p, size_t n);
	void *arg;
};

/* Where output goes: a growing memory buffer, or a file descriptor through
 * a buffer. */
struct splice_sink {
	int fd;           /* -1 for memory */
	uint8_t *buf;
	size_t len, cap;
	uint64_t written; /* total bytes produced */
	int err;          /* errno of the first failed write */
	const struct sink_tap *tap; /* or NULL */
	bool release_orig;   /* splice_write's orig is a read-only file mapping: */
	size_t orig_released; /* its pages below this go once copied */
};

void splice_sink_init_fd(struct splice_sink *sink, int fd);
void splice_sink_init_mem(struct splice_sink *sink);
int splice_sink_write(struct splice_sink *sink, const void *data, size_t len);
int splice_sink_flush(struct splice_sink *sink);
void splice_sink_free(struct splice_sink *sink);

/* The size of the rewritten file. edits need not be sorted. */
int splice_size(const struct wire_scan *scan, const uint8_t *orig, size_t orig_len,
		const struct splice_edit *edits, size_t n_edits, uint64_t *size);
/* Writes orig with the edits applied to sink. Returns 0, GGPACK_E_NOMEM,
 * GGPACK_E_INTERNAL (overlapping edits) or GGPACK_E_IO (sink->err set). */
int splice_write(const struct wire_scan *scan, const uint8_t *orig, size_t orig_len,
		 const struct splice_edit *edits, size_t n_edits, struct splice_sink *sink);

/* ---- mapped.c: read-only mapped files --------------------------------- */

struct mapped_file {
	const uint8_t *data;
	size_t size;
	dev_t dev;
	ino_t ino;
};

/* Maps path read-only (an empty file maps to data == NULL, size 0).
 * Returns 0 or GGPACK_E_IO with errno's text in ctx. */
int mapped_open(struct ggpack_ctx *ctx, const char *path, struct mapped_file *out);
void mapped_close(struct mapped_file *m);
/* Lets the whole pages of a range of a read-only file mapping go: the
 * process's resident memory stops growing with the files it has read. */
void mapped_release(const void *p, size_t len);
/* Maps the pages of a range in ahead (no data is copied). write() copies
 * from a mapping with faults disabled, and on each miss zeroes the rest of
 * the new page-cache folio it was filling, then retries: for a large
 * write from a file mapping that is most of the write's time. */
void mapped_prefault(const void *p, size_t len);

/* ---- strmap.c: string -> uint32 hash map -------------------------------- */

struct strmap {
	struct strmap_slot { const char *key; uint32_t value; } *slots;
	size_t n, cap;
};

int strmap_put(struct strmap *m, const char *key, uint32_t value); /* keeps the first value */
int strmap_set(struct strmap *m, const char *key, uint32_t value); /* replaces it */
uint32_t strmap_get(const struct strmap *m, const char *key);      /* NONE when absent */
void strmap_free(struct strmap *m);

/* ---- tensor.c: element types and tensor data -------------------------- */

/* Size in bits of one element of an ONNX data type (4 for int4), 0 for
 * strings, -1 for a value ggpack does not know. */
int tensor_dtype_bits(int32_t dtype);
/* The TensorProto typed field that holds dtype's elements, or NULL. */
const char *tensor_typed_field_name(int32_t dtype);
/* Exact widening of the 16-bit float formats. */
float tensor_f16_to_f32(uint16_t h);
float tensor_bf16_to_f32(uint16_t b);
/* The largest |x| of n float32 values as bits (a NaN or infinity shows as
 * >= 0x7f800000), counting only magnitudes whose bits are >= floor. */
uint32_t tensor_max_abs_bits(const float *x, size_t n, uint32_t floor);
/* The same over chunks on several threads (a max is exact in any order). */
uint32_t tensor_max_abs_bits_parallel(const float *x, size_t n, uint32_t floor);
/* Narrowing, to nearest with ties to even (infinity past the range). */
uint16_t tensor_f16_from_f64(double v);
uint16_t tensor_bf16_from_f64(double v);

struct index_tensor;
/* Element i of raw little-endian data of a floating dtype, as a double
 * (exact for every floating dtype). */
double tensor_raw_element(int dtype, const uint8_t *p, size_t i);
/* n float32 values written as raw little-endian elements of a floating
 * dtype (float16 and bfloat16 to nearest, ties to even). */
void tensor_store_f32(int dtype, const float *v, size_t n, uint8_t *out);
/* The first element of a float64 tensor that float32 cannot hold to its
 * full precision (finite beyond FLT_MAX, or nonzero under FLT_MIN); params
 * when there is none or the tensor is not float64. */
size_t tensor_f64_first_outside_f32(const struct index_tensor *t);
/* Elements [from, from + n) of a floating tensor as float32 (float64
 * narrowed to nearest). */
void tensor_read_f32_range(const struct index_tensor *t, size_t from, size_t n, float *dst);

/* ---- bitrate.c -------------------------------------------------------- */

struct ggpack_hist {
	size_t k;           /* distinct symbols, ascending */
	int64_t *symbols;
	uint64_t *counts;   /* all > 0 */
	uint64_t total;
};

/* Histogram of the grid levels rint(x 2^grid) of several buffers taken as
 * one. GGPACK_E_INVALID when a value is not finite. */
int hist_grid_parts(float *const *parts, const size_t *lens, size_t n_parts, int grid,
		    struct ggpack_hist **out);
/* The same for one buffer whose max |x| bits (tensor_max_abs_bits with no
 * floor) the caller has: the pass that finds them is not made again. */
int hist_grid_f32_max(const float *x, size_t n, int grid, uint32_t max_bits, struct ggpack_hist **out);
/* ggpack_rf8_encode of float32 values whose max |x| bits (no floor) the
 * caller has, for the same reason. */
int rf8_encode_f32_max(struct ggpack_ctx *ctx, const char *name, const float *x, size_t n,
		       enum ggpack_rounding rounding, double floor, uint32_t max_bits, uint8_t *codes, int *E);
/* The histogram of dense counts (bins[i] is the count of symbol base + i)
 * and of symbols outside their span, sorted (or NULL, 0); with no bins,
 * the histogram of the sorted symbols alone. */
int hist_from_dense(const uint64_t *bins, size_t n_bins, int64_t base, const int64_t *outside,
		    size_t n_outside, struct ggpack_hist **out);
/* Levels in ascending order, for hist_from_dense. */
void sort_levels(int64_t *q, size_t n);

/* ---- save.c ------------------------------------------------------------- */

/* New contents for one tensor (convert): raw little-endian elements, and
 * optionally a new data_type and name. data == NULL keeps the tensor. */
struct save_change {
	const void *data;
	uint64_t bytes;
	int32_t dtype;     /* 0 keeps it */
	const char *name;  /* NULL keeps it */
	bool mapped;       /* data lies in a read-only file mapping: its pages may go once written */
};

/* Everything a conversion changes: per-tensor contents (n_tensors entries
 * or NULL) and further edits (nodes inserted, inputs retyped, metadata). */
struct save_changes {
	const struct save_change *tensors;
	const struct splice_edit *edits;
	size_t n_edits;
};

/* Who sees the bytes of the model file and of the data file (either may
 * be NULL). The model file is written first. */
struct save_taps {
	const struct sink_tap *model, *data;
};

/* ggpack_model_save with changes applied (ch and taps may be NULL). */
int save_model(struct ggpack_ctx *ctx, const struct ggpack_model *m, const char *path,
	       const struct ggpack_save_options *options, const struct save_changes *ch,
	       const struct save_taps *taps);

/* ---- model.c, index.c: the loaded model ---------------------------------- */

struct index_graph {
	const Onnx__GraphProto *proto;
	uint32_t region;
	uint32_t parent;      /* enclosing graph, NONE for the main graph */
	char *path;           /* "main", "main/NODE:ATTR", ... */
	struct strmap defined; /* names produced here: inputs, initializers, node outputs */
	struct strmap tensors; /* name -> tensor index, initializers and Constant outputs */
};

struct index_consumer {
	uint32_t graph;
	const Onnx__NodeProto *node;
	int input;
};

struct index_tensor {
	const char *name;               /* a Constant's output name, else the proto's */
	const Onnx__TensorProto *proto; /* in the skeleton: raw_data removed */
	uint32_t region;
	uint32_t graph;
	enum ggpack_tensor_kind kind;
	const Onnx__NodeProto *node;    /* Constant or attribute holder */
	uint64_t params, bytes;
	enum ggpack_storage storage;
	/* raw form: the bytes in the model file (RAW) or the external file */
	const uint8_t *data;
	uint32_t ext_file;              /* index into model->ext, EXTERNAL only */
	uint64_t ext_offset;
	struct index_consumer *consumers;
	size_t n_consumers, cap_consumers;
	bool is_graph_input;
	bool name_clash;                /* its graph defines its name more than once */
};

struct ext_file {
	char *location;   /* as written in the model */
	char *path;       /* resolved */
	struct mapped_file map;
};

struct ggpack_model {
	char *path;
	struct mapped_file file;
	bool borrowed;                   /* file.data belongs to the caller */
	struct wire_scan scan;
	uint8_t *skeleton;               /* the file without raw_data payloads */
	Onnx__ModelProto *proto;         /* unpacked from the skeleton */
	struct index_graph *graphs;
	size_t n_graphs, cap_graphs;
	struct index_tensor *tensors;    /* every TensorProto of graphs and nodes */
	size_t n_tensors, cap_tensors;
	uint32_t *region_tensor;         /* region index -> tensor index or NONE */
	struct ext_file *ext;
	size_t n_ext;
	size_t n_nodes;
};

/* Loads a model from bytes the caller keeps alive until ggpack_model_free
 * (for the fuzzer); path names it in messages and anchors external data. */
/* After a tensor's (or a file range's) bytes were read: lets their pages
 * go when they are mapped from a file (mapped_release); a no-op on a
 * borrowed buffer or typed data. */
struct index_tensor;
/* Whether a tensor's raw bytes lie in a file mapping (the model's, when not
 * borrowed, or an external data file's), which mapped_release may drop. */
bool model_tensor_mapped(const struct ggpack_model *m, const struct index_tensor *t);
void model_release_tensor(const struct ggpack_model *m, const struct index_tensor *t);
/* The pages of elements [from, from + n) of it. */
void model_release_range(const struct ggpack_model *m, const struct index_tensor *t, size_t from, size_t n);
void model_release_file(const struct ggpack_model *m, const void *p, size_t len);
int model_load_buffer(struct ggpack_ctx *ctx, const char *path, const uint8_t *data, size_t size,
		      struct ggpack_model **out);

/* index.c: builds graphs, tensors and consumers from the scan and the
 * unpacked skeleton; checks every tensor. */
int index_build(struct ggpack_ctx *ctx, struct ggpack_model *m);
void index_free(struct ggpack_model *m);

/* external.c: resolves and checks the external data of every tensor. */
int external_resolve(struct ggpack_ctx *ctx, struct ggpack_model *m);
void external_free(struct ggpack_model *m);
/* The value of external_data key in t, or NULL. */
const char *external_get(const Onnx__TensorProto *t, const char *key);

#endif /* GGPACK_INTERNAL_H */
