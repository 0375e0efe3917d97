/*
 * cmd_report.c - `ggpack report IN`: the convert pipeline in memory, its
 * report, and the gates; writes no model. Its figures are convert's.
 */
#include <math.h>
#include <stdlib.h>

#include "cli.h"

static int run_report(int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cli_report, argc, argv, &a);
	if (rc)
		return cli_args_free(&a), rc < 0 ? 0 : rc;
	if (a.n_inputs != 1 || a.output || !isnan(a.fail_if_increase)) {
		cli_args_free(&a);
		return cli_usage_error("report", a.n_inputs != 1 ? "takes exactly one input model" :
					a.output ? "writes no model (-o is for convert)" :
					"--fail-if-increase is for diff");
	}
	rc = cli_pipeline_command(&a, "report", 0);
	cli_args_free(&a);
	return rc;
}

const struct cli_command cli_report = {
	"report", run_report, "measure what convert would do; writes no model; CI gates",
	"usage: ggpack report IN.onnx [options]\n"
	"\n"
	"Runs the same pipeline as convert, in memory, and prints its report: GG\n"
	"fit, bits per parameter before (grid symbols of the input) and after,\n"
	"SNR per tensor. Takes every pipeline and report option of convert\n"
	"(ggpack help convert).\n"
	"\n"
	"gates (exit 10 when broken):\n"
	"  --max-bits B [--metric entropy|exp_golomb|huffman|fixed|zstd]\n"
	"                  the total bits/param after conversion must be <= B\n"
	"  --min-snr DB    every selected tensor must keep at least DB of weight SNR\n"
	"\n"
	"exit codes: 0 ok, 1 internal, 2 usage, 3 invalid model, 4 I/O, 10 gate broken\n",
};
