/*
 * wire.c - the protobuf wire format: varints, and a walk of a whole
 * ModelProto driven by the protobuf-c descriptors. The walk checks what
 * protobuf-c's unpacker checks, so it can say at which byte a broken file
 * breaks (protobuf-c only says that it failed), and records the spans of the
 * messages that loading and saving need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* protobuf's own default recursion limit; protobuf-c has none, so this walk
 * is what keeps a hostile file from overflowing its stack. */
#define WIRE_MAX_DEPTH 100

size_t wire_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *value)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 10 && p + i < end; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*value = v;
			return i + 1;
		}
	}
	return 0;
}

size_t wire_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t wire_put_varint(uint8_t *dst, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		dst[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	dst[n++] = (uint8_t)v;
	return n;
}

bool wire_next_field(const uint8_t *buf, size_t *pos, size_t end, struct wire_field *f)
{
	size_t p = *pos, n;
	uint64_t tag, v = 0;
	if (!(n = wire_get_varint(buf + p, buf + end, &tag)))
		return false;
	f->off = p;
	p += n;
	f->number = (uint32_t)(tag >> 3);
	f->wire_type = (uint32_t)(tag & 7);
	if (f->wire_type == 0 || f->wire_type == 2) {
		if (!(n = wire_get_varint(buf + p, buf + end, &v)))
			return false;
		p += n;
	}
	f->start = p;
	f->value = v;
	switch (f->wire_type) {
	case 0: f->start -= n; break;
	case 1: p += 8; break;
	case 2: p += v; break;
	case 5: p += 4; break;
	default: return false;
	}
	if (p > end)
		return false;
	f->end = p;
	*pos = p;
	return true;
}

struct walker {
	struct ggpack_ctx *ctx;
	const char *path;
	const uint8_t *buf;
	struct wire_scan *scan;
};

static bool is_recorded(const ProtobufCMessageDescriptor *d)
{
	return d == &onnx__model_proto__descriptor || d == &onnx__graph_proto__descriptor ||
	       d == &onnx__node_proto__descriptor || d == &onnx__attribute_proto__descriptor ||
	       d == &onnx__tensor_proto__descriptor ||
	       d == &onnx__sparse_tensor_proto__descriptor ||
	       d == &onnx__training_info_proto__descriptor ||
	       d == &onnx__function_proto__descriptor;
}

static int walk_fail(struct walker *w, size_t off, const ProtobufCMessageDescriptor *d,
		     uint32_t field, const char *what)
{
	const ProtobufCFieldDescriptor *fd = field ? protobuf_c_message_descriptor_get_field(d, field) : NULL;
	char f[96] = "";
	if (field)
		snprintf(f, sizeof f, " field %u%s%s%s", field, fd ? " '" : "", fd ? fd->name : "",
			 fd ? "'" : "");
	return ctx_fail(w->ctx, GGPACK_E_INVALID,
			"%s: not a valid ONNX model: the protobuf wire format breaks at byte %zu "
			"(%s%s: %s)", w->path, off, d->short_name, f, what);
}

static uint32_t region_add(struct walker *w, size_t field_off, size_t len_off, size_t start,
			   size_t end, uint32_t parent, uint32_t field,
			   const ProtobufCMessageDescriptor *type)
{
	struct wire_scan *s = w->scan;
	if (grow_array(&s->regions, &s->cap_regions, s->n_regions, sizeof *s->regions))
		return NONE;
	uint32_t i = (uint32_t)s->n_regions++;
	struct wire_region *r = &s->regions[i];
	memset(r, 0, sizeof *r);
	*r = (struct wire_region){ .field_off = field_off, .len_off = len_off, .start = start,
				   .end = end, .parent = parent, .first_child = NONE,
				   .next_sibling = NONE, .field = field, .type = type };
	return i;
}

/* Natural wire type of a scalar protobuf-c type. */
static unsigned natural_wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

/* A packed repeated scalar: whole elements, every varint terminated. */
static const char *check_packed(ProtobufCType t, const uint8_t *p, const uint8_t *end)
{
	unsigned wt = natural_wire_type(t);
	size_t len = (size_t)(end - p);
	if (wt == 5)
		return len % 4 ? "packed 32-bit values do not fill the field" : NULL;
	if (wt == 1)
		return len % 8 ? "packed 64-bit values do not fill the field" : NULL;
	if (len && (end[-1] & 0x80))
		return "packed varints end inside a varint";
	return NULL;
}

static int walk_message(struct walker *w, size_t start, size_t end,
			const ProtobufCMessageDescriptor *d, uint32_t region, int depth);

/* A length-delimited field: recurse into messages, check packed scalars. */
static int walk_delimited(struct walker *w, size_t field_off, size_t len_off, size_t start,
			  size_t end, const ProtobufCMessageDescriptor *d,
			  const ProtobufCFieldDescriptor *fd, uint32_t region, int depth)
{
	if (!fd)
		return 0; /* unknown field: kept as bytes */
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessageDescriptor *sub = fd->descriptor;
		/* Only recorded messages nested in recorded ones get a region:
		 * an edit's enclosing lengths must all be known. */
		uint32_t child = NONE;
		if (region != NONE && is_recorded(sub)) {
			child = region_add(w, field_off, len_off, start, end, region, fd->id, sub);
			if (child == NONE)
				return ctx_fail(w->ctx, GGPACK_E_NOMEM, "%s: out of memory", w->path);
		}
		return walk_message(w, start, end, sub, child, depth + 1);
	}
	if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_BYTES)
		return 0;
	if (fd->label != PROTOBUF_C_LABEL_REPEATED)
		return walk_fail(w, field_off, d, fd->id, "a scalar field sent length-delimited");
	const char *bad = check_packed(fd->type, w->buf + start, w->buf + end);
	return bad ? walk_fail(w, field_off, d, fd->id, bad) : 0;
}

/* Facts the index needs from a TensorProto, and the duplicates it refuses:
 * protobuf merges a repeated singular message and keeps the last raw_data,
 * which would make the spans recorded here disagree with the unpacked tree. */
static int note_field(struct walker *w, uint32_t region, const ProtobufCMessageDescriptor *d,
		      const ProtobufCFieldDescriptor *fd, size_t field_off, size_t start,
		      size_t end, uint64_t varint, uint64_t *seen)
{
	if (region == NONE || !fd)
		return 0;
	struct wire_region *r = &w->scan->regions[region];
	if (fd->label != PROTOBUF_C_LABEL_REPEATED && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (fd->id < 64 && (*seen >> fd->id & 1))
			return walk_fail(w, field_off, d, fd->id, "a singular message field given twice");
		if (fd->id < 64)
			*seen |= 1ull << fd->id;
	}
	if (d != &onnx__tensor_proto__descriptor)
		return 0;
	if (fd->id == 9) {
		if (r->has_raw)
			return walk_fail(w, field_off, d, fd->id, "raw_data given twice");
		r->has_raw = true;
		r->raw_field_off = field_off;
		r->raw_start = start;
		r->raw_end = end;
	} else if (fd->id == 14) {
		r->data_location = (int64_t)varint;
	}
	return 0;
}

/* Reads the value of field f (its tag already read, at f->off) in
 * [p, end): fills f->start, f->end, f->value, and *len_off for a
 * length-delimited one. Reports where and how it breaks. */
static int walk_value(struct walker *w, size_t p, size_t end, const ProtobufCMessageDescriptor *d,
		      struct wire_field *f, size_t *len_off)
{
	const uint8_t *buf = w->buf;
	size_t n;
	uint64_t v = 0;
	f->start = p;
	switch (f->wire_type) {
	case 0:
		if (!(n = wire_get_varint(buf + p, buf + end, &v)))
			return walk_fail(w, p, d, f->number, "a varint is cut off or longer than 10 bytes");
		p += n;
		break;
	case 1: case 5:
		n = f->wire_type == 1 ? 8 : 4;
		if (end - p < n)
			return walk_fail(w, p, d, f->number, "a fixed-size value runs past the end of its message");
		p += n;
		break;
	case 2:
		*len_off = p;
		/* protobuf-c takes lengths of at most 5 bytes and 32 bits */
		if (!(n = wire_get_varint(buf + p, buf + end, &v)) || n > 5 || v > UINT32_MAX)
			return walk_fail(w, p, d, f->number, "a length is cut off or malformed");
		p += n;
		if (v > end - p)
			return walk_fail(w, f->off, d, f->number, "a length runs past the end of its message");
		f->start = p;
		p += v;
		break;
	default:
		return walk_fail(w, f->off, d, f->number, "an unsupported wire type (group or invalid)");
	}
	f->end = p;
	f->value = v;
	return 0;
}

static int walk_message(struct walker *w, size_t start, size_t end,
			const ProtobufCMessageDescriptor *d, uint32_t region, int depth)
{
	uint64_t seen = 0;
	if (depth > WIRE_MAX_DEPTH)
		return walk_fail(w, start, d, 0, "messages nested too deeply");
	for (size_t p = start; p < end;) {
		struct wire_field f = { .off = p };
		size_t n, len_off = 0;
		uint64_t tag;
		if (!(n = wire_get_varint(w->buf + p, w->buf + end, &tag)) || tag > UINT32_MAX)
			return walk_fail(w, p, d, 0, "a field tag is cut off or malformed");
		f.number = (uint32_t)(tag >> 3);
		f.wire_type = (uint32_t)(tag & 7);
		if (f.number == 0)
			return walk_fail(w, p, d, 0, "field number 0");
		int rc = walk_value(w, p + n, end, d, &f, &len_off);
		if (rc)
			return rc;
		p = f.end;
		const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, f.number);
		if (fd && f.wire_type != 2 && f.wire_type != natural_wire_type(fd->type))
			return walk_fail(w, f.off, d, f.number, "the wire type does not match the field's type");
		if (f.wire_type == 2 &&
		    (rc = walk_delimited(w, f.off, len_off, f.start, f.end, d, fd, region, depth)))
			return rc;
		if ((rc = note_field(w, region, d, fd, f.off, f.start, f.end, f.value, &seen)))
			return rc;
	}
	return 0;
}

/* first_child/next_sibling from the parent links; regions are in pre-order. */
static int link_children(struct wire_scan *s)
{
	uint32_t *last = calloc(s->n_regions, sizeof *last);
	if (!last)
		return GGPACK_E_NOMEM;
	for (size_t i = 1; i < s->n_regions; i++) {
		uint32_t par = s->regions[i].parent;
		if (s->regions[par].first_child == NONE)
			s->regions[par].first_child = (uint32_t)i;
		else
			s->regions[last[par]].next_sibling = (uint32_t)i;
		last[par] = (uint32_t)i;
	}
	free(last);
	return 0;
}

int wire_scan_model(struct ggpack_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
		    struct wire_scan *out)
{
	struct wire_scan scan = { 0 };
	struct walker w = { ctx, path, buf, &scan };
	uint32_t root = region_add(&w, 0, 0, 0, len, NONE, 0, &onnx__model_proto__descriptor);
	if (root == NONE)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	int rc = walk_message(&w, 0, len, &onnx__model_proto__descriptor, root, 0);
	if (!rc && link_children(&scan))
		rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	if (rc) {
		wire_scan_free(&scan);
		return rc;
	}
	*out = scan;
	return 0;
}

void wire_scan_free(struct wire_scan *scan)
{
	free(scan->regions);
	memset(scan, 0, sizeof *scan);
}
