/* columns.c - a table's columns as both kinds keep them (columns.h):
 * their meta record form, their header line, lookup by name.  Not the
 * meta records themselves (table.c, features.c). */
#include "columns.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

void columns_encode(struct buf *b, uint32_t n, char *const *names,
		    const enum col_type *types)
{
	codec_enc_array(b, n);
	for (uint32_t i = 0; i < n; i++) {
		codec_enc_array(b, 2);
		codec_enc_cstr(b, names[i]);
		codec_enc_cstr(b, col_type_name(types[i]));
	}
}

int columns_decode(struct dval cols, uint32_t *n, char ***names,
		   enum col_type **types)
{
	size_t len = codec_dval_len(cols);
	char **nm = calloc(len ? len : 1, sizeof(char *));
	enum col_type *ty = calloc(len ? len : 1, sizeof(enum col_type));
	int rc = nm && ty ? 0 : -ENOMEM;

	for (size_t i = 0; i < len && !rc; i++) {
		struct dval c = codec_dval_at(cols, i);
		const char *np, *tp;
		size_t nl, tl;
		if (!codec_dval_str(codec_dval_at(c, 0), &np, &nl) ||
		    !codec_dval_str(codec_dval_at(c, 1), &tp, &tl)) {
			rc = -EIO;
			break;
		}
		if (!(nm[i] = strndup(np, nl)))
			rc = -ENOMEM;
		if (tl == 4 && !memcmp(tp, "null", 4))
			ty[i] = COL_NULL;
		else if (col_type_parse(tp, tl, &ty[i]))
			ty[i] = COL_STRING;
	}
	if (rc) {
		columns_free((uint32_t)len, nm, ty);
		return rc;
	}
	*n = (uint32_t)len;
	*names = nm;
	*types = ty;
	return 0;
}

int columns_copy(uint32_t n, char *const *names, const enum col_type *types,
		 char ***out_names, enum col_type **out_types)
{
	char **nm = calloc(n ? n : 1, sizeof(char *));
	enum col_type *ty = out_types ? calloc(n ? n : 1, sizeof(enum col_type)) : NULL;
	bool ok = nm && (ty || !out_types);

	for (uint32_t i = 0; ok && i < n; i++) {
		ok = (nm[i] = strdup(names[i])) != NULL;
		if (ty && types)
			ty[i] = types[i];
	}
	if (!ok) {
		columns_free(n, nm, ty);
		return -ENOMEM;
	}
	*out_names = nm;
	if (out_types)
		*out_types = ty;
	return 0;
}

void columns_free(uint32_t n, char **names, enum col_type *types)
{
	for (uint32_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(types);
}

int columns_index(uint32_t n, char *const *names, const char *p, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], p, len))
			return (int)i;
	return -1;
}

void columns_header(struct buf *out, uint32_t n, char *const *names)
{
	buf_reset(out);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ',');
		csv_put_field(out, names[i], strlen(names[i]));
	}
	if (n)
		buf_putc(out, '\n');
}

size_t columns_read_header(const struct buf *header, uint64_t size,
			   char *dst, size_t *len, uint64_t *off)
{
	if (*off >= size) {
		*len = 0;
		return 0;
	}
	if (*len > size - *off)
		*len = (size_t)(size - *off);
	if (*off >= header->len)
		return 0;
	size_t n = (size_t)(header->len - *off);
	if (n > *len)
		n = *len;
	memcpy(dst, header->data + *off, n);
	*off += n;
	return n;
}
