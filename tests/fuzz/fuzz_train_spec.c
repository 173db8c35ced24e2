/* fuzz_train_spec.c - train.yaml and tune.yaml on any bytes: parse them
 * whole and as written so far; what parses has a metric and, for tune, a search space whose
 * suggestions format to parameter texts. */
#include <stdint.h>
#include <stdlib.h>

#include "tpe.h"
#include "train_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (unsigned flags = 0; flags < 4; flags++) {
		bool tune = flags & TRAIN_SPEC_TUNE;
		struct train_spec *sp = NULL;
		struct mlfs_err err = { 0 };
		if (train_spec_parse((const char *)data, size, flags, &sp, &err)) {
			if (sp || !err.msg[0])
				__builtin_trap();
			continue;
		}
		bool max;
		if (!train_spec_metric(sp, tune, &max))
			__builtin_trap();
		if (sp->tune && sp->nspace) {
			double x[64];
			char text[128];
			if (sp->nspace <= 64) {
				tpe_suggest(sp->space, sp->nspace, sp->algo, sp->seed, 0, NULL, 0, x);
				for (size_t j = 0; j < sp->nspace; j++)
					tpe_value_text(&sp->space[j], x[j], text, sizeof(text));
			}
		}
		train_spec_free(sp);
	}
	return 0;
}
