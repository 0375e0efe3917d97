/*
 * cmd_init.c - `ggpack init IN -o OUT`: GG initialization of a model's
 * MatMul, Gemm and Conv layers (ggpack_init), e.g. to start on-device
 * training from a GG prior. Prints what it changed.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

struct init_args {
	struct ggpack_init_options o;
	const char *ops[8];
	char *ops_text;
	const char *input, *output;
	int force, json;
};

static int parse_ops(struct init_args *a, const char *v)
{
	free(a->ops_text);
	a->o.n_ops = 0;
	if (!(a->ops_text = strdup(v)))
		return 1;
	for (char *s = strtok(a->ops_text, ","); s; s = strtok(NULL, ",")) {
		if (strcmp(s, "MatMul") && strcmp(s, "Gemm") && strcmp(s, "Conv"))
			return cli_usage_error("init", "--ops: '%s' is not MatMul, Gemm or Conv", s);
		if (a->o.n_ops < 8)
			a->ops[a->o.n_ops++] = s;
	}
	return 0;
}

static int parse(int argc, char **argv, struct init_args *a)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "shape", required_argument, NULL, 's' },
		{ "xi", required_argument, NULL, 'x' }, { "seed", required_argument, NULL, 'S' },
		{ "ops", required_argument, NULL, 'p' }, { "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	double d;
	int c, rc = 0;
	a->o = (struct ggpack_init_options){ 2, 2, 0, a->ops, 3 };
	a->ops[0] = "MatMul", a->ops[1] = "Gemm", a->ops[2] = "Conv";
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': return cli_help(&cli_init), -1;
		case 'o': a->output = optarg; break;
		case 's': rc = cli_number("init", "--shape", optarg, 0.1, 2.99, &a->o.shape); break;
		case 'x': rc = cli_number("init", "--xi", optarg, 1e-9, 1e9, &a->o.xi); break;
		case 'S': rc = cli_number("init", "--seed", optarg, 0, 9007199254740992.0, &d); a->o.seed = (uint64_t)d; break;
		case 'p': rc = parse_ops(a, optarg); break;
		case 'f': a->force = 1; break;
		case 'j': a->json = 1; break;
		default: return cli_usage_error("init", "bad option");
		}
	}
	if (!rc && (optind != argc - 1 || !a->output))
		return cli_usage_error("init", "takes one input model and -o OUTPUT");
	a->input = argv[optind];
	return rc ? 2 : 0;
}

static void print_changes(const json_t *changes)
{
	size_t i;
	json_t *c;
	struct table *t = table_new(6, (const char *[]){ "tensor", "role", "op", "params", "fan-in", "scale" });
	json_array_foreach(changes, i, c) {
		char params[32], fan[32], scale[32];
		snprintf(params, sizeof params, "%.0f", json_real_of(c, "params"));
		snprintf(fan, sizeof fan, "%.0f", json_real_of(c, "fan_in"));
		snprintf(scale, sizeof scale, "%.6g", json_real_of(c, "scale"));
		table_row(t, (const char *[]){ json_str_of(c, "name"), json_str_of(c, "role"), json_str_of(c, "op"),
					       params, fan, scale });
	}
	table_print(stdout, t, 0);
	table_free(t);
}

static int run_init(int argc, char **argv)
{
	struct init_args a = { 0 };
	int rc = parse(argc, argv, &a);
	if (rc) {
		free(a.ops_text);
		return rc < 0 ? 0 : rc;
	}
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	struct ggpack_conversion *c = NULL;
	struct ggpack_save_options so = { .force = a.force };
	char *changes = NULL;
	rc = ggpack_model_load(ctx, a.input, &m);
	if (!rc)
		rc = ggpack_init(ctx, m, &a.o, &c, &changes);
	if (!rc)
		rc = ggpack_conversion_save(ctx, c, a.output, &so);
	rc = rc ? cli_fail(ctx, rc) : 0;
	json_t *j = rc ? NULL : json_loads(changes, 0, NULL);
	if (j && a.json)
		printf("%s\n", changes);
	else if (j)
		print_changes(j);
	json_decref(j);
	free(changes);
	ggpack_conversion_free(c);
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	free(a.ops_text);
	return rc;
}

const struct cli_command cli_init = {
	"init", run_init, "GG initialization of MatMul, Gemm and Conv layers",
	"usage: ggpack init IN.onnx -o OUT.onnx [--shape 2] [--xi 2] [--seed 0]\n"
	"                   [--ops MatMul,Gemm,Conv] [--force] [--json]\n"
	"\n"
	"Draws every weight of the listed layers from GG(shape, alpha), alpha =\n"
	"sqrt(xi / fan-in * Gamma(1/shape) / Gamma(3/shape)) so that Var(W) = xi / fan-in,\n"
	"the fan-in read from the layout (MatMul [in, out]; Gemm B by transB; Conv\n"
	"[out, in/groups, k...]), and sets their biases to zero. xi: 2 for ReLU, 1 for\n"
	"none or sigmoid, 2 / (1 + k^2) for LeakyReLU(k). One seeded stream, in model\n"
	"order: a seed gives the same model on every machine. Prints each tensor\n"
	"changed (--json: as JSON). The output carries metadata ggpack.init.\n"
	"\n"
	"exit codes: 0 ok, 1 internal, 2 usage, 3 invalid model, 4 I/O\n",
};
