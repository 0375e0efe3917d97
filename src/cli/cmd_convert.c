/*
 * cmd_convert.c - `ggpack convert IN -o OUT`: the main job. Runs the
 * pipeline, writes the new model, prints the report, checks any gates.
 */
#include <math.h>
#include <stdlib.h>

#include "cli.h"

static int run_convert(int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cli_convert, argc, argv, &a);
	if (rc)
		return cli_args_free(&a), rc < 0 ? 0 : rc;
	if (a.n_inputs != 1 || !a.output || !isnan(a.fail_if_increase)) {
		cli_args_free(&a);
		return cli_usage_error("convert", a.n_inputs != 1 ? "takes exactly one input model" :
					!a.output ? "needs -o OUTPUT" : "--fail-if-increase is for diff");
	}
	rc = cli_pipeline_command(&a, "convert", 1);
	cli_args_free(&a);
	return rc;
}

const struct cli_command cli_convert = {
	"convert", run_convert, "shrink a model: select weights, DeepShape, RF8; write it and report",
	"usage: ggpack convert IN.onnx -o OUT.onnx [options]\n"
	"\n"
	"Selects the model's weights, optionally reshapes them with DeepShape, packs\n"
	"them as RF8, writes a new model (temporary file renamed into place; the\n"
	"input is never touched) and prints the report: totals first, then every\n"
	"tensor. A model ggpack converted already is refused (exit 3) unless --force.\n"
	"\n"
	"pipeline:\n"
	"  --preset safe|paper      safe (default): RF8 nearest, auto floor, weights only;\n"
	"                           paper: --select all, DeepShape scope model, RF8 paper\n"
	"  --rf8 nearest|paper|off  RF8 rounding, or no RF8\n"
	"  --store lut|float        lut (default): uint8 codes + table + Cast/Gather;\n"
	"                           float: RF8 values in the weight's own dtype\n"
	"  --rf8-floor none|auto|V  zero |w| < floor before RF8 (auto: the largest r 2^-k\n"
	"                           costing at most --floor-max-loss dB, default 0.1)\n"
	"  --deepshape              DeepShape before RF8\n"
	"  --deepshape-scope tensor|model  (tensor unless the preset says model)\n"
	"  --grid G (13)  --min-count N (1000)  --shape-scale S (0.8)  --std-scale S (0.6)\n"
	"                           (scope tensor picks each tensor's grid and min-count\n"
	"                           from its size and rms; --grid still sets the report's)\n"
	"  --select weights|all     weight slots only (default), or every float tensor\n"
	"  --min-params N (256)  --include GLOB  --exclude GLOB  --ops OP,OP,...\n"
	"  --zstd-level N (3)\n"
	"report:\n"
	"  --report FILE (- is stdout, the default)  --format text|json|csv|md\n"
	"  --sort saved|snr|name|model   order of the tensor table (saved: bytes saved)\n"
	"gates (exit 10 when broken; the model is still written):\n"
	"  --max-bits B [--metric entropy|exp_golomb|huffman|fixed|zstd]  --min-snr DB\n"
	"common:\n"
	"  -o, --output FILE  --force  --threads N  -q, --quiet  -v, --verbose  -h, --help\n"
	"\n"
	"exit codes: 0 ok, 1 internal, 2 usage, 3 invalid model, 4 I/O, 10 gate broken\n",
};
