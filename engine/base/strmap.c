/* strmap.c - string interning by open addressing (linear probing, power
 * of two slots, at most half full) over hash64; the strings live in
 * blocks that never move, so a returned pointer stays valid. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"

#define BLOCK_BYTES (64u << 10)

struct entry {
	const char *p;
	size_t len;
	uint64_t h;
};

struct block {
	struct block *next;
	size_t used, cap;
	char data[];
};

struct strmap {
	struct entry *items;	/* in index order */
	size_t n, cap;
	uint32_t *slots;	/* index + 1, 0 empty */
	size_t nslots;
	struct block *blocks;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		mlfs_oom();
	return q;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));
	if (!m)
		mlfs_oom();
	m->nslots = 16;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (!m->slots)
		mlfs_oom();
	return m;
}

void strmap_free(struct strmap *m)
{
	if (!m)
		return;
	for (struct block *b = m->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(m->items);
	free(m->slots);
	free(m);
}

static size_t probe(const struct strmap *m, const char *p, size_t len,
		    uint64_t h)
{
	size_t mask = m->nslots - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t s = m->slots[i];
		if (!s)
			return i;
		const struct entry *e = &m->items[s - 1];
		if (e->h == h && e->len == len && !memcmp(e->p, p, len))
			return i;
	}
}

static const char *copy(struct strmap *m, const char *p, size_t len)
{
	struct block *b = m->blocks;
	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > BLOCK_BYTES ? len + 1 : BLOCK_BYTES;
		b = xrealloc(NULL, sizeof(*b) + cap);
		b->next = m->blocks;
		b->used = 0;
		b->cap = cap;
		m->blocks = b;
	}
	char *d = b->data + b->used;
	memcpy(d, p, len);
	d[len] = '\0';
	b->used += len + 1;
	return d;
}

static void grow(struct strmap *m)
{
	free(m->slots);
	m->nslots *= 2;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (!m->slots)
		mlfs_oom();
	for (size_t i = 0; i < m->n; i++)
		m->slots[probe(m, m->items[i].p, m->items[i].len, m->items[i].h)] = (uint32_t)(i + 1);
}

size_t strmap_intern(struct strmap *m, const char *p, size_t len)
{
	uint64_t h = hash64(p, len, 0);
	size_t at = probe(m, p, len, h);
	if (m->slots[at])
		return m->slots[at] - 1;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->items = xrealloc(m->items, m->cap * sizeof(*m->items));
	}
	m->items[m->n] = (struct entry){ copy(m, p, len), len, h };
	m->slots[at] = (uint32_t)(m->n + 1);
	m->n++;
	if (2 * m->n > m->nslots)
		grow(m);
	return m->n - 1;
}

size_t strmap_find(const struct strmap *m, const char *p, size_t len)
{
	size_t at = probe(m, p, len, hash64(p, len, 0));
	return m->slots[at] ? m->slots[at] - 1 : SIZE_MAX;
}

size_t strmap_count(const struct strmap *m)
{
	return m->n;
}

const char *strmap_str(const struct strmap *m, size_t i, size_t *len)
{
	if (len)
		*len = m->items[i].len;
	return m->items[i].p;
}
