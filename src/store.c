/*
 * store.c - what writing a conversion changes in the model: each selected
 * tensor's new contents; for the lut store (RF8.md) the weight renamed to
 * uint8 codes and three nodes inserted, Constant(table), Cast(to=INT32) and
 * Gather(axis=0), that give the weight's name back, so nothing downstream
 * changes; graph inputs retyped where IR < 4 lists initializers as inputs;
 * and the ggpack metadata. Every insert is packed by protobuf-c; the rest
 * of the file is copied by splice.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define MIN_LUT_OPSET 6          /* Cast's `to` is an int from opset 6 */
#define MIN_LUT_OPSET_BF16 13    /* Cast and Gather take bfloat16 from opset 13 */
#define LUT_NODES_BYTES 128      /* about what the three nodes add, names aside */

/* An owned buffer written as one piece of an edit. */
struct blob {
	struct blob *next;
	struct splice_piece piece;
	uint8_t data[];
};

struct store {
	struct save_change *changes;
	struct splice_edit *edits;
	size_t n_edits, cap_edits;
	struct blob *blobs;
	char **names;                /* generated names */
	size_t n_names, cap_names;
	struct strmap used;          /* every name of the model and the generated ones */
};

void store_free(struct store *s)
{
	if (!s)
		return;
	for (struct blob *b = s->blobs, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	for (size_t i = 0; i < s->n_names; i++)
		free(s->names[i]);
	free(s->names);
	free(s->changes);
	free(s->edits);
	strmap_free(&s->used);
	free(s);
}

static int64_t onnx_opset(const struct ggpack_model *m)
{
	for (size_t i = 0; i < m->proto->n_opset_import; i++) {
		const char *d = str_or_empty(m->proto->opset_import[i]->domain);
		if (!*d || !strcmp(d, "ai.onnx"))
			return m->proto->opset_import[i]->version;
	}
	return 0;
}

const char *store_lut_unavailable(const struct ggpack_model *m, int dtype, uint64_t n)
{
	int64_t v = onnx_opset(m);
	size_t width = conv_dtype_size(dtype);
	if (n + 256 * width + LUT_NODES_BYTES >= n * width)
		return "float store: smaller than codes + table for so few params";
	if (v < MIN_LUT_OPSET)
		return "float store: the lut's Cast needs opset >= 6";
	if (dtype == GGPACK_DTYPE_BFLOAT16 && v < MIN_LUT_OPSET_BF16)
		return "float store: bfloat16 Gather needs opset >= 13";
	return NULL;
}

/* ---- pieces ----------------------------------------------------------- */

static int edit_add(struct store *s, uint32_t region, size_t begin, size_t end, struct blob *b)
{
	if (grow_array(&s->edits, &s->cap_edits, s->n_edits, sizeof *s->edits))
		return GGPACK_E_NOMEM;
	s->edits[s->n_edits++] = (struct splice_edit){ region, begin, end, b ? &b->piece : NULL, b ? 1 : 0 };
	return 0;
}

/* A blob of `len` payload bytes as field `field` of its parent: tag and
 * length written, the payload left to fill at *payload. */
static struct blob *field_blob(struct store *s, uint32_t field, size_t len, uint8_t **payload)
{
	struct blob *b = malloc(sizeof *b + len + 20);
	if (!b)
		return NULL;
	size_t hl = wire_put_varint(b->data, (uint64_t)field << 3 | 2);
	hl += wire_put_varint(b->data + hl, len);
	*payload = b->data + hl;
	b->piece = (struct splice_piece){ b->data, hl + len, false };
	b->next = s->blobs;
	s->blobs = b;
	return b;
}

/* Message msg as field `field`. */
static struct blob *pack_field(struct store *s, uint32_t field, const ProtobufCMessage *msg)
{
	uint8_t *p;
	struct blob *b = field_blob(s, field, protobuf_c_message_get_packed_size(msg), &p);
	if (b)
		protobuf_c_message_pack(msg, p);
	return b;
}

/* A string as field `field`. */
static struct blob *string_field(struct store *s, uint32_t field, const char *str)
{
	uint8_t *p;
	struct blob *b = field_blob(s, field, strlen(str), &p);
	if (b)
		memcpy(p, str, strlen(str));
	return b;
}

/* Blobs written one after another at one place: joined into one. */
static struct blob *join(struct store *s, struct blob *const *parts, size_t n)
{
	size_t len = 0;
	for (size_t k = 0; k < n; k++)
		if (!parts[k])
			return NULL;
		else
			len += parts[k]->piece.len;
	struct blob *b = malloc(sizeof *b + len);
	if (!b)
		return NULL;
	len = 0;
	for (size_t k = 0; k < n; k++) {
		memcpy(b->data + len, parts[k]->piece.data, parts[k]->piece.len);
		len += parts[k]->piece.len;
	}
	b->piece = (struct splice_piece){ b->data, len, false };
	b->next = s->blobs;
	s->blobs = b;
	return b;
}

/* ---- names ------------------------------------------------------------ */

static int names_collect(struct store *s, const struct ggpack_model *m)
{
	for (size_t g = 0; g < m->n_graphs; g++) {
		const struct strmap *d = &m->graphs[g].defined;
		for (size_t k = 0; k < d->cap; k++)
			if (d->slots[k].key && strmap_put(&s->used, d->slots[k].key, 0))
				return GGPACK_E_NOMEM;
	}
	return 0;
}

/* base + suffix, or with ".1", ".2"... when a name of the model has it. */
static const char *unique_name(struct store *s, const char *base, const char *suffix)
{
	size_t len = strlen(base) + strlen(suffix) + 24;
	char *name = malloc(len);
	if (!name || grow_array(&s->names, &s->cap_names, s->n_names, sizeof *s->names)) {
		free(name);
		return NULL;
	}
	snprintf(name, len, "%s%s", base, suffix);
	for (unsigned k = 1; strmap_get(&s->used, name) != NONE; k++)
		snprintf(name, len, "%s%s.%u", base, suffix, k);
	s->names[s->n_names++] = name;
	return strmap_put(&s->used, name, 0) ? NULL : name;
}

/* ---- the lut nodes ------------------------------------------------------ */

struct lut_names {
	const char *weight, *codes, *index, *table;
};

/* One table per (E, dtype), shared by every tensor that has them. */
struct lut_table {
	int E, dtype;
	const char *name;
};

static struct blob *node_blob(struct store *s, const char *op, const char *name, char **in, size_t n_in,
			      const char *out, Onnx__AttributeProto *attr)
{
	Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
	char *outs[1] = { (char *)(uintptr_t)out };
	Onnx__AttributeProto *attrs[1] = { attr };
	node.op_type = (char *)(uintptr_t)op;
	node.name = (char *)(uintptr_t)name;
	node.n_input = n_in, node.input = in;
	node.n_output = 1, node.output = outs;
	node.n_attribute = 1, node.attribute = attrs;
	return pack_field(s, 1, &node.base);
}

/* Constant(value = the 256 decoded values) -> name. */
static struct blob *table_node(struct store *s, const struct conv_tensor *ct, int dtype, const char *name)
{
	int64_t dim = 256;
	Onnx__TensorProto table = ONNX__TENSOR_PROTO__INIT;
	table.n_dims = 1, table.dims = &dim;
	table.has_data_type = 1, table.data_type = dtype;
	table.name = (char *)(uintptr_t)name;
	table.has_raw_data = 1;
	table.raw_data = (ProtobufCBinaryData){ 256 * conv_dtype_size(dtype), (uint8_t *)(uintptr_t)ct->table };
	Onnx__AttributeProto value = ONNX__ATTRIBUTE_PROTO__INIT;
	value.name = "value", value.has_type = 1, value.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
	value.t = &table;
	return node_blob(s, "Constant", name, NULL, 0, name, &value);
}

/* Cast(codes, to=INT32) -> index; Gather(table, index, axis=0) -> the
 * weight's name. */
static struct blob *lut_nodes(struct store *s, const struct lut_names *n)
{
	Onnx__AttributeProto to = ONNX__ATTRIBUTE_PROTO__INIT, axis = ONNX__ATTRIBUTE_PROTO__INIT;
	to.name = "to", to.has_type = 1, to.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	to.has_i = 1, to.i = GGPACK_DTYPE_INT32;
	axis.name = "axis", axis.has_type = 1, axis.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	axis.has_i = 1, axis.i = 0;
	char *cast_in[1] = { (char *)(uintptr_t)n->codes };
	char *gather_in[2] = { (char *)(uintptr_t)n->table, (char *)(uintptr_t)n->index };
	struct blob *parts[2] = {
		node_blob(s, "Cast", n->index, cast_in, 1, n->index, &to),
		node_blob(s, "Gather", n->weight, gather_in, 2, n->weight, &axis),
	};
	return join(s, parts, 2);
}

/* The offset of the first field `field` in region r's payload, or its end. */
static size_t first_field(const struct ggpack_model *m, uint32_t r, uint32_t field, size_t *end)
{
	const struct wire_region *g = &m->scan.regions[r];
	struct wire_field f;
	size_t pos = g->start;
	while (pos < g->end && wire_next_field(m->file.data, &pos, g->end, &f))
		if (f.number == field) {
			*end = f.end;
			return f.off;
		}
	*end = g->end;
	return g->end;
}

/* The graph input field (11) named name in graph region r, or SIZE_MAX. */
static size_t input_field(const struct ggpack_model *m, uint32_t r, const char *name, size_t *end)
{
	const struct wire_region *g = &m->scan.regions[r];
	struct wire_field f, k;
	size_t pos = g->start, len = strlen(name);
	while (pos < g->end && wire_next_field(m->file.data, &pos, g->end, &f)) {
		size_t q = f.start;
		if (f.number != 11 || f.wire_type != 2)
			continue;
		while (q < f.end && wire_next_field(m->file.data, &q, f.end, &k))
			if (k.number == 1 && k.wire_type == 2 && k.end - k.start == len &&
			    !memcmp(m->file.data + k.start, name, len)) {
				*end = f.end;
				return f.off;
			}
	}
	return SIZE_MAX;
}

/* IR < 4 lists every initializer as a graph input: the input becomes the
 * codes, uint8 of the weight's shape. */
static int retype_input(struct store *s, const struct ggpack_model *m, const struct index_tensor *t,
			const char *codes)
{
	uint32_t r = m->graphs[t->graph].region;
	size_t end, off = input_field(m, r, t->name, &end);
	if (off == SIZE_MAX)
		return 0;
	size_t nd = t->proto->n_dims;
	Onnx__TensorShapeProto__Dimension *dims = calloc(nd + 1, sizeof *dims);
	Onnx__TensorShapeProto__Dimension **dp = calloc(nd + 1, sizeof *dp);
	for (size_t d = 0; dims && dp && d < nd; d++) {
		dims[d] = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
		dims[d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		dims[d].dim_value = t->proto->dims[d];
		dp[d] = &dims[d];
	}
	Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
	shape.n_dim = t->proto->n_dims, shape.dim = dp;
	Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
	tt.has_elem_type = 1, tt.elem_type = GGPACK_DTYPE_UINT8, tt.shape = &shape;
	Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
	type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, type.tensor_type = &tt;
	Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT;
	vi.name = (char *)(uintptr_t)codes, vi.type = &type;
	struct blob *b = dims && dp ? pack_field(s, 11, &vi.base) : NULL;
	free(dims);
	free(dp);
	return b ? edit_add(s, r, off, end, b) : GGPACK_E_NOMEM;
}

/* The lut store of tensor i: new names, the codes under the codes name
 * (an initializer) or a Constant whose output is renamed, and the nodes. */
static int plan_lut(struct store *s, const struct ggpack_conversion *c, size_t i, const char *table)
{
	const struct ggpack_model *m = c->m;
	const struct index_tensor *t = &m->tensors[i];
	struct lut_names n = { t->name, unique_name(s, t->name, ".rf8.codes"),
			       unique_name(s, t->name, ".rf8.index"), table };
	struct blob *nodes = n.codes && n.index ? lut_nodes(s, &n) : NULL;
	if (!nodes)
		return GGPACK_E_NOMEM;
	s->changes[i].dtype = GGPACK_DTYPE_UINT8;
	size_t end;
	if (t->kind == GGPACK_TENSOR_INITIALIZER) {
		s->changes[i].name = n.codes;
		uint32_t r = m->graphs[t->graph].region;
		size_t at = first_field(m, r, 1, &end); /* before every node: a topological place */
		int rc = t->is_graph_input ? retype_input(s, m, t, n.codes) : 0;
		return rc ? rc : edit_add(s, r, at, at, nodes);
	}
	/* a Constant's value: the tensor's region sits in an attribute of the node */
	uint32_t node = m->scan.regions[m->scan.regions[t->region].parent].parent;
	uint32_t graph = m->scan.regions[node].parent;
	size_t off = first_field(m, node, 2, &end), after = m->scan.regions[node].end;
	struct blob *out = string_field(s, 2, n.codes);
	if (!out || off == m->scan.regions[node].end)
		return GGPACK_E_NOMEM;
	int rc = edit_add(s, node, off, end, out);
	return rc ? rc : edit_add(s, graph, after, after, nodes);
}

/* The shared tables, as Constants before every node of the main graph
 * (visible in every subgraph); table_of[i] names tensor i's table. */
static int plan_tables(struct store *s, const struct ggpack_conversion *c, const char **table_of)
{
	const struct ggpack_model *m = c->m;
	struct lut_table *tables = NULL;
	struct blob **parts = NULL;
	size_t n = 0, cap = 0, cap_parts = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		int dtype = m->tensors[i].proto->data_type;
		size_t k = 0;
		if (!conv_lut(&c->t[i]))
			continue;
		while (k < n && !(tables[k].E == c->t[i].E && tables[k].dtype == dtype))
			k++;
		if (k == n) {
			char suffix[48];
			snprintf(suffix, sizeof suffix, ".%s.E%d", ggpack_dtype_name(dtype), c->t[i].E);
			if (grow_array(&parts, &cap_parts, n, sizeof *parts) ||
			    grow_array(&tables, &cap, n, sizeof *tables) ||
			    !(tables[n].name = unique_name(s, "ggpack.rf8.table", suffix))) {
				rc = GGPACK_E_NOMEM;
				break;
			}
			tables[n] = (struct lut_table){ c->t[i].E, dtype, tables[n].name };
			parts[n++] = table_node(s, &c->t[i], dtype, tables[k].name);
		}
		table_of[i] = tables[k].name;
	}
	free(tables);
	size_t end, at = first_field(m, m->graphs[0].region, 1, &end);
	struct blob *b = rc || !n ? NULL : join(s, parts, n);
	free(parts);
	if (rc || !n)
		return rc;
	return b ? edit_add(s, m->graphs[0].region, at, at, b) : GGPACK_E_NOMEM;
}

/* ---- metadata ----------------------------------------------------------- */

/* A metadata entry of ours, from an earlier conversion (--force). */
static bool is_ggpack_entry(const struct ggpack_model *m, const struct wire_field *f)
{
	struct wire_field k;
	size_t q = f->start;
	while (q < f->end && wire_next_field(m->file.data, &q, f->end, &k))
		if (k.number == 1 && k.wire_type == 2)
			return k.end - k.start > 7 && !memcmp(m->file.data + k.start, "ggpack.", 7);
	return false;
}

static struct blob *entry_blob(struct store *s, const char *key, const char *value)
{
	Onnx__StringStringEntryProto e = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
	e.key = (char *)(uintptr_t)key, e.value = (char *)(uintptr_t)value;
	return pack_field(s, 14, &e.base);
}

/* The names of the tensors changed, as a JSON array (tune reads it). */
static char *converted_json(const struct ggpack_conversion *c)
{
	size_t len = 3;
	for (size_t i = 0; i < c->m->n_tensors; i++)
		len += conv_written(&c->t[i]) ? 2 * strlen(c->m->tensors[i].name) + 3 : 0;
	char *out = malloc(len), *p = out;
	if (!out)
		return NULL;
	*p++ = '[';
	for (size_t i = 0; i < c->m->n_tensors; i++) {
		if (!conv_written(&c->t[i]))
			continue;
		if (p > out + 1)
			*p++ = ',';
		*p++ = '"';
		for (const char *q = c->m->tensors[i].name; *q; q++) {
			if (*q == '"' || *q == '\\')
				*p++ = '\\';
			*p++ = (unsigned char)*q < 0x20 ? '?' : *q;
		}
		*p++ = '"';
	}
	*p++ = ']';
	*p = 0;
	return out;
}

static int plan_metadata(struct store *s, const struct ggpack_conversion *c)
{
	const struct ggpack_model *m = c->m;
	const struct wire_region *root = &m->scan.regions[0];
	struct wire_field f;
	size_t pos = root->start;
	int rc = 0;
	while (!rc && pos < root->end && wire_next_field(m->file.data, &pos, root->end, &f))
		if (f.number == 14 && f.wire_type == 2 && is_ggpack_entry(m, &f))
			rc = edit_add(s, 0, f.off, f.end, NULL);
	if (c->init_options) { /* a fresh start for training, not a conversion */
		struct blob *b = entry_blob(s, "ggpack.init", c->init_options);
		return rc ? rc : b ? edit_add(s, 0, root->end, root->end, b) : GGPACK_E_NOMEM;
	}
	char *options = conv_options_json(&c->o), *converted = converted_json(c);
	struct blob *parts[3] = { entry_blob(s, "ggpack.version", GGPACK_VERSION),
				  options ? entry_blob(s, "ggpack.options", options) : NULL,
				  converted ? entry_blob(s, "ggpack.converted", converted) : NULL };
	struct blob *b = join(s, parts, 3);
	free(options);
	free(converted);
	if (!rc && !b)
		rc = GGPACK_E_NOMEM;
	return rc ? rc : edit_add(s, 0, root->end, root->end, b);
}

int store_make(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, struct store **out,
	       struct save_changes *ch)
{
	const struct ggpack_model *m = c->m;
	struct store *s = calloc(1, sizeof *s);
	int rc = s && (s->changes = calloc(m->n_tensors + 1, sizeof *s->changes)) ? names_collect(s, m)
										 : GGPACK_E_NOMEM;
	const char **table_of = rc ? NULL : calloc(m->n_tensors + 1, sizeof *table_of);
	if (!rc)
		rc = table_of ? plan_tables(s, c, table_of) : GGPACK_E_NOMEM;
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		if (!conv_written(&c->t[i]))
			continue;
		s->changes[i] = (struct save_change){ c->t[i].data, c->t[i].data_bytes, 0, NULL, c->t[i].spilled };
		if (conv_lut(&c->t[i]))
			rc = plan_lut(s, c, i, table_of[i]);
	}
	free(table_of);
	if (!rc)
		rc = plan_metadata(s, c);
	if (rc) {
		store_free(s);
		return ctx_fail(ctx, rc, "%s: out of memory", m->path);
	}
	*ch = (struct save_changes){ s->changes, s->edits, s->n_edits };
	*out = s;
	return 0;
}

int ggpack_conversion_save(struct ggpack_ctx *ctx, struct ggpack_conversion *c, const char *path,
			   const struct ggpack_save_options *options)
{
	struct store *s;
	struct save_changes ch;
	if (c->o.discard_data)
		return ctx_fail(ctx, GGPACK_E_USAGE, "%s: this conversion kept no contents (discard_data)", path);
	struct save_taps taps;
	struct output_digest *d = output_digest_new(c->o.zstd_level, &taps);
	int rc = d ? store_make(ctx, c, &s, &ch) : ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	if (rc) {
		output_digest_free(d);
		return rc;
	}
	rc = save_model(ctx, c->m, path, options, &ch, &taps);
	store_free(s);
	free(c->out_path);
	c->out_path = NULL;
	if (rc) {
		output_digest_free(d);
		return rc;
	}
	output_digest_finish(d, &c->out);
	if (!(c->out_path = strdup(path)))
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	return 0;
}
