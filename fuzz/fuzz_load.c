/*
 * fuzz_load.c - libFuzzer target for the loader: any bytes must give a
 * model or an error code with a message, never a crash, a leak or a read
 * outside the input. The floating tensors of a loaded model are decoded,
 * so the sizes the loader checked are the sizes the readers trust.
 */
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	/* a folder that does not exist: external data can never be opened */
	if (ctx && !model_load_buffer(ctx, "/nonexistent-ggpack-fuzz/model.onnx", data, size, &m)) {
		struct ggpack_model_info mi;
		ggpack_model_get_info(m, &mi);
		for (size_t i = 0; i < mi.n_tensors; i++) {
			struct ggpack_tensor_info t;
			double v[64];
			ggpack_tensor_get_info(m, i, &t);
			if (ggpack_dtype_is_float(t.dtype) && t.params <= 64 && t.storage != GGPACK_STORAGE_EXTERNAL)
				ggpack_tensor_read_f64(ctx, m, i, v, (size_t)t.params);
		}
		ggpack_model_free(m);
	}
	ggpack_ctx_free(ctx);
	return 0;
}
