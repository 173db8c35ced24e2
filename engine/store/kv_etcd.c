/* kv_etcd.c - the revisioned key-value interface (kv.h) on an etcd v3
 * cluster, through its JSON gateway (/v3/kv/range, /v3/kv/txn,
 * /v3/watch, /v3/lease/..., /v3/kv/compaction) with libcurl and
 * jansson.  Keys and values travel base64-encoded; 64-bit numbers as
 * JSON strings.  One curl handle per thread (keep-alive connections);
 * the endpoints are tried in order, moving on when one cannot be
 * reached.  Every commit is one txn; every watch is one streaming POST
 * on a thread of its own that resumes after its last revision when the
 * connection breaks.  etcd's messages are translated to errno here and
 * nowhere else. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv_int.h"

#define CONNECT_MS 1000		/* per endpoint */
#define CALL_MS 10000		/* one request, a long range included */
#define RETRY_MS 5000		/* leader elections, endpoints down */
/* etcd's own deadline for a commit (the gateway's Grpc-Timeout): a
 * proposal a follower forwarded to a leader that just died is otherwise
 * waited for 5 s; after this it is reported as not known (ETIMEDOUT).
 * COMMIT_MS, and 1 ms more per KB of request. */
#define COMMIT_MS 1000

struct handle {
	CURL *curl;
	struct curl_slist *hdrs;
	struct etcd *e;
	struct handle *next;	/* guarded by etcd.lock */
};

struct etcd {
	struct kv kv;
	char **eps;		/* "http://HOST:PORT", no trailing slash */
	int neps;
	int cur;		/* the endpoint to try first (atomic) */
	int retry_ms;		/* RETRY_MS; 0 while opening: fail at once */
	pthread_key_t key;	/* this thread's struct handle */
	pthread_mutex_t lock;
	struct handle *handles;	/* every thread's, to free at close */
};

/* ---- base64 ---- */

static const char b64c[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_enc(const void *p, size_t n)
{
	const unsigned char *s = p;
	char *o = malloc(4 * ((n + 2) / 3) + 1), *q = o;
	if (!o)
		mlfs_oom();
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		*q++ = b64c[v >> 18];
		*q++ = b64c[v >> 12 & 63];
		*q++ = i + 1 < n ? b64c[v >> 6 & 63] : '=';
		*q++ = i + 2 < n ? b64c[v & 63] : '=';
	}
	*q = '\0';
	return o;
}

/* Decode S (NULL: empty) into OUT (reset first).  -EIO when not base64. */
static int b64_dec(const char *s, struct buf *out)
{
	uint32_t v = 0;
	int bits = 0;
	buf_reset(out);
	buf_reserve(out, s ? strlen(s) : 0);
	for (; s && *s && *s != '='; s++) {
		const char *c = strchr(b64c, *s);
		if (!c)
			return -EIO;
		v = v << 6 | (uint32_t)(c - b64c);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)(v >> bits & 0xff));
		}
	}
	return 0;
}

static json_t *jb64(const void *p, size_t n)
{
	char *s = b64_enc(p, n);
	json_t *j = json_string(s);
	free(s);
	return j;
}

/* A range bound: empty means "\0", etcd's "from the start" / "to the end". */
static json_t *jbound(const void *p, size_t n)
{
	return n ? jb64(p, n) : json_string("AA==");
}

static json_t *jrev(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	return json_string(s);
}

/* An int64 field, sent as a string or a number; 0 when absent. */
static int64_t jint(const json_t *o, const char *name)
{
	json_t *j = json_object_get(o, name);
	if (json_is_string(j))
		return strtoll(json_string_value(j), NULL, 10);
	return json_is_integer(j) ? json_integer_value(j) : 0;
}

/* ---- one request, with fail-over ---- */

static void handle_cleanup(struct handle *h)
{
	curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->hdrs);
	free(h);
}

static void handle_free(void *p)
{
	struct handle *h = p;
	if (!h)
		return;
	pthread_mutex_lock(&h->e->lock);
	for (struct handle **q = &h->e->handles; *q; q = &(*q)->next)
		if (*q == h) {
			*q = h->next;
			break;
		}
	pthread_mutex_unlock(&h->e->lock);
	handle_cleanup(h);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	buf_append(arg, p, size * n);
	return size * n;
}

/* The headers of every request: JSON, no Expect: 100, and the gRPC
 * metadata "hasleader" (through the gateway), so that a member without a
 * leader answers "no leader" at once instead of waiting. */
static struct curl_slist *headers(void)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	return curl_slist_append(h, "Grpc-Metadata-hasleader: true");
}

/* A curl handle set up for a POST of JSON. */
static CURL *curl_new(struct curl_slist **hdrs)
{
	CURL *c = curl_easy_init();
	if (!c)
		mlfs_oom();
	*hdrs = headers();
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
	return c;
}

static struct handle *handle_get(struct etcd *e)
{
	struct handle *h = pthread_getspecific(e->key);
	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		mlfs_oom();
	h->e = e;
	h->curl = curl_new(&h->hdrs);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)CALL_MS);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	pthread_mutex_lock(&e->lock);
	h->next = e->handles;
	e->handles = h;
	pthread_mutex_unlock(&e->lock);
	pthread_setspecific(e->key, h);
	return h;
}

/* etcd's error text to an errno; 1 when the request was not applied and
 * may be sent again (no leader yet, a leader change). */
static int etcd_errno(const char *msg)
{
	static const struct { const char *text; int code; } map[] = {
		{ "compacted", -ESTALE }, { "future revision", -EINVAL },
		{ "lease not found", -ENOENT }, { "too many operations", -E2BIG },
		{ "too large", -E2BIG }, { "duplicate key", -EINVAL },
		{ "no leader", 1 }, { "leader changed", 1 }, { "not capable", 1 },
		{ "server stopped", 1 }, { "timed out", -ETIMEDOUT },
		{ "deadline exceeded", -ETIMEDOUT },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (msg && strstr(msg, map[i].text))
			return map[i].code;
	return -EIO;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POST BODY to PATH on one endpoint after another until one answers.
 * *OUT gets the parsed answer (json_decref it).  SAFE: the request may
 * be sent again after a connection broke mid-way (not a txn). */
static int call(struct etcd *e, const char *path, json_t *body, bool safe,
		json_t **out, struct mlfs_err *err)
{
	struct handle *h = handle_get(e);
	char *text = json_dumps(body, JSON_COMPACT);
	struct buf resp = { 0 }, url = { 0 };
	struct curl_slist *commit_hdrs = NULL;
	int64_t deadline = clock_ms() + e->retry_ms;
	int rc = -EHOSTUNREACH, tries = 0;
	char why[256] = "";
	*out = NULL;
	if (!text)
		mlfs_oom();
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &resp);
	if (!safe) {
		char hdr[64];
		snprintf(hdr, sizeof(hdr), "Grpc-Timeout: %zum",
			 COMMIT_MS + strlen(text) / 1024);
		commit_hdrs = curl_slist_append(headers(), hdr);
	}
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, safe ? h->hdrs : commit_hdrs);
	for (;;) {
		int i = __atomic_load_n(&e->cur, __ATOMIC_RELAXED) % e->neps;
		buf_reset(&url);
		buf_printf(&url, "%s%s", e->eps[i], path);
		buf_reset(&resp);
		curl_easy_setopt(h->curl, CURLOPT_URL, url.data);
		CURLcode cc = curl_easy_perform(h->curl);
		long status = 0;
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
		bool sent = cc != CURLE_COULDNT_CONNECT && cc != CURLE_COULDNT_RESOLVE_HOST;
		json_t *j = cc == CURLE_OK ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
		if (cc == CURLE_OK && status == 200 && j) {
			*out = j;
			rc = 0;
			break;
		}
		const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
		snprintf(why, sizeof(why), "%s: %s", e->eps[i],
			 msg ? msg : cc != CURLE_OK ? curl_easy_strerror(cc) : "a bad answer");
		rc = cc == CURLE_OK ? etcd_errno(msg) : sent && !safe ? -ETIMEDOUT : 1;
		json_decref(j);
		if (cc != CURLE_OK)	/* this one is down: the next one */
			__atomic_compare_exchange_n(&e->cur, &(int){ i }, i + 1, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		if (rc <= 0 || (clock_ms() >= deadline && tries >= e->neps - 1))
			break;
		if (++tries % e->neps == 0 || cc == CURLE_OK)
			sleep_ms(20);
	}
	free(text);
	curl_slist_free_all(commit_hdrs);
	buf_free(&resp);
	buf_free(&url);
	if (rc > 0)
		rc = -EHOSTUNREACH;
	return rc ? mlfs_fail(err, rc, "etcd %s: %s", path, why) : 0;
}

/* ---- reads ---- */

/* A range request for [B, E) (E empty: to the end; B empty: from the
 * start). */
static json_t *range_req(const void *b, size_t bl, const void *e, size_t el)
{
	json_t *req = json_object();
	json_object_set_new(req, "key", jbound(b, bl));
	json_object_set_new(req, "range_end", jbound(e, el));
	return req;
}

static int etcd_get(struct kv *kv, const void *key, size_t klen,
		    struct buf *val, kv_rev *mod, struct mlfs_err *err)
{
	json_t *req = json_object(), *resp;
	json_object_set_new(req, "key", jb64(key, klen));
	int rc = call((struct etcd *)kv, "/v3/kv/range", req, true, &resp, err);
	json_decref(req);
	if (rc)
		return rc;
	json_t *kvs = json_object_get(resp, "kvs"), *one = json_array_get(kvs, 0);
	if (mod)
		*mod = one ? (kv_rev)jint(one, "mod_revision") : 0;
	if (!one)
		rc = -ENOENT;
	else if (b64_dec(json_string_value(json_object_get(one, "value")), val))
		rc = mlfs_fail(err, -EIO, "etcd: a value not in base64");
	json_decref(resp);
	return rc;
}

static int etcd_range(struct kv *kv, const void *begin, size_t blen,
		      const void *end, size_t elen, size_t limit, bool reverse,
		      kv_rev at, kv_range_fn fn, void *ctx, kv_rev *read_at,
		      struct mlfs_err *err)
{
	json_t *req = range_req(begin, blen, end, elen), *resp;
	if (limit)
		json_object_set_new(req, "limit", jrev(limit));
	if (at)
		json_object_set_new(req, "revision", jrev(at));
	if (reverse) {
		json_object_set_new(req, "sort_order", json_string("DESCEND"));
		json_object_set_new(req, "sort_target", json_string("KEY"));
	}
	int rc = call((struct etcd *)kv, "/v3/kv/range", req, true, &resp, err);
	json_decref(req);
	if (rc)
		return rc;
	if (read_at)
		*read_at = at ? at : (kv_rev)jint(json_object_get(resp, "header"), "revision");
	struct buf k = { 0 }, v = { 0 };
	size_t i;
	json_t *one;
	json_array_foreach(json_object_get(resp, "kvs"), i, one) {
		if (b64_dec(json_string_value(json_object_get(one, "key")), &k) ||
		    b64_dec(json_string_value(json_object_get(one, "value")), &v)) {
			rc = mlfs_fail(err, -EIO, "etcd: a key or value not in base64");
			break;
		}
		if ((rc = fn(ctx, k.data ? k.data : "", k.len, v.data ? v.data : "",
			     v.len, (kv_rev)jint(one, "mod_revision"))))
			break;
	}
	buf_free(&k);
	buf_free(&v);
	json_decref(resp);
	return rc;
}

/* ---- commits ---- */

static json_t *txn_cmp(const struct kv_cmp *c)
{
	json_t *j = json_object();
	json_object_set_new(j, "key", jb64(c->key, c->klen));
	json_object_set_new(j, "result", json_string("EQUAL"));
	if (c->kind == KV_CMP_VALUE_EQ) {
		json_object_set_new(j, "target", json_string("VALUE"));
		json_object_set_new(j, "value", jb64(c->val, c->vlen));
	} else {
		json_object_set_new(j, "target", json_string("MOD"));
		json_object_set_new(j, "mod_revision",
				    jrev(c->kind == KV_CMP_ABSENT ? 0 : c->rev));
	}
	return j;
}

static json_t *txn_op(const struct kv_op *o)
{
	json_t *j = json_object(), *r;
	if (o->kind == KV_OP_PUT) {
		r = json_object();
		json_object_set_new(r, "key", jb64(o->key, o->klen));
		json_object_set_new(r, "value", jb64(o->val, o->vlen));
		if (o->lease)
			json_object_set_new(r, "lease", jrev((uint64_t)o->lease));
		json_object_set_new(j, "request_put", r);
	} else {
		r = json_object();
		json_object_set_new(r, "key", jb64(o->key, o->klen));
		if (o->kind == KV_OP_DEL_RANGE)
			json_object_set_new(r, "range_end", jbound(o->end, o->elen));
		json_object_set_new(j, "request_delete_range", r);
	}
	return j;
}

static int etcd_commit(struct kv *kv, const struct kv_cmp *cmps, size_t ncmp,
		       const struct kv_op *ops, size_t nops, kv_rev *committed,
		       struct mlfs_err *err)
{
	json_t *req = json_object(), *cj = json_array(), *oj = json_array(), *resp;
	for (size_t i = 0; i < ncmp; i++)
		json_array_append_new(cj, txn_cmp(&cmps[i]));
	for (size_t i = 0; i < nops; i++)
		json_array_append_new(oj, txn_op(&ops[i]));
	json_object_set_new(req, "compare", cj);
	json_object_set_new(req, "success", oj);
	int rc = call((struct etcd *)kv, "/v3/kv/txn", req, false, &resp, err);
	json_decref(req);
	if (rc)
		return rc;
	if (committed)
		*committed = (kv_rev)jint(json_object_get(resp, "header"), "revision");
	if (!json_is_true(json_object_get(resp, "succeeded")))
		rc = mlfs_fail(err, -ECANCELED, "kv: a compare failed");
	json_decref(resp);
	return rc;
}

/* ---- leases and compaction ---- */

static int lease_call(struct kv *kv, const char *path, kv_lease id, int ttl,
		      kv_lease *out, struct mlfs_err *err)
{
	json_t *req = json_object(), *resp;
	json_object_set_new(req, "ID", jrev((uint64_t)id));
	if (ttl)
		json_object_set_new(req, "TTL", json_integer(ttl));
	int rc = call((struct etcd *)kv, path, req, true, &resp, err);
	json_decref(req);
	if (rc)
		return rc;
	/* keepalive answers {"result": {...}}, TTL 0 for a lease gone. */
	json_t *res = json_object_get(resp, "result");
	if (!res)
		res = resp;
	if (out)
		*out = (kv_lease)jint(res, "ID");
	if (!ttl && !strcmp(path, "/v3/lease/keepalive") && jint(res, "TTL") <= 0)
		rc = mlfs_fail(err, -ENOENT, "kv: no lease %lld", (long long)id);
	json_decref(resp);
	return rc;
}

static int etcd_lease_grant(struct kv *kv, int ttl_s, kv_lease *out,
			    struct mlfs_err *err)
{
	return lease_call(kv, "/v3/lease/grant", 0, ttl_s, out, err);
}

static int etcd_lease_keepalive(struct kv *kv, kv_lease id, struct mlfs_err *err)
{
	return lease_call(kv, "/v3/lease/keepalive", id, 0, NULL, err);
}

static int etcd_lease_revoke(struct kv *kv, kv_lease id, struct mlfs_err *err)
{
	return lease_call(kv, "/v3/lease/revoke", id, 0, NULL, err);
}

static int etcd_compact(struct kv *kv, kv_rev rev, struct mlfs_err *err)
{
	json_t *req = json_object(), *resp;
	json_object_set_new(req, "revision", jrev(rev));
	json_object_set_new(req, "physical", json_true());
	int rc = call((struct etcd *)kv, "/v3/kv/compaction", req, true, &resp, err);
	json_decref(req);
	if (!rc)
		json_decref(resp);
	/* Compacting at a revision compacted already is no change. */
	return rc == -ESTALE ? 0 : rc;
}

/* ---- watches: a thread per watch holding one streaming POST ----
 *
 * States: running (connected, or reconnecting to the next endpoint from
 * SEEN + 1), ended (told -ESTALE, or cancelled).  Results arrive as lines
 * of JSON; the events of one revision come in one result, and are handed
 * to FN grouped by revision. */

struct ewatch {
	struct kv_watch head;
	struct etcd *e;
	char *prefix;
	size_t plen;
	kv_watch_fn fn;
	void *ctx;
	kv_rev seen;		/* delivered up to here; watch thread only */
	struct buf line;	/* the partial line received */
	bool ended;		/* watch thread only */
	int stop;		/* atomic: cancelled */
	int orphan;		/* atomic: cancelled by FN: the thread frees */
	CURLM *multi;
	pthread_t thread;
};

/* Hand the events of RESULT to FN, one call per revision. */
static void watch_deliver(struct ewatch *w, json_t *events)
{
	size_t n = json_array_size(events), from = 0;
	struct kv_event *ev = calloc(n ? n : 1, sizeof(*ev));
	struct buf *bufs = calloc(2 * (n ? n : 1), sizeof(*bufs));
	if (!ev || !bufs)
		mlfs_oom();
	for (size_t i = 0; i < n; i++) {
		json_t *one = json_array_get(events, i), *kvj = json_object_get(one, "kv");
		const char *type = json_string_value(json_object_get(one, "type"));
		b64_dec(json_string_value(json_object_get(kvj, "key")), &bufs[2 * i]);
		b64_dec(json_string_value(json_object_get(kvj, "value")), &bufs[2 * i + 1]);
		ev[i] = (struct kv_event){
			.kind = type && !strcmp(type, "DELETE") ? KV_EV_DEL : KV_EV_PUT,
			.key = bufs[2 * i].data ? bufs[2 * i].data : "",
			.klen = bufs[2 * i].len,
			.val = bufs[2 * i + 1].data ? bufs[2 * i + 1].data : "",
			.vlen = bufs[2 * i + 1].len };
		kv_rev rev = (kv_rev)jint(kvj, "mod_revision");
		kv_rev next = i + 1 < n ? (kv_rev)jint(json_object_get(
			json_array_get(events, i + 1), "kv"), "mod_revision") : 0;
		if (next == rev)
			continue;
		if (rev > w->seen && !__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
			w->fn(w->ctx, ev + from, i + 1 - from, rev, 0);
			w->seen = rev;
		}
		from = i + 1;
	}
	for (size_t i = 0; i < 2 * n; i++)
		buf_free(&bufs[i]);
	free(bufs);
	free(ev);
}

static void watch_line(struct ewatch *w, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	json_t *res = json_object_get(j, "result");
	if (res && jint(res, "compact_revision") > 0) {
		if (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED))
			w->fn(w->ctx, NULL, 0, 0, -ESTALE);
		w->ended = true;
	} else if (res) {
		watch_deliver(w, json_object_get(res, "events"));
	}
	json_decref(j);
}

static size_t on_watch(char *p, size_t size, size_t n, void *arg)
{
	struct ewatch *w = arg;
	char *nl;
	buf_append(&w->line, p, size * n);
	while (!w->ended && (nl = memchr(w->line.data, '\n', w->line.len))) {
		size_t l = (size_t)(nl - w->line.data);
		watch_line(w, w->line.data, l);
		memmove(w->line.data, nl + 1, w->line.len - l - 1);
		w->line.len -= l + 1;
	}
	return w->ended ? 0 : size * n;
}

/* One connection: stream until it breaks, the watch ends or is stopped. */
static void watch_connect(struct ewatch *w, const char *ep)
{
	struct curl_slist *hdrs;
	CURL *c = curl_new(&hdrs);
	json_t *req = json_object(), *cr = json_object();
	struct buf end = { 0 }, url = { 0 };
	kv_prefix_end(&end, w->prefix, w->plen);
	json_object_set_new(cr, "key", jbound(w->prefix, w->plen));
	json_object_set_new(cr, "range_end", jbound(end.data, end.len));
	json_object_set_new(cr, "start_revision", jrev(w->seen + 1));
	json_object_set_new(req, "create_request", cr);
	char *text = json_dumps(req, JSON_COMPACT);
	buf_printf(&url, "%s/v3/watch", ep);
	curl_easy_setopt(c, CURLOPT_URL, url.data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_watch);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	buf_reset(&w->line);
	curl_multi_add_handle(w->multi, c);
	int running = 1;
	while (running && !__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(w->multi, c);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	json_decref(req);
	free(text);
	buf_free(&end);
	buf_free(&url);
}

static void watch_free(struct ewatch *w)
{
	curl_multi_cleanup(w->multi);
	buf_free(&w->line);
	free(w->prefix);
	free(w);
}

static void *watch_thread(void *arg)
{
	struct ewatch *w = arg;
	int i = __atomic_load_n(&w->e->cur, __ATOMIC_RELAXED);
	while (!w->ended && !__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		int64_t t0 = clock_ms();
		watch_connect(w, w->e->eps[i % w->e->neps]);
		i++;
		if (clock_ms() - t0 < 100)	/* refused at once: pace */
			sleep_ms(50);
	}
	if (__atomic_load_n(&w->orphan, __ATOMIC_ACQUIRE))
		watch_free(w);
	return NULL;
}

static int etcd_watch(struct kv *kv, const void *prefix, size_t plen,
		      kv_rev from, kv_watch_fn fn, void *ctx,
		      struct kv_watch **out, struct mlfs_err *err)
{
	/* Whether FROM + 1 is readable still, and what "now" is. */
	json_t *req = range_req("", 0, "", 0), *resp;
	json_object_set_new(req, "count_only", json_true());
	json_object_set_new(req, "limit", json_integer(1));
	if (from)
		json_object_set_new(req, "revision", jrev(from + 1));
	int rc = call((struct etcd *)kv, "/v3/kv/range", req, true, &resp, err);
	json_decref(req);
	if (rc == -EINVAL)	/* FROM + 1 is in the future: fine */
		rc = 0;
	else if (rc)
		return rc;
	else if (!from)
		from = (kv_rev)jint(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	struct ewatch *w = calloc(1, sizeof(*w));
	if (!w)
		mlfs_oom();
	*w = (struct ewatch){ .head.kv = kv, .e = (struct etcd *)kv,
		.prefix = malloc(plen + 1), .plen = plen, .fn = fn, .ctx = ctx,
		.seen = from, .multi = curl_multi_init() };
	if (!w->prefix || !w->multi)
		mlfs_oom();
	memcpy(w->prefix, prefix, plen);
	if ((rc = -pthread_create(&w->thread, NULL, watch_thread, w))) {
		curl_multi_cleanup(w->multi);
		free(w->prefix);
		free(w);
		return mlfs_fail(err, rc, "kv: no thread for a watch");
	}
	*out = &w->head;
	return 0;
}

static void etcd_watch_cancel(struct kv_watch *kw)
{
	struct ewatch *w = (struct ewatch *)kw;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
	curl_multi_wakeup(w->multi);
	if (pthread_equal(pthread_self(), w->thread)) {
		/* FN cancels its own watch: the thread frees it on its way out. */
		pthread_detach(w->thread);
		__atomic_store_n(&w->orphan, 1, __ATOMIC_RELEASE);
		return;
	}
	pthread_join(w->thread, NULL);
	watch_free(w);
}

/* ---- open and close ---- */

static void etcd_close(struct kv *kv)
{
	struct etcd *e = (struct etcd *)kv;
	pthread_key_delete(e->key);
	while (e->handles) {
		struct handle *h = e->handles;
		e->handles = h->next;
		handle_cleanup(h);
	}
	for (int i = 0; i < e->neps; i++)
		free(e->eps[i]);
	free(e->eps);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static const struct kv_ops etcd_ops = {
	.name = "etcd",
	.close = etcd_close,
	.get = etcd_get,
	.range = etcd_range,
	.commit = etcd_commit,
	.watch = etcd_watch,
	.watch_cancel = etcd_watch_cancel,
	.lease_grant = etcd_lease_grant,
	.lease_keepalive = etcd_lease_keepalive,
	.lease_revoke = etcd_lease_revoke,
	.compact = etcd_compact,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* "HOST:PORT" or "http://HOST:PORT/", comma separated, into E->eps. */
static int parse_endpoints(struct etcd *e, const char *list,
			   struct mlfs_err *err)
{
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		struct buf ep = { 0 };
		if (!memmem(p, n, "://", 3))
			buf_puts(&ep, "http://");
		buf_append(&ep, p, n);
		while (ep.len && ep.data[ep.len - 1] == '/')
			ep.data[--ep.len] = '\0';
		if (!n || !strchr(ep.data + 7, ':')) {
			buf_free(&ep);
			return mlfs_fail(err, -EINVAL, "kv: '%s': an endpoint is not HOST:PORT",
					 list);
		}
		e->eps = realloc(e->eps, (size_t)(e->neps + 1) * sizeof(*e->eps));
		if (!e->eps)
			mlfs_oom();
		e->eps[e->neps++] = buf_steal(&ep, NULL);
		p += n + (p[n] == ',');
	}
	return e->neps ? 0 : mlfs_fail(err, -EINVAL, "kv: no etcd endpoint given");
}

int kv_etcd_open(const char *endpoints, struct kv **out, struct mlfs_err *err)
{
	pthread_once(&curl_once, curl_start);
	struct etcd *e = calloc(1, sizeof(*e));
	if (!e)
		mlfs_oom();
	e->kv.ops = &etcd_ops;
	pthread_mutex_init(&e->lock, NULL);
	if (pthread_key_create(&e->key, handle_free)) {
		pthread_mutex_destroy(&e->lock);
		free(e);
		return mlfs_fail(err, -EAGAIN, "kv: no thread key left");
	}
	int rc = parse_endpoints(e, endpoints, err);
	if (!rc) {	/* one answer, so that a wrong address fails here */
		json_t *req = range_req("", 0, "", 0), *resp;
		json_object_set_new(req, "count_only", json_true());
		rc = call(e, "/v3/kv/range", req, true, &resp, err);
		json_decref(req);
		if (!rc)
			json_decref(resp);
	}
	if (rc) {
		etcd_close(&e->kv);
		return rc;
	}
	e->retry_ms = RETRY_MS;
	*out = &e->kv;
	return 0;
}
