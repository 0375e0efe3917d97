/*
 * deepshape.h - what deepshape.c (steps 2-4, the API), deepshape_levels.c
 * (step 1) and deepshape_bins.c (step 5: every element's new level, and
 * the plan) share. Private to the library.
 */
#ifndef GGPACK_DEEPSHAPE_H
#define GGPACK_DEEPSHAPE_H

#include <stdatomic.h>

#include "internal.h"

#define KEEP INT64_MIN            /* the element keeps its q */
#define BIN_KEEP (-1)
#define BIN_EDGE (-2)             /* BIN_EDGE - i: edge bin i */
#define ONE_BY_ONE 0x7fc0edbeu   /* a NaN, no level's value: the bin's elements are done one by one */
#define DENSE_INDEX_MAX (1u << 24)
#define MAX_BINS (1u << 22)       /* in-range levels x sub-bins */

/* Where the vector's values come from when they are not in memory (a
 * model's tensors, read from its file pass by pass): part p's values
 * [from, from + n) as float32 into out. Called from several threads. */
struct ds_source {
	void (*read)(void *arg, size_t part, size_t from, size_t n, float *out);
	void *arg;
};

/* The vector in fixed chunks (CHUNK elements, never cut by the thread
 * count), in order: a chunk's index is also its place in position order.
 * In memory, chunks[c].x holds its values; from a source, x is NULL and
 * at[c] says where to read them. */
struct ds_vector {
	float *const *parts;       /* NULL from a source */
	const size_t *lens;
	size_t n_parts;
	size_t n;
	struct chunk *chunks;
	struct ds_chunk_at { size_t part, from; } *at;
	size_t *part_chunk0;       /* part p's first chunk */
	size_t n_chunks;
	const struct ds_source *src;
	float *buf;                /* from a source: CHUNK floats per worker */
};

/* Target counts floor(N p(L)) for L = mu_q - K .. mu_q + K (the levels
 * with a non-zero count: w(L) falls with |L - mu_q|, so they are one
 * interval), as cumulative ranks: level L takes ranks [T[i], T[i+1]). */
struct ds_target {
	int64_t first_level;
	size_t n_levels;
	uint64_t *T;      /* n_levels + 1 */
};

/* A worker's values outside the window of levels the first count covers
 * (ds_levels), kept aside while they are few. */
struct ds_outside {
	float *x;
	size_t n, cap;
	uint32_t max_bits;         /* their largest |value| as bits, kept or not */
	bool lost;                 /* more than cap: not all kept */
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
	bool counted;              /* the sub-bins were counted with the levels, over the window [lo, hi] */
	bool direct;               /* bins cover every level of [lo, hi]: index by arithmetic */
	bool snap;                 /* nothing to reshape: every value keeps its level */
	int64_t lo, hi;            /* the levels direct bins cover: the window when counted, else mu_q -+ P */
	uint32_t win_bits;         /* counted: |x| above it (as bits) is outside the window */
	bool all_inside;           /* counted: no value lies outside the window */
	struct ds_outside outside[PARALLEL_MAX];
	size_t n_outside;          /* counted: values outside the window, none in mu_q -+ P */
	uint64_t *bin_count;       /* per (entry - first) * sub + sub-bin */
	uint32_t *worker_count;    /* per worker, n_bins each: who saw how many where */
	uint64_t *worker_wide[PARALLEL_MAX]; /* a worker's counts past 2^31 elements, or NULL */
	struct edge_elem *sort_tmp[PARALLEL_MAX]; /* a worker's radix sort scratch */
	size_t sort_cap[PARALLEL_MAX];
	unsigned workers;
	int32_t *bin_target;       /* >= 0: target index; BIN_KEEP; <= BIN_EDGE: an edge bin;
				      bin -1 (out of range) is BIN_KEEP */
	int32_t *bin_target_mem;   /* what was allocated: bin_target - 1 */
	float *bin_value;          /* per bin: its values' new value; ONE_BY_ONE for an edge bin or level 0 kept */
	float *bin_value_mem;      /* what was allocated: bin_value - 1 */
	struct edge_bin *edges;
	size_t n_edges;
	struct edge_elem **edge_next; /* per worker, per edge bin: where its next element goes */
	struct run_list *runs;     /* a plan's: per worker, per edge bin */
	struct ds_collecting {
		atomic_bool failed;    /* out of memory collecting them */
		atomic_bool over;      /* past the budget: collecting stopped */
		atomic_size_t bytes;   /* what the runs take, as their arrays grow */
		size_t budget;         /* see ds_plan_make */
	} collecting;
	size_t n_slots;            /* a plan's run counters (ds_plan_apply) */
	bool narrowed;             /* a counted plan's bin tables keep mu_q -+ P's bins alone: */
	size_t narrow_from, narrow_bins; /* window bin narrow_from is table bin 0 */
	unsigned fine;             /* a plan's: fine bins an edge bin is cut into (0: not cut) */
	uint32_t *fine_counts;     /* while refining: per worker, per edge bin, per fine bin */
};


/* deepshape.c: a chunk's values, read into the worker's buffer from a source */
const float *ds_chunk_values(const struct ds_state *s, size_t c, unsigned worker);

/* deepshape_levels.c: step 1, the levels' histogram s->h. When every
 * level of the vector fits the sub-bin table, the same pass counts the
 * sub-bins of step 5 too (s->counted), which spares a pass over the data. */
int ds_levels(struct ds_state *s, int grid);
/* Back to nothing counted, for step 5 to count its own sub-bins. */
void ds_uncount(struct ds_state *s);

/* deepshape_bins.c */
int64_t level_of_rank(const struct ds_target *t, uint64_t r, size_t *i);
size_t entry_of(const struct ds_state *s, int64_t q);
/* Counts the values of every chunk in n_bins sub-bins (s->bin_count, and
 * per worker for the assigning pass). */
int ds_bin_count_pass(struct ds_state *s, size_t n_bins);
/* Step 5 for the in-range elements once the targets are known, and step 6. */
int ds_reshape(struct ds_state *s);
/* Step 6 alone: every value on the grid, keeping its level. */
void ds_snap(struct ds_state *s);
void ds_edges_free(struct ds_state *s);
/* What the passes work in: per-worker counts and sort scratch. */
void ds_work_free(struct ds_state *s);
int ds_nomem(struct ds_state *s);

/* Scope model without holding the vector: steps 1-5 read it from a source
 * pass by pass and keep only what gives each element its new value (bins,
 * and the order keys where an edge bin's groups meet); ds_plan_apply then
 * reshapes one part at a time, on any thread (GGPACK_E_NOMEM or 0).
 * The edge bins' elements are collected as runs of equal values while
 * these take at most runs_budget bytes; past it, a pass of its own counts
 * them in finer bins, and only those near a boundary are collected
 * (memory stays flat).
 * DS_NEEDS_MEMORY when the levels are too many to count densely (then
 * hold the vector in memory). */
#define DS_NEEDS_MEMORY 1
#define DS_RUNS_BUDGET ((size_t)64 << 20)
int ds_plan_make(struct ggpack_ctx *ctx, const size_t *lens, size_t n_parts, const struct ds_source *src,
		 const struct ggpack_deepshape_params *params, size_t runs_budget, struct ds_state **plan,
		 struct ggpack_deepshape_result *result);
int ds_plan_apply(const struct ds_state *plan, size_t part, float *values);
/* deepshape_bins.c: a counted plan's bin tables cut to mu_q -+ P once it
 * is made (the bins of the levels outside keep their q, which a value's
 * own grid value gives as well): they were sized by the window of every
 * level present, often several times the range. */
void ds_plan_narrow(struct ds_state *plan);
void ds_plan_free(struct ds_state *plan);

#endif
