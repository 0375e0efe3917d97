/*
 * select.c - which tensors are weights (DESIGN.md): floating initializers
 * and Constant values that feed a weight slot (Conv/ConvTranspose W,
 * MatMul and Gemm A and B, LSTM/GRU/RNN W and R, Gather's table), directly
 * or through a chain of layout ops, in any graph; and the reasons the
 * others are skipped. Uses of every value name are indexed here, resolved
 * through enclosing scopes as ONNX resolves them.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct use {
	uint32_t graph;  /* where the consuming node is */
	const Onnx__NodeProto *node;
	int slot;
	uint32_t next;   /* next use of the same value, NONE at the end */
};

struct uses {
	struct strmap *by_graph; /* per defining graph: value name -> first use */
	struct use *list;
	size_t n, cap;
};

static bool op_is(const Onnx__NodeProto *n, const char *op)
{
	const char *d = str_or_empty(n->domain);
	return (!*d || !strcmp(d, "ai.onnx")) && !strcmp(str_or_empty(n->op_type), op);
}

static bool is_weight_slot(const Onnx__NodeProto *n, int slot)
{
	if (op_is(n, "Conv") || op_is(n, "ConvTranspose"))
		return slot == 1;
	if (op_is(n, "MatMul") || op_is(n, "Gemm"))
		return slot == 0 || slot == 1; /* not Gemm's C */
	if (op_is(n, "LSTM") || op_is(n, "GRU") || op_is(n, "RNN"))
		return slot == 1 || slot == 2;
	return op_is(n, "Gather") && slot == 0; /* an embedding table */
}

static bool is_layout_op(const Onnx__NodeProto *n)
{
	static const char *const ops[] = { "Cast", "Identity", "Transpose", "Reshape", "Flatten",
					   "Squeeze", "Unsqueeze" };
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (op_is(n, ops[i]))
			return true;
	return false;
}

/* Inputs that carry shapes, bounds or indices, never weights. */
static bool is_shape_slot(const Onnx__NodeProto *n, int slot)
{
	static const struct { const char *op; int lo, hi; } slots[] = {
		{ "Reshape", 1, 1 }, { "Resize", 1, 3 }, { "Upsample", 1, 1 }, { "Clip", 1, 2 },
		{ "Pad", 1, 3 }, { "Slice", 1, 4 }, { "Range", 0, 2 }, { "Expand", 1, 1 },
		{ "Tile", 1, 1 }, { "ConstantOfShape", 0, 0 }, { "Squeeze", 1, 1 }, { "Unsqueeze", 1, 1 },
		{ "TopK", 1, 1 }, { "Split", 1, 1 }, { "ReduceSum", 1, 1 }, { "ReduceMean", 1, 1 },
		{ "ReduceMax", 1, 1 }, { "ReduceMin", 1, 1 }, { "ReduceProd", 1, 1 }, { "OneHot", 1, 1 },
	};
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
		if (op_is(n, slots[i].op))
			return slot >= slots[i].lo && slot <= slots[i].hi;
	return false;
}

static void uses_free(struct uses *u, size_t n_graphs)
{
	for (size_t g = 0; u->by_graph && g < n_graphs; g++)
		strmap_free(&u->by_graph[g]);
	free(u->by_graph);
	free(u->list);
}

static int use_add(struct uses *u, uint32_t def, uint32_t graph, const Onnx__NodeProto *n, int slot)
{
	const char *name = n->input[slot];
	if (grow_array(&u->list, &u->cap, u->n, sizeof *u->list))
		return GGPACK_E_NOMEM;
	uint32_t i = (uint32_t)u->n++;
	u->list[i] = (struct use){ graph, n, slot, strmap_get(&u->by_graph[def], name) };
	return strmap_set(&u->by_graph[def], name, i); /* the new head of its list */
}

/* Every node input of every graph, filed under the graph that defines it. */
static int uses_build(const struct ggpack_model *m, struct uses *u)
{
	memset(u, 0, sizeof *u);
	u->by_graph = calloc(m->n_graphs ? m->n_graphs : 1, sizeof *u->by_graph);
	if (!u->by_graph)
		return GGPACK_E_NOMEM;
	for (uint32_t gi = 0; gi < m->n_graphs; gi++) {
		const Onnx__GraphProto *gp = m->graphs[gi].proto;
		for (size_t i = 0; i < gp->n_node; i++)
			for (size_t j = 0; j < gp->node[i]->n_input; j++) {
				const char *name = gp->node[i]->input[j];
				uint32_t def = gi;
				while (def != NONE && strmap_get(&m->graphs[def].defined, name) == NONE)
					def = m->graphs[def].parent;
				if (*name && def != NONE && use_add(u, def, gi, gp->node[i], (int)j))
					return GGPACK_E_NOMEM;
			}
	}
	return 0;
}

/* Does value `name` of graph g reach a weight slot through layout ops? */
static bool reaches_weight_slot(const struct uses *u, uint32_t g, const char *name, int depth)
{
	if (depth > 16)
		return false; /* chains are short; this also stops a cycle */
	for (uint32_t i = strmap_get(&u->by_graph[g], name); i != NONE; i = u->list[i].next) {
		const struct use *x = &u->list[i];
		if (is_weight_slot(x->node, x->slot))
			return true;
		if (is_layout_op(x->node) && x->slot == 0 && x->node->n_output &&
		    reaches_weight_slot(u, x->graph, x->node->output[0], depth + 1))
			return true;
	}
	return false;
}

static bool feeds_only_shapes(const struct uses *u, uint32_t g, const char *name)
{
	bool any = false;
	for (uint32_t i = strmap_get(&u->by_graph[g], name); i != NONE; i = u->list[i].next) {
		if (!is_shape_slot(u->list[i].node, u->list[i].slot))
			return false;
		any = true;
	}
	return any;
}

static const char *skip_reason(const struct ggpack_model *m, const struct uses *u, const struct index_tensor *t,
			       const struct ggpack_select_options *o)
{
	if (!ggpack_dtype_is_float(t->proto->data_type))
		return "not floating";
	if (t->kind == GGPACK_TENSOR_ATTRIBUTE)
		return "a tensor attribute";
	if (t->name_clash) /* which one a runtime reads is its own choice: keep both */
		return "its graph defines its name more than once (invalid ONNX)";
	if (t->params < o->min_params)
		return "fewer params than --min-params";
	if (t->is_graph_input && m->proto->ir_version >= 4)
		return "a graph input, overridable (IR >= 4)";
	if (feeds_only_shapes(u, t->graph, t->name))
		return "feeds only shape inputs";
	if (o->mode == GGPACK_SELECT_WEIGHTS && !reaches_weight_slot(u, t->graph, t->name, 0))
		return "feeds no weight slot";
	return NULL;
}

int ggpack_select(struct ggpack_ctx *ctx, const struct ggpack_model *m,
		  const struct ggpack_select_options *options, const char **reasons)
{
	struct ggpack_select_options o = options ? *options : (struct ggpack_select_options){ 0 };
	struct uses u;
	if (!o.min_params)
		o.min_params = 256;
	int rc = uses_build(m, &u);
	for (size_t i = 0; !rc && i < m->n_tensors; i++)
		reasons[i] = skip_reason(m, &u, &m->tensors[i], &o);
	uses_free(&u, m->n_graphs);
	return rc ? ctx_fail(ctx, rc, "%s: out of memory", m->path) : 0;
}
