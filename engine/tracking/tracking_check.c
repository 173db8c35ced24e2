/* tracking_check.c - the consistency check of tracking's records
 * (mlfs check): metric summaries against their blocks and the runs'
 * latest values, runs against their artifact roots.  Reads only. */
#include "tracking.h"
#include "tracking_int.h"

#include <stdio.h>
#include <string.h>

#include "blob.h"
#include "codec.h"

/* The part of a x/?/EID/RUN\0KEY key after the kind, for messages. */
static void describe(const char *k, size_t kl, char *out, size_t n)
{
	size_t run = 4 + 8 + 1;
	if (kl <= run) {
		snprintf(out, n, "?");
		return;
	}
	snprintf(out, n, "experiment id %llu, run %.*s",
		 (unsigned long long)key_get_u64(k + 4), (int)(kl - run), k + run);
	for (char *p = out; *p; p++)
		if (*p == '\0')
			*p = '/';
}

/* Does x/L/EID/RUN (RUNKEY: the x/l key up to RUN, NUL excluded) map
 * KEY to VT? */
static bool latest_row_has(struct store *s, const char *runkey, size_t rkl,
			   const char *key, size_t kl, const char *vt)
{
	struct buf k = { 0 };
	struct dec *d;
	bool ok = false;
	buf_append(&k, runkey, rkl);
	k.data[2] = 'L';
	if (codec_load(s, NULL, k.data, k.len, &d) == 0) {
		size_t n = codec_dval_len(codec_dec_root(d));
		for (size_t i = 0; i < n && !ok; i++) {
			const char *kp, *vp;
			size_t klen, vlen;
			ok = codec_dval_str(codec_dval_key_at(codec_dec_root(d), i), &kp, &klen) &&
			     codec_dval_str(codec_dval_val_at(codec_dec_root(d), i), &vp, &vlen) &&
			     klen == kl && !memcmp(kp, key, kl) &&
			     vlen == strlen(vt) && !memcmp(vp, vt, vlen);
		}
		codec_dec_free(d);
	}
	buf_free(&k);
	return ok;
}

int tracking_check(struct store *s, struct buf *report, struct mlfs_err *err)
{
	int problems = 0;
	char what[400];
	struct buf lo = { 0 }, hi = { 0 };
	struct dec *d = codec_dec_new("\xc0", 1);

	/* Metric summaries against their blocks. */
	struct store_iter *it = store_iter_new(s, NULL, "x/l/", 4, "x/l0", 4);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		describe(k, kl, what, sizeof(what));
		if (!d || !codec_dec_reset(d, v, vl)) {
			buf_printf(report, "metric (%s): unreadable summary\n", what);
			problems++;
			continue;
		}
		uint64_t n = codec_dget_u64(codec_dec_root(d), "n", 0), bytes = codec_dget_u64(codec_dec_root(d), "bytes", 0);
		buf_reset(&lo);
		buf_append(&lo, k, kl);
		lo.data[2] = 'm';
		buf_putc(&lo, '\0');
		buf_reset(&hi);
		buf_append(&hi, lo.data, lo.len);
		hi.data[hi.len - 1] = 1;
		uint64_t got_bytes = 0, got_points = 0;
		struct store_iter *bi = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
		for (store_iter_seek_first(bi); store_iter_valid(bi); store_iter_next(bi)) {
			size_t bl;
			const char *b = store_iter_value(bi, &bl);
			got_bytes += bl;
			for (size_t i = 0; i < bl; i++)
				got_points += b[i] == '\n';
		}
		store_iter_free(bi);
		if (got_bytes != bytes || got_points != n) {
			buf_printf(report, "metric (%s): %llu points in %llu bytes stored, summary says %llu in %llu\n",
				   what, (unsigned long long)got_points, (unsigned long long)got_bytes,
				   (unsigned long long)n, (unsigned long long)bytes);
			problems++;
		}
		/* The run's latest-metrics record must agree with the summary. */
		char vt[64] = "";
		codec_dget_str(codec_dec_root(d), "vt", vt, sizeof(vt));
		const char *nul = kl > 13 ? memchr(k + 13, '\0', kl - 13) : NULL;
		if (nul && !latest_row_has(s, k, (size_t)(nul - k), nul + 1,
					   kl - (size_t)(nul + 1 - k), vt)) {
			buf_printf(report, "metric (%s): the run's latest-metrics record does not say %s\n",
				   what, vt);
			problems++;
		}
	}
	int rc = store_iter_status(it, err);
	store_iter_free(it);

	/* Runs against their artifact roots. */
	it = store_iter_new(s, NULL, "x/r/", 4, "x/r0", 4);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		struct blob_stat st;
		uint64_t art = d && codec_dec_reset(d, v, vl) ? codec_dget_u64(codec_dec_root(d), "art", 0) : 0;
		if (art && blob_stat(s, art, &st) == 0 && st.dir)
			continue;
		describe(k, kl, what, sizeof(what));
		buf_printf(report, "run (%s): artifact directory %llu is missing\n",
			   what, (unsigned long long)art);
		problems++;
	}
	if (!rc)
		rc = store_iter_status(it, err);
	store_iter_free(it);
	codec_dec_free(d);
	buf_free(&lo);
	buf_free(&hi);
	return rc ? rc : problems;
}
