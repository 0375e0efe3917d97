/*
 * deepshape_bins.c - DeepShape step 5: every in-range element's new level.
 * Each in-range level is cut into sub-bins by where a value lies within it
 * (monotone in the value, so a sub-bin holds a contiguous run of ranks); a
 * table maps a sub-bin inside one target level's ranks straight to it. One
 * pass assigns those, and collects the elements of the few "edge" sub-bins
 * that hold a target boundary, in position order; each edge bin is then
 * sorted by value, stably (so ties stay in position order, as
 * ALGORITHMS.md orders them), and its elements get their levels by rank.
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

/* Monotone key of a float: unsigned order equals numeric order, and -0
 * has the key of +0 (equal values: their order is their positions'). */
static inline uint32_t float_key(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	u = u & 0x7fffffffu ? u : 0;
	return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Every in-range level is cut into s->sub sub-bins by where a value lies
 * within it; that is monotone in the value, so a sub-bin, like a level,
 * holds a contiguous run of ranks. */
#define BLOCK 64

static inline unsigned sub_of(const struct ds_state *s, float y, float q)
{
	float f = (y - q + 0.5f) * (float)s->sub; /* only rounding, which keeps order */
	/* a level clamped at +-LEVEL_MAX holds every value past it, infinity
	 * too: those below it take the first sub-bin, those above the last */
	return f >= (float)s->sub || f != f ? s->sub - 1 : f > 0 ? (unsigned)f : 0;
}

/* When the sub-bins were counted with the levels (s->counted: the window
 * [lo, hi] of levels, s->sub sub-bins a level), a value's bin is its place
 * on the grid s->sub times finer: z = y sub is exact (a power of 2),
 * f = floor(z), and level floor((f + sub/2) / sub) is rint(y) but at an
 * exact half level y = k + 1/2, which rint sends to the even level: when
 * that is the lower one the value takes its last sub-bin. Few operations,
 * no branch. A value outside the window (NaN and infinity too) gets bin
 * -1; it is first set to 0, so z stays within int32. */
static inline __attribute__((always_inline)) void fine_bins(const struct ds_state *s, const float *restrict x,
							     size_t n, int32_t *restrict bins, bool check)
{
	int32_t sub = (int32_t)s->sub, base = -(int32_t)s->lo * sub;
	uint32_t win = s->win_bits, n_bins = (uint32_t)(s->hi - s->lo + 1) * (uint32_t)sub;
	float zscale = s->scale * (float)sub;
	for (size_t i = 0; i < n; i++) {
		uint32_t u = u32_of(x[i]);
		int32_t near = !check || (u & 0x7fffffff) <= win;
		float z = f32_of(u & -(uint32_t)near) * zscale;
		int32_t t = (int32_t)z; /* toward 0 */
		float tf = (float)t;
		int32_t up = t - (tf > z) + sub / 2; /* floor(z) + sub / 2 */
		int32_t tie = (tf == z) & ((up & (2 * sub - 1)) == sub); /* y = k + 1/2, k even */
		uint32_t bin = (uint32_t)(up - tie + base);
		bins[i] = check ? (int32_t)pick_u32(near & (bin < n_bins), bin, UINT32_MAX) : (int32_t)bin;
	}
}

/* Without the window's test where every value is known to lie inside it
 * (from a source, whose largest value sized it; in memory, once the count
 * found none outside): it is a third of the operations. */
static inline void block_bins_fine(const struct ds_state *s, const float *restrict x, size_t n,
				   int32_t *restrict bins)
{
	if (s->all_inside)
		fine_bins(s, x, n, bins, false);
	else
		fine_bins(s, x, n, bins, true);
}

/* Direct bins cover every level of [lo, hi], so a value's bin is arithmetic
 * and a block of 64 vectorizes: rint_float, comparisons on the bits,
 * masks instead of branches. */
static inline void block_bins_direct(const struct ds_state *s, const float *restrict x, size_t n,
				     float *restrict kept, int32_t *restrict bins)
{
	int32_t lo = (int32_t)s->lo, levels = (int32_t)(s->hi - s->lo + 1), sub = (int32_t)s->sub;
	float scale = s->scale, subf = (float)s->sub, delta = (float)s->delta;
	for (size_t i = 0; i < n; i++) {
		float y = x[i] * scale, q = rint_float(y);
		uint32_t qb = u32_of(q);
		kept[i] = grid_value(x[i], scale, delta);
		int32_t big = (int32_t)(qb & 0x7fffffff) > 0x4e800000; /* |q| > 2^30: clamp to convert */
		int32_t rel = (int32_t)f32_of(pick_u32(big, (qb & 0x80000000) | 0x4e800000, qb)) - lo;
		float frac = f32_of(pick_u32(big, 0, u32_of(y - q))); /* out of range when big; y may be inf */
		int32_t b = (int32_t)((frac + 0.5f) * subf);
		b = (int32_t)pick_u32(b > sub - 1, (uint32_t)(sub - 1), (uint32_t)b);
		int32_t in = (uint32_t)rel < (uint32_t)levels;
		/* unsigned: out of range the product may wrap, and is dropped */
		bins[i] = (int32_t)pick_u32(in, (uint32_t)rel * (uint32_t)sub + (uint32_t)b, (uint32_t)-1);
	}
}

/* For n values: the value each has on the grid (what it keeps out of
 * range) and its bin, -1 out of range. */
static inline void block_bins(const struct ds_state *s, const float *restrict x, size_t n,
			      float *restrict kept, int32_t *restrict bins)
{
	if (s->direct) {
		block_bins_direct(s, x, n, kept, bins);
		return;
	}
	for (size_t i = 0; i < n; i++) { /* bins over the levels present, through a lookup */
		float y = x[i] * s->scale;
		int64_t q = level_of(y);
		kept[i] = grid_value(x[i], s->scale, (float)s->delta);
		bins[i] = q < s->lo || q > s->hi ? -1 :
			  (int32_t)((entry_of(s, q) - s->first) * s->sub + sub_of(s, y, (float)q));
	}
}

/* An edge element's fine bin: where its value lies inside its sub-bin, in
 * s->fine equal steps. The sub-bin comes from the sub-bin's own code, and
 * the place is the value's distance from the sub-bin's start on the same
 * scale: monotone in the value, equal values together. A value at an
 * exact half level that the tie rule keeps below lies at the top: the
 * last fine bin. */
static inline unsigned fine_of(const struct ds_state *s, float x)
{
	float f;
	if (s->counted) { /* the start: bin - base - sub/2 on the z scale */
		int32_t bin, sub = (int32_t)s->sub;
		fine_bins(s, &x, 1, &bin, false); /* an edge element lies in the window */
		f = x * (s->scale * (float)sub) - (float)(bin + (int32_t)s->lo * sub - sub / 2);
	} else {
		float y = x * s->scale, q = s->direct ? rint_float(y) : (float)level_of(y);
		f = (y - q + 0.5f) * (float)s->sub - (float)sub_of(s, y, q);
	}
	unsigned r = (unsigned)(f * (float)s->fine);
	return r < s->fine ? r : s->fine - 1;
}

/* An element of an edge bin: its value's order key and its position
 * (chunk c, offset k: c CHUNK + k, which orders like the position). A
 * plan collects runs instead: `count` elements of the bin with this key,
 * from `where` on, none of the bin's others between them, in one part. */
struct edge_elem {
	uint32_t key;
	uint32_t count;
	uint64_t where;
};

/* A plan's group boundary in an edge bin: the first element of a group
 * is element m (from 0) of the run at `where` with this key; boundaries
 * in one run share its counter `slot` (ds_plan_apply counts the run's
 * elements as it meets them, in position order). */
struct edge_bound {
	uint32_t key;
	uint32_t slot;
	uint64_t where, m;
};

/* A worker's runs of one edge bin, in position order. */
struct run_list {
	struct edge_elem *r;
	size_t n, cap;
};

/* A sub-bin whose run of ranks holds target boundaries: its elements (in
 * position order, then sorted by key), and its groups: ranks below
 * bound[0] go to group_level[0], ranks from bound[j - 1] below bound[j] to
 * group_level[j], the rest to group_level[n_bounds]. */
struct edge_bin {
	struct edge_elem *elems;
	uint64_t n;
	size_t bin;                /* its sub-bin */
	size_t n_bounds;
	uint64_t *bound;
	int64_t *group_level;      /* n_bounds + 1; KEEP: the element keeps its q */
	uint64_t reassigned;
	struct edge_bound *first;  /* a plan's: where groups 1.. begin (ranks bound[j]) */
	size_t slot0;              /* a plan's: its boundaries' first counter */
	uint8_t *collect;          /* a plan's, refined: per fine bin, collect its elements */
	uint64_t *bound_in_runs;   /* a plan's, refined: bound[j] among the collected elements */
};

void ds_edges_free(struct ds_state *s)
{
	for (size_t i = 0; s->runs && i < s->workers * s->n_edges; i++)
		free(s->runs[i].r);
	free(s->runs);
	s->runs = NULL;
	for (size_t i = 0; i < s->n_edges; i++) {
		struct edge_bin *b = &s->edges[i];
		free(b->elems), free(b->bound), free(b->group_level), free(b->first);
		free(b->collect), free(b->bound_in_runs);
	}
	free(s->edges);
	s->edges = NULL;
	s->n_edges = 0;
}

/* Sorts by key, stably (least significant byte first), so that equal keys
 * keep the position order they were collected in; the scratch space is
 * the worker's, kept from one edge bin to the next. */
static int radix_sort(struct ds_state *s, unsigned worker, struct edge_elem *a, size_t n)
{
	if (n > s->sort_cap[worker]) {
		free(s->sort_tmp[worker]);
		if (!(s->sort_tmp[worker] = malloc(n * sizeof *a))) {
			s->sort_cap[worker] = 0;
			return GGPACK_E_NOMEM;
		}
		s->sort_cap[worker] = n;
	}
	struct edge_elem *tmp = s->sort_tmp[worker];
	for (int shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[(a[i].key >> shift & 0xff) + 1]++;
		if (!n || count[(a[0].key >> shift & 0xff) + 1] == n)
			continue; /* every key has this byte */
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[a[i].key >> shift & 0xff]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
	return 0;
}

/* Each worker counts in 32 bits (half the cache lines of 64 where the
 * increments land); one that has seen 2^31 elements adds them to 64-bit
 * counts of its own, made then (a model of 8 GiB per worker). */
#define NARROW_MAX ((uint64_t)1 << 31)

struct count_job {
	struct ds_state *s;
	uint64_t seen[PARALLEL_MAX];
	bool failed[PARALLEL_MAX];
	size_t n_bins;
};

static void narrow_flush(struct count_job *j, unsigned worker)
{
	struct ds_state *s = j->s;
	uint32_t *narrow = s->worker_count + (size_t)worker * j->n_bins;
	if (!s->worker_wide[worker] && !(s->worker_wide[worker] = calloc(j->n_bins, sizeof **s->worker_wide))) {
		j->failed[worker] = true;
		return;
	}
	for (size_t b = 0; b < j->n_bins; b++)
		s->worker_wide[worker][b] += narrow[b];
	memset(narrow, 0, j->n_bins * sizeof *narrow);
}

void ds_work_free(struct ds_state *s)
{
	for (unsigned w = 0; w < PARALLEL_MAX; w++)
		free(s->sort_tmp[w]), s->sort_tmp[w] = NULL, s->sort_cap[w] = 0;
	free(s->worker_count);
	s->worker_count = NULL;
	for (unsigned w = 0; w < PARALLEL_MAX; w++)
		free(s->worker_wide[w]), s->worker_wide[w] = NULL;
}

/* How many of a sub-bin's elements worker w saw. */
static uint64_t worker_seen(const struct ds_state *s, unsigned w, size_t n_bins, size_t b)
{
	return s->worker_count[(size_t)w * n_bins + b] + (s->worker_wide[w] ? s->worker_wide[w][b] : 0);
}

/* A value outside the counted window: kept aside while there is room. */
static __attribute__((noinline)) void outside_add(struct ds_outside *o, float x)
{
	uint32_t bits = u32_of(x) & 0x7fffffff;
	o->max_bits = bits > o->max_bits ? bits : o->max_bits;
	if (o->n < o->cap)
		o->x[o->n++] = x;
	else
		o->lost = true;
}

SIMD_CLONES
static void bin_count_chunk(void *arg, size_t c, unsigned worker)
{
	struct count_job *j = arg;
	uint32_t *counts = j->s->worker_count + (size_t)worker * j->n_bins;
	const float *x = ds_chunk_values(j->s, c, worker);
	size_t len = j->s->v.chunks[c].len;
	if ((j->seen[worker] += len) > NARROW_MAX)
		narrow_flush(j, worker), j->seen[worker] = len;
	for (size_t b = 0; b < len; b += BLOCK) {
		float kept[BLOCK];
		int32_t bins[BLOCK];
		size_t n = len - b < BLOCK ? len - b : BLOCK;
		if (j->s->counted && n == BLOCK)
			block_bins_fine(j->s, x + b, BLOCK, bins);
		else if (j->s->counted)
			block_bins_fine(j->s, x + b, n, bins);
		else
			block_bins(j->s, x + b, n, kept, bins);
		for (size_t k = 0; k < n; k++)
			if (bins[k] >= 0)
				counts[bins[k]]++;
			else if (j->s->counted)
				outside_add(&j->s->outside[worker], x[b + k]);
	}
}

/* How many elements fall in each sub-bin, per worker (a fixed assignment
 * of chunks, kept for the assigning pass: each worker then collects its
 * edge elements at its own offsets). Integer sums are exact. */
int ds_bin_count_pass(struct ds_state *s, size_t n_bins)
{
	unsigned workers = parallel_workers(s->v.n_chunks);
	if (n_bins * workers > ((size_t)1 << 24))
		workers = 1; /* counters too large to keep one set per worker */
	struct count_job j = { .s = s, .n_bins = n_bins };
	ds_work_free(s); /* an earlier count's (levels alone) */
	if (!(s->worker_count = calloc(n_bins * workers + 1, sizeof *s->worker_count)))
		return GGPACK_E_NOMEM;
	parallel_for_static(s->v.n_chunks, workers, bin_count_chunk, &j);
	for (unsigned w = 0; w < workers; w++)
		if (j.failed[w])
			return GGPACK_E_NOMEM;
	for (unsigned w = 0; w < workers; w++)
		for (size_t b = 0; b < n_bins; b++)
			s->bin_count[b] += worker_seen(s, w, n_bins, b);
	s->workers = workers;
	return 0;
}

/* The boundaries inside the run [r0, r0 + n) of an edge bin. */
static int edge_make(const struct ds_state *s, uint64_t r0, uint64_t n, size_t ti, struct edge_bin *b)
{
	size_t cap = 4, m = 0;
	int64_t prev = level_of_rank(&s->t, r0, &ti);
	b->n = n;
	b->elems = s->v.src ? NULL : malloc((n ? n : 1) * sizeof *b->elems); /* a plan's come as runs */
	b->bound = malloc(cap * sizeof *b->bound);
	b->group_level = malloc((cap + 1) * sizeof *b->group_level);
	if ((!s->v.src && !b->elems) || !b->bound || !b->group_level)
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
	return 0;
}

/* Where each worker puts the next element of each edge bin: after those
 * of the workers before it (which ran the chunks before its own). One
 * array per worker, so the pass that collects finds it in its cache. */
static int edge_cursors(struct ds_state *s, size_t n_bins)
{
	if (s->v.src) { /* a plan: runs, as many as they come */
		s->runs = calloc(s->workers * s->n_edges + 1, sizeof *s->runs);
		return s->runs ? 0 : ds_nomem(s);
	}
	s->edge_next = malloc((s->workers * s->n_edges + 1) * sizeof *s->edge_next);
	if (!s->edge_next)
		return ds_nomem(s);
	for (size_t i = 0; i < s->n_edges; i++) {
		uint64_t at = 0;
		for (unsigned w = 0; w < s->workers; w++) {
			s->edge_next[w * s->n_edges + i] = s->edges[i].elems + at;
			at += worker_seen(s, w, n_bins, s->edges[i].bin);
		}
	}
	return 0;
}

/* The level of the values in sub-bin i. */
static int64_t bin_level(const struct ds_state *s, size_t i)
{
	return s->direct ? s->lo + (int64_t)(i / s->sub) : s->h->symbols[s->first + i / s->sub];
}

/* What a bin of level L keeps: L delta, but one by one (each element its
 * own grid value) for level 0, whose sign is the element's, and for a
 * level clamped at +-LEVEL_MAX, which stands for many. */
static float kept_level_value(int64_t L, float delta)
{
	return L && L > -LEVEL_MAX && L < LEVEL_MAX ? (float)L * delta : f32_of(ONE_BY_ONE);
}

/* The bins of mu_q +- P among those of the counted window [lo, hi]. */
static void counted_range(const struct ds_state *s, size_t *from, size_t *to)
{
	int64_t a = s->r.mu_q - s->r.P > s->lo ? s->r.mu_q - s->r.P : s->lo;
	int64_t b = s->r.mu_q + s->r.P < s->hi ? s->r.mu_q + s->r.P : s->hi;
	*from = (size_t)(a - s->lo) * s->sub;
	*to = b >= a ? (size_t)(b - s->lo + 1) * s->sub : *from;
}

/* Walks the sub-bins in rank order: a bin inside one target's ranks maps
 * to it (or keeps its q past the counted ranks); the others are edge bins.
 * Bins of levels outside mu_q +- P (counted with every level) keep theirs. */
static int bins_map(struct ds_state *s)
{
	size_t levels = s->direct ? (size_t)(s->hi - s->lo + 1) : s->last - s->first;
	size_t n_bins = levels * s->sub, cap = 16, ti = 0;
	size_t in_from = 0, in_to = n_bins;
	float delta = (float)s->delta;
	if (s->counted) /* mu_q +- P within [lo, hi]: no element lies outside */
		counted_range(s, &in_from, &in_to);
	uint64_t rank = 0;
	s->bin_target_mem = malloc((n_bins + 1) * sizeof *s->bin_target);
	s->bin_value_mem = malloc((n_bins + 1) * sizeof *s->bin_value);
	s->edges = calloc(cap, sizeof *s->edges);
	if (!s->bin_target_mem || !s->bin_value_mem || !s->edges)
		return ds_nomem(s);
	s->bin_target = s->bin_target_mem + 1;
	s->bin_value = s->bin_value_mem + 1;
	s->bin_target[-1] = BIN_KEEP; /* bin -1, out of range: a lookup without a branch */
	s->bin_value[-1] = f32_of(ONE_BY_ONE); /* keeps its q: from `kept`, or (counted) one by one */
	for (size_t i = 0; i < n_bins; i++) {
		uint64_t n = s->bin_count[i];
		size_t tj = ti;
		s->bin_target[i] = BIN_KEEP;
		s->bin_value[i] = kept_level_value(bin_level(s, i), delta);
		if (i < in_from || i >= in_to)
			continue;
		int64_t a = level_of_rank(&s->t, rank, &ti);
		int64_t b = n ? level_of_rank(&s->t, rank + n - 1, &tj) : a;
		if (a == b && a != KEEP) {
			s->bin_target[i] = (int32_t)(a - s->t.first_level);
			s->bin_value[i] = (float)a * delta;
			s->r.reassigned += n;
		} else if (a != b) {
			if (s->n_edges == cap) {
				void *x = realloc(s->edges, 2 * cap * sizeof *s->edges);
				if (!x)
					return ds_nomem(s);
				s->edges = x;
				memset(s->edges + cap, 0, cap * sizeof *s->edges);
				cap *= 2;
			}
			s->bin_target[i] = BIN_EDGE - (int32_t)s->n_edges;
			s->bin_value[i] = f32_of(ONE_BY_ONE);
			struct edge_bin *e = &s->edges[s->n_edges++];
			e->bin = i;
			if (edge_make(s, rank, n, ti, e))
				return ds_nomem(s);
		}
		rank += n;
	}
	return edge_cursors(s, n_bins);
}

/* What the assigning pass does with a block: in memory, write every new
 * value and collect the edge elements (edge_settle writes theirs); from a
 * source, first only collect them (the plan), then, part by part, write
 * every new value, an edge element's from its group's boundaries. */
enum assign_mode { ASSIGN_WRITE, ASSIGN_REFINE, ASSIGN_COLLECT, ASSIGN_APPLY };

/* Where a worker's edge elements go: in memory, its cursors into the edge
 * bins; collecting a plan, its runs; applying one, the part's run
 * counters. */
struct edge_out {
	struct edge_elem **next;
	uint32_t *fine_counts;     /* refining a plan: per edge bin, s->fine counters */
	struct run_list *runs;
	struct ds_collecting *collecting;
	uint64_t *seen;
};

static inline size_t part_of(const struct ds_state *s, uint64_t where)
{
	return s->v.at[where / CHUNK].part;
}

/* Adds an element to its bin's runs: the last one grows when it has the
 * key and the part. Past the plan's budget, collecting stops (over). */
static void run_add(const struct ds_state *s, struct run_list *l, uint32_t key, uint64_t where,
		    struct ds_collecting *c)
{
	struct edge_elem *last = l->n ? &l->r[l->n - 1] : NULL;
	if (last && last->key == key && last->count < UINT32_MAX && part_of(s, last->where) == part_of(s, where)) {
		last->count++;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16, more = (cap - l->cap) * sizeof *l->r;
		if (atomic_fetch_add(&c->bytes, more) + more > c->budget) {
			atomic_store(&c->over, true);
			return;
		}
		struct edge_elem *r = realloc(l->r, cap * sizeof *r);
		if (!r) {
			atomic_store(&c->failed, true);
			return;
		}
		l->r = r, l->cap = cap;
	}
	l->r[l->n++] = (struct edge_elem){ key, 1, where };
}

/* A plan's edge element's group: how many of the bin's boundaries come
 * before it in (value, position) order. Equal keys: an element before a
 * boundary's run is below it, one in a later part above it, and one in
 * its part at or after its start is the run's next (the part is applied
 * in position order: the run's own elements come first), below it while
 * fewer than m came. */
static size_t edge_group(const struct ds_state *s, const struct edge_bin *b, uint32_t key, uint64_t where,
			 uint64_t *seen)
{
	size_t g = 0;
	uint64_t idx = 0;
	for (uint32_t slot = UINT32_MAX; g < b->n_bounds; g++) {
		const struct edge_bound *B = &b->first[g];
		if (key != B->key) {
			if (key < B->key)
				break;
			continue;
		}
		if (where < B->where)
			break;
		if (part_of(s, where) != part_of(s, B->where))
			continue;
		if (B->slot != slot)
			slot = B->slot, idx = seen[slot]++;
		if (idx < B->m)
			break;
	}
	return g;
}

/* Level L's value, or with L KEEP, x's own level's. */
static inline float edge_value(const struct ds_state *s, int64_t L, float x)
{
	return L == KEEP ? grid_value(x, s->scale, (float)s->delta) : (float)L * (float)s->delta;
}

/* The assigning pass on n values at position `where`: each takes its
 * sub-bin's value (its target's, or its own level's), a lookup without a
 * branch; out of range (bin -1, kept given) it keeps its q. Bins marked
 * ONE_BY_ONE are then done one element at a time: an edge element is
 * collected or set from its group, and a value that keeps level 0 keeps
 * the sign of its rint (-0 below zero), as everywhere else. */
static inline void assign_block(const struct ds_state *s, const float *x, float *dst, size_t n,
				const float *restrict kept, const int32_t *restrict bins, uint64_t where,
				const struct edge_out *eo, enum assign_mode mode)
{
	float out[BLOCK];
	uint8_t slow[BLOCK];
	for (size_t k = 0; k < n; k++)
		out[k] = s->bin_value[bins[k]];
	if (kept)
		for (size_t k = 0; k < n; k++)
			out[k] = f32_of(pick_u32(bins[k] < 0, u32_of(kept[k]), u32_of(out[k])));
	for (size_t k = 0; k < n; k++)
		slow[k] = u32_of(out[k]) == ONE_BY_ONE;
	for (size_t g = 0; g < n; g += 8) { /* 8 flags a word: a skip where none is set */
		uint64_t word = 0;
		memcpy(&word, slow + g, n - g < 8 ? n - g : 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		word = __builtin_bswap64(word); /* flag j in byte j from the bottom */
#endif
		for (; word; word &= word - 1) {
			size_t k = g + (size_t)__builtin_ctzll(word) / 8;
			int32_t t = s->bin_target[bins[k]];
			if (t > BIN_EDGE) {
				out[k] = edge_value(s, KEEP, x[k]); /* level 0 kept */
			} else if (mode == ASSIGN_APPLY) {
				const struct edge_bin *b = &s->edges[BIN_EDGE - t];
				out[k] = edge_value(s, b->group_level[edge_group(s, b, float_key(x[k]), where + k, eo->seen)], x[k]);
			} else if (mode == ASSIGN_REFINE) {
				eo->fine_counts[(size_t)(BIN_EDGE - t) * s->fine + fine_of(s, x[k])]++;
			} else if (mode == ASSIGN_COLLECT) {
				const uint8_t *collect = s->edges[BIN_EDGE - t].collect;
				if (!collect || collect[fine_of(s, x[k])])
					run_add(s, &eo->runs[BIN_EDGE - t], float_key(x[k]), where + k, eo->collecting);
			} else {
				*eo->next[BIN_EDGE - t]++ = (struct edge_elem){ float_key(x[k]), 1, where + k };
				out[k] = x[k]; /* edge_settle sets it */
			}
		}
	}
	if (mode == ASSIGN_WRITE || mode == ASSIGN_APPLY)
		memcpy(dst, out, n * sizeof *dst);
}

/* A narrowed plan's bins: the window's, less narrow_from, and -1 past the
 * range, where the value keeps its own grid value (kept). */
static inline void narrow_bins(const struct ds_state *s, const float *restrict x, size_t n, float *restrict kept,
			       int32_t *restrict bins)
{
	uint32_t from = (uint32_t)s->narrow_from, span = (uint32_t)s->narrow_bins;
	float scale = s->scale, delta = (float)s->delta;
	for (size_t k = 0; k < n; k++) {
		uint32_t b = (uint32_t)bins[k] - from; /* bin -1 wraps past span too */
		bins[k] = (int32_t)pick_u32(b < span, b, UINT32_MAX);
		kept[k] = grid_value(x[k], scale, delta);
	}
}

/* Chunk c's values x (written to dst unless collecting), block by block;
 * inlined where mode is a constant. */
static inline __attribute__((always_inline)) void assign_values(const struct ds_state *s, size_t c, const float *x, float *dst,
				 const struct edge_out *eo, enum assign_mode mode)
{
	size_t len = s->v.chunks[c].len;
	for (size_t b = 0; b < len; b += BLOCK) {
		float kept[BLOCK];
		int32_t bins[BLOCK];
		size_t n = len - b < BLOCK ? len - b : BLOCK;
		uint64_t where = (uint64_t)c * CHUNK + b;
		float *to = dst ? dst + b : NULL; /* collecting writes nothing */
		if (s->narrowed && n == BLOCK) { /* a plan applied */
			block_bins_fine(s, x + b, BLOCK, bins);
			narrow_bins(s, x + b, BLOCK, kept, bins);
			assign_block(s, x + b, to, BLOCK, kept, bins, where, eo, mode);
		} else if (s->narrowed) {
			block_bins_fine(s, x + b, n, bins);
			narrow_bins(s, x + b, n, kept, bins);
			assign_block(s, x + b, to, n, kept, bins, where, eo, mode);
		} else if (s->counted && n == BLOCK) {
			block_bins_fine(s, x + b, BLOCK, bins);
			assign_block(s, x + b, to, BLOCK, NULL, bins, where, eo, mode);
		} else if (s->counted) {
			block_bins_fine(s, x + b, n, bins);
			assign_block(s, x + b, to, n, NULL, bins, where, eo, mode);
		} else {
			block_bins(s, x + b, n, kept, bins);
			assign_block(s, x + b, to, n, kept, bins, where, eo, mode);
		}
	}
}

SIMD_CLONES
static void assign_chunk(void *arg, size_t c, unsigned worker)
{
	struct ds_state *s = arg;
	if (s->v.src) {
		struct edge_out eo = { .runs = s->runs + (size_t)worker * s->n_edges, .collecting = &s->collecting };
		if (atomic_load(&s->collecting.over))
			return; /* the collecting starts again, refined */
		assign_values(s, c, ds_chunk_values(s, c, worker), NULL, &eo, ASSIGN_COLLECT);
	} else {
		struct edge_out eo = { .next = s->edge_next + (size_t)worker * s->n_edges };
		assign_values(s, c, s->v.chunks[c].x, s->v.chunks[c].x, &eo, ASSIGN_WRITE);
	}
}

/* The groups' sizes in an edge bin's count of reassigned elements. */
static void edge_reassigned(struct edge_bin *b)
{
	for (size_t j = 0, r = 0; j <= b->n_bounds; j++) {
		uint64_t end = j < b->n_bounds ? b->bound[j] : b->n;
		b->reassigned += b->group_level[j] == KEEP ? 0 : end - r;
		r = end;
	}
}

/* An edge bin's elements by rank: sorted, then each group's level. */
static void edge_settle(void *arg, size_t i, unsigned worker)
{
	struct ds_state *s = arg;
	struct edge_bin *b = &s->edges[i];
	if (radix_sort(s, worker, b->elems, b->n)) {
		b->reassigned = UINT64_MAX; /* out of memory, said by the caller */
		return;
	}
	edge_reassigned(b);
	for (size_t j = 0, r = 0; j <= b->n_bounds; j++)
		for (uint64_t end = j < b->n_bounds ? b->bound[j] : b->n; r < end; r++) {
			float *x = s->v.chunks[b->elems[r].where / CHUNK].x + b->elems[r].where % CHUNK;
			*x = edge_value(s, b->group_level[j], *x);
		}
}

/* A plan's edge bin: its workers' runs in position order (workers ran
 * consecutive chunks), sorted by key, stably; each boundary is then a run
 * and a count into it. Only the boundaries stay. */
static void edge_plan(void *arg, size_t i, unsigned worker)
{
	struct ds_state *s = arg;
	struct edge_bin *b = &s->edges[i];
	const uint64_t *bound = b->bound_in_runs ? b->bound_in_runs : b->bound; /* among the runs */
	size_t n = 0;
	for (unsigned w = 0; w < s->workers; w++)
		n += s->runs[w * s->n_edges + i].n;
	b->elems = malloc((n + 1) * sizeof *b->elems);
	b->first = malloc((b->n_bounds + 1) * sizeof *b->first);
	if (!b->elems || !b->first) {
		b->reassigned = UINT64_MAX;
		return;
	}
	n = 0;
	for (unsigned w = 0; w < s->workers; w++) {
		struct run_list *l = &s->runs[w * s->n_edges + i];
		if (l->n) /* a worker without runs here has no array */
			memcpy(b->elems + n, l->r, l->n * sizeof *l->r);
		n += l->n;
		free(l->r);
		l->r = NULL;
	}
	if (radix_sort(s, worker, b->elems, n)) {
		b->reassigned = UINT64_MAX;
		return;
	}
	uint64_t below = 0; /* elements in the runs before run e */
	for (size_t j = 0, e = 0, first_of_run = 0; j < b->n_bounds; j++) {
		while (below + b->elems[e].count <= bound[j])
			below += b->elems[e++].count;
		if (j == 0 || b->first[j - 1].where != b->elems[e].where || b->first[j - 1].key != b->elems[e].key)
			first_of_run = j; /* a new run: a counter of its own */
		b->first[j] = (struct edge_bound){ b->elems[e].key, (uint32_t)(b->slot0 + first_of_run),
						  b->elems[e].where, bound[j] - below };
	}
	edge_reassigned(b);
	free(b->elems);
	b->elems = NULL;
}

SIMD_CLONES
static void refine_chunk(void *arg, size_t c, unsigned worker)
{
	struct ds_state *s = arg;
	struct edge_out eo = { .fine_counts = s->fine_counts + (size_t)worker * s->n_edges * s->fine };
	assign_values(s, c, ds_chunk_values(s, c, worker), NULL, &eo, ASSIGN_REFINE);
}

/* Edge bin e's fine bins that hold a boundary's element (rank bound[j]):
 * those are collected; and each boundary's rank among the collected. */
static int fine_select(struct ds_state *s, size_t e)
{
	struct edge_bin *b = &s->edges[e];
	b->collect = calloc(s->fine, 1);
	b->bound_in_runs = malloc((b->n_bounds + 1) * sizeof *b->bound_in_runs);
	if (!b->collect || !b->bound_in_runs)
		return GGPACK_E_NOMEM;
	uint64_t below = 0, skipped = 0; /* ranks before fine bin r; of them, not collected */
	for (size_t r = 0, j = 0; r < s->fine; r++) {
		uint64_t n = 0;
		for (unsigned w = 0; w < s->workers; w++)
			n += s->fine_counts[((size_t)w * s->n_edges + e) * s->fine + r];
		for (; j < b->n_bounds && b->bound[j] < below + n; j++)
			b->bound_in_runs[j] = b->bound[j] - skipped, b->collect[r] = 1;
		skipped += b->collect[r] ? 0 : n;
		below += n;
	}
	return 0;
}

#define FINE_MAX 256                      /* fine bins an edge bin is cut into */
#define FINE_COUNTERS ((size_t)1 << 22)   /* at most, over workers and edge bins */

/* A plan whose edge elements' runs outgrew its budget: the edge bins cut
 * into fine bins, counted in a pass of their own, so that only the fine
 * bins holding a boundary are collected (a few elements a boundary
 * instead of about 1/128 of the parameters), and the plan's memory stops
 * growing with the model. Too many edge bins for the counters: every edge
 * element is collected. */
static int refine(struct ds_state *s)
{
	for (s->fine = FINE_MAX; s->fine >= 8 && s->n_edges * s->fine * s->workers > FINE_COUNTERS;)
		s->fine /= 2;
	if (s->fine < 8 || !s->n_edges) {
		s->fine = 0;
		return 0;
	}
	if (!(s->fine_counts = calloc((size_t)s->workers * s->n_edges * s->fine + 1, sizeof *s->fine_counts)))
		return ds_nomem(s);
	parallel_for_static(s->v.n_chunks, s->workers, refine_chunk, s);
	int rc = 0;
	for (size_t e = 0; e < s->n_edges && !rc; e++)
		rc = fine_select(s, e);
	free(s->fine_counts);
	s->fine_counts = NULL;
	return rc ? ds_nomem(s) : 0;
}

/* Step 5: every element, then the edge bins' by rank. */
static int assign(struct ds_state *s)
{
	parallel_for_static(s->v.n_chunks, s->workers, assign_chunk, s);
	if (atomic_load(&s->collecting.over)) { /* a plan's runs outgrew the budget: refine, collect again */
		for (size_t i = 0; i < s->workers * s->n_edges; i++)
			free(s->runs[i].r), s->runs[i] = (struct run_list){ 0 };
		int rc = refine(s);
		if (rc)
			return rc;
		s->collecting.budget = SIZE_MAX;
		atomic_store(&s->collecting.over, false);
		parallel_for_static(s->v.n_chunks, s->workers, assign_chunk, s);
	}
	if (atomic_load(&s->collecting.failed))
		return ds_nomem(s);
	for (size_t i = 0; s->v.src && i < s->n_edges; i++)
		s->edges[i].slot0 = s->n_slots, s->n_slots += s->edges[i].n_bounds;
	parallel_for(s->n_edges, s->v.src ? edge_plan : edge_settle, s);
	for (size_t i = 0; i < s->n_edges; i++) {
		if (s->edges[i].reassigned == UINT64_MAX)
			return ds_nomem(s);
		s->r.reassigned += s->edges[i].reassigned;
	}
	return 0;
}

/* A table of n bins (and bin -1) from bins [from, from + n) of t. */
static void *table_slice(const void *t, size_t width, size_t from, size_t n)
{
	uint8_t *out = malloc((n + 1) * width);
	if (out) {
		memcpy(out, (const uint8_t *)t - width, width); /* bin -1 */
		memcpy(out + width, (const uint8_t *)t + from * width, n * width);
	}
	return out;
}

void ds_plan_narrow(struct ds_state *s)
{
	size_t from, to;
	if (!s->counted || s->snap || !s->bin_target)
		return;
	counted_range(s, &from, &to);
	int32_t *target = table_slice(s->bin_target, sizeof *s->bin_target, from, to - from);
	float *value = table_slice(s->bin_value, sizeof *s->bin_value, from, to - from);
	if (!target || !value) { /* the whole tables serve as well */
		free(target);
		free(value);
		return;
	}
	free(s->bin_target_mem);
	free(s->bin_value_mem);
	s->bin_target_mem = target, s->bin_target = target + 1;
	s->bin_value_mem = value, s->bin_value = value + 1;
	s->bin_value[-1] = f32_of(ONE_BY_ONE); /* never read: a kept value stands there */
	s->narrowed = true, s->narrow_from = from, s->narrow_bins = to - from;
}

/* Every value on the grid, keeping its level (step 6 alone). */
static void snap_values(const struct ds_state *s, float *x, size_t n)
{
	float delta = (float)s->delta;
	for (size_t i = 0; i < n; i++)
		x[i] = grid_value(x[i], s->scale, delta);
}

SIMD_CLONES
static void apply_chunk(const struct ds_state *s, size_t c, float *x, uint64_t *seen)
{
	struct edge_out eo = { .seen = seen };
	assign_values(s, c, x, x, &eo, ASSIGN_APPLY);
}

int ds_plan_apply(const struct ds_state *s, size_t part, float *values)
{
	size_t c0 = s->v.part_chunk0[part], c1 = c0 + chunks_of(s->v.lens[part]);
	if (s->snap) {
		snap_values(s, values, s->v.lens[part]);
		return 0;
	}
	uint64_t *seen = calloc(s->n_slots + 1, sizeof *seen); /* this part's count of each run */
	if (!seen)
		return GGPACK_E_NOMEM;
	for (size_t c = c0; c < c1; c++)
		apply_chunk(s, c, values + (c - c0) * CHUNK, seen);
	free(seen);
	return 0;
}

void ds_snap(struct ds_state *s)
{
	for (size_t p = 0; p < s->v.n_parts; p++)
		snap_values(s, s->v.parts[p], s->v.lens[p]);
}

int ds_reshape(struct ds_state *s)
{
	int rc;
	if (s->counted && s->n_outside && (s->r.mu_q - s->r.P < s->lo || s->r.mu_q + s->r.P > s->hi))
		ds_uncount(s); /* values outside the window are in range: count them below */
	if (s->counted)
		return (rc = bins_map(s)) ? rc : assign(s);
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
	if ((rc = ds_bin_count_pass(s, levels * s->sub)))
		return ds_nomem(s);
	if ((rc = bins_map(s)))
		return rc;
	return assign(s);
}
