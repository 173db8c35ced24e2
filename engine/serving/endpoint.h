/* endpoint.h - serving endpoints: named front doors to registered model
 * versions.  An endpoint keeps its traffic (traffic.h's text: A/B
 * weights and shadows, refs resolved per request), its config.yaml, an
 * inference log and per-version statistics, and answers predict requests
 * (request.h's formats) through served.h.  Models load on their first
 * request and unload after idle_unload seconds (scale to zero).
 *
 * This module owns the keys e/ (docs/store-format.md "Serving").  The
 * inference log and the statistics are written off the request path by
 * one thread per store, at least every second: a kill -9 loses at most
 * the last second of them, never a prediction's answer. */
#ifndef MLFS_ENDPOINT_H
#define MLFS_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

#define ENDPOINT_TEXT_MAX (64u << 10)	/* traffic, config.yaml */

/* config.yaml, flat keys, every one optional. */
struct endpoint_config {
	uint64_t idle_unload;		/* seconds; 0: never unload */
	char sticky_key[129];		/* route each row by a hash of this
					 * request column; "": per request */
	bool log;			/* inference log on (true) */
	double log_sample;		/* fraction of rows logged (1) */
	uint64_t log_retention_rows;	/* newest rows kept (1,000,000) */
	uint64_t log_retention_days;	/* rows younger than this kept (30) */
	uint64_t max_request_bytes;	/* 16 MiB */
	uint64_t seed;			/* routing generator's seed (0) */
};

void endpoint_config_default(struct endpoint_config *c);
/* Parse config.yaml.  -EINVAL with "line L, column C: reason" for an
 * unknown key or a bad value. */
int endpoint_config_parse(const char *text, size_t len,
			  struct endpoint_config *out, struct mlfs_err *err);

struct endpoint_info {
	uint64_t id;
	int64_t created_ms, updated_ms;	/* updated: traffic or config */
	uint32_t uid, gid;		/* the creator (0 in older records:
					 * their owner is in attrs) */
	uint32_t mode;			/* permission bits made with (0755 in
					 * older records) */
};

/* ---- endpoints ---- */
/* A new endpoint owned by UID/GID with permission bits MODE, kept in its
 * own record, written in one batch that also removes the attrs.h records
 * under ATTRS and below (may be NULL: what a chmod of an earlier endpoint
 * of the name left).  -EEXIST, -EINVAL (name). */
int endpoint_create(struct store *s, const char *name, uint32_t uid,
		    uint32_t gid, uint32_t mode, const char *attrs,
		    struct mlfs_err *err);
/* Delete NAME with its log, statistics and the attrs under ATTRS (may be
 * NULL), in one batch; its holds on model versions go after it.  Any
 * error of that batch leaves the endpoint whole. */
int endpoint_delete(struct store *s, const char *name, const char *attrs,
		    struct mlfs_err *err);
int endpoint_stat(struct store *s, const char *name, struct endpoint_info *out);
int endpoint_list(struct store *s, int (*fn)(void *ctx, const char *name),
		  void *ctx);

/* ---- traffic and config.yaml ----
 * FIELD is "traffic" or "config.yaml".  Setting checks the text: traffic
 * with traffic_parse, then every MODEL@REF against the registry (-ENOENT
 * for a missing model, version or alias); the endpoint holds every model
 * it names (registry_hold) so that a served model or version cannot be
 * deleted.  With APPLY false only check, as a text still being written:
 * traffic percents may then sum to less than 100. */
int endpoint_text_get(struct store *s, const char *name, const char *field,
		      struct buf *out);
int endpoint_text_set(struct store *s, const char *name, const char *field,
		      const char *text, size_t len, bool apply,
		      struct mlfs_err *err);

/* ---- predict ---- */
/* What can be known of request REQ[0..LEN) (possibly still arriving, or
 * COMPLETE) without scoring: the size limit (-EFBIG), traffic set
 * (-EINVAL), the served versions existing (-ENOENT), and for a complete
 * or small request its syntax and lookup key columns (-EINVAL). */
int endpoint_predict_check(struct store *s, const char *name,
			   const char *req, size_t len, bool complete,
			   struct mlfs_err *err);
/* Score REQ and append the response to OUT (request.h and response.h's
 * formats).  Routing: weighted random per request, or per row by the
 * sticky key; shadow versions score every row too and are logged and
 * counted, never answered.  Errors as endpoint_predict_check's, and
 * -EINVAL for a value of the wrong type; a failed request is counted as
 * an error of the version it was routed to and logs no prediction. */
int endpoint_predict(struct store *s, const char *name, const char *req,
		     size_t len, struct buf *out, struct mlfs_err *err);

/* ---- views ---- */
/* "MODEL@N READY|LOADING|IDLE" a line per version in the traffic (refs
 * resolved now) and per version still loaded. */
int endpoint_state_text(struct store *s, const char *name, struct buf *out);
/* stats.csv: model,version,role,traffic_percent,requests,rows,errors,
 * lookup_misses,latency_us_p50,latency_us_p99,mean_prediction,
 * cold_starts,cold_latency_us_max - a line per version and role that
 * served or watched a request, then versions in the traffic with none. */
int endpoint_stats_csv(struct store *s, const char *name, struct buf *out);
/* log.csv: timestamp,request_id,endpoint,model,version,role,latency_us,
 * status, then the key columns and feature columns (the union over the
 * rows kept), prediction,probability.  Pending rows are written first. */
int endpoint_log_csv(struct store *s, const char *name, struct buf *out,
		     struct mlfs_err *err);
/* Its size in bytes, without a copy (the text is kept while the log does
 * not change). */
int endpoint_log_csv_size(struct store *s, const char *name, uint64_t *size,
			  struct mlfs_err *err);

/* ---- the log as rows, for the drift monitors ---- */

enum endpoint_cell_kind { ENDPOINT_CELL_NULL, ENDPOINT_CELL_NUM, ENDPOINT_CELL_STR };
/* A logged value: a number (ints and floats) or a text (categories,
 * keys, names); STR is not NUL-terminated. */
struct endpoint_cell {
	enum endpoint_cell_kind kind;
	double num;
	const char *str;
	size_t len;
};
/* One scored row.  Everything is borrowed until the callback returns. */
struct endpoint_log_row {
	uint64_t record;		/* its record's SEQ: rows of one record
					 * share their names */
	int64_t time_us;		/* when it was scored */
	const char *model;		/* NUL-terminated */
	uint64_t version;
	bool shadow;			/* a shadow's row, not an answer */
	bool lookup_miss;
	size_t nkeys, nfeatures;
	const struct endpoint_cell *key_names, *keys;
	const struct endpoint_cell *feature_names, *features;
	struct endpoint_cell prediction;
	double probability;		/* NAN for a regression */
};
/* Call FN for each row of endpoint NAME's log in records after *SEQ (0:
 * from the first kept), oldest first, after writing the queued rows; *SEQ
 * becomes the last record's.  A non-zero return of FN stops the scan and
 * is returned.  -ENOENT. */
int endpoint_log_scan(struct store *s, const char *name, uint64_t *seq,
		      int (*fn)(void *ctx, const struct endpoint_log_row *row),
		      void *ctx, struct mlfs_err *err);

/* The key and feature column names of the newest logged record, each
 * followed by a NUL, into OUT.  -ENODATA when the log is empty,
 * -ENOENT. */
int endpoint_log_names(struct store *s, const char *name, struct buf *out);

/* ---- mlfs check ----
 * Every endpoint's traffic and config.yaml parse and what the traffic
 * names is held; every hold of an "endpoint/NAME" belongs to an endpoint
 * whose traffic names it (a crash between the holds and the traffic's
 * write can leave one: it only keeps a model from deletion).  FN gets a
 * line per problem; returns their number, or <0. */
int endpoint_check(struct store *s, void (*fn)(void *ctx, const char *problem),
		   void *ctx);

/* Write the queued log rows and statistics now (what the serving thread
 * does every second), and unload models idle for longer than their
 * endpoint's idle_unload. */
int endpoint_flush(struct store *s, struct mlfs_err *err);

#endif
