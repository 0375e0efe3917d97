/*
 * test_deepshape.c - DeepShape against expected values computed by an
 * independent reference of the spec (tests/ref/deepshape_ref.py), against a
 * literal full-sort implementation written here on vectors full of ties,
 * and the tensor-scope rule on GG samples of many sizes; and the plan
 * convert uses for scope model (passes over a source, then part by part)
 * against the same vectors in memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/deepshape.h" /* the plan: internal to the library */
#include "testutil.h"

START_TEST(model_scope_gives_the_reference_result_exactly)
{
	/* deepshape_ref.py 0 1 0.8 0.6 <x>: P 2, mu_q 0, nu 1.4, nu' 1.12 */
	float x[] = { 0.2f, -0.3f, 0.1f, 0.0f, 1.2f, -1.1f, 0.9f, -0.8f, 2.0f, -2.0f,
		      0.4f, 5.0f, 0.3f, -0.1f, 0.05f, 0.7f, -0.6f, 1.4f, -1.6f, 0.25f };
	const float want[] = { 0, 0, 0, 0, 1, 0, 1, 0, 2, -1, 0, 5, 0, 0, 0, 0, 0, 1, -1, 0 };
	struct ggpack_deepshape_params p = { 0, 1, 0.8, 0.6 };
	struct ggpack_deepshape_result r;
	float *part = x;
	size_t n = 20;
	ck_assert_int_eq(ggpack_deepshape(NULL, &part, &n, 1, &p, &r), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_msg(x[i] == want[i], "x[%d] = %g, want %g", i, x[i], want[i]);
	ck_assert_int_eq(r.P, 2);
	ck_assert_int_eq(r.mu_q, 0);
	ck_assert_double_eq(r.before.shape, 1.4);
	ck_assert_double_eq_tol(r.shape_after, 1.12, 1e-12);
	ck_assert_uint_eq(r.in_range, 19);
	/* counts floor(19 w(L) / sum w): 2, 13, 2; the two ranks left over (1.4 and
	 * 2.0) keep their levels */
	ck_assert_uint_eq(r.reassigned, 17);
}
END_TEST

/* ---- the spec, literally: full sort by (value, position) ---------------- */

static const float *ref_x;
static int cmp_value_then_position(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	if (ref_x[i] != ref_x[j])
		return ref_x[i] < ref_x[j] ? -1 : 1;
	return (i > j) - (i < j);
}

static void reference(float *x, size_t n, const struct ggpack_deepshape_params *p)
{
	double d = ldexp(1, -p->grid);
	int64_t *q = malloc(n * sizeof *q), P = INT64_MIN, qmax = INT64_MIN;
	for (size_t i = 0; i < n; i++)
		q[i] = (int64_t)rint(x[i] / d), qmax = q[i] > qmax ? q[i] : qmax;
	for (size_t i = 0; i < n; i++) { /* smallest positive level seen <= min_count times */
		size_t c = 0;
		for (size_t j = 0; j < n; j++)
			c += q[j] == q[i];
		if (q[i] > 0 && c <= p->min_count && (P == INT64_MIN || q[i] < P))
			P = q[i];
	}
	if (P == INT64_MIN)
		P = qmax;
	struct ggpack_gg_sums s = { 0 };
	for (size_t i = 0; i < n; i++)
		if (fabs((double)x[i]) <= (double)P * d) {
			double v = x[i];
			ggpack_gg_sums_add_f64(&s, &v, 1);
		}
	struct ggpack_gg g;
	ck_assert_int_eq(ggpack_gg_fit(&s, &g), 0);
	int64_t mq = (int64_t)trunc(g.mean / d);
	double nu = p->shape_scale * g.shape, b = p->std_scale * g.scale / d, sum = 0;
	for (int64_t L = mq - P; L <= mq + P; L++)
		sum += exp(-pow(fabs((double)(L - mq)) / b, nu));
	size_t *order = malloc(n * sizeof *order), N = 0, k = 0;
	for (size_t i = 0; i < n; i++)
		if (q[i] >= mq - P && q[i] <= mq + P)
			order[N++] = i;
	ref_x = x;
	qsort(order, N, sizeof *order, cmp_value_then_position);
	for (int64_t L = mq - P; L <= mq + P; L++)
		for (uint64_t c = (uint64_t)floor((double)N * exp(-pow(fabs((double)(L - mq)) / b, nu)) / sum); c--;)
			q[order[k++]] = L;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((double)q[i] * d);
	free(q);
	free(order);
}

static uint64_t seed = 1;
static double uni(void)
{
	seed = seed * 6364136223846793005ull + 1442695040888963407ull;
	return ((double)(seed >> 11) + 0.5) / 9007199254740992.0;
}

/* Laplace samples rounded to 1/512: many exact ties, within and across levels. */
static void laplace_ties(float *x, size_t n, double scale)
{
	for (size_t i = 0; i < n; i++) {
		double u = uni() - 0.5;
		x[i] = (float)(round(-scale * copysign(log(1 - 2 * fabs(u)), u) * 512) / 512);
	}
}

START_TEST(model_scope_equals_a_literal_full_sort)
{
	const struct ggpack_deepshape_params params[] = {
		{ 6, 20, 0.8, 0.6 }, { 8, 5, 0.8, 0.6 }, { 4, 100, 0.5, 0.9 }, { 7, 0, 1.0, 0.3 },
	};
	const size_t sizes[] = { 3000, 20000 };
	/* si 2 and 3: an outlier of 10^5 makes the levels too many for the
	 * sub-bins to be counted with them (the separate count pass runs);
	 * si 4 and 5: one at level 20000 leaves room for fewer sub-bins a
	 * level (and these small vectors take fewer still: 8 to 128 are all
	 * run); the Laplace values hold -0 and +0: equal values, tied by
	 * position */
	for (size_t pi = 0; pi < 4; pi++)
		for (size_t si = 0; si < 6; si++) {
			size_t n = sizes[si % 2];
			float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
			laplace_ties(x, n, 0.3);
			if (si >= 2)
				x[n / 3] = si < 4 ? 1e5f : ldexpf(20000, -params[pi].grid);
			memcpy(y, x, n * sizeof *x);
			reference(y, n, &params[pi]);
			struct ggpack_deepshape_result r;
			ck_assert_int_eq(ggpack_deepshape(NULL, &x, &n, 1, &params[pi], &r), 0);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(x[i] == y[i], "params %zu n %zu: x[%zu] = %g, reference %g", pi, n, i,
					      x[i], y[i]);
			free(x);
			free(y);
		}
}
END_TEST

/* Scope model in memory sizes its first count from a sample (in a vector
 * of one chunk, 2048 values at positions k (len / 2048 + 1)); values past
 * twice its largest are kept aside. These vectors put values where the
 * sample does not look (positions 1 mod 10 of 20000): kept aside
 * and out of range, kept aside but in range (min_count 0: P is the largest
 * level, so step 5 counts again), too many to keep (counted again from
 * the largest value), NaN and infinity (refused). */
static void equals_reference(float *x, size_t n, const struct ggpack_deepshape_params *p, const char *what)
{
	float *y = malloc(n * sizeof *y);
	memcpy(y, x, n * sizeof *x);
	reference(y, n, p);
	struct ggpack_deepshape_result r;
	ck_assert_int_eq(ggpack_deepshape(NULL, &x, &n, 1, p, &r), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(x[i] == y[i], "%s: x[%zu] = %g, reference %g", what, i, x[i], y[i]);
	free(y);
}

START_TEST(model_scope_outside_the_sampled_window)
{
	size_t n = 20000;
	float *x = malloc(n * sizeof *x), *px = x;
	struct ggpack_deepshape_params p = { 6, 20, 0.8, 0.6 }, p0 = { 6, 0, 0.8, 0.6 };
	struct ggpack_deepshape_result r;
	for (int in_range = 0; in_range < 2; in_range++) {
		laplace_ties(x, n, 0.3);
		for (size_t i = 1; i < n; i += 10 * 219) /* the lowest values and the highest, tied or not */
			x[i] = i / 10 / 219 % 2 ? (float)(40 + i / 4096) : -25.0f;
		equals_reference(x, n, in_range ? &p0 : &p, in_range ? "outside, in range" : "outside");
	}
	for (int in_range = 0; in_range < 2; in_range++) {
		laplace_ties(x, n, 0.3);
		for (size_t i = 0; i < n; i++) /* all but the sample: far out, many ties */
			if (i % 10)
				x[i] = (float)(i % 3 ? 20 + (double)(i % 97) / 16 : -30 - (double)(i % 89) / 8);
		equals_reference(x, n, in_range ? &p0 : &p, "too many outside");
	}
	const float bad[] = { NAN, INFINITY, -INFINITY };
	for (size_t k = 0; k < 3; k++) {
		laplace_ties(x, n, 0.3);
		x[1 + 10 * 555] = bad[k];
		ck_assert_int_eq(ggpack_deepshape(NULL, &px, &n, 1, &p, &r), GGPACK_E_INVALID);
	}
	free(x);
}
END_TEST

START_TEST(model_scope_does_not_depend_on_how_the_vector_is_cut)
{
	size_t n = 50000, lens[] = { 1, 20000, 0, 29999 };
	float *whole = malloc(n * sizeof *whole), *cut = malloc(n * sizeof *cut);
	laplace_ties(whole, n, 0.05);
	memcpy(cut, whole, n * sizeof *whole);
	struct ggpack_deepshape_params p;
	ggpack_deepshape_defaults(&p);
	p.min_count = 30;
	struct ggpack_deepshape_result a, b;
	float *parts[] = { cut, cut + 1, cut + 20001, cut + 20001 };
	ck_assert_int_eq(ggpack_deepshape(NULL, &whole, &n, 1, &p, &a), 0);
	ck_assert_int_eq(ggpack_deepshape(NULL, parts, lens, 4, &p, &b), 0);
	ck_assert_mem_eq(whole, cut, n * sizeof *whole);
	ck_assert_int_eq(a.P, b.P);
	ck_assert_uint_eq(a.reassigned, b.reassigned);
	ck_assert(a.reassigned > n / 2);
	free(whole);
	free(cut);
}
END_TEST

START_TEST(model_scope_does_not_depend_on_the_thread_count)
{
	/* several chunks of 2^18, values on a coarse grid: many ties at the
	 * thresholds, split across chunks */
	size_t n = 3 * ((size_t)1 << 18) + 1001;
	float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
	laplace_ties(x, n, 0.05);
	memcpy(y, x, n * sizeof *x);
	memcpy(z, x, n * sizeof *x);
	struct ggpack_deepshape_params p;
	struct ggpack_deepshape_result a, b, c;
	ggpack_deepshape_defaults(&p);
	ggpack_set_threads(1);
	ck_assert_int_eq(ggpack_deepshape(NULL, &x, &n, 1, &p, &a), 0);
	ggpack_set_threads(2);
	ck_assert_int_eq(ggpack_deepshape(NULL, &y, &n, 1, &p, &b), 0);
	ggpack_set_threads(3);
	ck_assert_int_eq(ggpack_deepshape(NULL, &z, &n, 1, &p, &c), 0);
	ggpack_set_threads(0);
	ck_assert_mem_eq(x, y, n * sizeof *x);
	ck_assert_mem_eq(x, z, n * sizeof *x);
	ck_assert_uint_eq(a.reassigned, b.reassigned);
	ck_assert_uint_eq(a.reassigned, c.reassigned);
	ck_assert(a.reassigned > n / 2);
	free(x);
	free(y);
	free(z);
}
END_TEST

static size_t distinct(const float *x, size_t n)
{
	float *s = malloc(n * sizeof *s);
	memcpy(s, x, n * sizeof *s);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) { /* small n: quadratic is fine */
		size_t j = 0;
		while (j < k && s[j] != x[i])
			j++;
		if (j == k)
			s[k++] = x[i];
	}
	free(s);
	return k;
}

START_TEST(tensor_scope_neither_collapses_nor_leaves_a_tensor_alone)
{
	const size_t sizes[] = { 256, 1000, 5000, 40000 };
	const double scales[] = { 1e-4, 0.02, 3.0 };
	for (size_t si = 0; si < 4; si++)
		for (size_t ci = 0; ci < 3; ci++) {
			size_t n = sizes[si], changed = 0;
			float *x = malloc(n * sizeof *x), *orig = malloc(n * sizeof *x);
			for (size_t i = 0; i < n; i++) {
				double u = uni() - 0.5;
				x[i] = (float)(-scales[ci] * copysign(log(1 - 2 * fabs(u)), u));
			}
			memcpy(orig, x, n * sizeof *x);
			struct ggpack_deepshape_params p;
			struct ggpack_deepshape_result r;
			ggpack_deepshape_defaults(&p);
			ck_assert_int_eq(ggpack_deepshape_tensor(NULL, x, n, &p, &r), 0);
			for (size_t i = 0; i < n; i++)
				changed += x[i] != orig[i];
			size_t k = distinct(x, n);
			ck_assert_msg(k >= 16, "n %zu scale %g: %zu levels", n, scales[ci], k);
			ck_assert_msg(changed > n / 4 && r.reassigned > n / 2, "n %zu: %zu changed", n, changed);
			free(x);
			free(orig);
		}
}
END_TEST

/* ---- scope model from a source (the plan convert uses) ----------------- */

struct parts_source {
	const float *const *parts;
	size_t reads;
};

static void read_parts(void *arg, size_t part, size_t from, size_t n, float *out)
{
	struct parts_source *src = arg;
	memcpy(out, src->parts[part] + from, n * sizeof *out);
	__atomic_add_fetch(&src->reads, 1, __ATOMIC_RELAXED);
}

/* The plan and its part-by-part application give what the vector in
 * memory gets, values and figures; DS_NEEDS_MEMORY is its only refusal. */
/* The plan of parts orig (its edge elements collected within runs_budget
 * bytes, else refined) reshapes them as in memory (mem, result a). */
static void plan_check(const float *const *orig, float *const *mem, const size_t *lens, size_t n_parts,
		       const struct ggpack_deepshape_params *p, const struct ggpack_deepshape_result *a,
		       size_t runs_budget, const char *what)
{
	struct ggpack_deepshape_result b;
	struct parts_source ps = { orig, 0 };
	struct ds_source src = { read_parts, &ps };
	struct ds_state *plan = NULL;
	int rc = ds_plan_make(NULL, lens, n_parts, &src, p, runs_budget, &plan, &b);
	ck_assert_msg(rc == 0 || rc == DS_NEEDS_MEMORY, "%s: plan %d", what, rc);
	for (size_t k = 0; rc == 0 && k < n_parts; k++) {
		float *planned = malloc(lens[k] * sizeof *planned + 1);
		memcpy(planned, orig[k], lens[k] * sizeof *planned);
		ck_assert_int_eq(ds_plan_apply(plan, k, planned), 0);
		for (size_t i = 0; i < lens[k]; i++)
			ck_assert_msg(u32_of(planned[i]) == u32_of(mem[k][i]), "%s, budget %zu: part %zu [%zu] = %a, in memory %a",
				      what, runs_budget, k, i, planned[i], mem[k][i]);
		free(planned);
	}
	if (rc == 0) {
		ck_assert_msg(ps.reads > 0, "%s: nothing read", what);
		ck_assert_int_eq(a->P, b.P);
		ck_assert_int_eq(a->mu_q, b.mu_q);
		ck_assert_uint_eq(a->in_range, b.in_range);
		ck_assert_uint_eq(a->reassigned, b.reassigned);
	}
	ds_plan_free(plan);
}

static void plan_equals_memory(const float *x, const size_t *lens, size_t n_parts,
			       const struct ggpack_deepshape_params *p, const char *what)
{
	const float *orig[8];
	float *mem[8];
	size_t n = 0;
	for (size_t k = 0; k < n_parts; k++) {
		orig[k] = x + n;
		mem[k] = malloc(lens[k] * sizeof *x + 1);
		memcpy(mem[k], x + n, lens[k] * sizeof *x);
		n += lens[k];
	}
	struct ggpack_deepshape_result a;
	ck_assert_int_eq(ggpack_deepshape(NULL, mem, lens, n_parts, p, &a), 0);
	plan_check(orig, mem, lens, n_parts, p, &a, SIZE_MAX, what); /* every edge element collected */
	plan_check(orig, mem, lens, n_parts, p, &a, 0, what);        /* only those near a boundary */
	for (size_t k = 0; k < n_parts; k++)
		free(mem[k]);
}

START_TEST(model_scope_from_a_source_equals_it_in_memory)
{
	const struct ggpack_deepshape_params params[] = {
		{ 6, 20, 0.8, 0.6 }, { 8, 5, 0.8, 0.6 }, { 4, 100, 0.5, 0.9 }, { 13, 1000, 0.8, 0.6 },
	};
	/* parts of every kind: one element, empty, across chunks of 2^18 */
	size_t lens[] = { 1, 60000, 0, 5000, (1 << 18) + 7 }, n = 0;
	for (size_t k = 0; k < 5; k++)
		n += lens[k];
	float *x = malloc(n * sizeof *x);
	for (size_t pi = 0; pi < 4; pi++)
		for (size_t outlier = 0; outlier < 4; outlier++) {
			char what[64];
			laplace_ties(x, n, pi == 3 ? 0.02 : 0.3);
			/* none; fewer sub-bins a level; levels counted alone; too many to count */
			const float big[] = { 0, ldexpf(20000, -params[pi].grid), ldexpf(1e6f, -params[pi].grid), 1e12f };
			if (outlier)
				x[n / 3] = big[outlier];
			snprintf(what, sizeof what, "params %zu outlier %zu", pi, outlier);
			for (unsigned threads = 1; threads <= 3; threads += 2) { /* the outliers: one count */
				ggpack_set_threads(outlier ? 0 : threads);
				plan_equals_memory(x, lens, 5, &params[pi], what);
				if (outlier)
					break;
			}
			ggpack_set_threads(0);
		}
	free(x);
}
END_TEST

/* Values whose level overflows float when scaled (3e38 at grid 13) or
 * passes +-2^61, where levels are clamped: kept, each its own value, in
 * memory and planned alike (a clamped level's lookup index once
 * overflowed, and kept values came out as the clamped level's). */
static bool on_grid(float v, int grid)
{
	double y = ldexp((double)v, grid);
	return isfinite(v) && y == rint(y);
}

START_TEST(huge_values_keep_their_own_value)
{
	size_t n = 20000, lens[] = { 7000, 13000 };
	float *x = malloc(n * sizeof *x), *px = x;
	const float huge[] = { 3e38f, 1e30f, 3e15f };
	const struct ggpack_deepshape_params params[] = { { 13, 1000, 0.8, 0.6 }, { 13, 0, 0.8, 0.6 } };
	struct ggpack_deepshape_result r;
	for (size_t h = 0; h < 3; h++)
		for (size_t pi = 0; pi < 2; pi++) {
			laplace_ties(x, n, 0.05);
			x[123] = huge[h], x[4567] = -huge[h], x[15000] = huge[h];
			plan_equals_memory(x, lens, 2, &params[pi], "huge");
			ck_assert_int_eq(ggpack_deepshape(NULL, &px, &n, 1, &params[pi], &r), 0);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(on_grid(x[i], 13), "huge %g: x[%zu] = %g", huge[h], i, x[i]);
			if (pi == 0) /* out of mu_q +- P */
				ck_assert(x[123] == huge[h] && x[4567] == -huge[h] && x[15000] == huge[h]);
			else /* in range, the two largest ranks past the counted ones */
				ck_assert(x[123] == huge[h] && x[15000] == huge[h] && r.P == (INT64_C(1) << 61));
			laplace_ties(x, n, 0.05);
			x[77] = -huge[h];
			ck_assert_int_eq(ggpack_deepshape_tensor(NULL, x, n, &params[pi], &r), 0);
			ck_assert(on_grid(x[77], r.grid) && fabs((double)x[77] + huge[h]) <= ldexp(0.5, -r.grid));
		}
	free(x);
}
END_TEST

/* min_count 0 makes P the largest level; with an outlier and a heavy
 * shape (the fit gives 0.1) the target's weights stay above 0 for about
 * 10^18 levels. The sum over them once ran for hours: now a usage error,
 * at once. With the outlier at 1000, 8 million levels: summed. */
START_TEST(a_target_too_wide_to_sum_is_refused)
{
	size_t n = 20000;
	float *x = malloc(n * sizeof *x), *px = x;
	struct ggpack_deepshape_params p = { 13, 0, 0.8, 0.6 };
	struct ggpack_deepshape_result r;
	for (int far = 0; far < 2; far++) {
		for (size_t i = 0; i < n; i++) { /* Laplace^4: heavy tails */
			double u = uni() - 0.5, l = -copysign(log(1 - 2 * fabs(u)), u);
			x[i] = (float)(0.001 * copysign(pow(fabs(l), 4), l));
		}
		x[5] = far ? 1e12f : 1000.0f;
		ck_assert_int_eq(ggpack_deepshape(NULL, &px, &n, 1, &p, &r), far ? GGPACK_E_USAGE : 0);
		if (!far)
			ck_assert(r.P == 8192000 && r.before.shape < 0.2);
	}
	free(x);
}
END_TEST

START_TEST(nan_is_refused_and_empty_is_fine)
{
	float x[] = { 1, NAN, 2 }, *px = x;
	size_t n = 3, zero = 0;
	struct ggpack_deepshape_params p;
	struct ggpack_deepshape_result r;
	ggpack_deepshape_defaults(&p);
	ck_assert_int_eq(ggpack_deepshape(NULL, &px, &n, 1, &p, &r), GGPACK_E_INVALID);
	ck_assert_int_eq(ggpack_deepshape(NULL, &px, &zero, 1, &p, &r), 0);
	ck_assert_uint_eq(r.n, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deepshape");
	TCase *tc = tcase_create("deepshape");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, model_scope_gives_the_reference_result_exactly);
	tcase_add_test(tc, model_scope_equals_a_literal_full_sort);
	tcase_add_test(tc, model_scope_outside_the_sampled_window);
	tcase_add_test(tc, model_scope_does_not_depend_on_how_the_vector_is_cut);
	tcase_add_test(tc, model_scope_does_not_depend_on_the_thread_count);
	tcase_add_test(tc, tensor_scope_neither_collapses_nor_leaves_a_tensor_alone);
	tcase_add_test(tc, model_scope_from_a_source_equals_it_in_memory);
	tcase_add_test(tc, huge_values_keep_their_own_value);
	tcase_add_test(tc, a_target_too_wide_to_sum_is_refused);
	tcase_add_test(tc, nan_is_refused_and_empty_is_fine);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
