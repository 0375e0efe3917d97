/*
 * external.c - resolves and checks external data: the location is relative
 * to the model's folder and may not leave it (no absolute path, no "..", no
 * symlink pointing out), the file must exist, and offset and length must lie
 * inside it. Each data file is mapped once, however many tensors use it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *external_get(const Onnx__TensorProto *t, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < t->n_external_data; i++)
		if (t->external_data[i]->key && !strcmp(t->external_data[i]->key, key))
			v = t->external_data[i]->value; /* the last one wins, as in onnx */
	return v;
}

/* A decimal integer, the whole string, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool location_is_safe(const char *loc)
{
	if (!*loc || loc[0] == '/' || loc[0] == '\\' || strchr(loc, ':'))
		return false;
	for (const char *p = loc; *p;) {
		size_t n = strcspn(p, "/\\");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		p += *p != 0;
	}
	return true;
}

static char *model_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int ext_fail(struct ggpack_ctx *ctx, int code, const struct ggpack_model *m,
		    const struct index_tensor *t, const char *what, const char *detail)
{
	return ctx_fail(ctx, code, "%s: tensor '%s': external data: %s%s", m->path, t->name, what, detail);
}

/* Opens location (checked) inside dir, or finds it already open. */
static int ext_open(struct ggpack_ctx *ctx, struct ggpack_model *m, const char *dir,
		    const char *dir_real, const struct index_tensor *t, const char *loc, uint32_t *out)
{
	for (size_t i = 0; i < m->n_ext; i++)
		if (!strcmp(m->ext[i].location, loc)) {
			*out = (uint32_t)i;
			return 0;
		}
	if (!location_is_safe(loc))
		return ext_fail(ctx, GGPACK_E_INVALID, m, t, "location leaves the model's folder: ", loc);
	char joined[PATH_MAX], real[PATH_MAX];
	if ((size_t)snprintf(joined, sizeof joined, "%s/%s", dir, loc) >= sizeof joined)
		return ext_fail(ctx, GGPACK_E_INVALID, m, t, "location too long: ", loc);
	if (!realpath(joined, real))
		return ctx_fail(ctx, GGPACK_E_IO, "%s: tensor '%s': external data file %s: %s", m->path,
				t->name, joined, strerror(errno));
	size_t dl = strlen(dir_real);
	if (strncmp(real, dir_real, dl) || (real[dl] != '/' && strcmp(dir_real, "/")))
		return ext_fail(ctx, GGPACK_E_INVALID, m, t, "location leads out of the model's folder: ", loc);
	void *p = realloc(m->ext, (m->n_ext + 1) * sizeof *m->ext);
	if (!p)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	m->ext = p;
	struct ext_file *e = &m->ext[m->n_ext];
	memset(e, 0, sizeof *e);
	if (!(e->location = strdup(loc)) || !(e->path = strdup(joined))) {
		free(e->location);
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	}
	int rc = mapped_open(ctx, e->path, &e->map);
	if (rc) {
		free(e->location);
		free(e->path);
		return ctx_prefix(ctx, rc, "%s: tensor '%s': external data: ", m->path, t->name);
	}
	*out = (uint32_t)m->n_ext++;
	return 0;
}

static int ext_tensor(struct ggpack_ctx *ctx, struct ggpack_model *m, const char *dir,
		      const char *dir_real, struct index_tensor *t)
{
	const char *loc = external_get(t->proto, "location");
	const char *off_s = external_get(t->proto, "offset"), *len_s = external_get(t->proto, "length");
	uint64_t off = 0, len = t->bytes;
	if (!loc)
		return ext_fail(ctx, GGPACK_E_INVALID, m, t, "no location", "");
	if ((off_s && !parse_u64(off_s, &off)) || (len_s && !parse_u64(len_s, &len)))
		return ext_fail(ctx, GGPACK_E_INVALID, m, t, "offset or length is not a number", "");
	int rc = ext_open(ctx, m, dir, dir_real, t, loc, &t->ext_file);
	if (rc)
		return rc;
	const struct mapped_file *f = &m->ext[t->ext_file].map;
	char detail[160];
	if (len != t->bytes) {
		snprintf(detail, sizeof detail, "length %llu, its dims need %llu bytes",
			 (unsigned long long)len, (unsigned long long)t->bytes);
		return ext_fail(ctx, GGPACK_E_INVALID, m, t, detail, "");
	}
	if (off > f->size || len > f->size - off) {
		snprintf(detail, sizeof detail, "offset %llu + length %llu runs past the end of %s (%zu bytes)",
			 (unsigned long long)off, (unsigned long long)len, loc, f->size);
		return ext_fail(ctx, GGPACK_E_IO, m, t, detail, "");
	}
	t->ext_offset = off;
	t->data = f->data ? f->data + off : NULL;
	return 0;
}

int external_resolve(struct ggpack_ctx *ctx, struct ggpack_model *m)
{
	char *dir = model_dir(m->path), dir_real[PATH_MAX];
	int rc = 0;
	if (!dir)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	bool any = false;
	for (size_t i = 0; i < m->n_tensors; i++)
		any |= m->tensors[i].storage == GGPACK_STORAGE_EXTERNAL;
	if (any && !realpath(dir, dir_real))
		rc = ctx_fail(ctx, GGPACK_E_IO, "%s: cannot resolve its folder: %s", m->path, strerror(errno));
	for (size_t i = 0; any && !rc && i < m->n_tensors; i++)
		if (m->tensors[i].storage == GGPACK_STORAGE_EXTERNAL)
			rc = ext_tensor(ctx, m, dir, dir_real, &m->tensors[i]);
	free(dir);
	return rc;
}

void external_free(struct ggpack_model *m)
{
	for (size_t i = 0; i < m->n_ext; i++) {
		mapped_close(&m->ext[i].map);
		free(m->ext[i].location);
		free(m->ext[i].path);
	}
	free(m->ext);
	m->ext = NULL;
	m->n_ext = 0;
}
