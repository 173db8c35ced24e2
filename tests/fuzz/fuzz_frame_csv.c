/* fuzz_frame_csv.c - CSV -> frame on any bytes, then a tiny forest on what
 * loads.  Properties: no crash; a loaded frame is rectangular with codes
 * inside each dictionary; training on it either works or fails with a
 * message, and the model predicts the frame it came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forest/forest.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlfs_err err = { 0 };
	struct frame *f = NULL;

	if (frame_load_csv_buf((const char *)data, size, NULL, &f, &err)) {
		if (!err.msg[0])
			abort();	/* every error says why */
		return 0;
	}
	size_t n = frame_nrows(f), nc = frame_ncols(f);
	if (frame_check(f, NULL))
		abort();
	for (size_t c = 0; c < nc; c++) {
		if (frame_col_kind(f, c) != FRAME_CATEGORICAL)
			continue;
		const int32_t *codes = frame_col_codes(f, c);
		for (size_t i = 0; i < n; i++)
			if (codes[i] < -1 || codes[i] >= (int32_t)frame_col_ncats(f, c))
				abort();
	}
	if (nc >= 2 && nc <= 16 && n <= 256) {
		struct forest_params p;
		struct forest *m = NULL;
		forest_params_default(&p);
		p.n_estimators = 3;
		p.n_jobs = 1;
		p.oob_score = true;
		if (!forest_fit(f, frame_col_name(f, nc - 1), &p, &m, &err)) {
			double *out = malloc((n * forest_nout(m) + 1) * sizeof(double));
			if (!out || forest_predict(m, f, 1, out, &err))
				abort();
			free(out);
			forest_free(m);
		} else if (!err.msg[0]) {
			abort();
		}
	}
	frame_free(f);
	return 0;
}
