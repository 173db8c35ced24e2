/* named.c - records kept by name under a prefix (named.h): the key
 * PREFIX NAME, its read, put and delete, and the listing of the names. */
#include "named.h"

#include <string.h>

static void key_of(struct buf *k, const char *prefix, const char *name)
{
	buf_reset(k);
	buf_puts(k, prefix);
	buf_puts(k, name);
}

int named_get(struct store *s, const struct store_snapshot *snap,
	      const char *prefix, const char *name, struct buf *v)
{
	struct buf k = { 0 };
	key_of(&k, prefix, name);
	int rc = store_get(s, snap, k.data, k.len, v, NULL);
	buf_free(&k);
	return rc;
}

void named_put(struct store_batch *b, const char *prefix, const char *name,
	       const struct buf *v)
{
	struct buf k = { 0 };
	key_of(&k, prefix, name);
	store_batch_put(b, k.data, k.len, v->data, v->len);
	buf_free(&k);
}

void named_delete(struct store_batch *b, const char *prefix, const char *name)
{
	struct buf k = { 0 };
	key_of(&k, prefix, name);
	store_batch_delete(b, k.data, k.len);
	buf_free(&k);
}

int named_list(struct store *s, const char *prefix,
	       int (*fn)(void *ctx, const char *name), void *ctx)
{
	size_t pl = strlen(prefix);
	char name[NAMED_MAX + 1], hi[32];
	int rc = 0;

	/* Every key starting with PREFIX sorts below PREFIX with its last
	 * byte raised by one. */
	memcpy(hi, prefix, pl);
	hi[pl - 1]++;
	struct store_iter *it = store_iter_new(s, NULL, prefix, pl, hi, pl);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl - pl > NAMED_MAX)
			continue;
		memcpy(name, k + pl, kl - pl);
		name[kl - pl] = '\0';
		if ((rc = fn(ctx, name)))
			break;
	}
	store_iter_free(it);
	return rc;
}
