/*
 * bench_toolkit.c - speed of the GG toolkit on N float32 weights drawn from
 * a GG (shape 1, like trained weights): ns per element of the fit, RF8
 * encode (both roundings), the histogram and bit measures, and DeepShape
 * (both scopes), each also as a ratio to memcpy of the same buffer measured
 * in this same run, alongside it. Not a test: it prints, it asserts nothing.
 *   bench_toolkit [N]      (default 10^8)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggpack.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t state = 12345;
static double uni(void)
{
	state = state * 6364136223846793005ull + 1442695040888963407ull;
	return ((double)(state >> 11) + 0.5) / 9007199254740992.0;
}

static double n_elems;

static void report(const char *what, double seconds, double memcpy_s)
{
	printf("%-34s %8.3f ns/elem  %6.2fx memcpy  (memcpy alongside %.3f ns/elem)\n", what,
	       1e9 * seconds / n_elems, seconds / memcpy_s, 1e9 * memcpy_s / n_elems);
	fflush(stdout);
}

/* The best of REPS runs of body, each right after a memcpy of the same
 * buffer (w to copy), timed too: the ratio is to the best of those, so the
 * baseline is measured in the same minutes as the kernel, not only at the
 * start, and the machine's noise (which only ever adds time) weighs on
 * both as little as REPS tries allow. setup runs after the memcpy, untimed. */
#define REPS 5
#define BEST_OF(what, setup, body)                             \
	do {                                                       \
		double best = INFINITY, best_copy = INFINITY;          \
		for (int rep = 0; rep < REPS; rep++) {                 \
			double c0 = now();                                 \
			memcpy(copy, w, n * sizeof *w);                    \
			double c = now() - c0;                             \
			best_copy = c < best_copy ? c : best_copy;         \
			setup;                                             \
			double t0 = now();                                 \
			body;                                              \
			double t = now() - t0;                             \
			best = t < best ? t : best;                        \
		}                                                      \
		report(what, best, best_copy);                         \
	} while (0)

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000;
	float *w = malloc(n * sizeof *w), *copy = malloc(n * sizeof *copy);
	uint8_t *codes = malloc(n);
	if (!w || !copy || !codes)
		return fprintf(stderr, "bench_toolkit: out of memory\n"), 1;
	for (size_t i = 0; i < n; i++) { /* Laplace = GG of shape 1, scale 0.02 */
		double u = uni() - 0.5;
		w[i] = (float)(-0.02 * copysign(log(1 - 2 * fabs(u)), u));
	}
	memcpy(copy, w, n * sizeof *w); /* touch every page before timing */
	memset(codes, 0, n);
	n_elems = (double)n;
	printf("N = %zu float32 (%.0f MiB), GG shape 1\n", n, n * 4.0 / 1048576);

	BEST_OF("memcpy (baseline)", , memcpy(copy, w, n * sizeof *w));
	struct ggpack_gg_sums sums;
	struct ggpack_gg g;
	BEST_OF("GG fit (sums + table)", memset(&sums, 0, sizeof sums),
		  ggpack_gg_sums_add_f32(&sums, w, n); ggpack_gg_fit(&sums, &g));
	int E;
	BEST_OF("RF8 encode, nearest", , ggpack_rf8_encode(NULL, "w", GGPACK_DTYPE_FLOAT, w, n,
							  GGPACK_ROUND_NEAREST, 0, codes, &E));
	BEST_OF("RF8 encode, paper", , ggpack_rf8_encode(NULL, "w", GGPACK_DTYPE_FLOAT, w, n,
							GGPACK_ROUND_PAPER, 0, codes, &E));
	ggpack_rf8_encode(NULL, "w", GGPACK_DTYPE_FLOAT, w, n, GGPACK_ROUND_NEAREST, 0, codes, &E);
	struct ggpack_hist *h = NULL;
	struct ggpack_bits b;
	BEST_OF("codes: entropy+exp_golomb+huffman", ggpack_hist_free(h),
		  ggpack_hist_from_codes(codes, n, &h); ggpack_hist_bits(h, &b));
	ggpack_hist_free(h);
	h = NULL;
	BEST_OF("grid 13: entropy+exp_golomb+huffman", ggpack_hist_free(h),
		  ggpack_hist_from_grid_f32(w, n, 13, &h); ggpack_hist_bits(h, &b));
	ggpack_hist_free(h);
	double zb;
	BEST_OF("codes: zstd -3", , ggpack_zstd_bits(NULL, codes, n, 3, &zb));
	struct ggpack_deepshape_params p;
	struct ggpack_deepshape_result r;
	ggpack_deepshape_defaults(&p);
	BEST_OF("DeepShape, scope model", /* copy holds w again: the memcpy */,
		ggpack_deepshape(NULL, &copy, &n, 1, &p, &r));
	printf("    P %lld, in range %llu, reassigned %llu\n", (long long)r.P,
	       (unsigned long long)r.in_range, (unsigned long long)r.reassigned);
	BEST_OF("DeepShape, scope tensor", /* copy holds w again: the memcpy */,
		ggpack_deepshape_tensor(NULL, copy, n, &p, &r));
	printf("    grid %d, min_count %llu, P %lld\n", r.grid, (unsigned long long)r.min_count,
	       (long long)r.P);
	free(w);
	free(copy);
	free(codes);
	return 0;
}
