/* test_features.c - feature tables in a real store: merge and replace,
 * composite keys, versions and point-in-time lookups, exact data.csv
 * sizes, key listing, deletes, stats and the bad inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attrs.h"
#include "features.h"
#include "features_int.h"
#include "store_fixture.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

/* Write TEXT in pieces of STEP bytes, then commit (final). */
static int write_csv(struct store *s, const char *name, bool replace,
		     const char *text, size_t step, struct mlfs_err *err)
{
	struct features_writer *w;
	int rc = features_writer_open(s, name, replace, &w, err);
	size_t len = strlen(text);
	for (size_t i = 0; !rc && i < len; i += step)
		rc = features_writer_write(w, text + i, len - i < step ? len - i : step, err);
	if (!rc)
		rc = features_writer_commit(w, false, err);
	if (!rc)
		rc = features_writer_commit(w, true, err);
	features_writer_free(w);
	return rc;
}

/* data.csv as a string (caller frees); checks the size promise. */
static char *data_csv(struct store *s, const char *name)
{
	struct features_reader *r;
	struct features_info info;
	assert_int_equal(features_reader_open(s, name, &r, NULL), 0);
	uint64_t size = features_reader_size(r);
	char *out = calloc(1, size + 1);
	/* Read in odd pieces, and once more from the start. */
	uint64_t off = 0;
	while (off < size) {
		long n = features_reader_read(r, out + off, 7, off, NULL);
		assert_true(n > 0);
		off += (uint64_t)n;
	}
	assert_int_equal(features_reader_read(r, out, 3, size, NULL), 0);
	char *again = calloc(1, size + 1);
	if (size)
		assert_int_equal(features_reader_read(r, again, size, 0, NULL), (long)size);
	assert_memory_equal(out, again, size);
	free(again);
	features_reader_free(r);
	assert_int_equal(features_stat(s, name, &info), 0);
	assert_int_equal(info.size, size);
	return out;
}

static void expect_csv(struct store *s, const char *name, const char *want)
{
	char *got = data_csv(s, name);
	assert_string_equal(got, want);
	free(got);
}

static int add(void *ctx, const char *k, size_t l)
{
	buf_append(ctx, k, l);
	return buf_putc(ctx, ' ');
}

static const char *const cells[][3] = { { "1", "3", "0.5" }, { "2", "", "1.5" }, { "3", "5", "" } };

static const char *field(void *ctx, size_t r, uint32_t c, size_t *len)
{
	*len = strlen(cells[r][c]);
	return cells[r][c];
}

static void test_create_list_drop(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct features_info info;
	assert_int_equal(features_create(f->s, "b", &err), 0);
	assert_int_equal(features_create(f->s, "a", &err), 0);
	assert_int_equal(features_create(f->s, "a", &err), -EEXIST);
	assert_int_equal(features_create(f->s, ".x", &err), -EINVAL);
	assert_int_equal(features_create(f->s, "a/b", &err), -EINVAL);
	assert_int_equal(features_stat(f->s, "a", &info), 0);
	assert_int_equal(info.rows, 0);
	assert_int_equal(info.size, 0);
	assert_int_equal(features_stat(f->s, "zz", &info), -ENOENT);
	expect_csv(f->s, "a", "");
	assert_int_equal(write_csv(f->s, "a", true, "k,v\n1,x\n", 100, &err), 0);
	assert_int_equal(features_text_set(f->s, "a", FEATURES_DESCRIPTION, "d\n", 2, &err), 0);
	assert_int_equal(features_drop(f->s, "a", &err), 0);
	assert_int_equal(features_drop(f->s, "a", &err), -ENOENT);
	assert_int_equal(features_create(f->s, "a", &err), 0);
	expect_csv(f->s, "a", "");
	struct buf b = { 0 };
	assert_int_equal(features_text_get(f->s, "a", FEATURES_DESCRIPTION, &b), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* A feature table is made and dropped in one batch with its owner and
 * mode: failing every write after N of them, for any N, leaves it whole
 * (with its owner, the attrs of an earlier table of the name gone) or
 * absent (those attrs still there). */
static void test_owner_in_its_record(void **state)
{
	struct store_fixture *f = *state;
	const struct attrs old = { .mode = 0777, .uid = 9, .gid = 9 };
	struct features_info info;
	struct attrs a;
	int made = 0;
	for (int n = 0; n < 4; n++) {
		assert_int_equal(attrs_put(f->s, "/features/o", &old, NULL), 0);
		store_test_fail_writes(f->s, n, -EIO);
		int rc = features_make(f->s, "o", 7, 8, 0700, "/features/o", NULL);
		store_test_fail_writes(f->s, 0, 0);
		if (rc) {
			assert_int_equal(rc, -EIO);
			assert_int_equal(features_stat(f->s, "o", &info), -ENOENT);
			assert_int_equal(attrs_get(f->s, "/features/o", &a), 0);
			continue;
		}
		assert_int_equal(features_stat(f->s, "o", &info), 0);
		assert_int_equal(info.uid, 7);
		assert_int_equal(info.gid, 8);
		assert_int_equal(info.mode, 0700);
		assert_int_equal(attrs_get(f->s, "/features/o", &a), -ENOENT);
		made++;
		/* A chmod and rows; a failed drop changes nothing, then the
		 * drop takes the attrs along. */
		assert_int_equal(attrs_put(f->s, "/features/o", &old, NULL), 0);
		assert_int_equal(write_csv(f->s, "o", true, "id,v\n1,x\n", 64, NULL), 0);
		store_test_fail_writes(f->s, 0, -EIO);
		assert_int_equal(features_remove(f->s, "o", "/features/o", NULL), -EIO);
		store_test_fail_writes(f->s, 0, 0);
		assert_int_equal(features_stat(f->s, "o", &info), 0);
		assert_int_equal(info.rows, 1);
		assert_int_equal(info.uid, 7);
		assert_int_equal(attrs_get(f->s, "/features/o", &a), 0);
		assert_int_equal(features_remove(f->s, "o", "/features/o", NULL), 0);
		assert_int_equal(features_stat(f->s, "o", &info), -ENOENT);
		assert_int_equal(attrs_get(f->s, "/features/o", &a), -ENOENT);
	}
	assert_true(made > 0 && made < 4);
	/* Made without an owner, it records none. */
	assert_int_equal(features_create(f->s, "p", NULL), 0);
	assert_int_equal(features_stat(f->s, "p", &info), 0);
	assert_int_equal(info.mode, 0);
}

static void test_merge_and_replace(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(features_create(f->s, "t", &err), 0);
	assert_int_equal(write_csv(f->s, "t", true, "id,a\n10,x\n2,y\n-3,\"q,\"\"r\"\n", 3, &err), 0);
	/* Integer keys in numeric order, quoting kept exact. */
	expect_csv(f->s, "t", "id,a\n-3,\"q,\"\"r\"\n2,y\n10,x\n");
	assert_int_equal(features_keys_text(f->s, "t", &b), 0);
	assert_string_equal(b.data, "id\n");
	/* Merge: new column, old rows null; upsert; later line wins. */
	assert_int_equal(write_csv(f->s, "t", false, "id,b\n2,z\n11,w\n11,w2\n", 5, &err), 0);
	expect_csv(f->s, "t", "id,a,b\n-3,\"q,\"\"r\",\n2,y,z\n10,x,\n11,,w2\n");
	/* Merge without a header: the table's columns. */
	assert_int_equal(write_csv(f->s, "t", false, "10,xx,\n", 64, &err), 0);
	expect_csv(f->s, "t", "id,a,b\n-3,\"q,\"\"r\",\n2,y,z\n10,xx,\n11,,w2\n");
	/* A column subset leaves the others alone. */
	assert_int_equal(write_csv(f->s, "t", false, "b,id\nbb,2\n", 64, &err), 0);
	expect_csv(f->s, "t", "id,a,b\n-3,\"q,\"\"r\",\n2,y,bb\n10,xx,\n11,,w2\n");
	/* Non-integer keys sort after integers, bytewise. */
	assert_int_equal(write_csv(f->s, "t", false, "id\n007\nabc\n", 64, &err), 0);
	expect_csv(f->s, "t", "id,a,b\n-3,\"q,\"\"r\",\n2,y,bb\n10,xx,\n11,,w2\n007,,\nabc,,\n");
	/* Replace: the header defines the columns. */
	assert_int_equal(write_csv(f->s, "t", true, "id,c\n5,1.5\n", 64, &err), 0);
	expect_csv(f->s, "t", "id,c\n5,1.5\n");
	struct features_info info;
	assert_int_equal(features_stat(f->s, "t", &info), 0);
	assert_int_equal(info.rows, 1);
	/* A replace with only a header empties it with those columns;
	 * one with nothing keeps the columns. */
	assert_int_equal(write_csv(f->s, "t", true, "id,c,d\n", 64, &err), 0);
	expect_csv(f->s, "t", "id,c,d\n");
	assert_int_equal(write_csv(f->s, "t", true, "", 64, &err), 0);
	expect_csv(f->s, "t", "id,c,d\n");
	buf_free(&b);
}

static void test_bad_writes(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	assert_int_equal(features_create(f->s, "t", &err), 0);
	assert_int_equal(write_csv(f->s, "t", true, "id,v\n1,a\n2,b\n", 64, &err), 0);
	const char *good = "id,v\n1,a\n2,b\n";
	struct {
		bool replace;
		const char *text;
		const char *msg;
	} cases[] = {
		{ true, "id,v\n7,a\n8,b\n7,c\n", "line 4: duplicate key '7' (first on line 2); nothing written" },
		{ true, "id,v\n7,a\n07,c\n", NULL },	/* "07" is not "7": fine */
		/* Without the key column a first line of >> is no header: a row. */
		{ false, "v,w,x\nq,r,s\n", "line 1, column 3: expected 2 fields, found 3" },
		{ false, "id,v\n3,c\n,d\n", "line 3, column 1: key 'id' is empty (null keys are not allowed)" },
		{ false, "id,v\n3,c,x\n", "line 2, column 3: expected 2 fields, found 3" },
		{ false, "id,v\n3\n", "line 2, column 2: expected 2 fields, found 1" },
		{ false, "id,v,v\n3,c,d\n", "line 1, column 3: duplicate column 'v'" },
		{ false, "id,\n3,c\n", "line 1, column 2: empty column name" },
		{ false, "id,v\n\"3\n", "line 2" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		int rc = write_csv(f->s, "t", cases[i].replace, cases[i].text, 2, &err);
		if (!cases[i].msg) {
			assert_int_equal(rc, 0);
			assert_int_equal(write_csv(f->s, "t", true, good, 64, &err), 0);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
		expect_csv(f->s, "t", good);
	}
	/* A failed writer refuses more and commits nothing. */
	struct features_writer *w;
	assert_int_equal(features_writer_open(f->s, "t", false, &w, &err), 0);
	assert_int_equal(features_writer_write(w, "id,v\n9,z\n,q\n", 13, &err), -EINVAL);
	assert_true(features_writer_failed(w));
	assert_int_equal(features_writer_write(w, "10,y\n", 5, &err), -EINVAL);
	assert_int_equal(features_writer_commit(w, true, &err), -EINVAL);
	features_writer_free(w);
	expect_csv(f->s, "t", good);
	/* A dropped table during a write: the commit fails. */
	assert_int_equal(features_writer_open(f->s, "t", false, &w, &err), 0);
	assert_int_equal(features_writer_write(w, "id,v\n9,z\n", 9, &err), 0);
	assert_int_equal(features_drop(f->s, "t", &err), 0);
	assert_int_equal(features_create(f->s, "t", &err), 0);
	assert_int_equal(features_writer_commit(w, true, &err), -ENOENT);
	features_writer_free(w);
	expect_csv(f->s, "t", "");
}

static void test_keys_and_composite(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(features_create(f->s, "c", &err), 0);
	assert_int_equal(features_set_keys(f->s, "c", "a,b", 3, false, &err), 0);
	assert_int_equal(features_set_keys(f->s, "c", "a\na\n", 4, false, &err), -EINVAL);
	assert_int_equal(features_set_keys(f->s, "c", "\n", 1, false, &err), -EINVAL);
	assert_int_equal(features_set_keys(f->s, "c", "store\nitem\n", 11, true, &err), 0);
	assert_int_equal(write_csv(f->s, "c", true, "item,store,q\nx,1,5\ny,1,6\nx,2,7\n", 4, &err), 0);
	assert_int_equal(features_row_csv(f->s, "c", "1,x", false, 0, &b, &err), 0);
	assert_string_equal(b.data, "item,store,q\nx,1,5\n");
	assert_int_equal(features_row_csv(f->s, "c", "1", false, 0, &b, &err), -ENOENT);
	assert_int_equal(features_row_csv(f->s, "c", "9,x", false, 0, &b, &err), -ENOENT);
	/* Duplicate composite key in a replace. */
	assert_int_equal(write_csv(f->s, "c", true, "item,store,q\nx,1,5\nx,1,6\n", 64, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "duplicate key '1,x' (first on line 2)"));
	/* Keys cannot change with rows; other columns are not keys. */
	assert_int_equal(features_set_keys(f->s, "c", "item\n", 5, false, &err), -EINVAL);
	assert_int_equal(features_set_keys(f->s, "c", "store\nitem\n", 11, false, &err), 0);
	assert_int_equal(features_keys_text(f->s, "c", &b), 0);
	assert_string_equal(b.data, "store\nitem\n");
	/* Listing without loading rows. */
	struct buf keys = { 0 };
	assert_int_equal(features_list_keys(f->s, "c", add, &keys, &err), 0);
	assert_string_equal(keys.data, "1,x 1,y 2,x ");
	/* Deleting a key. */
	assert_int_equal(features_delete_key(f->s, "c", "1,y", &err), 0);
	assert_int_equal(features_delete_key(f->s, "c", "1,y", &err), -ENOENT);
	expect_csv(f->s, "c", "item,store,q\nx,1,5\nx,2,7\n");
	buf_free(&keys);
	buf_free(&b);
}

static void test_versions_point_in_time(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	struct features_info info;
	const int64_t day = 86400000000LL;
	assert_int_equal(features_create(f->s, "v", &err), 0);
	assert_int_equal(features_set_ts(f->s, "v", "ts\n", 3, true, &err), 0);
	assert_int_equal(write_csv(f->s, "v", true,
				   "id,ts,x\n1,2026-01-01,10\n1,2026-03-01,30\n2,2026-02-01,20\n", 5, &err), 0);
	/* An older version merged later does not become the latest. */
	assert_int_equal(write_csv(f->s, "v", false, "id,ts,x\n1,2026-02-01,25\n", 5, &err), 0);
	expect_csv(f->s, "v", "id,ts,x\n1,2026-03-01,30\n2,2026-02-01,20\n");
	assert_int_equal(features_stat(f->s, "v", &info), 0);
	assert_int_equal(info.rows, 2);
	assert_int_equal(info.versions, 4);
	/* Merge into an existing version. */
	assert_int_equal(write_csv(f->s, "v", false, "id,ts,y\n1,2026-02-01,b\n", 64, &err), 0);
	assert_int_equal(features_stat(f->s, "v", &info), 0);
	assert_int_equal(info.versions, 4);
	int32_t d0;
	value_parse_date("2026-02-15", 10, &d0);
	assert_int_equal(features_row_csv(f->s, "v", "1", true, d0 * day, &b, &err), 0);
	assert_string_equal(b.data, "id,ts,x,y\n1,2026-02-01,25,b\n");
	assert_int_equal(features_row_csv(f->s, "v", "1", true, (d0 - 14) * day, &b, &err), 0);
	assert_string_equal(b.data, "id,ts,x,y\n1,2026-02-01,25,b\n");	/* at == version time */
	assert_int_equal(features_row_csv(f->s, "v", "1", true, (d0 - 14) * day - 1, &b, &err), 0);
	assert_string_equal(b.data, "id,ts,x,y\n1,2026-01-01,10,\n");
	assert_int_equal(features_row_csv(f->s, "v", "1", true, (d0 - 46) * day, &b, &err), -ENOENT);
	assert_int_equal(features_row_csv(f->s, "v", "2", true, d0 * day, &b, &err), 0);
	/* A newer version becomes the latest. */
	assert_int_equal(write_csv(f->s, "v", false, "id,ts,x\n2,2026-04-01T10:00:00Z,40\n", 64, &err), 0);
	expect_csv(f->s, "v", "id,ts,x,y\n1,2026-03-01,30,\n2,2026-04-01T10:00:00Z,40,\n");
	/* Bad version times; ts cannot change with rows. */
	assert_int_equal(write_csv(f->s, "v", false, "id,ts,x\n3,,1\n", 64, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 2, column 2: timestamp_key 'ts' needs a date or timestamp"));
	assert_int_equal(write_csv(f->s, "v", true, "id,x\n3,1\n", 64, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "timestamp_key column 'ts' is missing"));
	/* On >> a first line without ts is no header but a row (of 2 fields). */
	assert_int_equal(write_csv(f->s, "v", false, "id,x\n3,1\n", 64, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 1, column 3: expected 4 fields, found 2"));
	assert_int_equal(features_set_ts(f->s, "v", "x\n", 2, false, &err), -EINVAL);
	/* Deleting a key drops every version. */
	assert_int_equal(features_delete_key(f->s, "v", "1", &err), 0);
	assert_int_equal(features_stat(f->s, "v", &info), 0);
	assert_int_equal(info.rows, 1);
	assert_int_equal(info.versions, 2);
	assert_int_equal(features_row_csv(f->s, "v", "1", true, d0 * day, &b, &err), -ENOENT);
	/* Lookups without a timestamp_key cannot ask "as of". */
	assert_int_equal(features_create(f->s, "plain", &err), 0);
	assert_int_equal(write_csv(f->s, "plain", true, "id,x\n1,2\n", 64, &err), 0);
	assert_int_equal(features_row_csv(f->s, "plain", "1", true, 0, &b, &err), -EINVAL);
	buf_free(&b);
}

/* Rows given encoded (features_write_records) store what the same rows
 * given as text (features_write_rows) store: fresh, merged over stored
 * rows, unsorted, quoted, long and null fields, and (read back through
 * the records' fields) into a table with a timestamp_key. */
static const char *const rec_cells[][4] = {
	{ "b", "-3", "a,\"q\"", "2026-01-01" },
	{ "a", "12", "", "2026-01-02" },
	{ "c", "", "a text longer than thirty-two bytes, so str8", "2026-01-01" },
	{ "-7", "0", "x", "2026-01-03" },
	{ "a2", "5", "y", "2026-01-01" },
};

struct rec_ctx {
	const char *const (*cells)[4];
	struct buf out;
	size_t (*off)[3];
	uint64_t *bytes;
};

static uint64_t rec_record(void *ctx, size_t r, const char **key, size_t *klen,
			   const char **val, size_t *vlen)
{
	struct rec_ctx *c = ctx;
	*val = c->out.data + c->off[r][0];
	*vlen = c->off[r][1] - c->off[r][0];
	*key = c->out.data + c->off[r][1];
	*klen = c->off[r][2] - c->off[r][1];
	return c->bytes[r];
}

static const char *rec_field(void *ctx, size_t r, uint32_t col, size_t *len)
{
	struct rec_ctx *c = ctx;
	return features_rec_text(c->out.data + c->off[r][0],
				 c->off[r][1] - c->off[r][0], col, len);
}

static const char *rec_text_field(void *ctx, size_t r, uint32_t col, size_t *len)
{
	struct rec_ctx *c = ctx;
	*len = strlen(c->cells[r][col]);
	return c->cells[r][col];
}

/* Rows FIRST..FIRST+N of rec_cells (NCOLS columns) into ENC as records
 * and into TXT as text: the same data.csv and counts. */
static void write_cells(struct store *s, const char *enc, const char *txt,
			const char *const (*cl)[4], size_t n, uint32_t ncols)
{
	static const char *const names[] = { "k", "n", "s", "d" };
	static const enum col_type types[] = { COL_STRING, COL_INT, COL_STRING, COL_DATE };
	struct rec_ctx c = { .cells = cl, .off = calloc(n, sizeof(*c.off)),
			     .bytes = calloc(n, sizeof(*c.bytes)) };
	struct mlfs_err err = { 0 };
	struct features_rec rec;
	for (size_t r = 0; r < n; r++) {
		features_rec_begin(&rec, &c.out, ncols, 1);
		for (uint32_t col = 0; col < ncols; col++) {
			size_t l, want = strlen(c.cells[r][col]);
			features_rec_field(&rec, c.cells[r][col], want);
			const char *p = features_rec_text(c.out.data + rec.vstart,
							  c.out.len - rec.vstart, col, &l);
			assert_int_equal(l, want);
			assert_true(p ? !memcmp(p, c.cells[r][col], l) : want == 0);
		}
		c.off[r][0] = rec.vstart;
		features_rec_end(&rec, &c.off[r][1]);
		c.off[r][2] = c.out.len;
		c.bytes[r] = rec.fbytes;
	}
	struct features_rows rows = { ncols, names, types, n, rec_field, &c };
	if (features_write_records(s, enc, &rows, rec_record, NULL, 0, &err))
		fail_msg("%s", err.msg);
	rows.field = rec_text_field;
	if (features_write_rows(s, txt, &rows, false, NULL, 0, &err))
		fail_msg("%s", err.msg);
	char *a = data_csv(s, enc), *b = data_csv(s, txt);
	assert_string_equal(a, b);
	free(a);
	free(b);
	struct features_info ia, ib;
	assert_int_equal(features_stat(s, enc, &ia), 0);
	assert_int_equal(features_stat(s, txt, &ib), 0);
	assert_int_equal(ia.rows, ib.rows);
	assert_int_equal(ia.versions, ib.versions);
	assert_int_equal(ia.size, ib.size);
	buf_free(&c.out);
	free(c.off);
	free(c.bytes);
}

static void write_both(struct store *s, const char *enc, const char *txt,
		       size_t first, size_t n, uint32_t ncols)
{
	write_cells(s, enc, txt, rec_cells + first, n, ncols);
}

/* Refreshes big enough for the store's bulk path (ingested SST files):
 * unsorted records into a fresh table, then a merge over half its keys,
 * give the data.csv and counts of the text path. */
static void test_write_records_bulk(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	size_t n = STORE_BULK_MIN + 700;
	const char *(*cl)[4] = calloc(n, sizeof(*cl));
	char (*text)[3][24] = calloc(n, sizeof(*text));
	assert_int_equal(features_create(f->s, "e", &err), 0);
	assert_int_equal(features_create(f->s, "t", &err), 0);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t r = 0; r < n; r++) {
			size_t k = pass ? 2 * r : (r * 7919) % n;	/* a shuffle, then half new */
			snprintf(text[r][0], 24, "c%06zu", k);
			snprintf(text[r][1], 24, "%zd", (ssize_t)(k * 3) - 500 + pass);
			snprintf(text[r][2], 24, r % 5 ? "s%zu,%d" : "", k, pass);
			for (int col = 0; col < 3; col++)
				cl[r][col] = text[r][col];
		}
		write_cells(f->s, "e", "t", (const char *const (*)[4])cl, n, 3);
	}
	struct features_info info;
	assert_int_equal(features_stat(f->s, "e", &info), 0);
	assert_int_equal(info.rows, n + n / 2);
	free(cl);
	free(text);
}

/* A key given twice among records fails, adjacent or not, and writes
 * nothing. */
static void test_write_records_twice(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	static const char *const names[] = { "k", "n", "s", "d" };
	static const enum col_type types[] = { COL_STRING, COL_INT, COL_STRING, COL_DATE };
	static const char *const twice[][4] = {
		{ "a", "1", "x", "" }, { "a", "2", "y", "" }, { "b", "3", "z", "" }, { "a", "4", "w", "" },
	};
	assert_int_equal(features_create(f->s, "d", &err), 0);
	for (size_t first = 0; first < 2; first++) {
		struct rec_ctx c = { .cells = twice + first, .off = calloc(3, sizeof(*c.off)),
				     .bytes = calloc(3, sizeof(*c.bytes)) };
		struct features_rec rec;
		for (size_t r = 0; r < 3; r++) {
			features_rec_begin(&rec, &c.out, 3, 1);
			for (uint32_t col = 0; col < 3; col++)
				features_rec_field(&rec, c.cells[r][col], strlen(c.cells[r][col]));
			c.off[r][0] = rec.vstart;
			features_rec_end(&rec, &c.off[r][1]);
			c.off[r][2] = c.out.len;
			c.bytes[r] = rec.fbytes;
		}
		struct features_rows rows = { 3, names, types, 3, rec_field, &c };
		assert_int_equal(features_write_records(f->s, "d", &rows, rec_record, NULL, 0, &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "a key given twice"));
		struct features_info info;
		assert_int_equal(features_stat(f->s, "d", &info), 0);
		assert_int_equal(info.rows, 0);
		buf_free(&c.out);
		free(c.off);
		free(c.bytes);
	}
}

static void test_write_records(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	const char *t[] = { "e", "t", "ve", "vt" };
	for (int i = 0; i < 4; i++)
		assert_int_equal(features_create(f->s, t[i], &err), 0);
	write_both(f->s, "e", "t", 0, 3, 3);
	expect_csv(f->s, "e", "k,n,s\na,12,\nb,-3,\"a,\"\"q\"\"\"\n"
		   "c,,\"a text longer than thirty-two bytes, so str8\"\n");
	write_both(f->s, "e", "t", 1, 4, 3);
	expect_csv(f->s, "e", "k,n,s\n-7,0,x\na,12,\na2,5,y\nb,-3,\"a,\"\"q\"\"\"\n"
		   "c,,\"a text longer than thirty-two bytes, so str8\"\n");
	for (int i = 2; i < 4; i++)
		assert_int_equal(features_set_ts(f->s, t[i], "d\n", 2, true, &err), 0);
	write_both(f->s, "ve", "vt", 0, 5, 4);
	write_both(f->s, "ve", "vt", 0, 2, 4);
}

static void test_write_rows_and_stats(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(features_create(f->s, "r", &err), 0);
	static const char *const names[] = { "k", "n", "x" };
	static const enum col_type types[] = { COL_INT, COL_INT, COL_FLOAT };
	struct features_rows rows = { 3, names, types, 3, field, NULL };
	struct features_text_put rep = { FEATURES_REPORT, "status ok\n", 10 };
	if (features_write_rows(f->s, "r", &rows, false, &rep, 1, &err))
		fail_msg("%s", err.msg);
	expect_csv(f->s, "r", "k,n,x\n1,3,0.5\n2,,1.5\n3,5,\n");
	assert_int_equal(features_text_get(f->s, "r", FEATURES_REPORT, &b), 0);
	assert_string_equal(b.data, "status ok\n");
	assert_int_equal(features_stats_csv(f->s, "r", &b, &err), 0);
	assert_string_equal(b.data,
			    "column,type,count,nulls,distinct,min,max,mean,std\n"
			    "k,int,3,0,3,1,3,2.0,1.0\n"
			    "n,int,2,1,2,3,5,4.0,1.4142135623730951\n"
			    "x,float,2,1,2,0.5,1.5,1.0,0.7071067811865476\n");
	/* Cached per version, refreshed after a change. */
	assert_int_equal(write_csv(f->s, "r", false, "k,n\n4,7\n", 64, &err), 0);
	assert_int_equal(features_stats_csv(f->s, "r", &b, &err), 0);
	assert_non_null(strstr(b.data, "k,int,4,0,4,1,4,2.5,"));
	assert_int_equal(features_tags_validate("a=b\nc=\n", 7, &err), 0);
	assert_int_equal(features_tags_validate("a=b\nnope\n", 9, &err), -EINVAL);
	buf_free(&b);
}

/* Many keys through merges: sizes stay exact, the lookup path agrees. */
static void test_many_keys(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf text = { 0 }, b = { 0 };
	assert_int_equal(features_create(f->s, "m", &err), 0);
	buf_puts(&text, "id,v\n");
	for (int i = 0; i < 5000; i += 2)
		buf_printf(&text, "%d,%d\n", i, i * 3);
	assert_int_equal(write_csv(f->s, "m", false, text.data, 4096, &err), 0);
	buf_reset(&text);
	buf_puts(&text, "id,v,w\n");
	for (int i = 4999; i >= 0; i -= 3)
		buf_printf(&text, "%d,%d,\"w,%d\"\n", i, -i, i);
	assert_int_equal(write_csv(f->s, "m", false, text.data, 4096, &err), 0);
	char *csv = data_csv(f->s, "m");
	size_t lines = 0;
	for (char *p = csv; *p; p++)
		lines += *p == '\n';
	int keys = 0;
	for (int i = 0; i < 5000; i++)
		keys += i % 2 == 0 || (4999 - i) % 3 == 0;
	assert_int_equal(lines, (size_t)keys + 1);
	free(csv);
	assert_int_equal(features_row_csv(f->s, "m", "4999", false, 0, &b, &err), 0);
	assert_string_equal(b.data, "id,v,w\n4999,-4999,\"w,4999\"\n");
	assert_int_equal(features_row_csv(f->s, "m", "12", false, 0, &b, &err), 0);
	assert_string_equal(b.data, "id,v,w\n12,36,\n");
	buf_free(&text);
	buf_free(&b);
}

/* A field's CSV length against a byte-by-byte count: quoted when it
 * holds a quote, comma, CR or LF anywhere (in or after the first
 * 8-byte words), each quote doubled. */
static void test_field_len(void **state)
{
	(void)state;
	const char specials[] = "\",\n\r";
	char f[40];
	uint64_t x = 12345;
	assert_int_equal(features_field_len("", 0), 0);
	for (int i = 0; i < 200000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t len = (size_t)(x >> 59) + (size_t)((x >> 40) & 7), q = 0;
		bool quote = false;
		for (size_t j = 0; j < len; j++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			f[j] = (x >> 60) == 0 ? specials[(x >> 50) & 3] : (char)('0' + (x >> 40) % 60);
			q += f[j] == '"';
			quote |= f[j] == '"' || f[j] == ',' || f[j] == '\n' || f[j] == '\r';
		}
		assert_int_equal(features_field_len(f, len), quote ? len + q + 2 : len);
	}
	assert_int_equal(features_field_len("12345678,", 9), 11);
	assert_int_equal(features_field_len("1234567812345678\"", 17), 20);
	assert_int_equal(features_field_len("-12345.678901234567", 19), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_len),
		cmocka_unit_test_setup_teardown(test_create_list_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_in_its_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_and_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_and_composite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_point_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_rows_and_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_records_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_records_bulk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
