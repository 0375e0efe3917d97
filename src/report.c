/*
 * report.c - the JSON report of a conversion (schema ggpack-report/1,
 * docs/report.md): the files, the effective options, the totals and one
 * entry per tensor. The CLI renders text, Markdown and CSV from this one
 * object, so every format shows the same figures. No timing field: two
 * runs give byte-identical reports.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define SCHEMA "ggpack-report/1"

/* A number, or null for NaN and infinity (JSON has neither). */
static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static const char *rounding_name(enum ggpack_rounding r)
{
	return r == GGPACK_ROUND_PAPER ? "paper" : "nearest";
}

static json_t *globs_json(const char *const *g, size_t n)
{
	json_t *a = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(a, json_string(g[k]));
	return a;
}

static json_t *options_object(const struct ggpack_convert_options *o)
{
	json_t *floor = o->floor == GGPACK_FLOOR_VALUE ? json_real(o->floor_value)
			: json_string(o->floor == GGPACK_FLOOR_AUTO ? "auto" : "none");
	return json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:b, s:s, s:i, s:I, s:f, s:f, s:s, s:o, s:f, "
			 "s:s, s:i, s:i}",
			 "preset", o->preset ? o->preset : "safe",
			 "select", o->select.mode == GGPACK_SELECT_ALL ? "all" : "weights",
			 "min_params", (json_int_t)o->select.min_params,
			 "include", globs_json(o->include, o->n_include),
			 "exclude", globs_json(o->exclude, o->n_exclude),
			 "ops", globs_json(o->ops, o->n_ops),
			 "deepshape", o->deepshape,
			 "deepshape_scope", o->ds_scope == GGPACK_DS_MODEL ? "model" : "tensor",
			 "ds_grid", o->ds.grid, "min_count", (json_int_t)o->ds.min_count,
			 "shape_scale", o->ds.shape_scale, "std_scale", o->ds.std_scale,
			 "rf8", o->rf8 ? rounding_name(o->rounding) : "off",
			 "rf8_floor", floor, "floor_max_loss", o->floor_max_loss,
			 "store", o->store == GGPACK_STORE_FLOAT ? "float" : "lut",
			 "grid", o->grid, "zstd_level", o->zstd_level);
}

char *conv_options_json(const struct ggpack_convert_options *o)
{
	json_t *j = options_object(o);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

static json_t *bits_json(const struct ggpack_bits *b)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "entropy", num(b->entropy), "exp_golomb",
			 num(b->exp_golomb), "huffman", num(b->huffman), "fixed", num(b->fixed), "zstd",
			 num(b->zstd));
}

static json_t *gg_json(const struct ggpack_gg *g)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "shape", num(g->shape), "shape_interp",
			 num(g->shape_interp), "scale", num(g->scale), "mean", num(g->mean), "std",
			 num(g->std));
}

static json_t *ds_json(const struct ggpack_deepshape_result *r, const char *scope)
{
	return json_pack("{s:s, s:i, s:I, s:I, s:I, s:{s:o, s:o, s:o}, s:{s:o, s:o}, s:I, s:I}",
			 "scope", scope, "grid", r->grid, "min_count", (json_int_t)r->min_count,
			 "P", (json_int_t)r->P, "mu_q", (json_int_t)r->mu_q,
			 "before", "shape", num(r->before.shape), "scale", num(r->before.scale),
			 "mean", num(r->before.mean),
			 "after", "shape", num(r->shape_after), "scale", num(r->scale_after),
			 "in_range", (json_int_t)r->in_range, "reassigned", (json_int_t)r->reassigned);
}

/* ---- tensors ------------------------------------------------------------ */

static json_t *consumers_json(const struct index_tensor *t)
{
	json_t *a = json_array();
	for (size_t j = 0; j < t->n_consumers; j++) {
		const Onnx__NodeProto *n = t->consumers[j].node;
		json_array_append_new(a, json_pack("{s:s, s:s, s:i}", "node", str_or_empty(n->name),
						   "op_type", str_or_empty(n->op_type), "input",
						   t->consumers[j].input));
	}
	return a;
}

static json_t *rf8_json(const struct conv_tensor *ct, const struct ggpack_convert_options *o)
{
	return json_pack("{s:i, s:s, s:o, s:o, s:I, s:I, s:s, s:o}", "E", ct->E, "rounding",
			 rounding_name(o->rounding), "floor", json_real(ct->floor),
			 "entropy_no_floor", num(ct->entropy_no_floor), "zeros",
			 (json_int_t)ct->zeros, "underflows", (json_int_t)ct->underflows, "store",
			 ct->lut ? "lut" : "float", "store_note",
			 ct->store_note ? json_string(ct->store_note) : json_null());
}

/* Bytes of the tensor's elements in the output (the codes, for lut: the
 * tables are shared, and counted once in the totals). */
static uint64_t bytes_after(const struct conv_tensor *ct, const struct index_tensor *t)
{
	return conv_written(ct) ? ct->data_bytes : t->bytes;
}

/* Bytes of the lut tables: one per (E, dtype) among the lut tensors. */
static uint64_t table_bytes(const struct ggpack_conversion *c)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < c->m->n_tensors; i++) {
		int dtype = c->m->tensors[i].proto->data_type;
		bool first = conv_lut(&c->t[i]);
		for (size_t k = 0; first && k < i; k++)
			first = !(conv_lut(&c->t[k]) && c->t[k].E == c->t[i].E &&
				  c->m->tensors[k].proto->data_type == dtype);
		bytes += first ? 256 * conv_dtype_size(dtype) : 0;
	}
	return bytes;
}

static json_t *tensor_json(const struct ggpack_conversion *c, size_t i)
{
	const struct index_tensor *t = &c->m->tensors[i];
	const struct conv_tensor *ct = &c->t[i];
	const char *dtype = ggpack_dtype_name(t->proto->data_type);
	bool sel = !conv_skip(ct);
	json_t *shape = json_array();
	for (size_t d = 0; d < t->proto->n_dims; d++)
		json_array_append_new(shape, json_integer(t->proto->dims[d]));
	char hash[17];
	snprintf(hash, sizeof hash, "%016llx", (unsigned long long)ct->hash);
	return json_pack("{s:s, s:s, s:o, s:I, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:o, s:o, s:I, s:I}",
			 "name", t->name, "dtype", dtype ? dtype : "?", "shape", shape,
			 "params", (json_int_t)t->params, "where", c->m->graphs[t->graph].path,
			 "consumers", consumers_json(t), "selected", sel,
			 "skip_reason", sel ? json_null() : json_string(conv_skip(ct)),
			 "hash", ct->measured ? json_string(hash) : json_null(),
			 "gg", ct->has_gg ? gg_json(&ct->gg) : json_null(),
			 "bits_before", ct->measured ? bits_json(&ct->bits_before) : json_null(),
			 "bits", sel ? bits_json(&ct->bits) : json_null(),
			 "rf8", sel && ct->rf8 ? rf8_json(ct, &c->o) : json_null(),
			 "deepshape", ct->has_ds ? ds_json(&ct->ds, "tensor") : json_null(),
			 "snr_db", sel ? num(ggpack_error_snr_db(&ct->err)) : json_null(),
			 "rel_rmse", sel ? num(ggpack_error_rel_rmse(&ct->err)) : json_null(),
			 "max_abs_err", sel ? json_real(ct->err.max_abs) : json_null(),
			 "bytes_before", (json_int_t)t->bytes, "bytes_after", (json_int_t)bytes_after(ct, t));
}

/* ---- totals ------------------------------------------------------------- */

struct weighted {
	double sum[5], weight[5];
};

static void weigh(struct weighted *w, const double *v, size_t k, double params)
{
	for (size_t i = 0; i < k; i++)
		if (isfinite(v[i]))
			w->sum[i] += params * v[i], w->weight[i] += params;
}

static double mean_of(const struct weighted *w, size_t i)
{
	return w->weight[i] > 0 ? w->sum[i] / w->weight[i] : NAN;
}

static json_t *weighted_bits(const struct weighted *w)
{
	struct ggpack_bits b = { mean_of(w, 0), mean_of(w, 1), mean_of(w, 2), mean_of(w, 3), mean_of(w, 4) };
	return bits_json(&b);
}

static json_t *totals_json(const struct ggpack_conversion *c)
{
	struct weighted bits = { 0 }, before = { 0 }, gg = { 0 }, no_floor = { 0 };
	struct ggpack_error_sums err = { 0 };
	uint64_t selected = 0, params = 0, sel_params = 0, bytes_b = 0, bytes_a = 0;
	for (size_t i = 0; i < c->m->n_tensors; i++) {
		const struct index_tensor *t = &c->m->tensors[i];
		const struct conv_tensor *ct = &c->t[i];
		params += t->params;
		bytes_b += t->bytes, bytes_a += bytes_after(ct, t);
		if (conv_skip(ct))
			continue;
		double p = (double)t->params, g[3] = { ct->gg.shape, ct->gg.scale, ct->gg.mean };
		selected++, sel_params += t->params;
		weigh(&bits, &ct->bits.entropy, 5, p);
		weigh(&before, &ct->bits_before.entropy, 5, p);
		if (ct->rf8)
			weigh(&no_floor, &ct->entropy_no_floor, 1, p);
		if (ct->has_gg)
			weigh(&gg, g, 3, p);
		err.sum_sq += ct->err.sum_sq, err.err_sq += ct->err.err_sq;
		err.max_abs = fmax(err.max_abs, ct->err.max_abs);
	}
	uint64_t tables = table_bytes(c);
	return json_pack("{s:I, s:I, s:I, s:I, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I}",
			 "tensors", (json_int_t)c->m->n_tensors, "selected", (json_int_t)selected,
			 "params", (json_int_t)params, "selected_params", (json_int_t)sel_params,
			 "gg", "shape", num(mean_of(&gg, 0)), "scale", num(mean_of(&gg, 1)),
			 "mean", num(mean_of(&gg, 2)),
			 "bits", weighted_bits(&bits), "bits_before", weighted_bits(&before),
			 "entropy_no_floor", num(mean_of(&no_floor, 0)),
			 "snr_db", selected ? num(ggpack_error_snr_db(&err)) : json_null(),
			 "rel_rmse", selected ? num(ggpack_error_rel_rmse(&err)) : json_null(),
			 "tensor_bytes_before", (json_int_t)bytes_b, "tensor_bytes_after",
			 (json_int_t)(bytes_a + tables), "lut_table_bytes", (json_int_t)tables);
}

/* ---- files -------------------------------------------------------------- */

/* The written output, as the save saw it (output.c). */
static json_t *output_json(const struct ggpack_conversion *c)
{
	const struct output_facts *f = &c->out;
	return json_pack("{s:s, s:I, s:I, s:s, s:o}", "path", c->out_path, "bytes", (json_int_t)f->bytes,
			 "data_bytes", (json_int_t)f->data_bytes, "sha256", f->sha256, "zstd_bytes",
			 f->has_zstd ? json_integer((json_int_t)f->zstd_bytes) : json_null());
}

/* The input as mapped: the model's digest (computed while the tensors
 * were converted, when they were), and the sizes of its data files. */
static json_t *input_json(const struct ggpack_conversion *c)
{
	const struct ggpack_model *m = c->m;
	char hex[65];
	uint64_t data = 0;
	if (c->input_sha256[0])
		memcpy(hex, c->input_sha256, sizeof hex);
	else
		conv_hash_input(m, hex);
	for (size_t i = 0; i < m->n_ext; i++)
		data += m->ext[i].map.size;
	return json_pack("{s:s, s:I, s:I, s:s}", "path", m->path, "bytes", (json_int_t)m->file.size,
			 "data_bytes", (json_int_t)data, "sha256", hex);
}

static json_t *deepshape_json(const struct ggpack_conversion *c)
{
	if (!c->o.deepshape)
		return json_null();
	if (c->has_ds_model)
		return ds_json(&c->ds, "model");
	return json_pack("{s:s}", "scope", "tensor"); /* per tensor: tensors[].deepshape */
}

int ggpack_conversion_report(struct ggpack_ctx *ctx, const struct ggpack_conversion *c,
			     const char *command, char **out)
{
	json_t *output = c->out_path ? output_json(c) : json_null(), *tensors = json_array();
	for (size_t i = 0; i < c->m->n_tensors; i++)
		json_array_append_new(tensors, tensor_json(c, i));
	json_t *r = json_pack("{s:s, s:{s:s, s:s}, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "schema", SCHEMA, "tool", "name", "ggpack", "version", GGPACK_VERSION,
			      "command", command, "input", input_json(c), "output", output,
			      "options", options_object(&c->o), "totals", totals_json(c),
			      "deepshape", deepshape_json(c), "tensors", tensors);
	char *text = r ? json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(r);
	if (!text)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory (report)", c->m->path);
	size_t len = strlen(text);
	char *nl = realloc(text, len + 2);
	if (!nl) {
		free(text);
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory (report)", c->m->path);
	}
	nl[len] = '\n', nl[len + 1] = 0;
	*out = nl;
	return 0;
}
