/*
 * test_wire.c - the wire format: varints, the checking walk (and the byte
 * offsets it reports), and splicing edits into a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int scan_bytes(const uint8_t *buf, size_t len, char *msg, size_t msg_len)
{
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct wire_scan scan;
	int rc = wire_scan_model(ctx, "mem.onnx", buf, len, &scan);
	snprintf(msg, msg_len, "%s", ggpack_ctx_message(ctx));
	if (!rc)
		wire_scan_free(&scan);
	ggpack_ctx_free(ctx);
	return rc;
}

START_TEST(varint_round_trips_at_every_length)
{
	uint64_t values[] = { 0, 1, 127, 128, 16383, 16384, (1ull << 21) - 1, 1ull << 21,
			      (1ull << 35) + 5, (1ull << 63) - 1, UINT64_MAX };
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		uint8_t buf[10];
		uint64_t back = 0;
		size_t n = wire_put_varint(buf, values[i]);
		ck_assert_uint_eq(n, wire_varint_size(values[i]));
		ck_assert_uint_eq(wire_get_varint(buf, buf + n, &back), n);
		ck_assert_uint_eq(back, values[i]);
		if (n > 1) /* cut off by one byte */
			ck_assert_uint_eq(wire_get_varint(buf, buf + n - 1, &back), 0);
	}
	uint8_t eleven[11];
	memset(eleven, 0x80, sizeof eleven);
	uint64_t v;
	ck_assert_uint_eq(wire_get_varint(eleven, eleven + 11, &v), 0);
}
END_TEST

START_TEST(scan_reports_the_byte_where_a_length_runs_past_the_end)
{
	/* ir_version = 7, then graph (field 7) claiming 5 bytes of which 1 is there */
	const uint8_t buf[] = { 0x08, 0x07, 0x3a, 0x05, 0x0a };
	char msg[512];
	ck_assert_int_eq(scan_bytes(buf, sizeof buf, msg, sizeof msg), GGPACK_E_INVALID);
	ck_assert_msg(strstr(msg, "mem.onnx") && strstr(msg, "breaks at byte 2") &&
		      strstr(msg, "'graph'"), "%s", msg);
}
END_TEST

START_TEST(scan_rejects_groups_field_zero_and_wrong_wire_types)
{
	char msg[512];
	const uint8_t group[] = { 0x08, 0x01, 0x0b };       /* field 1, wire type 3 at byte 2 */
	const uint8_t zero[] = { 0x00, 0x01 };
	const uint8_t scalar_delimited[] = { 0x0a, 0x00 }; /* ir_version sent length-delimited */
	const uint8_t graph_varint[] = { 0x38, 0x01 };     /* graph sent as a varint */
	ck_assert_int_eq(scan_bytes(group, sizeof group, msg, sizeof msg), GGPACK_E_INVALID);
	ck_assert_msg(strstr(msg, "byte 2") && strstr(msg, "wire type"), "%s", msg);
	ck_assert_int_eq(scan_bytes(zero, sizeof zero, msg, sizeof msg), GGPACK_E_INVALID);
	ck_assert_msg(strstr(msg, "field number 0"), "%s", msg);
	ck_assert_int_eq(scan_bytes(scalar_delimited, 2, msg, sizeof msg), GGPACK_E_INVALID);
	ck_assert_int_eq(scan_bytes(graph_varint, 2, msg, sizeof msg), GGPACK_E_INVALID);
	ck_assert_msg(strstr(msg, "does not match"), "%s", msg);
}
END_TEST

/* field number f, length-delimited, around payload (in place, buf grows). */
static size_t wrap(uint8_t *buf, size_t len, uint32_t field)
{
	uint8_t hdr[12];
	size_t h = wire_put_varint(hdr, (uint64_t)field << 3 | 2);
	h += wire_put_varint(hdr + h, len);
	memmove(buf + h, buf, len);
	memcpy(buf, hdr, h);
	return len + h;
}

START_TEST(scan_refuses_messages_nested_past_the_limit)
{
	/* graph > node > attribute > graph > ...: three levels per subgraph */
	uint8_t *buf = calloc(1, 1 << 16);
	size_t len = 0;
	char msg[512];
	for (int level = 0; level < 40; level++)
		len = wrap(buf, wrap(buf, wrap(buf, len, 6), 5), 1);
	len = wrap(buf, len, 7);
	ck_assert_int_eq(scan_bytes(buf, len, msg, sizeof msg), GGPACK_E_INVALID);
	ck_assert_msg(strstr(msg, "nested too deeply"), "%s", msg);
	free(buf);
}
END_TEST

/* A packed model with one initializer, scanned. */
static uint8_t *packed_model(size_t *len, struct wire_scan *scan, uint32_t *tensor_region)
{
	int64_t dims[] = { 2, 3 };
	Onnx__TensorProto *w = tu_tensor_raw("w", dims, 2);
	Onnx__ModelProto *m = tu_model(&w, 1, NULL, 0);
	*len = protobuf_c_message_get_packed_size(&m->base);
	uint8_t *buf = malloc(*len);
	protobuf_c_message_pack(&m->base, buf);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	ck_assert_int_eq(wire_scan_model(NULL, "mem", buf, *len, scan), 0);
	*tensor_region = NONE;
	for (uint32_t r = 0; r < scan->n_regions; r++)
		if (scan->regions[r].type == &onnx__tensor_proto__descriptor)
			*tensor_region = r;
	ck_assert_uint_ne(*tensor_region, NONE);
	return buf;
}

START_TEST(splice_rewrites_every_enclosing_length)
{
	size_t len;
	struct wire_scan scan;
	uint32_t r;
	uint8_t *buf = packed_model(&len, &scan, &r);
	/* doc_string (field 12) appended inside the tensor, raw_data removed */
	static const uint8_t doc[] = { 12 << 3 | 2, 5, 'h', 'e', 'l', 'l', 'o' };
	struct splice_piece piece = { doc, sizeof doc, false };
	const struct wire_region *t = &scan.regions[r];
	struct splice_edit edits[] = { { r, t->end, t->end, &piece, 1 },
				       { r, t->raw_field_off, t->raw_end, NULL, 0 } };
	struct splice_sink sink;
	uint64_t size;
	splice_sink_init_mem(&sink);
	ck_assert_int_eq(splice_write(&scan, buf, len, edits, 2, &sink), 0);
	ck_assert_int_eq(splice_size(&scan, buf, len, edits, 2, &size), 0);
	ck_assert_uint_eq(size, sink.len);
	ck_assert_uint_eq(sink.len, len + sizeof doc - (t->raw_end - t->raw_field_off));
	Onnx__ModelProto *m = (Onnx__ModelProto *)protobuf_c_message_unpack(
		&onnx__model_proto__descriptor, NULL, sink.len, sink.buf);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->graph->initializer[0]->doc_string, "hello");
	ck_assert_str_eq(m->graph->initializer[0]->name, "w");
	ck_assert_int_eq(m->graph->initializer[0]->has_raw_data, 0);
	ck_assert_str_eq(m->graph->output[0]->name, "y"); /* what follows the tensor is intact */
	protobuf_c_message_free_unpacked(&m->base, NULL);
	splice_sink_free(&sink);
	wire_scan_free(&scan);
	free(buf);
}
END_TEST

START_TEST(splice_without_edits_copies_the_file)
{
	size_t len;
	struct wire_scan scan;
	uint32_t r;
	uint8_t *buf = packed_model(&len, &scan, &r);
	struct splice_sink sink;
	splice_sink_init_mem(&sink);
	ck_assert_int_eq(splice_write(&scan, buf, len, NULL, 0, &sink), 0);
	ck_assert_uint_eq(sink.len, len);
	ck_assert_mem_eq(sink.buf, buf, len);
	splice_sink_free(&sink);
	wire_scan_free(&scan);
	free(buf);
}
END_TEST

START_TEST(splice_refuses_overlapping_edits_and_edits_outside_their_region)
{
	size_t len;
	struct wire_scan scan;
	uint32_t r;
	uint8_t *buf = packed_model(&len, &scan, &r);
	const struct wire_region *t = &scan.regions[r];
	struct splice_edit overlap[] = { { r, t->start, t->start + 4, NULL, 0 },
					 { r, t->start + 2, t->start + 6, NULL, 0 } };
	struct splice_edit outside[] = { { r, t->field_off, t->end, NULL, 0 } };
	struct splice_sink sink;
	splice_sink_init_mem(&sink);
	ck_assert_int_eq(splice_write(&scan, buf, len, overlap, 2, &sink), GGPACK_E_INTERNAL);
	ck_assert_int_eq(splice_write(&scan, buf, len, outside, 1, &sink), GGPACK_E_INTERNAL);
	splice_sink_free(&sink);
	wire_scan_free(&scan);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");
	tcase_add_test(tc, varint_round_trips_at_every_length);
	tcase_add_test(tc, scan_reports_the_byte_where_a_length_runs_past_the_end);
	tcase_add_test(tc, scan_rejects_groups_field_zero_and_wrong_wire_types);
	tcase_add_test(tc, scan_refuses_messages_nested_past_the_limit);
	tcase_add_test(tc, splice_rewrites_every_enclosing_length);
	tcase_add_test(tc, splice_without_edits_copies_the_file);
	tcase_add_test(tc, splice_refuses_overlapping_edits_and_edits_outside_their_region);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
