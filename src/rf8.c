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
/* smallest float32 mantissa fraction (23 bits) above sqrt(2) - 1 */
#define SQRT2_FRAC23 0x3504f4u

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

/* For t = the top 5 bits of the mantissa fraction: the index j (0..7, 7
 * being the next binade's 1) of the nearest magnitude when the other bits
 * are not all zero, and when they are (then `tie` says t is a midpoint and
 * j is the lower of the two candidates). */
struct nearest_row {
	uint8_t j_rest, j_exact, tie;
};
static struct nearest_row nearest_rows[32];

static void nearest_init(void)
{
	for (int t = 0; t < 32; t++) {
		int below = 0, at = 0;
		for (int i = 0; i < 7; i++) {
			below += mid32[i] < t;
			at |= mid32[i] == t;
		}
		nearest_rows[t] = (struct nearest_row){ (uint8_t)(below + at), (uint8_t)below, (uint8_t)at };
	}
}

/* Code magnitude k (0..126) of the nearest window value to m 2^e, where
 * m = 1 + frac / 2^bits. */
static inline int nearest_k(int b, uint32_t t, bool rest_nonzero, bool frac_nonzero)
{
	if ((unsigned)b < RF8_BINADES) {
		const struct nearest_row *row = &nearest_rows[t];
		int k = 1 + 7 * b + (rest_nonzero ? row->j_rest : row->j_exact);
		if (!rest_nonzero && row->tie && (k & 1))
			k++; /* a tie goes to the even code */
		return k > RF8_TOP ? RF8_TOP : k;
	}
	if (b >= RF8_BINADES)
		return RF8_TOP;
	/* just under the window: 0 and 2^E tie at 2^(E-1), and 0 is even */
	return b == -1 && frac_nonzero ? 1 : 0;
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

/* The same for float32 bits u (finite, > 0, normal): rint(log2 x) of a
 * float is its exponent plus one when its mantissa passes sqrt 2 (no
 * float32 mantissa is near enough to sqrt 2 for log2's rounding to matter;
 * the tests check it against the formula). */
static inline void paper_digits_f32(uint32_t u, int *e, int *j)
{
	int ex = (int)(u >> 23) - 127;
	uint32_t frac = u & 0x7fffff;
	int e1 = ex + (frac >= SQRT2_FRAC23);
	/* r = a - 2^e1 exactly, in units of 2^(ex-23) */
	int64_t r = (int64_t)(frac | 0x800000) - ((int64_t)1 << (23 + e1 - ex));
	if (r == 0) {
		*e = e1, *j = 0;
		return;
	}
	uint64_t ar = (uint64_t)(r < 0 ? -r : r);
	int top = 63 - __builtin_clzll(ar);            /* |r| = mr 2^(top + ex - 23) */
	uint64_t rfrac = ar - ((uint64_t)1 << top);    /* mantissa fraction, top bits */
	/* mr > sqrt 2 <=> rfrac / 2^top >= SQRT2_FRAC23 / 2^23 (both exact here) */
	int up = top >= 23 ? rfrac >= ((uint64_t)SQRT2_FRAC23 << (top - 23))
			   : (rfrac << (23 - top)) >= SQRT2_FRAC23;
	int e2 = top + ex - 23 + up;
	int d = e1 - e2;
	static const int plus_j[5] = { 0, 4, 3, 2, 1 }, minus_j[5] = { 0, 0, 4, 5, 6 };
	if (d > 4)
		*e = e1, *j = 0;
	else if (r > 0)
		*e = e1, *j = plus_j[d];
	else
		*e = e1 - 1, *j = minus_j[d];
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

/* E of float32 values: the binade of the largest rounded magnitude, less 17.
 * *any is false for a tensor of zeros. */
static int e_of_f32(const struct rf8_job *job, const float *x, size_t n, int *E, bool *any)
{
	float floor = (float)job->floor;
	uint32_t max = 0;
	int e_max = INT32_MIN, j_max = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u = floored_bits(x[i], floor);
		if (u >= 0x7f800000)
			return not_finite(job, i, x[i]);
		if (u > max)
			max = u;
		if (job->rounding == GGPACK_ROUND_PAPER && u) {
			int e, j;
			if (u >= 0x800000)
				paper_digits_f32(u, &e, &j);
			else
				paper_digits_f64(fabs((double)x[i]), &e, &j);
			if (e > e_max || (e == e_max && j > j_max))
				e_max = e, j_max = j;
		}
	}
	*any = max != 0;
	if (job->rounding == GGPACK_ROUND_NEAREST && max) {
		float fm;
		memcpy(&fm, &max, 4);
		e_max = nearest_binade(fm);
	}
	*E = *any ? e_max - (RF8_BINADES - 1) : 0;
	return 0;
}

static inline uint8_t code_f32(float x, float floor, int E, enum ggpack_rounding rounding)
{
	uint32_t u = floored_bits(x, floor);
	int k;
	if (!u)
		return 0;
	if (u < 0x800000) { /* subnormal: the exact slow path */
		double a = fabs((double)x);
		int ex;
		double m = 2 * frexp(a, &ex);
		if (rounding == GGPACK_ROUND_PAPER) {
			int e, j;
			paper_digits_f64(a, &e, &j);
			k = paper_k(e, j, E);
		} else {
			double f32 = (m - 1) * 32;
			uint32_t t = (uint32_t)f32;
			k = nearest_k(ex - 1 - E, t, f32 != t, m != 1);
		}
	} else if (rounding == GGPACK_ROUND_PAPER) {
		int e, j;
		paper_digits_f32(u, &e, &j);
		k = paper_k(e, j, E);
	} else {
		uint32_t frac = u & 0x7fffff;
		k = nearest_k((int)(u >> 23) - 127 - E, frac >> 18, frac & 0x3ffff, frac != 0);
	}
	return (uint8_t)(k ? k | (x < 0 ? 0x80 : 0) : 0);
}

static int encode_f32(const struct rf8_job *job, const float *x, size_t n, uint8_t *codes, int *E_out)
{
	int E = 0;
	bool any = false;
	int rc = e_of_f32(job, x, n, &E, &any);
	if (rc)
		return rc;
	float floor = (float)job->floor;
	if (!any)
		memset(codes, 0, n);
	else if (job->rounding == GGPACK_ROUND_NEAREST)
		for (size_t i = 0; i < n; i++)
			codes[i] = code_f32(x[i], floor, E, GGPACK_ROUND_NEAREST);
	else
		for (size_t i = 0; i < n; i++)
			codes[i] = code_f32(x[i], floor, E, GGPACK_ROUND_PAPER);
	*E_out = E;
	return 0;
}

/* ---- encoding float64 ------------------------------------------------------ */

static int code_f64(double x, double floor, int E, enum ggpack_rounding rounding)
{
	double a = fabs(x);
	int k, e, j, ex;
	if (a == 0 || a < floor)
		return 0;
	if (rounding == GGPACK_ROUND_PAPER) {
		paper_digits_f64(a, &e, &j);
		k = paper_k(e, j, E);
	} else {
		double m = 2 * frexp(a, &ex), f32 = (m - 1) * 32; /* both exact */
		uint32_t t = (uint32_t)f32;
		k = nearest_k(ex - 1 - E, t, f32 != t, m != 1);
	}
	return k ? k | (x < 0 ? 0x80 : 0) : 0;
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

/* float16 and bfloat16 widen exactly to float32. */
static float *widen_16(int dtype, const uint16_t *x, size_t n)
{
	float *w = malloc(n ? n * sizeof *w : 1);
	for (size_t i = 0; w && i < n; i++)
		w[i] = dtype == GGPACK_DTYPE_BFLOAT16 ? tensor_bf16_to_f32(x[i]) : tensor_f16_to_f32(x[i]);
	return w;
}

int ggpack_rf8_encode(struct ggpack_ctx *ctx, const char *name, int dtype, const void *values,
		      size_t n, enum ggpack_rounding rounding, double floor, uint8_t *codes, int *E)
{
	pthread_once(&rf8_once, nearest_init);
	struct rf8_job job = { ctx, name, rounding, floor > 0 ? floor : 0 };
	if (rounding != GGPACK_ROUND_NEAREST && rounding != GGPACK_ROUND_PAPER)
		return ctx_fail(ctx, GGPACK_E_USAGE, "unknown RF8 rounding %d", (int)rounding);
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
		int rc = encode_f32(&job, w, n, codes, E);
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
