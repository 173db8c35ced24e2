/* objstore_s3.c - objects in an S3 bucket (Ceph radosgw, AWS, MinIO):
 * the objstore.h vtable over libcurl, the only file that speaks HTTP.
 *
 * Requests are path-style (ENDPOINT/BUCKET/NAME), signed by libcurl's
 * SigV4 (CURLOPT_AWS_SIGV4) with an unsigned payload (the header
 * x-amz-content-sha256: UNSIGNED-PAYLOAD, without which radosgw answers
 * SignatureDoesNotMatch).  put_once is a PUT with If-None-Match: * (412
 * when the name exists).  Idle curl handles are kept in a small pool,
 * so connections stay open between calls.  Connection errors and 5xx
 * answers are retried with back-off; other answers map to an errno with
 * S3's error code in the message. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "objstore_int.h"
#include "objstore_xml.h"

#define POOL 8			/* idle handles kept */
#define TRIES 4			/* attempts per request */
#define BACKOFF_MS 50		/* before the 2nd attempt; doubles */

struct s3 {
	struct objstore base;
	char *url;		/* "ENDPOINT/BUCKET/", the requests' base */
	char *userpwd;		/* "KEY:SECRET" for libcurl's signer */
	char *sigv4;		/* "aws:amz:REGION:s3" */
	char *token;		/* "x-amz-security-token: ..." or NULL */
	pthread_mutex_t lock;	/* guards idle, nidle */
	CURL *idle[POOL];
	int nidle;
};

/* One request and its answer. */
struct req {
	const char *method;	/* GET, PUT, HEAD, DELETE */
	const char *name;	/* object, or NULL for the bucket */
	const char *query;	/* without '?', or NULL */
	const char *body;	/* PUT */
	size_t blen, sent;
	bool create_only;	/* If-None-Match: * */
	char range[64];		/* Range: header value, or "" */
	struct buf *out;	/* the answer's body */
	long status;
	curl_off_t length;	/* Content-Length (HEAD) */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static struct s3 *s3_of(struct objstore *os)
{
	return (struct s3 *)os;
}

static CURL *handle_get(struct s3 *s)
{
	CURL *h = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->nidle)
		h = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->lock);
	if (!h && !(h = curl_easy_init()))
		mlfs_oom();
	return h;
}

static void handle_put(struct s3 *s, CURL *h)
{
	pthread_mutex_lock(&s->lock);
	if (s->nidle < POOL) {
		s->idle[s->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (h)
		curl_easy_cleanup(h);
}

static size_t on_write(char *p, size_t size, size_t n, void *ctx)
{
	buf_append(ctx, p, size * n);
	return size * n;
}

static size_t on_read(char *p, size_t size, size_t n, void *ctx)
{
	struct req *r = ctx;
	size_t k = r->blen - r->sent < size * n ? r->blen - r->sent : size * n;
	memcpy(p, r->body + r->sent, k);
	r->sent += k;
	return k;
}

static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct req *r = ctx;
	if (origin != SEEK_SET || off < 0 || (size_t)off > r->blen)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Set up H for R: a fresh state, the connection cache kept. */
static struct curl_slist *setup(struct s3 *s, CURL *h, struct req *r,
				struct buf *url)
{
	struct curl_slist *hd = NULL;
	char line[96];

	curl_easy_reset(h);
	buf_reset(url);
	buf_puts(url, s->url);
	if (r->name)
		buf_puts(url, r->name);
	if (r->query) {
		buf_putc(url, '?');
		buf_puts(url, r->query);
	}
	curl_easy_setopt(h, CURLOPT_URL, url->data);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r->out);
	hd = curl_slist_append(hd, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (s->token)
		hd = curl_slist_append(hd, s->token);
	if (r->create_only)
		hd = curl_slist_append(hd, "If-None-Match: *");
	if (r->range[0]) {
		snprintf(line, sizeof(line), "Range: %s", r->range);
		hd = curl_slist_append(hd, line);
	}
	if (strcmp(r->method, "PUT") == 0) {
		r->sent = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->blen);
		/* libcurl sends "Expect: 100-continue" and waits for the
		 * 100 before the body: keep it.  radosgw answers a refusal
		 * (412, 403, 404) at once and closes, so a body sent without
		 * waiting fails mid-send (tried: -EIO instead of -EEXIST). */
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	if (!hd)
		mlfs_oom();
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	return hd;
}

static bool transient(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_SEND_ERROR ||
	       c == CURLE_RECV_ERROR || c == CURLE_GOT_NOTHING ||
	       c == CURLE_OPERATION_TIMEDOUT || c == CURLE_PARTIAL_FILE ||
	       c == CURLE_COULDNT_RESOLVE_HOST;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

/* Send R, retrying connection errors and 5xx answers.  0 once any
 * answer came (r->status, the body in r->out), or -EIO when none did.
 * *TRIED gets the number of attempts. */
static int send_req(struct s3 *s, struct req *r, int *tried,
		    struct mlfs_err *err)
{
	CURL *h = handle_get(s);
	struct buf url = { 0 };
	char cerr[CURL_ERROR_SIZE];
	CURLcode c = CURLE_OK;
	long backoff = BACKOFF_MS;

	for (*tried = 1;; ++*tried) {
		buf_reset(r->out);
		struct curl_slist *hd = setup(s, h, r, &url);
		cerr[0] = '\0';
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
		c = curl_easy_perform(h);
		curl_slist_free_all(hd);
		r->status = 0;
		if (c == CURLE_OK) {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
			curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
					  &r->length);
		}
		bool again = c == CURLE_OK ? r->status >= 500 : transient(c);
		if (!again || *tried == TRIES)
			break;
		sleep_ms(backoff);
		backoff *= 4;
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	handle_put(s, h);
	buf_free(&url);
	if (c == CURLE_OK)
		return 0;
	return mlfs_fail(err, -EIO, "S3 %s %s%s: %s (%d attempts)", r->method,
			 s->url, r->name ? r->name : "",
			 cerr[0] ? cerr : curl_easy_strerror(c), *tried);
}

/* The errno of a failed answer, with S3's error code in ERR. */
static int status_errno(struct s3 *s, const struct req *r,
			struct mlfs_err *err)
{
	char code[64], msg[160];
	objstore_xml_error(r->out->data ? r->out->data : "", r->out->len,
			   code, sizeof(code), msg, sizeof(msg));
	if (!code[0] && strcmp(r->method, "HEAD") == 0)
		snprintf(code, sizeof(code), "(HEAD answers carry no code)");
	int e = r->status == 403 ? -EACCES :
		r->status == 404 ? -ENOENT :
		r->status == 412 ? -EEXIST :
		r->status == 400 ? -EINVAL :
		r->status == 409 ? -EBUSY :
		r->status == 413 ? -EFBIG :
		r->status == 507 ? -ENOSPC : -EIO;
	return mlfs_fail(err, e, "S3 %s %s%s: %ld %s%s%s", r->method, s->url,
			 r->name ? r->name : "", r->status, code,
			 msg[0] ? ": " : "", msg);
}

/* send_req, then 2xx -> 0 and anything else -> its errno. */
static int call(struct s3 *s, struct req *r, int *tried, struct mlfs_err *err)
{
	int rc = send_req(s, r, tried, err);
	if (rc == 0 && (r->status < 200 || r->status > 299))
		rc = status_errno(s, r, err);
	return rc;
}

static int s3_get(struct objstore *os, const char *name, uint64_t off,
		  uint64_t len, struct buf *out, struct mlfs_err *err);

static int s3_put_once(struct objstore *os, const char *name,
		       const void *data, size_t len, struct mlfs_err *err)
{
	struct s3 *s = s3_of(os);
	struct buf body = { 0 };
	struct req r = { .method = "PUT", .name = name, .body = data,
			 .blen = len, .create_only = true, .out = &body };
	int tried;
	int rc = call(s, &r, &tried, err);
	if (rc == -EEXIST && tried > 1) {
		/* An earlier attempt may have made it before its answer got
		 * lost: ours when the bytes are ours. */
		int g = s3_get(os, name, 0, 0, &body, NULL);
		if (g == 0 && body.len == len && memcmp(body.data, data, len) == 0)
			rc = 0;
	}
	buf_free(&body);
	return rc;
}

static int s3_get(struct objstore *os, const char *name, uint64_t off,
		  uint64_t len, struct buf *out, struct mlfs_err *err)
{
	struct req r = { .method = "GET", .name = name, .out = out };
	int tried;
	if (len)
		snprintf(r.range, sizeof(r.range), "bytes=%llu-%llu",
			 (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
	else if (off)
		snprintf(r.range, sizeof(r.range), "bytes=%llu-",
			 (unsigned long long)off);
	int rc = send_req(s3_of(os), &r, &tried, err);
	if (rc)
		return rc;
	if (r.status == 416) {	/* the range starts at or past the end */
		buf_reset(out);
		return 0;
	}
	if (r.status != 200 && r.status != 206) {
		rc = status_errno(s3_of(os), &r, err);
		buf_reset(out);
		return rc;
	}
	if (r.status == 200 && r.range[0]) {	/* the range was ignored */
		uint64_t end = len && off + len < out->len ? off + len : out->len;
		uint64_t from = off < out->len ? off : out->len;
		memmove(out->data, out->data + from, end - from);
		out->len = end - from;
		out->data[out->len] = '\0';
	}
	return 0;
}

static int s3_head(struct objstore *os, const char *name, uint64_t *size,
		   struct mlfs_err *err)
{
	struct buf body = { 0 };
	struct req r = { .method = "HEAD", .name = name, .out = &body };
	int tried;
	int rc = call(s3_of(os), &r, &tried, err);
	if (rc == 0 && r.length < 0)
		rc = mlfs_fail(err, -EPROTO, "S3 HEAD %s: no Content-Length",
			       name);
	if (rc == 0)
		*size = (uint64_t)r.length;
	buf_free(&body);
	return rc;
}

static int s3_del(struct objstore *os, const char *name, struct mlfs_err *err)
{
	uint64_t size;
	int rc = s3_head(os, name, &size, err);	/* DELETE never says -ENOENT */
	if (rc)
		return rc;
	struct buf body = { 0 };
	struct req r = { .method = "DELETE", .name = name, .out = &body };
	int tried;
	rc = call(s3_of(os), &r, &tried, err);
	buf_free(&body);
	return rc;
}

/* Append V to B percent-encoded (all but the unreserved bytes). */
static void put_encoded(struct buf *b, const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c))
			buf_putc(b, (char)c);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* The listing of one page: names outside the name rule are skipped
 * (a bucket shared with other tools), the last key is kept. */
struct page {
	objstore_list_fn fn;
	void *ctx;
	size_t given, seen;	/* names given to FN, keys read */
	struct buf last;
};

static int page_key(void *ctx, const char *key, uint64_t size)
{
	struct page *p = ctx;
	buf_reset(&p->last);
	buf_puts(&p->last, key);
	p->seen++;
	if (objstore_check_name(key, NULL))
		return 0;
	p->given++;
	return p->fn(p->ctx, key, size);
}

static int s3_list(struct objstore *os, const char *prefix, const char *after,
		   size_t limit, objstore_list_fn fn, void *ctx, bool *more,
		   struct mlfs_err *err)
{
	struct buf body = { 0 }, q = { 0 };
	struct page p = { .fn = fn, .ctx = ctx };
	int rc, tried;

	buf_puts(&p.last, after);
	do {	/* until a page gives a name or there are no more */
		size_t seen = p.seen;
		buf_reset(&q);	/* parameters in SigV4's canonical order */
		buf_printf(&q, "list-type=2&max-keys=%zu&prefix=", limit);
		put_encoded(&q, prefix);
		if (p.last.len) {
			buf_puts(&q, "&start-after=");
			put_encoded(&q, p.last.data);
		}
		struct req r = { .method = "GET", .query = q.data,
				 .out = &body };
		rc = call(s3_of(os), &r, &tried, err);
		if (!rc)
			rc = objstore_xml_list(body.data ? body.data : "",
					       body.len, page_key, &p, more,
					       err);
		if (rc == 0 && *more && p.seen == seen)
			rc = mlfs_fail(err, -EPROTO, "S3 listing: an empty "
				       "page says there is more");
	} while (rc == 0 && p.given == 0 && *more);
	buf_free(&body);
	buf_free(&q);
	buf_free(&p.last);
	return rc;
}

static void s3_close(struct objstore *os)
{
	struct s3 *s = s3_of(os);
	for (int i = 0; i < s->nidle; i++)
		curl_easy_cleanup(s->idle[i]);
	pthread_mutex_destroy(&s->lock);
	free(s->url);
	if (s->userpwd)	/* the secret: not left in freed memory */
		explicit_bzero(s->userpwd, strlen(s->userpwd));
	free(s->userpwd);
	free(s->sigv4);
	free(s->token);
	free(s);
}

static const struct objstore_ops s3_ops = {
	.kind = "s3",
	.put_once = s3_put_once,
	.get = s3_get,
	.head = s3_head,
	.del = s3_del,
	.list = s3_list,
	.close = s3_close,
};

/* ---- opening: the URL and the credentials ---- */

struct creds {
	char key[256], secret[256], token[2048], region[64];
};

static void cred_set(struct creds *c, const char *k, const char *v)
{
	if (strcmp(k, "AWS_ACCESS_KEY_ID") == 0)
		snprintf(c->key, sizeof(c->key), "%s", v);
	else if (strcmp(k, "AWS_SECRET_ACCESS_KEY") == 0)
		snprintf(c->secret, sizeof(c->secret), "%s", v);
	else if (strcmp(k, "AWS_SESSION_TOKEN") == 0)
		snprintf(c->token, sizeof(c->token), "%s", v);
	else if (strcmp(k, "AWS_REGION") == 0 ||
		 (strcmp(k, "AWS_DEFAULT_REGION") == 0 && !c->region[0]))
		snprintf(c->region, sizeof(c->region), "%s", v);
}

static void creds_env(struct creds *c)
{
	static const char *const names[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);
		if (v && *v)
			cred_set(c, names[i], v);
	}
}

/* KEY=VALUE lines ("export " and quotes allowed, '#' comments) of a file
 * that only its owner, this user, can read. */
static int creds_file(const char *path, struct creds *c, struct mlfs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return mlfs_fail(err, -errno, "S3 credentials %s: %s", path,
				 strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		rc = mlfs_fail(err, -EINVAL, "S3 credentials %s: not a "
			       "regular file", path);
	else if (st.st_uid != geteuid() || (st.st_mode & 077))
		rc = mlfs_fail(err, -EACCES, "S3 credentials %s: must belong "
			       "to uid %u and be unreadable by group and "
			       "others (mode %04o, owner %u): chmod 600",
			       path, (unsigned)geteuid(),
			       (unsigned)(st.st_mode & 07777),
			       (unsigned)st.st_uid);
	char text[8192];
	ssize_t n = rc ? 0 : read(fd, text, sizeof(text) - 1);
	close(fd);
	if (rc)
		return rc;
	if (n < 0)
		return mlfs_fail(err, -EIO, "S3 credentials %s: %s", path,
				 strerror(errno));
	text[n] = '\0';
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		if (strncmp(line, "export ", 7) == 0)
			line += 7;
		char *eq = strchr(line, '=');
		if (*line == '#' || !eq)
			continue;
		*eq = '\0';
		char *v = eq + 1;
		size_t vl = strcspn(v, "\r");
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
			v++;
			vl -= 2;
		}
		v[vl] = '\0';
		cred_set(c, line, v);
	}
	explicit_bzero(text, sizeof(text));
	return 0;
}

/* s3://BUCKET@ENDPOINT -> "SCHEME://HOST[:PORT]/BUCKET/". */
static int parse_url(const char *url, struct buf *base, struct mlfs_err *err)
{
	const char *at = url ? strchr(url, '@') : NULL;
	if (!url || strncmp(url, "s3://", 5) != 0 || !at)
		return mlfs_fail(err, -EINVAL, "'%.200s' is not "
				 "s3://BUCKET@ENDPOINT", url ? url : "");
	const char *bucket = url + 5, *ep = at + 1;
	size_t bl = (size_t)(at - bucket);
	if (bl < 1 || bl > 63 || strspn(bucket, "abcdefghijklmnopqrstuvwxyz"
					"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") < bl)
		return mlfs_fail(err, -EINVAL, "S3 bucket '%.*s': 1-63 bytes "
				 "of [A-Za-z0-9._-]", (int)(bl > 63 ? 63 : bl),
				 bucket);
	const char *scheme = "https://";
	if (strncmp(ep, "http://", 7) == 0 || strncmp(ep, "https://", 8) == 0) {
		scheme = "";
	}
	const char *host = strstr(ep, "://");
	host = host ? host + 3 : ep;
	size_t hl = strlen(host);
	while (hl && host[hl - 1] == '/')
		hl--;
	if (hl == 0 || strspn(host, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") < hl)
		return mlfs_fail(err, -EINVAL, "S3 endpoint '%.200s': HOST[:PORT]"
				 " or http(s)://HOST[:PORT], no path", ep);
	buf_reset(base);
	buf_printf(base, "%s%.*s/%.*s/", scheme, (int)(host + hl - ep), ep,
		   (int)bl, bucket);
	return 0;
}

int objstore_open_s3(const char *url, const char *cred_file,
		     struct objstore **out, struct mlfs_err *err)
{
	struct buf base = { 0 };
	struct creds *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	*out = NULL;
	int rc = parse_url(url, &base, err);
	if (!rc && cred_file)
		rc = creds_file(cred_file, c, err);
	else if (!rc)
		creds_env(c);
	if (!rc && (!c->key[0] || !c->secret[0]))
		rc = mlfs_fail(err, -ENOKEY, "S3: no AWS_ACCESS_KEY_ID and "
			       "AWS_SECRET_ACCESS_KEY in %s", cred_file ?
			       cred_file : "the environment");
	if (!rc && strchr(c->key, ':'))
		rc = mlfs_fail(err, -EINVAL, "S3: AWS_ACCESS_KEY_ID holds ':'");
	if (!rc && strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") <
	    strlen(c->region))
		rc = mlfs_fail(err, -EINVAL, "S3: region '%s' is not "
			       "[a-z0-9-]", c->region);
	if (rc)
		goto out;
	pthread_once(&curl_once, curl_init);
	struct s3 *s = calloc(1, sizeof(*s));
	struct buf t = { 0 };
	if (!s)
		mlfs_oom();
	s->base.ops = &s3_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->url = buf_steal(&base, NULL);
	buf_printf(&t, "%s:%s", c->key, c->secret);
	s->userpwd = buf_steal(&t, NULL);
	buf_printf(&t, "aws:amz:%s:s3", c->region[0] ? c->region : "us-east-1");
	s->sigv4 = buf_steal(&t, NULL);
	if (c->token[0]) {
		buf_printf(&t, "x-amz-security-token: %s", c->token);
		s->token = buf_steal(&t, NULL);
	}
	*out = &s->base;
out:
	explicit_bzero(c, sizeof(*c));
	free(c);
	buf_free(&base);
	return rc;
}
