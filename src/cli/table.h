/* table.h - a table of strings printed aligned as text or as Markdown (table.c). */
#ifndef GGPACK_TABLE_H
#define GGPACK_TABLE_H

#include <stdio.h>

struct table;

/* A table of n columns with these headers (copied). NULL when out of memory;
 * every function takes NULL and does nothing then. */
struct table *table_new(size_t n, const char *const *headers);
/* Adds a row of n cells (copied). */
void table_row(struct table *t, const char *const *cells);
/* Text: the first column left-aligned, the others right-aligned. md: a
 * Markdown table. */
void table_print(FILE *out, const struct table *t, int md);
void table_free(struct table *t);
/* Writes s on one line, its control characters (a newline in a tensor's
 * name) shown as '?', left-aligned in width columns (0: none). */
void table_put_text(FILE *out, const char *s, int width);

#endif
