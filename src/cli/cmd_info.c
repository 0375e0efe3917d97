/*
 * cmd_info.c - `ggpack info MODEL [--json]`: the structure of a model and
 * every tensor in it. The facts are gathered once into a JSON object; the
 * text form is rendered from that object, so the two never disagree.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

static const char *kind_name(enum ggpack_tensor_kind k)
{
	return k == GGPACK_TENSOR_INITIALIZER ? "initializer" :
	       k == GGPACK_TENSOR_CONSTANT ? "constant" : "attribute";
}

static json_t *tensor_json(const struct ggpack_model *m, size_t i)
{
	struct ggpack_tensor_info t;
	ggpack_tensor_get_info(m, i, &t);
	json_t *shape = json_array(), *consumers = json_array();
	for (size_t d = 0; d < t.ndims; d++)
		json_array_append_new(shape, json_integer(t.dims[d]));
	for (size_t j = 0; j < t.n_consumers; j++) {
		struct ggpack_consumer c;
		ggpack_tensor_get_consumer(m, i, j, &c);
		json_array_append_new(consumers, json_pack("{s:s, s:s, s:s, s:s, s:i}", "node", c.node,
							   "op_type", c.op_type, "domain", c.domain,
							   "where", c.where, "input", c.input));
	}
	const char *dtype = ggpack_dtype_name(t.dtype);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o, s:I, s:I, s:s, s:b, s:o}",
			      "name", t.name, "where", t.where, "kind", kind_name(t.kind),
			      "dtype", dtype ? dtype : "?", "shape", shape,
			      "node", t.node ? json_string(t.node) : json_null(),
			      "params", (json_int_t)t.params, "bytes", (json_int_t)t.bytes,
			      "storage", ggpack_storage_name(t.storage), "graph_input", t.is_graph_input,
			      "consumers", consumers);
	if (t.typed_field)
		json_object_set_new(o, "typed_field", json_string(t.typed_field));
	if (t.external_location)
		json_object_set_new(o, "external", json_pack("{s:s, s:I}", "location", t.external_location,
							     "offset", (json_int_t)t.external_offset));
	return o;
}

static json_t *model_json(const struct ggpack_model *m)
{
	struct ggpack_model_info mi;
	ggpack_model_get_info(m, &mi);
	json_t *opsets = json_array(), *meta = json_object(), *tensors = json_array();
	for (size_t i = 0; i < mi.n_opsets; i++) {
		const char *domain;
		int64_t version;
		ggpack_model_opset(m, i, &domain, &version);
		json_array_append_new(opsets, json_pack("{s:s, s:I}", "domain", domain, "version",
							(json_int_t)version));
	}
	for (size_t i = 0; i < mi.n_metadata; i++) {
		const char *k, *v;
		ggpack_model_metadata(m, i, &k, &v);
		json_object_set_new(meta, k, json_string(v));
	}
	for (size_t i = 0; i < mi.n_tensors; i++)
		json_array_append_new(tensors, tensor_json(m, i));
	return json_pack("{s:s, s:s, s:I, s:I, s:{s:s, s:s}, s:s, s:I, s:o, s:I, s:I, s:b, s:o, s:o}",
			 "schema", "ggpack-info/1", "path", mi.path, "bytes", (json_int_t)mi.file_bytes,
			 "ir_version", (json_int_t)mi.ir_version, "producer", "name", mi.producer_name,
			 "version", mi.producer_version, "domain", mi.domain,
			 "model_version", (json_int_t)mi.model_version, "opsets", opsets,
			 "graphs", (json_int_t)mi.n_graphs, "nodes", (json_int_t)mi.n_nodes,
			 "external_data", mi.has_external_data, "metadata", meta, "tensors", tensors);
}

static void print_shape(FILE *out, const json_t *shape)
{
	size_t i;
	json_t *d;
	fputc('[', out);
	json_array_foreach(shape, i, d)
		fprintf(out, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(d));
	fputc(']', out);
}

static void print_consumers(FILE *out, const json_t *consumers)
{
	size_t i;
	json_t *c;
	if (!json_array_size(consumers))
		fputs("-", out);
	json_array_foreach(consumers, i, c)
		fprintf(out, "%s%s:%" JSON_INTEGER_FORMAT, i ? "," : "",
			json_string_value(json_object_get(c, "op_type")),
			json_integer_value(json_object_get(c, "input")));
}

static void print_text(FILE *out, const json_t *o)
{
	size_t i;
	const char *key;
	json_t *v;
	const json_t *p = json_object_get(o, "producer");
	fprintf(out, "model      %s (%" JSON_INTEGER_FORMAT " bytes)\n", json_string_value(json_object_get(o, "path")),
		json_integer_value(json_object_get(o, "bytes")));
	fprintf(out, "ir_version %" JSON_INTEGER_FORMAT "\nproducer   %s %s\nopsets    ",
		json_integer_value(json_object_get(o, "ir_version")),
		json_string_value(json_object_get(p, "name")), json_string_value(json_object_get(p, "version")));
	json_array_foreach(json_object_get(o, "opsets"), i, v) {
		const char *d = json_string_value(json_object_get(v, "domain"));
		fprintf(out, " %s %" JSON_INTEGER_FORMAT, *d ? d : "ai.onnx",
			json_integer_value(json_object_get(v, "version")));
	}
	fprintf(out, "\ngraphs     %" JSON_INTEGER_FORMAT "\nnodes      %" JSON_INTEGER_FORMAT
		"\nexternal   %s\n", json_integer_value(json_object_get(o, "graphs")),
		json_integer_value(json_object_get(o, "nodes")),
		json_is_true(json_object_get(o, "external_data")) ? "yes" : "no");
	json_object_foreach((json_t *)(uintptr_t)json_object_get(o, "metadata"), key, v)
		fprintf(out, "metadata   %s = %s\n", key, json_string_value(v));
	const json_t *tensors = json_object_get(o, "tensors");
	fprintf(out, "tensors    %zu\n\n%-40s %-11s %-9s %12s %-8s %-20s %s\n", json_array_size(tensors),
		"NAME", "KIND", "DTYPE", "PARAMS", "STORAGE", "SHAPE", "WHERE / CONSUMERS");
	json_array_foreach(tensors, i, v) {
		table_put_text(out, json_string_value(json_object_get(v, "name")), 40);
		fprintf(out, " %-11s %-9s %12" JSON_INTEGER_FORMAT " %-8s ", json_string_value(json_object_get(v, "kind")),
			json_string_value(json_object_get(v, "dtype")), json_integer_value(json_object_get(v, "params")),
			json_string_value(json_object_get(v, "storage")));
		print_shape(out, json_object_get(v, "shape"));
		fprintf(out, " %s ", json_string_value(json_object_get(v, "where")));
		print_consumers(out, json_object_get(v, "consumers"));
		fputc('\n', out);
	}
}

static int run_info(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' }, { 0 } };
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&cli_info);
		if (c != 'j')
			return cli_usage_error("info", "unknown option");
		json = 1;
	}
	if (optind != argc - 1)
		return cli_usage_error("info", "takes exactly one MODEL");
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	if (!ctx)
		return fputs("ggpack: out of memory\n", stderr), 1;
	int rc = ggpack_model_load(ctx, argv[optind], &m);
	if (rc) {
		rc = cli_fail(ctx, rc);
		ggpack_ctx_free(ctx);
		return rc;
	}
	json_t *o = model_json(m);
	if (!o)
		rc = (fputs("ggpack: out of memory\n", stderr), 1);
	else if (json)
		rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) || puts("") < 0;
	else
		print_text(stdout, o);
	json_decref(o);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	return rc;
}

const struct cli_command cli_info = {
	"info", run_info, "structure of a model: graphs, opsets, every tensor",
	"usage: ggpack info MODEL [--json]\n"
	"\n"
	"Prints the model's IR version, opsets, producer, graph and node counts,\n"
	"and every tensor (initializers, Constant values, tensor attributes, in the\n"
	"main graph and every subgraph): name, kind, dtype, params, storage, shape,\n"
	"graph path and consumers (op type:input slot). Writes nothing.\n"
	"\n"
	"  --json   one JSON object (schema ggpack-info/1) instead of text\n"
	"  -h, --help\n",
};
