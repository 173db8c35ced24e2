/* monitor.h - drift monitors (DESIGN.md section 7): named monitors whose
 * monitor.yaml says what to watch (an endpoint's inference log or a
 * table) against what (a model version's training profile or a table);
 * a refresh adds the new rows to their time windows and recomputes the
 * windows that changed: profile.csv, drift.csv, performance.csv and
 * alerts.  The scheduler refreshes each monitor once per granularity.
 * This module owns the keys m/ (docs/store-format.md). */
#ifndef MLFS_MONITOR_H
#define MLFS_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

struct monitor_info {
	int64_t ctime_ms, mtime_ms;	/* made; last spec change or refresh */
	uint32_t uid, gid, mode;	/* the creator and the bits mkdir gave
					 * (0, 0, 0755 in older records: their
					 * owner is in attrs) */
	int64_t last_refresh_ms;	/* 0: never */
	uint64_t high_batches;		/* alert batches holding a HIGH line */
	uint64_t alert_batches;		/* all alert batches (MEDIUM or HIGH) */
};

/* A new monitor owned by UID/GID with permission bits MODE, kept in its
 * own record, written in one batch that also removes the attrs.h records
 * under ATTRS and below (may be NULL: what a chmod of an earlier monitor
 * of the name left).  -EEXIST, -EINVAL (name). */
int monitor_create(struct store *s, const char *name, uint32_t uid,
		   uint32_t gid, uint32_t mode, const char *attrs,
		   struct mlfs_err *err);
/* The monitor, everything it computed and the attrs under ATTRS (may be
 * NULL), in one batch.  -ENOENT. */
int monitor_delete(struct store *s, const char *name, const char *attrs,
		   struct mlfs_err *err);
int monitor_stat(struct store *s, const char *name, struct monitor_info *out);
/* FN for each name in order; stops early on non-zero and returns it. */
int monitor_list(struct store *s, int (*fn)(void *ctx, const char *name),
		 void *ctx);

/* monitor.yaml into OUT. */
int monitor_spec_get(struct store *s, const char *name, struct buf *out);
/* Check TEXT (APPLY false: a text still arriving, only what complete
 * lines show) or replace the spec with it (APPLY true), dropping what
 * the old one computed.  An empty text empties the spec.  -EINVAL with
 * line and column, -ENOENT, -EFBIG. */
int monitor_spec_set(struct store *s, const char *name, const char *text,
		     size_t len, bool apply, struct mlfs_err *err);

/* Recompute now (FULL: every window).  One atomic step; the report is
 * kept (monitor_report) also when it fails.  -ENODATA without a spec,
 * -EINVAL when the source or baseline went away. */
int monitor_refresh(struct store *s, const char *name, bool full,
		    struct mlfs_err *err);
/* "1", "now", ... or "full" (with FULL set).  -EINVAL otherwise. */
int monitor_parse_word(const char *text, size_t len, bool *full,
		       struct mlfs_err *err);
/* The last refresh's "key value" lines. */
int monitor_report(struct store *s, const char *name, struct buf *out);

/* The views, header line first.  -ENOENT. */
int monitor_profile_csv(struct store *s, const char *name, struct buf *out);
int monitor_drift_csv(struct store *s, const char *name, struct buf *out);
int monitor_performance_csv(struct store *s, const char *name,
			    struct buf *out);
int monitor_alerts_csv(struct store *s, const char *name, struct buf *out);

/* ---- the scheduler ----
 * A thread that refreshes every monitor whose granularity has passed
 * since its last refresh (so at start every monitor that is due), and
 * says what it did through LOG (monitor name, message; may be NULL). */
struct monitor_scheduler;
typedef void (*monitor_log_fn)(void *ctx, const char *name, const char *msg);
int monitor_scheduler_start(struct store *s, monitor_log_fn log, void *ctx,
			    struct monitor_scheduler **out);
/* Stop and join; waits for a refresh under way.  NULL is a no-op. */
void monitor_scheduler_stop(struct monitor_scheduler *ms);
/* One pass now, at time NOW_MS (what the thread does; for tests).
 * Returns the number of monitors refreshed. */
int monitor_scheduler_tick(struct store *s, int64_t now_ms, monitor_log_fn log,
			   void *ctx);

/* mlfs check: every record decodes and its spec parses; every data key
 * belongs to a monitor.  FN gets a line per problem; returns their number
 * or <0. */
int monitor_check(struct store *s, void (*fn)(void *ctx, const char *problem),
		  void *ctx);

#endif
