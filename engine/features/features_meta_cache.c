/* features_meta_cache.c - feature tables' meta records decoded once: a
 * per-store cache (store_state) of decoded records keyed by name and
 * checked against the stored bytes on every use, so a reader (a lookup, a
 * stat) pays one read of the record and a compare, not a decode.  Every
 * change rewrites the record (its version, rows or times move), so a
 * changed table is never served from here; any snapshot reads its own. */
#include "features_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "named.h"
#include "names.h"

/* Past this many tables the least recently used entry goes. */
#define META_CACHE_MAX 64

struct meta_entry {
	struct fmeta m;		/* first: a shared meta is its entry */
	char *name;
	struct buf raw;		/* the record's bytes M was decoded from */
	struct buf header;	/* data.csv's header line */
	unsigned refs;		/* the cache's own (while listed) and readers' */
	struct meta_entry *prev, *next;
};

struct meta_cache {
	pthread_mutex_t lock;
	struct meta_entry *head, *tail;	/* most recently used first */
	size_t n;
};

static const char meta_cache_key;

static void *meta_cache_make(void)
{
	struct meta_cache *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void entry_free(struct meta_entry *e)
{
	features_meta_free(&e->m);
	buf_free(&e->raw);
	buf_free(&e->header);
	free(e->name);
	free(e);
}

static void meta_cache_free(void *p)
{
	struct meta_cache *c = p;
	struct meta_entry *next;
	for (struct meta_entry *e = c->head; e; e = next) {
		next = e->next;
		entry_free(e);	/* no reader outlives the store */
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct meta_cache *meta_cache(struct store *s)
{
	return store_state(s, &meta_cache_key, meta_cache_make, meta_cache_free);
}

static void unlist(struct meta_cache *c, struct meta_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
	c->n--;
}

static void list_first(struct meta_cache *c, struct meta_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
	c->n++;
}

/* Drop the cache's reference to E (listed): freed when no reader has it. */
static void drop(struct meta_cache *c, struct meta_entry *e)
{
	unlist(c, e);
	if (--e->refs == 0)
		entry_free(e);
}

int features_meta_ref(struct store *s, const struct store_snapshot *snap,
		      const char *name, const struct fmeta **out)
{
	struct meta_cache *c = meta_cache(s);
	struct buf v = { 0 };
	struct meta_entry *e;
	if (!names_valid(name))
		return -ENOENT;
	int rc = named_get(s, snap, "f/m/", name, &v);
	if (rc) {
		buf_free(&v);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	for (e = c->head; e && strcmp(e->name, name); e = e->next)
		;
	if (e && e->raw.len == v.len && !memcmp(e->raw.data, v.data, v.len)) {
		if (e != c->head) {
			unlist(c, e);
			list_first(c, e);
		}
		e->refs++;
		pthread_mutex_unlock(&c->lock);
		buf_free(&v);
		*out = &e->m;
		return 0;
	}
	pthread_mutex_unlock(&c->lock);

	/* Decode outside the lock; the newest decoding takes the name. */
	struct meta_entry *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name)))
		mlfs_oom();
	if ((rc = features_meta_decode(v.data, v.len, &n->m))) {
		free(n->name);
		free(n);
		buf_free(&v);
		return rc;
	}
	n->raw = v;
	features_header_text(&n->m, &n->header);
	n->refs = 2;	/* the cache's and the caller's */
	pthread_mutex_lock(&c->lock);
	for (e = c->head; e && strcmp(e->name, name); e = e->next)
		;
	if (e)
		drop(c, e);
	list_first(c, n);
	if (c->n > META_CACHE_MAX)
		drop(c, c->tail);
	pthread_mutex_unlock(&c->lock);
	*out = &n->m;
	return 0;
}

void features_meta_release(struct store *s, const struct fmeta *m)
{
	if (!m)
		return;
	struct meta_cache *c = meta_cache(s);
	struct meta_entry *e = (struct meta_entry *)m;
	pthread_mutex_lock(&c->lock);
	bool last = --e->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		entry_free(e);
}

const struct buf *features_meta_header(const struct fmeta *m)
{
	return &((const struct meta_entry *)m)->header;
}
