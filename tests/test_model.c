/*
 * test_model.c - loading and saving whole models: every float storage form,
 * tensors in Constant nodes and subgraphs, name resolution across scopes,
 * the errors of bad models, and external data both ways.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static Onnx__TensorProto *tensor_typed(const char *name, int dtype, size_t n)
{
	int64_t dims[] = { (int64_t)n };
	Onnx__TensorProto *t = tu_tensor_raw(name, dims, 1);
	free(t->raw_data.data);
	t->raw_data.data = NULL;
	t->raw_data.len = 0;
	t->has_raw_data = 0;
	t->data_type = dtype;
	if (dtype == GGPACK_DTYPE_FLOAT) {
		t->n_float_data = n;
		t->float_data = malloc(n * sizeof(float));
		for (size_t i = 0; i < n; i++)
			t->float_data[i] = 0.25f * (float)i;
	} else if (dtype == GGPACK_DTYPE_DOUBLE) {
		t->n_double_data = n;
		t->double_data = malloc(n * sizeof(double));
		for (size_t i = 0; i < n; i++)
			t->double_data[i] = -0.125 * (double)i;
	} else { /* float16 / bfloat16 bits in int32_data: 1.0, 2.0, 3.0 ... */
		t->n_int32_data = n;
		t->int32_data = malloc(n * sizeof(int32_t));
		static const int32_t f16[] = { 0x3c00, 0x4000, 0x4200, 0x4400 };
		static const int32_t bf16[] = { 0x3f80, 0x4000, 0x4040, 0x4080 };
		for (size_t i = 0; i < n; i++)
			t->int32_data[i] = dtype == GGPACK_DTYPE_FLOAT16 ? f16[i % 4] : bf16[i % 4];
	}
	return t;
}

static void free_model(Onnx__ModelProto *m)
{
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static size_t find_tensor(const struct ggpack_model *m, const char *name)
{
	struct ggpack_model_info mi;
	ggpack_model_get_info(m, &mi);
	for (size_t i = 0; i < mi.n_tensors; i++) {
		struct ggpack_tensor_info t;
		ggpack_tensor_get_info(m, i, &t);
		if (!strcmp(t.name, name))
			return i;
	}
	ck_abort_msg("no tensor %s", name);
	return 0;
}

static void expect_values(const struct ggpack_model *m, const char *name, const double *want, size_t n)
{
	double got[16];
	size_t i = find_tensor(m, name);
	ck_assert_int_eq(ggpack_tensor_read_f64(NULL, m, i, got, n), 0);
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(got[k] == want[k], "%s[%zu] = %g, want %g", name, k, got[k], want[k]);
}

/* Every storage form of the four float types, decoded to the same numbers. */
static const char *write_storage_model(void)
{
	int64_t dims[] = { 4 };
	Onnx__TensorProto *inits[] = {
		tu_tensor_raw("raw32", dims, 1),
		tensor_typed("float_data", GGPACK_DTYPE_FLOAT, 4),
		tensor_typed("double_data", GGPACK_DTYPE_DOUBLE, 4),
		tensor_typed("f16_int32_data", GGPACK_DTYPE_FLOAT16, 4),
		tensor_typed("bf16_int32_data", GGPACK_DTYPE_BFLOAT16, 4),
	};
	Onnx__NodeProto *nodes[] = { tu_node("MatMul", "mm", "x", "raw32", "y") };
	Onnx__ModelProto *m = tu_model(inits, 5, nodes, 1);
	const char *path = tu_path("storage.onnx");
	tu_write_model(path, m);
	free_model(m);
	return path;
}

START_TEST(load_decodes_every_float_storage_form)
{
	struct ggpack_model *m = tu_load(write_storage_model(), 0, NULL, 0);
	expect_values(m, "raw32", (double[]){ -1, -0.5, 0, 0.5 }, 4);
	expect_values(m, "float_data", (double[]){ 0, 0.25, 0.5, 0.75 }, 4);
	expect_values(m, "double_data", (double[]){ 0, -0.125, -0.25, -0.375 }, 4);
	expect_values(m, "f16_int32_data", (double[]){ 1, 2, 3, 4 }, 4);
	expect_values(m, "bf16_int32_data", (double[]){ 1, 2, 3, 4 }, 4);
	struct ggpack_tensor_info t;
	ggpack_tensor_get_info(m, find_tensor(m, "f16_int32_data"), &t);
	ck_assert_int_eq(t.storage, GGPACK_STORAGE_TYPED);
	ck_assert_str_eq(t.typed_field, "int32_data");
	ck_assert_uint_eq(t.bytes, 8);
	ggpack_tensor_get_info(m, find_tensor(m, "raw32"), &t);
	ck_assert_int_eq(t.storage, GGPACK_STORAGE_RAW);
	ck_assert_uint_eq(t.n_consumers, 1);
	ggpack_model_free(m);
}
END_TEST

/* Raw float16 to float32, every one of the 65,536 bit patterns, at an odd
 * start and length (the vector path and its tail): bit for bit the
 * conversion of tensor_f16_to_f32, signalling NaNs included (F16C, where
 * the reader uses it, would quiet them). */
START_TEST(raw_float16_reads_bit_exactly)
{
	enum { ALL = 65536 };
	static uint8_t raw[2 * ALL];
	static float got[ALL];
	for (uint32_t i = 0; i < ALL; i++)
		raw[2 * i] = (uint8_t)i, raw[2 * i + 1] = (uint8_t)(i >> 8);
	Onnx__TensorProto p;
	onnx__tensor_proto__init(&p);
	p.data_type = GGPACK_DTYPE_FLOAT16;
	struct index_tensor t = { .proto = &p, .storage = GGPACK_STORAGE_RAW, .data = raw, .params = ALL };
	tensor_read_f32_range(&t, 0, ALL, got);
	for (uint32_t i = 0; i < ALL; i++) {
		float want = tensor_f16_to_f32((uint16_t)i);
		ck_assert_msg(!memcmp(&want, &got[i], 4), "half %04x", i);
	}
	memset(got, 0, sizeof got);
	tensor_read_f32_range(&t, 3, ALL - 8, got);
	for (uint32_t i = 3; i < ALL - 5; i++) {
		float want = tensor_f16_to_f32((uint16_t)i);
		ck_assert_msg(!memcmp(&want, &got[i - 3], 4), "half %04x from 3", i);
	}
}
END_TEST

/* A Constant node, and an If whose branch uses an outer initializer and
 * shadows another name with its own initializer. */
static Onnx__ModelProto *scoped_model(void)
{
	int64_t dims[] = { 2, 2 };
	Onnx__TensorProto *outer[] = { tu_tensor_raw("W", dims, 2), tu_tensor_raw("S", dims, 2) };
	Onnx__TensorProto *inner[] = { tu_tensor_raw("S", dims, 2) };
	Onnx__NodeProto *then_nodes[] = { tu_node("MatMul", "inner_mm", "x", "W", "t0"),
					  tu_node("Gemm", "inner_gemm", "t0", "S", "t1") };
	Onnx__ModelProto *branch = tu_model(inner, 1, then_nodes, 2);
	Onnx__GraphProto *g = branch->graph;
	branch->graph = NULL;
	free_model(branch);

	Onnx__NodeProto *iff = tu_node("If", "if0", "cond", NULL, "y");
	Onnx__AttributeProto *a = malloc(sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = strdup("then_branch");
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
	a->g = g;
	iff->n_attribute = 1;
	iff->attribute = malloc(sizeof *iff->attribute);
	iff->attribute[0] = a;

	Onnx__NodeProto *cst = tu_node("Constant", "c0", NULL, NULL, "C");
	Onnx__AttributeProto *v = malloc(sizeof *v);
	onnx__attribute_proto__init(v);
	v->name = strdup("value");
	v->has_type = 1;
	v->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
	v->t = tu_tensor_raw("", dims, 2);
	cst->n_attribute = 1;
	cst->attribute = malloc(sizeof *cst->attribute);
	cst->attribute[0] = v;
	/* the consumer comes before the Constant: order is not topological */
	Onnx__NodeProto *nodes[] = { tu_node("Conv", "conv", "x", "C", "z"), cst, iff };
	return tu_model(outer, 2, nodes, 3);
}

START_TEST(consumers_resolve_names_through_enclosing_scopes)
{
	Onnx__ModelProto *pm = scoped_model();
	const char *path = tu_path("scoped.onnx");
	tu_write_model(path, pm);
	free_model(pm);
	struct ggpack_model *m = tu_load(path, 0, NULL, 0);
	struct ggpack_model_info mi;
	ggpack_model_get_info(m, &mi);
	ck_assert_uint_eq(mi.n_graphs, 2);
	ck_assert_uint_eq(mi.n_tensors, 4);
	struct ggpack_tensor_info t;
	struct ggpack_consumer c;
	ggpack_tensor_get_info(m, find_tensor(m, "W"), &t);
	ck_assert_uint_eq(t.n_consumers, 1);
	ggpack_tensor_get_consumer(m, find_tensor(m, "W"), 0, &c);
	ck_assert_str_eq(c.op_type, "MatMul");
	ck_assert_str_eq(c.where, "main/if0:then_branch");
	ck_assert_int_eq(c.input, 1);
	/* the outer S is shadowed inside the branch: its only use is the inner one */
	size_t n_s = 0;
	for (size_t i = 0; i < mi.n_tensors; i++) {
		ggpack_tensor_get_info(m, i, &t);
		if (strcmp(t.name, "S"))
			continue;
		n_s++;
		ck_assert_uint_eq(t.n_consumers, !strcmp(t.where, "main") ? 0 : 1);
	}
	ck_assert_uint_eq(n_s, 2);
	ggpack_tensor_get_info(m, find_tensor(m, "C"), &t);
	ck_assert_int_eq(t.kind, GGPACK_TENSOR_CONSTANT);
	ck_assert_str_eq(t.node, "c0");
	ck_assert_uint_eq(t.n_consumers, 1);
	ggpack_tensor_get_consumer(m, find_tensor(m, "C"), 0, &c);
	ck_assert_str_eq(c.op_type, "Conv");
	ggpack_model_free(m);
}
END_TEST

/* Writes a one-initializer model after `mutate` changed the tensor. */
static const char *bad_model(const char *name, void (*mutate)(Onnx__TensorProto *))
{
	int64_t dims[] = { 4 };
	Onnx__TensorProto *t = tu_tensor_raw("w", dims, 1);
	mutate(t);
	Onnx__ModelProto *m = tu_model(&t, 1, NULL, 0);
	const char *path = tu_path(name);
	tu_write_model(path, m);
	free_model(m);
	return path;
}

static void unknown_dtype(Onnx__TensorProto *t) { t->data_type = 99; }
static void short_raw(Onnx__TensorProto *t) { t->raw_data.len = 12; }
static void huge_dims(Onnx__TensorProto *t) { t->dims[0] = INT64_C(1) << 62; }
static void no_data(Onnx__TensorProto *t) { t->has_raw_data = 0; }
static void negative_dim(Onnx__TensorProto *t) { t->dims[0] = -4; }

static void expect_rejected(const char *path, int code, const char *words)
{
	char msg[1024];
	ck_assert_ptr_null(tu_load(path, code, msg, sizeof msg));
	ck_assert_msg(strstr(msg, path) && strstr(msg, words), "message '%s' lacks '%s'", msg, words);
}

START_TEST(load_rejects_bad_tensors_naming_file_and_tensor)
{
	expect_rejected(bad_model("dtype.onnx", unknown_dtype), GGPACK_E_INVALID, "tensor 'w'");
	expect_rejected(bad_model("dtype.onnx", unknown_dtype), GGPACK_E_INVALID, "unknown data_type 99");
	expect_rejected(bad_model("short.onnx", short_raw), GGPACK_E_INVALID, "raw_data holds 12 bytes, its dims need 16");
	expect_rejected(bad_model("huge.onnx", huge_dims), GGPACK_E_INVALID, "overflows");
	expect_rejected(bad_model("nodata.onnx", no_data), GGPACK_E_INVALID, "no data");
	expect_rejected(bad_model("negdim.onnx", negative_dim), GGPACK_E_INVALID, "negative dimension");
}
END_TEST

START_TEST(load_rejects_files_that_are_no_model)
{
	const char *empty = tu_path("empty.onnx"), *lfs = tu_path("lfs.onnx"), *html = tu_path("page.onnx");
	const char *nograph = tu_path("nograph.onnx"), *missing = tu_path("missing.onnx");
	tu_write(empty, "", 0);
	static const char pointer[] = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12\n";
	tu_write(lfs, pointer, sizeof pointer - 1);
	static const char page[] = "<!DOCTYPE html>\n<html><body>404</body></html>\n";
	tu_write(html, page, sizeof page - 1);
	tu_write(nograph, "\x08\x07", 2); /* ir_version 7 and nothing else */
	expect_rejected(empty, GGPACK_E_INVALID, "empty file");
	expect_rejected(lfs, GGPACK_E_INVALID, "Git LFS pointer");
	expect_rejected(html, GGPACK_E_INVALID, "HTML page");
	expect_rejected(nograph, GGPACK_E_INVALID, "no graph");
	expect_rejected(missing, GGPACK_E_IO, "No such file");
}
END_TEST

static bool files_equal(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = tu_read(a, &la), *y = tu_read(b, &lb);
	bool eq = la == lb && !memcmp(x, y, la);
	free(x);
	free(y);
	return eq;
}

static int save(const struct ggpack_model *m, const char *path, enum ggpack_data_mode mode, int force)
{
	struct ggpack_save_options o = { mode, force, 0 };
	return ggpack_model_save(NULL, m, path, &o);
}

START_TEST(save_unchanged_is_byte_identical_and_never_overwrites)
{
	const char *in = write_storage_model(), *out = tu_path("copy.onnx");
	struct ggpack_model *m = tu_load(in, 0, NULL, 0);
	unlink(out);
	ck_assert_int_eq(save(m, out, GGPACK_DATA_AUTO, 0), 0);
	ck_assert(files_equal(in, out));
	ck_assert_int_eq(save(m, out, GGPACK_DATA_AUTO, 0), GGPACK_E_USAGE);  /* exists */
	ck_assert_int_eq(save(m, out, GGPACK_DATA_AUTO, 1), 0);               /* --force */
	ck_assert_int_eq(save(m, in, GGPACK_DATA_AUTO, 1), GGPACK_E_USAGE);   /* the input */
	ck_assert(files_equal(in, out));
	ggpack_model_free(m);
}
END_TEST

START_TEST(external_data_round_trips_both_ways)
{
	const char *in = write_storage_model(), *ext = tu_path("ext.onnx"), *back = tu_path("back.onnx");
	struct ggpack_model *m = tu_load(in, 0, NULL, 0);
	struct ggpack_save_options o = { GGPACK_DATA_EXTERNAL, 1, 1 }; /* every tensor external */
	ck_assert_int_eq(ggpack_model_save(NULL, m, ext, &o), 0);
	ggpack_model_free(m);

	m = tu_load(ext, 0, NULL, 0);
	struct ggpack_tensor_info t;
	ggpack_tensor_get_info(m, find_tensor(m, "f16_int32_data"), &t);
	ck_assert_int_eq(t.storage, GGPACK_STORAGE_EXTERNAL);
	ck_assert_str_eq(t.external_location, "ext.onnx.data");
	ck_assert_uint_eq(t.external_offset % 4096, 0);
	expect_values(m, "f16_int32_data", (double[]){ 1, 2, 3, 4 }, 4);
	expect_values(m, "double_data", (double[]){ 0, -0.125, -0.25, -0.375 }, 4);
	ck_assert_int_eq(save(m, back, GGPACK_DATA_INLINE, 1), 0);
	ggpack_model_free(m);

	m = tu_load(back, 0, NULL, 0);
	ggpack_tensor_get_info(m, find_tensor(m, "raw32"), &t);
	ck_assert_int_eq(t.storage, GGPACK_STORAGE_RAW);
	expect_values(m, "raw32", (double[]){ -1, -0.5, 0, 0.5 }, 4);
	expect_values(m, "bf16_int32_data", (double[]){ 1, 2, 3, 4 }, 4);
	ggpack_model_free(m);
}
END_TEST

/* A model whose tensor w points at location/offset/length. */
static const char *external_model(const char *name, const char *location, const char *offset,
				  const char *length)
{
	int64_t dims[] = { 4 };
	Onnx__TensorProto *t = tu_tensor_raw("w", dims, 1);
	free(t->raw_data.data);
	t->raw_data.data = NULL;
	t->has_raw_data = 0;
	t->raw_data.len = 0;
	t->has_data_location = 1;
	t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	const char *kv[][2] = { { "location", location }, { "offset", offset }, { "length", length } };
	t->external_data = malloc(3 * sizeof *t->external_data);
	for (size_t i = 0; i < 3; i++) {
		if (!kv[i][1])
			continue;
		Onnx__StringStringEntryProto *e = malloc(sizeof *e);
		onnx__string_string_entry_proto__init(e);
		e->key = strdup(kv[i][0]);
		e->value = strdup(kv[i][1]);
		t->external_data[t->n_external_data++] = e;
	}
	Onnx__ModelProto *m = tu_model(&t, 1, NULL, 0);
	const char *path = tu_path(name);
	tu_write_model(path, m);
	free_model(m);
	return path;
}

START_TEST(external_data_is_checked_before_use)
{
	char outside[600];
	tu_write(tu_path("w.bin"), "0123456789abcdef", 16);
	snprintf(outside, sizeof outside, "%s-outside.bin", tu_tmpdir());
	tu_write(outside, "0123456789abcdef", 16);
	unlink(tu_path("link.bin"));
	ck_assert_int_eq(symlink(outside, tu_path("link.bin")), 0);
	ggpack_model_free(tu_load(external_model("ok.onnx", "w.bin", "0", "16"), 0, NULL, 0));
	expect_rejected(external_model("dotdot.onnx", "../w.bin", NULL, NULL), GGPACK_E_INVALID,
			"leaves the model's folder");
	expect_rejected(external_model("abs.onnx", outside, NULL, NULL), GGPACK_E_INVALID,
			"leaves the model's folder");
	expect_rejected(external_model("link.onnx", "link.bin", NULL, NULL), GGPACK_E_INVALID,
			"leads out of the model's folder");
	expect_rejected(external_model("gone.onnx", "gone.bin", NULL, NULL), GGPACK_E_IO, "gone.bin");
	expect_rejected(external_model("offset.onnx", "w.bin", "4", NULL), GGPACK_E_IO,
			"runs past the end");
	expect_rejected(external_model("length.onnx", "w.bin", "0", "20"), GGPACK_E_INVALID,
			"length 20");
	expect_rejected(external_model("nan.onnx", "w.bin", "-1", NULL), GGPACK_E_INVALID,
			"not a number");
	unlink(outside);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("model");
	tcase_add_test(tc, load_decodes_every_float_storage_form);
	tcase_add_test(tc, raw_float16_reads_bit_exactly);
	tcase_add_test(tc, consumers_resolve_names_through_enclosing_scopes);
	tcase_add_test(tc, load_rejects_bad_tensors_naming_file_and_tensor);
	tcase_add_test(tc, load_rejects_files_that_are_no_model);
	tcase_add_test(tc, save_unchanged_is_byte_identical_and_never_overwrites);
	tcase_add_test(tc, external_data_round_trips_both_ways);
	tcase_add_test(tc, external_data_is_checked_before_use);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
