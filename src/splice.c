/*
 * splice.c - writes a file as its original bytes with edits applied: a byte
 * range replaced, removed or inserted inside some message, and the length
 * prefix of every enclosing message rewritten. Everything else is copied
 * verbatim, which is why a model saved unchanged is byte-identical, unknown
 * fields and field order included, and why no protobuf tree of the whole
 * model (with every weight copied) is ever packed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SINK_BUF (1u << 20)

void splice_sink_init_fd(struct splice_sink *sink, int fd)
{
	memset(sink, 0, sizeof *sink);
	sink->fd = fd;
}

void splice_sink_init_mem(struct splice_sink *sink)
{
	memset(sink, 0, sizeof *sink);
	sink->fd = -1;
}

static int write_all(struct splice_sink *s, const uint8_t *p, size_t len)
{
	if (s->tap)
		s->tap->add(s->tap->arg, p, len);
	while (len) {
		ssize_t n = write(s->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->err = n < 0 ? errno : EIO;
			return GGPACK_E_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sink_reserve(struct splice_sink *s, size_t more)
{
	if (s->cap - s->len >= more)
		return 0;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap - s->len < more) {
		if (cap > SIZE_MAX / 2)
			return GGPACK_E_NOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(s->buf, cap);
	if (!p)
		return GGPACK_E_NOMEM;
	s->buf = p;
	s->cap = cap;
	return 0;
}

int splice_sink_flush(struct splice_sink *s)
{
	if (s->fd < 0 || !s->len)
		return s->err ? GGPACK_E_IO : 0;
	int rc = write_all(s, s->buf, s->len);
	s->len = 0;
	return rc;
}

int splice_sink_write(struct splice_sink *s, const void *data, size_t len)
{
	if (s->err)
		return GGPACK_E_IO;
	s->written += len;
	if (s->fd >= 0 && len >= SINK_BUF / 4) {
		/* large payloads (tensor data) go straight from the mapping */
		int rc = splice_sink_flush(s);
		if (!rc)
			mapped_prefault(data, len);
		return rc ? rc : write_all(s, data, len);
	}
	if (s->fd >= 0 && s->cap - s->len < len) {
		int rc = splice_sink_flush(s);
		if (rc)
			return rc;
	}
	if (sink_reserve(s, s->fd >= 0 ? SINK_BUF : len))
		return GGPACK_E_NOMEM;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

void splice_sink_free(struct splice_sink *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

/* ---- planning -------------------------------------------------------- */

struct planned_edit {
	const struct splice_edit *e;
	uint32_t container;
	size_t order; /* position in the caller's array: inserts at one point keep it */
};

struct plan {
	const struct wire_scan *scan;
	struct planned_edit *edits;       /* sorted by (container, begin) */
	size_t n;
	uint64_t *new_len;                /* per region; valid where dirty */
	uint8_t *dirty;
	size_t *first_edit;               /* per region: its first edit, or n */
};

static uint64_t pieces_len(const struct splice_edit *e)
{
	uint64_t n = 0;
	for (size_t i = 0; i < e->n_pieces; i++)
		n += e->pieces[i].len;
	return n;
}

static int cmp_by_offset(const void *a, const void *b)
{
	const struct planned_edit *x = a, *y = b;
	if (x->e->begin != y->e->begin)
		return x->e->begin < y->e->begin ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_by_container(const void *a, const void *b)
{
	const struct planned_edit *x = a, *y = b;
	if (x->container != y->container)
		return x->container < y->container ? -1 : 1;
	return cmp_by_offset(a, b);
}

static void plan_free(struct plan *p)
{
	free(p->edits);
	free(p->new_len);
	free(p->dirty);
	free(p->first_edit);
}

/* Sorts the edits, refuses overlapping ones, and sizes every dirty region. */
static int plan_edits(struct plan *p, const struct splice_edit *edits)
{
	const struct wire_scan *s = p->scan;
	for (size_t i = 0; i < p->n; i++)
		p->edits[i] = (struct planned_edit){ &edits[i], edits[i].region, i };
	qsort(p->edits, p->n, sizeof *p->edits, cmp_by_offset);
	for (size_t i = 0; i < p->n; i++) {
		const struct splice_edit *e = p->edits[i].e;
		uint32_t r = p->edits[i].container;
		if (e->end < e->begin || r >= s->n_regions || e->begin < s->regions[r].start ||
		    e->end > s->regions[r].end || (i && p->edits[i - 1].e->end > e->begin))
			return GGPACK_E_INTERNAL; /* outside its region, or overlapping */
	}
	qsort(p->edits, p->n, sizeof *p->edits, cmp_by_container);
	for (size_t r = 0; r < s->n_regions; r++) {
		p->first_edit[r] = p->n;
		p->new_len[r] = s->regions[r].end - s->regions[r].start;
	}
	for (size_t i = p->n; i-- > 0;) {
		const struct splice_edit *e = p->edits[i].e;
		uint32_t r = p->edits[i].container;
		p->first_edit[r] = i;
		p->new_len[r] += pieces_len(e) - (e->end - e->begin);
		for (; r != NONE && !p->dirty[r]; r = s->regions[r].parent)
			p->dirty[r] = 1;
	}
	return 0;
}

static int plan_make(struct plan *p, const struct wire_scan *s, const struct splice_edit *edits,
		     size_t n)
{
	memset(p, 0, sizeof *p);
	p->scan = s;
	p->n = n;
	p->edits = calloc(n ? n : 1, sizeof *p->edits);
	p->new_len = calloc(s->n_regions, sizeof *p->new_len);
	p->dirty = calloc(s->n_regions, 1);
	p->first_edit = malloc(s->n_regions * sizeof *p->first_edit);
	if (!p->edits || !p->new_len || !p->dirty || !p->first_edit)
		return GGPACK_E_NOMEM;
	int rc = plan_edits(p, edits);
	if (rc)
		return rc;
	/* children come after their parent in pre-order: fold sizes upward */
	for (size_t r = s->n_regions; r-- > 1;) {
		const struct wire_region *g = &s->regions[r];
		if (!p->dirty[r])
			continue;
		uint64_t old_size = g->end - g->field_off;
		uint64_t new_size = (g->len_off - g->field_off) + wire_varint_size(p->new_len[r]) +
				    p->new_len[r];
		p->new_len[g->parent] += new_size - old_size;
	}
	return 0;
}

int splice_size(const struct wire_scan *scan, const uint8_t *orig, size_t orig_len,
		const struct splice_edit *edits, size_t n_edits, uint64_t *size)
{
	struct plan p;
	int rc = plan_make(&p, scan, edits, n_edits);
	if (!rc)
		*size = p.new_len[0];
	plan_free(&p);
	return rc;
}

/* ---- writing --------------------------------------------------------- */

/* The original's whole pages below `to`, once copied, leave the process: a
 * kernel that maps the page cache a large folio at a time would otherwise
 * keep megabytes of tensor data around every header it copies. orig is the
 * mapping's start, so it is page-aligned. */
static void release_copied(struct splice_sink *sink, const uint8_t *orig, size_t to)
{
	if (!sink->release_orig)
		return;
	long page = sysconf(_SC_PAGESIZE);
	size_t upto = page > 0 ? to & ~((size_t)page - 1) : 0;
	if (upto > sink->orig_released) {
		mapped_release(orig + sink->orig_released, upto - sink->orig_released);
		sink->orig_released = upto;
	}
}

static int copy_range(struct splice_sink *sink, const uint8_t *orig, size_t from, size_t to)
{
	int rc = to > from ? splice_sink_write(sink, orig + from, to - from) : 0;
	if (!rc)
		release_copied(sink, orig, to);
	return rc;
}

static int write_edit(struct splice_sink *sink, const struct splice_edit *e)
{
	for (size_t i = 0; i < e->n_pieces; i++) {
		int rc = splice_sink_write(sink, e->pieces[i].data, e->pieces[i].len);
		if (rc)
			return rc;
		if (e->pieces[i].mapped) /* written or copied: memory stays flat */
			mapped_release(e->pieces[i].data, e->pieces[i].len);
	}
	return 0;
}

/* Writes the payload of dirty region r: its bytes, with its own edits and
 * its dirty children (each with a new length prefix) merged in order. */
static int write_region(const struct plan *p, const uint8_t *orig, uint32_t r,
			struct splice_sink *sink)
{
	const struct wire_region *g = &p->scan->regions[r];
	size_t pos = g->start, ei = p->first_edit[r];
	uint32_t c = g->first_child;
	int rc = 0;
	for (;;) {
		while (c != NONE && !p->dirty[c])
			c = p->scan->regions[c].next_sibling;
		bool edit_ok = ei < p->n && p->edits[ei].container == r;
		if (!edit_ok && c == NONE)
			break;
		if (edit_ok && (c == NONE || p->edits[ei].e->begin <= p->scan->regions[c].field_off)) {
			const struct splice_edit *e = p->edits[ei++].e;
			if ((rc = copy_range(sink, orig, pos, e->begin)) || (rc = write_edit(sink, e)))
				return rc;
			pos = e->end;
			continue;
		}
		const struct wire_region *k = &p->scan->regions[c];
		uint8_t len[10];
		if ((rc = copy_range(sink, orig, pos, k->len_off)) ||
		    (rc = splice_sink_write(sink, len, wire_put_varint(len, p->new_len[c]))) ||
		    (rc = write_region(p, orig, c, sink)))
			return rc;
		pos = k->end;
		c = k->next_sibling;
	}
	return copy_range(sink, orig, pos, g->end);
}

int splice_write(const struct wire_scan *scan, const uint8_t *orig, size_t orig_len,
		 const struct splice_edit *edits, size_t n_edits, struct splice_sink *sink)
{
	struct plan p;
	int rc = plan_make(&p, scan, edits, n_edits);
	if (!rc)
		rc = p.dirty[0] ? write_region(&p, orig, 0, sink) : copy_range(sink, orig, 0, orig_len);
	if (!rc)
		rc = splice_sink_flush(sink);
	plan_free(&p);
	return rc;
}
