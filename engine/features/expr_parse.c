/* expr_parse.c - the lexer and recursive-descent parser of feature
 * expressions: the text of one feature becomes a tree of xnodes owned by
 * the program, with byte positions for errors.  Not names or types
 * (expr_resolve.c), not evaluation (expr.c). */
#include "expr_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200

const struct expr_fn expr_fns[] = {
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

const char *expr_fn_name(int fn)
{
	for (size_t i = 0; i < sizeof(expr_fns) / sizeof(expr_fns[0]); i++)
		if ((int)expr_fns[i].fn == fn)
			return expr_fns[i].name;
	return "?";
}

/* ---- errors and nodes ---- */

int expr_fail(struct cctx *c, unsigned pos, const char *fmt, ...)
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
				return expr_fail(c, k->pos, "bad duration '%.*s': a whole number then d, h, m, s or w",
						 (int)(i + 1 - st), s + st);
			k->t = T_DUR;
			k->v.t = COL_DURATION;
			k->v.i = iv * unit[s[i] - 'a'];
			i++;
			k->len = i - st;
		} else if (i < n && is_ident(s[i])) {
			return expr_fail(c, k->pos, "bad number '%.*s'", (int)(i + 1 - st), s + st);
		} else if (value_parse_int(s + st, k->len, &iv)) {
			k->t = T_NUM;
			k->v.t = COL_INT;
			k->v.i = iv;
		} else if (value_parse_float(s + st, k->len, &fv)) {
			k->t = T_NUM;
			k->v.t = COL_FLOAT;
			k->v.f = fv;
		} else {
			return expr_fail(c, k->pos, "bad number '%.*s'", (int)k->len, s + st);
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
			return expr_fail(c, k->pos, "unterminated string");
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
			return expr_fail(c, k->pos, "unexpected character '%c'", ch >= 32 && ch < 127 ? ch : '?');
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
		return expr_fail(c, (unsigned)c->at, "expression nested too deeply");
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
			return expr_fail(c, k.pos, "expected ')'");
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
		for (f = 0; f < sizeof(expr_fns) / sizeof(expr_fns[0]); f++)
			if (word_is(&k, expr_fns[f].name))
				break;
		if (f == sizeof(expr_fns) / sizeof(expr_fns[0]))
			return expr_fail(c, k.pos, "unknown function '%.*s' (aggregates: count sum avg min max stddev count_distinct first last; scalars: abs log coalesce date days_since)",
					 (int)k.len, k.p);
		if (!(x = node_new(c, expr_fns[f].agg ? X_AGG : X_CALL, k.pos)))
			return -ENOMEM;
		x->sub = expr_fns[f].fn;
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
			return expr_fail(c, nx.pos, "expected ')' or ','");
		break;
	}
	case T_END:
		return expr_fail(c, k.pos, "expression ends too early");
	default:
		return expr_fail(c, k.pos, "unexpected '%.*s'", (int)k.len, k.p);
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
			return expr_fail(c, k.pos, "expression nested too deeply");
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
			return expr_fail(c, k.pos, "expression nested too deeply");
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

int expr_parse_feature(struct cctx *c)
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
		return expr_fail(c, k.pos, "unexpected '%.*s' after the expression", (int)k.len, k.p);
	return 0;
}
