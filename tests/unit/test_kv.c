/* test_kv.c - the conformance suite of the revisioned key-value interface
 * (kv.h): the same tests against the embedded store (the unit suite) and,
 * with MLFS_ETCD=http://HOST:PORT[,...] set, against etcd
 * (tools/scaleout/test-kv).  Each test works under a key prefix of its
 * own, so one etcd serves the whole run. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "backend_cases.h"

#include "kv.h"

struct fx {
	struct store_fixture *sf;	/* the RocksDB run only */
	struct kv *kv;
	char p[48];			/* this test's key prefix */
};

static int setup(void **state)
{
	static int n;
	struct fx *f = calloc(1, sizeof(*f));
	const char *etcd = getenv("MLFS_ETCD");
	assert_non_null(f);
	snprintf(f->p, sizeof(f->p), "kvt/%ld.%d/", (long)getpid(), ++n);
	if (etcd && *etcd) {
		assert_int_equal(kv_open(NULL, etcd, &f->kv, NULL), 0);
	} else {
		f->sf = store_fixture_open();
		assert_int_equal(kv_open(f->sf->s, NULL, &f->kv, NULL), 0);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kv_close(f->kv);
	if (f->sf)
		store_fixture_close(f->sf);
	free(f);
	return 0;
}

/* The key PREFIX + NAME, in a static slot (sixteen in turn). */
static const char *K(struct fx *f, const char *name)
{
	static char slot[16][128];
	static int i;
	char *k = slot[i++ % 16];
	snprintf(k, 128, "%s%s", f->p, name);
	return k;
}

static int put(struct fx *f, const char *name, const char *val, kv_rev *rev)
{
	const char *k = K(f, name);
	return kv_put(f->kv, k, strlen(k), val, strlen(val), 0, rev);
}

/* The value of NAME, or "-" when absent. */
static const char *val_of(struct fx *f, const char *name, kv_rev *mod)
{
	static char out[64];
	struct buf v = { 0 };
	const char *k = K(f, name);
	int rc = kv_get(f->kv, k, strlen(k), &v, mod, NULL);
	assert_true(rc == 0 || rc == -ENOENT);
	snprintf(out, sizeof(out), "%.*s", rc ? 1 : (int)v.len, rc ? "-" : v.data);
	buf_free(&v);
	return out;
}

struct listing {
	size_t plen;
	char text[512];
};

static int list_one(void *ctx, const char *k, size_t kl, const char *v,
		    size_t vl, kv_rev mod)
{
	struct listing *l = ctx;
	assert_true(mod > 0);
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "%s%.*s=%.*s", n ? "," : "",
		 (int)(kl - l->plen), k + l->plen, (int)vl, v);
	return 0;
}

/* "a=1,b=2" for the keys of [B, E) under the prefix (E NULL: the whole
 * prefix), as kv_range gives them. */
static const char *range(struct fx *f, const char *b, const char *e,
			 size_t limit, bool reverse, kv_rev at, kv_rev *read_at)
{
	static struct listing l;
	struct buf lo = { 0 }, hi = { 0 };
	buf_printf(&lo, "%s%s", f->p, b);
	if (e)
		buf_printf(&hi, "%s%s", f->p, e);
	else
		kv_prefix_end(&hi, f->p, strlen(f->p));
	l.plen = strlen(f->p);
	l.text[0] = '\0';
	int rc = kv_range(f->kv, lo.data, lo.len, hi.data, hi.len, limit, reverse,
			  at, list_one, &l, read_at, NULL);
	buf_free(&lo);
	buf_free(&hi);
	if (rc)
		snprintf(l.text, sizeof(l.text), "error %d", rc);
	return l.text;
}

static void test_get_put_revisions(void **state)
{
	struct fx *f = *state;
	kv_rev r1, r2, mod;
	assert_string_equal(val_of(f, "a", &mod), "-");
	assert_int_equal(mod, 0);
	assert_int_equal(put(f, "a", "1", &r1), 0);
	assert_true(r1 > 1);
	assert_string_equal(val_of(f, "a", &mod), "1");
	assert_int_equal(mod, r1);
	assert_int_equal(put(f, "a", "", &r2), 0);	/* an empty value */
	assert_int_equal(r2, r1 + 1);
	assert_string_equal(val_of(f, "a", &mod), "");
	assert_int_equal(mod, r2);
	const char *k = K(f, "a");
	assert_int_equal(kv_delete(f->kv, k, strlen(k), &r1), 0);
	assert_int_equal(r1, r2 + 1);
	assert_string_equal(val_of(f, "a", NULL), "-");
	/* Deleting what is absent changes nothing: no new revision. */
	assert_int_equal(kv_delete(f->kv, k, strlen(k), &r2), 0);
	assert_int_equal(r2, r1);
	struct buf v = { 0 };
	assert_int_equal(kv_get(f->kv, "", 0, &v, NULL, NULL), -EINVAL);
	assert_int_equal(kv_get(f->kv, "\x01R", 2, &v, NULL, NULL), -EINVAL);
	buf_free(&v);
}

static void test_range_order_limit_and_revision(void **state)
{
	struct fx *f = *state;
	kv_rev at, now, rev;
	const char *names[] = { "c", "a", "e", "b", "d" };
	for (int i = 0; i < 5; i++)
		assert_int_equal(put(f, names[i], names[i], &rev), 0);
	assert_string_equal(range(f, "", NULL, 0, false, 0, &at), "a=a,b=b,c=c,d=d,e=e");
	assert_int_equal(at, rev);
	assert_string_equal(range(f, "", NULL, 0, true, 0, NULL), "e=e,d=d,c=c,b=b,a=a");
	assert_string_equal(range(f, "", NULL, 2, false, 0, NULL), "a=a,b=b");
	assert_string_equal(range(f, "", NULL, 2, true, 0, NULL), "e=e,d=d");
	assert_string_equal(range(f, "b", "d", 0, false, 0, NULL), "b=b,c=c");
	assert_string_equal(range(f, "b", "d", 1, true, 0, NULL), "c=c");
	assert_string_equal(range(f, "x", NULL, 0, false, 0, NULL), "");
	/* Later pages read at the revision of the first see none of what
	 * came since. */
	assert_int_equal(put(f, "b", "B", NULL), 0);
	const char *k = K(f, "d");
	assert_int_equal(kv_delete(f->kv, k, strlen(k), &now), 0);
	assert_string_equal(range(f, "", NULL, 0, false, 0, NULL), "a=a,b=B,c=c,e=e");
	assert_string_equal(range(f, "b", NULL, 0, false, at, &rev), "b=b,c=c,d=d,e=e");
	assert_int_equal(rev, at);
	char bad[32];
	snprintf(bad, sizeof(bad), "error %d", -EINVAL);
	assert_string_equal(range(f, "", NULL, 0, false, now + 5, NULL), bad);
}

struct mods {
	kv_rev mod[2];
	int n;
};

static int collect(void *ctx, const char *k, size_t kl, const char *v,
		   size_t vl, kv_rev mod)
{
	struct mods *got = ctx;
	assert_true(got->n < 2);
	got->mod[got->n++] = mod;
	return 0;
}

static void test_mod_revisions_in_ranges(void **state)
{
	struct fx *f = *state;
	kv_rev r1, r2;
	struct mods got = { .n = 0 };
	struct buf lo = { 0 }, hi = { 0 };
	assert_int_equal(put(f, "a", "1", &r1), 0);
	assert_int_equal(put(f, "b", "2", &r2), 0);
	buf_puts(&lo, f->p);
	kv_prefix_end(&hi, f->p, strlen(f->p));
	assert_int_equal(kv_range(f->kv, lo.data, lo.len, hi.data, hi.len, 0, false,
				  0, collect, &got, NULL, NULL), 0);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.mod[0], r1);
	assert_int_equal(got.mod[1], r2);
	buf_free(&lo);
	buf_free(&hi);
}

static struct kv_cmp cmp(struct fx *f, enum kv_cmp_kind kind, const char *name,
			 kv_rev rev, const char *val)
{
	const char *k = K(f, name);
	return (struct kv_cmp){ .kind = kind, .key = k, .klen = strlen(k),
		.rev = rev, .val = val, .vlen = val ? strlen(val) : 0 };
}

static struct kv_op op_put(struct fx *f, const char *name, const char *val)
{
	const char *k = K(f, name);
	return (struct kv_op){ .kind = KV_OP_PUT, .key = k, .klen = strlen(k),
		.val = val, .vlen = strlen(val) };
}

static void test_compare_absent(void **state)
{
	struct fx *f = *state;
	kv_rev rev, after;
	struct kv_cmp c = cmp(f, KV_CMP_ABSENT, "lock", 0, NULL);
	struct kv_op o[2] = { op_put(f, "lock", "me"), op_put(f, "other", "x") };
	assert_int_equal(kv_commit(f->kv, &c, 1, o, 2, &rev, NULL), 0);
	c = cmp(f, KV_CMP_ABSENT, "lock", 0, NULL);
	o[0] = op_put(f, "lock", "you");
	o[1] = op_put(f, "third", "y");
	assert_int_equal(kv_commit(f->kv, &c, 1, o, 2, &after, NULL), -ECANCELED);
	assert_int_equal(after, rev);
	assert_string_equal(val_of(f, "lock", NULL), "me");
	assert_string_equal(val_of(f, "third", NULL), "-");
}

static void test_compare_mod_revision(void **state)
{
	struct fx *f = *state;
	kv_rev r1, r2, mod;
	assert_int_equal(put(f, "t", "v1", &r1), 0);
	struct kv_cmp c = cmp(f, KV_CMP_MOD_EQ, "t", r1, NULL);
	struct kv_op o = op_put(f, "t", "v2");
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, &r2, NULL), 0);
	/* The same compare again: "t" moved on, so the second writer loses. */
	c = cmp(f, KV_CMP_MOD_EQ, "t", r1, NULL);
	o = op_put(f, "t", "v3");
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), -ECANCELED);
	assert_string_equal(val_of(f, "t", &mod), "v2");
	assert_int_equal(mod, r2);
	/* Mod revision 0 is "absent". */
	c = cmp(f, KV_CMP_MOD_EQ, "new", 0, NULL);
	o = op_put(f, "new", "n");
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), 0);
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), -ECANCELED);
}

static void test_compare_value(void **state)
{
	struct fx *f = *state;
	assert_int_equal(put(f, "alias", "v1", NULL), 0);
	struct kv_cmp c = cmp(f, KV_CMP_VALUE_EQ, "alias", 0, "v1");
	struct kv_op o = op_put(f, "alias", "v2");
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), 0);
	o = op_put(f, "alias", "v3");
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), -ECANCELED);
	assert_string_equal(val_of(f, "alias", NULL), "v2");
	c = cmp(f, KV_CMP_VALUE_EQ, "nothing", 0, "");
	o = op_put(f, "nothing", "x");
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), -ECANCELED);
	assert_string_equal(val_of(f, "nothing", NULL), "-");
}

/* Several compares: all must hold; one failing applies none of the ops. */
static void test_compares_all_or_nothing(void **state)
{
	struct fx *f = *state;
	kv_rev r1, r2, rev;
	assert_int_equal(put(f, "a", "1", &r1), 0);
	assert_int_equal(put(f, "b", "2", &r2), 0);
	struct kv_cmp c[3] = { cmp(f, KV_CMP_MOD_EQ, "a", r1, NULL),
			       cmp(f, KV_CMP_VALUE_EQ, "b", 0, "2"),
			       cmp(f, KV_CMP_ABSENT, "c", 0, NULL) };
	struct kv_op o[3] = { op_put(f, "a", "A"), op_put(f, "b", "B"),
			      op_put(f, "c", "C") };
	c[1] = cmp(f, KV_CMP_VALUE_EQ, "b", 0, "not 2");
	assert_int_equal(kv_commit(f->kv, c, 3, o, 3, &rev, NULL), -ECANCELED);
	assert_int_equal(rev, r2);
	assert_string_equal(range(f, "", NULL, 0, false, 0, NULL), "a=1,b=2");
	c[1] = cmp(f, KV_CMP_VALUE_EQ, "b", 0, "2");
	assert_int_equal(kv_commit(f->kv, c, 3, o, 3, &rev, NULL), 0);
	assert_int_equal(rev, r2 + 1);	/* three puts, one revision */
	assert_string_equal(range(f, "", NULL, 0, false, 0, NULL), "a=A,b=B,c=C");
	kv_rev ma, mc;
	val_of(f, "a", &ma);
	val_of(f, "c", &mc);
	assert_int_equal(ma, rev);
	assert_int_equal(mc, rev);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	struct kv_op o[KV_MAX_OPS + 1];
	struct kv_cmp c[KV_MAX_OPS + 1];
	static char keys[KV_MAX_OPS + 1][96];
	for (int i = 0; i <= KV_MAX_OPS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%sn/%03d", f->p, i);
		o[i] = (struct kv_op){ .kind = KV_OP_PUT, .key = keys[i],
			.klen = strlen(keys[i]), .val = "v", .vlen = 1 };
		c[i] = (struct kv_cmp){ .kind = KV_CMP_ABSENT, .key = keys[i],
			.klen = strlen(keys[i]) };
	}
	assert_int_equal(kv_commit(f->kv, c, KV_MAX_OPS + 1, o, 1, NULL, NULL), -E2BIG);
	assert_int_equal(kv_commit(f->kv, NULL, 0, o, KV_MAX_OPS + 1, NULL, NULL), -E2BIG);
	assert_string_equal(val_of(f, "n/000", NULL), "-");
	assert_int_equal(kv_commit(f->kv, c, KV_MAX_OPS, o, KV_MAX_OPS, NULL, NULL), 0);
	assert_string_equal(val_of(f, "n/127", NULL), "v");
	/* Bytes: keys and values together, KV_MAX_BYTES at most. */
	const char *k = K(f, "big");
	size_t vl = KV_MAX_BYTES - strlen(k);
	char *big = malloc(vl + 1);
	assert_non_null(big);
	memset(big, 'x', vl + 1);
	struct kv_op p = { .kind = KV_OP_PUT, .key = k, .klen = strlen(k),
			   .val = big, .vlen = vl + 1 };
	assert_int_equal(kv_commit(f->kv, NULL, 0, &p, 1, NULL, NULL), -E2BIG);
	p.vlen = vl;
	assert_int_equal(kv_commit(f->kv, NULL, 0, &p, 1, NULL, NULL), 0);
	struct buf v = { 0 };
	assert_int_equal(kv_get(f->kv, k, strlen(k), &v, NULL, NULL), 0);
	assert_int_equal(v.len, vl);
	buf_free(&v);
	free(big);
	/* Keys: not empty, not reserved, one op per key. */
	p = (struct kv_op){ .kind = KV_OP_PUT, .key = "", .klen = 0 };
	assert_int_equal(kv_commit(f->kv, NULL, 0, &p, 1, NULL, NULL), -EINVAL);
	p = (struct kv_op){ .kind = KV_OP_PUT, .key = "\x01x", .klen = 2 };
	assert_int_equal(kv_commit(f->kv, NULL, 0, &p, 1, NULL, NULL), -EINVAL);
	struct kv_op two[2] = { o[0], o[0] };
	two[1].kind = KV_OP_DEL;
	assert_int_equal(kv_commit(f->kv, NULL, 0, two, 2, NULL, NULL), -EINVAL);
	two[1] = (struct kv_op){ .kind = KV_OP_DEL_RANGE, .key = keys[0],
		.klen = strlen(keys[0]) - 1, .end = keys[5], .elen = strlen(keys[5]) };
	assert_int_equal(kv_commit(f->kv, NULL, 0, two, 2, NULL, NULL), -EINVAL);
	two[0] = o[9];	/* outside [n/00, n/005) */
	assert_int_equal(kv_commit(f->kv, NULL, 0, two, 2, NULL, NULL), 0);
	assert_string_equal(val_of(f, "n/004", NULL), "-");
	assert_string_equal(val_of(f, "n/005", NULL), "v");
}

static void test_delete_range_one_revision(void **state)
{
	struct fx *f = *state;
	kv_rev rev, del, ma;
	for (const char *c = "abcde"; *c; c++) {
		char name[2] = { *c, 0 };
		assert_int_equal(put(f, name, name, &rev), 0);
	}
	const char *b = K(f, "b"), *d = K(f, "d");
	struct kv_op o = { .kind = KV_OP_DEL_RANGE, .key = b, .klen = strlen(b),
			   .end = d, .elen = strlen(d) };
	assert_int_equal(kv_commit(f->kv, NULL, 0, &o, 1, &del, NULL), 0);
	assert_int_equal(del, rev + 1);
	assert_string_equal(range(f, "", NULL, 0, false, 0, NULL), "a=a,d=d,e=e");
	val_of(f, "a", &ma);
	assert_true(ma < del);	/* untouched keys keep their revision */
	/* A range with nothing in it: no revision. */
	assert_int_equal(kv_commit(f->kv, NULL, 0, &o, 1, &rev, NULL), 0);
	assert_int_equal(rev, del);
	/* To the end of the prefix. */
	struct buf hi = { 0 };
	kv_prefix_end(&hi, f->p, strlen(f->p));
	d = K(f, "d");
	o = (struct kv_op){ .kind = KV_OP_DEL_RANGE, .key = d, .klen = strlen(d),
			    .end = hi.data, .elen = hi.len };
	assert_int_equal(kv_commit(f->kv, NULL, 0, &o, 1, &rev, NULL), 0);
	assert_int_equal(rev, del + 1);
	assert_string_equal(range(f, "", NULL, 0, false, 0, NULL), "a=a");
	buf_free(&hi);
}

/* What a watch was told: one line per call "REV:P a=1 D b|...". */
struct seen {
	pthread_mutex_t m;
	pthread_cond_t c;
	size_t plen;
	int calls, err;
	kv_rev last;
	char text[2048];
};

static void on_events(void *ctx, const struct kv_event *ev, size_t n,
		      kv_rev rev, int err)
{
	struct seen *s = ctx;
	pthread_mutex_lock(&s->m);
	if (err) {
		s->err = err;
	} else {
		assert_true(n > 0);
		assert_true(rev > s->last);	/* in revision order */
		s->last = rev;
		size_t l = strlen(s->text);
		l += snprintf(s->text + l, sizeof(s->text) - l, "%s%llu:",
			      l ? "|" : "", (unsigned long long)rev);
		for (size_t i = 0; i < n && l < sizeof(s->text); i++)
			l += snprintf(s->text + l, sizeof(s->text) - l, " %c%.*s%s%.*s",
				      ev[i].kind == KV_EV_PUT ? 'P' : 'D',
				      (int)(ev[i].klen - s->plen), ev[i].key + s->plen,
				      ev[i].kind == KV_EV_PUT ? "=" : "",
				      ev[i].kind == KV_EV_PUT ? (int)ev[i].vlen : 0,
				      ev[i].val);
	}
	s->calls++;
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
}

/* Wait (5 s at most) until S had CALLS calls; its text then. */
static const char *seen_wait(struct seen *s, int calls)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&s->m);
	while (s->calls < calls &&
	       pthread_cond_timedwait(&s->c, &s->m, &ts) == 0)
		;
	pthread_mutex_unlock(&s->m);
	return s->text;
}

static struct kv_watch *watch(struct fx *f, struct seen *s, kv_rev from, int rc)
{
	struct kv_watch *w = NULL;
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->c, NULL);
	s->plen = strlen(f->p);
	assert_int_equal(kv_watch(f->kv, f->p, strlen(f->p), from, on_events, s,
				  &w, NULL), rc);
	return w;
}

static void test_watch_order_and_atomicity(void **state)
{
	struct fx *f = *state;
	struct seen s;
	kv_rev r1, r2, r3;
	struct kv_watch *w = watch(f, &s, 0, 0);
	struct kv_op two[2] = { op_put(f, "a", "1"), op_put(f, "b", "2") };
	assert_int_equal(kv_commit(f->kv, NULL, 0, two, 2, &r1, NULL), 0);
	const char *out = "elsewhere/x";	/* outside the prefix: not seen */
	assert_int_equal(kv_put(f->kv, out, strlen(out), "x", 1, 0, NULL), 0);
	const char *a = K(f, "a"), *c = K(f, "c");
	struct kv_op del = { .kind = KV_OP_DEL_RANGE, .key = a, .klen = strlen(a),
			     .end = c, .elen = strlen(c) };
	assert_int_equal(kv_commit(f->kv, NULL, 0, &del, 1, &r2, NULL), 0);
	assert_int_equal(put(f, "c", "3", &r3), 0);
	char want[256];
	snprintf(want, sizeof(want), "%llu: Pa=1 Pb=2|%llu: Da Db|%llu: Pc=3",
		 (unsigned long long)r1, (unsigned long long)r2, (unsigned long long)r3);
	assert_string_equal(seen_wait(&s, 3), want);
	kv_watch_cancel(w);
	/* Cancelled: told nothing more. */
	assert_int_equal(put(f, "d", "4", NULL), 0);
	usleep(100000);
	assert_int_equal(s.calls, 3);
	kv_delete(f->kv, out, strlen(out), NULL);
}

static void test_watch_resumes_from_a_revision(void **state)
{
	struct fx *f = *state;
	struct seen s;
	kv_rev r1, r2, r3;
	assert_int_equal(put(f, "a", "1", &r1), 0);
	assert_int_equal(put(f, "b", "2", &r2), 0);
	assert_int_equal(put(f, "a", "3", &r3), 0);
	/* A watcher that saw up to r1 gets what came after, then goes on. */
	struct kv_watch *w = watch(f, &s, r1, 0);
	char want[256];
	snprintf(want, sizeof(want), "%llu: Pb=2|%llu: Pa=3",
		 (unsigned long long)r2, (unsigned long long)r3);
	assert_string_equal(seen_wait(&s, 2), want);
	assert_int_equal(put(f, "c", "4", &r1), 0);
	snprintf(want + strlen(want), sizeof(want) - strlen(want), "|%llu: Pc=4",
		 (unsigned long long)r1);
	assert_string_equal(seen_wait(&s, 3), want);
	kv_watch_cancel(w);
}

static void test_compaction_is_stale(void **state)
{
	struct fx *f = *state;
	struct seen s;
	kv_rev r1, r2, r3, at;
	assert_int_equal(put(f, "a", "1", &r1), 0);
	range(f, "", NULL, 0, false, 0, &at);
	assert_int_equal(put(f, "a", "2", &r2), 0);
	assert_int_equal(put(f, "a", "3", &r3), 0);
	assert_int_equal(kv_compact(f->kv, r3, NULL), 0);
	assert_int_equal(kv_compact(f->kv, r3 + 100, NULL), -EINVAL);
	watch(f, &s, r1, -ESTALE);
	char stale[32];
	snprintf(stale, sizeof(stale), "error %d", -ESTALE);
	assert_string_equal(range(f, "", NULL, 0, false, at, NULL), stale);
	/* From the compaction point on, all is there. */
	struct kv_watch *w = watch(f, &s, r3 - 1, 0);
	char want[64];
	snprintf(want, sizeof(want), "%llu: Pa=3", (unsigned long long)r3);
	assert_string_equal(seen_wait(&s, 1), want);
	kv_watch_cancel(w);
	assert_string_equal(range(f, "", NULL, 0, false, r3, NULL), "a=3");
}

static void test_leases_expire_and_revoke(void **state)
{
	struct fx *f = *state;
	struct seen s;
	kv_lease l1, l2;
	kv_rev rev;
	assert_int_equal(kv_lease_grant(f->kv, 0, &l1, NULL), -EINVAL);
	assert_int_equal(kv_lease_grant(f->kv, 1, &l1, NULL), 0);
	assert_int_equal(kv_lease_grant(f->kv, 60, &l2, NULL), 0);
	assert_true(l1 > 0 && l2 > 0 && l1 != l2);
	const char *a = K(f, "session/a"), *b = K(f, "session/b");
	assert_int_equal(kv_put(f->kv, a, strlen(a), "1", 1, l1, NULL), 0);
	assert_int_equal(kv_put(f->kv, b, strlen(b), "2", 1, l2, NULL), 0);
	assert_int_equal(put(f, "plain", "3", &rev), 0);
	struct kv_watch *w = watch(f, &s, rev, 0);
	/* Kept alive, the lease outlives its TTL. */
	for (int i = 0; i < 3; i++) {
		usleep(400000);
		assert_int_equal(kv_lease_keepalive(f->kv, l1, NULL), 0);
	}
	assert_string_equal(val_of(f, "session/a", NULL), "1");
	/* Left alone, it expires: its key goes, in one event. */
	const char *t = seen_wait(&s, 1);
	assert_non_null(strstr(t, " Dsession/a"));
	assert_string_equal(val_of(f, "session/a", NULL), "-");
	assert_string_equal(val_of(f, "session/b", NULL), "2");
	assert_string_equal(val_of(f, "plain", NULL), "3");
	assert_int_equal(kv_lease_keepalive(f->kv, l1, NULL), -ENOENT);
	assert_int_equal(kv_put(f->kv, a, strlen(a), "1", 1, l1, NULL), -ENOENT);
	/* Revoked: at once. */
	assert_int_equal(kv_lease_revoke(f->kv, l2, NULL), 0);
	assert_string_equal(val_of(f, "session/b", NULL), "-");
	assert_int_equal(kv_lease_revoke(f->kv, l2, NULL), -ENOENT);
	/* A put without the lease detaches the key from it. */
	assert_int_equal(kv_lease_grant(f->kv, 60, &l2, NULL), 0);
	assert_int_equal(kv_put(f->kv, b, strlen(b), "x", 1, l2, NULL), 0);
	assert_int_equal(kv_put(f->kv, b, strlen(b), "y", 1, 0, NULL), 0);
	assert_int_equal(kv_lease_revoke(f->kv, l2, NULL), 0);
	assert_string_equal(val_of(f, "session/b", NULL), "y");
	kv_watch_cancel(w);
}

/* The embedded store only: keys written by the store itself (all of
 * today's records) read with revision 1, and revisions outlive a
 * restart. */
static void test_rocks_store_keys_and_restart(void **state)
{
	struct fx *f = *state;
	kv_rev mod, r1, r2;
	assert_int_equal(store_put(f->sf->s, "t/old", 5, "x", 1, NULL), 0);
	struct buf v = { 0 };
	assert_int_equal(kv_get(f->kv, "t/old", 5, &v, &mod, NULL), 0);
	assert_int_equal(mod, 1);
	assert_int_equal(kv_put(f->kv, "t/old", 5, "y", 1, 0, &r1), 0);
	/* The value stays the store's own record, byte for byte. */
	assert_int_equal(store_get(f->sf->s, NULL, "t/old", 5, &v, NULL), 0);
	assert_int_equal(v.len, 1);
	assert_memory_equal(v.data, "y", 1);
	/* A range over everything shows no record of the kv's own. */
	struct listing l = { .plen = 0 };
	assert_int_equal(kv_range(f->kv, "", 0, "", 0, 0, false, 0, list_one, &l,
				  NULL, NULL), 0);
	assert_string_equal(l.text, "t/old=y");
	l.text[0] = '\0';
	assert_int_equal(kv_range(f->kv, "", 0, "", 0, 0, true, 0, list_one, &l,
				  NULL, NULL), 0);
	assert_string_equal(l.text, "t/old=y");
	kv_close(f->kv);
	store_fixture_reopen(f->sf);
	assert_int_equal(kv_open(f->sf->s, NULL, &f->kv, NULL), 0);
	assert_int_equal(kv_get(f->kv, "t/old", 5, &v, &mod, NULL), 0);
	assert_int_equal(mod, r1);
	assert_int_equal(kv_put(f->kv, "t/new", 5, "z", 1, 0, &r2), 0);
	assert_int_equal(r2, r1 + 1);
	/* Deleted by the store directly (a module not on kv yet): absent to
	 * compares too, whatever revision record it left. */
	assert_int_equal(store_delete(f->sf->s, "t/new", 5, NULL), 0);
	struct kv_cmp c = { .kind = KV_CMP_ABSENT, .key = "t/new", .klen = 5 };
	struct kv_op o = { .kind = KV_OP_PUT, .key = "t/new", .klen = 5,
			   .val = "w", .vlen = 1 };
	assert_int_equal(kv_commit(f->kv, &c, 1, &o, 1, NULL, NULL), 0);
	buf_free(&v);
}

static void test_bad_meta(void **state)
{
	struct kv *kv;
	assert_int_equal(kv_open(NULL, "redis://x", &kv, NULL), -EINVAL);
	assert_int_equal(kv_open(NULL, "etcd://", &kv, NULL), -EINVAL);
	/* Nothing listens on port 1. */
	assert_int_equal(kv_open(NULL, "etcd://127.0.0.1:1", &kv, NULL), -EHOSTUNREACH);
}

int main(void)
{
	const char *etcd = getenv("MLFS_ETCD");
	const struct backend_case cases[] = {
		BOTH(cmocka_unit_test_setup_teardown(test_get_put_revisions, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_range_order_limit_and_revision, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_mod_revisions_in_ranges, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_compare_absent, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_compare_mod_revision, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_compare_value, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_compares_all_or_nothing, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_limits, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_delete_range_one_revision, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_watch_order_and_atomicity, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_watch_resumes_from_a_revision, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_compaction_is_stale, setup, teardown)),
		BOTH(cmocka_unit_test_setup_teardown(test_leases_expire_and_revoke, setup, teardown)),
		EMBEDDED_ONLY(cmocka_unit_test_setup_teardown(test_rocks_store_keys_and_restart, setup, teardown)),
		BOTH(cmocka_unit_test(test_bad_meta)),
	};
	return BACKEND_CASES_RUN("kv", cases, etcd && *etcd);
}
