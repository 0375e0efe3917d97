/*
 * ds_corpus.c - DeepShape on the selected weights of real models, scope
 * model against scope tensor: per model the grid-13 entropy before and
 * after, the weight SNR, and how many tensors end with fewer than 16
 * distinct levels or unchanged. Prints a Markdown table (docs/); with
 * --check exits 1 when scope tensor collapses or leaves alone any tensor.
 *   ds_corpus [--check] MODEL...
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggpack.h"

struct selection {
	size_t n;
	float **orig, **work;
	size_t *len;
	const char **names;
	uint64_t params;
};

static int load_selection(struct ggpack_ctx *ctx, struct ggpack_model *m, struct selection *s)
{
	struct ggpack_model_info mi;
	ggpack_model_get_info(m, &mi);
	const char **why = calloc(mi.n_tensors + 1, sizeof *why);
	memset(s, 0, sizeof *s);
	s->orig = calloc(mi.n_tensors + 1, sizeof *s->orig);
	s->work = calloc(mi.n_tensors + 1, sizeof *s->work);
	s->len = calloc(mi.n_tensors + 1, sizeof *s->len);
	s->names = calloc(mi.n_tensors + 1, sizeof *s->names);
	if (ggpack_select(ctx, m, NULL, why))
		return 1;
	for (size_t i = 0; i < mi.n_tensors; i++) {
		struct ggpack_tensor_info t;
		ggpack_tensor_get_info(m, i, &t);
		if (why[i])
			continue;
		double *d = malloc(t.params * sizeof *d);
		float *f = malloc(t.params * sizeof *f);
		ggpack_tensor_read_f64(ctx, m, i, d, t.params);
		for (size_t k = 0; k < t.params; k++)
			f[k] = (float)d[k];
		free(d);
		s->orig[s->n] = f;
		s->work[s->n] = malloc(t.params * sizeof *f);
		s->len[s->n] = t.params;
		s->names[s->n++] = t.name;
		s->params += t.params;
	}
	free(why);
	return 0;
}

struct outcome {
	double entropy, snr_db;
	size_t collapsed, unchanged;
};

/* Grid-13 entropy (parameter-weighted), SNR, and per-tensor levels of the
 * work copies against the originals; grids[i] is tensor i's own grid. */
static struct outcome measure(const struct selection *s, const int *grids)
{
	struct outcome o = { 0 };
	struct ggpack_error_sums e = { 0 };
	for (size_t i = 0; i < s->n; i++) {
		struct ggpack_hist *h;
		struct ggpack_bits b;
		ggpack_hist_from_grid_f32(s->work[i], s->len[i], 13, &h);
		ggpack_hist_bits(h, &b);
		o.entropy += b.entropy * (double)s->len[i] / (double)s->params;
		ggpack_hist_free(h);
		ggpack_hist_from_grid_f32(s->work[i], s->len[i], grids[i], &h);
		o.collapsed += ggpack_hist_distinct(h) < 16;
		ggpack_hist_free(h);
		o.unchanged += !memcmp(s->work[i], s->orig[i], s->len[i] * sizeof(float));
		ggpack_error_add_f32(&e, s->orig[i], s->work[i], s->len[i]);
	}
	o.snr_db = ggpack_error_snr_db(&e);
	return o;
}

static void reset(const struct selection *s)
{
	for (size_t i = 0; i < s->n; i++)
		memcpy(s->work[i], s->orig[i], s->len[i] * sizeof(float));
}

static int model_row(const char *path, bool check)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m;
	struct selection s;
	struct ggpack_deepshape_params p;
	struct ggpack_deepshape_result r;
	if (ggpack_model_load(ctx, path, &m) || load_selection(ctx, m, &s))
		return fprintf(stderr, "ggpack: %s\n", ggpack_ctx_message(ctx)), 1;
	int *grids = calloc(s.n + 1, sizeof *grids);
	ggpack_deepshape_defaults(&p);
	for (size_t i = 0; i < s.n; i++)
		grids[i] = 13;
	reset(&s);
	struct outcome before = measure(&s, grids);
	int rc = s.n ? ggpack_deepshape(ctx, s.work, s.len, s.n, &p, &r) : 0;
	struct outcome model = measure(&s, grids);
	reset(&s);
	for (size_t i = 0; !rc && i < s.n; i++) {
		rc = ggpack_deepshape_tensor(ctx, s.work[i], s.len[i], &p, &r);
		grids[i] = r.grid;
	}
	struct outcome tensor = measure(&s, grids);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	printf("| %s | %zu | %llu | %.2f | %.2f | %.1f | %zu / %zu | %.2f | %.1f | %zu / %zu |\n", base, s.n,
	       (unsigned long long)s.params, before.entropy, model.entropy, model.snr_db, model.collapsed,
	       model.unchanged, tensor.entropy, tensor.snr_db, tensor.collapsed, tensor.unchanged);
	int bad = rc || (check && (tensor.collapsed || tensor.unchanged));
	if (rc)
		fprintf(stderr, "ggpack: %s\n", ggpack_ctx_message(ctx));
	for (size_t i = 0; i < s.n; i++)
		free(s.orig[i]), free(s.work[i]);
	free(s.orig), free(s.work), free(s.len), free(s.names), free(grids);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	return bad;
}

int main(int argc, char **argv)
{
	bool check = argc > 1 && !strcmp(argv[1], "--check");
	int bad = 0;
	printf("| model | selected | params | H before | model: H | model: SNR dB | model: <16 levels / unchanged "
	       "| tensor: H | tensor: SNR dB | tensor: <16 levels / unchanged |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 1 + check; i < argc; i++)
		bad |= model_row(argv[i], check);
	return bad;
}
