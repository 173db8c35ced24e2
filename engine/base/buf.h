/* buf.h - a growable byte buffer, the one way the engine builds output.
 *
 * Invariant: data[len] is always '\0' once anything was appended, so text
 * can be used as a C string.  buf_free() releases the memory; a zeroed
 * struct buf is a valid empty buffer. */
#ifndef MLFS_BUF_H
#define MLFS_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Make room for N more bytes.  The writers below return 0: out of
 * memory aborts (mlfs_oom, err.h), so their results need no checking;
 * buf_printf alone can fail (-EINVAL for a bad format). */
int buf_reserve(struct buf *b, size_t n);
/* Inline: the hot loops of a refresh and of record encoding append a few
 * bytes at a time, millions of times; only growing leaves the caller. */
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap)
		buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append the shortest text that reads back as exactly V ("nan", "inf",
 * "-inf" for the special values). */
int buf_put_double(struct buf *b, double v);
int buf_put_int(struct buf *b, int64_t v);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hand the bytes to the caller (free() them); B becomes empty. */
char *buf_steal(struct buf *b, size_t *len);

/* Format V into OUT (at least 32 bytes) as the shortest round-trip text:
 * "3.0" for integral values below 1e16, else what printf's %.15g, %.16g
 * or %.17g prints, the first of them that reads back as V (digits made
 * without printf for 1e-4 <= |V| < 1e15).  Returns the length. */
int buf_fmt_double(char *out, double v);
/* Format V in decimal into OUT (at least 21 bytes + SUFFIX), then
 * SUFFIX.  Returns the length. */
int buf_fmt_int(char *out, int64_t v, const char *suffix);

#endif
