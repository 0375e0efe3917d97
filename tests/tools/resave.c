/*
 * resave.c - test tool: load a model and save it again, inline, external or
 * as the input had it. Exit codes are ggpack's (0, 2, 3, 4, ...).
 *   resave [--inline|--external] [--force] [--threshold N] IN OUT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggpack.h"

int main(int argc, char **argv)
{
	struct ggpack_save_options o = { 0 };
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--inline"))
			o.data = GGPACK_DATA_INLINE;
		else if (!strcmp(argv[i], "--external"))
			o.data = GGPACK_DATA_EXTERNAL;
		else if (!strcmp(argv[i], "--force"))
			o.force = 1;
		else if (!strcmp(argv[i], "--threshold") && i + 1 < argc)
			o.external_threshold = strtoull(argv[++i], NULL, 10);
		else
			return fprintf(stderr, "resave: unknown option %s\n", argv[i]), 2;
	}
	if (argc - i != 2)
		return fprintf(stderr, "usage: resave [--inline|--external] [--force] IN OUT\n"), 2;
	struct ggpack_ctx *ctx = ggpack_ctx_new();
	struct ggpack_model *m = NULL;
	int rc = ggpack_model_load(ctx, argv[i], &m);
	if (!rc)
		rc = ggpack_model_save(ctx, m, argv[i + 1], &o);
	if (rc)
		fprintf(stderr, "ggpack: %s\n", ggpack_ctx_message(ctx));
	ggpack_model_free(m);
	ggpack_ctx_free(ctx);
	return ggpack_exit_code(rc);
}
