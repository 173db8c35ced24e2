/* monitor.c - monitor records and what reads them: create, delete, list,
 * monitor.yaml, the views (profile.csv, drift.csv, performance.csv,
 * alerts), the report and mlfs check.  Owns the keys m/:
 *   m/m/NAME          the record (struct mon_record)
 *   m/w/DID WS SEQ    a block of rows of window WS (wdata_encode)
 *   m/r/DID WS        window WS's results {p, d, f, lv}
 *   m/a/DID SEQ       an alert batch {t, high, text}
 *   m/b/DID           a table baseline's profiles {tag, p, s} (refresh.c)
 * The refresh itself is refresh.c's; the statistics window.c's. */
#include "monitor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attrs.h"
#include "clock.h"
#include "codec.h"
#include "ids.h"
#include "names.h"

#define SPEC_MAX (256u << 10)

static const char *const profile_header =
	"window_start,window_end,slice_key,slice_value,model,version,column,type,count,nulls,mean,std,min,p25,p50,p75,max,distinct\n";
static const char *const drift_header =
	"window_start,window_end,slice_key,slice_value,model,version,column,metric,value,level,drift_type\n";
static const char *const perf_header =
	"window_start,window_end,slice_key,slice_value,model,version,count,accuracy,precision,recall,f1_score,roc_auc,rmse,mae,r2\n";
static const char *const alerts_header =
	"time,monitor,window_start,slice_key,slice_value,model,version,column,metric,value,level\n";

static const int lock_key = 0;

pthread_mutex_t *mon_lock(struct store *s)
{
	return store_lock(s, &lock_key);
}

/* ---- keys ---- */

static void key_record(struct buf *k, const char *name)
{
	key_named(k, "m/m/", name);
}

void mon_key(struct buf *k, char kind, uint64_t did)
{
	key_kind_id(k, 'm', kind, did);
}

/* Signed seconds as a key part that sorts numerically. */
void mon_key_time(struct buf *k, int64_t t)
{
	key_put_u64(k, (uint64_t)t ^ (1ull << 63));
}

int64_t mon_key_get_time(const char *p)
{
	return (int64_t)(key_get_u64(p) ^ (1ull << 63));
}

/* ---- the record ---- */

void mon_record_free(struct mon_record *r)
{
	buf_free(&r->spec);
	buf_free(&r->report);
	free(r->layout.cols);
	free(r->layout.slices);
	memset(r, 0, sizeof(*r));
}

static void enc_names(struct buf *v, char *const *names, size_t n)
{
	codec_enc_array(v, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		codec_enc_cstr(v, names[i]);
}

/* A list of strings as one block of NUL-terminated copies. */
static int dec_names(struct dval l, char ***out, size_t *n)
{
	size_t cnt = codec_dval_len(l), bytes = 0;
	const char *p;
	size_t len;
	for (size_t i = 0; i < cnt; i++) {
		if (!codec_dval_str(codec_dval_at(l, i), &p, &len))
			return -EIO;
		bytes += len + 1;
	}
	char **v = malloc(cnt * sizeof(char *) + bytes + 1);
	if (!v)
		mlfs_oom();
	char *at = (char *)(v + cnt);
	for (size_t i = 0; i < cnt; i++) {
		codec_dval_str(codec_dval_at(l, i), &p, &len);
		memcpy(at, p, len);
		at[len] = '\0';
		v[i] = at;
		at += len + 1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

#define F(key, m, t, d) CODEC_FIELD(key, struct mon_record, m, CODEC_##t, d)
static const struct codec_field rec_fields[] = {
	F("did", did, UINT, 0), F("ctime", ctime_ms, INT, 0),
	F("mtime", mtime_ms, INT, 0), CODEC_OWNER_FIELDS(struct mon_record, 0755),
	F("spec", spec, BUF, 0), F("lseq", log_seq, UINT, 0),
	F("bseq", block_seq, UINT, 0), F("base", base_tag, CSTR, 0),
	F("lver", labels_ver, UINT, 0), F("aseq", alert_seq, UINT, 0),
	F("high", high_batches, UINT, 0), F("last", last_ms, INT, 0),
	F("gran", gran_s, INT, 0), F("report", report, BUF, 0),
};
#undef F
#define REC_FIELDS (sizeof(rec_fields) / sizeof(rec_fields[0]))

/* The record: the fields above, the layout (cols: nil until set, slices)
 * and the table cursor tcur [tid, first segment, bytes]. */
void mon_record_put(struct store_batch *b, const char *name,
		    const struct mon_record *r)
{
	struct buf k = { 0 }, v = { 0 };
	key_record(&k, name);
	codec_enc_fields(&v, r, rec_fields, REC_FIELDS, 3);
	codec_enc_cstr(&v, "cols");
	if (r->layout.set)
		enc_names(&v, r->layout.cols, r->layout.ncols);
	else
		codec_enc_nil(&v);
	codec_enc_cstr(&v, "slices");
	enc_names(&v, r->layout.slices, r->layout.set ? r->layout.nslices : 0);
	codec_enc_cstr(&v, "tcur");
	codec_enc_array(&v, 3);
	codec_enc_u64(&v, r->tcur.tid);
	codec_enc_u64(&v, r->tcur.first_seg);
	codec_enc_u64(&v, r->tcur.bytes);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

int mon_record_load(struct store *s, const struct store_snapshot *snap,
		    const char *name, struct mon_record *r)
{
	struct dec *d;
	struct dval x, sl;
	memset(r, 0, sizeof(*r));
	int rc = codec_load_named(s, snap, "m/m/", name, &d);
	if (rc)
		return rc;
	struct dval root = codec_dec_root(d);
	codec_dec_fields(root, r, rec_fields, REC_FIELDS);
	if (!r->did)
		rc = -EIO;
	if (!rc && codec_dval_get(root, "cols", &x) && !codec_dval_is_nil(x)) {
		r->layout.set = true;
		rc = dec_names(x, &r->layout.cols, &r->layout.ncols);
		if (!rc && codec_dval_get(root, "slices", &sl))
			rc = dec_names(sl, &r->layout.slices, &r->layout.nslices);
	}
	if (codec_dval_get(root, "tcur", &x) && codec_dval_len(x) == 3) {
		codec_dval_u64(codec_dval_at(x, 0), &r->tcur.tid);
		codec_dval_u64(codec_dval_at(x, 1), &r->tcur.first_seg);
		codec_dval_u64(codec_dval_at(x, 2), &r->tcur.bytes);
	}
	codec_dec_free(d);
	if (rc)
		mon_record_free(r);
	return rc;
}

/* ---- create, delete, list ---- */

int monitor_create(struct store *s, const char *name, uint32_t uid,
		   uint32_t gid, uint32_t mode, const char *attrs,
		   struct mlfs_err *err)
{
	struct mon_record r = { 0 };
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "'%s' is not a valid monitor name", name);
	pthread_mutex_lock(mon_lock(s));
	int rc = mon_record_load(s, NULL, name, &r);
	if (!rc) {
		mon_record_free(&r);
		rc = mlfs_fail(err, -EEXIST, "monitor %s exists", name);
	} else {
		rc = ids_next(s, "monitor", &r.did, err);
	}
	if (!rc) {
		struct store_batch *b = store_batch_new();
		r.ctime_ms = r.mtime_ms = clock_now_ms();
		r.uid = uid;
		r.gid = gid;
		r.mode = mode & 07777;
		mon_record_put(b, name, &r);
		rc = attrs_batch_write(s, b, attrs, true, err);
	}
	pthread_mutex_unlock(mon_lock(s));
	mon_record_free(&r);
	return rc;
}

/* Delete everything data id DID holds, into B. */
static void drop_data(struct store_batch *b, uint64_t did)
{
	struct buf lo = { 0 }, hi = { 0 };
	for (const char *kind = "wrab"; *kind; kind++) {
		mon_key(&lo, *kind, did);
		mon_key(&hi, *kind, did + 1);
		store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	}
	buf_free(&lo);
	buf_free(&hi);
}

int monitor_delete(struct store *s, const char *name, const char *attrs,
		   struct mlfs_err *err)
{
	struct mon_record r;
	struct buf k = { 0 };
	pthread_mutex_lock(mon_lock(s));
	int rc = mon_record_load(s, NULL, name, &r);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		drop_data(b, r.did);
		key_record(&k, name);
		store_batch_delete(b, k.data, k.len);
		rc = attrs_batch_write(s, b, attrs, true, err);
		mon_record_free(&r);
	}
	pthread_mutex_unlock(mon_lock(s));
	buf_free(&k);
	return rc;
}

int monitor_stat(struct store *s, const char *name, struct monitor_info *out)
{
	struct mon_record r;
	int rc = mon_record_load(s, NULL, name, &r);
	if (rc)
		return rc;
	out->ctime_ms = r.ctime_ms;
	out->mtime_ms = r.mtime_ms;
	out->uid = r.uid;
	out->gid = r.gid;
	out->mode = r.mode;
	out->last_refresh_ms = r.last_ms;
	out->high_batches = r.high_batches;
	out->alert_batches = r.alert_seq;
	mon_record_free(&r);
	return 0;
}

int monitor_list(struct store *s, int (*fn)(void *ctx, const char *name),
		 void *ctx)
{
	return store_list_names(s, "m/m/", NAMES_MAX, fn, ctx);
}

/* ---- monitor.yaml ---- */

/* The text SPEC (monitor.yaml) or REPORT of NAME's record into OUT. */
static int record_text(struct store *s, const char *name, bool spec, struct buf *out)
{
	struct mon_record r;
	int rc = mon_record_load(s, NULL, name, &r);
	if (rc)
		return rc;
	const struct buf *t = spec ? &r.spec : &r.report;
	buf_reset(out);
	buf_append(out, t->data ? t->data : "", t->len);
	mon_record_free(&r);
	return 0;
}

int monitor_spec_get(struct store *s, const char *name, struct buf *out)
{
	return record_text(s, name, true, out);
}

static bool blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

int monitor_spec_set(struct store *s, const char *name, const char *text,
		     size_t len, bool apply, struct mlfs_err *err)
{
	struct monitor_spec *sp = NULL;
	struct mon_record r;
	uint64_t did;
	if (len > SPEC_MAX)
		return mlfs_fail(err, -EFBIG, "monitor.yaml is at most %u bytes", SPEC_MAX);
	if (!apply)
		return blank(text, len) ? 0 : monitor_spec_check_partial(s, text, len, err);
	int rc = blank(text, len) ? 0 : monitor_spec_parse(s, text, len, &sp, err);
	if (rc)
		return rc;
	pthread_mutex_lock(mon_lock(s));
	rc = mon_record_load(s, NULL, name, &r);
	if (rc)
		rc = mlfs_fail(err, -ENOENT, "no monitor '%s'", name);
	else if (!(rc = ids_next(s, "monitor", &did, err))) {
		struct store_batch *b = store_batch_new();
		struct mon_record fresh = { 0 };
		drop_data(b, r.did);
		fresh.did = did;
		fresh.ctime_ms = r.ctime_ms;
		fresh.uid = r.uid;
		fresh.gid = r.gid;
		fresh.mode = r.mode;
		fresh.mtime_ms = clock_now_ms();
		fresh.gran_s = sp ? sp->granularity_s : 0;
		buf_append(&fresh.spec, text, len);
		mon_record_put(b, name, &fresh);
		rc = store_write(s, b, true, err);
		store_batch_free(b);
		mon_record_free(&fresh);
	}
	mon_record_free(&r);
	pthread_mutex_unlock(mon_lock(s));
	monitor_spec_free(sp);
	return rc;
}

int monitor_parse_word(const char *text, size_t len, bool *full,
		       struct mlfs_err *err)
{
	static const char *const words[] = { "1", "now", "refresh", "run", "true", "yes", "full" };
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' ||
		       text[len - 1] == '\r' || text[len - 1] == '\t'))
		len--;
	while (len && (*text == ' ' || *text == '\t' || *text == '\n'))
		text++, len--;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == len && !strncasecmp(words[i], text, len)) {
			*full = !strcmp(words[i], "full");
			return 0;
		}
	return mlfs_fail(err, -EINVAL, "write 1 (or now) to refresh, full to recompute every window, not '%.*s'",
			 (int)(len > 40 ? 40 : len), text);
}

int monitor_report(struct store *s, const char *name, struct buf *out)
{
	return record_text(s, name, false, out);
}

/* ---- views ---- */

/* HEADER, then field FIELD of every results record of NAME (window
 * order) or, for alerts (FIELD NULL), every alert batch's text. */
static int view(struct store *s, const char *name, const char *header,
		const char *field, struct buf *out)
{
	struct store_snapshot *snap = store_snapshot_new(s);
	struct mon_record r;
	struct buf lo = { 0 }, hi = { 0 };
	struct dec *d = NULL;
	int rc = mon_record_load(s, snap, name, &r);
	if (rc)
		goto out;
	buf_reset(out);
	buf_puts(out, header);
	mon_key(&lo, field ? 'r' : 'a', r.did);
	mon_key(&hi, field ? 'r' : 'a', r.did + 1);
	struct store_iter *it = store_iter_new(s, snap, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t vl, tl;
		const char *v = store_iter_value(it, &vl), *t;
		struct dval x;
		if (d ? !codec_dec_reset(d, v, vl) : !(d = codec_dec_new(v, vl)))
			continue;
		if (codec_dval_get(codec_dec_root(d), field ? field : "text", &x) &&
		    codec_dval_str(x, &t, &tl))
			buf_append(out, t, tl);
	}
	rc = store_iter_status(it, NULL);
	store_iter_free(it);
	mon_record_free(&r);
out:
	codec_dec_free(d);
	store_snapshot_free(s, snap);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int monitor_profile_csv(struct store *s, const char *name, struct buf *out)
{
	return view(s, name, profile_header, "p", out);
}

int monitor_drift_csv(struct store *s, const char *name, struct buf *out)
{
	return view(s, name, drift_header, "d", out);
}

int monitor_performance_csv(struct store *s, const char *name,
			    struct buf *out)
{
	return view(s, name, perf_header, "f", out);
}

int monitor_alerts_csv(struct store *s, const char *name, struct buf *out)
{
	return view(s, name, alerts_header, NULL, out);
}

/* ---- mlfs check ---- */

struct check_ctx {
	struct store *s;
	void (*fn)(void *ctx, const char *problem);
	void *ctx;
	int problems;
	uint64_t *dids;
	size_t ndids;
};

static void problem(struct check_ctx *cc, const char *fmt, const char *name)
{
	char line[512];
	snprintf(line, sizeof(line), fmt, name);
	cc->fn(cc->ctx, line);
	cc->problems++;
}

static int check_one(void *ctx, const char *name)
{
	struct check_ctx *cc = ctx;
	struct mon_record r;
	struct monitor_spec *sp = NULL;
	if (mon_record_load(cc->s, NULL, name, &r)) {
		problem(cc, "monitor %s: damaged record", name);
		return 0;
	}
	if (r.spec.len && monitor_spec_parse(NULL, r.spec.data, r.spec.len, &sp, NULL))
		problem(cc, "monitor %s: monitor.yaml does not parse", name);
	monitor_spec_free(sp);
	if (!(cc->dids = realloc(cc->dids, (cc->ndids + 1) * sizeof(*cc->dids))))
		mlfs_oom();
	cc->dids[cc->ndids++] = r.did;
	mon_record_free(&r);
	return 0;
}

int monitor_check(struct store *s, void (*fn)(void *ctx, const char *problem),
		  void *ctx)
{
	struct check_ctx cc = { s, fn, ctx, 0, NULL, 0 };
	int rc = monitor_list(s, check_one, &cc);
	struct buf lo = { 0 }, hi = { 0 };
	/* every data key belongs to a monitor's current data id */
	for (const char *kind = "wrab"; !rc && *kind; kind++) {
		char pre[4] = { 'm', '/', *kind, '/' };
		buf_reset(&lo);
		buf_append(&lo, pre, 4);
		buf_reset(&hi);
		buf_append(&hi, pre, 3);
		buf_putc(&hi, '/' + 1);
		struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
		store_iter_seek_first(it);
		while (store_iter_valid(it)) {
			size_t kl;
			const char *k = store_iter_key(it, &kl);
			uint64_t did = kl >= 12 ? key_get_u64(k + 4) : 0;
			bool known = false;
			for (size_t i = 0; i < cc.ndids; i++)
				known |= cc.dids[i] == did;
			if (known) {
				store_iter_next(it);
				continue;
			}
			char text[64];
			snprintf(text, sizeof(text), "m/%c/%" PRIu64, *kind, did);
			problem(&cc, "monitor data %s belongs to no monitor", text);
			struct buf next = { 0 };	/* past this data id */
			mon_key(&next, *kind, did + 1);
			store_iter_seek(it, next.data, next.len);
			buf_free(&next);
		}
		store_iter_free(it);
	}
	buf_free(&lo);
	buf_free(&hi);
	free(cc.dids);
	return rc < 0 ? rc : cc.problems;
}
