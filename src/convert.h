/*
 * convert.h - the conversion's state, shared by convert.c (the pipeline),
 * convert_rf8.c (one tensor's RF8, floor and error), store.c (the edits that
 * write it) and report.c (the JSON report). Private.
 */
#ifndef GGPACK_CONVERT_H
#define GGPACK_CONVERT_H

#include "internal.h"

/* What the pipeline found and made for one tensor of the model. */
struct conv_tensor {
	const char *skip;              /* why it is not selected; NULL when selected */
	bool measured;                 /* floating with elements: gg, bits_before, hash hold */
	bool has_gg;                   /* the fit exists (not all zero) */
	struct ggpack_gg gg;
	struct ggpack_bits bits_before;
	uint64_t hash;                 /* of its float32 values: diff matches renamed tensors */
	uint32_t max_bits;             /* max |value| bits, for RF8 of the same values */
	/* selected tensors only */
	bool has_ds;
	struct ggpack_deepshape_result ds; /* scope tensor */
	bool rf8;
	int E;
	double floor;
	double entropy_no_floor;       /* code entropy without the floor, bits/param */
	uint64_t zeros, underflows;
	struct ggpack_bits bits;
	struct ggpack_error_sums err;
	bool lut;                      /* stored as codes + table */
	const char *store_note;        /* why a lut tensor went to the float store */
	uint8_t table[256 * 8];        /* RF8 decoded values in the tensor's dtype */
	bool converted;                /* new contents were made (data may be spilled or discarded) */
	void *data;                    /* new raw elements: codes (lut) or values */
	uint64_t data_bytes;
	bool spilled;                  /* data lies in the spill file's mapping, at spill_off */
	uint64_t spill_off;
	bool held;                     /* converted, but written as it was (ggpack_conversion_keep) */
};

/* Whether a tensor's new contents are written, and stored as lut. */
static inline bool conv_written(const struct conv_tensor *ct)
{
	return ct->converted && !ct->held;
}

static inline bool conv_lut(const struct conv_tensor *ct)
{
	return ct->lut && !ct->held;
}

/* Why a tensor is not written converted, or NULL. */
static inline const char *conv_skip(const struct conv_tensor *ct)
{
	return ct->held ? "held back (tune)" : ct->skip;
}

/* What the report says of the written output (output.c). */
struct output_facts {
	uint64_t bytes, data_bytes;
	char sha256[65];           /* of the model file */
	bool has_zstd;
	uint64_t zstd_bytes;       /* both files as one zstd stream */
};

/* A digest of what a save writes, seen through the taps it sets (for
 * save_model); NULL when out of memory. */
struct output_digest *output_digest_new(int zstd_level, struct save_taps *taps);
/* The facts of what the digest saw; frees it. */
void output_digest_finish(struct output_digest *d, struct output_facts *out);
void output_digest_free(struct output_digest *d);

struct ggpack_conversion {
	const struct ggpack_model *m;
	struct ggpack_convert_options o;
	struct conv_tensor *t;         /* one per model tensor */
	bool has_ds_model;
	struct ggpack_deepshape_result ds; /* scope model */
	char *out_path;                    /* where ggpack_conversion_save wrote it, */
	struct output_facts out;           /* and what (when out_path is set) */
	char *init_options;                /* ggpack_init's: the metadata ggpack.init */
	char input_sha256[65];             /* the input model file's digest; "" until known */
	int spill_fd;                      /* o.spill_dir's unlinked file, or -1 */
	_Atomic uint64_t spill_end;        /* its next free offset */
	void *spill_map;                   /* all of it, read-only, once converted */
	uint64_t spill_size;
};

/* A conversion of m with nothing in it yet (every constructor's start). */
struct ggpack_conversion *conv_new(const struct ggpack_model *m);

/* A selected tensor's new contents are made (ct->data, data_bytes): they
 * stay in memory, go to the spill file, or go (discard_data). */
int conv_data_made(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i);

/* The sha256 of a model's file as mapped, 64 hex digits. */
void conv_hash_input(const struct ggpack_model *m, char out[65]);

/* Element size of a floating dtype. */
static inline size_t conv_dtype_size(int dtype)
{
	return dtype == GGPACK_DTYPE_DOUBLE ? 8 : dtype == GGPACK_DTYPE_FLOAT ? 4 : 2;
}

/* convert_rf8.c: RF8 of one selected tensor: w (float32 working values,
 * not written) against orig (the input, may be w itself; NULL: read from
 * the tensor by the one pass that needs it, a span at a time, its pages
 * given back chunk by chunk, so no copy of it is held); fills rf8, E,
 * floor, codes or values, err, bits. */
int conv_rf8(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const float *w,
	     const float *orig);
/* The tensor's new values without RF8 (DeepShape alone): w in its dtype. */
int conv_plain(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const float *w,
	       const float *orig);

/* store.c: why a tensor of dtype and n params goes to the float store
 * even under --store lut (model m's opset; lut not smaller), or NULL. */
const char *store_lut_unavailable(const struct ggpack_model *m, int dtype, uint64_t n);
/* What writing the conversion changes: tensors, the lut store's nodes,
 * inputs retyped for IR < 4, metadata. Freed with store_free. */
struct store;
int store_make(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, struct store **out,
	       struct save_changes *ch);
void store_free(struct store *s);

/* report.c: the options as the JSON object the report and metadata share
 * (malloc'd compact text). */
char *conv_options_json(const struct ggpack_convert_options *o);

#endif
