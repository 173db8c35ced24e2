/* monitor_int.h - what the files of engine/monitor share: the monitor
 * record (monitor.c owns the keys m/), the rows of a window as columns
 * (window.c computes their results), and the refresh (refresh.c).
 * Private to engine/monitor. */
#ifndef MLFS_MONITOR_INT_H
#define MLFS_MONITOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "monitor.h"
#include "monitor_spec.h"
#include "profile.h"
#include "store.h"
#include "strmap.h"
#include "table.h"

struct endpoint_log_row;

/* ---- the record: m/m/NAME ----
 * A monitor's data (rows, results, alerts) live under its data id DID; a
 * new monitor.yaml takes a new DID and deletes the old one's keys in the
 * same batch.  LAYOUT is fixed at the first refresh that finds its
 * columns and kept until the spec changes: every stored block has its
 * columns in this order. */
struct mon_layout {
	bool set;
	char **cols;		/* watched columns, one block */
	size_t ncols;
	char **slices;		/* slice_by, one block */
	size_t nslices;
};

struct mon_record {
	uint64_t did;
	int64_t ctime_ms, mtime_ms;
	uint32_t uid, gid, mode;	/* the creator, the bits mkdir gave
					 * (0, 0, 0755 in older records) */
	struct buf spec;		/* monitor.yaml as written */
	struct mon_layout layout;
	/* where the source was read to */
	uint64_t log_seq;		/* endpoint: the last record read */
	struct table_cursor tcur;	/* table */
	uint64_t block_seq;		/* the next rows block's number */
	char base_tag[300];		/* what the results compare with */
	uint64_t labels_ver;		/* the labels table's version used */
	uint64_t alert_seq;		/* the next alert batch's number */
	uint64_t high_batches;		/* alert batches with a HIGH line */
	int64_t last_ms;		/* the last refresh, 0: never */
	int64_t gran_s;			/* the spec's granularity (scheduler) */
	struct buf report;		/* the last refresh's report */
};

void mon_record_free(struct mon_record *r);
/* Record NAME into R (zeroed first).  -ENOENT. */
int mon_record_load(struct store *s, const struct store_snapshot *snap,
		    const char *name, struct mon_record *r);
/* R as NAME's record into batch B. */
void mon_record_put(struct store_batch *b, const char *name,
		    const struct mon_record *r);
/* Keys of data id DID: KIND 'w' rows blocks (DID WSTART SEQ), 'r'
 * results (DID WSTART), 'a' alert batches (DID SEQ), 'b' the table
 * baseline's profiles (DID). */
void mon_key(struct buf *k, char kind, uint64_t did);
void mon_key_time(struct buf *k, int64_t t);
int64_t mon_key_get_time(const char *p);
/* The lock that serialises refreshes and spec changes in S. */
pthread_mutex_t *mon_lock(struct store *s);

/* ---- the rows of a window, as columns ---- */
enum { CELL_NULL, CELL_NUM, CELL_STR };
/* A cell is a text when STR[i] is set (STR is made at the first text),
 * else a number unless NUM[i] is NaN (null). */
struct wcol {
	double *num;
	uint32_t *str;		/* index in the window's strings; NULL: none */
};

static inline int wcol_kind(const struct wcol *c, size_t i)
{
	if (c->str && c->str[i] != UINT32_MAX)
		return CELL_STR;
	return c->num[i] == c->num[i] ? CELL_NUM : CELL_NULL;
}
struct wdata {
	size_t n, cap;
	size_t ncols, nslices;
	struct strmap *strs;	/* every text of these rows */
	uint32_t *version;	/* "MODEL@VERSION", UINT32_MAX: none */
	uint8_t *shadow;
	uint32_t **slice;	/* [nslices][n], UINT32_MAX: null */
	struct wcol *cols;	/* [ncols] */
	uint32_t *key;		/* the labels' key, UINT32_MAX: none */
	struct wcol pred;
	double *prob;		/* NAN: none */
};

struct wdata *wdata_new(size_t ncols, size_t nslices);
void wdata_free(struct wdata *w);
/* Append an empty row (every cell null); returns its index. */
size_t wdata_add_row(struct wdata *w);
/* Room for N rows in all. */
void wdata_reserve(struct wdata *w, size_t n);
uint32_t wdata_str(struct wdata *w, const char *p, size_t len);
/* Cell setters: text is kept as a number when it reads as one. */
void wcol_set_num(struct wcol *c, size_t row, double v);
void wcol_set_str(struct wdata *w, struct wcol *c, size_t row,
		  const char *p, size_t len);
void wcol_set_text(struct wdata *w, struct wcol *c, size_t row,
		   const char *p, size_t len);
/* Rows [FIRST, FIRST + N) of W as one msgpack block, appended to OUT; a
 * block decoded and appended to W (-EIO when damaged). */
#define WDATA_BLOCK_ROWS 65536
void wdata_encode(const struct wdata *w, size_t first, size_t n, struct buf *out);
int wdata_decode_append(struct wdata *w, const char *p, size_t len);
/* SRC's rows appended to DST (the same layout). */
void wdata_append(struct wdata *dst, const struct wdata *src);

/* ---- results of one window ---- */

/* What a window is compared with. */
struct baseline {
	char tag[300];			/* "model:M@N", "table:T#ID.VER", "" */
	struct profile *prof;		/* NULL: no baseline */
	enum monitor_problem problem;	/* from the model, else AUTO */
	/* a table baseline sliced as the monitor slices: the baseline of
	 * slice KEY=VALUE (a model's training profile has no slices) */
	struct base_slice {
		char *key, *value;
		struct profile *prof;
	} *slices;
	size_t nslices;
};

struct labels {
	struct strmap *keys;		/* key -> index */
	uint32_t *label;		/* index -> label text in TEXTS */
	size_t n;			/* room in LABEL */
	struct strmap *texts;
};

/* What a window's consecutive drift compares with: the window before's
 * groups and their sorted values. */
struct wsum;
void wsum_free(struct wsum *sum);

/* The results of window W ([START, START + GRAN)) of monitor NAME: lines
 * of profile.csv, drift.csv and performance.csv into PROF, DRIFT, PERF,
 * and the MEDIUM/HIGH results as "KEY\tLEVEL\tVALUE\n" lines into LEVELS
 * (KEY: slice_key,slice_value,model,version,column,metric, CSV-quoted).
 * PREV (may be NULL) is the window before's summary, for consecutive
 * drift.  Returns W's summary (free with wsum_free) for the next one. */
struct wsum *window_compute(const struct monitor_spec *sp, const struct mon_layout *lay,
			    const struct baseline *base, const struct labels *lab,
			    int64_t start, const struct wdata *w,
			    const struct wsum *prev, struct buf *prof,
			    struct buf *drift, struct buf *perf, struct buf *levels);
/* The summary of W alone (a window before the first one computed). */
struct wsum *window_summarize(const struct mon_layout *lay, const struct baseline *base,
			      const struct wdata *w);
/* ISO 8601 UTC seconds "2026-12-01T00:00:00Z" (OUT: 40 bytes); with
 * milliseconds it is tracking_fmt_time's. */
void mon_fmt_time(char *out, int64_t seconds);

/* ---- a refresh under way (refresh.c; source.c reads the new rows,
 * baseline.c the baseline and labels) ---- */

struct pending {
	int64_t start;
	struct wdata *rows;	/* the new rows of this window */
};

struct refresh {
	struct store *s;
	const char *name;
	struct monitor_spec *sp;
	struct mon_record r;
	struct baseline base;
	struct labels lab;
	bool have_labels;
	struct pending *win;
	size_t nwin;
	size_t last;		/* the window the last row went to */
	uint64_t rows_in, rows_skipped;
	/* endpoint rows: where each layout column is in the current record */
	uint64_t rec;
	long *at_col, at_key, *at_slice, at_ts;
	/* table rows: each layout column's field */
	long *field_col, field_key, *field_slice, field_ts, field_model, field_pred, field_prob;
	struct store_batch *batch;	/* what a successful run writes */
	bool dropped;			/* the stored windows go (a replace) */
	bool base_built;		/* the table baseline was profiled now */
	int64_t now_ms;			/* the refresh's time: report, alerts */
	char when[40];			/* the same, ISO 8601 with milliseconds */
};

/* source.c: the layout (decided once), and the rows added since the
 * record's cursor into RF->win by window.  *FROM_START: a table source
 * was replaced and is read again whole. */
bool source_decide_layout(struct refresh *rf, uint64_t base_version,
			  const struct endpoint_log_row *first);
int source_read(struct refresh *rf, bool *from_start, struct mlfs_err *err);

/* baseline.c: what the windows are compared with (*VERSION: the model
 * version resolved, 0 for a table), the table baseline's kept profiles,
 * and the labels. */
int baseline_load(struct refresh *rf, uint64_t *version, struct mlfs_err *err);
void baseline_keep(struct refresh *rf, struct store_batch *b);
int labels_load(struct refresh *rf, uint64_t *version, struct mlfs_err *err);
/* The field of column WANT in NAMES[0..N), -1 when absent. */
long mon_field(char **names, uint32_t n, const char *want);

#endif
