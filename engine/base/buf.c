/* buf.c - growable byte buffer and shortest round-trip number formatting.
 *
 * Not a string library: just append, format and hand over. */
#include "buf.h"
#include "err.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		mlfs_oom();
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return -ENOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if (buf_reserve(b, (size_t)n))
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Values with at most 6 decimals that are exactly m / 10^k (most data
 * read from CSV): their digits come from integer arithmetic, no printf.
 * Sound because m / 10^k, both exact doubles, is correctly rounded like
 * strtod of the same decimal; shortest because the smallest k is taken.
 * Returns the length, or 0 when V is not such a value. */
static int fmt_short_decimal(char *out, double v)
{
	static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };
	double a = fabs(v);
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (int k = 1; k <= 6; k++) {
		double m = nearbyint(a * pow10[k]);
		if (m >= 9007199254740992.0)
			return 0;
		if (m / pow10[k] != a)
			continue;
		uint64_t u = (uint64_t)m, ip = u / (uint64_t)pow10[k], fp = u % (uint64_t)pow10[k];
		char digits[32];
		int n = 0, len = 0;
		do
			digits[n++] = (char)('0' + ip % 10);
		while ((ip /= 10));
		if (v < 0)
			out[len++] = '-';
		while (n)
			out[len++] = digits[--n];
		out[len++] = '.';
		for (int d = k - 1; d >= 0; d--) {
			out[len + d] = (char)('0' + fp % 10);
			fp /= 10;
		}
		len += k;
		out[len] = '\0';
		return len;
	}
	return 0;
}

int buf_fmt_double(char *out, double v)
{
	if (isnan(v))
		return sprintf(out, "nan");
	if (isinf(v))
		return sprintf(out, v > 0 ? "inf" : "-inf");
	if (v == 0)
		return sprintf(out, signbit(v) ? "-0.0" : "0.0");
	/* Integral values of moderate size print like Python: "3.0". */
	if (fabs(v) < 1e16 && v == (double)(int64_t)v)
		return sprintf(out, "%" PRId64 ".0", (int64_t)v);
	int n = fmt_short_decimal(out, v);
	if (n)
		return n;
	/* %g drops trailing zeros, so when 15 digits round-trip their
	 * printout is already the shortest; else 16, else 17 always do.
	 * Subnormals carry fewer significant bits: there the shortest may be
	 * any length, so every precision is tried. */
	for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec < 17; prec++) {
		n = snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return n;
	}
	return snprintf(out, 32, "%.17g", v);
}

int buf_put_double(struct buf *b, double v)
{
	char tmp[40];
	int n = buf_fmt_double(tmp, v);
	return buf_append(b, tmp, (size_t)n);
}

int buf_put_int(struct buf *b, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	return buf_append(b, tmp, (size_t)n);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
