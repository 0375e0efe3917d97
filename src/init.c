/*
 * init.c - GG initialization of a model's layers (ALGORITHMS.md): every
 * weight of a MatMul, Gemm or Conv drawn from GG(nu, alpha) with alpha set
 * by the layer's fan-in read from its layout (MatMul [in, out], Gemm with
 * transB 0 or 1, Conv [out, in/groups, k...]), and its bias set to zero.
 * The result is a conversion whose tensors hold the new values, written by
 * ggpack_conversion_save in the tensors' own dtypes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

static bool op_listed(const struct ggpack_init_options *o, const char *op)
{
	for (size_t k = 0; k < o->n_ops; k++)
		if (!strcmp(o->ops[k], op))
			return true;
	return false;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
	for (size_t a = 0; a < n->n_attribute; a++)
		if (!strcmp(str_or_empty(n->attribute[a]->name), name))
			return n->attribute[a]->i;
	return dflt;
}

/* The node of graph g that produces name, or NULL. */
static const Onnx__NodeProto *producer(const Onnx__GraphProto *g, const char *name)
{
	for (size_t i = 0; i < g->n_node; i++)
		for (size_t k = 0; k < g->node[i]->n_output; k++)
			if (!strcmp(str_or_empty(g->node[i]->output[k]), name))
				return g->node[i];
	return NULL;
}

/* The role of tensor t for a consumer: a weight (*fan_in set), a bias, or
 * neither. */
enum role { ROLE_NONE, ROLE_WEIGHT, ROLE_BIAS };

static enum role role_of(const struct ggpack_model *m, const struct ggpack_init_options *o,
			 const struct index_tensor *t, const struct index_consumer *c, double *fan_in)
{
	const Onnx__NodeProto *n = c->node;
	const char *op = str_or_empty(n->op_type);
	const int64_t *d = t->proto->dims;
	size_t nd = t->proto->n_dims;
	if (!op_listed(o, op))
		return ROLE_NONE;
	if (!strcmp(op, "MatMul") && nd >= 2)
		*fan_in = (double)(c->input == 1 ? d[nd - 2] : d[nd - 1]); /* x W: [in, out]; W x: [out, in] */
	else if (!strcmp(op, "Gemm") && nd == 2 && c->input == 1)
		*fan_in = (double)(attr_int(n, "transB", 0) ? d[1] : d[0]);
	else if (!strcmp(op, "Conv") && nd >= 3 && c->input == 1) {
		*fan_in = (double)d[1];
		for (size_t k = 2; k < nd; k++)
			*fan_in *= (double)d[k];
	} else
		return (!strcmp(op, "Gemm") || !strcmp(op, "Conv")) && c->input == 2 ? ROLE_BIAS : ROLE_NONE;
	(void)m;
	return *fan_in > 0 ? ROLE_WEIGHT : ROLE_NONE;
}

/* An Add right after a listed MatMul: its constant operand is the bias. */
static bool is_matmul_bias(const struct ggpack_model *m, const struct ggpack_init_options *o,
			   const struct index_tensor *t, const struct index_consumer *c)
{
	const Onnx__NodeProto *n = c->node;
	if (strcmp(str_or_empty(n->op_type), "Add") || n->n_input != 2 || !op_listed(o, "MatMul"))
		return false;
	const Onnx__NodeProto *p = producer(m->graphs[c->graph].proto, str_or_empty(n->input[1 - c->input]));
	return p && !strcmp(str_or_empty(p->op_type), "MatMul") && t->proto->n_dims <= 1;
}

struct init_state {
	struct ggpack_conversion *c;
	struct ggpack_rng rng;
	json_t *changes;
};

static int init_tensor(struct ggpack_ctx *ctx, struct init_state *st, const struct ggpack_init_options *o,
		       size_t i, enum role role, double fan_in, const char *op)
{
	const struct index_tensor *t = &st->c->m->tensors[i];
	float *v = calloc(t->params + 1, sizeof *v);
	double alpha = role == ROLE_WEIGHT ? ggpack_gg_init_scale(o->shape, o->xi, fan_in) : 0;
	if (!v)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", st->c->m->path);
	if (role == ROLE_WEIGHT)
		ggpack_gg_fill(&st->rng, v, t->params, o->shape, alpha);
	if ((st->c->t[i].data = malloc(t->params * conv_dtype_size(t->proto->data_type) + 1)))
		tensor_store_f32(t->proto->data_type, v, t->params, st->c->t[i].data);
	st->c->t[i].data_bytes = t->params * conv_dtype_size(t->proto->data_type);
	st->c->t[i].converted = st->c->t[i].data != NULL;
	free(v);
	if (!st->c->t[i].data)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", st->c->m->path);
	st->c->t[i].skip = NULL;
	json_array_append_new(st->changes, json_pack("{s:s, s:s, s:s, s:I, s:f, s:f}", "name", t->name,
						     "role", role == ROLE_WEIGHT ? "weight" : "bias", "op", op,
						     "params", (json_int_t)t->params, "fan_in", fan_in,
						     "scale", alpha));
	return 0;
}

/* The first listed consumer that makes tensor i a weight or a bias. */
static enum role tensor_role(const struct ggpack_model *m, const struct ggpack_init_options *o, size_t i,
			     double *fan_in, const char **op)
{
	const struct index_tensor *t = &m->tensors[i];
	if (!ggpack_dtype_is_float(t->proto->data_type) || !t->params || t->storage == GGPACK_STORAGE_NONE ||
	    t->kind == GGPACK_TENSOR_ATTRIBUTE)
		return ROLE_NONE;
	for (size_t j = 0; j < t->n_consumers; j++) {
		enum role r = role_of(m, o, t, &t->consumers[j], fan_in);
		*op = str_or_empty(t->consumers[j].node->op_type);
		if (r != ROLE_NONE)
			return r;
		if (is_matmul_bias(m, o, t, &t->consumers[j]))
			return ROLE_BIAS;
	}
	return ROLE_NONE;
}

int ggpack_init(struct ggpack_ctx *ctx, const struct ggpack_model *m, const struct ggpack_init_options *o,
		struct ggpack_conversion **out, char **changes)
{
	if (!(o->shape > 0) || !(o->xi > 0) || !o->n_ops)
		return ctx_fail(ctx, GGPACK_E_USAGE, "init: the shape and xi must be positive, with some --ops");
	struct init_state st = { conv_new(m), { { 0 } }, json_array() };
	int rc = st.c ? 0 : ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	if (!rc && !(st.c->t = calloc(m->n_tensors + 1, sizeof *st.c->t)))
		rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	if (!rc) {
		ggpack_convert_defaults(&st.c->o, "safe");
		json_t *opts = json_pack("{s:f, s:f, s:I}", "shape", o->shape, "xi", o->xi, "seed",
					 (json_int_t)o->seed);
		st.c->init_options = opts ? json_dumps(opts, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(opts);
		if (!st.c->init_options)
			rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
		ggpack_rng_seed(&st.rng, o->seed);
	}
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		double fan_in = 0;
		const char *op = "";
		st.c->t[i].skip = "not a weight or bias of --ops";
		enum role r = tensor_role(m, o, i, &fan_in, &op);
		if (r != ROLE_NONE)
			rc = init_tensor(ctx, &st, o, i, r, fan_in, op);
	}
	if (!rc && !(*changes = json_dumps(st.changes, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
		rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	json_decref(st.changes);
	if (rc) {
		ggpack_conversion_free(st.c);
		return rc;
	}
	*out = st.c;
	return 0;
}
