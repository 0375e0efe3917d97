/*
 * test_bitrate.c - the bit-rate measures against answers known by hand:
 * uniform alphabets, one symbol, a dyadic law, rank order; grid levels;
 * zstd; and the error measures.
 */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"

static struct ggpack_bits bits_of_counts(const int64_t *sym, const uint64_t *cnt, size_t k)
{
	struct ggpack_hist *h;
	struct ggpack_bits b;
	ck_assert_int_eq(ggpack_hist_from_counts(sym, cnt, k, &h), 0);
	ck_assert_int_eq(ggpack_hist_bits(h, &b), 0);
	ggpack_hist_free(h);
	return b;
}

START_TEST(uniform_over_2_to_the_k_symbols_costs_k_bits)
{
	for (int k = 1; k <= 8; k++) {
		size_t n = 3 * ((size_t)1 << k);
		uint8_t *codes = malloc(n);
		for (size_t i = 0; i < n; i++)
			codes[i] = (uint8_t)(i % ((size_t)1 << k));
		struct ggpack_hist *h;
		struct ggpack_bits b;
		ck_assert_int_eq(ggpack_hist_from_codes(codes, n, &h), 0);
		ck_assert_uint_eq(ggpack_hist_distinct(h), (size_t)1 << k);
		ck_assert_int_eq(ggpack_hist_bits(h, &b), 0);
		ck_assert_double_eq_tol(b.entropy, k, 1e-12);
		ck_assert_double_eq_tol(b.huffman, k, 1e-12);
		ck_assert_double_eq(b.fixed, k);
		/* ranks 0..2^k-1: sum of (2 floor(log2(r+1)) + 1) / 2^k */
		double eg = 0;
		for (int r = 0; r < 1 << k; r++)
			eg += 2 * floor(log2(r + 1)) + 1;
		ck_assert_double_eq_tol(b.exp_golomb, eg / (1 << k), 1e-12);
		ggpack_hist_free(h);
		free(codes);
	}
}
END_TEST

START_TEST(one_symbol_costs_nothing_to_entropy_and_one_bit_to_codes)
{
	int64_t s = -3;
	uint64_t c = 1000;
	struct ggpack_bits b = bits_of_counts(&s, &c, 1);
	ck_assert_double_eq(b.entropy, 0);
	ck_assert_double_eq(b.exp_golomb, 1);
	ck_assert_double_eq(b.huffman, 1);
	ck_assert_double_eq(b.fixed, 1);
	ck_assert(isnan(b.zstd));
}
END_TEST

START_TEST(huffman_equals_entropy_on_a_dyadic_law)
{
	int64_t s[] = { 10, 20, 30, 40, 50 };
	uint64_t c[] = { 8, 4, 2, 1, 1 };
	struct ggpack_bits b = bits_of_counts(s, c, 5);
	ck_assert_double_eq_tol(b.entropy, 1.875, 1e-12);
	ck_assert_double_eq_tol(b.huffman, 1.875, 1e-12);
	ck_assert_double_eq(b.fixed, 3);
	/* ranks by descending count: 1, 3, 3, 5, 5 bits */
	ck_assert_double_eq_tol(b.exp_golomb, (8 * 1 + 4 * 3 + 2 * 3 + 1 * 5 + 1 * 5) / 16.0, 1e-12);
}
END_TEST

START_TEST(ranks_follow_descending_count_then_ascending_symbol)
{
	/* listed in ascending count: the ranking must reverse it */
	int64_t s[] = { 9, 1, 5, 2 };
	uint64_t c[] = { 1, 2, 5, 5 };
	struct ggpack_bits b = bits_of_counts(s, c, 4);
	/* ranks: 2 (5), 5 (5), 1 (2), 9 (1) -> 1, 3, 3, 5 bits */
	ck_assert_double_eq_tol(b.exp_golomb, (5 * 1 + 5 * 3 + 2 * 3 + 1 * 5) / 13.0, 1e-12);
	/* Huffman on 5, 5, 2, 1: merge 1+2=3, 3+5=8, 5+8=13: lengths 3, 3, 2, 1 */
	ck_assert_double_eq_tol(b.huffman, (1 * 3 + 2 * 3 + 5 * 2 + 5 * 1) / 13.0, 1e-12);
}
END_TEST

/* Many symbols with counts across every byte and many ties, listed
 * ascending and shuffled: Exp-Golomb against ranks found here by counting,
 * for each symbol, the symbols that come before it (the library sorts on
 * the count's bytes; a pass skipped or reversed shows). */
START_TEST(ranks_of_many_large_tied_counts)
{
	enum { K = 700 };
	static int64_t sym[K];
	static uint64_t cnt[K];
	uint64_t x = 7, total = 0;
	for (size_t i = 0; i < K; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		sym[i] = (int64_t)i * 3 - 1000;
		/* counts across every byte a count may use, and many alike */
		cnt[i] = (x >> 60) < 4 ? 1 + (x >> 62) : (x >> 20) & ((1ull << (8 * (1 + (x >> 61) % 5))) - 1);
		cnt[i] += !cnt[i];
		total += cnt[i];
	}
	double expect = 0;
	for (size_t i = 0; i < K; i++) {
		size_t rank = 0;
		for (size_t j = 0; j < K; j++)
			rank += cnt[j] > cnt[i] || (cnt[j] == cnt[i] && sym[j] < sym[i]);
		expect += (double)cnt[i] * (2 * floor(log2((double)rank + 1)) + 1);
	}
	expect /= (double)total;
	struct ggpack_bits sorted = bits_of_counts(sym, cnt, K);
	ck_assert_double_eq_tol(sorted.exp_golomb, expect, 1e-12 * expect);
	for (size_t i = K - 1; i > 0; i--) { /* shuffled */
		x = x * 6364136223846793005u + 1442695040888963407u;
		size_t j = (size_t)(x >> 33) % (i + 1);
		int64_t s = sym[i];
		uint64_t c = cnt[i];
		sym[i] = sym[j], cnt[i] = cnt[j], sym[j] = s, cnt[j] = c;
	}
	struct ggpack_bits shuffled = bits_of_counts(sym, cnt, K);
	ck_assert_double_eq_tol(shuffled.exp_golomb, expect, 1e-12 * expect);
	/* the same law: the same code lengths and entropy, up to the order of the sums */
	ck_assert_double_eq_tol(shuffled.huffman, sorted.huffman, 1e-12 * sorted.huffman);
	ck_assert_double_eq_tol(shuffled.entropy, sorted.entropy, 1e-12 * sorted.entropy);
}
END_TEST

START_TEST(grid_levels_round_to_nearest_even)
{
	/* at grid 13: 0, a tie at 0.5 (to 0), a tie at 1.5 (to 2), 1, -1 */
	float x[] = { 0, 0x1p-14f, 0x3p-14f, 0x1p-13f, -0x1p-13f };
	struct ggpack_hist *h;
	ck_assert_int_eq(ggpack_hist_from_grid_f32(x, 5, 13, &h), 0);
	ck_assert_uint_eq(ggpack_hist_distinct(h), 4); /* -1, 0, 1, 2 */
	struct ggpack_bits b;
	ggpack_hist_bits(h, &b);
	ck_assert_double_eq_tol(b.entropy, -(0.4 * log2(0.4) + 3 * 0.2 * log2(0.2)), 1e-12);
	ggpack_hist_free(h);
	/* levels 8e9 apart take the sorting path */
	float wide[] = { 0, 1e6f, 1e6f, -1e6f };
	ck_assert_int_eq(ggpack_hist_from_grid_f32(wide, 4, 13, &h), 0);
	ck_assert_uint_eq(ggpack_hist_distinct(h), 3);
	ggpack_hist_bits(h, &b);
	ck_assert_double_eq_tol(b.entropy, 1.5, 1e-12);
	ggpack_hist_free(h);
	/* levels past int64: clamped, not undefined */
	float huge[] = { 0, 3e38f, -3e38f };
	ck_assert_int_eq(ggpack_hist_from_grid_f32(huge, 3, 60, &h), 0);
	ck_assert_uint_eq(ggpack_hist_distinct(h), 3);
	ggpack_hist_free(h);
	float nan[] = { 0, NAN };
	ck_assert_int_eq(ggpack_hist_from_grid_f32(nan, 2, 13, &h), GGPACK_E_INVALID);
}
END_TEST

START_TEST(zstd_counts_compressed_bits_per_code)
{
	size_t n = 1 << 20;
	uint8_t *codes = calloc(n, 1);
	double bits;
	ck_assert_int_eq(ggpack_zstd_bits(NULL, codes, n, 3, &bits), 0);
	ck_assert(bits > 0 && bits < 0.01);
	uint64_t z = 1;
	for (size_t i = 0; i < n; i++) {
		z = z * 6364136223846793005ull + 1442695040888963407ull;
		codes[i] = (uint8_t)(z >> 56);
	}
	ck_assert_int_eq(ggpack_zstd_bits(NULL, codes, n, 3, &bits), 0);
	ck_assert(bits > 7.99 && bits < 8.01);
	free(codes);
}
END_TEST

START_TEST(snr_and_relative_rmse_of_a_replacement)
{
	float w[] = { 1, 2, 3 }, w2[] = { 1, 2, 2 };
	struct ggpack_error_sums e = { 0 };
	ggpack_error_add_f32(&e, w, w2, 3);
	ck_assert_double_eq_tol(ggpack_error_snr_db(&e), 10 * log10(14.0), 1e-12);
	ck_assert_double_eq_tol(ggpack_error_rel_rmse(&e), sqrt(1 / 14.0), 1e-12);
	ck_assert_double_eq(e.max_abs, 1);
	struct ggpack_error_sums same = { 0 };
	ggpack_error_add_f32(&same, w, w, 3);
	ck_assert(isinf(ggpack_error_snr_db(&same)));
	ck_assert_double_eq(ggpack_error_rel_rmse(&same), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bitrate");
	TCase *tc = tcase_create("bitrate");
	tcase_add_test(tc, uniform_over_2_to_the_k_symbols_costs_k_bits);
	tcase_add_test(tc, one_symbol_costs_nothing_to_entropy_and_one_bit_to_codes);
	tcase_add_test(tc, huffman_equals_entropy_on_a_dyadic_law);
	tcase_add_test(tc, ranks_follow_descending_count_then_ascending_symbol);
	tcase_add_test(tc, ranks_of_many_large_tied_counts);
	tcase_add_test(tc, grid_levels_round_to_nearest_even);
	tcase_add_test(tc, zstd_counts_compressed_bits_per_code);
	tcase_add_test(tc, snr_and_relative_rmse_of_a_replacement);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
