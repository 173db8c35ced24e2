/* lru.c - the bounded map of lru.h: a chained hash table over hash64
 * (power of two buckets, doubled past one entry a bucket) and one
 * doubly linked list from the most to the least recently used entry.
 * Invariant: every entry is in exactly one chain and in the list, and
 * bytes is the sum of their costs, at most max_bytes after each put. */
#include "lru.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"

struct entry {
	struct entry *chain;		/* the next in its bucket */
	struct entry *newer, *older;	/* the list */
	uint64_t h;
	size_t klen, vlen;
	char data[];			/* key, then value */
};

struct lru {
	struct entry **buckets;
	size_t nbuckets, n, bytes, max_bytes;
	struct entry *newest, *oldest;
	void (*on_drop)(const void *val, size_t vlen, void *arg);
	void *on_drop_arg;
};

#define SEED 0x6c7275u

static struct entry **alloc_buckets(size_t n)
{
	struct entry **b = calloc(n, sizeof(*b));
	if (!b)
		mlfs_oom();
	return b;
}

struct lru *lru_new(size_t max_bytes)
{
	struct lru *l = calloc(1, sizeof(*l));
	if (!l)
		mlfs_oom();
	l->max_bytes = max_bytes;
	l->nbuckets = 64;
	l->buckets = alloc_buckets(l->nbuckets);
	return l;
}

static size_t cost(const struct entry *e)
{
	return LRU_ENTRY_OVERHEAD + e->klen + e->vlen;
}

/* Where the pointer to KEY's entry is (in its chain), *it NULL when
 * absent. */
static struct entry **slot(struct lru *l, const void *key, size_t klen,
			   uint64_t h)
{
	struct entry **p = &l->buckets[h & (l->nbuckets - 1)];
	for (; *p; p = &(*p)->chain)
		if ((*p)->h == h && (*p)->klen == klen &&
		    !memcmp((*p)->data, key, klen))
			break;
	return p;
}

static void unlink_list(struct lru *l, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		l->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		l->oldest = e->newer;
}

static void push_newest(struct lru *l, struct entry *e)
{
	e->newer = NULL;
	e->older = l->newest;
	if (l->newest)
		l->newest->newer = e;
	else
		l->oldest = e;
	l->newest = e;
}

/* Free E, gone from the chains and the list, telling on_drop. */
static void release(struct lru *l, struct entry *e)
{
	if (l->on_drop)
		l->on_drop(e->data + e->klen, e->vlen, l->on_drop_arg);
	free(e);
}

/* Take the entry *P points to out of its chain and the list; free it. */
static void drop(struct lru *l, struct entry **p)
{
	struct entry *e = *p;
	*p = e->chain;
	unlink_list(l, e);
	l->n--;
	l->bytes -= cost(e);
	release(l, e);
}

static void grow(struct lru *l)
{
	size_t n = l->nbuckets * 2;
	struct entry **b = alloc_buckets(n);
	for (size_t i = 0; i < l->nbuckets; i++) {
		struct entry *next;
		for (struct entry *e = l->buckets[i]; e; e = next) {
			next = e->chain;
			e->chain = b[e->h & (n - 1)];
			b[e->h & (n - 1)] = e;
		}
	}
	free(l->buckets);
	l->buckets = b;
	l->nbuckets = n;
}

const void *lru_get(struct lru *l, const void *key, size_t klen,
		    size_t *vlen)
{
	struct entry *e = *slot(l, key, klen, hash64(key, klen, SEED));
	if (!e)
		return NULL;
	if (e != l->newest) {
		unlink_list(l, e);
		push_newest(l, e);
	}
	*vlen = e->vlen;
	return e->data + e->klen;
}

void lru_put(struct lru *l, const void *key, size_t klen, const void *val,
	     size_t vlen)
{
	uint64_t h = hash64(key, klen, SEED);
	struct entry **p = slot(l, key, klen, h);
	if (*p)
		drop(l, p);
	if (LRU_ENTRY_OVERHEAD + klen + vlen > l->max_bytes)
		return;
	struct entry *e = malloc(sizeof(*e) + klen + vlen);
	if (!e)
		mlfs_oom();
	e->h = h;
	e->klen = klen;
	e->vlen = vlen;
	memcpy(e->data, key, klen);
	if (vlen)
		memcpy(e->data + klen, val, vlen);
	l->bytes += cost(e);
	while (l->bytes > l->max_bytes)
		drop(l, slot(l, l->oldest->data, l->oldest->klen, l->oldest->h));
	if (l->n + 1 > l->nbuckets)
		grow(l);
	e->chain = l->buckets[h & (l->nbuckets - 1)];
	l->buckets[h & (l->nbuckets - 1)] = e;
	push_newest(l, e);
	l->n++;
}

void lru_on_drop(struct lru *l,
		 void (*fn)(const void *val, size_t vlen, void *arg),
		 void *arg)
{
	l->on_drop = fn;
	l->on_drop_arg = arg;
}

void lru_clear(struct lru *l)
{
	struct entry *e = l->newest;
	memset(l->buckets, 0, l->nbuckets * sizeof(*l->buckets));
	l->newest = l->oldest = NULL;
	l->n = l->bytes = 0;
	while (e) {
		struct entry *older = e->older;
		release(l, e);
		e = older;
	}
}

void lru_free(struct lru *l)
{
	if (!l)
		return;
	lru_clear(l);
	free(l->buckets);
	free(l);
}

size_t lru_count(const struct lru *l)
{
	return l->n;
}

size_t lru_bytes(const struct lru *l)
{
	return l->bytes;
}
