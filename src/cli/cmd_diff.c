/*
 * cmd_diff.c - `ggpack diff A B`: compares the bit rates of two models or
 * two saved JSON reports (or one of each). Tensors are matched by name,
 * then, for those left, by shape and content hash (names change between
 * exports); the rest are listed as added or removed. The comparison is
 * built as one JSON object and rendered from it.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

/* A saved report starts with '{'; anything else is taken for a model. */
static int is_report(const char *path)
{
	FILE *f = fopen(path, "rb");
	int c = ' ';
	if (!f)
		return -1;
	while (c == ' ' || c == '\n' || c == '\r' || c == '\t')
		c = fgetc(f);
	fclose(f);
	return c == '{';
}

/* What diff reads of a report, when the report lacks it: a cut or
 * hand-edited file is refused (exit 3) rather than compared as empty. */
static const char *report_lacks(const json_t *r)
{
	const json_t *t = json_object_get(r, "tensors"), *x;
	size_t i;
	if (!json_is_object(json_object_get(r, "totals")))
		return "no \"totals\" object";
	if (!json_is_array(t))
		return "no \"tensors\" list";
	json_array_foreach(t, i, x)
		if (!json_is_string(json_object_get(x, "name")))
			return "a tensor without a \"name\"";
	return NULL;
}

static int load_side(const struct cli_args *a, const char *path, json_t **out)
{
	int kind = is_report(path);
	if (kind < 0) {
		fprintf(stderr, "ggpack: %s: %s\n", path, strerror(errno));
		return 4;
	}
	if (!kind) {
		char *text = NULL;
		int rc = cli_run_pipeline(a, "report", path, 0, out, &text);
		free(text);
		return rc;
	}
	json_error_t err;
	*out = json_load_file(path, 0, &err);
	if (!*out || strcmp(json_str_of(*out, "schema"), "ggpack-report/1")) {
		fprintf(stderr, "ggpack: %s: not a ggpack-report/1 JSON report%s%s\n", path,
			*out ? "" : ": ", *out ? "" : err.text);
		json_decref(*out);
		*out = NULL; /* run_diff frees both sides */
		return 3;
	}
	const char *lacks = report_lacks(*out);
	if (lacks) {
		fprintf(stderr, "ggpack: %s: not a whole ggpack-report/1 report: %s\n", path, lacks);
		json_decref(*out);
		*out = NULL;
		return 3;
	}
	return 0;
}

/* ---- matching ------------------------------------------------------------ */

static double bits_of(const json_t *t, int metric)
{
	return json_real_of(json_object_get(t, "bits"), cli_metric_names[metric]);
}

static double change_pct(double a, double b)
{
	return a > 0 ? 100 * (b - a) / a : (b > a ? INFINITY : 0);
}

static json_t *pair_json(const json_t *x, const json_t *y, const char *by, int metric)
{
	double a = bits_of(x, metric), b = bits_of(y, metric);
	return json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:o}", "name", json_str_of(x, "name"), "name_b",
			 json_str_of(y, "name"), "matched_by", by, "shape", json_object_get(x, "shape"),
			 "bits_a", isnan(a) ? json_null() : json_real(a),
			 "bits_b", isnan(b) ? json_null() : json_real(b),
			 "change_pct", isfinite(change_pct(a, b)) ? json_real(change_pct(a, b)) : json_null(),
			 "snr_db_a", json_deep_copy(json_object_get(x, "snr_db")),
			 "snr_db_b", json_deep_copy(json_object_get(y, "snr_db")));
}

static bool same_shape(const json_t *x, const json_t *y)
{
	return json_equal(json_object_get(x, "shape"), json_object_get(y, "shape"));
}

static bool any_shape(const json_t *x, const json_t *y)
{
	(void)x, (void)y;
	return true;
}

/* B's tensors sorted by a string field, then by position, so that each of
 * A's finds the first unused one with its value by a binary search: a
 * diff of 10^5 tensors takes n log n steps, not n^2. */
struct keyed {
	const char *key;
	size_t j;
};

static int cmp_keyed(const void *p, const void *q)
{
	const struct keyed *a = p, *b = q;
	int c = strcmp(a->key, b->key);
	return c ? c : (a->j > b->j) - (a->j < b->j);
}

/* Pairs each unused tensor of A with the first unused one of B (in B's
 * order) whose `field` is the same string and for which same() holds. */
static int match_by(const json_t *ta, const json_t *tb, char *used_a, char *used_b, const char *field,
		    bool (*same)(const json_t *, const json_t *), const char *by, int metric, json_t *pairs)
{
	size_t nb = 0, i, j;
	json_t *x, *y;
	struct keyed *k = malloc((json_array_size(tb) + 1) * sizeof *k);
	if (!k)
		return -1;
	json_array_foreach(tb, j, y)
		if (json_is_string(json_object_get(y, field)))
			k[nb++] = (struct keyed){ json_str_of(y, field), j };
	qsort(k, nb, sizeof *k, cmp_keyed);
	json_array_foreach(ta, i, x) {
		if (used_a[i] || !json_is_string(json_object_get(x, field)))
			continue;
		struct keyed want = { json_str_of(x, field), 0 };
		size_t lo = 0, hi = nb; /* the first key >= want */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (cmp_keyed(&k[mid], &want) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < nb && !strcmp(k[lo].key, want.key); lo++) {
			y = json_array_get(tb, k[lo].j);
			if (!used_b[k[lo].j] && same(x, y)) {
				json_array_append_new(pairs, pair_json(x, y, by, metric));
				used_a[i] = used_b[k[lo].j] = 1;
				break;
			}
		}
	}
	free(k);
	return 0;
}

/* Pairs by name, then by shape and hash; marks what was paired. */
static json_t *match(const json_t *ta, const json_t *tb, char *used_a, char *used_b, int metric)
{
	json_t *pairs = json_array();
	if (pairs && (match_by(ta, tb, used_a, used_b, "name", any_shape, "name", metric, pairs) ||
		      match_by(ta, tb, used_a, used_b, "hash", same_shape, "shape+hash", metric, pairs))) {
		json_decref(pairs);
		return NULL;
	}
	return pairs;
}

static json_t *unmatched(const json_t *t, const char *used)
{
	json_t *names = json_array(), *x;
	size_t i;
	json_array_foreach(t, i, x)
		if (!used[i])
			json_array_append_new(names, json_string(json_str_of(x, "name")));
	return names;
}

static json_t *diff_json(const json_t *ra, const json_t *rb, const char *pa, const char *pb, int metric)
{
	const json_t *ta = json_object_get(ra, "tensors"), *tb = json_object_get(rb, "tensors");
	char *used_a = calloc(json_array_size(ta) + 1, 1), *used_b = calloc(json_array_size(tb) + 1, 1);
	if (!used_a || !used_b) {
		free(used_a);
		free(used_b);
		return NULL;
	}
	json_t *pairs = match(ta, tb, used_a, used_b, metric);
	double a = bits_of(json_object_get(ra, "totals"), metric);
	double b = bits_of(json_object_get(rb, "totals"), metric);
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:{s:o, s:o, s:o}, s:o, s:o, s:o}",
			      "schema", "ggpack-diff/1", "a", pa, "b", pb, "metric", cli_metric_names[metric],
			      "totals", "bits_a", isnan(a) ? json_null() : json_real(a),
			      "bits_b", isnan(b) ? json_null() : json_real(b),
			      "change_pct", isfinite(change_pct(a, b)) ? json_real(change_pct(a, b)) : json_null(),
			      "tensors", pairs, "removed", unmatched(ta, used_a), "added", unmatched(tb, used_b));
	free(used_a);
	free(used_b);
	return d;
}

/* ---- rendering ------------------------------------------------------------ */

static void fmt(char *buf, size_t n, double v, const char *unit)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.3f%s", v, unit);
}

static void print_names(FILE *out, const char *title, const json_t *names)
{
	size_t i;
	json_t *v;
	if (!json_array_size(names))
		return;
	fprintf(out, "\n%s (%zu):\n", title, json_array_size(names));
	json_array_foreach(names, i, v) {
		fputs("  ", out);
		table_put_text(out, json_string_value(v), 0);
		fputc('\n', out);
	}
}

static void print_diff(FILE *out, const json_t *d, int md)
{
	const json_t *t = json_object_get(d, "totals");
	char a[32], b[32], c[32];
	fmt(a, sizeof a, json_real_of(t, "bits_a"), "");
	fmt(b, sizeof b, json_real_of(t, "bits_b"), "");
	fmt(c, sizeof c, json_real_of(t, "change_pct"), "%");
	fprintf(out, "%sdiff %s -> %s\n%s%s bits/param (selected tensors): %s -> %s (%s)\n\n",
		md ? "- " : "", json_str_of(d, "a"), json_str_of(d, "b"), md ? "- " : "", json_str_of(d, "metric"), a, b, c);
	struct table *tab = table_new(6, (const char *[]){ "tensor", "name in B", "matched by", "bits A", "bits B",
							  "change" });
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(d, "tensors"), i, p) {
		if (json_is_null(json_object_get(p, "bits_a")) && json_is_null(json_object_get(p, "bits_b")))
			continue; /* selected on neither side */
		fmt(a, sizeof a, json_real_of(p, "bits_a"), "");
		fmt(b, sizeof b, json_real_of(p, "bits_b"), "");
		fmt(c, sizeof c, json_real_of(p, "change_pct"), "%");
		const char *nb = json_str_of(p, "name_b");
		table_row(tab, (const char *[]){ json_str_of(p, "name"), strcmp(nb, json_str_of(p, "name")) ? nb : "",
						 json_str_of(p, "matched_by"), a, b, c });
	}
	table_print(out, tab, md);
	table_free(tab);
	print_names(out, "removed (only in A)", json_object_get(d, "removed"));
	print_names(out, "added (only in B)", json_object_get(d, "added"));
}

static int increase_gate(const struct cli_args *a, const json_t *d)
{
	double pct = json_real_of(json_object_get(d, "totals"), "change_pct");
	if (isnan(a->fail_if_increase))
		return 0;
	if (isnan(pct)) {
		fprintf(stderr, "ggpack: --fail-if-increase: no %s total to compare\n", cli_metric_names[a->metric]);
		return 2;
	}
	if (pct > a->fail_if_increase) {
		fprintf(stderr, "ggpack: gate broken: %s bits/param rose %.3f%% > --fail-if-increase %g%%\n",
			cli_metric_names[a->metric], pct, a->fail_if_increase);
		return 10;
	}
	return 0;
}

static int emit(const struct cli_args *a, const json_t *d)
{
	FILE *out = strcmp(a->report, "-") ? fopen(a->report, "w") : stdout;
	if (!out) {
		fprintf(stderr, "ggpack: %s: cannot write: %s\n", a->report, strerror(errno));
		return 4;
	}
	if (a->format == FORMAT_JSON)
		json_dumpf(d, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER), fputc('\n', out);
	else
		print_diff(out, d, a->format == FORMAT_MD);
	int bad = fflush(out) != 0 || ferror(out); /* before the gate's message on stderr */
	if (out != stdout)
		bad |= fclose(out) != 0;
	return bad ? (fprintf(stderr, "ggpack: %s: write failed\n", a->report), 4) : 0;
}

static int run_diff(int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cli_diff, argc, argv, &a);
	if (rc)
		return cli_args_free(&a), rc < 0 ? 0 : rc;
	if (a.n_inputs != 2 || a.output || a.format == FORMAT_CSV) {
		cli_args_free(&a);
		return cli_usage_error("diff", a.n_inputs != 2 ? "takes two inputs, A and B" :
					a.output ? "writes no model" : "--format: text, md or json");
	}
	json_t *ra = NULL, *rb = NULL, *d = NULL;
	rc = load_side(&a, a.inputs[0], &ra);
	if (!rc)
		rc = load_side(&a, a.inputs[1], &rb);
	if (!rc && !(d = diff_json(ra, rb, a.inputs[0], a.inputs[1], a.metric)))
		rc = (fputs("ggpack: out of memory\n", stderr), 1);
	if (!rc)
		rc = emit(&a, d);
	if (!rc)
		rc = increase_gate(&a, d);
	json_decref(ra);
	json_decref(rb);
	json_decref(d);
	cli_args_free(&a);
	return rc;
}

const struct cli_command cli_diff = {
	"diff", run_diff, "compare the bit rates of two models or saved reports",
	"usage: ggpack diff A B [options]\n"
	"\n"
	"A and B are models (measured with the pipeline options, as report does)\n"
	"or JSON reports saved by --format json. Tensors are matched by name, then\n"
	"by shape and content hash (for names changed between exports); the rest\n"
	"are listed as removed (only in A) or added (only in B).\n"
	"\n"
	"  --metric entropy|exp_golomb|huffman|fixed|zstd   (entropy)\n"
	"  --fail-if-increase PCT   exit 10 when B's total bits/param exceed A's by more\n"
	"                           than PCT percent\n"
	"  --format text|md|json  --report FILE  and every pipeline option of convert\n"
	"\n"
	"exit codes: 0 ok, 1 internal, 2 usage, 3 invalid model or report, 4 I/O,\n"
	"10 gate broken\n",
};
