/* fuzz_objstore_xml.c - S3's XML answers on any bytes: a ListObjectsV2
 * page that parses is written back as XML (keys escaped) and must parse
 * to the same keys, sizes and truncation; an error body always yields
 * two terminated strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_xml.h"

#define KEYS 64

struct got {
	char *key[KEYS];
	uint64_t size[KEYS];
	int n;
};

static int take(void *ctx, const char *key, uint64_t size)
{
	struct got *g = ctx;
	if (g->n == KEYS)
		return 1;	/* enough: a stop is also a path to test */
	g->key[g->n] = strdup(key);
	g->size[g->n++] = size;
	return 0;
}

static void drop(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->key[i]);
	g->n = 0;
}

static void put_escaped(struct buf *b, const char *s)
{
	for (; *s; s++)
		if (*s == '&')
			buf_puts(b, "&amp;");
		else if (*s == '<')
			buf_puts(b, "&lt;");
		else
			buf_putc(b, *s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[64], msg[160];
	objstore_xml_error((const char *)data, size, code, sizeof(code), msg,
			   sizeof(msg));
	if (strnlen(code, sizeof(code)) == sizeof(code) ||
	    strnlen(msg, sizeof(msg)) == sizeof(msg))
		__builtin_trap();

	struct got g = { 0 }, again = { 0 };
	struct mlfs_err err = { 0 };
	bool trunc = false, trunc2 = false;
	int rc = objstore_xml_list((const char *)data, size, take, &g, &trunc,
				   &err);
	if (rc < 0 && !err.msg[0])
		__builtin_trap();
	if (rc == 0) {
		struct buf b = { 0 };
		buf_printf(&b, "<?xml version=\"1.0\"?><ListBucketResult>"
			   "<IsTruncated>%s</IsTruncated>",
			   trunc ? "true" : "false");
		for (int i = 0; i < g.n; i++) {
			buf_puts(&b, "<Contents><Key>");
			put_escaped(&b, g.key[i]);
			buf_printf(&b, "</Key><Size>%llu</Size></Contents>",
				   (unsigned long long)g.size[i]);
		}
		buf_puts(&b, "</ListBucketResult>");
		if (objstore_xml_list(b.data, b.len, take, &again, &trunc2,
				      &err) || again.n != g.n || trunc2 != trunc)
			__builtin_trap();
		for (int i = 0; i < g.n; i++)
			if (strcmp(g.key[i], again.key[i]) ||
			    g.size[i] != again.size[i])
				__builtin_trap();
		buf_free(&b);
	}
	drop(&g);
	drop(&again);
	return 0;
}
