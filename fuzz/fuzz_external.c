/*
 * fuzz_external.c - libFuzzer target for external data: the input is a
 * model and its data file, written to a folder of their own as model.onnx
 * and w.bin (the first 4 bytes, little-endian, give the model's length;
 * the rest after it is w.bin). The model is loaded from that path, so its
 * external data is really opened and read: every location, offset and
 * length the model gives must be checked, and any tensor read, converted
 * (safe preset) and saved with its external data must load back. Seeds:
 * fuzz/corpus-external (made by fuzz/make_external_seeds.py).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_dir.h"
#include "ggpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	for (ssize_t w; n; p += w, n -= (size_t)w)
		if ((w = write(fd, p, n)) <= 0)
			abort();
	close(fd);
}

/* Every floating tensor read whole (ggpack_tensor_read_f64 checks the
 * range against the data file); small ones only, to keep runs fast. */
static void read_tensors(struct ggpack_ctx *ctx, const struct ggpack_model *m)
{
	struct ggpack_model_info mi;
	double v[4096];
	ggpack_model_get_info(m, &mi);
	for (size_t i = 0; i < mi.n_tensors; i++) {
		struct ggpack_tensor_info t;
		ggpack_tensor_get_info(m, i, &t);
		if (ggpack_dtype_is_float(t.dtype) && t.params <= 4096)
			ggpack_tensor_read_f64(ctx, m, i, v, (size_t)t.params);
	}
}

static void convert_and_reload(struct ggpack_ctx *ctx, const struct ggpack_model *m, const char *out)
{
	struct ggpack_convert_options o;
	struct ggpack_conversion *conv = NULL;
	struct ggpack_save_options so = { .force = 1 };
	ggpack_convert_defaults(&o, "safe");
	o.select.mode = GGPACK_SELECT_ALL;
	o.select.min_params = 1;
	o.force = 1;
	if (!ggpack_convert(ctx, m, &o, &conv) && !ggpack_conversion_save(ctx, conv, out, &so)) {
		struct ggpack_model *back = NULL;
		if (ggpack_model_load(ctx, out, &back)) {
			fprintf(stderr, "fuzz_external: the output does not load: %s\n", ggpack_ctx_message(ctx));
			abort();
		}
		read_tensors(ctx, back);
		ggpack_model_free(back);
	}
	ggpack_conversion_free(conv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char model[96], bin[96], out[96], out_data[112];
	const char *dir = fuzz_dir();
	if (size < 4)
		return 0;
	size_t len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
	len = len < size - 4 ? len : size - 4;
	snprintf(model, sizeof model, "%s/model.onnx", dir);
	snprintf(bin, sizeof bin, "%s/w.bin", dir);
	snprintf(out, sizeof out, "%s/out.onnx", dir);
	snprintf(out_data, sizeof out_data, "%s.data", out);
	write_file(model, data + 4, len);
	write_file(bin, data + 4 + len, size - 4 - len);
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	if (ctx && !ggpack_model_load(ctx, model, &m)) {
		read_tensors(ctx, m);
		convert_and_reload(ctx, m, out);
	}
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	unlink(model), unlink(bin), unlink(out), unlink(out_data);
	return 0;
}
