/* fuzz_spec.c - the YAML spec parser and pipeline.yaml on any bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlfs_err err = { 0 };
	struct spec_doc *d = NULL;
	struct pipeline_spec *p = NULL;
	if (spec_parse_yaml((const char *)data, size, &d, &err) == 0)
		spec_doc_free(d);
	if (spec_parse_pipeline((const char *)data, size, &p, &err) == 0)
		pipeline_spec_free(p);
	return 0;
}
