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
	struct fmeta m;
	struct features_schema *sc;
	struct buf k, v, hi;
	struct dec *d;
	struct mrow row;
	const char **fields;
	size_t *flens;
};

int features_lookup_open(struct store *s, const char *name,
			 struct features_lookup **out, struct mlfs_err *err)
{
	struct features_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->s = s;
	l->snap = store_snapshot_new(s);
	int rc = features_meta_load(s, l->snap, name, &l->m);
	if (rc) {
		store_snapshot_free(s, l->snap);
		free(l);
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	}
	if ((rc = features_schema_from_meta(&l->m, &l->sc)) || (rc = features_mrow_init(&l->row, l->m.ncols))) {
		features_lookup_free(l);
		return rc;
	}
	l->fields = calloc(l->m.ncols + 1, sizeof(*l->fields));
	l->flens = calloc(l->m.ncols + 1, sizeof(*l->flens));
	if (!l->fields || !l->flens) {
		features_lookup_free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

const struct features_schema *features_lookup_schema(const struct features_lookup *l)
{
	return l->sc;
}

int features_lookup_get(struct features_lookup *l, const char *const *keys,
			const size_t *lens, bool as_of, int64_t at_us,
			const char *const **fields, const size_t **flens)
{
	int rc;
	uint32_t nk = l->m.nkeys ? l->m.nkeys : 1;

	if (as_of && !l->m.ts)
		return -EINVAL;
	codec_dec_free(l->d);
	l->d = NULL;
	features_key_rows(&l->k, as_of ? 'v' : 'r', l->m.id);
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
	if ((rc = features_mrow_load(&l->row, l->v.data, l->v.len, &l->d)))
		return rc;
	for (uint32_t c = 0; c < l->m.ncols; c++) {
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
	codec_dec_free(l->d);
	store_snapshot_free(l->s, l->snap);
	features_meta_free(&l->m);
	features_schema_free(l->sc);
	buf_free(&l->k);
	buf_free(&l->v);
	buf_free(&l->hi);
	features_mrow_free(&l->row);
	free(l->fields);
	free(l->flens);
	free(l);
}

int features_row_csv(struct store *s, const char *name, const char *key,
		     bool as_of, int64_t at_us, struct buf *out,
		     struct mlfs_err *err)
{
	struct features_lookup *l;
	const char *parts[FEAT_MAX_KEYS];
	size_t lens[FEAT_MAX_KEYS];
	int rc = features_lookup_open(s, name, &l, err);
	if (rc)
		return rc;
	if (!features_split_key(key, l->sc->nkeys, parts, lens)) {
		rc = -ENOENT;
		goto out;
	}
	const char *const *f;
	const size_t *fl;
	if ((rc = features_lookup_get(l, parts, lens, as_of, at_us, &f, &fl)))
		goto out;
	buf_reset(out);
	struct buf h = { 0 };
	features_header_text(&l->m, &h);
	buf_append(out, h.data, h.len);
	buf_free(&h);
	for (uint32_t c = 0; c < l->m.ncols; c++) {
		if (c)
			buf_putc(out, ',');
		if (f[c])
			csv_put_field(out, f[c], fl[c]);
	}
	buf_putc(out, '\n');
out:
	features_lookup_free(l);
	return rc;
}
