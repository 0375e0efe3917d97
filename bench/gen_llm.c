/*
 * gen_llm.c - a synthetic LLM-like ONNX model for the scale benchmark
 * (bench/README.md): a chain of MatMuls with a transformer block's weight
 * shapes (d x d four times, d x 4d, 4d x d, repeated) until the weights
 * reach the size asked. Each weight is drawn from a generalized Gaussian
 * with a shape between 0.5 and 1.5 (it cycles through eleven values) and
 * the variance 1/fan-in, by the library's seeded sampler, so a model is
 * the same bytes on every run. Weights are float32 or float16, inline or
 * in one external data file written tensor by tensor (memory stays one
 * tensor, whatever the size).
 *   gen_llm OUT.onnx --mib N [--d D] [--fp16] [--external]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggpack.h"
#include "internal.h"
#include "onnx.pb-c.h"

struct plan {
	const char *out;
	double mib;
	int64_t d;
	int fp16, external;
};

static Onnx__ValueInfoProto *io(const char *name, int64_t width, int dtype)
{
	Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
	Onnx__TypeProto *tp = calloc(1, sizeof *tp);
	Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
	Onnx__TensorShapeProto *sh = calloc(1, sizeof *sh);
	onnx__value_info_proto__init(v);
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	onnx__tensor_shape_proto__init(sh);
	sh->n_dim = 2;
	sh->dim = calloc(2, sizeof *sh->dim);
	for (int i = 0; i < 2; i++) {
		sh->dim[i] = calloc(1, sizeof **sh->dim);
		onnx__tensor_shape_proto__dimension__init(sh->dim[i]);
		sh->dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		sh->dim[i]->dim_value = i ? width : 1;
	}
	tt->has_elem_type = 1;
	tt->elem_type = dtype;
	tt->shape = sh;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	v->name = strdup(name);
	v->type = tp;
	return v;
}

static Onnx__StringStringEntryProto *entry(const char *k, const char *v)
{
	Onnx__StringStringEntryProto *e = calloc(1, sizeof *e);
	onnx__string_string_entry_proto__init(e);
	e->key = strdup(k);
	e->value = strdup(v);
	return e;
}

/* The weights of tensor i: rows x cols values, GG of a cycling shape. */
static int draw(struct ggpack_rng *r, size_t i, int64_t rows, int64_t cols, float *w)
{
	double shape = 0.5 + 0.1 * (double)(i % 11);
	return ggpack_gg_fill(r, w, (size_t)(rows * cols), shape, ggpack_gg_init_scale(shape, 1, (double)rows));
}

/* Tensor i's bytes in the output dtype, in buf. */
static size_t encode(const float *w, size_t n, int fp16, uint8_t *buf)
{
	if (!fp16) {
		memcpy(buf, w, n * 4);
		return n * 4;
	}
	for (size_t k = 0; k < n; k++) {
		uint16_t h = tensor_f16_from_f64(w[k]); /* the library's: to nearest, ties to even */
		memcpy(buf + 2 * k, &h, 2);
	}
	return n * 2;
}

int main(int argc, char **argv)
{
	struct plan p = { NULL, 0, 0, 0, 0 };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			p.mib = atof(argv[++i]);
		else if (!strcmp(argv[i], "--d") && i + 1 < argc)
			p.d = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--fp16"))
			p.fp16 = 1;
		else if (!strcmp(argv[i], "--external"))
			p.external = 1;
		else if (argv[i][0] != '-' && !p.out)
			p.out = argv[i];
		else
			p.mib = -1;
	}
	if (!p.out || p.mib <= 0)
		return fprintf(stderr, "usage: gen_llm OUT.onnx --mib N [--d D] [--fp16] [--external]\n"), 2;
	int64_t d = p.d ? p.d : p.mib <= 64 ? 512 : 1024;
	int dtype = p.fp16 ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	size_t target = (size_t)(p.mib * 1048576.0);
	/* the tensors: q, k, v, o (d x d), up (d x 4d), down (4d x d), again */
	size_t cap = 16, n_t = 0, bytes = 0;
	Onnx__TensorProto **inits = malloc(cap * sizeof *inits);
	Onnx__NodeProto **nodes = malloc(cap * sizeof *nodes);
	float *w = malloc((size_t)(4 * d * d) * sizeof *w);
	uint8_t *buf = malloc((size_t)(4 * d * d) * 4);
	char data_path[4096];
	snprintf(data_path, sizeof data_path, "%s.data", p.out);
	const char *base = strrchr(data_path, '/');
	FILE *data = p.external ? fopen(data_path, "wb") : NULL;
	struct ggpack_rng r;
	ggpack_rng_seed(&r, 42);
	if (!inits || !nodes || !w || !buf || (p.external && !data))
		return fprintf(stderr, "gen_llm: cannot start %s\n", p.out), 1;
	char prev[64] = "x";
	int64_t width = d;
	while (bytes < target) {
		static const char *kinds[] = { "q", "k", "v", "o", "up", "down" };
		const char *kind = kinds[n_t % 6];
		int64_t rows = width, cols = !strcmp(kind, "up") ? 4 * d : d;
		char name[64], out[64];
		snprintf(name, sizeof name, "layer%zu.%s.weight", n_t / 6, kind);
		snprintf(out, sizeof out, "h%zu", n_t);
		if (n_t == cap) {
			cap *= 2;
			inits = realloc(inits, cap * sizeof *inits);
			nodes = realloc(nodes, cap * sizeof *nodes);
		}
		if (draw(&r, n_t, rows, cols, w))
			return fprintf(stderr, "gen_llm: sampling failed\n"), 1;
		size_t len = encode(w, (size_t)(rows * cols), p.fp16, buf);
		Onnx__TensorProto *t = inits[n_t] = calloc(1, sizeof *t);
		onnx__tensor_proto__init(t);
		t->name = strdup(name);
		t->has_data_type = 1;
		t->data_type = dtype;
		t->n_dims = 2;
		t->dims = malloc(2 * sizeof *t->dims);
		t->dims[0] = rows, t->dims[1] = cols;
		if (p.external) {
			char off[32], ln[32];
			snprintf(off, sizeof off, "%zu", bytes);
			snprintf(ln, sizeof ln, "%zu", len);
			t->has_data_location = 1;
			t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
			t->n_external_data = 3;
			t->external_data = malloc(3 * sizeof *t->external_data);
			t->external_data[0] = entry("location", base ? base + 1 : data_path);
			t->external_data[1] = entry("offset", off);
			t->external_data[2] = entry("length", ln);
			if (fwrite(buf, 1, len, data) != len)
				return perror(data_path), 1;
		} else {
			t->has_raw_data = 1;
			t->raw_data.len = len;
			t->raw_data.data = malloc(len);
			memcpy(t->raw_data.data, buf, len);
		}
		Onnx__NodeProto *nd = nodes[n_t] = calloc(1, sizeof *nd);
		onnx__node_proto__init(nd);
		nd->op_type = strdup("MatMul");
		nd->name = strdup(out);
		nd->n_input = 2;
		nd->input = malloc(2 * sizeof *nd->input);
		nd->input[0] = strdup(prev);
		nd->input[1] = strdup(name);
		nd->n_output = 1;
		nd->output = malloc(sizeof *nd->output);
		nd->output[0] = strdup(out);
		strcpy(prev, out);
		width = cols;
		bytes += len;
		n_t++;
	}
	if (data && fclose(data))
		return perror(data_path), 1;
	Onnx__ValueInfoProto *in = io("x", d, dtype), *outv = io(prev, width, dtype);
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "synthetic_llm";
	g.n_node = n_t, g.node = nodes;
	g.n_initializer = n_t, g.initializer = inits;
	g.n_input = 1, g.input = &in;
	g.n_output = 1, g.output = &outv;
	Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets = &opset;
	opset.domain = "", opset.has_version = 1, opset.version = 17;
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1, m.ir_version = 8;
	m.producer_name = "ggpack gen_llm", m.producer_version = "1";
	m.n_opset_import = 1, m.opset_import = &opsets;
	m.graph = &g;
	size_t len = protobuf_c_message_get_packed_size(&m.base);
	uint8_t *packed = malloc(len);
	if (!packed)
		return fprintf(stderr, "gen_llm: out of memory\n"), 1;
	protobuf_c_message_pack(&m.base, packed);
	FILE *f = fopen(p.out, "wb");
	if (!f || fwrite(packed, 1, len, f) != len || fclose(f))
		return perror(p.out), 1;
	printf("%s: %zu MatMul weights, %zu bytes of weights (%s, %s)\n", p.out, n_t, bytes,
	       p.fp16 ? "float16" : "float32", p.external ? "external" : "inline");
	return 0; /* the rest is freed by the exit */
}
