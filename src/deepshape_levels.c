/*
 * deepshape_levels.c - DeepShape step 1: the levels' histogram, and with
 * it, in the same pass where the table fits, the sub-bin counts step 5
 * needs (s->counted). In memory the count's window of levels comes from a
 * sample instead of a pass for the largest value; values outside it are
 * kept aside. Chunks run on several threads; nothing depends on how many.
 */
#include <stdlib.h>
#include <string.h>

#include "deepshape.h"

#define SUB_FINE 128   /* sub-bins a level when they fit: fewer edge elements */
#define SUB_MIN 8       /* the fewest when every level is counted */

struct max_job {
	struct ds_state *s;
	uint32_t *bits; /* per chunk */
};

static void max_chunk(void *arg, size_t c, unsigned worker)
{
	struct max_job *j = arg;
	j->bits[c] = tensor_max_abs_bits(ds_chunk_values(j->s, c, worker), j->s->v.chunks[c].len, 0);
}

/* The largest |value| as bits (NaN and infinity above all finite ones). */
static int max_abs_bits(struct ds_state *s, uint32_t *bits)
{
	struct max_job j = { s, calloc(s->v.n_chunks + 1, sizeof *j.bits) };
	if (!j.bits)
		return GGPACK_E_NOMEM;
	parallel_for(s->v.n_chunks, max_chunk, &j);
	*bits = 0;
	for (size_t c = 0; c < s->v.n_chunks; c++)
		*bits = j.bits[c] > *bits ? j.bits[c] : *bits;
	free(j.bits);
	return 0;
}

#define SAMPLE 4096                         /* values that size the window: at least */
#define SAMPLE_CHUNK 64                     /* and of each chunk */
#define QWIN_MAX ((int64_t)(MAX_BINS / 64 - 1) / 2) /* the widest window: its levels x 64 sub-bins fit */
#define DS_WINDOW_LOST 2                    /* too many values outside the window to keep */

/* The largest |value| (as bits) of a sample of a vector in memory, spread
 * over every chunk: a few cache lines a chunk, in place of a pass. */
static uint32_t sample_max_bits(const struct ds_state *s)
{
	size_t per_chunk = SAMPLE / (s->v.n_chunks + 1) > SAMPLE_CHUNK ? SAMPLE / (s->v.n_chunks + 1) : SAMPLE_CHUNK;
	uint32_t bits = 0;
	for (size_t c = 0; c < s->v.n_chunks; c++) {
		const struct chunk *ch = &s->v.chunks[c];
		for (size_t i = 0; i < ch->len; i += ch->len / per_chunk + 1) {
			uint32_t b = u32_of(ch->x[i]) & 0x7fffffff;
			bits = b > bits ? b : bits;
		}
	}
	return bits;
}

static void outside_free(struct ds_state *s)
{
	for (unsigned w = 0; w < PARALLEL_MAX; w++) {
		free(s->outside[w].x);
		s->outside[w] = (struct ds_outside){ 0 };
	}
}

static int outside_alloc(struct ds_state *s)
{
	for (unsigned w = 0; w < parallel_threads() && w < PARALLEL_MAX; w++) {
		s->outside[w].cap = s->v.n / 1024 + 4096; /* few past twice a sample's largest */
		if (!(s->outside[w].x = malloc(s->outside[w].cap * sizeof *s->outside[w].x)))
			return GGPACK_E_NOMEM;
	}
	return 0;
}

/* The levels of the values counted outside the window, sorted, and their
 * largest |value| as bits; GGPACK_E_INVALID when one is NaN or infinite,
 * DS_WINDOW_LOST when they were too many to keep. */
static int outside_levels(struct ds_state *s, int64_t **levels, size_t *n, uint32_t *max_bits)
{
	bool lost = false;
	*max_bits = 0;
	for (unsigned w = 0; w < PARALLEL_MAX; w++) {
		*max_bits = s->outside[w].max_bits > *max_bits ? s->outside[w].max_bits : *max_bits;
		lost = lost || s->outside[w].lost;
		*n += s->outside[w].n;
	}
	if (*max_bits >= 0x7f800000)
		return GGPACK_E_INVALID; /* NaN or infinity */
	if (lost || !*n)
		return lost ? DS_WINDOW_LOST : 0;
	if (!(*levels = malloc(*n * sizeof **levels)))
		return GGPACK_E_NOMEM;
	size_t k = 0;
	for (unsigned w = 0; w < PARALLEL_MAX; w++)
		for (size_t i = 0; i < s->outside[w].n; i++)
			(*levels)[k++] = level_of(s->outside[w].x[i] * s->scale);
	sort_levels(*levels, *n);
	return 0;
}

/* Counts in sub-bins of the window [-qwin, qwin] of levels (direct bins),
 * and the level histogram from them and from the values outside it, kept
 * aside while counting sub-bins with the levels (s->counted). */
static int count_window(struct ds_state *s, int64_t qwin, unsigned sub, uint32_t *outside_max)
{
	size_t levels = (size_t)(2 * qwin) + 1, n_bins = levels * sub, n_out = 0;
	int64_t *out = NULL;
	s->lo = -qwin, s->hi = qwin;
	s->direct = true;
	s->sub = sub;
	s->win_bits = u32_of((float)(((double)qwin + 0.5) * s->delta)); /* exact: qwin < 2^23 */
	s->all_inside = s->v.src != NULL; /* from a source, the window comes from the largest value */
	uint64_t *per_level = calloc(levels, sizeof *per_level);
	s->bin_count = calloc(n_bins + 1, sizeof *s->bin_count);
	int rc = !per_level || !s->bin_count || (s->counted && outside_alloc(s)) || ds_bin_count_pass(s, n_bins)
			 ? GGPACK_E_NOMEM
			 : outside_levels(s, &out, &n_out, outside_max);
	if (!rc) {
		for (size_t b = 0; b < n_bins; b++)
			per_level[b / sub] += s->bin_count[b];
		rc = hist_from_dense(per_level, levels, s->lo, out, n_out, &s->h);
		s->n_outside = n_out;
		s->all_inside = n_out == 0;
	}
	free(per_level);
	free(out);
	outside_free(s);
	return rc;
}

/* Levels and sub-bins in one pass over the window [-qwin, qwin]: 128
 * sub-bins a level where they fit, else 64; fewer when the bins would
 * pass n / 32. A bin costs 16 bytes and 4 more per worker (its counts, its
 * target and value), so the tables stay under a byte per element: below
 * the vector's own size even in float16, where a plan made from the file
 * holds nothing else (a window sized by one far outlier spans thousands
 * of levels). Fewer sub-bins only put more elements in edge bins. */
#define BINS_PER_ELEMENT (1.0 / 32)

static int count_fine(struct ds_state *s, int64_t qwin, uint32_t *outside_max)
{
	double levels = 2 * (double)qwin + 1;
	unsigned sub = levels * SUB_FINE <= MAX_BINS ? SUB_FINE : 64;
	while (sub > SUB_MIN && levels * sub > (double)s->v.n * BINS_PER_ELEMENT)
		sub /= 2;
	s->counted = true;
	return count_window(s, qwin, sub, outside_max);
}

/* Back to nothing counted, for a count of another kind. */
void ds_uncount(struct ds_state *s)
{
	free(s->bin_count);
	s->bin_count = NULL;
	ds_work_free(s);
	s->counted = false;
	s->n_outside = 0;
}

/* The largest |value| as bits, and when the vector is in memory, step 1
 * too in the same pass when it can: a window of levels twice as wide as
 * a sample's largest value is counted as below, its outside kept aside
 * (rc 0 and *counted). */
static int largest(struct ds_state *s, uint32_t *bits, bool *counted)
{
	*counted = false;
	if (s->v.src)
		return max_abs_bits(s, bits);
	uint32_t sample = sample_max_bits(s);
	double q = rint((double)f32_of(sample) * s->scale);
	if (sample >= 0x7f800000 || q > QWIN_MAX)
		return max_abs_bits(s, bits);
	int rc = count_fine(s, 2 * q < QWIN_MAX ? (int64_t)(2 * q) : QWIN_MAX, bits);
	*counted = rc != DS_WINDOW_LOST;
	if (rc == DS_WINDOW_LOST)
		ds_uncount(s); /* *bits: the largest outside, so the largest */
	return rc == DS_WINDOW_LOST ? 0 : rc;
}

/* Step 1, every level: when levels x 64 sub-bins fit (128 when those
 * fit), one pass counts the sub-bins, and the level counts are their sums
 * (s->counted; in memory, together with the largest value); else when the
 * levels fit, the pass counts levels, and step 5 counts its sub-bins in a
 * pass of its own; else, in memory only, the levels come from sorting the
 * values. */
int ds_levels(struct ds_state *s, int grid)
{
	uint32_t bits;
	bool counted;
	int rc = largest(s, &bits, &counted);
	if (rc || counted)
		return rc;
	if (bits >= 0x7f800000)
		return GGPACK_E_INVALID; /* NaN or infinity */
	double qmax = rint((double)f32_of(bits) * s->scale);
	if (qmax <= QWIN_MAX)
		return count_fine(s, (int64_t)qmax, &bits); /* nothing outside */
	if (2 * qmax + 1 <= MAX_BINS) {
		rc = count_window(s, (int64_t)qmax, 1, &bits);
		ds_uncount(s); /* step 5 counts its own */
		return rc;
	}
	if (s->v.src)
		return DS_NEEDS_MEMORY;
	return hist_grid_parts(s->v.parts, s->v.lens, s->v.n_parts, grid, &s->h);
}
