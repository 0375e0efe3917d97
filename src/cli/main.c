/*
 * main.c - the ggpack command: parses the command name and dispatches
 * through the command table; every command lives in its own file.
 */
#include <libgen.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const struct cli_command *const commands[] = { &cli_convert, &cli_report, &cli_diff, &cli_tune, &cli_init, &cli_info };
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ggpack: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'ggpack %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
	return 2;
}

int cli_check_output(const struct cli_args *a, const char *cmd)
{
	if (!a->force && access(a->output, F_OK) == 0)
		return cli_usage_error(cmd, "%s exists (use --force to replace it)", a->output);
	/* its folder must be there: found now, not after the whole conversion */
	char *copy = strdup(a->output);
	const char *dir = copy ? dirname(copy) : NULL;
	struct stat st;
	int rc = 0;
	if (!dir)
		rc = (fputs("ggpack: out of memory\n", stderr), 1);
	else if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		rc = (fprintf(stderr, "ggpack: %s: cannot write there: %s is not a folder\n", a->output, dir), 4);
	free(copy);
	return rc;
}

int cli_fail(const struct ggpack_ctx *ctx, int code)
{
	const char *msg = ggpack_ctx_message(ctx);
	fprintf(stderr, "ggpack: %s\n", *msg ? msg : ggpack_strerror(code));
	return ggpack_exit_code(code);
}

int cli_help(const struct cli_command *cmd)
{
	fputs(cmd->help, stdout);
	return 0;
}

static void print_usage(FILE *out)
{
	fprintf(out, "usage: ggpack <command> [options] INPUT [-o OUTPUT]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\n`ggpack help CMD` or `ggpack CMD --help` for a command's options.\n"
		     "exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid or unsupported model,\n"
		     "4 I/O error, 10 a gate failed.\n");
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
	/* One malloc arena: the library's workers allocate a few large blocks
	 * per tensor (no contention to speak of), and what a worker's arena
	 * keeps after its thread ends would stay in the RSS until exit (up to
	 * 8 MiB each); the main arena's is given back (ggpack_convert). */
	mallopt(M_ARENA_MAX, 1);
#endif
	if (argc < 2)
		return print_usage(stderr), 2;
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		return print_usage(stdout), 0;
	if (!strcmp(name, "--version"))
		return puts("ggpack " GGPACK_VERSION), 0;
	if (!strcmp(name, "help")) {
		if (argc < 3)
			return print_usage(stdout), 0;
		const struct cli_command *c = find_command(argv[2]);
		return c ? cli_help(c) : cli_usage_error(NULL, "no command '%s'", argv[2]);
	}
	const struct cli_command *c = find_command(name);
	if (!c)
		return cli_usage_error(NULL, "no command '%s'", name);
	return c->run(argc - 1, argv + 1);
}
