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
#include <stdbool.h>
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

/* The text printf("%.Pg") gives for V, P = 15, 16 or 17 whichever is
 * the first to read back as V, made with integer arithmetic for
 * 1e-4 <= |V| < 1e15 (where nearly all computed values fall).  |V| is
 * M * 2^-S exactly (3 <= S <= 66 there), X0 = floor(E2 log10 2) from its
 * binary exponent E2 is its decimal exponent or one less, and one 128-bit
 * product gives W = |V| * 10^K0 = M * 10^K0 / 2^S, K0 = 17 - X0, as its
 * integer part QT (18 or 19 digits, so the exponent X is known) and a
 * remainder REM / 2^S.  The P-digit decimal nearest |V|, as glibc's
 * printf rounds the exact value (half to even), is QT without its last J
 * digits, rounded by them and REM.  That decimal D reads back as V when
 * it lies within half a gap of V: 2 |D 10^J - W| 2^S below 10^K0 (half
 * that below V when M is a power of two, where the gap under V is half as
 * wide), or equal to it with M even (strtod's ties go to the even
 * mantissa).  Then the digits are laid out as %g does in fixed notation
 * without trailing zeros.  Returns the length, or 0 when V is outside
 * that range or %g would print an exponent (the caller uses printf). */
typedef unsigned __int128 u128;

static const uint64_t ipow10[] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
	10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
	100000000000ULL, 1000000000000ULL, 10000000000000ULL,
	100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
	100000000000000000ULL, 1000000000000000000ULL,
	10000000000000000000ULL,
};

static u128 pow10_128(int k)
{
	return k <= 19 ? (u128)ipow10[k] : (u128)ipow10[19] * ipow10[k - 19];
}

static const char digit_pairs[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* The 8 digits of V < 10^8 at OUT. */
static void put8(char *out, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v - hi * 10000;
	uint32_t a = hi / 100, b = hi - a * 100, c = lo / 100, d = lo - c * 100;
	memcpy(out, digit_pairs + 2 * a, 2);
	memcpy(out + 2, digit_pairs + 2 * b, 2);
	memcpy(out + 4, digit_pairs + 2 * c, 2);
	memcpy(out + 6, digit_pairs + 2 * d, 2);
}

/* Copy N bytes 8 at a time: up to 7 more are written (and read). */
static char *copy8(char *o, const char *from, int n)
{
	for (int i = 0; i < n; i += 8)
		memcpy(o + i, from + i, 8);
	return o + n;
}

/* D, P digits, as %g lays out P-digit decimal D * 10^(X - P + 1) with
 * -4 <= X < P: fixed notation, trailing zeros and a bare point dropped.
 * At most 24 bytes are written (OUT has 32). */
static int put_fixed(char *out, bool neg, uint64_t d, int p, int x)
{
	char t[32] = { 0 };	/* D as 17 digits, then room for copy8 */
	uint64_t rest = d % 10000000000000000ULL;
	t[0] = (char)('0' + d / 10000000000000000ULL);
	put8(t + 1, (uint32_t)(rest / 100000000));
	put8(t + 9, (uint32_t)(rest % 100000000));
	const char *dig = t + 17 - p;
	int last = p - 1;	/* the last significant digit kept */
	while (last > x && last > 0 && dig[last] == '0')
		last--;
	char *o = out;
	*o = '-';
	o += neg;
	if (x < 0) {
		memcpy(o, "0.000000", 8);
		o = copy8(o + 1 - x, dig, last + 1);
	} else {
		o = copy8(o, dig, x + 1);
		if (last > x) {
			*o++ = '.';
			o = copy8(o, dig + x + 1, last - x);
		}
	}
	*o = '\0';
	return (int)(o - out);
}

/* Does the decimal D * 10^J, DELTA = D 10^J - QT away from QT, read back
 * as M * 2^-S (W = QT + REM / 2^S, P0 = 10^K0; see above)? */
static bool reads_back(int64_t delta, int s, u128 rem, u128 p0, uint64_t m)
{
	bool even = !(m & 1);
	if (delta > 0) {	/* above W */
		u128 diff = (((u128)delta << s) - rem) << 1;
		return diff < p0 || (diff == p0 && even);
	}
	u128 diff = (((u128)(uint64_t)-delta << s) + rem) << 1;
	if (m == (1ULL << 52))	/* the gap below is half: twice the distance */
		diff <<= 1;
	return diff < p0 || (diff == p0 && even);
}

static int fmt_exact(char *out, double v)
{
	double a = fabs(v);
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	uint64_t bits;
	memcpy(&bits, &a, 8);
	int be = (int)(bits >> 52), e2 = be - 1023;
	uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	int s = 1075 - be;		/* a = m * 2^-s, 3 <= s <= 66 */
	int x = (e2 * 78913) >> 18;	/* floor(e2 log10 2), -5..14 */
	int k0 = 17 - x;
	u128 p0 = pow10_128(k0), n = (u128)m * p0;
	uint64_t qt = (uint64_t)(n >> s);
	u128 rem = n - ((u128)qt << s);
	int nd = 18;
	if (qt >= ipow10[18]) {	/* x was one too low */
		nd = 19;
		x++;
	}
	/* Half a gap of V is B = p0 / 2^(s+1) in units of W, at least BI:
	 * a decimal further than BI + 1 from QT does not read back. */
	uint64_t bi = (uint64_t)(p0 >> (s + 1));
	uint64_t t[5];		/* qt without its last j digits */
	t[0] = qt;
	for (int j = 1; j < 5; j++)
		t[j] = t[j - 1] / 10;
	for (int p = 15; p <= 17; p++) {
		int j = nd - p, xp = x;
		uint64_t q = t[j], r = qt - q * ipow10[j], half = ipow10[j] / 2;
		int64_t delta = -(int64_t)r;
		if (r > half || (r == half && (rem != 0 || (q & 1)))) {
			q++;
			delta += (int64_t)ipow10[j];
		}
		if (q == ipow10[p]) {	/* 9.99.. rounded up to 10.0.. */
			q = ipow10[p - 1];
			xp++;
		}
		if (xp >= p || xp < -4)
			return 0;	/* %g would use an exponent */
		if (p < 17 && (delta > 0 ? (uint64_t)delta > bi + 1 : r > bi))
			continue;
		if (p == 17 || reads_back(delta, s, rem, p0, m))
			return put_fixed(out, v < 0, q, p, xp);
	}
	return 0;
}

/* W and its terminator into OUT (a zero's text is common: no printf). */
static int put_word(char *out, const char *w)
{
	size_t n = strlen(w);
	memcpy(out, w, n + 1);
	return (int)n;
}

int buf_fmt_double(char *out, double v)
{
	if (isnan(v))
		return put_word(out, "nan");
	if (isinf(v))
		return put_word(out, v > 0 ? "inf" : "-inf");
	if (v == 0)
		return put_word(out, signbit(v) ? "-0.0" : "0.0");
	/* Integral values of moderate size print like Python: "3.0". */
	if (fabs(v) < 1e16 && v == (double)(int64_t)v)
		return buf_fmt_int(out, (int64_t)v, ".0");
	int n = fmt_exact(out, v);
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

int buf_fmt_int(char *out, int64_t v, const char *suffix)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	int len = 0;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	memcpy(out + len, p, (size_t)(tmp + sizeof(tmp) - p));
	len += (int)(tmp + sizeof(tmp) - p);
	while (*suffix)
		out[len++] = *suffix++;
	out[len] = '\0';
	return len;
}

int buf_put_int(struct buf *b, int64_t v)
{
	char tmp[32];
	int n = buf_fmt_int(tmp, v, "");
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
