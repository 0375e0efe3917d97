/*
 * index.c - the structure of a loaded model: its graphs (the main graph and
 * every If/Loop/Scan body at any depth), its tensors (initializers, Constant
 * values, tensor attributes), and which node inputs consume each tensor,
 * resolving names through enclosing scopes the way ONNX does. Node order is
 * never assumed topological.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct builder {
	struct ggpack_ctx *ctx;
	struct ggpack_model *m;
};

static int nomem(struct builder *b)
{
	return ctx_fail(b->ctx, GGPACK_E_NOMEM, "%s: out of memory", b->m->path);
}

/* The skeleton was unpacked from the same bytes the regions describe, so
 * the n-th region of a field is the n-th element of that field. */
static int mismatch(struct builder *b, const char *what)
{
	return ctx_fail(b->ctx, GGPACK_E_INTERNAL, "%s: %s of the unpacked model and the scan disagree",
			b->m->path, what);
}

static uint64_t tensor_count_typed(const Onnx__TensorProto *t)
{
	switch (t->data_type) {
	case 1: case 14: return t->n_float_data;
	case 7: return t->n_int64_data;
	case 8: return t->n_string_data;
	case 11: case 15: return t->n_double_data;
	case 12: case 13: return t->n_uint64_data;
	default: return t->n_int32_data;
	}
}

/* Elements the typed field must hold for n elements of dtype. */
static uint64_t typed_needed(int32_t dtype, uint64_t n)
{
	if (dtype == 14 || dtype == 15)
		return 2 * n; /* complex: real and imaginary parts */
	if (tensor_dtype_bits(dtype) == 4)
		return (n + 1) / 2; /* two 4-bit elements per int32 */
	return n;
}

__attribute__((format(printf, 3, 4)))
static int tensor_fail(struct builder *b, const struct index_tensor *t, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return ctx_fail(b->ctx, GGPACK_E_INVALID, "%s: tensor '%s' (in %s): %s", b->m->path, t->name,
			b->m->graphs[t->graph].path, what);
}

/* Size and storage of a tensor, and the checks that make its data safe to
 * read: a known type, dims whose product fits, data of the size dims need. */
static int tensor_check(struct builder *b, struct index_tensor *t)
{
	const Onnx__TensorProto *p = t->proto;
	const struct wire_region *r = &b->m->scan.regions[t->region];
	int bits = tensor_dtype_bits(p->data_type);
	if (bits < 0)
		return tensor_fail(b, t, "unknown data_type %d", (int)p->data_type);
	uint64_t n = 1;
	for (size_t i = 0; i < p->n_dims; i++) {
		if (p->dims[i] < 0)
			return tensor_fail(b, t, "negative dimension %lld at axis %zu", (long long)p->dims[i], i);
		if (__builtin_mul_overflow(n, (uint64_t)p->dims[i], &n) || n > (UINT64_MAX >> 8))
			return tensor_fail(b, t, "the product of its dims overflows");
	}
	t->params = n;
	t->bytes = (n * (uint64_t)bits + 7) / 8;
	uint64_t typed = tensor_count_typed(p);
	if (p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
		if (r->has_raw || typed)
			return tensor_fail(b, t, "external data and inline data at once");
		t->storage = GGPACK_STORAGE_EXTERNAL; /* checked by external_resolve() */
	} else if (r->has_raw) {
		t->storage = GGPACK_STORAGE_RAW;
		t->data = b->m->file.data + r->raw_start;
		if (bits && r->raw_end - r->raw_start != t->bytes)
			return tensor_fail(b, t, "raw_data holds %llu bytes, its dims need %llu",
					   (unsigned long long)(r->raw_end - r->raw_start),
					   (unsigned long long)t->bytes);
	} else if (typed) {
		t->storage = GGPACK_STORAGE_TYPED;
		if (typed != typed_needed(p->data_type, n))
			return tensor_fail(b, t, "its typed field holds %llu values, its dims need %llu",
					   (unsigned long long)typed,
					   (unsigned long long)typed_needed(p->data_type, n));
	} else if (n) {
		return tensor_fail(b, t, "%llu elements but no data", (unsigned long long)n);
	}
	return 0;
}

static int tensor_add(struct builder *b, uint32_t region, const Onnx__TensorProto *p,
		      uint32_t graph, enum ggpack_tensor_kind kind, const Onnx__NodeProto *node)
{
	struct ggpack_model *m = b->m;
	if (!p || grow_array(&m->tensors, &m->cap_tensors, m->n_tensors, sizeof *m->tensors))
		return p ? nomem(b) : mismatch(b, "a tensor");
	struct index_tensor *t = &m->tensors[m->n_tensors];
	memset(t, 0, sizeof *t);
	t->proto = p;
	t->region = region;
	t->graph = graph;
	t->kind = kind;
	t->node = node;
	t->name = kind == GGPACK_TENSOR_CONSTANT && node->n_output ? node->output[0] : str_or_empty(p->name);
	int rc = tensor_check(b, t);
	if (rc)
		return rc;
	m->region_tensor[region] = (uint32_t)m->n_tensors++;
	return 0;
}

static int graph_build(struct builder *b, uint32_t region, const Onnx__GraphProto *gp,
		       uint32_t parent, const char *path);

static bool is_constant_value(const Onnx__NodeProto *n, const Onnx__AttributeProto *a)
{
	const char *domain = str_or_empty(n->domain);
	return !strcmp(str_or_empty(n->op_type), "Constant") && (!*domain || !strcmp(domain, "ai.onnx")) &&
	       !strcmp(str_or_empty(a->name), "value");
}

static char *subgraph_path(const char *parent, const Onnx__NodeProto *n,
			   const Onnx__AttributeProto *a, long index)
{
	const char *node = str_or_empty(n->name), *attr = str_or_empty(a->name);
	size_t len = strlen(parent) + strlen(node) + strlen(attr) + 32;
	char *s = malloc(len);
	if (!s)
		return NULL;
	if (index < 0)
		snprintf(s, len, "%s/%s:%s", parent, node, attr);
	else
		snprintf(s, len, "%s/%s:%s[%ld]", parent, node, attr, index);
	return s;
}

static int attribute_build(struct builder *b, uint32_t region, const Onnx__NodeProto *n,
			   const Onnx__AttributeProto *a, uint32_t graph)
{
	const struct wire_scan *s = &b->m->scan;
	size_t n_tensors = 0, n_graphs = 0;
	for (uint32_t c = s->regions[region].first_child; c != NONE; c = s->regions[c].next_sibling) {
		int rc = 0;
		uint32_t f = s->regions[c].field;
		if (f == 5) {
			rc = tensor_add(b, c, a->t, graph, is_constant_value(n, a) ? GGPACK_TENSOR_CONSTANT
										  : GGPACK_TENSOR_ATTRIBUTE, n);
		} else if (f == 10) {
			if (n_tensors >= a->n_tensors)
				return mismatch(b, "attribute tensors");
			rc = tensor_add(b, c, a->tensors[n_tensors++], graph, GGPACK_TENSOR_ATTRIBUTE, n);
		} else if (f == 6 || f == 11) {
			if (f == 11 && n_graphs >= a->n_graphs)
				return mismatch(b, "attribute graphs");
			const Onnx__GraphProto *g = f == 6 ? a->g : a->graphs[n_graphs];
			char *path = subgraph_path(b->m->graphs[graph].path, n, a, f == 6 ? -1 : (long)n_graphs++);
			if (!path)
				return nomem(b);
			rc = g ? graph_build(b, c, g, graph, path) : mismatch(b, "a subgraph");
			free(path);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int node_build(struct builder *b, uint32_t region, const Onnx__NodeProto *n, uint32_t graph)
{
	const struct wire_scan *s = &b->m->scan;
	size_t k = 0;
	b->m->n_nodes++;
	for (uint32_t c = s->regions[region].first_child; c != NONE; c = s->regions[c].next_sibling) {
		if (s->regions[c].field != 5)
			continue;
		if (k >= n->n_attribute)
			return mismatch(b, "node attributes");
		int rc = attribute_build(b, c, n, n->attribute[k++], graph);
		if (rc)
			return rc;
	}
	return k == n->n_attribute ? 0 : mismatch(b, "node attributes");
}

static int graph_names(struct builder *b, struct index_graph *g)
{
	const Onnx__GraphProto *gp = g->proto;
	/* value 2 marks a graph input: they are registered first */
	for (size_t i = 0; i < gp->n_input; i++)
		if (strmap_put(&g->defined, str_or_empty(gp->input[i]->name), 2))
			return nomem(b);
	for (size_t i = 0; i < gp->n_node; i++)
		for (size_t j = 0; j < gp->node[i]->n_output; j++)
			if (*gp->node[i]->output[j] && strmap_put(&g->defined, gp->node[i]->output[j], 1))
				return nomem(b);
	return 0;
}

static int graph_build(struct builder *b, uint32_t region, const Onnx__GraphProto *gp,
		       uint32_t parent, const char *path)
{
	struct ggpack_model *m = b->m;
	if (grow_array(&m->graphs, &m->cap_graphs, m->n_graphs, sizeof *m->graphs))
		return nomem(b);
	uint32_t gi = (uint32_t)m->n_graphs++;
	struct index_graph *g = &m->graphs[gi];
	memset(g, 0, sizeof *g);
	g->proto = gp;
	g->region = region;
	g->parent = parent;
	if (!(g->path = strdup(path)))
		return nomem(b);
	int rc = graph_names(b, g);
	size_t n_node = 0, n_init = 0;
	const struct wire_scan *s = &m->scan;
	for (uint32_t c = s->regions[region].first_child; !rc && c != NONE; c = s->regions[c].next_sibling) {
		if (s->regions[c].field == 1) {
			if (n_node >= gp->n_node)
				return mismatch(b, "graph nodes");
			rc = node_build(b, c, gp->node[n_node++], gi);
		} else if (s->regions[c].field == 5) {
			if (n_init >= gp->n_initializer)
				return mismatch(b, "graph initializers");
			rc = tensor_add(b, c, gp->initializer[n_init++], gi, GGPACK_TENSOR_INITIALIZER, NULL);
		}
	}
	if (!rc && (n_node != gp->n_node || n_init != gp->n_initializer))
		rc = mismatch(b, "graph nodes or initializers");
	return rc;
}

/* Two tensors of one graph under one name (invalid ONNX, but met): the
 * name finds the first, so each is marked where it differs from it. */
static void mark_name_clashes(struct ggpack_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		struct index_tensor *t = &m->tensors[i];
		if (t->kind == GGPACK_TENSOR_ATTRIBUTE)
			continue;
		uint32_t first = strmap_get(&m->graphs[t->graph].tensors, t->name);
		if (first != (uint32_t)i && first != NONE)
			t->name_clash = m->tensors[first].name_clash = true;
	}
}

/* Names a graph's tensors can be found by; done after all graphs exist, since
 * m->graphs moves while it grows. */
static int register_tensors(struct builder *b)
{
	struct ggpack_model *m = b->m;
	for (size_t i = 0; i < m->n_tensors; i++) {
		struct index_tensor *t = &m->tensors[i];
		struct index_graph *g = &m->graphs[t->graph];
		if (t->kind == GGPACK_TENSOR_ATTRIBUTE)
			continue;
		if (t->kind == GGPACK_TENSOR_INITIALIZER) {
			uint32_t defined = strmap_get(&g->defined, t->name);
			t->is_graph_input = defined == 2;
			t->name_clash = defined == 1; /* a node's output or an initializer before it */
			if (strmap_put(&g->defined, t->name, 1))
				return nomem(b);
		}
		if (strmap_put(&g->tensors, t->name, (uint32_t)i))
			return nomem(b);
	}
	mark_name_clashes(m);
	return 0;
}

/* The tensor a node input of graph gi names: the innermost scope that
 * defines the name decides, and it may define it as something else. */
static uint32_t resolve(const struct ggpack_model *m, uint32_t gi, const char *name)
{
	for (; gi != NONE; gi = m->graphs[gi].parent)
		if (strmap_get(&m->graphs[gi].defined, name) != NONE)
			return strmap_get(&m->graphs[gi].tensors, name);
	return NONE;
}

static int consumers_build(struct builder *b)
{
	struct ggpack_model *m = b->m;
	for (uint32_t gi = 0; gi < m->n_graphs; gi++) {
		const Onnx__GraphProto *gp = m->graphs[gi].proto;
		for (size_t i = 0; i < gp->n_node; i++) {
			const Onnx__NodeProto *n = gp->node[i];
			for (size_t j = 0; j < n->n_input; j++) {
				uint32_t ti = *n->input[j] ? resolve(m, gi, n->input[j]) : NONE;
				if (ti == NONE)
					continue;
				struct index_tensor *t = &m->tensors[ti];
				if (grow_array(&t->consumers, &t->cap_consumers, t->n_consumers,
					 sizeof *t->consumers))
					return nomem(b);
				t->consumers[t->n_consumers++] = (struct index_consumer){ gi, n, (int)j };
			}
		}
	}
	return 0;
}

/* Tensors outside graphs and nodes (sparse initializers, training info,
 * functions) are kept as bytes; they must not need external data. */
static int check_unindexed(struct builder *b)
{
	const struct wire_scan *s = &b->m->scan;
	for (size_t r = 0; r < s->n_regions; r++)
		if (s->regions[r].type == &onnx__tensor_proto__descriptor &&
		    b->m->region_tensor[r] == NONE && s->regions[r].data_location == 1)
			return ctx_fail(b->ctx, GGPACK_E_INVALID,
					"%s: a tensor at byte %zu (sparse, training or function) uses "
					"external data, which ggpack does not support there",
					b->m->path, s->regions[r].field_off);
	return 0;
}

int index_build(struct ggpack_ctx *ctx, struct ggpack_model *m)
{
	struct builder b = { ctx, m };
	const struct wire_scan *s = &m->scan;
	m->region_tensor = malloc(s->n_regions * sizeof *m->region_tensor);
	if (!m->region_tensor)
		return nomem(&b);
	for (size_t r = 0; r < s->n_regions; r++)
		m->region_tensor[r] = NONE;
	uint32_t main_graph = NONE;
	for (uint32_t c = s->regions[0].first_child; c != NONE; c = s->regions[c].next_sibling)
		if (s->regions[c].field == 7)
			main_graph = c;
	if (main_graph == NONE || !m->proto->graph)
		return mismatch(&b, "the main graph");
	int rc = graph_build(&b, main_graph, m->proto->graph, NONE, "main");
	if (!rc)
		rc = register_tensors(&b);
	if (!rc)
		rc = consumers_build(&b);
	if (!rc)
		rc = check_unindexed(&b);
	return rc;
}

void index_free(struct ggpack_model *m)
{
	for (size_t i = 0; i < m->n_graphs; i++) {
		free(m->graphs[i].path);
		strmap_free(&m->graphs[i].defined);
		strmap_free(&m->graphs[i].tensors);
	}
	for (size_t i = 0; i < m->n_tensors; i++)
		free(m->tensors[i].consumers);
	free(m->graphs);
	free(m->tensors);
	free(m->region_tensor);
}
