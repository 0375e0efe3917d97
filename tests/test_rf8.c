/*
 * test_rf8.c - the rho table and the GG fit, and RF8 against RF8.md: every
 * code's value, nearest rounding against a brute-force search written here,
 * paper rounding against its formula, the tie rules, zeros and NaN.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const double M[7] = { 1, 17.0 / 16, 9.0 / 8, 5.0 / 4, 3.0 / 2, 7.0 / 4, 15.0 / 8 };

START_TEST(rho_table_meets_the_anchors)
{
	ck_assert_double_eq_tol(ggpack_gg_rho(0), 216.8266, 5e-5);   /* nu 0.10 */
	ck_assert_double_eq_tol(ggpack_gg_rho(40), 3.333333, 5e-7);  /* nu 0.50 */
	ck_assert_double_eq_tol(ggpack_gg_rho(90), 2.0, 1e-12);      /* nu 1.00 */
	ck_assert_double_eq_tol(ggpack_gg_rho(190), M_PI / 2, 1e-12); /* nu 2.00 */
	ck_assert_double_eq_tol(ggpack_gg_rho(289), 1.4616656, 5e-8); /* nu 2.99 */
	ck_assert(isnan(ggpack_gg_rho(290)));
	for (size_t i = 1; i < GGPACK_GG_TABLE_SIZE; i++)
		ck_assert(ggpack_gg_rho(i) < ggpack_gg_rho(i - 1));
}
END_TEST

/* ---- a GG sampler for the tests: splitmix64, Marsaglia-Tsang gamma ---- */
static uint64_t seed;
static double uni(void)
{
	uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return ((double)((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void)
{
	return sqrt(-2 * log(uni())) * cos(2 * M_PI * uni());
}
static double gamma_draw(double a)
{
	if (a < 1)
		return gamma_draw(a + 1) * pow(uni(), 1 / a);
	double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x = normal(), v = pow(1 + c * x, 3);
		if (v > 0 && log(uni()) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}
static double gg_draw(double nu)
{
	double m = pow(gamma_draw(1 / nu), 1 / nu);
	return uni() < 0.5 ? -m : m;
}

START_TEST(fit_finds_the_shape_of_gg_samples)
{
	const double shapes[] = { 0.5, 1.0, 2.0 };
	size_t n = 1000000;
	float *x = malloc(n * sizeof *x);
	for (size_t s = 0; s < 3; s++) {
		seed = 42 + s;
		for (size_t i = 0; i < n; i++)
			x[i] = (float)(0.01 * gg_draw(shapes[s]));
		struct ggpack_gg_sums sums = { 0 };
		struct ggpack_gg g;
		ggpack_gg_sums_add_f32(&sums, x, n);
		ck_assert_int_eq(ggpack_gg_fit(&sums, &g), 0);
		ck_assert_msg(fabs(g.shape - shapes[s]) <= 0.05, "nu %g fitted as %g", shapes[s], g.shape);
		ck_assert_double_eq_tol(g.scale, 0.01, 0.01 * 0.1); /* the scale drawn */
	}
	free(x);
}
END_TEST

START_TEST(fit_clamps_to_the_ends_of_the_table_and_refuses_zeros)
{
	double spike[1000] = { 0 }, flat[8] = { 1, -1, 1, -1, 1, -1, 1, -1 };
	struct ggpack_gg_sums s = { 0 };
	struct ggpack_gg g;
	spike[7] = 3;
	ggpack_gg_sums_add_f64(&s, spike, 1000); /* rho-hat = 1000 > rho(0.1) */
	ck_assert_int_eq(ggpack_gg_fit(&s, &g), 0);
	ck_assert_double_eq(g.shape, 0.10);
	memset(&s, 0, sizeof s);
	ggpack_gg_sums_add_f64(&s, flat, 8);     /* rho-hat = 1 < rho(2.99) */
	ck_assert_int_eq(ggpack_gg_fit(&s, &g), 0);
	ck_assert_double_eq(g.shape, 2.99);
	ck_assert_double_eq(g.std, 1);
	ck_assert_double_eq(g.mean, 0);
	memset(&s, 0, sizeof s);
	ggpack_gg_sums_add_f64(&s, spike, 7);
	ck_assert_int_eq(ggpack_gg_fit(&s, &g), GGPACK_E_USAGE);
}
END_TEST

START_TEST(every_code_decodes_to_its_value)
{
	const int Es[] = { -40, -20, -14, 0, 3 };
	for (size_t e = 0; e < 5; e++) {
		float t32[256];
		double t64[256];
		uint16_t t16[256], tb[256];
		ck_assert_int_eq(ggpack_rf8_table(Es[e], GGPACK_DTYPE_FLOAT, t32), 0);
		ck_assert_int_eq(ggpack_rf8_table(Es[e], GGPACK_DTYPE_DOUBLE, t64), 0);
		ck_assert_int_eq(ggpack_rf8_table(Es[e], GGPACK_DTYPE_BFLOAT16, tb), 0);
		ck_assert_int_eq(ggpack_rf8_table(Es[e], GGPACK_DTYPE_FLOAT16, t16), 0);
		for (int c = 0; c < 256; c++) {
			int k = c & 127;
			double want = k == 0 ? 0 : M[(k - 1) % 7] * ldexp(1, Es[e] + (k - 1) / 7);
			if (c & 0x80)
				want = -want;
			if (k == 127) {
				ck_assert(isnan(ggpack_rf8_decode((uint8_t)c, Es[e])));
				want = 0;
			} else {
				ck_assert_double_eq(ggpack_rf8_decode((uint8_t)c, Es[e]), want);
			}
			ck_assert_double_eq(t64[c], want);
			ck_assert_float_eq(t32[c], (float)want);
			uint32_t u = (uint32_t)tb[c] << 16;
			float bf;
			memcpy(&bf, &u, 4);
			ck_assert_float_eq(bf, (float)want);
			if (Es[e] == -14) { /* the whole window is normal halves: exact */
				double h = ((t16[c] >> 10 & 31) ? ldexp((t16[c] & 1023) | 1024, (t16[c] >> 10 & 31) - 25)
								: ldexp(t16[c] & 1023, -24));
				ck_assert_double_eq(t16[c] & 0x8000 ? -h : h, want);
			}
		}
	}
	ck_assert_double_eq(ggpack_rf8_decode(0x80, 0), 0); /* decodes to zero */
}
END_TEST

/* ---- brute force: the nearest of the 254 window values and 0 ---------- */

static double value_of(int k, int E)
{
	return k == 0 ? 0 : M[(k - 1) % 7] * ldexp(1, E + (k - 1) / 7);
}

static int brute_nearest_k(double a, int E)
{
	int best = 0;
	double bd = a;
	for (int k = 1; k <= 126; k++) {
		double d = fabs(a - value_of(k, E));
		if (d < bd || (d == bd && !(k & 1)))
			best = k, bd = d;
	}
	return best;
}

/* E from the max: nearest value in the unbounded set, a tie away from 0. */
static int brute_E(const double *a, size_t n)
{
	double max = 0;
	for (size_t i = 0; i < n; i++)
		max = fmax(max, fabs(a[i]));
	if (max == 0)
		return 0;
	int ex;
	frexp(max, &ex);
	double best = 0, bd = INFINITY;
	for (int e = ex - 2; e <= ex; e++)
		for (int j = 0; j < 7; j++) {
			double v = M[j] * ldexp(1, e), d = fabs(max - v);
			if (d < bd || (d == bd && v > best))
				best = v, bd = d;
		}
	frexp(best, &ex);
	return ex - 1 - 17;
}

static void check_nearest(const float *x, size_t n, const char *what)
{
	double *a = malloc(n * sizeof *a);
	uint8_t *codes = malloc(n);
	int E = 12345;
	for (size_t i = 0; i < n; i++)
		a[i] = x[i];
	ck_assert_int_eq(ggpack_rf8_encode(NULL, what, GGPACK_DTYPE_FLOAT, x, n, GGPACK_ROUND_NEAREST, 0, codes, &E), 0);
	ck_assert_int_eq(E, brute_E(a, n));
	for (size_t i = 0; i < n; i++) {
		int k = brute_nearest_k(fabs(a[i]), E);
		int want = k ? k | (a[i] < 0 ? 0x80 : 0) : 0;
		ck_assert_msg(codes[i] == want, "%s: %a -> %#x, brute force %#x (E %d)", what, a[i], codes[i], want, E);
	}
	free(a);
	free(codes);
}

START_TEST(nearest_agrees_with_brute_force_on_every_float16)
{
	float all[65536], group[1024];
	size_t n = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		if ((h & 0x7c00) == 0x7c00)
			continue; /* inf and NaN */
		all[n++] = tensor_f16_to_f32((uint16_t)h);
	}
	check_nearest(all, n, "every float16");
	/* one tensor per exponent field, so each value lies in its window */
	for (uint32_t e = 0; e < 31; e++) {
		for (uint32_t m = 0; m < 1024; m++)
			group[m] = tensor_f16_to_f32((uint16_t)(e << 10 | m | (m & 1) << 15));
		check_nearest(group, 1024, "float16 binade");
	}
}
END_TEST

static float random_float(int emin, int emax)
{
	uint64_t r = (uint64_t)(uni() * 18446744073709551615.0);
	uint32_t ex = (uint32_t)(127 + emin + (int)(uni() * (emax - emin + 1)));
	uint32_t u = (uint32_t)(r & 0x7fffff) | ex << 23 | (uint32_t)(r >> 40 & 1) << 31;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

START_TEST(nearest_agrees_with_brute_force_on_random_float32)
{
	size_t n = 1000000, chunk = 1000;
	float *x = malloc(n * sizeof *x);
	seed = 7;
	for (size_t i = 0; i < n; i++)
		x[i] = random_float(-30, 5);
	for (size_t i = 0; i < n; i += chunk) /* windows of many sizes */
		check_nearest(x + i, chunk, "random float32");
	free(x);
}
END_TEST

/* The paper's rule as RF8.md words it, in double precision. */
static double paper_value(double w)
{
	double e1 = rint(log2(fabs(w))), d1 = copysign(ldexp(1, (int)e1), w), r = w - d1;
	if (r == 0)
		return d1;
	double e2 = rint(log2(fabs(r)));
	return e1 - e2 <= 4 ? d1 + copysign(ldexp(1, (int)e2), r) : d1;
}

static int code_of_value(double v, int E)
{
	for (int k = 1; k <= 126; k++)
		if (value_of(k, E) == fabs(v))
			return k | (v < 0 ? 0x80 : 0);
	return 0; /* under the window */
}

START_TEST(paper_rounding_agrees_with_its_formula)
{
	size_t n = 1000000, chunk = 1000;
	float *x = malloc(n * sizeof *x);
	uint8_t *codes = malloc(chunk);
	seed = 11;
	for (size_t i = 0; i < n; i++)
		x[i] = random_float(-30, 5);
	/* every mantissa near sqrt 2, where rint(log2 x) turns, and near the
	 * seven points where the rule's value changes */
	for (uint32_t u = 0x3fb504e0; u < 0x3fb50500; u++)
		memcpy(&x[u - 0x3fb504e0], &u, 4);
	const double points[7] = { 1 + 0x1p-4 * M_SQRT1_2, 1 + 0x1p-3 * M_SQRT1_2, 1 + 0x1p-2 * M_SQRT1_2,
				   1 + 0x1p-1 * M_SQRT1_2, 2 - 0x1p-1 * M_SQRT1_2, 2 - 0x1p-2 * M_SQRT1_2,
				   2 - 0x1p-3 * M_SQRT1_2 };
	for (int i = 0; i < 7; i++) {
		float m = (float)points[i];
		uint32_t u;
		memcpy(&u, &m, 4);
		for (uint32_t k = 0; k < 64; k++) {
			uint32_t v = u - 32 + k;
			memcpy(&x[100 + 64 * i + k], &v, 4);
		}
	}
	for (size_t i = 0; i < n; i += chunk) {
		int E;
		double max = 0;
		ck_assert_int_eq(ggpack_rf8_encode(NULL, "p", GGPACK_DTYPE_FLOAT, x + i, chunk, GGPACK_ROUND_PAPER, 0,
						   codes, &E), 0);
		for (size_t k = 0; k < chunk; k++)
			max = fmax(max, fabs(paper_value(x[i + k])));
		int ex;
		frexp(max, &ex);
		ck_assert_int_eq(E, ex - 1 - 17);
		for (size_t k = 0; k < chunk; k++)
			ck_assert_msg(codes[k] == code_of_value(paper_value(x[i + k]), E), "%a: %#x, formula %#x",
				      (double)x[i + k], codes[k], code_of_value(paper_value(x[i + k]), E));
	}
	free(x);
	free(codes);
}
END_TEST

START_TEST(ties_go_to_the_even_code_and_the_top_rounds_up)
{
	uint8_t c[4];
	int E;
	/* max 31/16: halfway between 15/8 and 2, so E = -17 + 1 and it encodes as 2 */
	float top[2] = { 31.0f / 16, 33.0f / 32 };
	ck_assert_int_eq(ggpack_rf8_encode(NULL, "t", GGPACK_DTYPE_FLOAT, top, 2, GGPACK_ROUND_NEAREST, 0, c, &E), 0);
	ck_assert_int_eq(E, -16);
	ck_assert_int_eq(c[0], 1 + 7 * 17);          /* 2 = 2^(E+17), even */
	ck_assert_double_eq(ggpack_rf8_decode(c[0], E), 2.0);
	/* 33/32 halfway between 1 (k = 1+7*16 = 113) and 17/16 (114): 114 is even */
	ck_assert_int_eq(c[1], 114);
	/* half the smallest magnitude is a tie with zero, which is even */
	float low[3] = { 1.0f, 0x1p-18f, 0x1.000002p-18f };
	ck_assert_int_eq(ggpack_rf8_encode(NULL, "t", GGPACK_DTYPE_FLOAT, low, 3, GGPACK_ROUND_NEAREST, 0, c, &E), 0);
	ck_assert_int_eq(E, -17);
	ck_assert_int_eq(c[1], 0);
	ck_assert_int_eq(c[2], 1);
}
END_TEST

START_TEST(zeros_and_non_finite_values)
{
	float zeros[5] = { 0, -0.0f, 0, 0, 0 }, bad[3] = { 1, NAN, 2 };
	double inf[2] = { 1, -INFINITY };
	uint8_t c[5] = { 9, 9, 9, 9, 9 };
	int E = 99;
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	ck_assert_int_eq(ggpack_rf8_encode(ctx, "z", GGPACK_DTYPE_FLOAT, zeros, 5, GGPACK_ROUND_NEAREST, 0, c, &E), 0);
	ck_assert_int_eq(E, 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(c[i], 0);
	E = 99;
	ck_assert_int_eq(ggpack_rf8_encode(ctx, "layer.w", GGPACK_DTYPE_FLOAT, bad, 3, GGPACK_ROUND_NEAREST, 0, c, &E),
			 GGPACK_E_INVALID);
	ck_assert_int_eq(E, 99);
	ck_assert_msg(strstr(ggpack_ctx_message(ctx), "'layer.w'") && strstr(ggpack_ctx_message(ctx), "element 1 is NaN"),
		      "%s", ggpack_ctx_message(ctx));
	ck_assert_int_eq(ggpack_rf8_encode(ctx, "d", GGPACK_DTYPE_DOUBLE, inf, 2, GGPACK_ROUND_PAPER, 0, c, &E),
			 GGPACK_E_INVALID);
	ck_assert_ptr_nonnull(strstr(ggpack_ctx_message(ctx), "element 1 is infinite"));
	ck_assert_int_eq(ggpack_rf8_encode(ctx, "i", GGPACK_DTYPE_INT8, inf, 2, GGPACK_ROUND_PAPER, 0, c, &E),
			 GGPACK_E_USAGE);
	ggpack_ctx_free(ctx);
}
END_TEST

START_TEST(every_dtype_encodes_like_float32)
{
	float f[6] = { 0.3f, -0.0071f, 1.5f, 0.11f, -2.25f, 0 };
	double d[6];
	uint16_t h[6], b[6];
	uint8_t cf[6], cd[6], ch[6], cb[6];
	int ef, ed, eh, eb;
	for (int i = 0; i < 6; i++) {
		h[i] = tensor_f16_from_f64(f[i]);
		b[i] = tensor_bf16_from_f64(f[i]);
	}
	for (int r = 0; r < 2; r++) {
		for (int i = 0; i < 6; i++)
			f[i] = tensor_f16_to_f32(h[i]), d[i] = f[i];
		ggpack_rf8_encode(NULL, "f", GGPACK_DTYPE_FLOAT, f, 6, r, 0, cf, &ef);
		ggpack_rf8_encode(NULL, "d", GGPACK_DTYPE_DOUBLE, d, 6, r, 0, cd, &ed);
		ggpack_rf8_encode(NULL, "h", GGPACK_DTYPE_FLOAT16, h, 6, r, 0, ch, &eh);
		ck_assert_mem_eq(cf, cd, 6);
		ck_assert_mem_eq(cf, ch, 6);
		ck_assert_int_eq(ef, ed);
		ck_assert_int_eq(ef, eh);
		for (int i = 0; i < 6; i++)
			f[i] = tensor_bf16_to_f32(b[i]);
		ggpack_rf8_encode(NULL, "f", GGPACK_DTYPE_FLOAT, f, 6, r, 0, cf, &ef);
		ggpack_rf8_encode(NULL, "b", GGPACK_DTYPE_BFLOAT16, b, 6, r, 0, cb, &eb);
		ck_assert_mem_eq(cf, cb, 6);
		ck_assert_int_eq(ef, eb);
	}
}
END_TEST

START_TEST(float64_nearest_agrees_with_brute_force)
{
	/* doubles carry bits under float32's mantissa: "the rest is not zero" */
	size_t n = 1000;
	double *x = malloc(n * sizeof *x);
	uint8_t *codes = malloc(n);
	seed = 17;
	for (size_t r = 0; r < 100; r++) {
		for (size_t i = 0; i < n; i++)
			x[i] = ldexp(1 + uni(), (int)(uni() * 40) - 30) * (uni() < 0.5 ? -1 : 1);
		int E;
		ck_assert_int_eq(ggpack_rf8_encode(NULL, "d", GGPACK_DTYPE_DOUBLE, x, n, GGPACK_ROUND_NEAREST, 0, codes, &E), 0);
		ck_assert_int_eq(E, brute_E(x, n));
		for (size_t i = 0; i < n; i++) {
			int k = brute_nearest_k(fabs(x[i]), E);
			ck_assert_int_eq(codes[i], k ? k | (x[i] < 0 ? 0x80 : 0) : 0);
		}
	}
	free(x);
	free(codes);
}
END_TEST

START_TEST(codes_do_not_depend_on_the_thread_count)
{
	size_t n = 5 * ((size_t)1 << 18) + 123; /* several chunks and a tail */
	float *x = malloc(n * sizeof *x);
	uint8_t *a = malloc(n), *b = malloc(n);
	seed = 3;
	for (size_t i = 0; i < n; i++)
		x[i] = random_float(-40, 2);
	x[n / 2] = 0x1p-140f; /* a subnormal in one chunk */
	for (int r = 0; r < 2; r++) {
		int ea, eb;
		ggpack_set_threads(1);
		ck_assert_int_eq(ggpack_rf8_encode(NULL, "t", GGPACK_DTYPE_FLOAT, x, n, r, 0, a, &ea), 0);
		ggpack_set_threads(2);
		ck_assert_int_eq(ggpack_rf8_encode(NULL, "t", GGPACK_DTYPE_FLOAT, x, n, r, 0, b, &eb), 0);
		ck_assert_int_eq(ea, eb);
		ck_assert_mem_eq(a, b, n);
	}
	ggpack_set_threads(0);
	free(x);
	free(a);
	free(b);
}
END_TEST

/* Every one of the 65,536 halves converts to the float of its definition:
 * (-1)^s 2^(e-15) (1 + f/1024), subnormals f 2^-24, infinities and NaN. */
START_TEST(every_half_converts_exactly)
{
	for (uint32_t h = 0; h < 65536; h++) {
		int e = (h >> 10) & 0x1f, f = h & 0x3ff;
		double want = e == 0 ? ldexp(f, -24) : e == 31 ? (f ? NAN : INFINITY) : ldexp(f | 0x400, e - 25);
		want = h & 0x8000 ? -want : want;
		float got = tensor_f16_to_f32((uint16_t)h);
		if (isnan(want))
			ck_assert_msg(isnan(got), "half 0x%04x: %g, want NaN", h, (double)got);
		else
			ck_assert_msg((double)got == want && !signbit(got) == !signbit(want), "half 0x%04x: %g, want %g",
				      h, (double)got, want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rf8");
	TCase *tc = tcase_create("rf8");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, rho_table_meets_the_anchors);
	tcase_add_test(tc, fit_finds_the_shape_of_gg_samples);
	tcase_add_test(tc, fit_clamps_to_the_ends_of_the_table_and_refuses_zeros);
	tcase_add_test(tc, every_code_decodes_to_its_value);
	tcase_add_test(tc, nearest_agrees_with_brute_force_on_every_float16);
	tcase_add_test(tc, nearest_agrees_with_brute_force_on_random_float32);
	tcase_add_test(tc, paper_rounding_agrees_with_its_formula);
	tcase_add_test(tc, ties_go_to_the_even_code_and_the_top_rounds_up);
	tcase_add_test(tc, zeros_and_non_finite_values);
	tcase_add_test(tc, every_dtype_encodes_like_float32);
	tcase_add_test(tc, codes_do_not_depend_on_the_thread_count);
	tcase_add_test(tc, float64_nearest_agrees_with_brute_force);
	tcase_add_test(tc, every_half_converts_exactly);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
