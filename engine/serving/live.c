/* live.c - endpoints at work: the per-store serving state, each
 * endpoint's loaded versions (load on first request, unload when idle),
 * routing, scoring a predict request, statistics, and the thread that
 * writes the log and statistics every second. */
#include "serving_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "codec.h"
#include "csv.h"
#include "hash.h"
#include "registry.h"
#include "request.h"

#define FLUSH_EVERY_MS 1000
#define LOG_CSV_CACHE_MAX (256u << 20)	/* a log.csv kept to serve again */

static const char state_key;

/* ---- the per-store state and its thread ---- */

static void *serving_make(void)
{
	struct serving *sv = calloc(1, sizeof(*sv));
	if (!sv)
		mlfs_oom();
	pthread_mutex_init(&sv->lock, NULL);
	pthread_mutex_init(&sv->flush_lock, NULL);
	pthread_cond_init(&sv->wake, NULL);
	return sv;
}

static void slot_unload(struct ep_slot *sl)
{
	served_free(sl->m);
	sl->m = NULL;
	sl->state = SLOT_IDLE;
}

static void ep_free(struct ep_live *ep)
{
	while (ep->slots) {
		struct ep_slot *sl = ep->slots;
		ep->slots = sl->next;
		slot_unload(sl);
		free(sl);
	}
	pthread_mutex_destroy(&ep->lock);
	pthread_cond_destroy(&ep->loaded);
	buf_free(&ep->log_csv);
	free(ep);
}

static int flush_all(struct store *s, struct serving *sv, struct mlfs_err *err);

/* The serving thread.  It is handed its state: looking it up from the
 * store (serving_get) while store_close frees the states would make a
 * new one that nothing stops. */
static void *flusher_main(void *arg)
{
	struct serving *sv = arg;
	struct store *s = sv->store;
	pthread_mutex_lock(&sv->lock);
	while (!sv->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += FLUSH_EVERY_MS / 1000;
		pthread_cond_timedwait(&sv->wake, &sv->lock, &until);
		if (sv->stop)
			break;
		pthread_mutex_unlock(&sv->lock);
		flush_all(s, sv, NULL);
		pthread_mutex_lock(&sv->lock);
	}
	pthread_mutex_unlock(&sv->lock);
	return NULL;
}

static void serving_free(void *p)
{
	struct serving *sv = p;
	pthread_mutex_lock(&sv->lock);
	sv->stop = true;
	pthread_cond_broadcast(&sv->wake);
	bool joined = sv->thread_on;
	pthread_mutex_unlock(&sv->lock);
	if (joined)
		pthread_join(sv->thread, NULL);
	if (sv->store)	/* the last second of log and statistics */
		flush_all(sv->store, sv, NULL);
	while (sv->eps) {
		struct ep_live *ep = sv->eps;
		sv->eps = ep->next;
		ep_free(ep);
	}
	buf_free(&sv->queue);
	pthread_mutex_destroy(&sv->lock);
	pthread_mutex_destroy(&sv->flush_lock);
	pthread_cond_destroy(&sv->wake);
	free(sv);
}

struct serving *serving_get(struct store *s)
{
	return store_state(s, &state_key, serving_make, serving_free);
}

static void thread_start(struct store *s, struct serving *sv)
{
	/* under sv->lock */
	if (sv->thread_on || sv->stop)
		return;
	if (pthread_create(&sv->thread, NULL, flusher_main, sv) == 0)
		sv->thread_on = true;
}

/* ---- statistics records: e/s/ID MODEL\0 VERSION ROLE ---- */

static void key_stats(struct buf *k, uint64_t id, const char *model,
		      uint64_t version, int role)
{
	ep_key(k, 's', id);
	buf_append(k, model, strlen(model) + 1);
	key_put_u64(k, version);
	buf_putc(k, (char)('0' + role));
}

#define F(key, m, t) CODEC_FIELD(key, struct ep_stats, m, CODEC_##t, 0)
static const struct codec_field stats_fields[] = {
	F("rq", requests, UINT), F("rw", rows, UINT), F("er", errors, UINT),
	F("ms", misses, UINT), F("cs", cold_starts, UINT),
	F("cm", cold_max_us, UINT), F("sp", sum_prediction, F64),
	F("mx", lat.max_us, UINT),
};
#undef F
#define STATS_FIELDS (sizeof(stats_fields) / sizeof(stats_fields[0]))

/* The record: the counters above and the latency histogram's non-empty
 * buckets as [index, count] pairs. */
static void encode_stats(struct buf *v, const struct ep_stats *st)
{
	uint32_t nb = 0;
	for (size_t e = 0; e < LATENCY_EXP; e++)
		for (size_t b = 0; b < LATENCY_SUB; b++)
			nb += st->lat.bucket[e][b] != 0;
	buf_reset(v);
	codec_enc_fields(v, st, stats_fields, STATS_FIELDS, 1);
	codec_enc_cstr(v, "h");
	codec_enc_array(v, nb);
	for (size_t e = 0; e < LATENCY_EXP; e++)
		for (size_t b = 0; b < LATENCY_SUB; b++)
			if (st->lat.bucket[e][b]) {
				codec_enc_array(v, 2);
				codec_enc_u64(v, e * LATENCY_SUB + b);
				codec_enc_u64(v, st->lat.bucket[e][b]);
			}
}

static void decode_stats(const char *data, size_t len, struct ep_stats *st)
{
	struct dec *d = codec_dec_new(data, len);
	struct dval r = codec_dec_root(d), h;
	codec_dec_fields(r, st, stats_fields, STATS_FIELDS);
	if (isnan(st->sum_prediction))	/* absent */
		st->sum_prediction = 0;
	if (codec_dval_get(r, "h", &h)) {
		for (size_t i = 0; i < codec_dval_len(h); i++) {
			struct dval pair = codec_dval_at(h, i);
			uint64_t at = 0, n = 0;
			codec_dval_u64(codec_dval_at(pair, 0), &at);
			codec_dval_u64(codec_dval_at(pair, 1), &n);
			if (at < (uint64_t)LATENCY_EXP * LATENCY_SUB) {
				st->lat.bucket[at / LATENCY_SUB][at % LATENCY_SUB] = n;
				st->lat.count += n;
			}
		}
	}
	codec_dec_free(d);
}

/* ---- slots ---- */

static struct ep_slot *slot_find(struct ep_live *ep, const char *model,
				 uint64_t version, bool make)
{
	struct ep_slot **pp = &ep->slots;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->version == version && !strcmp((*pp)->model, model))
			return *pp;
	if (!make)
		return NULL;
	struct ep_slot *sl = calloc(1, sizeof(*sl));
	if (!sl)
		mlfs_oom();
	snprintf(sl->model, sizeof(sl->model), "%s", model);
	sl->version = version;
	*pp = sl;	/* at the end: the order versions first served */
	return sl;
}

static void load_stats(struct store *s, struct ep_live *ep)
{
	struct buf lo = { 0 }, hi = { 0 };
	ep_key(&lo, 's', ep->id);
	ep_key(&hi, 's', ep->id + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl), *v = store_iter_value(it, &vl);
		const char *model = k + lo.len;
		size_t ml = strnlen(model, kl - lo.len);
		if (lo.len + ml + 1 + 8 + 1 != kl || ml >= 129)
			continue;
		int role = k[kl - 1] - '0';
		if (role != ROLE_SERVED && role != ROLE_SHADOW)
			continue;
		struct ep_slot *sl = slot_find(ep, model, key_get_u64(model + ml + 1), true);
		decode_stats(v, vl, &sl->stats[role]);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
}

/* EP's traffic (into T) and config.yaml (into C) as stored; their hash. */
static uint64_t ep_texts_read(struct store *s, const struct ep_live *ep,
			      struct buf *t, struct buf *c)
{
	ep_text(s, ep->id, 't', t);
	ep_text(s, ep->id, 'c', c);
	return hash64(c->data ? c->data : "", c->len, hash64(t->data ? t->data : "", t->len, 0));
}

/* Make the texts T and C (hash H) EP's traffic and config: parsed, the
 * routing draws seeded again. */
static void ep_texts_take(struct ep_live *ep, const struct buf *t,
			  const struct buf *c, uint64_t h)
{
	if (traffic_parse(t->data ? t->data : "", t->len, &ep->traffic, NULL))
		memset(&ep->traffic, 0, sizeof(ep->traffic));
	if (endpoint_config_parse(c->data ? c->data : "", c->len, &ep->cfg, NULL))
		endpoint_config_default(&ep->cfg);
	traffic_rng_seed(&ep->rng, ep->cfg.seed);
	ep->texts_hash = h;
	ep->traffic_gen++;
}

/* Read traffic and config.yaml into EP (under its lock, or before it is
 * shared). */
static void ep_reload(struct store *s, struct ep_live *ep)
{
	struct buf t = { 0 }, c = { 0 };
	ep_texts_take(ep, &t, &c, ep_texts_read(s, ep, &t, &c));
	buf_free(&t);
	buf_free(&c);
}

/* When other hosts changed the store since EP last looked (their writes
 * reach this host through its watch): take their traffic or config when
 * those changed, and resolve the traffic's aliases again in any case (an
 * alias moved); an unrelated change leaves the routing draws as they
 * are.  EP's lock held. */
static void ep_follow(struct store *s, struct ep_live *ep)
{
	uint64_t f = store_foreign_seq(s);
	if (ep->foreign == f)
		return;
	ep->foreign = f;
	struct buf t = { 0 }, c = { 0 };
	uint64_t h = ep_texts_read(s, ep, &t, &c);
	if (h != ep->texts_hash)
		ep_texts_take(ep, &t, &c, h);
	else
		ep->traffic_gen++;
	buf_free(&t);
	buf_free(&c);
}

struct ep_live *ep_live_get(struct store *s, const char *name, int *rc)
{
	struct serving *sv = serving_get(s);
	struct endpoint_info e;
	pthread_mutex_lock(&sv->lock);
	struct ep_live *ep = sv->eps;
	while (ep && strcmp(ep->name, name))
		ep = ep->next;
	if (!ep) {
		*rc = ep_record(s, name, &e);
		if (!*rc) {
			ep = calloc(1, sizeof(*ep));
			if (!ep)
				mlfs_oom();
			snprintf(ep->name, sizeof(ep->name), "%s", name);
			ep->id = e.id;
			ep->log_rows = -1;
			pthread_mutex_init(&ep->lock, NULL);
			pthread_cond_init(&ep->loaded, NULL);
			ep_reload(s, ep);
			load_stats(s, ep);
			ep->next = sv->eps;
			sv->eps = ep;
			sv->store = s;
			thread_start(s, sv);
		}
	}
	*rc = ep ? 0 : -ENOENT;
	pthread_mutex_unlock(&sv->lock);
	return ep;
}

void ep_live_update(struct store *s, const char *name)
{
	int rc;
	struct ep_live *ep = ep_live_get(s, name, &rc);
	if (!ep)
		return;
	pthread_mutex_lock(&ep->lock);
	ep_reload(s, ep);
	pthread_mutex_unlock(&ep->lock);
}

void ep_live_drop(struct store *s, const char *name)
{
	struct serving *sv = serving_get(s);
	pthread_mutex_lock(&sv->lock);
	for (struct ep_live *ep = sv->eps; ep; ep = ep->next)
		if (!ep->gone && !strcmp(ep->name, name)) {
			ep->gone = true;
			ep->name[0] = '\0';	/* a new endpoint of the name is new */
		}
	pthread_mutex_unlock(&sv->lock);
}

/* The slot of MODEL@VERSION, READY, with a user counted.  With COLD (a
 * request to be counted), *COLD_EXTRA_US is UINT64_MAX for a warm slot,
 * else this request is its cold start and the value is the load time it
 * did not see itself.  Under no lock; takes EP's. */
static int slot_acquire(struct store *s, struct ep_live *ep, const char *model,
			uint64_t version, struct ep_slot **out, bool cold,
			uint64_t *cold_extra_us, struct mlfs_err *err)
{
	pthread_mutex_lock(&ep->lock);
	struct ep_slot *sl = slot_find(ep, model, version, true);
	while (sl->state == SLOT_LOADING)
		pthread_cond_wait(&ep->loaded, &ep->lock);
	int rc = 0;
	bool here = false;
	if (sl->state == SLOT_IDLE) {
		struct served *m = NULL;
		int64_t t0 = clock_mono_ns();
		sl->state = SLOT_LOADING;
		pthread_mutex_unlock(&ep->lock);
		rc = served_load(s, model, version, &m, err);
		pthread_mutex_lock(&ep->lock);
		sl->m = m;
		sl->state = rc ? SLOT_IDLE : SLOT_READY;
		sl->cold_pending = !rc;
		sl->load_us = (uint64_t)(clock_mono_ns() - t0) / 1000;
		here = true;
		pthread_cond_broadcast(&ep->loaded);
	}
	/* The first request after a load is the cold start: with the load's
	 * time when a write's check loaded it before the request ran. */
	*cold_extra_us = UINT64_MAX;
	if (!rc && cold && sl->cold_pending) {
		sl->cold_pending = false;
		*cold_extra_us = here ? 0 : sl->load_us;
	}
	if (!rc) {
		sl->users++;
		sl->last_used_ns = clock_mono_ns();
	}
	pthread_mutex_unlock(&ep->lock);
	*out = sl;
	return rc;
}

/* ---- routing ---- */

/* Every route's version now: numbers as they are, aliases resolved. */
static int resolve(struct store *s, const struct traffic *t, uint64_t *ver,
		   struct mlfs_err *err)
{
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct traffic_route *r = &t->routes[i];
		char *end;
		unsigned long long n = strtoull(r->ref, &end, 10);
		if (*r->ref >= '1' && *r->ref <= '9' && !*end) {
			struct registry_version v;
			if (registry_version_get(s, r->model, n, &v))
				return mlfs_fail(err, -ENOENT, "traffic names %s@%s, which does not exist", r->model, r->ref);
			ver[i] = n;
		} else if (registry_alias_get(s, r->model, r->ref, &ver[i])) {
			return mlfs_fail(err, -ENOENT, "traffic names %s@%s: model %s has no alias %s now",
					 r->model, r->ref, r->model, r->ref);
		}
	}
	return 0;
}

/* ---- predict ---- */

/* A snapshot of what a request needs of its endpoint. */
struct ep_view {
	struct traffic traffic;
	struct endpoint_config cfg;
	uint64_t traffic_gen;
	double u;		/* this request's draw */
	uint64_t seq;		/* this request's number */
};

/* EP's traffic and config now (another host's change included); with
 * DRAW, the request's routing draw and number too. */
static void ep_view_take(struct store *s, struct ep_live *ep, bool draw,
			 struct ep_view *v)
{
	pthread_mutex_lock(&ep->lock);
	ep_follow(s, ep);
	v->traffic = ep->traffic;
	v->cfg = ep->cfg;
	v->traffic_gen = ep->traffic_gen;
	if (draw) {
		v->u = traffic_rng_next(&ep->rng);
		v->seq = ++ep->requests;
	}
	pthread_mutex_unlock(&ep->lock);
}

/* Endpoint NAME (into *EP) and a new view of it (free it), or NULL when
 * there is no such endpoint. */
static struct ep_view *view_of(struct store *s, const char *name, bool draw,
			       struct ep_live **ep)
{
	int rc;
	*ep = ep_live_get(s, name, &rc);
	if (!*ep)
		return NULL;
	struct ep_view *v = malloc(sizeof(*v));
	if (!v)
		mlfs_oom();
	ep_view_take(s, *ep, draw, v);
	return v;
}

/* Whether endpoint NAME, as V shows it, takes a request of LEN bytes. */
static int view_admits(const struct ep_view *v, const char *name, size_t len,
		       struct mlfs_err *err)
{
	if (len > v->cfg.max_request_bytes)
		return mlfs_fail(err, -EFBIG, "a request is at most %" PRIu64 " bytes (config.yaml max_request_bytes)",
				 v->cfg.max_request_bytes);
	if (!v->traffic.nserving)
		return mlfs_fail(err, -EINVAL, "endpoint %s has no traffic: write MODEL@REF 100 to its traffic file", name);
	return 0;
}

/* The versions of V's traffic into VER: as resolved for an earlier
 * request while neither the traffic nor the registry changed, else
 * resolved now (and kept). */
static int view_versions(struct store *s, struct ep_live *ep,
			 const struct ep_view *v, uint64_t *ver,
			 struct mlfs_err *err)
{
	uint64_t gen = registry_generation(s);
	pthread_mutex_lock(&ep->lock);
	bool cached = ep->resolved && ep->resolved_traffic_gen == v->traffic_gen &&
		      ep->resolved_registry_gen == gen;
	if (cached)
		memcpy(ver, ep->resolved_ver, sizeof(ep->resolved_ver));
	pthread_mutex_unlock(&ep->lock);
	if (cached)
		return 0;
	int rc = resolve(s, &v->traffic, ver, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&ep->lock);
	if (ep->traffic_gen == v->traffic_gen) {
		memcpy(ep->resolved_ver, ver, sizeof(ep->resolved_ver));
		ep->resolved_traffic_gen = v->traffic_gen;
		ep->resolved_registry_gen = gen;
		ep->resolved = true;
	}
	pthread_mutex_unlock(&ep->lock);
	return 0;
}

static bool is_complete_json(const char *req, size_t len)
{
	size_t i = 0;
	while (i < len && (req[i] == ' ' || req[i] == '\t' || req[i] == '\n' || req[i] == '\r'))
		i++;
	return i < len && req[i] == '{';
}

static int check_request(struct store *s, struct ep_live *ep, const char *name,
			 const struct ep_view *v, const char *req, size_t len,
			 bool complete, struct mlfs_err *err);

int endpoint_predict_check(struct store *s, const char *name,
			   const char *req, size_t len, bool complete,
			   struct mlfs_err *err)
{
	struct ep_live *ep;
	struct ep_view *v = view_of(s, name, false, &ep);
	if (!v)
		return mlfs_fail(err, -ENOENT, "no endpoint '%s'", name);
	int rc = check_request(s, ep, name, v, req, len, complete, err);
	free(v);
	return rc;
}

/* endpoint_predict_check's work on V, EP's traffic and config now. */
static int check_request(struct store *s, struct ep_live *ep, const char *name,
			 const struct ep_view *v, const char *req, size_t len,
			 bool complete, struct mlfs_err *err)
{
	const struct endpoint_config cfg = v->cfg;
	const struct traffic t = v->traffic;
	uint64_t ver[TRAFFIC_MAX_ROUTES];
	int rc = view_admits(v, name, len, err);
	if (!rc)
		rc = view_versions(s, ep, v, ver, err);
	if (rc)
		return rc;
	/* Syntax: a complete request, or the complete lines of a small one
	 * (a big CSV request is checked as it is scored). */
	size_t upto = len;
	if (!complete) {
		if (is_complete_json(req, len) || len > (256u << 10))
			return 0;
		while (upto && req[upto - 1] != '\n')
			upto--;
		if (!upto || !memchr(req, '\n', upto - 1 ? upto - 1 : 1))
			return 0;	/* the header alone says little yet */
	}
	struct request *r = NULL;
	rc = request_parse(req, upto, cfg.max_request_bytes, &r, err);
	if (rc)
		return rc;
	struct ep_slot *sl;
	uint64_t extra;
	rc = slot_acquire(s, ep, t.routes[0].model, ver[0], &sl, false, &extra, err);
	if (!rc) {
		rc = served_check_columns(sl->m, r, err);
		if (!rc)
			rc = served_check_values(sl->m, r, err);
		pthread_mutex_lock(&ep->lock);
		sl->users--;
		pthread_mutex_unlock(&ep->lock);
	}
	if (!rc && cfg.sticky_key[0] && r->names && request_column(r, cfg.sticky_key) < 0)
		rc = mlfs_fail(err, -EINVAL, "the request has no column '%s' (config.yaml sticky_key)", cfg.sticky_key);
	request_free(r);
	return rc;
}

/* One group of rows scored by one version in one role. */
struct group {
	struct ep_slot *slot;
	uint64_t cold_extra_us;	/* UINT64_MAX: a warm request */
	size_t n;
	size_t *rows;
	double *proba, *features;
	uint32_t *misses;
	uint64_t latency_us;
	bool done;		/* counted and its slot let go */
};

static void group_free(struct group *g)
{
	free(g->rows);
	free(g->proba);
	free(g->features);
	free(g->misses);
}

static int group_score(struct store *s, const struct request *r, struct group *g,
		       int64_t t0, struct mlfs_err *err)
{
	const struct served *m = g->slot->m;
	g->proba = calloc(g->n * served_nout(m) + 1, sizeof(double));
	g->features = calloc(g->n * m->nfeatures + 1, sizeof(double));
	g->misses = calloc(g->n + 1, sizeof(uint32_t));
	if (!g->proba || !g->features || !g->misses)
		mlfs_oom();
	struct served_rows sr = { .nrows = g->n, .rows = g->rows, .proba = g->proba,
				  .features = g->features, .misses = g->misses };
	int rc = served_score(s, m, r, &sr, err);
	g->latency_us = (uint64_t)(clock_mono_ns() - t0) / 1000;
	if (g->cold_extra_us != UINT64_MAX)
		g->latency_us += g->cold_extra_us;
	return rc;
}

/* Count G's outcome in its slot's statistics and let the slot go. */
static void group_done(struct ep_live *ep, struct group *g, enum ep_role role,
		       bool failed)
{
	pthread_mutex_lock(&ep->lock);
	struct ep_stats *st = &g->slot->stats[role];
	st->requests++;
	st->dirty = true;
	if (failed) {
		st->errors++;
	} else {
		const struct served *m = g->slot->m;
		st->rows += g->n;
		for (size_t i = 0; i < g->n; i++) {
			st->misses += g->misses[i] != 0;
			st->sum_prediction += served_value(m, g->proba + i * served_nout(m));
		}
		if (g->cold_extra_us != UINT64_MAX) {
			st->cold_starts++;
			if (g->latency_us > st->cold_max_us)
				st->cold_max_us = g->latency_us;
		} else {
			latency_record(&st->lat, g->latency_us);
		}
	}
	g->slot->users--;
	g->slot->last_used_ns = clock_mono_ns();
	g->done = true;
	pthread_mutex_unlock(&ep->lock);
}

/* Let G's slot go uncounted (a request that failed in another group). */
static void group_release(struct ep_live *ep, struct group *g)
{
	if (!g->slot || g->done)
		return;
	pthread_mutex_lock(&ep->lock);
	g->slot->users--;
	g->done = true;
	pthread_mutex_unlock(&ep->lock);
}

static bool sampled(double sample, uint64_t seq, size_t row)
{
	if (sample >= 1)
		return true;
	uint64_t h = hash64(&(uint64_t[2]){ seq, row }, 16, 0x5eed);
	return (double)(h >> 11) * 0x1.0p-53 < sample;
}

static void log_group(struct store *s, struct ep_live *ep, const struct ep_view *v,
		      const char *rid, const struct request *r, const struct group *g,
		      enum ep_role role, const long *keys, size_t nkeys)
{
	size_t *rows = calloc(g->n + 1, sizeof(size_t)), *at = calloc(g->n + 1, sizeof(size_t));
	if (!rows || !at)
		mlfs_oom();
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++)
		if (sampled(v->cfg.log_sample, v->seq, g->rows[i])) {
			rows[n] = g->rows[i];
			at[n++] = i;
		}
	struct log_group lg = {
		.time_us = clock_now_ns() / 1000, .request_id = rid, .m = g->slot->m,
		.role = role, .latency_us = g->latency_us, .req = r,
		.key_cols = keys, .nkeys = nkeys, .n = n, .rows = rows, .at = at,
		.features = g->features, .proba = g->proba, .misses = g->misses,
	};
	if (n)
		inflog_queue(s, ep->id, &lg);
	free(rows);
	free(at);
}

/* The response of the served groups, rows in request order. */
static void respond(const struct request *r, struct group *gs,
		    const size_t *row_group, const size_t *row_at,
		    const long *keys, size_t nkeys, struct buf *out)
{
	size_t n = r->nrows;
	struct served_scored *sc = calloc(n + 1, sizeof(*sc));
	if (!sc)
		mlfs_oom();
	for (size_t i = 0; i < n; i++) {
		const struct group *g = &gs[row_group[i]];
		sc[i].m = g->slot->m;
		sc[i].proba = g->proba + row_at[i] * served_nout(g->slot->m);
	}
	served_respond(r, sc, keys, nkeys, out);
	free(sc);
}

int endpoint_predict(struct store *s, const char *name, const char *req,
		     size_t len, struct buf *out, struct mlfs_err *err)
{
	int64_t t0 = clock_mono_ns();
	struct ep_live *ep;
	struct ep_view *v = view_of(s, name, true, &ep);
	if (!v)
		return mlfs_fail(err, -ENOENT, "no endpoint '%s'", name);
	struct traffic *t = &v->traffic;
	uint64_t ver[TRAFFIC_MAX_ROUTES];
	struct request *r = NULL;
	int rc = view_admits(v, name, len, err);
	if (!rc)
		rc = view_versions(s, ep, v, ver, err);
	if (!rc)
		rc = request_parse(req, len, v->cfg.max_request_bytes, &r, err);
	long sticky = -1;
	if (!rc && v->cfg.sticky_key[0]) {
		sticky = r->names ? request_column(r, v->cfg.sticky_key) : -1;
		if (sticky < 0)
			rc = mlfs_fail(err, -EINVAL, "the request has no column '%s' (config.yaml sticky_key)", v->cfg.sticky_key);
	}
	if (rc) {
		request_free(r);
		free(v);
		return rc;
	}
	/* route: one version per request, or per row by the sticky key */
	size_t n = r->nrows, nt = t->nroutes;
	size_t *row_group = calloc(n + 1, sizeof(size_t));
	size_t *row_at = calloc(n + 1, sizeof(size_t));
	struct group *gs = calloc(nt, sizeof(*gs));
	long *route_group = calloc(nt, sizeof(long));
	if (!row_group || !row_at || !gs || !route_group)
		mlfs_oom();
	size_t ng = 0;
	for (size_t i = 0; i < nt; i++)
		route_group[i] = -1;
	long pick = traffic_pick(t, v->u);
	for (size_t i = 0; i < n; i++) {
		if (sticky >= 0) {
			const char *k = request_cell(r, i, (size_t)sticky);
			pick = traffic_pick_sticky(t, k ? k : "", k ? strlen(k) : 0);
		}
		if (route_group[pick] < 0) {
			route_group[pick] = (long)ng;
			gs[ng].rows = calloc(n, sizeof(size_t));
			if (!gs[ng].rows)
				mlfs_oom();
			ng++;
		}
		struct group *g = &gs[route_group[pick]];
		row_group[i] = (size_t)route_group[pick];
		row_at[i] = g->n;
		g->rows[g->n++] = i;
	}
	for (size_t p = 0; !rc && p < t->nserving; p++) {
		if (route_group[p] < 0)
			continue;
		struct group *g = &gs[route_group[p]];
		rc = slot_acquire(s, ep, t->routes[p].model, ver[p], &g->slot, true, &g->cold_extra_us, err);
		if (rc)
			break;
		rc = group_score(s, r, g, t0, err);
		if (rc)
			group_done(ep, g, ROLE_SERVED, true);
	}
	long keys[64];
	size_t nkeys = 0;
	char rid[40];
	snprintf(rid, sizeof(rid), "%" PRIx64 "-%" PRIu64, (uint64_t)(clock_now_ns() / 1000000), v->seq);
	if (!rc) {
		nkeys = served_key_columns(gs[0].slot->m, r, v->cfg.sticky_key, keys, 64);
		respond(r, gs, row_group, row_at, keys, nkeys, out);
		for (size_t g = 0; g < ng; g++) {
			if (v->cfg.log)
				log_group(s, ep, v, rid, r, &gs[g], ROLE_SERVED, keys, nkeys);
			group_done(ep, &gs[g], ROLE_SERVED, false);
		}
	} else {
		for (size_t g = 0; g < ng; g++)
			group_release(ep, &gs[g]);
	}
	/* shadows watch every row of a request that was answered */
	for (size_t p = t->nserving; !rc && p < nt; p++) {
		struct group sg = { .n = n, .rows = calloc(n + 1, sizeof(size_t)) };
		if (!sg.rows)
			mlfs_oom();
		for (size_t i = 0; i < n; i++)
			sg.rows[i] = i;
		int64_t ts = clock_mono_ns();
		if (!slot_acquire(s, ep, t->routes[p].model, ver[p], &sg.slot, true, &sg.cold_extra_us, NULL)) {
			bool failed = group_score(s, r, &sg, ts, NULL) != 0;
			if (!failed && v->cfg.log)
				log_group(s, ep, v, rid, r, &sg, ROLE_SHADOW, keys, nkeys);
			group_done(ep, &sg, ROLE_SHADOW, failed);
		}
		group_free(&sg);
	}
	for (size_t g = 0; g < ng; g++)
		group_free(&gs[g]);
	free(gs);
	free(route_group);
	free(row_group);
	free(row_at);
	request_free(r);
	free(v);
	return rc;
}

/* ---- flushing, views ---- */

/* Write EP's changed statistics (under no lock; takes EP's). */
static int stats_flush(struct store *s, struct ep_live *ep, struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	struct buf k = { 0 }, v = { 0 };
	pthread_mutex_lock(&ep->lock);
	for (struct ep_slot *sl = ep->slots; sl; sl = sl->next)
		for (int role = 0; role < 2; role++) {
			if (!sl->stats[role].dirty)
				continue;
			key_stats(&k, ep->id, sl->model, sl->version, role);
			encode_stats(&v, &sl->stats[role]);
			store_batch_put(b, k.data, k.len, v.data, v.len);
			sl->stats[role].dirty = false;
		}
	pthread_mutex_unlock(&ep->lock);
	int rc = store_batch_count(b) ? store_write(s, b, false, err) : 0;
	store_batch_free(b);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Unload EP's versions idle for longer than its idle_unload. */
static void unload_idle(struct ep_live *ep)
{
	int64_t now = clock_mono_ns();
	pthread_mutex_lock(&ep->lock);
	uint64_t idle = ep->cfg.idle_unload;
	for (struct ep_slot *sl = ep->slots; sl; sl = sl->next)
		if (sl->state == SLOT_READY && !sl->users &&
		    (ep->gone || (idle && now - sl->last_used_ns >= (int64_t)idle * 1000000000)))
			slot_unload(sl);
	if (ep->gone)
		buf_free(&ep->log_csv);
	pthread_mutex_unlock(&ep->lock);
}

static int flush_all(struct store *s, struct serving *sv, struct mlfs_err *err)
{
	int rc = inflog_flush(s, sv, err);
	pthread_mutex_lock(&sv->lock);
	struct ep_live *eps = sv->eps;
	pthread_mutex_unlock(&sv->lock);
	/* the list only grows at its head: EPS and what follows stay */
	for (struct ep_live *ep = eps; ep; ep = ep->next) {
		if (!rc && !ep->gone)
			rc = stats_flush(s, ep, err);
		unload_idle(ep);
	}
	return rc;
}

int endpoint_flush(struct store *s, struct mlfs_err *err)
{
	return flush_all(s, serving_get(s), err);
}

/* An endpoint and its traffic as of now: what state and stats.csv show. */
struct traffic_view {
	struct ep_live *ep;
	struct traffic t;			/* a copy */
	uint64_t ver[TRAFFIC_MAX_ROUTES];	/* each route's version now */
};

/* V = endpoint NAME and its traffic; no routes when one does not
 * resolve.  0 or -ENOENT. */
static int traffic_now(struct store *s, const char *name,
		       struct traffic_view *v)
{
	int rc;
	if (!(v->ep = ep_live_get(s, name, &rc)))
		return rc;
	pthread_mutex_lock(&v->ep->lock);
	v->t = v->ep->traffic;
	pthread_mutex_unlock(&v->ep->lock);
	if (resolve(s, &v->t, v->ver, NULL))
		v->t.nroutes = v->t.nserving = 0;
	return 0;
}

/* Does route I of V serve SL's model and version? */
static bool route_is(const struct traffic_view *v, size_t i,
		     const struct ep_slot *sl)
{
	return v->ver[i] == sl->version && !strcmp(v->t.routes[i].model, sl->model);
}

static const char *state_name(enum slot_state st)
{
	return st == SLOT_READY ? "READY" : st == SLOT_LOADING ? "LOADING" : "IDLE";
}

int endpoint_state_text(struct store *s, const char *name, struct buf *out)
{
	struct traffic_view v;
	int rc = traffic_now(s, name, &v);
	if (rc)
		return rc;
	const struct traffic *t = &v.t;
	pthread_mutex_lock(&v.ep->lock);
	for (size_t i = 0; i < t->nroutes; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= v.ver[j] == v.ver[i] && !strcmp(t->routes[j].model, t->routes[i].model);
		if (seen)
			continue;
		struct ep_slot *sl = slot_find(v.ep, t->routes[i].model, v.ver[i], false);
		buf_printf(out, "%s@%" PRIu64 " %s\n", t->routes[i].model, v.ver[i],
			   state_name(sl ? sl->state : SLOT_IDLE));
	}
	for (struct ep_slot *sl = v.ep->slots; sl; sl = sl->next) {
		bool listed = false;
		for (size_t i = 0; i < t->nroutes; i++)
			listed |= route_is(&v, i, sl);
		if (!listed && sl->state != SLOT_IDLE)
			buf_printf(out, "%s@%" PRIu64 " %s\n", sl->model, sl->version, state_name(sl->state));
	}
	pthread_mutex_unlock(&v.ep->lock);
	return 0;
}

static void stats_line(struct buf *out, const char *model, uint64_t version,
		       int role, unsigned percent, const struct ep_stats *st)
{
	csv_put_field(out, model, strlen(model));
	buf_printf(out, ",%" PRIu64 ",%s,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",",
		   version, role == ROLE_SHADOW ? "shadow" : "served", percent,
		   st->requests, st->rows, st->errors, st->misses,
		   latency_quantile(&st->lat, 0.5), latency_quantile(&st->lat, 0.99));
	if (st->rows)
		buf_put_double(out, st->sum_prediction / (double)st->rows);
	buf_printf(out, ",%" PRIu64 ",%" PRIu64 "\n", st->cold_starts, st->cold_max_us);
}

int endpoint_stats_csv(struct store *s, const char *name, struct buf *out)
{
	struct traffic_view v;
	int rc = traffic_now(s, name, &v);
	if (rc)
		return rc;
	const struct traffic *t = &v.t;
	buf_puts(out, "model,version,role,traffic_percent,requests,rows,errors,lookup_misses,"
		 "latency_us_p50,latency_us_p99,mean_prediction,cold_starts,cold_latency_us_max\n");
	pthread_mutex_lock(&v.ep->lock);
	for (size_t i = 0; i < t->nroutes; i++)	/* versions in the traffic first */
		slot_find(v.ep, t->routes[i].model, v.ver[i], true);
	for (struct ep_slot *sl = v.ep->slots; sl; sl = sl->next)
		for (int role = 0; role < 2; role++) {
			unsigned percent = 0;
			bool routed = false;
			for (size_t i = 0; i < t->nroutes; i++)
				if (route_is(&v, i, sl) && t->routes[i].shadow == (role == ROLE_SHADOW)) {
					percent += t->routes[i].percent;
					routed = true;
				}
			if (routed || sl->stats[role].requests)
				stats_line(out, sl->model, sl->version, role, percent, &sl->stats[role]);
		}
	pthread_mutex_unlock(&v.ep->lock);
	return 0;
}

/* EP's log.csv: into OUT when OUT, its size into *SIZE when SIZE.  Kept
 * while the log does not change: getattr, open and the kernel's
 * revalidations during a read all ask. */
static int log_csv(struct store *s, struct ep_live *ep, const char *name,
		   struct buf *out, uint64_t *size, struct mlfs_err *err)
{
	int rc = inflog_flush(s, serving_get(s), err);
	if (rc)
		return rc;
	pthread_mutex_lock(&ep->lock);
	bool fresh = ep->log_csv.len && ep->log_csv_gen == ep->log_gen;
	uint64_t gen = ep->log_gen;
	if (fresh && out)
		buf_append(out, ep->log_csv.data, ep->log_csv.len);
	if (fresh && size)
		*size = ep->log_csv.len;
	pthread_mutex_unlock(&ep->lock);
	if (fresh)
		return 0;
	struct buf text = { 0 };
	rc = inflog_csv(s, ep->id, name, &text, err);
	if (!rc && out)
		buf_append(out, text.data, text.len);
	if (!rc && size)
		*size = text.len;
	pthread_mutex_lock(&ep->lock);
	if (!rc && text.len <= LOG_CSV_CACHE_MAX && ep->log_gen == gen) {
		buf_free(&ep->log_csv);
		ep->log_csv = text;
		ep->log_csv_gen = gen;
		text = (struct buf){ 0 };
	}
	pthread_mutex_unlock(&ep->lock);
	buf_free(&text);
	return rc;
}

int endpoint_log_csv(struct store *s, const char *name, struct buf *out,
		     struct mlfs_err *err)
{
	int rc;
	struct ep_live *ep = ep_live_get(s, name, &rc);
	return ep ? log_csv(s, ep, name, out, NULL, err) : rc;
}

int endpoint_log_scan(struct store *s, const char *name, uint64_t *seq,
		      int (*fn)(void *ctx, const struct endpoint_log_row *row),
		      void *ctx, struct mlfs_err *err)
{
	int rc;
	struct ep_live *ep = ep_live_get(s, name, &rc);
	if (!ep)
		return rc;
	rc = inflog_flush(s, serving_get(s), err);
	return rc ? rc : inflog_scan(s, ep->id, seq, fn, ctx, err);
}

int endpoint_log_names(struct store *s, const char *name, struct buf *out)
{
	int rc;
	struct ep_live *ep = ep_live_get(s, name, &rc);
	if (!ep)
		return rc;
	rc = inflog_flush(s, serving_get(s), NULL);
	return rc ? rc : inflog_names(s, ep->id, out);
}

int endpoint_log_csv_size(struct store *s, const char *name, uint64_t *size,
			  struct mlfs_err *err)
{
	int rc;
	struct ep_live *ep = ep_live_get(s, name, &rc);
	return ep ? log_csv(s, ep, name, NULL, size, err) : rc;
}
