/* fuzz_csv.c - the CSV reader on any bytes, fed in two pieces split where
 * the first input byte says.  Properties: what it accepts, written back
 * with csv_put_field and read again, gives the same fields; a reader that
 * strips a byte order mark reads the text as if the mark were not there. */
#include <stdbool.h>
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

/* TEXT in two pieces cut at CUT, into OUT; STRIP: drop a byte order mark. */
static int read_pieces(const char *text, size_t size, size_t cut, bool strip,
		       struct fields *out)
{
	struct csv_reader *r = csv_reader_new(4096, take, out);
	if (strip)
		csv_reader_strip_bom(r);
	int rc = csv_reader_feed(r, text, cut, NULL);
	if (!rc)
		rc = csv_reader_feed(r, text + cut, size - cut, NULL);
	if (!rc)
		rc = csv_reader_finish(r, NULL);
	csv_reader_free(r);
	return rc;
}

/* A reader that strips a byte order mark gives what the plain one gave
 * (RC, A) for the text without its leading mark, however it is cut. */
static void bom_property(const char *text, size_t size, size_t cut, int rc,
			 const struct fields *a)
{
	bool mark = size >= 3 && !memcmp(text, "\xef\xbb\xbf", 3);
	struct fields m = { 0 }, p = { 0 };
	int mrc = read_pieces(text, size, cut, true, &m);
	const struct fields *want = a;
	int wrc = rc;
	if (mark) {
		wrc = read_pieces(text + 3, size - 3, cut > 3 ? cut - 3 : 0, false, &p);
		want = &p;
	}
	if ((mrc == 0) != (wrc == 0) ||
	    (!mrc && (m.flat.len != want->flat.len ||
		      (m.flat.len && memcmp(m.flat.data, want->flat.data, m.flat.len)))))
		abort();
	buf_free(&m.text);
	buf_free(&m.flat);
	buf_free(&p.text);
	buf_free(&p.flat);
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
	int rc = read_pieces(text, size, cut, false, &a);
	if (rc == 0 && a.text.len) {
		if (csv_parse_all(a.text.data, a.text.len, take, &b, NULL) != 0)
			abort();
		if (a.flat.len != b.flat.len ||
		    memcmp(a.flat.data, b.flat.data, a.flat.len))
			abort();
	}
	bom_property(text, size, cut, rc, &a);
	buf_free(&a.text);
	buf_free(&a.flat);
	buf_free(&b.text);
	buf_free(&b.flat);
	return 0;
}
