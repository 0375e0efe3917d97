/*
 * prune_example.c - writes the second version of the bundled example at
 * build time, as a later export of the same network would be: every
 * float32 matrix (the MatMul weights) with its weights under half the
 * matrix's rms pruned to zero; everything else as it was. README's diff
 * session compares the two.
 *   prune_example IN.onnx OUT.onnx
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

static void prune(Onnx__TensorProto *t)
{
	if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || t->n_dims != 2 || !t->has_raw_data)
		return;
	size_t n = t->raw_data.len / 4;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		float v;
		memcpy(&v, t->raw_data.data + 4 * i, 4); /* raw_data is little-endian, as this host */
		sum += (double)v * v;
	}
	float below = (float)(0.5 * sqrt(sum / (double)(n ? n : 1))), zero = 0;
	for (size_t i = 0; i < n; i++) {
		float v;
		memcpy(&v, t->raw_data.data + 4 * i, 4);
		if (fabsf(v) < below)
			memcpy(t->raw_data.data + 4 * i, &zero, 4);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: prune_example IN.onnx OUT.onnx\n"), 2;
	FILE *f = fopen(argv[1], "rb");
	static uint8_t in[1 << 24]; /* the example is under 1 MiB */
	size_t len = f ? fread(in, 1, sizeof in, f) : 0;
	Onnx__ModelProto *m = f && len < sizeof in ? onnx__model_proto__unpack(NULL, len, in) : NULL;
	if (f)
		fclose(f);
	if (!m || !m->graph)
		return fprintf(stderr, "prune_example: cannot read %s as an ONNX model\n", argv[1]), 1;
	for (size_t i = 0; i < m->graph->n_initializer; i++)
		prune(m->graph->initializer[i]);
	size_t out_len = protobuf_c_message_get_packed_size(&m->base);
	uint8_t *out = malloc(out_len);
	protobuf_c_message_pack(&m->base, out);
	FILE *o = fopen(argv[2], "wb");
	if (!o || fwrite(out, 1, out_len, o) != out_len || fclose(o))
		return perror(argv[2]), 1;
	free(out);
	onnx__model_proto__free_unpacked(m, NULL);
	return 0;
}
