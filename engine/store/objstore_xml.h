/* objstore_xml.h - the two S3 answers mlfs reads, parsed without an XML
 * library: a ListObjectsV2 page and an error body.  Input is untrusted
 * bytes (fuzzed: tests/fuzz/fuzz_objstore_xml.c). */
#ifndef MLFS_OBJSTORE_XML_H
#define MLFS_OBJSTORE_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "objstore.h"

/* FN(CTX, key, size) for each <Contents> of a ListBucketResult, in
 * document order (the key decoded, NUL-terminated; a key holding a NUL
 * byte is -EPROTO); *TRUNCATED from <IsTruncated>.  FN's non-zero stops
 * and is returned.  -EPROTO (with a message) for XML that is not well
 * formed, nested deeper than 32, or a Contents without a Key or with a
 * Size that is not a number. */
int objstore_xml_list(const char *xml, size_t len, objstore_list_fn fn,
		      void *ctx, bool *truncated, struct mlfs_err *err);

/* The <Code> and <Message> of an S3 <Error> body into CODE and MSG
 * (NUL-terminated, cut to their sizes; "" when absent or not XML). */
void objstore_xml_error(const char *xml, size_t len, char *code,
			size_t code_size, char *msg, size_t msg_size);

#endif
