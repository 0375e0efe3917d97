/*
 * gen_example.c - writes models/example.onnx at build time: an MLP
 * 784-128-10 (Fashion-MNIST's shape) with ReLU, its weights drawn from a
 * Laplace law by a seeded splitmix64, so the file is the same on every
 * machine. Small (about 400 KB), and the project's own, unlike the corpus.
 * "v2" makes a second version of it, as a later export would be: the same
 * network with its small weights pruned to zero (README's diff session).
 *   gen_example OUT.onnx [v2]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

static uint64_t rng_state = 0x67677061636bull; /* "ggpack" */
static double prune_below;                      /* v2: |w| under it become 0 */

static double uniform(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

static Onnx__TensorProto *weight(const char *name, int64_t rows, int64_t cols, double scale)
{
	Onnx__TensorProto *t = calloc(1, sizeof *t);
	onnx__tensor_proto__init(t);
	t->name = strdup(name);
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	t->n_dims = cols ? 2 : 1;
	t->dims = calloc(2, sizeof *t->dims);
	t->dims[0] = rows;
	t->dims[1] = cols;
	size_t n = (size_t)(rows * (cols ? cols : 1));
	t->has_raw_data = 1;
	t->raw_data.len = 4 * n;
	t->raw_data.data = malloc(4 * n);
	for (size_t i = 0; i < n; i++) {
		double u = uniform() - 0.5;
		float v = (float)(-scale * copysign(log(1 - 2 * fabs(u)), u)); /* Laplace */
		v = fabsf(v) < prune_below * scale ? 0.0f : v;
		memcpy(t->raw_data.data + 4 * i, &v, 4); /* raw_data is little-endian */
	}
	return t;
}

static Onnx__NodeProto *node(const char *op, const char *name, char *a, char *b, char *out)
{
	Onnx__NodeProto *n = calloc(1, sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = strdup(op);
	n->name = strdup(name);
	n->n_input = b ? 2 : 1;
	n->input = calloc(2, sizeof *n->input);
	n->input[0] = a;
	n->input[1] = b;
	n->n_output = 1;
	n->output = calloc(1, sizeof *n->output);
	n->output[0] = out;
	return n;
}

static Onnx__ValueInfoProto *io(const char *name, int64_t width)
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
	tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt->shape = sh;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	v->name = strdup(name);
	v->type = tp;
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "v2")))
		return fprintf(stderr, "usage: gen_example OUT.onnx [v2]\n"), 2;
	if (argc == 3)
		prune_below = 0.5;
	Onnx__TensorProto *inits[] = { weight("fc1.weight", 784, 128, 0.03), weight("fc1.bias", 128, 0, 0.01),
				       weight("fc2.weight", 128, 10, 0.08), weight("fc2.bias", 10, 0, 0.01) };
	Onnx__NodeProto *nodes[] = { node("MatMul", "fc1", "image", "fc1.weight", "h1"),
				     node("Add", "fc1_bias", "h1", "fc1.bias", "h2"),
				     node("Relu", "relu", "h2", NULL, "h3"),
				     node("MatMul", "fc2", "h3", "fc2.weight", "h4"),
				     node("Add", "fc2_bias", "h4", "fc2.bias", "logits") };
	Onnx__ValueInfoProto *in = io("image", 784), *out = io("logits", 10);
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "mlp";
	g.n_node = 5, g.node = nodes;
	g.n_initializer = 4, g.initializer = inits;
	g.n_input = 1, g.input = &in;
	g.n_output = 1, g.output = &out;
	Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets = &opset;
	opset.domain = "";
	opset.has_version = 1;
	opset.version = 17;
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.producer_name = "ggpack gen_example";
	m.producer_version = "1";
	m.n_opset_import = 1;
	m.opset_import = &opsets;
	m.graph = &g;
	size_t len = protobuf_c_message_get_packed_size(&m.base);
	uint8_t *buf = malloc(len);
	protobuf_c_message_pack(&m.base, buf);
	FILE *f = fopen(argv[1], "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		return perror(argv[1]), 1;
	free(buf);
	return 0; /* the rest is freed by the exit */
}
