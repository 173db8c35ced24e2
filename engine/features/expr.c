/* expr.c - parse, typecheck and evaluate feature expressions.
 *
 * A recursive-descent parser builds a tree per feature; resolve() gives
 * names their meaning and types, turning each aggregate into a slot of
 * the group state; features are ordered so that references come first.
 * Evaluation walks the tree: row level (aggregate arguments and where
 * clauses) once per row and slot, group level once per group.
 * This file knows nothing of tables or stores: rows arrive as xvals. */
#include "expr.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_DURATION ((enum col_type)100)	/* internal: micros */
#define MAX_DEPTH 200
#define DAY_US 86400000000LL

enum xop {
	X_LIT, X_IDENT, X_COL, X_FEAT, X_ASOF, X_AGG, X_CALL, X_NEG, X_NOT,
	X_BIN,
};

enum xbin {
	B_ADD, B_SUB, B_MUL, B_DIV, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE,
	B_AND, B_OR,
};

enum xfn {
	F_COUNT, F_SUM, F_AVG, F_MIN, F_MAX, F_STDDEV, F_COUNT_DISTINCT,
	F_FIRST, F_LAST,
	F_ABS, F_LOG, F_COALESCE, F_DATE, F_DAYS_SINCE,
};

static const struct {
	const char *name;
	enum xfn fn;
	bool agg;
} fns[] = {
	{ "count", F_COUNT, true }, { "sum", F_SUM, true },
	{ "avg", F_AVG, true }, { "mean", F_AVG, true },
	{ "min", F_MIN, true }, { "max", F_MAX, true },
	{ "stddev", F_STDDEV, true }, { "std", F_STDDEV, true },
	{ "count_distinct", F_COUNT_DISTINCT, true },
	{ "first", F_FIRST, true }, { "last", F_LAST, true },
	{ "abs", F_ABS, false }, { "log", F_LOG, false },
	{ "coalesce", F_COALESCE, false }, { "date", F_DATE, false },
	{ "days_since", F_DAYS_SINCE, false },
};

struct xnode {
	enum xop op;
	int sub;		/* enum xbin or enum xfn */
	enum col_type type;
	unsigned pos;		/* byte offset in the expression */
	struct xval lit;	/* X_LIT value; X_IDENT name in lit.s (owned) */
	int idx;		/* column, feature or aggregate slot */
	bool star;		/* count(*) */
	struct xnode **args;
	size_t nargs;
};

/* An aggregate slot: its state lives at OFF in a group state. */
struct agg {
	enum xfn fn;
	enum col_type argt;
	struct xnode *arg;	/* NULL for count(*) */
	struct xnode *where;	/* the feature's where clause, or NULL */
	size_t off;
};

struct feat {
	char *name;
	char *text;
	unsigned line, col;
	bool exact;
	struct xnode *root, *where;
	enum col_type type;
	int state;		/* toposort: 0 new, 1 visiting, 2 done */
};

struct expr_prog {
	struct feat *feats;
	size_t nfeats;
	size_t *order;		/* evaluation order */
	size_t norder;
	struct agg *aggs;
	size_t naggs, capaggs;
	size_t state_size;
	bool *uses;
	size_t ncols;
	const struct expr_schema *schema;	/* during compile only */
	enum col_type as_of_type;
	struct xnode **nodes;	/* every node, for freeing */
	size_t nnodes, capnodes;
};

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

struct dset {
	uint64_t *v;
	uint32_t n, cap;
	uint8_t zero;		/* the value 0 was seen */
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

static size_t agg_size(const struct agg *a)
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

/* ---- errors ---- */

struct cctx {
	struct expr_prog *p;
	struct feat *f;
	const char *text;
	size_t len, at;		/* lexer position */
	int depth;
	struct mlfs_err *err;
};

static int fail(struct cctx *c, unsigned pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cctx *c, unsigned pos, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	unsigned col = c->f->col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->f->exact)
		col += pos;
	return mlfs_fail(c->err, -EINVAL, "line %u, column %u: feature '%s': %s",
			 c->f->line, col, c->f->name, msg);
}

static struct xnode *node_new(struct cctx *c, enum xop op, unsigned pos)
{
	struct expr_prog *p = c->p;
	if (p->nnodes == p->capnodes) {
		size_t cap = p->capnodes ? 2 * p->capnodes : 64;
		struct xnode **n = realloc(p->nodes, cap * sizeof(*n));
		if (!n)
			return NULL;
		p->nodes = n;
		p->capnodes = cap;
	}
	struct xnode *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->op = op;
	x->pos = pos;
	x->idx = -1;
	p->nodes[p->nnodes++] = x;
	return x;
}

static int node_push(struct xnode *x, struct xnode *arg)
{
	struct xnode **a = realloc(x->args, (x->nargs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	x->args = a;
	x->args[x->nargs++] = arg;
	return 0;
}

/* ---- lexer ---- */

enum tok {
	T_END, T_NUM, T_DUR, T_STR, T_IDENT, T_LP, T_RP, T_COMMA, T_STAR,
	T_PLUS, T_MINUS, T_SLASH, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
	T_AND, T_OR, T_NOT, T_WHERE, T_TRUE, T_FALSE, T_NULL, T_BAD,
};

struct token {
	enum tok t;
	unsigned pos;
	const char *p;
	size_t len;
	struct xval v;		/* T_NUM, T_DUR */
};

static bool is_ident_start(char ch)
{
	return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_ident(char ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9') || ch == '.';
}

static bool word_is(const struct token *k, const char *w)
{
	return strlen(w) == k->len && !strncasecmp(k->p, w, k->len);
}

static int lex(struct cctx *c, struct token *k)
{
	const char *s = c->text;
	size_t n = c->len, i = c->at;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	memset(k, 0, sizeof(*k));
	k->pos = (unsigned)i;
	k->p = s + i;
	if (i >= n) {
		k->t = T_END;
		c->at = i;
		return 0;
	}
	char ch = s[i];
	size_t st = i;
	if ((ch >= '0' && ch <= '9') || (ch == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
		while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			i++;
		if (i < n && (s[i] == 'e' || s[i] == 'E') && i + 1 < n &&
		    ((s[i + 1] >= '0' && s[i + 1] <= '9') ||
		     ((s[i + 1] == '-' || s[i + 1] == '+') && i + 2 < n && s[i + 2] >= '0' && s[i + 2] <= '9'))) {
			i += 2;
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
		}
		k->len = i - st;
		int64_t iv;
		double fv;
		if (i < n && strchr("dhmsw", s[i]) && (i + 1 >= n || !is_ident(s[i + 1]))) {
			static const int64_t unit[] = { ['d' - 'a'] = DAY_US, ['h' - 'a'] = 3600000000LL,
							['m' - 'a'] = 60000000LL, ['s' - 'a'] = 1000000LL,
							['w' - 'a'] = 7 * DAY_US };
			/* At most 100,000 years, whatever the unit. */
			if (!value_parse_int(s + st, k->len, &iv) || iv < 0 ||
			    iv > 100000 * 365LL * DAY_US / unit[s[i] - 'a'])
				return fail(c, k->pos, "bad duration '%.*s': a whole number then d, h, m, s or w",
					    (int)(i + 1 - st), s + st);
			k->t = T_DUR;
			k->v.t = COL_DURATION;
			k->v.i = iv * unit[s[i] - 'a'];
			i++;
			k->len = i - st;
		} else if (i < n && is_ident(s[i])) {
			return fail(c, k->pos, "bad number '%.*s'", (int)(i + 1 - st), s + st);
		} else if (value_parse_int(s + st, k->len, &iv)) {
			k->t = T_NUM;
			k->v.t = COL_INT;
			k->v.i = iv;
		} else if (value_parse_float(s + st, k->len, &fv)) {
			k->t = T_NUM;
			k->v.t = COL_FLOAT;
			k->v.f = fv;
		} else {
			return fail(c, k->pos, "bad number '%.*s'", (int)k->len, s + st);
		}
	} else if (is_ident_start(ch)) {
		while (i < n && is_ident(s[i]))
			i++;
		k->len = i - st;
		k->t = T_IDENT;
		if (word_is(k, "and")) k->t = T_AND;
		else if (word_is(k, "or")) k->t = T_OR;
		else if (word_is(k, "not")) k->t = T_NOT;
		else if (word_is(k, "where")) k->t = T_WHERE;
		else if (word_is(k, "true")) k->t = T_TRUE;
		else if (word_is(k, "false")) k->t = T_FALSE;
		else if (word_is(k, "null")) k->t = T_NULL;
	} else if (ch == '\'' || ch == '"') {
		i++;
		while (i < n && s[i] != ch)
			i++;
		if (i >= n)
			return fail(c, k->pos, "unterminated string");
		k->t = T_STR;
		k->p = s + st + 1;
		k->len = i - st - 1;
		i++;
	} else {
		i++;
		switch (ch) {
		case '(': k->t = T_LP; break;
		case ')': k->t = T_RP; break;
		case ',': k->t = T_COMMA; break;
		case '*': k->t = T_STAR; break;
		case '+': k->t = T_PLUS; break;
		case '-': k->t = T_MINUS; break;
		case '/': k->t = T_SLASH; break;
		case '=':
			k->t = T_EQ;
			if (i < n && s[i] == '=')
				i++;
			break;
		case '!':
			if (i < n && s[i] == '=') {
				k->t = T_NE;
				i++;
			} else {
				k->t = T_BAD;
			}
			break;
		case '<':
			k->t = T_LT;
			if (i < n && s[i] == '=') { k->t = T_LE; i++; }
			else if (i < n && s[i] == '>') { k->t = T_NE; i++; }
			break;
		case '>':
			k->t = T_GT;
			if (i < n && s[i] == '=') { k->t = T_GE; i++; }
			break;
		default:
			k->t = T_BAD;
		}
		if (k->t == T_BAD)
			return fail(c, k->pos, "unexpected character '%c'", ch >= 32 && ch < 127 ? ch : '?');
		k->len = i - st;
	}
	c->at = i;
	return 0;
}

static int peek(struct cctx *c, struct token *k)
{
	size_t at = c->at;
	int rc = lex(c, k);
	c->at = at;
	return rc;
}

/* ---- parser ---- */

static int parse_or(struct cctx *c, struct xnode **out);

static int mk_bin(struct cctx *c, int op, unsigned pos, struct xnode *l,
		  struct xnode *r, struct xnode **out)
{
	struct xnode *x = node_new(c, X_BIN, pos);
	if (!x || node_push(x, l) || node_push(x, r))
		return -ENOMEM;
	x->sub = op;
	*out = x;
	return 0;
}

static int parse_primary(struct cctx *c, struct xnode **out)
{
	struct token k;
	int rc;

	if (++c->depth > MAX_DEPTH)
		return fail(c, (unsigned)c->at, "expression nested too deeply");
	if ((rc = lex(c, &k)))
		return rc;
	struct xnode *x;
	switch (k.t) {
	case T_NUM:
	case T_DUR:
		if (!(x = node_new(c, X_LIT, k.pos)))
			return -ENOMEM;
		x->lit = k.v;
		x->type = k.v.t;
		break;
	case T_STR: {
		if (!(x = node_new(c, X_LIT, k.pos)))
			return -ENOMEM;
		char *s = strndup(k.p, k.len);
		if (!s)
			return -ENOMEM;
		x->lit.t = COL_STRING;
		x->lit.s = s;
		x->lit.len = k.len;
		x->type = COL_STRING;
		break;
	}
	case T_TRUE:
	case T_FALSE:
		if (!(x = node_new(c, X_LIT, k.pos)))
			return -ENOMEM;
		x->lit.t = x->type = COL_BOOL;
		x->lit.i = k.t == T_TRUE;
		break;
	case T_NULL:
		if (!(x = node_new(c, X_LIT, k.pos)))
			return -ENOMEM;
		x->lit.t = x->type = COL_NULL;
		break;
	case T_LP:
		if ((rc = parse_or(c, &x)))
			return rc;
		if ((rc = lex(c, &k)))
			return rc;
		if (k.t != T_RP)
			return fail(c, k.pos, "expected ')'");
		break;
	case T_IDENT: {
		struct token nx;
		if ((rc = peek(c, &nx)))
			return rc;
		if (nx.t != T_LP) {
			if (!(x = node_new(c, X_IDENT, k.pos)))
				return -ENOMEM;
			char *s = strndup(k.p, k.len);
			if (!s)
				return -ENOMEM;
			x->lit.s = s;
			x->lit.len = k.len;
			break;
		}
		size_t f;
		for (f = 0; f < sizeof(fns) / sizeof(fns[0]); f++)
			if (word_is(&k, fns[f].name))
				break;
		if (f == sizeof(fns) / sizeof(fns[0]))
			return fail(c, k.pos, "unknown function '%.*s' (aggregates: count sum avg min max stddev count_distinct first last; scalars: abs log coalesce date days_since)",
				    (int)k.len, k.p);
		if (!(x = node_new(c, fns[f].agg ? X_AGG : X_CALL, k.pos)))
			return -ENOMEM;
		x->sub = fns[f].fn;
		lex(c, &nx);	/* ( */
		if ((rc = peek(c, &nx)))
			return rc;
		if (nx.t == T_STAR && x->sub == F_COUNT) {
			lex(c, &nx);
			x->star = true;
		} else if (nx.t == T_RP && x->sub == F_COUNT) {
			x->star = true;
		} else if (nx.t != T_RP) {
			for (;;) {
				struct xnode *a;
				if ((rc = parse_or(c, &a)))
					return rc;
				if (node_push(x, a))
					return -ENOMEM;
				if ((rc = peek(c, &nx)))
					return rc;
				if (nx.t != T_COMMA)
					break;
				lex(c, &nx);
			}
		}
		if ((rc = lex(c, &nx)))
			return rc;
		if (nx.t != T_RP)
			return fail(c, nx.pos, "expected ')' or ','");
		break;
	}
	case T_END:
		return fail(c, k.pos, "expression ends too early");
	default:
		return fail(c, k.pos, "unexpected '%.*s'", (int)k.len, k.p);
	}
	c->depth--;
	*out = x;
	return 0;
}

static int parse_unary(struct cctx *c, struct xnode **out)
{
	struct token k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k.t == T_MINUS) {
		lex(c, &k);
		if (++c->depth > MAX_DEPTH)
			return fail(c, k.pos, "expression nested too deeply");
		struct xnode *a, *x;
		if ((rc = parse_unary(c, &a)))
			return rc;
		c->depth--;
		if (!(x = node_new(c, X_NEG, k.pos)) || node_push(x, a))
			return -ENOMEM;
		*out = x;
		return 0;
	}
	return parse_primary(c, out);
}

static int parse_mul(struct cctx *c, struct xnode **out)
{
	struct xnode *l, *r;
	struct token k;
	int rc = parse_unary(c, &l);
	while (!rc && !(rc = peek(c, &k)) && (k.t == T_STAR || k.t == T_SLASH)) {
		lex(c, &k);
		if (!(rc = parse_unary(c, &r)))
			rc = mk_bin(c, k.t == T_STAR ? B_MUL : B_DIV, k.pos, l, r, &l);
	}
	*out = l;
	return rc;
}

static int parse_add(struct cctx *c, struct xnode **out)
{
	struct xnode *l, *r;
	struct token k;
	int rc = parse_mul(c, &l);
	while (!rc && !(rc = peek(c, &k)) && (k.t == T_PLUS || k.t == T_MINUS)) {
		lex(c, &k);
		if (!(rc = parse_mul(c, &r)))
			rc = mk_bin(c, k.t == T_PLUS ? B_ADD : B_SUB, k.pos, l, r, &l);
	}
	*out = l;
	return rc;
}

static int parse_cmp(struct cctx *c, struct xnode **out)
{
	struct xnode *l, *r;
	struct token k;
	int rc = parse_add(c, &l);
	if (!rc && !(rc = peek(c, &k)) && k.t >= T_EQ && k.t <= T_GE) {
		static const int map[] = { [T_EQ] = B_EQ, [T_NE] = B_NE, [T_LT] = B_LT,
					   [T_LE] = B_LE, [T_GT] = B_GT, [T_GE] = B_GE };
		lex(c, &k);
		if (!(rc = parse_add(c, &r)))
			rc = mk_bin(c, map[k.t], k.pos, l, r, &l);
	}
	*out = l;
	return rc;
}

static int parse_not(struct cctx *c, struct xnode **out)
{
	struct token k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k.t == T_NOT) {
		lex(c, &k);
		if (++c->depth > MAX_DEPTH)
			return fail(c, k.pos, "expression nested too deeply");
		struct xnode *a, *x;
		if ((rc = parse_not(c, &a)))
			return rc;
		c->depth--;
		if (!(x = node_new(c, X_NOT, k.pos)) || node_push(x, a))
			return -ENOMEM;
		*out = x;
		return 0;
	}
	return parse_cmp(c, out);
}

static int parse_and(struct cctx *c, struct xnode **out)
{
	struct xnode *l, *r;
	struct token k;
	int rc = parse_not(c, &l);
	while (!rc && !(rc = peek(c, &k)) && k.t == T_AND) {
		lex(c, &k);
		if (!(rc = parse_not(c, &r)))
			rc = mk_bin(c, B_AND, k.pos, l, r, &l);
	}
	*out = l;
	return rc;
}

static int parse_or(struct cctx *c, struct xnode **out)
{
	struct xnode *l, *r;
	struct token k;
	int rc = parse_and(c, &l);
	while (!rc && !(rc = peek(c, &k)) && k.t == T_OR) {
		lex(c, &k);
		if (!(rc = parse_and(c, &r)))
			rc = mk_bin(c, B_OR, k.pos, l, r, &l);
	}
	*out = l;
	return rc;
}

static int parse_feature(struct cctx *c)
{
	struct token k;
	int rc = parse_or(c, &c->f->root);
	if (rc)
		return rc;
	if ((rc = lex(c, &k)))
		return rc;
	if (k.t == T_WHERE) {
		if ((rc = parse_or(c, &c->f->where)))
			return rc;
		if ((rc = lex(c, &k)))
			return rc;
	}
	if (k.t != T_END)
		return fail(c, k.pos, "unexpected '%.*s' after the expression", (int)k.len, k.p);
	return 0;
}

/* ---- resolution and types ---- */

static bool is_num(enum col_type t)
{
	return t == COL_INT || t == COL_FLOAT || t == COL_BOOL || t == COL_NULL;
}

static bool is_time(enum col_type t)
{
	return t == COL_DATE || t == COL_TIMESTAMP;
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
			return fail(c, x->pos, "'%s' depends on itself (a cycle of features)", name);
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
		return fail(c, x->pos, "column '%s' must be inside an aggregate, e.g. sum(%s)", name, name);
	if (in_agg && find_feat(p, name) >= 0)
		return fail(c, x->pos, "feature '%s' cannot be used inside an aggregate or where clause", name);
	return fail(c, x->pos, "unknown %s '%s'", in_agg ? "column" : "feature or column", name);
}

/* An aggregate: its argument, where clause and state. */
static int resolve_agg(struct cctx *c, struct xnode *x, bool in_agg)
{
	struct expr_prog *p = c->p;
	int rc;

	if (in_agg)
		return fail(c, x->pos, "an aggregate cannot be nested in another or in a where clause");
	enum xfn fn = (enum xfn)x->sub;
	if (x->star) {
		if (fn != F_COUNT || x->nargs)
			return fail(c, x->pos, "only count takes *");
	} else if (x->nargs != 1) {
		return fail(c, x->pos, "%s takes one argument", fns[fn].name);
	} else if ((rc = resolve(c, x->args[0], true))) {
		return rc;
	}
	enum col_type at = x->star ? COL_INT : x->args[0]->type;
	if (at == COL_DURATION)
		return fail(c, x->pos, "%s of a duration", fns[fn].name);
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
				return fail(c, a->pos, "%s needs a number, but column '%s' is %s",
					    fns[fn].name, p->schema->names[a->idx], tname(at));
			return fail(c, a->pos, "%s needs a number, not %s", fns[fn].name, tname(at));
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
		return fail(c, x->pos, "%s takes one argument", fns[fn].name);
	if (fn == F_COALESCE && x->nargs == 0)
		return fail(c, x->pos, "coalesce takes one or more arguments");
	enum col_type at = x->args[0]->type;
	switch (fn) {
	case F_ABS:
	case F_LOG:
		if (!is_num(at))
			return fail(c, x->args[0]->pos, "%s needs a number, not %s", fns[fn].name, tname(at));
		x->type = fn == F_LOG ? COL_FLOAT : (at == COL_BOOL ? COL_INT : at);
		break;
	case F_DATE:
		if (!is_time(at) && at != COL_STRING && at != COL_NULL)
			return fail(c, x->args[0]->pos, "date() needs a date, a timestamp or text, not %s", tname(at));
		x->type = COL_DATE;
		break;
	case F_DAYS_SINCE:
		if (!is_time(at) && at != COL_NULL)
			return fail(c, x->args[0]->pos, "days_since() needs a date or a timestamp, not %s", tname(at));
		x->type = at == COL_DATE && p->as_of_type == COL_DATE ? COL_INT : COL_FLOAT;
		break;
	case F_COALESCE: {
		enum col_type t = COL_NULL;
		for (size_t i = 0; i < x->nargs; i++) {
			enum col_type u = x->args[i]->type;
			if (u == COL_NULL)
				continue;
			if (t != COL_NULL && !(is_num(t) && is_num(u)) &&
			    !(is_time(t) && is_time(u)) && t != u)
				return fail(c, x->args[i]->pos, "coalesce mixes %s and %s", tname(t), tname(u));
			if (u == COL_DURATION)
				return fail(c, x->args[i]->pos, "coalesce of a duration");
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
			return fail(c, x->pos, "%s needs true or false on both sides", x->sub == B_AND ? "and" : "or");
		x->type = COL_BOOL;
		return 0;
	case B_EQ: case B_NE: case B_LT: case B_LE: case B_GT: case B_GE:
		/* A text literal against a date or timestamp is parsed. */
		for (int side = 0; side < 2; side++) {
			struct xnode *lit = side ? r : l, *other = side ? l : r;
			if (lit->op == X_LIT && lit->type == COL_STRING && is_time(other->type)) {
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
					return fail(c, lit->pos, "'%s' is not a date or a timestamp", lit->lit.s);
				}
			}
		}
		a = l->type;
		b = r->type;
		if (!(a == COL_NULL || b == COL_NULL || (is_num(a) && is_num(b)) ||
		      (is_time(a) && is_time(b)) || (a == b && a != COL_DURATION)))
			return fail(c, x->pos, "cannot compare %s with %s", tname(a), tname(b));
		x->type = COL_BOOL;
		return 0;
	case B_ADD:
	case B_SUB:
		if (is_time(a) && b == COL_DURATION) {
			bool days = r->op == X_LIT && r->lit.i % DAY_US == 0;
			x->type = a == COL_DATE && days ? COL_DATE : COL_TIMESTAMP;
			return 0;
		}
		if (x->sub == B_ADD && a == COL_DURATION && is_time(b)) {
			bool days = l->op == X_LIT && l->lit.i % DAY_US == 0;
			x->type = b == COL_DATE && days ? COL_DATE : COL_TIMESTAMP;
			return 0;
		}
		if (x->sub == B_SUB && is_time(a) && is_time(b)) {
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
			return fail(c, x->pos, "cannot %s %s and %s",
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
			return fail(c, x->pos, "cannot negate %s", tname(x->args[0]->type));
		x->type = x->args[0]->type == COL_BOOL ? COL_INT : x->args[0]->type;
		return 0;
	case X_NOT:
		if ((rc = resolve(c, x->args[0], in_agg)))
			return rc;
		if (x->args[0]->type != COL_BOOL && x->args[0]->type != COL_NULL)
			return fail(c, x->pos, "not needs true or false, not %s", tname(x->args[0]->type));
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
			return fail(c, f->where->pos, "a where clause must be true or false, not %s",
				    tname(f->where->type));
	}
	c->f = f;
	if ((rc = resolve(c, f->root, false)))
		return rc;
	c->f = f;
	if (f->root->type == COL_DURATION)
		return fail(c, f->root->pos, "a feature cannot be a duration");
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
				rc = fail(&c, 0, "defined twice");
				goto out;
			}
		c.text = f->text;
		c.len = strlen(f->text);
		c.at = 0;
		c.depth = 0;
		if (c.len > EXPR_MAX_LEN) {
			rc = fail(&c, 0, "expression longer than %d bytes", EXPR_MAX_LEN);
			goto out;
		}
		if ((rc = parse_feature(&c)))
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (p->feats[i].state == 0 && (rc = visit(&c, i, err)))
			goto out;
	}
	/* Lay the slots out: 8-byte aligned. */
	for (size_t i = 0; i < p->naggs; i++) {
		p->aggs[i].off = p->state_size;
		p->state_size += (agg_size(&p->aggs[i]) + 7) & ~(size_t)7;
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
	if (is_time(a->t)) {
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
	if (is_time(a.t) && is_time(b.t)) {
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

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static int dset_add(struct dset *d, uint64_t v)
{
	if (v == 0) {
		d->zero = 1;
		return 0;
	}
	if (2 * (d->n + 1) > d->cap) {
		uint32_t cap = d->cap ? 2 * d->cap : 8;
		uint64_t *nv = calloc(cap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		for (uint32_t i = 0; i < d->cap; i++) {
			if (!d->v[i])
				continue;
			uint32_t j = (uint32_t)mix64(d->v[i]) & (cap - 1);
			while (nv[j])
				j = (j + 1) & (cap - 1);
			nv[j] = d->v[i];
		}
		free(d->v);
		d->v = nv;
		d->cap = cap;
	}
	uint32_t j = (uint32_t)mix64(v) & (d->cap - 1);
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
		switch (a->fn) {
		case F_COUNT:
			(*(int64_t *)s)++;
			break;
		case F_SUM:
			if (a->argt == COL_FLOAT) {
				*(double *)s += num_of(&v);
			} else {
				struct sumi *si = (struct sumi *)s;
				if (__builtin_add_overflow(si->i, v.i, &si->i))
					si->ovf = 1;
			}
			break;
		case F_AVG: {
			struct avgs *av = (struct avgs *)s;
			av->sum += num_of(&v);
			av->n++;
			break;
		}
		case F_STDDEV: {
			struct welford *w = (struct welford *)s;
			double x = num_of(&v);
			w->n++;
			double d = x - w->mean;
			w->mean += d / (double)w->n;
			w->m2 += d * (x - w->mean);
			break;
		}
		case F_COUNT_DISTINCT: {
			uint64_t h;
			if (v.t == COL_STRING) {
				h = hash_bytes(v.s, v.len);
			} else if (v.t == COL_FLOAT) {
				double f = v.f == 0 ? 0.0 : v.f;
				if (a->argt != COL_FLOAT && f == (double)(int64_t)f)
					h = (uint64_t)(int64_t)f;
				else
					memcpy(&h, &f, 8);
			} else if (a->argt == COL_FLOAT) {
				double f = (double)v.i;
				memcpy(&h, &f, 8);
			} else {
				h = (uint64_t)v.i;
			}
			if (dset_add((struct dset *)s, h))
				return -ENOMEM;
			break;
		}
		case F_MIN:
		case F_MAX: {
			struct cell *cl = (struct cell *)s;
			widen_to(&v, a->argt);
			if (cl->set) {
				struct xval cur = cell_xval(cl, a->argt);
				int c = compare(&v, &cur);
				if (a->fn == F_MIN ? c >= 0 : c <= 0)
					break;
			}
			if (cell_put(cl, &v, a->argt))
				return -ENOMEM;
			break;
		}
		case F_FIRST:
			if (((struct cell *)s)->set)
				break;
			/* fall through */
		case F_LAST:
			widen_to(&v, a->argt);
			if (cell_put((struct cell *)s, &v, a->argt))
				return -ENOMEM;
			break;
		default:
			break;
		}
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

/* The same text as fmt_double (buf.h), the shortest decimal that reads
 * back as V, with few calls to printf (the cost of a refresh's output).
 * For 1e-4 <= |V| < 1e15 with E digits before the point (E <= 0 for
 * |V| < 1: -zeros after it), any decimal of at most 15 significant digits
 * has d <= 15 - E decimals and d-decimal multiples of V stay below 10^15
 * (< 2^50).  There the rounding interval of V (one ulp, under a quarter of
 * 10^-d) holds one d-decimal at most: the fewest d with
 * round(V * 10^d) / 10^d == V gives the text %.Pg prints.  When no such d
 * exists the answer has 16 or 17 digits.  Else printf from 15 digits up
 * (DBL_DIG is 15: a shorter exact text prints the same at 15). */
static int put_double(struct buf *out, double v)
{
	static const double pow10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
					1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
					1e18, 1e19 };
	static const int64_t ipow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000,
					  10000000, 100000000, 1000000000, 10000000000,
					  100000000000, 1000000000000, 10000000000000,
					  100000000000000, 1000000000000000,
					  10000000000000000, 100000000000000000,
					  1000000000000000000 };
	char tmp[48];
	int n, from = 15;
	if (isnan(v) || isinf(v) || v == 0 || fabs(v) < DBL_MIN ||
	    (fabs(v) < 1e16 && v == (double)(int64_t)v))
		return buf_put_double(out, v);
	double a = fabs(v);
	if (a >= 1e-4 && a < 1e15) {
		int e = 0;
		if (a >= 1)
			while (e < 15 && a >= pow10[e])
				e++;
		else
			e = a >= 0.1 ? 0 : a >= 0.01 ? -1 : a >= 0.001 ? -2 : -3;
		int maxd = 15 - e;
		for (int d = 1; d <= maxd && d <= 18; d++) {
			double sc = a * pow10[d];
			if (sc >= 1125899906842624.0)	/* 2^50 */
				break;
			int64_t r = llround(sc);
			if ((double)r / pow10[d] != a)
				continue;
			char *p = tmp + sizeof(tmp);
			int64_t ip = r / ipow10[d], fp = r % ipow10[d];
			for (int i = 0; i < d; i++) {
				*--p = (char)('0' + fp % 10);
				fp /= 10;
			}
			*--p = '.';
			do {
				*--p = (char)('0' + ip % 10);
				ip /= 10;
			} while (ip);
			if (v < 0)
				*--p = '-';
			return buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
		}
		from = 16;
	}
	for (int prec = from; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	return buf_append(out, tmp, (size_t)n);
}

static int put_int(struct buf *out, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

int expr_value_text(const struct xval *v, struct buf *out)
{
	char tmp[40];
	switch (v->t) {
	case COL_NULL:
		return 0;
	case COL_INT:
		return put_int(out, v->i);
	case COL_FLOAT:
		return put_double(out, v->f);
	case COL_BOOL:
		return buf_puts(out, v->i ? "true" : "false");
	case COL_DATE:
		/* Computed dates outside years 0000-9999 have no text: null. */
		if (v->i < -719528 || v->i > 2932896)
			return 0;
		fmt_date(tmp, (int32_t)v->i);
		return buf_puts(out, tmp);
	case COL_TIMESTAMP:
		if (v->i < -719528 * DAY_US || v->i > 2932896 * DAY_US)
			return 0;
		fmt_timestamp(tmp, v->i);
		return buf_puts(out, tmp);
	case COL_STRING:
		return buf_append(out, v->s, v->len);
	default:
		return 0;
	}
}
