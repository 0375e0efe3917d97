/*
 * deepshape.c - DeepShape: histogram specification of the selected weights
 * toward a narrower generalized Gaussian (ALGORITHMS.md), scope model and
 * scope tensor: the levels, P, the fit and the target counts (steps 1-4),
 * and the API. Step 5, every element's new level without a full sort, is
 * deepshape_bins.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepshape.h"

static void state_free(struct ds_state *s)
{
	ggpack_hist_free(s->h);
	free(s->v.chunks);
	free(s->v.at);
	free(s->v.part_chunk0);
	free(s->v.buf);
	free(s->t.T);
	free(s->dense);
	free(s->bin_count);
	ds_work_free(s);
	free(s->bin_target_mem);
	free(s->bin_value_mem);
	free(s->edge_next);
	ds_edges_free(s);
}

/* The chunks of every part, in order, and where each begins. */
static int vector_chunks(struct ds_vector *v)
{
	size_t n = 0;
	for (size_t p = 0; p < v->n_parts; p++)
		n += chunks_of(v->lens[p]), v->n += v->lens[p];
	v->chunks = malloc((n + 1) * sizeof *v->chunks);
	v->at = malloc((n + 1) * sizeof *v->at);
	v->part_chunk0 = malloc((v->n_parts + 1) * sizeof *v->part_chunk0);
	if (v->src)
		v->buf = malloc((size_t)parallel_threads() * CHUNK * sizeof *v->buf);
	if (!v->chunks || !v->at || !v->part_chunk0 || (v->src && !v->buf))
		return GGPACK_E_NOMEM;
	n = 0;
	for (size_t p = 0; p < v->n_parts; p++) {
		v->part_chunk0[p] = n;
		for (size_t k = 0; k < chunks_of(v->lens[p]); k++, n++) {
			v->chunks[n] = (struct chunk){ v->parts ? v->parts[p] + k * CHUNK : NULL, chunk_len(v->lens[p], k) };
			v->at[n] = (struct ds_chunk_at){ p, k * CHUNK };
		}
	}
	v->n_chunks = n;
	return 0;
}

const float *ds_chunk_values(const struct ds_state *s, size_t c, unsigned worker)
{
	const struct ds_vector *v = &s->v;
	if (v->chunks[c].x)
		return v->chunks[c].x;
	float *buf = v->buf + (size_t)worker * CHUNK;
	v->src->read(v->src->arg, v->at[c].part, v->at[c].from, v->chunks[c].len, buf);
	return buf;
}

int ds_nomem(struct ds_state *s)
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
 * sums per moment, element i to lane i % 16, the lanes as vectors of 4
 * doubles (GCC's vector extensions: the compiler would not vectorize the
 * scalar form); the lanes are added in one fixed order at the end, so the
 * result depends on nothing but the values. */
#define FIT_LANES 16

struct fit_lanes {
	v4d sum[4], abs[4], sq[4];
	uint64_t n;
};

static inline void fit_block(const float *restrict x, size_t n, uint32_t limit, struct fit_lanes *f)
{
	size_t i = 0;
	v4i count = { 0 }; /* in-range elements, per lane: below 2^31 in a chunk */
	for (; i + FIT_LANES <= n; i += FIT_LANES)
		for (int g = 0; g < 4; g++) {
			v4i u;
			memcpy(&u, x + i + 4 * g, 16);
			v4i in = (u & 0x7fffffff) <= (int32_t)limit; /* -1 or 0; limit < 2^31 */
			v4f v = (v4f)(u & in);
			v4d d = __builtin_convertvector(v, v4d);
			f->sum[g] += d;
			f->abs[g] += (v4d)((v4l)d & 0x7fffffffffffffff);
			f->sq[g] += d * d;
			count -= in;
		}
	f->n += (uint64_t)count[0] + (uint64_t)count[1] + (uint64_t)count[2] + (uint64_t)count[3];
	for (size_t l = 0; i + l < n; l++) { /* the tail, lane by lane */
		uint32_t u;
		memcpy(&u, &x[i + l], 4);
		uint32_t in = (u & 0x7fffffff) <= limit;
		u &= -in;
		float v;
		memcpy(&v, &u, 4);
		f->sum[l / 4][l % 4] += v;
		f->abs[l / 4][l % 4] += fabs((double)v);
		f->sq[l / 4][l % 4] += (double)v * v;
		f->n += in;
	}
}

struct fit_job {
	struct ds_state *s;
	uint32_t limit;
	double (*sums)[4]; /* per chunk: sum, sum |x|, sum x^2, n */
};

SIMD_CLONES
static void fit_chunk(void *arg, size_t c, unsigned worker)
{
	struct fit_job *j = arg;
	struct fit_lanes f = { 0 };
	fit_block(ds_chunk_values(j->s, c, worker), j->s->v.chunks[c].len, j->limit, &f);
	for (int l = 0; l < FIT_LANES; l++) {
		j->sums[c][0] += f.sum[l / 4][l % 4];
		j->sums[c][1] += f.abs[l / 4][l % 4];
		j->sums[c][2] += f.sq[l / 4][l % 4];
	}
	j->sums[c][3] = (double)f.n;
}

/* Step 3: the fit over |p| <= P delta; chunk sums added in chunk order. */
static int fit_in_range(struct ds_state *s, int64_t P, struct ggpack_gg *g)
{
	float flimit = (float)((double)P * s->delta); /* a power of 2 times an integer below 2^24 */
	struct fit_job j = { s, 0, calloc(s->v.n_chunks + 1, sizeof *j.sums) };
	if (!j.sums)
		return GGPACK_E_NOMEM;
	memcpy(&j.limit, &flimit, 4);
	if ((double)flimit != (double)P * s->delta)
		j.limit = 0x7f7fffff; /* P delta not a float: every finite value is within it */
	parallel_for(s->v.n_chunks, fit_chunk, &j);
	struct ggpack_gg_sums sums = { 0 };
	for (size_t c = 0; c < s->v.n_chunks; c++) {
		sums.sum += j.sums[c][0];
		sums.sum_abs += j.sums[c][1];
		sums.sum_sq += j.sums[c][2];
		sums.n += j.sums[c][3];
	}
	free(j.sums);
	return ggpack_gg_fit(&sums, g);
}

#define TARGET_SPAN_MAX (INT64_C(1) << 24) /* levels each side the sum of step 4 may walk */

/* w(d), the target weight at |L - mu| = d. */
static double target_w(int64_t d, double beta, double nu)
{
	return exp(-pow((double)d / beta, nu));
}

/* The last d <= P where w(d) is not 0 (w falls with d): the sum of step 4
 * adds nothing past it. A binary search: with a heavy shape and a huge P
 * (min_count 0 and an outlier) it lies far out. */
static int64_t target_span(int64_t P, double beta, double nu)
{
	int64_t lo = 0, hi = P; /* w(lo) > 0; the answer lies in [lo, hi] */
	while (lo < hi) {
		int64_t mid = lo + (hi - lo + 1) / 2;
		if (target_w(mid, beta, nu) > 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Step 4 and the counts of step 5, for N in-range elements. */
static int make_target(struct ds_state *s, double nu, double beta, int64_t mu, int64_t P, uint64_t N)
{
	int64_t D = target_span(P, beta, nu);
	if (D > TARGET_SPAN_MAX) /* a sum of 2D + 1 terms would take hours: refuse, and say why */
		return ctx_fail(s->ctx, GGPACK_E_USAGE,
				"DeepShape: the target's weights stay above 0 for %lld levels each side (P = %lld, "
				"shape %.3g), too many to sum: some weight lies far out from the rest; "
				"raise min_count (scope model) or leave that tensor out",
				(long long)D, (long long)P, nu);
	double sum = 0;
	for (int64_t L = mu - D; L <= mu + D; L++) /* ascending L: one fixed order */
		sum += target_w(L < mu ? mu - L : L - mu, beta, nu);
	int64_t K = 0;
	while (K < D && floor((double)N * target_w(K + 1, beta, nu) / sum) >= 1)
		K++;
	s->t.first_level = mu - K;
	s->t.n_levels = (size_t)(2 * K + 1);
	s->t.T = malloc((s->t.n_levels + 1) * sizeof *s->t.T);
	if (!s->t.T)
		return ds_nomem(s);
	s->t.T[0] = 0;
	for (size_t i = 0; i < s->t.n_levels; i++) {
		int64_t d = (int64_t)i - K; /* L - mu */
		s->t.T[i + 1] = s->t.T[i] + (uint64_t)floor((double)N * target_w(d < 0 ? -d : d, beta, nu) / sum);
	}
	return 0;
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
		return ds_nomem(s);
	for (size_t e = s->first; e < s->last; e++)
		s->dense[s->h->symbols[e] - lo] = (uint32_t)e;
	return 0;
}

/* Steps 1-3: levels, P, the fit; and the in-range entries. */
static int analyse(struct ds_state *s, const struct ggpack_deepshape_params *prm, struct ggpack_gg *g,
		   bool *fitted)
{
	int rc = ds_levels(s, prm->grid);
	if (rc == GGPACK_E_INVALID)
		return ctx_fail(s->ctx, rc, "DeepShape: a weight is NaN or infinite");
	if (rc == DS_NEEDS_MEMORY)
		return rc;
	if (rc)
		return ds_nomem(s);
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
	if (!fitted || !s->r.in_range) { /* nothing to reshape (no values, or all zero): step 6 only */
		s->snap = true;
		if (!s->v.src)
			ds_snap(s);
		return 0;
	}
	s->r.shape_after = prm->shape_scale * g.shape;
	s->r.scale_after = prm->std_scale * g.scale;
	if ((rc = make_target(s, s->r.shape_after, prm->std_scale * g.scale / s->delta, s->r.mu_q,
			      s->r.P, s->r.in_range)) ||
	    (rc = make_dense_index(s)))
		return rc;
	return ds_reshape(s);
}

static int check_params(struct ggpack_ctx *ctx, const struct ggpack_deepshape_params *p)
{
	if (p->grid < -60 || p->grid > 60)
		return ctx_fail(ctx, GGPACK_E_USAGE, "DeepShape: grid %d is outside -60..60", p->grid);
	if (!(p->shape_scale > 0) || !(p->std_scale > 0))
		return ctx_fail(ctx, GGPACK_E_USAGE, "DeepShape: shape_scale %g and std_scale %g must be positive",
				p->shape_scale, p->std_scale);
	return 0;
}

void ggpack_deepshape_defaults(struct ggpack_deepshape_params *p)
{
	*p = (struct ggpack_deepshape_params){ 13, 1000, 0.8, 0.6 };
}

/* The vector's chunks, then steps 1-5 (the values in memory change; from
 * a source, s is left as the plan). */
static int deepshape_run(struct ds_state *s, const struct ggpack_deepshape_params *params,
			 struct ggpack_deepshape_result *result)
{
	int rc = check_params(s->ctx, params);
	if (rc)
		return rc;
	if (vector_chunks(&s->v))
		return ds_nomem(s);
	if (!s->v.n) { /* nothing to shape */
		memset(result, 0, sizeof *result);
		result->grid = params->grid;
		result->min_count = params->min_count;
		s->snap = true;
		return 0;
	}
	rc = deepshape_vector(s, params);
	if (!rc)
		*result = s->r;
	return rc;
}

int ggpack_deepshape(struct ggpack_ctx *ctx, float *const *parts, const size_t *lens, size_t n_parts,
		     const struct ggpack_deepshape_params *params, struct ggpack_deepshape_result *result)
{
	struct ds_state s;
	memset(&s, 0, sizeof s);
	s.ctx = ctx;
	s.v = (struct ds_vector){ .parts = parts, .lens = lens, .n_parts = n_parts };
	int rc = deepshape_run(&s, params, result);
	state_free(&s);
	return rc;
}

int ds_plan_make(struct ggpack_ctx *ctx, const size_t *lens, size_t n_parts, const struct ds_source *src,
		 const struct ggpack_deepshape_params *params, size_t runs_budget, struct ds_state **plan,
		 struct ggpack_deepshape_result *result)
{
	struct ds_state *s = calloc(1, sizeof *s);
	if (!s)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "DeepShape: out of memory");
	s->ctx = ctx;
	s->v = (struct ds_vector){ .lens = lens, .n_parts = n_parts, .src = src };
	s->collecting.budget = runs_budget;
	int rc = deepshape_run(s, params, result);
	if (!rc)
		ds_plan_narrow(s);
	free(s->v.buf), free(s->bin_count), free(s->edge_next); /* counting is done */
	s->v.buf = NULL, s->bin_count = NULL, s->edge_next = NULL;
	ds_work_free(s);
	if (rc) {
		ds_plan_free(s);
		return rc;
	}
	*plan = s;
	return 0;
}

void ds_plan_free(struct ds_state *plan)
{
	if (plan)
		state_free(plan);
	free(plan);
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
