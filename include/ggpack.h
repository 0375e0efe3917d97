/*
 * ggpack.h - the whole public API of libggpack: load, inspect and save ONNX
 * models, and (in later modules) the generalized-Gaussian toolkit.
 *
 * Conventions: fallible functions return int, >= 0 on success and a negative
 * GGPACK_E_* code on failure, with the detail (file, tensor, byte offset) in
 * the context given; out-parameters are written only on success; every _new
 * or _load has a _free, and _free(NULL) is a no-op. No protobuf-c type appears
 * here. The library never prints, exits or aborts on bad input.
 */
#ifndef GGPACK_H
#define GGPACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GGPACK_EXPORT __attribute__((visibility("default")))
#else
#define GGPACK_EXPORT
#endif

#define GGPACK_VERSION "0.1.0"

/*
 * Error codes. Each equals minus the exit code the CLI uses for it
 * (DESIGN.md), except GGPACK_E_NOMEM, which exits 1 like an internal error.
 */
enum ggpack_error {
	GGPACK_OK = 0,
	GGPACK_E_INTERNAL = -1, /**< a bug or an unexpected system failure */
	GGPACK_E_USAGE = -2,    /**< bad arguments or options */
	GGPACK_E_INVALID = -3,  /**< not a valid or supported ONNX model */
	GGPACK_E_IO = -4,       /**< a file cannot be read or written (incl. external data) */
	GGPACK_E_NOMEM = -5,    /**< out of memory */
	GGPACK_E_GATE = -10,    /**< a bit-rate or fidelity gate failed */
};

/** ONNX TensorProto.DataType values ggpack names; others pass through. */
enum ggpack_dtype {
	GGPACK_DTYPE_UNDEFINED = 0,
	GGPACK_DTYPE_FLOAT = 1,
	GGPACK_DTYPE_UINT8 = 2,
	GGPACK_DTYPE_INT8 = 3,
	GGPACK_DTYPE_UINT16 = 4,
	GGPACK_DTYPE_INT16 = 5,
	GGPACK_DTYPE_INT32 = 6,
	GGPACK_DTYPE_INT64 = 7,
	GGPACK_DTYPE_STRING = 8,
	GGPACK_DTYPE_BOOL = 9,
	GGPACK_DTYPE_FLOAT16 = 10,
	GGPACK_DTYPE_DOUBLE = 11,
	GGPACK_DTYPE_UINT32 = 12,
	GGPACK_DTYPE_UINT64 = 13,
	GGPACK_DTYPE_COMPLEX64 = 14,
	GGPACK_DTYPE_COMPLEX128 = 15,
	GGPACK_DTYPE_BFLOAT16 = 16,
};

/** Where a tensor's elements are stored in the model. */
enum ggpack_storage {
	GGPACK_STORAGE_NONE = 0,   /**< no elements (empty tensor) */
	GGPACK_STORAGE_RAW,        /**< raw_data bytes inside the model */
	GGPACK_STORAGE_TYPED,      /**< float_data, int32_data, double_data, ... */
	GGPACK_STORAGE_EXTERNAL,   /**< a range of an external data file */
};

/** What holds a tensor. */
enum ggpack_tensor_kind {
	GGPACK_TENSOR_INITIALIZER = 0, /**< a graph initializer */
	GGPACK_TENSOR_CONSTANT,        /**< the `value` of a Constant node */
	GGPACK_TENSOR_ATTRIBUTE,       /**< a tensor attribute of another node */
};

/** Per-call state: options shared by calls, and the last error's detail. */
struct ggpack_ctx;
/** A loaded model: the mapped file, its structure and its tensors. */
struct ggpack_model;

/**
 * Creates a context. Returns NULL only when out of memory.
 * Free it with ggpack_ctx_free().
 */
GGPACK_EXPORT struct ggpack_ctx *ggpack_ctx_new(void);

/** Frees a context; NULL is a no-op. */
GGPACK_EXPORT void ggpack_ctx_free(struct ggpack_ctx *ctx);

/**
 * The detail of the last error reported into ctx, e.g.
 * "model.onnx: tensor 'w': raw_data holds 12 bytes, dims need 16".
 * Empty when no error occurred. Owned by ctx, valid until the next call.
 */
GGPACK_EXPORT const char *ggpack_ctx_message(const struct ggpack_ctx *ctx);

/** A short constant description of an error code ("invalid model", ...). */
GGPACK_EXPORT const char *ggpack_strerror(int code);

/** The process exit code DESIGN.md gives for a result code (0 for >= 0). */
GGPACK_EXPORT int ggpack_exit_code(int code);

/** Name of an ONNX data type ("float32", "float16", ...), "type<N>" never: unknown gives NULL. */
GGPACK_EXPORT const char *ggpack_dtype_name(int dtype);

/** Non-zero for the floating types ggpack processes: float32, float16, bfloat16, float64. */
GGPACK_EXPORT int ggpack_dtype_is_float(int dtype);

/** Name of a storage form ("raw", "typed", "external", "none"). */
GGPACK_EXPORT const char *ggpack_storage_name(enum ggpack_storage storage);

/**
 * Loads an ONNX model from path. The file is mapped read-only and never
 * written. External data is resolved relative to the model's folder and
 * checked (no location outside the folder, no range past the file end).
 *
 * Errors: GGPACK_E_IO (cannot open or map the model or an external file),
 * GGPACK_E_INVALID (not a valid or supported ONNX model: the message names
 * the byte offset where the wire format breaks, or the tensor or node at
 * fault), GGPACK_E_NOMEM.
 * On success *out owns the model; free it with ggpack_model_free().
 */
GGPACK_EXPORT int ggpack_model_load(struct ggpack_ctx *ctx, const char *path,
				    struct ggpack_model **out);

/** Frees a model and unmaps its files; NULL is a no-op. */
GGPACK_EXPORT void ggpack_model_free(struct ggpack_model *model);

/** How ggpack_model_save stores tensor data. */
enum ggpack_data_mode {
	/** external when the input had external data or the output would pass 2 GiB */
	GGPACK_DATA_AUTO = 0,
	GGPACK_DATA_INLINE,   /**< every tensor inside the model file */
	GGPACK_DATA_EXTERNAL, /**< tensors of >= external_threshold bytes in one data file */
};

/** Options of ggpack_model_save. Zero-initialized gives the defaults. */
struct ggpack_save_options {
	enum ggpack_data_mode data;
	/** replace an existing output (the input itself is always refused) */
	int force;
	/** tensors at least this large go to the data file; 0 means 1024 */
	size_t external_threshold;
};

/**
 * Writes the model to path. Unchanged parts are copied byte for byte from
 * the input, so a model saved without changes in its own data mode is
 * byte-identical to its input. External data goes to one fresh data file,
 * "<basename of path>.data" beside it, with every offset aligned to 4096.
 * Both files are written to temporary names and renamed into place, so a
 * failure leaves nothing behind.
 *
 * Errors: GGPACK_E_USAGE (path exists and !force, or path is the input or
 * one of its data files), GGPACK_E_IO, GGPACK_E_INVALID (inline output would
 * pass the 2 GiB protobuf limit), GGPACK_E_NOMEM.
 */
GGPACK_EXPORT int ggpack_model_save(struct ggpack_ctx *ctx,
				    const struct ggpack_model *model,
				    const char *path,
				    const struct ggpack_save_options *options);

/** Model-level facts, as ggpack info shows them. Strings are owned by the model. */
struct ggpack_model_info {
	const char *path;
	uint64_t file_bytes;
	int64_t ir_version;
	const char *producer_name;    /**< "" when absent */
	const char *producer_version; /**< "" when absent */
	const char *domain;           /**< "" when absent */
	int64_t model_version;
	size_t n_opsets;
	size_t n_graphs;  /**< the main graph and every subgraph */
	size_t n_nodes;   /**< over all graphs */
	size_t n_tensors; /**< initializers, Constant values and tensor attributes */
	size_t n_metadata;
	int has_external_data;
};

/** Fills *out with the model's facts. Cannot fail for a loaded model. */
GGPACK_EXPORT void ggpack_model_get_info(const struct ggpack_model *model,
					 struct ggpack_model_info *out);

/** Opset import i (< n_opsets): domain ("" is ai.onnx) and version. */
GGPACK_EXPORT int ggpack_model_opset(const struct ggpack_model *model, size_t i,
				     const char **domain, int64_t *version);

/** Metadata entry i (< n_metadata) of the model: key and value. */
GGPACK_EXPORT int ggpack_model_metadata(const struct ggpack_model *model, size_t i,
					const char **key, const char **value);

/** One tensor of the model. Strings and dims are owned by the model. */
struct ggpack_tensor_info {
	const char *name;
	/** graph path: "main", or "main/NODE:ATTR" (and deeper) for subgraphs */
	const char *where;
	enum ggpack_tensor_kind kind;
	const char *node;     /**< the holding node's name for Constant/attribute tensors, else NULL */
	int dtype;
	size_t ndims;
	const int64_t *dims;
	uint64_t params;      /**< number of elements */
	uint64_t bytes;       /**< bytes of its elements as stored in raw form */
	enum ggpack_storage storage;
	const char *typed_field; /**< for GGPACK_STORAGE_TYPED: "float_data", ... */
	const char *external_location; /**< for external data, else NULL */
	uint64_t external_offset;
	size_t n_consumers;
	int is_graph_input;   /**< also listed as an input of its graph */
};

/** Fills *out for tensor i (< n_tensors). Returns GGPACK_E_USAGE for a bad index. */
GGPACK_EXPORT int ggpack_tensor_get_info(const struct ggpack_model *model, size_t i,
					 struct ggpack_tensor_info *out);

/** One use of a tensor by a node input. */
struct ggpack_consumer {
	const char *node;     /**< node name ("" when the node has none) */
	const char *op_type;
	const char *domain;   /**< "" for ai.onnx */
	const char *where;    /**< graph path of the consuming node */
	int input;            /**< input slot */
};

/** Consumer j (< n_consumers) of tensor i. Returns GGPACK_E_USAGE for bad indices. */
GGPACK_EXPORT int ggpack_tensor_get_consumer(const struct ggpack_model *model, size_t i,
					     size_t j, struct ggpack_consumer *out);

/**
 * Decodes the elements of floating tensor i into dst (n elements of
 * float64; n must equal its params), whatever its dtype and storage.
 * Errors: GGPACK_E_USAGE (bad index, not a floating tensor, n wrong).
 */
GGPACK_EXPORT int ggpack_tensor_read_f64(struct ggpack_ctx *ctx,
					 const struct ggpack_model *model, size_t i,
					 double *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* GGPACK_H */
