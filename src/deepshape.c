/*
 * deepshape.c - DeepShape: histogram specification of the selected weights
 * toward a narrower generalized Gaussian (ALGORITHMS.md), scope model and
 * scope tensor. The specified order of the in-range elements (ascending
 * value, ties by position) is never built by a full sort: rint is monotone,
 * so a grid level's elements hold a contiguous run of ranks, and a level
 * whose run lies inside one target level moves wholesale. Only the levels
 * whose run straddles a target boundary are ordered, by a stable radix sort
 * of their float bits gathered in position order.
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
	size_t *slot;              /* per entry: next free place in the straddle buffer */
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
	size_t ti = 0, straddlers = 0;
	for (size_t e = 0; e < h->k; e++) {
		s->target[e] = KEEP;
		if (e < s->first || e >= s->last)
			continue;
		s->rank0[e] = rank;
		int64_t a = level_of_rank(&s->t, rank, &ti);
		size_t tj = ti;
		int64_t b = level_of_rank(&s->t, rank + h->counts[e] - 1, &tj);
		s->target[e] = a == b ? a : STRADDLE;
		if (a != b) {
			s->slot[e] = straddlers;
			straddlers += h->counts[e];
		}
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

struct straddler {
	uint32_t key;
	uint64_t index; /* position in the whole vector */
};

/* Step 5, every element: levels that move wholesale are written; elements
 * of straddling levels are gathered, in position order, before anything
 * overwrites them. */
static void assign_pass(struct ds_state *s, struct straddler *buf)
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
				if (L == STRADDLE) {
					buf[s->slot[e]++] = (struct straddler){ float_key(x[i]), s->v.starts[p] + i };
					continue;
				}
			}
			x[i] = (float)(L == KEEP ? q : L) * delta;
		}
	}
}

/* Stable LSD radix sort by key; bytes all keys share are skipped. */
static int radix_sort(struct straddler *a, size_t n)
{
	struct straddler *tmp = malloc((n ? n : 1) * sizeof *tmp);
	if (!tmp)
		return GGPACK_E_NOMEM;
	for (int shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[(a[i].key >> shift & 0xff) + 1]++;
		if (count[(a[0].key >> shift & 0xff) + 1] == n)
			continue;
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[a[i].key >> shift & 0xff]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
	free(tmp);
	return 0;
}

static float *element_at(const struct ds_vector *v, uint64_t index)
{
	size_t lo = 0, hi = v->n_parts;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (v->starts[mid] <= index)
			lo = mid;
		else
			hi = mid;
	}
	return &v->parts[lo][index - v->starts[lo]];
}

/* Step 5 for the straddling levels: rank by rank, in (value, position) order. */
static int assign_straddlers(struct ds_state *s, struct straddler *buf)
{
	size_t start = 0;
	float delta = (float)s->delta;
	for (size_t e = s->first; e < s->last; e++) {
		if (s->target[e] != STRADDLE)
			continue;
		size_t n = s->h->counts[e], ti = 0;
		if (radix_sort(buf + start, n))
			return nomem(s);
		for (size_t r = 0; r < n; r++) {
			int64_t L = level_of_rank(&s->t, s->rank0[e] + r, &ti);
			*element_at(&s->v, buf[start + r].index) = (float)(L == KEEP ? s->h->symbols[e] : L) * delta;
			s->r.reassigned += L != KEEP;
		}
		start += n;
	}
	return 0;
}

static uint64_t count_reassigned(const struct ds_state *s)
{
	uint64_t n = 0;
	for (size_t e = s->first; e < s->last; e++)
		if (s->target[e] != KEEP && s->target[e] != STRADDLE)
			n += s->h->counts[e];
	return n;
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
	size_t n_straddle = 0;
	for (size_t e = s->first; e < s->last; e++)
		n_straddle += s->target[e] == STRADDLE ? s->h->counts[e] : 0;
	struct straddler *buf = malloc((n_straddle ? n_straddle : 1) * sizeof *buf);
	if (!buf)
		return nomem(s);
	assign_pass(s, buf);
	s->r.reassigned = count_reassigned(s);
	rc = assign_straddlers(s, buf);
	free(buf);
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
