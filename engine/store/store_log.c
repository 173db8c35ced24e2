/* store_log.c - the replicated log's records: its keys in etcd, the
 * framing of an entry, and the walk over a RocksDB write batch's keys
 * (its documented rep: a 12-byte header, then tagged records of varint-
 * prefixed strings).  No I/O here. */
#include "store_log.h"
#include "store.h"

#include <errno.h>
#include <string.h>

void log_key_head(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, name);
	buf_puts(k, "/head");
}

void log_key_entry(struct buf *k, const char *name, uint64_t seq)
{
	buf_reset(k);
	buf_puts(k, name);
	buf_puts(k, "/log/");
	key_put_u64(k, seq);
}

bool log_key_seq(const char *name, const char *k, size_t kl, uint64_t *seq)
{
	size_t nl = strlen(name);
	if (kl != nl + 5 + 8 || memcmp(k, name, nl) || memcmp(k + nl, "/log/", 5))
		return false;
	*seq = key_get_u64(k + nl + 5);
	return true;
}

void log_entry_encode(struct buf *v, enum log_entry_kind kind,
		      const unsigned char id[LOG_ID_LEN], const void *p,
		      size_t n)
{
	buf_reset(v);
	buf_putc(v, (char)kind);
	buf_append(v, id, LOG_ID_LEN);
	buf_append(v, p, n);
}

int log_entry_decode(const char *v, size_t vl, enum log_entry_kind *kind,
		     const unsigned char **id, const char **p, size_t *n)
{
	if (vl < 1 + LOG_ID_LEN || (v[0] != LOG_ENTRY_INLINE && v[0] != LOG_ENTRY_OBJECT))
		return -EINVAL;
	*kind = (enum log_entry_kind)v[0];
	*id = (const unsigned char *)v + 1;
	*p = v + 1 + LOG_ID_LEN;
	*n = vl - 1 - LOG_ID_LEN;
	return 0;
}

/* A varint32-prefixed string at *P (before END) into S, SL: -EINVAL when
 * it runs past END. */
static int get_string(const char **p, const char *end, const char **s,
		      size_t *sl)
{
	uint32_t n = 0;
	for (int shift = 0; shift <= 28; shift += 7) {
		if (*p >= end)
			return -EINVAL;
		unsigned char c = (unsigned char)*(*p)++;
		n |= (uint32_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if ((size_t)(end - *p) < n)
				return -EINVAL;
			*s = *p;
			*sl = n;
			*p += n;
			return 0;
		}
	}
	return -EINVAL;
}

/* RocksDB's record tags (db/dbformat.h) of the default column family. */
enum { TAG_DELETE = 0x0, TAG_PUT = 0x1, TAG_LOG_DATA = 0x3,
       TAG_SINGLE_DELETE = 0x7, TAG_RANGE_DELETE = 0xF };

int log_batch_keys(const char *rep, size_t len, log_key_fn fn, void *ctx)
{
	const char *p = rep + 12, *end = rep + len;
	if (len < 12)
		return -EINVAL;
	while (p < end) {
		int tag = (unsigned char)*p++, rc;
		const char *k, *e = NULL;
		size_t kl, el = 0;
		if ((rc = get_string(&p, end, &k, &kl)))
			return rc;
		switch (tag) {
		case TAG_LOG_DATA:
			continue;
		case TAG_PUT:	/* the value: skipped */
			if ((rc = get_string(&p, end, &e, &el)))
				return rc;
			e = NULL;
			break;
		case TAG_DELETE:
		case TAG_SINGLE_DELETE:
			break;
		case TAG_RANGE_DELETE:
			if ((rc = get_string(&p, end, &e, &el)))
				return rc;
			break;
		default:
			return -EINVAL;
		}
		if ((rc = fn(ctx, k, kl, e, el)))
			return rc;
	}
	return 0;
}
