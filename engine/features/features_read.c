/* features_read.c - reading a feature table by scanning its rows: the
 * data.csv stream at any offset, the list of keys and stats.csv.  Not
 * point reads by key (features_lookup.c) nor writes (features_write.c). */
#include "features_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "columns.h"
#include "csv.h"
#include "stats.h"

/* ---- data.csv ---- */

struct features_reader {
	struct store *s;
	struct store_snapshot *snap;
	struct store_iter *it;
	const struct fmeta *m;	/* shared (features_meta_ref) */
	struct buf header, line;
	uint64_t size;
	uint64_t line_off;	/* offset of `line` in the file */
	bool started;
	struct mrow row;
};

int features_reader_open(struct store *s, const char *name,
			 struct features_reader **out, struct mlfs_err *err)
{
	struct features_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->snap = store_snapshot_new(s);
	int rc = features_meta_ref(s, r->snap, name, &r->m);
	if (rc) {
		store_snapshot_free(s, r->snap);
		free(r);
		return rc;
	}
	features_header_text(r->m, &r->header);
	r->size = features_data_size(r->m);
	if (features_mrow_init(&r->row, r->m->ncols)) {
		features_reader_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

uint64_t features_reader_size(const struct features_reader *r)
{
	return r->size;
}

/* Move to the first row: LINE holds it at LINE_OFF. */
static int reader_restart(struct features_reader *r)
{
	struct buf lo = { 0 }, hi = { 0 };
	store_iter_free(r->it);
	features_key_rows(&lo, 'r', r->m->id);
	features_key_rows(&hi, 'r', r->m->id + 1);
	r->it = store_iter_new(r->s, r->snap, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
	if (!r->it)
		return -ENOMEM;
	store_iter_seek_first(r->it);
	r->started = true;
	r->line_off = r->header.len;
	buf_reset(&r->line);
	return 0;
}

/* Format the iterator's row into LINE. */
static int reader_fill(struct features_reader *r)
{
	size_t vl;
	const char *v = store_iter_value(r->it, &vl);
	struct dec *d;
	buf_reset(&r->line);
	int rc = features_mrow_load(&r->row, v, vl, &d);
	if (rc) {
		codec_dec_free(d);
		return rc;
	}
	for (uint32_t i = 0; i < r->row.n; i++) {
		if (i)
			buf_putc(&r->line, ',');
		if (r->row.len[i] != NULL_LEN)
			csv_put_field(&r->line, r->row.p[i], r->row.len[i]);
	}
	buf_putc(&r->line, '\n');
	codec_dec_free(d);
	return 0;
}

long features_reader_read(struct features_reader *r, char *dst, size_t len,
			  uint64_t off, struct mlfs_err *err)
{
	size_t done = 0;
	int rc;

	done = columns_read_header(&r->header, r->size, dst, &len, &off);
	if (done == len)
		return (long)done;
	if (!r->started || off < r->line_off) {
		if ((rc = reader_restart(r)))
			return rc;
		if (store_iter_valid(r->it) && (rc = reader_fill(r)))
			return mlfs_fail(err, rc, "damaged feature row");
	}
	while (done < len) {
		if (r->line.len == 0)
			break;
		if (off >= r->line_off + r->line.len) {
			r->line_off += r->line.len;
			store_iter_next(r->it);
			buf_reset(&r->line);
			if (!store_iter_valid(r->it))
				break;
			if ((rc = reader_fill(r)))
				return mlfs_fail(err, rc, "damaged feature row");
			continue;
		}
		size_t in = (size_t)(off - r->line_off);
		size_t n = r->line.len - in;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, r->line.data + in, n);
		done += n;
		off += n;
	}
	if (done < len) {
		/* Rows ended before the size metadata promised. */
		return mlfs_fail(err, -EIO, "feature table rows do not match their metadata");
	}
	return (long)done;
}

void features_reader_free(struct features_reader *r)
{
	if (!r)
		return;
	store_iter_free(r->it);
	store_snapshot_free(r->s, r->snap);
	features_meta_release(r->s, r->m);
	buf_free(&r->header);
	buf_free(&r->line);
	features_mrow_free(&r->row);
	free(r);
}

int features_list_keys(struct store *s, const char *name,
		       int (*fn)(void *ctx, const char *key, size_t len),
		       void *ctx, struct mlfs_err *err)
{
	const struct fmeta *m;
	struct buf lo = { 0 }, hi = { 0 }, txt = { 0 };
	int rc = features_meta_ref(s, NULL, name, &m);
	if (rc)
		return rc;
	uint32_t nk = m->nkeys ? m->nkeys : 1;
	features_key_rows(&lo, 'r', m->id);
	features_key_rows(&hi, 'r', m->id + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		buf_reset(&txt);
		if (!features_dec_key(k + lo.len, kl - lo.len, nk, &txt))
			continue;
		rc = fn(ctx, txt.data ? txt.data : "", txt.len);
	}
	if (!rc)
		rc = store_iter_status(it, err);
	store_iter_free(it);
	features_meta_release(s, m);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&txt);
	return rc;
}

/* ---- stats.csv ---- */

static int stats_compute(struct store *s, const char *name, struct buf *out,
			 uint64_t *id, uint64_t *ver, struct mlfs_err *err)
{
	struct features_reader *r;
	int rc = features_reader_open(s, name, &r, err);
	if (rc)
		return rc;
	*id = r->m->id;
	*ver = r->m->ver;
	uint32_t n = r->m->ncols;
	struct stats_acc *sa = stats_acc_new(n, r->m->names, r->m->types);
	if (!sa) {
		features_reader_free(r);
		return -ENOMEM;
	}
	if ((rc = reader_restart(r)))
		goto out;
	for (; store_iter_valid(r->it); store_iter_next(r->it)) {
		size_t vl;
		const char *v = store_iter_value(r->it, &vl);
		struct dec *d;
		if ((rc = features_mrow_load(&r->row, v, vl, &d))) {
			codec_dec_free(d);
			break;
		}
		for (uint32_t c = 0; c < n; c++) {
			size_t l = r->row.len[c];
			stats_acc_add(sa, c, l == NULL_LEN ? NULL : r->row.p[c],
				      l == NULL_LEN ? 0 : l);
		}
		codec_dec_free(d);
	}
	if (!rc)
		rc = stats_acc_csv(sa, out);
out:
	stats_acc_free(sa);
	features_reader_free(r);
	return rc;
}

int features_stats_csv(struct store *s, const char *name, struct buf *out,
		       struct mlfs_err *err)
{
	struct features_info info;
	int rc = features_stat(s, name, &info);
	if (rc)
		return rc;
	if (cache_get(s, CACHE_FEATURE_STATS, info.id, info.version, out))
		return 0;
	uint64_t id, ver;
	if ((rc = stats_compute(s, name, out, &id, &ver, err)))
		return rc;
	cache_put(s, CACHE_FEATURE_STATS, id, ver, out);
	return 0;
}
