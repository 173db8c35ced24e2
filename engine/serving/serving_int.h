/* serving_int.h - what the files of engine/serving share: the keys e/,
 * the live state of an endpoint in memory (loaded versions, routing,
 * statistics) and the inference log's queue. */
#ifndef MLFS_SERVING_INT_H
#define MLFS_SERVING_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "endpoint.h"
#include "latency.h"
#include "served.h"
#include "traffic.h"

/* ---- keys (endpoint.c) ----
 * e/m/NAME        {id, ctime, mtime}
 * e/t/ID          traffic text (canonical)
 * e/c/ID          config.yaml text (as written)
 * e/l/ID SEQ      an inference log row (inflog.c)
 * e/s/ID MODEL\0 VERSION ROLE   a version's statistics (live.c) */
void ep_key(struct buf *k, char kind, uint64_t id);

/* The record of NAME: 0 or -ENOENT. */
int ep_record(struct store *s, const char *name, struct endpoint_info *out);
/* The stored text of FIELD ('t' traffic, 'c' config) of endpoint ID. */
int ep_text(struct store *s, uint64_t id, char field, struct buf *out);

enum ep_role { ROLE_SERVED, ROLE_SHADOW };

struct ep_stats {
	uint64_t requests, rows, errors, misses, cold_starts, cold_max_us;
	double sum_prediction;
	struct latency lat;
	bool dirty;
};

enum slot_state { SLOT_IDLE, SLOT_LOADING, SLOT_READY };

/* One model version an endpoint has served or watched. */
struct ep_slot {
	struct ep_slot *next;
	char model[129];
	uint64_t version;
	enum slot_state state;
	struct served *m;	/* while READY */
	unsigned users;		/* requests scoring with m */
	int64_t last_used_ns;
	bool cold_pending;	/* loaded; the next request counts as cold */
	uint64_t load_us;	/* how long that load took */
	struct ep_stats stats[2];	/* by enum ep_role */
};

/* An endpoint in memory, made on first use; guarded by its lock. */
struct ep_live {
	struct ep_live *next;
	char name[129];
	uint64_t id;
	pthread_mutex_t lock;
	pthread_cond_t loaded;	/* a slot left LOADING */
	struct traffic traffic;
	uint64_t traffic_gen;	/* bumped by every traffic change */
	uint64_t foreign;	/* store_foreign_seq when last followed */
	uint64_t texts_hash;	/* of the traffic and config.yaml taken */
	/* The traffic's versions as resolved at (traffic_gen, registry
	 * generation): a request resolves again only after a change. */
	bool resolved;
	uint64_t resolved_traffic_gen, resolved_registry_gen;
	uint64_t resolved_ver[TRAFFIC_MAX_ROUTES];
	struct endpoint_config cfg;
	struct traffic_rng rng;
	struct ep_slot *slots;
	uint64_t requests;	/* for request ids */
	int64_t log_rows;	/* rows in the store, -1: not counted yet
				 * (the serving thread's) */
	uint64_t log_gen;	/* bumped when its log rows change */
	uint64_t log_csv_gen;	/* the log_gen log_csv was made at */
	struct buf log_csv;	/* log.csv as last made (getattr, open and
				 * read all want it: made once per change) */
	bool gone;		/* deleted: drop at the next flush */
};

/* The per-store serving state (live.c). */
struct serving {
	pthread_mutex_t lock;	/* the list, the queue, the thread */
	struct ep_live *eps;
	struct buf queue;	/* log rows: [u64 ep id][u32 len][msgpack] */
	size_t queued;
	pthread_t thread;
	bool thread_on, stop;
	pthread_cond_t wake;
	pthread_mutex_t flush_lock;	/* one flush at a time: log_seq, and
					 * each endpoint's log_rows */
	uint64_t log_seq;	/* the last log sequence written */
	struct store *store;	/* whose state this is (for the last flush) */
};

struct serving *serving_get(struct store *s);
/* The live endpoint NAME (loaded from the store on first use), or NULL
 * with -ENOENT.  Never freed while the store is open (gone marks it). */
struct ep_live *ep_live_get(struct store *s, const char *name, int *rc);
/* Forget NAME's live state (deleted endpoint). */
void ep_live_drop(struct store *s, const char *name);
/* A traffic or config change reaches the live endpoint. */
void ep_live_update(struct store *s, const char *name);

/* ---- inference log (inflog.c) ---- */
/* The rows one version scored for one request, in one role: one log
 * record, the column names once. */
struct log_group {
	int64_t time_us;
	const char *request_id;
	const struct served *m;
	enum ep_role role;
	uint64_t latency_us;
	const struct request *req;
	const long *key_cols;		/* request columns logged as keys */
	size_t nkeys;
	size_t n;			/* rows logged */
	const size_t *rows;		/* request row of each */
	const size_t *at;		/* index of each in the arrays below */
	const double *features;		/* per index: the values used */
	const double *proba;		/* per index */
	const uint32_t *misses;		/* per index */
};
/* Encode G and queue it for endpoint ID (caller holds no lock). */
void inflog_queue(struct store *s, uint64_t id, const struct log_group *g);
/* Write the queue to the store and apply each endpoint's retention. */
int inflog_flush(struct store *s, struct serving *sv, struct mlfs_err *err);
/* endpoint_log_scan on endpoint ID. */
int inflog_scan(struct store *s, uint64_t id, uint64_t *seq,
		int (*fn)(void *ctx, const struct endpoint_log_row *row),
		void *ctx, struct mlfs_err *err);
/* endpoint_log_names on endpoint ID (the rows written so far). */
int inflog_names(struct store *s, uint64_t id, struct buf *out);
int inflog_csv(struct store *s, uint64_t id, const char *name,
	       struct buf *out, struct mlfs_err *err);

#endif
