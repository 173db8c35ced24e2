/* expr_resolve.c - compiling feature expressions: names get their
 * meaning (column, feature, as_of), nodes their types, aggregates their
 * slots, and features an order in which references come first; and the
 * compiled program's lifetime and accessors.  Text is parsed by
 * expr_parse.c; the program is run by expr.c. */
#include "expr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- resolution and types ---- */

static bool is_num(enum col_type t)
{
	return t == COL_INT || t == COL_FLOAT || t == COL_BOOL || t == COL_NULL;
}

static int find_feat(const struct expr_prog *p, const char *name)
{
	for (size_t i = 0; i < p->nfeats; i++)
		if (!strcmp(p->feats[i].name, name))
			return (int)i;
	return -1;
}

static int find_col(const struct expr_prog *p, const char *name)
{
	for (size_t i = 0; i < p->schema->n; i++)
		if (!strcmp(p->schema->names[i], name))
			return (int)i;
	return -1;
}

static const char *tname(enum col_type t)
{
	if (t == COL_DURATION)
		return "duration";
	if (t == COL_NULL)
		return "null";
	return col_type_name(t);
}

static int visit(struct cctx *c, size_t fi, struct mlfs_err *err);

/* Give X its meaning and type.  IN_AGG: inside an aggregate or a where
 * clause (row level): names are columns. */
static int resolve(struct cctx *c, struct xnode *x, bool in_agg);

/* A name: as_of, a feature defined earlier, or a column inside an aggregate. */
static int resolve_ident(struct cctx *c, struct xnode *x, bool in_agg)
{
	struct expr_prog *p = c->p;
	int rc;

	const char *name = x->lit.s;
	if (!strcmp(name, "as_of")) {
		x->op = X_ASOF;
		x->type = p->as_of_type;
		return 0;
	}
	int fi = in_agg ? -1 : find_feat(p, name);
	int ci = find_col(p, name);
	if (fi >= 0) {
		/* Make sure the referenced feature is typed first. */
		struct feat *self = c->f;
		if (p->feats[fi].state == 1)
			return expr_fail(c, x->pos, "'%s' depends on itself (a cycle of features)", name);
		if (p->feats[fi].state == 0) {
			if ((rc = visit(c, (size_t)fi, c->err)))
				return rc;
			c->f = self;
		}
		x->op = X_FEAT;
		x->idx = fi;
		x->type = p->feats[fi].type;
		return 0;
	}
	if (ci >= 0 && in_agg) {
		x->op = X_COL;
		x->idx = ci;
		x->type = p->schema->types[ci];
		p->uses[ci] = true;
		return 0;
	}
	if (ci >= 0)
		return expr_fail(c, x->pos, "column '%s' must be inside an aggregate, e.g. sum(%s)", name, name);
	if (in_agg && find_feat(p, name) >= 0)
		return expr_fail(c, x->pos, "feature '%s' cannot be used inside an aggregate or where clause", name);
	return expr_fail(c, x->pos, "unknown %s '%s'", in_agg ? "column" : "feature or column", name);
}

/* An aggregate: its argument, where clause and state. */
static int resolve_agg(struct cctx *c, struct xnode *x, bool in_agg)
{
	struct expr_prog *p = c->p;
	int rc;

	if (in_agg)
		return expr_fail(c, x->pos, "an aggregate cannot be nested in another or in a where clause");
	enum xfn fn = (enum xfn)x->sub;
	if (x->star) {
		if (fn != F_COUNT || x->nargs)
			return expr_fail(c, x->pos, "only count takes *");
	} else if (x->nargs != 1) {
		return expr_fail(c, x->pos, "%s takes one argument", expr_fn_name(fn));
	} else if ((rc = resolve(c, x->args[0], true))) {
		return rc;
	}
	enum col_type at = x->star ? COL_INT : x->args[0]->type;
	if (at == COL_DURATION)
		return expr_fail(c, x->pos, "%s of a duration", expr_fn_name(fn));
	switch (fn) {
	case F_COUNT:
	case F_COUNT_DISTINCT:
		x->type = COL_INT;
		break;
	case F_SUM:
	case F_AVG:
	case F_STDDEV:
		if (!is_num(at)) {
			const struct xnode *a = x->args[0];
			if (a->op == X_COL)
				return expr_fail(c, a->pos, "%s needs a number, but column '%s' is %s",
						 expr_fn_name(fn), p->schema->names[a->idx], tname(at));
			return expr_fail(c, a->pos, "%s needs a number, not %s", expr_fn_name(fn), tname(at));
		}
		x->type = fn == F_SUM ? (at == COL_FLOAT ? COL_FLOAT : COL_INT) : COL_FLOAT;
		break;
	default:
		x->type = at;
	}
	/* One slot per aggregate node. */
	if (p->naggs == p->capaggs) {
		size_t cap = p->capaggs ? 2 * p->capaggs : 16;
		struct agg *a = realloc(p->aggs, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		p->aggs = a;
		p->capaggs = cap;
	}
	struct agg *a = &p->aggs[p->naggs];
	a->fn = fn;
	a->argt = fn == F_SUM && at == COL_NULL ? COL_INT : at;
	a->arg = x->star ? NULL : x->args[0];
	a->where = c->f->where;
	a->off = 0;
	x->idx = (int)p->naggs++;
	return 0;
}

/* A scalar function: its arguments and result type. */
static int resolve_call(struct cctx *c, struct xnode *x, bool in_agg)
{
	struct expr_prog *p = c->p;
	int rc;

	enum xfn fn = (enum xfn)x->sub;
	for (size_t i = 0; i < x->nargs; i++)
		if ((rc = resolve(c, x->args[i], in_agg)))
			return rc;
	if (fn != F_COALESCE && x->nargs != 1)
		return expr_fail(c, x->pos, "%s takes one argument", expr_fn_name(fn));
	if (fn == F_COALESCE && x->nargs == 0)
		return expr_fail(c, x->pos, "coalesce takes one or more arguments");
	enum col_type at = x->args[0]->type;
	switch (fn) {
	case F_ABS:
	case F_LOG:
		if (!is_num(at))
			return expr_fail(c, x->args[0]->pos, "%s needs a number, not %s", expr_fn_name(fn), tname(at));
		x->type = fn == F_LOG ? COL_FLOAT : (at == COL_BOOL ? COL_INT : at);
		break;
	case F_DATE:
		if (!expr_is_time(at) && at != COL_STRING && at != COL_NULL)
			return expr_fail(c, x->args[0]->pos, "date() needs a date, a timestamp or text, not %s", tname(at));
		x->type = COL_DATE;
		break;
	case F_DAYS_SINCE:
		if (!expr_is_time(at) && at != COL_NULL)
			return expr_fail(c, x->args[0]->pos, "days_since() needs a date or a timestamp, not %s", tname(at));
		x->type = at == COL_DATE && p->as_of_type == COL_DATE ? COL_INT : COL_FLOAT;
		break;
	case F_COALESCE: {
		enum col_type t = COL_NULL;
		for (size_t i = 0; i < x->nargs; i++) {
			enum col_type u = x->args[i]->type;
			if (u == COL_NULL)
				continue;
			if (t != COL_NULL && !(is_num(t) && is_num(u)) &&
			    !(expr_is_time(t) && expr_is_time(u)) && t != u)
				return expr_fail(c, x->args[i]->pos, "coalesce mixes %s and %s", tname(t), tname(u));
			if (u == COL_DURATION)
				return expr_fail(c, x->args[i]->pos, "coalesce of a duration");
			t = t == COL_NULL ? u : col_type_widen(t, u);
		}
		x->type = t;
		break;
	}
	default:
		break;
	}
	return 0;
}

/* A binary operator: both sides and the result type. */
static int resolve_bin(struct cctx *c, struct xnode *x, bool in_agg)
{
	int rc;

	struct xnode *l = x->args[0], *r = x->args[1];
	if ((rc = resolve(c, l, in_agg)) || (rc = resolve(c, r, in_agg)))
		return rc;
	enum col_type a = l->type, b = r->type;
	switch (x->sub) {
	case B_AND:
	case B_OR:
		if ((a != COL_BOOL && a != COL_NULL) || (b != COL_BOOL && b != COL_NULL))
			return expr_fail(c, x->pos, "%s needs true or false on both sides", x->sub == B_AND ? "and" : "or");
		x->type = COL_BOOL;
		return 0;
	case B_EQ: case B_NE: case B_LT: case B_LE: case B_GT: case B_GE:
		/* A text literal against a date or timestamp is parsed. */
		for (int side = 0; side < 2; side++) {
			struct xnode *lit = side ? r : l, *other = side ? l : r;
			if (lit->op == X_LIT && lit->type == COL_STRING && expr_is_time(other->type)) {
				int64_t us;
				int32_t d;
				if (value_parse_date(lit->lit.s, lit->lit.len, &d)) {
					free((char *)lit->lit.s);
					lit->lit.s = NULL;
					lit->lit.t = lit->type = COL_DATE;
					lit->lit.i = d;
				} else if (value_parse_timestamp(lit->lit.s, lit->lit.len, &us)) {
					free((char *)lit->lit.s);
					lit->lit.s = NULL;
					lit->lit.t = lit->type = COL_TIMESTAMP;
					lit->lit.i = us;
				} else {
					return expr_fail(c, lit->pos, "'%s' is not a date or a timestamp", lit->lit.s);
				}
			}
		}
		a = l->type;
		b = r->type;
		if (!(a == COL_NULL || b == COL_NULL || (is_num(a) && is_num(b)) ||
		      (expr_is_time(a) && expr_is_time(b)) || (a == b && a != COL_DURATION)))
			return expr_fail(c, x->pos, "cannot compare %s with %s", tname(a), tname(b));
		x->type = COL_BOOL;
		return 0;
	case B_ADD:
	case B_SUB:
		if (expr_is_time(a) && b == COL_DURATION) {
			bool days = r->op == X_LIT && r->lit.i % DAY_US == 0;
			x->type = a == COL_DATE && days ? COL_DATE : COL_TIMESTAMP;
			return 0;
		}
		if (x->sub == B_ADD && a == COL_DURATION && expr_is_time(b)) {
			bool days = l->op == X_LIT && l->lit.i % DAY_US == 0;
			x->type = b == COL_DATE && days ? COL_DATE : COL_TIMESTAMP;
			return 0;
		}
		if (x->sub == B_SUB && expr_is_time(a) && expr_is_time(b)) {
			x->type = a == COL_DATE && b == COL_DATE ? COL_INT : COL_FLOAT;
			return 0;
		}
		if (a == COL_DURATION && b == COL_DURATION) {
			x->type = COL_DURATION;
			return 0;
		}
		/* fall through */
	case B_MUL:
	case B_DIV:
		if (!is_num(a) || !is_num(b))
			return expr_fail(c, x->pos, "cannot %s %s and %s",
					 x->sub == B_ADD ? "add" : x->sub == B_SUB ? "subtract" :
					 x->sub == B_MUL ? "multiply" : "divide", tname(a), tname(b));
		if (x->sub == B_DIV || a == COL_FLOAT || b == COL_FLOAT)
			x->type = COL_FLOAT;
		else
			x->type = COL_INT;
		return 0;
	}
	return 0;
}

static int resolve(struct cctx *c, struct xnode *x, bool in_agg)
{
	int rc;

	switch (x->op) {
	case X_LIT:
		return 0;
	case X_IDENT:
		return resolve_ident(c, x, in_agg);
	case X_AGG:
		return resolve_agg(c, x, in_agg);
	case X_CALL:
		return resolve_call(c, x, in_agg);
	case X_NEG:
		if ((rc = resolve(c, x->args[0], in_agg)))
			return rc;
		if (!is_num(x->args[0]->type))
			return expr_fail(c, x->pos, "cannot negate %s", tname(x->args[0]->type));
		x->type = x->args[0]->type == COL_BOOL ? COL_INT : x->args[0]->type;
		return 0;
	case X_NOT:
		if ((rc = resolve(c, x->args[0], in_agg)))
			return rc;
		if (x->args[0]->type != COL_BOOL && x->args[0]->type != COL_NULL)
			return expr_fail(c, x->pos, "not needs true or false, not %s", tname(x->args[0]->type));
		x->type = COL_BOOL;
		return 0;
	case X_BIN:
		return resolve_bin(c, x, in_agg);
	default:
		return 0;
	}
}

static int visit(struct cctx *c, size_t fi, struct mlfs_err *err)
{
	struct expr_prog *p = c->p;
	struct feat *f = &p->feats[fi];
	int rc;

	f->state = 1;
	c->f = f;
	if (f->where) {
		if ((rc = resolve(c, f->where, true)))
			return rc;
		if (f->where->type != COL_BOOL && f->where->type != COL_NULL)
			return expr_fail(c, f->where->pos, "a where clause must be true or false, not %s",
					 tname(f->where->type));
	}
	c->f = f;
	if ((rc = resolve(c, f->root, false)))
		return rc;
	c->f = f;
	if (f->root->type == COL_DURATION)
		return expr_fail(c, f->root->pos, "a feature cannot be a duration");
	f->type = f->root->type;
	f->state = 2;
	p->order[p->norder++] = fi;
	return 0;
}

/* ---- compile ---- */

void expr_prog_free(struct expr_prog *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nnodes; i++) {
		struct xnode *x = p->nodes[i];
		if (x->lit.t == COL_STRING || x->op == X_IDENT || x->op == X_COL ||
		    x->op == X_FEAT || x->op == X_ASOF)
			free((char *)x->lit.s);
		free(x->args);
		free(x);
	}
	free(p->nodes);
	for (size_t i = 0; i < p->nfeats; i++) {
		free(p->feats[i].name);
		free(p->feats[i].text);
	}
	free(p->feats);
	free(p->order);
	free(p->aggs);
	free(p->uses);
	free(p);
}

int expr_compile(const struct expr_source *feats, size_t n,
		 const struct expr_schema *schema, enum col_type as_of_type,
		 struct expr_prog **out, struct mlfs_err *err)
{
	struct cctx c = { 0 };
	int rc = 0;

	*out = NULL;
	if (n == 0)
		return mlfs_fail(err, -EINVAL, "no features");
	if (n > EXPR_MAX_FEATURES)
		return mlfs_fail(err, -EINVAL, "more than %d features", EXPR_MAX_FEATURES);
	struct expr_prog *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->feats = calloc(n, sizeof(*p->feats));
	p->order = calloc(n, sizeof(*p->order));
	p->uses = calloc(schema->n + 1, sizeof(bool));
	p->ncols = schema->n;
	p->schema = schema;
	p->as_of_type = as_of_type;
	if (!p->feats || !p->order || !p->uses) {
		expr_prog_free(p);
		return -ENOMEM;
	}
	c.p = p;
	c.err = err;
	for (size_t i = 0; i < n; i++) {
		struct feat *f = &p->feats[i];
		f->name = strdup(feats[i].name);
		f->text = strdup(feats[i].text);
		f->line = feats[i].line;
		f->col = feats[i].col;
		f->exact = feats[i].exact_cols;
		p->nfeats = i + 1;
		if (!f->name || !f->text) {
			rc = -ENOMEM;
			goto out;
		}
		c.f = f;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->feats[j].name, f->name)) {
				rc = expr_fail(&c, 0, "defined twice");
				goto out;
			}
		c.text = f->text;
		c.len = strlen(f->text);
		c.at = 0;
		c.depth = 0;
		if (c.len > EXPR_MAX_LEN) {
			rc = expr_fail(&c, 0, "expression longer than %d bytes", EXPR_MAX_LEN);
			goto out;
		}
		if ((rc = expr_parse_feature(&c)))
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (p->feats[i].state == 0 && (rc = visit(&c, i, err)))
			goto out;
	}
	/* Lay the slots out: 8-byte aligned. */
	for (size_t i = 0; i < p->naggs; i++) {
		p->aggs[i].off = p->state_size;
		p->state_size += (expr_agg_size(&p->aggs[i]) + 7) & ~(size_t)7;
	}
out:
	p->schema = NULL;
	if (rc) {
		expr_prog_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

size_t expr_prog_nfeatures(const struct expr_prog *p)
{
	return p->nfeats;
}

const char *expr_prog_name(const struct expr_prog *p, size_t i)
{
	return p->feats[i].name;
}

enum col_type expr_prog_type(const struct expr_prog *p, size_t i)
{
	return p->feats[i].type;
}

bool expr_prog_uses_column(const struct expr_prog *p, size_t i)
{
	return i < p->ncols && p->uses[i];
}
