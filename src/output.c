/*
 * output.c - what a report says of a written model: the sizes of its model
 * and data files, the model file's sha256, and the zstd size of both as one
 * stream. Taken from the bytes as the save writes them (the model file
 * first), so the output is never read back, and zstd's workers compress
 * while the save is still writing.
 */
#include <stdlib.h>
#include <zstd.h>

#include "convert.h"
#include "sha256.h"

#define ZOUT (1u << 17) /* zstd's output goes here and is counted, not kept */

struct output_digest {
	struct sink_tap model_tap, data_tap;
	struct sha256 sha;
	uint64_t bytes, data_bytes;
	ZSTD_CCtx *zc;          /* NULL: no zstd size */
	uint64_t zstd_bytes;
	uint8_t out[ZOUT];
};

/* Feeds zstd; ZSTD_e_end finishes the frame. A zstd error drops the size. */
static void zstd_feed(struct output_digest *d, const void *p, size_t n, ZSTD_EndDirective op)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;
	do {
		ZSTD_outBuffer o = { d->out, ZOUT, 0 };
		left = ZSTD_compressStream2(d->zc, &o, &in, op);
		if (ZSTD_isError(left)) {
			ZSTD_freeCCtx(d->zc);
			d->zc = NULL;
			return;
		}
		d->zstd_bytes += o.pos;
	} while (in.pos < in.size || (op == ZSTD_e_end && left));
}

static void model_add(void *arg, const void *p, size_t n)
{
	struct output_digest *d = arg;
	sha256_add(&d->sha, p, n);
	d->bytes += n;
	if (d->zc)
		zstd_feed(d, p, n, ZSTD_e_continue);
}

static void data_add(void *arg, const void *p, size_t n)
{
	struct output_digest *d = arg;
	d->data_bytes += n;
	if (d->zc)
		zstd_feed(d, p, n, ZSTD_e_continue);
}

struct output_digest *output_digest_new(int zstd_level, struct save_taps *taps)
{
	struct output_digest *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->model_tap = (struct sink_tap){ model_add, d };
	d->data_tap = (struct sink_tap){ data_add, d };
	sha256_init(&d->sha);
	if ((d->zc = ZSTD_createCCtx())) { /* workers (>= 1) give the same bytes for any count of them */
		ZSTD_CCtx_setParameter(d->zc, ZSTD_c_compressionLevel, zstd_level);
		ZSTD_CCtx_setParameter(d->zc, ZSTD_c_nbWorkers, (int)parallel_threads());
	}
	*taps = (struct save_taps){ &d->model_tap, &d->data_tap };
	return d;
}

void output_digest_finish(struct output_digest *d, struct output_facts *out)
{
	if (d->zc)
		zstd_feed(d, NULL, 0, ZSTD_e_end);
	*out = (struct output_facts){ d->bytes, d->data_bytes, "", d->zc != NULL, d->zstd_bytes };
	sha256_hex(&d->sha, out->sha256);
	output_digest_free(d);
}

void output_digest_free(struct output_digest *d)
{
	if (d)
		ZSTD_freeCCtx(d->zc);
	free(d);
}
