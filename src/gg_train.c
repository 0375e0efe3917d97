/*
 * gg_train.c - the training-time pieces (ALGORITHMS.md): a seeded PRNG of
 * our own (xoshiro256**, so a seed gives the same stream everywhere), GG
 * sampling by |X| = alpha G^(1/nu) with G ~ Gamma(1/nu, 1), the GG
 * initialization scale for a fan-in, and one BackSlash step.
 */
#include <math.h>

#include "internal.h"

static uint64_t rotl(uint64_t x, int k)
{
	return x << k | x >> (64 - k);
}

void ggpack_rng_seed(struct ggpack_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) { /* splitmix64 spreads the seed over the state */
		uint64_t z = (seed += 0x9e3779b97f4a7c15u);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		r->s[i] = z ^ (z >> 31);
	}
}

uint64_t ggpack_rng_next(struct ggpack_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double ggpack_rng_uniform(struct ggpack_rng *r)
{
	return ((double)(ggpack_rng_next(r) >> 11) + 0.5) * 0x1p-53; /* never 0 or 1 */
}

/* A standard normal (Marsaglia's polar method: no trigonometry). */
static double normal(struct ggpack_rng *r)
{
	double u, v, s;
	do {
		u = 2 * ggpack_rng_uniform(r) - 1;
		v = 2 * ggpack_rng_uniform(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	return u * sqrt(-2 * log(s) / s);
}

/* Gamma(a, 1): Marsaglia and Tsang for a >= 1; for a < 1, Gamma(a + 1)
 * U^(1/a), the usual boost (GG shapes above 1 give a = 1/nu < 1). */
static double gamma_sample(struct ggpack_rng *r, double a)
{
	if (a < 1)
		return gamma_sample(r, a + 1) * pow(ggpack_rng_uniform(r), 1 / a);
	double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x = normal(r), v = 1 + c * x;
		if (v <= 0)
			continue;
		v = v * v * v;
		double u = ggpack_rng_uniform(r);
		if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

double ggpack_gg_sample(struct ggpack_rng *r, double shape, double scale)
{
	double m = scale * pow(gamma_sample(r, 1 / shape), 1 / shape);
	return ggpack_rng_next(r) >> 63 ? -m : m;
}

int ggpack_gg_fill(struct ggpack_rng *r, float *dst, size_t n, double shape, double scale)
{
	if (!(shape > 0) || !(scale >= 0) || !isfinite(shape) || !isfinite(scale))
		return GGPACK_E_USAGE;
	for (size_t i = 0; i < n; i++)
		dst[i] = (float)ggpack_gg_sample(r, shape, scale);
	return 0;
}

double ggpack_gg_init_scale(double shape, double xi, double fan_in)
{
	return sqrt(xi / fan_in * exp(lgamma(1 / shape) - lgamma(3 / shape)));
}

/* ---- BackSlash -------------------------------------------------------------- */

int ggpack_backslash_step(float *const *params, const size_t *lens, size_t n_parts, double lambda,
			  double eps, double *shape_out)
{
	struct ggpack_gg_sums s = { 0 };
	struct ggpack_gg g;
	if (!(lambda >= 0) || !(eps >= 0))
		return GGPACK_E_USAGE;
	for (size_t p = 0; p < n_parts; p++)
		ggpack_gg_sums_add_f32(&s, params[p], lens[p]);
	if (ggpack_gg_fit(&s, &g))
		return GGPACK_E_USAGE; /* no parameters, or all zero: no shape */
	if (shape_out)
		*shape_out = g.shape;
	if (lambda == 0)
		return 0;
	/* the gradient of lambda (1/N) sum (|t| + eps)^nu, one global nu */
	double k = lambda * g.shape / s.n, e = g.shape - 1;
	for (size_t p = 0; p < n_parts; p++)
		for (size_t i = 0; i < lens[p]; i++) {
			double t = params[p][i];
			double step = k * pow(fabs(t) + eps, e);
			params[p][i] = (float)(t > 0 ? t - step : t < 0 ? t + step : t);
		}
	return 0;
}
