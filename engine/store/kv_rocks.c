/* kv_rocks.c - the revisioned key-value interface (kv.h) over the
 * embedded store: keys and values are the store's own records, byte for
 * byte, so existing keys keep their format; what the interface adds lives
 * under the reserved byte 0x01 (docs/store-format.md, "Revisioned KV"):
 * the store-wide revision, each key's mod revision and lease, the leases.
 * Not a second store: one process owns the store, so compares are
 * evaluated under one commit lock, watches are an in-process fan-out from
 * a ring of recent revisions, and leases are timers of this process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_int.h"
#include "store.h"

#define RING_REVS 1024		/* revisions a watch can resume from */
#define RING_BYTES (8u << 20)	/* ... unless their events hold more */
#define PINS 8			/* revisions kv_range can read again */
#define TICK_MS 50		/* lease expiry resolution */

/* The events of one revision; shared by the ring and deliveries. */
struct rev_events {
	kv_rev rev;
	int refs;		/* guarded by rocks.lock */
	size_t n, cap, bytes;
	struct kv_event *ev;	/* key and val malloc'd per event */
};

struct pin {
	kv_rev rev;
	struct store_snapshot *snap;
	int refs;		/* the table's one, and each read's */
	uint64_t used;
};

struct lease {
	kv_lease id;
	int ttl;
	int64_t deadline_ms;
};

struct rwatch {
	struct kv_watch head;
	char *prefix;
	size_t plen;
	kv_watch_fn fn;
	void *ctx;
	kv_rev seen;		/* delivered up to here */
	bool busy;		/* FN running on the dispatcher */
	bool stale;		/* told -ESTALE: delivers no more */
	bool orphan;		/* cancelled from inside FN: thread frees */
	struct rwatch *next;
};

/* The per-store state (store_state), one per store however often it is
 * opened.  Invariants, under LOCK: REV is the value of key \x01R (1 when
 * absent); the ring holds the events of every revision in [FLOOR, REV],
 * oldest at RING_HEAD; PINS hold snapshots taken at their REV. */
struct rocks {
	struct kv kv;
	struct store *s;	/* set once at the first open */
	pthread_mutex_t lock;	/* the commit lock; guards all below */
	pthread_cond_t wake;	/* dispatcher: a revision, a lease, stop */
	pthread_cond_t idle;	/* a delivery ended */
	kv_rev rev, floor, compacted;
	struct rev_events *ring[RING_REVS];
	size_t ring_head, ring_n, ring_bytes;
	struct pin *pins[PINS];
	uint64_t tick;
	struct lease *leases;
	size_t nleases, capleases;
	kv_lease last_lease;
	struct rwatch *watches;
	pthread_t thread;
	bool started, stop;
};

static const char K_REV[] = "\x01R";
static const char P_MOD = 'm', P_LEASE = 'l', P_ATTACH = 'k';

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *memdup(const void *p, size_t n)
{
	char *q = malloc(n + 1);
	if (!q)
		mlfs_oom();
	memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

/* \x01 KIND [ID] KEY */
static void key_meta(struct buf *k, char kind, kv_lease id, const void *key,
		     size_t klen)
{
	buf_reset(k);
	buf_putc(k, 0x01);
	buf_putc(k, kind);
	if (kind != P_MOD)
		key_put_u64(k, (uint64_t)id);
	buf_append(k, key, klen);
}

/* ---- events of a revision, and the ring ---- */

static void ev_add(struct rev_events *e, enum kv_event_kind kind,
		   const void *k, size_t kl, const void *v, size_t vl)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 8;
		e->ev = realloc(e->ev, e->cap * sizeof(*e->ev));
		if (!e->ev)
			mlfs_oom();
	}
	e->ev[e->n++] = (struct kv_event){ .kind = kind, .key = memdup(k, kl),
		.klen = kl, .val = v ? memdup(v, vl) : NULL, .vlen = vl };
	e->bytes += kl + vl + sizeof(struct kv_event);
}

static void ev_unref(struct rev_events *e)
{
	if (!e || --e->refs > 0)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free((char *)e->ev[i].key);
		free((char *)e->ev[i].val);
	}
	free(e->ev);
	free(e);
}

static struct rev_events *ring_at(struct rocks *r, size_t i)
{
	return r->ring[(r->ring_head + i) % RING_REVS];
}

static void ring_drop_oldest(struct rocks *r)
{
	struct rev_events *e = ring_at(r, 0);
	r->floor = e->rev + 1;
	r->ring_bytes -= e->bytes;
	r->ring_head = (r->ring_head + 1) % RING_REVS;
	r->ring_n--;
	ev_unref(e);
}

static void ring_push(struct rocks *r, struct rev_events *e)
{
	while (r->ring_n == RING_REVS ||
	       (r->ring_n && r->ring_bytes + e->bytes > RING_BYTES))
		ring_drop_oldest(r);
	if (!r->ring_n)
		r->floor = e->rev;
	r->ring[(r->ring_head + r->ring_n) % RING_REVS] = e;
	r->ring_n++;
	r->ring_bytes += e->bytes;
}

/* ---- reads ---- */

/* The mod revision and lease of KEY, which exists at SNAP: those of its
 * \x01m record, or 1 and none for a key the store wrote directly (or a
 * record left by one; a key deleted by the store directly keeps its
 * record, which counts for nothing while the key is absent). */
static int read_mod(struct rocks *r, const struct store_snapshot *snap,
		    const void *key, size_t klen, struct buf *tmp,
		    kv_rev *mod, kv_lease *lease)
{
	key_meta(tmp, P_MOD, 0, key, klen);
	int rc = store_get(r->s, snap, tmp->data, tmp->len, tmp, NULL);
	*mod = 1;
	*lease = 0;
	if (!rc && tmp->len == 16) {
		*mod = key_get_u64(tmp->data);
		*lease = (kv_lease)key_get_u64(tmp->data + 8);
	}
	return rc == -ENOENT ? 0 : rc;
}

static int rocks_get(struct kv *kv, const void *key, size_t klen,
		     struct buf *val, kv_rev *mod, struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	struct store_snapshot *snap = store_snapshot_new(r->s);
	struct buf tmp = { 0 };
	kv_rev m = 0;
	kv_lease l;
	int rc = store_get(r->s, snap, key, klen, val, err);
	if (!rc)
		rc = read_mod(r, snap, key, klen, &tmp, &m, &l);
	if (mod)
		*mod = m;
	buf_free(&tmp);
	store_snapshot_free(r->s, snap);
	return rc;
}

static void pin_unref(struct rocks *r, struct pin *p)
{
	if (--p->refs > 0)
		return;
	store_snapshot_free(r->s, p->snap);
	free(p);
}

/* A snapshot at revision AT (0: now, pinned for later pages), with a
 * reference for the caller; under LOCK. */
static int pin_get(struct rocks *r, kv_rev at, struct pin **out)
{
	size_t oldest = 0;
	if (!at)
		at = r->rev;
	if (at > r->rev)
		return -EINVAL;
	for (size_t i = 0; i < PINS; i++) {
		struct pin *p = r->pins[i];
		if (p && p->rev == at) {
			p->used = ++r->tick;
			p->refs++;
			*out = p;
			return 0;
		}
		if (!p || (r->pins[oldest] && p->used < r->pins[oldest]->used))
			oldest = i;
	}
	if (at != r->rev)
		return -ESTALE;
	struct pin *p = calloc(1, sizeof(*p));
	if (!p)
		mlfs_oom();
	*p = (struct pin){ .rev = at, .snap = store_snapshot_new(r->s),
			   .refs = 2, .used = ++r->tick };
	if (r->pins[oldest])
		pin_unref(r, r->pins[oldest]);
	r->pins[oldest] = p;
	*out = p;
	return 0;
}

/* FN for each key in [B, E) at SNAP, skipping the reserved 0x01 keys. */
static int walk(struct rocks *r, const struct store_snapshot *snap,
		const void *b, size_t bl, const void *e, size_t el,
		size_t limit, bool reverse, kv_range_fn fn, void *ctx)
{
	struct store_iter *it = store_iter_new(r->s, snap, bl ? b : NULL, bl,
					       el ? e : NULL, el);
	struct buf tmp = { 0 };
	size_t n = 0;
	int rc = 0;
	reverse ? store_iter_seek_last(it) : store_iter_seek_first(it);
	while (!rc && store_iter_valid(it) && (!limit || n < limit)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		if (*k == 0x01) {	/* to the first key past them, or below */
			store_iter_seek(it, reverse ? "\x01" : "\x02", 1);
			if (reverse)
				store_iter_prev(it);
			continue;
		}
		const char *v = store_iter_value(it, &vl);
		kv_rev mod;
		kv_lease l;
		rc = read_mod(r, snap, k, kl, &tmp, &mod, &l);
		if (!rc)
			rc = fn(ctx, k, kl, v, vl, mod ? mod : 1);
		n++;
		reverse ? store_iter_prev(it) : store_iter_next(it);
	}
	buf_free(&tmp);
	return store_iter_end(it, rc, NULL, NULL);
}

static int rocks_range(struct kv *kv, const void *begin, size_t blen,
		       const void *end, size_t elen, size_t limit, bool reverse,
		       kv_rev at, kv_range_fn fn, void *ctx, kv_rev *read_at,
		       struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	struct pin *p;
	pthread_mutex_lock(&r->lock);
	int rc = at && at < r->compacted ? -ESTALE : pin_get(r, at, &p);
	pthread_mutex_unlock(&r->lock);
	if (rc)
		return mlfs_fail(err, rc, "kv: revision %llu: %s", (unsigned long long)at,
				 rc == -ESTALE ? "no longer readable" : "in the future");
	if (read_at)
		*read_at = p->rev;
	rc = walk(r, p->snap, begin, blen, end, elen, limit, reverse, fn, ctx);
	pthread_mutex_lock(&r->lock);
	pin_unref(r, p);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---- commits, under the commit lock ---- */

/* 1 when compare C holds, 0 when not, or an error. */
static int cmp_holds(struct rocks *r, const struct kv_cmp *c, struct buf *tmp)
{
	kv_rev mod = 0;
	kv_lease l;
	int rc = store_get(r->s, NULL, c->key, c->klen, tmp, NULL);
	if (rc && rc != -ENOENT)
		return rc;
	if (c->kind == KV_CMP_VALUE_EQ)
		return !rc && tmp->len == c->vlen && !memcmp(tmp->data, c->val, c->vlen);
	if (!rc && (rc = read_mod(r, NULL, c->key, c->klen, tmp, &mod, &l)))
		return rc;
	return mod == (c->kind == KV_CMP_ABSENT ? 0 : c->rev);
}

static struct lease *lease_find(struct rocks *r, kv_lease id)
{
	for (size_t i = 0; i < r->nleases; i++)
		if (r->leases[i].id == id)
			return &r->leases[i];
	return NULL;
}

/* Remove KEY (with mod revision MOD and lease L) in B, as an event of E. */
static void del_key(struct rocks *r, struct store_batch *b, struct rev_events *e,
		    const void *key, size_t klen, kv_lease l, struct buf *tmp)
{
	store_batch_delete(b, key, klen);
	key_meta(tmp, P_MOD, 0, key, klen);
	store_batch_delete(b, tmp->data, tmp->len);
	if (l) {
		key_meta(tmp, P_ATTACH, l, key, klen);
		store_batch_delete(b, tmp->data, tmp->len);
	}
	ev_add(e, KV_EV_DEL, key, klen, NULL, 0);
}

static int put_key(struct rocks *r, struct store_batch *b, struct rev_events *e,
		   const struct kv_op *o, kv_rev rev, struct buf *tmp)
{
	kv_rev mod;
	kv_lease old;
	if (o->lease && !lease_find(r, o->lease))
		return -ENOENT;
	int rc = read_mod(r, NULL, o->key, o->klen, tmp, &mod, &old);
	if (rc)
		return rc;
	if (old && old != o->lease) {
		key_meta(tmp, P_ATTACH, old, o->key, o->klen);
		store_batch_delete(b, tmp->data, tmp->len);
	}
	if (o->lease) {
		key_meta(tmp, P_ATTACH, o->lease, o->key, o->klen);
		store_batch_put(b, tmp->data, tmp->len, "", 0);
	}
	struct buf m = { 0 };
	key_put_u64(&m, rev);
	key_put_u64(&m, (uint64_t)o->lease);
	key_meta(tmp, P_MOD, 0, o->key, o->klen);
	store_batch_put(b, tmp->data, tmp->len, m.data, m.len);
	buf_free(&m);
	store_batch_put(b, o->key, o->klen, o->val, o->vlen);
	ev_add(e, KV_EV_PUT, o->key, o->klen, o->val, o->vlen);
	return 0;
}

struct del_walk {
	struct rocks *r;
	struct store_batch *b;
	struct rev_events *e;
	struct buf tmp;
};

static int del_one(void *ctx, const char *k, size_t kl, const char *v,
		   size_t vl, kv_rev mod)
{
	struct del_walk *d = ctx;
	kv_lease l;
	int rc = read_mod(d->r, NULL, k, kl, &d->tmp, &mod, &l);
	if (!rc)
		del_key(d->r, d->b, d->e, k, kl, l, &d->tmp);
	return rc;
}

static int apply_op(struct rocks *r, struct store_batch *b, struct rev_events *e,
		    const struct kv_op *o, kv_rev rev)
{
	struct del_walk d = { .r = r, .b = b, .e = e };
	int rc;
	if (o->kind == KV_OP_PUT)
		rc = put_key(r, b, e, o, rev, &d.tmp);
	else if (o->kind == KV_OP_DEL_RANGE)
		rc = walk(r, NULL, o->key, o->klen, o->end, o->elen, 0, false,
			  del_one, &d);
	else if ((rc = store_get(r->s, NULL, o->key, o->klen, &d.tmp, NULL)) == 0)
		rc = del_one(&d, o->key, o->klen, NULL, 0, 0);
	else if (rc == -ENOENT)
		rc = 0;
	buf_free(&d.tmp);
	return rc;
}

/* Write B (E's changes) as revision E->rev with the revision key, then
 * make E visible to watches.  Frees B; E goes to the ring or is freed. */
static int commit_locked(struct rocks *r, struct store_batch *b,
			 struct rev_events *e, struct mlfs_err *err)
{
	int rc = 0;
	if (e->n) {
		struct buf v = { 0 };
		key_put_u64(&v, e->rev);
		store_batch_put(b, K_REV, 2, v.data, v.len);
		buf_free(&v);
		rc = store_write(r->s, b, true, err);
	} else if (store_batch_count(b)) {
		rc = store_write(r->s, b, true, err);
	}
	store_batch_free(b);
	if (!rc && e->n) {
		r->rev = e->rev;
		ring_push(r, e);
		pthread_cond_broadcast(&r->wake);
	} else {
		ev_unref(e);
	}
	return rc;
}

static struct rev_events *events_new(kv_rev rev)
{
	struct rev_events *e = calloc(1, sizeof(*e));
	if (!e)
		mlfs_oom();
	e->rev = rev;
	e->refs = 1;
	return e;
}

static int rocks_commit(struct kv *kv, const struct kv_cmp *cmps, size_t ncmp,
			const struct kv_op *ops, size_t nops, kv_rev *committed,
			struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	struct buf tmp = { 0 };
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < ncmp && !rc; i++) {
		rc = cmp_holds(r, &cmps[i], &tmp);
		rc = rc < 0 ? rc : rc ? 0 : -ECANCELED;
	}
	buf_free(&tmp);
	if (rc) {
		if (committed)
			*committed = r->rev;
		pthread_mutex_unlock(&r->lock);
		return rc == -ECANCELED ? mlfs_fail(err, rc, "kv: a compare failed") : rc;
	}
	struct store_batch *b = store_batch_new();
	struct rev_events *e = events_new(r->rev + 1);
	for (size_t i = 0; i < nops && !rc; i++)
		rc = apply_op(r, b, e, &ops[i], e->rev);
	if (rc) {
		store_batch_free(b);
		ev_unref(e);
		pthread_mutex_unlock(&r->lock);
		return mlfs_fail(err, rc, "kv: op on a %s", rc == -ENOENT ?
				 "lease that does not exist" : "key that cannot be read");
	}
	rc = commit_locked(r, b, e, err);
	if (committed)
		*committed = r->rev;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---- leases ---- */

/* Lease ID of TTL seconds, from now; under LOCK. */
static void lease_add(struct rocks *r, kv_lease id, int ttl)
{
	if (r->nleases == r->capleases) {
		r->capleases = r->capleases ? 2 * r->capleases : 8;
		r->leases = realloc(r->leases, r->capleases * sizeof(*r->leases));
		if (!r->leases)
			mlfs_oom();
	}
	r->leases[r->nleases++] = (struct lease){ id, ttl, now_ms() + ttl * 1000LL };
}

static void key_lease(struct buf *k, kv_lease id)
{
	key_meta(k, P_LEASE, id, "", 0);
}

static int rocks_lease_grant(struct kv *kv, int ttl_s, kv_lease *out,
			     struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	struct timespec ts;
	struct buf k = { 0 }, v = { 0 };
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&r->lock);
	kv_lease id = (kv_lease)(((uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec) &
				 INT64_MAX);
	if (id <= r->last_lease)
		id = r->last_lease + 1;
	key_lease(&k, id);
	key_put_u64(&v, (uint64_t)ttl_s);
	int rc = store_put(r->s, k.data, k.len, v.data, v.len, err);
	if (!rc) {
		lease_add(r, id, ttl_s);
		r->last_lease = id;
		*out = id;
		pthread_cond_broadcast(&r->wake);
	}
	pthread_mutex_unlock(&r->lock);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static int rocks_lease_keepalive(struct kv *kv, kv_lease id,
				 struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	pthread_mutex_lock(&r->lock);
	struct lease *l = lease_find(r, id);
	if (l)
		l->deadline_ms = now_ms() + l->ttl * 1000LL;
	pthread_mutex_unlock(&r->lock);
	return l ? 0 : mlfs_fail(err, -ENOENT, "kv: no lease %lld", (long long)id);
}

/* Delete lease ID's record and every key attached to it, as one revision.
 * Under LOCK. */
static int revoke_locked(struct rocks *r, kv_lease id, struct mlfs_err *err)
{
	struct lease *l = lease_find(r, id);
	if (!l)
		return mlfs_fail(err, -ENOENT, "kv: no lease %lld", (long long)id);
	*l = r->leases[--r->nleases];
	struct buf lo = { 0 }, hi = { 0 }, tmp = { 0 };
	key_lease(&lo, id);
	struct store_batch *b = store_batch_new();
	store_batch_delete(b, lo.data, lo.len);
	key_meta(&lo, P_ATTACH, id, "", 0);
	kv_prefix_end(&hi, lo.data, lo.len);
	struct rev_events *e = events_new(r->rev + 1);
	struct store_iter *it = store_iter_new(r->s, NULL, lo.data, lo.len,
					       hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		del_key(r, b, e, k + lo.len, kl - lo.len, id, &tmp);
	}
	int rc = store_iter_end(it, 0, &lo, &hi);
	buf_free(&tmp);
	if (rc) {
		store_batch_free(b);
		ev_unref(e);
		return rc;
	}
	return commit_locked(r, b, e, err);
}

static int rocks_lease_revoke(struct kv *kv, kv_lease id, struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	pthread_mutex_lock(&r->lock);
	int rc = revoke_locked(r, id, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void expire_leases(struct rocks *r)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < r->nleases;) {
		if (r->leases[i].deadline_ms > now) {
			i++;
			continue;
		}
		kv_lease id = r->leases[i].id;
		if (revoke_locked(r, id, NULL))
			store_notify(r->s, "kv: lease %lld expired, its keys not removed",
				     (long long)id);
	}
}

/* ---- watches: one dispatcher thread per store delivers from the ring ----
 *
 * A watch's SEEN moves forward one revision at a time; revisions with no
 * event under its prefix are passed over without a call.  FN runs without
 * the lock, with BUSY set; kv_watch_cancel waits for BUSY to clear (or,
 * called from FN itself, leaves the freeing to the dispatcher). */

static struct rwatch *watch_due(struct rocks *r)
{
	struct rwatch *due = NULL;
	for (struct rwatch *w = r->watches; w; w = w->next)
		if (!w->stale && w->seen < r->rev && (!due || w->seen < due->seen))
			due = w;
	return due;
}

/* Deliver W's next revision (or -ESTALE); under LOCK, dropped around FN. */
static void watch_step(struct rocks *r, struct rwatch *w)
{
	struct rev_events *e = NULL;
	if (w->seen + 1 < r->floor || !r->ring_n) {
		w->stale = true;
	} else {
		e = ring_at(r, w->seen + 1 - ring_at(r, 0)->rev);
		w->seen = e->rev;
	}
	struct kv_event *ev = NULL;
	size_t n = 0;
	for (size_t i = 0; e && i < e->n; i++) {
		if (e->ev[i].klen < w->plen ||
		    memcmp(e->ev[i].key, w->prefix, w->plen))
			continue;
		if (!ev && !(ev = malloc(e->n * sizeof(*ev))))
			mlfs_oom();
		ev[n++] = e->ev[i];
	}
	if (!n && !w->stale)
		return;
	if (e)
		e->refs++;
	w->busy = true;
	pthread_mutex_unlock(&r->lock);
	w->fn(w->ctx, ev, n, e ? e->rev : 0, e ? 0 : -ESTALE);
	free(ev);
	pthread_mutex_lock(&r->lock);
	ev_unref(e);
	w->busy = false;
	pthread_cond_broadcast(&r->idle);
	if (w->orphan) {
		free(w->prefix);
		free(w);
	}
}

static void *rocks_thread(void *arg)
{
	struct rocks *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct rwatch *w = watch_due(r);
		if (w) {
			watch_step(r, w);
			continue;
		}
		expire_leases(r);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (r->nleases)
			pthread_cond_timedwait(&r->wake, &r->lock, &ts);
		else
			pthread_cond_wait(&r->wake, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int rocks_watch(struct kv *kv, const void *prefix, size_t plen,
		       kv_rev from, kv_watch_fn fn, void *ctx,
		       struct kv_watch **out, struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	pthread_mutex_lock(&r->lock);
	if (!from)
		from = r->rev;
	if (from < r->rev && from + 1 < r->floor) {
		pthread_mutex_unlock(&r->lock);
		return mlfs_fail(err, -ESTALE, "kv: revision %llu compacted (oldest %llu)",
				 (unsigned long long)from + 1,
				 (unsigned long long)r->floor);
	}
	struct rwatch *w = calloc(1, sizeof(*w));
	if (!w)
		mlfs_oom();
	*w = (struct rwatch){ .head.kv = kv, .prefix = memdup(prefix, plen),
		.plen = plen, .fn = fn, .ctx = ctx, .seen = from, .next = r->watches };
	r->watches = w;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	*out = &w->head;
	return 0;
}

static void rocks_watch_cancel(struct kv_watch *kw)
{
	struct rocks *r = (struct rocks *)kw->kv;
	struct rwatch *w = (struct rwatch *)kw;
	pthread_mutex_lock(&r->lock);
	for (struct rwatch **p = &r->watches; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (w->busy && pthread_equal(pthread_self(), r->thread)) {
		w->orphan = true;
		w = NULL;
	}
	while (w && w->busy)
		pthread_cond_wait(&r->idle, &r->lock);
	pthread_mutex_unlock(&r->lock);
	if (w) {
		free(w->prefix);
		free(w);
	}
}

static int rocks_compact(struct kv *kv, kv_rev rev, struct mlfs_err *err)
{
	struct rocks *r = (struct rocks *)kv;
	pthread_mutex_lock(&r->lock);
	int rc = rev > r->rev ? -EINVAL : 0;
	if (!rc && rev > r->compacted) {
		r->compacted = rev;
		while (r->ring_n && ring_at(r, 0)->rev < rev)
			ring_drop_oldest(r);
		if (r->floor < rev)
			r->floor = rev;
		for (size_t i = 0; i < PINS; i++)
			if (r->pins[i] && r->pins[i]->rev < rev) {
				pin_unref(r, r->pins[i]);
				r->pins[i] = NULL;
			}
	}
	pthread_mutex_unlock(&r->lock);
	return rc ? mlfs_fail(err, rc, "kv: compact at %llu: a future revision",
			      (unsigned long long)rev) : 0;
}

/* ---- open and close: the state is the store's ---- */

/* The state lives until store_close; a kv_close leaves it to the store,
 * which may have other openers. */
static void rocks_close(struct kv *kv)
{
	(void)kv;
}

static const struct kv_ops rocks_ops = {
	.name = "rocksdb",
	.close = rocks_close,
	.get = rocks_get,
	.range = rocks_range,
	.commit = rocks_commit,
	.watch = rocks_watch,
	.watch_cancel = rocks_watch_cancel,
	.lease_grant = rocks_lease_grant,
	.lease_keepalive = rocks_lease_keepalive,
	.lease_revoke = rocks_lease_revoke,
	.compact = rocks_compact,
};

static void *rocks_new(void)
{
	struct rocks *r = calloc(1, sizeof(*r));
	if (!r)
		mlfs_oom();
	r->kv.ops = &rocks_ops;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_cond_init(&r->idle, NULL);
	return r;
}

static void rocks_free(void *p)
{
	struct rocks *r = p;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_broadcast(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	while (r->watches) {
		struct rwatch *w = r->watches;
		r->watches = w->next;
		free(w->prefix);
		free(w);
	}
	while (r->ring_n)
		ring_drop_oldest(r);
	for (size_t i = 0; i < PINS; i++)
		if (r->pins[i])
			pin_unref(r, r->pins[i]);
	free(r->leases);
	pthread_cond_destroy(&r->idle);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Read the revision and the leases (each given its full TTL again, as
 * etcd does after a restart); under LOCK. */
static int rocks_load(struct rocks *r, struct mlfs_err *err)
{
	struct buf v = { 0 }, lo = { 0 }, hi = { 0 };
	int rc = store_get(r->s, NULL, K_REV, 2, &v, err);
	r->rev = !rc && v.len == 8 ? key_get_u64(v.data) : 1;
	r->floor = r->rev + 1;
	buf_free(&v);
	if (rc && rc != -ENOENT)
		return rc;
	key_lease(&lo, 0);
	lo.len = 2;
	kv_prefix_end(&hi, lo.data, lo.len);
	struct store_iter *it = store_iter_new(r->s, NULL, lo.data, lo.len,
					       hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *val = store_iter_value(it, &vl);
		if (kl != 10 || vl != 8)
			continue;
		kv_lease id = (kv_lease)key_get_u64(k + 2);
		lease_add(r, id, (int)key_get_u64(val));
		if (id > r->last_lease)
			r->last_lease = id;
	}
	return store_iter_end(it, 0, &lo, &hi);
}

static const char rocks_key;

int kv_rocks_open(struct store *s, struct kv **out, struct mlfs_err *err)
{
	struct rocks *r = store_state(s, &rocks_key, rocks_new, rocks_free);
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	if (!r->s) {
		r->s = s;
		rc = rocks_load(r, err);
		if (!rc)
			rc = -pthread_create(&r->thread, NULL, rocks_thread, r);
		r->started = !rc;
		if (rc)
			r->s = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	if (!rc)
		*out = &r->kv;
	return rc;
}
