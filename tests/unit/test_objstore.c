/* test_objstore.c - the object-store conformance suite (objstore.h): the
 * same tests against the embedded store and, when MLFS_S3 names a bucket
 * (s3://BUCKET@ENDPOINT, credentials in the environment: what
 * tools/scaleout/ceph-up prints), against S3.  Every S3 test works under
 * a prefix of its own and removes what it made. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "backend_cases.h"

#include "objstore.h"
#include "objstore_xml.h"

struct fix {
	struct store_fixture *sf;	/* embedded only */
	struct objstore *os;
	char prefix[64];		/* every name of this test starts so */
	char name[8][128];		/* scratch names, see nm() */
	int next;
};

static const char *s3_url(void)
{
	const char *u = getenv("MLFS_S3");
	return u && *u ? u : NULL;
}

static bool on_s3(void)
{
	return s3_url() != NULL;
}

static int setup(void **state)
{
	static unsigned seq;
	struct fix *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	if (on_s3()) {
		struct mlfs_err err = { 0 };
		int rc = objstore_open_s3(s3_url(), NULL, &f->os, &err);
		if (rc)
			fprintf(stderr, "objstore_open_s3: %s\n", err.msg);
		assert_int_equal(rc, 0);
		snprintf(f->prefix, sizeof(f->prefix), "t%ld-%d-%u/",
			 (long)time(NULL), (int)getpid(), seq++);
	} else {
		f->sf = store_fixture_open();
		f->os = objstore_open_store(f->sf->s);
	}
	*state = f;
	return 0;
}

/* NAME under the test's prefix (one of 8 rotating buffers). */
static const char *nm(struct fix *f, const char *name)
{
	char *b = f->name[f->next++ % 8];
	snprintf(b, sizeof(f->name[0]), "%s%s", f->prefix, name);
	return b;
}

static int remove_one(void *ctx, const char *name, uint64_t size)
{
	return objstore_delete(ctx, name, NULL);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	if (f->sf) {
		objstore_close(f->os);
		store_fixture_close(f->sf);
	} else {
		assert_int_equal(objstore_list_all(f->os, f->prefix, NULL,
						   remove_one, f->os, NULL), 0);
		objstore_close(f->os);
	}
	free(f);
	return 0;
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 7 + seed + (i >> 11)) & 0xff);
}

static void test_put_get_head(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 };
	uint64_t size = 0;
	assert_int_equal(objstore_put_once(f->os, nm(f, "a/hello"), "hello", 5,
					   NULL), 0);
	assert_int_equal(objstore_get(f->os, nm(f, "a/hello"), 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "hello", 5);
	assert_int_equal(objstore_head(f->os, nm(f, "a/hello"), &size, NULL), 0);
	assert_int_equal(size, 5);
	/* an empty object is an object */
	assert_int_equal(objstore_put_once(f->os, nm(f, "a/empty"), NULL, 0,
					   NULL), 0);
	assert_int_equal(objstore_head(f->os, nm(f, "a/empty"), &size, NULL), 0);
	assert_int_equal(size, 0);
	assert_int_equal(objstore_get(f->os, nm(f, "a/empty"), 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(objstore_get(f->os, nm(f, "a/empty"), 0, 10, &b, NULL), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_put_once_refuses_existing(void **state)
{
	struct fix *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(objstore_put_once(f->os, nm(f, "x"), "first", 5, NULL), 0);
	assert_int_equal(objstore_put_once(f->os, nm(f, "x"), "second!", 7, &err),
			 -EEXIST);
	assert_non_null(strstr(err.msg, "x"));
	assert_int_equal(objstore_get(f->os, nm(f, "x"), 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "first", 5);
	buf_free(&b);
}

struct race {
	struct objstore *os;
	const char *name;
	int rc;
	char byte;
};

static void *race_put(void *arg)
{
	struct race *r = arg;
	char data[4096];
	memset(data, r->byte, sizeof(data));
	r->rc = objstore_put_once(r->os, r->name, data, sizeof(data), NULL);
	return NULL;
}

static void test_put_once_race_has_one_winner(void **state)
{
	struct fix *f = *state;
	struct race r[4];
	pthread_t t[4];
	const char *name = nm(f, "race");
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){ f->os, name, 1, (char)('a' + i) };
		assert_int_equal(pthread_create(&t[i], NULL, race_put, &r[i]), 0);
	}
	int won = -1;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rc == 0) {
			assert_int_equal(won, -1);
			won = i;
		} else {
			assert_int_equal(r[i].rc, -EEXIST);
		}
	}
	assert_int_not_equal(won, -1);
	struct buf b = { 0 };
	assert_int_equal(objstore_get(f->os, name, 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 4096);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(b.data[i], 'a' + won);
	buf_free(&b);
}

static void test_ranged_get(void **state)
{
	struct fix *f = *state;
	char data[1000];
	struct buf b = { 0 };
	fill(data, sizeof(data), 3);
	assert_int_equal(objstore_put_once(f->os, nm(f, "r"), data, 1000, NULL), 0);
	static const struct { uint64_t off, len, want; } cases[] = {
		{ 0, 0, 1000 }, { 10, 20, 20 }, { 990, 100, 10 },
		{ 995, 0, 5 }, { 0, 1, 1 }, { 999, 1, 1 },
		{ 1000, 5, 0 }, { 5000, 0, 0 }, { 1, UINT64_MAX, 999 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(objstore_get(f->os, nm(f, "r"), cases[i].off,
					      cases[i].len, &b, NULL), 0);
		assert_int_equal(b.len, cases[i].want);
		if (cases[i].want)
			assert_memory_equal(b.data, data + cases[i].off,
					    cases[i].want);
	}
	buf_free(&b);
}

static void test_missing_is_enoent(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 };
	uint64_t size;
	struct mlfs_err err = { 0 };
	assert_int_equal(objstore_get(f->os, nm(f, "none"), 0, 0, &b, &err),
			 -ENOENT);
	assert_int_equal(b.len, 0);
	assert_int_equal(objstore_get(f->os, nm(f, "none"), 10, 5, &b, NULL),
			 -ENOENT);
	assert_int_equal(objstore_head(f->os, nm(f, "none"), &size, NULL), -ENOENT);
	assert_int_equal(objstore_delete(f->os, nm(f, "none"), NULL), -ENOENT);
	buf_free(&b);
}

static void test_delete_frees_the_name(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 };
	uint64_t size;
	assert_int_equal(objstore_put_once(f->os, nm(f, "d"), "one", 3, NULL), 0);
	assert_int_equal(objstore_put_once(f->os, nm(f, "d2"), "keep", 4, NULL), 0);
	assert_int_equal(objstore_delete(f->os, nm(f, "d"), NULL), 0);
	assert_int_equal(objstore_head(f->os, nm(f, "d"), &size, NULL), -ENOENT);
	assert_int_equal(objstore_get(f->os, nm(f, "d"), 0, 0, &b, NULL), -ENOENT);
	assert_int_equal(objstore_delete(f->os, nm(f, "d"), NULL), -ENOENT);
	/* its neighbour (a name it prefixes) stays */
	assert_int_equal(objstore_get(f->os, nm(f, "d2"), 0, 0, &b, NULL), 0);
	assert_memory_equal(b.data, "keep", 4);
	assert_int_equal(objstore_put_once(f->os, nm(f, "d"), "two!", 4, NULL), 0);
	assert_int_equal(objstore_get(f->os, nm(f, "d"), 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "two!", 4);
	buf_free(&b);
}

struct seen {
	char names[64][128];
	uint64_t sizes[64];
	int n;
	int stop_at;		/* return 7 at this many (0: never) */
};

static int see(void *ctx, const char *name, uint64_t size)
{
	struct seen *s = ctx;
	assert_true(s->n < 64);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->sizes[s->n++] = size;
	return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

static void test_list_pages_in_order(void **state)
{
	struct fix *f = *state;
	char n[32], data[32];
	/* put out of order, so the order listed is the store's own */
	for (int i = 24; i >= 0; i--) {
		snprintf(n, sizeof(n), "p/%02d", (i * 7) % 25);
		assert_int_equal(objstore_put_once(f->os, nm(f, n), data,
						   (size_t)(i * 7) % 25, NULL), 0);
	}
	assert_int_equal(objstore_put_once(f->os, nm(f, "p-x"), "x", 1, NULL), 0);
	assert_int_equal(objstore_put_once(f->os, nm(f, "q/x"), "x", 1, NULL), 0);
	struct seen *s = calloc(1, sizeof(*s));
	bool more = false;
	char after[128] = "";
	for (int page = 0; page < 3; page++) {
		int before = s->n;
		assert_int_equal(objstore_list(f->os, nm(f, "p/"), after, 10,
					       see, s, &more, NULL), 0);
		assert_int_equal(s->n - before, page < 2 ? 10 : 5);
		if (page < 2)
			assert_true(more);
		snprintf(after, sizeof(after), "%s", s->names[s->n - 1]);
	}
	if (more) {	/* S3 may only learn there is nothing more now */
		int before = s->n;
		assert_int_equal(objstore_list(f->os, nm(f, "p/"), after, 10,
					       see, s, &more, NULL), 0);
		assert_int_equal(s->n, before);
		assert_false(more);
	}
	assert_int_equal(s->n, 25);
	for (int i = 0; i < 25; i++) {
		snprintf(n, sizeof(n), "p/%02d", i);
		assert_string_equal(s->names[i], nm(f, n));
		assert_int_equal(s->sizes[i], i);
	}
	/* all pages at once, after a marker */
	memset(s, 0, sizeof(*s));
	assert_int_equal(objstore_list_all(f->os, nm(f, "p/"), nm(f, "p/12"),
					   see, s, NULL), 0);
	assert_int_equal(s->n, 12);
	assert_string_equal(s->names[0], nm(f, "p/13"));
	/* a marker before the prefix lists from its start */
	memset(s, 0, sizeof(*s));
	assert_int_equal(objstore_list(f->os, nm(f, "p/"), nm(f, "p"), 3, see, s,
				       &more, NULL), 0);
	assert_int_equal(s->n, 3);
	assert_string_equal(s->names[0], nm(f, "p/00"));
	assert_true(more);
	/* a marker past the prefix lists nothing */
	memset(s, 0, sizeof(*s));
	assert_int_equal(objstore_list(f->os, nm(f, "p/"), nm(f, "p0"), 3, see,
				       s, &more, NULL), 0);
	assert_int_equal(s->n, 0);
	assert_false(more);
	/* the whole prefix: p-x sorts before p/ */
	memset(s, 0, sizeof(*s));
	assert_int_equal(objstore_list_all(f->os, f->prefix, NULL, see, s, NULL), 0);
	assert_int_equal(s->n, 27);
	assert_string_equal(s->names[0], nm(f, "p-x"));
	assert_string_equal(s->names[26], nm(f, "q/x"));
	/* a non-zero from FN stops and comes back */
	memset(s, 0, sizeof(*s));
	s->stop_at = 3;
	assert_int_equal(objstore_list(f->os, nm(f, "p/"), NULL, 0, see, s,
				       NULL, NULL), 7);
	assert_int_equal(s->n, 3);
	/* nothing under a prefix */
	memset(s, 0, sizeof(*s));
	assert_int_equal(objstore_list(f->os, nm(f, "zz/"), NULL, 0, see, s,
				       &more, NULL), 0);
	assert_int_equal(s->n, 0);
	assert_false(more);
	free(s);
}

static void test_large_object(void **state)
{
	struct fix *f = *state;
	size_t n = 8u << 20;
	char *data = malloc(n);
	struct buf b = { 0 };
	uint64_t size;
	assert_non_null(data);
	fill(data, n, 11);
	assert_int_equal(objstore_put_once(f->os, nm(f, "big"), data, n, NULL), 0);
	assert_int_equal(objstore_head(f->os, nm(f, "big"), &size, NULL), 0);
	assert_int_equal(size, n);
	assert_int_equal(objstore_get(f->os, nm(f, "big"), 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, data, n);
	/* across a 1 MiB boundary, and the tail */
	uint64_t off = (1u << 20) - 10;
	assert_int_equal(objstore_get(f->os, nm(f, "big"), off, 3u << 20, &b,
				      NULL), 0);
	assert_int_equal(b.len, 3u << 20);
	assert_memory_equal(b.data, data + off, 3u << 20);
	assert_int_equal(objstore_get(f->os, nm(f, "big"), n - 7, 100, &b,
				      NULL), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, data + n - 7, 7);
	buf_free(&b);
	free(data);
}

static void test_bad_names(void **state)
{
	struct fix *f = *state;
	static const char *const bad[] = {
		"", "/a", "a/", "a//b", "a/../b", "./a", "a/.", "a b", "a\nb",
		"a?b", "a%2f", "caf\xc3\xa9",
	};
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	uint64_t size;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(objstore_put_once(f->os, bad[i], "x", 1, &err),
				 -EINVAL);
		assert_int_equal(objstore_get(f->os, bad[i], 0, 0, &b, NULL),
				 -EINVAL);
		assert_int_equal(objstore_head(f->os, bad[i], &size, NULL),
				 -EINVAL);
		assert_int_equal(objstore_delete(f->os, bad[i], NULL), -EINVAL);
	}
	assert_int_equal(objstore_put_once(f->os, NULL, "x", 1, NULL), -EINVAL);
	char *lng = malloc(OBJSTORE_NAME_MAX + 2);
	memset(lng, 'a', OBJSTORE_NAME_MAX + 1);
	lng[OBJSTORE_NAME_MAX + 1] = '\0';
	assert_int_equal(objstore_put_once(f->os, lng, "x", 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "1-1024"));
	assert_int_equal(objstore_list(f->os, "a b", NULL, 0, see, NULL, NULL,
				       NULL), -EINVAL);
	assert_int_equal(objstore_list(f->os, "", "a\tb", 0, see, NULL, NULL,
				       NULL), -EINVAL);
	free(lng);
	/* ~, _, -, . are fine */
	assert_int_equal(objstore_put_once(f->os, nm(f, "a~b_c-d.e/.f"), "x", 1,
					   NULL), 0);
	buf_free(&b);
}

/* The embedded objects survive a restart of the store. */
static void test_embedded_reopen(void **state)
{
	struct fix *f = *state;
	struct buf b = { 0 };
	assert_int_equal(objstore_put_once(f->os, "keep/me", "kept", 4, NULL), 0);
	objstore_close(f->os);
	store_fixture_reopen(f->sf);
	f->os = objstore_open_store(f->sf->s);
	assert_string_equal(objstore_kind(f->os), "store");
	assert_int_equal(objstore_get(f->os, "keep/me", 0, 0, &b, NULL), 0);
	assert_memory_equal(b.data, "kept", 4);
	buf_free(&b);
}

/* ---- S3 only: what the service refuses ---- */

/* A credentials file holding TEXT, mode 0600, its name into PATH. */
static void cred_file(char path[static 32], const char *text)
{
	snprintf(path, 32, "/tmp/mlfs-cred-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_s3_bad_credentials(void **state)
{
	struct fix *f = *state;
	char path[32];
	cred_file(path, "AWS_ACCESS_KEY_ID=MLFSTESTACCESSKEY000\n"
		  "AWS_SECRET_ACCESS_KEY=not-the-secret\n");
	struct objstore *os;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(objstore_open_s3(s3_url(), path, &os, NULL), 0);
	assert_int_equal(objstore_put_once(os, nm(f, "denied"), "x", 1, &err),
			 -EACCES);
	assert_non_null(strstr(err.msg, "403 SignatureDoesNotMatch"));
	assert_int_equal(objstore_get(os, nm(f, "denied"), 0, 0, &b, &err),
			 -EACCES);
	assert_int_equal(objstore_list(os, "", NULL, 0, see, NULL, NULL, &err),
			 -EACCES);
	objstore_close(os);
	unlink(path);
	buf_free(&b);
}

static void test_s3_missing_bucket(void **state)
{
	struct fix *f = *state;
	const char *at = strchr(s3_url(), '@');
	char url[512];
	snprintf(url, sizeof(url), "s3://no-such-bucket-mlfs%s", at);
	struct objstore *os;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(objstore_open_s3(url, NULL, &os, NULL), 0);
	assert_int_equal(objstore_put_once(os, nm(f, "x"), "x", 1, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "NoSuchBucket"));
	assert_int_equal(objstore_get(os, nm(f, "x"), 0, 0, &b, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "NoSuchBucket"));
	assert_int_equal(objstore_list(os, "", NULL, 0, see, NULL, NULL, &err),
			 -ENOENT);
	objstore_close(os);
	buf_free(&b);
}

/* ---- opening (no network): URLs and credentials ---- */

static void test_open_s3_checks_url_and_credentials(void **state)
{
	struct objstore *os = NULL;
	struct mlfs_err err = { 0 };
	static const char *const bad_urls[] = {
		"http://x", "s3://bucket", "s3://@host", "s3://b c@host",
		"s3://b@", "s3://b@host/path", "s3://b@http://", NULL,
	};
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		assert_int_equal(objstore_open_s3(bad_urls[i], NULL, &os, &err),
				 -EINVAL);
		assert_null(os);
	}
	char path[32];
	cred_file(path, "# test\nexport AWS_ACCESS_KEY_ID=\"k\"\n"
		  "AWS_SECRET_ACCESS_KEY=s\nAWS_REGION=eu-west-3\n");
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(objstore_open_s3("s3://b@127.0.0.1:1", path, &os, &err),
			 -EACCES);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(objstore_open_s3("s3://b@127.0.0.1:1", path, &os, &err),
			 -EACCES);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(objstore_open_s3("s3://b@http://127.0.0.1:1", path, &os,
					  &err), 0);
	assert_string_equal(objstore_kind(os), "s3");
	/* nothing listens on port 1: a clear error after the retries */
	struct buf b = { 0 };
	assert_int_equal(objstore_get(os, "x", 0, 0, &b, &err), -EIO);
	assert_non_null(strstr(err.msg, "127.0.0.1:1/b/x"));
	objstore_close(os);
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "AWS_REGION=x\n", 13), 13);
	close(fd);
	assert_int_equal(objstore_open_s3("s3://b@h", path, &os, &err), -ENOKEY);
	unlink(path);
	assert_int_equal(objstore_open_s3("s3://b@h", path, &os, &err), -ENOENT);
	buf_free(&b);
}

/* ---- the S3 client's protocol, against a scripted server ---- */

/* A loopback HTTP server that answers the Nth connection with answer[N]
 * (raw, "Connection: close"; "" closes without answering, an answer lost)
 * and keeps each request's head. */
struct fake {
	int fd, port, n, nreq;
	const char *answer[6];
	char req[6][1024];
	pthread_t thread;
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	for (int i = 0; i < f->n; i++) {
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			break;
		char in[8192];
		size_t got = 0;
		ssize_t k;
		bool sent100 = false;
		while (got < sizeof(in) - 1 &&
		       (k = read(c, in + got, sizeof(in) - 1 - got)) > 0) {
			got += (size_t)k;
			in[got] = '\0';
			char *end = strstr(in, "\r\n\r\n");
			if (end && !sent100 &&
			    strcasestr(in, "expect: 100-continue")) {
				sent100 = true;	/* as a server that wants it */
				if (write(c, "HTTP/1.1 100 Continue\r\n\r\n",
					  25) < 0)
					break;
			}
			const char *cl = strcasestr(in, "content-length: ");
			if (end && (!cl || got >= (size_t)(end + 4 - in) +
				    strtoul(cl + 16, NULL, 10)))
				break;
		}
		snprintf(f->req[f->nreq++], sizeof(f->req[0]), "%s", in);
		if (f->answer[i][0] &&
		    write(c, f->answer[i], strlen(f->answer[i])) < 0)
			break;
		close(c);
	}
	return NULL;
}

static struct objstore *fake_open(struct fake *f, char path[static 32])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
	char url[64];
	snprintf(url, sizeof(url), "s3://b@http://127.0.0.1:%d", f->port);
	struct objstore *os;
	cred_file(path, "AWS_ACCESS_KEY_ID=k\nAWS_SECRET_ACCESS_KEY=s\n");
	assert_int_equal(objstore_open_s3(url, path, &os, NULL), 0);
	return os;
}

static void fake_close(struct fake *f, struct objstore *os, const char *path)
{
	objstore_close(os);
	pthread_join(f->thread, NULL);
	close(f->fd);
	unlink(path);
}

#define ANSWER(status, body) \
	"HTTP/1.1 " status "\r\nConnection: close\r\nContent-Length: " \
	body "\r\n"
#define OK_HELLO ANSWER("200 OK", "5\r\n") "hello"
#define SLOW_DOWN ANSWER("503 Slow Down", "44\r\n") \
	"<Error><Code>SlowDown</Code><Message/></Error>"

static void test_s3_retries_5xx_and_signs(void **state)
{
	struct fake f = { .n = 2, .answer = { SLOW_DOWN, OK_HELLO } };
	char path[32];
	struct objstore *os = fake_open(&f, path);
	struct buf b = { 0 };
	assert_int_equal(objstore_get(os, "d/x", 0, 0, &b, NULL), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "hello", 5);
	fake_close(&f, os, path);
	assert_int_equal(f.nreq, 2);
	for (int i = 0; i < 2; i++) {
		assert_non_null(strstr(f.req[i], "GET /b/d/x HTTP/1.1\r\n"));
		assert_non_null(strcasestr(f.req[i], "x-amz-content-sha256: "
					   "UNSIGNED-PAYLOAD\r\n"));
		assert_non_null(strstr(f.req[i], "Authorization: AWS4-HMAC-SHA256 "
				       "Credential=k/"));
		assert_non_null(strstr(f.req[i], "/us-east-1/s3/aws4_request"));
	}
	buf_free(&b);
}

static void test_s3_gives_up_after_retries(void **state)
{
	struct fake f = { .n = 4, .answer = { SLOW_DOWN, SLOW_DOWN, SLOW_DOWN,
					      SLOW_DOWN } };
	char path[32];
	struct objstore *os = fake_open(&f, path);
	struct mlfs_err err = { 0 };
	uint64_t size;
	assert_int_equal(objstore_head(os, "x", &size, &err), -EIO);
	assert_non_null(strstr(err.msg, "503"));
	fake_close(&f, os, path);
	assert_int_equal(f.nreq, 4);
}

static void test_s3_denied_is_not_retried(void **state)
{
	struct fake f = { .n = 1, .answer = {
		ANSWER("403 Forbidden", "55\r\n")
		"<Error><Code>InvalidAccessKeyId</Code><Message/></Error>" } };
	char path[32];
	struct objstore *os = fake_open(&f, path);
	struct mlfs_err err = { 0 };
	assert_int_equal(objstore_put_once(os, "x", "data", 4, &err), -EACCES);
	assert_non_null(strstr(err.msg, "403 InvalidAccessKeyId"));
	fake_close(&f, os, path);
	assert_int_equal(f.nreq, 1);
	assert_non_null(strstr(f.req[0], "PUT /b/x HTTP/1.1\r\n"));
	assert_non_null(strcasestr(f.req[0], "if-none-match: *\r\n"));
}

/* A put whose answer was lost, retried: 412 then means "made by us" only
 * when the object holds our bytes. */
static void put_after_lost_answer(const char *stored, int want)
{
	char get[128];
	snprintf(get, sizeof(get), ANSWER("200 OK", "%zu\r\n") "%s",
		 strlen(stored), stored);
	struct fake f = { .n = 3, .answer = { "",
		ANSWER("412 Precondition Failed", "0\r\n"), get } };
	char path[32];
	struct objstore *os = fake_open(&f, path);
	assert_int_equal(objstore_put_once(os, "x", "data", 4, NULL), want);
	fake_close(&f, os, path);
	assert_int_equal(f.nreq, 3);
	assert_non_null(strstr(f.req[1], "PUT /b/x "));
	assert_non_null(strstr(f.req[2], "GET /b/x "));
}

static void test_s3_put_retry_meets_itself(void **state)
{
	put_after_lost_answer("data", 0);
	put_after_lost_answer("else", -EEXIST);
}

/* ---- the XML of S3's answers (objstore_xml.c) ---- */

static void test_xml_list_page(void **state)
{
	static const char page[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><IsTruncated>true</IsTruncated><!-- x -->"
		"<Contents><Key>a&amp;b&lt;c&#x41;&#66;</Key><Size>12</Size>"
		"<ETag>&quot;e&quot;</ETag><Owner><ID>o</ID></Owner></Contents>"
		"<Contents><Size>0</Size><Key><![CDATA[x<y]]>/&#233;</Key>"
		"<StorageClass/></Contents></ListBucketResult>";
	struct seen s = { 0 };
	bool more = false;
	assert_int_equal(objstore_xml_list(page, strlen(page), see, &s, &more,
					   NULL), 0);
	assert_true(more);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "a&b<cAB");
	assert_int_equal(s.sizes[0], 12);
	assert_string_equal(s.names[1], "x<y/\xc3\xa9");
	assert_int_equal(s.sizes[1], 0);
}

static void test_xml_refuses_malformed(void **state)
{
	static const char *const bad[] = {
		"", "plain text", "<a>", "<a></b>", "<a><b></a></b>", "</a>",
		"<a>&bogus;</a>", "<a>&#0;</a>", "<a>&#xd800;</a>", "<a>&#12</a>",
		"<!DOCTYPE a [<!ENTITY x \"y\">]><a/>", "<a><!-- open</a>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size></Contents></ListBucketResult>",
		"<a b=\"unterminated></a>",
	};
	struct mlfs_err err = { 0 };
	bool more;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = { 0 };
		err.msg[0] = '\0';
		assert_int_equal(objstore_xml_list(bad[i], strlen(bad[i]), see,
						   &s, &more, &err), -EPROTO);
		assert_true(err.msg[0] != '\0');
	}
	/* deeper than 32 */
	struct buf b = { 0 };
	for (int i = 0; i < 33; i++)
		buf_puts(&b, "<a>");
	for (int i = 0; i < 33; i++)
		buf_puts(&b, "</a>");
	assert_int_equal(objstore_xml_list(b.data, b.len, see, NULL, &more,
					   &err), -EPROTO);
	assert_non_null(strstr(err.msg, "deeper"));
	buf_free(&b);
}

static void test_xml_error_body(void **state)
{
	static const char body[] =
		"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>"
		"<Message>The bucket &apos;x&apos; does not exist</Message>"
		"<Resource>/x</Resource></Error>";
	char code[16], msg[32];
	objstore_xml_error(body, strlen(body), code, sizeof(code), msg,
			   sizeof(msg));
	assert_string_equal(code, "NoSuchBucket");
	assert_string_equal(msg, "The bucket 'x' does not exist");
	objstore_xml_error("<html>502</html>", 16, code, sizeof(code), msg,
			   sizeof(msg));
	assert_string_equal(code, "");
	assert_string_equal(msg, "");
	/* cut to the sizes given */
	static const char lng[] =
		"<Error><Code>AVeryLongErrorCodeIndeed</Code></Error>";
	objstore_xml_error(lng, strlen(lng), code, sizeof(code), msg,
			   sizeof(msg));
	assert_string_equal(code, "AVeryLongErrorC");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct backend_case cases[] = {
		BOTH(T(test_put_get_head)),
		BOTH(T(test_put_once_refuses_existing)),
		BOTH(T(test_put_once_race_has_one_winner)),
		BOTH(T(test_ranged_get)),
		BOTH(T(test_missing_is_enoent)),
		BOTH(T(test_delete_frees_the_name)),
		BOTH(T(test_list_pages_in_order)),
		BOTH(T(test_large_object)),
		BOTH(T(test_bad_names)),
		EMBEDDED_ONLY(T(test_embedded_reopen)),
		REMOTE_ONLY(T(test_s3_bad_credentials)),
		REMOTE_ONLY(T(test_s3_missing_bucket)),
		BOTH(cmocka_unit_test(test_open_s3_checks_url_and_credentials)),
		BOTH(cmocka_unit_test(test_s3_retries_5xx_and_signs)),
		BOTH(cmocka_unit_test(test_s3_gives_up_after_retries)),
		BOTH(cmocka_unit_test(test_s3_denied_is_not_retried)),
		BOTH(cmocka_unit_test(test_s3_put_retry_meets_itself)),
		BOTH(cmocka_unit_test(test_xml_list_page)),
		BOTH(cmocka_unit_test(test_xml_refuses_malformed)),
		BOTH(cmocka_unit_test(test_xml_error_body)),
	};
	fprintf(stderr, "test_objstore: against %s\n",
		on_s3() ? s3_url() : "the embedded store");
	return BACKEND_CASES_RUN("objstore", cases, on_s3());
}
