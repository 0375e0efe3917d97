/*
 * model.c - loading a model: map the file, walk its wire format, unpack a
 * skeleton of it with protobuf-c, index it, resolve its external data; and
 * the accessors of the public API.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* What a file that is no protobuf model most likely is, for a message a
 * person can act on; NULL when it looks like binary data. */
static const char *guess_not_model(const uint8_t *p, size_t n)
{
	static const char lfs[] = "version https://git-lfs.github.com/spec/";
	size_t k = n < 4096 ? n : 4096, i = 0;
	if (n >= sizeof lfs - 1 && !memcmp(p, lfs, sizeof lfs - 1))
		return "is a Git LFS pointer, not the model itself (run `git lfs pull`)";
	for (i = 0; i < k; i++)
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			break;
	if (i < k)
		return NULL;
	for (i = 0; i < k && isspace(p[i]); i++)
		;
	if (i + 5 < k && p[i] == '<' && (!strncasecmp((const char *)p + i, "<!doctype", 9 < k - i ? 9 : k - i) ||
					  !strncasecmp((const char *)p + i, "<html", 5)))
		return "is an HTML page, not an ONNX model (a download that returned a web page?)";
	return "is a text file, not a binary ONNX model";
}

/* The skeleton: the file with every TensorProto.raw_data field removed, so
 * that protobuf-c's unpacker (which copies every bytes field) never copies
 * weights; the index points into the mapped file for them instead. */
static int make_skeleton(struct ggpack_ctx *ctx, struct ggpack_model *m, struct splice_sink *sink)
{
	const struct wire_scan *s = &m->scan;
	size_t n = 0;
	for (size_t r = 0; r < s->n_regions; r++)
		n += s->regions[r].has_raw;
	struct splice_edit *edits = calloc(n ? n : 1, sizeof *edits);
	if (!edits)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	n = 0;
	for (size_t r = 0; r < s->n_regions; r++)
		if (s->regions[r].has_raw)
			edits[n++] = (struct splice_edit){ (uint32_t)r, s->regions[r].raw_field_off,
							   s->regions[r].raw_end, NULL, 0 };
	splice_sink_init_mem(sink);
	sink->release_orig = !m->borrowed;
	int rc = splice_write(s, m->file.data, m->file.size, edits, n, sink);
	free(edits);
	return rc ? ctx_fail(ctx, rc, "%s: cannot build the skeleton: %s", m->path, ggpack_strerror(rc)) : 0;
}

static int parse(struct ggpack_ctx *ctx, struct ggpack_model *m)
{
	const char *guess = guess_not_model(m->file.data, m->file.size);
	int rc = wire_scan_model(ctx, m->path, m->file.data, m->file.size, &m->scan);
	if (rc == GGPACK_E_INVALID && guess)
		return ctx_fail(ctx, rc, "%s: %s", m->path, guess);
	if (rc)
		return rc;
	struct splice_sink sink;
	if ((rc = make_skeleton(ctx, m, &sink)))
		return rc;
	m->skeleton = sink.buf;
	m->proto = (Onnx__ModelProto *)protobuf_c_message_unpack(&onnx__model_proto__descriptor, NULL,
								   sink.len, sink.buf);
	if (!m->proto)
		return ctx_fail(ctx, GGPACK_E_INVALID, "%s: not a valid ONNX model: protobuf-c cannot unpack it",
				m->path);
	if (!m->proto->graph)
		return ctx_fail(ctx, GGPACK_E_INVALID, "%s: %s", m->path,
				guess ? guess : "a valid protobuf message, but not an ONNX model: it has no graph");
	/* Both are required by every IR version; a file cut between two
	 * top-level fields can parse without them. */
	if (!m->proto->has_ir_version)
		return ctx_fail(ctx, GGPACK_E_INVALID, "%s: not a valid ONNX model: no ir_version (truncated?)",
				m->path);
	if (!m->proto->n_opset_import && m->proto->ir_version >= 3)
		return ctx_fail(ctx, GGPACK_E_INVALID, "%s: not a valid ONNX model: no opset_import (truncated?)",
				m->path);
	return 0;
}

/* Loads from the bytes in m->file (mapped, or borrowed by model_load_buffer). */
static int load(struct ggpack_ctx *ctx, struct ggpack_model *m, struct ggpack_model **out)
{
	int rc = 0;
	if (!m->file.size)
		rc = ctx_fail(ctx, GGPACK_E_INVALID, "%s: empty file, not an ONNX model", m->path);
	if (!rc)
		rc = parse(ctx, m);
	if (!rc)
		rc = index_build(ctx, m);
	if (!rc)
		rc = external_resolve(ctx, m);
	if (rc) {
		ggpack_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static struct ggpack_model *model_new(struct ggpack_ctx *ctx, const char *path)
{
	struct ggpack_model *m = calloc(1, sizeof *m);
	if (ctx)
		ctx->message[0] = 0;
	if (!m || !(m->path = strdup(path))) {
		free(m);
		ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
		return NULL;
	}
	return m;
}

int ggpack_model_load(struct ggpack_ctx *ctx, const char *path, struct ggpack_model **out)
{
	struct ggpack_model *m = model_new(ctx, path);
	if (!m)
		return GGPACK_E_NOMEM;
	int rc = mapped_open(ctx, path, &m->file);
	if (rc) {
		ggpack_model_free(m);
		return rc;
	}
	return load(ctx, m, out);
}

int model_load_buffer(struct ggpack_ctx *ctx, const char *path, const uint8_t *data, size_t size,
		      struct ggpack_model **out)
{
	struct ggpack_model *m = model_new(ctx, path);
	if (!m)
		return GGPACK_E_NOMEM;
	m->file = (struct mapped_file){ .data = data, .size = size };
	m->borrowed = true;
	return load(ctx, m, out);
}

void ggpack_model_free(struct ggpack_model *m)
{
	if (!m)
		return;
	external_free(m);
	index_free(m);
	if (m->proto)
		protobuf_c_message_free_unpacked(&m->proto->base, NULL);
	free(m->skeleton);
	wire_scan_free(&m->scan);
	if (!m->borrowed)
		mapped_close(&m->file);
	free(m->path);
	free(m);
}

void ggpack_model_get_info(const struct ggpack_model *m, struct ggpack_model_info *out)
{
	const Onnx__ModelProto *p = m->proto;
	memset(out, 0, sizeof *out);
	out->path = m->path;
	out->file_bytes = m->file.size;
	out->ir_version = p->has_ir_version ? p->ir_version : 0;
	out->producer_name = str_or_empty(p->producer_name);
	out->producer_version = str_or_empty(p->producer_version);
	out->domain = str_or_empty(p->domain);
	out->model_version = p->has_model_version ? p->model_version : 0;
	out->n_opsets = p->n_opset_import;
	out->n_graphs = m->n_graphs;
	out->n_nodes = m->n_nodes;
	out->n_tensors = m->n_tensors;
	out->n_metadata = p->n_metadata_props;
	out->has_external_data = m->n_ext > 0;
}

int ggpack_model_opset(const struct ggpack_model *m, size_t i, const char **domain, int64_t *version)
{
	if (i >= m->proto->n_opset_import)
		return GGPACK_E_USAGE;
	*domain = str_or_empty(m->proto->opset_import[i]->domain);
	*version = m->proto->opset_import[i]->version;
	return 0;
}

int ggpack_model_metadata(const struct ggpack_model *m, size_t i, const char **key, const char **value)
{
	if (i >= m->proto->n_metadata_props)
		return GGPACK_E_USAGE;
	*key = str_or_empty(m->proto->metadata_props[i]->key);
	*value = str_or_empty(m->proto->metadata_props[i]->value);
	return 0;
}

int ggpack_tensor_get_info(const struct ggpack_model *m, size_t i, struct ggpack_tensor_info *out)
{
	if (i >= m->n_tensors)
		return GGPACK_E_USAGE;
	const struct index_tensor *t = &m->tensors[i];
	*out = (struct ggpack_tensor_info){
		.name = t->name, .where = m->graphs[t->graph].path, .kind = t->kind,
		.node = t->node ? str_or_empty(t->node->name) : NULL, .dtype = t->proto->data_type,
		.ndims = t->proto->n_dims, .dims = t->proto->dims, .params = t->params,
		.bytes = t->bytes, .storage = t->storage,
		.typed_field = t->storage == GGPACK_STORAGE_TYPED ? tensor_typed_field_name(t->proto->data_type) : NULL,
		.external_location = t->storage == GGPACK_STORAGE_EXTERNAL ? m->ext[t->ext_file].location : NULL,
		.external_offset = t->ext_offset, .n_consumers = t->n_consumers,
		.is_graph_input = t->is_graph_input,
	};
	return 0;
}

int ggpack_tensor_get_consumer(const struct ggpack_model *m, size_t i, size_t j,
			       struct ggpack_consumer *out)
{
	if (i >= m->n_tensors || j >= m->tensors[i].n_consumers)
		return GGPACK_E_USAGE;
	const struct index_consumer *c = &m->tensors[i].consumers[j];
	*out = (struct ggpack_consumer){ str_or_empty(c->node->name), str_or_empty(c->node->op_type),
					 str_or_empty(c->node->domain), m->graphs[c->graph].path, c->input };
	return 0;
}

bool model_tensor_mapped(const struct ggpack_model *m, const struct index_tensor *t)
{
	return t->storage == GGPACK_STORAGE_EXTERNAL || (t->storage == GGPACK_STORAGE_RAW && !m->borrowed);
}

void model_release_range(const struct ggpack_model *m, const struct index_tensor *t, size_t from, size_t n)
{
	size_t width = t->params ? t->bytes / t->params : 0;
	if (model_tensor_mapped(m, t) && t->data && width)
		mapped_release(t->data + from * width, n * width);
}

void model_release_tensor(const struct ggpack_model *m, const struct index_tensor *t)
{
	model_release_range(m, t, 0, t->params);
}

void model_release_file(const struct ggpack_model *m, const void *p, size_t len)
{
	if (!m->borrowed)
		mapped_release(p, len);
}
