/* cluster.c - sessions, leader election, fencing and claims over kv.h
 * (cluster.h): one session per mount (a lease, its keepalive thread and a
 * record attached to it), one watch of the election keys that keeps each
 * role's state, and the per-store binding (store_state) that the mount
 * sets with cluster_attach or that the first use sets to the embedded kv.
 * Not a consensus algorithm: etcd (or the one embedded process) decides;
 * this only reads its answers. */
#include "cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "csv.h"
#include "names.h"
#include "store.h"

#define NAME_LEN (CLUSTER_NAME_MAX + 32)

/* One role's state.  Transitions (all under cluster.lock, REV the
 * revision the news is of, applied only when REV >= SEEN):
 *   our campaign commits at R, or the watch/a read shows our token at R
 *                                  -> FENCE = R (leading)
 *   the key shows another token    -> FENCE = 0
 *   the key is deleted at D        -> FENCE = 0, then campaign if WANT
 * cluster_leads adds: the session's last keepalive is recent enough. */
struct role {
	char name[CLUSTER_NAME_MAX + 1];
	bool want;		/* campaigning for it */
	bool settled;		/* its first campaign ended */
	bool resigned;		/* for good: no campaign again */
	kv_rev seen;		/* the newest revision applied */
	kv_rev fence;		/* our key's mod revision; 0: not ours */
};

struct cluster {
	struct kv *kv;
	struct kv *own_kv;	/* the embedded kv we opened, or NULL */
	char prefix[256];
	char name[NAME_LEN];	/* "HOST.PID" */
	char host[NAME_LEN];
	char mount[1024];
	int ttl_s;
	int64_t start_ms;	/* wall clock, for the record */
	pthread_t thread;
	bool threaded;		/* THREAD runs */
	struct kv_watch *watch;	/* the keepalive thread's once started */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t settle;	/* a role's first campaign ended */
	/* guarded by lock: */
	kv_lease lease;		/* 0 while the session is lost */
	int64_t alive_ns;	/* monotonic send time of the last good keepalive */
	bool stop, paused, resync;
	struct role roles[CLUSTER_ROLES];
	size_t nroles;
};

/* ---- keys and values ---- */

/* PREFIX "h/" KIND "/" NAME into K (reset first). */
static void key_of(const struct cluster *c, struct buf *k, char kind, const char *name)
{
	buf_reset(k);
	buf_printf(k, "%sh/%c/%s", c->prefix, kind, name);
}

/* What the election key of a role we hold says: session and lease. */
static void token_of(struct cluster *c, kv_lease lease, struct buf *v)
{
	buf_reset(v);
	buf_printf(v, "%s %" PRIx64, c->name, (uint64_t)lease);
}

/* ---- roles ---- */

/* Under LOCK; a role, once added, stays where it is. */
static struct role *role_find(struct cluster *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nroles; i++)
		if (strlen(c->roles[i].name) == len && !memcmp(c->roles[i].name, name, len))
			return &c->roles[i];
	return NULL;
}

/* The key of ROLE shows VAL (NULL: absent) as of revision REV. */
static void role_note(struct cluster *c, struct role *r, const char *val, size_t vlen,
		      kv_rev rev)
{
	struct buf mine = { 0 };
	pthread_mutex_lock(&c->lock);
	token_of(c, c->lease, &mine);
	if (rev >= r->seen) {
		r->seen = rev;
		/* a late event of our own key after a resign is not a win */
		r->fence = r->want && c->lease && val && vlen == mine.len &&
			!memcmp(val, mine.data, vlen) ? rev : 0;
	}
	pthread_mutex_unlock(&c->lock);
	buf_free(&mine);
}

/* Try to take ROLE: create its key, attached to our lease, if absent.
 * Else read who holds it; a deletion later comes through the watch. */
static void campaign(struct cluster *c, struct role *r)
{
	struct buf k = { 0 }, v = { 0 };
	pthread_mutex_lock(&c->lock);
	kv_lease lease = c->lease;
	bool go = r->want && lease && !c->stop;
	token_of(c, lease, &v);
	pthread_mutex_unlock(&c->lock);
	if (!go)
		goto out;
	key_of(c, &k, 'e', r->name);
	struct kv_cmp cmp = { .kind = KV_CMP_ABSENT, .key = k.data, .klen = k.len };
	struct kv_op op = { .kind = KV_OP_PUT, .key = k.data, .klen = k.len,
			    .val = v.data, .vlen = v.len, .lease = lease };
	kv_rev rev = 0;
	int rc = kv_commit(c->kv, &cmp, 1, &op, 1, &rev, NULL);
	if (!rc) {
		role_note(c, r, v.data, v.len, rev);
	} else if (rc == -ECANCELED && !kv_get(c->kv, k.data, k.len, &v, &rev, NULL)) {
		role_note(c, r, v.data, v.len, rev);
	}
out:
	buf_free(&k);
	buf_free(&v);
}

/* Campaign for every role we want whose key we do not hold. */
static void campaign_all(struct cluster *c)
{
	for (size_t i = 0; i < CLUSTER_ROLES; i++) {
		pthread_mutex_lock(&c->lock);
		bool go = i < c->nroles && c->roles[i].want && !c->roles[i].fence;
		pthread_mutex_unlock(&c->lock);
		if (go)
			campaign(c, &c->roles[i]);
	}
}

/* The election watch: every change of a role's key, in revision order. */
static void on_elect(void *ctx, const struct kv_event *ev, size_t n, kv_rev rev, int err)
{
	struct cluster *c = ctx;
	struct buf k = { 0 };
	if (err) {
		/* compacted past us: the keepalive thread watches again */
		pthread_mutex_lock(&c->lock);
		c->resync = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	key_of(c, &k, 'e', "");
	for (size_t i = 0; i < n; i++) {
		if (ev[i].klen <= k.len)
			continue;
		pthread_mutex_lock(&c->lock);
		struct role *r = role_find(c, ev[i].key + k.len, ev[i].klen - k.len);
		pthread_mutex_unlock(&c->lock);
		if (!r)
			continue;
		bool put = ev[i].kind == KV_EV_PUT;
		role_note(c, r, put ? ev[i].val : NULL, ev[i].vlen, rev);
		if (!put)
			campaign(c, r);
	}
	buf_free(&k);
}

/* (Re)start the watch of the election keys, then read each role's key
 * once: what changed before the watch began. */
static int watch_roles(struct cluster *c, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	if (c->watch)
		kv_watch_cancel(c->watch);
	c->watch = NULL;
	key_of(c, &k, 'e', "");
	int rc = kv_watch(c->kv, k.data, k.len, 0, on_elect, c, &c->watch, err);
	for (size_t i = 0; !rc && i < CLUSTER_ROLES; i++) {
		pthread_mutex_lock(&c->lock);
		bool known = i < c->nroles;
		pthread_mutex_unlock(&c->lock);
		if (!known)
			break;
		key_of(c, &k, 'e', c->roles[i].name);
		kv_rev mod = 0;
		int g = kv_get(c->kv, k.data, k.len, &v, &mod, NULL);
		if (!g)
			role_note(c, &c->roles[i], v.data, v.len, mod);
		else if (g == -ENOENT)
			campaign(c, &c->roles[i]);
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* ---- the session ---- */

/* Grant a lease and create our record attached to it.  -EEXIST when a
 * live session has our name. */
static int session_join(struct cluster *c, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	kv_lease lease = 0;
	int64_t sent = clock_mono_ns();
	int rc = kv_lease_grant(c->kv, c->ttl_s, &lease, err);
	if (rc)
		return rc;
	key_of(c, &k, 's', c->name);
	buf_printf(&v, "%s\t%ld\t%" PRId64 "\t%s", c->host, (long)getpid(), c->start_ms, c->mount);
	struct kv_cmp cmp = { .kind = KV_CMP_ABSENT, .key = k.data, .klen = k.len };
	struct kv_op op = { .kind = KV_OP_PUT, .key = k.data, .klen = k.len,
			    .val = v.data, .vlen = v.len, .lease = lease };
	rc = kv_commit(c->kv, &cmp, 1, &op, 1, NULL, err);
	if (rc == -ECANCELED)
		rc = mlfs_fail(err, -EEXIST, "cluster: a live session is named %s", c->name);
	if (rc) {
		kv_lease_revoke(c->kv, lease, NULL);
	} else {
		pthread_mutex_lock(&c->lock);
		c->lease = lease;
		c->alive_ns = sent;
		pthread_mutex_unlock(&c->lock);
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Our lease is gone (it expired while we did not keep it alive): we lead
 * nothing; join again under a new lease and campaign again. */
static void session_rejoin(struct cluster *c)
{
	pthread_mutex_lock(&c->lock);
	c->lease = 0;
	for (size_t i = 0; i < c->nroles; i++)
		c->roles[i].fence = 0;
	pthread_mutex_unlock(&c->lock);
	if (!session_join(c, NULL))
		campaign_all(c);
}

/* Keep the lease alive every TTL/3; rejoin after losing it; restart the
 * watch after a gap. */
static void *keepalive_main(void *arg)
{
	struct cluster *c = arg;
	int64_t period_ns = (int64_t)c->ttl_s * 1000000000 / 3;
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t ns = until.tv_nsec + period_ns;
		until.tv_sec += ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		while (!c->stop && !c->resync &&
		       pthread_cond_timedwait(&c->wake, &c->lock, &until) != ETIMEDOUT)
			;
		if (c->stop)
			break;
		bool resync = c->resync, paused = c->paused;
		kv_lease lease = c->lease;
		c->resync = false;
		pthread_mutex_unlock(&c->lock);
		if (resync)
			watch_roles(c, NULL);
		int64_t sent = clock_mono_ns();
		int rc = paused ? 0 : lease ? kv_lease_keepalive(c->kv, lease, NULL) : -ENOENT;
		if (!paused && rc == -ENOENT)
			session_rejoin(c);
		pthread_mutex_lock(&c->lock);
		if (!paused && !rc && c->lease == lease)
			c->alive_ns = sent;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	kv_lease lease = c->lease;
	pthread_mutex_unlock(&c->lock);
	if (c->threaded)
		pthread_join(c->thread, NULL);
	if (c->watch)
		kv_watch_cancel(c->watch);
	/* the record and every role we hold go in one revision */
	if (lease)
		kv_lease_revoke(c->kv, lease, NULL);
	kv_close(c->own_kv);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->settle);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* On the embedded kv, sessions and election keys found are a dead
 * process's: remove them so that this host leads at once. */
static int clear_dead(struct cluster *c, struct mlfs_err *err)
{
	struct buf lo[2] = { 0 }, hi[2] = { 0 };
	struct kv_op ops[2];
	for (int i = 0; i < 2; i++) {
		key_of(c, &lo[i], i ? 'e' : 's', "");
		kv_prefix_end(&hi[i], lo[i].data, lo[i].len);
		ops[i] = (struct kv_op){ .kind = KV_OP_DEL_RANGE, .key = lo[i].data,
			.klen = lo[i].len, .end = hi[i].data, .elen = hi[i].len };
	}
	int rc = kv_commit(c->kv, NULL, 0, ops, 2, NULL, err);
	for (int i = 0; i < 2; i++) {
		buf_free(&lo[i]);
		buf_free(&hi[i]);
	}
	return rc;
}

static bool session_dead_here(const char *host, const char *val, size_t vlen);

/* What clear_dead_here walks: this host's dead sessions' names. */
struct dead_ctx {
	struct kv *kv;
	const char *host;
	size_t skip;		/* the prefix of the keys walked */
	char names[8][CLUSTER_NAME_MAX + 1];
	size_t n;
};

static int note_dead(void *ctx, const char *key, size_t klen, const char *val, size_t vlen,
		     kv_rev mod)
{
	struct dead_ctx *d = ctx;
	size_t n = klen - d->skip;
	if (d->n < 8 && n <= CLUSTER_NAME_MAX && session_dead_here(d->host, val, vlen)) {
		memcpy(d->names[d->n], key + d->skip, n);
		d->names[d->n++][n] = '\0';
	}
	return 0;
}

/* A role held by a dead session of D: its lease (the token "NAME LEASE"),
 * revoked so that the record and every role it held go at once. */
static int revoke_dead(void *ctx, const char *key, size_t klen, const char *val, size_t vlen,
		       kv_rev mod)
{
	struct dead_ctx *d = ctx;
	for (size_t i = 0; i < d->n; i++) {
		size_t nl = strlen(d->names[i]);
		if (vlen > nl + 1 && !memcmp(val, d->names[i], nl) && val[nl] == ' ') {
			char hex[24] = "";
			memcpy(hex, val + nl + 1, vlen - nl - 1 < 23 ? vlen - nl - 1 : 23);
			kv_lease lease = (kv_lease)strtoull(hex, NULL, 16);
			if (lease)
				kv_lease_revoke(d->kv, lease, NULL);
		}
	}
	return 0;
}

/* On etcd, the sessions of this host's processes that are gone (a mount
 * killed -9, its lease not yet expired): their leases revoked, so that
 * the roles they held are free now rather than a TTL later (a dead
 * process of this machine holds nothing; another host's are left to
 * their leases).  Best effort: a failure leaves them to expire. */
static void clear_dead_here(struct cluster *c)
{
	struct dead_ctx d = { .host = c->host, .kv = c->kv };
	struct buf lo = { 0 }, hi = { 0 };
	key_of(c, &lo, 's', "");
	kv_prefix_end(&hi, lo.data, lo.len);
	d.skip = lo.len;
	int rc = kv_range(c->kv, lo.data, lo.len, hi.data, hi.len, 0, false, 0, note_dead, &d,
			  NULL, NULL);
	if (!rc && d.n) {
		key_of(c, &lo, 'e', "");
		kv_prefix_end(&hi, lo.data, lo.len);
		kv_range(c->kv, lo.data, lo.len, hi.data, hi.len, 0, false, 0, revoke_dead, &d,
			 NULL, NULL);
		for (size_t i = 0; i < d.n; i++) {
			key_of(c, &lo, 's', d.names[i]);
			struct kv_op op = { .kind = KV_OP_DEL, .key = lo.data, .klen = lo.len };
			kv_commit(c->kv, NULL, 0, &op, 1, NULL, NULL);
		}
	}
	buf_free(&lo);
	buf_free(&hi);
}

static int cluster_new(struct kv *kv, struct kv *own_kv, const struct cluster_conf *conf,
		       struct cluster **out, struct mlfs_err *err)
{
	const char *prefix = conf && conf->prefix ? conf->prefix : "";
	const char *mount = conf && conf->mountpoint ? conf->mountpoint : "";
	char host[NAME_LEN] = "";
	if (conf && conf->host)
		snprintf(host, sizeof(host), "%s", conf->host);
	else
		names_host(host, sizeof(host));
	if (!names_valid(host) || strlen(host) > CLUSTER_NAME_MAX - 12)
		return mlfs_fail(err, -EINVAL, "cluster: bad host name '%s'", host);
	if (strlen(prefix) >= 200 || strlen(mount) >= 1024)
		return mlfs_fail(err, -ENAMETOOLONG, "cluster: key prefix or mount point too long");
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	c->kv = kv;
	c->ttl_s = conf && conf->ttl_s > 0 ? conf->ttl_s : CLUSTER_TTL_S;
	c->start_ms = clock_now_ms();
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	snprintf(c->host, sizeof(c->host), "%s", host);
	names_session(host, c->name, sizeof(c->name));
	for (char *p = c->mount; (*p = *mount); p++, mount++)
		if (*p == '\t' || *p == '\n')
			*p = '?';
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	pthread_cond_init(&c->settle, NULL);
	int rc = own_kv ? clear_dead(c, err) : 0;
	if (!own_kv)
		clear_dead_here(c);
	if (!rc)
		rc = session_join(c, err);
	if (!rc)
		rc = watch_roles(c, err);
	if (!rc && pthread_create(&c->thread, NULL, keepalive_main, c))
		rc = mlfs_fail(err, -EAGAIN, "cluster: no keepalive thread");
	c->threaded = !rc;
	c->own_kv = own_kv;
	if (rc) {
		c->own_kv = NULL;	/* the caller's to close */
		cluster_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- the per-store binding ----
 * Two states: the binding (made on first use, perhaps before the
 * embedded kv's state) and the owner, made after the kv is open:
 * store_close frees states newest first, so the session ends while the
 * embedded kv it uses is still there. */

struct binding {
	pthread_mutex_t lock;
	struct cluster *c;	/* guarded by lock */
	bool tried;		/* attached once (or tried the default) */
	bool solo;		/* the default failed: lead alone, no kv */
};

struct owner {
	struct binding *b;
};

static const char bind_key, own_key;

static void *binding_new(void)
{
	struct binding *b = calloc(1, sizeof(*b));
	if (b)
		pthread_mutex_init(&b->lock, NULL);
	return b;
}

static void binding_free(void *p)
{
	struct binding *b = p;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void *owner_new(void)
{
	return calloc(1, sizeof(struct owner));
}

static void owner_free(void *p)
{
	struct owner *o = p;
	if (o->b) {
		cluster_free(o->b->c);
		o->b->c = NULL;
	}
	free(o);
}

static struct binding *binding_of(struct store *s)
{
	return store_state(s, &bind_key, binding_new, binding_free);
}

/* Under B's lock. */
static int attach_locked(struct store *s, struct binding *b, struct kv *kv,
			 const struct cluster_conf *conf, struct mlfs_err *err)
{
	struct kv *own = NULL;
	struct mlfs_err mine = { 0 };
	if (!err)
		err = &mine;	/* for the message below */
	if (b->c)
		return mlfs_fail(err, -EBUSY, "cluster: the store has a session already");
	b->tried = true;
	int rc = kv ? 0 : kv_open(s, NULL, &own, err);
	if (!rc) {
		struct owner *o = store_state(s, &own_key, owner_new, owner_free);
		o->b = b;
		rc = cluster_new(kv ? kv : own, own, conf, &b->c, err);
		if (rc)
			kv_close(own);
		else	/* one name for the session and the writes */
			store_set_writer_name(s, b->c->name);
	}
	if (rc && !kv) {
		/* one process owns an embedded store: it may lead alone */
		store_notify(s, "cluster: no session, this host schedules alone: %s", err->msg);
		b->solo = true;
	}
	return rc;
}

int cluster_attach(struct store *s, struct kv *kv, const struct cluster_conf *conf,
		   struct mlfs_err *err)
{
	struct binding *b = binding_of(s);
	pthread_mutex_lock(&b->lock);
	int rc = attach_locked(s, b, kv, conf, err);
	if (!rc)
		b->solo = false;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void cluster_detach(struct store *s)
{
	struct binding *b = binding_of(s);
	pthread_mutex_lock(&b->lock);
	struct cluster *c = b->c;
	b->c = NULL;
	b->tried = true;
	b->solo = false;
	pthread_mutex_unlock(&b->lock);
	cluster_free(c);
}

/* S's cluster, attached to the embedded kv on first use; NULL when
 * detached or alone (*SOLO: the embedded default could not start). */
static struct cluster *cluster_of(struct store *s, bool *solo)
{
	struct binding *b = binding_of(s);
	struct mlfs_err err = { 0 };
	pthread_mutex_lock(&b->lock);
	if (!b->c && !b->tried)
		attach_locked(s, b, NULL, NULL, &err);
	struct cluster *c = b->c;
	*solo = b->solo;
	pthread_mutex_unlock(&b->lock);
	return c;
}

bool cluster_leads(struct store *s, const char *role, kv_rev *fence)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (fence)
		*fence = 0;
	if (!c)
		return solo;
	size_t len = strlen(role);
	pthread_mutex_lock(&c->lock);
	struct role *r = role_find(c, role, len);
	if (!r && c->nroles < CLUSTER_ROLES && len <= CLUSTER_NAME_MAX) {
		r = &c->roles[c->nroles++];
		memcpy(r->name, role, len + 1);
	}
	bool first = r && !r->want && !r->resigned;
	if (first)
		r->want = true;
	pthread_mutex_unlock(&c->lock);
	if (first)
		campaign(c, r);
	if (!r)
		return false;
	pthread_mutex_lock(&c->lock);
	/* the first campaign's answer, whichever thread asked first */
	if (first) {
		r->settled = true;
		pthread_cond_broadcast(&c->settle);
	}
	while (!r->settled)
		pthread_cond_wait(&c->settle, &c->lock);
	int64_t fresh_ns = (int64_t)c->ttl_s * 750000000;
	bool leads = r->fence && r->want && clock_mono_ns() - c->alive_ns < fresh_ns;
	if (leads && fence)
		*fence = r->fence;
	pthread_mutex_unlock(&c->lock);
	return leads;
}

void cluster_resign(struct store *s, const char *role)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	struct role *r = role_find(c, role, strlen(role));
	kv_rev fence = r ? r->fence : 0;
	if (r) {
		r->want = false;
		r->resigned = true;
		r->fence = 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (fence) {
		struct buf k = { 0 };
		key_of(c, &k, 'e', role);
		struct kv_cmp cmp = { .kind = KV_CMP_MOD_EQ, .key = k.data, .klen = k.len,
				      .rev = fence };
		struct kv_op op = { .kind = KV_OP_DEL, .key = k.data, .klen = k.len };
		kv_commit(c->kv, &cmp, 1, &op, 1, NULL, NULL);
		buf_free(&k);
	}
}

/* kv_commit of CMPS and OPS plus the compare of ROLE's fence; *LOST
 * (may be NULL) says whether a -ECANCELED was the fence's. */
static int commit_fenced(struct cluster *c, const char *role, kv_rev fence,
			 const struct kv_cmp *cmps, size_t ncmp, const struct kv_op *ops,
			 size_t nops, kv_rev *committed, bool *lost, struct mlfs_err *err)
{
	if (ncmp >= KV_MAX_OPS)
		return mlfs_fail(err, -E2BIG, "cluster: more than %d compares", KV_MAX_OPS - 1);
	struct kv_cmp all[KV_MAX_OPS];
	struct buf k = { 0 }, v = { 0 };
	key_of(c, &k, 'e', role);
	if (ncmp)
		memcpy(all, cmps, ncmp * sizeof(*cmps));
	all[ncmp] = (struct kv_cmp){ .kind = KV_CMP_MOD_EQ, .key = k.data, .klen = k.len,
				     .rev = fence };
	int rc = kv_commit(c->kv, all, ncmp + 1, ops, nops, committed, err);
	bool gone = false;
	if (rc == -ECANCELED) {
		kv_rev mod = 0;
		int g = kv_get(c->kv, k.data, k.len, &v, &mod, NULL);
		gone = (g == 0 || g == -ENOENT) && mod != fence;
		if (gone)
			mlfs_fail(err, rc, "cluster: %s is no longer led with fence %" PRIu64,
				  role, (uint64_t)fence);
		else
			mlfs_fail(err, rc, "cluster: a compare failed");
	}
	if (lost)
		*lost = gone;
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int cluster_fenced_commit(struct store *s, const char *role, kv_rev fence,
			  const struct kv_cmp *cmps, size_t ncmp,
			  const struct kv_op *ops, size_t nops,
			  kv_rev *committed, struct mlfs_err *err)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (!c)
		return mlfs_fail(err, -ENOTCONN, "cluster: no session");
	return commit_fenced(c, role, fence, cmps, ncmp, ops, nops, committed, NULL, err);
}

int cluster_claim(struct store *s, const char *role, kv_rev fence, const char *what,
		  uint64_t seq, struct mlfs_err *err)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (!c)
		return solo ? 0 : mlfs_fail(err, -ENOTCONN, "cluster: no session");
	struct buf k = { 0 }, v = { 0 };
	char val[8];
	key_of(c, &k, 'c', what);
	key_put_u64(&v, seq);
	memcpy(val, v.data, 8);
	int rc;
	for (int tries = 0; tries < 2; tries++) {
		kv_rev mod = 0;
		rc = kv_get(c->kv, k.data, k.len, &v, &mod, err);
		if (rc && rc != -ENOENT)
			break;
		if (!rc && v.len == 8 && key_get_u64(v.data) >= seq) {
			rc = -EALREADY;
			break;
		}
		struct kv_cmp cmp = { .kind = KV_CMP_MOD_EQ, .key = k.data, .klen = k.len,
				      .rev = rc ? 0 : mod };
		struct kv_op op = { .kind = KV_OP_PUT, .key = k.data, .klen = k.len,
				    .val = val, .vlen = 8 };
		bool lost = false;
		rc = commit_fenced(c, role, fence, &cmp, 1, &op, 1, NULL, &lost, err);
		/* a compare failed: the fence (final), or another claim (look again) */
		if (rc != -ECANCELED || lost)
			break;
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* ---- listing ---- */

struct list_ctx {
	struct buf *out;
	struct buf holders;	/* "ROLE\tTOKEN\n" lines */
	size_t skip;		/* the prefix of the keys walked */
};

static int add_holder(void *ctx, const char *key, size_t klen, const char *val, size_t vlen,
		      kv_rev mod)
{
	struct list_ctx *lc = ctx;
	buf_append(&lc->holders, key + lc->skip, klen - lc->skip);
	buf_putc(&lc->holders, '\t');
	const char *sp = memchr(val, ' ', vlen);
	buf_append(&lc->holders, val, sp ? (size_t)(sp - val) : vlen);
	return buf_putc(&lc->holders, '\n');
}

/* The roles whose holder is session NAME, space separated, into OUT. */
static void roles_of(const struct buf *holders, const char *name, size_t nlen, struct buf *out)
{
	buf_reset(out);
	for (const char *p = holders->data; p && *p;) {
		const char *tab = strchr(p, '\t'), *nl = strchr(p, '\n');
		if ((size_t)(nl - tab - 1) == nlen && !memcmp(tab + 1, name, nlen)) {
			if (out->len)
				buf_putc(out, ' ');
			buf_append(out, p, (size_t)(tab - p));
		}
		p = nl + 1;
	}
}

static int add_session(void *ctx, const char *key, size_t klen, const char *val, size_t vlen,
		       kv_rev mod)
{
	struct list_ctx *lc = ctx;
	struct buf line = { 0 }, roles = { 0 };
	char host[NAME_LEN] = "", mount[1024] = "", when[32] = "";
	long pid = 0;
	int64_t start = 0;
	buf_append(&line, val, vlen);
	sscanf(line.data, "%127[^\t]\t%ld\t%" SCNd64 "\t%1023[^\n]", host, &pid, &start, mount);
	time_t secs = (time_t)(start / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	roles_of(&lc->holders, key + lc->skip, klen - lc->skip, &roles);
	csv_put_field(lc->out, key + lc->skip, klen - lc->skip);
	buf_putc(lc->out, ',');
	csv_put_field(lc->out, host, strlen(host));
	buf_printf(lc->out, ",%ld,%s,", pid, when);
	csv_put_field(lc->out, mount, strlen(mount));
	buf_putc(lc->out, ',');
	csv_put_field(lc->out, roles.data ? roles.data : "", roles.len);
	buf_free(&line);
	buf_free(&roles);
	return buf_putc(lc->out, '\n');
}

/* FN over every key under PREFIX "h/" KIND "/", with LC->skip set. */
static int walk(struct cluster *c, char kind, kv_range_fn fn, struct list_ctx *lc,
		struct mlfs_err *err)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_of(c, &lo, kind, "");
	kv_prefix_end(&hi, lo.data, lo.len);
	lc->skip = lo.len;
	int rc = kv_range(c->kv, lo.data, lo.len, hi.data, hi.len, 0, false, 0, fn, lc, NULL,
			  err);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int cluster_sessions_csv(struct store *s, struct buf *out, struct mlfs_err *err)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	struct list_ctx lc = { out, { 0 }, 0 };
	buf_reset(out);
	buf_puts(out, "session,host,pid,start,mountpoint,leads\n");
	int rc = c ? walk(c, 'e', add_holder, &lc, err) : 0;
	if (!rc && c)
		rc = walk(c, 's', add_session, &lc, err);
	buf_free(&lc.holders);
	return rc;
}

struct live_ctx {
	const char *host;	/* this machine's name in the session records */
	size_t skip;		/* the prefix of the keys walked */
	int (*fn)(void *ctx, const char *name);
	void *ctx;
};

/* A session record ("host\tpid\t...") of a process of HOST that is gone:
 * a mount killed -9 on this machine, its lease not yet expired. */
static bool session_dead_here(const char *host, const char *val, size_t vlen)
{
	size_t hl = strlen(host);
	if (vlen <= hl + 1 || memcmp(val, host, hl) || val[hl] != '\t')
		return false;
	char pid[24] = "";
	size_t i = 0;
	for (const char *p = val + hl + 1; p < val + vlen && *p != '\t' && i < sizeof(pid) - 1; p++)
		pid[i++] = *p;
	long n = strtol(pid, NULL, 10);
	return n > 0 && kill((pid_t)n, 0) && errno == ESRCH;
}

static int live_one(void *ctx, const char *key, size_t klen, const char *val,
		    size_t vlen, kv_rev mod)
{
	struct live_ctx *lc = ctx;
	char name[NAME_LEN];
	size_t n = klen - lc->skip;
	(void)mod;
	if (n >= sizeof(name) || session_dead_here(lc->host, val, vlen))
		return 0;
	memcpy(name, key + lc->skip, n);
	name[n] = '\0';
	return lc->fn(lc->ctx, name);
}

int cluster_live(struct store *s, int (*fn)(void *ctx, const char *name), void *ctx,
		 struct mlfs_err *err)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (!c)
		return 0;
	struct buf lo = { 0 }, hi = { 0 };
	key_of(c, &lo, 's', "");
	kv_prefix_end(&hi, lo.data, lo.len);
	struct live_ctx lc = { c->host, lo.len, fn, ctx };
	int rc = kv_range(c->kv, lo.data, lo.len, hi.data, hi.len, 0, false, 0, live_one, &lc,
			  NULL, err);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

struct others_ctx {
	const char *mine;
	int n;
};

static int count_other(void *ctx, const char *name)
{
	struct others_ctx *oc = ctx;
	oc->n += strcmp(name, oc->mine) != 0;
	return 0;
}

int cluster_others(struct store *s, struct mlfs_err *err)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (!c)
		return 0;
	struct others_ctx oc = { c->name, 0 };
	int rc = cluster_live(s, count_other, &oc, err);
	return rc ? rc : oc.n;
}

int cluster_ttl(struct store *s)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	return c ? c->ttl_s : CLUSTER_TTL_S;
}

void cluster_test_pause(struct store *s, bool pause)
{
	bool solo;
	struct cluster *c = cluster_of(s, &solo);
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->paused = pause;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}
