/* fuzz_csv.c - the CSV reader on any bytes, fed in two pieces split where
 * the first input byte says.  Property: what it accepts, written back with
 * csv_put_field and read again, gives the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

struct fields {
	struct buf text;	/* re-emitted canonical CSV */
	struct buf flat;	/* fields joined with \x1f, records with \x1e */
};

static int take(void *ctx, const struct csv_field *f, size_t n,
		uint64_t line, struct mlfs_err *err)
{
	struct fields *fl = ctx;
	if (n == 1 && f[0].len == 0)
		return 0;	/* writes back as a blank line, which is skipped */
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&fl->text, ',');
		csv_put_field(&fl->text, f[i].p, f[i].len);
		buf_append(&fl->flat, f[i].p, f[i].len);
		buf_putc(&fl->flat, 0x1f);
	}
	buf_putc(&fl->text, '\n');
	buf_putc(&fl->flat, 0x1e);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t cut = data[0] % size;
	const char *text = (const char *)data + 1;
	size--;
	if (cut > size)
		cut = size;

	struct fields a = { 0 }, b = { 0 };
	struct csv_reader *r = csv_reader_new(4096, take, &a);
	int rc = csv_reader_feed(r, text, cut, NULL);
	if (!rc)
		rc = csv_reader_feed(r, text + cut, size - cut, NULL);
	if (!rc)
		rc = csv_reader_finish(r, NULL);
	csv_reader_free(r);
	if (rc == 0 && a.text.len) {
		if (csv_parse_all(a.text.data, a.text.len, take, &b, NULL) != 0)
			abort();
		if (a.flat.len != b.flat.len ||
		    memcmp(a.flat.data, b.flat.data, a.flat.len))
			abort();
	}
	buf_free(&a.text);
	buf_free(&a.flat);
	buf_free(&b.text);
	buf_free(&b.flat);
	return 0;
}
