/* batch.h - batch scoring: a request of any size scored by one model
 * version as it arrives, in bounded memory.  CSV rows are scored in
 * chunks of BATCH_CHUNK_ROWS as their lines come in; the response goes to
 * a spool file (an unlinked temporary file), never held whole.  JSON
 * requests (one document) are scored at the end, up to BATCH_JSON_MAX
 * bytes.  The same feature lookup and formats as an endpoint's predict;
 * no inference log, no statistics.  Behind models/M/versions/N/score and
 * the jobs' score task. */
#ifndef MLFS_BATCH_H
#define MLFS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define BATCH_CHUNK_ROWS 4096
#define BATCH_JSON_MAX (256u << 20)

struct batch;

/* Start scoring with version VERSION of MODEL (loaded now).  -ENOENT. */
int batch_open(struct store *s, const char *model, uint64_t version,
	       struct batch **out, struct mlfs_err *err);
/* Feed the next LEN bytes of the request.  Errors as predict's, with the
 * row counted from the request's start; the batch accepts nothing more
 * after one. */
int batch_write(struct batch *b, const char *data, size_t len,
		struct mlfs_err *err);
/* End of the request: score what is left.  An empty request or one with
 * no rows is -EINVAL. */
int batch_finish(struct batch *b, struct mlfs_err *err);
/* The spool holding the response (after batch_finish), readable with
 * pread; the batch owns it.  -1 before. */
int batch_spool_fd(const struct batch *b);
uint64_t batch_rows(const struct batch *b);
void batch_free(struct batch *b);

/* The jobs' score task and Databricks' score_batch into a table: every
 * row of table INPUT scored by MODEL@VERSION into table OUTPUT (made when
 * missing, its rows replaced in one commit): the input's key columns, the
 * feature values used (empty when missing), prediction, probability
 * (binary: of the positive class; multiclass: of the predicted one;
 * empty for a regression), model_version and prediction_timestamp (ISO
 * 8601 UTC, the same for every row).  *ROWS gets the count.  Bounded
 * memory, as batch_write.  INPUT is read through its columnar form when
 * it has 1 MiB of rows or more (the same output, byte for byte). */
int batch_score_table(struct store *s, const char *model, uint64_t version,
		      const char *input, const char *output, uint64_t *rows,
		      struct mlfs_err *err);

#endif
