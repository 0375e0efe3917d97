/*
 * cli.h - what the command files share: the command table entry, and the
 * helpers for usage errors and library errors.
 */
#ifndef GGPACK_CLI_H
#define GGPACK_CLI_H

#include <stdio.h>

#include "ggpack.h"

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *help; /* printed by `ggpack help NAME` and `ggpack NAME --help` */
};

extern const struct cli_command cli_info;

/* Prints "ggpack: CMD: what" and "try --help" on stderr; returns exit 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the library's detail for a failure; returns its exit code. */
int cli_fail(const struct ggpack_ctx *ctx, int code);
/* Prints a command's help to stdout; returns 0. */
int cli_help(const struct cli_command *cmd);

#endif
