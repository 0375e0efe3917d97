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

#define KEEP INT64_MIN            /* the level keeps its q */
#define STRADDLE (INT64_MIN + 1)  /* its elements are ordered one by one */
#define DENSE_INDEX_MAX (1u << 24)

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
	int64_t *target;           /* per entry of h: a level, KEEP or STRADDLE */
	uint64_t *rank0;           /* per entry: its first rank */
	size_t *slot;              /* per straddling entry: its struct straddle */
	struct ds_target t;
	uint32_t *dense;           /* level - h->symbols[first] -> entry, when small */
};

static void state_free(struct ds_state *s)
{
	ggpack_hist_free(s->h);
	free(s->v.starts);
	free(s->target);
	free(s->rank0);
	free(s->slot);
	free(s->t.T);
	free(s->dense);
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

/* Step 3: the fit over |p| <= P delta. */
static int fit_in_range(struct ds_state *s, int64_t P, struct ggpack_gg *g)
{
	struct ggpack_gg_sums sums = { 0 };
	double limit = (double)P * s->delta;
	for (size_t p = 0; p < s->v.n_parts; p++) {
		const float *x = s->v.parts[p];
		double a[4] = { 0 }, b[4] = { 0 }, c[4] = { 0 }, n = 0;
		for (size_t i = 0; i < s->v.lens[p]; i++) {
			double y = x[i];
			int in = fabs(y) <= limit;
			a[i & 3] += in ? y : 0;
			b[i & 3] += in ? fabs(y) : 0;
			c[i & 3] += in ? y * y : 0;
			n += in;
		}
		sums.sum += a[0] + a[1] + a[2] + a[3];
		sums.sum_abs += b[0] + b[1] + b[2] + b[3];
		sums.sum_sq += c[0] + c[1] + c[2] + c[3];
		sums.n += n;
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

/* Each in-range level moves wholesale, or straddles a boundary. */
static int map_levels(struct ds_state *s)
{
	const struct ggpack_hist *h = s->h;
	s->target = malloc(h->k * sizeof *s->target);
	s->rank0 = malloc(h->k * sizeof *s->rank0);
	s->slot = calloc(h->k, sizeof *s->slot);
	if (!s->target || !s->rank0 || !s->slot)
		return nomem(s);
	uint64_t rank = 0;
	size_t ti = 0;
	for (size_t e = 0; e < h->k; e++) {
		s->target[e] = KEEP;
		if (e < s->first || e >= s->last)
			continue;
		s->rank0[e] = rank;
		int64_t a = level_of_rank(&s->t, rank, &ti);
		size_t tj = ti;
		int64_t b = level_of_rank(&s->t, rank + h->counts[e] - 1, &tj);
		s->target[e] = a == b ? a : STRADDLE;
		rank += h->counts[e];
	}
	return 0;
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

/* One straddling level: its sorted keys, and its boundaries: where rank
 * bound[j] (from the level's first) starts group j + 1. The threshold
 * thr[j] is the key at that rank and below[j] the keys under it; seen[j]
 * counts the elements of key thr[j] met so far, in position order. */
struct straddle {
	size_t n_bounds;
	uint32_t *thr;
	uint64_t *below, *bound, *seen;
	int64_t *group_level;      /* n_bounds + 1 targets (KEEP past the counted ranks) */
};

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

/* Boundaries of level entry e from its sorted keys. */
static int straddle_make(const struct ds_state *s, size_t e, uint32_t *keys, struct straddle *st)
{
	uint64_t n = s->h->counts[e], r0 = s->rank0[e];
	size_t ti = 0, m = 0;
	int64_t prev = level_of_rank(&s->t, r0, &ti);
	/* at most one boundary per target level inside the run, plus the end */
	size_t cap = s->t.n_levels + 2;
	st->thr = malloc(cap * sizeof *st->thr);
	st->below = malloc(cap * sizeof *st->below);
	st->bound = malloc(cap * sizeof *st->bound);
	st->seen = calloc(cap, sizeof *st->seen);
	st->group_level = malloc((cap + 1) * sizeof *st->group_level);
	if (!st->thr || !st->below || !st->bound || !st->seen || !st->group_level || radix_sort(keys, n))
		return GGPACK_E_NOMEM;
	st->group_level[0] = prev;
	for (uint64_t r = 1; r < n; r++) {
		/* the next rank where the target changes: a T boundary, or the end of T */
		size_t tj = ti;
		int64_t L = level_of_rank(&s->t, r0 + r, &tj);
		if (L == prev)
			continue;
		st->bound[m] = r;
		st->thr[m] = keys[r];
		st->below[m] = lower_bound(keys, n, keys[r]);
		st->group_level[++m] = L;
		prev = L;
		ti = tj;
	}
	st->n_bounds = m;
	return 0;
}

static void straddle_free(struct straddle *st)
{
	free(st->thr);
	free(st->below);
	free(st->bound);
	free(st->seen);
	free(st->group_level);
}

/* The target of an element of key k in a straddling level, elements met in
 * position order. */
static int64_t straddle_level(struct straddle *st, uint32_t k)
{
	size_t m = st->n_bounds, j = 0, hi = m;
	while (j < hi) { /* j = boundaries whose threshold is below k */
		size_t mid = (j + hi) / 2;
		if (st->thr[mid] < k)
			j = mid + 1;
		else
			hi = mid;
	}
	if (j < m && st->thr[j] == k) {
		uint64_t rank = st->below[j] + st->seen[j]++;
		size_t g = j;
		while (g < m && st->bound[g] <= rank)
			g++;
		return st->group_level[g];
	}
	return st->group_level[j];
}

/* Step 5, every element, in position order. */
static void assign_pass(struct ds_state *s, struct straddle *st)
{
	int64_t lo = s->r.mu_q - s->r.P, hi = s->r.mu_q + s->r.P;
	float delta = (float)s->delta;
	for (size_t p = 0; p < s->v.n_parts; p++) {
		float *x = s->v.parts[p];
		for (size_t i = 0; i < s->v.lens[p]; i++) {
			int64_t q = (int64_t)rintf(x[i] * s->scale), L = KEEP;
			if (q >= lo && q <= hi) {
				size_t e = entry_of(s, q);
				L = s->target[e];
				if (L == STRADDLE)
					L = straddle_level(&st[s->slot[e]], float_key(x[i]));
				s->r.reassigned += L != KEEP;
			}
			x[i] = (float)(L == KEEP ? q : L) * delta;
		}
	}
}

/* The keys of the straddling levels, each level's in position order. */
static void gather_pass(struct ds_state *s, uint32_t *keys, size_t *fill)
{
	int64_t lo = s->r.mu_q - s->r.P, hi = s->r.mu_q + s->r.P;
	for (size_t p = 0; p < s->v.n_parts; p++) {
		const float *x = s->v.parts[p];
		for (size_t i = 0; i < s->v.lens[p]; i++) {
			int64_t q = (int64_t)rintf(x[i] * s->scale);
			if (q < lo || q > hi)
				continue;
			size_t e = entry_of(s, q);
			if (s->target[e] == STRADDLE)
				keys[fill[e]++] = float_key(x[i]);
		}
	}
}

/* Sorts the straddling levels' keys and makes their boundaries. */
static int straddles_make(struct ds_state *s, struct straddle **out, size_t *n_out)
{
	size_t n_levels = 0, total = 0;
	for (size_t e = s->first; e < s->last; e++)
		if (s->target[e] == STRADDLE) {
			s->slot[e] = n_levels++; /* index of its struct straddle */
			total += s->h->counts[e];
		}
	uint32_t *keys = malloc((total ? total : 1) * sizeof *keys);
	size_t *fill = malloc(s->h->k * sizeof *fill);
	struct straddle *st = calloc(n_levels ? n_levels : 1, sizeof *st);
	int rc = keys && fill && st ? 0 : GGPACK_E_NOMEM;
	for (size_t e = s->first, at = 0; !rc && e < s->last; e++)
		if (s->target[e] == STRADDLE) {
			fill[e] = at;
			at += s->h->counts[e];
		}
	if (!rc)
		gather_pass(s, keys, fill);
	for (size_t e = s->first, at = 0; !rc && e < s->last; e++)
		if (s->target[e] == STRADDLE) {
			rc = straddle_make(s, e, keys + at, &st[s->slot[e]]);
			at += s->h->counts[e];
		}
	free(keys);
	free(fill);
	*out = st;
	*n_out = n_levels;
	return rc ? nomem(s) : 0;
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
		s->first = s->last = 0; /* nothing to reshape: every value keeps its q */
		struct ds_target none = { 0, 0, NULL };
		s->t = none;
	} else {
		s->r.shape_after = prm->shape_scale * g.shape;
		s->r.scale_after = prm->std_scale * (g.scale / s->delta) * s->delta;
		if ((rc = make_target(s, s->r.shape_after, prm->std_scale * g.scale / s->delta, s->r.mu_q,
				      s->r.P, s->r.in_range)))
			return rc;
	}
	if ((rc = map_levels(s)) || (rc = make_dense_index(s)))
		return rc;
	struct straddle *st = NULL;
	size_t n_st = 0;
	rc = straddles_make(s, &st, &n_st);
	if (!rc)
		assign_pass(s, st);
	for (size_t i = 0; st && i < n_st; i++)
		straddle_free(&st[i]);
	free(st);
	return rc;
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
