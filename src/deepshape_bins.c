/*
 * deepshape_bins.c - DeepShape step 5: every in-range element's new level.
 * Each in-range level is cut into sub-bins by where a value lies within it
 * (monotone in the value, so a sub-bin holds a contiguous run of ranks); a
 * table maps a sub-bin inside one target level's ranks straight to it, and
 * only the "edge" sub-bins holding a target boundary have their values
 * sorted. Each boundary becomes a threshold value and the count of values
 * below it; one pass assigns every element, ties at a threshold going below
 * it first in position order (earlier chunks first, then within a chunk).
 * Chunks run on several threads; nothing depends on how many.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepshape.h"

/* The target level of rank r, KEEP past the counted ranks; *i walks up. */
int64_t level_of_rank(const struct ds_target *t, uint64_t r, size_t *i)
{
	while (*i < t->n_levels && t->T[*i + 1] <= r)
		(*i)++;
	return *i < t->n_levels ? t->first_level + (int64_t)*i : KEEP;
}

/* The entry of h for an in-range level q. */
size_t entry_of(const struct ds_state *s, int64_t q)
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

static inline unsigned sub_of(const struct ds_state *s, float y, float q)
{
	float f = (y - q + 0.5f) * (float)s->sub; /* only rounding, which keeps order */
	unsigned b = (unsigned)f;
	return b < s->sub ? b : s->sub - 1;
}

/* Direct bins cover every level of [lo, hi], so a value's bin is arithmetic
 * and a block of 64 vectorizes: rint_float, comparisons on the bits,
 * masks instead of branches. */
static inline void block_bins_direct(const struct ds_state *s, const float *restrict x, size_t n,
				     float *restrict qf, int32_t *restrict bins)
{
	int32_t lo = (int32_t)s->lo, levels = (int32_t)(s->hi - s->lo + 1), sub = (int32_t)s->sub;
	float scale = s->scale, subf = (float)s->sub;
	for (size_t i = 0; i < n; i++) {
		float y = x[i] * scale, q = rint_float(y);
		uint32_t qb = u32_of(q);
		qf[i] = q;
		int32_t big = (int32_t)(qb & 0x7fffffff) > 0x4e800000; /* |q| > 2^30: clamp to convert */
		int32_t rel = (int32_t)f32_of(pick_u32(big, (qb & 0x80000000) | 0x4e800000, qb)) - lo;
		int32_t b = (int32_t)((y - q + 0.5f) * subf);
		b = (int32_t)pick_u32(b > sub - 1, (uint32_t)(sub - 1), (uint32_t)b);
		int32_t in = (uint32_t)rel < (uint32_t)levels;
		bins[i] = (int32_t)pick_u32(in, (uint32_t)(rel * sub + b), (uint32_t)-1);
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
		int64_t q = level_of(y);
		qf[i] = (float)q;
		bins[i] = q < s->lo || q > s->hi ? -1 :
			  (int32_t)((entry_of(s, q) - s->first) * s->sub + sub_of(s, y, (float)q));
	}
}

/* A sub-bin whose run of ranks holds target boundaries: its keys (each
 * with its chunk in the low 32 bits), sorted; and per boundary j (rank
 * bound[j] from the bin's first starts group j + 1) the threshold key
 * thr[j], the keys below it, and the sorted chunks of the elements equal
 * to thr[j] (run[j], run_len[j]): a tie's rank in position order is the
 * ties in earlier chunks plus those met before it in its own. */
struct edge_bin {
	uint64_t *keys;
	uint64_t n;
	uint64_t *cursor;          /* per worker: where its next key goes */
	size_t n_bounds, first_bound; /* its boundaries' place among all edge bins' */
	uint64_t *bound, *below, *run_len;
	uint32_t *thr, **run;
	int64_t *group_level;      /* n_bounds + 1 */
};

/* A worker's next tie rank in its current chunk, per boundary: the keys
 * below the threshold, the ties of earlier chunks, and those met so far. */
struct tie_count {
	uint32_t *chunk; /* chunk + 1 the rank belongs to, 0 for none */
	uint64_t *next;
};

void ds_edges_free(struct ds_state *s)
{
	for (size_t i = 0; i < s->n_edges; i++) {
		struct edge_bin *b = &s->edges[i];
		for (size_t j = 0; j < b->n_bounds; j++)
			if (!j || b->run[j] != b->run[j - 1])
				free(b->run[j]);
		free(b->keys), free(b->cursor), free(b->bound), free(b->below), free(b->run_len), free(b->thr);
		free(b->run), free(b->group_level);
	}
	free(s->edges);
	s->edges = NULL;
	s->n_edges = 0;
}

/* Sorts by the high 32 bits (the key); the low bits (the chunk) ride along. */
static int radix_sort(uint64_t *a, size_t n)
{
	uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
	if (!tmp)
		return GGPACK_E_NOMEM;
	for (int shift = 32; shift < 64; shift += 8) {
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

/* The first place of a sorted array (by key) whose key is >= key. */
static uint64_t key_lower_bound(const uint64_t *a, uint64_t n, uint32_t key)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if ((uint32_t)(a[mid] >> 32) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t u32_lower_bound(const uint32_t *a, uint64_t n, uint32_t v)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Runs the statements given for every value x[i] of chunk c, block by
 * block, with its level q (a float) and its bin (-1 out of range). */
#define FOR_EACH_BIN(s, c, x, i, q, bin, ...)                                      \
	do {                                                                        \
		float *x = (s)->v.chunks[c].x;                                          \
		size_t len_ = (s)->v.chunks[c].len;                                     \
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
	} while (0)

struct count_job {
	struct ds_state *s;
	uint64_t *counts; /* per worker, n_bins each */
	size_t n_bins;
};

SIMD_CLONES
static void bin_count_chunk(void *arg, size_t c, unsigned worker)
{
	struct count_job *j = arg;
	uint64_t *counts = j->counts + (size_t)worker * j->n_bins;
	FOR_EACH_BIN(j->s, c, x, i, q, bin, {
		(void)x, (void)i, (void)q;
		if (bin >= 0)
			counts[bin]++;
	});
}

/* Pass 4: how many in-range elements fall in each sub-bin, per worker (a
 * fixed assignment of chunks, kept for the gather: each worker then
 * writes its keys at its own offsets). Integer sums are exact. */
static int bin_count_pass(struct ds_state *s, size_t n_bins)
{
	unsigned workers = parallel_workers(s->v.n_chunks);
	if (n_bins * workers > ((size_t)1 << 24))
		workers = 1; /* counters too large to keep one set per worker */
	struct count_job j = { s, calloc(n_bins * workers + 1, sizeof *j.counts), n_bins };
	if (!j.counts)
		return GGPACK_E_NOMEM;
	parallel_for_static(s->v.n_chunks, workers, bin_count_chunk, &j);
	for (size_t b = 0; b < n_bins; b++)
		for (unsigned w = 0; w < workers; w++)
			s->bin_count[b] += j.counts[(size_t)w * n_bins + b];
	s->worker_count = j.counts;
	s->workers = workers;
	return 0;
}

/* The boundaries inside the run [r0, r0 + n) of an edge bin. */
static int edge_make(const struct ds_state *s, uint64_t r0, uint64_t n, size_t ti, struct edge_bin *b)
{
	size_t cap = 4, m = 0;
	int64_t prev = level_of_rank(&s->t, r0, &ti);
	b->n = n;
	b->keys = malloc((n ? n : 1) * sizeof *b->keys);
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
	b->run_len = malloc((m + 1) * sizeof *b->run_len);
	b->run = calloc(m + 1, sizeof *b->run);
	b->thr = malloc((m + 1) * sizeof *b->thr);
	return b->below && b->run_len && b->run && b->thr ? 0 : GGPACK_E_NOMEM;
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
		return ds_nomem(s);
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
					return ds_nomem(s);
				s->edges = x;
				memset(s->edges + cap, 0, cap * sizeof *s->edges);
				cap *= 2;
			}
			s->bin_target[i] = BIN_EDGE - (int32_t)s->n_edges;
			struct edge_bin *e = &s->edges[s->n_edges++];
			if (edge_make(s, rank, n, ti, e) || !(e->cursor = malloc(s->workers * sizeof *e->cursor)))
				return ds_nomem(s);
			for (unsigned w = 0, at = 0; w < s->workers; w++) {
				e->cursor[w] = at; /* worker w's keys follow those of the workers before */
				at += s->worker_count[(size_t)w * n_bins + i];
			}
			e->first_bound = s->n_bounds_total;
			s->n_bounds_total += e->n_bounds;
		}
		rank += n;
	}
	return 0;
}

SIMD_CLONES
static void gather_chunk(void *arg, size_t c, unsigned worker)
{
	struct ds_state *s = arg;
	FOR_EACH_BIN(s, c, x, i, q, bin, {
		(void)q;
		int32_t t = bin >= 0 ? s->bin_target[bin] : BIN_KEEP;
		if (t <= BIN_EDGE) {
			struct edge_bin *e = &s->edges[BIN_EDGE - t];
			e->keys[e->cursor[worker]++] = (uint64_t)float_key(x[i]) << 32 | c;
		}
	});
}

/* The chunks of a run of ties, sorted by counting: a run can hold a whole
 * level (weights already on the grid), so no comparison sort. */
static int sort_chunks(uint32_t *a, uint64_t n, size_t n_chunks)
{
	uint64_t *count = calloc(n_chunks + 1, sizeof *count);
	if (!count)
		return GGPACK_E_NOMEM;
	for (uint64_t k = 0; k < n; k++)
		count[a[k]]++;
	for (size_t c = 0, at = 0; c < n_chunks; c++)
		for (uint64_t m = count[c]; m--;)
			a[at++] = (uint32_t)c;
	free(count);
	return 0;
}

/* Sorts an edge bin's keys, turns its boundaries into thresholds, and
 * keeps the sorted chunks of each threshold's ties. */
static int edge_thresholds(struct edge_bin *b, size_t n_chunks)
{
	if (radix_sort(b->keys, b->n))
		return GGPACK_E_NOMEM;
	for (size_t j = 0; j < b->n_bounds; j++) {
		b->thr[j] = (uint32_t)(b->keys[b->bound[j]] >> 32);
		b->below[j] = key_lower_bound(b->keys, b->n, b->thr[j]);
		if (j && b->thr[j] == b->thr[j - 1]) { /* the same ties */
			b->run[j] = b->run[j - 1];
			b->run_len[j] = b->run_len[j - 1];
			continue;
		}
		uint64_t end = b->thr[j] == UINT32_MAX ? b->n : key_lower_bound(b->keys, b->n, b->thr[j] + 1);
		b->run_len[j] = end - b->below[j];
		if (!(b->run[j] = malloc(b->run_len[j] * sizeof **b->run)))
			return GGPACK_E_NOMEM;
		for (uint64_t k = 0; k < b->run_len[j]; k++)
			b->run[j][k] = (uint32_t)b->keys[b->below[j] + k];
		if (sort_chunks(b->run[j], b->run_len[j], n_chunks))
			return GGPACK_E_NOMEM;
	}
	return 0;
}

/* The target of an element of key k in an edge bin, in chunk c: past every
 * threshold below k; at a threshold equal to k, below it while the
 * boundary has room in position order. */
static int64_t edge_level(struct edge_bin *b, uint32_t k, size_t c, struct tie_count *tc)
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
		size_t g = b->first_bound + lo;
		if (tc->chunk[g] != c + 1) { /* the first tie of this boundary in chunk c */
			tc->chunk[g] = (uint32_t)(c + 1);
			tc->next[g] = b->below[lo] + u32_lower_bound(b->run[lo], b->run_len[lo], (uint32_t)c);
		}
		uint64_t rank = tc->next[g]++;
		while (lo < b->n_bounds && b->thr[lo] == k && b->bound[lo] <= rank)
			lo++;
	}
	return b->group_level[lo];
}

SIMD_CLONES
static void assign_chunk(void *arg, size_t c, unsigned worker)
{
	struct ds_state *s = arg;
	float delta = (float)s->delta;
	uint64_t reassigned = 0;
	struct tie_count *tc = &s->ties[worker];
	FOR_EACH_BIN(s, c, x, i, q, bin, {
		int32_t t = bin >= 0 ? s->bin_target[bin] : BIN_KEEP;
		int64_t L = KEEP;
		if (t >= 0)
			L = s->t.first_level + t;
		else if (t <= BIN_EDGE)
			L = edge_level(&s->edges[BIN_EDGE - t], float_key(x[i]), c, tc);
		reassigned += L != KEEP;
		x[i] = (L == KEEP ? q : (float)L) * delta;
	});
	s->reassigned[c] = reassigned;
}

/* Passes 5 and 6: the edge bins' keys and thresholds, then every element. */
static int assign(struct ds_state *s)
{
	unsigned workers = parallel_workers(s->v.n_chunks);
	parallel_for_static(s->v.n_chunks, s->workers, gather_chunk, s);
	for (size_t i = 0; i < s->n_edges; i++)
		if (edge_thresholds(&s->edges[i], s->v.n_chunks))
			return ds_nomem(s);
	s->ties = calloc(workers, sizeof *s->ties);
	s->reassigned = calloc(s->v.n_chunks + 1, sizeof *s->reassigned);
	if (!s->ties || !s->reassigned)
		return ds_nomem(s);
	int rc = 0;
	for (unsigned w = 0; w < workers; w++) {
		s->ties[w].chunk = calloc(s->n_bounds_total + 1, sizeof *s->ties[w].chunk);
		s->ties[w].next = calloc(s->n_bounds_total + 1, sizeof *s->ties[w].next);
		if (!s->ties[w].chunk || !s->ties[w].next)
			rc = ds_nomem(s);
	}
	if (!rc)
		parallel_for(s->v.n_chunks, assign_chunk, s);
	for (unsigned w = 0; w < workers; w++)
		free(s->ties[w].chunk), free(s->ties[w].next);
	for (size_t c = 0; !rc && c < s->v.n_chunks; c++)
		s->r.reassigned += s->reassigned[c];
	return rc;
}

/* Every value on the grid, keeping its level. */
void ds_snap(struct ds_state *s)
{
	float delta = (float)s->delta;
	for (size_t p = 0; p < s->v.n_parts; p++)
		for (size_t i = 0; i < s->v.lens[p]; i++)
			s->v.parts[p][i] = rintf(s->v.parts[p][i] * s->scale) * delta;
}

/* Passes 4-6 once the targets are known. */
int ds_reshape(struct ds_state *s)
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
		return ds_nomem(s);
	int rc = bin_count_pass(s, levels * s->sub);
	if (rc)
		return ds_nomem(s);
	if ((rc = bins_map(s)))
		return rc;
	return assign(s);
}
