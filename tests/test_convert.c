/*
 * test_convert.c - the convert pipeline on hand-made models: the presets,
 * the auto floor of RF8.md on a tensor whose floor is known, the lut store
 * as written (codes, shared table, Cast and Gather, IR 3 inputs retyped),
 * the float store as the table's entries, the refusal of a converted model,
 * NaN named with its element, and report totals.
 */
#include <dirent.h>
#include <float.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert.h"
#include "sha256.h"
#include "testutil.h"

#define ROWS 16
#define COLS 32
#define N (ROWS * COLS)

/* A model y = MatMul(x, w) with w of the given values. */
static const char *matmul_model(const char *file, const float *values, int64_t ir)
{
	static const int64_t dims[2] = { ROWS, COLS };
	Onnx__TensorProto *w = tu_tensor_raw("w", dims, 2);
	memcpy(w->raw_data.data, values, sizeof(float) * N);
	Onnx__NodeProto *mm = tu_node("MatMul", "mm", "x", "w", "y");
	Onnx__ModelProto *m = tu_model(&w, 1, &mm, 1);
	m->ir_version = ir;
	if (ir < 4) { /* IR 3 lists every initializer as a graph input */
		Onnx__ValueInfoProto *vi = malloc(sizeof *vi);
		onnx__value_info_proto__init(vi);
		vi->name = strdup("w");
		m->graph->input = realloc(m->graph->input, 2 * sizeof *m->graph->input);
		m->graph->input[m->graph->n_input++] = vi;
	}
	const char *path = tu_path(file);
	tu_write_model(path, m);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return path;
}

static void laplace_values(float *v)
{
	uint64_t s = 12345;
	for (size_t i = 0; i < N; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		double u = ((double)(s >> 11) + 0.5) / 9007199254740992.0 - 0.5;
		v[i] = (float)(-0.05 * copysign(log(1 - 2 * fabs(u)), u));
	}
}

static struct ggpack_conversion *convert(struct ggpack_model *m, const struct ggpack_convert_options *o,
					 int expect, char *msg)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_conversion *c = NULL;
	int rc = ggpack_convert(ctx, m, o, &c);
	ck_assert_msg(rc == expect, "convert gave %d: %s", rc, ggpack_ctx_message(ctx));
	if (msg)
		snprintf(msg, 512, "%s", ggpack_ctx_message(ctx));
	ggpack_ctx_free(ctx);
	return c;
}

static json_t *report_of(struct ggpack_conversion *c)
{
	char *text;
	ck_assert_int_eq(ggpack_conversion_report(NULL, c, "report", &text), 0);
	json_t *r = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(r);
	free(text);
	return r;
}

static void save(struct ggpack_conversion *c, const char *path)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	int rc = ggpack_conversion_save(ctx, c, path, NULL);
	ck_assert_msg(rc == 0, "save: %s", ggpack_ctx_message(ctx));
	ggpack_ctx_free(ctx);
}

/* The index of the tensor named name in m. */
static size_t tensor_named(const struct ggpack_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return i;
	ck_abort_msg("no tensor '%s'", name);
	return 0;
}

START_TEST(presets_give_the_documented_options)
{
	struct ggpack_convert_options o;
	ck_assert_int_eq(ggpack_convert_defaults(&o, "safe"), 0);
	ck_assert(o.rf8 && o.rounding == GGPACK_ROUND_NEAREST && o.floor == GGPACK_FLOOR_AUTO);
	ck_assert(!o.deepshape && o.select.mode == GGPACK_SELECT_WEIGHTS && o.store == GGPACK_STORE_LUT);
	ck_assert_int_eq(ggpack_convert_defaults(&o, "paper"), 0);
	ck_assert(o.rounding == GGPACK_ROUND_PAPER && o.floor == GGPACK_FLOOR_NONE && o.deepshape);
	ck_assert(o.ds_scope == GGPACK_DS_MODEL && o.select.mode == GGPACK_SELECT_ALL);
	ck_assert(o.ds.grid == 13 && o.ds.min_count == 1000 && o.ds.shape_scale == 0.8 && o.ds.std_scale == 0.6);
	ck_assert_int_eq(ggpack_convert_defaults(&o, "fast"), GGPACK_E_USAGE);
}
END_TEST

/* 412 weights of 1 and 100 of 2^-10, all exact RF8 values: without a floor
 * the error is zero, so a floor may only cost nothing. r 2^-10 lies under
 * 2^-10 and zeroes nothing; r 2^-9 would zero the small ones. */
START_TEST(auto_floor_is_the_largest_that_costs_nothing_here)
{
	float v[N];
	for (size_t i = 0; i < N; i++)
		v[i] = i < 100 ? 0x1p-10f : 1.0f;
	struct ggpack_model *m = tu_load(matmul_model("floor.onnx", v, 8), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	json_t *r = report_of(c);
	json_t *t = json_array_get(json_object_get(r, "tensors"), 0);
	double rms = sqrt((412.0 + 100.0 * 0x1p-20) / N);
	ck_assert_double_eq(json_real_value(json_object_get(json_object_get(t, "rf8"), "floor")), ldexp(rms, -10));
	ck_assert(json_is_null(json_object_get(t, "snr_db"))); /* exact */
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(t, "rf8"), "zeros")), 0);
	json_decref(r);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

/* The auto floor against a brute force of RF8.md's rule: for k = 1..12,
 * encode with the floor r 2^-k, measure the SNR; keep the largest floor
 * within max_loss dB of no floor. */
static double brute_force_floor(const float *v, double max_loss)
{
	uint8_t codes[N];
	int E;
	double table[256], sq = 0, best = 0, e0 = 0;
	for (size_t i = 0; i < N; i++)
		sq += (double)v[i] * v[i];
	double r = sqrt(sq / N);
	for (int k = 0; k <= 12; k++) {
		double F = k ? ldexp(r, -k) : 0, e = 0;
		ck_assert_int_eq(ggpack_rf8_encode(NULL, "w", GGPACK_DTYPE_FLOAT, v, N, GGPACK_ROUND_NEAREST, F,
						   codes, &E), 0);
		for (int c = 0; c < 256; c++)
			table[c] = (c & 0x7f) == 127 ? 0 : ggpack_rf8_decode((uint8_t)c, E);
		for (size_t i = 0; i < N; i++)
			e += (v[i] - table[codes[i]]) * (v[i] - table[codes[i]]);
		if (!k)
			e0 = e;
		else if (!best && 10 * log10(e / e0) <= max_loss)
			best = F; /* k rises, F falls: the first that passes is the largest */
	}
	return best;
}

START_TEST(auto_floor_equals_a_brute_force_of_the_rule)
{
	static const double losses[] = { 0, 0.01, 0.1, 1, 3 };
	float v[N];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("brute.onnx", v, 8), 0, NULL, 0);
	for (size_t l = 0; l < sizeof losses / sizeof *losses; l++) {
		struct ggpack_convert_options o;
		ggpack_convert_defaults(&o, "safe");
		o.floor_max_loss = losses[l];
		struct ggpack_conversion *c = convert(m, &o, 0, NULL);
		json_t *r = report_of(c);
		json_t *t = json_array_get(json_object_get(r, "tensors"), 0);
		double floor = json_real_value(json_object_get(json_object_get(t, "rf8"), "floor"));
		ck_assert_msg(floor == brute_force_floor(v, losses[l]), "loss %g: floor %g, brute force %g",
			      losses[l], floor, brute_force_floor(v, losses[l]));
		json_decref(r);
		ggpack_conversion_free(c);
	}
	ggpack_model_free(m);
}
END_TEST

/* The bit rates of the stored codes and the entropy without the floor
 * describe the codes themselves: the report's figures against a histogram
 * of the codes as saved, and of the codes RF8 gives with no floor, for the
 * auto floor at several losses (ever larger floors), no floor and a given
 * one. (The auto floor takes its histograms from the floor
 * pass's cells, not from the codes.) */
static void expect_bits(const json_t *bits, const uint8_t *codes, const char *what)
{
	struct ggpack_hist *h;
	struct ggpack_bits b;
	ck_assert_int_eq(ggpack_hist_from_codes(codes, N, &h), 0);
	ck_assert_int_eq(ggpack_hist_bits(h, &b), 0);
	ggpack_hist_free(h);
	ck_assert_msg(json_real_value(json_object_get(bits, "entropy")) == b.entropy &&
			      json_real_value(json_object_get(bits, "exp_golomb")) == b.exp_golomb &&
			      json_real_value(json_object_get(bits, "huffman")) == b.huffman &&
			      json_real_value(json_object_get(bits, "fixed")) == b.fixed,
		      "%s: reported bits are not the codes' (entropy %.17g, codes %.17g)", what,
		      json_real_value(json_object_get(bits, "entropy")), b.entropy);
}

START_TEST(code_bits_are_those_of_the_stored_codes)
{
	static const struct { enum ggpack_floor_mode mode; double loss, value; } cases[] = {
		{ GGPACK_FLOOR_AUTO, 0, 0 },  { GGPACK_FLOOR_AUTO, 0.1, 0 }, { GGPACK_FLOOR_AUTO, 1, 0 },
		{ GGPACK_FLOOR_AUTO, 6, 0 },  { GGPACK_FLOOR_NONE, 0, 0 },   { GGPACK_FLOOR_VALUE, 0, 0.01 },
	};
	float v[N];
	uint8_t plain[N];
	int E;
	laplace_values(v);
	ck_assert_int_eq(ggpack_rf8_encode(NULL, "w", GGPACK_DTYPE_FLOAT, v, N, GGPACK_ROUND_NEAREST, 0, plain, &E), 0);
	struct ggpack_hist *h;
	struct ggpack_bits no_floor;
	ck_assert_int_eq(ggpack_hist_from_codes(plain, N, &h), 0);
	ck_assert_int_eq(ggpack_hist_bits(h, &no_floor), 0);
	ggpack_hist_free(h);
	struct ggpack_model *m = tu_load(matmul_model("bits.onnx", v, 8), 0, NULL, 0);
	double last_floor = -1;
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		char what[64], out[64];
		snprintf(what, sizeof what, "case %zu", k);
		snprintf(out, sizeof out, "bits%zu.onnx", k);
		struct ggpack_convert_options o;
		ggpack_convert_defaults(&o, "safe");
		o.floor = cases[k].mode, o.floor_max_loss = cases[k].loss, o.floor_value = cases[k].value;
		struct ggpack_conversion *c = convert(m, &o, 0, NULL);
		json_t *r = report_of(c);
		json_t *t = json_array_get(json_object_get(r, "tensors"), 0);
		json_t *rf8 = json_object_get(t, "rf8");
		double floor = json_real_value(json_object_get(rf8, "floor"));
		if (cases[k].mode == GGPACK_FLOOR_AUTO) { /* the losses rise: so do the floors */
			ck_assert_msg(floor > last_floor, "%s: floor %g after %g", what, floor, last_floor);
			last_floor = floor;
		}
		save(c, tu_path(out));
		struct ggpack_model *saved = tu_load(tu_path(out), 0, NULL, 0);
		const struct index_tensor *codes = &saved->tensors[tensor_named(saved, "w.rf8.codes")];
		expect_bits(json_object_get(t, "bits"), codes->data, what);
		ck_assert_msg(json_real_value(json_object_get(rf8, "entropy_no_floor")) == no_floor.entropy,
			      "%s: entropy without the floor %.17g, plain codes %.17g", what,
			      json_real_value(json_object_get(rf8, "entropy_no_floor")), no_floor.entropy);
		ggpack_model_free(saved);
		json_decref(r);
		ggpack_conversion_free(c);
	}
	ggpack_model_free(m);
}
END_TEST

/* --rf8-floor none gives the plain RF8 codes, bit for bit. */
START_TEST(no_floor_gives_plain_rf8)
{
	float v[N];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("plain.onnx", v, 8), 0, NULL, 0);
	struct ggpack_convert_options o;
	ggpack_convert_defaults(&o, "safe");
	o.floor = GGPACK_FLOOR_NONE;
	struct ggpack_conversion *c = convert(m, &o, 0, NULL);
	uint8_t codes[N];
	int E;
	ck_assert_int_eq(ggpack_rf8_encode(NULL, "w", GGPACK_DTYPE_FLOAT, v, N, GGPACK_ROUND_NEAREST, 0, codes, &E), 0);
	save(c, tu_path("plain.lut.onnx"));
	struct ggpack_model *out = tu_load(tu_path("plain.lut.onnx"), 0, NULL, 0);
	const struct index_tensor *t = &out->tensors[tensor_named(out, "w.rf8.codes")];
	ck_assert_int_eq(t->proto->data_type, GGPACK_DTYPE_UINT8);
	ck_assert_int_eq(memcmp(t->data, codes, N), 0);
	ggpack_model_free(out);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

/* lut: codes under a new name, the shared table as a Constant, then Cast
 * and Gather giving "w" back, before the MatMul; float: every element is
 * the table entry of its code. */
START_TEST(lut_and_float_stores_hold_the_same_values)
{
	float v[N];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("stores.onnx", v, 8), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	save(c, tu_path("stores.lut.onnx"));
	ggpack_conversion_free(c);
	struct ggpack_convert_options o;
	ggpack_convert_defaults(&o, "safe");
	o.store = GGPACK_STORE_FLOAT;
	c = convert(m, &o, 0, NULL);
	save(c, tu_path("stores.float.onnx"));

	struct ggpack_model *lut = tu_load(tu_path("stores.lut.onnx"), 0, NULL, 0);
	struct ggpack_model *flt = tu_load(tu_path("stores.float.onnx"), 0, NULL, 0);
	const Onnx__GraphProto *g = lut->proto->graph;
	ck_assert_int_eq(g->n_node, 4);
	ck_assert_str_eq(g->node[0]->op_type, "Constant");
	ck_assert_str_eq(g->node[1]->op_type, "Cast");
	ck_assert_str_eq(g->node[2]->op_type, "Gather");
	ck_assert_str_eq(g->node[2]->output[0], "w");
	ck_assert_str_eq(g->node[3]->op_type, "MatMul");
	size_t ti = tensor_named(lut, g->node[0]->output[0]), ci = tensor_named(lut, "w.rf8.codes");
	const struct index_tensor *table = &lut->tensors[ti], *codes = &lut->tensors[ci];
	const struct index_tensor *w = &flt->tensors[tensor_named(flt, "w")];
	ck_assert_int_eq(table->params, 256);
	ck_assert_int_eq(w->proto->data_type, GGPACK_DTYPE_FLOAT);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(memcmp(w->data + 4 * i, table->data + 4 * codes->data[i], 4), 0);
	ggpack_model_free(lut);
	ggpack_model_free(flt);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

START_TEST(ir3_graph_input_becomes_the_codes)
{
	float v[N];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("ir3.onnx", v, 3), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	save(c, tu_path("ir3.lut.onnx"));
	struct ggpack_model *out = tu_load(tu_path("ir3.lut.onnx"), 0, NULL, 0);
	const Onnx__GraphProto *g = out->proto->graph;
	ck_assert_int_eq(g->n_input, 2);
	ck_assert_str_eq(g->input[1]->name, "w.rf8.codes");
	ck_assert_int_eq(g->input[1]->type->tensor_type->elem_type, GGPACK_DTYPE_UINT8);
	ck_assert_int_eq(g->input[1]->type->tensor_type->shape->n_dim, 2);
	ggpack_model_free(out);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

START_TEST(converted_model_is_refused_unless_forced)
{
	float v[N];
	char msg[512];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("once.onnx", v, 8), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	save(c, tu_path("once.lut.onnx"));
	struct ggpack_model *out = tu_load(tu_path("once.lut.onnx"), 0, NULL, 0);
	ck_assert_ptr_null(convert(out, NULL, GGPACK_E_INVALID, msg));
	ck_assert_ptr_nonnull(strstr(msg, "converted by ggpack already"));
	struct ggpack_convert_options o;
	ggpack_convert_defaults(&o, "safe");
	o.force = 1;
	struct ggpack_conversion *again = convert(out, &o, 0, NULL);
	json_t *r = report_of(again);
	/* the codes are not floating, the table is ours: nothing left to convert */
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "totals"), "selected")), 0);
	json_decref(r);
	ggpack_conversion_free(again);
	ggpack_model_free(out);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

START_TEST(nan_is_named_with_tensor_and_element)
{
	float v[N];
	char msg[512];
	laplace_values(v);
	v[77] = NAN;
	struct ggpack_model *m = tu_load(matmul_model("nan.onnx", v, 8), 0, NULL, 0);
	ck_assert_ptr_null(convert(m, NULL, GGPACK_E_INVALID, msg));
	ck_assert_msg(strstr(msg, "tensor 'w'") && strstr(msg, "element 77") && strstr(msg, "nan.onnx"), "%s", msg);
	ggpack_model_free(m);
}
END_TEST

/* One selected tensor: the totals are its figures. */
/* FIPS 180-4's examples and the million a's, through the portable code and
 * (where the CPU has them) the SHA extensions, fed whole and in odd pieces. */
START_TEST(sha256_gives_the_standard_digests)
{
	static const char *const want[4] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	};
	static const char *const msg[3] = { "", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" };
	size_t n = 1000000;
	char *a = malloc(n), hex[65];
	ck_assert_ptr_nonnull(a);
	memset(a, 'a', n);
	for (int portable = 0; portable < 2; portable++) {
		sha256_portable(portable);
		for (int i = 0; i < 4; i++)
			for (size_t piece = 1; piece <= 1000; piece = piece * 7 + 2) {
				struct sha256 h;
				const char *m = i < 3 ? msg[i] : a;
				size_t len = i < 3 ? strlen(m) : n;
				sha256_init(&h);
				for (size_t at = 0; at < len; at += piece)
					sha256_add(&h, m + at, len - at < piece ? len - at : piece);
				sha256_hex(&h, hex);
				ck_assert_str_eq(hex, want[i]);
			}
	}
	sha256_portable(0);
	printf("# SHA extensions on this CPU: %s\n", sha256_accelerated() ? "yes, both paths checked" : "no");
	free(a);
}
END_TEST

/* Tensors kept in memory, spilled to a file in a folder, or discarded: the
 * same saved bytes and the same report; a discarded conversion is not
 * saved, and the spill file is gone from its folder. */
START_TEST(spilled_and_discarded_conversions_match_memory)
{
	float v[N];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("spill.onnx", v, 8), 0, NULL, 0);
	struct ggpack_convert_options o;
	ggpack_convert_defaults(&o, "safe");
	struct ggpack_conversion *mem = convert(m, &o, 0, NULL);
	o.spill_dir = tu_tmpdir();
	struct ggpack_conversion *spill = convert(m, &o, 0, NULL);
	o.spill_dir = NULL;
	o.discard_data = 1;
	struct ggpack_conversion *gone = convert(m, &o, 0, NULL);
	save(mem, tu_path("spill.mem.onnx"));
	save(spill, tu_path("spill.file.onnx"));
	size_t a_len, b_len;
	uint8_t *a = tu_read(tu_path("spill.mem.onnx"), &a_len), *b = tu_read(tu_path("spill.file.onnx"), &b_len);
	ck_assert_int_eq(a_len, b_len);
	ck_assert_int_eq(memcmp(a, b, a_len), 0);
	json_t *r_mem = report_of(mem), *r_gone = report_of(gone);
	ck_assert_msg(json_equal(json_object_get(r_mem, "tensors"), json_object_get(r_gone, "tensors")),
		      "the tensors' figures differ");
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	ck_assert_int_eq(ggpack_conversion_save(ctx, gone, tu_path("spill.gone.onnx"), NULL), GGPACK_E_USAGE);
	ck_assert_int_ne(access(tu_path("spill.gone.onnx"), F_OK), 0);
	ggpack_ctx_free(ctx);
	json_decref(r_mem);
	json_decref(r_gone);
	free(a);
	free(b);
	ggpack_conversion_free(mem);
	ggpack_conversion_free(spill);
	ggpack_conversion_free(gone);
	ggpack_model_free(m);
	DIR *d = opendir(tu_tmpdir());
	for (struct dirent *e; d && (e = readdir(d));)
		ck_assert_msg(strncmp(e->d_name, ".ggpack-spill", 13) != 0, "a spill file is left: %s", e->d_name);
	if (d)
		closedir(d);
}
END_TEST

/* A model y = MatMul(x, w) with w of ROWS x COLS elements of dtype, its
 * raw bytes given. */
static const char *matmul_raw_model(const char *file, int dtype, const void *raw, size_t width)
{
	static const int64_t dims[2] = { ROWS, COLS };
	Onnx__TensorProto *w = tu_tensor_raw("w", dims, 2);
	w->data_type = dtype;
	w->raw_data.data = realloc(w->raw_data.data, width * N);
	w->raw_data.len = width * N;
	memcpy(w->raw_data.data, raw, width * N);
	Onnx__NodeProto *mm = tu_node("MatMul", "mm", "x", "w", "y");
	Onnx__ModelProto *m = tu_model(&w, 1, &mm, 1);
	const char *path = tu_path(file);
	tu_write_model(path, m);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return path;
}

/* RF8 can round a weight to a value its dtype cannot hold (2^16 in
 * float16, 2^128 in float32 and bfloat16), so weights past the largest
 * value it holds are encoded saturated there; the error reported is still
 * that of the stored values against the input's. */
static void check_saturation(int dtype, double big, double scale, float held, double err)
{
	float v[N], in[N];
	uint8_t raw[4 * N];
	size_t width = conv_dtype_size(dtype);
	laplace_values(v);
	for (size_t i = 0; i < N; i++) {
		double x = i == 0 ? big : i == 1 ? -big : scale * v[i];
		float f = (float)x;
		uint16_t h = dtype == GGPACK_DTYPE_FLOAT16 ? tensor_f16_from_f64(x) : tensor_bf16_from_f64(x);
		memcpy(raw + width * i, dtype == GGPACK_DTYPE_FLOAT ? (void *)&f : (void *)&h, width);
		in[i] = (float)tensor_raw_element(dtype, raw, i);
	}
	unlink(tu_path("sat.onnx"));
	struct ggpack_model *m = tu_load(matmul_raw_model("sat.onnx", dtype, raw, width), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	const struct conv_tensor *ct = &c->t[tensor_named(m, "w")];
	struct ggpack_error_sums e = { 0 };
	float stored[N];
	for (size_t i = 0; i < N; i++) /* so few params are stored as values (float store) */
		stored[i] = (float)(ct->lut ? tensor_raw_element(dtype, ct->table, ((const uint8_t *)ct->data)[i])
					    : tensor_raw_element(dtype, ct->data, i));
	ggpack_error_add_f32(&e, in, stored, N);
	ck_assert_float_eq(stored[0], held);
	ck_assert_float_eq(stored[1], -held);
	ck_assert_double_eq(e.max_abs, err);
	ck_assert_double_eq(ct->err.max_abs, err);
	ck_assert_double_eq_tol(ct->err.err_sq, e.err_sq, 1e-9 * e.err_sq);
	ck_assert_double_eq_tol(ct->err.sum_sq, e.sum_sq, 1e-9 * e.sum_sq);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}

START_TEST(saturation_keeps_stored_values_finite_and_is_in_the_error)
{
	check_saturation(GGPACK_DTYPE_FLOAT16, 65504, 20000, 61440, 4064);
	check_saturation(GGPACK_DTYPE_FLOAT, FLT_MAX, 1e37, 0x1.ep127f, 0x1p124 - 0x1p104);
	check_saturation(GGPACK_DTYPE_BFLOAT16, 0x1.fep127, 1e37, 0x1.ep127f, 0x1.ep123);
}
END_TEST

/* ggpack computes in float32: a float64 weight float32 cannot hold (past
 * FLT_MAX, or nonzero under FLT_MIN) would come out infinite or with its
 * precision lost, and its figures wrong. Such a tensor is skipped with
 * its reason, unmeasured, and saved unchanged; at the edges of the range
 * it is converted. */
static void convert_f64(double scale, double one, bool converted)
{
	float v[N];
	double raw[N];
	laplace_values(v);
	for (size_t i = 0; i < N; i++)
		raw[i] = i == 7 ? one : scale * v[i];
	unlink(tu_path("f64.onnx"));
	const char *path = matmul_raw_model("f64.onnx", GGPACK_DTYPE_DOUBLE, raw, 8);
	struct ggpack_model *m = tu_load(path, 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	const struct conv_tensor *ct = &c->t[tensor_named(m, "w")];
	ck_assert_msg(ct->converted == converted, "scale %g, element %g: converted %d", scale, one, ct->converted);
	ck_assert(ct->measured == converted);
	if (!converted)
		ck_assert_ptr_nonnull(strstr(ct->skip, "float32 cannot hold"));
	unlink(tu_path("f64.out.onnx"));
	save(c, tu_path("f64.out.onnx"));
	struct ggpack_model *out = tu_load(tu_path("f64.out.onnx"), 0, NULL, 0);
	const struct index_tensor *w = &out->tensors[tensor_named(out, converted ? "w.rf8.codes" : "w")];
	if (!converted)
		ck_assert_int_eq(memcmp(w->data, raw, sizeof raw), 0);
	ggpack_model_free(out);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}

START_TEST(float64_beyond_float32_is_skipped_unchanged)
{
	convert_f64(1.0, 1e39, false);
	convert_f64(1.0, -1e39, false);
	convert_f64(1.0, 1e-39, false);
	convert_f64(1e-40, 1e-40, false);
	convert_f64(1.0, FLT_MAX, true);
	convert_f64(1.0, FLT_MIN, true);
	convert_f64(1.0, 0.0, true);
}
END_TEST

/* Two definitions of one name in a graph are invalid ONNX, and converting
 * either would give a third; both are left as they are, with their reason,
 * while the graph's other weights convert: two initializers "w", and an
 * initializer "u" that a node's output also defines. */
START_TEST(tensors_whose_name_is_defined_twice_are_left_alone)
{
	static const int64_t dims[2] = { ROWS, COLS };
	Onnx__TensorProto *inits[4] = { tu_tensor_raw("w", dims, 2), tu_tensor_raw("w", dims, 2),
					tu_tensor_raw("u", dims, 2), tu_tensor_raw("v", dims, 2) };
	Onnx__NodeProto *nodes[4] = { tu_node("MatMul", "a", "x", "w", "h"), tu_node("Identity", "b", "h", "", "u"),
				      tu_node("MatMul", "c", "h", "u", "h2"), tu_node("MatMul", "d", "h2", "v", "y") };
	Onnx__ModelProto *pm = tu_model(inits, 4, nodes, 4);
	tu_write_model(tu_path("clash.onnx"), pm);
	protobuf_c_message_free_unpacked(&pm->base, NULL);
	struct ggpack_model *m = tu_load(tu_path("clash.onnx"), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	for (size_t i = 0; i < m->n_tensors; i++) {
		bool clash = strcmp(m->tensors[i].name, "v") != 0;
		ck_assert_msg(c->t[i].converted == !clash, "tensor %zu '%s'", i, m->tensors[i].name);
		if (clash)
			ck_assert_str_eq(c->t[i].skip, "its graph defines its name more than once (invalid ONNX)");
	}
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

/* DeepShape's parameters that cannot work on a model's weights (min_count 0
 * and a heavy shape around an outlier) are a usage error whose message
 * names the file, and in scope tensor the tensor. */
START_TEST(deepshape_refusal_names_file_and_tensor)
{
	float v[N];
	laplace_values(v);
	v[5] = 3e38f;
	const char *path = matmul_model("outlier.onnx", v, 8);
	struct ggpack_model *m = tu_load(path, 0, NULL, 0);
	struct ggpack_convert_options o;
	ggpack_convert_defaults(&o, "paper");
	o.ds.min_count = 0;
	o.ds.shape_scale = 0.1;
	char msg[512], want[600];
	for (int scope = GGPACK_DS_TENSOR; scope <= GGPACK_DS_MODEL; scope++) {
		o.ds_scope = scope;
		ck_assert_ptr_null(convert(m, &o, GGPACK_E_USAGE, msg));
		snprintf(want, sizeof want, scope == GGPACK_DS_TENSOR ? "%s: tensor 'w': DeepShape: " : "%s: DeepShape: ",
			 path);
		ck_assert_msg(!strncmp(msg, want, strlen(want)), "scope %d: %s", scope, msg);
	}
	ggpack_model_free(m);
}
END_TEST

START_TEST(totals_of_one_tensor_are_its_figures)
{
	float v[N];
	laplace_values(v);
	struct ggpack_model *m = tu_load(matmul_model("one.onnx", v, 8), 0, NULL, 0);
	struct ggpack_conversion *c = convert(m, NULL, 0, NULL);
	json_t *r = report_of(c), *totals = json_object_get(r, "totals");
	json_t *t = json_array_get(json_object_get(r, "tensors"), 0);
	ck_assert(json_equal(json_object_get(totals, "bits"), json_object_get(t, "bits")));
	ck_assert(json_equal(json_object_get(totals, "bits_before"), json_object_get(t, "bits_before")));
	ck_assert_double_eq(json_real_value(json_object_get(totals, "snr_db")),
			    json_real_value(json_object_get(t, "snr_db")));
	ck_assert_int_eq(json_integer_value(json_object_get(totals, "selected_params")), N);
	json_decref(r);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("convert");
	TCase *tc = tcase_create("convert");
	tcase_add_test(tc, presets_give_the_documented_options);
	tcase_add_test(tc, auto_floor_is_the_largest_that_costs_nothing_here);
	tcase_add_test(tc, auto_floor_equals_a_brute_force_of_the_rule);
	tcase_add_test(tc, code_bits_are_those_of_the_stored_codes);
	tcase_add_test(tc, no_floor_gives_plain_rf8);
	tcase_add_test(tc, lut_and_float_stores_hold_the_same_values);
	tcase_add_test(tc, ir3_graph_input_becomes_the_codes);
	tcase_add_test(tc, converted_model_is_refused_unless_forced);
	tcase_add_test(tc, nan_is_named_with_tensor_and_element);
	tcase_add_test(tc, totals_of_one_tensor_are_its_figures);
	tcase_add_test(tc, saturation_keeps_stored_values_finite_and_is_in_the_error);
	tcase_add_test(tc, float64_beyond_float32_is_skipped_unchanged);
	tcase_add_test(tc, tensors_whose_name_is_defined_twice_are_left_alone);
	tcase_add_test(tc, deepshape_refusal_names_file_and_tensor);
	tcase_add_test(tc, sha256_gives_the_standard_digests);
	tcase_add_test(tc, spilled_and_discarded_conversions_match_memory);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
