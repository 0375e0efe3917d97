/*
 * gates.c - the CI checks of report (and convert): --max-bits on a total
 * bit rate, --min-snr on every selected tensor. A broken gate prints what
 * broke and makes the command exit 10; the report is still written.
 */
#include <math.h>

#include "cli.h"

static int max_bits_gate(const struct cli_args *a, const json_t *r)
{
	const char *metric = cli_metric_names[a->metric];
	double v = json_real_of(json_object_get(json_object_get(r, "totals"), "bits"), metric);
	if (isnan(v)) {
		fprintf(stderr, "ggpack: --max-bits: the report has no %s total (zstd needs RF8; "
			"nothing selected?)\n", metric);
		return 2;
	}
	if (v > a->max_bits) {
		fprintf(stderr, "ggpack: gate broken: %s %.4f bits/param > --max-bits %g\n", metric, v,
			a->max_bits);
		return 10;
	}
	if (a->verbose)
		fprintf(stderr, "ggpack: gate met: %s %.4f bits/param <= %g\n", metric, v, a->max_bits);
	return 0;
}

/* Every selected tensor must keep min_snr dB; an exact one (null) does. */
static int min_snr_gate(const struct cli_args *a, const json_t *r)
{
	size_t i, broken = 0;
	json_t *x;
	json_array_foreach(json_object_get(r, "tensors"), i, x) {
		double snr = json_real_of(x, "snr_db");
		if (!json_is_true(json_object_get(x, "selected")) || isnan(snr) || snr >= a->min_snr)
			continue;
		fprintf(stderr, "ggpack: gate broken: tensor '%s': SNR %.2f dB < --min-snr %g\n",
			json_string_value(json_object_get(x, "name")), snr, a->min_snr);
		broken++;
	}
	if (!broken && a->verbose)
		fprintf(stderr, "ggpack: gate met: every selected tensor >= %g dB\n", a->min_snr);
	return broken ? 10 : 0;
}

int gates_check_report(const struct cli_args *a, const json_t *r)
{
	int rc = 0, g;
	if (!isnan(a->max_bits) && (g = max_bits_gate(a, r)) > rc)
		rc = g;
	if (!isnan(a->min_snr) && (g = min_snr_gate(a, r)) > rc)
		rc = g;
	return rc;
}
