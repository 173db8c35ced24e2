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
 * stay, and the bound costs one eviction at a time.  The entries too sit
 * in an LRU (lru.c) keyed by name, each value a pointer to its entry: the
 * cache's reference, given up when lru.c drops the pointer. */
#include "features_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lru.h"
#include "named.h"
#include "names.h"

/* Tables kept in all, in lru.c's bytes: names and pointers with their
 * bookkeeping (64 tables of 64-byte names; more of shorter names). */
#define META_CACHE_BYTES (64u * (LRU_ENTRY_OVERHEAD + 64 + sizeof(void *)))
/* lru.c keeps every entry: a valid name is never larger than the bound. */
_Static_assert(LRU_ENTRY_OVERHEAD + NAMES_MAX + sizeof(void *) <=
	       META_CACHE_BYTES, "a meta entry fits the cache");
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
	bool listed;		/* in the cache's metas (under its lock) */
};

struct meta_cache {
	pthread_mutex_t lock;		/* guards everything below */
	struct lru *metas;		/* name -> struct meta_entry * */
	uint64_t serials;		/* the last entry's serial */
	struct lru *rows;		/* (serial, as_of, at, key) -> text */
};

static const char meta_cache_key;

static void entry_free(struct meta_entry *e)
{
	features_meta_free(&e->m);
	buf_free(&e->raw);
	buf_free(&e->header);
	free(e->name);
	free(e);
}

/* lru.c let go of an entry (evicted, replaced, freed): the cache's
 * reference goes, the entry with it when no reader has it.  Under the
 * lock. */
static void entry_unlisted(const void *val, size_t vlen, void *arg)
{
	struct meta_entry *e;
	(void)arg;
	if (vlen != sizeof(e))
		return;
	memcpy(&e, val, sizeof(e));
	e->listed = false;
	if (--e->refs == 0)
		entry_free(e);
}

static void *meta_cache_make(void)
{
	struct meta_cache *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	pthread_mutex_init(&c->lock, NULL);
	c->rows = lru_new(ROW_CACHE_BYTES);
	c->metas = lru_new(META_CACHE_BYTES);
	lru_on_drop(c->metas, entry_unlisted, NULL);
	return c;
}

static void meta_cache_free(void *p)
{
	struct meta_cache *c = p;
	lru_free(c->metas);	/* no reader outlives the store */
	lru_free(c->rows);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct meta_cache *meta_cache(struct store *s)
{
	return store_state(s, &meta_cache_key, meta_cache_make, meta_cache_free);
}

/* NAME's listed entry (made the most recently used) or NULL.  Under the
 * lock. */
static struct meta_entry *find(struct meta_cache *c, const char *name)
{
	size_t vlen;
	struct meta_entry *e;
	const void *v = lru_get(c->metas, name, strlen(name), &vlen);
	if (!v || vlen != sizeof(e))
		return NULL;
	memcpy(&e, v, sizeof(e));
	return e;
}

/* NAME's entry, taken (a reference for the caller, made the most recently
 * used) when it holds RAW (NULL: when its bytes were current at SEQ, the
 * store's change sequence now); with RAW and LATEST, the entry is then
 * known current at SEQ.  Under the lock. */
static struct meta_entry *take(struct meta_cache *c, const char *name,
			       const struct buf *raw, bool latest, uint64_t seq)
{
	struct meta_entry *e = find(c, name);
	if (!e)
		return NULL;
	if (!raw ? !e->seq_known || e->seq != seq :
	    e->raw.len != raw->len || memcmp(e->raw.data, raw->data, raw->len))
		return NULL;
	if (raw && latest) {
		e->seq = seq;
		e->seq_known = true;
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
	n->listed = true;
	/* Replaces (unlists) an older entry of NAME; may evict another. */
	lru_put(c->metas, name, strlen(name), &n, sizeof(n));
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
	if (e->listed)
		lru_put(c->rows, k.data, k.len, text->data, text->len);
	pthread_mutex_unlock(&c->lock);
	buf_free(&k);
}
