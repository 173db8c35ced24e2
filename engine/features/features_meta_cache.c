/* features_meta_cache.c - feature tables' meta records decoded once: a
 * per-store cache (store_state) of decoded records keyed by name and
 * checked against the stored bytes on every use, so a reader (a lookup, a
 * stat) pays one read of the record and a compare, not a decode; any
 * snapshot reads its own.  With each record, the rows/KEY texts made
 * under it: every change of a table's rows writes its meta in the same
 * batch with the version moved on (features_write.c, write_meta), so the
 * same meta bytes mean the same rows, and a changed table starts anew. */
#include "features_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "named.h"
#include "names.h"

/* Past this many tables the least recently used entry goes. */
#define META_CACHE_MAX 64
/* Row texts kept in all, in bytes; past it a table's are dropped. */
#define ROW_CACHE_BYTES (16u << 20)
#define ROW_BUCKETS 4096

/* One rows/KEY text: KEY (as of AT when AS_OF) and its text, in one
 * allocation. */
struct row_item {
	struct row_item *next;
	size_t hash, klen, tlen;
	bool as_of;
	int64_t at;
	char data[];		/* key, then text */
};

struct meta_entry {
	struct fmeta m;		/* first: a shared meta is its entry */
	char *name;
	struct buf raw;		/* the record's bytes M was decoded from */
	struct buf header;	/* data.csv's header line */
	struct row_item **rows;	/* ROW_BUCKETS chains, made on first put */
	size_t row_bytes;
	unsigned refs;		/* the cache's own (while listed) and readers' */
	struct meta_entry *prev, *next;
};

struct meta_cache {
	pthread_mutex_t lock;
	struct meta_entry *head, *tail;	/* most recently used first */
	size_t n;
	size_t row_bytes;		/* of every entry's rows */
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

static void rows_free(struct meta_entry *e)
{
	for (size_t b = 0; e->rows && b < ROW_BUCKETS; b++) {
		struct row_item *next;
		for (struct row_item *r = e->rows[b]; r; r = next) {
			next = r->next;
			free(r);
		}
	}
	free(e->rows);
	e->rows = NULL;
	e->row_bytes = 0;
}

static void entry_free(struct meta_entry *e)
{
	rows_free(e);
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
	c->row_bytes -= e->row_bytes;
	e->row_bytes = 0;	/* no longer counted; freed with E */
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

/* ---- rows/KEY texts ---- */

static size_t row_hash(const char *key, size_t klen, bool as_of, int64_t at)
{
	size_t h = 5381;
	for (size_t i = 0; i < klen; i++)
		h = h * 33 + (unsigned char)key[i];
	return as_of ? h ^ (size_t)at ^ 0x9e3779b97f4a7c15u : h;
}

static struct row_item *row_find(const struct meta_entry *e, const char *key,
				 size_t klen, bool as_of, int64_t at, size_t h)
{
	struct row_item *r = e->rows ? e->rows[h % ROW_BUCKETS] : NULL;
	for (; r; r = r->next)
		if (r->hash == h && r->klen == klen && r->as_of == as_of &&
		    (!as_of || r->at == at) && !memcmp(r->data, key, klen))
			return r;
	return NULL;
}

bool features_meta_row_get(struct store *s, const struct fmeta *m,
			   const char *key, bool as_of, int64_t at,
			   struct buf *out)
{
	struct meta_cache *c = meta_cache(s);
	const struct meta_entry *e = (const struct meta_entry *)m;
	size_t klen = strlen(key), h = row_hash(key, klen, as_of, at);
	pthread_mutex_lock(&c->lock);
	const struct row_item *r = row_find(e, key, klen, as_of, at, h);
	if (r) {
		buf_reset(out);
		buf_append(out, r->data + klen, r->tlen);
	}
	pthread_mutex_unlock(&c->lock);
	return r != NULL;
}

void features_meta_row_put(struct store *s, const struct fmeta *m,
			   const char *key, bool as_of, int64_t at,
			   const struct buf *text)
{
	struct meta_cache *c = meta_cache(s);
	struct meta_entry *e = (struct meta_entry *)m;
	size_t klen = strlen(key), h = row_hash(key, klen, as_of, at);
	size_t cost = sizeof(struct row_item) + klen + text->len;
	struct row_item *r = malloc(cost);
	if (!r)
		mlfs_oom();
	r->hash = h;
	r->klen = klen;
	r->tlen = text->len;
	r->as_of = as_of;
	r->at = at;
	memcpy(r->data, key, klen);
	memcpy(r->data + klen, text->data, text->len);
	pthread_mutex_lock(&c->lock);
	bool listed = e->prev || e->next || c->head == e;
	if (!listed || row_find(e, key, klen, as_of, at, h)) {
		/* A table changed since (its rows are not kept), or another
		 * reader put it first. */
		pthread_mutex_unlock(&c->lock);
		free(r);
		return;
	}
	if (c->row_bytes + cost > ROW_CACHE_BYTES) {
		c->row_bytes -= e->row_bytes;
		rows_free(e);
	}
	if (!e->rows && !(e->rows = calloc(ROW_BUCKETS, sizeof(*e->rows))))
		mlfs_oom();
	r->next = e->rows[h % ROW_BUCKETS];
	e->rows[h % ROW_BUCKETS] = r;
	e->row_bytes += cost;
	c->row_bytes += cost;
	pthread_mutex_unlock(&c->lock);
}
