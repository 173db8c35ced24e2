/* types.c - recognising and converting typed values in CSV text.
 *
 * Hand-written parsers: they run once per field on ingest, so they avoid
 * locale, allocation and strtod where a quick check decides. */
#include "types.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {
	[COL_NULL] = "null", [COL_BOOL] = "bool", [COL_INT] = "int",
	[COL_FLOAT] = "float", [COL_DATE] = "date",
	[COL_TIMESTAMP] = "timestamp", [COL_STRING] = "string",
};

const char *col_type_name(enum col_type t)
{
	return t <= COL_STRING ? type_names[t] : "?";
}

int col_type_parse(const char *name, size_t len, enum col_type *out)
{
	static const struct { const char *s; enum col_type t; } alias[] = {
		{ "bool", COL_BOOL }, { "boolean", COL_BOOL },
		{ "int", COL_INT }, { "integer", COL_INT }, { "long", COL_INT },
		{ "bigint", COL_INT }, { "float", COL_FLOAT },
		{ "double", COL_FLOAT }, { "date", COL_DATE },
		{ "timestamp", COL_TIMESTAMP }, { "datetime", COL_TIMESTAMP },
		{ "string", COL_STRING }, { "str", COL_STRING },
		{ "text", COL_STRING },
	};
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++) {
		if (strlen(alias[i].s) == len && !strncasecmp(alias[i].s, name, len)) {
			*out = alias[i].t;
			return 0;
		}
	}
	return -EINVAL;
}

bool value_parse_int(const char *p, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (len && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == len || len - i > 19)
		return false;
	for (; i < len; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return false;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX + neg)
		return false;
	if (out)
		*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* Powers of ten that are exact doubles. */
static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Digits P[*I..) into *MANT (at most 19 significant ones: else *EXACT
 * goes false), counting those after the point in *FRAC when FRACTION. */
static bool scan_digits(const char *p, size_t len, size_t *i, uint64_t *mant,
			int *ndig, int *frac, bool fraction, bool *exact)
{
	bool any = false;
	for (; *i < len && p[*i] >= '0' && p[*i] <= '9'; (*i)++) {
		any = true;
		if (*ndig >= 19) {
			*exact = false;
			continue;
		}
		*mant = *mant * 10 + (uint64_t)(p[*i] - '0');
		if (*mant)
			(*ndig)++;
		if (fraction)
			(*frac)++;
	}
	return any;
}

/* Clinger's fast path: a mantissa below 2^53 times an exact power of ten
 * up to 10^22 is one correctly rounded IEEE operation, the same double
 * strtod gives; anything else goes to strtod. */
bool value_parse_float(const char *p, size_t len, double *out)
{
	char tmp[64];
	size_t i = 0;
	uint64_t mant = 0;
	int ndig = 0, frac = 0;
	long e10 = 0;
	bool exact = true, neg = false;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	/* Shape check first: [+-]digits[.digits][(e|E)[+-]digits] or nan/inf. */
	if (p[i] == '+' || p[i] == '-')
		neg = p[i++] == '-';
	size_t rest = len - i;
	char c0 = rest ? (char)tolower((unsigned char)p[i]) : 0;
	if ((c0 == 'n' || c0 == 'i') &&
	    ((rest == 3 && !strncasecmp(p + i, "nan", 3)) ||
	     (rest == 3 && !strncasecmp(p + i, "inf", 3)) ||
	     (rest == 8 && !strncasecmp(p + i, "infinity", 8)))) {
		if (out) {
			double v = c0 == 'n' ? NAN : INFINITY;
			*out = neg ? -v : v;
		}
		return true;
	}
	bool digits = scan_digits(p, len, &i, &mant, &ndig, &frac, false, &exact);
	if (i < len && p[i] == '.') {
		i++;
		digits |= scan_digits(p, len, &i, &mant, &ndig, &frac, true, &exact);
	}
	if (!digits)
		return false;
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		bool eneg = false;
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		if (i == len)
			return false;
		for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			if (e10 < 100000)
				e10 = e10 * 10 + (p[i] - '0');
		e10 = eneg ? -e10 : e10;
	}
	if (i != len)
		return false;
	if (!out)
		return true;
	e10 -= frac;
	if (exact && mant <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
		double v = (double)mant;
		v = e10 >= 0 ? v * exact_pow10[e10] : v / exact_pow10[-e10];
		*out = neg ? -v : v;
		return true;
	}
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	*out = strtod(tmp, NULL);
	return true;
}

bool value_parse_bool(const char *p, size_t len, bool *out)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };
	for (int i = 0; i < 3; i++) {
		if (len == 4 && !memcmp(p, t[i], 4)) {
			if (out)
				*out = true;
			return true;
		}
		if (len == 5 && !memcmp(p, f[i], 5)) {
			if (out)
				*out = false;
			return true;
		}
	}
	return false;
}

static bool digits_at(const char *p, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return false;
		v = v * 10 + (int)d;
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool value_parse_date(const char *p, size_t len, int32_t *days)
{
	int y, m, d;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (len != 10 || p[4] != '-' || p[7] != '-')
		return false;
	if (!digits_at(p, 4, &y) || !digits_at(p + 5, 2, &m) ||
	    !digits_at(p + 8, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && leap(y)))
		return false;
	if (days)
		*days = (int32_t)days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

bool value_parse_timestamp(const char *p, size_t len, int64_t *micros)
{
	int32_t days;
	int hh = 0, mm = 0, ss = 0;
	int64_t frac = 0;
	int64_t offset_s = 0;

	if (len < 10 || !value_parse_date(p, 10, &days))
		return false;
	size_t i = 10;
	if (i < len) {
		if (p[i] != 'T' && p[i] != ' ')
			return false;
		if (len < i + 6 || !digits_at(p + i + 1, 2, &hh) ||
		    p[i + 3] != ':' || !digits_at(p + i + 4, 2, &mm))
			return false;
		i += 6;
		if (i < len && p[i] == ':') {
			if (len < i + 3 || !digits_at(p + i + 1, 2, &ss))
				return false;
			i += 3;
			if (i < len && p[i] == '.') {
				i++;
				int n = 0;
				while (i < len && p[i] >= '0' && p[i] <= '9') {
					if (n < 6) {
						frac = frac * 10 + (p[i] - '0');
						n++;
					}
					i++;
				}
				if (n == 0)
					return false;
				while (n++ < 6)
					frac *= 10;
			}
		}
		if (hh > 23 || mm > 59 || ss > 60)
			return false;
		if (i < len && p[i] == 'Z') {
			i++;
		} else if (i < len && (p[i] == '+' || p[i] == '-')) {
			int oh, om;
			if (len < i + 6 || !digits_at(p + i + 1, 2, &oh) ||
			    p[i + 3] != ':' || !digits_at(p + i + 4, 2, &om))
				return false;
			offset_s = (oh * 3600 + om * 60) * (p[i] == '+' ? 1 : -1);
			i += 6;
		}
		if (i != len)
			return false;
	}
	if (micros)
		*micros = ((int64_t)days * 86400 + hh * 3600 + mm * 60 + ss -
			   offset_s) * 1000000 + frac;
	return true;
}

/* Whether P[0..LEN) holds any byte of SET. */
static bool strpbrk_n(const char *p, size_t len, const char *set)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] && strchr(set, p[i]))
			return true;
	return false;
}

const char *value_refusal(enum col_type t, const char *p, size_t len)
{
	if (len == 0 || (t != COL_NULL && t != COL_INT && t != COL_FLOAT))
		return NULL;
	size_t i = p[0] == '-' || p[0] == '+';
	bool integer = i < len;
	for (size_t k = i; k < len && integer; k++)
		integer = p[k] >= '0' && p[k] <= '9';
	if (integer && t != COL_FLOAT && !value_parse_int(p, len, NULL))
		return "is beyond the 64-bit integer range (-9223372036854775808 to 9223372036854775807): declare the column float or string in schema to keep it";
	/* Only an exponent or a word leaves the range (a float is at most
	 * 63 bytes: 63 digits fit). */
	double v;
	if (!strpbrk_n(p, len, "eEnNiI") ||
	    !value_parse_float(p, len, &v) || isfinite(v))
		return NULL;
	if (t == COL_NULL && value_infer(p, len) == COL_STRING)
		return NULL;	/* "nan", "inf": text to inference */
	return "is not a finite number: nan, inf and magnitudes beyond 1.8e308 (like 1e400) are refused in a numeric column";
}

enum col_type value_infer(const char *p, size_t len)
{
	if (len == 0)
		return COL_NULL;
	char c = p[0];
	if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
		if (value_parse_int(p, len, NULL))
			return COL_INT;
		if (len == 10 && value_parse_date(p, len, NULL))
			return COL_DATE;
		if (len > 10 && value_parse_timestamp(p, len, NULL))
			return COL_TIMESTAMP;
		if (value_parse_float(p, len, NULL) && strpbrk_n(p, len, "0123456789"))
			return COL_FLOAT;	/* not "-inf" or "+nan": text, as "inf" */
		return COL_STRING;
	}
	if (value_parse_bool(p, len, NULL))
		return COL_BOOL;
	/* "nan"/"inf" alone are strings to inference (pandas reads them as
	 * float, but a column of names like "Nan" must stay text); a declared
	 * float column accepts them. */
	return COL_STRING;
}

enum col_type col_type_widen(enum col_type a, enum col_type b)
{
	if (a == b || b == COL_NULL)
		return a;
	if (a == COL_NULL)
		return b;
	if ((a == COL_INT || a == COL_FLOAT) && (b == COL_INT || b == COL_FLOAT))
		return COL_FLOAT;
	if ((a == COL_DATE || a == COL_TIMESTAMP) &&
	    (b == COL_DATE || b == COL_TIMESTAMP))
		return COL_TIMESTAMP;
	return COL_STRING;
}

bool value_fits(enum col_type t, const char *p, size_t len)
{
	if (len == 0)
		return true;
	switch (t) {
	case COL_NULL:
		return false;
	case COL_BOOL:
		return value_parse_bool(p, len, NULL);
	case COL_INT:
		return value_parse_int(p, len, NULL);
	case COL_FLOAT:
		return value_parse_float(p, len, NULL);
	case COL_DATE:
		return value_parse_date(p, len, NULL);
	case COL_TIMESTAMP:
		return value_parse_timestamp(p, len, NULL);
	case COL_STRING:
		return true;
	}
	return false;
}

bool value_as_double(enum col_type t, const char *p, size_t len, double *out)
{
	int64_t i;
	int32_t d;
	bool b;

	if (len == 0)
		return false;
	switch (t) {
	case COL_INT:
		if (!value_parse_int(p, len, &i))
			return false;
		*out = (double)i;
		return true;
	case COL_FLOAT:
		return value_parse_float(p, len, out);
	case COL_BOOL:
		if (!value_parse_bool(p, len, &b))
			return false;
		*out = b;
		return true;
	case COL_DATE:
		if (!value_parse_date(p, len, &d))
			return false;
		*out = d;
		return true;
	case COL_TIMESTAMP:
		if (!value_parse_timestamp(p, len, &i))
			return false;
		*out = (double)i / 1e6;
		return true;
	default:
		return false;
	}
}

/* Two digits of V (0-99) at OUT. */
static void put2(char *out, unsigned v)
{
	out[0] = (char)('0' + v / 10);
	out[1] = (char)('0' + v % 10);
}

/* Years 0000-9999 (every date a CSV can hold) without printf, which a
 * refresh would call for every date it writes; others as printf makes
 * them (cut at 10 bytes). */
void fmt_date(char *out, int32_t days)
{
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		snprintf(out, 11, "%04d-%02u-%02u", y, m, d);
		return;
	}
	put2(out, (unsigned)y / 100);
	put2(out + 2, (unsigned)y % 100);
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = '\0';
}

void fmt_timestamp(char *out, int64_t micros)
{
	int64_t secs = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
	int64_t frac = micros - secs * 1000000;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	char date[16];
	fmt_date(date, (int32_t)days);
	if (strlen(date) != 10) {
		snprintf(out, 32, frac ? "%sT%02d:%02d:%02d.%06dZ" : "%sT%02d:%02d:%02dZ",
			 date, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
			 (int)frac);
		return;
	}
	memcpy(out, date, 10);
	out[10] = 'T';
	put2(out + 11, (unsigned)(rem / 3600));
	out[13] = ':';
	put2(out + 14, (unsigned)(rem / 60 % 60));
	out[16] = ':';
	put2(out + 17, (unsigned)(rem % 60));
	size_t n = 19;
	if (frac) {
		out[n++] = '.';
		for (int i = 5; i >= 0; i--, frac /= 10)
			out[n + (size_t)i] = (char)('0' + frac % 10);
		n += 6;
	}
	out[n++] = 'Z';
	out[n] = '\0';
}
