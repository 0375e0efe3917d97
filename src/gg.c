/*
 * gg.c - generalized-Gaussian statistics: the rho(nu) table, computed once
 * with lgamma rather than typed in, and the shape fit by the nearest rho
 * (ALGORITHMS.md, "Shape estimation").
 */
#include <math.h>
#include <pthread.h>

#include "internal.h"

static double rho_table[GGPACK_GG_TABLE_SIZE];
static pthread_once_t rho_once = PTHREAD_ONCE_INIT;

static double table_shape(size_t i)
{
	return (double)(10 + i) / 100.0; /* not 0.10 + 0.01 i: no accumulated error */
}

static double rho_of(double nu)
{
	return exp(lgamma(1 / nu) + lgamma(3 / nu) - 2 * lgamma(2 / nu));
}

static void rho_init(void)
{
	for (size_t i = 0; i < GGPACK_GG_TABLE_SIZE; i++)
		rho_table[i] = rho_of(table_shape(i));
}

double ggpack_gg_rho(size_t i)
{
	pthread_once(&rho_once, rho_init);
	return i < GGPACK_GG_TABLE_SIZE ? rho_table[i] : NAN;
}

/* Eight independent accumulators: the compiler can keep them in vector
 * registers without reassociating anything (two AVX2 vectors each in the
 * clone: the same additions in the same order), and the order of additions
 * is fixed, so the sums do not depend on who calls. */
#define SUMS_BODY(x, n)                                                              \
	double a[8] = { 0 }, b[8] = { 0 }, c[8] = { 0 };                             \
	size_t i = 0;                                                                \
	for (; i + 8 <= (n); i += 8)                                                 \
		for (int k = 0; k < 8; k++) {                                        \
			double v = (double)(x)[i + k];                               \
			a[k] += v;                                                   \
			b[k] += fabs(v);                                             \
			c[k] += v * v;                                               \
		}                                                                    \
	for (; i < (n); i++) {                                                       \
		double v = (double)(x)[i];                                           \
		a[0] += v;                                                           \
		b[0] += fabs(v);                                                     \
		c[0] += v * v;                                                       \
	}                                                                            \
	for (int k = 0; k < 8; k++) {                                                \
		s->sum += a[k];                                                      \
		s->sum_abs += b[k];                                                  \
		s->sum_sq += c[k];                                                   \
	}                                                                            \
	s->n += (double)(n);

SIMD_CLONES
void ggpack_gg_sums_add_f32(struct ggpack_gg_sums *s, const float *x, size_t n)
{
	SUMS_BODY(x, n)
}

void ggpack_gg_sums_add_f64(struct ggpack_gg_sums *s, const double *x, size_t n)
{
	SUMS_BODY(x, n)
}

/* The table index whose rho is nearest to r; rho decreases with nu. */
static size_t nearest_shape(double r, double *interp)
{
	size_t lo = 0, hi = GGPACK_GG_TABLE_SIZE - 1;
	if (r >= rho_table[lo]) {
		*interp = table_shape(lo);
		return lo;
	}
	if (r <= rho_table[hi]) {
		*interp = table_shape(hi);
		return hi;
	}
	while (hi - lo > 1) { /* rho_table[lo] > r > rho_table[hi] */
		size_t mid = (lo + hi) / 2;
		if (rho_table[mid] > r)
			lo = mid;
		else
			hi = mid;
	}
	double t = (rho_table[lo] - r) / (rho_table[lo] - rho_table[hi]);
	*interp = table_shape(lo) + 0.01 * t;
	/* a tie goes to the smaller shape */
	return rho_table[lo] - r <= r - rho_table[hi] ? lo : hi;
}

int ggpack_gg_fit(const struct ggpack_gg_sums *s, struct ggpack_gg *out)
{
	pthread_once(&rho_once, rho_init);
	if (!(s->n > 0) || !(s->sum_abs > 0))
		return GGPACK_E_USAGE;
	struct ggpack_gg g;
	g.n = s->n;
	g.rho = s->n * s->sum_sq / (s->sum_abs * s->sum_abs);
	g.shape = table_shape(nearest_shape(g.rho, &g.shape_interp));
	g.std = sqrt(s->sum_sq / s->n);
	g.scale = exp(0.5 * (lgamma(1 / g.shape) - lgamma(3 / g.shape))) * g.std;
	g.mean = s->sum / s->n;
	*out = g;
	return 0;
}
