/*
 * cli.h - what the command files share: the command table entry, and the
 * helpers for usage errors and library errors.
 */
#ifndef GGPACK_CLI_H
#define GGPACK_CLI_H

#include <stdio.h>

#include "ggpack.h"

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *help; /* printed by `ggpack help NAME` and `ggpack NAME --help` */
};

extern const struct cli_command cli_info, cli_convert, cli_report, cli_diff, cli_tune, cli_init;

/* ---- options.c: what convert, report and diff share ---- */

enum cli_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_CSV, FORMAT_MD };
enum cli_sort { SORT_SAVED, SORT_SNR, SORT_NAME, SORT_MODEL };
extern const char *const cli_metric_names[]; /* entropy, exp_golomb, huffman, fixed, zstd */

struct cli_args {
	struct ggpack_convert_options conv;
	const char **include, **exclude, **ops;
	size_t n_include, n_exclude, n_ops;
	char *ops_text;
	const char *inputs[2];
	size_t n_inputs;
	const char *output, *report;   /* report: a file, or "-" for stdout */
	int force, quiet, verbose;
	int format, sort, metric;
	double max_bits, min_snr, fail_if_increase; /* NaN: no gate */
	/* tune */
	const char *eval_cmd;
	double budget;                 /* NaN: not given */
	int budget_percent, lower_is_better;
	unsigned max_evals;
};

/* Parses argv (argv[0] is the command). Returns 0, 2 after a usage error
 * (printed), or -1 after printing the help. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, struct cli_args *a);
void cli_args_free(struct cli_args *a);
/* Parses v as a number in [lo, hi] into *out; else a usage error naming
 * the option (returns 2, *out untouched). */
int cli_number(const char *cmd, const char *opt, const char *v, double lo, double hi, double *out);

#include <jansson.h>
#include <math.h>

/* A number of a JSON object, NaN when absent or null. */
static inline double json_real_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A string of a JSON object, "" when absent or null. */
static inline const char *json_str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* ---- render.c: a report in text, Markdown or CSV ---- */
void render_report(FILE *out, const json_t *r, int format, int sort);
/* Writes the report text (JSON) in the chosen format to a->report. Returns an exit code. */
int render_to(const struct cli_args *a, const char *json_text, const json_t *r);

/* ---- gates.c ---- */
/* Checks --max-bits and --min-snr against a report; prints what broke.
 * Returns 0 or 10. */
int gates_check_report(const struct cli_args *a, const json_t *r);

/* ---- run.c: load, convert, (save), report ---- */
/* Monotonic seconds, for progress and tune's timings. */
double cli_now(void);
/* convert and report: the pipeline on the one input, the report rendered,
 * the gates checked. Returns the exit code. */
int cli_pipeline_command(const struct cli_args *a, const char *command, int save);
/* Runs the pipeline on path; *report is the parsed report (the caller
 * json_decref's it) and *text its JSON. Saves to a->output when save. */
int cli_run_pipeline(const struct cli_args *a, const char *command, const char *path, int save,
		     json_t **report, char **text);

/* Prints "ggpack: CMD: what" and "try --help" on stderr; returns exit 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0, or the usage error for an -o OUTPUT that exists without --force:
 * checked before the work (the save checks again, at the end). */
int cli_check_output(const struct cli_args *a, const char *cmd);
/* Prints the library's detail for a failure; returns its exit code. */
int cli_fail(const struct ggpack_ctx *ctx, int code);
/* Prints a command's help to stdout; returns 0. */
int cli_help(const struct cli_command *cmd);

#endif
