/* stats.c - column statistics over a table scan: counts, nulls, distinct
 * values, min, max, mean and sample standard deviation.
 *
 * One pass, bounded memory: distinct values are remembered as 64-bit
 * hashes up to STATS_EXACT_DISTINCT, with a HyperLogLog sketch kept beside
 * them for columns that go past that.  Results are cached per (table id,
 * version), so a second `cat stats.csv` costs nothing. */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "csv.h"
#include "hash.h"
#include "table.h"
#include "types.h"

#define HLL_BITS 14
#define HLL_REGS (1u << HLL_BITS)

struct col_acc {
	enum col_type type;
	uint64_t count, nulls;
	double dmin, dmax;		/* numeric columns */
	long double mean, m2;		/* Welford, in extended precision */
	char *smin, *smax;		/* other columns */
	size_t sminl, smaxl;
	uint64_t *set;			/* open addressing, 0 = empty */
	size_t set_cap, set_n;
	bool set_full;
	uint8_t *hll;
};

static void set_add(struct col_acc *a, uint64_t h)
{
	unsigned reg = (unsigned)(h >> (64 - HLL_BITS));
	uint64_t rest = (h << HLL_BITS) | (1ull << (HLL_BITS - 1));
	uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
	if (rank > a->hll[reg])
		a->hll[reg] = rank;
	if (a->set_full)
		return;
	if (2 * (a->set_n + 1) > a->set_cap) {
		size_t cap = a->set_cap ? 2 * a->set_cap : 1024;
		if (cap / 2 > STATS_EXACT_DISTINCT) {
			a->set_full = true;
			free(a->set);
			a->set = NULL;
			return;
		}
		uint64_t *s = calloc(cap, sizeof(*s));
		if (!s) {
			a->set_full = true;
			return;
		}
		for (size_t i = 0; i < a->set_cap; i++) {
			if (!a->set[i])
				continue;
			size_t j = a->set[i] & (cap - 1);
			while (s[j])
				j = (j + 1) & (cap - 1);
			s[j] = a->set[i];
		}
		free(a->set);
		a->set = s;
		a->set_cap = cap;
	}
	size_t j = h & (a->set_cap - 1);
	while (a->set[j]) {
		if (a->set[j] == h)
			return;
		j = (j + 1) & (a->set_cap - 1);
	}
	a->set[j] = h;
	a->set_n++;
}

static double hll_estimate(const uint8_t *regs)
{
	double sum = 0;
	unsigned zeros = 0;
	for (unsigned i = 0; i < HLL_REGS; i++) {
		sum += ldexp(1.0, -regs[i]);
		zeros += regs[i] == 0;
	}
	double m = HLL_REGS;
	double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / zeros);
	return e;
}

static bool is_numeric(enum col_type t)
{
	return t == COL_INT || t == COL_FLOAT || t == COL_BOOL;
}

struct stats_acc {
	uint32_t ncols;
	char **names;		/* copies */
	struct col_acc *acc;
};

static void keep_str(char **dst, size_t *dl, const char *p, size_t n)
{
	char *c = realloc(*dst, n + 1);
	if (!c)
		return;
	memcpy(c, p, n);
	c[n] = '\0';
	*dst = c;
	*dl = n;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

void stats_acc_free(struct stats_acc *sa)
{
	if (!sa)
		return;
	for (uint32_t i = 0; sa->acc && i < sa->ncols; i++) {
		free(sa->acc[i].set);
		free(sa->acc[i].hll);
		free(sa->acc[i].smin);
		free(sa->acc[i].smax);
		if (sa->names)
			free(sa->names[i]);
	}
	free(sa->acc);
	free(sa->names);
	free(sa);
}

struct stats_acc *stats_acc_new(uint32_t ncols, char *const *names,
				const enum col_type *types)
{
	struct stats_acc *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return NULL;
	sa->ncols = ncols;
	sa->acc = calloc(ncols ? ncols : 1, sizeof(*sa->acc));
	sa->names = calloc(ncols ? ncols : 1, sizeof(char *));
	if (!sa->acc || !sa->names) {
		stats_acc_free(sa);
		return NULL;
	}
	for (uint32_t i = 0; i < ncols; i++) {
		sa->acc[i].type = types[i];
		sa->acc[i].hll = calloc(HLL_REGS, 1);
		sa->names[i] = strdup(names[i]);
		if (!sa->acc[i].hll || !sa->names[i]) {
			stats_acc_free(sa);
			return NULL;
		}
	}
	return sa;
}

void stats_acc_add(struct stats_acc *sa, uint32_t c, const char *p, size_t len)
{
	if (c >= sa->ncols)
		return;
	struct col_acc *a = &sa->acc[c];
	if (!p || len == 0) {
		a->nulls++;
		return;
	}
	a->count++;
	uint64_t h = hash64(p, len, 0);
	set_add(a, h ? h : 1);	/* 0 marks an empty slot */
	double v;
	if (is_numeric(a->type) && value_as_double(a->type, p, len, &v)) {
		if (a->count == 1 || v < a->dmin)
			a->dmin = v;
		if (a->count == 1 || v > a->dmax)
			a->dmax = v;
		long double d = v - a->mean;
		a->mean += d / (long double)a->count;
		a->m2 += d * (v - a->mean);
	} else if (!is_numeric(a->type)) {
		if (!a->smin || cmp_bytes(p, len, a->smin, a->sminl) < 0)
			keep_str(&a->smin, &a->sminl, p, len);
		if (!a->smax || cmp_bytes(p, len, a->smax, a->smaxl) > 0)
			keep_str(&a->smax, &a->smaxl, p, len);
	}
}

static int stats_record(void *ctx, const struct csv_field *f, size_t n,
			uint64_t line, struct mlfs_err *err)
{
	struct stats_acc *sa = ctx;
	for (size_t i = 0; i < n && i < sa->ncols; i++)
		stats_acc_add(sa, (uint32_t)i, f[i].p, f[i].len);
	return 0;
}

static void put_num(struct buf *out, enum col_type t, double v)
{
	if (t == COL_INT && fabs(v) < 9e15)
		buf_put_int(out, (int64_t)v);
	else
		buf_put_double(out, v);
}

int stats_acc_csv(const struct stats_acc *sa, struct buf *out)
{
	buf_reset(out);
	buf_puts(out, "column,type,count,nulls,distinct,min,max,mean,std\n");
	for (uint32_t i = 0; i < sa->ncols; i++) {
		const struct col_acc *a = &sa->acc[i];
		csv_put_field(out, sa->names[i], strlen(sa->names[i]));
		buf_printf(out, ",%s,%llu,%llu,", col_type_name(a->type == COL_NULL ? COL_STRING : a->type),
			   (unsigned long long)a->count, (unsigned long long)a->nulls);
		if (a->set_full)
			buf_put_int(out, (int64_t)llround(hll_estimate(a->hll)));
		else
			buf_put_int(out, (int64_t)a->set_n);
		buf_putc(out, ',');
		if (a->count && is_numeric(a->type)) {
			put_num(out, a->type, a->dmin);
			buf_putc(out, ',');
			put_num(out, a->type, a->dmax);
			buf_putc(out, ',');
			buf_put_double(out, (double)a->mean);
			buf_putc(out, ',');
			if (a->count > 1)
				buf_put_double(out, (double)sqrtl(a->m2 / (long double)(a->count - 1)));
		} else if (a->count) {
			csv_put_field(out, a->smin, a->sminl);
			buf_putc(out, ',');
			csv_put_field(out, a->smax, a->smaxl);
			buf_puts(out, ",,");
		} else {
			buf_puts(out, ",,,");
		}
		buf_putc(out, '\n');
	}
	return 0;
}

static int compute(struct store *s, const char *name, struct buf *out,
		   struct mlfs_err *err)
{
	char **names;
	enum col_type *types;
	uint32_t ncols;
	int rc = table_columns(s, name, &names, &types, &ncols);
	if (rc)
		return rc;
	struct stats_acc *sa = stats_acc_new(ncols, names, types);
	rc = sa ? table_scan(s, name, stats_record, sa, err) : -ENOMEM;
	if (!rc)
		rc = stats_acc_csv(sa, out);
	stats_acc_free(sa);
	free(names);
	free(types);
	return rc;
}

int stats_table_csv(struct store *s, const char *name, struct buf *out,
		    struct mlfs_err *err)
{
	struct table_info info;
	int rc = table_stat(s, name, &info);
	if (rc)
		return rc;
	if (cache_get(s, CACHE_TABLE_STATS, info.id, info.version, out))
		return 0;
	if ((rc = compute(s, name, out, err)))
		return rc;
	struct table_info after;
	if (table_stat(s, name, &after) || after.version != info.version)
		return 0;	/* changed while we scanned: do not cache */
	cache_put(s, CACHE_TABLE_STATS, info.id, info.version, out);
	return 0;
}
