/* cache.c - the per-store text cache of cache.h: 32 slots under one lock
 * in each store's state, the least recently used slot reused. */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>

#define CACHE_SLOTS 32

struct cache_slot {
	enum cache_what what;
	uint64_t id, version, used;
	struct buf text;
};

struct cache {
	pthread_mutex_t lock;		/* guards everything below */
	uint64_t clock;
	struct cache_slot slot[CACHE_SLOTS];
};

static const char cache_key;

static void *cache_new(void)
{
	struct cache *c = calloc(1, sizeof(*c));
	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void cache_free(void *p)
{
	struct cache *c = p;
	for (int i = 0; i < CACHE_SLOTS; i++)
		buf_free(&c->slot[i].text);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct cache *cache_of(struct store *s)
{
	return store_state(s, &cache_key, cache_new, cache_free);
}

bool cache_get(struct store *s, enum cache_what what, uint64_t id,
	       uint64_t version, struct buf *out)
{
	struct cache *c = cache_of(s);
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CACHE_SLOTS && !hit; i++) {
		struct cache_slot *e = &c->slot[i];
		if (e->what == what && e->id == id && e->version == version && e->text.data) {
			buf_reset(out);
			buf_append(out, e->text.data, e->text.len);
			e->used = ++c->clock;
			hit = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void cache_put(struct store *s, enum cache_what what, uint64_t id,
	       uint64_t version, const struct buf *text)
{
	struct cache *c = cache_of(s);
	pthread_mutex_lock(&c->lock);
	int lru = 0;
	for (int i = 1; i < CACHE_SLOTS; i++)
		if (c->slot[i].used < c->slot[lru].used)
			lru = i;
	struct cache_slot *e = &c->slot[lru];
	buf_reset(&e->text);
	buf_append(&e->text, text->data ? text->data : "", text->len);
	e->what = what;
	e->id = id;
	e->version = version;
	e->used = ++c->clock;
	pthread_mutex_unlock(&c->lock);
}
