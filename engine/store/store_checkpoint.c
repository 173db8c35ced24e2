/* store_checkpoint.c - checkpoints and log compaction of the remote
 * backend (docs/scale-out.md, "Checkpoints"): a consistent view of a
 * replica as of seq N goes to S3 as RocksDB write batches of at most
 * CKPT_CHUNK bytes (NAME/checkpoints/...), a compare-guarded commit
 * records NAME/checkpoint = {N, objects}, and the log entries up to the
 * previous checkpoint (with their batch objects) and that checkpoint's
 * objects are deleted.  A replica with no entries to replay from loads
 * the newest checkpoint (ckpt_load, called by store_remote.c). */
#include "store_checkpoint.h"
#include "store_int.h"
#include "store_log.h"
#include "kv.h"
#include "objstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define CKPT_CHUNK (32u << 20)
#define CKPT_MAGIC "MLCK1"

static void ckpt_key(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_printf(k, "%s/checkpoint", name);
}

void ckpt_rec_free(struct ckpt_rec *rec)
{
	buf_free(&rec->names);
}

/* The record: MAGIC, the seq (8 bytes big-endian), the names each
 * ending in '\0'. */
static void ckpt_encode(struct buf *v, const struct ckpt_rec *rec)
{
	buf_reset(v);
	buf_append(v, CKPT_MAGIC, sizeof(CKPT_MAGIC) - 1);
	key_put_u64(v, rec->seq);
	buf_append(v, rec->names.data ? rec->names.data : "", rec->names.len);
}

int ckpt_read(struct kv *kv, const char *name, struct ckpt_rec *rec,
	      uint64_t *mod, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	kv_rev m = 0;
	const size_t hl = sizeof(CKPT_MAGIC) - 1 + 8;
	rec->seq = 0;
	rec->nobj = 0;
	buf_reset(&rec->names);
	ckpt_key(&k, name);
	int rc = kv_get(kv, k.data, k.len, &v, &m, err);
	if (rc == -ENOENT) {
		rc = 0;
		m = 0;
	} else if (!rc && (v.len < hl || memcmp(v.data, CKPT_MAGIC, hl - 8) ||
			   (v.len > hl && v.data[v.len - 1]))) {
		rc = mlfs_fail(err, -EIO, "store %s: its checkpoint record is not one", name);
	} else if (!rc) {
		rec->seq = key_get_u64(v.data + hl - 8);
		buf_append(&rec->names, v.data + hl, v.len - hl);
		for (size_t i = hl; i < v.len; i++)
			rec->nobj += !v.data[i];
	}
	if (mod)
		*mod = m;
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* The I-th name of REC. */
static const char *ckpt_name(const struct ckpt_rec *rec, size_t i)
{
	const char *p = rec->names.data;
	while (i--)
		p += strlen(p) + 1;
	return p;
}

/* Whether K is one of the replica's own keys, which no checkpoint holds. */
static bool replica_own(const char *k, size_t kl)
{
	return (kl == 2 && !memcmp(k, STORE_K_APPLIED, 2)) ||
	       (kl == 2 && !memcmp(k, STORE_K_ORIGIN, 2));
}

/* Every key of a replica but its own, so that a load replaces them all. */
static void clear_replica(struct store_batch *b)
{
	static const char end[16] = { [0 ... 15] = '\xff' };
	store_batch_delete_range(b, "", 0, STORE_K_ORIGIN, 2);
	store_batch_delete_range(b, STORE_K_ORIGIN "", 3, STORE_K_APPLIED, 2);
	store_batch_delete_range(b, STORE_K_APPLIED "", 3, end, sizeof(end));
}

int ckpt_load(struct store *s, struct kv *kv, struct objstore *os,
	      const char *name, uint64_t after, uint64_t *seq,
	      struct mlfs_err *err)
{
	struct ckpt_rec rec = { 0 };
	struct buf obj = { 0 };
	*seq = after;
	int rc = ckpt_read(kv, name, &rec, NULL, err);
	if (rc || rec.seq <= after)
		goto out;
	for (size_t i = 0; !rc && i < rec.nobj; i++) {
		const char *on = ckpt_name(&rec, i);
		if ((rc = objstore_get(os, on, 0, 0, &obj, err)))
			break;
		struct store_batch *b = store_batch_new();
		if (!i)
			clear_replica(b);
		size_t cl;
		const char *clear = store_batch_rep(b, &cl);
		/* the clearing batch, then the chunk's own, in one write */
		rc = store_local_apply(s, clear, cl, NULL, 0, NULL, 0, err);
		store_batch_free(b);
		if (!rc) {
			unsigned char be[8];
			for (int j = 7, x = 0; j >= 0; j--, x += 8)
				be[j] = (unsigned char)(rec.seq >> x);
			bool last = i + 1 == rec.nobj;
			rc = store_local_apply(s, obj.data, obj.len,
					       last ? STORE_K_APPLIED : NULL, last ? 2 : 0,
					       be, last ? 8 : 0, err);
		}
	}
	if (!rc)
		*seq = rec.seq;
out:
	buf_free(&obj);
	ckpt_rec_free(&rec);
	return rc;
}

/* Dumping a replica: the chunk being filled and the objects written. */
struct dump {
	struct objstore *os;
	const char *prefix;	/* NAME/checkpoints/SEQ-HOST-RAND. */
	struct store_batch *b;
	size_t bytes;
	struct ckpt_rec rec;
};

static int dump_flush(struct dump *d, struct mlfs_err *err)
{
	char on[OBJSTORE_NAME_MAX + 1];
	size_t len;
	const char *rep = store_batch_rep(d->b, &len);
	snprintf(on, sizeof(on), "%s%06zu", d->prefix, d->rec.nobj);
	int rc = objstore_put_once(d->os, on, rep, len, err);
	if (!rc) {
		buf_append(&d->rec.names, on, strlen(on) + 1);
		d->rec.nobj++;
	}
	store_batch_clear(d->b);
	d->bytes = 0;
	return rc;
}

/* Write SNAP of S (its seq in REC) as chunks into D's objects. */
static int dump_replica(struct store *s, const struct store_snapshot *snap,
			struct dump *d, struct mlfs_err *err)
{
	struct store_iter *it = store_iter_new(s, snap, NULL, 0, NULL, 0);
	int rc = 0;
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl), *v = store_iter_value(it, &vl);
		if (replica_own(k, kl))
			continue;
		store_batch_put(d->b, k, kl, v, vl);
		d->bytes += kl + vl + 16;
		if (d->bytes >= CKPT_CHUNK)
			rc = dump_flush(d, err);
	}
	if (!rc)
		rc = store_iter_status(it, err);
	/* the last chunk, even empty: a load sets the seq with it */
	if (!rc)
		rc = dump_flush(d, err);
	store_iter_free(it);
	return rc;
}

/* Entries in [1, UPTO]: collect their batch objects into NAMES. */
static int collect_batch(void *ctx, const char *key, size_t klen,
			 const char *val, size_t vlen, kv_rev mod)
{
	enum log_entry_kind kind;
	const unsigned char *id;
	const char *p;
	size_t n;
	(void)key;
	(void)klen;
	(void)mod;
	if (!log_entry_decode(val, vlen, &kind, &id, &p, &n) && kind == LOG_ENTRY_OBJECT) {
		buf_append(ctx, p, n);
		buf_putc(ctx, '\0');
	}
	return 0;
}

/* Delete the '\0'-ended names in [P, P + LEN) from OS; the first error
 * is kept (an object left is one `mlfs check` reports). */
static int objects_delete(struct objstore *os, const char *p, size_t len,
			  struct mlfs_err *err)
{
	int rc = 0;
	for (const char *e = p + len; p < e; p += strlen(p) + 1) {
		int r = objstore_delete(os, p, err);
		if (r && r != -ENOENT && !rc)
			rc = r;
	}
	return rc;
}

/* The log entries up to OLD's seq go, with their batch objects, and
 * OLD's own objects: what a new checkpoint made unneeded.  The entries
 * between OLD and the new one stay (a margin for hosts just behind). */
static int compact(struct kv *kv, struct objstore *os, const char *name,
		   const struct ckpt_rec *old, struct mlfs_err *err)
{
	struct buf b = { 0 }, e = { 0 }, objs = { 0 };
	int rc = 0;
	if (old->seq) {
		log_key_entry(&b, name, 1);
		log_key_entry(&e, name, old->seq + 1);
		rc = kv_range(kv, b.data, b.len, e.data, e.len, 0, false, 0, collect_batch,
			      &objs, NULL, err);
		struct kv_op op = { .kind = KV_OP_DEL_RANGE, .key = b.data, .klen = b.len,
				    .end = e.data, .elen = e.len };
		if (!rc)
			rc = kv_commit(kv, NULL, 0, &op, 1, NULL, err);
		if (!rc)
			rc = objects_delete(os, objs.data, objs.len, err);
	}
	int orc = objects_delete(os, old->names.data, old->names.len, err);
	buf_free(&b);
	buf_free(&e);
	buf_free(&objs);
	return rc ? rc : orc;
}

/* Record D's checkpoint if NAME/checkpoint is still at MOD (OLD's). */
static int ckpt_commit(struct kv *kv, const char *name, const struct dump *d,
		       uint64_t mod, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	ckpt_key(&k, name);
	ckpt_encode(&v, &d->rec);
	struct kv_cmp cmp = { .kind = KV_CMP_MOD_EQ, .key = k.data, .klen = k.len, .rev = mod };
	struct kv_op op = { .kind = KV_OP_PUT, .key = k.data, .klen = k.len, .val = v.data,
			    .vlen = v.len };
	int rc = kv_commit(kv, &cmp, 1, &op, 1, NULL, err);
	if (rc == -ECANCELED)
		rc = mlfs_fail(err, -EAGAIN, "store %s: another host checkpointed at the "
			       "same time; nothing was recorded: try again", name);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int store_checkpoint(struct store *s, uint64_t *seq, struct mlfs_err *err)
{
	struct store_remote *r = store_remote_of(s);
	struct kv *kv;
	struct objstore *os;
	const char *name, *host;
	if (!r)
		return mlfs_fail(err, -EINVAL, "a checkpoint is of a remote store");
	store_remote_parts(r, &kv, &os, &name, &host);
	struct ckpt_rec old = { 0 };
	uint64_t mod;
	struct buf pfx = { 0 }, av = { 0 };
	struct dump d = { .os = os, .b = store_batch_new() };
	/* the replica's seq is written with each apply: one view holds both */
	struct store_snapshot *snap = store_snapshot_new(s);
	int rc = store_get(s, snap, STORE_K_APPLIED, 2, &av, err);
	d.rec.seq = !rc && av.len == 8 ? key_get_u64(av.data) : 0;
	if (rc == -ENOENT || (!rc && !d.rec.seq))
		rc = mlfs_fail(err, -ENODATA, "store %s: nothing to checkpoint", name);
	if (!rc)
		rc = ckpt_read(kv, name, &old, &mod, err);
	if (!rc && old.seq >= d.rec.seq)
		rc = mlfs_fail(err, -EALREADY, "store %s: checkpoint %llu is as new as "
			       "this replica", name, (unsigned long long)old.seq);
	unsigned int rnd = 0;
	if (!rc && getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rc = mlfs_fail(err, -EIO, "no random bytes");
	buf_printf(&pfx, "%s/checkpoints/%016llx-%s-%08x.", name,
		   (unsigned long long)d.rec.seq, host, rnd);
	d.prefix = pfx.data;
	if (!rc)
		rc = dump_replica(s, snap, &d, err);
	if (!rc)
		rc = ckpt_commit(kv, name, &d, mod, err);
	if (!rc) {
		*seq = d.rec.seq;
		rc = compact(kv, os, name, &old, err);
	}
	store_snapshot_free(s, snap);
	store_batch_free(d.b);
	ckpt_rec_free(&d.rec);
	ckpt_rec_free(&old);
	buf_free(&pfx);
	buf_free(&av);
	return rc;
}

/* store_checkpoint_auto's memory of the newest checkpoint's seq. */
struct ckpt_auto {
	pthread_mutex_t mu;
	uint64_t seq;
	bool known;
};

static void *auto_make(void)
{
	struct ckpt_auto *a = calloc(1, sizeof(*a));
	if (!a)
		mlfs_oom();
	pthread_mutex_init(&a->mu, NULL);
	return a;
}

static void auto_free(void *p)
{
	struct ckpt_auto *a = p;
	pthread_mutex_destroy(&a->mu);
	free(a);
}

int store_checkpoint_auto(struct store *s, uint64_t every,
			  struct mlfs_err *err)
{
	static const char key = 0;
	struct store_remote *r = store_remote_of(s);
	if (!r)
		return 0;
	struct kv *kv;
	struct objstore *os;
	const char *name, *host;
	store_remote_parts(r, &kv, &os, &name, &host);
	struct ckpt_auto *a = store_state(s, &key, auto_make, auto_free);
	uint64_t seq = store_remote_applied(r);
	int rc = 0;
	pthread_mutex_lock(&a->mu);
	if (!a->known) {
		struct ckpt_rec rec = { 0 };
		rc = ckpt_read(kv, name, &rec, NULL, err);
		a->seq = rec.seq;
		a->known = !rc;
		ckpt_rec_free(&rec);
	}
	if (!rc && seq >= a->seq + every) {
		rc = store_checkpoint(s, &seq, err);
		/* made: its seq; else another host's may be newer: read again */
		a->seq = rc ? a->seq : seq;
		a->known = !rc;
		rc = rc == -EALREADY || rc == -EAGAIN ? 0 : rc ? rc : 1;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}
