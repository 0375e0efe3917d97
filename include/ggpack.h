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

/**
 * Sets how many threads the library's long loops may use (0: one per CPU,
 * the default). Every result is identical whatever the number.
 */
GGPACK_EXPORT void ggpack_set_threads(unsigned n);

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


/* ==== The GG toolkit (ALGORITHMS.md, RF8.md) ============================ */

/** Shapes of the rho table: 0.10, 0.11, ..., 2.99. */
#define GGPACK_GG_TABLE_SIZE 290

/**
 * rho(nu) = Gamma(1/nu) Gamma(3/nu) / Gamma(2/nu)^2 of table entry i
 * (< GGPACK_GG_TABLE_SIZE), whose shape is 0.10 + 0.01 i. Computed once
 * with lgamma. Returns NaN for a bad index.
 */
GGPACK_EXPORT double ggpack_gg_rho(size_t i);

/** Raw moments of a set of values, to fit one GG over one or many buffers. */
struct ggpack_gg_sums {
	double n, sum, sum_abs, sum_sq;
};

/** Adds n float32 values to s (sums in double; a fixed order, so deterministic). */
GGPACK_EXPORT void ggpack_gg_sums_add_f32(struct ggpack_gg_sums *s, const float *x, size_t n);
/** Adds n float64 values to s. */
GGPACK_EXPORT void ggpack_gg_sums_add_f64(struct ggpack_gg_sums *s, const double *x, size_t n);

/** A fitted generalized Gaussian. */
struct ggpack_gg {
	double shape;        /**< nu-hat: the table shape whose rho is nearest */
	double shape_interp; /**< nu interpolated between table entries (report only) */
	double rho;          /**< rho-hat = n sum(x^2) / sum(|x|)^2 */
	double std;          /**< sqrt(sum(x^2)/n), uncentred */
	double scale;        /**< beta = sqrt(Gamma(1/nu)/Gamma(3/nu)) std */
	double mean;         /**< mu */
	double n;
};

/**
 * Fits a GG to the sums: nu-hat by the nearest rho of the table (no
 * interpolation; rho above rho(0.10) gives 0.10, below rho(2.99) gives
 * 2.99), then std, beta, mu. Returns GGPACK_E_USAGE when there are no
 * values or all are zero (rho undefined); *out is untouched then.
 */
GGPACK_EXPORT int ggpack_gg_fit(const struct ggpack_gg_sums *s, struct ggpack_gg *out);

/** RF8 rounding rules (RF8.md). */
enum ggpack_rounding {
	GGPACK_ROUND_NEAREST = 0, /**< nearest value of the window, ties to the even code */
	GGPACK_ROUND_PAPER,       /**< the paper's two-step nearest-in-log2 rule */
};

/** The value of code (sign bit 7, magnitude index 0..126) for exponent E, as a double; NaN for index 127. */
GGPACK_EXPORT double ggpack_rf8_decode(uint8_t code, int E);

/**
 * Encodes n values of dtype (float32, float16 or bfloat16 as their 16-bit
 * patterns, float64; host byte order) into n codes and the tensor's E.
 * `floor`: magnitudes below it become 0 before encoding (0 for none).
 * Errors: GGPACK_E_INVALID for NaN or Inf (the message names `name` and the
 * element index), GGPACK_E_USAGE for another dtype. codes and *E are
 * written only on success.
 */
GGPACK_EXPORT int ggpack_rf8_encode(struct ggpack_ctx *ctx, const char *name, int dtype,
				    const void *values, size_t n, enum ggpack_rounding rounding,
				    double floor, uint8_t *codes, int *E);

/**
 * Writes the 256-entry table of decoded values for E in dtype (float32,
 * float16 and bfloat16 as 16-bit patterns, float64) to table; code 127 and
 * its negative decode to 0 there (an encoder never writes them).
 * Returns GGPACK_E_USAGE for another dtype.
 */
GGPACK_EXPORT int ggpack_rf8_table(int E, int dtype, void *table);

/** Bit-rate measures in bits per symbol (ALGORITHMS.md). */
struct ggpack_bits {
	double entropy;    /**< order-0 entropy of the histogram */
	double exp_golomb; /**< order-0 Exp-Golomb of the rank of each symbol */
	double huffman;    /**< mean length of an optimal Huffman code (1 for one symbol) */
	double fixed;      /**< ceil(log2(distinct symbols)), at least 1 */
	double zstd;       /**< 8 x zstd size / n for RF8 codes; NaN for grid levels */
};

/** A histogram of symbols (RF8 codes or grid levels). */
struct ggpack_hist;

/** Histogram of n RF8 codes. Errors: GGPACK_E_NOMEM. */
GGPACK_EXPORT int ggpack_hist_from_codes(const uint8_t *codes, size_t n, struct ggpack_hist **out);
/** Histogram of the grid levels rint(x / 2^-grid) of n float32 values. */
GGPACK_EXPORT int ggpack_hist_from_grid_f32(const float *x, size_t n, int grid, struct ggpack_hist **out);
/** Histogram given directly: k distinct symbols and their counts (tests, tools). */
GGPACK_EXPORT int ggpack_hist_from_counts(const int64_t *symbols, const uint64_t *counts, size_t k,
					  struct ggpack_hist **out);
/** Frees a histogram; NULL is a no-op. */
GGPACK_EXPORT void ggpack_hist_free(struct ggpack_hist *h);
/** Number of distinct symbols. */
GGPACK_EXPORT size_t ggpack_hist_distinct(const struct ggpack_hist *h);
/** Entropy, Exp-Golomb, Huffman and fixed of h (zstd is NaN). GGPACK_E_NOMEM possible. */
GGPACK_EXPORT int ggpack_hist_bits(const struct ggpack_hist *h, struct ggpack_bits *out);

/**
 * 8 x (size of n codes compressed by zstd at level, one frame) / n.
 * Errors: GGPACK_E_NOMEM, GGPACK_E_INTERNAL (zstd failed; message says why).
 */
GGPACK_EXPORT int ggpack_zstd_bits(struct ggpack_ctx *ctx, const uint8_t *codes, size_t n,
				   int level, double *bits);

/** Error of a replacement w' of w (DESIGN.md). */
struct ggpack_error_sums {
	double sum_sq;     /**< sum w^2 */
	double err_sq;     /**< sum (w - w')^2 */
	double max_abs;    /**< max |w - w'| */
};

/** Adds n pairs to e. */
GGPACK_EXPORT void ggpack_error_add_f32(struct ggpack_error_sums *e, const float *w,
					const float *w2, size_t n);
/** 10 log10(sum w^2 / sum (w-w')^2); +INFINITY when exact. */
GGPACK_EXPORT double ggpack_error_snr_db(const struct ggpack_error_sums *e);
/** sqrt(sum (w-w')^2 / sum w^2); 0 when w is all zero and exact. */
GGPACK_EXPORT double ggpack_error_rel_rmse(const struct ggpack_error_sums *e);

/** DeepShape parameters; ggpack_deepshape_defaults() gives the paper's. */
struct ggpack_deepshape_params {
	int grid;            /**< step 2^-grid (13) */
	uint64_t min_count;  /**< P: the first positive level seen at most this often (1000) */
	double shape_scale;  /**< nu' = shape_scale nu-hat (0.8) */
	double std_scale;    /**< beta' = std_scale beta (0.6) */
};

GGPACK_EXPORT void ggpack_deepshape_defaults(struct ggpack_deepshape_params *p);

/** What DeepShape did. */
struct ggpack_deepshape_result {
	int grid;
	uint64_t min_count;
	int64_t P;                /**< range, in levels, around mu_q */
	int64_t mu_q;             /**< trunc(mu / delta) */
	struct ggpack_gg before;  /**< fit over |p| <= P delta */
	double shape_after;       /**< nu' */
	double scale_after;       /**< beta' delta */
	uint64_t n, in_range, reassigned; /**< elements; in [mu_q-P, mu_q+P]; given a level from the target */
};

/**
 * DeepShape, scope model (ALGORITHMS.md): all n_parts buffers taken as one
 * vector in the order given; every value is replaced in place by its new
 * grid value q delta. Deterministic: the order of equal values is their
 * position, whatever the input. Errors: GGPACK_E_INVALID for NaN or Inf,
 * GGPACK_E_USAGE for bad parameters, GGPACK_E_NOMEM.
 */
GGPACK_EXPORT int ggpack_deepshape(struct ggpack_ctx *ctx, float *const *parts,
				   const size_t *lens, size_t n_parts,
				   const struct ggpack_deepshape_params *params,
				   struct ggpack_deepshape_result *result);

/**
 * DeepShape, scope tensor: the same steps on one tensor, with the grid and
 * min_count chosen from the tensor itself (docs/deepshape-tensor-scope.md):
 * rms spans R = clamp(sqrt(n)/2, 16, 128) levels, so g = round(log2(R/rms)),
 * and min_count = floor(n / (64 R)). shape_scale and std_scale come from
 * params (grid and min_count there are ignored).
 */
GGPACK_EXPORT int ggpack_deepshape_tensor(struct ggpack_ctx *ctx, float *values, size_t n,
					  const struct ggpack_deepshape_params *params,
					  struct ggpack_deepshape_result *result);

/** Which candidates are selected (DESIGN.md, "Which tensors are weights"). */
enum ggpack_select_mode {
	GGPACK_SELECT_WEIGHTS = 0, /**< those feeding a weight slot (the default) */
	GGPACK_SELECT_ALL,         /**< every floating initializer and Constant value */
};

struct ggpack_select_options {
	enum ggpack_select_mode mode;
	uint64_t min_params; /**< smaller tensors are skipped; 0 means 256 */
};

/**
 * Decides for every tensor of the model whether it is selected: reasons[i]
 * (n_tensors entries) becomes NULL for a selected tensor, else a constant
 * string saying why it is skipped ("not floating", "fewer params than --min-params",
 * "a graph input, overridable (IR >= 4)", "feeds only shape inputs",
 * "feeds no weight slot", "a tensor attribute"). Weight slots are followed
 * through Cast, Identity, Transpose, Reshape, Flatten, Squeeze and
 * Unsqueeze, across subgraph scopes. Errors: GGPACK_E_NOMEM.
 */
GGPACK_EXPORT int ggpack_select(struct ggpack_ctx *ctx, const struct ggpack_model *model,
				const struct ggpack_select_options *options, const char **reasons);

/* ==== Training-time pieces: GG sampling and initialization, BackSlash === */

/** A seeded PRNG of ggpack's own (xoshiro256**): a seed gives the same stream everywhere. */
struct ggpack_rng {
	uint64_t s[4];
};

/** Seeds r (any seed, 0 included). */
GGPACK_EXPORT void ggpack_rng_seed(struct ggpack_rng *r, uint64_t seed);
/** The next 64 random bits. */
GGPACK_EXPORT uint64_t ggpack_rng_next(struct ggpack_rng *r);
/** A uniform double in (0, 1), never 0 or 1. */
GGPACK_EXPORT double ggpack_rng_uniform(struct ggpack_rng *r);

/**
 * One sample of GG(shape nu, scale alpha, mu = 0): |X| = alpha G^(1/nu),
 * G ~ Gamma(1/nu, 1), with a random sign (ALGORITHMS.md). shape > 0.
 */
GGPACK_EXPORT double ggpack_gg_sample(struct ggpack_rng *r, double shape, double scale);

/** Fills dst with n samples. GGPACK_E_USAGE for a shape <= 0 or a negative scale. */
GGPACK_EXPORT int ggpack_gg_fill(struct ggpack_rng *r, float *dst, size_t n, double shape, double scale);

/**
 * The GG initialization scale for a layer of fan-in n:
 * alpha = sqrt(xi / n Gamma(1/nu) / Gamma(3/nu)), so that Var(W) = xi / n
 * (xi = 2 for ReLU, 1 for none or sigmoid, 2 / (1 + k^2) for LeakyReLU(k)).
 */
GGPACK_EXPORT double ggpack_gg_init_scale(double shape, double xi, double fan_in);

/**
 * One BackSlash step over all parameters (n_parts buffers taken as one):
 * nu-hat fitted over them all, then
 * theta <- theta - lambda nu-hat / N sign(theta) (|theta| + eps)^(nu-hat - 1).
 * lambda = 0 leaves them unchanged. *shape_out (may be NULL) gets nu-hat.
 * Errors: GGPACK_E_USAGE (negative lambda or eps; no parameter, or all zero).
 */
GGPACK_EXPORT int ggpack_backslash_step(float *const *params, const size_t *lens, size_t n_parts,
					double lambda, double eps, double *shape_out);

/* ==== Convert and report (DESIGN.md) =================================== */

enum ggpack_store {
	GGPACK_STORE_LUT = 0, /**< uint8 codes + 256-entry table + Cast/Gather (RF8.md) */
	GGPACK_STORE_FLOAT,   /**< the RF8 values in the weight's own dtype */
};

enum ggpack_floor_mode {
	GGPACK_FLOOR_AUTO = 0, /**< the largest r 2^-k (k = 12..1) within floor_max_loss dB */
	GGPACK_FLOOR_NONE,
	GGPACK_FLOOR_VALUE,    /**< floor_value */
};

enum ggpack_ds_scope {
	GGPACK_DS_TENSOR = 0, /**< each tensor on its own grid (ggpack_deepshape_tensor) */
	GGPACK_DS_MODEL,      /**< all selected tensors as one vector (the paper) */
};

/** Everything convert and report do; ggpack_convert_defaults() fills it. */
struct ggpack_convert_options {
	const char *preset;                 /**< "safe" or "paper": recorded in the report */
	struct ggpack_select_options select;
	const char *const *include;         /**< name globs: only these (none: all) */
	size_t n_include;
	const char *const *exclude;         /**< name globs skipped */
	size_t n_exclude;
	const char *const *ops;             /**< consumer op types: only tensors feeding one (none: all) */
	size_t n_ops;
	int deepshape;                      /**< run DeepShape before RF8 */
	enum ggpack_ds_scope ds_scope;
	struct ggpack_deepshape_params ds;
	int rf8;                            /**< pack as RF8 (0: off) */
	enum ggpack_rounding rounding;
	enum ggpack_floor_mode floor;
	double floor_value;
	double floor_max_loss;              /**< dB of weight SNR the auto floor may cost (0.1) */
	enum ggpack_store store;
	int grid;                           /**< the grid of bits_before and of non-RF8 bits (13) */
	int zstd_level;                     /**< 3 */
	int force;                          /**< convert a model ggpack already converted */
	/** where converted tensors wait for the save: NULL keeps them in memory; a
	 *  folder puts them in an unlinked file there as each is made, so memory
	 *  does not grow with the model (the CLI's convert: the output's folder) */
	const char *spill_dir;
	/** 1: keep the figures of converted tensors, not their contents (a report
	 *  that saves nothing); ggpack_conversion_save then refuses */
	int discard_data;
	/** called after each tensor (done of total), one call at a time, from
	 *  any of the threads converting; may be NULL */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
};

/**
 * The options of a preset: "safe" (RF8 nearest, auto floor, no DeepShape,
 * weights only) or "paper" (every floating tensor, DeepShape scope model
 * 13/1000/0.8/0.6, RF8 paper rounding, no floor). Both use the lut store.
 * Returns GGPACK_E_USAGE for another name (o is then untouched).
 */
GGPACK_EXPORT int ggpack_convert_defaults(struct ggpack_convert_options *o, const char *preset);

/** The result of a conversion: new contents of the selected tensors and every figure. */
struct ggpack_conversion;

/**
 * Runs the pipeline on a loaded model: selection, GG fit and grid bits of
 * every floating tensor, DeepShape, RF8 with its floor, the error and bit
 * rates of each selected tensor. Nothing is written. The model must
 * outlive the conversion.
 * Errors: GGPACK_E_INVALID (the model was converted by ggpack already and
 * !force; NaN or Inf in a selected tensor: the message names it and the
 * element), GGPACK_E_USAGE (bad options), GGPACK_E_NOMEM.
 */
GGPACK_EXPORT int ggpack_convert(struct ggpack_ctx *ctx, const struct ggpack_model *model,
				 const struct ggpack_convert_options *options,
				 struct ggpack_conversion **out);

/** Frees a conversion; NULL is a no-op. */
GGPACK_EXPORT void ggpack_conversion_free(struct ggpack_conversion *conv);

/**
 * Restricts what is written and reported to the converted tensors named
 * (n of them; none: the input as it was): the others are kept as in the
 * input, with the skip reason "held back". Calling it again replaces the
 * set. For `tune`, which tries subsets of one conversion.
 * Errors: GGPACK_E_USAGE (a name is not a converted tensor; nothing changes).
 */
GGPACK_EXPORT int ggpack_conversion_keep(struct ggpack_ctx *ctx, struct ggpack_conversion *conv,
					 const char *const *names, size_t n);

/**
 * Writes the converted model to path (as ggpack_model_save does: temporary
 * files renamed into place), with metadata_props ggpack.version,
 * ggpack.options and ggpack.converted (a JSON list of the tensors changed),
 * and remembers where and what it wrote, for the report: the files' sizes,
 * the model file's sha256 and the zstd size of both, taken from the bytes
 * as they are written (zstd's workers compress while the save writes).
 * Errors as ggpack_model_save.
 */
GGPACK_EXPORT int ggpack_conversion_save(struct ggpack_ctx *ctx, struct ggpack_conversion *conv,
					 const char *path, const struct ggpack_save_options *options);

/**
 * The report (schema ggpack-report/1, docs/report.md) as JSON text, ending
 * in a newline; *json is malloc'd, the caller frees it. command is
 * "convert" or "report". When the conversion was saved, "output" gives the
 * files' sizes, sha256 and zstd size, as the last save wrote them.
 * Errors: GGPACK_E_NOMEM.
 */
GGPACK_EXPORT int ggpack_conversion_report(struct ggpack_ctx *ctx, const struct ggpack_conversion *conv,
					   const char *command, char **json);

/** Options of ggpack_init. */
struct ggpack_init_options {
	double shape;               /**< nu (2) */
	double xi;                  /**< xi (2, for ReLU) */
	uint64_t seed;
	const char *const *ops;     /**< the layers: "MatMul", "Gemm", "Conv" */
	size_t n_ops;
};

/**
 * GG initialization (ALGORITHMS.md) of every weight of the listed ops,
 * with alpha from the layer's fan-in (MatMul [in, out], or [out, in] when
 * the weight is the left operand; Gemm B by transB; Conv [out, in/groups,
 * k...]), and their biases (Gemm C, Conv B, the constant operand of an Add
 * after a MatMul) set to zero. Tensors are drawn in model order from one
 * seeded stream, so a seed gives the same model everywhere. *out holds the
 * new values for ggpack_conversion_save (which records metadata
 * ggpack.init instead of a conversion's); *changes (malloc'd JSON text)
 * lists each tensor changed: name, role, op, params, fan_in, scale.
 * Errors: GGPACK_E_USAGE (shape or xi not positive, no ops), GGPACK_E_NOMEM.
 */
GGPACK_EXPORT int ggpack_init(struct ggpack_ctx *ctx, const struct ggpack_model *model,
			      const struct ggpack_init_options *options, struct ggpack_conversion **out,
			      char **changes);

#ifdef __cplusplus
}
#endif
#endif /* GGPACK_H */
