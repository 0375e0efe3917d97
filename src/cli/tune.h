/*
 * tune.h - what cmd_tune.c (the search) and tune_eval.c (running the
 * user's evaluator, the cache of evaluations) share.
 */
#ifndef GGPACK_TUNE_H
#define GGPACK_TUNE_H

#include <stdbool.h>

#include "cli.h"

#define TUNE_MAX_ITEMS 64   /* tensors, or groups of them, measured alone */
#define TUNE_EXACT_ITEMS 16 /* up to this many, every subset is searched */

struct tune {
	const struct cli_args *a;
	struct ggpack_conversion *conv;
	const char *input;
	size_t n;                 /* converted tensors */
	const char **names;       /* their names, model order */
	double *saved;            /* bytes each saves */
	double m0, budget;        /* the original's metric; the allowed drop, in metric units */
	json_t *cache;            /* {context: {...}, evals: {key: {metric, seconds}}} */
	char *cache_path, *cand_path;
	json_t *log;              /* every evaluation of this run, in order */
	unsigned new_evals;
	int quiet;
};

/* Results of tune_eval. */
enum { TUNE_OK = 0, TUNE_EXHAUSTED = 1 };

/* The metric of the model with the tensors of mask converted (NULL: the
 * input itself): from the cache, or by writing the candidate and running
 * the evaluator. Returns TUNE_OK, TUNE_EXHAUSTED (--max-evals reached, the
 * set not in the cache), or an exit code (> 1) after printing why. */
int tune_eval(struct tune *t, const bool *mask, double *metric);
/* Writes the conversion with only the tensors of mask converted to path
 * (replacing it). Returns a library result code; the detail is in ctx. */
int tune_write(struct tune *t, struct ggpack_ctx *ctx, const bool *mask, const char *path);
/* Loads the cache beside the output when its context (input, options,
 * evaluator) matches; starts a fresh one otherwise. */
int tune_cache_open(struct tune *t, const char *input_sha256, const char *options);
void tune_free(struct tune *t);

#endif
