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
	double gain[FLOOR_STEPS + 1]; /* [m]: sum of w^2 - d^2 over the elements under m of the floors tried */
	uint64_t zeros, underflows;
};

/* The floor pass's cells: per code and m, how many elements and the sum
 * of their values (m in the low 4 bits of a cell's index). */
#define M_CELLS 16

struct floor_cells {
	uint32_t n[256 * M_CELLS];
	double s[256 * M_CELLS];
};

struct sums_job {
	const float *w, *orig;
	uint8_t *codes;            /* error_chunk applies the floor to them */
	double floor;
	float floor_f;             /* the least float >= floor */
	const double *tab;
	size_t n;
	double r;                  /* the floors tried are T[k] = r 2^-k */
	struct floor_cells *cells; /* per worker, a chunk's */
	uint64_t (*code_m)[256 * M_CELLS]; /* per worker: its elements per cell, every chunk */
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
 * every floor tried is under max|w|), a gain of w^2 - d^2 = 2tw - t^2,
 * t its code's value. The thresholds fall with k, so an element lies
 * under T[1..m] for its count m of thresholds above |w|, and floor k costs
 * the error without a floor plus the gains of the elements with m >= k.
 * m comes from the bits: for doubles >= 0 the bit patterns order like the
 * values, and T[k] = r 2^-k is r's pattern less k 2^52 (normal: r is at
 * least 2^-200 or 0), so with D = bits(r) - bits(|w|), |w| < T[k] exactly
 * when k 2^52 < D, and m = clamp((D - 1) >> 52, 0, 12).
 *
 * Per element the pass only counts it and adds w in the cell of its code
 * and m: two scalar additions, where twelve masked vector ones per four
 * elements cost more. A chunk's gains come from its cells (over a cell,
 * the sum of 2tw - t^2 is 2tS - t^2 N), in one fixed order; the cells'
 * counts give the codes' histograms, before and after the floor, with no
 * pass over the codes. */
#define M_BLOCK 64

SIMD_CLONES
static void floors_above(const float *restrict w, size_t n, int64_t r_bits, uint8_t *restrict m)
{
	for (size_t k = 0; k < n; k++) {
		double x = w[k];
		int64_t u;
		memcpy(&u, &x, 8);
		int64_t D = r_bits - (u & 0x7fffffffffffffff);
		int64_t above = (int64_t)((uint64_t)(D - 1) >> 52); /* as a signed shift where D > 0 */
		above = above < FLOOR_STEPS ? above : FLOOR_STEPS;
		m[k] = (uint8_t)(D > 0 ? above : 0);
	}
}

static void floor_chunk(void *arg, size_t c, unsigned worker)
{
	struct sums_job *j = arg;
	struct floor_cells *cells = &j->cells[worker];
	size_t b = c * CHUNK, e = b + chunk_len(j->n, c);
	int64_t r_bits;
	memcpy(&r_bits, &j->r, 8);
	memset(cells, 0, sizeof *cells);
	for (size_t at = b; at < e; at += M_BLOCK) {
		size_t n = e - at < M_BLOCK ? e - at : M_BLOCK;
		const float *w = j->w + at;
		const uint8_t *codes = j->codes + at;
		uint8_t m[M_BLOCK];
		floors_above(w, n, r_bits, m);
		for (size_t k = 0; k < n; k++) {
			unsigned cell = (unsigned)codes[k] * M_CELLS + m[k];
			cells->n[cell]++;
			cells->s[cell] += (double)w[k];
		}
	}
	struct chunk_sums *s = &j->out[c];
	for (unsigned cell = 0; cell < 256 * M_CELLS; cell++) {
		uint32_t n = cells->n[cell];
		if (!n) /* an unused code's value may be NaN (index 127) */
			continue;
		double t = j->tab[cell / M_CELLS];
		s->gain[cell % M_CELLS] += 2 * t * cells->s[cell] - t * t * (double)n;
		j->code_m[worker][cell] += n;
	}
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
			total->gain[k] += s->gain[k];
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

/* The floor pass over threads: the gains per m (chunk order) and every
 * element's cell counted (integers: any order), into cells. */
static int floor_pass(struct sums_job *j, struct chunk_sums *t, uint64_t cells[256 * M_CELLS])
{
	unsigned workers = parallel_workers(chunks_of(j->n));
	j->cells = malloc(workers * sizeof *j->cells);
	j->code_m = calloc(workers, sizeof *j->code_m);
	int rc = j->cells && j->code_m ? run_sums(j, floor_chunk, t) : GGPACK_E_NOMEM;
	for (unsigned w = 0; !rc && w < workers; w++)
		for (unsigned cell = 0; cell < 256 * M_CELLS; cell++)
			cells[cell] += j->code_m[w][cell];
	free(j->cells);
	free(j->code_m);
	j->cells = NULL, j->code_m = NULL;
	return rc;
}

/* The auto floor of RF8.md: the largest r 2^-k within max_loss dB of the
 * SNR without a floor (*k its k), or 0 (*k 0); the elements per cell in
 * cells. The error without a floor is sum w^2 less every gain. */
static int auto_floor(struct sums_job *j, double max_loss, double *floor, int *k_floor,
		      uint64_t cells[256 * M_CELLS])
{
	double sum_sq = sum_sq_lanes(j->w, j->n), r = sqrt(sum_sq / (double)j->n);
	struct chunk_sums t;
	j->r = r;
	if (floor_pass(j, &t, cells))
		return GGPACK_E_NOMEM;
	double none = sum_sq, err[FLOOR_STEPS + 1], above = 0;
	for (int m = 0; m <= FLOOR_STEPS; m++)
		none -= t.gain[m];
	for (int k = FLOOR_STEPS; k >= 1; k--) /* floor k: the gains of m >= k given up */
		above += t.gain[k], err[k] = none + above;
	*floor = 0, *k_floor = 0;
	for (int k = 1; k <= FLOOR_STEPS && r > 0; k++)
		if (snr_loss(err[k], none) <= max_loss) {
			*floor = ldexp(r, -k), *k_floor = k;
			break;
		}
	return 0;
}

/* The codes' histogram from the cells: with no floor (k 0), or as the
 * floor T[k] leaves them (an element under it, m >= k, becomes code 0). */
static int cells_hist(const uint64_t cells[256 * M_CELLS], int k, struct ggpack_hist **out)
{
	uint64_t codes[256] = { 0 };
	for (unsigned cell = 0; cell < 256 * M_CELLS; cell++)
		codes[k && (int)(cell % M_CELLS) >= k ? 0 : cell / M_CELLS] += cells[cell];
	return hist_from_dense(codes, 256, 0, NULL, 0, out);
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

/* The entropy of a histogram, bits per symbol. */
static int hist_entropy(const struct ggpack_hist *h, double *entropy)
{
	struct ggpack_bits b;
	int rc = ggpack_hist_bits(h, &b);
	if (!rc)
		*entropy = b.entropy;
	return rc;
}

/* The code entropy the tensor would have without a given floor (the
 * totals show what the floor saves): its codes encoded again. */
static int entropy_without_value_floor(const struct ggpack_conversion *c, size_t i, const float *w,
				       struct conv_tensor *ct)
{
	const struct index_tensor *t = &c->m->tensors[i];
	uint8_t *plain = malloc(t->params + 1);
	struct ggpack_hist *h = NULL;
	int E, rc = plain ? ggpack_rf8_encode(NULL, t->name, GGPACK_DTYPE_FLOAT, w, t->params,
					      c->o.rounding, 0, plain, &E) : GGPACK_E_NOMEM;
	if (!rc)
		rc = ggpack_hist_from_codes(plain, t->params, &h);
	if (!rc)
		rc = hist_entropy(h, &ct->entropy_no_floor);
	ggpack_hist_free(h);
	free(plain);
	return rc;
}

/* The codes' histograms: as stored (*stored) and without the floor (its
 * entropy). The auto floor's cells give both; with no floor they are one;
 * a given floor is in the codes already. */
static int code_hists(const struct ggpack_conversion *c, size_t i, const float *w, const uint8_t *codes,
		      const uint64_t *cells, int k_floor, struct ggpack_hist **stored)
{
	struct conv_tensor *ct = &c->t[i];
	struct ggpack_hist *before = NULL;
	int rc;
	if (cells) {
		rc = cells_hist(cells, 0, &before);
		if (!rc)
			rc = hist_entropy(before, &ct->entropy_no_floor);
		if (!rc && k_floor)
			rc = cells_hist(cells, k_floor, stored);
		else if (!rc) /* no floor chosen: the codes stay as they are */
			*stored = before, before = NULL;
		ggpack_hist_free(before);
		return rc;
	}
	rc = ggpack_hist_from_codes(codes, c->m->tensors[i].params, stored);
	if (!rc)
		rc = c->o.floor == GGPACK_FLOOR_VALUE ? entropy_without_value_floor(c, i, w, ct)
						      : hist_entropy(*stored, &ct->entropy_no_floor);
	return rc;
}

/* The bit rates of the stored codes, from their histogram. */
static int code_bits(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, struct conv_tensor *ct,
		     const struct ggpack_hist *h, const uint8_t *codes, size_t n)
{
	int rc = ggpack_hist_bits(h, &ct->bits);
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

/* Codes, E and floor of tensor i from w, whose max |w| bits are max_bits;
 * the histogram of the codes as they will be stored in *stored. */
static int encode(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, size_t i, const float *w,
		  uint32_t max_bits, uint8_t *codes, double *tab, struct sums_job *j, struct ggpack_hist **stored)
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
	uint64_t *cells = NULL;
	int k_floor = 0;
	if (c->o.floor == GGPACK_FLOOR_AUTO) {
		cells = calloc(256 * M_CELLS, sizeof *cells);
		if (!cells || auto_floor(j, c->o.floor_max_loss, &ct->floor, &k_floor, cells)) {
			free(cells);
			return fail_nomem(ctx, c, i);
		}
		j->floor = ct->floor; /* applied to the codes by the error pass */
		j->floor_f = (float)j->floor;
		if ((double)j->floor_f < j->floor)
			j->floor_f = nextafterf(j->floor_f, INFINITY);
	}
	rc = code_hists(c, i, w, codes, cells, k_floor, stored);
	free(cells);
	return rc ? fail_nomem(ctx, c, i) : 0;
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
	struct ggpack_hist *stored = NULL;
	int rc = encode(ctx, c, i, enc, enc_max, codes, tab, &j, &stored);
	if (!rc && run_sums(&j, error_chunk, &s))
		rc = fail_nomem(ctx, c, i);
	if (!rc)
		rc = code_bits(ctx, c, ct, stored, codes, n);
	ggpack_hist_free(stored);
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
