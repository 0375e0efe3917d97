/*
 * table.c - tables of strings, printed aligned for people (text) or as
 * Markdown, so that every command's tables look alike.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

struct table {
	size_t n_cols, n_lines, cap_lines;
	char **cells;     /* n_lines x n_cols, line 0 the headers */
};

/* A copy of a cell with control characters (a newline in a tensor's name)
 * shown as '?': one cell, one line, its width kept. */
static char *printable(const char *s)
{
	char *c = strdup(s);
	for (char *p = c; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

void table_put_text(FILE *out, const char *s, int width)
{
	char *c = printable(s ? s : "");
	fprintf(out, "%-*s", width, c ? c : "");
	free(c);
}

/* Markdown: a '|' inside a cell would end it. */
static void md_cell(FILE *out, const char *s)
{
	fputs("| ", out);
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc(' ', out);
}

static int add_row(struct table *t, const char *const *cells)
{
	if (t->n_lines >= t->cap_lines) {
		size_t cap = t->cap_lines ? 2 * t->cap_lines : 16;
		char **c = realloc(t->cells, cap * t->n_cols * sizeof *c);
		if (!c)
			return -1;
		t->cells = c, t->cap_lines = cap;
	}
	char **row = t->cells + t->n_lines++ * t->n_cols;
	for (size_t k = 0; k < t->n_cols; k++)
		row[k] = printable(cells[k] ? cells[k] : "");
	return 0;
}

struct table *table_new(size_t n, const char *const *headers)
{
	struct table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->n_cols = n;
	if (add_row(t, headers)) {
		free(t);
		return NULL;
	}
	return t;
}

void table_row(struct table *t, const char *const *cells)
{
	if (t)
		add_row(t, cells);
}

static const char *cell(const struct table *t, size_t r, size_t k)
{
	const char *s = t->cells[r * t->n_cols + k];
	return s ? s : "";
}

/* Numbers, shapes and "-" align right; words align left. */
static int numeric_column(const struct table *t, size_t k)
{
	for (size_t r = 1; r < t->n_lines; r++) {
		const char *s = cell(t, r, k);
		if (*s && !strchr("0123456789-+.[", *s))
			return 0;
	}
	return 1;
}

void table_print(FILE *out, const struct table *t, int md)
{
	if (!t)
		return;
	size_t *w = calloc(t->n_cols + 1, sizeof *w);
	bool *right = calloc(t->n_cols + 1, sizeof *right);
	if (!w || !right) {
		free(w);
		free(right);
		return;
	}
	for (size_t k = 0; k < t->n_cols; k++) { /* once per column: a table may have 10^5 lines */
		for (size_t r = 0; r < t->n_lines; r++) {
			size_t len = strlen(cell(t, r, k));
			w[k] = len > w[k] ? len : w[k];
		}
		right[k] = k && numeric_column(t, k);
	}
	for (size_t r = 0; r < t->n_lines; r++) {
		for (size_t k = 0; k < t->n_cols; k++) {
			int width = (int)w[k];
			if (md)
				md_cell(out, cell(t, r, k));
			else if (k)
				fprintf(out, right[k] ? "  %*s" : "  %-*s", right[k] || k + 1 < t->n_cols ? width : 0,
					cell(t, r, k));
			else
				fprintf(out, "%-*s", width, cell(t, r, k));
		}
		fputs(md ? "|\n" : "\n", out);
		for (size_t k = 0; md && !r && k < t->n_cols; k++)
			fputs(right[k] ? "|---:" : "|---", out);
		if (md && !r)
			fputs("|\n", out);
	}
	free(w);
	free(right);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_lines * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
