/*
 * train_fmnist.c - the experiment of issue #6: an MLP 784-256-128-10 with
 * ReLU trained on Fashion-MNIST (Debian's dataset-fashion-mnist) with
 * Adam, in settings that share the seed and the epochs: default init
 * (PyTorch's Kaiming-uniform), GG init, GG init with BackSlash for the
 * first epochs, and that model converted by ggpack (DeepShape scope tensor
 * and RF8). Each model is written as ONNX; its test accuracy comes from our
 * own forward pass, its predictions are written for ONNX Runtime to check.
 *   train_fmnist OUT_DIR [--epochs E] [--bs-epochs B] [--lambda L,...]
 *                        [--train-limit N] [--seed S] [--part baselines|backslash|all]
 * Prints one Markdown table row per setting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ggpack.h"
#include "mlp.h"
#include "onnx_export.h"

#define DATA "/usr/share/datasets/fashion-mnist/"
#define BATCH 64
#define LR 1e-3f

struct data {
	float *x;
	uint8_t *y;
	int n;
};

/* An idx file through gzip: images scaled to [0, 1], or labels. */
static int load_idx(const char *path, int images, struct data *d, int limit)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
	FILE *f = popen(cmd, "r");
	uint8_t hdr[16];
	size_t hl = images ? 16 : 8;
	if (!f || fread(hdr, 1, hl, f) != hl)
		return f ? pclose(f), -1 : -1;
	int n = hdr[4] << 24 | hdr[5] << 16 | hdr[6] << 8 | hdr[7];
	n = limit && limit < n ? limit : n;
	size_t per = images ? 784 : 1;
	uint8_t *raw = malloc((size_t)n * per);
	int ok = raw && fread(raw, per, (size_t)n, f) == (size_t)n;
	pclose(f);
	if (!ok)
		return free(raw), -1;
	d->n = n;
	if (!images) {
		d->y = raw;
		return 0;
	}
	d->x = malloc((size_t)n * per * sizeof *d->x);
	for (size_t i = 0; d->x && i < (size_t)n * per; i++)
		d->x[i] = raw[i] / 255.0f;
	free(raw);
	return d->x ? 0 : -1;
}

static int load_set(const char *prefix, struct data *d, int limit)
{
	char img[256], lab[256];
	struct data labels;
	snprintf(img, sizeof img, DATA "%s-images-idx3-ubyte.gz", prefix);
	snprintf(lab, sizeof lab, DATA "%s-labels-idx1-ubyte.gz", prefix);
	if (load_idx(img, 1, d, limit) || load_idx(lab, 0, &labels, limit) || labels.n != d->n)
		return -1;
	d->y = labels.y;
	return 0;
}

/* ---- initializations ----------------------------------------------------- */

static void init_default(struct mlp *net, struct ggpack_rng *r)
{
	for (int l = 0; l < MLP_LAYERS; l++) { /* U(-1/sqrt(n), 1/sqrt(n)), weights and biases */
		float bound = 1 / sqrtf((float)mlp_sizes[l]);
		for (size_t i = 0; i < (size_t)mlp_sizes[l] * mlp_sizes[l + 1]; i++)
			net->w[l][i] = bound * (float)(2 * ggpack_rng_uniform(r) - 1);
		for (int j = 0; j < mlp_sizes[l + 1]; j++)
			net->b[l][j] = bound * (float)(2 * ggpack_rng_uniform(r) - 1);
	}
}

static void init_gg(struct mlp *net, struct ggpack_rng *r)
{
	for (int l = 0; l < MLP_LAYERS; l++) { /* xi = 2 before a ReLU, 1 for the logits */
		double xi = l < MLP_LAYERS - 1 ? 2 : 1, alpha = ggpack_gg_init_scale(2, xi, mlp_sizes[l]);
		ggpack_gg_fill(r, net->w[l], (size_t)mlp_sizes[l] * mlp_sizes[l + 1], 2, alpha);
		memset(net->b[l], 0, mlp_sizes[l + 1] * sizeof(float));
	}
}

/* ---- training and measures ---------------------------------------------------- */

static void backslash(struct mlp *net, double lambda)
{
	float *parts[2 * MLP_LAYERS];
	size_t lens[2 * MLP_LAYERS];
	for (int l = 0; l < MLP_LAYERS; l++) {
		parts[2 * l] = net->w[l], lens[2 * l] = (size_t)mlp_sizes[l] * mlp_sizes[l + 1];
		parts[2 * l + 1] = net->b[l], lens[2 * l + 1] = mlp_sizes[l + 1];
	}
	ggpack_backslash_step(parts, lens, 2 * MLP_LAYERS, lambda, 1, NULL);
}

static void train(struct mlp *net, const struct data *d, int epochs, int bs_epochs, double lambda,
		  uint64_t seed)
{
	struct ggpack_rng r;
	int *order = malloc(d->n * sizeof *order);
	float *xb = malloc((size_t)BATCH * 784 * sizeof *xb);
	uint8_t yb[BATCH];
	ggpack_rng_seed(&r, seed + 1000);
	for (int i = 0; i < d->n; i++)
		order[i] = i;
	for (int e = 0; e < epochs; e++) {
		for (int i = d->n - 1; i > 0; i--) { /* Fisher-Yates with our PRNG */
			int j = (int)(ggpack_rng_next(&r) % (uint64_t)(i + 1)), t = order[i];
			order[i] = order[j], order[j] = t;
		}
		for (int s = 0; s + BATCH <= d->n; s += BATCH) {
			for (int k = 0; k < BATCH; k++) {
				memcpy(xb + (size_t)k * 784, d->x + (size_t)order[s + k] * 784, 784 * sizeof *xb);
				yb[k] = d->y[order[s + k]];
			}
			mlp_backward(net, xb, yb, BATCH);
			mlp_adam(net, LR);
			if (e < bs_epochs && lambda > 0)
				backslash(net, lambda);
		}
	}
	free(order);
	free(xb);
}

/* Test accuracy; pred (n bytes) gets every predicted class. */
static double accuracy(struct mlp *net, const struct data *d, uint8_t *pred)
{
	int right = 0;
	for (int s = 0; s < d->n; s += BATCH) {
		int m = d->n - s < BATCH ? d->n - s : BATCH;
		mlp_forward(net, d->x + (size_t)s * 784, m);
		for (int k = 0; k < m; k++) {
			pred[s + k] = (uint8_t)mlp_argmax(net->h[MLP_LAYERS - 1] + (size_t)k * 10, 10);
			right += pred[s + k] == d->y[s + k];
		}
	}
	return (double)right / d->n;
}

struct bits {
	double entropy, exp_golomb, rf8_entropy;
};

/* Over all parameters: grid-13 entropy and Exp-Golomb; RF8 code entropy
 * (weights and biases each a tensor), weighted by size. */
static void measure_bits(const struct mlp *net, struct bits *b)
{
	size_t total = 0, at = 0;
	for (int l = 0; l < MLP_LAYERS; l++)
		total += (size_t)mlp_sizes[l] * mlp_sizes[l + 1] + mlp_sizes[l + 1];
	float *all = malloc(total * sizeof *all);
	uint8_t *codes = malloc(total);
	double rf8 = 0;
	for (int l = 0; l < MLP_LAYERS; l++)
		for (int part = 0; part < 2; part++) {
			size_t n = part ? (size_t)mlp_sizes[l + 1] : (size_t)mlp_sizes[l] * mlp_sizes[l + 1];
			const float *v = part ? net->b[l] : net->w[l];
			struct ggpack_hist *h;
			struct ggpack_bits bb;
			int E;
			memcpy(all + at, v, n * sizeof *v);
			at += n;
			if (ggpack_rf8_encode(NULL, "p", GGPACK_DTYPE_FLOAT, v, n, GGPACK_ROUND_NEAREST, 0, codes, &E) ||
			    ggpack_hist_from_codes(codes, n, &h))
				continue;
			ggpack_hist_bits(h, &bb);
			rf8 += bb.entropy * (double)n / (double)total;
			ggpack_hist_free(h);
		}
	struct ggpack_hist *h;
	struct ggpack_bits bb = { 0 };
	if (!ggpack_hist_from_grid_f32(all, total, 13, &h)) {
		ggpack_hist_bits(h, &bb);
		ggpack_hist_free(h);
	}
	*b = (struct bits){ bb.entropy, bb.exp_golomb, rf8 };
	free(all);
	free(codes);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (long)st.st_size;
}

static void row(const char *setting, double acc, const struct bits *b, long bytes)
{
	printf("| %s | %.2f%% | %.2f | %.2f | %.2f | %ld |\n", setting, 100 * acc, b->entropy, b->exp_golomb,
	       b->rf8_entropy, bytes);
	fflush(stdout);
}

/* Saves net as DIR/name.onnx and its test predictions as DIR/name.pred. */
static int save(const char *dir, const char *name, const char *doc_head, struct mlp *net, const struct data *test,
		double *acc, char *path, size_t len)
{
	uint8_t *pred = malloc(test->n);
	char p[512], doc[512];
	*acc = accuracy(net, test, pred);
	snprintf(doc, sizeof doc, "MLP 784-256-128-10 trained on Fashion-MNIST by ggpack's train_fmnist "
		 "(docs/training.md): %s; test accuracy %.2f%%", doc_head, 100 * *acc);
	snprintf(p, sizeof p, "%s/%s.pred", dir, name);
	FILE *f = fopen(p, "wb");
	int rc = !f || fwrite(pred, 1, test->n, f) != (size_t)test->n;
	if (f)
		rc |= fclose(f);
	free(pred);
	snprintf(path, len, "%s/%s.onnx", dir, name);
	return rc || onnx_export_mlp(net, path, doc);
}

/* The model of `path` converted by ggpack (DeepShape scope tensor, then
 * RF8 with the safe preset): the lut model to DIR/converted.onnx, its
 * values (through the float store) back into net. */
static int convert_model(const char *dir, const char *path, struct mlp *net)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL, *back = NULL;
	struct ggpack_conversion *c = NULL;
	struct ggpack_convert_options o;
	struct ggpack_save_options so = { .force = 1 };
	char lut[512], flt[512];
	snprintf(lut, sizeof lut, "%s/converted.onnx", dir);
	snprintf(flt, sizeof flt, "%s/converted.float.onnx", dir);
	ggpack_convert_defaults(&o, "safe");
	o.deepshape = 1;
	o.ds_scope = GGPACK_DS_TENSOR;
	o.select.mode = GGPACK_SELECT_ALL; /* the biases too: the table counts every parameter */
	o.select.min_params = 1;
	int rc = ggpack_model_load(ctx, path, &m);
	if (!rc)
		rc = ggpack_convert(ctx, m, &o, &c);
	if (!rc)
		rc = ggpack_conversion_save(ctx, c, lut, &so);
	ggpack_conversion_free(c);
	c = NULL;
	o.store = GGPACK_STORE_FLOAT;
	if (!rc)
		rc = ggpack_convert(ctx, m, &o, &c);
	if (!rc)
		rc = ggpack_conversion_save(ctx, c, flt, &so);
	if (!rc)
		rc = ggpack_model_load(ctx, flt, &back);
	for (size_t i = 0; !rc && back && i < 2 * MLP_LAYERS; i++) {
		struct ggpack_tensor_info t;
		ggpack_tensor_get_info(back, i, &t);
		int l = t.name[2] - '1';
		float *dst = strstr(t.name, "weight") ? net->w[l] : net->b[l];
		double *v = malloc(t.params * sizeof *v);
		rc = v ? ggpack_tensor_read_f64(ctx, back, i, v, t.params) : -1;
		for (size_t k = 0; !rc && k < t.params; k++)
			dst[k] = (float)v[k];
		free(v);
	}
	if (rc)
		fprintf(stderr, "train_fmnist: converting %s: %s\n", path, ggpack_ctx_message(ctx));
	ggpack_conversion_free(c);
	ggpack_model_free(back);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	return rc;
}

struct options {
	const char *dir;
	int epochs, bs_epochs, train_limit;
	int baselines, backslash;  /* which parts run (--part): two processes can share the work */
	double lambdas[8];
	int n_lambdas;
	uint64_t seed;
};

static void parse_lambdas(char *list, struct options *o)
{
	o->n_lambdas = 0;
	for (char *s = strtok(list, ","); s && o->n_lambdas < 8; s = strtok(NULL, ","))
		o->lambdas[o->n_lambdas++] = atof(s);
}

static int parse(int argc, char **argv, struct options *o)
{
	*o = (struct options){ NULL, 8, 3, 0, 1, 1, { 500 }, 1, 1 };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
			o->epochs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--bs-epochs") && i + 1 < argc)
			o->bs_epochs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--train-limit") && i + 1 < argc)
			o->train_limit = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			o->seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--lambda") && i + 1 < argc)
			parse_lambdas(argv[++i], o);
		else if (!strcmp(argv[i], "--part") && i + 1 < argc) {
			i++;
			o->baselines = strcmp(argv[i], "backslash") != 0;
			o->backslash = strcmp(argv[i], "baselines") != 0;
		}
		else if (argv[i][0] != '-' && !o->dir)
			o->dir = argv[i];
		else
			return -1;
	}
	return o->dir && o->epochs > 0 ? 0 : -1;
}

/* One setting: init, train, save, measure, print its row. */
static int setting(const struct options *o, const char *name, const char *label, int gg, double lambda,
		   const struct data *train_set, const struct data *test, char *path, struct mlp *keep)
{
	struct mlp net;
	struct ggpack_rng r;
	struct bits b;
	double acc;
	if (mlp_init(&net, BATCH))
		return -1;
	ggpack_rng_seed(&r, o->seed);
	if (gg)
		init_gg(&net, &r);
	else
		init_default(&net, &r);
	train(&net, train_set, o->epochs, lambda > 0 ? o->bs_epochs : 0, lambda, o->seed);
	char doc[256];
	snprintf(doc, sizeof doc, "%s, %d epochs on %d training images, seed %llu", label, o->epochs, train_set->n,
		 (unsigned long long)o->seed);
	if (save(o->dir, name, doc, &net, test, &acc, path, 512))
		return mlp_free(&net), -1;
	measure_bits(&net, &b);
	row(label, acc, &b, file_size(path));
	if (keep)
		*keep = net;
	else
		mlp_free(&net);
	return 0;
}

static void data_free(struct data *d)
{
	free(d->x);
	free(d->y);
}

static int run(const struct options *o, const struct data *train_set, const struct data *test);

int main(int argc, char **argv)
{
	struct options o;
	struct data train_set = { 0 }, test = { 0 };
	if (parse(argc, argv, &o))
		return fprintf(stderr, "usage: train_fmnist OUT_DIR [--epochs 8] [--bs-epochs 3] "
				       "[--lambda 500,...] [--train-limit N] [--seed 1] [--part baselines|backslash|all]\n"), 2;
	mkdir(o.dir, 0777);
	int rc = load_set("train", &train_set, o.train_limit) || load_set("t10k", &test, 0);
	if (rc)
		fprintf(stderr, "train_fmnist: cannot read Fashion-MNIST under " DATA
				" (apt-get install dataset-fashion-mnist)\n");
	else
		rc = run(&o, &train_set, &test);
	data_free(&train_set);
	data_free(&test);
	return rc;
}

/* The settings, one table row each. */
static int run(const struct options *o_, const struct data *train_set_, const struct data *test_)
{
	const struct options o = *o_;
	const struct data train_set = *train_set_, test = *test_;
	char path[512], name[64], label[128];
	if (o.baselines)
		printf("| setting | test accuracy | entropy, grid 13 | Exp-Golomb, grid 13 | RF8 code entropy | file bytes |\n"
		       "|---|---:|---:|---:|---:|---:|\n");
	if (o.baselines &&
	    (setting(&o, "default", "default init (Kaiming-uniform)", 0, 0, &train_set, &test, path, NULL) ||
	     setting(&o, "gg", "GG init (shape 2)", 1, 0, &train_set, &test, path, NULL)))
		return 1;
	for (int k = 0; o.backslash && k < o.n_lambdas; k++) {
		struct mlp net;
		int last = k == o.n_lambdas - 1;
		snprintf(name, sizeof name, "backslash-%g", o.lambdas[k]);
		snprintf(label, sizeof label, "GG init + BackSlash, lambda %g (%d of %d epochs)", o.lambdas[k],
			 o.bs_epochs, o.epochs);
		if (setting(&o, name, label, 1, o.lambdas[k], &train_set, &test, path, last ? &net : NULL))
			return 1;
		if (!last)
			continue;
		/* the last BackSlash model, converted by ggpack */
		struct bits b;
		uint8_t *pred = malloc(test.n);
		char conv[512];
		if (convert_model(o.dir, path, &net)) {
			free(pred);
			mlp_free(&net);
			return 1;
		}
		double acc = accuracy(&net, &test, pred);
		snprintf(conv, sizeof conv, "%s/converted.pred", o.dir);
		FILE *f = fopen(conv, "wb");
		if (!f || fwrite(pred, 1, test.n, f) != (size_t)test.n || fclose(f))
			return 1;
		measure_bits(&net, &b);
		snprintf(conv, sizeof conv, "%s/converted.onnx", o.dir);
		snprintf(label, sizeof label, "  the same, converted by ggpack (DeepShape tensor scope + RF8, lut)");
		row(label, acc, &b, file_size(conv));
		free(pred);
		mlp_free(&net);
	}
	FILE *f = fopen(strcat(strcpy(path, o.dir), "/test-images.f32"), "wb");
	if (!f || fwrite(test.x, sizeof(float) * 784, test.n, f) != (size_t)test.n || fclose(f))
		return 1;
	return 0;
}
