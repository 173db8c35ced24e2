/* features_lookup.c - point reads of a feature table by key: the row of
 * a key, latest or as of a time, through a lookup handle (training sets
 * join with it) or as rows/KEY text.  Not scans (features_read.c). */
#include "features_int.h"

#include <errno.h>
#include <stdlib.h>

#include "csv.h"

/* ---- lookups ---- */

struct features_lookup {
	struct store *s;
	struct store_snapshot *snap;
	const struct fmeta *m;	/* shared (features_meta_ref) */
	struct features_schema *sc;
	struct buf k, v, hi;
	struct dec *d;
	struct mrow row;
	const char **fields;
	size_t *flens;
};

/* L's snapshot and the table's meta at it: what a handle and a single
 * rows/KEY read both need. */
static int lookup_init(struct features_lookup *l, struct store *s,
		       const char *name, struct mlfs_err *err)
{
	l->s = s;
	l->snap = store_snapshot_new(s);
	int rc = features_meta_ref(s, l->snap, name, &l->m);
	if (rc)
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	return 0;
}

static void lookup_clear(struct features_lookup *l)
{
	codec_dec_free(l->d);
	store_snapshot_free(l->s, l->snap);
	features_meta_release(l->s, l->m);
	features_schema_free(l->sc);
	buf_free(&l->k);
	buf_free(&l->v);
	buf_free(&l->hi);
	features_mrow_free(&l->row);
	free(l->fields);
	free(l->flens);
}

int features_lookup_open(struct store *s, const char *name,
			 struct features_lookup **out, struct mlfs_err *err)
{
	struct features_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int rc = lookup_init(l, s, name, err);
	if (!rc)
		rc = features_mrow_init(&l->row, l->m->ncols);
	if (!rc)
		rc = features_schema_from_meta(l->m, &l->sc);
	if (!rc) {
		l->fields = calloc(l->m->ncols + 1, sizeof(*l->fields));
		l->flens = calloc(l->m->ncols + 1, sizeof(*l->flens));
		if (!l->fields || !l->flens)
			rc = -ENOMEM;
	}
	if (rc) {
		features_lookup_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

const struct features_schema *features_lookup_schema(const struct features_lookup *l)
{
	return l->sc;
}

/* Load the row of KEYS (latest, or AS_OF AT_US) into L->row. */
static int lookup_fetch(struct features_lookup *l, const char *const *keys,
			const size_t *lens, bool as_of, int64_t at_us)
{
	int rc;
	uint32_t nk = l->m->nkeys ? l->m->nkeys : 1;

	if (as_of && !l->m->ts)
		return -EINVAL;
	codec_dec_free(l->d);
	l->d = NULL;
	features_key_rows(&l->k, as_of ? 'v' : 'r', l->m->id);
	for (uint32_t i = 0; i < nk; i++) {
		if (!lens[i])
			return -ENOENT;
		features_enc_key_field(&l->k, keys[i], lens[i]);
	}
	if (!as_of) {
		rc = store_get(l->s, l->snap, l->k.data, l->k.len, &l->v, NULL);
		if (rc)
			return rc;
	} else {
		buf_reset(&l->hi);
		buf_append(&l->hi, l->k.data, l->k.len);
		features_put_i64_key(&l->hi, at_us);
		buf_putc(&l->hi, 0);
		struct store_iter *it = store_iter_new(l->s, l->snap, l->k.data, l->k.len,
						       l->hi.data, l->hi.len);
		if (!it)
			return -ENOMEM;
		store_iter_seek_last(it);
		rc = -ENOENT;
		if (store_iter_valid(it)) {
			size_t vl;
			const char *v = store_iter_value(it, &vl);
			buf_reset(&l->v);
			buf_append(&l->v, v, vl);
			rc = 0;
		}
		store_iter_free(it);
		if (rc)
			return rc;
	}
	return features_mrow_load(&l->row, l->v.data, l->v.len, &l->d);
}

int features_lookup_get(struct features_lookup *l, const char *const *keys,
			const size_t *lens, bool as_of, int64_t at_us,
			const char *const **fields, const size_t **flens)
{
	int rc = lookup_fetch(l, keys, lens, as_of, at_us);
	if (rc)
		return rc;
	for (uint32_t c = 0; c < l->m->ncols; c++) {
		l->fields[c] = l->row.len[c] == NULL_LEN ? NULL : l->row.p[c];
		l->flens[c] = l->row.len[c] == NULL_LEN ? 0 : l->row.len[c];
	}
	*fields = l->fields;
	*flens = l->flens;
	return 0;
}

void features_lookup_free(struct features_lookup *l)
{
	if (!l)
		return;
	lookup_clear(l);
	free(l);
}

/* OUT = the rows/KEY text of KEY through L (its meta and snapshot set). */
static int row_text(struct features_lookup *l, const char *key, bool as_of,
		    int64_t at_us, struct buf *out)
{
	const char *parts[FEAT_MAX_KEYS];
	size_t lens[FEAT_MAX_KEYS];
	int rc = features_mrow_init(&l->row, l->m->ncols);
	if (rc)
		return rc;
	uint32_t nk = l->m->nkeys ? l->m->nkeys : (l->m->ncols ? 1 : 0);
	if (!features_split_key(key, nk, parts, lens))
		return -ENOENT;
	if ((rc = lookup_fetch(l, parts, lens, as_of, at_us)))
		return rc;
	const struct buf *h = features_meta_header(l->m);
	buf_reset(out);
	buf_append(out, h->data, h->len);
	for (uint32_t c = 0; c < l->m->ncols; c++) {
		if (c)
			buf_putc(out, ',');
		if (l->row.len[c] != NULL_LEN)
			csv_put_field(out, l->row.p[c], l->row.len[c]);
	}
	buf_putc(out, '\n');
	return 0;
}

/* KEY's text under LATEST, the latest meta since the store's change
 * sequence was SEQ, read with no snapshot: -EAGAIN unless nothing was
 * written since SEQ, before the read or during it (then the row read
 * is the one of LATEST's store).  Takes LATEST's reference. */
static int row_read_unchanged(struct store *s, const struct fmeta *latest,
			      uint64_t seq, const char *key, bool as_of,
			      int64_t at_us, struct buf *out)
{
	struct features_lookup l = { .s = s, .m = latest };
	int rc = -EAGAIN;
	if (store_unchanged_since(s, seq)) {
		rc = row_text(&l, key, as_of, at_us, out);
		/* An answer (not a failure to read) that is still true. */
		bool answer = rc == 0 || rc == -ENOENT || rc == -EINVAL;
		if (!answer || !store_unchanged_since(s, seq))
			rc = -EAGAIN;
		if (rc == 0)
			features_meta_row_put(s, latest, key, as_of, at_us, out);
	}
	lookup_clear(&l);
	return rc;
}

int features_row_read(struct store *s, const char *name, const char *key,
		      bool as_of, int64_t at_us, struct buf *out,
		      int64_t *mtime_ns, struct mlfs_err *err)
{
	struct features_lookup l = { 0 };
	/* Made before under the meta that is the latest: no snapshot, and
	 * no read while nothing was written since (features_meta_ref).  Not
	 * made yet: one read with no snapshot under that meta while nothing
	 * is written; else a snapshot and the meta read at it. */
	const struct fmeta *latest;
	uint64_t seq = store_change_seq(s);
	if (features_meta_ref(s, NULL, name, &latest) == 0) {
		int64_t mtime = latest->mtime;
		bool hit = features_meta_row_get(s, latest, key, as_of, at_us, out);
		int rc = hit ? 0 : -EAGAIN;
		if (hit)
			features_meta_release(s, latest);
		else
			rc = row_read_unchanged(s, latest, seq, key, as_of, at_us, out);
		if (rc != -EAGAIN) {
			if (mtime_ns)
				*mtime_ns = mtime;
			return rc;
		}
	}
	int rc = lookup_init(&l, s, name, err);
	if (rc)
		goto out;
	if (mtime_ns)
		*mtime_ns = l.m->mtime;
	/* Made meanwhile under the same meta: the same rows. */
	if (!features_meta_row_get(s, l.m, key, as_of, at_us, out) &&
	    !(rc = row_text(&l, key, as_of, at_us, out)))
		features_meta_row_put(s, l.m, key, as_of, at_us, out);
out:
	lookup_clear(&l);
	return rc;
}

int features_row_csv(struct store *s, const char *name, const char *key,
		     bool as_of, int64_t at_us, struct buf *out,
		     struct mlfs_err *err)
{
	return features_row_read(s, name, key, as_of, at_us, out, NULL, err);
}
