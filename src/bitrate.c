/*
 * bitrate.c - bits per parameter of a symbol stream (ALGORITHMS.md): the
 * histogram of RF8 codes or grid levels, and from it the order-0 entropy,
 * Exp-Golomb of the rank, optimal Huffman and fixed-length costs; zstd on
 * the code bytes themselves.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer, see ggpack_zstd_bits */
#include <zstd.h>

#include "internal.h"

static struct ggpack_hist *hist_alloc(size_t k)
{
	struct ggpack_hist *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->symbols = malloc((k ? k : 1) * sizeof *h->symbols);
	h->counts = malloc((k ? k : 1) * sizeof *h->counts);
	if (!h->symbols || !h->counts) {
		ggpack_hist_free(h);
		return NULL;
	}
	return h;
}

void ggpack_hist_free(struct ggpack_hist *h)
{
	if (!h)
		return;
	free(h->symbols);
	free(h->counts);
	free(h);
}

size_t ggpack_hist_distinct(const struct ggpack_hist *h)
{
	return h->k;
}

/* Appends the run of equal symbols of sorted[*i..n) to h, while below `end`. */
static void hist_add_sorted(struct ggpack_hist *h, const int64_t *sorted, size_t n, size_t *i, int64_t end)
{
	while (*i < n && sorted[*i] < end) {
		size_t j = *i;
		while (j < n && sorted[j] == sorted[*i])
			j++;
		h->symbols[h->k] = sorted[*i];
		h->counts[h->k++] = j - *i;
		h->total += j - *i;
		*i = j;
	}
}

/* The non-zero bins of a dense histogram whose bin 0 is symbol `base`, and
 * the symbols outside[0..n_outside), sorted, none of them in the bins'
 * span (any, with no bins), counted in. */
int hist_from_dense(const uint64_t *bins, size_t n_bins, int64_t base, const int64_t *outside,
		    size_t n_outside, struct ggpack_hist **out)
{
	size_t k = 0, i = 0;
	for (size_t b = 0; b < n_bins; b++)
		k += bins[b] != 0;
	for (size_t j = 0; j < n_outside; j++)
		k += j == 0 || outside[j] != outside[j - 1];
	struct ggpack_hist *h = hist_alloc(k);
	if (!h)
		return GGPACK_E_NOMEM;
	hist_add_sorted(h, outside, n_outside, &i, base);
	for (size_t b = 0; b < n_bins; b++)
		if (bins[b]) {
			h->symbols[h->k] = base + (int64_t)b;
			h->counts[h->k++] = bins[b];
			h->total += bins[b];
		}
	hist_add_sorted(h, outside, n_outside, &i, INT64_MAX);
	*out = h;
	return 0;
}

/* Adds n codes to bins, with four sub-histograms: consecutive equal bytes
 * do not wait on one counter. */
static void count_codes(const uint8_t *codes, size_t n, uint64_t bins[256])
{
	uint64_t sub[4][256] = { { 0 } };
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		sub[0][codes[i]]++;
		sub[1][codes[i + 1]]++;
		sub[2][codes[i + 2]]++;
		sub[3][codes[i + 3]]++;
	}
	for (; i < n; i++)
		sub[0][codes[i]]++;
	for (int b = 0; b < 256; b++)
		bins[b] += sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
}

struct codes_count_job {
	const uint8_t *codes;
	size_t n;
	uint64_t (*bins)[256]; /* per worker */
};

static void codes_count_chunk(void *arg, size_t c, unsigned worker)
{
	struct codes_count_job *j = arg;
	count_codes(j->codes + c * CHUNK, chunk_len(j->n, c), j->bins[worker]);
}

int ggpack_hist_from_codes(const uint8_t *codes, size_t n, struct ggpack_hist **out)
{
	size_t nc = chunks_of(n);
	unsigned workers = parallel_workers(nc);
	uint64_t (*bins)[256] = calloc(workers, sizeof *bins);
	if (!bins)
		return GGPACK_E_NOMEM;
	struct codes_count_job j = { codes, n, bins };
	parallel_for(nc, codes_count_chunk, &j);
	for (unsigned w = 1; w < workers; w++) /* integer counts: exact in any order */
		for (int b = 0; b < 256; b++)
			bins[0][b] += bins[w][b];
	int rc = hist_from_dense(bins[0], 256, 0, NULL, 0, out);
	free(bins);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void sort_levels(int64_t *q, size_t n)
{
	qsort(q, n, sizeof *q, cmp_i64);
}

/* Levels too spread out for a dense array: sort them and count runs. */
static int hist_by_sorting(float *const *parts, const size_t *lens, size_t n_parts, size_t n,
			   float scale, struct ggpack_hist **out)
{
	int64_t *q = malloc((n ? n : 1) * sizeof *q);
	if (!q)
		return GGPACK_E_NOMEM;
	for (size_t p = 0, i = 0; p < n_parts; p++)
		for (size_t j = 0; j < lens[p]; j++)
			q[i++] = level_of(parts[p][j] * scale);
	sort_levels(q, n);
	int rc = hist_from_dense(NULL, 0, 0, q, n, out);
	free(q);
	return rc;
}

#define DENSE_MAX_BINS (1u << 24)

struct grid_count_job {
	float scale;
	int64_t base;
	size_t n_bins;
	uint64_t *bins;     /* 4 interleaved sub-histograms per worker */
	struct chunk *chunks;
	size_t n_chunks;
};

/* The bin of each of n values (n <= 64), branch-free so that a block
 * vectorizes. The dense path guarantees every level fits. */
static inline void grid_bins(const float *restrict x, size_t n, float scale, int32_t base,
			     int32_t *restrict bin)
{
	for (size_t i = 0; i < n; i++)
		bin[i] = (int32_t)rint_float(x[i] * scale) - base;
}

/* Four interleaved sub-histograms: weights crowd the central levels, and
 * back-to-back increments of one counter would wait on each other. */
SIMD_CLONES
static void grid_count_chunk(void *arg, size_t c, unsigned worker)
{
	struct grid_count_job *j = arg;
	const float *x = j->chunks[c].x;
	size_t len = j->chunks[c].len;
	uint64_t *bins = j->bins + (size_t)worker * 4 * j->n_bins;
	int32_t bin[64];
	for (size_t at = 0; at < len; at += 64) {
		size_t n = len - at < 64 ? len - at : 64;
		if (n == 64)
			grid_bins(x + at, 64, j->scale, (int32_t)j->base, bin);
		else
			grid_bins(x + at, n, j->scale, (int32_t)j->base, bin);
		for (size_t k = 0; k < n; k++)
			bins[(k & 3) * j->n_bins + (size_t)bin[k]]++;
	}
}

/* The histogram once the largest magnitude's bits are known. */
static int hist_grid_with_max(float *const *parts, const size_t *lens, size_t n_parts, int grid, uint32_t max_bits,
			   struct ggpack_hist **out)
{
	float max, scale = ldexpf(1.0f, grid);
	size_t n = 0;
	if (max_bits >= 0x7f800000)
		return GGPACK_E_INVALID; /* NaN or infinity */
	memcpy(&max, &max_bits, 4);
	for (size_t p = 0; p < n_parts; p++)
		n += lens[p];
	/* levels lie in [-rint(max scale), rint(max scale)] */
	double qhi = rint((double)max * scale), qlo = -qhi;
	if (qhi - qlo >= DENSE_MAX_BINS)
		return hist_by_sorting(parts, lens, n_parts, n, scale, out);
	size_t n_bins = (size_t)(qhi - qlo) + 1;
	struct grid_count_job j = { scale, (int64_t)qlo, n_bins, NULL, NULL, 0 };
	if (chunks_make(parts, lens, n_parts, &j.chunks, &j.n_chunks))
		return GGPACK_E_NOMEM;
	/* a private set of counters per worker, while they stay small */
	unsigned workers = n_bins * 4 * parallel_workers(j.n_chunks) <= ((size_t)1 << 24)
				   ? parallel_workers(j.n_chunks) : 1;
	j.bins = calloc((size_t)workers * 4 * n_bins, sizeof *j.bins);
	if (!j.bins) {
		free(j.chunks);
		return GGPACK_E_NOMEM;
	}
	if (workers > 1)
		parallel_for(j.n_chunks, grid_count_chunk, &j);
	else
		for (size_t c = 0; c < j.n_chunks; c++)
			grid_count_chunk(&j, c, 0);
	for (size_t b = 0; b < n_bins; b++)
		for (size_t k = 1; k < 4 * (size_t)workers; k++)
			j.bins[b] += j.bins[k * n_bins + b];
	int rc = hist_from_dense(j.bins, n_bins, j.base, NULL, 0, out);
	free(j.bins);
	free(j.chunks);
	return rc;
}

int hist_grid_parts(float *const *parts, const size_t *lens, size_t n_parts, int grid,
		    struct ggpack_hist **out)
{
	uint32_t max = 0;
	for (size_t p = 0; p < n_parts; p++) {
		uint32_t bits = tensor_max_abs_bits_parallel(parts[p], lens[p], 0);
		max = bits > max ? bits : max;
	}
	return hist_grid_with_max(parts, lens, n_parts, grid, max, out);
}

int hist_grid_f32_max(const float *x, size_t n, int grid, uint32_t max_bits, struct ggpack_hist **out)
{
	float *part = (float *)(uintptr_t)x; /* read only */
	return hist_grid_with_max(&part, &n, 1, grid, max_bits, out);
}

int ggpack_hist_from_grid_f32(const float *x, size_t n, int grid, struct ggpack_hist **out)
{
	return hist_grid_f32_max(x, n, grid, tensor_max_abs_bits_parallel(x, n, 0), out);
}

int ggpack_hist_from_counts(const int64_t *symbols, const uint64_t *counts, size_t k,
			    struct ggpack_hist **out)
{
	struct ggpack_hist *h = hist_alloc(k);
	if (!h)
		return GGPACK_E_NOMEM;
	for (size_t i = 0; i < k; i++) {
		if (!counts[i])
			continue;
		h->symbols[h->k] = symbols[i];
		h->counts[h->k++] = counts[i];
		h->total += counts[i];
	}
	*out = h;
	return 0;
}

/* ---- measures ------------------------------------------------------------ */

struct ranked {
	uint64_t count;
	int64_t symbol;
};

/* Rank order: descending count, ties by ascending symbol (ALGORITHMS.md).
 * A grid histogram has thousands of symbols, and qsort's comparisons cost
 * more than the rest of its measures: a stable LSD radix sort on the count
 * (8 bits a pass, only as many passes as the largest count has bytes)
 * keeps the histogram's ascending symbols in order within a count. Which
 * tie comes first changes no measure anyway: equal counts at swapped ranks
 * add the same terms. */
static int rank_sort(struct ranked *r, size_t k)
{
	uint64_t max = 0;
	for (size_t i = 0; i < k; i++)
		max = r[i].count > max ? r[i].count : max;
	struct ranked *tmp = malloc(k * sizeof *tmp + 1), *from = r, *to = tmp;
	if (!tmp)
		return GGPACK_E_NOMEM;
	for (unsigned shift = 0; shift < 64 && max >> shift; shift += 8) {
		size_t at[256] = { 0 }; /* bucket 255 - digit: the larger digits first */
		for (size_t i = 0; i < k; i++)
			at[255 - (from[i].count >> shift & 255)]++;
		for (size_t b = 0, sum = 0; b < 256; b++) {
			size_t n = at[b];
			at[b] = sum, sum += n;
		}
		for (size_t i = 0; i < k; i++)
			to[at[255 - (from[i].count >> shift & 255)]++] = from[i];
		struct ranked *x = from;
		from = to, to = x;
	}
	if (from != r)
		memcpy(r, from, k * sizeof *r);
	free(tmp);
	return 0;
}

static double exp_golomb_bits(const struct ranked *r, size_t k, uint64_t total)
{
	double bits = 0;
	for (size_t i = 0; i < k; i++) /* rank i costs 2 floor(log2(i + 1)) + 1 */
		bits += (double)r[i].count * (2 * (63 - __builtin_clzll((uint64_t)i + 1)) + 1);
	return bits / (double)total;
}

/* Mean code length of an optimal Huffman code: merging the two lightest
 * weights of two sorted queues adds their sum to the total length. The
 * counts come in descending order; the leaves queue reads them backwards. */
static double huffman_bits(const struct ranked *r, size_t k, uint64_t total, uint64_t *merged)
{
	if (k == 1)
		return 1.0;
	size_t leaf = k, head = 0, tail = 0; /* leaves r[leaf-1] ... r[0]; merged[head..tail) */
	double bits = 0;
	for (size_t step = 0; step + 1 < k; step++) {
		uint64_t pick[2];
		for (int t = 0; t < 2; t++) {
			if (leaf && (head == tail || r[leaf - 1].count <= merged[head]))
				pick[t] = r[--leaf].count;
			else
				pick[t] = merged[head++];
		}
		merged[tail++] = pick[0] + pick[1];
		bits += (double)(pick[0] + pick[1]);
	}
	return bits / (double)total;
}

int ggpack_hist_bits(const struct ggpack_hist *h, struct ggpack_bits *out)
{
	struct ggpack_bits b = { 0, 0, 0, 0, NAN };
	if (!h->k) {
		*out = b;
		return 0;
	}
	struct ranked *r = malloc(h->k * sizeof *r);
	uint64_t *merged = malloc(h->k * sizeof *merged);
	if (!r || !merged) {
		free(r);
		free(merged);
		return GGPACK_E_NOMEM;
	}
	for (size_t i = 0; i < h->k; i++) {
		double p = (double)h->counts[i] / (double)h->total;
		b.entropy -= p * log2(p);
		r[i] = (struct ranked){ h->counts[i], h->symbols[i] };
	}
	if (rank_sort(r, h->k)) {
		free(r);
		free(merged);
		return GGPACK_E_NOMEM;
	}
	b.exp_golomb = exp_golomb_bits(r, h->k, h->total);
	b.huffman = huffman_bits(r, h->k, h->total, merged);
	b.fixed = h->k > 1 ? ceil(log2((double)h->k)) : 1;
	if (b.entropy < 0) /* -0 for one symbol */
		b.entropy = 0;
	free(r);
	free(merged);
	*out = b;
	return 0;
}

int ggpack_zstd_bits(struct ggpack_ctx *ctx, const uint8_t *codes, size_t n, int level, double *bits)
{
	/* streamed through a small buffer: the compressed bytes are counted,
	 * not kept; the pledged size makes it one frame, as one call would */
	ZSTD_CCtx *z = ZSTD_createCCtx();
	uint8_t buf[1 << 16];
	size_t total = 0, rc;
	if (!z)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "zstd: out of memory");
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setPledgedSrcSize(z, n);
	/* the codes stay put until the frame ends, so zstd may match in them
	 * where they are instead of copying them into a window buffer of its
	 * own (the size of the window: 2 MiB a worker at level 3). The same
	 * bytes come out; a libzstd that does not know the parameter refuses
	 * it, and then just copies. */
	ZSTD_CCtx_setParameter(z, ZSTD_c_stableInBuffer, 1);
	ZSTD_inBuffer in = { codes, n, 0 };
	do {
		ZSTD_outBuffer o = { buf, sizeof buf, 0 };
		rc = ZSTD_compressStream2(z, &o, &in, ZSTD_e_end);
		total += o.pos;
	} while (!ZSTD_isError(rc) && rc != 0);
	ZSTD_freeCCtx(z);
	if (ZSTD_isError(rc))
		return ctx_fail(ctx, GGPACK_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(rc));
	*bits = n ? 8.0 * (double)total / (double)n : 0;
	return 0;
}

/* ---- error of a replacement -------------------------------------------------- */

void ggpack_error_add_f32(struct ggpack_error_sums *e, const float *w, const float *w2, size_t n)
{
	double s = 0, d = 0, m = e->max_abs;
	for (size_t i = 0; i < n; i++) {
		double a = w[i], diff = a - (double)w2[i];
		s += a * a;
		d += diff * diff;
		m = fabs(diff) > m ? fabs(diff) : m;
	}
	e->sum_sq += s;
	e->err_sq += d;
	e->max_abs = m;
}

double ggpack_error_snr_db(const struct ggpack_error_sums *e)
{
	return e->err_sq > 0 ? 10 * log10(e->sum_sq / e->err_sq) : INFINITY;
}

double ggpack_error_rel_rmse(const struct ggpack_error_sums *e)
{
	return e->sum_sq > 0 ? sqrt(e->err_sq / e->sum_sq) : (e->err_sq > 0 ? INFINITY : 0);
}
