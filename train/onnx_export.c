/*
 * onnx_export.c - writes the trained MLP as an ONNX model with protobuf-c
 * (the definitions ggpack builds): MatMul, Add and Relu per layer, so that
 * ggpack selects the MatMul weights and ONNX Runtime runs it as is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx_export.h"

static Onnx__TensorProto *tensor(char *name, const float *v, int64_t *dims, size_t nd)
{
	Onnx__TensorProto *t = calloc(1, sizeof *t);
	size_t n = 1;
	onnx__tensor_proto__init(t);
	for (size_t d = 0; d < nd; d++)
		n *= (size_t)dims[d];
	t->name = name;
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	t->n_dims = nd, t->dims = dims;
	t->has_raw_data = 1;
	t->raw_data = (ProtobufCBinaryData){ n * sizeof *v, (uint8_t *)(uintptr_t)v }; /* little-endian host */
	return t;
}

static Onnx__NodeProto *node(const char *op, char *a, char *b, char *out)
{
	Onnx__NodeProto *n = calloc(1, sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = (char *)(uintptr_t)op;
	n->name = out;
	n->n_input = b ? 2 : 1;
	n->input = calloc(2, sizeof *n->input);
	n->input[0] = a, n->input[1] = b;
	n->n_output = 1;
	n->output = calloc(1, sizeof *n->output);
	n->output[0] = out;
	return n;
}

static Onnx__ValueInfoProto *io(char *name, int64_t width)
{
	Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
	Onnx__TypeProto *tp = calloc(1, sizeof *tp);
	Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
	Onnx__TensorShapeProto *sh = calloc(1, sizeof *sh);
	Onnx__TensorShapeProto__Dimension **dim = calloc(2, sizeof *dim);
	onnx__value_info_proto__init(v);
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	onnx__tensor_shape_proto__init(sh);
	for (int i = 0; i < 2; i++) {
		dim[i] = calloc(1, sizeof **dim);
		onnx__tensor_shape_proto__dimension__init(dim[i]);
	}
	dim[0]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
	dim[0]->dim_param = "N";
	dim[1]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	dim[1]->dim_value = width;
	sh->n_dim = 2, sh->dim = dim;
	tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt->shape = sh;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
	v->name = name, v->type = tp;
	return v;
}

static void io_free(Onnx__ValueInfoProto *v)
{
	Onnx__TensorShapeProto *sh = v->type->tensor_type->shape;
	for (size_t i = 0; i < sh->n_dim; i++)
		free(sh->dim[i]);
	free(sh->dim), free(sh), free(v->type->tensor_type), free(v->type), free(v);
}

int onnx_export_mlp(const struct mlp *net, const char *path, char *doc)
{
	static char names[MLP_LAYERS][6][32];
	static int64_t dims[MLP_LAYERS][2];
	Onnx__TensorProto *inits[2 * MLP_LAYERS];
	Onnx__NodeProto *nodes[3 * MLP_LAYERS];
	size_t n_nodes = 0;
	char *in = "image";
	for (int l = 0; l < MLP_LAYERS; l++) {
		char *w = names[l][0], *b = names[l][1], *mm = names[l][2], *add = names[l][3], *relu = names[l][4];
		snprintf(w, 32, "fc%d.weight", l + 1);
		snprintf(b, 32, "fc%d.bias", l + 1);
		snprintf(mm, 32, "fc%d.matmul", l + 1);
		snprintf(add, 32, l == MLP_LAYERS - 1 ? "logits" : "fc%d.add", l + 1);
		snprintf(relu, 32, "fc%d.relu", l + 1);
		dims[l][0] = mlp_sizes[l], dims[l][1] = mlp_sizes[l + 1];
		inits[2 * l] = tensor(w, net->w[l], dims[l], 2);
		inits[2 * l + 1] = tensor(b, net->b[l], &dims[l][1], 1);
		nodes[n_nodes++] = node("MatMul", in, w, mm);
		nodes[n_nodes++] = node("Add", mm, b, add);
		in = add;
		if (l < MLP_LAYERS - 1)
			nodes[n_nodes++] = node("Relu", add, NULL, in = relu);
	}
	Onnx__ValueInfoProto *input = io("image", 784), *output = io("logits", 10);
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = "fmnist_mlp";
	g.n_node = n_nodes, g.node = nodes;
	g.n_initializer = 2 * MLP_LAYERS, g.initializer = inits;
	g.n_input = 1, g.input = &input;
	g.n_output = 1, g.output = &output;
	Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets = &opset;
	opset.domain = "", opset.has_version = 1, opset.version = 17;
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1, m.ir_version = 8;
	m.producer_name = "ggpack train_fmnist";
	m.producer_version = "1";
	m.doc_string = doc; /* how it was trained, for whoever opens the file */
	m.n_opset_import = 1, m.opset_import = &opsets;
	m.graph = &g;
	size_t len = protobuf_c_message_get_packed_size(&m.base);
	uint8_t *buf = malloc(len);
	int rc = !buf;
	if (buf) {
		protobuf_c_message_pack(&m.base, buf);
		FILE *f = fopen(path, "wb");
		rc = !f || fwrite(buf, 1, len, f) != len;
		if (f)
			rc |= fclose(f) != 0;
	}
	free(buf);
	for (int t = 0; t < 2 * MLP_LAYERS; t++)
		free(inits[t]);
	for (size_t k = 0; k < n_nodes; k++)
		free(nodes[k]->input), free(nodes[k]->output), free(nodes[k]);
	io_free(input);
	io_free(output);
	return rc;
}
