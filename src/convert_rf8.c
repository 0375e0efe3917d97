/*
 * convert_rf8.c - one selected tensor's new contents: RF8 codes with the
 * floor of RF8.md, the table in the tensor's dtype, the stored form (codes
 * for lut, table values for float), and its error and bit rates. Every
 * figure is measured on what is stored, so the report describes the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define FLOOR_STEPS 12              /* auto tries r 2^-k for k = 12..1 */

/* ---- per-chunk sums, combined in chunk order (thread-count independent) */

struct chunk_sums {
	double sum_sq, err_sq, max_abs;
	double floor_err[FLOOR_STEPS + 1]; /* [k]: error with the floor r 2^-k; [0]: none */
	uint64_t zeros, underflows;
};

struct sums_job {
	const float *w, *orig;
	uint8_t *codes;            /* error_chunk applies the floor to them */
	double floor;
	float floor_f;             /* the least float >= floor */
	const double *tab;
	size_t n;
	double r;                  /* the floors tried are T[k] = r 2^-k */
	double T[FLOOR_STEPS + 1];
	struct chunk_sums *out;
	const struct ggpack_model *m;       /* orig NULL: the originals are tensor t */
	const struct index_tensor *t;       /* of m, read span by span (see error_chunk) */
};

/* Sums over a chunk go to 4 lanes (element i to lane i % 4), vectors of
 * 4 doubles, added in one fixed order at the end: GCC does not vectorize a
 * plain double sum (it may not reorder it), and 4 lanes are still one
 * order, whatever the thread count. */

static double lanes_sum(const v4d *v)
{
	return ((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3]);
}

/* Four elements: their values and their codes' table values, 0 past n. */
static inline void load_four(const float *w, const uint8_t *codes, const double *tab, size_t n, v4d *x,
			     v4d *t)
{
	*x = (v4d){ 0 }, *t = (v4d){ 0 };
	if (n == 4) {
		v4f f;
		memcpy(&f, w, sizeof f);
		*x = __builtin_convertvector(f, v4d);
		*t = (v4d){ tab[codes[0]], tab[codes[1]], tab[codes[2]], tab[codes[3]] };
		return;
	}
	for (size_t l = 0; l < n; l++)
		(*x)[l] = w[l], (*t)[l] = tab[codes[l]];
}

/* The error each floor would give. With no floor an element costs its RF8
 * error d^2; under the floor T[k] it costs w^2 instead (E does not move:
 * every floor tried is under max|w|). The thresholds fall with k, so an
 * element lies under T[1..m] for its count m of thresholds above |w|: its
 * w^2 - d^2 goes to bucket m, and floor k costs sum d^2 plus the buckets
 * from k up. m comes from the bits: for doubles >= 0 the bit patterns
 * order like the values, and T[k] = r 2^-k is r's pattern less k 2^52
 * (normal: r is at least 2^-200 or 0), so with D = bits(r) - bits(|w|),
 * |w| < T[k] exactly when k 2^52 < D, and m = clamp((D - 1) >> 52, 0, 12). */

SIMD_CLONES
static void floor_chunk(void *arg, size_t c, unsigned worker)
{
	struct sums_job *j = arg;
	struct chunk_sums *s = &j->out[c];
	size_t b = c * CHUNK, e = b + chunk_len(j->n, c);
	v4d bucket[FLOOR_STEPS + 1] = { { 0 } }; /* [m][lane]; a lane past n adds +0: no change */
	v4d err = { 0 };
	v4l r_bits;
	(void)worker;
	memcpy(&r_bits, &(v4d){ j->r, j->r, j->r, j->r }, sizeof r_bits);
	for (size_t at = b; at < e; at += 4) {
		v4d w, t;
		load_four(j->w + at, j->codes + at, j->tab, e - at < 4 ? e - at : 4, &w, &t);
		v4d d = w - t, gain = w * w - d * d;
		v4l D = r_bits - ((v4l)w & 0x7fffffffffffffff);
		v4l m = (v4l)((v4ul)(D - 1) >> 52); /* as a signed shift where D > 0 */
		m = ((m & (m < FLOOR_STEPS)) | (FLOOR_STEPS & (m >= FLOOR_STEPS))) & (D > 0);
		err += d * d;
		for (int k = 1; k <= FLOOR_STEPS; k++) /* bucket 0 is no floor's */
			bucket[k] += (v4d)((v4l)gain & (m == k));
	}
	double above = 0;
	for (int k = FLOOR_STEPS; k >= 1; k--) {
		above += (bucket[k][0] + bucket[k][1]) + (bucket[k][2] + bucket[k][3]);
		s->floor_err[k] = above; /* the error sum d^2 is added below */
	}
	s->floor_err[0] = lanes_sum(&err);
	for (int k = 1; k <= FLOOR_STEPS; k++)
		s->floor_err[k] += s->floor_err[0];
}

/* The floor applied, the codes' zeros counted, then the sums: a block at
 * a time, each loop one that vectorizes. A float lies under the floor
 * exactly when it lies under floor_f, the least float not below it. */
#define ERR_BLOCK 64

static inline void floor_block(const float *restrict w, uint8_t *restrict codes, size_t n, uint32_t floor_bits,
			       uint64_t *zeros, uint64_t *underflows)
{
	uint32_t z = 0, u = 0;
	for (size_t k = 0; k < n; k++) { /* |w| as bits: their order is the values' */
		uint32_t a = u32_of(w[k]) & 0x7fffffff;
		uint8_t code = codes[k] & (uint8_t)-(a >= floor_bits);
		uint32_t zero = (code & 0x7f) == 0;
		codes[k] = code;
		z += zero;
		u += zero & (a != 0);
	}
	*zeros += z;
	*underflows += u;
}

/* The originals of a span: in memory, or read from the tensor into buf
 * (float16, bfloat16 or float64 widened or narrowed as everywhere). */
#define ORIG_SPAN 1024

static const float *orig_span(const struct sums_job *j, size_t at, size_t n, float *buf)
{
	if (j->orig)
		return j->orig + at;
	tensor_read_f32_range(j->t, at, n, buf);
	return buf;
}

SIMD_CLONES
static void error_chunk(void *arg, size_t c, unsigned worker)
{
	struct sums_job *j = arg;
	struct chunk_sums *s = &j->out[c];
	size_t b = c * CHUNK, e = b + chunk_len(j->n, c);
	v4d sq = { 0 }, err = { 0 }, max = { 0 };
	uint64_t zeros = 0, underflows = 0;
	uint32_t floor_bits = u32_of(j->floor_f);
	float buf[ORIG_SPAN];
	(void)worker;
	for (size_t span = b; span < e; span += ORIG_SPAN) {
		size_t end = e - span < ORIG_SPAN ? e : span + ORIG_SPAN;
		const float *orig = orig_span(j, span, end - span, buf) - span;
		for (size_t blk = span; blk < end; blk += ERR_BLOCK) {
			size_t n = end - blk < ERR_BLOCK ? end - blk : ERR_BLOCK;
			uint8_t *codes = j->codes + blk;
			floor_block(j->w + blk, codes, n, floor_bits, &zeros, &underflows);
			for (size_t k = 0; k < n; k += 4) {
				v4d o, t;
				load_four(orig + blk + k, codes + k, j->tab, n - k < 4 ? n - k : 4, &o, &t);
				v4d d = (v4d)((v4l)(o - t) & 0x7fffffffffffffff);
				sq += o * o;
				err += d * d;
				v4l more = d > max;
				max = (v4d)(((v4l)d & more) | ((v4l)max & ~more));
			}
		}
	}
	s->sum_sq = lanes_sum(&sq);
	s->err_sq = lanes_sum(&err);
	for (int l = 0; l < 4; l++)
		s->max_abs = max[l] > s->max_abs ? max[l] : s->max_abs;
	s->zeros = zeros;
	s->underflows = underflows;
	if (!j->orig) /* the one pass over the originals: their pages go now */
		model_release_range(j->m, j->t, b, e - b);
}

static int run_sums(struct sums_job *j, void (*fn)(void *, size_t, unsigned), struct chunk_sums *total)
{
	size_t nc = chunks_of(j->n);
	if (!(j->out = calloc(nc + 1, sizeof *j->out)))
		return GGPACK_E_NOMEM;
	parallel_for(nc, fn, j);
	memset(total, 0, sizeof *total);
	for (size_t c = 0; c < nc; c++) {
		const struct chunk_sums *s = &j->out[c];
		total->sum_sq += s->sum_sq;
		total->err_sq += s->err_sq;
		total->max_abs = s->max_abs > total->max_abs ? s->max_abs : total->max_abs;
		total->zeros += s->zeros;
		total->underflows += s->underflows;
		for (int k = 0; k <= FLOOR_STEPS; k++)
			total->floor_err[k] += s->floor_err[k];
	}
	free(j->out);
	j->out = NULL;
	return 0;
}

/* 10 log10(e / e0): the SNR a floor costs, in dB. */
static double snr_loss(double e, double e0)
{
	if (e <= e0)
		return 0;
	return e0 > 0 ? 10 * log10(e / e0) : INFINITY;
}

/* sum w^2 over 4 lanes (element i to lane i % 4). The running sum stays
 * in a register: an accumulator in memory waits on its own store every
 * step (this pass cost as much as the RF8 encode). */
SIMD_CLONES
static double sum_sq_lanes(const float *w, size_t n)
{
	v4d acc = { 0 };
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		v4f f;
		memcpy(&f, w + i, sizeof f);
		v4d x = __builtin_convertvector(f, v4d);
		acc += x * x;
	}
	v4d lanes = acc;
	for (; i < n; i++)
		lanes[i % 4] += (double)w[i] * w[i];
	return lanes_sum(&lanes);
}

/* The auto floor of RF8.md: the largest r 2^-k within max_loss dB of the
 * SNR without a floor, or 0. */
static int auto_floor(struct sums_job *j, double max_loss, double *floor)
{
	double r = sqrt(sum_sq_lanes(j->w, j->n) / (double)j->n);
	struct chunk_sums t;
	for (int k = 0; k <= FLOOR_STEPS; k++)
		j->T[k] = k ? ldexp(r, -k) : 0;
	j->r = r;
	if (run_sums(j, floor_chunk, &t))
		return GGPACK_E_NOMEM;
	*floor = 0;
	for (int k = 1; k <= FLOOR_STEPS && r > 0; k++)
		if (snr_loss(t.floor_err[k], t.floor_err[0]) <= max_loss) {
			*floor = j->T[k];
			break;
		}
	return 0;
}

/* The table's values as doubles: what the stored elements decode to. */
static void table_f64(const uint8_t *table, int dtype, double *out)
{
	for (int c = 0; c < 256; c++)
		out[c] = tensor_raw_element(dtype, table, (size_t)c);
}

/* The float store: every element is its code's table entry, so the lut
 * and float outputs of one conversion decode to the same bits. */
static void *gather_table(const uint8_t *table, size_t width, const uint8_t *codes, size_t n)
{
	uint8_t *out = malloc(n * width + 1);
	for (size_t i = 0; out && i < n; i++)
		memcpy(out + i * width, table + codes[i] * width, width);
	return out;
}

/* The entropy of n codes, bits per code. */
static int code_entropy(const uint8_t *codes, size_t n, double *entropy)
{
	struct ggpack_hist *h;
	struct ggpack_bits b;
	int rc = ggpack_hist_from_codes(codes, n, &h);
	if (!rc)
		rc = ggpack_hist_bits(h, &b);
	ggpack_hist_free(h);
	if (!rc)
		*entropy = b.entropy;
	return rc;
}

/* The code entropy the tensor would have without its floor (the totals
 * show what the floor saves): the codes before it, for a given floor
 * encoded again. */
static int entropy_without_floor(const struct ggpack_conversion *c, size_t i, const float *w,
				 const uint8_t *codes, struct conv_tensor *ct)
{
	const struct index_tensor *t = &c->m->tensors[i];
	if (c->o.floor != GGPACK_FLOOR_VALUE)
		return code_entropy(codes, t->params, &ct->entropy_no_floor);
	uint8_t *plain = malloc(t->params + 1);
	int E, rc = plain ? ggpack_rf8_encode(NULL, t->name, GGPACK_DTYPE_FLOAT, w, t->params,
					      c->o.rounding, 0, plain, &E) : GGPACK_E_NOMEM;
	if (!rc)
		rc = code_entropy(plain, t->params, &ct->entropy_no_floor);
	free(plain);
	return rc;
}

static int code_bits(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, struct conv_tensor *ct,
		     const uint8_t *codes, size_t n)
{
	struct ggpack_hist *h;
	int rc = ggpack_hist_from_codes(codes, n, &h);
	if (!rc)
		rc = ggpack_hist_bits(h, &ct->bits);
	ggpack_hist_free(h);
	if (!rc)
		rc = ggpack_zstd_bits(ctx, codes, n, c->o.zstd_level, &ct->bits.zstd);
	return rc;
}

/* The largest RF8 value a dtype holds: 15/8 2^15 in float16, whose next,
 * 2^16, is infinity there; 15/8 2^127 in float32 and bfloat16, past which
 * 2^128 is. A tensor with values past it is encoded from a copy saturated
 * there (nearest would give the infinite value, and so would paper), while
 * its error is still measured against the values it had. */
static float rf8_max_held(int dtype)
{
	return dtype == GGPACK_DTYPE_FLOAT16 ? 0x1.ep15f : dtype == GGPACK_DTYPE_DOUBLE ? INFINITY : 0x1.ep127f;
}

static float *saturated(const float *w, size_t n, float limit)
{
	float *s = malloc(n * sizeof *s + 1);
	for (size_t i = 0; s && i < n; i++)
		s[i] = w[i] > limit ? limit : w[i] < -limit ? -limit : w[i];
	return s;
}

static int fail_nomem(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, size_t i)
{
	return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: tensor '%s': out of memory", c->m->path,
			c->m->tensors[i].name);
}

/* Codes, E and floor of tensor i from w, whose max |w| bits are max_bits. */
static int encode(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, size_t i, const float *w,
		  uint32_t max_bits, uint8_t *codes, double *tab, struct sums_job *j)
{
	const struct index_tensor *t = &c->m->tensors[i];
	struct conv_tensor *ct = &c->t[i];
	int dtype = t->proto->data_type;
	double value = c->o.floor == GGPACK_FLOOR_VALUE ? c->o.floor_value : 0;
	int rc = rf8_encode_f32_max(ctx, t->name, w, t->params, c->o.rounding, value, max_bits, codes, &ct->E);
	if (rc == GGPACK_E_INVALID)
		return ctx_prefix(ctx, rc, "%s: ", c->m->path);
	if (rc)
		return rc;
	ggpack_rf8_table(ct->E, dtype, ct->table);
	table_f64(ct->table, dtype, tab);
	ct->floor = value;
	if (entropy_without_floor(c, i, w, codes, ct))
		return fail_nomem(ctx, c, i);
	if (c->o.floor != GGPACK_FLOOR_AUTO)
		return 0;
	if (auto_floor(j, c->o.floor_max_loss, &ct->floor))
		return fail_nomem(ctx, c, i);
	j->floor = ct->floor; /* applied to the codes by the error pass */
	j->floor_f = (float)j->floor;
	if ((double)j->floor_f < j->floor)
		j->floor_f = nextafterf(j->floor_f, INFINITY);
	return 0;
}

int conv_rf8(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const float *w,
	     const float *orig)
{
	const struct index_tensor *t = &c->m->tensors[i];
	struct conv_tensor *ct = &c->t[i];
	size_t n = t->params, width = conv_dtype_size(t->proto->data_type);
	float limit = rf8_max_held(t->proto->data_type);
	/* the values measured: their largest magnitude is known */
	uint32_t max_bits = orig == w ? ct->max_bits : tensor_max_abs_bits_parallel(w, n, 0);
	bool saturate = max_bits > u32_of(limit); /* a NaN too: kept, then named */
	float *sat = saturate ? saturated(w, n, limit) : NULL;
	const float *enc = saturate ? sat : w;
	double tab[256];
	uint8_t *codes = malloc(n + 1);
	struct sums_job j = { .w = enc, .orig = orig, .codes = codes, .tab = tab, .n = n, .m = c->m, .t = t };
	struct chunk_sums s;
	if (!codes || (saturate && !sat)) {
		free(codes);
		free(sat);
		return fail_nomem(ctx, c, i);
	}
	uint32_t enc_max = sat ? tensor_max_abs_bits_parallel(sat, n, 0) : max_bits;
	int rc = encode(ctx, c, i, enc, enc_max, codes, tab, &j);
	if (!rc && run_sums(&j, error_chunk, &s))
		rc = fail_nomem(ctx, c, i);
	if (!rc)
		rc = code_bits(ctx, c, ct, codes, n);
	free(sat);
	if (rc) {
		free(codes);
		return rc;
	}
	ct->rf8 = true;
	ct->err = (struct ggpack_error_sums){ s.sum_sq, s.err_sq, s.max_abs };
	ct->zeros = s.zeros;
	ct->underflows = s.underflows;
	ct->store_note = c->o.store == GGPACK_STORE_LUT ? store_lut_unavailable(c->m, t->proto->data_type, n) : NULL;
	ct->lut = c->o.store == GGPACK_STORE_LUT && !ct->store_note;
	if (ct->lut) {
		ct->data = codes, ct->data_bytes = n;
		return conv_data_made(ctx, c, i);
	}
	ct->data = gather_table(ct->table, width, codes, n);
	ct->data_bytes = n * width;
	free(codes);
	return ct->data ? conv_data_made(ctx, c, i) : fail_nomem(ctx, c, i);
}

/* ---- DeepShape without RF8 ---------------------------------------------- */

int conv_plain(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const float *w,
	       const float *orig)
{
	const struct index_tensor *t = &c->m->tensors[i];
	struct conv_tensor *ct = &c->t[i];
	int dtype = t->proto->data_type;
	size_t n = t->params, width = conv_dtype_size(dtype);
	uint8_t *out = malloc(n * width + 1);
	float *back = malloc(n * sizeof *back + 1);
	struct ggpack_hist *h = NULL;
	int rc = out && back ? 0 : fail_nomem(ctx, c, i);
	if (!rc)
		tensor_store_f32(dtype, w, n, out);
	for (size_t k = 0; !rc && k < n; k++)
		back[k] = (float)tensor_raw_element(dtype, out, k);
	ct->err = (struct ggpack_error_sums){ 0 };
	if (!rc) {
		ggpack_error_add_f32(&ct->err, orig, back, n);
		rc = ggpack_hist_from_grid_f32(back, n, c->o.grid, &h);
	}
	if (!rc)
		rc = ggpack_hist_bits(h, &ct->bits);
	ggpack_hist_free(h);
	free(back);
	ct->bits.zstd = NAN;
	if (rc) {
		free(out);
		return rc == GGPACK_E_NOMEM ? fail_nomem(ctx, c, i) : rc;
	}
	ct->data = out, ct->data_bytes = n * width;
	return conv_data_made(ctx, c, i);
}
