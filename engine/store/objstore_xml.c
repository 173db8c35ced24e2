/* objstore_xml.c - a small XML walker for S3's answers (objstore_xml.h).
 *
 * Not a general XML parser: it walks elements, skips the prolog,
 * comments, processing instructions and attributes, decodes the five
 * named entities and character references, takes CDATA as text, and
 * refuses a DOCTYPE with an internal subset (no entity expansion, so no
 * billion laughs).  Each element's close reports its name, its parent's
 * name and the text after its last child. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_xml.h"

#define XML_DEPTH 32
#define XML_NAME 64
#define XML_TEXT_MAX (1u << 20)

struct xml {
	const char *start, *p, *end;
	char stack[XML_DEPTH][XML_NAME];
	int depth;
	struct buf text;
	/* on each close: NAME, PARENT ("" at the root), the text */
	int (*on_close)(void *ctx, const char *name, const char *parent,
			const struct buf *text);
	void *ctx;
	struct mlfs_err *err;
};

static int bad(struct xml *x, const char *what)
{
	return mlfs_fail(x->err, -EPROTO, "S3 answer is not the XML "
			 "expected: %s at byte %td", what, x->p - x->start);
}

/* Skip past the first NEEDLE; -EPROTO when it never comes. */
static int skip_past(struct xml *x, const char *needle)
{
	size_t n = strlen(needle);
	const char *q = memmem(x->p, (size_t)(x->end - x->p), needle, n);
	if (!q)
		return bad(x, "unterminated markup");
	x->p = q + n;
	return 0;
}

static void put_utf8(struct buf *b, unsigned long c)
{
	char u[4];
	int n;
	if (c < 0x80) {
		u[0] = (char)c; n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | c >> 6); u[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | c >> 12);
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f)); n = 3;
	} else {
		u[0] = (char)(0xf0 | c >> 18);
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f)); n = 4;
	}
	buf_append(b, u, n);
}

/* An entity at x->p ('&'): its character appended to the text. */
static int entity(struct xml *x)
{
	static const struct { const char *name; char c; } named[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
		{ "quot;", '"' }, { "apos;", '\'' },
	};
	const char *s = x->p + 1;
	size_t left = (size_t)(x->end - s);
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t n = strlen(named[i].name);
		if (left >= n && memcmp(s, named[i].name, n) == 0) {
			buf_putc(&x->text, named[i].c);
			x->p = s + n;
			return 0;
		}
	}
	if (left < 3 || *s != '#')
		return bad(x, "unknown entity");
	s++;
	int base = 10;
	if (*s == 'x') {
		base = 16;
		s++;
	}
	unsigned long c = 0;
	int digits = 0;
	for (; s < x->end && *s != ';'; s++, digits++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' :
			base == 16 && *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
			base == 16 && *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
		if (d < 0 || digits > 8)
			return bad(x, "bad character reference");
		c = c * (unsigned long)base + (unsigned long)d;
	}
	if (s == x->end || digits == 0 || c == 0 || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return bad(x, "bad character reference");
	put_utf8(&x->text, c);
	x->p = s + 1;
	return 0;
}

/* Text up to the next '<'. */
static int text(struct xml *x)
{
	while (x->p < x->end && *x->p != '<') {
		if (x->text.len > XML_TEXT_MAX)
			return bad(x, "text longer than 1 MiB");
		if (*x->p == '&') {
			int rc = entity(x);
			if (rc)
				return rc;
			continue;
		}
		const char *q = x->p;
		while (q < x->end && *q != '<' && *q != '&')
			q++;
		buf_append(&x->text, x->p, (size_t)(q - x->p));
		x->p = q;
	}
	return 0;
}

/* An element name at x->p into NAME. */
static int name(struct xml *x, char *out)
{
	size_t n = 0;
	while (x->p < x->end && !strchr(" \t\r\n/>", *x->p)) {
		if (n + 1 >= XML_NAME)
			return bad(x, "element name too long");
		out[n++] = *x->p++;
	}
	out[n] = '\0';
	return n ? 0 : bad(x, "empty element name");
}

static int close_top(struct xml *x)
{
	x->depth--;
	const char *parent = x->depth ? x->stack[x->depth - 1] : "";
	int rc = x->on_close(x->ctx, x->stack[x->depth], parent, &x->text);
	buf_reset(&x->text);
	return rc;
}

/* A start tag after '<': push it; "/>" closes it at once. */
static int open_tag(struct xml *x)
{
	if (x->depth == XML_DEPTH)
		return bad(x, "nested deeper than 32");
	int rc = name(x, x->stack[x->depth]);
	if (rc)
		return rc;
	x->depth++;
	buf_reset(&x->text);
	char quote = 0;
	for (; x->p < x->end; x->p++) {	/* attributes: skipped */
		if (quote) {
			if (*x->p == quote)
				quote = 0;
		} else if (*x->p == '"' || *x->p == '\'') {
			quote = *x->p;
		} else if (*x->p == '>') {
			bool empty = x->p[-1] == '/';
			x->p++;
			return empty ? close_top(x) : 0;
		}
	}
	return bad(x, "unterminated start tag");
}

static int end_tag(struct xml *x)
{
	char n[XML_NAME];
	int rc = name(x, n);
	if (rc)
		return rc;
	while (x->p < x->end && strchr(" \t\r\n", *x->p))
		x->p++;
	if (x->p == x->end || *x->p != '>')
		return bad(x, "unterminated end tag");
	x->p++;
	if (x->depth == 0 || strcmp(n, x->stack[x->depth - 1]) != 0)
		return bad(x, "end tag does not match");
	return close_top(x);
}

static int markup(struct xml *x)
{
	size_t left = (size_t)(x->end - x->p);
	if (left >= 2 && x->p[1] == '?')
		return skip_past(x, "?>");
	if (left >= 4 && memcmp(x->p, "<!--", 4) == 0)
		return skip_past(x, "-->");
	if (left >= 9 && memcmp(x->p, "<![CDATA[", 9) == 0) {
		const char *s = x->p + 9;
		int rc = skip_past(x, "]]>");
		if (!rc)
			buf_append(&x->text, s, (size_t)(x->p - 3 - s));
		return rc;
	}
	if (left >= 2 && x->p[1] == '!') {
		const char *gt = memchr(x->p, '>', left);
		if (!gt || memchr(x->p, '[', (size_t)(gt - x->p)))
			return bad(x, "DOCTYPE with a subset");
		x->p = gt + 1;
		return 0;
	}
	x->p++;
	if (x->p < x->end && *x->p == '/') {
		x->p++;
		return end_tag(x);
	}
	return open_tag(x);
}

static int walk(struct xml *x)
{
	bool root = false;
	int rc = 0;
	while (!rc && x->p < x->end) {
		if (*x->p != '<') {
			rc = text(x);
			continue;
		}
		bool at_top = x->depth == 0;
		rc = markup(x);
		root |= at_top && x->depth > 0;
	}
	if (!rc && (x->depth || !root))
		rc = bad(x, x->depth ? "unclosed element" : "no element");
	buf_free(&x->text);
	return rc;
}

/* ---- ListObjectsV2 ---- */

struct list_ctx {
	objstore_list_fn fn;
	void *ctx;
	bool *truncated;
	struct buf key;
	bool has_key;
	unsigned long long size;
	struct mlfs_err *err;
};

static int parse_size(const struct buf *t, unsigned long long *out)
{
	unsigned long long v = 0;
	if (t->len == 0 || t->len > 19)
		return -1;
	for (size_t i = 0; i < t->len; i++) {
		if (t->data[i] < '0' || t->data[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(t->data[i] - '0');
	}
	*out = v;
	return 0;
}

static int list_close(void *ctx, const char *nm, const char *parent,
		      const struct buf *t)
{
	struct list_ctx *l = ctx;
	if (strcmp(parent, "Contents") == 0 && strcmp(nm, "Key") == 0) {
		if (memchr(t->data ? t->data : "", '\0', t->len))
			return mlfs_fail(l->err, -EPROTO, "S3 listing: a key "
					 "holds a NUL byte");
		buf_reset(&l->key);
		buf_append(&l->key, t->data ? t->data : "", t->len);
		l->has_key = true;
	} else if (strcmp(parent, "Contents") == 0 && strcmp(nm, "Size") == 0) {
		if (parse_size(t, &l->size))
			return mlfs_fail(l->err, -EPROTO, "S3 listing: Size "
					 "'%.32s' is not a number",
					 t->data ? t->data : "");
	} else if (strcmp(nm, "Contents") == 0) {
		if (!l->has_key)
			return mlfs_fail(l->err, -EPROTO, "S3 listing: "
					 "Contents without a Key");
		l->has_key = false;
		int rc = l->fn(l->ctx, l->key.data, l->size);
		l->size = 0;
		return rc;
	} else if (strcmp(nm, "IsTruncated") == 0) {
		*l->truncated = t->len == 4 && memcmp(t->data, "true", 4) == 0;
	}
	return 0;
}

int objstore_xml_list(const char *xml, size_t len, objstore_list_fn fn,
		      void *ctx, bool *truncated, struct mlfs_err *err)
{
	struct list_ctx l = { .fn = fn, .ctx = ctx, .truncated = truncated,
			      .err = err };
	struct xml x = { .start = xml, .p = xml, .end = xml + len, .on_close = list_close,
			 .ctx = &l, .err = err };
	*truncated = false;
	int rc = walk(&x);
	buf_free(&l.key);
	return rc;
}

/* ---- Error bodies ---- */

struct error_ctx {
	char *code, *msg;
	size_t code_size, msg_size;
};

static int error_close(void *ctx, const char *nm, const char *parent,
		       const struct buf *t)
{
	struct error_ctx *e = ctx;
	if (strcmp(parent, "Error") != 0)
		return 0;
	if (strcmp(nm, "Code") == 0)
		snprintf(e->code, e->code_size, "%.*s", (int)t->len,
			 t->data ? t->data : "");
	else if (strcmp(nm, "Message") == 0)
		snprintf(e->msg, e->msg_size, "%.*s", (int)t->len,
			 t->data ? t->data : "");
	return 0;
}

void objstore_xml_error(const char *xml, size_t len, char *code,
			size_t code_size, char *msg, size_t msg_size)
{
	struct error_ctx e = { code, msg, code_size, msg_size };
	struct xml x = { .start = xml, .p = xml, .end = xml + len, .on_close = error_close,
			 .ctx = &e };
	code[0] = msg[0] = '\0';
	walk(&x);
}
