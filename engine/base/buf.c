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
 * 1e-4 <= |V| < 1e15 (where nearly all computed values fall).  V is
 * M * 2^-S exactly (S > 0 there: |V| < 2^52 with a fraction, or small),
 * so V * 10^K = M * 10^K / 2^S, and M * 10^K fits in 128 bits (M < 2^53,
 * K <= 20).  The P-digit decimal D / 10^K nearest V is that quotient
 * rounded half to even, as glibc's printf rounds the exact value; D reads
 * back as V when it lies within half a gap of V: |D * 2^(S+1) - 2 M 10^K|
 * below 10^K (half that below V when M is a power of two, where the gap
 * under V is half as wide), or equal to it with M even (strtod's ties go
 * to the even mantissa).  Then the digits are laid out as %g does in
 * fixed notation without trailing zeros.  Returns the length, or 0 when V
 * is outside that range (the caller uses printf). */
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

/* Does D / 10^K read back as M * 2^-S?  N = M * 10^K. */
static bool reads_back(uint64_t d, int s, u128 n, int k, uint64_t m)
{
	u128 lhs = (u128)d << (s + 1), rhs = n << 1, p = pow10_128(k);
	bool pow2 = m == (1ULL << 52);
	if (lhs >= rhs) {
		u128 diff = lhs - rhs;
		return diff < p || (diff == p && !(m & 1));
	}
	u128 diff = rhs - lhs;
	if (pow2)	/* the gap below is half: compare twice the distance */
		return 2 * diff < p || (2 * diff == p && !(m & 1));
	return diff < p || (diff == p && !(m & 1));
}

/* D, P digits, as %g lays out P-digit decimal D * 10^(X - P + 1) with
 * -4 <= X < P: fixed notation, trailing zeros and a bare point dropped. */
static int put_fixed(char *out, bool neg, uint64_t d, int p, int x)
{
	char dig[24];
	int len = 0;
	for (int i = p - 1; i >= 0; i--) {
		dig[i] = (char)('0' + d % 10);
		d /= 10;
	}
	int last = p - 1;	/* the last significant digit kept */
	while (last > 0 && dig[last] == '0' && last > x)
		last--;
	if (neg)
		out[len++] = '-';
	if (x < 0) {
		out[len++] = '0';
		out[len++] = '.';
		for (int i = 0; i < -x - 1; i++)
			out[len++] = '0';
		for (int i = 0; i <= last; i++)
			out[len++] = dig[i];
	} else {
		for (int i = 0; i <= x; i++)
			out[len++] = dig[i];
		if (last > x) {
			out[len++] = '.';
			for (int i = x + 1; i <= last; i++)
				out[len++] = dig[i];
		}
	}
	out[len] = '\0';
	return len;
}

static int fmt_exact(char *out, double v)
{
	double a = fabs(v);
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	uint64_t bits;
	memcpy(&bits, &a, 8);
	int be = (int)(bits >> 52);
	uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	int s = 1075 - be;		/* a = m * 2^-s */
	if (s <= 0)
		return 0;
	/* X: the decimal exponent of a, 10^X <= a < 10^(X+1), from the
	 * binary one: floor(E2 log10 2) is X or X - 1, fixed below. */
	int x = (int)floor((be - 1023) * 0.30102999566398120);
	for (int p = 15; p <= 17; p++) {
		int xx = x, k = p - 1 - xx;
		if (k < 0 || k > 22)
			return 0;
		u128 n = (u128)m * pow10_128(k);
		u128 q = n >> s, rem = n - (q << s), half = (u128)1 << (s - 1);
		/* X estimated one too low: the quotient has P + 1 digits. */
		if (q >= pow10_128(p)) {
			xx++;
			k--;
			n = (u128)m * pow10_128(k);
			q = n >> s;
			rem = n - (q << s);
		} else if (q < pow10_128(p - 1)) {
			xx--;
			k++;
			if (k > 22)
				return 0;
			n = (u128)m * pow10_128(k);
			q = n >> s;
			rem = n - (q << s);
		}
		if (rem > half || (rem == half && (q & 1)))
			q++;
		if (q == pow10_128(p)) {	/* 9.99.. rounded up to 10.0.. */
			q = pow10_128(p - 1);
			xx++;
			k--;
		}
		if (xx >= p || xx < -4)
			return 0;	/* %g would use an exponent */
		if (p == 17 || reads_back((uint64_t)q, s, (u128)m * pow10_128(k), k, m))
			return put_fixed(out, v < 0, (uint64_t)q, p, xx);
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
