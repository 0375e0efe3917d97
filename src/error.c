/*
 * error.c - the context, its error detail, and the one list of error strings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

struct ggpack_ctx *ggpack_ctx_new(void)
{
	return calloc(1, sizeof(struct ggpack_ctx));
}

void ggpack_ctx_free(struct ggpack_ctx *ctx)
{
	free(ctx);
}

const char *ggpack_ctx_message(const struct ggpack_ctx *ctx)
{
	return ctx ? ctx->message : "";
}

int ctx_fail(struct ggpack_ctx *ctx, int code, const char *fmt, ...)
{
	if (ctx) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
		va_end(ap);
	}
	return code;
}

int ctx_prefix(struct ggpack_ctx *ctx, int code, const char *fmt, ...)
{
	if (ctx) {
		char detail[sizeof ctx->message];
		snprintf(detail, sizeof detail, "%s", ctx->message);
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof ctx->message)
			snprintf(ctx->message + n, sizeof ctx->message - (size_t)n, "%s", detail);
	}
	return code;
}

const char *ggpack_strerror(int code)
{
	switch (code) {
	case GGPACK_OK: return "success";
	case GGPACK_E_INTERNAL: return "internal error";
	case GGPACK_E_USAGE: return "usage error";
	case GGPACK_E_INVALID: return "not a valid or supported ONNX model";
	case GGPACK_E_IO: return "I/O error";
	case GGPACK_E_NOMEM: return "out of memory";
	case GGPACK_E_GATE: return "a gate failed";
	default: return "unknown error";
	}
}

int ggpack_exit_code(int code)
{
	if (code >= 0)
		return 0;
	switch (code) {
	case GGPACK_E_USAGE: case GGPACK_E_INVALID: case GGPACK_E_IO: case GGPACK_E_GATE:
		return -code;
	default:
		return 1;
	}
}
