/*
 * options.c - the options convert, report and diff share (DESIGN.md):
 * pipeline, report and gates, parsed once by getopt_long. A preset is
 * applied first, wherever it appears, so explicit options override it.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	O_PRESET = 256, O_DEEPSHAPE, O_SCOPE, O_RF8, O_STORE, O_SELECT, O_FLOOR, O_FLOOR_LOSS,
	O_GRID, O_MIN_COUNT, O_SHAPE_SCALE, O_STD_SCALE, O_MIN_PARAMS, O_INCLUDE, O_EXCLUDE, O_OPS,
	O_ZSTD, O_REPORT, O_FORMAT, O_SORT, O_MAX_BITS, O_METRIC, O_MIN_SNR, O_INCREASE, O_FORCE,
	O_THREADS, O_EVAL, O_BUDGET, O_LOWER, O_MAX_EVALS,
};

static const struct option long_opts[] = {
	{ "output", required_argument, NULL, 'o' }, { "force", no_argument, NULL, O_FORCE },
	{ "threads", required_argument, NULL, O_THREADS }, { "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
	{ "preset", required_argument, NULL, O_PRESET }, { "deepshape", no_argument, NULL, O_DEEPSHAPE },
	{ "deepshape-scope", required_argument, NULL, O_SCOPE }, { "rf8", required_argument, NULL, O_RF8 },
	{ "store", required_argument, NULL, O_STORE }, { "select", required_argument, NULL, O_SELECT },
	{ "rf8-floor", required_argument, NULL, O_FLOOR },
	{ "floor-max-loss", required_argument, NULL, O_FLOOR_LOSS },
	{ "grid", required_argument, NULL, O_GRID }, { "min-count", required_argument, NULL, O_MIN_COUNT },
	{ "shape-scale", required_argument, NULL, O_SHAPE_SCALE },
	{ "std-scale", required_argument, NULL, O_STD_SCALE },
	{ "min-params", required_argument, NULL, O_MIN_PARAMS },
	{ "include", required_argument, NULL, O_INCLUDE }, { "exclude", required_argument, NULL, O_EXCLUDE },
	{ "ops", required_argument, NULL, O_OPS }, { "zstd-level", required_argument, NULL, O_ZSTD },
	{ "report", required_argument, NULL, O_REPORT }, { "format", required_argument, NULL, O_FORMAT },
	{ "sort", required_argument, NULL, O_SORT }, { "max-bits", required_argument, NULL, O_MAX_BITS },
	{ "metric", required_argument, NULL, O_METRIC }, { "min-snr", required_argument, NULL, O_MIN_SNR },
	{ "fail-if-increase", required_argument, NULL, O_INCREASE },
	{ "eval", required_argument, NULL, O_EVAL }, { "budget", required_argument, NULL, O_BUDGET },
	{ "lower-is-better", no_argument, NULL, O_LOWER },
	{ "max-evals", required_argument, NULL, O_MAX_EVALS }, { 0 },
};

void cli_args_free(struct cli_args *a)
{
	free(a->include);
	free(a->exclude);
	free(a->ops);
	free(a->ops_text);
}

static int pick(const char *cmd, const char *opt, const char *v, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	return cli_usage_error(cmd, "%s: '%s' is not one of the choices", opt, v);
}

int cli_number(const char *cmd, const char *opt, const char *v, double lo, double hi, double *out)
{
	char *end;
	double d = strtod(v, &end);
	if (!*v || *end || !(d >= lo && d <= hi))
		return cli_usage_error(cmd, "%s: '%s' is not a number in %g..%g", opt, v, lo, hi);
	*out = d;
	return 0;
}

static int push(const char ***arr, size_t *n, const char *v)
{
	const char **p = realloc(*arr, (*n + 1) * sizeof *p);
	if (!p)
		return 1;
	p[(*n)++] = v;
	*arr = p;
	return 0;
}

/* --ops A,B,C: split a copy at the commas. */
static int split_ops(struct cli_args *a, const char *v)
{
	free(a->ops_text);
	free(a->ops);
	a->ops = NULL, a->n_ops = 0;
	if (!(a->ops_text = strdup(v)))
		return 1;
	for (char *s = strtok(a->ops_text, ","); s; s = strtok(NULL, ","))
		if (push(&a->ops, &a->n_ops, s))
			return 1;
	return 0;
}

static const char *const rf8_names[] = { "nearest", "paper", "off", NULL };
static const char *const store_names[] = { "lut", "float", NULL };
static const char *const select_names[] = { "weights", "all", NULL };
static const char *const scope_names[] = { "tensor", "model", NULL };
static const char *const format_names[] = { "text", "json", "csv", "md", NULL };
static const char *const sort_names[] = { "saved", "snr", "name", "model", NULL };
const char *const cli_metric_names[] = { "entropy", "exp_golomb", "huffman", "fixed", "zstd", NULL };

/* --budget D, or D% of the original's metric. */
static int budget(const char *cmd, const char *v, struct cli_args *a)
{
	char *end;
	double d = strtod(v, &end);
	a->budget_percent = *end == '%';
	if (!*v || (*end && strcmp(end, "%")) || !(d >= 0 && d < 1e300))
		return cli_usage_error(cmd, "--budget: '%s' is not a number >= 0 (or a percentage)", v);
	a->budget = d;
	return 0;
}

static int pipeline_option(const char *cmd, int c, const char *v, struct cli_args *a)
{
	struct ggpack_convert_options *o = &a->conv;
	double d;
	int k = 0, rc = 0;
	switch (c) {
	case O_DEEPSHAPE: o->deepshape = 1; break;
	case O_SCOPE: rc = pick(cmd, "--deepshape-scope", v, scope_names, &k); o->ds_scope = k; break;
	case O_RF8:
		rc = pick(cmd, "--rf8", v, rf8_names, &k);
		o->rf8 = k != 2;
		o->rounding = k == 1 ? GGPACK_ROUND_PAPER : GGPACK_ROUND_NEAREST;
		break;
	case O_STORE: rc = pick(cmd, "--store", v, store_names, &k); o->store = k; break;
	case O_SELECT: rc = pick(cmd, "--select", v, select_names, &k); o->select.mode = k; break;
	case O_FLOOR:
		if (!strcmp(v, "auto") || !strcmp(v, "none")) {
			o->floor = *v == 'a' ? GGPACK_FLOOR_AUTO : GGPACK_FLOOR_NONE;
			break;
		}
		rc = cli_number(cmd, "--rf8-floor", v, 0, 1e300, &o->floor_value);
		o->floor = GGPACK_FLOOR_VALUE;
		break;
	case O_FLOOR_LOSS: rc = cli_number(cmd, "--floor-max-loss", v, 0, 1000, &o->floor_max_loss); break;
	case O_GRID: rc = cli_number(cmd, "--grid", v, -64, 64, &d); o->grid = o->ds.grid = (int)d; break;
	case O_MIN_COUNT: rc = cli_number(cmd, "--min-count", v, 0, 1e18, &d); o->ds.min_count = (uint64_t)d; break;
	case O_SHAPE_SCALE: rc = cli_number(cmd, "--shape-scale", v, 1e-6, 100, &o->ds.shape_scale); break;
	case O_STD_SCALE: rc = cli_number(cmd, "--std-scale", v, 1e-6, 100, &o->ds.std_scale); break;
	case O_MIN_PARAMS: rc = cli_number(cmd, "--min-params", v, 1, 1e18, &d); o->select.min_params = (uint64_t)d; break;
	case O_INCLUDE: rc = push(&a->include, &a->n_include, v); break;
	case O_EXCLUDE: rc = push(&a->exclude, &a->n_exclude, v); break;
	case O_OPS: rc = split_ops(a, v); break;
	case O_ZSTD: rc = cli_number(cmd, "--zstd-level", v, -7, 22, &d); o->zstd_level = (int)d; break;
	default: return -1;
	}
	return rc;
}

static int other_option(const char *cmd, int c, const char *v, struct cli_args *a)
{
	double d;
	int k = 0, rc = 0;
	switch (c) {
	case 'o': a->output = v; break;
	case 'q': a->quiet = 1; break;
	case 'v': a->verbose = 1; break;
	case O_FORCE: a->force = a->conv.force = 1; break;
	case O_THREADS: rc = cli_number(cmd, "--threads", v, 0, 1024, &d); ggpack_set_threads((unsigned)d); break;
	case O_REPORT: a->report = v; break;
	case O_FORMAT: rc = pick(cmd, "--format", v, format_names, &k); a->format = k; break;
	case O_SORT: rc = pick(cmd, "--sort", v, sort_names, &k); a->sort = k; break;
	case O_MAX_BITS: rc = cli_number(cmd, "--max-bits", v, 0, 64, &a->max_bits); break;
	case O_METRIC: rc = pick(cmd, "--metric", v, cli_metric_names, &a->metric); break;
	case O_MIN_SNR: rc = cli_number(cmd, "--min-snr", v, -1000, 1000, &a->min_snr); break;
	case O_INCREASE: rc = cli_number(cmd, "--fail-if-increase", v, 0, 1e6, &a->fail_if_increase); break;
	case O_EVAL: a->eval_cmd = v; break;
	case O_BUDGET: rc = budget(cmd, v, a); break;
	case O_LOWER: a->lower_is_better = 1; break;
	case O_MAX_EVALS: rc = cli_number(cmd, "--max-evals", v, 1, 1e6, &d); a->max_evals = (unsigned)d; break;
	default: return cli_usage_error(cmd, "unknown option");
	}
	return rc;
}

/* The preset first: every other option is applied on top of it. */
static int find_preset(const char *cmd, int argc, char **argv, struct cli_args *a)
{
	const char *preset = "safe";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--preset") && i + 1 < argc)
			preset = argv[i + 1];
		else if (!strncmp(argv[i], "--preset=", 9))
			preset = argv[i] + 9;
	}
	if (ggpack_convert_defaults(&a->conv, preset))
		return cli_usage_error(cmd, "--preset: '%s' is not safe or paper", preset);
	return 0;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, struct cli_args *a)
{
	memset(a, 0, sizeof *a);
	a->max_bits = a->min_snr = a->fail_if_increase = a->budget = NAN;
	a->max_evals = 200;
	a->report = "-";
	if (find_preset(cmd->name, argc, argv, a))
		return 2;
	int c, rc = 0;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "ho:qv", long_opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(cmd), -1;
		if (c == '?')
			return cli_usage_error(cmd->name, "bad option");
		if (c == O_PRESET)
			continue;
		rc = pipeline_option(cmd->name, c, optarg, a);
		if (rc < 0)
			rc = other_option(cmd->name, c, optarg, a);
	}
	if (rc)
		return 2;
	for (; optind < argc; optind++)
		if (a->n_inputs < 2)
			a->inputs[a->n_inputs++] = argv[optind];
		else
			return cli_usage_error(cmd->name, "too many inputs");
	a->conv.include = a->include, a->conv.n_include = a->n_include;
	a->conv.exclude = a->exclude, a->conv.n_exclude = a->n_exclude;
	a->conv.ops = a->ops, a->conv.n_ops = a->n_ops;
	return 0;
}
