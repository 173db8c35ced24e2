/* fuzz_expr.c - feature expressions on any bytes: compile against a fixed
 * schema (two features: the input and a reference to it), then evaluate
 * the program over a few rows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

static const char *const names[] = { "id", "amount", "day", "name", "ts", "flag" };
static const enum col_type types[] = { COL_INT, COL_FLOAT, COL_DATE, COL_STRING,
				       COL_TIMESTAMP, COL_BOOL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct expr_schema schema = { names, types, 6 };
	struct mlfs_err err = { 0 };
	struct expr_prog *p = NULL;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct expr_source src[] = {
		{ "f", text, 3, 7, true },
		{ "g", "f", 4, 7, true },
		{ "h", "count(*) + 1", 5, 7, true },
	};
	for (enum col_type as_of = COL_DATE; as_of <= COL_TIMESTAMP; as_of++) {
		if (expr_compile(src, 3, &schema, as_of, &p, &err))
			continue;
		void *st = malloc(expr_state_size(p));
		struct xval asv = { .t = as_of, .i = as_of == COL_DATE ? 20000 : 1728000000000000LL };
		struct xval out[3];
		static const char *const rows[][6] = {
			{ "1", "2.5", "2026-01-01", "ann", "2026-01-01T10:00:00Z", "true" },
			{ "1", "", "2026-02-01", "", "", "false" },
			{ "-9223372036854775808", "-1e308", "1970-01-01", "bob", "1969-12-31T23:59:59Z", "" },
			{ "9223372036854775807", "1e308", "9999-12-31", "x", "2100-01-01", "true" },
		};
		expr_state_init(p, st);
		for (int r = 0; r < 4; r++) {
			struct xval row[6];
			for (int c = 0; c < 6; c++)
				expr_value_from_text(types[c], rows[r][c], strlen(rows[r][c]), &row[c]);
			expr_state_add(p, st, row, &asv);
		}
		expr_state_finish(p, st, &asv, out);
		struct buf b = { 0 };
		for (int i = 0; i < 3; i++)
			expr_value_text(&out[i], &b);
		buf_free(&b);
		expr_state_free(p, st);
		free(st);
		expr_prog_free(p);
	}
	free(text);
	return 0;
}
