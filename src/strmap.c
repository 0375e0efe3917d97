/*
 * strmap.c - an open-addressing hash map from borrowed C strings to uint32,
 * for resolving tensor names across a graph and its enclosing scopes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static int strmap_grow(struct strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct strmap_slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return GGPACK_E_NOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].key)
			continue;
		size_t j = hash_str(m->slots[i].key) & (cap - 1);
		while (slots[j].key)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

static int strmap_insert(struct strmap *m, const char *key, uint32_t value, bool overwrite)
{
	if (2 * (m->n + 1) > m->cap && strmap_grow(m))
		return GGPACK_E_NOMEM;
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->slots[j].key) {
		if (!strcmp(m->slots[j].key, key)) {
			if (overwrite)
				m->slots[j].value = value;
			return 0;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->slots[j] = (struct strmap_slot){ key, value };
	m->n++;
	return 0;
}

int strmap_put(struct strmap *m, const char *key, uint32_t value)
{
	return strmap_insert(m, key, value, false);
}

int strmap_set(struct strmap *m, const char *key, uint32_t value)
{
	return strmap_insert(m, key, value, true);
}

uint32_t strmap_get(const struct strmap *m, const char *key)
{
	if (!m->cap)
		return NONE;
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->slots[j].key) {
		if (!strcmp(m->slots[j].key, key))
			return m->slots[j].value;
		j = (j + 1) & (m->cap - 1);
	}
	return NONE;
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof *m);
}
