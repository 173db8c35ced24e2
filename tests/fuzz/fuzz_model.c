/* fuzz_model.c - the model reader on any bytes.  Properties: it never
 * crashes or reads out of bounds; a model it accepts predicts, and saves
 * to bytes that load back and save identically. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forest/forest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct forest *m = NULL, *m2 = NULL;
	struct buf b1 = { 0 }, b2 = { 0 };

	if (forest_load(data, size, &m, NULL))
		return 0;
	size_t nf = forest_nfeatures(m), nout = forest_nout(m);
	double *x = calloc(nf + 1, sizeof(double));
	double *out = calloc(nout + 1, sizeof(double));
	if (!x || !out)
		abort();
	forest_predict_row(m, x, out);
	for (size_t j = 0; j < nf; j++)
		x[j] = NAN;
	forest_predict_row(m, x, out);
	for (size_t j = 0; j < nf; j++)
		x[j] = 1e300 * (j % 2 ? 1 : -1);
	forest_predict_row(m, x, out);
	if (forest_save(m, &b1, NULL) || forest_load(b1.data, b1.len, &m2, NULL) ||
	    forest_save(m2, &b2, NULL) || b1.len != b2.len ||
	    memcmp(b1.data, b2.data, b1.len))
		abort();
	free(x);
	free(out);
	buf_free(&b1);
	buf_free(&b2);
	forest_free(m);
	forest_free(m2);
	return 0;
}
