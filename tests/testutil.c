/*
 * testutil.c - shared helpers of the Check suites (see testutil.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char tmpdir[256];

static void remove_tmpdir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", tmpdir);
}

const char *tu_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tmpdir, sizeof tmpdir, "%s/ggpack-test-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(tmpdir))
			abort();
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

const char *tu_path(const char *name)
{
	static char ring[8][512];
	static int k;
	char *p = ring[k++ % 8];
	snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
	return p;
}

void tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

uint8_t *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(n ? (size_t)n : 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void tu_write_model(const char *path, const Onnx__ModelProto *m)
{
	size_t len = protobuf_c_message_get_packed_size(&m->base);
	uint8_t *buf = malloc(len);
	protobuf_c_message_pack(&m->base, buf);
	tu_write(path, buf, len);
	free(buf);
}

Onnx__TensorProto *tu_tensor_raw(const char *name, const int64_t *dims, size_t ndims)
{
	Onnx__TensorProto *t = malloc(sizeof *t);
	onnx__tensor_proto__init(t);
	t->name = strdup(name);
	t->has_data_type = 1;
	t->data_type = GGPACK_DTYPE_FLOAT;
	t->n_dims = ndims;
	t->dims = malloc(ndims * sizeof *t->dims + 1);
	size_t n = 1;
	for (size_t i = 0; i < ndims; i++)
		n *= (size_t)(t->dims[i] = dims[i]);
	t->has_raw_data = 1;
	t->raw_data.len = 4 * n;
	t->raw_data.data = malloc(4 * n + 1);
	for (size_t i = 0; i < n; i++) {
		float v = 0.5f * (float)i - 1.0f;
		memcpy(t->raw_data.data + 4 * i, &v, 4); /* little-endian hosts only */
	}
	return t;
}

static Onnx__ValueInfoProto *value_info(const char *name)
{
	Onnx__ValueInfoProto *v = malloc(sizeof *v);
	onnx__value_info_proto__init(v);
	v->name = strdup(name);
	return v;
}

static char **strv(const char *a, const char *b, size_t *n)
{
	char **v = malloc(2 * sizeof *v);
	*n = 0;
	if (a && *a)
		v[(*n)++] = strdup(a);
	if (b && *b)
		v[(*n)++] = strdup(b);
	return v;
}

Onnx__NodeProto *tu_node(const char *op_type, const char *name, const char *in0, const char *in1,
			 const char *out0)
{
	Onnx__NodeProto *n = malloc(sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = strdup(op_type);
	n->name = strdup(name);
	n->input = strv(in0, in1, &n->n_input);
	n->output = strv(out0, NULL, &n->n_output);
	return n;
}

Onnx__ModelProto *tu_model(Onnx__TensorProto **inits, size_t n_inits, Onnx__NodeProto **nodes,
			   size_t n_nodes)
{
	Onnx__ModelProto *m = malloc(sizeof *m);
	onnx__model_proto__init(m);
	m->has_ir_version = 1;
	m->ir_version = 8;
	m->producer_name = strdup("ggpack-tests");
	m->n_opset_import = 1;
	m->opset_import = malloc(sizeof *m->opset_import);
	m->opset_import[0] = malloc(sizeof **m->opset_import);
	onnx__operator_set_id_proto__init(m->opset_import[0]);
	m->opset_import[0]->domain = strdup("");
	m->opset_import[0]->has_version = 1;
	m->opset_import[0]->version = 17;
	Onnx__GraphProto *g = m->graph = malloc(sizeof *g);
	onnx__graph_proto__init(g);
	g->name = strdup("g");
	g->n_initializer = n_inits;
	g->initializer = malloc((n_inits + 1) * sizeof *g->initializer);
	if (n_inits) /* memcpy from NULL is undefined even for 0 bytes */
		memcpy(g->initializer, inits, n_inits * sizeof *inits);
	g->n_node = n_nodes;
	g->node = malloc((n_nodes + 1) * sizeof *g->node);
	if (n_nodes)
		memcpy(g->node, nodes, n_nodes * sizeof *nodes);
	g->n_input = g->n_output = 1;
	g->input = malloc(sizeof *g->input);
	g->input[0] = value_info("x");
	g->output = malloc(sizeof *g->output);
	g->output[0] = value_info("y");
	return m;
}

struct ggpack_model *tu_load(const char *path, int expect, char *msg, size_t msg_len)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	int rc = ggpack_model_load(ctx, path, &m);
	if (msg)
		snprintf(msg, msg_len, "%s", ggpack_ctx_message(ctx));
	ck_assert_msg(rc == expect, "load %s gave %d, expected %d: %s", path, rc, expect,
		      ggpack_ctx_message(ctx));
	ggpack_ctx_free(ctx);
	return m;
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	int run = srunner_ntests_run(sr), failed = srunner_ntests_failed(sr);
	printf("# %d%%: Checks: %d, Failures: %d\n", run ? 100 * (run - failed) / run : 0, run, failed);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
