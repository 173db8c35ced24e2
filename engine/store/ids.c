/* ids.c - per-store object counters (see ids.h).  Each counter lives
 * under "n/WHAT" as a big-endian u64 holding the next number to hand out;
 * a per-store lock (store_state) serialises the read-increment-write.
 * Not a sequence of anything else: numbers are names, not times. */
#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ids_state {
	pthread_mutex_t lock;	/* serialises every counter of one store */
};

static const char ids_key;

static void *ids_state_new(void)
{
	struct ids_state *st = calloc(1, sizeof(*st));
	if (st)
		pthread_mutex_init(&st->lock, NULL);
	return st;
}

static void ids_state_free(void *p)
{
	struct ids_state *st = p;
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int ids_next(struct store *s, const char *what, uint64_t *out,
	     struct mlfs_err *err)
{
	struct buf k = { 0 };
	buf_puts(&k, "n/");
	buf_puts(&k, what);
	int rc = ids_next_key(s, k.data, k.len, out, err);
	buf_free(&k);
	return rc;
}

int ids_next_key(struct store *s, const char *key, size_t klen, uint64_t *out,
		 struct mlfs_err *err)
{
	struct ids_state *st = store_state(s, &ids_key, ids_state_new,
					   ids_state_free);
	struct buf v = { 0 };
	uint64_t next = 1;

	pthread_mutex_lock(&st->lock);
	/* On a remote store another host may take a number first: the
	 * counter alone decides, so read it again and retry. */
	store_txn_inner(s, true);
	int rc;
	for (int tries = 0; tries < 8; tries++) {
		if (tries) {
			store_refresh(s, NULL);
			store_txn_inner(s, true);
		}
		rc = store_get(s, NULL, key, klen, &v, err);
		next = 1;
		if (rc == 0 && v.len == 8)
			next = key_get_u64(v.data);
		else if (rc && rc != -ENOENT)
			break;
		buf_reset(&v);
		key_put_u64(&v, next + 1);
		rc = store_put(s, key, klen, v.data, v.len, err);
		if (!rc)
			*out = next;
		if (rc != -EAGAIN)
			break;
	}
	store_txn_inner(s, false);
	pthread_mutex_unlock(&st->lock);
	buf_free(&v);
	return rc;
}
