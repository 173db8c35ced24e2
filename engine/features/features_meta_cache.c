/* features_meta_cache.c - feature tables' meta records decoded once: a
 * per-store cache (store_state) of decoded records keyed by name.  A
 * reader at a snapshot compares its record's bytes with the entry's; a
 * reader of the latest (snap NULL) skips even that read while no write
 * to the store has finished since the entry's bytes were last found
 * current (store_change_seq).  With the records, the rows/KEY texts made
 * under them: every change of a table's rows writes its meta in the same
 * batch with the version moved on (features_write.c, write_meta), so the
 * same meta bytes mean the same rows, and a changed table starts anew
 * (its entry has a new serial, which the texts are keyed by).  The texts
 * of all tables share one LRU bounded in bytes: a big table's hot keys
 * stay, and the bound costs one eviction at a time. */
#include "features_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lru.h"
#include "named.h"
#include "names.h"

/* Past this many tables the least recently used entry goes. */
#define META_CACHE_MAX 64
/* Row texts kept in all, in bytes (keys, texts and their bookkeeping). */
#define ROW_CACHE_BYTES (16u << 20)

struct meta_entry {
	struct fmeta m;		/* first: a shared meta is its entry */
	char *name;
	struct buf raw;		/* the record's bytes M was decoded from */
	struct buf header;	/* data.csv's header line */
	uint64_t serial;	/* this entry's, among the cache's: keys its rows */
	/* RAW was the latest record when the store's change sequence was
	 * SEQ (guarded by the cache's lock; valid when SEQ_KNOWN). */
	uint64_t seq;
	bool seq_known;
	unsigned refs;		/* the cache's own (while listed) and readers' */
	struct meta_entry *prev, *next;
};

struct meta_cache {
	pthread_mutex_t lock;		/* guards everything below */
	struct meta_entry *head, *tail;	/* most recently used first */
	size_t n;
	uint64_t serials;		/* the last entry's serial */
	struct lru *rows;		/* (serial, as_of, at, key) -> text */
};

static const char meta_cache_key;

static void *meta_cache_make(void)
{
	struct meta_cache *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	pthread_mutex_init(&c->lock, NULL);
	c->rows = lru_new(ROW_CACHE_BYTES);
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
	lru_free(c->rows);
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

/* NAME's entry, taken (a reference for the caller, made the most recently
 * used) when it holds RAW (NULL: when its bytes were current at SEQ, the
 * store's change sequence now); with RAW and LATEST, the entry is then
 * known current at SEQ.  Under the lock. */
static struct meta_entry *take(struct meta_cache *c, const char *name,
			       const struct buf *raw, bool latest, uint64_t seq)
{
	struct meta_entry *e;
	for (e = c->head; e && strcmp(e->name, name); e = e->next)
		;
	if (!e)
		return NULL;
	if (!raw ? !e->seq_known || e->seq != seq :
	    e->raw.len != raw->len || memcmp(e->raw.data, raw->data, raw->len))
		return NULL;
	if (raw && latest) {
		e->seq = seq;
		e->seq_known = true;
	}
	if (e != c->head) {
		unlist(c, e);
		list_first(c, e);
	}
	e->refs++;
	return e;
}

int features_meta_ref(struct store *s, const struct store_snapshot *snap,
		      const char *name, const struct fmeta **out)
{
	struct meta_cache *c = meta_cache(s);
	struct buf v = { 0 };
	struct meta_entry *e = NULL;
	if (!names_valid(name))
		return -ENOENT;
	/* Taken before any read: a write that finishes later moves it. */
	uint64_t seq = store_change_seq(s);
	if (!snap) {
		pthread_mutex_lock(&c->lock);
		e = take(c, name, NULL, true, seq);
		pthread_mutex_unlock(&c->lock);
		if (e) {
			*out = &e->m;
			return 0;
		}
	}
	int rc = named_get(s, snap, "f/m/", name, &v);
	if (rc) {
		buf_free(&v);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	e = take(c, name, &v, !snap, seq);
	pthread_mutex_unlock(&c->lock);
	if (e) {
		buf_free(&v);
		*out = &e->m;
		return 0;
	}

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
	n->seq = seq;
	n->seq_known = !snap;
	pthread_mutex_lock(&c->lock);
	n->serial = ++c->serials;
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

/* ---- rows/KEY texts ---- */

/* The LRU key of KEY (as of AT when AS_OF) under entry E, into K. */
static void row_key(struct buf *k, const struct meta_entry *e,
		    const char *key, bool as_of, int64_t at)
{
	buf_reset(k);
	buf_append(k, &e->serial, sizeof(e->serial));
	buf_putc(k, as_of);
	if (as_of)
		buf_append(k, &at, sizeof(at));
	buf_puts(k, key);
}

bool features_meta_row_get(struct store *s, const struct fmeta *m,
			   const char *key, bool as_of, int64_t at,
			   struct buf *out)
{
	struct meta_cache *c = meta_cache(s);
	struct buf k = { 0 };
	size_t tlen;
	row_key(&k, (const struct meta_entry *)m, key, as_of, at);
	pthread_mutex_lock(&c->lock);
	const char *text = lru_get(c->rows, k.data, k.len, &tlen);
	if (text) {
		buf_reset(out);
		buf_append(out, text, tlen);
	}
	pthread_mutex_unlock(&c->lock);
	buf_free(&k);
	return text != NULL;
}

void features_meta_row_put(struct store *s, const struct fmeta *m,
			   const char *key, bool as_of, int64_t at,
			   const struct buf *text)
{
	struct meta_cache *c = meta_cache(s);
	struct meta_entry *e = (struct meta_entry *)m;
	struct buf k = { 0 };
	row_key(&k, e, key, as_of, at);
	pthread_mutex_lock(&c->lock);
	/* Not for a table changed since (its entry no longer listed). */
	if (e->prev || e->next || c->head == e)
		lru_put(c->rows, k.data, k.len, text->data, text->len);
	pthread_mutex_unlock(&c->lock);
	buf_free(&k);
}
