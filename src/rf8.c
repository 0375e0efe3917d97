/*
 * rf8.c - RF8, the residual 8-bit float (RF8.md): each weight kept as its
 * first two signed binary digits, |v| = M[j] 2^(E+b). Encoding works on the
 * bits of float32 values: every midpoint between two magnitudes of M lies
 * on a 1/32 grid of the mantissa, so the top 5 mantissa bits and "are the
 * rest zero" decide the nearest value and its ties exactly, with no
 * floating-point arithmetic; the paper's rint(log2 x) is "is the mantissa
 * above sqrt 2". float16 and bfloat16 widen exactly to float32; float64
 * takes the literal formulas.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RF8_BINADES 18
#define RF8_TOP 126
/* M[j] in sixteenths: 1, 17/16, 9/8, 5/4, 3/2, 7/4, 15/8 */
static const int m16[7] = { 16, 17, 18, 20, 24, 28, 30 };
/* Midpoints between 1, 17/16, ..., 15/8, 2 as (m - 1) * 32 */
static const int mid32[7] = { 1, 3, 6, 12, 20, 26, 30 };

double ggpack_rf8_decode(uint8_t code, int E)
{
	int k = code & 0x7f;
	if (k == 127)
		return NAN;
	if (k == 0)
		return 0.0;
	double v = ldexp(m16[(k - 1) % 7], E + (k - 1) / 7 - 4);
	return code & 0x80 ? -v : v;
}

/* ---- nearest ----------------------------------------------------------- */

/* The nearest magnitude of m = 1 + f (f the 23-bit mantissa fraction) lies
 * between two of 1, 17/16, ..., 15/8, 2, and every midpoint between them is
 * a multiple of 1/32: the top 5 bits t of f and "are the other 18 bits
 * zero" decide it exactly. nearest_j[b & 1][2 t + rest] is its index j
 * (0..7, 7 being the next binade's 1), a tie already resolved toward the
 * even code k = 1 + 7 b + j, whose parity is that of 1 + b + j. */
static uint8_t nearest_j[2][64];

static void nearest_init(void)
{
	for (int t = 0; t < 32; t++) {
		int below = 0, at = 0;
		for (int i = 0; i < 7; i++) {
			below += mid32[i] < t;
			at |= mid32[i] == t;
		}
		for (int parity = 0; parity < 2; parity++) {
			nearest_j[parity][2 * t + 1] = (uint8_t)(below + at);
			nearest_j[parity][2 * t] = (uint8_t)(below + (at && ((1 + parity + below) & 1)));
		}
	}
}

/* Code magnitude (0..126) of the nearest window value to 2^ex (1 + frac/2^23). */
static inline int nearest_k(int b, uint32_t frac)
{
	if ((unsigned)b < RF8_BINADES) {
		int k = 1 + 7 * b + nearest_j[b & 1][(frac >> 17 & 62) | ((frac & 0x3ffff) != 0)];
		return k > RF8_TOP ? RF8_TOP : k;
	}
	if (b >= RF8_BINADES)
		return RF8_TOP;
	/* just under the window: 0 and 2^E tie at 2^(E-1), and 0 is even */
	return b == -1 && frac;
}

/* ---- paper --------------------------------------------------------------- */

/* The paper's rounding of a > 0 as M[*j] 2^(*e); false when it is zero. */
static bool paper_digits_f64(double a, int *e, int *j)
{
	int e1 = (int)rint(log2(a));
	double r = a - ldexp(1.0, e1);
	if (r == 0) {
		*e = e1, *j = 0;
		return true;
	}
	int e2 = (int)rint(log2(fabs(r)));
	int d = e1 - e2;
	if (d > 4) {
		*e = e1, *j = 0;
		return true;
	}
	/* 2^e1 + 2^e2 = (1 + 2^-d) 2^e1; 2^e1 - 2^e2 = (2 - 2^(1-d)) 2^(e1-1) */
	static const int plus_j[5] = { 0, 4, 3, 2, 1 }, minus_j[5] = { 0, 0, 4, 5, 6 };
	if (r > 0)
		*e = e1, *j = plus_j[d];
	else
		*e = e1 - 1, *j = minus_j[d];
	return true;
}

/* The paper's rule depends on the mantissa m alone (rint(log2 x) moves with
 * the exponent), rises with m, and changes value at seven irrational points:
 * 1 + 2^-4.5, 1 + 2^-3.5, 1 + 2^-2.5, 1 + 2^-1.5 (second digit 2^-4 .. 2^-1
 * added), 2 - 2^-1.5, 2 - 2^-2.5, 2 - 2^-3.5 (2^-2 .. 2^-4 taken from the
 * next power). paper_cut[i] is the mantissa fraction of the first float32
 * past point i, found with the literal formula itself; piece i gives the
 * digits (paper_de[i], paper_j[i]) relative to the value's own binade. */
static uint32_t paper_cut[7];
static const int8_t paper_de[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t paper_j[8] = { 0, 1, 2, 3, 4, 5, 6, 0 };

static int paper_piece_f64(double m)
{
	int e, j;
	paper_digits_f64(m, &e, &j);
	return e == 1 ? 7 : j;
}

static void paper_init(void)
{
	const double points[7] = { 1 + 0x1p-4 * M_SQRT1_2, 1 + 0x1p-3 * M_SQRT1_2, 1 + 0x1p-2 * M_SQRT1_2,
				   1 + 0x1p-1 * M_SQRT1_2, 2 - 0x1p-1 * M_SQRT1_2, 2 - 0x1p-2 * M_SQRT1_2,
				   2 - 0x1p-3 * M_SQRT1_2 };
	static const int piece_after[7] = { 1, 2, 3, 4, 5, 6, 7 };
	for (int i = 0; i < 7; i++) {
		float m = (float)points[i];
		while (paper_piece_f64(m) >= piece_after[i])
			m = nextafterf(m, 0);
		while (paper_piece_f64(m) < piece_after[i])
			m = nextafterf(m, 2);
		uint32_t u;
		memcpy(&u, &m, 4);
		paper_cut[i] = u & 0x7fffff;
	}
}

/* The paper's rounding of normal float32 magnitude bits u: 2^ex m becomes
 * M[*j] 2^(*e), with no branch on the data. */
static inline void paper_digits_f32(uint32_t u, int *e, int *j)
{
	uint32_t frac = u & 0x7fffff;
	int piece = 0;
	for (int i = 0; i < 7; i++)
		piece += frac >= paper_cut[i];
	*e = (int)(u >> 23) - 127 + paper_de[piece];
	*j = paper_j[piece];
}

static inline int paper_k(int e, int j, int E)
{
	int b = e - E;
	if (b < 0)
		return 0; /* under the window's smallest magnitude */
	int k = 1 + 7 * b + j;
	return k > RF8_TOP ? RF8_TOP : k;
}

/* ---- encoding float32 ---------------------------------------------------- */

struct rf8_job {
	struct ggpack_ctx *ctx;
	const char *name;
	enum ggpack_rounding rounding;
	double floor;
	bool max_known;     /* max_bits holds max |x| bits over all x (no floor) */
	uint32_t max_bits;
};

static int not_finite(const struct rf8_job *job, size_t i, double v)
{
	return ctx_fail(job->ctx, GGPACK_E_INVALID, "tensor '%s': element %zu is %s; RF8 needs finite weights",
			job->name ? job->name : "?", i, isnan(v) ? "NaN" : "infinite");
}

/* The binade of a > 0 rounded to the nearest magnitude in the unbounded
 * set, a tie going away from zero: from 31/16 up it is the next binade. */
static int nearest_binade(double a)
{
	int ex;
	double m = 2 * frexp(a, &ex);
	return ex - 1 + (m >= 31.0 / 16);
}

/* Magnitude bits of x, 0 when under the floor. */
static inline uint32_t floored_bits(float x, float floor)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	u &= 0x7fffffff;
	return fabsf(x) < floor ? 0 : u;
}

/* E of float32 values: the binade of the largest rounded magnitude, less
 * 17. Both roundings rise with |x|, so that is the rounding of max |x|.
 * *any is false for a tensor of zeros. */
static int e_of_f32(const struct rf8_job *job, const float *x, size_t n, int *E, bool *any)
{
	float ffloor = (float)job->floor;
	int32_t floor;
	size_t i;
	memcpy(&floor, &ffloor, 4);
	/* at or above the floor: the largest magnitude, or 0 when it is under
	 * the floor (as tensor_max_abs_bits counts it) */
	int32_t max = job->max_known ? (int32_t)job->max_bits >= floor ? (int32_t)job->max_bits : 0
				     : (int32_t)tensor_max_abs_bits_parallel(x, n, (uint32_t)floor);
	if (max >= 0x7f800000) {
		for (i = 0;; i++)
			if (!isfinite(x[i]))
				return not_finite(job, i, x[i]);
	}
	*any = max != 0;
	float fm;
	memcpy(&fm, &max, 4);
	uint32_t umax = (uint32_t)max;
	int e = 0, j;
	if (!*any)
		e = RF8_BINADES - 1;
	else if (job->rounding == GGPACK_ROUND_NEAREST)
		e = nearest_binade(fm);
	else if (umax >= 0x800000)
		paper_digits_f32(umax, &e, &j);
	else
		paper_digits_f64(fm, &e, &j);
	*E = e - (RF8_BINADES - 1);
	return 0;
}

/* Code of a subnormal float32 (or any value) by the exact double path. */
static uint8_t code_slow(double x, int E, enum ggpack_rounding rounding)
{
	double a = fabs(x);
	int k, ex, e, j;
	if (rounding == GGPACK_ROUND_PAPER) {
		paper_digits_f64(a, &e, &j);
		k = paper_k(e, j, E);
	} else {
		double m = 2 * frexp(a, &ex), f = (m - 1) * 0x1p23; /* both exact */
		uint32_t frac = (uint32_t)f;
		if (f != frac) /* more than 23 bits (float64): keep "rest is non-zero" */
			frac |= 1;
		k = nearest_k(ex - 1 - E, frac);
	}
	return (uint8_t)(k ? k | (x < 0 ? 0x80 : 0) : 0);
}

/* Codes of n float32 values with no branch on the data, in mask
 * arithmetic (GCC turns ?: back into jumps), so that blocks of 64
 * vectorize. Nearest: the index is the count of midpoints (multiples of
 * 2^18 in the mantissa fraction) below it, and a tie moves to the even
 * code. Paper: the piece is the count of cut points at or below it. Zero
 * and values under the floor give 0; subnormals are only flagged, for the
 * exact path. */
#define MID(m) ((uint32_t)(m) << 18)

static inline uint32_t nearest_block(const float *restrict x, size_t n, uint32_t floor, int E,
				     uint8_t *restrict codes)
{
	uint32_t slow = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		int32_t sign = (int32_t)((u >> 24) & 0x80);
		u &= 0x7fffffff;
		u &= -(uint32_t)(u >= floor); /* non-negative floats order like their bits */
		uint32_t f = u & 0x7fffff;
		int32_t b = (int32_t)(u >> 23) - 127 - E;
		int32_t j = (f > MID(1)) + (f > MID(3)) + (f > MID(6)) + (f > MID(12)) + (f > MID(20)) +
			    (f > MID(26)) + (f > MID(30));
		int32_t tie = (f == MID(1)) | (f == MID(3)) | (f == MID(6)) | (f == MID(12)) |
			      (f == MID(20)) | (f == MID(26)) | (f == MID(30));
		int32_t k = 1 + 7 * b + j + (tie & ((1 + b + j) & 1));
		k = (int32_t)pick_u32(k > RF8_TOP, RF8_TOP, (uint32_t)k);
		k = (int32_t)pick_u32(b >= RF8_BINADES, RF8_TOP, (uint32_t)k);
		k = (int32_t)pick_u32(b < 0, (b == -1) & (f != 0), (uint32_t)k); /* 0 and 2^E tie at 2^(E-1) */
		k &= -(int32_t)(u != 0);
		slow |= u - 1 < 0x7fffff; /* a subnormal, not zero */
		codes[i] = (uint8_t)(k | (sign & -(int32_t)(k != 0)));
	}
	return slow;
}

static inline uint32_t paper_block(const float *restrict x, size_t n, uint32_t floor, int E,
				   uint8_t *restrict codes)
{
	uint32_t slow = 0, c0 = paper_cut[0], c1 = paper_cut[1], c2 = paper_cut[2], c3 = paper_cut[3],
		 c4 = paper_cut[4], c5 = paper_cut[5], c6 = paper_cut[6];
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		int32_t sign = (int32_t)((u >> 24) & 0x80);
		u &= 0x7fffffff;
		u &= -(uint32_t)(u >= floor);
		uint32_t f = u & 0x7fffff;
		int32_t piece = (f >= c0) + (f >= c1) + (f >= c2) + (f >= c3) + (f >= c4) + (f >= c5) + (f >= c6);
		int32_t up = piece == 7;
		int32_t b = (int32_t)(u >> 23) - 127 + up - E;
		int32_t k = 1 + 7 * b + (int32_t)pick_u32(up, 0, (uint32_t)piece);
		k = (int32_t)pick_u32(k > RF8_TOP, RF8_TOP, (uint32_t)k);
		k &= -(int32_t)(b >= 0); /* under the window: zero */
		k &= -(int32_t)(u != 0);
		slow |= u - 1 < 0x7fffff;
		codes[i] = (uint8_t)(k | (sign & -(int32_t)(k != 0)));
	}
	return slow;
}

/* Codes of n values, block by block; returns whether a subnormal was seen. */
SIMD_CLONES
static uint32_t codes_f32(const float *x, size_t n, uint32_t floor, int E, enum ggpack_rounding rounding,
			  uint8_t *codes)
{
	uint32_t slow = 0;
	size_t i = 0;
	if (rounding == GGPACK_ROUND_NEAREST) {
		for (; i + 64 <= n; i += 64)
			slow |= nearest_block(x + i, 64, floor, E, codes + i);
		slow |= nearest_block(x + i, n - i, floor, E, codes + i);
	} else {
		for (; i + 64 <= n; i += 64)
			slow |= paper_block(x + i, 64, floor, E, codes + i);
		slow |= paper_block(x + i, n - i, floor, E, codes + i);
	}
	return slow;
}

struct codes_job {
	const float *x;
	size_t n;
	float floor;
	uint32_t floor_bits;
	int E;
	enum ggpack_rounding rounding;
	uint8_t *codes;
};

static void codes_chunk(void *arg, size_t c, unsigned worker)
{
	struct codes_job *j = arg;
	size_t at = c * CHUNK, len = chunk_len(j->n, c);
	const float *x = j->x + at;
	uint8_t *codes = j->codes + at;
	uint32_t slow = codes_f32(x, len, j->floor_bits, j->E, j->rounding, codes);
	for (size_t k = 0; slow && k < len; k++) { /* rare: subnormal weights */
		uint32_t u = floored_bits(x[k], j->floor);
		if (u && u < 0x800000)
			codes[k] = code_slow(x[k], j->E, j->rounding);
	}
	(void)worker;
}

static int encode_f32(const struct rf8_job *job, const float *x, size_t n, uint8_t *codes, int *E_out)
{
	int E = 0;
	bool any = false;
	int rc = e_of_f32(job, x, n, &E, &any);
	if (rc)
		return rc;
	struct codes_job cj = { x, n, (float)job->floor, 0, E, job->rounding, codes };
	memcpy(&cj.floor_bits, &cj.floor, 4);
	parallel_for(chunks_of(n), codes_chunk, &cj);
	*E_out = E;
	return 0;
}

/* ---- encoding float64 ------------------------------------------------------ */

static int code_f64(double x, double floor, int E, enum ggpack_rounding rounding)
{
	double a = fabs(x);
	return a == 0 || a < floor ? 0 : code_slow(x, E, rounding);
}

static int encode_f64(const struct rf8_job *job, const double *x, size_t n, uint8_t *codes, int *E_out)
{
	int e_max = INT32_MIN, j_max = 0;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		double a = fabs(x[i]);
		int e, j;
		if (!isfinite(a))
			return not_finite(job, i, x[i]);
		if (a == 0 || a < job->floor)
			continue;
		any = true;
		if (job->rounding == GGPACK_ROUND_PAPER)
			paper_digits_f64(a, &e, &j);
		else
			e = nearest_binade(a), j = 0;
		if (e > e_max || (e == e_max && j > j_max))
			e_max = e, j_max = j;
	}
	int E = any ? e_max - (RF8_BINADES - 1) : 0;
	for (size_t i = 0; i < n; i++)
		codes[i] = (uint8_t)(any ? code_f64(x[i], job->floor, E, job->rounding) : 0);
	*E_out = E;
	return 0;
}

/* ---- the public functions -------------------------------------------------- */

static pthread_once_t rf8_once = PTHREAD_ONCE_INIT;

static void rf8_init(void)
{
	nearest_init();
	paper_init();
}

/* float16 and bfloat16 widen exactly to float32. */
static float *widen_16(int dtype, const uint16_t *x, size_t n)
{
	float *w = malloc(n ? n * sizeof *w : 1);
	for (size_t i = 0; w && i < n; i++)
		w[i] = dtype == GGPACK_DTYPE_BFLOAT16 ? tensor_bf16_to_f32(x[i]) : tensor_f16_to_f32(x[i]);
	return w;
}

/* The job of either entry point: the tables built once, the rounding
 * checked. */
static int job_start(struct rf8_job *job, struct ggpack_ctx *ctx, const char *name,
		     enum ggpack_rounding rounding, double floor)
{
	pthread_once(&rf8_once, rf8_init);
	*job = (struct rf8_job){ ctx, name, rounding, floor > 0 ? floor : 0, false, 0 };
	if (rounding != GGPACK_ROUND_NEAREST && rounding != GGPACK_ROUND_PAPER)
		return ctx_fail(ctx, GGPACK_E_USAGE, "unknown RF8 rounding %d", (int)rounding);
	return 0;
}

int rf8_encode_f32_max(struct ggpack_ctx *ctx, const char *name, const float *x, size_t n,
		       enum ggpack_rounding rounding, double floor, uint32_t max_bits, uint8_t *codes, int *E)
{
	struct rf8_job job;
	int rc = job_start(&job, ctx, name, rounding, floor);
	if (rc)
		return rc;
	job.max_known = true, job.max_bits = max_bits;
	return encode_f32(&job, x, n, codes, E);
}

int ggpack_rf8_encode(struct ggpack_ctx *ctx, const char *name, int dtype, const void *values,
		      size_t n, enum ggpack_rounding rounding, double floor, uint8_t *codes, int *E)
{
	struct rf8_job job;
	int rc = job_start(&job, ctx, name, rounding, floor);
	if (rc)
		return rc;
	switch (dtype) {
	case GGPACK_DTYPE_FLOAT:
		return encode_f32(&job, values, n, codes, E);
	case GGPACK_DTYPE_DOUBLE:
		return encode_f64(&job, values, n, codes, E);
	case GGPACK_DTYPE_FLOAT16:
	case GGPACK_DTYPE_BFLOAT16: {
		float *w = widen_16(dtype, values, n);
		if (!w)
			return ctx_fail(ctx, GGPACK_E_NOMEM, "tensor '%s': out of memory", name ? name : "?");
		rc = encode_f32(&job, w, n, codes, E);
		free(w);
		return rc;
	}
	default:
		return ctx_fail(ctx, GGPACK_E_USAGE, "tensor '%s': RF8 takes floating tensors, not %s",
				name ? name : "?", ggpack_dtype_name(dtype) ? ggpack_dtype_name(dtype) : "?");
	}
}

int ggpack_rf8_table(int E, int dtype, void *table)
{
	for (int c = 0; c < 256; c++) {
		double v = (c & 0x7f) == 127 ? 0.0 : ggpack_rf8_decode((uint8_t)c, E);
		switch (dtype) {
		case GGPACK_DTYPE_FLOAT: ((float *)table)[c] = (float)v; break;
		case GGPACK_DTYPE_DOUBLE: ((double *)table)[c] = v; break;
		case GGPACK_DTYPE_FLOAT16: ((uint16_t *)table)[c] = tensor_f16_from_f64(v); break;
		case GGPACK_DTYPE_BFLOAT16: ((uint16_t *)table)[c] = tensor_bf16_from_f64(v); break;
		default: return GGPACK_E_USAGE;
		}
	}
	return 0;
}
