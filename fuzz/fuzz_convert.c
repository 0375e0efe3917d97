/*
 * fuzz_convert.c - libFuzzer target for the whole pipeline: any bytes that
 * load as a model must convert (or fail with an error code), save, load
 * back with our own loader and report, never crash, leak or write a model
 * that does not load. The input's size picks one of three pipelines, so
 * that each input always takes the same one: safe (with a spill folder),
 * paper (DeepShape scope model, a small min_count) and DeepShape scope
 * tensor with the float store and a fixed floor. Every candidate tensor
 * of any size is selected. Then GG initialization (ggpack init) of the
 * same model is saved and loaded back too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_dir.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pipeline(struct ggpack_convert_options *o, unsigned which, const char *spill)
{
	ggpack_convert_defaults(o, which == 1 ? "paper" : "safe");
	o->select.mode = GGPACK_SELECT_ALL;
	o->select.min_params = 1;
	o->force = 1;
	if (which == 0)
		o->spill_dir = spill;
	if (which == 1)
		o->ds.min_count = 2;
	if (which == 2) {
		o->deepshape = 1;
		o->ds_scope = GGPACK_DS_TENSOR;
		o->store = GGPACK_STORE_FLOAT;
		o->floor = GGPACK_FLOOR_VALUE;
		o->floor_value = 0.01;
	}
}

/* The saved model must load back. */
static void check_loads(struct ggpack_ctx *ctx, const char *path)
{
	struct ggpack_model *back = NULL;
	if (ggpack_model_load(ctx, path, &back)) {
		fprintf(stderr, "fuzz_convert: the output does not load: %s\n", ggpack_ctx_message(ctx));
		abort();
	}
	ggpack_model_free(back);
}

/* ... and its report must be made. */
static void check_output(struct ggpack_ctx *ctx, struct ggpack_conversion *conv, const char *path)
{
	char *json = NULL;
	check_loads(ctx, path);
	if (ggpack_conversion_report(ctx, conv, "convert", &json)) {
		fprintf(stderr, "fuzz_convert: no report: %s\n", ggpack_ctx_message(ctx));
		abort();
	}
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = fuzz_dir();
	char path[128], data_path[160];
	snprintf(path, sizeof path, "%s/out.onnx", d);
	snprintf(data_path, sizeof data_path, "%s.data", path);
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	struct ggpack_conversion *conv = NULL;
	struct ggpack_convert_options o;
	struct ggpack_save_options so = { .force = 1 };
	pipeline(&o, (unsigned)(size % 3), d);
	/* a folder that does not exist: external data can never be opened */
	if (ctx && !model_load_buffer(ctx, "/nonexistent-ggpack-fuzz/model.onnx", data, size, &m) &&
	    !ggpack_convert(ctx, m, &o, &conv) && !ggpack_conversion_save(ctx, conv, path, &so))
		check_output(ctx, conv, path);
	unlink(path);
	unlink(data_path);
	ggpack_conversion_free(conv);
	conv = NULL;
	static const char *const ops[] = { "MatMul", "Gemm", "Conv" };
	struct ggpack_init_options io = { .shape = 2, .xi = 2, .seed = size, .ops = ops, .n_ops = 3 };
	char *changes = NULL;
	if (m && !ggpack_init(ctx, m, &io, &conv, &changes) && !ggpack_conversion_save(ctx, conv, path, &so))
		check_loads(ctx, path);
	free(changes);
	unlink(path);
	unlink(data_path);
	ggpack_conversion_free(conv);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	return 0;
}
