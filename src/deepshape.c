/*
 * deepshape.c - DeepShape: histogram specification of the selected weights
 * toward a narrower generalized Gaussian (ALGORITHMS.md), scope model and
 * scope tensor. The specified order of the in-range elements (ascending
 * value, ties by position) is never built by a full sort: rint is monotone,
 * so a grid level's elements hold a contiguous run of ranks, and a level
 * whose run lies inside one target level moves wholesale. For a level whose
 * run straddles target boundaries, only its values are sorted; each
 * boundary becomes a threshold value and the count of values below it, and
 * one pass in position order assigns every element, ties at a threshold
 * going below it first come, first served, which is the order by position.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KEEP INT64_MIN            /* the element keeps its q */
#define BIN_KEEP (-1)
#define BIN_EDGE (-2)             /* BIN_EDGE - i: edge bin i */
#define DENSE_INDEX_MAX (1u << 24)
#define MAX_BINS (1u << 22)       /* in-range levels x sub-bins */

struct ds_vector {
	float *const *parts;
	const size_t *lens;
	size_t n_parts;
	size_t *starts;  /* n_parts + 1 prefix offsets */
	size_t n;
};

/* Target counts floor(N p(L)) for L = mu_q - K .. mu_q + K (the levels
 * with a non-zero count: w(L) falls with |L - mu_q|, so they are one
 * interval), as cumulative ranks: level L takes ranks [T[i], T[i+1]). */
struct ds_target {
	int64_t first_level;
	size_t n_levels;
	uint64_t *T;      /* n_levels + 1 */
};

struct ds_state {
	struct ggpack_ctx *ctx;
	struct ds_vector v;
	float scale;               /* 2^grid */
	double delta;
	struct ggpack_hist *h;
	struct ggpack_deepshape_result r;
	size_t first, last;        /* in-range entries of h: [first, last) */
	struct ds_target t;
	uint32_t *dense;           /* level - h->symbols[first] -> entry, when small */
	unsigned sub;              /* sub-bins per in-range level (a power of 2) */
	bool direct;               /* bins cover every level of [lo, hi]: index by arithmetic */
	int64_t lo, hi;            /* the in-range levels, mu_q - P .. mu_q + P */
	uint64_t *bin_count;       /* per (entry - first) * sub + sub-bin */
	int32_t *bin_target;       /* >= 0: target index; BIN_KEEP; <= BIN_EDGE: an edge bin */
	struct edge_bin *edges;
	size_t n_edges;
};

static void edges_free(struct ds_state *s);

static void state_free(struct ds_state *s)
{
	ggpack_hist_free(s->h);
	free(s->v.starts);
	free(s->t.T);
	free(s->dense);
	free(s->bin_count);
	free(s->bin_target);
	edges_free(s);
}

static int nomem(struct ds_state *s)
{
	return ctx_fail(s->ctx, GGPACK_E_NOMEM, "DeepShape: out of memory");
}

/* Step 2: P, the first positive level seen at most min_count times, else
 * the largest level present. */
static int64_t find_P(const struct ggpack_hist *h, uint64_t min_count)
{
	for (size_t i = 0; i < h->k; i++)
		if (h->symbols[i] > 0 && h->counts[i] <= min_count)
			return h->symbols[i];
	return h->k ? h->symbols[h->k - 1] : 0;
}

/* Adds the values of x[0..n) with |x| <= limit (as bits) to 16 running
 * sums per moment: elementwise, masked on the bits, so that it vectorizes;
 * the lanes are added in one fixed order at the end, so the result does
 * not depend on anything but the values. */
#define FIT_LANES 16
static inline void fit_block(const float *restrict x, size_t n, uint32_t limit, double *restrict a,
			     double *restrict b, double *restrict c, double *restrict k)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		uint32_t in = (u & 0x7fffffff) <= limit;
		u &= -in;
		float v;
		memcpy(&v, &u, 4);
		double d = v;
		size_t l = i % FIT_LANES;
		a[l] += d;
		b[l] += fabs(d);
		c[l] += d * d;
		k[l] += in;
	}
}

/* Step 3: the fit over |p| <= P delta. */
static int fit_in_range(struct ds_state *s, int64_t P, struct ggpack_gg *g)
{
	double a[FIT_LANES] = { 0 }, b[FIT_LANES] = { 0 }, c[FIT_LANES] = { 0 }, k[FIT_LANES] = { 0 };
	float flimit = (float)((double)P * s->delta); /* a power of 2 times an integer below 2^24 */
	uint32_t limit;
	memcpy(&limit, &flimit, 4);
	if ((double)flimit != (double)P * s->delta)
		limit = 0x7f7fffff; /* P delta not a float: every finite value is within it */
	for (size_t p = 0; p < s->v.n_parts; p++) {
		size_t i = 0, len = s->v.lens[p];
		for (; i + 64 <= len; i += 64)
			fit_block(s->v.parts[p] + i, 64, limit, a, b, c, k);
		fit_block(s->v.parts[p] + i, len - i, limit, a, b, c, k);
	}
	struct ggpack_gg_sums sums = { 0 };
	for (int l = 0; l < FIT_LANES; l++) {
		sums.sum += a[l];
		sums.sum_abs += b[l];
		sums.sum_sq += c[l];
		sums.n += k[l];
	}
	return ggpack_gg_fit(&sums, g);
}

/* Step 4 and the counts of step 5, for N in-range elements. */
static int make_target(struct ds_state *s, double nu, double beta, int64_t mu, int64_t P, uint64_t N)
{
	/* w(d) at |L - mu| = d, and the last d where it is not 0 */
	int64_t D = 0;
	while (D < P && exp(-pow((double)(D + 1) / beta, nu)) > 0)
		D++;
	double sum = 0;
	for (int64_t L = mu - D; L <= mu + D; L++) /* ascending L: one fixed order */
		sum += exp(-pow(fabs((double)(L - mu)) / beta, nu));
	int64_t K = 0;
	while (K < D && floor((double)N * exp(-pow((double)(K + 1) / beta, nu)) / sum) >= 1)
		K++;
	s->t.first_level = mu - K;
	s->t.n_levels = (size_t)(2 * K + 1);
	s->t.T = malloc((s->t.n_levels + 1) * sizeof *s->t.T);
	if (!s->t.T)
		return nomem(s);
	s->t.T[0] = 0;
	for (size_t i = 0; i < s->t.n_levels; i++) {
		double w = exp(-pow(fabs((double)(s->t.first_level + (int64_t)i - mu)) / beta, nu));
		s->t.T[i + 1] = s->t.T[i] + (uint64_t)floor((double)N * w / sum);
	}
	return 0;
}

/* The target level of rank r, KEEP past the counted ranks; *i walks up. */
static int64_t level_of_rank(const struct ds_target *t, uint64_t r, size_t *i)
{
	while (*i < t->n_levels && t->T[*i + 1] <= r)
		(*i)++;
	return *i < t->n_levels ? t->first_level + (int64_t)*i : KEEP;
}

/* The entry of h for an in-range level q. */
static size_t entry_of(const struct ds_state *s, int64_t q)
{
	if (s->dense)
		return s->dense[q - s->h->symbols[s->first]];
	size_t lo = s->first, hi = s->last;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (s->h->symbols[mid] <= q)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int make_dense_index(struct ds_state *s)
{
	if (s->first == s->last)
		return 0;
	int64_t lo = s->h->symbols[s->first], hi = s->h->symbols[s->last - 1];
	if (hi - lo >= DENSE_INDEX_MAX)
		return 0; /* binary search instead */
	s->dense = malloc((size_t)(hi - lo + 1) * sizeof *s->dense);
	if (!s->dense)
		return nomem(s);
	for (size_t e = s->first; e < s->last; e++)
		s->dense[s->h->symbols[e] - lo] = (uint32_t)e;
	return 0;
}

/* Monotone key of a float: unsigned order equals numeric order. */
static inline uint32_t float_key(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Every in-range level is cut into s->sub sub-bins by where a value lies
 * within it; that is monotone in the value, so a sub-bin, like a level,
 * holds a contiguous run of ranks. */
#define BLOCK 64
#define ROUND_MAGIC 12582912.0f  /* 1.5 * 2^23: adding and taking it away rounds to an integer */

static inline unsigned sub_of(const struct ds_state *s, float y, float q)
{
	float f = (y - q + 0.5f) * (float)s->sub; /* only rounding, which keeps order */
	unsigned b = (unsigned)f;
	return b < s->sub ? b : s->sub - 1;
}

static inline float f_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline uint32_t u_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

/* c ? a : b for c in {0, 1}, with no branch */
static inline uint32_t pick(int32_t c, uint32_t a, uint32_t b)
{
	return (a & -(uint32_t)c) | (b & ((uint32_t)c - 1));
}

/* Direct bins cover every level of [lo, hi], so a value's bin is arithmetic
 * and a block of 64 vectorizes: rint by the magic number (exact under
 * round-to-nearest-even, no libm call), comparisons on the bits (GCC keeps
 * float ?: as jumps), masks instead of branches. */
static inline void block_bins_direct(const struct ds_state *s, const float *restrict x, size_t n,
				     float *restrict qf, int32_t *restrict bins)
{
	int32_t lo = (int32_t)s->lo, levels = (int32_t)(s->hi - s->lo + 1), sub = (int32_t)s->sub;
	float scale = s->scale, subf = (float)s->sub;
	for (size_t i = 0; i < n; i++) {
		float y = x[i] * scale;
		uint32_t yb = u_of(y);
		int32_t small = (int32_t)(yb & 0x7fffffff) < 0x4b000000; /* |y| < 2^23; else an integer */
		uint32_t qb = pick(small, u_of((y + ROUND_MAGIC) - ROUND_MAGIC), yb);
		float q = f_of(qb);
		qf[i] = q;
		int32_t big = (int32_t)(qb & 0x7fffffff) > 0x4e800000; /* |q| > 2^30: clamp to convert */
		int32_t rel = (int32_t)f_of(pick(big, (qb & 0x80000000) | 0x4e800000, qb)) - lo;
		int32_t b = (int32_t)((y - q + 0.5f) * subf);
		b = (int32_t)pick(b > sub - 1, (uint32_t)(sub - 1), (uint32_t)b);
		int32_t in = (uint32_t)rel < (uint32_t)levels;
		bins[i] = (int32_t)pick(in, (uint32_t)(rel * sub + b), (uint32_t)-1);
	}
}

/* For n values: their level q (rint of the scaled value, as a float) and
 * their bin, -1 out of range. */
static inline void block_bins(const struct ds_state *s, const float *restrict x, size_t n,
			      float *restrict qf, int32_t *restrict bins)
{
	if (s->direct) {
		block_bins_direct(s, x, n, qf, bins);
		return;
	}
	for (size_t i = 0; i < n; i++) { /* bins over the levels present, through a lookup */
		float y = x[i] * s->scale;
		int64_t q = (int64_t)rintf(y);
		qf[i] = (float)q;
		bins[i] = q < s->lo || q > s->hi ? -1 :
			  (int32_t)((entry_of(s, q) - s->first) * s->sub + sub_of(s, y, (float)q));
	}
}

/* A sub-bin whose run of ranks holds target boundaries: its keys, sorted,
 * and per boundary j (rank bound[j] from the bin's first starts group
 * j + 1) the threshold key thr[j], the keys below it, and the elements of
 * key thr[j] met so far in position order. */
struct edge_bin {
	uint32_t *keys;
	uint64_t n, fill;
	size_t n_bounds;
	uint64_t *bound, *below, *seen;
	uint32_t *thr;
	int64_t *group_level;      /* n_bounds + 1 */
};

static void edges_free(struct ds_state *s)
{
	for (size_t i = 0; i < s->n_edges; i++) {
		struct edge_bin *b = &s->edges[i];
		free(b->keys), free(b->bound), free(b->below), free(b->seen), free(b->thr), free(b->group_level);
	}
	free(s->edges);
	s->edges = NULL;
	s->n_edges = 0;
}

static int radix_sort(uint32_t *a, size_t n)
{
	uint32_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
	if (!tmp)
		return GGPACK_E_NOMEM;
	for (int shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[(a[i] >> shift & 0xff) + 1]++;
		if (count[(a[0] >> shift & 0xff) + 1] == n)
			continue; /* every key has this byte */
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[a[i] >> shift & 0xff]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
	free(tmp);
	return 0;
}

static uint64_t lower_bound(const uint32_t *a, uint64_t n, uint32_t key)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (a[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Runs the statements given for every value x[i] of the vector, block by
 * block, with its level q (a float) and its bin (-1 out of range). */
#define FOR_EACH_BIN(s, x, i, q, bin, ...)                                         \
	for (size_t p_ = 0; p_ < (s)->v.n_parts; p_++) {                            \
		float *x = (s)->v.parts[p_];                                            \
		size_t len_ = (s)->v.lens[p_];                                          \
		for (size_t b_ = 0; b_ < len_; b_ += BLOCK) {                          \
			float qs_[BLOCK];                                               \
			int32_t bins_[BLOCK];                                           \
			size_t n_ = len_ - b_ < BLOCK ? len_ - b_ : BLOCK;              \
			if (n_ == BLOCK)                                                \
				block_bins(s, x + b_, BLOCK, qs_, bins_);               \
			else                                                            \
				block_bins(s, x + b_, n_, qs_, bins_);                  \
			for (size_t k_ = 0; k_ < n_; k_++) {                            \
				size_t i = b_ + k_;                                     \
				float q = qs_[k_];                                      \
				int32_t bin = bins_[k_];                                \
				__VA_ARGS__                                             \
			}                                                               \
		}                                                                       \
	}

/* Pass 4: how many in-range elements fall in each sub-bin. */
static void bin_count_pass(struct ds_state *s)
{
	FOR_EACH_BIN(s, x, i, q, bin, {
		(void)i, (void)q;
		if (bin >= 0)
			s->bin_count[bin]++;
	})
}

/* The boundaries inside the run [r0, r0 + n) of an edge bin. */
static int edge_make(const struct ds_state *s, uint64_t r0, uint64_t n, size_t ti, struct edge_bin *b)
{
	size_t cap = 4, m = 0;
	int64_t prev = level_of_rank(&s->t, r0, &ti);
	b->n = n;
	b->keys = malloc(n * sizeof *b->keys);
	b->bound = malloc(cap * sizeof *b->bound);
	b->group_level = malloc((cap + 1) * sizeof *b->group_level);
	if (!b->keys || !b->bound || !b->group_level)
		return GGPACK_E_NOMEM;
	b->group_level[0] = prev;
	for (size_t i = ti; i < s->t.n_levels && s->t.T[i + 1] < r0 + n; i++) {
		size_t tj = ti;
		int64_t L = level_of_rank(&s->t, s->t.T[i + 1], &tj);
		if (s->t.T[i + 1] <= r0 || L == prev)
			continue;
		if (m == cap) {
			cap *= 2;
			void *x = realloc(b->bound, cap * sizeof *b->bound);
			if (x)
				b->bound = x;
			void *y = x ? realloc(b->group_level, (cap + 1) * sizeof *b->group_level) : NULL;
			if (!y)
				return GGPACK_E_NOMEM;
			b->group_level = y;
		}
		b->bound[m] = s->t.T[i + 1] - r0;
		b->group_level[++m] = prev = L;
	}
	b->n_bounds = m;
	b->below = malloc((m + 1) * sizeof *b->below);
	b->seen = calloc(m + 1, sizeof *b->seen);
	b->thr = malloc((m + 1) * sizeof *b->thr);
	return b->below && b->seen && b->thr ? 0 : GGPACK_E_NOMEM;
}

/* Walks the sub-bins in rank order: a bin inside one target's ranks maps
 * to it (or keeps its q past the counted ranks); the others are edge bins. */
static int bins_map(struct ds_state *s)
{
	size_t levels = s->direct ? (size_t)(s->hi - s->lo + 1) : s->last - s->first;
	size_t n_bins = levels * s->sub, cap = 16, ti = 0;
	uint64_t rank = 0;
	s->bin_target = malloc((n_bins ? n_bins : 1) * sizeof *s->bin_target);
	s->edges = calloc(cap, sizeof *s->edges);
	if (!s->bin_target || !s->edges)
		return nomem(s);
	for (size_t i = 0; i < n_bins; i++) {
		uint64_t n = s->bin_count[i];
		size_t tj = ti;
		int64_t a = level_of_rank(&s->t, rank, &ti);
		int64_t b = n ? level_of_rank(&s->t, rank + n - 1, &tj) : a;
		if (a == b) {
			s->bin_target[i] = a == KEEP ? BIN_KEEP : (int32_t)(a - s->t.first_level);
		} else {
			if (s->n_edges == cap) {
				void *x = realloc(s->edges, 2 * cap * sizeof *s->edges);
				if (!x)
					return nomem(s);
				s->edges = x;
				memset(s->edges + cap, 0, cap * sizeof *s->edges);
				cap *= 2;
			}
			s->bin_target[i] = BIN_EDGE - (int32_t)s->n_edges;
			if (edge_make(s, rank, n, ti, &s->edges[s->n_edges++]))
				return nomem(s);
		}
		rank += n;
	}
	return 0;
}

/* Pass 5: the keys of the edge bins (in any order: they are sorted). */
static void gather_pass(struct ds_state *s)
{
	FOR_EACH_BIN(s, x, i, q, bin, {
		(void)q;
		int32_t t = bin >= 0 ? s->bin_target[bin] : BIN_KEEP;
		if (t <= BIN_EDGE) {
			struct edge_bin *e = &s->edges[BIN_EDGE - t];
			e->keys[e->fill++] = float_key(x[i]);
		}
	})
}

/* Sorts each edge bin's keys and turns its boundaries into thresholds. */
static int thresholds(struct ds_state *s)
{
	for (size_t i = 0; i < s->n_edges; i++) {
		struct edge_bin *b = &s->edges[i];
		if (radix_sort(b->keys, b->n))
			return nomem(s);
		for (size_t j = 0; j < b->n_bounds; j++) {
			b->thr[j] = b->keys[b->bound[j]];
			b->below[j] = lower_bound(b->keys, b->n, b->thr[j]);
		}
	}
	return 0;
}

/* The target of an element of key k in an edge bin, elements met in
 * position order: past every threshold below k, and at a threshold equal
 * to k, below it while the boundary has room (the order by position). */
static int64_t edge_level(struct edge_bin *b, uint32_t k)
{
	size_t lo = 0, hi = b->n_bounds;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->thr[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->n_bounds && b->thr[lo] == k) {
		uint64_t rank = b->below[lo] + b->seen[lo]++;
		while (lo < b->n_bounds && b->thr[lo] == k && b->bound[lo] <= rank)
			lo++;
	}
	return b->group_level[lo];
}

/* Pass 6: every element, in position order. */
static void assign_pass(struct ds_state *s)
{
	float delta = (float)s->delta;
	uint64_t reassigned = 0;
	FOR_EACH_BIN(s, x, i, q, bin, {
		int32_t t = bin >= 0 ? s->bin_target[bin] : BIN_KEEP;
		int64_t L = KEEP;
		if (t >= 0)
			L = s->t.first_level + t;
		else if (t <= BIN_EDGE)
			L = edge_level(&s->edges[BIN_EDGE - t], float_key(x[i]));
		reassigned += L != KEEP;
		x[i] = (L == KEEP ? q : (float)L) * delta;
	})
	s->r.reassigned = reassigned;
}

/* Every value on the grid, keeping its level. */
static void snap_pass(struct ds_state *s)
{
	float delta = (float)s->delta;
	for (size_t p = 0; p < s->v.n_parts; p++)
		for (size_t i = 0; i < s->v.lens[p]; i++)
			s->v.parts[p][i] = rintf(s->v.parts[p][i] * s->scale) * delta;
}

/* Passes 4-6 once the targets are known. */
static int reshape(struct ds_state *s)
{
	s->lo = s->r.mu_q - s->r.P;
	s->hi = s->r.mu_q + s->r.P;
	/* bins over every level of the range when it is small enough, else
	 * over the levels present (through a lookup) */
	s->direct = s->hi - s->lo < (int64_t)MAX_BINS && s->lo > -(1 << 29) && s->hi < (1 << 29);
	size_t levels = s->direct ? (size_t)(s->hi - s->lo + 1) : s->last - s->first;
	s->sub = 64;
	while (s->sub > 1 && levels * s->sub > MAX_BINS)
		s->sub /= 2; /* many in-range levels: fewer sub-bins each */
	s->bin_count = calloc(levels * s->sub + 1, sizeof *s->bin_count);
	if (!s->bin_count)
		return nomem(s);
	bin_count_pass(s);
	int rc = bins_map(s);
	if (!rc) {
		gather_pass(s);
		rc = thresholds(s);
	}
	if (!rc)
		assign_pass(s);
	return rc;
}

/* Steps 1-3: levels, P, the fit; and the in-range entries. */
static int analyse(struct ds_state *s, const struct ggpack_deepshape_params *prm, struct ggpack_gg *g,
		   bool *fitted)
{
	int rc = hist_grid_parts(s->v.parts, s->v.lens, s->v.n_parts, prm->grid, &s->h);
	if (rc == GGPACK_E_INVALID)
		return ctx_fail(s->ctx, rc, "DeepShape: a weight is NaN or infinite");
	if (rc)
		return nomem(s);
	s->r.P = find_P(s->h, prm->min_count);
	*fitted = s->r.P > 0 && fit_in_range(s, s->r.P, g) == 0;
	s->r.mu_q = *fitted ? (int64_t)trunc(g->mean / s->delta) : 0;
	int64_t lo = s->r.mu_q - s->r.P, hi = s->r.mu_q + s->r.P;
	for (s->first = 0; s->first < s->h->k && s->h->symbols[s->first] < lo; s->first++)
		;
	for (s->last = s->first; s->last < s->h->k && s->h->symbols[s->last] <= hi; s->last++)
		s->r.in_range += s->h->counts[s->last];
	return 0;
}

static int deepshape_vector(struct ds_state *s, const struct ggpack_deepshape_params *prm)
{
	struct ggpack_gg g = { 0 };
	bool fitted = false;
	s->scale = ldexpf(1.0f, prm->grid);
	s->delta = ldexp(1.0, -prm->grid);
	s->r.grid = prm->grid;
	s->r.min_count = prm->min_count;
	s->r.n = s->v.n;
	int rc = analyse(s, prm, &g, &fitted);
	if (rc)
		return rc;
	s->r.before = g;
	if (!fitted || !s->r.in_range) {
		snap_pass(s); /* nothing to reshape (no values, or all zero): step 6 only */
		return 0;
	}
	s->r.shape_after = prm->shape_scale * g.shape;
	s->r.scale_after = prm->std_scale * g.scale;
	if ((rc = make_target(s, s->r.shape_after, prm->std_scale * g.scale / s->delta, s->r.mu_q,
			      s->r.P, s->r.in_range)) ||
	    (rc = make_dense_index(s)))
		return rc;
	return reshape(s);
}

static int check_params(struct ggpack_ctx *ctx, const struct ggpack_deepshape_params *p)
{
	if (p->grid < -60 || p->grid > 60 || !(p->shape_scale > 0) || !(p->std_scale > 0))
		return ctx_fail(ctx, GGPACK_E_USAGE, "DeepShape: grid must be in -60..60 and the scales positive");
	return 0;
}

void ggpack_deepshape_defaults(struct ggpack_deepshape_params *p)
{
	*p = (struct ggpack_deepshape_params){ 13, 1000, 0.8, 0.6 };
}

int ggpack_deepshape(struct ggpack_ctx *ctx, float *const *parts, const size_t *lens, size_t n_parts,
		     const struct ggpack_deepshape_params *params, struct ggpack_deepshape_result *result)
{
	struct ds_state s;
	memset(&s, 0, sizeof s);
	s.ctx = ctx;
	int rc = check_params(ctx, params);
	if (rc)
		return rc;
	s.v = (struct ds_vector){ parts, lens, n_parts, malloc((n_parts + 1) * sizeof(size_t)), 0 };
	if (!s.v.starts)
		return nomem(&s);
	for (size_t p = 0; p < n_parts; p++) {
		s.v.starts[p] = s.v.n;
		s.v.n += lens[p];
	}
	s.v.starts[n_parts] = s.v.n;
	if (!s.v.n) { /* nothing to shape */
		memset(result, 0, sizeof *result);
		result->grid = params->grid;
		result->min_count = params->min_count;
		state_free(&s);
		return 0;
	}
	rc = deepshape_vector(&s, params);
	if (!rc)
		*result = s.r;
	state_free(&s);
	return rc;
}

/* Scope tensor: rms spans R = clamp(sqrt(n)/2, 16, 128) levels, so that a
 * small tensor still has enough levels to reshape and a large one is not
 * cut finer than its numbers; min_count = n / (64 R) puts the cut where a
 * level holds about 1/26 of the peak's count whatever n is (docs/). */
int ggpack_deepshape_tensor(struct ggpack_ctx *ctx, float *values, size_t n,
			    const struct ggpack_deepshape_params *params,
			    struct ggpack_deepshape_result *result)
{
	struct ggpack_gg_sums sums = { 0 };
	ggpack_gg_sums_add_f32(&sums, values, n);
	double rms = n ? sqrt(sums.sum_sq / (double)n) : 0;
	struct ggpack_deepshape_params p = *params;
	double R = fmin(fmax(sqrt((double)n) / 2, 16), 128);
	if (!(rms > 0) || !isfinite(rms)) {
		p.grid = 0, p.min_count = 0; /* all zero: nothing to shape */
	} else {
		p.grid = (int)lround(log2(R / rms));
		p.grid = p.grid < -60 ? -60 : p.grid > 60 ? 60 : p.grid;
		p.min_count = (uint64_t)floor((double)n / (64 * R));
	}
	return ggpack_deepshape(ctx, &values, &n, 1, &p, result);
}
