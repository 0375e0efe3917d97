/*
 * save.c - writing a model: the original bytes with per-tensor edits
 * (splice.c), tensor data inline or in one fresh data file beside the
 * output, both written to temporary files and renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define DATA_ALIGN 4096
#define PROTOBUF_LIMIT 0x7fffffffu /* protobuf refuses messages of 2 GiB and more */

struct ext_chunk {
	const uint8_t *data;
	uint64_t len, offset;
	bool mapped;       /* from a read-only file mapping: its pages go once written */
};

struct save_plan {
	struct splice_edit *edits;
	size_t n_edits, cap_edits;
	struct splice_piece *pieces;   /* 3 per tensor */
	uint8_t (*hdr)[16];            /* per tensor: raw_data tag and length */
	uint8_t **owned;               /* per tensor: converted data, packed fields */
	struct ext_chunk *chunks;
	size_t n_chunks;
	uint64_t data_size;
	const char *data_name;         /* location written into the model */
	const struct save_change *changes; /* per tensor, or NULL */
};

static void plan_free(struct save_plan *p, size_t n_tensors)
{
	for (size_t i = 0; p->owned && i < 2 * n_tensors; i++)
		free(p->owned[i]);
	free(p->owned);
	free(p->edits);
	free(p->pieces);
	free(p->hdr);
	free(p->chunks);
	memset(p, 0, sizeof *p);
}

static int plan_alloc(struct save_plan *p, size_t n, const struct save_changes *ch)
{
	memset(p, 0, sizeof *p);
	p->changes = ch ? ch->tensors : NULL;
	p->pieces = calloc(3 * n + 1, sizeof *p->pieces);
	p->hdr = calloc(n + 1, sizeof *p->hdr);
	p->owned = calloc(2 * n + 1, sizeof *p->owned);
	p->chunks = calloc(n + 1, sizeof *p->chunks);
	if (!p->pieces || !p->hdr || !p->owned || !p->chunks)
		return GGPACK_E_NOMEM;
	for (size_t i = 0; ch && i < ch->n_edits; i++) {
		if (grow_array(&p->edits, &p->cap_edits, p->n_edits, sizeof *p->edits))
			return GGPACK_E_NOMEM;
		p->edits[p->n_edits++] = ch->edits[i];
	}
	return 0;
}

static int plan_edit(struct save_plan *p, struct splice_edit e)
{
	if (grow_array(&p->edits, &p->cap_edits, p->n_edits, sizeof *p->edits))
		return GGPACK_E_NOMEM;
	p->edits[p->n_edits++] = e;
	return 0;
}

/* The change planned for tensor i, or NULL when it keeps its contents. */
static const struct save_change *change_of(const struct save_plan *p, size_t i)
{
	return p->changes && p->changes[i].data ? &p->changes[i] : NULL;
}

/* Typed fields as the little-endian bytes raw_data would hold: each value
 * of the typed array in the element's width (a float32 part of a complex64,
 * an int32 holding a float16, ...). NULL when out of memory or for a type
 * kept typed (strings, 4-bit types). */
static uint8_t *typed_to_raw(const Onnx__TensorProto *t, uint64_t bytes)
{
	int bits = tensor_dtype_bits(t->data_type);
	size_t count, width = (size_t)bits / 8;
	if (bits <= 0 || bits == 4)
		return NULL;
	if (t->n_float_data)
		count = t->n_float_data, width = 4;
	else if (t->n_double_data)
		count = t->n_double_data, width = 8;
	else if (t->n_int64_data)
		count = t->n_int64_data;
	else if (t->n_uint64_data)
		count = t->n_uint64_data;
	else
		count = t->n_int32_data;
	uint8_t *out = count * width == bytes ? malloc(bytes ? bytes : 1) : NULL;
	for (size_t i = 0; out && i < count; i++) {
		uint64_t u;
		if (t->n_float_data) {
			uint32_t x;
			memcpy(&x, &t->float_data[i], 4);
			u = x;
		} else if (t->n_double_data) {
			memcpy(&u, &t->double_data[i], 8);
		} else if (t->n_int64_data) {
			u = (uint64_t)t->int64_data[i];
		} else if (t->n_uint64_data) {
			u = t->uint64_data[i];
		} else {
			u = (uint32_t)t->int32_data[i];
		}
		for (size_t k = 0; k < width; k++)
			out[i * width + k] = (uint8_t)(u >> (8 * k));
	}
	return out;
}

/* Where a tensor's data goes, and what its fields become. */
struct tensor_plan {
	const struct index_tensor *t;
	const struct save_change *change;
	bool external;
};

static bool is_data_field(uint32_t number)
{
	return number == 4 || number == 5 || number == 7 || number == 9 || number == 10 ||
	       number == 11;
}

static bool drop_field(uint32_t number, const struct tensor_plan *tp)
{
	if (number == 13 || number == 14)
		return true; /* external_data, data_location: rewritten */
	if (tp->change && ((number == 2 && tp->change->dtype) || (number == 8 && tp->change->name)))
		return true;
	return (tp->external || tp->change) && is_data_field(number);
}

/* Edits removing the fields a tensor's new storage replaces. */
static int plan_drops(struct save_plan *p, const struct ggpack_model *m, const struct tensor_plan *tp)
{
	uint32_t r = tp->t->region;
	const struct wire_region *g = &m->scan.regions[r];
	struct wire_field f;
	size_t pos = g->start;
	int rc = 0;
	/* The skeleton dropped raw_data from the parse, not from the file:
	 * walk the file's own bytes. */
	while (!rc && pos < g->end && wire_next_field(m->file.data, &pos, g->end, &f))
		if (drop_field(f.number, tp))
			rc = plan_edit(p, (struct splice_edit){ r, f.off, f.end, NULL, 0 });
	return rc;
}

/* The fields appended to a tensor: a new type and name, and where its
 * external data lies. Packed by protobuf-c into an owned buffer. */
static int pack_fields(struct save_plan *p, const struct tensor_plan *tp, uint64_t off,
		       uint64_t bytes, uint8_t **out, size_t *len)
{
	char off_s[24], len_s[24];
	snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)off);
	snprintf(len_s, sizeof len_s, "%llu", (unsigned long long)bytes);
	Onnx__StringStringEntryProto e[3] = { ONNX__STRING_STRING_ENTRY_PROTO__INIT,
		ONNX__STRING_STRING_ENTRY_PROTO__INIT, ONNX__STRING_STRING_ENTRY_PROTO__INIT };
	Onnx__StringStringEntryProto *ep[3] = { &e[0], &e[1], &e[2] };
	e[0].key = "location"; e[0].value = (char *)(uintptr_t)p->data_name;
	e[1].key = "offset"; e[1].value = off_s;
	e[2].key = "length"; e[2].value = len_s;
	Onnx__TensorProto fields = ONNX__TENSOR_PROTO__INIT;
	if (tp->change && tp->change->dtype)
		fields.has_data_type = 1, fields.data_type = tp->change->dtype;
	if (tp->change && tp->change->name)
		fields.name = (char *)(uintptr_t)tp->change->name;
	if (tp->external) {
		fields.n_external_data = 3;
		fields.external_data = ep;
		fields.has_data_location = 1;
		fields.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	}
	*len = protobuf_c_message_get_packed_size(&fields.base);
	if (!(*out = malloc(*len ? *len : 1)))
		return GGPACK_E_NOMEM;
	protobuf_c_message_pack(&fields.base, *out);
	return 0;
}

/* The bytes of a tensor's elements in raw form, from wherever they are. */
static int source_of(struct save_plan *p, const struct tensor_plan *tp, size_t i,
		     const uint8_t **data, uint64_t *bytes)
{
	*data = tp->change ? tp->change->data : tp->t->data;
	*bytes = tp->change ? tp->change->bytes : tp->t->bytes;
	if (!tp->change && tp->t->storage == GGPACK_STORAGE_TYPED &&
	    !(*data = p->owned[2 * i] = typed_to_raw(tp->t->proto, tp->t->bytes)))
		return GGPACK_E_NOMEM;
	return 0;
}

/* Rewrites tensor i: drops the fields its new form replaces and appends
 * the new ones, with the data inline as raw_data or at the next aligned
 * offset of the data file. */
static int plan_tensor(struct save_plan *p, const struct ggpack_model *m, size_t i,
		       const struct tensor_plan *tp)
{
	const uint8_t *data;
	uint64_t bytes, off = 0;
	size_t len;
	int rc = source_of(p, tp, i, &data, &bytes);
	bool mapped = !rc && (tp->change ? tp->change->mapped : model_tensor_mapped(m, tp->t));
	if (!rc && tp->external) {
		off = (p->data_size + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
		p->chunks[p->n_chunks++] = (struct ext_chunk){ data, bytes, off, mapped };
		p->data_size = off + bytes;
	}
	if (!rc)
		rc = pack_fields(p, tp, off, bytes, &p->owned[2 * i + 1], &len);
	if (!rc)
		rc = plan_drops(p, m, tp);
	if (rc)
		return rc;
	struct splice_piece *pc = &p->pieces[3 * i];
	uint8_t *h = p->hdr[i];
	size_t hl = 0, n = 1;
	pc[0] = (struct splice_piece){ p->owned[2 * i + 1], len, false };
	if (!tp->external) {
		h[hl++] = (9 << 3) | 2;
		hl += wire_put_varint(h + hl, bytes);
		pc[n++] = (struct splice_piece){ h, hl, false };
		pc[n++] = (struct splice_piece){ data, bytes, mapped };
	}
	size_t end = m->scan.regions[tp->t->region].end;
	return plan_edit(p, (struct splice_edit){ tp->t->region, end, end, pc, n });
}

static bool wants_external(const struct index_tensor *t, const struct save_change *c,
			   size_t threshold)
{
	if (c)
		return c->bytes >= threshold;
	int bits = tensor_dtype_bits(t->proto->data_type);
	return t->storage != GGPACK_STORAGE_NONE && bits > 0 && t->bytes >= threshold &&
	       !(bits == 4 && t->storage == GGPACK_STORAGE_TYPED);
}

static int plan_build(struct save_plan *p, const struct ggpack_model *m, bool external,
		      size_t threshold)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		const struct index_tensor *t = &m->tensors[i];
		struct tensor_plan tp = { t, change_of(p, i), false };
		tp.external = external && wants_external(t, tp.change, threshold);
		if (tp.change || tp.external || t->storage == GGPACK_STORAGE_EXTERNAL)
			rc = plan_tensor(p, m, i, &tp);
	}
	return rc;
}

/* ---- files ----------------------------------------------------------- */

static bool same_file(const struct stat *st, const struct mapped_file *f)
{
	return st->st_dev == f->dev && st->st_ino == f->ino;
}

static int check_target(struct ggpack_ctx *ctx, const struct ggpack_model *m, const char *path,
			bool force)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : ctx_fail(ctx, GGPACK_E_IO, "%s: %s", path, strerror(errno));
	bool input = same_file(&st, &m->file);
	for (size_t i = 0; i < m->n_ext; i++)
		input |= same_file(&st, &m->ext[i].map);
	if (input)
		return ctx_fail(ctx, GGPACK_E_USAGE, "%s: is the input model or its data; ggpack never "
				"writes its input", path);
	if (!force)
		return ctx_fail(ctx, GGPACK_E_USAGE, "%s: exists (use --force to replace it)", path);
	return 0;
}

static int open_temp(struct ggpack_ctx *ctx, const char *path, char **tmp)
{
	size_t len = strlen(path) + 16;
	if (!(*tmp = malloc(len)))
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	snprintf(*tmp, len, "%s.tmp-XXXXXX", path);
	int fd = mkstemp(*tmp);
	if (fd < 0) {
		int rc = ctx_fail(ctx, GGPACK_E_IO, "%s: cannot create a file there: %s", path, strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return rc;
	}
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask); /* mkstemp makes 0600; outputs get the usual mode */
	return fd;
}

/* Frees the sink and reports how writing to path ended. */
static int sink_finish(struct ggpack_ctx *ctx, struct splice_sink *sink, int rc, const char *path)
{
	if (rc == GGPACK_E_IO)
		rc = ctx_fail(ctx, rc, "%s: write failed: %s", path, strerror(sink->err));
	else if (rc)
		rc = ctx_fail(ctx, rc, "%s: %s", path, ggpack_strerror(rc));
	splice_sink_free(sink);
	return rc;
}

static int write_data_file(struct ggpack_ctx *ctx, const struct save_plan *p, int fd,
			   const char *path, const struct sink_tap *tap)
{
	static const uint8_t zeros[DATA_ALIGN];
	struct splice_sink sink;
	splice_sink_init_fd(&sink, fd);
	sink.tap = tap;
	int rc = 0;
	for (size_t i = 0; !rc && i < p->n_chunks; i++) {
		if (p->chunks[i].offset > sink.written)
			rc = splice_sink_write(&sink, zeros, (size_t)(p->chunks[i].offset - sink.written));
		if (!rc)
			rc = splice_sink_write(&sink, p->chunks[i].data, p->chunks[i].len);
		if (!rc && p->chunks[i].mapped) /* written (or copied to the sink): memory stays flat */
			mapped_release(p->chunks[i].data, p->chunks[i].len);
	}
	if (!rc)
		rc = splice_sink_flush(&sink);
	return sink_finish(ctx, &sink, rc, path);
}

static int write_model_file(struct ggpack_ctx *ctx, const struct ggpack_model *m,
			    const struct save_plan *p, int fd, const char *path, const struct sink_tap *tap)
{
	struct splice_sink sink;
	splice_sink_init_fd(&sink, fd);
	sink.tap = tap;
	sink.release_orig = !m->borrowed;
	int rc = splice_write(&m->scan, m->file.data, m->file.size, p->edits, p->n_edits, &sink);
	return sink_finish(ctx, &sink, rc, path);
}

static char *data_path_for(const char *path)
{
	size_t len = strlen(path) + 6;
	char *s = malloc(len);
	if (s)
		snprintf(s, len, "%s.data", path);
	return s;
}

/* Decides inline or external: AUTO follows the input, and goes external
 * when the inline output would pass the protobuf limit. */
static int choose_external(struct ggpack_ctx *ctx, const struct ggpack_model *m,
			   const struct ggpack_save_options *o, const struct save_changes *ch,
			   const char *path, bool *external)
{
	struct save_plan p;
	uint64_t size = 0;
	if (o->data == GGPACK_DATA_EXTERNAL || (o->data == GGPACK_DATA_AUTO && m->n_ext)) {
		*external = true;
		return 0;
	}
	int rc = plan_alloc(&p, m->n_tensors, ch);
	if (!rc)
		rc = plan_build(&p, m, false, 0);
	if (!rc)
		rc = splice_size(&m->scan, m->file.data, m->file.size, p.edits, p.n_edits, &size);
	plan_free(&p, m->n_tensors);
	if (rc)
		return ctx_fail(ctx, rc, "%s: %s", path, ggpack_strerror(rc));
	*external = size > PROTOBUF_LIMIT;
	if (*external && o->data == GGPACK_DATA_INLINE)
		return ctx_fail(ctx, GGPACK_E_INVALID, "%s: an inline model of %llu bytes passes protobuf's "
				"2 GiB limit; save with external data", path, (unsigned long long)size);
	return 0;
}

struct save_files {
	char *data_path, *data_tmp, *model_tmp;
	int data_fd, model_fd;
};

static void files_cleanup(struct save_files *f)
{
	if (f->data_fd >= 0)
		close(f->data_fd);
	if (f->model_fd >= 0)
		close(f->model_fd);
	if (f->data_tmp)
		unlink(f->data_tmp);
	if (f->model_tmp)
		unlink(f->model_tmp);
	free(f->data_tmp);
	free(f->model_tmp);
	free(f->data_path);
}

static int close_and_rename(struct ggpack_ctx *ctx, int *fd, char **tmp, const char *path)
{
	int rc = close(*fd);
	*fd = -1;
	if (rc < 0)
		return ctx_fail(ctx, GGPACK_E_IO, "%s: write failed: %s", path, strerror(errno));
	if (rename(*tmp, path) < 0)
		return ctx_fail(ctx, GGPACK_E_IO, "%s: cannot rename into place: %s", path, strerror(errno));
	free(*tmp);
	*tmp = NULL;
	return 0;
}

/* Both into temporary files, the model file first (the order a digest of
 * the two as one stream reads them in); then renamed into place. */
static int save_files(struct ggpack_ctx *ctx, const struct ggpack_model *m, const char *path,
		      const struct save_plan *p, const struct save_taps *taps, struct save_files *f)
{
	int rc = 0;
	if ((f->model_fd = open_temp(ctx, path, &f->model_tmp)) < 0)
		return f->model_fd;
	if ((rc = write_model_file(ctx, m, p, f->model_fd, path, taps ? taps->model : NULL)))
		return rc;
	if (f->data_path) {
		if ((f->data_fd = open_temp(ctx, f->data_path, &f->data_tmp)) < 0)
			return f->data_fd;
		if ((rc = write_data_file(ctx, p, f->data_fd, f->data_path, taps ? taps->data : NULL)))
			return rc;
	}
	/* data first: a model never names a data file that is not in place */
	if (f->data_path && (rc = close_and_rename(ctx, &f->data_fd, &f->data_tmp, f->data_path)))
		return rc;
	if ((rc = close_and_rename(ctx, &f->model_fd, &f->model_tmp, path)) && f->data_path)
		unlink(f->data_path);
	return rc;
}

int save_model(struct ggpack_ctx *ctx, const struct ggpack_model *m, const char *path,
	       const struct ggpack_save_options *options, const struct save_changes *ch,
	       const struct save_taps *taps)
{
	struct ggpack_save_options o = options ? *options : (struct ggpack_save_options){ 0 };
	struct save_files f = { .data_fd = -1, .model_fd = -1 };
	struct save_plan p = { 0 };
	bool external = false;
	int rc = check_target(ctx, m, path, o.force);
	if (!rc)
		rc = choose_external(ctx, m, &o, ch, path, &external);
	if (!rc && external && !(f.data_path = data_path_for(path)))
		rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	if (!rc && external)
		rc = check_target(ctx, m, f.data_path, o.force);
	if (!rc && plan_alloc(&p, m->n_tensors, ch))
		rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	if (!rc) {
		const char *slash = f.data_path ? strrchr(f.data_path, '/') : NULL;
		p.data_name = slash ? slash + 1 : f.data_path;
		if (plan_build(&p, m, external, o.external_threshold ? o.external_threshold : 1024))
			rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", path);
	}
	if (!rc)
		rc = save_files(ctx, m, path, &p, taps, &f);
	files_cleanup(&f);
	plan_free(&p, m->n_tensors);
	return rc;
}

int ggpack_model_save(struct ggpack_ctx *ctx, const struct ggpack_model *m, const char *path,
		      const struct ggpack_save_options *options)
{
	return save_model(ctx, m, path, options, NULL, NULL);
}
