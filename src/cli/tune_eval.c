/*
 * tune_eval.c - one evaluation for tune: the candidate model written beside
 * the output, the user's command run through the shell with its path in
 * $GGPACK_MODEL, the number on the last line of its output read back; and
 * the cache of evaluations (a JSON file beside the output, keyed by the
 * set of converted tensors) that lets an interrupted run resume.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tune.h"

/* The set as a JSON array of names in model order (NULL mask: none). */
static json_t *set_json(const struct tune *t, const bool *mask)
{
	json_t *a = json_array();
	for (size_t i = 0; mask && i < t->n; i++)
		if (mask[i])
			json_array_append_new(a, json_string(t->names[i]));
	return a;
}

static char *set_key(const struct tune *t, const bool *mask)
{
	json_t *a = set_json(t, mask);
	char *key = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return key;
}

/* Writes the cache to a temporary file renamed into place: an interrupted
 * run leaves the last complete cache. */
static int cache_write(const struct tune *t)
{
	size_t len = strlen(t->cache_path) + 8;
	char *tmp = malloc(len);
	if (!tmp)
		return 1;
	snprintf(tmp, len, "%s.tmp", t->cache_path);
	int rc = json_dump_file(t->cache, tmp, JSON_INDENT(1)) || rename(tmp, t->cache_path);
	if (rc)
		fprintf(stderr, "ggpack: %s: cannot write the tune cache: %s\n", t->cache_path, strerror(errno));
	free(tmp);
	return rc;
}

int tune_cache_open(struct tune *t, const char *input_sha256, const char *options)
{
	json_t *context = json_pack("{s:s, s:s, s:s}", "input_sha256", input_sha256, "options", options,
				    "eval", t->a->eval_cmd);
	json_t *old = json_load_file(t->cache_path, 0, NULL);
	if (old && json_equal(json_object_get(old, "context"), context) &&
	    json_is_object(json_object_get(old, "evals"))) {
		t->cache = old;
		json_decref(context);
		if (!t->quiet)
			fprintf(stderr, "ggpack: tune: resuming from %s (%zu evaluations)\n", t->cache_path,
				json_object_size(json_object_get(old, "evals")));
		return 0;
	}
	json_decref(old);
	t->cache = json_pack("{s:o, s:{}}", "context", context, "evals");
	return t->cache ? 0 : 1;
}

/* Runs the evaluator on path; the last line of its output is the metric. */
static int run_evaluator(const struct tune *t, const char *path, double *metric)
{
	char line[256] = "", buf[256];
	setenv("GGPACK_MODEL", path, 1);
	fflush(NULL);
	FILE *p = popen(t->a->eval_cmd, "r");
	if (!p) {
		fprintf(stderr, "ggpack: tune: cannot run the evaluator: %s\n", strerror(errno));
		return 10;
	}
	while (fgets(buf, sizeof buf, p))
		if (buf[strspn(buf, " \t\r\n")])
			memcpy(line, buf, sizeof line);
	int status = pclose(p);
	char *end;
	*metric = strtod(line, &end);
	bool number = end != line && !end[strspn(end, " \t\r\n")]; /* "0.5x" is not 0.5 */
	if (status != 0 || !number || !isfinite(*metric)) {
		fprintf(stderr, "ggpack: tune: the evaluator failed on %s (%s%d); its last line: %s\n", path,
			WIFEXITED(status) ? "exit " : "status ", WIFEXITED(status) ? WEXITSTATUS(status) : status,
			*line ? line : "(none)\n");
		return 10;
	}
	return 0;
}

int tune_write(struct tune *t, struct ggpack_ctx *ctx, const bool *mask, const char *path)
{
	const char **names = calloc(t->n + 1, sizeof *names);
	size_t k = 0;
	if (!names)
		return GGPACK_E_NOMEM;
	for (size_t i = 0; i < t->n; i++)
		if (mask[i])
			names[k++] = t->names[i];
	struct ggpack_save_options so = { .force = 1 }; /* the output was checked before the search */
	int rc = ggpack_conversion_keep(ctx, t->conv, names, k);
	if (!rc)
		rc = ggpack_conversion_save(ctx, t->conv, path, &so);
	free(names);
	return rc;
}

/* Writes the candidate: the conversion with only the tensors of mask. */
static int write_candidate(struct tune *t, const bool *mask)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	int rc = tune_write(t, ctx, mask, t->cand_path);
	if (rc)
		rc = cli_fail(ctx, rc);
	ggpack_ctx_free(ctx);
	return rc;
}

static void log_eval(struct tune *t, const bool *mask, double metric, double seconds, bool cached)
{
	json_t *e = json_pack("{s:o, s:f, s:f, s:b}", "tensors", set_json(t, mask), "metric", metric,
			      "seconds", seconds, "cached", cached);
	json_array_append_new(t->log, e);
	if (!t->quiet) {
		size_t k = 0;
		for (size_t i = 0; mask && i < t->n; i++)
			k += mask[i];
		fprintf(stderr, "ggpack: tune: %s %zu of %zu tensors converted: metric %.6g (%.1f s)\n",
			cached ? "cached:" : "evaluated:", k, t->n, metric, seconds);
	}
}

int tune_eval(struct tune *t, const bool *mask, double *metric)
{
	char *key = set_key(t, mask);
	json_t *evals = json_object_get(t->cache, "evals"), *hit = key ? json_object_get(evals, key) : NULL;
	if (!key)
		return 1;
	if (hit) {
		*metric = json_real_of(hit, "metric");
		log_eval(t, mask, *metric, json_real_of(hit, "seconds"), true);
		free(key);
		return TUNE_OK;
	}
	if (t->new_evals >= t->a->max_evals) {
		free(key);
		return TUNE_EXHAUSTED;
	}
	double start = cli_now();
	int rc = mask ? write_candidate(t, mask) : 0;
	if (!rc)
		rc = run_evaluator(t, mask ? t->cand_path : t->input, metric);
	double seconds = cli_now() - start;
	if (!rc) {
		t->new_evals++;
		json_object_set_new(evals, key, json_pack("{s:f, s:f}", "metric", *metric, "seconds", seconds));
		log_eval(t, mask, *metric, seconds, false);
		rc = cache_write(t);
	}
	free(key);
	return rc;
}

void tune_free(struct tune *t)
{
	if (t->cand_path) {
		unlink(t->cand_path);
		size_t len = strlen(t->cand_path) + 6;
		char *data = malloc(len);
		if (data) {
			snprintf(data, len, "%s.data", t->cand_path);
			unlink(data);
			free(data);
		}
	}
	json_decref(t->cache);
	json_decref(t->log);
	free(t->names);
	free(t->saved);
	free(t->cache_path);
	free(t->cand_path);
}
