/*
 * render.c - a report (ggpack-report/1) as text, Markdown or CSV, from the
 * parsed JSON: the totals first, then the selected tensors sorted by bytes
 * saved (or SNR, name, model order), then the skipped ones with their
 * reasons. One table builder serves text and Markdown.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

static void fmt_num(char *buf, size_t n, double v, int prec)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f", prec, v);
}

/* 1234567 as "1,234,567". */
static void fmt_int(char *buf, size_t n, double v)
{
	char digits[32];
	snprintf(digits, sizeof digits, "%.0f", v);
	size_t len = strlen(digits), o = 0;
	for (size_t i = 0; i < len && o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0 && digits[i - 1] != '-')
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = 0;
}

static void fmt_shape(char *buf, size_t n, const json_t *shape)
{
	size_t i, o = 0;
	json_t *d;
	buf[o++] = '[';
	json_array_foreach(shape, i, d)
		o += (size_t)snprintf(buf + o, n - o - 2, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
				      json_integer_value(d));
	snprintf(buf + o, n - o, "]");
}

/* ---- totals ------------------------------------------------------------- */

static void bits_row(struct table *t, const char *label, const json_t *bits)
{
	char c[5][24];
	for (int k = 0; k < 5; k++)
		fmt_num(c[k], sizeof c[k], json_real_of(bits, cli_metric_names[k]), 3);
	table_row(t, (const char *[]){ label, c[0], c[1], c[2], c[3], c[4] });
}

static void print_files(FILE *out, const json_t *r, int md)
{
	const json_t *in = json_object_get(r, "input"), *o = json_object_get(r, "output");
	char a[32], b[32], z[32];
	double in_total = json_real_of(in, "bytes") + json_real_of(in, "data_bytes");
	fmt_int(a, sizeof a, in_total);
	fprintf(out, "%s%s %s%s\n", md ? "- **" : "", json_str_of(r, "command"), json_str_of(in, "path"), md ? "**" : "");
	if (json_is_object(o)) {
		double out_total = json_real_of(o, "bytes") + json_real_of(o, "data_bytes");
		fmt_int(b, sizeof b, out_total);
		fmt_int(z, sizeof z, json_real_of(o, "zstd_bytes"));
		fprintf(out, "%sfiles: input %s B, output %s %s B (%.3f of the input), zstd of output %s B\n",
			md ? "- " : "", a, json_str_of(o, "path"), b, out_total / in_total, z);
	} else {
		fprintf(out, "%sfiles: input %s B (no output written)\n", md ? "- " : "", a);
	}
}

static void print_totals(FILE *out, const json_t *r, int md)
{
	const json_t *t = json_object_get(r, "totals"), *o = json_object_get(r, "options");
	char a[32], b[32], c[32], d[32];
	print_files(out, r, md);
	fmt_int(a, sizeof a, json_real_of(t, "tensors"));
	fmt_int(b, sizeof b, json_real_of(t, "selected"));
	fmt_int(c, sizeof c, json_real_of(t, "params"));
	fmt_int(d, sizeof d, json_real_of(t, "selected_params"));
	fprintf(out, "%stensors: %s, selected %s; params %s, selected %s\n", md ? "- " : "", a, b, c, d);
	fprintf(out, "%spipeline: preset %s, select %s, deepshape %s, rf8 %s, floor %s, store %s\n",
		md ? "- " : "", json_str_of(o, "preset"), json_str_of(o, "select"),
		json_is_true(json_object_get(o, "deepshape")) ? json_str_of(o, "deepshape_scope") : "off",
		json_str_of(o, "rf8"), json_is_string(json_object_get(o, "rf8_floor")) ? json_str_of(o, "rf8_floor") : "value",
		json_str_of(o, "store"));
	fmt_num(a, sizeof a, json_real_of(t, "snr_db"), 2);
	fmt_num(b, sizeof b, json_real_of(t, "rel_rmse"), 5);
	fprintf(out, "%sweight SNR %s dB, rel_rmse %s (selected tensors together)\n", md ? "- " : "", a, b);
	fmt_num(a, sizeof a, json_real_of(t, "entropy_no_floor"), 3);
	fmt_num(b, sizeof b, json_real_of(json_object_get(t, "bits"), "entropy"), 3);
	if (strcmp(a, "-"))
		fprintf(out, "%sRF8 code entropy %s bits/param, %s without the floor\n", md ? "- " : "", b, a);
	fputc('\n', out);
	struct table *bt = table_new(6, (const char *[]){ "bits/param", "entropy", "exp_golomb", "huffman",
							 "fixed", "zstd" });
	char label[48];
	snprintf(label, sizeof label, "before (grid %" JSON_INTEGER_FORMAT ")",
		 json_integer_value(json_object_get(o, "grid")));
	bits_row(bt, label, json_object_get(t, "bits_before"));
	bits_row(bt, "after", json_object_get(t, "bits"));
	table_print(out, bt, md);
	table_free(bt);
}

/* ---- tensors ------------------------------------------------------------ */

static int sort_key;

static double saved(const json_t *x)
{
	return json_real_of(x, "bytes_before") - json_real_of(x, "bytes_after");
}

/* SNR loss: lowest SNR first; exact (null) last. */
static double snr_rank(const json_t *x)
{
	double s = json_real_of(x, "snr_db");
	return isnan(s) ? INFINITY : s;
}

static int cmp_tensor(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
	double x, y;
	switch (sort_key) {
	case SORT_SNR: x = snr_rank(a), y = snr_rank(b); break;
	case SORT_NAME: return strcmp(json_str_of(a, "name"), json_str_of(b, "name"));
	case SORT_MODEL: return 0;
	default: x = -saved(a), y = -saved(b); break;
	}
	return x < y ? -1 : x > y ? 1 : strcmp(json_str_of(a, "name"), json_str_of(b, "name"));
}

static void tensor_row(struct table *t, const json_t *x)
{
	char shape[64], params[32], before[32], after[32], bits[16], bb[16], snr[16], e[16];
	const json_t *rf8 = json_object_get(x, "rf8");
	fmt_shape(shape, sizeof shape, json_object_get(x, "shape"));
	fmt_int(params, sizeof params, json_real_of(x, "params"));
	fmt_int(before, sizeof before, json_real_of(x, "bytes_before"));
	fmt_int(after, sizeof after, json_real_of(x, "bytes_after"));
	fmt_num(bits, sizeof bits, json_real_of(json_object_get(x, "bits"), "entropy"), 3);
	fmt_num(bb, sizeof bb, json_real_of(json_object_get(x, "bits_before"), "entropy"), 3);
	fmt_num(snr, sizeof snr, json_real_of(x, "snr_db"), 2);
	if (json_is_object(rf8))
		snprintf(e, sizeof e, "%" JSON_INTEGER_FORMAT " %s", json_integer_value(json_object_get(rf8, "E")),
			 json_str_of(rf8, "store"));
	else
		snprintf(e, sizeof e, "-");
	table_row(t, (const char *[]){ json_str_of(x, "name"), json_str_of(x, "dtype"), shape, params, before, after, bb, bits,
				       snr, e });
}

/* The tensors array as pointers, sorted for display; selected ones first. */
static const json_t **sorted_tensors(const json_t *r, int sort, size_t *n_sel, size_t *n)
{
	const json_t *ts = json_object_get(r, "tensors");
	*n = json_array_size(ts);
	const json_t **v = calloc(*n + 1, sizeof *v);
	size_t s = 0, k = *n;
	for (size_t i = 0; v && i < *n; i++) {
		const json_t *x = json_array_get(ts, i);
		if (json_is_true(json_object_get(x, "selected")))
			v[s++] = x;
		else
			v[--k] = x;
	}
	sort_key = sort;
	if (v)
		qsort(v, s, sizeof *v, cmp_tensor);
	/* the skipped ones were filled from the end: restore model order */
	for (size_t i = s, j = *n - 1; v && *n && i < j; i++, j--) {
		const json_t *tmp = v[i];
		v[i] = v[j], v[j] = tmp;
	}
	*n_sel = s;
	return v;
}

static void print_tensors(FILE *out, const json_t *r, int sort, int md)
{
	size_t n, n_sel;
	const json_t **v = sorted_tensors(r, sort, &n_sel, &n);
	if (!v)
		return;
	struct table *t = table_new(10, (const char *[]){ "tensor", "dtype", "shape", "params", "bytes in",
							 "bytes out", "H before", "H after", "SNR dB", "E store" });
	for (size_t i = 0; i < n_sel; i++)
		tensor_row(t, v[i]);
	fputc('\n', out);
	table_print(out, t, md);
	table_free(t);
	if (n > n_sel) {
		struct table *s = table_new(3, (const char *[]){ "skipped tensor", "params", "reason" });
		for (size_t i = n_sel; i < n; i++) {
			char params[32];
			fmt_int(params, sizeof params, json_real_of(v[i], "params"));
			table_row(s, (const char *[]){ json_str_of(v[i], "name"), params, json_str_of(v[i], "skip_reason") });
		}
		fputc('\n', out);
		table_print(out, s, md);
		table_free(s);
	}
	free(v);
}

/* ---- CSV: one row per tensor -------------------------------------------- */

static void csv_field(FILE *out, const char *s, int last)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputs(last ? "\"\n" : "\",", out);
}

static void csv_num(FILE *out, double v, int last)
{
	if (!isnan(v))
		fprintf(out, "%.17g", v);
	fputs(last ? "\n" : ",", out);
}

static void print_csv(FILE *out, const json_t *r)
{
	size_t i;
	json_t *x;
	fputs("name,dtype,shape,params,where,selected,skip_reason,bytes_before,bytes_after,"
	      "entropy,exp_golomb,huffman,fixed,zstd,entropy_before,exp_golomb_before,huffman_before,"
	      "fixed_before,snr_db,rel_rmse,max_abs_err,E,floor,store\n", out);
	json_array_foreach(json_object_get(r, "tensors"), i, x) {
		char shape[256];
		const json_t *b = json_object_get(x, "bits"), *bb = json_object_get(x, "bits_before");
		const json_t *rf8 = json_object_get(x, "rf8");
		fmt_shape(shape, sizeof shape, json_object_get(x, "shape"));
		csv_field(out, json_str_of(x, "name"), 0);
		csv_field(out, json_str_of(x, "dtype"), 0);
		csv_field(out, shape, 0);
		csv_num(out, json_real_of(x, "params"), 0);
		csv_field(out, json_str_of(x, "where"), 0);
		csv_num(out, json_is_true(json_object_get(x, "selected")), 0);
		csv_field(out, json_str_of(x, "skip_reason"), 0);
		csv_num(out, json_real_of(x, "bytes_before"), 0);
		csv_num(out, json_real_of(x, "bytes_after"), 0);
		for (int k = 0; k < 5; k++)
			csv_num(out, json_real_of(b, cli_metric_names[k]), 0);
		for (int k = 0; k < 4; k++)
			csv_num(out, json_real_of(bb, cli_metric_names[k]), 0);
		csv_num(out, json_real_of(x, "snr_db"), 0);
		csv_num(out, json_real_of(x, "rel_rmse"), 0);
		csv_num(out, json_real_of(x, "max_abs_err"), 0);
		csv_num(out, json_real_of(rf8, "E"), 0);
		csv_num(out, json_real_of(rf8, "floor"), 0);
		csv_field(out, json_str_of(rf8, "store"), 1);
	}
}

void render_report(FILE *out, const json_t *r, int format, int sort)
{
	if (format == FORMAT_CSV) {
		print_csv(out, r);
		return;
	}
	print_totals(out, r, format == FORMAT_MD);
	print_tensors(out, r, sort, format == FORMAT_MD);
}

int render_to(const struct cli_args *a, const char *json_text, const json_t *r)
{
	bool to_stdout = !strcmp(a->report, "-");
	FILE *out = to_stdout ? stdout : fopen(a->report, "w");
	if (!out) {
		fprintf(stderr, "ggpack: %s: cannot write the report: %s\n", a->report, strerror(errno));
		return 4;
	}
	if (a->format == FORMAT_JSON)
		fputs(json_text, out);
	else
		render_report(out, r, a->format, a->sort);
	int bad = fflush(out) != 0 || ferror(out); /* before any gate's message on stderr */
	if (!to_stdout)
		bad |= fclose(out) != 0;
	if (bad) {
		fprintf(stderr, "ggpack: %s: writing the report failed\n", a->report);
		return 4;
	}
	return 0;
}
