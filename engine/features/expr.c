/* expr.c - running compiled feature expressions: group states, fed a
 * row at a time and finished into one value per feature; and values
 * to and from field text.  Evaluation walks the tree: row level
 * (aggregate arguments and where clauses) once per row and slot, group
 * level once per group; over batches of rows (expr_state_add_batch) the
 * common aggregates and where clauses run as loops over the columns
 * instead, with the tree as the fallback.  Parsing is expr_parse.c, names and types
 * expr_resolve.c.  This file knows nothing of tables or stores. */
#include "expr_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* ---- group state cells ---- */

struct cell {
	union {
		int64_t i;
		double f;
		char *s;
	};
	uint32_t len;
	uint8_t set;
};

/* The distinct non-zero values of count_distinct: the first DSET_INLINE
 * in the state itself (most groups have few: no malloc), then a hash
 * table V of CAP slots (0 empty). */
#define DSET_INLINE 12
#define DSET_FIRST_CAP 32
struct dset {
	uint64_t *v;		/* NULL while the values fit in IN */
	uint32_t n, cap;
	uint8_t zero;		/* the value 0 was seen */
	uint64_t in[DSET_INLINE];
};

struct welford {
	int64_t n;
	double mean, m2;
};

struct sumi {
	int64_t i;
	uint8_t ovf;
};

struct avgs {
	double sum;
	int64_t n;
};

size_t expr_agg_size(const struct agg *a)
{
	switch (a->fn) {
	case F_COUNT: return sizeof(int64_t);
	case F_SUM: return a->argt == COL_FLOAT ? sizeof(double) : sizeof(struct sumi);
	case F_AVG: return sizeof(struct avgs);
	case F_STDDEV: return sizeof(struct welford);
	case F_COUNT_DISTINCT: return sizeof(struct dset);
	default: return sizeof(struct cell);
	}
}

size_t expr_state_size(const struct expr_prog *p)
{
	return p->state_size ? p->state_size : 8;
}

void expr_state_init(const struct expr_prog *p, void *state)
{
	memset(state, 0, expr_state_size(p));
}

void expr_state_free(const struct expr_prog *p, void *state)
{
	char *s = state;
	for (size_t i = 0; i < p->naggs; i++) {
		const struct agg *a = &p->aggs[i];
		switch (a->fn) {
		case F_COUNT_DISTINCT:
			free(((struct dset *)(s + a->off))->v);
			break;
		case F_MIN: case F_MAX: case F_FIRST: case F_LAST:
			if (a->argt == COL_STRING)
				free(((struct cell *)(s + a->off))->s);
			break;
		default:
			break;
		}
	}
}

/* ---- evaluation ---- */

struct ectx {
	const struct expr_prog *p;
	const struct xval *row;
	char *state;
	const struct xval *feats;
	const struct xval *as_of;
};

static void eval(const struct ectx *e, const struct xnode *x, struct xval *out);

static double num_of(const struct xval *v)
{
	return v->t == COL_FLOAT ? v->f : (double)v->i;
}

/* A date or timestamp in micros; saturates for dates far out of range
 * (computed ones: day + 1000000w). */
static int64_t us_of(const struct xval *v)
{
	int64_t us;
	if (v->t != COL_DATE)
		return v->i;
	if (__builtin_mul_overflow(v->i, DAY_US, &us))
		return v->i < 0 ? INT64_MIN : INT64_MAX;
	return us;
}

static void set_null(struct xval *v)
{
	v->t = COL_NULL;
	v->i = 0;
	v->s = NULL;
	v->len = 0;
}

static void set_float(struct xval *v, double f)
{
	if (isnan(f) || isinf(f)) {
		set_null(v);
		return;
	}
	v->t = COL_FLOAT;
	v->f = f;
}

static void set_int(struct xval *v, int64_t i)
{
	v->t = COL_INT;
	v->i = i;
}

/* Convert V in place to type T (widening only). */
static void widen_to(struct xval *v, enum col_type t)
{
	if (v->t == COL_NULL || v->t == t)
		return;
	if (t == COL_FLOAT && (v->t == COL_INT || v->t == COL_BOOL)) {
		v->f = (double)v->i;
		v->t = COL_FLOAT;
	} else if (t == COL_INT && v->t == COL_BOOL) {
		v->t = COL_INT;
	} else if (t == COL_TIMESTAMP && v->t == COL_DATE) {
		v->i = us_of(v);
		v->t = COL_TIMESTAMP;
	}
}

static int compare(const struct xval *a, const struct xval *b)
{
	if (a->t == COL_STRING) {
		size_t n = a->len < b->len ? a->len : b->len;
		int c = memcmp(a->s, b->s, n);
		return c ? c : (a->len > b->len) - (a->len < b->len);
	}
	if (expr_is_time(a->t)) {
		if (a->t == b->t)
			return (a->i > b->i) - (a->i < b->i);
		int64_t x = us_of(a), y = us_of(b);
		return (x > y) - (x < y);
	}
	if (a->t != COL_FLOAT && b->t != COL_FLOAT)
		return (a->i > b->i) - (a->i < b->i);
	double x = num_of(a), y = num_of(b);
	return (x > y) - (x < y);
}

static void agg_value(const struct ectx *e, int slot, struct xval *out)
{
	const struct agg *a = &e->p->aggs[slot];
	char *s = e->state + a->off;

	set_null(out);
	switch (a->fn) {
	case F_COUNT:
		set_int(out, *(int64_t *)s);
		break;
	case F_COUNT_DISTINCT: {
		const struct dset *d = (const struct dset *)s;
		set_int(out, (int64_t)d->n + d->zero);
		break;
	}
	case F_SUM:
		if (a->argt == COL_FLOAT) {
			set_float(out, *(double *)s);
		} else {
			const struct sumi *si = (const struct sumi *)s;
			if (!si->ovf)
				set_int(out, si->i);
		}
		break;
	case F_AVG: {
		const struct avgs *av = (const struct avgs *)s;
		if (av->n)
			set_float(out, av->sum / (double)av->n);
		break;
	}
	case F_STDDEV: {
		const struct welford *w = (const struct welford *)s;
		if (w->n >= 2)
			set_float(out, sqrt(w->m2 / (double)(w->n - 1)));
		break;
	}
	default: {
		const struct cell *cl = (const struct cell *)s;
		if (!cl->set)
			break;
		out->t = a->argt;
		if (a->argt == COL_STRING) {
			out->s = cl->s;
			out->len = cl->len;
		} else if (a->argt == COL_FLOAT) {
			out->f = cl->f;
		} else {
			out->i = cl->i;
		}
	}
	}
}

static void eval_bin(const struct ectx *e, const struct xnode *x,
		     struct xval *out)
{
	struct xval a, b;
	eval(e, x->args[0], &a);
	if (x->sub == B_AND || x->sub == B_OR) {
		bool stop = x->sub == B_OR;	/* value that decides alone */
		if (a.t == COL_BOOL && (a.i != 0) == stop) {
			*out = a;
			return;
		}
		eval(e, x->args[1], &b);
		if (b.t == COL_BOOL && (b.i != 0) == stop) {
			*out = b;
			return;
		}
		if (a.t == COL_NULL || b.t == COL_NULL) {
			set_null(out);
			return;
		}
		out->t = COL_BOOL;
		out->i = !stop;
		return;
	}
	eval(e, x->args[1], &b);
	if (a.t == COL_NULL || b.t == COL_NULL) {
		set_null(out);
		return;
	}
	switch (x->sub) {
	case B_EQ: case B_NE: case B_LT: case B_LE: case B_GT: case B_GE: {
		int c = compare(&a, &b);
		bool r = x->sub == B_EQ ? c == 0 : x->sub == B_NE ? c != 0 :
			 x->sub == B_LT ? c < 0 : x->sub == B_LE ? c <= 0 :
			 x->sub == B_GT ? c > 0 : c >= 0;
		out->t = COL_BOOL;
		out->i = r;
		out->s = NULL;
		return;
	}
	default:
		break;
	}
	out->s = NULL;
	out->len = 0;
	if (x->type == COL_DATE || (x->type == COL_TIMESTAMP && (a.t == COL_DURATION || b.t == COL_DURATION))) {
		/* time +- duration */
		const struct xval *t = a.t == COL_DURATION ? &b : &a;
		int64_t d = a.t == COL_DURATION ? a.i : b.i;
		if (x->sub == B_SUB)
			d = -d;
		bool ovf;
		if (x->type == COL_DATE) {
			out->t = COL_DATE;
			ovf = __builtin_add_overflow(t->i, d / DAY_US, &out->i);
		} else {
			out->t = COL_TIMESTAMP;
			ovf = __builtin_mul_overflow(t->i, t->t == COL_DATE ? DAY_US : 1, &out->i) ||
			      __builtin_add_overflow(out->i, d, &out->i);
		}
		if (ovf)
			set_null(out);
		return;
	}
	if (expr_is_time(a.t) && expr_is_time(b.t)) {
		if (x->type == COL_INT) {
			if (__builtin_sub_overflow(a.i, b.i, &out->i))
				set_null(out);
			else
				out->t = COL_INT;
		} else {
			set_float(out, ((double)us_of(&a) - (double)us_of(&b)) / (double)DAY_US);
		}
		return;
	}
	if (x->type == COL_DURATION) {
		out->t = COL_DURATION;
		if (x->sub == B_ADD ? __builtin_add_overflow(a.i, b.i, &out->i)
				    : __builtin_sub_overflow(a.i, b.i, &out->i))
			set_null(out);
		return;
	}
	if (x->type == COL_INT) {
		int64_t r;
		bool ovf;
		switch (x->sub) {
		case B_ADD: ovf = __builtin_add_overflow(a.i, b.i, &r); break;
		case B_SUB: ovf = __builtin_sub_overflow(a.i, b.i, &r); break;
		default: ovf = __builtin_mul_overflow(a.i, b.i, &r); break;
		}
		if (ovf)
			set_null(out);
		else
			set_int(out, r);
		return;
	}
	double p = num_of(&a), q = num_of(&b);
	switch (x->sub) {
	case B_ADD: set_float(out, p + q); break;
	case B_SUB: set_float(out, p - q); break;
	case B_MUL: set_float(out, p * q); break;
	default:
		if (q == 0)
			set_null(out);
		else
			set_float(out, p / q);
	}
}

static void eval_call(const struct ectx *e, const struct xnode *x,
		      struct xval *out)
{
	struct xval a;
	switch (x->sub) {
	case F_COALESCE:
		for (size_t i = 0; i < x->nargs; i++) {
			eval(e, x->args[i], out);
			if (out->t != COL_NULL) {
				widen_to(out, x->type);
				return;
			}
		}
		return;
	case F_ABS:
		eval(e, x->args[0], &a);
		*out = a;
		if (a.t == COL_FLOAT)
			out->f = fabs(a.f);
		else if (a.t == COL_INT || a.t == COL_BOOL) {
			out->t = COL_INT;
			if (a.i == INT64_MIN)
				set_null(out);
			else
				out->i = a.i < 0 ? -a.i : a.i;
		}
		return;
	case F_LOG:
		eval(e, x->args[0], &a);
		if (a.t == COL_NULL || num_of(&a) <= 0)
			set_null(out);
		else
			set_float(out, log(num_of(&a)));
		return;
	case F_DATE: {
		eval(e, x->args[0], &a);
		set_null(out);
		if (a.t == COL_DATE) {
			*out = a;
		} else if (a.t == COL_TIMESTAMP) {
			int64_t d = a.i / DAY_US;
			if (a.i < 0 && a.i % DAY_US)
				d--;
			out->t = COL_DATE;
			out->i = d;
		} else if (a.t == COL_STRING) {
			int32_t d;
			int64_t us;
			if (value_parse_date(a.s, a.len, &d)) {
				out->t = COL_DATE;
				out->i = d;
			} else if (value_parse_timestamp(a.s, a.len, &us)) {
				d = (int32_t)(us / DAY_US - (us < 0 && us % DAY_US ? 1 : 0));
				out->t = COL_DATE;
				out->i = d;
			}
		}
		out->s = NULL;
		return;
	}
	case F_DAYS_SINCE:
		eval(e, x->args[0], &a);
		if (a.t == COL_NULL) {
			set_null(out);
		} else if (x->type == COL_INT) {
			out->s = NULL;
			if (__builtin_sub_overflow(e->as_of->i, a.i, &out->i))
				set_null(out);
			else
				out->t = COL_INT;
		} else {
			out->s = NULL;
			set_float(out, ((double)us_of(e->as_of) - (double)us_of(&a)) / (double)DAY_US);
		}
		return;
	default:
		set_null(out);
	}
}

static void eval(const struct ectx *e, const struct xnode *x, struct xval *out)
{
	switch (x->op) {
	case X_LIT:
		*out = x->lit;
		return;
	case X_COL:
		*out = e->row[x->idx];
		return;
	case X_FEAT:
		*out = e->feats[x->idx];
		return;
	case X_ASOF:
		*out = *e->as_of;
		return;
	case X_AGG:
		agg_value(e, x->idx, out);
		return;
	case X_CALL:
		eval_call(e, x, out);
		return;
	case X_NEG:
		eval(e, x->args[0], out);
		if (out->t == COL_FLOAT)
			out->f = -out->f;
		else if (out->t == COL_INT || out->t == COL_BOOL) {
			out->t = COL_INT;
			if (out->i == INT64_MIN)
				set_null(out);
			else
				out->i = -out->i;
		}
		return;
	case X_NOT:
		eval(e, x->args[0], out);
		if (out->t == COL_BOOL)
			out->i = !out->i;
		return;
	case X_BIN:
		eval_bin(e, x, out);
		return;
	default:
		set_null(out);
	}
}

/* Put non-zero V into table T of CAP slots (a power of two). */
static void dset_slot(uint64_t *t, uint32_t cap, uint64_t v)
{
	uint32_t j = (uint32_t)hash_mix64(v) & (cap - 1);
	while (t[j])
		j = (j + 1) & (cap - 1);
	t[j] = v;
}

/* D's values into a table of CAP slots. */
static int dset_grow(struct dset *d, uint32_t cap)
{
	uint64_t *nv = calloc(cap, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	if (!d->v) {
		for (uint32_t i = 0; i < d->n; i++)
			dset_slot(nv, cap, d->in[i]);
	}
	for (uint32_t i = 0; d->v && i < d->cap; i++)
		if (d->v[i])
			dset_slot(nv, cap, d->v[i]);
	free(d->v);
	d->v = nv;
	d->cap = cap;
	return 0;
}

static int dset_add(struct dset *d, uint64_t v)
{
	if (v == 0) {
		d->zero = 1;
		return 0;
	}
	if (!d->v) {
		for (uint32_t i = 0; i < d->n; i++)
			if (d->in[i] == v)
				return 0;
		if (d->n < DSET_INLINE) {
			d->in[d->n++] = v;
			return 0;
		}
		if (dset_grow(d, DSET_FIRST_CAP))
			return -ENOMEM;
	} else if (2 * (d->n + 1) > d->cap && dset_grow(d, 2 * d->cap)) {
		return -ENOMEM;
	}
	uint32_t j = (uint32_t)hash_mix64(v) & (d->cap - 1);
	while (d->v[j]) {
		if (d->v[j] == v)
			return 0;
		j = (j + 1) & (d->cap - 1);
	}
	d->v[j] = v;
	d->n++;
	return 0;
}

static int cell_put(struct cell *cl, const struct xval *v, enum col_type t)
{
	if (t == COL_STRING) {
		char *s = malloc(v->len + 1);
		if (!s)
			return -ENOMEM;
		memcpy(s, v->s, v->len);
		s[v->len] = '\0';
		free(cl->s);
		cl->s = s;
		cl->len = (uint32_t)v->len;
	} else if (t == COL_FLOAT) {
		cl->f = num_of(v);
	} else {
		cl->i = v->i;
	}
	cl->set = 1;
	return 0;
}

static struct xval cell_xval(const struct cell *cl, enum col_type t)
{
	struct xval v = { .t = t };
	if (t == COL_STRING) {
		v.s = cl->s;
		v.len = cl->len;
	} else if (t == COL_FLOAT) {
		v.f = cl->f;
	} else {
		v.i = cl->i;
	}
	return v;
}

/* Feed value V (not null) to aggregate A's slot S: the one definition of
 * every aggregate's step, shared by the row and the batch paths. */
static int agg_step(const struct agg *a, char *s, struct xval *v)
{
	switch (a->fn) {
	case F_COUNT:
		(*(int64_t *)s)++;
		break;
	case F_SUM:
		if (a->argt == COL_FLOAT) {
			*(double *)s += num_of(v);
		} else {
			struct sumi *si = (struct sumi *)s;
			if (__builtin_add_overflow(si->i, v->i, &si->i))
				si->ovf = 1;
		}
		break;
	case F_AVG: {
		struct avgs *av = (struct avgs *)s;
		av->sum += num_of(v);
		av->n++;
		break;
	}
	case F_STDDEV: {
		struct welford *w = (struct welford *)s;
		double x = num_of(v);
		w->n++;
		double d = x - w->mean;
		w->mean += d / (double)w->n;
		w->m2 += d * (x - w->mean);
		break;
	}
	case F_COUNT_DISTINCT: {
		uint64_t h;
		if (v->t == COL_STRING) {
			h = hash64(v->s, v->len, 0);
		} else if (v->t == COL_FLOAT) {
			double f = v->f == 0 ? 0.0 : v->f;
			if (a->argt != COL_FLOAT && f == (double)(int64_t)f)
				h = (uint64_t)(int64_t)f;
			else
				memcpy(&h, &f, 8);
		} else if (a->argt == COL_FLOAT) {
			double f = (double)v->i;
			memcpy(&h, &f, 8);
		} else {
			h = (uint64_t)v->i;
		}
		if (dset_add((struct dset *)s, h))
			return -ENOMEM;
		break;
	}
	case F_MIN:
	case F_MAX: {
		struct cell *cl = (struct cell *)s;
		widen_to(v, a->argt);
		if (cl->set) {
			struct xval cur = cell_xval(cl, a->argt);
			int c = compare(v, &cur);
			if (a->fn == F_MIN ? c >= 0 : c <= 0)
				break;
		}
		if (cell_put(cl, v, a->argt))
			return -ENOMEM;
		break;
	}
	case F_FIRST:
		if (((struct cell *)s)->set)
			break;
		/* fall through */
	case F_LAST:
		widen_to(v, a->argt);
		if (cell_put((struct cell *)s, v, a->argt))
			return -ENOMEM;
		break;
	default:
		break;
	}
	return 0;
}

int expr_state_add(const struct expr_prog *p, void *state,
		   const struct xval *row, const struct xval *as_of)
{
	struct ectx e = { p, row, state, NULL, as_of };
	const struct xnode *last_where = NULL;
	bool last_pass = true;

	for (size_t i = 0; i < p->naggs; i++) {
		const struct agg *a = &p->aggs[i];
		char *s = (char *)state + a->off;
		struct xval v;

		if (a->where) {
			if (a->where != last_where) {
				eval(&e, a->where, &v);
				last_where = a->where;
				last_pass = v.t == COL_BOOL && v.i;
			}
			if (!last_pass)
				continue;
		}
		if (!a->arg) {
			(*(int64_t *)s)++;
			continue;
		}
		if (a->arg->op == X_COL)
			v = row[a->arg->idx];
		else
			eval(&e, a->arg, &v);
		if (v.t == COL_NULL)
			continue;
		int rc = agg_step(a, s, &v);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- column at a time ---- */

/* Does X read nothing of a row or a group (literals, as_of and
 * operations on them)? */
static bool node_constant(const struct xnode *x)
{
	if (x->op == X_COL || x->op == X_AGG || x->op == X_FEAT || x->op == X_IDENT)
		return false;
	for (size_t i = 0; i < x->nargs; i++)
		if (!node_constant(x->args[i]))
			return false;
	return true;
}

/* Where clause W over the batch into SEL[0..N): 1 where the row passes.
 * A comparison of a column with a constant compares each value with the
 * constant evaluated once; anything else is evaluated row by row. */
static void batch_where(const struct ectx *e0, const struct xnode *w,
			const struct xval *const *cols, size_t n,
			struct xval *row, uint8_t *sel)
{
	const struct expr_prog *p = e0->p;
	struct ectx e = *e0;
	struct xval v;
	if (w->op == X_BIN && w->sub >= B_EQ && w->sub <= B_GE) {
		int ci = w->args[0]->op == X_COL ? 0 : w->args[1]->op == X_COL ? 1 : -1;
		if (ci >= 0 && node_constant(w->args[1 - ci])) {
			struct xval k;
			e.row = NULL;
			eval(&e, w->args[1 - ci], &k);
			const struct xval *cv = cols[w->args[ci]->idx];
			int sub = w->sub;
			for (size_t r = 0; r < n; r++) {
				if (cv[r].t == COL_NULL || k.t == COL_NULL) {
					sel[r] = 0;
					continue;
				}
				int c = ci == 0 ? compare(&cv[r], &k) : compare(&k, &cv[r]);
				sel[r] = sub == B_EQ ? c == 0 : sub == B_NE ? c != 0 :
					 sub == B_LT ? c < 0 : sub == B_LE ? c <= 0 :
					 sub == B_GT ? c > 0 : c >= 0;
			}
			return;
		}
	}
	e.row = row;
	for (size_t r = 0; r < n; r++) {
		for (size_t c = 0; c < p->ncols; c++)
			if (p->uses[c])
				row[c] = cols[c][r];
		eval(&e, w, &v);
		sel[r] = v.t == COL_BOOL && v.i;
	}
}

/* The argument of aggregate A for the batch: the column itself, or
 * computed row by row into TMP (date() of a date column is the column). */
static const struct xval *batch_arg(const struct ectx *e0, const struct agg *a,
				    const struct xval *const *cols, size_t n,
				    struct xval *row, struct xval *tmp)
{
	const struct expr_prog *p = e0->p;
	const struct xnode *x = a->arg;
	struct ectx e = *e0;
	if (x->op == X_COL)
		return cols[x->idx];
	bool date_of_col = x->op == X_CALL && x->sub == F_DATE && x->nargs == 1 &&
			   x->args[0]->op == X_COL;
	e.row = row;
	for (size_t r = 0; r < n; r++) {
		if (date_of_col) {
			const struct xval *v = &cols[x->args[0]->idx][r];
			if (v->t == COL_DATE || v->t == COL_NULL) {
				tmp[r] = *v;
				continue;
			}
		}
		for (size_t c = 0; c < p->ncols; c++)
			if (p->uses[c])
				row[c] = cols[c][r];
		eval(&e, x, &tmp[r]);
	}
	return tmp;
}

#define SLOT(T) ((T *)(states + (size_t)gid[r] * ssize + a->off))

/* One aggregate over the batch: a tight loop for the common numeric
 * steps (the same arithmetic as agg_step, in the same row order), else
 * agg_step row by row. */
static int batch_step(const struct agg *a, char *states, size_t ssize,
		      const uint32_t *gid, const struct xval *av,
		      const uint8_t *sel, size_t n)
{
	if (!a->arg) {
		for (size_t r = 0; r < n; r++)
			*SLOT(int64_t) += sel[r];
		return 0;
	}
	if (a->fn == F_COUNT) {
		for (size_t r = 0; r < n; r++)
			*SLOT(int64_t) += sel[r] && av[r].t != COL_NULL;
		return 0;
	}
	if (a->argt == COL_FLOAT && (a->fn == F_SUM || a->fn == F_AVG || a->fn == F_STDDEV)) {
		for (size_t r = 0; r < n; r++) {
			if (!sel[r] || av[r].t == COL_NULL)
				continue;
			double x = num_of(&av[r]);
			if (a->fn == F_SUM) {
				*SLOT(double) += x;
			} else if (a->fn == F_AVG) {
				SLOT(struct avgs)->sum += x;
				SLOT(struct avgs)->n++;
			} else {
				struct welford *w = SLOT(struct welford);
				w->n++;
				double d = x - w->mean;
				w->mean += d / (double)w->n;
				w->m2 += d * (x - w->mean);
			}
		}
		return 0;
	}
	if (a->fn == F_COUNT_DISTINCT && a->argt != COL_FLOAT && a->argt != COL_STRING) {
		/* The values' slots in the groups' tables first, together. */
		for (size_t r = 0; r < n; r++) {
			const struct dset *d = SLOT(struct dset);
			if (sel[r] && av[r].t == a->argt && d->v)
				__builtin_prefetch(&d->v[hash_mix64((uint64_t)av[r].i) & (d->cap - 1)]);
		}
		for (size_t r = 0; r < n; r++) {
			if (!sel[r] || av[r].t != a->argt)
				continue;
			if (dset_add(SLOT(struct dset), (uint64_t)av[r].i))
				return -ENOMEM;
		}
		/* Values of another type (floats, widened) the slow way. */
	}
	if ((a->fn == F_MIN || a->fn == F_MAX) &&
	    (a->argt == COL_INT || a->argt == COL_DATE || a->argt == COL_TIMESTAMP)) {
		bool mn = a->fn == F_MIN;
		for (size_t r = 0; r < n; r++) {
			if (!sel[r] || av[r].t != a->argt)
				continue;
			struct cell *cl = SLOT(struct cell);
			if (!cl->set || (mn ? av[r].i < cl->i : av[r].i > cl->i)) {
				cl->i = av[r].i;
				cl->set = 1;
			}
		}
		/* Values of another type (wider ones, widened) the slow way. */
	}
	for (size_t r = 0; r < n; r++) {
		if (!sel[r] || av[r].t == COL_NULL)
			continue;
		if ((a->fn == F_MIN || a->fn == F_MAX) && av[r].t == a->argt &&
		    (a->argt == COL_INT || a->argt == COL_DATE || a->argt == COL_TIMESTAMP))
			continue;	/* done above */
		if (a->fn == F_COUNT_DISTINCT && av[r].t == a->argt && a->argt != COL_FLOAT &&
		    a->argt != COL_STRING)
			continue;	/* done above */
		struct xval v = av[r];
		int rc = agg_step(a, states + (size_t)gid[r] * ssize + a->off, &v);
		if (rc)
			return rc;
	}
	return 0;
}

#undef SLOT

int expr_state_add_batch(const struct expr_prog *p, char *states, size_t ssize,
			 const uint32_t *gid, const struct xval *const *cols,
			 size_t n, const struct xval *as_of, struct xval *row)
{
	struct ectx e = { p, NULL, NULL, NULL, as_of };
	const struct xnode *last_where = NULL;
	uint8_t sel[EXPR_BATCH], all[EXPR_BATCH];
	struct xval tmp[EXPR_BATCH];

	memset(all, 1, n);
	for (size_t i = 0; i < p->naggs; i++) {
		const struct agg *a = &p->aggs[i];
		if (a->where && a->where != last_where) {
			batch_where(&e, a->where, cols, n, row, sel);
			last_where = a->where;
		}
		const struct xval *av = a->arg ? batch_arg(&e, a, cols, n, row, tmp) : NULL;
		int rc = batch_step(a, states, ssize, gid, av, a->where ? sel : all, n);
		if (rc)
			return rc;
	}
	return 0;
}

void expr_state_finish(const struct expr_prog *p, void *state,
		       const struct xval *as_of, struct xval *out)
{
	struct ectx e = { p, NULL, state, out, as_of };
	for (size_t i = 0; i < p->nfeats; i++)
		set_null(&out[i]);
	for (size_t k = 0; k < p->nfeats; k++) {
		size_t i = p->order[k];
		eval(&e, p->feats[i].root, &out[i]);
		widen_to(&out[i], p->feats[i].type);
	}
}

/* Plain decimals ("-123.45") with at most 15 digits: the mantissa and
 * the power of ten are exact doubles, so one division is correctly
 * rounded and equals strtod (Clinger's fast path).  False for anything
 * else, which goes the slow way. */
static bool fast_decimal(const char *p, size_t len, double *out)
{
	static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
					1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	size_t i = 0;
	bool neg = false;
	int64_t m = 0;
	int digits = 0, frac = -1;
	if (len && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	for (; i < len; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9') {
			if (++digits > 15)
				return false;
			m = m * 10 + (c - '0');
			if (frac >= 0)
				frac++;
		} else if (c == '.' && frac < 0) {
			frac = 0;
		} else {
			return false;
		}
	}
	if (!digits)
		return false;
	double v = (double)m;
	if (frac > 0)
		v /= pow10[frac];
	*out = neg ? -v : v;
	return true;
}

void expr_value_from_text(enum col_type t, const char *p, size_t len,
			  struct xval *out)
{
	out->s = NULL;
	out->len = 0;
	out->i = 0;
	out->t = COL_NULL;
	if (len == 0)
		return;
	switch (t) {
	case COL_INT:
		if (value_parse_int(p, len, &out->i))
			out->t = COL_INT;
		break;
	case COL_FLOAT:
		if (fast_decimal(p, len, &out->f) || value_parse_float(p, len, &out->f))
			out->t = COL_FLOAT;
		break;
	case COL_BOOL: {
		bool b;
		if (value_parse_bool(p, len, &b)) {
			out->t = COL_BOOL;
			out->i = b;
		}
		break;
	}
	case COL_DATE: {
		int32_t d;
		if (value_parse_date(p, len, &d)) {
			out->t = COL_DATE;
			out->i = d;
		}
		break;
	}
	case COL_TIMESTAMP:
		if (value_parse_timestamp(p, len, &out->i))
			out->t = COL_TIMESTAMP;
		break;
	case COL_STRING:
		out->t = COL_STRING;
		out->s = p;
		out->len = len;
		break;
	default:
		break;
	}
}

size_t expr_value_fmt(const struct xval *v, char tmp[40], const char **p)
{
	*p = tmp;
	switch (v->t) {
	case COL_INT:
		return (size_t)buf_fmt_int(tmp, v->i, "");
	case COL_FLOAT:
		return (size_t)buf_fmt_double(tmp, v->f);
	case COL_BOOL:
		*p = v->i ? "true" : "false";
		return v->i ? 4 : 5;
	case COL_DATE:
		/* Computed dates outside years 0000-9999 have no text: null. */
		if (v->i < -719528 || v->i > 2932896)
			return 0;
		fmt_date(tmp, (int32_t)v->i);
		return strlen(tmp);
	case COL_TIMESTAMP:
		if (v->i < -719528 * DAY_US || v->i > 2932896 * DAY_US)
			return 0;
		fmt_timestamp(tmp, v->i);
		return strlen(tmp);
	case COL_STRING:
		*p = v->s;
		return v->len;
	default:
		return 0;
	}
}

int expr_value_text(const struct xval *v, struct buf *out)
{
	char tmp[40];
	const char *p;
	size_t n = expr_value_fmt(v, tmp, &p);
	return buf_append(out, p, n);
}
