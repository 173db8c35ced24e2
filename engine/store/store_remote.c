/* store_remote.c - the remote backend of store.h: a replicated log of
 * write batches in etcd (kv.h), large batches in S3 (objstore.h), and a
 * local RocksDB replica (the store itself) that applies the log in order.
 *
 * A write is one kv commit guarded by "NAME/head == the seq this host
 * applied"; when another host committed first, the replica catches up
 * and the write is rebased unless a caught-up entry touched a key the
 * writing thread read since its store_txn_begin (then -EAGAIN).  One
 * watch on NAME/log/ applies other hosts' entries as they come.
 * docs/scale-out.md has the design, docs/store-format.md the records. */
#include "store.h"
#include "store_int.h"
#include "store_log.h"
#include "store_checkpoint.h"
#include "kv.h"
#include "objstore.h"
#include "names.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define REMOTE_NAME_MAX 64
/* Reads one operation keeps for its conflict check; beyond, any change
 * by another host conflicts with it. */
#define TXN_READS_MAX 1024
#define COMMIT_TRIES 64
#define RANGE_PAGE 64

static const char K_APPLIED[] = STORE_K_APPLIED;
static const char K_ORIGIN[] = STORE_K_ORIGIN;

struct read_range {
	size_t lo, lol;		/* offsets into the arena */
	size_t hi, hil;
	bool unbounded;		/* no upper bound */
};

/* One thread's operation: what it read since it began. */
struct remote_txn {
	pthread_t thread;
	pthread_mutex_t lock;
	bool explicit_begin;	/* store_txn_begin was called on this thread */
	bool poisoned;		/* another host changed what it read */
	bool all;		/* too many reads: any change conflicts */
	/* An inner operation (store_txn_inner): its reads are r[nest..n),
	 * and its writes are checked against those alone; SIZE_MAX: none. */
	size_t nest;
	bool inner_poisoned;
	struct read_range *r;
	size_t n, cap;
	struct buf arena;
	struct remote_txn *next;
};

struct store_remote {
	struct store *s;
	struct kv *kv;
	struct objstore *os;
	char name[REMOTE_NAME_MAX + 1];
	char host[STORE_WRITER_MAX];	/* names_session: the writer's name */
	uint64_t gen;		/* tells this handle from a freed one */
	/* Applying and committing, one at a time; APPLIED under it (read
	 * without it atomically). */
	pthread_mutex_t mu;
	uint64_t applied;
	struct kv_watch *watch, *dead_watch;
	pthread_mutex_t txn_lock;
	struct remote_txn *txns;
};

static uint64_t remote_gens;
static __thread struct remote_txn *tl_txn;
static __thread uint64_t tl_gen;

static void put_be(unsigned char b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

/* The calling thread's operation on R, made on first use. */
static struct remote_txn *txn_mine(struct store_remote *r)
{
	if (tl_gen == r->gen && tl_txn)
		return tl_txn;
	pthread_t self = pthread_self();
	pthread_mutex_lock(&r->txn_lock);
	struct remote_txn *t = r->txns;
	while (t && !pthread_equal(t->thread, self))
		t = t->next;
	if (!t) {
		if (!(t = calloc(1, sizeof(*t))))
			mlfs_oom();
		t->thread = self;
		pthread_mutex_init(&t->lock, NULL);
		t->nest = SIZE_MAX;
		t->next = r->txns;
		r->txns = t;
	}
	pthread_mutex_unlock(&r->txn_lock);
	tl_txn = t;
	tl_gen = r->gen;
	return t;
}

static void txn_reset(struct remote_txn *t)
{
	pthread_mutex_lock(&t->lock);
	t->n = 0;
	t->all = t->poisoned = t->inner_poisoned = false;
	t->nest = SIZE_MAX;
	buf_reset(&t->arena);
	pthread_mutex_unlock(&t->lock);
}

void store_remote_txn_inner(struct store_remote *r, bool on)
{
	struct remote_txn *t = txn_mine(r);
	pthread_mutex_lock(&t->lock);
	if (t->nest != SIZE_MAX) {	/* drop the inner reads */
		t->n = t->nest;
		t->arena.len = t->n ? t->r[t->n - 1].hi + t->r[t->n - 1].hil : 0;
	}
	t->nest = on ? t->n : SIZE_MAX;
	t->inner_poisoned = false;
	pthread_mutex_unlock(&t->lock);
}

void store_remote_txn_begin(struct store_remote *r)
{
	struct remote_txn *t = txn_mine(r);
	t->explicit_begin = true;
	txn_reset(t);
}

void store_remote_note_read(struct store_remote *r, const void *lo,
			    size_t lol, const void *hi, size_t hil,
			    bool point)
{
	struct remote_txn *t = txn_mine(r);
	pthread_mutex_lock(&t->lock);
	if (t->all)
		goto out;
	if (t->n == TXN_READS_MAX && t->nest == SIZE_MAX) {
		t->all = true;
		goto out;
	}
	/* A lookup reads the same keys again and again. */
	if (t->n && point && (t->nest == SIZE_MAX || t->n > t->nest)) {
		struct read_range *last = &t->r[t->n - 1];
		if (last->lol == lol && !memcmp(t->arena.data + last->lo, lo, lol))
			goto out;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		if (!(t->r = realloc(t->r, t->cap * sizeof(*t->r))))
			mlfs_oom();
	}
	buf_reserve(&t->arena, 2 * lol + hil + 2);	/* never a NULL arena */
	struct read_range *rr = &t->r[t->n++];
	rr->lo = t->arena.len;
	rr->lol = lol;
	buf_append(&t->arena, lo, lol);
	rr->hi = t->arena.len;
	rr->unbounded = !point && !hi;
	if (point) {	/* [KEY, KEY "\0") */
		buf_append(&t->arena, lo, lol);
		buf_putc(&t->arena, '\0');
		rr->hil = lol + 1;
	} else {
		buf_append(&t->arena, hi ? hi : "", hi ? hil : 0);
		rr->hil = hi ? hil : 0;
	}
out:
	pthread_mutex_unlock(&t->lock);
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/* Whether the written key B (E NULL) or range [B, E) meets read RR. */
static bool range_meets(const char *a, const struct read_range *rr,
			const char *b, size_t bl, const char *e, size_t el)
{
	/* the write's start below the read's end ... */
	if (!rr->unbounded && bytes_cmp(b, bl, a + rr->hi, rr->hil) >= 0)
		return false;
	/* ... and the read's start below the write's end */
	return e ? !el || bytes_cmp(a + rr->lo, rr->lol, e, el) < 0
		 : bytes_cmp(a + rr->lo, rr->lol, b, bl) <= 0;
}

/* Mark T's operation (and its inner one) when the write meets their
 * reads: 1 stops the walk once both are marked. */
static int poison_reads(void *ctx, const char *b, size_t bl, const char *e,
			size_t el)
{
	struct remote_txn *t = ctx;
	for (size_t i = 0; i < t->n; i++) {
		if (!range_meets(t->arena.data, &t->r[i], b, bl, e, el))
			continue;
		if (i < t->nest)
			t->poisoned = true;
		else
			t->inner_poisoned = true;
	}
	return t->poisoned && (t->nest == SIZE_MAX || t->inner_poisoned);
}

/* Another host's batch REP is being applied: mark every operation that
 * read what it writes. */
static void txns_poison(struct store_remote *r, const char *rep, size_t len)
{
	pthread_mutex_lock(&r->txn_lock);
	for (struct remote_txn *t = r->txns; t; t = t->next) {
		pthread_mutex_lock(&t->lock);
		/* -EINVAL: a record the walk does not know, so it may meet any */
		if (t->all || (t->n && log_batch_keys(rep, len, poison_reads, t) < 0))
			t->poisoned = t->inner_poisoned = true;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&r->txn_lock);
}

/* Catching up: the id of the entry a writer waits for, and what came. */
struct apply_ctx {
	struct store_remote *r;
	const unsigned char *want_id;
	bool landed;		/* the entry of WANT_ID was applied */
	int foreign;		/* entries of others applied */
	struct mlfs_err *err;
	int rc;
};

/* Apply the entry SEQ (value V) to the replica, its seq in the same
 * write; under R->mu. */
static int apply_entry(struct apply_ctx *ac, uint64_t seq, const char *v,
		       size_t vl)
{
	struct store_remote *r = ac->r;
	enum log_entry_kind kind;
	const unsigned char *id;
	const char *p;
	size_t n;
	struct buf obj = { 0 };
	unsigned char be[8];
	if (log_entry_decode(v, vl, &kind, &id, &p, &n))
		return mlfs_fail(ac->err, -EIO, "store %s: log entry %llu is not one",
				 r->name, (unsigned long long)seq);
	if (kind == LOG_ENTRY_OBJECT) {
		char oname[OBJSTORE_NAME_MAX + 1];
		snprintf(oname, sizeof(oname), "%.*s", (int)n, p);
		int rc = objstore_get(r->os, oname, 0, 0, &obj, ac->err);
		if (rc) {
			buf_free(&obj);
			return rc;
		}
		p = obj.data;
		n = obj.len;
	}
	bool own = ac->want_id && !memcmp(id, ac->want_id, LOG_ID_LEN);
	put_be(be, seq);
	int rc = store_local_apply(r->s, p, n, K_APPLIED, sizeof(K_APPLIED) - 1,
				   be, 8, ac->err);
	if (!rc) {
		__atomic_store_n(&r->applied, seq, __ATOMIC_SEQ_CST);
		/* After the apply: a read noted before it may have seen the old
		 * value (a read is noted before it is made), so it conflicts;
		 * one noted between the apply and here conflicts needlessly. */
		if (own)
			ac->landed = true;
		else {
			txns_poison(r, p, n);
			ac->foreign++;
		}
	}
	buf_free(&obj);
	return rc;
}

static int apply_ranged(void *ctx, const char *key, size_t klen,
			const char *val, size_t vlen, kv_rev mod)
{
	struct apply_ctx *ac = ctx;
	uint64_t seq;
	(void)mod;
	if (!log_key_seq(ac->r->name, key, klen, &seq))
		return 0;
	if (seq != ac->r->applied + 1)
		return mlfs_fail(ac->err, -ESTALE, "store %s: log entry %llu is gone "
				 "(the log was compacted past this replica's %llu): "
				 "mount with a fresh cache", ac->r->name,
				 (unsigned long long)ac->r->applied + 1,
				 (unsigned long long)ac->r->applied);
	return apply_entry(ac, seq, val, vlen);
}

/* The log's head (0: empty) into *HEAD. */
static int head_get(struct store_remote *r, uint64_t *head,
		    struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	log_key_head(&k, r->name);
	int rc = kv_get(r->kv, k.data, k.len, &v, NULL, err);
	*head = 0;
	if (rc == -ENOENT)
		rc = 0;
	else if (!rc && v.len == 8)
		*head = key_get_u64(v.data);
	else if (!rc)
		rc = mlfs_fail(err, -EIO, "store %s: its head is not a sequence number", r->name);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* The replica is missing entries that are gone (or is empty): load the
 * newest checkpoint past it, under R->mu.  Every operation in flight
 * conflicts, and the change hook drops every cache.  -ESTALE when there
 * is none newer. */
static int checkpoint_load(struct apply_ctx *ac)
{
	struct store_remote *r = ac->r;
	uint64_t seq;
	struct mlfs_err err = { 0 };
	int rc = -ENOENT;
	/* -ENOENT: a newer checkpoint's compaction removed its objects */
	for (int i = 0; i < 3 && rc == -ENOENT; i++)
		rc = ckpt_load(r->s, r->kv, r->os, r->name, r->applied, &seq, &err);
	if (rc)
		return mlfs_fail(ac->err, rc == -ESTALE ? -EIO : rc, "%s", err.msg);
	if (seq == r->applied)
		return -ESTALE;
	__atomic_store_n(&r->applied, seq, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&r->txn_lock);
	for (struct remote_txn *t = r->txns; t; t = t->next) {
		pthread_mutex_lock(&t->lock);
		t->poisoned = t->inner_poisoned = true;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&r->txn_lock);
	ac->foreign++;
	return 0;
}

/* Apply every entry up to the head (HEAD, or read now when 0); under
 * R->mu. */
static int catch_up(struct apply_ctx *ac, uint64_t head)
{
	struct store_remote *r = ac->r;
	struct buf b = { 0 }, e = { 0 };
	int rc = head ? 0 : head_get(r, &head, ac->err);
	while (!rc && r->applied < head) {
		uint64_t from = r->applied;
		log_key_entry(&b, r->name, from + 1);
		log_key_entry(&e, r->name, head + 1);
		rc = kv_range(r->kv, b.data, b.len, e.data, e.len, RANGE_PAGE, false, 0,
			      apply_ranged, ac, NULL, ac->err);
		if ((rc == -ESTALE || (!rc && r->applied == from)) && !checkpoint_load(ac))
			rc = 0;
		else if (!rc && r->applied == from)
			rc = mlfs_fail(ac->err, -ESTALE, "store %s: log entries %llu-%llu are "
				       "gone (compacted past this replica): mount with a "
				       "fresh cache", r->name, (unsigned long long)from + 1,
				       (unsigned long long)head);
	}
	buf_free(&b);
	buf_free(&e);
	return rc;
}

int store_remote_refresh(struct store_remote *r, struct mlfs_err *err)
{
	uint64_t head;
	int rc = head_get(r, &head, err);
	if (rc || head <= __atomic_load_n(&r->applied, __ATOMIC_SEQ_CST))
		return rc;
	struct apply_ctx ac = { .r = r, .err = err };
	pthread_mutex_lock(&r->mu);
	rc = catch_up(&ac, head);
	pthread_mutex_unlock(&r->mu);
	if (ac.foreign)
		store_changed(r->s);
	return rc;
}

/* Commit the entry V as the next after what R applied: 0 (*SEQ its seq)
 * or kv_commit's error (-ECANCELED: another host was first). */
static int commit_next(struct store_remote *r, const struct buf *v,
		       uint64_t *seq, struct mlfs_err *err)
{
	struct buf hk = { 0 }, ek = { 0 };
	unsigned char cur[8], next[8];
	*seq = r->applied + 1;
	put_be(cur, r->applied);
	put_be(next, *seq);
	log_key_head(&hk, r->name);
	log_key_entry(&ek, r->name, *seq);
	struct kv_cmp cmp = { .kind = r->applied ? KV_CMP_VALUE_EQ : KV_CMP_ABSENT,
			      .key = hk.data, .klen = hk.len, .val = cur, .vlen = 8 };
	struct kv_op ops[2] = {
		{ .kind = KV_OP_PUT, .key = hk.data, .klen = hk.len, .val = next, .vlen = 8 },
		{ .kind = KV_OP_PUT, .key = ek.data, .klen = ek.len, .val = v->data, .vlen = v->len },
	};
	int rc = kv_commit(r->kv, &cmp, 1, ops, 2, NULL, err);
	buf_free(&hk);
	buf_free(&ek);
	return rc;
}

/* The log entry of batch REP into V, its object written first when the
 * batch is too big to ride inline. */
static int entry_make(struct store_remote *r, const char *rep, size_t len,
		      const unsigned char id[LOG_ID_LEN], struct buf *v,
		      struct mlfs_err *err)
{
	if (len <= LOG_INLINE_MAX) {
		log_entry_encode(v, LOG_ENTRY_INLINE, id, rep, len);
		return 0;
	}
	char oname[OBJSTORE_NAME_MAX];
	int n = snprintf(oname, sizeof(oname), "%s/batches/%s-", r->name, r->host);
	for (int i = 0; i < LOG_ID_LEN; i++)
		n += snprintf(oname + n, sizeof(oname) - (size_t)n, "%02x", id[i]);
	int rc = objstore_put_once(r->os, oname, rep, len, err);
	if (!rc)
		log_entry_encode(v, LOG_ENTRY_OBJECT, id, oname, strlen(oname));
	return rc;
}

/* Our entry SEQ (batch REP) committed: apply it; under R->mu.  On a
 * failure it stays acknowledged, and the next catch-up applies it. */
static int apply_own(struct store_remote *r, uint64_t seq, const char *rep,
		     size_t len, struct mlfs_err *err)
{
	unsigned char be[8];
	put_be(be, seq);
	int rc = store_local_apply(r->s, rep, len, K_APPLIED, sizeof(K_APPLIED) - 1,
				   be, 8, err);
	if (!rc)
		__atomic_store_n(&r->applied, seq, __ATOMIC_SEQ_CST);
	return rc;
}

/* Commit under R->mu until it lands, catching up and rebasing when
 * another host was first; -EAGAIN when what came touched what the
 * thread read. */
static int commit_rebasing(struct store_remote *r, struct remote_txn *t,
			   const char *rep, size_t len, const struct buf *v,
			   const unsigned char *id, int *foreign,
			   struct mlfs_err *err)
{
	struct apply_ctx ac = { .r = r, .want_id = id, .err = err };
	int rc = -EAGAIN;
	for (int i = 0; i < COMMIT_TRIES; i++) {
		pthread_mutex_lock(&t->lock);
		bool poisoned = t->nest == SIZE_MAX ? t->poisoned : t->inner_poisoned;
		pthread_mutex_unlock(&t->lock);
		if (poisoned) {
			rc = mlfs_fail(err, -EAGAIN, "store %s: another host changed what "
				       "this write read; nothing was written: try again",
				       r->name);
			break;
		}
		uint64_t seq;
		rc = commit_next(r, v, &seq, err);
		if (!rc) {
			rc = apply_own(r, seq, rep, len, err);
			break;
		}
		if (rc != -ECANCELED && rc != -ETIMEDOUT && rc != -EIO)
			break;
		/* Another host was first, or the outcome is unknown: see. */
		int crc = catch_up(&ac, 0);
		if (ac.landed || crc) {
			rc = crc;
			break;
		}
		rc = mlfs_fail(err, -EAGAIN, "store %s: %d commits lost to other hosts "
			       "in a row", r->name, i + 1);
	}
	*foreign = ac.foreign;
	return rc;
}

int store_remote_write(struct store_remote *r, const char *rep, size_t len,
		       struct mlfs_err *err)
{
	struct remote_txn *t = txn_mine(r);
	unsigned char id[LOG_ID_LEN];
	struct buf v = { 0 };
	int foreign = 0;
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return mlfs_fail(err, -EIO, "store %s: no random bytes", r->name);
	int rc = entry_make(r, rep, len, id, &v, err);
	if (!rc) {
		pthread_mutex_lock(&r->mu);
		rc = commit_rebasing(r, t, rep, len, &v, id, &foreign, err);
		pthread_mutex_unlock(&r->mu);
	}
	buf_free(&v);
	if (foreign)
		store_changed(r->s);
	/* A thread that never marks its operations: one ends at a write. */
	if (!t->explicit_begin && (!rc || rc == -EAGAIN))
		txn_reset(t);
	return rc;
}

static int watch_start(struct store_remote *r, struct mlfs_err *err);

/* Other hosts' entries as etcd commits them (ours are applied already,
 * by the writer); a gap is filled by a catch-up. */
static void watch_fn(void *ctx, const struct kv_event *ev, size_t n,
		     kv_rev rev, int werr)
{
	struct store_remote *r = ctx;
	struct mlfs_err err = { 0 };
	struct apply_ctx ac = { .r = r, .err = &err };
	int rc = 0;
	(void)rev;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; !rc && i < n; i++) {
		uint64_t seq;
		if (ev[i].kind != KV_EV_PUT ||
		    !log_key_seq(r->name, ev[i].key, ev[i].klen, &seq) || seq <= r->applied)
			continue;
		rc = seq == r->applied + 1 ? apply_entry(&ac, seq, ev[i].val, ev[i].vlen)
					   : catch_up(&ac, 0);
	}
	if (werr == -ESTALE) {
		/* The watch fell behind a compaction: re-list from the replica's
		 * seq, and watch again from now. */
		rc = catch_up(&ac, 0);
		r->dead_watch = r->watch;
		r->watch = NULL;
		if (!rc)
			rc = watch_start(r, &err);
	}
	pthread_mutex_unlock(&r->mu);
	if (rc)
		store_notify(r->s, "store %s: applying other hosts' changes: %s", r->name,
			     err.msg[0] ? err.msg : strerror(-rc));
	if (ac.foreign)
		store_changed(r->s);
}

static int watch_start(struct store_remote *r, struct mlfs_err *err)
{
	struct buf p = { 0 };
	buf_puts(&p, r->name);
	buf_puts(&p, "/log/");
	int rc = kv_watch(r->kv, p.data, p.len, 0, watch_fn, r, &r->watch, err);
	buf_free(&p);
	return rc;
}

void store_remote_parts(struct store_remote *r, struct kv **kv,
			struct objstore **os, const char **name,
			const char **host)
{
	*kv = r->kv;
	*os = r->os;
	*name = r->name;
	*host = r->host;
}

uint64_t store_remote_applied(struct store_remote *r)
{
	return __atomic_load_n(&r->applied, __ATOMIC_SEQ_CST);
}

void store_remote_free(struct store_remote *r)
{
	if (!r)
		return;
	if (r->watch)
		kv_watch_cancel(r->watch);
	if (r->dead_watch)
		kv_watch_cancel(r->dead_watch);
	while (r->txns) {
		struct remote_txn *t = r->txns;
		r->txns = t->next;
		pthread_mutex_destroy(&t->lock);
		free(t->r);
		buf_free(&t->arena);
		free(t);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->txn_lock);
	free(r);
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > REMOTE_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-") == n;
}

/* The replica in S belongs to NAME (recorded on first use); its applied
 * seq into R. */
static int replica_claim(struct store_remote *r, struct mlfs_err *err)
{
	struct buf v = { 0 };
	int rc = store_get(r->s, NULL, K_ORIGIN, sizeof(K_ORIGIN) - 1, &v, err);
	if (rc == -ENOENT)
		rc = store_local_apply(r->s, NULL, 0, K_ORIGIN, sizeof(K_ORIGIN) - 1,
				       r->name, strlen(r->name), err);
	else if (!rc && (v.len != strlen(r->name) || memcmp(v.data, r->name, v.len)))
		rc = mlfs_fail(err, -EINVAL, "the cache holds a replica of store '%.*s', "
			       "not '%s'", (int)v.len, v.data, r->name);
	if (!rc && !(rc = store_get(r->s, NULL, K_APPLIED, sizeof(K_APPLIED) - 1, &v, err)))
		r->applied = v.len == 8 ? key_get_u64(v.data) : 0;
	else if (rc == -ENOENT)
		rc = 0;
	buf_free(&v);
	return rc;
}

const char *store_writer_name(struct store *s)
{
	struct store_remote *r = store_remote_of(s);
	return r ? r->host : "";
}

void store_set_writer_name(struct store *s, const char *name)
{
	struct store_remote *r = store_remote_of(s);
	if (r && name && strlen(name) < sizeof(r->host))
		snprintf(r->host, sizeof(r->host), "%s", name);
}

int store_open_remote(const char *cache_dir, const char *name, struct kv *kv,
		      struct objstore *os, struct store **out,
		      struct mlfs_err *err)
{
	struct store *s;
	*out = NULL;
	if (!name_ok(name))
		return mlfs_fail(err, -EINVAL, "'%s': a store name is 1-%d of "
				 "[A-Za-z0-9._-], not starting with '.'", name,
				 REMOTE_NAME_MAX);
	int rc = store_open(cache_dir, true, &s, err);
	if (rc)
		return rc;
	struct store_remote *r = calloc(1, sizeof(*r));
	if (!r)
		mlfs_oom();
	r->s = s;
	r->kv = kv;
	r->os = os;
	r->gen = __atomic_add_fetch(&remote_gens, 1, __ATOMIC_SEQ_CST);
	snprintf(r->name, sizeof(r->name), "%s", name);
	names_session(NULL, r->host, sizeof(r->host));
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->txn_lock, NULL);
	if ((rc = replica_claim(r, err))) {
		store_remote_free(r);
		store_close(s);
		return rc;
	}
	/* Watch first, then catch up: nothing falls between the two. */
	struct apply_ctx ac = { .r = r, .err = err };
	rc = watch_start(r, err);
	pthread_mutex_lock(&r->mu);
	/* an empty replica starts from the newest checkpoint, if any */
	if (!rc && !r->applied && (rc = checkpoint_load(&ac)) == -ESTALE)
		rc = 0;
	if (!rc)
		rc = catch_up(&ac, 0);
	pthread_mutex_unlock(&r->mu);
	if (rc) {
		store_remote_free(r);
		store_close(s);
		return rc;
	}
	store_set_remote(s, r);
	*out = s;
	return 0;
}

/* mlfs check: the objects no log entry names. */
struct check_ctx {
	const char *name;
	char **named;
	size_t n, cap;
	int (*fn)(void *ctx, const char *object);
	void *ctx;
};

/* P, N bytes, is a name an entry or the checkpoint names. */
static void check_add(struct check_ctx *cc, const char *p, size_t n)
{
	if (cc->n == cc->cap) {
		cc->cap = cc->cap ? 2 * cc->cap : 16;
		if (!(cc->named = realloc(cc->named, cc->cap * sizeof(char *))))
			mlfs_oom();
	}
	char *s = malloc(n + 1);
	if (!s)
		mlfs_oom();
	memcpy(s, p, n);
	s[n] = '\0';
	cc->named[cc->n++] = s;
}

static int check_entry(void *ctx, const char *key, size_t klen,
		       const char *val, size_t vlen, kv_rev mod)
{
	struct check_ctx *cc = ctx;
	enum log_entry_kind kind;
	const unsigned char *id;
	const char *p;
	size_t n;
	uint64_t seq;
	(void)mod;
	if (!log_key_seq(cc->name, key, klen, &seq) ||
	    log_entry_decode(val, vlen, &kind, &id, &p, &n) || kind != LOG_ENTRY_OBJECT)
		return 0;
	check_add(cc, p, n);
	return 0;
}

static int check_object(void *ctx, const char *object, uint64_t size)
{
	struct check_ctx *cc = ctx;
	(void)size;
	for (size_t i = 0; i < cc->n; i++)
		if (!strcmp(cc->named[i], object))
			return 0;
	return cc->fn(cc->ctx, object);
}

int store_remote_check(struct kv *kv, struct objstore *os, const char *name,
		       int (*fn)(void *ctx, const char *object), void *ctx,
		       struct mlfs_err *err)
{
	struct check_ctx cc = { .name = name, .fn = fn, .ctx = ctx };
	struct buf b = { 0 }, e = { 0 }, prefix = { 0 };
	log_key_entry(&b, name, 0);
	log_key_entry(&e, name, UINT64_MAX);
	int rc = kv_range(kv, b.data, b.len, e.data, e.len, 0, false, 0, check_entry,
			  &cc, NULL, err);
	struct ckpt_rec rec = { 0 };
	if (!rc)
		rc = ckpt_read(kv, name, &rec, NULL, err);
	for (size_t i = 0, o = 0; !rc && i < rec.nobj; i++, o += strlen(rec.names.data + o) + 1)
		check_add(&cc, rec.names.data + o, strlen(rec.names.data + o));
	ckpt_rec_free(&rec);
	buf_printf(&prefix, "%s/batches/", name);
	if (!rc)
		rc = objstore_list_all(os, prefix.data, NULL, check_object, &cc, err);
	buf_reset(&prefix);
	buf_printf(&prefix, "%s/checkpoints/", name);
	if (!rc)
		rc = objstore_list_all(os, prefix.data, NULL, check_object, &cc, err);
	for (size_t i = 0; i < cc.n; i++)
		free(cc.named[i]);
	free(cc.named);
	buf_free(&b);
	buf_free(&e);
	buf_free(&prefix);
	return rc;
}
