/*
 * cmd_tune.c - `ggpack tune IN -o OUT --eval CMD --budget D`: the most
 * bytes saved that the user's own evaluation accepts. One full conversion;
 * then subsets of it are written and evaluated: the original, everything,
 * each tensor (or group of tensors) alone; the best combination under the
 * budget by an exact search over those measurements, assuming the drops
 * add up, verified by an evaluation and searched again (with the budget
 * shrunk by the observed excess) when they do not. The model written is
 * always one that was evaluated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tune.h"

/* A tensor or a group of neighbouring tensors, measured alone. */
struct item {
	size_t first, count;   /* tensors [first, first + count) */
	double saved, drop;
};

struct search {
	struct tune *t;
	struct item items[TUNE_MAX_ITEMS];
	size_t n_items;
	bool *best;            /* the best evaluated set within the budget */
	double best_saved;
	uint64_t best_sub;     /* the best set of items evaluated within it */
	bool *mask;            /* scratch */
};

static double drop_of(const struct tune *t, double metric)
{
	return t->a->lower_is_better ? metric - t->m0 : t->m0 - metric;
}

static double saved_of(const struct tune *t, const bool *mask)
{
	double s = 0;
	for (size_t i = 0; i < t->n; i++)
		s += mask[i] ? t->saved[i] : 0;
	return s;
}

/* Evaluates a set and keeps it when it is the best within the budget. */
static int try_set(struct search *s, const bool *mask, double *drop)
{
	double metric;
	int rc = tune_eval(s->t, mask, &metric);
	if (rc)
		return rc;
	*drop = drop_of(s->t, metric);
	if (*drop <= s->t->budget && saved_of(s->t, mask) > s->best_saved) {
		memcpy(s->best, mask, s->t->n * sizeof *mask);
		s->best_saved = saved_of(s->t, mask);
	}
	return 0;
}

/* Up to TUNE_MAX_ITEMS items: every tensor, or groups of neighbours of
 * about equal bytes when there are more tensors. */
static void make_items(struct search *s)
{
	const struct tune *t = s->t;
	double total = 0, acc = 0;
	for (size_t i = 0; i < t->n; i++)
		total += t->saved[i];
	size_t groups = t->n < TUNE_MAX_ITEMS ? t->n : TUNE_MAX_ITEMS;
	for (size_t i = 0; i < t->n; i++) {
		struct item *it = &s->items[s->n_items ? s->n_items - 1 : 0];
		bool open_new = !s->n_items || (t->n <= TUNE_MAX_ITEMS) ||
				(acc >= total * (double)s->n_items / (double)groups && s->n_items < groups);
		if (open_new) {
			it = &s->items[s->n_items++];
			*it = (struct item){ i, 0, 0, 0 };
		}
		it->count++;
		it->saved += t->saved[i];
		acc += t->saved[i];
	}
}

static void mask_of(const struct search *s, uint64_t subset, bool *mask)
{
	memset(mask, 0, s->t->n * sizeof *mask);
	for (size_t k = 0; k < s->n_items; k++)
		for (size_t i = 0; (subset >> k & 1) && i < s->items[k].count; i++)
			mask[s->items[k].first + i] = true;
}

static double item_drop(const struct item *it)
{
	return it->drop > 0 ? it->drop : 0; /* a measured gain is noise: count it as no drop */
}

static bool was_tried(uint64_t sub, const uint64_t *failed, size_t n_failed)
{
	for (size_t f = 0; f < n_failed; f++)
		if (failed[f] == sub)
			return true;
	return false;
}

/* Few items: every subset, exactly. */
static uint64_t best_subset_exact(const struct search *s, double budget, const uint64_t *failed,
				  size_t n_failed)
{
	uint64_t best = 0;
	double best_saved = s->best_saved;
	for (uint64_t sub = 1; sub < ((uint64_t)1 << s->n_items); sub++) {
		double saved = 0, drop = 0;
		for (size_t k = 0; k < s->n_items; k++)
			if (sub >> k & 1)
				saved += s->items[k].saved, drop += item_drop(&s->items[k]);
		if (drop <= budget && saved > best_saved && !was_tried(sub, failed, n_failed))
			best = sub, best_saved = saved;
	}
	return best;
}

#define DP_UNITS 4096 /* bytes saved are counted in 1/4096 of the total: within n units of the optimum */

/* Many items: a 0/1 knapsack by dynamic programming over the bytes saved
 * (in units), the least total drop for each. */
static uint64_t best_subset_dp(const struct search *s, double budget, const uint64_t *failed,
			       size_t n_failed)
{
	double total = 0;
	for (size_t k = 0; k < s->n_items; k++)
		total += s->items[k].saved;
	double unit = total / DP_UNITS > 1 ? total / DP_UNITS : 1;
	size_t V = (size_t)(total / unit) + s->n_items + 1;
	double *drop = malloc(V * sizeof *drop);
	uint64_t *set = calloc(V, sizeof *set), best = 0;
	for (size_t v = 0; drop && v < V; v++)
		drop[v] = v ? INFINITY : 0;
	for (size_t k = 0; drop && set && k < s->n_items; k++) {
		size_t w = (size_t)(s->items[k].saved / unit + 0.5);
		for (size_t v = V; v-- > w;)
			if (drop[v - w] + item_drop(&s->items[k]) < drop[v])
				drop[v] = drop[v - w] + item_drop(&s->items[k]), set[v] = set[v - w] | (uint64_t)1 << k;
	}
	double best_saved = s->best_saved;
	for (size_t v = 0; drop && set && v < V; v++) {
		double saved = 0;
		for (size_t k = 0; k < s->n_items; k++)
			saved += set[v] >> k & 1 ? s->items[k].saved : 0;
		if (drop[v] <= budget && saved > best_saved && !was_tried(set[v], failed, n_failed))
			best = set[v], best_saved = saved;
	}
	free(drop);
	free(set);
	return best;
}

/* The subset with the most bytes whose drops add up to at most budget,
 * not among those that failed; 0 when none beats the best so far. */
static uint64_t best_subset(const struct search *s, double budget, const uint64_t *failed, size_t n_failed)
{
	return s->n_items <= TUNE_EXACT_ITEMS ? best_subset_exact(s, budget, failed, n_failed)
					      : best_subset_dp(s, budget, failed, n_failed);
}

#define KNAPSACK_TRIES 3

/* Combines the measured items: the knapsack's choice, verified; each
 * failure shrinks the budget the additive model may use by the excess it
 * showed. Returns whether a choice passed. */
static int knapsack(struct search *s, bool *passed)
{
	uint64_t failed[KNAPSACK_TRIES];
	size_t n_failed = 0;
	double budget = s->t->budget;
	*passed = false;
	while (n_failed < KNAPSACK_TRIES) {
		uint64_t sub = best_subset(s, budget, failed, n_failed);
		double predicted = 0, drop;
		if (!sub || !(sub & (sub - 1)))
			return 0; /* none, or one item: measured already */
		for (size_t k = 0; k < s->n_items; k++)
			predicted += sub >> k & 1 ? item_drop(&s->items[k]) : 0;
		mask_of(s, sub, s->mask);
		int rc = try_set(s, s->mask, &drop);
		if (rc)
			return rc;
		if ((*passed = drop <= s->t->budget)) {
			s->best_sub = sub;
			return 0;
		}
		failed[n_failed++] = sub;
		if (drop > predicted)
			budget -= drop - predicted;
	}
	return 0;
}

/* When the drops do not add up (tensors interact): grow the best set
 * evaluated so far one item at a time, the most bytes first, keeping each
 * addition the evaluator accepts. */
static int greedy(struct search *s)
{
	uint64_t cur = s->best_sub, tried = 0;
	for (;;) {
		size_t pick = SIZE_MAX;
		for (size_t k = 0; k < s->n_items; k++)
			if (!((cur | tried) >> k & 1) && s->items[k].drop <= s->t->budget &&
			    (pick == SIZE_MAX || s->items[k].saved > s->items[pick].saved))
				pick = k;
		if (pick == SIZE_MAX)
			return 0;
		tried |= (uint64_t)1 << pick;
		uint64_t sub = cur | (uint64_t)1 << pick;
		double drop;
		mask_of(s, sub, s->mask);
		int rc = try_set(s, s->mask, &drop);
		if (rc)
			return rc;
		if (drop <= s->t->budget)
			cur = s->best_sub = sub;
	}
}

static int combine(struct search *s)
{
	bool passed;
	for (size_t k = 0; k < s->n_items; k++) /* the best item alone that fits */
		if (s->items[k].drop <= s->t->budget &&
		    (!s->best_sub || s->items[k].saved > s->items[__builtin_ctzll(s->best_sub)].saved))
			s->best_sub = (uint64_t)1 << k;
	int rc = knapsack(s, &passed);
	return rc || passed ? rc : greedy(s);
}

/* The whole search. TUNE_EXHAUSTED ends it early with the best so far. */
static int search(struct search *s)
{
	struct tune *t = s->t;
	double drop;
	int rc = tune_eval(t, NULL, &t->m0);
	if (rc)
		return rc == TUNE_EXHAUSTED ? 0 : rc;
	t->budget = t->a->budget_percent ? t->a->budget / 100 * fabs(t->m0) : t->a->budget;
	for (size_t i = 0; i < t->n; i++)
		s->mask[i] = true;
	if ((rc = try_set(s, s->mask, &drop)) || drop <= t->budget)
		return rc == TUNE_EXHAUSTED ? 0 : rc;
	make_items(s);
	for (size_t k = 0; k < s->n_items; k++) {
		mask_of(s, (uint64_t)1 << k, s->mask);
		if ((rc = try_set(s, s->mask, &s->items[k].drop)))
			return rc == TUNE_EXHAUSTED ? 0 : rc;
	}
	rc = combine(s);
	return rc == TUNE_EXHAUSTED ? 0 : rc;
}

/* ---- the command ---------------------------------------------------------- */

static char *path_with(const char *path, const char *suffix)
{
	size_t len = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(len);
	if (p)
		snprintf(p, len, "%s%s", path, suffix);
	return p;
}

/* The converted tensors and the bytes each saves, from the full report. */
static int list_converted(struct tune *t, const json_t *report)
{
	const json_t *ts = json_object_get(report, "tensors"), *x;
	size_t i;
	t->names = calloc(json_array_size(ts) + 1, sizeof *t->names);
	t->saved = calloc(json_array_size(ts) + 1, sizeof *t->saved);
	if (!t->names || !t->saved)
		return 1;
	json_array_foreach(ts, i, x) {
		if (!json_is_true(json_object_get(x, "selected")))
			continue; /* in the full conversion, selected is converted */
		t->names[t->n] = json_str_of(x, "name");
		t->saved[t->n++] = json_real_of(x, "bytes_before") - json_real_of(x, "bytes_after");
	}
	return 0;
}

static json_t *tune_json(const struct tune *t, const struct search *s)
{
	json_t *chosen = json_array();
	for (size_t i = 0; i < t->n; i++)
		if (s->best[i])
			json_array_append_new(chosen, json_string(t->names[i]));
	return json_pack("{s:s, s:f, s:b, s:b, s:f, s:f, s:I, s:O, s:o, s:f}", "eval", t->a->eval_cmd,
			 "budget", t->a->budget, "budget_percent", t->a->budget_percent, "lower_is_better",
			 t->a->lower_is_better, "budget_metric", t->budget, "baseline", t->m0,
			 "max_evals", (json_int_t)t->a->max_evals, "evaluations", t->log, "chosen", chosen,
			 "bytes_saved", s->best_saved);
}

static void print_tune(FILE *out, const struct tune *t, const struct search *s)
{
	size_t k = 0, cached = 0, i;
	json_t *e;
	for (size_t j = 0; j < t->n; j++)
		k += s->best[j];
	json_array_foreach(t->log, i, e)
		cached += json_is_true(json_object_get(e, "cached"));
	fprintf(out, "\ntune: metric of the original %.6g, budget %.6g (%s is better); "
		"%zu evaluations (%zu from the cache)\n"
		"tune: chose %zu of %zu converted tensors, saving %.0f bytes\n", t->m0, t->budget,
		t->a->lower_is_better ? "lower" : "higher", json_array_size(t->log), cached, k, t->n,
		s->best_saved);
}

/* Writes the chosen set to the output and reports it with the search. */
static int finish(struct tune *t, struct search *s)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	char *text = NULL;
	int rc = tune_write(t, ctx, s->best, t->a->output);
	if (!rc)
		rc = ggpack_conversion_report(ctx, t->conv, "tune", &text);
	rc = rc ? cli_fail(ctx, rc) : 0;
	json_t *r = rc ? NULL : json_loads(text, 0, NULL);
	if (r) {
		json_object_set_new(r, "tune", tune_json(t, s));
		free(text);
		text = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		rc = text ? render_to(t->a, text, r) : 1;
		if (!rc && t->a->format != FORMAT_JSON && !strcmp(t->a->report, "-"))
			print_tune(stdout, t, s);
	}
	json_decref(r);
	free(text);
	ggpack_ctx_free(ctx);
	return rc;
}

static int check_args(const struct cli_args *a)
{
	if (a->n_inputs != 1 || !a->output || !a->eval_cmd || isnan(a->budget))
		return cli_usage_error("tune", "needs IN.onnx, -o OUT.onnx, --eval CMD and --budget D");
	return cli_check_output(a, "tune");
}

static int run_search(struct tune *t, struct search *s, const json_t *report)
{
	char *options = json_dumps(json_object_get(report, "options"), JSON_COMPACT | JSON_SORT_KEYS);
	int rc = options ? tune_cache_open(t, json_str_of(json_object_get(report, "input"), "sha256"), options) : 1;
	free(options);
	s->best = calloc(t->n + 1, sizeof *s->best);
	s->mask = calloc(t->n + 1, sizeof *s->mask);
	if (!rc && (!s->best || !s->mask))
		rc = 1;
	if (!rc)
		rc = search(s);
	if (!rc && s->best_saved <= 0) {
		fprintf(stderr, "ggpack: tune: no conversion of %s fits the budget%s; nothing written\n",
			t->input, t->new_evals >= t->a->max_evals ? " within --max-evals" : "");
		rc = 10;
	}
	return rc;
}

static int run_tune(int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cli_tune, argc, argv, &a);
	if (rc || (rc = check_args(&a)))
		return cli_args_free(&a), rc < 0 ? 0 : rc;
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	struct tune t = { .a = &a, .input = a.inputs[0], .quiet = a.quiet, .log = json_array() };
	struct search s = { .t = &t };
	char *text = NULL;
	json_t *report = NULL;
	rc = ggpack_model_load(ctx, a.inputs[0], &m);
	if (!rc)
		rc = ggpack_convert(ctx, m, &a.conv, &t.conv);
	if (!rc)
		rc = ggpack_conversion_report(ctx, t.conv, "tune", &text);
	rc = rc ? cli_fail(ctx, rc) : 0;
	if (!rc && (!(report = json_loads(text, 0, NULL)) || list_converted(&t, report) ||
		    !(t.cache_path = path_with(a.output, ".tune-cache.json")) ||
		    !(t.cand_path = path_with(a.output, ".candidate.onnx"))))
		rc = (fputs("ggpack: out of memory\n", stderr), 1);
	if (!rc)
		rc = run_search(&t, &s, report);
	if (!rc)
		rc = finish(&t, &s);
	free(s.best);
	free(s.mask);
	tune_free(&t);
	json_decref(report);
	free(text);
	ggpack_conversion_free(t.conv);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	cli_args_free(&a);
	return rc;
}

const struct cli_command cli_tune = {
	"tune", run_tune, "the most compression your own evaluation accepts",
	"usage: ggpack tune IN.onnx -o OUT.onnx --eval 'CMD' --budget D [options]\n"
	"\n"
	"Runs CMD through the shell with a candidate model's path in $GGPACK_MODEL;\n"
	"CMD prints a number on its last line (the metric, higher is better unless\n"
	"--lower-is-better). tune evaluates the original, then the full conversion;\n"
	"while the drop exceeds the budget it measures each converted tensor alone\n"
	"(neighbouring tensors in groups when there are more than 64), finds the\n"
	"combination that saves the most bytes within the budget, and verifies it\n"
	"by an evaluation. The model written is always one that was evaluated.\n"
	"\n"
	"  --eval CMD          the evaluator\n"
	"  --budget D          the largest drop of the metric allowed, in its units,\n"
	"                      or D% of the original's metric\n"
	"  --lower-is-better   the metric is a loss or an error\n"
	"  --max-evals N       at most N new evaluations (200); the best so far wins\n"
	"  and every option of convert (ggpack help convert)\n"
	"\n"
	"Evaluations are cached in OUT.tune-cache.json, keyed by the set of converted\n"
	"tensors, so an interrupted run resumes. Progress and each evaluation go to\n"
	"stderr; the report (with a \"tune\" object: every evaluation, the choice)\n"
	"to stdout or --report.\n"
	"\n"
	"exit codes: 0 ok, 1 internal, 2 usage, 3 invalid model, 4 I/O,\n"
	"10 the evaluator failed, or no conversion fits the budget (nothing written)\n",
};
