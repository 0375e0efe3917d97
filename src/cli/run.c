/*
 * run.c - what convert, report and diff (on a model) share: load the
 * model, run the pipeline with progress on a terminal, save when asked,
 * and produce the report as JSON text and as a parsed object.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct progress {
	const char *path;
	double last;
	int shown;
};

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One line on stderr, rewritten at most 5 times a second. */
static void show_progress(void *arg, size_t done, size_t total)
{
	struct progress *p = arg;
	double t = cli_now();
	if (done < total && t - p->last < 0.2)
		return;
	p->last = t;
	p->shown = 1;
	fprintf(stderr, "\rggpack: %s: tensor %zu of %zu", p->path, done, total);
	fflush(stderr);
}

int cli_run_pipeline(const struct cli_args *a, const char *command, const char *path, int save,
		     json_t **report, char **text)
{
	int rc = save ? cli_check_output(a, command) : 0;
	if (rc)
		return rc;
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	struct ggpack_conversion *c = NULL;
	struct ggpack_convert_options o = a->conv;
	struct progress p = { path, cli_now(), 0 };
	char *out_dir = save ? strdup(a->output) : NULL;
	if (!ctx || (save && !out_dir))
		return fputs("ggpack: out of memory\n", stderr), 1;
	/* memory that does not grow with the model: converted tensors wait in
	 * a temporary file beside the output; a report keeps only figures */
	if (save)
		o.spill_dir = dirname(out_dir);
	else
		o.discard_data = 1;
	if (!a->quiet && isatty(STDERR_FILENO))
		o.progress = show_progress, o.progress_arg = &p;
	rc = ggpack_model_load(ctx, path, &m);
	if (!rc)
		rc = ggpack_convert(ctx, m, &o, &c);
	if (p.shown)
		fputs("\r\033[K", stderr);
	if (!rc && save) {
		struct ggpack_save_options so = { .force = a->force };
		rc = ggpack_conversion_save(ctx, c, a->output, &so);
	}
	if (!rc)
		rc = ggpack_conversion_report(ctx, c, command, text);
	if (!rc && !(*report = json_loads(*text, 0, NULL))) {
		free(*text);
		rc = (fputs("ggpack: out of memory\n", stderr), 1);
	} else if (rc) {
		rc = cli_fail(ctx, rc);
	}
	if (!rc && a->verbose)
		fprintf(stderr, "ggpack: %s: %s done\n", path, command);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	free(out_dir);
	return rc;
}

int cli_pipeline_command(const struct cli_args *a, const char *command, int save)
{
	json_t *report = NULL;
	char *text = NULL;
	int rc = cli_run_pipeline(a, command, a->inputs[0], save, &report, &text);
	if (!rc)
		rc = render_to(a, text, report);
	if (!rc)
		rc = gates_check_report(a, report);
	json_decref(report);
	free(text);
	return rc;
}
